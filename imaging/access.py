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

from imaging.models import DOCUMENT_MODALITIES, Hospital, Instance, Series, Study, StudyQuerySet


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


STUDY_LIST = """
SELECT st.id, st.study_date, st.description, st.modalities, st.body_parts, st.number_of_instances, st.has_report,
       h.code, h.name, se.id
FROM {study} st
JOIN {hospital} h ON h.id = st.hospital_id
LEFT JOIN {series} se ON se.study_id = st.id AND se.number_of_instances > 0 AND se.modality NOT IN ({documents})
WHERE {condition}
ORDER BY st.study_date DESC NULLS LAST, st.study_time DESC NULLS LAST, st.id DESC, se.series_number, se.id
"""
# The columns of a `listed_studies` row before its last, the id of one of the study's image series (or None).
STUDY_LIST_COLUMNS = (
    "pk",
    "study_date",
    "description",
    "modalities",
    "body_parts",
    "number_of_instances",
    "has_report",
    "hospital__code",
    "hospital__name",
)


def listed_studies(scope: StudyScope) -> tuple[tuple[Any, ...], ...]:
    """The scope's studies, newest first, a row per image series (or one without a series).

    What a study list shows, in one query. Plain SQL with the scope's own
    condition, as the image hot path (`renderable_instance`): a patient has
    dozens of studies, and compiling the ORM's queries cost more than running them.
    """
    if scope.empty:
        return ()
    condition, params = scope.sql("st")
    documents = sorted(DOCUMENT_MODALITIES)
    sql = STUDY_LIST.format(
        study=Study._meta.db_table,
        hospital=Hospital._meta.db_table,
        series=Series._meta.db_table,
        condition=condition,
        documents=", ".join(["%s"] * len(documents)),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*documents, *params])
        return tuple(cursor.fetchall())
