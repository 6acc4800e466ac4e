"""One association, accepted and served on its own thread, from A-ASSOCIATE-RQ to release or abort.

PDUs as PS3.8 9.3 (`imaging.listener.pdu`), the command set as PS3.7 6.3 and
E.1 (`imaging.listener.messages`). The association's thread reads PDUs with
blocking reads and answers each request on that same thread. pynetdicom still
decodes the A-ASSOCIATE-RQ, negotiates presentation contexts and roles
(`negotiate_as_acceptor`), and encodes the A-ASSOCIATE-AC and -RJ; it remains
the SCU for the listener's own outgoing associations (docs/architecture.md
says why its acceptor is not used).

The service behind the protocol (what a C-STORE does) is `Services`, which
`imaging.listener.services` implements.

With an `ssl.SSLContext` in `AcceptorSettings.tls` the listener serves the
Secure Transport Connection Profile (PS3.15 B.1): every connection is TLS 1.2
or later from its first byte, the handshake runs on the association's thread
within ARTIM (PS3.8 9.1.5: from connection to A-ASSOCIATE-AC/RJ), and a peer
whose handshake fails is logged and dropped.
Once the handshake is done the association reads and writes the same way.
"""

import contextlib
import hashlib
import itertools
import logging
import socket
import ssl
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom.dsutils import encode
from pynetdicom.pdu import A_ASSOCIATE_AC, A_ASSOCIATE_RJ, A_ASSOCIATE_RQ
from pynetdicom.pdu_primitives import (
    A_ASSOCIATE,
    ImplementationClassUIDNotification,
    ImplementationVersionNameNotification,
    MaximumLengthNotification,
    SCP_SCU_RoleSelectionNegotiation,
)
from pynetdicom.presentation import PresentationContext, negotiate_as_acceptor

from imaging.dicom.status import (
    ACTION_TYPE_ID,
    AFFECTED_SOP_CLASS,
    AFFECTED_SOP_INSTANCE,
    C_CANCEL_RQ,
    C_ECHO_RQ,
    C_STORE_RQ,
    COMMAND_FIELD,
    DATASET_PRESENT,
    DATASET_TYPE,
    ERROR_COMMENT,
    EVENT_TYPE_ID,
    MESSAGE_ID,
    MESSAGE_ID_RESPONDED_TO,
    N_ACTION_RQ,
    N_EVENT_REPORT_RQ,
    NO_DATASET,
    REQUESTED_SOP_CLASS,
    REQUESTED_SOP_INSTANCE,
    RESPONSE_BIT,
    STATUS,
    CommitmentEvent,
    ErrorComment,
    Status,
)
from imaging.listener.messages import (
    AcceptedContext,
    Message,
    Spooling,
    command_us,
    decode_command,
    encode_command,
    lo,
    ui,
    us,
)
from imaging.listener.pdu import (
    A_ABORT_PDU,
    A_ASSOCIATE_RQ_PDU,
    A_RELEASE_RP,
    A_RELEASE_RQ_PDU,
    ABORT_BY_PROVIDER,
    ABORT_BY_USER,
    INVALID_PARAMETER,
    LARGEST_ASSOCIATE_RQ,
    LARGEST_OTHER_PDU,
    LARGEST_PDU,
    P_DATA_TF_PDU,
    PDU_HEADER,
    REJECT_CALLED_AE,
    REJECT_CALLING_AE,
    REJECT_CONTEXT_NAME,
    REJECT_LOCAL_LIMIT,
    REJECT_PROTOCOL_VERSION,
    UNEXPECTED_PDU,
    PeerGone,
    ProtocolError,
    pdata,
    pdvs,
)

logger = logging.getLogger(__name__)

# Who we are on the wire and in the files we write (PS3.7 D.3.3.2, PS3.10 7.1): our own
# identity, not pynetdicom's, which only negotiates for us. A UUID-derived UID (PS3.5 B.2).
IMPLEMENTATION_CLASS_UID = "2.25.217946000937010709074218991002418294402"
IMPLEMENTATION_VERSION_NAME = "EFILM_1"

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"  # PS3.7 A.2.1
STORAGE_COMMITMENT_INSTANCE = "1.2.840.10008.1.20.1.1"  # the well-known SOP instance (PS3.4 J.3.1)


