//! # master-admin: the DBA's command line of starsync
//!
//! starsync replicates a MariaDB **master** and its **snaps** in a star: the hub on the master
//! applies every snap's changes to the master and streams the master's binlog to every snap. The
//! DBA works on the master with this tool:
//!
//! - `status` — the hub's view of every node (connected, GTID position, lag, throughput,
//!   queue, conflicts, DDL drift, last error); `--json`, `--watch`, and an exit code for
//!   monitoring (`--max-lag MS`);
//! - `init`, `create-database`, `create-table`, `drop-table`, `drop-database` — schema changes,
//!   run on the master only so that they replicate (system schemas refused, drops confirmed);
//! - `conflicts` — the conflict log with the master's and the incoming row images;
//! - `verify` — per-table checksums on every node at one common position (the hub coordinates);
//! - `repair` — one table of one snap made the master's, in the snap's stream, nothing else
//!   touched (`--dry-run` counts what differs);
//! - `export` — a consistent `mariadb-dump` with the GTID position recorded;
//! - `purge-binlogs` — purge the master's binlog files no snap (also an offline one) needs.
//! - `forget-snap` — forget a retired snap, so `purge-binlogs` no longer keeps files for it.
//!
//! Modules, from the bottom up: [`config`] (flags > env > file > defaults), [`error`] (one enum,
//! exit codes), [`names`] (identifiers quoted for SQL), [`render`] (text tables), [`hub`] (the
//! hub's HTTP documents), [`db`] (the master connection, master check, confirmation), then one
//! module per command family and [`cli`] (flags and dispatch).
//!
//! master-admin talks to two things only: the master's MariaDB, as a DBA account, and the hub's
//! HTTP endpoint. It never talks to snaps directly; what it knows about them comes from the hub.

pub mod binlogs;
pub mod cli;
pub mod config;
pub mod conflicts;
pub mod db;
pub mod error;
pub mod export;
pub mod hub;
pub mod names;
pub mod render;
pub mod repair;
pub mod schema;
pub mod status;
pub mod verify;

pub use error::{Error, Result};
