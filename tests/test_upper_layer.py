"""The listener's Upper Layer and DIMSE, in process, against pynetdicom as the requestor."""

import contextlib
import hashlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.association import Association as Requestor
from pynetdicom.events import Event
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from imaging import synthetic
from imaging.dimse import TRANSFER_SYNTAXES, file_prefix, received_file
from imaging.upper_layer import AcceptorSettings, Association, Message, Server, presentation_context
from tests.support.dicom import ct_slice
from tests.support.processes import free_port
from tests.support.workers import wait_for

CALLING = "CITY1_PACS"


@dataclass
class RecordingServices:
    """Services that keep what arrives and answer with a chosen status."""

    status: int = 0x0000
    files: list[bytes] = field(default_factory=list)
    digests: list[str | None] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)

    def accepts_calling(self, association: Association) -> bool:
        return association.calling_ae_title == CALLING

    def store(self, association: Association, message: Message) -> tuple[int, str]:
        self.files.append(received_file(message))
        self.digests.append(message.digest.hexdigest() if message.digest is not None else None)
        return self.status, "not today" if self.status else ""

    def commit(self, association: Association, request: Dataset) -> tuple[int, Dataset | None]:
        return 0x0000, None

    def deliver_report_elsewhere(self, association: Association, report: Dataset, event_type: int) -> None:
        raise AssertionError("no report in these tests")

    def association_ended(self, association: Association) -> None:
        self.ended.append(association.calling_ae_title)


@dataclass
class Running:
    port: int
    services: RecordingServices
    server: Server


@contextlib.contextmanager
def run_server(
    max_pdu: int = 262144,
    max_associations: int = 10,
    network_timeout: float = 60,
    shared: bool = False,
    file_prefix: Callable[[Message], bytes] | None = None,
) -> Iterator[Running]:
    services = RecordingServices()
    contexts = [presentation_context(syntax, TRANSFER_SYNTAXES) for syntax in (synthetic.CT_IMAGE, Verification)]
    settings = AcceptorSettings(
        "REGION",
        max_pdu,
        contexts,
        max_associations=max_associations,
        network_timeout=network_timeout,
        file_prefix=file_prefix,
    )
    sock = socket.create_server(("127.0.0.1", 0))
    sock.setblocking(False)
    server = Server(sock, settings, services, shared=shared)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Running(sock.getsockname()[1], services, server)
    finally:
        server.shutdown()
        server.abort_all()
        sock.close()


@pytest.fixture
def acceptor() -> Iterator[Running]:
    with run_server() as running:
        yield running


def associate(
    port: int, calling: str = CALLING, called: str = "REGION", syntax: str = "1.2.840.10008.1.2.1"
) -> Requestor:
    ae = AE(ae_title=calling)
    ae.add_requested_context(synthetic.CT_IMAGE, syntax)
    ae.add_requested_context(Verification)
    return ae.associate("127.0.0.1", port, ae_title=called)


@pytest.fixture
def pynetdicom_scp() -> Iterator[tuple[int, list[bytes]]]:
    """pynetdicom's own Storage SCP, recording the dataset of each C-STORE as it encodes it."""
    received: list[bytes] = []

    def on_store(event: Event) -> int:
        received.append(event.encoded_dataset())
        return 0x0000

    ae = AE(ae_title="REGION")
    ae.add_supported_context(synthetic.CT_IMAGE, TRANSFER_SYNTAXES)
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    yield port, received
    assert server is not None
    server.shutdown()


def store(port: int, ds: Dataset, syntax: str) -> int:
    assoc = associate(port, syntax=syntax)
    assert assoc.is_established
    try:
        return int(assoc.send_c_store(ds).Status)
    finally:
        assoc.release()


@pytest.mark.parametrize("syntax", ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"])
def test_it_receives_the_same_part10_file_as_pynetdicom_over_many_fragments(
    pynetdicom_scp: tuple[int, list[bytes]], syntax: str
) -> None:
    port, theirs = pynetdicom_scp
    ds = ct_slice(number=3, size=64)  # 8 KiB of pixels: 9 fragments at a maximum PDU of 1 KiB
    with run_server(max_pdu=1024) as running:
        assert store(running.port, ds, syntax) == 0x0000
        assert store(port, ds, syntax) == 0x0000
        assert running.services.files == theirs
        assert running.services.ended == [CALLING]


def test_it_hashes_the_file_as_its_fragments_arrive() -> None:
    ds = ct_slice(number=4, size=64)
    with run_server(max_pdu=1024, file_prefix=file_prefix) as hashing, run_server(max_pdu=1024) as plain:
        assert store(hashing.port, ds, "1.2.840.10008.1.2.1") == 0x0000
        assert store(plain.port, ds, "1.2.840.10008.1.2.1") == 0x0000
    assert hashing.services.files == plain.services.files  # the same file, prefix made once
    assert hashing.services.digests == [hashlib.sha256(hashing.services.files[0]).hexdigest()]
    assert plain.services.digests == [None]


def test_it_answers_c_echo_and_sends_the_store_status_with_its_comment(acceptor: Running) -> None:
    acceptor.services.status = 0xA700
    assoc = associate(acceptor.port)
    try:
        assert assoc.send_c_echo().Status == 0x0000
        reply = assoc.send_c_store(ct_slice())
    finally:
        assoc.release()
    assert (reply.Status, reply.ErrorComment) == (0xA700, "not today")


@pytest.mark.parametrize(("calling", "called"), [("STRANGER", "REGION"), (CALLING, "ELSEWHERE")])
def test_it_rejects_an_unknown_calling_or_wrong_called_ae_title(acceptor: Running, calling: str, called: str) -> None:
    assoc = associate(acceptor.port, calling=calling, called=called)
    assert assoc.is_rejected
    assert acceptor.services.ended == []


def test_it_rejects_an_association_over_its_limit_as_transient() -> None:
    with run_server(max_associations=1) as running:
        first = associate(running.port)
        try:
            assert first.is_established
            second = associate(running.port)
            assert second.is_rejected
        finally:
            first.release()


def test_it_aborts_a_peer_that_sends_garbage_and_keeps_serving(acceptor: Running) -> None:
    with socket.create_connection(("127.0.0.1", acceptor.port), timeout=10) as peer:
        peer.sendall(struct.pack(">BBI", 0x04, 0, 4) + b"\0\0\0\0")  # P-DATA before any association
        assert peer.recv(16)[:1] == b"\x07"  # A-ABORT
    assoc = associate(acceptor.port)
    assert assoc.is_established
    assoc.release()


def test_it_aborts_an_idle_association_after_the_network_timeout() -> None:
    with run_server(network_timeout=0.5) as running:
        assoc = associate(running.port)
        assert assoc.is_established
        assert wait_for(lambda: assoc.is_aborted, timeout=10)
        assert running.services.ended == [CALLING]


def test_it_leaves_the_next_connection_to_a_sibling_while_one_is_still_negotiating() -> None:
    """Two senders that start together: the second must not land on the process that took the first,
    even before the first has sent its A-ASSOCIATE-RQ."""
    with run_server(shared=True) as running:
        running.server.busy_delay = 2.0
        with socket.create_connection(("127.0.0.1", running.port)):  # associates not yet
            assert wait_for(lambda: running.server.open_count() == 1, timeout=5)
            with socket.create_connection(("127.0.0.1", running.port)):
                time.sleep(0.5)
                assert running.server.open_count() == 1  # a sibling process has time to take it
                assert wait_for(lambda: running.server.open_count() == 2, timeout=5)  # none did: this one does
