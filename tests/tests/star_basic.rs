//! Bidirectional star replication: writes on every node, including a multi-statement
//! transaction on a snap, and DDL on the master, reach every node; nothing loops, nothing is
//! lost or doubled.

use std::time::Duration;

use starsync_tests::mariadb::NodeSpec;
use starsync_tests::star::{app_exec, status_node};
use starsync_tests::{eventually, Star};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_on_every_node_converge() {
    let star = Star::start(2).await.unwrap();
    let (m, s1, s2) = (star.master(), star.snap(0), star.snap(1));
    m.exec(
        "CREATE DATABASE MOST; CREATE TABLE MOST.items (id INT PRIMARY KEY, name VARCHAR(50), \
         qty INT NOT NULL DEFAULT 0, note TEXT); \
         CREATE TABLE MOST.log (id INT AUTO_INCREMENT PRIMARY KEY, origin VARCHAR(10), v INT)",
    )
    .await
    .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();

    m.exec("INSERT INTO MOST.items VALUES (1, 'from master', 10, NULL)")
        .await
        .unwrap();
    app_exec(
        s1,
        "BEGIN; INSERT INTO MOST.items VALUES (2, 'from snap1', 20, 'x'), (3, 'tmp', 0, NULL); \
         UPDATE MOST.items SET qty = qty + 1 WHERE id = 2; DELETE FROM MOST.items WHERE id = 3; \
         INSERT INTO MOST.log (origin, v) VALUES ('snap1', 1); COMMIT",
    )
    .await
    .unwrap();
    app_exec(
        s2,
        "INSERT INTO MOST.items VALUES (4, 'from snap2 😀', 40, NULL); \
                  INSERT INTO MOST.log (origin, v) VALUES ('snap2', 2)",
    )
    .await
    .unwrap();
    m.exec("INSERT INTO MOST.log (origin, v) VALUES ('master', 3)")
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();

    let rows: Vec<(i32, String, i32)> = s2
        .query("SELECT id, name, qty FROM MOST.items ORDER BY id")
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![
            (1, "from master".into(), 10),
            (2, "from snap1".into(), 21),
            (4, "from snap2 😀".into(), 40)
        ]
    );
    let logs: Vec<u64> = m.query("SELECT COUNT(*) FROM MOST.log").await.unwrap();
    assert_eq!(
        logs[0], 3,
        "AUTO_INCREMENT values from three nodes do not collide"
    );
    // Every node holds every origin's latest GTID exactly once: positions are identical and
    // carry the three domains.
    let pos = m.gtid_binlog_pos().await.unwrap();
    assert_eq!(pos.domains().collect::<Vec<_>>(), vec![1, 2, 3], "{pos}");
    for s in star.snaps() {
        assert_eq!(s.gtid_binlog_pos().await.unwrap(), pos);
    }
    // Nothing loops: the snap1 transaction is in the master's binlog once, under snap1's GTID.
    let n: Vec<u64> = m
        .query("SELECT COUNT(*) FROM MOST.items WHERE id = 2")
        .await
        .unwrap();
    assert_eq!(n[0], 1);
    // The hub's status agrees (agents report every 300 ms).
    starsync_tests::eventually(
        "status shows every node caught up",
        Duration::from_secs(5),
        || async {
            let st = star.status().await?;
            let nodes = st["nodes"].as_array().cloned().unwrap_or_default();
            Ok(nodes.len() == 3
                && nodes.iter().all(|n| {
                    n["connected"] == true
                        && n["txns_behind"] == 0
                        && n["gtid_pos"] == pos.to_string()
                }))
        },
    )
    .await
    .unwrap();
}

