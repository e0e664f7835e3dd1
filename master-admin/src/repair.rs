//! `master-admin repair DB.TABLE --node SNAP`: one table of one snap made the master's
//! (`--all-snaps`: of every snap, one after the other).
//!
//! The hub does the work (`POST /repair`): the master's rows of the table, read in a consistent
//! snapshot, go into the snap's stream at the snapshot's position and replace the snap's rows
//! there; rows with a local change still in flight are left to that change's echo. Nothing else
//! on the snap changes and it keeps serving meanwhile (writers of that table wait while it is
//! rewritten). `--dry-run` counts what differs and changes nothing. This module asks and renders
//! the snap's report.

use std::time::Duration;

use crate::error::{Error, Result, EXIT_OK, EXIT_PROBLEM};
use crate::hub::Hub;
use crate::names::TableName;

/// Default for how long the hub may take (the snap may be behind; a large table takes time).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(900);

/// The snap's report, as the hub sends it (every field defaults: an older or newer hub's report
/// reads too).
pub use replicator::repair::RepairReport as Report;

fn rows(n: u64) -> String {
    if n == 1 {
        "1 row".into()
    } else {
        format!("{n} rows")
    }
}

/// The report as text.
pub fn render(r: &Report) -> String {
    let at = format!(
        "{} on {} at the master's position {}",
        r.table, r.node, r.master_pos
    );
    let mut out = String::new();
    if let Some(e) = &r.error {
        out.push_str(&format!("repair of {at} FAILED: {e}\n"));
        if r.recreated {
            out.push_str(
                "the table was made again from the master's definition before the failure: \
                 its rows may be missing on the snap until a repair succeeds\n",
            );
        } else {
            out.push_str("nothing was changed on the snap\n");
        }
        return out;
    }
    if r.dry_run && r.definition_differed {
        out.push_str(&format!(
            "{at}: its definition differs from the master's (or the table is missing there); \
             a repair makes it again from the master's CREATE TABLE and loads the master's {} \
             (dry run: nothing changed)\n",
            rows(r.master_rows)
        ));
        return out;
    }
    if !r.differs() {
        out.push_str(&format!(
            "{at}: already the master's ({}); nothing changed\n",
            rows(r.master_rows)
        ));
    } else if r.keyless {
        out.push_str(&format!(
            "{at}: no primary key, so every row is replaced: {} deleted, the master's {} \
             inserted{}\n",
            rows(r.extra),
            rows(r.missing),
            if r.dry_run {
                " (dry run: nothing changed)"
            } else {
                ""
            }
        ));
    } else {
        let verb = if r.dry_run {
            "would be made the master's (dry run: nothing changed; run it again without \
             --dry-run to repair)"
        } else {
            "made the master's"
        };
        out.push_str(&format!(
            "{at}: {} differed, {} missing, {} extra of the master's {}: {verb}\n",
            rows(r.differed),
            rows(r.missing),
            rows(r.extra),
            r.master_rows
        ));
    }
    if r.recreated {
        out.push_str(
            "its definition differed from the master's: the table was made again from the \
             master's CREATE TABLE\n",
        );
    }
    if r.in_flight > 0 {
        out.push_str(&format!(
            "{} with a local change still on its way to the master left as on the snap (that \
             change's echo brings the master's row)\n",
            rows(r.in_flight)
        ));
    }
    out
}

/// Runs `repair`; exit code 0 when done (or, dry, nothing differs), 1 when it failed or (dry)
/// the table differs.
pub async fn run(
    hub: &Hub,
    table: &TableName,
    node: &str,
    dry_run: bool,
    timeout: Duration,
    as_json: bool,
) -> Result<u8> {
    let (report, body) = ask(hub, table, node, dry_run, timeout).await?;
    if as_json {
        println!("{}", body.trim());
    } else {
        print!("{}", render(&report));
    }
    Ok(code(&report))
}

/// The exit code of one report: 1 when it failed or (dry) the table differs.
fn code(report: &Report) -> u8 {
    if report.error.is_some() || (report.dry_run && report.differs()) {
        EXIT_PROBLEM
    } else {
        EXIT_OK
    }
}

