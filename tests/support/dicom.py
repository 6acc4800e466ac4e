"""Small synthetic DICOM objects for tests, built on imaging.synthetic."""

import datetime as dt
from pathlib import Path

import numpy as np
import pydicom.data
from pydicom.dataset import Dataset

from imaging import synthetic
from imaging.synthetic import PatientSpec, StudySpec

ALICE = PatientSpec("PID-ALICE", "Alice^Test", "F", dt.date(1980, 1, 2), "13800000001")
BOB = PatientSpec("PID-BOB", "Bob^Test", "M", dt.date(1975, 5, 6), "13800000002")
# A name as Chinese hospitals write it: pinyin, then the characters (PS3.5 6.2.1: alphabetic=ideographic).
ZHANG = PatientSpec("PID-ZHANG", "Zhang^San=张^三", "M", dt.date(1960, 6, 15), "13800000008")


def study_spec(key: str = "s1", patient: PatientSpec = ALICE, date: dt.date = dt.date(2026, 1, 5)) -> StudySpec:
    return StudySpec(key, patient, date, dt.time(10, 0), f"ACC-{key}", f"Test study {key}")


def ct_slice(
    study: StudySpec | None = None,
    number: int = 1,
    z: float | None = None,
    size: int = 16,
    series_key: str = "ct",
    orientation: tuple[float, ...] = (1, 0, 0, 0, 1, 0),
) -> Dataset:
    """A small CT image; `z` is the position along the slice normal."""
    study = study or study_spec()
    ds = synthetic.base_dataset(study, synthetic.CT_IMAGE, series_key, 2, number, "CT")
    ds.SeriesDescription = "Test CT"
    ds.BodyPartExamined = "CHEST"
    rx, ry, rz, cx, cy, cz = orientation
    normal = np.cross([rx, ry, rz], [cx, cy, cz])
    position = normal * (z if z is not None else float(number))
    ds.ImagePositionPatient = [float(v) for v in position]
    ds.ImageOrientationPatient = list(orientation)
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.WindowCenter = "40"
    ds.WindowWidth = "400"
    pixels = (np.arange(size * size).reshape(size, size) * 7 + number) % 2000
    synthetic._grey_image(ds, pixels.astype(np.int16), 16, signed=True)
    return synthetic.with_file_meta(ds)


def ct_bytes(**kwargs: object) -> bytes:
    return synthetic.to_bytes(ct_slice(**kwargs))  # type: ignore[arg-type]


def stored_files(root: Path) -> list[Path]:
    """The DICOM objects (not renders) under a storage root, temporary files included."""
    folder = root / "dicom"
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def bundled_files() -> list[Path]:
    """pydicom's own test files, as installed; `get_testdata_files` would also try to download others."""
    folder = Path(pydicom.data.__file__).parent / "test_files"
    return sorted(path for path in folder.rglob("*") if path.is_file() and path.suffix != ".py")
