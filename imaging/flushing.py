"""A C-STORE's two flushes at once: its file's, and its index transaction's.

A C-STORE is answered only when its file is on disk and its index row has
committed, and a sender waits for each answer before it sends the next object.
Done in turn, the two flushes (each a disk cache flush) are most of a small
object's time. So the listener writes the file, sends the one statement that
indexes the instance, flushes the file while the server runs the statement
(`imaging.prepared`), and answers when both are done, with success only if
both succeeded.

For the moment between the commit and the end of the flush, the index names a
file that may not be durable. The statement therefore also inserts an
`UnflushedFile` row, which a `FlushLedger` drops (in batches, off the answer's
path) once the flush has succeeded. After a crash, `check_unflushed_files`, which the listener runs
when it starts, looks at the file of every such row: a whole file is kept; an
instance whose file the crash cut short is taken out of the index. Its sender
was never told it was stored, and sends it again.
"""

import contextlib
import hashlib
import logging
import threading

from django.core.files.storage import default_storage
from django.db import DatabaseError, connection, transaction

from imaging.ingest import unindex_instance
from imaging.models import UnflushedFile
from imaging.storage import flush

logger = logging.getLogger(__name__)


class FlushLedger:
    """Drops the `UnflushedFile` rows of files flushed, in batches, on a thread of its own."""

    def __init__(self, sweep_every: float = 1.0, retry_after: float = 1.0) -> None:
        self.sweep_every = sweep_every
        self.retry_after = retry_after
        self._flushed: list[int] = []
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

    def wait_until_swept(self, timeout: float) -> bool:
        """True once the rows of every instance reported flushed so far are gone."""
        with self._condition:
            return self._condition.wait_for(lambda: not self._flushed and not self._sweeping, timeout)

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
            stopping = self._stopping
            self._sweeping = bool(batch)
        try:
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


def check_unflushed_files(batch_size: int = 200) -> tuple[int, int]:
    """After a crash: keep each instance whose file is whole, unindex the others. Returns (kept, removed).

    A file is whole when its bytes hash to the SHA-256 its index row holds;
    a kept file is flushed again, as its flush may not have finished.
    """
    kept = removed = 0
    after = 0
    while True:
        rows = list(
            UnflushedFile.objects.filter(instance_id__gt=after)
            .order_by("instance_id")
            .values_list("instance_id", "instance__storage_key", "instance__sha256")[:batch_size]
        )
        if not rows:
            return kept, removed
        whole = []
        for instance_id, key, sha256 in rows:
            if _holds(key, sha256):
                flush(key)
                whole.append(instance_id)
                continue
            logger.warning("the file of instance %s did not survive a crash; taken out of the index", instance_id)
            unindex_instance(instance_id)
            with contextlib.suppress(FileNotFoundError):
                default_storage.delete(key)
            removed += 1
        forget(whole)
        kept += len(whole)
        after = rows[-1][0]


def _holds(key: str, sha256: str) -> bool:
    try:
        with default_storage.open(key, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest() == sha256
    except FileNotFoundError:
        return False
