"""The viewer's windowing (static/js/viewer/windowing.js, in Chromium) gives the server's greys.

The server's renders are the reference (imaging.rendering, itself held to DCMTK's
dcmj2pnm): a window dragged in the browser must show what the server would
render at that window. The same modality values and windows go to
`render_greyscale` and to the module's `windowInto` (the viewer's path for
every raw frame) and `rangeWindow` (its min-max window); the greys must be
equal, value for value. Then whole objects: `render_frame` against the module
fed what the raw values view sends (`modality_frame`): equal, but for float
values, which go as float32 while the server renders from float64 (one grey
level apart at a tie).
"""

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings
from pydicom.dataset import Dataset

from imaging.rendering import FrameTransform, Window, modality_frame, render_frame, render_greyscale
from tests.support.browser import static_page
from tests.support.dicom import ct_slice

pytestmark = [
    pytest.mark.browser,
    # np.exp overflows for values far from a narrow SIGMOID window; 255 / (1 + inf) is 0, as it should be.
    pytest.mark.filterwarnings("ignore:overflow encountered in exp:RuntimeWarning"),
]

STATIC = Path(settings.BASE_DIR) / "static"

# The viewer's path for a raw frame: its greys at a window, or at its min-max window when none is given.
# Values and greys travel as base64 of their little-endian bytes (this machine's order, as the viewer's).
WINDOW_IN_BROWSER = """async ([dtype, bytes, voi, invert, window]) => {
    const w = await import('/static/js/viewer/windowing.js');
    const buffer = Uint8Array.from(atob(bytes), (c) => c.charCodeAt(0)).buffer;
    const raw = { data: new w.RAW_TYPES[dtype].Array(buffer), dtype, voi, invert, range: null };
    const { center, width } = window ? { center: window[0], width: window[1] } : w.rangeWindow(raw);
    const out = new Uint32Array(raw.data.length);
    w.windowInto(out, raw, center, width);
    const greys = Uint8Array.from(out, (pixel) => (pixel >>> 8) & 0xff);
    let text = '';
    for (let i = 0; i < greys.length; i += 8192) text += String.fromCharCode(...greys.subarray(i, i + 8192));
    return { window: [center, width], greys: btoa(text) };
}"""

FULL_RANGE = {
    "int16": np.arange(-32768, 32768, dtype=np.int16),
    "uint16": np.arange(0, 65536, dtype=np.uint16),
    "int8": np.arange(-128, 128, dtype=np.int8),
    "uint8": np.arange(0, 256, dtype=np.uint8),
}


@dataclass(frozen=True)
class Case:
    dtype: str
    center: float
    width: float
    function: str = "LINEAR"
    invert: bool = False  # MONOCHROME1

    def __str__(self) -> str:
        shown = f"{self.dtype} {self.function} {self.center:g}/{self.width:g}"
        return shown + (" inverted" if self.invert else "")


CASES = [
    Case("int16", 40, 400),  # CT soft tissue
    Case("int16", -600, 1500),  # lung
    Case("int16", 40, 1),  # width 1: a threshold at c - 0.5 (C.11.2.1.2.1)
    Case("int16", 40.5, 1),
    Case("int16", 40, 2),
    Case("int16", 40, 3),
    Case("int16", 40, 255),  # odd
    Case("int16", 40, 256),  # even
    Case("int16", 40.25, 101),  # fractional centre
    Case("int16", -1023.5, 37.5),  # fractional width
    Case("int16", 0, 65536),
    Case("int16", 40, 400, "LINEAR_EXACT"),
    Case("int16", 40, 1, "LINEAR_EXACT"),
    Case("int16", 40.5, 2, "LINEAR_EXACT"),
    Case("int16", 40.25, 255, "LINEAR_EXACT"),
    Case("int16", 40, 400, "SIGMOID"),
    Case("int16", -600, 1500, "SIGMOID"),
    Case("int16", 40.5, 1, "SIGMOID"),
    Case("int16", 40, 400, invert=True),
    Case("int16", 40, 1, invert=True),
    Case("int16", 40, 400, "LINEAR_EXACT", invert=True),
    Case("int16", 40, 400, "SIGMOID", invert=True),
    Case("uint16", 2048, 4096),  # 12 bits
    Case("uint16", 32767.5, 65536),
    Case("uint16", 1000, 1, invert=True),
    Case("uint16", 2047.5, 4095, "LINEAR_EXACT"),
    Case("uint16", 30000, 20000, "SIGMOID", invert=True),
    Case("int8", 0, 100),
    Case("int8", -0.5, 2, invert=True),
    Case("int8", 0, 256, "LINEAR_EXACT"),
    Case("int8", 10, 50, "SIGMOID"),
    Case("uint8", 127.5, 256),
    Case("uint8", 128, 255, invert=True),
    Case("uint8", 127.5, 255, "LINEAR_EXACT"),
    Case("uint8", 100, 40, "SIGMOID", invert=True),
    Case("float32", 40, 400),
    Case("float32", 0.5, 1),
    Case("float32", 40, 2, invert=True),
    Case("float32", 40.25, 101),
    Case("float32", 0.25, 0.5, "LINEAR_EXACT"),  # only LINEAR needs a width of 1 or more
    Case("float32", -600, 1500, "LINEAR_EXACT", invert=True),
    Case("float32", 3.75, 2.5, "SIGMOID"),
]


