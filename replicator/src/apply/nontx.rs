//! A non-transactional group (MyISAM, Aria) applied on the master as one statement.
//!
//! MariaDB logs each statement on a non-transactional table at once, as a group of its own with
//! a GTID of its own. The origin's group is the work of one statement, but it can hold several
//! rows events: a multi-row `INSERT … ON DUPLICATE KEY UPDATE` logs its updates and its inserts
//! apart, a `REPLACE` the rows it deleted and the row it wrote. Applied chunk by chunk, the
//! master logged a GTID for each: GTIDs the origin never made, so the origin's later
//! transactions were taken for applied and lost. The hub therefore keeps such a group's rows
//! until its end and writes them in one statement ([`one_statement`]), or refuses the group
//! with the way on (the table to InnoDB) when no one statement does what the origin's did.
//! Nothing of the group is written before that choice.
//!
//! A snap applies the master's groups unlogged (its GTID on the bookkeeping row), so this is
//! the hub's only.

use std::sync::Arc;

use mysql_async::prelude::*;
use mysql_async::Value as P;

use super::small::tuple_marked;
use super::sql::TablePlan;
use super::values::params;
use super::Applier;
use crate::error::Result;
use crate::model::{RowKind, RowsChunk, TableMeta, Value};

/// How a group's rows are written.
#[derive(Debug, PartialEq)]
pub(crate) enum OneStatement {
    Sql(String),
    /// One row, with the plan's statement that finds it by its key (its whole image, without
    /// one) and its parameters, as the row-by-row path writes it.
    Row(String, Vec<P>),
    /// One row moved to another key: the plan's `UPDATE` ([`TablePlan::update_by_row`]); when
    /// the master has no row at the old key (it changes nothing, and logs nothing), the upsert
    /// of the image instead.
    MoveKey {
        update: Vec<P>,
        upsert: String,
    },
}

/// The statement that writes `pending` (the rows of one group, in order), or why none does.
pub(crate) fn one_statement(
    pending: &[(RowsChunk, Arc<TablePlan>)],
) -> std::result::Result<OneStatement, String> {
    let Some((_, plan)) = pending.first() else {
        return Err("no rows".into());
    };
    if pending.iter().any(|(_, p)| p.name != plan.name) {
        return Err(format!(
            "the origin's statement changed several non-transactional tables ({})",
            names(pending)
        ));
    }
    if !plan.has_pk {
        // Rows matched by their whole image, one statement each: only inserts go as one.
        if pending.iter().all(|(c, _)| c.kind == RowKind::Insert) {
            let afters: Vec<&[Value]> = pending
                .iter()
                .flat_map(|(c, _)| c.rows())
                .filter_map(|(_, a)| a)
                .collect();
            return Ok(OneStatement::Sql(upsert(plan, &afters, false)));
        }
        // One row: matched by its whole image, as the row-by-row path matches it.
        if let [(Some(b), a)] = pending
            .iter()
            .flat_map(|(c, _)| c.rows())
            .collect::<Vec<_>>()[..]
        {
            return Ok(match a {
                None => OneStatement::Row(plan.delete.clone(), params(b, &plan.key)),
                Some(a) => {
                    OneStatement::Row(plan.update_by_row.clone(), plan.update_by_row_params(b, a))
                }
            });
        }
        return Err(format!(
            "{} has no primary key: a statement that updated or deleted several of its rows is \
             redone one row at a time",
            plan.name
        ));
    }
    let rows: Vec<super::RowPair<'_>> = pending.iter().flat_map(|(c, _)| c.rows()).collect();
    let moves = |b: &[Value], a: &[Value]| plan.moves(b, a);
    if pending.iter().all(|(c, _)| c.kind == RowKind::Delete) {
        return Ok(OneStatement::Sql(delete(
            plan,
            rows.iter().filter_map(|(b, _)| *b),
        )));
    }
    let afters: Vec<&[Value]> = rows.iter().filter_map(|(_, a)| *a).collect();
    // Rows that leave their key: deleted ones, and updated ones moved to another key.
    let left: Vec<&[Value]> = rows
        .iter()
        .filter_map(|r| match r {
            (Some(b), None) => Some(*b),
            (Some(b), Some(a)) if moves(b, a) => Some(*b),
            _ => None,
        })
        .collect();
    // Each row leaving its key holds the key, or a unique value, of a row written: `REPLACE`
    // of the written rows removes it (the origin's `REPLACE` made such groups; so does an
    // update moving rows that keep a unique value).
    let shares = |b: &[Value], a: &[Value]| {
        plan.key.iter().all(|&k| b[k] == a[k])
            || plan
                .unique
                .iter()
                .any(|u| u.cols.iter().all(|&c| b[c] != Value::Null && b[c] == a[c]))
    };
    let Some(b) = left.iter().find(|b| !afters.iter().any(|a| shares(b, a))) else {
        return Ok(OneStatement::Sql(upsert(plan, &afters, !left.is_empty())));
    };
    // One row moved to a key where nothing written displaces it: an `UPDATE`.
    if let [(Some(before), Some(after))] = rows[..] {
        return Ok(OneStatement::MoveKey {
            update: plan.update_by_row_params(before, after),
            upsert: upsert(plan, &afters, true),
        });
    }
    let mut key = String::new();
    tuple_marked(b, &plan.key, None, &mut key);
    Err(format!(
        "the origin's statement removed row {key} of {} and wrote others: no one statement \
         does both here",
        plan.name
    ))
}

