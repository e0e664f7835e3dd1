"""Client for the hub's ``/status`` JSON, and the lag history kept between refreshes.

The hub (``replicator hub`` on the master) serves::

    {"hub": {"node": ..., "gtid_binlog_pos": ..., "started_at": ..., "version": ...},
     "nodes": [{"name": ..., "role": ..., "connected": ..., "gtid_pos": ..., "txns_behind": ...,
                "lag_ms": ..., ...}, ...],
     "conflicts_total": 0}

Any field may be null or, from an older hub, missing: parsing fills ``None`` rather than failing,
and only a body that is not a JSON object with a ``nodes`` list is an error. Every failure to get
a status is a :class:`HubUnavailable` whose message names the URL, so the page can say exactly
which address it tried.

The same host and port serve ``GET /verify`` (every replicated table checksummed on every node at
one common GTID position) and ``POST /repair?table=DB.TABLE&node=SNAP[&dry_run=1]`` (one table of
one snap made the master's); :func:`fetch_verify` and :func:`request_repair` ask them, and the
pure helpers below turn their answers into the rows and sentences the page shows (the same
sentences as ``master-admin verify`` and ``master-admin repair``). A repair the hub refuses (409:
no such table, database not replicated, snap not connected) is a :class:`HubRefused` carrying the
hub's own text.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

#: Columns of the node table, in display order.
NODE_FIELDS = [
    "name",
    "role",
    "connected",
    "address",
    "tls",
    "server_id",
    "domain_id",
    "gtid_pos",
    "txns_behind",
    "lag_ms",
    "capture_lag_ms",
    "txn_per_sec",
    "rows_per_sec",
    "bytes_queued",
    "conflicts",
    "ddl_drift",
    "connected_since",
    "last_error",
    "max_allowed_packet",
]


def _size(n: int) -> str:
    """Bytes as the servers' settings usually read: ``4 MiB``, ``64 MiB``, ``1.5 KiB``."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            v = n / scale
            return f"{v:.0f} {unit}" if v == int(v) else f"{v:.1f} {unit}"
    return f"{n} B"


def packet_warnings(status: "HubStatus") -> list[str]:
    """One line for each snap whose ``max_allowed_packet`` is smaller than the master's: a row the
    master takes that is bigger than the snap's setting cannot be applied there (its agent retries
    until the setting is raised). Nodes that do not report the value are left out."""
    master = next(
        (n.get("max_allowed_packet") for n in status.nodes if n.get("role") == "master"),
        None,
    )
    if not isinstance(master, int):
        return []
    out = []
    for n in status.nodes:
        p = n.get("max_allowed_packet")
        if n.get("role") != "master" and isinstance(p, int) and p < master:
            out.append(
                f"{n.get('name')}'s max_allowed_packet ({_size(p)}) is smaller than the master's "
                f"({_size(master)}): rows bigger than it cannot be applied there; raise it "
                "(SET GLOBAL max_allowed_packet and the config file)."
            )
    return out


def node_warnings(status: "HubStatus") -> list[str]:
    """One line for each snap where master DDL failed (its schema differs from the master's until
    a DBA mends it), for each snap that refuses local writes for now (``read_only`` while it
    loads the master's snapshot) and for each snap a table of which is being repaired (how far).
    Hubs that do not report these fields say nothing."""
    out = []
    for n in status.nodes:
        failed = n.get("ddl_failed")
        if isinstance(failed, int) and failed > 0:
            last = n.get("last_ddl_failed")
            out.append(
                f"{n.get('name')}: {failed} DDL statement(s) from the master failed there, so its "
                "schema differs from the master's until a DBA mends it (its agent's log says how)"
                + (f"; last: {last}" if last else "")
                + "."
            )
        if n.get("writes_held"):
            out.append(
                f"{n.get('name')} refuses local writes for now (read_only): {n['writes_held']}."
            )
        if n.get("repair"):
            out.append(f"{n.get('name')}: repairing {n['repair']}.")
    return out


