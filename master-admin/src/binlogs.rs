//! `purge-binlogs`: purge the master's binlog files that no snap needs any more.
//!
//! The hub streams each snap from that snap's own position in the master's binlog. A file a
//! snap still needs, once purged (`PURGE BINARY LOGS`, `binlog_expire_logs_seconds`), leaves
//! that snap without the master's changes until it is resynced. MariaDB cannot tell: a snap
//! that is offline is no replica it knows of. The hub can: its status gives every snap's
//! `needs_from` (kept in `starsync.snaps` on the master, so snaps offline across hub restarts
//! count too). A snap can start reading at the newest file whose starting GTID state (the
//! file's `Gtid_list` event) its `needs_from` holds; every file before the oldest such start
//! can go, and the current file always stays.

use std::io::Write;

use mysql_async::prelude::*;
use replicator::gtid::GtidPos;

use crate::db::{confirm, Db};
use crate::error::{Error, Result};
use crate::hub::{Hub, StatusDoc};
use crate::render::{bytes, Align, Table};

pub use replicator::binlog::files::BinlogFile;

/// What may be purged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Index of the first file to keep: files before it are purged.
    pub keep_from: usize,
    /// For each file, the snaps that start reading there.
    pub starts: Vec<Vec<String>>,
    /// Snaps without a known position (never subscribed: an initial sync under way); while
    /// there is one, nothing is purged.
    pub unknown: Vec<String>,
    /// Snaps whose position is older than every file left: already purged, they need a resync
    /// whatever is kept.
    pub lost: Vec<String>,
}

/// The plan for `files` (oldest first) and the snaps' `needs_from`.
pub fn plan(files: &[BinlogFile], snaps: &[(String, Option<GtidPos>)]) -> Plan {
    let mut starts = vec![Vec::new(); files.len()];
    let mut unknown = Vec::new();
    let mut lost = Vec::new();
    let mut keep_from = files.len().saturating_sub(1);
    for (name, needs) in snaps {
        let Some(needs) = needs else {
            unknown.push(name.clone());
            continue;
        };
        match files.iter().rposition(|f| needs.covers(&f.start)) {
            Some(i) => {
                starts[i].push(name.clone());
                keep_from = keep_from.min(i);
            }
            None => lost.push(name.clone()),
        }
    }
    if !unknown.is_empty() {
        keep_from = 0;
    }
    Plan {
        keep_from,
        starts,
        unknown,
        lost,
    }
}

/// The master's binlog files, oldest first, with the GTID state each starts at.
pub async fn files(db: &mut Db) -> Result<Vec<BinlogFile>> {
    replicator::binlog::files::list(&mut db.conn)
        .await
        .map_err(|e| match e {
            replicator::Error::Db { context, source } => db.err(context)(source),
            other => Error::Usage(other.to_string()),
        })
}

/// Lists the files with what each snap needs, then purges what none needs (after asking,
/// unless `yes`; never with `dry_run`).
pub async fn purge(
    db: &mut Db,
    hub: &Hub,
    dry_run: bool,
    yes: bool,
    out: &mut dyn Write,
) -> Result<()> {
    // Without the hub nobody knows what the snaps need: refuse rather than guess.
    let (doc, _) = hub
        .get_doc::<StatusDoc>("/status", std::time::Duration::from_secs(5))
        .await?;
    db.ensure_master(hub).await?;
    let snaps: Vec<(String, Option<GtidPos>)> = doc
        .nodes
        .iter()
        .filter(|n| n.role == "snap")
        .map(|n| (n.name.clone(), n.needs_from.clone()))
        .collect();
    let files = files(db).await?;
    let p = plan(&files, &snaps);
    let _ = writeln!(out, "binlog files of the master {}:", db.address);
    let mut table = Table::new(&[
        ("FILE", Align::Left),
        ("SIZE", Align::Right),
        ("STARTS AT", Align::Left),
        ("ACTION", Align::Left),
    ]);
    for (i, f) in files.iter().enumerate() {
        let what = if i < p.keep_from {
            "purge".to_string()
        } else if p.starts[i].is_empty() {
            "keep".to_string()
        } else {
            format!("keep: {} reads from here", p.starts[i].join(", "))
        };
        let start = if f.start.is_empty() {
            "-".to_string()
        } else {
            f.start.to_string()
        };
        table.row(vec![f.name.clone(), bytes(f.size), start, what]);
    }
    let _ = write!(out, "{}", table.render());
    for name in &p.lost {
        let _ = writeln!(
            out,
            "warning: {name} needs changes older than every binlog file left (already purged); \
             it gets no changes from the master until you run `replicator agent --resync` on it"
        );
    }
    if !p.unknown.is_empty() {
        let _ = writeln!(
            out,
            "nothing purged: {} {} no known position yet (an initial sync under way?); try again \
             when `master-admin status` shows {} connected",
            p.unknown.join(", "),
            if p.unknown.len() == 1 { "has" } else { "have" },
            if p.unknown.len() == 1 { "it" } else { "them" }
        );
        return Ok(());
    }
    if p.keep_from == 0 {
        let _ = writeln!(out, "nothing to purge: every file is still needed");
        return Ok(());
    }
    let keep = &files[p.keep_from].name;
    let freed: u64 = files[..p.keep_from].iter().map(|f| f.size).sum();
    let _ = writeln!(
        out,
        "{} file(s), {}, no snap needs: PURGE BINARY LOGS TO '{keep}'",
        p.keep_from,
        bytes(freed)
    );
    if dry_run {
        let _ = writeln!(out, "--dry-run: nothing purged");
        return Ok(());
    }
    if !yes {
        confirm(
            &format!(
                "This deletes {} binlog file(s) of the master {} (up to, not including, {keep}).",
                p.keep_from, db.address
            ),
            &["purge".to_string()],
            &mut std::io::stdin().lock(),
            &mut std::io::stderr(),
        )?;
    }
    db.exec(
        "purging the binary logs",
        &format!("PURGE BINARY LOGS TO '{}'", keep.replace('\'', "''")),
    )
    .await?;
    let left: Vec<String> = db
        .conn
        .query_map("SHOW BINARY LOGS", |row: mysql_async::Row| {
            row.get::<String, _>(0).unwrap_or_default()
        })
        .await
        .map_err(db.err("listing the binary logs"))?;
    if left.first() != Some(keep) {
        // MariaDB skips files a connected replica still reads, with a warning only.
        let _ = writeln!(
            out,
            "purged up to {}: a file still being read was kept (MariaDB keeps binlogs a \
             connected reader uses); run this again later",
            left.first().cloned().unwrap_or_default()
        );
    } else {
        let _ = writeln!(out, "purged; the oldest binlog file is now {keep}");
    }
    Ok(())
}

