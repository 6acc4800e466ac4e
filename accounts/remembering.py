"""Remembered phones: a patient who ticks "Remember this phone" stays signed in on it for 30 days.

The sign-in leaves a cookie (`COOKIE_NAME`: signed with its own salt,
HttpOnly, SameSite=Lax, Secure unless DEBUG) holding a `RememberedDevice`'s
id and a secret whose hash only the table keeps. When the session is gone
(30 minutes idle, 12 hours in all), `accounts.middleware.RememberedDeviceMiddleware`
hands the cookie to `restore`: a live device of a patient signs the patient
in again, and its secret is replaced (`RememberedDevice.rotate`), so a copy
of an old cookie restores nothing and revokes the device. A session restored
this way has no fresh SMS code (accounts.stepup).

Not the device cookies of accounts.device_cookies, which sign no one in: they
only tell the sign-in throttle that a browser signed in before.
"""

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.core import signing
from django.http import HttpRequest, HttpResponseBase
from django.utils import timezone

from accounts.browsers import browser_and_system
from accounts.models import REMEMBER_FOR, RememberedDevice, User

COOKIE_NAME = "efilm_remember"
SALT = "accounts.remembering"
# portal.sharing.shares.SESSION_KEY: a session reading a shared link is not the patient's own.
SHARE_SESSION_KEY = "share_id"
# Only pages and images are restored: a sign-in rotates the CSRF token, which a POST was made with.
RESTORING_METHODS = ("GET", "HEAD")
# A restored session looks again at its device at most this often (seconds): a query a minute, not one a request.
CHECK_EVERY = 60
RESTORED_FROM = "remembered_device"  # in the session: [device id, when it was last found live (Unix time)]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Presented:
    """What a validly signed cookie names: a device's id and its secret."""

    device_id: int
    secret: str


@dataclass(frozen=True)
class Restored:
    """The outcome of `restore`: whom to sign in (or no one), and what becomes of the cookie."""

    user: User | None
    device: RememberedDevice | None = None
    secret: str = ""  # the device's new secret, for a new cookie; "" with a user: keep the cookie
    revoked: RememberedDevice | None = None  # a device an old secret revoked: a copy of its cookie came back

    def write(self, response: HttpResponseBase) -> None:
        if self.user is None:
            forget_cookie(response)
        elif self.device is not None and self.secret:
            set_cookie(response, self.device, self.secret)


def remember_phone(request: HttpRequest, response: HttpResponseBase, user: User) -> RememberedDevice:
    """After an SMS sign-in with the box ticked: a new device for 30 days, and its cookie on the response."""
    browser, system = browser_and_system(request.headers.get("User-Agent", ""))
    device, secret = RememberedDevice.remember(user, browser, system)
    set_cookie(response, device, secret)
    return device


def set_cookie(response: HttpResponseBase, device: RememberedDevice, secret: str) -> None:
    """The cookie lives as long as the device has left: 30 days after the sign-in that made it, not after this."""
    left = int((device.expires_at - timezone.now()).total_seconds())
    response.set_cookie(
        COOKIE_NAME,
        signing.dumps([device.pk, secret], salt=SALT),
        max_age=max(left, 0),
        httponly=True,
        secure=not settings.DEBUG,
        samesite="Lax",
    )


def forget_cookie(response: HttpResponseBase) -> None:
    response.delete_cookie(COOKIE_NAME, samesite="Lax")


def presented(request: HttpRequest) -> Presented | None:
    """The device id and secret of the request's cookie; None when it has none, or a forged, expired or odd one."""
    raw = request.COOKIES.get(COOKIE_NAME)
    if not raw:
        return None
    try:
        value = signing.loads(raw, salt=SALT, max_age=REMEMBER_FOR)
    except signing.BadSignature:  # also an expired one
        return None
    if not (isinstance(value, list) and len(value) == 2):
        return None
    device_id, secret = value
    if not (isinstance(device_id, int) and isinstance(secret, str) and secret):
        return None
    return Presented(device_id, secret)


def may_restore(request: HttpRequest) -> bool:
    """Whether to look at the cookie at all: no query for requests without it or with someone signed in."""
    if COOKIE_NAME not in request.COOKIES or request.method not in RESTORING_METHODS:
        return False
    session = request.session
    return SESSION_KEY not in session and SHARE_SESSION_KEY not in session


def restore(request: HttpRequest) -> Restored:
    """The patient a live remembered device signs in, with the device's new secret; else no one.

    Steps: the cookie's signature and age; a live device (not revoked, not past
    its 30 days) of an active patient who is not staff; the secret taken by
    `RememberedDevice.rotate`, which revokes the device when the secret is an
    old one. Anything else leaves everything as it was but the cookie, which
    the response deletes.
    """
    cookie = presented(request)
    if cookie is None:
        return Restored(None)
    device = RememberedDevice.objects.live().filter(pk=cookie.device_id).select_related("user").first()
    if device is None or not restorable(device.user):
        return Restored(None)
    accepted, secret = device.rotate(cookie.secret)
    if not accepted:
        logger.warning("remembered device %s: an old secret was presented; the device is revoked", device.pk)
        return Restored(None, revoked=device)
    return Restored(device.user, device, secret)


def mark_restored(request: HttpRequest, device: RememberedDevice) -> None:
    """Keep in the session which device it belongs to (the one that restored it, or the one its sign-in
    remembered), to end the session when the device is forgotten."""
    request.session[RESTORED_FROM] = [device.pk, int(time.time())]


def forgotten_since_restored(request: HttpRequest) -> bool:
    """Whether this session was restored by a device since forgotten (or expired); looked at once a minute."""
    marked = request.session.get(RESTORED_FROM) if hasattr(request, "session") else None
    if not (isinstance(marked, list) and len(marked) == 2):
        return False
    device_id, checked_at = marked
    now = int(time.time())
    if now - int(checked_at) < CHECK_EVERY:
        return False
    if RememberedDevice.objects.live().filter(pk=device_id, user_id=request.user.pk or 0).exists():
        request.session[RESTORED_FROM] = [device_id, now]
        return False
    return True


def restorable(user: User) -> bool:
    """Only patients are remembered: staff sign in with a password and TOTP every time."""
    return bool(user.is_active and user.is_patient and not user.is_staff and not user.is_superuser)


def this_phone(request: HttpRequest) -> int | None:
    """The id of the device this browser's cookie names (validly signed), or None."""
    cookie = presented(request)
    return cookie.device_id if cookie is not None else None


def forget_this_phone(request: HttpRequest, response: HttpResponseBase) -> None:
    """On sign-out: the device this browser holds is revoked if it is the signed-in patient's, and its cookie goes."""
    device_id = this_phone(request)
    if device_id is not None and request.user.is_authenticated:
        RememberedDevice.objects.filter(pk=device_id, user_id=request.user.pk).revoke()
    if COOKIE_NAME in request.COOKIES:
        forget_cookie(response)
