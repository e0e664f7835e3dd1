//! What the hub knows about every node, served as `/status` (JSON) and `/metrics` (Prometheus).
//!
//! # Lag
//! Milliseconds: the fan-out puts a heartbeat between transactions carrying the hub time `T` at
//! which its binlog reader had read everything the master had committed (the master's position is
//! polled every 100 ms and compared with the reader's). The agent acknowledges the heartbeat after
//! applying everything before it; `ack time − T` is the lag, measured on the hub's clock only, so
//! clock skew between machines does not enter. While a heartbeat is outstanding the lag is at
//! least `now − T` of the oldest one. Transactions behind: GTID arithmetic between the master's
//! position and the node's reported position.
//!
//! A snap's `needs_from` is where its fan-out would start if it reconnected now: the oldest
//! position of the master's binlog it still needs. The hub writes it to `starsync.snaps` on the
//! master every 2 s (and at shutdown) and reads it back at start, so a snap offline across hub
//! restarts is still listed (disconnected) and its binlogs still kept by
//! `master-admin purge-binlogs`.
//!
//! ## `/status` schema
//! `{"hub": {node, server_id, domain_id, gtid_binlog_pos, started_at, version, master_ok,
//!   tls_expires_at, last_verify: {at, position, differences: [{table, node}], missing}},
//!   "nodes": [{name, role, server_id, domain_id, connected, syncing, connected_since, address,
//!   tls, gtid_pos,
//!   txns_behind, lag_ms, capture_lag_ms, txn_per_sec, rows_per_sec, bytes_queued, conflicts,
//!   ddl_drift, last_ddl_drift, ddl_failed, last_ddl_failed, writes_held, repair, last_error,
//!   max_allowed_packet, ingested_txns, applied_txns, applied_rows, needs_from, needs_resync}],
//!   "conflicts_total"}`; times are RFC 3339 UTC, absent values `null`.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::gtid::GtidPos;

/// RFC 3339 UTC with milliseconds.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let (y, m, day, h, mi, s) = crate::apply::values::utc_from_epoch(d.as_secs() as i64);
    format!(
        "{y:04}-{m:02}-{day:02}T{h:02}:{mi:02}:{s:02}.{:03}Z",
        d.subsec_millis()
    )
}

/// Counters a session bumps without taking the registry lock.
#[derive(Debug, Default)]
pub struct Counters {
    pub ingested_txns: AtomicU64,
    pub ingested_rows: AtomicU64,
    pub applied_txns: AtomicU64,
    pub applied_rows: AtomicU64,
    pub bytes_queued: AtomicU64,
    pub conflicts: AtomicU64,
}

/// One node's live state.
#[derive(Debug)]
pub struct NodeState {
    pub role: &'static str,
    pub server_id: u32,
    pub domain_id: u32,
    pub connected: bool,
    /// Receiving its initial snapshot (connected, not yet streaming).
    pub syncing: bool,
    pub connected_since: Option<SystemTime>,
    pub disconnected_since: Option<SystemTime>,
    pub address: String,
    /// The session runs in TLS (the master's own entry: false, it has no session).
    pub tls: bool,
    pub gtid_pos: GtidPos,
    pub capture_lag_ms: Option<u64>,
    pub last_lag_ms: Option<u64>,
    /// Heartbeats sent and not yet acknowledged: (id, T).
    pub outstanding: VecDeque<(u64, Instant)>,
    pub ddl_drift: u64,
    pub last_ddl_drift: Option<String>,
    /// Master DDL statements that failed on the snap (as its agent reports).
    pub ddl_failed: u64,
    pub last_ddl_failed: Option<String>,
    /// Why the snap refuses local writes right now (as its agent reports).
    pub writes_held: Option<String>,
    /// A repair of one of its tables while it runs (as its agent reports).
    pub repair: Option<String>,
    pub last_error: Option<String>,
    pub agent_error: Option<String>,
    /// The node's `max_allowed_packet`, when known.
    pub max_allowed_packet: Option<u64>,
    pub counters: Arc<Counters>,
    /// Conflicts recorded in the conflict log for this node as origin (all time).
    pub conflicts_logged: u64,
    /// Where the master's binlog must still be readable for this snap: where its fan-out
    /// starts if it reconnects now ([`super::session::fanout_start`]). Kept in
    /// `starsync.snaps` on the master, so that it outlives the hub.
    pub needs_from: Option<GtidPos>,
    /// Its position is no longer in the master's binlog: it gets nothing from the master until
    /// it is resynced (set by its fan-out, cleared when a session starts).
    pub needs_resync: bool,
    rate: Rate,
}

