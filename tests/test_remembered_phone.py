"""A phone remembered at sign-in signs its patient in again when the session is gone (accounts.remembering)."""

from typing import Any

import pytest
from django.core import signing
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from accounts.models import RememberedDevice, User
from accounts.remembering import COOKIE_NAME, SALT
from imaging.models import Hospital
from portal.audit.models import AuditAction, AuditEvent
from portal.sharing.shares import create_share
from tests.support.clock import Clock
from tests.support.dicom import ALICE
from tests.support.exams import Exam, make_exam
from tests.support.people import ALICE_PHONE, link, sign_in_patient

pytestmark = pytest.mark.django_db

DAY = 24 * 3600


@pytest.fixture
def exam(hospital: Hospital) -> Exam:
    found = make_exam(hospital, ALICE, "alice-remembered", slices=1, report="")
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    return found


@pytest.fixture
def remembered(exam: Exam) -> str:
    """The remember cookie Alice's phone was given when she signed in with the box ticked."""
    response = sign_in_patient(Client(), ALICE_PHONE, remember=True)
    return str(response.cookies[COOKIE_NAME].value)


def phone_with(cookie: str) -> Client:
    """A browser whose session is gone: it holds only the remember cookie."""
    client = Client()
    client.cookies[COOKIE_NAME] = cookie
    return client


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def deleted(response: Any) -> bool:
    return COOKIE_NAME in response.cookies and response.cookies[COOKIE_NAME]["max-age"] == 0


def test_it_sets_a_signed_http_only_lax_cookie_for_30_days(exam: Exam) -> None:
    response = sign_in_patient(Client(), ALICE_PHONE, remember=True)
    cookie = response.cookies[COOKIE_NAME]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert cookie["secure"]  # DEBUG is off under test
    assert 30 * DAY - 60 <= cookie["max-age"] <= 30 * DAY
    device = RememberedDevice.objects.get()
    assert device.user.phone == ALICE_PHONE
    with translation.override("en"):
        assert device.label == "Chrome on Android"
    assert device.secret_hash not in cookie.value
    secret = signing.loads(cookie.value, salt=SALT)[1]
    assert secret not in (device.secret_hash, device.previous_hash)


def test_it_remembers_nothing_when_the_box_is_left_unticked(exam: Exam) -> None:
    response = sign_in_patient(Client(), ALICE_PHONE)
    assert COOKIE_NAME not in response.cookies
    assert not RememberedDevice.objects.exists()


def test_it_signs_the_patient_in_again_once_the_session_is_gone(remembered: str, exam: Exam) -> None:
    phone = phone_with(remembered)
    response = phone.get("/my/")
    assert response.status_code == 200
    assert f'data-study="{exam.study.pk}"' in response.content.decode()
    assert signed_in(phone)
    assert User.objects.get(pk=phone.session["_auth_user_id"]).phone == ALICE_PHONE


def test_it_rotates_the_secret_on_every_restore(remembered: str) -> None:
    phone = phone_with(remembered)
    response = phone.get("/my/")
    rotated = response.cookies[COOKIE_NAME]
    assert rotated.value != remembered
    assert 30 * DAY - 60 <= rotated["max-age"] <= 30 * DAY
    device = RememberedDevice.objects.get()
    assert device.previous_hash
    assert device.rotated_at is not None
    assert device.last_used_at == device.rotated_at


def test_it_keeps_the_30_days_from_the_sign_in_not_from_the_last_use(remembered: str, clock: Clock) -> None:
    clock.advance(days=20)
    response = phone_with(remembered).get("/my/")
    assert 10 * DAY - 60 <= response.cookies[COOKIE_NAME]["max-age"] <= 10 * DAY
    clock.advance(days=10, seconds=1)
    late = phone_with(response.cookies[COOKIE_NAME].value)
    assert late.get("/my/")["Location"] == "/sign-in/"
    assert not signed_in(late)


