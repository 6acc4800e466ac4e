"""SMS backends, chosen by the SMS_BACKEND setting as Django chooses email backends.

- console: the message is printed (the embedded default, for the demo);
- locmem: messages are kept in `outbox` (tests read it);
- file: each message is appended to a file under SMS_FILE_PATH;
- http: a gateway reached over HTTPS, configured by settings, through a Celery
  task with timeouts and retries (accounts.tasks).

`send_sms` never raises and never waits for a gateway: a text that cannot go is
logged with the number masked, and the page that asked for it answers as usual
(a failure must not tell a known number from an unknown one, nor stop an
issuance). A backend never logs a message's text: it carries a sign-in code.
"""

import http.client
import json
import logging
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import phonenumbers
from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from accounts.phones import masked

logger = logging.getLogger(__name__)

ALIASES = {
    "console": "accounts.sms.ConsoleBackend",
    "locmem": "accounts.sms.LocmemBackend",
    "file": "accounts.sms.FileBackend",
    "http": "accounts.sms.HttpGatewayBackend",
}


@dataclass(frozen=True)
class SMS:
    to: str
    body: str


class SMSBackend(Protocol):
    def send(self, message: SMS) -> None: ...


class ConsoleBackend:
    def send(self, message: SMS) -> None:
        sys.stdout.write(f"SMS to {message.to}: {message.body}\n")
        sys.stdout.flush()


outbox: list[SMS] = []
_outbox_lock = threading.Lock()


class LocmemBackend:
    def send(self, message: SMS) -> None:
        with _outbox_lock:
            outbox.append(message)


class FileBackend:
    def send(self, message: SMS) -> None:
        folder = Path(getattr(settings, "SMS_FILE_PATH", settings.VAR_DIR / "sms"))
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / f"{timezone.now():%Y%m%d}.log", "a", encoding="utf-8") as out:
            out.write(json.dumps({"to": message.to, "body": message.body, "at": timezone.now().isoformat()}) + "\n")


HAND_OFF_DELAY = 0.05  # seconds; see HttpGatewayBackend.send


class SMSGatewayError(RuntimeError):
    pass


class HttpGatewayBackend:
    """POSTs JSON to SMS_GATEWAY_URL with the account's credentials and template.

    The POST is made by a worker (accounts.tasks.send_sms_through_gateway), or
    with no broker (tasks eager) in the web process. Either way the task is
    handed on by a thread: the request waits neither for the gateway nor for
    the broker, and a known number's answer comes as fast as an unknown one's.
    """

    def send(self, message: SMS) -> None:
        # The hand-off waits a moment: its work (Celery's, the broker's, under the GIL)
        # then comes after the response has gone, not during it, where it would make
        # a known number's answer slower than an unknown one's.
        thread = threading.Timer(HAND_OFF_DELAY, _enqueue, args=(message,))
        thread.name, thread.daemon = "sms-delivery", True
        with _deliveries_lock:
            _deliveries.add(thread)
        thread.start()

    @staticmethod
    def deliver(to: str, body: str) -> None:
        payload = {
            "to": to,
            "text": body,
            "sender": settings.SMS_GATEWAY_SENDER,
            "template": settings.SMS_GATEWAY_TEMPLATE,
        }
        request = urllib.request.Request(  # noqa: S310 - the URL is the operator's setting
            settings.SMS_GATEWAY_URL,
            data=json.dumps(payload).encode(),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {settings.SMS_GATEWAY_KEY}",
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=settings.SMS_GATEWAY_TIMEOUT) as response:  # noqa: S310
                if response.status >= 300:
                    raise SMSGatewayError(f"gateway answered {response.status}")
        except urllib.error.HTTPError as error:  # urlopen raises for 4xx and 5xx
            raise SMSGatewayError(f"gateway answered {error.code}") from error
        except (OSError, http.client.HTTPException) as error:
            raise SMSGatewayError(f"gateway unreachable: {error}") from error


def get_backend() -> SMSBackend:
    name = settings.SMS_BACKEND
    backend: SMSBackend = import_string(ALIASES.get(name, name))()
    return backend


def send_sms(to: str, body: str) -> None:
    """Hand a text to the backend; a failure is logged (number masked, no text), never raised."""
    try:
        get_backend().send(SMS(to, body))
    except Exception as error:  # noqa: BLE001 - no page may fail, or differ, because a text could not go
        logger.error("SMS to %s was not sent: %s", masked_number(to), failure_reason(error))


def masked_number(to: str) -> str:
    """accounts.phones.masked, or a placeholder: a log line must not fail on a malformed number."""
    try:
        return masked(to)
    except phonenumbers.NumberParseException:
        return "(malformed number)"


def failure_reason(error: BaseException) -> str:
    # Our own errors say only the status or the socket error; another one (Celery's
    # MaxRetriesExceededError) may quote the task's arguments, with the code.
    return str(error) if isinstance(error, SMSGatewayError) else type(error).__name__


_deliveries: set[threading.Thread] = set()
_deliveries_lock = threading.Lock()


def _enqueue(message: SMS) -> None:
    from accounts.tasks import send_sms_through_gateway

    try:
        if send_sms_through_gateway.app.conf.task_always_eager:
            send_sms_through_gateway.apply_async((message.to, message.body))
        else:
            # retry=False: a dead broker fails at once; argsrepr: what monitoring shows, without the code.
            argsrepr = repr((masked_number(message.to), "..."))
            send_sms_through_gateway.apply_async((message.to, message.body), retry=False, argsrepr=argsrepr)
    except Exception as error:  # noqa: BLE001 - a thread's exception would only reach stderr
        logger.error("SMS to %s was not sent: %s", masked_number(message.to), failure_reason(error))
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
