"""Bounded memory for the largest objects: a multi-frame is served, rendered and zipped a frame or a chunk at a time.

The region's exams run to 3 GB, one object to 2 GB. Here a multi-frame CT of
192 MiB of pixel data is made on disk a frame at a time and ingested; each
test measures the peak of Python's allocations (tracemalloc) while one request
or build runs, and holds it under an eighth of the object. Reading the whole
file, as `pydicom.dcmread` does, would pass the bound eight times over.
"""

import gzip
import hashlib
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.test import Client
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian

from imaging import synthetic
from imaging.downloads import build_dicom_zip, build_jpeg_zip
from imaging.ingest import ingest_instance
from imaging.models import Hospital, Instance
from imaging.rendering import RenderSpec, make_render
from imaging.tokens import issue_token
from portal.exams.models import Download, DownloadStatus
from tests.support.dicom import ALICE, study_spec
from tests.support.people import ALICE_PHONE, link, sign_in_patient

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

FRAMES, SIZE = 384, 512  # 384 frames of 512 x 512, 16-bit: 192 MiB
PIXEL_BYTES = FRAMES * SIZE * SIZE * 2
BOUND = PIXEL_BYTES // 8
T = TypeVar("T")


def made(tmp_path_factory: pytest.TempPathFactory, syntax: str) -> Path:
    path = tmp_path_factory.mktemp("large") / "multiframe.dcm"
    study = study_spec("large", patient=ALICE)
    return synthetic.write_large_multiframe(path, study, FRAMES, SIZE, SIZE, transfer_syntax=syntax)


@pytest.fixture(scope="module")
def little_endian_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return made(tmp_path_factory, ExplicitVRLittleEndian)


@pytest.fixture(scope="module")
def big_endian_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return made(tmp_path_factory, ExplicitVRBigEndian)


def stored(path: Path, hospital: Hospital) -> Instance:
    result = ingest_instance(path, hospital)
    assert result.ok, result.reason
    return Instance.objects.select_related("series__study").get(sop_uid=result.sop_uid)


@pytest.fixture
def large(little_endian_file: Path, hospital: Hospital) -> Instance:
    return stored(little_endian_file, hospital)


def peak_of(work: Callable[[], T]) -> tuple[T, int]:
    """What `work` returns, and the peak of Python's allocations while it ran."""
    tracemalloc.start()
    try:
        return work(), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def consumed(chunks: Iterator[bytes]) -> tuple[int, str]:
    """The length and SHA-256 of a streamed body, read as a client would: a chunk at a time."""
    digest, length = hashlib.sha256(), 0
    for chunk in chunks:
        digest.update(chunk)
        length += len(chunk)
    return length, digest.hexdigest()


