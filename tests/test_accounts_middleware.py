"""accounts.middleware: the staff's verified TOTP device, loaded on every request."""

from importlib.metadata import version
from typing import Any

import pytest
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import middleware
from accounts.middleware import VerifiedDeviceMiddleware
from accounts.models import User

pytestmark = pytest.mark.django_db


def verified_user(user: User, persistent_id: str | None) -> tuple[Any, dict[str, Any]]:
    """The request's user as the middleware stack leaves it, and the session after."""
    seen: list[HttpRequest] = []

    def view(request: HttpRequest) -> HttpResponse:
        request.user.is_verified()  # evaluate the lazy user inside the request
        seen.append(request)
        return HttpResponse()

    request = RequestFactory().get("/")
    SessionMiddleware(lambda r: HttpResponse()).process_request(request)
    request.session["_auth_user_id"] = str(user.pk)
    request.session["_auth_user_backend"] = "accounts.backends.UserBackend"
    request.session["_auth_user_hash"] = user.get_session_auth_hash()
    if persistent_id is not None:
        request.session[DEVICE_ID_SESSION_KEY] = persistent_id
    AuthenticationMiddleware(lambda r: HttpResponse()).process_request(request)
    VerifiedDeviceMiddleware(view)(request)
    return seen[0].user, dict(seen[0].session.items())


@pytest.fixture
def clerk() -> User:
    return User.objects.create_user("clerk", password="clerk-password-0123")


def test_it_verifies_a_session_with_the_users_confirmed_device(clerk: User) -> None:
    device = TOTPDevice.objects.create(user=clerk, name="phone", confirmed=True)
    user, _ = verified_user(clerk, device.persistent_id)
    assert user.is_verified()
    assert user.otp_device == device


def test_it_does_not_verify_with_another_users_device(clerk: User) -> None:
    other = User.objects.create_user("other", password="other-password-0123")
    device = TOTPDevice.objects.create(user=other, name="phone", confirmed=True)
    user, session = verified_user(clerk, device.persistent_id)
    assert not user.is_verified()
    assert DEVICE_ID_SESSION_KEY not in session


def test_it_does_not_verify_with_an_unconfirmed_device(clerk: User) -> None:
    device = TOTPDevice.objects.create(user=clerk, name="phone", confirmed=False)
    user, _ = verified_user(clerk, device.persistent_id)
    assert not user.is_verified()


@pytest.mark.parametrize(
    "persistent_id",
    ["otp_totp.totpdevice/999999", "otp_totp.totpdevice/x", "nosuch.model/1", "accounts.user/1", "junk"],
)
def test_it_does_not_verify_with_a_device_that_is_not_there(clerk: User, persistent_id: str) -> None:
    user, _ = verified_user(clerk, persistent_id)
    assert not user.is_verified()


def test_it_leaves_a_session_without_a_device_unverified(clerk: User) -> None:
    user, _ = verified_user(clerk, None)
    assert user.is_authenticated
    assert not user.is_verified()


def test_it_loads_the_device_through_the_one_django_otp_hook_it_overrides(
    clerk: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OTPMiddleware._device_from_persistent_id is private to django-otp: this pins the version it was
    checked against and that the middleware still loads the session's device through it, once."""
    assert version("django-otp") == "1.7.5", "check VerifiedDeviceMiddleware against the new OTPMiddleware"
    device = TOTPDevice.objects.create(user=clerk, name="phone", confirmed=True)
    loaded: list[str] = []
    load_device = middleware.device_of_persistent_id

    def load(persistent_id: str) -> Any:
        loaded.append(persistent_id)
        return load_device(persistent_id)

    monkeypatch.setattr(middleware, "device_of_persistent_id", load)
    user, _ = verified_user(clerk, device.persistent_id)
    assert loaded == [device.persistent_id]
    assert user.otp_device == device
