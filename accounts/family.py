"""Family members: asking to see their exams, their consent, the desk's confirmation, withdrawal.

- An adult family member consents from their own phone: the viewer asks with
  the number (`ask_adult`), a code goes to that phone with a text that says
  what it grants, and the viewer enters the code the family member gives
  them (`consent_with_code`); or the family member, signed in, allows the
  request on their own page (`allow`).
- A child's guardian asks (`ask_child`) and shows the desk code at a hospital's
  desk; staff check the documents and attach the child's records of their
  hospital (`confirm_guardianship`).
- Either side ends a link at once (`end`): what a patient may see is read on
  every request (`visible_records`), never kept.

Codes are sent only to numbers the region knows, under the same caps as
sign-in codes (accounts.signin.code_request_limits), and every answer is the
same whether a number is known or not.
"""

import datetime as dt
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, QuerySet
from django.dispatch import Signal
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import (
    FAMILY_REQUEST_LIFETIME,
    WRONG_ENTRIES_PER_CODE,
    CodeRequest,
    FamilyKind,
    FamilyLink,
    FamilyStatus,
    PhoneLink,
    User,
    code_hash,
)
from accounts.phones import masked
from accounts.signin import Refusal, code_request_limits
from accounts.sms import send_sms
from imaging.models import PatientRecord

CONSENT_CODE_LIFETIME = dt.timedelta(minutes=10)
# Sent when a link ends, with the viewer and the records they no longer see (portal.sharing ends their shares).
link_ended = Signal()
CHILD_UNTIL_AGE = 18
DESK_CODE_ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"  # no 0/O, 1/I/L, 2/Z, 5/S, 8/B: read aloud at a desk
DESK_CODE_LENGTH = 8


def visible_records(user_id: int, phone: str) -> dict[int, int | None]:
    """The records a patient may see: {record id: None for their own, else the family link's id}.

    Their own number's records, an adult family member's number's records, a
    child's attached records until the child is 18 (by the record's birth date,
    else the one the guardian gave), through active links only,
    and never further (a family member's own family is not theirs). One query in plain SQL: every
    request of a signed-in patient, each image included, starts here.
    """
    with connection.cursor() as cursor:
        cursor.execute(_VISIBLE, [phone, user_id, user_id, coming_of_age_cutoff()])
        rows = cursor.fetchall()
    found: dict[int, int | None] = {}
    for record_id, link_id in rows:
        if found.get(record_id, 0) is not None:  # their own record stays theirs, shown as such
            found[record_id] = link_id
    return found


_PHONE_LINKS = PhoneLink._meta.db_table
_FAMILY = FamilyLink._meta.db_table
_CHILD_RECORDS = FamilyLink.records.through._meta.db_table
_RECORDS = PatientRecord._meta.db_table
# The names are the models' tables.
_VISIBLE = (
    f"SELECT patient_record_id, NULL FROM {_PHONE_LINKS} WHERE phone = %s"  # noqa: S608
    f" UNION ALL SELECT p.patient_record_id, f.id FROM {_FAMILY} f JOIN {_PHONE_LINKS} p ON p.phone = f.phone"
    "  WHERE f.viewer_id = %s AND f.status = 'active' AND f.kind = 'adult'"
    f" UNION ALL SELECT r.patientrecord_id, f.id FROM {_FAMILY} f JOIN {_CHILD_RECORDS} r ON r.familylink_id = f.id"
    f"  JOIN {_RECORDS} pr ON pr.id = r.patientrecord_id"
    "  WHERE f.viewer_id = %s AND f.status = 'active' AND f.kind = 'child'"
    "  AND COALESCE(pr.birth_date, f.child_birth_date) > %s"
)
_SWITCHER = (
    f"SELECT 'person', id, label FROM {_FAMILY} WHERE viewer_id = %s AND status = 'active'"  # noqa: S608
    f" UNION ALL SELECT 'waiting', COUNT(*), '' FROM {_FAMILY}"
    "  WHERE kind = 'adult' AND phone = %s AND status = 'pending' AND created_at > %s"
)


@dataclass(frozen=True)
class Person:
    """A family member on the switcher: the link's id and what the patient calls them."""

    pk: int
    label: str


