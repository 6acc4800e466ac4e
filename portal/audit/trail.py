"""Writing the audit log: every access to patient data, who, what, when (UTC), from where."""

import hashlib
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from portal.audit.models import Actor, AuditAction, AuditEvent


def record(
    request: HttpRequest,
    action: AuditAction,
    *,
    study_id: int | None = None,
    series_id: int | None = None,
    **detail: Any,
) -> AuditEvent:
    user = request.user if request.user.is_authenticated else None
    return AuditEvent.objects.create(
        actor=actor_of(request),
        user=user,
        action=action,
        study_id=study_id,
        series_id=series_id,
        detail=detail,
        ip_address=request.META.get("REMOTE_ADDR") or None,
        user_agent=request.headers.get("User-Agent", "")[:300],
        session_hash=session_hash(request),
    )


def record_images(request: HttpRequest, action: AuditAction, series_id: int, study_id: int | None = None) -> None:
    """Image requests, once per series, kind and session: a viewer asks for hundreds a minute."""
    key = f"audit-images:{session_hash(request)}:{series_id}:{action}"
    if cache.add(key, 1, timeout=settings.SESSION_COOKIE_AGE):
        record(request, action, study_id=study_id, series_id=series_id)


def actor_of(request: HttpRequest) -> Actor:
    if getattr(request, "share", None) is not None:
        return Actor.SHARE
    user = request.user
    if not user.is_authenticated:
        return Actor.ANONYMOUS
    return Actor.PATIENT if getattr(user, "phone", None) else Actor.STAFF


def session_hash(request: HttpRequest) -> str:
    """A session's mark in the log, from which the session key cannot be recovered."""
    key = request.session.session_key if hasattr(request, "session") else None
    return hashlib.sha256(key.encode()).hexdigest()[:16] if key else ""
