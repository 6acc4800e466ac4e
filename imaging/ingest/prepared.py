"""One prepared statement on PostgreSQL, with other work done while the server runs it.

psycopg sends a statement and waits for its answer in one call. The listener
has a file to flush in the meantime (`imaging.listener.flushing`), so this sends the
statement through libpq (psycopg's `pgconn`), calls `meanwhile`, then reads the
answer. Parameters go as text, which the server reads by the types it inferred
when it prepared the statement; that is also cheaper than psycopg's adapters.
"""

import datetime as dt
import select
import weakref
from collections.abc import Callable, Sequence

import psycopg
from psycopg import pq
from psycopg.errors import error_from_result

Value = str | int | float | bool | dt.date | dt.time | dt.datetime | bytes | None
Row = tuple[bytes | None, ...]

_prepared: "weakref.WeakKeyDictionary[psycopg.Connection[object], dict[str, bytes]]" = weakref.WeakKeyDictionary()


def run_prepared(
    conn: "psycopg.Connection[object]",
    sql: str,
    params: Sequence[Value],
    meanwhile: Callable[[], None] | None = None,
) -> tuple[Row | None, BaseException | None]:
    """The statement's first row (as bytes, None for NULL), and what `meanwhile` raised, if it did.

    `sql` has psycopg's `%s` placeholders, one per parameter.
    The statement runs whatever `meanwhile` does; its error is returned, not
    raised, as the statement has committed in autocommit. Database errors are
    psycopg's, raised after the whole answer is read.
    """
    pgconn = conn.pgconn
    name = _prepare(conn, sql)
    formats = [1 if isinstance(value, bytes) else 0 for value in params]  # bytes go as they are (bytea)
    pgconn.send_query_prepared(name, [_text(value) for value in params], formats if any(formats) else None)
    _send_all(pgconn)
    failure: BaseException | None = None
    if meanwhile is not None:
        try:
            meanwhile()
        except Exception as error:  # noqa: BLE001 - handed back to the caller, after the answer
            failure = error
    return _first_row(pgconn, conn), failure


def _prepare(conn: "psycopg.Connection[object]", sql: str) -> bytes:
    names = _prepared.setdefault(conn, {})
    name = names.get(sql)
    if name is None:
        name = f"efilm_{len(names)}".encode()
        first, *rest = sql.split("%s")  # psycopg's placeholders, as libpq numbers them
        numbered = first + "".join(f"${number}{part}" for number, part in enumerate(rest, 1))
        result = conn.pgconn.prepare(name, numbered.encode())
        _raise_if_failed(result, conn)
        names[sql] = name
    return name


def _text(value: Value) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    if value is True or value is False:
        return b"t" if value else b"f"
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat().encode()
    if isinstance(value, float):
        return repr(value).encode()  # nan and inf included, as PostgreSQL reads them
    return str(value).encode()


def _send_all(pgconn: pq.abc.PGconn) -> None:
    while pgconn.flush():  # a nonblocking connection: what the socket did not take yet
        _wait(pgconn, select.POLLOUT)


def _first_row(pgconn: pq.abc.PGconn, conn: "psycopg.Connection[object]") -> Row | None:
    row: Row | None = None
    failed: pq.abc.PGresult | None = None
    while True:
        try:
            pgconn.consume_input()
            while pgconn.is_busy():
                _wait(pgconn, select.POLLIN)
                pgconn.consume_input()
        except psycopg.OperationalError:
            if failed is None or not _sqlstate(failed):
                raise
            break  # the server said why before it closed the connection (a shutdown, 57P01): raise that
        result = pgconn.get_result()
        if result is None:
            break
        if result.status == pq.ExecStatus.FATAL_ERROR:
            failed = failed or result
        elif result.status == pq.ExecStatus.TUPLES_OK and row is None and result.ntuples:
            row = tuple(result.get_value(0, column) for column in range(result.nfields))
    if failed is not None:
        _raise_if_failed(failed, conn)
    return row


def _raise_if_failed(result: pq.abc.PGresult | None, conn: "psycopg.Connection[object]") -> None:
    """The server's error as psycopg names it by its SQLSTATE; an error without one is libpq's own
    report of a lost connection, which psycopg would call a bare DatabaseError: an OperationalError."""
    if result is None:
        raise psycopg.OperationalError("the server sent no answer")
    if result.status != pq.ExecStatus.FATAL_ERROR:
        return
    if not _sqlstate(result):
        raise psycopg.OperationalError(result.get_error_message(conn.info.encoding).strip())
    raise error_from_result(result, encoding=conn.info.encoding)


def _sqlstate(result: pq.abc.PGresult) -> bytes | None:
    return result.error_field(pq.DiagnosticField.SQLSTATE)


def _wait(pgconn: pq.abc.PGconn, event: int) -> None:
    poll = select.poll()
    poll.register(pgconn.socket, event | select.POLLERR | select.POLLHUP)
    poll.poll()