def switcher(viewer_id: int, phone: str) -> tuple[list[Person], int]:
    """The family members a patient can switch to (in the order they were added), and how many
    requests for the patient's own exams wait for an answer.

    One query in plain SQL: the list of exams asks it on every showing, and the
    ORM's two queries cost more than the rest of the list's reads (their
    compiling, mostly: docs/architecture.md, Speed of the patient pages).
    """
    since = timezone.now() - FAMILY_REQUEST_LIFETIME
    with connection.cursor() as cursor:
        cursor.execute(_SWITCHER, [viewer_id, phone, since])
        rows = cursor.fetchall()
    people = sorted((Person(pk, label) for row_kind, pk, label in rows if row_kind == "person"), key=lambda p: p.pk)
    waiting = next((int(count) for row_kind, count, _label in rows if row_kind == "waiting"), 0)
    return people, waiting


def records_of(link: FamilyLink) -> list[int]:
    """The records an active link shows, for the switcher's list of one family member."""
    if link.status != FamilyStatus.ACTIVE:
        return []
    if link.kind == FamilyKind.ADULT:
        return list(PhoneLink.objects.filter(phone=link.phone).values_list("patient_record_id", flat=True))
    return list(link.records.values_list("pk", flat=True))


def shown_through(link_id: int | None) -> FamilyLink | None:
    """The family link a patient's scope named for a study (`visible_records`), for its label; None for their own."""
    return FamilyLink.objects.filter(pk=link_id).only("pk", "label").first() if link_id else None


# The objects of each side, scoped to who asks: a miss is a 404 whoever's it is.


def links_of_viewer(viewer: User) -> QuerySet[FamilyLink]:
    return FamilyLink.objects.filter(viewer=viewer)


def links_to_member(member: User) -> QuerySet[FamilyLink]:
    """The links that ask for, or give, a patient's own exams to someone else."""
    if not member.phone:
        return FamilyLink.objects.none()
    return FamilyLink.objects.filter(kind=FamilyKind.ADULT, phone=member.phone).select_related("viewer")


def requests_waiting(member: User) -> QuerySet[FamilyLink]:
    """Requests for a patient's exams they have not answered, newest first."""
    return links_to_member(member).filter(FamilyLink.waiting()).order_by("-created_at")


def get_link_for_viewer(viewer: User, pk: int) -> FamilyLink:
    return get_object_or_404(links_of_viewer(viewer), pk=pk)


def get_link_for_member(member: User, pk: int) -> FamilyLink:
    return get_object_or_404(links_to_member(member), pk=pk)


# Asking


def ask_adult(viewer: User, phone: str, label: str, client_ip: str | None) -> tuple[FamilyLink | None, Refusal | None]:
    """Ask a family member's consent: the link waiting for it, and a code sent if the number is known.

    Steps: refuse one's own number and a number already shown; the viewer's
    daily cap; the number's caps (those of sign-in codes, counted together);
    then the pending link (the one already waiting, or a new one) and the code.
    """
    if phone == viewer.phone:
        return None, Refusal(_("That is your own number: your exams are already here under “Me”."))
    waiting = links_of_viewer(viewer).filter(phone=phone, status__in=[FamilyStatus.PENDING, FamilyStatus.ACTIVE])
    existing = _unless_lapsed(waiting.first())
    if existing is not None and existing.status == FamilyStatus.ACTIVE:
        return None, Refusal(_("You can already see the exams of this number."))
    refusal = _daily_cap(viewer) if existing is None else None
    refusal = refusal or code_request_limits(phone, client_ip, False)
    if refusal is not None:
        return None, refusal
    link = existing or _new_link(viewer, kind=FamilyKind.ADULT, phone=phone, label=label)
    if link is None:  # asked at the same moment from another tab
        return None, Refusal(_("You can already see the exams of this number."))
    _send_consent_code(link, viewer, client_ip)
    return link, None


def _unless_lapsed(link: FamilyLink | None) -> FamilyLink | None:
    """The link, or None when it is a request nobody answered in 14 days (it is marked lapsed)."""
    if link is None or link.is_waiting or link.status != FamilyStatus.PENDING:
        return link
    FamilyLink.objects.filter(pk=link.pk, status=FamilyStatus.PENDING).update(
        status=FamilyStatus.LAPSED, ended_at=timezone.now(), code_hash="", code_valid_until=None
    )
    return None


def _daily_cap(viewer: User) -> Refusal | None:
    today = links_of_viewer(viewer).filter(created_at__gt=timezone.now() - dt.timedelta(days=1))
    if today.count() >= settings.FAMILY_REQUESTS_PER_DAY:
        return Refusal(_("You have added many family members today. Please try again tomorrow."), 3600)
    return None


