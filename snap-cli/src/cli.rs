//! The `snap-cli` command line, as a library so that tests can call it.
//!
//! Exit codes: 0 the user chose Exit; 1 the terminal cannot be used (or the user left at the
//! password prompt); 2 bad configuration, or the login was refused; 3 the database cannot be
//! reached.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::config::{Layer, Settings, CONFIG_ENV};
use crate::error::Error;

/// Exit code: the terminal cannot be used, or the user cancelled the login.
pub const EXIT_TERMINAL: u8 = 1;
/// Exit code: bad configuration or refused login.
pub const EXIT_CONFIG: u8 = 2;
/// Exit code: the database cannot be reached.
pub const EXIT_UNREACHABLE: u8 = 3;

/// Flags. Each also has an environment variable (`SNAP_CLI_<NAME>`), and a key in the config
/// file; a flag wins over the environment, which wins over the file.
#[derive(Debug, Parser)]
#[command(
    name = "snap-cli",
    version,
    about = "starsync snap-cli: insert, update, delete and browse rows of the local MariaDB; \
             the replicator ships your changes",
    after_help = "Environment: SNAP_CLI_HOST, SNAP_CLI_PORT, SNAP_CLI_USER, SNAP_CLI_PASSWORD, \
                  SNAP_CLI_SOCKET, SNAP_CLI_DATABASE, SNAP_CLI_AGENT_STATUS, SNAP_CLI_PAGE_SIZE, \
                  SNAP_CLI_CONFIG.\nThe password is asked for when none is set."
)]
pub struct Cli {
    /// Config file (TOML; see config/snap-cli.toml).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// MariaDB host [default: 127.0.0.1].
    #[arg(long, short = 'H')]
    pub host: Option<String>,
    /// MariaDB TCP port [default: 3306].
    #[arg(long, short = 'P')]
    pub port: Option<u16>,
    /// Account [default: snap_user].
    #[arg(long, short = 'u')]
    pub user: Option<String>,
    /// Unix socket of the local server (instead of host and port).
    #[arg(long, short = 'S')]
    pub socket: Option<PathBuf>,
    /// Database [default: MOST].
    #[arg(long, short = 'D')]
    pub database: Option<String>,
    /// host:port of the replicator agent's status endpoint [default: 127.0.0.1:4581].
    #[arg(long, value_name = "HOST:PORT")]
    pub agent_status: Option<String>,
    /// Rows per page in SELECT ALL and SEARCH [default: what fits the terminal].
    #[arg(long)]
    pub page_size: Option<usize>,
}

impl Cli {
    fn layer(&self) -> Layer {
        Layer {
            host: self.host.clone(),
            port: self.port,
            user: self.user.clone(),
            password: None,
            socket: self.socket.clone(),
            database: self.database.clone(),
            agent_status: self.agent_status.clone(),
            page_size: self.page_size,
        }
    }
}

/// Resolves the settings from the flags, the process environment and the config file.
pub fn settings(cli: &Cli) -> Result<Settings, Error> {
    let env = Layer::from_env(|k| std::env::var(k).ok())?;
    let path = cli.config.clone().or_else(|| {
        std::env::var_os(CONFIG_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    let file = match path {
        Some(p) => Layer::from_file(&p)?,
        None => Layer::default(),
    };
    let s = Settings::resolve(cli.layer(), env, file);
    s.validate()?;
    Ok(s)
}

/// Runs the menu and maps the outcome to an exit code.
pub fn run(cli: Cli) -> ExitCode {
    let settings = match settings(&cli) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("snap-cli: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("snap-cli: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_TERMINAL);
        }
    };
    let where_ = settings.describe();
    let result = crate::ui::login(rt, settings).and_then(|app| app.run());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Error::Db(e)) if e.is_login() => {
            eprintln!("snap-cli: {}", e.plain());
            ExitCode::from(EXIT_CONFIG)
        }
        Err(Error::Db(e)) => {
            eprintln!(
                "snap-cli: cannot use the database as {where_}: {}",
                e.plain()
            );
            ExitCode::from(EXIT_UNREACHABLE)
        }
        Err(Error::Config(e)) => {
            eprintln!("snap-cli: {e}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(Error::Cancelled) => {
            eprintln!("snap-cli: cancelled");
            ExitCode::from(EXIT_TERMINAL)
        }
        Err(Error::Terminal(e)) => {
            eprintln!("snap-cli: needs an interactive terminal ({e})");
            ExitCode::from(EXIT_TERMINAL)
        }
    }
}
