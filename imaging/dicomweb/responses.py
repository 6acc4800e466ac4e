"""What every DICOMweb answer shares: its media types, the Accept header's negotiation
(RFC 9110 12.5.1, PS3.18 8.7.3), the addresses' UIDs checked, and the problem answer.
"""

import re
from collections.abc import Iterator

from django.http import JsonResponse

from imaging.dicom import is_valid_uid
from imaging.dicomweb.multipart import ContentType

DICOM_JSON = "application/dicom+json"
DICOM = "application/dicom"
OCTET_STREAM = "application/octet-stream"
SERVICE_PATH = "/dicomweb"
ANY_SYNTAX = "*"
# Values larger than this are bulk data (PS3.18 8.7.3.3.2), left out of metadata and not read to find a UID.
BULK_DATA_THRESHOLD = 1024


def problem(status: int, detail: str) -> JsonResponse:
    response = JsonResponse({"detail": detail}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="dicomweb", Basic realm="dicomweb"'
    return response


def valid_uids(*uids: str) -> bool:
    return all(is_valid_uid(uid) for uid in uids if uid)


def media_ranges(accept: str) -> Iterator[ContentType]:
    """The media ranges of an Accept header (RFC 9110 12.5.1), leaving out those with q=0."""
    for media_range in re.split(r',(?=(?:[^"]*"[^"]*")*[^"]*$)', accept):
        if not media_range.strip():
            continue
        parsed = ContentType.parse(media_range)
        try:
            weight = float(parsed.parameters.get("q", "1"))
        except ValueError:
            weight = 1.0
        if weight > 0:
            yield parsed


def acceptable_transfer_syntaxes(accept: str) -> frozenset[str]:
    """The transfer syntaxes an Accept header takes for multipart application/dicom (PS3.18 8.7.3.5.2).

    "*" means any (also when no transfer-syntax is named: the files are served
    as stored, never transcoded); an empty set means nothing acceptable (406).
    """
    if not accept.strip():
        return frozenset({ANY_SYNTAX})
    syntaxes = set()
    for media_range in media_ranges(accept):
        kind = media_range.parameters.get("type", DICOM).lower()
        if media_range.media_type in ("*/*", "multipart/*") or (
            media_range.media_type == "multipart/related" and kind in (DICOM, "application/*", "*/*")
        ):
            syntaxes.add(media_range.parameters.get("transfer-syntax", "").strip() or ANY_SYNTAX)
    return frozenset(syntaxes)


def accepts_dicom_json(accept: str) -> bool:
    """Whether the Accept header takes DICOM JSON (PS3.18 8.7.3.1), or names nothing."""
    if not accept.strip():
        return True
    wanted = (DICOM_JSON, "application/json", "application/*", "*/*")
    return any(media_range.media_type in wanted for media_range in media_ranges(accept))