def verify_lines(status: "HubStatus") -> tuple[list[str], str | None]:
    """What the hub's last own verification (``hub.last_verify``, ``[hub] verify_every_secs``)
    found: one warning per table that differs on a snap, with the command that mends it, or
    (no difference) one line saying when every table was equal. Hubs that do not verify on
    their own (or not yet) say nothing."""
    v = status.hub.get("last_verify")
    if not isinstance(v, dict):
        return [], None
    at, pos = v.get("at") or "?", v.get("position") or "?"
    diffs = [d for d in v.get("differences") or [] if isinstance(d, dict)]
    warnings = []
    for d in diffs:
        table, node = str(d.get("table")), str(d.get("node"))
        plain = table.removesuffix(" (definition)").replace("`", "")
        warnings.append(
            f"{table} differs on {node} from the master's (the hub's verification at {at}): "
            f"`master-admin repair {plain} --node {node}` makes it the master's."
        )
    if warnings:
        return warnings, None
    missing = [str(m) for m in v.get("missing") or []]
    equal = f"Verified equal at {at} (the hub's last verification, at position {pos}" + (
        f"; not verified: {', '.join(missing)})" if missing else ")"
    )
    return [], equal


class HubUnavailable(RuntimeError):
    """The status could not be fetched or understood; the message names the URL."""


@dataclass
class HubStatus:
    """A parsed ``/status`` answer."""

    hub: dict[str, Any]
    nodes: list[dict[str, Any]]
    conflicts_total: int | None
    fetched_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


def parse_status(body: bytes | str, url: str = "hub") -> HubStatus:
    """Parse a status document; tolerant of nulls and missing fields."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise HubUnavailable(f"{url} did not return JSON: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
        raise HubUnavailable(f'{url} returned JSON without a "nodes" list')
    hub = data.get("hub") if isinstance(data.get("hub"), dict) else {}
    nodes = []
    for raw in data["nodes"]:
        if not isinstance(raw, dict):
            continue
        node = {k: raw.get(k) for k in NODE_FIELDS}
        # Keep fields a newer hub adds, after the known ones.
        node.update({k: v for k, v in raw.items() if k not in node})
        nodes.append(node)
    total = data.get("conflicts_total")
    return HubStatus(hub=hub, nodes=nodes, conflicts_total=total if isinstance(total, int) else None)


def request_headers(token: str = "") -> dict[str, str]:
    """Headers of every request to the hub: the bearer token when the hub has one."""
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _refused_token(e: urllib.error.HTTPError, url: str) -> HubUnavailable:
    """The hub's 401: what to set, in the console's words."""
    try:
        text = e.read().decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    said = f". The hub said: {text}" if text else ""
    return HubUnavailable(
        f"hub at {url} asks for its HTTP token ([hub] http_token): set STARSYNC_HUB_TOKEN"
        f" (or token under [hub] in the console's config) to it{said}"
    )


def fetch_status(url: str, timeout: float = 3.0, token: str = "") -> HubStatus:
    """GET ``url`` and parse it; raises :class:`HubUnavailable` with the address on any failure."""
    request = urllib.request.Request(url, headers=request_headers(token))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as e:
        if e.code == 401:
            raise _refused_token(e, url) from None
        raise HubUnavailable(f"hub at {url} answered HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise HubUnavailable(f"hub at {url} is unreachable: {e.reason}") from None
    except (TimeoutError, OSError) as e:
        raise HubUnavailable(f"hub at {url} is unreachable: {e}") from None
    return parse_status(body, url)


#: Lag samples kept per node (at one refresh every few seconds: the last half hour or so).
MAX_SAMPLES_PER_NODE = 600


def add_samples(samples: list[dict], status: HubStatus) -> list[dict]:
    """Append one lag sample per node of ``status`` and drop the oldest beyond the cap.

    A sample is ``{"time", "node", "lag_ms", "txns_behind"}``; nulls stay ``None`` so the chart
    shows a gap instead of a false zero.
    """
    for node in status.nodes:
        samples.append(
            {
                "time": status.fetched_at,
                "node": str(node.get("name") or "?"),
                "lag_ms": node.get("lag_ms"),
                "txns_behind": node.get("txns_behind"),
            }
        )
    names = {s["node"] for s in samples}
    cap = MAX_SAMPLES_PER_NODE * max(1, len(names))
    if len(samples) > cap:
        del samples[: len(samples) - cap]
    return samples


def snap_names(status: HubStatus) -> list[str]:
    """The names of the nodes whose role is ``snap``, in the hub's order."""
    return [str(n["name"]) for n in status.nodes if n.get("role") == "snap" and n.get("name")]


