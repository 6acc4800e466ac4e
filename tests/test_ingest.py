"""imaging.ingest: the one function every entry point calls."""

import errno
import hashlib
import io
import os
import threading
from pathlib import Path
from typing import Any

import psycopg
import pydicom
import pytest
from django.db import DatabaseError, OperationalError, close_old_connections, connection
from pydicom.data import get_testdata_file
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

import imaging.ingest.fast_path
import imaging.ingest.funnel
from imaging import synthetic
from imaging.dicom import read_header
from imaging.ingest import (
    IngestOutcome,
    IngestUnavailable,
    RejectionKind,
    ingest_instance,
    instance_stored,
    unindex_instance,
)
from imaging.models import Hospital, IngestConflict, Instance, PatientRecord, Report, ReportKind, Series, Study
from imaging.storage import dicom_key
from tests.support.dicom import ALICE, BOB, bundled_files, ct_bytes, ct_slice, stored_files, study_spec
from tests.support.phantom import phantom_ct
from tests.support.processes import shared_database_url
from tests.support.workers import wait_for

pytestmark = pytest.mark.django_db


def index_rows() -> dict[str, list[dict[str, Any]]]:
    return {
        model.__name__: list(model.objects.order_by("pk").values())
        for model in (PatientRecord, Study, Series, Instance, Report, IngestConflict)
    }


def test_it_indexes_or_rejects_every_bundled_test_file(hospital: Hospital, storage_root: Path) -> None:
    files = [str(f) for f in bundled_files()]
    assert len(files) > 100
    outcomes = {}
    for path in files:
        result = ingest_instance(Path(path), hospital, source_name=path)
        outcomes[os.path.basename(path)] = result
        if result.outcome == IngestOutcome.REJECTED:
            assert result.reason, path
        else:
            assert Instance.objects.filter(sop_uid=result.sop_uid).exists(), path
    assert outcomes["CT_small.dcm"].outcome == IngestOutcome.STORED
    assert outcomes["MR_truncated.dcm"].outcome == IngestOutcome.REJECTED
    assert "truncated" in outcomes["MR_truncated.dcm"].reason
    assert outcomes["README.txt"].rejection == RejectionKind.UNREADABLE
    for instance in Instance.objects.all():
        stored = (storage_root / instance.storage_key).read_bytes()
        assert hashlib.sha256(stored).hexdigest() == instance.sha256


def test_it_stores_the_bytes_it_was_given(hospital: Hospital, storage_root: Path) -> None:
    data = ct_bytes()
    result = ingest_instance(data, hospital)
    assert result.outcome == IngestOutcome.STORED
    instance = Instance.objects.get(pk=result.instance_id)
    assert (storage_root / instance.storage_key).read_bytes() == data
    assert instance.sha256 == hashlib.sha256(data).hexdigest()
    assert instance.size_bytes == len(data)
    assert (instance.rows, instance.columns, instance.bits_stored) == (16, 16, 16)
    assert (instance.window_center, instance.window_width, instance.rescale_intercept) == (40, 400, -1024)
    study = instance.series.study
    assert study.patient.patient_id == ALICE.patient_id
    assert study.patient.hospital == hospital
    assert (study.number_of_series, study.number_of_instances, study.size_bytes) == (1, 1, len(data))
    assert study.modalities == "CT"


def test_it_changes_nothing_on_an_identical_resend(hospital: Hospital, storage_root: Path) -> None:
    data = ct_bytes()
    ingest_instance(data, hospital)
    rows_before = index_rows()
    files_before = {p: p.stat().st_mtime_ns for p in stored_files(storage_root)}
    result = ingest_instance(data, hospital)
    assert result.outcome == IngestOutcome.DUPLICATE
    assert index_rows() == rows_before
    assert {p: p.stat().st_mtime_ns for p in stored_files(storage_root)} == files_before


def test_it_keeps_the_stored_copy_and_records_a_conflict(hospital: Hospital, storage_root: Path) -> None:
    original = ct_bytes()
    ingest_instance(original, hospital)
    altered = ct_slice()
    altered.SeriesDescription = "Changed on the way"
    result = ingest_instance(synthetic.to_bytes(altered), hospital, source_name="pacs resend")
    assert result.outcome == IngestOutcome.CONFLICT
    instance = Instance.objects.get()
    assert (storage_root / instance.storage_key).read_bytes() == original
    assert len(stored_files(storage_root)) == 1
    conflict = IngestConflict.objects.get()
    assert conflict.instance == instance
    assert conflict.source == "pacs resend"
    assert conflict.received_sha256 != instance.sha256


