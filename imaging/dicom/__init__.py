"""DICOM objects read as the standard lays them out, with no Django in them.

- `headers`: the header fields the index keeps, and the identity checks made
  before anything touches storage (UIDs, PatientID, PS3.10 7.1);
- `raw_header`: the same fields read straight from a Part 10 file's bytes, for
  the plain case (PS3.5 7.1);
- `reports`: a study's report out of an Encapsulated PDF or an SR document
  (PS3.3 C.17.3);
- `frames`: a stored object's frames, read one at a time (PS3.5 8.2, A.4, A.5);
- `pixels`: a frame's stored values, decoded (PS3.5 8.1.1);
- `status`: DIMSE's numbers (command set elements, statuses, failure reasons)
  and the Error Comments the listener writes, in one module, imported as
  `imaging.dicom.status`; its `Status`, `FailureReason` and `ErrorComment`
  are also here.
"""

from imaging.dicom.frames import CHUNK, StoredPixels, read_frame, read_without_pixels, stored_pixels
from imaging.dicom.headers import (
    ENCAPSULATED_PDF,
    SR_PREFIX,
    HeaderSource,
    IdentityMismatch,
    InstanceHeader,
    InvalidHeader,
    is_valid_uid,
    performed_step,
    pixel_spacing,
    read_header,
)
from imaging.dicom.pixels import UnsupportedImage, decode_frame
from imaging.dicom.raw_header import RawHeader, read_raw_header
from imaging.dicom.reports import encapsulated_document, structured_report_text
from imaging.dicom.status import ErrorComment, FailureReason, Status

__all__ = [
    "CHUNK",
    "ENCAPSULATED_PDF",
    "SR_PREFIX",
    "ErrorComment",
    "FailureReason",
    "HeaderSource",
    "IdentityMismatch",
    "InstanceHeader",
    "InvalidHeader",
    "RawHeader",
    "Status",
    "StoredPixels",
    "UnsupportedImage",
    "decode_frame",
    "encapsulated_document",
    "is_valid_uid",
    "performed_step",
    "pixel_spacing",
    "read_frame",
    "read_header",
    "read_raw_header",
    "read_without_pixels",
    "stored_pixels",
    "structured_report_text",
]
