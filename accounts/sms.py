"""SMS backends, chosen by the SMS_BACKEND setting as Django chooses email backends.

- console: the message is printed (the embedded default, for the demo);
- locmem: messages are kept in `outbox` (tests read it);
- file: each message is appended to a file under SMS_FILE_PATH;
- http: a gateway reached over HTTPS, configured by settings, through a Celery
  task with timeouts and retries (accounts.sms_gateway, accounts.tasks).

`send_sms` never raises and never waits for a gateway: a text that cannot go is
logged with the number masked, and the page that asked for it answers as usual
(a failure must not tell a known number from an unknown one, nor stop an
issuance). A backend never logs a message's text: it carries a sign-in code.
"""

import json
import logging
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from accounts.phones import masked_number
from accounts.sms_gateway import failure_reason
from accounts.tasks import hand_off

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


class HttpGatewayBackend:
    """Texts POSTed to SMS_GATEWAY_URL (accounts.sms_gateway) by a Celery task that `accounts.tasks.hand_off` queues.

    The POST is made by a worker (accounts.tasks.send_sms_through_gateway), or
    with no broker (tasks eager) in the web process. Either way the task is
    handed on by a thread: the request waits neither for the gateway nor for
    the broker, and a known number's answer comes as fast as an unknown one's.
    """

    def send(self, message: SMS) -> None:
        hand_off(message.to, message.body)


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
