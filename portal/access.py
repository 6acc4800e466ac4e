"""Who is asking: every kind of requester turned into one `StudyScope`, here and nowhere else.

- `PATIENT`, signed in by phone: the hospital records linked to their number
  (accounts.links), and those of the family members who consented or whose
  guardian they are (accounts.family). Not signed in: to the sign-in page.
- `SHARE`, a session that opened a shared link (portal.sharing.shares): the
  one shared study, its report only if the patient shared it, downloads only
  if allowed, the patient's name masked unless they chose to show it. An
  unknown or ended share: the "link not valid" page.
- `STAFF`, signed in with a password and a verified TOTP code: their
  hospitals, or the whole region for a regional admin (accounts.staff's one
  rule). Anyone else: to the staff sign-in page.
- `dicomweb_scope`, for every DICOMweb endpoint: a hospital's token (Bearer:
  its hospital's studies, and STOW-RS into it), a share's credentials (Basic
  token and access code, or Bearer for a share without a code: the share's
  study, read only, only for a share that allows downloads), or with no
  `Authorization` a session that reads the whole region by the staff rule.

The views never work a scope out themselves: the URLconf hands each its kind
(portal.urls, portal.issuance.urls), and `Kind.required` resolves it once per
request. This module stands above the apps whose rules it calls (portal.sharing,
accounts, imaging) and below the staff apps that use it directly.
"""

from urllib.parse import urlencode

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse

from accounts.family import visible_records
from accounts.staff import staff_scope_of
from imaging.access import StudyScope, credentials
from imaging.tokens import hospital_for_token
from portal.exams.requesters import Kind, Requester
from portal.sharing import shares
from portal.sharing.views import link_not_valid, private

# A patient's pages are asked for again each time they are shown (back button included), so a
# shared computer's cache does not serve them after sign-out; images set their own, short, policy.
PATIENT_PAGE_CACHE = "private, no-cache"


def _patient(request: HttpRequest) -> Requester | None:
    phone = getattr(request.user, "phone", None) if request.user.is_authenticated else None
    if not phone:
        return None
    visible = visible_records(request.user.pk or 0, phone)
    family = tuple((record, link) for record, link in visible.items() if link is not None)
    scope = StudyScope(patient_record_ids=tuple(sorted(visible)))
    return Requester(scope, "patient", user_id=request.user.pk, full_name=True, family=family)


def _to_sign_in(request: HttpRequest) -> HttpResponseBase:
    return redirect("accounts:sign-in")


def _patient_page(response: HttpResponseBase) -> HttpResponseBase:
    if not response.has_header("Cache-Control"):
        response["Cache-Control"] = PATIENT_PAGE_CACHE
    return response


def _share(request: HttpRequest) -> Requester | None:
    share = shares.session_share(request)
    if share is None:
        return None
    request.share = share  # type: ignore[attr-defined]  # the audit log's (portal.audit.trail)
    scope = StudyScope(study_ids=(share.study_id,), reports=share.include_report)
    # A share shows the family name and "*" unless its patient chose to show their whole name.
    return Requester(scope, "share", share=share, download=share.allow_download, full_name=share.show_full_name)


def _staff(request: HttpRequest) -> Requester | None:
    scope = staff_scope_of(request.user)
    if scope.empty:
        return None
    return Requester(scope, "staff", user_id=request.user.pk, download=False, full_name=True)


def _to_staff_sign_in(request: HttpRequest) -> HttpResponseBase:
    return redirect(reverse("accounts:staff-sign-in") + "?" + urlencode({"next": request.path}))


PATIENT = Kind("patient", _patient, _to_sign_in, _patient_page)
SHARE = Kind("share", _share, link_not_valid, private)
STAFF = Kind("staff", _staff, _to_staff_sign_in)


def dicomweb_scope(request: HttpRequest) -> StudyScope | None:
    """What a DICOMweb request may read (and store), or None (401).

    A hospital token first, then a share; without `Authorization`, a regional
    admin's verified session. Hospital tokens stay Bearer-only: browsers replay
    Basic credentials, and STOW-RS is CSRF-exempt.
    """
    if "Authorization" not in request.headers:
        staff = staff_scope_of(request.user)
        return staff if staff.everything else None
    presented = credentials(request)
    if presented is None:
        return None
    hospital = hospital_for_token(presented.token) if presented.bearer else None
    if hospital is not None:
        return StudyScope(hospital_ids=(hospital.pk,), store_into=hospital)
    share = shares.dicomweb_share(request, presented.token, presented.code)
    if share is None:
        return None
    return StudyScope(study_ids=(share.study_id,), reports=share.include_report)
