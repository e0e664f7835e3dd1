//! The master purged binlogs a stopped snap still needed (`expire_logs_days`, `PURGE BINARY
//! LOGS`): the hub cannot send that snap the master's changes any more. The operator is told
//! where to look (hub status, the agent's log and status) and what to do; the snap's own changes
//! still reach the master; `replicator agent --resync` first waits until the master holds all of
//! them, then reloads, so the resync loses none of the snap's rows. And the other way round: a
//! snap's own changes purged from its binlog before they were shipped are reported, with the
//! way out (`--resync --discard-unshipped`).

use std::time::Duration;

use starsync_tests::star::{app_exec, status_node};
use starsync_tests::{eventually, Node, Star};

async fn count(node: &Node, filter: &str) -> anyhow::Result<i64> {
    let n: Vec<i64> = node
        .query(&format!("SELECT COUNT(*) FROM MOST.p WHERE {filter}"))
        .await?;
    Ok(n[0])
}

/// The part of an agent's log written since its last start.
fn since_last_start(log: &str) -> &str {
    log.rfind("agent started").map_or(log, |i| &log[i..])
}

/// A star of the master and two snaps, converged on an empty `MOST.p`.
async fn star_with_table() -> Star {
    let star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE IF NOT EXISTS MOST; \
             CREATE TABLE MOST.p (id INT PRIMARY KEY, v VARCHAR(60))",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    star
}

