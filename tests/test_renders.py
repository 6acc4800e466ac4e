"""Renders: the cache, encoding, placeholders for broken images, and the staff image views."""

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.test import Client
from PIL import Image
from pydicom.encaps import encapsulate

from accounts.models import StaffRole
from imaging import synthetic
from imaging.ingest import ingest_instance
from imaging.models import Hospital, Instance, Render, RenderStatus, Series
from imaging.rendering import PRESETS, RENDERER_VERSION, RenderSpec, ensure_render, read_render
from tests.support.dicom import ct_bytes, ct_slice, study_spec
from tests.support.people import make_staff, sign_in_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client: Client, db: None) -> Client:
    sign_in_staff(client, make_staff("bureau", StaffRole.REGIONAL_ADMIN, None))
    return client


def stored_instance(hospital: Hospital, **kwargs: Any) -> Instance:
    result = ingest_instance(ct_bytes(**kwargs), hospital)
    return Instance.objects.get(pk=result.instance_id)


def broken_instance(hospital: Hospital) -> Instance:
    """Well-formed DICOM whose JPEG pixel data no decoder can read."""
    ds = ct_slice(study=study_spec("broken"), number=1)
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xe0 this is not a JPEG stream at all \xff\xd9"])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.50"
    result = ingest_instance(synthetic.to_bytes(ds), hospital)
    return Instance.objects.get(pk=result.instance_id)


