"""Patient pages. Everything is scoped to the records linked to the signed-in number.

Objects are loaded only through the `_get_*_for_patient` helpers below; a miss
is a 404 whether the object does not exist or belongs to someone else.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from imaging.access import StudyScope, renderable_instance, scope_of_request
from imaging.models import Instance, Report, Series, Study
from portal import audit, exam, qr, shares
from portal.downloads import request_download
from portal.forms import ShareForm
from portal.models import AuditAction, Download, DownloadStatus, ShareLink

LINKED_RECORDS = "SELECT patient_record_id FROM accounts_phonelink WHERE phone = %s ORDER BY patient_record_id"


def patient_scope(request: HttpRequest) -> StudyScope:
    """The studies of every hospital record linked to the signed-in patient's number.

    Worked out once per request (as `staff_scope`): the exam page and the
    viewer's manifest ask for it twice, through their access helper and their
    `ExamAccess`.
    """
    return scope_of_request(request, "_patient_scope", _patient_scope)


def _patient_scope(request: HttpRequest) -> StudyScope:
    user = request.user
    if not (user.is_authenticated and getattr(user, "phone", None)):
        return StudyScope()
    # Plain SQL: every patient request, images included, starts here.
    with connection.cursor() as cursor:
        cursor.execute(LINKED_RECORDS, [user.phone])
        records = tuple(row[0] for row in cursor.fetchall())
    return StudyScope(patient_record_ids=records) if records else StudyScope()


def patient_access(request: HttpRequest) -> exam.ExamAccess:
    return exam.ExamAccess(patient_scope(request), "patient", user_id=request.user.pk)


# A patient's pages are asked for again each time they are shown (back button included), so a
# shared computer's cache does not serve them after sign-out; images set their own, short, policy.
PAGE_CACHE = "private, no-cache"


def patient_required(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not (request.user.is_authenticated and getattr(request.user, "phone", None)):
            return redirect("accounts:sign-in")
        response = view(request, *args, **kwargs)
        if not response.has_header("Cache-Control"):
            response["Cache-Control"] = PAGE_CACHE
        return response

    return wrapped


def _get_study_for_patient(request: HttpRequest, pk: int) -> Study:
    return get_object_or_404(patient_scope(request).studies().select_related("hospital", "patient"), pk=pk)


def _get_series_for_patient(request: HttpRequest, pk: int) -> Series:
    return get_object_or_404(patient_scope(request).series().select_related("study"), pk=pk)


def _get_instance_for_patient(request: HttpRequest, pk: int) -> Instance:
    instance = renderable_instance(patient_scope(request), pk)
    if instance is None:
        raise Http404
    return instance


def _get_download_for_patient(request: HttpRequest, pk: int) -> Download:
    downloads = Download.objects.filter(requested_by_id=request.user.pk, study__in=patient_scope(request).studies())
    return get_object_or_404(downloads.select_related("study"), pk=pk)


@require_GET
@patient_required
def my_studies(request: HttpRequest) -> HttpResponse:
    context = exam.study_list(patient_access(request), exam.StudyFilters.from_query(request.GET))
    return render(request, "portal/my_studies.html", context)


@require_GET
@patient_required
def study(request: HttpRequest, pk: int) -> HttpResponse:
    found = _get_study_for_patient(request, pk)
    audit.record(request, AuditAction.STUDY_VIEW, study_id=found.pk)
    downloads = list(Download.objects.filter(study=found, requested_by_id=request.user.pk)[:5])
    context = exam.exam_context(patient_access(request), found, downloads)
    return render(request, "portal/study.html", {**context, "share_form": ShareForm()})


@require_GET
@patient_required
def report_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    found = _get_study_for_patient(request, pk)
    report = Report.objects.filter(study=found).select_related("instance").first()
    if report is None or not report.is_pdf:
        raise Http404
    audit.record(request, AuditAction.REPORT_VIEW, study_id=found.pk, download=bool(request.GET.get("download")))
    return exam.report_pdf(request, report)


@require_GET
@patient_required
def viewer(request: HttpRequest, pk: int) -> HttpResponse:
    found = _get_study_for_patient(request, pk)
    context = exam.viewer_context(patient_access(request), found, request.GET.get("series", ""))
    if context is None:
        raise Http404
    audit.record(request, AuditAction.VIEWER_OPEN, study_id=found.pk, series_id=context["current"].pk)
    return render(request, "portal/viewer.html", context)


@require_GET
@patient_required
def series_manifest(request: HttpRequest, pk: int) -> HttpResponse:
    return exam.manifest(patient_access(request), _get_series_for_patient(request, pk))


@require_GET
@patient_required
def series_thumbnail(request: HttpRequest, pk: int) -> HttpResponse:
    return exam.series_thumbnail(request, _get_series_for_patient(request, pk))


@require_GET
@patient_required
def instance_preview(request: HttpRequest, pk: int) -> HttpResponse:
    return exam.preview(request, _get_instance_for_patient(request, pk))


@require_GET
@patient_required
def instance_thumbnail(request: HttpRequest, pk: int) -> HttpResponse:
    return exam.thumbnail(request, _get_instance_for_patient(request, pk))


@require_GET
@patient_required
def instance_raw(request: HttpRequest, pk: int) -> HttpResponse:
    return exam.raw_values(request, _get_instance_for_patient(request, pk))


@require_POST
@patient_required
def request_study_download(request: HttpRequest, pk: int) -> HttpResponse:
    found = _get_study_for_patient(request, pk)
    kind = exam.download_kind(request.POST.get("kind", ""))
    if kind is None:
        return HttpResponseBadRequest("kind must be jpeg or dicom")
    download = request_download(found, kind, request.POST.get("preset", ""), request.user.pk)
    audit.record(request, AuditAction.DOWNLOAD_REQUEST, study_id=found.pk, kind=kind, download=download.pk)
    return redirect("patient:download", download.pk)


@require_GET
@patient_required
def download(request: HttpRequest, pk: int) -> HttpResponse:
    found = _get_download_for_patient(request, pk)
    return render(request, "portal/download.html", {"download": found, "access": patient_access(request)})


@require_GET
@patient_required
def download_file(request: HttpRequest, pk: int) -> HttpResponseBase:
    found = _get_download_for_patient(request, pk)
    if found.status != DownloadStatus.READY:
        raise Http404
    audit.record(request, AuditAction.DOWNLOAD, study_id=found.study_id, kind=found.kind, download=found.pk)
    return exam.download_file(found)


# ---------------------------------------------------------------- shares

NEW_SHARE = "new_share"


def _shares_of_patient(request: HttpRequest) -> QuerySet[ShareLink]:
    """Every share of the patient's exams: their own, and those a hospital made at discharge."""
    return ShareLink.objects.filter(study__in=patient_scope(request).studies())


