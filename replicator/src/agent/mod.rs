//! The agent: runs on every snap, the only process there that talks to the hub.
//!
//! It captures the snap's own transactions (its own GTID domain only) from the local binlog and
//! ships them to the hub ([`capture`]); it applies the master's stream to the local server with
//! the origin GTIDs, and the echoes of its own transactions with the master's row images
//! ([`session`]). Local users never wait for it: they write to their MariaDB, and their changes
//! flow whenever the hub is reachable.
//!
//! # Recovery
//! Nothing is kept in files. After any failure the agent reconnects (exponential backoff up to
//! `agent.reconnect_max_ms`); the hub tells it the master's position for the snap's domain
//! (capture resumes after it) and the agent tells the hub its own `gtid_binlog_pos` and echo
//! position (fan-out resumes there). Both come from MariaDB, committed with the data. A hub
//! that stays silent for `agent.idle_timeout_ms` (hung, or the network path dropped) counts as
//! a failure too; a hub that ends the session says why, and the agent logs it.

pub mod capture;
pub mod inflight;
pub mod session;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use mysql_async::prelude::Queryable;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::check;
use crate::config::AgentConfig;
use crate::error::Result;
use crate::gtid::{Gtid, GtidPos};
use crate::http::{self, Response};
use crate::hub::status::rfc3339;
use inflight::InFlight;

/// Base of the replica server id the agent's binlog reader registers with on its own server.
pub const CAPTURE_REPLICA_ID_BASE: u32 = 0x6000_0000;

/// Keys tracked as in flight at most.
const INFLIGHT_LIMIT: usize = 500_000;

/// The local server's position as last polled, and when.
#[derive(Debug, Clone)]
pub struct LocalView {
    pub at: Instant,
    pub pos: GtidPos,
    /// The server's current binlog file number and position in it (lower than before: the
    /// binlog was reset, RESET MASTER).
    pub file: Option<(u64, u64)>,
}

/// What the agent knows about itself (served on its status endpoint).
#[derive(Debug, Default)]
pub struct AgentStatus {
    pub connected: bool,
    pub connected_since: Option<SystemTime>,
    pub lag_ms: Option<u64>,
    pub txns_behind: Option<u64>,
    /// The last own transaction the hub acknowledged.
    pub acked: Option<Gtid>,
    pub capture_lag_ms: Option<u64>,
    pub ddl_drift: u64,
    /// The master's DDL statements that failed here (their GTIDs recorded without them), and
    /// the last one (`statement: error`).
    pub ddl_failed: u64,
    pub last_ddl_failed: Option<String>,
    pub last_error: Option<String>,
    pub applied_txns: u64,
    /// The last own transaction whose echo was applied.
    pub echoed: Option<Gtid>,
    /// Echo rows not written because the snap already held them ([`crate::echo_skip`]).
    pub echo_rows_skipped: u64,
    /// The hub said it cannot send this snap the master's changes until it is resynced
    /// ([`crate::wire::Message::FanoutStopped`]): `last_error` keeps saying so this session.
    pub fanout_stopped: bool,
    /// Why local writes are refused (`read_only`) while the snap loads the master's snapshot
    /// ([`crate::snapshot::load::hold_writes`]).
    pub writes_held: Option<String>,
    /// A repair of one of its tables while it runs ([`crate::repair`]): the table and how far.
    pub repair: Option<String>,
}

/// How the operator asked for a resync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resync {
    /// `--resync`: once the master holds every change this snap made.
    AfterOwnChanges,
    /// `--resync --discard-unshipped`: at once; own changes the master lacks are discarded
    /// (for those whose binlog was purged on the snap: they can never be shipped).
    DiscardUnshipped,
}

