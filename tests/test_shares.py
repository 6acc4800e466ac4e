"""Sharing an exam: the patient's side (create, list, revoke, log) and the clinician's (open, code, view)."""

import datetime as dt
import hashlib
import io
import logging
import re
from collections.abc import Callable
from typing import Any

import pytest
import zxingcpp
from django.db import connection
from django.test import Client
from django.urls import get_resolver, reverse
from django.utils import timezone
from PIL import Image

from accounts.models import User
from imaging.models import Hospital
from portal.audit.models import AuditAction, AuditEvent
from portal.sharing import shares
from portal.sharing.models import ShareLink, ShareOpen
from portal.sharing.qr import qr_png
from tests.support.dicom import ALICE, BOB
from tests.support.exams import Exam, make_exam
from tests.support.people import ALICE_PHONE, BOB_PHONE, link, sign_in_patient


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


def create(client: Client, exam: Exam, **fields: Any) -> tuple[str, str, ShareLink]:
    """Create a share through the page; the link and code as the result page shows them once."""
    data = {"expiry": "7d", "with_code": "on", "include_report": "on", "notify_on_open": "on", **fields}
    response = client.post(f"/my/studies/{exam.study.pk}/shares/", data)
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    url = re.search(r'id="share-url" type="text" readonly value="([^"]+)"', page)
    assert url
    code = re.search(r'id="share-access-code">(\d{6})<', page)
    share = ShareLink.objects.latest("pk")
    return url.group(1), code.group(1) if code else "", share


def open_as_clinician(url: str, code: str = "") -> Client:
    clinician = Client()
    path = url.replace("http://testserver", "")
    response = clinician.post(path, {"code": code})
    assert response.status_code == 302, response.content.decode()[:300]
    return clinician


# ---------------------------------------------------------------- making a share


def test_it_keeps_the_token_and_the_code_out_of_the_table_in_clear(alice: Client, exams: dict[str, Exam]) -> None:
    url, code, share = create(alice, exams["alice"])
    token = url.rsplit("/s/", 1)[1]
    assert len(token) == 43  # 32 bytes, URL-safe base64
    assert share.token_hash == hashlib.sha256(token.encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM portal_sharelink")
        rows = " ".join(str(v) for row in cursor.fetchall() for v in row)
    assert token not in rows
    assert code not in rows


def test_it_shows_the_link_and_code_once(alice: Client, exams: dict[str, Exam]) -> None:
    url, _, share = create(alice, exams["alice"])
    again = alice.get(f"/my/shares/{share.pk}/created")
    assert again.status_code == 302
    assert url not in alice.get(again["Location"]).content.decode()


def test_it_draws_a_qr_code_that_decodes_to_the_link(alice: Client, exams: dict[str, Exam]) -> None:
    url, _, _ = create(alice, exams["alice"])
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr_png(url))))
    assert [barcode.text for barcode in decoded] == [url]


def test_it_offers_the_expiries_and_defaults_to_a_week(alice: Client, exams: dict[str, Exam]) -> None:
    for expiry, length in (("1h", dt.timedelta(hours=1)), ("30d", dt.timedelta(days=30))):
        _, _, share = create(alice, exams["alice"], expiry=expiry)
        assert abs(share.expires_at - share.created_at - length) < dt.timedelta(seconds=5)
    page = alice.get(f"/my/studies/{exams['alice'].study.pk}/").content.decode()
    assert '<option value="7d" selected>' in page


# ---------------------------------------------------------------- opening a share


def test_it_opens_a_share_with_its_code_and_moves_to_a_clean_address(alice: Client, exams: dict[str, Exam]) -> None:
    url, code, share = create(alice, exams["alice"])
    clinician = Client()
    path = url.replace("http://testserver", "")
    asks = clinician.get(path)
    assert asks.status_code == 200
    assert 'name="code"' in asks.content.decode()
    opened = clinician.post(path, {"code": code})
    assert opened["Location"] == f"/s/x/studies/{exams['alice'].study.pk}/"
    assert opened["Referrer-Policy"] == "no-referrer"
    page = clinician.get(opened["Location"])
    assert page.status_code == 200
    assert page["X-Robots-Tag"].startswith("noindex")
    assert "CT report alice-share" in page.content.decode() or "report.pdf" in page.content.decode()
    share.refresh_from_db()
    assert share.opens == 1