def test_it_lets_requests_sent_together_with_the_old_secret_in_for_a_moment(remembered: str, clock: Clock) -> None:
    page, image = phone_with(remembered), phone_with(remembered)
    assert page.get("/my/").status_code == 200
    clock.advance(seconds=30)
    answer = image.get("/my/")
    assert answer.status_code == 200
    assert signed_in(image)
    assert COOKIE_NAME not in answer.cookies  # the page's answer brings the new cookie


def test_it_revokes_the_device_when_an_old_secret_comes_back_after_the_grace(remembered: str, clock: Clock) -> None:
    first = phone_with(remembered)
    rotated = first.get("/my/").cookies[COOKIE_NAME].value
    clock.advance(seconds=61)
    copy = phone_with(remembered)
    response = copy.get("/my/")
    assert response["Location"] == "/sign-in/"
    assert deleted(response)
    assert not signed_in(copy)
    device = RememberedDevice.objects.get()
    assert device.revoked_at is not None
    event = AuditEvent.objects.get(action=AuditAction.REMEMBERED_REVOKED)
    assert event.detail == {"device": device.pk, "patient": device.user_id}
    thief_or_owner = phone_with(rotated)
    assert thief_or_owner.get("/my/")["Location"] == "/sign-in/"
    assert not signed_in(thief_or_owner)


@pytest.mark.parametrize(
    "cookie",
    [
        "garbage",
        "",
        "W1swLCAiIl0:forged:signature",
        signing.dumps([1, "secret"], salt="another.salt"),
        signing.dumps({"device": 1}, salt=SALT),
        signing.dumps([1, 2], salt=SALT),
        signing.dumps(["1", "secret"], salt=SALT),
        signing.dumps([1, "secret", "extra"], salt=SALT),
        signing.dumps("[1, 'x']", salt=SALT),
    ],
)
def test_it_refuses_a_forged_or_odd_cookie_and_deletes_it(remembered: str, cookie: str) -> None:
    phone = phone_with(cookie)
    response = phone.get("/my/")
    assert response["Location"] == "/sign-in/"
    assert not signed_in(phone)
    assert deleted(response)
    assert RememberedDevice.objects.get().revoked_at is None  # nothing else changes


def test_it_refuses_a_tampered_cookie(remembered: str) -> None:
    value, signature = remembered.split(":", 1)
    tampered = value[:-1] + ("A" if value[-1] != "A" else "B") + ":" + signature
    response = phone_with(tampered).get("/my/")
    assert response["Location"] == "/sign-in/"
    assert deleted(response)
    assert RememberedDevice.objects.get().revoked_at is None


def test_it_refuses_a_device_past_its_30_days(remembered: str, clock: Clock) -> None:
    clock.advance(days=30, seconds=1)
    phone = phone_with(remembered)
    response = phone.get("/my/")
    assert response["Location"] == "/sign-in/"
    assert deleted(response)
    assert not signed_in(phone)


def test_it_refuses_a_forgotten_device(remembered: str) -> None:
    RememberedDevice.objects.all().revoke()
    phone = phone_with(remembered)
    response = phone.get("/my/")
    assert response["Location"] == "/sign-in/"
    assert deleted(response)


def test_it_never_restores_staff(db: None) -> None:
    clerk = User.objects.create(username="clerk")  # staff sign in with a password and TOTP, no phone
    admin = User.objects.create(username="admin", phone="+8613800000099", is_staff=True)
    for user in (clerk, admin):
        device, secret = RememberedDevice.remember(user, "Chrome", "Windows")
        phone = phone_with(signing.dumps([device.pk, secret], salt=SALT))
        response = phone.get("/my/")
        assert response["Location"] == "/sign-in/"
        assert not signed_in(phone)
        assert deleted(response)


def test_it_audits_the_restored_sign_in(remembered: str) -> None:
    phone_with(remembered).get("/my/")
    event = AuditEvent.objects.filter(action=AuditAction.SIGN_IN).latest("pk")
    assert event.detail == {"via": "remembered device"}
    assert event.user_id == User.objects.get(phone=ALICE_PHONE).pk


