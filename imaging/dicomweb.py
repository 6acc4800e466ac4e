"""DICOMweb over the regional index: STOW-RS (PS3.18 10.5) and QIDO-RS (PS3.18 10.6).

Hospitals authenticate with `Authorization: Bearer <token>` (issued by
`issue_hospital_token`) and see their own hospital's studies; regional admins,
signed in, see all. Everything else gets 401, and a study outside the asker's
scope is simply not there.
"""

import datetime as dt
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from imaging.headers import is_valid_uid
from imaging.ingest import IngestOutcome, IngestResult, IngestUnavailable, RejectionKind, ingest_instance
from imaging.models import Hospital, Instance, Series, Study
from imaging.multipart import ContentType, MalformedMultipart, read_parts
from imaging.tokens import hospital_for_token

logger = logging.getLogger(__name__)

DICOM_JSON = "application/dicom+json"
MAX_LIMIT = 1000

FAILURE_REASON = {
    RejectionKind.UNREADABLE: 0xC000,
    RejectionKind.INVALID: 0xC000,
    RejectionKind.SOP_CLASS_MISMATCH: 0xA900,
    RejectionKind.PATIENT_MISMATCH: 0xC000,
}
OUT_OF_RESOURCES = 0xA700
CONFLICT = 0xC000
STUDY_MISMATCH = 0xC000


@dataclass(frozen=True)
class DicomWebAccess:
    """Who asks: a hospital's system (by token) or a regional admin (by session)."""

    hospital: Hospital | None = None
    regional: bool = False

    def studies(self) -> QuerySet[Study]:
        if self.regional:
            return Study.objects.all()
        return Study.objects.filter(hospital=self.hospital)


