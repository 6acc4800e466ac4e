"""Celery tasks of the imaging app: renders after ingest, renders someone waits for, and the sweep.

Tasks are idempotent (a render is keyed by what it shows and made once),
acknowledged late, time-limited, and retried only for transient failures:
a broken image is recorded and answered with a placeholder, never retried.

A render message the broker does not take is not retried on the caller's
time: the broker is tried once (`send_series_renders`), and `sweep_renders`
later queues the renders of images whose preview was never started. The
listener sends its messages from a thread of its own (`RenderSender`), so no
C-STORE answer waits for the broker, and offers the broker a sweep until it
takes one once a message was refused.

Celery's autodiscovery looks for `imaging.tasks`; this module is imported,
and its tasks registered, by `ImagingConfig.ready`, which connects
`schedule_renders` to ingest's `instance_stored`.
"""

import contextlib
import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from celery import shared_task
from celery.exceptions import CeleryError
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connections
from django.utils import timezone
from kombu.exceptions import KombuError

from imaging.models import Instance, Render, RenderStatus, Report, ReportKind, Series
from imaging.rendering.renders import RenderSpec, ensure_render, interactive_timeout, wait_for_render
from imaging.rendering.report_pages import ReportPageError, render_report_pages

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
# The tasks keep the names they were registered under when this module was imaging/tasks.py:
# messages in a broker, CELERY_TASK_ROUTES and CELERY_BEAT_SCHEDULE name them so.


@shared_task(**TASK_OPTIONS, name="imaging.tasks.render_instance_previews")  # type: ignore[untyped-decorator]
def render_instance_previews(instance_id: int) -> list[str]:
    """Previews of every frame (up to a bound) at the file's window; a PDF report's pages."""
    instance = Instance.objects.filter(pk=instance_id, has_pixels=True).first()
    if instance is None:
        return _report_pages(instance_id)
    frames = min(instance.number_of_frames, MAX_BULK_FRAMES)
    return [ensure_render(instance, RenderSpec(frame)).status for frame in range(frames)]


def _report_pages(instance_id: int) -> list[str]:
    report = Report.objects.filter(instance_id=instance_id, kind=ReportKind.PDF).select_related("instance").first()
    if report is None:
        return []
    try:
        return ["ready"] * render_report_pages(report)
    except ReportPageError as error:
        logger.warning("cannot show the pages of report %s: %s", report.pk, error)
        return ["failed"]


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


def render_on_request(instance: Instance, spec: RenderSpec, key: str) -> str:
    """A render someone waits for (an image view): made on the `interactive` queue, or here when
    there is no broker, waiting a bounded time; its status."""
    if not tasks_run_inline():
        try:
            render_on_demand.apply_async((instance.pk, spec.as_json()), queue="interactive", retry=False)
            return wait_for_render(key, interactive_timeout())
        except (CeleryError, KombuError, OSError):
            pass  # no broker after all: make it here
    outcome = ensure_render(instance, spec)
    if outcome.status != RenderStatus.PENDING:
        return outcome.status
    return wait_for_render(key, interactive_timeout())


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


def send_series_renders(series_id: int, instance_ids: list[int]) -> bool:
    """Queue one series' renders; False when the broker did not take them.

    A broker that cannot be reached loses nothing: `sweep_renders` queues
    them later, and a page renders what it shows on demand.
    """
    return publish_once(render_series, (series_id, instance_ids), f"renders for series {series_id}")


def publish_once(task: Any, args: tuple[object, ...] = (), what: str = "", **kwargs: object) -> bool:
    """Send `task` to the `bulk` queue, trying the broker once; False (and a warning) if it did not take it.

    Kombu would otherwise reconnect in a loop, seconds apart, for each message:
    every batch of renders would wait for it while Redis is down.
    """
    try:
        if tasks_run_inline():
            task.apply_async(args, kwargs, queue="bulk")
            return True
        with task.app.producer_or_acquire() as producer:
            producer.connection.ensure_connection(max_retries=0)
            task.apply_async(args, kwargs, queue="bulk", retry=False, producer=producer)
        return True
    except Exception as error:  # noqa: BLE001 - the instances are stored; renders can wait
        logger.warning("%s not scheduled: %s", what or task.name, error)
        return False


