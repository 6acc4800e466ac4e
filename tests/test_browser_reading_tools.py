"""The viewer's reading tools on a phone (390 x 844, touch), on a phantom of known size and values.

The phantom (tests/support/phantom.py) is 256 x 192 pixels at 0.5 mm with a
50 x 30 mm water rectangle: the ruler dragged from one end of it to the other
reads 50 mm within one pixel's size, upright, turned and mirrored; the value
readout reads 0 HU over water, -1000 over air, 1000 over bone, with the
Rescale Slope and Intercept applied; invert, rotate and flip draw the pixels
where they belong; an image without Pixel Spacing measures in pixels and a
non-CT image reads plain values; every tool has its label under its icon; and
the gesture hint shows once.

Where a point of the image should be on screen is worked out here, from what
each button is for (a quarter turn clockwise, a mirror left to right, a flip
top to bottom, of what is on screen), not from the viewer's code.
"""

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest

from accounts.models import User
from imaging import synthetic
from imaging.ingest import ingest_instance
from imaging.models import Hospital, Series, Study
from portal.sharing.shares import create_share
from tests.support import phantom
from tests.support.browser import PHONE, screenshot
from tests.support.dicom import ALICE, study_spec
from tests.support.people import ALICE_PHONE, link, sign_in_patient_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HALF_PIXEL_MM = phantom.SPACING_MM  # "within one pixel's size"


@dataclass
class Phantoms:
    study: Study
    ct: Series  # Pixel Spacing
    mr: Series  # no spacing, not CT


@pytest.fixture
def phantoms(transactional_db: None, hospital: Hospital) -> Phantoms:
    spec = study_spec("phantom", patient=ALICE, date=dt.date(2026, 4, 1))
    ingest_instance(synthetic.to_bytes(phantom.phantom_ct(spec)), hospital)
    ingest_instance(
        synthetic.to_bytes(phantom.phantom_ct(spec, spacing="none", modality="MR", series_key="mr")), hospital
    )
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    study = Study.objects.get(study_uid=spec.study_uid)
    return Phantoms(study, study.series.get(modality="CT"), study.series.get(modality="MR"))


# ---------------------------------------------------------------- where the image is on screen


@dataclass
class Screen:
    """The stage (CSS pixels) and the buttons pressed, in order: where image points are drawn."""

    left: float
    top: float
    width: int
    height: int
    dpr: float
    pressed: list[str] = field(default_factory=list)

    def point(self, x: float, y: float) -> tuple[float, float]:
        """The stage point (CSS pixels from its top left) that shows image point (x, y), at fit."""
        u, v = x - phantom.COLUMNS / 2, y - phantom.ROWS / 2
        for button in self.pressed:
            if button == "rotate":
                u, v = -v, u  # clockwise, y pointing down
            elif button == "mirror":
                u = -u
            elif button == "flip":
                v = -v
        turned = self.pressed.count("rotate") % 2 == 1
        shown_width, shown_height = (phantom.ROWS, phantom.COLUMNS) if turned else (phantom.COLUMNS, phantom.ROWS)
        scale = min(self.width / shown_width, self.height / shown_height)
        return self.width / 2 + u * scale, self.height / 2 + v * scale

    def page_point(self, x: float, y: float) -> tuple[float, float]:
        sx, sy = self.point(x, y)
        return self.left + sx, self.top + sy


def screen_of(page: Any) -> Screen:
    box = page.evaluate(
        """() => { const s = document.querySelector('#viewer-stage'); const r = s.getBoundingClientRect();
        return [r.left, r.top, s.clientWidth, s.clientHeight, window.devicePixelRatio]; }"""
    )
    return Screen(*box)


def greys(page: Any, screen: Screen, points: list[tuple[float, float]]) -> list[int]:
    """The drawn greys (red channel) at these image points."""
    device = [[round(c * screen.dpr) for c in screen.point(x, y)] for x, y in points]
    values: list[int] = page.evaluate(
        """(points) => { const c = document.querySelector('#viewer-canvas').getContext('2d');
        return points.map(([x, y]) => c.getImageData(x, y, 1, 1).data[0]); }""",
        device,
    )
    return values


