//! Initial sync of a new snap: it joins a master holding 1,000,000 rows while a write load runs
//! on the master and the other snap (the load is never blocked), receives schema features
//! (views, a stored procedure, foreign keys), and converges; the master's trigger fires once
//! and its rows replicate; a cascaded delete on the master happens on every snap, once. A snap killed in the middle of its load restarts cleanly.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use starsync_tests::load::{self, Outcome};
use starsync_tests::mariadb::{APP_PASSWORD, APP_USER};
use starsync_tests::star::status_node;
use starsync_tests::{eventually, Node, Star};

const ROWS: u64 = 1_000_000;

const SCHEMA: &str = "CREATE DATABASE MOST; USE MOST; \
    CREATE TABLE big (id BIGINT PRIMARY KEY, a INT, b VARCHAR(40), c DOUBLE, d DATETIME(3), \
      e DECIMAL(12,2), f VARCHAR(64), g TINYINT UNSIGNED); \
    CREATE TABLE parent (id INT PRIMARY KEY, name VARCHAR(20), note INT INVISIBLE DEFAULT 0); \
    CREATE TABLE child (id INT PRIMARY KEY, parent_id INT NOT NULL, \
      FOREIGN KEY (parent_id) REFERENCES parent(id) ON DELETE CASCADE); \
    CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(40)); \
    INSERT INTO parent (id, name, note) VALUES (1, 'one', 11), (2, 'two', 22); \
    INSERT INTO child VALUES (10, 1), (11, 1), (20, 2); \
    CREATE VIEW parent_children AS SELECT p.name, COUNT(c.id) AS n FROM parent p \
      LEFT JOIN child c ON c.parent_id = p.id GROUP BY p.name; \
    CREATE VIEW big_summary AS SELECT COUNT(*) AS n FROM big; \
    CREATE PROCEDURE count_children(IN p INT) SELECT COUNT(*) FROM child WHERE parent_id = p; \
    CREATE TRIGGER parent_ins AFTER INSERT ON parent FOR EACH ROW \
      INSERT INTO audit (what) VALUES (CONCAT('parent ', NEW.id))";

async fn fill(star: &Star) {
    star.master().exec(SCHEMA).await.unwrap();
    star.master()
        .exec(&format!(
            "USE MOST; INSERT INTO big SELECT seq, seq % 1000, CONCAT('name-', seq), seq / 7, \
             '2024-01-01 00:00:00' + INTERVAL seq SECOND, seq / 100, REPEAT('t', seq % 50), \
             seq % 256 FROM seq_1_to_{ROWS}"
        ))
        .await
        .unwrap();
    star.master().exec(load::SCHEMA).await.unwrap();
}

/// Waits until snap1's agent has loaded part of its snapshot.
async fn load_under_way(star: &Star) {
    eventually(
        "the load is under way",
        Duration::from_secs(120),
        || async {
            let st = star.agent_status(0).await?;
            Ok(st["initial_sync"]["rows"].as_u64().unwrap_or(0) > 50_000)
        },
    )
    .await
    .unwrap();
}

/// Rows of `MOST.big` on `node`.
async fn big_rows(node: &Node) -> u64 {
    let n: Vec<u64> = node.query("SELECT COUNT(*) FROM MOST.big").await.unwrap();
    n[0]
}

