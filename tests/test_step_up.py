"""Step-up (accounts.stepup): sharing, a new access code and the original files ask for an SMS code
under 15 minutes old."""

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from accounts.models import User
from accounts.remembering import COOKIE_NAME
from imaging.models import Hospital
from portal.exams.models import Download
from portal.sharing.models import ShareLink
from portal.sharing.shares import create_share
from tests.support.clock import Clock
from tests.support.dicom import ALICE
from tests.support.exams import Exam, make_exam
from tests.support.people import ALICE_PHONE, last_code, link, sign_in_patient

pytestmark = pytest.mark.django_db

SHARE = {"expiry": "7d", "with_code": "on", "notify_on_open": ""}


@pytest.fixture
def exam(hospital: Hospital) -> Exam:
    found = make_exam(hospital, ALICE, "alice-step-up", slices=1, report="")
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    return found


@pytest.fixture
def fresh(exam: Exam) -> Client:
    """Alice just signed in with an SMS code, ticking "Remember this phone"."""
    client = Client()
    sign_in_patient(client, ALICE_PHONE, remember=True)
    return client


@pytest.fixture
def restored(fresh: Client, clock: Clock) -> Client:
    """Alice on her phone later: the session is gone, the remembered phone signs her in again."""
    clock.advance(minutes=1, seconds=1)  # past the sign-in's resend wait, for the confirm page's code
    phone = Client()
    phone.cookies[COOKIE_NAME] = fresh.cookies[COOKIE_NAME].value
    assert phone.get("/my/").status_code == 200
    return phone


def share_url(exam: Exam) -> str:
    return f"/my/studies/{exam.study.pk}/shares/"


def download_url(exam: Exam) -> str:
    return f"/my/studies/{exam.study.pk}/downloads/"


def asked(response: Any, back: str) -> bool:
    """Sent to the confirm page, which is to come back to `back`."""
    if response.status_code != 302 or not response["Location"].startswith("/confirm/?"):
        return False
    return parse_qs(urlsplit(response["Location"]).query)["next"] == [back]


def confirm(client: Client, code: str | None = None, back: str = "/my/") -> Any:
    """The confirm page: send the code, then enter it (the one from the SMS unless given)."""
    assert client.post("/confirm/", {"next": back}).status_code == 200
    return client.post("/confirm/", {"next": back, "code": code or last_code(ALICE_PHONE)})


def test_it_asks_a_restored_session_before_making_a_share(restored: Client, exam: Exam) -> None:
    study_page = f"/my/studies/{exam.study.pk}/"
    response = restored.post(share_url(exam), {**SHARE, "next": study_page})
    assert asked(response, study_page)
    assert not ShareLink.objects.exists()


def test_it_makes_the_share_after_the_right_code(restored: Client, exam: Exam, sms_outbox: list[Any]) -> None:
    study_page = f"/my/studies/{exam.study.pk}/"
    restored.post(share_url(exam), {**SHARE, "next": study_page})
    sent_before = len(sms_outbox)
    back = confirm(restored, back=study_page)
    assert back["Location"] == study_page
    assert [m.to for m in sms_outbox[sent_before:]] == [ALICE_PHONE]
    made = restored.post(share_url(exam), SHARE)
    assert made["Location"].startswith("/my/shares/")
    assert ShareLink.objects.count() == 1


def test_it_refuses_a_wrong_code_with_a_message(restored: Client, exam: Exam) -> None:
    restored.post("/i18n/setlang/", {"language": "en"})
    assert restored.post("/confirm/", {"next": "/my/"}).status_code == 200
    wrong = f"{(int(last_code(ALICE_PHONE)) + 1) % 1000000:06d}"
    response = restored.post("/confirm/", {"next": "/my/", "code": wrong})
    assert response.status_code == 400
    assert "That code is not right" in response.content.decode()
    assert asked(restored.post(share_url(exam), SHARE), "/my/")


def test_it_asks_before_replacing_an_access_code(restored: Client, exam: Exam) -> None:
    share = create_share(exam.study, int(restored.session["_auth_user_id"])).share
    share_page = f"/my/shares/{share.pk}/"
    before = share.code_hash
    response = restored.post(f"/my/shares/{share.pk}/code", {"next": share_page})
    assert asked(response, share_page)
    share.refresh_from_db()
    assert share.code_hash == before
    assert confirm(restored, back=share_page)["Location"] == share_page
    assert restored.post(f"/my/shares/{share.pk}/code")["Location"] == share_page
    share.refresh_from_db()
    assert share.code_hash != before