#[derive(Debug, Default)]
struct Rate {
    last: Option<(Instant, u64, u64)>,
    txn_per_sec: f64,
    rows_per_sec: f64,
}

impl NodeState {
    pub fn new(role: &'static str, server_id: u32, domain_id: u32) -> Self {
        Self {
            role,
            server_id,
            domain_id,
            connected: false,
            syncing: false,
            connected_since: None,
            disconnected_since: None,
            address: String::new(),
            tls: false,
            gtid_pos: GtidPos::new(),
            capture_lag_ms: None,
            last_lag_ms: None,
            outstanding: VecDeque::new(),
            ddl_drift: 0,
            last_ddl_drift: None,
            ddl_failed: 0,
            last_ddl_failed: None,
            writes_held: None,
            repair: None,
            last_error: None,
            agent_error: None,
            max_allowed_packet: None,
            counters: Arc::new(Counters::default()),
            conflicts_logged: 0,
            needs_from: None,
            needs_resync: false,
            rate: Rate::default(),
        }
    }

    /// The lag now: the last measurement, or more while a heartbeat waits.
    pub fn lag_ms(&self, now: Instant) -> Option<u64> {
        let waiting = self
            .outstanding
            .front()
            .map(|(_, t)| now.saturating_duration_since(*t).as_millis() as u64);
        match (self.last_lag_ms, waiting) {
            (Some(l), Some(w)) => Some(l.max(w)),
            (l, w) => l.or(w),
        }
    }

    /// Records a heartbeat acknowledgement; returns the measured lag.
    pub fn heartbeat_acked(&mut self, id: u64, now: Instant) -> Option<u64> {
        let mut measured = None;
        while let Some(&(hid, t)) = self.outstanding.front() {
            if hid > id {
                break;
            }
            self.outstanding.pop_front();
            if hid == id {
                measured = Some(now.saturating_duration_since(t).as_millis() as u64);
            }
        }
        if measured.is_some() {
            self.last_lag_ms = measured;
        }
        measured
    }
}

/// All nodes, by name.
#[derive(Debug)]
pub struct Registry {
    pub hub_node: String,
    pub server_id: u32,
    pub domain_id: u32,
    pub started_at: SystemTime,
    inner: Mutex<RegistryInner>,
}

#[derive(Debug, Default)]
struct RegistryInner {
    nodes: BTreeMap<String, NodeState>,
    master_pos: GtidPos,
    master_ok: bool,
    conflicts_total: u64,
    /// When the hub's TLS certificate expires (`[hub] tls_cert`).
    tls_expires_at: Option<SystemTime>,
    /// The last of the hub's own verifications that compared the nodes.
    last_verify: Option<LastVerify>,
}

impl Registry {
    pub fn new(hub_node: &str, server_id: u32, domain_id: u32, address: String) -> Self {
        let mut master = NodeState::new("master", server_id, domain_id);
        master.connected = true;
        master.connected_since = Some(SystemTime::now());
        master.address = address;
        let mut inner = RegistryInner::default();
        inner.nodes.insert(hub_node.to_string(), master);
        Self {
            hub_node: hub_node.into(),
            server_id,
            domain_id,
            started_at: SystemTime::now(),
            inner: Mutex::new(inner),
        }
    }

    /// Runs `f` on a node's state, creating it if needed.
    pub fn with_node<R>(
        &self,
        name: &str,
        make: impl FnOnce() -> NodeState,
        f: impl FnOnce(&mut NodeState) -> R,
    ) -> R {
        let mut g = self.inner.lock().unwrap();
        let n = g.nodes.entry(name.to_string()).or_insert_with(make);
        f(n)
    }

    /// Runs `f` on an existing node.
    pub fn update<R>(&self, name: &str, f: impl FnOnce(&mut NodeState) -> R) -> Option<R> {
        self.inner.lock().unwrap().nodes.get_mut(name).map(f)
    }

