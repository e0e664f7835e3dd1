//! DDL made on the master reaches every snap; DDL run on a snap is not forwarded and is reported
//! (hub log, agent log, status) as local drift. Tables without a primary key replicate by
//! full-row match.

use std::time::Duration;

use starsync_tests::star::{app_exec, status_node};
use starsync_tests::{eventually, Star};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_ddl_reaches_snaps_and_snap_ddl_is_reported() {
    let star = Star::start(2).await.unwrap();
    let m = star.master();
    m.exec(
        "CREATE DATABASE MOST; CREATE DATABASE shop; \
         CREATE TABLE shop.orders (id INT PRIMARY KEY, total DECIMAL(10,2)); \
         USE MOST; CREATE TABLE a (id INT PRIMARY KEY, v INT); \
         ALTER TABLE a ADD COLUMN w VARCHAR(10) NOT NULL DEFAULT 'x', ADD INDEX (v); \
         INSERT INTO a VALUES (1, 1, 'y'), (2, 2, DEFAULT); \
         CREATE TABLE gone (id INT PRIMARY KEY); DROP TABLE gone; \
         CREATE TABLE nokey (a INT, b VARCHAR(10)); \
         INSERT INTO nokey VALUES (1, 'dup'), (1, 'dup'), (2, NULL); \
         INSERT INTO shop.orders VALUES (7, 70.5); \
         CREATE USER 'local_only'@'%' IDENTIFIED BY 'pw'",
    )
    .await
    .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    for s in star.snaps() {
        let cols: Vec<String> = s
            .query(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA='MOST' \
                 AND TABLE_NAME='a' ORDER BY ORDINAL_POSITION",
            )
            .await
            .unwrap();
        assert_eq!(cols, vec!["id", "v", "w"], "ALTER reached {}", s.name());
        let gone: Vec<u64> = s
            .query("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME = 'gone'")
            .await
            .unwrap();
        assert_eq!(gone[0], 0, "DROP TABLE reached {}", s.name());
        let shop: Vec<String> = s.query("SELECT total FROM shop.orders").await.unwrap();
        assert_eq!(
            shop,
            vec!["70.50"],
            "a database created on the master replicates"
        );
        let users: Vec<u64> = s
            .query("SELECT COUNT(*) FROM mysql.user WHERE user = 'local_only'")
            .await
            .unwrap();
        assert_eq!(users[0], 0, "account statements stay on the master");
    }

    // A table without a primary key: one of two identical rows changes, one row goes.
    app_exec(
        star.snap(0),
        "UPDATE MOST.nokey SET b = 'one' WHERE a = 1 LIMIT 1; \
                            DELETE FROM MOST.nokey WHERE a = 2",
    )
    .await
    .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    let rows: Vec<(i32, Option<String>)> = star
        .snap(1)
        .query("SELECT a, b FROM MOST.nokey ORDER BY b")
        .await
        .unwrap();
    assert_eq!(rows, vec![(1, Some("dup".into())), (1, Some("one".into()))]);

    // DDL on a snap (as root: snap users have DML only) is not forwarded.
    let s1 = star.snap(0);
    s1.exec("DROP TABLE MOST.a").await.unwrap();
    s1.exec("CREATE TABLE MOST.local_t (id INT PRIMARY KEY)")
        .await
        .unwrap();
    eventually("the drift is reported", Duration::from_secs(15), || async {
        let st = star.status().await?;
        let n = status_node(&st, "snap1").cloned().unwrap();
        Ok(n["ddl_drift"].as_u64() == Some(2)
            && n["last_ddl_drift"]
                .as_str()
                .is_some_and(|s| s.contains("local_t")))
    })
    .await
    .unwrap();
    let hub_log = star.hub_log();
    assert!(
        hub_log.contains("DDL executed on this snap is not replicated")
            && hub_log.contains("DROP TABLE"),
        "hub log: {hub_log}"
    );
    assert!(star
        .agent_log(0)
        .contains("DDL run on this snap is not replicated"));
    // The master and the other snap keep the table; the snap's GTIDs still reached the master.
    for n in [m, star.snap(1)] {
        let c: Vec<u64> = n.query("SELECT COUNT(*) FROM MOST.a").await.unwrap();
        assert_eq!(c[0], 2, "MOST.a still on {}", n.name());
    }
    eventually(
        "snap1's domain is contiguous on the master",
        Duration::from_secs(15),
        || async {
            let local = s1.gtid_binlog_pos().await?.get(2);
            let master = m.gtid_binlog_pos().await?.get(2);
            Ok(local.is_some() && local == master)
        },
    )
    .await
    .unwrap();
    // Replication goes on for tables both sides have.
    app_exec(star.snap(1), "INSERT INTO MOST.nokey VALUES (3, 'after')")
        .await
        .unwrap();
    eventually(
        "rows still flow to the drifted snap",
        Duration::from_secs(15),
        || async {
            let c: Vec<u64> = s1
                .query("SELECT COUNT(*) FROM MOST.nokey WHERE a = 3")
                .await?;
            Ok(c[0] == 1)
        },
    )
    .await
    .unwrap();
}

