"""A patient signs in on a phone in headless Chromium, sees their exams, and signs out."""

from typing import Any

import pytest

from imaging.models import Hospital
from tests.support.browser import PHONE, screenshot
from tests.support.dicom import ALICE
from tests.support.people import ALICE_PHONE, last_code, link, study_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_it_signs_a_patient_in_and_out(
    chromium: Any, live_server: Any, transactional_db: None, hospital: Hospital
) -> None:
    study = study_for(hospital, ALICE, "browser-alice")
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    context = chromium.new_context(**PHONE, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{live_server.url}/sign-in/")
    screenshot(page, "sign-in-1-number")
    page.fill("input[name=phone]", "138 0000 0001")
    page.click("button.primary")
    page.wait_for_url("**/sign-in/code/")
    screenshot(page, "sign-in-2-code")
    page.fill("input[name=code]", last_code(ALICE_PHONE))
    page.click("form[action='/sign-in/code/'] button.primary")
    page.wait_for_url("**/my/")
    assert page.locator(f"[data-study='{study.pk}']").count() == 1
    screenshot(page, "sign-in-3-my-exams")
    page.click("#sign-out")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/my/")
    assert page.url.endswith("/sign-in/")
    context.close()
