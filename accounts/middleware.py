"""Session limits (30 minutes idle and 12 hours in all), a remembered phone signing its patient in
again, and the staff's verified TOTP device."""

import contextlib
import time
from collections.abc import Callable

from django.apps import apps
from django.conf import settings
from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse
from django_otp.middleware import OTPMiddleware
from django_otp.models import Device

from accounts import device_cookies, remembering, stepup
from portal.audit import trail
from portal.audit.models import AuditAction

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
    # A sign-in ends any shared-link session in this browser (portal.sharing.shares.SESSION_KEY).
    request.session.pop(remembering.SHARE_SESSION_KEY, None)
    now = int(time.time())
    request.session["signed_in_at"] = now
    request.session["touched_at"] = now


class RememberedDeviceMiddleware:
    """A page or image asked for with no one signed in and a remembered phone's cookie: its patient, again.

    Below `SessionLimitsMiddleware`, so a session it ends is restored at once.
    Requests without the cookie, or with a signed-in session, cost nothing more
    (`remembering.may_restore` reads only the cookies and the session).
    The restored session is not fresh for step-up (accounts.stepup): no SMS
    code was entered in it. It ends within `remembering.CHECK_EVERY` of its
    phone being forgotten: a lost phone forgotten from another one keeps
    nothing open.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if remembering.forgotten_since_restored(request):
            logout(request)  # the phone was forgotten (from /my/devices/, maybe on another phone): its session ends
            response = self.get_response(request)
            remembering.forget_cookie(response)
            return response
        if not remembering.may_restore(request):
            return self.get_response(request)
        restored = remembering.restore(request)
        if restored.user is not None and restored.device is not None:  # a restore names its device
            login(request, restored.user, backend="accounts.backends.UserBackend")  # cycles the session key
            mark_signed_in(request)
            request.session.pop(stepup.FRESH_KEY, None)
            remembering.mark_restored(request, restored.device)
            trail.record(request, AuditAction.SIGN_IN, via="remembered device")
        elif restored.revoked is not None:
            # Nobody is signed in: the patient is named in the detail, for their audit trail.
            device = restored.revoked
            trail.record(request, AuditAction.REMEMBERED_REVOKED, device=device.pk, patient=device.user_id)
        response = self.get_response(request)
        restored.write(response)
        return response


class VerifiedDeviceMiddleware(OTPMiddleware):
    """django-otp's middleware, loading the session's device without the ORM's query compilation.

    A staff member's image viewer makes dozens of requests a second, and each
    loads the device the session was verified with; as for the user
    (`accounts.backends.UserBackend`), compiling the query cost more than
    running it. django-otp still checks the device's owner and confirmation.

    The one private name of django-otp the project uses: `_device_from_persistent_id`
    is OTPMiddleware's hook for that load (django-otp 1.7.5; its signature and its
    call are pinned by tests/test_accounts_middleware.py). Without it, the
    middleware would be django-otp's own, only slower.
    """

    def _device_from_persistent_id(self, persistent_id: str) -> Device | None:
        return device_of_persistent_id(persistent_id)


def device_of_persistent_id(persistent_id: str) -> Device | None:
    """The device a persistent id names ("app_label.model/id", `Device.persistent_id`), or None.

    What django-otp's public `Device.from_persistent_id` answers, in one plain
    query on the device model's table. Ids in the format of django-otp before
    1.0 (full import paths) name no device: this portal never made one.
    """
    with contextlib.suppress(ValueError, LookupError):
        model_label, device_id = persistent_id.rsplit("/", 1)
        device_class = apps.get_model(model_label)
        if issubclass(device_class, Device):
            sql = f"SELECT * FROM {device_class._meta.db_table} WHERE id = %s"  # noqa: S608 - the name is the model's
            return next(iter(device_class.objects.raw(sql, [int(device_id)])), None)
    return None


class DeviceCookieMiddleware:
    """Sets the device cookie on the response of a sign-in (accounts.device_cookies.remember_after_response).

    The sign-in is seen in a `user_logged_in` receiver, which has no response;
    this way the staff page, the admin's login and the patients' page all
    leave the cookie the same way.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        subject = getattr(request, device_cookies.PENDING, None)
        if subject:
            device_cookies.remember(request, response, subject)
        return response
