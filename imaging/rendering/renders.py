"""Renders kept in storage: thumbnails and previews, made once, served many times.

A render is named by what it shows: instance, frame, window, size, format and
renderer version (`RenderSpec.key`). The first caller to insert its `Render`
row makes it; any other caller finds it made, or waits for the one making it.
A stale claim (its maker died) is taken over by a conditional update.
"""

import contextlib
import datetime as dt
import io
import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from PIL import Image, ImageDraw

from imaging.dicom import read_frame
from imaging.models import Instance, Render, RenderStatus
from imaging.rendering.pipeline import RENDERER_VERSION, render_frame

logger = logging.getLogger(__name__)

THUMBNAIL_SIDE = 256
PREVIEW_MAX_SIDE = 2048
JPEG_QUALITY = 90
CLAIM_STALE_AFTER = dt.timedelta(minutes=2)

# Modality presets (center, width); the file's own window comes first in the viewer.
PRESETS: dict[str, tuple[float, float]] = {
    "soft_tissue": (40, 400),
    "lung": (-600, 1500),
    "bone": (480, 2500),
    "brain": (40, 80),
    "liver": (90, 150),
}
MODALITY_PRESETS = {"CT": ["soft_tissue", "lung", "bone", "brain", "liver"]}


class InvalidRenderRequest(ValueError):
    pass


@dataclass(frozen=True)
class RenderSpec:
    """What a render shows. `window` None is the file's own; `size` 0 is full size."""

    frame: int = 0
    window: tuple[float, float] | None = None
    size: int = PREVIEW_MAX_SIDE
    image_format: str = "jpeg"

    def key(self, instance: Instance) -> str:
        return self.key_of(instance.sop_uid)

    def key_of(self, sop_uid: str) -> str:
        """The key of this render of the instance `sop_uid`."""
        window = "file" if self.window is None else f"c{self.window[0]:g}w{self.window[1]:g}"
        size = f"max{self.size}" if self.size else "full"
        extension = "jpg" if self.image_format == "jpeg" else "png"
        return f"renders/{sop_uid}/f{self.frame}/{window}/{size}/v{RENDERER_VERSION}.{extension}"

    @property
    def content_type(self) -> str:
        return "image/jpeg" if self.image_format == "jpeg" else "image/png"

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RenderSpec":
        window = (float(data["window"][0]), float(data["window"][1])) if data.get("window") else None
        return cls(int(data["frame"]), window, int(data["size"]), str(data["image_format"]))

    @classmethod
    def thumbnail(cls) -> "RenderSpec":
        return cls(0, None, THUMBNAIL_SIDE, "jpeg")

    @classmethod
    def from_query(cls, params: Any, instance: Instance) -> "RenderSpec":
        """A preview from query parameters: frame, window=c,w or preset=name, size, format."""
        try:
            frame = int(params.get("frame") or 0)
        except ValueError:
            raise InvalidRenderRequest("frame must be a number") from None
        if not 0 <= frame < max(instance.number_of_frames, 1):
            raise InvalidRenderRequest("no such frame")
        image_format = (params.get("format") or "jpeg").lower()
        if image_format not in ("jpeg", "png"):
            raise InvalidRenderRequest("format must be jpeg or png")
        size = 0 if params.get("size") == "full" else PREVIEW_MAX_SIDE
        return cls(frame, _window_from_query(params), size, image_format)


def _window_from_query(params: Any) -> tuple[float, float] | None:
    preset = params.get("preset")
    if preset:
        if preset == "file":
            return None
        if preset not in PRESETS:
            raise InvalidRenderRequest(f"unknown preset {preset!r}")
        return PRESETS[preset]
    window = params.get("window")
    if not window:
        return None
    try:
        center, width = (float(v) for v in window.split(","))
    except ValueError:
        raise InvalidRenderRequest("window must be center,width") from None
    if not (-1e6 < center < 1e6 and 1 <= width < 1e6):
        raise InvalidRenderRequest("window is out of range")
    # Rounded, so that near-identical drags share a cache entry.
    return round(center, 1), round(width, 1)


# ---------------------------------------------------------------- making renders


def encode(pixels: np.ndarray, spec: RenderSpec) -> bytes:
    """Pixels to JPEG or PNG, downscaled to the spec's longest side."""
    image = Image.fromarray(pixels)
    if spec.size and max(image.size) > spec.size:
        # reducing_gap: an image more than twice the target on a side (a 4k DX) is first
        # shrunk by a whole factor with a cheap box filter; the rest is resampled bicubic.
        image.thumbnail((spec.size, spec.size), Image.Resampling.BICUBIC, reducing_gap=2.0)
    out = io.BytesIO()
    if spec.image_format == "png":
        image.save(out, "PNG", compress_level=1)
    else:
        # Progressive: on a slow network the whole image shows coarse first, then sharpens.
        thumbnail = spec.size == THUMBNAIL_SIDE
        image.save(out, "JPEG", quality=85 if thumbnail else JPEG_QUALITY, progressive=not thumbnail)
    return out.getvalue()


