"""One-time secrets (a share's token and code, a slip's sign-in and share links) leave the session
when their page is asked for, whichever object that request names.

The review's case: a secret put in the session for page B stayed there (in the
session store, and for the next request of that browser) while the browser
asked for page A instead; page B then showed it later. Here B's secret must be
gone after A's page, and B's page must not show it.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from accounts.models import StaffRole
from imaging.models import Hospital
from portal.issuance.views import SLIP
from portal.sharing.patient_views import NEW_SHARE
from tests.support.dicom import ALICE
from tests.support.exams import Exam, make_exam
from tests.support.people import ALICE_PHONE, link, make_staff, sign_in_patient, sign_in_staff

pytestmark = pytest.mark.django_db


@dataclass
class Kind:
    """Where a secret is made (a POST answered by a redirect to its page) and its session key."""

    sign_in: Callable[[Client, Hospital], None]
    create: Callable[[Client, Exam], Any]
    session_key: str
    shown_status: int


def _patient(client: Client, hospital: Hospital) -> None:
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    sign_in_patient(client, ALICE_PHONE)


def _clerk(client: Client, hospital: Hospital) -> None:
    sign_in_staff(client, make_staff("clerk", StaffRole.CLERK, hospital))


def _create_share(client: Client, exam: Exam) -> Any:
    data = {"expiry": "7d", "with_code": "on", "include_report": "on", "notify_on_open": "on"}
    return client.post(f"/my/studies/{exam.study.pk}/shares/", data)


def _issue(client: Client, exam: Exam) -> Any:
    data = {"phone": "13800000001", "choice": "efilm", "with_share": "on", "notify": "on"}
    return client.post(f"/staff/studies/{exam.study.pk}/issue", data)


KINDS = {
    "share": Kind(_patient, _create_share, NEW_SHARE, 200),
    "slip": Kind(_clerk, _issue, SLIP, 200),
}


@pytest.fixture
def exam(hospital: Hospital) -> Exam:
    return make_exam(hospital, ALICE, "alice-secrets")


@pytest.mark.parametrize("kind", list(KINDS))
def test_it_shows_the_secret_once(client: Client, hospital: Hospital, exam: Exam, kind: str) -> None:
    made = KINDS[kind]
    made.sign_in(client, hospital)
    page = made.create(client, exam)["Location"]
    assert made.session_key in client.session
    assert client.get(page).status_code == made.shown_status
    assert made.session_key not in client.session
    again = client.get(page)
    assert again.status_code in (302, 410)  # the share's page, or "the slip was shown"


@pytest.mark.parametrize("kind", list(KINDS))
def test_it_drops_a_secret_when_another_page_of_its_kind_is_asked_for(
    client: Client, hospital: Hospital, exam: Exam, kind: str
) -> None:
    made = KINDS[kind]
    made.sign_in(client, hospital)
    first = made.create(client, exam)["Location"]
    assert client.get(first).status_code == made.shown_status
    second = made.create(client, exam)["Location"]
    assert second != first
    client.get(first)  # the earlier page, asked for again instead of the new one
    assert made.session_key not in client.session
    assert client.get(second).status_code in (302, 410)
