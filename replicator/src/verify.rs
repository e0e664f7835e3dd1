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
    let mut sums = Vec::with_capacity(2 * tables.len());
    for t in tables {
        let r: std::result::Result<Option<(String, Option<i64>)>, _> = conn
            .query_first(format!("CHECKSUM TABLE {t} EXTENDED"))
            .await;
        match r {
            Ok(row) => sums.push((t.clone(), row.and_then(|r| r.1))),
            Err(mysql_async::Error::Server(_)) => sums.push((t.clone(), None)),
            Err(e) => return Err(Error::db(format!("checksumming {t}"))(e)),
        }
        let r: std::result::Result<Option<(String, String)>, _> =
            conn.query_first(format!("SHOW CREATE TABLE {t}")).await;
        match r {
            Ok(row) => sums.push((
                definition_key(t),
                row.map(|(_, ddl)| definition_digest(&ddl)),
            )),
            Err(mysql_async::Error::Server(_)) => sums.push((definition_key(t), None)),
            Err(e) => return Err(Error::db(format!("reading the definition of {t}"))(e)),
        }
    }
    conn.query_drop("COMMIT")
        .await
        .map_err(Error::db("closing the snapshot"))?;
    Ok((pos, sums))
}

/// What follows a table's name in the entry that compares its definition.
pub const DEFINITION_SUFFIX: &str = " (definition)";

/// The entry under which a table's definition is compared (beside its checksum).
pub fn definition_key(table: &str) -> String {
    format!("{table}{DEFINITION_SUFFIX}")
}

/// A digest of a table's definition as `SHOW CREATE TABLE` prints it, less what differs by
/// node by design (`AUTO_INCREMENT=`: each node has its own offset). Two nodes whose checksums
/// agree can still differ here: an index or a column default missing on one of them.
pub fn definition_digest(ddl: &str) -> i64 {
    let mut norm = String::with_capacity(ddl.len());
    for word in ddl.split(' ') {
        if word.starts_with("AUTO_INCREMENT=") {
            continue;
        }
        if !norm.is_empty() {
            norm.push(' ');
        }
        norm.push_str(word);
    }
    twox_hash::XxHash3_64::oneshot(norm.as_bytes()) as i64
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
            let table_absent = t
                .strip_suffix(DEFINITION_SUFFIX)
                .is_some_and(|base| n.tables.get(base).copied().flatten().is_none());
            if got != *want && !table_absent {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_compare_without_auto_increment_and_missing_tables_count_once() {
        let a = "CREATE TABLE `t` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB AUTO_INCREMENT=65 DEFAULT CHARSET=utf8mb4";
        let b = a.replace("AUTO_INCREMENT=65", "AUTO_INCREMENT=130");
        assert_eq!(definition_digest(a), definition_digest(&b));
        let c = a.replace(
            "  PRIMARY KEY (`id`)",
            "  PRIMARY KEY (`id`),\n  KEY `v` (`id`)",
        );
        assert_ne!(definition_digest(a), definition_digest(&c));

        let node = |name: &str, tables: &[(&str, Option<i64>)]| NodeSums {
            name: name.into(),
            gtid_pos: String::new(),
            tables: tables.iter().map(|(t, v)| (t.to_string(), *v)).collect(),
            error: None,
        };
        let t = "`MOST`.`t`";
        let d = definition_key(t);
        let master = node("master", &[(t, Some(1)), (&d, Some(7))]);
        let same = node("snap1", &[(t, Some(1)), (&d, Some(7))]);
        let index_missing = node("snap2", &[(t, Some(1)), (&d, Some(8))]);
        let table_missing = node("snap3", &[(t, None), (&d, None)]);
        let diffs = compare(&[master, same, index_missing, table_missing]);
        let got: Vec<(&str, &str)> = diffs
            .iter()
            .map(|d| (d.node.as_str(), d.table.as_str()))
            .collect();
        assert_eq!(got, vec![("snap2", d.as_str()), ("snap3", t)]);
    }
}
