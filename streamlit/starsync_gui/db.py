"""Connections to the master's MariaDB and identifier handling.

Every Streamlit script run opens its own short-lived connections (:func:`connect` is a context
manager) instead of caching one: a pymysql connection is not thread-safe, Streamlit runs sessions
in threads, and a fresh connection per run means a statement left half-done by a closed browser tab
cannot leak into someone else's session. On localhost a connection costs about a millisecond.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import pymysql
import pymysql.cursors

from .config import DbSettings

#: Schemas that belong to the server or to starsync itself; the GUI never drops them.
SYSTEM_SCHEMAS = frozenset({"mysql", "information_schema", "performance_schema", "sys", "starsync"})

#: starsync's non-replicated bookkeeping schema on the master.
BOOKKEEPING_SCHEMA = "starsync"


class DbError(RuntimeError):
    """A database operation failed; ``str()`` is the server's own message where there is one.

    ``code`` is the server's error number when the failure came from the server.
    """

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


def server_message(exc: BaseException) -> str:
    """The error as the server gave it, e.g. ``(1064, "You have an error in your SQL syntax; ...")``.

    pymysql's ``str()`` of a server error is exactly the ``(code, "message")`` pair the server
    sent, which is what the DBA expects to see; anything else is prefixed with its type.
    """
    if isinstance(exc, pymysql.MySQLError) and exc.args and isinstance(exc.args[0], int):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def error_code(exc: BaseException) -> int | None:
    """The server's error number, if ``exc`` carries one."""
    if isinstance(exc, DbError):
        return exc.code
    if isinstance(exc, pymysql.MySQLError) and exc.args and isinstance(exc.args[0], int):
        return exc.args[0]
    return None


def is_system_schema(name: str) -> bool:
    """True for schemas the GUI must never drop (compared case-insensitively)."""
    return name.strip().lower() in SYSTEM_SCHEMAS


def quote_identifier(name: str) -> str:
    """Quote ``name`` as a MariaDB identifier (backticks, inner backticks doubled).

    Rejects names the server would reject anyway, with a clearer message: empty, longer than 64
    characters, ending in a space, or containing NUL.
    """
    if not name:
        raise ValueError("name is empty")
    if len(name) > 64:
        raise ValueError(f"name {name!r} is longer than 64 characters")
    if name != name.rstrip(" "):
        raise ValueError(f"name {name!r} ends with a space, which MariaDB does not allow")
    if "\0" in name:
        raise ValueError("name contains a NUL character")
    return "`" + name.replace("`", "``") + "`"


@contextlib.contextmanager
def connect(
    settings: DbSettings, *, database: str | None = None, autocommit: bool = True
) -> Iterator[pymysql.connections.Connection]:
    """Open a connection to the master, closed when the block ends.

    ``autocommit`` is on, as in the ``mariadb`` client: each statement of the console commits on
    its own unless the DBA writes ``BEGIN`` ... ``COMMIT`` in one run.
    """
    kwargs = dict(
        user=settings.user,
        password=settings.password,
        database=database or None,
        charset="utf8mb4",
        autocommit=autocommit,
        connect_timeout=settings.connect_timeout,
        cursorclass=pymysql.cursors.Cursor,
    )
    if settings.socket:
        kwargs["unix_socket"] = settings.socket
    else:
        kwargs["host"] = settings.host
        kwargs["port"] = settings.port
    try:
        conn = pymysql.connect(**kwargs)
    except pymysql.MySQLError as e:
        raise DbError(
            f"cannot connect to MariaDB at {settings.describe()}: {server_message(e)}", error_code(e)
        ) from e
    try:
        yield conn
    finally:
        with contextlib.suppress(Exception):
            conn.close()


def query(conn: pymysql.connections.Connection, sql: str, args: tuple | dict | None = None) -> list[tuple]:
    """Run a read query and return all rows; server errors become :class:`DbError`."""
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())
    except pymysql.MySQLError as e:
        raise DbError(server_message(e), error_code(e)) from e


def query_dicts(
    conn: pymysql.connections.Connection, sql: str, args: tuple | dict | None = None
) -> list[dict]:
    """Run a read query and return rows as dicts keyed by column name."""
    try:
        with conn.cursor(pymysql.cursors.DictCursor) as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())
    except pymysql.MySQLError as e:
        raise DbError(server_message(e), error_code(e)) from e


def server_info(conn: pymysql.connections.Connection) -> dict:
    """Identity of the connected server: version, ids and binlog position."""
    rows = query_dicts(
        conn,
        "SELECT @@version AS version, @@hostname AS hostname, @@port AS port,"
        " @@server_id AS server_id, @@gtid_domain_id AS gtid_domain_id,"
        " @@gtid_binlog_pos AS gtid_binlog_pos, @@log_bin AS log_bin,"
        " @@binlog_format AS binlog_format, CURRENT_USER() AS account",
    )
    return rows[0]
