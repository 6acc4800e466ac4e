"""A patient shares an exam with a code; a clinician in a clean browser opens it; the patient ends it."""

import re
from typing import Any

import pytest

from imaging.models import Hospital
from tests.support.browser import DESKTOP, PHONE, screenshot
from tests.support.dicom import ALICE
from tests.support.exams import make_exam
from tests.support.people import ALICE_PHONE, link, sign_in_patient_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_it_shares_an_exam_with_a_clinician_until_the_patient_ends_it(
    chromium: Any, live_server: Any, transactional_db: None, hospital: Hospital
) -> None:
    exam = make_exam(hospital, ALICE, "browser-share", slices=4, report="text")
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    patient_context = chromium.new_context(**PHONE, locale="zh-CN")
    patient = patient_context.new_page()
    sign_in_patient_in_browser(patient, live_server.url, ALICE_PHONE)

    patient.goto(f"{live_server.url}/my/studies/{exam.study.pk}/")
    patient.click("#share-box summary")
    patient.click("#share-create")
    patient.wait_for_selector("#share-qr svg")
    url = patient.input_value("#share-url")
    code = patient.inner_text("#share-access-code")
    assert re.fullmatch(r"http://[^/]+/s/[A-Za-z0-9_-]{43}", url)
    assert re.fullmatch(r"\d{6}", code)
    screenshot(patient, "share-1-qr-card")

    clinician_context = chromium.new_context(**DESKTOP, locale="en-US")
    clinician = clinician_context.new_page()
    clinician.goto(url)
    clinician.fill("#share-code", code)
    clinician.click("button.primary")
    clinician.wait_for_url(f"**/s/x/studies/{exam.study.pk}/")
    assert "/s/x/" in clinician.url
    assert "No abnormality browser-share." in clinician.inner_text("#report")
    screenshot(clinician, "share-2-clinician-exam")
    clinician.click("#open-viewer")
    clinician.wait_for_function("() => document.querySelector('#viewer')?.dataset.shown?.startsWith('1:')")
    screenshot(clinician, "share-3-clinician-viewer")

    patient.goto(f"{live_server.url}/my/shares/")
    patient.click("summary.revoke")
    patient.click("button.confirm-end")
    patient.wait_for_url("**/my/shares/")
    assert patient.locator(".share-state.ended").count() == 1
    screenshot(patient, "share-4-ended")

    clinician.click("a.viewer-back")
    clinician.wait_for_selector(".share-invalid")
    screenshot(clinician, "share-5-link-not-valid")
    patient_context.close()
    clinician_context.close()