def centre(region: tuple[int, int, int, int]) -> tuple[float, float]:
    x0, y0, x1, y1 = region
    return (x0 + x1) / 2, (y0 + y1) / 2


# Inside each region, away from its edges (the drawn image is smoothed): (image point, HU).
SAMPLES = [
    *[((x, y), 0) for x in (50, 90, 130) for y in (60, 80, 100)],
    (centre(phantom.BONE), 1000),
    (centre(phantom.FAT), -100),
    *[((x, y), -1000) for x, y in [(10, 10), (245, 10), (10, 180), (150, 100), (100, 150), (240, 100)]],
]


def expected_grey(hu: int) -> int:
    """The phantom's file window (centre 0, width 2000, PS3.3 C.11.2.1.2) on a value."""
    center, width = phantom.WINDOW
    return round(min(max((hu - (center - 0.5)) / (width - 1) + 0.5, 0), 1) * 255)


def assert_drawn_where_expected(page: Any, screen: Screen, inverted: bool = False) -> None:
    drawn = greys(page, screen, [point for point, _ in SAMPLES])
    wanted = [expected_grey(hu) for _, hu in SAMPLES]
    if inverted:
        wanted = [255 - grey for grey in wanted]
    # JPEG previews are within a few grey levels of the window's greys.
    assert all(abs(d - w) <= 8 for d, w in zip(drawn, wanted, strict=True)), list(zip(drawn, wanted, strict=True))


# ---------------------------------------------------------------- driving the viewer


def touch(cdp: Any, kind: str, point: tuple[float, float]) -> None:
    points = [] if kind == "touchEnd" else [{"x": point[0], "y": point[1]}]
    cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})


def drag(cdp: Any, start: tuple[float, float], end: tuple[float, float], steps: int = 10) -> None:
    touch(cdp, "touchStart", start)
    for step in range(1, steps + 1):
        touch(
            cdp,
            "touchMove",
            (start[0] + (end[0] - start[0]) * step / steps, start[1] + (end[1] - start[1]) * step / steps),
        )
    touch(cdp, "touchEnd", end)


def dataset(page: Any) -> dict[str, str]:
    data: dict[str, str] = page.evaluate("() => ({...document.querySelector('#viewer').dataset})")
    return data


def open_viewer(page: Any, url: str) -> Screen:
    page.goto(url)
    page.wait_for_function("() => document.querySelector('#viewer')?.dataset.shown?.startsWith('1:')", timeout=30000)
    if page.locator("#viewer-hint").is_visible():
        page.click("#viewer-hint-close")
    return screen_of(page)


def press(page: Any, screen: Screen, button: str) -> None:
    ids = {"rotate": "#viewer-rotate", "mirror": "#viewer-flip-horizontal", "flip": "#viewer-flip-vertical"}
    before = dataset(page)
    page.click(ids[button])
    page.wait_for_function(
        "([r, f]) => { const d = document.querySelector('#viewer').dataset; "
        "return d.rotation !== r || d.flipped !== f; }",
        arg=[before["rotation"], before["flipped"]],
    )
    screen.pressed.append(button)


def measure(
    page: Any, cdp: Any, screen: Screen, start: tuple[float, float], end: tuple[float, float]
) -> tuple[float, str]:
    """A new ruler (the mode left and taken again clears the last) dragged between two image points; its
    length and unit."""
    page.click("#viewer-tool-browse")
    page.click("#viewer-tool-measure")
    assert dataset(page)["ruler"] == ""
    drag(cdp, screen.page_point(*start), screen.page_point(*end))
    page.wait_for_function("() => document.querySelector('#viewer').dataset.ruler !== ''")
    data = dataset(page)
    return float(data["ruler"]), data["rulerUnit"]


def probe(page: Any, cdp: Any, screen: Screen, point: tuple[float, float]) -> tuple[str, str, str]:
    """Touch an image point in value mode; the value (another than the last), its unit and the readout."""
    previous = dataset(page)["probe"]
    touch(cdp, "touchStart", screen.page_point(*point))
    touch(cdp, "touchEnd", screen.page_point(*point))
    page.wait_for_function(
        "(previous) => { const v = document.querySelector('#viewer').dataset.probe; return v && v !== previous; }",
        arg=previous,
    )
    data = dataset(page)
    return data["probe"], data["probeUnit"], page.inner_text("#viewer-readout")