/// Transactions of few rows but many bytes, on servers with `max_allowed_packet=4M`: 200 rows
/// of 200 KB (more bytes than a transaction collected for one round trip may have), and 5 rows
/// of 600 KB (3 MB: collected, but as hex literals its query would not fit the packet), from a
/// snap and from the master. A one-round-trip query past `max_allowed_packet` failed the
/// session, forever; they must go item by item and arrive whole everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn few_rows_of_many_bytes_replicate() {
    let star = blobs_star(|s| s.arg("--max-allowed-packet=4M")).await;
    let (m, s1, s2) = (star.master(), star.snap(0), star.snap(1));
    let packet: Vec<u64> = s2.query("SELECT @@max_allowed_packet").await.unwrap();
    assert_eq!(packet, vec![4 << 20]);
    let blobs = |first: u32, last: u32, len: u32| {
        format!(
            "USE MOST; INSERT INTO blobs SELECT seq, REPEAT(CHAR(64 + seq % 26), {len}) \
             FROM seq_{first}_to_{last}"
        )
    };
    app_exec(s1, &blobs(1, 200, 200_000)).await.unwrap();
    app_exec(s1, &blobs(1001, 1005, 600_000)).await.unwrap();
    m.exec(&blobs(201, 400, 200_000)).await.unwrap();
    m.exec(&blobs(2001, 2005, 600_000)).await.unwrap();
    app_exec(s2, "UPDATE MOST.blobs SET b = REVERSE(b) WHERE id <= 200")
        .await
        .unwrap();
    app_exec(s2, "UPDATE MOST.blobs SET b = REVERSE(b) WHERE id > 1000")
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(120)).await.unwrap();
    for node in [m, s1, s2] {
        let sums: Vec<(u64, u64)> = node
            .query("SELECT COUNT(*), SUM(LENGTH(b)) FROM MOST.blobs")
            .await
            .unwrap();
        assert_eq!(sums, vec![(410, 400 * 200_000 + 10 * 600_000)]);
    }
}

/// A snap whose `max_allowed_packet` (4M) is smaller than a row the master accepted (5 MB): the
/// agent cannot apply it and says why and what to do; everything else keeps flowing to the
/// other snap; once the DBA raises the setting, the snap catches up with nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_past_a_snaps_packet_size_waits_for_the_dba() {
    let star = blobs_star(|s| {
        if s.name == "snap2" {
            s.arg("--max-allowed-packet=4M")
        } else {
            s
        }
    })
    .await;
    let (m, s1, s2) = (star.master(), star.snap(0), star.snap(1));
    // Said before any row needs it: the hub compares each snap's setting with the master's.
    starsync_tests::eventually(
        "the hub warns about snap2's max_allowed_packet",
        Duration::from_secs(10),
        || async {
            Ok(star.hub_log().lines().any(|l| {
                l.contains("WARN") && l.contains("snap2") && l.contains("smaller than the master")
            }))
        },
    )
    .await
    .unwrap();
    let st = star.status().await.unwrap();
    let packet = |name: &str| status_node(&st, name).map(|n| n["max_allowed_packet"].clone());
    assert_eq!(packet("snap2"), Some(serde_json::json!(4 << 20)));
    assert_eq!(packet("master"), Some(serde_json::json!(64 << 20)));
    assert!(
        !star
            .hub_log()
            .lines()
            .any(|l| l.contains("snap1") && l.contains("smaller than")),
        "snap1 has the master's setting"
    );
    m.exec("INSERT INTO MOST.blobs VALUES (1, REPEAT('x', 5000000))")
        .await
        .unwrap();
    app_exec(s1, "INSERT INTO MOST.blobs VALUES (2, 'small')")
        .await
        .unwrap();
    starsync_tests::eventually(
        "the agent of snap2 names max_allowed_packet",
        Duration::from_secs(30),
        || async { Ok(star.agent_log(1).contains("max_allowed_packet")) },
    )
    .await
    .unwrap();
    let log = star.agent_log(1);
    let line = log
        .lines()
        .find(|l| l.contains("max_allowed_packet"))
        .unwrap();
    assert!(line.contains("raise"), "says what to do: {line}");
    // The DBA sees it in the hub's status (master-admin status, the console).
    starsync_tests::eventually(
        "the hub's status shows snap2's error",
        Duration::from_secs(30),
        || async {
            let st = star.status().await?;
            Ok(status_node(&st, "snap2").is_some_and(|n| {
                n["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("max_allowed_packet"))
            }))
        },
    )
    .await
    .unwrap();
    // snap1 got both rows meanwhile.
    starsync_tests::eventually("snap1 has both rows", Duration::from_secs(30), || async {
        let n: Vec<u64> = s1.query("SELECT COUNT(*) FROM MOST.blobs").await?;
        Ok(n == vec![2])
    })
    .await
    .unwrap();
    let n: Vec<u64> = s2.query("SELECT COUNT(*) FROM MOST.blobs").await.unwrap();
    assert_eq!(n, vec![0], "snap2 is held at the row it cannot take");
    s2.exec("SET GLOBAL max_allowed_packet = 67108864")
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(60)).await.unwrap();
    let sums: Vec<(u64, u64)> = s2
        .query("SELECT COUNT(*), SUM(LENGTH(b)) FROM MOST.blobs")
        .await
        .unwrap();
    assert_eq!(sums, vec![(2, 5_000_005)]);
}

