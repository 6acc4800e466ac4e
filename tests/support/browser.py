"""Headless Chromium (Debian's) driven by Playwright; screenshots go to test-artifacts/."""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from portal.middleware import CONTENT_SECURITY_POLICY
from tests.support.processes import ROOT
from tests.support.services import require

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
DESKTOP = {"viewport": {"width": 1366, "height": 900}}
STATIC_ORIGIN = "http://portal.test"  # never on the network: `serve_static` answers it


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    require(Path(CHROMIUM).exists() and shutil.which("chromium") is not None, "Chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in the test's thread; Django's ORM
    # refuses to run beside one unless told the calls are safe, as they are here.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def serve_static(page: Any, root: Path) -> list[str]:
    """Answer STATIC_ORIGIN in `page`: an empty page at / and the files of `root` under /static/,
    each with the portal's CSP; the paths asked for, in order, fill the list returned."""
    requested: list[str] = []

    def serve(route: Any) -> None:
        path = urlsplit(route.request.url).path
        requested.append(path)
        headers = {"Content-Security-Policy": CONTENT_SECURITY_POLICY}
        file = root / path.removeprefix("/static/")
        if path == "/":
            route.fulfill(status=200, headers=headers, content_type="text/html", body="<!doctype html><title>.</title>")
        elif path.startswith("/static/") and file.is_file():
            route.fulfill(status=200, headers=headers, path=str(file))
        else:
            route.fulfill(status=404, headers=headers, body="")

    page.route(f"{STATIC_ORIGIN}/**", serve)
    return requested


def static_page(chromium: Any, root: Path) -> Iterator[Any]:
    """A page of the portal's origin (and CSP) serving `root` as /static/, for a module's fixture:
    it yields the page and, at the end, requires that no script on it raised."""
    context = chromium.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    serve_static(page, root)
    page.goto(f"{STATIC_ORIGIN}/")
    yield page
    assert errors == []
    context.close()
