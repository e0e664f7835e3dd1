//! A master change that a foreign key refuses on a snap because rows made there refer to the
//! row it deletes (or whose key it changes).
//!
//! The master applied the change with its foreign key checked, so on the master no row referred
//! to that row then: the referring rows on the snap were made there and the master never took
//! them (it refused them when they arrived: kind `foreign_key` in its conflict log, with their
//! images; or it will). The snap converges on the master only without them, so they are deleted
//! here, unlogged (they are not a change to replicate), with the rows referring to them in turn,
//! and the master's change is applied again. Before, replication of the master's changes to
//! that snap stopped until a DBA deleted them by hand.

use mysql_async::prelude::*;
use mysql_async::Value as P;
use tracing::warn;

use super::Applier;
use crate::error::{Error, Result};
use crate::gtid::Gtid;
use crate::model::{RowKind, RowsChunk};

/// `ER_ROW_IS_REFERENCED_2`: a parent row still referred to.
pub const ROW_IS_REFERENCED: u16 = 1451;

/// How deep rows referring to rows referring to … are followed.
const MAX_DEPTH: usize = 8;

/// A foreign key as the server's 1451 message names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    /// The referring table, quoted (`` `db`.`child` ``).
    pub child: String,
    /// The referring table's schema and name, unquoted.
    pub child_schema: String,
    pub child_table: String,
    pub child_cols: Vec<String>,
    pub parent_cols: Vec<String>,
}

/// Reads the constraint from a 1451 message: `… a foreign key constraint fails (`db`.`child`,
/// CONSTRAINT `name` FOREIGN KEY (`a`, `b`) REFERENCES `parent` (`x`, `y`) …)`.
pub fn parse_constraint(msg: &str) -> Option<Constraint> {
    let rest = &msg[msg.find("constraint fails (")? + "constraint fails (".len()..];
    let (child, rest) = rest.split_once(", CONSTRAINT ")?;
    let names = super::sql::backticked(child);
    let (child, child_schema, child_table) = match names.as_slice() {
        [db, t] => (super::sql::qualified(db, t), db.clone(), t.clone()),
        _ => return None,
    };
    let (_, rest) = rest.split_once(" FOREIGN KEY (")?;
    let (cols, rest) = rest.split_once(") REFERENCES ")?;
    let child_cols = super::sql::backticked(cols);
    // After the parent table's name (one or two quoted parts): its columns in parentheses.
    let open = rest.find("` (")? + 2;
    let close = open + rest[open..].find(')')?;
    let parent_cols = super::sql::backticked(&rest[open..close]);
    (!child_cols.is_empty() && child_cols.len() == parent_cols.len()).then_some(Constraint {
        child,
        child_schema,
        child_table,
        child_cols,
        parent_cols,
    })
}

/// The server's code and message of an error, when the server refused something.
fn refused(e: &Error) -> Option<(u16, String)> {
    match e {
        Error::Apply {
            code: Some(c),
            problem,
            ..
        } => Some((*c, problem.clone())),
        Error::Db {
            source: mysql_async::Error::Server(s),
            ..
        } => Some((s.code, s.message.clone())),
        _ => None,
    }
}

/// Whether `e` is a row the master deletes (or re-keys) that rows here still refer to.
pub fn is_referenced(e: &Error) -> bool {
    refused(e).is_some_and(|(c, _)| c == ROW_IS_REFERENCED)
}

/// `ER_NO_REFERENCED_ROW_2`: a row whose parent is missing.
pub const NO_REFERENCED_ROW: u16 = 1452;

/// Whether `e` is a row the master adds (or re-points) whose parent is missing here.
pub fn is_referencing(e: &Error) -> bool {
    refused(e).is_some_and(|(c, _)| c == NO_REFERENCED_ROW)
}

/// Whether the foreign key that refused a row with `e` changes rows with their parent (`ON
/// DELETE` or `ON UPDATE`, `CASCADE` or `SET NULL`, as the server's message names it): a
/// parent's delete then takes or changes its children on every node, and the binlog does not
/// show it. With `RESTRICT` (or `NO ACTION`, the default) rows only ever change by themselves.
pub fn follows_parent(e: &Error) -> bool {
    refused(e).is_some_and(|(_, m)| {
        let rule = m.rsplit_once(" REFERENCES ").map_or("", |(_, r)| r);
        [
            "ON DELETE CASCADE",
            "ON DELETE SET NULL",
            "ON UPDATE CASCADE",
            "ON UPDATE SET NULL",
        ]
        .iter()
        .any(|a| rule.contains(a))
    })
}

