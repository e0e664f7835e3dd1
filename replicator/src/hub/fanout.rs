//! Fan-out: the master's binlog, streamed to one snap from that snap's own position.
//!
//! Rows of schemas that do not replicate are dropped by the reader; statements are routed by the
//! schema they change ([`crate::ddl`]); account statements, triggers and scheduled events never
//! leave the master (they run on the master, and their effects travel as rows). A
//! transaction whose content was all dropped still goes out as `Begin`/`Commit`, so every node's
//! GTID position ends up holding every GTID of the master. The snap's own transactions come back
//! as they are in the master's binlog: the echoes that carry the master's row images.
//!
//! Between transactions a heartbeat carries the hub time at which the reader had read everything
//! the master had committed (see [`super::status`] for how lag follows from it). The socket's
//! backpressure reaches the binlog reader through a bounded queue: a slow snap costs no memory.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error};

use super::repair::Pending;
use super::status::Counters;
use super::{HubCtx, FANOUT_REPLICA_ID_BASE};
use crate::binlog::{AssembleOptions, BinlogReader, Read, ReaderOptions};
use crate::ddl::{classify, StatementKind};
use crate::error::{Error, Result};
use crate::gtid::GtidPos;
use crate::model::TxnItem;
use crate::repair::source::TableSnapshot;
use crate::wire::messages::{now_us, Message};