/// A master and two snaps started with `spec`, and `MOST.blobs (id, LONGBLOB)` on all of them.
async fn blobs_star(spec: impl Fn(NodeSpec) -> NodeSpec) -> Star {
    let star = Star::start_with(2, spec).await.unwrap();
    star.master()
        .exec("CREATE DATABASE MOST; CREATE TABLE MOST.blobs (id INT PRIMARY KEY, b LONGBLOB)")
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    star
}

/// Savepoints inside transactions, on a snap and on the master: what a `ROLLBACK TO SAVEPOINT`
/// undid is undone on every node (MariaDB logs the rows and the `ROLLBACK TO` when a
/// non-transactional table changed meanwhile), and the statements are not taken for DDL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn savepoints_replicate_exactly() {
    let star = Star::start(2).await.unwrap();
    let m = star.master();
    m.exec(
        "CREATE DATABASE MOST; CREATE TABLE MOST.a (id INT PRIMARY KEY, v INT); \
         CREATE TABLE MOST.m (id INT PRIMARY KEY) ENGINE=MyISAM",
    )
    .await
    .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    let txn = |base: i32| {
        format!(
            "BEGIN; INSERT INTO MOST.a VALUES ({b0}, 0); SAVEPOINT s1; \
             INSERT INTO MOST.a VALUES ({b1}, 1); ROLLBACK TO SAVEPOINT s1; \
             INSERT INTO MOST.a VALUES ({b2}, 2); SAVEPOINT s2; \
             INSERT INTO MOST.a VALUES ({b3}, 3); INSERT INTO MOST.m VALUES ({b3}); \
             ROLLBACK TO SAVEPOINT s2; INSERT INTO MOST.a VALUES ({b4}, 4); \
             SAVEPOINT s3; UPDATE MOST.a SET v = 40 WHERE id = {b4}; RELEASE SAVEPOINT s3; COMMIT",
            b0 = base,
            b1 = base + 1,
            b2 = base + 2,
            b3 = base + 3,
            b4 = base + 4
        )
    };
    app_exec(star.snap(0), &txn(10)).await.unwrap();
    m.exec(&txn(20)).await.unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    for n in [m, star.snap(0), star.snap(1)] {
        let rows: Vec<(i32, i32)> = n
            .query("SELECT id, v FROM MOST.a ORDER BY id")
            .await
            .unwrap();
        assert_eq!(
            rows,
            vec![(10, 0), (12, 2), (14, 40), (20, 0), (22, 2), (24, 40)],
            "on {}",
            n.name()
        );
        // The non-transactional row stays (a rollback cannot undo it), on every node.
        let my: Vec<i32> = n.query("SELECT id FROM MOST.m ORDER BY id").await.unwrap();
        assert_eq!(my, vec![13, 23], "on {}", n.name());
    }
    let st = star.status().await.unwrap();
    assert_eq!(
        status_node(&st, "snap1").unwrap()["ddl_drift"].as_u64(),
        Some(0)
    );
    assert!(!star.hub_log().contains("not replicated (local drift)"));
    assert!(!star.agent_log(0).contains("DDL run on this snap"));
}

