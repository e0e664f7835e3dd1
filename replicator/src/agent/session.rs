//! One session with the hub: handshake, then three tasks over one connection: capture (local
//! binlog → hub), apply (hub → local server) and a socket writer, with this task reading.
//!
//! Apply: foreign transactions keep their origin GTID; the snap's own transactions come back as
//! echoes and are applied with `sql_log_bin=0` (the snap already has their GTID), forcing the
//! master's row images, with the echo position persisted in the same transaction. Rows whose
//! key has a newer own change in flight are left alone ([`super::inflight`]). A heartbeat from
//! the hub is acknowledged once everything before it is applied.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::AgentShared;
use crate::apply::retry::{self, TxnBuffer};
use crate::apply::small::{Collected, SmallCollector};
use crate::apply::{Applier, TxnMode};
use crate::error::{Error, Result};
use crate::gtid::GtidPos;
use crate::model::TxnItem;
use crate::wire::messages::{AgentReport, Message};
use crate::wire::session::{client_handshake, framed, send, Conn, SessionError};
use crate::wire::tls::WireStream;

const TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for capture before an echo is applied anyway.
const ECHO_GUARD_WAIT: Duration = Duration::from_secs(2);

fn session_err(hub: &str, e: SessionError) -> Error {
    match e {
        SessionError::Refused(reason) => Error::Refused {
            hub: hub.into(),
            reason,
        },
        other => Error::Protocol {
            peer: format!("hub {hub}"),
            problem: other.to_string(),
        },
    }
}

/// [`crate::snapshot::load::hold_writes`], shown in the agent's status.
async fn hold_writes(
    shared: &AgentShared,
    local: &mut mysql_async::Conn,
    reason: &str,
) -> Result<()> {
    crate::snapshot::load::hold_writes(local, reason).await?;
    shared.status.lock().unwrap().writes_held = Some(reason.into());
    Ok(())
}

/// [`crate::snapshot::load::release_writes`], shown in the agent's status.
async fn release_writes(shared: &AgentShared, local: &mut mysql_async::Conn) -> Result<()> {
    crate::snapshot::load::release_writes(local).await?;
    shared.status.lock().unwrap().writes_held = None;
    Ok(())
}

/// Tells the hub why this snap cannot replicate (its log shows it for the snap), and returns
/// the error for the agent's own log and status.
async fn refuse(conn: &mut Conn, address: String, msg: String) -> Error {
    let _ = conn
        .send(Message::Error {
            message: msg.clone(),
        })
        .await;
    Error::Misconfigured {
        address,
        findings: msg,
    }
}

