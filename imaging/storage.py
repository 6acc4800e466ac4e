"""Where DICOM objects and renders live: Django's storage API, written atomically.

Keys name what they hold. A DICOM object is stored under
`dicom/<study>/<series>/<sop>.<sha256 prefix>.dcm`, so different bytes under one
SOPInstanceUID can never overwrite each other and two writers of the same bytes
write the same file.

On a local filesystem (`AtomicFileSystemStorage`) files are written under a
lock and flushed, or flushed later by the listener (`flushes_later`). On an
S3-compatible object store (django-storages' `S3Storage`, STORAGE_BACKEND=s3)
a PUT is atomic and durable once answered: a key is put once, read from the
object a part at a time (`ContentReader`), and there is nothing to flush. Its
client's errors come out as OSError, as a filesystem's do.
"""

import contextlib
import errno
import fcntl
import io
import logging
import mmap
import os
import tempfile
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from django.core.files.base import File
from django.core.files.storage import FileSystemStorage, Storage, storages

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

logger = logging.getLogger(__name__)

# An object's bytes, or a file mapped into memory (STOW-RS parts are).
Content = bytes | mmap.mmap
# A multiple of the page size: madvise takes page-aligned offsets.
CHUNK = 1024 * 1024


def dicom_key(study_uid: str, series_uid: str, sop_uid: str, sha256: str) -> str:
    return f"dicom/{study_uid}/{series_uid}/{sop_uid}.{sha256[:16]}.dcm"


