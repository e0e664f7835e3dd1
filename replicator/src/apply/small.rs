//! Small foreign transactions in one round trip.
//!
//! Item by item, a one-row transaction costs three round trips (GTID and `BEGIN`, the row, the
//! bookkeeping row and `COMMIT`). A snap applies mostly such transactions, so when a whole
//! transaction has arrived and is small, it is sent as one multi-statement text query with exact
//! literals ([`super::values::literal`]): `SET gtid…; BEGIN; INSERT … VALUES (…),(…) ON
//! DUPLICATE KEY UPDATE …; DELETE … WHERE (key) IN (…); <bookkeeping>; COMMIT`. The semantics are
//! those of the item-by-item path (force to image, rows in flight skipped); transactions it does
//! not cover (DDL, statements, tables without a primary key, big ones) go item by item.

use mysql_async::prelude::*;
use tracing::debug;

use super::sql::{ident, TablePlan};
use super::values::literal;
use super::{Applier, Committed, RowPair, SkipRow};
use crate::error::{Error, Result};
use crate::model::{RowKind, TxnItem, Value};

/// Rows a transaction may have to go this way.
pub const SMALL_ROWS: usize = 200;

/// Fails the query (ERROR 1242) unless the statement before it matched exactly one row (the
/// connection counts found rows). The failing branch is only evaluated when taken.
const CHECK_ONE_ROW: &str = "; SELECT IF(ROW_COUNT() = 1, 0, (SELECT 1 UNION ALL SELECT 1))";

/// `col<op>literal` for the columns `idx` of an image, joined by `sep`.
fn eq_list(img: &[Value], idx: &[usize], plan: &TablePlan, op: &str, sep: &str, out: &mut String) {
    for (n, &i) in idx.iter().enumerate() {
        if n > 0 {
            out.push_str(sep);
        }
        out.push_str(&ident(&plan.meta_names[i]));
        out.push_str(op);
        literal(&img[i], out);
    }
}

fn tuple(img: &[Value], idx: &[usize], out: &mut String) {
    out.push('(');
    for (n, &i) in idx.iter().enumerate() {
        if n > 0 {
            out.push_str(", ");
        }
        literal(&img[i], out);
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
                TxnItem::Rows(chunk) => {
                    rows += chunk.len();
                    chunks.push(chunk);
                }
                _ => return Ok(None),
            }
        }
        if rows > SMALL_ROWS {
            return Ok(None);
        }
        if self.pos.contains(&b.gtid) {
            return Ok(Some(Committed {
                gtid: b.gtid,
                rows: 0,
                conflicts: 0,
                skipped: true,
            }));
        }
        let mut plans = Vec::with_capacity(chunks.len());
        for chunk in &chunks {
            let plan = self.plan(&chunk.table).await?;
            if !plan.has_pk {
                return Ok(None);
            }
            plans.push(plan);
        }
        self.set_log_bin(true).await?;

        let g = b.gtid;
        let mut sql = String::with_capacity(512);
        if self.gtid_session != Some((g.domain, g.server)) {
            sql.push_str(&format!(
                "SET SESSION gtid_domain_id={}, server_id={}; ",
                g.domain, g.server
            ));
        }
        sql.push_str(&format!("SET SESSION gtid_seq_no={}; BEGIN", g.seq));
        let mut applied = 0u64;
        for (chunk, plan) in chunks.iter().zip(&plans) {
            let kept: Vec<RowPair<'_>> = super::kept_rows(chunk, skip);
            if kept.is_empty() {
                continue;
            }
            applied += kept.len() as u64;
            let upsert = |imgs: &mut dyn Iterator<Item = &[Value]>, sql: &mut String| {
                sql.push_str("; ");
                sql.push_str(&plan.insert_head);
                for (n, img) in imgs.enumerate() {
                    if n > 0 {
                        sql.push_str(", ");
                    }
                    tuple(img, &plan.cols, sql);
                }
                sql.push_str(&plan.upsert_tail);
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
                        sql.push_str("; ");
                        sql.push_str(&plan.insert_head);
                        for (n, (_, a)) in kept.iter().enumerate() {
                            if n > 0 {
                                sql.push_str(", ");
                            }
                            tuple(a.unwrap(), &plan.cols, &mut sql);
                        }
                    }
                    RowKind::Update | RowKind::Delete => {
                        for (bf, af) in &kept {
                            let b = bf.unwrap();
                            if af.is_some_and(|a| plan.key.iter().any(|&k| a[k] != b[k])) {
                                return Ok(None); // a key change: item by item
                            }
                            match af {
                                Some(a) => {
                                    sql.push_str(&format!("; UPDATE {} SET ", plan.name));
                                    eq_list(a, &plan.cols, plan, " = ", ", ", &mut sql);
                                }
                                None => sql.push_str(&format!("; DELETE FROM {}", plan.name)),
                            }
                            sql.push_str(" WHERE ");
                            eq_list(b, &plan.key, plan, " = ", " AND ", &mut sql);
                            sql.push_str(" AND ");
                            eq_list(b, &plan.cols, plan, " <=> ", " AND ", &mut sql);
                            sql.push_str(CHECK_ONE_ROW);
                        }
                    }
                }
                continue;
            }
            match chunk.kind {
                RowKind::Insert => upsert(&mut kept.iter().map(|(_, a)| a.unwrap()), &mut sql),
                RowKind::Delete => delete(&mut kept.iter().map(|(b, _)| b.unwrap()), &mut sql),
                RowKind::Update => {
                    let moved = kept
                        .iter()
                        .any(|(bf, af)| plan.key.iter().any(|&k| bf.unwrap()[k] != af.unwrap()[k]));
                    if moved {
                        // In the origin's row order: move each row.
                        for (bf, af) in &kept {
                            delete(&mut std::iter::once(bf.unwrap()), &mut sql);
                            upsert(&mut std::iter::once(af.unwrap()), &mut sql);
                        }
                    } else {
                        upsert(&mut kept.iter().map(|(_, a)| a.unwrap()), &mut sql);
                    }
                }
            }
        }
        sql.push_str(&format!(
            "; INSERT INTO starsync.applied (domain_id, server_id, seq_no, origin_ts, applied_at) \
             VALUES ({}, {}, {}, {}, NOW(6)) ON DUPLICATE KEY UPDATE server_id=VALUES(server_id), \
             seq_no=VALUES(seq_no), origin_ts=VALUES(origin_ts), applied_at=VALUES(applied_at); \
             COMMIT",
            g.domain, g.server, g.seq, b.timestamp
        ));
        self.gtid_session = Some((g.domain, g.server));
        if let Err(e) = self.conn.query_drop(sql).await {
            // The server stopped at the failing statement, inside the transaction; the session's
            // GTID variables are unknown now.
            self.gtid_session = None;
            self.conn
                .query_drop("ROLLBACK; SET SESSION gtid_seq_no=0")
                .await
                .ok();
            if checked && matches!(e, mysql_async::Error::Server(_)) {
                return Ok(None);
            }
            return Err(Error::Db {
                context: format!("applying {g} in one round trip"),
                source: e,
            });
        }
        self.pos.advance(g);
        debug!(target_node = %self.label, gtid = %g, rows = applied, "applied");
        Ok(Some(Committed {
            gtid: g,
            rows: applied,
            conflicts: 0,
            skipped: false,
        }))
    }
}
