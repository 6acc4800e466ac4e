"""imaging.flushing: a C-STORE's file flushed while its index statement runs, and what a crash leaves."""

import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from imaging.flushing import FlushLedger, check_unflushed_files
from imaging.ingest import IngestOutcome, IngestResult, ingest_instance
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


def other_connection() -> psycopg.Connection[tuple[object, ...]]:
    """A connection of its own: it sees only what has committed."""
    return psycopg.connect(shared_database_url().replace("postgres://", "postgresql://"), autocommit=True)


def count(observer: psycopg.Connection[tuple[object, ...]], table: str) -> int:
    row = observer.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608 - table names of this test
    assert row is not None
    return int(row[0])


def test_it_commits_the_index_row_while_the_file_is_still_being_flushed(
    transactional_db: None, hospital: Hospital, storage_root: Path, ledger: FlushLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert ingest_instance(ct_bytes(number=1), hospital, ledger=ledger).ok  # the series is known now
    release = threading.Event()

    def slow_flush(key: str) -> None:
        assert release.wait(timeout=30)
        flush(key)

    monkeypatch.setattr("imaging.ingest.flush", slow_flush)
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


def test_it_flushes_the_first_image_of_a_series_before_it_commits(
    transactional_db: None, hospital: Hospital, storage_root: Path, ledger: FlushLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new series takes the transaction path, which keeps no mark: the file must be durable first."""
    series_seen_while_flushing: list[int] = []

    def observing_flush(key: str) -> None:
        with other_connection() as observer:
            series_seen_while_flushing.append(count(observer, "imaging_series"))
        flush(key)

    monkeypatch.setattr("imaging.ingest.flush", observing_flush)
    assert ingest_instance(ct_bytes(number=1), hospital, ledger=ledger).outcome == IngestOutcome.STORED
    assert series_seen_while_flushing == [0]
    assert Series.objects.count() == 1
    assert UnflushedFile.objects.count() == 0


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

    assert check_unflushed_files() == (1, 2)
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
