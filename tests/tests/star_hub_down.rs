//! The hub stopped (SIGTERM, clean shutdown within its deadline) for 30 s while both snaps keep
//! writing: every write succeeds locally and, after the hub returns, all nodes converge. The
//! agents stop cleanly on SIGTERM too.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use starsync_tests::load::{self, Outcome};
use starsync_tests::mariadb::{APP_PASSWORD, APP_USER};
use starsync_tests::{eventually, Star};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snaps_keep_writing_while_the_hub_is_down() {
    let mut star = Star::start(2).await.unwrap();
    star.master().exec(load::SCHEMA).await.unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = star
        .snaps()
        .iter()
        .map(|n| {
            tokio::spawn(load::writer(
                n.opts_as(APP_USER, APP_PASSWORD),
                n.spec.server_id as u64,
                stop.clone(),
                Duration::from_millis(20),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let t = Instant::now();
    let status = star.hub_proc().terminate(Duration::from_secs(15)).unwrap();
    assert!(
        status.success(),
        "the hub exits cleanly on SIGTERM: {status}"
    );
    println!("hub stopped in {:?}", t.elapsed());
    star.hub = None;
    let hub_log = star.hub_log();
    assert!(hub_log.contains("hub stopped"), "{hub_log}");
    let down = Instant::now();
    // Agents notice and report it on their own status endpoint.
    eventually(
        "snap1's agent reports the hub unreachable",
        Duration::from_secs(10),
        || async {
            let (_, body) = replicator::http::get(
                &format!("127.0.0.1:{}", star.status_ports[0]),
                "/status",
                Duration::from_secs(2),
            )
            .await?;
            let v: serde_json::Value = serde_json::from_str(&body)?;
            Ok(v["connected"] == false && v["pending_own_txns"].as_u64().unwrap_or(0) > 0)
        },
    )
    .await
    .unwrap();
    while down.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    star.start_hub().unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);
    let mut outcomes: Vec<Outcome> = Vec::new();
    for w in writers {
        outcomes.push(w.await.unwrap());
    }
    for o in &outcomes {
        println!(
            "writer {}: {} committed, {} failed",
            o.tag,
            o.committed.len(),
            o.failed
        );
        assert_eq!(
            o.failed, 0,
            "every local write succeeded while the hub was down"
        );
        assert!(o.uncertain.is_empty());
        assert!(o.committed.len() > 500, "writer {} kept writing", o.tag);
    }
    star.wait_converged(Duration::from_secs(60)).await.unwrap();
    for node in &star.cluster.nodes {
        load::verify(node, &outcomes).await.unwrap();
    }
    // Agents stop cleanly on SIGTERM.
    for i in 0..2 {
        let st = star
            .agent_proc(i)
            .terminate(Duration::from_secs(15))
            .unwrap();
        assert!(st.success(), "agent {i} exits cleanly: {st}");
        star.agents[i] = None;
        assert!(star.agent_log(i).contains("agent stopped"));
    }
}
