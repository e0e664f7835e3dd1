//! Conflict-detecting apply, used by the hub to ingest a snap's transactions.
//!
//! Optimistic first: a chunk is applied with statements that only succeed for every row when
//! nothing conflicts (plain `INSERT`; `UPDATE`/`DELETE` matching the whole before-image), inside
//! a savepoint; when the affected-row count says otherwise, the chunk is rolled back to the
//! savepoint and applied row by row, each row compared with the master's current row, the
//! after-image forced (hub order wins) and every difference recorded in `starsync.conflicts`
//! in the same transaction.

use mysql_async::prelude::*;
use mysql_async::Params;
use tracing::{debug, warn};

use super::cascade::CascadeError;
use super::sql::TablePlan;
use super::values::{self, params};
use super::{Applier, RowPair};
use crate::error::{Error, Result};
use crate::model::{RowKind, RowsChunk, Value};

/// Times a row is done again when a unique value it takes was taken meanwhile.
const UNIQUE_RACE_RETRIES: u32 = 8;

impl Applier {
    /// Conflict-detecting apply (hub ingest): optimistic bulk check, per-row on mismatch.
    pub(super) async fn rows_checked(
        &mut self,
        chunk: &RowsChunk,
        plan: &TablePlan,
        rows: &[RowPair<'_>],
    ) -> Result<()> {
        let meta = &chunk.table;
        // Deletes of a table that cascading keys refer to go row by row, each after the rows
        // referring to it ([`super::cascade`]).
        let cascades = chunk.kind == RowKind::Delete
            && !self
                .cascading_refs(&meta.schema, &meta.table)
                .await?
                .is_empty();
        // So do updates of values that keys with an update rule refer to
        // ([`Applier::update_with_follows`]).
        let follows = chunk.kind == RowKind::Update && {
            let refs = self
                .update_cascading_refs(&meta.schema, &meta.table)
                .await?;
            super::cascade::carries_any(meta, &refs, rows)
        };
        if plan.has_pk && !super::moves_a_key(plan, rows) && !cascades && !follows {
            // Fast path: statements that only succeed for every row when nothing conflicts. A
            // single row needs no savepoint: a statement that fails or matches nothing changed
            // nothing.
            let sp = if rows.len() > 1 {
                let o = self.open.as_mut().unwrap();
                o.savepoints += 1;
                let sp = format!("starsync_c{}", o.savepoints);
                self.conn
                    .query_drop(format!("SAVEPOINT {sp}"))
                    .await
                    .map_err(|e| self.wrap(meta, e))?;
                Some(sp)
            } else {
                None
            };
            let (stmt, batch): (&str, Vec<Vec<mysql_async::Value>>) = match chunk.kind {
                RowKind::Insert => (
                    plan.insert.as_str(),
                    rows.iter()
                        .map(|(_, a)| params(a.unwrap(), &plan.cols))
                        .collect(),
                ),
                RowKind::Update => (
                    plan.check_update.as_str(),
                    rows.iter()
                        .map(|(b, a)| {
                            let mut p = params(a.unwrap(), &plan.cols);
                            p.extend(params(b.unwrap(), &plan.key));
                            p.extend(params(b.unwrap(), &plan.cols));
                            p
                        })
                        .collect(),
                ),
                RowKind::Delete => (
                    plan.check_delete.as_str(),
                    rows.iter()
                        .map(|(b, _)| {
                            let mut p = params(b.unwrap(), &plan.key);
                            p.extend(params(b.unwrap(), &plan.cols));
                            p
                        })
                        .collect(),
                ),
            };
            let r = self.conn.exec_batch(stmt, batch).await;
            tracing::trace!(table = %meta.full_name(), kind = ?chunk.kind, rows = rows.len(),
                   affected = self.conn.affected_rows(), ok = r.is_ok(), "conflict check");
            // A value the master's column could not hold was converted (a warning; deletes
            // write no value).
            let converted =
                r.is_ok() && chunk.kind != RowKind::Delete && self.conn.get_warnings() > 0;
            let clean = match r {
                Ok(()) => self.conn.affected_rows() == rows.len() as u64,
                // A key taken, or the master's schema refusing a row: row by row, where each
                // is recorded.
                Err(ref e) if refused(e).is_some() => false,
                Err(mysql_async::Error::Server(ref s)) if s.code == 1062 => false,
                Err(e) => return Err(self.wrap(meta, e)),
            };
            match (clean, converted, &sp) {
                (true, false, _) => return Ok(()),
                // One row, applied as sent but for the conversion: recorded as such.
                (true, true, None) => {
                    let (b, a) = rows[0];
                    return self.record_converted(chunk, plan, b, a.unwrap()).await;
                }
                _ => {}
            }
            if let Some(sp) = sp {
                self.conn
                    .query_drop(format!("ROLLBACK TO SAVEPOINT {sp}"))
                    .await
                    .map_err(|e| self.wrap(meta, e))?;
            }
        }
        for (b, a) in rows {
            self.row_checked(chunk, plan, *b, *a).await?;
        }
        Ok(())
    }

    /// One row with conflict detection: look at the current row, record a conflict when it is
    /// not what the origin saw, then force the after-image.
    async fn row_checked(
        &mut self,
        chunk: &RowsChunk,
        plan: &TablePlan,
        before: Option<&[Value]>,
        after: Option<&[Value]>,
    ) -> Result<()> {
        let meta = &chunk.table;
        // Insert: is the key taken? Update/delete: is the row the origin's before-image?
        let current = self
            .current_row(meta, plan, before.or(after).unwrap())
            .await?;
        let kind = conflict_kind(chunk.kind, &current);
        if !plan.has_pk {
            return self.row_checked_nokey(chunk, plan, before, after).await;
        }
        // A move to another key under keys that follow it (`ON UPDATE CASCADE` or `SET
        // NULL`) is made as the update it was ([`Applier::force_checked`]).
        let moved = before.is_some_and(|b| moves_key(plan, b, after));
        let update_refs = self
            .update_cascading_refs(&meta.schema, &meta.table)
            .await?;
        let follows = moved && !update_refs.is_empty();
        // Keys that cascade its delete refer to a row it moves without following it.
        let delete_refs = moved
            && !follows
            && !self
                .cascading_refs(&meta.schema, &meta.table)
                .await?
                .is_empty();
        // It changes values that such keys refer to (its key, or another column; or the
        // master's row differs from the origin's: its values may change; or it is an insert
        // of a row the master holds otherwise, which it updates): the rows referring to them
        // follow it, made explicit ([`Applier::update_with_follows`]).
        let carries = match (before, after, &current) {
            (Some(_), Some(_), Some((Some(m), _))) if *m != 1 => !update_refs.is_empty(),
            (Some(b), Some(a), _) => super::cascade::carries_followers(meta, &update_refs, b, a),
            (None, Some(_), Some((m, _))) if *m != Some(1) => !update_refs.is_empty(),
            _ => false,
        };
        // The row's statements (a displaced row's delete, a moved key's delete, the write) are
        // undone together when the master's schema refuses the row.
        let sp = {
            let o = self.open.as_mut().unwrap();
            o.savepoints += 1;
            format!("starsync_r{}", o.savepoints)
        };
        self.conn
            .query_drop(format!("SAVEPOINT {sp}"))
            .await
            .map_err(|e| self.wrap(meta, e))?;
        // Another session (a local writer on the master, another snap's ingest) may take a
        // unique value between the look for rows holding it and the write (READ COMMITTED
        // locks no gap): the row is then done again from its savepoint, the value's new
        // holder displaced in turn. Hub order is the order of the master's commits.
        let conflicts = self.open.as_ref().unwrap().conflicts;
        let mut attempt = 0;
        let (res, converted) = loop {
            if let Some(a) = after {
                self.displace_unique(chunk, plan, before, a).await?;
            }
            // A delete of a row the master holds, or a move of it to another key written as a
            // delete and an insert: what refers to it through cascading keys goes first,
            // binlogged ([`super::cascade`]); unless its origin made it without foreign key
            // checks, which cascade nothing (the referring rows stay there, as here).
            let cascades = !chunk.no_fk_checks;
            let (res, converted) = match (chunk.kind, before, &current) {
                (RowKind::Delete, Some(b), Some(_)) if cascades => {
                    match self.cascade_explicitly(meta, plan, b).await {
                        Ok(()) => {
                            self.force_checked(plan, chunk.kind, before, after, false)
                                .await
                        }
                        Err(CascadeError::Server(e)) => (Err(e), false),
                        Err(CascadeError::Other(e)) => return Err(e),
                    }
                }
                (RowKind::Update, Some(b), Some(_)) if moved && !follows && cascades => {
                    // Keys that cascade a delete of the row but not a move of it (`ON UPDATE
                    // RESTRICT`, `NO ACTION`): the move is first tried as one `UPDATE`, as its
                    // origin made it, so that the server refuses it while rows here refer to
                    // the old key, as the origin's server would have, had it held them. As a
                    // delete and an insert, the delete's cascade took them.
                    let by_update = if delete_refs {
                        self.move_by_update(plan, b, after.unwrap()).await
                    } else {
                        Ok(false)
                    };
                    match by_update {
                        Ok(true) => (Ok(()), self.conn.get_warnings() > 0),
                        Err(e) => (Err(e), false),
                        Ok(false) => match self.cascade_explicitly(meta, plan, b).await {
                            Ok(()) => {
                                self.force_checked(plan, chunk.kind, before, after, false)
                                    .await
                            }
                            Err(CascadeError::Server(e)) => (Err(e), false),
                            Err(CascadeError::Other(e)) => return Err(e),
                        },
                    }
                }
                // Under keys with an update rule, what follows the update goes with it,
                // binlogged ([`super::cascade`]).
                // An insert of a row the master holds otherwise is the update it makes there.
                (RowKind::Update | RowKind::Insert, _, Some((matches, _)))
                    if carries && !self.checks_off(chunk) =>
                {
                    let a = after.unwrap();
                    let (from, matches) = match before {
                        Some(b) => (b, *matches == Some(1)),
                        None => (a, false),
                    };
                    match self
                        .update_with_follows(meta, plan, from, a, matches)
                        .await?
                    {
                        Some(made) => made,
                        None => {
                            self.force_checked(plan, chunk.kind, before, after, follows)
                                .await
                        }
                    }
                }
                _ => {
                    self.force_checked(plan, chunk.kind, before, after, follows)
                        .await
                }
            };
            match res {
                Err(mysql_async::Error::Server(ref s))
                    if s.code == 1062 && attempt < UNIQUE_RACE_RETRIES =>
                {
                    attempt += 1;
                    debug!(table = %meta.full_name(), attempt, error = %s.message,
                           "a unique value was taken meanwhile; doing the row again");
                    self.conn
                        .query_drop(format!("ROLLBACK TO SAVEPOINT {sp}"))
                        .await
                        .map_err(|e| self.wrap(meta, e))?;
                    self.open.as_mut().unwrap().conflicts = conflicts;
                }
                res => break (res, converted),
            }
        };
        let kind = match res {
            Ok(()) => kind,
            Err(e) => match refused(&e) {
                // The master's schema refuses the row (a foreign key, a CHECK constraint, a
                // NOT NULL or narrower column added meanwhile): the master keeps its row.
                Some(refusal) => {
                    warn!(table = %meta.full_name(),
                          origin = %self.open.as_ref().unwrap().mode.origin, error = %e,
                          "the master refuses an incoming row");
                    self.conn
                        .query_drop(format!("ROLLBACK TO SAVEPOINT {sp}"))
                        .await
                        .map_err(|e| self.wrap(meta, e))?;
                    // The snap that made the change gets the master's row back with its echo.
                    self.record_refused(chunk, plan, before, after).await?;
                    // A delete, or a move made as a delete and an insert: the rows its delete
                    // cascaded to on the snap.
                    match (chunk.kind, before) {
                        (RowKind::Delete, Some(b)) => {
                            self.record_refused_cascade(meta, plan, b, false).await?
                        }
                        (RowKind::Update, Some(b)) if moved && !follows => {
                            self.record_refused_cascade(meta, plan, b, false).await?
                        }
                        _ => {}
                    }
                    // The rows referring to it through keys with an update rule too, whatever
                    // the refused change: the snap's own change took them along there, or left
                    // them behind when it kept the master's earlier update of the row away
                    // (its own change of the row was on its way), so that the master's rows
                    // followed it there and the snap's did not.
                    if let (RowKind::Update | RowKind::Delete, Some(b)) = (chunk.kind, before) {
                        if !update_refs.is_empty() {
                            self.record_refused_cascade(meta, plan, b, true).await?
                        }
                    }
                    Some(refusal)
                }
                None => return Err(self.wrap(meta, e)),
            },
        };
        if let Some(kind) = kind {
            self.record_conflict(chunk, before, after, kind, current.and_then(|c| c.1))
                .await?;
        }
        if let (true, Some(a)) = (converted, after) {
            self.record_converted(chunk, plan, before, a).await?;
        }
        Ok(())
    }

    /// Forces the after-image (hub order wins): the before-image's row deleted when the row
    /// goes or its key moves, the after-image upserted. A move `by_update` is first tried as
    /// one `UPDATE`, as its origin made it, so that the keys that follow it change the rows
    /// here that refer to it ([`Applier::move_by_update`]). Whether the server converted a
    /// value.
    pub(super) async fn force_checked(
        &mut self,
        plan: &TablePlan,
        kind: RowKind,
        before: Option<&[Value]>,
        after: Option<&[Value]>,
        by_update: bool,
    ) -> (std::result::Result<(), mysql_async::Error>, bool) {
        if let (true, Some(b), Some(a)) = (by_update, before, after) {
            match self.move_by_update(plan, b, a).await {
                Ok(true) => return (Ok(()), self.conn.get_warnings() > 0),
                Ok(false) => {}
                Err(e) => return (Err(e), false),
            }
        }
        if let Some(b) = before {
            if kind == RowKind::Delete
                || plan
                    .key
                    .iter()
                    .any(|&k| Some(&b[k]) != after.map(|a| &a[k]))
            {
                if let Err(e) = self
                    .conn
                    .exec_drop(plan.delete.as_str(), params(b, &plan.key))
                    .await
                {
                    return (Err(e), false);
                }
            }
        }
        let Some(a) = after else {
            return (Ok(()), false);
        };
        let res = self
            .conn
            .exec_drop(plan.upsert.as_str(), params(a, &plan.cols))
            .await;
        let converted = res.is_ok() && self.conn.get_warnings() > 0;
        (res, converted)
    }

    /// The row just written took a value its column on the master could not hold, converted
    /// by the server with a warning (the column was narrowed, an `ENUM` shrunk, a character set
    /// changed while the origin wrote): recorded (kind `converted`) with the row as the master
    /// stored it and as it was sent, the server's warnings in the log. Every node converges on
    /// the master's row; the value as sent is kept in the conflict log.
    async fn record_converted(
        &mut self,
        chunk: &RowsChunk,
        plan: &TablePlan,
        before: Option<&[Value]>,
        after: &[Value],
    ) -> Result<()> {
        let meta = &chunk.table;
        // Read before any other statement resets them.
        let warnings: Vec<(String, u32, String)> = self
            .conn
            .query("SHOW WARNINGS LIMIT 5")
            .await
            .map_err(|e| self.wrap(meta, e))?;
        let warnings: Vec<String> = warnings
            .into_iter()
            .map(|(level, code, msg)| format!("{level} {code}: {msg}"))
            .collect();
        let stored = if plan.has_pk {
            let row = self.current_row(meta, plan, after).await?;
            row.and_then(|r| r.1)
        } else {
            None
        };
        warn!(table = %meta.full_name(), key = %row_key(meta, after),
              warnings = %warnings.join("; "),
              "the master's column cannot hold a value as sent: the server converted it; the row \
               as sent is kept in starsync.conflicts (kind converted)");
        self.record_conflict(chunk, before, Some(after), "converted", stored)
            .await
    }

    /// Other rows holding the after-image's value of a secondary unique key (another node
    /// wrote the same value under another primary key meanwhile): the incoming row takes the
    /// value (hub order), and each such row is recorded (kind `unique_displaced`, its image as
    /// the master's) and deleted, so the delete reaches every node and nothing goes silently.
    /// (Forced as is, `ON DUPLICATE KEY UPDATE` would have rewritten that row into this one.)
    async fn displace_unique(
        &mut self,
        chunk: &RowsChunk,
        plan: &TablePlan,
        before: Option<&[Value]>,
        after: &[Value],
    ) -> Result<()> {
        let meta = &chunk.table;
        for u in &plan.unique {
            // NULLs never collide in a unique key.
            if u.cols.iter().any(|&c| after[c] == Value::Null) {
                continue;
            }
            let (p, moved) = plan.others_params(u, before, after);
            let (select_others, delete_others) = u.others(moved);
            let others: Vec<Option<String>> = self
                .conn
                .exec(select_others, Params::Positional(p.clone()))
                .await
                .map_err(|e| self.wrap(meta, e))?;
            if others.is_empty() {
                continue;
            }
            for other in others {
                self.record_conflict(chunk, before, Some(after), "unique_displaced", other)
                    .await?;
            }
            match self
                .conn
                .exec_drop(delete_others, Params::Positional(p))
                .await
            {
                // Rows refer to it: it stays, and forcing the image records that (below).
                Err(mysql_async::Error::Server(ref s))
                    if crate::error::is_foreign_key_error(s.code) => {}
                r => r.map_err(|e| self.wrap(meta, e))?,
            }
        }
        Ok(())
    }

    /// A row of a table without a primary key: applied to one identical row, and a conflict
    /// (which cannot be resolved without a key) when there is none.
    async fn row_checked_nokey(
        &mut self,
        chunk: &RowsChunk,
        plan: &TablePlan,
        before: Option<&[Value]>,
        after: Option<&[Value]>,
    ) -> Result<()> {
        let meta = &chunk.table;
        let r = match (before, after) {
            (None, Some(a)) => self
                .conn
                .exec_drop(plan.insert.as_str(), params(a, &plan.cols))
                .await
                .map(|_| true),
            (Some(b), Some(a)) => self
                .conn
                .exec_drop(plan.update_by_row.as_str(), plan.update_by_row_params(b, a))
                .await
                .map(|_| self.conn.affected_rows() == 1),
            (Some(b), None) => self
                .conn
                .exec_drop(plan.delete.as_str(), params(b, &plan.key))
                .await
                .map(|_| self.conn.affected_rows() == 1),
            (None, None) => Ok(true),
        };
        match r {
            Ok(true) if after.is_some() && self.conn.get_warnings() > 0 => {
                self.record_converted(chunk, plan, before, after.unwrap())
                    .await
            }
            Ok(true) => Ok(()),
            Ok(false) => {
                let kind = if after.is_some() {
                    "no_key_update_missing"
                } else {
                    "no_key_delete_missing"
                };
                self.record_conflict(chunk, before, after, kind, None).await
            }
            Err(e) => match refused(&e) {
                Some(refusal) => {
                    warn!(table = %meta.full_name(), error = %e,
                          "the master refuses an incoming row");
                    self.record_conflict(chunk, before, after, refusal, None)
                        .await
                }
                None => Err(self.wrap(meta, e)),
            },
        }
    }

    /// Rows of a table the master does not have (dropped there while the snap wrote to it, or
    /// made on the snap only): none is applied, each is recorded in `starsync.conflicts` with
    /// its images (kind `table_missing`), so nothing the snap committed is lost from sight.
    pub(super) async fn rows_table_missing(
        &mut self,
        chunk: &RowsChunk,
        skip_row: Option<super::SkipRow<'_>>,
    ) -> Result<()> {
        let meta = &chunk.table;
        let rows = super::kept_rows(chunk, skip_row);
        if rows.is_empty() {
            return Ok(());
        }
        let open = self.open.as_mut().unwrap();
        open.conflicts += rows.len() as u64;
        let (gtid, origin) = (open.begin.gtid.to_string(), open.mode.origin.clone());
        warn!(table = %meta.full_name(), rows = rows.len(), kind = ?chunk.kind, origin = %origin,
              gtid = %gtid,
              "conflict: the table does not exist on the master (dropped there, or made on the \
               snap only); the rows are not applied and are kept in starsync.conflicts");
        let batch: Vec<Vec<mysql_async::Value>> = rows
            .iter()
            .map(|&(b, a)| conflict_row(meta, "table_missing", &origin, &gtid, None, b, a))
            .collect();
        self.conn
            .exec_batch(INSERT_CONFLICT, batch)
            .await
            .map_err(Error::db(
                "recording rows of a table the master does not have",
            ))?;
        Ok(())
    }

    async fn record_conflict(
        &mut self,
        chunk: &RowsChunk,
        before: Option<&[Value]>,
        after: Option<&[Value]>,
        kind: &str,
        master_image: Option<String>,
    ) -> Result<()> {
        let meta = &chunk.table;
        let open = self.open.as_mut().unwrap();
        open.conflicts += 1;
        let gtid = open.begin.gtid.to_string();
        let origin = open.mode.origin.clone();
        let key = row_key(meta, before.or(after).unwrap()).to_string();
        logged(&meta.full_name(), &key, kind, &origin, &gtid);
        let row = conflict_row(meta, kind, &origin, &gtid, master_image, before, after);
        self.conn
            .exec_drop(INSERT_CONFLICT, row)
            .await
            .map_err(Error::db("recording a conflict"))?;
        Ok(())
    }

    /// The master's row at `img`'s key ([`TablePlan::select_current`]): whether it equals
    /// `img`, and the row as JSON.
    async fn current_row(
        &mut self,
        meta: &crate::model::TableMeta,
        plan: &TablePlan,
        img: &[Value],
    ) -> Result<Option<(Option<i64>, Option<String>)>> {
        let mut p = params(img, &plan.cols);
        p.extend(params(img, &plan.key));
        self.conn
            .exec_first(plan.select_current.as_str(), Params::Positional(p))
            .await
            .map_err(|e| self.wrap(meta, e))
    }

    /// The conflicts of a non-transactional group (the hub; MyISAM, Aria), found before its
    /// one statement writes it ([`super::nontx`]): each row compared with the master's, as
    /// [`Applier::rows_checked`] compares a transactional table's. A row at a key an earlier
    /// row of the group wrote or left follows from that row, and is not compared. The
    /// conflicts are counted, logged and recorded only after the group's commit
    /// ([`Applier::record_conflicts_unlogged`]; a group refused after this has none): such a
    /// group is logged as its own statement, under the origin's GTID, and a conflict recorded
    /// in its transaction would be logged with it, or take a GTID of its own.
    pub(super) async fn check_non_transactional(
        &mut self,
        pending: &[(RowsChunk, std::sync::Arc<TablePlan>)],
    ) -> Result<Vec<NontxConflict>> {
        let Some(open) = self.open.as_ref() else {
            return Ok(Vec::new());
        };
        let (gtid, origin) = (open.begin.gtid.to_string(), open.mode.origin.clone());
        let mut seen = std::collections::HashSet::new();
        let mut found = Vec::new();
        for (chunk, plan) in pending {
            for (before, after) in chunk.rows() {
                let probe = before.or(after).unwrap();
                let key = |img: &[Value]| {
                    let mut k = String::new();
                    super::small::tuple_marked(img, &plan.key, None, &mut k);
                    k
                };
                let fresh = seen.insert(key(probe));
                if let (Some(b), Some(a)) = (before, after) {
                    seen.insert(key(a));
                    seen.insert(key(b));
                }
                if !fresh {
                    continue;
                }
                let current = self.current_row(&chunk.table, plan, probe).await?;
                if let Some(kind) = conflict_kind(chunk.kind, &current) {
                    let meta = &chunk.table;
                    found.push(NontxConflict {
                        table: meta.full_name(),
                        key: row_key(meta, probe).to_string(),
                        kind,
                        row: conflict_row(
                            meta,
                            kind,
                            &origin,
                            &gtid,
                            current.and_then(|c| c.1),
                            before,
                            after,
                        ),
                    });
                }
            }
        }
        Ok(found)
    }

    /// Records a non-transactional group's conflicts outside any transaction, unlogged, after
    /// its commit ([`Applier::check_non_transactional`]).
    pub(super) async fn record_conflicts_unlogged(
        &mut self,
        found: Vec<NontxConflict>,
        origin: &str,
        gtid: &str,
    ) -> Result<()> {
        let log = self.log_bin;
        self.set_log_bin(false).await?;
        for c in &found {
            logged(&c.table, &c.key, c.kind, origin, gtid);
        }
        self.conn
            .exec_batch(INSERT_CONFLICT, found.into_iter().map(|c| c.row))
            .await
            .map_err(Error::db("recording a conflict"))?;
        self.set_log_bin(log).await
    }
}

/// A conflict of a non-transactional group, recorded after its commit.
pub(super) struct NontxConflict {
    table: String,
    key: String,
    kind: &'static str,
    /// Its row of `starsync.conflicts` ([`conflict_row`]).
    row: Vec<mysql_async::Value>,
}

/// Logs a conflict resolved in hub order.
fn logged(table: &str, key: &str, kind: &str, origin: &str, gtid: &str) {
    warn!(
        table,
        key, kind, origin, gtid, "conflict: resolved in hub order and logged"
    );
}

/// The conflict an incoming row of `kind` meets, given the master's current row at its key
/// (`select_current`: whether it equals the row's before-image, or for an insert its image).
fn conflict_kind(
    kind: RowKind,
    current: &Option<(Option<i64>, Option<String>)>,
) -> Option<&'static str> {
    match (kind, current) {
        (RowKind::Insert, Some((Some(1), _))) => None, // the same row is already there
        (RowKind::Insert, Some(_)) => Some("insert_exists"),
        (RowKind::Insert, None) => None,
        (RowKind::Update, None) => Some("update_missing"),
        (RowKind::Update, Some((Some(1), _))) => None,
        (RowKind::Update, Some(_)) => Some("update_mismatch"),
        (RowKind::Delete, None) => Some("delete_missing"),
        (RowKind::Delete, Some((Some(1), _))) => None,
        (RowKind::Delete, Some(_)) => Some("delete_mismatch"),
    }
}

