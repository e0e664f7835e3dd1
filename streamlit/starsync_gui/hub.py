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
"""

from __future__ import annotations

import json
import urllib.error
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
    a DBA mends it) and for each snap that refuses local writes for now (``read_only`` while it
    loads the master's snapshot). Hubs that do not report these fields say nothing."""
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
    return out


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


def fetch_status(url: str, timeout: float = 3.0) -> HubStatus:
    """GET ``url`` and parse it; raises :class:`HubUnavailable` with the address on any failure."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as e:
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
