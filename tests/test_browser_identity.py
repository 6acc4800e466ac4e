"""On a phone (390x844, Chromium): whose exam it is, a one-line top bar, 24 px checkboxes, Tab past the
PDF report, and the browser's icon.

Zhang San (张三, 65 at his CT of 5 January 2026 at City First Hospital) reads his
exam; a clinician opens his share, which shows 张*.
"""

from typing import Any

import pytest

from accounts.models import StaffRole, User
from imaging.models import Hospital
from portal.sharing import shares
from tests.support.browser import PHONE, screenshot
from tests.support.dicom import ZHANG
from tests.support.exams import Exam, make_exam
from tests.support.people import STAFF_PASSWORD, ZHANG_PHONE, link, make_staff, sign_in_patient_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LOCALES = {"zh-hans": "zh-CN", "en": "en-US"}
TOP_BAR_MAX = 56

TOP_BAR = """() => {
    const lines = (element) => {
        const range = document.createRange();
        range.selectNodeContents(element);
        return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
    };
    const bar = document.querySelector('.topbar');
    const brand = [...document.querySelectorAll('.brand > span')].find((s) => getComputedStyle(s).display !== 'none');
    const language = document.querySelector('.language button');
    return {
        height: bar.getBoundingClientRect().height,
        overflows: bar.scrollWidth > bar.clientWidth,
        brand: brand.textContent,
        brandLines: lines(brand),
        languageLines: lines(language),
    };
}"""


@pytest.fixture
def exam(transactional_db: None, hospital: Hospital) -> Exam:
    found = make_exam(hospital, ZHANG, "zhang-phone", report="pdf")
    link(ZHANG_PHONE, hospital, ZHANG.patient_id)
    return found


def phone_page(chromium: Any, language: str) -> Any:
    return chromium.new_context(**PHONE, locale=LOCALES[language]).new_page()


def wait_for_pdf_viewer(page: Any) -> None:
    """Until the report's frame holds Chromium's PDF viewer (an extension's page), with its toolbar."""
    for _ in range(200):
        viewer = next((f for f in page.frames if f.url.startswith("chrome-extension://")), None)
        if viewer is not None:
            viewer.wait_for_function(
                "() => document.querySelector('pdf-viewer')?.shadowRoot?.querySelector('viewer-toolbar')"
            )
            return
        page.wait_for_timeout(50)
    raise AssertionError("no PDF viewer in the report's frame")


def assert_one_line_top_bar(page: Any) -> None:
    bar = page.evaluate(TOP_BAR)
    assert bar["height"] <= TOP_BAR_MAX, bar
    assert not bar["overflows"], bar
    assert bar["brandLines"] == 1, bar
    assert bar["languageLines"] == 1, bar


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_it_shows_the_patient_their_whole_name_under_a_one_line_top_bar(
    chromium: Any, live_server: Any, exam: Exam, language: str
) -> None:
    page = phone_page(chromium, language)
    sign_in_patient_in_browser(page, live_server.url, ZHANG_PHONE)
    page.goto(f"{live_server.url}/my/studies/{exam.study.pk}/")
    identity = page.inner_text(".exam-identity")
    for text in {"zh-hans": ["张三", "男", "65岁"], "en": ["Zhang, San", "Male", "65 years"]}[language]:
        assert text in identity
    assert "City First Hospital" in identity
    assert_one_line_top_bar(page)
    screenshot(page, f"identity-patient-{language}")
    page.context.close()


def test_it_gives_every_share_checkbox_a_24_px_target(chromium: Any, live_server: Any, exam: Exam) -> None:
    page = phone_page(chromium, "zh-hans")
    sign_in_patient_in_browser(page, live_server.url, ZHANG_PHONE)
    page.goto(f"{live_server.url}/my/studies/{exam.study.pk}/")
    page.click("#share-box summary")
    sizes = page.eval_on_selector_all(
        "#share-form input[type=checkbox]",
        "inputs => inputs.map((i) => { const r = i.getBoundingClientRect(); return [i.name, r.width, r.height]; })",
    )
    assert {name for name, _, _ in sizes} >= {"allow_download", "show_full_name"}
    assert all(width >= 24 and height >= 24 for _, width, height in sizes), sizes
    screenshot(page, "identity-share-box")
    page.context.close()


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_it_shows_a_clinician_the_masked_name_sex_age_hospital_and_date(
    chromium: Any, live_server: Any, exam: Exam, language: str
) -> None:
    owner = User.objects.create(phone=ZHANG_PHONE, username=ZHANG_PHONE)
    new = shares.create_share(exam.study, owner.pk, notify_on_open=False)
    page = phone_page(chromium, language)
    page.goto(f"{live_server.url}/s/{new.token}")
    page.fill("#share-code", new.code)
    page.click("button.primary")
    page.wait_for_url(f"**/s/x/studies/{exam.study.pk}/")
    identity = page.inner_text(".exam-identity")
    expected = {
        "zh-hans": ["张*", "男", "65岁", "2026年1月5日"],
        "en": ["Zhang *", "Male", "65 years", "Jan. 5, 2026"],
    }[language]
    for text in [*expected, "City First Hospital"]:
        assert text in identity
    assert "张三" not in page.content()
    assert "Zhang, San" not in page.content()
    assert_one_line_top_bar(page)
    screenshot(page, f"identity-share-{language}")

    # The report is its pages as images here: Tab goes from the control before it to the link after it.
    page.focus("#open-viewer")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "report-download"
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("() => document.activeElement.id") == "open-viewer"

    page.click("#open-viewer")
    page.wait_for_selector(".viewer-header .exam-identity")
    assert ("张*" if language == "zh-hans" else "Zhang *") in page.inner_text(".viewer-header")
    screenshot(page, f"identity-share-viewer-{language}")
    page.context.close()


def test_it_lets_tab_pass_the_pdf_report_frame_on_the_staff_page(
    chromium: Any, live_server: Any, exam: Exam, hospital: Hospital
) -> None:
    clerk = make_staff("clerk", StaffRole.CLERK, hospital)
    page = phone_page(chromium, "zh-hans")
    page.goto(f"{live_server.url}/staff/sign-in/")
    page.fill("input[name=username]", "clerk")
    page.fill("input[name=password]", STAFF_PASSWORD)
    page.fill("input[name=otp_token]", clerk.code())
    page.click("button.primary")
    page.wait_for_url("**/staff/")
    page.goto(f"{live_server.url}/staff/studies/{exam.study.pk}/")
    assert "张三" in page.inner_text(".exam-identity")
    # Once Chromium's PDF viewer is in the frame, Tab goes from the control before the report to the
    # link after it, and Shift+Tab back, never into the viewer (which keeps the focus it is given).
    wait_for_pdf_viewer(page)
    page.focus("#issue-submit")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "report-download"
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("() => document.activeElement.id") == "issue-submit"
    page.context.close()


def test_it_serves_the_icon_browsers_ask_for(chromium: Any, live_server: Any, transactional_db: None) -> None:
    page = phone_page(chromium, "zh-hans")
    response = page.request.get(f"{live_server.url}/favicon.ico")
    assert response.status == 200
    assert response.body()[:4] == b"\x00\x00\x01\x00"
    page.context.close()
