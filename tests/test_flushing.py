"""imaging.listener.flushing: a C-STORE's file flushed while its index statement runs, or a small object's
bytes committed with its index row and its file flushed later; and what a crash leaves."""

import errno
import threading
import tracemalloc
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection

from imaging import storage
from imaging.ingest import IngestOutcome, IngestResult, ingest_instance
from imaging.listener import Checked, FileFlusher, FlushLedger, check_unflushed_files, flushing
from imaging.models import Hospital, Instance, Series, Study, UnflushedFile
from imaging.storage import flush
from tests.support.dicom import ct_bytes, stored_files
from tests.support.processes import shared_database_url
from tests.support.unflushed import store_with_failing_flush
from tests.support.workers import wait_for

pytestmark = pytest.mark.usefixtures("require_postgres")


@pytest.fixture
def ledger() -> Iterator[FlushLedger]:
    running = FlushLedger(sweep_every=0.05).start()
    yield running
    running.stop()


@pytest.fixture
def flushed_meanwhile(settings: Any) -> None:
    """Every file flushed while its row is written: none small enough to go into the index."""
    settings.DICOM_JOURNAL_MAX_BYTES = 0


def other_connection() -> psycopg.Connection[tuple[object, ...]]:
    """A connection of its own: it sees only what has committed."""
    return psycopg.connect(shared_database_url().replace("postgres://", "postgresql://"), autocommit=True)


def count(observer: psycopg.Connection[tuple[object, ...]], table: str) -> int:
    row = observer.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608 - table names of this test
    assert row is not None
    return int(row[0])


