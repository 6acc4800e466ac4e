"""The region's DICOM listener: Storage, Verification and Storage Commitment SCP.

The protocol is `imaging.listener.association`'s; this module is what the listener does.

Hospitals' PACS and modalities associate with the region's AE title; the calling
AE title says which hospital sends. Every C-STORE goes through
`imaging.ingest.ingest_instance` and is answered only after the file is durable
and the index transaction has committed, with a status of PS3.4 B.2.3
(`imaging.dicom.status.Status`):

    0x0000  stored, or an identical re-send
    0xA700  out of resources: storage or database unavailable, the sender retries
    0xA900  the dataset does not match the SOP class
    0xC210  the object cannot be decoded or lacks its identity
    0xC211  different bytes under a SOPInstanceUID the region holds (stored copy kept)
    0xC212  the object names a study the region holds for another patient
"""

import contextlib
import logging
import struct
import threading
import time

from django.db import DatabaseError, close_old_connections, connection
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    JPEG2000,
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
    AllStoragePresentationContexts,
    build_role,
)
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import StorageCommitmentPushModel, Verification  # type: ignore[attr-defined]

from imaging.dicom.status import (
    AFFECTED_SOP_CLASS,
    AFFECTED_SOP_INSTANCE,
    REQUEST_STORAGE_COMMITMENT,
    ErrorComment,
    FailureReason,
    Status,
)
from imaging.ingest import FlushLedger, IngestOutcome, IngestUnavailable, RejectionKind, ingest_instance
from imaging.listener.association import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    STORAGE_COMMITMENT_INSTANCE,
    Association,
    presentation_context,
)
from imaging.listener.messages import Message
from imaging.models import Hospital, HospitalAETitle, Instance
from imaging.rendering import RenderBatch, RenderSender, batched_renders

logger = logging.getLogger(__name__)

# What a storage context may use. Which one is accepted is the sender's first
# proposal among these (imaging.listener.association._take_senders_choice), so images are
# stored as the modality sent them.
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

REJECTION_STATUS = {
    RejectionKind.UNREADABLE: Status.CANNOT_UNDERSTAND,
    RejectionKind.INVALID: Status.CANNOT_UNDERSTAND,
    RejectionKind.SOP_CLASS_MISMATCH: Status.SOP_CLASS_MISMATCH,
    RejectionKind.PATIENT_MISMATCH: Status.OTHER_PATIENT,
}


class HospitalDirectory:
    """Which hospital each calling AE title belongs to, and from where it may call; reread every few seconds.

    When the database cannot be read, the last good map is kept, so a short
    database outage does not turn senders away at association. An AE title
    without allowed networks is accepted from anywhere only when
    `open_when_unrestricted` (the listener passes `settings.DEBUG`).
    """

    def __init__(self, max_age: float = 5.0, open_when_unrestricted: bool = False) -> None:
        self.max_age = max_age
        self.open_when_unrestricted = open_when_unrestricted
        self._titles: dict[str, HospitalAETitle] = {}
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
            self._titles = {row.ae_title.strip(): row for row in rows}
            self._loaded_at = time.monotonic()

    def hospital(self, ae_title: str) -> Hospital | None:
        self.refresh()
        row = self._titles.get(ae_title.strip())
        return row.hospital if row is not None else None

    def refusal(self, ae_title: str, address: str, certificate_sha256: str | None) -> str | None:
        """Why an association from this AE title, address and client certificate is refused; None if it is not."""
        self.refresh()
        row = self._titles.get(ae_title.strip())
        if row is None:
            return "unknown AE title"
        if not row.has_networks and not self.open_when_unrestricted:
            return "the AE title has no allowed networks"
        if row.has_networks and not row.allows(address):
            return "source address not in the AE title's allowed networks"
        if not row.accepts_certificate(certificate_sha256):
            return "no client certificate, or not the one registered for the AE title"
        return None


def close_old_connections_now() -> None:
    """Drop a database connection that failed, so the next query reconnects."""
    with contextlib.suppress(DatabaseError):
        connection.close()


