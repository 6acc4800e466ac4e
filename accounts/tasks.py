"""Celery tasks of the accounts app: texts through the HTTP gateway, and handing them on.

`hand_off` owns the queueing (accounts.sms's gateway backend calls it); the
task makes the POST (accounts.sms_gateway) and retries it.
"""

import logging
import random
import threading
import time

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from accounts.phones import masked_number
from accounts.sms_gateway import SMSGatewayError, deliver, failure_reason

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
    tasks eager it runs in a thread of the web process (`hand_off`), and
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
        deliver(to, body)
    except (SMSGatewayError, SoftTimeLimitExceeded) as error:
        logger.warning("SMS to %s: attempt %d failed: %s", masked_number(to), retries + 1, failure_reason(error))
        return False
    return True


def retry_delay(retries: int) -> float:
    """SMS_GATEWAY_BACKOFF doubled at each retry, plus up to half again so that retries do not march in step."""
    delay: float = settings.SMS_GATEWAY_BACKOFF * 2**retries
    return delay + random.uniform(0, delay / 2)  # noqa: S311 - jitter, not a secret


HAND_OFF_DELAY = 0.05  # seconds; see hand_off

_deliveries: set[threading.Thread] = set()
_deliveries_lock = threading.Lock()


def hand_off(to: str, body: str) -> None:
    """Queue the text for the gateway from a thread: the request waits neither for the gateway nor the broker.

    The hand-off waits a moment: its work (Celery's, the broker's, under the GIL)
    then comes after the response has gone, not during it, where it would make
    a known number's answer slower than an unknown one's.
    """
    thread = threading.Timer(HAND_OFF_DELAY, _enqueue, args=(to, body))
    thread.name, thread.daemon = "sms-delivery", True
    with _deliveries_lock:
        _deliveries.add(thread)
    thread.start()


def _enqueue(to: str, body: str) -> None:
    try:
        if send_sms_through_gateway.app.conf.task_always_eager:
            send_sms_through_gateway.apply_async((to, body))
        else:
            # retry=False: a dead broker fails at once; argsrepr: what monitoring shows, without the code.
            argsrepr = repr((masked_number(to), "..."))
            send_sms_through_gateway.apply_async((to, body), retry=False, argsrepr=argsrepr)
    except Exception as error:  # noqa: BLE001 - a thread's exception would only reach stderr
        logger.error("SMS to %s was not sent: %s", masked_number(to), failure_reason(error))
    finally:
        with _deliveries_lock:
            _deliveries.discard(threading.current_thread())


def wait_for_deliveries(timeout: float) -> bool:
    """Wait for the texts handed on by threads; False if some are still going (for tests and shutdown)."""
    with _deliveries_lock:
        running = list(_deliveries)
    deadline = time.monotonic() + timeout
    for thread in running:
        thread.join(max(deadline - time.monotonic(), 0))
    return not any(thread.is_alive() for thread in running)
