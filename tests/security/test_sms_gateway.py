"""The production SMS gateway, attacked and broken (issue 15, point 2).

A real HTTP server on 127.0.0.1 plays the gateway: it answers OK, answers 500,
or never answers. Texts go through Celery's apply_async, eagerly and through a
worker on Redis; a broker that is down is one more way to fail. Whatever the
gateway does, a known number and an unknown one get the same answer in the same
time, and no page answers 500 because a text could not go.
"""

import itertools
import logging
import statistics
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import StaffRole, User
from accounts.signin import code_message
from accounts.sms import send_sms
from accounts.tasks import retry_delay, send_sms_through_gateway, wait_for_deliveries
from imaging.models import Hospital
from portal.celery import app
from portal.sharing import shares
from tests.support.dicom import ALICE
from tests.support.exams import Exam, make_exam
from tests.support.people import ALICE_PHONE, UNKNOWN_PHONE, link, make_staff, sign_in_staff
from tests.support.processes import free_port, output_of
from tests.support.sms_gateway import KEY, MODES, SENDER, TEMPLATE, Gateway, running_gateway
from tests.support.workers import Workers, use_broker, wait_for
from tests.test_settings import PRODUCTION, manage

ALICE_MASKED = "+86 138****0001"
CODE = "394817"
RETRIES, BACKOFF = 2, 1
ATTEMPTS = {"ok": 1, "500": 1 + RETRIES, "hang": 1 + RETRIES}
FAILURES = ("500", "hang", "dead-broker")


def gateway_settings(url: str) -> dict[str, str]:
    return {
        "SMS_GATEWAY_URL": url,
        "SMS_GATEWAY_KEY": KEY,
        "SMS_GATEWAY_SENDER": SENDER,
        "SMS_GATEWAY_TEMPLATE": TEMPLATE,
        "SMS_GATEWAY_TIMEOUT": "1",
        "SMS_GATEWAY_RETRIES": str(RETRIES),
        "SMS_GATEWAY_BACKOFF": str(BACKOFF),
    }


def use_gateway(settings: Any, url: str) -> None:
    settings.SMS_BACKEND = "http"
    for name, value in gateway_settings(url).items():
        setattr(settings, name, int(value) if value.isdigit() else value)
    settings.SMS_GATEWAY_BACKOFF = 0  # but in the tests of the backoff: retries at once