/// One row of `starsync.conflicts`, in [`conflict_row`]'s order.
const INSERT_CONFLICT: &str = "INSERT INTO starsync.conflicts (schema_name, table_name, kind, \
     row_key, origin_node, origin_gtid, master_image, incoming_before, incoming_after) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// The parameters of [`INSERT_CONFLICT`] for one incoming row.
fn conflict_row(
    meta: &crate::model::TableMeta,
    kind: &str,
    origin: &str,
    gtid: &str,
    master_image: Option<String>,
    before: Option<&[Value]>,
    after: Option<&[Value]>,
) -> Vec<mysql_async::Value> {
    let json = |i: Option<&[Value]>| i.map(|i| values::image_json(&meta.columns, i).to_string());
    vec![
        meta.schema.as_str().into(),
        meta.table.as_str().into(),
        kind.into(),
        row_key(meta, before.or(after).unwrap()).to_string().into(),
        origin.into(),
        gtid.into(),
        master_image.into(),
        json(before).into(),
        json(after).into(),
    ]
}

/// The conflict kind when `e` is the server refusing one row for what it holds (the master's
/// schema does not take it), or `None` for other errors.
fn refused(e: &mysql_async::Error) -> Option<&'static str> {
    let mysql_async::Error::Server(s) = e else {
        return None;
    };
    match s.code {
        c if crate::error::is_foreign_key_error(c) => Some("foreign_key"),
        4025 => Some("check_constraint"),
        1048 | 1364 => Some("not_null"),
        // Also ERROR 1300: a string that is not valid in the column's character set.
        c if super::CONVERSION_ERRORS.contains(&c) || c == 1300 => Some("bad_value"),
        _ => None,
    }
}

