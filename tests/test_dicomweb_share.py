"""DICOMweb with a share's credentials: WADO-RS and QIDO-RS of exactly the shared study, for a clinician's viewer."""

import base64
import datetime as dt
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.http import StreamingHttpResponse
from django.test import Client
from django.utils import timezone
from pydicom.encaps import generate_frames

from imaging import synthetic
from imaging.dicom import stored_pixels
from imaging.ingest import ingest_instance
from imaging.models import Hospital, Instance, Study
from imaging.tokens import issue_token
from portal.audit.models import AuditAction, AuditEvent
from portal.sharing.models import ShareLink, ShareOpen
from tests.support.dicom import ALICE, BOB, ct_slice, study_spec
from tests.support.exams import Exam, make_exam
from tests.support.people import ALICE_PHONE, BOB_PHONE, link, sign_in_patient
from tests.test_shares import create

pytestmark = pytest.mark.django_db(transaction=True)

DICOM_MULTIPART = 'multipart/related; type="application/dicom"'
FRAMES_MULTIPART = 'multipart/related; type="application/octet-stream"'
ANY_FRAMES = f"{FRAMES_MULTIPART}; transfer-syntax=*"
NATIVE = "1.2.840.10008.1.2.1"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
VIEWER_ORIGIN = "https://viewer.example.org"


@dataclass(frozen=True)
class Shared:
    token: str
    code: str
    share: ShareLink


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    """Share pks repeat between transactional tests; the hourly opening log is keyed by them."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def exams(hospital: Hospital, other_hospital: Hospital) -> dict[str, Exam]:
    alice = make_exam(hospital, ALICE, "alice-share")
    other = make_exam(hospital, ALICE, "alice-other", report="text")
    bob = make_exam(other_hospital, BOB, "bob-share")
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    link(BOB_PHONE, other_hospital, BOB.patient_id)
    return {"alice": alice, "other": other, "bob": bob}


@pytest.fixture
def alice(exams: dict[str, Exam]) -> Client:
    client = Client()
    sign_in_patient(client, ALICE_PHONE)
    return client


def share(alice: Client, exam: Exam, **fields: Any) -> Shared:
    """A share that allows downloads: DICOMweb hands out the originals, so it needs that permission."""
    url, code, made = create(alice, exam, **{"allow_download": "on", **fields})
    return Shared(url.rsplit("/", 1)[1], code, made)


@pytest.fixture
def shared(alice: Client, exams: dict[str, Exam]) -> Shared:
    return share(alice, exams["alice"])


def viewer(live_server: Any, token: str, code: str = "") -> DICOMwebClient:
    session = requests.Session()
    session.auth = (token, code)
    return DICOMwebClient(url=f"{live_server.url}/dicomweb", session=session)


def basic(token: str, code: str = "") -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{token}:{code}".encode()).decode()}


def stored(study: Study) -> dict[str, pydicom.Dataset]:
    originals = {}
    for instance in Instance.objects.filter(series__study=study):
        with default_storage.open(instance.storage_key, "rb") as handle:
            originals[instance.sop_uid] = pydicom.dcmread(handle)
    return originals


def status_of(call: Any, *args: Any) -> int:
    with pytest.raises(requests.HTTPError) as raised:
        call(*args)
    return raised.value.response.status_code


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def typed_parts(response: Any) -> list[tuple[str, bytes]]:
    """Each part's Content-Type and content."""
    boundary = response["Content-Type"].split("boundary=")[1].encode()
    chunks = body(response).split(b"--" + boundary)
    assert chunks[0] == b""
    assert chunks[-1] == b"--\r\n"
    found = []
    for chunk in chunks[1:-1]:
        head, content = chunk.split(b"\r\n\r\n", 1)
        found.append((head.decode().strip().removeprefix("Content-Type:").strip(), content.removesuffix(b"\r\n")))
    return found


def parts(response: Any) -> list[bytes]:
    return [content for _, content in typed_parts(response)]


