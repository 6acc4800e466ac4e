"""manage.py dicom_listener against DCMTK's echoscu and storescu, and pynetdicom SCUs."""

import contextlib
import hashlib
import io
import os
import re
import signal
import subprocess
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, build_role, evt
from pynetdicom import _config as pynetdicom_config
from pynetdicom.sop_class import _STORAGE_CLASSES, StorageCommitmentPushModel

from imaging import synthetic
from imaging.ingest import ingest_instance
from imaging.models import Hospital, IngestConflict, Instance, Render, RenderStatus, Series, Study, UnflushedFile
from imaging.rendering import RenderSpec, middle_instance
from tests.support.dicom import bundled_files, ct_bytes, ct_slice, stored_files, study_spec
from tests.support.processes import (
    free_port,
    manage_process,
    output_of,
    shared_database_url,
    subprocess_env,
    wait_for_port,
)
from tests.support.tcp_proxy import TcpProxy
from tests.support.unflushed import store_with_failing_flush
from tests.support.workers import wait_for

pytestmark = [pytest.mark.dcmtk, pytest.mark.usefixtures("require_dcmtk")]

MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"

CALLING = "CITY1_PACS"
TRANSFER_SYNTAX_FLAG = {
    "1.2.840.10008.1.2": "-xi",
    "1.2.840.10008.1.2.1": "-xe",
    "1.2.840.10008.1.2.2": "-xb",
    "1.2.840.10008.1.2.1.99": "-xd",
    "1.2.840.10008.1.2.4.50": "-xy",
    "1.2.840.10008.1.2.4.51": "-xx",
    "1.2.840.10008.1.2.4.70": "-xs",
    "1.2.840.10008.1.2.4.80": "-xt",
    "1.2.840.10008.1.2.4.81": "-xu",
    "1.2.840.10008.1.2.4.90": "-xv",
    "1.2.840.10008.1.2.4.91": "-xw",
    "1.2.840.10008.1.2.5": "-xr",
}


@dataclass
class Listener:
    port: int
    process: subprocess.Popen[str]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=60)
        if code != 0:
            print(output_of(self.process))
        return code


def start_listener(
    storage_root: Path,
    database_url: str | None = None,
    processes: int = 2,
    flags: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> Listener:
    port = free_port()
    process = manage_process(
        ["dicom_listener", "--port", str(port), "--processes", str(processes), "--ae-title", "REGION", *flags],
        {**subprocess_env(storage_root, database_url), **(env or {})},
    )
    wait_for_port(port, process)
    # The port answers as soon as the parent opens it; wait for every process.
    wait_for(lambda: output_of(process).count(" accepting\n") >= processes, timeout=30)
    return Listener(port, process)


@pytest.fixture
def listener(transactional_db: None, hospital: Hospital, storage_root: Path) -> Iterator[Listener]:
    running = start_listener(storage_root)
    yield running
    assert running.stop() == 0


def dcmtk(tool: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "TCP_NODELAY": "1"},
        check=False,
    )


def storescu(listener: Listener, *options: str, path: Path) -> subprocess.CompletedProcess[str]:
    return dcmtk(
        "storescu", "-d", "-aet", CALLING, "-aec", "REGION", *options, "127.0.0.1", str(listener.port), str(path)
    )


def store_response(result: subprocess.CompletedProcess[str]) -> tuple[int, str]:
    """The DIMSE status and error comment of storescu's (debug) report of a C-STORE.

    (-1, why) when storescu could not read the file and sent nothing.
    """
    status = re.search(r"DIMSE Status\s*: 0x([0-9a-f]{4})", result.stderr)
    if status is None:
        assert "Store Request" not in result.stderr, result.stderr[-2000:]
        return -1, result.stderr.strip().splitlines()[-1]
    comment = re.search(r"\(0000,0902\) LO \[(.*?)\]", result.stderr)
    return int(status.group(1), 16), comment.group(1) if comment else ""


def dataset_bytes(data: bytes) -> bytes:
    """A Part 10 file's dataset, after the file meta group (PS3.10 7.1)."""
    assert data[128:132] == b"DICM"
    group_length = int.from_bytes(data[140:144], "little")
    return data[144 + group_length :]


