//! The hub: runs on the master, next to its MariaDB.
//!
//! For every connected agent it runs one session ([`session`]): **ingest** applies the snap's
//! transactions to the master with their GTIDs and conflict detection and acknowledges each after
//! commit; **fan-out** ([`fanout`]) streams the master's binlog to the snap from the snap's own
//! position, with heartbeats for lag. The master's binlog is the single total order; the hub keeps
//! no state of its own that MariaDB cannot give back after a crash (positions are GTIDs read from
//! the servers, the conflict log is a table on the master).
//!
//! A poller reads the master's position every 100 ms (lag and status) and the conflict log
//! counts every 2 s; `/status`, `/metrics` and `/health` are served over HTTP ([`status`]).
//!
//! # Shutdown
//! On cancellation the hub stops accepting, every session rolls back a transaction it has not
//! committed (nothing is half-applied), and `run` returns once all tasks ended or the deadline
//! passed.

pub mod fanout;
pub mod repair;
pub mod session;
pub mod status;
pub mod verify;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use crate::check;
use crate::config::HubConfig;
use crate::error::Result;
use crate::gtid::GtidPos;
use crate::http::{self, Response};
use status::Registry;

/// Base of the replica server ids the hub's binlog readers register with on the master
/// (plus the snap's server id).
pub const FANOUT_REPLICA_ID_BASE: u32 = 0x5000_0000;

/// The master's position as last polled, and when.
#[derive(Debug, Clone)]
pub struct MasterView {
    pub at: Instant,
    pub pos: GtidPos,
}

/// Shared by every task of the hub.
pub struct HubCtx {
    pub cfg: HubConfig,
    pub registry: Arc<Registry>,
    pub master: watch::Receiver<MasterView>,
    /// Sessions by node name, so that a reconnecting agent replaces its stale session.
    pub sessions: Mutex<HashMap<String, CancellationToken>>,
    /// Each session's outgoing queue, for requests the hub starts (verify).
    pub senders: Mutex<HashMap<String, tokio::sync::mpsc::Sender<crate::wire::Message>>>,
    /// Verify rounds waiting for answers, by request id.
    pub verify_waiters: Mutex<HashMap<u64, tokio::sync::mpsc::Sender<verify::Answer>>>,
    /// Each fan-out's queue of repairs, by node name.
    pub repairs: Mutex<HashMap<String, tokio::sync::mpsc::Sender<repair::RepairJob>>>,
    /// Repairs waiting for the snap's report, by request id, with the queue of the fan-out
    /// they went to (when it ends, so do they).
    pub repair_waiters: Mutex<HashMap<u64, repair::Waiter>>,
    /// Cancelled when the hub shuts down (sessions tell their agents).
    pub shutdown: CancellationToken,
    /// The master's [`crate::check::SCHEMA_SETTINGS`] (read at start), for every welcome.
    pub schema_settings: Vec<(String, String)>,
    /// TLS for agents' connections, when `[hub] tls_cert` is set; replaced when the hub
    /// reloads its certificate (SIGHUP, `reload_tls_on_sighup`).
    pub tls: Option<Mutex<crate::wire::tls::TlsAcceptor>>,
}

/// Reads `[hub] tls_cert` and `tls_key` again at each SIGHUP (`systemctl reload`): new agent
/// connections get the renewed certificate, sessions already open keep theirs. Files that do
/// not load leave the certificate the hub has in place (logged at ERROR, with what is wrong).
async fn reload_tls_on_sighup(ctx: Arc<HubCtx>, shutdown: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(h) => h,
        Err(e) => {
            warn!(error = %e, "no SIGHUP handler: a renewed TLS certificate needs a restart");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            r = hup.recv() => if r.is_none() { return },
        }
        let Some(current) = &ctx.tls else {
            info!("SIGHUP received: this hub has no [hub] tls_cert, nothing to reload");
            continue;
        };
        match crate::wire::tls::acceptor(&ctx.cfg.hub) {
            Ok(Some(t)) => {
                *current.lock().unwrap() = t.acceptor;
                ctx.registry.set_tls_expiry(t.expires_at);
                let at = t.expires_at.map(status::rfc3339).unwrap_or_default();
                info!(expires_at = %at, "SIGHUP received: TLS certificate reloaded; new agent \
                      connections get it");
                if let Some(w) = t.expires_at.and_then(|at| {
                    crate::wire::tls::expiry_warning(at, std::time::SystemTime::now())
                }) {
                    warn!("{w}");
                }
            }
            Ok(None) => {}
            Err(e) => error!(error = %e, "SIGHUP received, but the TLS certificate could not be \
                                         reloaded: the hub keeps the one it has"),
        }
    }
}

