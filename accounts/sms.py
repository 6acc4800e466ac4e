"""SMS backends, chosen by the SMS_BACKEND setting as Django chooses email backends.

- console: the message is printed (the embedded default, for the demo);
- locmem: messages are kept in `outbox` (tests read it);
- file: each message is appended to a file under SMS_FILE_PATH;
- http: a gateway reached over HTTPS, configured by settings, through a Celery
  task with timeouts and retries.

A backend never logs a message's text: it carries a sign-in code.
"""

import json
import logging
import sys
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

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


class SMSGatewayError(RuntimeError):
    pass


class HttpGatewayBackend:
    """POSTs JSON to SMS_GATEWAY_URL with the account's credentials and template."""

    def send(self, message: SMS) -> None:
        from accounts.tasks import send_sms_through_gateway

        send_sms_through_gateway.apply_async((message.to, message.body), retry=False)

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
        except OSError as error:
            raise SMSGatewayError(f"gateway unreachable: {error}") from error


def get_backend() -> SMSBackend:
    name = settings.SMS_BACKEND
    backend: SMSBackend = import_string(ALIASES.get(name, name))()
    return backend


def send_sms(to: str, body: str) -> None:
    get_backend().send(SMS(to, body))