def test_it_answers_echoscu(listener: Listener) -> None:
    result = dcmtk("echoscu", "-aet", CALLING, "-aec", "REGION", "127.0.0.1", str(listener.port))
    assert result.returncode == 0, result.stderr


def test_it_rejects_an_unknown_calling_ae_title_at_association(listener: Listener) -> None:
    result = dcmtk("echoscu", "-aet", "STRANGER", "-aec", "REGION", "127.0.0.1", str(listener.port))
    assert result.returncode != 0
    assert "Calling AE Title Not Recognized" in result.stderr


def test_it_rejects_a_wrong_called_ae_title_at_association(listener: Listener) -> None:
    result = dcmtk("echoscu", "-aet", CALLING, "-aec", "ELSEWHERE", "127.0.0.1", str(listener.port))
    assert result.returncode != 0
    assert "Called AE Title Not Recognized" in result.stderr


def bundled_storage_files() -> list[tuple[Path, str]]:
    """pydicom's bundled files with a storage SOP class, and the transfer syntax each is in."""
    storage_classes = set(_STORAGE_CLASSES.values())
    files = []
    for path in bundled_files():
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            syntax = str(ds.file_meta.TransferSyntaxUID)
        except Exception:  # noqa: S112 - unreadable files are the ingest tests' concern
            continue
        if ds.get("SOPClassUID") in storage_classes and syntax in TRANSFER_SYNTAX_FLAG and "SOPInstanceUID" in ds:
            files.append((path, syntax))
    return files


