//! `master-admin status`: the hub's view of every node, as a table or JSON, once or refreshed.
//!
//! The health verdict is for monitoring scripts: a node that is not connected (or a master
//! whose database does not answer the hub), or a node whose `lag_ms` is over `--max-lag`, is a
//! *problem*; any problem makes the exit code [`EXIT_PROBLEM`]. A node whose lag is unknown (no
//! heartbeat acknowledged yet) is not a problem by itself: a disconnected node is caught by the
//! first rule, and a stuck one by its growing lag (the hub counts an unanswered heartbeat's age).
//! A snap whose position the master's binlog no longer holds (`needs_resync`) is a problem.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use crate::error::{Result, EXIT_OK, EXIT_PROBLEM};
use crate::hub::{Hub, NodeInfo, StatusDoc};
use crate::render::{self, Align, Table};

/// Options of `status`.
#[derive(Debug, Clone, Default)]
pub struct StatusOpts {
    /// Print the hub's JSON (pretty) instead of the table.
    pub json: bool,
    /// Refresh every so often until Ctrl-C.
    pub watch: Option<Duration>,
    /// Lag above this many milliseconds is a problem.
    pub max_lag_ms: Option<u64>,
}

/// Longest "last error" shown in the table; longer ones are printed in full below it.
const ERROR_CELL: usize = 40;

/// What is wrong, one sentence per problem; empty when all is well.
pub fn problems(doc: &StatusDoc, max_lag_ms: Option<u64>) -> Vec<String> {
    let mut out = Vec::new();
    if !doc.hub.master_ok {
        out.push(format!(
            "the master database ({}) does not answer the hub",
            master_name(doc)
        ));
    }
    if doc.nodes.is_empty() {
        out.push("the hub lists no nodes".into());
    }
    if let Some((true, w)) = tls_expiry(doc) {
        out.push(w);
    }
    if let Some(v) = &doc.hub.last_verify {
        for d in &v.differences {
            out.push(format!(
                "{} differs on {} from the master's (the hub's verification at {}): `{}` \
                 makes it the master's",
                d.table,
                d.node,
                v.at,
                replicator::repair::repair_command(&d.table, &d.node)
            ));
        }
    }
    for n in &doc.nodes {
        if !n.connected {
            let since = n
                .disconnected_since
                .as_deref()
                .and_then(render::ago)
                .map(|d| format!(" for {}", render::duration(d)))
                .unwrap_or_default();
            out.push(format!("{} is disconnected{since}", n.name));
        }
        if n.needs_resync {
            out.push(format!(
                "{} gets no changes from the master: its position was purged from the master's \
                 binlog; run `replicator agent --resync` on it",
                n.name
            ));
        }
        if let (Some(max), Some(lag)) = (max_lag_ms, n.lag_ms) {
            if lag > max {
                out.push(format!("{} lags {lag} ms (over --max-lag {max})", n.name));
            }
        }
    }
    out
}

/// The hub's word on its TLS certificate when it expires within 30 days: (expired, text).
fn tls_expiry(doc: &StatusDoc) -> Option<(bool, String)> {
    let at = render::parse_rfc3339(doc.hub.tls_expires_at.as_deref()?)?;
    let now = std::time::SystemTime::now();
    replicator::wire::tls::expiry_warning(at, now).map(|w| (at <= now, w))
}

fn master_name(doc: &StatusDoc) -> &str {
    if doc.hub.node.is_empty() {
        "master"
    } else {
        &doc.hub.node
    }
}

/// `yes (5m12s)` / `NO (15s)`: connected, and for how long in that state. The master's
/// "connection" is its database answering the hub.
fn connected_cell(doc: &StatusDoc, n: &NodeInfo) -> String {
    let (word, since) = if n.role == "master" && !doc.hub.master_ok {
        ("NO (database down)", None)
    } else if n.connected {
        ("yes", n.connected_since.as_deref())
    } else {
        ("NO", n.disconnected_since.as_deref())
    };
    match since.and_then(render::ago) {
        Some(d) => format!("{word} ({})", render::duration(d)),
        None => word.to_owned(),
    }
}

