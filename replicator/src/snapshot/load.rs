//! The agent's side of a snapshot: load it without binlogging, then set the node's GTID state to
//! the snapshot position.
//!
//! # Restart
//! `starsync.sync_state` says `loading` from the first statement to the last; a snap that finds
//! it so on start (killed mid-load) drops the replicated databases it was loading and loads
//! again. Local writes are refused ([`hold_writes`]) from the moment a load is decided until it
//! is done, across restarts. `done` means the snap has state and is never snapshotted again
//! unless the operator asks (`replicator agent --resync`).

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use mysql_async::prelude::*;
use tracing::{error, info, warn};

use super::{SchemaStatement, SnapshotEnd};
use crate::apply::sql::ident;
use crate::apply::Applier;
use crate::error::{Error, Result};
use crate::gtid::GtidPos;
use crate::wire::session::Conn;
use crate::wire::Message;

/// Where a snap stands with its initial sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState {
    /// Never synced (no row).
    None,
    /// A load started and did not finish.
    Loading,
    Done,
}

/// Reads `starsync.sync_state`.
pub async fn sync_state(conn: &mut mysql_async::Conn) -> Result<SyncState> {
    let s: Option<String> = conn
        .query_first("SELECT status FROM starsync.sync_state WHERE id = 1")
        .await
        .map_err(Error::db("reading starsync.sync_state"))?;
    Ok(match s.as_deref() {
        None => SyncState::None,
        Some("done") => SyncState::Done,
        Some(_) => SyncState::Loading,
    })
}

/// Marks the sync state (not binlogged).
pub async fn set_sync_state(
    conn: &mut mysql_async::Conn,
    status: &str,
    pos: &GtidPos,
    rows: u64,
) -> Result<()> {
    conn.query_drop("SET SESSION sql_log_bin = 0")
        .await
        .map_err(Error::db("disabling binlog"))?;
    conn.exec_drop(
        "INSERT INTO starsync.sync_state (id, status, pos, rows_loaded) VALUES (1, ?, ?, ?) \
         ON DUPLICATE KEY UPDATE status = VALUES(status), pos = VALUES(pos), \
         rows_loaded = VALUES(rows_loaded), updated_at = CURRENT_TIMESTAMP(6)",
        (status, pos.to_string(), rows),
    )
    .await
    .map_err(Error::db("writing starsync.sync_state"))?;
    conn.query_drop("SET SESSION sql_log_bin = 1")
        .await
        .map_err(Error::db("re-enabling binlog"))?;
    Ok(())
}

/// Holds local writes off while the snap's databases are replaced by the master's: sets
/// `read_only` (the agent's account writes on, with `READ_ONLY ADMIN`) and records the previous
/// setting in `starsync.read_only_hold`, so that an agent killed mid-load keeps the snap
/// read-only until a later one finishes the load, and then restores it. A write committed
/// during the load would be lost: dropped with its database, or left on the snap alone when
/// the load resets the binlog. Holding again keeps the first recorded setting.
pub async fn hold_writes(conn: &mut mysql_async::Conn, reason: &str) -> Result<()> {
    let held = writes_held(conn).await?;
    conn.query_drop("SET SESSION sql_log_bin = 0")
        .await
        .map_err(Error::db("disabling binlog"))?;
    if held.is_none() {
        let previous: Option<u8> = conn
            .query_first("SELECT @@global.read_only")
            .await
            .map_err(Error::db("reading read_only"))?;
        conn.exec_drop(
            "INSERT INTO starsync.read_only_hold (id, previous, reason) VALUES (1, ?, ?)",
            (previous.unwrap_or(0), reason),
        )
        .await
        .map_err(Error::db("writing starsync.read_only_hold"))?;
    }
    conn.query_drop("SET GLOBAL read_only = ON")
        .await
        .map_err(Error::db(
            "setting read_only to hold local writes off during the load (the agent's account \
             needs READ_ONLY ADMIN: `replicator check` prints the GRANT)",
        ))?;
    conn.query_drop("SET SESSION sql_log_bin = 1")
        .await
        .map_err(Error::db("re-enabling binlog"))?;
    if held.is_none() {
        warn!(
            reason,
            "local writes are refused (read_only) until this snap has loaded the master's \
             snapshot: a write made meanwhile would be lost"
        );
    }
    Ok(())
}

/// Why local writes are held off, if they are ([`hold_writes`]).
pub async fn writes_held(conn: &mut mysql_async::Conn) -> Result<Option<String>> {
    conn.query_first("SELECT reason FROM starsync.read_only_hold WHERE id = 1")
        .await
        .map_err(Error::db("reading starsync.read_only_hold"))
}

