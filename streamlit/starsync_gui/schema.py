"""The master's schema: what is there, and the DDL the Schema page builds.

Reading uses ``information_schema`` (row counts are InnoDB's estimates, as ``TABLE_ROWS`` says).
The builders only produce SQL text; the page runs it through :mod:`starsync_gui.executor` so that
DDL is shown, timed and written to the query log exactly like a statement typed in the console.

DDL runs on the master only, and the hub carries it to every snap in hub order. Replication
applies row changes by primary key, so :func:`create_table_sql` reports a table without one, and
the drop builders refuse the system and bookkeeping schemas outright.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pymysql

from . import db

#: Column types offered first in the form; any other type can be typed in.
COMMON_TYPES = [
    "BIGINT",
    "INT",
    "VARCHAR(255)",
    "TEXT",
    "DECIMAL(12,2)",
    "DATETIME(6)",
    "TIMESTAMP(6)",
    "DATE",
    "DOUBLE",
    "BOOLEAN",
    "JSON",
    "BLOB",
]

# A column type as written in DDL: a name, optional (args), optional attributes such as UNSIGNED
# or CHARACTER SET x. Deliberately permissive, but no statement separators or comments.
_TYPE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\s*\([^;`#]*\))?(\s+[A-Za-z0-9_]+)*$")
_FORBIDDEN_IN_TYPE = (";", "--", "/*", "#", "`")


class SchemaError(ValueError):
    """The requested DDL is refused (bad name, system schema, nothing to create...)."""


@dataclass(frozen=True)
class ColumnSpec:
    """One column of the create-table form."""

    name: str
    type: str
    nullable: bool = True
    primary_key: bool = False
    auto_increment: bool = False
    default: str = ""  # SQL expression or literal as typed; empty: no DEFAULT clause


@dataclass(frozen=True)
class TableDraft:
    """A create-table statement and what the page should warn about."""

    sql: str
    has_primary_key: bool


def list_databases(conn: pymysql.connections.Connection) -> list[dict]:
    """Every schema with its table count and size; system ones flagged."""
    rows = db.query_dicts(
        conn,
        "SELECT s.SCHEMA_NAME AS name, s.DEFAULT_CHARACTER_SET_NAME AS charset,"
        " s.DEFAULT_COLLATION_NAME AS collation, COUNT(t.TABLE_NAME) AS tables,"
        " COALESCE(SUM(t.DATA_LENGTH + t.INDEX_LENGTH), 0) AS bytes"
        " FROM information_schema.SCHEMATA s"
        " LEFT JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = s.SCHEMA_NAME"
        " GROUP BY s.SCHEMA_NAME, s.DEFAULT_CHARACTER_SET_NAME, s.DEFAULT_COLLATION_NAME"
        " ORDER BY s.SCHEMA_NAME",
    )
    for row in rows:
        row["system"] = db.is_system_schema(row["name"])
        row["tables"] = int(row["tables"])
        row["bytes"] = int(row["bytes"])
    return rows


def list_tables(conn: pymysql.connections.Connection, database: str) -> list[dict]:
    """Tables and views of ``database`` with engine, estimated rows, size and primary key."""
    rows = db.query_dicts(
        conn,
        "SELECT t.TABLE_NAME AS name, t.TABLE_TYPE AS type, t.ENGINE AS engine,"
        " t.TABLE_ROWS AS rows_estimate, t.DATA_LENGTH + t.INDEX_LENGTH AS bytes,"
        " t.TABLE_COLLATION AS collation,"
        " EXISTS (SELECT 1 FROM information_schema.TABLE_CONSTRAINTS c"
        "   WHERE c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME"
        "   AND c.CONSTRAINT_TYPE = 'PRIMARY KEY') AS has_primary_key"
        " FROM information_schema.TABLES t WHERE t.TABLE_SCHEMA = %s ORDER BY t.TABLE_NAME",
        (database,),
    )
    for row in rows:
        row["has_primary_key"] = bool(row["has_primary_key"])
    return rows


def list_columns(conn: pymysql.connections.Connection, database: str, table: str) -> list[dict]:
    """Columns of one table in definition order."""
    return db.query_dicts(
        conn,
        "SELECT COLUMN_NAME AS name, COLUMN_TYPE AS type, IS_NULLABLE AS nullable,"
        " COLUMN_KEY AS `key`, COLUMN_DEFAULT AS `default`, EXTRA AS extra"
        " FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s"
        " ORDER BY ORDINAL_POSITION",
        (database, table),
    )


def _check_type(column: str, type_: str) -> str:
    t = type_.strip()
    if not t:
        raise SchemaError(f"column {column!r}: type is empty")
    if any(bad in t for bad in _FORBIDDEN_IN_TYPE) or not _TYPE_RE.match(t):
        raise SchemaError(f"column {column!r}: {t!r} does not look like a column type")
    return t


def create_database_sql(name: str, charset: str = "utf8mb4", collation: str = "") -> str:
    """``CREATE DATABASE`` for ``name``."""
    try:
        quoted = db.quote_identifier(name)
    except ValueError as e:
        raise SchemaError(f"database name: {e}") from None
    if db.is_system_schema(name):
        raise SchemaError(f"{name!r} is a system schema")
    if not re.fullmatch(r"[A-Za-z0-9_]+", charset):
        raise SchemaError(f"character set {charset!r} is not a charset name")
    sql = f"CREATE DATABASE {quoted} CHARACTER SET {charset}"
    if collation:
        if not re.fullmatch(r"[A-Za-z0-9_]+", collation):
            raise SchemaError(f"collation {collation!r} is not a collation name")
        sql += f" COLLATE {collation}"
    return sql


def create_table_sql(
    database: str,
    table: str,
    columns: list[ColumnSpec],
    *,
    engine: str = "InnoDB",
    charset: str = "utf8mb4",
) -> TableDraft:
    """``CREATE TABLE`` from the form; columns with an empty name are ignored."""
    try:
        qualified = f"{db.quote_identifier(database)}.{db.quote_identifier(table)}"
    except ValueError as e:
        raise SchemaError(f"table name: {e}") from None
    if db.is_system_schema(database):
        raise SchemaError(f"{database!r} is a system schema: create tables in your own databases")
    cols = [c for c in columns if c.name.strip()]
    if not cols:
        raise SchemaError("a table needs at least one column")
    seen: set[str] = set()
    lines, pk = [], []
    for c in cols:
        name = c.name.strip()
        if name.lower() in seen:
            raise SchemaError(f"column {name!r} appears twice")
        seen.add(name.lower())
        try:
            parts = [db.quote_identifier(name), _check_type(name, c.type)]
        except ValueError as e:
            raise SchemaError(f"column name: {e}") from None
        parts.append("NULL" if c.nullable and not c.primary_key else "NOT NULL")
        if c.default.strip():
            if any(bad in c.default for bad in (";", "--", "/*", "#")):
                raise SchemaError(f"column {name!r}: default {c.default!r} is not a plain value")
            parts.append(f"DEFAULT {c.default.strip()}")
        if c.auto_increment:
            parts.append("AUTO_INCREMENT")
        lines.append(" ".join(parts))
        if c.primary_key:
            pk.append(db.quote_identifier(name))
    if pk:
        lines.append(f"PRIMARY KEY ({', '.join(pk)})")
    if not re.fullmatch(r"[A-Za-z0-9_]+", engine):
        raise SchemaError(f"engine {engine!r} is not an engine name")
    if not re.fullmatch(r"[A-Za-z0-9_]+", charset):
        raise SchemaError(f"character set {charset!r} is not a charset name")
    body = ",\n  ".join(lines)
    sql = f"CREATE TABLE {qualified} (\n  {body}\n) ENGINE={engine} DEFAULT CHARSET={charset}"
    return TableDraft(sql, bool(pk))


def drop_table_sql(database: str, table: str) -> str:
    """``DROP TABLE``; refused in system schemas."""
    if db.is_system_schema(database):
        raise SchemaError(f"refusing to drop a table in the system schema {database!r}")
    try:
        return f"DROP TABLE {db.quote_identifier(database)}.{db.quote_identifier(table)}"
    except ValueError as e:
        raise SchemaError(f"table name: {e}") from None


def drop_database_sql(database: str) -> str:
    """``DROP DATABASE``; refused for system schemas."""
    if db.is_system_schema(database):
        raise SchemaError(f"refusing to drop the system schema {database!r}")
    try:
        return f"DROP DATABASE {db.quote_identifier(database)}"
    except ValueError as e:
        raise SchemaError(f"database name: {e}") from None
