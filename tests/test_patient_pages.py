"""The patient's pages: the exam list, the exam, the viewer's data, downloads and the audit log."""

import datetime as dt
import gzip
import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from pydicom.fileset import FileSet

import portal.exams.pages
from accounts.models import PhoneLink, User
from imaging import synthetic
from imaging.ingest import ingest_instance
from imaging.models import Hospital, Instance, PixelSpacingKind, Series, Study
from imaging.synthetic import PatientSpec
from portal.audit.models import AuditAction, AuditEvent
from portal.exams.downloads import built_in_request
from portal.exams.models import Download, DownloadStatus
from tests.support.dicom import ALICE, BOB, study_spec
from tests.support.exams import Exam, make_exam
from tests.support.people import ALICE_PHONE, BOB_PHONE, link, sign_in_patient
from tests.support.phantom import phantom_ct
from tests.support.workers import Workers, wait_for


@pytest.fixture
def alice(hospital: Hospital, other_hospital: Hospital) -> Client:
    link(ALICE_PHONE, hospital, ALICE.patient_id) if make_exam(hospital, ALICE, "a-city") else None
    client = Client()
    sign_in_patient(client, ALICE_PHONE)
    return client


def _study_of(hospital: Hospital, study_key: str) -> Study:
    return Study.objects.get(hospital=hospital, study_uid=study_spec(study_key).study_uid)


def _exam_of(study_key: str) -> Exam:
    study = Study.objects.get(study_uid=study_spec(study_key).study_uid)
    series = study.series.get(modality="CT")
    return Exam(study, series, series.instances.in_anatomical_order().first())  # type: ignore[arg-type]


# ---------------------------------------------------------------- the list


def test_it_lists_studies_from_every_linked_hospital_newest_first(
    hospital: Hospital, other_hospital: Hospital, alice: Client
) -> None:
    make_exam(other_hospital, ALICE, "a-tcm", date=dt.date(2026, 3, 1), report="text")
    link(ALICE_PHONE, other_hospital, ALICE.patient_id)
    tcm = _study_of(other_hospital, "a-tcm")
    page = alice.get("/my/").content.decode()
    assert page.index(f'data-study="{tcm.pk}"') < page.index(f'data-study="{_exam_of("a-city").study.pk}"')
    assert "Report ready" in page or "报告已出" in page


def test_it_filters_by_hospital_and_modality(hospital: Hospital, other_hospital: Hospital, alice: Client) -> None:
    tcm = make_exam(other_hospital, ALICE, "a-tcm", date=dt.date(2026, 3, 1))
    link(ALICE_PHONE, other_hospital, ALICE.patient_id)
    page = alice.get("/my/", {"hospital": other_hospital.code}).content.decode()
    assert page.count('class="study"') == 1
    assert f'data-study="{tcm.study.pk}"' in page
    assert alice.get("/my/", {"modality": "MR"}).content.decode().count('class="study"') == 0
    assert alice.get("/my/", {"modality": "ct"}).content.decode().count('class="study"') == 2


def test_it_lists_studies_in_a_fixed_number_of_queries(hospital: Hospital, alice: Client) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert alice.get("/my/").status_code == 200
        return len(captured)

    few = queries()
    for number in range(6):
        make_exam(hospital, ALICE, f"more-{number}", slices=1, date=dt.date(2025, 1, number + 1), report="")
    assert queries() == few


