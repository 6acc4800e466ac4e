"""An attacker cannot lock a patient out (issue 15, point 3).

Wrong codes are counted per number from untrusted clients, per client network,
and per device cookie; no client waits more than 15 minutes, failures are
forgotten after 24 hours, and the patient's own device (where the number signed
in before) is never slowed by anyone else's failures.
"""

from importlib import import_module
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from accounts.device_cookies import COOKIE_NAME
from imaging.models import Hospital
from tests.support.clock import Clock
from tests.support.dicom import ALICE, BOB
from tests.support.people import ALICE_PHONE, BOB_PHONE, UNKNOWN_PHONE, last_code, link, study_for

pytestmark = pytest.mark.django_db

MAX_WAIT = 15 * 60
NETWORK_FREE_FAILURES = 10  # SIGN_IN_NETWORK_FREE_FAILURES
PATIENT_NETWORK = "198.51.100.7"
ATTACKER_NETWORK = "203.0.113.9"


@pytest.fixture
def alice(hospital: Hospital, sms_outbox: list[Any]) -> str:
    study_for(hospital, ALICE, "alice-1")
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    return ALICE_PHONE


@pytest.fixture
def alices_phone(alice: str, clock: Clock) -> Client:
    """The browser on which Alice signed in before, whose session has since expired: it holds her device cookie.

    (Signing out sends Clear-Site-Data, and a browser then drops every cookie, this one too.)
    """
    browser = Client(REMOTE_ADDR=PATIENT_NETWORK)
    assert ask(browser, ALICE_PHONE).status_code == 302
    assert enter(browser, last_code(ALICE_PHONE)).status_code == 302
    del browser.cookies[settings.SESSION_COOKIE_NAME]
    clock.advance(minutes=10)  # past the interval between two codes
    return browser


def ask(client: Client, phone: str) -> Any:
    return client.post("/sign-in/", {"phone": phone})


def enter(client: Client, code: str) -> Any:
    return client.post("/sign-in/code/", {"code": code})


def pending(address: str, phone: str, client: Client | None = None) -> Client:
    """A client at the code page for a number, as after asking for a code (without sending one)."""
    client = client or Client(REMOTE_ADDR=address)
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session["signin_phone"] = phone
    session.create()
    client.cookies[settings.SESSION_COOKIE_NAME] = session.session_key
    return client


def wrong_code(phone: str) -> str:
    return "000000" if last_code(phone) != "000000" else "111111"


def wait_of(response: Any) -> int:
    assert response.status_code == 429, response.status_code
    return int(response.headers.get("Retry-After", 0))


def spaced_wrong_codes(client: Client, clock: Clock, count: int, code: str) -> list[int]:
    """Wrong codes, each after the wait the page asks for: the waits asked."""
    waits = []
    for _ in range(count):
        response = enter(client, code)
        if response.status_code == 429:
            waits.append(wait_of(response))
            assert 0 < waits[-1] <= MAX_WAIT, waits
            clock.advance(seconds=waits[-1])
            response = enter(client, code)
        assert response.status_code == 400, response.status_code
    return waits


def test_it_lets_the_patients_own_device_in_at_once_after_the_reviews_attack(
    alices_phone: Client, clock: Clock
) -> None:
    attacker = pending(ATTACKER_NETWORK, ALICE_PHONE)
    spaced_wrong_codes(attacker, clock, 7, wrong_code(ALICE_PHONE))
    waits = spaced_wrong_codes(attacker, clock, 20, wrong_code(ALICE_PHONE))
    assert max(waits) == MAX_WAIT  # the attack did reach the cap
    assert ask(alices_phone, ALICE_PHONE).status_code == 302
    assert enter(alices_phone, last_code(ALICE_PHONE))["Location"] == "/my/"
    assert 0 < wait_of(enter(pending("192.0.2.1", ALICE_PHONE), "123456")) <= MAX_WAIT  # other clients are slowed


def test_it_does_not_let_another_numbers_device_cookie_past_the_wait(
    alice: str, hospital: Hospital, clock: Clock
) -> None:
    study_for(hospital, BOB, "bob-1")
    link(BOB_PHONE, hospital, BOB.patient_id)
    bobs_phone = Client(REMOTE_ADDR=PATIENT_NETWORK)
    assert ask(bobs_phone, BOB_PHONE).status_code == 302
    assert enter(bobs_phone, last_code(BOB_PHONE)).status_code == 302
    assert COOKIE_NAME in bobs_phone.cookies
    bobs_phone.post("/sign-out/")
    spaced_wrong_codes(pending(ATTACKER_NETWORK, ALICE_PHONE), clock, 12, "000000")
    assert 0 < wait_of(enter(pending(PATIENT_NETWORK, ALICE_PHONE, bobs_phone), "000000")) <= MAX_WAIT


