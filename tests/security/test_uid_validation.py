"""A UID with a trailing newline ("1.2.3\\n") is refused wherever UIDs are checked.

`$` in a regular expression also matches just before a final newline, so the
pattern anchored with it let such values through to storage keys and queries.
"""

from typing import Any

import pytest
from django.test import Client
from pydicom.uid import UID

from imaging import synthetic
from imaging.dicom import is_valid_uid
from imaging.ingest import IngestOutcome, ingest_instance
from imaging.models import Hospital, Instance
from imaging.tokens import issue_token
from tests.support.dicom import ct_slice

pytestmark = pytest.mark.django_db

WITH_NEWLINE = "1.2.3\n"
ENCODED = "1.2.3%0A"
GOOD = "1.2.3"

# Every DICOMweb address with a UID in it, with the newline in each UID position in turn.
ADDRESSES = [
    "/dicomweb/studies/{a}",
    "/dicomweb/studies/{a}/metadata",
    "/dicomweb/studies/{a}/series",
    "/dicomweb/studies/{a}/instances",
    "/dicomweb/studies/{b}/series/{a}",
    "/dicomweb/studies/{a}/series/{b}",
    "/dicomweb/studies/{a}/series/{b}/metadata",
    "/dicomweb/studies/{b}/series/{a}/metadata",
    "/dicomweb/studies/{a}/series/{b}/instances",
    "/dicomweb/studies/{b}/series/{a}/instances",
    "/dicomweb/studies/{b}/series/{b}/instances/{a}",
    "/dicomweb/studies/{b}/series/{b}/instances/{a}/metadata",
    "/dicomweb/studies/{b}/series/{b}/instances/{a}/frames/1",
]


@pytest.fixture
def token(hospital: Hospital) -> str:
    return issue_token(hospital, "PACS")


def test_it_refuses_a_uid_with_a_trailing_newline() -> None:
    assert is_valid_uid(GOOD)
    assert not is_valid_uid(WITH_NEWLINE)


def with_newline_after(keyword: str) -> bytes:
    """A CT image whose `keyword` UID ends in a newline where its padding byte was (pydicom
    itself trims the value on assignment, so the newline goes into the bytes)."""
    dataset = ct_slice()
    uid = "1.2.826.0.1.3680043.10.1234.5"  # odd length: pydicom pads it with one NUL
    setattr(dataset, keyword, uid)
    if keyword == "SOPInstanceUID":
        dataset.file_meta.MediaStorageSOPInstanceUID = UID(uid)
    data = synthetic.to_bytes(dataset)
    assert data.count(uid.encode() + b"\0") >= 1
    return data.replace(uid.encode() + b"\0", uid.encode() + b"\n")


@pytest.mark.parametrize("keyword", ["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"])
def test_it_never_indexes_a_uid_that_ends_in_a_newline(hospital: Hospital, keyword: str) -> None:
    """The header reader refuses the value; pydicom, which reads the file then, trims the newline
    as it trims a UI value's padding, so the index and the storage key get the plain UID."""
    result = ingest_instance(with_newline_after(keyword), hospital)
    stored = Instance.objects.select_related("series__study").filter(sop_uid=result.sop_uid).first()
    if stored is None:
        assert result.outcome == IngestOutcome.REJECTED
        return
    uids = [stored.sop_uid, stored.series.series_uid, stored.series.study.study_uid, stored.storage_key]
    assert [uid for uid in uids if "\n" in uid] == []
    assert all(is_valid_uid(uid) for uid in uids[:3])


@pytest.mark.parametrize("address", ADDRESSES)
def test_it_answers_400_to_a_uid_with_a_newline_in_the_address(client: Client, token: str, address: str) -> None:
    response = client.get(address.format(a=ENCODED, b=GOOD), HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 400, response.content[:200]


def test_it_answers_400_to_a_stow_address_with_a_newline(client: Client, token: str) -> None:
    response = client.post(
        f"/dicomweb/studies/{ENCODED}",
        data=b"",
        content_type='multipart/related; type="application/dicom"; boundary=x',
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 400


@pytest.mark.parametrize("value", ["not-a-uid", "1.2.3\n4", "1.2.3,../4"])
@pytest.mark.parametrize(
    ("path", "key"),
    [("studies", "StudyInstanceUID"), ("series", "SeriesInstanceUID"), ("instances", "SOPInstanceUID")],
)
def test_it_answers_400_to_a_uid_query_that_is_not_a_uid(
    client: Client, token: str, path: str, key: str, value: Any
) -> None:
    response = client.get(f"/dicomweb/{path}", {key: value}, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 400
