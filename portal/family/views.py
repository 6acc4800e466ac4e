"""The patient's family pages (namespace `patient`): see, add and end family members, from either side.

Every view is handed the patient (portal.access's patient kind, by the
URLconf) and loads each link through accounts.family's helpers for its side:
`get_link_for_viewer` (links they asked for) or `get_link_for_member` (links
asking for their own exams); a miss is a 404. Every step is audited under the
patient who took it.
"""

from django.contrib import messages
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import family
from accounts.models import FamilyKind, FamilyLink, FamilyStatus, User
from accounts.phones import masked
from accounts.stepup import fresh_code_required
from portal.audit import trail
from portal.audit.models import AuditAction
from portal.exams.requesters import Requester, requester_view
from portal.family.forms import AdultForm, ChildForm, ConsentCodeForm


def _patient(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # the patient kind resolved it (portal.access)
    return user


@never_cache
@require_GET
@requester_view
def family_page(request: HttpRequest, patient: Requester) -> HttpResponse:
    user = _patient(request)
    mine = family.links_of_viewer(user).filter(Q(status=FamilyStatus.ACTIVE) | FamilyLink.waiting())
    seeing_me = family.links_to_member(user).filter(status=FamilyStatus.ACTIVE).order_by("consented_at")
    context = {
        "mine": mine.order_by("created_at", "pk"),
        "waiting": _with_numbers(family.requests_waiting(user)),
        "seeing_me": _with_numbers(seeing_me),
    }
    return render(request, "family/family.html", context)


def _with_numbers(links: QuerySet[FamilyLink]) -> list[FamilyLink]:
    """The links, each with its viewer's number masked (`viewer_number`): the family member knows who asks."""
    found = list(links)
    for link in found:
        link.viewer_number = masked(link.viewer.phone or "")  # type: ignore[attr-defined]
    return found


@never_cache
@require_http_methods(["GET", "POST"])
@fresh_code_required  # before the form: a phone left unlocked must not add someone
@requester_view
def add_adult(request: HttpRequest, patient: Requester) -> HttpResponseBase:
    user = _patient(request)
    form = AdultForm(request.POST or None)
    refusal = None
    if request.method == "POST" and form.is_valid():
        link, refusal = family.ask_adult(
            user, form.cleaned_data["phone"], form.cleaned_data["label"], request.META.get("REMOTE_ADDR")
        )
        if link is not None:
            trail.record(request, AuditAction.FAMILY_ASK, family=link.pk, kind=FamilyKind.ADULT)
            return redirect("patient:family-consent", link.pk)
    status = 429 if refusal and refusal.retry_after else 400 if request.method == "POST" else 200
    return render(request, "family/add_adult.html", {"form": form, "refusal": refusal}, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
@requester_view
def consent(request: HttpRequest, patient: Requester, pk: int) -> HttpResponseBase:
    """The viewer enters the code their family member received."""
    link = family.get_link_for_viewer(_patient(request), pk)
    if link.status == FamilyStatus.ACTIVE:
        return redirect("patient:family-studies", link.pk)
    if link.kind != FamilyKind.ADULT or not link.is_waiting:
        raise Http404
    form = ConsentCodeForm(request.POST or None)
    wrong = False
    if request.method == "POST" and form.is_valid():
        if family.consent_with_code(link, form.cleaned_data["code"]):
            trail.record(request, AuditAction.FAMILY_CONSENT, family=link.pk, by="code")
            messages.success(request, _("You can now see the exams of %(name)s.") % {"name": link.label})
            return redirect("patient:family-studies", link.pk)
        wrong = True
    context = {"form": form, "link": link, "phone": masked(link.phone), "wrong": wrong}
    return render(request, "family/consent.html", context, status=400 if request.method == "POST" else 200)


@require_POST
@requester_view
def resend_consent(request: HttpRequest, patient: Requester, pk: int) -> HttpResponseBase:
    user = _patient(request)
    link = family.get_link_for_viewer(user, pk)
    if link.kind != FamilyKind.ADULT or not link.is_waiting:
        raise Http404
    _link, refusal = family.ask_adult(user, link.phone, link.label, request.META.get("REMOTE_ADDR"))
    if refusal is not None:
        messages.error(request, refusal.message)
    else:
        trail.record(request, AuditAction.FAMILY_ASK, family=link.pk, kind=FamilyKind.ADULT, again=True)
        messages.info(request, _("A new code was sent, if the region holds exams under this number."))
    return redirect("patient:family-consent", link.pk)


@never_cache
@require_http_methods(["GET", "POST"])
@fresh_code_required  # before the form: a phone left unlocked must not add someone
@requester_view
def add_child(request: HttpRequest, patient: Requester) -> HttpResponseBase:
    form = ChildForm(request.POST or None)
    refusal = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        link, refusal = family.ask_child(_patient(request), data["label"], data["child_name"], data["birth_date"])
        if link is not None:
            trail.record(request, AuditAction.FAMILY_ASK, family=link.pk, kind=FamilyKind.CHILD)
            return redirect("patient:family-desk", link.pk)
    status = 429 if refusal else 400 if request.method == "POST" else 200
    return render(request, "family/add_child.html", {"form": form, "refusal": refusal}, status=status)


@never_cache
@require_GET
@requester_view
def desk(request: HttpRequest, patient: Requester, pk: int) -> HttpResponse:
    """The desk code a guardian shows at a hospital, with what to bring."""
    link = family.get_link_for_viewer(_patient(request), pk)
    if link.kind != FamilyKind.CHILD or not (link.status == FamilyStatus.ACTIVE or link.is_waiting):
        raise Http404
    return render(request, "family/desk.html", {"link": link})


@require_POST
@requester_view
def end_mine(request: HttpRequest, patient: Requester, pk: int) -> HttpResponseBase:
    """The viewer stops seeing a family member's exams (or takes back a request)."""
    user = _patient(request)
    link = family.get_link_for_viewer(user, pk)
    if family.end(link, user):
        trail.record(request, AuditAction.FAMILY_END, family=link.pk, side="viewer")
        messages.info(request, _("You no longer see the exams of %(name)s.") % {"name": link.label})
    return redirect("patient:family")


@require_POST
@fresh_code_required  # the family member's own exams, given to someone
@requester_view
def allow(request: HttpRequest, patient: Requester, pk: int) -> HttpResponseBase:
    """The family member, signed in with their own number, allows a request for their exams."""
    user = _patient(request)
    link = family.get_link_for_member(user, pk)
    if family.allow(link, user):
        trail.record(request, AuditAction.FAMILY_CONSENT, family=link.pk, by="member")
        messages.success(request, _("%(number)s can now see your exams.") % {"number": masked(link.viewer.phone or "")})
    return redirect("patient:family")


@require_POST
@requester_view
def end_theirs(request: HttpRequest, patient: Requester, pk: int) -> HttpResponseBase:
    """The family member withdraws their consent, or declines a request: at once."""
    user = _patient(request)
    link = family.get_link_for_member(user, pk)
    if family.end(link, user):
        trail.record(request, AuditAction.FAMILY_END, family=link.pk, side="member")
        messages.info(
            request, _("%(number)s can no longer see your exams.") % {"number": masked(link.viewer.phone or "")}
        )
    return redirect("patient:family")
