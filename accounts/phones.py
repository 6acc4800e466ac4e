"""Mobile numbers: parsed with phonenumbers, kept in E.164, mobiles only."""

import phonenumbers
from django.conf import settings
from django.utils.translation import gettext as _
from phonenumbers import PhoneNumberType

MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


class InvalidPhone(ValueError):
    """The number is not a mobile number we can send a code to; the message says why."""


def parse_mobile(raw: str, region: str | None = None) -> str:
    """The number in E.164 (+8613800138000), or InvalidPhone with a message for the person."""
    text = (raw or "").strip()
    if not text:
        raise InvalidPhone(_("Please enter your mobile number."))
    try:
        number = phonenumbers.parse(text, region or getattr(settings, "PHONE_DEFAULT_REGION", "CN"))
    except phonenumbers.NumberParseException:
        raise InvalidPhone(_("This does not look like a phone number.")) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(_("This is not a valid phone number."))
    kind = phonenumbers.number_type(number)
    if kind == PhoneNumberType.VOIP:
        raise InvalidPhone(_("Internet (VoIP) numbers cannot receive sign-in codes; please use a mobile number."))
    if kind not in MOBILE_TYPES:
        raise InvalidPhone(_("This is a landline number; sign-in codes are sent to mobile numbers only."))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def masked(e164: str) -> str:
    """+8613800138000 -> +86 138****8000, for pages and messages."""
    number = phonenumbers.parse(e164)
    national = str(number.national_number)
    if len(national) > 7:
        national = national[:3] + "****" + national[-4:]
    return f"+{number.country_code} {national}"


def masked_number(to: str) -> str:
    """`masked`, or a placeholder: a log line must not fail on a malformed number."""
    try:
        return masked(to)
    except phonenumbers.NumberParseException:
        return "(malformed number)"
