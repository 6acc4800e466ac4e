from collections.abc import Callable
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.utils.translation import gettext_lazy as _
from django_otp.admin import OTPAdminAuthenticationForm
from django_otp.forms import OTPAuthenticationForm
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.phones import InvalidPhone, parse_mobile


class PhoneForm(forms.Form):
    phone = forms.CharField(
        label=_("Mobile number"),
        max_length=32,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel", "autofocus": True}),
    )

    def clean_phone(self) -> str:
        try:
            return parse_mobile(self.cleaned_data["phone"])
        except InvalidPhone as error:
            raise forms.ValidationError(str(error)) from None


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code from the SMS"),
        max_length=12,
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "autofocus": True, "pattern": "[0-9 ]*"}
        ),
    )

    # Unticked unless the patient ticks it: the page may be on a shared computer (accounts.remembering).
    remember = forms.BooleanField(label=_("Remember this phone for 30 days"), required=False)

    def clean_code(self) -> str:
        code: str = "".join(ch for ch in self.cleaned_data["code"] if ch.isdigit())
        if len(code) != 6:
            raise forms.ValidationError(_("The code has 6 digits."))
        return code

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)


class ConfirmCodeForm(CodeForm):
    """The code of a step-up (accounts.stepup): the patient is signed in, the phone remembered or not already."""

    remember = None  # type: ignore[assignment]


SIGN_IN_FAILED = _(
    "These details did not sign you in. Check the username, the password and the code from your "
    "authenticator app. After repeated failures, wait %(minutes)d minutes before trying again."
)


def clean_with_one_message(form: AuthenticationForm, clean: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run the form's checks; any failure (user, password, second factor, lockout) gets one message.

    A right password with a wrong or missing code is a failed sign-in too: it is
    announced as one (`user_login_failed`), so django-axes counts it like a wrong
    password, and django-otp's own doubling TOTP delay (uncapped) is switched off.
    """
    try:
        return clean()
    except forms.ValidationError:
        if form.user_cache is not None:
            credentials = {"username": form.cleaned_data.get("username", "")}
            user_login_failed.send(sender=__name__, credentials=credentials, request=form.request)
            form.user_cache = None  # the admin's template would show the device menu: the password was right
        minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
        raise forms.ValidationError(SIGN_IN_FAILED, code="sign_in_failed", params={"minutes": minutes}) from None


def staff_totp_device(user: Any) -> Device | None:
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).first()


def device_to_verify(user: Any, posted: str | None) -> str:
    """The persistent id of the device to check: the one posted if it is the user's, else their TOTP device.

    Staff have one TOTP device; it is the one verified, so the person does not
    pick a device (django-otp otherwise asks, to avoid trying every device).
    """
    if posted:
        device = Device.from_persistent_id(posted)
        if device is not None and device.user_id == user.pk:
            return posted
    device = staff_totp_device(user)
    return device.persistent_id if device is not None else ""


class StaffSignInForm(OTPAuthenticationForm):
    """Username, password and the code of the staff member's authenticator app."""

    def clean_otp(self, user: Any) -> None:
        # django-otp's public step for the second factor, reading the `otp_device` field.
        if user is not None:
            self.cleaned_data["otp_device"] = device_to_verify(user, self.cleaned_data.get("otp_device"))
        super().clean_otp(user)

    def clean(self) -> dict[str, Any]:
        return clean_with_one_message(self, super().clean)


class StaffAdminSignInForm(OTPAdminAuthenticationForm):
    """The admin's sign-in (/admin/login/): the same three factors and the same one message."""

    def clean_otp(self, user: Any) -> None:
        if user is not None:
            self.cleaned_data["otp_device"] = device_to_verify(user, self.cleaned_data.get("otp_device"))
        super().clean_otp(user)

    def clean(self) -> dict[str, Any]:
        return clean_with_one_message(self, super().clean)
