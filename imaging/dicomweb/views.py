"""The DICOMweb endpoints imaging/urls.py routes: STOW-RS (PS3.18 10.5), QIDO-RS (10.6) and WADO-RS (10.4).

Each authenticates its asker (`auth.dicomweb_view`: 401 otherwise), checks
the address, and hands over to its transaction: `stow.store`, the search of
`qido`, or `wado`'s retrieve, metadata and frames. WADO-RS retrieves
instances, their metadata and their frames (10.4.1.1.3), as stored: nothing is
transcoded. QIDO-RS searches the six resources of PS3.18 Table 10.6.1-1; what
it matches and answers is `imaging.dicomweb.qido`'s. Browser viewers on the
origins listed in `DICOMWEB_CORS_ORIGINS` may call every endpoint
(`cors.with_cors`, applied in imaging/urls.py).
"""

import json
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.views.decorators.http import require_http_methods

from imaging.access import StudyScope
from imaging.dicomweb import qido, wado
from imaging.dicomweb.auth import dicomweb_view
from imaging.dicomweb.responses import DICOM_JSON, SERVICE_PATH, accepts_dicom_json, problem, valid_uids
from imaging.dicomweb.stow import store


@require_http_methods(["GET", "POST"])
@dicomweb_view
def studies(request: HttpRequest, scope: StudyScope) -> HttpResponse:
    if request.method == "POST":
        return store(request, scope, study_uid=None)
    return search_studies(request, scope)


@require_http_methods(["GET", "POST"])
@dicomweb_view
def study(request: HttpRequest, scope: StudyScope, study_uid: str) -> HttpResponseBase:
    if request.method == "POST":
        return store(request, scope, study_uid=study_uid)
    return wado.retrieve(request, scope, study_uid)


def search_studies(request: HttpRequest, scope: StudyScope) -> HttpResponse:
    """Search for all studies (PS3.18 10.6, Table 10.6.1-1) in the asker's scope."""
    return _search(request, scope.studies(), qido.ALL_STUDIES)


@require_http_methods(["GET"])
@dicomweb_view
def search_series(request: HttpRequest, scope: StudyScope, study_uid: str) -> HttpResponse:
    """A study's series; a study outside the scope is not there (404)."""
    if not valid_uids(study_uid):
        return problem(400, "a UID in the address is not a valid UID")
    found = scope.studies().filter(study_uid=study_uid).first()
    if found is None:
        return problem(404, "no such study")
    return _search(request, scope.series().filter(study=found), qido.STUDY_SERIES)


@require_http_methods(["GET"])
@dicomweb_view
def search_all_series(request: HttpRequest, scope: StudyScope) -> HttpResponse:
    return _search(request, scope.series(), qido.ALL_SERIES)


@require_http_methods(["GET"])
@dicomweb_view
def search_study_instances(request: HttpRequest, scope: StudyScope, study_uid: str) -> HttpResponse:
    """A study's instances (a relational search, PS3.18 Table 10.6.1-1)."""
    if not valid_uids(study_uid):
        return problem(400, "a UID in the address is not a valid UID")
    found = scope.studies().filter(study_uid=study_uid).first()
    if found is None:
        return problem(404, "no such study")
    return _search(request, scope.instances().filter(series__study=found), qido.STUDY_INSTANCES)


@require_http_methods(["GET"])
@dicomweb_view
def search_instances(request: HttpRequest, scope: StudyScope, study_uid: str, series_uid: str) -> HttpResponse:
    """A series' instances; a series outside the scope is not there (404)."""
    if not valid_uids(study_uid, series_uid):
        return problem(400, "a UID in the address is not a valid UID")
    series = scope.series().filter(series_uid=series_uid, study__study_uid=study_uid).first()
    if series is None:
        return problem(404, "no such series")
    return _search(request, scope.instances().filter(series=series), qido.SERIES_INSTANCES)


@require_http_methods(["GET"])
@dicomweb_view
def search_all_instances(request: HttpRequest, scope: StudyScope) -> HttpResponse:
    return _search(request, scope.instances(), qido.ALL_INSTANCES)


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


@require_http_methods(["GET"])
@dicomweb_view
def retrieve_series(request: HttpRequest, scope: StudyScope, study_uid: str, series_uid: str) -> HttpResponseBase:
    return wado.retrieve(request, scope, study_uid, series_uid)


@require_http_methods(["GET"])
@dicomweb_view
def retrieve_instance(
    request: HttpRequest, scope: StudyScope, study_uid: str, series_uid: str, sop_uid: str
) -> HttpResponseBase:
    return wado.retrieve(request, scope, study_uid, series_uid, sop_uid)


@require_http_methods(["GET"])
@dicomweb_view
def study_metadata(request: HttpRequest, scope: StudyScope, study_uid: str) -> HttpResponseBase:
    return wado.metadata(request, scope, study_uid)


@require_http_methods(["GET"])
@dicomweb_view
def series_metadata(request: HttpRequest, scope: StudyScope, study_uid: str, series_uid: str) -> HttpResponseBase:
    return wado.metadata(request, scope, study_uid, series_uid)


@require_http_methods(["GET"])
@dicomweb_view
def instance_metadata(
    request: HttpRequest, scope: StudyScope, study_uid: str, series_uid: str, sop_uid: str
) -> HttpResponseBase:
    return wado.metadata(request, scope, study_uid, series_uid, sop_uid)


@require_http_methods(["GET"])
@dicomweb_view
def retrieve_frames(
    request: HttpRequest, scope: StudyScope, study_uid: str, series_uid: str, sop_uid: str, frame_list: str
) -> HttpResponseBase:
    return wado.frames(request, scope, study_uid, series_uid, sop_uid, frame_list)