def test_it_makes_an_unchanged_list_once(alice: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    portal.exams.pages._list_section.cache_clear()
    built: list[int] = []
    make_row = portal.exams.pages._row

    def counted_row(study: dict[str, Any], *args: Any) -> Any:
        built.append(study["pk"])
        return make_row(study, *args)

    monkeypatch.setattr(portal.exams.pages, "_row", counted_row)
    study = _exam_of("a-city").study
    alice.get("/my/")
    assert built == [study.pk]
    assert f'data-study="{study.pk}"' in alice.get("/my/").content.decode()
    assert built == [study.pk]


def test_it_shows_a_new_exam_at_once(hospital: Hospital, alice: Client) -> None:
    alice.get("/my/")
    new = make_exam(hospital, ALICE, "a-new", slices=1, date=dt.date(2026, 4, 1), report="")
    assert f'data-study="{new.study.pk}"' in alice.get("/my/").content.decode()


def test_it_shows_a_new_report_at_once(hospital: Hospital, alice: Client) -> None:
    # Ingest marks the study with update(), which leaves updated_at as it was.
    make_exam(hospital, ALICE, "a-late", slices=1, date=dt.date(2026, 4, 1), report="")
    assert alice.get("/my/", HTTP_ACCEPT_LANGUAGE="en").content.decode().count('class="report-ready"') == 1
    make_exam(hospital, ALICE, "a-late", slices=1, date=dt.date(2026, 4, 1), report="text")
    assert alice.get("/my/", HTTP_ACCEPT_LANGUAGE="en").content.decode().count('class="report-ready"') == 2


def test_it_shows_a_new_link_and_drops_an_ended_one_at_once(
    hospital: Hospital, other_hospital: Hospital, alice: Client
) -> None:
    tcm = make_exam(other_hospital, ALICE, "a-tcm", date=dt.date(2026, 3, 1))
    assert f'data-study="{tcm.study.pk}"' not in alice.get("/my/").content.decode()
    link(ALICE_PHONE, other_hospital, ALICE.patient_id)
    assert f'data-study="{tcm.study.pk}"' in alice.get("/my/").content.decode()
    PhoneLink.objects.filter(phone=ALICE_PHONE, patient_record__hospital=other_hospital).delete()
    assert f'data-study="{tcm.study.pk}"' not in alice.get("/my/").content.decode()


def test_it_counts_the_images_of_a_study_in_the_list_and_the_report_apart(alice: Client) -> None:
    """Three CT slices and a PDF report: three images, as the viewer shows, and the report beside them."""
    page = alice.get("/my/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<span class="images">3 images</span>' in page
    assert '<span class="report-ready">Report ready</span>' in page
    assert "4 images" not in page


def test_it_shows_a_thumbnail_strip_per_study(alice: Client) -> None:
    exam = _exam_of("a-city")
    page = alice.get("/my/").content.decode()
    assert f"/my/series/{exam.series.pk}/thumbnail" in page
    assert alice.get(f"/my/series/{exam.series.pk}/thumbnail")["Content-Type"] == "image/jpeg"


# ---------------------------------------------------------------- the exam


def test_it_counts_the_images_of_the_exam_without_its_report(alice: Client) -> None:
    exam = _exam_of("a-city")
    page = alice.get(f"/my/studies/{exam.study.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert page.count('class="series"') == 1  # the report's series is the report, not images
    assert "3 images" in page
    assert "4 images" not in page
    assert f"/my/studies/{exam.study.pk}/report.pdf" in page


def test_it_shows_the_pdf_reports_pages_and_serves_the_pdf(alice: Client) -> None:
    exam = _exam_of("a-city")
    page = alice.get(f"/my/studies/{exam.study.pk}/").content.decode()
    assert f'src="/my/studies/{exam.study.pk}/report.png?page=1"' in page  # tests/test_report_pages.py
    assert f'href="/my/studies/{exam.study.pk}/report.pdf?download=1"' in page
    inline = alice.get(f"/my/studies/{exam.study.pk}/report.pdf")
    assert inline["Content-Type"] == "application/pdf"
    assert inline.content.startswith(b"%PDF")
    assert inline["Content-Disposition"].startswith("inline")
    assert inline["X-Frame-Options"] == "SAMEORIGIN"
    saved = alice.get(f"/my/studies/{exam.study.pk}/report.pdf", {"download": "1"})
    assert saved["Content-Disposition"].startswith("attachment")


def test_it_looks_up_the_patients_links_once_a_request(alice: Client) -> None:
    exam = _exam_of("a-city")
    for url in (f"/my/studies/{exam.study.pk}/", f"/my/studies/{exam.study.pk}/view/"):
        with CaptureQueriesContext(connection) as captured:
            assert alice.get(url).status_code == 200
        assert sum("accounts_phonelink" in query["sql"] for query in captured) == 1, url


def test_it_shows_a_text_report_first(hospital: Hospital, alice: Client) -> None:
    exam = make_exam(hospital, ALICE, "a-text", report="text")
    page = alice.get(f"/my/studies/{exam.study.pk}/").content.decode()
    assert "No abnormality a-text." in page
    assert page.index('id="report"') < page.index('class="series-section"')


def test_it_lists_the_series_with_their_image_counts(alice: Client) -> None:
    exam = _exam_of("a-city")
    page = alice.get(f"/my/studies/{exam.study.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f'data-series="{exam.series.pk}"' in page
    assert "3 images" in page or "3 幅图像" in page


@pytest.mark.parametrize(
    ("language", "expected"), [("en", ["Report", "View images", "Download"]), ("zh-hans", ["报告", "查看图像", "下载"])]
)
def test_it_speaks_the_chosen_language_on_the_exam_page(alice: Client, language: str, expected: list[str]) -> None:
    exam = _exam_of("a-city")
    assert alice.post("/i18n/setlang/", {"language": language, "next": "/my/"}).status_code == 302
    response = alice.get(f"/my/studies/{exam.study.pk}/")
    page = response.content.decode()
    assert f'<html lang="{language}"' in page
    for text in expected:
        assert text in page
    assert alice.cookies["django_language"].value == language


def test_it_formats_dates_per_language(alice: Client) -> None:
    alice.post("/i18n/setlang/", {"language": "en", "next": "/my/"})
    assert "Jan. 5, 2026" in alice.get("/my/").content.decode()
    alice.post("/i18n/setlang/", {"language": "zh-hans", "next": "/my/"})
    assert "2026年1月5日" in alice.get("/my/").content.decode()


# ---------------------------------------------------------------- the viewer's data


def test_it_gives_the_viewer_the_images_in_anatomical_order(alice: Client) -> None:
    exam = _exam_of("a-city")
    manifest = alice.get(f"/my/series/{exam.series.pk}/images.json").json()
    assert [image["number"] for image in manifest["images"]] == [1, 2, 3]
    assert manifest["presets"][0]["name"] == "file"
    assert {"lung", "bone"} <= {p["name"] for p in manifest["presets"]}
    first = manifest["images"][0]
    assert alice.get(first["preview"], {"preset": "lung"})["Content-Type"] == "image/jpeg"


def _phantom_series(hospital: Hospital, spacing: str) -> Series:
    """A phantom image with Pixel Spacing ("pixel"), only Imager Pixel Spacing ("imager") or neither, in a-city."""
    ingest_instance(synthetic.to_bytes(phantom_ct(study_spec("a-city"), spacing=spacing, series_key=spacing)), hospital)
    return Series.objects.get(series_uid=synthetic.uid_for("series", "a-city", spacing))


def _spacing_given(client: Client, series: Series) -> tuple[Any, Any]:
    image = client.get(f"/my/series/{series.pk}/images.json").json()["images"][0]
    return image["pixel_spacing"], image["imager_pixel_spacing"]


def test_it_gives_the_ruler_the_pixel_spacing_only_where_it_holds_in_the_patient(
    hospital: Hospital, alice: Client
) -> None:
    assert _spacing_given(alice, _phantom_series(hospital, "pixel")) == ([0.5, 0.5], None)
    assert _spacing_given(alice, _phantom_series(hospital, "imager")) == (None, [0.5, 0.5])
    assert _spacing_given(alice, _phantom_series(hospital, "none")) == (None, None)


def test_it_gives_no_spacing_of_an_image_indexed_before_its_kind_was_read(hospital: Hospital, alice: Client) -> None:
    series = _phantom_series(hospital, "pixel")
    series.instances.update(pixel_spacing_kind=PixelSpacingKind.UNREAD)  # it may be the detector's
    assert _spacing_given(alice, series) == (None, None)


def test_it_serves_the_modality_values_for_windowing_in_the_browser(alice: Client, storage_root: Path) -> None:
    exam = _exam_of("a-city")
    response = alice.get(f"/my/images/{exam.instance.pk}/raw", HTTP_ACCEPT_ENCODING="gzip")
    assert response["Content-Encoding"] == "gzip"
    assert response["X-Dtype"] == "int16"
    rows, columns = int(response["X-Rows"]), int(response["X-Columns"])
    values = np.frombuffer(gzip.decompress(response.content), dtype="<i2").reshape(rows, columns)
    ds = pydicom.dcmread(storage_root / exam.instance.storage_key)
    expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert np.array_equal(values, expected)
    assert response["X-Window"] == "40,400"
    assert response["X-Voi-Function"] == "LINEAR"


# ---------------------------------------------------------------- downloads


def _download(client: Client, study_pk: int, kind: str, preset: str = "") -> tuple[Download, bytes]:
    response = client.post(f"/my/studies/{study_pk}/downloads/", {"kind": kind, "preset": preset})
    assert response.status_code == 302
    download = Download.objects.get(pk=int(response["Location"].rstrip("/").split("/")[-1]))
    assert download.status == DownloadStatus.READY, download.error
    file = client.get(f"/my/downloads/{download.pk}/file")
    assert file.status_code == 200
    assert file["Content-Disposition"].startswith("attachment")
    return download, b"".join(file.streaming_content)  # type: ignore[attr-defined]


def test_it_downloads_the_original_files_with_a_dicomdir(
    hospital: Hospital, alice: Client, tmp_path: Path, storage_root: Path
) -> None:
    exam = _exam_of("a-city")
    make_exam(hospital, BOB, "b-city")  # in the same hospital, never in Alice's zip
    _, data = _download(alice, exam.study.pk, "dicom")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(tmp_path / "zip")
        assert "DICOMDIR" in archive.namelist()
    fileset = FileSet(pydicom.dcmread(tmp_path / "zip" / "DICOMDIR"))
    instances = [entry.load() for entry in fileset]
    assert len(instances) == 4  # three CT slices and the PDF report
    assert {ds.PatientID for ds in instances} == {ALICE.patient_id}
    stored = {(storage_root / i.storage_key).read_bytes() for i in exam.study.series.get(modality="CT").instances.all()}
    copied = {path.read_bytes() for path in (tmp_path / "zip").rglob("*") if path.is_file() and path.name != "DICOMDIR"}
    assert stored <= copied


def test_it_downloads_pictures_at_the_chosen_preset(alice: Client) -> None:
    exam = _exam_of("a-city")
    _, lung = _download(alice, exam.study.pk, "jpeg", "lung")
    _, soft = _download(alice, exam.study.pk, "jpeg", "")
    with zipfile.ZipFile(io.BytesIO(lung)) as a, zipfile.ZipFile(io.BytesIO(soft)) as b:
        pictures = sorted(n for n in a.namelist() if n.endswith(".jpg"))
        assert len(pictures) == 3
        assert "report.pdf" in a.namelist()
        assert a.read(pictures[0]) != b.read(pictures[0])


def test_it_refuses_an_unknown_download_kind(alice: Client) -> None:
    exam = _exam_of("a-city")
    assert alice.post(f"/my/studies/{exam.study.pk}/downloads/", {"kind": "tar"}).status_code == 400


def test_it_zips_in_the_request_only_a_study_of_few_instances_and_few_bytes(hospital: Hospital, settings: Any) -> None:
    study = make_exam(hospital, ALICE, "zip-size").study
    size = sum(Instance.objects.filter(series__study=study).values_list("size_bytes", flat=True))
    settings.DOWNLOAD_INLINE_MAX_INSTANCES, settings.DOWNLOAD_INLINE_MAX_BYTES = study.number_of_instances, size
    assert built_in_request(study)
    settings.DOWNLOAD_INLINE_MAX_BYTES = size - 1
    assert not built_in_request(study)
    settings.DOWNLOAD_INLINE_MAX_INSTANCES, settings.DOWNLOAD_INLINE_MAX_BYTES = study.number_of_instances - 1, size
    assert not built_in_request(study)


@pytest.mark.slow
@pytest.mark.parametrize("limit", ["DOWNLOAD_INLINE_MAX_INSTANCES", "DOWNLOAD_INLINE_MAX_BYTES"])
def test_it_builds_a_large_download_on_a_worker(
    workers: Workers, hospital: Hospital, settings: Any, limit: str
) -> None:
    setattr(settings, limit, 1)  # more instances than this, or more bytes (one 2 GB multi-frame)
    exam = make_exam(hospital, ALICE, "a-big", slices=4)
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    client = Client()
    sign_in_patient(client, ALICE_PHONE)
    workers.start()
    response = client.post(f"/my/studies/{exam.study.pk}/downloads/", {"kind": "dicom"})
    download = Download.objects.get(pk=int(response["Location"].rstrip("/").split("/")[-1]))
    assert wait_for(lambda: Download.objects.get(pk=download.pk).status == DownloadStatus.READY)
    page = client.get(response["Location"]).content.decode()
    assert 'data-status="ready"' in page
    assert client.get(f"/my/downloads/{download.pk}/file").status_code == 200


# ---------------------------------------------------------------- audit


def test_it_records_views_images_and_downloads_in_the_audit_log(alice: Client) -> None:
    exam = _exam_of("a-city")
    user = User.objects.get(phone=ALICE_PHONE)
    alice.get(f"/my/studies/{exam.study.pk}/", REMOTE_ADDR="203.0.113.9")
    for _ in range(3):
        alice.get(f"/my/images/{exam.instance.pk}/preview")
    alice.get(f"/my/images/{exam.instance.pk}/thumbnail")
    _download(alice, exam.study.pk, "dicom")
    events = AuditEvent.objects.filter(user=user)
    view = events.get(action=AuditAction.STUDY_VIEW)
    assert view.study_id == exam.study.pk
    assert view.ip_address == "203.0.113.9"
    assert view.actor == "patient"
    assert events.filter(action=AuditAction.PREVIEWS, series=exam.series).count() == 1  # once per series and session
    assert events.filter(action=AuditAction.THUMBNAILS, series=exam.series).count() == 1
    assert events.filter(action=AuditAction.DOWNLOAD_REQUEST).count() == 1
    assert events.filter(action=AuditAction.DOWNLOAD, study=exam.study).count() == 1
    assert events.filter(action=AuditAction.SIGN_IN).count() == 1
    assert view.created_at.utcoffset() == dt.timedelta(0)


def test_it_does_not_write_to_the_log_for_a_refused_request(alice: Client, other_hospital: Hospital) -> None:
    bob = make_exam(other_hospital, BOB, "b-tcm")
    link(BOB_PHONE, other_hospital, BOB.patient_id)
    before = AuditEvent.objects.count()
    assert alice.get(f"/my/studies/{bob.study.pk}/").status_code == 404
    assert AuditEvent.objects.count() == before


def test_it_keeps_a_patient_without_links_on_an_empty_list(hospital: Hospital) -> None:
    spec = PatientSpec("P-NONE", "No^Links", "F", dt.date(1990, 1, 1), "")
    make_exam(hospital, spec, "nolinks")
    user = User.objects.create(username="+8613800000077", phone="+8613800000077")
    client = Client()
    client.force_login(user, backend="accounts.backends.UserBackend")
    page = client.get("/my/").content.decode()
    assert 'class="study"' not in page


def test_it_makes_one_zip_for_the_same_download_asked_twice(alice: Client) -> None:
    exam = _exam_of("a-city")
    first, _ = _download(alice, exam.study.pk, "dicom")
    second, _ = _download(alice, exam.study.pk, "dicom")
    assert first.pk == second.pk
    assert Download.objects.count() == 1


def test_it_purges_old_downloads_and_their_files(alice: Client, storage_root: Path) -> None:
    from django.core.management import call_command
    from django.utils import timezone

    exam = _exam_of("a-city")
    download, _ = _download(alice, exam.study.pk, "dicom")
    assert (storage_root / download.storage_key).is_file()
    Download.objects.filter(pk=download.pk).update(created_at=timezone.now() - dt.timedelta(hours=25))
    call_command("purge_downloads", stdout=io.StringIO())
    assert not Download.objects.exists()
    assert not (storage_root / download.storage_key).exists()
