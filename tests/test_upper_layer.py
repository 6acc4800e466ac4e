"""The listener's Upper Layer and DIMSE, in process, against pynetdicom as the requestor."""

import contextlib
import hashlib
import io
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    RLELossless,
)
from pynetdicom import AE, build_context, evt
from pynetdicom.association import Association as Requestor
from pynetdicom.events import Event
from pynetdicom.pdu import A_ASSOCIATE_AC, A_ASSOCIATE_RQ
from pynetdicom.pdu_primitives import A_ASSOCIATE, ImplementationClassUIDNotification, MaximumLengthNotification
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from imaging import synthetic
from imaging.listener import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    TRANSFER_SYNTAXES,
    AcceptorSettings,
    Association,
    Message,
    Server,
    file_prefix,
    presentation_context,
    received_file,
)
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
    acse_timeout: float = 30.0,
    max_connections_per_address: int = 32,
    max_unauthenticated: int = 64,
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
        acse_timeout=acse_timeout,
        max_connections_per_address=max_connections_per_address,
        max_unauthenticated=max_unauthenticated,
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


def part10_without_implementation(data: bytes) -> tuple[dict[str, str], bytes]:
    """A Part 10 file's meta (less who wrote it: ours names this project, pynetdicom's itself) and its dataset bytes."""
    group_end = 132 + 12 + struct.unpack_from("<I", data, 140)[0]
    meta = pydicom.dcmread(io.BytesIO(data)).file_meta
    writer = ("FileMetaInformationGroupLength", "ImplementationClassUID", "ImplementationVersionName")
    kept = {e.keyword: str(e.value) for e in meta if e.keyword not in writer}
    return kept, data[group_end:]


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
        assert [part10_without_implementation(f) for f in running.services.files] == [
            part10_without_implementation(f) for f in theirs
        ]
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


def test_it_leaves_the_next_connection_to_a_sibling_while_one_is_associated() -> None:
    """Two senders that start together: the second must not land on the process that took the first."""
    with run_server(shared=True) as running:
        running.server.busy_delay = running.server.longest_pause = 2.0
        with raw_associate(running.port) as first:
            assert read_pdu(first)[:1] == b"\x02"  # A-ASSOCIATE-AC
            assert wait_for(lambda: running.server.busy_count() == 1, timeout=5)
            with socket.create_connection(("127.0.0.1", running.port)):
                time.sleep(0.5)
                assert running.server.open_count() == 1  # a sibling process has time to take it
                assert wait_for(lambda: running.server.open_count() == 2, timeout=5)  # none did: this one does


def test_it_leaves_the_next_connection_to_a_sibling_while_one_was_just_accepted() -> None:
    """Two senders that start together: the second comes before the first's A-ASSOCIATE-RQ is read."""
    with run_server(shared=True) as running:
        running.server.busy_delay = running.server.longest_pause = running.server.fresh_window = 2.0
        with socket.create_connection(("127.0.0.1", running.port)):  # associates not yet
            assert wait_for(lambda: running.server.open_count() == 1, timeout=5)
            with socket.create_connection(("127.0.0.1", running.port)):
                time.sleep(0.5)
                assert running.server.open_count() == 1  # a sibling process has time to take it
                assert wait_for(lambda: running.server.open_count() == 2, timeout=5)  # none did: this one does


# ---------------------------------------------------------------- association details (issue 16 point 9)


