//! The hub stopped (SIGTERM, clean shutdown within its deadline) for 30 s while both snaps keep
//! writing: every write succeeds locally and, after the hub returns, all nodes converge. The
//! agents stop cleanly on SIGTERM too. A snap whose own changes wait longer than half of its
//! binlog expiry is warned.

use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use starsync_tests::load::{self, Load};
use starsync_tests::star::{app_conn, app_exec, status_node};
use starsync_tests::{eventually, Star};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snaps_keep_writing_while_the_hub_is_down() {
    let mut star = Star::start(2).await.unwrap();
    star.master().exec(load::SCHEMA).await.unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();

    let load = Load::start(star.snaps(), Duration::from_millis(20));
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
    // The hub told them why it went.
    for i in 0..2 {
        assert!(
            star.agent_log(i)
                .contains("ended the session: the hub is shutting down"),
            "agent {i} heard that the hub is shutting down"
        );
    }
    while down.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    star.start_hub().unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let outcomes = load.finish().await;
    for o in &outcomes {
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

/// A star whose hub and agents take 2 s of silence for a hung peer, with a table `MOST.h`.
async fn quick_to_notice() -> Star {
    let star = Star::start_tuned(2, 2, "idle_timeout_ms = 2000", "idle_timeout_ms = 2000")
        .await
        .unwrap();
    star.master()
        .exec("CREATE DATABASE IF NOT EXISTS MOST; CREATE TABLE MOST.h (id INT PRIMARY KEY, v VARCHAR(40))")
        .await
        .unwrap();
    star
}

/// A hung process (SIGSTOP: its TCP connections stay open, nothing answers) is noticed within
/// `idle_timeout_ms`, not after minutes of TCP retransmissions: a hung agent is shown
/// disconnected with the reason while the other snap goes on; a hung hub makes the agents
/// reconnect while their snaps keep writing. Both converge after resuming.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_agent_and_a_hung_hub_are_noticed() {
    let star = quick_to_notice().await;
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    let count = |i: usize| {
        let node = &star.cluster.nodes[i];
        async move {
            let n: Vec<i64> = node.query("SELECT COUNT(*) FROM MOST.h").await?;
            Ok::<_, anyhow::Error>(n[0])
        }
    };

    // 1. snap1's agent hangs.
    star.agents[0].as_ref().unwrap().pause(true);
    let t = Instant::now();
    eventually(
        "the hub shows snap1 disconnected, with the reason",
        Duration::from_secs(15),
        || async {
            let st = star.status().await?;
            Ok(status_node(&st, "snap1").is_some_and(|n| {
                n["connected"] == false
                    && n["last_error"]
                        .as_str()
                        .is_some_and(|e| e.contains("sent nothing for 2.0 s"))
            }))
        },
    )
    .await
    .unwrap();
    println!("hung agent noticed after {:?}", t.elapsed());
    assert!(
        star.hub_log().contains("hub.idle_timeout_ms"),
        "the hub's log names the setting"
    );
    // The other snap goes on meanwhile.
    star.master()
        .exec("INSERT INTO MOST.h VALUES (1, 'master, snap1 hung')")
        .await
        .unwrap();
    app_exec(
        star.snap(1),
        "INSERT INTO MOST.h VALUES (2, 'snap2, snap1 hung')",
    )
    .await
    .unwrap();
    eventually(
        "snap2 and the master exchange rows",
        Duration::from_secs(15),
        || async { Ok(count(0).await? == 2 && count(2).await? == 2) },
    )
    .await
    .unwrap();
    star.agents[0].as_ref().unwrap().pause(false);
    star.wait_converged(Duration::from_secs(30)).await.unwrap();

    // 2. The hub hangs: each agent notices, and its snap keeps writing locally.
    star.hub.as_ref().unwrap().pause(true);
    let t = Instant::now();
    app_exec(
        star.snap(0),
        "INSERT INTO MOST.h VALUES (3, 'snap1, hub hung')",
    )
    .await
    .unwrap();
    app_exec(
        star.snap(1),
        "INSERT INTO MOST.h VALUES (4, 'snap2, hub hung')",
    )
    .await
    .unwrap();
    eventually(
        "both agents notice the silent hub",
        Duration::from_secs(15),
        || async {
            Ok((0..2).all(|i| {
                star.agent_log(i).lines().any(|l| {
                    l.contains("sent nothing for 2.0 s") && l.contains("agent.idle_timeout_ms")
                })
            }))
        },
    )
    .await
    .unwrap();
    println!("hung hub noticed after {:?}", t.elapsed());
    for i in 0..2 {
        assert!(
            !star.agent_log(i).contains("definite error"),
            "agent {i} treats a silent hub as transient"
        );
    }
    let snap1 = star.agent_status(0).await.unwrap();
    assert!(
        snap1["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("sent nothing")),
        "snap1's agent status shows why: {snap1}"
    );
    star.hub.as_ref().unwrap().pause(false);
    star.wait_converged(Duration::from_secs(60)).await.unwrap();
    for i in 0..3 {
        assert_eq!(count(i).await.unwrap(), 4, "node {i} holds every row");
    }
}

/// A long wait is not silence: for 12 s a local transaction on snap2 holds a row that the
/// master's change needs (the agent's apply waits; its queue fills with the hub's heartbeats
/// after about 7 s and it stops reading the hub for the rest: measured), and one on the master
/// holds a row that snap1's change needs (the hub's ingest waits). With `idle_timeout_ms = 2000`
/// no session ends: only time spent waiting for the peer counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_lock_wait_is_not_silence() {
    let star = quick_to_notice().await;
    star.master()
        .exec("INSERT INTO MOST.h VALUES (10, 'a'), (11, 'b')")
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    let ended = |log: String| log.matches("sent nothing").count();
    let before: Vec<usize> = std::iter::once(star.hub_log())
        .chain((0..2).map(|i| star.agent_log(i)))
        .map(ended)
        .collect();
    let mut on_snap2 = app_conn(star.snap(1)).await.unwrap();
    on_snap2
        .query_drop("BEGIN; UPDATE MOST.h SET v = 'held on snap2' WHERE id = 10")
        .await
        .unwrap();
    let mut on_master = star.master().conn().await.unwrap();
    on_master
        .query_drop("BEGIN; UPDATE MOST.h SET v = 'held on the master' WHERE id = 11")
        .await
        .unwrap();
    star.master()
        .exec("UPDATE MOST.h SET v = 'from the master' WHERE id = 10")
        .await
        .unwrap();
    app_exec(
        star.snap(0),
        "UPDATE MOST.h SET v = 'from snap1' WHERE id = 11",
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(12)).await;
    on_snap2.query_drop("COMMIT").await.unwrap();
    on_master.query_drop("COMMIT").await.unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    let after: Vec<usize> = std::iter::once(star.hub_log())
        .chain((0..2).map(|i| star.agent_log(i)))
        .map(ended)
        .collect();
    assert_eq!(
        before, after,
        "no session ended while an apply waited on a lock"
    );
}

/// A snap whose own transactions wait for an unreachable hub longer than half of its binlog's
/// expiry is warned (once purged they could never reach the master); nothing is lost when the
/// hub returns in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unshipped_transactions_near_binlog_expiry_are_warned_about() {
    let mut star = Star::start(1).await.unwrap();
    star.master()
        .exec("CREATE DATABASE IF NOT EXISTS MOST; CREATE TABLE MOST.w (id INT PRIMARY KEY)")
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    star.snap(0)
        .exec("SET GLOBAL binlog_expire_logs_seconds = 4")
        .await
        .unwrap();
    let warning = "have waited for the hub";
    let status = star.hub_proc().terminate(Duration::from_secs(15)).unwrap();
    assert!(status.success());
    app_exec(star.snap(0), "INSERT INTO MOST.w VALUES (1)")
        .await
        .unwrap();
    eventually("agent1 warns", Duration::from_secs(30), || async {
        Ok(star.agent_log(0).contains(warning))
    })
    .await
    .unwrap();
    star.start_hub().unwrap();
    star.wait_converged(Duration::from_secs(60)).await.unwrap();
    let n: Vec<u64> = star
        .master()
        .query("SELECT COUNT(*) FROM MOST.w")
        .await
        .unwrap();
    assert_eq!(n, [1]);
}
