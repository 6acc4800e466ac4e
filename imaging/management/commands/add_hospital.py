"""Register a hospital of the region and the AE titles it sends from."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from imaging.models import Currency, Hospital, HospitalAETitle, parse_networks


class Command(BaseCommand):
    help = "Add a hospital (or update its name) and register the AE titles it sends from."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("code", help="short code, e.g. city1")
        parser.add_argument("--name", required=True)
        parser.add_argument("--ae-title", action="append", default=[], dest="ae_titles", help="repeatable")
        parser.add_argument(
            "--network",
            action="append",
            default=[],
            dest="networks",
            help="a network the AE titles of this call send from, in CIDR notation (e.g. 10.20.0.0/16); "
            "repeatable; replaces those AE titles' allowed networks",
        )
        parser.add_argument("--film-price", help="price of one printed film, in --currency, e.g. 8.50")
        parser.add_argument(
            "--currency",
            help=f"the currency of the film price, an ISO 4217 code: {', '.join(Currency.values)} (new hospitals: CNY)",
        )

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        ae_titles = [self.checked_ae_title(value) for value in options["ae_titles"]]
        networks = self.checked_networks(options["networks"])
        if networks and not ae_titles:
            raise CommandError("--network applies to the AE titles given with --ae-title in the same call")
        hospital, created = Hospital.objects.update_or_create(code=options["code"], defaults={"name": options["name"]})
        if options["film_price"]:
            hospital.film_price = options["film_price"]
        if options["currency"]:
            hospital.currency = self.checked_currency(options["currency"])
        hospital.save()
        for ae_title in ae_titles:
            owner = HospitalAETitle.objects.filter(ae_title=ae_title).select_related("hospital").first()
            if owner and owner.hospital_id != hospital.pk:
                raise CommandError(f"AE title {ae_title} already belongs to {owner.hospital.code}")
            row, _ = HospitalAETitle.objects.get_or_create(ae_title=ae_title, defaults={"hospital": hospital})
            if networks:
                row.allowed_networks = networks
                row.save(update_fields=["allowed_networks"])
        self.stdout.write(
            f"{'added' if created else 'updated'} {hospital.code} ({hospital.name}); AE titles: {self.listed(hospital)}"
        )

    def listed(self, hospital: Hospital) -> str:
        """Each AE title with its networks, so the operator sees which still has none."""
        rows = [
            f"{row.ae_title} ({', '.join(row.allowed_networks.split()) or 'no networks'})"
            for row in hospital.ae_titles.all()
        ]
        return "; ".join(rows) or "none"

    def checked_networks(self, values: list[str]) -> str:
        """The networks one per line, in canonical form."""
        try:
            return "\n".join(str(network) for network in parse_networks(",".join(values)))
        except ValueError as error:
            raise CommandError(f"{error} is not an IP network (write e.g. 10.20.0.0/16 or 10.20.1.5)") from None

    def checked_currency(self, value: str) -> str:
        code = value.strip().upper()
        if code not in Currency.values:
            raise CommandError(f"{value!r} is not a currency of the region (use one of {', '.join(Currency.values)})")
        return code

    def checked_ae_title(self, value: str) -> str:
        value = value.strip()
        if not value or len(value) > 16 or not value.isascii() or "\\" in value or not value.isprintable():
            raise CommandError(f"{value!r} is not a valid AE title (1-16 printable ASCII characters, no backslash)")
        return value