def signed_in_phone(chromium: Any, live_server: Any) -> Any:
    context = chromium.new_context(**PHONE, locale="zh-CN")
    page = context.new_page()
    sign_in_patient_in_browser(page, live_server.url, ALICE_PHONE)
    return page


def viewer_url(base: str, phantoms: Phantoms, series: Series) -> str:
    return f"{base}/my/studies/{phantoms.study.pk}/view/?series={series.pk}"


# ---------------------------------------------------------------- the tests


def test_it_measures_fifty_millimetres_across_the_phantom_however_it_is_turned(
    chromium: Any, live_server: Any, phantoms: Phantoms
) -> None:
    page = signed_in_phone(chromium, live_server)
    screen = open_viewer(page, viewer_url(live_server.url, phantoms, phantoms.ct))
    cdp = page.context.new_cdp_session(page)
    page.click("#viewer-tool-measure")
    x0, y0, x1, y1 = phantom.WATER  # 100 x 60 pixels: 50 x 30 mm

    assert measure(page, cdp, screen, (x0, 80), (x1, 80)) == (pytest.approx(50, abs=HALF_PIXEL_MM), "mm")
    assert "mm" in page.inner_text("#viewer-readout")
    screenshot(page, "reading-tools-1-ruler")

    press(page, screen, "rotate")
    assert float(dataset(page)["ruler"]) == pytest.approx(50, abs=HALF_PIXEL_MM)  # the ruler turned with the image
    assert measure(page, cdp, screen, (x0, 100), (x1, 100))[0] == pytest.approx(50, abs=HALF_PIXEL_MM)
    screenshot(page, "reading-tools-2-ruler-turned")

    press(page, screen, "mirror")
    press(page, screen, "flip")
    assert measure(page, cdp, screen, (x0, 62), (x1, 62))[0] == pytest.approx(50, abs=HALF_PIXEL_MM)
    assert measure(page, cdp, screen, (90, y0), (90, y1))[0] == pytest.approx(30, abs=HALF_PIXEL_MM)
    page.context.close()


def test_it_inverts_rotates_and_flips_the_drawn_image(chromium: Any, live_server: Any, phantoms: Phantoms) -> None:
    page = signed_in_phone(chromium, live_server)
    screen = open_viewer(page, viewer_url(live_server.url, phantoms, phantoms.ct))
    upright = greys(page, screen, [point for point, _ in SAMPLES])
    assert_drawn_where_expected(page, screen)

    page.click("#viewer-invert")
    page.wait_for_function("() => document.querySelector('#viewer').dataset.inverted === '1'")
    assert page.get_attribute("#viewer-invert", "aria-pressed") == "true"
    inverted = greys(page, screen, [point for point, _ in SAMPLES])
    assert all(abs(i - (255 - u)) <= 1 for i, u in zip(inverted, upright, strict=True)), (inverted, upright)
    page.click("#viewer-invert")
    page.wait_for_function("() => document.querySelector('#viewer').dataset.inverted === '0'")

    for button in ["rotate", "rotate", "mirror", "rotate", "flip"]:
        still = Screen(screen.left, screen.top, screen.width, screen.height, screen.dpr, list(screen.pressed))
        press(page, screen, button)
        assert_drawn_where_expected(page, screen)
        # Where the image was, it has changed: the bone is no longer where it was drawn.
        assert greys(page, still, [centre(phantom.BONE)]) != greys(page, screen, [centre(phantom.BONE)])
    screenshot(page, "reading-tools-3-turned")
    page.click("#viewer-invert")
    page.wait_for_function("() => document.querySelector('#viewer').dataset.inverted === '1'")
    assert_drawn_where_expected(page, screen, inverted=True)  # inverted and turned at once
    page.context.close()


