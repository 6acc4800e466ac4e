"""For instances indexed before the index kept it: whether their pixel spacing is the patient's or the detector's."""

from typing import Any

import pydicom
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandParser
from pydicom.errors import InvalidDicomError

from imaging.dicom import pixel_spacing
from imaging.models import Instance, PixelSpacingKind

TAGS = ["PixelSpacing", "ImagerPixelSpacing", "SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"]


class Command(BaseCommand):
    help = (
        "Read Pixel Spacing and Imager Pixel Spacing from the stored file of each instance whose spacing's kind "
        "is not known (the viewer's ruler shows mm only for Pixel Spacing). Safe to run again, and while images "
        "arrive."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=500, help="instances read per query of the index")

    def handle(self, *args: Any, **options: Any) -> None:
        """Instance by instance, in pk order: its header, then a conditional update (nothing else writes the
        kind of an indexed instance, but a second run may be at it)."""
        after, looked, filled = 0, 0, 0
        while batch := self.unread_after(after, options["batch"]):
            for pk, key in batch:
                looked += 1
                filled += self.fill(pk, key)
            after = batch[-1][0]
        self.stdout.write(f"{looked} instances whose pixel spacing was not read; {filled} read from files")

    @staticmethod
    def unread_after(after: int, count: int) -> list[tuple[int, str]]:
        unread = Instance.objects.filter(pk__gt=after, pixel_spacing_kind=PixelSpacingKind.UNREAD)
        return list(unread.order_by("pk").values_list("pk", "storage_key")[:count])

    @staticmethod
    def fill(pk: int, key: str) -> int:
        """0 when the file cannot be read: the instance stays unread, and its ruler in pixels."""
        try:
            with default_storage.open(key, "rb") as handle:
                header = pydicom.dcmread(handle, stop_before_pixels=True, specific_tags=TAGS)
        except (OSError, InvalidDicomError):
            return 0
        unread = Instance.objects.filter(pk=pk, pixel_spacing_kind=PixelSpacingKind.UNREAD)
        return unread.update(**pixel_spacing(header))
