"""Render with DCMTK's dcmj2pnm, the reference renderer, and compare with ours."""

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image

from imaging.rendering import UnsupportedImage, render_frame


@dataclass(frozen=True)
class Comparison:
    name: str
    mode: str
    max_difference: int
    mean_difference: float
    shape: tuple[int, ...]


def dcmj2pnm(path: Path, *options: str) -> np.ndarray | None:
    """DCMTK's rendering of the first frame, or None when DCMTK cannot read the file."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out.png"
        result = subprocess.run(
            ["dcmj2pnm", "+on", "-O", *options, str(path), str(out)], capture_output=True, text=True, check=False
        )
        if result.returncode != 0 or not out.exists():
            return None
        with Image.open(out) as image:
            return np.asarray(image.convert("RGB") if image.mode not in ("L", "RGB") else image)


def greyscale_modes(ds: pydicom.Dataset) -> list[tuple[str, list[str], tuple[float, float] | None]]:
    """(label, dcmj2pnm options, our window) for each way a greyscale file is compared."""
    modes: list[tuple[str, list[str], tuple[float, float] | None]] = []
    has_window = "WindowCenter" in ds or _has_frame_window(ds)
    if has_window:
        modes.append(("file window", ["+Wi", "1"], None))
    elif "VOILUTSequence" not in ds:
        modes.append(("min-max", ["+Wm"], None))
    modes.append(("40/400", ["+Ww", "40", "400"], (40.0, 400.0)))
    modes.append(("100/1", ["+Ww", "100", "1"], (100.0, 1.0)))
    return modes


def _has_frame_window(ds: pydicom.Dataset) -> bool:
    for groups in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        try:
            if "FrameVOILUTSequence" in ds.get(groups)[0]:
                return True
        except (TypeError, IndexError, AttributeError):
            continue
    return False


def compare_file(path: Path) -> list[Comparison]:
    """Every comparison that applies to one file; empty when DCMTK or we cannot render it."""
    try:
        ds = pydicom.dcmread(path)
        photometric = str(ds.get("PhotometricInterpretation", "")).upper()
        if "PixelData" not in ds:
            return []
    except Exception:
        return []
    modes = greyscale_modes(ds) if photometric.startswith("MONOCHROME") else [("colour", [], None)]
    results = []
    for label, options, window in modes:
        reference = dcmj2pnm(path, *options)
        if reference is None:
            continue
        try:
            ours = render_frame(ds, 0, window=window)
        except (UnsupportedImage, NotImplementedError, RuntimeError, ValueError):
            continue
        if ours.shape != reference.shape:
            results.append(Comparison(path.name, label, 255, 255.0, ours.shape))
            continue
        difference = np.abs(ours.astype(np.int16) - reference.astype(np.int16))
        results.append(Comparison(path.name, label, int(difference.max()), float(difference.mean()), ours.shape))
    return results