    /// Which connected node (other than `name`) uses `domain` or `server_id`, if any.
    pub fn identity_clash(&self, name: &str, server_id: u32, domain: u32) -> Option<String> {
        let g = self.inner.lock().unwrap();
        g.nodes
            .iter()
            .find(|(n, s)| {
                n.as_str() != name
                    && (s.connected || s.role == "master")
                    && (s.domain_id == domain || s.server_id == server_id)
            })
            .map(|(n, _)| n.clone())
    }

    /// When the hub's TLS certificate expires, for `/status`.
    pub fn set_tls_expiry(&self, at: Option<SystemTime>) {
        self.inner.lock().unwrap().tls_expires_at = at;
    }

    pub fn tls_expiry(&self) -> Option<SystemTime> {
        self.inner.lock().unwrap().tls_expires_at
    }

    /// The result of one of the hub's own verifications that compared the nodes.
    pub fn set_last_verify(&self, v: LastVerify) {
        self.inner.lock().unwrap().last_verify = Some(v);
    }

    pub fn set_master(&self, pos: GtidPos, ok: bool) {
        let mut g = self.inner.lock().unwrap();
        g.master_ok = ok;
        if ok {
            let hub = self.hub_node.clone();
            if let Some(m) = g.nodes.get_mut(&hub) {
                m.gtid_pos = pos.clone();
                m.last_error = None;
            }
            g.master_pos = pos;
        } else if let Some(m) = g.nodes.get_mut(&self.hub_node) {
            m.last_error = Some("the master database does not answer".into());
        }
    }

    pub fn master_pos(&self) -> GtidPos {
        self.inner.lock().unwrap().master_pos.clone()
    }

    pub fn master_ok(&self) -> bool {
        self.inner.lock().unwrap().master_ok
    }

    /// Every snap with a known position, as `starsync.snaps` keeps it.
    pub fn snap_records(&self) -> Vec<SnapRecord> {
        let g = self.inner.lock().unwrap();
        g.nodes
            .iter()
            .filter(|(_, n)| n.role == "snap")
            .filter_map(|(name, n)| {
                Some(SnapRecord {
                    name: name.clone(),
                    server_id: n.server_id,
                    domain_id: n.domain_id,
                    gtid_pos: n.gtid_pos.to_string(),
                    needs_from: n.needs_from.as_ref()?.to_string(),
                    connected: n.connected,
                    last_seen: n.disconnected_since,
                })
            })
            .collect()
    }

    /// A snap known from `starsync.snaps` (served before this hub started), until it connects.
    pub fn add_known_snap(&self, r: SnapRecord) -> Result<(), crate::gtid::ParseGtidError> {
        let gtid_pos: GtidPos = r.gtid_pos.parse()?;
        let needs_from: GtidPos = r.needs_from.parse()?;
        let mut g = self.inner.lock().unwrap();
        let n = g
            .nodes
            .entry(r.name)
            .or_insert_with(|| NodeState::new("snap", r.server_id, r.domain_id));
        n.gtid_pos = gtid_pos;
        n.needs_from = Some(needs_from);
        n.disconnected_since = r.last_seen;
        Ok(())
    }

    /// Drops a snap that is not connected (`master-admin forget-snap`); false if it is
    /// connected, loading, or not a snap.
    pub fn forget_snap(&self, name: &str) -> bool {
        let mut g = self.inner.lock().unwrap();
        let gone = g
            .nodes
            .get(name)
            .is_some_and(|n| n.role == "snap" && !n.connected && !n.syncing);
        if gone {
            g.nodes.remove(name);
        }
        gone
    }

    /// Sets per-origin conflict counts read from the conflict log.
    pub fn set_conflicts(&self, by_node: &BTreeMap<String, u64>) {
        let mut g = self.inner.lock().unwrap();
        g.conflicts_total = by_node.values().sum();
        for (name, n) in g.nodes.iter_mut() {
            n.conflicts_logged = by_node.get(name).copied().unwrap_or(0);
        }
    }