class Services(Protocol):
    """What the listener does with what arrives; `imaging.listener.services.RegionServices`."""

    def accepts_calling(self, association: "Association") -> bool: ...

    def store(self, association: "Association", message: Message) -> tuple[int, str]: ...

    def commit(self, association: "Association", request: Dataset) -> tuple[int, Dataset | None]: ...

    def deliver_report_elsewhere(self, association: "Association", report: Dataset, event_type: int) -> None: ...

    def association_ended(self, association: "Association") -> None: ...


class Acceptor(Protocol):
    """What an association asks of the server that accepted it (`imaging.listener.server.Server`)."""

    services: Services

    def publish_load(self) -> None: ...

    def established_count(self) -> int: ...

    def forget(self, association: "Association") -> None: ...


@dataclass
class AcceptorSettings:
    ae_title: str
    max_pdu: int
    contexts: list[PresentationContext]
    max_associations: int = 40
    # Connections one process holds, checked at accept before any byte is read: from one source
    # address (a modality's busiest PACS opens a handful), and not yet accepted by A-ASSOCIATE-AC.
    max_connections_per_address: int = 32
    max_unauthenticated: int = 64
    # ARTIM (PS3.8 9.1.5): from the connection (TLS handshake included) to A-ASSOCIATE-AC or -RJ, in all.
    acse_timeout: float = 30.0
    network_timeout: float = 60.0
    report_delay: float = 0.2  # a pynetdicom SCU can mis-read an event report sent right behind the N-ACTION reply
    file_prefix: Callable[[Message], bytes] | None = None  # a C-STORE's file before its dataset: hash as it comes
    tls: ssl.SSLContext | None = None  # serve DICOM TLS (PS3.15 B.1); see `server_tls_context`
    spooling: Spooling | None = None  # large C-STORE datasets go to disk as they arrive


