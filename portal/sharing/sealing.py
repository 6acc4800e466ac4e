"""Share tokens kept sealed, so that the patient can be shown a link again (Fernet under `SHARE_TOKEN_KEYS`).

Fernet is AES-128-CBC with an HMAC-SHA256 over the whole: a sealed token
altered, or sealed under another key, opens to nothing. The first key of
`settings.SHARE_TOKEN_KEYS` seals and every key opens, so a key is rotated by
putting a new key first, resealing (`manage.py reseal_share_tokens`), then
dropping the old one. Lookups never use the sealed value: a link is found by
its hash (portal.sharing.shares.find_share).
"""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


def _keys() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in settings.SHARE_TOKEN_KEYS])


def seal(token: str) -> str:
    return _keys().encrypt(token.encode()).decode()


def unseal(sealed: str) -> str | None:
    """The token `sealed` holds, or None when no key of the settings opens it."""
    try:
        return _keys().decrypt(sealed.encode()).decode()
    except InvalidToken:
        return None


def reseal(sealed: str) -> str | None:
    """`sealed` sealed again under the first key, or None when no key opens it."""
    try:
        return _keys().rotate(sealed.encode()).decode()
    except InvalidToken:
        return None
