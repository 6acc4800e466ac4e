"""QIDO-RS, the Search transaction (PS3.18 10.6), over the regional index.

A search names a resource (PS3.18 Table 10.6.1-1: all studies, a study's
series, ...) and query parameters (PS3.18 8.3.4): attributes, by keyword or by
tag, matched as C-FIND matches them (PS3.4 C.2.2.2), `includefield`,
`limit`/`offset` and `fuzzymatching`.

`ATTRIBUTES` is every attribute the index holds: its IE level, its column, and
how a value of it is matched. An attribute the index does not hold, or that a
resource does not match, and an unknown parameter are ignored and named in a
`Warning: 299` (PS3.18 8.3: "the origin server shall ignore any unsupported
Query Parameters"); a value the matching cannot take is an `InvalidQuery` (400).

The caller scopes the search (the asker's `imaging.access.StudyScope`); this
module only narrows what it is given.
"""

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from functools import cached_property, reduce
from operator import or_
from typing import Any

from django.db.models import Exists, F, Model, OuterRef, Q, QuerySet
from django.http import QueryDict
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword

from imaging.dicom import is_valid_uid
from imaging.dicomweb.dicom_json import element
from imaging.dicomweb.matching import has_wildcards, matches_wildcard, matches_wildcard_exactly
from imaging.models import Instance, PatientRecord, Series, Study

__all__ = [
    "ALL_INSTANCES",
    "ALL_SERIES",
    "ALL_STUDIES",
    "ATTRIBUTES",
    "MAX_LIMIT",
    "SERIES_INSTANCES",
    "STUDY_INSTANCES",
    "STUDY_SERIES",
    "Attribute",
    "InvalidQuery",
    "Level",
    "Matching",
    "Resource",
    "SearchResult",
    "search",
    "warning_header",
]

MAX_LIMIT = 1000
AVAILABLE = "ONLINE"  # Instance Availability (PS3.4 C.4.1.1.3.2): every indexed instance is in storage


class InvalidQuery(ValueError):
    """A supported query parameter with a value it cannot take: 400 (PS3.18 8.3)."""


class Level(IntEnum):
    """The IE levels of the Study Root model (PS3.4 C.6.2), with the patient's attributes apart."""

    PATIENT = 0
    STUDY = 1
    SERIES = 2
    INSTANCE = 3


# The foreign key from a level's model to the one above it.
PARENT = {Level.STUDY: "patient", Level.SERIES: "study", Level.INSTANCE: "series"}


class Matching(Enum):
    """How a key's value is matched (PS3.4 C.2.2.2); an empty value is Universal Matching (C.2.2.2.3)."""

    UIDS = "a UID or a list of UIDs (C.2.2.2.1, C.2.2.2.2)"
    TEXT = "a single value or wild cards, case-sensitive (C.2.2.2.1, C.2.2.2.4)"
    NAME = "a single value or wild cards, case-insensitive (C.2.2.2.1.1)"
    DATE = "a date or a range of dates (C.2.2.2.5.1)"
    TIME = "a time or a range of times (C.2.2.2.5.2)"
    NUMBER = "a single value (C.2.2.2.1)"
    MODALITIES = "any of the study's modalities (C.2.2.3)"
    NONE = "returned, never matched"


@dataclass(frozen=True)
class Attribute:
    """An attribute the index holds: its IE level, the column (or property) on that level's model, its matching."""

    keyword: str
    level: Level
    field: str
    matching: Matching = Matching.NONE

    @cached_property
    def tag(self) -> str:
        return f"{tag_for_keyword(self.keyword):08X}"

    @cached_property
    def vr(self) -> str:
        return str(dictionary_VR(self.keyword))


