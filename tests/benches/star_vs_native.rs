//! Benchmark: the same workload through starsync (snap → master → other snap) and through
//! MariaDB's native replication (master → replica), in one run on this machine.
//!
//! `cargo bench -p starsync-tests --bench star_vs_native`. Prints throughput of a bulk 1M-row
//! insert and lag p50/p99 under a steady small-transaction load for both, and their ratios.
//! Targets: throughput ≥ 0.5× native, p99 lag ≤ 2× native. Both sides measure lag first, on
//! quiet servers, then the bulk phases. `STAR_ONLY=1` skips native, `LAG_ONLY=1` the bulk
//! phases, `STAR_TLS=1` runs starsync's agents and hub in TLS.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use starsync_tests::mariadb::{REPL_PASSWORD, REPL_USER};
use starsync_tests::star::app_conn;
use starsync_tests::{Cluster, Node, NodeSpec, Star};

const BULK_ROWS: u64 = 1_000_000;
const LAG_SECONDS: u64 = 15;
const LAG_RATE: u64 = 200; // transactions per second

fn spec(s: NodeSpec) -> NodeSpec {
    s.arg("--innodb-buffer-pool-size=1G")
        .arg("--innodb-log-file-size=1G")
}

const SCHEMA: &str = "CREATE DATABASE IF NOT EXISTS MOST; \
    CREATE TABLE MOST.bulk (id BIGINT PRIMARY KEY, a INT, b VARCHAR(40), c DOUBLE, \
      d DATETIME(3), e DECIMAL(12,2), f VARCHAR(64), g TINYINT UNSIGNED); \
    CREATE TABLE MOST.bulk2 LIKE MOST.bulk; CREATE TABLE MOST.bulk3 LIKE MOST.bulk; \
    CREATE TABLE MOST.lag (n BIGINT PRIMARY KEY, payload VARCHAR(100)); \
    CREATE TABLE MOST.lag1 LIKE MOST.lag";