def _get_share_for_patient(request: HttpRequest, pk: int) -> ShareLink:
    return get_object_or_404(_shares_of_patient(request).select_related("study", "study__hospital"), pk=pk)


@require_POST
@patient_required
def create_share(request: HttpRequest, pk: int) -> HttpResponseBase:
    found = _get_study_for_patient(request, pk)
    form = ShareForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("; ".join(str(e) for errors in form.errors.values() for e in errors))
    new = shares.create_share(found, request.user.pk or 0, **form.cleaned_data)
    # Shown once, on the next page, then gone: only the hash is kept.
    request.session[NEW_SHARE] = {"id": new.share.pk, "token": new.token, "code": new.code}
    audit.record(request, AuditAction.SHARE_CREATE, study_id=found.pk, share=new.share.pk)
    return redirect("patient:share-created", new.share.pk)


@never_cache
@require_GET
@patient_required
def share_created(request: HttpRequest, pk: int) -> HttpResponseBase:
    # Taken out of the session before anything else: whatever this request shows, the token and
    # code are gone from the session store after it (a reload shows the share without them).
    new = request.session.pop(NEW_SHARE, None) or {}
    share = _get_share_for_patient(request, pk)
    if new.get("id") != share.pk:
        return redirect("patient:share", share.pk)
    url = request.build_absolute_uri(reverse("share-open", args=[new["token"]]))
    context = {
        "share": share,
        "url": url,
        "code": new["code"],
        "qr_svg": qr.qr_svg(url),
        "qr_png": qr.qr_png_data_uri(url),
    }
    response = render(request, "portal/share_created.html", context)
    response["Referrer-Policy"] = "no-referrer"
    return response


@require_GET
@patient_required
def my_shares(request: HttpRequest) -> HttpResponseBase:
    listed = list(_shares_of_patient(request).select_related("study", "study__hospital")[:200])
    return render(request, "portal/my_shares.html", {"shares": listed, "now": timezone.now()})


@require_GET
@patient_required
def share_detail(request: HttpRequest, pk: int) -> HttpResponseBase:
    share = _get_share_for_patient(request, pk)
    openings = list(share.openings.all()[:100])
    return render(request, "portal/share_detail.html", {"share": share, "openings": openings, "now": timezone.now()})


@require_POST
@patient_required
def revoke_share(request: HttpRequest, pk: int) -> HttpResponseBase:
    share = _get_share_for_patient(request, pk)
    if shares.revoke(share):
        audit.record(request, AuditAction.SHARE_REVOKE, study_id=share.study_id, share=share.pk)
    return redirect("patient:shares")


@require_POST
@patient_required
def enable_share(request: HttpRequest, pk: int) -> HttpResponseBase:
    """Turn back on a share that wrong access codes suspended (its token and code stay the same)."""
    share = _get_share_for_patient(request, pk)
    if shares.reenable(share):
        audit.record(request, AuditAction.SHARE_ENABLE, study_id=share.study_id, share=share.pk)
    return redirect("patient:shares")
