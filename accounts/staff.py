"""Staff accounts: a password, a TOTP device, and memberships."""

import hashlib

from django.conf import settings
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import StaffMembership, StaffRole, User
from imaging.models import Hospital


@transaction.atomic
def add_staff(
    username: str, password: str, role: StaffRole, hospital: Hospital | None, totp_key: str | None = None
) -> TOTPDevice:
    """Create or update a staff member; returns their (confirmed) TOTP device."""
    user, _ = User.objects.get_or_create(username=username)
    user.set_password(password)
    user.is_staff = role == StaffRole.REGIONAL_ADMIN  # the admin site is for regional admins
    user.save()
    StaffMembership.objects.get_or_create(user=user, hospital=hospital, defaults={"role": role})
    device = TOTPDevice.objects.filter(user=user, name="default").first()
    if device is None:
        device = TOTPDevice(user=user, name="default", confirmed=True)
    if totp_key:
        device.key = totp_key
    device.confirmed = True
    device.save()
    return device


def demo_totp_key(username: str) -> str:
    """A fixed key per demo user (DEBUG only), so that the demo's codes can be computed."""
    if not settings.DEBUG:
        raise RuntimeError("demo TOTP keys exist only with DEBUG on")
    return hashlib.sha1(f"efilm-demo-{username}".encode()).hexdigest()  # noqa: S324 - a demo key, not a hash of a secret
