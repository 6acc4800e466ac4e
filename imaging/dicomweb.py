"""DICOMweb over the regional index: STOW-RS (PS3.18 10.5), QIDO-RS (10.6) and WADO-RS (10.4).

WADO-RS retrieves instances, their metadata and their frames (10.4.1.1.3), as
stored: nothing is transcoded. QIDO-RS searches the six resources of PS3.18
Table 10.6.1-1; what it matches and answers is `imaging.qido`'s. Browser viewers on the origins listed in
`DICOMWEB_CORS_ORIGINS` may call every endpoint (`with_cors`, applied in
imaging/urls.py).

Hospitals authenticate with `Authorization: Bearer <token>` (issued by
`issue_hospital_token`) and see their own hospital's studies; regional admins,
signed in with their TOTP code, see all (the staff pages' rule,
`DICOMWEB_STAFF_SCOPE`). A patient's share is also a credential (HTTP Basic,
the share's token and access code, or Bearer for a share without a code): it reads
its one study and stores nothing. Everything else gets 401, and a study outside
the asker's scope is simply not there.
"""

import base64
import binascii
import json
import logging
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache, wraps
from pathlib import Path
from typing import Any, Protocol

import pydicom
from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse, StreamingHttpResponse
from django.utils.cache import patch_vary_headers
from django.utils.module_loading import import_string
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from pydicom.uid import UID, MPEGTransferSyntaxes

from imaging import qido
from imaging.access import StudyScope
from imaging.dicom_json import element
from imaging.frames import read_header, stored_pixels
from imaging.headers import is_valid_uid
from imaging.ingest import IngestOutcome, IngestResult, IngestUnavailable, RejectionKind, ingest_instance
from imaging.models import Hospital, Instance, InstanceQuerySet, Series, Study
from imaging.multipart import CHUNK, BodyTooLarge, ContentType, Limits, MalformedMultipart, Readable, read_parts
from imaging.tasks import batched_renders
from imaging.tokens import hospital_for_token

logger = logging.getLogger(__name__)

DICOM_JSON = "application/dicom+json"
DICOM = "application/dicom"
SERVICE_PATH = "/dicomweb"
# Resolves a share's credentials; portal depends on imaging, so it is named, not imported.
DEFAULT_SHARE_RESOLVER = "portal.sharing.shares.dicomweb_share"
DEFAULT_STAFF_SCOPE = "accounts.staff.staff_scope_of"
ANY_SYNTAX = "*"
BULK_DATA_THRESHOLD = 1024
_OMITTED = "omitted"
# Bulk data whatever its size (PS3.18 8.7.3.3.2): pixel data, documents, waveforms, spectra.
BULK_DATA_TAGS = frozenset({"7FE00008", "7FE00009", "7FE00010", "00420011", "54001010", "56000020"})

FAILURE_REASON = {
    RejectionKind.UNREADABLE: 0xC000,
    RejectionKind.INVALID: 0xC000,
    RejectionKind.SOP_CLASS_MISMATCH: 0xA900,
    RejectionKind.PATIENT_MISMATCH: 0xC000,
    RejectionKind.STUDY_MISMATCH: 0xC000,
}
OCTET_STREAM = "application/octet-stream"
# Native frames go out as Explicit VR Little Endian pixel data (PS3.18 8.7.3.3.2), whatever the file's encoding.
NATIVE_FRAMES = "1.2.840.10008.1.2.1"
# The image media type of a compressed transfer syntax's frames (PS3.18 Table 8.7.3-5).
FRAME_MEDIA_TYPES = {
    **dict.fromkeys(["1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57"], "image/jpeg"),
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    **dict.fromkeys(["1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"], "image/jls"),
    **dict.fromkeys(["1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"], "image/jp2"),
    **dict.fromkeys(["1.2.840.10008.1.2.4.92", "1.2.840.10008.1.2.4.93"], "image/jpx"),
    **dict.fromkeys(["1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203"], "image/jphc"),
    "1.2.840.10008.1.2.5": "image/dicom-rle",
}