/// One `DELETE` of the rows of `befores`.
pub(crate) fn delete<'a>(plan: &TablePlan, befores: impl Iterator<Item = &'a [Value]>) -> String {
    let mut keys = String::new();
    for b in befores {
        if !keys.is_empty() {
            keys.push_str(", ");
        }
        tuple_marked(b, &plan.key, Some(plan.marks.as_slice()), &mut keys);
    }
    format!(
        "DELETE FROM {} WHERE {} IN ({keys})",
        plan.name, plan.key_cols
    )
}

/// One `INSERT … ON DUPLICATE KEY UPDATE` of `afters`, or `REPLACE` when rows are displaced
/// (`replace`, or a secondary unique key another row may hold here: the upsert would change
/// that row instead, or fail with ERROR 1062 for good; `REPLACE` deletes every row holding a
/// key of an image, in the one statement).
pub(crate) fn upsert(plan: &TablePlan, afters: &[&[Value]], replace: bool) -> String {
    let mut tuples = String::new();
    for a in afters {
        if !tuples.is_empty() {
            tuples.push_str(", ");
        }
        tuple_marked(a, &plan.cols, Some(plan.marks.as_slice()), &mut tuples);
    }
    if replace || !plan.unique.is_empty() {
        format!(
            "REPLACE{}{tuples}",
            plan.insert_head.trim_start_matches("INSERT")
        )
    } else {
        format!("{}{tuples}{}", plan.insert_head, plan.upsert_tail)
    }
}

fn names(pending: &[(RowsChunk, Arc<TablePlan>)]) -> String {
    let mut v: Vec<&str> = pending.iter().map(|(_, p)| p.name.as_str()).collect();
    v.dedup();
    v.join(", ")
}

impl Applier {
    /// Holds a chunk of a non-transactional group until its end (the hub); refuses the group
    /// as soon as its rows could not fit one statement (the master's `max_allowed_packet`).
    pub(crate) fn hold_non_transactional(
        &mut self,
        chunk: &RowsChunk,
        plan: Arc<TablePlan>,
    ) -> Result<()> {
        let max = self.max_packet;
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        open.nontx_rows.push((chunk.clone(), plan));
        let bytes: usize = open.nontx_rows.iter().map(|(c, _)| c.approx_bytes()).sum();
        if bytes + 1024 > max {
            open.nontx_rows.clear();
            return Err(self.refuse_non_transactional(
                &chunk.table,
                too_long(&chunk.table, max),
                None,
            ));
        }
        Ok(())
    }

