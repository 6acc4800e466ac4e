"""Every patient URL, tried by a patient on another patient's objects: always 404.

The table is built from the URL configuration itself: a new patient URL that
is not listed in OBJECT_OF fails this test until it says what it loads.
"""

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import get_resolver

from accounts.models import FamilyKind, FamilyLink, FamilyStatus, RememberedDevice, User
from imaging.models import Hospital
from portal.sharing.shares import create_share
from tests.support.dicom import ALICE, BOB
from tests.support.exams import Exam, make_download, make_exam
from tests.support.people import ALICE_PHONE, BOB_PHONE, link, sign_in_patient

# URL name -> what its <pk> names, and the method that uses it.
OBJECT_OF: dict[str, tuple[str | None, str]] = {
    "studies": (None, "GET"),
    "study": ("study", "GET"),
    "report-pdf": ("study", "GET"),
    "report-page": ("study", "GET"),
    "viewer": ("study", "GET"),
    "request-download": ("study", "POST"),
    "download": ("download", "GET"),
    "download-file": ("download", "GET"),
    "series-manifest": ("series", "GET"),
    "series-thumbnail": ("series", "GET"),
    "instance-preview": ("instance", "GET"),
    "instance-thumbnail": ("instance", "GET"),
    "instance-raw": ("instance", "GET"),
    "create-share": ("study", "POST"),
    "shares": (None, "GET"),
    "share": ("share", "GET"),
    "share-created": ("share", "GET"),
    "share-link": ("share", "GET"),
    "replace-code": ("share", "POST"),
    "revoke-share": ("share", "POST"),
    "enable-share": ("share", "POST"),
    "family-studies": ("family-active", "GET"),
    "family": (None, "GET"),
    "family-add": (None, "GET"),
    "family-add-child": (None, "GET"),
    "family-consent": ("family-waiting", "GET"),
    "family-resend": ("family-waiting", "POST"),
    "family-desk": ("family-child", "GET"),
    "family-end": ("family-active", "POST"),
    "family-allow": ("family-request", "POST"),
    "family-withdraw": ("family-request", "POST"),
    "devices": (None, "GET"),
    "forget-device": ("device", "POST"),
    "forget-devices": (None, "POST"),
}


def patient_url_patterns() -> list[Any]:
    resolver = get_resolver()
    for pattern in resolver.url_patterns:
        if getattr(pattern, "namespace", None) == "patient":
            return list(pattern.url_patterns)
    raise AssertionError("no patient URL namespace")


def test_it_lists_every_patient_url_in_the_table() -> None:
    names = {p.name for p in patient_url_patterns()}
    assert names == set(OBJECT_OF), f"URLs without an access check in this test: {names ^ set(OBJECT_OF)}"


@pytest.fixture
def people(hospital: Hospital, other_hospital: Hospital) -> dict[str, Any]:
    alice = make_exam(hospital, ALICE, "alice1")
    bob = make_exam(other_hospital, BOB, "bob1")
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    link(BOB_PHONE, other_hospital, BOB.patient_id)
    alice_client, bob_client = Client(), Client()
    sign_in_patient(alice_client, ALICE_PHONE)
    sign_in_patient(bob_client, BOB_PHONE)
    alice_user = User.objects.get(phone=ALICE_PHONE)
    bob_user = User.objects.get(phone=BOB_PHONE)
    return {
        "alice": (
            alice_client,
            alice,
            make_download(alice, alice_user.pk),
            create_share(alice.study, alice_user.pk),
            _family_links(alice_user, "+8613800000011"),
            RememberedDevice.remember(alice_user, "Chrome", "Android")[0],
        ),
        "bob": (
            bob_client,
            bob,
            make_download(bob, bob_user.pk),
            create_share(bob.study, bob_user.pk),
            _family_links(bob_user, "+8613800000012"),
            RememberedDevice.remember(bob_user, "Chrome", "Android")[0],
        ),
    }


def _family_links(user: User, relative: str) -> dict[str, FamilyLink]:
    """A patient's family links of each kind, and a relative's request for the patient's own exams."""
    asker = User.objects.create(username=relative, phone=relative)
    adult = FamilyKind.ADULT
    return {
        "family-active": FamilyLink.objects.create(
            viewer=user, kind=adult, phone="+8613800000021", label="Mum", status=FamilyStatus.ACTIVE
        ),
        "family-waiting": FamilyLink.objects.create(viewer=user, kind=adult, phone="+8613800000022", label="Dad"),
        "family-child": FamilyLink.objects.create(
            viewer=user, kind=FamilyKind.CHILD, label="Kid", desk_code=relative[-8:]
        ),
        "family-request": FamilyLink.objects.create(viewer=asker, kind=adult, phone=user.phone or "", label="Son"),
    }


def _pk(
    kind: str, exam: Exam, download: Any, share: Any, family: dict[str, FamilyLink], device: RememberedDevice
) -> int:
    if kind in family:
        return family[kind].pk
    ids = {
        "study": exam.study.pk,
        "series": exam.series.pk,
        "instance": exam.instance.pk,
        "download": download.pk,
        "share": share.share.pk,
        "device": device.pk,
    }
    return ids[kind]


def _request(client: Client, name: str, pk: int | None) -> Any:
    from django.urls import reverse

    kind, method = OBJECT_OF[name]
    url = reverse(f"patient:{name}", args=[pk] if kind else [])
    send: Callable[..., Any] = client.post if method == "POST" else client.get
    return send(url, {"kind": "dicom", "expiry": "7d"}) if method == "POST" else send(url)


@pytest.mark.parametrize("name", [n for n, (kind, _) in OBJECT_OF.items() if kind])
def test_it_answers_404_for_another_patients_object(people: dict[str, Any], name: str) -> None:
    alice_client, *alice_objects = people["alice"]
    _, *bob_objects = people["bob"]
    kind = OBJECT_OF[name][0]
    assert kind
    own = _request(alice_client, name, _pk(kind, *alice_objects))
    assert own.status_code in (200, 302), f"{name} on Alice's own object answered {own.status_code}"
    theirs = _request(alice_client, name, _pk(kind, *bob_objects))
    assert theirs.status_code == 404, f"{name} on Bob's object answered {theirs.status_code}"


@pytest.mark.parametrize("name", list(OBJECT_OF))
def test_it_sends_a_visitor_to_sign_in(people: dict[str, Any], name: str) -> None:
    _, *alice_objects = people["alice"]
    kind = OBJECT_OF[name][0]
    response = _request(Client(), name, _pk(kind, *alice_objects) if kind else None)
    assert response.status_code == 302
    assert response["Location"].startswith("/sign-in/")


def test_it_lists_only_the_patients_own_studies(people: dict[str, Any]) -> None:
    alice_client, alice_exam, *_ = people["alice"]
    _, bob_exam, *_ = people["bob"]
    page = alice_client.get("/my/").content.decode()
    assert f'data-study="{alice_exam.study.pk}"' in page
    assert f'data-study="{bob_exam.study.pk}"' not in page


def test_it_never_shows_one_patients_list_to_another(people: dict[str, Any]) -> None:
    # Lists are kept once made (portal.exams.pages._list_section): each patient in turn, twice, in one language.
    for _ in range(2):
        for me, other in (("alice", "bob"), ("bob", "alice")):
            client, mine, *_ = people[me]
            page = client.get("/my/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
            assert f'data-study="{mine.study.pk}"' in page
            assert f'data-study="{people[other][1].study.pk}"' not in page
