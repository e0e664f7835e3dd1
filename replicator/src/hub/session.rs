//! One agent's session on the hub: handshake, then ingest (this task) beside fan-out and a
//! socket writer (their own tasks).
//!
//! # Ingest
//! The agent's transactions are applied to the master in one DB transaction each, with the
//! origin's GTID and conflict detection, and acknowledged (`Ack`) only after commit. A
//! transaction the master already holds is skipped (exactly once across reconnects). DDL run on
//! the snap is not applied: its GTID is committed as an empty transaction, so that the master's
//! position for the snap's domain stays contiguous, and it is reported as drift. A deadlock or
//! lock timeout retries the transaction from memory when it was small enough to keep (16 MiB);
//! otherwise the session ends and the agent resends from the master's position.
//!
//! # Failure
//! A wrong secret, an unknown protocol version, a malformed or oversized frame, or a node whose
//! identity clashes with another closes this connection with an error logged here (and sent to
//! the agent when possible); every other session goes on. Any other session error (the master's
//! database failing, for one) is sent to the agent as the session's last message, so the snap's
//! log says why, not only that the hub hung up.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn, Instrument};

use super::status::{Counters, NodeState};
use super::HubCtx;
use crate::apply::retry::{self, TxnBuffer};
use crate::apply::small::{Collected, SmallCollector};
use crate::apply::{Applier, TxnMode};
use crate::error::{Error, Result};
use crate::gtid::GtidPos;
use crate::model::TxnItem;
use crate::wire::messages::{Hello, Message, Welcome};
use crate::wire::session::{framed, recv, server_handshake, tcp, SessionError};
use crate::wire::tls::{WireStream, TLS_HANDSHAKE_BYTE};

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const RETRY_BUFFER_BYTES: usize = 16 << 20;
/// The longest the hub stays silent towards an agent (see `write_loop`).
const KEEPALIVE: Duration = Duration::from_secs(1);

/// Serves one TCP connection until it ends or `token` is cancelled.
pub async fn run(ctx: Arc<HubCtx>, stream: TcpStream, peer: SocketAddr, token: CancellationToken) {
    let span = tracing::info_span!("session", peer = %peer);
    async move {
        let Some(stream) = open(&ctx, stream).await else {
            return;
        };
        let mut conn = framed(stream, ctx.cfg.limits.max_frame_bytes);
        let master_pos = ctx.registry.master_pos();
        let replicate = ctx.cfg.replicate.clone();
        let (sid, did) = (ctx.cfg.node.server_id, ctx.cfg.node.domain_id);
        let registry = ctx.registry.clone();
        let settings = ctx.schema_settings.clone();
        let hello = match server_handshake(
            &mut conn,
            &ctx.cfg.node.name,
            ctx.cfg.hub.secret.expose(),
            HANDSHAKE_TIMEOUT,
            |h: &Hello| {
                if h.server_id == sid || h.domain_id == did {
                    return Err(format!(
                        "node {:?} uses server_id {} / gtid_domain_id {}, which belong to the \
                         master: give every node its own server_id and gtid_domain_id",
                        h.node, h.server_id, h.domain_id
                    ));
                }
                if let Some(other) = registry.identity_clash(&h.node, h.server_id, h.domain_id) {
                    return Err(format!(
                        "node {:?} uses server_id {} / gtid_domain_id {}, already used by \
                         connected node {other:?}: give every node its own ids",
                        h.node, h.server_id, h.domain_id
                    ));
                }
                Ok(Welcome {
                    proof: vec![],
                    master_pos: master_pos.clone(),
                    replicate,
                    master_server_id: sid,
                    master_domain_id: did,
                    settings,
                })
            },
        )
        .await
        {
            Ok(h) => h,
            Err(SessionError::Frame(e)) => {
                warn!(error = %e, "closing connection: not a starsync agent (bad frame)");
                let _ = conn
                    .send(Message::Error {
                        message: format!("closing: {e}"),
                    })
                    .await;
                return;
            }
            Err(e) => {
                warn!(error = %e, "closing connection: handshake failed");
                return;
            }
        };
        let name = hello.node.clone();
        let span = tracing::info_span!("node", node = %name);
        async {
            if !ctx.registry.master_ok() {
                // Its outage is logged once (the master's poll); a session now would only fail
                // on it, logging an ERROR per snap at every reconnect.
                debug!("refusing the session: the master database does not answer");
                ctx.registry
                    .update(&name, |n| n.last_error = Some(MASTER_DOWN.into()));
                last_word(&mut conn, MASTER_DOWN.into()).await;
                return;
            }
            if let Err(e) = session(ctx.clone(), conn, &hello, peer, token).await {
                error!(error = %e, "session ended with an error");
                ctx.registry
                    .update(&name, |n| n.last_error = Some(e.to_string()));
            }
            ctx.registry.update(&name, |n| {
                n.connected = false;
                n.syncing = false;
                n.disconnected_since = Some(SystemTime::now());
                n.outstanding.clear();
            });
            info!("agent disconnected");
        }
        .instrument(span)
        .await
    }
    .instrument(span)
    .await
}

