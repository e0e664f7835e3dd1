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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Verify that the local MariaDB is configured as starsync needs (exit 0 only if all hold).
    Check {
        /// Hub or agent configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    crate::logging::init("info", cli.log_json);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    match cli.command {
        Command::Check { config } => rt.block_on(run_check(config)),
    }
}

async fn run_check(path: PathBuf) -> ExitCode {
    let config = match AnyConfig::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
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
