//! `POST /repair?table=DB.TABLE&node=SNAP[&dry_run=1]`: one table of one snap made the
//! master's ([`crate::repair`]).
//!
//! The request goes to the snap's fan-out, which opens the master's snapshot between two
//! transactions and sends the rows when its stream reaches the snapshot's position; the answer
//! is the snap's report.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tracing::info;

use super::HubCtx;
use crate::error::{Error, Result};
use crate::gtid::GtidPos;
use crate::repair::RepairReport;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// How long the snap's fan-out may take to reach the snapshot's position.
pub const REACH_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the snap may take to report after the rows are sent.
const REPORT_TIMEOUT: Duration = Duration::from_secs(600);

/// A repair waiting for the snap's report: the queue of the fan-out it went to, and where the
/// report goes.
pub type Waiter = (mpsc::Sender<RepairJob>, oneshot::Sender<RepairReport>);

/// A repair handed to a snap's fan-out.
pub struct RepairJob {
    pub id: u64,
    pub schema: String,
    pub table: String,
    pub dry_run: bool,
    /// Told once the rows are sent (the snapshot's position), or why they were not.
    pub sent: oneshot::Sender<Result<GtidPos>>,
}

/// Runs a repair of `table` (`DB.TABLE`) on snap `node` and returns the snap's report.
pub async fn repair(
    ctx: &Arc<HubCtx>,
    table: &str,
    node: &str,
    dry_run: bool,
) -> Result<RepairReport> {
    let Some((schema, name)) = crate::repair::parse_table(table) else {
        return Err(Error::Request(format!(
            "`{table}` is not a table name: give it as DB.TABLE (MOST.customers)"
        )));
    };
    if !ctx.cfg.replicate.replicates(&schema) {
        return Err(Error::Request(format!(
            "database {schema} does not replicate (hub config [replicate]): its tables are not \
             the master's on the snaps, so there is nothing to repair"
        )));
    }
    if node == ctx.cfg.node.name {
        return Err(Error::Request(format!(
            "{node} is the master: its tables are what snaps are repaired from; name a snap"
        )));
    }
    let jobs = ctx.repairs.lock().unwrap().get(node).cloned();
    let Some(jobs) = jobs else {
        let mut connected: Vec<String> = ctx.repairs.lock().unwrap().keys().cloned().collect();
        connected.sort();
        return Err(Error::Request(format!(
            "snap {node} is not connected to the hub (connected: {}): a repair goes through its \
             stream; start its agent, or name another snap",
            if connected.is_empty() {
                "none".to_string()
            } else {
                connected.join(", ")
            }
        )));
    };
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let (report_tx, report_rx) = oneshot::channel();
    ctx.repair_waiters
        .lock()
        .unwrap()
        .insert(id, (jobs.clone(), report_tx));
    let result = async {
        let (sent_tx, sent_rx) = oneshot::channel();
        let job = RepairJob {
            id,
            schema: schema.clone(),
            table: name.clone(),
            dry_run,
            sent: sent_tx,
        };
        info!(node, table = %format!("{schema}.{name}"), dry_run, "repair requested");
        jobs.send(job).await.map_err(|_| ended(node))?;
        let pos = match sent_rx.await {
            Ok(Ok(pos)) => pos,
            // The session went while the rows were sent.
            Err(_) | Ok(Err(Error::Protocol { .. })) => return Err(ended(node)),
            Ok(Err(e)) => return Err(e),
        };
        let mut report = tokio::time::timeout(REPORT_TIMEOUT, report_rx)
            .await
            .map_err(|_| {
                Error::Request(format!(
                    "snap {node} did not report on the repair within {} s after the rows were \
                     sent (position {pos}); its agent's log says how it went",
                    REPORT_TIMEOUT.as_secs()
                ))
            })?
            .map_err(|_| ended(node))?;
        report.node = node.to_string();
        Ok(report)
    }
    .await;
    ctx.repair_waiters.lock().unwrap().remove(&id);
    result
}

fn ended(node: &str) -> Error {
    Error::Request(format!(
        "the session of snap {node} ended before the repair was done; nothing was changed unless \
         its agent's log says so. Try again once it is connected"
    ))
}

/// A repair waiting in a snap's fan-out: its snapshot is open.
pub struct Pending {
    pub job: RepairJob,
    pub snapshot: crate::repair::source::TableSnapshot,
    pub deadline: tokio::time::Instant,
}

/// Channel of repairs for one fan-out, registered under the snap's name while it runs.
pub fn register(ctx: &HubCtx, node: &str) -> (mpsc::Receiver<RepairJob>, mpsc::Sender<RepairJob>) {
    let (tx, rx) = mpsc::channel(4);
    ctx.repairs
        .lock()
        .unwrap()
        .insert(node.to_string(), tx.clone());
    (rx, tx)
}

/// Removes the registration made by [`register`] (unless a newer session replaced it); the
/// repairs that went to this fan-out and wait for their report end (the session is gone).
pub fn unregister(ctx: &HubCtx, node: &str, tx: &mpsc::Sender<RepairJob>) {
    {
        let mut m = ctx.repairs.lock().unwrap();
        if m.get(node).is_some_and(|t| t.same_channel(tx)) {
            m.remove(node);
        }
    }
    ctx.repair_waiters
        .lock()
        .unwrap()
        .retain(|_, (jobs, _)| !jobs.same_channel(tx));
}
