"""Staff pages. Every query is scoped to the staff member's hospitals (regional admins: all).

Every view is handed the staff member (`portal.access.STAFF`), and loads
objects through their scope; a miss is a 404. Their images are the exam
views every requester has (portal.exams.views, routed in portal.issuance.urls).
"""

import base64
from typing import Any

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.links import confirm_suggestion
from accounts.models import PhoneLink, SuggestedPhone
from accounts.phones import masked
from imaging.models import Study
from portal.access import STAFF
from portal.audit import trail
from portal.audit.models import AuditAction
from portal.exams import pages
from portal.exams.requesters import Requester
from portal.issuance import discharge
from portal.issuance.bulk import apply_bulk, read_bulk_csv
from portal.issuance.forms import BulkUploadForm, IssueForm, StudySearchForm
from portal.issuance.models import FilmChoice, Issuance
from portal.sharing import qr


def _get_issuance_for_staff(staff: Requester, pk: int) -> Issuance:
    scope = staff.scope
    issuances = (
        Issuance.objects.all() if scope.everything else Issuance.objects.filter(hospital_id__in=scope.hospital_ids)
    )
    return get_object_or_404(issuances.select_related("hospital", "patient_record", "share"), pk=pk)


PAGE_SIZE = 25


@require_GET
@STAFF.required
def home(request: HttpRequest, staff: Requester) -> HttpResponse:
    """Find exams by MRN, accession, name, dates and modality, a page at a time."""
    form = StudySearchForm(request.GET or None)
    page = None
    if form.is_bound and form.is_valid() and any(form.cleaned_data.values()):
        studies = _search(staff.scope.studies().for_list(), form.cleaned_data)
        page = Paginator(studies, PAGE_SIZE).get_page(request.GET.get("page"))
        searched = {k: str(v) for k, v in form.cleaned_data.items() if v}
        trail.record(request, AuditAction.STAFF_SEARCH, search=searched)
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "issuance/staff_home.html", {"form": form, "page": page, "query": query.urlencode()})


def _search(studies: QuerySet[Study], data: dict[str, Any]) -> QuerySet[Study]:
    if data.get("mrn"):
        studies = studies.filter(patient__patient_id=data["mrn"].strip())
    if data.get("accession"):
        studies = studies.filter(accession_number=data["accession"].strip())
    if data.get("name"):
        studies = studies.filter(patient__name__icontains=data["name"].strip())
    if data.get("date_from"):
        studies = studies.filter(study_date__gte=data["date_from"])
    if data.get("date_to"):
        studies = studies.filter(study_date__lte=data["date_to"])
    if data.get("modality"):
        studies = studies.filter(modalities__icontains=data["modality"].strip().upper())
    return studies


@require_GET
@STAFF.required
def study(request: HttpRequest, staff: Requester, pk: int) -> HttpResponse:
    found = staff.study(pk)
    trail.record(request, AuditAction.STUDY_VIEW, study_id=found.pk)
    return _study_page(request, staff, found, IssueForm(initial={"phone": _known_phone(found)}))


def _study_page(
    request: HttpRequest, staff: Requester, found: Study, form: IssueForm, status: int = 200
) -> HttpResponse:
    context = pages.exam_context(staff, found, [])
    others = staff.scope.studies().filter(patient=found.patient).exclude(pk=found.pk).for_list()
    context.update(
        {
            "issue_form": form,
            "other_studies": others,
            "issuances": found.issuances.select_related("issued_by").order_by("-issued_at")[:20],
            "suggested_phones": [(s.pk, masked(s.phone)) for s in _suggested_phones(found)],
        }
    )
    return render(request, "issuance/staff_study.html", context, status=status)


def _known_phone(found: Study) -> str:
    """The number to offer at issuance: one that a verified source linked, never a suggestion."""
    return PhoneLink.objects.filter(patient_record=found.patient).values_list("phone", flat=True).first() or ""


def _suggested_phones(found: Study) -> list[SuggestedPhone]:
    return list(SuggestedPhone.objects.filter(patient_record=found.patient).order_by("created_at"))


def _get_suggestion_for_staff(staff: Requester, pk: int) -> SuggestedPhone:
    records = staff.scope.studies().values("patient_id")
    return get_object_or_404(SuggestedPhone.objects.select_related("patient_record"), pk=pk, patient_record__in=records)


@require_POST
@STAFF.required
def confirm_phone(request: HttpRequest, staff: Requester, pk: int) -> HttpResponse:
    """Staff vouch for a number the images named: it becomes the patient's link (one click, audited)."""
    suggested = _get_suggestion_for_staff(staff, pk)
    link = confirm_suggestion(suggested, request.user)  # type: ignore[arg-type]
    found = staff.scope.studies().filter(patient=suggested.patient_record).order_by("-study_date").first()
    trail.record(request, AuditAction.PHONE_CONFIRM, study_id=found.pk if found else None, phone_link=link.pk)
    return redirect(reverse("staff:study", args=[found.pk]) + "#issue" if found else reverse("staff:home"))


