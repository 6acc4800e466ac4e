"""Step-up: what exposes a patient's exams to others asks for an SMS code less than 15 minutes old.

A session restored from a remembered phone (accounts.remembering) can be in
anyone's hands who holds the phone, unlocked; sharing an exam, replacing a
share's access code, downloading the original DICOM files (and adding a
family member) ask for a code sent to the patient's number first, unless one
was entered in this session within `settings.FRESH_CODE_SECONDS`.

- `mark_code_fresh(request)`: after every right SMS code (the sign-in, the
  confirm page `accounts.views.confirm`).
- `code_is_fresh(request)`: whether that was recently enough.
- `@fresh_code_required`: a patient's view that needs it. Put it below
  `@require_POST` (or `@require_GET`) and above `@requester_view`:

      @require_POST
      @fresh_code_required
      @requester_view
      def create_share(request, patient, pk): ...

  A signed-in patient without a fresh code is sent to `accounts:confirm`,
  which comes back to `next` (`next_after_confirm`); anyone else (a visitor,
  a share session, staff) goes through to the view, which refuses them as it
  always has.
- `ask_for_fresh_code(request)`: the same redirect, for a view that asks only
  sometimes (the DICOM download, not the JPEG one).
"""

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

FRESH_KEY = "code_verified_at"  # in the session: when an SMS code was last entered right (Unix time)
FALLBACK_NEXT = "/my/"


def mark_code_fresh(request: HttpRequest) -> None:
    request.session[FRESH_KEY] = timezone.now().timestamp()


def code_is_fresh(request: HttpRequest) -> bool:
    verified_at = request.session.get(FRESH_KEY)
    if not isinstance(verified_at, int | float):
        return False
    return timezone.now().timestamp() - verified_at <= settings.FRESH_CODE_SECONDS


def is_signed_in_patient(request: HttpRequest) -> bool:
    return bool(request.user.is_authenticated and getattr(request.user, "phone", None))


def fresh_code_required(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """A signed-in patient without a fresh code goes to the confirm page first; everyone else to the view."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if is_signed_in_patient(request) and not code_is_fresh(request):
            return ask_for_fresh_code(request)
        return view(request, *args, **kwargs)

    return wrapped


def ask_for_fresh_code(request: HttpRequest) -> HttpResponseRedirect:
    """To the confirm page, which returns to this page (a GET) or to the page a form was posted from."""
    if request.method in ("GET", "HEAD"):
        back = request.get_full_path()
    else:
        back = request.POST.get("next", "") or _same_site_path(request, request.headers.get("Referer", ""))
    query = urlencode({"next": next_after_confirm(request, back)})
    return HttpResponseRedirect(f"{reverse('accounts:confirm')}?{query}")


def next_after_confirm(request: HttpRequest, candidate: str) -> str:
    """`candidate` if it is a path of this site, else the patient's exams: never another site."""
    safe = (
        candidate.startswith("/")
        and not candidate.startswith(("//", "/\\"))
        and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()})
    )
    return candidate if safe else FALLBACK_NEXT


def _same_site_path(request: HttpRequest, url: str) -> str:
    """The path and query of an address on this site (the Referer of a form's POST), else ""."""
    parts = urlsplit(url)
    if parts.netloc != request.get_host() or not parts.path.startswith("/"):
        return ""
    return f"{parts.path}?{parts.query}" if parts.query else parts.path
