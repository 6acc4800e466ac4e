"""The header fields the index keeps, read straight from a Part 10 file's bytes.

pydicom builds a Dataset of every element and converts each value it is asked
for; on a small image that cost more than the rest of an ingest
(docs/architecture.md, "Figures the imaging code rests on"). This
reader walks the elements once (PS3.5 7.1), keeps the raw bytes of the few the
index reads (`headers.read_header` asks for them by keyword) and skips the rest,
sequences included (PS3.5 7.5).

It reads only the plain case and declines (returns None) everything else, so
that pydicom reads it and the rejections keep pydicom's wording: a file without
preamble or file meta, Deflated or Big Endian transfer syntaxes, character sets
with code extensions, functional group sequences, PDF and SR, any element whose
length runs past the end, a value with a VR other than its dictionary's, and a
text value that holds several values. A declined file costs the walk, a small
part of pydicom's read.
"""

import mmap
import struct
from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword

from imaging.dicom.headers import ENCAPSULATED_PDF, SR_PREFIX

IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
# Transfer syntaxes whose dataset is Explicit VR Little Endian but not deflated
# or big endian: Explicit VR LE itself and the encapsulated (compressed) ones.
NOT_EXPLICIT_LITTLE = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.2"}

# Explicit VRs with a reserved field and a 4-byte length (PS3.5 Table 7.1-1).
LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
UNDEFINED_LENGTH = 0xFFFFFFFF
ITEM, ITEM_DELIMITER, SEQUENCE_DELIMITER = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
PIXEL_DATA = {0x7FE00010: "PixelData", 0x7FE00008: "FloatPixelData", 0x7FE00009: "DoubleFloatPixelData"}
SPECIFIC_CHARACTER_SET = 0x00080005

# Character sets without code extensions, as Python names them (PS3.3 C.12.1.1.2);
# no value means pydicom's default, ISO 8859-1.
ENCODINGS = {"": "latin_1", "ISO_IR 6": "latin_1", "ISO_IR 100": "latin_1", "ISO_IR 192": "utf_8",
             "GB18030": "gb18030", "GBK": "gbk"}  # fmt: skip

KEYWORDS = [
    "AccessionNumber", "BitsAllocated", "BitsStored", "BodyPartExamined", "Columns", "ContentDate",
    "ContentTime", "FrameTime", "ImageOrientationPatient", "ImagePositionPatient", "ImagerPixelSpacing",
    "InstanceNumber", "IssuerOfPatientID", "LossyImageCompression", "Modality", "NumberOfFrames",
    "PatientAge", "PatientBirthDate", "PatientID", "PatientName", "PatientSex", "PatientTelephoneNumbers",
    "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime", "PhotometricInterpretation",
    "PixelRepresentation", "PixelSpacing", "ReferringPhysicianName", "RescaleIntercept", "RescaleSlope", "Rows",
    "SOPClassUID", "SOPInstanceUID", "SeriesDescription", "SeriesInstanceUID", "SeriesNumber", "StudyDate",
    "StudyDescription", "StudyID", "StudyInstanceUID", "StudyTime", "WindowCenter", "WindowWidth",
]  # fmt: skip
TAGS = {int(tag_for_keyword(keyword) or 0): keyword for keyword in KEYWORDS}
VRS = {tag: dictionary_VR(tag).encode() for tag in TAGS}
# Whose presence makes the dataset one this reader leaves to pydicom.
DECLINED = {
    int(tag_for_keyword(keyword) or 0)
    for keyword in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence")
}
NUMBERS = {b"DS", b"IS"}
TEXT_VM_ONE = {b"LT", b"ST", b"UT"}

_TAG = struct.Struct("<HH")
_SHORT = struct.Struct("<H")
_LONG = struct.Struct("<I")


class Declined(Exception):
    """Not the plain case: pydicom reads this one."""