/// The connection as the hub's TLS setting wants it: TLS when `[hub] tls_cert` is set (a peer
/// that does not start TLS is refused in plain frames, which a plain agent reads), plain TCP
/// otherwise (a peer that starts TLS is closed on). `None`: closed, and logged why.
async fn open(ctx: &HubCtx, stream: TcpStream) -> Option<WireStream> {
    let stream = tcp(stream);
    let mut first = [0u8; 1];
    let problem = match tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.peek(&mut first)).await {
        Ok(Ok(1)) => None,
        Ok(Ok(_)) => Some("the peer closed the connection".to_string()),
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!("nothing received within {HANDSHAKE_TIMEOUT:?}")),
    };
    if let Some(problem) = problem {
        warn!(error = %problem, "closing connection: handshake failed");
        return None;
    }
    let starts_tls = first[0] == TLS_HANDSHAKE_BYTE;
    let acceptor = ctx.tls.as_ref().map(|t| t.lock().unwrap().clone());
    match &acceptor {
        Some(acceptor) if starts_tls => {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(s)) => Some(WireStream::Tls(Box::new(s.into()))),
                Ok(Err(e)) => {
                    warn!(error = %e, "closing connection: TLS handshake failed");
                    None
                }
                Err(_) => {
                    warn!(
                        timeout = ?HANDSHAKE_TIMEOUT,
                        "closing connection: TLS handshake not done in time"
                    );
                    None
                }
            }
        }
        Some(_) => {
            warn!(
                "closing connection: the peer did not start TLS, and this hub takes TLS only \
                 ([hub] tls_cert): set [agent] tls_ca on that snap"
            );
            let mut conn = framed(stream, ctx.cfg.limits.max_frame_bytes);
            let _ = conn
                .send(Message::Refused {
                    reason: "this hub takes TLS connections only: set [agent] tls_ca to the CA \
                             that signed the hub's certificate (see the README, TLS)"
                        .into(),
                })
                .await;
            // Read what the peer sent (its hello) until it closes: closing on unread bytes
            // would reset the connection, and the refusal could be lost with it.
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while let Some(Ok(_)) = conn.next().await {}
            })
            .await;
            None
        }
        None if starts_tls => {
            warn!(
                "closing connection: the peer started TLS, but this hub has no [hub] tls_cert \
                 and tls_key: set them, or remove [agent] tls_ca on that snap"
            );
            None
        }
        None => Some(stream.into()),
    }
}

