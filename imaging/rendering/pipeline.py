"""Display pixels from a DICOM dataset, by the standard: PS3.3 C.11 and PS3.4 N.2.

Pure functions over a pydicom dataset, with no Django in them. `render_frame`
is the entry point; the pipeline is, in order:

1. stored values: mask to Bits Stored, sign-extend when Pixel Representation is 1
   (PS3.5 8.1.1; pydicom's decoders do both);
2. Modality LUT: Rescale Slope/Intercept or the Modality LUT Sequence
   (PS3.3 C.11.1), per frame for enhanced multi-frame objects (C.7.6.16.2.9);
3. VOI: a window with its VOI LUT Function (LINEAR, LINEAR_EXACT, SIGMOID,
   C.11.2.1.2), or the VOI LUT Sequence, or, with neither, the frame's minimum
   and maximum modality values;
4. presentation: MONOCHROME1 and Presentation LUT Shape INVERSE invert
   (C.11.6);
5. colour: RGB as stored, YBR converted to RGB, PALETTE COLOR through its
   palettes (16-bit entries to 8), JPEG 2000 YBR_RCT/ICT as decoded.

For greyscale integer pixels steps 2-4 are folded into one lookup table over
every possible stored value, so a 512x512 16-bit frame costs one indexing.
Overlays are never burned in.
"""

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels.processing import apply_color_lut

from imaging.dicom import UnsupportedImage, decode_frame

RENDERER_VERSION = "1"
OUTPUT_MAX = 255.0
LUT_LIMIT = 1 << 17  # build a table when the stored value range is no larger than this
LOOKUP_CHUNK = 1 << 14  # values per np.take in _look_up: a 128 KiB intp copy of the index


@dataclass(frozen=True)
class Window:
    center: float
    width: float
    function: str = "LINEAR"


@dataclass(frozen=True)
class FrameTransform:
    """What turns a frame's stored values into display values (steps 2-4)."""

    slope: float
    intercept: float
    modality_lut: tuple[np.ndarray, int] | None
    window: Window | None
    voi_lut: tuple[np.ndarray, int, int] | None
    invert: bool


def render_frame(
    ds: Dataset,
    frame: int = 0,
    window: tuple[float, float] | None = None,
    voi_function: str | None = None,
    stored: np.ndarray | None = None,
) -> np.ndarray:
    """Display pixels of one frame: uint8, (rows, cols) greyscale or (rows, cols, 3) colour.

    `window=None` takes the file's first window (or the VOI LUT, or the frame's
    min-max); `window=(center, width)` overrides it, with `voi_function`
    (LINEAR, LINEAR_EXACT, SIGMOID) or else the file's function. `stored` is
    the frame's stored values when the caller decoded them already (from the
    frame alone, `imaging.dicom.frames`): `ds` is then the header, without pixel data.
    """
    if stored is None and "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise UnsupportedImage("the object holds no pixel data")
    frames = int(ds.get("NumberOfFrames") or 1)
    if not 0 <= frame < frames:
        raise UnsupportedImage(f"frame {frame} is out of range (the object has {frames})")
    photometric = str(ds.get("PhotometricInterpretation", "")).strip().upper()
    stored = decode_frame(ds, frame) if stored is None else stored
    if photometric in ("MONOCHROME1", "MONOCHROME2"):
        transform = frame_transform(ds, frame, window, voi_function, photometric)
        return render_greyscale(stored, transform, ds)
    return render_colour(ds, stored, photometric)


@dataclass(frozen=True)
class ModalityFrame:
    """A greyscale frame's modality values (steps 1-2), for windowing elsewhere (a browser)."""

    values: np.ndarray  # int16 when every value is a whole number that fits, else float32
    window: Window  # the file's window, or the frame's min-max
    invert: bool


def modality_frame(ds: Dataset, frame: int = 0, stored: np.ndarray | None = None) -> ModalityFrame:
    """Stored values through the Modality LUT (PS3.3 C.11.1), without VOI or presentation.

    Only for greyscale frames windowed by a center and width: a VOI LUT
    Sequence cannot be applied elsewhere by a window, so those raise. `stored`
    is the frame's stored values when `ds` is a header without pixel data, as
    in `render_frame`.
    """
    frames = int(ds.get("NumberOfFrames") or 1)
    photometric = str(ds.get("PhotometricInterpretation", "")).strip().upper()
    if photometric not in ("MONOCHROME1", "MONOCHROME2") or not 0 <= frame < frames:
        raise UnsupportedImage("only the frames of a greyscale image have modality values")
    transform = frame_transform(ds, frame, None, None, photometric)
    if transform.voi_lut is not None:
        raise UnsupportedImage("the image is windowed by a VOI LUT, not a center and width")
    modality = _modality(decode_frame(ds, frame) if stored is None else stored, transform)
    window = transform.window or _min_max_window(modality)
    if np.all(modality == np.rint(modality)) and modality.min() >= -32768 and modality.max() <= 32767:
        return ModalityFrame(np.asarray(modality, dtype="<i2"), window, transform.invert)
    return ModalityFrame(np.asarray(modality, dtype="<f4"), window, transform.invert)