class Association:
    """One association, served on its own thread from A-ASSOCIATE-RQ to release or abort."""

    def __init__(self, sock: socket.socket, address: tuple[str, int], settings: AcceptorSettings, server: Acceptor):
        self.sock = sock
        self.address = address
        self.settings = settings
        self.server = server
        self.services = server.services
        self.calling_ae_title = ""
        self.called_ae_title = ""
        self.contexts: dict[int, AcceptedContext] = {}
        self.peer_max_pdu = 0
        self.peer_certificate_sha256: str | None = None  # over TLS, of the client certificate it presented
        self.is_established = False
        self.is_negotiating = False  # its whole A-ASSOCIATE-RQ has arrived: a sender, not a silent connection
        self.is_open = True
        self.renders: object = None  # the service's per-association state (its render batch)
        self._send_lock = threading.Lock()
        self._pending: deque[tuple[int, int, memoryview]] = deque()
        self._message_ids = itertools.count(1)
        self.artim_deadline = time.monotonic() + settings.acse_timeout  # accepted now: ARTIM starts
        self._largest_pdata = 0  # no P-DATA-TF before A-ASSOCIATE-AC advertises our maximum
        self._incoming: Message | None = None  # a C-STORE whose dataset is still arriving

    # ------------------------------------------------------------ lifecycle

    def run(self) -> None:
        try:
            if self._secured() and self._associate():
                self.is_established = True
                self.server.publish_load()
                self._serve()
        except TimeoutError:
            if self.is_established:
                logger.info("association from %s timed out", self.address[0])
                self.abort(ABORT_BY_PROVIDER, 0x00)
            else:  # PS3.8 9.1.5, AA-2: ARTIM expired before A-ASSOCIATE-AC/RJ, the connection is closed
                logger.warning("closing the connection from %s: no association within ARTIM", self.address[0])
        except (PeerGone, ConnectionError) as error:
            logger.info("association from %s ended: %s", self.address[0], error or type(error).__name__)
        except ProtocolError as error:
            logger.warning("aborting association from %s: %s", self.address[0], error)
            self.abort(ABORT_BY_PROVIDER, INVALID_PARAMETER)
        except OSError as error:
            logger.info("association from %s lost: %s", self.address[0], error)
        except Exception:
            logger.exception("association from %s failed", self.address[0])
            self.abort(ABORT_BY_PROVIDER, 0x00)
        finally:
            self.is_open = False
            if self._incoming is not None:  # cut off mid-message: its spooled part goes
                self._incoming.discard()
            with contextlib.suppress(OSError):
                self.sock.close()
            if self.is_established:
                self.services.association_ended(self)
            self.server.forget(self)

    def abort(self, source: int = ABORT_BY_USER, reason: int = 0x00) -> None:
        """Send A-ABORT and drop the connection (any thread)."""
        if not self.is_open:
            return
        with contextlib.suppress(OSError):
            self._send(struct.pack(">BBIBBBB", A_ABORT_PDU, 0, 4, 0, 0, source, reason))
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    # ----------------------------------------------------------- association

    def _secured(self) -> bool:
        """Over TLS, the handshake (PS3.15 B.1), within ARTIM (PS3.8 9.1.5); a plain connection is as it is.

        A failed handshake (an untrusted or missing client certificate, a peer
        that does not speak TLS, one that says nothing) is logged and the
        connection closed; no A-ABORT can be sent without a secure channel.
        """
        if not isinstance(self.sock, ssl.SSLSocket):
            return True
        try:
            self.sock.settimeout(_remaining(self.artim_deadline))
            self.sock.do_handshake()  # CPython bounds the whole handshake by the timeout, not each read
        except (OSError, ValueError) as error:  # ssl.SSLError and TimeoutError are OSErrors
            logger.warning("TLS handshake with %s failed: %s", self.address[0], error or type(error).__name__)
            self.is_open = False  # nothing more is sent on this connection
            return False
        certificate = self.sock.getpeercert(binary_form=True)
        self.peer_certificate_sha256 = hashlib.sha256(certificate).hexdigest() if certificate else None
        return True

    def _associate(self) -> bool:
        """Read the A-ASSOCIATE-RQ and answer AC or RJ, all before ARTIM expires (PS3.8 9.1.5).

        Each read waits only for what is left of ARTIM: a request trickled a byte at a
        time no longer restarts the wait with every byte.
        """
        pdu_type, header, body = self._read_pdu(self.artim_deadline)
        self.is_negotiating = True
        self.server.publish_load()
        if pdu_type != A_ASSOCIATE_RQ_PDU:
            raise ProtocolError(f"expected A-ASSOCIATE-RQ, got PDU type {pdu_type:#04x}")
        pdu = A_ASSOCIATE_RQ()
        try:
            pdu.decode(bytes(header) + bytes(body))
            request = pdu.to_primitive()
        except Exception as error:  # noqa: BLE001 - whatever pynetdicom cannot decode is the peer's fault
            raise ProtocolError(f"cannot decode A-ASSOCIATE-RQ: {error}") from None
        self.calling_ae_title = str(request.calling_ae_title).strip()
        self.called_ae_title = str(request.called_ae_title).strip()
        rejection = self._rejection(request, pdu.protocol_version)
        if rejection:
            logger.info("rejecting association from %s (%s): %s", self.calling_ae_title, self.address[0], rejection)
            self._reject(*rejection)
            return False
        self._accept(request)
        self.sock.settimeout(self.settings.network_timeout)
        return True

    def _rejection(self, request: A_ASSOCIATE, protocol_version: int) -> tuple[int, int, int] | None:
        if not protocol_version & 0x0001:
            return REJECT_PROTOCOL_VERSION
        if str(request.application_context_name) != APPLICATION_CONTEXT:
            return REJECT_CONTEXT_NAME
        if self.called_ae_title != self.settings.ae_title.strip():
            return REJECT_CALLED_AE
        if not self.services.accepts_calling(self):  # AE title, source network, client certificate
            return REJECT_CALLING_AE
        if self.server.established_count() >= self.settings.max_associations:
            return REJECT_LOCAL_LIMIT
        return None

    def _reject(self, result: int, source: int, diagnostic: int) -> None:
        primitive = A_ASSOCIATE()
        primitive.result, primitive.result_source, primitive.diagnostic = result, source, diagnostic
        pdu = A_ASSOCIATE_RJ()
        pdu.from_primitive(primitive)
        self._send(pdu.encode())
        self._wait_for_close()

    def _accept(self, request: A_ASSOCIATE) -> None:
        roles = {
            item.sop_class_uid: (item.scu_role, item.scp_role)
            for item in request.user_information
            if isinstance(item, SCP_SCU_RoleSelectionNegotiation) and item.sop_class_uid is not None
        }
        proposed = request.presentation_context_definition_list
        results, role_replies = negotiate_as_acceptor(proposed, self.settings.contexts, roles or None)
        _take_senders_choice(results, proposed, self.settings.contexts)
        for context in results:
            if context.result == 0x00 and context.context_id is not None and context.abstract_syntax is not None:
                self.contexts[context.context_id] = AcceptedContext(
                    context.context_id, str(context.abstract_syntax), str(context.transfer_syntax[0])
                )
        self.peer_max_pdu = request.maximum_length_received or 0
        primitive = A_ASSOCIATE()
        primitive.application_context_name = UID(APPLICATION_CONTEXT)
        primitive.calling_ae_title = request.calling_ae_title
        primitive.called_ae_title = request.called_ae_title
        primitive.result, primitive.result_source = 0x00, 0x01
        primitive.presentation_context_definition_results_list = results
        maximum = MaximumLengthNotification()
        maximum.maximum_length_received = self.settings.max_pdu
        self._largest_pdata = min(self.settings.max_pdu or LARGEST_PDU, LARGEST_PDU)  # 0 advertises "no limit"
        implementation = ImplementationClassUIDNotification()
        implementation.implementation_class_uid = UID(IMPLEMENTATION_CLASS_UID)
        version = ImplementationVersionNameNotification()
        version.implementation_version_name = IMPLEMENTATION_VERSION_NAME
        primitive.user_information = [maximum, implementation, version, *role_replies]
        pdu = A_ASSOCIATE_AC()
        pdu.from_primitive(primitive)
        self._send(pdu.encode())

    # --------------------------------------------------------------- serving

    def _serve(self) -> None:
        while True:
            message = self._read_message()
            if message is None:  # released
                return
            try:
                self._dispatch(message)
            finally:
                message.discard()

    def _dispatch(self, message: Message) -> None:
        command = message.command_field
        if command == C_STORE_RQ:
            self._answer_store(message)
        elif command == C_ECHO_RQ:
            self._respond(message, {AFFECTED_SOP_CLASS: ui(message.uid(AFFECTED_SOP_CLASS))}, Status.SUCCESS)
        elif command == N_ACTION_RQ:
            self._answer_action(message)
        elif command & RESPONSE_BIT:  # the reply to an event report this listener sent
            status = command_us(message.command, STATUS) if STATUS in message.command else None
            logger.info("%s answered an event report with status %s", self.calling_ae_title, status)
        elif command != C_CANCEL_RQ:
            self._respond(
                message, {AFFECTED_SOP_CLASS: ui(message.uid(AFFECTED_SOP_CLASS))}, Status.UNRECOGNIZED_OPERATION
            )

    def _answer_store(self, message: Message) -> None:
        sop_class = message.uid(AFFECTED_SOP_CLASS)
        elements = {AFFECTED_SOP_CLASS: ui(sop_class), AFFECTED_SOP_INSTANCE: ui(message.uid(AFFECTED_SOP_INSTANCE))}
        if sop_class != message.context.abstract_syntax:
            comment = ErrorComment.WRONG_CONTEXT.format(context_id=message.context.context_id, sop_class=sop_class)
            self._respond(message, elements, Status.SOP_CLASS_NOT_SUPPORTED, comment)
            return
        status, comment = self.services.store(self, message)
        self._respond(message, elements, status, comment)

    def _answer_action(self, message: Message) -> None:
        sop_class = message.uid(REQUESTED_SOP_CLASS)
        elements = {
            AFFECTED_SOP_CLASS: ui(sop_class),
            AFFECTED_SOP_INSTANCE: ui(message.uid(REQUESTED_SOP_INSTANCE)),
            ACTION_TYPE_ID: message.command.get(ACTION_TYPE_ID, us(0)),
        }
        try:
            request = message.dataset()
        except Exception:  # noqa: BLE001 - an undecodable action information is the peer's fault
            request = Dataset()
        request.RequestedSOPClassUID = sop_class
        request.ActionTypeID = command_us(message.command, ACTION_TYPE_ID) if ACTION_TYPE_ID in message.command else 0
        status, report = self.services.commit(self, request)
        self._respond(message, elements, status)
        if report is not None:
            timer = threading.Timer(self.settings.report_delay, self._report, (message.context, report))
            timer.daemon = True
            timer.start()

    def _report(self, context: AcceptedContext, report: Dataset) -> None:
        """Storage Commitment's N-EVENT-REPORT (PS3.4 J.3.3): here if still open, else on a new association."""
        failed = "FailedSOPSequence" in report
        event_type = CommitmentEvent.FAILURES_EXIST if failed else CommitmentEvent.SUCCESSFUL
        if self.is_established and self.is_open:
            try:
                self.send_event_report(context, report, event_type)
                return
            except OSError as error:
                logger.info("cannot report storage commitment on the same association: %s", error)
        self.services.deliver_report_elsewhere(self, report, event_type)

    def send_event_report(self, context: AcceptedContext, report: Dataset, event_type: int) -> None:
        command = {
            AFFECTED_SOP_CLASS: ui(context.abstract_syntax),
            COMMAND_FIELD: us(N_EVENT_REPORT_RQ),
            MESSAGE_ID: us(next(self._message_ids) & 0xFFFF),
            DATASET_TYPE: us(DATASET_PRESENT),
            AFFECTED_SOP_INSTANCE: ui(STORAGE_COMMITMENT_INSTANCE),
            EVENT_TYPE_ID: us(event_type),
        }
        dataset = encode(report, context.is_implicit_vr, context.is_little_endian, context.is_deflated)
        if dataset is None:
            raise ValueError("the event report cannot be encoded")
        self._send_message(context.context_id, encode_command(command), dataset)

    def _respond(self, message: Message, elements: dict[int, bytes], status: int, comment: str = "") -> None:
        response = {
            **elements,
            COMMAND_FIELD: us(message.command_field | RESPONSE_BIT),
            MESSAGE_ID_RESPONDED_TO: us(message.message_id),
            DATASET_TYPE: us(NO_DATASET),
            STATUS: us(status),
        }
        if comment and status != Status.SUCCESS:
            response[ERROR_COMMENT] = lo(comment)
        self._send_message(message.context.context_id, encode_command(response), None)

    # ------------------------------------------------------------- P-DATA-TF

    def _read_message(self) -> Message | None:
        """The next whole message (PS3.8 9.3.5: its command fragments, then its dataset's); None on release."""
        command = bytearray()
        message: Message | None = None
        for context_id, control, fragment in self._fragments():
            if context_id is None:
                if command or message is not None:
                    # PS3.8 9.3.6: a release only between messages; no A-RELEASE-RP for this one.
                    raise ProtocolError("A-RELEASE-RQ in the middle of a message")
                self._send(A_RELEASE_RP)
                self._wait_for_close()
                return None
            if message is None:
                if not control & 0x01:
                    raise ProtocolError("a dataset fragment before its command")
                command += fragment
                if control & 0x02:
                    context = self._context(context_id)
                    message = Message(context, decode_command(bytes(command)))
                    if command_us(message.command, DATASET_TYPE) == NO_DATASET:
                        return message
                    if self.settings.file_prefix is not None and message.command_field == C_STORE_RQ:
                        message.prefix = self.settings.file_prefix(message)
                        message.digest = hashlib.sha256(message.prefix)
                        message.spooling = self.settings.spooling
                        self._incoming = message
                continue
            if control & 0x01 or context_id != message.context.context_id:
                raise ProtocolError("a command fragment or another context inside a dataset")
            message.add_fragment(fragment)
            if control & 0x02:
                message.received_all()
                self._incoming = None
                return message
        raise ProtocolError("the fragments ended")  # _fragments never ends; for the type checker

    def _fragments(self) -> Iterator[tuple[int | None, int, memoryview]]:
        """PDVs as (context ID, message control header, fragment); (None, 0, b"") for A-RELEASE-RQ."""
        while True:
            while self._pending:
                yield self._pending.popleft()
            pdu_type, _, body = self._read_pdu()
            if pdu_type == P_DATA_TF_PDU:
                self._pending.extend(pdvs(body))
            elif pdu_type == A_RELEASE_RQ_PDU:
                yield None, 0, memoryview(b"")  # answered (or aborted) by the reader, who knows the message
            elif pdu_type == A_ABORT_PDU:
                raise PeerGone("the peer aborted")
            else:
                self.abort(ABORT_BY_PROVIDER, UNEXPECTED_PDU)
                raise ProtocolError(f"unexpected PDU type {pdu_type:#04x}")

    def _context(self, context_id: int) -> AcceptedContext:
        context = self.contexts.get(context_id)
        if context is None:
            raise ProtocolError(f"presentation context {context_id} was not accepted")
        return context

    def _send_message(self, context_id: int, command: bytes, dataset: bytes | None) -> None:
        """A message as P-DATA-TF PDUs of one PDV each, within the peer's maximum length."""
        largest = self.peer_max_pdu - 6 if self.peer_max_pdu else 1 << 30
        pdus = [pdata(context_id, 0x01, command, largest)]
        if dataset is not None:
            pdus.append(pdata(context_id, 0x00, dataset, largest))
        self._send(b"".join(pdus))

    # ------------------------------------------------------------- transport

    def _read_pdu(self, deadline: float | None = None) -> tuple[int, memoryview, memoryview]:
        """The next PDU, bounded by what its type can hold before its body is allocated (PS3.8 9.3, D.3.3.1).

        A P-DATA-TF may be as long as the Maximum Length Received we advertised,
        which counts the PDU's variable field, i.e. its PDU-length (D.3.3.1);
        anything else by a fixed cap. A longer one is a ProtocolError: A-ABORT
        (service provider, invalid PDU parameter value). With a `deadline`
        (time.monotonic), every read waits only until then.
        """
        header = self._read_exactly(6, deadline)
        pdu_type, _, length = PDU_HEADER.unpack(header)
        if pdu_type == P_DATA_TF_PDU:
            if length > self._largest_pdata:
                raise ProtocolError(f"a P-DATA-TF PDU of {length} bytes, above the {self._largest_pdata} advertised")
        elif length > LARGEST_OTHER_PDU.get(pdu_type, LARGEST_ASSOCIATE_RQ):
            raise ProtocolError(f"a PDU of type {pdu_type:#04x} claiming {length} bytes")
        return pdu_type, header, self._read_exactly(length, deadline)

    def _read_exactly(self, size: int, deadline: float | None = None) -> memoryview:
        buffer = memoryview(bytearray(size))
        received = 0
        while received < size:
            if deadline is not None:
                self.sock.settimeout(_remaining(deadline))
            count = self.sock.recv_into(buffer[received:], size - received)
            if not count:
                raise PeerGone("the peer closed the connection")
            received += count
        return buffer

    def _send(self, data: bytes) -> None:
        with self._send_lock:
            self.sock.sendall(data)

    def _wait_for_close(self) -> None:
        """After A-RELEASE-RP or A-ASSOCIATE-RJ the requestor closes (PS3.8 9.1.6); wait a little for it."""
        self.sock.settimeout(5.0)
        with contextlib.suppress(OSError):
            while self.sock.recv(4096):
                pass