CORS_HEADERS = {
    "Access-Control-Allow-Headers": "Authorization, Accept, Content-Type",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Expose-Headers": "Content-Type, Content-Length",
}
CORS_MAX_AGE = "600"

OUT_OF_RESOURCES = 0xA700
CONFLICT = 0xC000
CANNOT_UNDERSTAND = 0xC000
SOP_UIDS = ("SOPClassUID", "SOPInstanceUID")


@dataclass(frozen=True)
class DicomWebAccess:
    """Who asks: a hospital's system (by token), a regional admin (by session), or a share.

    A share reads only `study_ids`, and its study's reports only when the
    patient shared the report (`include_reports`).
    """

    hospital: Hospital | None = None
    regional: bool = False
    study_ids: frozenset[int] | None = None
    include_reports: bool = True

    def studies(self) -> QuerySet[Study]:
        if self.study_ids is not None:
            return Study.objects.filter(pk__in=self.study_ids)
        if self.regional:
            return Study.objects.all()
        return Study.objects.filter(hospital=self.hospital)

    def instances(self) -> InstanceQuerySet:
        found = Instance.objects.filter(series__study__in=self.studies())
        return found if self.include_reports else found.filter(report__isnull=True)

    def series(self) -> QuerySet[Series]:
        found = Series.objects.filter(study__in=self.studies())
        return found if self.include_reports else found.filter(Exists(self.instances().filter(series=OuterRef("pk"))))


class SharedStudy(Protocol):
    """What a share resolver answers: the one study a share grants, and whether its report goes with it."""

    @property
    def study_id(self) -> int: ...

    @property
    def include_report(self) -> bool: ...


ShareResolver = Callable[[HttpRequest, str, str | None], SharedStudy | None]
StaffScopeOf = Callable[[Any], StudyScope]


