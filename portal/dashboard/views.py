"""The dashboard page: scope, filters, count, then the page or one table as CSV."""

from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from portal.access import STAFF
from portal.dashboard.figures import (
    MONTH_CHOICES,
    add_up,
    build_charts,
    build_tables,
    csv_response,
    gather,
    hospitals_in_scope,
    key_figures,
    last_months,
    read_filters,
)
from portal.exams.requesters import Requester


@require_GET
@STAFF.required
def dashboard(request: HttpRequest, staff: Requester) -> HttpResponse:
    """Scope, filters, count, then the page or one table as CSV."""
    hospitals = hospitals_in_scope(staff.scope)
    filters = read_filters(request.GET, hospitals)
    shown = [filters.hospital] if filters.hospital else hospitals
    figures = gather(shown, last_months(filters.months))
    totals = add_up(figures)
    tables = build_tables(figures, totals)
    if request.GET.get("format") == "csv":
        table = next((t for t in tables if t.name == request.GET.get("table")), None)
        if table is None:
            raise Http404
        return csv_response(table)
    query = {"months": filters.months, **({"hospital": filters.hospital.code} if filters.hospital else {})}
    context = {
        "filters": filters,
        "hospitals": hospitals,
        "shown": shown,
        "month_choices": sorted({*MONTH_CHOICES, filters.months}),
        "period": figures.period,
        "key_figures": key_figures(totals),
        "charts": build_charts(figures),
        "tables": [(t, urlencode({**query, "format": "csv", "table": t.name})) for t in tables],
    }
    return render(request, "dashboard/dashboard.html", context)
