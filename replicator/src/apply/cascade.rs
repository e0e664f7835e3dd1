//! Cascading foreign keys made explicit where the hub applies a snap's deletes.
//!
//! A cascade (`ON DELETE CASCADE`, `ON DELETE SET NULL`) is not in the binlog: InnoDB makes it
//! below the server's logging. When a snap's parent delete reached the master, the children the
//! master held went with it there, and on every other node only the children that node held
//! went. A node holding a child the master did not (one it took without checks while its own
//! delete of the parent was on its way, for example) kept it for good: the nodes diverged
//! (`tests/model/converge_fk.py`: about 45 % of random runs with heavy contention on a
//! cascading key). So the hub deletes (or sets to NULL) the rows that refer to the row it is
//! about to delete itself, deepest first, each as a statement of its own in the snap's
//! transaction: the binlog then carries them as rows, under that transaction's GTID, to every
//! snap (the one that made the change gets them with its echo), and the cascade finds nothing
//! left to do. In the model this takes the divergence from 452 to 61 of 1,000 runs with the
//! master's own writes, and to 0 without them once a delete under a cascading key also counts
//! for the echo skip (variant `hub-cascades+marks`; [`Applier::cascading_refs`] serves both).
//!
//! Unlike a cascade, these statements fire the referring tables' `DELETE`/`UPDATE` triggers on
//! the master (what they write is binlogged and replicates like any row).
//!
//! Not made explicit: the master's own deletes (a DBA's client, not the hub: those cascade as
//! before), `ON UPDATE` rules, and keys that refer to their own table (InnoDB cascades those as
//! before). Chains deeper than [`MAX_DEPTH`] cascade below that depth as before.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use tracing::debug;

use super::sql::{ident, qualified, TablePlan};
use super::values::params;
use super::Applier;
use crate::error::{Error, Result};
use crate::model::{TableMeta, Value};

/// How long the cascading foreign keys read are used before being read again (a key added or
/// dropped on the master meanwhile takes effect after this).
const CACHE_FOR: Duration = Duration::from_secs(10);

/// Levels of referring tables made explicit.
const MAX_DEPTH: u32 = 8;

/// A foreign key with a cascading delete rule that refers to a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CascadeRef {
    pub schema: String,
    pub table: String,
    /// The referring columns, in the key's order.
    pub columns: Vec<String>,
    /// The columns referred to, in the same order.
    pub referenced: Vec<String>,
    /// `ON DELETE SET NULL` (else `CASCADE`).
    pub set_null: bool,
}

/// The cascading references per referred `schema.table`, all read at once (one look at
/// `information_schema` costs about as much for every table as for one: 20 ms with 1,000
/// foreign keys), and when.
#[derive(Default)]
pub(super) struct CascadeCache {
    read_at: Option<Instant>,
    by_table: HashMap<(String, String), Arc<Vec<CascadeRef>>>,
}

impl CascadeCache {
    pub(super) fn clear(&mut self) {
        self.read_at = None;
        self.by_table.clear();
    }
}

/// A row of the foreign-key query: the schema and table referred to; schema, table and name of
/// the key; its delete rule; a referring column and the column it refers to.
type KeyColumn = (
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
);

/// The statements that delete (or set to NULL) what refers, through cascading keys, to the rows
/// of `schema.table` that `filter` selects, deepest first. `filter` is a `WHERE` condition on
/// that table.
async fn plan(
    applier: &mut Applier,
    schema: &str,
    table: &str,
    filter: &str,
    depth: u32,
    out: &mut Vec<String>,
) -> Result<()> {
    if depth >= MAX_DEPTH {
        return Ok(());
    }
    let refs = applier.cascading_refs(schema, table).await?;
    for r in refs.iter() {
        if r.schema == schema && r.table == table {
            continue; // a key on its own table: InnoDB cascades it
        }
        let list = |cols: &[String]| cols.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ");
        let child = qualified(&r.schema, &r.table);
        let child_filter = format!(
            "({}) IN (SELECT {} FROM {} WHERE {filter})",
            list(&r.columns),
            list(&r.referenced),
            qualified(schema, table)
        );
        if r.set_null {
            let set = r
                .columns
                .iter()
                .map(|c| format!("{} = NULL", ident(c)))
                .collect::<Vec<_>>()
                .join(", ");
            out.push(format!("UPDATE {child} SET {set} WHERE {child_filter}"));
        } else {
            Box::pin(plan(
                applier,
                &r.schema,
                &r.table,
                &child_filter,
                depth + 1,
                out,
            ))
            .await?;
            out.push(format!("DELETE FROM {child} WHERE {child_filter}"));
        }
    }
    Ok(())
}