/// Forgets a snap that is gone for good: deletes its row in `starsync.snaps`, after which the
/// hub drops it (within its 2 s bookkeeping tick) and `purge-binlogs` stops keeping binlogs for
/// it. Refused while the snap is connected. A forgotten snap that comes back is served as
/// any snap: from its own position if the master still has it, else it needs a resync.
pub async fn forget_snap(
    db: &mut Db,
    hub: &Hub,
    name: &str,
    yes: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let doc = match hub
        .get_doc::<StatusDoc>("/status", std::time::Duration::from_secs(5))
        .await
    {
        Ok((doc, _)) => Some(doc),
        Err(e) => {
            let _ = writeln!(
                out,
                "the hub does not answer ({e}); forgetting {name} in starsync.snaps only (a hub \
                 started later does not load it)"
            );
            None
        }
    };
    db.ensure_master(hub).await?;
    let listed = doc
        .as_ref()
        .and_then(|d| d.nodes.iter().find(|n| n.role == "snap" && n.name == name));
    if let Some(n) = listed.filter(|n| n.connected || n.syncing) {
        return Err(Error::Refused(format!(
            "{} is connected to the hub: stop its agent first (on that snap: `systemctl stop \
             starsync-agent`), then forget it",
            n.name
        )));
    }
    let err = db.err("reading starsync.snaps");
    let rows: Vec<(String, Option<String>)> = db
        .conn
        .query(
            "SELECT name, DATE_FORMAT(last_seen, '%Y-%m-%d %H:%i:%s') FROM starsync.snaps \
             ORDER BY name",
        )
        .await
        .map_err(err)?;
    let row = rows.iter().find(|(n, _)| n == name);
    let seen = match (row, listed) {
        (Some((_, t)), _) => t.clone(),
        // Listed, not written yet (the hub writes every 2 s): deleting now would delete
        // nothing, and the hub would write the row afterwards.
        (None, Some(listed)) => {
            if listed.needs_from.is_none() {
                return Err(Error::Refused(format!(
                    "{name} has no known position (it never finished its initial sync), so it \
                     has no row to delete; the hub forgets it when it restarts"
                )));
            }
            written_row(db, name).await?
        }
        (None, None) => {
            let mut known: std::collections::BTreeSet<&str> =
                rows.iter().map(|(n, _)| n.as_str()).collect();
            if let Some(d) = &doc {
                known.extend(
                    d.nodes
                        .iter()
                        .filter(|n| n.role == "snap")
                        .map(|n| n.name.as_str()),
                );
            }
            return Err(Error::Usage(format!(
                "no snap named {name:?} is known to the hub (known: {}); names are \
                 case-sensitive",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.into_iter().collect::<Vec<_>>().join(", ")
                }
            )));
        }
    };
    let seen = seen.map_or(String::new(), |t| format!(", last seen {t} UTC"));
    if !yes {
        confirm(
            &format!(
                "This forgets the snap {name}{seen}: purge-binlogs stops keeping the master's \
                 binlogs for it. If it comes back after they are purged, it needs `replicator \
                 agent --resync`."
            ),
            &[name.to_string()],
            &mut std::io::stdin().lock(),
            &mut std::io::stderr(),
        )?;
    }
    // The DBA's own bookkeeping: not for the binlog (the hub never ships `starsync` anyway).
    db.exec(
        "disabling the binlog for this session",
        "SET SESSION sql_log_bin = 0",
    )
    .await?;
    let err = db.err("deleting the snap from starsync.snaps");
    db.conn
        .exec_drop("DELETE FROM starsync.snaps WHERE name = ?", (name,))
        .await
        .map_err(err)?;
    if doc.is_none() {
        let _ = writeln!(out, "forgot {name}");
        return Ok(());
    }
    dropped_by_hub(hub, name).await?;
    let _ = writeln!(
        out,
        "forgot {name}: the hub no longer lists it, and purge-binlogs no longer keeps binlogs for it"
    );
    Ok(())
}