@pytest.mark.parametrize(
    ("proposed", "accepted"),
    [
        ([JPEGBaseline8Bit, ExplicitVRLittleEndian, ImplicitVRLittleEndian], JPEGBaseline8Bit),
        ([JPEG2000Lossless, ExplicitVRLittleEndian], JPEG2000Lossless),
        ([DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian], DeflatedExplicitVRLittleEndian),
        ([ExplicitVRBigEndian, ExplicitVRLittleEndian], ExplicitVRBigEndian),
        ([ImplicitVRLittleEndian, ExplicitVRLittleEndian], ExplicitVRLittleEndian),
        ([ImplicitVRLittleEndian], ImplicitVRLittleEndian),
        (["1.2.3.4.5.6", RLELossless], RLELossless),
    ],
)
def test_it_accepts_the_senders_first_proposal_that_it_supports(
    acceptor: Running, proposed: list[str], accepted: str
) -> None:
    ae = AE(ae_title=CALLING)
    ae.add_requested_context(synthetic.CT_IMAGE, proposed)
    assoc = ae.associate("127.0.0.1", acceptor.port, ae_title="REGION")
    try:
        assert assoc.is_established
        assert [str(cx.transfer_syntax[0]) for cx in assoc.accepted_contexts] == [accepted]
    finally:
        assoc.release()


def raw_associate(port: int) -> socket.socket:
    """A requestor written by hand: associated for Verification, with nothing between us and the bytes."""
    peer = socket.create_connection(("127.0.0.1", port), timeout=10)
    peer.sendall(associate_request())
    return peer


def associate_request() -> bytes:
    """An A-ASSOCIATE-RQ from CALLING to REGION for Verification, as bytes."""
    primitive = A_ASSOCIATE()
    primitive.application_context_name = "1.2.840.10008.3.1.1.1"
    primitive.calling_ae_title, primitive.called_ae_title = CALLING, "REGION"
    context = build_context(Verification)
    context.context_id = 1
    primitive.presentation_context_definition_list = [context]
    maximum = MaximumLengthNotification()
    maximum.maximum_length_received = 16384
    implementation = ImplementationClassUIDNotification()
    implementation.implementation_class_uid = "1.2.826.0.1.3680043.9.9999"
    primitive.user_information = [maximum, implementation]
    request = A_ASSOCIATE_RQ()
    request.from_primitive(primitive)
    return bytes(request.encode())


def read_pdu(peer: socket.socket) -> bytes:
    header = b""
    while len(header) < 6:
        header += peer.recv(6 - len(header))
    (length,) = struct.unpack(">I", header[2:])
    body = b""
    while len(body) < length:
        body += peer.recv(length - len(body))
    return header + body


def test_it_aborts_a_release_that_comes_in_the_middle_of_a_message(acceptor: Running) -> None:
    with raw_associate(acceptor.port) as peer:
        assert read_pdu(peer)[:1] == b"\x02"  # A-ASSOCIATE-AC
        command_start = struct.pack(">IBB", 2 + 4, 1, 0x01) + b"\x00\x00\x00\x00"  # a command fragment, not the last
        peer.sendall(struct.pack(">BBI", 0x04, 0, len(command_start)) + command_start)
        peer.sendall(struct.pack(">BBI", 0x05, 0, 4) + b"\x00" * 4)  # A-RELEASE-RQ
        assert read_pdu(peer)[:1] == b"\x07"  # A-ABORT, not A-RELEASE-RP (PS3.8 9.3.6)


def test_it_names_itself_with_its_own_implementation_class_uid(acceptor: Running) -> None:
    with raw_associate(acceptor.port) as peer:
        answer = A_ASSOCIATE_AC()
        answer.decode(read_pdu(peer))
        items = answer.to_primitive().user_information
    names = {type(item).__name__: item for item in items}
    assert names["ImplementationClassUIDNotification"].implementation_class_uid == IMPLEMENTATION_CLASS_UID
    assert names["ImplementationVersionNameNotification"].implementation_version_name == IMPLEMENTATION_VERSION_NAME
    assert store(acceptor.port, ct_slice(), ExplicitVRLittleEndian) == 0x0000
    meta = pydicom.dcmread(io.BytesIO(acceptor.services.files[0])).file_meta
    assert (meta.ImplementationClassUID, meta.ImplementationVersionName) == (
        IMPLEMENTATION_CLASS_UID,
        IMPLEMENTATION_VERSION_NAME,
    )
