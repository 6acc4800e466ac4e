"""A patient's whole visit in headless Chromium, on a phone and on a desktop.

Sign in, open the newest exam, read the report, open the viewer, move to slice
60, switch to the lung preset, drag the window and see the pixels change, play
an ultrasound cine, download both zips and check what they hold. Screenshots of
every step go to test-artifacts/.
"""

import datetime as dt
import io
import zipfile
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.fileset import FileSet

from imaging import synthetic
from imaging.ingest import ingest_instance
from imaging.models import Hospital, Study
from tests.support.browser import DESKTOP, PHONE, screenshot
from tests.support.dicom import ALICE, study_spec
from tests.support.people import ALICE_PHONE, link, sign_in_patient_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CT_SLICES = 120


@pytest.fixture
def exams(transactional_db: None, hospital: Hospital) -> dict[str, Study]:
    ct = study_spec("browser-ct", patient=ALICE, date=dt.date(2026, 3, 1))
    for ds in synthetic.ct_chest(ct, slices=CT_SLICES, size=192):
        ingest_instance(synthetic.to_bytes(ds), hospital)
    report = synthetic.pdf_report(ct, "CT chest report", ["Findings: clear lungs.", "Impression: normal."])
    ingest_instance(synthetic.to_bytes(report), hospital)
    us = study_spec("browser-us", patient=ALICE, date=dt.date(2026, 2, 1))
    for ds in synthetic.us_cine(us, frames=12, rows=240, columns=320):
        ingest_instance(synthetic.to_bytes(ds), hospital)
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    return {"ct": Study.objects.get(study_uid=ct.study_uid), "us": Study.objects.get(study_uid=us.study_uid)}


def sign_in(page: Any, base: str, step: str) -> None:
    sign_in_patient_in_browser(page, base, ALICE_PHONE)
    screenshot(page, f"{step}-1-my-exams")


def viewer_state(page: Any) -> dict[str, str]:
    state: dict[str, str] = page.evaluate("() => ({...document.querySelector('#viewer').dataset})")
    return state


def wait_shown(page: Any, condition: str = "true") -> dict[str, str]:
    """Until the viewer has drawn an image and the JavaScript condition on its dataset `d` holds."""
    page.wait_for_function(
        f"() => {{ const d = document.querySelector('#viewer')?.dataset; return d && d.shown && ({condition}); }}",
        timeout=20000,
    )
    return viewer_state(page)


def canvas_fingerprint(page: Any) -> str:
    fingerprint: str = page.evaluate(
        """() => {
        const c = document.querySelector('#viewer-canvas');
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let h = 0; for (let i = 0; i < data.length; i += 7) { h = (h * 31 + data[i]) >>> 0; }
        return String(h);
    }"""
    )
    return fingerprint


def touch(cdp: Any, kind: str, x: float, y: float) -> None:
    points = [] if kind == "touchEnd" else [{"x": x, "y": y}]
    cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})


def swipe(cdp: Any, x: float, y0: float, y1: float, steps: int = 12) -> None:
    touch(cdp, "touchStart", x, y0)
    for step in range(1, steps + 1):
        touch(cdp, "touchMove", x, y0 + (y1 - y0) * step / steps)
    touch(cdp, "touchEnd", x, y1)


def canvas_box(page: Any) -> dict[str, float]:
    box: dict[str, float] = page.locator("#viewer-canvas").bounding_box()
    return box


def move_to_slice(page: Any, target: int, on_phone: bool) -> None:
    """Swipe (phone) or turn the wheel (desktop) until the viewer shows `target`."""
    box = canvas_box(page)
    x, top, bottom = box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.8, box["y"] + box["height"] * 0.2
    cdp = page.context.new_cdp_session(page) if on_phone else None
    page.mouse.move(x, (top + bottom) / 2)
    for _ in range(200):
        index = int(viewer_state(page)["index"])
        if index == target:
            break
        if cdp is not None:
            distance = min(abs(target - index) * 8, top - bottom)
            swipe(
                cdp, x, top if target > index else bottom, (top - distance) if target > index else (bottom + distance)
            )
        else:
            page.mouse.wheel(0, 100 if target > index else -100)
        page.wait_for_timeout(30)
    assert int(viewer_state(page)["index"]) == target