impl Applier {
    /// Applies the transaction `gtid` (when replayed) without foreign key checks: its row's
    /// parent is missing here, deleted by a change this node made that the master has refused
    /// or will refuse (the master has the parent, and a child of it); the echo of that change
    /// brings the parent back ([`super::refused`]).
    pub fn without_fk_checks(&mut self, gtid: Gtid) {
        self.without_fk_checks = Some(gtid);
    }

    /// Makes the next delete chunk applied here without foreign key checks, keeping the rows
    /// referring to its rows (see [`Applier::refused_by_own_rows_only`]).
    pub fn apply_next_delete_over_own_rows(&mut self) {
        self.next_delete_over_own_rows = true;
    }

    /// After the delete `chunk` failed with `e` (see [`is_referenced`]), in its transaction begun
    /// again (the caller replayed the rows before it): whether every row here that refers to
    /// the rows it deletes through the key `e` names has an own change in flight (rows this
    /// node made or re-pointed, which the master refuses or has refused). Then the delete is
    /// made without foreign key checks and they stay until their echoes settle them
    /// ([`Applier::apply_next_delete_over_own_rows`]): deleted here ([`Applier::delete_referring`]),
    /// a child the master holds elsewhere, re-pointed here, came back with its echo, and the
    /// master's rows under it did not. (A delete is looked at before it is made,
    /// [`Applier::delete_reaches_own_rows`], but not through keys that refer to their own
    /// table; this is for those, and any other it missed.)
    pub async fn refused_by_own_rows_only(&mut self, e: &Error, chunk: &RowsChunk) -> Result<bool> {
        let Some(images) = self.left_images.clone() else {
            return Ok(false);
        };
        let Some(c) = refused(e).and_then(|(_, m)| parse_constraint(&m)) else {
            return Ok(false);
        };
        let key = super::cascade::CascadeRef {
            schema: c.child_schema.clone(),
            table: c.child_table.clone(),
            columns: c.child_cols.clone(),
            referenced: c.parent_cols.clone(),
            set_null: false,
        };
        if chunk.kind != RowKind::Delete || !images.has_keys(&key.full_name()) {
            return Ok(false);
        }
        let referred: Vec<Vec<crate::model::Value>> = chunk
            .rows()
            .filter_map(|r| r.0)
            .filter_map(|before| key.referred(&chunk.table, before).map(|(_, v)| v))
            .collect();
        let mut found = 0;
        for batch in referred.chunks(super::cascade::REFERRING_BATCH) {
            for row in self.rows_referring_to_any(&key, batch).await? {
                if !images.holds(&key.full_name(), &row.table.encoded_key(&row.values)) {
                    return Ok(false);
                }
                found += 1;
            }
        }
        Ok(found > 0)
    }

    /// After `chunk` failed with `e` (see [`is_referenced`]), in its transaction begun again
    /// (the caller replayed the rows before it): deletes the rows here that refer to the rows
    /// the chunk deletes or re-keys, and the rows referring to those. Returns how many were
    /// deleted (none: the caller gives up with `e`).
    ///
    /// The deletes are binlogged with the master's transaction, under its GTID: capture then
    /// reads them as part of a foreign change, and the echo skip ([`crate::echo_skip`]) writes
    /// the echoes of own changes to those rows again. (Made unlogged, they went unseen: an own
    /// child deleted here, which the master did take after all, its parent made again before
    /// it arrived, was left out of its echo as unchanged, and lost on this node;
    /// `tests/model/converge_fk.py`, variant `left`.) Capture ships only this node's own
    /// domain, so the deletes go nowhere else.
    pub async fn delete_referring(&mut self, e: &Error, chunk: &RowsChunk) -> Result<u64> {
        let Some(c) = refused(e).and_then(|(_, m)| parse_constraint(&m)) else {
            return Ok(0);
        };
        let meta = &chunk.table;
        let idx: Option<Vec<usize>> = c
            .parent_cols
            .iter()
            .map(|n| {
                meta.columns
                    .iter()
                    .position(|col| col.name.eq_ignore_ascii_case(n))
            })
            .collect();
        let Some(idx) = idx else { return Ok(0) };
        // The referred values the chunk takes away: deleted rows', and those an update changes.
        let mut keys: Vec<Vec<P>> = Vec::new();
        for (before, after) in chunk.rows() {
            let Some(b) = before else { continue };
            let changed = match (chunk.kind, after) {
                (RowKind::Delete, _) => true,
                (_, Some(a)) => idx.iter().any(|&i| a[i] != b[i]),
                _ => false,
            };
            if changed {
                keys.push(idx.iter().map(|&i| super::values::param(&b[i])).collect());
            }
        }
        if keys.is_empty() {
            return Ok(0);
        }
        if self.open.as_ref().is_none_or(|o| o.skip) {
            return Ok(0);
        }
        let r = self.delete_rows_referring(&c, keys, 0).await;
        if let Ok(n) = &r {
            warn!(target_node = %self.label, table = %c.child, rows = n,
                  parent = %meta.full_name(),
                  "deleted rows made on this node that refer to rows the master deleted or \
                   re-keyed: the master never took them (it refuses them when they arrive: \
                   `master-admin conflicts` shows them, kind foreign_key), so this node keeps \
                   them no longer, and takes the master's change");
        }
        r
    }

