"""Staff passwords cannot be guessed, and the form does not tell which factor was wrong (issue 15, point 4).

django-axes counts failures per username and per client network on the staff
sign-in and on /admin/login/; a browser where the staff member signed in before
(device cookie) is not locked by anyone else's failures.
"""

import datetime as dt
import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.management import call_command
from django.db.models import F
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.device_cookies import COOKIE_NAME
from accounts.models import SignInFailure, StaffRole
from imaging.models import Hospital
from portal.audit.models import AuditAction, AuditEvent
from tests.support.people import STAFF_PASSWORD, Staff, make_staff

pytestmark = pytest.mark.django_db

PAGES = ["/staff/sign-in/", "/admin/login/"]
STAFF_NETWORK = "198.51.100.20"
ATTACKER_NETWORK = "203.0.113.9"


@pytest.fixture(autouse=True)
def fast_hasher(settings: Any) -> None:
    """Guesses cost what the hasher costs; these tests make hundreds."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def bureau(db: None) -> Staff:
    """A regional admin: may use both the staff pages and the admin."""
    return make_staff("bureau", StaffRole.REGIONAL_ADMIN, None)


def next_totp_window(staff: Staff) -> None:
    """django-otp takes each TOTP code once; a second sign-in in the same 30 s needs the next code."""
    TOTPDevice.objects.filter(pk=staff.device.pk).update(last_t=-1)


def wrong_totp(staff: Staff) -> str:
    return "000000" if staff.code() != "000000" else "111111"


def post(client: Client, page: str, username: str, password: str, otp_token: str) -> Any:
    return client.post(page, {"username": username, "password": password, "otp_token": otp_token})


def right(client: Client, page: str, staff: Staff) -> Any:
    return post(client, page, staff.username, STAFF_PASSWORD, staff.code())


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def guess_passwords(client: Client, page: str, username: str, count: int) -> None:
    for number in range(count):
        post(client, page, username, f"guess-{number}", "123456")


def move_failures_back(minutes: float) -> None:
    """Time travel: stored failures, axes' and django-otp's, move into the past."""
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - dt.timedelta(minutes=minutes))
    TOTPDevice.objects.exclude(throttling_failure_timestamp=None).update(
        throttling_failure_timestamp=F("throttling_failure_timestamp") - dt.timedelta(minutes=minutes)
    )


def cool_off() -> None:
    move_failures_back(minutes=16)  # axes' cool-off is 15


def page_as_seen(response: Any) -> tuple[int, str]:
    """Status and body, without the CSRF token and the values typed back into the form."""
    body = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())
    return response.status_code, re.sub(r' value="[^"]*"', "", body)


def signed_in_device(page: str, staff: Staff) -> Client:
    """A browser where the staff member signed in before, whose session has ended: it holds the device cookie.

    (Signing out sends Clear-Site-Data, and a browser then drops every cookie, this one too.)
    """
    browser = Client(REMOTE_ADDR=STAFF_NETWORK)
    assert right(browser, page, staff).status_code == 302
    assert COOKIE_NAME in browser.cookies
    del browser.cookies[settings.SESSION_COOKIE_NAME]
    next_totp_window(staff)
    return browser


@pytest.mark.parametrize("page", PAGES)
def test_it_locks_out_forty_wrong_passwords(bureau: Staff, page: str) -> None:
    guess_passwords(Client(REMOTE_ADDR=ATTACKER_NETWORK), page, "bureau", 40)
    for client in (Client(REMOTE_ADDR=ATTACKER_NETWORK), Client(REMOTE_ADDR="192.0.2.1")):
        response = right(client, page, bureau)  # the right password and code, from any new client
        assert response.status_code != 302
        assert not signed_in(client)
    cool_off()
    assert right(Client(REMOTE_ADDR="192.0.2.1"), page, bureau).status_code == 302


def test_it_lets_an_administrator_lift_a_lock_with_axes_reset_username(bureau: Staff) -> None:
    guess_passwords(Client(REMOTE_ADDR=ATTACKER_NETWORK), "/staff/sign-in/", "bureau", 40)
    assert right(Client(REMOTE_ADDR="192.0.2.1"), "/staff/sign-in/", bureau).status_code != 302
    call_command("axes_reset_username", "bureau", stdout=io.StringIO())
    next_totp_window(bureau)
    assert right(Client(REMOTE_ADDR="192.0.2.1"), "/staff/sign-in/", bureau).status_code == 302


def test_it_locks_a_network_that_guesses_many_usernames(bureau: Staff) -> None:
    attacker = Client(REMOTE_ADDR=ATTACKER_NETWORK)
    for number in range(12):
        post(attacker, "/staff/sign-in/", f"clerk{number}", "password", "123456")
    assert right(Client(REMOTE_ADDR=ATTACKER_NETWORK), "/staff/sign-in/", bureau).status_code != 302
    assert right(Client(REMOTE_ADDR="192.0.2.1"), "/staff/sign-in/", bureau).status_code == 302


FAILURES: dict[str, Callable[[Staff], tuple[str, str, str]]] = {
    "unknown user": lambda s: ("nobody", STAFF_PASSWORD, s.code()),
    "wrong password": lambda s: (s.username, "wrong-password-1", s.code()),
    "right password, wrong code": lambda s: (s.username, STAFF_PASSWORD, wrong_totp(s)),
    "right password, no code": lambda s: (s.username, STAFF_PASSWORD, ""),
}


@pytest.mark.parametrize("page", PAGES)
def test_it_answers_every_failure_with_one_message(bureau: Staff, page: str) -> None:
    seen = {name: page_as_seen(post(Client(), page, *failure(bureau))) for name, failure in FAILURES.items()}
    guess_passwords(Client(REMOTE_ADDR=ATTACKER_NETWORK), page, "bureau", 40)
    seen["locked, right password and code"] = page_as_seen(right(Client(REMOTE_ADDR=ATTACKER_NETWORK), page, bureau))
    first = seen["wrong password"][1].splitlines()
    for name, (status, body) in seen.items():
        assert status == seen["wrong password"][0], name
        assert body == seen["wrong password"][1], (name, [line for line in body.splitlines() if line not in first])
    assert seen["wrong password"][0] in (200, 400)


def test_it_counts_wrong_authenticator_codes_as_failures_that_end(bureau: Staff) -> None:
    """Someone who knows the password guesses codes: locked like a password guesser, for the cool-off only.

    django-otp's own delay doubled without cap: twenty codes twenty minutes apart
    kept the staff member out for hours.
    """
    attacker = Client(REMOTE_ADDR=ATTACKER_NETWORK)
    for _ in range(20):
        post(attacker, "/staff/sign-in/", "bureau", STAFF_PASSWORD, wrong_totp(bureau))
        move_failures_back(minutes=20)
    assert right(Client(REMOTE_ADDR="192.0.2.1"), "/staff/sign-in/", bureau).status_code == 302
    next_totp_window(bureau)
    for _ in range(10):
        post(attacker, "/staff/sign-in/", "bureau", STAFF_PASSWORD, wrong_totp(bureau))
    assert right(Client(REMOTE_ADDR="192.0.2.2"), "/staff/sign-in/", bureau).status_code != 302


@pytest.mark.parametrize("page", PAGES)
def test_it_lets_a_trusted_device_in_while_others_are_locked_out(bureau: Staff, page: str) -> None:
    device = signed_in_device(page, bureau)
    guess_passwords(Client(REMOTE_ADDR=ATTACKER_NETWORK), page, "bureau", 40)
    for _ in range(20):  # and the django-otp delay the review found, which doubled without cap
        post(Client(REMOTE_ADDR=ATTACKER_NETWORK), page, "bureau", STAFF_PASSWORD, wrong_totp(bureau))
    assert right(Client(REMOTE_ADDR="192.0.2.1"), page, bureau).status_code != 302
    assert right(device, page, bureau).status_code == 302
    assert signed_in(device)


def test_it_bounds_a_trusted_devices_own_failures(bureau: Staff) -> None:
    device = signed_in_device("/staff/sign-in/", bureau)
    guess_passwords(Client(REMOTE_ADDR=ATTACKER_NETWORK), "/staff/sign-in/", "bureau", 40)
    guess_passwords(device, "/staff/sign-in/", "bureau", 10)  # its cookie is then no longer trusted
    assert right(device, "/staff/sign-in/", bureau).status_code != 302
    cool_off()
    SignInFailure.objects.update(created_at=F("created_at") - dt.timedelta(minutes=16))
    assert right(device, "/staff/sign-in/", bureau).status_code == 302  # both limits end with the cool-off


def test_it_audits_a_sign_in_from_a_new_device(bureau: Staff) -> None:
    browser = Client(REMOTE_ADDR=STAFF_NETWORK, HTTP_USER_AGENT="Ward 3 workstation")
    assert right(browser, "/staff/sign-in/", bureau).status_code == 302
    event = AuditEvent.objects.get(action=AuditAction.STAFF_NEW_DEVICE)
    assert (event.user.username, event.ip_address, event.user_agent) == ("bureau", STAFF_NETWORK, "Ward 3 workstation")
    browser.post("/sign-out/")
    next_totp_window(bureau)
    assert right(browser, "/admin/login/", bureau).status_code == 302  # the same device, through the admin
    assert AuditEvent.objects.filter(action=AuditAction.STAFF_NEW_DEVICE).count() == 1
    next_totp_window(bureau)
    assert right(Client(REMOTE_ADDR=STAFF_NETWORK), "/admin/login/", bureau).status_code == 302
    assert AuditEvent.objects.filter(action=AuditAction.STAFF_NEW_DEVICE).count() == 2


def test_it_signs_staff_in_through_the_admin_login_with_the_totp_code(hospital: Hospital, bureau: Staff) -> None:
    client = Client()
    assert right(client, "/admin/login/?next=/admin/", bureau)["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
