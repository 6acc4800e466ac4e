"""DICOMweb with a share's credentials: WADO-RS and QIDO-RS of exactly the shared study, for a clinician's viewer."""

import base64
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.http import StreamingHttpResponse
from django.test import Client
from django.utils import timezone

from imaging.models import Hospital, Instance, Study
from imaging.tokens import issue_token
from portal.models import AuditAction, AuditEvent, ShareLink, ShareOpen
from tests.support.dicom import ALICE, BOB, ct_slice, study_spec
from tests.support.exams import Exam, make_exam
from tests.support.people import ALICE_PHONE, BOB_PHONE, link, sign_in_patient
from tests.test_shares import create

pytestmark = pytest.mark.django_db(transaction=True)

DICOM_MULTIPART = 'multipart/related; type="application/dicom"'


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
    url, code, made = create(alice, exam, **fields)
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


def parts(response: Any) -> list[bytes]:
    boundary = response["Content-Type"].split("boundary=")[1].encode()
    chunks = body(response).split(b"--" + boundary)
    assert chunks[0] == b""
    assert chunks[-1] == b"--\r\n"
    return [chunk.split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n") for chunk in chunks[1:-1]]


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
