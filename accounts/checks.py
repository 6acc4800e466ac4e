"""System checks of the accounts app: no demo identity in a production database."""

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.db import DatabaseError

from accounts.staff import demo_identities


@register(Tags.security, deploy=True)
def check_demo_identities(app_configs: Any, **kwargs: Any) -> list[Error]:
    """With DEBUG off, a demo staff account or a demo-derived TOTP key is an error (`check --deploy` fails).

    Their passwords and keys are published in the README: whoever reads it could sign in as staff.
    """
    if settings.DEBUG:
        return []
    try:
        found = demo_identities()
    except DatabaseError:  # no database yet (a first `check` before `migrate`): nothing to find
        return []
    return [
        Error(
            f"demo identity in the database: {what}",
            hint="delete it or set a new password and TOTP device",
            id="accounts.E001",
        )
        for what in found
    ]
