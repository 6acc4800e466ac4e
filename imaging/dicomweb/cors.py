"""CORS for the DICOMweb endpoints (WHATWG Fetch, the CORS protocol), for the origins configured only."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.cache import patch_vary_headers
from django.views.decorators.csrf import csrf_exempt

CORS_HEADERS = {
    "Access-Control-Allow-Headers": "Authorization, Accept, Content-Type",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Expose-Headers": "Content-Type, Content-Length",
}
CORS_MAX_AGE = "600"


def cors_origins() -> frozenset[str]:
    """The origins whose pages may call DICOMweb: `DICOMWEB_CORS_ORIGINS`, a list (or a comma-separated string)."""
    configured = getattr(settings, "DICOMWEB_CORS_ORIGINS", [])
    if isinstance(configured, str):
        configured = configured.split(",")
    return frozenset(origin.strip().rstrip("/") for origin in configured if origin.strip())


def with_cors(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """CORS (WHATWG Fetch, CORS protocol) for a DICOMweb endpoint, for the configured origins only.

    A preflight (OPTIONS) from a listed origin is answered 204, without
    credentials. Answers to a listed origin name it (never "*") and do not
    allow credentials: viewers send `Authorization`, cookies stay out. Other
    origins get no CORS headers, and browsers keep the answers from them.
    """

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        origins = cors_origins()
        origin = request.headers.get("Origin", "")
        allowed = bool(origin) and origin in origins
        if allowed and request.method == "OPTIONS":
            response: HttpResponseBase = HttpResponse(status=204)
            response["Access-Control-Max-Age"] = CORS_MAX_AGE
        else:
            response = view(request, *args, **kwargs)
        if origins:
            patch_vary_headers(response, ["Origin"])
        if allowed:
            response["Access-Control-Allow-Origin"] = origin
            for header, value in CORS_HEADERS.items():
                response[header] = value
        return response

    return csrf_exempt(wrapped)
