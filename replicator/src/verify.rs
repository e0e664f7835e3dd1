//! Checksums of replicated tables at a known GTID position, to prove (or disprove) convergence.
//!
//! Each node opens `START TRANSACTION WITH CONSISTENT SNAPSHOT`, reads the GTID position of that
//! snapshot (`BINLOG_GTID_POS` of the `binlog_snapshot_file/position` status) and runs
//! `CHECKSUM TABLE` inside it (InnoDB reads from the snapshot: measured, a concurrent update does
//! not change the checksum taken in an older snapshot). Two nodes are comparable when their
//! snapshot positions are equal; the hub asks every node at once and retries until they are.

use mysql_async::prelude::*;
use serde::Serialize;

use crate::apply::sql::qualified;
use crate::config::ReplicateConfig;
use crate::error::{Error, Result};
use crate::gtid::GtidPos;

/// One node's answer: its snapshot position and a checksum per table (`None`: no such table).
pub type Sums = Vec<(String, Option<i64>)>;

/// The replicated base tables of a server, as quoted names, sorted.
pub async fn replicated_tables(
    conn: &mut mysql_async::Conn,
    replicate: &ReplicateConfig,
) -> Result<Vec<String>> {
    let dbs: Vec<String> = conn
        .query("SHOW DATABASES")
        .await
        .map_err(Error::db("listing databases"))?;
    let mut out = Vec::new();
    for db in dbs.iter().filter(|d| replicate.replicates(d)) {
        let rows: Vec<(String, String)> = conn
            .query(format!(
                "SHOW FULL TABLES FROM {}",
                crate::apply::sql::ident(db)
            ))
            .await
            .map_err(Error::db(format!("listing the tables of {db}")))?;
        out.extend(
            rows.into_iter()
                .filter(|(_, kind)| kind == "BASE TABLE")
                .map(|(t, _)| qualified(db, &t)),
        );
    }
    out.sort();
    Ok(out)
}

/// Checksums `tables` in one consistent snapshot; returns the snapshot's GTID position.
pub async fn snapshot_checksums(
    conn: &mut mysql_async::Conn,
    tables: &[String],
) -> Result<(GtidPos, Sums)> {
    conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        .await
        .map_err(Error::db("opening a consistent snapshot"))?;
    let pos = crate::snapshot::snapshot_position(conn).await?;
    let mut sums = Vec::with_capacity(tables.len());
    for t in tables {
        let r: std::result::Result<Option<(String, Option<i64>)>, _> = conn
            .query_first(format!("CHECKSUM TABLE {t} EXTENDED"))
            .await;
        match r {
            Ok(row) => sums.push((t.clone(), row.and_then(|r| r.1))),
            Err(mysql_async::Error::Server(_)) => sums.push((t.clone(), None)),
            Err(e) => return Err(Error::db(format!("checksumming {t}"))(e)),
        }
    }
    conn.query_drop("COMMIT")
        .await
        .map_err(Error::db("closing the snapshot"))?;
    Ok((pos, sums))
}

/// A node's part of the `/verify` answer.
#[derive(Debug, Clone, Serialize)]
pub struct NodeSums {
    pub name: String,
    pub gtid_pos: String,
    pub tables: std::collections::BTreeMap<String, Option<i64>>,
    pub error: Option<String>,
}

/// A table that differs from the master on a node.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Difference {
    pub table: String,
    pub node: String,
    pub expected: Option<i64>,
    pub actual: Option<i64>,
}

/// The `/verify` answer.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyDoc {
    pub equal: bool,
    pub master_pos: String,
    /// All answering nodes were at the master's snapshot position.
    pub position_equal: bool,
    pub attempts: u32,
    pub nodes: Vec<NodeSums>,
    pub differences: Vec<Difference>,
    pub missing: Vec<String>,
}

/// Compares every node's checksums with the master's (the first entry).
pub fn compare(nodes: &[NodeSums]) -> Vec<Difference> {
    let Some(master) = nodes.first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for n in &nodes[1..] {
        if n.error.is_some() {
            continue;
        }
        for (t, want) in &master.tables {
            let got = n.tables.get(t).copied().flatten();
            if got != *want {
                out.push(Difference {
                    table: t.clone(),
                    node: n.name.clone(),
                    expected: *want,
                    actual: got,
                });
            }
        }
    }
    out
}