/// Runs one session; returns when the connection ends or `token` is cancelled.
pub async fn run(shared: Arc<AgentShared>, token: CancellationToken) -> Result<()> {
    let cfg = &shared.cfg;
    let hub = cfg.agent.hub.clone();
    let stream = tokio::select! {
        _ = token.cancelled() => return Ok(()),
        s = tokio::time::timeout(TIMEOUT, TcpStream::connect(&hub)) => s,
    };
    let stream = stream
        .map_err(|_| Error::Io {
            context: format!("connecting to the hub at {hub}"),
            source: std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer within 10 s"),
        })?
        .map_err(Error::io(format!("connecting to the hub at {hub}")))?;
    let stream = crate::wire::session::tcp(stream);
    let stream: WireStream = match &shared.tls {
        None => stream.into(),
        Some((connector, name)) => {
            let s = tokio::select! {
                _ = token.cancelled() => return Ok(()),
                s = tokio::time::timeout(TIMEOUT, connector.connect(name.clone(), stream)) => s,
            };
            match s {
                Ok(Ok(s)) => WireStream::Tls(Box::new(s.into())),
                Ok(Err(e)) => {
                    return Err(Error::Protocol {
                        peer: format!("hub {hub}"),
                        problem: crate::wire::tls::client_failure(&hub, name, &e),
                    })
                }
                Err(_) => {
                    return Err(Error::Protocol {
                        peer: format!("hub {hub}"),
                        problem: format!("no TLS handshake within {TIMEOUT:?}"),
                    })
                }
            }
        }
    };
    let mut conn = framed(stream, cfg.limits.max_frame_bytes);
    let welcome = client_handshake(
        &mut conn,
        &cfg.node.name,
        cfg.node.server_id,
        cfg.node.domain_id,
        cfg.agent.secret.expose(),
        TIMEOUT,
    )
    .await
    .map_err(|e| session_err(&hub, e))?;

    // Where this snap stands, from its own server.
    let mut local = mysql_async::Conn::new(cfg.mariadb.opts())
        .await
        .map_err(Error::db("connecting to the local database"))?;
    // Settings that change what the master's DDL makes of a table must be the master's.
    let differ = crate::check::schema_mismatches(
        &crate::check::schema_settings(&mut local).await?,
        &welcome.settings,
    );
    if !differ.is_empty() {
        let msg = format!(
            "this snap's server differs from the master's in what the master's DDL makes of a \
             table, so its tables would differ from the master's: {}. Set them as on the master \
             under [mariadbd] in this snap's my.cnf and restart MariaDB (lower_case_table_names \
             only takes effect on a new datadir: dump, reinstall, reload); the agent tries again \
             on its own",
            differ.join("; ")
        );
        return Err(refuse(&mut conn, cfg.mariadb.address(), msg).await);
    }
    use crate::snapshot::load::{sync_state, SyncState};
    let own = cfg.node.domain_id;
    let state = sync_state(&mut local).await?;
    let resync = shared.resync.load(std::sync::atomic::Ordering::Relaxed);
    const RESYNC: &str = "--resync";
    const UNFINISHED: &str = "a previous load did not finish";
    const NEW_SNAP: &str = "this snap has no replication state";
    // Local writes stop before the position is read: a resync first waits for the snap's own
    // transactions to reach the master, and none may follow them until the load is done.
    if resync {
        hold_writes(&shared, &mut local, RESYNC).await?;
    } else if state == SyncState::Loading {
        hold_writes(&shared, &mut local, UNFINISHED).await?;
    }
    let mut pos = crate::apply::gtid_binlog_pos(&mut local).await?;
    let mut echo = crate::apply::echo_pos(&mut local).await?;
    let never_synced =
        state == SyncState::None && echo.is_empty() && pos.domains().all(|d| d == own);
    if never_synced {
        hold_writes(&shared, &mut local, NEW_SNAP).await?;
    } else if !resync && state == SyncState::Done {
        // A resync given up (the agent restarted without --resync before it loaded).
        release_writes(&shared, &mut local).await?;
    }
    // A resync replaces the replicated databases with the master's: own transactions the master
    // does not hold yet would be lost. They go first (this session), then the snapshot (the next).
    let unshipped = match (pos.get(own), welcome.master_pos.get(own)) {
        (Some(l), Some(m)) => l.seq.saturating_sub(m.seq),
        (Some(l), None) => l.seq,
        (None, _) => 0,
    };
    let resync = if resync && state == SyncState::Done && unshipped > 0 {
        if shared.discard_unshipped {
            warn!(
                unshipped,
                "the resync discards this snap's own transactions the master does not have \
                 (--discard-unshipped)"
            );
            true
        } else {
            warn!(
                unshipped,
                "the resync waits until this snap's own transactions have reached the master"
            );
            false
        }
    } else {
        resync
    };
    if resync || state == SyncState::Loading || never_synced {
        info!(
            reason = if resync {
                RESYNC
            } else if state == SyncState::Loading {
                UNFINISHED
            } else {
                NEW_SNAP
            },
            "requesting a snapshot of the master"
        );
        pos = crate::snapshot::load::load(
            &cfg.mariadb.opts(),
            &mut conn,
            &hub,
            own,
            &shared.load_progress,
        )
        .await?;
        release_writes(&shared, &mut local).await?;
        shared
            .resync
            .store(false, std::sync::atomic::Ordering::Relaxed);
        echo = GtidPos::new();
        if let Some(g) = pos.get(own) {
            echo.set(g);
        }
    }
    // Binlog files numbered lower than before: the binlog was reset (RESET MASTER) since the
    // agent last looked, and with it the snap's record of the transactions it made. Or capture
    // saw such a reset while it ran (see there).
    let file_no = crate::binlog::files::current_file(&mut local)
        .await?
        .map(|f| f.0);
    let (seen_no, mut reset_seen) = crate::binlog::files::seen(&mut local).await?;
    let master_own = welcome.master_pos.get(own);
    if let (Some(f), Some(s), Some(m), None) = (file_no, seen_no, master_own, &reset_seen) {
        if f < s {
            reset_seen = Some(format!(
                "its binlog files start again at number {f}, after {s}; the master had its \
                 transactions up to {m}"
            ));
        }
    }
    if let Some(seen) = &reset_seen {
        let msg = format!(
            "this snap's binlog was reset (RESET MASTER: {seen}). Its writes since then get \
             GTIDs again that the master may already hold (the hub would take them for old ones \
             and skip them), so replication of this snap is stopped. To make it converge, run \
             `replicator agent --resync` on it (with --discard-unshipped if that says it \
             waits): its replicated databases are replaced with the master's, and what was \
             written on it after the reset is not on the master and is lost: save what you need \
             first (mariadb-dump). Never reset a snap's binlog"
        );
        if let Some(f) = file_no {
            crate::binlog::files::record_seen(&mut local, f, Some(seen)).await?;
        }
        return Err(refuse(&mut conn, cfg.mariadb.address(), msg).await);
    }
    if let Some(f) = file_no.filter(|&f| seen_no != Some(f)) {
        crate::binlog::files::record_seen(&mut local, f, None).await?;
    }
    load_left_alone(&shared, &mut local).await?;
    local.disconnect().await.ok();
    if let Some(m) = master_own {
        if pos.get(own).is_none_or(|l| l.seq < m.seq) {
            let msg = format!(
                "the master holds {m} of this snap's domain {own}, but this snap's binlog ends at \
                 {local}: the snap lost transactions it had made (restored from a backup, or \
                 RESET MASTER?). Its writes get GTIDs the master already holds (the hub would \
                 take them for old ones and skip them), so replication of this snap is stopped. \
                 To make it converge, run `replicator agent --resync` on it: its replicated \
                 databases are replaced with the master's, and what was written on it after its \
                 binlog went back (its GTIDs up to {local}) is not on the master and is lost: \
                 save what you need first (mariadb-dump)",
                local = pos
                    .get(own)
                    .map_or("nothing".to_string(), |g| g.to_string())
            );
            return Err(refuse(&mut conn, cfg.mariadb.address(), msg).await);
        }
    }
    send(
        &mut conn,
        Message::Subscribe {
            pos: pos.clone(),
            echo: echo.clone(),
        },
    )
    .await
    .map_err(|e| session_err(&hub, e))?;
    {
        let mut s = shared.status.lock().unwrap();
        s.connected = true;
        s.connected_since = Some(SystemTime::now());
        // The last error stays until this session has lasted a while (see the report below):
        // a session that fails right after connecting (a row this server cannot take) must
        // still show the operator why, here and in the hub's status.
        s.acked = welcome.master_pos.get(own);
        s.echoed = echo.get(own);
        s.fanout_stopped = false;
    }
    info!(hub = %hub, position = %pos, echo = %echo, master = %welcome.master_pos,
          "connected to the hub");

    let (sink, mut stream) = conn.split();
    let (wtx, wrx) = mpsc::channel::<Message>(64);
    let writer = tokio::spawn(write_loop(sink, wrx, token.clone()));
    let (atx, arx) = mpsc::channel::<Message>(64);
    let applier = tokio::spawn(apply_loop(
        shared.clone(),
        arx,
        wtx.clone(),
        token.clone(),
        welcome.master_domain_id,
    ));
    let mut capture = tokio::spawn(super::capture::run(
        shared.clone(),
        echo,
        pos,
        welcome.master_pos.get(own),
        welcome.replicate.clone(),
        wtx.clone(),
        token.clone(),
    ));

    // Reports go from a task of their own, so the hub's view of this snap stays fresh while
    // this loop waits on a busy apply (a long DDL, a lock wait).
    let reporter = tokio::spawn(report_loop(shared.clone(), wtx.clone(), token.clone()));
    // Silence from the hub: only time spent waiting here counts (not time spent handing a
    // message to a busy apply), so the deadline moves after every message handled.
    let idle = Duration::from_millis(shared.cfg.agent.idle_timeout_ms);
    let silent = tokio::time::sleep(idle);
    tokio::pin!(silent);
    // Capture ending on its own (an error: a purged or undecodable local binlog) ends the
    // session at once; its error is reported below.
    let mut captured: Option<Result<()>> = None;
    let result: Result<()> = loop {
        let msg = tokio::select! {
            _ = token.cancelled() => break Ok(()),
            r = &mut capture => {
                captured = Some(r.unwrap_or(Ok(())));
                break Ok(());
            }
            _ = &mut silent => {
                break Err(Error::Silent {
                    peer: format!("hub {hub}"),
                    problem: format!(
                        "sent nothing for {:.1} s (it sends heartbeats every hub.heartbeat_ms): \
                         it is hung or the network path to it dropped; reconnecting \
                         (agent.idle_timeout_ms)",
                        idle.as_secs_f64()
                    ),
                });
            }
            m = stream.next() => m,
        };
        let msg = match msg {
            None => {
                break Err(Error::Protocol {
                    peer: format!("hub {hub}"),
                    problem: "the hub closed the connection".into(),
                })
            }
            Some(Err(e)) => {
                break Err(Error::Protocol {
                    peer: format!("hub {hub}"),
                    problem: e.to_string(),
                })
            }
            Some(Ok(m)) => m,
        };
        match msg {
            m @ (Message::Txn(_)
            | Message::Heartbeat { .. }
            | Message::RepairBegin(_)
            | Message::RepairRows(_)
            | Message::RepairEnd(_)) => {
                if atx.send(m).await.is_err() {
                    break Ok(()); // the apply task ended; its error is reported below
                }
            }
            Message::Ack { gtid } => shared.status.lock().unwrap().acked = Some(gtid),
            Message::HeartbeatAck { id, .. } => super::capture::heartbeat_acked(&shared, id),
            Message::VerifyRequest { id, tables } => {
                let (opts, wtx) = (shared.cfg.mariadb.opts(), wtx.clone());
                tokio::spawn(async move {
                    let r = async {
                        let mut c = mysql_async::Conn::new(opts)
                            .await
                            .map_err(Error::db("connecting to verify"))?;
                        let r = crate::verify::snapshot_checksums(&mut c, &tables).await;
                        c.disconnect().await.ok();
                        r
                    }
                    .await;
                    let msg = match r {
                        Ok((pos, sums)) => Message::VerifyResult {
                            id,
                            pos,
                            sums,
                            error: None,
                        },
                        Err(e) => Message::VerifyResult {
                            id,
                            pos: Default::default(),
                            sums: Vec::new(),
                            error: Some(e.to_string()),
                        },
                    };
                    let _ = wtx.send(msg).await;
                });
            }
            Message::Lag { lag_ms, behind } => {
                let mut s = shared.status.lock().unwrap();
                s.lag_ms = lag_ms;
                s.txns_behind = Some(behind);
            }
            Message::Error { message } => {
                break Err(Error::HubEnded {
                    hub: hub.to_string(),
                    reason: message,
                })
            }
            Message::FanoutStopped { message } => {
                error!(hub = %hub, reason = %message,
                       "the hub cannot send this snap the master's changes; resync it with \
                        `replicator agent --resync` (it first waits until this snap's own \
                        changes have reached the master, so none is lost)");
                let mut s = shared.status.lock().unwrap();
                s.last_error = Some(format!(
                    "the hub at {hub} cannot send this snap the master's changes: {message}"
                ));
                s.fanout_stopped = true;
            }
            other => {
                break Err(Error::Protocol {
                    peer: format!("hub {hub}"),
                    problem: format!("unexpected {} message", other.kind()),
                })
            }
        }
        silent.as_mut().reset(tokio::time::Instant::now() + idle);
    };
    token.cancel();
    drop(atx);
    drop(wtx);
    let _ = reporter.await;
    let applied = applier.await.unwrap_or(Ok(()));
    let captured = match captured {
        Some(r) => r,
        None => capture.await.unwrap_or(Ok(())),
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
    // The first real cause wins.
    applied?;
    captured?;
    result
}

async fn write_loop(
    mut sink: futures::stream::SplitSink<Conn, Message>,
    mut rx: mpsc::Receiver<Message>,
    token: CancellationToken,
) {
    loop {
        let m = tokio::select! {
            _ = token.cancelled() => break,
            m = rx.recv() => m,
        };
        let Some(m) = m else { break };
        if let Err(e) = crate::wire::session::send_batch(&mut sink, m, &mut rx).await {
            warn!(error = %e, "cannot write to the hub");
            token.cancel();
            break;
        }
    }
    let _ = sink.close().await;
}

/// Reports the agent's state to the hub every 300 ms until `token` is cancelled. Never waits
/// for a full queue: a report is only the latest state.
async fn report_loop(
    shared: Arc<AgentShared>,
    wtx: mpsc::Sender<Message>,
    token: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(300));
    loop {
        tokio::select! {
            _ = token.cancelled() => break,
            _ = tick.tick() => {}
        }
        // A resync that waited for this snap's own transactions: once the master has them all,
        // this session ends and the next one loads the snapshot.
        if shared.resync.load(std::sync::atomic::Ordering::Relaxed) && shared.pending_own() == 0 {
            token.cancel();
            break;
        }
        let r = {
            let mut s = shared.status.lock().unwrap();
            if !s.fanout_stopped
                && s.connected_since
                    .is_some_and(|t| t.elapsed().unwrap_or_default() >= ERROR_CLEARS_AFTER)
            {
                s.last_error = None;
            }
            AgentReport {
                pos: shared.local.borrow().pos.clone(),
                pending_own: 0,
                capture_lag_ms: s.capture_lag_ms,
                bytes_queued: 0,
                ddl_drift: s.ddl_drift,
                last_error: s.last_error.clone(),
                max_allowed_packet: shared.max_allowed_packet,
                echo: {
                    let mut e = GtidPos::new();
                    if let Some(g) = s.echoed {
                        e.set(g);
                    }
                    e
                },
                ddl_failed: s.ddl_failed,
                last_ddl_failed: s.last_ddl_failed.clone(),
                writes_held: s.writes_held.clone(),
                repair: s.repair.clone(),
            }
        };
        let r = AgentReport {
            pending_own: shared.pending_own(),
            ..r
        };
        let _ = wtx.try_send(Message::Report(r));
    }
}