def _without_sop_uid() -> bytes:
    ds = ct_slice()
    del ds.SOPInstanceUID
    return synthetic.to_bytes(ds)


def _with_uid(keyword: str, value: str) -> bytes:
    ds = ct_slice()
    setattr(ds, keyword, value)
    if keyword == "SOPInstanceUID":
        ds.file_meta.MediaStorageSOPInstanceUID = value
    return synthetic.to_bytes(ds)


def _truncated() -> bytes:
    data = ct_bytes(size=64)
    return data[: len(data) - 1000]


def _without_patient_id() -> bytes:
    ds = ct_slice()
    ds.PatientID = ""
    return synthetic.to_bytes(ds)


def _sop_class_mismatch() -> bytes:
    ds = ct_slice()
    ds.file_meta.MediaStorageSOPClassUID = synthetic.MR_IMAGE
    ds.preamble = b"\0" * 128
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=False)  # as given: pydicom would mend the meta otherwise
    return out.getvalue()


MALFORMED = {
    "text file": (lambda: b"Patient: Alice\nThis is a text file, not an image.\n" * 20, "not a DICOM file"),
    "empty file": (lambda: b"", "empty"),
    "truncated DICOM": (_truncated, "truncated"),
    "no SOPInstanceUID": (_without_sop_uid, "SOPInstanceUID is missing"),
    "SOPInstanceUID with ../": (lambda: _with_uid("SOPInstanceUID", "1.2/../../etc"), "not a valid UID"),
    "StudyInstanceUID ..": (lambda: _with_uid("StudyInstanceUID", ".."), "not a valid UID"),
    "SeriesInstanceUID with letters": (lambda: _with_uid("SeriesInstanceUID", "1.2.abc"), "not a valid UID"),
    "UID of 65 characters": (lambda: _with_uid("SOPInstanceUID", "1." + "2" * 63), "not a valid UID"),
    "no PatientID": (_without_patient_id, "PatientID"),
    "SOP class mismatch": (_sop_class_mismatch, "does not match"),
}


@pytest.mark.parametrize("case", MALFORMED.keys())
def test_it_rejects_malformed_input_with_a_reason_and_leaves_nothing(
    case: str, hospital: Hospital, storage_root: Path
) -> None:
    make, expected_reason = MALFORMED[case]
    result = ingest_instance(make(), hospital)
    assert result.outcome == IngestOutcome.REJECTED
    assert expected_reason in result.reason
    assert stored_files(storage_root) == []
    assert all(rows == [] for rows in index_rows().values())


def test_it_names_the_sop_class_mismatch_for_the_dimse_status(hospital: Hospital) -> None:
    assert ingest_instance(_sop_class_mismatch(), hospital).rejection == RejectionKind.SOP_CLASS_MISMATCH


def test_it_refuses_an_instance_that_names_another_patient_for_a_known_study(
    hospital: Hospital, storage_root: Path
) -> None:
    study = study_spec("shared")
    ingest_instance(ct_bytes(study=study, number=1), hospital)
    intruder = ct_slice(study=study, number=2)
    intruder.PatientID = BOB.patient_id
    result = ingest_instance(synthetic.to_bytes(intruder), hospital)
    assert result.outcome == IngestOutcome.REJECTED
    assert result.rejection == RejectionKind.PATIENT_MISMATCH
    assert Instance.objects.count() == 1
    assert len(stored_files(storage_root)) == 1


def test_it_keeps_the_same_patient_id_at_two_hospitals_apart(hospital: Hospital, other_hospital: Hospital) -> None:
    ingest_instance(ct_bytes(study=study_spec("a")), hospital)
    ingest_instance(ct_bytes(study=study_spec("b")), other_hospital)
    records = PatientRecord.objects.filter(patient_id=ALICE.patient_id)
    assert {r.hospital_id for r in records} == {hospital.pk, other_hospital.pk}