@pytest.fixture
def reference_scp(tmp_path: Path) -> Iterator[Listener]:
    """DCMTK's storescp in bit-preserving mode: it writes exactly what storescu sent."""
    port = free_port()
    folder = tmp_path / "reference"
    folder.mkdir()
    process = subprocess.Popen(
        ["storescp", "+B", "+xa", "-od", str(folder), "-aet", "REGION", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    wait_for_port(port, process)
    yield Listener(port, process)
    process.terminate()
    process.wait(timeout=10)


def sent_bytes(reference: Listener, folder: Path, path: Path, *options: str) -> bytes | None:
    """The dataset storescu puts on the wire for `path`, as DCMTK's storescp received it."""
    for old in folder.iterdir():
        old.unlink()
    storescu(reference, *options, path=path)
    received = list(folder.iterdir())
    return dataset_bytes(received[0].read_bytes()) if len(received) == 1 else None


@pytest.mark.slow
def test_it_stores_every_bundled_file_as_sent_or_refuses_it_with_the_right_status(
    listener: Listener, reference_scp: Listener, tmp_path: Path, storage_root: Path
) -> None:
    files = bundled_storage_files()
    assert len(files) > 80
    stored = refused = unsent = 0
    for path, syntax in files:
        status, comment = store_response(storescu(listener, TRANSFER_SYNTAX_FLAG[syntax], "-R", path=path))
        if status == -1:
            unsent += 1
            continue
        sop_uid = str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)
        if status == 0:
            stored += 1
            instance = Instance.objects.get(sop_uid=sop_uid)
            assert instance.transfer_syntax_uid == syntax, path.name
            file = (storage_root / instance.storage_key).read_bytes()
            assert instance.sha256 == hashlib.sha256(file).hexdigest(), path.name  # hashed as it arrived
            kept = dataset_bytes(file)
            sent = sent_bytes(reference_scp, tmp_path / "reference", path, TRANSFER_SYNTAX_FLAG[syntax], "-R")
            assert kept == sent, path.name
            continue
        refused += 1
        assert comment, path.name
        if status == 0xC211:  # a variant of a file sent before, under the same SOPInstanceUID
            assert Instance.objects.filter(sop_uid=sop_uid).exists(), path.name
            assert IngestConflict.objects.filter(sop_uid=sop_uid).exists(), path.name
        else:
            assert status in (0xC210, 0xA900), (path.name, hex(status), comment)
            assert not Instance.objects.filter(sop_uid=sop_uid).exists(), path.name
    assert stored > 60
    assert unsent < 10
    kept = set(Instance.objects.values_list("transfer_syntax_uid", flat=True))
    # compressed syntaxes arrive, and stay, as they were sent (RLE files share their SOP UIDs with
    # uncompressed variants sent earlier, so they come back as conflicts)
    assert {
        "1.2.840.10008.1.2",
        "1.2.840.10008.1.2.1",
        "1.2.840.10008.1.2.4.50",
        "1.2.840.10008.1.2.4.51",
        "1.2.840.10008.1.2.4.70",
        "1.2.840.10008.1.2.4.90",
    } <= kept
    assert listener.process.poll() is None
    assert refused == len(files) - stored - unsent


def test_it_refuses_an_object_without_patient_id_with_c210(listener: Listener, tmp_path: Path) -> None:
    ds = ct_slice()
    ds.PatientID = ""
    path = tmp_path / "no-patient.dcm"
    path.write_bytes(synthetic.to_bytes(ds))
    status, comment = store_response(storescu(listener, "-xe", path=path))
    assert status == 0xC210
    assert comment == "PatientID is missing or empty"
    assert Instance.objects.count() == 0


@pytest.mark.parametrize("named", ["MediaStorageSOPInstanceUID", "MediaStorageSOPClassUID"])
def test_it_refuses_a_dataset_that_names_another_object_than_its_command(
    listener: Listener, tmp_path: Path, storage_root: Path, monkeypatch: pytest.MonkeyPatch, named: str
) -> None:
    """pynetdicom sends a file as it is, its command naming what the file meta names: here not the dataset."""
    monkeypatch.setattr(pynetdicom_config, "STORE_SEND_CHUNKED_DATASET", True)
    ds = ct_slice(study=study_spec("lying"))
    path = tmp_path / "lying.dcm"
    ds = pydicom.dcmread(io.BytesIO(synthetic.to_bytes(ds)))
    other = {"MediaStorageSOPInstanceUID": "1.2.826.0.1.3680043.9.7777.1", "MediaStorageSOPClassUID": MR_IMAGE}[named]
    setattr(ds.file_meta, named, other)
    ds.save_as(path)  # as it is: enforce_file_format would make the file meta agree again
    ae = AE(ae_title=CALLING)
    ae.add_requested_context(synthetic.CT_IMAGE, "1.2.840.10008.1.2.1")
    ae.add_requested_context(MR_IMAGE, "1.2.840.10008.1.2.1")
    assoc = ae.associate("127.0.0.1", listener.port, ae_title="REGION")
    assert assoc.is_established
    try:
        reply = assoc.send_c_store(path)
    finally:
        assoc.release()
    assert int(reply.Status) == 0xA900
    assert (ds.SOPInstanceUID if "Instance" in named else ds.SOPClassUID) in reply.ErrorComment
    assert Instance.objects.count() == 0
    assert [p for p in stored_files(storage_root) if p.suffix == ".dcm"] == []


def encoded_study(count: int) -> list[Dataset]:
    study = study_spec("concurrent")
    return [ct_slice(study=study, number=n, size=32) for n in range(1, count + 1)]


def send(port: int, datasets: list[Dataset], statuses: list[int], calling: str = CALLING) -> None:
    ae = AE(ae_title=calling)
    ae.add_requested_context(synthetic.CT_IMAGE, "1.2.840.10008.1.2.1")
    assoc = ae.associate("127.0.0.1", port, ae_title="REGION")
    assert assoc.is_established
    try:
        for ds in datasets:
            reply = assoc.send_c_store(ds)
            statuses.append(int(reply.Status) if reply else -1)
    finally:
        assoc.release()


@pytest.mark.slow
def test_it_indexes_once_what_twenty_associations_send_at_once(
    listener: Listener, tmp_path: Path, storage_root: Path
) -> None:
    folder = tmp_path / "study"
    folder.mkdir()
    for number, ds in enumerate(encoded_study(50)):
        (folder / f"{number:03d}.dcm").write_bytes(synthetic.to_bytes(ds))
    command = ["storescu", "-aet", CALLING, "-aec", "REGION", "+sd", "127.0.0.1", str(listener.port), str(folder)]
    senders = [
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "TCP_NODELAY": "1"}
        )
        for _ in range(20)
    ]
    outputs = [sender.communicate(timeout=300)[0] for sender in senders]
    assert [sender.returncode for sender in senders] == [0] * 20, outputs
    assert not any("Store Failed" in output or "E:" in output for output in outputs), outputs
    assert Instance.objects.count() == 50
    study = Study.objects.get()
    assert (study.number_of_instances, study.number_of_series) == (50, 1)
    assert Series.objects.get().number_of_instances == 50
    assert IngestConflict.objects.count() == 0
    assert len(stored_files(storage_root)) == 50


