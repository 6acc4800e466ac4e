"""Staff accounts: a password, a TOTP device, and memberships; and the one rule of what staff see."""

import hashlib
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import StaffMembership, StaffRole, User
from imaging.access import StudyScope
from imaging.models import Hospital


def staff_scope_of(user: Any) -> StudyScope:
    """What a signed-in staff member may see: the hospitals of their memberships, or all for a regional admin.

    The one rule for staff pages and region-wide DICOMweb alike. Both need a
    session whose TOTP code was verified (django-otp's `is_verified`), and the
    whole region needs the regional-admin role: superuser status alone grants
    nothing, since it says what the admin site may change, not whose exams one
    may read.
    """
    if not (user.is_authenticated and getattr(user, "is_verified", lambda: False)()):
        return StudyScope()
    with connection.cursor() as cursor:  # plain SQL: this runs on every staff image request
        table = StaffMembership._meta.db_table
        cursor.execute(f"SELECT role, hospital_id FROM {table} WHERE user_id = %s", [user.pk])  # noqa: S608
        memberships = cursor.fetchall()
    if any(role == StaffRole.REGIONAL_ADMIN for role, _hospital in memberships):
        return StudyScope(everything=True)
    return StudyScope(hospital_ids=tuple(hospital for _role, hospital in memberships if hospital))


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


DEMO_STAFF = (("clerk1", StaffRole.CLERK, "city1"), ("bureau", StaffRole.REGIONAL_ADMIN, None))
DEMO_PASSWORD = "demo-password-2026"  # noqa: S105 - published in the README: demo accounts exist only with DEBUG on


def demo_totp_key(username: str) -> str:
    """A fixed key per demo user (DEBUG only), so that the demo's codes can be computed."""
    if not settings.DEBUG:
        raise RuntimeError("demo TOTP keys exist only with DEBUG on")
    return _derived_demo_key(username)


def _derived_demo_key(username: str) -> str:
    return hashlib.sha1(f"efilm-demo-{username}".encode()).hexdigest()  # noqa: S324 - a demo key, not a hash of a secret


def demo_identities() -> list[str]:
    """Staff accounts a production database must not hold: a demo account with the demo password,
    or any TOTP device whose key is the demo key of its user (anyone can compute its codes)."""
    found = [
        f"TOTP device of {username!r} has the demo key"
        for key, username in TOTPDevice.objects.values_list("key", "user__username")
        if key == _derived_demo_key(username)
    ]
    demo_names = [username for username, _role, _hospital in DEMO_STAFF]
    for user in User.objects.filter(username__in=demo_names):
        if user.check_password(DEMO_PASSWORD):
            found.append(f"staff account {user.username!r} has the demo password")
    return found