fn opt_ms(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// The status table with a heading and the verdict.
pub fn render(doc: &StatusDoc, hub_addr: &str, max_lag_ms: Option<u64>) -> String {
    let mut out = String::new();
    let up = render::ago(&doc.hub.started_at)
        .map(|d| format!(", hub up {}", render::duration(d)))
        .unwrap_or_default();
    out.push_str(&format!(
        "starsync hub at {hub_addr} (version {}{up}): master {:?} server_id {}, binlog {}\n\n",
        if doc.hub.version.is_empty() {
            "?"
        } else {
            &doc.hub.version
        },
        master_name(doc),
        doc.hub.server_id,
        empty_dash(&doc.hub.gtid_binlog_pos.to_string()),
    ));
    let mut t = Table::new(&[
        ("NODE", Align::Left),
        ("ROLE", Align::Left),
        ("CONNECTED", Align::Left),
        ("ADDRESS", Align::Left),
        ("GTID POSITION", Align::Left),
        ("BEHIND", Align::Right),
        ("LAG MS", Align::Right),
        ("CAPTURE MS", Align::Right),
        ("TXN/S", Align::Right),
        ("ROWS/S", Align::Right),
        ("QUEUED", Align::Right),
        ("CONFLICTS", Align::Right),
        ("DRIFT", Align::Right),
        ("LAST ERROR", Align::Left),
    ]);
    let mut long_errors = Vec::new();
    for n in &doc.nodes {
        let err = n.last_error.clone().unwrap_or_default();
        if err.chars().count() > ERROR_CELL {
            long_errors.push(format!("{} last error: {err}", n.name));
        }
        t.row(vec![
            n.name.clone(),
            n.role.clone(),
            connected_cell(doc, n),
            if n.tls {
                format!("{} (TLS)", n.address)
            } else {
                empty_dash(&n.address)
            },
            empty_dash(&n.gtid_pos.to_string()),
            n.txns_behind.to_string(),
            opt_ms(n.lag_ms),
            opt_ms(n.capture_lag_ms),
            format!("{:.1}", n.txn_per_sec),
            format!("{:.1}", n.rows_per_sec),
            render::bytes(n.bytes_queued),
            n.conflicts.to_string(),
            n.ddl_drift.to_string(),
            render::truncate(&err, ERROR_CELL),
        ]);
    }
    out.push_str(&t.render());
    out.push('\n');
    for e in long_errors {
        out.push_str(&e);
        out.push('\n');
    }
    for n in doc.nodes.iter().filter(|n| n.ddl_drift > 0) {
        out.push_str(&format!(
            "{} ran {} statement(s) locally that do not replicate (DDL, or data changes logged as statements){}\n",
            n.name,
            n.ddl_drift,
            n.last_ddl_drift
                .as_deref()
                .map(|d| format!("; last: {}", render::truncate(d, 100)))
                .unwrap_or_default()
        ));
    }
    for n in doc.nodes.iter().filter(|n| n.ddl_failed > 0) {
        out.push_str(&format!(
            "{}: {} DDL statement(s) from the master failed there, so its schema differs from the \
             master's until a DBA mends it (the agent's log says how; `master-admin verify` \
             compares; `master-admin repair DB.TABLE --node {}` makes a table the master's){}\n",
            n.name,
            n.ddl_failed,
            n.name,
            n.last_ddl_failed
                .as_deref()
                .map(|d| format!("; last: {}", render::truncate(d, 160)))
                .unwrap_or_default()
        ));
    }
    for n in doc.nodes.iter() {
        if let Some(why) = &n.writes_held {
            out.push_str(&format!(
                "{} refuses local writes for now (read_only): {why}\n",
                n.name
            ));
        }
        if let Some(what) = &n.repair {
            out.push_str(&format!("{}: repairing {what}\n", n.name));
        }
    }
    // A row the master takes but a snap does not cannot be applied there.
    let master_packet = doc
        .nodes
        .iter()
        .find(|n| n.role == "master")
        .and_then(|n| n.max_allowed_packet);
    for n in doc.nodes.iter().filter(|n| n.role != "master") {
        if let (Some(p), Some(m)) = (n.max_allowed_packet, master_packet) {
            if p < m {
                out.push_str(&format!(
                    "{}'s max_allowed_packet ({}) is smaller than the master's ({}): rows bigger \
                     than it cannot be applied there; raise it (SET GLOBAL max_allowed_packet \
                     and the config file)\n",
                    n.name,
                    render::bytes(p),
                    render::bytes(m)
                ));
            }
        }
    }
    if let Some(v) = doc
        .hub
        .last_verify
        .iter()
        .find(|v| v.differences.is_empty())
    {
        out.push_str(&format!(
            "verified equal at {} (the hub's last verification, at position {}{})\n",
            v.at,
            v.position,
            if v.missing.is_empty() {
                String::new()
            } else {
                format!("; not verified: {}", v.missing.join(", "))
            }
        ));
    }
    // A certificate near its end (once expired it is a problem, below).
    if let Some(w) = tls_expiry(doc).filter(|(expired, _)| !expired) {
        out.push_str(&format!("{}\n", w.1));
    }
    if doc.conflicts_total > 0 {
        out.push_str(&format!(
            "{} conflict(s) logged: `master-admin conflicts` shows them\n",
            doc.conflicts_total
        ));
    }
    let problems = problems(doc, max_lag_ms);
    if problems.is_empty() {
        let lag = max_lag_ms
            .map(|m| format!(", lag within {m} ms"))
            .unwrap_or_default();
        out.push_str(&format!(
            "OK: all {} nodes connected{lag}\n",
            doc.nodes.len()
        ));
    } else {
        for p in problems {
            out.push_str(&format!("PROBLEM: {p}\n"));
        }
    }
    out
}

fn empty_dash(s: &str) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.to_owned()
    }
}

