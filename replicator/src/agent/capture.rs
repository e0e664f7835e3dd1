//! Capture: the snap's own transactions, from its binlog to the hub.
//!
//! Only the snap's own GTID domain is read (foreign transactions in its binlog came from the hub).
//! Reading starts at the echo position, not at the master's: the transactions between the two
//! are on the master already and are not sent again, but their row keys are put back in flight
//! after a restart. Sending starts after the master's position for this domain, so a transaction
//! is sent at most once per session and the hub skips any it already holds.
//!
//! Capture heartbeats measure the snap → master lag: a heartbeat carries the time at which the
//! reader had read everything committed locally (the local position is polled every 100 ms); the
//! hub acknowledges it after committing everything before it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{error, warn};

use super::inflight::row_key;
use super::{AgentShared, CAPTURE_REPLICA_ID_BASE};
use crate::binlog::{AssembleOptions, BinlogReader, Read, ReaderOptions};
use crate::config::ReplicateConfig;
use crate::error::{Error, Result};
use crate::gtid::{Gtid, GtidPos};
use crate::model::TxnItem;
use crate::wire::messages::{now_us, Message};

/// The hub acknowledged capture heartbeat `id`.
pub fn heartbeat_acked(shared: &AgentShared, id: u64) {
    let mut q = shared.capture_heartbeats.lock().unwrap();
    while let Some(&(hid, t)) = q.front() {
        if hid > id {
            break;
        }
        q.pop_front();
        if hid == id {
            shared.status.lock().unwrap().capture_lag_ms = Some(t.elapsed().as_millis() as u64);
        }
    }
}

/// How long the local binlog stream may report nothing new while the server's position shows
/// own transactions it has not delivered.
const STUCK_AFTER: Duration = Duration::from_secs(2);

/// Captures until cancelled or a definite error.
pub async fn run(
    shared: Arc<AgentShared>,
    echo: GtidPos,
    local_pos: GtidPos,
    master_own: Option<Gtid>,
    replicate: ReplicateConfig,
    tx: mpsc::Sender<Message>,
    token: CancellationToken,
) -> Result<()> {
    let own = shared.cfg.node.domain_id;
    let unshipped_purged = |message: String| Error::UnshippedPurged {
        node: shared.cfg.node.name.clone(),
        which: master_own.map_or_else(|| "from the first".into(), |g| format!("after {g}")),
        message,
    };
    // Own transactions the master lacks must still be in the local binlog. MariaDB does not
    // say when they are not: a dump that starts without the own domain skips what is gone.
    let shipped = master_own.map_or(0, |m| m.seq);
    if local_pos.get(own).is_some_and(|l| l.seq > shipped) {
        let mut c = mysql_async::Conn::new(shared.cfg.mariadb.opts())
            .await
            .map_err(Error::db("connecting to the local database"))?;
        let oldest = crate::binlog::files::oldest_start(&mut c).await;
        c.disconnect().await.ok();
        if let Some(gone) = oldest?.get(own).filter(|g| g.seq > shipped) {
            return Err(unshipped_purged(format!(
                "its oldest binlog file starts after {gone}"
            )));
        }
    }
    // Foreign domains: from where the server is now (they are not read anyway); own domain: from
    // the echo position, so that in-flight keys are rebuilt.
    let mut start = GtidPos::new();
    for g in local_pos.iter().filter(|g| g.domain != own) {
        start.set(*g);
    }
    let from_echo = echo.get(own);
    if let Some(e) = from_echo {
        start.set(e);
    }
    shared.capture_heartbeats.lock().unwrap().clear();
    shared.inflight.lock().unwrap().clear();
    // Own transactions committed before now may have foreign ones after them that this capture
    // does not read (it starts foreign domains here): only later ones are recorded.
    shared
        .own_effects
        .lock()
        .unwrap()
        .reset(local_pos.get(own).map_or(0, |g| g.seq));
    shared.capture_read.send_replace(start.clone());
    let r = capture(&shared, start.clone(), master_own, &replicate, &tx, &token).await;
    let r = match r {
        Err(Error::BinlogPurged { .. }) if from_echo != master_own => {
            // The binlog since the echo position is gone: resume from the master's position
            // (in-flight keys of the older transactions are not rebuilt; echoes still converge).
            warn!("the local binlog since the echo position is purged; capturing from the master's position");
            // Their keys are not put back in flight: nothing would release their images.
            shared.inflight.lock().unwrap().forget_left();
            let mut start = start;
            match master_own {
                Some(m) => start.set(m),
                None => {
                    start.remove(own);
                }
            }
            capture(&shared, start, master_own, &replicate, &tx, &token).await
        }
        other => other,
    };
    match r {
        // Own transactions the master does not have are gone from this snap's binlog.
        Err(Error::BinlogPurged { message, .. }) => Err(unshipped_purged(message)),
        other => other,
    }
}

