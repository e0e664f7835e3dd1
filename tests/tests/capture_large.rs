//! A 1,000,000-row single transaction flows through `replicator capture | replicator apply`
//! (two real processes and a pipe) with the capture process's peak RSS under 256 MB.

use std::process::{Command, Stdio};
use std::time::Instant;

use starsync_tests::{mariadb, process, Cluster};

const ROWS: u64 = 1_000_000;

/// Waits for a child and returns (success, peak RSS in KiB) from the kernel's rusage.
fn wait_rusage(child: &mut std::process::Child) -> (bool, i64) {
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4 failed");
    (
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        usage.ru_maxrss,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn million_row_transaction_in_bounded_memory() {
    let cluster = Cluster::start(2).await.unwrap();
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    a.exec(&format!(
        "CREATE DATABASE MOST; USE MOST; \
         CREATE TABLE big (id BIGINT PRIMARY KEY, a INT, b VARCHAR(40), c DOUBLE, d DATETIME(3), \
         e DECIMAL(12,2), f TEXT, g TINYINT UNSIGNED); \
         INSERT INTO big SELECT seq, seq % 1000, CONCAT('name-', seq), seq / 7, \
         '2024-01-01 00:00:00' + INTERVAL seq SECOND, seq / 100, REPEAT('t', seq % 50), seq % 256 \
         FROM seq_1_to_{ROWS}"
    ))
    .await
    .unwrap();
    let target = a.gtid_binlog_pos().await.unwrap();

    let bin = process::bin("replicator");
    let started = Instant::now();
    let mut capture = Command::new(&bin)
        .args([
            "capture",
            "--until-idle",
            "--host",
            "127.0.0.1",
            "--user",
            mariadb::REPL_USER,
        ])
        .args(["--port", &a.port.to_string()])
        .env("STARSYNC_DB_PASSWORD", mariadb::REPL_PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut apply = Command::new(&bin)
        .args(["apply", "--host", "127.0.0.1", "--user", mariadb::REPL_USER])
        .args(["--port", &b.port.to_string()])
        .env("STARSYNC_DB_PASSWORD", mariadb::REPL_PASSWORD)
        .stdin(capture.stdout.take().unwrap())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let (cap_ok, cap_rss_kib) = wait_rusage(&mut capture);
    let (apply_ok, apply_rss_kib) = wait_rusage(&mut apply);
    let secs = started.elapsed().as_secs_f64();
    assert!(cap_ok, "capture failed");
    assert!(apply_ok, "apply failed");
    println!(
        "1M-row transaction: capture|apply {secs:.1} s ({:.0} rows/s), capture peak RSS {} MiB, \
         apply peak RSS {} MiB",
        ROWS as f64 / secs,
        cap_rss_kib / 1024,
        apply_rss_kib / 1024
    );
    assert!(
        cap_rss_kib < 256 * 1024,
        "capture peak RSS {} MiB is over 256 MiB",
        cap_rss_kib / 1024
    );
    assert_eq!(b.gtid_binlog_pos().await.unwrap(), target);
    let count: Vec<u64> = b.query("SELECT COUNT(*) FROM MOST.big").await.unwrap();
    assert_eq!(count[0], ROWS);
    assert_eq!(
        a.checksum("MOST.big").await.unwrap(),
        b.checksum("MOST.big").await.unwrap()
    );
}
