"""The demo region: three hospitals, a handful of patients, realistic studies.

`seed_demo` loads it; tests and benchmarks reuse its pieces. Everything is
deterministic, so loading it twice adds nothing.
"""

import datetime as dt
import logging
import os
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import pydicom
from pydicom.data import get_testdata_files
from pydicom.dataset import Dataset

from imaging import synthetic
from imaging.ingest import IngestOutcome, ingest_instance
from imaging.models import Hospital, HospitalAETitle
from imaging.rendering import batched_renders
from imaging.synthetic import PatientSpec, StudySpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoHospital:
    code: str
    name: str
    ae_titles: tuple[str, ...]


# The demo's modalities are this machine's DICOM tools.
DEMO_NETWORKS = "127.0.0.0/8\n::1/128"

HOSPITALS = (
    DemoHospital("city1", "市第一人民医院", ("CITY1_CT", "CITY1_PACS")),
    DemoHospital("tcm", "市中医医院", ("TCM_PACS",)),
    DemoHospital("mch", "市妇幼保健院", ("MCH_PACS",)),
)

ZHANG_WEI = PatientSpec("P0001", "张伟", "M", dt.date(1968, 3, 12), "13800138000")
ZHANG_WEI_TCM = PatientSpec("T-88231", "张伟", "M", dt.date(1968, 3, 12), "13800138000")
# The same PatientID as Zhang Wei's at city1: another hospital, another person.
WANG_FANG = PatientSpec("P0001", "王芳", "F", dt.date(1985, 7, 30), "13900139000")
LI_NA = PatientSpec("P0002", "李娜", "F", dt.date(1992, 11, 5), "13700137000")
CHEN_JIE = PatientSpec("T-90412", "陈杰", "M", dt.date(1955, 1, 20), "")

# (hospital code, patient) pairs that the bundled sample files are spread over.
SAMPLE_OWNERS = (("city1", ZHANG_WEI), ("city1", LI_NA), ("tcm", CHEN_JIE), ("mch", WANG_FANG))

StudyMaker = Callable[[], Iterable[Dataset]]


def _ct_chest_study() -> Iterator[Dataset]:
    study = StudySpec(
        "demo-ct-zhang",
        ZHANG_WEI,
        dt.date(2026, 10, 12),
        dt.time(9, 41, 7),
        "A2026101201",
        "CT Chest with contrast",
        "City First People's Hospital",
    )
    yield from synthetic.ct_chest(study)
    yield synthetic.pdf_report(
        study,
        "CT Chest with contrast - Report",
        [
            "Findings: The lungs are clear. No pleural effusion or pneumothorax.",
            "Heart size is normal. The thoracic aorta is of normal calibre.",
            "No mediastinal or hilar lymphadenopathy. Osseous structures are intact.",
            "Impression: No acute cardiopulmonary abnormality.",
            "Radiologist: Dr. Liu Yang   Signed: 2026-10-12 11:02",
        ],
    )


def _mr_head_zhang() -> Iterator[Dataset]:
    study = StudySpec(
        "demo-mr-zhang",
        ZHANG_WEI,
        dt.date(2025, 11, 20),
        dt.time(15, 2, 0),
        "A2025112003",
        "MR Head",
        "City First People's Hospital",
    )
    yield from synthetic.mr_head(study)
    yield synthetic.text_report(
        study, "Ventricles and sulci are normal for age. No mass effect.", "Normal MR of the brain."
    )


def _dx_chest_zhang_tcm() -> Iterator[Dataset]:
    study = StudySpec(
        "demo-dx-zhang",
        ZHANG_WEI_TCM,
        dt.date(2026, 6, 3),
        dt.time(10, 15, 30),
        "TCM-26-06-0311",
        "Chest PA",
        "City TCM Hospital",
    )
    yield from synthetic.dx_chest(study)
    yield synthetic.text_report(study, "Lungs clear. Heart size normal.", "No active chest disease.")


def _us_cine_wang() -> Iterator[Dataset]:
    study = StudySpec(
        "demo-us-wang",
        WANG_FANG,
        dt.date(2026, 9, 18),
        dt.time(8, 30, 12),
        "MCH-2609-1177",
        "US Carotid",
        "City Maternal and Child Health Hospital",
    )
    yield from synthetic.us_cine(study)