def _new_link(viewer: User, **fields: object) -> FamilyLink | None:
    try:
        with transaction.atomic():
            return FamilyLink.objects.create(viewer=viewer, **fields)
    except IntegrityError:  # the unique constraint on a live link per number
        return None


def _send_consent_code(link: FamilyLink, viewer: User, client_ip: str | None) -> None:
    """A new code for the link, sent to the family member if the region knows the number.

    An unknown number's link keeps no code (nothing can consent to it) and is
    answered the same, after the same work (an update that matches no row, the
    text made and not sent), as sign-in does (accounts.signin._as_if_sending);
    the request is counted either way, with the client's address.
    """
    known = PhoneLink.objects.filter(phone=link.phone).exists()
    CodeRequest.objects.create(phone=link.phone, client_ip=client_ip, sent=known, created_at=timezone.now())
    code = f"{secrets.randbelow(10**6):06d}"
    target = Q(pk=link.pk, status=FamilyStatus.PENDING) if known else Q(pk__isnull=True)
    FamilyLink.objects.filter(target).update(
        code_hash=code_hash(code),
        code_valid_until=timezone.now() + CONSENT_CODE_LIFETIME,
        code_attempts_left=WRONG_ENTRIES_PER_CODE,
    )
    message = consent_message(viewer, code)
    if known:
        send_sms(link.phone, message)


def consent_message(viewer: User, code: str) -> str:
    # It says what the code grants and to whom: the person holding this phone decides.
    return _(
        "%(number)s asks to see all your exams in the regional e-film portal. Only if you agree, "
        "give them the code %(code)s (valid for 10 minutes). You can withdraw at any time under "
        "“Family” in the portal."
    ) % {"number": masked(viewer.phone or ""), "code": code}


def ask_child(
    viewer: User, label: str, child_name: str, birth_date: dt.date
) -> tuple[FamilyLink | None, Refusal | None]:
    """A guardian's request for a child's exams, with the desk code they will show at a hospital."""
    refusal = _daily_cap(viewer)
    if refusal is not None:
        return None, refusal
    for _attempt in range(5):  # a clash of 25**8 codes is rare; a sixth one would be a fault
        link = _new_link(
            viewer,
            kind=FamilyKind.CHILD,
            label=label,
            child_name=child_name,
            child_birth_date=birth_date,
            desk_code="".join(secrets.choice(DESK_CODE_ALPHABET) for _ in range(DESK_CODE_LENGTH)),
        )
        if link is not None:
            return link, None
    raise RuntimeError("no free desk code after five draws")


# Consenting


def consent_with_code(link: FamilyLink, code: str) -> bool:
    """The viewer enters the code the family member gave them: True once, for the right code in time.

    As for sign-in codes (accounts.models.SMSDevice.consume), the row is locked
    while the code is compared and a try counted, so guesses sent together
    are counted one after another. A request past its 14 days takes no code.
    """
    now = timezone.now()
    live = FamilyLink.waiting() & Q(pk=link.pk, code_valid_until__gt=now, code_attempts_left__gt=0) & ~Q(code_hash="")
    digits = "".join(ch for ch in code if ch.isdigit())
    with transaction.atomic():
        found = FamilyLink.objects.select_for_update().filter(live).only("pk", "code_hash").first()
        if found is None:
            return False
        if hmac.compare_digest(found.code_hash, code_hash(digits)):
            FamilyLink.objects.filter(pk=link.pk).update(
                status=FamilyStatus.ACTIVE, consented_at=now, code_hash="", code_valid_until=None, code_attempts_left=0
            )
            return True
        FamilyLink.objects.filter(pk=link.pk).update(code_attempts_left=F("code_attempts_left") - 1)
        return False


def allow(link: FamilyLink, member: User) -> bool:
    """The family member, signed in with the number asked for, allows the request."""
    return bool(
        FamilyLink.objects.filter(FamilyLink.waiting(), pk=link.pk, phone=member.phone).update(
            status=FamilyStatus.ACTIVE, consented_at=timezone.now(), code_hash="", code_valid_until=None
        )
    )


