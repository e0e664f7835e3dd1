//! `status`: every node with positions and lag under a write load, `--watch` until Ctrl-C,
//! `--max-lag` against a stopped agent, and a dead agent reported disconnected with exit 1.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use starsync_tests::load::{self, Outcome};
use starsync_tests::{eventually, Star};

use crate::common::{admin, hub_addr, node_args};

/// The node names of a `status --json` document.
fn node_names(doc: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> = doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

fn node<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no node {name} in {doc:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_under_load_then_lag_and_a_dead_agent_set_the_exit_code() {
    let mut star = Star::start(2).await.unwrap();
    star.master().exec(load::SCHEMA).await.unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();

    // A write load on the master and on snap1.
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = [star.master(), star.snap(0)]
        .iter()
        .map(|n| {
            tokio::spawn(load::writer(
                n.opts(),
                n.spec.server_id as u64,
                stop.clone(),
                Duration::from_millis(5),
            ))
        })
        .collect();

    // Under load: all three nodes with positions, lag and applied transactions.
    let last = std::sync::Mutex::new(None);
    eventually(
        "status --json shows every node with lag",
        Duration::from_secs(20),
        || {
            let star = &star;
            let last = &last;
            async move {
                let out = admin(star, &["status", "--json"]).await;
                let doc = out.json();
                let ok = out.code == 0
                    && node_names(&doc) == ["master", "snap1", "snap2"]
                    && ["snap1", "snap2"].iter().all(|s| {
                        let n = node(&doc, s);
                        n["lag_ms"].is_u64()
                            && n["applied_txns"].as_u64() > Some(0)
                            && n["txn_per_sec"].as_f64() > Some(0.0)
                    })
                    && doc["nodes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|n| n["gtid_pos"].as_str().is_some_and(|p| p.contains(',')));
                *last.lock().unwrap() = Some(out);
                Ok(ok)
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}; last output: {:#?}", last.lock().unwrap()));
    let out = last.into_inner().unwrap().unwrap();
    let doc = out.json();
    for n in doc["nodes"].as_array().unwrap() {
        assert_eq!(n["connected"], true, "{n:#}");
        let pos: replicator::gtid::GtidPos = n["gtid_pos"].as_str().unwrap().parse().unwrap();
        assert!(!pos.is_empty(), "{n:#}");
        assert!(n["txns_behind"].is_u64(), "{n:#}");
    }
    // The snap writer's domain reached the master.
    let master_pos: replicator::gtid::GtidPos = node(&doc, "master")["gtid_pos"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(master_pos.get(2).is_some(), "{master_pos}");

    let table = admin(&star, &["status", "--max-lag", "600000"])
        .await
        .expect(0);
    table.says(&[
        "NODE",
        "GTID POSITION",
        "LAG MS",
        "LAST ERROR",
        "OK: all 3 nodes connected, lag within 600000 ms",
    ]);
    for name in ["master", "snap1", "snap2"] {
        assert!(
            table.stdout.lines().any(|l| l.starts_with(name)),
            "a row for {name}: {table:#?}"
        );
    }
    println!("status under load:\n{}", table.stdout);

    stop.store(true, Ordering::Relaxed);
    let mut outcomes: Vec<Outcome> = Vec::new();
    for w in writers {
        outcomes.push(w.await.unwrap());
    }
    star.wait_converged(Duration::from_secs(60)).await.unwrap();
    for n in &star.cluster.nodes {
        load::verify(n, &outcomes).await.unwrap();
    }

    // --watch refreshes until Ctrl-C (SIGINT), then exits with the last verdict.
    watch_until_interrupted(&star).await;

    // A stopped (not dead) agent: connected, but its lag grows past the threshold.
    star.agent_proc(1).pause(true);
    eventually(
        "status --max-lag 1000 reports snap2's lag",
        Duration::from_secs(20),
        || async {
            let out = admin(&star, &["status", "--max-lag", "1000"]).await;
            Ok(out.code == 1 && out.stdout.contains("PROBLEM: snap2 lags"))
        },
    )
    .await
    .unwrap();
    admin(&star, &["status", "--max-lag", "1000"])
        .await
        .expect(1)
        .says(&["(over --max-lag 1000)"]);
    // The same cluster within a generous threshold is fine.
    admin(&star, &["status", "--max-lag", "600000"])
        .await
        .expect(0);
    star.agent_proc(1).pause(false);
    eventually("snap2 catches up", Duration::from_secs(20), || async {
        Ok(admin(&star, &["status", "--max-lag", "1000"]).await.code == 0)
    })
    .await
    .unwrap();

    // A dead agent: disconnected, exit 1, in the table and in the JSON.
    star.agent_proc(0).kill9();
    eventually(
        "status reports snap1 disconnected",
        Duration::from_secs(20),
        || async {
            let out = admin(&star, &["status"]).await;
            Ok(out.code == 1 && out.stdout.contains("PROBLEM: snap1 is disconnected"))
        },
    )
    .await
    .unwrap();
    let out = admin(&star, &["status"]).await.expect(1);
    let row = out.stdout.lines().find(|l| l.starts_with("snap1")).unwrap();
    assert!(row.contains(" NO"), "{row}");
    println!("status with snap1's agent dead:\n{}", out.stdout);
    let out = admin(&star, &["status", "--json"]).await.expect(1);
    let doc = out.json();
    assert_eq!(node(&doc, "snap1")["connected"], false);
    assert_eq!(node(&doc, "snap2")["connected"], true);
}

/// Runs `status --watch 1`, waits for two refreshes, sends SIGINT and expects exit 0.
async fn watch_until_interrupted(star: &Star) {
    use tokio::io::AsyncReadExt;
    let mut args = node_args(star.master(), &hub_addr(star));
    args.extend(["status".to_string(), "--watch".into(), "1".into()]);
    let mut child = crate::common::command(&args, &[])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = String::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        let mut buf = [0u8; 4096];
        while seen.matches("refreshing every 1s").count() < 2 {
            let n = stdout.read(&mut buf).await.unwrap();
            assert!(n > 0, "watch ended early: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no two refreshes within 20 s: {seen}"));
    assert!(seen.contains("OK: all 3 nodes connected"), "{seen}");
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("watch stops on Ctrl-C")
        .unwrap();
    assert_eq!(status.code(), Some(0), "{seen}");
}
