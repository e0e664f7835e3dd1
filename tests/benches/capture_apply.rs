//! Benchmark: capture (decode + encode) and apply of one 1M-row transaction on an 8-column table,
//! beside `mariadb-binlog --base64-output=decode-rows -v` on the same binlog, in one run.
//!
//! `cargo bench -p starsync-tests --bench capture_apply` (release build). Targets on a 2-core
//! machine: decode+encode ≥ 1,000,000 rows/s; bulk apply ≥ 120,000 rows/s.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use mysql_async::prelude::*;
use replicator::apply::{Applier, TxnMode};
use replicator::binlog::{AssembleOptions, Assembler};
use replicator::gtid::GtidPos;
use replicator::model::TxnItem;
use starsync_tests::{mariadb, Cluster, NodeSpec};

const ROWS: u64 = 1_000_000;

fn spec(name: &str, id: u32) -> NodeSpec {
    NodeSpec::new(name, id)
        .arg("--innodb-buffer-pool-size=1G")
        .arg("--innodb-log-file-size=1G")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let cluster = Cluster::start_specs(vec![spec("a", 1), spec("b", 2)]).await?;
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let schema = "CREATE DATABASE MOST; USE MOST; \
         CREATE TABLE big (id BIGINT PRIMARY KEY, a INT, b VARCHAR(40), c DOUBLE, d DATETIME(3), \
         e DECIMAL(12,2), f VARCHAR(64), g TINYINT UNSIGNED)";
    a.exec(schema).await?;
    b.exec(schema).await?;
    b.exec("RESET MASTER").await?;
    let t = Instant::now();
    a.exec(&format!(
        "USE MOST; INSERT INTO big SELECT seq, seq % 1000, CONCAT('name-', seq), seq / 7, \
         '2024-01-01 00:00:00' + INTERVAL seq SECOND, seq / 100, REPEAT('t', seq % 50), \
         seq % 256 FROM seq_1_to_{ROWS}"
    ))
    .await?;
    eprintln!(
        "setup: 1M-row transaction written on A in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // 1. Pull the raw binlog into memory, so that decode+encode is measured alone.
    let mut conn =
        mysql_async::Conn::new(a.opts_as(mariadb::REPL_USER, mariadb::REPL_PASSWORD)).await?;
    conn.query_drop("SET @mariadb_slave_capability=4, @slave_connect_state=''")
        .await?;
    let mut stream = conn
        .get_binlog_stream(
            mysql_async::BinlogStreamRequest::new(9999)
                .with_filename(b"")
                .with_pos(4u64),
        )
        .await?;
    let target = a.gtid_binlog_pos().await?;
    let mut events = Vec::new();
    let t = Instant::now();
    let mut asm_probe = Assembler::new(AssembleOptions::default(), GtidPos::new());
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(5), stream.next()).await {
        let ev = ev?;
        let h = ev.header();
        asm_probe
            .push(h.event_type_raw(), h.server_id(), h.timestamp(), ev.data())
            .ok();
        asm_probe.out.clear();
        events.push(ev);
        if asm_probe.pos.covers(&target) {
            break;
        }
    }
    let fetch = t.elapsed();
    let bytes: usize = events.iter().map(|e| e.data().len()).sum();
    eprintln!(
        "fetched {} events, {:.1} MiB of binlog over the replication protocol in {:.2} s",
        events.len(),
        bytes as f64 / 1048576.0,
        fetch.as_secs_f64()
    );

    // 2. decode + encode, best of 3.
    let mut best = Duration::MAX;
    let mut frames: Vec<Vec<u8>> = Vec::new();
    for round in 0..3 {
        let mut asm = Assembler::new(AssembleOptions::default(), GtidPos::new());
        let mut out = Vec::new();
        let t = Instant::now();
        let mut rows = 0u64;
        for ev in &events {
            let h = ev.header();
            asm.push(h.event_type_raw(), h.server_id(), h.timestamp(), ev.data())
                .map_err(|e| anyhow::anyhow!("{}: {}", e.what, e.problem))?;
            while let Some(item) = asm.out.pop_front() {
                if let TxnItem::Rows(c) = &item {
                    rows += c.len() as u64;
                }
                out.push(rmp_serde::to_vec(&item)?);
            }
        }
        let el = t.elapsed();
        assert_eq!(rows, ROWS);
        best = best.min(el);
        if round == 0 {
            frames = out;
        }
    }
    let enc_bytes: usize = frames.iter().map(Vec::len).sum();
    let decode_rate = ROWS as f64 / best.as_secs_f64();

    // 3. The baseline: mariadb-binlog decoding the same binlog file to text.
    let binlog = a.datadir.join("mariadb-bin.000001");
    let t = Instant::now();
    let st = Command::new("mariadb-binlog")
        .args(["--base64-output=decode-rows", "-v"])
        .arg(&binlog)
        .stdout(Stdio::null())
        .status()?;
    let mb_time = t.elapsed();
    anyhow::ensure!(st.success(), "mariadb-binlog failed");

    // 4. Apply: decode the frames and apply them to B in one transaction.
    let items: Vec<TxnItem> = frames
        .iter()
        .map(|f| rmp_serde::from_slice(f))
        .collect::<Result<_, _>>()?;
    let mut applier =
        Applier::connect(&b.opts_as(mariadb::REPL_USER, mariadb::REPL_PASSWORD), "b").await?;
    let mode = TxnMode {
        preserve_gtid: true,
        ..Default::default()
    };
    let t = Instant::now();
    for item in &items {
        if let TxnItem::Query(_) = item {
            continue; // the schema exists on B already
        }
        applier.apply_item(item, &mode).await?;
    }
    let apply_time = t.elapsed();
    let apply_rate = ROWS as f64 / apply_time.as_secs_f64();
    let ca = a.checksum("MOST.big").await?;
    let cb = b.checksum("MOST.big").await?;
    anyhow::ensure!(ca == cb, "checksums differ after apply");

    println!("capture_apply benchmark: 1 transaction of {ROWS} rows, 8 columns");
    println!(
        "  decode+encode   {:>10.0} rows/s  ({:.3} s, {:.1} MiB MessagePack)   target >= 1,000,000 rows/s  {}",
        decode_rate,
        best.as_secs_f64(),
        enc_bytes as f64 / 1048576.0,
        verdict(decode_rate >= 1_000_000.0)
    );
    println!(
        "  mariadb-binlog  {:>10.0} rows/s  ({:.3} s, --base64-output=decode-rows -v, same binlog)  baseline; starsync is {:.1}x faster",
        ROWS as f64 / mb_time.as_secs_f64(),
        mb_time.as_secs_f64(),
        mb_time.as_secs_f64() / best.as_secs_f64()
    );
    println!(
        "  bulk apply      {:>10.0} rows/s  ({:.3} s, one transaction, GTID kept)   target >= 120,000 rows/s  {}",
        apply_rate,
        apply_time.as_secs_f64(),
        verdict(apply_rate >= 120_000.0)
    );
    println!(
        "  binlog fetch    {:>10.0} rows/s  ({:.3} s over the replication protocol)",
        ROWS as f64 / fetch.as_secs_f64(),
        fetch.as_secs_f64()
    );
    Ok(())
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "MET"
    } else {
        "NOT MET"
    }
}
