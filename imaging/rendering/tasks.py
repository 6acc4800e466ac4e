"""Celery tasks of the imaging app: renders after ingest, and renders someone waits for.

Tasks are idempotent (a render is keyed by what it shows and made once),
acknowledged late, time-limited, and retried only for transient failures:
a broken image is recorded and answered with a placeholder, never retried.

Celery's autodiscovery looks for `imaging.tasks`; this module is imported,
and its tasks registered, by `ImagingConfig.ready`, which connects
`schedule_renders` to ingest's `instance_stored`.
"""

import contextlib
import logging
import threading
import time
from collections.abc import Iterator

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from imaging.models import Instance, Series
from imaging.rendering.renders import RenderSpec, ensure_render

logger = logging.getLogger(__name__)

MAX_BULK_FRAMES = 300
TRANSIENT = (OperationalError, InterfaceError, OSError)
TASK_OPTIONS = {
    "acks_late": True,
    "autoretry_for": TRANSIENT,
    "retry_backoff": True,
    "max_retries": 3,
    # Nobody reads a render task's result (the Render row says how it went), and
    # with a result backend every call would otherwise subscribe to its result.
    "ignore_result": True,
}
# The tasks keep the names they were queued under when this module was imaging/tasks.py:
# messages in a broker, and CELERY_TASK_ROUTES, name them so.


@shared_task(**TASK_OPTIONS, name="imaging.tasks.render_instance_previews")  # type: ignore[untyped-decorator]
def render_instance_previews(instance_id: int) -> list[str]:
    """Previews of every frame (up to a bound) at the file's window."""
    instance = Instance.objects.filter(pk=instance_id, has_pixels=True).first()
    if instance is None:
        return []
    frames = min(instance.number_of_frames, MAX_BULK_FRAMES)
    return [ensure_render(instance, RenderSpec(frame)).status for frame in range(frames)]


@shared_task(**TASK_OPTIONS, name="imaging.tasks.render_series_thumbnail")  # type: ignore[untyped-decorator]
def render_series_thumbnail(series_id: int) -> str:
    """The series' thumbnail, from its middle image in anatomical order."""
    instance = middle_instance(series_id)
    if instance is None:
        return "empty"
    return ensure_render(instance, RenderSpec.thumbnail()).status


@shared_task(**TASK_OPTIONS, name="imaging.tasks.render_series")  # type: ignore[untyped-decorator]
def render_series(series_id: int, instance_ids: list[int]) -> list[str]:
    """A batch of one series' images: the thumbnail first (what a list shows), then previews."""
    statuses = [render_series_thumbnail(series_id)]
    for instance_id in instance_ids:
        statuses.extend(render_instance_previews(instance_id))
    return statuses


@shared_task(**TASK_OPTIONS, name="imaging.tasks.render_on_demand")  # type: ignore[untyped-decorator]
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

    Inside `batched_renders()` the instance joins the batch instead, so that a
    series sent image by image costs one message (and one thumbnail) per batch
    rather than two messages per image.
    """
    batch: RenderBatch | None = getattr(_current, "batch", None)
    if batch is None:
        send_series_renders(series_id, [instance_id])
        return
    batch.add(series_id, instance_id)


def send_series_renders(series_id: int, instance_ids: list[int]) -> None:
    """Queue one series' renders. A broker that cannot be reached loses nothing:
    renders are then made when someone asks for them."""
    try:
        render_series.apply_async((series_id, instance_ids), queue="bulk", retry=False)
    except Exception as error:  # noqa: BLE001 - the instances are stored; renders can wait
        logger.warning("renders for series %s not scheduled: %s", series_id, error)


def prepare_render_queue() -> None:
    """Load the broker's client now rather than inside the first store that sends renders (~0.1 s of imports)."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return
    try:
        render_series.app.producer_pool  # noqa: B018 - made on first use; connects later, when it sends
    except Exception as error:  # noqa: BLE001 - renders are sent (or made on demand) anyway
        logger.warning("render queue not prepared: %s", error)


class RenderBatch:
    """Instances stored together (one association, one STOW-RS request, one import),
    their renders sent per series when the batch is flushed: at its end, and on
    the way whenever it holds `max_instances` or is `max_age` seconds old, so
    that a long association does not keep its first images unrendered."""

    def __init__(self, max_instances: int = 200, max_age: float = 2.0) -> None:
        self.max_instances = max_instances
        self.max_age = max_age
        self._pending: dict[int, list[int]] = {}
        self._count = 0
        self._started = 0.0

    def add(self, series_id: int, instance_id: int) -> None:
        if not self._count:
            self._started = time.monotonic()
        self._pending.setdefault(series_id, []).append(instance_id)
        self._count += 1
        if self._count >= self.max_instances or time.monotonic() - self._started >= self.max_age:
            self.flush()

    def flush(self) -> None:
        pending, self._pending, self._count = self._pending, {}, 0
        for series_id, instance_ids in pending.items():
            send_series_renders(series_id, instance_ids)


_current = threading.local()


@contextlib.contextmanager
def batched_renders(batch: RenderBatch | None = None) -> Iterator[RenderBatch]:
    """Collect the renders of what is stored in this thread; flush when the block ends.

    Pass a batch to carry it across several blocks (an association's stores),
    and flush it yourself when the last one is done.
    """
    own = batch is None
    current = batch if batch is not None else RenderBatch()
    outer = getattr(_current, "batch", None)
    _current.batch = current
    try:
        yield current
    finally:
        _current.batch = outer
        if own:
            current.flush()
