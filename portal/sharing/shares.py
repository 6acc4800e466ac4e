"""Sharing an exam by link: making a share, opening it (with its access code), and ending it.

- A token is 32 bytes from `secrets`, URL-safe; a share is found by its
  SHA-256. It is also kept sealed (portal.sharing.sealing), so that the
  patient can be shown the link again while the share lasts; ending a share
  drops the sealed token.
- An access code is 6 digits from `secrets`, kept as an HMAC with a per-share
  salt, so it is shown once; the patient can replace it. 5 wrong entries lock
  the share (a conditional update, so parallel guesses cannot slip past the
  count), for 15 minutes, then 1 hour, then 24 hours; the third lock also
  suspends the share until the patient turns it back on. The patient hears of
  a lock by SMS at most once an hour per share.
- Opening a share puts its id in a fresh session and redirects to a clean URL;
  every request of that session checks the share again, so expiry and
  revocation take effect on the very next request.
"""

import datetime as dt
import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db.models import Case, DateTimeField, F, Q, Value, When
from django.dispatch import Signal
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.sms import send_sms
from imaging.models import Study
from portal.audit import trail
from portal.audit.models import AuditAction
from portal.sharing import sealing
from portal.sharing.models import ShareLink, ShareOpen

TOKEN_BYTES = 32
CODE_DIGITS = 6
WRONG_CODES_BEFORE_LOCK = 5
# Each lock longer than the one before; the last also suspends the share. A guesser gets 15
# codes in more than an hour before a share is off, of a million possible codes.
LOCK_STEPS = (dt.timedelta(minutes=15), dt.timedelta(hours=1), dt.timedelta(hours=24))
LOCK_NOTICE_EVERY = dt.timedelta(hours=1)
SESSION_KEY = "share_id"
EXPIRY_CHOICES = {
    "1h": dt.timedelta(hours=1),
    "24h": dt.timedelta(hours=24),
    "7d": dt.timedelta(days=7),
    "30d": dt.timedelta(days=30),
}
DEFAULT_EXPIRY = "7d"

# Sent with `share` when the patient of a share they did not make is to be texted: an app above
# this one answers with the number it knows (portal.issuance: the number a clinic issued the
# share to), or None. A signal, so that sharing imports none of the apps that make shares.
patient_phone_of_share = Signal()


@dataclass(frozen=True)
class NewShare:
    share: ShareLink
    token: str
    code: str  # "" without an access code


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _hash_code(code: str, salt: str) -> str:
    return hmac.new(f"{settings.SECRET_KEY}:{salt}".encode(), code.encode(), hashlib.sha256).hexdigest()


def _new_code() -> tuple[str, str, str]:
    """A new access code, its salt and its HMAC."""
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    salt = secrets.token_hex(16)
    return code, salt, _hash_code(code, salt)


