"""Patient pages. Everything is scoped to the records linked to the signed-in number."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts.models import PhoneLink
from imaging.access import StudyScope


def patient_scope(request: HttpRequest) -> StudyScope:
    """The studies of every hospital record linked to the signed-in patient's number."""
    user = request.user
    if not (user.is_authenticated and getattr(user, "phone", None)):
        return StudyScope()
    records = tuple(PhoneLink.objects.filter(phone=user.phone).values_list("patient_record_id", flat=True))
    return StudyScope(patient_record_ids=records) if records else StudyScope()


def patient_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not (request.user.is_authenticated and getattr(request.user, "phone", None)):
            return redirect("accounts:sign-in")
        return view(request, *args, **kwargs)

    return wrapped


@patient_required
def my_studies(request: HttpRequest) -> HttpResponse:
    studies = patient_scope(request).studies().for_list()
    return render(request, "portal/my_studies.html", {"studies": studies})
