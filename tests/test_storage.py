"""The storage under DICOM objects: written once, whole and flushed, or not at all."""

import os
import stat
import threading
from pathlib import Path

import pytest

from imaging.storage import AtomicFileSystemStorage

KEY = "dicom/1.2/1.2.3/1.2.3.4.0123456789abcdef.dcm"


@pytest.fixture
def storage(tmp_path: Path) -> AtomicFileSystemStorage:
    return AtomicFileSystemStorage(location=str(tmp_path))


def test_it_writes_a_new_file_whole_and_private(storage: AtomicFileSystemStorage, tmp_path: Path) -> None:
    assert storage.write_once(KEY, b"DICM" * 1000) is True
    path = tmp_path / KEY
    assert path.read_bytes() == b"DICM" * 1000
    assert stat.S_IMODE(path.stat().st_mode) & 0o007 == 0


def test_it_keeps_a_file_that_holds_the_same_bytes(storage: AtomicFileSystemStorage, tmp_path: Path) -> None:
    storage.write_once(KEY, b"same")
    before = (tmp_path / KEY).stat().st_mtime_ns
    assert storage.write_once(KEY, b"same") is False
    assert (tmp_path / KEY).stat().st_mtime_ns == before


def test_it_rewrites_what_a_crash_left_half_written(storage: AtomicFileSystemStorage, tmp_path: Path) -> None:
    path = tmp_path / KEY
    path.parent.mkdir(parents=True)
    path.write_bytes(b"half")
    assert storage.write_once(KEY, b"half and the rest") is True
    assert path.read_bytes() == b"half and the rest"


def test_it_removes_its_file_when_the_write_fails(
    storage: AtomicFileSystemStorage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fails_halfway(fd: int, content: bytes) -> None:
        os.write(fd, content[:2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("imaging.storage._write_all", fails_halfway)
    with pytest.raises(OSError, match="No space"):
        storage.write_once(KEY, b"abcdef")
    assert not (tmp_path / KEY).exists()


def test_it_leaves_one_whole_file_when_many_write_the_same_key(
    storage: AtomicFileSystemStorage, tmp_path: Path
) -> None:
    content = os.urandom(1 << 20)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            storage.write_once(KEY, content)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert (tmp_path / KEY).read_bytes() == content
    assert [p.name for p in (tmp_path / KEY).parent.iterdir()] == [Path(KEY).name]
