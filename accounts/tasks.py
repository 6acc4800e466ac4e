"""Celery tasks of the accounts app."""

import logging
import random
import time

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from accounts.sms import HttpGatewayBackend, SMSGatewayError, failure_reason, masked_number

logger = logging.getLogger(__name__)

# One attempt is a connection, a send and a read, each up to SMS_GATEWAY_TIMEOUT
# (at most 60 s, portal/settings.py): the limits stay below the settings' defaults
# (CELERY_TASK_SOFT_TIME_LIMIT, CELERY_TASK_TIME_LIMIT), and the soft one, which
# counts as a failed attempt, comes first.
SOFT_TIME_LIMIT = 3 * settings.SMS_GATEWAY_TIMEOUT + 5
TIME_LIMIT = SOFT_TIME_LIMIT + 10


@shared_task(  # type: ignore[untyped-decorator]
    bind=True, acks_late=True, ignore_result=True, soft_time_limit=SOFT_TIME_LIMIT, time_limit=TIME_LIMIT
)
def send_sms_through_gateway(self: Task, to: str, body: str) -> None:
    """POST the text; retry with backoff and jitter, then give up with a masked log line.

    A failure never propagates: the task is the end of the line for a text. With
    tasks eager it runs in a thread of the web process (accounts.sms), and
    retries there: Celery's eager retry would not wait, and with
    CELERY_TASK_EAGER_PROPAGATES it raises instead of trying again.
    """
    retries = self.request.retries
    while not _attempt(to, body, retries):
        if retries >= settings.SMS_GATEWAY_RETRIES:
            logger.error("SMS to %s not delivered after %d attempts", masked_number(to), retries + 1)
            return
        if not self.request.is_eager:
            raise self.retry(countdown=retry_delay(retries), max_retries=settings.SMS_GATEWAY_RETRIES)
        time.sleep(retry_delay(retries))
        retries += 1


def _attempt(to: str, body: str, retries: int) -> bool:
    try:
        HttpGatewayBackend.deliver(to, body)
    except (SMSGatewayError, SoftTimeLimitExceeded) as error:
        logger.warning("SMS to %s: attempt %d failed: %s", masked_number(to), retries + 1, failure_reason(error))
        return False
    return True


def retry_delay(retries: int) -> float:
    """SMS_GATEWAY_BACKOFF doubled at each retry, plus up to half again so that retries do not march in step."""
    delay: float = settings.SMS_GATEWAY_BACKOFF * 2**retries
    return delay + random.uniform(0, delay / 2)  # noqa: S311 - jitter, not a secret