/// A row's key for the conflict log: its primary-key columns, or the whole row without one.
fn row_key(meta: &crate::model::TableMeta, img: &[Value]) -> serde_json::Value {
    if meta.primary_key.is_empty() {
        values::image_json(&meta.columns, img)
    } else {
        serde_json::Value::Object(
            meta.primary_key
                .iter()
                .map(|&i| {
                    let c = &meta.columns[i];
                    (c.name.clone(), values::column_json(c, &img[i]))
                })
                .collect(),
        )
    }
}

impl Applier {
    /// Moves the row `before` to `after` (another key of `plan`) with one `UPDATE`, as its
    /// origin did: keys that follow it (`ON UPDATE CASCADE`, `ON UPDATE SET NULL`) change the
    /// rows referring to it here as they did there, unlogged on both. False when it cannot:
    /// the row is not here, or a row here holds its new key or a unique value of it (the
    /// caller forces the move as a delete and an insert, hub order).
    pub(super) async fn move_by_update(
        &mut self,
        plan: &TablePlan,
        before: &[Value],
        after: &[Value],
    ) -> std::result::Result<bool, mysql_async::Error> {
        match self
            .conn
            .exec_drop(
                plan.update_by_row.as_str(),
                plan.update_by_row_params(before, after),
            )
            .await
        {
            Ok(()) => Ok(self.conn.affected_rows() > 0),
            Err(mysql_async::Error::Server(s)) if s.code == 1062 => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Whether an update from `before` to `after` moves the row to another key of `plan`.
fn moves_key(plan: &TablePlan, before: &[Value], after: Option<&[Value]>) -> bool {
    after.is_some_and(|a| plan.moves(before, a))
}