/// System-versioned tables (implicit and declared row start/end): every node holds the same
/// current rows and keeps its own history (MariaDB logs a DELETE there as an update that ends
/// the row, and an UPDATE with an extra history row: both are applied as what they mean).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_versioned_tables_replicate_their_current_rows() {
    // snap2 joins later: its snapshot holds the tables (declared period columns visible).
    let mut star = Star::start_partial(2, 1, |s| s).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; \
         CREATE TABLE sv (id INT PRIMARY KEY, v INT) WITH SYSTEM VERSIONING; \
         CREATE TABLE sp (id INT PRIMARY KEY, v VARCHAR(10), \
           since TIMESTAMP(6) GENERATED ALWAYS AS ROW START, \
           until TIMESTAMP(6) GENERATED ALWAYS AS ROW END, \
           PERIOD FOR SYSTEM_TIME(since, until)) WITH SYSTEM VERSIONING; \
         INSERT INTO sv VALUES (1, 1), (2, 2), (3, 3); INSERT INTO sp (id, v) VALUES (1, 'a'), (2, 'b')",
        )
        .await
        .unwrap();
    star.master()
        .exec("UPDATE MOST.sv SET v = 1 WHERE id = 1")
        .await
        .unwrap();
    star.start_agent(1).unwrap();
    star.wait_converged(Duration::from_secs(60)).await.unwrap();
    let m = star.master();
    m.exec("UPDATE MOST.sv SET v = 10 WHERE id = 1; UPDATE MOST.sp SET v = 'A' WHERE id = 1")
        .await
        .unwrap();
    app_exec(
        star.snap(0),
        "UPDATE MOST.sv SET v = 20 WHERE id = 2; DELETE FROM MOST.sp WHERE id = 2; \
         UPDATE MOST.sv SET id = 30 WHERE id = 3",
    )
    .await
    .unwrap();
    app_exec(
        star.snap(1),
        "DELETE FROM MOST.sv WHERE id = 1; INSERT INTO MOST.sv VALUES (4, 4); \
         INSERT INTO MOST.sp (id, v) VALUES (3, 'c')",
    )
    .await
    .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    for n in [m, star.snap(0), star.snap(1)] {
        let sv: Vec<(i32, i32)> = n
            .query("SELECT id, v FROM MOST.sv ORDER BY id")
            .await
            .unwrap();
        assert_eq!(sv, vec![(2, 20), (4, 4), (30, 3)], "sv on {}", n.name());
        let sp: Vec<(i32, String)> = n
            .query("SELECT id, v FROM MOST.sp ORDER BY id")
            .await
            .unwrap();
        assert_eq!(
            sp,
            vec![(1, "A".to_string()), (3, "c".to_string())],
            "sp on {}",
            n.name()
        );
        // Each node versions the rows itself: the history holds every replaced row.
        let history: Vec<u64> = n
            .query("SELECT COUNT(*) FROM MOST.sv FOR SYSTEM_TIME ALL WHERE row_end < NOW(6)")
            .await
            .unwrap();
        assert!(
            history[0] >= 4,
            "{} history rows on {}",
            history[0],
            n.name()
        );
    }
}