/// One look: the text to print and the exit code.
async fn once(hub: &Hub, opts: &StatusOpts) -> Result<(String, u8)> {
    let (doc, raw) = hub.status().await?;
    let code = if problems(&doc, opts.max_lag_ms).is_empty() {
        EXIT_OK
    } else {
        EXIT_PROBLEM
    };
    let text = if opts.json {
        format!("{raw}\n")
    } else {
        render(&doc, &hub.addr, opts.max_lag_ms)
    };
    Ok((text, code))
}

/// Runs `status`; returns the exit code (with `--watch`, the last one before Ctrl-C).
pub async fn run(hub: &Hub, opts: &StatusOpts) -> Result<u8> {
    let Some(every) = opts.watch else {
        let (text, code) = once(hub, opts).await?;
        print!("{text}");
        return Ok(code);
    };
    let tty = std::io::stdout().is_terminal();
    let mut code;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        // An unreachable hub is shown and retried; anything else ends the watch.
        let text = match once(hub, opts).await {
            Ok((text, c)) => {
                code = c;
                text
            }
            Err(e) if e.is_transient() => {
                code = e.exit_code();
                format!("{e}\n")
            }
            Err(e) => return Err(e),
        };
        let mut out = std::io::stdout().lock();
        if tty {
            // Clear the screen and go home.
            let _ = write!(out, "\x1b[2J\x1b[H");
        } else {
            let _ = writeln!(out, "----");
        }
        let _ = writeln!(
            out,
            "{text}(refreshing every {}; Ctrl-C to stop)",
            render::duration(every)
        );
        let _ = out.flush();
        drop(out);
        tokio::select! {
            _ = &mut ctrl_c => return Ok(code),
            _ = tokio::time::sleep(every) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> StatusDoc {
        serde_json::from_str(
            r#"{"hub": {"node": "master", "server_id": 1, "domain_id": 1,
                "gtid_binlog_pos": "1-1-9", "started_at": "2020-01-01T00:00:00.000Z",
                "version": "0.1.0", "master_ok": true},
              "nodes": [
                {"name": "master", "role": "master", "connected": true, "gtid_pos": "1-1-9",
                 "lag_ms": 0, "address": "127.0.0.1:3306", "max_allowed_packet": 67108864},
                {"name": "snap1", "role": "snap", "connected": true, "gtid_pos": "1-1-7",
                 "txns_behind": 2, "lag_ms": 1500, "bytes_queued": 2048,
                 "address": "10.0.0.7:51000", "tls": true,
                 "max_allowed_packet": 4194304,
                 "repair": "MOST.t: 2000 of the master's rows received",
                 "last_error": "a very long error message that does not fit in the cell at all"},
                {"name": "snap2", "role": "snap", "connected": false, "gtid_pos": "1-1-3",
                 "disconnected_since": "2020-01-01T00:00:00.000Z", "ddl_drift": 1,
                 "last_ddl_drift": "ALTER TABLE t ADD c INT", "ddl_failed": 2,
                 "last_ddl_failed": "ALTER TABLE t ADD CONSTRAINT c CHECK (v > 0): ERROR 4025",
                 "writes_held": "loading the master's snapshot"}],
              "conflicts_total": 3}"#,
        )
        .unwrap()
    }

    #[test]
    fn disconnected_and_lagging_nodes_are_problems() {
        let d = doc();
        let p = problems(&d, None);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("snap2 is disconnected for "), "{p:?}");
        let p = problems(&d, Some(1000));
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p.iter().any(|x| x.contains("snap1 lags 1500 ms")), "{p:?}");
        assert!(problems(&d, Some(2000)).len() == 1);
    }

    #[test]
    fn a_snap_that_needs_a_resync_is_a_problem_though_connected() {
        let mut d = doc();
        d.nodes.retain(|n| n.connected);
        assert!(problems(&d, None).is_empty());
        d.nodes[1].needs_resync = true;
        let p = problems(&d, None);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].contains("snap1 gets no changes") && p[0].contains("--resync"),
            "{p:?}"
        );
    }

    #[test]
    fn a_tls_certificate_near_its_end_is_shown_and_an_expired_one_is_a_problem() {
        let mut d = doc();
        d.nodes.retain(|n| n.connected);
        let text = |d: &StatusDoc| render(d, "127.0.0.1:4580", None);
        assert!(!text(&d).contains("TLS certificate"));
        let in_days = |days: u64| {
            let t = std::time::SystemTime::now() + Duration::from_secs(days * 86_400 + 3600);
            Some(replicator::hub::status::rfc3339(t))
        };
        d.hub.tls_expires_at = in_days(400);
        assert!(!text(&d).contains("TLS certificate"), "{}", text(&d));
        d.hub.tls_expires_at = in_days(10);
        assert!(text(&d).contains("expires on"), "{}", text(&d));
        assert!(text(&d).contains("in 10 day(s)"), "{}", text(&d));
        assert!(problems(&d, None).is_empty());
        d.hub.tls_expires_at = Some("2021-01-01T00:00:00.000Z".into());
        let p = problems(&d, None);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("expired on 2021-01-01"), "{p:?}");
    }

    #[test]
    fn the_hubs_last_verification_is_shown_and_a_difference_is_a_problem() {
        use crate::hub::{DifferingTable, LastVerify};
        let mut d = doc();
        d.nodes.retain(|n| n.connected);
        let text = |d: &StatusDoc| render(d, "127.0.0.1:4580", None);
        assert!(!text(&d).contains("verif"), "{}", text(&d));
        d.hub.last_verify = Some(LastVerify {
            at: "2026-11-28T09:00:00.000Z".into(),
            position: "1-1-5".into(),
            differences: vec![],
            missing: vec!["snap2".into()],
        });
        assert!(
            text(&d).contains("verified equal at 2026-11-28T09:00:00.000Z (the hub's last verification, at position 1-1-5; not verified: snap2)"),
            "{}",
            text(&d)
        );
        assert!(problems(&d, None).is_empty());
        d.hub.last_verify.as_mut().unwrap().differences = vec![DifferingTable {
            table: "`MOST`.`cc`".into(),
            node: "snap1".into(),
        }];
        let p = problems(&d, None);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].contains("`MOST`.`cc` differs on snap1")
                && p[0].contains("`master-admin repair MOST.cc --node snap1`"),
            "{p:?}"
        );
        assert!(!text(&d).contains("verified equal"), "{}", text(&d));
    }

    #[test]
    fn master_down_is_a_problem() {
        let mut d = doc();
        d.nodes.retain(|n| n.connected);
        assert!(problems(&d, None).is_empty());
        d.hub.master_ok = false;
        assert_eq!(problems(&d, None).len(), 1);
    }

    #[test]
    fn table_shows_every_node_and_the_verdict() {
        let text = render(&doc(), "127.0.0.1:4580", Some(1000));
        for want in [
            "starsync hub at 127.0.0.1:4580",
            "NODE",
            "LAST ERROR",
            "master",
            "snap1",
            "2.0 KiB",
            "1-1-7",
            "snap1 last error: a very long error message",
            "snap2 ran 1 statement(s) locally that do not replicate (DDL, or data changes",
            "snap2: 2 DDL statement(s) from the master failed there",
            "last: ALTER TABLE t ADD CONSTRAINT c CHECK (v > 0): ERROR 4025",
            "snap2 refuses local writes for now (read_only): loading the master's snapshot",
            "snap1: repairing MOST.t: 2000 of the master's rows received",
            "3 conflict(s) logged",
            "snap1's max_allowed_packet (4.0 MiB) is smaller than the master's (64.0 MiB)",
            "PROBLEM: snap2 is disconnected",
            "PROBLEM: snap1 lags 1500 ms (over --max-lag 1000)",
        ] {
            assert!(text.contains(want), "{want:?} missing in\n{text}");
        }
        assert!(
            !text.contains("snap2's max_allowed_packet"),
            "unknown: no line\n{text}"
        );
        let snap2 = text.lines().find(|l| l.starts_with("snap2")).unwrap();
        assert!(snap2.contains(" NO ("), "{snap2}");
        let snap1 = text.lines().find(|l| l.starts_with("snap1")).unwrap();
        assert!(snap1.contains("10.0.0.7:51000 (TLS)"), "{snap1}");
        assert!(!snap2.contains("(TLS)"), "{snap2}");
    }
}