/// Echo rows the snap already holds, from what capture recorded ([`crate::echo_skip`]).
struct AgentEchoSkip(Arc<AgentShared>);

impl crate::apply::EchoSkip for AgentEchoSkip {
    fn ready(&self, local: crate::gtid::GtidPos) -> futures::future::BoxFuture<'static, bool> {
        let shared = self.0.clone();
        Box::pin(async move { echo_waits_for_capture(&shared, |read| read.covers(&local)).await })
    }

    fn own_final(&self, seq: u64, table: &str, key: u64) -> Option<u64> {
        self.0
            .own_effects
            .lock()
            .unwrap()
            .own_final(seq, table, key)
    }

    fn eligible(&self, seq: u64, table: &str) -> bool {
        self.0.own_effects.lock().unwrap().eligible(seq, table)
    }

    fn skipped(&self, rows: u64) {
        self.0.status.lock().unwrap().echo_rows_skipped += rows;
    }

    fn touched(&self, table: &str) {
        self.0.touched(table);
    }
}

/// The images left alone, for the applier ([`crate::apply::LeftImages`]).
struct AgentLeftImages(Arc<AgentShared>);

impl crate::apply::LeftImages for AgentLeftImages {
    fn cascade(
        &self,
        table: &str,
        columns: &[String],
        values: &[crate::model::Value],
        set_null: bool,
    ) -> crate::apply::CascadedImages {
        self.0
            .inflight
            .lock()
            .unwrap()
            .cascade(table, columns, values, set_null)
    }

