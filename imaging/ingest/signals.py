"""What ingest announces, once the index transaction has committed."""

from django.dispatch import Signal

# Sent after the index transaction commits, with `instance_id` and `series_id`.
instance_stored = Signal()
# Sent after the transaction that created a series commits, with `patient_record_id`.
series_created = Signal()
