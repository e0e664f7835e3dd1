//! `snap-cli`: the snap user's terminal menu. Thin: parses flags and calls [`snap_cli::cli::run`].

use clap::Parser;

fn main() -> std::process::ExitCode {
    snap_cli::cli::run(snap_cli::cli::Cli::parse())
}
