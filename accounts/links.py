"""Making phone links: by staff, by the hospital's registration feed, from the DICOM header."""

import logging

from django.db import IntegrityError, transaction

from accounts.models import LinkSource, PhoneLink, User
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
    """Tie an E.164 number to a record; (link, created). Linking twice changes nothing."""
    try:
        with transaction.atomic():
            return PhoneLink.objects.get_or_create(
                phone=phone,
                patient_record=record,
                defaults={"source": source, "hospital": hospital or record.hospital, "created_by": created_by},
            )
    except IntegrityError:
        return PhoneLink.objects.get(phone=phone, patient_record=record), False


def link_phones_from_header(sender: object, patient_record_id: int, **kwargs: object) -> None:
    """Patient's Telephone Numbers (0010,2154) that are mobiles become links (PS3.3 C.7.1.1)."""
    record = PatientRecord.objects.filter(pk=patient_record_id).select_related("hospital").first()
    if record is None or not record.telephone_numbers:
        return
    for raw in record.telephone_numbers.split("\\"):
        try:
            phone = parse_mobile(raw)
        except InvalidPhone:
            continue
        link_phone(phone, record, LinkSource.DICOM)