def problem(status: int, detail: str) -> JsonResponse:
    response = JsonResponse({"detail": detail}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="dicomweb"'
    return response


def access_for(request: HttpRequest) -> DicomWebAccess | None:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        hospital = hospital_for_token(token.strip())
        return DicomWebAccess(hospital=hospital) if hospital else None
    user = request.user
    if user.is_authenticated and user.is_superuser:
        return DicomWebAccess(regional=True)
    return None


def dicomweb_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Authenticate the asker (401 otherwise) and hand the view its access."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        access = access_for(request)
        if access is None:
            return problem(401, "a valid bearer token (or a regional admin's session) is required")
        return view(request, access, *args, **kwargs)

    # Bearer tokens are not sent by browsers on their own: no CSRF exposure.
    return csrf_exempt(wrapped)


# ---------------------------------------------------------------- STOW-RS


@require_http_methods(["GET", "POST"])
@dicomweb_view
def studies(request: HttpRequest, access: DicomWebAccess) -> HttpResponse:
    if request.method == "POST":
        return store(request, access, study_uid=None)
    return search_studies(request, access)


@require_http_methods(["POST"])
@dicomweb_view
def study(request: HttpRequest, access: DicomWebAccess, study_uid: str) -> HttpResponse:
    return store(request, access, study_uid=study_uid)


def store(request: HttpRequest, access: DicomWebAccess, study_uid: str | None) -> HttpResponse:
    """STOW-RS: every part through ingest; the answer lists what was stored and what failed."""
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
    length = int(request.headers.get("Content-Length") or 0) or None
    referenced, failed = [], []
    try:
        for part in read_parts(request, content_type.parameters.get("boundary", ""), length):
            if part.content_type not in ("application/dicom", ""):
                failed.append(_failed_item("", "", 0xC000))
                continue
            result, reason = _ingest_part(part.body.read(), access.hospital, study_uid)
            if reason is None:
                referenced.append(_referenced_item(request, result))
            else:
                failed.append(_failed_item(result.sop_class_uid, result.sop_uid, reason))
    except MalformedMultipart as error:
        if not referenced and not failed:
            return problem(400, f"the multipart body is malformed: {error}")
        failed.append(_failed_item("", "", 0xC000))
    return _store_response(request, referenced, failed, study_uid)


def _ingest_part(data: bytes, hospital: Hospital, study_uid: str | None) -> tuple[IngestResult, int | None]:
    """The ingest result, and the failure reason (PS3.18 10.5.3) when it was not stored."""
    try:
        result = ingest_instance(data, hospital, source_name=f"STOW-RS {hospital.code}")
    except IngestUnavailable as error:
        logger.warning("STOW-RS part refused for now: %s", error)
        return IngestResult(IngestOutcome.REJECTED, reason=str(error)), OUT_OF_RESOURCES
    if result.ok:
        if study_uid is not None and result.study_uid != study_uid:
            return result, STUDY_MISMATCH
        return result, None
    if result.outcome == IngestOutcome.CONFLICT:
        return result, CONFLICT
    assert result.rejection is not None
    return result, FAILURE_REASON[result.rejection]


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
    studies = access.studies().select_related("patient")
    try:
        studies = _match_studies(studies, request.GET)
        limit, offset = _paging(request.GET)
    except ValueError as error:
        return problem(400, str(error))
    rows = studies.order_by("-study_date", "-pk")[offset : offset + limit]
    return _search_response([_study_json(request, s) for s in rows])


@require_http_methods(["GET"])
@dicomweb_view
def search_series(request: HttpRequest, access: DicomWebAccess, study_uid: str) -> HttpResponse:
    found = access.studies().filter(study_uid=study_uid).first()
    if found is None:
        return problem(404, "no such study")
    series = Series.objects.filter(study=found).order_by("series_number", "pk")
    modality = _value(request.GET, "Modality", "00080060")
    if modality:
        series = series.filter(modality=modality)
    try:
        limit, offset = _paging(request.GET)
    except ValueError as error:
        return problem(400, str(error))
    return _search_response([_series_json(request, found, s) for s in series[offset : offset + limit]])


@require_http_methods(["GET"])
@dicomweb_view
def search_instances(request: HttpRequest, access: DicomWebAccess, study_uid: str, series_uid: str) -> HttpResponse:
    series = (
        Series.objects.filter(series_uid=series_uid, study__in=access.studies().filter(study_uid=study_uid))
        .select_related("study")
        .first()
    )
    if series is None:
        return problem(404, "no such series")
    try:
        limit, offset = _paging(request.GET)
    except ValueError as error:
        return problem(400, str(error))
    instances = Instance.objects.filter(series=series).in_anatomical_order()[offset : offset + limit]
    return _search_response([_instance_json(request, series, i) for i in instances])


def _search_response(rows: list[dict[str, Any]]) -> HttpResponse:
    if not rows:
        return HttpResponse(status=204)
    return HttpResponse(json.dumps(rows), content_type=DICOM_JSON)


def _value(params: Any, keyword: str, tag: str) -> str:
    return str(params.get(keyword) or params.get(tag) or "").strip()


def _paging(params: Any) -> tuple[int, int]:
    try:
        limit = int(params.get("limit") or MAX_LIMIT)
        offset = int(params.get("offset") or 0)
    except ValueError:
        raise ValueError("limit and offset must be integers") from None
    if limit < 1 or offset < 0:
        raise ValueError("limit must be positive and offset not negative")
    return min(limit, MAX_LIMIT), offset


def _match_studies(studies: QuerySet[Study], params: Any) -> QuerySet[Study]:
    """The standard's matching (PS3.4 C.2.2.2) for the attributes the index keeps."""
    if patient_id := _value(params, "PatientID", "00100020"):
        studies = studies.filter(patient__patient_id=patient_id)
    if accession := _value(params, "AccessionNumber", "00080050"):
        studies = studies.filter(accession_number=accession)
    if uids := _value(params, "StudyInstanceUID", "0020000D"):
        studies = studies.filter(study_uid__in=[u.strip() for u in re.split(r"[,\\]", uids) if u.strip()])
    if name := _value(params, "PatientName", "00100010"):
        studies = studies.filter(patient__name__iregex=_wildcard_regex(name))
    if study_date := _value(params, "StudyDate", "00080020"):
        studies = studies.filter(_date_range("study_date", study_date))
    if modalities := _value(params, "ModalitiesInStudy", "00080061"):
        wanted = [m.strip().upper() for m in re.split(r"[,\\]", modalities) if m.strip()]
        studies = studies.filter(Exists(Series.objects.filter(study=OuterRef("pk"), modality__in=wanted)))
    return studies


def _wildcard_regex(pattern: str) -> str:
    """DICOM wildcard matching: * any run, ? one character (PS3.4 C.2.2.2.4)."""
    return "^" + "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern) + "$"


def _date_range(field: str, value: str) -> Q:
    """A DA value or range: 20260101, 20260101-20260131, -20260131, 20260101- (PS3.4 C.2.2.2.5)."""
    start, separator, end = value.partition("-")
    if not separator:
        return Q(**{field: _date(start)})
    condition = Q()
    if start:
        condition &= Q(**{f"{field}__gte": _date(start)})
    if end:
        condition &= Q(**{f"{field}__lte": _date(end)})
    return condition


def _date(text: str) -> dt.date:
    try:
        return dt.datetime.strptime(text.strip().replace(".", ""), "%Y%m%d").date()
    except ValueError:
        raise ValueError(f"{text!r} is not a DICOM date (YYYYMMDD)") from None


def element(vr: str, value: Any) -> dict[str, Any]:
    """One attribute in DICOM JSON (PS3.18 F.2); an empty value has no Value."""
    if value is None or value == "":
        return {"vr": vr}
    if vr == "PN":
        return {"vr": vr, "Value": [{"Alphabetic": str(value)}]}
    if vr == "DA" and isinstance(value, dt.date):
        value = value.strftime("%Y%m%d")
    if vr == "TM" and isinstance(value, dt.time):
        value = value.strftime("%H%M%S")
    values = value if isinstance(value, list) else [value]
    return {"vr": vr, "Value": values}


def _study_json(request: HttpRequest, study: Study) -> dict[str, Any]:
    patient = study.patient
    return {
        "00080020": element("DA", study.study_date),
        "00080030": element("TM", study.study_time),
        "00080050": element("SH", study.accession_number),
        "00080061": element("CS", study.modality_list or None),
        "00080090": element("PN", study.referring_physician),
        "00081030": element("LO", study.description),
        "00081190": element("UR", request.build_absolute_uri(f"/dicomweb/studies/{study.study_uid}")),
        "00100010": element("PN", patient.name),
        "00100020": element("LO", patient.patient_id),
        "00100021": element("LO", patient.issuer_of_patient_id),
        "00100030": element("DA", patient.birth_date),
        "00100040": element("CS", patient.sex),
        "0020000D": element("UI", study.study_uid),
        "00200010": element("SH", study.study_id),
        "00201206": element("IS", study.number_of_series),
        "00201208": element("IS", study.number_of_instances),
    }


def _series_json(request: HttpRequest, study: Study, series: Series) -> dict[str, Any]:
    url = f"/dicomweb/studies/{study.study_uid}/series/{series.series_uid}"
    return {
        "00080060": element("CS", series.modality),
        "0008103E": element("LO", series.description),
        "00081190": element("UR", request.build_absolute_uri(url)),
        "00180015": element("CS", series.body_part),
        "0020000D": element("UI", study.study_uid),
        "0020000E": element("UI", series.series_uid),
        "00200011": element("IS", series.series_number),
        "00201209": element("IS", series.number_of_instances),
    }


def _instance_json(request: HttpRequest, series: Series, instance: Instance) -> dict[str, Any]:
    url = f"/dicomweb/studies/{series.study.study_uid}/series/{series.series_uid}/instances/{instance.sop_uid}"
    return {
        "00080016": element("UI", instance.sop_class_uid),
        "00080018": element("UI", instance.sop_uid),
        "00081190": element("UR", request.build_absolute_uri(url)),
        "0020000D": element("UI", series.study.study_uid),
        "0020000E": element("UI", series.series_uid),
        "00200013": element("IS", instance.instance_number),
        "00280008": element("IS", instance.number_of_frames if instance.has_pixels else None),
        "00280010": element("US", instance.rows),
        "00280011": element("US", instance.columns),
    }