def test_it_lists_a_series_in_anatomical_order(hospital: Hospital) -> None:
    oblique = (0.866025, 0.5, 0.0, 0.0, 0.0, -1.0)
    positions = [3.0, -7.5, 12.0, 0.0, -2.5]
    for number, z in enumerate(positions, start=1):
        ingest_instance(ct_bytes(number=10 - number, z=z, orientation=oblique), hospital)
    series = Series.objects.get()
    ordered = list(Instance.objects.filter(series=series).in_anatomical_order())
    assert [round(i.slice_position, 3) for i in ordered] == sorted(positions)


def test_it_orders_by_instance_number_without_positions(hospital: Hospital) -> None:
    for number in (3, 1, 2):
        ds = ct_slice(number=number)
        del ds.ImagePositionPatient
        ingest_instance(synthetic.to_bytes(ds), hospital)
    numbers = [i.instance_number for i in Instance.objects.in_anatomical_order()]
    assert numbers == [1, 2, 3]


@pytest.mark.parametrize(
    ("spacing", "indexed"),
    [("pixel", ("0.5\\0.5", "patient")), ("imager", ("0.5\\0.5", "detector")), ("none", ("", "none"))],
)
def test_it_indexes_the_pixel_spacing_and_whether_it_holds_in_the_patient(
    hospital: Hospital, spacing: str, indexed: tuple[str, str]
) -> None:
    ingest_instance(synthetic.to_bytes(phantom_ct(study_spec(), spacing=spacing)), hospital)
    assert Instance.objects.values_list("pixel_spacing", "pixel_spacing_kind").get() == indexed


def test_it_takes_pixel_spacing_over_the_detectors_and_from_an_enhanced_objects_functional_groups() -> None:
    both = phantom_ct(study_spec(), spacing="imager")
    both.PixelSpacing = [0.4, 0.45]
    assert read_header(both).instance["pixel_spacing"] == "0.4\\0.45"
    assert read_header(both).instance["pixel_spacing_kind"] == "patient"
    enhanced = phantom_ct(study_spec(), spacing="none")
    measures = Dataset()
    measures.PixelSpacing = [0.7, 0.7]
    enhanced.SharedFunctionalGroupsSequence = [Dataset()]
    enhanced.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence = [measures]
    assert read_header(enhanced).instance["pixel_spacing_kind"] == "patient"
    assert read_header(enhanced).instance["pixel_spacing"] == "0.7\\0.7"


def test_it_lists_a_patient_records_studies_in_one_query(hospital: Hospital, django_assert_num_queries: Any) -> None:
    for key in ("one", "two", "three"):
        ingest_instance(ct_bytes(study=study_spec(key)), hospital)
    record = PatientRecord.objects.get()
    with django_assert_num_queries(1):
        studies = list(Study.objects.for_list().filter(patient=record))
        assert [s.hospital.name for s in studies] == [hospital.name] * 3
        assert all(s.patient.patient_id == ALICE.patient_id for s in studies)


def test_it_makes_a_structured_report_the_studys_report(hospital: Hospital) -> None:
    study = study_spec()
    ingest_instance(ct_bytes(study=study), hospital)
    sr = synthetic.text_report(study, "Lungs are clear.", "No acute disease.")
    assert ingest_instance(synthetic.to_bytes(sr), hospital).outcome == IngestOutcome.STORED
    report = Report.objects.get()
    assert report.kind == ReportKind.STRUCTURED
    assert "Finding: Lungs are clear." in report.text
    assert "Impression: No acute disease." in report.text
    assert Study.objects.get().has_report


def test_it_makes_an_encapsulated_pdf_the_studys_report(hospital: Hospital) -> None:
    pdf = synthetic.pdf_report(study_spec(), "CT report", ["Nothing abnormal."])
    ingest_instance(synthetic.to_bytes(pdf), hospital)
    report = Report.objects.get()
    assert report.kind == ReportKind.PDF
    assert report.title == "CT report"
    assert report.instance is not None
    assert not report.instance.has_pixels


