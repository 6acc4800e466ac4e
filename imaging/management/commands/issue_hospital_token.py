"""Issue a hospital API token for STOW-RS, QIDO-RS and the registration feed."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from imaging.models import Hospital
from imaging.tokens import issue_token


class Command(BaseCommand):
    help = "Print a new API token for a hospital. It is shown once; only its hash is kept."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("code")
        parser.add_argument("--label", default="", help="what the token is for, e.g. 'PACS STOW'")

    def handle(self, *args: Any, **options: Any) -> None:
        hospital = Hospital.objects.filter(code=options["code"]).first()
        if hospital is None:
            raise CommandError(f"unknown hospital {options['code']!r}")
        self.stdout.write(issue_token(hospital, options["label"]))
