"""Celery tasks of the pages: building a download someone asked for."""

from celery import shared_task

from imaging.rendering import TASK_OPTIONS
from portal import downloads


@shared_task(**TASK_OPTIONS, soft_time_limit=1800, time_limit=1900)  # type: ignore[untyped-decorator]
def build_download(download_id: int) -> str:
    return downloads.build(download_id)