@require_POST
@STAFF.required
def issue_study(request: HttpRequest, staff: Requester, pk: int) -> HttpResponse:
    found = staff.study(pk)
    form = IssueForm(request.POST)
    if not form.is_valid():
        return _study_page(request, staff, found, form, status=400)
    wanted = {int(v) for v in request.POST.getlist("also") if v.isdigit()}
    others = list(staff.scope.studies().filter(patient=found.patient, pk__in=wanted))
    slip = discharge.issue(
        found.patient,
        [found, *others],
        form.cleaned_data["phone"],
        FilmChoice(form.cleaned_data["choice"]),
        request.user,  # type: ignore[arg-type]
        with_share=form.cleaned_data["with_share"],
        notify=form.cleaned_data["notify"],
    )
    return _show_slip(request, slip)


def _show_slip(request: HttpRequest, slip: discharge.IssuedSlip) -> HttpResponse:
    """Keep the slip's one-time links in the session for the slip page, which shows them once."""
    trail.record(
        request,
        AuditAction.ISSUE,
        study_id=slip.issuance.studies.values_list("pk", flat=True).first(),
        issuance=slip.issuance.pk,
        choice=slip.issuance.choice,
    )
    request.session[SLIP] = {
        "id": slip.issuance.pk,
        "sign_in": slip.sign_in_url,
        "share": slip.share_url,
        "code": slip.share_code,
    }
    return redirect("staff:slip", slip.issuance.pk)


SLIP = "staff_slip"


@never_cache
@require_GET
@STAFF.required
def slip(request: HttpRequest, staff: Requester, pk: int) -> HttpResponse:
    # Out of the session before anything else, whichever slip this is: its links are shown once.
    kept = request.session.pop(SLIP, None) or {}
    issued = _get_issuance_for_staff(staff, pk)
    if kept.get("id") != issued.pk:
        return render(request, "issuance/staff_slip_gone.html", {"issuance": issued}, status=410)
    found = discharge.IssuedSlip(issued, kept["sign_in"], kept["share"], kept["code"])
    studies = list(issued.studies.select_related("hospital").order_by("-study_date"))
    lines = [issued.hospital.name, issued.patient_record.name.replace("^", " ")]
    lines += [f"{s.study_date or ''} {s.modalities} {s.description}" for s in studies]
    context = {
        "issuance": issued,
        "studies": studies,
        "slip": found,
        "sign_in_qr": qr.qr_svg(found.sign_in_url) if found.sign_in_url else "",
        "share_qr": qr.qr_svg(found.share_url) if found.share_url else "",
        "pdf": "data:application/pdf;base64," + base64.b64encode(discharge.slip_pdf(found, lines)).decode(),
    }
    return render(request, "issuance/staff_slip.html", context)


@require_POST
@STAFF.required
def revoke_issuance(request: HttpRequest, staff: Requester, pk: int) -> HttpResponse:
    issued = _get_issuance_for_staff(staff, pk)
    if discharge.revoke(issued):
        trail.record(request, AuditAction.ISSUE_REVOKE, issuance=issued.pk)
    return redirect("staff:study", issued.studies.values_list("pk", flat=True).first() or 0)


@require_POST
@STAFF.required
def reissue(request: HttpRequest, staff: Requester, pk: int) -> HttpResponse:
    issued = _get_issuance_for_staff(staff, pk)
    if issued.revoked_at is not None:
        raise Http404
    return _show_slip(request, discharge.reissue(issued, request.user))  # type: ignore[arg-type]


BULK = "staff_bulk"


@require_http_methods(["GET", "POST"])
@STAFF.required
def bulk(request: HttpRequest, staff: Requester) -> HttpResponse:
    """Upload a CSV and see every row checked; nothing is applied until confirmed."""
    form = BulkUploadForm(request.POST or None, request.FILES or None)
    preview = None
    if request.method == "POST" and form.is_valid():
        preview = read_bulk_csv(form.cleaned_data["file"].read(1 << 20), staff.scope)
        if preview.valid:
            request.session[BULK] = preview.as_session()
        else:
            request.session.pop(BULK, None)
    status = 400 if preview is not None and not preview.valid else 200
    return render(request, "issuance/staff_bulk.html", {"form": form, "preview": preview}, status=status)


@require_POST
@STAFF.required
def bulk_confirm(request: HttpRequest, staff: Requester) -> HttpResponse:
    rows = request.session.pop(BULK, None)
    if not rows:
        return redirect("staff:bulk")
    issued = apply_bulk(rows, staff.scope, request.user)  # type: ignore[arg-type]
    for item in issued:
        trail.record(request, AuditAction.ISSUE, issuance=item.pk, choice=item.choice, bulk=True)
    return render(request, "issuance/staff_bulk_done.html", {"issued": issued})
