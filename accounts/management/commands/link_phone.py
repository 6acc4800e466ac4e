"""Tie a mobile number to a hospital's patient record from the command line."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.links import link_phone
from accounts.models import LinkSource
from accounts.phones import InvalidPhone, masked, parse_mobile
from imaging.models import Hospital, PatientRecord


class Command(BaseCommand):
    help = "Link a mobile number to a patient record (the record is made if the hospital has none yet)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--hospital", required=True, help="hospital code")
        parser.add_argument("--patient-id", required=True)
        parser.add_argument("--phone", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        hospital = Hospital.objects.filter(code=options["hospital"]).first()
        if hospital is None:
            raise CommandError(f"unknown hospital {options['hospital']!r}")
        try:
            phone = parse_mobile(options["phone"])
        except InvalidPhone as error:
            raise CommandError(str(error)) from None
        record, _ = PatientRecord.objects.get_or_create(hospital=hospital, patient_id=options["patient_id"])
        _link, created = link_phone(phone, record, LinkSource.COMMAND)
        self.stdout.write(
            f"{'linked' if created else 'already linked'}: {masked(phone)} → {hospital.code}:{record.patient_id}"
        )