    /// Writes the held rows of a non-transactional group (see the module note).
    pub(crate) async fn flush_non_transactional(&mut self) -> Result<()> {
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        if open.nontx_rows.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut open.nontx_rows);
        let meta = pending[0].0.table.clone();
        let n: u64 = pending.iter().map(|(c, _)| c.rows().count() as u64).sum();
        let stmt = one_statement(&pending)
            .map_err(|why| self.refuse_non_transactional(&meta, why, None))?;
        if self.open.as_ref().is_some_and(|o| o.mode.detect_conflicts) {
            let found = self.check_non_transactional(&pending).await?;
            if let Some(o) = self.open.as_mut() {
                o.nontx_conflicts.extend(found);
            }
        }
        match stmt {
            OneStatement::Sql(sql) => {
                if sql.len() + 1024 > self.max_packet {
                    let why = too_long(&meta, self.max_packet);
                    return Err(self.refuse_non_transactional(&meta, why, None));
                }
                self.conn
                    .query_drop(sql)
                    .await
                    .map_err(|e| self.wrap(&meta, e))?
            }
            OneStatement::Row(sql, p) => self
                .conn
                .exec_drop(sql, p)
                .await
                .map_err(|e| self.wrap(&meta, e))?,
            OneStatement::MoveKey { update, upsert } => {
                match self
                    .conn
                    .exec_drop(pending[0].1.update_by_row.as_str(), update)
                    .await
                {
                    Err(mysql_async::Error::Server(e)) if e.code == 1062 => {
                        let why = format!(
                            "the origin's statement moved a row to a key another row holds \
                             here ({}): only a delete and a write resolve it",
                            e.message
                        );
                        return Err(self.refuse_non_transactional(&meta, why, Some(e.code)));
                    }
                    r => r.map_err(|e| self.wrap(&meta, e))?,
                }
                if self.conn.affected_rows() == 0 {
                    self.conn
                        .query_drop(upsert)
                        .await
                        .map_err(|e| self.wrap(&meta, e))?;
                }
            }
        }
        if let Some(o) = self.open.as_mut() {
            o.rows += n;
        }
        Ok(())
    }

    /// The error refusing a non-transactional group `why`, with the way on.
    fn refuse_non_transactional(
        &self,
        meta: &TableMeta,
        why: String,
        code: Option<u16>,
    ) -> crate::error::Error {
        self.server_refused(
            meta,
            "-",
            format!(
                "{why}. Written in several statements, each logged with a GTID of its own, it \
                 would give the master GTIDs its origin never made, and the origin's next \
                 transactions would be taken for applied. Make the table transactional on the \
                 master (ALTER TABLE {} ENGINE=InnoDB): the change then goes through",
                meta.full_name()
            ),
            code,
        )
    }
}

