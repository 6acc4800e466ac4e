"""The patient's side of sharing: make a share of an exam, see who opened it, show its link again,
replace its access code, end it, turn it back on.

Every view is handed the patient (a `Requester` of portal.access's patient
kind, by the URLconf: `patient_urls`), and every share is loaded through
`_get_share_for_patient`: the shares of the patient's own studies (their own,
those a hospital made at discharge, those a family member made), and those
they made of a family member's; a miss is a 404. Pages that show a token or
a code (`share_created`, `share_link`, `share_detail`) are kept by no cache.
Making a share and replacing its code ask for a recent SMS code (accounts.stepup): a
remembered phone may be in other hands.
"""

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponseBadRequest
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.stepup import fresh_code_required
from portal.audit import trail
from portal.audit.models import AuditAction
from portal.exams.requesters import Requester, requester_view
from portal.sharing import qr, shares
from portal.sharing.forms import ShareForm
from portal.sharing.models import ShareLink

NEW_SHARE = "new_share"
NEW_CODE = "new_code"


def _shares_of_patient(patient: Requester) -> QuerySet[ShareLink]:
    """Every share of the patient's own exams (theirs, a hospital's at discharge, a family member's
    who may see them), and the shares they made of a family member's exams: not the family member's own."""
    own = patient.of_person(None).scope.studies()
    made = Q(created_by_id=patient.user_id, study__in=patient.scope.studies())
    return ShareLink.objects.filter(Q(study__in=own) | made)


def _get_share_for_patient(patient: Requester, pk: int) -> ShareLink:
    return get_object_or_404(_shares_of_patient(patient).select_related("study", "study__hospital"), pk=pk)


@require_POST
@fresh_code_required
@requester_view
def create_share(request: HttpRequest, patient: Requester, pk: int) -> HttpResponseBase:
    found = patient.study(pk)
    form = ShareForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("; ".join(str(e) for errors in form.errors.values() for e in errors))
    new = shares.create_share(found, request.user.pk or 0, **form.cleaned_data)
    # Shown once, on the next page, then gone: the code is kept only as its hash, the token only sealed.
    request.session[NEW_SHARE] = {"id": new.share.pk, "token": new.token, "code": new.code}
    trail.record(request, AuditAction.SHARE_CREATE, study_id=found.pk, share=new.share.pk, **patient.audit(found))
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
    return _share_card(request, share, new["token"], code=new["code"])


@never_cache
@require_GET
@fresh_code_required  # the link itself: a phone left unlocked must not hand it on
@requester_view
def share_link(request: HttpRequest, patient: Requester, pk: int) -> HttpResponseBase:
    """A share's link and QR code shown again (audited); its access code cannot be: only its hash is kept."""
    share = _get_share_for_patient(patient, pk)
    token = shares.token_to_show(share)
    if token is None:
        return redirect("patient:share", share.pk)
    trail.record(request, AuditAction.SHARE_SHOW, study_id=share.study_id, share=share.pk)
    return _share_card(request, share, token, again=True)


def _share_card(
    request: HttpRequest, share: ShareLink, token: str, *, code: str = "", again: bool = False
) -> HttpResponseBase:
    """The QR code and link of a share (and its access code, when just made), kept by no cache (`never_cache`)."""
    url = request.build_absolute_uri(reverse("share-open", args=[token]))
    context = {
        "share": share,
        "url": url,
        "code": code,
        "again": again,
        "qr_svg": qr.qr_svg(url),
        "qr_png": qr.qr_png_data_uri(url),
    }
    response = render(request, "sharing/share_created.html", context)
    # The token is in the page, not in its address: `same-origin` sends the address to no other site.
    # Not `no-referrer`: under it browsers post the page's forms (the language switch, sign-out) with
    # `Origin: null`, which the CSRF check refuses outside /s/ (issue 18, bug 1).
    response["Referrer-Policy"] = "same-origin"
    return response


@require_GET
@requester_view
def my_shares(request: HttpRequest, patient: Requester) -> HttpResponseBase:
    listed = list(_shares_of_patient(patient).select_related("study", "study__hospital")[:200])
    return render(request, "sharing/my_shares.html", {"shares": listed, "now": timezone.now()})


@never_cache
@require_GET
@requester_view
def share_detail(request: HttpRequest, patient: Requester, pk: int) -> HttpResponseBase:
    # A replaced access code is shown here once, as a new share's is on its page (`share_created`).
    fresh = request.session.pop(NEW_CODE, None) or {}
    share = _get_share_for_patient(patient, pk)
    context = {
        "share": share,
        "openings": list(share.openings.all()[:100]),
        "now": timezone.now(),
        "new_code": fresh.get("code", "") if fresh.get("id") == share.pk else "",
        "link_shown_again": shares.token_to_show(share) is not None,
    }
    return render(request, "sharing/share_detail.html", context)


@require_POST
@fresh_code_required
@requester_view
def replace_code(request: HttpRequest, patient: Requester, pk: int) -> HttpResponseBase:
    """A new access code for the share, shown once on its page; the old one stops working at once."""
    share = _get_share_for_patient(patient, pk)
    code = shares.replace_code(share)
    if code:
        request.session[NEW_CODE] = {"id": share.pk, "code": code}
        trail.record(request, AuditAction.SHARE_NEW_CODE, study_id=share.study_id, share=share.pk)
    return redirect("patient:share", share.pk)


@require_POST
@requester_view
def revoke_share(request: HttpRequest, patient: Requester, pk: int) -> HttpResponseBase:
    share = _get_share_for_patient(patient, pk)
    if shares.revoke(share):
        trail.record(request, AuditAction.SHARE_REVOKE, study_id=share.study_id, share=share.pk)
    return redirect("patient:shares")


@require_POST
@fresh_code_required  # a link that wrong codes suspended, opened to guessing again
@requester_view
def enable_share(request: HttpRequest, patient: Requester, pk: int) -> HttpResponseBase:
    """Turn back on a share that wrong access codes suspended (its token and code stay the same)."""
    share = _get_share_for_patient(patient, pk)
    if shares.reenable(share):
        trail.record(request, AuditAction.SHARE_ENABLE, study_id=share.study_id, share=share.pk)
    return redirect("patient:shares")
