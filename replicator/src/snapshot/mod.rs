//! Initial sync of a new snap: a consistent snapshot of the master, streamed over the agent's
//! connection, loaded without binlogging, then streaming from exactly the snapshot's position.
//!
//! # Consistency without locks
//! The hub opens `START TRANSACTION WITH CONSISTENT SNAPSHOT` on the master and turns the
//! snapshot's binlog file and offset into a GTID position with `BINLOG_GTID_POS` (measured:
//! consistent, and writers are never blocked). Schema and rows are read inside that transaction,
//! so they are exactly the state at that position; the agent then subscribes from it: no gap, no
//! duplicate.
//!
//! # Order
//! Databases and tables first (foreign key checks off while loading), rows by table in chunks,
//! then views and stored routines. Triggers stay on the master: they run there, and their
//! effects replicate as rows. Rows travel as the binary protocol gave them (typed values, strings as the stored bytes
//! with `SET NAMES binary`), so the load is exact.

pub mod load;
pub mod source;

use mysql_async::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::gtid::GtidPos;

/// A new connection to the master with a consistent snapshot open on it (rows read as the
/// binary protocol gives them, times in UTC), for `what` (in errors).
pub async fn open_snapshot(opts: &mysql_async::Opts, what: &str) -> Result<mysql_async::Conn> {
    let mut c = mysql_async::Conn::new(opts.clone())
        .await
        .map_err(Error::db(format!("connecting to the master for {what}")))?;
    c.query_drop(
        "SET NAMES binary; SET SESSION time_zone = '+00:00', \
         tx_isolation = 'REPEATABLE-READ'; START TRANSACTION WITH CONSISTENT SNAPSHOT",
    )
    .await
    .map_err(Error::db(format!(
        "opening a consistent snapshot for {what}"
    )))?;
    Ok(c)
}

/// The GTID position of the consistent snapshot open on `conn` (after `START TRANSACTION WITH
/// CONSISTENT SNAPSHOT`): `BINLOG_GTID_POS` of the session's `binlog_snapshot_file/position`.
pub async fn snapshot_position(conn: &mut mysql_async::Conn) -> Result<GtidPos> {
    let status: Vec<(String, String)> = conn
        .query("SHOW SESSION STATUS LIKE 'binlog_snapshot_%'")
        .await
        .map_err(Error::db("reading the snapshot's binlog position"))?;
    let get = |name: &str| {
        status
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (file, offset) = (get("Binlog_snapshot_file"), get("Binlog_snapshot_position"));
    let pos: Option<Option<String>> = conn
        .exec_first("SELECT BINLOG_GTID_POS(?, ?)", (file, offset))
        .await
        .map_err(Error::db(
            "turning the snapshot position into a GTID position",
        ))?;
    pos.flatten()
        .unwrap_or_default()
        .parse()
        .map_err(|e: crate::gtid::ParseGtidError| Error::Decode {
            position: "snapshot".into(),
            what: "BINLOG_GTID_POS".into(),
            problem: e.to_string(),
        })
}

/// A statement of the snapshot's schema, run with `schema` as the default database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaStatement {
    #[serde(rename = "s")]
    pub schema: String,
    #[serde(rename = "q")]
    pub sql: String,
    /// `sql_mode` the object was created with (routines, triggers), if it matters.
    #[serde(rename = "m", default)]
    pub sql_mode: Option<String>,
}

/// The start of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotBegin {
    /// The master's position the snapshot reflects.
    #[serde(rename = "p")]
    pub pos: GtidPos,
    #[serde(rename = "d")]
    pub databases: Vec<String>,
    /// Rows expected (InnoDB's estimate).
    #[serde(rename = "r")]
    pub estimated_rows: u64,
    #[serde(rename = "t")]
    pub tables: u64,
    /// Tables and databases, created before the rows.
    #[serde(rename = "s")]
    pub schema: Vec<SchemaStatement>,
}

/// The end of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotEnd {
    #[serde(rename = "p")]
    pub pos: GtidPos,
    #[serde(rename = "r")]
    pub rows: u64,
    /// Views and routines, created after the rows.
    #[serde(rename = "s")]
    pub objects: Vec<SchemaStatement>,
}
