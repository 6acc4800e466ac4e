"""Downloads of a study: asked for on a page, built once (in the request or by a worker), fetched by who asked.

Asking for one goes through `portal.exams.tasks.request_download`, which owns
the choice between building it now and queueing it.
"""

import datetime as dt
import logging
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models import Q, Sum
from django.utils import timezone

from imaging.downloads import build_dicom_zip, build_jpeg_zip, save_zip
from imaging.models import Instance, Study
from imaging.rendering import PRESETS
from portal.exams.models import Download, DownloadKind, DownloadStatus

logger = logging.getLogger(__name__)

CLAIM_STALE_AFTER = dt.timedelta(minutes=30)
KEEP_FOR = dt.timedelta(hours=24)  # then `purge_downloads` deletes the zip


def find_or_add(
    study: Study, kind: DownloadKind, preset: str, user_id: int | None, share_id: int | None = None
) -> tuple[Download, bool]:
    """The requester's download of this study (preparing or ready, under a day old), or a new one; (it, new)."""
    preset = preset if kind == DownloadKind.JPEG and preset in PRESETS else ""
    same = Download.objects.filter(
        study=study,
        kind=kind,
        preset=preset,
        requested_by_id=user_id,
        share_id=share_id,
        status__in=[DownloadStatus.PREPARING, DownloadStatus.READY],
        created_at__gt=timezone.now() - KEEP_FOR,
    ).first()
    if same is not None:  # asked twice (or twenty times): one zip
        return same, False
    download = Download.objects.create(
        study=study, kind=kind, preset=preset, requested_by_id=user_id, share_id=share_id
    )
    return download, True


def built_in_request(study: Study) -> bool:
    """Whether the study is small enough to zip while its requester waits: few instances, and few bytes."""
    if study.number_of_instances > settings.DOWNLOAD_INLINE_MAX_INSTANCES:
        return False
    size = Instance.objects.filter(series__study=study).aggregate(total=Sum("size_bytes"))["total"] or 0
    return bool(size <= settings.DOWNLOAD_INLINE_MAX_BYTES)


def build(download_id: int) -> str:
    """Claim the download (a conditional update), build its zip, save it, mark it ready or failed."""
    now = timezone.now()
    claimed = (
        Download.objects.filter(pk=download_id, status=DownloadStatus.PREPARING)
        .filter(Q(started_at__isnull=True) | Q(started_at__lt=now - CLAIM_STALE_AFTER))
        .update(started_at=now)
    )
    download = Download.objects.select_related("study").get(pk=download_id)
    if not claimed:
        return str(download.status)
    try:
        with tempfile.TemporaryDirectory(prefix="efilm-download-") as work:
            target = Path(work) / "study.zip"
            if download.kind == DownloadKind.DICOM:
                files = build_dicom_zip(download.study, target)
            else:
                files = build_jpeg_zip(download.study, download.preset, target)
            key = save_zip(target, f"downloads/{download.pk}/{download.filename}")
            size = target.stat().st_size
    except Exception as error:  # noqa: BLE001 - a full disk, a storage gone away, a broken file: say so
        logger.warning("download %s failed: %s", download_id, error)
        Download.objects.filter(pk=download_id).update(
            status=DownloadStatus.FAILED, error=str(error)[:300], finished_at=timezone.now()
        )
        return DownloadStatus.FAILED
    Download.objects.filter(pk=download_id).update(
        status=DownloadStatus.READY, storage_key=key, size_bytes=size, files=files, finished_at=timezone.now()
    )
    return DownloadStatus.READY


def purge(older_than: dt.timedelta = KEEP_FOR) -> int:
    """Delete the zips (and rows) of downloads made before `older_than` ago; how many."""
    old = Download.objects.filter(created_at__lt=timezone.now() - older_than)
    for key in old.exclude(storage_key="").values_list("storage_key", flat=True):
        default_storage.delete(key)
    count, _ = old.delete()
    return count
