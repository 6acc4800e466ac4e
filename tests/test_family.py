"""Adding a family member: the consent code, the family member's own answer, the caps, withdrawal."""

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts import family
from accounts.models import CodeRequest, FamilyLink, FamilyStatus, User
from accounts.sms import outbox
from imaging.models import Hospital
from portal.audit.models import AuditAction, AuditEvent
from tests.support.clock import Clock
from tests.support.dicom import ALICE, BOB
from tests.support.exams import make_exam
from tests.support.people import ALICE_PHONE, BOB_PHONE, UNKNOWN_PHONE, last_code, link, sign_in_patient

ADD = "/my/family/add/"


@pytest.fixture
def alice(hospital: Hospital) -> Client:
    make_exam(hospital, ALICE, "alice", report="none")
    make_exam(hospital, BOB, "bob", report="none")
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    link(BOB_PHONE, hospital, BOB.patient_id)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    sign_in_patient(client, ALICE_PHONE)
    return client


def _ask(client: Client, phone: str = "138 0000 0002", label: str = "Dad") -> Any:
    return client.post(ADD, {"label": label, "phone": phone})


def _link() -> FamilyLink:
    return FamilyLink.objects.get(viewer__phone=ALICE_PHONE)


def test_it_sends_the_family_member_a_code_that_says_what_it_grants(alice: Client) -> None:
    response = _ask(alice)
    link = _link()
    assert response.status_code == 302
    assert response["Location"] == reverse("patient:family-consent", args=[link.pk])
    text = outbox[-1]
    assert text.to == BOB_PHONE
    assert "138****0001" in text.body  # who asks, masked
    assert "all your exams" in text.body
    assert link.status == FamilyStatus.PENDING
    assert link.code_hash  # kept as a hash only
    assert last_code(BOB_PHONE) not in link.code_hash


def test_it_shows_the_exams_once_the_right_code_is_entered(alice: Client) -> None:
    _ask(alice)
    link = _link()
    response = alice.post(reverse("patient:family-consent", args=[link.pk]), {"code": last_code(BOB_PHONE)})
    assert response.status_code == 302
    assert response["Location"] == reverse("patient:family-studies", args=[link.pk])
    assert FamilyLink.objects.get(pk=link.pk).status == FamilyStatus.ACTIVE
    page = alice.get(response["Location"]).content.decode()
    assert "Exams of Dad" in page
    assert AuditEvent.objects.filter(action=AuditAction.FAMILY_CONSENT, detail__family=link.pk).exists()


def test_it_refuses_a_wrong_code_and_voids_it_after_five(alice: Client) -> None:
    _ask(alice)
    link = _link()
    url = reverse("patient:family-consent", args=[link.pk])
    right = last_code(BOB_PHONE)
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    for _attempt in range(5):
        response = alice.post(url, {"code": wrong})
        assert response.status_code == 400
        assert "not right" in response.content.decode()
    assert alice.post(url, {"code": right}).status_code == 400  # the code is used up
    assert FamilyLink.objects.get(pk=link.pk).status == FamilyStatus.PENDING


def test_it_refuses_a_code_after_ten_minutes(alice: Client, clock: Clock) -> None:
    _ask(alice)
    clock.advance(minutes=10, seconds=1)
    response = alice.post(reverse("patient:family-consent", args=[_link().pk]), {"code": last_code(BOB_PHONE)})
    assert response.status_code == 400
    assert _link().status == FamilyStatus.PENDING


def test_it_answers_an_unknown_number_alike_and_sends_nothing(alice: Client) -> None:
    before = len(outbox)
    response = _ask(alice, UNKNOWN_PHONE)
    assert response.status_code == 302  # to the same code page
    assert len(outbox) == before
    link = _link()
    assert link.code_hash == ""
    assert not family.consent_with_code(link, "000000")
    assert CodeRequest.objects.filter(phone=UNKNOWN_PHONE, sent=False).count() == 1


