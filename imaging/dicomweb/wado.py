"""WADO-RS, the Retrieve transaction (PS3.18 10.4): instances as stored, their metadata in DICOM JSON,
and their frames, each read from its file alone. Nothing is transcoded.
"""

import json
import re
import secrets
from collections.abc import Iterator
from typing import Any

from django.core.files.storage import default_storage
from django.http import HttpRequest, HttpResponseBase, StreamingHttpResponse
from pydicom.uid import UID, MPEGTransferSyntaxes

from imaging.access import StudyScope
from imaging.dicom import read_without_pixels, stored_pixels
from imaging.dicomweb.multipart import CHUNK
from imaging.dicomweb.responses import (
    ANY_SYNTAX,
    BULK_DATA_THRESHOLD,
    DICOM,
    DICOM_JSON,
    OCTET_STREAM,
    acceptable_transfer_syntaxes,
    accepts_dicom_json,
    media_ranges,
    problem,
    valid_uids,
)
from imaging.models import Instance

_OMITTED = "omitted"
# Bulk data whatever its size (PS3.18 8.7.3.3.2): pixel data, documents, waveforms, spectra.
BULK_DATA_TAGS = frozenset({"7FE00008", "7FE00009", "7FE00010", "00420011", "54001010", "56000020"})
# Native frames go out as Explicit VR Little Endian pixel data (PS3.18 8.7.3.3.2), whatever the file's encoding.
NATIVE_FRAMES = "1.2.840.10008.1.2.1"
# The image media type of a compressed transfer syntax's frames (PS3.18 Table 8.7.3-5).
FRAME_MEDIA_TYPES = {
    **dict.fromkeys(["1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57"], "image/jpeg"),
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    **dict.fromkeys(["1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"], "image/jls"),
    **dict.fromkeys(["1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"], "image/jp2"),
    **dict.fromkeys(["1.2.840.10008.1.2.4.92", "1.2.840.10008.1.2.4.93"], "image/jpx"),
    **dict.fromkeys(["1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203"], "image/jphc"),
    "1.2.840.10008.1.2.5": "image/dicom-rle",
}


def retrieve(
    request: HttpRequest, scope: StudyScope, study_uid: str, series_uid: str = "", sop_uid: str = ""
) -> HttpResponseBase:
    """WADO-RS Retrieve Study, Series or Instance (PS3.18 10.4): the stored files, as they were received.

    The answer is `multipart/related; type="application/dicom"`, one part per
    instance, streamed from storage a chunk at a time.
    """
    if not valid_uids(study_uid, series_uid, sop_uid):
        return problem(400, "a UID in the address is not a valid UID")
    syntaxes = acceptable_transfer_syntaxes(request.headers.get("Accept", ""))
    if not syntaxes:
        return problem(406, 'WADO-RS retrieve answers multipart/related; type="application/dicom"')
    instances = _selected(scope, study_uid, series_uid, sop_uid)
    if not instances:
        return problem(404, "no such study, series or instance")
    if ANY_SYNTAX not in syntaxes and any(i.transfer_syntax_uid not in syntaxes for i in instances):
        return problem(406, "the instances are kept in their original transfer syntax, which was not asked for")
    boundary = secrets.token_hex(16)
    response = StreamingHttpResponse(
        _multipart_stream(instances, boundary),
        content_type=f'multipart/related; type="{DICOM}"; boundary={boundary}',
    )
    response["Cache-Control"] = "private"
    return response


def metadata(
    request: HttpRequest, scope: StudyScope, study_uid: str, series_uid: str = "", sop_uid: str = ""
) -> HttpResponseBase:
    """WADO-RS Retrieve Metadata (PS3.18 10.4.1.1.2): each instance's header in DICOM JSON (PS3.18 F.2).

    Bulk data (pixel data, encapsulated documents, other large binary values)
    is left out, not offered by BulkDataURI: viewers take pixels by frame
    (`retrieve_frames`), and the rest comes with the whole instance.
    """
    if not valid_uids(study_uid, series_uid, sop_uid):
        return problem(400, "a UID in the address is not a valid UID")
    if not accepts_dicom_json(request.headers.get("Accept", "")):
        return problem(406, "WADO-RS metadata answers application/dicom+json")
    instances = _selected(scope, study_uid, series_uid, sop_uid)
    if not instances:
        return problem(404, "no such study, series or instance")
    response = StreamingHttpResponse(_json_array_stream(instances), content_type=DICOM_JSON)
    response["Cache-Control"] = "private"
    return response