async fn session(
    ctx: Arc<HubCtx>,
    mut conn: crate::wire::session::Conn,
    hello: &Hello,
    peer: SocketAddr,
    token: CancellationToken,
) -> Result<()> {
    let name = hello.node.clone();
    let tls = conn.get_ref().is_tls();
    // A reconnecting agent replaces its previous session (which may not have noticed yet).
    let previous = ctx
        .sessions
        .lock()
        .unwrap()
        .insert(name.clone(), token.clone());
    if let Some(old) = previous {
        old.cancel();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let counters: Arc<Counters> = ctx.registry.with_node(
        &name,
        || NodeState::new("snap", hello.server_id, hello.domain_id),
        |n| {
            n.role = "snap";
            n.server_id = hello.server_id;
            n.domain_id = hello.domain_id;
            // Connected once it subscribes: until then it may still ask for a snapshot (and
            // refuse local writes while it loads one).
            n.connected = false;
            n.disconnected_since = None;
            n.address = peer.to_string();
            n.tls = tls;
            n.last_error = None;
            n.needs_resync = false;
            n.outstanding.clear();
            n.counters.clone()
        },
    );
    info!(
        server_id = hello.server_id,
        domain = hello.domain_id,
        tls,
        "agent connected"
    );

    let mut first = recv(&mut conn, HANDSHAKE_TIMEOUT).await;
    if let Ok(Message::SnapshotRequest) = first {
        info!("sending a snapshot");
        ctx.registry.update(&name, |n| n.syncing = true);
        let sent = crate::snapshot::source::stream(
            &ctx.cfg.mariadb.opts(),
            &ctx.cfg.replicate,
            &ctx.cfg.limits,
            &mut conn,
            &name,
            Duration::from_millis(ctx.cfg.hub.idle_timeout_ms),
        )
        .await;
        ctx.registry.update(&name, |n| n.syncing = false);
        if let Err(e) = sent {
            token.cancel();
            ctx.sessions
                .lock()
                .unwrap()
                .retain(|_, t| !t.is_cancelled());
            // The agent reads this after whatever its socket still holds.
            last_word(&mut conn, e.to_string()).await;
            return Err(e);
        }
        // The agent loads it, then subscribes from its position.
        first = recv(&mut conn, Duration::from_secs(24 * 3600)).await;
    }
    let (pos, echo) = match first {
        Ok(Message::Subscribe { pos, echo }) => (pos, echo),
        Ok(m) => {
            return Err(protocol(
                &name,
                format!("expected subscribe, got {}", m.kind()),
            ));
        }
        Err(e) => return Err(protocol(&name, e.to_string())),
    };
    ctx.registry.update(&name, |n| {
        n.gtid_pos = pos.clone();
        n.connected = true;
        n.connected_since = Some(SystemTime::now());
    });

    let (sink, stream) = conn.split();
    // Frames are decoded by their own task, so that decoding the next chunk overlaps with the
    // master applying the current one.
    let idle = Duration::from_millis(ctx.cfg.hub.idle_timeout_ms);
    let stream = read_ahead(stream, idle, token.clone());
    let (tx, rx) = mpsc::channel::<Message>(32);
    ctx.senders.lock().unwrap().insert(name.clone(), tx.clone());
    let (ctl, ctl_rx) = tokio::sync::watch::channel(Control::default());
    let writer = tokio::spawn(write_loop(
        sink,
        rx,
        ctl_rx,
        counters.clone(),
        token.clone(),
    ));
    let start = fanout_start(&pos, &echo, hello.domain_id, &ctx.registry.master_pos());
    ctx.registry
        .update(&name, |n| n.needs_from = Some(start.clone()));
    let fan = tokio::spawn(
        super::fanout::run(
            ctx.clone(),
            name.clone(),
            (hello.server_id, hello.domain_id),
            start,
            tx.clone(),
            counters.clone(),
            token.clone(),
        )
        .in_current_span(),
    );

    let result = ingest_loop(&ctx, &name, hello, stream, &ctl, &counters, &token).await;
    // Nothing half-applied: the ingest's connection rolled back what did not reach its commit
    // (inside `ingest_loop`). Stop the fan-out and the writer, then tell the agent why the
    // session ended, on the socket the writer hands back.
    token.cancel();
    {
        let mut senders = ctx.senders.lock().unwrap();
        if senders.get(&name).is_some_and(|t| t.same_channel(&tx)) {
            senders.remove(&name);
        }
    }
    drop(tx);
    // A fan-out that failed ended the session (ingest saw the cancel): its error is the reason.
    let fanned = match tokio::time::timeout(Duration::from_secs(5), fan).await {
        Ok(Ok(r)) => r,
        _ => Ok(()),
    };
    let result = match (result, fanned) {
        (Ok(()), Err(e)) => Err(e),
        (r, _) => r,
    };
    if let Ok(Ok(mut sink)) = tokio::time::timeout(Duration::from_secs(5), writer).await {
        let reason = match &result {
            Err(e) => Some(e.to_string()),
            Ok(()) if ctx.shutdown.is_cancelled() => Some(
                "the hub is shutting down; nothing is lost, the agent resends from the \
                 master's position when it is back"
                    .to_string(),
            ),
            // Replaced by a newer session of the same agent: nobody listens here any more.
            Ok(()) => None,
        };
        if let Some(message) = reason {
            last_word(&mut sink, message).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), sink.close()).await;
    }
    {
        let mut s = ctx.sessions.lock().unwrap();
        if s.get(&name).is_some_and(|t| t.is_cancelled()) {
            s.remove(&name);
        }
    }
    result
}

