"""Region-wide reading takes the regional-admin role and a verified second factor, on staff pages and DICOMweb alike.

The review signed a superuser in with an SMS code (the account had a phone) and
read every study of the region over DICOMweb. Superuser status says what the
admin site may change; it is not a role that reads patients' exams.
"""

from collections.abc import Callable

import pytest
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import StaffRole, User
from imaging.models import Hospital
from tests.support.dicom import ALICE, BOB
from tests.support.exams import Exam, make_exam
from tests.support.people import STAFF_PASSWORD, Staff, link, make_staff, sign_in_patient, sign_in_staff

ROOT_PHONE = "+8613800000077"


@pytest.fixture
def exams(hospital: Hospital, other_hospital: Hospital) -> dict[str, Exam]:
    return {"mine": make_exam(hospital, ALICE, "alice-r"), "theirs": make_exam(other_hospital, BOB, "bob-r")}


def superuser_by_sms(client: Client, hospital: Hospital) -> None:
    """A superuser whose account has a phone linked to a record, signed in the patients' way."""
    User.objects.create_superuser("root", password=STAFF_PASSWORD, phone=ROOT_PHONE)
    link(ROOT_PHONE, hospital, ALICE.patient_id)
    sign_in_patient(client, ROOT_PHONE)


def superuser_with_totp(client: Client, hospital: Hospital) -> None:
    """A superuser with a verified TOTP session but no staff membership."""
    user = User.objects.create_superuser("root", password=STAFF_PASSWORD)
    device = TOTPDevice.objects.create(user=user, name="default", confirmed=True)
    sign_in_staff(client, Staff("root", device))


def regional_admin_without_totp(client: Client, hospital: Hospital) -> None:
    make_staff("bureau", StaffRole.REGIONAL_ADMIN, None)
    client.force_login(User.objects.get(username="bureau"))


def clerk(client: Client, hospital: Hospital) -> None:
    sign_in_staff(client, make_staff("clerk", StaffRole.CLERK, hospital))


def regional_admin(client: Client, hospital: Hospital) -> None:
    sign_in_staff(client, make_staff("bureau", StaffRole.REGIONAL_ADMIN, None))


# Who signs in, whether the region's DICOMweb answers them, whether the other hospital's exam opens on staff pages.
REQUESTERS: dict[str, tuple[Callable[[Client, Hospital], None], bool, bool]] = {
    "superuser signed in by SMS": (superuser_by_sms, False, False),
    "superuser with a verified TOTP, no role": (superuser_with_totp, False, False),
    "regional admin without a verified TOTP": (regional_admin_without_totp, False, False),
    "clerk of one hospital": (clerk, False, False),
    "regional admin with a verified TOTP": (regional_admin, True, True),
}


@pytest.mark.parametrize("who", list(REQUESTERS))
def test_it_lets_only_a_verified_regional_admin_read_the_whole_region(
    exams: dict[str, Exam], hospital: Hospital, who: str
) -> None:
    sign_in, reads_region, sees_other_hospital = REQUESTERS[who]
    client = Client()
    sign_in(client, hospital)
    dicomweb = client.get("/dicomweb/studies")
    assert (dicomweb.status_code == 200) is reads_region, f"{who}: DICOMweb answered {dicomweb.status_code}"
    if not reads_region:
        assert dicomweb.status_code == 401
    other = client.get(f"/staff/studies/{exams['theirs'].study.pk}/")
    assert (other.status_code == 200) is sees_other_hospital, f"{who}: staff page answered {other.status_code}"