@dataclass(frozen=True)
class RangeCase:
    name: str
    values: np.ndarray
    invert: bool = False

    def __str__(self) -> str:
        return self.name


RANGE_CASES = [
    RangeCase("int16 full range", FULL_RANGE["int16"]),
    RangeCase("int16 CT", np.arange(-1024, 3072, dtype=np.int16)),
    RangeCase("int16 CT inverted", np.arange(-1024, 3072, dtype=np.int16), invert=True),
    RangeCase("int16 one value", np.full(64, 100, dtype=np.int16)),
    RangeCase("uint16 12 bits", np.arange(0, 4096, dtype=np.uint16)),
    RangeCase("uint16 full range", FULL_RANGE["uint16"]),
    RangeCase("int8 an odd span", np.arange(-7, 100, dtype=np.int8)),
    RangeCase("uint8 full range", FULL_RANGE["uint8"]),
    RangeCase("float32 whole ends", np.linspace(-1000, 3000, 4001, dtype=np.float32)),
    RangeCase("float32 fractional ends", np.linspace(-0.37, 2.71, 3001, dtype=np.float32)),
    RangeCase("float32 fractional ends inverted", np.linspace(-12.34, 56.78, 3001, dtype=np.float32), invert=True),
    RangeCase("float32 under one apart", np.linspace(0.1, 0.6, 501, dtype=np.float32)),
]


@pytest.fixture(scope="module")
def page(chromium: Any) -> Iterator[Any]:
    yield from static_page(chromium, STATIC)


def float_values(center: float, width: float) -> np.ndarray:
    """Values across the window and beyond, with each end of its ramp and the floats either side."""
    ends = [center - width / 2, center + width / 2, center - 0.5, center - 0.5 - (width - 1) / 2]
    ends += [center - 0.5 + (width - 1) / 2, center]
    exact = np.array(ends, dtype=np.float32)
    around = [np.nextafter(exact, np.float32(-np.inf)), exact, np.nextafter(exact, np.float32(np.inf))]
    spread = np.linspace(center - 3 * width, center + 3 * width, 6001, dtype=np.float32)
    return np.concatenate([spread, *around]).astype(np.float32)


def values_of(case: Case) -> np.ndarray:
    return FULL_RANGE[case.dtype] if case.dtype in FULL_RANGE else float_values(case.center, case.width)


def in_python(values: np.ndarray, window: Window | None, invert: bool) -> np.ndarray:
    """The server's greys of modality values (rescale 1, 0): a window, or None for the frame's min-max."""
    transform = FrameTransform(1.0, 0.0, None, window, None, invert)
    return render_greyscale(values.reshape(1, -1), transform, Dataset()).reshape(-1)


@dataclass(frozen=True)
class Shown:
    window: list[float]  # the browser's (center, width)
    greys: np.ndarray


def in_browser(page: Any, values: np.ndarray, voi: str, invert: bool, window: tuple[float, float] | None) -> Shown:
    little_endian = values.astype(values.dtype.newbyteorder("<"), copy=False).tobytes()
    arguments = [values.dtype.name, base64.b64encode(little_endian).decode(), voi, invert, window]
    result = page.evaluate(WINDOW_IN_BROWSER, arguments)
    return Shown(result["window"], np.frombuffer(base64.b64decode(result["greys"]), dtype=np.uint8))


def differences(values: np.ndarray, browser: np.ndarray, server: np.ndarray) -> list[tuple[float, int, int]]:
    """(value, browser's grey, server's grey) where they differ, the first ten."""
    found = np.flatnonzero(browser != server)
    return [(values[i].item(), int(browser[i]), int(server[i])) for i in found[:10]]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_it_windows_as_the_server_does(page: Any, case: Case) -> None:
    values = values_of(case)
    server = in_python(values, Window(case.center, case.width, case.function), case.invert)
    browser = in_browser(page, values, case.function, case.invert, (case.center, case.width))
    assert differences(values, browser.greys, server) == []


