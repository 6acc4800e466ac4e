"""How long a client waits before its next sign-in attempt, from the failures of the last day.

Failures are rows (`SignInFailure`) counted over a sliding window
(`SIGN_IN_FAILURE_WINDOW`, 24 h), in pools, after OWASP's device cookies:

- a browser with a device cookie for the person counts its own failures only;
- any other client counts the person's failures from all untrusted clients,
  and its network's failures (after `SIGN_IN_NETWORK_FREE_FAILURES` free ones:
  many patients share one address behind NAT).

A pool with n failures asks for 2^(n-1) seconds after its last failure, never
more than `SIGN_IN_MAX_WAIT` (15 minutes): an attacker can slow a person's
untrusted clients by at most that, and never their own browser.
"""

import datetime as dt
import math
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Max, Q
from django.http import HttpRequest

from accounts.device_cookies import client_network, trusted_device
from accounts.models import SignInFailure

LONGEST_DOUBLING = 30  # 2^30 s is past any sane cap; keeps the power small


@dataclass(frozen=True)
class SignInClient:
    """Who is trying: the client's network and its device cookie's nonce for the person ("" for none)."""

    network: str
    device: str = ""


def client_for(request: HttpRequest, subject: str) -> SignInClient:
    return SignInClient(client_network(request.META.get("REMOTE_ADDR")), trusted_device(request, subject))


def wait_seconds(subject: str, client: SignInClient, now: dt.datetime) -> int:
    """Seconds until this client may try again for this person; 0 when it may now."""
    since = now - settings.SIGN_IN_FAILURE_WINDOW
    if client.device:
        return _pool_wait(Q(device=client.device), 0, since, now)
    waits = [_pool_wait(Q(subject=subject, device=""), 0, since, now)]
    if client.network:
        free = settings.SIGN_IN_NETWORK_FREE_FAILURES
        waits.append(_pool_wait(Q(network=client.network, device=""), free, since, now))
    return max(waits)


def delay_after(failures: int) -> int:
    """The doubling delay of django-otp's throttle, capped."""
    if failures <= 0:
        return 0
    return int(min(2 ** min(failures - 1, LONGEST_DOUBLING), settings.SIGN_IN_MAX_WAIT))


def _pool_wait(pool: Q, free: int, since: dt.datetime, now: dt.datetime) -> int:
    found = SignInFailure.objects.filter(pool, created_at__gt=since).aggregate(n=Count("id"), last=Max("created_at"))
    delay = delay_after(found["n"] - free)
    if not delay or found["last"] is None:
        return 0
    remaining = (found["last"] + dt.timedelta(seconds=delay) - now).total_seconds()
    return max(0, math.ceil(remaining))


def record_failure(subject: str, client: SignInClient, now: dt.datetime) -> None:
    """Add a failure; failures older than the window go, so the table stays one day deep."""
    SignInFailure.objects.create(subject=subject, network=client.network, device=client.device, created_at=now)
    SignInFailure.objects.filter(created_at__lte=now - settings.SIGN_IN_FAILURE_WINDOW).delete()


def record_success(client: SignInClient) -> None:
    """A device's own typos are forgiven when it signs in; untrusted failures only age out,
    or an attacker would get a fresh start each time the person signs in elsewhere."""
    if client.device:
        SignInFailure.objects.filter(device=client.device).delete()


def device_failures(device: str, since: dt.datetime) -> int:
    return SignInFailure.objects.filter(device=device, created_at__gt=since).count()
