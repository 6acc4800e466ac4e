"""STOW-RS (PS3.18 10.5): what each answer says, large parts on disk, chunked bodies under gunicorn."""

import http.client
import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from pydicom.dataset import Dataset

from imaging import synthetic
from imaging.models import Hospital, Instance
from imaging.tokens import issue_token
from tests.support.dicom import ct_bytes, ct_slice, stored_files, study_spec
from tests.support.processes import ROOT, background, free_port, output_of, subprocess_env, wait_for_port
from tests.support.stow import LazyStowBody, PeakResidentRise, post_stream
from tests.test_dicomweb import MULTIPART, multipart, sequence, stow, uids

CANNOT_UNDERSTAND = 0xC000


@pytest.fixture
def token(hospital: Hospital) -> str:
    return issue_token(hospital, "PACS")


@pytest.fixture(autouse=True)
def spool_dir(tmp_path: Path, settings: Any) -> Path:
    settings.DICOMWEB_STOW_SPOOL_DIR = tmp_path / "spool"
    return settings.DICOMWEB_STOW_SPOOL_DIR


# ---------------------------------------------------------------- what the answer says


@pytest.mark.django_db
def test_it_does_not_store_a_part_of_another_study_than_the_address_names(
    client: Client, token: str, storage_root: Path
) -> None:
    target, elsewhere = study_spec("target"), study_spec("elsewhere")
    stray = ct_slice(study=elsewhere, number=2)
    body = multipart(ct_bytes(study=target, number=1), synthetic.to_bytes(stray))
    response = stow(client, token, body, path=f"/dicomweb/studies/{target.study_uid}")
    assert response.status_code == 202
    assert not Instance.objects.filter(sop_uid=stray.SOPInstanceUID).exists()
    assert [path for path in stored_files(storage_root) if elsewhere.study_uid in str(path)] == []
    [failed] = sequence(response, "00081198")
    assert failed["00081150"]["Value"] == [stray.SOPClassUID]
    assert failed["00081155"]["Value"] == [stray.SOPInstanceUID]
    assert failed["00081197"]["Value"] == [CANNOT_UNDERSTAND]


@pytest.mark.django_db
def test_it_answers_409_when_every_part_is_of_another_study(client: Client, token: str, storage_root: Path) -> None:
    target = study_spec("target")
    body = multipart(ct_bytes(study=study_spec("elsewhere"), number=1))
    response = stow(client, token, body, path=f"/dicomweb/studies/{target.study_uid}")
    assert response.status_code == 409
    assert Instance.objects.count() == 0
    assert stored_files(storage_root) == []


@pytest.mark.django_db
def test_it_names_the_sop_instance_of_a_part_whose_header_it_refused(client: Client, token: str) -> None:
    nameless = ct_slice(number=1)
    nameless.PatientID = ""
    response = stow(client, token, multipart(synthetic.to_bytes(nameless)))
    assert response.status_code == 409
    [failed] = sequence(response, "00081198")
    assert failed["00081150"]["Value"] == [nameless.SOPClassUID]
    assert failed["00081155"]["Value"] == [nameless.SOPInstanceUID]
    assert failed["00081197"]["Value"] == [CANNOT_UNDERSTAND]


@pytest.mark.django_db
def test_it_names_the_sop_instance_of_a_truncated_part(client: Client, token: str) -> None:
    whole = ct_slice(number=1, size=64)
    response = stow(client, token, multipart(synthetic.to_bytes(whole)[:-100]))
    assert response.status_code == 409
    assert uids(sequence(response, "00081198")) == [whole.SOPInstanceUID]


# ---------------------------------------------------------------- large parts


def large_ct(study_key: str, rows: int, columns: int) -> tuple[Dataset, bytes]:
    """A CT header whose 16-bit Pixel Data (rows x columns) is left out; its bytes end before it."""
    ds = ct_slice(study=study_spec(study_key), number=1)
    del ds.PixelData
    ds.Rows, ds.Columns = rows, columns
    return ds, synthetic.to_bytes(ds)


@pytest.mark.django_db
def test_it_stores_a_100_mb_part_without_holding_it_in_memory(token: str, storage_root: Path) -> None:
    ds, header = large_ct("large", rows=10240, columns=5120)
    body = LazyStowBody(header, pixel_bytes=10240 * 5120 * 2)
    tracemalloc.start()
    with PeakResidentRise() as resident:
        status, answer = post_stream(body, token, body.length)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert status == 200, answer
    instance = Instance.objects.get(sop_uid=ds.SOPInstanceUID)
    assert instance.size_bytes == len(header) + 12 + 10240 * 5120 * 2
    assert (storage_root / instance.storage_key).stat().st_size == instance.size_bytes
    print(
        f"STOW-RS of a 100 MiB part: tracemalloc peak {peak / 2**20:.1f} MiB, RSS rise {resident.rise / 2**20:.1f} MiB"
    )
    assert peak < 20 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB for a 100 MiB part"
    assert resident.rise < 40 * 1024 * 1024, f"RSS rose {resident.rise / 2**20:.1f} MiB for a 100 MiB part"


# ---------------------------------------------------------------- chunked, as deployed


@pytest.mark.django_db
def test_it_wants_a_length_or_a_body_the_server_has_dechunked(token: str) -> None:
    _, header = large_ct("unbounded", rows=16, columns=16)
    body = LazyStowBody(header, pixel_bytes=16 * 16 * 2)
    status, answer = post_stream(body, token, length=None, terminated=False)
    assert status == 411, answer
    assert body.read_bytes == 0


@pytest.fixture
def gunicorn(storage_root: Path, spool_dir: Path, transactional_db: None) -> Iterator[int]:
    port = free_port()
    env = {**subprocess_env(storage_root), "DICOMWEB_STOW_SPOOL_DIR": str(spool_dir)}
    deployed = ["--worker-class", "gthread", "--threads", "4"]  # as the README's production command runs it
    command = [
        str(ROOT / ".venv/bin/gunicorn"),
        "portal.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        *deployed,
    ]
    process = background(command, env)
    try:
        wait_for_port(port, process)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)
        print(output_of(process))


def test_it_takes_a_chunked_body_under_gunicorn(gunicorn: int, hospital: Hospital) -> None:
    token = issue_token(hospital, "PACS")
    first, second = ct_slice(number=1), ct_slice(number=2)
    body = multipart(synthetic.to_bytes(first), synthetic.to_bytes(second))
    connection = http.client.HTTPConnection("127.0.0.1", gunicorn, timeout=60)
    headers = {"Content-Type": MULTIPART, "Authorization": f"Bearer {token}", "Transfer-Encoding": "chunked"}
    chunks = (body[offset : offset + 1000] for offset in range(0, len(body), 1000))
    connection.request("POST", "/dicomweb/studies", body=chunks, headers=headers, encode_chunked=True)
    response = connection.getresponse()
    answer = json.loads(response.read())
    assert response.status == 200, answer
    assert uids(answer["00081199"]["Value"]) == [first.SOPInstanceUID, second.SOPInstanceUID]
    assert set(Instance.objects.values_list("sop_uid", flat=True)) == {first.SOPInstanceUID, second.SOPInstanceUID}
