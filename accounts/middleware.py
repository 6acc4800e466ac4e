"""Session limits: 30 minutes idle and 12 hours in all."""

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

TOUCH_EVERY = 60  # seconds: refresh the idle expiry at most this often, not on every image request


class SessionLimitsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = request.session
        now = int(time.time())
        signed_in_at = session.get("signed_in_at")
        if signed_in_at and now - int(signed_in_at) > settings.SESSION_ABSOLUTE_SECONDS:
            logout(request)
        elif signed_in_at and now - int(session.get("touched_at", 0)) > TOUCH_EVERY:
            session["touched_at"] = now  # saving the session pushes its expiry 30 minutes on
        return self.get_response(request)


def mark_signed_in(request: HttpRequest) -> None:
    # A sign-in ends any shared-link session in this browser (portal.shares.SESSION_KEY).
    request.session.pop("share_id", None)
    now = int(time.time())
    request.session["signed_in_at"] = now
    request.session["touched_at"] = now
