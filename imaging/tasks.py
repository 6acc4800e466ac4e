"""Celery tasks of the imaging app: renders after ingest, and renders someone waits for.

Tasks are idempotent (a render is keyed by what it shows and made once),
acknowledged late, time-limited, and retried only for transient failures:
a broken image is recorded and answered with a placeholder, never retried.
"""

import logging

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from imaging.models import Instance, Series
from imaging.renders import RenderSpec, ensure_render

logger = logging.getLogger(__name__)

MAX_BULK_FRAMES = 300
TRANSIENT = (OperationalError, InterfaceError, OSError)
TASK_OPTIONS = {
    "acks_late": True,
    "autoretry_for": TRANSIENT,
    "retry_backoff": True,
    "max_retries": 3,
}


@shared_task(**TASK_OPTIONS)  # type: ignore[untyped-decorator]
def render_instance_previews(instance_id: int) -> list[str]:
    """Previews of every frame (up to a bound) at the file's window."""
    instance = Instance.objects.filter(pk=instance_id, has_pixels=True).first()
    if instance is None:
        return []
    frames = min(instance.number_of_frames, MAX_BULK_FRAMES)
    return [ensure_render(instance, RenderSpec(frame)).status for frame in range(frames)]


@shared_task(**TASK_OPTIONS)  # type: ignore[untyped-decorator]
def render_series_thumbnail(series_id: int) -> str:
    """The series' thumbnail, from its middle image in anatomical order."""
    instance = middle_instance(series_id)
    if instance is None:
        return "empty"
    return ensure_render(instance, RenderSpec.thumbnail()).status


@shared_task(**TASK_OPTIONS)  # type: ignore[untyped-decorator]
def render_on_demand(instance_id: int, spec: dict[str, object]) -> str:
    instance = Instance.objects.filter(pk=instance_id, has_pixels=True).first()
    if instance is None:
        return "missing"
    return ensure_render(instance, RenderSpec.from_json(spec)).status


def tasks_run_inline() -> bool:
    """No broker (or eager tasks, as in tests): work that would be queued is done by the caller."""
    return bool(getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False)) or not settings.CELERY_BROKER_URL


def middle_instance(series_id: int) -> Instance | None:
    images = Instance.objects.filter(series_id=series_id, has_pixels=True).in_anatomical_order()
    count = Series.objects.filter(pk=series_id).values_list("number_of_instances", flat=True).first() or 0
    return images[count // 2 : count // 2 + 1].first() or images.first()


def schedule_renders(sender: object, instance_id: int, series_id: int, **kwargs: object) -> None:
    """After ingest commits: the series' thumbnail and the instance's previews, on `bulk`.

    A broker that cannot be reached loses nothing: renders are then made when
    someone asks for them.
    """
    try:
        render_series_thumbnail.apply_async((series_id,), queue="bulk", retry=False)
        render_instance_previews.apply_async((instance_id,), queue="bulk", retry=False)
    except Exception as error:  # noqa: BLE001 - the instance is stored; renders can wait
        logger.warning("renders for instance %s not scheduled: %s", instance_id, error)
