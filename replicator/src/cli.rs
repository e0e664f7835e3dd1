//! The `replicator` command line, as a library so that tests can call it.
//!
//! Exit codes: 0 success; 1 a check failed (the server is not configured as starsync needs);
//! 2 bad usage or configuration; 3 a runtime error (database unreachable, replication stopped).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::check;
use crate::config::AnyConfig;

/// Exit code: a check failed.
pub const EXIT_CHECK_FAILED: u8 = 1;
/// Exit code: bad usage or configuration.
pub const EXIT_CONFIG: u8 = 2;
/// Exit code: runtime error.
pub const EXIT_RUNTIME: u8 = 3;

#[derive(Debug, Parser)]
#[command(
    name = "replicator",
    version,
    about = "starsync: star replication for MariaDB"
)]
pub struct Cli {
    /// Log as JSON lines instead of text.
    #[arg(long, global = true)]
    pub log_json: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// Where a MariaDB server is, for the one-way tools.
#[derive(Debug, Clone, clap::Args)]
pub struct DbArgs {
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    #[arg(long, default_value_t = 3306)]
    pub port: u16,
    #[arg(long, default_value = "starsync_repl")]
    pub user: String,
    /// Unix socket (instead of host and port).
    #[arg(long)]
    pub socket: Option<PathBuf>,
    /// Password; prefer the environment variable.
    #[arg(
        long,
        env = "STARSYNC_DB_PASSWORD",
        hide_env_values = true,
        default_value = ""
    )]
    pub password: String,
}

impl DbArgs {
    pub fn config(&self) -> crate::config::MariaDbConfig {
        crate::config::MariaDbConfig {
            host: self.host.clone(),
            port: self.port,
            socket: self.socket.clone(),
            user: self.user.clone(),
            password: crate::config::Secret::new(self.password.clone()),
            connect_timeout_secs: 10,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Verify that the local MariaDB is configured as starsync needs (exit 0 only if all hold).
    Check {
        /// Hub or agent configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Run the hub (on the master): ingest from agents, fan-out to them, status over HTTP.
    Hub {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Run an agent (on a snap): capture local changes, apply the hub's stream.
    Agent {
        #[arg(long, short)]
        config: PathBuf,
        /// Reload this snap from a fresh snapshot of the master: its replicated databases are
        /// replaced. It first waits until the master holds every change this snap made.
        #[arg(long)]
        resync: bool,
        /// With --resync: do not wait for this snap's changes that can no longer reach the
        /// master (their binlog files were purged on this snap): they are discarded.
        #[arg(long, requires = "resync")]
        discard_unshipped: bool,
    },
    /// Stream a server's binlog as MessagePack frames to stdout (see `apply`).
    Capture {
        #[command(flatten)]
        db: DbArgs,
        /// Start after this GTID position (default: the beginning of the binlog).
        #[arg(long, default_value = "")]
        from: String,
        /// Only this replication domain.
        #[arg(long)]
        domain: Option<u32>,
        /// Replica server id to register with (unique among the server's readers).
        #[arg(long, default_value_t = 4_000_001)]
        replica_id: u32,
        /// Stop once caught up with the server's position at start.
        #[arg(long)]
        until_idle: bool,
        /// Rows per chunk.
        #[arg(long, default_value_t = 4096)]
        chunk_rows: usize,
    },
    /// Apply MessagePack frames from stdin to a server, preserving origin GTIDs.
    Apply {
        #[command(flatten)]
        db: DbArgs,
        /// Detect and log conflicts as the hub does.
        #[arg(long)]
        detect_conflicts: bool,
    },
}

/// A runtime of `threads` workers (`None`: one per core).
fn runtime(threads: Option<usize>) -> Result<tokio::runtime::Runtime, ExitCode> {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = threads {
        b.worker_threads(n);
    }
    b.enable_all().build().map_err(|e| {
        eprintln!("error: cannot start the async runtime: {e}");
        ExitCode::from(EXIT_RUNTIME)
    })
}

/// A service's configuration, read before its runtime starts (`limits.worker_threads` sizes
/// it).
fn config<T>(loaded: Result<T, crate::config::ConfigError>) -> Result<T, ExitCode> {
    loaded.map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(EXIT_CONFIG)
    })
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    crate::logging::init("info", cli.log_json);
    let r = match cli.command {
        Command::Hub { config: path } => {
            config(crate::config::HubConfig::load(&path)).and_then(|cfg| {
                // Half the cores: the master's MariaDB on the same machine does the heavy work.
                let half = std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1));
                let rt = runtime(cfg.limits.runtime_threads(Some(half)))?;
                Ok(rt.block_on(run_hub(cfg)))
            })
        }
        Command::Agent {
            config: path,
            resync,
            discard_unshipped,
        } => config(crate::config::AgentConfig::load(&path)).and_then(|cfg| {
            let rt = runtime(cfg.limits.runtime_threads(Some(1)))?;
            let resync = match (resync, discard_unshipped) {
                (false, _) => None,
                (true, false) => Some(crate::agent::Resync::AfterOwnChanges),
                (true, true) => Some(crate::agent::Resync::DiscardUnshipped),
            };
            Ok(rt.block_on(run_agent(cfg, resync)))
        }),
        Command::Check { config } => runtime(None).map(|rt| rt.block_on(run_check(config))),
        Command::Capture {
            db,
            from,
            domain,
            replica_id,
            until_idle,
            chunk_rows,
        } => runtime(None).map(|rt| {
            finish(rt.block_on(run_capture(
                db, from, domain, replica_id, until_idle, chunk_rows,
            )))
        }),
        Command::Apply {
            db,
            detect_conflicts,
        } => runtime(None).map(|rt| finish(rt.block_on(run_apply(db, detect_conflicts)))),
    };
    r.unwrap_or_else(|code| code)
}