ATTRIBUTES = {
    attribute.keyword: attribute
    for attribute in (
        # PS3.18 Table 10.6.1-5's required matching keys, and what the index holds besides.
        Attribute("PatientName", Level.PATIENT, "name", Matching.NAME),
        Attribute("PatientID", Level.PATIENT, "patient_id", Matching.TEXT),
        Attribute("IssuerOfPatientID", Level.PATIENT, "issuer_of_patient_id", Matching.TEXT),
        Attribute("PatientBirthDate", Level.PATIENT, "birth_date", Matching.DATE),
        Attribute("PatientSex", Level.PATIENT, "sex", Matching.TEXT),
        Attribute("StudyInstanceUID", Level.STUDY, "study_uid", Matching.UIDS),
        Attribute("StudyDate", Level.STUDY, "study_date", Matching.DATE),
        Attribute("StudyTime", Level.STUDY, "study_time", Matching.TIME),
        Attribute("AccessionNumber", Level.STUDY, "accession_number", Matching.TEXT),
        Attribute("StudyID", Level.STUDY, "study_id", Matching.TEXT),
        Attribute("ReferringPhysicianName", Level.STUDY, "referring_physician", Matching.NAME),
        Attribute("StudyDescription", Level.STUDY, "description", Matching.TEXT),
        Attribute("ModalitiesInStudy", Level.STUDY, "modality_list", Matching.MODALITIES),
        Attribute("NumberOfStudyRelatedSeries", Level.STUDY, "number_of_series"),
        Attribute("NumberOfStudyRelatedInstances", Level.STUDY, "number_of_instances"),
        Attribute("InstanceAvailability", Level.STUDY, ""),
        Attribute("RetrieveURL", Level.STUDY, ""),
        Attribute("SeriesInstanceUID", Level.SERIES, "series_uid", Matching.UIDS),
        Attribute("Modality", Level.SERIES, "modality", Matching.TEXT),
        Attribute("SeriesNumber", Level.SERIES, "series_number", Matching.NUMBER),
        Attribute("SeriesDescription", Level.SERIES, "description", Matching.TEXT),
        Attribute("BodyPartExamined", Level.SERIES, "body_part", Matching.TEXT),
        Attribute("PerformedProcedureStepStartDate", Level.SERIES, "performed_date", Matching.DATE),
        Attribute("PerformedProcedureStepStartTime", Level.SERIES, "performed_time", Matching.TIME),
        Attribute("NumberOfSeriesRelatedInstances", Level.SERIES, "number_of_instances"),
        Attribute("SOPClassUID", Level.INSTANCE, "sop_class_uid", Matching.UIDS),
        Attribute("SOPInstanceUID", Level.INSTANCE, "sop_uid", Matching.UIDS),
        Attribute("InstanceNumber", Level.INSTANCE, "instance_number", Matching.NUMBER),
        Attribute("ContentDate", Level.INSTANCE, "content_date", Matching.DATE),
        Attribute("ContentTime", Level.INSTANCE, "content_time", Matching.TIME),
        Attribute("Rows", Level.INSTANCE, "rows", Matching.NUMBER),
        Attribute("Columns", Level.INSTANCE, "columns", Matching.NUMBER),
        Attribute("BitsAllocated", Level.INSTANCE, "bits_allocated", Matching.NUMBER),
        Attribute("NumberOfFrames", Level.INSTANCE, ""),
        Attribute("AvailableTransferSyntaxUID", Level.INSTANCE, "transfer_syntax_uid"),
    )
}

# Date and time pairs matched as one DT range when both give the same form of range (C.2.2.2.5.4),
# as PS3.18 8.3.4.1.1 requires of every search ("Combined date-time matching shall be performed").
DATE_TIME_PAIRS = (
    ("StudyDate", "StudyTime"),
    ("PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime"),
    ("ContentDate", "ContentTime"),
)