    fn follow(
        &self,
        table: &str,
        filter: &[(String, crate::model::Value)],
        set: &[(String, crate::model::Value)],
    ) {
        self.0.inflight.lock().unwrap().follow(table, filter, set)
    }
    fn has_images(&self, table: &str) -> bool {
        self.0.inflight.lock().unwrap().has_images(table)
    }
    fn has_keys(&self, table: &str) -> bool {
        self.0.inflight.lock().unwrap().has_keys(table)
    }
    fn holds(&self, table: &str, key: &[u8]) -> bool {
        self.0.inflight.lock().unwrap().holds_encoded(table, key)
    }
    fn keys_of(&self, table: &str) -> Vec<Vec<u8>> {
        self.0.inflight.lock().unwrap().keys_of(table)
    }
}

/// Waits (at most `limit`) until capture has read this snap's own transactions as far as
/// `local` (a position of its binlog) holds them; false when it has not.
async fn capture_reaches(shared: &AgentShared, local: &GtidPos, limit: Duration) -> bool {
    let own = shared.cfg.node.domain_id;
    let upto = local.get(own).map_or(0, |g| g.seq);
    let mut rx = shared.capture_read.subscribe();
    let wait = rx.wait_for(|read| read.get(own).map_or(0, |g| g.seq) >= upto);
    let reached = matches!(tokio::time::timeout(limit, wait).await, Ok(Ok(_)));
    reached
}

