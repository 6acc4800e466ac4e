"""Where DICOM objects and renders live: Django's storage API, written atomically.

Keys name what they hold. A DICOM object is stored under
`dicom/<study>/<series>/<sop>.<sha256 prefix>.dcm`, so different bytes under one
SOPInstanceUID can never overwrite each other and two writers of the same bytes
write the same file.
"""

import fcntl
import io
import mmap
import os
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any

from django.core.files.base import File
from django.core.files.storage import FileSystemStorage, storages

# An object's bytes, or a file mapped into memory (STOW-RS parts are).
Content = bytes | mmap.mmap
# A multiple of the page size: madvise takes page-aligned offsets.
CHUNK = 1024 * 1024


def dicom_key(study_uid: str, series_uid: str, sop_uid: str, sha256: str) -> str:
    return f"dicom/{study_uid}/{series_uid}/{sop_uid}.{sha256[:16]}.dcm"


class AtomicFileSystemStorage(FileSystemStorage):
    """A filesystem storage whose files appear whole or not at all.

    Content goes to a temporary file in the target directory, is flushed to disk,
    then linked into place; `os.link` fails when the name exists, so a file is
    never overwritten and a reader never sees half of one. A name that exists is
    kept, not renamed: keys are deterministic and the caller decides.
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
        the listener flushes it while the index statement runs (`imaging.flushing`).

        A DICOM object's file is created under its key and written under an
        exclusive lock, then flushed: one journal commit, where a temporary file
        and a link take two. The key is not yet in the index, so nobody reads it
        half-written; whoever finds the file there takes the lock (so waits for
        its writer), compares, and rewrites what a crash left incomplete.

        The directory is not flushed as well: on Linux's journaling filesystems
        (ext4, XFS, btrfs) the fsync of a new file also makes durable its
        directory entry and the directories made for it, which were journaled
        before it. That second flush cost ~0.15 ms of every C-STORE.
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
    try:  # another storage (S3): a PUT is atomic, and keys name their content
        if storage.exists(name):
            return False
        # A mapped file is copied here: the object-store path is not yet bounded in memory.
        storage.save(name, File(io.BytesIO(content)))
        return True
    except FileExistsError:
        return False


def flushes_later() -> bool:
    """Whether the default storage can write a file now and flush it later (a local filesystem can)."""
    return isinstance(storages["default"], AtomicFileSystemStorage)


def replace_durably(name: str, content: bytes) -> None:
    """A new, flushed file holding `content` under `name` in the default (local) storage."""
    storage = storages["default"]
    if not isinstance(storage, AtomicFileSystemStorage):
        raise TypeError("only a local filesystem storage flushes files later")
    storage.replace_durably(name, content)


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