# ---------------------------------------------------------------- greyscale


def frame_transform(
    ds: Dataset,
    frame: int,
    window: tuple[float, float] | None,
    voi_function: str | None,
    photometric: str,
) -> FrameTransform:
    slope, intercept = _rescale(ds, frame)
    modality_lut = _lut(ds.ModalityLUTSequence[0]) if "ModalityLUTSequence" in ds else None
    chosen: Window | None
    voi_lut = None
    if window is not None:
        function = (voi_function or _file_voi_function(ds, frame) or "LINEAR").upper()
        chosen = Window(float(window[0]), float(window[1]), function)
    else:
        chosen = _file_window(ds, frame)
        if voi_function and chosen is not None:
            chosen = Window(chosen.center, chosen.width, voi_function.upper())
        if chosen is None and "VOILUTSequence" in ds:
            table, first = _lut(ds.VOILUTSequence[0])
            bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
            voi_lut = (table, first, bits)
    shape = str(ds.get("PresentationLUTShape", "") or "").strip().upper()
    invert = (photometric == "MONOCHROME1") != (shape == "INVERSE")
    return FrameTransform(slope, intercept, modality_lut, chosen, voi_lut, invert)


def render_greyscale(stored: np.ndarray, transform: FrameTransform, ds: Dataset) -> np.ndarray:
    if stored.ndim != 2:
        raise UnsupportedImage(f"a greyscale frame of shape {stored.shape} cannot be shown")
    if stored.dtype.kind in "iu" and stored.dtype.itemsize <= 2:
        # One table over every value the type can hold, indexed by the unsigned view:
        # no subtraction, no widening, and the same table for every slice of a series.
        transform = _resolve_min_max(stored, transform)
        table = _full_range_table(stored.dtype.str, transform)
        return _look_up(table, stored.view(f"u{stored.dtype.itemsize}"))
    if stored.dtype.kind in "iu":
        low, high = int(stored.min()), int(stored.max())
        if high - low < LUT_LIMIT:
            values = np.arange(low, high + 1, dtype=np.int64)
            return _display(values, transform)[stored.astype(np.int64) - low]
    return _display(stored.astype(np.float64), transform)


def _look_up(table: np.ndarray, index: np.ndarray) -> np.ndarray:
    """`table[index]` for an unsigned 8 or 16-bit index and a table over all its values.

    np.take first copies its index to intp: for a 512x512 frame a 2 MiB block
    that malloc often maps afresh, so that each of its pages faults (several
    times the lookup's own cost: docs/architecture.md, "Figures the imaging code rests on").
    In chunks the copies stay small.
    """
    out = np.empty(index.shape, dtype=table.dtype)
    flat, into = index.reshape(-1), out.reshape(-1)
    for start in range(0, flat.size, LOOKUP_CHUNK):
        end = start + LOOKUP_CHUNK
        # No index can leave the table. "wrap", unlike "raise", writes straight
        # into out, and checks less than "clip".
        np.take(table, flat[start:end], out=into[start:end], mode="wrap")
    return out


def _resolve_min_max(stored: np.ndarray, transform: FrameTransform) -> FrameTransform:
    """With neither window nor VOI LUT, the window is the frame's modality range."""
    if transform.window is not None or transform.voi_lut is not None:
        return transform
    ends = _modality(np.array([stored.min(), stored.max()], dtype=np.int64), transform)
    return dataclasses.replace(transform, window=_min_max_window(ends))


def _full_range_table(dtype: str, transform: FrameTransform) -> np.ndarray:
    if transform.modality_lut is None and transform.voi_lut is None:
        key = (dtype, transform.slope, transform.intercept, transform.window, transform.invert)
        return _cached_table(*key)
    return _display(_all_values(dtype), transform)


@functools.lru_cache(maxsize=64)
def _cached_table(dtype: str, slope: float, intercept: float, window: Window | None, invert: bool) -> np.ndarray:
    transform = FrameTransform(slope, intercept, None, window, None, invert)
    return _display(_all_values(dtype), transform)


def _all_values(dtype: str) -> np.ndarray:
    """Every value of an 8 or 16-bit type, in the order of its unsigned view."""
    itemsize = np.dtype(dtype).itemsize
    return np.arange(1 << (8 * itemsize), dtype=np.int64).astype(f"u{itemsize}").view(dtype).astype(np.int64)