async fn capture(
    shared: &Arc<AgentShared>,
    start: GtidPos,
    master_own: Option<Gtid>,
    replicate: &ReplicateConfig,
    tx: &mpsc::Sender<Message>,
    token: &CancellationToken,
) -> Result<()> {
    let cfg = &shared.cfg;
    let own = cfg.node.domain_id;
    let filter = replicate.clone();
    // Up to where own transactions are read: the stream starts after `start`.
    let mut read_own: Option<Gtid> = start.get(own);
    let mut reader = BinlogReader::new(
        ReaderOptions {
            opts: cfg.mariadb.opts(),
            replica_id: CAPTURE_REPLICA_ID_BASE.wrapping_add(cfg.node.server_id),
            heartbeat: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(2),
            label: format!("local ({})", cfg.node.name),
            assemble: AssembleOptions {
                foreign: Some(foreign_hook(shared.clone())),
                only_domain: Some(own),
                schema_filter: Some(Arc::new(move |s: &str, _: &str| filter.replicates(s))),
                chunk_rows: cfg.limits.chunk_rows,
                chunk_bytes: cfg.limits.chunk_bytes,
            },
        },
        start,
    );
    let sent_after = master_own.map_or(0, |g| g.seq);
    let mut local = shared.local.clone();
    let mut hb = tokio::time::interval(Duration::from_millis(250));
    hb.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut hb_id = 0u64;
    let mut caught_up_at: Option<Instant> = None;
    // The open transaction: its GTID, whether it is sent, its row keys.
    let mut open: Option<(Gtid, bool, Vec<super::inflight::RowKey>)> = None;
    let mut hold = crate::apply::small::SmallCollector::default();
    let covers = |read: Option<Gtid>, view: &super::LocalView| -> bool {
        match view.pos.get(own) {
            None => true,
            Some(l) => read.is_some_and(|r| r.seq >= l.seq),
        }
    };
    let stalled = |problem: String| Error::CaptureStalled {
        node: cfg.node.name.clone(),
        problem,
    };
    // Since when the server has said "nothing new" (a heartbeat) while the local position
    // showed own transactions this reader had not delivered.
    let mut stuck_since: Option<Instant> = None;
    // The binlog's end at the last look (lower later: RESET MASTER), and when `read_own` was
    // read.
    let mut last_file: Option<(u64, u64)> = local.borrow().file;
    let mut read_own_at = Instant::now();
    loop {
        tokio::select! {
            _ = token.cancelled() => return Ok(()),
            changed = local.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                let view = local.borrow().clone();
                // The binlog was reset (RESET MASTER): the stream reads files that are gone,
                // and new own transactions may get GTIDs already shipped. Seen as the binlog's
                // end moving back, or as the server's own-domain position going back behind
                // what this capture read (by a look taken after the read).
                let went_back = match (last_file, view.file) {
                    (Some(before), Some(now)) if now < before => Some(format!(
                        "the binlog's end moved back from file {} position {} to file {} \
                         position {}",
                        before.0, before.1, now.0, now.1
                    )),
                    _ => read_own
                        .filter(|r| {
                            view.at > read_own_at
                                && view.pos.get(own).is_none_or(|l| l.seq < r.seq)
                        })
                        .map(|r| {
                            format!(
                                "the server's position in domain {own} went back to {} after \
                                 {r} was read",
                                view.pos.get(own).map_or("nothing".to_string(), |g| g.to_string())
                            )
                        }),
                };
                last_file = view.file.or(last_file);
                if let Some(what) = went_back {
                    if let Some(m) = read_own.max(master_own) {
                        // The snap had made transactions (on the master, or on their way): the
                        // next ones may get their GTIDs again. Recorded, so that replication
                        // stays stopped until a resync.
                        let seen = format!("{what}; it had made transactions up to {m}");
                        let mut c = mysql_async::Conn::new(cfg.mariadb.opts())
                            .await
                            .map_err(Error::db("connecting to the local database"))?;
                        let r = crate::binlog::files::record_seen(
                            &mut c,
                            view.file.map_or(0, |f| f.0),
                            Some(&seen),
                        )
                        .await;
                        c.disconnect().await.ok();
                        r?;
                    }
                    return Err(stalled(format!(
                        "{what}: its binlog was reset (RESET MASTER on this snap?)"
                    )));
                }
                if open.is_none() && covers(read_own, &view) {
                    caught_up_at = Some(view.at);
                }
            }
            _ = hb.tick() => {
                if open.is_some() {
                    continue;
                }
                let Some(t) = caught_up_at else { continue };
                hb_id += 1;
                {
                    let mut q = shared.capture_heartbeats.lock().unwrap();
                    q.push_back((hb_id, t));
                    if q.len() > 10_000 {
                        q.pop_front();
                    }
                }
                let ts_us = now_us().saturating_sub(t.elapsed().as_micros() as u64);
                if tx.send(Message::Heartbeat { id: hb_id, ts_us }).await.is_err() {
                    return Ok(());
                }
            }
            r = reader.next() => {
                let item = match r? {
                    Read::Idle => {
                        let view = local.borrow().clone();
                        if covers(read_own, &view) {
                            caught_up_at = Some(view.at);
                            stuck_since = None;
                        } else if open.is_none() {
                            // The server says it has nothing new, and a look at its position
                            // taken after it first said so shows own transactions not read:
                            // the stream is on a binlog file that is no more (RESET MASTER).
                            let since = *stuck_since.get_or_insert_with(Instant::now);
                            if view.at > since && since.elapsed() >= STUCK_AFTER {
                                return Err(stalled(format!(
                                    "the server's binlog holds {} of domain {own}, but its \
                                     binlog stream has delivered only up to {} and has reported \
                                     nothing new for {:?} (RESET MASTER on this snap?); \
                                     reconnecting",
                                    view.pos.get(own).map_or("nothing".to_string(), |g| g.to_string()),
                                    read_own.map_or("nothing".to_string(), |g| g.to_string()),
                                    since.elapsed()
                                )));
                            }
                        }
                        continue;
                    }
                    Read::Item(item) => {
                        stuck_since = None;
                        item
                    }
                };
                let send = match &item {
                    TxnItem::Begin(b) => {
                        shared.own_effects.lock().unwrap().begin(b.gtid.seq);
                        let send = b.gtid.seq > sent_after;
                        open = Some((b.gtid, send, Vec::new()));
                        send
                    }
                    TxnItem::Rows(c) => {
                        let Some((_, send, keys)) = open.as_mut() else { continue };
                        shared.own_effects.lock().unwrap().rows(c);
                        for (b, a) in c.rows() {
                            if let Some(b) = b {
                                keys.push(row_key(&c.table, b));
                            }
                            if let Some(a) = a {
                                let k = row_key(&c.table, a);
                                if keys.last() != Some(&k) {
                                    keys.push(k);
                                }
                            }
                        }
                        *send
                    }
                    TxnItem::Query(q) if crate::ddl::is_savepoint(q) => {
                        open.as_ref().is_some_and(|o| o.1)
                    }
                    TxnItem::Query(q) if crate::ddl::is_dml(q) => {
                        error!(statement = %q.sql_lossy(), "{}", crate::ddl::SNAP_STATEMENT_DML);
                        shared.status.lock().unwrap().ddl_drift += 1;
                        open.as_ref().is_some_and(|o| o.1)
                    }
                    TxnItem::Query(q) => {
                        error!(statement = %q.sql_lossy(),
                               "DDL run on this snap is not replicated (snap users get DML \
                                privileges only; make schema changes on the master)");
                        shared.status.lock().unwrap().ddl_drift += 1;
                        open.as_ref().is_some_and(|o| o.1)
                    }
                    TxnItem::Commit(c) => {
                        let Some((g, send, keys)) = open.take() else { continue };
                        tracing::debug!(gtid = %g, "captured");
                        shared.own_effects.lock().unwrap().commit(g.seq);
                        shared.capture_read.send_modify(|p| p.advance(g));
                        shared.inflight.lock().unwrap().add(g.seq, keys);
                        read_own = Some(c.gtid);
                        read_own_at = Instant::now();
                        let view = local.borrow().clone();
                        if covers(read_own, &view) {
                            caught_up_at = Some(view.at);
                        }
                        send
                    }
                    TxnItem::Abort => {
                        shared.own_effects.lock().unwrap().abort();
                        let send = open.as_ref().is_some_and(|o| o.1);
                        open = None;
                        send
                    }
                };
                if send {
                    for item in hold.pass(item) {
                        if tx.send(Message::Txn(item)).await.is_err() {
                            return Ok(());
                        }
                    }
                }
            }
        }
    }
}

/// Foreign transactions read from the local binlog: what they touched marks own transactions
/// before them (their echoes must be written), and capture's read position advances.
fn foreign_hook(shared: Arc<AgentShared>) -> crate::binlog::ForeignHook {
    Arc::new(move |g: Gtid, tables: &[String], ddl: bool| {
        shared.own_effects.lock().unwrap().foreign(tables, ddl);
        shared.capture_read.send_modify(|p| p.advance(g));
    })
}
