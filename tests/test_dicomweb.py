"""DICOMweb: STOW-RS and QIDO-RS on the regional index, by hospital token."""

import datetime as dt
import io
import json
import tracemalloc
from typing import Any

import pytest
from dicomweb_client.api import DICOMwebClient
from django.test import Client

from accounts.models import StaffRole
from imaging import synthetic
from imaging.dicomweb.multipart import CHUNK, read_parts
from imaging.models import Hospital, Instance, Study
from imaging.tokens import issue_token
from tests.support.dicom import BOB, ct_bytes, ct_slice, study_spec
from tests.support.people import make_staff, sign_in_staff

pytestmark = pytest.mark.django_db

BOUNDARY = "efilm-test-boundary-7f3a"
MULTIPART = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'


def multipart(*parts: bytes, content_type: str = "application/dicom") -> bytes:
    body = b""
    for part in parts:
        body += f"--{BOUNDARY}\r\nContent-Type: {content_type}\r\n\r\n".encode() + part + b"\r\n"
    return body + f"--{BOUNDARY}--\r\n".encode()


def stow(client: Client, token: str, body: bytes, path: str = "/dicomweb/studies", **headers: str) -> Any:
    return client.post(
        path, data=body, content_type=headers.pop("content_type", MULTIPART), HTTP_AUTHORIZATION=f"Bearer {token}"
    )


def sequence(response: Any, tag: str) -> list[dict[str, Any]]:
    return json.loads(response.content).get(tag, {}).get("Value", [])


def uids(items: list[dict[str, Any]]) -> list[str]:
    return [item["00081155"].get("Value", [""])[0] for item in items]


@pytest.fixture
def token(hospital: Hospital) -> str:
    return issue_token(hospital, "PACS")


@pytest.fixture
def other_token(other_hospital: Hospital) -> str:
    return issue_token(other_hospital, "PACS")


def test_it_stores_good_parts_and_lists_each_failure(client: Client, token: str) -> None:
    good, other = ct_slice(number=1), ct_slice(number=2)
    body = multipart(synthetic.to_bytes(good), synthetic.to_bytes(good), b"not DICOM at all", synthetic.to_bytes(other))
    response = stow(client, token, body)
    assert response.status_code == 202
    assert response["Content-Type"] == "application/dicom+json"
    referenced = sequence(response, "00081199")
    assert uids(referenced) == [good.SOPInstanceUID, good.SOPInstanceUID, other.SOPInstanceUID]
    assert referenced[0]["00081190"]["Value"][0].endswith(f"/instances/{good.SOPInstanceUID}")
    failed = sequence(response, "00081198")
    assert len(failed) == 1
    assert failed[0]["00081197"]["Value"] == [0xC000]
    assert Instance.objects.count() == 2


def test_it_answers_200_when_every_part_is_stored(client: Client, token: str) -> None:
    response = stow(client, token, multipart(ct_bytes(number=1), ct_bytes(number=2)))
    assert response.status_code == 200
    assert "00081198" not in json.loads(response.content)


def test_it_answers_409_when_nothing_is_stored(client: Client, token: str) -> None:
    response = stow(client, token, multipart(b"garbage", b""))
    assert response.status_code == 409
    assert len(sequence(response, "00081198")) == 2


def test_it_refuses_an_instance_of_another_study_than_the_address_names(client: Client, token: str) -> None:
    target = study_spec("target")
    body = multipart(ct_bytes(study=target, number=1), ct_bytes(study=study_spec("elsewhere"), number=2))
    response = stow(client, token, body, path=f"/dicomweb/studies/{target.study_uid}")
    assert response.status_code == 202
    assert json.loads(response.content)["00081190"]["Value"][0].endswith(f"/dicomweb/studies/{target.study_uid}")
    assert len(sequence(response, "00081198")) == 1


def test_it_reports_a_conflict_as_a_failure(client: Client, token: str) -> None:
    original = ct_slice()
    stow(client, token, multipart(synthetic.to_bytes(original)))
    original.SeriesDescription = "edited"
    response = stow(client, token, multipart(synthetic.to_bytes(original)))
    assert response.status_code == 409
    assert uids(sequence(response, "00081198")) == [original.SOPInstanceUID]