def prepare_render_queue() -> None:
    """Load the broker's client now rather than inside the first store that sends renders: its imports
    would otherwise delay that store's answer."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return
    try:
        render_series.app.producer_pool  # noqa: B018 - made on first use; connects later, when it sends
    except Exception as error:  # noqa: BLE001 - renders are sent (or made on demand) anyway
        logger.warning("render queue not prepared: %s", error)


MESSAGE_MAX_INSTANCES = 200  # images in one render_series message


class RenderBatch:
    """Instances stored together (one association, one STOW-RS request, one import),
    their renders sent per series when the batch is flushed: at its end, and on
    the way whenever it holds `max_instances` or is `max_age` seconds old, so
    that a long association does not keep its first images unrendered."""

    def __init__(
        self,
        max_instances: int = MESSAGE_MAX_INSTANCES,
        max_age: float = 2.0,
        send: Callable[[int, list[int]], object] | None = None,
    ) -> None:
        self.max_instances = max_instances
        self.max_age = max_age
        self.send = send  # None: `send_series_renders`, in the caller's thread
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
        send = self.send or send_series_renders
        for series_id, instance_ids in pending.items():
            send(series_id, instance_ids)


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


# ------------------------------------------------------------------ the sweep

PREVIEW = RenderSpec()  # every image's first render after ingest: frame 0 at the file's window
SWEEP_BATCH = 500  # index rows read at a time


@shared_task(**TASK_OPTIONS, name="imaging.tasks.sweep_renders")  # type: ignore[untyped-decorator]
def sweep_renders(since: str | None = None, settle_seconds: float = 60) -> int:
    """Queue the renders of images received since `since` (ISO 8601; default
    `RENDER_SWEEP_LOOKBACK_MINUTES` ago) whose preview was never started; the number of images queued."""
    start = dt.datetime.fromisoformat(since) if since else timezone.now() - sweep_lookback()
    return sweep_missing_renders(start, dt.timedelta(seconds=settle_seconds))


def sweep_lookback() -> dt.timedelta:
    return dt.timedelta(minutes=settings.RENDER_SWEEP_LOOKBACK_MINUTES)


def sweep_missing_renders(since: dt.datetime, settle: dt.timedelta = dt.timedelta(seconds=60)) -> int:
    """Queue, per series, the renders of images received between `since` and `settle` ago that have no
    `Render` row for their preview: their message was lost (a broker down, a process killed). Idempotent:
    a render already made or being made is left alone, by this and by the render task itself."""
    queued = 0
    for series_id, instance_ids in images_without_preview(since, timezone.now() - settle):
        for start in range(0, len(instance_ids), MESSAGE_MAX_INSTANCES):
            chunk = instance_ids[start : start + MESSAGE_MAX_INSTANCES]
            queued += len(chunk) if send_series_renders(series_id, chunk) else 0
    if queued:
        logger.warning("render sweep: queued the renders of %d images never rendered", queued)
    return queued


def images_without_preview(since: dt.datetime, until: dt.datetime) -> Iterator[tuple[int, list[int]]]:
    """(series, instances) of the images received between `since` and `until` without a preview's `Render` row.

    Walked newest first by primary key (its index; `received_at` has none), a
    batch at a time, until a batch reaches back past `since`.
    """
    before: int | None = None
    while True:
        rows = Instance.objects.filter(has_pixels=True).order_by("-pk")
        if before is not None:
            rows = rows.filter(pk__lt=before)
        batch = list(rows.values_list("pk", "series_id", "sop_uid", "received_at")[:SWEEP_BATCH])
        if not batch:
            return
        wanted = [(pk, series, PREVIEW.key_of(sop)) for pk, series, sop, received in batch if since <= received < until]
        made = set(Render.objects.filter(key__in=[key for _, _, key in wanted]).values_list("key", flat=True))
        missing: dict[int, list[int]] = {}
        for pk, series, key in wanted:
            if key not in made:
                missing.setdefault(series, []).append(pk)
        yield from ((series, sorted(pks)) for series, pks in missing.items())
        if min(received for *_, received in batch) < since:
            return
        before = batch[-1][0]


# ----------------------------------------------------- the listener's messages

_STOP = object()


class RenderSender:
    """Sends render messages on a thread of its own: a C-STORE is answered whatever the broker does.

    A message the broker refuses is dropped, and the renders of the images
    received since `lookback` before it are owed (`owed_since`): every
    `retry_every` seconds the sender offers the broker one `sweep_renders`
    message for them, until the broker takes it. Messages that come meanwhile
    are not tried: that sweep finds their images too. Started with
    `sweep=True` it owes, at once, the renders of the last
    `RENDER_SWEEP_LOOKBACK_MINUTES`: what a listener killed before it sent them
    left unqueued.
    """

    def __init__(self, retry_every: float = 5.0, lookback: dt.timedelta = dt.timedelta(minutes=10)) -> None:
        self.retry_every = retry_every
        self.lookback = lookback
        self.owed_since: dt.datetime | None = None
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._next_offer = 0.0
        self._thread = threading.Thread(target=self._run, name="render-sender", daemon=True)

    def start(self, sweep: bool = False) -> "RenderSender":
        if sweep:
            self.owed_since = timezone.now() - sweep_lookback()
        self._thread.start()
        return self

    def send(self, series_id: int, instance_ids: list[int]) -> None:
        self._queue.put((series_id, instance_ids))

    def stop(self, timeout: float = 10.0) -> None:
        """Send what is queued (or owe it), then end the thread."""
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if self.owed_since is not None:
            logger.warning("renders owed since %s left to the periodic sweep", self.owed_since.isoformat())

    def _run(self) -> None:
        try:
            while (item := self._next()) is not _STOP:
                close_old_connections()  # with no broker the renders are made here, on this thread's connection
                if isinstance(item, tuple) and self.owed_since is None and not send_series_renders(*item):
                    self.owed_since = timezone.now() - self.lookback
                if self.owed_since is not None and time.monotonic() >= self._next_offer:
                    self._offer_sweep()
        finally:
            connections.close_all()

    def _next(self) -> object:
        """The next message; None when it is time to offer a sweep again."""
        timeout = None if self.owed_since is None else max(0.0, self._next_offer - time.monotonic())
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def _offer_sweep(self) -> None:
        assert self.owed_since is not None
        if publish_once(sweep_renders, what="render sweep", since=self.owed_since.isoformat(), settle_seconds=0):
            logger.info("render sweep since %s queued", self.owed_since.isoformat())
            self.owed_since = None
        else:
            self._next_offer = time.monotonic() + self.retry_every