/// Waits until `node` holds `gtid_seq` of `domain` (in its binlog: a starsync node; or as
/// replica position: a native replica); returns when it did.
async fn wait_gtid(node: &Node, domain: u32, seq: u64) -> anyhow::Result<Instant> {
    let mut c = node.conn().await?;
    loop {
        let p: Option<(String, String)> = c
            .query_first("SELECT @@gtid_binlog_pos, @@gtid_slave_pos")
            .await?;
        let (b, s) = p.unwrap_or_default();
        let has = |t: &str| -> anyhow::Result<bool> {
            let pos: replicator::gtid::GtidPos = t.parse()?;
            Ok(pos.get(domain).is_some_and(|g| g.seq >= seq))
        };
        if has(&b)? || has(&s)? {
            return Ok(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// One bulk transaction of 1M rows on `origin`; returns rows/s until `dest` holds it.
async fn bulk(
    table: &str,
    origin: &mut mysql_async::Conn,
    origin_domain: u32,
    dest: &Node,
    via: Option<&Node>,
) -> anyhow::Result<f64> {
    origin
        .query_drop(format!(
            "USE MOST; INSERT INTO {table} SELECT seq, seq % 1000, CONCAT('name-', seq), seq / 7, \
             '2024-01-01 00:00:00' + INTERVAL seq SECOND, seq / 100, REPEAT('t', seq % 50), \
             seq % 256 FROM seq_1_to_{BULK_ROWS}"
        ))
        .await?;
    let committed = Instant::now();
    let p: Option<String> = origin.query_first("SELECT @@gtid_binlog_pos").await?;
    let pos: replicator::gtid::GtidPos = p.unwrap_or_default().parse()?;
    let seq = pos.get(origin_domain).unwrap().seq;
    let (done, hop) = tokio::join!(wait_gtid(dest, origin_domain, seq), async {
        match via {
            Some(v) => wait_gtid(v, origin_domain, seq).await.map(Some),
            None => Ok(None),
        }
    });
    let done = done?;
    if let Some(h) = hop? {
        eprintln!(
            "  bulk: on the master after {:.2} s, on the other snap after {:.2} s",
            h.duration_since(committed).as_secs_f64(),
            done.duration_since(committed).as_secs_f64()
        );
    }
    Ok(BULK_ROWS as f64 / done.duration_since(committed).as_secs_f64())
}

/// 1M rows as 100 transactions of 10,000 rows into `bulk2`: rows/s from the first insert on
/// `origin` until `dest` holds the last transaction (the origin's own writing time included:
/// replication that keeps up finishes right after it).
async fn bulk_batched(
    origin: &mut mysql_async::Conn,
    origin_domain: u32,
    dest: &Node,
) -> anyhow::Result<f64> {
    let start = Instant::now();
    let per = BULK_ROWS / 100;
    for b in 0..100u64 {
        origin
            .query_drop(format!(
                "USE MOST; INSERT INTO bulk2 SELECT seq + {}, seq % 1000, CONCAT('name-', seq),                  seq / 7, '2024-01-01 00:00:00' + INTERVAL seq SECOND, seq / 100,                  REPEAT('t', seq % 50), seq % 256 FROM seq_1_to_{per}",
                b * per
            ))
            .await?;
    }
    let p: Option<String> = origin.query_first("SELECT @@gtid_binlog_pos").await?;
    let pos: replicator::gtid::GtidPos = p.unwrap_or_default().parse()?;
    let seq = pos.get(origin_domain).unwrap().seq;
    let done = wait_gtid(dest, origin_domain, seq).await?;
    Ok(BULK_ROWS as f64 / done.duration_since(start).as_secs_f64())
}

/// A steady load of single-row transactions on `origin`; the lag of each on `dest`, in ms.
async fn lag(table: &str, origin: mysql_async::Conn, dest: &Node) -> anyhow::Result<Vec<f64>> {
    let max_n = format!("SELECT MAX(n) FROM MOST.{table}");
    let insert = format!("INSERT INTO MOST.{table} VALUES (?, ?)");
    let stop = Arc::new(AtomicBool::new(false));
    // The destination is polled every 250 µs for the highest n it holds, from a thread of its
    // own: a poller on the load generator's runtime sleeps in whole milliseconds (tokio's timer)
    // and waits for a free worker, which added up to 3 ms to single samples (seen by comparing
    // with the agents' own commit times).
    let mut pc = dest.conn().await?;
    let s2 = stop.clone();
    let poll_sql = max_n.clone();
    let poller = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut seen: Vec<(Instant, u64)> = Vec::new();
            while !s2.load(Ordering::Relaxed) {
                let n: Option<Option<u64>> = pc.query_first(poll_sql.as_str()).await.unwrap();
                let n = n.flatten().unwrap_or(0);
                if seen.last().is_none_or(|l| l.1 < n) {
                    seen.push((Instant::now(), n));
                }
                std::thread::sleep(Duration::from_micros(250));
            }
            seen
        })
    });
    let mut c = origin;
    if std::env::var_os("LAG_DEBUG").is_some() {
        let p: Option<String> = c.query_first("SELECT @@gtid_binlog_pos").await?;
        eprintln!("lag load starts after {}", p.unwrap_or_default());
    }
    let total = LAG_SECONDS * LAG_RATE;
    let mut commits = Vec::with_capacity(total as usize);
    let mut walls = Vec::with_capacity(total as usize);
    let start = Instant::now();
    for n in 1..=total {
        let due = start + Duration::from_micros(n * 1_000_000 / LAG_RATE);
        tokio::time::sleep_until(due.into()).await;
        c.exec_drop(insert.as_str(), (n, format!("payload {n}")))
            .await?;
        commits.push(Instant::now());
        walls.push(std::time::SystemTime::now());
    }
    // Let the last ones arrive.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let m: Option<Option<u64>> = dest.conn().await?.query_first(max_n.as_str()).await?;
        if m.flatten() == Some(total) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    stop.store(true, Ordering::Relaxed);
    let seen = poller
        .join()
        .map_err(|_| anyhow::anyhow!("the poller panicked"))?;
    let mut lags = Vec::new();
    for (i, t) in commits.iter().enumerate() {
        let n = i as u64 + 1;
        if let Some((at, _)) = seen.iter().find(|(_, m)| *m >= n) {
            lags.push(at.saturating_duration_since(*t).as_secs_f64() * 1000.0);
        }
    }
    anyhow::ensure!(
        lags.len() as u64 == total,
        "only {} of {total} arrived",
        lags.len()
    );
    if std::env::var_os("LAG_DEBUG").is_some() {
        for (i, l) in lags.iter().enumerate() {
            if *l > 4.0 {
                let w = walls[i]
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_micros();
                eprintln!("slow: n={} lag={l:.1} ms committed at {w} us", i + 1);
            }
        }
    }
    lags.sort_by(|a, b| a.partial_cmp(b).unwrap());
    Ok(lags)
}

/// Lets the machine settle before a lag phase: dirty page cache written back (the previous
/// cluster wrote gigabytes), servers done starting.
async fn settle() {
    let _ = tokio::process::Command::new("sync").status().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
}