@pytest.mark.parametrize(
    ("authorization", "status"),
    [("", 401), ("Bearer hos_not-a-real-token", 401), ("Basic dXNlcjpwYXNz", 401)],
)
def test_it_wants_a_valid_token(client: Client, authorization: str, status: int) -> None:
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = client.post("/dicomweb/studies", data=multipart(ct_bytes()), content_type=MULTIPART, **headers)
    assert response.status_code == status
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert Instance.objects.count() == 0


def test_it_forgets_a_revoked_token(client: Client, hospital: Hospital, token: str) -> None:
    hospital.tokens.update(revoked_at="2026-01-01T00:00:00Z")
    assert stow(client, token, multipart(ct_bytes())).status_code == 401


def test_it_keeps_only_a_hash_of_the_token(hospital: Hospital, token: str) -> None:
    row = hospital.tokens.get()
    assert token not in (row.token_hash, row.prefix, row.label)
    assert len(token) >= 40


def test_it_wants_multipart_related_dicom(client: Client, token: str) -> None:
    response = stow(client, token, ct_bytes(), content_type="application/dicom")
    assert response.status_code == 415
    response = stow(
        client, token, multipart(ct_bytes()), content_type=f"multipart/related; type=image/jpeg; boundary={BOUNDARY}"
    )
    assert response.status_code == 415


def test_it_answers_400_to_a_malformed_body(client: Client, token: str) -> None:
    response = stow(client, token, b"--wrong-boundary\r\n\r\nstuff", content_type=MULTIPART)
    assert response.status_code == 400
    assert "malformed" in json.loads(response.content)["detail"]


def test_it_takes_images_only_from_a_hospital_token(client: Client, db: None) -> None:
    sign_in_staff(client, make_staff("regional", StaffRole.REGIONAL_ADMIN, None))
    response = client.post("/dicomweb/studies", data=multipart(ct_bytes()), content_type=MULTIPART)
    assert response.status_code == 403


