//! `replicator`: the starsync service binary. Thin: parses flags and calls [`replicator::cli::run`].

use clap::Parser;

fn main() -> std::process::ExitCode {
    replicator::cli::run(replicator::cli::Cli::parse())
}