def frames_path(exam: Exam, sop_uid: str, frame_list: str) -> str:
    return (
        f"/dicomweb/studies/{exam.study.study_uid}/series/{exam.series.series_uid}"
        f"/instances/{sop_uid}/frames/{frame_list}"
    )


def add_to_shared_study(dataset: pydicom.Dataset, hospital: Hospital) -> Instance:
    assert ingest_instance(synthetic.to_bytes(dataset), hospital).ok
    return Instance.objects.get(sop_uid=dataset.SOPInstanceUID)


@pytest.fixture
def native_cine(exams: dict[str, Exam], hospital: Hospital) -> tuple[Instance, list[bytes]]:
    """Three uncompressed 16 x 16 frames, each different, in the shared study."""
    ds = ct_slice(study=study_spec("alice-share", patient=ALICE), number=7, series_key="multiframe")
    pixels = (np.arange(3 * 16 * 16, dtype=np.int16) * 3).reshape(3, 16, 16)
    ds.NumberOfFrames = 3
    ds.PixelData = pixels.tobytes()
    return add_to_shared_study(ds, hospital), [frame.tobytes() for frame in pixels]


@pytest.fixture
def us_cine(exams: dict[str, Exam], hospital: Hospital) -> tuple[Instance, list[bytes]]:
    """A JPEG Baseline ultrasound cine of four frames in the shared study, with each frame's bitstream."""
    ds = next(synthetic.us_cine(study_spec("alice-share", patient=ALICE), frames=4, rows=48, columns=64))
    return add_to_shared_study(ds, hospital), list(generate_frames(ds.PixelData, number_of_frames=4))


# ---------------------------------------------------------------- with dicomweb-client, over HTTP


def test_it_retrieves_the_shared_studys_originals(live_server: Any, exams: dict[str, Exam], shared: Shared) -> None:
    study = exams["alice"].study
    retrieved = viewer(live_server, shared.token, shared.code).retrieve_study(study.study_uid)
    originals = stored(study)
    assert sorted(ds.SOPInstanceUID for ds in retrieved) == sorted(originals)
    assert len(originals) == 4  # three CT images and the PDF report
    for ds in retrieved:
        original = originals[ds.SOPInstanceUID]
        if "PixelData" in original:
            assert ds.PixelData == original.PixelData
        else:
            assert ds.EncapsulatedDocument == original.EncapsulatedDocument


def test_it_searches_the_shared_study_only(live_server: Any, exams: dict[str, Exam], shared: Shared) -> None:
    api = viewer(live_server, shared.token, shared.code)
    study = exams["alice"].study
    assert [s["0020000D"]["Value"][0] for s in api.search_for_studies()] == [study.study_uid]
    assert api.search_for_studies(search_filters={"PatientID": BOB.patient_id}) == []
    series = api.search_for_series(study.study_uid)
    assert sorted(s["00080060"]["Value"][0] for s in series) == ["CT", "DOC"]
    instances = api.search_for_instances(study.study_uid, exams["alice"].series.series_uid)
    assert sorted(i["00080018"]["Value"][0] for i in instances) == sorted(
        exams["alice"].series.instances.values_list("sop_uid", flat=True)
    )
    series_uid = exams["alice"].series.series_uid
    assert len(api.retrieve_series(study.study_uid, series_uid)) == 3
    one = api.retrieve_instance(study.study_uid, series_uid, exams["alice"].instance.sop_uid)
    assert one.SOPInstanceUID == exams["alice"].instance.sop_uid


@pytest.mark.parametrize("other", ["other", "bob"])
def test_it_answers_404_for_any_other_study(
    live_server: Any, exams: dict[str, Exam], shared: Shared, other: str
) -> None:
    api = viewer(live_server, shared.token, shared.code)
    exam = exams[other]
    study_uid, series_uid = exam.study.study_uid, exam.series.series_uid
    assert status_of(api.retrieve_study, study_uid) == 404
    assert status_of(api.retrieve_series, study_uid, series_uid) == 404
    assert status_of(api.retrieve_instance, study_uid, series_uid, exam.instance.sop_uid) == 404
    assert status_of(api.retrieve_study_metadata, study_uid) == 404
    assert status_of(api.search_for_series, study_uid) == 404
    assert status_of(api.search_for_instances, study_uid, series_uid) == 404
    assert status_of(api.retrieve_instance_frames, study_uid, series_uid, exam.instance.sop_uid, [1]) == 404
    # The shared study's series under another study's address is not there either.
    shared_series = exams["alice"].series.series_uid
    assert status_of(api.retrieve_series, study_uid, shared_series) == 404


