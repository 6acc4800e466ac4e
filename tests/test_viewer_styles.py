"""The viewer page carries its stylesheets in the page, allowed by their hash and nothing else.

On a slow network a stylesheet held the first paint back a round trip
(bench/slow_network.py); the page now carries the text, and the
Content-Security-Policy names exactly that text.
"""

import base64
import datetime as dt
import hashlib
import re
from typing import Any

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from imaging import synthetic
from imaging.ingest import ingest_instance
from imaging.models import Hospital, Study
from portal.exams import styles
from tests.support.browser import PHONE
from tests.support.dicom import ALICE, study_spec
from tests.support.people import ALICE_PHONE, link, sign_in_patient, sign_in_patient_in_browser


@pytest.fixture
def ct(hospital: Hospital) -> Study:
    spec = study_spec("styles", patient=ALICE, date=dt.date(2026, 3, 1))
    for ds in synthetic.ct_chest(spec, slices=3, size=64):
        ingest_instance(synthetic.to_bytes(ds), hospital)
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    return Study.objects.get(study_uid=spec.study_uid)


def _style_sources(response: Any) -> list[str]:
    policy = response["Content-Security-Policy"]
    directive = next(d.strip() for d in policy.split(";") if d.strip().startswith("style-src"))
    return directive.split()[1:]


def test_it_carries_the_stylesheets_in_the_viewer_page_by_their_hash(db: None, ct: Study) -> None:
    client = Client()
    sign_in_patient(client, ALICE_PHONE)
    response = client.get(f"/my/studies/{ct.pk}/view/")
    html = response.content.decode()
    carried = re.findall(r"<style>(.*?)</style>", html, re.S)
    assert len(carried) == 1
    for name in styles.VIEWER_STYLESHEETS:
        with open(str(finders.find(name)), encoding="utf-8") as stylesheet:
            assert stylesheet.read() in carried[0]
    digest = base64.b64encode(hashlib.sha256(carried[0].encode()).digest()).decode()
    assert _style_sources(response) == ["'self'", f"'sha256-{digest}'"]
    assert 'rel="stylesheet"' not in html


def test_it_links_the_stylesheet_on_every_other_page(db: None, ct: Study) -> None:
    client = Client()
    sign_in_patient(client, ALICE_PHONE)
    for url in ("/", "/my/", f"/my/studies/{ct.pk}/"):
        html = client.get(url).content.decode()
        assert "<style" not in html, url
        assert 'rel="stylesheet"' in html, url


@pytest.mark.browser
def test_it_styles_the_viewer_with_no_stylesheet_request_and_refuses_any_other_inline_style(
    chromium: Any, live_server: Any, transactional_db: None, ct: Study
) -> None:
    context = chromium.new_context(**PHONE)
    page = context.new_page()
    sign_in_patient_in_browser(page, live_server.url, ALICE_PHONE)
    page.add_init_script(
        "window.__violations = [];"
        "document.addEventListener('securitypolicyviolation', e => window.__violations.push(e.violatedDirective));"
    )
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{live_server.url}/my/studies/{ct.pk}/view/")
    page.wait_for_selector("#viewer[data-shown]:not([data-shown=''])")
    assert not [url for url in requested if "/static/css/" in url]
    assert page.evaluate("getComputedStyle(document.body).overflow") == "hidden"  # viewer.css's body.viewer-page
    assert page.evaluate("window.__violations") == []
    # An injected style (an attacker's markup in the page) is refused by the same policy.
    page.evaluate(
        "() => { const s = document.createElement('style'); s.textContent = 'body { overflow: scroll }';"
        " document.head.append(s); }"
    )
    page.wait_for_function("window.__violations.length > 0")
    assert page.evaluate("window.__violations")[0].startswith("style-src")
    assert page.evaluate("getComputedStyle(document.body).overflow") == "hidden"
    context.close()
