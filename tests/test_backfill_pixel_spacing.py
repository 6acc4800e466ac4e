"""`backfill_pixel_spacing`: instances indexed before the index told Pixel Spacing from Imager Pixel Spacing."""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from imaging import synthetic
from imaging.ingest import ingest_instance
from imaging.models import Hospital, Instance, PixelSpacingKind
from tests.support.dicom import study_spec
from tests.support.phantom import phantom_ct

pytestmark = pytest.mark.django_db

SPACINGS = ("pixel", "imager", "none")


@pytest.fixture
def indexed_before(hospital: Hospital) -> dict[str, Instance]:
    """One instance of each kind, as the index held them before: the spacing whichever was found first, no kind."""
    for spacing in SPACINGS:
        ingest_instance(synthetic.to_bytes(phantom_ct(study_spec(), spacing=spacing, series_key=spacing)), hospital)
    Instance.objects.exclude(pixel_spacing="").update(pixel_spacing_kind=PixelSpacingKind.UNREAD)
    return {spacing: Instance.objects.get(series__series_uid=series_uid(spacing)) for spacing in SPACINGS}


def series_uid(spacing: str) -> str:
    return synthetic.uid_for("series", study_spec().key, spacing)


def kinds() -> dict[str, tuple[str, str]]:
    rows = Instance.objects.values_list("series__series_uid", "pixel_spacing", "pixel_spacing_kind")
    return {uid: (value, kind) for uid, value, kind in rows}


def test_it_reads_whether_the_spacing_is_the_patients_or_the_detectors(indexed_before: dict[str, Instance]) -> None:
    out = StringIO()
    call_command("backfill_pixel_spacing", "--batch", "1", stdout=out)
    assert kinds() == {
        series_uid("pixel"): ("0.5\\0.5", "patient"),
        series_uid("imager"): ("0.5\\0.5", "detector"),
        series_uid("none"): ("", "none"),
    }
    assert out.getvalue().strip() == "2 instances whose pixel spacing was not read; 2 read from files"


def test_it_leaves_an_instance_whose_kind_is_known_alone(indexed_before: dict[str, Instance]) -> None:
    known = indexed_before["imager"]
    Instance.objects.filter(pk=known.pk).update(pixel_spacing_kind=PixelSpacingKind.PATIENT)
    call_command("backfill_pixel_spacing", stdout=StringIO())
    assert kinds()[series_uid("imager")] == ("0.5\\0.5", "patient")


def test_it_leaves_an_instance_whose_file_is_gone_unread(
    indexed_before: dict[str, Instance], storage_root: Path
) -> None:
    (storage_root / indexed_before["pixel"].storage_key).unlink()
    out = StringIO()
    call_command("backfill_pixel_spacing", stdout=out)
    assert kinds()[series_uid("pixel")] == ("0.5\\0.5", "")
    assert out.getvalue().strip() == "2 instances whose pixel spacing was not read; 1 read from files"
