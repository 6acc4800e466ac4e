"""STORAGE_BACKEND=s3: everything the portal keeps, in an S3 bucket, against moto's S3 server over HTTP.

The portal's own boto3 client (django-storages' S3Storage, configured by
`portal.settings.s3_storage`) talks to a real HTTP peer; nothing is mocked
in-process. Nothing may land in the local storage folder.
"""

import datetime as dt
import hashlib
import io
import json
import mmap
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from PIL import Image

from imaging import synthetic
from imaging.ingest import IngestOutcome, IngestUnavailable, ingest_instance
from imaging.listener import check_unflushed_files
from imaging.models import Hospital, IngestConflict, Instance, Render, RenderStatus, UnflushedFile
from imaging.rendering import RenderSpec, ensure_render, middle_instance, read_render
from imaging.storage import flushes_later, storage_root, write_once
from imaging.tokens import issue_token
from portal.exams.models import Download, DownloadStatus
from portal.settings import s3_storage
from tests.support.dicom import ALICE, ct_bytes, ct_slice
from tests.support.exams import make_exam
from tests.support.object_store import ACCESS_KEY, SECRET_KEY, Bucket, MotoServer, moto_server_installed
from tests.support.people import ALICE_PHONE, link, sign_in_patient
from tests.support.processes import free_port
from tests.support.services import require
from tests.support.workers import Workers, wait_for
from tests.test_dicom_listener import dataset_bytes, send, start_listener, store_response, storescu
from tests.test_dicomweb import multipart, sequence, stow
from tests.test_dicomweb_share import parts

MiB = 1024**2


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    require(moto_server_installed(), "moto[server] (pip install -r requirements-dev.txt)")
    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture
def bucket(moto_server: MotoServer, storage_root: Path, settings: Any) -> Iterator[Bucket]:
    """A new bucket, and the portal's default storage pointed at it as STORAGE_BACKEND=s3 would."""
    bucket = moto_server.new_bucket()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": s3_storage(bucket.name, bucket.endpoint, ACCESS_KEY, SECRET_KEY),
    }
    yield bucket
    assert not storage_root.exists() or not any(storage_root.rglob("*")), "a file was written to the local storage"


def use_store(settings: Any, name: str, endpoint: str) -> None:
    settings.STORAGES = {**settings.STORAGES, "default": s3_storage(name, endpoint, ACCESS_KEY, SECRET_KEY)}


# ---------------------------------------------------------------- ingest


@pytest.mark.django_db
def test_it_stores_an_object_in_the_bucket_under_its_key(hospital: Hospital, bucket: Bucket) -> None:
    data = ct_bytes()
    result = ingest_instance(data, hospital)
    assert result.outcome == IngestOutcome.STORED
    instance = Instance.objects.get(pk=result.instance_id)
    assert bucket.keys("dicom/") == [instance.storage_key]
    assert bucket.read(instance.storage_key) == data
    assert instance.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.django_db
def test_it_stores_a_mapped_file_as_it_is(hospital: Hospital, bucket: Bucket, tmp_path: Path) -> None:
    path = tmp_path / "received.dcm"
    path.write_bytes(ct_bytes(size=256))
    result = ingest_instance(path, hospital)
    assert result.outcome == IngestOutcome.STORED
    assert bucket.read(Instance.objects.get().storage_key) == path.read_bytes()


@pytest.mark.django_db
def test_it_puts_nothing_on_an_identical_resend(hospital: Hospital, bucket: Bucket) -> None:
    client = bucket.client()
    client.put_bucket_versioning(Bucket=bucket.name, VersioningConfiguration={"Status": "Enabled"})
    data = ct_bytes()
    ingest_instance(data, hospital)
    result = ingest_instance(data, hospital)
    assert result.outcome == IngestOutcome.DUPLICATE
    versions = client.list_object_versions(Bucket=bucket.name)
    assert len(versions["Versions"]) == 1  # a second PUT would have made a second version
    assert "DeleteMarkers" not in versions
    assert Instance.objects.count() == 1


@pytest.mark.django_db
def test_it_keeps_the_stored_copy_and_records_a_conflict(hospital: Hospital, bucket: Bucket) -> None:
    original = ct_bytes()
    ingest_instance(original, hospital)
    altered = ct_slice()
    altered.SeriesDescription = "Changed on the way"
    result = ingest_instance(synthetic.to_bytes(altered), hospital, source_name="pacs resend")
    assert result.outcome == IngestOutcome.CONFLICT
    instance = Instance.objects.get()
    assert bucket.keys("dicom/") == [instance.storage_key]  # the other bytes' object was removed again
    assert bucket.read(instance.storage_key) == original
    assert IngestConflict.objects.get().received_sha256 != instance.sha256


