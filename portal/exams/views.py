"""The patient's exam pages: the list, an exam, the viewer, its images, downloads.

Everything is scoped to the records linked to the signed-in number, and every
object is loaded through a `get_*_for_patient` helper (portal.exams.access).
"""

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from imaging.models import Report
from portal.audit import trail
from portal.audit.models import AuditAction
from portal.exams import pages
from portal.exams.access import (
    get_download_for_patient,
    get_instance_for_patient,
    get_series_for_patient,
    get_study_for_patient,
    patient_access,
    patient_required,
)
from portal.exams.models import Download, DownloadStatus
from portal.exams.tasks import request_download


@require_GET
@patient_required
def my_studies(request: HttpRequest) -> HttpResponse:
    context = pages.study_list(patient_access(request), pages.StudyFilters.from_query(request.GET))
    return render(request, "exams/my_studies.html", context)


@require_GET
@patient_required
def study(request: HttpRequest, pk: int) -> HttpResponse:
    found = get_study_for_patient(request, pk)
    trail.record(request, AuditAction.STUDY_VIEW, study_id=found.pk)
    downloads = list(Download.objects.filter(study=found, requested_by_id=request.user.pk)[:5])
    context = pages.exam_context(patient_access(request), found, downloads)
    # The page's "Share with a doctor" box is the sharing app's, placed by the template ({% share_box %}).
    return render(request, "exams/study.html", context)


@require_GET
@patient_required
def report_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    found = get_study_for_patient(request, pk)
    report = Report.objects.filter(study=found).select_related("instance").first()
    if report is None or not report.is_pdf:
        raise Http404
    trail.record(request, AuditAction.REPORT_VIEW, study_id=found.pk, download=bool(request.GET.get("download")))
    return pages.report_pdf(request, report)


@require_GET
@patient_required
def viewer(request: HttpRequest, pk: int) -> HttpResponse:
    found = get_study_for_patient(request, pk)
    context = pages.viewer_context(patient_access(request), found, request.GET.get("series", ""))
    if context is None:
        raise Http404
    trail.record(request, AuditAction.VIEWER_OPEN, study_id=found.pk, series_id=context["current"].pk)
    return render(request, "exams/viewer.html", context)


@require_GET
@patient_required
def series_manifest(request: HttpRequest, pk: int) -> HttpResponse:
    return pages.manifest(patient_access(request), get_series_for_patient(request, pk))


@require_GET
@patient_required
def series_thumbnail(request: HttpRequest, pk: int) -> HttpResponse:
    return pages.series_thumbnail(request, get_series_for_patient(request, pk))


@require_GET
@patient_required
def instance_preview(request: HttpRequest, pk: int) -> HttpResponse:
    return pages.preview(request, get_instance_for_patient(request, pk))


@require_GET
@patient_required
def instance_thumbnail(request: HttpRequest, pk: int) -> HttpResponse:
    return pages.thumbnail(request, get_instance_for_patient(request, pk))


@require_GET
@patient_required
def instance_raw(request: HttpRequest, pk: int) -> HttpResponse:
    return pages.raw_values(request, get_instance_for_patient(request, pk))


@require_POST
@patient_required
def request_study_download(request: HttpRequest, pk: int) -> HttpResponse:
    found = get_study_for_patient(request, pk)
    kind = pages.download_kind(request.POST.get("kind", ""))
    if kind is None:
        return HttpResponseBadRequest("kind must be jpeg or dicom")
    download = request_download(found, kind, request.POST.get("preset", ""), request.user.pk)
    trail.record(request, AuditAction.DOWNLOAD_REQUEST, study_id=found.pk, kind=kind, download=download.pk)
    return redirect("patient:download", download.pk)


@require_GET
@patient_required
def download(request: HttpRequest, pk: int) -> HttpResponse:
    found = get_download_for_patient(request, pk)
    return render(request, "exams/download.html", {"download": found, "access": patient_access(request)})


@require_GET
@patient_required
def download_file(request: HttpRequest, pk: int) -> HttpResponseBase:
    found = get_download_for_patient(request, pk)
    if found.status != DownloadStatus.READY:
        raise Http404
    trail.record(request, AuditAction.DOWNLOAD, study_id=found.study_id, kind=found.kind, download=found.pk)
    return pages.download_file(found)
