"""The staff dashboard: adoption, savings and use, per month and per hospital, counted from the rows.

Every figure is counted from the index (Study), the issuances, the shared links
and the audit log each time the page is asked for, never from counters kept on
the side, which drift. Regional admins see every hospital; other staff see only
the hospitals of their memberships (`portal.access.STAFF`), and every query
below is filtered to those hospitals.

Definitions:

- month: the calendar month in the site's TIME_ZONE (settings.TIME_ZONE) of
  Study.received_at, Issuance.issued_at, AuditEvent.created_at,
  ShareLink.created_at and ShareOpen.created_at. The period is the last N
  months, this one included (`?months=N`, default 12, at most 36).
- exams received: Study rows, by hospital and month of received_at. By
  modality: each study counts once under each modality of its `modalities`
  (backslash-separated); a study without modalities counts under none.
- issuances: Issuance rows not revoked (revoked_at null). E-film issued:
  choice efilm or both. E-film share: e-film issued / all issuances, in percent
  with one decimal ("—" when there are none).
- printed films avoided: for issuances with choice efilm only, the number of
  its studies × the hospital's films_per_exam. Money saved: films avoided × the
  hospital's film_price (its price today), in the hospital's currency; totals
  over hospitals are given per currency.
- patients who signed in: distinct users with an AuditEvent SIGN_IN in the
  month, counted for a hospital when the user's phone has a PhoneLink to a
  PatientRecord of that hospital (so one patient may count for two hospitals;
  a total counts them once).
- shares created: ShareLink rows whose study belongs to the hospital, by month
  created. Openings: ShareOpen rows of those links, by month of the opening;
  shares opened: the distinct links opened at least once in the month.
- storage used: the sum of Study.size_bytes of the hospital's studies held now
  (cumulative), and of those received in each month.

The view (portal.dashboard.views) is thin: `gather` counts, `build_tables` and
`build_charts` lay the counts out; a table on the page and its CSV
(`?format=csv&table=<name>`) are written from the same cells.
"""

import csv
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from math import ceil
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.http import Http404, HttpResponse, QueryDict
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import PhoneLink
from imaging.access import StudyScope
from imaging.models import Hospital, Study
from portal.audit.models import AuditAction, AuditEvent
from portal.issuance.models import FilmChoice, Issuance
from portal.sharing.models import ShareLink, ShareOpen

DEFAULT_MONTHS = 12
MAX_MONTHS = 36
MONTH_CHOICES = (3, 6, 12, 24, 36)
NO_SHARE = "—"

# (first day of the month, hospital id): the key of every per-month, per-hospital figure.
Key = tuple[dt.date, int]


# --- The period --------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """The last N calendar months in the site's time zone, this one included, oldest first."""

    months: tuple[dt.date, ...]
    start: dt.datetime
    end: dt.datetime

    @property
    def first(self) -> str:
        return month_label(self.months[0])

    @property
    def last(self) -> str:
        return month_label(self.months[-1])


def site_timezone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def month_label(month: dt.date) -> str:
    return f"{month:%Y-%m}"


