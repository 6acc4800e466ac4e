"""Making phone links: by staff, by the hospital's registration feed, by the command line.

A number found in an image header only becomes a suggestion (`SuggestedPhone`):
whoever can send an image can write it, so it must never open a record by
itself. Staff confirm a suggestion at issuance, and that makes the link.
"""

import logging

from django.db import IntegrityError, transaction

from accounts.models import LinkSource, PhoneLink, SuggestedPhone, SuggestionSource, User
from accounts.phones import InvalidPhone, parse_mobile
from imaging.models import Hospital, PatientRecord

logger = logging.getLogger(__name__)


def link_phone(
    phone: str,
    record: PatientRecord,
    source: LinkSource,
    *,
    hospital: Hospital | None = None,
    created_by: User | None = None,
) -> tuple[PhoneLink, bool]:
    """Tie an E.164 number to a record; (link, created). Linking twice changes nothing.

    A suggestion of the same number for the record is settled by the link.
    """
    try:
        with transaction.atomic():
            link, created = PhoneLink.objects.get_or_create(
                phone=phone,
                patient_record=record,
                defaults={"source": source, "hospital": hospital or record.hospital, "created_by": created_by},
            )
    except IntegrityError:
        return PhoneLink.objects.get(phone=phone, patient_record=record), False
    SuggestedPhone.objects.filter(phone=phone, patient_record=record).delete()
    return link, created


def suggest_phone(phone: str, record: PatientRecord, source: SuggestionSource) -> bool:
    """Keep a number as a suggestion for staff, unless it is linked already; True when new."""
    if PhoneLink.objects.filter(phone=phone, patient_record=record).exists():
        return False
    try:
        with transaction.atomic():
            _suggestion, created = SuggestedPhone.objects.get_or_create(
                phone=phone, patient_record=record, defaults={"source": source}
            )
    except IntegrityError:  # suggested by a concurrent ingest
        return False
    return created


def confirm_suggestion(suggestion: SuggestedPhone, staff: User) -> PhoneLink:
    """Staff vouch for a suggested number: it becomes a staff link (and the suggestion goes)."""
    record = suggestion.patient_record
    link, _created = link_phone(suggestion.phone, record, LinkSource.STAFF, hospital=record.hospital, created_by=staff)
    return link


def suggest_phones_from_header(sender: object, patient_record_id: int, **kwargs: object) -> None:
    """Patient's Telephone Numbers (0010,2154) that are mobiles become suggestions (PS3.3 C.7.1.1)."""
    record = PatientRecord.objects.filter(pk=patient_record_id).select_related("hospital").first()
    if record is None:
        return
    for phone in mobile_numbers_of(record):
        suggest_phone(phone, record, SuggestionSource.DICOM)


def mobile_numbers_of(record: PatientRecord) -> list[str]:
    """The mobile numbers among a record's Patient's Telephone Numbers (backslash-separated), in E.164."""
    found = []
    for raw in record.telephone_numbers.split("\\") if record.telephone_numbers else []:
        try:
            found.append(parse_mobile(raw))
        except InvalidPhone:
            continue
    return found
