"""Add a staff member with a password and a TOTP device."""

import getpass
from typing import Any

import qrcode
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import StaffRole
from accounts.staff import add_staff
from imaging.models import Hospital


class Command(BaseCommand):
    help = "Add a staff member (clerk of a hospital, or regional admin) and print their TOTP enrolment QR code."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", choices=[r.value for r in StaffRole], default=StaffRole.CLERK.value)
        parser.add_argument("--hospital", help="hospital code (required for a clerk)")
        parser.add_argument("--password", help="prompted for when absent")

    def handle(self, *args: Any, **options: Any) -> None:
        role = StaffRole(options["role"])
        hospital = None
        if options["hospital"]:
            hospital = Hospital.objects.filter(code=options["hospital"]).first()
            if hospital is None:
                raise CommandError(f"unknown hospital {options['hospital']!r}")
        if role == StaffRole.CLERK and hospital is None:
            raise CommandError("a clerk belongs to a hospital: give --hospital")
        password = options["password"] or getpass.getpass("Password: ")
        if len(password) < 10:
            raise CommandError("the password needs at least 10 characters")
        device = add_staff(options["username"], password, role, hospital)
        self.stdout.write(f"{options['username']}: {role.label}; scan this with an authenticator app:")
        code = qrcode.QRCode(border=1)
        code.add_data(device.config_url)
        code.print_ascii(out=self.stdout)
        self.stdout.write(device.config_url)
