//! `master-admin`: the DBA's command line. Thin: parses flags and calls [`master_admin::cli::run`].
//!
//! Exit codes: 0 OK; 1 a check found a problem (a node disconnected or over `--max-lag`, tables
//! differ); 2 usage or configuration error; 3 hub unreachable; 4 database error; 5 refused (not
//! the master, a system schema, not confirmed); 6 export failed. Clap's own usage errors exit 2.

use std::process::ExitCode;

use clap::Parser;
use master_admin::cli::{run, Cli};

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let code = e.exit_code();
            eprintln!("master-admin: {:#}", anyhow::Error::from(e));
            ExitCode::from(code)
        }
    }
}