def _selected(scope: StudyScope, study_uid: str, series_uid: str, sop_uid: str) -> list[Instance]:
    """The instances the address names within the asker's scope, series by series; only what reading needs."""
    instances = scope.instances().filter(series__study__study_uid=study_uid)
    if series_uid:
        instances = instances.filter(series__series_uid=series_uid)
    if sop_uid:
        instances = instances.filter(sop_uid=sop_uid)
    ordered = instances.order_by("series__series_number", "series_id", "instance_number", "sop_uid")
    fields = ("pk", "sop_uid", "series_id", "storage_key", "transfer_syntax_uid", "has_pixels", "number_of_frames")
    return list(ordered.only(*fields))


def frames(
    request: HttpRequest, scope: StudyScope, study_uid: str, series_uid: str, sop_uid: str, frame_list: str
) -> HttpResponseBase:
    """WADO-RS Retrieve Frames (PS3.18 10.4.1.1.3): each frame's pixel data, in the order asked, as stored.

    `multipart/related` with one part per frame (PS3.18 8.7.3.3.2): native
    pixel data as little endian bytes (transfer-syntax 1.2.840.10008.1.2.1),
    compressed frames as their bitstream in the stored transfer syntax, each
    part's Content-Type naming it. A malformed frame list answers 400, a frame
    the instance does not have (or an instance without pixel data) 404, an
    Accept that does not take the frames as stored 406.
    """
    if not valid_uids(study_uid, series_uid, sop_uid):
        return problem(400, "a UID in the address is not a valid UID")
    numbers = frame_numbers(frame_list)
    if numbers is None:
        return problem(400, "the frame list is not a comma-separated list of frame numbers from 1")
    instance = next(iter(_selected(scope, study_uid, series_uid, sop_uid)), None)
    if instance is None:
        return problem(404, "no such study, series or instance")
    if not instance.has_pixels or max(numbers) > instance.number_of_frames:
        count = instance.number_of_frames if instance.has_pixels else 0
        return problem(404, f"no such frame: the instance has {count} frame(s)")
    syntax = frame_syntax(instance.transfer_syntax_uid)
    media_type = frame_media_type(request.headers.get("Accept", ""), syntax) if syntax else None
    if syntax is None or media_type is None:
        return problem(406, _frames_not_acceptable(instance.transfer_syntax_uid, syntax))
    boundary = secrets.token_hex(16)
    response = StreamingHttpResponse(
        _frames_stream(instance.storage_key, numbers, f"{media_type}; transfer-syntax={syntax}", boundary),
        content_type=f'multipart/related; type="{media_type}"; boundary={boundary}',
    )
    response["Cache-Control"] = "private"
    return response