class RawHeader:
    """What `headers.read_header` asks of a dataset, answered from raw element bytes."""

    def __init__(self, values: dict[str, Any], present: set[str], file_meta: "RawHeader | None" = None) -> None:
        self._values = values
        self._present = present
        self.file_meta = file_meta if file_meta is not None else self

    def get(self, keyword: str, default: Any = None) -> Any:
        return self._values.get(keyword, default)

    def __contains__(self, keyword: str) -> bool:
        return keyword in self._present


def read_raw_header(content: bytes | mmap.mmap) -> RawHeader | None:
    """The header of a plain Part 10 file, or None when pydicom should read it."""
    try:
        return _read(memoryview(content))
    except (Declined, struct.error, UnicodeDecodeError, ValueError):
        return None


def _read(data: memoryview) -> RawHeader:
    if len(data) < 144 or bytes(data[128:132]) != b"DICM":
        raise Declined
    meta_elements, offset = _walk_meta(data)
    syntax = _uid(data, meta_elements.get(0x00020010))
    media_class = _uid(data, meta_elements.get(0x00020002))
    media_instance = _uid(data, meta_elements.get(0x00020003))
    if not syntax or (syntax in NOT_EXPLICIT_LITTLE and syntax != IMPLICIT_VR_LITTLE_ENDIAN):
        raise Declined
    explicit = syntax != IMPLICIT_VR_LITTLE_ENDIAN
    found: dict[int, tuple[bytes, int, int]] = {}
    present: set[str] = set()
    end = _walk(data, offset, len(data), explicit, found, present)
    if end != len(data):
        raise Declined
    meta_values = {"TransferSyntaxUID": syntax, "MediaStorageSOPClassUID": media_class}
    meta = RawHeader({**meta_values, "MediaStorageSOPInstanceUID": media_instance}, set())
    values = _values(data, found)
    sop_class = str(values.get("SOPClassUID", ""))
    if sop_class == ENCAPSULATED_PDF or sop_class.startswith(SR_PREFIX):
        raise Declined
    return RawHeader(values, present | set(values), meta)


def _walk_meta(data: memoryview) -> tuple[dict[int, tuple[bytes, int, int]], int]:
    """The file meta group (always Explicit VR Little Endian) and where the dataset starts."""
    offset = 132
    elements: dict[int, tuple[bytes, int, int]] = {}
    while offset + 8 <= len(data):
        group, element = _TAG.unpack_from(data, offset)
        if group != 0x0002:
            break
        vr, start, length = _element(data, offset, explicit=True)
        if length == UNDEFINED_LENGTH or start + length > len(data):
            raise Declined
        elements[group << 16 | element] = (vr, start, length)
        offset = start + length
    return elements, offset


def _element(data: memoryview, offset: int, explicit: bool) -> tuple[bytes, int, int]:
    """An element's VR (b"" when implicit), where its value starts, and its length."""
    if not explicit:
        return b"", offset + 8, _LONG.unpack_from(data, offset + 4)[0]
    vr = bytes(data[offset + 4 : offset + 6])
    if vr in LONG_VRS:
        return vr, offset + 12, _LONG.unpack_from(data, offset + 8)[0]
    return vr, offset + 8, _SHORT.unpack_from(data, offset + 6)[0]


def _walk(
    data: memoryview,
    offset: int,
    end: int,
    explicit: bool,
    found: dict[int, tuple[bytes, int, int]] | None,
    present: set[str],
) -> int:
    """Walk elements from `offset` to `end` (or an item delimiter); keep the wanted top-level ones.

    Returns the offset after the last element, or after the item delimiter.
    """
    while offset < end:
        if offset + 8 > end:
            raise Declined
        group, element = _TAG.unpack_from(data, offset)
        tag = group << 16 | element
        if tag == ITEM_DELIMITER:
            return offset + 8
        if tag in (ITEM, SEQUENCE_DELIMITER):
            raise Declined
        vr, start, length = _element(data, offset, explicit)
        if found is not None and tag in DECLINED:
            raise Declined
        if length == UNDEFINED_LENGTH:
            offset = _skip_undefined(data, start, end, tag, vr, explicit)
            if found is not None and tag in PIXEL_DATA:
                present.add(PIXEL_DATA[tag])
            continue
        if start + length > end:
            raise Declined
        if found is not None:
            if tag in TAGS:
                found.setdefault(tag, (vr, start, length))
            elif tag in PIXEL_DATA:
                present.add(PIXEL_DATA[tag])
            elif tag == SPECIFIC_CHARACTER_SET:
                found[tag] = (vr, start, length)
        offset = start + length
    return offset


