"""`backfill_performed_step`: series indexed before the index kept the Performed Procedure Step start get it."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command

from imaging import synthetic
from imaging.ingest import ingest_instance
from imaging.models import Hospital, Series
from tests.support import qido_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def region(hospital: Hospital) -> None:
    for dataset in qido_data.data_set():
        ingest_instance(synthetic.to_bytes(dataset), hospital)


def performed() -> dict[str, tuple[dt.date | None, dt.time | None]]:
    return {s.series_uid: (s.performed_date, s.performed_time) for s in Series.objects.all()}


def test_it_reads_the_start_of_series_indexed_without_it(region: None) -> None:
    read_at_ingest = performed()
    Series.objects.update(performed_date=None, performed_time=None)
    out = StringIO()
    call_command("backfill_performed_step", "--batch", "3", stdout=out)
    assert performed() == read_at_ingest
    assert out.getvalue().strip() == "10 series without a performed procedure step start; 4 filled from files"


def test_it_leaves_a_series_that_has_one_alone(region: None) -> None:
    series = Series.objects.get(series_uid=qido_data.series_uid("q-john-mr", "mr"))
    series.performed_time = None
    series.save(update_fields=["performed_time"])
    call_command("backfill_performed_step", stdout=StringIO())
    series.refresh_from_db()
    assert (series.performed_date, series.performed_time) == (dt.date(2026, 1, 5), None)
