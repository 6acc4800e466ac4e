"""The staff dashboard: figures counted from the rows, scoped to the staff member's hospitals, as tables, CSV and SVG.

The data set spans two hospitals and the two months before this one; every
figure the dashboard gives is compared with one counted here from the raw rows.
"""

import csv
import datetime as dt
import io
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.http import QueryDict
from django.test import Client
from django.utils import timezone

from accounts.models import PhoneLink, StaffRole, User
from imaging.models import Hospital, PatientRecord, Study
from imaging.synthetic import PatientSpec
from portal.audit.models import Actor, AuditAction, AuditEvent
from portal.dashboard import figures as dashboard
from portal.issuance.models import FilmChoice, Issuance
from portal.sharing.models import ShareLink, ShareOpen
from tests.support.dicom import ALICE, BOB
from tests.support.exams import make_exam
from tests.support.people import ALICE_PHONE, BOB_PHONE, Staff, link, make_staff, sign_in_staff

pytestmark = pytest.mark.django_db

CAROL = PatientSpec("PID-CAROL", "Carol^Test", "F", dt.date(1990, 3, 4), "13800000003")
CAROL_PHONE = "+8613800000003"
DAVE_PHONE = "+8613800000004"
TABLES = ("exams", "modalities", "issuances", "savings", "patients", "shares", "storage")


