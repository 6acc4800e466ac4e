"""Device cookies: a browser in which a person signed in before.

OWASP's "Slow Down Online Guessing Attacks with Device Cookies": a successful
sign-in leaves a signed, long-lived cookie naming the person and a random
nonce. Failures from such a device count against that device only, so
failures from anywhere else (an attacker's) never slow the person's own
browser; failures from other clients count against the person "from
untrusted clients" and against the client's network.

One cookie holds the devices' entries for a few people (a family's shared
phone, a ward's workstation). It names each person by an HMAC of the phone or
username, not the number itself: a cookie can be read by whoever holds the
device.
"""

import ipaddress
import secrets

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import salted_hmac

COOKIE_NAME = "efilm_device"
SALT = "accounts.device_cookies"
MAX_AGE = 365 * 24 * 3600
MAX_ENTRIES = 8  # people remembered per browser; the oldest entry goes first
PENDING = "_device_cookie_subject"


def subject_of_phone(phone: str) -> str:
    return f"phone:{phone}"


def subject_of_staff(username: str) -> str:
    return f"staff:{username.casefold()}"


def _subject_key(subject: str) -> str:
    return salted_hmac(SALT, subject).hexdigest()[:24]


def _entries(request: HttpRequest) -> dict[str, str]:
    raw = request.COOKIES.get(COOKIE_NAME)
    if not raw:
        return {}
    try:
        value = signing.loads(raw, salt=SALT, max_age=MAX_AGE)
    except signing.BadSignature:  # also an expired one
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(key): str(nonce) for key, nonce in value.items()}


def trusted_device(request: HttpRequest, subject: str) -> str:
    """The nonce of this browser's valid device cookie for the person; "" when it has none."""
    return _entries(request).get(_subject_key(subject), "")


def remember_after_response(request: HttpRequest, subject: str) -> None:
    """Ask `DeviceCookieMiddleware` to (re)issue the cookie for the person on this response."""
    setattr(request, PENDING, subject)  # the request carries it to the middleware


def remember(request: HttpRequest, response: HttpResponse, subject: str) -> None:
    """Set the cookie with the person's entry: the same nonce when the browser had one, else a new one."""
    entries = _entries(request)
    key = _subject_key(subject)
    nonce = entries.pop(key, "") or secrets.token_urlsafe(16)
    entries[key] = nonce  # the most recent last
    entries = dict(list(entries.items())[-MAX_ENTRIES:])
    response.set_cookie(
        COOKIE_NAME,
        signing.dumps(entries, salt=SALT, compress=True),
        max_age=MAX_AGE,
        httponly=True,
        secure=not settings.DEBUG,
        samesite="Lax",
    )


def client_network(address: str | None) -> str:
    """The client key of an address: an IPv4 address itself, an IPv6 address's /64.

    IPv4 is counted per address, not per /24: carrier-grade NAT and a
    hospital's guest network already put many patients behind one address,
    and a /24 would slow hundreds of unrelated people for one attacker. An
    IPv6 host picks any address of its /64 at will, so the /64 is the client.
    """
    if not address:
        return ""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False).network_address)
    return str(ip)