def supported_contexts() -> list[PresentationContext]:
    """Every storage SOP class in the common transfer syntaxes, Verification and Storage Commitment."""
    contexts = [
        presentation_context(str(context.abstract_syntax), TRANSFER_SYNTAXES)
        for context in AllStoragePresentationContexts
    ]
    contexts.append(presentation_context(Verification, [ExplicitVRLittleEndian, ImplicitVRLittleEndian]))
    contexts.append(
        presentation_context(StorageCommitmentPushModel, [ExplicitVRLittleEndian, ImplicitVRLittleEndian], roles=True)
    )
    return contexts


class RegionServices:
    """What the listener does with a C-STORE and an N-ACTION; counts the stores in flight.

    With a `ledger` (`imaging.listener.flushing.FlushLedger`), a C-STORE's file is
    flushed while its index statement runs. With `renders` (an
    `imaging.rendering.tasks.RenderSender`), render messages leave from its thread.
    """

    def __init__(
        self, directory: HospitalDirectory, ledger: FlushLedger | None = None, renders: RenderSender | None = None
    ) -> None:
        self.directory = directory
        self.ledger = ledger
        self.renders = renders
        self.stopping = False
        self._in_flight = 0
        self._idle = threading.Condition()

    def accepts_calling(self, association: Association) -> bool:
        """A known AE title, from one of its networks, with its certificate if one is registered."""
        address = association.address[0]
        refusal = self.directory.refusal(association.calling_ae_title, address, association.peer_certificate_sha256)
        if refusal is not None:
            # The presented certificate's fingerprint is what an operator registers for the AE title.
            presented = association.peer_certificate_sha256
            logger.warning(
                "refusing calling AE title %r from %s: %s%s",
                association.calling_ae_title,
                address,
                refusal,
                f" (client certificate SHA-256 {presented})" if presented else "",
            )
        return refusal is None

    def store(self, association: Association, message: Message) -> tuple[int, str]:
        with self._idle:
            self._in_flight += 1
        try:
            return self._store(association, message)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def association_ended(self, association: Association) -> None:
        """However the association ended, the renders of what it stored are sent."""
        if isinstance(association.renders, RenderBatch):
            association.renders.flush()

    def wait_until_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def _store(self, association: Association, message: Message) -> tuple[int, str]:
        if self.stopping:
            return Status.OUT_OF_RESOURCES, ErrorComment.STOPPING
        hospital = self.directory.hospital(association.calling_ae_title)
        if hospital is None:  # the AE title was removed after association
            return Status.OUT_OF_RESOURCES, ErrorComment.AE_TITLE_GONE
        sop_instance = message.uid(AFFECTED_SOP_INSTANCE)
        if message.spool_error is not None:
            logger.warning("C-STORE from %s refused for now: cannot spool it: %s", hospital.code, message.spool_error)
            return Status.OUT_OF_RESOURCES, ErrorComment.CANNOT_SPOOL.format(reason=message.spool_error.strerror)
        close_old_connections()
        try:
            with batched_renders(association_renders(association, self.renders)):
                result = ingest_instance(
                    message.spool_path or received_file(message),
                    hospital,
                    source_name=f"C-STORE {hospital.code}",
                    ledger=self.ledger,
                    sha256=message.digest.hexdigest() if message.digest is not None else None,
                )
        except IngestUnavailable as error:
            close_old_connections_now()
            logger.warning("C-STORE from %s refused for now: %s", hospital.code, error)
            return Status.OUT_OF_RESOURCES, str(error)
        except Exception as error:
            logger.exception("C-STORE from %s failed", hospital.code)
            return Status.PROCESSING_FAILURE, ErrorComment.UNEXPECTED.format(error=type(error).__name__)
        if result.ok:
            return Status.SUCCESS, ""
        if result.outcome == IngestOutcome.CONFLICT:
            return Status.CONFLICT, result.reason
        if result.sop_uid and result.sop_uid != sop_instance:
            return Status.SOP_CLASS_MISMATCH, ErrorComment.INSTANCE_MISMATCH
        assert result.rejection is not None
        return REJECTION_STATUS[result.rejection], result.reason

    def commit(self, association: Association, request: Dataset) -> tuple[int, Dataset | None]:
        """Storage Commitment Push Model, N-ACTION (PS3.4 J.3.2): the status, and the report to send."""
        if (
            request.RequestedSOPClassUID != StorageCommitmentPushModel
            or request.ActionTypeID != REQUEST_STORAGE_COMMITMENT
        ):
            return Status.NO_SUCH_ACTION, None
        if "TransactionUID" not in request or "ReferencedSOPSequence" not in request:
            return Status.MISSING_ATTRIBUTE, None
        hospital = self.directory.hospital(association.calling_ae_title)
        close_old_connections()
        try:
            return Status.SUCCESS, commitment_report(request, hospital)
        except DatabaseError as error:
            close_old_connections_now()
            logger.warning("storage commitment for %s refused for now: %s", association.calling_ae_title, error)
            return Status.PROCESSING_FAILURE, None

    def deliver_report_elsewhere(self, association: Association, report: Dataset, event_type: int) -> None:
        send_commitment_report_anew(association, report, event_type)


