"""imaging.ingest.prepared: a prepared statement sent through libpq, with work done while it runs."""

import datetime as dt
import math
import os
import signal

import psycopg
import pytest
from django.db import connection

from imaging.ingest.prepared import run_prepared
from tests.support.postgres import PrivateCluster

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("require_postgres")]


def raw() -> "psycopg.Connection[object]":
    connection.ensure_connection()
    return connection.connection


def test_it_sends_each_kind_of_value_as_the_server_reads_it() -> None:
    moment = dt.datetime(2026, 12, 2, 8, 30, 15, 250000, tzinfo=dt.UTC)
    values = ["Zhang^San 张三", 42, 1.5, math.inf, True, dt.date(2026, 1, 5), dt.time(9, 5, 7, 125000), moment, None]
    row, failure = run_prepared(
        raw(),
        "SELECT %s::text, %s::int, %s::float8, %s::float8, %s::bool, %s::date, %s::time, "
        "%s::timestamptz = '2026-12-02 08:30:15.25+00', %s::text IS NULL",
        values,
    )
    assert failure is None
    assert row == (
        "Zhang^San 张三".encode(),
        b"42",
        b"1.5",
        b"Infinity",
        b"t",
        b"2026-01-05",
        b"09:05:07.125",
        b"t",
        b"t",
    )


def test_it_answers_after_meanwhile_and_hands_back_its_error() -> None:
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE prepared_probe (n int)")
    done: list[str] = []

    def meanwhile() -> None:
        done.append("meanwhile")
        raise OSError(5, "Input/output error")

    row, failure = run_prepared(raw(), "INSERT INTO prepared_probe VALUES (%s) RETURNING n", [7], meanwhile)
    assert done == ["meanwhile"]
    assert row == (b"7",)
    assert isinstance(failure, OSError)
    with connection.cursor() as cursor:  # the statement committed all the same
        cursor.execute("SELECT n FROM prepared_probe")
        assert cursor.fetchall() == [(7,)]
        cursor.execute("DROP TABLE prepared_probe")


def test_it_raises_the_servers_error_and_the_connection_goes_on() -> None:
    with pytest.raises(psycopg.errors.DivisionByZero):
        run_prepared(raw(), "SELECT 1 / %s::int", [0])
    assert run_prepared(raw(), "SELECT 1 / %s::int", [1]) == ((b"1",), None)


def test_it_calls_a_connection_lost_under_it_an_operational_error(private_postgres: PrivateCluster) -> None:
    """libpq reports a connection lost with no word from the server (its backend killed) as an error result
    without SQLSTATE, which psycopg names a bare DatabaseError; ingest must hear "unavailable", not "refused"."""
    with private_postgres.connect("postgres") as lost:
        os.kill(lost.info.backend_pid, signal.SIGKILL)
        with pytest.raises(psycopg.OperationalError, match="server closed the connection"):
            run_prepared(lost, "SELECT %s::int", [1])  # type: ignore[arg-type]