def test_it_asks_before_downloading_the_original_files(restored: Client, exam: Exam) -> None:
    response = restored.post(download_url(exam), {"kind": "dicom"})
    assert asked(response, "/my/")  # no page to come back to: the patient's exams
    assert not Download.objects.exists()
    confirm(restored)
    assert restored.post(download_url(exam), {"kind": "dicom"})["Location"].startswith("/my/downloads/")


def test_it_comes_back_to_the_page_the_form_was_posted_from(restored: Client, exam: Exam) -> None:
    study_page = f"http://testserver/my/studies/{exam.study.pk}/?tab=downloads"
    response = restored.post(download_url(exam), {"kind": "dicom"}, headers={"referer": study_page})
    assert asked(response, f"/my/studies/{exam.study.pk}/?tab=downloads")


@pytest.mark.parametrize(
    "target",
    ["https://elsewhere.example/my/", "//elsewhere.example/", "/\\elsewhere.example", "javascript:alert(1)", "my/"],
)
def test_it_never_sends_the_patient_to_another_site(restored: Client, exam: Exam, target: str) -> None:
    assert asked(restored.post(share_url(exam), {**SHARE, "next": target}), "/my/")
    response = restored.post(
        download_url(exam), {"kind": "dicom"}, headers={"referer": f"https://elsewhere.example{target}"}
    )
    assert asked(response, "/my/")
    assert 'value="/my/"' in restored.get("/confirm/", {"next": target}).content.decode()
    assert confirm(restored, back=target)["Location"] == "/my/"


def test_it_does_not_ask_for_pictures(restored: Client, exam: Exam) -> None:
    response = restored.post(download_url(exam), {"kind": "jpeg"})
    assert response["Location"].startswith("/my/downloads/")


def test_it_does_not_ask_a_share_session(fresh: Client, exam: Exam) -> None:
    new = create_share(exam.study, int(fresh.session["_auth_user_id"]), with_code=False, allow_download=True)
    doctor = Client()
    assert doctor.post(f"/s/{new.token}", {"code": ""}).status_code == 302
    response = doctor.post(f"/s/x/studies/{exam.study.pk}/downloads/", {"kind": "dicom"})
    assert response["Location"].startswith("/s/x/downloads/")


def test_it_does_not_ask_within_15_minutes_of_the_sign_in(clock: Clock, fresh: Client, exam: Exam) -> None:
    clock.advance(minutes=15)
    assert fresh.post(share_url(exam), SHARE)["Location"].startswith("/my/shares/")
    clock.advance(seconds=1)
    assert asked(fresh.post(share_url(exam), {**SHARE, "next": "/my/"}), "/my/")


def test_it_sends_the_code_to_the_patients_own_number_only(restored: Client, sms_outbox: list[Any]) -> None:
    before = len(sms_outbox)
    assert restored.post("/confirm/", {"next": "/my/", "phone": "+8613800000002"}).status_code == 200
    assert [m.to for m in sms_outbox[before:]] == [ALICE_PHONE]


def test_it_keeps_the_sign_ins_limits_on_codes(restored: Client) -> None:
    assert restored.post("/confirm/", {"next": "/my/"}).status_code == 200
    again = restored.post("/confirm/", {"next": "/my/"})
    assert again.status_code == 429


def test_it_sends_visitors_from_the_confirm_page_to_sign_in(db: None) -> None:
    assert Client().get("/confirm/")["Location"] == "/sign-in/"
    assert Client().post("/confirm/", {"code": "123456"})["Location"] == "/sign-in/"


def test_it_explains_why_it_asks(restored: Client) -> None:
    restored.post("/i18n/setlang/", {"language": "en"})
    page = restored.get("/confirm/", {"next": "/my/"}).content.decode()
    assert "For your safety, confirm it" in page
    assert "+86 138****0001" in page


def test_it_asks_a_restored_session_before_showing_a_share_link_again_or_turning_one_back_on(
    fresh: Client, restored: Client, exam: Exam
) -> None:
    alice = User.objects.get(phone=ALICE_PHONE)
    share = create_share(exam.study, alice.pk).share
    suspended = create_share(exam.study, alice.pk).share
    ShareLink.objects.filter(pk=suspended.pk).update(suspended_at=suspended.created_at)
    link_page = f"/my/shares/{share.pk}/link"
    assert asked(restored.get(link_page), link_page)
    detail = f"/my/shares/{suspended.pk}/"
    assert asked(restored.post(f"/my/shares/{suspended.pk}/enable", {"next": detail}), detail)
    assert ShareLink.objects.get(pk=suspended.pk).suspended_at is not None
    # A fresh sign-in is not asked.
    assert fresh.get(link_page).status_code == 200