def _skip_undefined(data: memoryview, offset: int, end: int, tag: int, vr: bytes, explicit: bool) -> int:
    """Skip a sequence, an encapsulated pixel data or a UN of undefined length (PS3.5 7.5, A.4, 6.2.2)."""
    if tag in PIXEL_DATA:
        return _skip_fragments(data, offset, end)
    nested_explicit = explicit and vr != b"UN"  # a UN's content is Implicit VR Little Endian
    while offset + 8 <= end:
        group, element = _TAG.unpack_from(data, offset)
        item_tag = group << 16 | element
        length = _LONG.unpack_from(data, offset + 4)[0]
        offset += 8
        if item_tag == SEQUENCE_DELIMITER:
            return offset
        if item_tag != ITEM:
            raise Declined
        if length == UNDEFINED_LENGTH:
            offset = _walk(data, offset, end, nested_explicit, None, set())
        elif offset + length > end:
            raise Declined
        else:
            offset += length
    raise Declined


def _skip_fragments(data: memoryview, offset: int, end: int) -> int:
    while offset + 8 <= end:
        group, element = _TAG.unpack_from(data, offset)
        length = _LONG.unpack_from(data, offset + 4)[0]
        offset += 8
        if group << 16 | element == SEQUENCE_DELIMITER:
            return offset
        if group << 16 | element != ITEM or offset + length > end:
            raise Declined
        offset += length
    raise Declined


def _uid(data: memoryview, element: tuple[bytes, int, int] | None) -> str:
    if element is None:
        return ""
    _, start, length = element
    return bytes(data[start : start + length]).decode("ascii").strip("\0 ")


def _values(data: memoryview, found: dict[int, tuple[bytes, int, int]]) -> dict[str, Any]:
    encoding = _encoding(data, found.pop(SPECIFIC_CHARACTER_SET, None))
    values: dict[str, Any] = {}
    for tag, (vr, start, length) in found.items():
        expected = VRS[tag]
        if vr and vr != expected:
            raise Declined
        raw = bytes(data[start : start + length])
        values[TAGS[tag]] = _value(expected, raw, encoding)
    return values


def _encoding(data: memoryview, element: tuple[bytes, int, int] | None) -> str:
    if element is None:
        return ENCODINGS[""]
    _, start, length = element
    name = bytes(data[start : start + length]).decode("ascii").strip("\0 ")
    if name not in ENCODINGS:  # several values, code extensions, or one we leave to pydicom
        raise Declined
    return ENCODINGS[name]


def _value(vr: bytes, raw: bytes, encoding: str) -> Any:
    if vr == b"US":
        if length := len(raw):
            if length % 2:
                raise Declined
            return _SHORT.unpack_from(raw, 0)[0]
        return None
    if vr == b"UI":
        return raw.decode("ascii").strip("\0 ")
    text = raw.decode(encoding if vr in (b"PN", b"LO", b"SH", b"LT", b"ST", b"UT") else "latin_1")
    if vr in NUMBERS:
        return _numbers(text)
    if "\\" in text and vr not in TEXT_VM_ONE:
        raise Declined
    return text.rstrip("\0 ") if vr in TEXT_VM_ONE else text.strip("\0 ")


def _numbers(text: str) -> Any:
    """A DS or IS value as `headers` reads it: a number, a list of numbers, or "" when empty."""
    parts = [part.strip("\0 ") for part in text.split("\\")]
    if parts == [""]:
        return ""
    numbers = [float(part) for part in parts]  # ValueError declines: pydicom decides
    return numbers if len(numbers) > 1 else numbers[0]