def stored_digest(instance: Instance) -> str:
    with default_storage.open(instance.storage_key, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def wado(instance: Instance, hospital: Hospital, tail: str = "", **headers: str) -> Any:
    study, series = instance.series.study.study_uid, instance.series.series_uid
    path = f"/dicomweb/studies/{study}/series/{series}/instances/{instance.sop_uid}{tail}"
    return Client().get(path, HTTP_AUTHORIZATION=f"Bearer {issue_token(hospital)}", **headers)


def frame_parts(response: Any) -> list[bytes]:
    boundary = response["Content-Type"].split("boundary=")[1].encode()
    body = b"".join(response.streaming_content)
    return [part.split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n") for part in body.split(b"--" + boundary)[1:-1]]


def test_it_streams_a_retrieve_of_the_study_in_bounded_memory(large: Instance, hospital: Hospital) -> None:
    token = issue_token(hospital)

    def retrieve() -> tuple[int, str]:
        response = Client().get(
            f"/dicomweb/studies/{large.series.study.study_uid}", HTTP_AUTHORIZATION=f"Bearer {token}"
        )
        assert response.status_code == 200
        return consumed(response.streaming_content)

    (length, _), peak = peak_of(retrieve)
    assert length > large.size_bytes
    assert peak < BOUND


@pytest.mark.parametrize("byte_order", ["little endian", "big endian"])
def test_it_retrieves_frames_of_a_large_object_in_bounded_memory(
    request: pytest.FixtureRequest, hospital: Hospital, byte_order: str
) -> None:
    instance = stored(request.getfixturevalue(byte_order.replace(" ", "_") + "_file"), hospital)
    accept = 'multipart/related; type="application/octet-stream"'
    parts, peak = peak_of(lambda: frame_parts(wado(instance, hospital, "/frames/384,1,200", HTTP_ACCEPT=accept)))
    assert parts == [synthetic.large_multiframe_frame(n, SIZE, SIZE).astype("<u2").tobytes() for n in (383, 0, 199)]
    assert peak < BOUND


def test_it_renders_one_frame_of_a_large_object_in_bounded_memory(large: Instance) -> None:
    jpeg, peak = peak_of(lambda: make_render(large, RenderSpec(frame=200)))
    assert jpeg.startswith(b"\xff\xd8")
    assert peak < BOUND


def test_it_serves_one_frames_raw_values_in_bounded_memory(large: Instance, hospital: Hospital) -> None:
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    alice = Client()
    sign_in_patient(alice, ALICE_PHONE)
    response, peak = peak_of(
        lambda: alice.get(f"/my/images/{large.pk}/raw", {"frame": 200}, HTTP_ACCEPT_ENCODING="gzip")
    )
    assert response.status_code == 200
    values = np.frombuffer(gzip.decompress(response.content), "<i2").reshape(SIZE, SIZE)
    assert np.array_equal(values, synthetic.large_multiframe_frame(200, SIZE, SIZE))
    assert peak < BOUND


def test_it_builds_and_serves_the_patients_dicom_zip_in_bounded_memory(
    large: Instance, hospital: Hospital, tmp_path: Path
) -> None:
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    alice = Client()
    sign_in_patient(alice, ALICE_PHONE)
    target = tmp_path / "downloaded.zip"

    def download() -> None:
        response = alice.post(f"/my/studies/{large.series.study_id}/downloads/", {"kind": "dicom"})
        built = Download.objects.get(pk=int(response["Location"].rstrip("/").split("/")[-1]))
        assert built.status == DownloadStatus.READY, built.error
        with target.open("wb") as out:
            for chunk in alice.get(f"/my/downloads/{built.pk}/file").streaming_content:  # type: ignore[attr-defined]
                out.write(chunk)

    _, peak = peak_of(download)
    assert peak < BOUND
    with zipfile.ZipFile(target) as archive:
        names = archive.namelist()
        assert "DICOMDIR" in names
        members = [name for name in names if name != "DICOMDIR"]
        assert len(members) == 1
        with archive.open(members[0]) as member:
            assert hashlib.file_digest(member, "sha256").hexdigest() == stored_digest(large)


def test_it_writes_zip64_sizes_for_a_member_that_needs_them(
    large: Instance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Past 4 GiB a member needs ZIP64 sizes; the threshold is lowered so that this object crosses it.
    monkeypatch.setattr("imaging.downloads.ZIP64_FROM", large.size_bytes)
    target = tmp_path / "study.zip"
    build_dicom_zip(large.series.study, target)
    with zipfile.ZipFile(target) as archive:
        member = next(info for info in archive.infolist() if info.filename != "DICOMDIR")
        assert member.file_size == large.size_bytes
        # The local header of a ZIP64 member holds 0xFFFFFFFF sizes and the real ones in its extra field.
        with target.open("rb") as raw:
            raw.seek(member.header_offset + 18)
            assert raw.read(8) == b"\xff" * 8
        with archive.open(member) as copy:
            assert hashlib.file_digest(copy, "sha256").hexdigest() == stored_digest(large)


def test_it_builds_the_jpeg_zip_one_picture_at_a_time(large: Instance, tmp_path: Path) -> None:
    target = tmp_path / "pictures.zip"
    count, peak = peak_of(lambda: build_jpeg_zip(large.series.study, "", target))
    assert count == 300  # MAX_FRAMES_PER_IMAGE
    assert peak < BOUND
    with zipfile.ZipFile(target) as archive:
        assert all(archive.read(name).startswith(b"\xff\xd8") for name in archive.namelist()[:3])
