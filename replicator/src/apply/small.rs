//! Small foreign transactions in one round trip.
//!
//! Item by item, a one-row transaction costs three round trips (GTID and `BEGIN`, the row, the
//! bookkeeping row and `COMMIT`). A snap applies mostly such transactions, so when a whole
//! transaction has arrived and is small, it is sent as one multi-statement text query with exact
//! literals ([`super::values::literal`]): `SET gtid…; BEGIN; INSERT … VALUES (…),(…) ON
//! DUPLICATE KEY UPDATE …; DELETE … WHERE (key) IN (…); <bookkeeping>; COMMIT`. The semantics are
//! those of the item-by-item path (force to image, rows in flight skipped); transactions it does
//! not cover (DDL, statements, tables without a primary key, big ones) go item by item. The
//! bookkeeping row is left out when a statement certainly writes a row (`Applier::small_sql`).

use std::sync::Arc;

use mysql_async::prelude::*;
use tracing::debug;

use super::sql::{ident, TablePlan};
use super::values::literal;
use super::{Applier, Committed, RowPair, SkipRow};
use crate::error::{Error, Result};
use crate::model::{RowKind, TableMeta, TxnItem, Value};

/// Rows a transaction may have to go this way.
pub const SMALL_ROWS: usize = 200;

/// Fails the query (ERROR 1242) unless the statement before it matched exactly one row (the
/// connection counts found rows). The failing branch is only evaluated when taken.
const CHECK_ONE_ROW: &str = "; SELECT IF(ROW_COUNT() = 1, 0, (SELECT 1 UNION ALL SELECT 1))";

/// `col<op>literal` for the columns `idx` of an image, joined by `sep`.
fn eq_list(img: &[Value], idx: &[usize], meta: &TableMeta, op: &str, sep: &str, out: &mut String) {
    for (n, &i) in idx.iter().enumerate() {
        if n > 0 {
            out.push_str(sep);
        }
        out.push_str(&ident(&meta.columns[i].name));
        out.push_str(op);
        literal(&img[i], out);
    }
}

/// Bytes (of row images, [`crate::model::RowsChunk::approx_bytes`]) a transaction may have to
/// be collected. Its query writes them as literals (bytes twice over, in hex), and a query must
/// fit the target's `max_allowed_packet` (16 MiB by default; checked again on the query built).
pub const SMALL_BYTES: usize = 4 << 20;

/// Collects a transaction while it stays small (at most [`SMALL_ROWS`] rows and [`SMALL_BYTES`]
/// bytes), so that it can be handled whole at its commit: applied in one round trip (the
/// agent's foreign transactions, the hub's ingest), or sent in one write, one wake-up on the
/// other side instead of one per item (the agent's capture, the hub's fan-out; a one-row
/// transaction is three items). A transaction that grows past the bounds, or has a statement,
/// goes on item by item. Nothing offered is ever dropped but an aborted collection.
#[derive(Debug, Default)]
pub struct SmallCollector {
    /// The items so far, their rows and bytes.
    held: Option<(Vec<TxnItem>, usize, usize)>,
}

/// What to do with the items offered so far.
#[derive(Debug)]
pub enum Collected {
    /// Kept (or dropped: an aborted collection); nothing to apply now.
    Held,
    /// A whole small transaction: try it in one round trip, else item by item.
    Whole(Vec<TxnItem>),
    /// Items to apply one by one (not collected, or the transaction grew too big).
    Items(Vec<TxnItem>),
}

impl Collected {
    /// The items to pass on now, in order.
    pub fn into_items(self) -> Vec<TxnItem> {
        match self {
            Collected::Held => Vec::new(),
            Collected::Whole(v) | Collected::Items(v) => v,
        }
    }
}

