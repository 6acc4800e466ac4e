"""The exam pages, one set for every requester: the list, an exam, the viewer, its images, downloads.

Each view is handed its requester (`requesters.requester_view`, with the kind
the URLconf gives it: portal.exams.urls.exam_urls) and loads every object
through it: a patient sees the records linked to their number, a share
session its one study, staff their hospitals' images.
"""

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts import family
from accounts.models import FamilyLink, FamilyStatus
from accounts.stepup import ask_for_fresh_code, code_is_fresh
from imaging.models import Report
from portal.audit import trail
from portal.audit.models import AuditAction
from portal.exams import pages
from portal.exams.models import DownloadKind, DownloadStatus
from portal.exams.requesters import Requester, requester_view
from portal.exams.tasks import request_download


@require_GET
@requester_view
def my_studies(request: HttpRequest, requester: Requester) -> HttpResponse:
    """A patient's own exams, with the switcher to each family member's."""
    return _person_studies(request, requester, None)


@require_GET
@requester_view
def family_studies(request: HttpRequest, requester: Requester, pk: int) -> HttpResponse:
    """One family member's exams, as the patient's consent or guardianship shows them."""
    person = family.get_link_for_viewer(request.user, pk)  # type: ignore[arg-type]  # a patient: a User
    if person.status != FamilyStatus.ACTIVE:
        raise Http404
    return _person_studies(request, requester, person)


def _person_studies(request: HttpRequest, requester: Requester, person: FamilyLink | None) -> HttpResponse:
    shown = requester.of_person(person.pk if person else None)
    empty = _("No exams of %(name)s yet.") % {"name": person.label} if person else ""
    context = pages.study_list(shown, pages.StudyFilters.from_query(request.GET), empty)
    people, waiting = family.switcher(requester.user_id or 0, getattr(request.user, "phone", "") or "")
    switch = {"people": people, "person": person, "waiting": waiting}
    return render(request, "exams/my_studies.html", {**context, **switch})


@require_GET
@requester_view
def home(request: HttpRequest, requester: Requester) -> HttpResponseBase:
    """A share session's start: its one study."""
    if requester.share is None:
        raise Http404
    return redirect(requester.url("study", requester.share.study_id))  # type: ignore[attr-defined]


@require_GET
@requester_view
def study(request: HttpRequest, requester: Requester, pk: int) -> HttpResponse:
    found = requester.study(pk)
    trail.record(request, AuditAction.STUDY_VIEW, study_id=found.pk, **requester.audit(found))
    downloads = list(requester.downloads().filter(study=found)[:5])
    context = pages.exam_context(requester, found, downloads)
    person = family.shown_through(requester.family_link_of(found))
    # A patient's page has the sharing app's "Share with a doctor" box, placed by the template ({% share_box %}).
    in_wechat = "MicroMessenger" in request.headers.get("User-Agent", "")  # its in-app browser: no zips, poor PDFs
    return render(
        request, "exams/study.html", {**context, "share": requester.share, "in_wechat": in_wechat, "person": person}
    )


@require_GET
@requester_view
def report_pdf(request: HttpRequest, requester: Requester, pk: int) -> HttpResponse:
    found = requester.study(pk)
    report = Report.objects.filter(study=found).select_related("instance").first() if requester.report else None
    if report is None or not report.is_pdf:
        raise Http404
    download = bool(request.GET.get("download"))
    trail.record(request, AuditAction.REPORT_VIEW, study_id=found.pk, download=download, **requester.audit(found))
    return pages.report_pdf(request, report)


@require_GET
@requester_view
def report_page(request: HttpRequest, requester: Requester, pk: int) -> HttpResponse:
    found = requester.study(pk)
    report = Report.objects.filter(study=found).select_related("instance").first() if requester.report else None
    if report is None or not report.is_pdf:
        raise Http404
    assert report.instance is not None  # a PDF report is an instance's
    trail.record_images(request, AuditAction.REPORT_VIEW, report.instance.series_id, found.pk)
    return pages.report_page_png(request, report)


@require_GET
@requester_view
def viewer(request: HttpRequest, requester: Requester, pk: int) -> HttpResponse:
    found = requester.study(pk)
    context = pages.viewer_context(requester, found, request.GET.get("series", ""))
    if context is None:
        raise Http404
    series = context["current"].pk
    trail.record(request, AuditAction.VIEWER_OPEN, study_id=found.pk, series_id=series, **requester.audit(found))
    return render(request, "exams/viewer.html", context)


@require_GET
@requester_view
def series_manifest(request: HttpRequest, requester: Requester, pk: int) -> HttpResponse:
    return pages.manifest(requester, requester.series(pk))


@require_GET
@requester_view
def series_thumbnail(request: HttpRequest, requester: Requester, pk: int) -> HttpResponse:
    return pages.series_thumbnail(request, requester.series(pk))


@require_GET
@requester_view
def instance_preview(request: HttpRequest, requester: Requester, pk: int) -> HttpResponse:
    return pages.preview(request, requester.instance(pk))


@require_GET
@requester_view
def instance_thumbnail(request: HttpRequest, requester: Requester, pk: int) -> HttpResponse:
    return pages.thumbnail(request, requester.instance(pk))


@require_GET
@requester_view
def instance_raw(request: HttpRequest, requester: Requester, pk: int) -> HttpResponse:
    return pages.raw_values(request, requester.instance(pk))


@require_POST
@requester_view
def request_study_download(request: HttpRequest, requester: Requester, pk: int) -> HttpResponse:
    found = requester.study(pk)
    if not requester.download:
        raise Http404
    kind = pages.download_kind(request.POST.get("kind", ""))
    if kind is None:
        return HttpResponseBadRequest("kind must be jpeg or dicom")
    # The patient's original files ask for a recent SMS code (accounts.stepup); a share's were allowed by the patient.
    if kind == DownloadKind.DICOM and requester.share is None and not code_is_fresh(request):
        return ask_for_fresh_code(request)
    share_id = requester.share.pk if requester.share is not None else None
    download = request_download(found, kind, request.POST.get("preset", ""), requester.user_id, share_id)
    trail.record(
        request,
        AuditAction.DOWNLOAD_REQUEST,
        study_id=found.pk,
        kind=kind,
        download=download.pk,
        **requester.audit(found),
    )
    return redirect(requester.url("download", download.pk))


@require_GET
@requester_view
def download(request: HttpRequest, requester: Requester, pk: int) -> HttpResponse:
    found = requester.get_download(pk)
    return render(request, "exams/download.html", {"download": found, "requester": requester})


@require_GET
@requester_view
def download_file(request: HttpRequest, requester: Requester, pk: int) -> HttpResponseBase:
    found = requester.get_download(pk)
    if found.status != DownloadStatus.READY:
        raise Http404
    trail.record(
        request,
        AuditAction.DOWNLOAD,
        study_id=found.study_id,
        kind=found.kind,
        download=found.pk,
        **requester.audit(found.study),
    )
    return pages.download_file(found)
