"""The clinician's side of a shared link: open it (with its code); what share pages answer.

`/s/<token>` is the address in the QR code. Once the token (and the code, when
there is one) is accepted, the session holds the share's id and the browser is
sent to `/s/x/studies/<pk>/`, the exam pages every requester has
(portal.exams.views, as portal.access's share kind): the token leaves the
address bar and the history. Every request of the session checks the share
again; an ended share shows the same "link not valid" page as an unknown token.
"""

import datetime as dt

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from portal.audit import trail
from portal.audit.models import AuditAction
from portal.sharing import shares

# Pages whose address holds a share's token send no path in Referer, to any site, this one
# included (a proxy's access log keeps Referer): only the portal's origin. Unlike `no-referrer`,
# under which browsers send `Origin: null`, a form's POST keeps its real Origin, which Django's
# CSRF check compares with the host: the access code and the language switch post as on any page.
SHARE_LINK_REFERRER_POLICY = "strict-origin"


def private(response: HttpResponseBase) -> HttpResponseBase:
    """Share responses leave nothing behind: no index, nothing in the browser's cache (a shared
    workstation must not show the images once the share has ended). Their addresses (/s/x/...)
    hold no token: the site's `same-origin` referrer policy sends them to no other site."""
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Cache-Control"] = "private, no-store"
    return response


def token_address(response: HttpResponseBase) -> HttpResponseBase:
    """`private`, for a response to an address that may hold a token (/s/<token>)."""
    response["Referrer-Policy"] = SHARE_LINK_REFERRER_POLICY
    return private(response)


def link_not_valid(request: HttpRequest) -> HttpResponseBase:
    """One page, one status, for unknown, expired and revoked links alike."""
    return token_address(render(request, "sharing/share_not_valid.html", {"language_next": "/"}, status=404))


@never_cache
@require_http_methods(["GET", "POST"])
def open_link(request: HttpRequest, token: str) -> HttpResponseBase:
    """The QR code's address: a page that asks for the code (or a tap); the POST opens the share.

    Opening takes a POST even without a code, so that a link preview or a
    page of another site cannot open a share in someone's browser.
    """
    share = shares.find_share(token)
    if share is None:
        return link_not_valid(request)
    outcome = None
    if request.method == "POST":
        outcome = shares.check_code(share, request.POST.get("code", "")) if share.has_code else None
        if outcome is None or outcome.accepted:
            shares.open_share(request, share)
            request.share = share  # type: ignore[attr-defined]
            trail.record(request, AuditAction.STUDY_VIEW, study_id=share.study_id, share=share.pk, opened=True)
            return token_address(redirect("share:study", share.study_id))
        trail.record(request, AuditAction.SHARE_CODE_WRONG, study_id=share.study_id, share=share.pk)
    locked_until = (outcome.locked_until if outcome else None) or share.locked_until
    locked_minutes = _minutes_left(locked_until)
    # The page's address holds the token: it goes nowhere else, not even the language form.
    context = {
        "share": share,
        "outcome": outcome,
        "locked": locked_minutes > 0,
        "locked_minutes": locked_minutes,
        "language_next": "/",
    }
    status = 403 if outcome is not None else 200
    return token_address(render(request, "sharing/share_code.html", context, status=status))


def _minutes_left(until: dt.datetime | None) -> int:
    """Whole minutes until a lock ends, rounded up; 0 when there is no lock in force."""
    seconds = (until - timezone.now()).total_seconds() if until else 0
    return max(0, -int(-seconds // 60))