class RecordingLedger:
    def __init__(self) -> None:
        self.flushed_ids: list[int] = []
        self.later: list[tuple[int, str]] = []

    def flushed(self, instance_id: int) -> None:
        self.flushed_ids.append(instance_id)

    def flush_later(self, instance_id: int, key: str) -> None:
        self.later.append((instance_id, key))


@pytest.mark.django_db
def test_it_keeps_no_flush_journal_on_an_object_store(
    require_postgres: None, hospital: Hospital, bucket: Bucket
) -> None:
    """A PUT is durable once answered: the listener's flush-later path is for a local filesystem only."""
    assert not flushes_later()
    assert storage_root() is None
    ledger = RecordingLedger()
    ingest_instance(ct_bytes(number=1), hospital, ledger=ledger)  # a new series: the transaction path
    small = ingest_instance(ct_bytes(number=2), hospital, ledger=ledger)  # a known one: the one statement
    assert small.outcome == IngestOutcome.STORED
    assert ledger.later == []
    assert not UnflushedFile.objects.exists()
    assert len(bucket.keys("dicom/")) == 2


@pytest.mark.django_db
def test_it_writes_a_file_a_crash_left_unflushed_into_the_bucket_at_start(hospital: Hospital, bucket: Bucket) -> None:
    """Rows left by a listener that ran on a filesystem, started again on the object store."""
    data = ct_bytes()
    instance = Instance.objects.get(pk=ingest_instance(data, hospital).instance_id)
    UnflushedFile.objects.create(instance=instance, content=data)
    bucket.client().delete_object(Bucket=bucket.name, Key=instance.storage_key)
    checked = check_unflushed_files()
    assert (checked.rewritten, checked.removed, checked.left) == (1, 0, 0)
    assert bucket.read(instance.storage_key) == data
    assert not UnflushedFile.objects.exists()


@pytest.mark.django_db
def test_it_asks_for_a_resend_when_the_bucket_is_missing(
    hospital: Hospital, moto_server: MotoServer, settings: Any
) -> None:
    use_store(settings, "efilm-no-such-bucket", moto_server.endpoint)
    with pytest.raises(IngestUnavailable, match="object store: NoSuchBucket"):
        ingest_instance(ct_bytes(), hospital)
    assert not Instance.objects.exists()


@pytest.mark.django_db
def test_it_asks_for_a_resend_when_the_store_does_not_answer(hospital: Hospital, settings: Any) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    use_store(settings, "efilm", endpoint)
    with pytest.raises(IngestUnavailable) as failure:
        ingest_instance(ct_bytes(), hospital)
    assert str(failure.value) == "storage cannot take the file: object store: unreachable"
    assert endpoint not in str(failure.value)  # the sender reads it: the cause, not our addresses
    assert not Instance.objects.exists()


def test_it_uploads_a_large_mapped_object_a_few_parts_at_a_time(bucket: Bucket, tmp_path: Path) -> None:
    """128 MiB up in parts of 8 MiB: a few parts in the heap, and the mapped pages let go behind the reader."""
    path = tmp_path / "large.dcm"
    block = np.random.default_rng(7).bytes(MiB)
    with path.open("wb") as out:
        for _ in range(128):
            out.write(block)
    with path.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        write_once("warm-up", b"x")  # the client and its imports, outside the measure
        resident_before = file_backed_resident_bytes()
        tracemalloc.start()
        try:
            assert write_once("dicom/large.dcm", mapped) is True
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        resident_after = file_backed_resident_bytes()
    assert peak < 48 * MiB, f"{peak / MiB:.0f} MiB in the heap uploading 128 MiB"
    assert resident_after - resident_before < 16 * MiB
    head = bucket.client().head_object(Bucket=bucket.name, Key="dicom/large.dcm")
    assert head["ContentLength"] == 128 * MiB
    assert head["ETag"].endswith('-16"')  # a multipart upload of 16 parts


