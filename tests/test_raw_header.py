"""The raw header reader: the index's header fields without pydicom, or no answer at all."""

import datetime as dt
import io
from collections.abc import Iterator

import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ImplicitVRLittleEndian

from imaging import synthetic
from imaging.dicom import InstanceHeader, read_header, read_raw_header
from imaging.synthetic import PatientSpec, StudySpec
from tests.support.dicom import bundled_files, ct_bytes, ct_slice, study_spec

CHINESE = PatientSpec("PID-ZH", "Wang^Fang=王^芳", "F", dt.date(1990, 3, 4), "13900000009")


def pydicom_header(data: bytes) -> InstanceHeader | str:
    try:
        return read_header(pydicom.dcmread(io.BytesIO(data)))
    except Exception as error:  # compared as an outcome, like the raw reader's
        return type(error).__name__


def raw_header(data: bytes) -> InstanceHeader | str | None:
    raw = read_raw_header(data)
    if raw is None:
        return None
    try:
        return read_header(raw)
    except Exception as error:
        return type(error).__name__


def synthetic_files() -> Iterator[bytes]:
    study = StudySpec("raw", CHINESE, dt.date(2026, 2, 3), dt.time(8, 30), "ACC-RAW", "胸部 CT")
    for made in (
        synthetic.ct_chest(study, slices=3, size=64),
        synthetic.mr_head(study, slices=2, size=32),
        synthetic.us_cine(study, frames=2, rows=32, columns=48),
        synthetic.small_instances(study, 2),
    ):
        yield from (synthetic.to_bytes(ds) for ds in made)
    yield synthetic.to_bytes(synthetic.with_file_meta(ct_slice(), ImplicitVRLittleEndian))


def test_it_reads_what_pydicom_reads_wherever_it_answers() -> None:
    files = [path.read_bytes() for path in bundled_files()]
    files += list(synthetic_files())
    answered = 0
    for data in files:
        mine = raw_header(data)
        if mine is None:
            continue
        answered += 1
        assert mine == pydicom_header(data)
    assert answered >= 120, "the raw reader should answer for most plain files"


def test_it_reads_a_chinese_name_in_utf8() -> None:
    data = next(synthetic_files())
    header = raw_header(data)
    assert isinstance(header, InstanceHeader)
    assert header.patient["name"] == "Wang^Fang=王^芳"
    assert header.study["description"] == "胸部 CT"


def _with(ds: Dataset, **values: object) -> bytes:
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return synthetic.to_bytes(ds)


def _functional_groups() -> bytes:
    ds = ct_slice()
    item = Dataset()
    item.PixelMeasuresSequence = [Dataset()]
    ds.SharedFunctionalGroupsSequence = [item]
    return synthetic.to_bytes(ds)


def _not_a_number() -> bytes:
    ds = ct_slice()
    ds[0x00200013] = RawDataElement(Tag(0x00200013), "IS", 4, b"one ", 0, False, True)
    return synthetic.to_bytes(ds)


def _deflated() -> bytes:
    out = io.BytesIO()
    ds = ct_slice()
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: ct_bytes()[:-100], id="truncated"),
        pytest.param(lambda: ct_bytes()[128:], id="no preamble"),
        pytest.param(_deflated, id="deflated"),
        pytest.param(lambda: synthetic.to_bytes(synthetic.with_file_meta(ct_slice(), ExplicitVRBigEndian)), id="big"),
        pytest.param(lambda: _with(ct_slice(), SpecificCharacterSet=["", "ISO 2022 IR 87"]), id="code extensions"),
        pytest.param(lambda: _with(ct_slice(), PatientName="A^B\\C^D"), id="two names"),
        pytest.param(_not_a_number, id="not a number"),
        pytest.param(_functional_groups, id="functional groups"),
        pytest.param(lambda: synthetic.to_bytes(synthetic.pdf_report(study_spec(), "R", ["x"])), id="pdf"),
    ],
)
def test_it_leaves_the_unusual_to_pydicom(make: object) -> None:
    assert callable(make)
    assert read_raw_header(make()) is None
