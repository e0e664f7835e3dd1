//! # starsync replicator
//!
//! Multi-master ("star") replication for MariaDB. Every node runs MariaDB with row-based binlogs
//! and strict GTIDs; the master runs the **hub**, every snap runs an **agent**. Changes are read
//! from the binlog over the replication protocol, carried as MessagePack and applied with their
//! origin's GTID, so that every node's `@@gtid_binlog_pos` says exactly what it holds.
//!
//! Layers, from the bottom: [`gtid`] (positions as types), [`config`], [`check`] (is the server
//! configured as the design needs), then the capture, model, apply, wire, hub and agent modules.

pub mod agent;
pub mod apply;
pub mod binlog;
pub mod check;
pub mod cli;
pub mod config;
pub mod ddl;
pub mod echo_skip;
pub mod error;
pub mod gtid;
pub mod http;
pub mod hub;
pub mod logging;
pub mod model;
pub mod pipe;
pub mod repair;
pub mod snapshot;
pub mod verify;
pub mod wire;

pub use error::{Error, Result};
