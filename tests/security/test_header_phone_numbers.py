"""The review's attack: an image that names the attacker's phone under a known MRN.

An image sender writes Patient's Telephone Numbers (0010,2154) as it likes. Such
a number must never open a record: it is kept as a suggestion that staff
confirm with the patient at issuance.
"""

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from accounts.models import LinkSource, PhoneLink, StaffRole, SuggestedPhone, User
from imaging import synthetic
from imaging.ingest import ingest_instance
from imaging.models import Hospital, PatientRecord
from portal.audit.models import AuditAction, AuditEvent
from tests.support.dicom import ALICE, ct_slice, study_spec
from tests.support.exams import Exam, make_exam
from tests.support.people import ALICE_PHONE, last_code, make_staff, sign_in_patient, sign_in_staff

ATTACKER_PHONE = "+8613900000666"


@pytest.fixture
def earlier_exam(hospital: Hospital) -> Exam:
    return make_exam(hospital, ALICE, "alice-earlier")


def send_image_naming(hospital: Hospital, phone: str, capture: Any) -> None:
    """A new study of Alice's MRN, as any sender could make it, with `phone` in the header."""
    ds = ct_slice(study=study_spec("attacker", patient=ALICE), number=1, size=16)
    ds.PatientTelephoneNumbers = phone.removeprefix("+86")
    with capture(execute=True):
        ingest_instance(synthetic.to_bytes(ds), hospital)


def test_it_sends_no_code_to_a_number_that_only_an_image_names(
    earlier_exam: Exam, hospital: Hospital, django_capture_on_commit_callbacks: Any, sms_outbox: list[Any]
) -> None:
    send_image_naming(hospital, ATTACKER_PHONE, django_capture_on_commit_callbacks)
    assert Client().post("/sign-in/", {"phone": ATTACKER_PHONE}).status_code == 302
    assert [m for m in sms_outbox if m.to == ATTACKER_PHONE] == []
    assert not PhoneLink.objects.filter(phone=ATTACKER_PHONE).exists()


def test_it_shows_a_signed_in_attacker_none_of_the_patients_exams(
    earlier_exam: Exam, hospital: Hospital, django_capture_on_commit_callbacks: Any
) -> None:
    send_image_naming(hospital, ATTACKER_PHONE, django_capture_on_commit_callbacks)
    attacker = Client()
    attacker.force_login(User.objects.create(username=ATTACKER_PHONE, phone=ATTACKER_PHONE))
    assert earlier_exam.study.description not in attacker.get("/my/").content.decode()
    assert attacker.get(f"/my/studies/{earlier_exam.study.pk}/").status_code == 404
    assert attacker.get(f"/my/images/{earlier_exam.instance.pk}/raw").status_code == 404


def test_it_offers_the_number_to_staff_who_confirm_it_with_one_click(
    earlier_exam: Exam, hospital: Hospital, django_capture_on_commit_callbacks: Any, sms_outbox: list[Any]
) -> None:
    send_image_naming(hospital, ALICE_PHONE, django_capture_on_commit_callbacks)
    clerk = Client()
    sign_in_staff(clerk, make_staff("clerk", StaffRole.CLERK, hospital))
    page = clerk.get(f"/staff/studies/{earlier_exam.study.pk}/").content.decode()
    suggestion = SuggestedPhone.objects.get(phone=ALICE_PHONE)
    assert f'data-suggestion="{suggestion.pk}"' in page
    assert "138****0001" in page
    assert clerk.post(f"/staff/suggested-phones/{suggestion.pk}/confirm").status_code == 302
    link = PhoneLink.objects.get(phone=ALICE_PHONE)
    assert (link.source, link.created_by.username) == (LinkSource.STAFF, "clerk")  # type: ignore[union-attr]
    assert not SuggestedPhone.objects.exists()
    assert AuditEvent.objects.filter(action=AuditAction.PHONE_CONFIRM).count() == 1
    patient = Client()
    sign_in_patient(patient, ALICE_PHONE)
    assert last_code(ALICE_PHONE)
    assert patient.get(f"/my/studies/{earlier_exam.study.pk}/").status_code == 200


def test_it_keeps_another_hospitals_clerk_from_confirming(
    earlier_exam: Exam, hospital: Hospital, other_hospital: Hospital, django_capture_on_commit_callbacks: Any
) -> None:
    send_image_naming(hospital, ATTACKER_PHONE, django_capture_on_commit_callbacks)
    suggestion = SuggestedPhone.objects.get()
    other_clerk = Client()
    sign_in_staff(other_clerk, make_staff("other", StaffRole.CLERK, other_hospital))
    assert other_clerk.post(f"/staff/suggested-phones/{suggestion.pk}/confirm").status_code == 404
    assert not PhoneLink.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_it_migrates_links_made_from_headers_to_suggestions() -> None:
    before, after = [("accounts", "0002_patients_and_staff")], [("accounts", "0003_phone_suggestions")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    hospital = Hospital.objects.create(code="h1", name="H1")  # imaging's tables are as they are now
    record = PatientRecord.objects.create(hospital=hospital, patient_id="MRN-1")
    old_link = executor.loader.project_state(before).apps.get_model("accounts", "PhoneLink").objects
    old_link.create(phone=ATTACKER_PHONE, patient_record_id=record.pk, source="dicom", hospital_id=hospital.pk)
    old_link.create(phone=ALICE_PHONE, patient_record_id=record.pk, source="staff", hospital_id=hospital.pk)
    executor = MigrationExecutor(connection)
    executor.migrate(after)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert list(PhoneLink.objects.values_list("phone", "source")) == [(ALICE_PHONE, "staff")]
    suggestion = SuggestedPhone.objects.get()
    assert (suggestion.phone, suggestion.patient_record) == (ATTACKER_PHONE, PatientRecord.objects.get())
