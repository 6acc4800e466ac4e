"""Patients sign in with their phone: codes, limits, identical answers, sessions."""

import logging
import re
import statistics
import threading
import time
from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.models import CodeRequest, SignInFailure, SMSDevice, User
from accounts.signin import verify_code
from accounts.sms import SMS
from accounts.throttle import SignInClient
from imaging.models import Hospital
from tests.support.clock import Clock
from tests.support.dicom import ALICE, BOB
from tests.support.people import (
    ALICE_PHONE,
    BOB_PHONE,
    UNKNOWN_PHONE,
    last_code,
    link,
    sign_in_patient,
    study_for,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(hospital: Hospital) -> str:
    study_for(hospital, ALICE, "alice-1")
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    return ALICE_PHONE


def ask(client: Client, phone: str) -> Any:
    return client.post("/sign-in/", {"phone": phone})


def enter(client: Client, code: str) -> Any:
    return client.post("/sign-in/code/", {"code": code})


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def normalised(response: Any) -> bytes:
    """The response without its CSRF token and the number the person typed (shown back to them)."""
    body = re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", response.content)
    body = re.sub(rb'name="phone" value="[^"]+"', b'name="phone"', body)
    return re.sub(rb"\+86 \d{3}\*{4}\d{4}", b"+86 NUMBER", body)


# ---------------------------------------------------------------- the happy path


def test_it_signs_in_with_the_code_sent_by_sms(client: Client, alice: str, sms_outbox: list[SMS]) -> None:
    before = client.session.session_key
    assert ask(client, "138 0000 0001")["Location"] == "/sign-in/code/"
    assert [m.to for m in sms_outbox] == [ALICE_PHONE]
    assert "exam" not in sms_outbox[0].body.lower()
    assert "检查" not in sms_outbox[0].body
    response = enter(client, last_code(ALICE_PHONE))
    assert response["Location"] == "/my/"
    assert signed_in(client)
    assert client.session.session_key != before  # cycled on sign-in
    assert User.objects.get(phone=ALICE_PHONE).has_usable_password() is False


def test_it_refuses_landlines_and_internet_numbers_with_a_clear_message(client: Client, db: None) -> None:
    client.post("/i18n/setlang/", {"language": "en"})
    landline = ask(client, "010 6552 9988")
    assert landline.status_code == 400
    assert "landline" in landline.content.decode()
    voip = ask(client, "+44 56 1234 5678")
    assert "VoIP" in voip.content.decode()
    assert "not a valid phone number" in ask(client, "12345").content.decode()
    assert CodeRequest.objects.count() == 0


# ---------------------------------------------------------------- known and unknown numbers alike


def test_it_answers_a_known_and_an_unknown_number_identically(alice: str, sms_outbox: list[SMS], clock: Clock) -> None:
    known, unknown = Client(), Client()
    first = (ask(known, ALICE_PHONE), ask(unknown, UNKNOWN_PHONE))
    assert (first[0].status_code, first[0]["Location"]) == (first[1].status_code, first[1]["Location"])
    pages = (known.get("/sign-in/code/"), unknown.get("/sign-in/code/"))
    assert pages[0].status_code == pages[1].status_code == 200
    assert normalised(pages[0]) == normalised(pages[1])
    wrong = (enter(known, "000000"), enter(unknown, "000000"))
    assert wrong[0].status_code == wrong[1].status_code
    assert normalised(wrong[0]) == normalised(wrong[1])
    again = (ask(known, ALICE_PHONE), ask(unknown, UNKNOWN_PHONE))  # within the resend interval
    assert again[0].status_code == again[1].status_code == 429
    assert normalised(again[0]) == normalised(again[1])
    assert [m.to for m in sms_outbox] == [ALICE_PHONE]  # nothing went to the unknown number


def test_it_takes_as_long_for_an_unknown_number(alice: str, clock: Clock) -> None:
    timings: dict[str, list[float]] = {ALICE_PHONE: [], UNKNOWN_PHONE: []}
    for _ in range(8):
        clock.advance(minutes=3)
        for phone in timings:
            client = Client()
            started = time.perf_counter()
            assert ask(client, phone).status_code == 302
            enter(client, "000000")
            timings[phone].append(time.perf_counter() - started)
    known, unknown = (statistics.median(timings[p]) for p in (ALICE_PHONE, UNKNOWN_PHONE))
    assert abs(known - unknown) < 0.025, (known, unknown)


# ---------------------------------------------------------------- the code


def test_it_keeps_a_code_for_five_minutes_only(client: Client, alice: str, clock: Clock) -> None:
    ask(client, ALICE_PHONE)
    code = last_code(ALICE_PHONE)
    clock.advance(minutes=5, seconds=1)
    assert enter(client, code).status_code == 400
    assert not signed_in(client)


def test_it_accepts_a_code_just_before_it_expires(client: Client, alice: str, clock: Clock) -> None:
    ask(client, ALICE_PHONE)
    clock.advance(minutes=4, seconds=59)
    assert enter(client, last_code(ALICE_PHONE)).status_code == 302


def test_it_accepts_a_code_once(alice: str) -> None:
    first, second = Client(), Client()
    ask(first, ALICE_PHONE)
    code = last_code(ALICE_PHONE)
    session = second.session
    session["signin_phone"] = ALICE_PHONE
    session.save()
    assert enter(first, code).status_code == 302
    assert enter(second, code).status_code == 400


def test_it_kills_a_code_after_five_wrong_entries(client: Client, alice: str, clock: Clock) -> None:
    ask(client, ALICE_PHONE)
    code = last_code(ALICE_PHONE)
    wrong = "111111" if code != "111111" else "222222"
    for _ in range(5):
        clock.advance(minutes=1)  # past the growing delay
        assert enter(client, wrong).status_code == 400
    clock.advance(minutes=1)
    assert enter(client, code).status_code == 400
    assert not signed_in(client)


def test_it_replaces_the_old_code_with_a_new_one(client: Client, alice: str, clock: Clock) -> None:
    ask(client, ALICE_PHONE)
    old = last_code(ALICE_PHONE)
    clock.advance(seconds=61)
    assert ask(client, ALICE_PHONE).status_code == 302
    new = last_code(ALICE_PHONE)
    if old != new:
        assert enter(client, old).status_code == 400
    clock.advance(minutes=1)
    assert enter(client, new).status_code == 302


def test_it_slows_down_consecutive_failures(client: Client, alice: str, clock: Clock) -> None:
    ask(client, ALICE_PHONE)
    assert enter(client, "000000").status_code == 400
    assert enter(client, "000001").status_code == 429  # within 1 s of the first failure
    clock.advance(seconds=1.5)
    assert enter(client, "000002").status_code == 400
    clock.advance(seconds=1.5)
    assert enter(client, "000003").status_code == 429  # the delay grows: 2 s now
    clock.advance(seconds=1)
    assert enter(client, "000004").status_code == 400


# ---------------------------------------------------------------- limits on sending


def test_it_waits_60_seconds_between_codes(alice: str, clock: Clock, sms_outbox: list[SMS]) -> None:
    ask(Client(), ALICE_PHONE)
    clock.advance(seconds=59)
    assert ask(Client(), ALICE_PHONE).status_code == 429
    clock.advance(seconds=2)
    assert ask(Client(), ALICE_PHONE).status_code == 302
    assert len(sms_outbox) == 2


def test_it_sends_at_most_5_codes_in_10_minutes(alice: str, clock: Clock, sms_outbox: list[SMS]) -> None:
    for _ in range(5):
        assert ask(Client(), ALICE_PHONE).status_code == 302
        clock.advance(seconds=61)
    assert ask(Client(), ALICE_PHONE).status_code == 429
    assert len(sms_outbox) == 5
    clock.advance(minutes=6)
    assert ask(Client(), ALICE_PHONE).status_code == 302


def test_it_sends_at_most_10_codes_a_day(alice: str, clock: Clock, sms_outbox: list[SMS]) -> None:
    for _ in range(10):
        assert ask(Client(), ALICE_PHONE).status_code == 302
        clock.advance(minutes=11)
    assert ask(Client(), ALICE_PHONE).status_code == 429
    assert len(sms_outbox) == 10
    clock.advance(hours=24)
    assert ask(Client(), ALICE_PHONE).status_code == 302


def test_it_caps_the_codes_asked_from_one_address(db: None, clock: Clock, settings: Any) -> None:
    settings.SMS_PER_IP_HOUR = 3
    for number in range(3):
        assert ask(Client(REMOTE_ADDR="10.0.0.9"), f"+86138000001{number:02d}").status_code == 302
    assert ask(Client(REMOTE_ADDR="10.0.0.9"), "+8613800000199").status_code == 429
    assert ask(Client(REMOTE_ADDR="10.0.0.10"), "+8613800000199").status_code == 302


# ---------------------------------------------------------------- secrets


def test_it_keeps_the_code_out_of_logs_and_database(
    client: Client, alice: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ask(client, ALICE_PHONE)
    code = last_code(ALICE_PHONE)
    enter(client, "000000")
    assert code not in caplog.text
    device = SMSDevice.objects.get()
    assert code not in device.code_hash
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - table names from the database
            for row in cursor.fetchall():
                assert not any(code in str(value) for value in row), table


def verify_at_once(barrier: threading.Barrier, code: str, results: list[bool]) -> None:
    barrier.wait()
    user, _refusal = verify_code(ALICE_PHONE, code, SignInClient("10.1.0.1"))
    results.append(user is not None)
    connection.close()


@pytest.mark.slow
def test_it_signs_in_one_session_when_a_code_is_sent_twice_at_once(
    require_postgres: None, transactional_db: None, hospital: Hospital
) -> None:
    study_for(hospital, ALICE, "alice-race")
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    for attempt in range(5):
        ask(Client(REMOTE_ADDR=f"10.1.0.{attempt}"), ALICE_PHONE)
        code = last_code(ALICE_PHONE)
        CodeRequest.objects.all().delete()  # let the next round ask at once
        barrier = threading.Barrier(2)
        results: list[bool] = []
        threads = [threading.Thread(target=verify_at_once, args=(barrier, code, results)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == [False, True], attempt
        SignInFailure.objects.all().delete()


# ---------------------------------------------------------------- sessions


def test_it_ends_the_session_on_the_server_at_sign_out(client: Client, alice: str) -> None:
    sign_in_patient(client, ALICE_PHONE)
    key = client.session.session_key
    assert client.post("/sign-out/").status_code == 302
    assert not Session.objects.filter(session_key=key).exists()
    assert client.get("/my/")["Location"] == "/sign-in/"


def test_it_ends_a_session_after_30_minutes_idle(client: Client, alice: str) -> None:
    sign_in_patient(client, ALICE_PHONE)
    session = Session.objects.get(session_key=client.session.session_key)
    remaining = (session.expire_date - timezone.now()).total_seconds()
    assert 29 * 60 < remaining <= 30 * 60


def test_it_ends_a_session_after_12_hours_in_all(client: Client, alice: str) -> None:
    sign_in_patient(client, ALICE_PHONE)
    session = client.session
    session["signed_in_at"] = int(time.time()) - 12 * 3600 - 1
    session.save()
    assert client.get("/my/")["Location"] == "/sign-in/"


# ---------------------------------------------------------------- what a patient sees


def test_it_shows_a_patient_only_the_studies_of_their_linked_records(
    client: Client, hospital: Hospital, other_hospital: Hospital
) -> None:
    alice_city = study_for(hospital, ALICE, "alice-city")
    alice_tcm = study_for(other_hospital, ALICE, "alice-tcm")  # the same PatientID, another hospital's record
    bob = study_for(hospital, BOB, "bob")
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    link(ALICE_PHONE, other_hospital, ALICE.patient_id)
    link(BOB_PHONE, hospital, BOB.patient_id)
    sign_in_patient(client, ALICE_PHONE)
    page = client.get("/my/").content.decode()
    shown = set(re.findall(r'data-study="(\d+)"', page))
    assert shown == {str(alice_city.pk), str(alice_tcm.pk)}
    assert str(bob.pk) not in shown