/// DDL whose transaction carries rows (`CREATE TABLE … SELECT`), RENAME and TRUNCATE,
/// sequences, and a scheduled event (it stays on the master): everything converges with every origin's GTIDs once; a snap that joins later gets
/// the sequence's state in its snapshot; a `CREATE TABLE … SELECT` run on a snap stays there,
/// rows and all, and the snap's other changes still flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_select_rename_truncate_and_sequences_replicate() {
    let mut star = Star::start_partial(2, 1, |s| s).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; \
         CREATE TABLE a (id INT PRIMARY KEY, v INT); INSERT INTO a VALUES (1, 1), (2, 2), (3, 3); \
         CREATE SEQUENCE ids INCREMENT BY 0; \
         CREATE TABLE items (id BIGINT PRIMARY KEY, node VARCHAR(10)); \
         INSERT INTO items VALUES (NEXTVAL(ids), 'master'); \
         CREATE TABLE a_copy AS SELECT * FROM a; \
         CREATE TABLE a_keyed (PRIMARY KEY (id)) AS SELECT id, v * 10 AS v FROM a; \
         CREATE TABLE a_empty AS SELECT * FROM a WHERE id < 0; \
         RENAME TABLE a_copy TO a_renamed; \
         CREATE TABLE t2 LIKE a; INSERT INTO t2 SELECT * FROM a; TRUNCATE TABLE t2; \
         INSERT INTO t2 VALUES (9, 9); FLUSH PRIVILEGES; CREATE INDEX iv ON a (v); \
         CREATE EVENT tick ON SCHEDULE EVERY 1 HOUR DISABLE DO INSERT INTO a VALUES (100, 100)",
        )
        .await
        .unwrap();
    let s1 = star.snap(0);
    // The master's statements return before they reach snap1: wait for the table the snap
    // writes to (the sequence is created before it, in the same order).
    eventually("items reached snap1", Duration::from_secs(30), || async {
        let n: Vec<u64> = s1
            .query("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME = 'items'")
            .await?;
        Ok(n[0] == 1)
    })
    .await
    .unwrap();
    app_exec(
        s1,
        "INSERT INTO MOST.items VALUES (NEXTVAL(MOST.ids), 'snap1'); \
         INSERT INTO MOST.items VALUES (NEXTVAL(MOST.ids), 'snap1')",
    )
    .await
    .unwrap_or_else(|e| panic!("NEXTVAL on snap1 (the sequence replicated): {e:#}"));
    // Its rows, not the table: a snap creates the table of a `CREATE TABLE … SELECT` first and
    // writes the rows after, in the transaction that takes the GTID (`create_for_rows`); an
    // update between the two found no row (seen once in CI).
    eventually(
        "a_keyed's rows reached snap1",
        Duration::from_secs(30),
        || async {
            let n: Vec<u64> = s1.query("SELECT COUNT(*) FROM MOST.a_keyed").await?;
            Ok(n[0] == 3)
        },
    )
    .await
    .unwrap();
    app_exec(s1, "UPDATE MOST.a_keyed SET v = v + 1 WHERE id = 2")
        .await
        .unwrap();
    // As root on snap1: drift, rows and all.
    s1.exec("CREATE TABLE MOST.local_copy AS SELECT * FROM MOST.a")
        .await
        .unwrap();
    app_exec(s1, "INSERT INTO MOST.a VALUES (4, 4)")
        .await
        .unwrap();
    let _ = s1;

    // snap2 joins now: its snapshot holds the sequence, at its state.
    star.start_agent(1).unwrap();
    let (m, s1, s2) = (star.master(), star.snap(0), star.snap(1));
    eventually(
        "snap2 loaded its snapshot",
        Duration::from_secs(60),
        || async {
            let n: Vec<u64> = s2
                .query("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME = 'items'")
                .await?;
            Ok(n[0] == 1 && star.agent_status(1).await?["local_writes_held"].is_null())
        },
    )
    .await
    .unwrap();
    app_exec(
        s2,
        "INSERT INTO MOST.items VALUES (NEXTVAL(MOST.ids), 'snap2')",
    )
    .await
    .unwrap_or_else(|e| panic!("NEXTVAL on snap2 (the sequence came in its snapshot): {e:#}"));
    m.exec("INSERT INTO MOST.items VALUES (NEXTVAL(MOST.ids), 'master')")
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(60)).await.unwrap();

    for n in [m, s1, s2] {
        let items: Vec<(u64, String)> = n
            .query("SELECT id, node FROM MOST.items ORDER BY node, id")
            .await
            .unwrap();
        let nodes: Vec<&str> = items.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(
            nodes,
            vec!["master", "master", "snap1", "snap1", "snap2"],
            "on {}",
            n.name()
        );
        let keyed: Vec<(i32, i32)> = n.query("SELECT id, v FROM MOST.a_keyed").await.unwrap();
        assert_eq!(keyed, vec![(1, 10), (2, 21), (3, 30)], "on {}", n.name());
        let renamed: Vec<u64> = n
            .query("SELECT COUNT(*) FROM MOST.a_renamed")
            .await
            .unwrap();
        let t2: Vec<i32> = n.query("SELECT id FROM MOST.t2").await.unwrap();
        let a: Vec<u64> = n.query("SELECT COUNT(*) FROM MOST.a").await.unwrap();
        assert_eq!((renamed[0], t2, a[0]), (3, vec![9], 4), "on {}", n.name());
    }
    // Every node's sequence is past every value handed out anywhere (changes apply forward
    // only), so its next value collides with none of them.
    let max: Vec<i64> = m.query("SELECT MAX(id) FROM MOST.items").await.unwrap();
    for n in [m, s1, s2] {
        let next: Vec<i64> = n
            .query("SELECT next_not_cached_value FROM MOST.ids")
            .await
            .unwrap();
        assert!(
            next[0] > max[0],
            "sequence on {} at {} after {}",
            n.name(),
            next[0],
            max[0]
        );
    }
    // FLUSH PRIVILEGES (a statement logged without the DDL flag) took its GTID on the snaps
    // and no other: the master's next GTID, the CREATE INDEX, was applied, not taken as held.
    for n in [s1, s2] {
        let idx: Vec<u64> = n
            .query(
                "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = 'MOST' \
                 AND TABLE_NAME = 'a' AND INDEX_NAME = 'iv'",
            )
            .await
            .unwrap();
        assert_eq!(idx[0], 1, "index iv on {}", n.name());
    }
    assert!(!star.agent_log(0).contains("ERROR 1950"));
    // Scheduled events stay on the master (on every node they would run once per node).
    for (n, want) in [(m, 1), (s1, 0), (s2, 0)] {
        let e: Vec<u64> = n
            .query("SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_NAME = 'tick'")
            .await
            .unwrap();
        assert_eq!(e[0], want, "events on {}", n.name());
    }
    // The table snap1 made for itself stays there.
    for n in [m, s2] {
        let c: Vec<u64> = n
            .query("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME = 'local_copy'")
            .await
            .unwrap();
        assert_eq!(c[0], 0, "local_copy on {}", n.name());
    }
    let c: Vec<u64> = s1
        .query("SELECT COUNT(*) FROM MOST.local_copy")
        .await
        .unwrap();
    assert_eq!(c[0], 3);
    let st = star.status().await.unwrap();
    assert_eq!(
        status_node(&st, "snap1").unwrap()["ddl_drift"].as_u64(),
        Some(1)
    );
    assert!(star.hub_log().contains("CREATE TABLE `MOST`.`local_copy`"));
}

