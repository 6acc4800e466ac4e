"""The clinician's side of a shared link: open it (with its code), then the one shared exam.

`/s/<token>` is the address in the QR code. Once the token (and the code, when
there is one) is accepted, the session holds the share's id and the browser is
sent to `/s/x/studies/<pk>/`: the token leaves the address bar and the history.
Every request of the session checks the share again; an ended share shows the
same "link not valid" page as an unknown token.
"""

import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import Http404, HttpRequest, HttpResponseBadRequest
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from imaging.access import StudyScope, renderable_instance
from imaging.models import Instance, Report, Series, Study
from portal.audit import trail
from portal.audit.models import AuditAction
from portal.exams import pages
from portal.exams.models import Download, DownloadStatus
from portal.exams.tasks import request_download
from portal.sharing import shares
from portal.sharing.models import ShareLink


def _private(response: HttpResponseBase) -> HttpResponseBase:
    """Share responses leave nothing behind: no referrer, no index, nothing in the browser's cache
    (a shared workstation must not show the images once the share has ended)."""
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Cache-Control"] = "private, no-store"
    return response


def link_not_valid(request: HttpRequest) -> HttpResponseBase:
    """One page, one status, for unknown, expired and revoked links alike."""
    return _private(render(request, "sharing/share_not_valid.html", {"language_next": "/"}, status=404))


@never_cache
@require_http_methods(["GET", "POST"])
def open_link(request: HttpRequest, token: str) -> HttpResponseBase:
    """The QR code's address: a page that asks for the code (or a tap); the POST opens the share.

    Opening takes a POST even without a code, so that a link preview or a
    page of another site cannot open a share in someone's browser.
    """
    share = shares.find_share(token)
    if share is None:
        return link_not_valid(request)
    outcome = None
    if request.method == "POST":
        outcome = shares.check_code(share, request.POST.get("code", "")) if share.has_code else None
        if outcome is None or outcome.accepted:
            shares.open_share(request, share)
            request.share = share  # type: ignore[attr-defined]
            trail.record(request, AuditAction.STUDY_VIEW, study_id=share.study_id, share=share.pk, opened=True)
            return _private(redirect("share:study", share.study_id))
        trail.record(request, AuditAction.SHARE_CODE_WRONG, study_id=share.study_id, share=share.pk)
    locked_until = (outcome.locked_until if outcome else None) or share.locked_until
    locked_minutes = _minutes_left(locked_until)
    # The page's address holds the token: it goes nowhere else, not even the language form.
    context = {
        "share": share,
        "outcome": outcome,
        "locked": locked_minutes > 0,
        "locked_minutes": locked_minutes,
        "language_next": "/",
    }
    status = 403 if outcome is not None else 200
    return _private(render(request, "sharing/share_code.html", context, status=status))


