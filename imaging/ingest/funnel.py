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
6. after commit, announce the new instance (`instance_stored`) so that its
   renders are scheduled (a new series is announced by `series_created`, which
   accounts hears for the phone numbers its header suggests).

Step 1 and 2 are `parse`; steps 4 and 5 go through `index.index`, the one
seam in front of the two index paths, carrying one `Received`.

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
import logging
import mmap
from collections.abc import Iterator
from pathlib import Path

import psycopg
from django.conf import settings
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

from imaging.ingest.fast_path import can_overlap, commits_durably
from imaging.ingest.index import committed_row, index
from imaging.ingest.outcomes import (
    IngestOutcome,
    IngestResult,
    IngestUnavailable,
    Rejected,
    RejectionKind,
    flush_failed,
)
from imaging.ingest.parse import parse, sha256_of
from imaging.ingest.received import FlushLedger, Indexed, Received
from imaging.ingest.signals import instance_stored
from imaging.models import Hospital, IngestConflict, Instance
from imaging.storage import Content, write_once

logger = logging.getLogger(__name__)


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
        return _ingest(source, hospital, source_name=source_name, ledger=ledger, sha256=sha256, study_uid=study_uid)
    with _mapped(source) as received:
        return _ingest(received, hospital, source_name=source_name, ledger=ledger, sha256=sha256, study_uid=study_uid)


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
    *,
    source_name: str,
    ledger: FlushLedger | None,
    sha256: str | None,
    study_uid: str | None,
) -> IngestResult:
    """Parse, check the addressed study, hash if the caller did not, then store."""
    try:
        dataset, content, header = parse(received)
    except Rejected as rejected:
        return IngestResult(IngestOutcome.REJECTED, reason=rejected.reason, rejection=rejected.kind)
    if study_uid is not None and header.study_uid != study_uid:
        reason = f"the object belongs to study {header.study_uid}, not to the addressed study {study_uid}"
        return IngestResult.of(header, IngestOutcome.REJECTED, reason=reason, rejection=RejectionKind.STUDY_MISMATCH)
    if sha256 is None or content is not received:
        sha256 = sha256_of(content)
    try:
        return _store_new(Received(content, dataset, header, sha256, hospital, source_name, ledger))
    except Rejected as rejected:
        return IngestResult.of(header, IngestOutcome.REJECTED, reason=rejected.reason, rejection=rejected.kind)


def _store_new(received: Received) -> IngestResult:
    """Write the file, then the index rows: nothing in the index names a file that is not durable,
    unless an `UnflushedFile` row says that its flush was still running, or holds its bytes
    (`imaging.listener.flushing`)."""
    key, ledger = received.key, received.ledger
    _connect()  # before the file: a database that refuses us leaves nothing behind
    overlap = ledger is not None and can_overlap(received.header)
    wrote = _write_file(key, received.content, flush=not overlap)
    try:
        journal = overlap and wrote and received.size <= settings.DICOM_JOURNAL_MAX_BYTES and commits_durably()
        indexed = index(
            received,
            flush_meanwhile=overlap and wrote and not journal,
            journal=bytes(received.content) if journal else None,
        )
    except BaseException as error:  # noqa: BLE001 - raised again below unless the write committed after all
        indexed = _after_index_failure(error, received.header.sop_uid, key, wrote)
    if indexed.flush_error is not None:  # the row stays, marked, for a re-send or start-up to settle
        raise flush_failed(indexed.flush_error)
    if ledger is not None and indexed.journaled:
        ledger.flush_later(indexed.instance_id, key)
    elif ledger is not None and (indexed.marked or (not indexed.created and indexed.sha256 == received.sha256)):
        ledger.flushed(indexed.instance_id)  # its file is durable now, whoever wrote it
    if not indexed.created:
        if wrote and indexed.sha256 != received.sha256:
            default_storage.delete(key)
        return _compare_with_stored(indexed, received)
    transaction.on_commit(
        lambda: instance_stored.send(sender=Instance, instance_id=indexed.instance_id, series_id=indexed.series_id)
    )
    return IngestResult.of(received.header, IngestOutcome.STORED, instance_id=indexed.instance_id)


def _compare_with_stored(stored: Indexed, received: Received) -> IngestResult:
    """The same bytes: a duplicate. Different bytes under the SOPInstanceUID: a conflict, recorded."""
    header = received.header
    if stored.sha256 == received.sha256:
        return IngestResult.of(header, IngestOutcome.DUPLICATE, instance_id=stored.instance_id)
    reason = "different bytes under a SOPInstanceUID the index holds; the stored copy is kept"
    try:
        IngestConflict.objects.create(
            sop_uid=header.sop_uid,
            hospital=received.hospital,
            instance_id=stored.instance_id,
            received_sha256=received.sha256,
            received_size=received.size,
            source=received.source_name[:255],
            reason=reason,
        )
    except DatabaseError as error:
        raise IngestUnavailable(f"the index database is unavailable: {error}") from error
    logger.warning("ingest conflict for %s from %s (%s)", header.sop_uid, received.hospital.code, received.source_name)
    return IngestResult.of(header, IngestOutcome.CONFLICT, instance_id=stored.instance_id, reason=reason)


def _after_index_failure(error: BaseException, sop_uid: str, key: str, wrote: bool) -> Indexed:
    """What a failed index write leaves: its row, if it committed after all; otherwise the exception to
    raise, with the file this call wrote removed unless a row may name it."""
    if _may_have_committed(error):
        try:
            committed = committed_row(sop_uid, key)
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
        raise Rejected(RejectionKind.INVALID, f"the index refused a header value: {error}") from error
    if isinstance(error, DatabaseError):  # the database's (down, or a lost connection): the sender retries
        raise IngestUnavailable(f"the index database is unavailable: {error}") from error
    raise error


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
