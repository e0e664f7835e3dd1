"""Export a database as a ``.sql`` file with ``mariadb-dump``.

The dump is taken with ``--single-transaction`` (a consistent InnoDB snapshot that does not block
writers) and includes routines, triggers and events. The account's password is handed to
``mariadb-dump`` in a private defaults file (mode 0600, deleted afterwards), never on the command
line where ``ps`` would show it; ``--defaults-file`` also keeps the machine's ``my.cnf`` from
changing what is dumped.

This is the DBA's human-readable export; snaps are initialised by the hub's own snapshot, not by
this file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

from . import db
from .config import DbSettings, ExportSettings

#: Options from the issue: consistent, complete and with the GTID position.
DUMP_OPTIONS = ["--single-transaction", "--routines", "--triggers", "--events", "--gtid"]


class ExportError(RuntimeError):
    """The dump could not be produced; the message says why (missing tool, server error...)."""


@dataclass(frozen=True)
class Dump:
    """A finished dump."""

    database: str
    data: bytes
    command: str  # for display, without the password

    @property
    def file_name(self) -> str:
        return f"{self.database}.sql"


def _defaults_file(settings: DbSettings) -> str:
    def esc(value: str) -> str:
        # Option-file values may be quoted; backslash and quote are escaped inside quotes.
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = ["[client]", f"user={esc(settings.user)}", f"password={esc(settings.password)}"]
    if settings.socket:
        lines.append(f"socket={esc(settings.socket)}")
    else:
        lines += [f"host={esc(settings.host)}", f"port={settings.port}", "protocol=TCP"]
    fd, path = tempfile.mkstemp(prefix="starsync-dump-", suffix=".cnf")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)
    return path


def find_dump_tool(export: ExportSettings) -> str:
    """Absolute path of ``mariadb-dump``, or :class:`ExportError` saying how to get it."""
    path = shutil.which(export.mariadb_dump)
    if not path:
        raise ExportError(
            f"{export.mariadb_dump!r} was not found on PATH: install the MariaDB client"
            " (Debian: apt-get install mariadb-client) or set [export] mariadb_dump in the"
            " config file to its full path"
        )
    return path


def dump_database(
    settings: DbSettings, export: ExportSettings, database: str, *, timeout: float = 3600
) -> Dump:
    """Run ``mariadb-dump`` for ``database`` and return the SQL text as bytes."""
    if not database:
        raise ExportError("no database chosen")
    tool = find_dump_tool(export)
    defaults = _defaults_file(settings)
    try:
        args = [tool, f"--defaults-file={defaults}", *DUMP_OPTIONS, "--databases", database]
        try:
            proc = subprocess.run(args, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise ExportError(f"mariadb-dump of {database} did not finish within {timeout:.0f} s") from None
        except OSError as e:
            raise ExportError(f"cannot run {tool}: {e}") from None
    finally:
        os.unlink(defaults)
    shown = " ".join([os.path.basename(tool), *DUMP_OPTIONS, "--databases", database])
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip() or f"exit code {proc.returncode}"
        raise ExportError(f"mariadb-dump failed for {database} ({settings.describe()}): {message}")
    return Dump(database=database, data=proc.stdout, command=shown)


def exportable_databases(conn) -> list[str]:
    """Databases a DBA would export: every schema except the system ones."""
    rows = db.query(conn, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME")
    return [r[0] for r in rows if not db.is_system_schema(r[0])]