@pytest.mark.parametrize("case", RANGE_CASES, ids=str)
def test_it_takes_the_servers_min_max_window_for_a_frame_without_one(page: Any, case: RangeCase) -> None:
    server = in_python(case.values, None, case.invert)
    browser = in_browser(page, case.values, "LINEAR", case.invert, None)
    low, high = float(case.values.min()), float(case.values.max())
    assert browser.window == [(low + high) / 2 + 0.5, max(high - low + 1, 1)]
    assert differences(case.values, browser.greys, server) == []


# ---------------------------------------------------------------- whole objects, as the raw values view sends them


def image(stored: np.ndarray, photometric: str = "MONOCHROME2", **attributes: str) -> Dataset:
    """A CT image's modules with these stored values (16 bits), photometric and attributes, and no rescale
    or window unless given."""
    ds = ct_slice()
    for name in ("RescaleSlope", "RescaleIntercept", "WindowCenter", "WindowWidth"):
        del ds[name]
    ds.Rows, ds.Columns = stored.shape
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = int(stored.dtype.kind == "i")
    ds.PhotometricInterpretation = photometric
    ds.PixelData = stored.astype("<i2" if stored.dtype.kind == "i" else "<u2").tobytes()
    for name, value in attributes.items():
        setattr(ds, name, value)
    return ds


CT_STORED = np.arange(0, 4096, dtype=np.uint16).reshape(64, 64).astype(np.int16)
OBJECTS = {
    "CT, intercept -1024, its window": image(
        CT_STORED, RescaleSlope="1", RescaleIntercept="-1024", WindowCenter="40", WindowWidth="400"
    ),
    "signed full range, no window": image(FULL_RANGE["int16"].reshape(256, 256)),
    "unsigned full range, no window (float values)": image(FULL_RANGE["uint16"].reshape(256, 256)),
    "unsigned, intercept -32768, no window": image(
        FULL_RANGE["uint16"].reshape(256, 256), RescaleSlope="1", RescaleIntercept="-32768"
    ),
    "MONOCHROME1, SIGMOID window": image(
        CT_STORED.astype(np.uint16), "MONOCHROME1", WindowCenter="2048", WindowWidth="4096", VOILUTFunction="SIGMOID"
    ),
    "LINEAR_EXACT window, Presentation LUT Shape INVERSE": image(
        CT_STORED,
        WindowCenter="1000.5",
        WindowWidth="333",
        VOILUTFunction="LINEAR_EXACT",
        PresentationLUTShape="INVERSE",
    ),
    "slope 0.37, intercept 0.5 (float values), its window": image(
        CT_STORED, RescaleSlope="0.37", RescaleIntercept="0.5", WindowCenter="300.25", WindowWidth="600"
    ),
    "slope 0.37, intercept 0.5 (float values), no window": image(
        CT_STORED, RescaleSlope="0.37", RescaleIntercept="0.5"
    ),
}
DRAGGED = [None, (40.0, 400.0), (-600.0, 1500.0), (100.0, 1.0), (1234.5, 2.0)]


@pytest.mark.parametrize("name", OBJECTS)
@pytest.mark.parametrize("window", DRAGGED, ids=lambda w: "its own window" if w is None else f"{w[0]:g}/{w[1]:g}")
def test_it_shows_an_object_as_the_server_renders_it(page: Any, name: str, window: tuple[float, float] | None) -> None:
    """The viewer's file window is the manifest's (the object's own), else the raw frame's min-max."""
    ds = OBJECTS[name]
    sent = modality_frame(ds)
    own = (sent.window.center, sent.window.width) if "WindowCenter" in ds else None
    values = sent.values.reshape(-1)
    browser = in_browser(page, values, sent.window.function, sent.invert, window or own)
    server = render_frame(ds, 0, window=window).reshape(-1)
    if values.dtype.kind != "f":
        if window is None and own is None:
            assert browser.window == [sent.window.center, sent.window.width]
        assert differences(values, browser.greys, server) == []
        return
    # Float values go as float32, and the server renders from float64: where a grey is a tie in
    # one (179.95 at 300.25/600 is 76.5) the other may round it the other way, and the min-max
    # window moves by float32's rounding of the frame's ends. On the values sent, the greys are equal.
    as_sent = Window(*browser.window, sent.window.function) if window or own else None
    if as_sent is None:
        assert browser.window == pytest.approx([sent.window.center, sent.window.width], rel=1e-7)
    assert differences(values, browser.greys, in_python(values, as_sent, sent.invert)) == []
    assert np.abs(browser.greys.astype(int) - server.astype(int)).max() <= 1