/// Non-transactional tables (MyISAM, Aria): MariaDB logs each statement on them at once as a
/// group of its own; the hub applies each as one statement under its GTID, and a snap applies
/// each unlogged with its GTID on the bookkeeping row, so positions stay exactly equal (an extra
/// GTID would stall the next transaction with ERROR 1950, or have it taken for applied).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_transactional_tables_take_one_gtid_per_change() {
    let star = Star::start(2).await.unwrap();
    let m = star.master();
    m.exec(
        "CREATE DATABASE MOST; USE MOST; \
         CREATE TABLE my (id INT PRIMARY KEY, v INT) ENGINE=MyISAM; \
         CREATE TABLE ar (id INT PRIMARY KEY, v INT) ENGINE=Aria; \
         INSERT INTO my VALUES (1, 1), (2, 2), (3, 3); INSERT INTO ar VALUES (1, 1), (2, 2)",
    )
    .await
    .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    app_exec(
        star.snap(0),
        "UPDATE MOST.my SET v = v + 10; UPDATE MOST.ar SET v = 7; DELETE FROM MOST.my WHERE id < 3; \
         INSERT INTO MOST.ar VALUES (3, 3), (4, 4)",
    )
    .await
    .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    m.exec("UPDATE MOST.ar SET v = v * 2 WHERE id > 2; UPDATE MOST.my SET v = 0")
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    app_exec(star.snap(1), "DELETE FROM MOST.ar WHERE id IN (1, 4)")
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    // The master moves keys of several rows in one statement: one GTID there; a snap needs
    // a statement per row (delete the old key, write the new), logged as one GTID each until
    // snaps applied such groups unlogged, their GTID on the bookkeeping row.
    m.exec("INSERT INTO MOST.my VALUES (4, 4), (5, 5); UPDATE MOST.my SET id = id + 100")
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    for n in [m, star.snap(0), star.snap(1)] {
        let my: Vec<(i32, i32)> = n
            .query("SELECT id, v FROM MOST.my ORDER BY id")
            .await
            .unwrap();
        assert_eq!(my, vec![(103, 0), (104, 4), (105, 5)], "my on {}", n.name());
        let ar: Vec<(i32, i32)> = n
            .query("SELECT id, v FROM MOST.ar ORDER BY id")
            .await
            .unwrap();
        assert_eq!(ar, vec![(2, 7), (3, 6)], "ar on {}", n.name());
    }
    let pos = m.gtid_binlog_pos().await.unwrap();
    assert_eq!(
        pos.get(2).map(|g| g.seq),
        Some(4),
        "snap1's four statements: {pos}"
    );
    assert!(!star.hub_log().contains("ERROR 1950"));
}

/// A snap's one statement on a MyISAM table that MariaDB logs as several rows events: a
/// multi-row `INSERT … ON DUPLICATE KEY UPDATE` (an update and an insert), a `REPLACE` that
/// displaced rows, an update moving keys. Written chunk by chunk, the master logged a GTID per
/// chunk (GTIDs the snap never made, its next transactions then taken for applied); the hub
/// writes each as one statement now. A statement no one statement redoes (rows moved to keys
/// where nothing written displaces the old ones) is
/// refused, nothing written, with the way on; the table made InnoDB on the master, it goes
/// through, and nothing was lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snap_statement_logged_in_several_parts_takes_one_gtid_or_waits_for_innodb() {
    let star = Star::start(2).await.unwrap();
    let m = star.master();
    m.exec(
        "CREATE DATABASE MOST; USE MOST; \
         CREATE TABLE my (id INT PRIMARY KEY, v INT, u INT UNIQUE) ENGINE=MyISAM; \
         INSERT INTO my VALUES (1, 1, 1), (2, 2, 2), (3, 3, 3)",
    )
    .await
    .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    app_exec(
        star.snap(0),
        "INSERT INTO MOST.my (id, v) VALUES (1, 10), (9, 9) ON DUPLICATE KEY UPDATE v = VALUES(v); \
         REPLACE INTO MOST.my VALUES (4, 4, 2)",
    )
    .await
    .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    let pos = m.gtid_binlog_pos().await.unwrap();
    assert_eq!(pos.get(2).map(|g| g.seq), Some(2), "two statements: {pos}");
    // Rows moved to other keys, all holding the same unique value as before: one REPLACE.
    app_exec(
        star.snap(0),
        "UPDATE MOST.my SET id = id + 100 WHERE id < 4",
    )
    .await
    .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    // Rows moved to other keys that nothing written displaces: refused at the hub, nothing
    // of it written there.
    app_exec(
        star.snap(0),
        "UPDATE MOST.my SET id = id + 1000, u = NULL WHERE id > 100; \
         INSERT INTO MOST.my VALUES (50, 50, 50)",
    )
    .await
    .unwrap();
    eventually(
        "the hub refuses the statement",
        Duration::from_secs(30),
        || async { Ok(star.hub_log().contains("ALTER TABLE MOST.my ENGINE=InnoDB")) },
    )
    .await
    .unwrap();
    let ids: Vec<i32> = m.query("SELECT id FROM MOST.my ORDER BY id").await.unwrap();
    assert_eq!(ids, vec![4, 9, 101, 103], "nothing of it on the master");
    m.exec("ALTER TABLE MOST.my ENGINE=InnoDB").await.unwrap();
    star.wait_converged(Duration::from_secs(60)).await.unwrap();
    for n in [m, star.snap(0), star.snap(1)] {
        let my: Vec<(i32, i32, Option<i32>)> = n
            .query("SELECT id, v, u FROM MOST.my ORDER BY id")
            .await
            .unwrap();
        assert_eq!(
            my,
            vec![
                (4, 4, Some(2)),
                (9, 9, None),
                (50, 50, Some(50)),
                (1101, 10, None),
                (1103, 3, None)
            ],
            "my on {}",
            n.name()
        );
    }
}

