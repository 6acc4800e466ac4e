"""The DICOM Upper Layer and DIMSE of the region's listener, as association acceptor.

PDUs as PS3.8 9.3, the command set as PS3.7 6.3 and E.1 (Implicit VR Little
Endian, group 0000). One thread per association reads PDUs with blocking reads
and answers each request on that same thread. pynetdicom's acceptor hands every
message through three threads and a state machine, ~1.1 ms per C-STORE before
any work; this one costs ~0.1 ms. pynetdicom still decodes the A-ASSOCIATE-RQ,
negotiates presentation contexts and roles (`negotiate_as_acceptor`), and
encodes the A-ASSOCIATE-AC and -RJ; it remains the SCU for the listener's own
outgoing associations.

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
import multiprocessing
import os
import select
import socket
import ssl
import struct
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import BinaryIO, Protocol

from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom.dsutils import decode, encode
from pynetdicom.pdu import A_ASSOCIATE_AC, A_ASSOCIATE_RJ, A_ASSOCIATE_RQ
from pynetdicom.pdu_primitives import (
    A_ASSOCIATE,
    ImplementationClassUIDNotification,
    ImplementationVersionNameNotification,
    MaximumLengthNotification,
    SCP_SCU_RoleSelectionNegotiation,
)
from pynetdicom.presentation import PresentationContext, negotiate_as_acceptor

logger = logging.getLogger(__name__)

# Who we are on the wire and in the files we write (PS3.7 D.3.3.2, PS3.10 7.1): our own
# identity, not pynetdicom's, which only negotiates for us. A UUID-derived UID (PS3.5 B.2).
IMPLEMENTATION_CLASS_UID = "2.25.217946000937010709074218991002418294402"
IMPLEMENTATION_VERSION_NAME = "EFILM_1"

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"  # PS3.7 A.2.1
STORAGE_COMMITMENT_INSTANCE = "1.2.840.10008.1.20.1.1"  # the well-known SOP instance (PS3.4 J.3.1)

A_ASSOCIATE_RQ_PDU, A_ASSOCIATE_AC_PDU, A_ASSOCIATE_RJ_PDU = 0x01, 0x02, 0x03
P_DATA_TF_PDU, A_RELEASE_RQ_PDU, A_RELEASE_RP_PDU, A_ABORT_PDU = 0x04, 0x05, 0x06, 0x07
A_RELEASE_RP = struct.pack(">BBIL", A_RELEASE_RP_PDU, 0, 4, 0)
LARGEST_PDU = 64 << 20  # refuse (abort) a PDU that claims more: no peer needs it, and it would be read into memory
# What each PDU type can hold (PS3.8 9.3), checked on its 6-byte header before its body is read
# into memory: a peer not yet trusted must not make the listener allocate what it claims.
# An A-ASSOCIATE-RQ of 64 KiB has room for ~500 presentation contexts of ten transfer syntaxes.
LARGEST_ASSOCIATE_RQ = 64 << 10
LARGEST_OTHER_PDU = {A_RELEASE_RQ_PDU: 4, A_RELEASE_RP_PDU: 4, A_ABORT_PDU: 4}  # PS3.8 9.3.6-9.3.8: fixed length 4

# Command elements (PS3.7 E.1-1)
GROUP_LENGTH = 0x00000000
AFFECTED_SOP_CLASS = 0x00000002
REQUESTED_SOP_CLASS = 0x00000003
COMMAND_FIELD = 0x00000100
MESSAGE_ID = 0x00000110
MESSAGE_ID_RESPONDED_TO = 0x00000120
DATASET_TYPE = 0x00000800
STATUS = 0x00000900
ERROR_COMMENT = 0x00000902
AFFECTED_SOP_INSTANCE = 0x00001000
REQUESTED_SOP_INSTANCE = 0x00001001
EVENT_TYPE_ID = 0x00001002
ACTION_TYPE_ID = 0x00001008
NO_DATASET = 0x0101

C_STORE_RQ, C_ECHO_RQ, N_EVENT_REPORT_RQ, N_ACTION_RQ, C_CANCEL_RQ = 0x0001, 0x0030, 0x0100, 0x0130, 0x0FFF
RESPONSE_BIT = 0x8000
STATUS_SUCCESS = 0x0000
STATUS_UNRECOGNIZED_OPERATION = 0x0211
STATUS_SOP_CLASS_NOT_SUPPORTED = 0x0122

# A-ASSOCIATE-RJ (result, source, diagnostic), PS3.8 9.3.4
REJECT_CALLING_AE = (0x01, 0x01, 0x03)
REJECT_CALLED_AE = (0x01, 0x01, 0x07)
REJECT_CONTEXT_NAME = (0x01, 0x01, 0x02)
REJECT_PROTOCOL_VERSION = (0x01, 0x02, 0x02)
REJECT_LOCAL_LIMIT = (0x02, 0x03, 0x02)

# A-ABORT source and reason, PS3.8 9.3.8
ABORT_BY_USER, ABORT_BY_PROVIDER = 0x00, 0x02
UNEXPECTED_PDU, INVALID_PARAMETER = 0x02, 0x06

_HEADER = struct.Struct(">BBI")
_PDV = struct.Struct(">IBB")
_ELEMENT = struct.Struct("<HHI")
_US = struct.Struct("<H")


class ProtocolError(Exception):
    """The peer broke PS3.8: the association is aborted."""


class PeerGone(Exception):
    """The peer aborted or closed the connection."""


@dataclass(frozen=True)
class AcceptedContext:
    context_id: int
    abstract_syntax: str
    transfer_syntax: str

    @property
    def is_implicit_vr(self) -> bool:
        return self.transfer_syntax == "1.2.840.10008.1.2"

    @property
    def is_little_endian(self) -> bool:
        return self.transfer_syntax != "1.2.840.10008.1.2.2"

    @property
    def is_deflated(self) -> bool:
        return self.transfer_syntax == "1.2.840.10008.1.2.1.99"


@dataclass(frozen=True)
class Spooling:
    """Where a C-STORE dataset larger than `above` bytes goes as it arrives, instead of memory."""

    directory: Path
    above: int


SPOOL_PREFIX = "c-store-"


@dataclass
class Message:
    """One DIMSE message: its command elements (raw values) and its dataset fragments.

    A C-STORE dataset that grows past `Spooling.above` is written to a file
    in `Spooling.directory` (its Part 10 prefix first) as its fragments
    arrive, so the listener holds a PDU or two of it, not the whole object. If
    that file cannot be written (a full disk), the rest of the message is
    still read, and dropped: `spool_error` says why.
    """

    context: AcceptedContext
    command: dict[int, bytes]
    fragments: list[memoryview] = field(default_factory=list)
    # With `AcceptorSettings.file_prefix`: what goes before the dataset in its file, and a SHA-256
    # of that and of the fragments, updated as each arrives (while the sender still sends the rest).
    prefix: bytes = b""
    digest: "hashlib._Hash | None" = None
    size: int = 0  # dataset bytes received
    spooling: Spooling | None = None
    spool_path: Path | None = None  # the Part 10 file, once the dataset went to disk
    spool_error: OSError | None = None
    _spool: BinaryIO | None = None

    def add_fragment(self, fragment: memoryview) -> None:
        if self.digest is not None:
            self.digest.update(fragment)
        self.size += len(fragment)
        if self.spool_error is not None:
            return
        try:
            if self._spool is None and self.spooling is not None and self.size > self.spooling.above:
                self._spool_to_disk(self.spooling.directory)
            if self._spool is None:
                self.fragments.append(fragment)
            else:
                self._spool.write(fragment)
        except OSError as error:
            self._spool_failed(error)

    def received_all(self) -> None:
        """The last fragment is in: a spooled dataset's file is closed, so it can be read whole."""
        if self._spool is None:
            return
        try:
            self._spool.close()
        except OSError as error:
            self._spool_failed(error)
        self._spool = None

    def discard(self) -> None:
        """Let go of what was received: a spooled dataset's file is removed."""
        self.fragments.clear()
        if self._spool is not None:
            with contextlib.suppress(OSError):
                self._spool.close()
            self._spool = None
        if self.spool_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.spool_path.unlink()
            self.spool_path = None

    def _spool_to_disk(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f"{SPOOL_PREFIX}{os.getpid()}-", dir=directory)
        self.spool_path = Path(name)
        self._spool = os.fdopen(fd, "wb")
        self._spool.write(self.prefix)
        for fragment in self.fragments:
            self._spool.write(fragment)
        self.fragments.clear()

    def _spool_failed(self, error: OSError) -> None:
        logger.warning("cannot spool a C-STORE dataset of %d bytes so far: %s", self.size, error)
        self.discard()
        self.spool_error = error

    @property
    def command_field(self) -> int:
        return command_us(self.command, COMMAND_FIELD)

    @property
    def message_id(self) -> int:
        return command_us(self.command, MESSAGE_ID)

    def uid(self, tag: int) -> str:
        return self.command.get(tag, b"").decode("ascii", "replace").rstrip("\0 ")

    def dataset_bytes(self) -> bytes:
        return b"".join(self.fragments)

    def dataset(self) -> Dataset:
        return decode(
            BytesIO(self.dataset_bytes()),
            self.context.is_implicit_vr,
            self.context.is_little_endian,
            self.context.is_deflated,
        )