# What every answer carries (PS3.18 Tables 10.6.3-3, -4 and -5), and a few more the index keeps.
STUDY_RETURNS = (
    "StudyDate", "StudyTime", "AccessionNumber", "InstanceAvailability", "ModalitiesInStudy",
    "ReferringPhysicianName", "StudyDescription", "RetrieveURL", "PatientName", "PatientID", "IssuerOfPatientID",
    "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyID", "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
)  # fmt: skip
SERIES_RETURNS = (
    "Modality", "SeriesDescription", "RetrieveURL", "BodyPartExamined", "StudyInstanceUID", "SeriesInstanceUID",
    "SeriesNumber", "NumberOfSeriesRelatedInstances", "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
)  # fmt: skip
INSTANCE_RETURNS = (
    "SOPClassUID", "SOPInstanceUID", "InstanceAvailability", "RetrieveURL", "StudyInstanceUID", "SeriesInstanceUID",
    "InstanceNumber", "Rows", "Columns", "BitsAllocated", "NumberOfFrames",
)  # fmt: skip
# Returned by default only when known (the tables' Type C "shall be present if known", and our additions).
IF_KNOWN = frozenset(
    {
        "SeriesDescription", "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime", "Rows",
        "Columns", "BitsAllocated", "NumberOfFrames", "StudyDescription", "IssuerOfPatientID", "BodyPartExamined",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Resource:
    """A Search target (PS3.18 Table 10.6.1-1): the level it answers, the IE levels whose attributes it
    matches (10.6.1.2.1) and what each answer carries by default (10.6.3.3)."""

    name: str
    level: Level
    matches: frozenset[Level]
    returns: tuple[str, ...]


def _levels(*levels: Level) -> frozenset[Level]:
    return frozenset(levels)


ALL_STUDIES = Resource("all studies", Level.STUDY, _levels(Level.PATIENT, Level.STUDY), STUDY_RETURNS)
STUDY_SERIES = Resource("a study's series", Level.SERIES, _levels(Level.PATIENT, Level.SERIES), SERIES_RETURNS)
ALL_SERIES = Resource(
    "all series", Level.SERIES, _levels(Level.PATIENT, Level.STUDY, Level.SERIES), STUDY_RETURNS + SERIES_RETURNS
)
STUDY_INSTANCES = Resource(
    "a study's instances", Level.INSTANCE, _levels(Level.PATIENT, Level.SERIES, Level.INSTANCE),
    SERIES_RETURNS + INSTANCE_RETURNS,
)  # fmt: skip
SERIES_INSTANCES = Resource(
    "a series' instances", Level.INSTANCE, _levels(Level.PATIENT, Level.INSTANCE), INSTANCE_RETURNS
)
ALL_INSTANCES = Resource(
    "all instances", Level.INSTANCE, _levels(*Level), STUDY_RETURNS + SERIES_RETURNS + INSTANCE_RETURNS
)

# How each level's matches are listed: stable, so that paging is (PS3.18 8.3.4.4.1).
ORDER: dict[Level, tuple[Any, ...]] = {
    Level.STUDY: (F("study_date").desc(nulls_last=True), F("study_time").desc(nulls_last=True), "-pk"),
    Level.SERIES: ("study_id", F("series_number").asc(nulls_last=True), "pk"),
    Level.INSTANCE: (
        "series__study_id",
        F("series__series_number").asc(nulls_last=True),
        "series_id",
        F("slice_position").asc(nulls_last=True),
        F("instance_number").asc(nulls_last=True),
        "sop_uid",
    ),
}
RELATED = {Level.STUDY: "patient", Level.SERIES: "study__patient", Level.INSTANCE: "series__study__patient"}

FUZZY_WARNING = "The fuzzymatching parameter is not supported. Only literal matching has been performed."
MORE_WARNING = "There are {remaining} additional results that can be requested"
PAGING = ("limit", "offset")
# Characters of a parameter name that a Warning may repeat: it quotes names the asker sent.
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")
_TAG = re.compile(r"[0-9A-Fa-f]{8}")
_DATE = re.compile(r"[0-9]{8}")
_TIME = re.compile(r"([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})(?:\.([0-9]{1,6}))?)?)?")
_NUMBER = re.compile(r"[+-]?[0-9]{1,12}")
_LIST = re.compile(r"[,\\]")


# ---------------------------------------------------------------- the query


@dataclass(frozen=True)
class Key:
    """A matching key: an attribute and the value it is matched against (never empty)."""

    attribute: Attribute
    value: str


@dataclass
class Query:
    keys: list[Key] = field(default_factory=list)
    included: list[Attribute] = field(default_factory=list)
    include_all: bool = False
    limit: int = MAX_LIMIT
    offset: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass
class Ignored:
    """What a query named and the search left aside, by reason, for the Warning header."""

    unknown: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    elsewhere: list[str] = field(default_factory=list)
    not_held: list[str] = field(default_factory=list)

    def warnings(self, resource: Resource) -> list[str]:
        reasons = [
            (self.unknown, "These query parameters are not supported and were ignored"),
            (self.unmatched, "The index does not match on these attributes; they were ignored"),
            (self.elsewhere, f"A search of {resource.name} does not match these attributes (PS3.18 10.6.1.2.1); "
             "they were ignored"),
            (self.not_held, "The index does not hold these attributes; they are not returned"),
        ]  # fmt: skip
        return [f"{reason}: {_names(names)}" for names, reason in reasons if names]


def _names(names: list[str]) -> str:
    shown = [_SAFE_NAME.sub("?", name[:64]) for name in names[:20]]
    return ", ".join(shown) + (f" and {len(names) - 20} more" if len(names) > 20 else "")


def parse_query(params: QueryDict, resource: Resource) -> Query:
    """The keys, includes, paging and warnings of a search's query parameters (PS3.18 8.3.4)."""
    query, ignored = Query(), Ignored()
    for name in params:
        if name in PAGING:
            continue
        if name == "includefield":
            _read_includes(params.getlist(name), query, ignored)
        elif name == "fuzzymatching":
            _read_fuzzy(params.getlist(name), query)
        else:
            _read_key(name, params.getlist(name), resource, query, ignored)
    query.limit = min(_unsigned(params, "limit", MAX_LIMIT), MAX_LIMIT)
    query.offset = _unsigned(params, "offset", 0)
    query.warnings.extend(ignored.warnings(resource))
    return query


def attribute_named(name: str) -> str | None:
    """The keyword of the attribute a parameter names by keyword or by tag (PS3.18 8.3.4.1); None if neither.

    A tag outside the dictionary (a private one) is named by itself: an attribute, just not one we hold.
    """
    if _TAG.fullmatch(name):
        return keyword_for_tag(int(name, 16)) or name.upper()
    return name if tag_for_keyword(name) is not None else None


def _read_key(name: str, values: list[str], resource: Resource, query: Query, ignored: Ignored) -> None:
    """A matching key; an empty value asks for the attribute back (Universal Matching, C.2.2.2.3).

    A dotted name is an attribute in a sequence's items (Sequence Matching, C.2.2.2.6), which the index
    does not hold.
    """
    keyword = attribute_named(name.split(".")[0])
    attribute = ATTRIBUTES.get(keyword) if keyword and "." not in name else None
    if attribute is None:
        (ignored.unknown if keyword is None else ignored.unmatched).append(name)
        return
    value = _key_value(name, values, attribute)
    if not value:
        query.included.append(attribute)
    elif attribute.matching is Matching.NONE:
        ignored.unmatched.append(name)
    elif attribute.level not in resource.matches:
        ignored.elsewhere.append(name)
    else:
        query.keys.append(Key(attribute, value))


def _key_value(name: str, values: list[str], attribute: Attribute) -> str:
    """A key's value: a UID attribute's values as one list (PS3.18 8.3.4.1 item 3), any other's only value."""
    values = [value.strip() for value in values]
    if attribute.matching is Matching.UIDS:
        return ",".join(value for value in values if value)
    if len(values) > 1:
        raise InvalidQuery(f"{name} is given {len(values)} times; only UID attributes take a list")
    return values[0]


def _read_includes(values: list[str], query: Query, ignored: Ignored) -> None:
    """`includefield`: attributes, repeated or comma-separated, or "all" (PS3.18 8.3.4.3)."""
    for item in (part.strip() for value in values for part in value.split(",")):
        if item == "all":
            query.include_all = True
        elif item:
            keyword = attribute_named(item) if "." not in item else item
            if keyword is None:
                raise InvalidQuery(f"includefield: {item!r} is neither an attribute's keyword nor its tag")
            attribute = ATTRIBUTES.get(keyword)
            if attribute is None:
                ignored.not_held.append(item)
            else:
                query.included.append(attribute)


def _read_fuzzy(values: list[str], query: Query) -> None:
    """`fuzzymatching` (PS3.18 8.3.4.2): accepted; when true, a warning that matching stayed literal."""
    if any(value.lower() not in ("true", "false") for value in values):
        raise InvalidQuery("fuzzymatching is true or false")
    if any(value.lower() == "true" for value in values):
        query.warnings.append(FUZZY_WARNING)


def _unsigned(params: QueryDict, name: str, default: int) -> int:
    """`limit` or `offset`: an unsigned integer (PS3.18 8.3.4.4)."""
    text = (params.get(name) or "").strip()
    if not text:
        return default
    if not text.isdigit() or not text.isascii():
        raise InvalidQuery(f"{name} must be an unsigned integer")
    return int(text)


# ---------------------------------------------------------------- matching


Condition = Q | Exists


@dataclass(frozen=True)
class Span:
    """A date or time, or a range of them (C.2.2.2.5); `start` or `end` is None where a range is open."""

    start: Any
    end: Any
    is_range: bool

    def same_form(self, other: "Span") -> bool:
        """Both ranges of one form: "a-b", "-b" or "a-" (C.2.2.2.5.4)."""
        shape = (self.is_range, self.start is None, self.end is None)
        return shape == (other.is_range, other.start is None, other.end is None)


def conditions(keys: Iterable[Key], target: Level) -> list[Condition]:
    """A filter for each key, date and time pairs of the same form of range as one (C.2.2.2.5.4)."""
    keys = list(keys)
    by_keyword = {key.attribute.keyword: key for key in keys}
    found, paired = [], set()
    for date_keyword, time_keyword in DATE_TIME_PAIRS:
        date_key, time_key = by_keyword.get(date_keyword), by_keyword.get(time_keyword)
        if date_key is None or time_key is None:
            continue
        dates, times = _span(date_key, _date), _span(time_key, _time)
        if dates.is_range and dates.same_form(times):
            found.append(_date_time_range(date_key.attribute, time_key.attribute, target, dates, times))
            paired |= {date_keyword, time_keyword}
    return found + [condition(key, target) for key in keys if key.attribute.keyword not in paired]


def condition(key: Key, target: Level) -> Condition:
    """The filter of one key on the `target` level's model."""
    return MATCHERS[key.attribute.matching](_prefix(key.attribute.level, target), key)


def _prefix(level: Level, target: Level) -> str:
    """The path from the target level's model to `level`'s: `series__study__` from an instance to its study."""
    return "".join(f"{PARENT[Level(step)]}__" for step in range(target, level, -1))


def _uids(prefix: str, key: Key) -> Condition:
    """Single Value or List of UID Matching (C.2.2.2.1, C.2.2.2.2): backslash- or comma-separated UIDs."""
    uids = [uid.strip() for uid in _LIST.split(key.value) if uid.strip()]
    if not uids or not all(is_valid_uid(uid) for uid in uids):
        raise InvalidQuery(f"{key.attribute.keyword} holds a value that is not a valid UID")
    return Q(**{f"{prefix}{key.attribute.field}__in": uids})


def _text(prefix: str, key: Key) -> Condition:
    """Single Value Matching, case and all (C.2.2.2.1), or Wild Card Matching (C.2.2.2.4); "*" matches all."""
    return _text_match(prefix + key.attribute.field, key.value)


def _text_match(path: str, value: str) -> Q:
    if value == "*":
        return Q()
    return Q(matches_wildcard_exactly(path, value)) if has_wildcards(value) else Q(**{path: value})


def _name(prefix: str, key: Key) -> Condition:
    """A person name, single value or wild cards, insensitive to case (C.2.2.2.1.1, C.2.2.2.4)."""
    return Q(matches_wildcard(prefix + key.attribute.field, key.value))


def _number(prefix: str, key: Key) -> Condition:
    """Single Value Matching of an integer (IS, US): by its value, so "07" matches 7."""
    if not _NUMBER.fullmatch(key.value):
        raise InvalidQuery(f"{key.attribute.keyword}: {key.value!r} is not an integer (no wild cards or ranges)")
    return Q(**{prefix + key.attribute.field: int(key.value)})


def _dates(prefix: str, key: Key) -> Condition:
    return _span_condition(prefix + key.attribute.field, _span(key, _date))


def _times(prefix: str, key: Key) -> Condition:
    return _span_condition(prefix + key.attribute.field, _span(key, _time))


def _modalities(prefix: str, key: Key) -> Condition:
    """Modalities in Study: a study matches when one of its series' Modality matches (C.2.2.3).

    A list (`CT\\MR` or `CT,MR`) matches a study with any of them, as IHE RAD-14 asks of C-FIND.
    """
    values = [value.strip() for value in _LIST.split(key.value) if value.strip()]
    if not values:
        return Q()
    modality = reduce(or_, (_text_match("modality", value) for value in values))
    return Exists(Series.objects.filter(modality, study=OuterRef(f"{prefix}pk")))


MATCHERS: dict[Matching, Callable[[str, Key], Condition]] = {
    Matching.UIDS: _uids,
    Matching.TEXT: _text,
    Matching.NAME: _name,
    Matching.DATE: _dates,
    Matching.TIME: _times,
    Matching.NUMBER: _number,
    Matching.MODALITIES: _modalities,
}


def _span(key: Key, parse: Callable[[str, str], Any]) -> Span:
    """A single value, or a range "a-b", "-b" or "a-" (C.2.2.2.5.1, C.2.2.2.5.2)."""
    name = key.attribute.keyword
    start, dash, end = key.value.partition("-")
    if not dash:
        value = parse(name, start)
        return Span(value, value, is_range=False)
    if not start.strip() and not end.strip():
        raise InvalidQuery(f"{name}: a range names at least one end")
    return Span(parse(name, start) if start.strip() else None, parse(name, end) if end.strip() else None, is_range=True)


def _date(name: str, text: str) -> dt.date:
    """A DA value, YYYYMMDD (or the older YYYY.MM.DD, PS3.5 Table 6.2-1)."""
    digits = text.strip().replace(".", "")
    try:
        if not _DATE.fullmatch(digits):
            raise ValueError(digits)
        return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        raise InvalidQuery(f"{name}: {text!r} is not a date (YYYYMMDD) or a range of dates") from None


def _time(name: str, text: str) -> dt.time:
    """A TM value by its meaning (C.2.2.2.1.3): HH, HHMM, HHMMSS or HHMMSS.FFFFFF; "2230" is 22:30:00."""
    found = _TIME.fullmatch(text.strip().replace(":", ""))
    try:
        if found is None:
            raise ValueError(text)
        hours, minutes, seconds, fraction = found.groups()
        micro = int((fraction or "").ljust(6, "0"))
        return dt.time(int(hours), int(minutes or 0), min(int(seconds or 0), 59), micro)
    except ValueError:
        raise InvalidQuery(f"{name}: {text!r} is not a time (HHMMSS.FFFFFF) or a range of times") from None


def _span_condition(path: str, span: Span) -> Q:
    if not span.is_range:
        return Q(**{path: span.start})
    condition = Q()
    if span.start is not None:
        condition &= Q(**{f"{path}__gte": span.start})
    if span.end is not None:
        condition &= Q(**{f"{path}__lte": span.end})
    return condition


def _date_time_range(date: Attribute, time: Attribute, target: Level, dates: Span, times: Span) -> Q:
    """Combined Date Time Matching (C.2.2.2.5.4): "20060705-20060707" with "1000-1800" is one period,
    10:00 on the 5th to 18:00 on the 7th, not 10:00-18:00 on each day."""
    day, hour = _prefix(date.level, target) + date.field, _prefix(time.level, target) + time.field
    condition = Q()
    if dates.start is not None:
        condition &= Q(**{f"{day}__gt": dates.start}) | Q(**{day: dates.start, f"{hour}__gte": times.start})
    if dates.end is not None:
        condition &= Q(**{f"{day}__lt": dates.end}) | Q(**{day: dates.end, f"{hour}__lte": times.end})
    return condition


# ---------------------------------------------------------------- the answer


@dataclass(frozen=True)
class Found:
    """A match and the entities above it."""

    patient: PatientRecord
    study: Study
    series: Series | None = None
    instance: Instance | None = None

    @classmethod
    def of(cls, entity: Model) -> "Found":
        if isinstance(entity, Instance):
            return cls(entity.series.study.patient, entity.series.study, entity.series, entity)
        if isinstance(entity, Series):
            return cls(entity.study.patient, entity.study, entity)
        assert isinstance(entity, Study)
        return cls(entity.patient, entity)

    def at(self, level: Level) -> Model | None:
        return (self.patient, self.study, self.series, self.instance)[level]

    def retrieve_path(self) -> str:
        """The path of the match's WADO-RS resource (PS3.18 10.4.1), below the service."""
        path = f"/studies/{self.study.study_uid}"
        if self.series is not None:
            path += f"/series/{self.series.series_uid}"
        if self.instance is not None:
            path += f"/instances/{self.instance.sop_uid}"
        return path


def _frames(found: Found, service: str) -> int | None:
    instance = found.instance
    return instance.number_of_frames if instance is not None and instance.has_pixels else None


COMPUTED: dict[str, Callable[[Found, str], Any]] = {
    "InstanceAvailability": lambda found, service: AVAILABLE,
    "RetrieveURL": lambda found, service: service + found.retrieve_path(),
    "NumberOfFrames": _frames,
}


def value_of(attribute: Attribute, found: Found, service: str) -> Any:
    if attribute.keyword in COMPUTED:
        return COMPUTED[attribute.keyword](found, service)
    entity = found.at(attribute.level)
    value = getattr(entity, attribute.field) if entity is not None else None
    return (value or None) if isinstance(value, list) else value


def returned(query: Query, resource: Resource) -> tuple[list[Attribute], frozenset[str]]:
    """What each answer carries, in tag order, and what was asked for by name (returned even when empty).

    The resource's defaults, then its level's (and above) keys and includes (PS3.18 10.6.3.3);
    "all" adds every attribute of the level searched, with the patient's for a study.
    """
    asked = [key.attribute for key in query.keys] + query.included
    if query.include_all:
        asked += [a for a in ATTRIBUTES.values() if a.level == resource.level or a.level == Level.PATIENT]
    asked = [a for a in asked if a.level <= resource.level]
    chosen = {keyword: ATTRIBUTES[keyword] for keyword in resource.returns} | {a.keyword: a for a in asked}
    return sorted(chosen.values(), key=lambda a: a.tag), frozenset(a.keyword for a in asked)


def answer(found: Found, attributes: list[Attribute], asked: frozenset[str], service: str) -> dict[str, Any]:
    """One match in DICOM JSON (PS3.18 F.2): the chosen attributes, those only returned if known left out if not."""
    result = {}
    for attribute in attributes:
        value = value_of(attribute, found, service)
        if value is None and attribute.keyword in IF_KNOWN and attribute.keyword not in asked:
            continue
        result[attribute.tag] = element(attribute.vr, value)
    return result


@dataclass(frozen=True)
class SearchResult:
    matches: list[dict[str, Any]]
    warnings: list[str]


def search(found: QuerySet[Any], resource: Resource, params: QueryDict, service: str) -> SearchResult:
    """The Search transaction (PS3.18 10.6) over `found`, already scoped to the asker.

    Steps: read the query (InvalidQuery for a value that cannot be matched); filter by
    every key; order and take the page; when the page is full, count what is left
    for the paging warning (8.3.4.4); write each match.
    """
    query = parse_query(params, resource)
    level = resource.level
    matched = found.filter(*conditions(query.keys, level)).select_related(RELATED[level]).order_by(*ORDER[level])
    page = list(matched[query.offset : query.offset + query.limit])
    warnings = list(query.warnings)
    if len(page) == query.limit:
        remaining = matched.count() - query.offset - len(page)
        if remaining > 0:
            warnings.append(MORE_WARNING.format(remaining=remaining))
    attributes, asked = returned(query, resource)
    return SearchResult([answer(Found.of(entity), attributes, asked, service) for entity in page], warnings)


def warning_header(service: str, warnings: list[str]) -> str:
    """The Warning header's value (PS3.18 8.3.4.2, 8.3.4.4; RFC 7234 5.5): `299 <service>: "<text>"`, comma-joined."""
    return ", ".join(f'299 {service}: "{text}"' for text in warnings)