def site_tz() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def months_back(count: int) -> dt.date:
    """The first day of the month `count` months before this one, in the site's time zone."""
    today = timezone.localtime(timezone.now(), site_tz()).date()
    index = today.year * 12 + today.month - 1 - count
    return dt.date(index // 12, index % 12 + 1, 1)


def at(month: dt.date, day: int = 10, hour: int = 12, minute: int = 0) -> dt.datetime:
    return dt.datetime(month.year, month.month, day, hour, minute, tzinfo=site_tz())


def label(value: dt.datetime) -> str:
    return f"{timezone.localtime(value, site_tz()):%Y-%m}"


def window(months: int = 12) -> set[str]:
    return {f"{months_back(n):%Y-%m}" for n in range(months)}


# --- The data set ------------------------------------------------------------


@dataclass
class DataSet:
    a: Hospital
    b: Hospital
    m1: dt.date  # last month
    m2: dt.date  # the month before
    staff: dict[str, Staff]


def issue(hospital: Hospital, patient: PatientSpec, studies: list[Study], choice: str, when: dt.datetime) -> Issuance:
    record = PatientRecord.objects.get(hospital=hospital, patient_id=patient.patient_id)
    issuance = Issuance.objects.create(
        hospital=hospital,
        patient_record=record,
        choice=choice,
        issued_by=User.objects.get(username="clerk-a" if hospital.code == "city1" else "clerk-b"),
    )
    issuance.studies.set(studies)
    Issuance.objects.filter(pk=issuance.pk).update(issued_at=when)
    return issuance


def share_of(study: Study, owner: User, when: dt.datetime, openings: list[dt.datetime]) -> ShareLink:
    share = ShareLink.objects.create(
        study=study,
        created_by=owner,
        token_hash=f"{study.pk:064x}",
        expires_at=timezone.now() + dt.timedelta(days=7),
    )
    ShareLink.objects.filter(pk=share.pk).update(created_at=when)
    for opened_at in openings:
        opening = ShareOpen.objects.create(share=share, network="10.0.0.0/24", browser="Firefox")
        ShareOpen.objects.filter(pk=opening.pk).update(created_at=opened_at)
    return share


def sign_in_event(user: User, when: dt.datetime, action: AuditAction = AuditAction.SIGN_IN) -> None:
    event = AuditEvent.objects.create(actor=Actor.PATIENT, user=user, action=action)
    AuditEvent.objects.filter(pk=event.pk).update(created_at=when)


@pytest.fixture
def data(hospital: Hospital, other_hospital: Hospital) -> DataSet:
    """Hospital A (USD 1.20, 2 films an exam) and B (the defaults: CNY 8.50, 1 film), the last two months."""
    a, b = hospital, other_hospital
    a.film_price, a.currency, a.films_per_exam = Decimal("1.20"), "USD", 2
    a.save()
    m1, m2 = months_back(1), months_back(2)
    staff = {
        "clerk-a": make_staff("clerk-a", StaffRole.CLERK, a),
        "clerk-b": make_staff("clerk-b", StaffRole.CLERK, b),
        "bureau": make_staff("bureau", StaffRole.REGIONAL_ADMIN, None),
    }

    def exam(place: Hospital, patient: PatientSpec, key: str, received: dt.datetime, modalities: str) -> Study:
        study = make_exam(place, patient, key, slices=1, report="none").study
        Study.objects.filter(pk=study.pk).update(received_at=received, modalities=modalities)
        return Study.objects.get(pk=study.pk)

    alice1 = exam(a, ALICE, "alice-1", at(m1), "CT")
    alice2 = exam(a, ALICE, "alice-2", at(m1, 20), "CT\\MR")
    # 00:30 on the 1st in the site's time zone: still the previous day in UTC.
    carol_a = exam(a, CAROL, "carol-a", at(m2, 1, 0, 30), "CT")
    bob1 = exam(b, BOB, "bob-1", at(m1, 5), "DX")
    carol_b = exam(b, CAROL, "carol-b", at(m2, 15), "CT\\SR")

    issue(a, ALICE, [alice1, alice2], FilmChoice.EFILM, at(m1, 12))
    issue(a, ALICE, [alice1], FilmChoice.PRINT, at(m1, 13))
    issue(a, ALICE, [alice2], FilmChoice.BOTH, at(m1, 21))
    issue(a, CAROL, [carol_a], FilmChoice.EFILM, at(m2, 2))
    revoked = issue(a, CAROL, [carol_a], FilmChoice.EFILM, at(m2, 3))
    Issuance.objects.filter(pk=revoked.pk).update(revoked_at=at(m2, 4))
    issue(a, ALICE, [alice1], FilmChoice.EFILM, at(months_back(14)))  # before a 12-month period
    issue(b, BOB, [bob1], FilmChoice.EFILM, at(m1, 6))
    issue(b, BOB, [bob1], FilmChoice.PRINT, at(m1, 7))
    issue(b, CAROL, [carol_b], FilmChoice.BOTH, at(m2, 16))

    users = {phone: User.objects.create(username=phone, phone=phone) for phone in (ALICE_PHONE, BOB_PHONE, CAROL_PHONE)}
    dave = User.objects.create(username=DAVE_PHONE, phone=DAVE_PHONE)  # known to no hospital
    link(ALICE_PHONE, a, ALICE.patient_id)
    link(BOB_PHONE, b, BOB.patient_id)
    link(CAROL_PHONE, a, CAROL.patient_id)
    link(CAROL_PHONE, b, CAROL.patient_id)
    sign_in_event(users[ALICE_PHONE], at(m1, 3))
    sign_in_event(users[ALICE_PHONE], at(m1, 25))
    sign_in_event(users[ALICE_PHONE], at(m2, 8))
    sign_in_event(users[BOB_PHONE], at(m1, 9))
    sign_in_event(users[BOB_PHONE], at(m2, 9), AuditAction.STUDY_LIST)
    sign_in_event(users[CAROL_PHONE], at(m1, 11))
    sign_in_event(dave, at(m1, 11))
    sign_in_event(User.objects.get(username="clerk-a"), at(m1, 11))

    share_of(alice1, users[ALICE_PHONE], at(m1, 14), [at(m1, 15), at(m1, 16), at(m1, 28)])
    share_of(carol_a, users[CAROL_PHONE], at(m2, 5), [at(m1, 2)])
    share_of(bob1, users[BOB_PHONE], at(m1, 8), [at(m1, 9)])
    share_of(carol_b, users[CAROL_PHONE], at(m2, 17), [])
    return DataSet(a, b, m1, m2, staff)


# --- Figures counted here, from the raw rows ---------------------------------


def expected(codes: set[str], months: int = 12) -> dict[str, Any]:
    """Every figure of the dashboard, per (month, hospital code), counted naively from the rows."""
    inside = window(months)
    exams: Counter[tuple[str, str]] = Counter()
    received: Counter[tuple[str, str]] = Counter()
    modalities: Counter[tuple[str, str, str]] = Counter()
    for study in Study.objects.select_related("hospital"):
        key = (label(study.received_at), study.hospital.code)
        if study.hospital.code in codes and key[0] in inside:
            exams[key] += 1
            received[key] += study.size_bytes
            for modality in set(study.modality_list):
                modalities[(*key, modality)] += 1
    issued: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    films: Counter[tuple[str, str]] = Counter()
    money: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for issuance in Issuance.objects.select_related("hospital").prefetch_related("studies"):
        key = (label(issuance.issued_at), issuance.hospital.code)
        if issuance.revoked_at or issuance.hospital.code not in codes or key[0] not in inside:
            continue
        issued[key][issuance.choice] += 1
        if issuance.choice == FilmChoice.EFILM:
            avoided = len(issuance.studies.all()) * issuance.hospital.films_per_exam
            films[key] += avoided
            money[key] += avoided * issuance.hospital.film_price
    patients: dict[tuple[str, str], set[int]] = defaultdict(set)
    for event in AuditEvent.objects.filter(action=AuditAction.SIGN_IN).select_related("user"):
        if event.user is None or not event.user.phone or label(event.created_at) not in inside:
            continue
        for phone_link in PhoneLink.objects.filter(phone=event.user.phone).select_related("patient_record__hospital"):
            code = phone_link.patient_record.hospital.code
            if code in codes:
                patients[(label(event.created_at), code)].add(event.user.pk)
    created: Counter[tuple[str, str]] = Counter()
    for share in ShareLink.objects.select_related("study__hospital"):
        if share.study.hospital.code in codes and label(share.created_at) in inside:
            created[(label(share.created_at), share.study.hospital.code)] += 1
    openings: Counter[tuple[str, str]] = Counter()
    opened: dict[tuple[str, str], set[int]] = defaultdict(set)
    for opening in ShareOpen.objects.select_related("share__study__hospital"):
        key = (label(opening.created_at), opening.share.study.hospital.code)
        if key[1] in codes and key[0] in inside:
            openings[key] += 1
            opened[key].add(opening.share_id)
    stored: Counter[str] = Counter()
    for study in Study.objects.select_related("hospital"):
        if study.hospital.code in codes:
            stored[study.hospital.code] += study.size_bytes
    return {
        "exams": exams,
        "received": received,
        "modalities": modalities,
        "issued": issued,
        "films": films,
        "money": money,
        "patients": patients,
        "created": created,
        "openings": openings,
        "opened": opened,
        "stored": stored,
    }


def share_text(counts: Counter[str]) -> str:
    total = sum(counts.values())
    if not total:
        return ""
    share = Decimal(counts[FilmChoice.EFILM] + counts[FilmChoice.BOTH]) * 100 / total
    return str(share.quantize(Decimal("0.1")))


# --- Reading the page --------------------------------------------------------


class TableReader(HTMLParser):
    """The dashboard's tables by name: header, body and footer rows, machine-readable values."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, list[list[str]]]] = {}
        self.table = ""
        self.part = ""
        self.cell: list[str] | None = None
        self.value: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "section" and attributes.get("data-table"):
            self.table = attributes["data-table"] or ""
            self.tables[self.table] = {"thead": [], "tbody": [], "tfoot": []}
        elif tag in ("thead", "tbody", "tfoot") and self.table:
            self.part = tag
        elif tag == "tr" and self.part:
            self.tables[self.table][self.part].append([])
        elif tag in ("td", "th") and self.part:
            self.cell, self.value = [], None
        elif tag == "data" and self.cell is not None:
            self.value = attributes.get("value") or ""

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None:
            text = self.value if self.value is not None else "".join(self.cell).strip()
            self.tables[self.table][self.part][-1].append(text)
            self.cell = None
        elif tag == "section":
            self.table = self.part = ""


def page_tables(client: Client, query: str = "") -> dict[str, dict[str, list[list[str]]]]:
    response = client.get(f"/staff/dashboard/{query}")
    assert response.status_code == 200, response.content.decode()[:500]
    reader = TableReader()
    reader.feed(response.content.decode())
    return reader.tables


def csv_rows(client: Client, table: str, query: str = "") -> list[list[str]]:
    response = client.get(f"/staff/dashboard/?format=csv&table={table}{query}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == f'attachment; filename="dashboard-{table}.csv"'
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def by_place(rows: list[list[str]]) -> dict[tuple[str, str], list[str]]:
    """Rows of a per-month, per-hospital table by (month, hospital code); the hospital's name is beside its code."""
    return {(row[0], row[1]): row[3:] for row in rows}


def staff_client(data: DataSet, username: str) -> Client:
    client = Client()
    sign_in_staff(client, data.staff[username])
    return client


# --- The tests ---------------------------------------------------------------


def test_it_counts_every_figure_from_the_rows(data: DataSet) -> None:
    figures = dashboard.gather([data.a, data.b], dashboard.last_months(12))
    want = expected({"city1", "tcm"})
    code = {data.a.pk: "city1", data.b.pk: "tcm"}

    def keyed(counts: dict[tuple[dt.date, int], Any]) -> dict[tuple[str, str], Any]:
        return {(f"{month:%Y-%m}", code[h]): value for (month, h), value in counts.items()}

    assert {k: c.exams for k, c in keyed(figures.exams).items()} == dict(want["exams"])
    assert {k: c.size_bytes for k, c in keyed(figures.exams).items()} == dict(want["received"])
    assert {(f"{m:%Y-%m}", code[h], mod): n for (m, h, mod), n in figures.modalities.items()} == dict(
        want["modalities"]
    )
    issued = keyed(figures.issuances)
    assert {k: (c.efilm_only, c.both, c.printed_only) for k, c in issued.items()} == {
        k: (c[FilmChoice.EFILM], c[FilmChoice.BOTH], c[FilmChoice.PRINT]) for k, c in want["issued"].items()
    }
    assert {k: "" if c.efilm_share is None else str(c.efilm_share) for k, c in issued.items()} == {
        k: share_text(c) for k, c in want["issued"].items()
    }
    savings = keyed(figures.savings)
    assert {k: s.films_avoided for k, s in savings.items()} == dict(want["films"])
    assert {k: s.money for k, s in savings.items()} == dict(want["money"])
    assert {k: len(v) for k, v in keyed(figures.patients).items()} == {k: len(v) for k, v in want["patients"].items()}
    shares = keyed(figures.shares)
    assert {k: s.created for k, s in shares.items() if s.created} == dict(want["created"])
    assert {k: s.openings for k, s in shares.items() if s.openings} == dict(want["openings"])
    assert {k: s.opened for k, s in shares.items() if s.opened} == dict(want["opened"])
    assert {code[h]: s.size_bytes for h, s in figures.storage.items()} == dict(want["stored"])
    # The same figures, written out, for a reader of this test.
    m1, m2 = f"{data.m1:%Y-%m}", f"{data.m2:%Y-%m}"
    assert issued[(m1, "city1")].efilm_share == Decimal("66.7")
    assert savings[(m1, "city1")].films_avoided == 4
    assert savings[(m1, "city1")].money == Decimal("4.80")
    assert savings[(m1, "tcm")].money == Decimal("8.50")
    assert savings[(m1, "tcm")].currency == "CNY"
    assert (m2, "tcm") not in savings  # 'both' saves no printed film
    assert {k: len(v) for k, v in keyed(figures.patients).items()} == {
        (m1, "city1"): 2,
        (m2, "city1"): 1,
        (m1, "tcm"): 2,
    }


def test_it_counts_by_calendar_month_in_the_site_time_zone(data: DataSet) -> None:
    figures = dashboard.gather([data.a], dashboard.last_months(12))
    carol = Study.objects.get(patient__patient_id=CAROL.patient_id, hospital=data.a)
    utc_month = carol.received_at.astimezone(dt.UTC).date().replace(day=1)
    assert utc_month != data.m2  # the point of the test: UTC would put it a month earlier
    assert figures.exams[(data.m2, data.a.pk)].exams == 1
    assert (utc_month, data.a.pk) not in figures.exams


def test_it_shows_a_regional_admin_every_hospital(data: DataSet) -> None:
    tables = page_tables(staff_client(data, "bureau"))
    want = expected({"city1", "tcm"})
    exams = by_place(tables["exams"]["tbody"])
    assert {k: int(v[0]) for k, v in exams.items()} == dict(want["exams"])
    assert {k: int(v[1]) for k, v in exams.items()} == dict(want["received"])
    issuances = by_place(tables["issuances"]["tbody"])
    assert {k: (int(v[0]), int(v[1]), v[5]) for k, v in issuances.items()} == {
        k: (sum(c.values()), c[FilmChoice.EFILM] + c[FilmChoice.BOTH], share_text(c)) for k, c in want["issued"].items()
    }
    savings = by_place(tables["savings"]["tbody"])
    assert {k: (int(v[3]), Decimal(v[5])) for k, v in savings.items()} == {
        k: (want["films"][k], want["money"][k]) for k in want["films"]
    }
    patients = by_place(tables["patients"]["tbody"])
    assert {k: int(v[0]) for k, v in patients.items()} == {k: len(v) for k, v in want["patients"].items()}
    shares = by_place(tables["shares"]["tbody"])
    assert {k: int(v[0]) for k, v in shares.items() if int(v[0])} == dict(want["created"])
    assert {k: int(v[1]) for k, v in shares.items() if int(v[1])} == dict(want["openings"])
    assert {k: int(v[2]) for k, v in shares.items() if int(v[2])} == {k: len(v) for k, v in want["opened"].items()}
    assert {row[0]: int(row[3]) for row in tables["storage"]["tbody"]} == dict(want["stored"])
    # Totals: 7 issuances, 5 with an e-film; money per currency; each patient once.
    assert [row[3:] for row in tables["issuances"]["tfoot"]] == [["7", "5", "3", "2", "2", "71.4"]]
    assert sorted((row[3], row[-1]) for row in tables["savings"]["tfoot"]) == [("CNY", "8.50"), ("USD", "7.20")]
    assert tables["patients"]["tfoot"][0][-1] == "3"


def test_it_shows_a_clerk_none_of_another_hospitals_numbers(data: DataSet) -> None:
    clerk = staff_client(data, "clerk-a")
    response = clerk.get("/staff/dashboard/")
    page = response.content.decode()
    assert "tcm" not in page
    assert data.b.name not in page
    assert "CNY" not in page
    tables = page_tables(clerk)
    want = expected({"city1"})
    assert {row[1] for name in TABLES if name != "storage" for row in tables[name]["tbody"]} == {"city1"}
    assert [row[0] for row in tables["storage"]["tbody"]] == ["city1"]
    assert {k: int(v[0]) for k, v in by_place(tables["exams"]["tbody"]).items()} == dict(want["exams"])
    assert tables["issuances"]["tfoot"][0][3:] == ["4", "3", "2", "1", "1", "75.0"]
    assert [row[3:] for row in tables["savings"]["tfoot"]] == [["USD", "2", "3", "6", "", "7.20"]]
    assert tables["patients"]["tfoot"][0][-1] == "2"  # Alice and Carol; Bob signs in at the other hospital
    assert tables["shares"]["tfoot"][0][3:] == ["2", "4", "2"]
    # Asking for the other hospital, on the page or as CSV, finds nothing.
    assert clerk.get("/staff/dashboard/?hospital=tcm").status_code == 404
    assert clerk.get("/staff/dashboard/?hospital=tcm&format=csv&table=exams").status_code == 404
    for name in TABLES:
        assert not any("tcm" in cell for row in csv_rows(clerk, name) for cell in row)


def test_it_filters_a_regional_admin_to_one_hospital(data: DataSet) -> None:
    tables = page_tables(staff_client(data, "bureau"), "?hospital=tcm")
    want = expected({"tcm"})
    assert {k: int(v[0]) for k, v in by_place(tables["exams"]["tbody"]).items()} == dict(want["exams"])
    assert tables["issuances"]["tfoot"][0][3:] == ["3", "2", "1", "1", "1", "66.7"]
    assert [row[3:] for row in tables["savings"]["tfoot"]] == [["CNY", "1", "1", "1", "", "8.50"]]


def test_it_exports_every_table_as_csv_with_the_numbers_of_the_page(data: DataSet) -> None:
    client = staff_client(data, "bureau")
    tables = page_tables(client, "?months=6")
    page = client.get("/staff/dashboard/?months=6").content.decode()
    for name in TABLES:
        assert f"table={name}" in page  # each table links to its CSV
        rows = csv_rows(client, name, "&months=6")
        table = tables[name]
        assert rows[0] == table["thead"][0]
        assert rows[1:] == table["tbody"] + table["tfoot"]
        assert table["tbody"], f"{name} has no rows to compare"


def test_it_refuses_an_unknown_csv_table(data: DataSet) -> None:
    assert staff_client(data, "bureau").get("/staff/dashboard/?format=csv&table=users").status_code == 404


def test_it_limits_the_period_to_the_months_asked(data: DataSet) -> None:
    client = staff_client(data, "bureau")
    assert page_tables(client, "?months=1")["issuances"]["tbody"] == []  # only this month: nothing yet
    everything = page_tables(client, "?months=36")["issuances"]["tfoot"][0]
    assert everything[3:5] == ["8", "6"]  # the e-film issued 14 months ago is in
    assert page_tables(client, "?months=nonsense")["issuances"]["tfoot"][0][3] == "7"
    assert dashboard.read_filters(QueryDict(""), []).months == 12
    assert dashboard.read_filters(QueryDict("months=999"), []).months == 36
    assert dashboard.read_filters(QueryDict("months=0"), []).months == 1


def test_it_draws_accessible_svg_charts_without_script_or_inline_style(data: DataSet) -> None:
    response = staff_client(data, "bureau").get("/staff/dashboard/")
    page = response.content.decode()
    charts = re.findall(r"<svg viewBox=\"0 0 \d+ \d+\" role=\"img\" aria-labelledby=\"([^\"]+)\"", page)
    assert len(charts) == 2
    for labelled_by in charts:
        for element_id in labelled_by.split():
            assert f'id="{element_id}"' in page
    exams = page[page.index('id="chart-exams"') : page.index('id="chart-issuances"')]
    bars = dict(re.findall(r"<title>(\d{4}-\d{2}) · [^:<]+: (\d+)</title>", exams))
    assert bars == {f"{data.m1:%Y-%m}": "3", f"{data.m2:%Y-%m}": "2"}
    issuances = page[page.index('id="chart-issuances"') :]
    bars = issuances[issuances.index('<g class="bars">') : issuances.index("</g>", issuances.index('<g class="bars">'))]
    # Last month: e-film only, both, printed only; the month before: e-film only, both.
    assert len(re.findall(r"<rect ", bars)) == 5
    assert "<script" not in page
    assert "style=" not in page
    assert "Content-Security-Policy" in response.headers


def test_it_keeps_patients_and_strangers_out(data: DataSet) -> None:
    assert Client().get("/staff/dashboard/").status_code == 302
    patient = Client()
    patient.force_login(User.objects.get(phone=ALICE_PHONE))
    assert patient.get("/staff/dashboard/").status_code == 302
    assert patient.get("/staff/dashboard/?format=csv&table=exams").status_code == 302


def test_it_rounds_the_chart_axis_to_a_round_step() -> None:
    assert dashboard.axis_scale(0) == (1, 1)
    assert dashboard.axis_scale(3) == (3, 1)
    assert dashboard.axis_scale(7) == (8, 2)
    assert dashboard.axis_scale(37) == (40, 10)
    assert dashboard.axis_scale(1234) == (1500, 500)


def test_it_shows_a_dash_for_the_e_film_share_when_nothing_was_issued() -> None:
    assert dashboard.IssuanceCount().efilm_share is None
    assert dashboard.share(None).display == "—"
    assert dashboard.IssuanceCount(efilm_only=1, both=1, printed_only=1).efilm_share == Decimal("66.7")


def test_it_takes_calendar_months_in_the_site_time_zone() -> None:
    # 2026-01-31 18:00 UTC is 2026-02-01 02:00 in Shanghai.
    period = dashboard.last_months(3, dt.datetime(2026, 1, 31, 18, 0, tzinfo=dt.UTC))
    if settings.TIME_ZONE == "Asia/Shanghai":
        assert period.months == (dt.date(2025, 12, 1), dt.date(2026, 1, 1), dt.date(2026, 2, 1))
        assert period.end == dt.datetime(2026, 3, 1, tzinfo=site_tz())
    assert len(period.months) == 3
    assert period.start == at(period.months[0], 1, 0)


def test_it_prices_a_hospitals_film_in_yuan_unless_told_otherwise(db: None) -> None:
    hospital = Hospital.objects.create(code="new", name="New Hospital")
    assert (hospital.currency, hospital.film_price) == ("CNY", Decimal("8.50"))


def test_it_shows_the_money_saved_in_each_hospitals_currency_never_added_across(data: DataSet) -> None:
    client = staff_client(data, "bureau")
    page = client.get("/staff/dashboard/").content.decode()
    assert re.search(r'data-figure="money-saved"><dt>[^<]+</dt><dd>CNY 8\.50 · USD 7\.20</dd>', page)
    savings = by_place(page_tables(client)["savings"]["tbody"])
    assert savings[(f"{data.m1:%Y-%m}", "tcm")][0] == "CNY"
    assert savings[(f"{data.m1:%Y-%m}", "city1")][0] == "USD"
    assert "CNY 8.50" in page


def test_it_writes_each_hospitals_name_beside_its_code_in_the_csv(data: DataSet) -> None:
    names = {data.a.code: data.a.name, data.b.code: data.b.name}
    client = staff_client(data, "bureau")
    for name in TABLES:
        rows = csv_rows(client, name)
        column = 0 if name == "storage" else 1
        body = [row for row in rows[1:] if row[0] != rows[-1][0]]  # not the totals
        assert body, f"{name} has no rows"
        assert all(names[row[column]] == row[column + 1] for row in body), name


def test_it_writes_the_csv_as_utf8_with_a_bom_for_excel(data: DataSet) -> None:
    """Excel opens a CSV without a byte order mark in the system's code page: GBK on a Chinese Windows."""
    data.b.name = "市中医医院"
    data.b.save()
    response = staff_client(data, "bureau").get("/staff/dashboard/?format=csv&table=exams")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.content.startswith(b"\xef\xbb\xbf")
    assert "市中医医院".encode() in response.content
    headers = next(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in header) for header in headers)  # in the page's language
