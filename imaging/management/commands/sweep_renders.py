"""Queue the renders of images whose render message was lost (a broker down, a process killed)."""

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from imaging.rendering import sweep_missing_renders


class Command(BaseCommand):
    help = (
        "Queue the renders of images received in the last --hours whose preview was never started "
        "(made here when no broker is configured). Safe to run at any time, as often as you like."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--hours", type=float, default=24.0, help="how far back to look (default 24)")
        parser.add_argument(
            "--settle-seconds",
            type=float,
            default=60.0,
            help="leave images younger than this: their renders may be on their way (default 60)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        since = timezone.now() - dt.timedelta(hours=options["hours"])
        queued = sweep_missing_renders(since, dt.timedelta(seconds=options["settle_seconds"]))
        self.stdout.write(f"queued the renders of {queued} images never rendered since {since:%Y-%m-%d %H:%M} UTC")