def test_it_locks_the_share_after_five_wrong_codes_and_tells_the_patient(
    alice: Client, exams: dict[str, Exam], sms_outbox: list[Any]
) -> None:
    url, code, share = create(alice, exams["alice"], notify_on_open="")
    path = url.replace("http://testserver", "")
    clinician = Client()
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    for _ in range(5):
        assert clinician.post(path, {"code": wrong}).status_code == 403
    locked = clinician.post(path, {"code": code})
    assert locked.status_code == 403
    assert 'id="share-locked"' in locked.content.decode()
    assert any(m.to == ALICE_PHONE and ("locked" in m.body or "锁定" in m.body) for m in sms_outbox)
    ShareLink.objects.filter(pk=share.pk).update(locked_until=timezone.now() - dt.timedelta(seconds=1))
    assert clinician.post(path, {"code": code}).status_code == 302


def test_it_answers_unknown_expired_and_revoked_links_alike(alice: Client, exams: dict[str, Exam]) -> None:
    expired_url, _, expired = create(alice, exams["alice"], with_code="")
    ShareLink.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    revoked_url, _, revoked = create(alice, exams["alice"], with_code="")
    alice.post(f"/my/shares/{revoked.pk}/revoke")
    unknown = "/s/" + "A" * 43
    answers = [Client().get(u.replace("http://testserver", "")) for u in (expired_url, revoked_url, unknown)]
    assert {a.status_code for a in answers} == {404}
    bodies = {re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", a.content.decode()) for a in answers}
    assert len(bodies) == 1


def test_it_ends_a_clinicians_session_on_the_next_request_after_revocation(
    alice: Client, exams: dict[str, Exam]
) -> None:
    url, code, share = create(alice, exams["alice"])
    clinician = open_as_clinician(url, code)
    study_page = f"/s/x/studies/{exams['alice'].study.pk}/"
    assert clinician.get(study_page).status_code == 200
    assert alice.post(f"/my/shares/{share.pk}/revoke").status_code == 302
    after = clinician.get(study_page)
    assert after.status_code == 404
    assert "share-invalid" in after.content.decode()


def test_it_ends_a_clinicians_session_when_the_share_expires(alice: Client, exams: dict[str, Exam]) -> None:
    url, code, share = create(alice, exams["alice"])
    clinician = open_as_clinician(url, code)
    image = f"/s/x/images/{exams['alice'].instance.pk}/preview"
    assert clinician.get(image).status_code == 200
    ShareLink.objects.filter(pk=share.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert clinician.get(image).status_code == 404


def test_it_leaves_out_the_report_and_downloads_unless_shared(alice: Client, exams: dict[str, Exam]) -> None:
    url, code, _ = create(alice, exams["alice"], include_report="")
    clinician = open_as_clinician(url, code)
    study = exams["alice"].study.pk
    page = clinician.get(f"/s/x/studies/{study}/").content.decode()
    assert "report.pdf" not in page
    assert 'id="download-dicom"' not in page
    assert clinician.get(f"/s/x/studies/{study}/report.pdf").status_code == 404
    assert clinician.post(f"/s/x/studies/{study}/downloads/", {"kind": "dicom"}).status_code == 404
    url, code, _ = create(alice, exams["alice"], allow_download="on")
    clinician = open_as_clinician(url, code)
    made = clinician.post(f"/s/x/studies/{study}/downloads/", {"kind": "dicom"})
    assert made.status_code == 302
    assert clinician.get(made["Location"] + "file").status_code == 200


# ---------------------------------------------------------------- the patient's log


def test_it_logs_every_opening_and_texts_the_patient_once(
    alice: Client, exams: dict[str, Exam], sms_outbox: list[Any]
) -> None:
    url, _, share = create(alice, exams["alice"], with_code="")
    path = url.replace("http://testserver", "")
    for address in ("114.114.114.114", "8.8.4.4"):
        Client().post(path, REMOTE_ADDR=address, HTTP_USER_AGENT="Mozilla/5.0 (iPhone) Safari/604.1")
    openings = list(ShareOpen.objects.filter(share=share).order_by("pk"))
    assert [o.network for o in openings] == ["114.114.114.0/24", "8.8.4.0/24"]
    assert openings[0].browser == "Safari iPhone"
    assert len([m for m in sms_outbox if m.to == ALICE_PHONE and ("opened" in m.body or "打开" in m.body)]) == 1
    page = alice.get(f"/my/shares/{share.pk}/").content.decode()
    assert "114.114.114.0/24" in page
    listing = alice.get("/my/shares/").content.decode()
    assert f'data-share="{share.pk}"' in listing
    assert AuditEvent.objects.filter(action=AuditAction.SHARE_CREATE, study=exams["alice"].study).exists()


def test_it_keeps_the_token_out_of_log_lines(alice: Client, exams: dict[str, Exam]) -> None:
    url, _, share = create(alice, exams["alice"], with_code="")
    token = url.rsplit("/s/", 1)[1]
    alice.post(f"/my/shares/{share.pk}/revoke")
    handlers = {h for name in ("django.request", "django.server") for h in logging.getLogger(name).handlers}
    streams = {h: h.setStream(io.StringIO()) for h in handlers if isinstance(h, logging.StreamHandler)}
    try:
        Client().get(f"/s/{token}")  # a 404: Django logs "Not Found: <path>"
        logging.getLogger("django.server").info('"GET /s/%s HTTP/1.1" 200 512', token)  # runserver's access line
        written = "".join(h.stream.getvalue() for h in streams)
    finally:
        for handler, stream in streams.items():
            handler.setStream(stream)
    assert "Not Found: /s/<token>" in written
    assert '"GET /s/<token> HTTP/1.1"' in written
    assert token not in written


# ---------------------------------------------------------------- access, table-driven

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
}


def share_url_names() -> set[str]:
    for pattern in get_resolver().url_patterns:
        if getattr(pattern, "namespace", None) == "share":
            return {p.name for p in pattern.url_patterns}
    raise AssertionError("no share URL namespace")


def test_it_lists_every_share_url_in_the_table() -> None:
    assert share_url_names() == set(OBJECT_OF)


def _pk(kind: str, exam: Exam, download_pk: int) -> int:
    return {"study": exam.study.pk, "series": exam.series.pk, "instance": exam.instance.pk, "download": download_pk}[
        kind
    ]


@pytest.mark.parametrize("name", [n for n, (kind, _) in OBJECT_OF.items() if kind])
def test_it_answers_404_for_anything_but_the_shared_study(alice: Client, exams: dict[str, Exam], name: str) -> None:
    from portal.exams.models import DownloadKind
    from portal.exams.tasks import request_download

    url, code, share = create(alice, exams["alice"], allow_download="on")
    clinician = open_as_clinician(url, code)
    own_download = request_download(exams["alice"].study, DownloadKind.DICOM, "", None, share.pk)
    alice_user = User.objects.get(phone=ALICE_PHONE)
    foreign_download = request_download(exams["other"].study, DownloadKind.DICOM, "", alice_user.pk)
    kind, method = OBJECT_OF[name]
    assert kind
    send: Callable[..., Any] = clinician.post if method == "POST" else clinician.get
    shared = send(reverse(f"share:{name}", args=[_pk(kind, exams["alice"], own_download.pk)]), {"kind": "dicom"})
    assert shared.status_code in (200, 302)
    for other in ("other", "bob"):
        response = send(
            reverse(f"share:{name}", args=[_pk(kind, exams[other], foreign_download.pk)]), {"kind": "dicom"}
        )
        assert response.status_code == 404, f"{name} on {other}'s object answered {response.status_code}"


def test_it_gives_a_share_session_no_patient_pages(alice: Client, exams: dict[str, Exam]) -> None:
    url, code, _ = create(alice, exams["alice"])
    clinician = open_as_clinician(url, code)
    assert clinician.get("/my/").status_code == 302
    assert clinician.get(f"/my/studies/{exams['alice'].study.pk}/").status_code == 302
    assert clinician.get("/my/shares/").status_code == 302


def test_it_refuses_a_share_of_another_patients_study(alice: Client, exams: dict[str, Exam]) -> None:
    response = alice.post(f"/my/studies/{exams['bob'].study.pk}/shares/", {"expiry": "7d"})
    assert response.status_code == 404
    assert not ShareLink.objects.exists()


def test_it_lets_only_the_patient_see_and_end_their_shares(exams: dict[str, Exam], alice: Client) -> None:
    _, _, share = create(alice, exams["alice"])
    bob = Client()
    sign_in_patient(bob, BOB_PHONE)
    assert bob.get(f"/my/shares/{share.pk}/").status_code == 404
    assert bob.post(f"/my/shares/{share.pk}/revoke").status_code == 404
    share.refresh_from_db()
    assert share.revoked_at is None
    assert shares.find_share("x" * 43) is None


def test_it_asks_for_confirmation_before_ending_a_share(alice: Client, exams: dict[str, Exam]) -> None:
    _, _, share = create(alice, exams["alice"])
    revoke = f'action="/my/shares/{share.pk}/revoke"'
    for page in (alice.get("/my/shares/").content.decode(), alice.get(f"/my/shares/{share.pk}/").content.decode()):
        confirms = re.findall(r'<details class="confirm end-share">.*?</details>', page, flags=re.S)
        assert len(confirms) == 1
        assert revoke in confirms[0]
        assert 'class="revoke confirm-end"' in confirms[0]
        assert revoke not in page.replace(confirms[0], "")  # no end button outside the confirmation
    share.refresh_from_db()
    assert share.revoked_at is None


def test_it_accepts_a_code_posted_with_a_null_origin_but_not_without_the_csrf_token(
    alice: Client, exams: dict[str, Exam]
) -> None:
    url, code, _ = create(alice, exams["alice"])
    path = url.replace("http://testserver", "")
    clinician = Client(enforce_csrf_checks=True)
    page = clinician.get(path).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token
    forged = clinician.post(path, {"code": code}, HTTP_ORIGIN="null")
    assert forged.status_code == 403
    sent = clinician.post(path, {"code": code, "csrfmiddlewaretoken": token.group(1)}, HTTP_ORIGIN="null")
    assert sent.status_code == 302


def test_it_counts_wrong_codes_even_when_right_ones_come_between(
    alice: Client, exams: dict[str, Exam], sms_outbox: list[Any]
) -> None:
    url, code, share = create(alice, exams["alice"], notify_on_open="")
    path = url.replace("http://testserver", "")
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    for _ in range(4):
        assert Client().post(path, {"code": wrong}).status_code == 403
    assert Client().post(path, {"code": code}).status_code == 302  # a viewer that knows the code
    assert Client().post(path, {"code": wrong}).status_code == 403  # the fifth wrong code locks
    share.refresh_from_db()
    assert share.locked_until is not None
    assert Client().post(path, {"code": code}).status_code == 403
    assert AuditEvent.objects.filter(action=AuditAction.SHARE_CODE_WRONG, study=exams["alice"].study).count() == 6


def test_it_opens_a_share_only_on_a_post(alice: Client, exams: dict[str, Exam], sms_outbox: list[Any]) -> None:
    url, _, share = create(alice, exams["alice"], with_code="")
    path = url.replace("http://testserver", "")
    preview = Client().get(path)  # a chat app's link preview, or another site's <img>
    assert preview.status_code == 200
    assert not ShareOpen.objects.filter(share=share).exists()
    assert not [m for m in sms_outbox if "opened" in m.body or "打开" in m.body]


def test_it_signs_a_patient_out_in_the_browser_that_opens_a_share(alice: Client, exams: dict[str, Exam]) -> None:
    url, code, _ = create(alice, exams["alice"])
    assert alice.post(url.replace("http://testserver", ""), {"code": code}).status_code == 302
    assert alice.get("/my/").status_code == 302  # a share session, not a patient's


def test_it_keeps_shared_images_out_of_the_browsers_cache(alice: Client, exams: dict[str, Exam]) -> None:
    url, code, _ = create(alice, exams["alice"])
    clinician = open_as_clinician(url, code)
    image = clinician.get(f"/s/x/images/{exams['alice'].instance.pk}/preview")
    assert image.status_code == 200
    assert image["Cache-Control"] == "private, no-store"