def _minutes_left(until: dt.datetime | None) -> int:
    """Whole minutes until a lock ends, rounded up; 0 when there is no lock in force."""
    seconds = (until - timezone.now()).total_seconds() if until else 0
    return max(0, -int(-seconds // 60))


def share_required(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        share = shares.session_share(request)
        if share is None:
            return link_not_valid(request)
        request.share = share  # type: ignore[attr-defined]
        return _private(view(request, share, *args, **kwargs))

    return wrapped


def share_access(share: ShareLink) -> pages.ExamAccess:
    scope = StudyScope(study_ids=(share.study_id,))
    return pages.ExamAccess(
        scope, "share", report=share.include_report, download=share.allow_download, extra={"share": share}
    )


def _get_study_for_share(share: ShareLink, pk: int) -> Study:
    return get_object_or_404(Study.objects.select_related("hospital", "patient"), pk=pk, pk__in=[share.study_id])


def _get_series_for_share(share: ShareLink, pk: int) -> Series:
    return get_object_or_404(Series.objects.select_related("study"), pk=pk, study_id=share.study_id)


def _get_instance_for_share(share: ShareLink, pk: int) -> Instance:
    instance = renderable_instance(StudyScope(study_ids=(share.study_id,)), pk)
    if instance is None:
        raise Http404
    return instance


def _get_download_for_share(share: ShareLink, pk: int) -> Download:
    if not share.allow_download:
        raise Http404
    return get_object_or_404(Download.objects.select_related("study"), pk=pk, share=share)


@require_GET
@share_required
def home(request: HttpRequest, share: ShareLink) -> HttpResponseBase:
    return redirect("share:study", share.study_id)


@require_GET
@share_required
def study(request: HttpRequest, share: ShareLink, pk: int) -> HttpResponseBase:
    found = _get_study_for_share(share, pk)
    trail.record(request, AuditAction.STUDY_VIEW, study_id=found.pk, share=share.pk)
    downloads = list(Download.objects.filter(share=share)[:5]) if share.allow_download else []
    context = pages.exam_context(share_access(share), found, downloads)
    return render(request, "exams/study.html", {**context, "share": share})


@require_GET
@share_required
def report_pdf(request: HttpRequest, share: ShareLink, pk: int) -> HttpResponseBase:
    found = _get_study_for_share(share, pk)
    report = Report.objects.filter(study=found).select_related("instance").first()
    if not share.include_report or report is None or not report.is_pdf:
        raise Http404
    trail.record(request, AuditAction.REPORT_VIEW, study_id=found.pk, share=share.pk)
    return pages.report_pdf(request, report)


@require_GET
@share_required
def viewer(request: HttpRequest, share: ShareLink, pk: int) -> HttpResponseBase:
    found = _get_study_for_share(share, pk)
    context = pages.viewer_context(share_access(share), found, request.GET.get("series", ""))
    if context is None:
        raise Http404
    trail.record(request, AuditAction.VIEWER_OPEN, study_id=found.pk, series_id=context["current"].pk, share=share.pk)
    return render(request, "exams/viewer.html", context)


@require_GET
@share_required
def series_manifest(request: HttpRequest, share: ShareLink, pk: int) -> HttpResponseBase:
    return pages.manifest(share_access(share), _get_series_for_share(share, pk))


@require_GET
@share_required
def series_thumbnail(request: HttpRequest, share: ShareLink, pk: int) -> HttpResponseBase:
    return pages.series_thumbnail(request, _get_series_for_share(share, pk))


@require_GET
@share_required
def instance_preview(request: HttpRequest, share: ShareLink, pk: int) -> HttpResponseBase:
    return pages.preview(request, _get_instance_for_share(share, pk))


@require_GET
@share_required
def instance_thumbnail(request: HttpRequest, share: ShareLink, pk: int) -> HttpResponseBase:
    return pages.thumbnail(request, _get_instance_for_share(share, pk))


@require_GET
@share_required
def instance_raw(request: HttpRequest, share: ShareLink, pk: int) -> HttpResponseBase:
    return pages.raw_values(request, _get_instance_for_share(share, pk))


@require_POST
@share_required
def request_study_download(request: HttpRequest, share: ShareLink, pk: int) -> HttpResponseBase:
    found = _get_study_for_share(share, pk)
    kind = pages.download_kind(request.POST.get("kind", ""))
    if not share.allow_download:
        raise Http404
    if kind is None:
        return HttpResponseBadRequest("kind must be jpeg or dicom")
    download = request_download(found, kind, request.POST.get("preset", ""), None, share.pk)
    trail.record(request, AuditAction.DOWNLOAD_REQUEST, study_id=found.pk, kind=kind, share=share.pk)
    return redirect("share:download", download.pk)


@require_GET
@share_required
def download(request: HttpRequest, share: ShareLink, pk: int) -> HttpResponseBase:
    found = _get_download_for_share(share, pk)
    return render(request, "exams/download.html", {"download": found, "access": share_access(share)})


@require_GET
@share_required
def download_file(request: HttpRequest, share: ShareLink, pk: int) -> HttpResponseBase:
    found = _get_download_for_share(share, pk)
    if found.status != DownloadStatus.READY:
        raise Http404
    trail.record(request, AuditAction.DOWNLOAD, study_id=found.study_id, kind=found.kind, share=share.pk)
    return pages.download_file(found)
