"""Test harness: real MariaDB servers, a stand-in hub, free ports and child-process hygiene.

Every process started here is tied to the test run twice over: fixtures stop it by pid at
teardown (also when a test fails), and ``PR_SET_PDEATHSIG`` makes the kernel send it SIGTERM if
pytest itself dies, so nothing is left running either way.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import pymysql

_PR_SET_PDEATHSIG = 1


# Resolved here, in the parent: after fork only the (already looked-up) call itself runs, since a
# dlopen in the child could deadlock on a lock held by another thread of pytest.
_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_PRCTL = _LIBC.prctl


def _die_with_parent() -> None:  # runs in the child between fork and exec
    _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


def popen(args: list[str], **kwargs: Any) -> subprocess.Popen:
    """``subprocess.Popen`` whose child gets SIGTERM when this process dies."""
    return subprocess.Popen(args, preexec_fn=_die_with_parent, **kwargs)


def stop_process(proc: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM ``proc`` (by pid), wait, then SIGKILL if it is still there."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def eventually(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Call ``check`` until it returns a truthy value; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - remembered for the failure message
            last_error = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}: {last_error!r}")


class MariaDB:
    """One MariaDB server with its own datadir, socket and port under ``base``."""

    ROOT = os.geteuid() == 0

    def __init__(self, base: Path, name: str, server_id: int) -> None:
        self.base = base / name
        self.name = name
        self.server_id = server_id
        self.datadir = self.base / "data"
        self.socket = str(self.base / "mysqld.sock")
        self.port = 0
        self.proc: subprocess.Popen | None = None

    def start(self) -> "MariaDB":
        for tool in ("mariadb-install-db", "mariadbd"):
            if not shutil.which(tool) and not Path("/usr/sbin", tool).exists():
                raise AssertionError(f"{tool} not found: apt-get install mariadb-server mariadb-client")
        self.base.mkdir(parents=True)
        # A tmpdir of its own: a starting server deletes every `#sql…` file in its tmpdir, so
        # servers sharing /tmp would remove each other's live temporary tables.
        tmp = self.base / "tmp"
        tmp.mkdir()
        user = ["--user=root"] if self.ROOT else []
        install = subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={self.datadir}",
                f"--tmpdir={tmp}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                *user,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if install.returncode != 0:
            raise AssertionError(
                f"mariadb-install-db failed for {self.name}:\n{install.stdout}\n{install.stderr}"
            )
        self.port = free_port()
        mariadbd = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
        self.log = self.base / "error.log"
        self.proc = popen(
            [
                mariadbd,
                "--no-defaults",
                f"--datadir={self.datadir}",
                f"--tmpdir={tmp}",
                f"--socket={self.socket}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                "--log-bin=mariadb-bin",
                "--binlog-format=ROW",
                "--binlog-row-image=FULL",
                "--binlog-row-metadata=FULL",
                "--gtid-strict-mode=ON",
                f"--server-id={self.server_id}",
                f"--gtid-domain-id={self.server_id}",
                "--character-set-server=utf8mb4",
                f"--log-error={self.log}",
                f"--pid-file={self.base / 'mariadbd.pid'}",
                "--innodb-buffer-pool-size=64M",
                *user,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            eventually(self._answers, 60, f"MariaDB {self.name} on port {self.port}")
        except AssertionError:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else "(no log)"
            self.stop()
            raise AssertionError(f"MariaDB {self.name} did not start; error log tail:\n{log}") from None
        return self

    def _answers(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"mariadbd exited with {self.proc.returncode}")
        with self.root() as conn:
            conn.ping()
        return True

    def root(self, database: str | None = None) -> pymysql.connections.Connection:
        """A root connection over the socket (autocommit)."""
        return pymysql.connect(
            unix_socket=self.socket,
            user="root",
            password="",
            database=database,
            autocommit=True,
            charset="utf8mb4",
        )

    def execute(self, *statements: str, database: str | None = None) -> list[tuple]:
        """Run statements as root; return the rows of the last one."""
        with self.root(database) as conn, conn.cursor() as cur:
            rows: list[tuple] = []
            for sql in statements:
                cur.execute(sql)
                rows = list(cur.fetchall())
            return rows

    def query(self, sql: str, args: tuple = (), database: str | None = None) -> list[tuple]:
        """One parameterised statement as root; its rows."""
        with self.root(database) as conn, conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=30)
            self.proc = None


@dataclass
class SeenRequest:
    """One request the stand-in hub got."""

    method: str
    path: str  # without the query
    query: str  # as sent, still URL-encoded
    params: dict[str, str]  # the query decoded
    body: bytes


class StandInHub:
    """A tiny real HTTP server playing the hub: ``/status`` from ``payload``/``status_code``, and
    any other endpoint (``GET /verify``, ``POST /repair``) once given an :meth:`answer`; other
    paths get 404, other POSTs 405, as an old hub would say. Every request is kept in ``seen``."""

    def __init__(self) -> None:
        self.payload: Any = None  # dict -> JSON; str/bytes -> sent as is
        self.status_code = 200
        self.requests = 0  # GET /status requests
        self.answers: dict[tuple[str, str], tuple[int, Any]] = {}
        self.seen: list[SeenRequest] = []
        #: When set, requests without ``Authorization: Bearer <token>`` get the hub's 401.
        self.token = ""
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server naming
                self._serve("GET")

            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                self._serve("POST")

            def _serve(self, method: str) -> None:
                path, _, query = self.path.partition("?")
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
                hub.seen.append(SeenRequest(method, path, query, params, body))
                if hub.token and self.headers.get("Authorization") != f"Bearer {hub.token}":
                    self._send(401, "this hub's HTTP endpoint asks for its token\n", "text/plain")
                elif (method, path) == ("GET", "/status"):
                    hub.requests += 1
                    self._send(hub.status_code, hub.payload, "application/json")
                elif (method, path) in hub.answers:
                    code, answer = hub.answers[(method, path)]
                    kind = "application/json" if isinstance(answer, (dict, list)) else "text/plain"
                    self._send(code, answer, kind)
                elif method == "POST":
                    self._send(405, "only /repair takes POST\n", "text/plain")
                else:
                    self._send(404, "not found\n", "text/plain")

            def _send(self, code: int, body: Any, kind: str) -> None:
                if isinstance(body, (dict, list)):
                    body = json.dumps(body)
                data = body.encode() if isinstance(body, str) else (body or b"")
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/status"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, method: str, path: str, body: Any, status: int = 200) -> None:
        """Serve ``body`` (dict/list as JSON, text as text/plain) with ``status`` at ``method path``."""
        self.answers[(method, path)] = (status, body)

    def calls(self, method: str, path: str) -> list[SeenRequest]:
        """The requests of ``method path`` received so far."""
        return [r for r in self.seen if (r.method, r.path) == (method, path)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def sample_status(**overrides: Any) -> dict:
    """A status document shaped like the hub's, with a master and two snaps."""
    status = {
        "hub": {
            "node": "master",
            "server_id": 1,
            "domain_id": 1,
            "gtid_binlog_pos": "1-1-10,2-2-5",
            "started_at": "2026-11-26T14:00:00Z",
            "version": "0.1.0",
        },
        "nodes": [
            {
                "name": "master",
                "role": "master",
                "server_id": 1,
                "domain_id": 1,
                "connected": True,
                "connected_since": None,
                "address": "127.0.0.1:3306",
                "gtid_pos": "1-1-10,2-2-5",
                "txns_behind": 0,
                "lag_ms": 0,
                "capture_lag_ms": None,
                "txn_per_sec": 1.5,
                "rows_per_sec": 10.0,
                "bytes_queued": 0,
                "conflicts": 0,
                "ddl_drift": 0,
                "last_error": None,
            },
            {
                "name": "snap1",
                "role": "snap",
                "server_id": 2,
                "domain_id": 2,
                "connected": True,
                "connected_since": "2026-11-26T14:00:05Z",
                "address": "127.0.0.1:3307",
                "gtid_pos": "1-1-9,2-2-5",
                "txns_behind": 1,
                "lag_ms": 120,
                "capture_lag_ms": 15,
                "txn_per_sec": 1.4,
                "rows_per_sec": 9.0,
                "bytes_queued": 512,
                "conflicts": 1,
                "ddl_drift": 0,
                "last_error": None,
            },
            {
                "name": "snap2",
                "role": "snap",
                "server_id": 3,
                "domain_id": 3,
                "connected": False,
                "connected_since": None,
                "address": None,
                "gtid_pos": None,
                "txns_behind": None,
                "lag_ms": None,
                "capture_lag_ms": None,
                "txn_per_sec": None,
                "rows_per_sec": None,
                "bytes_queued": None,
                "conflicts": None,
                "ddl_drift": None,
                "last_error": "agent disconnected: connection reset",
            },
        ],
        "conflicts_total": 1,
    }
    status.update(overrides)
    return status


