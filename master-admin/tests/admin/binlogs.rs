//! `purge-binlogs`: purges only the master's binlog files no snap needs; a snap that is offline
//! counts, also after the hub restarted meanwhile (the hub keeps positions in `starsync.snaps`).

use std::time::Duration;

use starsync_tests::star::status_node;
use starsync_tests::{eventually, Node, Star};

use crate::common::admin;

async fn binlog_files(m: &Node) -> Vec<String> {
    let rows: Vec<(String, u64)> = m.query("SHOW BINARY LOGS").await.unwrap();
    rows.into_iter().map(|(f, _)| f).collect()
}

/// Waits until the hub has heard that each of `snaps` holds the master's whole position (agents
/// report every 300 ms), and returns that position. It comes from the master itself: the hub's
/// own reading may be a poll behind.
async fn reported(star: &Star, snaps: &[&str]) -> String {
    let master: Vec<String> = star
        .master()
        .query("SELECT @@gtid_binlog_pos")
        .await
        .unwrap();
    let master = master[0].clone();
    eventually(
        "the snaps' positions reported",
        Duration::from_secs(10),
        || async {
            let s = star.status().await?;
            Ok(snaps.iter().all(|name| {
                status_node(&s, name).is_some_and(|n| n["needs_from"] == master.as_str())
            }))
        },
    )
    .await
    .unwrap();
    master
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_binlogs_keeps_what_an_offline_snap_needs_across_a_hub_restart() {
    let mut star = Star::start(2).await.unwrap();
    star.master()
        .exec("CREATE DATABASE IF NOT EXISTS MOST; CREATE TABLE MOST.b (id INT PRIMARY KEY)")
        .await
        .unwrap();
    // A file that every snap has read in full.
    star.master().exec("FLUSH BINARY LOGS").await.unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    let master = reported(&star, &["snap2"]).await;

    // snap2 goes offline; the master writes on, over several files; the hub restarts.
    star.agent_proc(1).kill9();
    star.master()
        .exec(
            "INSERT INTO MOST.b VALUES (1); FLUSH BINARY LOGS; INSERT INTO MOST.b VALUES (2); \
             FLUSH BINARY LOGS; INSERT INTO MOST.b VALUES (3)",
        )
        .await
        .unwrap();
    let status = star.hub_proc().terminate(Duration::from_secs(15)).unwrap();
    assert!(status.success());
    // What the restarted hub reads back.
    let kept: Vec<String> = star
        .master()
        .query("SELECT needs_from FROM starsync.snaps WHERE name = 'snap2'")
        .await
        .unwrap();
    assert_eq!(kept, [master], "snap2's position is kept on the master");
    star.start_hub().unwrap();
    star.wait_agents(1, Duration::from_secs(30)).await.unwrap();
    let s = admin(&star, &["status", "--json"]).await.expect(1);
    let doc = s.json();
    let snap2 = doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "snap2")
        .unwrap_or_else(|| panic!("the restarted hub still lists snap2: {doc:#}"))
        .clone();
    assert_eq!(snap2["connected"], false, "{snap2:#}");
    assert!(snap2["txns_behind"].as_u64().unwrap() >= 3, "{snap2:#}");

    let before = binlog_files(star.master()).await;
    assert!(before.len() >= 3, "{before:?}");
    // Not confirmed (stdin closed): nothing happens.
    admin(&star, &["purge-binlogs"])
        .await
        .expect(5)
        .says(&["not confirmed"]);
    let dry = admin(&star, &["purge-binlogs", "--dry-run"]).await;
    dry.expect(0)
        .says(&["snap2 reads from here", "--dry-run: nothing purged"]);
    assert_eq!(binlog_files(star.master()).await, before);
    // A dump thread of the stopped hub may still hold the oldest file a moment (see below).
    eventually(
        "something purged, snap2's files kept",
        Duration::from_secs(30),
        || async {
            admin(&star, &["purge-binlogs", "--yes"])
                .await
                .expect(0)
                .says(&["snap2 reads from here"]);
            Ok(binlog_files(star.master()).await.len() < before.len())
        },
    )
    .await
    .unwrap();
    let kept = binlog_files(star.master()).await;
    assert!(kept.len() >= 3, "snap2's files were kept: {kept:?}");

    // snap2 comes back and gets every change: nothing it needed was purged.
    star.start_agent(1).unwrap();
    star.wait_converged(Duration::from_secs(60)).await.unwrap();
    let n: Vec<i64> = star
        .snap(1)
        .query("SELECT COUNT(*) FROM MOST.b")
        .await
        .unwrap();
    assert_eq!(n, [3]);
    assert!(!star.agent_log(1).contains("no longer available"));

    // Everyone caught up: every file but the current one goes. MariaDB keeps a file a dump
    // thread has open (the one that served snap2 before it caught up may linger a moment), and
    // purge-binlogs says so: then it is run again.
    reported(&star, &["snap1", "snap2"]).await;
    eventually(
        "every binlog file but the current one purged",
        Duration::from_secs(30),
        || async {
            let out = admin(&star, &["purge-binlogs", "--yes"]).await;
            anyhow::ensure!(out.code == 0, "{out:#?}");
            anyhow::ensure!(
                out.stdout.contains("purged"),
                "purge-binlogs purged nothing: {out:#?}"
            );
            Ok(binlog_files(star.master()).await.len() == 1)
        },
    )
    .await
    .unwrap();
}

