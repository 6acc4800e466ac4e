"""A C-STORE's two flushes, its file's and its index transaction's, made one, or at once.

A C-STORE is answered only when its file is on disk and its index row has
committed, and a sender waits for each answer before it sends the next object.
Done in turn, the two flushes (each a disk cache flush) are most of a small
object's time. So the listener writes the file, unflushed, and sends the one
statement that indexes the instance (`imaging.ingest.prepared`), which also inserts an
`UnflushedFile` row:

- a small object (up to `DICOM_JOURNAL_MAX_BYTES`) has its bytes in that row, so
  the commit's flush makes the file's content durable with its index row, and
  the answer waits for nothing else. A `FlushLedger` flushes such files later,
  many with one `syncfs`, then drops their rows;
- a larger one (a CT slice: its bytes would double the database's writes) has
  its file flushed while the server runs the statement, and is answered when
  both are done, with success only if both succeeded. The ledger drops its row
  (in batches, off the answer's path) once the flush has succeeded.

After a crash, `check_unflushed_files`, which the listener runs when it starts,
looks at the file of every such row: a whole file is kept; one the crash cut
short is written again from the bytes its row holds, or, when the row holds
none, its instance is taken out of the index. Its sender was never told it was
stored, and sends it again.
"""

import contextlib
import ctypes
import hashlib
import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

from django.core.files.storage import default_storage
from django.db import DatabaseError, connection, transaction

from imaging.ingest import unindex_instance
from imaging.models import UnflushedFile
from imaging.storage import flush, replace_durably, storage_root

logger = logging.getLogger(__name__)


class FlushLedger:
    """Drops the `UnflushedFile` rows of files flushed, in batches, on a thread of its own;
    flushes the files left to it first, all at once.

    A flush that fails is not tried again: Linux reports a lost write once and
    then calls the pages clean, so a second flush would succeed without them.
    Those files are written anew, from the bytes their rows hold, as new files
    (`storage.replace_durably`); their rows stay until that has succeeded.
    """

    def __init__(self, sweep_every: float = 1.0, retry_after: float = 1.0, vacuum_after: int = 20_000) -> None:
        self.sweep_every = sweep_every
        self.retry_after = retry_after
        # Rows dropped between two VACUUMs of the table: it holds small objects' bytes for a
        # second each, and must not grow by them where autovacuum is off or slow.
        self.vacuum_after = vacuum_after
        self._dropped_since_vacuum = 0
        self.files = FileFlusher()
        self._flushed: list[int] = []
        self._to_flush: dict[int, str] = {}  # instance: storage key
        self._to_rewrite: set[int] = set()
        self._condition = threading.Condition()
        self._stopping = False
        self._sweeping = False
        self._sweeper = threading.Thread(target=self._sweep_until_stopped, name="unflushed-sweeper", daemon=True)

    def start(self) -> "FlushLedger":
        self._sweeper.start()
        return self

    def flushed(self, instance_id: int) -> None:
        """The instance's file is durable: its `UnflushedFile` row may go."""
        with self._condition:
            self._flushed.append(instance_id)

    def flush_later(self, instance_id: int, key: str) -> None:
        """The instance's bytes are in its `UnflushedFile` row: flush its file, then drop the row."""
        with self._condition:
            self._to_flush[instance_id] = key

    def wait_until_swept(self, timeout: float) -> bool:
        """True once the rows of every instance reported so far are gone."""
        with self._condition:
            return self._condition.wait_for(
                lambda: not (self._flushed or self._to_flush or self._to_rewrite or self._sweeping), timeout
            )

    def stop(self, timeout: float = 30.0) -> None:
        """Drop the rows of what was reported flushed, then end the thread."""
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        if self._sweeper.is_alive():
            self._sweeper.join(timeout)
        self.files.close()

    def _sweep_until_stopped(self) -> None:
        try:
            while self._sweep_once():
                pass
        finally:
            with contextlib.suppress(DatabaseError):
                connection.close()

    def _sweep_once(self) -> bool:
        with self._condition:
            self._condition.wait_for(lambda: self._stopping, self.sweep_every)
            batch, self._flushed = self._flushed, []
            to_flush, self._to_flush = self._to_flush, {}
            to_rewrite, self._to_rewrite = self._to_rewrite, set()
            stopping = self._stopping
            self._sweeping = bool(batch or to_flush or to_rewrite)
        try:
            if to_flush:
                try:
                    self.files.flush_all(list(to_flush.values()))
                    batch += list(to_flush)
                except OSError as error:
                    logger.error("%d files not flushed, to be written anew from the index: %s", len(to_flush), error)
                    to_rewrite.update(to_flush)
            if to_rewrite:
                rewritten = rewrite_from_index(sorted(to_rewrite))
                batch += rewritten
                to_rewrite.difference_update(rewritten)
                with self._condition:  # their bytes stay in the index until a later sweep, or start-up
                    self._to_rewrite.update(to_rewrite)
            forget(batch)
            self._dropped_since_vacuum += len(batch)
            if self._dropped_since_vacuum >= self.vacuum_after:
                self._dropped_since_vacuum = 0
                try:
                    vacuum()
                except DatabaseError as error:  # the rows are gone already; the next VACUUM returns their space
                    logger.warning("unflushed-file table not vacuumed: %s", error)
        except DatabaseError as error:
            with contextlib.suppress(DatabaseError):
                connection.close()
            with self._condition:
                self._flushed[:0] = batch
                self._to_rewrite.update(to_rewrite)
            if stopping:
                logger.warning("%d unflushed-file rows left for start-up to check: %s", len(batch), error)
                return False
            logger.warning("unflushed-file rows of %d flushed files not yet dropped: %s", len(batch), error)
            with self._condition:
                self._condition.wait_for(lambda: self._stopping, self.retry_after)
        finally:
            with self._condition:
                self._sweeping = False
                self._condition.notify_all()
        return not stopping