impl SmallCollector {
    /// Offers the next item of the stream; a `Begin` starts a collection when `start`.
    pub fn offer(&mut self, item: TxnItem, start: bool) -> Collected {
        match (item, self.held.take()) {
            (TxnItem::Begin(b), old) if start => {
                self.held = Some((vec![TxnItem::Begin(b)], 0, 0));
                // A collection cut short without its commit (never in a well-formed stream) is
                // handed back as it is: the next `Begin` ends it as it would item by item.
                old.map_or(Collected::Held, |(v, _, _)| Collected::Items(v))
            }
            (TxnItem::Rows(c), Some((mut held, rows, bytes))) => {
                let (rows, bytes) = (rows + c.len(), bytes + c.approx_bytes());
                held.push(TxnItem::Rows(c));
                if rows > SMALL_ROWS || bytes > SMALL_BYTES {
                    return Collected::Items(held);
                }
                self.held = Some((held, rows, bytes));
                Collected::Held
            }
            (TxnItem::Abort, Some(_)) => Collected::Held, // nothing of it was applied or sent
            (TxnItem::Commit(c), Some((mut held, _, _))) => {
                held.push(TxnItem::Commit(c));
                Collected::Whole(held)
            }
            (item, Some((mut held, _, _))) => {
                held.push(item);
                Collected::Items(held)
            }
            (item, None) => Collected::Items(vec![item]),
        }
    }

    /// Offers an item of a stream to send on: every transaction but DDL is collected. Returns
    /// the items to send now, in order.
    pub fn pass(&mut self, item: TxnItem) -> Vec<TxnItem> {
        let start = matches!(&item, TxnItem::Begin(b) if !b.ddl);
        self.offer(item, start).into_items()
    }
}

pub(crate) fn tuple(img: &[Value], idx: &[usize], out: &mut String) {
    tuple_marked(img, idx, None, out)
}

/// [`tuple`], each literal in its column's parameter mark when given (`CONVERT(? USING x)`,
/// [`TablePlan::marks`]).
pub(crate) fn tuple_marked(
    img: &[Value],
    idx: &[usize],
    marks: Option<&[String]>,
    out: &mut String,
) {
    out.push('(');
    for (n, &i) in idx.iter().enumerate() {
        if n > 0 {
            out.push_str(", ");
        }
        match marks.map(|m| m[i].as_str()).filter(|m| *m != "?") {
            Some(mark) => {
                let (head, tail) = mark.split_once('?').unwrap_or((mark, ""));
                out.push_str(head);
                literal(&img[i], out);
                out.push_str(tail);
            }
            None => literal(&img[i], out),
        }
    }
    out.push(')');
}

impl Applier {
    /// Applies `items` (`Begin`, `Rows`…, `Commit` of one foreign transaction) in one round trip.
    /// `Ok(None)`: not eligible, nothing was done; apply the items one by one instead.
    pub async fn apply_small(
        &mut self,
        items: &[TxnItem],
        skip: Option<SkipRow<'_>>,
    ) -> Result<Option<Committed>> {
        self.small(items, skip, false).await
    }

    /// The hub's variant: with conflict detection. Every statement only succeeds when nothing
    /// conflicts (plain `INSERT`; `UPDATE`/`DELETE` matching the whole before-image, followed by
    /// a check that fails the query unless exactly one row matched), so a conflict stops the
    /// query before its `COMMIT`; then it is rolled back and `Ok(None)` tells the caller to apply
    /// the items one by one, which records the conflict. Any statement error does the same (the
    /// item-by-item path reports it properly).
    pub async fn apply_small_checked(&mut self, items: &[TxnItem]) -> Result<Option<Committed>> {
        self.small(items, None, true).await
    }