def remove_stale_spool_files(directory: Path) -> int:
    """Remove the spooled datasets of listener processes that are gone (killed mid-message); how many."""
    removed = 0
    for path in directory.glob(f"{SPOOL_PREFIX}*"):
        pid = path.name.removeprefix(SPOOL_PREFIX).partition("-")[0]
        if pid.isdigit() and not _process_exists(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
    return removed


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Services(Protocol):
    """What the listener does with what arrives; `imaging.listener.services.RegionServices`."""

    def accepts_calling(self, association: "Association") -> bool: ...

    def store(self, association: "Association", message: Message) -> tuple[int, str]: ...

    def commit(self, association: "Association", request: Dataset) -> tuple[int, Dataset | None]: ...

    def deliver_report_elsewhere(self, association: "Association", report: Dataset, event_type: int) -> None: ...

    def association_ended(self, association: "Association") -> None: ...


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


def command_us(command: dict[int, bytes], tag: int) -> int:
    value = command.get(tag)
    if value is None or len(value) != 2:
        raise ProtocolError(f"command element ({tag >> 16:04X},{tag & 0xFFFF:04X}) is missing or not a US")
    return int(_US.unpack(value)[0])


def decode_command(data: bytes) -> dict[int, bytes]:
    """A command set's elements, raw (PS3.7 6.3.1: Implicit VR Little Endian)."""
    elements: dict[int, bytes] = {}
    offset = 0
    while offset < len(data):
        if offset + 8 > len(data):
            raise ProtocolError("the command set ends inside an element header")
        group, element, length = _ELEMENT.unpack_from(data, offset)
        offset += 8
        if offset + length > len(data):
            raise ProtocolError("a command element runs past the command set")
        elements[group << 16 | element] = bytes(data[offset : offset + length])
        offset += length
    return elements


def encode_command(elements: dict[int, bytes]) -> bytes:
    """A command set with its group length, elements in tag order, values padded to even length."""
    body = b"".join(
        _ELEMENT.pack(tag >> 16, tag & 0xFFFF, len(value)) + value for tag, value in sorted(elements.items())
    )
    return _ELEMENT.pack(0, 0, 4) + struct.pack("<I", len(body)) + body


def us(value: int) -> bytes:
    return _US.pack(value)


def ui(value: str) -> bytes:
    raw = value.encode("ascii")
    return raw + b"\0" if len(raw) % 2 else raw


def lo(value: str) -> bytes:
    raw = value.encode("ascii", "replace")[:64]
    return raw + b" " if len(raw) % 2 else raw


class Association:
    """One association, served on its own thread from A-ASSOCIATE-RQ to release or abort."""

    def __init__(self, sock: socket.socket, address: tuple[str, int], settings: AcceptorSettings, server: "Server"):
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
            self._respond(message, {AFFECTED_SOP_CLASS: ui(message.uid(AFFECTED_SOP_CLASS))}, STATUS_SUCCESS)
        elif command == N_ACTION_RQ:
            self._answer_action(message)
        elif command & RESPONSE_BIT:  # the reply to an event report this listener sent
            status = command_us(message.command, STATUS) if STATUS in message.command else None
            logger.info("%s answered an event report with status %s", self.calling_ae_title, status)
        elif command != C_CANCEL_RQ:
            self._respond(
                message, {AFFECTED_SOP_CLASS: ui(message.uid(AFFECTED_SOP_CLASS))}, STATUS_UNRECOGNIZED_OPERATION
            )

    def _answer_store(self, message: Message) -> None:
        sop_class = message.uid(AFFECTED_SOP_CLASS)
        elements = {AFFECTED_SOP_CLASS: ui(sop_class), AFFECTED_SOP_INSTANCE: ui(message.uid(AFFECTED_SOP_INSTANCE))}
        if sop_class != message.context.abstract_syntax:
            comment = f"presentation context {message.context.context_id} is not for {sop_class}"
            self._respond(message, elements, STATUS_SOP_CLASS_NOT_SUPPORTED, comment)
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
        event_type = 2 if "FailedSOPSequence" in report else 1
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
            DATASET_TYPE: us(0x0001),
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
        if comment and status != STATUS_SUCCESS:
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
                self._pending.extend(_pdvs(body))
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
        pdus = [_pdata(context_id, 0x01, command, largest)]
        if dataset is not None:
            pdus.append(_pdata(context_id, 0x00, dataset, largest))
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
        pdu_type, _, length = _HEADER.unpack(header)
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


def _pdvs(body: memoryview) -> Iterator[tuple[int, int, memoryview]]:
    offset = 0
    while offset < len(body):
        if offset + 6 > len(body):
            raise ProtocolError("a PDV item header runs past its PDU")
        length, context_id, control = _PDV.unpack_from(body, offset)
        if length < 2 or offset + 4 + length > len(body):
            raise ProtocolError("a PDV item runs past its PDU")
        yield context_id, control, body[offset + 6 : offset + 4 + length]
        offset += 4 + length


def _pdata(context_id: int, control: int, data: bytes, largest: int) -> bytes:
    """`data` as P-DATA-TF PDUs; the last fragment's header says so (PS3.8 E.2)."""
    chunks = [data[start : start + largest] for start in range(0, len(data), largest)] or [b""]
    pdus = []
    for number, chunk in enumerate(chunks):
        flags = control | (0x02 if number == len(chunks) - 1 else 0x00)
        pdv = _PDV.pack(len(chunk) + 2, context_id, flags) + chunk
        pdus.append(_HEADER.pack(P_DATA_TF_PDU, 0, len(pdv)) + pdv)
    return b"".join(pdus)


class SiblingLoads:
    """How busy each listener process sharing the socket is, in memory they share (made before the fork).

    Per process: its associations established or negotiating, and when it last
    accepted (time.monotonic, one clock for all processes). Written on each
    association's start and end, read before each accept: never per PDU.
    """

    def __init__(self, processes: int) -> None:
        self._busy = multiprocessing.RawArray("i", processes)
        self._accepted = multiprocessing.RawArray("d", processes)
        self.index = 0  # this process's slot, set in the child after the fork

    def publish(self, busy: int) -> None:
        self._busy[self.index] = busy

    def accepted(self, when: float) -> None:
        self._accepted[self.index] = when

    def least_busy_sibling(self, fresh_window: float) -> int:
        """The least load among the other processes, a connection accepted within `fresh_window` counting as one."""
        now = time.monotonic()
        return min(
            (
                self._busy[index] + (now - self._accepted[index] < fresh_window)
                for index in range(len(self._busy))
                if index != self.index
            ),
            default=0,
        )


class Server:
    """Accepts associations from a listening socket, one thread each.

    Several listener processes may share the socket (opened before they fork).
    A process that is busy with associations lets an idle sibling take the next
    connection first, so two senders end up on two processes (and two cores)
    instead of wherever the kernel's wake-up order sends them. Busy means
    associations established or negotiating, and a connection accepted in the
    last 50 ms (two senders that start together come a few ms apart, before
    the first one's A-ASSOCIATE-RQ is read). A silent connection stops counting
    then (hundreds of them once made every process pause seconds per accept),
    and ARTIM closes it (PS3.8 9.1.5). With `siblings`, a process pauses only
    if a sibling is less busy, so a burst of connections is taken at full speed.
    """

    busy_delay = 0.05  # seconds per association in progress: enough for an idle sibling to wake
    longest_pause = 0.2  # however busy: a sender waits no longer to be accepted
    fresh_window = 0.05  # a connection just accepted counts as busy for this long

    def __init__(
        self,
        sock: socket.socket,
        settings: AcceptorSettings,
        services: Services,
        shared: bool,
        siblings: SiblingLoads | None = None,
    ) -> None:
        self.sock = sock
        self.settings = settings
        self.services = services
        self.shared = shared
        self.siblings = siblings  # without it, a shared socket's siblings are taken to be idle
        self._last_accept = 0.0
        self._associations: set[Association] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._stopped = threading.Event()

    def serve_forever(self) -> None:
        try:
            while not self._stopping.is_set():
                ready, _, _ = select.select([self.sock], [], [], 0.2)
                if ready:
                    self._accept_one()
        finally:
            self._stopped.set()

    def _accept_one(self) -> None:
        if self.shared:
            self._give_way()
        try:
            conn, address = self.sock.accept()
        except (BlockingIOError, InterruptedError):  # a sibling took it
            return
        self._last_accept = time.monotonic()
        if self.siblings is not None:
            self.siblings.accepted(self._last_accept)
        refusal = self._refusal(address[0])
        if refusal:
            logger.warning("closing a connection from %s at once: %s", address[0], refusal)
            conn.close()
            return
        conn.setblocking(True)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.settings.tls is not None:  # the handshake is the association thread's: a slow peer cannot stall accept
            conn = self.settings.tls.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        association = Association(conn, address, self.settings, self)
        with self._lock:
            self._associations.add(association)
        threading.Thread(target=association.run, name=f"association-{address[0]}:{address[1]}", daemon=True).start()

    def _give_way(self) -> None:
        """Pause before accept in proportion to how much busier this process is than its least busy sibling."""
        busy = self.busy_count() + (time.monotonic() - self._last_accept < self.fresh_window)
        least = self.siblings.least_busy_sibling(self.fresh_window) if self.siblings is not None else 0
        if busy > least:
            time.sleep(min(self.busy_delay * (busy - least), self.longest_pause))

    def publish_load(self) -> None:
        """Tell the sibling processes how busy this one is now (an association started or ended)."""
        if self.siblings is not None:
            self.siblings.publish(self.busy_count())

    def _refusal(self, host: str) -> str | None:
        """Why a new connection from `host` is closed unread: one of this process's caps is reached.

        Each connection holds a thread, and before A-ASSOCIATE-AC nobody has
        been trusted; closing beats an A-ASSOCIATE-RJ, which needs the request read.
        """
        with self._lock:
            open_ = [association for association in self._associations if association.is_open]
        if sum(1 for association in open_ if association.address[0] == host) >= (
            self.settings.max_connections_per_address
        ):
            return f"{self.settings.max_connections_per_address} connections from this address"
        if sum(1 for association in open_ if not association.is_established) >= self.settings.max_unauthenticated:
            return f"{self.settings.max_unauthenticated} connections not yet associated"
        return None

    def established_count(self) -> int:
        with self._lock:
            return sum(1 for association in self._associations if association.is_established and association.is_open)

    def busy_count(self) -> int:
        """Associations established or negotiating: two senders that start together come a few ms apart."""
        with self._lock:
            return sum(
                1
                for association in self._associations
                if association.is_open and (association.is_established or association.is_negotiating)
            )

    def open_count(self) -> int:
        """Associations accepted and not yet ended, established or not."""
        with self._lock:
            return sum(1 for association in self._associations if association.is_open)

    def associations(self) -> list[Association]:
        with self._lock:
            return list(self._associations)

    def forget(self, association: Association) -> None:
        with self._lock:
            self._associations.discard(association)
        self.publish_load()

    def shutdown(self) -> None:
        """Stop accepting; associations in progress carry on."""
        self._stopping.set()
        self._stopped.wait(timeout=5)

    def abort_all(self) -> None:
        for association in self.associations():
            association.abort()


def open_listening_socket(host: str, port: int, backlog: int = socket.SOMAXCONN) -> socket.socket:
    """The socket every listener process accepts from.

    Its backlog holds connections the kernel has completed and no process has
    accepted yet; past it a sender's SYN goes unanswered and it retries after
    1 s, then 3 s. Linux caps it at net.core.somaxconn.
    """
    sock = socket.create_server((host, port), backlog=backlog, reuse_port=False)
    sock.setblocking(False)
    return sock


def server_tls_context(certificate: str, key: str, client_ca: str | None = None) -> ssl.SSLContext:
    """The listener's TLS, TLS 1.2 or later (PS3.15 B.1, with BCP 195's floor as DCMTK's default profile).

    With `client_ca`, every sender must present a certificate that CA issued
    (mutual authentication); which certificate an AE title must use is
    `HospitalAETitle.tls_certificate_sha256`'s.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certificate, key)
    if client_ca:
        context.load_verify_locations(cafile=client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def presentation_context(
    abstract_syntax: str, transfer_syntaxes: Sequence[str], roles: bool = False
) -> PresentationContext:
    context = PresentationContext()
    context.abstract_syntax = UID(abstract_syntax)
    context.transfer_syntax = [UID(syntax) for syntax in transfer_syntaxes]
    if roles:
        context.scu_role, context.scp_role = True, True
    return context
