"""Staff sign-in limits: django-axes, with OWASP's device-cookie rule added through its hooks.

django-axes counts failures (wrong user, wrong password, and, through
`accounts.forms.clean_with_one_message`, a wrong second factor) per username and
per client network, and locks either for `AXES_COOLOFF_TIME` after
`AXES_FAILURE_LIMIT` failures, on every page that calls `authenticate()`: the
staff sign-in and /admin/login/.

A browser holding a valid device cookie for the username is not counted by
axes nor locked by others' failures (`trusted_device_of_user`, axes' whitelist
hook). Its own failures are counted in `SignInFailure` against its nonce
(`accounts.signals.count_trusted_device_failure`); at `AXES_FAILURE_LIMIT` of them within the
cool-off the cookie stops counting as trusted, and axes' limits apply to it
like to any other client.
"""

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from accounts import throttle
from accounts.device_cookies import client_network, subject_of_staff, trusted_device


def client_address(request: HttpRequest) -> str | None:
    """AXES_CLIENT_IP_CALLABLE: REMOTE_ADDR (set by ClientAddressMiddleware), an IPv6 address as its /64."""
    return client_network(request.META.get("REMOTE_ADDR")) or None


def username_of(credentials: dict[str, Any] | None) -> str:
    return str((credentials or {}).get("username") or "")  # the field of both sign-in forms


def device_nonce(request: HttpRequest | None, credentials: dict[str, Any] | None) -> str:
    username = username_of(credentials)
    if request is None or not username:
        return ""
    return trusted_device(request, subject_of_staff(username))


def trusted_device_of_user(request: HttpRequest, credentials: dict[str, Any] | None) -> bool:
    """AXES_WHITELIST_CALLABLE: this user's device cookie, while its own failures are under the limit."""
    nonce = device_nonce(request, credentials)
    if not nonce:
        return False
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    return throttle.device_failures(nonce, since) < settings.AXES_FAILURE_LIMIT


def same_page_when_locked(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: a locked sign-in looks like any failed one (the form's one message)."""
    if original_response is None:  # axes' older two-argument call; not made by the installed version
        return HttpResponse(status=400)
    return original_response
