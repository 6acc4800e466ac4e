"""The one way a DICOM object enters the regional index: `ingest_instance`.

File import, C-STORE and STOW-RS all call it; what it answers is an
`IngestResult` (stored, duplicate, conflict, or rejected with a
`RejectionKind` and a reason), and `IngestUnavailable` when storage or the
database cannot take the object now. `instance_stored` and `series_created`
announce what was indexed, after commit.

- `funnel`: `ingest_instance`, the steps in order;
- `parse`: the bytes read, the identity checked, the Part 10 bytes to store;
- `received`: what travels from step to step (`Received`, one frozen
  dataclass), and what the index made of it (`Indexed`);
- `index`: the seam in front of the index's two paths, and the transaction
  path; `fast_path`: PostgreSQL's one prepared statement (`prepared`);
- `outcomes`, `signals`: what ingest answers and announces.
"""

from imaging.ingest.funnel import ingest_instance
from imaging.ingest.index import unindex_instance
from imaging.ingest.outcomes import IngestOutcome, IngestResult, IngestUnavailable, RejectionKind
from imaging.ingest.received import FlushLedger
from imaging.ingest.signals import instance_stored, series_created

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