def last_months(count: int, now: dt.datetime | None = None) -> Period:
    tz = site_timezone()
    local = timezone.localtime(now or timezone.now(), tz)
    year, month = local.year, local.month
    firsts: list[dt.date] = []
    for _step in range(count):
        firsts.append(dt.date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    firsts.reverse()
    after = dt.date(local.year + local.month // 12, local.month % 12 + 1, 1)
    return Period(
        months=tuple(firsts),
        start=dt.datetime(firsts[0].year, firsts[0].month, 1, tzinfo=tz),
        end=dt.datetime(after.year, after.month, 1, tzinfo=tz),
    )


def _month_of(value: dt.datetime) -> dt.date:
    """The first day of the month TruncMonth returned, in the site's time zone."""
    return timezone.localtime(value, site_timezone()).date()


def _by_month(field_name: str) -> TruncMonth:
    return TruncMonth(field_name, tzinfo=site_timezone())


# --- Counting ----------------------------------------------------------------


@dataclass
class ExamCount:
    exams: int = 0
    size_bytes: int = 0


@dataclass
class IssuanceCount:
    efilm_only: int = 0
    both: int = 0
    printed_only: int = 0

    @property
    def issued(self) -> int:
        return self.efilm_only + self.both + self.printed_only

    @property
    def efilm(self) -> int:
        return self.efilm_only + self.both

    @property
    def efilm_share(self) -> Decimal | None:
        return percent(self.efilm, self.issued)


@dataclass
class Saving:
    """Printed films not made, for the e-film-only issuances of one hospital in one month."""

    issuances: int = 0
    exams: int = 0
    films_avoided: int = 0
    money: Decimal = Decimal("0.00")
    currency: str = ""


@dataclass
class ShareCount:
    created: int = 0
    openings: int = 0
    opened: set[int] = field(default_factory=set)


@dataclass
class StorageUse:
    exams: int = 0
    size_bytes: int = 0


@dataclass
class Figures:
    """Everything the dashboard shows, for some hospitals over a period."""

    period: Period
    hospitals: list[Hospital]
    exams: dict[Key, ExamCount]
    modalities: dict[tuple[dt.date, int, str], int]
    issuances: dict[Key, IssuanceCount]
    savings: dict[Key, Saving]
    patients: dict[Key, set[int]]
    shares: dict[Key, ShareCount]
    storage: dict[int, StorageUse]


def percent(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def count_exams(hospital_ids: Sequence[int], period: Period) -> dict[Key, ExamCount]:
    rows = (
        Study.objects.filter(hospital_id__in=hospital_ids, received_at__gte=period.start, received_at__lt=period.end)
        .annotate(month=_by_month("received_at"))
        .values("month", "hospital_id")
        .annotate(exams=Count("id"), size=Sum("size_bytes"))
        .order_by()
    )
    return {(_month_of(row["month"]), row["hospital_id"]): ExamCount(row["exams"], row["size"] or 0) for row in rows}


def count_modalities(hospital_ids: Sequence[int], period: Period) -> dict[tuple[dt.date, int, str], int]:
    """Studies per modality: grouped by the whole `modalities` value in SQL, then split here."""
    rows = (
        Study.objects.filter(hospital_id__in=hospital_ids, received_at__gte=period.start, received_at__lt=period.end)
        .annotate(month=_by_month("received_at"))
        .values("month", "hospital_id", "modalities")
        .annotate(exams=Count("id"))
        .order_by()
    )
    counts: dict[tuple[dt.date, int, str], int] = defaultdict(int)
    for row in rows:
        for modality in {m.strip() for m in row["modalities"].split("\\") if m.strip()}:
            counts[(_month_of(row["month"]), row["hospital_id"], modality)] += row["exams"]
    return dict(counts)


def _issuances(hospital_ids: Sequence[int], period: Period) -> QuerySet[Issuance]:
    return Issuance.objects.filter(
        hospital_id__in=hospital_ids,
        revoked_at__isnull=True,
        issued_at__gte=period.start,
        issued_at__lt=period.end,
    )


def count_issuances(hospital_ids: Sequence[int], period: Period) -> dict[Key, IssuanceCount]:
    rows = (
        _issuances(hospital_ids, period)
        .annotate(month=_by_month("issued_at"))
        .values("month", "hospital_id")
        .annotate(
            efilm_only=Count("id", filter=Q(choice=FilmChoice.EFILM)),
            both=Count("id", filter=Q(choice=FilmChoice.BOTH)),
            printed_only=Count("id", filter=Q(choice=FilmChoice.PRINT)),
        )
        .order_by()
    )
    return {
        (_month_of(row["month"]), row["hospital_id"]): IssuanceCount(
            row["efilm_only"], row["both"], row["printed_only"]
        )
        for row in rows
    }


def count_savings(hospitals: Sequence[Hospital], period: Period) -> dict[Key, Saving]:
    """Films avoided and money saved by e-film-only issuances, at each hospital's price and films per exam."""
    by_id = {hospital.pk: hospital for hospital in hospitals}
    rows = (
        _issuances(list(by_id), period)
        .filter(choice=FilmChoice.EFILM)
        .annotate(month=_by_month("issued_at"))
        .values("month", "hospital_id")
        .annotate(issuances=Count("id", distinct=True), exams=Count("studies"))
        .order_by()
    )
    savings: dict[Key, Saving] = {}
    for row in rows:
        hospital = by_id[row["hospital_id"]]
        films = row["exams"] * hospital.films_per_exam
        money = (films * hospital.film_price).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        savings[(_month_of(row["month"]), hospital.pk)] = Saving(
            row["issuances"], row["exams"], films, money, hospital.currency
        )
    return savings


def count_patients(hospital_ids: Sequence[int], period: Period) -> dict[Key, set[int]]:
    """Who signed in each month, per hospital their phone is linked to."""
    signed_in = (
        AuditEvent.objects.filter(
            action=AuditAction.SIGN_IN,
            created_at__gte=period.start,
            created_at__lt=period.end,
            user__phone__isnull=False,
        )
        .exclude(user__phone="")
        .order_by()
    )
    links = PhoneLink.objects.filter(
        patient_record__hospital_id__in=hospital_ids, phone__in=signed_in.values("user__phone")
    ).values_list("phone", "patient_record__hospital_id")
    hospitals_of: dict[str, set[int]] = defaultdict(set)
    for linked_phone, hospital_id in links:
        hospitals_of[linked_phone].add(hospital_id)
    events = signed_in.annotate(month=_by_month("created_at")).values_list("month", "user_id", "user__phone").distinct()
    patients: dict[Key, set[int]] = defaultdict(set)
    for month, user_id, phone in events:
        for hospital_id in hospitals_of.get(phone or "", ()):
            patients[(_month_of(month), hospital_id)].add(user_id)
    return dict(patients)


def count_shares(hospital_ids: Sequence[int], period: Period) -> dict[Key, ShareCount]:
    shares: dict[Key, ShareCount] = defaultdict(ShareCount)
    created = (
        ShareLink.objects.filter(
            study__hospital_id__in=hospital_ids, created_at__gte=period.start, created_at__lt=period.end
        )
        .annotate(month=_by_month("created_at"))
        .values_list("month", "study__hospital_id")
        .annotate(count=Count("id"))
        .order_by()
    )
    for month, hospital_id, count in created:
        shares[(_month_of(month), hospital_id)].created += count
    opened = (
        ShareOpen.objects.filter(
            share__study__hospital_id__in=hospital_ids, created_at__gte=period.start, created_at__lt=period.end
        )
        .annotate(month=_by_month("created_at"))
        .values_list("month", "share__study__hospital_id", "share_id")
        .annotate(count=Count("id"))
        .order_by()
    )
    for month, hospital_id, share_id, count in opened:
        figures = shares[(_month_of(month), hospital_id)]
        figures.openings += count
        figures.opened.add(share_id)
    return dict(shares)


def count_storage(hospital_ids: Sequence[int]) -> dict[int, StorageUse]:
    """What each hospital's studies take in storage now (cumulative, whenever received)."""
    rows = (
        Study.objects.filter(hospital_id__in=hospital_ids)
        .values("hospital_id")
        .annotate(exams=Count("id"), size=Sum("size_bytes"))
        .order_by()
    )
    return {row["hospital_id"]: StorageUse(row["exams"], row["size"] or 0) for row in rows}


def gather(hospitals: Sequence[Hospital], period: Period) -> Figures:
    ids = [hospital.pk for hospital in hospitals]
    return Figures(
        period=period,
        hospitals=list(hospitals),
        exams=count_exams(ids, period),
        modalities=count_modalities(ids, period),
        issuances=count_issuances(ids, period),
        savings=count_savings(hospitals, period),
        patients=count_patients(ids, period),
        shares=count_shares(ids, period),
        storage=count_storage(ids),
    )


# --- Totals ------------------------------------------------------------------


def add_issuances(counts: Iterable[IssuanceCount]) -> IssuanceCount:
    total = IssuanceCount()
    for c in counts:
        total.efilm_only += c.efilm_only
        total.both += c.both
        total.printed_only += c.printed_only
    return total


def savings_by_currency(savings: Iterable[Saving]) -> dict[str, Saving]:
    """Money is only added up within a currency."""
    totals: dict[str, Saving] = {}
    for s in savings:
        total = totals.setdefault(s.currency, Saving(currency=s.currency))
        total.issuances += s.issuances
        total.exams += s.exams
        total.films_avoided += s.films_avoided
        total.money += s.money
    return dict(sorted(totals.items()))


@dataclass(frozen=True)
class Totals:
    """The period's figures over all the hospitals shown; people and links are counted once."""

    exams: ExamCount
    modalities: dict[str, int]
    issuances: IssuanceCount
    savings: dict[str, Saving]
    patients: int
    shares: ShareCount
    storage: StorageUse


def add_up(figures: Figures) -> Totals:
    modalities: dict[str, int] = defaultdict(int)
    for (_month, _hospital, modality), count in figures.modalities.items():
        modalities[modality] += count
    shares = ShareCount()
    for s in figures.shares.values():
        shares.created += s.created
        shares.openings += s.openings
        shares.opened |= s.opened
    return Totals(
        exams=ExamCount(
            sum(c.exams for c in figures.exams.values()), sum(c.size_bytes for c in figures.exams.values())
        ),
        modalities=dict(sorted(modalities.items())),
        issuances=add_issuances(figures.issuances.values()),
        savings=savings_by_currency(figures.savings.values()),
        patients=len(set().union(*figures.patients.values())),
        shares=shares,
        storage=StorageUse(
            sum(s.exams for s in figures.storage.values()), sum(s.size_bytes for s in figures.storage.values())
        ),
    )


# --- Tables ------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """What the CSV holds (`value`) and what the page shows (`display`, often the same)."""

    value: str
    display: str
    numeric: bool = False

    @property
    def differs(self) -> bool:
        return self.value != self.display


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    headers: list[str]
    rows: list[list[Cell]]
    totals: list[list[Cell]]


def text(value: str, display: str | None = None) -> Cell:
    return Cell(value, value if display is None else display)


def number(value: int | Decimal) -> Cell:
    return Cell(str(value), str(value), numeric=True)


def size(value: int) -> Cell:
    return Cell(str(value), str(filesizeformat(value)), numeric=True)


def money(amount: Decimal, currency: str) -> Cell:
    return Cell(str(amount), f"{currency} {amount}", numeric=True)


def share(value: Decimal | None) -> Cell:
    return Cell("", NO_SHARE, numeric=True) if value is None else Cell(str(value), f"{value}%", numeric=True)


@dataclass(frozen=True)
class Layout:
    """What every table is laid out from: the counts, their totals, and the hospitals by id."""

    figures: Figures
    totals: Totals
    hospitals: dict[int, Hospital]

    def ordered(self, keys: Iterable[Key]) -> list[Key]:
        """Newest month first, then hospitals by code."""
        return sorted(keys, key=lambda key: (-key[0].toordinal(), self.hospitals[key[1]].code))

    def where(self, key: Key) -> list[Cell]:
        return [text(month_label(key[0])), *hospital_cells(self.hospitals[key[1]])]


def hospital_cells(hospital: Hospital) -> list[Cell]:
    """The hospital's code and its name beside it, on the page and in the CSV: a code alone tells a reader little."""
    return [text(hospital.code), text(hospital.name)]


def _hospital_headers() -> list[str]:
    return [_("Hospital code"), _("Hospital")]


def _total() -> list[Cell]:
    return [text(_("Total")), text(""), text("")]


def exams_table(layout: Layout) -> Table:
    exams, total = layout.figures.exams, layout.totals.exams
    rows = [[*layout.where(k), number(exams[k].exams), size(exams[k].size_bytes)] for k in layout.ordered(exams)]
    totals = [[*_total(), number(total.exams), size(total.size_bytes)]]
    headers = [_("Month"), *_hospital_headers(), _("Exams received"), _("Storage received")]
    return Table("exams", _("Exams received"), headers, rows, totals)


def modalities_table(layout: Layout) -> Table:
    counts = layout.figures.modalities
    keys = sorted(counts, key=lambda k: (-k[0].toordinal(), layout.hospitals[k[1]].code, k[2]))
    rows = [[*layout.where((k[0], k[1])), text(k[2]), number(counts[k])] for k in keys]
    totals = [[*_total(), text(modality), number(n)] for modality, n in layout.totals.modalities.items()]
    headers = [_("Month"), *_hospital_headers(), _("Modality"), _("Exams")]
    return Table("modalities", _("Exams by modality"), headers, rows, totals)


def _issuance_cells(c: IssuanceCount) -> list[Cell]:
    counts = (c.issued, c.efilm, c.efilm_only, c.both, c.printed_only)
    return [*(number(n) for n in counts), share(c.efilm_share)]


def issuances_table(layout: Layout) -> Table:
    issuances = layout.figures.issuances
    rows = [[*layout.where(k), *_issuance_cells(issuances[k])] for k in layout.ordered(issuances)]
    totals = [[*_total(), *_issuance_cells(layout.totals.issuances)]]
    headers = [
        _("Month"),
        *_hospital_headers(),
        _("Issuances"),
        _("E-film issued"),
        _("E-film only"),
        _("E-film and printed film"),
        _("Printed film only"),
        _("E-film share"),
    ]
    return Table("issuances", _("E-film issued"), headers, rows, totals)


def _saving_cells(s: Saving, price: Cell) -> list[Cell]:
    counts = (s.issuances, s.exams, s.films_avoided)
    return [text(s.currency), *(number(n) for n in counts), price, money(s.money, s.currency)]


def savings_table(layout: Layout) -> Table:
    savings = layout.figures.savings
    rows = [
        [*layout.where(k), *_saving_cells(savings[k], money(layout.hospitals[k[1]].film_price, savings[k].currency))]
        for k in layout.ordered(savings)
    ]
    totals = [[*_total(), *_saving_cells(s, text(""))] for s in layout.totals.savings.values()]
    headers = [
        _("Month"),
        *_hospital_headers(),
        _("Currency"),
        _("E-film-only issuances"),
        _("Exams on them"),
        _("Printed films avoided"),
        _("Price per film"),
        _("Money saved"),
    ]
    return Table("savings", _("Printed films avoided and money saved"), headers, rows, totals)


def patients_table(layout: Layout) -> Table:
    patients = layout.figures.patients
    rows = [[*layout.where(k), number(len(patients[k]))] for k in layout.ordered(patients)]
    totals = [[*_total(), number(layout.totals.patients)]]
    headers = [_("Month"), *_hospital_headers(), _("Patients who signed in")]
    return Table("patients", _("Patients who signed in"), headers, rows, totals)


def _share_cells(s: ShareCount) -> list[Cell]:
    return [number(s.created), number(s.openings), number(len(s.opened))]


def shares_table(layout: Layout) -> Table:
    shares = layout.figures.shares
    rows = [[*layout.where(k), *_share_cells(shares[k])] for k in layout.ordered(shares)]
    totals = [[*_total(), *_share_cells(layout.totals.shares)]]
    headers = [_("Month"), *_hospital_headers(), _("Shares created"), _("Openings"), _("Shares opened")]
    return Table("shares", _("Shared links created and opened"), headers, rows, totals)


def storage_table(layout: Layout) -> Table:
    received: dict[int, int] = defaultdict(int)
    for (_month, hospital_id), c in layout.figures.exams.items():
        received[hospital_id] += c.size_bytes
    storage = layout.figures.storage
    ids = sorted(storage, key=lambda h: layout.hospitals[h].code)
    rows = [
        [
            *hospital_cells(layout.hospitals[h]),
            number(storage[h].exams),
            size(storage[h].size_bytes),
            size(received[h]),
        ]
        for h in ids
    ]
    total = layout.totals.storage
    totals = [
        [
            text(_("Total")),
            text(""),
            number(total.exams),
            size(total.size_bytes),
            size(layout.totals.exams.size_bytes),
        ]
    ]
    headers = [*_hospital_headers(), _("Exams held"), _("Storage used now"), _("Received in these months")]
    return Table("storage", _("Storage used"), headers, rows, totals)


TABLES = (exams_table, modalities_table, issuances_table, savings_table, patients_table, shares_table, storage_table)


def build_tables(figures: Figures, totals: Totals) -> list[Table]:
    layout = Layout(figures, totals, {hospital.pk: hospital for hospital in figures.hospitals})
    return [build(layout) for build in TABLES]


# --- Charts ------------------------------------------------------------------

# A narrow viewBox, so that its text stays legible when the chart shrinks to a phone's width.
CHART_WIDTH = 480
CHART_HEIGHT = 240
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 44, 8, 12, 30
MAX_MONTH_LABELS = 6


@dataclass(frozen=True)
class Series:
    name: str
    fill: str
    values: tuple[int, ...]


@dataclass(frozen=True)
class Bar:
    x: str
    y: str
    width: str
    height: str
    fill: str
    label: str


@dataclass(frozen=True)
class Mark:
    """A label at a point: a tick on the y axis, a month under the bars."""

    x: str
    y: str
    text: str


@dataclass(frozen=True)
class Chart:
    slug: str
    title: str
    description: str
    bars: list[Bar]
    ticks: list[Mark]
    months: list[Mark]
    legend: list[Series]
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT
    plot_left: int = PLOT_LEFT
    plot_right: int = CHART_WIDTH - PLOT_RIGHT


def _n(value: float) -> str:
    """SVG coordinates as plain decimals, whatever the language's number format."""
    return f"{value:.1f}"


def axis_scale(maximum: int) -> tuple[int, int]:
    """(top of the axis, step between ticks): a round step, at most about five ticks."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * magnitude
            if step * 4 >= maximum:
                return step * max(1, ceil(maximum / step)), step
        magnitude *= 10


def bar_chart(slug: str, title: str, description: str, labels: Sequence[str], series: Sequence[Series]) -> Chart:
    """Bars per month, the series stacked; geometry in the viewBox's units."""
    plot_width = CHART_WIDTH - PLOT_LEFT - PLOT_RIGHT
    plot_height = CHART_HEIGHT - PLOT_TOP - PLOT_BOTTOM
    top, step = axis_scale(max((sum(s.values[i] for s in series) for i in range(len(labels))), default=0))
    slot = plot_width / max(len(labels), 1)

    def y(value: int) -> float:
        return PLOT_TOP + plot_height * (1 - value / top)

    bars: list[Bar] = []
    for i, label in enumerate(labels):
        base = 0
        for s in series:
            value = s.values[i]
            if value:
                height = plot_height * value / top
                x = PLOT_LEFT + slot * (i + 0.15)
                tip = f"{label} · {s.name}: {value}"
                bars.append(Bar(_n(x), _n(y(base + value)), _n(slot * 0.7), _n(height), s.fill, tip))
            base += value
    every = ceil(len(labels) / MAX_MONTH_LABELS)
    return Chart(
        slug=slug,
        title=title,
        description=description,
        bars=bars,
        ticks=[Mark(_n(PLOT_LEFT - 6), _n(y(t)), str(t)) for t in range(0, top + 1, step)],
        months=[
            Mark(_n(PLOT_LEFT + slot * (i + 0.5)), _n(CHART_HEIGHT - 9), label)
            for i, label in enumerate(labels)
            if i % every == 0
        ],
        legend=list(series),
    )


def monthly_totals(figures: Figures) -> tuple[dict[dt.date, int], dict[dt.date, IssuanceCount]]:
    """Exams and issuances per month, over the hospitals shown."""
    exams: dict[dt.date, int] = defaultdict(int)
    issuances: dict[dt.date, list[IssuanceCount]] = defaultdict(list)
    for (month, _hospital), c in figures.exams.items():
        exams[month] += c.exams
    for (month, _hospital), i in figures.issuances.items():
        issuances[month].append(i)
    return exams, {month: add_issuances(issuances[month]) for month in figures.period.months}


def build_charts(figures: Figures) -> list[Chart]:
    months = figures.period.months
    labels = [month_label(month) for month in months]
    exams, issuances = monthly_totals(figures)
    span = {"first": figures.period.first, "last": figures.period.last}
    exam_chart = bar_chart(
        "exams",
        _("Exams received per month"),
        _("Exams received per month, %(first)s to %(last)s: %(total)s in all.")
        % {**span, "total": sum(exams.values())},
        labels,
        [Series(_("Exams"), "#0a6cbd", tuple(exams[m] for m in months))],
    )
    issued = [issuances[m] for m in months]
    issuance_chart = bar_chart(
        "issuances",
        _("E-film and printed film issued per month"),
        _("Issuances per month, %(first)s to %(last)s: %(total)s in all, %(efilm)s with an e-film.")
        % {**span, "total": sum(i.issued for i in issued), "efilm": sum(i.efilm for i in issued)},
        labels,
        [
            Series(_("E-film only"), "#0a6cbd", tuple(i.efilm_only for i in issued)),
            Series(_("E-film and printed film"), "#7fb3e0", tuple(i.both for i in issued)),
            Series(_("Printed film only"), "#b36b2c", tuple(i.printed_only for i in issued)),
        ],
    )
    return [exam_chart, issuance_chart]


# --- Key figures -------------------------------------------------------------


def key_figures(totals: Totals) -> list[tuple[str, str, str]]:
    """The headline numbers of the period, shown above the charts: (name, label, value)."""
    saved = " · ".join(f"{s.currency} {s.money}" for s in totals.savings.values())
    return [
        ("exams", _("Exams received"), str(totals.exams.exams)),
        ("efilm", _("E-films issued"), str(totals.issuances.efilm)),
        ("efilm-share", _("E-film share"), share(totals.issuances.efilm_share).display),
        ("films-avoided", _("Printed films avoided"), str(sum(s.films_avoided for s in totals.savings.values()))),
        ("money-saved", _("Money saved"), saved or "0"),
        ("patients", _("Patients who signed in"), str(totals.patients)),
        ("shares", _("Shares created"), str(totals.shares.created)),
        ("storage", _("Storage used now"), str(filesizeformat(totals.storage.size_bytes))),
    ]


# --- The page ----------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    months: int
    hospital: Hospital | None


def hospitals_in_scope(scope: StudyScope) -> list[Hospital]:
    if scope.everything:
        return list(Hospital.objects.order_by("code"))
    return list(Hospital.objects.filter(pk__in=scope.hospital_ids).order_by("code"))


def read_filters(query: QueryDict, hospitals: Sequence[Hospital]) -> Filters:
    """`months` (default 12, 1 to 36) and `hospital` (a code in scope; any other is not found)."""
    try:
        months = min(max(int(query.get("months", DEFAULT_MONTHS)), 1), MAX_MONTHS)
    except ValueError:
        months = DEFAULT_MONTHS
    code = query.get("hospital", "")
    if not code:
        return Filters(months, None)
    chosen = next((hospital for hospital in hospitals if hospital.code == code), None)
    if chosen is None:
        raise Http404
    return Filters(months, chosen)


def csv_response(table: Table) -> HttpResponse:
    """The table as CSV, with a BOM so that spreadsheets read the Chinese headers as UTF-8."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="dashboard-{table.name}.csv"'
    response.write("\ufeff")
    writer = csv.writer(response)
    writer.writerow(table.headers)
    for row in [*table.rows, *table.totals]:
        writer.writerow([_spreadsheet_safe(cell.value) for cell in row])
    return response


def _spreadsheet_safe(value: str) -> str:
    """A hospital's name must not run as a formula when the CSV is opened (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value