/// An echo's wait (at most [`ECHO_GUARD_WAIT`]) until capture's read position satisfies
/// `reached`; false when it does not. Once a wait has run out, capture is held up (the hub takes
/// no own transactions: its session ended, or it is slow) and the echoes' waits would only add
/// up, [`ECHO_GUARD_WAIT`] each, while the echoes queued behind them wait too: later echoes
/// only look, until capture is seen caught up again. An echo that does not wait is written in
/// full, which is always correct.
async fn echo_waits_for_capture(
    shared: &AgentShared,
    reached: impl FnMut(&GtidPos) -> bool,
) -> bool {
    use std::sync::atomic::Ordering;
    let limit = if shared.capture_behind.load(Ordering::Relaxed) {
        Duration::ZERO
    } else {
        ECHO_GUARD_WAIT
    };
    let mut rx = shared.capture_read.subscribe();
    let ok = matches!(
        tokio::time::timeout(limit, rx.wait_for(reached)).await,
        Ok(Ok(_))
    );
    shared.capture_behind.store(!ok, Ordering::Relaxed);
    ok
}

/// What a repair needs from the agent ([`crate::repair::target::Hooks`]).
struct RepairHooks(Arc<AgentShared>);

impl crate::repair::target::Hooks for RepairHooks {
    fn captured(&self, local: GtidPos) -> futures::future::BoxFuture<'static, bool> {
        let shared = self.0.clone();
        Box::pin(async move {
            capture_reaches(&shared, &local, crate::repair::target::CAPTURE_WAIT).await
        })
    }

    fn in_flight(&self, table: &str) -> Vec<Vec<u8>> {
        self.0.inflight.lock().unwrap().keys_of(table)
    }

    fn progress(&self, what: Option<String>) {
        self.0.status.lock().unwrap().repair = what;
    }

    fn touched(&self, table: &str) {
        self.0.touched(table);
    }
}

