"""A received object read: its dataset, the Part 10 bytes to store, and the header the index keeps.

The plain case is read from the bytes (`imaging.dicom.raw_header`); pydicom
reads the rest, and a refused object is read again by pydicom, so refusals
say what pydicom says. pydicom reads a cut-off file without complaint, so
the declared lengths are checked against the file's (PS3.5 7.1, A.4). What
cannot be read raises `Rejected` with the reason.
"""

import contextlib
import hashlib
import io
import mmap
from typing import BinaryIO, cast

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from imaging.dicom import IdentityMismatch, InstanceHeader, InvalidHeader, RawHeader, read_header, read_raw_header
from imaging.ingest.outcomes import Rejected, RejectionKind
from imaging.storage import Content, chunks_of

UNDEFINED_LENGTH = 0xFFFFFFFF
# Values larger than this are left in a mapped file by pydicom until asked for.
DEFER_SIZE = 64 * 1024
PIXEL_DATA = 0x7FE00010
# (FFFE,E000) and (FFFE,E0DD) read as little-endian 32-bit words (PS3.5 7.5).
ITEM, SEQUENCE_DELIMITER = 0xE000FFFE, 0xE0DDFFFE


def parse(received: Content) -> tuple[Dataset | None, Content, InstanceHeader]:
    """The dataset (None when read from the raw bytes), the Part 10 bytes to store, and the header."""
    raw = read_raw_header(received)
    if raw is not None:
        with contextlib.suppress(Rejected):
            return None, received, _read_header(raw)
    dataset, content = _parse(received)
    return dataset, content, _read_header(dataset)


def sha256_of(content: Content) -> str:
    if isinstance(content, bytes):
        return hashlib.sha256(content).hexdigest()
    digest = hashlib.sha256()
    for _offset, chunk in chunks_of(content):  # a mapped file's pages leave the resident set as it goes
        digest.update(chunk)
    return digest.hexdigest()


def _parse(content: Content) -> tuple[Dataset, Content]:
    """The dataset, and the Part 10 bytes to store (a bare dataset gets a file meta).

    A mapped file is read in place, its large values left there (`DEFER_SIZE`).
    """
    if not content:
        raise Rejected(RejectionKind.UNREADABLE, "the file is empty")
    try:
        dataset = _dcmread(content)
    except InvalidDicomError:
        return _parse_bare_dataset(content)
    except Exception as error:  # noqa: BLE001 - any parser failure is the file's fault
        raise Rejected(RejectionKind.UNREADABLE, f"cannot be parsed: {error}") from None
    if dataset.file_meta.get("TransferSyntaxUID") != DeflatedExplicitVRLittleEndian:
        # Offsets in a deflated file are offsets in the inflated stream; zlib
        # itself refuses a truncated deflated file.
        _check_not_truncated(dataset, content)
    return dataset, content


def _dcmread(content: Content, force: bool = False) -> Dataset:
    if isinstance(content, bytes):
        return pydicom.dcmread(io.BytesIO(content), force=force)
    content.seek(0)
    # A mapped file is a file pydicom can read (read, seek, tell); typeshed's seek returns None.
    return pydicom.dcmread(cast(BinaryIO, content), force=force, defer_size=DEFER_SIZE)


def _parse_bare_dataset(content: Content) -> tuple[Dataset, bytes]:
    """A dataset without preamble and file meta (ACR-NEMA style, or a C-STORE dump)."""
    not_dicom = Rejected(RejectionKind.UNREADABLE, "not a DICOM file (no DICM preamble, and no dataset either)")
    try:
        dataset = _dcmread(content, force=True)
        if "SOPInstanceUID" not in dataset or "SOPClassUID" not in dataset:
            raise not_dicom
    except Rejected:
        raise
    except Exception:  # noqa: BLE001 - text read as a dataset fails in many ways
        raise not_dicom from None
    _check_not_truncated(dataset, content)
    _read_header(dataset)
    if dataset.is_implicit_VR:
        syntax = ImplicitVRLittleEndian
    else:
        syntax = ExplicitVRLittleEndian if dataset.is_little_endian else ExplicitVRBigEndian
    try:
        return dataset, part10_bytes(dataset, syntax)
    except Exception as error:  # noqa: BLE001 - whatever stops re-encoding is the file's fault
        raise Rejected(RejectionKind.UNREADABLE, f"the dataset cannot be written as a DICOM file: {error}") from None


def part10_bytes(dataset: Dataset, transfer_syntax: str) -> bytes:
    """`dataset` as a DICOM Part 10 file: preamble, file meta, then the dataset as encoded."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    meta.TransferSyntaxUID = UID(transfer_syntax)
    dataset.file_meta = meta
    out = io.BytesIO()
    dataset.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _check_not_truncated(dataset: Dataset, content: Content) -> None:
    """pydicom reads a cut-off file without complaint: compare declared lengths.

    `Dataset.values()` hands over each top-level element as it was read (a
    RawDataElement: its value's bytes, or None where pydicom left a large value
    in the file), and `get_item(..., keep_deferred=True)` one element the same
    way: nothing is converted, or read from the file, to be checked. Both are
    pydicom's public API; tests/test_ingest.py pins what they give in pydicom 3.
    """
    size = len(content)
    for element in dataset.values():
        length = getattr(element, "length", UNDEFINED_LENGTH)
        value_tell = getattr(element, "value_tell", None)
        if length == UNDEFINED_LENGTH or value_tell is None:
            continue
        if value_tell + length > size:
            raise Rejected(
                RejectionKind.UNREADABLE,
                f"the file is truncated: element {element.tag} needs {length} bytes at offset {value_tell}, "
                f"the file has {size}",
            )
    pixel_data = dataset.get_item(PIXEL_DATA, keep_deferred=True)
    if pixel_data is not None and getattr(pixel_data, "length", 0) == UNDEFINED_LENGTH:
        value_tell = getattr(pixel_data, "value_tell", None)
        if pixel_data.value is None and value_tell is not None and isinstance(content, mmap.mmap):
            _check_encapsulated(content, value_tell)  # deferred by pydicom: walked where it lies
        else:
            _check_encapsulated(pixel_data.value or b"")


def _check_encapsulated(data: Content, offset: int = 0) -> None:
    """Encapsulated pixel data (PS3.5 A.4) must parse into whole items, up to its end or its delimiter."""
    try:
        while offset < len(data):
            tag = int.from_bytes(data[offset : offset + 4], "little")
            length = int.from_bytes(data[offset + 4 : offset + 8], "little")
            if tag == SEQUENCE_DELIMITER:
                return
            if tag != ITEM or offset + 8 + length > len(data):
                raise ValueError
            offset += 8 + length
    except ValueError:
        raise Rejected(RejectionKind.UNREADABLE, "the encapsulated pixel data is truncated or malformed") from None


def _read_header(dataset: Dataset | RawHeader) -> InstanceHeader:
    try:
        return read_header(dataset)
    except IdentityMismatch as error:
        raise Rejected(RejectionKind.SOP_CLASS_MISMATCH, str(error)) from None
    except InvalidHeader as error:
        raise Rejected(RejectionKind.INVALID, str(error)) from None
    except Exception as error:  # noqa: BLE001 - a garbled header is the file's fault
        raise Rejected(RejectionKind.UNREADABLE, f"the header cannot be read: {error}") from None
