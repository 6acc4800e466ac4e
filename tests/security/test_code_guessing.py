"""Guesses at a code sent together are counted one after another: never more than
WRONG_ENTRIES_PER_CODE of them are compared with the code, for a sign-in code or a family
member's consent code (the attack: forty requests at once, each with another guess)."""

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections

import accounts.models
from accounts import family
from accounts.models import WRONG_ENTRIES_PER_CODE, FamilyKind, FamilyLink, SMSDevice, User

GUESSES = 40

pytestmark = pytest.mark.usefixtures("require_postgres")


def all_at_once(guess: Callable[[str], bool]) -> list[bool]:
    """GUESSES wrong codes, each from its own thread and database connection, released together."""
    start = threading.Barrier(GUESSES)
    answers: list[bool] = []

    def one(number: int) -> None:
        try:
            start.wait()
            answers.append(guess(f"{number:06d}"))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one, args=(n,)) for n in range(GUESSES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


def counting(monkeypatch: pytest.MonkeyPatch, module: Any) -> list[str]:
    """Every code hashed to be compared with the one in force."""
    compared: list[str] = []
    real = module.code_hash

    def counted(code: str) -> str:
        compared.append(code)
        return str(real(code))

    monkeypatch.setattr(module, "code_hash", counted)
    return compared


def test_it_compares_at_most_five_parallel_guesses_with_a_consent_code(
    transactional_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    viewer = User.objects.create(username="viewer", phone="+8613800000001")
    link = FamilyLink.objects.create(viewer=viewer, kind=FamilyKind.ADULT, phone="+8613800000002", label="Dad")
    code = "999999"
    FamilyLink.objects.filter(pk=link.pk).update(
        code_hash=family.code_hash(code), code_valid_until=link.created_at + family.CONSENT_CODE_LIFETIME
    )
    FamilyLink.objects.filter(pk=link.pk).update(code_attempts_left=WRONG_ENTRIES_PER_CODE)
    compared = counting(monkeypatch, family)
    answers = all_at_once(lambda guess: family.consent_with_code(link, guess))
    assert len(answers) == GUESSES
    assert not any(answers)
    assert len(compared) == WRONG_ENTRIES_PER_CODE
    assert not family.consent_with_code(link, code)  # its tries are used up


def test_it_compares_at_most_five_parallel_guesses_with_a_sign_in_code(
    transactional_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = User.objects.create(username="patient", phone="+8613800000001")
    device = SMSDevice.objects.create(user=user, name="SMS", confirmed=True)
    code = device.new_code()
    compared = counting(monkeypatch, accounts.models)
    answers = all_at_once(lambda guess: device.consume(guess) if guess != code else False)
    assert not any(answers)
    assert len(compared) <= WRONG_ENTRIES_PER_CODE
    assert not device.consume(code)