/// Shared by the agent's tasks.
pub struct AgentShared {
    pub cfg: AgentConfig,
    pub status: Mutex<AgentStatus>,
    pub local: watch::Receiver<LocalView>,
    pub inflight: Mutex<InFlight>,
    /// Capture heartbeats sent and not yet acknowledged: (id, caught-up instant).
    pub capture_heartbeats: Mutex<std::collections::VecDeque<(u64, Instant)>>,
    /// Everything capture has read of the local binlog, every domain (own transactions read are
    /// in flight).
    pub capture_read: watch::Sender<GtidPos>,
    /// The last wait of an echo for capture ran out: capture is held up (the hub not taking
    /// own transactions), so echoes do not wait for it again until it is seen caught up.
    pub capture_behind: std::sync::atomic::AtomicBool,
    /// What own transactions left, for echoes that would change nothing.
    pub own_effects: Mutex<crate::echo_skip::OwnEffects>,
    /// The operator asked for a new snapshot (`--resync`); cleared once loaded.
    pub resync: std::sync::atomic::AtomicBool,
    /// `--discard-unshipped`: the resync does not wait for own changes the master lacks.
    pub discard_unshipped: bool,
    /// Progress of the initial sync while it runs.
    pub load_progress: Mutex<Option<crate::snapshot::load::LoadProgress>>,
    /// The local server's `max_allowed_packet` (reported to the hub).
    pub max_allowed_packet: u64,
    /// TLS towards the hub, when `[agent] tls_ca` is set: the connector and the name the hub's
    /// certificate must carry.
    pub tls: Option<(
        crate::wire::tls::TlsConnector,
        tokio_rustls::rustls::pki_types::ServerName<'static>,
    )>,
}

impl AgentShared {
    /// Rows of `table` changed here other than by the echo of the own change being applied (a
    /// repair, a unique value displaced): every own transaction recorded so far has its echo
    /// rows of the table written in full ([`crate::echo_skip`]).
    pub fn touched(&self, table: &str) {
        self.own_effects
            .lock()
            .unwrap()
            .foreign(&[table.to_string()], false);
    }
}

#[derive(Serialize)]
struct StatusDoc {
    node: String,
    hub: String,
    connected: bool,
    connected_since: Option<String>,
    lag_ms: Option<u64>,
    txns_behind: Option<u64>,
    pending_own_txns: u64,
    capture_lag_ms: Option<u64>,
    gtid_pos: String,
    acked_own: Option<String>,
    /// The last own transaction whose echo (the master's images) was applied here.
    echoed_own: Option<String>,
    in_flight_rows: usize,
    ddl_drift: u64,
    /// The master's DDL statements that failed here: this snap's schema differs from the
    /// master's until the DBA resolves them (`master-admin verify`).
    ddl_failed: u64,
    last_ddl_failed: Option<String>,
    applied_txns: u64,
    /// Echo rows not written because this node already held them.
    echo_rows_skipped: u64,
    last_error: Option<String>,
    /// Why local writes are refused (`read_only`) while the snap loads (`null` otherwise).
    local_writes_held: Option<String>,
    /// The initial sync while it runs (`null` otherwise).
    initial_sync: Option<crate::snapshot::load::LoadProgress>,
    /// A repair of one of its tables while it runs (`null` otherwise).
    repair: Option<String>,
}

impl AgentShared {
    /// Own transactions committed locally and not yet acknowledged by the hub.
    pub fn pending_own(&self) -> u64 {
        let own = self.cfg.node.domain_id;
        let local = self.local.borrow().pos.get(own).map_or(0, |g| g.seq);
        let acked = self.status.lock().unwrap().acked.map_or(0, |g| g.seq);
        local.saturating_sub(acked)
    }