    /// Recomputes throughput from the counters (call about once a second).
    pub fn sample_rates(&self) {
        let now = Instant::now();
        let mut g = self.inner.lock().unwrap();
        for n in g.nodes.values_mut() {
            let t = n.counters.applied_txns.load(Ordering::Relaxed);
            let r = n.counters.applied_rows.load(Ordering::Relaxed);
            if let Some((t0, txn0, rows0)) = n.rate.last {
                let dt = now.duration_since(t0).as_secs_f64().max(1e-3);
                let a = 0.5;
                n.rate.txn_per_sec =
                    a * (t.saturating_sub(txn0) as f64 / dt) + (1.0 - a) * n.rate.txn_per_sec;
                n.rate.rows_per_sec =
                    a * (r.saturating_sub(rows0) as f64 / dt) + (1.0 - a) * n.rate.rows_per_sec;
            }
            n.rate.last = Some((now, t, r));
        }
    }

    /// The `/status` document.
    pub fn snapshot(&self) -> StatusDoc {
        let now = Instant::now();
        let g = self.inner.lock().unwrap();
        let nodes = g
            .nodes
            .iter()
            .map(|(name, n)| {
                let master = n.role == "master";
                NodeDoc {
                    name: name.clone(),
                    role: n.role,
                    server_id: n.server_id,
                    domain_id: n.domain_id,
                    connected: n.connected,
                    syncing: n.syncing,
                    connected_since: n.connected_since.map(rfc3339),
                    disconnected_since: n.disconnected_since.map(rfc3339),
                    address: n.address.clone(),
                    tls: n.tls,
                    gtid_pos: n.gtid_pos.to_string(),
                    txns_behind: if master {
                        0
                    } else {
                        n.gtid_pos.behind(&g.master_pos)
                    },
                    lag_ms: if master { Some(0) } else { n.lag_ms(now) },
                    capture_lag_ms: n.capture_lag_ms,
                    txn_per_sec: (n.rate.txn_per_sec * 10.0).round() / 10.0,
                    rows_per_sec: (n.rate.rows_per_sec * 10.0).round() / 10.0,
                    bytes_queued: n.counters.bytes_queued.load(Ordering::Relaxed),
                    conflicts: n.conflicts_logged,
                    ddl_drift: n.ddl_drift,
                    last_ddl_drift: n.last_ddl_drift.clone(),
                    ddl_failed: n.ddl_failed,
                    last_ddl_failed: n.last_ddl_failed.clone(),
                    writes_held: n.writes_held.clone(),
                    repair: n.repair.clone(),
                    last_error: n.last_error.clone().or_else(|| n.agent_error.clone()),
                    max_allowed_packet: n.max_allowed_packet,
                    ingested_txns: n.counters.ingested_txns.load(Ordering::Relaxed),
                    applied_txns: n.counters.applied_txns.load(Ordering::Relaxed),
                    applied_rows: n.counters.applied_rows.load(Ordering::Relaxed),
                    needs_from: n.needs_from.as_ref().map(|p| p.to_string()),
                    needs_resync: n.needs_resync,
                }
            })
            .collect();
        StatusDoc {
            hub: HubDoc {
                node: self.hub_node.clone(),
                server_id: self.server_id,
                domain_id: self.domain_id,
                gtid_binlog_pos: g.master_pos.to_string(),
                started_at: rfc3339(self.started_at),
                version: env!("CARGO_PKG_VERSION"),
                master_ok: g.master_ok,
                tls_expires_at: g.tls_expires_at.map(rfc3339),
                last_verify: g.last_verify.clone(),
            },
            nodes,
            conflicts_total: g.conflicts_total,
        }
    }
}

/// A snap's row in `starsync.snaps`.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapRecord {
    pub name: String,
    pub server_id: u32,
    pub domain_id: u32,
    pub gtid_pos: String,
    pub needs_from: String,
    pub connected: bool,
    /// When it was last connected (for a row read back: `last_seen`).
    pub last_seen: Option<SystemTime>,
}

#[derive(Debug, Serialize)]
pub struct StatusDoc {
    pub hub: HubDoc,
    pub nodes: Vec<NodeDoc>,
    pub conflicts_total: u64,
}

