"""Large C-STORE objects go to disk as they arrive, and a full disk is an 0xA700 that loses nothing.

The listener runs as `manage.py dicom_listener` in its own process; objects of
hundreds of MB are written in code a frame at a time and sent by pynetdicom
from the file (chunked) or by DCMTK's storescu. Full disks are real: small
tmpfs mounts over the storage or spool folder (root only; CI runs as root).
"""

import contextlib
import hashlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pynetdicom import AE
from pynetdicom import _config as pynetdicom_config

from imaging import synthetic
from imaging.models import Hospital, Instance
from tests.support.dicom import ct_bytes, stored_files, study_spec
from tests.support.services import require
from tests.support.workers import wait_for
from tests.test_dicom_listener import CALLING, start_listener

pytestmark = [pytest.mark.dcmtk, pytest.mark.usefixtures("require_dcmtk")]

MIB = 1024 * 1024
FRAME = 512 * 512 * 2


@pytest.fixture
def spool_dir(storage_root: Path) -> Path:
    """Where `tests.support.processes.subprocess_env` points the listener's DICOM_SPOOL_DIR."""
    return storage_root.parent / "dicom-spool"


@pytest.fixture
def chunked_sends(monkeypatch: pytest.MonkeyPatch) -> None:
    """pynetdicom sends a file from disk as it is, a PDU at a time, instead of decoding it first."""
    monkeypatch.setattr(pynetdicom_config, "STORE_SEND_CHUNKED_DATASET", True)


