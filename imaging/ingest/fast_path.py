"""PostgreSQL's fast path: an image of a series the index knows, indexed in one round trip.

One prepared statement (`prepared.run_prepared`) finds the series, inserts the
instance and counts it; with a `FlushLedger` (the listener's), the file is
flushed while the server runs it, or its bytes go into the index with the row
(`imaging.listener.flushing`). The statement is prepared on the server: its
planning costs more than its execution.
"""

import functools
import weakref
from dataclasses import replace

from django.db import connection
from django.utils import timezone

from imaging.dicom import InstanceHeader
from imaging.ingest.outcomes import flush_failed, held_for_another_patient
from imaging.ingest.prepared import run_prepared
from imaging.ingest.received import Indexed, Received
from imaging.models import Instance
from imaging.storage import flush, flushes_later


def applies_to(header: InstanceHeader) -> bool:
    """PostgreSQL, and not a report (a report's row goes with its `Report`, by the transaction path)."""
    return connection.vendor == "postgresql" and not (header.is_pdf or header.is_structured_report)


def can_overlap(header: InstanceHeader) -> bool:
    """The one statement, over a local filesystem: the kind of store whose flushes overlap."""
    return applies_to(header) and flushes_later()


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
    UPDATE imaging_study SET number_of_instances = number_of_instances + 1,
        number_of_images = number_of_images + %s, size_bytes = size_bytes + %s, updated_at = %s
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


def index_known_series(
    received: Received, flush_meanwhile: bool = False, journal: bytes | None = None
) -> Indexed | None:
    """Find the series, insert the instance and count it, in one round trip.

    None when the series is new to the index: the transaction path creates it
    (the file flushed by then, if `flush_meanwhile`). With `flush_meanwhile`
    it flushes the file while the server runs the statement, which then also
    inserts the row's `UnflushedFile` row; with `journal`, that row holds the
    file's bytes, and its commit's flush makes them durable with the row.
    (Psycopg's pipeline, committing after the flush, was tried first: its
    second round trip cost more than the overlap saved; docs/architecture.md.)
    """
    header, key = received.header, received.key
    values = received.instance_values(0)
    params = [
        header.series_uid,
        *(values[f.attname] for f in _ONE_STATEMENT_FIELDS),  # str, int, float, bool, date, time: as they are
        header.patient_id,
        received.hospital.pk,
        *([] if journal is None else [journal]),
        int(bool(values["has_pixels"])),
        received.size,
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
            flush_error = flush_now(key)
        if flush_error is not None:
            raise flush_failed(flush_error)
        return None
    if patient_id != header.patient_id or hospital_id != received.hospital.pk:
        raise held_for_another_patient("series", header.series_uid)
    if instance_id is None:
        existing = Indexed.existing(header.sop_uid)
        if journal is not None and existing.sha256 == received.sha256:  # a lost file sent again: kept, flushed now
            flush_error = flush_now(key)
        return existing if flush_error is None else replace(existing, flush_error=flush_error)
    marked = flush_meanwhile or journal is not None
    return Indexed(
        instance_id,
        series_id,
        received.sha256,
        True,
        marked=marked,
        journaled=journal is not None,
        flush_error=flush_error,
    )


def flush_now(key: str) -> OSError | None:
    try:
        flush(key)
    except OSError as error:
        return error
    return None


_durable_commits: "weakref.WeakKeyDictionary[object, bool]" = weakref.WeakKeyDictionary()


def commits_durably() -> bool:
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