#[derive(Debug, Serialize)]
pub struct HubDoc {
    pub node: String,
    pub server_id: u32,
    pub domain_id: u32,
    pub gtid_binlog_pos: String,
    pub started_at: String,
    pub version: &'static str,
    pub master_ok: bool,
    /// When the hub's TLS certificate expires; `null` without TLS.
    pub tls_expires_at: Option<String>,
    /// The last of the hub's own verifications (`[hub] verify_every_secs`) that compared the
    /// nodes at one position; `null` before the first (or when they are off).
    pub last_verify: Option<LastVerify>,
}

/// What one of the hub's own verifications found (see [`super::verify::scheduled`]).
#[derive(Debug, Clone, Serialize)]
pub struct LastVerify {
    /// When it compared the nodes (RFC 3339).
    pub at: String,
    /// The master's position the nodes were compared at.
    pub position: String,
    /// Tables that differ from the master's: `{table, node}`, `table` as `/verify` names it
    /// (`` `db`.`t` ``, or its definition).
    pub differences: Vec<DifferingTable>,
    /// Known snaps that did not answer (not connected): not compared.
    pub missing: Vec<String>,
}

/// One table that differs on one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DifferingTable {
    pub table: String,
    pub node: String,
}

#[derive(Debug, Serialize)]
pub struct NodeDoc {
    pub name: String,
    pub role: &'static str,
    pub server_id: u32,
    pub domain_id: u32,
    pub connected: bool,
    pub syncing: bool,
    pub connected_since: Option<String>,
    pub disconnected_since: Option<String>,
    pub address: String,
    pub tls: bool,
    pub gtid_pos: String,
    pub txns_behind: u64,
    pub lag_ms: Option<u64>,
    pub capture_lag_ms: Option<u64>,
    pub txn_per_sec: f64,
    pub rows_per_sec: f64,
    pub bytes_queued: u64,
    pub conflicts: u64,
    pub ddl_drift: u64,
    pub last_ddl_drift: Option<String>,
    /// Master DDL statements that failed on this snap since its agent started: its schema
    /// differs from the master's until a DBA mends it.
    pub ddl_failed: u64,
    pub last_ddl_failed: Option<String>,
    /// Why this snap refuses local writes (`read_only`) right now (`null`: it takes them).
    pub writes_held: Option<String>,
    /// A repair of one of its tables while it runs: the table and how far (`null`: none).
    pub repair: Option<String>,
    pub last_error: Option<String>,
    pub max_allowed_packet: Option<u64>,
    pub ingested_txns: u64,
    pub applied_txns: u64,
    pub applied_rows: u64,
    /// Snaps: the oldest GTID position of the master's binlog this snap still needs (binlogs
    /// before it may be purged); `null` for the master and for a snap not yet subscribed.
    pub needs_from: Option<String>,
    /// The snap's position was purged from the master's binlog: it needs `--resync`.
    pub needs_resync: bool,
}

fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The Prometheus text exposition of a status document.
pub fn metrics(doc: &StatusDoc) -> String {
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, kind: &str, f: &dyn Fn(&NodeDoc) -> Option<f64>| {
        let _ = writeln!(out, "# HELP starsync_{name} {help}");
        let _ = writeln!(out, "# TYPE starsync_{name} {kind}");
        for n in &doc.nodes {
            if let Some(v) = f(n) {
                let _ = writeln!(
                    out,
                    "starsync_{name}{{node=\"{}\",role=\"{}\"}} {v}",
                    label(&n.name),
                    n.role
                );
            }
        }
    };
    gauge(
        "node_connected",
        "1 when the node's agent is connected (the master: its database answers).",
        "gauge",
        &|n| Some(f64::from(u8::from(n.connected))),
    );
    gauge(
        "node_lag_milliseconds",
        "Replication lag from hub heartbeats confirmed after apply.",
        "gauge",
        &|n| n.lag_ms.map(|v| v as f64),
    );
    gauge(
        "node_capture_lag_milliseconds",
        "Time from a local commit on the node to its commit on the master.",
        "gauge",
        &|n| n.capture_lag_ms.map(|v| v as f64),
    );
    gauge(
        "node_transactions_behind",
        "Master transactions the node does not hold yet.",
        "gauge",
        &|n| Some(n.txns_behind as f64),
    );
    gauge(
        "node_bytes_queued",
        "Bytes queued for the node in the hub.",
        "gauge",
        &|n| Some(n.bytes_queued as f64),
    );
    gauge(
        "node_conflicts_total",
        "Conflicts logged with the node as origin.",
        "counter",
        &|n| Some(n.conflicts as f64),
    );
    gauge(
        "node_ddl_drift_total",
        "DDL executed on the node locally and not replicated.",
        "counter",
        &|n| Some(n.ddl_drift as f64),
    );
    gauge(
        "node_ddl_failed_total",
        "Master DDL statements that failed on the node since its agent started.",
        "counter",
        &|n| Some(n.ddl_failed as f64),
    );
    gauge(
        "node_writes_held",
        "1 while the node refuses local writes (read_only) to load the master's snapshot.",
        "gauge",
        &|n| Some(f64::from(u8::from(n.writes_held.is_some()))),
    );
    gauge(
        "node_applied_transactions_total",
        "Transactions the node applied from the hub.",
        "counter",
        &|n| Some(n.applied_txns as f64),
    );
    gauge(
        "node_applied_rows_total",
        "Rows the node applied from the hub.",
        "counter",
        &|n| Some(n.applied_rows as f64),
    );
    gauge(
        "node_ingested_transactions_total",
        "The node's own transactions committed on the master.",
        "counter",
        &|n| Some(n.ingested_txns as f64),
    );
    let _ = writeln!(
        out,
        "# HELP starsync_conflicts_total Conflicts in the conflict log."
    );
    let _ = writeln!(out, "# TYPE starsync_conflicts_total counter");
    let _ = writeln!(out, "starsync_conflicts_total {}", doc.conflicts_total);
    let _ = writeln!(
        out,
        "# HELP starsync_master_up 1 when the master database answers."
    );
    let _ = writeln!(out, "# TYPE starsync_master_up gauge");
    let _ = writeln!(out, "starsync_master_up {}", u8::from(doc.hub.master_ok));
    if let Some(v) = &doc.hub.last_verify {
        let _ = writeln!(
            out,
            "# HELP starsync_verify_differences Tables that differed from the master's, per \
             node, at the hub's last verification."
        );
        let _ = writeln!(out, "# TYPE starsync_verify_differences gauge");
        let _ = writeln!(out, "starsync_verify_differences {}", v.differences.len());
    }
    out
}

/// How long ago, for logs.
pub fn since(t: Instant) -> Duration {
    Instant::now().saturating_duration_since(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_from_heartbeats() {
        let mut n = NodeState::new("snap", 2, 2);
        let t0 = Instant::now();
        n.outstanding.push_back((1, t0));
        n.outstanding
            .push_back((2, t0 + Duration::from_millis(100)));
        assert_eq!(
            n.heartbeat_acked(1, t0 + Duration::from_millis(40)),
            Some(40)
        );
        assert_eq!(n.outstanding.len(), 1);
        // While heartbeat 2 waits, the lag grows.
        assert_eq!(n.lag_ms(t0 + Duration::from_millis(400)), Some(300));
        assert_eq!(
            n.heartbeat_acked(2, t0 + Duration::from_millis(130)),
            Some(30)
        );
        assert_eq!(n.lag_ms(t0 + Duration::from_millis(1000)), Some(30));
    }

    #[test]
    fn metrics_are_prometheus_text() {
        let r = Registry::new("master", 1, 1, "127.0.0.1:3306".into());
        r.set_master("1-1-5".parse().unwrap(), true);
        r.with_node(
            "snap\"1",
            || NodeState::new("snap", 2, 2),
            |n| n.connected = true,
        );
        let text = metrics(&r.snapshot());
        assert!(text.contains("starsync_node_connected{node=\"snap\\\"1\",role=\"snap\"} 1"));
        assert!(text.contains("starsync_master_up 1"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').unwrap();
            assert!(name.starts_with("starsync_"), "{line}");
            value.parse::<f64>().unwrap();
        }
    }

    #[test]
    fn rfc3339_format() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_577_836_800_123);
        assert_eq!(rfc3339(t), "2020-01-01T00:00:00.123Z");
    }
}