impl Applier {
    /// The foreign keys with a cascading delete rule that refer to `schema.table` (every
    /// table's are read from `information_schema` at once, again after [`CACHE_FOR`]).
    pub(super) async fn cascading_refs(
        &mut self,
        schema: &str,
        table: &str,
    ) -> Result<Arc<Vec<CascadeRef>>> {
        if self
            .cascades
            .read_at
            .is_none_or(|at| at.elapsed() >= CACHE_FOR)
        {
            let rows: Vec<KeyColumn> = self
                .conn
                .query(
                    "SELECT r.UNIQUE_CONSTRAINT_SCHEMA, r.REFERENCED_TABLE_NAME, \
                     k.TABLE_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME, r.DELETE_RULE, \
                     k.COLUMN_NAME, k.REFERENCED_COLUMN_NAME \
                     FROM information_schema.REFERENTIAL_CONSTRAINTS r \
                     JOIN information_schema.KEY_COLUMN_USAGE k \
                     ON k.CONSTRAINT_SCHEMA = r.CONSTRAINT_SCHEMA \
                     AND k.CONSTRAINT_NAME = r.CONSTRAINT_NAME AND k.TABLE_NAME = r.TABLE_NAME \
                     WHERE r.DELETE_RULE IN ('CASCADE', 'SET NULL') \
                     ORDER BY k.TABLE_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
                )
                .await
                .map_err(Error::db("reading the cascading foreign keys"))?;
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            let mut by_table: HashMap<(String, String), Vec<CascadeRef>> = HashMap::new();
            let mut last: Option<(Vec<u8>, Vec<u8>, Vec<u8>)> = None;
            for (ps, pt, s, t, name, rule, col, referenced) in rows {
                let refs = by_table.entry((text(&ps), text(&pt))).or_default();
                let id = (s.clone(), t.clone(), name);
                // A key's columns are consecutive rows, all referring to one table.
                if last.as_ref() != Some(&id) {
                    refs.push(CascadeRef {
                        schema: text(&s),
                        table: text(&t),
                        columns: Vec::new(),
                        referenced: Vec::new(),
                        set_null: rule == b"SET NULL",
                    });
                    last = Some(id);
                }
                let r = refs.last_mut().expect("pushed above");
                r.columns.push(text(&col));
                r.referenced.push(text(&referenced));
            }
            self.cascades.by_table = by_table
                .into_iter()
                .map(|(k, v)| (k, Arc::new(v)))
                .collect();
            self.cascades.read_at = Some(Instant::now());
        }
        Ok(self
            .cascades
            .by_table
            .get(&(schema.to_string(), table.to_string()))
            .cloned()
            .unwrap_or_default())
    }

    /// Before the hub deletes the row `before` of `meta`'s table: deletes (or sets to NULL)
    /// the rows that refer to it through cascading keys, each as a statement of its own, so
    /// that they are binlogged (see the module's note). A key that refuses one of them
    /// (`RESTRICT` further down) fails this as it would have failed the row's own delete.
    pub(super) async fn cascade_explicitly(
        &mut self,
        meta: &TableMeta,
        table_plan: &TablePlan,
        before: &[Value],
    ) -> std::result::Result<(), CascadeError> {
        let filter = table_plan
            .key
            .iter()
            .map(|&k| format!("{} <=> ?", ident(&meta.columns[k].name)))
            .collect::<Vec<_>>()
            .join(" AND ");
        let mut statements = Vec::new();
        plan(self, &meta.schema, &meta.table, &filter, 0, &mut statements)
            .await
            .map_err(CascadeError::Other)?;
        let p = params(before, &table_plan.key);
        let mut affected = 0;
        for q in &statements {
            self.conn
                .exec_drop(q.as_str(), p.clone())
                .await
                .map_err(CascadeError::Server)?;
            affected += self.conn.affected_rows();
        }
        if affected > 0 {
            debug!(table = %meta.full_name(), rows = affected,
                   "rows referring to a deleted row through cascading keys, changed first");
        }
        Ok(())
    }
}

/// Why [`Applier::cascade_explicitly`] failed: the server refused a statement (as it would
/// have refused the cascade), or the keys could not be read.
#[derive(Debug)]
pub(super) enum CascadeError {
    Server(mysql_async::Error),
    Other(Error),
}