def _syncfs_function() -> Callable[[int], int] | None:
    """libc's syncfs, where it reports lost writes (Linux 5.8 and later); else None."""
    release = tuple(int(part) for part in re.findall(r"\d+", os.uname().release)[:2])
    if os.uname().sysname != "Linux" or release < (5, 8):
        return None
    return getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)


_syncfs = _syncfs_function()


class FileFlusher:
    """Flushes many files at once: one `syncfs` of the storage's filesystem (one disk cache flush
    for all of them), else a flush each.

    `syncfs` reports a lost write to each file descriptor that was open when
    it happened, once: so this keeps one descriptor of the storage's folder,
    opened in the process that flushes (not inherited from before a fork).
    """

    def __init__(self) -> None:
        self._fd: int | None = None
        self._device: int | None = None

    def flush_all(self, keys: list[str]) -> None:
        if not keys:
            return
        root = storage_root()
        if _syncfs is None or root is None:
            for key in keys:
                flush(key)
            return
        if self._fd is None:
            self._fd = os.open(root, os.O_RDONLY | os.O_CLOEXEC)
            self._device = os.fstat(self._fd).st_dev
        for key in keys:  # a folder mounted from elsewhere under the storage's
            if os.stat(default_storage.path(key)).st_dev != self._device:
                flush(key)
        if _syncfs(self._fd) != 0:
            number = ctypes.get_errno()
            raise OSError(number, os.strerror(number))

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def rewrite_from_index(instance_ids: list[int]) -> list[int]:
    """Write anew, as new files, those of `instance_ids` whose bytes their `UnflushedFile` rows hold.

    Returns the instances whose files are now durable (or that are gone);
    one that cannot be written is logged and left out.
    """
    rows = UnflushedFile.objects.filter(instance_id__in=instance_ids).values_list(
        "instance_id", "instance__storage_key", "instance__sha256", "content"
    )
    done = set(instance_ids)
    for instance_id, key, sha256, content in rows:
        try:
            if not _write_from_index(key, sha256, content):
                logger.error("instance %s has no bytes in the index to write its file from", instance_id)
                done.discard(instance_id)
        except OSError as error:
            logger.error("the file of instance %s cannot be written anew yet: %s", instance_id, error)
            done.discard(instance_id)
    return sorted(done)