/// A token cancelled by SIGTERM or SIGINT.
fn shutdown_on_signals() -> tokio_util::sync::CancellationToken {
    use tokio::signal::unix::{signal, SignalKind};
    let token = tokio_util::sync::CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received; shutting down"),
            _ = int.recv() => tracing::info!("SIGINT received; shutting down"),
        }
        t.cancel();
    });
    token
}

/// Exit code of a service error: 1 for a misconfigured server, 3 otherwise.
fn service_exit(e: crate::Error) -> ExitCode {
    eprintln!("error: {e:#}");
    match e {
        crate::Error::Misconfigured { .. } => ExitCode::from(EXIT_CHECK_FAILED),
        crate::Error::Config(_) => ExitCode::from(EXIT_CONFIG),
        _ => ExitCode::from(EXIT_RUNTIME),
    }
}

async fn bind(addr: std::net::SocketAddr, what: &str) -> Result<tokio::net::TcpListener, ExitCode> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        eprintln!("error: cannot listen on {addr} ({what}): {e}");
        ExitCode::from(EXIT_RUNTIME)
    })
}

async fn run_hub(cfg: crate::config::HubConfig) -> ExitCode {
    let listener = match bind(cfg.hub.listen, "hub.listen").await {
        Ok(l) => l,
        Err(c) => return c,
    };
    let http = match bind(cfg.hub.http_listen, "hub.http_listen").await {
        Ok(l) => l,
        Err(c) => return c,
    };
    match crate::hub::run(cfg, listener, http, shutdown_on_signals()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => service_exit(e),
    }
}

async fn run_agent(
    cfg: crate::config::AgentConfig,
    resync: Option<crate::agent::Resync>,
) -> ExitCode {
    let status = match bind(cfg.agent.status_listen, "agent.status_listen").await {
        Ok(l) => l,
        Err(c) => return c,
    };
    match crate::agent::run(cfg, status, resync, shutdown_on_signals()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => service_exit(e),
    }
}