/// A retired snap no longer holds back purge-binlogs once forgotten; the hub drops it at once
/// and does not bring it back after a restart; if it does come back, it is served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_snap_no_longer_keeps_binlogs() {
    let mut star = Star::start(2).await.unwrap();
    star.master()
        .exec("CREATE DATABASE IF NOT EXISTS MOST; CREATE TABLE MOST.f (id INT PRIMARY KEY)")
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    reported(&star, &["snap2"]).await;
    admin(&star, &["forget-snap", "snap2", "--yes"])
        .await
        .expect(5)
        .says(&["snap2 is connected to the hub: stop its agent first"]);
    admin(&star, &["forget-snap", "snap9", "--yes"])
        .await
        .expect(2)
        .says(&["no snap named \"snap9\"", "known: snap1, snap2"]);

    // snap2 is retired; the master writes on over several files.
    star.agent_proc(1).kill9();
    star.master()
        .exec(
            "INSERT INTO MOST.f VALUES (1); FLUSH BINARY LOGS; INSERT INTO MOST.f VALUES (2); \
             FLUSH BINARY LOGS",
        )
        .await
        .unwrap();
    reported(&star, &["snap1"]).await;
    eventually(
        "the hub sees snap2 gone",
        Duration::from_secs(30),
        || async {
            let s = star.status().await?;
            Ok(status_node(&s, "snap2").is_some_and(|n| n["connected"] == false))
        },
    )
    .await
    .unwrap();
    admin(&star, &["purge-binlogs", "--dry-run"])
        .await
        .expect(0)
        .says(&["snap2 reads from here"]);
    // Not confirmed (stdin closed): it stays.
    admin(&star, &["forget-snap", "snap2"])
        .await
        .expect(5)
        .says(&["not confirmed"]);
    let out = admin(&star, &["forget-snap", "snap2", "--yes"]).await;
    out.expect(0)
        .says(&["forgot snap2: the hub no longer lists it"]);
    let rows: Vec<String> = star
        .master()
        .query("SELECT name FROM starsync.snaps ORDER BY name")
        .await
        .unwrap();
    assert_eq!(rows, ["snap1"]);
    assert!(star.hub_log().contains("snap forgotten"));
    let dry = admin(&star, &["purge-binlogs", "--dry-run"])
        .await
        .expect(0);
    dry.says(&["file(s)", "no snap needs"]);
    assert!(!dry.stdout.contains("snap2"), "{dry:#?}");

    // A restarted hub does not bring it back.
    let status = star.hub_proc().terminate(Duration::from_secs(15)).unwrap();
    assert!(status.success());
    star.start_hub().unwrap();
    star.wait_agents(1, Duration::from_secs(30)).await.unwrap();
    let s = star.status().await.unwrap();
    assert!(status_node(&s, "snap2").is_none(), "{s:#}");

    // It comes back after all (nothing was purged): served from its own position.
    star.start_agent(1).unwrap();
    star.wait_converged(Duration::from_secs(60)).await.unwrap();
    let n: Vec<i64> = star
        .snap(1)
        .query("SELECT COUNT(*) FROM MOST.f")
        .await
        .unwrap();
    assert_eq!(n, [2]);
}