def large_object(folder: Path, key: str, megabytes: int) -> Path:
    return synthetic.write_large_multiframe(folder / f"{key}.dcm", study_spec(key), frames=megabytes * MIB // FRAME)


def store(port: int, paths: list[Path]) -> list[tuple[int, str]]:
    """C-STORE each file over one association: (status, error comment) each."""
    ae = AE(ae_title=CALLING)
    ae.add_requested_context(synthetic.CT_IMAGE, "1.2.840.10008.1.2.1")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 120
    assoc = ae.associate("127.0.0.1", port, ae_title="REGION")
    assert assoc.is_established
    answers = []
    try:
        for path in paths:
            reply = assoc.send_c_store(path)
            answers.append((int(reply.Status), str(reply.get("ErrorComment", ""))) if reply else (-1, "no answer"))
    finally:
        assoc.release()
    return answers


def dataset_sha256(path: Path) -> str:
    """SHA-256 of a Part 10 file's dataset (after its file meta, which the listener writes anew)."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        head = file.read(144)
        assert head[128:132] == b"DICM"
        file.seek(144 + int.from_bytes(head[140:144], "little"))
        while chunk := file.read(MIB):
            digest.update(chunk)
    return digest.hexdigest()


def kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


def test_it_stores_a_large_object_byte_for_byte_in_bounded_memory(
    transactional_db: None, hospital: Hospital, storage_root: Path, spool_dir: Path, tmp_path: Path, chunked_sends: None
) -> None:
    """A 256 MiB multi-frame raised a listener process by about twice its size; now by a few PDUs."""
    sent = large_object(tmp_path, "large", 256)
    listener = start_listener(storage_root, processes=1)
    try:
        pid = listener.process.pid
        idle = kib(pid, "VmRSS")
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM counts from here
        assert store(listener.port, [sent]) == [(0, "")]
        peak = kib(pid, "VmHWM")
    finally:
        assert listener.stop() == 0
    assert (peak - idle) * 1024 < 96 * MIB, f"RSS rose {(peak - idle) // 1024} MiB for a 256 MiB object"
    [stored] = stored_files(storage_root)
    assert dataset_sha256(stored) == dataset_sha256(sent)
    assert Instance.objects.get().size_bytes == stored.stat().st_size
    assert list(spool_dir.iterdir()) == []


def test_it_drops_the_spooled_part_of_an_object_whose_sender_dies(
    transactional_db: None, hospital: Hospital, storage_root: Path, spool_dir: Path, tmp_path: Path
) -> None:
    sent = large_object(tmp_path, "cut", 512)
    listener = start_listener(storage_root, processes=1)
    try:
        command = ["storescu", "-aet", CALLING, "-aec", "REGION", "--max-send-pdu", "16384"]
        sender = subprocess.Popen([*command, "127.0.0.1", str(listener.port), str(sent)])
        wait_for(lambda: any(spool_dir.glob("c-store-*")), timeout=60)
        sender.send_signal(signal.SIGKILL)
        sender.wait(timeout=10)
        wait_for(lambda: not any(spool_dir.iterdir()), timeout=30)
        assert listener.process.poll() is None
    finally:
        assert listener.stop() == 0
    assert Instance.objects.count() == 0
    assert stored_files(storage_root) == []


def test_it_removes_at_start_what_a_killed_listener_was_receiving(
    transactional_db: None, hospital: Hospital, storage_root: Path, spool_dir: Path
) -> None:
    spool_dir.mkdir(parents=True)
    gone = subprocess.Popen(["true"])
    gone.wait()
    orphan = spool_dir / f"c-store-{gone.pid}-abc123"
    orphan.write_bytes(b"half an object")
    living = spool_dir / f"c-store-{os.getpid()}-def456"  # a process that still runs keeps its file
    living.write_bytes(b"an object arriving")
    zombie = subprocess.Popen(["true"])  # dead, not reaped: as a killed listener's children may stay
    wait_for(lambda: Path(f"/proc/{zombie.pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z")
    unreaped = spool_dir / f"c-store-{zombie.pid}-ghi789"
    unreaped.write_bytes(b"half of another")
    listener = start_listener(storage_root, processes=1)
    assert listener.stop() == 0
    zombie.wait()
    assert not orphan.exists()
    assert not unreaped.exists()
    assert living.exists()


# ------------------------------------------------------------------ full disks


@pytest.fixture
def can_mount() -> None:
    require(os.geteuid() == 0, "root, to mount a small tmpfs as a full disk")


@contextlib.contextmanager
def small_filesystem(folder: Path, megabytes: int) -> Iterator[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def resize(folder: Path, megabytes: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={megabytes}m", str(folder)], check=True)


def fill(folder: Path) -> Path:
    """Take every free byte of the filesystem under `folder`."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (MIB, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


def objects(folder: Path) -> list[Path]:
    """A journaled small object, an object held in memory, and one spooled to disk."""
    (folder / "small.dcm").write_bytes(ct_bytes(study=study_spec("full-small"), size=64))
    return [folder / "small.dcm", large_object(folder, "full-memory", 2), large_object(folder, "full-spooled", 12)]


def test_it_answers_a700_on_a_full_storage_volume_and_stores_again_when_space_returns(
    can_mount: None,
    transactional_db: None,
    hospital: Hospital,
    storage_root: Path,
    tmp_path: Path,
    chunked_sends: None,
) -> None:
    paths = objects(tmp_path)
    with small_filesystem(storage_root, 64):
        filler = fill(storage_root)
        listener = start_listener(storage_root, processes=1)
        try:
            refused = store(listener.port, paths)
            assert [status for status, _ in refused] == [0xA700] * 3
            assert all("No space left on device" in comment for _, comment in refused), refused
            assert Instance.objects.count() == 0
            assert stored_files(storage_root) == []
            filler.unlink()
            assert store(listener.port, paths) == [(0, "")] * 3
        finally:
            assert listener.stop() == 0
        stored = {dataset_sha256(path) for path in stored_files(storage_root)}
    assert stored == {dataset_sha256(path) for path in paths}
    assert Instance.objects.count() == 3


def test_it_answers_a700_when_the_spool_is_full_and_goes_on_with_the_association(
    can_mount: None,
    transactional_db: None,
    hospital: Hospital,
    storage_root: Path,
    spool_dir: Path,
    tmp_path: Path,
    chunked_sends: None,
) -> None:
    """The rest of a refused object is read and dropped, so the next message on the association is served."""
    small, in_memory, spooled = objects(tmp_path)
    with small_filesystem(spool_dir, 4):
        listener = start_listener(storage_root, processes=1)
        try:
            answers = store(listener.port, [spooled, small, in_memory])
            assert answers == [(0xA700, "cannot spool the object: No space left on device"), (0, ""), (0, "")]
            assert list(spool_dir.iterdir()) == []
            resize(spool_dir, 32)
            assert store(listener.port, [spooled]) == [(0, "")]
        finally:
            assert listener.stop() == 0
    assert Instance.objects.count() == 3
    assert {dataset_sha256(path) for path in stored_files(storage_root)} == {
        dataset_sha256(path) for path in (small, in_memory, spooled)
    }