/// Starts a new binlog file on `node` and purges every other one. MariaDB keeps a file a dump
/// thread still has open (one that served a stopped reader ends at its next write to the closed
/// socket, heartbeats included): purged until only the current file is left.
async fn purge_all_but_a_new_file(node: &Node) {
    node.exec("FLUSH BINARY LOGS").await.unwrap();
    eventually(
        "the binlogs purged but the current one",
        Duration::from_secs(30),
        || async {
            let files: Vec<(String, u64)> = node.query("SHOW BINARY LOGS").await?;
            let last = files.last().map(|f| f.0.clone()).unwrap_or_default();
            node.exec(&format!("PURGE BINARY LOGS TO '{last}'")).await?;
            let files: Vec<(String, u64)> = node.query("SHOW BINARY LOGS").await?;
            Ok(files.len() == 1)
        },
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snap_whose_position_was_purged_is_resynced_without_losing_its_rows() {
    let mut star = star_with_table().await;

    // snap2's agent is down; snap2 takes a write of its own, the master two, and the master's
    // binlogs holding those two are purged.
    star.agent_proc(1).kill9();
    app_exec(
        star.snap(1),
        "INSERT INTO MOST.p VALUES (100, 'snap2, agent down')",
    )
    .await
    .unwrap();
    star.master()
        .exec(
            "INSERT INTO MOST.p VALUES (1, 'master'); FLUSH BINARY LOGS; \
             INSERT INTO MOST.p VALUES (2, 'master'); FLUSH BINARY LOGS",
        )
        .await
        .unwrap();
    purge_all_but_a_new_file(star.master()).await;

    star.start_agent(1).unwrap();
    // The hub's status says why and what to do; snap2's own row still reaches the master.
    eventually(
        "the hub's status shows snap2's position purged, with the way out",
        Duration::from_secs(30),
        || async {
            let s = star.status().await?;
            let e = status_node(&s, "snap2")
                .and_then(|n| n["last_error"].as_str())
                .unwrap_or_default()
                .to_string();
            let flagged = status_node(&s, "snap2").is_some_and(|n| n["needs_resync"] == true);
            Ok(e.contains("no longer available") && e.contains("--resync") && flagged)
        },
    )
    .await
    .unwrap();
    eventually(
        "snap2's own row reaches the master",
        Duration::from_secs(30),
        || async { Ok(count(star.master(), "id = 100").await? == 1) },
    )
    .await
    .unwrap();
    // One session that stays up (no reconnect loop), and the agent's log and status say it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let log = star.agent_log(1);
    let run = since_last_start(&log);
    assert_eq!(
        run.matches("connected to the hub").count(),
        1,
        "one session, kept: {run}"
    );
    assert!(
        run.contains("cannot send this snap the master's changes"),
        "{run}"
    );
    let a = star.agent_status(1).await.unwrap();
    assert!(
        a["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("no longer available")),
        "{a}"
    );
    assert_eq!(count(star.snap(1), "id IN (1, 2)").await.unwrap(), 0);

    // Another own write while its agent is down again, then the operator's resync: that write
    // reaches the master first, and then snap2 is reloaded with everything.
    star.agent_proc(1).kill9();
    app_exec(
        star.snap(1),
        "INSERT INTO MOST.p VALUES (101, 'snap2, before its resync')",
    )
    .await
    .unwrap();
    star.start_agent_with(1, &["--resync"]).unwrap();
    star.wait_converged(Duration::from_secs(60)).await.unwrap();
    let log = star.agent_log(1);
    let run = since_last_start(&log);
    assert!(
        run.contains("the resync waits until this snap's own transactions have reached the master")
            && run.contains("snapshot loaded"),
        "{run}"
    );
    // Local writes were held off from before that wait to the end of the load, then allowed.
    let at = |what: &str| run.find(what).unwrap_or_else(|| panic!("{what}: {run}"));
    assert!(
        at("local writes are refused (read_only)") < at("the resync waits")
            && at("snapshot loaded") < at("local writes are accepted again"),
        "{run}"
    );
    let ro: Vec<u8> = star
        .snap(1)
        .query("SELECT @@global.read_only")
        .await
        .unwrap();
    assert_eq!(ro[0], 0, "snap2 is writable after its resync");
    for node in star.cluster.nodes.iter() {
        assert_eq!(
            count(node, "id IN (1, 2, 100, 101)").await.unwrap(),
            4,
            "{} holds every row",
            node.name()
        );
    }
    eventually(
        "snap2 shows no error once resynced",
        Duration::from_secs(30),
        || async {
            let s = star.status().await?;
            Ok(status_node(&s, "snap2")
                .is_some_and(|n| n["last_error"].is_null() && n["needs_resync"] == false))
        },
    )
    .await
    .unwrap();
}

/// The other way round: a snap's own transactions were purged from *its* binlog before they
/// reached the master (expiry while the hub was unreachable, or a DBA's PURGE). They can never
/// be shipped: the agent says so, with the way out, instead of retrying blindly; a plain
/// `--resync` cannot wait for them and says so too; `--resync --discard-unshipped` brings the
/// snap back in line with the master.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_transactions_purged_before_shipping_are_reported_and_discarded_on_request() {
    let mut star = star_with_table().await;

    star.agent_proc(1).kill9();
    app_exec(
        star.snap(1),
        "INSERT INTO MOST.p VALUES (201, 'never shipped')",
    )
    .await
    .unwrap();
    purge_all_but_a_new_file(star.snap(1)).await;
    star.start_agent(1).unwrap();
    let says = "own transactions from the first are no longer in its binlog";
    eventually(
        "agent2 reports the purged transactions",
        Duration::from_secs(30),
        || async {
            let log = star.agent_log(1);
            Ok(log.contains(says) && log.contains("--resync --discard-unshipped"))
        },
    )
    .await
    .unwrap();
    let st = star.agent_status(1).await.unwrap();
    assert!(
        st["last_error"].as_str().is_some_and(|e| e.contains(says)),
        "{st:#}"
    );
    // The rest of the star goes on.
    star.master()
        .exec("INSERT INTO MOST.p VALUES (1, 'master')")
        .await
        .unwrap();
    eventually(
        "snap1 gets the master's row",
        Duration::from_secs(30),
        || async { Ok(count(star.snap(0), "id = 1").await? == 1) },
    )
    .await
    .unwrap();
    assert_eq!(count(star.master(), "id = 201").await.unwrap(), 0);

    // A plain resync would wait for them forever: it says why it cannot.
    star.agent_proc(1).kill9();
    star.start_agent_with(1, &["--resync"]).unwrap();
    eventually(
        "the plain resync says it cannot wait",
        Duration::from_secs(30),
        || async {
            let log = star.agent_log(1);
            let run = since_last_start(&log);
            Ok(run.contains("the resync waits") && run.contains(says))
        },
    )
    .await
    .unwrap();

    star.agent_proc(1).kill9();
    star.start_agent_with(1, &["--resync", "--discard-unshipped"])
        .unwrap();
    star.wait_converged(Duration::from_secs(60)).await.unwrap();
    let log = star.agent_log(1);
    let run = since_last_start(&log);
    assert!(
        run.contains("the resync discards this snap's own transactions")
            && run.contains("snapshot loaded"),
        "{run}"
    );
    for node in star.cluster.nodes.iter() {
        assert_eq!(count(node, "id = 201").await.unwrap(), 0, "{}", node.name());
        assert_eq!(count(node, "id = 1").await.unwrap(), 1, "{}", node.name());
    }
    // snap2 writes again, and its writes reach everyone.
    app_exec(
        star.snap(1),
        "INSERT INTO MOST.p VALUES (202, 'after the resync')",
    )
    .await
    .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    for node in star.cluster.nodes.iter() {
        assert_eq!(count(node, "id = 202").await.unwrap(), 1, "{}", node.name());
    }
}

/// `RESET MASTER` run on a snap while its agent runs. With no own change on the master yet, the
/// agent notices that its binlog stream reads a file that is gone, starts again and ships what
/// the snap writes after the reset. Once the master holds own changes of the snap, a write after
/// the reset gets a GTID the master already holds (the hub would skip it as old): the agent
/// notices within seconds, stops with an error that says what happened and the way out instead
/// of stalling silently, and `replicator agent --resync` brings the snap back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_master_on_a_snap_is_noticed() {
    let mut star = star_with_table().await;

    // snap2 has written nothing yet: it just goes on.
    star.snap(1).exec("RESET MASTER").await.unwrap();
    app_exec(
        star.snap(1),
        "INSERT INTO MOST.p VALUES (1, 'after a reset')",
    )
    .await
    .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    assert_eq!(count(star.master(), "id = 1").await.unwrap(), 1);
    // Seen as the binlog's end moving back, or (when the snap wrote more bytes within the
    // poller's 100 ms than its binlog held before) as the stream saying nothing new for 2 s.
    assert!(
        star.agent_log(1).contains("(RESET MASTER on this snap?)"),
        "the agent says why it reconnects:\n{}",
        star.agent_log(1)
    );

    // Now the master holds 3-3-1 from snap2: a reset makes the next write 3-3-1 again.
    star.snap(1).exec("RESET MASTER").await.unwrap();
    app_exec(star.snap(1), "INSERT INTO MOST.p VALUES (2, 'lost')")
        .await
        .unwrap();
    let says = "this snap's binlog was reset (RESET MASTER";
    eventually(
        "agent2 stops and says why",
        Duration::from_secs(30),
        || async {
            let log = star.agent_log(1);
            Ok(log.contains(says) && log.contains("`replicator agent --resync`"))
        },
    )
    .await
    .unwrap();
    let st = star.agent_status(1).await.unwrap();
    assert!(
        st["last_error"].as_str().is_some_and(|e| e.contains(says)),
        "{st:#}"
    );
    assert_eq!(count(star.master(), "id = 2").await.unwrap(), 0);

    star.agent_proc(1).kill9();
    star.start_agent_with(1, &["--resync"]).unwrap();
    star.wait_converged(Duration::from_secs(60)).await.unwrap();
    app_exec(
        star.snap(1),
        "INSERT INTO MOST.p VALUES (3, 'after the resync')",
    )
    .await
    .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    for node in star.cluster.nodes.iter() {
        assert_eq!(
            count(node, "id IN (1, 3)").await.unwrap(),
            2,
            "{}",
            node.name()
        );
    }
}