def test_it_refuses_the_patients_own_number(alice: Client) -> None:
    response = _ask(alice, "138 0000 0001")
    assert response.status_code == 400
    assert "your own number" in response.content.decode()
    assert not FamilyLink.objects.exists()


def test_it_refuses_a_number_already_shown(alice: Client) -> None:
    _ask(alice)
    alice.post(reverse("patient:family-consent", args=[_link().pk]), {"code": last_code(BOB_PHONE)})
    response = _ask(alice, label="Father")
    assert response.status_code == 400
    assert "already see" in response.content.decode()
    assert FamilyLink.objects.count() == 1


def test_it_counts_consent_codes_with_sign_in_codes(alice: Client, settings: Any) -> None:
    for _request in range(settings.SMS_PER_NUMBER_10_MINUTES):
        CodeRequest.objects.create(phone=BOB_PHONE, sent=True)
    response = _ask(alice)
    assert response.status_code == 429
    assert not FamilyLink.objects.exists()


def test_it_caps_the_requests_a_patient_makes_in_a_day(alice: Client, settings: Any) -> None:
    settings.FAMILY_REQUESTS_PER_DAY = 2
    assert _ask(alice, "138 0000 0031", "One").status_code == 302
    assert _ask(alice, "138 0000 0032", "Two").status_code == 302
    response = _ask(alice, "138 0000 0033", "Three")
    assert response.status_code == 429
    assert FamilyLink.objects.count() == 2


def test_it_sends_a_new_code_for_the_same_request(alice: Client, clock: Clock) -> None:
    _ask(alice)
    first = last_code(BOB_PHONE)
    clock.advance(seconds=61)
    response = alice.post(reverse("patient:family-resend", args=[_link().pk]))
    assert response.status_code == 302
    assert FamilyLink.objects.count() == 1
    second = last_code(BOB_PHONE)
    url = reverse("patient:family-consent", args=[_link().pk])
    if first != second:
        assert alice.post(url, {"code": first}).status_code == 400
    assert alice.post(url, {"code": second}).status_code == 302


def test_it_lets_the_family_member_allow_the_request_on_their_own_page(alice: Client, clock: Clock) -> None:
    _ask(alice)
    clock.advance(seconds=61)  # the consent code counts as a code to the number: the next one waits a minute
    bob = Client(HTTP_ACCEPT_LANGUAGE="en")
    sign_in_patient(bob, BOB_PHONE)
    my_exams = bob.get("/my/").content.decode()
    assert 'id="family-waiting"' in my_exams
    page = bob.get("/my/family/").content.decode()
    assert "138****0001" in page
    assert bob.post(reverse("patient:family-allow", args=[_link().pk])).status_code == 302
    assert _link().status == FamilyStatus.ACTIVE
    assert "138****0001" in bob.get("/my/family/").content.decode()  # under "who can see your exams"


def test_it_lets_the_family_member_decline(alice: Client, clock: Clock) -> None:
    _ask(alice)
    clock.advance(seconds=61)
    bob = Client(HTTP_ACCEPT_LANGUAGE="en")
    sign_in_patient(bob, BOB_PHONE)
    assert bob.post(reverse("patient:family-withdraw", args=[_link().pk])).status_code == 302
    link = _link()
    assert link.status == FamilyStatus.WITHDRAWN
    assert link.ended_by == User.objects.get(phone=BOB_PHONE)
    assert alice.post(reverse("patient:family-consent", args=[link.pk]), {"code": "123456"}).status_code == 404


def test_it_stops_offering_a_request_after_fourteen_days(alice: Client, clock: Clock) -> None:
    _ask(alice)
    clock.advance(days=14, seconds=1)
    bob = Client(HTTP_ACCEPT_LANGUAGE="en")
    sign_in_patient(bob, BOB_PHONE)
    assert 'id="requests"' not in bob.get("/my/family/").content.decode()
    assert bob.post(reverse("patient:family-allow", args=[_link().pk])).status_code == 302
    assert _link().status == FamilyStatus.PENDING  # nothing allowed