/// Tells the agent why its session ends (its last message). Bounded: a hung agent may not be
/// reading.
/// Why a snap's session is refused while the master's database does not answer.
const MASTER_DOWN: &str = "the master database does not answer the hub (the hub's log says \
                           why): this snap keeps taking local writes, and they flow once the \
                           master is back";

async fn last_word<S>(sink: &mut S, message: String)
where
    S: futures::Sink<Message> + Unpin,
{
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        sink.send(Message::Error { message }),
    )
    .await;
}

/// The ingest of one session: the agent's messages until the session ends. Whatever ends it,
/// a transaction that did not reach its commit is rolled back before this returns.
async fn ingest_loop(
    ctx: &Arc<HubCtx>,
    name: &str,
    hello: &Hello,
    mut stream: mpsc::Receiver<Incoming>,
    ctl: &tokio::sync::watch::Sender<Control>,
    counters: &Arc<Counters>,
    token: &CancellationToken,
) -> Result<()> {
    let name = name.to_string();
    let mut ingest = Ingest {
        applier: Applier::connect(
            &ctx.cfg.mariadb.opts(),
            &format!("master (ingest from {name})"),
        )
        .await?,
        node: name.clone(),
        domain: hello.domain_id,
        buffer: TxnBuffer::new(RETRY_BUFFER_BYTES),
        small: SmallCollector::default(),
        drifted: false,
        ddl_group: false,
        ctx: ctx.clone(),
        counters: counters.clone(),
    };
    let mut lag_tick = tokio::time::interval(Duration::from_secs(1));
    let result = loop {
        let msg = tokio::select! {
            _ = token.cancelled() => break Ok(()),
            _ = lag_tick.tick() => {
                let master = ctx.registry.master_pos();
                let lag = ctx.registry.update(&name, |n| {
                    (n.lag_ms(Instant::now()), n.gtid_pos.behind(&master))
                });
                if let Some((lag_ms, behind)) = lag {
                    ctl.send_modify(|c| c.lag = Some((lag_ms, behind)));
                }
                continue;
            }
            m = stream.recv() => m,
        };
        let msg = match msg {
            None => break Ok(()),
            Some(Err(e @ ReadError::Silent(_))) => {
                break Err(Error::Silent {
                    peer: name.clone(),
                    problem: e.to_string(),
                });
            }
            Some(Err(e)) => {
                break Err(protocol(&name, format!("closing the session: {e}")));
            }
            Some(Ok(m)) => m,
        };
        match msg {
            Message::Txn(item) => {
                if let Some(gtid) = ingest.item(item).await? {
                    ctl.send_modify(|c| c.ack = Some(gtid));
                }
            }
            Message::Heartbeat { id, ts_us } => {
                // Everything the agent captured before this is committed here.
                ctl.send_modify(|c| c.heartbeat_ack = Some((id, ts_us)));
            }
            Message::HeartbeatAck { id, .. } => {
                ctx.registry
                    .update(&name, |n| n.heartbeat_acked(id, Instant::now()));
            }
            Message::Report(r) => {
                let packet = (r.max_allowed_packet > 0).then_some(r.max_allowed_packet);
                let needs =
                    fanout_start(&r.pos, &r.echo, hello.domain_id, &ctx.registry.master_pos());
                let changed = ctx
                    .registry
                    .update(&name, |n| {
                        n.needs_from = Some(needs);
                        n.gtid_pos = r.pos;
                        n.capture_lag_ms = r.capture_lag_ms;
                        n.agent_error = r.last_error;
                        n.ddl_failed = r.ddl_failed;
                        n.last_ddl_failed = r.last_ddl_failed;
                        n.writes_held = r.writes_held;
                        n.repair = r.repair;
                        std::mem::replace(&mut n.max_allowed_packet, packet) != packet
                    })
                    .unwrap_or(false);
                if changed {
                    warn_small_packet(ctx, &name, packet);
                }
            }
            Message::VerifyResult {
                id,
                pos,
                sums,
                error,
            } => {
                let waiter = ctx.verify_waiters.lock().unwrap().get(&id).cloned();
                if let Some(w) = waiter {
                    let _ = w
                        .send(super::verify::Answer {
                            node: name.clone(),
                            pos,
                            sums,
                            error,
                        })
                        .await;
                }
            }
            Message::RepairResult(report) => {
                let waiter = ctx.repair_waiters.lock().unwrap().remove(&report.id);
                if let Some((_, w)) = waiter {
                    let _ = w.send(report);
                }
            }
            Message::Error { message } => {
                break Err(protocol(&name, format!("the agent reported: {message}")));
            }
            other => {
                break Err(protocol(
                    &name,
                    format!("unexpected {} message during the session", other.kind()),
                ));
            }
        }
    };
    // Nothing half-applied: roll back a transaction that did not reach its commit.
    ingest.applier.abort().await.ok();
    result
}

