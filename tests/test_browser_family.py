"""A daughter adds her father on a phone: he gives her the code he received, she switches to his
exams; later he withdraws from his own phone, and her next tap finds nothing."""

import datetime as dt
from typing import Any

import pytest
from django.db.models import F

from accounts.models import CodeRequest, FamilyKind, FamilyLink, FamilyStatus, User
from imaging.models import Hospital, PatientRecord
from imaging.synthetic import PatientSpec
from tests.support.browser import PHONE, screenshot
from tests.support.dicom import ALICE, BOB
from tests.support.exams import make_exam
from tests.support.people import ALICE_PHONE, BOB_PHONE, last_code, link, sign_in_patient_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LILY = PatientSpec("PID-LILY", "Wang^Lily", "F", dt.date(2020, 6, 1), "")


def test_it_adds_a_family_member_with_their_consent_and_stops_when_they_withdraw(
    chromium: Any, live_server: Any, transactional_db: None, hospital: Hospital, other_hospital: Hospital
) -> None:
    mine = make_exam(hospital, ALICE, "alice", report="none")
    dads = make_exam(other_hospital, BOB, "bob", report="none")
    lilys = make_exam(hospital, LILY, "lily", report="none")
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    link(BOB_PHONE, other_hospital, BOB.patient_id)
    base = live_server.url

    father = chromium.new_context(**PHONE, locale="zh-CN").new_page()
    sign_in_patient_in_browser(father, base, BOB_PHONE)
    # A few minutes later (a number gets one code a minute, whatever it is for).
    CodeRequest.objects.filter(phone=BOB_PHONE).update(created_at=F("created_at") - dt.timedelta(minutes=5))

    page = chromium.new_context(**PHONE, locale="zh-CN").new_page()
    sign_in_patient_in_browser(page, base, ALICE_PHONE)
    # Her daughter was confirmed at a hospital's desk (tests/test_guardians.py walks that part).
    child = FamilyLink.objects.create(
        viewer=User.objects.get(phone=ALICE_PHONE), kind=FamilyKind.CHILD, label="乐乐", status=FamilyStatus.ACTIVE
    )
    child.records.add(PatientRecord.objects.get(patient_id=LILY.patient_id))

    page.click("#family-link")
    page.click("#add-adult")
    page.fill("input[name=label]", "爸爸")
    page.fill("input[name=phone]", "138 0000 0002")
    page.click("#send-consent")
    page.wait_for_url("**/consent")
    page.fill("input[name=code]", last_code(BOB_PHONE))  # what her father read out from his SMS
    page.click("#confirm-consent")
    page.wait_for_url("**/my/family/*/")
    dad = FamilyLink.objects.get(label="爸爸")
    assert dad.status == FamilyStatus.ACTIVE
    assert page.locator(f"[data-study='{dads.study.pk}']").count() == 1
    assert page.locator(f"[data-study='{mine.study.pk}']").count() == 0
    assert page.locator(".people [aria-current=page]").inner_text() == "爸爸"
    screenshot(page, "family-switcher-phone")

    page.click(".people a:has-text('乐乐')")
    page.wait_for_url(f"**/my/family/{child.pk}/")
    assert page.locator(f"[data-study='{lilys.study.pk}']").count() == 1
    page.click(".people a:has-text('我')")
    page.wait_for_url(f"{base}/my/")
    assert page.locator(f"[data-study='{mine.study.pk}']").count() == 1
    assert page.locator(f"[data-study='{dads.study.pk}']").count() == 0

    page.click(".people a:has-text('爸爸')")
    page.click(f"[data-study='{dads.study.pk}'] a.study-link")
    page.wait_for_url(f"**/my/studies/{dads.study.pk}/")
    assert page.locator("#family-exam").count() == 1

    # Her father withdraws from his own phone: two taps.
    father.goto(f"{base}/my/family/")
    father.click(f"[data-seeing='{dad.pk}'] summary")
    father.click(f"[data-seeing='{dad.pk}'] button.confirm-end")
    father.wait_for_url(f"{base}/my/family/")
    assert father.locator(f"[data-seeing='{dad.pk}']").count() == 0

    response = page.reload()
    assert response is not None
    assert response.status == 404
    page.goto(f"{base}/my/")
    assert page.locator(".people a:has-text('爸爸')").count() == 0