def received_file(message: Message) -> bytes:
    """The C-STORE dataset as received, as a Part 10 file (PS3.10 7.1), when it was not spooled to disk.

    The file meta is simple enough to pack by hand; pydicom building and writing
    it was a measurable part of a small image's store (docs/architecture.md,
    "Figures the imaging code rests on"). The dataset's fragments are joined
    once, behind it.
    """
    return b"".join((message.prefix or file_prefix(message), *message.fragments))


def file_prefix(message: Message) -> bytes:
    """What goes before a C-STORE's dataset in its Part 10 file: preamble, DICM and file meta."""
    meta = b"".join(
        (
            b"\x02\x00\x01\x00OB\x00\x00\x02\x00\x00\x00\x00\x01",  # (0002,0001) version 00 01
            _meta_element(0x0002, b"UI", _uid_bytes(message.uid(AFFECTED_SOP_CLASS))),
            _meta_element(0x0003, b"UI", _uid_bytes(message.uid(AFFECTED_SOP_INSTANCE))),
            _meta_element(0x0010, b"UI", _uid_bytes(message.context.transfer_syntax)),
            _meta_element(0x0012, b"UI", _uid_bytes(IMPLEMENTATION_CLASS_UID)),
            _meta_element(0x0013, b"SH", _padded(IMPLEMENTATION_VERSION_NAME.encode("ascii"), b" ")),
        )
    )
    group_length = b"\x02\x00\x00\x00UL\x04\x00" + len(meta).to_bytes(4, "little")
    return b"".join((b"\x00" * 128, b"DICM", group_length, meta))


def _meta_element(element: int, vr: bytes, value: bytes) -> bytes:
    return struct.pack("<HH2sH", 0x0002, element, vr, len(value)) + value


def _uid_bytes(uid: str) -> bytes:
    return _padded(str(uid).encode("ascii", "replace")[:64], b"\0")


def _padded(value: bytes, pad: bytes) -> bytes:
    return value + pad if len(value) % 2 else value


def association_renders(association: Association, sender: RenderSender | None = None) -> RenderBatch:
    """The association's render batch: one message per series, not two per image."""
    if not isinstance(association.renders, RenderBatch):
        association.renders = RenderBatch(send=sender.send if sender is not None else None)
    return association.renders


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
        reason = (
            FailureReason.CLASS_INSTANCE_CONFLICT if instance_uid in held else FailureReason.NO_SUCH_OBJECT_INSTANCE
        )
        item.FailureReason = int(reason)
        failed.append(item)
    if committed:
        report.ReferencedSOPSequence = committed
    if failed:
        report.FailedSOPSequence = failed
    return report


def send_commitment_report_anew(association: Association, report: Dataset, event_type: int) -> None:
    """The report on a new association to the asker's registered commitment port (PS3.4 J.3.3)."""
    calling = association.calling_ae_title
    close_old_connections()
    row = HospitalAETitle.objects.filter(ae_title=calling).first()
    if row is None or row.commitment_port is None:
        logger.warning("storage commitment for %s not delivered: no commitment port registered", calling)
        return
    ae = AE(ae_title=association.called_ae_title)
    ae.implementation_class_uid, ae.implementation_version_name = IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
    ae.add_requested_context(StorageCommitmentPushModel)
    role = build_role(StorageCommitmentPushModel, scu_role=False, scp_role=True)
    reverse = ae.associate(association.address[0], row.commitment_port, ae_title=calling, ext_neg=[role])
    if not reverse.is_established:
        logger.warning("storage commitment for %s not delivered: association refused", calling)
        return
    try:
        reverse.send_n_event_report(report, event_type, StorageCommitmentPushModel, STORAGE_COMMITMENT_INSTANCE)
    finally:
        reverse.release()