def problem(status: int, detail: str) -> JsonResponse:
    response = JsonResponse({"detail": detail}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="dicomweb", Basic realm="dicomweb"'
    return response


def access_for(request: HttpRequest) -> DicomWebAccess | None:
    """Hospital token first (Bearer), then a share (Basic token:code, or Bearer), then an admin's session."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, credentials = header.partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "bearer":
            hospital = hospital_for_token(credentials)
            return DicomWebAccess(hospital=hospital) if hospital else _share_access(request, credentials, None)
        if scheme.lower() == "basic" and (pair := _basic_credentials(credentials)):
            # Hospital tokens stay Bearer-only: browsers replay Basic credentials, and STOW-RS is CSRF-exempt.
            return _share_access(request, *pair)
        return None
    return _staff_access(request)


def _staff_access(request: HttpRequest) -> DicomWebAccess | None:
    """A staff session reads the whole region only where the staff pages would show it all.

    The rule (role and verified second factor) is accounts' `staff_scope_of`,
    found through `DICOMWEB_STAFF_SCOPE` as shares are, so imaging imports no app above it.
    """
    if not request.user.is_authenticated:
        return None
    scope_of: StaffScopeOf | None = _named_callable(getattr(settings, "DICOMWEB_STAFF_SCOPE", DEFAULT_STAFF_SCOPE))
    scope = scope_of(request.user) if scope_of else None
    return DicomWebAccess(regional=True) if scope is not None and scope.everything else None


def _basic_credentials(encoded: str) -> tuple[str, str] | None:
    """RFC 7617: base64 of `user:password`; for a share, its token and access code."""
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    token, separator, code = decoded.partition(":")
    return (token, code) if separator and token else None


def _share_access(request: HttpRequest, token: str, code: str | None) -> DicomWebAccess | None:
    """Read access to a share's study; `code` is None for a bearer token (a share without a code)."""
    resolver: ShareResolver | None = _named_callable(
        getattr(settings, "DICOMWEB_SHARE_RESOLVER", DEFAULT_SHARE_RESOLVER)
    )
    shared = resolver(request, token, code) if resolver and token else None
    if shared is None:
        return None
    return DicomWebAccess(study_ids=frozenset({shared.study_id}), include_reports=shared.include_report)


@cache
def _named_callable(path: str) -> Any:
    return import_string(path) if path else None


def dicomweb_view(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Authenticate the asker (401 otherwise) and hand the view its access."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        access = access_for(request)
        if access is None:
            return problem(401, "a valid hospital token, share credentials or a regional admin's session is required")
        return view(request, access, *args, **kwargs)

    # Bearer tokens are not sent by browsers on their own: no CSRF exposure.
    return csrf_exempt(wrapped)


# ---------------------------------------------------------------- CORS


def cors_origins() -> frozenset[str]:
    """The origins whose pages may call DICOMweb: `DICOMWEB_CORS_ORIGINS`, a list (or a comma-separated string)."""
    configured = getattr(settings, "DICOMWEB_CORS_ORIGINS", [])
    if isinstance(configured, str):
        configured = configured.split(",")
    return frozenset(origin.strip().rstrip("/") for origin in configured if origin.strip())


def with_cors(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """CORS (WHATWG Fetch, CORS protocol) for a DICOMweb endpoint, for the configured origins only.

    A preflight (OPTIONS) from a listed origin is answered 204, without
    credentials. Answers to a listed origin name it (never "*") and do not
    allow credentials: viewers send `Authorization`, cookies stay out. Other
    origins get no CORS headers, and browsers keep the answers from them.
    """

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        origins = cors_origins()
        origin = request.headers.get("Origin", "")
        allowed = bool(origin) and origin in origins
        if allowed and request.method == "OPTIONS":
            response: HttpResponseBase = HttpResponse(status=204)
            response["Access-Control-Max-Age"] = CORS_MAX_AGE
        else:
            response = view(request, *args, **kwargs)
        if origins:
            patch_vary_headers(response, ["Origin"])
        if allowed:
            response["Access-Control-Allow-Origin"] = origin
            for header, value in CORS_HEADERS.items():
                response[header] = value
        return response

    return csrf_exempt(wrapped)


# ---------------------------------------------------------------- STOW-RS


@require_http_methods(["GET", "POST"])
@dicomweb_view
def studies(request: HttpRequest, access: DicomWebAccess) -> HttpResponse:
    if request.method == "POST":
        return store(request, access, study_uid=None)
    return search_studies(request, access)


@require_http_methods(["GET", "POST"])
@dicomweb_view
def study(request: HttpRequest, access: DicomWebAccess, study_uid: str) -> HttpResponseBase:
    if request.method == "POST":
        return store(request, access, study_uid=study_uid)
    return retrieve(request, access, study_uid)


def store(request: HttpRequest, access: DicomWebAccess, study_uid: str | None) -> HttpResponse:
    """STOW-RS (PS3.18 10.5): every part through ingest; the answer lists what was stored and what failed.

    Steps: check the sender and the media type; refuse a declared length over
    the request cap (413) before reading; stream each part to a file and ingest
    it from there; stop with 413 when a part or the body passes its cap (parts
    stored before stay stored, and the answer lists them).
    """
    if access.hospital is None:
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
        request, stream, length, content_type.parameters.get("boundary", ""), access.hospital, study_uid
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
                    failed.append(_failed_item("", "", CANNOT_UNDERSTAND))
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
        failed.append(_failed_item("", "", CANNOT_UNDERSTAND))
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
        return IngestResult(IngestOutcome.REJECTED, reason=str(error)), OUT_OF_RESOURCES
    if result.ok:
        return result, None
    if result.outcome == IngestOutcome.CONFLICT:
        return result, CONFLICT
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


# ---------------------------------------------------------------- QIDO-RS


def search_studies(request: HttpRequest, access: DicomWebAccess) -> HttpResponse:
    """Search for all studies (PS3.18 10.6, Table 10.6.1-1) in the asker's scope."""
    return _search(request, access.studies(), qido.ALL_STUDIES)


@require_http_methods(["GET"])
@dicomweb_view
def search_series(request: HttpRequest, access: DicomWebAccess, study_uid: str) -> HttpResponse:
    """A study's series; a study outside the scope is not there (404)."""
    if not _valid_uids(study_uid):
        return problem(400, "a UID in the address is not a valid UID")
    found = access.studies().filter(study_uid=study_uid).first()
    if found is None:
        return problem(404, "no such study")
    return _search(request, access.series().filter(study=found), qido.STUDY_SERIES)


@require_http_methods(["GET"])
@dicomweb_view
def search_all_series(request: HttpRequest, access: DicomWebAccess) -> HttpResponse:
    return _search(request, access.series(), qido.ALL_SERIES)


@require_http_methods(["GET"])
@dicomweb_view
def search_study_instances(request: HttpRequest, access: DicomWebAccess, study_uid: str) -> HttpResponse:
    """A study's instances (a relational search, PS3.18 Table 10.6.1-1)."""
    if not _valid_uids(study_uid):
        return problem(400, "a UID in the address is not a valid UID")
    found = access.studies().filter(study_uid=study_uid).first()
    if found is None:
        return problem(404, "no such study")
    return _search(request, access.instances().filter(series__study=found), qido.STUDY_INSTANCES)


@require_http_methods(["GET"])
@dicomweb_view
def search_instances(request: HttpRequest, access: DicomWebAccess, study_uid: str, series_uid: str) -> HttpResponse:
    """A series' instances; a series outside the scope is not there (404)."""
    if not _valid_uids(study_uid, series_uid):
        return problem(400, "a UID in the address is not a valid UID")
    series = access.series().filter(series_uid=series_uid, study__study_uid=study_uid).first()
    if series is None:
        return problem(404, "no such series")
    return _search(request, access.instances().filter(series=series), qido.SERIES_INSTANCES)


@require_http_methods(["GET"])
@dicomweb_view
def search_all_instances(request: HttpRequest, access: DicomWebAccess) -> HttpResponse:
    return _search(request, access.instances(), qido.ALL_INSTANCES)


def _search(request: HttpRequest, found: QuerySet[Any], resource: qido.Resource) -> HttpResponse:
    """The Search transaction's answer (PS3.18 10.6.3): DICOM JSON, 204 when nothing matches, its warnings."""
    if not accepts_dicom_json(request.headers.get("Accept", "")):
        return problem(406, "QIDO-RS answers application/dicom+json")
    service = request.build_absolute_uri(SERVICE_PATH)
    try:
        result = qido.search(found, resource, request.GET, service)
    except qido.InvalidQuery as error:
        return problem(400, str(error))
    response = HttpResponse(status=204)
    if result.matches:
        response = HttpResponse(json.dumps(result.matches), content_type=DICOM_JSON)
    if result.warnings:
        response["Warning"] = qido.warning_header(service, result.warnings)
    return response


# ---------------------------------------------------------------- WADO-RS


@require_http_methods(["GET"])
@dicomweb_view
def retrieve_series(request: HttpRequest, access: DicomWebAccess, study_uid: str, series_uid: str) -> HttpResponseBase:
    return retrieve(request, access, study_uid, series_uid)


@require_http_methods(["GET"])
@dicomweb_view
def retrieve_instance(
    request: HttpRequest, access: DicomWebAccess, study_uid: str, series_uid: str, sop_uid: str
) -> HttpResponseBase:
    return retrieve(request, access, study_uid, series_uid, sop_uid)


@require_http_methods(["GET"])
@dicomweb_view
def study_metadata(request: HttpRequest, access: DicomWebAccess, study_uid: str) -> HttpResponseBase:
    return metadata(request, access, study_uid)


@require_http_methods(["GET"])
@dicomweb_view
def series_metadata(request: HttpRequest, access: DicomWebAccess, study_uid: str, series_uid: str) -> HttpResponseBase:
    return metadata(request, access, study_uid, series_uid)


@require_http_methods(["GET"])
@dicomweb_view
def instance_metadata(
    request: HttpRequest, access: DicomWebAccess, study_uid: str, series_uid: str, sop_uid: str
) -> HttpResponseBase:
    return metadata(request, access, study_uid, series_uid, sop_uid)


@require_http_methods(["GET"])
@dicomweb_view
def retrieve_frames(
    request: HttpRequest, access: DicomWebAccess, study_uid: str, series_uid: str, sop_uid: str, frame_list: str
) -> HttpResponseBase:
    """WADO-RS Retrieve Frames (PS3.18 10.4.1.1.3): each frame's pixel data, in the order asked, as stored.

    `multipart/related` with one part per frame (PS3.18 8.7.3.3.2): native
    pixel data as little endian bytes (transfer-syntax 1.2.840.10008.1.2.1),
    compressed frames as their bitstream in the stored transfer syntax, each
    part's Content-Type naming it. A malformed frame list answers 400, a frame
    the instance does not have (or an instance without pixel data) 404, an
    Accept that does not take the frames as stored 406.
    """
    if not _valid_uids(study_uid, series_uid, sop_uid):
        return problem(400, "a UID in the address is not a valid UID")
    numbers = frame_numbers(frame_list)
    if numbers is None:
        return problem(400, "the frame list is not a comma-separated list of frame numbers from 1")
    instance = next(iter(_selected(access, study_uid, series_uid, sop_uid)), None)
    if instance is None:
        return problem(404, "no such study, series or instance")
    if not instance.has_pixels or max(numbers) > instance.number_of_frames:
        count = instance.number_of_frames if instance.has_pixels else 0
        return problem(404, f"no such frame: the instance has {count} frame(s)")
    syntax = frame_syntax(instance.transfer_syntax_uid)
    media_type = frame_media_type(request.headers.get("Accept", ""), syntax) if syntax else None
    if syntax is None or media_type is None:
        return problem(406, _frames_not_acceptable(instance.transfer_syntax_uid, syntax))
    boundary = secrets.token_hex(16)
    response = StreamingHttpResponse(
        _frames_stream(instance.storage_key, numbers, f"{media_type}; transfer-syntax={syntax}", boundary),
        content_type=f'multipart/related; type="{media_type}"; boundary={boundary}',
    )
    response["Cache-Control"] = "private"
    return response


def retrieve(
    request: HttpRequest, access: DicomWebAccess, study_uid: str, series_uid: str = "", sop_uid: str = ""
) -> HttpResponseBase:
    """WADO-RS Retrieve Study, Series or Instance (PS3.18 10.4): the stored files, as they were received.

    The answer is `multipart/related; type="application/dicom"`, one part per
    instance, streamed from storage a chunk at a time.
    """
    if not _valid_uids(study_uid, series_uid, sop_uid):
        return problem(400, "a UID in the address is not a valid UID")
    syntaxes = acceptable_transfer_syntaxes(request.headers.get("Accept", ""))
    if not syntaxes:
        return problem(406, 'WADO-RS retrieve answers multipart/related; type="application/dicom"')
    instances = _selected(access, study_uid, series_uid, sop_uid)
    if not instances:
        return problem(404, "no such study, series or instance")
    if ANY_SYNTAX not in syntaxes and any(i.transfer_syntax_uid not in syntaxes for i in instances):
        return problem(406, "the instances are kept in their original transfer syntax, which was not asked for")
    boundary = secrets.token_hex(16)
    response = StreamingHttpResponse(
        _multipart_stream(instances, boundary),
        content_type=f'multipart/related; type="{DICOM}"; boundary={boundary}',
    )
    response["Cache-Control"] = "private"
    return response


def metadata(
    request: HttpRequest, access: DicomWebAccess, study_uid: str, series_uid: str = "", sop_uid: str = ""
) -> HttpResponseBase:
    """WADO-RS Retrieve Metadata (PS3.18 10.4.1.1.2): each instance's header in DICOM JSON (PS3.18 F.2).

    Bulk data (pixel data, encapsulated documents, other large binary values)
    is left out, not offered by BulkDataURI: viewers take pixels by frame
    (`retrieve_frames`), and the rest comes with the whole instance.
    """
    if not _valid_uids(study_uid, series_uid, sop_uid):
        return problem(400, "a UID in the address is not a valid UID")
    if not accepts_dicom_json(request.headers.get("Accept", "")):
        return problem(406, "WADO-RS metadata answers application/dicom+json")
    instances = _selected(access, study_uid, series_uid, sop_uid)
    if not instances:
        return problem(404, "no such study, series or instance")
    response = StreamingHttpResponse(_json_array_stream(instances), content_type=DICOM_JSON)
    response["Cache-Control"] = "private"
    return response


def _valid_uids(*uids: str) -> bool:
    return all(is_valid_uid(uid) for uid in uids if uid)


def _selected(access: DicomWebAccess, study_uid: str, series_uid: str, sop_uid: str) -> list[Instance]:
    """The instances the address names within the asker's scope, series by series; only what reading needs."""
    instances = access.instances().filter(series__study__study_uid=study_uid)
    if series_uid:
        instances = instances.filter(series__series_uid=series_uid)
    if sop_uid:
        instances = instances.filter(sop_uid=sop_uid)
    ordered = instances.order_by("series__series_number", "series_id", "instance_number", "sop_uid")
    fields = ("pk", "sop_uid", "series_id", "storage_key", "transfer_syntax_uid", "has_pixels", "number_of_frames")
    return list(ordered.only(*fields))


def media_ranges(accept: str) -> Iterator[ContentType]:
    """The media ranges of an Accept header (RFC 9110 12.5.1), leaving out those with q=0."""
    for media_range in re.split(r',(?=(?:[^"]*"[^"]*")*[^"]*$)', accept):
        if not media_range.strip():
            continue
        parsed = ContentType.parse(media_range)
        try:
            weight = float(parsed.parameters.get("q", "1"))
        except ValueError:
            weight = 1.0
        if weight > 0:
            yield parsed


def acceptable_transfer_syntaxes(accept: str) -> frozenset[str]:
    """The transfer syntaxes an Accept header takes for multipart application/dicom (PS3.18 8.7.3.5.2).

    "*" means any (also when no transfer-syntax is named: the files are served
    as stored, never transcoded); an empty set means nothing acceptable (406).
    """
    if not accept.strip():
        return frozenset({ANY_SYNTAX})
    syntaxes = set()
    for media_range in media_ranges(accept):
        kind = media_range.parameters.get("type", DICOM).lower()
        if media_range.media_type in ("*/*", "multipart/*") or (
            media_range.media_type == "multipart/related" and kind in (DICOM, "application/*", "*/*")
        ):
            syntaxes.add(media_range.parameters.get("transfer-syntax", "").strip() or ANY_SYNTAX)
    return frozenset(syntaxes)


def accepts_dicom_json(accept: str) -> bool:
    """Whether the Accept header takes DICOM JSON (PS3.18 8.7.3.1), or names nothing."""
    if not accept.strip():
        return True
    wanted = (DICOM_JSON, "application/json", "application/*", "*/*")
    return any(media_range.media_type in wanted for media_range in media_ranges(accept))


def _multipart_stream(instances: list[Instance], boundary: str) -> Iterator[bytes]:
    """Each stored file as one part (PS3.18 8.6.1.2), read in chunks: a study never sits in memory."""
    for instance in instances:
        yield (
            f"--{boundary}\r\nContent-Type: {DICOM}; transfer-syntax={instance.transfer_syntax_uid}\r\n\r\n"
        ).encode()
        with default_storage.open(instance.storage_key, "rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


def frame_numbers(frame_list: str) -> list[int] | None:
    """The frame numbers of a frame list (PS3.18 10.4.1.1.3): comma-separated, from 1; None when malformed."""
    items = [item.strip() for item in frame_list.split(",")]
    if not all(re.fullmatch(r"[0-9]{1,9}", item) for item in items):
        return None
    numbers = [int(item) for item in items]
    return numbers if min(numbers) >= 1 else None


def frame_syntax(stored: str) -> str | None:
    """The transfer syntax frames go out in: native ones little endian (PS3.18 8.7.3.3.2), compressed ones as stored.

    None for video (one MPEG or HEVC stream, not frames) and for syntaxes
    pydicom does not know: their frames cannot be told apart.
    """
    uid = UID(stored)
    if not uid.is_transfer_syntax or uid in MPEGTransferSyntaxes:
        return None
    return str(uid) if uid.is_encapsulated else NATIVE_FRAMES


def frame_media_type(accept: str, syntax: str) -> str | None:
    """The media type to send frames in `syntax` as, or None when the Accept header takes none (PS3.18 8.7.3.5).

    `multipart/related; type="application/octet-stream"` means Explicit VR
    Little Endian unless it names a transfer-syntax ("*": as stored); an image
    type (`image/jpeg`...) takes frames stored in one of its syntaxes (Table
    8.7.3-5); `*/*`, a missing Accept and `type="*/*"` take them as stored.
    """
    if not accept.strip():
        return OCTET_STREAM
    image_type = FRAME_MEDIA_TYPES.get(syntax)
    for media_range in media_ranges(accept):
        if media_range.media_type in ("*/*", "multipart/*"):
            return OCTET_STREAM
        if media_range.media_type != "multipart/related":
            continue
        kind = media_range.parameters.get("type", "*/*").lower()
        wanted = media_range.parameters.get("transfer-syntax", "").strip()
        if wanted not in ("", ANY_SYNTAX, syntax):
            continue
        if kind in ("*/*", "application/*") or (kind == OCTET_STREAM and (wanted or syntax == NATIVE_FRAMES)):
            return OCTET_STREAM
        if image_type and kind in (image_type, "image/*"):
            return image_type
    return None


def _frames_not_acceptable(stored: str, syntax: str | None) -> str:
    if syntax is None:
        return f"the instance is kept in {stored}, which is not retrievable by frame: retrieve the instance"
    offered = " or ".join(filter(None, [FRAME_MEDIA_TYPES.get(syntax), OCTET_STREAM]))
    return f"the frames are kept in {syntax} and sent as {offered} with transfer-syntax={syntax} (or *), not transcoded"


def _frames_stream(storage_key: str, numbers: list[int], part_type: str, boundary: str) -> Iterator[bytes]:
    """Each asked frame as one part (PS3.18 8.6.1.2), read from the stored file alone, a chunk at a time."""
    with default_storage.open(storage_key, "rb") as handle, stored_pixels(handle) as pixels:
        for number in numbers:
            yield f"--{boundary}\r\nContent-Type: {part_type}\r\n\r\n".encode()
            yield from pixels.frame_chunks(number - 1)
            yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


def _json_array_stream(instances: list[Instance]) -> Iterator[bytes]:
    yield b"["
    for number, instance in enumerate(instances):
        yield (b"," if number else b"") + json.dumps(instance_header_json(instance.storage_key)).encode()
    yield b"]"


def instance_header_json(storage_key: str) -> dict[str, Any]:
    """A stored instance's data set in DICOM JSON, up to its pixel data and without bulk data."""
    with default_storage.open(storage_key, "rb") as handle:
        dataset = read_header(handle)
    return _without_bulk_data(
        dataset.to_json_dict(bulk_data_threshold=BULK_DATA_THRESHOLD, bulk_data_element_handler=lambda _: _OMITTED)
    )


def _without_bulk_data(attributes: dict[str, Any]) -> dict[str, Any]:
    """Drop bulk data: the elements named as such, and those pydicom would send by BulkDataURI; in items too."""
    kept: dict[str, Any] = {}
    for tag, attribute in attributes.items():
        if "BulkDataURI" in attribute or _is_bulk_data_tag(tag):
            continue
        if attribute.get("vr") == "SQ" and "Value" in attribute:
            attribute = {**attribute, "Value": [_without_bulk_data(item) for item in attribute["Value"]]}
        kept[tag] = attribute
    return kept


def _is_bulk_data_tag(tag: str) -> bool:
    """A bulk data tag, with the repeating groups of overlays, curves and audio (60xx,3000), (50xx,3000|200C)."""
    tag = tag.upper()
    return (
        tag in BULK_DATA_TAGS
        or (tag[:2] == "60" and tag[4:] == "3000")
        or (tag[:2] == "50" and tag[4:] in ("3000", "200C"))
    )
