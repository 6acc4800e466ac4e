"""The one way a DICOM object enters the regional index.

Every entry point (file import, C-STORE, STOW-RS) calls `ingest_instance`:

1. parse the bytes with pydicom and reject what is not a whole DICOM object;
2. validate its identity (UIDs, PatientID) before any of it names a path;
3. write the file to storage atomically under a key that names its content
   (nothing is written when that key holds the same content already); on a
   local filesystem the listener flushes it while step 4 runs
   (`imaging.listener.flushing`), an object store's PUT is durable already;
4. upsert patient record, study, series and instance in one transaction;
5. compare with what the index held: identical bytes change nothing, different
   bytes under a known SOPInstanceUID are recorded as a conflict and the file
   this call wrote is removed again (the stored copy is never touched: its key
   names other content);
6. after commit, announce the new instance (`instance_stored`) so that renders
   and phone links are scheduled.

A failure after step 3 removes the file this call wrote, so nothing half-written
stays behind. When the connection to the database was lost with no word from
the server while the index write ran, that write may have committed all the
same (the server went down between its commit's flush and its answer): ingest
then waits for the database to answer again and asks it. A write that
committed is a store like any other; one that did not is refused (the sender
retries); and if the database stays away, the file is kept, for the row that
may name it, and a re-send adopts it.
"""

import contextlib
import functools
import hashlib
import io
import logging
import mmap
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

import psycopg
import pydicom
from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    transaction,
)
from django.db import models as db_models
from django.db.models import Exists, F, OuterRef
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.tag import Tag
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from imaging.dicom import (
    IdentityMismatch,
    InstanceHeader,
    InvalidHeader,
    RawHeader,
    read_header,
    read_raw_header,
    structured_report_text,
)
from imaging.ingest.prepared import run_prepared
from imaging.models import (
    Hospital,
    IngestConflict,
    Instance,
    PatientRecord,
    Report,
    ReportKind,
    Series,
    Study,
    UnflushedFile,
)
from imaging.storage import Content, chunks_of, dicom_key, flush, flushes_later, write_once

logger = logging.getLogger(__name__)

# Sent after the index transaction commits, with `instance_id` and `series_id`.
instance_stored = Signal()
# Sent after the transaction that created a series commits, with `patient_record_id`.
series_created = Signal()

UNDEFINED_LENGTH = 0xFFFFFFFF
# How long a store whose index write was cut off waits for the database to say whether it committed.
IN_DOUBT_SECONDS = 10.0
# Values larger than this are left in a mapped file by pydicom until asked for.
DEFER_SIZE = 64 * 1024
# (FFFE,E000) and (FFFE,E0DD) read as little-endian 32-bit words (PS3.5 7.5).
ITEM, SEQUENCE_DELIMITER = 0xE000FFFE, 0xE0DDFFFE


class IngestOutcome(db_models.TextChoices):
    STORED = "stored", _("stored")
    DUPLICATE = "duplicate", _("already present")
    CONFLICT = "conflict", _("conflict")
    REJECTED = "rejected", _("rejected")


class RejectionKind(db_models.TextChoices):
    UNREADABLE = "unreadable", _("cannot be decoded")
    INVALID = "invalid", _("invalid identity")
    SOP_CLASS_MISMATCH = "sop_class_mismatch", _("dataset does not match its SOP class or instance")
    PATIENT_MISMATCH = "patient_mismatch", _("belongs to another patient")
    STUDY_MISMATCH = "study_mismatch", _("belongs to another study than the one addressed")


class IngestUnavailable(Exception):
    """Storage or database cannot take the object now; the sender should retry."""


@dataclass(frozen=True)
class IngestResult:
    outcome: IngestOutcome
    sop_uid: str = ""
    study_uid: str = ""
    series_uid: str = ""
    sop_class_uid: str = ""
    instance_id: int | None = None
    reason: str = ""
    rejection: RejectionKind | None = None

    @property
    def ok(self) -> bool:
        return self.outcome in (IngestOutcome.STORED, IngestOutcome.DUPLICATE)


