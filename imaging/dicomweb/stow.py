"""STOW-RS, the Store transaction (PS3.18 10.5): a hospital's multipart body, each part through ingest."""

import json
import logging
from pathlib import Path
from typing import Any

import pydicom
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from imaging.access import StudyScope
from imaging.dicom import FailureReason, is_valid_uid
from imaging.dicomweb.dicom_json import element
from imaging.dicomweb.multipart import BodyTooLarge, ContentType, Limits, MalformedMultipart, Readable, read_parts
from imaging.dicomweb.responses import BULK_DATA_THRESHOLD, DICOM_JSON, problem
from imaging.ingest import IngestOutcome, IngestResult, IngestUnavailable, RejectionKind, ingest_instance
from imaging.models import Hospital
from imaging.rendering import batched_renders

logger = logging.getLogger(__name__)

# A part that was not stored, by why (PS3.18 I.2.2, Table I.2-2).
FAILURE_REASON = {
    RejectionKind.UNREADABLE: FailureReason.CANNOT_UNDERSTAND,
    RejectionKind.INVALID: FailureReason.CANNOT_UNDERSTAND,
    RejectionKind.SOP_CLASS_MISMATCH: FailureReason.SOP_CLASS_MISMATCH,
    RejectionKind.PATIENT_MISMATCH: FailureReason.CANNOT_UNDERSTAND,
    RejectionKind.STUDY_MISMATCH: FailureReason.CANNOT_UNDERSTAND,
}
SOP_UIDS = ("SOPClassUID", "SOPInstanceUID")


def store(request: HttpRequest, scope: StudyScope, study_uid: str | None) -> HttpResponse:
    """STOW-RS (PS3.18 10.5): every part through ingest; the answer lists what was stored and what failed.

    Steps: check the sender and the media type; refuse a declared length over
    the request cap (413) before reading; stream each part to a file and ingest
    it from there; stop with 413 when a part or the body passes its cap (parts
    stored before stay stored, and the answer lists them).
    """
    if scope.store_into is None:
        return problem(403, "STOW-RS takes a hospital's token: the images must come from a hospital")
    if study_uid is not None and not is_valid_uid(study_uid):
        return problem(400, "the study UID in the address is not a valid UID")
    content_type = ContentType.parse(request.headers.get("Content-Type", ""))
    if content_type.media_type != "multipart/related" or content_type.parameters.get("type", "").lower() not in (
        "application/dicom",
        "",
    ):
        return problem(415, 'STOW-RS takes multipart/related; type="application/dicom"')
    body = _request_body(request)
    if body is None:
        return problem(411, "STOW-RS needs a Content-Length or a chunked body")
    stream, length = body
    if length is not None and length > settings.DICOMWEB_STOW_MAX_REQUEST_BYTES:
        return _too_large(f"the request is larger than {settings.DICOMWEB_STOW_MAX_REQUEST_BYTES} bytes", [])
    return _store_parts(
        request, stream, length, content_type.parameters.get("boundary", ""), scope.store_into, study_uid
    )


def _request_body(request: HttpRequest) -> tuple[Readable, int | None] | None:
    """The body's stream and length; None when neither a length nor a chunked body came.

    A chunked body has no Content-Length, so Django's own stream is empty (a
    LimitedStream of 0 bytes); a server that decodes chunked bodies itself
    (gunicorn) says so with `wsgi.input_terminated` and its input ends where the body does.
    """
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length:
        return request, length
    if request.META.get("wsgi.input_terminated"):
        return request.META["wsgi.input"], None
    return None


def _store_parts(
    request: HttpRequest, stream: Readable, length: int | None, boundary: str, hospital: Hospital, study_uid: str | None
) -> HttpResponse:
    referenced: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    limits = Limits(
        part=settings.DICOMWEB_STOW_MAX_PART_BYTES,
        body=settings.DICOMWEB_STOW_MAX_REQUEST_BYTES,
        directory=settings.DICOMWEB_STOW_SPOOL_DIR,
    )
    try:
        with batched_renders():
            for part in read_parts(stream, boundary, length, limits):
                if part.content_type not in ("application/dicom", ""):
                    failed.append(_failed_item("", "", FailureReason.CANNOT_UNDERSTAND))
                    continue
                result, reason = _ingest_part(part.path, hospital, study_uid)
                if reason is None:
                    referenced.append(_referenced_item(request, result))
                else:
                    failed.append(_failed_item(*_sop_uids(result, part.path), reason))
    except BodyTooLarge as error:
        return _too_large(str(error), referenced)
    except MalformedMultipart as error:
        if not referenced and not failed:
            return problem(400, f"the multipart body is malformed: {error}")
        failed.append(_failed_item("", "", FailureReason.CANNOT_UNDERSTAND))
    return _store_response(request, referenced, failed, study_uid)


