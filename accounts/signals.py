"""What a sign-in or a failed one leaves behind, whichever page it came through.

- Every sign-in through a page (patient's, staff's, the admin's) leaves a
  device cookie (accounts.device_cookies); a staff member's from a browser
  without one is an audit event.
- A failed staff sign-in from a trusted device counts against that device
  (accounts.staff_lockout).
"""

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.http import HttpRequest
from django.utils import timezone

from accounts import staff_lockout, throttle
from accounts.device_cookies import (
    client_network,
    remember_after_response,
    subject_of_phone,
    subject_of_staff,
    trusted_device,
)
from portal.audit import trail
from portal.audit.models import AuditAction


def count_trusted_device_failure(
    sender: object, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: object
) -> None:
    """A failure from a trusted device counts against that device only (axes skips whitelisted ones)."""
    nonce = staff_lockout.device_nonce(request, credentials)
    if request is not None and nonce:
        subject = subject_of_staff(staff_lockout.username_of(credentials))
        client = throttle.SignInClient(client_network(request.META.get("REMOTE_ADDR")), nonce)
        throttle.record_failure(subject, client, timezone.now())


def remember_signed_in_device(sender: object, request: HttpRequest | None, user: Any, **kwargs: object) -> None:
    """Every sign-in through a page leaves a device cookie; a staff member's from a new device is audited.

    Only a posted form counts: the test client's `force_login` and other
    programmatic logins have no browser to remember.
    """
    if request is None or request.method != "POST":
        return
    phone = getattr(user, "phone", None)
    subject = subject_of_phone(phone) if phone else subject_of_staff(user.get_username())
    nonce = trusted_device(request, subject)
    if not phone and not nonce:
        trail.record(request, AuditAction.STAFF_NEW_DEVICE)
    if not phone and nonce:  # a patient's device is forgiven in accounts.signin.verify_code
        throttle.record_success(throttle.SignInClient(client_network(request.META.get("REMOTE_ADDR")), nonce))
    remember_after_response(request, subject)


def connect() -> None:
    user_login_failed.connect(count_trusted_device_failure, dispatch_uid="accounts.count_trusted_device_failure")
    user_logged_in.connect(remember_signed_in_device, dispatch_uid="accounts.remember_signed_in_device")
