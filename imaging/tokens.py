"""Hospital API tokens: issued once, kept as a hash, checked in constant time."""

import hashlib
import secrets

from django.utils import timezone

from imaging.models import Hospital, HospitalToken

TOKEN_PREFIX = "hos_"  # noqa: S105 - a label, not a secret


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(hospital: Hospital, label: str = "") -> str:
    """A new token for `hospital`; the clear text is returned here and nowhere else."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    HospitalToken.objects.create(
        hospital=hospital,
        label=label,
        prefix=token[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + 6],
        token_hash=token_hash(token),
    )
    return token


def hospital_for_token(token: str) -> Hospital | None:
    """The hospital a presented token belongs to, if the token is known and not revoked.

    The lookup is by hash, so no timing difference depends on how much of a
    guessed token matches a real one.
    """
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    row = HospitalToken.objects.active().select_related("hospital").filter(token_hash=token_hash(token)).first()
    if row is None:
        return None
    if row.last_used_at is None or (timezone.now() - row.last_used_at).total_seconds() > 60:
        HospitalToken.objects.filter(pk=row.pk).update(last_used_at=timezone.now())
    return row.hospital