/// Decoded frames, read ahead by their own task (a few frames: each is bounded in size).
type Incoming = std::result::Result<Message, ReadError>;

/// Why reading from an agent stopped.
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error(transparent)]
    Frame(#[from] crate::wire::codec::FrameError),
    #[error(
        "the agent sent nothing for {:.1} s (agents report every 300 ms): it is hung or the \
         network path to it dropped; closing its session (hub.idle_timeout_ms)",
        .0.as_secs_f64()
    )]
    Silent(Duration),
}

/// Reads the agent's frames ahead of the ingest. Only time spent waiting for the socket counts
/// as silence (`idle`): while the ingest is busy, the channel is full and this task waits there.
fn read_ahead(
    mut stream: futures::stream::SplitStream<crate::wire::session::Conn>,
    idle: Duration,
    token: CancellationToken,
) -> mpsc::Receiver<Incoming> {
    let (tx, rx) = mpsc::channel::<Incoming>(4);
    tokio::spawn(async move {
        loop {
            let m = tokio::select! {
                _ = token.cancelled() => break,
                m = tokio::time::timeout(idle, stream.next()) => m,
            };
            let m = match m {
                Ok(m) => m.map(|r| r.map_err(ReadError::from)),
                Err(_) => Some(Err(ReadError::Silent(idle))),
            };
            let Some(m) = m else { break };
            let end = m.is_err();
            if tx.send(m).await.is_err() || end {
                break;
            }
        }
    });
    rx
}

fn protocol(peer: &str, problem: String) -> Error {
    Error::Protocol {
        peer: peer.into(),
        problem,
    }
}

/// The latest acknowledgements for the agent. They are cumulative, so only the newest of each
/// kind matters: ingest publishes them here and never waits for the socket (a snap slow to apply
/// its fan-out must not stall the ingest of its own changes).
#[derive(Debug, Clone, Default, PartialEq)]
struct Control {
    ack: Option<crate::gtid::Gtid>,
    heartbeat_ack: Option<(u64, u64)>,
    lag: Option<(Option<u64>, u64)>,
}