@pytest.mark.usefixtures("flushed_meanwhile")
def test_it_commits_the_index_row_while_the_file_is_still_being_flushed(
    transactional_db: None, hospital: Hospital, storage_root: Path, ledger: FlushLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert ingest_instance(ct_bytes(number=1), hospital, ledger=ledger).ok  # the series is known now
    release = threading.Event()

    def slow_flush(key: str) -> None:
        assert release.wait(timeout=30)
        flush(key)

    monkeypatch.setattr("imaging.ingest.fast_path.flush", slow_flush)
    results: list[IngestResult] = []
    writer = threading.Thread(
        target=lambda: results.append(ingest_instance(ct_bytes(number=2), hospital, ledger=ledger))
    )
    writer.start()
    with other_connection() as observer:
        # The row and its mark commit while the flush still waits; the answer waits for both.
        assert wait_for(lambda: count(observer, "imaging_instance") == 2, timeout=10)
        assert count(observer, "imaging_unflushedfile") == 1
        assert results == []
        release.set()
        writer.join(timeout=10)
        assert [r.outcome for r in results] == [IngestOutcome.STORED]
        assert wait_for(lambda: count(observer, "imaging_unflushedfile") == 0, timeout=10)


@pytest.mark.parametrize("journal_max_bytes", [0, 64 * 1024], ids=["flushed-meanwhile", "bytes-in-the-index"])
def test_it_flushes_the_first_image_of_a_series_before_it_commits(
    transactional_db: None,
    hospital: Hospital,
    storage_root: Path,
    ledger: FlushLedger,
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
    journal_max_bytes: int,
) -> None:
    """A new series takes the transaction path, which keeps no mark: the file must be durable first."""
    settings.DICOM_JOURNAL_MAX_BYTES = journal_max_bytes
    series_seen_while_flushing: list[int] = []

    def observing_flush(key: str) -> None:
        with other_connection() as observer:
            series_seen_while_flushing.append(count(observer, "imaging_series"))
        flush(key)

    monkeypatch.setattr("imaging.ingest.fast_path.flush", observing_flush)
    assert ingest_instance(ct_bytes(number=1), hospital, ledger=ledger).outcome == IngestOutcome.STORED
    assert series_seen_while_flushing == [0]
    assert Series.objects.count() == 1
    assert UnflushedFile.objects.count() == 0


@pytest.mark.usefixtures("flushed_meanwhile")
def test_it_answers_unavailable_when_the_flush_fails_and_a_resend_clears_the_mark(
    transactional_db: None, hospital: Hospital, storage_root: Path, ledger: FlushLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_instance(ct_bytes(number=1), hospital, ledger=ledger)
    store_with_failing_flush(hospital, ledger, monkeypatch, (2,))
    marked = Instance.objects.get(instance_number=2)
    assert list(UnflushedFile.objects.values_list("instance_id", flat=True)) == [marked.pk]
    assert (storage_root / marked.storage_key).read_bytes() == ct_bytes(number=2)  # the row's file stays
    # The sender was told to retry; the re-send finds the row and flushes the file.
    assert ingest_instance(ct_bytes(number=2), hospital, ledger=ledger).outcome == IngestOutcome.DUPLICATE
    assert ledger.wait_until_swept(timeout=10)
    assert UnflushedFile.objects.count() == 0


@pytest.mark.usefixtures("flushed_meanwhile")
def test_it_checks_a_large_file_a_chunk_at_a_time_at_start_up(
    transactional_db: None, hospital: Hospital, storage_root: Path, ledger: FlushLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_instance(ct_bytes(number=1), hospital, ledger=ledger)
    store_with_failing_flush(hospital, ledger, monkeypatch, (2,))
    large = storage_root / Instance.objects.get(instance_number=2).storage_key
    with large.open("ab") as handle:  # as large as a multi-frame object: its row holds no bytes
        handle.truncate(64 << 20)
    tracemalloc.start()
    try:
        assert check_unflushed_files() == Checked(removed=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"checking a 64 MiB file took {peak >> 20} MiB"


@pytest.mark.usefixtures("flushed_meanwhile")
def test_it_keeps_whole_files_and_unindexes_those_a_crash_cut_short(
    transactional_db: None, hospital: Hospital, storage_root: Path, ledger: FlushLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_instance(ct_bytes(number=1), hospital, ledger=ledger)
    store_with_failing_flush(hospital, ledger, monkeypatch, (2, 3, 4))
    # As if the machine lost power before the flushes: one file short, one gone, one whole.
    short, gone, whole = (Instance.objects.get(instance_number=n) for n in (2, 3, 4))
    (storage_root / short.storage_key).write_bytes(ct_bytes(number=2)[:300])
    (storage_root / gone.storage_key).unlink()
    assert Study.objects.get().number_of_instances == 4

    assert check_unflushed_files() == Checked(whole=1, removed=2)
    assert sorted(Instance.objects.values_list("instance_number", flat=True)) == [1, 4]
    assert UnflushedFile.objects.count() == 0
    study, series = Study.objects.get(), Series.objects.get()
    assert study.number_of_instances == series.number_of_instances == 2
    assert study.size_bytes == len(ct_bytes(number=1)) + len(ct_bytes(number=4))
    assert sorted(p.name for p in stored_files(storage_root)) == sorted(
        Path(i.storage_key).name for i in Instance.objects.all()
    )
    assert (storage_root / whole.storage_key).read_bytes() == ct_bytes(number=4)
    # The senders of 2 and 3 were never told they were stored; their re-sends are new stores.
    assert ingest_instance(ct_bytes(number=2), hospital, ledger=ledger).outcome == IngestOutcome.STORED


def test_it_commits_a_small_objects_bytes_with_its_row_and_flushes_its_file_later(
    transactional_db: None, hospital: Hospital, storage_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[tuple[str, list[object]]] = []
    real_flush_all, real_forget = FileFlusher.flush_all, flushing.forget

    def recording_flush_all(self: FileFlusher, keys: list[str]) -> None:
        events.append(("flush", sorted(keys)))
        real_flush_all(self, keys)

    def recording_forget(instance_ids: list[int]) -> None:
        events.append(("forget", sorted(instance_ids)))
        real_forget(instance_ids)

    monkeypatch.setattr(FileFlusher, "flush_all", recording_flush_all)
    monkeypatch.setattr("imaging.listener.flushing.forget", recording_forget)
    monkeypatch.setattr("imaging.ingest.fast_path.flush", lambda key: pytest.fail(f"{key} flushed before the answer"))
    ledger = FlushLedger(sweep_every=3600).start()  # sweeps only when stopped
    with monkeypatch.context() as first_image:
        first_image.setattr("imaging.ingest.fast_path.flush", flush)  # a new series' first image is flushed at once
        ingest_instance(ct_bytes(number=1), hospital, ledger=ledger)
    results = [ingest_instance(ct_bytes(number=n), hospital, ledger=ledger) for n in (2, 3)]
    assert [r.outcome for r in results] == [IngestOutcome.STORED, IngestOutcome.STORED]
    with other_connection() as observer:  # committed: the bytes are as durable as the rows
        rows = observer.execute(
            "SELECT i.instance_number, u.content FROM imaging_unflushedfile u "
            "JOIN imaging_instance i ON i.id = u.instance_id ORDER BY 1"
        ).fetchall()
    assert [(number, bytes(content)) for number, content in rows] == [  # type: ignore[arg-type]
        (2, ct_bytes(number=2)),
        (3, ct_bytes(number=3)),
    ]
    ledger.stop()
    later = Instance.objects.filter(instance_number__in=[2, 3]).order_by("pk")
    # The files flushed first, then their rows dropped.
    assert events == [("flush", sorted(i.storage_key for i in later)), ("forget", [i.pk for i in later])]
    assert UnflushedFile.objects.count() == 0


def test_it_writes_anew_from_the_index_the_files_whose_flush_failed(
    transactional_db: None, hospital: Hospital, storage_root: Path, ledger: FlushLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second flush of a file whose flush failed would prove nothing: its lost pages may count as clean."""
    ingest_instance(ct_bytes(number=1), hospital, ledger=ledger)

    def failing_flush_all(self: FileFlusher, keys: list[str]) -> None:
        raise OSError(errno.EIO, "Input/output error")

    def failing_replace(key: str, content: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(FileFlusher, "flush_all", failing_flush_all)
    monkeypatch.setattr("imaging.listener.flushing.replace_durably", failing_replace)
    assert ingest_instance(ct_bytes(number=2), hospital, ledger=ledger).outcome == IngestOutcome.STORED
    marked = Instance.objects.get(instance_number=2)
    first_inode = (storage_root / marked.storage_key).stat().st_ino
    assert not ledger.wait_until_swept(timeout=0.5)  # sweeps come and go; the row and its bytes stay
    assert bytes(UnflushedFile.objects.get().content) == ct_bytes(number=2)

    monkeypatch.setattr("imaging.listener.flushing.replace_durably", storage.replace_durably)
    assert ledger.wait_until_swept(timeout=10)
    assert UnflushedFile.objects.count() == 0
    path = storage_root / marked.storage_key
    assert path.read_bytes() == ct_bytes(number=2)
    assert path.stat().st_ino != first_inode  # a new file, not the old one flushed again
    assert not [p for p in stored_files(storage_root) if p.name.startswith(".tmp-")]


def test_it_flushes_at_once_a_lost_small_file_sent_again(
    transactional_db: None, hospital: Hospital, storage_root: Path, ledger: FlushLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    for number in (1, 2):
        ingest_instance(ct_bytes(number=number), hospital, ledger=ledger)
    assert ledger.wait_until_swept(timeout=10)
    lost = Instance.objects.get(instance_number=2)
    (storage_root / lost.storage_key).unlink()
    flushed: list[str] = []
    monkeypatch.setattr("imaging.ingest.fast_path.flush", lambda key: flushed.append(key) or flush(key))
    assert ingest_instance(ct_bytes(number=2), hospital, ledger=ledger).outcome == IngestOutcome.DUPLICATE
    assert flushed == [lost.storage_key]  # no row holds its bytes: flushed before the answer
    assert (storage_root / lost.storage_key).read_bytes() == ct_bytes(number=2)
    assert UnflushedFile.objects.count() == 0


def test_it_flushes_every_file_at_once_when_commits_do_not_wait_for_their_flush(
    transactional_db: None, hospital: Hospital, storage_root: Path, ledger: FlushLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("imaging.ingest.fast_path._durable_commits", weakref.WeakKeyDictionary())
    ingest_instance(ct_bytes(number=1), hospital, ledger=ledger)
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
    try:
        monkeypatch.setattr("imaging.ingest.fast_path._durable_commits", weakref.WeakKeyDictionary())
        flushed: list[str] = []
        monkeypatch.setattr("imaging.ingest.fast_path.flush", lambda key: flushed.append(key) or flush(key))
        assert ingest_instance(ct_bytes(number=2), hospital, ledger=ledger).outcome == IngestOutcome.STORED
        assert flushed == [Instance.objects.get(instance_number=2).storage_key]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit = on")
    assert ledger.wait_until_swept(timeout=10)
    assert UnflushedFile.objects.count() == 0


def test_it_writes_again_at_start_up_the_small_files_a_crash_lost(
    transactional_db: None, hospital: Hospital, storage_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = FlushLedger(sweep_every=3600).start()
    for number in (1, 2, 3, 4):
        assert ingest_instance(ct_bytes(number=number), hospital, ledger=ledger).ok
    # The crash: no sweep ran; one file cut short, one gone, one whole.
    monkeypatch.setattr("imaging.listener.flushing.forget", lambda instance_ids: None)
    ledger.stop()
    monkeypatch.undo()
    short, gone, whole = (Instance.objects.get(instance_number=n) for n in (2, 3, 4))
    (storage_root / short.storage_key).write_bytes(ct_bytes(number=2)[:300])
    (storage_root / gone.storage_key).unlink()

    assert check_unflushed_files() == Checked(whole=1, rewritten=2)
    assert UnflushedFile.objects.count() == 0
    assert Instance.objects.count() == Study.objects.get().number_of_instances == 4
    for instance in (short, gone, whole):
        assert (storage_root / instance.storage_key).read_bytes() == ct_bytes(number=instance.instance_number)
    assert len(stored_files(storage_root)) == 4


def test_it_leaves_for_the_next_start_a_file_it_cannot_write_now(
    transactional_db: None, hospital: Hospital, storage_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = FlushLedger(sweep_every=3600).start()
    for number in (1, 2, 3):
        assert ingest_instance(ct_bytes(number=number), hospital, ledger=ledger).ok
    monkeypatch.setattr("imaging.listener.flushing.forget", lambda instance_ids: None)
    ledger.stop()  # the crash: no row dropped
    monkeypatch.undo()
    broken = Instance.objects.get(instance_number=2)
    (storage_root / broken.storage_key).unlink()
    real_replace = storage.replace_durably

    def full_disk_for_two(key: str, content: bytes) -> None:
        if key == broken.storage_key:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(key, content)

    monkeypatch.setattr("imaging.listener.flushing.replace_durably", full_disk_for_two)
    assert check_unflushed_files() == Checked(whole=1, left=1)
    assert list(UnflushedFile.objects.values_list("instance_id", flat=True)) == [broken.pk]
    monkeypatch.undo()
    assert check_unflushed_files() == Checked(rewritten=1)  # the next start
    assert (storage_root / broken.storage_key).read_bytes() == ct_bytes(number=2)
    assert UnflushedFile.objects.count() == 0


def test_it_vacuums_the_rows_it_drops_so_the_table_does_not_grow_by_the_bytes(
    transactional_db: None, hospital: Hospital, storage_root: Path
) -> None:
    ledger = FlushLedger(sweep_every=3600, vacuum_after=3).start()
    for number in range(1, 30):
        assert ingest_instance(ct_bytes(number=number), hospital, ledger=ledger).ok
    with other_connection() as observer:
        before = observer.execute("SELECT pg_relation_size('imaging_unflushedfile')").fetchone()
        ledger.stop()  # the last sweep: 28 rows dropped, then a VACUUM, which cuts off the empty pages
        after = observer.execute("SELECT pg_relation_size('imaging_unflushedfile')").fetchone()
    assert before is not None
    assert after is not None
    assert int(before[0]) >= 5 * 8192  # 28 rows of ~1.6 KB
    assert int(after[0]) == 0
