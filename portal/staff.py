"""Staff pages. Every query is scoped to the staff member's hospitals (regional admins: all)."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from imaging import image_views
from imaging.access import StudyScope, renderable_instance
from imaging.models import Instance, Series


def staff_scope(request: HttpRequest) -> StudyScope:
    """The studies this staff member may see."""
    user = request.user
    if user.is_authenticated and user.is_superuser:
        return StudyScope(everything=True)
    return StudyScope()


def _get_instance_for_staff(request: HttpRequest, pk: int) -> Instance:
    instance = renderable_instance(staff_scope(request), pk)
    if instance is None:
        raise Http404
    return instance


def _get_series_for_staff(request: HttpRequest, pk: int) -> Series:
    return get_object_or_404(staff_scope(request).series(), pk=pk)


@require_GET
@login_required
def instance_preview(request: HttpRequest, pk: int) -> HttpResponse:
    return image_views.serve_preview(request, _get_instance_for_staff(request, pk))


@require_GET
@login_required
def instance_thumbnail(request: HttpRequest, pk: int) -> HttpResponse:
    return image_views.serve_thumbnail(request, _get_instance_for_staff(request, pk))


@require_GET
@login_required
def series_thumbnail(request: HttpRequest, pk: int) -> HttpResponse:
    return image_views.serve_series_thumbnail(request, _get_series_for_staff(request, pk))