def confirm_guardianship(link: FamilyLink, records: Iterable[PatientRecord], staff: User) -> int:
    """Staff attach a child's records to the guardian's link; how many were new.

    The caller has checked the guardian's documents and that each record is of
    the staff member's hospitals; a record of someone of age is refused here.
    """
    chosen = list(records)
    if any(not is_child(record) for record in chosen):
        raise ValueError("a record of someone of age")
    with transaction.atomic():
        locked = FamilyLink.objects.select_for_update().get(pk=link.pk)
        if locked.kind != FamilyKind.CHILD or not locked.live:
            raise ValueError("not a live request for a child")
        before = set(locked.records.values_list("pk", flat=True))
        locked.records.add(*chosen)
        if locked.status == FamilyStatus.PENDING:
            FamilyLink.objects.filter(pk=locked.pk).update(
                status=FamilyStatus.ACTIVE, consented_at=timezone.now(), confirmed_by=staff
            )
    return len({record.pk for record in chosen} - before)


def coming_of_age_cutoff(today: dt.date | None = None) -> dt.date:
    """Born on or before this day, one is 18 today: a guardian's view of their records ends (29 February: 1 March)."""
    today = today or timezone.localdate()
    try:
        return today.replace(year=today.year - CHILD_UNTIL_AGE)
    except ValueError:  # 29 February, 18 years after a leap year
        return today.replace(year=today.year - CHILD_UNTIL_AGE, day=28)


def is_child(record: PatientRecord, today: dt.date | None = None) -> bool:
    """Under 18 today, or of unknown age (staff have the documents in hand)."""
    return record.birth_date is None or record.birth_date > coming_of_age_cutoff(today)


def lapse_grown_children(today: dt.date | None = None) -> int:
    """Daily: children who came of age leave their guardian's view for good. How many links lapsed.

    `visible_records` stops showing a grown child's records on the day; this
    ends what outlives the day: the shares the guardian made of them
    (`link_ended`), and the link itself once all its children are grown.
    """
    cutoff = coming_of_age_cutoff(today)
    lapsed = 0
    links = FamilyLink.objects.filter(kind=FamilyKind.CHILD, status=FamilyStatus.ACTIVE)
    for link in links.select_related("viewer").prefetch_related("records"):
        records = list(link.records.all())
        born = [(record.pk, record.birth_date or link.child_birth_date) for record in records]
        grown = {pk for pk, day in born if day is not None and day <= cutoff}
        if not grown:
            continue
        gone = grown - set(visible_records(link.viewer_id, link.viewer.phone or ""))
        if gone:
            link_ended.send(sender=FamilyLink, viewer_id=link.viewer_id, record_ids=tuple(sorted(gone)))
        if len(grown) == len(records):
            lapsed += FamilyLink.objects.filter(pk=link.pk, status=FamilyStatus.ACTIVE).update(
                status=FamilyStatus.LAPSED, ended_at=timezone.now()
            )
    return lapsed


def desk_request(desk_code: str) -> FamilyLink | None:
    """The child's link a desk code names: waiting (and not lapsed), or active (to add a hospital's records)."""
    code = "".join(ch for ch in desk_code.upper() if ch.isalnum())
    if len(code) != DESK_CODE_LENGTH:
        return None
    live = FamilyLink.waiting() | Q(status=FamilyStatus.ACTIVE)
    found = FamilyLink.objects.filter(live, kind=FamilyKind.CHILD, desk_code=code)
    return found.select_related("viewer").first()


# Ending


def end(link: FamilyLink, by: User) -> bool:
    """Withdraw consent, decline a request or end a guardianship: at once, whoever of the two sides asks.

    What the viewer saw only through this link goes with it: `link_ended` is
    sent with those records, and portal.sharing ends the shares the viewer
    made of them (a share must not outlive the consent it was made under).
    """
    before = set(records_of(link))
    ended = bool(
        FamilyLink.objects.filter(pk=link.pk, status__in=[FamilyStatus.PENDING, FamilyStatus.ACTIVE]).update(
            status=FamilyStatus.WITHDRAWN, ended_at=timezone.now(), ended_by=by, code_hash="", code_valid_until=None
        )
    )
    if ended and before:
        viewer = User.objects.only("pk", "phone").get(pk=link.viewer_id)
        gone = before - set(visible_records(viewer.pk, viewer.phone or ""))
        link_ended.send(sender=FamilyLink, viewer_id=viewer.pk, record_ids=tuple(sorted(gone)))
    return ended
