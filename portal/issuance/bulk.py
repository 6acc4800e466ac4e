"""Bulk issuance from a CSV (mrn, accession, phone, choice): every row checked first, then all applied at once."""

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.phones import InvalidPhone, parse_mobile
from imaging.access import StudyScope
from imaging.models import Study
from portal.issuance.discharge import issue, tell_patient
from portal.issuance.models import FilmChoice, Issuance

BULK_COLUMNS = ("mrn", "accession", "phone", "choice")
BULK_MAX_ROWS = 2000  # a ward's discharges of a day are dozens


@dataclass
class BulkRow:
    line: int
    mrn: str
    accession: str
    phone: str
    choice: str
    study_id: int | None = None
    record_id: int | None = None
    errors: list[str] = field(default_factory=list)


@dataclass
class BulkPreview:
    rows: list[BulkRow]
    errors: list[str] = field(default_factory=list)  # about the file as a whole

    @property
    def valid(self) -> bool:
        return not self.errors and bool(self.rows) and all(not row.errors for row in self.rows)

    def as_session(self) -> list[dict[str, Any]]:
        return [{"study": r.study_id, "record": r.record_id, "phone": r.phone, "choice": r.choice} for r in self.rows]


def read_bulk_csv(data: bytes, scope: StudyScope) -> BulkPreview:
    """Every row checked against the staff member's scope; nothing is applied here."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return BulkPreview([], [_("The file is not UTF-8 text.")])
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    if tuple(header[:4]) != BULK_COLUMNS:
        return BulkPreview([], [_("The first line must be: mrn,accession,phone,choice")])
    rows: list[BulkRow] = []
    for number, record in enumerate(reader, start=2):
        if len(rows) >= BULK_MAX_ROWS:
            return BulkPreview([], [_("The file has more than %(rows)d rows: split it.") % {"rows": BULK_MAX_ROWS}])
        rows.append(_bulk_row(number, record))
    _check_rows(rows, scope)
    return BulkPreview(rows)


def _bulk_row(line: int, record: dict[str, str | None]) -> BulkRow:
    values = {k.strip().lower(): (v or "").strip() for k, v in record.items() if k}
    return BulkRow(
        line,
        values.get("mrn", ""),
        values.get("accession", ""),
        values.get("phone", ""),
        values.get("choice", "").lower(),
    )


def _check_rows(rows: list[BulkRow], scope: StudyScope) -> None:
    seen: dict[tuple[str, str], int] = {}
    studies = _studies_by_key(scope, rows)
    for row in rows:
        key = (row.mrn, row.accession)
        if key in seen:
            row.errors.append(_("Same exam as line %(line)d.") % {"line": seen[key]})
        seen.setdefault(key, row.line)
        study = studies.get(key)
        if study is None:
            row.errors.append(_("No exam of your hospital has this MRN and accession number."))
        else:
            row.study_id, row.record_id = study.pk, study.patient_id
        try:
            row.phone = parse_mobile(row.phone)
        except InvalidPhone as error:
            row.errors.append(str(error))
        if row.choice not in FilmChoice.values:
            row.errors.append(_("The choice must be efilm, print or both."))


def _studies_by_key(scope: StudyScope, rows: Iterable[BulkRow]) -> dict[tuple[str, str], Study]:
    accessions = {row.accession for row in rows if row.accession}
    found = scope.studies().filter(accession_number__in=accessions).select_related("patient")
    return {(s.patient.patient_id, s.accession_number): s for s in found}


def apply_bulk(rows: list[dict[str, Any]], scope: StudyScope, staff: User) -> list[Issuance]:
    """Issue every previewed row in one transaction (each study re-checked against the scope)."""
    issued: list[Issuance] = []
    with transaction.atomic():
        for row in rows:
            study = scope.studies().select_related("patient__hospital").get(pk=row["study"])
            slip = issue(
                study.patient, [study], row["phone"], FilmChoice(row["choice"]), staff, with_share=False, notify=False
            )
            issued.append(slip.issuance)
    for item in issued:
        tell_patient(item)
    return issued