def _take_senders_choice(
    results: list[PresentationContext], proposed: list[PresentationContext], ours: list[PresentationContext]
) -> None:
    """Accept, in each context, the sender's first proposed transfer syntax that we support (PS3.8 9.3.2.2).

    A sender offers its image as it holds it first: a JPEG first, then the
    uncompressed syntaxes it could convert to. Taking our own order instead
    (Explicit VR Little Endian first) made senders decompress, or fail, and the
    region stored something other than what the modality sent. One exception:
    Implicit VR Little Endian proposed before Explicit VR Little Endian (pynetdicom's
    default order) gives way to Explicit, which keeps the VRs; neither needs
    the sender to touch pixel data.
    """
    supported = {str(context.abstract_syntax): set(map(str, context.transfer_syntax)) for context in ours}
    offered = {context.context_id: [str(syntax) for syntax in context.transfer_syntax] for context in proposed}
    for result in results:
        if result.result != 0x00 or result.context_id not in offered:
            continue
        ours_here = supported.get(str(result.abstract_syntax), set())
        choices = [syntax for syntax in offered[result.context_id] if syntax in ours_here]
        if not choices:
            continue
        first = choices[0]
        if first == ImplicitVRLittleEndian and ExplicitVRLittleEndian in choices:
            first = ExplicitVRLittleEndian
        result.transfer_syntax = [UID(first)]


def _remaining(deadline: float) -> float:
    """Seconds left until `deadline` (time.monotonic); TimeoutError once it has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the deadline has passed")
    return left


def presentation_context(
    abstract_syntax: str, transfer_syntaxes: Sequence[str], roles: bool = False
) -> PresentationContext:
    context = PresentationContext()
    context.abstract_syntax = UID(abstract_syntax)
    context.transfer_syntax = [UID(syntax) for syntax in transfer_syntaxes]
    if roles:
        context.scu_role, context.scp_role = True, True
    return context
