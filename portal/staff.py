"""Staff pages. Every query is scoped to the staff member's hospitals (regional admins: all).

Staff sign in with a password and a TOTP code; a session without a verified
device is not a staff session.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from accounts.models import StaffRole
from imaging import image_views
from imaging.access import StudyScope, renderable_instance
from imaging.models import Instance, Series


def is_staff_member(request: HttpRequest) -> bool:
    user = request.user
    # is_verified() is django-otp's: True once this session confirmed a TOTP code.
    if not (user.is_authenticated and getattr(user, "is_verified", lambda: False)()):
        return False
    return bool(user.is_superuser or user.memberships.exists())


def staff_scope(request: HttpRequest) -> StudyScope:
    """The studies this staff member may see: their hospitals', or all for regional admins."""
    if not is_staff_member(request):
        return StudyScope()
    user = request.user
    memberships = list(user.memberships.values_list("role", "hospital_id"))  # type: ignore[union-attr]
    if user.is_superuser or any(role == StaffRole.REGIONAL_ADMIN for role, _ in memberships):
        return StudyScope(everything=True)
    return StudyScope(hospital_ids=tuple(hospital for _, hospital in memberships if hospital))


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_staff_member(request):
            return redirect(reverse("accounts:staff-sign-in") + "?" + urlencode({"next": request.path}))
        return view(request, *args, **kwargs)

    return wrapped


def _get_instance_for_staff(request: HttpRequest, pk: int) -> Instance:
    instance = renderable_instance(staff_scope(request), pk)
    if instance is None:
        raise Http404
    return instance


def _get_series_for_staff(request: HttpRequest, pk: int) -> Series:
    return get_object_or_404(staff_scope(request).series(), pk=pk)


@staff_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/staff_home.html")


@require_GET
@staff_required
def instance_preview(request: HttpRequest, pk: int) -> HttpResponse:
    return image_views.serve_preview(request, _get_instance_for_staff(request, pk))


@require_GET
@staff_required
def instance_thumbnail(request: HttpRequest, pk: int) -> HttpResponse:
    return image_views.serve_thumbnail(request, _get_instance_for_staff(request, pk))


@require_GET
@staff_required
def series_thumbnail(request: HttpRequest, pk: int) -> HttpResponse:
    return image_views.serve_series_thumbnail(request, _get_series_for_staff(request, pk))
