"""Run a script of SQL statements on the master, one by one, and log each to the query log.

All statements of one run share a session, so ``USE db; SELECT ...`` or ``BEGIN; ...; COMMIT``
work as in the ``mariadb`` client; a new run starts a new session. Result sets are read with an
unbuffered cursor: at most ``max_rows`` rows are kept for display while the rest are counted and
discarded, so ``SELECT * FROM big_table`` reports its true row count without holding the table in
memory. Execution stops at the first error unless ``continue_on_error`` is set; statements that
were not executed are not logged.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import time
from dataclasses import dataclass, field

import pandas as pd
import pymysql
import pymysql.cursors

from . import db, querylog, splitter
from .config import DbSettings

# The server's "rows affected" for statements that return a result set.
_NO_ROWCOUNT = {-1, 2**64 - 1}
# Client-side errors after which the session is gone and later statements cannot run.
_CONNECTION_LOST = {2006, 2013, 2014, 2055}


@dataclass
class ResultSet:
    """Rows returned by a statement (only the first ``max_rows`` are kept)."""

    columns: list[str]
    rows: list[tuple]
    row_count: int

    @property
    def truncated(self) -> bool:
        return self.row_count > len(self.rows)


@dataclass
class StatementResult:
    """What happened to one statement."""

    statement: splitter.Statement
    duration_ms: float = 0.0
    result_sets: list[ResultSet] = field(default_factory=list)
    affected_rows: int | None = None
    error: str | None = None
    warnings: list[tuple] = field(default_factory=list)
    #: Set when the statement ran but its query-log entry could not be written.
    log_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def rows(self) -> int | None:
        """Rows returned (for result sets) or affected (for changes), as logged."""
        if self.result_sets:
            return sum(r.row_count for r in self.result_sets)
        return self.affected_rows


def _unique_columns(names: list[str]) -> list[str]:
    """``SELECT 1, 1`` has two columns named ``1``; a dataframe needs distinct names."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        if name in seen:
            seen[name] += 1
            candidate = f"{name} ({seen[name]})"
            while candidate in seen:
                seen[name] += 1
                candidate = f"{name} ({seen[name]})"
            seen[candidate] = 1
            out.append(candidate)
        else:
            seen[name] = 1
            out.append(name)
    return out


def _read_result(cur: pymysql.cursors.SSCursor, max_rows: int) -> ResultSet:
    columns = _unique_columns([d[0] for d in cur.description])
    rows = list(cur.fetchmany(max_rows))
    count = len(rows)
    if count == max_rows:
        # Drain (and count) the rest so the session can go on.
        while True:
            chunk = cur.fetchmany(10_000)
            if not chunk:
                break
            count += len(chunk)
    return ResultSet(columns, rows, count)


def _execute_one(
    conn: pymysql.connections.Connection, stmt: splitter.Statement, max_rows: int
) -> StatementResult:
    result = StatementResult(stmt)
    warning_count = 0
    started = time.perf_counter()
    cur = conn.cursor(pymysql.cursors.SSCursor)
    try:
        cur.execute(stmt.text)
        while True:
            if cur.description:
                result.result_sets.append(_read_result(cur, max_rows))
            elif cur.rowcount not in _NO_ROWCOUNT:
                # For CALL, the last "set" is the procedure's status: keep its count.
                result.affected_rows = cur.rowcount
            warning_count += cur.warning_count or 0
            if not cur.nextset():
                break
    except pymysql.MySQLError as e:
        result.error = db.server_message(e)
    finally:
        result.duration_ms = (time.perf_counter() - started) * 1000.0
        try:
            cur.close()
        except pymysql.MySQLError:
            pass
    if result.ok and warning_count:
        try:
            result.warnings = list(conn.show_warnings())
        except pymysql.MySQLError:
            pass
    return result


@dataclass
class Run:
    """A whole console run: the statements found and the results of those executed."""

    planned: int
    results: list[StatementResult]

    @property
    def stopped_early(self) -> bool:
        return len(self.results) < self.planned


def run_script(
    settings: DbSettings,
    script: str,
    *,
    user: str,
    database: str | None = None,
    max_rows: int = 10_000,
    continue_on_error: bool = False,
) -> Run:
    """Split ``script``, run each statement on one session and log it.

    Raises :class:`splitter.SplitError` for an unterminated quote or comment (nothing runs) and
    :class:`db.DbError` when the master cannot be reached.
    """
    statements = splitter.split_statements(script)
    results: list[StatementResult] = []
    if not statements:
        return Run(0, results)
    with db.connect(settings, database=database) as conn, querylog.QueryLog(settings) as log:
        for stmt in statements:
            res = _execute_one(conn, stmt, max_rows)
            results.append(res)
            try:
                log.record(
                    querylog.Entry(
                        user=user,
                        statement=stmt.text,
                        duration_ms=res.duration_ms,
                        rows_affected=res.rows,
                        outcome=querylog.OK if res.ok else querylog.ERROR,
                        error=res.error,
                    )
                )
            except db.DbError as e:
                res.log_error = str(e)
            if not res.ok:
                lost = res.error and any(res.error.startswith(f"({code},") for code in _CONNECTION_LOST)
                if lost or not continue_on_error:
                    break
    return Run(len(statements), results)


def _display_value(value: object) -> object:
    """Values the dataframe widget shows faithfully (Arrow cannot mix bytes/Decimal/None well)."""
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return "0x" + bytes(value).hex()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, _dt.timedelta):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return ",".join(sorted(value))
    return value


def to_dataframe(result: ResultSet) -> pd.DataFrame:
    """The kept rows of ``result`` as a dataframe with the server's column names."""
    rows = [tuple(_display_value(v) for v in row) for row in result.rows]
    return pd.DataFrame.from_records(rows, columns=result.columns)
