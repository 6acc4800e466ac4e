"""The names inside a study's JPEG zip: one folder a series, even when two series share a number and a name."""

import zipfile
from pathlib import Path

from imaging import synthetic
from imaging.downloads import build_jpeg_zip
from imaging.ingest import ingest_instance
from imaging.models import Hospital, Study
from tests.support.dicom import ct_slice, study_spec


def test_it_gives_two_series_of_one_number_and_name_folders_of_their_own(hospital: Hospital, tmp_path: Path) -> None:
    spec = study_spec("twins")
    # A localiser repeated: two series, both number 2 and "Test CT", two images each.
    for series_key in ("ct", "ct-repeat"):
        for number in (1, 2):
            ingest_instance(synthetic.to_bytes(ct_slice(spec, number=number, series_key=series_key)), hospital)
    study = Study.objects.get(study_uid=spec.study_uid)
    assert study.series.count() == 2
    target = tmp_path / "study.zip"
    assert build_jpeg_zip(study, "", target) == 4
    with zipfile.ZipFile(target) as archive:
        names = archive.namelist()
    assert sorted(names) == [
        "002-Test_CT-2/0001.jpg",
        "002-Test_CT-2/0002.jpg",
        "002-Test_CT/0001.jpg",
        "002-Test_CT/0002.jpg",
    ]
