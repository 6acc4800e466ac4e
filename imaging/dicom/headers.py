"""The header fields the index keeps, read from a pydicom dataset.

Values are read leniently (a malformed date becomes None, a long string is cut
to its column) except for what identifies the object: the UIDs and the
PatientID, which `validate_identity` checks before anything touches storage.
"""

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import UID

# Digits in dot-separated components: nothing that can name a directory
# ("..", ".", "") or leave one ("/"). Leading zeros are tolerated: real files have them.
# `\Z`, not `$`: `$` also matches before a trailing newline, so "1.2.3\n" would pass.
UID_PATTERN = re.compile(r"\A[0-9]+(\.[0-9]+)*\Z")
UID_MAX_LENGTH = 64

ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"
SR_PREFIX = "1.2.840.10008.5.1.4.1.1.88."

LOSSY_TRANSFER_SYNTAXES = {
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline
    "1.2.840.10008.1.2.4.51",  # JPEG Extended
    "1.2.840.10008.1.2.4.81",  # JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.4.93",  # JPEG 2000 Part 2
    "1.2.840.10008.1.2.4.201",  # HTJ2K (lossy allowed)
    "1.2.840.10008.1.2.4.203",
}


NO_FILE_META = Dataset()


class HeaderSource(Protocol):
    """A pydicom Dataset, or `raw_header.RawHeader` read from the bytes: values by keyword."""

    def get(self, keyword: str, default: Any = None) -> Any: ...

    def __contains__(self, keyword: str) -> bool: ...


class InvalidHeader(ValueError):
    """The dataset lacks, or garbles, what identifies it."""


@dataclass
class InstanceHeader:
    sop_uid: str
    sop_class_uid: str
    study_uid: str
    series_uid: str
    patient_id: str
    transfer_syntax_uid: str
    patient: dict[str, Any] = field(default_factory=dict)
    study: dict[str, Any] = field(default_factory=dict)
    series: dict[str, Any] = field(default_factory=dict)
    instance: dict[str, Any] = field(default_factory=dict)

    @property
    def is_pdf(self) -> bool:
        return self.sop_class_uid == ENCAPSULATED_PDF

    @property
    def is_structured_report(self) -> bool:
        return self.sop_class_uid.startswith(SR_PREFIX)


class IdentityMismatch(InvalidHeader):
    """The dataset names another SOP class or instance than its file meta, or the C-STORE command that carried it."""


def _check_identity(meta: Any, sop_class_uid: str, sop_uid: str) -> None:
    """PS3.10 7.1: (0002,0002-3) name the dataset's (0008,0016) and (0008,0018); the listener fills them
    from the command (PS3.7 9.3.1.1), so a dataset that names another object is refused, never stored
    under a name its sender was not told. The reason names the dataset's UID first: an Error Comment
    keeps 64 characters, and the command's UID is in the answer already (Affected SOP Instance UID)."""
    media_class = str(meta.get("MediaStorageSOPClassUID", "") or "").strip("\0 ")
    if media_class and media_class != sop_class_uid:
        raise IdentityMismatch(f"dataset is {sop_class_uid}, does not match {media_class} of the command/file meta")
    media_instance = str(meta.get("MediaStorageSOPInstanceUID", "") or "").strip("\0 ")
    if media_instance and media_instance != sop_uid:
        raise IdentityMismatch(f"dataset is {sop_uid}, does not match {media_instance} of the command/file meta")


def read_header(ds: HeaderSource) -> InstanceHeader:
    """Validate the identity of `ds` and copy the fields the index keeps."""
    meta = getattr(ds, "file_meta", None) or NO_FILE_META
    sop_uid = _uid(ds, "SOPInstanceUID")
    sop_class_uid = _uid(ds, "SOPClassUID")
    _check_identity(meta, sop_class_uid, sop_uid)
    patient_id = _text(ds, "PatientID", 64)
    if not patient_id:
        raise InvalidHeader("PatientID is missing or empty")
    transfer_syntax = str(meta.get("TransferSyntaxUID", "") or "1.2.840.10008.1.2").strip("\0 ")
    return InstanceHeader(
        sop_uid=sop_uid,
        sop_class_uid=sop_class_uid,
        study_uid=_uid(ds, "StudyInstanceUID"),
        series_uid=_uid(ds, "SeriesInstanceUID"),
        patient_id=patient_id,
        transfer_syntax_uid=transfer_syntax,
        patient=_patient_fields(ds),
        study=_study_fields(ds),
        series=_series_fields(ds),
        instance=_instance_fields(ds, transfer_syntax),
    )


