"""Staff pages. Every query is scoped to the staff member's hospitals (regional admins: all)."""

from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from imaging import image_views
from imaging.models import Instance, Series, Study


def staff_studies(request: HttpRequest) -> QuerySet[Study]:
    """The studies this staff member may see."""
    user = request.user
    if user.is_authenticated and user.is_superuser:
        return Study.objects.all()
    return Study.objects.none()


def _get_instance_for_staff(request: HttpRequest, pk: int) -> Instance:
    return get_object_or_404(
        Instance.objects.filter(series__study__in=staff_studies(request), has_pixels=True).select_related("series"),
        pk=pk,
    )


def _get_series_for_staff(request: HttpRequest, pk: int) -> Series:
    return get_object_or_404(Series.objects.filter(study__in=staff_studies(request)), pk=pk)


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
