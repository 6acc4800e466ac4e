"""Load the demo region: hospitals, patients and realistic synthetic studies."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from imaging import demo
from imaging.ingest import IngestOutcome
from imaging.models import Instance, Study


class Command(BaseCommand):
    help = "Load demo hospitals, patients and studies (idempotent: a second run adds nothing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-samples", action="store_true", help="leave out pydicom's bundled sample files")

    def handle(self, *args: Any, **options: Any) -> None:
        counts = demo.seed(include_samples=not options["no_samples"])
        self.stdout.write(
            f"demo objects: {counts[IngestOutcome.STORED]} stored, {counts[IngestOutcome.DUPLICATE]} already present, "
            f"{counts[IngestOutcome.CONFLICT]} conflicts, {counts[IngestOutcome.REJECTED]} rejected; "
            f"index: {Study.objects.count()} studies, {Instance.objects.count()} instances"
        )