def _uid(ds: HeaderSource, keyword: str) -> str:
    raw = ds.get(keyword)
    value = str(raw or "").strip("\0 ")
    if not value:
        raise InvalidHeader(f"{keyword} is missing")
    if len(value) > UID_MAX_LENGTH or not UID_PATTERN.fullmatch(value):
        raise InvalidHeader(f"{keyword} {value[:80]!r} is not a valid UID")
    return value


def _text(ds: HeaderSource, keyword: str, max_length: int) -> str:
    try:
        value = ds.get(keyword)
    except Exception:  # noqa: BLE001 - a garbled optional value is treated as absent
        return ""
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):
        value = "\\".join(str(v) for v in value)
    return str(value).replace("\0", "").strip()[:max_length]


def _date(ds: HeaderSource, keyword: str) -> dt.date | None:
    text = _text(ds, keyword, 32)[:8]
    # int() and date(), cheaper than strptime (docs/architecture.md); the same dates pass and fail.
    if len(text) != 8 or not text.isascii() or not text.isdigit():
        return None
    try:
        return dt.date(int(text[0:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def _time(ds: HeaderSource, keyword: str) -> dt.time | None:
    text = _text(ds, keyword, 32).replace(":", "")
    if not text:
        return None
    main, _, fraction = text.partition(".")
    try:
        hour = int(main[0:2])
        minute = int(main[2:4] or 0)
        second = int(main[4:6] or 0)
        micro = int((fraction + "000000")[:6]) if fraction else 0
        return dt.time(hour, minute, min(second, 59), micro)
    except ValueError:
        return None


def _number(ds: HeaderSource, keyword: str) -> float | None:
    try:
        value = ds.get(keyword)
        if value is None or value == "":
            return None
        if isinstance(value, MultiValue | list | tuple):
            value = value[0]
        return float(value)
    except (TypeError, ValueError, IndexError):
        return None


def _integer(ds: HeaderSource, keyword: str) -> int | None:
    number = _number(ds, keyword)
    return int(number) if number is not None else None


def _patient_fields(ds: HeaderSource) -> dict[str, Any]:
    sex = _text(ds, "PatientSex", 1).upper()
    return {
        "name": _text(ds, "PatientName", 200),
        "sex": sex if sex in {"F", "M", "O"} else "",
        "birth_date": _date(ds, "PatientBirthDate"),
        "issuer_of_patient_id": _text(ds, "IssuerOfPatientID", 64),
        "telephone_numbers": _text(ds, "PatientTelephoneNumbers", 200),
    }


def _study_fields(ds: HeaderSource) -> dict[str, Any]:
    return {
        "study_date": _date(ds, "StudyDate"),
        "study_time": _time(ds, "StudyTime"),
        "accession_number": _text(ds, "AccessionNumber", 64),
        "study_id": _text(ds, "StudyID", 16),
        "description": _text(ds, "StudyDescription", 200),
        "referring_physician": _text(ds, "ReferringPhysicianName", 200),
        "patient_age": _text(ds, "PatientAge", 4).upper(),
    }


def _series_fields(ds: HeaderSource) -> dict[str, Any]:
    return {
        "modality": _text(ds, "Modality", 16).upper(),
        "series_number": _integer(ds, "SeriesNumber"),
        "description": _text(ds, "SeriesDescription", 200),
        "body_part": _text(ds, "BodyPartExamined", 64).upper(),
        **performed_step(ds),
    }


def performed_step(ds: HeaderSource) -> dict[str, Any]:
    """Performed Procedure Step Start Date and Time (PS3.3 C.7.3.1), as `Series` keeps them."""
    return {
        "performed_date": _date(ds, "PerformedProcedureStepStartDate"),
        "performed_time": _time(ds, "PerformedProcedureStepStartTime"),
    }


def _instance_fields(ds: HeaderSource, transfer_syntax: str) -> dict[str, Any]:
    has_pixels = "PixelData" in ds or "FloatPixelData" in ds or "DoubleFloatPixelData" in ds
    position, orientation = _geometry(ds)
    voi = _first_voi(ds)
    rescale = _first_rescale(ds)
    lossy = _text(ds, "LossyImageCompression", 2) == "01" or transfer_syntax in LOSSY_TRANSFER_SYNTAXES
    return {
        "instance_number": _integer(ds, "InstanceNumber"),
        "slice_position": slice_position(position, orientation),
        "image_position": "\\".join(f"{v:g}" for v in position) if position else "",
        "image_orientation": "\\".join(f"{v:g}" for v in orientation) if orientation else "",
        "content_date": _date(ds, "ContentDate"),
        "content_time": _time(ds, "ContentTime"),
        "has_pixels": has_pixels,
        "rows": _integer(ds, "Rows") if has_pixels else None,
        "columns": _integer(ds, "Columns") if has_pixels else None,
        "number_of_frames": max(_integer(ds, "NumberOfFrames") or 1, 1),
        "frame_time": _number(ds, "FrameTime"),
        "bits_allocated": _integer(ds, "BitsAllocated") if has_pixels else None,
        "bits_stored": _integer(ds, "BitsStored") if has_pixels else None,
        "pixel_representation": _integer(ds, "PixelRepresentation") if has_pixels else None,
        "photometric_interpretation": _text(ds, "PhotometricInterpretation", 16),
        "window_center": voi[0],
        "window_width": voi[1],
        "rescale_slope": rescale[0],
        "rescale_intercept": rescale[1],
        **pixel_spacing(ds),
        "lossy": lossy and has_pixels,
    }


def _functional_group_item(ds: HeaderSource, sequence: str) -> Dataset | None:
    """The first item of a functional group macro: shared first, then frame 1."""
    for groups in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        try:
            group = ds.get(groups)
            if group and sequence in group[0] and group[0].get(sequence):
                item: Dataset = group[0].get(sequence)[0]
                return item
        except (AttributeError, IndexError, TypeError, KeyError):
            continue
    return None


def _geometry(ds: HeaderSource) -> tuple[list[float] | None, list[float] | None]:
    source: HeaderSource | None = ds
    if "ImagePositionPatient" not in ds:
        source = _functional_group_item(ds, "PlanePositionSequence")
    orientation_source: HeaderSource | None = ds
    if "ImageOrientationPatient" not in ds:
        orientation_source = _functional_group_item(ds, "PlaneOrientationSequence")
    return _floats(source, "ImagePositionPatient", 3), _floats(orientation_source, "ImageOrientationPatient", 6)


def _floats(ds: HeaderSource | None, keyword: str, count: int) -> list[float] | None:
    if ds is None:
        return None
    try:
        values = [float(v) for v in ds.get(keyword) or []]
    except (TypeError, ValueError):
        return None
    return values if len(values) == count else None


def slice_position(position: list[float] | None, orientation: list[float] | None) -> float | None:
    """Distance along the slice normal: the row and column cosines' cross product."""
    if position is None:
        return None
    if orientation is None:
        return position[2]
    rx, ry, rz, cx, cy, cz = orientation
    normal = (ry * cz - rz * cy, rz * cx - rx * cz, rx * cy - ry * cx)
    return sum(p * n for p, n in zip(position, normal, strict=True))


def _first_voi(ds: HeaderSource) -> tuple[float | None, float | None]:
    source: HeaderSource | None = ds
    if "WindowCenter" not in ds:
        source = _functional_group_item(ds, "FrameVOILUTSequence")
    if source is None:
        return None, None
    center, width = _number(source, "WindowCenter"), _number(source, "WindowWidth")
    if center is None or width is None:
        return None, None
    return center, width


def _first_rescale(ds: HeaderSource) -> tuple[float | None, float | None]:
    source: HeaderSource | None = ds
    if "RescaleSlope" not in ds and "RescaleIntercept" not in ds:
        source = _functional_group_item(ds, "PixelValueTransformationSequence")
    if source is None:
        return None, None
    return _number(source, "RescaleSlope"), _number(source, "RescaleIntercept")


def pixel_spacing(ds: HeaderSource) -> dict[str, str]:
    """The spacing of the pixels in mm (between rows, then between columns: PS3.3 10.7.1.3) and where it holds.

    Pixel Spacing (the Image Plane module, C.7.6.2, or the Pixel Measures
    functional group of an enhanced object, C.7.6.16.2.1) is in the patient:
    kind "patient". Imager Pixel Spacing alone (the DX Detector module,
    C.8.11.4) is at the detector, larger than the patient by the radiographic
    magnification: kind "detector", which a ruler must not show as mm in the
    patient. Neither, or values that are not positive: kind "none".
    """
    source: HeaderSource | None = ds
    if "PixelSpacing" not in ds:
        source = _functional_group_item(ds, "PixelMeasuresSequence")
    values = _floats(source, "PixelSpacing", 2) if source is not None else None
    kind = "patient"
    if values is None:
        values, kind = _floats(ds, "ImagerPixelSpacing", 2), "detector"
    if not values or not all(0 < v < math.inf for v in values):
        return {"pixel_spacing": "", "pixel_spacing_kind": "none"}
    return {"pixel_spacing": "\\".join(f"{v:g}" for v in values), "pixel_spacing_kind": kind}


def is_valid_uid(value: str) -> bool:
    return len(value) <= UID_MAX_LENGTH and bool(UID_PATTERN.fullmatch(value))


def transfer_syntax_name(uid: str) -> str:
    return str(UID(uid).name) if uid else ""
