"""Request-wide middleware: the client's address behind proxies."""

from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from portal.middleware import ClientAddressMiddleware


def address_seen(settings: Any, proxies: int, forwarded: str) -> str:
    settings.TRUSTED_PROXY_COUNT = proxies
    seen: list[str] = []

    def view(request: HttpRequest) -> HttpResponse:
        seen.append(request.META["REMOTE_ADDR"])
        return HttpResponse()

    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded)
    ClientAddressMiddleware(view)(request)
    return seen[0]


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "198.51.100.7", "10.0.0.2"),  # no proxy trusted: the header is the client's word
        (1, "198.51.100.7", "198.51.100.7"),
        (1, "6.6.6.6, 198.51.100.7", "198.51.100.7"),  # a forged entry on the left is ignored
        (2, "6.6.6.6, 198.51.100.7, 10.0.0.9", "198.51.100.7"),
        (2, "198.51.100.7", "10.0.0.2"),  # fewer entries than proxies: keep the peer
    ],
)
def test_it_takes_the_client_address_from_trusted_proxies_only(
    settings: Any, proxies: int, forwarded: str, expected: str
) -> None:
    assert address_seen(settings, proxies, forwarded) == expected
