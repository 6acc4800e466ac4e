"""What ingest answers: an `IngestResult` (stored, an identical re-send, a conflict, or rejected with
a `RejectionKind` and a reason), or `IngestUnavailable` when storage or the database cannot take
the object now and the sender should retry.
"""

from dataclasses import dataclass
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from imaging.dicom import InstanceHeader


class IngestOutcome(models.TextChoices):
    STORED = "stored", _("stored")
    DUPLICATE = "duplicate", _("already present")
    CONFLICT = "conflict", _("conflict")
    REJECTED = "rejected", _("rejected")


class RejectionKind(models.TextChoices):
    UNREADABLE = "unreadable", _("cannot be decoded")
    INVALID = "invalid", _("invalid identity")
    SOP_CLASS_MISMATCH = "sop_class_mismatch", _("dataset does not match its SOP class or instance")
    PATIENT_MISMATCH = "patient_mismatch", _("belongs to another patient")
    STUDY_MISMATCH = "study_mismatch", _("belongs to another study than the one addressed")


class IngestUnavailable(Exception):
    """Storage or database cannot take the object now; the sender should retry."""


@dataclass(frozen=True)
class IngestResult:
    outcome: IngestOutcome
    sop_uid: str = ""
    study_uid: str = ""
    series_uid: str = ""
    sop_class_uid: str = ""
    instance_id: int | None = None
    reason: str = ""
    rejection: RejectionKind | None = None

    @property
    def ok(self) -> bool:
        return self.outcome in (IngestOutcome.STORED, IngestOutcome.DUPLICATE)

    @classmethod
    def of(cls, header: InstanceHeader, outcome: IngestOutcome, **fields: Any) -> "IngestResult":
        """The result for the object `header` identifies."""
        return cls(
            outcome,
            sop_uid=header.sop_uid,
            study_uid=header.study_uid,
            series_uid=header.series_uid,
            sop_class_uid=header.sop_class_uid,
            **fields,
        )


class Rejected(Exception):
    """The object is refused: raised on the way in, answered as a REJECTED result with its kind and reason."""

    def __init__(self, kind: RejectionKind, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def held_for_another_patient(level: str, uid: str) -> Rejected:
    """A series or study the index holds for another patient record (or hospital) than the object's."""
    return Rejected(
        RejectionKind.PATIENT_MISMATCH, f"{level} {uid} is held for another patient record; the object was refused"
    )


def flush_failed(error: BaseException) -> BaseException:
    """What to raise for a flush that failed: the sender retries; anything but an OSError is a bug, raised as it is."""
    if not isinstance(error, OSError):
        return error
    failure = IngestUnavailable(f"storage cannot flush the file: {error}")
    failure.__cause__ = error
    return failure
