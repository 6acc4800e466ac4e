"""Who asks DICOMweb, and what they may see (`DicomWebAccess`).

Hospitals authenticate with `Authorization: Bearer <token>` (issued by
`issue_hospital_token`) and see their own hospital's studies; regional admins,
signed in with their TOTP code, see all (the staff pages' rule,
`DICOMWEB_STAFF_SCOPE`). A patient's share is also a credential (HTTP Basic,
the share's token and access code, or Bearer for a share without a code): it reads
its one study and stores nothing. Everything else gets 401, and a study outside
the asker's scope is simply not there.
"""

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, wraps
from typing import Any, Protocol

from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponseBase
from django.utils.module_loading import import_string
from django.views.decorators.csrf import csrf_exempt

from imaging.access import StudyScope
from imaging.dicomweb.responses import problem
from imaging.models import Hospital, Instance, InstanceQuerySet, Series, Study
from imaging.tokens import hospital_for_token

# Resolves a share's credentials; portal depends on imaging, so it is named, not imported.
DEFAULT_SHARE_RESOLVER = "portal.sharing.shares.dicomweb_share"
DEFAULT_STAFF_SCOPE = "accounts.staff.staff_scope_of"


@dataclass(frozen=True)
class DicomWebAccess:
    """Who asks: a hospital's system (by token), a regional admin (by session), or a share.

    A share reads only `study_ids`, and its study's reports only when the
    patient shared the report (`include_reports`).
    """

    hospital: Hospital | None = None
    regional: bool = False
    study_ids: frozenset[int] | None = None
    include_reports: bool = True

    def studies(self) -> QuerySet[Study]:
        if self.study_ids is not None:
            return Study.objects.filter(pk__in=self.study_ids)
        if self.regional:
            return Study.objects.all()
        return Study.objects.filter(hospital=self.hospital)

    def instances(self) -> InstanceQuerySet:
        found = Instance.objects.filter(series__study__in=self.studies())
        return found if self.include_reports else found.filter(report__isnull=True)

    def series(self) -> QuerySet[Series]:
        found = Series.objects.filter(study__in=self.studies())
        return found if self.include_reports else found.filter(Exists(self.instances().filter(series=OuterRef("pk"))))


class SharedStudy(Protocol):
    """What a share resolver answers: the one study a share grants, and whether its report goes with it."""

    @property
    def study_id(self) -> int: ...

    @property
    def include_report(self) -> bool: ...


ShareResolver = Callable[[HttpRequest, str, str | None], SharedStudy | None]
StaffScopeOf = Callable[[Any], StudyScope]


def access_for(request: HttpRequest) -> DicomWebAccess | None:
    """Hospital token first (Bearer), then a share (Basic token:code, or Bearer), then an admin's session."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, credentials = header.partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "bearer":
            hospital = hospital_for_token(credentials)
            return DicomWebAccess(hospital=hospital) if hospital else _share_access(request, credentials, None)
        if scheme.lower() == "basic" and (pair := _basic_credentials(credentials)):
            # Hospital tokens stay Bearer-only: browsers replay Basic credentials, and STOW-RS is CSRF-exempt.
            return _share_access(request, *pair)
        return None
    return _staff_access(request)


def _staff_access(request: HttpRequest) -> DicomWebAccess | None:
    """A staff session reads the whole region only where the staff pages would show it all.

    The rule (role and verified second factor) is accounts' `staff_scope_of`,
    found through `DICOMWEB_STAFF_SCOPE` as shares are, so imaging imports no app above it.
    """
    if not request.user.is_authenticated:
        return None
    scope_of: StaffScopeOf | None = _named_callable(getattr(settings, "DICOMWEB_STAFF_SCOPE", DEFAULT_STAFF_SCOPE))
    scope = scope_of(request.user) if scope_of else None
    return DicomWebAccess(regional=True) if scope is not None and scope.everything else None


def _basic_credentials(encoded: str) -> tuple[str, str] | None:
    """RFC 7617: base64 of `user:password`; for a share, its token and access code."""
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    token, separator, code = decoded.partition(":")
    return (token, code) if separator and token else None


def _share_access(request: HttpRequest, token: str, code: str | None) -> DicomWebAccess | None:
    """Read access to a share's study; `code` is None for a bearer token (a share without a code)."""
    resolver: ShareResolver | None = _named_callable(
        getattr(settings, "DICOMWEB_SHARE_RESOLVER", DEFAULT_SHARE_RESOLVER)
    )
    shared = resolver(request, token, code) if resolver and token else None
    if shared is None:
        return None
    return DicomWebAccess(study_ids=frozenset({shared.study_id}), include_reports=shared.include_report)


@cache
def _named_callable(path: str) -> Any:
    return import_string(path) if path else None


def dicomweb_view(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Authenticate the asker (401 otherwise) and hand the view its access."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        access = access_for(request)
        if access is None:
            return problem(401, "a valid hospital token, share credentials or a regional admin's session is required")
        return view(request, access, *args, **kwargs)

    # Bearer tokens are not sent by browsers on their own: no CSRF exposure.
    return csrf_exempt(wrapped)
