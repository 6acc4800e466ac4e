"""An object on its way into the index (`Received`), and what the index made of it (`Indexed`).

`parse` reads the bytes; from there on each step takes the one `Received`:
the file's write (`funnel`), the index behind its seam (`index.index`, with
the PostgreSQL `fast_path`), and the comparison with a copy the index holds.
"""

from dataclasses import dataclass
from typing import Any, Protocol

from django.utils import timezone
from pydicom.dataset import Dataset

from imaging.dicom import InstanceHeader
from imaging.models import Hospital, Instance
from imaging.storage import Content, dicom_key


class FlushLedger(Protocol):
    """Told of each instance whose file is flushed, or is left to it to flush, so that its
    `UnflushedFile` row goes once the file is durable (`imaging.listener.flushing`)."""

    def flushed(self, instance_id: int) -> None: ...

    def flush_later(self, instance_id: int, key: str) -> None: ...


@dataclass(frozen=True, eq=False)
class Received:
    """One object read and hashed, with where it came from."""

    content: Content  # the Part 10 bytes to store: as sent, or with a file meta for a bare dataset
    dataset: Dataset | None  # None when the header was read from the raw bytes (`imaging.dicom.raw_header`)
    header: InstanceHeader
    sha256: str  # hex, of `content`
    hospital: Hospital
    source_name: str = ""
    ledger: FlushLedger | None = None  # the listener's: the file is flushed while its row is written

    @property
    def key(self) -> str:
        """Where the file is stored: a key that names its content (`imaging.storage.dicom_key`)."""
        return dicom_key(self.header.study_uid, self.header.series_uid, self.header.sop_uid, self.sha256)

    @property
    def size(self) -> int:
        return len(self.content)

    def instance_values(self, series_id: int) -> dict[str, Any]:
        """The `Instance` row's values, by attribute name."""
        header = self.header
        return {
            "sop_uid": header.sop_uid,
            "series_id": series_id,
            "sop_class_uid": header.sop_class_uid,
            "transfer_syntax_uid": header.transfer_syntax_uid,
            "storage_key": self.key,
            "size_bytes": self.size,
            "sha256": self.sha256,
            "received_at": timezone.now(),
            "render_error": "",
            **header.instance,
        }


@dataclass(frozen=True)
class Indexed:
    """The instance's row after the index write: the one written, or the one the index held."""

    instance_id: int
    series_id: int
    sha256: str  # what the index holds for the SOPInstanceUID
    created: bool
    marked: bool = False  # an UnflushedFile row was inserted with it
    journaled: bool = False  # ... holding the file's bytes: the file is not flushed yet
    flush_error: BaseException | None = None  # the flush run while the row was inserted failed

    @classmethod
    def existing(cls, sop_uid: str) -> "Indexed":
        """The row the index holds for `sop_uid`."""
        instance_id, series_id, sha256 = Instance.objects.values_list("pk", "series_id", "sha256").get(sop_uid=sop_uid)
        return cls(instance_id, series_id, sha256, False)
