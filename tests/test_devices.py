"""/my/devices/: the patient's remembered phones, each forgotten with a tap, or all at once;
sign-out forgets this one."""

from typing import Any

import pytest
from django.test import Client
from django.utils import translation

from accounts.models import RememberedDevice, StaffRole, User
from accounts.remembering import COOKIE_NAME
from imaging.models import Hospital
from portal.audit.models import AuditAction, AuditEvent
from tests.support.dicom import ALICE, BOB
from tests.support.people import ALICE_PHONE, BOB_PHONE, link, make_staff, sign_in_patient, sign_in_staff, study_for

pytestmark = pytest.mark.django_db

URL = "/my/devices/"


@pytest.fixture
def people(hospital: Hospital, other_hospital: Hospital) -> None:
    study_for(hospital, ALICE, "alice-devices")
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    study_for(other_hospital, BOB, "bob-devices")
    link(BOB_PHONE, other_hospital, BOB.patient_id)


@pytest.fixture
def alice(people: None) -> Client:
    """Alice on her remembered phone."""
    client = Client()
    sign_in_patient(client, ALICE_PHONE, remember=True)
    return client


def device_of(phone: str) -> RememberedDevice:
    return RememberedDevice.objects.filter(user__phone=phone).latest("pk")


def another_device(phone: str, browser: str = "WeChat", system: str = "iPhone") -> RememberedDevice:
    device, _ = RememberedDevice.remember(User.objects.get(phone=phone), browser, system)
    return device


def page(client: Client) -> str:
    with translation.override("en"):
        client.post("/i18n/setlang/", {"language": "en"})
        return str(client.get(URL).content.decode())


def forgotten(response: Any) -> bool:
    return COOKIE_NAME in response.cookies and response.cookies[COOKIE_NAME]["max-age"] == 0


def row(html: str, device: RememberedDevice) -> str:
    start = html.index(f'data-device="{device.pk}"')
    return html[start : html.index("</li>", start)]


def test_it_lists_the_live_devices_and_marks_this_phone(alice: Client) -> None:
    here = device_of(ALICE_PHONE)
    other = another_device(ALICE_PHONE)
    revoked = another_device(ALICE_PHONE, "Firefox", "Windows")
    RememberedDevice.objects.filter(pk=revoked.pk).revoke()
    html = page(alice)
    assert "Chrome on Android" in row(html, here)
    assert "this phone" in row(html, here)
    assert "WeChat on iPhone" in row(html, other)
    assert "this phone" not in row(html, other)
    assert f'data-device="{revoked.pk}"' not in html
    assert f'action="/my/devices/{here.pk}/forget"' in row(html, here)


def test_it_leaves_out_devices_past_their_30_days(alice: Client) -> None:
    old = another_device(ALICE_PHONE)
    RememberedDevice.objects.filter(pk=old.pk).update(expires_at=old.created_at)
    assert f'data-device="{old.pk}"' not in page(alice)


def test_it_shows_none_of_another_patients_devices(alice: Client) -> None:
    bob = Client()
    sign_in_patient(bob, BOB_PHONE, remember=True)
    assert f'data-device="{device_of(BOB_PHONE).pk}"' not in page(alice)


def test_it_links_the_page_from_my_exams(alice: Client) -> None:
    assert f'href="{URL}"' in alice.get("/my/").content.decode()


def test_it_forgets_this_phone_and_deletes_its_cookie(alice: Client) -> None:
    here = device_of(ALICE_PHONE)
    response = alice.post(f"/my/devices/{here.pk}/forget")
    assert response["Location"] == URL
    assert forgotten(response)
    here.refresh_from_db()
    assert here.revoked_at is not None


def test_it_forgets_another_phone_and_keeps_this_ones_cookie(alice: Client) -> None:
    here = device_of(ALICE_PHONE)
    other = another_device(ALICE_PHONE)
    response = alice.post(f"/my/devices/{other.pk}/forget")
    assert response["Location"] == URL
    assert COOKIE_NAME not in response.cookies
    other.refresh_from_db()
    assert other.revoked_at is not None
    assert list(RememberedDevice.objects.live()) == [here]


def test_it_answers_404_for_another_patients_device(alice: Client) -> None:
    bob = Client()
    sign_in_patient(bob, BOB_PHONE, remember=True)
    theirs = device_of(BOB_PHONE)
    assert alice.post(f"/my/devices/{theirs.pk}/forget").status_code == 404
    assert alice.post("/my/devices/999999/forget").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_it_forgets_all_the_patients_devices_and_no_one_elses(alice: Client) -> None:
    another_device(ALICE_PHONE)
    bob = Client()
    sign_in_patient(bob, BOB_PHONE, remember=True)
    response = alice.post("/my/devices/forget-all")
    assert response["Location"] == URL
    assert forgotten(response)
    assert not RememberedDevice.objects.live().filter(user__phone=ALICE_PHONE).exists()
    assert RememberedDevice.objects.live().filter(user__phone=BOB_PHONE).count() == 1
    assert 'id="no-devices"' in page(alice)


def test_it_forgets_only_on_a_post(alice: Client) -> None:
    here = device_of(ALICE_PHONE)
    assert alice.get(f"/my/devices/{here.pk}/forget").status_code == 405
    assert alice.get("/my/devices/forget-all").status_code == 405
    assert RememberedDevice.objects.live().count() == 1


def test_it_forgets_this_phone_on_sign_out(alice: Client) -> None:
    here = device_of(ALICE_PHONE)
    other = another_device(ALICE_PHONE)
    response = alice.post("/sign-out/")
    assert forgotten(response)
    here.refresh_from_db()
    other.refresh_from_db()
    assert here.revoked_at is not None
    assert other.revoked_at is None


def test_it_sends_visitors_and_staff_to_sign_in(people: None, hospital: Hospital) -> None:
    staff = Client()
    sign_in_staff(staff, make_staff("clerk", StaffRole.CLERK, hospital))
    for client in (Client(), staff):
        assert client.get(URL)["Location"] == "/sign-in/"
        assert client.post("/my/devices/forget-all")["Location"] == "/sign-in/"


def test_it_keeps_the_page_out_of_caches(alice: Client) -> None:
    assert "no-store" in alice.get(URL)["Cache-Control"]


def test_it_audits_remembering_and_forgetting_a_phone(alice: Client) -> None:
    sign_in = AuditEvent.objects.filter(action=AuditAction.SIGN_IN).latest("pk")
    assert sign_in.detail == {"remember": True}
    here = device_of(ALICE_PHONE)
    other = another_device(ALICE_PHONE)
    alice.post(f"/my/devices/{other.pk}/forget")
    alice.post("/my/devices/forget-all")
    forgets = AuditEvent.objects.filter(action=AuditAction.DEVICE_FORGET).order_by("pk")
    assert [e.detail for e in forgets] == [{"device": other.pk}, {"device": "all"}]
    assert all(e.user is not None and e.user.phone == ALICE_PHONE for e in forgets)
    assert here.pk != other.pk
