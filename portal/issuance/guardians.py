"""The desk's side of a child's family link: find the guardian's request by its desk code, attach the
child's records of the staff member's hospitals, or end it (accounts.family has the rules).

Staff find a request only by the code the guardian shows them; every record
offered is of the staff member's hospitals (regional admins: any), and of a
child (accounts.family.is_child).
"""

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts import family
from accounts.models import FamilyLink, User
from accounts.phones import masked
from imaging.models import PatientRecord
from portal.access import STAFF
from portal.audit import trail
from portal.audit.models import AuditAction
from portal.exams.requesters import Requester
from portal.issuance.forms import DeskCodeForm, GuardianConfirmForm

CANDIDATES = 20


def records_of_staff(staff: Requester) -> QuerySet[PatientRecord]:
    scope = staff.scope
    records = PatientRecord.objects.select_related("hospital")
    return records if scope.everything else records.filter(hospital_id__in=scope.hospital_ids)


def candidates(staff: Requester, link: FamilyLink, patient_id: str = "") -> QuerySet[PatientRecord]:
    """Records the desk may attach: by patient ID if typed, else those born on the day the guardian gave."""
    records = records_of_staff(staff).exclude(pk__in=link.records.values("pk"))
    wanted = Q(patient_id=patient_id.strip()) if patient_id.strip() else Q(birth_date=link.child_birth_date)
    found = records.filter(wanted).order_by("hospital__name", "patient_id")[:CANDIDATES]
    return PatientRecord.objects.filter(pk__in=[r.pk for r in found if family.is_child(r)]).select_related("hospital")


@never_cache
@require_GET
@STAFF.required
def guardians(request: HttpRequest, staff: Requester) -> HttpResponse:
    lookup = DeskCodeForm(request.GET or None)
    link = family.desk_request(lookup.cleaned_data["desk_code"]) if lookup.is_valid() else None
    context: dict[str, object] = {"lookup": lookup, "link": link, "not_found": lookup.is_valid() and link is None}
    if link is not None:
        context |= _request_context(staff, link, request.GET.get("patient_id", ""))
    return render(request, "issuance/staff_guardians.html", context)


def _request_context(staff: Requester, link: FamilyLink, patient_id: str) -> dict[str, object]:
    found = candidates(staff, link, patient_id)
    form = GuardianConfirmForm(found, initial={"desk_code": link.desk_code})
    attached = records_of_staff(staff).filter(pk__in=link.records.values("pk"))
    guardian = masked(link.viewer.phone or "")
    return {"form": form, "attached": attached, "guardian": guardian, "patient_id": patient_id}


@require_POST
@STAFF.required
def confirm_guardian(request: HttpRequest, staff: Requester) -> HttpResponseBase:
    link = family.desk_request(request.POST.get("desk_code", ""))
    if link is None:
        return redirect("staff:guardians")
    form = GuardianConfirmForm(records_of_staff(staff), request.POST)
    if not form.is_valid() or not all(family.is_child(r) for r in form.cleaned_data["records"]):
        context = {"lookup": DeskCodeForm(initial={"desk_code": link.desk_code}), "link": link}
        context |= _request_context(staff, link, "") | {"form": form}
        return render(request, "issuance/staff_guardians.html", context, status=400)
    records = list(form.cleaned_data["records"])
    user = request.user
    assert isinstance(user, User)
    try:
        family.confirm_guardianship(link, records, user)
    except ValueError:  # ended, or the record came of age, since the page was shown
        return redirect(reverse("staff:guardians") + "?ended=1")
    trail.record(request, AuditAction.GUARDIAN_CONFIRM, family=link.pk, records=[r.pk for r in records])
    return redirect(reverse("staff:guardians") + f"?desk_code={link.desk_code}&done=1")


@require_POST
@STAFF.required
def end_guardian(request: HttpRequest, staff: Requester) -> HttpResponseBase:
    """Staff end a child's link at the desk (the other parent's or the child's request, a court order)."""
    link = family.desk_request(request.POST.get("desk_code", ""))
    user = request.user
    if link is not None and isinstance(user, User) and family.end(link, user):
        trail.record(request, AuditAction.FAMILY_END, family=link.pk, side="staff")
    return redirect(reverse("staff:guardians") + "?ended=1")