# --- /verify and /repair ---------------------------------------------------------------------------

#: How long the hub may take to verify (every node checksums every replicated table): the CLI's
#: default.
VERIFY_TIMEOUT = 600.0
#: How long the hub may take to repair (the snap may be behind; a large table takes time).
REPAIR_TIMEOUT = 900.0
#: A ``/verify`` table key ending in this names the table's definition (a digest of its
#: ``SHOW CREATE TABLE``), not its rows.
DEFINITION_SUFFIX = " (definition)"


class HubRefused(RuntimeError):
    """The hub understood a repair request and refused it; the message is the hub's own text."""


def endpoint_url(status_url: str, path: str) -> str:
    """The URL of another endpoint of the hub: ``status_url`` with its path replaced by ``path``."""
    parts = urllib.parse.urlsplit(status_url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _call(url: str, query: str, method: str, timeout: float, token: str = "") -> bytes:
    """``method`` ``url?query``; the body of a 200 answer, else the failure as an exception that
    names ``url``: 404/405 mean a hub older than the endpoint, 400/409 a refused request."""
    full = f"{url}?{query}" if query else url
    data = b"" if method == "POST" else None
    request = urllib.request.Request(full, data=data, method=method, headers=request_headers(token))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as e:
        if e.code == 401:
            raise _refused_token(e, url) from None
        try:
            text = e.read().decode("utf-8", "replace").strip()
        except OSError:
            text = ""
        if e.code in (404, 405):
            path = urllib.parse.urlsplit(url).path
            raise HubUnavailable(
                f"the hub at {url} does not serve {'POST ' if method == 'POST' else ''}{path} "
                f"(HTTP {e.code}): upgrade the replicator on the master"
            ) from None
        if e.code in (400, 409):
            raise HubRefused(text or f"HTTP {e.code} {e.reason}") from None
        raise HubUnavailable(
            f"hub at {url} answered HTTP {e.code} {e.reason}" + (f": {text}" if text else "")
        ) from None
    except urllib.error.URLError as e:
        raise HubUnavailable(f"hub at {url} is unreachable: {e.reason}") from None
    except (TimeoutError, OSError) as e:
        raise HubUnavailable(f"hub at {url} is unreachable: {e}") from None


def _json_object(body: bytes | str, url: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise HubUnavailable(f"{url} did not return JSON: {e}") from None
    if not isinstance(data, dict):
        raise HubUnavailable(f"{url} did not return a JSON object")
    return data


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


@dataclass
class VerifyResult:
    """A parsed ``/verify`` answer."""

    equal: bool
    master_pos: str
    position_equal: bool
    attempts: int | None
    #: ``{"name", "gtid_pos", "tables": {quoted table: checksum or None}, "error"}``, master first.
    nodes: list[dict[str, Any]]
    #: ``{"table", "node", "expected", "actual"}``; ``actual`` None: the table is missing there.
    differences: list[dict[str, Any]]
    #: Nodes that did not take part (disconnected or no answer).
    missing: list[str]
    fetched_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


def parse_verify(body: bytes | str, url: str = "hub") -> VerifyResult:
    """Parse a ``/verify`` answer; only a body without a boolean ``equal`` is an error."""
    data = _json_object(body, url)
    if not isinstance(data.get("equal"), bool):
        raise HubUnavailable(f'{url} returned JSON without an "equal" verdict')

    def objects(key: str) -> list[dict[str, Any]]:
        value = data.get(key)
        return [x for x in value if isinstance(x, dict)] if isinstance(value, list) else []

    nodes = [
        {
            "name": str(n.get("name") or "?"),
            "gtid_pos": n.get("gtid_pos"),
            "tables": n.get("tables") if isinstance(n.get("tables"), dict) else {},
            "error": n.get("error"),
        }
        for n in objects("nodes")
    ]
    differences = [
        {
            "table": str(d.get("table") or "?"),
            "node": str(d.get("node") or "?"),
            "expected": d.get("expected"),
            "actual": d.get("actual"),
        }
        for d in objects("differences")
    ]
    missing = data.get("missing")
    attempts = data.get("attempts")
    return VerifyResult(
        equal=data["equal"],
        master_pos=str(data.get("master_pos") or ""),
        # An older hub without the field compared at one position or said nothing about it.
        position_equal=data.get("position_equal") is not False,
        attempts=attempts if isinstance(attempts, int) else None,
        nodes=nodes,
        differences=differences,
        missing=[str(m) for m in missing] if isinstance(missing, list) else [],
    )


def verify_query(table: str | None) -> str:
    """The query string of ``GET /verify``: empty for every table, else ``table=`` with the table
    backquoted and URL-encoded (:class:`ValueError` for text that is not DB.TABLE)."""
    if table is None or not table.strip():
        return ""
    database, name = parse_table(table)
    return f"table={urllib.parse.quote(quote_table(database, name), safe='')}"


def fetch_verify(
    status_url: str, timeout: float = VERIFY_TIMEOUT, table: str | None = None, token: str = ""
) -> VerifyResult:
    """GET the hub's ``/verify`` (next to ``status_url``), of every table or of ``table`` only,
    and parse it; :class:`HubUnavailable` on any failure, naming the URL (:class:`HubRefused`
    should the hub refuse the request: a table that does not replicate)."""
    url = endpoint_url(status_url, "/verify")
    return parse_verify(_call(url, verify_query(table), "GET", timeout, token), url)


def table_count(v: VerifyResult) -> int:
    """How many tables were compared: the most any node checksummed (definitions not counted)."""
    return max(
        (sum(1 for t in n["tables"] if not str(t).endswith(DEFINITION_SUFFIX)) for n in v.nodes),
        default=0,
    )


def verify_summary(v: VerifyResult) -> str:
    """One sentence: all equal, or how many differences and unverified nodes."""
    pos = v.master_pos or "(empty)"
    if v.equal:
        return (
            f"All {_count(table_count(v), 'table')} equal on {_count(len(v.nodes), 'node')} "
            f"at position {pos}"
        )
    return (
        f"Not equal at position {pos}: {_count(len(v.differences), 'difference')}, "
        f"{_count(len(v.missing), 'node')} not verified"
    )


def difference_kind(d: dict[str, Any]) -> str:
    """``definition differs``, ``table missing`` (on the node), ``not on the master`` or
    ``rows differ``."""
    if str(d["table"]).endswith(DEFINITION_SUFFIX):
        return "definition differs"
    if d["actual"] is None and d["expected"] is not None:
        return "table missing"
    if d["expected"] is None and d["actual"] is not None:
        return "not on the master"
    return "rows differ"


def _base_table(quoted: str) -> str:
    return quoted[: -len(DEFINITION_SUFFIX)] if quoted.endswith(DEFINITION_SUFFIX) else quoted


def difference_rows(v: VerifyResult) -> list[dict[str, Any]]:
    """The differences as table rows: table (without the definition suffix, as typed for a
    repair), node, kind, and the master's and the node's checksums as text (64-bit values would
    lose digits as floats)."""
    return [
        {
            "table": display_table(_base_table(d["table"])),
            "node": d["node"],
            "kind": difference_kind(d),
            "expected": None if d["expected"] is None else str(d["expected"]),
            "actual": None if d["actual"] is None else str(d["actual"]),
        }
        for d in v.differences
    ]


def verify_node_rows(v: VerifyResult) -> list[dict[str, Any]]:
    """One row per node that took part: name, position, tables checksummed, error."""
    return [
        {
            "node": n["name"],
            "gtid_pos": n["gtid_pos"],
            "tables": sum(1 for t in n["tables"] if not str(t).endswith(DEFINITION_SUFFIX)),
            "error": n["error"],
        }
        for n in v.nodes
    ]


def verify_warnings(v: VerifyResult) -> list[str]:
    """A line per node that was not verified (with its error when it sent one), per node that
    answered with an error, and one when the nodes were not all at the master's position."""
    errors = {n["name"]: n["error"] for n in v.nodes if n["error"]}
    out = [
        f"{name} was not verified: {errors[name]}"
        if name in errors
        else f"{name} was not verified (disconnected or no answer)"
        for name in v.missing
    ]
    out += [f"{name}: {e}" for name, e in errors.items() if name not in v.missing]
    if not v.position_equal:
        tries = f" after {_count(v.attempts, 'attempt')}" if v.attempts else ""
        out.append(
            f"Not every node reached the master's position {v.master_pos or '(empty)'}{tries}: "
            "their checksums are of other positions, so a difference may be a transaction still "
            "on its way. Run Verify again."
        )
    return out


def repair_targets(v: VerifyResult) -> list[tuple[str, str]]:
    """The distinct (table, node) pairs that differ, table as typed for a repair (a definition
    difference is repaired like any other: the repair remakes the table)."""
    out: list[tuple[str, str]] = []
    for d in v.differences:
        pair = (display_table(_base_table(d["table"])), d["node"])
        if pair not in out:
            out.append(pair)
    return out


def _part(s: str) -> tuple[str, str] | None:
    """One name at the start of ``s`` (backquoted, with ```` `` ```` for a backquote, or up to the
    next dot) and what follows it; None for an unclosed backquote."""
    if s.startswith("`"):
        name, i = [], 1
        while i < len(s):
            if s[i] == "`":
                if s[i + 1 : i + 2] == "`":
                    name.append("`")
                    i += 2
                    continue
                return "".join(name), s[i + 1 :]
            name.append(s[i])
            i += 1
        return None
    end = s.find(".")
    end = len(s) if end < 0 else end
    return s[:end], s[end:]


def parse_table(text: str) -> tuple[str, str]:
    """``DB.TABLE`` or ```` `DB`.`TABLE` ```` -> (database, table), as the hub reads it; a
    :class:`ValueError` saying what is wrong otherwise."""
    s = (text or "").strip()
    if not s:
        raise ValueError("Type the table as DB.TABLE (for example MOST.customers).")
    first = _part(s)
    if first is None:
        raise ValueError(f"{s!r} has an unclosed backquote.")
    rest = first[1]
    if not rest.startswith("."):
        raise ValueError(
            f"{s!r} is not DB.TABLE: name the database and the table with a dot between them, "
            "for example MOST.customers (backquote names with a dot in them: `my.db`.`t`)."
        )
    second = _part(rest[1:])
    if second is None:
        raise ValueError(f"{s!r} has an unclosed backquote.")
    if second[1]:
        raise ValueError(
            f"{s!r} is not DB.TABLE: {second[1]!r} follows the table name "
            "(backquote names with a dot in them: `my.db`.`t`)."
        )
    if not first[0] or not second[0]:
        raise ValueError(f"{s!r} is not DB.TABLE: the database or the table name is empty.")
    return first[0], second[0]


def quote_table(database: str, table: str) -> str:
    """```` `DB`.`TABLE` ```` with backquotes in the names doubled."""
    return ".".join("`" + n.replace("`", "``") + "`" for n in (database, table))


def display_table(text: str) -> str:
    """A table name as a DBA types it: ``DB.TABLE`` when both names are plain, else quoted;
    text that is no table name comes back unchanged."""
    try:
        database, table = parse_table(text)
    except ValueError:
        return text
    plain = all(c.isascii() and (c.isalnum() or c in "_$") for c in database + table)
    return f"{database}.{table}" if plain else quote_table(database, table)


def repair_query(table: str, node: str, dry_run: bool) -> str:
    """The query string of ``POST /repair``: the table backquoted, both URL-encoded, and
    ``dry_run=1`` when only counting. :class:`ValueError` for a table that is not DB.TABLE or
    an empty node."""
    database, name = parse_table(table)
    node = (node or "").strip()
    if not node:
        raise ValueError("Choose or type the snap whose table is to be repaired.")
    query = (
        f"table={urllib.parse.quote(quote_table(database, name), safe='')}"
        f"&node={urllib.parse.quote(node, safe='')}"
    )
    return query + "&dry_run=1" if dry_run else query


#: The report's fields and their values when the hub leaves them out.
REPORT_DEFAULTS: dict[str, Any] = {
    "id": None,
    "node": "",
    "table": "",
    "master_pos": "",
    "dry_run": False,
    "master_rows": 0,
    "definition_differed": False,
    "recreated": False,
    "differed": 0,
    "missing": 0,
    "extra": 0,
    "keyless": False,
    "in_flight": 0,
    "secs": 0.0,
    "error": None,
}


def parse_repair(body: bytes | str, url: str = "hub") -> dict[str, Any]:
    """A ``/repair`` report with every known field (defaults for those left out or null, except
    ``error`` and ``id``); fields a newer hub adds are kept."""
    data = _json_object(body, url)
    report = dict(REPORT_DEFAULTS)
    for k, v in data.items():
        if v is not None or k not in REPORT_DEFAULTS:
            report[k] = v
    return report


def request_repair(
    status_url: str,
    table: str,
    node: str,
    dry_run: bool,
    timeout: float = REPAIR_TIMEOUT,
    token: str = "",
) -> dict[str, Any]:
    """``POST /repair`` at the hub next to ``status_url``; the parsed report. Raises
    :class:`ValueError` for bad input before sending anything, :class:`HubRefused` with the
    hub's text for a refused request, :class:`HubUnavailable` for any other failure."""
    query = repair_query(table, node, dry_run)
    url = endpoint_url(status_url, "/repair")
    return parse_repair(_call(url, query, "POST", timeout, token), url)


def _differs(r: dict[str, Any]) -> bool:
    return bool(r["definition_differed"]) or (r["differed"] + r["missing"] + r["extra"]) > 0


def _rows(n: int) -> str:
    return _count(n, "row")


def render_repair(r: dict[str, Any]) -> list[str]:
    """The report as sentences, as ``master-admin repair`` prints it: the first says what was
    (or would be) done, the others add what a DBA should know."""
    at = f"{r['table']} on {r['node']} at the master's position {r['master_pos'] or '(empty)'}"
    if r["error"] is not None:
        return [
            f"Repair of {at} FAILED: {r['error']}",
            "The table was made again from the master's definition before the failure: its rows "
            "may be missing on the snap until a repair succeeds."
            if r["recreated"]
            else "Nothing was changed on the snap.",
        ]
    dry = " (dry run: nothing changed)" if r["dry_run"] else ""
    if r["dry_run"] and r["definition_differed"]:
        return [
            f"{at}: its definition differs from the master's (or the table is missing there); a "
            "repair makes it again from the master's CREATE TABLE and loads the master's "
            f"{_rows(r['master_rows'])}{dry}"
        ]
    if not _differs(r):
        out = [f"{at}: already the master's ({_rows(r['master_rows'])}); nothing changed"]
    elif r["keyless"]:
        out = [
            f"{at}: no primary key, so every row is replaced: {_rows(r['extra'])} deleted, the "
            f"master's {_rows(r['missing'])} inserted{dry}"
        ]
    else:
        verb = (
            "would be made the master's (dry run: nothing changed)" if r["dry_run"] else "made the master's"
        )
        out = [
            f"{at}: {_rows(r['differed'])} differed, {_rows(r['missing'])} missing, "
            f"{_rows(r['extra'])} extra of the master's {r['master_rows']}: {verb}"
        ]
    if r["recreated"]:
        out.append(
            "Its definition differed from the master's: the table was made again from the "
            "master's CREATE TABLE."
        )
    if r["in_flight"]:
        out.append(
            f"{_rows(r['in_flight'])} with a local change still on its way to the master left as "
            "on the snap (that change's echo brings the master's row)."
        )
    return out
