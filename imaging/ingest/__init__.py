"""The one way a DICOM object enters the regional index: `ingest_instance`.

File import, C-STORE and STOW-RS all call it; what it answers is an
`IngestResult` (stored, duplicate, conflict, or rejected with a
`RejectionKind` and a reason), and `IngestUnavailable` when storage or the
database cannot take the object now. `instance_stored` and `series_created`
announce what was indexed, after commit.
"""

from imaging.ingest.funnel import (
    FlushLedger,
    IngestOutcome,
    IngestResult,
    IngestUnavailable,
    RejectionKind,
    ingest_instance,
    instance_stored,
    series_created,
    unindex_instance,
)

__all__ = [
    "FlushLedger",
    "IngestOutcome",
    "IngestResult",
    "IngestUnavailable",
    "RejectionKind",
    "ingest_instance",
    "instance_stored",
    "series_created",
    "unindex_instance",
]
