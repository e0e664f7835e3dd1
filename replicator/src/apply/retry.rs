//! Retrying a transaction after a lock conflict.
//!
//! InnoDB resolves a deadlock (1213) or lock wait timeout (1205) by rolling the victim back. A
//! replicated transaction arrives as a stream of items, so it can only be replayed if its items
//! were kept: [`TxnBuffer`] keeps them while they fit in its byte limit. A larger transaction
//! that hits a lock conflict returns the error, and the caller resumes from the target's GTID
//! position (which the rolled-back transaction did not advance).

use std::time::Duration;

use tracing::warn;

use super::{Applier, Committed, SkipRow, TxnMode};
use crate::error::{Error, Result};
use crate::model::TxnItem;

/// Attempts after the first one.
const RETRIES: u32 = 8;

/// The open transaction's items, while they fit.
#[derive(Debug)]
pub struct TxnBuffer {
    items: Vec<TxnItem>,
    bytes: usize,
    overflow: bool,
    limit: usize,
}

impl TxnBuffer {
    pub fn new(limit: usize) -> Self {
        Self {
            items: Vec::new(),
            bytes: 0,
            overflow: false,
            limit,
        }
    }

    fn push(&mut self, item: &TxnItem) {
        if matches!(item, TxnItem::Begin(_)) {
            self.items.clear();
            self.bytes = 0;
            self.overflow = false;
        }
        if self.overflow {
            return;
        }
        self.bytes += item.approx_bytes();
        if self.bytes > self.limit {
            self.overflow = true;
            self.items = Vec::new();
        } else {
            self.items.push(item.clone());
        }
    }
}

/// Whether an error is a lock conflict that rolled the transaction back.
pub fn is_lock_conflict(e: &Error) -> bool {
    matches!(e.server_code(), Some(1205 | 1213))
}

/// Applies `item` in `mode`, replaying the buffered transaction after a lock conflict.
pub async fn apply_item(
    applier: &mut Applier,
    buf: &mut TxnBuffer,
    item: &TxnItem,
    mode: &TxnMode,
    skip: Option<SkipRow<'_>>,
) -> Result<Option<Committed>> {
    buf.push(item);
    let mut attempt = 0;
    // Whether the item was tried over rows here with own changes in flight (once).
    let mut own_tried = false;
    // A master change refused here because rows made here refer to its row ([`super::fk`]):
    // on a snap applying the master's stream only.
    let foreign = mode.preserve_gtid && !mode.detect_conflicts && !mode.echo;
    loop {
        let r = one(applier, item, mode, skip).await;
        match r {
            Err(e)
                if foreign
                    && super::fk::is_referenced(&e)
                    && !buf.overflow
                    && attempt < RETRIES =>
            {
                let TxnItem::Rows(chunk) = item else {
                    return Err(e);
                };
                attempt += 1;
                applier.abort().await?;
                replay_earlier(applier, buf, mode, skip).await?;
                if !own_tried {
                    own_tried = true;
                    if applier.refused_by_own_rows_only(&e, chunk).await? {
                        applier.apply_next_delete_over_own_rows();
                        continue;
                    }
                }
                if applier.delete_referring(&e, chunk).await? == 0 {
                    applier.abort().await.ok();
                    return Err(e);
                }
            }
            Err(e) if !buf.overflow && attempt < RETRIES && without_checks(&e, mode).is_some() => {
                let Some(TxnItem::Begin(b)) = buf.items.first() else {
                    return Err(e);
                };
                attempt += 1;
                warn!(gtid = %b.gtid, error = %e, "{}", without_checks(&e, mode).unwrap_or_default());
                applier.without_fk_checks(b.gtid);
                applier.abort().await?;
                replay_earlier(applier, buf, mode, skip).await?;
            }
            Err(mut e) if is_lock_conflict(&e) && !buf.overflow && attempt < RETRIES => {
                // The server rolled the whole transaction back: it is begun again and its
                // earlier items replayed, again after a lock conflict in the replay itself (the
                // item is never tried outside its transaction: in autocommit, each statement
                // would commit on its own, the first under the transaction's GTID).
                loop {
                    attempt += 1;
                    warn!(error = %e, attempt, "lock conflict; replaying the transaction");
                    applier.abort().await?;
                    tokio::time::sleep(Duration::from_millis(10 * u64::from(attempt))).await;
                    match replay_earlier(applier, buf, mode, skip).await {
                        Err(again) if is_lock_conflict(&again) && attempt < RETRIES => e = again,
                        Err(other) => {
                            applier.abort().await.ok();
                            return Err(other);
                        }
                        Ok(()) => break,
                    }
                }
            }
            other => return other,
        }
    }
}

/// Why a transaction that a foreign key refused with `e` is applied again without foreign key
/// checks, or `None` when it is not.
fn without_checks(e: &Error, mode: &TxnMode) -> Option<&'static str> {
    let foreign = mode.preserve_gtid && !mode.detect_conflicts && !mode.echo;
    if foreign && super::fk::is_referencing(e) {
        Some(
            "the master's change refers to a row this node deleted in a change of its own that \
             the master refuses (it holds rows referring to it): applied without foreign key \
             checks; the echo of that change brings the row back",
        )
    } else if mode.echo && (super::fk::is_referenced(e) || super::fk::is_referencing(e)) {
        Some(
            "an echo's rows meet, through a foreign key, rows this node wrote after that change \
             (their own echoes are still to come, and settle them): applied without foreign key \
             checks",
        )
    } else {
        None
    }
}

/// Applies again the items of the buffered transaction before its last (the one being
/// retried), after the transaction was rolled back; stops at the first error.
async fn replay_earlier(
    applier: &mut Applier,
    buf: &TxnBuffer,
    mode: &TxnMode,
    skip: Option<SkipRow<'_>>,
) -> Result<()> {
    let n = buf.items.len().saturating_sub(1);
    for earlier in &buf.items[..n] {
        one(applier, earlier, mode, skip).await?;
    }
    Ok(())
}

async fn one(
    applier: &mut Applier,
    item: &TxnItem,
    mode: &TxnMode,
    skip: Option<SkipRow<'_>>,
) -> Result<Option<Committed>> {
    match item {
        TxnItem::Rows(c) => {
            applier.rows(c, skip).await?;
            Ok(None)
        }
        other => applier.apply_item(other, mode).await,
    }
}
