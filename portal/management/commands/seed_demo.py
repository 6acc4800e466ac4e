"""Load the demo region: hospitals, patients, realistic synthetic studies, and demo staff."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from accounts.models import StaffRole
from accounts.staff import add_staff, demo_totp_key
from imaging import demo
from imaging.ingest import IngestOutcome
from imaging.models import Hospital, Instance, Study

DEMO_STAFF = (("clerk1", StaffRole.CLERK, "city1"), ("bureau", StaffRole.REGIONAL_ADMIN, None))
DEMO_PASSWORD = "demo-password-2026"  # noqa: S105 - demo accounts exist only with DEBUG on


class Command(BaseCommand):
    help = "Load demo hospitals, patients, studies and staff (idempotent: a second run adds nothing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-samples", action="store_true", help="leave out pydicom's bundled sample files")

    def handle(self, *args: Any, **options: Any) -> None:
        counts = demo.seed(include_samples=not options["no_samples"])
        self.stdout.write(
            f"demo objects: {counts[IngestOutcome.STORED]} stored, {counts[IngestOutcome.DUPLICATE]} already present, "
            f"{counts[IngestOutcome.CONFLICT]} conflicts, {counts[IngestOutcome.REJECTED]} rejected; "
            f"index: {Study.objects.count()} studies, {Instance.objects.count()} instances"
        )
        self.stdout.write(
            "demo patients sign in with 13800138000, 13900139000 or 13700137000; "
            "with SMS_BACKEND=console the code is printed in the server's console"
        )
        if settings.DEBUG:
            self.seed_staff()

    def seed_staff(self) -> None:
        for username, role, code in DEMO_STAFF:
            hospital = Hospital.objects.get(code=code) if code else None
            device = add_staff(username, DEMO_PASSWORD, role, hospital, totp_key=demo_totp_key(username))
            self.stdout.write(f"demo staff {username} / {DEMO_PASSWORD} ({role.label}); TOTP: {device.config_url}")
