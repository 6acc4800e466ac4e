"""Response headers that Django's SecurityMiddleware does not set."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.middleware import csrf
from django.middleware.gzip import GZipMiddleware

from portal.exams.styles import style_hash

# Inline styles: only the viewer page's own stylesheets, by their hash (portal.exams.styles).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        f"style-src 'self' {style_hash()}",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "frame-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ]
)

PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"


class ContentSecurityPolicyMiddleware:
    """A strict CSP on every response: no inline scripts, no inline styles but the viewer's own, nothing third-party."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response


class CsrfViewMiddleware(csrf.CsrfViewMiddleware):
    """Django's CSRF check, which also accepts `Origin: null` on share pages, on the token alone.

    Share pages no longer ask for it: those whose address holds the token send
    `Referrer-Policy: strict-origin` (portal.sharing.views), under which a
    form's POST carries its real Origin, as on every other page (it was
    `no-referrer`, under which browsers send `Origin: null`, and the language
    switch, which posts outside /s/, was refused). A share page still open in
    a browser from before posts with `Origin: null`; such a request must still
    carry the form's CSRF token matching the cookie, which a page of another
    site can neither read nor set.
    """

    def _origin_verified(self, request: HttpRequest) -> bool:
        if request.META.get("HTTP_ORIGIN") == "null" and request.path.startswith("/s/"):
            return True
        return bool(super()._origin_verified(request))  # type: ignore[misc]


class ClientAddressMiddleware:
    """REMOTE_ADDR becomes the client's address when the portal runs behind trusted proxies.

    With `TRUSTED_PROXY_COUNT` = N, the client is the N-th address from the
    right of X-Forwarded-For (each proxy appends the address it saw); anything
    further left was written by the client and is not believed. Rate limits,
    the audit log and the share log all read REMOTE_ADDR.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.proxies = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0))

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.proxies:
            forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
            if len(forwarded) >= self.proxies:
                request.META["REMOTE_ADDR"] = forwarded[-self.proxies]
        return self.get_response(request)


class CompressPagesMiddleware(GZipMiddleware):
    """Pages and JSON gzipped for clients that take it; nothing else.

    On a phone's slow network a viewer page (with its series' manifest) is a
    fifth of its size gzipped. Django's GZipMiddleware adds random bytes
    against BREACH (pages carry CSRF tokens). Streams (zips, DICOMweb
    retrieves of gigabytes) and images are left as they are: compressing them
    costs CPU and gains nothing; static files come compressed from WhiteNoise.
    """

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        media_type = response.get("Content-Type", "").split(";")[0].strip()
        if response.streaming or media_type not in COMPRESSED_TYPES:
            return response
        return super().process_response(request, response)


COMPRESSED_TYPES = {"text/html", "application/json", "application/dicom+json", "text/csv"}