/// Streams to `tx` until cancelled or the reader fails definitively; ends the session (cancels
/// `token`) when it stops, except when the snap's position was purged from the master's binlog:
/// then the agent is told ([`Message::FanoutStopped`]) and the session goes on without fan-out,
/// so the snap's own changes still reach the master before the operator resyncs it.
pub async fn run(
    ctx: Arc<HubCtx>,
    node: String,
    (server_id, domain): (u32, u32),
    start: GtidPos,
    tx: mpsc::Sender<Message>,
    counters: Arc<Counters>,
    token: CancellationToken,
) -> Result<()> {
    let replicate = ctx.cfg.replicate.clone();
    let filter = replicate.clone();
    let mut reader = BinlogReader::new(
        ReaderOptions {
            opts: ctx.cfg.mariadb.opts(),
            replica_id: FANOUT_REPLICA_ID_BASE.wrapping_add(server_id),
            heartbeat: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(2),
            label: format!("master (fan-out to {node})"),
            assemble: AssembleOptions {
                foreign: None,
                only_domain: None,
                // The master's rows refused to a snap ride with its echo ([`crate::apply::refused`]).
                schema_filter: Some(Arc::new(move |s: &str, t: &str| {
                    filter.replicates(s) || crate::apply::refused::is_refused_table(s, t)
                })),
                chunk_rows: ctx.cfg.limits.chunk_rows,
                chunk_bytes: ctx.cfg.limits.chunk_bytes,
            },
        },
        start.clone(),
    );
    debug!(position = %start, "fan-out starting");
    // The reader runs in its own task so that heartbeats never wait for the binlog.
    let (rtx, mut rrx) = mpsc::channel::<Result<Read>>(8);
    let reader_token = token.child_token();
    let rtoken = reader_token.clone();
    let reader_task = tokio::spawn(async move {
        loop {
            let r = tokio::select! {
                _ = rtoken.cancelled() => break,
                r = reader.next() => r,
            };
            let fatal = r.is_err();
            if rtx.send(r).await.is_err() || fatal {
                break;
            }
        }
    });

    let mut master = ctx.master.clone();
    let mut hb = tokio::time::interval(Duration::from_millis(ctx.cfg.hub.heartbeat_ms));
    hb.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut in_txn = false;
    // The domain of the transaction being read.
    let mut txn_domain: Option<u32> = None;
    let mut hb_id: u64 = 0;
    let hb_every = Duration::from_millis(ctx.cfg.hub.heartbeat_ms);
    let mut last_hb = Instant::now();
    // Everything the master committed before this instant has been read.
    let mut caught_up_at: Option<Instant> = None;
    // What has been read so far (advanced at every commit read).
    let mut read_pos = start;
    let mut rows_in_txn: u64 = 0;
    let mut hold = crate::apply::small::SmallCollector::default();
    // The fan-out stopped for good but the session goes on (see `FanoutStopped`).
    let mut stopped = false;
    // Repairs of a table of this snap ([`crate::repair`]): one at a time, its snapshot open
    // until the stream reaches its position.
    let (mut jobs, jobs_tx) = super::repair::register(&ctx, &node);
    let mut pending: Option<Pending> = None;
    let result = loop {
        tokio::select! {
            _ = token.cancelled() => break Ok(()),
            job = jobs.recv(), if pending.is_none() && !in_txn && !stopped => {
                let Some(job) = job else { continue };
                // Between two transactions, nothing read is held back: everything sent so far
                // was committed before the snapshot, so its position is at or after ours.
                match TableSnapshot::open(&ctx.cfg.mariadb.opts(), &job.schema, &job.table).await {
                    Ok(snapshot) => {
                        debug!(position = %snapshot.pos, read = %read_pos, "repair snapshot open");
                        pending = Some(Pending {
                            job,
                            snapshot,
                            deadline: tokio::time::Instant::now() + super::repair::REACH_TIMEOUT,
                        });
                    }
                    Err(e) => {
                        let _ = job.sent.send(Err(e));
                        continue;
                    }
                }
                if !send_repair_when_reached(&ctx, &node, &mut pending, &read_pos, &tx).await {
                    break Ok(());
                }
            }
            r = rrx.recv() => {
                let Some(r) = r else { break Ok(()) };
                let item = match r {
                    Ok(Read::Idle) => {
                        let view = master.borrow().clone();
                        if read_pos.covers(&view.pos) {
                            caught_up_at = Some(view.at);
                        }
                        if !in_txn
                            && !send_repair_when_reached(&ctx, &node, &mut pending, &read_pos, &tx)
                                .await
                        {
                            break Ok(());
                        }
                        continue;
                    }
                    Ok(Read::Item(item)) => item,
                    Err(e @ Error::BinlogPurged { .. }) => {
                        // Nothing the hub can do brings those changes back: the snap needs a
                        // new snapshot. Its own changes still come in (this session goes on),
                        // so a resync discards none of them.
                        let message = format!(
                            "{e}. This snap's own changes still reach the master; the master's \
                             do not reach it until it is resynced"
                        );
                        error!(error = %message, "fan-out cannot start: the snap needs a resync");
                        ctx.registry.update(&node, |n| {
                            n.last_error = Some(message.clone());
                            n.needs_resync = true;
                            // No heartbeats from here on: its lag is unknown, not the last one.
                            n.last_lag_ms = None;
                            n.outstanding.clear();
                        });
                        stopped = tx.send(Message::FanoutStopped { message }).await.is_ok();
                        break Ok(());
                    }
                    Err(e) => {
                        debug!(error = %e, "fan-out stopped");
                        break Err(e);
                    }
                };
                let item = match item {
                    TxnItem::Rows(c) if crate::apply::refused::is_refused_table(&c.table.schema, &c.table.table) => {
                        // Only the snap whose change was refused takes the master's rows back,
                        // with the echo of that change.
                        if txn_domain != Some(domain) {
                            continue;
                        }
                        for chunk in crate::apply::refused::chunks(&c) {
                            debug!(table = %chunk.table.full_name(), rows = chunk.len(),
                                   "the master's rows for a refused change, with its echo");
                            counters.bytes_queued.fetch_add(chunk.approx_bytes() as u64, Ordering::Relaxed);
                            for item in hold.pass(TxnItem::Rows(chunk)) {
                                if tx.send(Message::Txn(item)).await.is_err() {
                                    break;
                                }
                            }
                        }
                        continue;
                    }
                    TxnItem::Query(q) => {
                        let st = classify(&q.sql_lossy(), &q.schema);
                        let keep = match st.kind {
                            StatementKind::Account | StatementKind::MasterOnly => false,
                            StatementKind::Savepoint => true,
                            _ => replicate.replicates(&st.schema),
                        };
                        if !keep {
                            debug!(statement = %q.sql_lossy(), "not replicated");
                            continue;
                        }
                        TxnItem::Query(q)
                    }
                    other => other,
                };
                match &item {
                    TxnItem::Begin(b) => {
                        in_txn = true;
                        rows_in_txn = 0;
                        txn_domain = Some(b.gtid.domain);
                    }
                    TxnItem::Rows(c) => rows_in_txn += c.len() as u64,
                    TxnItem::Commit(c) => {
                        debug!(gtid = %c.gtid, "fanned out");
                        in_txn = false;
                        read_pos.advance(c.gtid);
                        counters.applied_txns.fetch_add(1, Ordering::Relaxed);
                        counters.applied_rows.fetch_add(rows_in_txn, Ordering::Relaxed);
                    }
                    TxnItem::Abort => in_txn = false,
                    TxnItem::Query(_) => {}
                }
                let commit = matches!(item, TxnItem::Commit(_));
                counters.bytes_queued.fetch_add(item.approx_bytes() as u64, Ordering::Relaxed);
                let mut gone = false;
                for item in hold.pass(item) {
                    if tx.send(Message::Txn(item)).await.is_err() {
                        gone = true;
                        break;
                    }
                }
                if gone {
                    break Ok(());
                }
                if commit {
                    let view = master.borrow().clone();
                    if read_pos.covers(&view.pos) {
                        caught_up_at = Some(view.at);
                    }
                    if !send_repair_when_reached(&ctx, &node, &mut pending, &read_pos, &tx).await {
                        break Ok(());
                    }
                }
            }
            changed = master.changed() => {
                if changed.is_err() {
                    break Ok(());
                }
                let view = master.borrow().clone();
                if !in_txn && read_pos.covers(&view.pos) {
                    caught_up_at = Some(view.at);
                    // Caught up with a position read just now: a heartbeat sent at once
                    // measures the stream, not the polling phase.
                    if last_hb.elapsed() >= hb_every {
                        last_hb = Instant::now();
                        hb_id += 1;
                        if !heartbeat(&ctx, &node, &tx, hb_id, view.at).await {
                            break Ok(());
                        }
                    }
                }
            }
            _ = hb.tick() => {
                if pending.as_ref().is_some_and(|p| p.deadline <= tokio::time::Instant::now()) {
                    let p = pending.take().unwrap();
                    let _ = p.job.sent.send(Err(Error::Request(format!(
                        "snap {node}'s stream did not reach the master's position {} within {} \
                         s (it has read up to {read_pos}: the snap is behind); try again when \
                         `master-admin status` shows it caught up",
                        p.snapshot.pos,
                        super::repair::REACH_TIMEOUT.as_secs()
                    ))));
                }
                // Behind (or inside a long transaction): heartbeats keep the last caught-up time,
                // so the lag they measure grows as it really does.
                if in_txn || last_hb.elapsed() < hb_every {
                    continue;
                }
                let Some(t) = caught_up_at else { continue };
                last_hb = Instant::now();
                hb_id += 1;
                if !heartbeat(&ctx, &node, &tx, hb_id, t).await {
                    break Ok(());
                }
            }
        }
    };
    super::repair::unregister(&ctx, &node, &jobs_tx);
    if let Some(p) = pending.take() {
        let _ = p.job.sent.send(Err(Error::Request(format!(
            "the stream to snap {node} ended before the repair's position; nothing was changed"
        ))));
    }
    if stopped {
        reader_token.cancel();
    } else {
        token.cancel();
    }
    let _ = reader_task.await;
    result
}

