"""A child's guardian confirmed at a hospital's desk: found by the desk code, the child's records of
that hospital attached, the staff member's word on the documents, and the end of it."""

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts import family
from accounts.models import FamilyLink, FamilyStatus, StaffRole, User
from imaging.models import Hospital, PatientRecord
from imaging.synthetic import PatientSpec
from portal.audit.models import AuditAction, AuditEvent
from tests.support.clock import Clock
from tests.support.dicom import ALICE
from tests.support.exams import Exam, make_exam
from tests.support.people import ALICE_PHONE, link, make_staff, sign_in_patient, sign_in_staff

LILY_BORN = dt.date.today() - dt.timedelta(days=6 * 365)
LILY = PatientSpec("PID-LILY", "Wang^Lily", "F", LILY_BORN, "")
LILY_ELSEWHERE = PatientSpec("PID-LILY-2", "Wang^Lily", "F", LILY_BORN, "")
TWIN = PatientSpec("PID-TWIN", "Wang^Lin", "F", LILY_BORN, "")
GROWN = PatientSpec("PID-GROWN", "Wang^Da", "M", dt.date(1990, 1, 1), "")
CONFIRM = "/staff/guardians/confirm"


@pytest.fixture
def setting(hospital: Hospital, other_hospital: Hospital) -> dict[str, Any]:
    make_exam(hospital, ALICE, "alice", report="none")
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    exams = {
        "lily": make_exam(hospital, LILY, "lily", report="none"),
        "twin": make_exam(hospital, TWIN, "twin", report="none"),
        "grown": make_exam(hospital, GROWN, "grown", report="none"),
        "elsewhere": make_exam(other_hospital, LILY_ELSEWHERE, "lily2", report="none"),
    }
    guardian = Client()
    sign_in_patient(guardian, ALICE_PHONE)
    data = {"label": "Lily", "child_name": "Wang Lily", "birth_date": LILY_BORN.isoformat()}
    assert guardian.post("/my/family/add-child/", data).status_code == 302
    clerk = Client()
    sign_in_staff(clerk, make_staff("clerk", StaffRole.CLERK, hospital))
    return {"guardian": guardian, "clerk": clerk, "exams": exams, "link": FamilyLink.objects.get()}


def _record(exam: Exam) -> PatientRecord:
    return exam.study.patient


def _confirm(clerk: Client, link: FamilyLink, *exams: Exam, checked: bool = True) -> Any:
    data: dict[str, Any] = {"desk_code": link.desk_code, "records": [_record(e).pk for e in exams]}
    if checked:
        data["checked"] = "on"
    return clerk.post(CONFIRM, data)


def test_it_finds_the_request_by_its_desk_code_and_offers_the_childs_records(setting: dict[str, Any]) -> None:
    link, exams = setting["link"], setting["exams"]
    code = link.desk_code or ""
    page = setting["clerk"].get("/staff/guardians/", {"desk_code": f"{code[:4].lower()} {code[4:]}"}).content.decode()
    assert "138****0001" in page
    assert "Wang Lily" in page
    offered = f'value="{_record(exams["lily"]).pk}"'
    assert offered in page
    assert f'value="{_record(exams["twin"]).pk}"' in page  # born the same day: staff tell them apart
    assert f'value="{_record(exams["grown"]).pk}"' not in page
    assert f'value="{_record(exams["elsewhere"]).pk}"' not in page  # another hospital's


def test_it_attaches_the_childs_record_and_the_guardian_sees_the_exams(setting: dict[str, Any]) -> None:
    link, exams, guardian = setting["link"], setting["exams"], setting["guardian"]
    lily = exams["lily"].study
    assert guardian.get(reverse("patient:study", args=[lily.pk])).status_code == 404
    assert _confirm(setting["clerk"], link, exams["lily"]).status_code == 302
    link.refresh_from_db()
    assert link.status == FamilyStatus.ACTIVE
    assert link.confirmed_by == User.objects.get(username="clerk")
    assert list(link.records.all()) == [_record(exams["lily"])]
    assert guardian.get(reverse("patient:study", args=[lily.pk])).status_code == 200
    assert guardian.get(reverse("patient:study", args=[exams["twin"].study.pk])).status_code == 404
    event = AuditEvent.objects.get(action=AuditAction.GUARDIAN_CONFIRM)
    assert event.detail == {"family": link.pk, "records": [_record(exams["lily"]).pk]}


def test_it_asks_the_staff_member_to_have_checked_the_documents(setting: dict[str, Any]) -> None:
    response = _confirm(setting["clerk"], setting["link"], setting["exams"]["lily"], checked=False)
    assert response.status_code == 400
    assert not setting["link"].records.exists()


@pytest.mark.parametrize("whose", ["elsewhere", "grown"])
def test_it_refuses_another_hospitals_record_or_an_adults(setting: dict[str, Any], whose: str) -> None:
    response = _confirm(setting["clerk"], setting["link"], setting["exams"][whose])
    assert response.status_code == 400
    assert not setting["link"].records.exists()
    assert FamilyLink.objects.get().status == FamilyStatus.PENDING


def test_it_finds_no_request_by_a_wrong_or_lapsed_code(setting: dict[str, Any], clock: Clock) -> None:
    page = setting["clerk"].get("/staff/guardians/", {"desk_code": "ACDEFGHJ"}).content.decode()
    assert 'id="desk-not-found"' in page
    clock.advance(days=14, seconds=1)
    page = setting["clerk"].get("/staff/guardians/", {"desk_code": setting["link"].desk_code}).content.decode()
    assert 'id="desk-not-found"' in page
    assert _confirm(setting["clerk"], setting["link"], setting["exams"]["lily"]).status_code == 302
    assert not setting["link"].records.exists()


def test_it_lets_the_desk_end_a_guardianship(setting: dict[str, Any]) -> None:
    link, exams, guardian = setting["link"], setting["exams"], setting["guardian"]
    _confirm(setting["clerk"], link, exams["lily"])
    response = setting["clerk"].post("/staff/guardians/end", {"desk_code": link.desk_code})
    assert response.status_code == 302
    assert FamilyLink.objects.get().status == FamilyStatus.WITHDRAWN
    assert guardian.get(reverse("patient:study", args=[exams["lily"].study.pk])).status_code == 404


def test_it_lets_another_hospitals_desk_add_its_record_later(setting: dict[str, Any], other_hospital: Hospital) -> None:
    link, exams = setting["link"], setting["exams"]
    _confirm(setting["clerk"], link, exams["lily"])
    other = Client()
    sign_in_staff(other, make_staff("other-clerk", StaffRole.CLERK, other_hospital))
    assert _confirm(other, link, exams["elsewhere"]).status_code == 302
    assert set(link.records.all()) == {_record(exams["lily"]), _record(exams["elsewhere"])}
    assert setting["guardian"].get(reverse("patient:study", args=[exams["elsewhere"].study.pk])).status_code == 200


def test_it_keeps_patients_and_visitors_out(setting: dict[str, Any]) -> None:
    for client in (Client(), setting["guardian"]):
        response = client.get("/staff/guardians/", {"desk_code": setting["link"].desk_code})
        assert response.status_code == 302
        assert response["Location"].startswith("/staff/sign-in/")


def test_it_counts_a_child_by_the_birth_date() -> None:
    today = dt.date(2026, 12, 4)
    assert family.is_child(PatientRecord(birth_date=dt.date(2008, 12, 5)), today)
    assert not family.is_child(PatientRecord(birth_date=dt.date(2008, 12, 4)), today)
    assert family.is_child(PatientRecord(birth_date=None), today)