def test_it_counts_the_images_of_a_study_apart_from_its_reports_and_other_objects(hospital: Hospital) -> None:
    study = study_spec()
    for number in (1, 2):  # the second through the one statement of a known series, on PostgreSQL
        ingest_instance(ct_bytes(study=study, number=number), hospital)
    no_pixels = ct_slice(study=study, number=3)
    del no_pixels.PixelData  # an object of the image series that is not an image
    ingest_instance(synthetic.to_bytes(no_pixels), hospital)
    ingest_instance(synthetic.to_bytes(synthetic.text_report(study, "Lungs are clear.", "Normal.")), hospital)
    ingest_instance(synthetic.to_bytes(synthetic.pdf_report(study, "CT report", ["Nothing abnormal."])), hospital)
    counted = Study.objects.get()
    assert (counted.number_of_instances, counted.number_of_images) == (5, 2)


def test_it_counts_an_image_taken_out_of_the_index_out_of_the_images(hospital: Hospital) -> None:
    study = study_spec()
    stored = [ingest_instance(ct_bytes(study=study, number=number), hospital) for number in (1, 2)]
    unindex_instance(stored[0].instance_id or 0)
    counted = Study.objects.get()
    assert (counted.number_of_instances, counted.number_of_images) == (1, 1)


def test_it_accepts_a_bare_dataset_without_file_meta(hospital: Hospital, storage_root: Path) -> None:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    ds.preamble = None
    bare = ds.copy()
    del bare.file_meta
    path = storage_root.parent / "bare.dcm"
    pydicom.dcmwrite(path, bare, enforce_file_format=False, implicit_vr=True, little_endian=True)
    result = ingest_instance(path, hospital)
    assert result.outcome == IngestOutcome.STORED
    stored = pydicom.dcmread(storage_root / Instance.objects.get().storage_key)
    assert stored.SOPInstanceUID == ds.SOPInstanceUID


def test_it_announces_a_new_instance_after_commit(hospital: Hospital, django_capture_on_commit_callbacks: Any) -> None:
    received: list[int] = []

    def on_stored(sender: object, instance_id: int, series_id: int, **kwargs: object) -> None:
        received.append(instance_id)

    instance_stored.connect(on_stored)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            ingest_instance(ct_bytes(), hospital)
        assert received == []
        for callback in callbacks:
            callback()
        assert received == [Instance.objects.get().pk]
        ingest_instance(ct_bytes(), hospital)  # a duplicate announces nothing
        assert len(received) == 1
    finally:
        instance_stored.disconnect(on_stored)


