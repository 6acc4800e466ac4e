"""A small region for QIDO-RS tests: a few patients, studies of several dates, times and modalities.

Made in code (imaging.synthetic's UIDs and headers), every image 8x8 pixels: the
headers are what is searched. The same objects go to the portal and to Orthanc.
"""

import datetime as dt
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from imaging import synthetic
from imaging.synthetic import PatientSpec, StudySpec

SMITH_JOHN = PatientSpec("PID-1001", "SMITH^JOHN", "M", dt.date(1970, 3, 4))
SMITH_JANE = PatientSpec("pid-1002", "smith^jane", "F", dt.date(1985, 7, 8))
SMYTHE = PatientSpec("XR-2001", "SMYTHE^JO", "F", dt.date(1990, 1, 1))
WANG = PatientSpec("PID_3001", "WANG^LI", "M", dt.date(1960, 12, 31))

SOP_CLASSES = {
    "CT": synthetic.CT_IMAGE,
    "MR": synthetic.MR_IMAGE,
    "DX": synthetic.DX_IMAGE,
    "OT": synthetic.SECONDARY_CAPTURE,
}


@dataclass(frozen=True)
class SeriesPlan:
    key: str
    modality: str
    number: int
    instances: tuple[int, ...]  # their InstanceNumbers
    performed: tuple[str, str] = ("", "")  # PerformedProcedureStepStartDate, -Time


@dataclass(frozen=True)
class StudyPlan:
    spec: StudySpec
    study_id: str
    referring: str
    series: tuple[SeriesPlan, ...]


def _study(
    key: str, patient: PatientSpec, when: str, accession: str, study_id: str, referring: str, *series: SeriesPlan
) -> StudyPlan:
    moment = dt.datetime.strptime(when, "%Y%m%d%H%M%S")
    spec = StudySpec(key, patient, moment.date(), moment.time(), accession, f"QIDO study {key}")
    return StudyPlan(spec, study_id, referring, series)


STUDIES = (
    _study(
        "q-john-ct",
        SMITH_JOHN,
        "20251230081500",
        "A1001",
        "S-1",
        "LI^MING",
        SeriesPlan("ct", "CT", 1, (1, 2, 3), ("20251230", "081500")),
        SeriesPlan("sc", "OT", 2, (1,)),
    ),
    _study(
        "q-john-mr",
        SMITH_JOHN,
        "20260105100000",
        "A1002",
        "S-2",
        "LI^MING",
        SeriesPlan("mr", "MR", 3, (1, 2), ("20260105", "100000")),
    ),
    _study(
        "q-jane-ct",
        SMITH_JANE,
        "20260105143000",
        "B2001",
        "S-3",
        "ZHANG^WEI",
        SeriesPlan("ct", "CT", 1, (1, 2), ("20260105", "143000")),
        SeriesPlan("dx", "DX", 10, (1,)),
    ),
    _study(
        "q-smythe-dx",
        SMYTHE,
        "20260106090000",
        "b2002",
        "S-4",
        "zhang^wei",
        SeriesPlan("dx", "DX", 1, (1, 2)),
    ),
    _study(
        "q-wang-mr",
        WANG,
        "20260106180000",
        "C_3001",
        "T-5",
        "CHEN^FANG",
        SeriesPlan("mr", "MR", 5, (7, 8, 9), ("20260106", "180000")),
    ),
    _study(
        "q-wang-ct",
        WANG,
        "20260107235959",
        "C%3002",
        "T-6",
        "LI^MING",
        SeriesPlan("ct", "CT", 2, (1,)),
        SeriesPlan("mr", "MR", 3, (1,)),
    ),
    _study(
        "q-jane-old",
        SMITH_JANE,
        "20240601000000",
        "A0009",
        "S-7",
        "CHEN^FANG",
        SeriesPlan("ot", "OT", 1, (1, 2)),
    ),
)


def instance(study: StudyPlan, series: SeriesPlan, number: int) -> Dataset:
    """One 8x8 image of `series`, with the study's and the series' headers."""
    ds = synthetic.base_dataset(
        study.spec, SOP_CLASSES[series.modality], series.key, series.number, number, series.modality
    )
    ds.StudyID = study.study_id
    ds.ReferringPhysicianName = study.referring
    ds.SeriesDescription = f"{series.modality} series {series.number}"
    if series.performed[0]:
        ds.PerformedProcedureStepStartDate, ds.PerformedProcedureStepStartTime = series.performed
    if series.modality == "OT":
        ds.ConversionType = "WSD"
    ds.PhotometricInterpretation = "MONOCHROME2"
    pixels = (np.arange(64).reshape(8, 8) * (number + 1)) % 4096
    synthetic._grey_image(ds, pixels, 12, signed=False)
    return synthetic.with_file_meta(ds)


def data_set() -> list[Dataset]:
    """Every instance of the region, study by study."""
    return [
        instance(study, series, number) for study in STUDIES for series in study.series for number in series.instances
    ]


def study_uid(study: str) -> str:
    return synthetic.uid_for("study", study)


def series_uid(study: str, series: str) -> str:
    return synthetic.uid_for("series", study, series)


def sop_uid(study: str, series: str, number: int) -> str:
    return synthetic.uid_for("instance", study, series, number)


def labels() -> dict[str, str]:
    """Every UID of the region and its label: `q-john-ct`, `q-john-ct/ct`, `q-john-ct/ct/2`."""
    found = {}
    for study in STUDIES:
        key = study.spec.key
        found[study_uid(key)] = key
        for series in study.series:
            found[series_uid(key, series.key)] = f"{key}/{series.key}"
            for number in series.instances:
                found[sop_uid(key, series.key, number)] = f"{key}/{series.key}/{number}"
    return found