def _display(stored: np.ndarray, transform: FrameTransform) -> np.ndarray:
    """Stored values (any shape) to display values 0-255: modality, VOI, presentation."""
    modality = _modality(stored, transform)
    if transform.voi_lut is not None:
        table, first, bits = transform.voi_lut
        index = np.clip(np.rint(modality).astype(np.int64) - first, 0, len(table) - 1)
        scaled = table[index].astype(np.float64) * OUTPUT_MAX / float((1 << bits) - 1)
    else:
        window = transform.window or _min_max_window(modality)
        scaled = apply_window(modality, window)
    display = np.clip(np.floor(scaled + 0.5), 0, OUTPUT_MAX).astype(np.uint8)
    return (255 - display) if transform.invert else display


def _modality(stored: np.ndarray, transform: FrameTransform) -> np.ndarray:
    if transform.modality_lut is not None:
        table, first = transform.modality_lut
        index = np.clip(stored.astype(np.int64) - first, 0, len(table) - 1)
        return table[index].astype(np.float64)
    return stored * transform.slope + transform.intercept


def apply_window(x: np.ndarray, window: Window) -> np.ndarray:
    """PS3.3 C.11.2.1.2: LINEAR, LINEAR_EXACT and SIGMOID onto 0-255 (unrounded)."""
    c, w = window.center, window.width
    y_min, y_max = 0.0, OUTPUT_MAX
    if window.function == "SIGMOID":
        if w <= 0:
            raise UnsupportedImage(f"a SIGMOID window needs a positive width, not {w}")
        return (y_max - y_min) / (1.0 + np.exp(-4.0 * (x - c) / w)) + y_min
    if window.function == "LINEAR_EXACT":
        if w <= 0:
            raise UnsupportedImage(f"a LINEAR_EXACT window needs a positive width, not {w}")
        y = ((x - c) / w + 0.5) * (y_max - y_min) + y_min
        return np.where(x <= c - w / 2, y_min, np.where(x > c + w / 2, y_max, y))
    if w < 1:
        raise UnsupportedImage(f"a LINEAR window needs a width of at least 1, not {w}")
    if w == 1:  # C.11.2.1.2.1: a threshold at c - 0.5
        return np.where(x <= c - 0.5, y_min, y_max)
    y = ((x - (c - 0.5)) / (w - 1) + 0.5) * (y_max - y_min) + y_min
    lower, upper = c - 0.5 - (w - 1) / 2, c - 0.5 + (w - 1) / 2
    return np.where(x <= lower, y_min, np.where(x > upper, y_max, y))


def _min_max_window(modality: np.ndarray) -> Window:
    """The full range of the frame's modality values, as DCMTK's min-max window."""
    low, high = float(modality.min()), float(modality.max())
    return Window((low + high) / 2.0 + 0.5, max(high - low + 1.0, 1.0), "LINEAR")


def _lut(item: Dataset) -> tuple[np.ndarray, int]:
    """A LUT Sequence item (C.11.1.1.1): its data and the first value it maps."""
    descriptor = [int(v) for v in item.LUTDescriptor]
    entries = descriptor[0] or 65536
    first = descriptor[1]
    data = item.LUTData
    if isinstance(data, bytes | bytearray):
        dtype = "<u2" if descriptor[2] > 8 or len(data) == 2 * entries else "u1"
        table = np.frombuffer(data, dtype=dtype)
    else:
        table = np.asarray(list(data) if isinstance(data, MultiValue | list) else [data], dtype=np.float64)
    if item.get("LUTDescriptor") is not None and first > 32767 and item.get("ModalityLUTType") is None:
        first -= 65536  # US descriptor holding a signed first value (C.11.1.1.1)
    return table[:entries].astype(np.float64), first


def _functional_item(ds: Dataset, frame: int, sequence: str) -> Dataset | None:
    """A functional group macro for a frame: per-frame first, then shared (C.7.6.16)."""
    for groups, index in (("PerFrameFunctionalGroupsSequence", frame), ("SharedFunctionalGroupsSequence", 0)):
        try:
            item = ds.get(groups)[index]
            if sequence in item and item.get(sequence):
                found: Dataset = item.get(sequence)[0]
                return found
        except (TypeError, IndexError, AttributeError, KeyError):
            continue
    return None


def _first(value: Any) -> float:
    if isinstance(value, MultiValue | list | tuple):
        value = value[0]
    return float(value)


def _rescale(ds: Dataset, frame: int) -> tuple[float, float]:
    source: Dataset | None = ds
    if "RescaleSlope" not in ds and "RescaleIntercept" not in ds:
        source = _functional_item(ds, frame, "PixelValueTransformationSequence")
    if source is None:
        return 1.0, 0.0
    slope = source.get("RescaleSlope")
    intercept = source.get("RescaleIntercept")
    slope_value = _first(slope) if slope not in (None, "") else 1.0
    intercept_value = _first(intercept) if intercept not in (None, "") else 0.0
    return slope_value, intercept_value