/// Commits in `window` counted from the writers' shared counter.
async fn rate(done: &Arc<std::sync::atomic::AtomicU64>, window: Duration) -> f64 {
    let a = done.load(Ordering::Relaxed);
    tokio::time::sleep(window).await;
    (done.load(Ordering::Relaxed) - a) as f64 / window.as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_snap_joins_under_load_and_converges() {
    let mut star = Star::start_partial(2, 0, |s| s).await.unwrap();
    fill(&star).await;
    // snap1 joins first (its own snapshot), then the load starts on the master and snap1.
    star.start_agent(0).unwrap();
    star.wait_agents(1, Duration::from_secs(300)).await.unwrap();
    star.master()
        .exec("INSERT INTO MOST.parent VALUES (3, 'three')")
        .await
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let committed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut writers = Vec::new();
    for (i, node) in star.cluster.nodes[..2].iter().enumerate() {
        let opts = if i == 0 {
            node.opts()
        } else {
            node.opts_as(APP_USER, APP_PASSWORD)
        };
        let (stop, committed) = (stop.clone(), committed.clone());
        let tag = node.spec.server_id as u64;
        writers.push(tokio::spawn(async move {
            let o =
                load::writer_counting(opts, tag, stop, Duration::from_millis(20), committed).await;
            o
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = rate(&committed, Duration::from_secs(4)).await;

    // snap2 joins: a snapshot of 1M rows while the load runs.
    let t = Instant::now();
    star.start_agent(1).unwrap();
    let mut during = Vec::new();
    let mut saw_progress = false;
    loop {
        during.push(rate(&committed, Duration::from_secs(2)).await);
        let st = star.agent_status(1).await.unwrap_or_default();
        if st["initial_sync"]["rows"].as_u64().unwrap_or(0) > 0 {
            saw_progress = true;
        }
        if st["connected"] == true && st["initial_sync"].is_null() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(600),
            "snapshot did not finish"
        );
    }
    let load_secs = t.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut outcomes: Vec<Outcome> = Vec::new();
    for w in writers {
        outcomes.push(w.await.unwrap());
    }
    let during_avg = during.iter().sum::<f64>() / during.len() as f64;
    println!(
        "snapshot+load of {ROWS} rows while writing: {load_secs:.1} s; load throughput before \
         {before:.1} txn/s, during {during_avg:.1} txn/s ({:.0}%)",
        during_avg * 100.0 / before
    );
    assert!(saw_progress, "the agent reported load progress");
    assert!(
        during_avg >= 0.8 * before,
        "writers were slowed down by the snapshot: {during_avg:.1} vs {before:.1} txn/s"
    );
    assert!(star.agent_log(1).contains("snapshot load progress"));
    assert!(star.hub_log().contains("snapshot sent"));

    star.wait_converged(Duration::from_secs(300)).await.unwrap();
    for node in &star.cluster.nodes {
        load::verify(node, &outcomes).await.unwrap();
    }
    let s2 = star.snap(1);
    let v: Vec<(String, i64)> = s2
        .query("SELECT name, n FROM MOST.parent_children ORDER BY name")
        .await
        .unwrap();
    assert_eq!(
        v,
        vec![("one".into(), 2), ("three".into(), 0), ("two".into(), 1)]
    );
    let n: Vec<i64> = s2.query("CALL MOST.count_children(1)").await.unwrap();
    assert_eq!(n, vec![2], "the stored procedure arrived");
    let ddl: Vec<(String, String)> = s2.query("SHOW CREATE TABLE MOST.child").await.unwrap();
    assert!(ddl[0].1.contains("ON DELETE CASCADE"), "{}", ddl[0].1);
    // Triggers run on the master only; their effects replicate as rows, once.
    let trig: Vec<String> = s2
        .query("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'MOST'")
        .await
        .unwrap();
    assert!(trig.is_empty(), "{trig:?}");
    starsync_tests::star::app_exec(s2, "INSERT INTO MOST.parent VALUES (4, 'four')")
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(60)).await.unwrap();
    for node in &star.cluster.nodes {
        let a: Vec<String> = node
            .query("SELECT what FROM MOST.audit ORDER BY what")
            .await
            .unwrap();
        assert_eq!(
            a,
            vec!["parent 3", "parent 4"],
            "the master's trigger fired once per parent, seen on {}",
            node.name()
        );
    }

    // A cascaded delete on the master removes the children on every snap, once.
    star.master()
        .exec("DELETE FROM MOST.parent WHERE id = 1")
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(60)).await.unwrap();
    for node in &star.cluster.nodes {
        let c: Vec<(i64, i64)> = node
            .query("SELECT (SELECT COUNT(*) FROM MOST.child WHERE parent_id = 1), (SELECT COUNT(*) FROM MOST.child)")
            .await
            .unwrap();
        assert_eq!(c[0], (0, 1), "children of parent 1 gone on {}", node.name());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snap_killed_mid_load_restarts_and_ends_identical() {
    let mut star = Star::start_partial(1, 0, |s| s).await.unwrap();
    fill(&star).await;
    star.start_agent(0).unwrap();
    load_under_way(&star).await;
    // Local writes are refused while the load replaces the snap's databases (they would be
    // lost), and still after the agent is killed: the snap's data is incomplete.
    let refused = "INSERT INTO MOST.parent VALUES (50, 'during the load')";
    assert_read_only(star.snap(0), refused, true).await;
    let st = star.agent_status(0).await.unwrap();
    assert_eq!(
        st["local_writes_held"], "this snap has no replication state",
        "{st}"
    );
    star.agent_proc(0).kill9();
    assert_read_only(star.snap(0), refused, true).await;
    eventually(
        "the hub saw the agent go",
        Duration::from_secs(30),
        || async {
            let st = star.status().await?;
            Ok(st["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n["name"] == "snap1" && n["connected"] == false && n["syncing"] == false))
        },
    )
    .await
    .unwrap();
    star.start_agent(0).unwrap();
    // An account that bypasses read_only (root) writes during the new load: the load is redone
    // (kept, that row would exist on this snap alone) and the agent says so.
    load_under_way(&star).await;
    star.snap(0)
        .exec("INSERT INTO MOST.parent VALUES (51, 'root in load')")
        .await
        .unwrap();
    star.wait_agents(1, Duration::from_secs(300)).await.unwrap();
    let log = star.agent_log(0);
    assert!(
        log.contains("a previous load did not finish"),
        "the restarted agent saw the interrupted load"
    );
    assert!(
        log.contains("local transactions were committed during the load by an account")
            && log.contains("the snapshot load is redone")
            && log.contains("local writes stay refused until the load is done"),
        "{log}"
    );
    star.wait_converged(Duration::from_secs(300)).await.unwrap();
    assert_eq!(big_rows(star.snap(0)).await, ROWS);
    for node in &star.cluster.nodes {
        let n: Vec<u64> = node
            .query("SELECT COUNT(*) FROM MOST.parent WHERE id = 51")
            .await
            .unwrap();
        assert_eq!(n[0], 0, "the discarded row is nowhere ({})", node.name());
    }
    // Loaded: writable again, and a local write replicates.
    assert_read_only(star.snap(0), refused, false).await;
    assert!(star.agent_status(0).await.unwrap()["local_writes_held"].is_null());
    let log = star.agent_log(0);
    assert!(
        log.contains("local writes are refused (read_only)")
            && log.contains("local writes are accepted again"),
        "{log}"
    );
    star.wait_converged(Duration::from_secs(60)).await.unwrap();
    let n: Vec<u64> = star
        .master()
        .query("SELECT COUNT(*) FROM MOST.parent WHERE id = 50")
        .await
        .unwrap();
    assert_eq!(
        n[0], 1,
        "the snap's write after the load reached the master"
    );
}

/// Runs `sql` as the snap application account: refused with MariaDB's read-only error when
/// `held`, committed otherwise.
async fn assert_read_only(node: &Node, sql: &str, held: bool) {
    let r = starsync_tests::star::app_exec(node, sql).await;
    match (held, r) {
        (true, Err(e)) => assert!(format!("{e:#}").contains("read-only"), "{e:#}"),
        (true, Ok(())) => panic!("{sql} was accepted during the load"),
        (false, r) => r.unwrap(),
    }
}

/// A snap that goes silent (SIGSTOP) in the middle of its initial sync: the hub abandons the
/// snapshot after `hub.idle_timeout_ms` (2 s here), so its consistent-snapshot transaction on
/// the master ends instead of holding back purge until TCP gives up; resumed, the snap loads a
/// new snapshot and converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snap_stopped_mid_load_releases_the_masters_snapshot() {
    let mut star = Star::start_tuned(1, 0, "idle_timeout_ms = 2000", "")
        .await
        .unwrap();
    fill(&star).await;
    let open_trx = "SELECT COUNT(*) FROM information_schema.innodb_trx \
                    WHERE trx_mysql_thread_id <> CONNECTION_ID()";
    star.start_agent(0).unwrap();
    load_under_way(&star).await;
    star.agents[0].as_ref().unwrap().pause(true);
    let n: Vec<u64> = star.master().query(open_trx).await.unwrap();
    assert!(
        n[0] >= 1,
        "the snapshot's transaction is open on the master"
    );
    eventually(
        "the hub abandons the snapshot and its transaction ends",
        Duration::from_secs(30),
        || async {
            let n: Vec<u64> = star.master().query(open_trx).await?;
            let st = star.status().await?;
            Ok(n[0] == 0
                && status_node(&st, "snap1").is_some_and(|n| {
                    n["syncing"] == false
                        && n["last_error"]
                            .as_str()
                            .is_some_and(|e| e.contains("took no snapshot data for 2.0 s"))
                }))
        },
    )
    .await
    .unwrap();
    star.agents[0].as_ref().unwrap().pause(false);
    star.wait_agents(1, Duration::from_secs(300)).await.unwrap();
    star.wait_converged(Duration::from_secs(300)).await.unwrap();
    assert_eq!(big_rows(star.snap(0)).await, ROWS);
}
