//! A steady write load that knows what it committed.
//!
//! Each writer owns a node tag; transaction `n` inserts row `tag·10⁹ + n` into `MOST.w` and
//! increments the writer's row in `MOST.counters`. A transaction whose COMMIT returned OK is
//! *committed*; one whose connection broke during COMMIT is *uncertain* (it may or may not have
//! committed); any other failure rolled back. After the cluster converges, every node must hold
//! every committed row, no row that was never attempted, and a counter equal to its rows: no
//! write lost, none doubled.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use mysql_async::prelude::*;

use crate::mariadb::{Node, APP_PASSWORD, APP_USER};

/// A running load: one [`writer`] per node.
pub struct Load {
    stop: Arc<AtomicBool>,
    writers: Vec<tokio::task::JoinHandle<Outcome>>,
}

impl Load {
    /// Starts a writer on each of `nodes` (the master as root, snaps as the application user,
    /// as their users would), tagged with the node's server id, pausing `pause` between
    /// transactions.
    pub fn start<'a>(nodes: impl IntoIterator<Item = &'a Node>, pause: Duration) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let writers = nodes
            .into_iter()
            .map(|node| {
                let opts = if node.name() == "master" {
                    node.opts()
                } else {
                    node.opts_as(APP_USER, APP_PASSWORD)
                };
                tokio::spawn(writer(
                    opts,
                    node.spec.server_id as u64,
                    stop.clone(),
                    pause,
                ))
            })
            .collect();
        Load { stop, writers }
    }

    /// Stops every writer and returns what each did (also printed, one line per writer).
    pub async fn finish(self) -> Vec<Outcome> {
        self.stop.store(true, Ordering::Relaxed);
        let mut outcomes = Vec::new();
        for w in self.writers {
            let o = w.await.expect("a writer panicked");
            println!(
                "writer {}: {} committed, {} uncertain, {} failed",
                o.tag,
                o.committed.len(),
                o.uncertain.len(),
                o.failed
            );
            outcomes.push(o);
        }
        outcomes
    }
}

/// DDL for the load's tables (run on the master).
pub const SCHEMA: &str = "CREATE DATABASE IF NOT EXISTS MOST; \
    CREATE TABLE IF NOT EXISTS MOST.w (id BIGINT PRIMARY KEY, node INT NOT NULL, n INT NOT NULL, \
      payload VARCHAR(100), KEY (node)); \
    CREATE TABLE IF NOT EXISTS MOST.counters (node INT PRIMARY KEY, c BIGINT NOT NULL)";

/// What one writer did.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    pub tag: u64,
    pub committed: Vec<u64>,
    pub uncertain: Vec<u64>,
    pub failed: u64,
}

/// Writes until `stop` is set, pausing `pause` between transactions.
pub async fn writer(
    opts: mysql_async::Opts,
    tag: u64,
    stop: Arc<AtomicBool>,
    pause: Duration,
) -> Outcome {
    writer_counting(opts, tag, stop, pause, Arc::new(AtomicU64::new(0))).await
}

/// Like [`writer`], also counting commits in `committed` as they happen (for throughput).
pub async fn writer_counting(
    opts: mysql_async::Opts,
    tag: u64,
    stop: Arc<AtomicBool>,
    pause: Duration,
    committed: Arc<AtomicU64>,
) -> Outcome {
    let mut out = Outcome {
        tag,
        ..Default::default()
    };
    let mut conn: Option<mysql_async::Conn> = None;
    let mut n: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        if conn.is_none() {
            match mysql_async::Conn::new(opts.clone()).await {
                Ok(c) => conn = Some(c),
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            }
        }
        let c = conn.as_mut().unwrap();
        n += 1;
        let id = tag * 1_000_000_000 + n;
        let body = async {
            c.query_drop("BEGIN").await?;
            c.exec_drop(
                "INSERT INTO MOST.w VALUES (?, ?, ?, ?)",
                (id, tag, n, format!("payload {n} from {tag}")),
            )
            .await?;
            c.exec_drop(
                "INSERT INTO MOST.counters VALUES (?, 1) ON DUPLICATE KEY UPDATE c = c + 1",
                (tag,),
            )
            .await?;
            Ok::<_, mysql_async::Error>(())
        };
        match body.await {
            Err(_) => {
                out.failed += 1;
                conn = None;
            }
            Ok(()) => match c.query_drop("COMMIT").await {
                Ok(()) => {
                    out.committed.push(n);
                    committed.fetch_add(1, Ordering::Relaxed);
                }
                Err(mysql_async::Error::Server(_)) => out.failed += 1,
                Err(_) => {
                    out.uncertain.push(n);
                    conn = None;
                }
            },
        }
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
    out
}

/// Checks a converged node against the writers' outcomes.
pub async fn verify(node: &Node, outcomes: &[Outcome]) -> Result<()> {
    for o in outcomes {
        let ns: Vec<u64> = node
            .query(&format!(
                "SELECT n FROM MOST.w WHERE node = {} ORDER BY n",
                o.tag
            ))
            .await?;
        let have: std::collections::BTreeSet<u64> = ns.iter().copied().collect();
        anyhow::ensure!(
            have.len() == ns.len(),
            "duplicate rows for writer {}",
            o.tag
        );
        for n in &o.committed {
            anyhow::ensure!(
                have.contains(n),
                "{}: committed write {} of writer {} is lost",
                node.name(),
                n,
                o.tag
            );
        }
        for n in &have {
            anyhow::ensure!(
                o.committed.contains(n) || o.uncertain.contains(n),
                "{}: row {} of writer {} was never committed",
                node.name(),
                n,
                o.tag
            );
        }
        let c: Vec<Option<i64>> = node
            .query(&format!(
                "SELECT MAX(c) FROM MOST.counters WHERE node = {}",
                o.tag
            ))
            .await?;
        let c = c[0].unwrap_or(0) as usize;
        anyhow::ensure!(
            c == have.len(),
            "{}: counter of writer {} is {c} but it has {} rows (a write applied twice or lost)",
            node.name(),
            o.tag,
            have.len()
        );
    }
    Ok(())
}