def _multipart_stream(instances: list[Instance], boundary: str) -> Iterator[bytes]:
    """Each stored file as one part (PS3.18 8.6.1.2), read in chunks: a study never sits in memory."""
    for instance in instances:
        yield (
            f"--{boundary}\r\nContent-Type: {DICOM}; transfer-syntax={instance.transfer_syntax_uid}\r\n\r\n"
        ).encode()
        with default_storage.open(instance.storage_key, "rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


def frame_numbers(frame_list: str) -> list[int] | None:
    """The frame numbers of a frame list (PS3.18 10.4.1.1.3): comma-separated, from 1; None when malformed."""
    items = [item.strip() for item in frame_list.split(",")]
    if not all(re.fullmatch(r"[0-9]{1,9}", item) for item in items):
        return None
    numbers = [int(item) for item in items]
    return numbers if min(numbers) >= 1 else None


def frame_syntax(stored: str) -> str | None:
    """The transfer syntax frames go out in: native ones little endian (PS3.18 8.7.3.3.2), compressed ones as stored.

    None for video (one MPEG or HEVC stream, not frames) and for syntaxes
    pydicom does not know: their frames cannot be told apart.
    """
    uid = UID(stored)
    if not uid.is_transfer_syntax or uid in MPEGTransferSyntaxes:
        return None
    return str(uid) if uid.is_encapsulated else NATIVE_FRAMES


def frame_media_type(accept: str, syntax: str) -> str | None:
    """The media type to send frames in `syntax` as, or None when the Accept header takes none (PS3.18 8.7.3.5).

    `multipart/related; type="application/octet-stream"` means Explicit VR
    Little Endian unless it names a transfer-syntax ("*": as stored); an image
    type (`image/jpeg`...) takes frames stored in one of its syntaxes (Table
    8.7.3-5); `*/*`, a missing Accept and `type="*/*"` take them as stored.
    """
    if not accept.strip():
        return OCTET_STREAM
    image_type = FRAME_MEDIA_TYPES.get(syntax)
    for media_range in media_ranges(accept):
        if media_range.media_type in ("*/*", "multipart/*"):
            return OCTET_STREAM
        if media_range.media_type != "multipart/related":
            continue
        kind = media_range.parameters.get("type", "*/*").lower()
        wanted = media_range.parameters.get("transfer-syntax", "").strip()
        if wanted not in ("", ANY_SYNTAX, syntax):
            continue
        if kind in ("*/*", "application/*") or (kind == OCTET_STREAM and (wanted or syntax == NATIVE_FRAMES)):
            return OCTET_STREAM
        if image_type and kind in (image_type, "image/*"):
            return image_type
    return None


def _frames_not_acceptable(stored: str, syntax: str | None) -> str:
    if syntax is None:
        return f"the instance is kept in {stored}, which is not retrievable by frame: retrieve the instance"
    offered = " or ".join(filter(None, [FRAME_MEDIA_TYPES.get(syntax), OCTET_STREAM]))
    return f"the frames are kept in {syntax} and sent as {offered} with transfer-syntax={syntax} (or *), not transcoded"


def _frames_stream(storage_key: str, numbers: list[int], part_type: str, boundary: str) -> Iterator[bytes]:
    """Each asked frame as one part (PS3.18 8.6.1.2), read from the stored file alone, a chunk at a time."""
    with default_storage.open(storage_key, "rb") as handle, stored_pixels(handle) as pixels:
        for number in numbers:
            yield f"--{boundary}\r\nContent-Type: {part_type}\r\n\r\n".encode()
            yield from pixels.frame_chunks(number - 1)
            yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


def _json_array_stream(instances: list[Instance]) -> Iterator[bytes]:
    yield b"["
    for number, instance in enumerate(instances):
        yield (b"," if number else b"") + json.dumps(instance_header_json(instance.storage_key)).encode()
    yield b"]"


def instance_header_json(storage_key: str) -> dict[str, Any]:
    """A stored instance's data set in DICOM JSON, up to its pixel data and without bulk data."""
    with default_storage.open(storage_key, "rb") as handle:
        dataset = read_without_pixels(handle)
    return _without_bulk_data(
        dataset.to_json_dict(bulk_data_threshold=BULK_DATA_THRESHOLD, bulk_data_element_handler=lambda _: _OMITTED)
    )


def _without_bulk_data(attributes: dict[str, Any]) -> dict[str, Any]:
    """Drop bulk data: the elements named as such, and those pydicom would send by BulkDataURI; in items too."""
    kept: dict[str, Any] = {}
    for tag, attribute in attributes.items():
        if "BulkDataURI" in attribute or _is_bulk_data_tag(tag):
            continue
        if attribute.get("vr") == "SQ" and "Value" in attribute:
            attribute = {**attribute, "Value": [_without_bulk_data(item) for item in attribute["Value"]]}
        kept[tag] = attribute
    return kept


def _is_bulk_data_tag(tag: str) -> bool:
    """A bulk data tag, with the repeating groups of overlays, curves and audio (60xx,3000), (50xx,3000|200C)."""
    tag = tag.upper()
    return (
        tag in BULK_DATA_TAGS
        or (tag[:2] == "60" and tag[4:] == "3000")
        or (tag[:2] == "50" and tag[4:] in ("3000", "200C"))
    )