def placeholder(spec: RenderSpec) -> bytes:
    """A plain 'image unavailable' picture: a grey frame crossed out."""
    side = spec.size if spec.size and spec.size <= 512 else 512
    image = Image.new("L", (side, side), 48)
    draw = ImageDraw.Draw(image)
    margin = side // 4
    draw.rectangle([margin, margin, side - margin, side - margin], outline=140, width=max(side // 64, 2))
    draw.line([margin, margin, side - margin, side - margin], fill=140, width=max(side // 64, 2))
    draw.line([margin, side - margin, side - margin, margin], fill=140, width=max(side // 64, 2))
    out = io.BytesIO()
    image.save(out, "PNG" if spec.image_format == "png" else "JPEG")
    return out.getvalue()


def make_render(instance: Instance, spec: RenderSpec) -> bytes:
    """The render of one frame, read from the stored file without its other frames."""
    with default_storage.open(instance.storage_key, "rb") as handle:
        header, stored = read_frame(handle, spec.frame)
    return encode(render_frame(header, spec.frame, window=spec.window, stored=stored), spec)


@dataclass(frozen=True)
class RenderOutcome:
    key: str
    status: str  # a RenderStatus, or PENDING when someone else is making it


def ensure_render(instance: Instance, spec: RenderSpec) -> RenderOutcome:
    """Make the render unless it exists or someone is making it; never make it twice."""
    key = spec.key(instance)
    row = _claim(instance, key)
    if row is None:
        current = Render.objects.filter(key=key).values_list("status", flat=True).first()
        return RenderOutcome(key, current or RenderStatus.PENDING)
    try:
        data = make_render(instance, spec)
    except Exception as error:  # noqa: BLE001 - a broken image must not break the worker
        _record_failure(instance, row, error)
        return RenderOutcome(key, RenderStatus.FAILED)
    _store(key, data)
    Render.objects.filter(pk=row.pk).update(
        status=RenderStatus.READY, attempts=F("attempts") + 1, size_bytes=len(data), finished_at=timezone.now()
    )
    return RenderOutcome(key, RenderStatus.READY)


def _claim(instance: Instance, key: str) -> Render | None:
    """The Render row if this caller is to make the render now, else None."""
    now = timezone.now()
    try:
        with transaction.atomic():
            return Render.objects.create(instance=instance, key=key, claimed_at=now)
    except IntegrityError:
        pass
    taken = Render.objects.filter(key=key, status=RenderStatus.PENDING, claimed_at__lt=now - CLAIM_STALE_AFTER).update(
        claimed_at=now
    )
    if taken:
        return Render.objects.get(key=key)
    ready = Render.objects.filter(key=key, status=RenderStatus.READY).first()
    # A file gone missing (storage restored from an older copy) is made again.
    if (
        ready is not None
        and not default_storage.exists(key)
        and Render.objects.filter(pk=ready.pk, status=RenderStatus.READY).update(
            status=RenderStatus.PENDING, claimed_at=now
        )
    ):
        return ready
    return None


def _store(key: str, data: bytes) -> None:
    # FileExistsError: the same render, from a maker whose claim had gone stale.
    with contextlib.suppress(FileExistsError):
        default_storage.save(key, ContentFile(data))


def _record_failure(instance: Instance, row: Render, error: Exception) -> None:
    message = f"{type(error).__name__}: {error}"[:2000]
    logger.warning("cannot render %s: %s", instance.sop_uid, message)
    Render.objects.filter(pk=row.pk).update(
        status=RenderStatus.FAILED, error=message, attempts=F("attempts") + 1, finished_at=timezone.now()
    )
    Instance.objects.filter(pk=instance.pk).update(render_error=message)


def wait_for_render(key: str, timeout: float) -> str:
    """Poll the claim until it is decided or `timeout` passes; the status seen last."""
    deadline = time.monotonic() + timeout
    while True:
        status = Render.objects.filter(key=key).values_list("status", flat=True).first() or RenderStatus.PENDING
        if status != RenderStatus.PENDING or time.monotonic() >= deadline:
            return status
        time.sleep(0.05)


def read_render(key: str) -> bytes:
    with default_storage.open(key, "rb") as handle:
        data: bytes = handle.read()
    return data


def interactive_timeout() -> float:
    return float(getattr(settings, "RENDER_WAIT_SECONDS", 10))
