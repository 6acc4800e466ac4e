"""The viewer's first image comes with its page: on a slow network one round trip, not one per step.

The page carries the series' manifest and, when it is made, the first image
itself; the viewer draws from them without asking again, and fetches the
neighbours only once it has drawn. Pages and JSON go gzipped; streams do not.
bench/slow_network.py measures what this buys on throttled networks.
"""

import base64
import datetime as dt
import gzip
import json
import re
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.test import Client

from imaging import synthetic
from imaging.ingest import ingest_instance
from imaging.models import Hospital, Instance, Render, Study
from imaging.rendering import RenderSpec, ensure_render
from tests.support.browser import PHONE
from tests.support.dicom import ALICE, study_spec
from tests.support.people import ALICE_PHONE, link, sign_in_patient, sign_in_patient_in_browser

SLICES = 12


@pytest.fixture
def ct(hospital: Hospital) -> Study:
    spec = study_spec("first-image", patient=ALICE, date=dt.date(2026, 3, 1))
    for ds in synthetic.ct_chest(spec, slices=SLICES, size=128):
        ingest_instance(synthetic.to_bytes(ds), hospital)  # renders made inline: there is no broker
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    return Study.objects.get(study_uid=spec.study_uid)


def viewer_page(ct: Study, **headers: str) -> Any:
    client = Client()
    sign_in_patient(client, ALICE_PHONE)
    return client, client.get(f"/my/studies/{ct.pk}/view/", **headers)


def made_first_image(ct: Study) -> None:
    """The first image's render made, as a first viewing (or the renders after ingest, with a worker) leaves it."""
    first = Instance.objects.filter(series__study=ct, has_pixels=True).in_anatomical_order().first()
    assert first is not None
    ensure_render(first, RenderSpec())


def test_it_carries_the_manifest_and_the_first_image_in_the_page(db: None, ct: Study) -> None:
    made_first_image(ct)
    client, response = viewer_page(ct)
    html = response.content.decode()
    embedded = re.search(r'<script id="viewer-manifest" type="application/json">(.*?)</script>', html, re.S)
    assert embedded is not None
    manifest = json.loads(embedded.group(1))
    assert manifest == client.get(f"/my/series/{manifest['series']['id']}/images.json").json()
    first = re.search(r'<img class="viewer-first" src="([^"]+)" data-url="([^"]+)"', html)
    assert first is not None
    assert first.group(1).startswith("data:image/jpeg;base64,")
    assert first.group(2) == manifest["images"][0]["preview"] + "?frame=0"
    served = client.get(first.group(2))
    assert first.group(1).split(",", 1)[1] == base64.b64encode(served.content).decode()
    assert 'rel="modulepreload"' in html
    assert "js/viewer/main" in html


def test_it_asks_for_the_first_image_when_it_is_not_made_yet(db: None, ct: Study) -> None:
    for key in Render.objects.values_list("key", flat=True):
        default_storage.delete(key)
    Render.objects.all().delete()
    _client, response = viewer_page(ct)
    html = response.content.decode()
    first = re.search(r'<img class="viewer-first" src="([^"]+)"', html)
    assert first is not None
    assert first.group(1).startswith("/my/images/")
    assert f'<link rel="preload" as="image" href="{first.group(1)}"' in html
    assert 'class="viewer-placeholder"' not in html  # the thumbnail is not made either


def test_it_gzips_pages_and_json_but_not_streams(db: None, ct: Study) -> None:
    client, response = viewer_page(ct, HTTP_ACCEPT_ENCODING="gzip, br")
    assert response["Content-Encoding"] == "gzip"
    assert b"viewer-manifest" in gzip.decompress(response.content)
    series = ct.series.get()
    manifest = client.get(f"/my/series/{series.pk}/images.json", HTTP_ACCEPT_ENCODING="gzip")
    assert manifest["Content-Encoding"] == "gzip"
    preview = client.get(json.loads(gzip.decompress(manifest.content))["images"][0]["preview"])
    assert not preview.has_header("Content-Encoding")  # a JPEG gains nothing
    asked = client.post(f"/my/studies/{ct.pk}/downloads/", {"kind": "dicom"})
    download = client.get(asked["Location"] + "file", HTTP_ACCEPT_ENCODING="gzip")
    assert download.streaming
    assert not download.has_header("Content-Encoding")  # a zip streamed as it is stored
    assert client.get(f"/my/studies/{ct.pk}/view/").get("Content-Encoding") is None  # only when asked


PROBE = """
window.__drawn = null;
new MutationObserver(() => {
  const viewer = document.querySelector('#viewer');
  if (viewer && viewer.dataset.shown && window.__drawn === null) window.__drawn = performance.now();
}).observe(document, {subtree: true, attributes: true, attributeFilter: ['data-shown']});
"""


@pytest.mark.browser
def test_it_shows_the_first_image_before_any_script_has_run(chromium: Any, live_server: Any, ct: Study) -> None:
    made_first_image(ct)
    context = chromium.new_context(**PHONE)
    page = context.new_page()
    sign_in_patient_in_browser(page, live_server.url, ALICE_PHONE)
    page.route("**/static/js/**", lambda route: route.abort())
    page.goto(f"{live_server.url}/my/studies/{ct.pk}/view/")
    first = page.locator("img.viewer-first")
    page.wait_for_function("() => document.querySelector('img.viewer-first')?.naturalWidth > 0")
    box = first.bounding_box()
    assert box is not None
    assert box["width"] > 300
    assert box["height"] > 200
    assert page.evaluate("() => document.querySelector('#viewer').dataset.shown") == ""
    context.close()


@pytest.mark.browser
def test_it_draws_from_the_page_and_fetches_neighbours_only_after(chromium: Any, live_server: Any, ct: Study) -> None:
    made_first_image(ct)
    context = chromium.new_context(**PHONE)
    page = context.new_page()
    sign_in_patient_in_browser(page, live_server.url, ALICE_PHONE)
    page.add_init_script(PROBE)
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.goto(f"{live_server.url}/my/studies/{ct.pk}/view/")
    page.wait_for_function("() => window.__drawn !== null")
    page.wait_for_function(
        "() => performance.getEntriesByType('resource').filter((e) => e.name.includes('/preview')).length >= 4"
    )
    first_url = page.evaluate("() => document.querySelector('img.viewer-first').dataset.url")
    assert not [url for url in asked if "images.json" in url], "the manifest was asked for again"
    assert not [url for url in asked if url.endswith(first_url)], "the first image was asked for again"
    early = page.evaluate(
        "() => performance.getEntriesByType('resource')"
        ".filter((e) => e.name.includes('/preview') && e.startTime < window.__drawn).map((e) => e.name)"
    )
    assert early == [], f"neighbours asked for before the first image was drawn: {early}"
    # And the page's own image gives way to the viewer's drawing.
    assert page.locator("img.viewer-first").is_hidden()
    context.close()


def test_it_leaves_a_large_first_image_to_its_own_request(db: None, ct: Study, monkeypatch: pytest.MonkeyPatch) -> None:
    made_first_image(ct)
    monkeypatch.setattr("portal.exams.pages.INLINE_MAX_BYTES", 100)  # as a 2048 px radiograph's preview would be
    _client, response = viewer_page(ct)
    first = re.search(r'<img class="viewer-first" src="([^"]+)"', response.content.decode())
    assert first is not None
    assert first.group(1).startswith("/my/images/")