@pytest.mark.parametrize("failures", [12, 20, 40])
def test_it_makes_no_client_wait_more_than_15_minutes(alice: str, clock: Clock, failures: int) -> None:
    """From many networks at once (a botnet), however many failures: a new client waits 15 minutes at most."""
    for number in range(failures):
        clock.advance(seconds=MAX_WAIT)
        assert enter(pending(f"203.0.{number}.9", ALICE_PHONE), "000000").status_code == 400
    patient = Client(REMOTE_ADDR=PATIENT_NETWORK)
    clock.advance(minutes=1)
    assert ask(patient, ALICE_PHONE).status_code == 302
    response = enter(patient, last_code(ALICE_PHONE))
    if response.status_code == 429:
        assert wait_of(response) <= MAX_WAIT
        clock.advance(seconds=wait_of(response))
        assert ask(patient, ALICE_PHONE).status_code == 302  # the first code lived 5 minutes only
        response = enter(patient, last_code(ALICE_PHONE))
    assert response["Location"] == "/my/"


def test_it_forgets_failures_after_24_hours(alice: str, clock: Clock) -> None:
    spaced_wrong_codes(pending(ATTACKER_NETWORK, ALICE_PHONE), clock, 20, "000000")
    clock.advance(hours=24, seconds=1)
    patient = Client(REMOTE_ADDR=ATTACKER_NETWORK)  # even on the attacker's network
    assert ask(patient, ALICE_PHONE).status_code == 302
    assert enter(patient, last_code(ALICE_PHONE))["Location"] == "/my/"


def test_it_counts_a_devices_own_failures_against_that_device_only(alices_phone: Client, clock: Clock) -> None:
    pending(PATIENT_NETWORK, ALICE_PHONE, alices_phone)
    assert enter(alices_phone, "000000").status_code == 400
    assert 0 < wait_of(enter(alices_phone, "000001")) <= 1  # her own typos slow her own device
    elsewhere = Client(REMOTE_ADDR="192.0.2.1")
    assert ask(elsewhere, ALICE_PHONE).status_code == 302
    assert enter(elsewhere, last_code(ALICE_PHONE))["Location"] == "/my/"  # and nobody else


@pytest.mark.parametrize(
    ("first", "second", "slowed"),
    [
        ("203.0.113.9", "203.0.113.9", True),
        ("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", True),  # one IPv6 /64 is one client
        ("203.0.113.9", "203.0.113.10", False),  # IPv4 per address: NAT puts many patients behind one
        ("2001:db8:1:2::1", "2001:db8:1:3::1", False),
    ],
)
def test_it_slows_a_client_network_that_tries_many_numbers(
    db: None, clock: Clock, first: str, second: str, slowed: bool
) -> None:
    """One wrong code for each of many numbers: no number is slowed, the network is."""
    for number in range(NETWORK_FREE_FAILURES + 1):
        assert enter(pending(first, f"+86139{number:08d}"), "000000").status_code == 400
    assert 0 < wait_of(enter(pending(first, BOB_PHONE), "000000")) <= MAX_WAIT
    response = enter(pending(second, UNKNOWN_PHONE), "000000")
    assert (response.status_code == 429) is slowed


def test_it_leaves_a_signed_long_lived_device_cookie(alice: str) -> None:
    browser = Client(REMOTE_ADDR=PATIENT_NETWORK)
    ask(browser, ALICE_PHONE)
    response = enter(browser, last_code(ALICE_PHONE))
    cookie = response.cookies[COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert int(cookie["max-age"]) >= 365 * 24 * 3600
    assert ALICE_PHONE.removeprefix("+") not in cookie.value  # names the number by an HMAC only


def test_it_does_not_trust_a_forged_device_cookie(alices_phone: Client, clock: Clock) -> None:
    spaced_wrong_codes(pending(ATTACKER_NETWORK, ALICE_PHONE), clock, 12, "000000")
    value = alices_phone.cookies[COOKIE_NAME].value
    forger = pending(PATIENT_NETWORK, ALICE_PHONE)
    forger.cookies[COOKIE_NAME] = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    assert 0 < wait_of(enter(forger, "000000")) <= MAX_WAIT
    own = pending(PATIENT_NETWORK, ALICE_PHONE, alices_phone)
    assert enter(own, "000000").status_code == 400  # the real one is not slowed


def test_it_sends_the_patients_own_device_a_code_after_others_used_up_the_numbers_codes(
    alices_phone: Client, clock: Clock, sms_outbox: list[Any]
) -> None:
    """Whoever knows a number can ask for its codes until the caps refuse; the patient's phone still gets one."""
    refused = None
    for number in range(30):
        attacker = Client(REMOTE_ADDR=f"203.0.113.{number + 10}")
        response = ask(attacker, ALICE_PHONE)
        if response.status_code == 429:
            refused = response
            break
        clock.advance(minutes=3)  # past the interval between two codes, within the 10 minutes' cap
    assert refused is not None, "the caps per number never refused the attacker"
    sms_outbox.clear()
    assert ask(alices_phone, ALICE_PHONE).status_code == 302
    assert enter(alices_phone, last_code(ALICE_PHONE)).status_code == 302
    assert ask(Client(REMOTE_ADDR="203.0.113.250"), ALICE_PHONE).status_code == 429
