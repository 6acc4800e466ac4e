"""The index's side of ingest, behind one seam: `index(received)` upserts the patient record,
study, series and instance, and counts what is new.

On PostgreSQL an image of a series the index knows (the common case) is one
statement (`fast_path`); a new series, a report, and every store on SQLite go
through one transaction here: plain SQL for the instance and the counts, the
ORM for the rows of a new series.
"""

import contextlib
import time
from dataclasses import dataclass

from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone
from pydicom.dataset import Dataset

from imaging.dicom import InstanceHeader, structured_report_text
from imaging.ingest import fast_path
from imaging.ingest.outcomes import Rejected, RejectionKind, held_for_another_patient
from imaging.ingest.received import Indexed, Received
from imaging.ingest.signals import series_created
from imaging.models import Hospital, Instance, PatientRecord, Report, ReportKind, Series, Study, UnflushedFile

# How long a store whose index write was cut off waits for the database to say whether it committed.
IN_DOUBT_SECONDS = 10.0


@dataclass(frozen=True)
class SeriesPlace:
    series_id: int
    study_id: int
    patient_id: str
    hospital_id: int


def index(received: Received, *, flush_meanwhile: bool = False, journal: bytes | None = None) -> Indexed:
    """Upsert patient record, study, series and instance; count what is new.

    Returns the instance's pk, the SHA-256 the index holds for it, and whether
    this call created it. The common case (another image of a series the index
    knows) is one statement on PostgreSQL and five on SQLite, in plain SQL: the
    ORM costs more a statement than the database does (docs/architecture.md).
    With `flush_meanwhile`, the file is flushed while
    the one statement runs, and the row it creates is marked unflushed; a new
    series waits for that flush before its transaction. With `journal` (the
    file's bytes), the one statement stores them in the row's mark instead,
    and the file is flushed later (or now, when no mark is made).
    """
    if fast_path.applies_to(received.header):
        indexed = fast_path.index_known_series(received, flush_meanwhile, journal)
        if indexed is not None:
            return indexed
    return _index_in_a_transaction(received)


@transaction.atomic
def _index_in_a_transaction(received: Received) -> Indexed:
    header = received.header
    place = _find_series(header.series_uid)
    series_created = False
    if place is None:
        place, series_created = _create_series(header, received.hospital)
    if place.hospital_id != received.hospital.pk or place.patient_id != header.patient_id:
        raise held_for_another_patient("series", header.series_uid)
    instance_id = _insert_instance(place.series_id, received)
    if instance_id is None:
        return Indexed.existing(header.sop_uid)
    _count_new_instance(place, series_created, header, received.size)
    if header.is_pdf or header.is_structured_report:
        assert received.dataset is not None, "reports are read by pydicom (raw_header declines them)"
        _attach_report(received.dataset, header, place.study_id, instance_id)
    return Indexed(instance_id, place.series_id, received.sha256, True)


def committed_row(sop_uid: str, key: str) -> Indexed | None:
    """Whether a write whose answer was lost committed the instance under `key`: its row, or None.

    Asked once the database answers again; raises OperationalError if it does
    not within `IN_DOUBT_SECONDS`, or at once inside an outer transaction (its
    connection cannot be opened anew). A large object's file was being flushed
    while the write ran: it is flushed again here, its outcome lost with the
    write's.
    """
    if connection.in_atomic_block:
        raise OperationalError("inside a transaction: the connection cannot be opened anew")
    deadline = time.monotonic() + IN_DOUBT_SECONDS
    unflushed = UnflushedFile.objects.filter(instance=OuterRef("pk"))
    rows = Instance.objects.filter(sop_uid=sop_uid, storage_key=key).annotate(
        marked=Exists(unflushed), journaled=Exists(unflushed.filter(content__isnull=False))
    )
    while True:
        with contextlib.suppress(DatabaseError):
            connection.close()
        try:
            row = rows.values_list("pk", "series_id", "sha256", "marked", "journaled").first()
            break
        except (OperationalError, InterfaceError):
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)
    if row is None:
        return None
    instance_id, series_id, sha256, marked, journaled = row
    flush_error = fast_path.flush_now(key) if marked and not journaled else None
    return Indexed(instance_id, series_id, sha256, True, marked=marked, journaled=journaled, flush_error=flush_error)


@transaction.atomic
def unindex_instance(instance_id: int) -> None:
    """Take an instance out of the index, with its counts."""
    place = (
        Instance.objects.filter(pk=instance_id)
        .values_list("series_id", "series__study_id", "has_pixels", "size_bytes")
        .first()
    )
    if place is None:
        return
    series_id, study_id, has_pixels, size = place
    _add_to_counts(series_id, study_id, -1, -int(has_pixels), -size)
    Instance.objects.filter(pk=instance_id).delete()  # its UnflushedFile row, renders and report with it