def forget(instance_ids: list[int]) -> None:
    """Drop the `UnflushedFile` rows of files now durable.

    Committed without waiting for PostgreSQL's own flush: a crash that loses
    this leaves rows whose files are whole, which start-up then keeps.
    """
    if not instance_ids:
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
        UnflushedFile.objects.filter(instance_id__in=instance_ids).delete()


def vacuum() -> None:
    """Return the space of dropped `UnflushedFile` rows (PostgreSQL; outside any transaction)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM {UnflushedFile._meta.db_table}")


@dataclass(frozen=True)
class Checked:
    """What `check_unflushed_files` found."""

    whole: int = 0  # files whole on disk, kept
    rewritten: int = 0  # files lost or cut short, written again from the bytes their rows held
    removed: int = 0  # instances whose file was lost, with no bytes to write it from: out of the index
    left: int = 0  # files that could not be read or written now: their rows stay for the next start


def check_unflushed_files(batch_size: int = 200) -> Checked:
    """After a crash: keep each instance whose file is whole or can be written again, unindex the others.

    A file is whole when its bytes hash to the SHA-256 its index row holds.
    Where its `UnflushedFile` row holds its bytes (a small object's, committed
    with its index row), the file is written anew from them, whole or not: a
    flush from this process would not hear of a write lost before it started.
    Otherwise a whole file is flushed again and kept, and an instance whose
    file is not whole is taken out of the index. A file that cannot be read or
    written now keeps its row, for the next start.
    """
    counts = {"whole": 0, "rewritten": 0, "removed": 0, "left": 0}
    after = 0
    while True:
        rows = list(
            UnflushedFile.objects.filter(instance_id__gt=after)
            .order_by("instance_id")
            .values_list("instance_id", "instance__storage_key", "instance__sha256", "content")[:batch_size]
        )
        if not rows:
            return Checked(**counts)
        kept = []
        for instance_id, key, sha256, content in rows:
            try:
                found = _settle(instance_id, key, sha256, content)
            except OSError as error:
                logger.error(
                    "the file of instance %s cannot be checked now, left for the next start: %s", instance_id, error
                )
                found = "left"
            counts[found] += 1
            if found in ("whole", "rewritten"):
                kept.append(instance_id)
        forget(kept)
        after = rows[-1][0]


def _settle(instance_id: int, key: str, sha256: str, content: bytes | memoryview | None) -> str:
    """Make one row's file whole and durable, or its instance gone: which of `Checked`'s counts it is."""
    whole = _holds(key, sha256)
    if _write_from_index(key, sha256, content):
        if not whole:
            logger.warning("the file of instance %s did not survive a crash; written again", instance_id)
        return "whole" if whole else "rewritten"
    if whole:
        flush(key)
        return "whole"
    logger.warning("the file of instance %s did not survive a crash; taken out of the index", instance_id)
    unindex_instance(instance_id)
    with contextlib.suppress(FileNotFoundError):
        default_storage.delete(key)
    return "removed"


def _write_from_index(key: str, sha256: str, content: bytes | memoryview | None) -> bool:
    """Write the file under `key` anew from its row's bytes; False when the row holds none (or others)."""
    if content is None or hashlib.sha256(content).hexdigest() != sha256:
        return False
    replace_durably(key, bytes(content))
    return True


def _holds(key: str, sha256: str) -> bool:
    try:
        with default_storage.open(key, "rb") as handle:
            # A chunk at a time: a large object's row holds no bytes, and its file may be gigabytes.
            return hashlib.file_digest(handle, "sha256").hexdigest() == sha256
    except FileNotFoundError:
        return False
