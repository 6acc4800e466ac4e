"""The reading tools' arithmetic (static/js/viewer/measure.js, in Chromium): views, lengths, values.

The module is pure and shared with a clinicians' reading view, so it is held
here on its own: a screen point and its image point map back and forth in
every orientation; a quarter turn is clockwise and the flips mirror what is on
screen whatever the turn; a length is in mm from Pixel Spacing (rows and
columns apart) and in pixels without it, whatever the view; the value under a
point is its pixel's, and only CT's values are HU.
"""

import itertools
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.support.browser import static_page

pytestmark = pytest.mark.browser

STATIC = Path(settings.BASE_DIR) / "static"
MODULE = "/static/js/viewer/measure.js"

# Every orientation, reached by the buttons: n quarter turns, then a mirror or not.
ORIENTATIONS = """async () => {
    const m = await import('/static/js/viewer/measure.js');
    const out = [];
    for (const flipped of [false, true]) {
        let o = flipped ? m.flipHorizontal(m.UPRIGHT) : m.UPRIGHT;
        for (let k = 0; k < 4; k++) { out.push(o); o = m.rotateClockwise(o); }
    }
    return out;
}"""


@pytest.fixture(scope="module")
def page(chromium: Any) -> Iterator[Any]:
    yield from static_page(chromium, STATIC)


def call(page: Any, body: str, *args: Any) -> Any:
    """`body` run as an async function of the module `m` and `args`."""
    script = f"async (args) => {{ const m = await import('{MODULE}'); return (({body}))(m, ...args); }}"
    return page.evaluate(script, list(args))


def view(orientation: dict[str, Any], **fields: float) -> dict[str, Any]:
    defaults = {"width": 200, "height": 100, "scale": 2, "centerX": 200, "centerY": 300}
    return {**defaults, **fields, "orientation": orientation}


def test_it_maps_a_screen_point_back_to_its_image_point_in_every_orientation(page: Any) -> None:
    orientations = page.evaluate(ORIENTATIONS)
    points = [(0, 0), (200, 100), (12.25, 87.5), (199.9, 0.1)]
    for orientation, scale, center in itertools.product(orientations, [0.37, 1, 3.5], [(195, 422.5), (-40, 10)]):
        v = view(orientation, scale=scale, centerX=center[0], centerY=center[1])
        back = call(
            page,
            "(m, v, points) => points.map(([x, y]) => { const s = m.imageToScreen(v, x, y); "
            "return m.screenToImage(v, s.x, s.y); })",
            v,
            points,
        )
        assert [(p["x"], p["y"]) for p in back] == [pytest.approx(p, abs=1e-9) for p in points], orientation


def corner_on_screen(page: Any, changes: list[str], corner: tuple[float, float] = (0, 0)) -> tuple[float, float]:
    """Where an image corner lands after these button presses, for a 200 x 100 image centred at (200, 300),
    2 screen pixels a pixel."""
    point = call(
        page,
        "(m, changes, corner, v) => { let o = m.UPRIGHT; "
        "for (const c of changes) o = m[c](o); return m.imageToScreen({...v, orientation: o}, ...corner); }",
        changes,
        corner,
        view({}),
    )
    return point["x"], point["y"]


def test_it_turns_a_quarter_clockwise_and_mirrors_what_is_on_screen(page: Any) -> None:
    # Upright the image spans x 0..400 and y 200..400; its top-left corner is at (0, 200).
    assert corner_on_screen(page, []) == (0, 200)
    # A quarter turn clockwise: the image stands 200 wide and 400 tall, its top-left corner at the top right.
    assert corner_on_screen(page, ["rotateClockwise"]) == (300, 100)
    assert corner_on_screen(page, ["rotateClockwise", "rotateClockwise"]) == (400, 400)
    assert corner_on_screen(page, ["rotateClockwise"] * 3) == (100, 500)
    # Mirrored left to right, and flipped top to bottom, as seen.
    assert corner_on_screen(page, ["flipHorizontal"]) == (400, 200)
    assert corner_on_screen(page, ["flipVertical"]) == (0, 400)
    # After a turn the buttons still act on the screen: the corner at the top right goes to the top left...
    assert corner_on_screen(page, ["rotateClockwise", "flipHorizontal"]) == (100, 100)
    # ...or to the bottom right; and a mirrored image turns clockwise too.
    assert corner_on_screen(page, ["rotateClockwise", "flipVertical"]) == (300, 500)
    assert corner_on_screen(page, ["flipHorizontal", "rotateClockwise"]) == (300, 500)