def _mr_head_li() -> Iterator[Dataset]:
    study = StudySpec(
        "demo-mr-li",
        LI_NA,
        dt.date(2026, 8, 2),
        dt.time(13, 20, 0),
        "A2026080217",
        "MR Head",
        "City First People's Hospital",
    )
    yield from synthetic.mr_head(study, slices=16)


DEMO_STUDIES: tuple[tuple[str, StudyMaker], ...] = (
    ("city1", _ct_chest_study),
    ("city1", _mr_head_zhang),
    ("tcm", _dx_chest_zhang_tcm),
    ("mch", _us_cine_wang),
    ("city1", _mr_head_li),
)


def ensure_hospitals() -> dict[str, Hospital]:
    hospitals = {}
    for spec in HOSPITALS:
        hospital, _ = Hospital.objects.get_or_create(code=spec.code, defaults={"name": spec.name})
        for ae_title in spec.ae_titles:
            HospitalAETitle.objects.get_or_create(
                ae_title=ae_title, defaults={"hospital": hospital, "allowed_networks": DEMO_NETWORKS}
            )
        hospitals[spec.code] = hospital
    return hospitals


def sample_files() -> Iterator[tuple[str, Dataset]]:
    """pydicom's bundled images, re-identified as demo patients' sample studies.

    UIDs are replaced by UIDs derived from the originals, so variants of one
    image (the same SOPInstanceUID in several transfer syntaxes) become distinct
    instances. Files that cannot be read, or hold no image, are left out.
    """
    for path in sorted(get_testdata_files()):
        if not os.path.isfile(path):
            continue
        try:
            ds = pydicom.dcmread(path)
            if "PixelData" not in ds or "SOPClassUID" not in ds or "Rows" not in ds:
                continue
        except Exception:  # noqa: BLE001, S112 - plenty of the bundled files are broken on purpose
            continue
        name = os.path.basename(path)
        original_study = str(ds.get("StudyInstanceUID", name))
        code, patient = SAMPLE_OWNERS[zlib.crc32(original_study.encode()) % len(SAMPLE_OWNERS)]
        _reidentify(ds, name, original_study, patient)
        yield code, ds


def _reidentify(ds: Dataset, name: str, original_study: str, patient: PatientSpec) -> None:
    ds.decode()  # text values to str, so that they can be written back as UTF-8
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientID = patient.patient_id
    ds.PatientName = patient.name
    ds.PatientSex = patient.sex
    ds.PatientBirthDate = patient.birth_date.strftime("%Y%m%d")
    ds.StudyInstanceUID = synthetic.uid_for("sample-study", original_study)
    ds.SeriesInstanceUID = synthetic.uid_for("sample-series", ds.get("SeriesInstanceUID", name), name)
    ds.SOPInstanceUID = synthetic.uid_for("sample-instance", name)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if not ds.get("StudyDate"):
        ds.StudyDate = "20240115"
    if not ds.get("StudyDescription"):
        ds.StudyDescription = "Sample image"
    ds.AccessionNumber = f"S{zlib.crc32(original_study.encode()) % 10**8:08d}"


def seed(include_samples: bool = True) -> Counter[str]:
    """Load the demo region; returns how many objects were stored, already present, etc."""
    hospitals = ensure_hospitals()
    with batched_renders():  # a thumbnail per series, not one per middle image as it grows
        return _seed(hospitals, include_samples)


def _seed(hospitals: dict[str, Hospital], include_samples: bool) -> Counter[str]:
    counts: Counter[str] = Counter()
    for code, make in DEMO_STUDIES:
        for ds in make():
            counts[_ingest(ds, hospitals[code])] += 1
    if include_samples:
        for code, ds in sample_files():
            try:
                data = synthetic.to_bytes(ds)
            except Exception as error:  # noqa: BLE001 - some bundled files cannot be written back
                logger.info("sample %s left out: %s", ds.get("SOPInstanceUID"), error)
                continue
            counts[ingest_instance(data, hospitals[code], source_name="demo sample").outcome] += 1
    return counts


def _ingest(ds: Dataset, hospital: Hospital) -> IngestOutcome:
    result = ingest_instance(synthetic.to_bytes(ds), hospital, source_name="seed_demo")
    if result.outcome == IngestOutcome.REJECTED:
        logger.warning("demo object rejected: %s", result.reason)
    return result.outcome
