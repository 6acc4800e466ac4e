"""The audit log: every access to patient data, who, what, when (UTC), from where.

- `models`: `AuditEvent`, and the coded `Actor` and `AuditAction`;
- `trail`: writing it (`record`, `record_images`), from a request.

Every app writes it; it imports none of them (only `imaging`, whose studies
and series an event names).
"""