@pytest.fixture
def gateway(request: pytest.FixtureRequest, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    """The gateway in the test's mode ("dead-broker": a gateway that works behind a broker that is down)."""
    mode = getattr(request, "param", "ok")
    with running_gateway("ok" if mode == "dead-broker" else mode, lambda url: use_gateway(settings, url)) as server:
        server.broker_down = mode == "dead-broker"
        if server.broker_down:
            previous = app.conf.broker_url, app.conf.broker_connection_timeout
            app.conf.broker_connection_timeout = 0.5  # Celery gives up connecting after 1 s, not 6
            dead = f"redis://127.0.0.1:{free_port()}/0"
            # Celery reads CELERY_BROKER_URL from the environment before its configuration (CI sets it).
            monkeypatch.setenv("CELERY_BROKER_URL", dead)
            use_broker(dead)
        try:
            yield server
        finally:
            server.released.set()
            assert wait_for_deliveries(30), "a text was still being handed on"
            if server.broker_down:
                app.conf.broker_connection_timeout = previous[1]
                use_broker(previous[0])
                app.conf.update(task_always_eager=True)


def sent_as_expected(server: Gateway, count: int, to: str = ALICE_PHONE) -> None:
    """Each attempt carried the number, the text, the account's sender and template, and the key."""
    attempts = server.attempts
    assert len(attempts) == count
    for attempt in attempts:
        assert attempt.payload["to"] == to
        assert attempt.payload["sender"] == SENDER
        assert attempt.payload["template"] == TEMPLATE
        assert attempt.payload["text"]
        assert attempt.authorization == f"Bearer {KEY}"


def backed_off(server: Gateway) -> None:
    attempts = server.attempts
    for retries, (before, after) in enumerate(itertools.pairwise(attempts)):
        assert after.at - before.at >= BACKOFF * 2**retries


def nothing_secret_in(text: str) -> None:
    assert ALICE_PHONE not in text
    assert CODE not in text


# ---------------------------------------------------------------- delivery, eagerly


@pytest.mark.parametrize("gateway", MODES, indirect=True)
def test_it_delivers_retries_and_gives_up_with_the_number_masked_eagerly(
    gateway: Gateway, caplog: pytest.LogCaptureFixture, settings: Any
) -> None:
    caplog.set_level(logging.INFO)
    settings.SMS_GATEWAY_BACKOFF = BACKOFF
    started = time.monotonic()
    send_sms(ALICE_PHONE, code_message(CODE))
    assert time.monotonic() - started < 0.5  # the caller never waits for the gateway
    assert wait_for_deliveries(30)
    sent_as_expected(gateway, ATTEMPTS[gateway.mode])
    assert gateway.attempts[0].payload["text"] == code_message(CODE)
    given_up = [r for r in caplog.records if "not delivered" in r.getMessage()]
    if gateway.mode == "ok":
        assert given_up == []
    else:
        assert [(r.levelno, r.name) for r in given_up] == [(logging.ERROR, "accounts.tasks")]
        assert ALICE_MASKED in given_up[0].getMessage()
        assert f"after {1 + RETRIES} attempts" in given_up[0].getMessage()
        backed_off(gateway)
    nothing_secret_in(caplog.text)


def test_it_backs_off_exponentially_with_jitter(settings: Any) -> None:
    settings.SMS_GATEWAY_BACKOFF = 5
    delays = [[retry_delay(retries) for _ in range(50)] for retries in range(4)]
    for retries, tried in enumerate(delays):
        assert all(5 * 2**retries <= delay <= 7.5 * 2**retries for delay in tried)
    assert len({round(delay, 6) for delay in delays[0]}) > 1  # jittered


# ---------------------------------------------------------------- delivery, through a worker on Redis


@pytest.mark.parametrize("mode", MODES)
def test_it_delivers_retries_and_gives_up_with_the_number_masked_through_a_worker(
    mode: str, workers: Workers, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def configure(url: str) -> None:
        use_gateway(settings, url)
        for name, value in gateway_settings(url).items():
            monkeypatch.setenv(name, value)  # the worker's settings

    with running_gateway(mode, configure) as server:
        workers.start()
        send_sms(ALICE_PHONE, code_message(CODE))
        server.wait_for_attempts(ATTEMPTS[mode], timeout=60)
        log = workers.processes[0]
        if mode == "ok":
            assert len(server.wait_for_attempts(2, timeout=BACKOFF * 2 + 1)) == 1  # not sent twice
        else:
            assert wait_for(lambda: "not delivered" in output_of(log), timeout=30), output_of(log)[-2000:]
            assert f"SMS to {ALICE_MASKED} not delivered after {1 + RETRIES} attempts" in output_of(log)
            backed_off(server)
        sent_as_expected(server, ATTEMPTS[mode])
        server.released.set()
        assert wait_for_deliveries(10)
        nothing_secret_in(output_of(log))


# ---------------------------------------------------------------- sign-in: no oracle


@pytest.fixture
def loose_limits(settings: Any) -> None:
    """Many requests for the same numbers from one address, to time them."""
    settings.SMS_RESEND_SECONDS = 0
    settings.SMS_PER_NUMBER_10_MINUTES = settings.SMS_PER_NUMBER_DAY = settings.SMS_PER_IP_HOUR = 1000


def ask_for_a_code(phone: str) -> tuple[tuple[int, str, int], float]:
    started = time.perf_counter()
    response = Client().post("/sign-in/", {"phone": phone})
    took = time.perf_counter() - started
    return (response.status_code, response.get("Location", ""), len(response.content)), took


def alike_for_known_and_unknown_numbers(server: Gateway, hospital: Hospital) -> None:
    """The same status, place and length for both, quickly (the gateway has 3 s to hang), and in the same time."""
    make_exam(hospital, ALICE, "oracle", slices=1, report="")
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    answers: dict[str, set[tuple[int, str, int]]] = {ALICE_PHONE: set(), UNKNOWN_PHONE: set()}
    times: dict[str, list[float]] = {ALICE_PHONE: [], UNKNOWN_PHONE: []}
    ask_for_a_code(UNKNOWN_PHONE)  # warm up: the first request of a process pays for imports
    for _ in range(7):
        for phone in (ALICE_PHONE, UNKNOWN_PHONE):
            answer, took = ask_for_a_code(phone)
            answers[phone].add(answer)
            times[phone].append(took)
    assert answers[ALICE_PHONE] == answers[UNKNOWN_PHONE] == {(302, reverse("accounts:code"), 0)}
    assert max(times[ALICE_PHONE]) < 1.5, times
    assert abs(statistics.median(times[ALICE_PHONE]) - statistics.median(times[UNKNOWN_PHONE])) < 0.05, times


@pytest.mark.parametrize("gateway", [*MODES, "dead-broker"], indirect=True)
def test_it_answers_known_and_unknown_numbers_alike_whatever_the_gateway_does(
    gateway: Gateway, hospital: Hospital, loose_limits: None, settings: Any
) -> None:
    settings.SMS_GATEWAY_TIMEOUT = 3
    alike_for_known_and_unknown_numbers(gateway, hospital)
    gateway.released.set()
    assert wait_for_deliveries(30)
    texted = {attempt.payload["to"] for attempt in gateway.attempts}
    assert texted == (set() if gateway.broker_down else {ALICE_PHONE})


@pytest.mark.parametrize("mode", ["500", "hang"])
def test_it_answers_known_and_unknown_numbers_alike_with_a_worker(
    mode: str, workers: Workers, hospital: Hospital, loose_limits: None, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def configure(url: str) -> None:
        use_gateway(settings, url)
        for name, value in {**gateway_settings(url), "SMS_GATEWAY_TIMEOUT": "3"}.items():
            monkeypatch.setenv(name, value)

    with running_gateway(mode, configure) as server:
        workers.start()
        alike_for_known_and_unknown_numbers(server, hospital)
        assert wait_for_deliveries(10)
        attempts = server.wait_for_attempts(1, timeout=30)
        assert attempts
        assert {attempt.payload["to"] for attempt in attempts} == {ALICE_PHONE}


# ---------------------------------------------------------------- every other text survives a failing gateway


@pytest.fixture
def exam(hospital: Hospital) -> Exam:
    return make_exam(hospital, ALICE, "sms-failing", slices=1, report="")


@pytest.fixture
def patient(exam: Exam) -> User:
    return User.objects.create(username=ALICE_PHONE, phone=ALICE_PHONE)


def texted_or_logged(server: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    """The text reached the gateway, or (the broker down) its loss was logged with the number masked."""
    assert wait_for_deliveries(30)
    if not server.broker_down:
        sent_as_expected(server, 1 + RETRIES)
    else:
        assert f"SMS to {ALICE_MASKED} was not sent" in caplog.text
    assert ALICE_PHONE not in caplog.text


@pytest.mark.parametrize("gateway", FAILURES, indirect=True)
def test_it_issues_an_e_film_with_a_text_whatever_the_gateway_does(
    gateway: Gateway, exam: Exam, hospital: Hospital, caplog: pytest.LogCaptureFixture
) -> None:
    clerk = Client(raise_request_exception=False)
    sign_in_staff(clerk, make_staff("clerk", StaffRole.CLERK, hospital))
    data = {"phone": "13800000001", "choice": "efilm", "with_share": "on", "notify": "on"}
    response = clerk.post(f"/staff/studies/{exam.study.pk}/issue", data)
    assert response.status_code == 302
    assert clerk.get(response["Location"]).status_code == 200
    texted_or_logged(gateway, caplog)


@pytest.mark.parametrize("gateway", FAILURES, indirect=True)
def test_it_opens_a_share_and_texts_the_patient_whatever_the_gateway_does(
    gateway: Gateway, exam: Exam, patient: User, caplog: pytest.LogCaptureFixture
) -> None:
    new = shares.create_share(exam.study, patient.pk, notify_on_open=True)
    clinician = Client(raise_request_exception=False)
    response = clinician.post(reverse("share-open", args=[new.token]), {"code": new.code})
    assert response.status_code == 302
    assert clinician.get(response["Location"]).status_code == 200
    texted_or_logged(gateway, caplog)


@pytest.mark.parametrize("gateway", FAILURES, indirect=True)
def test_it_locks_a_share_and_texts_the_patient_whatever_the_gateway_does(
    gateway: Gateway, exam: Exam, patient: User, caplog: pytest.LogCaptureFixture
) -> None:
    new = shares.create_share(exam.study, patient.pk, notify_on_open=False)
    wrong = f"{(int(new.code) + 1) % 10**6:06d}"
    answers = [
        Client(raise_request_exception=False).post(reverse("share-open", args=[new.token]), {"code": wrong})
        for _ in range(shares.WRONG_CODES_BEFORE_LOCK)
    ]
    assert answers[-1].status_code == 403
    assert 'id="share-locked"' in answers[-1].content.decode()
    texted_or_logged(gateway, caplog)


# ---------------------------------------------------------------- configuration


def test_it_keeps_the_tasks_time_limits_below_the_settings_and_the_soft_one_first(settings: Any) -> None:
    task = send_sms_through_gateway
    assert settings.SMS_GATEWAY_TIMEOUT < task.soft_time_limit < task.time_limit
    assert task.soft_time_limit < settings.CELERY_TASK_SOFT_TIME_LIMIT
    assert task.time_limit < settings.CELERY_TASK_TIME_LIMIT


def test_it_refuses_the_http_gateway_in_production_without_a_broker() -> None:
    gateway = {"SMS_BACKEND": "http", "SMS_GATEWAY_URL": "https://sms.example.org/v1/sms"}
    result = manage("check", **PRODUCTION, **gateway, CELERY_BROKER_URL="")
    assert result.returncode != 0
    assert "SMS_BACKEND=http needs CELERY_BROKER_URL" in result.stderr
    assert manage("check", **PRODUCTION, **gateway, CELERY_BROKER_URL="redis://127.0.0.1:6379/12").returncode == 0


def test_it_refuses_a_gateway_timeout_the_tasks_limits_cannot_hold() -> None:
    result = manage("check", SMS_GATEWAY_TIMEOUT="600")
    assert result.returncode != 0
    assert "SMS_GATEWAY_TIMEOUT=600 must be between 1 and 60 seconds" in result.stderr
