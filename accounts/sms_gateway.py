"""The HTTP SMS gateway: one POST of one text, with the account's credentials and template.

The Celery task `accounts.tasks.send_sms_through_gateway` makes the POST and
retries it; nothing here retries, waits or logs.
"""

import http.client
import json
import urllib.error
import urllib.request

from django.conf import settings


class SMSGatewayError(RuntimeError):
    pass


def deliver(to: str, body: str) -> None:
    """POST the text as JSON; SMSGatewayError (the status or the socket error only) when it did not go."""
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


def failure_reason(error: BaseException) -> str:
    # Our own errors say only the status or the socket error; another one (Celery's
    # MaxRetriesExceededError) may quote the task's arguments, with the code.
    return str(error) if isinstance(error, SMSGatewayError) else type(error).__name__