def test_it_restores_on_a_page_or_image_not_on_a_post(remembered: str, exam: Exam) -> None:
    # A sign-in rotates the CSRF token: a form posted with the old one would fail its check.
    phone = phone_with(remembered)
    response = phone.post(f"/my/studies/{exam.study.pk}/downloads/", {"kind": "jpeg"})
    assert response["Location"] == "/sign-in/"
    assert not signed_in(phone)
    assert RememberedDevice.objects.get().rotated_at is None
    assert phone.get(f"/my/images/{exam.instance.pk}/thumbnail").status_code == 200
    assert signed_in(phone)


def test_it_leaves_a_share_session_on_the_phone_alone(remembered: str, exam: Exam) -> None:
    new = create_share(exam.study, User.objects.get(phone=ALICE_PHONE).pk, with_code=False)
    phone = phone_with(remembered)
    assert phone.post(f"/s/{new.token}", {"code": ""}).status_code == 302
    assert phone.get(f"/s/x/studies/{exam.study.pk}/").status_code == 200
    assert not signed_in(phone)
    assert phone.session["share_id"] == new.share.pk
    assert RememberedDevice.objects.get().rotated_at is None


def test_it_costs_no_query_when_someone_is_signed_in(remembered: str, exam: Exam) -> None:
    phone = phone_with(remembered)
    phone.get("/my/")  # restored
    image = f"/my/images/{exam.instance.pk}/thumbnail"
    phone.get(image)
    with CaptureQueriesContext(connection) as with_cookie:
        assert phone.get(image).status_code in (200, 304)
    del phone.cookies[COOKIE_NAME]
    with CaptureQueriesContext(connection) as without_cookie:
        assert phone.get(image).status_code in (200, 304)
    assert len(with_cookie) == len(without_cookie)


def test_it_costs_no_query_without_the_cookie(db: None) -> None:
    with CaptureQueriesContext(connection) as visitor:
        Client().get("/sign-in/")
    assert not any("accounts_remembereddevice" in query["sql"] for query in visitor.captured_queries)


def test_it_ends_a_restored_session_once_its_phone_is_forgotten(
    remembered: str, exam: Exam, monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    lost = phone_with(remembered)
    assert lost.get("/my/").status_code == 200  # restored
    clock.advance(minutes=2)  # the lost phone's code was the number's last: the next one waits a minute
    new_phone = Client()
    sign_in_patient(new_phone, ALICE_PHONE)
    new_phone.post("/my/devices/forget-all")
    # Looked at once a minute: within it, the restored session goes on without a query more.
    with CaptureQueriesContext(connection) as queries:
        assert lost.get(f"/my/studies/{exam.study.pk}/").status_code == 200
    assert not [q for q in queries.captured_queries if "remembereddevice" in q["sql"]]
    monkeypatch.setattr("accounts.remembering.CHECK_EVERY", 0)
    response = lost.get(f"/my/studies/{exam.study.pk}/")
    assert response.status_code == 302
    assert response["Location"] == "/sign-in/"
    assert deleted(response)
    assert not signed_in(lost)
    assert new_phone.get("/my/").status_code == 200  # the session that forgot it is not touched


def test_it_keeps_a_restored_session_whose_phone_is_still_remembered(
    remembered: str, exam: Exam, monkeypatch: pytest.MonkeyPatch
) -> None:
    phone = phone_with(remembered)
    assert phone.get("/my/").status_code == 200
    monkeypatch.setattr("accounts.remembering.CHECK_EVERY", 0)
    assert phone.get(f"/my/studies/{exam.study.pk}/").status_code == 200
    assert signed_in(phone)


def test_it_ends_the_sign_in_session_of_a_phone_forgotten_from_another(
    exam: Exam, monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    lost = Client()
    sign_in_patient(lost, ALICE_PHONE, remember=True)  # the session of the sign-in itself, never restored
    clock.advance(minutes=2)
    new_phone = Client()
    sign_in_patient(new_phone, ALICE_PHONE)
    new_phone.post("/my/devices/forget-all")
    monkeypatch.setattr("accounts.remembering.CHECK_EVERY", 0)
    response = lost.get(f"/my/studies/{exam.study.pk}/")
    assert response.status_code == 302
    assert response["Location"] == "/sign-in/"
    assert not signed_in(lost)
