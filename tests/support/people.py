"""The named people of the access tests: patients, staff of two hospitals, a regional admin."""

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.links import link_phone
from accounts.models import LinkSource, StaffRole
from accounts.sms import outbox
from accounts.staff import add_staff
from imaging.ingest import ingest_instance
from imaging.models import Hospital, PatientRecord, Study
from imaging.synthetic import PatientSpec
from tests.support.dicom import ct_bytes, study_spec

ALICE_PHONE = "+8613800000001"
BOB_PHONE = "+8613800000002"
ZHANG_PHONE = "+8613800000008"
UNKNOWN_PHONE = "+8613999999999"
STAFF_PASSWORD = "staff-password-2026"


def study_for(hospital: Hospital, patient: PatientSpec, key: str, date: dt.date = dt.date(2026, 1, 5)) -> Study:
    spec = study_spec(key, patient=patient, date=date)
    ingest_instance(ct_bytes(study=spec, number=1, size=16), hospital)
    return Study.objects.get(study_uid=spec.study_uid)


def link(phone: str, hospital: Hospital, patient_id: str) -> None:
    record = PatientRecord.objects.get(hospital=hospital, patient_id=patient_id)
    link_phone(phone, record, LinkSource.COMMAND)


def last_code(to: str) -> str:
    messages = [m for m in outbox if m.to == to]
    assert messages, f"no SMS to {to}"
    match = re.search(r"(?<!\d)(\d{6})(?!\d)", messages[-1].body)
    assert match
    return match.group(1)


ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36"
)


def sign_in_patient(client: Client, phone: str, *, remember: bool = False) -> Any:
    """The number, then the code from the SMS; `remember` ticks "Remember this phone" (on Chrome on Android)."""
    assert client.post("/sign-in/", {"phone": phone}).status_code == 302
    data = {"code": last_code(phone), **({"remember": "on"} if remember else {})}
    response = client.post("/sign-in/code/", data, headers={"user-agent": ANDROID_CHROME})
    assert response.status_code == 302, response.content.decode()[:500]
    return response


@dataclass
class Staff:
    username: str
    device: TOTPDevice

    def code(self) -> str:
        totp = TOTP(self.device.bin_key, self.device.step, self.device.t0, self.device.digits, self.device.drift)
        totp.time = timezone.now().timestamp()
        return f"{totp.token():0{self.device.digits}d}"


def make_staff(username: str, role: StaffRole, hospital: Hospital | None) -> Staff:
    return Staff(username, add_staff(username, STAFF_PASSWORD, role, hospital))


def sign_in_staff(client: Client, staff: Staff) -> None:
    response = client.post(
        "/staff/sign-in/", {"username": staff.username, "password": STAFF_PASSWORD, "otp_token": staff.code()}
    )
    assert response.status_code == 302, response.content.decode()[:800]


def sign_in_patient_in_browser(page: Any, base: str, phone: str) -> None:
    """The sign-in pages in a browser, the code read from the locmem outbox; ends on My exams."""
    page.goto(f"{base}/sign-in/")
    page.fill("input[name=phone]", phone.removeprefix("+86"))
    page.click("button.primary")
    page.wait_for_url("**/sign-in/code/")
    page.fill("input[name=code]", last_code(phone))
    page.click("form[action='/sign-in/code/'] button.primary")
    page.wait_for_url("**/my/")