def drag_window(page: Any, on_phone: bool) -> None:
    box = canvas_box(page)
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    if on_phone:
        cdp = page.context.new_cdp_session(page)
        touch(cdp, "touchStart", x, y)
        for step in range(1, 11):
            touch(cdp, "touchMove", x + step * 12, y - step * 8)
        touch(cdp, "touchEnd", x + 120, y - 80)
    else:
        page.mouse.move(x, y)
        page.mouse.down()
        for step in range(1, 11):
            page.mouse.move(x + step * 12, y - step * 8)
        page.mouse.up()


def download(page: Any, button: str, folder: Path) -> bytes:
    page.click(button)
    page.wait_for_selector(".download-state[data-status=ready]", timeout=60000)
    with page.expect_download() as info:
        page.click("#download-file")
    path = folder / info.value.suggested_filename
    info.value.save_as(path)
    return path.read_bytes()


@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_it_takes_a_patient_through_an_exam(
    chromium: Any, live_server: Any, exams: dict[str, Study], device: str, tmp_path: Path
) -> None:
    on_phone = device == "phone"
    context = chromium.new_context(**(PHONE if on_phone else DESKTOP), locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    base = live_server.url
    sign_in(page, base, device)

    # The newest exam is first; its report is on top.
    page.locator("li.study a.study-link").first.click()
    page.wait_for_url(f"**/my/studies/{exams['ct'].pk}/")
    # The PDF's pages as images at the screen's width (the PDF itself is the download).
    page.wait_for_function("() => document.querySelector('.report-pages img')?.naturalWidth > 0")
    assert page.evaluate("() => document.scrollingElement.scrollWidth <= window.innerWidth")
    assert page.locator("#report-download").count() == 1
    screenshot(page, f"{device}-2-exam-and-report")

    # The viewer: first image, slice 60, the lung preset, a dragged window.
    page.click("#open-viewer")
    state = wait_shown(page)
    assert state["count"] == str(CT_SLICES)
    screenshot(page, f"{device}-3-viewer")
    move_to_slice(page, 60, on_phone)
    wait_shown(page, "d.shown.startsWith('60:')")
    screenshot(page, f"{device}-4-slice-60")
    page.click("[data-preset=lung]")
    state = wait_shown(page, "d.preset === 'lung' && d.shown.includes(':-600:1500')")
    assert state["index"] == "60"
    screenshot(page, f"{device}-5-lung")
    before = canvas_fingerprint(page)
    page.click("#viewer-tool-window")
    drag_window(page, on_phone)
    state = wait_shown(page, "d.preset === 'custom' && d.shown.includes(':raw:')")
    assert (state["windowCenter"], state["windowWidth"]) != ("-600", "1500")
    assert canvas_fingerprint(page) != before
    screenshot(page, f"{device}-6-window-dragged")

    # The ultrasound cine plays.
    page.goto(f"{base}/my/studies/{exams['us'].pk}/view/")
    state = wait_shown(page)
    assert state["frames"] == "12"
    label = page.get_attribute("#viewer-canvas", "aria-label") or ""
    assert "，" in label, label  # image and frame, with a Chinese comma
    assert ", " not in label, label
    page.click("#viewer-play")
    page.wait_for_function("() => document.querySelector('#viewer').dataset.playing === '1'")
    seen = {viewer_state(page)["frame"]}
    for _ in range(40):
        page.wait_for_timeout(50)
        seen.add(viewer_state(page)["frame"])
    assert len(seen) >= 3
    screenshot(page, f"{device}-7-cine")
    page.click("#viewer-play")
    page.wait_for_function("() => document.querySelector('#viewer').dataset.playing === '0'")

    # Downloads: pictures for people, originals with a DICOMDIR for a PACS.
    page.goto(f"{base}/my/studies/{exams['ct'].pk}/")
    page.select_option("#download-preset", "lung")
    pictures = download(page, "#download-jpeg", tmp_path)
    with zipfile.ZipFile(io.BytesIO(pictures)) as archive:
        assert len([n for n in archive.namelist() if n.endswith(".jpg")]) == CT_SLICES
        assert "report.pdf" in archive.namelist()
    screenshot(page, f"{device}-8-download-ready")
    page.goto(f"{base}/my/studies/{exams['ct'].pk}/")
    originals = download(page, "#download-dicom", tmp_path)
    with zipfile.ZipFile(io.BytesIO(originals)) as archive:
        archive.extractall(tmp_path / "dicom")
    fileset = FileSet(pydicom.dcmread(tmp_path / "dicom" / "DICOMDIR"))
    assert len(fileset) == CT_SLICES + 1
    assert {entry.load().PatientID for entry in fileset} == {ALICE.patient_id}
    assert errors == []
    context.close()