class AtomicFileSystemStorage(FileSystemStorage):
    """A filesystem storage whose files appear whole or not at all.

    Django's `save` writes a temporary file in the target directory, flushes
    it, then links it into place (`os.link` fails when the name exists, so a
    file is never overwritten and a reader never sees half of one). DICOM
    objects go through `write_once` instead: created under their key with
    `O_EXCL` and written under a lock (see there). A name that exists is kept,
    not renamed: keys are deterministic and the caller decides.
    """

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        return name

    def _save(self, name: str, content: File[Any]) -> str:
        full_path = self.path(name)
        directory = os.path.dirname(full_path)
        if hasattr(content, "seek"):
            content.seek(0)
        temporary = _flushed_temporary(directory, content.chunks())
        try:
            os.link(temporary, full_path)
        finally:
            os.unlink(temporary)
        _fsync_directory(directory)
        return name

    def write_once(self, name: str, content: Content, flush: bool = True) -> bool:
        """Make `name` hold `content` durably; False when it held that already.

        With `flush=False` a new file is left for the caller to flush (`flush`):
        the listener flushes it while the index statement runs (`imaging.listener.flushing`).

        A DICOM object's file is created under its key and written under an
        exclusive lock, then flushed: one journal commit, where a temporary file
        and a link take two. The key is not yet in the index, so nobody reads it
        half-written; whoever finds the file there takes the lock (so waits for
        its writer), compares, and rewrites what a crash left incomplete.

        The directory is not flushed as well: on Linux's journaling filesystems
        (ext4, XFS, btrfs) the fsync of a new file also makes durable its
        directory entry and the directories made for it, which were journaled
        before it. That second flush was a measurable part of every C-STORE
        (docs/architecture.md, "Figures the imaging code rests on").
        """
        path = self.path(name)
        directory = os.path.dirname(path)
        try:
            fd = _create_exclusively(path, directory)
        except FileExistsError:
            return self._adopt(path, content)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            _write_all(fd, content)
            if flush:
                os.fsync(fd)
        except BaseException:
            os.unlink(path)
            raise
        finally:
            os.close(fd)
        return True

    def replace_durably(self, name: str, content: bytes) -> None:
        """Put a new file holding `content` under `name`, flushed, in place of whatever is there.

        For a file whose flush failed: its pages may since count as clean, so
        flushing it again proves nothing; a new file's flush does.
        """
        path = self.path(name)
        directory = os.path.dirname(path)
        temporary = _flushed_temporary(directory, [content])
        try:
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
        _fsync_directory(directory)

    def flush(self, name: str) -> None:
        """Flush a file written with `write_once(..., flush=False)` to disk."""
        fd = os.open(self.path(name), os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _adopt(self, path: str, content: Content) -> bool:
        fd = os.open(path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if _holds(fd, content):
                os.fsync(fd)  # its writer may not have got that far
                return False
            os.ftruncate(fd, 0)
            _write_all(fd, content)
            os.fsync(fd)
            return True
        finally:
            os.close(fd)


def write_once(name: str, content: Content, flush: bool = True) -> bool:
    """Make the default storage hold `content` under `name`; False when it held that already.

    `flush=False` leaves a new file unflushed where the storage can (see
    `flushes_later`); the caller then calls `flush(name)`.
    """
    storage = storages["default"]
    if isinstance(storage, AtomicFileSystemStorage):
        return storage.write_once(name, content, flush)
    return _put_once(storage, name, content)


def _put_once(storage: Storage, name: str, content: Content) -> bool:
    """An object store (S3): a PUT is atomic and keys name their content, so a key that is there holds it.

    The content goes up as a file read a part at a time (`ContentReader`),
    never copied whole: a mapped 3 GB object costs the uploader's few parts.
    """
    with _object_store_errors_as_os_errors():
        if storage.exists(name):
            return False
        with ContentReader(content) as reader:
            storage.save(name, reader.as_file(name))
    return True


def flushes_later() -> bool:
    """Whether the default storage can write a file now and flush it later (a local filesystem can)."""
    return isinstance(storages["default"], AtomicFileSystemStorage)


def replace_durably(name: str, content: bytes) -> None:
    """A new, durable file holding `content` under `name`, in place of whatever is there.

    On an object store a PUT is durable when answered; the old object goes
    first, so that no storage keeps it under another name.
    """
    storage = storages["default"]
    if isinstance(storage, AtomicFileSystemStorage):
        storage.replace_durably(name, content)
        return
    with _object_store_errors_as_os_errors(), ContentReader(content) as reader:
        storage.delete(name)
        storage.save(name, reader.as_file(name))


def storage_root() -> str | None:
    """The default storage's folder, when it is a local filesystem."""
    storage = storages["default"]
    return str(storage.location) if isinstance(storage, AtomicFileSystemStorage) else None


def flush(name: str) -> None:
    """Flush a file written with `write_once(name, content, flush=False)`."""
    storage = storages["default"]
    if isinstance(storage, AtomicFileSystemStorage):
        storage.flush(name)


def _flushed_temporary(directory: str, chunks: Iterable[bytes]) -> str:
    """A temporary file in `directory` holding `chunks`, flushed; the caller links or renames it."""
    os.makedirs(directory, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o640)
    except BaseException:
        os.unlink(temporary)
        raise
    return temporary


def _create_exclusively(path: str, directory: str) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    try:
        return os.open(path, flags, 0o640)
    except FileNotFoundError:
        os.makedirs(directory, exist_ok=True)
        return os.open(path, flags, 0o640)


def chunks_of(content: Content) -> Iterator[tuple[int, memoryview]]:
    """`content` a chunk at a time, with each chunk's offset.

    A mapped file's pages are let go once their chunk is done: they stay in
    the page cache but leave the process's resident set, so a 3 GB object
    costs a chunk of RSS, not 3 GB. Views are released at once: a mapped file
    cannot be closed while one is held.
    """
    with memoryview(content) as view:
        for offset in range(0, len(view), CHUNK):
            size = min(CHUNK, len(view) - offset)
            with view[offset : offset + size] as chunk:
                yield offset, chunk
            if isinstance(content, mmap.mmap):
                content.madvise(mmap.MADV_DONTNEED, offset, size)


def _write_all(fd: int, content: Content) -> None:
    for offset, chunk in chunks_of(content):
        written = 0
        while written < len(chunk):
            written += os.pwrite(fd, chunk[written:], offset + written)


def _holds(fd: int, content: Content) -> bool:
    """Whether the file holds exactly `content`, compared a chunk at a time (a file may be GBs)."""
    if os.fstat(fd).st_size != len(content):
        return False
    return all(chunk == os.pread(fd, len(chunk), offset) for offset, chunk in chunks_of(content))


def _fsync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ContentReader(io.RawIOBase):
    """An object's bytes, or a mapped file, as a read-only binary file for a storage that reads files.

    A read copies only what it asks for, and a mapped file's pages are let go
    behind the reader (as `chunks_of` does): an upload of a 3 GB object holds
    the uploader's buffers, not the object. Close it before the mapped file.
    """

    def __init__(self, content: Content) -> None:
        super().__init__()
        self._content = content
        self._view = memoryview(content)
        self._position = 0
        self._let_go = 0  # a mapped file's pages before this offset have left the resident set

    def as_file(self, name: str) -> File[bytes]:
        """This reader as a Django `File` (it reads, seeks and tells as typeshed's IO does not know)."""
        return File(cast(BinaryIO, self), name=name)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        start = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._view)}[whence]
        self._position = max(0, start + offset)
        self._let_go = min(self._let_go, self._position - self._position % CHUNK)  # read again: kept again
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        end = len(self._view) if size is None or size < 0 else min(len(self._view), self._position + size)
        with self._view[self._position : max(end, self._position)] as part:
            data = bytes(part)
        self._position += len(data)
        self._let_go_behind()
        return data

    def readall(self) -> bytes:
        return self.read()

    def readinto(self, buffer: "WriteableBuffer") -> int:
        with memoryview(buffer) as target:
            data = self.read(target.nbytes)
            target[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._view.release()
        super().close()

    def _let_go_behind(self) -> None:
        done = self._position - self._position % CHUNK
        if isinstance(self._content, mmap.mmap) and done > self._let_go:
            self._content.madvise(mmap.MADV_DONTNEED, self._let_go, done - self._let_go)
            self._let_go = done


@contextlib.contextmanager
def _object_store_errors_as_os_errors() -> Iterator[None]:
    """An object store's client errors as what callers of storage catch, OSError (botocore's are not).

    The OSError names the kind of failure only: its text reaches senders (an
    Error Comment of 64 characters), and the client's own names the store's address.
    """
    try:
        yield
    except OSError:
        raise
    except Exception as error:
        from boto3.exceptions import Boto3Error  # an object store's errors: boto3 is loaded already
        from botocore.exceptions import BotoCoreError, ClientError

        if not isinstance(error, BotoCoreError | ClientError | Boto3Error):
            raise
        logger.warning("object store failed: %s", error)
        raise OSError(errno.EIO, f"object store: {_failure_kind(error)}") from error


def _failure_kind(error: Exception) -> str:
    """The S3 error code of a refusal (NoSuchBucket, AccessDenied, SlowDown), or "unreachable"."""
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as ClientConnectionError

    cause = (error.__cause__ or error.__context__) if isinstance(error, Boto3Error) else error  # a failed upload's
    if isinstance(cause, ClientError):
        return str(cause.response.get("Error", {}).get("Code") or "refused")
    if isinstance(cause, ClientConnectionError | HTTPClientError):
        return "unreachable"
    return type(error).__name__