/// A snap's statement on a MyISAM table too large for one statement on the master (its
/// `max_allowed_packet`, 1 MiB here): refused before anything of it is written, with the way
/// on; the table made InnoDB on the master, its rows go through in chunks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snap_statement_too_large_for_one_statement_waits_for_innodb() {
    let star = Star::start_with(2, |s| s.arg("--max-allowed-packet=1M"))
        .await
        .unwrap();
    let m = star.master();
    m.exec("CREATE DATABASE MOST; CREATE TABLE MOST.my (id INT PRIMARY KEY, v INT) ENGINE=MyISAM")
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    app_exec(
        star.snap(0),
        "INSERT INTO MOST.my SELECT seq, seq FROM MOST.seq_1_to_100000",
    )
    .await
    .unwrap();
    eventually(
        "the hub refuses the statement",
        Duration::from_secs(30),
        || async {
            Ok(star
                .hub_log()
                .contains("max_allowed_packet (1048576 bytes) holds"))
        },
    )
    .await
    .unwrap();
    let n: Vec<i64> = m.query("SELECT COUNT(*) FROM MOST.my").await.unwrap();
    assert_eq!(n, [0], "nothing of it on the master");
    m.exec("ALTER TABLE MOST.my ENGINE=InnoDB").await.unwrap();
    star.wait_converged(Duration::from_secs(60)).await.unwrap();
    for node in [m, star.snap(0), star.snap(1)] {
        let n: Vec<i64> = node.query("SELECT COUNT(*) FROM MOST.my").await.unwrap();
        assert_eq!(n, [100_000], "on {}", node.name());
    }
}

/// A MyISAM table without a primary key: a snap's multi-row insert goes as one statement; its
/// update of several rows (one statement per row matched by its whole image) is refused at the
/// hub with the way on, nothing written, and goes through once the table is InnoDB. Written
/// row by row it gave the master a GTID per row, GTIDs the snap never made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snap_statement_on_a_myisam_table_without_a_key_takes_one_gtid_or_waits_for_innodb() {
    let star = Star::start(2).await.unwrap();
    let m = star.master();
    m.exec("CREATE DATABASE MOST; CREATE TABLE MOST.lg (a INT, b INT) ENGINE=MyISAM")
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    app_exec(
        star.snap(0),
        "INSERT INTO MOST.lg VALUES (1, 1), (2, 2), (2, 2)",
    )
    .await
    .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    app_exec(
        star.snap(0),
        "UPDATE MOST.lg SET b = b + 10; INSERT INTO MOST.lg VALUES (3, 3)",
    )
    .await
    .unwrap();
    eventually(
        "the hub refuses the update",
        Duration::from_secs(30),
        || async { Ok(star.hub_log().contains("ALTER TABLE MOST.lg ENGINE=InnoDB")) },
    )
    .await
    .unwrap();
    m.exec("ALTER TABLE MOST.lg ENGINE=InnoDB").await.unwrap();
    star.wait_converged(Duration::from_secs(60)).await.unwrap();
    for node in [m, star.snap(0), star.snap(1)] {
        let rows: Vec<(i32, i32)> = node
            .query("SELECT a, b FROM MOST.lg ORDER BY a, b")
            .await
            .unwrap();
        assert_eq!(
            rows,
            [(1, 11), (2, 12), (2, 12), (3, 3)],
            "on {}",
            node.name()
        );
    }
}
