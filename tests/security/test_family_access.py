"""Family links, every surface: who sees whose exams through a parent's consent or a guardianship.

Alice's father Bob consented; Alice is her daughter Carol's confirmed guardian.
Bob in turn sees his wife Erin's exams: Alice must not (never further than one
link). Frank has not consented yet; Gina withdrew; Dave is a stranger. Every
surface of an exam (page, report, viewer, manifest, thumbnails, preview, raw
values, download) answers alike, and a withdrawal takes effect on the next request.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import family
from accounts.models import FamilyKind, FamilyLink, FamilyStatus, User
from imaging.models import Hospital, PatientRecord
from imaging.synthetic import PatientSpec
from portal.audit.models import AuditAction, AuditEvent
from portal.sharing.models import ShareLink
from portal.sharing.shares import create_share
from portal.sharing.tasks import lapse_grown_children
from tests.support.dicom import ALICE, BOB
from tests.support.exams import Exam, make_exam
from tests.support.people import ALICE_PHONE, BOB_PHONE, link, sign_in_patient

CAROL = PatientSpec("PID-CAROL", "Carol^Test", "F", dt.date(2019, 3, 4), "")
ERIN = PatientSpec("PID-ERIN", "Erin^Test", "F", dt.date(1977, 8, 9), "13800000005")
FRANK = PatientSpec("PID-FRANK", "Frank^Test", "M", dt.date(1950, 1, 1), "13800000006")
GINA = PatientSpec("PID-GINA", "Gina^Test", "F", dt.date(1952, 2, 2), "13800000007")
DAVE = PatientSpec("PID-DAVE", "Dave^Test", "M", dt.date(1990, 9, 9), "13800000009")
ERIN_PHONE, FRANK_PHONE, GINA_PHONE, DAVE_PHONE = "+8613800000005", "+8613800000006", "+8613800000007", "+8613800000009"


@dataclass
class Family:
    exams: dict[str, Exam]
    links: dict[str, FamilyLink]
    users: dict[str, User]

    def client(self, who: str) -> Client:
        client = Client()
        client.force_login(self.users[who], backend="accounts.backends.UserBackend")
        return client


def _user(phone: str) -> User:
    return User.objects.get_or_create(username=phone, phone=phone)[0]


def _adult(viewer: User, phone: str, label: str, status: FamilyStatus) -> FamilyLink:
    return FamilyLink.objects.create(viewer=viewer, kind=FamilyKind.ADULT, phone=phone, label=label, status=status)


@pytest.fixture
def region(hospital: Hospital, other_hospital: Hospital) -> Family:
    people = {"alice": ALICE, "bob": BOB, "erin": ERIN, "frank": FRANK, "gina": GINA, "dave": DAVE}
    phones = {"alice": ALICE_PHONE, "bob": BOB_PHONE, "erin": ERIN_PHONE, "frank": FRANK_PHONE, "gina": GINA_PHONE}
    phones["dave"] = DAVE_PHONE
    exams = {who: make_exam(other_hospital if who == "bob" else hospital, spec, who) for who, spec in people.items()}
    exams["carol"] = make_exam(hospital, CAROL, "carol", report="text")
    for who, spec in people.items():
        link(phones[who], other_hospital if who == "bob" else hospital, spec.patient_id)
    users = {who: _user(phone) for who, phone in phones.items()}
    alice, bob = users["alice"], users["bob"]
    links = {
        "bob": _adult(alice, BOB_PHONE, "Dad", FamilyStatus.ACTIVE),
        "frank": _adult(alice, FRANK_PHONE, "Uncle", FamilyStatus.PENDING),
        "gina": _adult(alice, GINA_PHONE, "Aunt", FamilyStatus.WITHDRAWN),
        "erin": _adult(bob, ERIN_PHONE, "Wife", FamilyStatus.ACTIVE),
    }
    carol = FamilyLink.objects.create(viewer=alice, kind=FamilyKind.CHILD, label="Carol", status=FamilyStatus.ACTIVE)
    carol.records.add(PatientRecord.objects.get(patient_id=CAROL.patient_id))
    links["carol"] = carol
    return Family(exams, links, users)


# Every surface of one exam: (URL name, what its pk names, method).
SURFACES = [
    ("study", "study", "GET"),
    ("report-pdf", "study", "GET"),
    ("viewer", "study", "GET"),
    ("series-manifest", "series", "GET"),
    ("series-thumbnail", "series", "GET"),
    ("instance-preview", "instance", "GET"),
    ("instance-thumbnail", "instance", "GET"),
    ("instance-raw", "instance", "GET"),
    ("request-download", "study", "POST"),
]

# Whose exams each viewer sees; everyone else's answer 404 on every surface.
SEES = {
    "alice": {"alice", "bob", "carol"},
    "bob": {"bob", "erin"},
    "carol": set(),
    "erin": {"erin"},
    "frank": {"frank"},
    "dave": {"dave"},
}
EVERYONE = ("alice", "bob", "carol", "erin", "frank", "gina", "dave")


def _ask(client: Client, name: str, exam: Exam, names: str, method: str) -> int:
    pk = {"study": exam.study.pk, "series": exam.series.pk, "instance": exam.instance.pk}[names]
    url = reverse(f"patient:{name}", args=[pk])
    send: Callable[..., Any] = client.post if method == "POST" else client.get
    return int(send(url, {"kind": "jpeg"}).status_code if method == "POST" else send(url).status_code)


@pytest.mark.parametrize("viewer", [v for v in SEES if v != "carol"])
def test_it_answers_every_surface_by_the_family_links(region: Family, viewer: str) -> None:
    client = region.client(viewer)
    for whose in EVERYONE:
        exam = region.exams[whose]
        for name, names, method in SURFACES:
            if name == "report-pdf" and whose == "carol":
                continue  # Carol's report is text: no PDF to ask for
            status = _ask(client, name, exam, names, method)
            if whose in SEES[viewer]:
                assert status in (200, 302), f"{viewer} on {whose}'s {name}: {status}"
            else:
                assert status == 404, f"{viewer} on {whose}'s {name}: {status}"


def test_it_lists_each_persons_exams_under_their_own_tab(region: Family) -> None:
    client = region.client("alice")
    shown = {
        "me": client.get("/my/").content.decode(),
        "bob": client.get(reverse("patient:family-studies", args=[region.links["bob"].pk])).content.decode(),
        "carol": client.get(reverse("patient:family-studies", args=[region.links["carol"].pk])).content.decode(),
    }
    expected = {"me": "alice", "bob": "bob", "carol": "carol"}
    for tab, page in shown.items():
        for whose in EVERYONE:
            present = f'data-study="{region.exams[whose].study.pk}"' in page
            assert present == (whose == expected[tab]), f"{whose}'s exam under {tab}: {present}"
    assert f'data-family="{region.links["bob"].pk}"' in shown["me"]
    assert "Dad" in shown["me"]
    assert "Carol" in shown["me"]


@pytest.mark.parametrize("whose", ["frank", "gina", "erin"])
def test_it_has_no_tab_for_a_link_that_is_not_alices_and_active(region: Family, whose: str) -> None:
    response = region.client("alice").get(reverse("patient:family-studies", args=[region.links[whose].pk]))
    assert response.status_code == 404


def test_it_stops_at_once_when_the_family_member_withdraws(region: Family) -> None:
    alice, bob = region.client("alice"), region.client("bob")
    exam = region.exams["bob"]
    assert _ask(alice, "instance-preview", exam, "instance", "GET") == 200
    assert bob.post(reverse("patient:family-withdraw", args=[region.links["bob"].pk])).status_code == 302
    for name, names, method in SURFACES:
        assert _ask(alice, name, exam, names, method) == 404, name
    assert region.links["bob"].pk not in [p.pk for p in FamilyLink.objects.filter(status=FamilyStatus.ACTIVE)]


def test_it_stops_at_once_when_the_viewer_ends_it(region: Family) -> None:
    alice = region.client("alice")
    assert alice.post(reverse("patient:family-end", args=[region.links["carol"].pk])).status_code == 302
    assert _ask(alice, "study", region.exams["carol"], "study", "GET") == 404


def test_it_lets_nobody_else_end_a_link(region: Family) -> None:
    dave = region.client("dave")
    assert dave.post(reverse("patient:family-end", args=[region.links["bob"].pk])).status_code == 404
    assert dave.post(reverse("patient:family-withdraw", args=[region.links["bob"].pk])).status_code == 404
    # Bob is the family member of Alice's link, not its viewer: he withdraws, he does not "end" hers.
    assert region.client("bob").post(reverse("patient:family-end", args=[region.links["bob"].pk])).status_code == 404
    assert FamilyLink.objects.get(pk=region.links["bob"].pk).status == FamilyStatus.ACTIVE


def test_it_audits_a_family_members_exam_under_the_viewers_identity(region: Family) -> None:
    alice = region.client("alice")
    alice.get(reverse("patient:study", args=[region.exams["bob"].study.pk]))
    alice.get(reverse("patient:study", args=[region.exams["alice"].study.pk]))
    views = AuditEvent.objects.filter(action=AuditAction.STUDY_VIEW).order_by("created_at", "pk")
    theirs, own = list(views)
    assert theirs.user == region.users["alice"]
    assert theirs.actor == "patient"
    assert theirs.study_id == region.exams["bob"].study.pk
    assert theirs.detail == {"family": region.links["bob"].pk}
    assert own.user == region.users["alice"]
    assert own.detail == {}


def test_it_says_whose_exam_it_is(region: Family) -> None:
    page = region.client("alice").get(reverse("patient:study", args=[region.exams["bob"].study.pk])).content.decode()
    assert 'id="family-exam"' in page
    assert "Dad" in page
    own = region.client("alice").get(reverse("patient:study", args=[region.exams["alice"].study.pk])).content.decode()
    assert 'id="family-exam"' not in own


def test_it_keeps_a_family_members_own_shares_from_the_viewer(region: Family) -> None:
    bobs = create_share(region.exams["bob"].study, region.users["bob"].pk).share
    alices_of_bob = create_share(region.exams["bob"].study, region.users["alice"].pk).share
    alice, bob = region.client("alice"), region.client("bob")
    assert alice.get(reverse("patient:share", args=[bobs.pk])).status_code == 404
    assert alice.get(reverse("patient:share", args=[alices_of_bob.pk])).status_code == 200
    # Bob sees every share of his exams, the one his daughter made too, and can end it.
    assert bob.get(reverse("patient:share", args=[alices_of_bob.pk])).status_code == 200
    assert bob.post(reverse("patient:revoke-share", args=[alices_of_bob.pk])).status_code == 302
    assert ShareLink.objects.get(pk=alices_of_bob.pk).revoked_at is not None


def test_it_lets_the_viewer_share_a_family_members_exam(region: Family) -> None:
    alice = Client()
    sign_in_patient(alice, ALICE_PHONE)  # a fresh code: sharing asks for one
    response = alice.post(reverse("patient:create-share", args=[region.exams["bob"].study.pk]), {"expiry": "24h"})
    assert response.status_code == 302
    share = ShareLink.objects.get(created_by=region.users["alice"])
    assert share.study_id == region.exams["bob"].study.pk


def test_it_lists_with_the_switcher_in_a_fixed_number_of_queries(region: Family) -> None:
    alice = region.client("alice")

    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert alice.get(url).status_code == 200
        return len(captured)

    before = queries("/my/")
    for number in range(4):
        _adult(region.users["alice"], f"+86138000001{number}0", f"Cousin {number}", FamilyStatus.ACTIVE)
    assert queries("/my/") == before
    assert queries(reverse("patient:family-studies", args=[region.links["bob"].pk])) == before + 1  # the link itself


def test_it_ends_a_guardians_view_when_the_child_turns_18(region: Family) -> None:
    alice = region.client("alice")
    carol = PatientRecord.objects.get(patient_id=CAROL.patient_id)
    study = region.exams["carol"].study
    today = dt.date.today()
    carol.birth_date = family.coming_of_age_cutoff(today) + dt.timedelta(days=1)  # 18 tomorrow
    carol.save(update_fields=["birth_date"])
    assert _ask(alice, "study", region.exams["carol"], "study", "GET") == 200
    carol.birth_date = family.coming_of_age_cutoff(today)  # 18 today
    carol.save(update_fields=["birth_date"])
    for name, names, method in SURFACES:
        if name != "report-pdf":
            assert _ask(alice, name, region.exams["carol"], names, method) == 404, name
    listed = alice.get(reverse("patient:family-studies", args=[region.links["carol"].pk])).content.decode()
    assert f'data-study="{study.pk}"' not in listed


def test_it_counts_18_years_from_a_29_february() -> None:
    assert family.coming_of_age_cutoff(dt.date(2026, 3, 1)) == dt.date(2008, 3, 1)
    assert family.coming_of_age_cutoff(dt.date(2028, 2, 29)) == dt.date(2010, 2, 28)
    born_on_leap_day = PatientRecord(birth_date=dt.date(2008, 2, 29))
    assert family.is_child(born_on_leap_day, dt.date(2026, 2, 28))
    assert not family.is_child(born_on_leap_day, dt.date(2026, 3, 1))


def test_it_ends_the_viewers_shares_of_a_family_members_exams_with_the_consent(region: Family) -> None:
    alices_of_bob = create_share(region.exams["bob"].study, region.users["alice"].pk).share
    alices_own = create_share(region.exams["alice"].study, region.users["alice"].pk).share
    bobs_own = create_share(region.exams["bob"].study, region.users["bob"].pk).share
    assert (
        region.client("bob").post(reverse("patient:family-withdraw", args=[region.links["bob"].pk])).status_code == 302
    )
    ended = {s.pk for s in ShareLink.objects.filter(revoked_at__isnull=False)}
    assert ended == {alices_of_bob.pk}
    assert ShareLink.objects.get(pk=alices_of_bob.pk).token_sealed == ""
    assert {alices_own.pk, bobs_own.pk} <= {s.pk for s in ShareLink.objects.valid()}


def test_it_ends_a_guardians_view_by_the_birth_date_they_gave_when_the_record_has_none(region: Family) -> None:
    carol = PatientRecord.objects.get(patient_id=CAROL.patient_id)
    carol.birth_date = None
    carol.save(update_fields=["birth_date"])
    link = region.links["carol"]
    link.child_birth_date = family.coming_of_age_cutoff() + dt.timedelta(days=1)
    link.save(update_fields=["child_birth_date"])
    alice = region.client("alice")
    assert _ask(alice, "study", region.exams["carol"], "study", "GET") == 200
    FamilyLink.objects.filter(pk=link.pk).update(child_birth_date=family.coming_of_age_cutoff())
    assert _ask(alice, "study", region.exams["carol"], "study", "GET") == 404


def test_it_audits_the_viewer_and_a_share_of_a_family_members_exam_with_the_link(region: Family) -> None:
    alice = Client()
    sign_in_patient(alice, ALICE_PHONE)
    bob = region.exams["bob"].study
    alice.get(reverse("patient:viewer", args=[bob.pk]))
    alice.post(reverse("patient:create-share", args=[bob.pk]), {"expiry": "24h"})
    for action in (AuditAction.VIEWER_OPEN, AuditAction.SHARE_CREATE):
        event = AuditEvent.objects.get(action=action, study_id=bob.pk)
        assert event.detail.get("family") == region.links["bob"].pk, action


def test_it_takes_a_child_who_came_of_age_out_of_the_guardians_view_with_the_shares(region: Family) -> None:
    guardians = create_share(region.exams["carol"].study, region.users["alice"].pk).share
    assert lapse_grown_children.apply().result == 0  # Carol is seven
    assert ShareLink.objects.valid().filter(pk=guardians.pk).exists()
    PatientRecord.objects.filter(patient_id=CAROL.patient_id).update(birth_date=family.coming_of_age_cutoff())
    assert lapse_grown_children.apply().result == 1  # the task celery beat sends daily
    assert ShareLink.objects.get(pk=guardians.pk).revoked_at is not None
    assert FamilyLink.objects.get(pk=region.links["carol"].pk).status == FamilyStatus.LAPSED
    page = region.client("alice").get("/my/").content.decode()
    assert f'data-family="{region.links["carol"].pk}"' not in page  # no chip left for her
    assert settings.CELERY_BEAT_SCHEDULE["lapse-grown-children"]["task"] == lapse_grown_children.name
