//! Lag as the hub reports it: `/metrics` is valid Prometheus text; its lag gauge rises while an
//! agent is paused and falls after; and the hub's lag agrees with an external tool,
//! `pt-heartbeat`, writing on the master and checking on a snap.

use std::process::Command;
use std::time::Duration;

use starsync_tests::star::status_node;
use starsync_tests::{eventually, Star};

/// Parses Prometheus text exposition: returns (name{labels}, value) samples; panics on a bad line.
fn parse_metrics(text: &str) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut p = rest.splitn(3, ' ');
            let kind = p.next().unwrap();
            assert!(
                kind == "HELP" || kind == "TYPE",
                "bad comment line {line:?}"
            );
            let name = p.next().expect("metric name");
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{line:?}"
            );
            if kind == "TYPE" {
                let t = p.next().unwrap();
                assert!(["gauge", "counter"].contains(&t), "{line:?}");
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample line");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad metric name in {line:?}"
        );
        if name_end < series.len() {
            let labels = &series[name_end..];
            assert!(labels.ends_with('}'), "{line:?}");
            for pair in labels[1..labels.len() - 1].split("\",") {
                let (k, v) = pair.split_once("=\"").expect("label pair");
                assert!(
                    k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{line:?}"
                );
                let _ = v;
            }
        }
        out.push((series.to_string(), value));
    }
    out
}

async fn lag_gauge(star: &Star, node: &str) -> Option<f64> {
    let (_, body) = replicator::http::get(
        &format!("127.0.0.1:{}", star.http_port),
        "/metrics",
        Duration::from_secs(5),
    )
    .await
    .ok()?;
    parse_metrics(&body)
        .into_iter()
        .find(|(s, _)| {
            s.starts_with("starsync_node_lag_milliseconds{")
                && s.contains(&format!("node=\"{node}\""))
        })
        .map(|(_, v)| v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_lag_rises_while_paused_and_falls_after() {
    let star = Star::start(2).await.unwrap();
    star.master()
        .exec("CREATE DATABASE MOST; CREATE TABLE MOST.t (id INT PRIMARY KEY)")
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    eventually("a low lag is measured", Duration::from_secs(10), || async {
        Ok(lag_gauge(&star, "snap1").await.is_some_and(|l| l < 500.0))
    })
    .await
    .unwrap();
    let base = lag_gauge(&star, "snap1").await.unwrap();

    star.agents[0].as_ref().unwrap().pause(true);
    for i in 0..20 {
        star.master()
            .exec(&format!("INSERT INTO MOST.t VALUES ({i})"))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let paused = lag_gauge(&star, "snap1").await.unwrap();
    let other = lag_gauge(&star, "snap2").await.unwrap();
    println!("lag of snap1: {base} ms before, {paused} ms after 2 s paused; snap2 {other} ms");
    assert!(
        paused >= 1500.0,
        "the lag gauge rose while paused ({paused} ms)"
    );
    assert!(
        other < 1000.0,
        "the other snap is not affected ({other} ms)"
    );

    star.agents[0].as_ref().unwrap().pause(false);
    eventually(
        "the lag falls after resuming",
        Duration::from_secs(15),
        || async { Ok(lag_gauge(&star, "snap1").await.is_some_and(|l| l < 500.0)) },
    )
    .await
    .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
}

/// `pt-heartbeat --check` on snap1 for a master row updated every 50 ms.
fn pt_check(star: &Star) -> Option<f64> {
    let s = star.snap(0);
    let out = Command::new("pt-heartbeat")
        .args([
            "--check",
            "--master-server-id",
            "1",
            "--database",
            "MOST",
            "--utc",
        ])
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &s.port.to_string(),
            "--user",
            "root",
        ])
        .output()
        .expect("pt-heartbeat runs (apt-get install percona-toolkit)");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse::<f64>()
        .ok()
}

async fn hub_lag(star: &Star) -> f64 {
    let st = star.status().await.unwrap();
    status_node(&st, "snap1")
        .and_then(|n| n["lag_ms"].as_f64())
        .unwrap()
}

/// One comparison: the hub's lag read just before and just after a `pt-heartbeat --check`
/// (a Perl program that takes a while to start), and pt-heartbeat's figure, all in ms.
async fn sample(star: &Star) -> (f64, f64, f64) {
    let before = hub_lag(star).await;
    let pt = pt_check(star).unwrap() * 1000.0;
    let after = hub_lag(star).await;
    (before, pt, after)
}

/// pt-heartbeat measured between the two hub readings: they agree when its figure lies within
/// 100 ms of the hub's range.
fn agrees((before, pt, after): (f64, f64, f64)) -> bool {
    pt >= before.min(after) - 100.0 && pt <= before.max(after) + 100.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_lag_agrees_with_pt_heartbeat() {
    let star = Star::start(2).await.unwrap();
    star.master().exec("CREATE DATABASE MOST").await.unwrap();
    let log = star.dir.join("pt-heartbeat.log");
    let m = star.master();
    let mut updater = starsync_tests::process::Proc::spawn(
        "pt-heartbeat --update",
        std::path::Path::new("pt-heartbeat"),
        &[
            "--update",
            "--create-table",
            "--interval",
            "0.05",
            "--database",
            "MOST",
            "--utc",
            "--host",
            "127.0.0.1",
            "--port",
            &m.port.to_string(),
            "--user",
            "root",
        ],
        &log,
        &[],
    )
    .unwrap();
    eventually(
        "pt-heartbeat's row reaches snap1",
        Duration::from_secs(30),
        || async { Ok(pt_check(&star).is_some()) },
    )
    .await
    .unwrap();
    // Replicating normally.
    let mut steady = Vec::new();
    for _ in 0..6 {
        steady.push(sample(&star).await);
    }
    // snap1's agent paused: both see the lag grow.
    star.agents[0].as_ref().unwrap().pause(true);
    let mut paused = Vec::new();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        paused.push(sample(&star).await);
    }
    star.agents[0].as_ref().unwrap().pause(false);
    updater.kill9();
    println!("lag of snap1, (hub before, pt-heartbeat, hub after) in ms:");
    println!("  replicating: {steady:?}");
    println!("  agent paused: {paused:?}");
    for s in steady.iter().chain(&paused) {
        assert!(agrees(*s), "pt-heartbeat and the hub disagree: {s:?}");
    }
    assert!(
        paused.last().unwrap().1 >= 1000.0,
        "the lag grew while paused: {paused:?}"
    );
}