def _find_series(series_uid: str) -> SeriesPlace | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT se.id, se.study_id, p.patient_id, p.hospital_id FROM imaging_series se "
            "JOIN imaging_study st ON st.id = se.study_id JOIN imaging_patientrecord p ON p.id = st.patient_id "
            "WHERE se.series_uid = %s",
            [series_uid],
        )
        row = cursor.fetchone()
    return SeriesPlace(*row) if row else None


def _create_series(header: InstanceHeader, hospital: Hospital) -> tuple[SeriesPlace, bool]:
    """The first image of a series: patient record, study and series by the ORM."""
    patient = _upsert_patient(header, hospital)
    study, _ = Study.objects.get_or_create(
        study_uid=header.study_uid, defaults={"patient": patient, "hospital": hospital, **header.study}
    )
    if study.patient_id != patient.pk:
        raise held_for_another_patient("study", header.study_uid)
    series, created = Series.objects.get_or_create(
        series_uid=header.series_uid, defaults={"study": study, **header.series}
    )
    if series.study_id != study.pk:
        raise Rejected(RejectionKind.PATIENT_MISMATCH, f"series {header.series_uid} belongs to another study")
    if created:
        transaction.on_commit(lambda: series_created.send(sender=Series, patient_record_id=patient.pk))
    return SeriesPlace(series.pk, study.pk, patient.patient_id, hospital.pk), created


_INSTANCE_FIELDS = [f for f in Instance._meta.concrete_fields if not f.primary_key]


def _insert_instance(series_id: int, received: Received) -> int | None:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id: the new pk, or None if the SOP UID is known."""
    values = received.instance_values(series_id)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(f.column)) for f in _INSTANCE_FIELDS)
    placeholders = ", ".join(["%s"] * len(_INSTANCE_FIELDS))
    params = [f.get_db_prep_save(values[f.attname], connection) for f in _INSTANCE_FIELDS]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO imaging_instance ({columns}) VALUES ({placeholders}) "  # noqa: S608 - names from the model
            "ON CONFLICT DO NOTHING RETURNING id",
            params,
        )
        row = cursor.fetchone()
    return int(row[0]) if row else None


def _upsert_patient(header: InstanceHeader, hospital: Hospital) -> PatientRecord:
    patient, created = PatientRecord.objects.get_or_create(
        hospital=hospital, patient_id=header.patient_id, defaults=header.patient
    )
    if not created:
        missing = {name: value for name, value in header.patient.items() if value and not getattr(patient, name)}
        if missing:
            PatientRecord.objects.filter(pk=patient.pk).update(**missing)
    return patient


def _count_new_instance(place: SeriesPlace, series_created: bool, header: InstanceHeader, size: int) -> None:
    if series_created:
        locked = Study.objects.select_for_update().only("modalities", "body_parts").get(pk=place.study_id)
        Study.objects.filter(pk=place.study_id).update(
            number_of_series=F("number_of_series") + 1,
            modalities=_merge(locked.modalities, header.series["modality"], 64),
            body_parts=_merge(locked.body_parts, header.series["body_part"], 200),
        )
    _add_to_counts(place.series_id, place.study_id, 1, int(bool(header.instance.get("has_pixels"))), size)


def _add_to_counts(series_id: int, study_id: int, instances: int, images: int, size: int) -> None:
    """Series row, then study row: the order every writer locks them in."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE imaging_series SET number_of_instances = number_of_instances + %s WHERE id = %s",
            [instances, series_id],
        )
        cursor.execute(
            "UPDATE imaging_study SET number_of_instances = number_of_instances + %s, "
            "number_of_images = number_of_images + %s, size_bytes = size_bytes + %s, updated_at = %s WHERE id = %s",
            [instances, images, size, timezone.now(), study_id],
        )


def _merge(existing: str, value: str, max_length: int) -> str:
    values = [v for v in existing.split("\\") if v]
    if value and value not in values:
        values.append(value)
    return "\\".join(values)[:max_length]


def _attach_report(dataset: Dataset, header: InstanceHeader, study_id: int, instance_id: int) -> None:
    if header.is_pdf:
        title = str(dataset.get("DocumentTitle", "") or "")[:200]
        Report.objects.create(study_id=study_id, kind=ReportKind.PDF, instance_id=instance_id, title=title)
    else:
        title, text = structured_report_text(dataset)
        Report.objects.create(
            study_id=study_id, kind=ReportKind.STRUCTURED, instance_id=instance_id, title=title, text=text
        )
    Study.objects.filter(pk=study_id).update(has_report=True)