/// Sends the pending repair's rows when the stream has reached its position (everything up to
/// it sent, nothing after). False when the session is gone.
async fn send_repair_when_reached(
    ctx: &HubCtx,
    node: &str,
    pending: &mut Option<Pending>,
    read_pos: &GtidPos,
    tx: &mpsc::Sender<Message>,
) -> bool {
    if !pending
        .as_ref()
        .is_some_and(|p| read_pos.covers(&p.snapshot.pos))
    {
        return true;
    }
    let p = pending.take().unwrap();
    let pos = p.snapshot.pos.clone();
    let r = p
        .snapshot
        .send(p.job.id, p.job.dry_run, &ctx.cfg.limits, tx, node)
        .await;
    let gone = matches!(r, Err(Error::Protocol { .. }));
    let _ = p.job.sent.send(r.map(|_| pos));
    !gone
}

/// Sends heartbeat `id` for "everything committed on the master before `t`"; false when the
/// session is gone.
async fn heartbeat(
    ctx: &HubCtx,
    node: &str,
    tx: &mpsc::Sender<Message>,
    id: u64,
    t: Instant,
) -> bool {
    ctx.registry.update(node, |n| {
        n.outstanding.push_back((id, t));
        if n.outstanding.len() > 10_000 {
            n.outstanding.pop_front();
        }
    });
    let ts_us = now_us().saturating_sub(t.elapsed().as_micros() as u64);
    tx.send(Message::Heartbeat { id, ts_us }).await.is_ok()
}
