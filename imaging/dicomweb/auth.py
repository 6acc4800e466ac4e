"""Who asks DICOMweb: every endpoint is handed the asker's `StudyScope`, or answers 401.

The URLconf hands each endpoint the function that authenticates (`authenticate`,
portal.access's `dicomweb_scope`: a hospital's token, a share's credentials or
a regional admin's session), so imaging knows no requester of the apps above it.
A study outside the scope is simply not there.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from imaging.access import StudyScope
from imaging.dicomweb.responses import problem

# What the URLconf passes each endpoint: the asker's scope, or None (401).
Authenticate = Callable[[HttpRequest], StudyScope | None]


def dicomweb_view(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Authenticate the asker with the URLconf's `authenticate` (401 otherwise) and hand the view its scope."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, authenticate: Authenticate, **kwargs: Any) -> HttpResponseBase:
        scope = authenticate(request)
        if scope is None:
            return problem(401, "a valid hospital token, share credentials or a regional admin's session is required")
        return view(request, scope, *args, **kwargs)

    # Bearer tokens are not sent by browsers on their own, and Basic only for a share, which stores nothing.
    return csrf_exempt(wrapped)
