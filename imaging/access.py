"""What a requester may see: one `StudyScope`, whoever asks; and what an `Authorization` header presents.

portal.access turns every kind of requester (patient, share, staff, a
hospital's token, a share's DICOMweb credentials) into a scope. Lists use
`scope.studies()`; the image hot path uses `renderable_instance`, one plain
SQL query with the same condition.
"""

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest

from imaging.models import DOCUMENT_MODALITIES, Hospital, Instance, InstanceQuerySet, Series, Study, StudyQuerySet


@dataclass(frozen=True)
class StudyScope:
    """The studies a requester may see: the union of the sets named, or `everything`.

    `reports` is False for a share whose patient kept the report back: the
    study's report instances (and series holding nothing else) are then not
    there. `store_into` is the hospital a STOW-RS request stores for, set only
    for a hospital's token.
    """

    everything: bool = False
    hospital_ids: tuple[int, ...] = ()
    patient_record_ids: tuple[int, ...] = ()
    study_ids: tuple[int, ...] = ()
    reports: bool = True
    store_into: Hospital | None = field(default=None, compare=False)

    def only_records(self, record_ids: tuple[int, ...]) -> "StudyScope":
        """This scope narrowed to some of its patient records (one person of a patient's family):
        never wider, whatever ids are asked for."""
        kept = tuple(r for r in record_ids if r in self.patient_record_ids)
        return StudyScope(patient_record_ids=kept, reports=self.reports)

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
        found = Series.objects.filter(study__in=self.studies())
        return found if self.reports else found.filter(Exists(self.instances().filter(series=OuterRef("pk"))))

    def instances(self) -> InstanceQuerySet:
        found = Instance.objects.filter(series__study__in=self.studies())
        return found if self.reports else found.filter(report__isnull=True)

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


@dataclass(frozen=True)
class Credentials:
    """What an `Authorization` header presents: a bearer token (RFC 6750), or Basic's pair (RFC 7617).

    `code` is Basic's password (a share's access code), None for a bearer token.
    """

    token: str
    code: str | None = None

    @property
    def bearer(self) -> bool:
        return self.code is None


def credentials(request: HttpRequest) -> Credentials | None:
    """The one reader of `Authorization`: None without the header, or with one that is neither
    Bearer nor readable Basic, or that presents no token."""
    scheme, _space, value = request.headers.get("Authorization", "").partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return Credentials(value) if value else None
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    token, separator, code = decoded.partition(":")
    return Credentials(token, code) if separator and token else None


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
SELECT st.id, st.study_date, st.description, st.modalities, st.body_parts, st.number_of_images, st.has_report,
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
    "number_of_images",
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