def create_share(
    study: Study,
    user_id: int,
    expiry: str = DEFAULT_EXPIRY,
    *,
    with_code: bool = True,
    include_report: bool = True,
    allow_download: bool = False,
    notify_on_open: bool = True,
    show_full_name: bool = False,
) -> NewShare:
    """A new share of `study`; the token and code are returned once and never kept in clear."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    code, salt, code_hash = _new_code() if with_code else ("", "", "")
    share = ShareLink.objects.create(
        study=study,
        created_by_id=user_id,
        token_hash=hash_token(token),
        token_sealed=sealing.seal(token),
        code_hash=code_hash,
        code_salt=salt,
        include_report=include_report,
        allow_download=allow_download,
        notify_on_open=notify_on_open,
        show_full_name=show_full_name,
        expires_at=timezone.now() + EXPIRY_CHOICES.get(expiry, EXPIRY_CHOICES[DEFAULT_EXPIRY]),
    )
    return NewShare(share, token, code)


def find_share(token: str) -> ShareLink | None:
    """The valid share a token names, or None (unknown, expired and revoked alike)."""
    if not token or len(token) > 100:
        return None
    return ShareLink.objects.valid().select_related("study").filter(token_hash=hash_token(token)).first()


def token_to_show(share: ShareLink) -> str | None:
    """The token of a share that has not ended, to show the patient again; None when it cannot be.

    None for a share made before tokens were kept, for one that has ended, and
    for a sealed token that no key opens or that is not this share's (a sealed
    value copied from another row).
    """
    if not share.keeps_token or not share.is_valid:
        return None
    token = sealing.unseal(share.token_sealed)
    if token is None or not hmac.compare_digest(hash_token(token), share.token_hash):
        return None
    return token


def reseal_tokens() -> tuple[int, int]:
    """Seal every kept token again under the first key (`SHARE_TOKEN_KEYS`): how many, and how many no key opens.

    A row is written only if its sealed token is still the one read (a
    conditional update): a share ended meanwhile keeps its empty value.
    """
    resealed = unreadable = 0
    for pk, sealed in ShareLink.objects.exclude(token_sealed="").values_list("pk", "token_sealed").iterator():
        new = sealing.reseal(sealed)
        if new is None:
            unreadable += 1
        else:
            resealed += ShareLink.objects.filter(pk=pk, token_sealed=sealed).update(token_sealed=new)
    return resealed, unreadable


def replace_code(share: ShareLink) -> str | None:
    """A new access code for a share that has one and has not ended, returned once; None otherwise.

    The old code opens nothing from then on, and the wrong codes and locks of
    the old one are forgotten: they were guesses at a code that no longer
    exists. A suspended share stays suspended (turning it back on is `reenable`).
    """
    code, salt, code_hash = _new_code()
    replaced = (
        ShareLink.objects.filter(pk=share.pk, revoked_at__isnull=True, expires_at__gt=timezone.now())
        .exclude(code_hash="")
        .update(code_hash=code_hash, code_salt=salt, wrong_codes=0, locked_until=None, locks=0)
    )
    return code if replaced else None


@dataclass(frozen=True)
class CodeCheck:
    accepted: bool
    locked_until: dt.datetime | None = None
    attempts_left: int = 0


def check_code(share: ShareLink, code: str) -> CodeCheck:
    """Claim an attempt, then compare; five wrong codes lock the share (`LOCK_STEPS`).

    The attempt is counted before the comparison by a conditional update that
    fails once five are counted, so parallel guesses cannot get past the
    limit; a right code gives its attempt back but does not clear earlier
    wrong ones (a viewer sending the right code cannot reset an attacker's
    count). When a lock ends, the count starts again; the number of locks
    does not, so each lock is longer than the one before.
    """
    now = timezone.now()
    ShareLink.objects.filter(pk=share.pk, locked_until__lte=now).update(locked_until=None, wrong_codes=0)
    claimed = ShareLink.objects.filter(
        pk=share.pk, locked_until__isnull=True, wrong_codes__lt=WRONG_CODES_BEFORE_LOCK
    ).update(wrong_codes=F("wrong_codes") + 1)
    if not claimed:
        share.refresh_from_db(fields=["wrong_codes", "locked_until"])
        return CodeCheck(False, share.locked_until or now + LOCK_STEPS[0])
    if hmac.compare_digest(_hash_code(code.strip(), share.code_salt), share.code_hash):
        ShareLink.objects.filter(pk=share.pk).update(wrong_codes=F("wrong_codes") - 1)
        return CodeCheck(True)
    locked = _lock_if_due(share, now)
    share.refresh_from_db(fields=["wrong_codes", "locked_until", "locks", "suspended_at"])
    if locked:
        _tell_patient_of_lock(share, now)
        return CodeCheck(False, share.locked_until)
    return CodeCheck(False, None, WRONG_CODES_BEFORE_LOCK - share.wrong_codes)


def _lock_if_due(share: ShareLink, now: dt.datetime) -> bool:
    """Lock a share that has its fifth wrong code, for the next of `LOCK_STEPS`; the last step suspends it.

    One UPDATE decides, so two guesses racing to the fifth wrong code make one
    lock; its CASE reads the row's lock count as it was before the update.
    """
    until = Case(
        *[When(locks=number, then=Value(now + step)) for number, step in enumerate(LOCK_STEPS)],
        default=Value(now + LOCK_STEPS[-1]),
        output_field=DateTimeField(),
    )
    suspended = Case(
        When(locks__gte=len(LOCK_STEPS) - 1, then=Value(now)), default=F("suspended_at"), output_field=DateTimeField()
    )
    return bool(
        ShareLink.objects.filter(
            pk=share.pk, locked_until__isnull=True, wrong_codes__gte=WRONG_CODES_BEFORE_LOCK
        ).update(locked_until=until, suspended_at=suspended, locks=F("locks") + 1)
    )


def _tell_patient_of_lock(share: ShareLink, now: dt.datetime) -> None:
    """Text the patient of a lock, at most once an hour per share: a guesser must not be able to flood them."""
    due = Q(lock_notice_at__isnull=True) | Q(lock_notice_at__lte=now - LOCK_NOTICE_EVERY)
    if not ShareLink.objects.filter(due, pk=share.pk).update(lock_notice_at=now):
        return
    if share.suspended_at is not None:
        text = _(
            "Someone entered wrong access codes for your shared exam again and again. The link is suspended: "
            "turn it back on in My shares if your doctor still needs it."
        )
    else:
        text = _(
            "Someone entered a wrong access code 5 times for your shared exam. "
            "The link is locked for %(minutes)d minutes."
        ) % {"minutes": int((share.locked_until - now).total_seconds() // 60) if share.locked_until else 15}
    _tell_patient(share, text)


def reenable(share: ShareLink) -> bool:
    """The patient turns a suspended share back on: no lock, no wrong codes, the lock steps from the start."""
    return bool(
        ShareLink.objects.filter(pk=share.pk, suspended_at__isnull=False, revoked_at__isnull=True).update(
            suspended_at=None, locked_until=None, wrong_codes=0, locks=0
        )
    )


def open_share(request: HttpRequest, share: ShareLink) -> None:
    """Start a share session: a new, empty session (no one stays signed in), the share's id, a log entry."""
    request.session.flush()
    request.session[SESSION_KEY] = share.pk
    request.session.set_expiry(
        min(int((share.expires_at - timezone.now()).total_seconds()), settings.SESSION_COOKIE_AGE)
    )
    log_opening(request, share, _browser(request))


