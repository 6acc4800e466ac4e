"""Issuing the e-film at discharge: link the phone, record the choice, text the patient, print a slip.

An issuance covers one or more studies of one patient record. With it, the
clerk may make a 30-day share (with an access code) for the doctor at the
patient's next visit; its token and code are shown once, on the slip.
"""

import io
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from PIL import Image, ImageDraw, ImageFont

from accounts.links import link_phone
from accounts.models import LinkSource, PhoneLink, User
from accounts.sms import send_sms
from imaging.models import PatientRecord, Study
from portal.issuance.models import FilmChoice, Issuance
from portal.sharing import qr, shares
from portal.sharing.models import ShareLink

SHARE_EXPIRY = "30d"


@dataclass(frozen=True)
class IssuedSlip:
    """What a slip shows once: the portal's sign-in link and, when made, the doctor's share."""

    issuance: Issuance
    sign_in_url: str
    share_url: str = ""
    share_code: str = ""


def sign_in_url(phone: str) -> str:
    return f"{settings.SITE_URL}{reverse('accounts:sign-in')}?{urlencode({'phone': phone})}"


def issue(
    record: PatientRecord,
    studies: list[Study],
    phone: str,
    choice: FilmChoice,
    staff: User,
    *,
    with_share: bool = True,
    notify: bool = True,
    replaces: Issuance | None = None,
) -> IssuedSlip:
    """Link the phone, record the choice, make the doctor's share, then text the patient."""
    with transaction.atomic():
        made_link = None
        if phone:
            link, created = link_phone(phone, record, LinkSource.STAFF, hospital=record.hospital, created_by=staff)
            made_link = link if created else None
        # The next doctor may load the originals into their own viewer: what the printed film was for.
        new_share = (
            shares.create_share(studies[0], staff.pk, SHARE_EXPIRY, allow_download=True, notify_on_open=False)
            if with_share
            else None
        )
        issuance = Issuance.objects.create(
            hospital=record.hospital,
            patient_record=record,
            phone=phone,
            choice=choice,
            issued_by=staff,
            share=new_share.share if new_share else None,
            phone_link=made_link,
            replaces=replaces,
        )
        issuance.studies.set(studies)
    if notify:
        tell_patient(issuance)
    share_url = f"{settings.SITE_URL}{reverse('share-open', args=[new_share.token])}" if new_share else ""
    return IssuedSlip(issuance, sign_in_url(phone) if phone else "", share_url, new_share.code if new_share else "")


def tell_patient(issuance: Issuance) -> None:
    """The text that the exams are ready, for an e-film with a phone (after the rows are written)."""
    if issuance.phone and issuance.choice != FilmChoice.PRINT:
        send_sms(issuance.phone, ready_message(issuance.hospital.name))


def ready_message(hospital: str) -> str:
    with translation.override(settings.LANGUAGE_CODE):
        return _(
            "Your imaging exams at %(hospital)s are ready in the regional e-film portal: %(url)s "
            "Sign in with this mobile number."
        ) % {"hospital": hospital, "url": f"{settings.SITE_URL}/"}


def phone_of_issued_share(sender: object, share: ShareLink, **kwargs: object) -> str | None:
    """The number a clinic issued the share to, for the sharing app's texts (`patient_phone_of_share`)."""
    return Issuance.objects.filter(share=share).exclude(phone="").values_list("phone", flat=True).first()


def revoke(issuance: Issuance) -> bool:
    """End an issuance, its doctor's share and the phone link it made; it no longer counts.

    A number typed wrong at discharge must not go on seeing the exams.
    """
    with transaction.atomic():
        ended = Issuance.objects.filter(pk=issuance.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        if ended and issuance.share_id:
            shares.revoke(issuance.share)  # type: ignore[arg-type]
        if ended and issuance.phone_link_id:
            PhoneLink.objects.filter(pk=issuance.phone_link_id).delete()
    return bool(ended)


def reissue(issuance: Issuance, staff: User) -> IssuedSlip:
    """A new slip (and share) in place of an old one, which is revoked."""
    revoke(issuance)
    studies = list(issuance.studies.all())
    return issue(
        issuance.patient_record,
        studies,
        issuance.phone,
        FilmChoice(issuance.choice),
        staff,
        with_share=issuance.share_id is not None,
        notify=False,
        replaces=issuance,
    )


# ---------------------------------------------------------------- the slip as PDF

FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
)
A5 = (874, 1240)  # 150 dpi


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in FONT_CANDIDATES:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def slip_pdf(slip: IssuedSlip, lines: list[str]) -> bytes:
    """An A5 page: the hospital, the exams, the sign-in QR and the doctor's QR with its code."""
    page = Image.new("RGB", A5, "white")
    draw = ImageDraw.Draw(page)
    y = 50
    for index, line in enumerate(lines):
        draw.text((60, y), line, fill="black", font=_font(40 if index == 0 else 26))
        y += 58 if index == 0 else 40
    codes = [(slip.sign_in_url, _("Sign in to see your exams"))]
    if slip.share_url:
        codes.append((slip.share_url, _("For your next doctor: access code %(code)s") % {"code": slip.share_code}))
    x = 60
    for url, caption in codes:
        image = Image.open(io.BytesIO(qr.qr_png(url))).convert("RGB").resize((340, 340), Image.Resampling.NEAREST)
        page.paste(image, (x, y + 30))
        draw.text((x, y + 390), caption, fill="black", font=_font(20))
        x += 400
    out = io.BytesIO()
    page.save(out, "PDF", resolution=150.0)
    return out.getvalue()
