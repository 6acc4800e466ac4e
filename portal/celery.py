"""The Celery application: configuration lives in settings under CELERY_."""

import os

from celery import Celery
from kombu.entity import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Two queues: `interactive` when someone waits for the result, `bulk` for work
# that follows ingest. A worker started by `make worker` consumes both.
app.conf.task_queues = (Queue("interactive"), Queue("bulk"))
app.autodiscover_tasks()
