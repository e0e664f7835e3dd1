//! The master's rows for a snap's change that the master refused.
//!
//! When the master's schema refuses an incoming row (a foreign key: the snap deleted a parent
//! the master still has children of, or added a child of a parent the master deleted; a CHECK
//! constraint; a NOT NULL column; a value the column cannot take), the master keeps its row and
//! the change is kept in the conflict log. The snap that made it still held its own row: the
//! echo of the change carries what the master applied, which is nothing for that row, so the
//! two stayed different until a DBA stepped in.
//!
//! So the hub records, in the transaction that applies the change, the master's row at each key
//! the refused row touched, or its absence, in `starsync.refused` (a MessagePack
//! [`RowsChunk`]). The record sits in the master's binlog exactly where the change does, in hub
//! order; the fan-out turns it into rows of the echo, for the snap that made the change only (no
//! other snap had it), and the snap forces them like any echo row (without foreign key checks:
//! a refused child goes before its own refused children). `starsync` does not replicate
//! otherwise. A refused delete of a row that cascading keys refer to also records the master's
//! referring rows (`Applier::record_refused_cascade`): on the snap, its cascade took them.

use mysql_async::prelude::*;
use tracing::warn;

use super::sql::{ident, TablePlan};
use super::values::params;
use super::Applier;
use crate::error::{Error, Result};
use crate::model::{RowKind, RowsChunk, Value};

/// `starsync.refused`.
pub const DDL: &str = "CREATE TABLE IF NOT EXISTS starsync.refused (
        id BIGINT AUTO_INCREMENT PRIMARY KEY,
        made_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
        origin_gtid VARCHAR(64) NOT NULL,
        master_rows LONGBLOB NOT NULL,
        KEY (made_at)
    ) ENGINE=InnoDB";

/// Whether `schema`.`table` is `starsync.refused`.
pub fn is_refused_table(schema: &str, table: &str) -> bool {
    schema == "starsync" && table == "refused"
}

/// The chunks recorded in rows of `starsync.refused` (as the master's binlog has them).
pub fn chunks(c: &RowsChunk) -> Vec<RowsChunk> {
    let col = c
        .table
        .columns
        .iter()
        .position(|col| col.name == "master_rows")
        .unwrap_or(c.table.columns.len().saturating_sub(1));
    c.rows()
        .filter_map(|(_, after)| after)
        .filter_map(|img| match img.get(col) {
            Some(Value::Bytes(b)) => match rmp_serde::from_slice::<RowsChunk>(b) {
                Ok(chunk) => Some(chunk),
                Err(e) => {
                    warn!(error = %e, "a record of starsync.refused cannot be read; skipped");
                    None
                }
            },
            _ => None,
        })
        .collect()
}

/// The row `row` of `schema.table` (read over the binary protocol, every column) as a one-row
/// insert, its primary key the columns `key` names (in the key's order), forced without
/// foreign key checks (the master's rows sent back to a snap).
pub(super) fn protocol_row(
    schema: &str,
    table: &str,
    row: mysql_async::Row,
    key: &[&str],
) -> RowsChunk {
    let mut m = crate::snapshot::source::protocol_meta(schema, table, row.columns_ref());
    m.primary_key = key
        .iter()
        .filter_map(|k| {
            m.columns
                .iter()
                .position(|c| c.name.eq_ignore_ascii_case(k))
        })
        .collect();
    let values = row
        .unwrap()
        .into_iter()
        .map(crate::snapshot::source::from_protocol)
        .collect();
    let mut chunk = RowsChunk::new(std::sync::Arc::new(m), RowKind::Insert, values);
    chunk.no_fk_checks = true;
    chunk
}

impl Applier {
    /// Records the master's rows at the keys of a refused incoming row (`before` and `after`;
    /// the caller rolled the row back), in the open transaction.
    pub(super) async fn record_refused(
        &mut self,
        chunk: &RowsChunk,
        plan: &TablePlan,
        before: Option<&[Value]>,
        after: Option<&[Value]>,
    ) -> Result<()> {
        let meta = &chunk.table;
        let mut keys: Vec<&[Value]> = Vec::new();
        for img in [before, after].into_iter().flatten() {
            if !keys
                .iter()
                .any(|k| plan.key.iter().all(|&i| k[i] == img[i]))
            {
                keys.push(img);
            }
        }
        let list = self.every_column(&plan.name).await?;
        let key_eq = plan
            .key
            .iter()
            .map(|&i| format!("{} = {}", ident(&meta.columns[i].name), plan.marks[i]))
            .collect::<Vec<_>>()
            .join(" AND ");
        let select = format!("SELECT {list} FROM {} WHERE {key_eq}", plan.name);
        for img in keys {
            let row: Option<mysql_async::Row> = self
                .conn
                .exec_first(select.as_str(), params(img, &plan.key))
                .await
                .map_err(|e| self.wrap(meta, e))?;
            let mut out = match row {
                Some(row) => {
                    let key: Vec<&str> = plan
                        .key
                        .iter()
                        .map(|&i| meta.columns[i].name.as_str())
                        .collect();
                    protocol_row(&meta.schema, &meta.table, row, &key)
                }
                None => RowsChunk::new(meta.clone(), RowKind::Delete, img.to_vec()),
            };
            out.no_fk_checks = true;
            self.insert_refused(&out, &meta.full_name()).await?;
        }
        Ok(())
    }

    /// Every column of the table `quoted` (`` `db`.`t` ``), invisible ones too, as a select list.
    pub(super) async fn every_column(&mut self, quoted: &str) -> Result<String> {
        let create: Option<(String, String)> = self
            .conn
            .query_first(format!("SHOW CREATE TABLE {quoted}"))
            .await
            .map_err(Error::db(format!("reading the definition of {quoted}")))?;
        let columns = super::sql::columns_of_create_table(&create.unwrap_or_default().1);
        Ok(columns
            .iter()
            .map(|c| ident(&c.name))
            .collect::<Vec<_>>()
            .join(", "))
    }

    /// Records `chunk` (the master's rows) in `starsync.refused`, in the open transaction, for
    /// a refused row of `table`.
    pub(super) async fn insert_refused(&mut self, chunk: &RowsChunk, table: &str) -> Result<()> {
        let gtid = self
            .open
            .as_ref()
            .map(|o| o.begin.gtid.to_string())
            .unwrap_or_default();
        let blob = rmp_serde::to_vec(chunk).map_err(|e| Error::Apply {
            gtid: gtid.clone(),
            table: table.to_string(),
            key: "-".into(),
            problem: format!("recording the master's row for a refused change: {e}"),
            code: None,
        })?;
        self.conn
            .exec_drop(
                "INSERT INTO starsync.refused (origin_gtid, master_rows) VALUES (?, ?)",
                (gtid.as_str(), blob),
            )
            .await
            .map_err(Error::db("recording the master's row for a refused change"))?;
        Ok(())
    }
}
