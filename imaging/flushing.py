"""A C-STORE's two flushes, its file's and its index transaction's, made one, or at once.

A C-STORE is answered only when its file is on disk and its index row has
committed, and a sender waits for each answer before it sends the next object.
Done in turn, the two flushes (each a disk cache flush) are most of a small
object's time. So the listener writes the file, unflushed, and sends the one
statement that indexes the instance (`imaging.prepared`), which also inserts an
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
import threading
from dataclasses import dataclass

from django.core.files.storage import default_storage
from django.db import DatabaseError, connection, transaction

from imaging.ingest import unindex_instance
from imaging.models import UnflushedFile
from imaging.storage import flush, storage_root, write_once

logger = logging.getLogger(__name__)


class FlushLedger:
    """Drops the `UnflushedFile` rows of files flushed, in batches, on a thread of its own;
    flushes the files left to it first, all at once."""

    def __init__(self, sweep_every: float = 1.0, retry_after: float = 1.0) -> None:
        self.sweep_every = sweep_every
        self.retry_after = retry_after
        self._flushed: list[int] = []
        self._to_flush: dict[int, str] = {}  # instance: storage key
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
                lambda: not self._flushed and not self._to_flush and not self._sweeping, timeout
            )

    def stop(self, timeout: float = 30.0) -> None:
        """Drop the rows of what was reported flushed, then end the thread."""
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        if self._sweeper.is_alive():
            self._sweeper.join(timeout)

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
            stopping = self._stopping
            self._sweeping = bool(batch or to_flush)
        try:
            try:
                flush_all(list(to_flush.values()))
            except OSError as error:  # their bytes stay in the index until a later sweep, or start-up
                logger.warning("%d files whose bytes are in the index not yet flushed: %s", len(to_flush), error)
                with self._condition:
                    self._to_flush.update(to_flush)
            else:
                batch += list(to_flush)
            forget(batch)
        except DatabaseError as error:
            with contextlib.suppress(DatabaseError):
                connection.close()
            with self._condition:
                self._flushed[:0] = batch
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


_syncfs = getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)


def flush_all(keys: list[str]) -> None:
    """Make the files under `keys` durable: one `syncfs` of their filesystem where there is one
    (one disk cache flush for all of them), else a flush each."""
    if not keys:
        return
    root = storage_root()
    if _syncfs is None or root is None:
        for key in keys:
            flush(key)
        return
    fd = os.open(root, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _syncfs(fd) != 0:
            number = ctypes.get_errno()
            raise OSError(number, os.strerror(number))
    finally:
        os.close(fd)


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


@dataclass(frozen=True)
class Checked:
    """What `check_unflushed_files` found."""

    whole: int = 0  # files whole on disk, kept
    rewritten: int = 0  # files lost or cut short, written again from the bytes their mark held
    removed: int = 0  # instances whose file was lost, with no bytes to write it from: out of the index


def check_unflushed_files(batch_size: int = 200) -> Checked:
    """After a crash: keep each instance whose file is whole or can be written again, unindex the others.

    A file is whole when its bytes hash to the SHA-256 its index row holds; a
    kept file is flushed again, as its flush may not have finished. A file that
    is not whole is written again from the bytes in its `UnflushedFile` row,
    where the row holds them (a small object's, committed with its index row).
    """
    whole = rewritten = removed = 0
    after = 0
    while True:
        rows = list(
            UnflushedFile.objects.filter(instance_id__gt=after)
            .order_by("instance_id")
            .values_list("instance_id", "instance__storage_key", "instance__sha256", "content")[:batch_size]
        )
        if not rows:
            return Checked(whole, rewritten, removed)
        kept = []
        for instance_id, key, sha256, content in rows:
            if _holds(key, sha256):
                flush(key)
                kept.append(instance_id)
                whole += 1
                continue
            if content is not None and hashlib.sha256(content).hexdigest() == sha256:
                write_once(key, bytes(content))  # rewrites a file cut short; flushed
                logger.warning("the file of instance %s did not survive a crash; written again", instance_id)
                kept.append(instance_id)
                rewritten += 1
                continue
            logger.warning("the file of instance %s did not survive a crash; taken out of the index", instance_id)
            unindex_instance(instance_id)
            with contextlib.suppress(FileNotFoundError):
                default_storage.delete(key)
            removed += 1
        forget(kept)
        after = rows[-1][0]


def _holds(key: str, sha256: str) -> bool:
    try:
        with default_storage.open(key, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest() == sha256
    except FileNotFoundError:
        return False