class ChunkedStream:
    """A request body made on demand: `parts` instances of `size` bytes, never all in memory."""

    def __init__(self, parts: int, size: int) -> None:
        self.chunks = self._generate(parts, size)
        self.pending = b""

    def _generate(self, parts: int, size: int) -> Any:
        payload = bytes(range(256)) * (CHUNK // 256)
        for _ in range(parts):
            yield f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()
            remaining = size
            while remaining > 0:
                yield payload[: min(remaining, len(payload))]
                remaining -= len(payload)
            yield b"\r\n"
        yield f"--{BOUNDARY}--\r\n".encode()

    def read(self, size: int = -1) -> bytes:
        while len(self.pending) < size:
            try:
                self.pending += next(self.chunks)
            except StopIteration:
                break
        data, self.pending = self.pending[:size], self.pending[size:]
        return data


def test_it_reads_a_large_upload_without_holding_it_in_memory() -> None:
    tracemalloc.start()
    sizes = []
    for part in read_parts(ChunkedStream(parts=12, size=20 * 1024 * 1024), BOUNDARY, None):
        part.body.seek(0, io.SEEK_END)
        sizes.append(part.body.tell())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert sizes == [20 * 1024 * 1024] * 12
    assert peak < 24 * 1024 * 1024  # 240 MB went through


# ---------------------------------------------------------------- QIDO-RS


def qido(client: Client, token: str, path: str, **params: Any) -> Any:
    return client.get(path, params, HTTP_AUTHORIZATION=f"Bearer {token}")


def seed_two_hospitals(client: Client, token: str, other_token: str) -> None:
    alice_ct = study_spec("alice-ct")
    stow(client, token, multipart(ct_bytes(study=alice_ct, number=1), ct_bytes(study=alice_ct, number=2)))
    stow(client, token, multipart(ct_bytes(study=study_spec("alice-old", date=dt.date(2020, 3, 1)))))
    stow(client, other_token, multipart(ct_bytes(study=study_spec("bob-ct", patient=BOB), number=1)))


def found_study_uids(response: Any) -> list[str]:
    if response.status_code == 204:
        return []
    return [row["0020000D"]["Value"][0] for row in json.loads(response.content)]


def test_it_shows_a_hospital_only_its_own_studies(client: Client, token: str, other_token: str) -> None:
    seed_two_hospitals(client, token, other_token)
    mine = found_study_uids(qido(client, token, "/dicomweb/studies"))
    theirs = found_study_uids(qido(client, other_token, "/dicomweb/studies"))
    assert sorted(mine) == sorted([study_spec("alice-ct").study_uid, study_spec("alice-old").study_uid])
    assert theirs == [study_spec("bob-ct", patient=BOB).study_uid]
    bob_uid = theirs[0]
    assert qido(client, token, f"/dicomweb/studies/{bob_uid}/series").status_code == 404
    series_uid = Study.objects.get(study_uid=bob_uid).series.get().series_uid
    assert qido(client, token, f"/dicomweb/studies/{bob_uid}/series/{series_uid}/instances").status_code == 404
    assert found_study_uids(qido(client, token, "/dicomweb/studies", PatientID=BOB.patient_id)) == []


def test_it_matches_the_standards_query_keys(client: Client, token: str, other_token: str) -> None:
    seed_two_hospitals(client, token, other_token)
    recent, old = study_spec("alice-ct").study_uid, study_spec("alice-old").study_uid
    assert found_study_uids(qido(client, token, "/dicomweb/studies", StudyDate="20260101-")) == [recent]
    assert found_study_uids(qido(client, token, "/dicomweb/studies", StudyDate="-20201231")) == [old]
    assert found_study_uids(qido(client, token, "/dicomweb/studies", StudyDate="20200301")) == [old]
    assert found_study_uids(qido(client, token, "/dicomweb/studies", AccessionNumber="ACC-alice-old")) == [old]
    assert len(found_study_uids(qido(client, token, "/dicomweb/studies", ModalitiesInStudy="CT"))) == 2
    assert found_study_uids(qido(client, token, "/dicomweb/studies", ModalitiesInStudy="MR")) == []
    assert found_study_uids(qido(client, token, "/dicomweb/studies", PatientName="Ali*")) != []
    assert found_study_uids(qido(client, token, "/dicomweb/studies", limit=1)) == [recent]
    assert found_study_uids(qido(client, token, "/dicomweb/studies", limit=1, offset=1)) == [old]
    assert qido(client, token, "/dicomweb/studies", StudyDate="yesterday").status_code == 400


def test_it_lists_series_and_instances_in_order(client: Client, token: str) -> None:
    study = study_spec("ordered")
    stow(client, token, multipart(*(ct_bytes(study=study, number=n, z=10.0 - n) for n in (1, 2, 3))))
    series = json.loads(qido(client, token, f"/dicomweb/studies/{study.study_uid}/series").content)
    assert series[0]["00080060"]["Value"] == ["CT"]
    assert series[0]["00201209"]["Value"] == [3]
    series_uid = series[0]["0020000E"]["Value"][0]
    instances = json.loads(
        qido(client, token, f"/dicomweb/studies/{study.study_uid}/series/{series_uid}/instances").content
    )
    assert [i["00200013"]["Value"][0] for i in instances] == [3, 2, 1]  # up the slice normal


def test_dicomweb_client_stores_and_searches(live_server: Any, transactional_db: None, hospital: Hospital) -> None:
    token = issue_token(hospital)
    api = DICOMwebClient(url=f"{live_server.url}/dicomweb", headers={"Authorization": f"Bearer {token}"})
    study = study_spec("client")
    datasets = [ct_slice(study=study, number=n) for n in (1, 2)]
    result = api.store_instances(datasets)
    assert len(result.ReferencedSOPSequence) == 2
    assert [s["0020000D"]["Value"][0] for s in api.search_for_studies()] == [study.study_uid]
    series = api.search_for_series(study.study_uid)
    series_uid = series[0]["0020000E"]["Value"][0]
    instances = api.search_for_instances(study.study_uid, series_uid)
    assert sorted(i["00080018"]["Value"][0] for i in instances) == sorted(d.SOPInstanceUID for d in datasets)
    stranger = DICOMwebClient(url=f"{live_server.url}/dicomweb", headers={"Authorization": "Bearer hos_nope"})
    with pytest.raises(Exception, match="401"):
        stranger.search_for_studies()
