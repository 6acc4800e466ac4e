"""STOW-RS caps (PS3.18 10.5): a sender cannot make the portal read, spool or keep more than the settings allow."""

from pathlib import Path
from typing import Any

import pytest

from imaging import synthetic
from imaging.dicomweb.multipart import CHUNK
from imaging.models import Hospital, Instance
from imaging.tokens import issue_token
from tests.support.dicom import ct_bytes, ct_slice, stored_files
from tests.support.stow import LazyStowBody, post_stream
from tests.test_stow import large_ct

pytestmark = pytest.mark.django_db

PART_CAP = 1024 * 1024
REQUEST_CAP = 4 * 1024 * 1024


@pytest.fixture
def token(hospital: Hospital) -> str:
    return issue_token(hospital, "PACS")


@pytest.fixture(autouse=True)
def caps(tmp_path: Path, settings: Any) -> Path:
    settings.DICOMWEB_STOW_MAX_PART_BYTES = PART_CAP
    settings.DICOMWEB_STOW_MAX_REQUEST_BYTES = REQUEST_CAP
    settings.DICOMWEB_STOW_SPOOL_DIR = tmp_path / "spool"
    return settings.DICOMWEB_STOW_SPOOL_DIR


def oversized_body(pixel_bytes: int, leading: tuple[bytes, ...] = ()) -> LazyStowBody:
    _, header = large_ct("oversized", rows=1024, columns=pixel_bytes // 2048)
    return LazyStowBody(header, pixel_bytes, leading)


def test_it_refuses_a_declared_length_over_the_request_cap_without_reading(token: str) -> None:
    body = oversized_body(PART_CAP // 2)
    status, answer = post_stream(body, token, length=REQUEST_CAP + 1)
    assert status == 413
    assert str(REQUEST_CAP) in answer["detail"]
    assert body.read_bytes == 0


def test_it_stops_reading_a_part_at_the_part_cap(token: str, storage_root: Path, caps: Path) -> None:
    body = oversized_body(3 * PART_CAP)
    status, answer = post_stream(body, token, length=body.length)
    assert status == 413
    assert str(PART_CAP) in answer["detail"]
    assert body.read_bytes <= PART_CAP + 2 * CHUNK
    assert Instance.objects.count() == 0
    assert stored_files(storage_root) == []
    assert list(caps.iterdir()) == []  # the spooled part is gone


def test_it_stops_a_chunked_body_at_the_request_cap(token: str, caps: Path) -> None:
    small = tuple(ct_bytes(number=n, size=256) for n in range(1, 40))  # ~5 MB of parts under the part cap
    body = oversized_body(PART_CAP // 2, leading=small)
    assert body.length > REQUEST_CAP
    status, answer = post_stream(body, token, length=None)
    assert status == 413
    assert str(REQUEST_CAP) in answer["detail"]
    assert body.read_bytes <= REQUEST_CAP + CHUNK
    assert list(caps.iterdir()) == []


def test_it_keeps_and_lists_the_parts_stored_before_a_cap_was_passed(token: str) -> None:
    first = ct_slice(number=1)
    body = oversized_body(3 * PART_CAP, leading=(synthetic.to_bytes(first),))
    status, answer = post_stream(body, token, length=body.length)
    assert status == 413
    assert "1 earlier instances were stored" in answer["detail"]
    assert [item["00081155"]["Value"][0] for item in answer["00081199"]["Value"]] == [first.SOPInstanceUID]
    assert list(Instance.objects.values_list("sop_uid", flat=True)) == [first.SOPInstanceUID]