/// How long shutdown waits for sessions.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

/// Runs the hub until `shutdown` is cancelled. Servers are passed in so that tests can bind
/// port 0.
pub async fn run(
    cfg: HubConfig,
    listener: TcpListener,
    http_listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<()> {
    let address = cfg.mariadb.address();
    let tls = crate::wire::tls::acceptor(&cfg.hub)?;
    let (mut conn, facts, pos) =
        check::connect_checked(&cfg.mariadb, &cfg.node, "master database").await?;
    info!(node = %cfg.node.name, master = %address, version = %facts.version, position = %pos,
          tls = tls.is_some(),
          listen = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
          http = %http_listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
          "hub started");

    let registry = Arc::new(Registry::new(
        &cfg.node.name,
        cfg.node.server_id,
        cfg.node.domain_id,
        address.clone(),
    ));
    registry.set_master(pos.clone(), true);
    // Snaps served before: shown (disconnected) and their binlogs kept until they are back.
    let known = load_known_snaps(&mut conn).await?;
    for r in known {
        let name = r.name.clone();
        if let Err(e) = registry.add_known_snap(r) {
            warn!(node = %name, error = %e, "ignoring a bad row of starsync.snaps");
        }
    }
    registry.update(&cfg.node.name, |n| {
        n.max_allowed_packet = Some(facts.max_allowed_packet)
    });
    let tls_expires = tls.as_ref().and_then(|t| t.expires_at);
    registry.set_tls_expiry(tls_expires);
    if let Some(at) = tls_expires {
        // Near its end, the master's poll WARNs too (at its first tick, then daily).
        info!(expires_at = %status::rfc3339(at), "TLS certificate loaded");
    }
    let schema_settings = check::schema_settings(&mut conn).await?;
    let (master_tx, master_rx) = watch::channel(MasterView {
        at: Instant::now(),
        pos,
    });
    let ctx = Arc::new(HubCtx {
        cfg,
        registry: registry.clone(),
        master: master_rx,
        sessions: Mutex::new(HashMap::new()),
        senders: Mutex::new(HashMap::new()),
        verify_waiters: Mutex::new(HashMap::new()),
        repairs: Mutex::new(HashMap::new()),
        repair_waiters: Mutex::new(HashMap::new()),
        shutdown: shutdown.clone(),
        schema_settings,
        tls: tls.map(|t| Mutex::new(t.acceptor)),
    });
    let tracker = TaskTracker::new();

    tracker.spawn(poll_master(ctx.clone(), conn, master_tx, shutdown.clone()));
    tracker.spawn(reload_tls_on_sighup(ctx.clone(), shutdown.clone()));
    if ctx.cfg.hub.verify_every_secs > 0 {
        let every = Duration::from_secs(ctx.cfg.hub.verify_every_secs);
        tracker.spawn(verify::scheduled(ctx.clone(), every, shutdown.clone()));
    }
    let hctx = ctx.clone();
    let handler: http::Handler = Arc::new(move |req: http::Request| {
        let ctx = hctx.clone();
        Box::pin(async move {
            let reg = &ctx.registry;
            // With a token set, every path but `/health` (for load balancers) asks for it.
            let token = ctx.cfg.hub.http_token.expose();
            if !token.is_empty() && req.path != "/health" && !req.has_token(token) {
                if req.bearer.is_some() {
                    warn!(path = %req.path, "HTTP request refused: its token is not the hub's");
                    return Response::text(
                        401,
                        "the token sent does not match this hub's [hub] http_token\n",
                    );
                }
                return Response::text(
                    401,
                    "this hub's HTTP endpoint asks for its token ([hub] http_token): send \
                     `Authorization: Bearer <token>`; master-admin takes it from \
                     MASTER_ADMIN_HUB_TOKEN or --hub-token-file, the console from \
                     STARSYNC_HUB_TOKEN\n",
                );
            }
            match (req.path.as_str(), req.reads()) {
                ("/repair", true) => Response::text(
                    405,
                    "a repair changes a snap's table: POST /repair?table=DB.TABLE&node=SNAP \
                     (&dry_run=1 to only count), or `master-admin repair`\n",
                ),
                ("/repair", false) => serve_repair(&ctx, &req).await,
                (_, false) => Response::text(405, "only /repair takes POST\n"),
                ("/status", _) => {
                    Response::json(serde_json::to_string_pretty(&reg.snapshot()).unwrap())
                }
                ("/metrics", _) => Response {
                    status: 200,
                    content_type: "text/plain; version=0.0.4",
                    body: status::metrics(&reg.snapshot()),
                },
                ("/health", _) if reg.master_ok() => Response::text(200, "ok\n"),
                ("/health", _) => Response::text(503, "the master database does not answer\n"),
                ("/verify", _) => match verify::verify(&ctx, req.param("table").as_deref()).await {
                    Ok(doc) => Response::json(serde_json::to_string_pretty(&doc).unwrap()),
                    Err(crate::Error::Request(m)) => Response::text(409, format!("{m}\n")),
                    Err(e) => Response::text(503, format!("verify failed: {e}\n")),
                },
                _ => Response::text(
                    404,
                    "not found: try /status, /metrics, /health, /verify or POST /repair\n",
                ),
            }
        })
    });
    tracker.spawn(http::serve(http_listener, handler, shutdown.clone()));

    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                let ctx = ctx.clone();
                let token = shutdown.child_token();
                tracker.spawn(async move { session::run(ctx, stream, peer, token).await });
            }
            Err(e) => {
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    info!("hub shutting down");
    tracker.close();
    if tokio::time::timeout(SHUTDOWN_DEADLINE, tracker.wait())
        .await
        .is_err()
    {
        warn!(deadline = ?SHUTDOWN_DEADLINE, "some sessions did not end before the deadline");
    }
    info!("hub stopped");
    Ok(())
}

/// `POST /repair`: the snap's report as JSON, or what was wrong with the request.
async fn serve_repair(ctx: &Arc<HubCtx>, req: &http::Request) -> Response {
    let (Some(table), Some(node)) = (req.param("table"), req.param("node")) else {
        return Response::text(
            400,
            "a repair needs ?table=DB.TABLE&node=SNAP (and &dry_run=1 to only count)\n",
        );
    };
    let dry_run = req
        .param("dry_run")
        .is_some_and(|v| !matches!(v.as_str(), "0" | "false" | "no"));
    match repair::repair(ctx, &table, &node, dry_run).await {
        Ok(report) => Response::json(serde_json::to_string_pretty(&report).unwrap()),
        Err(crate::Error::Request(m)) => Response::text(409, format!("{m}\n")),
        Err(e) => Response::text(500, format!("repair failed: {e}\n")),
    }
}

/// The rows of `starsync.snaps`.
async fn load_known_snaps(conn: &mut mysql_async::Conn) -> Result<Vec<status::SnapRecord>> {
    let rows: Vec<(String, u32, u32, String, String, Option<f64>)> = conn
        .query(
            "SELECT name, server_id, domain_id, gtid_pos, needs_from, \
             CAST(UNIX_TIMESTAMP(last_seen) AS DOUBLE) FROM starsync.snaps",
        )
        .await
        .map_err(crate::error::Error::db("reading starsync.snaps"))?;
    Ok(rows
        .into_iter()
        .map(
            |(name, server_id, domain_id, gtid_pos, needs_from, seen)| status::SnapRecord {
                name,
                server_id,
                domain_id,
                gtid_pos,
                needs_from,
                connected: false,
                last_seen: seen
                    .map(|s| std::time::UNIX_EPOCH + Duration::from_secs_f64(s.max(0.0))),
            },
        )
        .collect())
}

/// Writes to `starsync.snaps` (not binlogged) every snap whose position changed since the
/// last write, and refreshes `last_seen` of the connected ones.
async fn persist_snaps(
    ctx: &HubCtx,
    conn: &mut mysql_async::Conn,
    written: &mut HashMap<String, status::SnapRecord>,
) -> std::result::Result<(), mysql_async::Error> {
    // A disconnected snap whose row the DBA deleted (`master-admin forget-snap`) is forgotten:
    // it no longer shows in `/status` nor holds back `purge-binlogs`. Back one day, it is new.
    let present: std::collections::HashSet<String> = conn
        .query::<String, _>("SELECT name FROM starsync.snaps")
        .await?
        .into_iter()
        .collect();
    let deleted: Vec<String> = written
        .keys()
        .filter(|n| !present.contains(*n))
        .cloned()
        .collect();
    for name in deleted {
        if ctx.registry.forget_snap(&name) {
            written.remove(&name);
            info!(snap = %name, "snap forgotten: its row in starsync.snaps was deleted");
        }
    }
    let rows: Vec<status::SnapRecord> = ctx
        .registry
        .snap_records()
        .into_iter()
        .filter(|r| r.connected || written.get(&r.name) != Some(r))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    // A row already written is only updated: one the DBA deletes meanwhile stays deleted (and
    // its snap is forgotten at the next tick) unless the snap is connected.
    let (upsert, update): (Vec<_>, Vec<_>) = rows
        .iter()
        .partition(|r| r.connected || !written.contains_key(&r.name));
    conn.query_drop("SET SESSION sql_log_bin = 0").await?;
    if !upsert.is_empty() {
        conn.exec_batch(
            "INSERT INTO starsync.snaps (name, server_id, domain_id, gtid_pos, needs_from, \
             last_seen) VALUES (?, ?, ?, ?, ?, NOW(6)) ON DUPLICATE KEY UPDATE \
             server_id = VALUES(server_id), domain_id = VALUES(domain_id), \
             gtid_pos = VALUES(gtid_pos), needs_from = VALUES(needs_from), \
             last_seen = IF(?, VALUES(last_seen), last_seen)",
            upsert.iter().map(|r| {
                (
                    r.name.as_str(),
                    r.server_id,
                    r.domain_id,
                    r.gtid_pos.as_str(),
                    r.needs_from.as_str(),
                    r.connected,
                )
            }),
        )
        .await?;
    }
    if !update.is_empty() {
        conn.exec_batch(
            "UPDATE starsync.snaps SET server_id = ?, domain_id = ?, gtid_pos = ?, \
             needs_from = ? WHERE name = ?",
            update.iter().map(|r| {
                (
                    r.server_id,
                    r.domain_id,
                    r.gtid_pos.as_str(),
                    r.needs_from.as_str(),
                    r.name.as_str(),
                )
            }),
        )
        .await?;
    }
    for r in rows {
        written.insert(r.name.clone(), r);
    }
    Ok(())
}

/// Ticks of [`poll_master`] (20 ms) between two purges of old records: 10 minutes.
const PURGE_TICKS: u64 = 30_000;

/// Deletes, unlogged and in batches, conflicts older than `keep_days` (none when 0) and records
/// of refused rows older than an hour: the fan-out reads those from the binlog, where they
/// stay, so the table only shows the recent ones. Returns how many of each went.
async fn purge_logs(conn: &mut mysql_async::Conn, keep_days: u32) -> Result<(u64, u64)> {
    async fn batches(conn: &mut mysql_async::Conn, sql: &str) -> Result<u64> {
        let mut n = 0;
        loop {
            conn.query_drop(sql)
                .await
                .map_err(crate::error::Error::db("deleting old records"))?;
            n += conn.affected_rows();
            if conn.affected_rows() < 10_000 {
                return Ok(n);
            }
        }
    }
    conn.query_drop("SET SESSION sql_log_bin=0")
        .await
        .map_err(crate::error::Error::db("setting sql_log_bin"))?;
    let conflicts = if keep_days > 0 {
        batches(
            conn,
            &format!(
                "DELETE FROM starsync.conflicts \
                 WHERE detected_at < NOW(6) - INTERVAL {keep_days} DAY LIMIT 10000"
            ),
        )
        .await?
    } else {
        0
    };
    let refused = batches(
        conn,
        "DELETE FROM starsync.refused WHERE made_at < NOW(6) - INTERVAL 1 HOUR LIMIT 10000",
    )
    .await?;
    Ok((conflicts, refused))
}

/// Polls the master: position every 20 ms (the lag heartbeats' time base), conflict counts
/// and the snaps' positions (`starsync.snaps`) every 2 s, rates every second.
async fn poll_master(
    ctx: Arc<HubCtx>,
    mut conn: mysql_async::Conn,
    tx: watch::Sender<MasterView>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut n: u64 = 0;
    let mut last_pos = GtidPos::new();
    let mut healthy = true;
    let mut written = HashMap::new();
    let mut persist_failed = false;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        n += 1;
        let at = Instant::now();
        match crate::apply::gtid_binlog_pos(&mut conn).await {
            Ok(pos) => {
                if !healthy {
                    info!("the master database answers again");
                    healthy = true;
                }
                let delta = last_pos.behind(&pos);
                if !last_pos.is_empty() && delta > 0 {
                    ctx.registry.update(&ctx.cfg.node.name, |m| {
                        m.counters
                            .applied_txns
                            .fetch_add(delta, std::sync::atomic::Ordering::Relaxed)
                    });
                }
                last_pos = pos.clone();
                ctx.registry.set_master(pos.clone(), true);
                tx.send_replace(MasterView { at, pos });
            }
            Err(e) => {
                if healthy {
                    error!(error = %e, "the master database does not answer; retrying");
                    healthy = false;
                }
                ctx.registry.set_master(GtidPos::new(), false);
                match mysql_async::Conn::new(ctx.cfg.mariadb.opts()).await {
                    Ok(c) => conn = c,
                    Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
                }
                continue;
            }
        }
        if n % 50 == 0 {
            ctx.registry.sample_rates();
        }
        if n % 100 == 50 {
            match persist_snaps(&ctx, &mut conn, &mut written).await {
                Ok(()) => persist_failed = false,
                Err(e) if !persist_failed => {
                    warn!(error = %e, "cannot record the snaps' positions in starsync.snaps; \
                          master-admin purge-binlogs relies on them");
                    persist_failed = true;
                }
                Err(_) => {}
            }
        }
        // The certificate's expiry, WARNed at the start and daily once it is near.
        if n % (PURGE_TICKS * 144) == 1 {
            if let Some(w) = ctx
                .registry
                .tls_expiry()
                .and_then(|at| crate::wire::tls::expiry_warning(at, std::time::SystemTime::now()))
            {
                warn!("{w}");
            }
        }
        if n % PURGE_TICKS == 250 {
            match purge_logs(&mut conn, ctx.cfg.hub.conflict_log_days).await {
                Ok((0, 0)) => {}
                Ok((conflicts, refused)) => info!(
                    conflicts,
                    refused,
                    keep_days = ctx.cfg.hub.conflict_log_days,
                    "deleted old records of the conflict log (starsync.conflicts) and of refused \
                     rows (starsync.refused)"
                ),
                Err(e) => warn!(error = %e, "cannot delete old records of the conflict log"),
            }
        }
        if n % 100 == 1 {
            let counts: std::result::Result<Vec<(String, u64)>, _> = conn
                .query("SELECT origin_node, COUNT(*) FROM starsync.conflicts GROUP BY origin_node")
                .await;
            if let Ok(rows) = counts {
                ctx.registry
                    .set_conflicts(&rows.into_iter().collect::<BTreeMap<_, _>>());
            }
        }
    }
    // The positions as they are at shutdown.
    if let Err(e) = persist_snaps(&ctx, &mut conn, &mut written).await {
        warn!(error = %e, "cannot record the snaps' positions in starsync.snaps at shutdown");
    }
    conn.disconnect().await.ok();
}