def _file_voi_function(ds: Dataset, frame: int) -> str | None:
    source: Dataset | None = ds if "WindowCenter" in ds else _functional_item(ds, frame, "FrameVOILUTSequence")
    if source is None:
        return None
    function = str(source.get("VOILUTFunction", "") or "").strip().upper()
    return function if function in ("LINEAR", "LINEAR_EXACT", "SIGMOID") else None


def _file_window(ds: Dataset, frame: int) -> Window | None:
    source: Dataset | None = ds if "WindowCenter" in ds else _functional_item(ds, frame, "FrameVOILUTSequence")
    if source is None:
        return None
    try:
        center, width = _first(source.WindowCenter), _first(source.WindowWidth)
    except (AttributeError, TypeError, ValueError, IndexError):
        return None
    if not (math.isfinite(center) and math.isfinite(width)) or width <= 0:
        return None
    return Window(center, width, _file_voi_function(ds, frame) or "LINEAR")


def file_windows(ds: Dataset) -> list[tuple[float, float, str]]:
    """Every window the file names, with its explanation, for window buttons."""
    source: Dataset | None = ds if "WindowCenter" in ds else _functional_item(ds, 0, "FrameVOILUTSequence")
    if source is None or "WindowCenter" not in source or "WindowWidth" not in source:
        return []
    centers, widths = source.WindowCenter, source.WindowWidth
    centers = list(centers) if isinstance(centers, MultiValue | list) else [centers]
    widths = list(widths) if isinstance(widths, MultiValue | list) else [widths]
    explanations = source.get("WindowCenterWidthExplanation") or []
    explanations = list(explanations) if isinstance(explanations, MultiValue | list) else [explanations]
    windows = []
    for index, (center, width) in enumerate(zip(centers, widths, strict=False)):
        label = str(explanations[index]) if index < len(explanations) else ""
        windows.append((float(center), float(width), label))
    return windows


# ---------------------------------------------------------------- colour


def render_colour(ds: Dataset, pixels: np.ndarray, photometric: str) -> np.ndarray:
    """RGB display pixels (C.7.6.3.1.2): pydicom has already turned YBR into RGB."""
    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(pixels, _palette_little_endian(ds))
        bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
        return _to_8_bits(rgb, bits)
    if photometric not in ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420"):
        raise UnsupportedImage(f"photometric interpretation {photometric or '(none)'} is not supported")
    if pixels.ndim != 3 or pixels.shape[-1] != 3:
        raise UnsupportedImage(f"a colour frame of shape {pixels.shape} cannot be shown")
    return _to_8_bits(pixels, int(ds.get("BitsStored") or 8))


PALETTE_DATA = ("RedPaletteColorLookupTableData", "GreenPaletteColorLookupTableData", "BluePaletteColorLookupTableData")


def _palette_little_endian(ds: Dataset) -> Dataset:
    """The palette of `ds` with its LUT Data (OW, PS3.3 C.7.6.3.1.6) in little-endian words.

    pydicom keeps OW values as the file's bytes and its `apply_color_lut` reads
    16-bit entries in the machine's (little-endian) order: a palette from an
    Explicit VR Big Endian file came out with each entry's bytes swapped.
    """
    if _little_endian(ds) or not all(name in ds for name in PALETTE_DATA):
        return ds
    palette = Dataset()
    for keyword in ("Red", "Green", "Blue"):
        palette[f"{keyword}PaletteColorLookupTableDescriptor"] = ds[f"{keyword}PaletteColorLookupTableDescriptor"]
        data = bytes(ds[f"{keyword}PaletteColorLookupTableData"].value)
        entries = int(ds[f"{keyword}PaletteColorLookupTableDescriptor"].value[0]) or 1 << 16
        swapped = np.frombuffer(data, dtype=">u2").astype("<u2").tobytes() if len(data) == 2 * entries else data
        palette.add_new(f"{keyword}PaletteColorLookupTableData", "OW", swapped)
    return palette


def _little_endian(ds: Dataset) -> bool:
    """How the dataset was encoded: its file meta's transfer syntax, else how pydicom read it."""
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is not None:
        return bool(syntax.is_little_endian)
    return ds.original_encoding[1] is not False


def _to_8_bits(pixels: np.ndarray, bits: int) -> np.ndarray:
    if bits <= 8:
        return pixels.astype(np.uint8)
    return np.clip(np.floor(pixels.astype(np.float64) * OUTPUT_MAX / ((1 << bits) - 1) + 0.5), 0, 255).astype(np.uint8)
