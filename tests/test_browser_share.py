"""A patient shares an exam with a code; a clinician in a clean browser opens it; the patient ends it."""

import re
from typing import Any

import pytest

from imaging.models import Hospital
from portal.sharing.models import ShareLink
from tests.support.browser import DESKTOP, PHONE, screenshot
from tests.support.dicom import ALICE
from tests.support.exams import make_exam
from tests.support.people import ALICE_PHONE, link, sign_in_patient_in_browser
from tests.support.qr import decode_svg

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


def open_as_clinician(chromium: Any, url: str, code: str) -> tuple[Any, Any]:
    """A clean browser (another context) that opens `url` with `code`: the page, after its answer."""
    context = chromium.new_context(**PHONE, locale="en-US")
    page = context.new_page()
    page.goto(url)
    page.fill("#share-code", code)
    page.click("button.primary")
    page.wait_for_selector("#report, #share-wrong-code")  # the shared exam, or the code page saying no
    return context, page


def test_it_shows_a_share_again_replaces_its_code_and_asks_before_ending_it(
    chromium: Any, live_server: Any, transactional_db: None, hospital: Hospital
) -> None:
    exam = make_exam(hospital, ALICE, "browser-again", slices=2)
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    patient_context = chromium.new_context(**PHONE, locale="en-US")
    patient = patient_context.new_page()
    sign_in_patient_in_browser(patient, live_server.url, ALICE_PHONE)

    # The share box reads as an action: a button-sized summary, its checkboxes at full size.
    patient.goto(f"{live_server.url}/my/studies/{exam.study.pk}/")
    box = patient.locator("#share-box summary").bounding_box()
    assert box
    assert box["height"] >= 44
    assert box["width"] >= 300
    assert patient.eval_on_selector("#share-box summary", "s => getComputedStyle(s).borderStyle") == "solid"
    patient.click("#share-box summary")
    check = patient.locator("#id_allow_download").bounding_box()
    assert check
    assert check["width"] >= 18
    patient.click("#share-create")
    patient.wait_for_selector("#share-qr svg")
    url = patient.input_value("#share-url")
    code = patient.inner_text("#share-access-code")
    patient.close()

    # Later, in a new tab: My shares shows the same link and QR code.
    patient = patient_context.new_page()
    patient.goto(f"{live_server.url}/my/shares/")
    patient.click("a.show-link")
    patient.wait_for_selector("#share-qr svg")
    assert patient.input_value("#share-url") == url
    assert decode_svg(patient.inner_html("#share-qr")) == [url]
    assert patient.locator("#share-access-code").count() == 0
    screenshot(patient, "share-again-1-link-shown-again")
    patient.click(".language button")  # its forms post with their real Origin (issue 18, bug 1)
    patient.wait_for_selector("html[lang=zh-hans] #share-qr svg")
    assert patient.input_value("#share-url") == url

    clinician_context, clinician = open_as_clinician(chromium, url, code)
    assert clinician.url.endswith(f"/s/x/studies/{exam.study.pk}/")
    clinician_context.close()

    # A new access code: the old one is refused, the new one opens the exam.
    share = ShareLink.objects.get()
    patient.goto(f"{live_server.url}/my/shares/{share.pk}/")
    patient.click("#replace-code")
    patient.wait_for_selector("#share-new-code")
    new_code = patient.inner_text("#share-new-code")
    screenshot(patient, "share-again-2-new-code")
    refused_context, refused = open_as_clinician(chromium, url, code)
    assert refused.locator("#share-wrong-code").is_visible()
    refused_context.close()
    clinician_context, clinician = open_as_clinician(chromium, url, new_code)
    assert clinician.url.endswith(f"/s/x/studies/{exam.study.pk}/")
    clinician_context.close()

    # Ending asks first: the first tap only opens the confirmation.
    patient.goto(f"{live_server.url}/my/shares/")
    assert not patient.locator("button.confirm-end").is_visible()
    patient.click("summary.revoke")
    assert patient.locator("button.confirm-end").is_visible()
    screenshot(patient, "share-again-3-end-confirm")
    share.refresh_from_db()
    assert share.revoked_at is None
    patient.click("button.confirm-end")
    patient.wait_for_selector(".share-state.ended")
    share.refresh_from_db()
    assert share.revoked_at is not None
    assert patient.locator("a.show-link").count() == 0
    patient_context.close()


SWITCH_TO_OTHER = {"en": "中文", "zh-hans": "English"}  # the language button of a page in each language


def switch_language(page: Any, to: str) -> None:
    """Tap the top bar's language button: the page it leads to is the portal's, in `to` (not a 403)."""
    with page.expect_navigation() as navigation:
        page.tap("form.language button")
    assert navigation.value.status == 200, page.content()[:500]
    assert page.get_attribute("html", "lang") == to
    assert page.inner_text("form.language button") == SWITCH_TO_OTHER[to]


def test_it_switches_the_language_on_the_share_pages_on_a_phone(
    chromium: Any, live_server: Any, transactional_db: None, hospital: Hospital
) -> None:
    """The share-created page, the QR code's page and the shared exam send a referrer policy under
    which the language form posts with its real Origin: the switch works there as everywhere."""
    exam = make_exam(hospital, ALICE, "browser-language", slices=2, report="text")
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    patient_context = chromium.new_context(**PHONE, locale="zh-CN")
    patient = patient_context.new_page()
    sign_in_patient_in_browser(patient, live_server.url, ALICE_PHONE)
    patient.goto(f"{live_server.url}/my/studies/{exam.study.pk}/")
    patient.tap("#share-box summary")
    patient.tap("#share-create")
    patient.wait_for_selector("#share-qr svg")
    assert re.search(r"/my/shares/\d+/created$", patient.url)
    url, code = patient.input_value("#share-url"), patient.inner_text("#share-access-code")
    switch_language(patient, "en")
    screenshot(patient, "share-language-1-created-in-english")

    clinician_context = chromium.new_context(**PHONE, locale="zh-CN")
    clinician = clinician_context.new_page()
    clinician.goto(url)
    switch_language(clinician, "en")  # to the home page: the token's address is no `next`
    clinician.goto(url)
    assert clinician.get_attribute("html", "lang") == "en"
    switch_language(clinician, "zh-hans")
    clinician.goto(url)
    clinician.fill("#share-code", code)
    clinician.tap("button.primary")
    clinician.wait_for_url(f"**/s/x/studies/{exam.study.pk}/")
    switch_language(clinician, "en")
    assert clinician.url.endswith(f"/s/x/studies/{exam.study.pk}/")
    assert "No abnormality browser-language." in clinician.inner_text("#report")
    screenshot(clinician, "share-language-2-shared-exam-in-english")
    patient_context.close()
    clinician_context.close()
