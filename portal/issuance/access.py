"""The staff member as a requester: what their hospitals (regional admins: the region) let them see.

Staff sign in with a password and a TOTP code; a session without a verified
device is not a staff session. The rule itself is accounts' `staff_scope_of`.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from accounts.staff import staff_scope_of
from imaging.access import StudyScope, scope_of_request


def is_staff_member(request: HttpRequest) -> bool:
    return not staff_scope(request).empty


def staff_scope(request: HttpRequest) -> StudyScope:
    """The studies this staff member may see: their hospitals', or all for regional admins.

    Worked out once per request (one query for the memberships): image
    requests ask for it twice, and they come by the hundred.
    """
    return scope_of_request(request, "_staff_scope", _staff_scope)


def _staff_scope(request: HttpRequest) -> StudyScope:
    return staff_scope_of(request.user)


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_staff_member(request):
            return redirect(reverse("accounts:staff-sign-in") + "?" + urlencode({"next": request.path}))
        return view(request, *args, **kwargs)

    return wrapped