/// A snap writes to a table while the master drops it (here: the snap's agent is down
/// meanwhile). Hub order wins: the rows for the dropped table go to the conflict log (kind
/// `table_missing`, with their images) instead of stopping the snap's replication, the rest of
/// the transaction applies, the DROP reaches the snap, and the nodes converge. A column the
/// master dropped is left out of the snap's row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snap_write_to_a_table_the_master_dropped_goes_to_the_conflict_log() {
    let mut star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; CREATE TABLE MOST.a (id INT PRIMARY KEY, v INT); \
             CREATE TABLE MOST.dr (id INT PRIMARY KEY, v VARCHAR(10)); \
             CREATE TABLE MOST.dc (id INT PRIMARY KEY, v INT, w INT)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    star.agent_proc(0)
        .terminate(Duration::from_secs(10))
        .unwrap();
    app_exec(
        star.snap(0),
        "BEGIN; INSERT INTO MOST.dr VALUES (1, 'one'), (2, 'two'); \
         INSERT INTO MOST.a VALUES (10, 10); INSERT INTO MOST.dc VALUES (1, 1, 1); COMMIT",
    )
    .await
    .unwrap();
    star.master()
        .exec("DROP TABLE MOST.dr; ALTER TABLE MOST.dc DROP COLUMN w")
        .await
        .unwrap();
    star.start_agent(0).unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    let logged: Vec<(String, String, String)> = star
        .master()
        .query(
            "SELECT kind, origin_node, JSON_UNQUOTE(JSON_EXTRACT(incoming_after, '$.v')) \
             FROM starsync.conflicts WHERE table_name = 'dr' ORDER BY id",
        )
        .await
        .unwrap();
    let want = |v: &str| {
        (
            "table_missing".to_string(),
            "snap1".to_string(),
            v.to_string(),
        )
    };
    assert_eq!(logged, vec![want("one"), want("two")]);
    for n in star.cluster.nodes.iter() {
        let a: Vec<u64> = n
            .query("SELECT COUNT(*) FROM MOST.a WHERE id = 10")
            .await
            .unwrap();
        let dc: Vec<(i32, i32)> = n.query("SELECT id, v FROM MOST.dc").await.unwrap();
        let dr: Vec<u64> = n
            .query("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME = 'dr'")
            .await
            .unwrap();
        assert_eq!((a[0], dc, dr[0]), (1, vec![(1, 1)], 0), "{}", n.name());
    }
    // snap1's replication goes on.
    app_exec(star.snap(0), "INSERT INTO MOST.a VALUES (11, 11)")
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    assert_eq!(
        star.status().await.unwrap()["nodes"]
            .as_array()
            .map(|n| n.iter().filter(|n| !n["last_error"].is_null()).count()),
        Some(0),
        "no node reports an error"
    );
}