/// Waits (10 s at most) until the hub has written `name`'s row; returns its `last_seen`.
async fn written_row(db: &mut Db, name: &str) -> Result<Option<String>> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let err = db.err("reading starsync.snaps");
        let t: Option<Option<String>> = db
            .conn
            .exec_first(
                "SELECT DATE_FORMAT(last_seen, '%Y-%m-%d %H:%i:%s') FROM starsync.snaps \
                 WHERE name = ?",
                (name,),
            )
            .await
            .map_err(err)?;
        if let Some(t) = t {
            return Ok(t);
        }
        if std::time::Instant::now() > deadline {
            return Err(Error::Refused(format!(
                "the hub lists {name} but has not written it to starsync.snaps within 10 s; \
                 see the hub's log (`cannot record the snaps' positions`)"
            )));
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// Waits (10 s at most) until the hub no longer lists `name`: it drops a snap whose row is
/// deleted at its next bookkeeping tick (every 2 s).
async fn dropped_by_hub(hub: &Hub, name: &str) -> Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (doc, _) = hub
            .get_doc::<StatusDoc>("/status", std::time::Duration::from_secs(5))
            .await?;
        match doc.nodes.iter().find(|n| n.name == name) {
            None => return Ok(()),
            Some(n) if n.connected || n.syncing => {
                return Err(Error::Refused(format!(
                    "{name} connected again while it was being forgotten: the hub keeps it"
                )))
            }
            Some(_) if std::time::Instant::now() > deadline => {
                return Err(Error::Refused(format!(
                    "{name}'s row is deleted, but the hub at {} still lists it after 10 s (a hub \
                     older than this master-admin?): restart the hub to drop it",
                    hub.addr
                )))
            }
            Some(_) => tokio::time::sleep(std::time::Duration::from_millis(250)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, start: &str) -> BinlogFile {
        BinlogFile {
            name: name.into(),
            size: 100,
            start: start.parse().unwrap(),
        }
    }

    fn files() -> Vec<BinlogFile> {
        vec![
            file("b.1", ""),
            file("b.2", "1-1-4"),
            file("b.3", "1-1-9,2-2-3"),
            file("b.4", "1-1-12,2-2-3"),
        ]
    }

    fn snap(name: &str, needs: &str) -> (String, Option<GtidPos>) {
        (name.into(), Some(needs.parse().unwrap()))
    }

    #[test]
    fn keeps_from_the_oldest_file_a_snap_starts_in() {
        let p = plan(
            &files(),
            &[snap("s1", "1-1-12,2-2-3"), snap("s2", "1-1-5,2-2-3")],
        );
        assert_eq!(
            p.keep_from, 1,
            "s2 reads from b.2 (it holds 1-1-4, not 1-1-9)"
        );
        assert_eq!(p.starts[1], vec!["s2".to_string()]);
        assert_eq!(p.starts[3], vec!["s1".to_string()]);
    }

    #[test]
    fn a_missing_domain_is_needed_from_the_start() {
        // s1 never got domain 2: it needs b.2 (the last file starting without domain 2).
        let p = plan(&files(), &[snap("s1", "1-1-20")]);
        assert_eq!(p.keep_from, 1);
    }

    #[test]
    fn all_caught_up_keeps_only_the_current_file() {
        let p = plan(&files(), &[snap("s1", "1-1-30,2-2-9")]);
        assert_eq!(p.keep_from, 3);
        let p = plan(&files(), &[]);
        assert_eq!(p.keep_from, 3, "no snaps: every file but the current one");
    }

    #[test]
    fn an_unknown_position_purges_nothing_and_a_lost_snap_blocks_nothing() {
        let p = plan(
            &files(),
            &[("new".into(), None), snap("s1", "1-1-30,2-2-9")],
        );
        assert_eq!(p.keep_from, 0);
        assert_eq!(p.unknown, vec!["new".to_string()]);
        let mut fs = files();
        fs.remove(0);
        fs.remove(0); // b.3 is the oldest: it starts at 1-1-9
        let p = plan(
            &fs,
            &[snap("old", "1-1-5,2-2-3"), snap("s1", "1-1-30,2-2-9")],
        );
        assert_eq!(p.lost, vec!["old".to_string()]);
        assert_eq!(p.keep_from, 1);
    }
}
