"""The region's DICOM listener: Storage, Verification and Storage Commitment SCP (pynetdicom).

Hospitals' PACS and modalities associate with the region's AE title; the calling
AE title says which hospital sends. Every C-STORE goes through
`imaging.ingest.ingest_instance` and is answered only after the file is durable
and the index transaction has committed (PS3.4 B.2.3 statuses):

    0x0000  stored, or an identical re-send
    0xA700  out of resources: storage or database unavailable, the sender retries
    0xA900  the dataset does not match the SOP class
    0xC210  the object cannot be decoded or lacks its identity
    0xC211  different bytes under a SOPInstanceUID the region holds (stored copy kept)
    0xC212  the object names a study the region holds for another patient
"""

import contextlib
import logging
import queue
import select
import socket
import struct
import threading
import time
from typing import Any

from django.db import DatabaseError, close_old_connections, connection
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    JPEG2000,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pynetdicom import (
    AE,
    PYNETDICOM_IMPLEMENTATION_UID,
    PYNETDICOM_IMPLEMENTATION_VERSION,
    AllStoragePresentationContexts,
    build_role,
    evt,
)
from pynetdicom import association as pynetdicom_association
from pynetdicom import dul as pynetdicom_dul
from pynetdicom.events import Event
from pynetdicom.sop_class import StorageCommitmentPushModel, Verification  # type: ignore[attr-defined]
from pynetdicom.transport import ThreadedAssociationServer

from imaging.ingest import IngestOutcome, IngestUnavailable, RejectionKind, ingest_instance
from imaging.models import Hospital, HospitalAETitle, Instance
from imaging.tasks import RenderBatch, batched_renders

logger = logging.getLogger(__name__)

# Explicit VR Little Endian first: a sender that offers both keeps its files as
# they are instead of converting them to Implicit VR on the way in.
TRANSFER_SYNTAXES = [
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    JPEG2000Lossless,
    JPEG2000,
    RLELossless,
]

STATUS_SUCCESS = 0x0000
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_SOP_CLASS_MISMATCH = 0xA900
STATUS_CANNOT_UNDERSTAND = 0xC210
STATUS_CONFLICT = 0xC211
STATUS_OTHER_PATIENT = 0xC212
STATUS_PROCESSING_FAILURE = 0x0110

STORAGE_COMMITMENT_INSTANCE = UID("1.2.840.10008.1.20.1.1")  # the well-known SOP instance
NO_SUCH_OBJECT_INSTANCE = 0x0112
CLASS_INSTANCE_CONFLICT = 0x0119

REJECTION_STATUS = {
    RejectionKind.UNREADABLE: STATUS_CANNOT_UNDERSTAND,
    RejectionKind.INVALID: STATUS_CANNOT_UNDERSTAND,
    RejectionKind.SOP_CLASS_MISMATCH: STATUS_SOP_CLASS_MISMATCH,
    RejectionKind.PATIENT_MISMATCH: STATUS_OTHER_PATIENT,
}


class HospitalDirectory:
    """Which hospital each calling AE title belongs to, reread every few seconds.

    When the database cannot be read, the last good map is kept, so a short
    database outage does not turn senders away at association.
    """

    def __init__(self, max_age: float = 5.0) -> None:
        self.max_age = max_age
        self._titles: dict[str, int] = {}
        self._hospitals: dict[int, Hospital] = {}
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    def refresh(self, force: bool = False) -> None:
        with self._lock:
            if not force and time.monotonic() - self._loaded_at < self.max_age:
                return
            try:
                rows = list(HospitalAETitle.objects.select_related("hospital"))
            except DatabaseError as error:
                logger.warning("cannot reread AE titles, keeping %d known: %s", len(self._titles), error)
                close_old_connections_now()
                return
            self._titles = {row.ae_title.strip(): row.hospital_id for row in rows}
            self._hospitals = {row.hospital_id: row.hospital for row in rows}
            self._loaded_at = time.monotonic()

    def titles(self) -> list[str]:
        self.refresh()
        return list(self._titles)

    def hospital(self, ae_title: str) -> Hospital | None:
        self.refresh()
        hospital_id = self._titles.get(ae_title.strip())
        return self._hospitals.get(hospital_id) if hospital_id is not None else None


def close_old_connections_now() -> None:
    """Drop a database connection that failed, so the next query reconnects."""
    with contextlib.suppress(DatabaseError):
        connection.close()


class RegionAE(AE):
    """An AE that accepts only the calling AE titles registered to a hospital."""

    def __init__(self, ae_title: str, directory: HospitalDirectory) -> None:
        super().__init__(ae_title=ae_title)
        self.directory = directory

    @property
    def require_calling_aet(self) -> list[str]:
        # An empty list would mean "accept anyone": never let it be empty.
        return self.directory.titles() or ["\0 no hospital is registered"]

    @require_calling_aet.setter
    def require_calling_aet(self, ae_titles: list[str]) -> None:
        raise AttributeError("calling AE titles come from the hospitals' registrations")