def test_it_reports_a_full_disk_and_indexes_nothing(
    hospital: Hospital, storage_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(fd: int, content: bytes) -> None:
        os.write(fd, content[: len(content) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("imaging.storage._write_all", disk_full)
    with pytest.raises(IngestUnavailable, match="No space left"):
        ingest_instance(ct_bytes(), hospital)
    assert all(rows == [] for rows in index_rows().values())
    assert stored_files(storage_root) == []  # the half-written file is gone too


def test_it_removes_the_file_it_wrote_when_the_database_fails(
    hospital: Hospital, storage_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def database_down(*args: object, **kwargs: object) -> None:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("imaging.ingest.index._insert_instance", database_down)
    with pytest.raises(IngestUnavailable, match="database"):
        ingest_instance(ct_bytes(), hospital)
    assert stored_files(storage_root) == []
    assert Instance.objects.count() == 0


def test_it_asks_for_a_resend_when_the_database_fails_without_naming_why(
    hospital: Hospital, storage_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bare DatabaseError is the database's failure, not the object's: refusing it (0xC210) would lose it."""

    def unnamed_failure(*args: object, **kwargs: object) -> None:
        raise DatabaseError("server closed the connection unexpectedly")

    monkeypatch.setattr("imaging.ingest.index._insert_instance", unnamed_failure)
    with pytest.raises(IngestUnavailable, match="server closed"):
        ingest_instance(ct_bytes(), hospital)
    assert stored_files(storage_root) == []
    assert Instance.objects.count() == 0


def test_it_replaces_a_half_written_file_a_crash_left_under_the_key(hospital: Hospital, storage_root: Path) -> None:
    data = ct_bytes()
    header = read_header(pydicom.dcmread(io.BytesIO(data)))
    key = dicom_key(header.study_uid, header.series_uid, header.sop_uid, hashlib.sha256(data).hexdigest())
    (storage_root / key).parent.mkdir(parents=True)
    (storage_root / key).write_bytes(data[:100])
    result = ingest_instance(data, hospital)
    assert result.outcome == IngestOutcome.STORED
    assert Instance.objects.get().storage_key == key
    assert (storage_root / key).read_bytes() == data


@pytest.mark.usefixtures("require_postgres")
def test_it_commits_nothing_of_an_image_whose_file_fails_while_its_statement_runs(
    transactional_db: None, hospital: Hospital, storage_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert ingest_instance(ct_bytes(number=1), hospital).outcome == IngestOutcome.STORED  # the series is known now

    def disk_full(fd: int, content: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr("imaging.storage._write_all", disk_full)
        with pytest.raises(IngestUnavailable, match="No space left"):
            ingest_instance(ct_bytes(number=2), hospital)
    assert ingest_instance(ct_bytes(number=3), hospital).outcome == IngestOutcome.STORED
    assert sorted(Instance.objects.values_list("instance_number", flat=True)) == [1, 3]
    study = Study.objects.get()
    assert study.number_of_instances == 2  # the refused image's count was rolled back with it
    assert len(stored_files(storage_root)) == 2


@pytest.mark.usefixtures("require_postgres")
def test_it_removes_the_file_when_the_database_fails_while_it_is_written(
    transactional_db: None, hospital: Hospital, storage_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert ingest_instance(ct_bytes(number=1), hospital).outcome == IngestOutcome.STORED
    backend = connection.connection.info.backend_pid
    write_file = imaging.ingest.funnel._write_file

    def database_dies_meanwhile(key: str, content: bytes, flush: bool) -> bool:
        with psycopg.connect(shared_database_url().replace("postgres://", "postgresql://"), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [backend])
        return write_file(key, content, flush)

    with monkeypatch.context() as patch:
        patch.setattr("imaging.ingest.funnel._write_file", database_dies_meanwhile)
        with pytest.raises(IngestUnavailable, match="database"):
            ingest_instance(ct_bytes(number=2), hospital)
    assert len(stored_files(storage_root)) == 1
    close_old_connections()  # as the listener and the request cycle do before the next object
    assert ingest_instance(ct_bytes(number=2), hospital).outcome == IngestOutcome.STORED
    assert Instance.objects.count() == 2


@pytest.mark.usefixtures("require_postgres")
def test_it_locks_a_series_row_before_its_study_row(transactional_db: None, hospital: Hospital) -> None:
    """Every index writer takes the series row, then the study row: in one order, two writers cannot deadlock."""
    ingest_instance(ct_bytes(number=1), hospital)
    series = Series.objects.get()
    url = shared_database_url().replace("postgres://", "postgresql://")
    outcome: list[IngestOutcome] = []

    def ingest_second() -> None:
        try:
            outcome.append(ingest_instance(ct_bytes(number=2), hospital).outcome)
        finally:
            connection.close()

    with psycopg.connect(url) as holder, psycopg.connect(url, autocommit=True) as prober:
        holder.execute("SELECT 1 FROM imaging_study WHERE id = %s FOR UPDATE", [series.study_id])
        writer = threading.Thread(target=ingest_second)
        writer.start()
        waiting = (
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        assert wait_for(lambda: prober.execute(waiting).fetchone() == (1,), timeout=10)
        with pytest.raises(psycopg.errors.LockNotAvailable):  # the writer holds the series row while it waits
            prober.execute("SELECT 1 FROM imaging_series WHERE id = %s FOR UPDATE NOWAIT", [series.pk])
        holder.rollback()
        writer.join(timeout=10)
    assert outcome == [IngestOutcome.STORED]


# A store whose index write reached PostgreSQL and whose answer was lost with the connection (the
# server went down between its commit's flush and its answer): ingest asks the database again.
LOST = "consuming input failed: server closed the connection unexpectedly"


def answer_lost(after_the_write: bool) -> Any:
    """`run_prepared` whose connection dies with no word from the server: after the write ran, or before."""
    run_prepared = imaging.ingest.fast_path.run_prepared

    def lost(*args: Any, **kwargs: Any) -> Any:
        if after_the_write:
            run_prepared(*args, **kwargs)
        raise psycopg.OperationalError(LOST)

    return lost


@pytest.fixture
def ledger() -> Any:
    from imaging.listener import FlushLedger

    running = FlushLedger(sweep_every=0.05).start()
    yield running
    running.stop()


@pytest.mark.usefixtures("require_postgres")
def test_it_answers_stored_when_the_database_took_the_row_but_its_answer_was_lost(
    transactional_db: None, hospital: Hospital, storage_root: Path, monkeypatch: pytest.MonkeyPatch, ledger: Any
) -> None:
    ingest_instance(ct_bytes(number=1), hospital, ledger=ledger)  # the series is known: one statement
    announced: list[int] = []
    monkeypatch.setattr("imaging.ingest.fast_path.run_prepared", answer_lost(after_the_write=True))
    instance_stored.connect(lambda sender, instance_id, **kwargs: announced.append(instance_id), weak=False)
    try:
        result = ingest_instance(ct_bytes(number=2), hospital, ledger=ledger)
    finally:
        instance_stored.receivers.pop()
    assert result.outcome == IngestOutcome.STORED
    assert announced == [result.instance_id]  # renders are scheduled as for any store
    instance = Instance.objects.get(pk=result.instance_id)
    assert (storage_root / instance.storage_key).read_bytes() == ct_bytes(number=2)
    assert wait_for(lambda: not imaging.models.UnflushedFile.objects.exists(), timeout=10)  # flushed, then dropped


@pytest.mark.usefixtures("require_postgres")
def test_it_refuses_and_removes_the_file_when_the_lost_write_did_not_commit(
    transactional_db: None, hospital: Hospital, storage_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_instance(ct_bytes(number=1), hospital)
    monkeypatch.setattr("imaging.ingest.fast_path.run_prepared", answer_lost(after_the_write=False))
    with pytest.raises(IngestUnavailable, match="server closed the connection"):
        ingest_instance(ct_bytes(number=2), hospital)
    assert list(Instance.objects.values_list("instance_number", flat=True)) == [1]
    assert len(stored_files(storage_root)) == 1


@pytest.mark.usefixtures("require_postgres")
def test_it_keeps_the_file_of_a_lost_write_while_the_database_cannot_say_whether_it_took_it(
    transactional_db: None, hospital: Hospital, storage_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_instance(ct_bytes(number=1), hospital)
    write_then_lose = answer_lost(after_the_write=True)
    port = connection.settings_dict["PORT"]

    def write_then_lose_the_server(*args: Any, **kwargs: Any) -> Any:
        connection.settings_dict["PORT"] = 1  # nothing listens there: the database stays away
        return write_then_lose(*args, **kwargs)

    monkeypatch.setattr("imaging.ingest.index.IN_DOUBT_SECONDS", 0.5)
    monkeypatch.setattr("imaging.ingest.fast_path.run_prepared", write_then_lose_the_server)
    try:
        with pytest.raises(IngestUnavailable, match="not back to say"):
            ingest_instance(ct_bytes(number=2), hospital)
    finally:
        connection.settings_dict["PORT"] = port
        connection.close()
    kept = Instance.objects.get(instance_number=2)  # the write had committed: its row names its file
    assert (storage_root / kept.storage_key).read_bytes() == ct_bytes(number=2)


def test_it_finds_the_declared_lengths_on_the_elements_pydicom_left_unconverted(tmp_path: Path) -> None:
    """What ingest's truncation check relies on in pydicom 3 (imaging.ingest.parse._check_not_truncated):
    `Dataset.values()` gives each element as read, unconverted, and a value past `defer_size` stays in
    the file (None) with its offset and length known; `get_item(keep_deferred=True)` leaves it there too."""
    path = tmp_path / "ct.dcm"
    path.write_bytes(ct_bytes(size=16))
    dataset = pydicom.dcmread(path, defer_size=256)
    elements = {int(element.tag): element for element in dataset.values()}
    pixels, patient_id = elements[0x7FE00010], elements[0x00100020]
    assert isinstance(pixels, RawDataElement)
    assert isinstance(patient_id, RawDataElement)
    assert pixels.value is None
    assert pixels.length == 16 * 16 * 2
    assert path.read_bytes()[pixels.value_tell : pixels.value_tell + pixels.length] == ct_slice(size=16).PixelData
    assert dataset.get_item(0x7FE00010, keep_deferred=True) is pixels
    assert patient_id.value.rstrip(b" ") == b"PID-ALICE"  # its bytes, not yet a str
