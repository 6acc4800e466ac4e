"""The Celery application: configuration lives in settings under CELERY_."""

import os

from celery import Celery
from kombu.entity import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Two queues: `interactive` when someone waits for the result, `bulk` for work
# that follows ingest. A worker started by `make worker` consumes both.
app.conf.task_queues = (
    Queue("interactive", Exchange("interactive"), routing_key="interactive"),
    Queue("bulk", Exchange("bulk"), routing_key="bulk"),
)
app.autodiscover_tasks()
