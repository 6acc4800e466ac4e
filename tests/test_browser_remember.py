"""A patient's phone, remembered at sign-in, keeps them signed in until they forget it (Chromium, 390x844)."""

from typing import Any

import pytest

from accounts.models import RememberedDevice
from imaging.models import Hospital
from tests.support.browser import PHONE, screenshot
from tests.support.dicom import ALICE
from tests.support.people import ALICE_PHONE, ANDROID_CHROME, last_code, link, study_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def drop_the_session(context: Any) -> None:
    """What 30 minutes idle or 12 hours do: the browser's session cookie is gone."""
    context.clear_cookies(name="sessionid")


def test_it_keeps_a_remembered_phone_signed_in_until_it_is_forgotten(
    chromium: Any, live_server: Any, transactional_db: None, hospital: Hospital
) -> None:
    study = study_for(hospital, ALICE, "browser-remember")
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    context = chromium.new_context(**PHONE, locale="zh-CN", user_agent=ANDROID_CHROME)
    page = context.new_page()
    page.goto(f"{live_server.url}/sign-in/")
    page.fill("input[name=phone]", "138 0000 0001")
    page.click("button.primary")
    page.wait_for_url("**/sign-in/code/")
    remember = page.locator("input[name=remember]")
    assert not remember.is_checked()  # a shared computer stays unremembered unless someone ticks it
    page.fill("input[name=code]", last_code(ALICE_PHONE))
    remember.check()
    screenshot(page, "remember-1-code")
    page.click("form[action='/sign-in/code/'] button.primary")
    page.wait_for_url("**/my/")

    drop_the_session(context)
    page.goto(f"{live_server.url}/my/")
    assert page.url == f"{live_server.url}/my/"
    assert page.locator(f"[data-study='{study.pk}']").count() == 1

    page.click(".devices-link a")
    page.wait_for_url("**/my/devices/")
    device = RememberedDevice.objects.get()
    row = page.locator(f"[data-device='{device.pk}']")
    assert row.locator(".this-phone").count() == 1
    assert "Android 上的 Chrome" in row.inner_text()
    screenshot(page, "remember-2-devices")
    with page.expect_navigation():
        row.locator("button.forget").tap()
    assert page.locator("#no-devices").count() == 1

    drop_the_session(context)
    page.goto(f"{live_server.url}/my/")
    assert page.url == f"{live_server.url}/sign-in/"
    context.close()