    async fn small(
        &mut self,
        items: &[TxnItem],
        skip: Option<SkipRow<'_>>,
        checked: bool,
    ) -> Result<Option<Committed>> {
        let (Some(TxnItem::Begin(b)), Some(TxnItem::Commit(c))) = (items.first(), items.last())
        else {
            return Ok(None);
        };
        if b.ddl || c.gtid != b.gtid || self.in_txn() {
            return Ok(None);
        }
        let mut chunks = Vec::new();
        let mut rows = 0;
        for it in &items[1..items.len() - 1] {
            match it {
                // Changes made without foreign key checks are applied so, item by item.
                TxnItem::Rows(chunk) if !chunk.no_fk_checks => {
                    rows += chunk.len();
                    chunks.push(chunk);
                }
                _ => return Ok(None),
            }
        }
        // The collector keeps to these bounds; a caller that did not use it is held to them here.
        let bytes: usize = chunks.iter().map(|c| c.approx_bytes()).sum();
        if rows > SMALL_ROWS || bytes > SMALL_BYTES {
            return Ok(None);
        }
        if self.pos.contains(&b.gtid) {
            return Ok(Some(Committed {
                gtid: b.gtid,
                rows: 0,
                conflicts: 0,
                skipped: true,
                ddl_failed: None,
            }));
        }
        let mut plans = Vec::with_capacity(chunks.len());
        for chunk in &chunks {
            // Missing tables, tables without a key, sequences and system-versioned tables take
            // the item-by-item path, where their rows are handled.
            let Some(plan) = self.plan_if_exists(&chunk.table).await? else {
                return Ok(None);
            };
            // Changes of a non-transactional table are logged by the target as they happen,
            // not at the commit: they take the item-by-item path ([`Applier::rows`]). A group
            // its origin logged as non-transactional with only transactional tables is a
            // transaction that also changed a MyISAM table (logged on its own, before it).
            // The hub's deletes of a table that cascading keys refer to go row by row, each
            // after the rows referring to it ([`super::cascade`]).
            // So do a snap's deletes of such a table that leave a row alone (its cascade may
            // still be made here, [`Applier::cascade_here`]).
            // And a snap's deletes of such a table while rows of a table referring to it, at
            // any level, have images left alone (the master's own delete cascades to those
            // images, [`Applier::cascade_images`]), or own changes in flight (the delete may
            // have to be made without checks, [`Applier::delete_reaches_own_rows`]).
            if chunk.kind == RowKind::Delete && (checked || skip.is_some()) {
                let refs = self
                    .cascading_refs(&chunk.table.schema, &chunk.table.table)
                    .await?;
                let own = |r: &super::cascade::CascadeRef| {
                    self.left_images
                        .as_ref()
                        .is_some_and(|l| l.has_keys(&r.full_name()))
                };
                if !refs.is_empty()
                    && (checked
                        || skip.is_some_and(|f| chunk.rows().any(|(b, a)| f(&chunk.table, b, a)))
                        || refs.iter().any(own)
                        || self
                            .images_below(&chunk.table.schema, &chunk.table.table)
                            .await?)
                {
                    return Ok(None);
                }
            }
            // A move to another key under keys that follow it is made as an update
            // (`Applier::move_by_update`), item by item; on the hub, so is any update of
            // values such keys refer to (`Applier::update_with_follows`), and on a snap one
            // it leaves alone (what followed it may still be made here, `Applier::follow_here`).
            if chunk.kind == RowKind::Update {
                let refs = self
                    .update_cascading_refs(&chunk.table.schema, &chunk.table.table)
                    .await?;
                if !refs.is_empty()
                    && chunk.rows().any(|(b, a)| {
                        b.zip(a).is_some_and(|(bi, ai)| {
                            plan.moves(bi, ai)
                                || (super::cascade::carries_followers(&chunk.table, &refs, bi, ai)
                                    && (checked || skip.is_some_and(|f| f(&chunk.table, b, a))))
                        })
                    })
                {
                    return Ok(None);
                }
            }
            if !plan.has_pk
                || plan.sequence
                || plan.versioned_end.is_some()
                || plan.converts
                || (b.non_transactional && !plan.transactional)
            {
                return Ok(None);
            }
            plans.push(plan);
        }
        self.set_log_bin(true).await?;

        let g = b.gtid;
        // Forced inserts first go as plain `INSERT`s: a row inserted certainly reaches the
        // binlog, so the transaction needs no bookkeeping row. A key that already exists fails
        // that try; the second one forces the images as always.
        let mut plain = !checked;
        loop {
            let Some(q) = self.small_sql(b, &chunks, &plans, skip, checked, plain) else {
                return Ok(None);
            };
            let (sql, applied, extra) = (q.sql, q.rows, q.extra);
            // Too long for the target (its `max_allowed_packet`, less room for the header):
            // item by item, where every part is a statement of its own.
            if sql.len() + 1024 > self.max_packet {
                return Ok(None);
            }
            // A retry only helps when this try had a plain forced insert.
            plain = plain && q.plain_insert;
            self.gtid_session = Some((g.domain, g.server));
            let t0 = std::time::Instant::now();
            if let Err(e) = self.conn.query_drop(sql).await {
                // The server stopped at the failing statement, inside the transaction; the
                // session's GTID variables are unknown now.
                self.gtid_session = None;
                self.conn
                    .query_drop("ROLLBACK; SET SESSION gtid_seq_no=0")
                    .await
                    .ok();
                if let mysql_async::Error::Server(s) = &e {
                    // Item by item, whose error names the table and what to do.
                    if crate::error::is_foreign_key_error(s.code) {
                        return Ok(None);
                    }
                    if plain {
                        plain = false;
                        continue;
                    }
                    // A unique value another row holds here: item by item, where that row
                    // is displaced ([`Applier::rows_forced`]).
                    if checked || s.code == 1062 {
                        return Ok(None);
                    }
                }
                return Err(Error::Db {
                    context: format!("applying {g} in one round trip"),
                    source: e,
                });
            }
            self.pos.advance(g);
            self.commit_rows_done(&extra);
            debug!(target_node = %self.label, gtid = %g, rows = applied, query_us = t0.elapsed().as_micros() as u64, "applied");
            return Ok(Some(Committed {
                gtid: g,
                rows: applied,
                conflicts: 0,
                skipped: false,
                ddl_failed: None,
            }));
        }
    }

