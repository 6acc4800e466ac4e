"""Delete prepared download zips older than a day (run it daily, e.g. from cron or a systemd timer)."""

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from portal.exams.downloads import KEEP_FOR, purge


class Command(BaseCommand):
    help = "Delete download zips (and their rows) made more than --hours ago (default 24)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--hours", type=float, default=KEEP_FOR.total_seconds() / 3600)

    def handle(self, *args: Any, **options: Any) -> None:
        count = purge(dt.timedelta(hours=options["hours"]))
        self.stdout.write(f"{count} downloads deleted")
