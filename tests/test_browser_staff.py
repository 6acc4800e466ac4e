"""A clerk at discharge, in headless Chromium: TOTP sign-in, find, issue, print the slip, see the dashboard."""

import io
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image

from accounts.models import StaffRole
from imaging.models import Hospital
from tests.support.browser import DESKTOP, screenshot
from tests.support.dicom import ALICE
from tests.support.exams import make_exam
from tests.support.people import STAFF_PASSWORD, make_staff

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def efilms_on_dashboard(page: Any, base: str) -> int:
    page.goto(f"{base}/staff/dashboard/")
    return int(page.inner_text("[data-figure=efilm] dd"))


def test_it_issues_an_e_film_at_discharge(
    chromium: Any, live_server: Any, transactional_db: None, hospital: Hospital, tmp_path: Path
) -> None:
    exam = make_exam(hospital, ALICE, "browser-discharge", slices=2, report="text")
    clerk = make_staff("clerk", StaffRole.CLERK, hospital)
    context = chromium.new_context(**DESKTOP, locale="zh-CN")
    page = context.new_page()
    base = live_server.url
    page.goto(f"{base}/staff/sign-in/")
    page.fill("input[name=username]", "clerk")
    page.fill("input[name=password]", STAFF_PASSWORD)
    page.fill("input[name=otp_token]", clerk.code())
    page.click("button.primary")
    page.wait_for_url(f"{base}/staff/")
    before = efilms_on_dashboard(page, base)
    screenshot(page, "staff-1-dashboard-before")

    page.goto(f"{base}/staff/")
    page.fill("input[name=mrn]", ALICE.patient_id)
    page.click("#staff-search button.primary")
    page.click(f"tr[data-study='{exam.study.pk}'] a")
    page.wait_for_url(f"**/staff/studies/{exam.study.pk}/")
    screenshot(page, "staff-2-exam")
    page.fill("input[name=phone]", "138 0000 0001")
    page.select_option("select[name=choice]", "efilm")
    page.click("#issue-submit")
    page.wait_for_selector("#slip")
    screenshot(page, "staff-3-slip")

    slip_image = Image.open(io.BytesIO(page.locator("#slip").screenshot()))
    texts = sorted(barcode.text for barcode in zxingcpp.read_barcodes(slip_image))
    assert any(text.endswith("/sign-in/?phone=%2B8613800000001") for text in texts)
    assert any("/s/" in text for text in texts)
    pdf = tmp_path / "slip.pdf"
    page.emulate_media(media="print")
    page.pdf(path=str(pdf), format="A5")
    assert pdf.read_bytes().startswith(b"%PDF")
    page.emulate_media(media="screen")

    assert efilms_on_dashboard(page, base) == before + 1
    screenshot(page, "staff-4-dashboard-after")
    context.close()