def test_it_reads_hounsfield_units_under_the_finger_in_a_shared_exam(
    chromium: Any, live_server: Any, phantoms: Phantoms
) -> None:
    patient = User.objects.create(username=ALICE_PHONE, phone=ALICE_PHONE)
    share = create_share(phantoms.study, patient.pk, with_code=False)
    context = chromium.new_context(**PHONE, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{live_server.url}/s/{share.token}")
    page.click("button.primary")
    page.wait_for_url(f"**/s/x/studies/{phantoms.study.pk}/")
    screen = open_viewer(page, f"{live_server.url}/s/x/studies/{phantoms.study.pk}/view/?series={phantoms.ct.pk}")
    cdp = page.context.new_cdp_session(page)
    page.click("#viewer-tool-probe")
    assert page.inner_text("#viewer-probe-label") == "CT值"

    assert probe(page, cdp, screen, centre(phantom.WATER)) == ("0", "HU", "0 HU")
    assert probe(page, cdp, screen, (10, 180))[:2] == ("-1000", "HU")
    assert probe(page, cdp, screen, centre(phantom.BONE))[:2] == ("1000", "HU")
    press(page, screen, "rotate")  # the value is the pixel's under the finger, however the image is turned
    assert probe(page, cdp, screen, centre(phantom.FAT)) == ("-100", "HU", "-100 HU")
    screenshot(page, "reading-tools-4-hounsfield")
    context.close()


def test_it_measures_pixels_and_reads_plain_values_without_spacing_or_ct(
    chromium: Any, live_server: Any, phantoms: Phantoms
) -> None:
    page = signed_in_phone(chromium, live_server)
    screen = open_viewer(page, viewer_url(live_server.url, phantoms, phantoms.mr))
    cdp = page.context.new_cdp_session(page)
    page.click("#viewer-tool-measure")
    x0, _, x1, _ = phantom.WATER
    assert measure(page, cdp, screen, (x0, 80), (x1, 80)) == (pytest.approx(100, abs=1), "px")
    assert "100 像素（该图像没有以毫米计的像素尺寸）" in page.inner_text("#viewer-readout")  # the page is in Chinese
    page.click("#viewer-tool-probe")
    assert dataset(page)["ruler"] == ""  # the ruler went with its mode
    assert page.inner_text("#viewer-probe-label") == "数值"
    value, unit, text = probe(page, cdp, screen, centre(phantom.WATER))
    assert (value, unit) == ("0", "")
    assert "HU" not in text
    assert text.startswith("数值 0")
    page.context.close()


def test_it_labels_every_tool_and_shows_the_gesture_hint_once(
    chromium: Any, live_server: Any, phantoms: Phantoms
) -> None:
    page = signed_in_phone(chromium, live_server)
    page.goto(viewer_url(live_server.url, phantoms, phantoms.ct))
    page.wait_for_function("() => document.querySelector('#viewer')?.dataset.shown?.startsWith('1:')")
    assert page.locator("#viewer-hint").is_visible()
    assert "双指" in page.inner_text("#viewer-hint")  # the touch wording, in Chinese
    tools = page.evaluate(
        """() => [...document.querySelectorAll('.viewer-tools .viewer-tool')].map((button) => {
            const icon = button.querySelector('.viewer-icon').getBoundingClientRect();
            const label = button.querySelector('.viewer-label').getBoundingClientRect();
            const box = button.getBoundingClientRect();
            return {text: button.querySelector('.viewer-label').innerText, iconBottom: icon.bottom,
                    labelTop: label.top, labelHeight: label.height, left: box.left, right: box.right};
        })"""
    )
    assert len(tools) == 13
    for tool in tools:
        assert tool["text"], tool
        assert tool["labelHeight"] > 0, tool
        assert tool["labelTop"] >= tool["iconBottom"] - 1, tool  # under the icon
        assert tool["left"] >= 0, tool  # all on screen, none scrolled away
        assert tool["right"] <= 390, tool
    screenshot(page, "reading-tools-5-hint")

    page.click("#viewer-hint-close")
    assert not page.locator("#viewer-hint").is_visible()
    page.reload()
    page.wait_for_function("() => document.querySelector('#viewer')?.dataset.shown?.startsWith('1:')")
    assert not page.locator("#viewer-hint").is_visible()
    page.context.close()