    /// The one query of a small transaction; `None`: not eligible after all (a key change in a
    /// checked update). `plain`: forced inserts as plain `INSERT`s.
    ///
    /// The bookkeeping row that makes the GTID land is left out when a statement certainly
    /// writes a row: a plain `INSERT` (an existing key fails the query), a checked `DELETE` (one
    /// row deleted). It costs about as much as a one-row transaction's own statement
    /// (measured). A checked `UPDATE` may match a row equal under its collation and change
    /// nothing, and an upsert may meet an equal row: those keep the bookkeeping row. A
    /// transaction that is one plain `INSERT` goes without `BEGIN` and `COMMIT` too: each
    /// statement of a multi-statement query is answered in its own packet, and under load each
    /// costs a wake-up on both sides.
    fn small_sql(
        &self,
        b: &crate::model::TxnBegin,
        chunks: &[&crate::model::RowsChunk],
        plans: &[Arc<TablePlan>],
        skip: Option<SkipRow<'_>>,
        checked: bool,
        plain: bool,
    ) -> Option<SmallQuery> {
        let g = b.gtid;
        let mut sql = String::with_capacity(512);
        if self.gtid_session != Some((g.domain, g.server)) {
            sql.push_str(&format!(
                "SET SESSION gtid_domain_id={}, server_id={}; ",
                g.domain, g.server
            ));
        }
        sql.push_str(&format!("SET SESSION gtid_seq_no={}", g.seq));
        let head = sql.len();
        let mut applied = 0u64;
        let mut lands = false;
        let mut plain_insert = false;
        // Only one chunk written, as a plain `INSERT`: one statement, which commits itself (the
        // session is in autocommit), without `BEGIN` and `COMMIT`.
        let mut written = 0;
        let mut single = false;
        // Checked (the hub's ingest): a value the master's column cannot hold fails the query,
        // and row by row the conversion is recorded ([`super::STRICT`]).
        let strict = if checked { super::STRICT } else { "" };
        for (chunk, plan) in chunks.iter().zip(plans) {
            let kept: Vec<RowPair<'_>> = super::kept_rows(chunk, skip);
            if kept.is_empty() {
                continue;
            }
            applied += kept.len() as u64;
            written += 1;
            single = written == 1 && chunk.kind == RowKind::Insert && (checked || plain);
            // `INSERT … VALUES (…), …` followed by `tail`.
            let insert =
                |imgs: &mut dyn Iterator<Item = &[Value]>, tail: &str, sql: &mut String| {
                    sql.push_str("; ");
                    sql.push_str(strict);
                    sql.push_str(&plan.insert_head);
                    for (n, img) in imgs.enumerate() {
                        if n > 0 {
                            sql.push_str(", ");
                        }
                        tuple(img, &plan.cols, sql);
                    }
                    sql.push_str(tail);
                };
            let upsert = |imgs: &mut dyn Iterator<Item = &[Value]>, sql: &mut String| {
                insert(imgs, &plan.upsert_tail, sql)
            };
            let delete = |imgs: &mut dyn Iterator<Item = &[Value]>, sql: &mut String| {
                sql.push_str(&format!(
                    "; DELETE FROM {} WHERE {} IN (",
                    plan.name, plan.key_cols
                ));
                for (n, img) in imgs.enumerate() {
                    if n > 0 {
                        sql.push_str(", ");
                    }
                    tuple(img, &plan.key, sql);
                }
                sql.push(')');
            };
            if checked {
                match chunk.kind {
                    RowKind::Insert => {
                        lands = true;
                        insert(&mut kept.iter().map(|(_, a)| a.unwrap()), "", &mut sql)
                    }
                    RowKind::Update | RowKind::Delete => {
                        for (bf, af) in &kept {
                            let b = bf.unwrap();
                            if af.is_some_and(|a| plan.moves(b, a)) {
                                return None; // a key change: item by item
                            }
                            match af {
                                Some(a) => {
                                    sql.push_str(&format!("; {strict}UPDATE {} SET ", plan.name));
                                    eq_list(a, &plan.cols, &chunk.table, " = ", ", ", &mut sql);
                                }
                                None => {
                                    lands = true;
                                    sql.push_str(&format!("; DELETE FROM {}", plan.name))
                                }
                            }
                            sql.push_str(" WHERE ");
                            eq_list(b, &plan.key, &chunk.table, " = ", " AND ", &mut sql);
                            sql.push_str(" AND ");
                            eq_list(b, &plan.cols, &chunk.table, " <=> ", " AND ", &mut sql);
                            sql.push_str(CHECK_ONE_ROW);
                        }
                    }
                }
                continue;
            }
            match chunk.kind {
                RowKind::Insert if plain => {
                    lands = true;
                    plain_insert = true;
                    insert(&mut kept.iter().map(|(_, a)| a.unwrap()), "", &mut sql)
                }
                RowKind::Insert => upsert(&mut kept.iter().map(|(_, a)| a.unwrap()), &mut sql),
                RowKind::Delete => delete(&mut kept.iter().map(|(b, _)| b.unwrap()), &mut sql),
                RowKind::Update => {
                    if super::moves_a_key(plan, &kept) {
                        // A key change: item by item, as the update it was at its origin
                        // (`Applier::rows_forced`).
                        return None;
                    }
                    upsert(&mut kept.iter().map(|(_, a)| a.unwrap()), &mut sql);
                }
            }
        }
        // Asked for after the rows: leaving rows alone adds to them.
        let extra = self.commit_rows_sql();
        if extra.iter().map(String::len).sum::<usize>() > SMALL_BYTES {
            return None;
        }
        // Only one plain `INSERT` and nothing else to write: it commits itself.
        if !single || !extra.is_empty() {
            sql.insert_str(head, "; BEGIN");
            if !lands {
                sql.push_str(&format!(
                    "; INSERT INTO starsync.applied (domain_id, server_id, seq_no, origin_ts, \
                     applied_at) VALUES ({}, {}, {}, {}, NOW(6)) ON DUPLICATE KEY UPDATE \
                     server_id=VALUES(server_id), seq_no=VALUES(seq_no), \
                     origin_ts=VALUES(origin_ts), applied_at=VALUES(applied_at)",
                    g.domain, g.server, g.seq, b.timestamp
                ));
            }
            for q in &extra {
                sql.push_str("; ");
                sql.push_str(q);
            }
            sql.push_str("; COMMIT");
        }
        Some(SmallQuery {
            sql,
            rows: applied,
            plain_insert,
            extra,
        })
    }
}