def sample_verify(equal: bool = True, **overrides: Any) -> dict:
    """A ``/verify`` answer shaped like the hub's: the master and snap1 took part, snap2 (down)
    did not. Not equal: snap1's rows of MOST.customers differ, MOST.orders is missing there and
    MOST.notes is defined differently."""
    master_tables = {
        "`MOST`.`customers`": 123,
        "`MOST`.`customers` (definition)": 9001,
        "`MOST`.`orders`": 77,
        "`MOST`.`orders` (definition)": 9002,
        "`MOST`.`notes`": 5,
        "`MOST`.`notes` (definition)": 9003,
    }
    snap_tables = dict(master_tables)
    differences: list[dict] = []
    if not equal:
        snap_tables["`MOST`.`customers`"] = 456
        snap_tables["`MOST`.`orders`"] = None
        snap_tables["`MOST`.`orders` (definition)"] = None
        snap_tables["`MOST`.`notes` (definition)"] = -9223372036854775807
        differences = [
            {"table": "`MOST`.`customers`", "node": "snap1", "expected": 123, "actual": 456},
            {"table": "`MOST`.`notes` (definition)", "node": "snap1", "expected": 9003,
             "actual": -9223372036854775807},
            {"table": "`MOST`.`orders`", "node": "snap1", "expected": 77, "actual": None},
        ]
    doc = {
        "equal": equal,
        "master_pos": "1-1-5",
        "position_equal": True,
        "attempts": 1,
        "nodes": [
            {"name": "master", "gtid_pos": "1-1-5", "tables": master_tables, "error": None},
            {"name": "snap1", "gtid_pos": "1-1-5", "tables": snap_tables, "error": None},
        ],
        "differences": differences,
        "missing": [] if equal else ["snap2"],
    }
    if not equal:
        doc["nodes"].append({"name": "snap2", "gtid_pos": "", "tables": {}, "error": "not connected"})
    doc.update(overrides)
    return doc


def sample_repair(**overrides: Any) -> dict:
    """A ``/repair`` report shaped like the hub's (a real repair of MOST.customers on snap1)."""
    report = {
        "id": 3,
        "node": "snap1",
        "table": "MOST.customers",
        "master_pos": "0-1-9",
        "dry_run": False,
        "master_rows": 200,
        "definition_differed": False,
        "recreated": False,
        "differed": 4,
        "missing": 2,
        "extra": 1,
        "keyless": False,
        "in_flight": 0,
        "secs": 0.2,
        "error": None,
    }
    report.update(overrides)
    return report