fn too_long(meta: &TableMeta, max: usize) -> String {
    format!(
        "the origin's statement changed more rows of {} than one statement within the master's \
         max_allowed_packet ({max} bytes) holds",
        meta.full_name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::sql::{plain_columns, UniqueKey};
    use crate::model::int_table;

    /// `MOST.t (id PRIMARY KEY, v, u)`, with `UNIQUE (u)` when `unique`.
    fn plan(table: &str, unique: bool) -> (Arc<TableMeta>, Arc<TablePlan>) {
        let mut meta = int_table(&["id", "v", "u"]);
        meta.table = table.into();
        let mut p = TablePlan::new(&meta, &plain_columns(&["id", "v", "u"]));
        if unique {
            p.unique.push(UniqueKey {
                cols: vec![2],
                select_others: String::new(),
                delete_others: String::new(),
                select_others_moved: String::new(),
                delete_others_moved: String::new(),
            });
        }
        (Arc::new(meta), Arc::new(p))
    }

    fn row(id: i64, v: i64, u: Option<i64>) -> Vec<Value> {
        vec![
            Value::Int(id),
            Value::Int(v),
            u.map_or(Value::Null, Value::Int),
        ]
    }

    fn chunk(
        t: &(Arc<TableMeta>, Arc<TablePlan>),
        kind: RowKind,
        images: &[Vec<Value>],
    ) -> (RowsChunk, Arc<TablePlan>) {
        let values = images.iter().flatten().cloned().collect();
        (RowsChunk::new(t.0.clone(), kind, values), t.1.clone())
    }

    fn sql(pending: &[(RowsChunk, Arc<TablePlan>)]) -> String {
        match one_statement(pending).unwrap() {
            OneStatement::Sql(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_upsert_that_updated_and_inserted_is_one_statement() {
        // INSERT … VALUES (1, 2), (9, 9) ON DUPLICATE KEY UPDATE …, 1 held: an update, an insert.
        let t = plan("t", false);
        let pending = [
            chunk(&t, RowKind::Update, &[row(1, 1, None), row(1, 2, None)]),
            chunk(&t, RowKind::Insert, &[row(9, 9, None)]),
        ];
        assert_eq!(
            sql(&pending),
            format!(
                "{}(1, 2, NULL), (9, 9, NULL){}",
                t.1.insert_head, t.1.upsert_tail
            )
        );
    }

    #[test]
    fn a_replace_that_displaced_rows_is_one_replace() {
        // REPLACE (1, 2, 7) where row 1 held the key and row 2 the unique value 7: MariaDB logs
        // the delete of row 1 and row 2 updated into row 1.
        let t = plan("t", true);
        let pending = [
            chunk(&t, RowKind::Delete, &[row(1, 0, None)]),
            chunk(
                &t,
                RowKind::Update,
                &[row(2, 1, Some(7)), row(1, 2, Some(7))],
            ),
        ];
        assert_eq!(
            sql(&pending),
            "REPLACE INTO `MOST`.`t` (`id`, `v`, `u`) VALUES (1, 2, 7)"
        );
        // Without a unique key, rows written go as an upsert; with one, as a REPLACE.
        let t = plan("t", true);
        let only = [chunk(&t, RowKind::Insert, &[row(3, 3, Some(3))])];
        assert!(sql(&only).starts_with("REPLACE INTO"));
    }

    #[test]
    fn one_row_moved_to_another_key_is_an_update() {
        let t = plan("t", false);
        let pending = [chunk(
            &t,
            RowKind::Update,
            &[row(1, 5, None), row(10, 5, None)],
        )];
        assert_eq!(
            one_statement(&pending).unwrap(),
            OneStatement::MoveKey {
                update: vec![P::Int(10), P::Int(5), P::NULL, P::Int(1)],
                upsert: "REPLACE INTO `MOST`.`t` (`id`, `v`, `u`) VALUES (10, 5, NULL)".into(),
            }
        );
        assert_eq!(
            t.1.update_by_row,
            "UPDATE `MOST`.`t` SET `id` = ?, `v` = ?, `u` = ? WHERE `id` = ?"
        );
    }

    #[test]
    fn deletes_are_one_delete() {
        let t = plan("t", false);
        let pending = [
            chunk(&t, RowKind::Delete, &[row(1, 0, None), row(2, 0, None)]),
            chunk(&t, RowKind::Delete, &[row(5, 0, None)]),
        ];
        assert_eq!(
            sql(&pending),
            "DELETE FROM `MOST`.`t` WHERE (`id`) IN ((1), (2), (5))"
        );
    }

    #[test]
    fn a_table_without_a_key_takes_inserts_or_one_row_in_one_statement() {
        let mut meta = int_table(&["a", "b"]);
        meta.primary_key.clear();
        let plan = Arc::new(TablePlan::new(&meta, &plain_columns(&["a", "b"])));
        let t = (Arc::new(meta), plan);
        let two = |x| vec![Value::Int(x), Value::Int(x)];
        let inserts = [chunk(&t, RowKind::Insert, &[two(1), two(2), two(2)])];
        assert_eq!(
            sql(&inserts),
            "INSERT INTO `MOST`.`t` (`a`, `b`) VALUES (1, 1), (2, 2), (2, 2)"
        );
        let update = [chunk(&t, RowKind::Update, &[two(1), two(3)])];
        assert_eq!(
            one_statement(&update).unwrap(),
            OneStatement::Row(
                "UPDATE `MOST`.`t` SET `a` = ?, `b` = ? WHERE `a` <=> ? AND `b` <=> ? LIMIT 1"
                    .into(),
                vec![P::Int(3), P::Int(3), P::Int(1), P::Int(1)]
            )
        );
        let delete = [chunk(&t, RowKind::Delete, &[two(2)])];
        assert_eq!(
            one_statement(&delete).unwrap(),
            OneStatement::Row(
                "DELETE FROM `MOST`.`t` WHERE `a` <=> ? AND `b` <=> ? LIMIT 1".into(),
                vec![P::Int(2), P::Int(2)]
            )
        );
        let updates = [chunk(
            &t,
            RowKind::Update,
            &[two(1), two(3), two(2), two(4)],
        )];
        assert!(one_statement(&updates)
            .unwrap_err()
            .contains("has no primary key"));
    }

    #[test]
    fn groups_no_one_statement_does_are_refused() {
        // Several rows moved to other keys.
        let t = plan("t", false);
        let moved = [chunk(
            &t,
            RowKind::Update,
            &[
                row(1, 0, None),
                row(101, 0, None),
                row(2, 0, None),
                row(102, 0, None),
            ],
        )];
        assert!(one_statement(&moved)
            .unwrap_err()
            .contains("removed row (1)"));
        // A row deleted that no written row displaces.
        let mixed = [
            chunk(&t, RowKind::Delete, &[row(4, 0, Some(4))]),
            chunk(&t, RowKind::Insert, &[row(5, 0, Some(5))]),
        ];
        assert!(one_statement(&mixed).is_err());
        // Two tables (a multi-table statement).
        let other = plan("o", false);
        let two = [
            chunk(&t, RowKind::Insert, &[row(1, 0, None)]),
            chunk(&other, RowKind::Insert, &[row(1, 0, None)]),
        ];
        let why = one_statement(&two).unwrap_err();
        assert!(why.contains("`MOST`.`t`, `MOST`.`o`"), "{why}");
    }
}
