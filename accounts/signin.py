"""Patients sign in with a mobile number and an SMS code.

Every number gets the same answers, on the same path, whether the region knows
it or not: the limits are counted from `CodeRequest` rows written for every
request, failures from `SignInFailure` rows written for every number
(accounts.throttle). Only the last
step differs, out of sight: a code is generated and sent only to a number that
is linked to a hospital record, and an unknown number's request makes the same
queries (`_as_if_sending`) while the text is handed on without waiting.
"""

import datetime as dt
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import throttle
from accounts.device_cookies import subject_of_phone
from accounts.models import CodeRequest, PhoneLink, SMSDevice, User
from accounts.sms import send_sms
from accounts.throttle import SignInClient


@dataclass(frozen=True)
class Refusal:
    """A request turned down, with the message for the person and when to try again."""

    message: str
    retry_after: int = 0


def request_code(phone: str, client_ip: str | None, trusted_device: bool = False) -> Refusal | None:
    """Send a code if the limits allow; None when the request was taken (sent or not).

    The caps per number count the requests of untrusted clients and those of
    browsers holding the number's device cookie apart: whoever knows a
    patient's number can use up its codes for the day, but not on the
    patient's own phone.
    """
    refusal = code_request_limits(phone, client_ip, trusted_device)
    if refusal is not None:
        return refusal
    known = PhoneLink.objects.filter(phone=phone).exists()
    CodeRequest.objects.create(
        phone=phone, client_ip=client_ip, trusted_device=trusted_device, sent=known, created_at=timezone.now()
    )
    if known:
        code = _device_for(phone).new_code()
        send_sms(phone, code_message(code))  # never raises, never waits for the gateway (accounts.sms)
    else:
        _as_if_sending(phone)
    return None


def _as_if_sending(phone: str) -> None:
    """A known number's last step with nothing to find or change: the time of the answer does not tell.

    The same three queries (the user, the device, the code's update) and the
    same message; what a known number adds is handing the text on: a thread
    started in the request whose work comes after the response
    (accounts.tasks.hand_off; issue 15, and docs/architecture.md, Signing in).
    """
    User.objects.filter(phone=phone).first()
    SMSDevice.objects.filter(user__phone=phone).first()
    SMSDevice.objects.filter(user__phone=phone, pk__isnull=True).update(code_attempts_left=0)  # matches no row
    code_message(f"{secrets.randbelow(10**6):06d}")


def code_message(code: str) -> str:
    # Says nothing of the patient's exams: the SMS may be read by anyone holding the phone.
    return _(
        "Your sign-in code for the regional e-film portal is %(code)s. It is valid for 5 minutes. "
        "Do not share it with anyone."
    ) % {"code": code}


def code_request_limits(phone: str, client_ip: str | None, trusted_device: bool) -> Refusal | None:
    """Whether a code may be sent to the number now: the caps per number and per network.

    Every text the portal sends with a code counts here, sign-in codes and family
    members' consent codes alike (accounts.family), so no page can be used to
    send a number more texts than sign-in can.
    """
    now = timezone.now()
    requests = CodeRequest.objects.filter(phone=phone, trusted_device=trusted_device)
    last = requests.order_by("-created_at").values_list("created_at", flat=True).first()
    if last is not None and (now - last).total_seconds() < settings.SMS_RESEND_SECONDS:
        wait = settings.SMS_RESEND_SECONDS - int((now - last).total_seconds())
        return Refusal(
            _("A code was requested a moment ago. You can ask for another in %(seconds)d seconds.") % {"seconds": wait},
            wait,
        )
    if requests.filter(created_at__gt=now - dt.timedelta(minutes=10)).count() >= settings.SMS_PER_NUMBER_10_MINUTES:
        return Refusal(_("Too many codes were requested for this number. Please try again in 10 minutes."), 600)
    if requests.filter(created_at__gt=now - dt.timedelta(days=1)).count() >= settings.SMS_PER_NUMBER_DAY:
        return Refusal(_("Too many codes were requested for this number today. Please try again tomorrow."), 3600)
    if (
        client_ip
        and CodeRequest.objects.filter(client_ip=client_ip, created_at__gt=now - dt.timedelta(hours=1)).count()
        >= settings.SMS_PER_IP_HOUR
    ):
        return Refusal(_("Too many codes were requested from this network. Please try again later."), 3600)
    return None


def _device_for(phone: str) -> SMSDevice:
    user = _patient_user(phone)
    device = SMSDevice.objects.filter(user=user).first()
    if device is None:
        device = SMSDevice.objects.create(user=user, name="SMS", confirmed=True)
    return device


def _patient_user(phone: str) -> User:
    user = User.objects.filter(phone=phone).first()
    if user is not None:
        return user
    try:
        with transaction.atomic():
            user = User(username=phone, phone=phone)
            user.set_unusable_password()
            user.save()
            return user
    except IntegrityError:  # made by a concurrent request
        return User.objects.get(phone=phone)


def verify_code(phone: str, code: str, client: SignInClient) -> tuple[User | None, Refusal | None]:
    """The patient when the code is right; otherwise why not. The same work for every number.

    The wait comes first (accounts.throttle: per device cookie, or per number and
    network from untrusted clients, capped at SIGN_IN_MAX_WAIT); then the code,
    with its own limit of WRONG_ENTRIES_PER_CODE.
    """
    subject = subject_of_phone(phone)
    now = timezone.now()
    wait = throttle.wait_seconds(subject, client, now)
    if wait:
        return None, _wait_refusal(wait)
    device = SMSDevice.objects.filter(user__phone=phone).select_related("user").first()
    code = "".join(ch for ch in code if ch.isdigit())
    if device is not None and len(code) == 6 and device.consume(code):
        throttle.record_success(client)
        return device.user, None
    throttle.record_failure(subject, client, now)
    return None, Refusal(_("That code is not right, or it has expired. Check the SMS, or ask for a new code."))


def _wait_refusal(wait: int) -> Refusal:
    if wait < 120:
        return Refusal(_("Please wait %(seconds)d seconds before trying again.") % {"seconds": wait}, wait)
    minutes = -(-wait // 60)
    return Refusal(_("Please wait %(minutes)d minutes before trying again.") % {"minutes": minutes}, wait)