/// A snap writes values that fit its columns while the master narrows them (a shorter VARCHAR,
/// TINYINT, a shrunk ENUM): the master converts them as its own ALTER did its rows, every node
/// converges on that, and each converted row is in the conflict log as sent. Dates a snap
/// allowed with `ALLOW_INVALID_DATES` replicate as they are (they were zeroed before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snap_value_a_narrowed_master_column_cannot_hold_is_converted_and_logged() {
    let mut star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; \
             CREATE TABLE n (id INT PRIMARY KEY, v VARCHAR(10)); \
             CREATE TABLE t (id INT PRIMARY KEY, v INT); \
             CREATE TABLE e (id INT PRIMARY KEY, v ENUM('a','b','c')); \
             CREATE TABLE d (id INT PRIMARY KEY, v DATE); \
             CREATE TABLE l1 (id INT PRIMARY KEY, v VARCHAR(10)) CHARACTER SET latin1; \
             CREATE TABLE l2 (id INT PRIMARY KEY, v VARCHAR(10)) CHARACTER SET utf8mb4; \
             INSERT INTO e VALUES (1, 'a'), (2, 'b')",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    star.agent_proc(0)
        .terminate(Duration::from_secs(10))
        .unwrap();
    // One row alone, two rows of which one does not fit, an update.
    app_exec(
        star.snap(0),
        "INSERT INTO MOST.n VALUES (1, 'abcdefghij'); \
         INSERT INTO MOST.t VALUES (1, 100), (2, 1000); \
         UPDATE MOST.e SET v = 'c' WHERE id = 2; \
         SET sql_mode = 'ALLOW_INVALID_DATES'; INSERT INTO MOST.d VALUES (1, '2020-02-30'); \
         INSERT INTO MOST.l1 VALUES (1, 'héllo'); INSERT INTO MOST.l2 VALUES (1, 'x日y')",
    )
    .await
    .unwrap();
    star.master()
        .exec(
            "ALTER TABLE MOST.n MODIFY v VARCHAR(3); ALTER TABLE MOST.t MODIFY v TINYINT; \
             ALTER TABLE MOST.e MODIFY v ENUM('a','b'); \
             ALTER TABLE MOST.l1 CONVERT TO CHARACTER SET utf8mb4; \
             ALTER TABLE MOST.l2 CONVERT TO CHARACTER SET latin1",
        )
        .await
        .unwrap();
    star.start_agent(0).unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    for node in star.cluster.nodes.iter() {
        let n: Vec<String> = node.query("SELECT v FROM MOST.n").await.unwrap();
        let t: Vec<(i32, i32)> = node
            .query("SELECT id, v FROM MOST.t ORDER BY id")
            .await
            .unwrap();
        let e: Vec<(i32, String)> = node
            .query("SELECT id, v FROM MOST.e ORDER BY id")
            .await
            .unwrap();
        let d: Vec<String> = node
            .query("SELECT CAST(v AS CHAR) FROM MOST.d")
            .await
            .unwrap();
        // A character set changed while the snap wrote: the characters, not its bytes.
        let l: Vec<String> = node
            .query("SELECT v FROM MOST.l1 UNION ALL SELECT v FROM MOST.l2")
            .await
            .unwrap();
        assert_eq!(l, vec!["héllo", "x?y"], "{}", node.name());
        assert_eq!(
            (n, t, e, d),
            (
                vec!["abc".to_string()],
                vec![(1, 100), (2, 127)],
                vec![(1, "a".into()), (2, "".into())],
                vec!["2020-02-30".to_string()]
            ),
            "{}",
            node.name()
        );
    }
    let logged: Vec<(String, String, String, String)> = star
        .master()
        .query(
            "SELECT kind, table_name, JSON_UNQUOTE(JSON_EXTRACT(master_image, '$.v')), \
             JSON_UNQUOTE(JSON_EXTRACT(incoming_after, '$.v')) FROM starsync.conflicts \
             ORDER BY id",
        )
        .await
        .unwrap();
    let row = |table: &str, stored: &str, sent: &str| {
        (
            "converted".to_string(),
            table.to_string(),
            stored.to_string(),
            sent.to_string(),
        )
    };
    // An ENUM reads as its label, as the snap defined it.
    assert_eq!(
        logged,
        vec![
            row("n", "abc", "abcdefghij"),
            row("t", "127", "1000"),
            row("e", "", "c"),
            row("l2", "x?y", "x日y")
        ]
    );
    assert!(
        star.hub_log().contains("Data truncated"),
        "the hub logs the server's warning"
    );
}

