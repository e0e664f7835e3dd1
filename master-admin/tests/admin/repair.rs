//! `repair`: tables of one snap that drifted behind replication's back (rows changed, deleted
//! and added without binlogging, a table without a key, a MyISAM table, a column dropped, a
//! table dropped) are made the master's while every node keeps writing, and nothing else moves:
//! afterwards every node converges and `verify` finds them equal. A dry run counts and changes
//! nothing (a MyISAM table's too); `verify --table` checks one table; bad requests are refused
//! with what to ask instead.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::*;
use starsync_tests::{Node, Star};

use crate::common::admin;

/// Updates rows 100..199 of `MOST.t` on `node`, about 100 a second, until `stop`.
fn write_load(node: &Node, step: i64, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<u64> {
    let opts = node.opts();
    tokio::spawn(async move {
        let mut c = mysql_async::Conn::new(opts).await.unwrap();
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let id = 100 + (n as i64 * step) % 100;
            c.query_drop(format!("UPDATE MOST.t SET v = v + 1 WHERE id = {id}"))
                .await
                .unwrap();
            n += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        n
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repair_makes_drifted_tables_of_a_snap_the_masters_while_all_nodes_write() {
    let star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; \
             CREATE TABLE t (id INT PRIMARY KEY, code VARCHAR(20) NOT NULL UNIQUE, v INT, \
               note TEXT, g INT AS (v * 2) PERSISTENT, hid INT INVISIBLE DEFAULT 0) \
               DEFAULT CHARSET = utf8mb4 COLLATE utf8mb4_general_ci; \
             INSERT INTO t (id, code, v, note, hid) SELECT seq, CONCAT('c', seq), seq, \
               REPEAT('n', seq % 7), seq FROM seq_1_to_200; \
             CREATE TABLE k (a INT, b TEXT); INSERT INTO k VALUES (1, 'x'), (2, 'y'), (2, 'y'); \
             CREATE TABLE d (id INT PRIMARY KEY, x INT NOT NULL DEFAULT 7); \
             INSERT INTO d (id) SELECT seq FROM seq_1_to_10; \
             CREATE TABLE m (id INT PRIMARY KEY, v INT) ENGINE = MyISAM; \
             INSERT INTO m SELECT seq, seq FROM seq_1_to_5; \
             CREATE TABLE gone (id INT PRIMARY KEY) ; INSERT INTO gone VALUES (1), (2), (3)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();

    // snap1 drifts, unlogged: 4 rows changed (one only in letter case, which its collation
    // calls equal), 2 deleted, 1 added; a row of the keyless table gone; a column dropped.
    let snap1 = star.snap(0);
    snap1
        .exec(
            "SET SESSION sql_log_bin = 0; USE MOST; \
             UPDATE t SET v = -1 WHERE id IN (1, 2); UPDATE t SET note = NULL WHERE id = 3; \
             UPDATE t SET code = 'C4' WHERE id = 4; DELETE FROM t WHERE id IN (10, 11); \
             INSERT INTO t (id, code, v, note) VALUES (1000, 'extra', 0, 'only here'); \
             DELETE FROM k WHERE a = 1; ALTER TABLE d DROP COLUMN x; \
             UPDATE m SET v = 0 WHERE id = 5; DROP TABLE gone",
        )
        .await
        .unwrap();
    let drifted = snap1.checksum("`MOST`.`t`").await.unwrap();
    let out = admin(&star, &["verify"]).await.expect(1);
    out.says(&[
        "table `MOST`.`t` differs on node snap1",
        "table `MOST`.`k` differs on node snap1",
        "table `MOST`.`d` is defined differently on node snap1",
        "table `MOST`.`m` differs on node snap1",
        "table `MOST`.`gone` is missing on node snap1",
        "`master-admin repair MOST.",
    ]);
    // One table only.
    let out = admin(&star, &["verify", "--table", "MOST.t"])
        .await
        .expect(1);
    out.says(&["table `MOST`.`t` differs on node snap1", "1 difference(s)"]);
    assert!(!out.stdout.contains("`MOST`.`k`"), "{out:#?}");

    // A dry run counts and changes nothing.
    let out = admin(&star, &["repair", "MOST.t", "--node", "snap1", "--dry-run"])
        .await
        .expect(1);
    out.says(&[
        "MOST.t on snap1 at the master's position ",
        "4 rows differed, 2 rows missing, 1 row extra of the master's 200",
        "dry run: nothing changed",
    ]);
    assert_eq!(snap1.checksum("`MOST`.`t`").await.unwrap(), drifted);
    admin(&star, &["repair", "MOST.d", "--node", "snap1", "--dry-run"])
        .await
        .expect(1)
        .says(&[
            "its definition differs from the master's",
            "loads the master's 10 rows",
        ]);
    // A non-transactional table: the dry run leaves it as it was too.
    let m = snap1.checksum("`MOST`.`m`").await.unwrap();
    admin(&star, &["repair", "MOST.m", "--node", "snap1", "--dry-run"])
        .await
        .expect(1)
        .says(&["1 row differed, 0 rows missing, 0 rows extra of the master's 5"]);
    assert_eq!(snap1.checksum("`MOST`.`m`").await.unwrap(), m);

    // The repair, while the master and both snaps update other rows of the table.
    let stop = Arc::new(AtomicBool::new(false));
    let loads = vec![
        write_load(star.master(), 7, stop.clone()),
        write_load(star.snap(0), 11, stop.clone()),
        write_load(star.snap(1), 13, stop.clone()),
    ];
    tokio::time::sleep(Duration::from_millis(500)).await;
    let out = admin(&star, &["repair", "MOST.t", "--node", "snap1", "--json"])
        .await
        .expect(0);
    let report = out.json();
    assert_eq!(report["node"], "snap1", "{report:#}");
    assert_eq!(report["table"], "MOST.t", "{report:#}");
    assert_eq!(
        (&report["differed"], &report["missing"], &report["extra"]),
        (&4.into(), &2.into(), &1.into()),
        "{report:#}"
    );
    assert_eq!(report["error"], serde_json::Value::Null, "{report:#}");
    admin(&star, &["repair", "MOST.k", "--node", "snap1"])
        .await
        .expect(0)
        .says(&["no primary key, so every row is replaced: 2 rows deleted, the master's 3 rows"]);
    admin(&star, &["repair", "MOST.d", "--node", "snap1"])
        .await
        .expect(0)
        .says(&[
            "made again from the master's CREATE TABLE",
            "0 rows differed, 10 rows missing",
        ]);
    admin(&star, &["repair", "MOST.m", "--node", "snap1"])
        .await
        .expect(0)
        .says(&["1 row differed"]);
    admin(&star, &["repair", "MOST.gone", "--node", "snap1"])
        .await
        .expect(0)
        .says(&[
            "3 rows missing",
            "made again from the master's CREATE TABLE",
        ]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut writes = 0;
    for l in loads {
        writes += l.await.unwrap();
    }
    assert!(writes > 30, "the load made {writes} writes");

    // Everything converges (checksums and definitions of every table on every node, every
    // GTID position equal: the repair itself logged nothing) and verify agrees.
    star.wait_converged(Duration::from_secs(60)).await.unwrap();
    admin(&star, &["verify"])
        .await
        .expect(0)
        .says(&["all 5 tables equal on 3 nodes"]);
    admin(&star, &["verify", "--table", "MOST.t"])
        .await
        .expect(0)
        .says(&["table `MOST`.`t` equal on 3 nodes"]);
    admin(&star, &["verify", "--table", "MOST.nope"])
        .await
        .expect(5)
        .says(&["the master has no replicated table `MOST`.`nope`"]);
    admin(&star, &["repair", "MOST.t", "--node", "snap1"])
        .await
        .expect(0)
        .says(&["already the master's (200 rows)"]);

    // Requests that cannot be done say what to ask instead.
    admin(&star, &["repair", "MOST.nope", "--node", "snap1"])
        .await
        .expect(5)
        .says(&["the master has no table `MOST`.`nope`"]);
    admin(&star, &["repair", "MOST.t", "--node", "snap9"])
        .await
        .expect(5)
        .says(&["snap snap9 is not connected", "connected: snap1, snap2"]);
    admin(&star, &["repair", "MOST.t", "--node", "master"])
        .await
        .expect(5)
        .says(&["master is the master: its tables are what snaps are repaired from"]);
    admin(&star, &["repair", "mysql.user", "--node", "snap1"])
        .await
        .expect(5)
        .says(&["database mysql does not replicate"]);
    admin(&star, &["repair", "t", "--node", "snap1"])
        .await
        .expect(2)
        .says(&["needs its database"]);
}

/// A repair cut short (the snap's agent killed while the master's rows arrive) leaves the snap's
/// table as it was, even one whose definition differs and is to be made again; the hub answers
/// at once that the session ended; the repair then works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repair_cut_short_leaves_the_snaps_table_as_it_was() {
    let mut star = Star::start(1).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; CREATE TABLE big (id INT PRIMARY KEY, pad VARCHAR(100), \
             x INT NOT NULL DEFAULT 1); \
             INSERT INTO MOST.big (id, pad) SELECT seq, REPEAT('p', 100) FROM seq_1_to_300000",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(120)).await.unwrap();
    star.snap(0)
        .exec("SET SESSION sql_log_bin = 0; ALTER TABLE MOST.big DROP COLUMN x")
        .await
        .unwrap();
    let before = star.snap(0).checksum("`MOST`.`big`").await.unwrap();
    assert!(before.is_some());

    let mut args = crate::common::node_args(star.master(), &crate::common::hub_addr(&star));
    args.extend(["repair", "MOST.big", "--node", "snap1"].map(String::from));
    let repair = crate::common::command(&args, &[])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    starsync_tests::eventually(
        "the agent receives the rows",
        Duration::from_secs(60),
        || {
            let log = star.agent_log(0);
            async move { Ok(log.contains("repair: receiving the master's rows")) }
        },
    )
    .await
    .unwrap();
    // The hub's status shows how far it is (what `master-admin status` prints).
    starsync_tests::eventually(
        "the hub shows the repair",
        Duration::from_secs(30),
        || async {
            let st = star.status().await?;
            Ok(starsync_tests::star::status_node(&st, "snap1")
                .and_then(|n| n["repair"].as_str())
                .is_some_and(|r| r.starts_with("MOST.big: ")))
        },
    )
    .await
    .unwrap();
    star.agent_proc(0).pause(true);
    star.agent_proc(0).kill9();
    let out = tokio::time::timeout(Duration::from_secs(30), repair.wait_with_output())
        .await
        .expect("the hub answers once the session is gone")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stdout}{stderr}");
    assert!(
        stderr.contains("ended before the repair was done"),
        "{stdout}{stderr}"
    );
    assert!(
        !star.agent_log(0).contains("repair done"),
        "the repair finished before the kill: make the table bigger"
    );
    assert_eq!(star.snap(0).checksum("`MOST`.`big`").await.unwrap(), before);

    star.start_agent(0).unwrap();
    star.wait_agents(1, Duration::from_secs(30)).await.unwrap();
    admin(&star, &["repair", "MOST.big", "--node", "snap1"])
        .await
        .expect(0)
        .says(&[
            "made again from the master's CREATE TABLE",
            "300000 rows missing",
        ]);
    star.wait_converged(Duration::from_secs(60)).await.unwrap();
}

/// `repair --all-snaps`: a table whose new column every node filled with its own values (a
/// per-node default) is made the master's on each snap, one after the other; a snap that is
/// not connected is named and skipped (exit 1) while the other is still repaired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repair_all_snaps_mends_every_snap_and_names_the_one_it_could_not() {
    let mut star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; CREATE TABLE MOST.t (id INT PRIMARY KEY, v INT); \
             USE MOST; INSERT INTO MOST.t SELECT seq, seq FROM seq_1_to_50",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(60)).await.unwrap();
    star.master()
        .exec("ALTER TABLE MOST.t ADD COLUMN r DOUBLE DEFAULT (RAND())")
        .await
        .unwrap();
    for snap in star.snaps() {
        starsync_tests::eventually(
            "the column on the snap",
            Duration::from_secs(30),
            || async {
                let n: Vec<u64> = snap
                    .query(
                        "SELECT COUNT(*) FROM information_schema.COLUMNS \
                     WHERE TABLE_SCHEMA = 'MOST' AND TABLE_NAME = 't' AND COLUMN_NAME = 'r'",
                    )
                    .await?;
                Ok(n[0] == 1)
            },
        )
        .await
        .unwrap();
    }
    let master = star.master().checksum("`MOST`.`t`").await.unwrap();
    for snap in star.snaps() {
        assert_ne!(
            snap.checksum("`MOST`.`t`").await.unwrap(),
            master,
            "{}",
            snap.name()
        );
    }

    admin(&star, &["repair", "MOST.t", "--all-snaps", "--dry-run"])
        .await
        .expect(1)
        .says(&["on snap1 at", "on snap2 at", "50 rows differed", "dry run"]);
    admin(&star, &["repair", "MOST.t", "--all-snaps"])
        .await
        .expect(0)
        .says(&[
            "on snap1 at",
            "on snap2 at",
            "repaired MOST.t on 2 of 2 snap(s)",
        ]);
    star.wait_converged(Duration::from_secs(60)).await.unwrap();
    let out = admin(
        &star,
        &["repair", "MOST.t", "--all-snaps", "--dry-run", "--json"],
    )
    .await
    .expect(0);
    let reports = out.json();
    let reports = reports.as_array().unwrap();
    assert_eq!(reports.len(), 2, "{reports:?}");
    assert!(reports
        .iter()
        .all(|r| r["differed"] == 0 && r["master_rows"] == 50));

    // snap2's agent is gone: snap1 is still repaired, snap2 named.
    star.snap(0)
        .exec("SET SESSION sql_log_bin = 0; UPDATE MOST.t SET v = -1 WHERE id = 1")
        .await
        .unwrap();
    star.agent_proc(1).kill9();
    starsync_tests::eventually(
        "snap2 shown disconnected",
        Duration::from_secs(30),
        || async {
            let st = star.status().await?;
            Ok(starsync_tests::star::status_node(&st, "snap2")
                .is_some_and(|n| n["connected"] == false))
        },
    )
    .await
    .unwrap();
    admin(&star, &["repair", "MOST.t", "--all-snaps"])
        .await
        .expect(1)
        .says(&[
            "1 row differed",
            "repaired MOST.t on 1 of 2 snap(s); not on:",
            "snap2: not connected, skipped",
        ]);
    let v: Vec<i64> = star
        .snap(0)
        .query("SELECT v FROM MOST.t WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(v, [1]);
    star.start_agent(1).unwrap();
    star.wait_converged(Duration::from_secs(60)).await.unwrap();
}
