//! Benchmark: initial sync of a new snap from a master holding 1,000,000 rows (snapshot streamed
//! by the hub, loaded by the agent) beside `mariadb-dump | mariadb` of the same data into an
//! empty server, measured in the same run.
//!
//! `cargo build --release --workspace --bins && cargo bench -p starsync-tests --bench snapshot`.
//! Target: faster than the dump-and-import pipeline.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use starsync_tests::{Cluster, NodeSpec, Star};

const ROWS: u64 = 1_000_000;

fn spec(s: NodeSpec) -> NodeSpec {
    s.arg("--innodb-buffer-pool-size=1G")
        .arg("--innodb-log-file-size=1G")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut star = Star::start_partial(1, 0, spec).await?;
    star.master()
        .exec(&format!(
            "CREATE DATABASE MOST; USE MOST; \
             CREATE TABLE big (id BIGINT PRIMARY KEY, a INT, b VARCHAR(40), c DOUBLE, \
             d DATETIME(3), e DECIMAL(12,2), f VARCHAR(64), g TINYINT UNSIGNED); \
             INSERT INTO big SELECT seq, seq % 1000, CONCAT('name-', seq), seq / 7, \
             '2024-01-01 00:00:00' + INTERVAL seq SECOND, seq / 100, REPEAT('t', seq % 50), \
             seq % 256 FROM seq_1_to_{ROWS}"
        ))
        .await?;

    // starsync: a new snap joins.
    let t = Instant::now();
    star.start_agent(0)?;
    loop {
        let st = star.agent_status(0).await.unwrap_or_default();
        if st["connected"] == true && st["initial_sync"].is_null() {
            break;
        }
        anyhow::ensure!(
            t.elapsed() < Duration::from_secs(900),
            "the snapshot did not finish"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let snap_time = t.elapsed();
    star.wait_converged(Duration::from_secs(120)).await?;

    // mariadb-dump | mariadb into an empty server.
    let target = Cluster::start_specs(vec![spec(NodeSpec::new("import", 9))]).await?;
    let m = star.master();
    let t = Instant::now();
    let mut dump = Command::new("mariadb-dump")
        .args([
            "--single-transaction",
            "--databases",
            "MOST",
            "-h",
            "127.0.0.1",
            "-u",
            "root",
        ])
        .args(["-P", &m.port.to_string()])
        .stdout(Stdio::piped())
        .spawn()?;
    let import = Command::new("mariadb")
        .args([
            "-h",
            "127.0.0.1",
            "-u",
            "root",
            "-P",
            &target.nodes[0].port.to_string(),
        ])
        .stdin(dump.stdout.take().unwrap())
        .status()?;
    anyhow::ensure!(
        dump.wait()?.success() && import.success(),
        "dump | import failed"
    );
    let dump_time = t.elapsed();
    let n: Vec<u64> = target.nodes[0]
        .query("SELECT COUNT(*) FROM MOST.big")
        .await?;
    anyhow::ensure!(n[0] == ROWS, "the import holds {} rows", n[0]);

    println!("snapshot benchmark: {ROWS} rows, 8 columns, same machine, one run");
    println!(
        "  starsync snapshot + load     {:>6.1} s  ({:.0} rows/s)",
        snap_time.as_secs_f64(),
        ROWS as f64 / snap_time.as_secs_f64()
    );
    println!(
        "  mariadb-dump | mariadb       {:>6.1} s  ({:.0} rows/s)",
        dump_time.as_secs_f64(),
        ROWS as f64 / dump_time.as_secs_f64()
    );
    println!(
        "  ratio {:.2}x  (target: starsync faster: {})",
        dump_time.as_secs_f64() / snap_time.as_secs_f64(),
        if snap_time < dump_time {
            "MET"
        } else {
            "NOT MET"
        }
    );
    Ok(())
}