def test_it_asks_a_visitor_to_sign_in() -> None:
    for url in ("/my/family/", ADD, "/my/family/add-child/"):
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/sign-in/")


def test_it_refuses_a_child_of_age(alice: Client) -> None:
    data = {"label": "Son", "child_name": "Test^Son", "birth_date": "2000-01-01"}
    response = alice.post("/my/family/add-child/", data)
    assert response.status_code == 400
    assert "under 18" in response.content.decode()


def test_it_gives_a_guardian_a_desk_code(alice: Client) -> None:
    born = (dt.date.today() - dt.timedelta(days=3 * 365)).isoformat()
    response = alice.post("/my/family/add-child/", {"label": "Lily", "child_name": "Wang^Lily", "birth_date": born})
    link = _link()
    assert response["Location"] == reverse("patient:family-desk", args=[link.pk])
    assert len(link.desk_code or "") == family.DESK_CODE_LENGTH
    assert set(link.desk_code or "") <= set(family.DESK_CODE_ALPHABET)
    page = alice.get(response["Location"]).content.decode()
    assert (link.desk_code or "")[:4] in page
    assert link.status == FamilyStatus.PENDING


def test_it_asks_for_a_fresh_code_before_adding_a_family_member(alice: Client, clock: Clock) -> None:
    clock.advance(minutes=15, seconds=1)
    for url in (ADD, "/my/family/add-child/"):
        response = alice.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"/confirm/?next={url.replace('/', '%2F')}"
    assert _ask(alice).status_code == 302
    assert not FamilyLink.objects.exists()
    # The confirm page's code, and the form is there again.
    alice.post("/confirm/", {"next": ADD})
    assert alice.post("/confirm/", {"next": ADD, "code": last_code(ALICE_PHONE)})["Location"] == ADD
    assert alice.get(ADD).status_code == 200


def test_it_asks_the_family_member_for_a_fresh_code_before_allowing(alice: Client, clock: Clock) -> None:
    _ask(alice)
    clock.advance(seconds=61)
    bob = Client(HTTP_ACCEPT_LANGUAGE="en")
    sign_in_patient(bob, BOB_PHONE)
    clock.advance(minutes=15, seconds=1)
    response = bob.post(reverse("patient:family-allow", args=[_link().pk]), {"next": "/my/family/"})
    assert response["Location"] == "/confirm/?next=%2Fmy%2Ffamily%2F"
    assert _link().status == FamilyStatus.PENDING
    # Withdrawing never waits for a code.
    assert bob.post(reverse("patient:family-withdraw", args=[_link().pk])).status_code == 302
    assert _link().status == FamilyStatus.WITHDRAWN


def test_it_lets_an_unanswered_request_lapse_after_fourteen_days_on_the_viewers_side_too(
    alice: Client, clock: Clock
) -> None:
    _ask(alice)
    first = _link()
    code = last_code(BOB_PHONE)
    clock.advance(days=14, seconds=1)
    assert alice.post(reverse("patient:family-consent", args=[first.pk]), {"code": code}).status_code == 404
    assert not family.consent_with_code(first, code)
    assert alice.post(reverse("patient:family-resend", args=[first.pk])).status_code == 404
    assert alice.get("/my/family/").content.decode().count('data-family="') == 0
    # Asking again makes a new request; the old one is marked lapsed.
    sign_in_patient(alice, ALICE_PHONE)  # a fresh code for the step-up
    assert _ask(alice).status_code == 302
    assert FamilyLink.objects.get(pk=first.pk).status == FamilyStatus.LAPSED
    assert FamilyLink.objects.filter(status=FamilyStatus.PENDING).exclude(pk=first.pk).count() == 1


def test_it_counts_a_consent_code_against_the_network_too(alice: Client) -> None:
    _ask(alice)
    assert CodeRequest.objects.get(phone=BOB_PHONE).client_ip == "127.0.0.1"
