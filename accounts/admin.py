from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User

admin.site.register(User, UserAdmin)


class CheckedTOTPDeviceAdmin(TOTPDeviceAdmin):
    """django-otp's device admin, answering 404 for an unknown device in its two extra pages
    (django-otp's own views let `DoesNotExist` through as a 500)."""

    def config_view(self, request: HttpRequest, pk: int) -> Any:
        get_object_or_404(TOTPDevice, pk=pk)
        return super().config_view(request, pk)

    def qrcode_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        get_object_or_404(TOTPDevice, pk=pk)
        return super().qrcode_view(request, pk)


admin.site.unregister(TOTPDevice)
admin.site.register(TOTPDevice, CheckedTOTPDeviceAdmin)