def test_it_answers_401_to_a_wrong_code_and_counts_it_toward_the_lock(
    live_server: Any, exams: dict[str, Exam], shared: Shared, sms_outbox: list[Any]
) -> None:
    study_uid = exams["alice"].study.study_uid
    sms_outbox.clear()
    wrong = f"{(int(shared.code) + 1) % 1000000:06d}"
    guesser = viewer(live_server, shared.token, wrong)
    for attempt in range(1, 5):
        assert status_of(guesser.retrieve_study, study_uid) == 401
        shared.share.refresh_from_db()
        assert shared.share.wrong_codes == attempt
    assert status_of(guesser.search_for_studies) == 401
    shared.share.refresh_from_db()
    assert shared.share.locked_until
    assert shared.share.locked_until > timezone.now()
    assert [m.to for m in sms_outbox] == [ALICE_PHONE]  # "locked for 15 minutes", in the patient's language
    right = viewer(live_server, shared.token, shared.code)
    assert status_of(right.retrieve_study, study_uid) == 401  # locked: even the right code waits
    ShareLink.objects.filter(pk=shared.share.pk).update(locked_until=timezone.now() - dt.timedelta(seconds=1))
    assert len(right.retrieve_study(study_uid)) == 4


def test_it_answers_401_once_the_share_is_revoked_or_expired(
    live_server: Any, alice: Client, exams: dict[str, Exam], shared: Shared
) -> None:
    api = viewer(live_server, shared.token, shared.code)
    study_uid = exams["alice"].study.study_uid
    assert api.search_for_series(study_uid)
    assert alice.post(f"/my/shares/{shared.share.pk}/revoke").status_code == 302
    assert status_of(api.retrieve_study, study_uid) == 401
    expiring = share(alice, exams["alice"])
    ShareLink.objects.filter(pk=expiring.share.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert status_of(viewer(live_server, expiring.token, expiring.code).search_for_studies) == 401


def test_it_stores_nothing_with_share_credentials(live_server: Any, exams: dict[str, Exam], shared: Shared) -> None:
    api = viewer(live_server, shared.token, shared.code)
    before = Instance.objects.count()
    slice_of_shared = ct_slice(study=study_spec("alice-share", patient=ALICE), number=9)
    assert status_of(api.store_instances, [slice_of_shared]) == 403
    assert status_of(api.store_instances, [slice_of_shared], exams["alice"].study.study_uid) == 403
    assert Instance.objects.count() == before


def test_it_takes_a_bearer_token_only_for_a_share_without_a_code(
    live_server: Any, alice: Client, exams: dict[str, Exam], shared: Shared
) -> None:
    study_uid = exams["alice"].study.study_uid
    open_share = share(alice, exams["alice"], with_code="")
    bearer = DICOMwebClient(f"{live_server.url}/dicomweb", headers={"Authorization": f"Bearer {open_share.token}"})
    assert len(bearer.retrieve_study(study_uid)) == 4
    assert len(viewer(live_server, open_share.token).retrieve_study(study_uid)) == 4
    coded = DICOMwebClient(f"{live_server.url}/dicomweb", headers={"Authorization": f"Bearer {shared.token}"})
    assert status_of(coded.retrieve_study, study_uid) == 401
    shared.share.refresh_from_db()
    assert shared.share.wrong_codes == 0  # no code was tried


def test_it_leaves_out_the_report_unless_it_was_shared(live_server: Any, alice: Client, exams: dict[str, Exam]) -> None:
    without = share(alice, exams["alice"], include_report="")
    api = viewer(live_server, without.token, without.code)
    study_uid = exams["alice"].study.study_uid
    retrieved = api.retrieve_study(study_uid)
    assert {ds.Modality for ds in retrieved} == {"CT"}
    assert len(retrieved) == 3
    assert [s["00080060"]["Value"][0] for s in api.search_for_series(study_uid)] == ["CT"]
    report = exams["alice"].study.reports.get().instance
    assert report is not None
    report_series = report.series.series_uid
    assert status_of(api.retrieve_series, study_uid, report_series) == 404
    assert status_of(api.search_for_instances, study_uid, report_series) == 404
    assert len(api.retrieve_study_metadata(study_uid)) == 3


SEARCHES = ("/dicomweb/series", "/dicomweb/instances", "/dicomweb/studies/{study}/instances")


def test_it_searches_every_resource_within_the_shared_study(
    client: Client, exams: dict[str, Exam], shared: Shared
) -> None:
    credentials = basic(shared.token, shared.code)
    study = exams["alice"].study.study_uid
    for path in SEARCHES:
        response = client.get(path.format(study=study), **credentials)
        assert {row["0020000D"]["Value"][0] for row in json.loads(response.content)} == {study}, path
    for other in ("other", "bob"):
        elsewhere = f"/dicomweb/studies/{exams[other].study.study_uid}/instances"
        assert client.get(elsewhere, **credentials).status_code == 404


def test_it_leaves_an_unshared_report_out_of_every_search(
    client: Client, alice: Client, exams: dict[str, Exam]
) -> None:
    without = share(alice, exams["alice"], include_report="")
    study = exams["alice"].study.study_uid
    for path in SEARCHES:
        response = client.get(path.format(study=study), **basic(without.token, without.code))
        assert {row["00080060"]["Value"][0] for row in json.loads(response.content)} == {"CT"}, path


def test_it_logs_a_viewers_use_as_an_opening_once_an_hour(
    live_server: Any, exams: dict[str, Exam], shared: Shared, sms_outbox: list[Any]
) -> None:
    api = viewer(live_server, shared.token, shared.code)
    study_uid = exams["alice"].study.study_uid
    sms_outbox.clear()
    api.retrieve_study(study_uid)
    api.search_for_series(study_uid)
    opening = ShareOpen.objects.get(share=shared.share)
    assert opening.browser.startswith("DICOMweb")
    shared.share.refresh_from_db()
    assert shared.share.opens == 1
    assert [m.to for m in sms_outbox] == [ALICE_PHONE]  # "just opened", once
    event = AuditEvent.objects.get(action=AuditAction.STUDY_VIEW, detail__via="dicomweb")
    assert (event.actor, event.study_id, event.detail["share"]) == ("share", exams["alice"].study.pk, shared.share.pk)


# ---------------------------------------------------------------- with Django's test client


def test_it_streams_the_stored_files_byte_for_byte(client: Client, exams: dict[str, Exam], shared: Shared) -> None:
    exam = exams["alice"]
    path = f"/dicomweb/studies/{exam.study.study_uid}/series/{exam.series.series_uid}"
    response = client.get(path, HTTP_ACCEPT=f"{DICOM_MULTIPART}; transfer-syntax=*", **basic(shared.token, shared.code))
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith(DICOM_MULTIPART)
    originals = []
    for instance in exam.series.instances.order_by("instance_number"):
        with default_storage.open(instance.storage_key, "rb") as handle:
            originals.append(handle.read())
    assert parts(response) == originals


def test_it_answers_metadata_without_bulk_data(client: Client, exams: dict[str, Exam], shared: Shared) -> None:
    study = exams["alice"].study
    response = client.get(f"/dicomweb/studies/{study.study_uid}/metadata", **basic(shared.token, shared.code))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/dicom+json"
    headers = json.loads(body(response))
    assert sorted(h["00080018"]["Value"][0] for h in headers) == sorted(stored(study))
    ct = next(h for h in headers if h["00080060"]["Value"] == ["CT"])
    assert ct["00280010"]["Value"] == [16]
    pdf = next(h for h in headers if h["00080060"]["Value"] == ["DOC"])
    for header in headers:
        assert "7FE00010" not in header
        assert not any("BulkDataURI" in attribute for attribute in header.values())
        assert all(len(attribute.get("InlineBinary", "")) < 1024 for attribute in header.values())
    assert "00420011" not in pdf  # the encapsulated PDF
    assert pdf["00420012"]["Value"] == ["application/pdf"]
    series = exams["alice"].series
    one = client.get(
        f"/dicomweb/studies/{study.study_uid}/series/{series.series_uid}/instances/{exams['alice'].instance.sop_uid}"
        "/metadata",
        HTTP_ACCEPT="application/dicom+json",
        **basic(shared.token, shared.code),
    )
    assert [h["00080018"]["Value"][0] for h in json.loads(body(one))] == [exams["alice"].instance.sop_uid]


@pytest.mark.parametrize(
    ("suffix", "accept"),
    [
        ("", "application/dicom+json"),
        ("", "image/jpeg"),
        ("", 'multipart/related; type="image/jpeg"'),
        ("", f"{DICOM_MULTIPART}; transfer-syntax=1.2.840.10008.1.2.4.50"),
        ("", f"{DICOM_MULTIPART}; q=0"),
        ("/metadata", DICOM_MULTIPART),
        ("/metadata", "text/html"),
    ],
)
def test_it_answers_406_to_media_types_it_does_not_make(
    client: Client, exams: dict[str, Exam], shared: Shared, suffix: str, accept: str
) -> None:
    path = f"/dicomweb/studies/{exams['alice'].study.study_uid}{suffix}"
    assert client.get(path, HTTP_ACCEPT=accept, **basic(shared.token, shared.code)).status_code == 406


@pytest.mark.parametrize("accept", ["", "*/*", DICOM_MULTIPART, f"image/jpeg, {DICOM_MULTIPART}; q=0.5"])
def test_it_defaults_to_multipart_dicom(client: Client, exams: dict[str, Exam], shared: Shared, accept: str) -> None:
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    path = f"/dicomweb/studies/{exams['alice'].study.study_uid}"
    response = client.get(path, **headers, **basic(shared.token, shared.code))
    assert response.status_code == 200
    assert len(parts(response)) == 4


def test_it_answers_400_to_an_invalid_uid(client: Client, exams: dict[str, Exam], shared: Shared) -> None:
    credentials = basic(shared.token, shared.code)
    assert client.get("/dicomweb/studies/not-a-uid", **credentials).status_code == 400
    study_uid = exams["alice"].study.study_uid
    assert client.get(f"/dicomweb/studies/{study_uid}/series/1..2/metadata", **credentials).status_code == 400


def test_it_wants_share_credentials_in_basic_auth(client: Client, exams: dict[str, Exam], shared: Shared) -> None:
    path = f"/dicomweb/studies/{exams['alice'].study.study_uid}"
    hospital_token = issue_token(exams["alice"].study.hospital)
    for headers in (basic("nobody", "123456"), basic(hospital_token), {"HTTP_AUTHORIZATION": "Basic %%%"}, {}):
        response = client.get(path, **headers)
        assert response.status_code == 401
        assert "Basic" in response["WWW-Authenticate"]


def test_it_lets_a_hospital_retrieve_its_own_studies(client: Client, exams: dict[str, Exam]) -> None:
    token = issue_token(exams["alice"].study.hospital)
    own = client.get(f"/dicomweb/studies/{exams['other'].study.study_uid}", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert own.status_code == 200
    assert len(parts(own)) == 4  # three CT images and the text report
    theirs = client.get(f"/dicomweb/studies/{exams['bob'].study.study_uid}", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert theirs.status_code == 404


# ---------------------------------------------------------------- frames (WADO-RS Retrieve Frames), for OHIF


def test_it_retrieves_frames_with_dicomweb_client(
    live_server: Any,
    exams: dict[str, Exam],
    shared: Shared,
    native_cine: tuple[Instance, list[bytes]],
    us_cine: tuple[Instance, list[bytes]],
) -> None:
    api = viewer(live_server, shared.token, shared.code)
    exam = exams["alice"]
    ct = stored(exam.study)[exam.instance.sop_uid]
    assert api.retrieve_instance_frames(exam.study.study_uid, exam.series.series_uid, ct.SOPInstanceUID, [1]) == [
        ct.PixelData
    ]
    instance, frames = native_cine
    series_uid = instance.series.series_uid
    retrieved = api.retrieve_instance_frames(exam.study.study_uid, series_uid, instance.sop_uid, [3, 1])
    assert retrieved == [frames[2], frames[0]]
    cine, bitstreams = us_cine
    for media_types in [None, (("application/octet-stream", "*"),), ("image/jpeg",)]:
        jpegs = api.retrieve_instance_frames(
            exam.study.study_uid, cine.series.series_uid, cine.sop_uid, [1, 2, 3, 4], media_types=media_types
        )
        assert jpegs == bitstreams
        assert all(jpeg.startswith(b"\xff\xd8") for jpeg in jpegs)


def test_it_sends_a_native_frame_as_its_slice_of_the_pixel_data(
    client: Client, exams: dict[str, Exam], shared: Shared, native_cine: tuple[Instance, list[bytes]]
) -> None:
    exam = exams["alice"]
    response = client.get(frames_path(exam, exam.instance.sop_uid, "1"), **basic(shared.token, shared.code))
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith(FRAMES_MULTIPART)
    assert typed_parts(response) == [
        (f"application/octet-stream; transfer-syntax={NATIVE}", stored(exam.study)[exam.instance.sop_uid].PixelData)
    ]
    instance, frames = native_cine
    path = frames_path(exam, instance.sop_uid, "2,3,2").replace(exam.series.series_uid, instance.series.series_uid)
    response = client.get(path, HTTP_ACCEPT=ANY_FRAMES, **basic(shared.token, shared.code))
    assert parts(response) == [frames[1], frames[2], frames[1]]


def test_it_sends_a_compressed_frame_as_its_stored_bitstream(
    client: Client, exams: dict[str, Exam], shared: Shared, us_cine: tuple[Instance, list[bytes]]
) -> None:
    cine, bitstreams = us_cine
    path = frames_path(exams["alice"], cine.sop_uid, "4,1").replace(
        exams["alice"].series.series_uid, cine.series.series_uid
    )
    response = client.get(path, HTTP_ACCEPT=ANY_FRAMES, **basic(shared.token, shared.code))
    assert response.status_code == 200
    assert response["Content-Type"].startswith(FRAMES_MULTIPART)
    octet = f"application/octet-stream; transfer-syntax={JPEG_BASELINE}"
    assert typed_parts(response) == [(octet, bitstreams[3]), (octet, bitstreams[0])]
    assert bitstreams[3].startswith(b"\xff\xd8")
    as_jpeg = client.get(path, HTTP_ACCEPT='multipart/related; type="image/jpeg"', **basic(shared.token, shared.code))
    assert as_jpeg["Content-Type"].startswith('multipart/related; type="image/jpeg"')
    assert typed_parts(as_jpeg)[0] == (f"image/jpeg; transfer-syntax={JPEG_BASELINE}", bitstreams[3])


@pytest.mark.parametrize(
    ("kind", "accept"),
    [
        ("cine", FRAMES_MULTIPART),  # no transfer-syntax: Explicit VR Little Endian, which means decoding
        ("cine", f"{FRAMES_MULTIPART}; transfer-syntax={NATIVE}"),
        ("cine", 'multipart/related; type="image/jp2"'),
        ("cine", 'multipart/related; type="image/jpeg"; transfer-syntax=1.2.840.10008.1.2.4.70'),
        ("cine", "image/jpeg"),
        ("cine", DICOM_MULTIPART),
        ("ct", 'multipart/related; type="image/jpeg"'),
        ("ct", f"{FRAMES_MULTIPART}; transfer-syntax={JPEG_BASELINE}"),
        ("ct", f"{ANY_FRAMES}; q=0"),
    ],
)
def test_it_answers_406_to_frames_it_would_have_to_transcode(
    client: Client,
    exams: dict[str, Exam],
    shared: Shared,
    us_cine: tuple[Instance, list[bytes]],
    kind: str,
    accept: str,
) -> None:
    instance = us_cine[0] if kind == "cine" else exams["alice"].instance
    path = frames_path(exams["alice"], instance.sop_uid, "1").replace(
        exams["alice"].series.series_uid, instance.series.series_uid
    )
    assert client.get(path, HTTP_ACCEPT=accept, **basic(shared.token, shared.code)).status_code == 406


@pytest.mark.parametrize(
    ("frame_list", "status"),
    [("0", 400), ("x", 400), ("1,", 400), ("1,,2", 400), ("-1", 400), ("1.5", 400), ("2", 404), ("1,2", 404)],
)
def test_it_answers_400_to_a_bad_frame_list_and_404_to_a_frame_it_does_not_have(
    client: Client, exams: dict[str, Exam], shared: Shared, frame_list: str, status: int
) -> None:
    path = frames_path(exams["alice"], exams["alice"].instance.sop_uid, frame_list)
    assert client.get(path, HTTP_ACCEPT=ANY_FRAMES, **basic(shared.token, shared.code)).status_code == status


def test_it_answers_404_to_frames_of_an_instance_without_pixels(
    client: Client, exams: dict[str, Exam], shared: Shared
) -> None:
    report = exams["alice"].study.reports.get().instance
    assert report is not None
    path = frames_path(exams["alice"], report.sop_uid, "1").replace(
        exams["alice"].series.series_uid, report.series.series_uid
    )
    assert client.get(path, **basic(shared.token, shared.code)).status_code == 404


@pytest.mark.parametrize("other", ["other", "bob"])
def test_it_answers_404_for_another_studys_frames(
    client: Client, exams: dict[str, Exam], shared: Shared, other: str
) -> None:
    credentials = basic(shared.token, shared.code)
    exam = exams[other]
    assert client.get(frames_path(exam, exam.instance.sop_uid, "1"), **credentials).status_code == 404
    # The shared instance under another study's address is not there either.
    mixed = frames_path(exam, exams["alice"].instance.sop_uid, "1")
    assert client.get(mixed, **credentials).status_code == 404
    assert client.get(frames_path(exams["alice"], exams["alice"].instance.sop_uid, "1")).status_code == 401


# ---------------------------------------------------------------- CORS, for a viewer on another origin


def test_it_answers_a_preflight_from_an_allowed_origin_without_credentials(
    client: Client, settings: Any, exams: dict[str, Exam]
) -> None:
    settings.DICOMWEB_CORS_ORIGINS = [VIEWER_ORIGIN, "https://other-viewer.example.org"]
    response = client.options(
        frames_path(exams["alice"], exams["alice"].instance.sop_uid, "1"),
        HTTP_ORIGIN=VIEWER_ORIGIN,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, accept",
    )
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == VIEWER_ORIGIN
    assert "Origin" in response["Vary"]
    allowed_headers = {header.strip().lower() for header in response["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "accept"} <= allowed_headers
    assert "GET" in response["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in response


def test_it_lets_an_allowed_origin_read_answers_and_errors(
    client: Client, settings: Any, exams: dict[str, Exam], shared: Shared
) -> None:
    settings.DICOMWEB_CORS_ORIGINS = f"{VIEWER_ORIGIN}/, https://other-viewer.example.org"
    path = frames_path(exams["alice"], exams["alice"].instance.sop_uid, "1")
    ok = client.get(path, HTTP_ORIGIN=VIEWER_ORIGIN, HTTP_ACCEPT=ANY_FRAMES, **basic(shared.token, shared.code))
    assert ok.status_code == 200
    assert ok["Access-Control-Allow-Origin"] == VIEWER_ORIGIN
    assert "Content-Type" in ok["Access-Control-Expose-Headers"]
    assert "Origin" in ok["Vary"]
    denied = client.get(path, HTTP_ORIGIN=VIEWER_ORIGIN)
    assert denied.status_code == 401
    assert denied["Access-Control-Allow-Origin"] == VIEWER_ORIGIN  # the viewer can tell it needs credentials
    studies = client.get("/dicomweb/studies", HTTP_ORIGIN=VIEWER_ORIGIN, **basic(shared.token, shared.code))
    assert studies["Access-Control-Allow-Origin"] == VIEWER_ORIGIN


@pytest.mark.parametrize("configured", [[], [VIEWER_ORIGIN]])
def test_it_sends_no_cors_headers_to_other_origins(
    client: Client, settings: Any, exams: dict[str, Exam], shared: Shared, configured: list[str]
) -> None:
    settings.DICOMWEB_CORS_ORIGINS = configured
    path = frames_path(exams["alice"], exams["alice"].instance.sop_uid, "1")
    origin = "https://elsewhere.example.com"
    preflight = client.options(path, HTTP_ORIGIN=origin, HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")
    assert preflight.status_code == 405
    assert "Access-Control-Allow-Origin" not in preflight
    response = client.get(path, HTTP_ORIGIN=origin, **basic(shared.token, shared.code))
    assert response.status_code == 200
    assert not any(header.startswith("Access-Control-") for header in response.headers)


@pytest.mark.parametrize(
    "syntax",
    [
        "1.2.840.10008.1.2",  # Implicit VR Little Endian
        NATIVE,
        "1.2.840.10008.1.2.2",  # Explicit VR Big Endian: words swapped to little endian
        "1.2.840.10008.1.2.1.99",  # Deflated: read inflated
    ],
)
def test_it_reads_native_frames_whatever_the_files_encoding(syntax: str) -> None:
    pixels = (np.arange(3 * 16 * 16, dtype=np.int16) * 3).reshape(3, 16, 16)
    ds = synthetic.with_file_meta(ct_slice(number=7), syntax)
    ds.NumberOfFrames = 3
    ds.PixelData = pixels.astype(">i2" if syntax == "1.2.840.10008.1.2.2" else "<i2").tobytes()
    ds["PixelData"].VR = "OW"
    stored_file = io.BytesIO()
    ds.save_as(stored_file, enforce_file_format=True)
    with stored_pixels(stored_file) as frames:
        assert [frames.frame(index) for index in (2, 0)] == [pixels[2].tobytes(), pixels[0].tobytes()]


def test_it_reads_single_bit_frames_that_do_not_start_on_a_byte() -> None:
    ds = synthetic.with_file_meta(ct_slice(number=1))
    ds.Rows = ds.Columns = 3
    ds.BitsAllocated = ds.BitsStored = 1
    ds.HighBit = ds.PixelRepresentation = 0
    ds.NumberOfFrames = 5
    bits = np.random.default_rng(1).integers(0, 2, 45).astype(np.uint8)
    ds.PixelData = np.packbits(bits, bitorder="little").tobytes()
    stored_file = io.BytesIO()
    ds.save_as(stored_file, enforce_file_format=True)
    with stored_pixels(stored_file) as frames:
        for index in range(5):
            frame = np.unpackbits(np.frombuffer(frames.frame(index), np.uint8), bitorder="little")
            assert frame[:9].tolist() == bits[index * 9 : index * 9 + 9].tolist()


def test_it_refuses_dicomweb_to_a_share_that_does_not_allow_downloads(alice: Client, exams: dict[str, Exam]) -> None:
    no_downloads = share(alice, exams["alice"], allow_download="")
    response = Client().get(
        f"/dicomweb/studies/{exams['alice'].study.study_uid}/series",
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{no_downloads.token}:{no_downloads.code}".encode()).decode(),
    )
    assert response.status_code == 401
