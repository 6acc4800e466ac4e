"""Load the demo region: hospitals, patients, realistic synthetic studies, and demo staff."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from accounts.links import link_phone, mobile_numbers_of
from accounts.models import FamilyKind, FamilyLink, FamilyStatus, LinkSource, User
from accounts.staff import DEMO_PASSWORD, DEMO_STAFF, add_staff, demo_totp_key
from imaging import demo
from imaging.ingest import IngestOutcome
from imaging.models import Hospital, Instance, PatientRecord, Study

DEMO_DAUGHTER, DEMO_FATHER = "+8613700137000", "+8613800138000"


class Command(BaseCommand):
    help = "Load demo hospitals, patients, studies and staff (idempotent: a second run adds nothing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-samples", action="store_true", help="leave out pydicom's bundled sample files")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            # Demo patients' numbers, staff and TOTP keys are published in the README.
            raise CommandError("seed_demo loads published demo identities: it runs only with DEBUG on")
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
        self.link_demo_phones()
        self.seed_family()
        self.seed_staff()

    def link_demo_phones(self) -> None:
        """The demo patients' numbers, linked as staff would at discharge: the images only suggest them."""
        demo_records = PatientRecord.objects.filter(hospital__code__in=[h.code for h in demo.HOSPITALS])
        for record in demo_records.exclude(telephone_numbers=""):
            for phone in mobile_numbers_of(record):
                link_phone(phone, record, LinkSource.COMMAND)

    def seed_family(self) -> None:
        """Li Na sees her father Zhang Wei's exams, as if he had given her his consent code."""
        daughter = User.objects.filter(phone=DEMO_DAUGHTER).first()
        if daughter is None:
            daughter = User(username=DEMO_DAUGHTER, phone=DEMO_DAUGHTER)
            daughter.set_unusable_password()
            daughter.save()
        live = [FamilyStatus.PENDING, FamilyStatus.ACTIVE]
        if not FamilyLink.objects.filter(viewer=daughter, phone=DEMO_FATHER, status__in=live).exists():
            FamilyLink.objects.create(
                viewer=daughter,
                kind=FamilyKind.ADULT,
                phone=DEMO_FATHER,
                label="爸爸",
                status=FamilyStatus.ACTIVE,
                consented_at=timezone.now(),
            )
        self.stdout.write("demo family: 13700137000 (李娜) sees her father 张伟's exams under 爸爸")

    def seed_staff(self) -> None:
        for username, role, code in DEMO_STAFF:
            hospital = Hospital.objects.get(code=code) if code else None
            device = add_staff(username, DEMO_PASSWORD, role, hospital, totp_key=demo_totp_key(username))
            self.stdout.write(f"demo staff {username} / {DEMO_PASSWORD} ({role.label}); TOTP: {device.config_url}")