def test_it_renders_a_series_sent_over_one_association_once_it_ends(listener: Listener, tmp_path: Path) -> None:
    # Renders run inline here (no broker). Per image, the thumbnail would follow
    # the series' middle image as it grew: a thumbnail for every other image.
    folder = tmp_path / "series"
    folder.mkdir()
    for number, ds in enumerate(encoded_study(8)):
        (folder / f"{number:03d}.dcm").write_bytes(synthetic.to_bytes(ds))
    result = dcmtk("storescu", "-aet", CALLING, "-aec", "REGION", "+sd", "127.0.0.1", str(listener.port), str(folder))
    assert result.returncode == 0, result.stderr
    series = Series.objects.get()
    images = list(Instance.objects.filter(series=series))
    thumbnails = Render.objects.filter(key__in=[RenderSpec.thumbnail().key(image) for image in images])
    previews = Render.objects.filter(key__in=[RenderSpec().key(image) for image in images])
    assert wait_for(lambda: previews.filter(status=RenderStatus.READY).count() == 8)
    assert wait_for(lambda: thumbnails.filter(status=RenderStatus.READY).exists())
    assert thumbnails.count() == 1
    assert thumbnails.get().instance == middle_instance(series.pk)


def test_it_serves_two_associations_at_once_on_two_processes(listener: Listener) -> None:
    ae = AE(ae_title=CALLING)
    ae.add_requested_context(synthetic.CT_IMAGE, "1.2.840.10008.1.2.1")
    associations = []
    try:
        for _ in range(2):
            assoc = ae.associate("127.0.0.1", listener.port, ae_title="REGION")
            assert assoc.is_established
            associations.append(assoc)
        client_ports = [assoc.dul.socket.socket.getsockname()[1] for assoc in associations]
        serving = {serving_process(listener, port) for port in client_ports}
        assert len(serving) == 2, serving
    finally:
        for assoc in associations:
            assoc.release()


