"""Fill in the Performed Procedure Step Start Date and Time of series indexed before the index kept them."""

from typing import Any

import pydicom
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandParser

from imaging.dicom import performed_step
from imaging.models import Instance, Series

TAGS = ["PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime"]


class Command(BaseCommand):
    help = (
        "Read the Performed Procedure Step Start Date and Time (QIDO-RS matches them) of each series that has "
        "neither from one of its stored files. Safe to run again, and while images arrive."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=500, help="series read per query of the index")

    def handle(self, *args: Any, **options: Any) -> None:
        """Series by series, in pk order: the first instance's header, then a conditional update (ingest
        may have filled the series meanwhile, and what it wrote stays)."""
        after, looked, filled = 0, 0, 0
        while batch := self.unfilled_after(after, options["batch"]):
            for series_id in batch:
                looked += 1
                filled += self.fill(series_id)
            after = batch[-1]
        self.stdout.write(f"{looked} series without a performed procedure step start; {filled} filled from files")

    @staticmethod
    def unfilled_after(after: int, count: int) -> list[int]:
        unfilled = Series.objects.filter(pk__gt=after, performed_date__isnull=True, performed_time__isnull=True)
        return list(unfilled.order_by("pk").values_list("pk", flat=True)[:count])

    @staticmethod
    def fill(series_id: int) -> int:
        key = Instance.objects.filter(series_id=series_id).values_list("storage_key", flat=True).first()
        if key is None:
            return 0
        with default_storage.open(key, "rb") as handle:
            header = pydicom.dcmread(handle, stop_before_pixels=True, specific_tags=TAGS)
        found = {name: value for name, value in performed_step(header).items() if value is not None}
        if not found:
            return 0
        unfilled = Series.objects.filter(pk=series_id, performed_date__isnull=True, performed_time__isnull=True)
        return unfilled.update(**found)
