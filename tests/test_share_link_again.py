"""A share's link and QR code shown again on the patient's page: kept sealed, never in clear, audited."""

import io
import re
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings
from django.utils import timezone

from imaging.models import Hospital
from portal.audit.models import AuditAction, AuditEvent
from portal.sharing import shares
from portal.sharing.models import ShareLink
from portal.sharing.tasks import forget_expired_tokens
from tests.support.exams import Exam, alices_exam_beside_bobs
from tests.support.people import ALICE_PHONE, BOB_PHONE, sign_in_patient
from tests.support.qr import decode_svg


@pytest.fixture
def exam(hospital: Hospital, other_hospital: Hospital) -> Exam:
    return alices_exam_beside_bobs(hospital, other_hospital, "again")


@pytest.fixture
def alice(exam: Exam) -> Client:
    client = Client()
    sign_in_patient(client, ALICE_PHONE)
    return client


def create(client: Client, exam: Exam) -> tuple[str, ShareLink]:
    """A share made through the page; its link as the page shows it once."""
    url, _, share = create_with_code(client, exam)
    return url, share


def create_with_code(client: Client, exam: Exam) -> tuple[str, str, ShareLink]:
    response = client.post(f"/my/studies/{exam.study.pk}/shares/", {"expiry": "7d", "with_code": "on"})
    page = client.get(response["Location"]).content.decode()
    code = re.search(r'id="share-access-code">(\d{6})<', page)
    assert code
    return shown_link(page), code.group(1), ShareLink.objects.latest("pk")


def shown_link(page: str) -> str:
    url = re.search(r'id="share-url" type="text" readonly value="([^"]+)"', page)
    assert url, "no link on the page"
    return url.group(1)


def test_it_shows_the_same_link_and_qr_code_again(alice: Client, exam: Exam) -> None:
    url, share = create(alice, exam)
    listing = alice.get("/my/shares/").content.decode()
    assert f'href="/my/shares/{share.pk}/link"' in listing
    page = alice.get(f"/my/shares/{share.pk}/link")
    assert page.status_code == 200
    html = page.content.decode()
    assert shown_link(html) == url
    assert decode_svg(html) == [url]
    assert 'id="share-access-code"' not in html
    assert 'id="share-code-not-shown"' in html


def test_it_opens_the_exam_with_the_link_shown_again(alice: Client, exam: Exam) -> None:
    _, code, share = create_with_code(alice, exam)
    again = shown_link(alice.get(f"/my/shares/{share.pk}/link").content.decode())
    opened = Client().post(again.replace("http://testserver", ""), {"code": code})
    assert opened["Location"] == f"/s/x/studies/{exam.study.pk}/"


def test_it_keeps_no_clear_token_in_the_database(alice: Client, exam: Exam) -> None:
    url, share = create(alice, exam)
    token = url.rsplit("/s/", 1)[1]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM portal_sharelink WHERE id = %s", [share.pk])
        columns = [str(value) for value in cursor.fetchone()]
    assert not [column for column in columns if token in column]
    assert share.token_sealed
    assert shares.token_to_show(share) == token


def test_it_sends_the_link_to_no_cache_and_its_address_to_no_other_site(alice: Client, exam: Exam) -> None:
    _, share = create(alice, exam)
    page = alice.get(f"/my/shares/{share.pk}/link")
    assert "no-store" in page["Cache-Control"]
    # Not no-referrer: browsers would post the page's language switch with `Origin: null` (refused).
    assert page["Referrer-Policy"] == "same-origin"


def test_it_audits_each_showing_of_the_link(alice: Client, exam: Exam) -> None:
    _, share = create(alice, exam)
    alice.get(f"/my/shares/{share.pk}/link")
    alice.get(f"/my/shares/{share.pk}/link")
    events = AuditEvent.objects.filter(action=AuditAction.SHARE_SHOW, study=exam.study)
    assert events.count() == 2
    assert {event.detail["share"] for event in events} == {share.pk}