/// Writes acknowledgements (first) and queued messages to the socket; a write error ends the
/// session. Hands the socket back when it stops, for the session's last word.
async fn write_loop(
    mut sink: futures::stream::SplitSink<crate::wire::session::Conn, Message>,
    mut rx: mpsc::Receiver<Message>,
    mut ctl: tokio::sync::watch::Receiver<Control>,
    counters: Arc<Counters>,
    token: CancellationToken,
) -> futures::stream::SplitSink<crate::wire::session::Conn, Message> {
    let mut sent = Control::default();
    // Something reaches the agent at least this often, so that it can tell a live hub from a
    // hung one (`agent.idle_timeout_ms`) even while fan-out sends no heartbeats (inside a long
    // transaction, or before it first caught up): the latest lag again.
    let keepalive = tokio::time::sleep(KEEPALIVE);
    tokio::pin!(keepalive);
    loop {
        let m = tokio::select! {
            biased;
            _ = token.cancelled() => break,
            _ = &mut keepalive => {
                keepalive.as_mut().reset(tokio::time::Instant::now() + KEEPALIVE);
                if let Some((lag_ms, behind)) = sent.lag {
                    if let Err(e) = sink.send(Message::Lag { lag_ms, behind }).await {
                        warn!(error = %e, "cannot write to the agent; closing the session");
                        token.cancel();
                        break;
                    }
                }
                continue;
            }
            changed = ctl.changed() => {
                if changed.is_err() {
                    break;
                }
                let now = ctl.borrow_and_update().clone();
                let mut out = Vec::new();
                if now.ack != sent.ack {
                    if let Some(gtid) = now.ack {
                        out.push(Message::Ack { gtid });
                    }
                }
                if now.heartbeat_ack != sent.heartbeat_ack {
                    if let Some((id, ts_us)) = now.heartbeat_ack {
                        out.push(Message::HeartbeatAck { id, ts_us });
                    }
                }
                if now.lag != sent.lag {
                    if let Some((lag_ms, behind)) = now.lag {
                        out.push(Message::Lag { lag_ms, behind });
                    }
                }
                sent = now;
                let mut failed = false;
                for m in out {
                    if let Err(e) = sink.send(m).await {
                        warn!(error = %e, "cannot write to the agent; closing the session");
                        failed = true;
                        break;
                    }
                }
                if failed {
                    token.cancel();
                    break;
                }
                keepalive.as_mut().reset(tokio::time::Instant::now() + KEEPALIVE);
                continue;
            }
            m = rx.recv() => m,
        };
        let Some(m) = m else { break };
        keepalive
            .as_mut()
            .reset(tokio::time::Instant::now() + KEEPALIVE);
        let r = crate::wire::session::send_batch(&mut sink, m, &mut rx).await;
        let bytes = *r.as_ref().unwrap_or(&0) as u64;
        counters.bytes_queued.fetch_sub(
            bytes.min(counters.bytes_queued.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
        if let Err(e) = r {
            warn!(error = %e, "cannot write to the agent; closing the session");
            token.cancel();
            break;
        }
    }
    sink
}

/// Where fan-out starts for a snap: its position for every foreign domain, its echo position
/// for its own domain, and only domains the master knows (others have nothing to send and the
/// master would refuse them).
pub fn fanout_start(pos: &GtidPos, echo: &GtidPos, own: u32, master: &GtidPos) -> GtidPos {
    let mut start = GtidPos::new();
    for g in pos.iter() {
        if g.domain != own && master.get(g.domain).is_some() {
            start.set(*g);
        }
    }
    if let Some(e) = echo.get(own) {
        if master.get(own).is_some() {
            start.set(e);
        }
    }
    start
}

struct Ingest {
    applier: Applier,
    node: String,
    domain: u32,
    /// The open transaction's items, kept for a retry while small.
    buffer: TxnBuffer,
    /// A small transaction being collected.
    small: SmallCollector,
    /// The open transaction ran DDL on the snap (not applied): its rows are the rows that DDL
    /// wrote (`CREATE TABLE … SELECT`) and stay on the snap with it.
    drifted: bool,
    /// The open transaction is flagged DDL by the snap's binlog.
    ddl_group: bool,
    ctx: Arc<HubCtx>,
    counters: Arc<Counters>,
}

impl Ingest {
    fn mode(&self) -> TxnMode {
        TxnMode {
            preserve_gtid: true,
            detect_conflicts: true,
            echo: false,
            origin: self.node.clone(),
            cascade_here: false,
        }
    }

    /// Applies one item; returns the GTID when it committed a transaction.
    async fn item(&mut self, item: TxnItem) -> Result<Option<crate::gtid::Gtid>> {
        match &item {
            TxnItem::Begin(b) if b.gtid.domain != self.domain => {
                return Err(protocol(
                    &self.node,
                    format!(
                        "the agent sent {} of domain {}; it may only send its own domain {}",
                        b.gtid, b.gtid.domain, self.domain
                    ),
                ));
            }
            TxnItem::Query(q) if crate::ddl::is_savepoint(q) => {}
            TxnItem::Query(q) => {
                // DDL is made on the master only: what a snap ran locally is reported, not
                // applied; its GTID still commits (empty) so the domain stays contiguous. The
                // rows of a DDL transaction are that DDL's (`CREATE TABLE … SELECT`).
                self.drifted = self.ddl_group;
                let sql = q.sql_lossy();
                if crate::ddl::is_dml(q) {
                    error!(statement = %sql, schema = %q.schema, "{}",
                           crate::ddl::SNAP_STATEMENT_DML);
                } else {
                    error!(statement = %sql, schema = %q.schema,
                           "DDL executed on this snap is not replicated (local drift); make \
                            schema changes on the master");
                }
                self.ctx.registry.update(&self.node, |n| {
                    n.ddl_drift += 1;
                    n.last_ddl_drift = Some(sql.chars().take(500).collect());
                });
                return Ok(None);
            }
            TxnItem::Begin(b) => {
                self.drifted = false;
                self.ddl_group = b.ddl;
                tracing::debug!(gtid = %b.gtid, "ingest begins")
            }
            TxnItem::Rows(c) if self.drifted => {
                tracing::debug!(table = %c.table.full_name(), rows = c.len(),
                                "rows written by DDL run on the snap are not replicated");
                return Ok(None);
            }
            TxnItem::Rows(c) => {
                self.counters
                    .ingested_rows
                    .fetch_add(c.len() as u64, Ordering::Relaxed);
            }
            _ => {}
        }
        // A small transaction is collected and applied in one round trip at its commit.
        let start = matches!(&item, TxnItem::Begin(b) if !b.ddl);
        let items = match self.small.offer(item, start) {
            Collected::Held => return Ok(None),
            Collected::Whole(held) => match self.applier.apply_small_checked(&held).await {
                Ok(Some(c)) => return Ok(Some(self.committed(c))),
                Ok(None) => held,
                Err(e) if retry::is_lock_conflict(&e) => held,
                Err(e) => return Err(e),
            },
            Collected::Items(items) => items,
        };
        let mode = self.mode();
        let mut done = None;
        for item in &items {
            done = retry::apply_item(&mut self.applier, &mut self.buffer, item, &mode, None)
                .await?
                .or(done);
        }
        Ok(done.map(|c| self.committed(c)))
    }

    /// Counts a committed transaction; returns its GTID for the ack.
    fn committed(&self, c: crate::apply::Committed) -> crate::gtid::Gtid {
        self.counters.ingested_txns.fetch_add(1, Ordering::Relaxed);
        if c.conflicts > 0 {
            self.counters
                .conflicts
                .fetch_add(c.conflicts, Ordering::Relaxed);
        }
        c.gtid
    }
}

/// Warns when a snap takes smaller statements than the master: a row the master (or another
/// node) accepts may then be one it cannot apply.
fn warn_small_packet(ctx: &HubCtx, node: &str, packet: Option<u64>) {
    let master = ctx
        .registry
        .update(&ctx.cfg.node.name, |n| n.max_allowed_packet)
        .flatten();
    if let (Some(snap), Some(master)) = (packet, master) {
        if snap < master {
            warn!(node = %node, max_allowed_packet = snap, master_max_allowed_packet = master,
                  "this snap's max_allowed_packet is smaller than the master's: a row bigger \
                   than it cannot be applied there; raise max_allowed_packet on the snap to at \
                   least the master's (SET GLOBAL and its config file)");
        }
    }
}