def serving_process(listener: Listener, client_port: int) -> int:
    """The listener child that holds the connection from `client_port` (from /proc)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if int(local.split(":")[1], 16) == listener.port and int(remote.split(":")[1], 16) == client_port:
            inodes.add(f"socket:[{inode}]")
    pid = listener.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for child in children:
        for fd in Path(f"/proc/{child}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) in inodes:
                    return int(child)
    raise AssertionError(f"no listener process holds the connection from port {client_port}")


def test_it_reports_storage_commitment_on_the_same_association(listener: Listener) -> None:
    held = ct_slice(number=1)
    statuses: list[int] = []
    send(listener.port, [held], statuses)
    assert statuses == [0]
    reports: list[tuple[int, Dataset]] = []
    received = threading.Event()

    def on_report(event: evt.Event) -> tuple[int, None]:
        reports.append((event.request.EventTypeID, event.event_information))
        received.set()
        return 0, None

    ae = AE(ae_title=CALLING)
    ae.add_requested_context(StorageCommitmentPushModel)
    assoc = ae.associate(
        "127.0.0.1",
        listener.port,
        ae_title="REGION",
        ext_neg=[build_role(StorageCommitmentPushModel, scu_role=True, scp_role=True)],
        evt_handlers=[(evt.EVT_N_EVENT_REPORT, on_report)],
    )
    assert assoc.is_established
    request = Dataset()
    request.TransactionUID = synthetic.uid_for("transaction", 1)
    asked = []
    for uid in (held.SOPInstanceUID, synthetic.uid_for("never-sent")):
        item = Dataset()
        item.ReferencedSOPClassUID = synthetic.CT_IMAGE
        item.ReferencedSOPInstanceUID = uid
        asked.append(item)
    request.ReferencedSOPSequence = asked
    status, _ = assoc.send_n_action(request, 1, StorageCommitmentPushModel, "1.2.840.10008.1.20.1.1")
    assert status.Status == 0
    assert received.wait(timeout=10)
    assoc.release()
    event_type, information = reports[0]
    assert event_type == 2  # some failed
    assert information.TransactionUID == request.TransactionUID
    assert [i.ReferencedSOPInstanceUID for i in information.ReferencedSOPSequence] == [held.SOPInstanceUID]
    assert [i.FailureReason for i in information.FailedSOPSequence] == [0x0112]


@pytest.mark.slow
def test_it_drains_and_stops_cleanly_on_sigterm(
    transactional_db: None, hospital: Hospital, tmp_path: Path, storage_root: Path
) -> None:
    running = start_listener(storage_root, processes=1)
    folder = tmp_path / "ct"
    folder.mkdir()
    for number in range(1, 201):
        (folder / f"{number:04d}.dcm").write_bytes(synthetic.to_bytes(ct_slice(number=number, size=128)))
    sender = subprocess.Popen(
        ["storescu", "-aet", CALLING, "-aec", "REGION", "+sd", "127.0.0.1", str(running.port), str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "TCP_NODELAY": "1"},
    )
    while Instance.objects.count() < 20:
        assert sender.poll() is None
    assert running.stop() == 0
    sender.wait(timeout=60)
    instances = list(Instance.objects.all())
    assert 20 <= len(instances) < 200
    assert all((storage_root / i.storage_key).is_file() for i in instances)
    assert not [p for p in stored_files(storage_root) if p.name.startswith(".tmp-")]
    assert len(stored_files(storage_root)) == len(instances)
    assert UnflushedFile.objects.count() == 0  # every flush finished, and is known to have


def test_it_takes_out_of_the_index_at_start_up_what_a_crash_left_without_its_file(
    require_postgres: None,
    transactional_db: None,
    hospital: Hospital,
    storage_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
) -> None:
    from imaging.listener import FlushLedger

    settings.DICOM_JOURNAL_MAX_BYTES = 0  # flushed meanwhile: no bytes to write it from

    ledger = FlushLedger().start()
    ingest_instance(ct_bytes(number=1), hospital, ledger=ledger)
    store_with_failing_flush(hospital, ledger, monkeypatch, (2,))
    ledger.stop()
    lost = Instance.objects.get(instance_number=2)
    (storage_root / lost.storage_key).unlink()  # the crash: its flush never happened
    running = start_listener(storage_root, processes=1)
    try:
        assert list(Instance.objects.values_list("instance_number", flat=True)) == [1]
        assert UnflushedFile.objects.count() == 0
        assert "1 instances whose file was lost taken out of the index" in output_of(running.process)
        statuses: list[int] = []
        send(running.port, [ct_slice(number=2)], statuses)  # the sender's retry
        assert statuses == [0]
        assert Instance.objects.count() == 2
    finally:
        assert running.stop() == 0


@pytest.mark.slow
def test_it_answers_a700_while_the_database_is_down_and_recovers(
    require_postgres: None, transactional_db: None, hospital: Hospital, storage_root: Path
) -> None:
    proxy = TcpProxy("127.0.0.1", 5432)
    proxy.start()
    running = start_listener(storage_root, shared_database_url(port=proxy.port), processes=1)
    try:
        first, second = ct_slice(number=1), ct_slice(number=2)
        statuses: list[int] = []
        send(running.port, [first], statuses)
        proxy.cut()
        send(running.port, [second], statuses)
        assert statuses == [0, 0xA700]
        assert running.process.poll() is None
        proxy.restore()
        send(running.port, [second], statuses)
        assert statuses == [0, 0xA700, 0]
        assert Instance.objects.count() == 2
        assert len(stored_files(storage_root)) == 2
    finally:
        running.stop()
        proxy.cut()