def test_it_says_a_share_made_before_cannot_be_shown_again(alice: Client, exam: Exam) -> None:
    _, share = create(alice, exam)
    ShareLink.objects.filter(pk=share.pk).update(token_sealed="")  # as a share made before the change
    detail = alice.get(f"/my/shares/{share.pk}/").content.decode()
    assert 'id="link-made-before"' in detail
    assert f"/my/shares/{share.pk}/link" not in detail
    assert f"/my/shares/{share.pk}/link" not in alice.get("/my/shares/").content.decode()
    assert alice.get(f"/my/shares/{share.pk}/link")["Location"] == f"/my/shares/{share.pk}/"
    assert not AuditEvent.objects.filter(action=AuditAction.SHARE_SHOW).exists()


def test_it_forgets_the_token_of_an_ended_share(alice: Client, exam: Exam) -> None:
    _, share = create(alice, exam)
    alice.post(f"/my/shares/{share.pk}/revoke")
    share.refresh_from_db()
    assert share.token_sealed == ""
    assert alice.get(f"/my/shares/{share.pk}/link")["Location"] == f"/my/shares/{share.pk}/"


def test_it_shows_no_link_of_an_expired_share(alice: Client, exam: Exam) -> None:
    _, share = create(alice, exam)
    ShareLink.objects.filter(pk=share.pk).update(expires_at=timezone.now())
    assert alice.get(f"/my/shares/{share.pk}/link").status_code == 302
    assert f"/my/shares/{share.pk}/link" not in alice.get(f"/my/shares/{share.pk}/").content.decode()


def test_it_drops_the_sealed_tokens_of_expired_shares_each_day(alice: Client, exam: Exam) -> None:
    _, expired = create(alice, exam)
    _, live = create(alice, exam)
    ShareLink.objects.filter(pk=expired.pk).update(expires_at=timezone.now())
    assert forget_expired_tokens.apply().result == 1  # the task celery beat sends daily
    expired.refresh_from_db()
    live.refresh_from_db()
    assert expired.token_sealed == ""
    assert live.token_sealed != ""
    assert shares.token_to_show(live) is not None
    assert settings.CELERY_BEAT_SCHEDULE["forget-expired-share-tokens"]["task"] == forget_expired_tokens.name


def test_it_shows_the_link_to_no_other_patient_nor_a_share_session(alice: Client, exam: Exam) -> None:
    url, code, share = create_with_code(alice, exam)
    bob = Client()
    sign_in_patient(bob, BOB_PHONE)
    assert bob.get(f"/my/shares/{share.pk}/link").status_code == 404
    assert bob.get(f"/my/shares/{share.pk}/").status_code == 404
    clinician = Client()
    assert clinician.post(url.replace("http://testserver", ""), {"code": code}).status_code == 302
    assert clinician.get(f"/my/shares/{share.pk}/link")["Location"].startswith("/sign-in/")
    assert not AuditEvent.objects.filter(action=AuditAction.SHARE_SHOW).exists()


def test_it_cannot_open_a_sealed_token_with_another_key(alice: Client, exam: Exam) -> None:
    _, share = create(alice, exam)
    with override_settings(SHARE_TOKEN_KEYS=[Fernet.generate_key().decode()]):
        assert shares.token_to_show(share) is None
        assert alice.get(f"/my/shares/{share.pk}/link")["Location"] == f"/my/shares/{share.pk}/"
        detail = alice.get(f"/my/shares/{share.pk}/").content.decode()
    assert 'id="link-key-retired"' in detail


def test_it_refuses_a_sealed_token_copied_from_another_share(alice: Client, exam: Exam) -> None:
    _, first = create(alice, exam)
    _, second = create(alice, exam)
    ShareLink.objects.filter(pk=second.pk).update(token_sealed=first.token_sealed)
    second.refresh_from_db()
    assert shares.token_to_show(second) is None


def test_it_opens_tokens_of_an_older_key_and_reseals_them_under_the_new_one(
    alice: Client, exam: Exam, settings: Any
) -> None:
    url, share = create(alice, exam)
    token = url.rsplit("/s/", 1)[1]
    old, new = settings.SHARE_TOKEN_KEYS[0], Fernet.generate_key().decode()
    settings.SHARE_TOKEN_KEYS = [new, old]
    assert shares.token_to_show(share) == token
    out = io.StringIO()
    call_command("reseal_share_tokens", stdout=out)
    assert "1 share tokens resealed" in out.getvalue()
    share.refresh_from_db()
    settings.SHARE_TOKEN_KEYS = [new]
    assert shares.token_to_show(share) == token
    settings.SHARE_TOKEN_KEYS = [old]
    assert shares.token_to_show(share) is None
