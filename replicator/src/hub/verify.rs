//! `/verify`: per-table checksums on every node at a common GTID position.
//!
//! The hub lists the master's replicated tables, asks every connected agent to checksum them in a
//! consistent snapshot, and does the same on the master. Nodes are only comparable at the same
//! position, so while writes move the positions apart the round is repeated (up to ten times);
//! the answer says whether a common position was reached.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::status::{DifferingTable, LastVerify};
use super::HubCtx;
use crate::error::{Error, Result};
use crate::gtid::GtidPos;
use crate::verify::{compare, replicated_tables, snapshot_checksums, NodeSums, VerifyDoc};
use crate::wire::messages::Message;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// An agent's answer to a verify request.
#[derive(Debug)]
pub struct Answer {
    pub node: String,
    pub pos: GtidPos,
    pub sums: Vec<(String, Option<i64>)>,
    pub error: Option<String>,
}

const ROUNDS: u32 = 10;
const ROUND_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs a verification round (or several, until positions agree), of every replicated table or
/// only of `only` (`DB.TABLE`).
pub async fn verify(ctx: &Arc<HubCtx>, only: Option<&str>) -> Result<VerifyDoc> {
    let wanted = match only {
        None => None,
        Some(t) => match crate::repair::parse_table(t) {
            Some((db, name)) => Some(crate::apply::sql::qualified(&db, &name)),
            None => {
                return Err(Error::Request(format!(
                    "`{t}` is not a table name: give it as DB.TABLE (MOST.customers)"
                )))
            }
        },
    };
    let mut conn = mysql_async::Conn::new(ctx.cfg.mariadb.opts())
        .await
        .map_err(Error::db("connecting to the master to verify"))?;
    let mut tables = replicated_tables(&mut conn, &ctx.cfg.replicate).await?;
    if let Some(w) = &wanted {
        tables.retain(|t| t == w);
        if tables.is_empty() {
            conn.disconnect().await.ok();
            return Err(Error::Request(format!(
                "the master has no replicated table {w}: name a table of a database that \
                 replicates (DB.TABLE)"
            )));
        }
    }
    let known_snaps: Vec<String> = ctx
        .registry
        .snapshot()
        .nodes
        .into_iter()
        .filter(|n| n.role == "snap")
        .map(|n| n.name)
        .collect();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let (tx, mut rx) = mpsc::channel::<Answer>(64);
        ctx.verify_waiters.lock().unwrap().insert(id, tx);
        let senders: Vec<(String, mpsc::Sender<Message>)> = ctx
            .senders
            .lock()
            .unwrap()
            .iter()
            .map(|(n, s)| (n.clone(), s.clone()))
            .collect();
        let mut asked = Vec::new();
        for (name, s) in &senders {
            let req = Message::VerifyRequest {
                id,
                tables: tables.clone(),
            };
            if tokio::time::timeout(Duration::from_secs(5), s.send(req))
                .await
                .is_ok_and(|r| r.is_ok())
            {
                asked.push(name.clone());
            }
        }
        let (mpos, msums) = snapshot_checksums(&mut conn, &tables).await?;
        let mut answers: BTreeMap<String, Answer> = BTreeMap::new();
        let deadline = Instant::now() + ROUND_TIMEOUT;
        while answers.len() < asked.len() {
            match tokio::time::timeout_at(deadline.into(), rx.recv()).await {
                Ok(Some(a)) => {
                    answers.insert(a.node.clone(), a);
                }
                _ => break,
            }
        }
        ctx.verify_waiters.lock().unwrap().remove(&id);
        let position_equal = answers.values().all(|a| a.error.is_some() || a.pos == mpos);
        if !position_equal && attempt < ROUNDS {
            tokio::time::sleep(Duration::from_millis(300)).await;
            continue;
        }
        let mut nodes = vec![NodeSums {
            name: ctx.cfg.node.name.clone(),
            gtid_pos: mpos.to_string(),
            tables: msums.into_iter().collect(),
            error: None,
        }];
        for a in answers.values() {
            nodes.push(NodeSums {
                name: a.node.clone(),
                gtid_pos: a.pos.to_string(),
                tables: a.sums.iter().cloned().collect(),
                error: a.error.clone(),
            });
        }
        let mut missing: Vec<String> = known_snaps
            .iter()
            .filter(|n| answers.get(*n).is_none_or(|a| a.error.is_some()))
            .cloned()
            .collect();
        missing.sort();
        let differences = compare(&nodes);
        let equal = differences.is_empty() && missing.is_empty() && position_equal;
        info!(equal, attempt, differences = differences.len(), missing = ?missing, "verify done");
        conn.disconnect().await.ok();
        return Ok(VerifyDoc {
            equal,
            master_pos: mpos.to_string(),
            position_equal,
            attempts: attempt,
            nodes,
            differences,
            missing,
        });
    }
}

/// The hub's own verifications, every `every` (`[hub] verify_every_secs`) until `shutdown`:
/// what `master-admin verify` runs, so that a table that drifted is found without a DBA asking.
/// One that compared the nodes at one position goes to `/status` (`hub.last_verify`, which
/// `master-admin status` reads), and each table that differs is WARNed with the command that
/// makes it the master's. While writes keep the positions apart nothing is concluded; the next
/// one tries again.
pub async fn scheduled(ctx: Arc<HubCtx>, every: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let next_secs = every.as_secs();
        let doc = match verify(&ctx, None).await {
            Ok(doc) => doc,
            Err(e) => {
                warn!(error = %e, next_secs, "the scheduled verification failed");
                continue;
            }
        };
        if !doc.position_equal {
            info!(
                attempts = doc.attempts,
                next_secs,
                "scheduled verification: writes kept the nodes' positions apart, nothing \
                   concluded; the next one tries again"
            );
            continue;
        }
        let differences: Vec<DifferingTable> = doc
            .differences
            .iter()
            .map(|d| DifferingTable {
                table: d.table.clone(),
                node: d.node.clone(),
            })
            .collect();
        for d in &differences {
            warn!(table = %d.table, node = %d.node, position = %doc.master_pos,
                  "a table differs from the master's (scheduled verification): `{}` makes it \
                   the master's (--dry-run counts first)",
                  crate::repair::repair_command(&d.table, &d.node));
        }
        if differences.is_empty() {
            info!(position = %doc.master_pos, tables = doc.nodes.first().map_or(0, |n| n.tables.len()),
                  missing = ?doc.missing,
                  "scheduled verification: every table is equal on every connected node");
        }
        ctx.registry.set_last_verify(LastVerify {
            at: super::status::rfc3339(std::time::SystemTime::now()),
            position: doc.master_pos.clone(),
            differences,
            missing: doc.missing.clone(),
        });
    }
}