def file_backed_resident_bytes() -> int:
    status = Path("/proc/self/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("RssFile:"))
    return int(line.split()[1]) * 1024


# ---------------------------------------------------------------- renders, pages, DICOMweb, downloads


@pytest.mark.django_db
def test_it_stores_stow_rs_parts_in_the_bucket(
    hospital: Hospital, bucket: Bucket, client: Client, tmp_path: Path, settings: Any
) -> None:
    """A part waits in a spool file, is mapped, and goes up from there."""
    settings.DICOMWEB_STOW_SPOOL_DIR = tmp_path / "spool"
    data = ct_bytes(size=512)
    response = stow(client, issue_token(hospital), multipart(data))
    assert response.status_code == 200
    assert bucket.read(Instance.objects.get().storage_key) == data


@pytest.mark.django_db
def test_it_asks_a_stow_rs_sender_to_retry_when_the_store_fails(
    hospital: Hospital, moto_server: MotoServer, client: Client, tmp_path: Path, settings: Any
) -> None:
    settings.DICOMWEB_STOW_SPOOL_DIR = tmp_path / "spool"
    use_store(settings, "efilm-no-such-bucket", moto_server.endpoint)
    response = stow(client, issue_token(hospital), multipart(ct_bytes()))
    assert response.status_code == 409
    [failed] = sequence(response, "00081198")
    assert failed["00081197"]["Value"] == [0xA700]  # Out of Resources: send it again
    assert not Instance.objects.exists()


@pytest.mark.django_db
def test_it_renders_from_the_bucket_into_the_bucket(hospital: Hospital, bucket: Bucket) -> None:
    instance = Instance.objects.get(pk=ingest_instance(ct_bytes(size=64), hospital).instance_id)
    spec = RenderSpec()
    outcome = ensure_render(instance, spec)
    assert outcome.status == RenderStatus.READY
    assert spec.key(instance) in bucket.keys("renders/")
    with Image.open(io.BytesIO(read_render(spec.key(instance)))) as image:
        assert image.size == (64, 64)
    assert ensure_render(instance, spec).status == RenderStatus.READY  # found there, not made again
    assert Render.objects.get(key=spec.key(instance)).attempts == 1


@pytest.fixture
def alice(hospital: Hospital, bucket: Bucket) -> Client:
    make_exam(hospital, ALICE, "a-s3")
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    client = Client()
    sign_in_patient(client, ALICE_PHONE)
    return client


@pytest.mark.django_db
def test_it_shows_the_patient_her_images_and_report_from_the_bucket(alice: Client, bucket: Bucket) -> None:
    instance = Instance.objects.filter(series__modality="CT").in_anatomical_order().first()
    assert instance is not None
    manifest = alice.get(f"/my/series/{instance.series_id}/images.json").json()
    preview = alice.get(manifest["images"][0]["preview"], {"preset": "lung"})
    assert preview.status_code == 200
    assert preview["Content-Type"] == "image/jpeg"
    thumbnail = alice.get(f"/my/series/{instance.series_id}/thumbnail")
    assert thumbnail.status_code == 200
    assert "X-Render-Status" not in thumbnail
    raw = alice.get(f"/my/images/{instance.pk}/raw")
    assert raw.status_code == 200
    stored = pydicom.dcmread(io.BytesIO(bucket.read(instance.storage_key)))
    assert np.array_equal(np.frombuffer(raw.content, dtype="<i2"), (stored.pixel_array - 1024).ravel())
    report = alice.get(f"/my/studies/{instance.series.study_id}/report.pdf")
    assert report.status_code == 200
    assert report.content.startswith(b"%PDF")
    assert RenderSpec(window=(-600, 1500)).key(instance) in bucket.keys("renders/")


@pytest.mark.django_db
def test_it_retrieves_the_stored_files_over_wado_rs(hospital: Hospital, bucket: Bucket, client: Client) -> None:
    exam = make_exam(hospital, ALICE, "wado-s3", report="")
    token = issue_token(hospital)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    response = client.get(f"/dicomweb/studies/{exam.study.study_uid}", **auth)
    assert response.status_code == 200
    stored = {bucket.read(i.storage_key) for i in exam.series.instances.all()}
    assert set(parts(response)) == stored
    instance = exam.instance
    path = f"/dicomweb/studies/{exam.study.study_uid}/series/{exam.series.series_uid}/instances/{instance.sop_uid}"
    metadata = client.get(f"{path}/metadata", HTTP_ACCEPT="application/dicom+json", **auth)
    assert [h["00080018"]["Value"][0] for h in json.loads(b"".join(metadata.streaming_content))] == [instance.sop_uid]
    frame = client.get(f"{path}/frames/1", **auth)
    assert frame.status_code == 200
    pixels = pydicom.dcmread(io.BytesIO(bucket.read(instance.storage_key))).PixelData
    assert parts(frame) == [pixels]


@pytest.mark.django_db
def test_it_builds_a_download_from_the_bucket_keeps_it_there_and_purges_it(alice: Client, bucket: Bucket) -> None:
    study_id = Instance.objects.values_list("series__study_id", flat=True).first()
    response = alice.post(f"/my/studies/{study_id}/downloads/", {"kind": "dicom"})
    assert response.status_code == 302
    download = Download.objects.get()
    assert download.status == DownloadStatus.READY, download.error
    assert bucket.keys("downloads/") == [download.storage_key]
    file = alice.get(f"/my/downloads/{download.pk}/file")
    assert file.status_code == 200
    data = b"".join(file.streaming_content)  # type: ignore[attr-defined]
    assert data == bucket.read(download.storage_key)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert "DICOMDIR" in archive.namelist()
        copied = {archive.read(name) for name in archive.namelist() if name != "DICOMDIR"}
    assert {bucket.read(i.storage_key) for i in Instance.objects.all()} <= copied
    Download.objects.update(created_at=timezone.now() - dt.timedelta(hours=25))
    call_command("purge_downloads", stdout=io.StringIO())
    assert bucket.keys("downloads/") == []


# ---------------------------------------------------------------- processes: the listener and a render worker


@pytest.mark.usefixtures("require_dcmtk")
def test_the_listener_stores_c_stores_in_the_bucket(
    transactional_db: None, hospital: Hospital, bucket: Bucket, storage_root: Path, tmp_path: Path
) -> None:
    """storescu and pynetdicom get 0x0000; a large object goes through the spool, mapped, up in parts."""
    listener = start_listener(storage_root, processes=1, env={**bucket.env(), "DICOM_SPOOL_ABOVE_BYTES": str(MiB)})
    try:
        path = tmp_path / "small.dcm"
        path.write_bytes(ct_bytes(number=1, size=64))
        assert store_response(storescu(listener, "-xe", path=path)) == (0, "")
        assert store_response(storescu(listener, "-xe", path=path)) == (0, "")  # sent again: already there
        large = ct_slice(number=2, size=2400)  # 11 MiB of pixels: spooled, then a multipart upload
        statuses: list[int] = []
        send(listener.port, [large], statuses)
        assert statuses == [0]
        previews = Render.objects.filter(status=RenderStatus.READY, key__startswith="renders/")
        assert wait_for(lambda: previews.count() >= 2, timeout=60)
    finally:
        assert listener.stop() == 0
    small, big = Instance.objects.order_by("instance_number")
    assert dataset_bytes(bucket.read(small.storage_key)) == dataset_bytes(path.read_bytes())  # as sent
    assert hashlib.sha256(bucket.read(big.storage_key)).hexdigest() == big.sha256
    assert pydicom.dcmread(io.BytesIO(bucket.read(big.storage_key))).PixelData == large.PixelData
    assert bucket.etag(big.storage_key).endswith('-2"')
    assert set(previews.values_list("key", flat=True)) <= set(bucket.keys("renders/"))
    assert not UnflushedFile.objects.exists()


@pytest.mark.usefixtures("require_dcmtk")
def test_the_listener_asks_for_a_resend_when_the_store_fails(
    transactional_db: None, hospital: Hospital, bucket: Bucket, storage_root: Path, tmp_path: Path
) -> None:
    listener = start_listener(storage_root, processes=1, env={**bucket.env(), "S3_BUCKET": "efilm-no-such-bucket"})
    try:
        path = tmp_path / "image.dcm"
        path.write_bytes(ct_bytes())
        status, comment = store_response(storescu(listener, "-xe", path=path))
    finally:
        assert listener.stop() == 0
    assert status == 0xA700  # Out of Resources: the sender keeps it and sends it again
    assert comment == "storage cannot take the file: object store: NoSuchBucket"
    assert not Instance.objects.exists()


@pytest.mark.slow
def test_a_render_worker_reads_and_writes_the_bucket(workers: Workers, hospital: Hospital, bucket: Bucket) -> None:
    workers.env = bucket.env()
    workers.start()
    for number in range(1, 4):
        ingest_instance(ct_bytes(number=number, size=64), hospital)
    middle = middle_instance(Instance.objects.get(instance_number=1).series_id)
    assert middle is not None
    thumbnail = RenderSpec.thumbnail().key(middle)
    assert wait_for(lambda: Render.objects.filter(key=thumbnail, status=RenderStatus.READY).exists())
    assert thumbnail in bucket.keys("renders/")