def image(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def test_it_names_a_render_by_what_it_shows(hospital: Hospital) -> None:
    instance = stored_instance(hospital)
    key = RenderSpec(frame=0, window=(40, 400), size=2048, image_format="png").key(instance)
    assert key == f"renders/{instance.sop_uid}/f0/c40w400/max2048/v{RENDERER_VERSION}.png"
    assert RenderSpec().key(instance) != RenderSpec(window=PRESETS["lung"]).key(instance)
    assert RenderSpec(size=0).key(instance).split("/")[4] == "full"


def test_it_makes_a_render_once_and_keeps_it(hospital: Hospital, storage_root: Path) -> None:
    instance = stored_instance(hospital)
    spec = RenderSpec(window=(40, 400))
    first = ensure_render(instance, spec)
    second = ensure_render(instance, spec)
    assert (first.status, second.status) == (RenderStatus.READY, RenderStatus.READY)
    render = Render.objects.get(key=first.key)
    assert render.attempts == 1
    assert image((storage_root / first.key).read_bytes()).format == "JPEG"


def test_it_remakes_a_render_whose_file_went_missing(hospital: Hospital, storage_root: Path) -> None:
    instance = stored_instance(hospital)
    outcome = ensure_render(instance, RenderSpec(window=(40, 400)))
    (storage_root / outcome.key).unlink()
    assert ensure_render(instance, RenderSpec(window=(40, 400))).status == RenderStatus.READY
    assert (storage_root / outcome.key).is_file()
    assert Render.objects.get(key=outcome.key).attempts == 2


def test_it_renders_the_series_thumbnail_and_previews_after_ingest(
    hospital: Hospital, storage_root: Path, django_capture_on_commit_callbacks: Any
) -> None:
    # No broker configured: the work that follows ingest runs inline, after commit.
    with django_capture_on_commit_callbacks(execute=True):
        for number in range(1, 6):
            ingest_instance(ct_bytes(number=number, size=64), hospital)
    series = Series.objects.get()
    ready = set(Render.objects.filter(status=RenderStatus.READY).values_list("key", flat=True))
    for instance in series.instances.all():
        assert RenderSpec().key(instance) in ready
    middle = list(series.instances.in_anatomical_order())[2]
    assert RenderSpec.thumbnail().key(middle) in ready
    assert all((storage_root / key).is_file() for key in ready)


def test_it_downscales_a_large_radiograph_unless_asked_for_the_original(hospital: Hospital) -> None:
    dx = next(iter(synthetic.dx_chest(study_spec("dx"), rows=2500, columns=2048)))
    instance = Instance.objects.get(pk=ingest_instance(synthetic.to_bytes(dx), hospital).instance_id)
    preview = ensure_render(instance, RenderSpec())
    original = ensure_render(instance, RenderSpec(size=0, image_format="png"))
    thumbnail = ensure_render(instance, RenderSpec.thumbnail())
    assert max(image(read_render(preview.key)).size) == 2048
    assert image(read_render(original.key)).size == (2048, 2500)
    assert max(image(read_render(thumbnail.key)).size) == 256


def test_it_records_a_broken_image_and_answers_with_a_placeholder(hospital: Hospital, admin_client: Client) -> None:
    instance = broken_instance(hospital)
    response = admin_client.get(f"/staff/images/instances/{instance.pk}/preview")
    assert response.status_code == 200
    assert response["X-Render-Status"] == "unavailable"
    assert response["Cache-Control"] == "no-store"
    assert image(response.content).size == (512, 512)
    instance.refresh_from_db()
    assert instance.render_error
    assert Render.objects.get(key=RenderSpec().key(instance)).status == RenderStatus.FAILED
    # The failure is remembered: asking again does not decode again.
    admin_client.get(f"/staff/images/instances/{instance.pk}/preview")
    assert Render.objects.get(key=RenderSpec().key(instance)).attempts == 1


def test_it_serves_previews_with_short_lived_cache_headers_and_revalidation(
    hospital: Hospital, admin_client: Client
) -> None:
    instance = stored_instance(hospital, size=64)
    response = admin_client.get(f"/staff/images/instances/{instance.pk}/preview", {"preset": "lung"})
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"] == "private, max-age=300"
    etag = response["ETag"]
    again = admin_client.get(
        f"/staff/images/instances/{instance.pk}/preview", {"preset": "lung"}, HTTP_IF_NONE_MATCH=etag
    )
    assert again.status_code == 304
    other = admin_client.get(f"/staff/images/instances/{instance.pk}/preview", {"window": "40,400"})
    assert other["ETag"] != etag


def test_it_windows_previews_as_asked(hospital: Hospital, admin_client: Client) -> None:
    instance = stored_instance(hospital, size=64)
    lung = admin_client.get(f"/staff/images/instances/{instance.pk}/preview", {"preset": "lung", "format": "png"})
    bone = admin_client.get(f"/staff/images/instances/{instance.pk}/preview", {"preset": "bone", "format": "png"})
    assert lung["Content-Type"] == "image/png"
    assert not np.array_equal(np.asarray(image(lung.content)), np.asarray(image(bone.content)))


@pytest.mark.parametrize(
    "params", [{"frame": "7"}, {"frame": "x"}, {"preset": "kidney"}, {"window": "40"}, {"format": "gif"}]
)
def test_it_refuses_a_malformed_preview_request(
    hospital: Hospital, admin_client: Client, params: dict[str, str]
) -> None:
    instance = stored_instance(hospital, size=64)
    assert admin_client.get(f"/staff/images/instances/{instance.pk}/preview", params).status_code == 400


def test_it_serves_the_series_thumbnail(hospital: Hospital, admin_client: Client) -> None:
    for number in (1, 2, 3):
        stored_instance(hospital, number=number, size=64)
    response = admin_client.get(f"/staff/images/series/{Series.objects.get().pk}/thumbnail")
    assert response.status_code == 200
    assert image(response.content).format == "JPEG"


def test_it_shows_images_only_to_signed_in_staff(hospital: Hospital, client: Client) -> None:
    instance = stored_instance(hospital, size=64)
    response = client.get(f"/staff/images/instances/{instance.pk}/preview")
    assert response.status_code == 302
    sign_in_staff(client, make_staff("clerk", StaffRole.CLERK, Hospital.objects.create(code="x", name="X")))
    assert client.get(f"/staff/images/instances/{instance.pk}/preview").status_code == 404