/// A small transaction's one query.
struct SmallQuery {
    sql: String,
    /// Rows it writes.
    rows: u64,
    /// Whether it has a forced insert sent as a plain `INSERT` (an existing key fails it).
    plain_insert: bool,
    /// The [`super::CommitRows`] statements it runs before its `COMMIT`.
    extra: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gtid::Gtid;
    use crate::model::{RowsChunk, TxnBegin, TxnCommit};
    use std::sync::Arc;

    fn begin() -> TxnItem {
        begin_ddl(false)
    }

    fn begin_ddl(ddl: bool) -> TxnItem {
        TxnItem::Begin(TxnBegin {
            gtid: Gtid::new(2, 2, 1),
            timestamp: 0,
            ddl,
            non_transactional: false,
        })
    }

    /// One chunk of `n` rows of one blob of `len` bytes each.
    fn blobs(n: usize, len: usize) -> TxnItem {
        let table = Arc::new(crate::model::int_table(&["b"]));
        TxnItem::Rows(RowsChunk {
            no_fk_checks: false,
            table,
            kind: RowKind::Insert,
            values: (0..n)
                .map(|_| Value::Bytes(vec![b'x'; len].into()))
                .collect(),
        })
    }

    fn rows(n: usize) -> TxnItem {
        let table = Arc::new(crate::model::int_table(&["id"]));
        TxnItem::Rows(RowsChunk {
            no_fk_checks: false,
            table,
            kind: RowKind::Insert,
            values: (0..n as i64).map(Value::Int).collect(),
        })
    }

