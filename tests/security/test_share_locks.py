"""Guessing a share's access code: each lock longer than the one before, then the share is off until the patient
turns it back on; the patient hears of locks at most once an hour per share."""

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from imaging.models import Hospital
from portal.audit.models import AuditAction, AuditEvent
from portal.sharing import shares
from portal.sharing.models import ShareLink
from tests.support.dicom import ALICE
from tests.support.exams import Exam, make_exam
from tests.support.people import ALICE_PHONE, link, sign_in_patient


@pytest.fixture
def exam(hospital: Hospital) -> Exam:
    made = make_exam(hospital, ALICE, "alice-locks")
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    return made


@pytest.fixture
def patient(exam: Exam) -> Client:
    client = Client()
    sign_in_patient(client, ALICE_PHONE)
    return client


@pytest.fixture
def new_share(exam: Exam, patient: Client, sms_outbox: list[Any]) -> shares.NewShare:
    from accounts.models import User

    sms_outbox.clear()  # the sign-in code
    return shares.create_share(exam.study, User.objects.get(phone=ALICE_PHONE).pk, notify_on_open=False)


def guess_five_times(path: str) -> Any:
    clinician = Client()
    for _ in range(5):
        answer = clinician.post(path, {"code": "000000x"})
    return answer


def end_the_lock(share: ShareLink) -> None:
    ShareLink.objects.filter(pk=share.pk).update(locked_until=timezone.now() - dt.timedelta(seconds=1))


def lock_notices(outbox: list[Any]) -> list[str]:
    return [m.body for m in outbox if m.to == ALICE_PHONE]


def test_it_locks_for_15_minutes_then_an_hour_then_suspends(new_share: shares.NewShare) -> None:
    path = f"/s/{new_share.token}"
    lengths = []
    for _ in range(3):
        before = timezone.now()
        answer = guess_five_times(path)
        assert answer.status_code == 403
        new_share.share.refresh_from_db()
        assert new_share.share.locked_until is not None
        lengths.append(round((new_share.share.locked_until - before).total_seconds() / 60))
        end_the_lock(new_share.share)
    assert lengths == [15, 60, 24 * 60]
    assert new_share.share.suspended_at is not None
    # Suspended: the right code opens nothing, on the page or over DICOMweb, and the link looks like any dead one.
    assert Client().post(path, {"code": new_share.code}).status_code == 404
    assert shares.find_share(new_share.token) is None


def test_it_tells_the_lock_page_how_long_the_lock_lasts(new_share: shares.NewShare) -> None:
    path = f"/s/{new_share.token}"
    guess_five_times(path)
    end_the_lock(new_share.share)
    page = guess_five_times(path).content.decode()
    assert 'id="share-locked"' in page
    assert "60" in page


def test_it_texts_the_patient_of_locks_at_most_once_an_hour(new_share: shares.NewShare, sms_outbox: list[Any]) -> None:
    path = f"/s/{new_share.token}"
    guess_five_times(path)
    assert len(lock_notices(sms_outbox)) == 1
    end_the_lock(new_share.share)
    guess_five_times(path)  # the second lock, within the hour of the first notice
    assert len(lock_notices(sms_outbox)) == 1
    end_the_lock(new_share.share)
    ShareLink.objects.filter(pk=new_share.share.pk).update(lock_notice_at=timezone.now() - dt.timedelta(hours=1))
    guess_five_times(path)  # the third lock suspends, and an hour has passed
    notices = lock_notices(sms_outbox)
    assert len(notices) == 2
    assert "My shares" in notices[-1] or "我的分享" in notices[-1]


def test_it_lets_the_patient_turn_a_suspended_share_back_on(new_share: shares.NewShare, patient: Client) -> None:
    ShareLink.objects.filter(pk=new_share.share.pk).update(suspended_at=timezone.now(), locks=3, wrong_codes=5)
    listed = patient.get("/my/shares/").content.decode()
    assert f'action="/my/shares/{new_share.share.pk}/enable"' in listed
    assert patient.post(f"/my/shares/{new_share.share.pk}/enable").status_code == 302
    new_share.share.refresh_from_db()
    assert (new_share.share.suspended_at, new_share.share.locks, new_share.share.wrong_codes) == (None, 0, 0)
    assert AuditEvent.objects.filter(action=AuditAction.SHARE_ENABLE).count() == 1
    assert Client().post(f"/s/{new_share.token}", {"code": new_share.code}).status_code == 302


def test_it_does_not_let_another_patient_turn_a_share_back_on(
    new_share: shares.NewShare, other_hospital: Hospital
) -> None:
    from tests.support.dicom import BOB
    from tests.support.people import BOB_PHONE

    make_exam(other_hospital, BOB, "bob-locks")
    link(BOB_PHONE, other_hospital, BOB.patient_id)
    bob = Client()
    sign_in_patient(bob, BOB_PHONE)
    ShareLink.objects.filter(pk=new_share.share.pk).update(suspended_at=timezone.now())
    assert bob.post(f"/my/shares/{new_share.share.pk}/enable").status_code == 404
    new_share.share.refresh_from_db()
    assert new_share.share.suspended_at is not None