/// `repair --all-snaps`: the table on every snap the hub knows, one after the other (each
/// repair is one snap's stream). A snap that is not connected, or whose repair the hub refuses,
/// is reported and the others go on; the exit code is 1 if any failed, was skipped or (dry)
/// differs. `--json` prints one array of the reports.
pub async fn run_all(
    hub: &Hub,
    table: &TableName,
    dry_run: bool,
    timeout: Duration,
    as_json: bool,
) -> Result<u8> {
    let (status, _) = hub.status().await?;
    let snaps: Vec<_> = status.nodes.iter().filter(|n| n.role == "snap").collect();
    if snaps.is_empty() {
        return Err(Error::Refused(
            "the hub knows no snap (master-admin status lists them): nothing to repair".into(),
        ));
    }
    let mut exit = EXIT_OK;
    let (mut done, mut problems, mut reports) = (0, Vec::new(), Vec::new());
    for n in snaps {
        if !n.connected {
            problems.push(format!(
                "{}: not connected, skipped (repair it once it is back: master-admin repair \
                 {table} --node {})",
                n.name, n.name
            ));
            exit = EXIT_PROBLEM;
            continue;
        }
        match ask(hub, table, &n.name, dry_run, timeout).await {
            Ok((report, body)) => {
                exit = exit.max(code(&report));
                if report.error.is_some() {
                    problems.push(format!("{}: the repair failed (above)", n.name));
                } else {
                    done += 1;
                }
                if as_json {
                    reports.push(serde_json::from_str::<serde_json::Value>(&body).map_err(
                        |e| Error::HubDecode {
                            addr: hub.addr.clone(),
                            path: "/repair",
                            problem: e.to_string(),
                        },
                    )?);
                } else {
                    print!("{}", render(&report));
                }
            }
            // This snap only (it went away meanwhile, say): the others go on.
            Err(Error::Refused(why)) => {
                problems.push(format!("{}: refused: {why}", n.name));
                exit = EXIT_PROBLEM;
            }
            Err(e) => return Err(e),
        }
    }
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&reports).unwrap_or_default()
        );
    }
    eprintln!(
        "{} {table} on {done} of {} snap(s){}",
        if dry_run { "compared" } else { "repaired" },
        done + problems.len(),
        if problems.is_empty() { "" } else { "; not on:" }
    );
    for p in &problems {
        eprintln!("  {p}");
    }
    Ok(exit)
}

/// Asks the hub to repair (or compare) `table` on `node`, showing the snap's progress; the
/// report and its JSON text.
async fn ask(
    hub: &Hub,
    table: &TableName,
    node: &str,
    dry_run: bool,
    timeout: Duration,
) -> Result<(Report, String)> {
    let mut path = format!(
        "/repair?table={}&node={}",
        replicator::http::encode(&table.quoted()),
        replicator::http::encode(node)
    );
    if dry_run {
        path.push_str("&dry_run=1");
    }
    eprintln!(
        "{} {table} on {node}: the hub sends the master's rows into its stream…",
        if dry_run { "comparing" } else { "repairing" }
    );
    // The snap's progress from the hub's status while the repair runs.
    let request = hub.post(&path, "/repair", timeout);
    tokio::pin!(request);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut shown: Option<String> = None;
    let answer = loop {
        tokio::select! {
            r = &mut request => break r,
            _ = tick.tick() => {
                let Ok((status, _)) = hub.status().await else { continue };
                let now = status.nodes.iter().find(|n| n.name == node).and_then(|n| n.repair.clone());
                if let Some(what) = now.as_ref().filter(|w| Some(*w) != shown.as_ref()) {
                    eprintln!("  {node}: {what}");
                }
                shown = now;
            }
        }
    };
    let body = match answer {
        Err(Error::HubStatus {
            status: 404 | 405,
            addr,
            path,
            ..
        }) => {
            return Err(Error::HubStatus {
                addr,
                path,
                status: 404,
                body: "this hub does not serve /repair: upgrade the replicator on the master"
                    .into(),
            })
        }
        r => r?,
    };
    let report: Report = serde_json::from_str(&body).map_err(|e| Error::HubDecode {
        addr: hub.addr.clone(),
        path: "/repair",
        problem: e.to_string(),
    })?;
    Ok((report, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(json: &str) -> Report {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn reports_read_as_text() {
        let r = report(
            r#"{"id": 3, "node": "snap1", "table": "MOST.t", "master_pos": "0-1-9",
               "dry_run": false, "master_rows": 50, "differed": 3, "missing": 1, "extra": 2,
               "in_flight": 1, "secs": 0.2, "error": null, "future_field": 1}"#,
        );
        let text = render(&r);
        assert!(
            text.starts_with(
                "MOST.t on snap1 at the master's position 0-1-9: 3 rows differed, 1 row \
                 missing, 2 rows extra of the master's 50: made the master's\n"
            ),
            "{text}"
        );
        assert!(text.contains("1 row with a local change"), "{text}");
        let same = report(r#"{"node": "snap1", "table": "MOST.t", "master_rows": 1}"#);
        assert!(render(&same).ends_with("already the master's (1 row); nothing changed\n"));
        let failed = report(r#"{"node": "s", "table": "MOST.t", "error": "lock wait"}"#);
        assert!(render(&failed).contains("FAILED: lock wait\nnothing was changed"));
        let dry = report(r#"{"node": "s", "table": "MOST.t", "dry_run": true, "extra": 1}"#);
        assert!(
            render(&dry).contains("dry run: nothing changed"),
            "{}",
            render(&dry)
        );
    }
}
