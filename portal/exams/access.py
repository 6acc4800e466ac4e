"""The patient as a requester: everything is scoped to the records linked to the signed-in number.

A patient's page loads objects only through the `get_*_for_patient` helpers
below; a miss is a 404 whether the object does not exist or belongs to someone else.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect

from accounts.links import linked_record_ids
from imaging.access import StudyScope, renderable_instance, scope_of_request
from imaging.models import Instance, Series, Study
from portal.exams.models import Download
from portal.exams.pages import ExamAccess

# A patient's pages are asked for again each time they are shown (back button included), so a
# shared computer's cache does not serve them after sign-out; images set their own, short, policy.
PAGE_CACHE = "private, no-cache"


def patient_scope(request: HttpRequest) -> StudyScope:
    """The studies of every hospital record linked to the signed-in patient's number.

    Worked out once per request (as `staff_scope`): the exam page and the
    viewer's manifest ask for it twice, through their access helper and their
    `ExamAccess`.
    """
    return scope_of_request(request, "_patient_scope", _patient_scope)


def _patient_scope(request: HttpRequest) -> StudyScope:
    phone = getattr(request.user, "phone", None) if request.user.is_authenticated else None
    if not phone:
        return StudyScope()
    records = linked_record_ids(phone)
    return StudyScope(patient_record_ids=records) if records else StudyScope()


def patient_access(request: HttpRequest) -> ExamAccess:
    return ExamAccess(patient_scope(request), "patient", user_id=request.user.pk)


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


def get_study_for_patient(request: HttpRequest, pk: int) -> Study:
    return get_object_or_404(patient_scope(request).studies().select_related("hospital", "patient"), pk=pk)


def get_series_for_patient(request: HttpRequest, pk: int) -> Series:
    return get_object_or_404(patient_scope(request).series().select_related("study"), pk=pk)


def get_instance_for_patient(request: HttpRequest, pk: int) -> Instance:
    instance = renderable_instance(patient_scope(request), pk)
    if instance is None:
        raise Http404
    return instance


def get_download_for_patient(request: HttpRequest, pk: int) -> Download:
    downloads = Download.objects.filter(requested_by_id=request.user.pk, study__in=patient_scope(request).studies())
    return get_object_or_404(downloads.select_related("study"), pk=pk)
