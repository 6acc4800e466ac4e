"""Celery tasks of the exam pages: building a download someone asked for, and asking for one.

`request_download` owns the queueing: the logic (portal.exams.downloads) never
imports this module.
"""

import logging

from celery import shared_task
from celery.exceptions import CeleryError
from kombu.exceptions import KombuError

from imaging.models import Study
from imaging.rendering import TASK_OPTIONS, tasks_run_inline
from portal.exams import downloads
from portal.exams.models import Download, DownloadKind

logger = logging.getLogger(__name__)


# Named as before the module moved into portal.exams: messages queued under that name still run.
@shared_task(  # type: ignore[untyped-decorator]
    **TASK_OPTIONS, name="portal.tasks.build_download", soft_time_limit=1800, time_limit=1900
)
def build_download(download_id: int) -> str:
    return downloads.build(download_id)


def request_download(
    study: Study, kind: DownloadKind, preset: str, user_id: int | None, share_id: int | None = None
) -> Download:
    """The requester's download of this study; built now when small (`built_in_request`) or with no broker."""
    download, new = downloads.find_or_add(study, kind, preset, user_id, share_id)
    if not new:
        return download
    if tasks_run_inline() or downloads.built_in_request(study):
        downloads.build(download.pk)
    else:
        try:
            build_download.apply_async((download.pk,), queue="interactive", retry=False)
        except (CeleryError, KombuError, OSError) as error:
            logger.warning("download %s built in the request: no broker (%s)", download.pk, error)
            downloads.build(download.pk)
    download.refresh_from_db()
    return download