def test_it_comes_back_upright_after_four_turns_or_two_flips(page: Any) -> None:
    upright = {"quarterTurns": 0, "flipped": False}
    for changes in (["rotateClockwise"] * 4, ["flipHorizontal"] * 2, ["flipVertical"] * 2):
        orientation = call(page, "(m, changes) => changes.reduce((o, c) => m[c](o), m.UPRIGHT)", changes)
        assert orientation == upright, changes
    both = call(page, "(m) => m.flipVertical(m.flipHorizontal(m.UPRIGHT))")
    assert both == {"quarterTurns": 2, "flipped": False}  # mirrored and flipped: half a turn


def test_it_fits_an_image_on_its_side_by_its_turned_size(page: Any) -> None:
    fit = "(m, o) => m.fitScale(o, 200, 100, 400, 800)"
    assert call(page, fit, {"quarterTurns": 0, "flipped": False}) == 2  # 400 / 200
    assert call(page, fit, {"quarterTurns": 1, "flipped": True}) == 4  # 400 / 100, 800 / 200


def length(page: Any, changes: list[str], start: tuple[float, float], end: tuple[float, float], spacing: Any) -> Any:
    """The ruler dragged between two screen points of a view turned by `changes`, zoomed 3.5 and panned."""
    return call(
        page,
        "(m, changes, start, end, spacing, v) => { let o = m.UPRIGHT; for (const c of changes) o = m[c](o); "
        "const w = {...v, orientation: o}; const a = m.screenToImage(w, ...start); "
        "const b = m.screenToImage(w, ...end); return m.distance(a, b, m.spacingFrom(spacing)); }",
        changes,
        start,
        end,
        spacing,
        view({}, scale=3.5, centerX=170, centerY=260),
    )


def test_it_measures_in_mm_across_rows_and_columns_whatever_the_view(page: Any) -> None:
    spacing = [0.5, 0.25]  # 0.5 mm between rows, 0.25 mm between columns
    sideways = ((100, 300), (170, 300))  # 70 screen pixels: 20 pixels of the image at 3.5
    assert length(page, [], *sideways, spacing) == {"value": pytest.approx(5), "unit": "mm"}  # across columns
    assert length(page, ["rotateClockwise"], *sideways, spacing) == {"value": pytest.approx(10), "unit": "mm"}
    assert length(page, ["flipHorizontal"], *sideways, spacing) == {"value": pytest.approx(5), "unit": "mm"}
    assert length(page, ["rotateClockwise", "flipVertical"], *sideways, spacing)["value"] == pytest.approx(10)
    slanted = ((100, 300), (142, 356))  # 12 columns and 16 rows apart, upright
    assert length(page, [], *slanted, spacing)["value"] == pytest.approx(math.hypot(12 * 0.25, 16 * 0.5))
    assert length(page, ["rotateClockwise"], *slanted, spacing)["value"] == pytest.approx(math.hypot(12 * 0.5, 4))


@pytest.mark.parametrize("spacing", [None, [], [0.5], [0, 0.5], [-1, 1], ["a", 1], [0.5, None], "0.5\\0.5"])
def test_it_measures_in_pixels_without_a_usable_pixel_spacing(page: Any, spacing: Any) -> None:
    assert length(page, ["rotateClockwise"], (100, 300), (142, 356), spacing) == {
        "value": pytest.approx(20),
        "unit": "px",
    }


def test_it_reads_the_value_of_the_pixel_under_a_point(page: Any) -> None:
    values = call(
        page,
        "(m, points) => { const raw = {rows: 2, columns: 3, data: Int16Array.from([-1000, 0, 40, 7, -1, 3071])}; "
        "return points.map(([x, y]) => m.valueAt(raw, x, y)); }",
        [(0, 0), (2.99, 0.5), (1.5, 1.99), (0, 1), (3, 0), (-0.01, 0), (0, 2), (float("nan"), 0)],
    )
    assert values == [-1000, 40, -1, 7, None, None, None, None]


def test_it_calls_only_cts_values_hounsfield_units(page: Any) -> None:
    units = call(page, "(m, modalities) => modalities.map(m.valueUnit)", ["CT", "ct", "MR", "PT", "", None])
    assert units == ["HU", "HU", "", "", "", ""]
