"""Phone links: the registration feed API, the command, and numbers in the DICOM header."""

import io
import json
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import translation

from accounts.models import LinkSource, PhoneLink, SuggestedPhone, SuggestionSource
from imaging import synthetic
from imaging.ingest import ingest_instance
from imaging.models import Hospital, PatientRecord
from imaging.tokens import issue_token
from tests.support.dicom import ct_slice

pytestmark = pytest.mark.django_db


def post(client: Client, token: str, body: dict[str, Any]) -> Any:
    return client.post(
        "/api/v1/phone-links",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_it_links_a_number_from_the_registration_feed(client: Client, hospital: Hospital) -> None:
    token = issue_token(hospital)
    response = post(client, token, {"patient_id": "MRN-1", "phone": "138 0000 0001", "name": "Zhang^San"})
    assert response.status_code == 201
    assert response.json() == {"patient_id": "MRN-1", "phone": "+8613800000001", "created": True}
    link = PhoneLink.objects.get()
    assert (link.patient_record.hospital, link.source, link.hospital) == (hospital, LinkSource.FEED, hospital)
    assert link.patient_record.name == "Zhang^San"
    assert post(client, token, {"patient_id": "MRN-1", "phone": "+8613800000001"}).status_code == 200
    assert PhoneLink.objects.count() == 1


def test_it_links_only_within_the_tokens_hospital(client: Client, hospital: Hospital, other_hospital: Hospital) -> None:
    post(client, issue_token(other_hospital), {"patient_id": "MRN-1", "phone": "13800000001"})
    assert PatientRecord.objects.get().hospital == other_hospital


@pytest.mark.parametrize(
    ("body", "status"),
    [({"patient_id": "MRN-1", "phone": "010 6552 9988"}, 400), ({"phone": "13800000001"}, 400)],
)
def test_it_refuses_a_bad_registration(client: Client, hospital: Hospital, body: dict[str, str], status: int) -> None:
    response = post(client, issue_token(hospital), body)
    assert response.status_code == status
    assert PhoneLink.objects.count() == 0


def test_it_wants_a_hospital_token(client: Client, hospital: Hospital) -> None:
    body = {"patient_id": "MRN-1", "phone": "13800000001"}
    assert client.post("/api/v1/phone-links", body, content_type="application/json").status_code == 401
    assert post(client, "hos_wrong", body).status_code == 401


def test_it_links_a_number_from_the_command_line(hospital: Hospital) -> None:
    out = io.StringIO()
    call_command("link_phone", "--hospital", "city1", "--patient-id", "MRN-9", "--phone", "13800000009", stdout=out)
    assert "linked: +86 138****0009" in out.getvalue()
    assert PhoneLink.objects.get().source == LinkSource.COMMAND
    with translation.override("en"), pytest.raises(CommandError, match="landline"):
        call_command("link_phone", "--hospital", "city1", "--patient-id", "MRN-9", "--phone", "01065529988")


def test_it_suggests_a_mobile_number_found_in_the_images(
    hospital: Hospital, django_capture_on_commit_callbacks: Any
) -> None:
    ds = ct_slice()
    ds.PatientTelephoneNumbers = ["010-65529988", "13800000001"]
    with django_capture_on_commit_callbacks(execute=True):
        ingest_instance(synthetic.to_bytes(ds), hospital)
    suggestion = SuggestedPhone.objects.get()
    assert (suggestion.phone, suggestion.source) == ("+8613800000001", SuggestionSource.DICOM)
    assert not PhoneLink.objects.exists()


def test_it_serves_the_feed_api_as_a_valid_openapi_schema(client: Client) -> None:
    """The registration feed's contract for hospitals' integration engines: /api/v1/schema (drf-spectacular)."""
    response = client.get("/api/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    operation = schema["paths"]["/api/v1/phone-links"]["post"]
    assert operation["security"] == [{"hospitalToken": []}]
    assert schema["components"]["securitySchemes"]["hospitalToken"]["scheme"] == "bearer"
    body = schema["components"]["schemas"]["PhoneLink"]
    assert set(body["required"]) == {"patient_id", "phone"}
    assert set(body["properties"]) == {"patient_id", "phone", "name", "sex", "birth_date"}
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)  # against the OpenAPI 3 JSON Schema