/// Counts an applied transaction in the agent's status.
fn note_commit(shared: &AgentShared, c: &crate::apply::Committed, own: u32) {
    if c.gtid.domain == own {
        shared.own_effects.lock().unwrap().release(c.gtid.seq);
    }
    let mut s = shared.status.lock().unwrap();
    if let Some(failed) = &c.ddl_failed {
        s.ddl_failed += 1;
        s.last_ddl_failed = Some(failed.clone());
    }
    if c.gtid.domain == own {
        s.echoed = Some(c.gtid);
    } else if !c.skipped {
        s.applied_txns += 1;
    }
}

/// Drops the images left alone for rows that an echo's rows chunk carries itself (its images
/// are newer).
fn drop_carried(item: &TxnItem, left: &mut Vec<super::inflight::LeftAlone>) {
    if let TxnItem::Rows(c) = item {
        let keys: std::collections::HashSet<super::inflight::RowKey> = c
            .rows()
            .flat_map(|(b, a)| [b, a])
            .flatten()
            .map(|img| super::inflight::row_key(&c.table, img))
            .collect();
        left.retain(|l| !keys.contains(&l.key));
    }
}

/// Loads the images left alone that `starsync.left_alone` keeps ([`super::inflight`]): the
/// keys they are for are put back in flight by capture, which reads the own transactions not
/// echoed yet again.
async fn load_left_alone(shared: &AgentShared, local: &mut mysql_async::Conn) -> Result<()> {
    use mysql_async::prelude::Queryable;
    let rows: Vec<(Vec<u8>, Vec<u8>)> = local
        .query("SELECT row_hash, stored FROM starsync.left_alone")
        .await
        .map_err(Error::db("reading starsync.left_alone"))?;
    let n = rows.len();
    let unreadable = shared.inflight.lock().unwrap().load(rows);
    if unreadable > 0 {
        warn!(
            unreadable,
            "rows of starsync.left_alone this version cannot read are dropped"
        );
    }
    if n > 0 {
        info!(
            rows = n - unreadable,
            "images left alone for own changes on their way loaded"
        );
    }
    Ok(())
}

