"""What a requester may see, as one value each kind of requester's helper builds.

Staff, patients and share sessions each have their own helper (in portal) that
turns a request into a `StudyScope`. Lists use `scope.studies()`; the image hot
path uses `renderable_instance`, one plain SQL query with the same condition.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet

from imaging.models import Instance, Series, Study, StudyQuerySet


@dataclass(frozen=True)
class StudyScope:
    everything: bool = False
    hospital_ids: tuple[int, ...] = ()
    patient_record_ids: tuple[int, ...] = ()
    study_ids: tuple[int, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.everything or self.hospital_ids or self.patient_record_ids or self.study_ids)

    def condition(self) -> Q:
        if self.everything:
            return Q()
        condition = Q(pk__in=[])
        if self.hospital_ids:
            condition |= Q(hospital_id__in=self.hospital_ids)
        if self.patient_record_ids:
            condition |= Q(patient_id__in=self.patient_record_ids)
        if self.study_ids:
            condition |= Q(pk__in=self.study_ids)
        return condition

    def studies(self) -> StudyQuerySet:
        return Study.objects.none() if self.empty else Study.objects.filter(self.condition())

    def series(self) -> QuerySet[Series]:
        return Series.objects.filter(study__in=self.studies())

    def sql(self, study: str) -> tuple[str, list[Any]]:
        """The same condition on a study table aliased `study`, for plain SQL."""
        if self.everything:
            return "TRUE" if connection.vendor == "postgresql" else "1", []
        parts: list[str] = []
        params: list[Any] = []
        for column, values in (
            ("hospital_id", self.hospital_ids),
            ("patient_id", self.patient_record_ids),
            ("id", self.study_ids),
        ):
            if values:
                parts.append(f"{study}.{column} IN ({', '.join(['%s'] * len(values))})")
                params.extend(values)
        return "(" + " OR ".join(parts or ["1 = 0"]) + ")", params


RENDERABLE = """
SELECT i.id, i.sop_uid, i.series_id, i.storage_key, i.number_of_frames, i.has_pixels
FROM imaging_instance i
JOIN imaging_series se ON se.id = i.series_id
JOIN imaging_study st ON st.id = se.study_id
WHERE i.id = %s AND i.has_pixels = %s AND {condition}
"""


def scope_of_request(request: Any, attribute: str, work_out: Callable[[Any], StudyScope]) -> StudyScope:
    """A requester's scope, worked out once per request and kept on it under `attribute`.

    An image request asks for it twice (its access helper and its `ExamAccess`),
    and image requests come by the hundred.
    """
    scope: StudyScope | None = getattr(request, attribute, None)
    if scope is None:
        scope = work_out(request)
        setattr(request, attribute, scope)
    return scope


def renderable_instance(scope: StudyScope, pk: int) -> Instance | None:
    """An image the scope may see, with what serving a render needs, or None.

    Plain SQL: this runs for every image request, and compiling the ORM query
    cost more than the database took to answer it.
    """
    if scope.empty:
        return None
    condition, params = scope.sql("st")
    rows = list(Instance.objects.raw(RENDERABLE.format(condition=condition), [pk, True, *params]))
    return rows[0] if rows else None
