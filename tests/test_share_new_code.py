"""A share's access code replaced by the patient: shown once, the old one refused, the lock lifted, audited."""

import datetime as dt
import re
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from imaging.models import Hospital
from portal.audit.models import AuditAction, AuditEvent
from portal.sharing.models import ShareLink
from tests.support.exams import Exam, alices_exam_beside_bobs
from tests.support.people import ALICE_PHONE, BOB_PHONE, sign_in_patient


@pytest.fixture
def exam(hospital: Hospital, other_hospital: Hospital) -> Exam:
    return alices_exam_beside_bobs(hospital, other_hospital, "new-code")


@pytest.fixture
def alice(exam: Exam) -> Client:
    client = Client()
    sign_in_patient(client, ALICE_PHONE)
    return client


@pytest.fixture
def made(alice: Client, exam: Exam) -> tuple[str, str, ShareLink]:
    """A share with a code, made through the page: its address, its code, the share."""
    data = {"expiry": "7d", "with_code": "on", "notify_on_open": ""}
    response = alice.post(f"/my/studies/{exam.study.pk}/shares/", data)
    page = alice.get(response["Location"]).content.decode()
    url = re.search(r'id="share-url" type="text" readonly value="http://testserver([^"]+)"', page)
    code = re.search(r'id="share-access-code">(\d{6})<', page)
    assert url
    assert code
    return url.group(1), code.group(1), ShareLink.objects.latest("pk")


def new_code(alice: Client, share: ShareLink) -> str:
    response = alice.post(f"/my/shares/{share.pk}/code")
    assert response["Location"] == f"/my/shares/{share.pk}/"
    code = re.search(r'id="share-new-code">(\d{6})<', alice.get(response["Location"]).content.decode())
    assert code, "no new code on the share's page"
    return code.group(1)


def test_it_shows_the_new_code_once(alice: Client, made: tuple[str, str, ShareLink]) -> None:
    _, _, share = made
    new_code(alice, share)
    again = alice.get(f"/my/shares/{share.pk}/")
    assert 'id="share-new-code"' not in again.content.decode()
    assert "no-store" in again["Cache-Control"]


def test_it_refuses_the_old_code_and_accepts_the_new_one(alice: Client, made: tuple[str, str, ShareLink]) -> None:
    path, old, share = made
    new = new_code(alice, share)
    assert Client().post(path, {"code": old}).status_code == 403
    assert Client().post(path, {"code": new}).status_code == 302


def test_it_lifts_the_lock_of_the_old_code(alice: Client, made: tuple[str, str, ShareLink]) -> None:
    path, old, share = made
    wrong = f"{(int(old) + 1) % 1000000:06d}"
    for _ in range(5):
        Client().post(path, {"code": wrong})
    share.refresh_from_db()
    assert share.locked_until is not None
    new = new_code(alice, share)
    share.refresh_from_db()
    assert (share.wrong_codes, share.locked_until, share.locks) == (0, None, 0)
    assert Client().post(path, {"code": new}).status_code == 302


def test_it_audits_the_new_code(alice: Client, made: tuple[str, str, ShareLink], exam: Exam) -> None:
    _, _, share = made
    new = new_code(alice, share)
    event = AuditEvent.objects.get(action=AuditAction.SHARE_NEW_CODE)
    assert (event.study_id, event.detail, event.user.phone) == (exam.study.pk, {"share": share.pk}, ALICE_PHONE)
    assert new not in str(event.detail)


def test_it_rejects_get(alice: Client, made: tuple[str, str, ShareLink]) -> None:
    _, _, share = made
    assert alice.get(f"/my/shares/{share.pk}/code").status_code == 405


def test_it_needs_the_csrf_token(alice: Client, made: tuple[str, str, ShareLink]) -> None:
    _, _, share = made
    client = Client(enforce_csrf_checks=True)
    client.cookies = alice.cookies  # Alice's session, without the form's token
    assert client.post(f"/my/shares/{share.pk}/code").status_code == 403
    assert ShareLink.objects.get(pk=share.pk).code_hash == share.code_hash


def test_it_leaves_another_patients_share_alone(made: tuple[str, str, ShareLink]) -> None:
    _, _, share = made
    bob = Client()
    sign_in_patient(bob, BOB_PHONE)
    assert bob.post(f"/my/shares/{share.pk}/code").status_code == 404
    assert ShareLink.objects.get(pk=share.pk).code_hash == share.code_hash
    assert not AuditEvent.objects.filter(action=AuditAction.SHARE_NEW_CODE).exists()


@pytest.mark.parametrize(
    "change",
    [
        {"revoked_at": timezone.now()},
        {"expires_at": timezone.now() - dt.timedelta(seconds=1)},
        {"code_hash": "", "code_salt": ""},
    ],
    ids=["ended", "expired", "without-a-code"],
)
def test_it_gives_no_code_to_a_share_that_ended_or_has_none(
    alice: Client, made: tuple[str, str, ShareLink], change: dict[str, Any]
) -> None:
    _, _, share = made
    ShareLink.objects.filter(pk=share.pk).update(**change)
    before = ShareLink.objects.get(pk=share.pk).code_hash
    assert alice.post(f"/my/shares/{share.pk}/code").status_code == 302
    assert ShareLink.objects.get(pk=share.pk).code_hash == before
    assert 'id="share-new-code"' not in alice.get(f"/my/shares/{share.pk}/").content.decode()
    assert not AuditEvent.objects.filter(action=AuditAction.SHARE_NEW_CODE).exists()