/// Writes the changes to the images left alone with the transaction being committed.
struct SaveLeftAlone(Arc<AgentShared>);

impl crate::apply::CommitRows for SaveLeftAlone {
    fn sql(&self) -> Vec<String> {
        self.0.inflight.lock().unwrap().unsaved_sql()
    }

    fn committed(&self) {
        self.0.inflight.lock().unwrap().saved();
    }
}

/// How long a session must last before the agent's last error is cleared.
const ERROR_CLEARS_AFTER: Duration = Duration::from_secs(5);

/// Applies the hub's stream to the local server.
async fn apply_loop(
    shared: Arc<AgentShared>,
    mut rx: mpsc::Receiver<Message>,
    wtx: mpsc::Sender<Message>,
    token: CancellationToken,
    master_domain: u32,
) -> Result<()> {
    let own = shared.cfg.node.domain_id;
    let label = format!("local ({})", shared.cfg.node.name);
    let mut applier = Applier::connect(&shared.cfg.mariadb.opts(), &label).await?;
    let guard_shared = shared.clone();
    applier.set_echo_guard(Arc::new(move |local: crate::gtid::GtidPos| {
        let sh = guard_shared.clone();
        Box::pin(async move {
            let own_read = |read: &GtidPos| read.get(own).map_or(0, |g| g.seq);
            let upto = own_read(&local);
            let was_behind = sh.capture_behind.load(std::sync::atomic::Ordering::Relaxed);
            if !echo_waits_for_capture(&sh, |read| own_read(read) >= upto).await && !was_behind {
                warn!(
                    upto,
                    captured = own_read(&sh.capture_read.borrow()),
                    "capture is behind (the hub is not taking this snap's transactions as fast \
                     as they are made); echoes are applied without waiting for it until it \
                     catches up"
                );
            }
        })
    }));
    applier.set_echo_skip(Arc::new(AgentEchoSkip(shared.clone())));
    applier.set_left_images(Arc::new(AgentLeftImages(shared.clone())));
    applier.set_commit_rows(Arc::new(SaveLeftAlone(shared.clone())));
    let mut buf = TxnBuffer::new(16 << 20);
    let mut mode = TxnMode::default();
    // A foreign transaction being collected.
    let mut small = SmallCollector::default();
    let sh = shared.clone();
    let skip = move |meta: &crate::model::TableMeta,
                     before: Option<&[crate::model::Value]>,
                     after: Option<&[crate::model::Value]>| {
        sh.inflight.lock().unwrap().leave_alone(meta, before, after)
    };
    // Images left alone for keys the echo being applied releases: written with it unless it
    // carries those rows itself ([`super::inflight`]).
    let mut left_alone: Vec<super::inflight::LeftAlone> = Vec::new();
    let hooks = RepairHooks(shared.clone());
    let mut repair: Option<crate::repair::target::Repair> = None;
    let result = loop {
        let m = tokio::select! {
            _ = token.cancelled() => break Ok(()),
            m = rx.recv() => m,
        };
        let Some(m) = m else { break Ok(()) };
        match m {
            Message::Txn(item) => {
                let mut start = false;
                if let TxnItem::Begin(b) = &item {
                    debug!(gtid = %b.gtid, "received");
                    mode = if b.gtid.domain == own {
                        // The echo supersedes our in-flight change of the same transaction.
                        // Capture must have read that transaction first (after a restart it
                        // reads it again): the keys it puts in flight are released here.
                        let seq = b.gtid.seq;
                        echo_waits_for_capture(&shared, |read| {
                            read.get(own).is_some_and(|g| g.seq >= seq)
                        })
                        .await;
                        let back = shared.inflight.lock().unwrap().release(b.gtid.seq);
                        left_alone.extend(back);
                        TxnMode {
                            echo: true,
                            ..Default::default()
                        }
                    } else {
                        TxnMode {
                            preserve_gtid: true,
                            // The master's own writes cascade unlogged ([`crate::apply::cascade`]).
                            cascade_here: b.gtid.domain == master_domain,
                            ..Default::default()
                        }
                    };
                    // Foreign transactions are collected, and applied in one round trip at
                    // their commit if small.
                    start = !mode.echo && !b.ddl;
                }
                let items = match small.offer(item, start) {
                    Collected::Held => continue,
                    Collected::Whole(held) => match applier.apply_small(&held, Some(&skip)).await {
                        Ok(Some(c)) => {
                            note_commit(&shared, &c, own);
                            continue;
                        }
                        // Not eligible, or a lock conflict: item by item, with retries.
                        Ok(None) => held,
                        Err(e) if retry::is_lock_conflict(&e) => held,
                        Err(e) => break Err(e),
                    },
                    Collected::Items(items) => items,
                };
                let mut failed = None;
                for item in &items {
                    if mode.echo && !left_alone.is_empty() {
                        drop_carried(item, &mut left_alone);
                        if matches!(item, TxnItem::Commit(_)) {
                            // The rows the echo left out, before its commit (what a foreign
                            // key refusing one means: `Applier::force_unless_refused`).
                            debug!(
                                rows = left_alone.len(),
                                "writing images left alone that the echo does not carry"
                            );
                            let in_flight = |t: &str, k: &[crate::model::Value]| {
                                shared.inflight.lock().unwrap().holds(t, k)
                            };
                            for l in left_alone.drain(..) {
                                if let Err(e) =
                                    applier.force_unless_refused(&l.chunk(), &in_flight).await
                                {
                                    failed = Some(e);
                                    break;
                                }
                            }
                            if failed.is_some() {
                                break;
                            }
                        }
                    }
                    match retry::apply_item(&mut applier, &mut buf, item, &mode, Some(&skip)).await
                    {
                        Ok(Some(c)) => note_commit(&shared, &c, own),
                        Ok(None) => {}
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
                if let Some(e) = failed {
                    break Err(e);
                }
            }
            Message::Heartbeat { id, ts_us }
                if wtx.send(Message::HeartbeatAck { id, ts_us }).await.is_err() =>
            {
                break Ok(());
            }
            // A repair comes between two transactions of the stream ([`crate::repair`]).
            Message::RepairBegin(b) => {
                repair = Some(
                    crate::repair::target::Repair::start(&shared.cfg.mariadb.opts(), b, &hooks)
                        .await,
                );
            }
            Message::RepairRows(chunk) => {
                if let Some(r) = repair.as_mut() {
                    r.rows(chunk, &hooks).await;
                }
            }
            Message::RepairEnd(end) => {
                let report = match repair.take() {
                    Some(r) => r.finish(end, &hooks).await,
                    None => crate::repair::RepairReport {
                        id: end.id,
                        error: Some("the repair's rows came without their start".into()),
                        ..Default::default()
                    },
                };
                if report.recreated {
                    // The table was made again: plans cached for its old definition are stale.
                    applier.invalidate_plans();
                }
                if wtx.send(Message::RepairResult(report)).await.is_err() {
                    break Ok(());
                }
            }
            _ => {}
        }
    };
    if repair.is_some() {
        // Cut short: the snap's table was not touched (see `crate::repair::target`).
        crate::repair::target::Hooks::progress(&hooks, None);
    }
    // Nothing half-applied.
    applier.abort().await.ok();
    if result.is_err() {
        token.cancel();
    }
    result
}