class FlushLedger(Protocol):
    """Told of each instance whose file is flushed, or is left to it to flush, so that its
    `UnflushedFile` row goes once the file is durable (`imaging.listener.flushing`)."""

    def flushed(self, instance_id: int) -> None: ...

    def flush_later(self, instance_id: int, key: str) -> None: ...


class _Rejected(Exception):
    def __init__(self, kind: RejectionKind, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def ingest_instance(
    source: bytes | Path,
    hospital: Hospital,
    *,
    source_name: str = "",
    ledger: FlushLedger | None = None,
    sha256: str | None = None,
    study_uid: str | None = None,
) -> IngestResult:
    """Take one DICOM object from `hospital` into the index (the steps are above).

    A `source` path is mapped into memory, not read: a large object's pages
    come and go with the page cache instead of sitting in the process's heap.
    With a `ledger`, the file is flushed while the index statement runs, or
    later with its bytes in the index, where that can be done
    (`imaging.listener.flushing`). `sha256` is the hex SHA-256 of `source`'s bytes when
    the caller has it (the listener hashes a C-STORE as it arrives). With
    `study_uid` (STOW-RS to `/studies/{uid}`, PS3.18 10.5.1), an object of
    another study is rejected before anything is written.

    Raises IngestUnavailable when storage or the database fails; every other
    problem with the object comes back as a REJECTED result with a reason.
    """
    if isinstance(source, bytes):
        return _ingest(source, hospital, source_name, ledger, sha256, study_uid)
    with _mapped(source) as received:
        return _ingest(received, hospital, source_name, ledger, sha256, study_uid)


@contextlib.contextmanager
def _mapped(path: Path) -> Iterator[Content]:
    with path.open("rb") as file:
        if path.stat().st_size == 0:
            yield b""
            return
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            yield mapped


def _ingest(
    received: Content,
    hospital: Hospital,
    source_name: str,
    ledger: FlushLedger | None,
    sha256: str | None,
    study_uid: str | None,
) -> IngestResult:
    try:
        dataset, content, header = _parse_and_read_header(received)
    except _Rejected as rejected:
        return IngestResult(IngestOutcome.REJECTED, reason=rejected.reason, rejection=rejected.kind)
    if study_uid is not None and header.study_uid != study_uid:
        reason = f"the object belongs to study {header.study_uid}, not to the addressed study {study_uid}"
        return _result(header, IngestOutcome.REJECTED, reason=reason, rejection=RejectionKind.STUDY_MISMATCH)
    if sha256 is None or content is not received:
        sha256 = _sha256(content)
    try:
        return _store_new(content, dataset, header, sha256, hospital, source_name, ledger)
    except _Rejected as rejected:
        return _result(header, IngestOutcome.REJECTED, reason=rejected.reason, rejection=rejected.kind)


def _sha256(content: Content) -> str:
    if isinstance(content, bytes):
        return hashlib.sha256(content).hexdigest()
    digest = hashlib.sha256()
    for _offset, chunk in chunks_of(content):  # a mapped file's pages leave the resident set as it goes
        digest.update(chunk)
    return digest.hexdigest()


def _parse_and_read_header(received: Content) -> tuple[Dataset | None, Content, InstanceHeader]:
    """The dataset (None when read from the raw bytes), the Part 10 bytes to store, and the header.

    The plain case is read from the bytes (`raw_header`); pydicom reads the rest,
    and a refused object is read again by pydicom, so refusals say what pydicom says.
    """
    raw = read_raw_header(received)
    if raw is not None:
        with contextlib.suppress(_Rejected):
            return None, received, _read_header(raw)
    dataset, content = _parse(received)
    return dataset, content, _read_header(dataset)


def _parse(content: Content) -> tuple[Dataset, Content]:
    """The dataset, and the Part 10 bytes to store (a bare dataset gets a file meta).

    A mapped file is read in place, its large values left there (`DEFER_SIZE`).
    """
    if not content:
        raise _Rejected(RejectionKind.UNREADABLE, "the file is empty")
    try:
        dataset = _dcmread(content)
    except InvalidDicomError:
        return _parse_bare_dataset(content)
    except Exception as error:  # noqa: BLE001 - any parser failure is the file's fault
        raise _Rejected(RejectionKind.UNREADABLE, f"cannot be parsed: {error}") from None
    if dataset.file_meta.get("TransferSyntaxUID") != DeflatedExplicitVRLittleEndian:
        # Offsets in a deflated file are offsets in the inflated stream; zlib
        # itself refuses a truncated deflated file.
        _check_not_truncated(dataset, content)
    return dataset, content


def _dcmread(content: Content, force: bool = False) -> Dataset:
    if isinstance(content, bytes):
        return pydicom.dcmread(io.BytesIO(content), force=force)
    content.seek(0)
    # A mapped file is a file pydicom can read (read, seek, tell); typeshed's seek returns None.
    return pydicom.dcmread(cast(BinaryIO, content), force=force, defer_size=DEFER_SIZE)


def _parse_bare_dataset(content: Content) -> tuple[Dataset, bytes]:
    """A dataset without preamble and file meta (ACR-NEMA style, or a C-STORE dump)."""
    not_dicom = _Rejected(RejectionKind.UNREADABLE, "not a DICOM file (no DICM preamble, and no dataset either)")
    try:
        dataset = _dcmread(content, force=True)
        if "SOPInstanceUID" not in dataset or "SOPClassUID" not in dataset:
            raise not_dicom
    except _Rejected:
        raise
    except Exception:  # noqa: BLE001 - text read as a dataset fails in many ways
        raise not_dicom from None
    _check_not_truncated(dataset, content)
    _read_header(dataset)
    if dataset.is_implicit_VR:
        syntax = ImplicitVRLittleEndian
    else:
        syntax = ExplicitVRLittleEndian if dataset.is_little_endian else ExplicitVRBigEndian
    try:
        return dataset, part10_bytes(dataset, syntax)
    except Exception as error:  # noqa: BLE001 - whatever stops re-encoding is the file's fault
        raise _Rejected(RejectionKind.UNREADABLE, f"the dataset cannot be written as a DICOM file: {error}") from None


def part10_bytes(dataset: Dataset, transfer_syntax: str) -> bytes:
    """`dataset` as a DICOM Part 10 file: preamble, file meta, then the dataset as encoded."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    meta.TransferSyntaxUID = UID(transfer_syntax)
    dataset.file_meta = meta
    out = io.BytesIO()
    dataset.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _check_not_truncated(dataset: Dataset, content: Content) -> None:
    """pydicom reads a cut-off file without complaint: compare declared lengths."""
    size = len(content)
    for element in dataset._dict.values():
        length = getattr(element, "length", UNDEFINED_LENGTH)
        value_tell = getattr(element, "value_tell", None)
        if length == UNDEFINED_LENGTH or value_tell is None:
            continue
        if value_tell + length > size:
            raise _Rejected(
                RejectionKind.UNREADABLE,
                f"the file is truncated: element {element.tag} needs {length} bytes at offset {value_tell}, "
                f"the file has {size}",
            )
    pixel_data = dataset._dict.get(Tag(0x7FE00010))
    if pixel_data is not None and getattr(pixel_data, "length", 0) == UNDEFINED_LENGTH:
        value_tell = getattr(pixel_data, "value_tell", None)
        if pixel_data.value is None and value_tell is not None and isinstance(content, mmap.mmap):
            _check_encapsulated(content, value_tell)  # deferred by pydicom: walked where it lies
        else:
            _check_encapsulated(pixel_data.value or b"")


def _check_encapsulated(data: Content, offset: int = 0) -> None:
    """Encapsulated pixel data (PS3.5 A.4) must parse into whole items, up to its end or its delimiter."""
    try:
        while offset < len(data):
            tag = int.from_bytes(data[offset : offset + 4], "little")
            length = int.from_bytes(data[offset + 4 : offset + 8], "little")
            if tag == SEQUENCE_DELIMITER:
                return
            if tag != ITEM or offset + 8 + length > len(data):
                raise ValueError
            offset += 8 + length
    except ValueError:
        raise _Rejected(RejectionKind.UNREADABLE, "the encapsulated pixel data is truncated or malformed") from None


def _read_header(dataset: Dataset | RawHeader) -> InstanceHeader:
    try:
        return read_header(dataset)
    except IdentityMismatch as error:
        raise _Rejected(RejectionKind.SOP_CLASS_MISMATCH, str(error)) from None
    except InvalidHeader as error:
        raise _Rejected(RejectionKind.INVALID, str(error)) from None
    except Exception as error:  # noqa: BLE001 - a garbled header is the file's fault
        raise _Rejected(RejectionKind.UNREADABLE, f"the header cannot be read: {error}") from None


def _result(header: InstanceHeader, outcome: IngestOutcome, **fields: Any) -> IngestResult:
    return IngestResult(
        outcome,
        sop_uid=header.sop_uid,
        study_uid=header.study_uid,
        series_uid=header.series_uid,
        sop_class_uid=header.sop_class_uid,
        **fields,
    )


def _compare_with_stored(
    known_pk: int,
    known_sha256: str,
    header: InstanceHeader,
    sha256: str,
    size: int,
    hospital: Hospital,
    source_name: str,
) -> IngestResult:
    if known_sha256 == sha256:
        return _result(header, IngestOutcome.DUPLICATE, instance_id=known_pk)
    reason = "different bytes under a SOPInstanceUID the index holds; the stored copy is kept"
    try:
        IngestConflict.objects.create(
            sop_uid=header.sop_uid,
            hospital=hospital,
            instance_id=known_pk,
            received_sha256=sha256,
            received_size=size,
            source=source_name[:255],
            reason=reason,
        )
    except DatabaseError as error:
        raise IngestUnavailable(f"the index database is unavailable: {error}") from error
    logger.warning("ingest conflict for %s from %s (%s)", header.sop_uid, hospital.code, source_name)
    return _result(header, IngestOutcome.CONFLICT, instance_id=known_pk, reason=reason)


def _store_new(
    content: Content,
    dataset: Dataset | None,
    header: InstanceHeader,
    sha256: str,
    hospital: Hospital,
    source_name: str,
    ledger: FlushLedger | None,
) -> IngestResult:
    """Write the file, then the index rows: nothing in the index names a file that is not durable,
    unless an `UnflushedFile` row says that its flush was still running, or holds its bytes
    (`imaging.listener.flushing`)."""
    key = dicom_key(header.study_uid, header.series_uid, header.sop_uid, sha256)
    _connect()  # before the file: a database that refuses us leaves nothing behind
    overlap = ledger is not None and _can_overlap(header)
    wrote = _write_file(key, content, flush=not overlap)
    try:
        journal = overlap and wrote and len(content) <= settings.DICOM_JOURNAL_MAX_BYTES and _commits_durably()
        indexed = _index(
            dataset,
            header,
            hospital,
            key,
            sha256,
            len(content),
            flush_meanwhile=overlap and wrote and not journal,
            journal=bytes(content) if journal else None,
        )
    except BaseException as error:  # noqa: BLE001 - raised again below unless the write committed after all
        indexed = _after_index_failure(error, header.sop_uid, key, wrote)
    if indexed.flush_error is not None:  # the row stays, marked, for a re-send or start-up to settle
        raise _flush_failed(indexed.flush_error)
    if ledger is not None and indexed.journaled:
        ledger.flush_later(indexed.instance_id, key)
    elif ledger is not None and (indexed.marked or (not indexed.created and indexed.sha256 == sha256)):
        ledger.flushed(indexed.instance_id)  # its file is durable now, whoever wrote it
    if not indexed.created:
        if wrote and indexed.sha256 != sha256:
            default_storage.delete(key)
        return _compare_with_stored(
            indexed.instance_id, indexed.sha256, header, sha256, len(content), hospital, source_name
        )
    transaction.on_commit(
        lambda: instance_stored.send(sender=Instance, instance_id=indexed.instance_id, series_id=indexed.series_id)
    )
    return _result(header, IngestOutcome.STORED, instance_id=indexed.instance_id)


def _after_index_failure(error: BaseException, sop_uid: str, key: str, wrote: bool) -> "_Indexed":
    """What a failed index write leaves: its row, if it committed after all; otherwise the exception to
    raise, with the file this call wrote removed unless a row may name it."""
    if _may_have_committed(error):
        try:
            committed = _committed_row(sop_uid, key)
        except (OperationalError, InterfaceError):
            raise IngestUnavailable(
                f"the index database went away during the write and is not back to say whether it took it: {error}"
            ) from error
        if committed is not None:
            logger.warning("the index write of %s committed although its answer was lost: %s", sop_uid, error)
            return committed
    if wrote:
        default_storage.delete(key)
    if isinstance(error, DataError | IntegrityError | ValueError):  # the object's fault: the sender must not retry
        raise _Rejected(RejectionKind.INVALID, f"the index refused a header value: {error}") from error
    if isinstance(error, DatabaseError):  # the database's (down, or a lost connection): the sender retries
        raise IngestUnavailable(f"the index database is unavailable: {error}") from error
    raise error


def _committed_row(sop_uid: str, key: str) -> "_Indexed | None":
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
    flush_error = _flush_now(key) if marked and not journaled else None
    return _Indexed(instance_id, series_id, sha256, True, marked=marked, journaled=journaled, flush_error=flush_error)


def _connect() -> None:
    try:
        connection.ensure_connection()
    except (OperationalError, InterfaceError) as error:
        raise IngestUnavailable(f"the index database is unavailable: {error}") from error


def _may_have_committed(error: BaseException) -> bool:
    """Whether the index write that raised `error` may have committed all the same.

    So it may when psycopg lost the connection without the server saying why
    (no SQLSTATE): a server killed between its commit's WAL flush and its
    answer. One that reports an error (a shutdown's 57P01 included) rolled back.
    """
    cause = error.__cause__
    return isinstance(error, OperationalError) and isinstance(cause, psycopg.OperationalError) and not cause.sqlstate


def _write_file(key: str, content: Content, flush: bool) -> bool:
    """Write `content` under `key`; False when the same content is there already."""
    try:
        return write_once(key, content, flush)
    except OSError as error:
        # The sender reads this (an Error Comment of 64 characters): the cause, not our paths.
        raise IngestUnavailable(f"storage cannot take the file: {error.strerror or error}") from error


_durable_commits: "weakref.WeakKeyDictionary[object, bool]" = weakref.WeakKeyDictionary()


def _commits_durably() -> bool:
    """Whether this connection's commits wait for their WAL flush (`synchronous_commit` is not off):
    a small object's bytes rely on it. Asked once per connection."""
    connection.ensure_connection()
    raw = connection.connection
    known = _durable_commits.get(raw)
    if known is None:
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            row = cursor.fetchone()
        known = row is not None and row[0] != "off"
        _durable_commits[raw] = known
    return known


def _can_overlap(header: InstanceHeader) -> bool:
    """The one statement, on PostgreSQL, over a local filesystem: the kind of store whose flushes overlap."""
    return connection.vendor == "postgresql" and not (header.is_pdf or header.is_structured_report) and flushes_later()


@dataclass(frozen=True)
class _Indexed:
    instance_id: int
    series_id: int
    sha256: str  # what the index holds for the SOPInstanceUID
    created: bool
    marked: bool = False  # an UnflushedFile row was inserted with it
    journaled: bool = False  # ... holding the file's bytes: the file is not flushed yet
    flush_error: BaseException | None = None  # the flush run while the row was inserted failed


@dataclass(frozen=True)
class _SeriesPlace:
    series_id: int
    study_id: int
    patient_id: str
    hospital_id: int


def _index(
    dataset: Dataset | None,
    header: InstanceHeader,
    hospital: Hospital,
    key: str,
    sha256: str,
    size: int,
    flush_meanwhile: bool = False,
    journal: bytes | None = None,
) -> _Indexed:
    """Upsert patient record, study, series and instance; count what is new.

    Returns the instance's pk, the SHA-256 the index holds for it, and whether
    this call created it. The common case (another image of a series the index
    knows) is one statement on PostgreSQL and five on SQLite, in plain SQL: the
    ORM costs ~0.4 ms a statement on these machines, more than the database.
    With `flush_meanwhile`, the file under `key` is flushed while the one
    statement runs, and the row it creates is marked unflushed; a new series
    waits for that flush before its transaction. With `journal` (the file's
    bytes), the one statement stores them in the row's mark instead, and the
    file is flushed later (or now, when no mark is made).
    """
    if connection.vendor == "postgresql" and not (header.is_pdf or header.is_structured_report):
        indexed = _index_known_series_in_one_statement(header, hospital, key, sha256, size, flush_meanwhile, journal)
        if indexed is not None:
            return indexed
    return _index_in_a_transaction(dataset, header, hospital, key, sha256, size)


@transaction.atomic
def _index_in_a_transaction(
    dataset: Dataset | None, header: InstanceHeader, hospital: Hospital, key: str, sha256: str, size: int
) -> _Indexed:
    place = _find_series(header.series_uid)
    series_created = False
    if place is None:
        place, series_created = _create_series(header, hospital)
    if place.hospital_id != hospital.pk or place.patient_id != header.patient_id:
        raise _Rejected(
            RejectionKind.PATIENT_MISMATCH,
            f"series {header.series_uid} is held for another patient record; the object was refused",
        )
    instance_id = _insert_instance(place.series_id, header, key, sha256, size)
    if instance_id is None:
        return _existing(header.sop_uid)
    _count_new_instance(place, series_created, header, size)
    if header.is_pdf or header.is_structured_report:
        assert dataset is not None, "reports are read by pydicom (raw_header declines them)"
        _attach_report(dataset, header, place.study_id, instance_id)
    return _Indexed(instance_id, place.series_id, sha256, True)


_ONE_STATEMENT = """
WITH place AS (
    SELECT se.id AS series_id, p.patient_id, p.hospital_id
    FROM imaging_series se
    JOIN imaging_study st ON st.id = se.study_id
    JOIN imaging_patientrecord p ON p.id = st.patient_id
    WHERE se.series_uid = %s
), new AS (
    INSERT INTO imaging_instance ({columns}, series_id)
    SELECT {placeholders}, place.series_id FROM place WHERE place.patient_id = %s AND place.hospital_id = %s
    ON CONFLICT DO NOTHING
    RETURNING id, series_id
){unflushed}, counted_series AS (
    UPDATE imaging_series SET number_of_instances = number_of_instances + 1
    WHERE id IN (SELECT series_id FROM new)
    RETURNING study_id
), counted_study AS (
    -- Reads counted_series, so runs after it: every writer (this one and the
    -- transaction path) locks the series row, then the study row. Unchained,
    -- PostgreSQL runs the two updates in an order of its own, and two listener
    -- processes deadlocked on them.
    UPDATE imaging_study SET number_of_instances = number_of_instances + 1, size_bytes = size_bytes + %s,
        updated_at = %s
    WHERE id IN (SELECT study_id FROM counted_series)
)
SELECT (SELECT series_id FROM place), (SELECT patient_id FROM place), (SELECT hospital_id FROM place),
       (SELECT id FROM new)
"""

_UNFLUSHED = """, unflushed AS (
    INSERT INTO imaging_unflushedfile (instance_id, content) SELECT id, {content} FROM new
)"""

_ONE_STATEMENT_FIELDS = [f for f in Instance._meta.concrete_fields if not f.primary_key and f.attname != "series_id"]


@functools.cache
def _one_statement_sql(unflushed: bool, journaled: bool) -> str:
    quote = connection.ops.quote_name
    return _ONE_STATEMENT.format(
        columns=", ".join(quote(str(f.column)) for f in _ONE_STATEMENT_FIELDS),
        placeholders=", ".join(["%s"] * len(_ONE_STATEMENT_FIELDS)),
        unflushed=_UNFLUSHED.format(content="%s" if journaled else "NULL") if unflushed or journaled else "",
    )


def _index_known_series_in_one_statement(
    header: InstanceHeader,
    hospital: Hospital,
    key: str,
    sha256: str,
    size: int,
    flush_meanwhile: bool = False,
    journal: bytes | None = None,
) -> _Indexed | None:
    """PostgreSQL: find the series, insert the instance and count it, in one round trip.

    None when the series is new to the index: the transaction path creates it
    (the file flushed by then, if `flush_meanwhile`). The statement is prepared
    on the server: its planning costs more than its execution. With
    `flush_meanwhile` it flushes the file under `key` while the server runs the
    statement, which then also inserts the row's `UnflushedFile` row; with
    `journal`, that row holds the file's bytes, and its commit's flush makes
    them durable with the row. (Psycopg's
    pipeline, committing after the flush, was tried first: its second round
    trip cost more than the overlap saved, ~0.2 ms an image.)
    """
    values = _instance_values(0, header, key, sha256, size)
    params = [
        header.series_uid,
        *(values[f.attname] for f in _ONE_STATEMENT_FIELDS),  # str, int, float, bool, date, time: as they are
        header.patient_id,
        hospital.pk,
        *([] if journal is None else [journal]),
        size,
        timezone.now(),
    ]
    connection.ensure_connection()
    with connection.wrap_database_errors:
        row, flush_error = run_prepared(
            connection.connection,
            _one_statement_sql(flush_meanwhile, journal is not None),
            params,
            meanwhile=(lambda: flush(key)) if flush_meanwhile else None,
        )
    assert row is not None, "the statement's SELECT always returns one row"
    series_id, instance_id = (None if value is None else int(value) for value in (row[0], row[3]))
    patient_id = None if row[1] is None else row[1].decode()
    hospital_id = None if row[2] is None else int(row[2])
    if series_id is None:
        if journal is not None:  # the transaction path keeps no mark: the file is made durable first
            flush_error = _flush_now(key)
        if flush_error is not None:
            raise _flush_failed(flush_error)
        return None
    if patient_id != header.patient_id or hospital_id != hospital.pk:
        raise _Rejected(
            RejectionKind.PATIENT_MISMATCH,
            f"series {header.series_uid} is held for another patient record; the object was refused",
        )
    if instance_id is None:
        existing = _existing(header.sop_uid)
        if journal is not None and existing.sha256 == sha256:  # a lost file sent again: kept, so flushed now
            flush_error = _flush_now(key)
        return existing if flush_error is None else replace(existing, flush_error=flush_error)
    marked = flush_meanwhile or journal is not None
    return _Indexed(
        instance_id, series_id, sha256, True, marked=marked, journaled=journal is not None, flush_error=flush_error
    )


def _flush_now(key: str) -> OSError | None:
    try:
        flush(key)
    except OSError as error:
        return error
    return None


def _flush_failed(error: BaseException) -> BaseException:
    """What to raise for a flush that failed: the sender retries; anything but an OSError is a bug, raised as it is."""
    if not isinstance(error, OSError):
        return error
    failure = IngestUnavailable(f"storage cannot flush the file: {error}")
    failure.__cause__ = error
    return failure


@transaction.atomic
def unindex_instance(instance_id: int) -> None:
    """Take an instance out of the index, with its counts."""
    place = Instance.objects.filter(pk=instance_id).values_list("series_id", "series__study_id", "size_bytes").first()
    if place is None:
        return
    series_id, study_id, size = place
    _add_to_counts(series_id, study_id, -1, -size)
    Instance.objects.filter(pk=instance_id).delete()  # its UnflushedFile row, renders and report with it


def _existing(sop_uid: str) -> _Indexed:
    instance_id, series_id, sha256 = Instance.objects.values_list("pk", "series_id", "sha256").get(sop_uid=sop_uid)
    return _Indexed(instance_id, series_id, sha256, False)


def _find_series(series_uid: str) -> _SeriesPlace | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT se.id, se.study_id, p.patient_id, p.hospital_id FROM imaging_series se "
            "JOIN imaging_study st ON st.id = se.study_id JOIN imaging_patientrecord p ON p.id = st.patient_id "
            "WHERE se.series_uid = %s",
            [series_uid],
        )
        row = cursor.fetchone()
    return _SeriesPlace(*row) if row else None


def _create_series(header: InstanceHeader, hospital: Hospital) -> tuple[_SeriesPlace, bool]:
    """The first image of a series: patient record, study and series by the ORM."""
    patient = _upsert_patient(header, hospital)
    study, _ = Study.objects.get_or_create(
        study_uid=header.study_uid, defaults={"patient": patient, "hospital": hospital, **header.study}
    )
    if study.patient_id != patient.pk:
        raise _Rejected(
            RejectionKind.PATIENT_MISMATCH,
            f"study {header.study_uid} is held for another patient record; the object was refused",
        )
    series, created = Series.objects.get_or_create(
        series_uid=header.series_uid, defaults={"study": study, **header.series}
    )
    if series.study_id != study.pk:
        raise _Rejected(RejectionKind.PATIENT_MISMATCH, f"series {header.series_uid} belongs to another study")
    if created:
        transaction.on_commit(lambda: series_created.send(sender=Series, patient_record_id=patient.pk))
    return _SeriesPlace(series.pk, study.pk, patient.patient_id, hospital.pk), created


_INSTANCE_FIELDS = [f for f in Instance._meta.concrete_fields if not f.primary_key]


def _insert_instance(series_id: int, header: InstanceHeader, key: str, sha256: str, size: int) -> int | None:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id: the new pk, or None if the SOP UID is known."""
    values = _instance_values(series_id, header, key, sha256, size)
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


def _instance_values(series_id: int, header: InstanceHeader, key: str, sha256: str, size: int) -> dict[str, Any]:
    return {
        "sop_uid": header.sop_uid,
        "series_id": series_id,
        "sop_class_uid": header.sop_class_uid,
        "transfer_syntax_uid": header.transfer_syntax_uid,
        "storage_key": key,
        "size_bytes": size,
        "sha256": sha256,
        "received_at": timezone.now(),
        "render_error": "",
        **header.instance,
    }


def _upsert_patient(header: InstanceHeader, hospital: Hospital) -> PatientRecord:
    patient, created = PatientRecord.objects.get_or_create(
        hospital=hospital, patient_id=header.patient_id, defaults=header.patient
    )
    if not created:
        missing = {name: value for name, value in header.patient.items() if value and not getattr(patient, name)}
        if missing:
            PatientRecord.objects.filter(pk=patient.pk).update(**missing)
    return patient


def _count_new_instance(place: _SeriesPlace, series_created: bool, header: InstanceHeader, size: int) -> None:
    if series_created:
        locked = Study.objects.select_for_update().only("modalities", "body_parts").get(pk=place.study_id)
        Study.objects.filter(pk=place.study_id).update(
            number_of_series=F("number_of_series") + 1,
            modalities=_merge(locked.modalities, header.series["modality"], 64),
            body_parts=_merge(locked.body_parts, header.series["body_part"], 200),
        )
    _add_to_counts(place.series_id, place.study_id, 1, size)


def _add_to_counts(series_id: int, study_id: int, instances: int, size: int) -> None:
    """Series row, then study row: the order every writer locks them in."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE imaging_series SET number_of_instances = number_of_instances + %s WHERE id = %s",
            [instances, series_id],
        )
        cursor.execute(
            "UPDATE imaging_study SET number_of_instances = number_of_instances + %s, "
            "size_bytes = size_bytes + %s, updated_at = %s WHERE id = %s",
            [instances, size, timezone.now(), study_id],
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


def open_instance(instance: Instance) -> File[bytes]:
    """The stored DICOM object of an index row, opened for reading."""
    return default_storage.open(instance.storage_key, "rb")