    fn status_json(&self) -> String {
        let pending = self.pending_own();
        let pos = self.local.borrow().pos.to_string();
        let inflight = self.inflight.lock().unwrap().len();
        let s = self.status.lock().unwrap();
        serde_json::to_string_pretty(&StatusDoc {
            node: self.cfg.node.name.clone(),
            hub: self.cfg.agent.hub.clone(),
            connected: s.connected,
            connected_since: s.connected_since.map(rfc3339),
            lag_ms: if s.connected { s.lag_ms } else { None },
            txns_behind: s.txns_behind,
            pending_own_txns: pending,
            capture_lag_ms: s.capture_lag_ms,
            gtid_pos: pos,
            acked_own: s.acked.map(|g| g.to_string()),
            echoed_own: s.echoed.map(|g| g.to_string()),
            in_flight_rows: inflight,
            ddl_drift: s.ddl_drift,
            ddl_failed: s.ddl_failed,
            last_ddl_failed: s.last_ddl_failed.clone(),
            applied_txns: s.applied_txns,
            echo_rows_skipped: s.echo_rows_skipped,
            last_error: s.last_error.clone(),
            local_writes_held: s.writes_held.clone(),
            initial_sync: self.load_progress.lock().unwrap().clone(),
            repair: s.repair.clone(),
        })
        .unwrap()
    }

    pub fn set_error(&self, e: &str) {
        self.status.lock().unwrap().last_error = Some(e.to_string());
    }
}

/// Runs the agent until `shutdown`.
pub async fn run(
    cfg: AgentConfig,
    status_listener: TcpListener,
    resync: Option<Resync>,
    shutdown: CancellationToken,
) -> Result<()> {
    let address = cfg.mariadb.address();
    let tls = crate::wire::tls::connector(&cfg.agent)?;
    let (mut conn, facts, pos) =
        check::connect_checked(&cfg.mariadb, &cfg.node, "local database").await?;
    let writes_held = crate::snapshot::load::writes_held(&mut conn).await?;
    if let Some(reason) = &writes_held {
        warn!(reason = %reason, "local writes are refused (read_only) until this snap has loaded \
              the master's snapshot");
    }
    info!(node = %cfg.node.name, local = %address, version = %facts.version, position = %pos,
          hub = %cfg.agent.hub, tls = tls.is_some(), "agent started");
    let (local_tx, local_rx) = watch::channel(LocalView {
        at: Instant::now(),
        pos,
        file: None,
    });
    let shared = Arc::new(AgentShared {
        cfg: cfg.clone(),
        status: Mutex::new(AgentStatus {
            writes_held,
            ..Default::default()
        }),
        local: local_rx,
        inflight: Mutex::new(InFlight::new(INFLIGHT_LIMIT)),
        capture_heartbeats: Mutex::new(Default::default()),
        capture_read: watch::channel(GtidPos::new()).0,
        capture_behind: std::sync::atomic::AtomicBool::new(false),
        own_effects: Mutex::new(crate::echo_skip::OwnEffects::new(
            crate::echo_skip::DEFAULT_LIMIT,
        )),
        resync: std::sync::atomic::AtomicBool::new(resync.is_some()),
        discard_unshipped: resync == Some(Resync::DiscardUnshipped),
        load_progress: Mutex::new(None),
        max_allowed_packet: facts.max_allowed_packet,
        tls,
    });

    let poller = tokio::spawn(poll_local(cfg.clone(), conn, local_tx, shutdown.clone()));
    let watcher = tokio::spawn(watch_unshipped(shared.clone(), shutdown.clone()));
    let sh = shared.clone();
    let handler = http::sync_handler(move |path| match path {
        "/status" => Response::json(sh.status_json()),
        "/health" => Response::text(200, "ok\n"),
        _ => Response::text(404, "not found: try /status\n"),
    });
    let http_task = tokio::spawn(http::serve(status_listener, handler, shutdown.clone()));

    let mut backoff = Duration::from_millis(100);
    let max = Duration::from_millis(cfg.agent.reconnect_max_ms);
    while !shutdown.is_cancelled() {
        let started = Instant::now();
        let token = shutdown.child_token();
        let r = session::run(shared.clone(), token).await;
        {
            let mut s = shared.status.lock().unwrap();
            s.connected = false;
            s.lag_ms = None;
        }
        match r {
            Ok(()) if shutdown.is_cancelled() => break,
            Ok(()) if shared.resync.load(std::sync::atomic::Ordering::Relaxed) => {
                info!("this snap's own changes are all on the master; reconnecting to resync");
            }
            Ok(()) => {
                warn!(hub = %cfg.agent.hub, "the hub closed the session; reconnecting");
            }
            Err(e) => {
                let transient = e.is_transient();
                shared.set_error(&e.to_string());
                let held = shared.status.lock().unwrap().writes_held.is_some();
                if transient && held {
                    warn!(hub = %cfg.agent.hub, error = %e, retry_in = ?backoff,
                          "hub session ended; local writes stay refused until the load is done");
                } else if transient {
                    warn!(hub = %cfg.agent.hub, error = %e, retry_in = ?backoff,
                          "hub session ended; local writes keep working and flow on reconnect");
                } else {
                    error!(hub = %cfg.agent.hub, error = %e, retry_in = ?max,
                           "replication stopped on a definite error; retrying later");
                    backoff = max;
                }
            }
        }
        if started.elapsed() > Duration::from_secs(10) {
            backoff = Duration::from_millis(100);
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(max);
    }
    info!("agent stopped");
    let _ = tokio::time::timeout(Duration::from_secs(2), poller).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), watcher).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), http_task).await;
    Ok(())
}

