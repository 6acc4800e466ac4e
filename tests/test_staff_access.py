"""Staff sign in with a password and TOTP; what they see is scoped to their hospitals."""

import pytest
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import StaffRole, User
from imaging.models import Hospital, Instance
from tests.support.dicom import ALICE, BOB
from tests.support.people import STAFF_PASSWORD, make_staff, sign_in_staff, study_for

pytestmark = pytest.mark.django_db


def test_it_signs_staff_in_with_password_and_totp(client: Client, hospital: Hospital) -> None:
    clerk = make_staff("clerk", StaffRole.CLERK, hospital)
    sign_in_staff(client, clerk)
    assert client.get("/staff/").status_code == 200


def test_it_refuses_a_wrong_totp_code(client: Client, hospital: Hospital) -> None:
    clerk = make_staff("clerk", StaffRole.CLERK, hospital)
    wrong = "000000" if clerk.code() != "000000" else "111111"
    response = client.post("/staff/sign-in/", {"username": "clerk", "password": STAFF_PASSWORD, "otp_token": wrong})
    assert response.status_code == 400
    assert client.get("/staff/").status_code == 302


def test_it_keeps_staff_without_a_confirmed_totp_device_out(client: Client, hospital: Hospital) -> None:
    clerk = make_staff("clerk", StaffRole.CLERK, hospital)
    TOTPDevice.objects.filter(user__username="clerk").update(confirmed=False)
    response = client.post(
        "/staff/sign-in/", {"username": "clerk", "password": STAFF_PASSWORD, "otp_token": clerk.code()}
    )
    assert response.status_code == 400
    # A password session alone (no verified device) reaches neither staff pages nor the admin.
    client.force_login(User.objects.get(username="clerk"))
    assert client.get("/staff/").status_code == 302
    admin = User.objects.create_superuser("root", password="a-long-password-1")
    client.force_login(admin)
    assert client.get("/admin/").status_code == 302
    assert client.get("/staff/").status_code == 302


def test_it_lets_a_verified_regional_admin_into_the_admin(client: Client, db: None) -> None:
    bureau = make_staff("bureau", StaffRole.REGIONAL_ADMIN, None)
    sign_in_staff(client, bureau)
    assert client.get("/admin/").status_code == 200


def test_it_scopes_a_clerk_to_their_hospital(client: Client, hospital: Hospital, other_hospital: Hospital) -> None:
    mine = study_for(hospital, ALICE, "mine")
    theirs = study_for(other_hospital, BOB, "theirs")
    sign_in_staff(client, make_staff("clerk", StaffRole.CLERK, hospital))
    my_image = Instance.objects.get(series__study=mine)
    their_image = Instance.objects.get(series__study=theirs)
    assert client.get(f"/staff/images/instances/{my_image.pk}/preview").status_code == 200
    assert client.get(f"/staff/images/instances/{their_image.pk}/preview").status_code == 404
    assert client.get(f"/staff/images/series/{their_image.series_id}/thumbnail").status_code == 404


def test_it_shows_a_regional_admin_every_hospital(client: Client, hospital: Hospital, other_hospital: Hospital) -> None:
    theirs = study_for(other_hospital, BOB, "theirs")
    sign_in_staff(client, make_staff("bureau", StaffRole.REGIONAL_ADMIN, None))
    image = Instance.objects.get(series__study=theirs)
    assert client.get(f"/staff/images/instances/{image.pk}/preview").status_code == 200


def test_it_does_not_let_a_patient_session_onto_staff_pages(client: Client, hospital: Hospital) -> None:
    patient = User.objects.create(username="+8613800000001", phone="+8613800000001")
    client.force_login(patient)
    assert client.get("/staff/").status_code == 302