/// DDL runs on the snaps with the master session's settings, as native replication runs it:
/// `sql_mode` (how the text parses, what a routine keeps), the time zone of time literals,
/// `foreign_key_checks = 0`. Each of these made a snap's table, routine or default differ from
/// the master's, or the statement fail there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_ddl_runs_on_snaps_with_the_masters_session_settings() {
    let star = Star::start(2).await.unwrap();
    let m = star.master();
    m.exec("CREATE DATABASE MOST").await.unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    for sql in [
        "SET sql_mode = 'ANSI_QUOTES'; CREATE TABLE MOST.\"aq\" (\"id\" INT PRIMARY KEY)",
        "SET sql_mode = 'NO_BACKSLASH_ESCAPES'; \
         CREATE TABLE MOST.nb (id INT PRIMARY KEY, p VARCHAR(20) DEFAULT 'C:\\new')",
        "SET sql_mode = 'PIPES_AS_CONCAT'; CREATE TABLE MOST.pc (id INT PRIMARY KEY, \
         a VARCHAR(5), b VARCHAR(5), c VARCHAR(10) AS (a || b) STORED)",
        "SET sql_mode = 'ORACLE'; CREATE TABLE MOST.ora (id NUMBER PRIMARY KEY, s VARCHAR2(10))",
        "SET sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE'; \
         CREATE PROCEDURE MOST.pr() INSERT INTO MOST.nb (id) VALUES (1)",
        "SET time_zone = '+05:00'; CREATE TABLE MOST.tz (id INT PRIMARY KEY, \
         t TIMESTAMP NULL DEFAULT '2024-01-01 00:00:00')",
        "SET foreign_key_checks = 0; CREATE TABLE MOST.child (id INT PRIMARY KEY, p INT, \
         FOREIGN KEY (p) REFERENCES MOST.parent (id))",
        "CREATE TABLE MOST.parent (id INT PRIMARY KEY)",
        "INSERT INTO MOST.pc (id, a, b) VALUES (1, 'a', 'b'); INSERT INTO MOST.tz (id) VALUES (1)",
        // Existing rows take the master's time (the statement runs at the master's timestamp).
        "ALTER TABLE MOST.tz ADD COLUMN added DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)",
    ] {
        m.exec(sql).await.unwrap();
    }
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    async fn shape(node: &starsync_tests::mariadb::Node) -> Vec<String> {
        let mut out = Vec::new();
        for t in ["aq", "nb", "pc", "ora", "tz", "child"] {
            let ddl: Vec<(String, String)> = node
                .query(&format!("SHOW CREATE TABLE MOST.`{t}`"))
                .await
                .unwrap_or_else(|e| panic!("{}: MOST.{t}: {e}", node.name()));
            out.push(ddl[0].1.clone());
        }
        let mode: Vec<String> = node
            .query("SELECT sql_mode FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'MOST'")
            .await
            .unwrap();
        out.extend(mode);
        let rows: Vec<(String, i64, String)> = node
            .query(
                "SELECT c, UNIX_TIMESTAMP(t), CAST(added AS CHAR) FROM MOST.pc JOIN MOST.tz \
                 USING (id)",
            )
            .await
            .unwrap();
        out.push(format!("{rows:?}"));
        out
    }
    let want = shape(m).await;
    assert!(
        want.contains(&"STRICT_ALL_TABLES,NO_ZERO_DATE".to_string()),
        "{want:?}"
    );
    assert!(
        want.last().unwrap().starts_with("[(\"ab\", 1704049200, "),
        "{want:?}"
    );
    for s in star.snaps() {
        assert_eq!(shape(s).await, want, "{}", s.name());
    }
    for i in 0..2 {
        assert_eq!(star.agent_status(i).await.unwrap()["ddl_failed"], 0);
    }
    // A default computed per node: each node fills the existing rows itself; the agents say
    // so and what to do, which makes the nodes equal.
    m.exec("ALTER TABLE MOST.pc ADD COLUMN u CHAR(36) DEFAULT (UUID())")
        .await
        .unwrap();
    eventually("the agents warn", Duration::from_secs(30), || async {
        Ok((0..2).all(|i| star.agent_log(i).contains("computed on each node (UUID())")))
    })
    .await
    .unwrap();
    m.exec("UPDATE MOST.pc SET u = UUID()").await.unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
}

