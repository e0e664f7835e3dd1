"""Recent conflicts from ``starsync.conflicts``, written by the hub and only read here.

A conflict is recorded when an incoming change's before-image differs from the master's row (or a
unique key collides); the hub applies it anyway. Each record carries the master's image and the
incoming before/after images as JSON. The table does not exist until the hub creates it, which is
not an error for the GUI: :func:`recent` then returns ``None``.
"""

from __future__ import annotations

import json
from typing import Any

import pymysql

from . import db

TABLE = f"{db.BOOKKEEPING_SCHEMA}.conflicts"

_ER_BAD_DB = 1049
_ER_NO_SUCH_TABLE = 1146


def _json(value: Any) -> Any:
    """MariaDB's JSON is text; decode it, leaving anything undecodable as the raw text."""
    if value is None or not isinstance(value, (str, bytes)):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def recent(conn: pymysql.connections.Connection, limit: int = 50) -> list[dict] | None:
    """Newest conflicts first, JSON columns decoded; ``None`` when the table does not exist."""
    try:
        rows = db.query_dicts(
            conn,
            "SELECT id, detected_at, schema_name, table_name, kind, row_key, origin_node,"
            f" origin_gtid, master_image, incoming_before, incoming_after FROM {TABLE}"
            " ORDER BY id DESC LIMIT %s",
            (int(limit),),
        )
    except db.DbError as e:
        if e.code in (_ER_BAD_DB, _ER_NO_SUCH_TABLE):
            return None
        raise
    for row in rows:
        for col in ("row_key", "master_image", "incoming_before", "incoming_after"):
            row[col] = _json(row[col])
    return rows


def compare_images(conflict: dict) -> list[dict]:
    """One row per column: the master's value, the incoming before and after values.

    ``differs`` marks columns where the master's image and the incoming before-image disagree,
    i.e. what made this a conflict.
    """
    images = {
        "master": conflict.get("master_image"),
        "incoming_before": conflict.get("incoming_before"),
        "incoming_after": conflict.get("incoming_after"),
    }
    columns: list[str] = []
    for image in images.values():
        if isinstance(image, dict):
            columns += [c for c in image if c not in columns]
    missing = object()
    out = []
    for col in columns:
        values = {
            name: (image.get(col, missing) if isinstance(image, dict) else missing)
            for name, image in images.items()
        }
        row = {"column": col}
        for name, value in values.items():
            row[name] = None if value is missing else json.dumps(value, ensure_ascii=False)
        row["differs"] = values["master"] != values["incoming_before"]
        out.append(row)
    return out