/// Ends [`hold_writes`]'s hold, if there is one: `read_only` goes back to what it was.
pub async fn release_writes(conn: &mut mysql_async::Conn) -> Result<()> {
    let previous: Option<u8> = conn
        .query_first("SELECT previous FROM starsync.read_only_hold WHERE id = 1")
        .await
        .map_err(Error::db("reading starsync.read_only_hold"))?;
    let Some(previous) = previous else {
        return Ok(());
    };
    conn.query_drop(format!(
        "SET GLOBAL read_only = {}",
        if previous == 0 { "OFF" } else { "ON" }
    ))
    .await
    .map_err(Error::db("restoring read_only after the load"))?;
    conn.query_drop("SET SESSION sql_log_bin = 0")
        .await
        .map_err(Error::db("disabling binlog"))?;
    conn.query_drop("DELETE FROM starsync.read_only_hold WHERE id = 1")
        .await
        .map_err(Error::db("clearing starsync.read_only_hold"))?;
    conn.query_drop("SET SESSION sql_log_bin = 1")
        .await
        .map_err(Error::db("re-enabling binlog"))?;
    if previous == 0 {
        info!("local writes are accepted again (read_only back to OFF)");
    } else {
        info!("read_only stays ON, as it was before the load");
    }
    Ok(())
}

/// Live progress, for the agent's status endpoint.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct LoadProgress {
    pub rows: u64,
    pub bytes: u64,
    pub estimated_rows: u64,
    pub rows_per_sec: u64,
}

async fn recv(conn: &mut Conn, hub: &str) -> Result<Message> {
    match tokio::time::timeout(Duration::from_secs(300), conn.next()).await {
        Ok(Some(Ok(m))) => Ok(m),
        Ok(Some(Err(e))) => Err(Error::Protocol {
            peer: format!("hub {hub}"),
            problem: format!("during the snapshot: {e}"),
        }),
        Ok(None) => Err(Error::Protocol {
            peer: format!("hub {hub}"),
            problem: "the hub closed the connection during the snapshot".into(),
        }),
        Err(_) => Err(Error::Protocol {
            peer: format!("hub {hub}"),
            problem: "no snapshot data for 300 s".into(),
        }),
    }
}

async fn run_statement(
    c: &mut mysql_async::Conn,
    st: &SchemaStatement,
) -> std::result::Result<(), mysql_async::Error> {
    if !st.schema.is_empty() {
        c.query_drop(format!("USE {}", ident(&st.schema))).await?;
    }
    if let Some(mode) = &st.sql_mode {
        c.exec_drop("SET SESSION sql_mode = ?", (mode.as_str(),))
            .await?;
    }
    c.query_drop(st.sql.as_str()).await
}