def build_ae(ae_title: str, directory: HospitalDirectory, max_pdu: int, max_associations: int) -> RegionAE:
    ae = RegionAE(ae_title, directory)
    ae.require_called_aet = True
    ae.maximum_pdu_size = max_pdu
    ae.maximum_associations = max_associations
    ae.network_timeout = 60
    ae.dimse_timeout = 60
    ae.acse_timeout = 30
    for context in AllStoragePresentationContexts:
        assert context.abstract_syntax is not None
        ae.add_supported_context(context.abstract_syntax, TRANSFER_SYNTAXES)
    ae.add_supported_context(Verification, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    ae.add_supported_context(
        StorageCommitmentPushModel, [ExplicitVRLittleEndian, ImplicitVRLittleEndian], scu_role=True, scp_role=True
    )
    return ae


class StoreHandlers:
    """The event handlers of one listener process, and its count of work in flight."""

    def __init__(self, directory: HospitalDirectory) -> None:
        self.directory = directory
        self.stopping = False
        self._in_flight = 0
        self._idle = threading.Condition()

    def handlers(self) -> list[Any]:
        return [
            (evt.EVT_C_ECHO, self.handle_echo),
            (evt.EVT_C_STORE, self.handle_store),
            (evt.EVT_N_ACTION, self.handle_commitment_request),
            (evt.EVT_CONN_CLOSE, self.handle_close),
        ]

    def handle_echo(self, event: Event) -> int:
        return STATUS_SUCCESS

    def handle_store(self, event: Event) -> Dataset:
        with self._idle:
            self._in_flight += 1
        try:
            return self._store(event)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def handle_close(self, event: Event) -> None:
        """However the association ended, the renders of what it stored are sent."""
        batch: RenderBatch | None = getattr(event.assoc, "efilm_renders", None)
        if batch is not None:
            batch.flush()

    def wait_until_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def _store(self, event: Event) -> Dataset:
        if self.stopping:
            return status(STATUS_OUT_OF_RESOURCES, "the listener is stopping; send again shortly")
        hospital = self.directory.hospital(event.assoc.requestor.ae_title)
        if hospital is None:  # the AE title was removed after association
            return status(STATUS_OUT_OF_RESOURCES, "the calling AE title is no longer registered")
        close_old_connections()
        try:
            with batched_renders(association_renders(event.assoc)):
                result = ingest_instance(received_file(event), hospital, source_name=f"C-STORE {hospital.code}")
        except IngestUnavailable as error:
            close_old_connections_now()
            logger.warning("C-STORE from %s refused for now: %s", hospital.code, error)
            return status(STATUS_OUT_OF_RESOURCES, str(error))
        except Exception as error:
            logger.exception("C-STORE from %s failed", hospital.code)
            return status(STATUS_PROCESSING_FAILURE, f"unexpected error: {type(error).__name__}")
        if result.ok:
            return status(STATUS_SUCCESS)
        if result.outcome == IngestOutcome.CONFLICT:
            return status(STATUS_CONFLICT, result.reason)
        request: Any = event.request
        if result.sop_uid and result.sop_uid != request.AffectedSOPInstanceUID:
            return status(STATUS_SOP_CLASS_MISMATCH, "SOPInstanceUID differs from the C-STORE request's")
        assert result.rejection is not None
        return status(REJECTION_STATUS[result.rejection], result.reason)

    def handle_commitment_request(self, event: Event) -> tuple[int, Dataset | None]:
        """Storage Commitment Push Model, N-ACTION (PS3.4 J.3.2): answer, then report."""
        request: Any = event.request
        if request.RequestedSOPClassUID != StorageCommitmentPushModel or request.ActionTypeID != 1:
            return 0x0123, None  # no such action
        information = event.action_information
        if "TransactionUID" not in information or "ReferencedSOPSequence" not in information:
            return 0x0120, None  # missing attribute
        hospital = self.directory.hospital(event.assoc.requestor.ae_title)
        close_old_connections()
        report = commitment_report(information, hospital)
        threading.Thread(target=send_commitment_report, args=(event.assoc, report), daemon=True).start()
        return STATUS_SUCCESS, None


def received_file(event: Event) -> bytes:
    """The C-STORE dataset as received, as a Part 10 file (PS3.10 7.1).

    The bytes of `event.encoded_dataset()`, whose file meta pydicom builds and
    writes at ~0.4 ms an image; these seven elements are simple enough to pack.
    """
    request: Any = event.request
    meta = b"".join(
        (
            b"\x02\x00\x01\x00OB\x00\x00\x02\x00\x00\x00\x00\x01",  # (0002,0001) version 00 01
            _meta_element(0x0002, b"UI", _uid_bytes(request.AffectedSOPClassUID)),
            _meta_element(0x0003, b"UI", _uid_bytes(request.AffectedSOPInstanceUID)),
            _meta_element(0x0010, b"UI", _uid_bytes(event.context.transfer_syntax)),
            _meta_element(0x0012, b"UI", _uid_bytes(PYNETDICOM_IMPLEMENTATION_UID)),
            _meta_element(0x0013, b"SH", _padded(PYNETDICOM_IMPLEMENTATION_VERSION.encode("ascii"), b" ")),
        )
    )
    group_length = b"\x02\x00\x00\x00UL\x04\x00" + len(meta).to_bytes(4, "little")
    return b"".join((b"\x00" * 128, b"DICM", group_length, meta, request.DataSet.getvalue()))


def _meta_element(element: int, vr: bytes, value: bytes) -> bytes:
    return struct.pack("<HH2sH", 0x0002, element, vr, len(value)) + value


def _uid_bytes(uid: str) -> bytes:
    return _padded(str(uid).encode("ascii", "replace")[:64], b"\0")


def _padded(value: bytes, pad: bytes) -> bytes:
    return value + pad if len(value) % 2 else value


def association_renders(assoc: Any) -> RenderBatch:
    """The association's render batch: one message per series, not two per image."""
    batch: RenderBatch | None = getattr(assoc, "efilm_renders", None)
    if batch is None:
        batch = assoc.efilm_renders = RenderBatch()
    return batch


def status(code: int, comment: str = "") -> Dataset:
    ds = Dataset()
    ds.Status = code
    if comment:
        ds.ErrorComment = comment.encode("ascii", "replace").decode()[:64]
    return ds


def commitment_report(information: Dataset, hospital: Hospital | None) -> Dataset:
    """The N-EVENT-REPORT information: what the region holds of what was asked (PS3.4 J.3.3)."""
    requested = [
        (str(item.ReferencedSOPClassUID), str(item.ReferencedSOPInstanceUID))
        for item in information.ReferencedSOPSequence
    ]
    held = dict(
        Instance.objects.filter(
            sop_uid__in=[uid for _, uid in requested], series__study__hospital=hospital
        ).values_list("sop_uid", "sop_class_uid")
    )
    report = Dataset()
    report.TransactionUID = information.TransactionUID
    committed, failed = Sequence(), Sequence()
    for class_uid, instance_uid in requested:
        item = Dataset()
        item.ReferencedSOPClassUID = class_uid
        item.ReferencedSOPInstanceUID = instance_uid
        if held.get(instance_uid) == class_uid:
            committed.append(item)
            continue
        item.FailureReason = CLASS_INSTANCE_CONFLICT if instance_uid in held else NO_SUCH_OBJECT_INSTANCE
        failed.append(item)
    if committed:
        report.ReferencedSOPSequence = committed
    if failed:
        report.FailedSOPSequence = failed
    return report


def send_commitment_report(assoc: Any, report: Dataset) -> None:
    """Send the result on the asking association, or on a new one to the asker's port."""
    event_type = 2 if "FailedSOPSequence" in report else 1
    # Let the asker take in the N-ACTION response first: a pynetdicom SCU sent
    # an event report right behind it sometimes mis-parses the pair.
    time.sleep(0.2)
    deadline = time.monotonic() + 2.0
    while assoc.is_established and time.monotonic() < deadline:
        try:
            reply = assoc.send_n_event_report(
                report, event_type, StorageCommitmentPushModel, STORAGE_COMMITMENT_INSTANCE
            )
            if reply and reply[0] is not None:
                return
        except (RuntimeError, ValueError) as error:
            logger.info("cannot report storage commitment on the same association: %s", error)
            break
        time.sleep(0.05)
    send_commitment_report_anew(assoc, report, event_type)


def send_commitment_report_anew(assoc: Any, report: Dataset, event_type: int) -> None:
    calling = assoc.requestor.ae_title.strip()
    close_old_connections()
    row = HospitalAETitle.objects.filter(ae_title=calling).first()
    if row is None or row.commitment_port is None:
        logger.warning("storage commitment for %s not delivered: no commitment port registered", calling)
        return
    ae = AE(ae_title=assoc.acceptor.ae_title)
    ae.add_requested_context(StorageCommitmentPushModel)
    role = build_role(StorageCommitmentPushModel, scu_role=False, scp_role=True)
    reverse = ae.associate(assoc.requestor.address, row.commitment_port, ae_title=calling, ext_neg=[role])
    if not reverse.is_established:
        logger.warning("storage commitment for %s not delivered: association refused", calling)
        return
    try:
        reverse.send_n_event_report(report, event_type, StorageCommitmentPushModel, STORAGE_COMMITMENT_INSTANCE)
    finally:
        reverse.release()


class SharedSocketServer(ThreadedAssociationServer):
    """Listener processes that take their connections from one listening socket.

    The parent opens the socket before it forks; each child accepts from it.
    A child that is busy with associations lets an idle sibling take the next
    connection first, so two senders end up on two processes (and two cores)
    instead of wherever a hash of their ports sends them.
    """

    listening_socket: socket.socket | None = None  # set in each child before the server is made
    busy_delay = 0.05  # seconds per association in progress: enough for an idle sibling to wake

    def server_bind(self) -> None:
        if self.listening_socket is None:
            super().server_bind()
            return
        assert self.socket is not None
        self.socket.close()
        self.socket = self.listening_socket
        self.server_address = self.socket.getsockname()

    def get_request(self) -> tuple[socket.socket, Any]:
        # Several processes wake for one connection: the socket is non-blocking,
        # so those that lose the race get BlockingIOError, which socketserver
        # takes as "nothing to accept".
        # Established only: a connection that never associated (a port probe)
        # lingers as an association thread for a while without being work.
        busy = sum(1 for assoc in self.ae.active_associations if assoc.is_established)
        if busy and self.listening_socket is not None:
            time.sleep(self.busy_delay * busy)
        return super().get_request()


def open_listening_socket(host: str, port: int, backlog: int) -> socket.socket:
    """The socket every listener process accepts from."""
    sock = socket.create_server((host, port), backlog=backlog, reuse_port=False)
    sock.setblocking(False)
    return sock


# ---------------------------------------------------------------- latency
#
# pynetdicom's association reactor naps 1 ms between looks at its DIMSE queue,
# and its DUL thread naps between looks at the socket. On small instances the
# listener waits more than it works. These clocks make both naps end as soon as
# there is work: a message on the queue, data on the socket, or a PDU to send.


class _AssociationClock:
    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        thread = threading.current_thread()
        if not isinstance(thread, pynetdicom_association.Association) or seconds > 0.001:
            time.sleep(seconds)
            return
        messages: queue.Queue[Any] = thread.dimse.msg_queue
        with messages.not_empty:  # holds the queue's mutex: use the unlocked size
            if not messages._qsize():
                messages.not_empty.wait(0.005)


class _DULClock:
    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        thread = threading.current_thread()
        sock = getattr(getattr(thread, "socket", None), "socket", None)
        if not isinstance(thread, pynetdicom_dul.DULServiceProvider) or sock is None:
            time.sleep(seconds)
            return
        wake = _wake_socket(thread)
        try:
            ready, _, _ = select.select([sock, wake], [], [], 0.005)
            if wake in ready:
                wake.recv(4096)
        except (OSError, ValueError):
            return


def _wake_socket(provider: Any) -> socket.socket:
    """The end of a socket pair the DUL thread waits on; `_wake_sockets[1]` rings it.

    Socket objects, not raw descriptors: once closed, a late ring fails instead
    of writing into whatever reuses the descriptor number.
    """
    pair: tuple[socket.socket, socket.socket] | None = getattr(provider, "_efilm_wake", None)
    if pair is None:
        pair = socket.socketpair()
        for end in pair:
            end.setblocking(False)
        provider._efilm_wake = pair
    return pair[0]


def _ring(provider: Any) -> None:
    pair = getattr(provider, "_efilm_wake", None)
    if pair is not None:
        with contextlib.suppress(OSError):
            pair[1].send(b"!")


def _close_wake_socket(provider: Any) -> None:
    pair = getattr(provider, "_efilm_wake", None)
    provider._efilm_wake = None
    for end in pair or ():
        end.close()


def install_low_latency_reactors() -> None:
    """Make pynetdicom's threads wake on work instead of polling (idempotent)."""
    if getattr(pynetdicom_dul, "_efilm_patched", False):
        return
    original_send_pdu = pynetdicom_dul.DULServiceProvider.send_pdu
    original_run = pynetdicom_dul.DULServiceProvider.run

    def send_pdu(self: Any, primitive: Any) -> None:
        original_send_pdu(self, primitive)
        _ring(self)

    def run(self: Any) -> None:
        try:
            original_run(self)
        finally:
            _close_wake_socket(self)

    pynetdicom_dul.DULServiceProvider.send_pdu = send_pdu  # type: ignore[method-assign]
    pynetdicom_dul.DULServiceProvider.run = run  # type: ignore[method-assign]
    pynetdicom_association.time = _AssociationClock()  # type: ignore[assignment,attr-defined]
    pynetdicom_dul.time = _DULClock()  # type: ignore[assignment,attr-defined]
    pynetdicom_dul._efilm_patched = True  # type: ignore[attr-defined]
