"""The patient's side of sharing: make a share of an exam, see who opened it, end it, turn it back on.

Every view is handed the patient (a `Requester` of portal.access's patient
kind, by the URLconf: `patient_urls`), and every share is loaded through
`_get_share_for_patient`: the shares of the studies in the patient's scope (their own, and those a hospital made at
discharge); a miss is a 404.
"""

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseBadRequest
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from portal.audit import trail
from portal.audit.models import AuditAction
from portal.exams.requesters import Requester, requester_view
from portal.sharing import qr, shares
from portal.sharing.forms import ShareForm
from portal.sharing.models import ShareLink

NEW_SHARE = "new_share"


def _shares_of_patient(patient: Requester) -> QuerySet[ShareLink]:
    """Every share of the patient's exams: their own, and those a hospital made at discharge."""
    return ShareLink.objects.filter(study__in=patient.scope.studies())


def _get_share_for_patient(patient: Requester, pk: int) -> ShareLink:
    return get_object_or_404(_shares_of_patient(patient).select_related("study", "study__hospital"), pk=pk)


@require_POST
@requester_view
def create_share(request: HttpRequest, patient: Requester, pk: int) -> HttpResponseBase:
    found = patient.study(pk)
    form = ShareForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("; ".join(str(e) for errors in form.errors.values() for e in errors))
    new = shares.create_share(found, request.user.pk or 0, **form.cleaned_data)
    # Shown once, on the next page, then gone: only the hash is kept.
    request.session[NEW_SHARE] = {"id": new.share.pk, "token": new.token, "code": new.code}
    trail.record(request, AuditAction.SHARE_CREATE, study_id=found.pk, share=new.share.pk)
    return redirect("patient:share-created", new.share.pk)


@never_cache
@require_GET
@requester_view
def share_created(request: HttpRequest, patient: Requester, pk: int) -> HttpResponseBase:
    # Taken out of the session before anything else: whatever this request shows, the token and
    # code are gone from the session store after it (a reload shows the share without them).
    new = request.session.pop(NEW_SHARE, None) or {}
    share = _get_share_for_patient(patient, pk)
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
    # The token is in the page, not in its address: the site's `same-origin` referrer policy sends
    # the address to no other site, and the language switch posts with its real Origin.
    return render(request, "sharing/share_created.html", context)


@require_GET
@requester_view
def my_shares(request: HttpRequest, patient: Requester) -> HttpResponseBase:
    listed = list(_shares_of_patient(patient).select_related("study", "study__hospital")[:200])
    return render(request, "sharing/my_shares.html", {"shares": listed, "now": timezone.now()})


@require_GET
@requester_view
def share_detail(request: HttpRequest, patient: Requester, pk: int) -> HttpResponseBase:
    share = _get_share_for_patient(patient, pk)
    openings = list(share.openings.all()[:100])
    return render(request, "sharing/share_detail.html", {"share": share, "openings": openings, "now": timezone.now()})


@require_POST
@requester_view
def revoke_share(request: HttpRequest, patient: Requester, pk: int) -> HttpResponseBase:
    share = _get_share_for_patient(patient, pk)
    if shares.revoke(share):
        trail.record(request, AuditAction.SHARE_REVOKE, study_id=share.study_id, share=share.pk)
    return redirect("patient:shares")


@require_POST
@requester_view
def enable_share(request: HttpRequest, patient: Requester, pk: int) -> HttpResponseBase:
    """Turn back on a share that wrong access codes suspended (its token and code stay the same)."""
    share = _get_share_for_patient(patient, pk)
    if shares.reenable(share):
        trail.record(request, AuditAction.SHARE_ENABLE, study_id=share.study_id, share=share.pk)
    return redirect("patient:shares")
