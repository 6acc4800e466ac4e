"""System checks of the portal's own: CSRF protection by our subclass of Django's middleware."""

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register

CSRF_MIDDLEWARE = "portal.middleware.CsrfViewMiddleware"


@register(Tags.security, deploy=True)
def check_csrf_middleware(app_configs: Any, **kwargs: Any) -> list[Error]:
    """Stands in for Django's security.W003, which only knows Django's own class name."""
    if CSRF_MIDDLEWARE in settings.MIDDLEWARE:
        return []
    return [Error(f"{CSRF_MIDDLEWARE} must be in MIDDLEWARE: it is the portal's CSRF protection", id="portal.E001")]