/// A data change logged as a statement (a privileged session set `binlog_format` to STATEMENT):
/// from the master, the snaps run it with the master's time, auto-increment values, `RAND()`
/// seeds and user variables, so they get the master's rows (each of these differed before);
/// from a snap, it is not replicated, and both logs say so and what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_logged_data_changes() {
    let star = Star::start(2).await.unwrap();
    let m = star.master();
    m.exec(
        "CREATE DATABASE MOST; CREATE TABLE MOST.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT, \
         w VARCHAR(40), d DECIMAL(6,2)); INSERT INTO MOST.t VALUES (1, 1, 'x', 0), (2, 2, 'y', 0)",
    )
    .await
    .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    m.exec(
        "SET SESSION binlog_format = 'STATEMENT'; \
         UPDATE MOST.t SET w = NOW(6) WHERE id = 1; \
         INSERT INTO MOST.t (v) VALUES (100); \
         UPDATE MOST.t SET v = FLOOR(RAND() * 1000000) WHERE id = 2; \
         SET @i = 77, @s = 'héllo', @d = 1.25, @n = NULL, @e = ''; \
         INSERT INTO MOST.t (v, w, d) VALUES (@i, @s, @d), (@n, @n, @n); \
         INSERT INTO MOST.t (v, w) VALUES (@i * 2, CONCAT(@d, '|', @s, '|', COLLATION(@s), @e)); \
         INSERT INTO MOST.t (v) VALUES (LAST_INSERT_ID()); \
         SET lc_time_names = 'de_DE'; \
         INSERT INTO MOST.t (v, w) VALUES (3, DATE_FORMAT('2020-03-01', '%M'))",
    )
    .await
    .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    async fn rows(
        node: &starsync_tests::mariadb::Node,
    ) -> Vec<(i32, Option<i32>, Option<String>, Option<String>)> {
        node.query("SELECT id, v, w, CAST(d AS CHAR) FROM MOST.t ORDER BY id")
            .await
            .unwrap()
    }
    let want = rows(m).await;
    assert_eq!(want.len(), 8, "{want:?}");
    assert!(
        want.iter().any(|r| r.2.as_deref() == Some("März")),
        "{want:?}"
    );
    assert!(
        want.iter().any(|r| r.2.as_deref() == Some("héllo")),
        "{want:?}"
    );
    assert!(
        want.iter().any(|r| r
            .2
            .as_deref()
            .is_some_and(|w| w.starts_with("1.25|héllo|utf8"))),
        "{want:?}"
    );
    for s in star.snaps() {
        assert_eq!(rows(s).await, want, "{}", s.name());
    }
    assert!(star
        .agent_log(0)
        .contains("a data change the origin logged as a statement"));

    // LOAD DATA logged as a statement: its file stays in the master's binlog, so each snap
    // says it lacks the rows (counted like a failed DDL); loading again with ROW mends it.
    let file = star.cluster.root.path().join("load.csv");
    std::fs::write(&file, "10,ten\n11,eleven\n").unwrap();
    let load = format!(
        "LOAD DATA INFILE '{}' INTO TABLE MOST.t FIELDS TERMINATED BY ',' (id, w)",
        file.display()
    );
    m.exec(&format!("SET SESSION binlog_format = 'STATEMENT'; {load}"))
        .await
        .unwrap();
    eventually(
        "the snaps say they lack the rows",
        Duration::from_secs(30),
        || async {
            let mut said = true;
            for i in 0..2 {
                let st = star.agent_status(i).await?;
                said &= st["ddl_failed"] == 1
                    && st["last_ddl_failed"]
                        .as_str()
                        .is_some_and(|s| s.contains("LOAD DATA was logged as a statement"));
            }
            Ok(said)
        },
    )
    .await
    .unwrap();
    m.exec(&format!("DELETE FROM MOST.t WHERE id IN (10, 11); {load}"))
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    assert_eq!(rows(star.snap(1)).await.len(), 10);

    // On a snap: not replicated, and said so by the agent and the hub.
    star.snap(0)
        .exec("SET SESSION binlog_format = 'STATEMENT'; UPDATE MOST.t SET v = -1 WHERE id = 1")
        .await
        .unwrap();
    eventually(
        "the snap's statement is reported",
        Duration::from_secs(30),
        || async {
            let st = star.agent_status(0).await?;
            Ok(st["ddl_drift"] == 1
                && star
                    .hub_log()
                    .contains("a data change on this snap was logged as a statement")
                && star
                    .agent_log(0)
                    .contains("until the same change is made on the master"))
        },
    )
    .await
    .unwrap();
    let v: Vec<i32> = m.query("SELECT v FROM MOST.t WHERE id = 1").await.unwrap();
    assert_eq!(v, vec![1]);
    // The way out the message gives: the change made on the master reaches every node.
    m.exec("UPDATE MOST.t SET v = -1 WHERE id = 1")
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
}
