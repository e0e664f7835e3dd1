"""The master's query log: every statement the GUI executes, with who, how long and the outcome.

The table lives in ``starsync``, the master's non-replicated bookkeeping schema, and is created on
first use. Entries are written on a connection of their own, never on the DBA's session: a ``BEGIN``
... ``ROLLBACK`` typed into the console must not roll back its own log entries, and a log write
must not commit the DBA's open transaction.

That connection turns ``sql_log_bin`` off when the account may do so: the log is local
bookkeeping, and keeping it out of the binlog means it consumes no GTIDs of the master's domain
that the hub would otherwise have to skip. Without the privilege the writes are binlogged, which
is harmless because the hub never replicates ``starsync``.

A failure to write the log is reported to the caller (the page shows it) but never hides the
statement's own result.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
import pymysql

from . import db
from .config import DbSettings

TABLE = f"{db.BOOKKEEPING_SCHEMA}.query_log"

CREATE_SCHEMA = f"CREATE DATABASE IF NOT EXISTS {db.BOOKKEEPING_SCHEMA}"
CREATE_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    "id BIGINT AUTO_INCREMENT PRIMARY KEY,"
    " executed_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),"
    " user VARCHAR(128) NOT NULL,"
    " statement MEDIUMTEXT NOT NULL,"
    " duration_ms DOUBLE NOT NULL,"
    " rows_affected BIGINT NULL,"
    " outcome VARCHAR(16) NOT NULL,"
    " error TEXT NULL,"
    " KEY (executed_at))"
)

#: Values of the ``outcome`` column.
OK = "ok"
ERROR = "error"

# Server errors meaning "the schema or table is not there yet".
_ER_BAD_DB = 1049
_ER_NO_SUCH_TABLE = 1146


@dataclass(frozen=True)
class Entry:
    """One executed statement, as written to the log."""

    user: str
    statement: str
    duration_ms: float
    rows_affected: int | None
    outcome: str
    error: str | None = None


def ensure_table(conn: pymysql.connections.Connection) -> None:
    """Create ``starsync`` and the log table when absent."""
    with conn.cursor() as cur:
        cur.execute(CREATE_SCHEMA)
        cur.execute(CREATE_TABLE)


def _unbinlogged(conn: pymysql.connections.Connection) -> None:
    with conn.cursor() as cur, contextlib.suppress(pymysql.MySQLError):
        cur.execute("SET SESSION sql_log_bin = 0")


class QueryLog:
    """Writer for the log, holding one connection for the duration of a ``with`` block."""

    def __init__(self, settings: DbSettings) -> None:
        self._settings = settings
        self._stack = contextlib.ExitStack()
        self._conn: pymysql.connections.Connection | None = None
        self._ready = False

    def __enter__(self) -> "QueryLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _connection(self) -> pymysql.connections.Connection:
        if self._conn is None:
            self._conn = self._stack.enter_context(db.connect(self._settings))
            _unbinlogged(self._conn)
        return self._conn

    def record(self, entry: Entry) -> None:
        """Append ``entry``; raises :class:`db.DbError` when the log cannot be written."""
        try:
            conn = self._connection()
            if not self._ready:
                ensure_table(conn)
                self._ready = True
            with conn.cursor() as cur:
                cur.execute(
                    f"INSERT INTO {TABLE} (user, statement, duration_ms, rows_affected, outcome, error)"
                    " VALUES (%s, %s, %s, %s, %s, %s)",
                    (
                        entry.user[:128],
                        entry.statement,
                        entry.duration_ms,
                        entry.rows_affected,
                        entry.outcome,
                        entry.error,
                    ),
                )
        except pymysql.MySQLError as e:
            raise db.DbError(f"could not write the query log ({TABLE}): {db.server_message(e)}") from e


def search(
    conn: pymysql.connections.Connection,
    *,
    text: str = "",
    outcome: str | None = None,
    user: str = "",
    limit: int = 500,
) -> list[dict]:
    """Newest entries first; ``text`` matches statement or error, ``user`` matches the user.

    Returns an empty list when the log does not exist yet.
    """
    where, args = [], []
    if text:
        like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append("(statement LIKE %s OR error LIKE %s)")
        args += [like, like]
    if user:
        like = "%" + user.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append("user LIKE %s")
        args.append(like)
    if outcome:
        where.append("outcome = %s")
        args.append(outcome)
    sql = (
        "SELECT id, executed_at, user, statement, duration_ms, rows_affected, outcome, error"
        f" FROM {TABLE}" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC LIMIT %s"
    )
    args.append(int(limit))
    try:
        return db.query_dicts(conn, sql, tuple(args))
    except db.DbError as e:
        if e.code in (_ER_BAD_DB, _ER_NO_SUCH_TABLE):
            return []
        raise
