"""Seal the kept share tokens again under the first of SHARE_TOKEN_KEY's keys: the middle step of a key rotation."""

from typing import Any

from django.core.management.base import BaseCommand

from portal.sharing.shares import reseal_tokens


class Command(BaseCommand):
    help = (
        "Re-encrypt every kept share token with the first key of SHARE_TOKEN_KEY. Rotate a key by putting the "
        "new key first (SHARE_TOKEN_KEY=new,old), running this, then removing the old key."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        resealed, unreadable = reseal_tokens()
        self.stdout.write(f"{resealed} share tokens resealed")
        if unreadable:
            self.stderr.write(f"{unreadable} share tokens open with none of the keys: their links cannot be shown")