/// Warns while the hub is unreachable and this snap's own transactions have waited for half
/// of the snap's `binlog_expire_logs_seconds`: once MariaDB expires the binlog holding them,
/// they can never reach the master (the agent reports that when it reconnects, too late).
/// Checked every 10 s (every quarter of the expiry when that is shorter); warned again hourly.
async fn watch_unshipped(shared: Arc<AgentShared>, shutdown: CancellationToken) {
    let mut conn: Option<mysql_async::Conn> = None;
    let mut waiting_since: Option<Instant> = None;
    let mut warned: Option<Instant> = None;
    let mut every = Duration::from_secs(10);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(every) => {}
        }
        let connected = shared.status.lock().unwrap().connected;
        let pending = shared.pending_own();
        if connected || pending == 0 {
            waiting_since = None;
            continue;
        }
        let since = *waiting_since.get_or_insert_with(Instant::now);
        if conn.is_none() {
            conn = mysql_async::Conn::new(shared.cfg.mariadb.opts()).await.ok();
        }
        let Some(c) = conn.as_mut() else { continue };
        let expire: Option<u64> = match c
            .query_first("SELECT @@global.binlog_expire_logs_seconds")
            .await
        {
            Ok(v) => v,
            Err(_) => {
                conn = None;
                continue;
            }
        };
        let Some(expire) = expire.filter(|e| *e > 0).map(Duration::from_secs) else {
            continue;
        };
        every = (expire / 4).clamp(Duration::from_secs(1), Duration::from_secs(10));
        let waited = since.elapsed();
        if waited >= expire / 2 && warned.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
            warned = Some(Instant::now());
            warn!(
                pending,
                waited_s = waited.as_secs(),
                binlog_expire_logs_seconds = expire.as_secs(),
                "this snap's own transactions have waited for the hub for {} s; its binlog \
                 expires after {} s and, once purged, they can never reach the master: bring the \
                 hub back, or stop the expiry meanwhile (SET GLOBAL binlog_expire_logs_seconds \
                 = 0, and in my.cnf)",
                waited.as_secs(),
                expire.as_secs()
            );
        }
    }
    if let Some(c) = conn {
        c.disconnect().await.ok();
    }
}

/// Polls the local position every 100 ms (status, pending count, capture lag).
async fn poll_local(
    cfg: AgentConfig,
    mut conn: mysql_async::Conn,
    tx: watch::Sender<LocalView>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        let at = Instant::now();
        let read = async {
            let pos = crate::apply::gtid_binlog_pos(&mut conn).await?;
            let file = crate::binlog::files::current_file(&mut conn).await?;
            Ok::<_, crate::error::Error>(LocalView { at, pos, file })
        };
        match read.await {
            Ok(view) => {
                tx.send_replace(view);
            }
            Err(_) => {
                if let Ok(c) = mysql_async::Conn::new(cfg.mariadb.opts()).await {
                    conn = c;
                } else {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
    conn.disconnect().await.ok();
}