    fn commit() -> TxnItem {
        TxnItem::Commit(TxnCommit {
            gtid: Gtid::new(2, 2, 1),
            rows: 0,
        })
    }

    #[test]
    fn collects_small_transactions_and_hands_back_big_ones() {
        let mut c = SmallCollector::default();
        assert!(matches!(c.offer(begin(), true), Collected::Held));
        assert!(matches!(c.offer(rows(SMALL_ROWS), true), Collected::Held));
        assert!(matches!(c.offer(commit(), true), Collected::Whole(v) if v.len() == 3));
        // Too big: what was held comes back with the chunk, the rest goes item by item.
        assert!(matches!(c.offer(begin(), true), Collected::Held));
        assert!(matches!(c.offer(rows(SMALL_ROWS + 1), true), Collected::Items(v) if v.len() == 2));
        assert!(matches!(c.offer(commit(), true), Collected::Items(v) if v.len() == 1));
        // Not collected when the caller says so; an aborted collection is dropped.
        assert!(matches!(c.offer(begin(), false), Collected::Items(v) if v.len() == 1));
        assert!(matches!(c.offer(begin(), true), Collected::Held));
        assert!(matches!(c.offer(TxnItem::Abort, true), Collected::Held));
        assert!(matches!(c.offer(commit(), true), Collected::Items(v) if v.len() == 1));
        // Few rows but many bytes: too big as well (bytes at most the bound is small).
        assert!(matches!(c.offer(begin(), true), Collected::Held));
        assert!(matches!(
            c.offer(blobs(2, SMALL_BYTES / 4), true),
            Collected::Held
        ));
        assert!(
            matches!(c.offer(blobs(2, SMALL_BYTES / 4), true), Collected::Items(v) if v.len() == 3)
        );
        assert!(matches!(c.offer(commit(), true), Collected::Items(v) if v.len() == 1));
        // A collection cut short by the next `Begin` is handed back, not dropped.
        assert!(matches!(c.offer(begin(), true), Collected::Held));
        assert!(matches!(c.offer(rows(1), true), Collected::Held));
        assert!(matches!(c.offer(begin(), true), Collected::Items(v) if v.len() == 2));
        assert!(matches!(c.offer(commit(), true), Collected::Whole(v) if v.len() == 2));
    }

    #[test]
    fn passes_whole_small_transactions_and_ddl_at_once() {
        let mut h = SmallCollector::default();
        assert!(h.pass(begin()).is_empty());
        assert!(h.pass(rows(3)).is_empty());
        assert_eq!(
            h.pass(commit()).len(),
            3,
            "the whole transaction at its commit"
        );
        // Past the bound: what was held goes with the chunk, the rest item by item.
        assert!(h.pass(begin()).is_empty());
        assert_eq!(h.pass(rows(SMALL_ROWS + 1)).len(), 2);
        assert_eq!(h.pass(rows(1)).len(), 1);
        assert_eq!(h.pass(commit()).len(), 1);
        // DDL is not held.
        assert_eq!(h.pass(begin_ddl(true)).len(), 1);
        assert_eq!(h.pass(commit()).len(), 1);
    }
}