def log_opening(request: HttpRequest, share: ShareLink, browser: str) -> None:
    """An entry in the share's log of openings; the first one texts the patient, if they asked."""
    ShareOpen.objects.create(
        share=share, network=approximate_network(request.META.get("REMOTE_ADDR")), browser=browser[:120]
    )
    first = ShareLink.objects.filter(pk=share.pk, opens=0).update(opens=1, last_opened_at=timezone.now())
    if not first:
        ShareLink.objects.filter(pk=share.pk).update(opens=F("opens") + 1, last_opened_at=timezone.now())
    elif share.notify_on_open:
        _tell_patient(share, _("Your shared exam was just opened. See who opened it, or end the link, in My shares."))


def session_share(request: HttpRequest) -> ShareLink | None:
    """The share of this session if it is still valid; an ended share ends the session's access."""
    share_id = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    if not share_id:
        return None
    share = ShareLink.objects.valid().filter(pk=share_id).first()
    if share is None:
        request.session.pop(SESSION_KEY, None)
    return share


def revoke(share: ShareLink) -> bool:
    """End a share; its sealed token goes with it (an ended link is never shown again)."""
    return bool(
        ShareLink.objects.filter(pk=share.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), token_sealed=""
        )
    )


def end_shares_through_family_link(
    sender: object, viewer_id: int, record_ids: tuple[int, ...], **kwargs: object
) -> int:
    """The shares a patient made of a family member's exams end with the family link they saw them through
    (accounts.family.link_ended: the records they no longer see). How many ended."""
    if not record_ids:
        return 0
    made = ShareLink.objects.filter(created_by_id=viewer_id, study__patient_id__in=record_ids, revoked_at__isnull=True)
    return made.update(revoked_at=timezone.now(), token_sealed="")


def forget_expired_tokens() -> int:
    """Drop the sealed tokens of shares past their expiry: such a link is never shown again, so its
    token need not be kept (an ended one drops it when it ends, `revoke`). How many were dropped."""
    expired = ShareLink.objects.filter(expires_at__lte=timezone.now()).exclude(token_sealed="")
    return expired.update(token_sealed="")


def approximate_network(address: str | None) -> str:
    """Where an opening came from, no finer than a /24 (IPv4) or /48 (IPv6) network."""
    if not address:
        return ""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return ""
    if ip.is_loopback or ip.is_private:
        return _("local network")
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def _browser(request: HttpRequest) -> str:
    agent = request.headers.get("User-Agent", "")
    for name in ("MicroMessenger", "Edg", "Firefox", "Chrome", "Safari"):
        if name in agent:
            kind = "WeChat" if name == "MicroMessenger" else "Edge" if name == "Edg" else name
            device = (
                "Android"
                if "Android" in agent
                else "iPhone"
                if "iPhone" in agent
                else "Windows"
                if "Windows" in agent
                else "Mac"
                if "Mac OS" in agent
                else "Linux"
                if "Linux" in agent
                else ""
            )
            return f"{kind} {device}".strip()
    return agent[:120]


def _tell_patient(share: ShareLink, text: str) -> None:
    """An SMS to the patient whose exam it is: the sharer, or the number a clinic issued the share to."""
    phone = getattr(share.created_by, "phone", None) or _phone_given_elsewhere(share)
    if phone:
        send_sms(phone, text)


def _phone_given_elsewhere(share: ShareLink) -> str | None:
    """The patient's number as an app above this one knows it (`patient_phone_of_share`'s first answer)."""
    answers = patient_phone_of_share.send(sender=ShareLink, share=share)
    return next((phone for _receiver, phone in answers if phone), None)


def dicomweb_share(request: HttpRequest, token: str, code: str | None) -> ShareLink | None:
    """The valid share a viewer's DICOMweb credentials name (imaging.dicomweb), or None.

    `code` is the access code sent as the Basic password, or None for a bearer
    token, which only a share without a code accepts. A wrong code counts
    toward the lock as one typed on the share's page does.
    """
    share = find_share(token)
    # DICOMweb hands out the original files: only a share that allows downloads opens it.
    if share is None or not share.allow_download:
        return None
    if share.has_code and (code is None or not check_code(share, code).accepted):
        return None
    request.share = share  # type: ignore[attr-defined]
    _note_dicomweb_use(request, share)
    return share


def _note_dicomweb_use(request: HttpRequest, share: ShareLink) -> None:
    """A viewer's use of a share over DICOMweb, logged as an opening at most once an hour.

    It goes in the patient's log of openings (and texts them on the first, if
    asked) and in the audit log; a viewer sends hundreds of requests a study.
    """
    if not cache.add(f"share-dicomweb:{share.pk}", 1, timeout=3600):
        return
    log_opening(request, share, f"DICOMweb {_browser(request)}".strip())
    trail.record(request, AuditAction.STUDY_VIEW, study_id=share.study_id, share=share.pk, via="dicomweb")
