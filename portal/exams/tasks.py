"""Celery tasks of the pages: building a download someone asked for."""

from celery import shared_task

from imaging.tasks import TASK_OPTIONS
from portal.exams import downloads


# Named as before the module moved into portal.exams: messages queued under that name still run.
@shared_task(  # type: ignore[untyped-decorator]
    **TASK_OPTIONS, name="portal.tasks.build_download", soft_time_limit=1800, time_limit=1900
)
def build_download(download_id: int) -> str:
    return downloads.build(download_id)