/// Requests a snapshot over `conn` and loads it into the local server. Returns the position to
/// stream from; `progress` is updated as rows arrive.
pub async fn load(
    local: &mysql_async::Opts,
    conn: &mut Conn,
    hub: &str,
    own_domain: u32,
    progress: &std::sync::Mutex<Option<LoadProgress>>,
) -> Result<GtidPos> {
    let started = Instant::now();
    conn.send(Message::SnapshotRequest)
        .await
        .map_err(|e| Error::Protocol {
            peer: format!("hub {hub}"),
            problem: e.to_string(),
        })?;
    let begin = match recv(conn, hub).await? {
        Message::SnapshotBegin(b) => b,
        Message::Refused { reason } | Message::Error { message: reason } => {
            return Err(Error::Refused {
                hub: hub.into(),
                reason,
            })
        }
        m => {
            return Err(Error::Protocol {
                peer: format!("hub {hub}"),
                problem: format!("expected the snapshot, got {}", m.kind()),
            })
        }
    };
    info!(position = %begin.pos, databases = ?begin.databases, tables = begin.tables,
          estimated_rows = begin.estimated_rows, "loading the master's snapshot");
    *progress.lock().unwrap() = Some(LoadProgress {
        estimated_rows: begin.estimated_rows,
        ..Default::default()
    });

    let mut ddl = mysql_async::Conn::new(local.clone())
        .await
        .map_err(Error::db("connecting to the local database to load"))?;
    crate::apply::ensure_state_schema(&mut ddl).await?;
    let before = crate::apply::gtid_binlog_pos(&mut ddl).await?;
    set_sync_state(&mut ddl, "loading", &begin.pos, 0).await?;
    ddl.query_drop(
        "SET SESSION sql_log_bin = 0, foreign_key_checks = 0, unique_checks = 0, \
         time_zone = '+00:00'; SET NAMES binary",
    )
    .await
    .map_err(Error::db("preparing the load session"))?;
    // A clean start: what a previous, interrupted load left is dropped.
    for db in &begin.databases {
        ddl.query_drop(format!("DROP DATABASE IF EXISTS {}", ident(db)))
            .await
            .map_err(Error::db(format!("dropping {db} before the load")))?;
    }
    for st in &begin.schema {
        run_statement(&mut ddl, st).await.map_err(|e| Error::Db {
            context: format!("creating the schema: {}", st.sql),
            source: e,
        })?;
    }

    let mut applier = Applier::connect(local, "local (snapshot load)").await?;
    applier
        .conn()
        .query_drop("SET SESSION foreign_key_checks = 0, unique_checks = 0")
        .await
        .map_err(Error::db("preparing the load session"))?;
    let (mut rows, mut bytes) = (0u64, 0u64);
    let mut last_log = Instant::now();
    let end: SnapshotEnd = loop {
        match recv(conn, hub).await? {
            Message::SnapshotRows(chunk) => {
                applier.begin_unlogged().await?;
                applier.rows(&chunk, None).await?;
                applier.commit_unlogged(chunk.len() as u64).await?;
                rows += chunk.len() as u64;
                bytes += chunk.approx_bytes() as u64;
                let secs = started.elapsed().as_secs_f64().max(1e-3);
                let p = LoadProgress {
                    rows,
                    bytes,
                    estimated_rows: begin.estimated_rows,
                    rows_per_sec: (rows as f64 / secs) as u64,
                };
                if last_log.elapsed() > Duration::from_secs(2) {
                    last_log = Instant::now();
                    info!(
                        rows,
                        mib = bytes / 1048576,
                        percent = (rows as f64 * 100.0 / begin.estimated_rows.max(1) as f64)
                            .min(100.0) as u64,
                        rows_per_sec = p.rows_per_sec,
                        "snapshot load progress"
                    );
                }
                *progress.lock().unwrap() = Some(p);
            }
            Message::SnapshotEnd(e) => break e,
            m => {
                return Err(Error::Protocol {
                    peer: format!("hub {hub}"),
                    problem: format!("unexpected {} during the snapshot", m.kind()),
                })
            }
        }
    };
    drop(applier);

    // Views (in dependency order: retry until no progress), routines, triggers.
    let mut pending: Vec<&SchemaStatement> = end.objects.iter().collect();
    while !pending.is_empty() {
        let mut failed = Vec::new();
        let mut last_err = None;
        for st in &pending {
            if let Err(e) = run_statement(&mut ddl, st).await {
                last_err = Some(e);
                failed.push(*st);
            }
        }
        if failed.len() == pending.len() {
            warn!(error = ?last_err, objects = failed.len(), "some views/routines/triggers could not be created");
            break;
        }
        pending = failed;
    }

    // The node's GTID state becomes the snapshot's, its own domain included: own transactions
    // the master lacks are gone with the replaced databases (a new snap's local history; a
    // resync waits until there are none), so the next own write is the one the master expects.
    // Kept ahead, the snap would claim GTIDs that no other node ever gets.
    let state = end.pos.clone();
    let own_before = before.get(own_domain);
    // Accounts with READ_ONLY ADMIN could still write during the load. What they committed
    // never reached the master and may sit in the loaded tables: kept, the snap would diverge.
    // The load is redone (its databases dropped first), and that is said, not hidden.
    let after = crate::apply::gtid_binlog_pos(&mut ddl).await?;
    if let Some(now) = after.get(own_domain) {
        let lost = now.seq.saturating_sub(own_before.map_or(0, |g| g.seq));
        if lost > 0 {
            error!(
                transactions = lost,
                from = ?own_before.map(|g| g.to_string()),
                to = %now,
                "local transactions were committed during the load by an account that bypasses \
                 read_only (READ_ONLY ADMIN); the master never got them, so the load is redone \
                 and they are discarded: redo them on this snap after the load if still wanted"
            );
            return Err(Error::LoadAgain {
                reason: format!(
                    "{lost} local transaction(s) ({now}) were committed during the load by an \
                     account with READ_ONLY ADMIN"
                ),
            });
        }
    }
    ddl.query_drop("RESET MASTER")
        .await
        .map_err(Error::db("resetting the local binlog after the load"))?;
    ddl.exec_drop("SET GLOBAL gtid_binlog_state = ?", (state.to_string(),))
        .await
        .map_err(Error::db(format!("setting gtid_binlog_state to {state}")))?;
    // The binlog files start again at a lower number: that is this reset, not a DBA's; and a
    // reset seen before is resolved by this load.
    if let Some((no, _)) = crate::binlog::files::current_file(&mut ddl).await? {
        crate::binlog::files::record_seen(&mut ddl, no, None).await?;
    }
    ddl.query_drop("SET SESSION sql_log_bin = 0")
        .await
        .map_err(Error::db("disabling binlog"))?;
    // Images left alone for own changes the master's data now settles.
    ddl.query_drop("DELETE FROM starsync.left_alone")
        .await
        .map_err(Error::db("clearing starsync.left_alone"))?;
    if let Some(own) = state.get(own_domain) {
        ddl.exec_drop(
            "INSERT INTO starsync.echo_pos VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE \
             server_id = VALUES(server_id), seq_no = VALUES(seq_no)",
            (own.domain, own.server, own.seq),
        )
        .await
        .map_err(Error::db("recording the echo position"))?;
    }
    set_sync_state(&mut ddl, "done", &state, rows).await?;
    ddl.disconnect().await.ok();
    *progress.lock().unwrap() = None;
    info!(rows, mib = bytes / 1048576, secs = started.elapsed().as_secs_f64(), position = %state,
          "snapshot loaded; streaming from its position");
    Ok(state)
}