def _too_large(detail: str, referenced: list[dict[str, Any]]) -> JsonResponse:
    """413 Content Too Large (RFC 9110 15.5.14), naming what was stored before the cap was passed."""
    body: dict[str, Any] = {"detail": f"{detail}; {len(referenced)} earlier instances were stored"}
    if referenced:
        body["00081199"] = {"vr": "SQ", "Value": referenced}
    return JsonResponse(body, status=413)


def _ingest_part(path: Path, hospital: Hospital, study_uid: str | None) -> tuple[IngestResult, int | None]:
    """The ingest result, and the failure reason (PS3.18 I.2.2, Table I.2-2) when it was not stored.

    A part of another study than the address names is not stored: PS3.18
    10.5.3.1 counts a Study Instance UID mismatch among a store's failures.
    """
    try:
        result = ingest_instance(path, hospital, source_name=f"STOW-RS {hospital.code}", study_uid=study_uid)
    except IngestUnavailable as error:
        logger.warning("STOW-RS part refused for now: %s", error)
        return IngestResult(IngestOutcome.REJECTED, reason=str(error)), FailureReason.OUT_OF_RESOURCES
    if result.ok:
        return result, None
    if result.outcome == IngestOutcome.CONFLICT:
        return result, FailureReason.CANNOT_UNDERSTAND  # PS3.18 has no closer reason for a conflict
    assert result.rejection is not None
    return result, FAILURE_REASON[result.rejection]


def _sop_uids(result: IngestResult, path: Path) -> tuple[str, str]:
    """The SOP Class and Instance UIDs of a failed part: ingest's, or read leniently from the part.

    Ingest names none when it refused the header (an invalid PatientID, say),
    yet a Failed SOP Sequence item references its instance (PS3.18 Table I.1-1).
    """
    if result.sop_uid:
        return result.sop_class_uid, result.sop_uid
    try:
        header = pydicom.dcmread(
            path, force=True, stop_before_pixels=True, specific_tags=list(SOP_UIDS), defer_size=BULK_DATA_THRESHOLD
        )
        found = [str(header.get(keyword, "") or "") for keyword in SOP_UIDS]
    except Exception:  # noqa: BLE001 - a part pydicom cannot read names nothing
        return "", ""
    sop_class_uid, sop_uid = (uid if is_valid_uid(uid) else "" for uid in found)
    return sop_class_uid, sop_uid


def _referenced_item(request: HttpRequest, result: IngestResult) -> dict[str, Any]:
    url = request.build_absolute_uri(
        f"/dicomweb/studies/{result.study_uid}/series/{result.series_uid}/instances/{result.sop_uid}"
    )
    return {
        "00081150": element("UI", result.sop_class_uid),
        "00081155": element("UI", result.sop_uid),
        "00081190": element("UR", url),
    }


def _failed_item(sop_class_uid: str, sop_uid: str, reason: int) -> dict[str, Any]:
    return {
        "00081150": element("UI", sop_class_uid),
        "00081155": element("UI", sop_uid),
        "00081197": element("US", reason),
    }


def _store_response(
    request: HttpRequest, referenced: list[dict[str, Any]], failed: list[dict[str, Any]], study_uid: str | None
) -> HttpResponse:
    """The Store Instances Response Module (PS3.18 Annex I), with PS3.18 Table 10.5.3-1's status:
    200 all stored, 202 some, 409 none."""
    body: dict[str, Any] = {}
    if study_uid:
        body["00081190"] = element("UR", request.build_absolute_uri(f"/dicomweb/studies/{study_uid}"))
    if failed:
        body["00081198"] = {"vr": "SQ", "Value": failed}
    if referenced:
        body["00081199"] = {"vr": "SQ", "Value": referenced}
    status = 200 if not failed else 202 if referenced else 409
    return HttpResponse(json.dumps(body), status=status, content_type=DICOM_JSON)