fn finish(r: anyhow::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

const PIPE_MAX_FRAME: usize = 256 << 20;

async fn run_capture(
    db: DbArgs,
    from: String,
    domain: Option<u32>,
    replica_id: u32,
    until_idle: bool,
    chunk_rows: usize,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let cfg = db.config();
    let start: crate::gtid::GtidPos = from.parse()?;
    let until = if until_idle {
        let mut c = mysql_async::Conn::new(cfg.opts())
            .await
            .with_context(|| format!("connecting to {}", cfg.address()))?;
        let pos = crate::apply::gtid_binlog_pos(&mut c).await?;
        c.disconnect().await.ok();
        Some(pos)
    } else {
        None
    };
    let mut reader = crate::binlog::BinlogReader::new(
        crate::binlog::ReaderOptions {
            opts: cfg.opts(),
            replica_id,
            heartbeat: std::time::Duration::from_millis(500),
            reconnect_max: std::time::Duration::from_secs(5),
            label: cfg.address(),
            assemble: crate::binlog::AssembleOptions {
                only_domain: domain,
                chunk_rows,
                ..Default::default()
            },
        },
        start,
    );
    let out = tokio::io::stdout();
    let p = crate::pipe::capture_to(&mut reader, out, until, PIPE_MAX_FRAME).await?;
    tracing::info!(txns = p.txns, rows = p.rows, position = %reader.position(), "capture done");
    Ok(())
}

async fn run_apply(db: DbArgs, detect_conflicts: bool) -> anyhow::Result<()> {
    let cfg = db.config();
    let mut applier = crate::apply::Applier::connect(&cfg.opts(), &cfg.address()).await?;
    let mode = crate::apply::TxnMode {
        preserve_gtid: true,
        detect_conflicts,
        origin: "stdin".into(),
        ..Default::default()
    };
    let p =
        crate::pipe::apply_from(&mut applier, tokio::io::stdin(), &mode, PIPE_MAX_FRAME).await?;
    tracing::info!(txns = p.txns, rows = p.rows, position = %applier.position(), "apply done");
    Ok(())
}

async fn run_check(path: PathBuf) -> ExitCode {
    let config = match AnyConfig::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    // The TLS files are read as the service reads them at its start: whether they load, and
    // when the hub's certificate ends (an agent's side: None).
    let tls = match &config {
        AnyConfig::Hub(c) => crate::wire::tls::acceptor(&c.hub).map(|t| t.map(|t| t.expires_at)),
        AnyConfig::Agent(c) => crate::wire::tls::connector(&c.agent).map(|t| t.map(|_| None)),
    };
    match tls {
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
        Ok(Some(expires)) => {
            println!("TLS: the certificate files load");
            if let Some(at) = expires {
                match crate::wire::tls::expiry_warning(at, std::time::SystemTime::now()) {
                    Some(w) => println!("TLS: {w}"),
                    None => println!(
                        "TLS: the hub's certificate is valid until {}",
                        &crate::hub::status::rfc3339(at)[..10]
                    ),
                }
            }
        }
        Ok(None) => {}
    }
    let db = config.mariadb();
    let mut conn = match mysql_async::Conn::new(db.opts()).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "error: cannot connect to MariaDB at {} as {}: {e}\n  \
                 check mariadb.host/port/socket/user in {} and the password \
                 (mariadb.password or {})",
                db.address(),
                db.user,
                path.display(),
                crate::config::DB_PASSWORD_ENV
            );
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    let result = check::check_server(&mut conn, config.node()).await;
    let _ = conn.disconnect().await;
    match result {
        Ok((facts, findings)) if findings.is_empty() => {
            println!(
                "OK: {} at {} (server_id {}, gtid_domain_id {}, account {}) is configured for \
                 starsync; gtid_binlog_pos = {:?}",
                facts.version,
                db.address(),
                facts.server_id,
                facts.domain_id,
                facts.user,
                facts.gtid_binlog_pos
            );
            ExitCode::SUCCESS
        }
        Ok((facts, findings)) => {
            println!(
                "FAILED: {} at {} is not configured for starsync ({} problem{}):",
                facts.version,
                db.address(),
                findings.len(),
                if findings.len() == 1 { "" } else { "s" }
            );
            println!("{}", check::render(&findings));
            ExitCode::from(EXIT_CHECK_FAILED)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}