fn pct(v: &[f64], p: f64) -> f64 {
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// MariaDB's native replication, master -> replica. `binlogged`: the replica writes what it
/// applies to its own binlog (`log_slave_updates=ON`), as every starsync node does (each node's
/// binlog holds every origin's GTIDs; the master's is what the hub fans out).
async fn native_run(binlogged: bool) -> anyhow::Result<(f64, f64, Vec<f64>)> {
    let replica = NodeSpec::new("native-replica", 12);
    let replica = if binlogged {
        replica.arg("--log-slave-updates=ON")
    } else {
        replica
    };
    let native = Cluster::start_specs(vec![
        spec(NodeSpec::new("native-master", 11)),
        spec(replica),
    ])
    .await?;
    let which = if binlogged {
        "native, replica binlogging"
    } else {
        "native"
    };
    let (nm, nr) = (&native.nodes[0], &native.nodes[1]);
    nr.exec(&format!(
        "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, MASTER_USER='{REPL_USER}', \
         MASTER_PASSWORD='{REPL_PASSWORD}', MASTER_USE_GTID=slave_pos; START SLAVE",
        nm.port
    ))
    .await?;
    nm.exec(SCHEMA).await?;
    // Lag first, on quiet servers (see main).
    settle().await;
    eprintln!("{which}: steady load of {LAG_RATE} txn/s for {LAG_SECONDS} s…");
    let native_lag = lag("lag", nm.conn().await?, nr).await?;
    let mut c = nm.conn().await?;
    eprintln!("{which}: bulk insert of {BULK_ROWS} rows…");
    let native_bulk = bulk("bulk", &mut c, 11, nr, None).await?;
    eprintln!("{which}: 1M rows in 100 transactions…");
    let native_batched = bulk_batched(&mut c, 11, nr).await?;
    drop(native);
    Ok((native_bulk, native_batched, native_lag))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    // The replicator logs at its production level (`info`), not the tests' `debug`, unless the
    // caller asks otherwise: per-transaction debug lines cost CPU the servers share.
    if std::env::var_os("STARSYNC_TEST_LOG").is_none() {
        std::env::set_var("STARSYNC_TEST_LOG", "info");
    }
    let star_only = std::env::var_os("STAR_ONLY").is_some();
    // Native: master -> replica over MariaDB's own replication.
    let (native_bulk, native_batched, native_lag) = if star_only {
        (1.0, 1.0, vec![1.0])
    } else {
        native_run(false).await?
    };
    // For reference: the same with a replica that binlogs what it applies.
    let (logged_bulk, logged_batched, logged_lag) = if star_only {
        (1.0, 1.0, vec![1.0])
    } else {
        native_run(true).await?
    };

    // starsync: snap1 -> master -> snap2 (`STAR_TLS=1`: agents and hub in TLS).
    let certs_dir = tempfile::tempdir()?;
    let (hub_tls, agent_tls) = if std::env::var("STAR_TLS").is_ok_and(|v| !v.is_empty()) {
        let c = starsync_tests::tls::write_certs(certs_dir.path(), "bench", &["127.0.0.1"])?;
        eprintln!("starsync: agents and hub in TLS");
        (c.hub_toml(), c.agent_toml())
    } else {
        Default::default()
    };
    let star = Star::start_full(2, 2, spec, &hub_tls, &agent_tls).await?;
    star.master().exec(SCHEMA).await?;
    star.wait_converged(Duration::from_secs(60)).await?;
    // Lag first, on quiet servers (as for native): after the bulk phases every server flushes
    // millions of dirty pages for minutes, and here three servers do it on the same two cores.
    settle().await;
    eprintln!("starsync: steady load of {LAG_RATE} txn/s for {LAG_SECONDS} s on snap1…");
    let star_lag = lag("lag", app_conn(star.snap(0)).await?, star.snap(1)).await?;
    star.wait_converged(Duration::from_secs(120)).await?;
    // One hop, the path native replication has: a write on the master reaching a snap.
    settle().await;
    eprintln!("starsync: steady load of {LAG_RATE} txn/s for {LAG_SECONDS} s on the master…");
    let hop_lag = lag("lag1", star.master().conn().await?, star.snap(1)).await?;
    star.wait_converged(Duration::from_secs(120)).await?;
    let (star_bulk, star_batched, hop_bulk) = if std::env::var_os("LAG_ONLY").is_some() {
        (1.0, 1.0, 1.0)
    } else {
        let mut c = star.snap(0).conn().await?;
        eprintln!("starsync: bulk insert of {BULK_ROWS} rows on snap1…");
        let r = bulk("bulk", &mut c, 2, star.snap(1), Some(star.master())).await?;
        star.wait_converged(Duration::from_secs(120)).await?;
        eprintln!("starsync: 1M rows in 100 transactions on snap1…");
        let b = bulk_batched(&mut c, 2, star.snap(1)).await?;
        star.wait_converged(Duration::from_secs(120)).await?;
        eprintln!("starsync: bulk insert of {BULK_ROWS} rows on the master…");
        let mut mc = star.master().conn().await?;
        let h = bulk("bulk3", &mut mc, 1, star.snap(1), None).await?;
        (r, b, h)
    };
    let (hp50, hp99) = (pct(&hop_lag, 0.5), pct(&hop_lag, 0.99));

    if star_only {
        // No native run to compare with: starsync's figures only.
        println!("star_vs_native benchmark, starsync only (STAR_ONLY): no ratios");
        println!("  bulk 1M-row insert   starsync {star_bulk:>9.0} rows/s (master -> snap2: {hop_bulk:.0})");
        println!("  1M rows, 100 txns    starsync {star_batched:>9.0} rows/s");
        println!(
            "  lag p50 / p99        starsync {:.1} / {:.1} ms (master -> snap2: {hp50:.1} / {hp99:.1} ms)",
            pct(&star_lag, 0.5),
            pct(&star_lag, 0.99)
        );
        return Ok(());
    }
    let (np50, np99) = (pct(&native_lag, 0.5), pct(&native_lag, 0.99));
    let (sp50, sp99) = (pct(&star_lag, 0.5), pct(&star_lag, 0.99));
    println!("star_vs_native benchmark (same machine, same server settings, one run)");
    println!(
        "  bulk 1M-row insert   native {:>9.0} rows/s   starsync {:>9.0} rows/s   ratio {:.2}x  (target >= 0.5x: {})",
        native_bulk,
        star_bulk,
        star_bulk / native_bulk,
        if star_bulk / native_bulk >= 0.5 { "MET" } else { "NOT MET" }
    );
    println!(
        "  1M rows, 100 txns    native {:>9.0} rows/s   starsync {:>9.0} rows/s   ratio {:.2}x  (writing time on the origin included)",
        native_batched,
        star_batched,
        star_batched / native_batched,
    );
    println!(
        "  lag p50 ({LAG_RATE} txn/s)  native {np50:>8.1} ms   starsync {sp50:>8.1} ms   ratio {:.2}x",
        sp50 / np50
    );
    println!(
        "  lag p99              native {np99:>8.1} ms   starsync {sp99:>8.1} ms   ratio {:.2}x  (target <= 2x: {})",
        sp99 / np99,
        if sp99 / np99 <= 2.0 { "MET" } else { "NOT MET" }
    );
    println!(
        "  paths: native master -> replica (SQL thread); starsync snap1 -> hub -> master -> snap2"
    );
    println!("one hop, for reference (starsync master -> snap2, the path native replication has):");
    println!(
        "  bulk 1M-row insert   native {:>9.0} rows/s   starsync {:>9.0} rows/s   ratio {:.2}x",
        native_bulk,
        hop_bulk,
        hop_bulk / native_bulk
    );
    println!(
        "  lag p50 / p99        native {np50:.1} / {np99:.1} ms   starsync {hp50:.1} / {hp99:.1} ms   ratios {:.2}x / {:.2}x",
        hp50 / np50,
        hp99 / np99
    );
    let (lp50, lp99) = (pct(&logged_lag, 0.5), pct(&logged_lag, 0.99));
    println!(
        "reference (no target): native with a replica that binlogs what it applies \
         (log_slave_updates=ON), as every starsync node must:"
    );
    println!(
        "  bulk 1M-row insert   native+binlog {logged_bulk:>9.0} rows/s   starsync {star_bulk:>9.0} rows/s   ratio {:.2}x   (one hop {:.2}x)",
        star_bulk / logged_bulk,
        hop_bulk / logged_bulk
    );
    println!(
        "  1M rows, 100 txns    native+binlog {logged_batched:>9.0} rows/s   starsync {star_batched:>9.0} rows/s   ratio {:.2}x",
        star_batched / logged_batched
    );
    println!(
        "  lag p50 / p99        native+binlog {lp50:.1} / {lp99:.1} ms   starsync {sp50:.1} / {sp99:.1} ms   ratios {:.2}x / {:.2}x   (one hop {:.2}x / {:.2}x)",
        sp50 / lp50,
        sp99 / lp99,
        hp50 / lp50,
        hp99 / lp99
    );
    Ok(())
}
