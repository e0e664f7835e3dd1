//! The real `master-admin` binary against real star clusters (MariaDB servers, hub and agents):
//! status under load and after an agent dies, `--max-lag`, `--watch`; init and schema changes
//! that replicate, refused for system schemas and snaps; the conflict log after concurrent
//! updates; export and import into a fresh server; an unreachable hub; verify; repair.
//!
//! One test binary with a module per command, so the tests run in parallel. Build the binaries
//! first (`cargo build --workspace --bins`): the harness runs the real `replicator`.

mod binlogs;
mod common;
mod conflicts;
mod export;
mod hub;
mod repair;
mod schema;
mod status;
mod verify;