    /// Deletes the rows of `c.child` referring to each of `keys`, first those referring to
    /// them in turn. Returns the rows deleted.
    fn delete_rows_referring<'a>(
        &'a mut self,
        c: &'a Constraint,
        keys: Vec<Vec<P>>,
        depth: usize,
    ) -> futures::future::BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let by = c
                .child_cols
                .iter()
                .map(|k| format!("{} = ?", super::sql::ident(k)))
                .collect::<Vec<_>>()
                .join(" AND ");
            let delete = format!("DELETE FROM {} WHERE {by}", c.child);
            let mut total = 0;
            for key in keys {
                loop {
                    match self.conn.exec_drop(delete.as_str(), key.clone()).await {
                        Ok(()) => {
                            total += self.conn.affected_rows();
                            break;
                        }
                        Err(mysql_async::Error::Server(s))
                            if s.code == ROW_IS_REFERENCED && depth < MAX_DEPTH =>
                        {
                            let Some(next) = parse_constraint(&s.message) else {
                                return Err(Error::db(format!("deleting from {}", c.child))(
                                    mysql_async::Error::Server(s),
                                ));
                            };
                            let cols = next
                                .parent_cols
                                .iter()
                                .map(|k| super::sql::ident(k))
                                .collect::<Vec<_>>()
                                .join(", ");
                            let rows: Vec<mysql_async::Row> = self
                                .conn
                                .exec(
                                    format!("SELECT {cols} FROM {} WHERE {by}", c.child),
                                    key.clone(),
                                )
                                .await
                                .map_err(Error::db(format!("reading {}", c.child)))?;
                            let deeper: Vec<Vec<P>> =
                                rows.into_iter().map(|r| r.unwrap()).collect();
                            let n = self.delete_rows_referring(&next, deeper, depth + 1).await?;
                            if n == 0 {
                                return Err(Error::db(format!("deleting from {}", c.child))(
                                    mysql_async::Error::Server(s),
                                ));
                            }
                            total += n;
                        }
                        Err(e) => return Err(Error::db(format!("deleting from {}", c.child))(e)),
                    }
                }
            }
            Ok(total)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_constraint_is_read_from_the_message() {
        let m = "Cannot delete or update a parent row: a foreign key constraint fails \
                 (`MOST`.`c`, CONSTRAINT `c_ibfk_1` FOREIGN KEY (`pid`, `k``2`) REFERENCES `p` \
                 (`id`, `k`) ON DELETE NO ACTION)";
        assert_eq!(
            parse_constraint(m),
            Some(Constraint {
                child: "`MOST`.`c`".into(),
                child_schema: "MOST".into(),
                child_table: "c".into(),
                child_cols: vec!["pid".into(), "k`2".into()],
                parent_cols: vec!["id".into(), "k".into()],
            })
        );
        let other_db = m.replace("REFERENCES `p`", "REFERENCES `other`.`p`");
        assert_eq!(parse_constraint(&other_db).unwrap().parent_cols.len(), 2);
        assert_eq!(parse_constraint("Cannot add or update a child row"), None);
    }
}
