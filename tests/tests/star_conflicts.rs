//! Concurrent updates of the same rows on two snaps and the master converge, and every conflict
//! the hub saw is in the conflict log with both row images.

use std::time::Duration;

use mysql_async::prelude::*;
use starsync_tests::star::{app_conn, app_exec};
use starsync_tests::{eventually, Star};

/// kind, origin, master image, incoming before, incoming after.
type ConflictRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_updates_converge_and_are_logged() {
    let star = Star::start(2).await.unwrap();
    let m = star.master();
    m.exec(
        "CREATE DATABASE MOST; CREATE TABLE MOST.c (id INT PRIMARY KEY, v INT NOT NULL, \
         who VARCHAR(10), u INT UNIQUE); \
         USE MOST; INSERT INTO c SELECT seq, 0, 'init', NULL FROM seq_1_to_20",
    )
    .await
    .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();

    let mut conns = vec![m.conn().await.unwrap()];
    for s in star.snaps() {
        conns.push(app_conn(s).await.unwrap());
    }
    let names = ["master", "snap1", "snap2"];
    for round in 0..30 {
        let futs = conns.iter_mut().enumerate().map(|(i, c)| {
            let who = names[i];
            async move {
                // The same rows on every node, plus an insert of the same new key on the snaps.
                let mut sql = format!(
                    "UPDATE MOST.c SET v = v + {}, who = '{who}' WHERE id IN (1, 2, 3, {});",
                    i + 1,
                    4 + round % 5
                );
                if i > 0 {
                    sql.push_str(&format!(
                        "INSERT INTO MOST.c VALUES ({}, {i}, '{who}', NULL) \
                         ON DUPLICATE KEY UPDATE v = v + 100;",
                        100 + round
                    ));
                }
                if round % 10 == 9 {
                    sql.push_str(&format!(
                        "DELETE FROM MOST.c WHERE id = {};",
                        10 + round / 10
                    ));
                }
                c.query_drop(sql).await
            }
        });
        for r in futures::future::join_all(futs).await {
            r.unwrap();
        }
    }
    star.wait_converged(Duration::from_secs(60)).await.unwrap();

    let conflicts: Vec<ConflictRow> = m
        .query(
            "SELECT kind, origin_node, master_image, incoming_before, incoming_after \
             FROM starsync.conflicts ORDER BY id",
        )
        .await
        .unwrap();
    assert!(
        !conflicts.is_empty(),
        "concurrent updates produced conflicts"
    );
    let mut origins: Vec<&str> = conflicts.iter().map(|c| c.1.as_str()).collect();
    origins.sort();
    origins.dedup();
    assert!(
        origins.iter().all(|o| *o == "snap1" || *o == "snap2"),
        "{origins:?}"
    );
    for (kind, origin, master, before, after) in &conflicts {
        match kind.as_str() {
            "update_mismatch" | "insert_exists" | "delete_mismatch" => {
                assert!(
                    master.is_some(),
                    "{kind} from {origin}: master image logged"
                );
                assert!(
                    before.is_some() || after.is_some(),
                    "{kind}: incoming image logged"
                );
            }
            "update_missing" | "delete_missing" => assert!(before.is_some()),
            other => panic!("unexpected conflict kind {other}"),
        }
    }
    let total = conflicts.len() as u64;
    starsync_tests::eventually(
        "status counts the conflicts",
        Duration::from_secs(10),
        || async {
            let st = star.status().await?;
            Ok(st["conflicts_total"].as_u64() == Some(total))
        },
    )
    .await
    .unwrap();
    let mut kinds = std::collections::BTreeMap::new();
    for c in &conflicts {
        *kinds.entry(c.0.as_str()).or_insert(0) += 1;
    }
    println!("{} conflicts logged: {kinds:?}", conflicts.len());
}

/// The same value of a secondary unique key written under different primary keys on two nodes
/// (a user registering one email on two snaps). Hub order: the row that reaches the master last
/// keeps the value; the row it displaces is deleted everywhere and kept in the conflict log
/// (kind `unique_displaced`, with its image), never silently rewritten into the other row.
/// And a snap's change that the master applied as a no-op (its column renamed on the master
/// meanwhile) still leaves that snap with the master's row; a row the master changed and then
/// removed by a cascade (which its binlog does not show) while the snap changed it stays
/// removed on the snap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_key_collisions_and_renamed_columns_converge_and_are_logged() {
    let mut star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; CREATE TABLE MOST.users (id INT PRIMARY KEY, \
             email VARCHAR(40), name VARCHAR(20), UNIQUE KEY (email)); \
             CREATE TABLE MOST.b (id INT PRIMARY KEY, v INT); \
             CREATE TABLE MOST.p (id INT PRIMARY KEY); CREATE TABLE MOST.c (id INT PRIMARY KEY, \
             pid INT, v INT, FOREIGN KEY (pid) REFERENCES MOST.p (id) ON DELETE CASCADE); \
             INSERT INTO MOST.p VALUES (1), (2); INSERT INTO MOST.c VALUES (10, 1, 0), (20, 2, 0)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    // snap1 is cut off while the master and snap2 register the same email.
    star.agent_proc(0)
        .terminate(Duration::from_secs(10))
        .unwrap();
    app_exec(
        star.snap(0),
        "INSERT INTO MOST.users VALUES (10, 'a@x', 'snap1'), (11, NULL, 'no email'); \
         INSERT INTO MOST.b VALUES (10, 10); UPDATE MOST.b SET v = 11 WHERE id = 10; \
         UPDATE MOST.c SET v = 5 WHERE id = 10; UPDATE MOST.c SET v = 6 WHERE id = 10",
    )
    .await
    .unwrap();
    star.master()
        .exec(
            "INSERT INTO MOST.users VALUES (1, 'a@x', 'master'), (2, NULL, 'no email'); \
             ALTER TABLE MOST.b RENAME COLUMN v TO v2; UPDATE MOST.c SET v = 2 WHERE id = 10; \
             DELETE FROM MOST.p WHERE id = 1",
        )
        .await
        .unwrap();
    star.start_agent(0).unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    for n in star.cluster.nodes.iter() {
        let rows: Vec<(i32, Option<String>, String)> = n
            .query("SELECT id, email, name FROM MOST.users ORDER BY id")
            .await
            .unwrap();
        assert_eq!(
            rows,
            vec![
                (2, None, "no email".into()),
                (10, Some("a@x".into()), "snap1".into()),
                (11, None, "no email".into()),
            ],
            "{}",
            n.name()
        );
        let b: Vec<(i32, Option<i32>)> = n.query("SELECT id, v2 FROM MOST.b").await.unwrap();
        assert_eq!(b, vec![(10, None)], "{}: the master's row", n.name());
        let c: Vec<(i32, i32, i32)> = n.query("SELECT id, pid, v FROM MOST.c").await.unwrap();
        assert_eq!(c, vec![(20, 2, 0)], "{}", n.name());
    }
    let logged: Vec<(String, String, String)> = star
        .master()
        .query(
            "SELECT kind, origin_node, JSON_UNQUOTE(JSON_EXTRACT(master_image, '$.name')) \
             FROM starsync.conflicts WHERE table_name = 'users'",
        )
        .await
        .unwrap();
    assert_eq!(
        logged,
        vec![("unique_displaced".into(), "snap1".into(), "master".into())]
    );
    let logged: Vec<(String, String, String)> = star
        .master()
        .query(
            "SELECT kind, origin_node, JSON_UNQUOTE(JSON_EXTRACT(incoming_after, '$.v')) \
             FROM starsync.conflicts WHERE table_name = 'c' ORDER BY id",
        )
        .await
        .unwrap();
    let refused = |v: &str| {
        (
            "foreign_key".to_string(),
            "snap1".to_string(),
            v.to_string(),
        )
    };
    assert_eq!(logged, vec![refused("5"), refused("6")]);
}

/// A snap adds a child while the master deletes its parent and makes it again, in one
/// transaction ordered first: the hub's apply of the child waits for the master's lock on the
/// parent. The master then takes the child (its parent is back), and every node must end with
/// it. The snap applies the master's delete without foreign key checks, keeping its own child,
/// whose change is on its way. (Before stop 31 it deleted the child first, binlogged with the
/// master's transaction so that the echo skip knew the table was touched by a foreign change;
/// unlogged, the echo row, equal to the snap's own final image, was left out and the snap lost
/// the child; `tests/model/converge_fk.py`, variant `left`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_added_while_the_master_deletes_and_makes_its_parent_again_stays() {
    let star = Star::start(1).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; CREATE TABLE MOST.p (id INT PRIMARY KEY); \
             CREATE TABLE MOST.c (id INT PRIMARY KEY, pid INT, \
             FOREIGN KEY (pid) REFERENCES MOST.p (id)); INSERT INTO MOST.p VALUES (1), (2)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    let mut dba = dba_holds(&star, "MOST.p").await;
    app_exec(star.snap(0), "INSERT INTO MOST.c VALUES (10, 1)")
        .await
        .unwrap();
    master_waits_for_a_lock(
        &star,
        "the hub's apply of the child waits for the DBA's lock on its parent",
    )
    .await;
    dba.query_drop("DELETE FROM MOST.p WHERE id = 1; INSERT INTO MOST.p VALUES (1); COMMIT")
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    for node in &star.cluster.nodes {
        let c: Vec<(i32, i32)> = node.query("SELECT id, pid FROM MOST.c").await.unwrap();
        assert_eq!(c, [(10, 1)], "the child on {}", node.name());
    }
    let log = star.agent_log(0);
    assert!(
        log.lines().any(
            |l| l.contains("the delete is made without foreign key checks")
                && l.contains("table=MOST.p")
        ),
        "the snap kept its child through the master's delete: {log}"
    );
}

/// A snap adds a child row (and a grandchild referring to it) while the master deletes its
/// parent, and a row that a CHECK constraint the master adds meanwhile refuses (the snap's agent
/// is down). The hub refuses them (kinds `foreign_key` and `check_constraint` in the conflict
/// log) and applies the rest of the snap's transactions: before, it stopped on such a row for
/// good. The snap takes the master's delete without foreign key checks while its own child and
/// grandchild are on their way, and the echoes of the refused rows delete them: the master never
/// took them (before, the snap's replication waited for a DBA to delete them by hand). The CHECK
/// constraint that failed there is reported, and once the DBA has resolved it every node
/// converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_row_whose_parent_the_master_deleted_is_refused_and_reported() {
    let mut star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; CREATE TABLE MOST.p (id INT PRIMARY KEY); \
             CREATE TABLE MOST.c (id INT PRIMARY KEY, pid INT, \
             FOREIGN KEY (pid) REFERENCES MOST.p (id)); INSERT INTO MOST.p VALUES (1), (2); \
             CREATE TABLE MOST.gc (id INT PRIMARY KEY, cid INT, \
             FOREIGN KEY (cid) REFERENCES MOST.c (id)); \
             CREATE TABLE MOST.ck (id INT PRIMARY KEY, v INT)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    star.agent_proc(0)
        .terminate(Duration::from_secs(10))
        .unwrap();
    app_exec(star.snap(0), "INSERT INTO MOST.c VALUES (10, 1)")
        .await
        .unwrap();
    app_exec(star.snap(0), "INSERT INTO MOST.gc VALUES (100, 10)")
        .await
        .unwrap();
    app_exec(star.snap(0), "INSERT INTO MOST.ck VALUES (10, -1)")
        .await
        .unwrap();
    app_exec(star.snap(0), "INSERT INTO MOST.p VALUES (3)")
        .await
        .unwrap();
    star.master()
        .exec(
            "DELETE FROM MOST.p WHERE id = 1; ALTER TABLE MOST.ck ADD CONSTRAINT pos CHECK (v > 0)",
        )
        .await
        .unwrap();
    star.start_agent(0).unwrap();
    starsync_tests::eventually(
        "snap1's next change reaches the master",
        Duration::from_secs(30),
        || async {
            let n: Vec<u64> = star
                .master()
                .query("SELECT COUNT(*) FROM MOST.p WHERE id = 3")
                .await?;
            Ok(n[0] == 1)
        },
    )
    .await
    .unwrap();
    let logged: Vec<(String, String)> = star
        .master()
        .query("SELECT table_name, kind FROM starsync.conflicts ORDER BY id")
        .await
        .unwrap();
    assert_eq!(
        logged,
        vec![
            ("c".into(), "foreign_key".into()),
            ("gc".into(), "foreign_key".into()),
            ("ck".into(), "check_constraint".into())
        ]
    );
    // The snap takes the master's delete; its own child and grandchild go with their echoes.
    starsync_tests::eventually(
        "agent1 deletes the rows the master refused",
        Duration::from_secs(30),
        || async {
            let left: Vec<u64> = star
                .snap(0)
                .query("SELECT (SELECT COUNT(*) FROM MOST.c) + (SELECT COUNT(*) FROM MOST.gc)")
                .await?;
            Ok(left[0] == 0)
        },
    )
    .await
    .unwrap();
    let log = star.agent_log(0);
    assert!(
        log.lines().any(
            |l| l.contains("the delete is made without foreign key checks")
                && l.contains("table=MOST.p")
        ),
        "{log}"
    );
    // The CHECK constraint failed on the snap (its row), and its agent says so.
    starsync_tests::eventually(
        "agent1 reports the failed DDL",
        Duration::from_secs(30),
        || async {
            let st = star.agent_status(0).await?;
            Ok(st["ddl_failed"] == 1
                && st["last_ddl_failed"]
                    .as_str()
                    .is_some_and(|s| s.contains("CHECK") && s.contains("4025")))
        },
    )
    .await
    .unwrap();
    // The hub's /status shows it too (what `master-admin status` and the GUI print).
    starsync_tests::eventually(
        "the hub reports snap1's failed DDL",
        Duration::from_secs(30),
        || async {
            let st = star.status().await?;
            Ok(
                starsync_tests::star::status_node(&st, "snap1").is_some_and(|n| {
                    n["ddl_failed"] == 1
                        && n["last_ddl_failed"]
                            .as_str()
                            .is_some_and(|s| s.contains("4025"))
                        && n["writes_held"].is_null()
                }),
            )
        },
    )
    .await
    .unwrap();
    // The DBA removes the row, and adds the constraint there without binlogging it.
    app_exec(star.snap(0), "DELETE FROM MOST.ck WHERE id = 10")
        .await
        .unwrap();
    star.snap(0)
        .exec("SET sql_log_bin = 0; ALTER TABLE MOST.ck ADD CONSTRAINT pos CHECK (v > 0)")
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    let p: Vec<i32> = star
        .snap(0)
        .query("SELECT id FROM MOST.p ORDER BY id")
        .await
        .unwrap();
    assert_eq!(p, vec![2, 3]);
}

/// Changes a session made with `foreign_key_checks = 0` (a DBA's bulk fix, an import) are
/// applied so on every node, as native replication does: the master deletes a parent that still
/// has a child and adds a child without a parent, a snap's application adds another; every node
/// ends with the same rows. Before, each snap refused the master's changes (ERROR 1451 and 1452)
/// and the master's replication to them stopped for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_without_foreign_key_checks_replicate_as_made() {
    let star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; CREATE TABLE MOST.p (id INT PRIMARY KEY); \
             CREATE TABLE MOST.c (id INT PRIMARY KEY, pid INT, \
             FOREIGN KEY (pid) REFERENCES MOST.p (id)); INSERT INTO MOST.p VALUES (1), (2); \
             INSERT INTO MOST.c VALUES (10, 1)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    star.master()
        .exec(
            "SET SESSION foreign_key_checks = 0; DELETE FROM MOST.p WHERE id = 1; \
             INSERT INTO MOST.c VALUES (11, 99); SET SESSION foreign_key_checks = 1; \
             INSERT INTO MOST.p VALUES (3)",
        )
        .await
        .unwrap();
    app_exec(
        star.snap(1),
        "SET SESSION foreign_key_checks = 0; INSERT INTO MOST.c VALUES (12, 98)",
    )
    .await
    .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    for node in [star.master(), star.snap(0), star.snap(1)] {
        let c: Vec<(i32, i32)> = node
            .query("SELECT id, pid FROM MOST.c ORDER BY id")
            .await
            .unwrap();
        assert_eq!(c, vec![(10, 1), (11, 99), (12, 98)], "{}", node.name());
        let p: Vec<i32> = node
            .query("SELECT id FROM MOST.p ORDER BY id")
            .await
            .unwrap();
        assert_eq!(p, vec![2, 3], "{}", node.name());
    }
}

/// A snap's transaction that changed a MyISAM table before its InnoDB rows: MariaDB logs the
/// MyISAM change as a group of its own and the rest without `FL_TRANSACTIONAL` (the transaction
/// modified a non-transactional table). The hub took that flag for the whole group and applied
/// its InnoDB rows as one unchecked upsert: no conflict detected or logged, and a unique value
/// another row held on the master failed the upsert (ERROR 1062) on every try, so that snap's
/// changes stopped reaching the master for good. They are checked like any other now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_that_also_changed_a_myisam_table_is_conflict_checked() {
    let mut star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; \
             CREATE TABLE MOST.c (id INT PRIMARY KEY, v INT, u INT UNIQUE); \
             CREATE TABLE MOST.my (id INT PRIMARY KEY) ENGINE=MyISAM; \
             INSERT INTO MOST.c VALUES (1, 0, NULL), (2, 0, NULL)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    star.agent_proc(0)
        .terminate(Duration::from_secs(10))
        .unwrap();
    star.master()
        .exec("UPDATE MOST.c SET u = 7 WHERE id = 2; UPDATE MOST.c SET v = 100 WHERE id = 1")
        .await
        .unwrap();
    app_exec(
        star.snap(0),
        "BEGIN; INSERT INTO MOST.my VALUES (1); UPDATE MOST.c SET v = 5, u = 7 WHERE id = 1; \
         COMMIT",
    )
    .await
    .unwrap();
    star.start_agent(0).unwrap();
    star.wait_converged(Duration::from_secs(60)).await.unwrap();
    let rows: Vec<(i32, i32, Option<i32>)> = star
        .master()
        .query("SELECT id, v, u FROM MOST.c ORDER BY id")
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![(1, 5, Some(7))],
        "hub order: the snap's row takes u = 7"
    );
    let logged: Vec<(String, String)> = star
        .master()
        .query("SELECT table_name, kind FROM starsync.conflicts ORDER BY kind")
        .await
        .unwrap();
    assert_eq!(
        logged,
        vec![
            ("c".into(), "unique_displaced".into()),
            ("c".into(), "update_mismatch".into())
        ]
    );
    assert!(
        !star.hub_log().contains("ERROR 1062"),
        "the hub never failed on the unique key"
    );
}

/// The master gives a row a unique value while a snap, its agent down, gives the same value to
/// another row. The master's change reaches the snap first (hub order), where the snap's own
/// row still holds the value: the snap stopped there on ERROR 1062 for good (its own change,
/// which displaces the master's row on the master, comes later in the stream). The snap now
/// deletes its row to apply the master's change, as the hub does, and the echo of its own
/// change brings the row back: every node ends with the snap's row holding the value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unique_value_the_master_and_a_snap_both_gave_converges() {
    let star = both_give_a_unique_value("InnoDB").await;
    let logged: Vec<(String, String)> = star
        .master()
        .query("SELECT table_name, kind FROM starsync.conflicts ORDER BY id")
        .await
        .unwrap();
    assert_eq!(logged, vec![("c".into(), "unique_displaced".into())]);
    assert!(
        star.agent_log(0).contains("rows here held a unique value"),
        "the snap says what it deleted"
    );
}

/// The same race on a MyISAM table. Such a change goes as one statement, unchecked (the table
/// cannot be rolled back to record a conflict): its upsert updated the row holding the key and
/// failed on the unique value (ERROR 1062), which stopped the hub's ingest of that snap, and the
/// snap's apply of the master's change, for good. A `REPLACE` displaces the holder instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unique_value_the_master_and_a_snap_both_gave_a_myisam_table_converges() {
    both_give_a_unique_value("MyISAM").await;
}

/// The master gives row 2 the unique value 7 while snap1, its agent down, gives it to row 1;
/// every node must end with snap1's row holding it (hub order: its change came last).
async fn both_give_a_unique_value(engine: &str) -> Star {
    let mut star = Star::start(2).await.unwrap();
    star.master()
        .exec(&format!(
            "CREATE DATABASE MOST; \
             CREATE TABLE MOST.c (id INT PRIMARY KEY, v INT, u INT UNIQUE) ENGINE={engine}; \
             INSERT INTO MOST.c VALUES (1, 0, NULL), (2, 0, NULL)"
        ))
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    star.agent_proc(0)
        .terminate(Duration::from_secs(10))
        .unwrap();
    star.master()
        .exec("UPDATE MOST.c SET u = 7, v = 1 WHERE id = 2")
        .await
        .unwrap();
    app_exec(star.snap(0), "UPDATE MOST.c SET u = 7, v = 2 WHERE id = 1")
        .await
        .unwrap();
    star.start_agent(0).unwrap();
    star.wait_converged(Duration::from_secs(60)).await.unwrap();
    let rows: Vec<(i32, i32, Option<i32>)> = star
        .snap(0)
        .query("SELECT id, v, u FROM MOST.c ORDER BY id")
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![(1, 2, Some(7))],
        "hub order: the snap's change came last"
    );
    star
}

/// A snap deletes a parent row while the master adds a child of it (the snap's agent down).
/// The master's child reaches the snap first, whose parent is gone there: the snap stopped on
/// ERROR 1452 until a DBA restored the parent by hand. And the master refuses the snap's
/// delete (a child refers to the parent), so the snap would have stayed without it. Now the
/// snap applies the master's child without foreign key checks, the hub records the master's
/// parent with the refused delete, and the echo of that delete brings the parent back: every
/// node ends with the parent and its child, no DBA needed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_a_snap_deleted_while_the_master_added_a_child_comes_back() {
    let mut star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; CREATE TABLE MOST.p (id INT PRIMARY KEY, name VARCHAR(20)); \
             CREATE TABLE MOST.c (id INT PRIMARY KEY, pid INT, \
             FOREIGN KEY (pid) REFERENCES MOST.p (id)); \
             INSERT INTO MOST.p VALUES (1, 'one'), (2, 'two')",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    star.agent_proc(0)
        .terminate(Duration::from_secs(10))
        .unwrap();
    star.master()
        .exec("INSERT INTO MOST.c VALUES (10, 1)")
        .await
        .unwrap();
    app_exec(star.snap(0), "DELETE FROM MOST.p WHERE id = 1")
        .await
        .unwrap();
    star.start_agent(0).unwrap();
    star.wait_converged(Duration::from_secs(60)).await.unwrap();
    for node in &star.cluster.nodes {
        let p: Vec<(i32, String)> = node
            .query("SELECT id, name FROM MOST.p ORDER BY id")
            .await
            .unwrap();
        assert_eq!(
            p,
            vec![(1, "one".into()), (2, "two".into())],
            "{}",
            node.name()
        );
        let c: Vec<(i32, i32)> = node.query("SELECT id, pid FROM MOST.c").await.unwrap();
        assert_eq!(c, vec![(10, 1)], "{}", node.name());
    }
    let logged: Vec<(String, String)> = star
        .master()
        .query("SELECT table_name, kind FROM starsync.conflicts ORDER BY id")
        .await
        .unwrap();
    assert_eq!(logged, vec![("p".into(), "foreign_key".into())]);
    assert!(
        star.agent_log(0)
            .contains("applied without foreign key checks"),
        "the snap says why it applied the child so"
    );
}

/// A snap deletes a parent row and adds it back in one transaction, then adds a child of it
/// (its agent down). The echo of the first transaction deletes and re-adds the parent, as the
/// master did; the snap's own later child refers to it, so the delete failed there (ERROR 1451)
/// and the snap stopped for good. The echo is now applied without foreign key checks when they
/// refuse it: every node ends with the parent and the child.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_echo_that_re_adds_a_parent_of_a_later_local_child_converges() {
    let mut star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; CREATE TABLE MOST.p (id INT PRIMARY KEY, v INT); \
             CREATE TABLE MOST.c (id INT PRIMARY KEY, pid INT, \
             FOREIGN KEY (pid) REFERENCES MOST.p (id)); \
             INSERT INTO MOST.p VALUES (1, 0), (9, 2)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    star.agent_proc(1)
        .terminate(Duration::from_secs(10))
        .unwrap();
    app_exec(
        star.snap(1),
        "BEGIN; DELETE FROM MOST.p WHERE id = 9; INSERT INTO MOST.p VALUES (9, 1); COMMIT",
    )
    .await
    .unwrap();
    app_exec(star.snap(1), "INSERT INTO MOST.c VALUES (50, 9)")
        .await
        .unwrap();
    // A master change to the table meanwhile: the echo is written in full, not left out as
    // already held (echo-skip).
    star.master()
        .exec("UPDATE MOST.p SET v = v + 1 WHERE id = 1")
        .await
        .unwrap();
    star.start_agent(1).unwrap();
    star.wait_converged(Duration::from_secs(60)).await.unwrap();
    let c: Vec<(i32, i32)> = star
        .snap(1)
        .query("SELECT id, pid FROM MOST.c")
        .await
        .unwrap();
    assert_eq!(c, vec![(50, 9)]);
    let p: Vec<(i32, i32)> = star
        .snap(0)
        .query("SELECT id, v FROM MOST.p ORDER BY id")
        .await
        .unwrap();
    assert_eq!(p, vec![(1, 1), (9, 1)]);
}

/// The conflict log keeps a conflict `[hub] conflict_log_days` (90 by default); older ones, and
/// records of refused rows older than an hour (the fan-out reads those from the binlog), are
/// deleted at the hub's start and every 10 minutes, unlogged. Recent ones stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_conflicts_and_refused_records_are_deleted() {
    let mut star = Star::start(1).await.unwrap();
    star.master()
        .exec(
            "SET SESSION sql_log_bin=0; \
             INSERT INTO starsync.conflicts (detected_at, schema_name, table_name, kind, row_key, \
               origin_node, origin_gtid) VALUES \
             (NOW(6) - INTERVAL 100 DAY, 'MOST', 'old', 'update_mismatch', '{}', 'snap1', '2-2-1'), \
             (NOW(6) - INTERVAL 10 DAY, 'MOST', 'recent', 'update_mismatch', '{}', 'snap1', '2-2-2'); \
             INSERT INTO starsync.refused (made_at, origin_gtid, master_rows) VALUES \
             (NOW(6) - INTERVAL 2 HOUR, '2-2-3', x''), (NOW(6), '2-2-4', x'')",
        )
        .await
        .unwrap();
    let before = star.master().gtid_binlog_pos().await.unwrap();
    star.hub_proc().terminate(Duration::from_secs(10)).unwrap();
    star.start_hub().unwrap();
    let m = star.master();
    eventually(
        "the old conflict deleted",
        Duration::from_secs(30),
        || async {
            let t: Vec<String> = m
                .query("SELECT table_name FROM starsync.conflicts ORDER BY id")
                .await?;
            Ok(t == ["recent"])
        },
    )
    .await
    .unwrap();
    let refused: Vec<String> = m
        .query("SELECT origin_gtid FROM starsync.refused")
        .await
        .unwrap();
    assert_eq!(refused, ["2-2-4"]);
    assert_eq!(
        m.gtid_binlog_pos().await.unwrap(),
        before,
        "deleted unlogged"
    );
    assert!(star.hub_log().contains("deleted old records"));
}

/// An image left alone survives a `kill -9` of the snap's agent (`starsync.left_alone`).
/// While snap1's change of row 1 is on its way (a DBA's lock holds the hub's apply of it), the
/// master moves row 2 to key 1 (snap1 applies the move's part at key 2, its delete, and leaves
/// key 1 alone) and then deletes row 1, which snap1 leaves alone too: the image kept is that
/// delete. Its agent is killed and restarted in between, and loads the image again. Before,
/// images lived in the agent's memory: one lost with the agent left a snap with a row it should
/// not have had (`tests/model/converge_fk.py --restarts`; before stop 30, snap1 applied this
/// move whole, over its own row 1, and kept the master's row 1 for good). The master then
/// takes snap1's change (`update_missing`, hub order), and the echo carrying the row drops the
/// image.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_left_alone_survives_a_kill_of_the_agent() {
    let mut star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; CREATE TABLE MOST.t (id INT PRIMARY KEY, v INT); \
             CREATE TABLE MOST.u (id INT PRIMARY KEY, v INT); \
             INSERT INTO MOST.t VALUES (1, 0), (2, 9); INSERT INTO MOST.u VALUES (1, 0)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    // A DBA's lock holds the hub's apply of snap1's change at its first row.
    let mut dba = snap1_commits_held(
        &star,
        "BEGIN; UPDATE MOST.u SET v = 1 WHERE id = 1; UPDATE MOST.t SET v = 5 WHERE id = 1; \
         COMMIT",
        "the hub's apply of snap1's change waits for the DBA's lock",
    )
    .await;
    star.master()
        .exec(
            "DELETE FROM MOST.t WHERE id = 1; UPDATE MOST.t SET id = 1 WHERE id = 2; \
             DELETE FROM MOST.t WHERE id = 1",
        )
        .await
        .unwrap();
    snap_has_the_masters_changes(&star, 0).await;
    let t: Vec<(i32, i32)> = star.snap(0).query("SELECT * FROM MOST.t").await.unwrap();
    assert_eq!(
        t,
        [(1, 5)],
        "snap1 took the move's delete of key 2, left key 1 alone"
    );
    let kept: Vec<String> = star
        .snap(0)
        .query("SELECT table_name FROM starsync.left_alone")
        .await
        .unwrap();
    assert_eq!(
        kept,
        ["MOST.t"],
        "the image left alone is kept in snap1's database"
    );

    star.agent_proc(0).kill9();
    star.start_agent(0).unwrap();
    star.wait_agents(2, Duration::from_secs(30)).await.unwrap();
    dba.query_drop("ROLLBACK").await.unwrap();
    converged_or_show(&star, &["MOST.t"]).await;
    for node in &star.cluster.nodes {
        let t: Vec<(i32, i32)> = node.query("SELECT * FROM MOST.t").await.unwrap();
        let u: Vec<(i32, i32)> = node.query("SELECT * FROM MOST.u").await.unwrap();
        assert_eq!((t, u), (vec![(1, 5)], vec![(1, 1)]), "{}", node.name());
    }
    let kept: Vec<u64> = star
        .snap(0)
        .query("SELECT COUNT(*) FROM starsync.left_alone")
        .await
        .unwrap();
    assert_eq!(kept, [0], "the echo that carried the row deleted the image");
    let log = star.agent_log(0);
    assert!(
        log.contains("images left alone for own changes on their way loaded"),
        "the restarted agent loaded it: {log}"
    );
}

/// A snap deletes a parent whose keys cascade (`ON DELETE CASCADE` to a child and a grandchild,
/// `ON DELETE SET NULL` to another child) while the other snap adds rows under it. Those rows
/// reach the first snap before its delete reaches the master (a DBA's lock holds the hub's
/// apply of it), and it takes them without checks (its parent is gone there). The master's
/// cascade then deletes them, but a cascade is not in the binlog: the first snap kept them for
/// good. The hub now deletes (or sets to NULL) what refers to the parent itself, binlogged
/// with the snap's transaction, and every node converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_delete_whose_keys_cascade_reaches_every_node_with_its_cascade() {
    let star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; CREATE TABLE p (id INT PRIMARY KEY); \
             CREATE TABLE c (id INT PRIMARY KEY, pid INT, \
             FOREIGN KEY (pid) REFERENCES p (id) ON DELETE CASCADE); \
             CREATE TABLE g (id INT PRIMARY KEY, cid INT, \
             FOREIGN KEY (cid) REFERENCES c (id) ON DELETE CASCADE); \
             CREATE TABLE n (id INT PRIMARY KEY, pid INT, \
             FOREIGN KEY (pid) REFERENCES p (id) ON DELETE SET NULL); \
             CREATE TABLE u (id INT PRIMARY KEY, v INT); \
             INSERT INTO p VALUES (1), (2); INSERT INTO c VALUES (1, 1), (2, 2); \
             INSERT INTO u VALUES (1, 0)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    let mut dba = snap1_commits_held(
        &star,
        "BEGIN; UPDATE MOST.u SET v = 1 WHERE id = 1; DELETE FROM MOST.p WHERE id = 1; COMMIT",
        "the hub's apply of snap1's delete waits for the DBA's lock",
    )
    .await;
    app_exec(
        star.snap(1),
        "BEGIN; INSERT INTO MOST.c VALUES (3, 1); INSERT INTO MOST.g VALUES (30, 3); \
         INSERT INTO MOST.n VALUES (4, 1); COMMIT",
    )
    .await
    .unwrap();
    eventually(
        "snap1 took snap2's rows under the parent it deleted",
        Duration::from_secs(30),
        || async {
            let n: Vec<u64> = star
                .snap(0)
                .query("SELECT (SELECT COUNT(*) FROM MOST.g) + (SELECT COUNT(*) FROM MOST.n)")
                .await?;
            Ok(n[0] == 2)
        },
    )
    .await
    .unwrap();
    dba.query_drop("ROLLBACK").await.unwrap();
    converged_or_show(&star, &["MOST.c", "MOST.g", "MOST.n"]).await;
    for node in &star.cluster.nodes {
        let p: Vec<i32> = node.query("SELECT id FROM MOST.p").await.unwrap();
        let c: Vec<(i32, i32)> = node.query("SELECT * FROM MOST.c").await.unwrap();
        let g: Vec<u64> = node.query("SELECT COUNT(*) FROM MOST.g").await.unwrap();
        let n: Vec<(i32, Option<i32>)> = node.query("SELECT * FROM MOST.n").await.unwrap();
        assert_eq!(
            (p, c, g[0], n),
            (vec![2], vec![(2, 2)], 0, vec![(4, None)]),
            "{}",
            node.name()
        );
    }
}

/// A snap deletes a parent and adds it again in one transaction, then adds a child of it,
/// under an `ON DELETE CASCADE` key. When the first transaction's echo comes back (after a
/// foreign change to the parents' table, so it is written), its delete of the parent cascades
/// to the snap's newer child there, and no binlog shows that. The child's own echo was then
/// left out as "already held", and the snap lost the child for good. A delete under a
/// cascading key now counts as a change to the referring tables for the echo skip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_echo_whose_parent_delete_cascades_does_not_lose_a_newer_own_child() {
    let star = Star::start(1).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; CREATE TABLE p (id INT PRIMARY KEY, v INT); \
             CREATE TABLE c (id INT PRIMARY KEY, pid INT, \
             FOREIGN KEY (pid) REFERENCES p (id) ON DELETE CASCADE); \
             CREATE TABLE u (id INT PRIMARY KEY, v INT); \
             INSERT INTO p VALUES (1, 0), (2, 0); INSERT INTO u VALUES (1, 0)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    let mut dba = dba_holds(&star, "MOST.u").await;
    app_exec(
        star.snap(0),
        "BEGIN; UPDATE MOST.u SET v = 1 WHERE id = 1; DELETE FROM MOST.p WHERE id = 2; \
         INSERT INTO MOST.p VALUES (2, 5); COMMIT",
    )
    .await
    .unwrap();
    app_exec(star.snap(0), "INSERT INTO MOST.c VALUES (1, 2)")
        .await
        .unwrap();
    master_waits_for_a_lock(
        &star,
        "the hub's apply of snap1's first transaction waits for the DBA's lock",
    )
    .await;
    star.master()
        .exec("UPDATE MOST.p SET v = 7 WHERE id = 1")
        .await
        .unwrap();
    snap_has_the_masters_changes(&star, 0).await;
    dba.query_drop("ROLLBACK").await.unwrap();
    converged_or_show(&star, &["MOST.c"]).await;
    for node in &star.cluster.nodes {
        let c: Vec<(i32, i32)> = node.query("SELECT * FROM MOST.c").await.unwrap();
        let p: Vec<(i32, i32)> = node.query("SELECT * FROM MOST.p").await.unwrap();
        assert_eq!(
            (c, p),
            (vec![(1, 2)], vec![(1, 7), (2, 5)]),
            "{}",
            node.name()
        );
    }
}

/// A snap deletes a parent whose children go with it there (`ON DELETE CASCADE`, `SET NULL`),
/// while the master adds a `RESTRICT` child of that parent (a DBA's lock holds the hub's apply
/// of the delete until the child is on the snap). The master refuses the delete and keeps the
/// parent and every child; the echo of the refused delete brought the parent back to the snap,
/// not the children its cascade had taken there: the snap lost them for good. The hub now
/// records the master's rows that refer to a refused parent through cascading keys with the
/// refusal, and the echo brings them back too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_parent_delete_brings_back_what_it_cascaded_to() {
    let star = Star::start(1).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; CREATE TABLE p (id INT PRIMARY KEY); \
             CREATE TABLE c (id INT PRIMARY KEY, pid INT, \
             FOREIGN KEY (pid) REFERENCES p (id) ON DELETE CASCADE); \
             CREATE TABLE g (id INT PRIMARY KEY, cid INT, \
             FOREIGN KEY (cid) REFERENCES c (id) ON DELETE CASCADE); \
             CREATE TABLE n (id INT PRIMARY KEY, pid INT, \
             FOREIGN KEY (pid) REFERENCES p (id) ON DELETE SET NULL); \
             CREATE TABLE r (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) REFERENCES p (id)); \
             CREATE TABLE u (id INT PRIMARY KEY, v INT); \
             INSERT INTO p VALUES (1), (2); INSERT INTO c VALUES (1, 1), (2, 2); \
             INSERT INTO g VALUES (10, 1); INSERT INTO n VALUES (1, 1); \
             INSERT INTO u VALUES (1, 0)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    let mut dba = snap1_commits_held(
        &star,
        "BEGIN; UPDATE MOST.u SET v = 1 WHERE id = 1; DELETE FROM MOST.p WHERE id = 1; COMMIT",
        "the hub's apply of snap1's delete waits for the DBA's lock",
    )
    .await;
    star.master()
        .exec("INSERT INTO MOST.r VALUES (1, 1)")
        .await
        .unwrap();
    snap_has_the_masters_changes(&star, 0).await;
    let gone: Vec<(u64, u64, Option<i32>)> = star
        .snap(0)
        .query(
            "SELECT (SELECT COUNT(*) FROM MOST.c), (SELECT COUNT(*) FROM MOST.g), \
             (SELECT pid FROM MOST.n WHERE id = 1)",
        )
        .await
        .unwrap();
    assert_eq!(
        gone,
        [(1, 0, None)],
        "snap1's delete of the parent cascaded there"
    );
    dba.query_drop("ROLLBACK").await.unwrap();
    converged_or_show(&star, &["MOST.p", "MOST.c", "MOST.g", "MOST.n", "MOST.r"]).await;
    for node in &star.cluster.nodes {
        let p: Vec<i32> = node.query("SELECT id FROM MOST.p").await.unwrap();
        let c: Vec<(i32, i32)> = node.query("SELECT * FROM MOST.c").await.unwrap();
        let g: Vec<(i32, i32)> = node.query("SELECT * FROM MOST.g").await.unwrap();
        let n: Vec<(i32, Option<i32>)> = node.query("SELECT * FROM MOST.n").await.unwrap();
        let r: Vec<(i32, i32)> = node.query("SELECT * FROM MOST.r").await.unwrap();
        assert_eq!(
            (p, c, g, n, r),
            (
                vec![1, 2],
                vec![(1, 1), (2, 2)],
                vec![(10, 1)],
                vec![(1, Some(1))],
                vec![(1, 1)]
            ),
            "{}",
            node.name()
        );
    }
}

/// Snap1 adds a child (under `ON DELETE CASCADE`) while a DBA's lock holds the hub's apply of
/// it; meanwhile snap2 deletes the parent (the master has no child of it yet, so only the
/// parent's delete is in the binlog) and the master adds the parent again. On snap1, snap2's
/// delete cascaded to snap1's own child, which no binlog shows as a row. Were the child's echo
/// left out as "already held", snap1 would lose it for good (`tests/model/converge_fk.py`,
/// 3 snaps, `hub-cascades+marks`). MariaDB logs the children's table map with the parent's
/// delete, and capture marks every table a foreign transaction maps as touched: the echo is
/// written. Since stop 30 snap1 makes such a delete without foreign key checks
/// (`Applier::cascades_to_own_rows`), and its own child stays until its echo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_parent_delete_that_cascades_to_an_own_child_does_not_lose_it() {
    let star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; CREATE TABLE p (id INT PRIMARY KEY); \
             CREATE TABLE c (id INT PRIMARY KEY, pid INT, \
             FOREIGN KEY (pid) REFERENCES p (id) ON DELETE CASCADE); \
             CREATE TABLE u (id INT PRIMARY KEY, v INT); \
             INSERT INTO p VALUES (1); INSERT INTO u VALUES (1, 0)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    let mut dba = snap1_commits_held(
        &star,
        "BEGIN; UPDATE MOST.u SET v = 1 WHERE id = 1; INSERT INTO MOST.c VALUES (1, 1); COMMIT",
        "the hub's apply of snap1's child waits for the DBA's lock",
    )
    .await;
    app_exec(star.snap(1), "DELETE FROM MOST.p WHERE id = 1")
        .await
        .unwrap();
    eventually(
        "the master has snap2's delete",
        Duration::from_secs(30),
        || async {
            let n: Vec<u64> = star.master().query("SELECT COUNT(*) FROM MOST.p").await?;
            Ok(n[0] == 0)
        },
    )
    .await
    .unwrap();
    star.master()
        .exec("INSERT INTO MOST.p VALUES (1)")
        .await
        .unwrap();
    snap_has_the_masters_changes(&star, 0).await;
    let c: Vec<u64> = star
        .snap(0)
        .query("SELECT COUNT(*) FROM MOST.c")
        .await
        .unwrap();
    assert_eq!(
        c,
        [1],
        "snap2's delete of the parent left snap1's own child"
    );
    dba.query_drop("ROLLBACK").await.unwrap();
    converged_or_show(&star, &["MOST.p", "MOST.c"]).await;
    for node in &star.cluster.nodes {
        let p: Vec<i32> = node.query("SELECT id FROM MOST.p").await.unwrap();
        let c: Vec<(i32, i32)> = node.query("SELECT * FROM MOST.c").await.unwrap();
        assert_eq!((p, c), (vec![1], vec![(1, 1)]), "{}", node.name());
    }
}

/// Snap1 deletes child 10 (its delete held on its way). The DBA updates the child, which
/// snap1 leaves alone (its key is in flight) and keeps as the master's image, then deletes its
/// parent 1: the master's cascade deletes the child there, unlogged. Snap1 makes that delete
/// with checks; its server's cascade finds no child here. Snap1 then adds parent 1 again.
/// Snap1's delete of the child changes nothing on the master, so its echo does not carry the
/// child, and the image left alone is written back with it, its parent there again: snap1
/// had child 10 for good, which no other node had. The master's own parent delete now makes
/// such images deletes too (`tests/model/converge_fk.py`, `+images`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_left_alone_goes_with_the_masters_parent_delete_made_here() {
    let star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; CREATE TABLE p (id INT PRIMARY KEY, v INT); \
             CREATE TABLE c (id INT PRIMARY KEY, pid INT, v INT, \
             FOREIGN KEY (pid) REFERENCES p (id) ON DELETE CASCADE); \
             CREATE TABLE u (id INT PRIMARY KEY, v INT); \
             INSERT INTO p VALUES (1, 0), (2, 0); INSERT INTO c VALUES (10, 1, 0); \
             INSERT INTO u VALUES (1, 0)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    while_snap1_waits(
        &star,
        "BEGIN; UPDATE MOST.u SET v = 1 WHERE id = 1; DELETE FROM MOST.c WHERE id = 10; COMMIT",
        "delete",
        "UPDATE MOST.c SET v = 5 WHERE id = 10; DELETE FROM MOST.p WHERE id = 1",
        Some("INSERT INTO MOST.p VALUES (1, 7)"),
    )
    .await;
    converged_or_show(&star, &["MOST.p", "MOST.c", "MOST.u"]).await;
    for node in &star.cluster.nodes {
        let p: Vec<(i32, i32)> = node.query("SELECT * FROM MOST.p").await.unwrap();
        let c: Vec<(i32, i32, i32)> = node.query("SELECT * FROM MOST.c").await.unwrap();
        assert_eq!((p, c), (vec![(1, 7), (2, 0)], vec![]), "{}", node.name());
    }
}

/// The same two levels down: `g` refers to `c`, which refers to `p`, both keys `ON DELETE
/// CASCADE`. Snap1 deletes grandchildren 100 (under child 10) and 101 (under child 11) and
/// changes child 11 (all held on their way). The DBA updates the three rows (snap1 keeps their
/// images, the master's rows), then deletes parent 1: the master's cascade deletes both
/// children and both grandchildren there. Snap1 makes that cascade itself (its own change of
/// child 11 is in flight: `Applier::cascades_to_own_rows`): child 10 deleted, the image of
/// child 11 made a delete; but the images of the grandchildren were left as they were and
/// written back once snap1 had added the parent and the children again: rows no other node
/// had. The master's cascade now reaches images at every level, from the rows it deleted here
/// (10) and from the images it made deletes (11).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_left_alone_two_levels_down_go_with_the_masters_parent_delete() {
    let star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; CREATE TABLE p (id INT PRIMARY KEY, v INT); \
             CREATE TABLE c (id INT PRIMARY KEY, pid INT, v INT, \
             FOREIGN KEY (pid) REFERENCES p (id) ON DELETE CASCADE); \
             CREATE TABLE g (id INT PRIMARY KEY, cid INT, v INT, \
             FOREIGN KEY (cid) REFERENCES c (id) ON DELETE CASCADE); \
             CREATE TABLE u (id INT PRIMARY KEY, v INT); \
             INSERT INTO p VALUES (1, 0), (2, 0); INSERT INTO c VALUES (10, 1, 0), (11, 1, 0); \
             INSERT INTO g VALUES (100, 10, 0), (101, 11, 0), (102, 11, 0); \
             INSERT INTO u VALUES (1, 0)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    while_snap1_waits(
        &star,
        "BEGIN; UPDATE MOST.u SET v = 1 WHERE id = 1; DELETE FROM MOST.g WHERE id IN (100, 101); \
         UPDATE MOST.c SET v = 1 WHERE id = 11; COMMIT",
        "deletes",
        "UPDATE MOST.g SET v = 5 WHERE id IN (100, 101); UPDATE MOST.c SET v = 5 WHERE id = 11; \
         DELETE FROM MOST.p WHERE id = 1",
        Some(
            "INSERT INTO MOST.p VALUES (1, 7); \
             INSERT INTO MOST.c VALUES (10, 1, 7), (11, 1, 7) \
             ON DUPLICATE KEY UPDATE pid = 1, v = 7",
        ),
    )
    .await;
    converged_or_show(&star, &["MOST.p", "MOST.c", "MOST.g"]).await;
    for node in &star.cluster.nodes {
        let p = id_pairs(node, "MOST.p").await;
        let c: Vec<(i32, i32, i32)> = node
            .query("SELECT * FROM MOST.c ORDER BY id")
            .await
            .unwrap();
        let g: Vec<(i32, i32, i32)> = node.query("SELECT * FROM MOST.g").await.unwrap();
        assert_eq!(
            (p, c, g),
            (vec![(1, 7), (2, 0)], vec![(10, 1, 7), (11, 1, 7)], vec![]),
            "{}",
            node.name()
        );
    }
}

/// Snap1 re-points child 10 from parent 2 to parent 1 (held on its way) while the DBA moves
/// parent 1 to key 5, which the master allows: no child refers to 1 there. Snap1's server would
/// refuse the move as an `UPDATE` (its child refers to 1, and the update rule is `RESTRICT`);
/// made as a delete and an insert, the delete took child 10 with it (`c`: `ON DELETE CASCADE`;
/// `rc`: `RESTRICT`, deleted first as a row the master never took), and grandchild 100 under it
/// went too (`ON DELETE CASCADE`). The master refuses snap1's change of child 10 (its parent 1
/// is gone there) and the echo brings child 10 back as the master holds it, but not the
/// grandchild, which is the master's row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_masters_key_move_keeps_the_rows_under_a_child_snap1_repoints_at_it() {
    let star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; CREATE TABLE p (id INT PRIMARY KEY, v INT); \
             CREATE TABLE c (id INT PRIMARY KEY, pid INT, \
             FOREIGN KEY (pid) REFERENCES p (id) ON DELETE CASCADE); \
             CREATE TABLE g (id INT PRIMARY KEY, cid INT, \
             FOREIGN KEY (cid) REFERENCES c (id) ON DELETE CASCADE); \
             CREATE TABLE rc (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) REFERENCES p (id)); \
             CREATE TABLE rg (id INT PRIMARY KEY, cid INT, \
             FOREIGN KEY (cid) REFERENCES rc (id) ON DELETE CASCADE); \
             CREATE TABLE u (id INT PRIMARY KEY, v INT); \
             INSERT INTO p VALUES (1, 0), (2, 0), (3, 0); \
             INSERT INTO c VALUES (10, 2); INSERT INTO g VALUES (100, 10); \
             INSERT INTO rc VALUES (10, 2); INSERT INTO rg VALUES (100, 10); \
             INSERT INTO u VALUES (1, 0)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    while_snap1_waits(
        &star,
        "BEGIN; UPDATE MOST.u SET v = 1 WHERE id = 1; UPDATE MOST.c SET pid = 1 WHERE id = 10; \
         UPDATE MOST.rc SET pid = 3 WHERE id = 10; COMMIT",
        "updates",
        "UPDATE MOST.p SET id = 5 WHERE id = 1; UPDATE MOST.p SET id = 6 WHERE id = 3",
        None,
    )
    .await;
    converged_or_show(&star, &["MOST.p", "MOST.c", "MOST.g", "MOST.rc", "MOST.rg"]).await;
    for node in &star.cluster.nodes {
        let p: Vec<i32> = node
            .query("SELECT id FROM MOST.p ORDER BY id")
            .await
            .unwrap();
        let mut children = Vec::new();
        for t in ["c", "g", "rc", "rg"] {
            let rows: Vec<(i32, i32)> = node
                .query(&format!("SELECT * FROM MOST.{t}"))
                .await
                .unwrap();
            children.push(rows);
        }
        assert_eq!(
            (p, children),
            (
                vec![2, 5, 6],
                vec![
                    vec![(10, 2)],
                    vec![(100, 10)],
                    vec![(10, 2)],
                    vec![(100, 10)]
                ]
            ),
            "{}",
            node.name()
        );
    }
}

/// Snap1 moves row 1 to key 5 (held on its way), then deletes row 5. The master makes the move
/// as the one `UPDATE` it was (`r` cascades deletes of `t`'s rows, not their moves), and its
/// echo moves a row between key 1, which no own change holds any more, and key 5, which
/// snap1's delete still holds (in flight).
/// Applied whole, it wrote row 5 back over snap1's newer delete, and the delete's echo was
/// left out as what snap1 held already: snap1 kept row 5 for good. Now only the part at the
/// key not in flight is applied (key 1's delete); key 5 waits for its own echo. The same with
/// the keys the other way round: row 3 moved to 6, then row 3 added again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_echo_of_a_move_leaves_the_key_an_own_change_holds() {
    let star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; CREATE TABLE t (id INT PRIMARY KEY, v INT); \
             CREATE TABLE r (id INT PRIMARY KEY, tid INT, \
             FOREIGN KEY (tid) REFERENCES t (id) ON DELETE CASCADE); \
             CREATE TABLE u (id INT PRIMARY KEY, v INT); \
             INSERT INTO t VALUES (1, 0), (3, 0); INSERT INTO u VALUES (1, 0)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    while_snap1_waits(
        &star,
        "BEGIN; UPDATE MOST.u SET v = 1 WHERE id = 1; UPDATE MOST.t SET id = 5 WHERE id = 1; \
         UPDATE MOST.t SET id = 6 WHERE id = 3; COMMIT",
        "moves",
        "INSERT INTO MOST.t VALUES (2, 0)",
        Some("DELETE FROM MOST.t WHERE id = 5; INSERT INTO MOST.t VALUES (3, 9)"),
    )
    .await;
    converged_or_show(&star, &["MOST.t"]).await;
    for node in &star.cluster.nodes {
        let t = id_pairs(node, "MOST.t").await;
        assert_eq!(t, vec![(2, 0), (3, 9), (6, 0)], "{}", node.name());
    }
}

/// Snap1 re-points child 10 from parent 2 to parent 1 (held on its way) while the DBA deletes
/// parent 1, whose cascade takes child 12 and grandchild 102 on the master (child 10 refers to
/// 2 there). Snap1's server cascaded the delete to child 10 as well, and to the master's
/// grandchild 100 under it; the master refuses snap1's change (parent 1 is gone there) and the
/// echo brings child 10 back as the master holds it, but not the grandchild. A parent delete
/// that would cascade here to a row with an own change in flight is now made without foreign
/// key checks, its other cascades made explicitly (`Applier::cascade_here`; a delete the hub
/// made for a snap has them as rows already).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_delete_keeps_the_rows_under_a_child_snap1_repoints_at_it() {
    let star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; CREATE TABLE p (id INT PRIMARY KEY, v INT); \
             CREATE TABLE c (id INT PRIMARY KEY, pid INT, \
             FOREIGN KEY (pid) REFERENCES p (id) ON DELETE CASCADE); \
             CREATE TABLE g (id INT PRIMARY KEY, cid INT, \
             FOREIGN KEY (cid) REFERENCES c (id) ON DELETE CASCADE); \
             CREATE TABLE u (id INT PRIMARY KEY, v INT); \
             INSERT INTO p VALUES (1, 0), (2, 0), (3, 0); \
             INSERT INTO c VALUES (10, 2), (11, 2), (12, 1); \
             INSERT INTO g VALUES (100, 10), (101, 11), (102, 12); \
             INSERT INTO u VALUES (1, 0)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    while_snap1_waits(
        &star,
        "BEGIN; UPDATE MOST.u SET v = 1 WHERE id = 1; UPDATE MOST.c SET pid = 1 WHERE id = 10; \
         COMMIT",
        "update",
        "DELETE FROM MOST.p WHERE id = 1",
        None,
    )
    .await;
    every_node_holds(&star, &[2, 3], &[(10, 2), (11, 2)], &[(100, 10), (101, 11)]).await;
}

/// The other side of `a_parent_delete_keeps_the_rows_under_a_child_snap1_repoints_at_it`: snap1
/// changes a column of child 10, which refers to parent 1 on the master too, and adds
/// grandchild 102 under child 12 (held on their way), while the DBA deletes parent 1, whose
/// cascade takes children 10, 11 and 12 and grandchildren 100 and 101 on the master. Snap1
/// keeps its own child through the delete, made there without foreign key checks, and so the
/// master's grandchild 100 under child 10; the echoes of the refused changes delete child 10
/// and grandchild 102 (the master does not have them), and rows still referring to a row an
/// echo deletes go with it (the master cannot hold them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_delete_takes_the_rows_under_a_child_snap1_changes() {
    let star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; CREATE TABLE p (id INT PRIMARY KEY, v INT); \
             CREATE TABLE c (id INT PRIMARY KEY, pid INT, v INT, \
             FOREIGN KEY (pid) REFERENCES p (id) ON DELETE CASCADE); \
             CREATE TABLE g (id INT PRIMARY KEY, cid INT, \
             FOREIGN KEY (cid) REFERENCES c (id) ON DELETE CASCADE); \
             CREATE TABLE u (id INT PRIMARY KEY, v INT); \
             INSERT INTO p VALUES (1, 0), (2, 0); \
             INSERT INTO c VALUES (10, 1, 0), (11, 1, 0), (12, 1, 0), (13, 2, 0); \
             INSERT INTO g VALUES (100, 10), (101, 11), (103, 13); \
             INSERT INTO u VALUES (1, 0)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    while_snap1_waits(
        &star,
        "BEGIN; UPDATE MOST.u SET v = 1 WHERE id = 1; UPDATE MOST.c SET v = 1 WHERE id = 10; \
         INSERT INTO MOST.g VALUES (102, 12); COMMIT",
        "update",
        "DELETE FROM MOST.p WHERE id = 1",
        None,
    )
    .await;
    converged_or_show(&star, &["MOST.p", "MOST.c", "MOST.g"]).await;
    for node in &star.cluster.nodes {
        let c: Vec<(i32, i32, i32)> = node
            .query("SELECT * FROM MOST.c ORDER BY id")
            .await
            .unwrap();
        let g = id_pairs(node, "MOST.g").await;
        assert_eq!(
            (c, g),
            (vec![(13, 2, 0)], vec![(103, 13)]),
            "{}",
            node.name()
        );
    }
}

/// The DBA adds a row referring to parent 5 of `q` and deletes parent 1 of `p` in one
/// transaction, while snap1's delete of parent 5 is on its way (held). Snap1 lacks parent 5, so
/// it applies the DBA's transaction without foreign key checks; the master's cascade of parent
/// 1's delete (child 10, and grandchild 100 under it) is made explicitly there
/// (`Applier::cascade_here`), which deleted child 10 with checks still off: grandchild 100
/// stayed on snap1 for good. The cascade is now made with checks on. The master refuses
/// snap1's delete (row 1 of `r` refers to parent 5), and the echo brings parent 5 back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_masters_cascade_made_without_checks_reaches_every_level() {
    let star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; CREATE TABLE p (id INT PRIMARY KEY, v INT); \
             CREATE TABLE c (id INT PRIMARY KEY, pid INT, \
             FOREIGN KEY (pid) REFERENCES p (id) ON DELETE CASCADE); \
             CREATE TABLE g (id INT PRIMARY KEY, cid INT, \
             FOREIGN KEY (cid) REFERENCES c (id) ON DELETE CASCADE); \
             CREATE TABLE q (id INT PRIMARY KEY); \
             CREATE TABLE r (id INT PRIMARY KEY, qid INT, FOREIGN KEY (qid) REFERENCES q (id)); \
             CREATE TABLE u (id INT PRIMARY KEY, v INT); \
             INSERT INTO p VALUES (1, 0), (2, 0); INSERT INTO c VALUES (10, 1), (11, 2); \
             INSERT INTO g VALUES (100, 10), (101, 11); INSERT INTO q VALUES (5), (6); \
             INSERT INTO u VALUES (1, 0)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    while_snap1_waits(
        &star,
        "BEGIN; UPDATE MOST.u SET v = 1 WHERE id = 1; DELETE FROM MOST.q WHERE id = 5; COMMIT",
        "delete",
        "BEGIN; INSERT INTO MOST.r VALUES (1, 5); DELETE FROM MOST.p WHERE id = 1; COMMIT",
        None,
    )
    .await;
    converged_or_show(&star, &["MOST.p", "MOST.c", "MOST.g", "MOST.q", "MOST.r"]).await;
    for node in &star.cluster.nodes {
        let c = id_pairs(node, "MOST.c").await;
        let g = id_pairs(node, "MOST.g").await;
        let q: Vec<i32> = node
            .query("SELECT id FROM MOST.q ORDER BY id")
            .await
            .unwrap();
        assert_eq!(
            (c, g, q),
            (vec![(11, 2)], vec![(101, 11)], vec![5, 6]),
            "{}",
            node.name()
        );
    }
}

/// The DBA deletes parent 1 with foreign key checks off (its children stay on the master, as
/// MariaDB does) while snap1's change of parent 1 is on its way (held). Snap1 leaves the delete
/// alone, and made the master's cascade of it there explicitly, deleting child 10, which every
/// other node kept. A delete its origin made without checks is no longer cascaded here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_masters_delete_made_without_checks_cascades_nowhere() {
    let star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; CREATE TABLE p (id INT PRIMARY KEY, v INT); \
             CREATE TABLE c (id INT PRIMARY KEY, pid INT, \
             FOREIGN KEY (pid) REFERENCES p (id) ON DELETE CASCADE); \
             CREATE TABLE u (id INT PRIMARY KEY, v INT); \
             INSERT INTO p VALUES (1, 0), (2, 0); INSERT INTO c VALUES (10, 1), (11, 2); \
             INSERT INTO u VALUES (1, 0)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    while_snap1_waits(
        &star,
        "BEGIN; UPDATE MOST.u SET v = 1 WHERE id = 1; UPDATE MOST.p SET v = 1 WHERE id = 1; \
         COMMIT",
        "update",
        "SET foreign_key_checks = 0; DELETE FROM MOST.p WHERE id = 1; SET foreign_key_checks = 1",
        None,
    )
    .await;
    converged_or_show(&star, &["MOST.p", "MOST.c"]).await;
    for node in &star.cluster.nodes {
        let c = id_pairs(node, "MOST.c").await;
        assert_eq!(c, vec![(10, 1), (11, 2)], "{}", node.name());
    }
}

/// As `a_masters_delete_made_without_checks_cascades_nowhere`, for a key move: the DBA moves
/// parent 1 to key 5 with foreign key checks off (child 10 keeps referring to 1 on the master:
/// `ON UPDATE CASCADE` makes nothing so) while snap1's change of parent 1 is on its way. Snap1
/// leaves the move alone, and made what followed it on the master explicitly there
/// (`Applier::follow_here`): child 10 moved to 5 on snap1 only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_masters_key_move_made_without_checks_moves_no_children() {
    let star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; CREATE TABLE p (id INT PRIMARY KEY, v INT); \
             CREATE TABLE c (id INT PRIMARY KEY, pid INT, \
             FOREIGN KEY (pid) REFERENCES p (id) ON UPDATE CASCADE); \
             CREATE TABLE u (id INT PRIMARY KEY, v INT); \
             INSERT INTO p VALUES (1, 0), (2, 0); INSERT INTO c VALUES (10, 1), (11, 2); \
             INSERT INTO u VALUES (1, 0)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    while_snap1_waits(
        &star,
        "BEGIN; UPDATE MOST.u SET v = 1 WHERE id = 1; UPDATE MOST.p SET v = 1 WHERE id = 1; \
         COMMIT",
        "update",
        "SET foreign_key_checks = 0; UPDATE MOST.p SET id = 5 WHERE id = 1; \
         SET foreign_key_checks = 1",
        None,
    )
    .await;
    converged_or_show(&star, &["MOST.p", "MOST.c"]).await;
    for node in &star.cluster.nodes {
        let c = id_pairs(node, "MOST.c").await;
        assert_eq!(c, vec![(10, 1), (11, 2)], "{}", node.name());
    }
}

/// A snap user deletes parent 1 with foreign key checks off: child 10 stays there, as MariaDB
/// keeps it. The hub made the delete's cascade explicit on the master, as for any snap's
/// delete, and every node, snap1 with the echo, lost child 10. A delete its origin made
/// without checks now cascades nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snaps_delete_made_without_checks_cascades_nowhere() {
    let star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; CREATE TABLE p (id INT PRIMARY KEY, v INT); \
             CREATE TABLE c (id INT PRIMARY KEY, pid INT, \
             FOREIGN KEY (pid) REFERENCES p (id) ON DELETE CASCADE); \
             INSERT INTO p VALUES (1, 0), (2, 0); INSERT INTO c VALUES (10, 1), (11, 2)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    app_exec(
        star.snap(0),
        "SET foreign_key_checks = 0; DELETE FROM MOST.p WHERE id = 1",
    )
    .await
    .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    for node in &star.cluster.nodes {
        let p: Vec<i32> = node
            .query("SELECT id FROM MOST.p ORDER BY id")
            .await
            .unwrap();
        let c = id_pairs(node, "MOST.c").await;
        assert_eq!((p, c), (vec![2], vec![(10, 1), (11, 2)]), "{}", node.name());
    }
}

/// As `a_parent_delete_keeps_the_rows_under_a_restricting_child_snap1_repoints_at_it`, with a
/// delete of 10,050 parents, which reach snap1 in three chunks (of at most 4,096 rows), child
/// 10 re-pointed at parent 9,950, in the last one. Fewer rows of `c` are in flight than a chunk
/// deletes, so snap1 reads the parents its rows in flight refer to
/// (`Applier::own_rows_refer_to`) and makes that chunk's delete without foreign key checks.
/// (Before stop 31, `delete_referring` deleted child 10 and the master's grandchild 100 under
/// it: a chunk of more than 100 rows was not looked at.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_parent_delete_keeps_the_rows_under_a_restricting_child_snap1_repoints_at_it() {
    snap1_repoints_child_10_while_the_dba_deletes_parents(10_050, "", "").await;
}

/// As `a_parent_delete_keeps_the_rows_under_a_child_snap1_repoints_at_it` (`ON DELETE
/// CASCADE`), with a delete of 12,000 parents, child 10 re-pointed at parent 11,900, and the
/// hub sending them in one chunk (`limits.chunk_rows = 20000`; the default, 4,096, splits
/// them). Up to stop 31 a snap looked at the rows referring to at most 10,000 deleted rows of
/// a chunk before making the delete; this one cascaded to child 10 and grandchild 100 there,
/// for good. Now the parents that its rows in flight refer to are read instead
/// (`Applier::own_rows_refer_to`), for a chunk of any size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_parent_delete_keeps_the_rows_under_a_cascading_child_snap1_repoints_at_it() {
    snap1_repoints_child_10_while_the_dba_deletes_parents(
        12_000,
        "ON DELETE CASCADE",
        "[limits]\nchunk_rows = 20000",
    )
    .await;
}

/// As `a_parent_delete_keeps_the_rows_under_a_restricting_child_snap1_repoints_at_it`, in one
/// table whose key refers to itself (`RESTRICT`): snap1 re-points row 10 at row 1 (held on its
/// way) while the DBA deletes row 1. A snap does not look at keys referring to their own table
/// before a delete; the server refuses it there, every row refusing it has an own change in
/// flight (`Applier::refused_by_own_rows_only`), and the delete is made without foreign key
/// checks. Row 10 stays until the echo of its refused re-point sets it back, with row 100
/// under it (`delete_referring` would have deleted both, and the echo brought back row 10).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_refused_by_a_row_of_its_own_table_snap1_repoints_keeps_the_rows_under_it() {
    let star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; \
             CREATE TABLE t (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) REFERENCES t (id)); \
             CREATE TABLE u (id INT PRIMARY KEY, v INT); \
             INSERT INTO t VALUES (1, NULL), (2, NULL), (10, 2), (100, 10); \
             INSERT INTO u VALUES (1, 0)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    while_snap1_waits(
        &star,
        "BEGIN; UPDATE MOST.u SET v = 1 WHERE id = 1; UPDATE MOST.t SET pid = 1 WHERE id = 10; \
         COMMIT",
        "update",
        "DELETE FROM MOST.t WHERE id = 1",
        None,
    )
    .await;
    converged_or_show(&star, &["MOST.t"]).await;
    for node in &star.cluster.nodes {
        let t: Vec<(i32, Option<i32>)> = node
            .query("SELECT * FROM MOST.t ORDER BY id")
            .await
            .unwrap();
        assert_eq!(
            t,
            vec![(2, None), (10, Some(2)), (100, Some(10))],
            "{}",
            node.name()
        );
    }
}

/// As `a_delete_refused_by_a_row_of_its_own_table_snap1_repoints_keeps_the_rows_under_it`,
/// with a key that cascades (`ON DELETE CASCADE`): snap1 re-points row 10 at row 1 (held on its
/// way) while the DBA deletes row 1, whose cascade takes row 20 and row 200 under it on the
/// master (row 10 does not refer to row 1 there). On snap1 the delete would cascade to row 10
/// and row 100 under it: the master's delete is made without foreign key checks, its cascade
/// made explicitly for the rows without own changes in flight (20, 200). Row 10 stays until
/// the echo of its refused re-point sets it back, with row 100 under it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_cascading_in_its_own_table_keeps_the_rows_under_a_row_snap1_repoints() {
    let star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; \
             CREATE TABLE t (id INT PRIMARY KEY, pid INT, \
             FOREIGN KEY (pid) REFERENCES t (id) ON DELETE CASCADE); \
             CREATE TABLE u (id INT PRIMARY KEY, v INT); \
             INSERT INTO t VALUES (1, NULL), (2, NULL), (10, 2), (100, 10), (20, 1), (200, 20); \
             INSERT INTO u VALUES (1, 0)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    while_snap1_waits(
        &star,
        "BEGIN; UPDATE MOST.u SET v = 1 WHERE id = 1; UPDATE MOST.t SET pid = 1 WHERE id = 10; \
         COMMIT",
        "update",
        "DELETE FROM MOST.t WHERE id = 1",
        None,
    )
    .await;
    converged_or_show(&star, &["MOST.t"]).await;
    for node in &star.cluster.nodes {
        let t: Vec<(i32, Option<i32>)> = node
            .query("SELECT * FROM MOST.t ORDER BY id")
            .await
            .unwrap();
        assert_eq!(
            t,
            vec![(2, None), (10, Some(2)), (100, Some(10))],
            "{}",
            node.name()
        );
    }
}

/// As `a_delete_cascading_in_its_own_table_keeps_the_rows_under_a_row_snap1_repoints`, with
/// the delete made on snap2: it comes to snap1 through the hub, whose transaction holds the
/// delete of row 1 alone (the master's server cascaded it to rows 20 and 200, unlogged). Snap1
/// makes it without foreign key checks and its cascade on the table's own key itself, for the
/// rows without own changes in flight (20, 200); before, its server's cascade took row 10 and
/// row 100 under it, and the echo of snap1's refused re-point brought back row 10 alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snaps_delete_cascading_in_its_own_table_keeps_the_rows_under_a_row_snap1_repoints() {
    let star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; \
             CREATE TABLE t (id INT PRIMARY KEY, pid INT, \
             FOREIGN KEY (pid) REFERENCES t (id) ON DELETE CASCADE); \
             CREATE TABLE u (id INT PRIMARY KEY, v INT); \
             INSERT INTO t VALUES (1, NULL), (2, NULL), (10, 2), (100, 10), (20, 1), (200, 20); \
             INSERT INTO u VALUES (1, 0)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    let mut dba = snap1_commits_held(
        &star,
        "BEGIN; UPDATE MOST.u SET v = 1 WHERE id = 1; UPDATE MOST.t SET pid = 1 WHERE id = 10; \
         COMMIT",
        "the hub's apply of snap1's update waits for the DBA's lock",
    )
    .await;
    app_exec(star.snap(1), "DELETE FROM MOST.t WHERE id = 1")
        .await
        .unwrap();
    eventually(
        "the master has snap2's delete",
        Duration::from_secs(30),
        || async {
            let n: Vec<u64> = star
                .master()
                .query("SELECT COUNT(*) FROM MOST.t WHERE id = 1")
                .await?;
            Ok(n[0] == 0)
        },
    )
    .await
    .unwrap();
    snap_has_the_masters_changes(&star, 0).await;
    dba.query_drop("ROLLBACK").await.unwrap();
    converged_or_show(&star, &["MOST.t"]).await;
    for node in &star.cluster.nodes {
        let t: Vec<(i32, Option<i32>)> = node
            .query("SELECT * FROM MOST.t ORDER BY id")
            .await
            .unwrap();
        assert_eq!(
            t,
            vec![(2, None), (10, Some(2)), (100, Some(10))],
            "{}",
            node.name()
        );
    }
}

/// One table whose key refers to itself (`ON DELETE CASCADE`): snap1 deletes row 1 (held on
/// its way) while the DBA adds rows 30 and 300 under it; snap1 takes them without checks (row 1
/// is gone there). The master's server cascades snap1's delete to them, unlogged; the echo's
/// delete of row 1 cascades on snap1 too (`Applier::echo_deletes_cascade`, now through keys
/// to the table itself). Before stop 33, snap1 kept rows 30 and 300 for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snaps_delete_cascading_in_its_own_table_takes_a_row_it_took_without_checks() {
    let star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; \
             CREATE TABLE t (id INT PRIMARY KEY, pid INT, \
             FOREIGN KEY (pid) REFERENCES t (id) ON DELETE CASCADE); \
             CREATE TABLE u (id INT PRIMARY KEY, v INT); \
             INSERT INTO t VALUES (1, NULL), (2, NULL), (20, 1); INSERT INTO u VALUES (1, 0)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    while_snap1_waits(
        &star,
        "BEGIN; UPDATE MOST.u SET v = 1 WHERE id = 1; DELETE FROM MOST.t WHERE id = 1; COMMIT",
        "delete",
        "INSERT INTO MOST.t VALUES (30, 1), (300, 30)",
        None,
    )
    .await;
    converged_or_show(&star, &["MOST.t"]).await;
    for node in &star.cluster.nodes {
        let t: Vec<(i32, Option<i32>)> = node
            .query("SELECT * FROM MOST.t ORDER BY id")
            .await
            .unwrap();
        assert_eq!(t, vec![(2, None)], "{}", node.name());
    }
}

/// One table whose key refers to itself (`ON DELETE CASCADE`): snap1 changes row 1 (held on
/// its way) while the DBA deletes it, which takes rows 20 and 200 under it on the master. Snap1
/// leaves the delete alone (row 1 is in flight) and makes its cascade itself (before, it left
/// keys on their own table to InnoDB, which cascades nothing from a row not deleted: snap1 kept
/// rows 20 and 200 for good). The hub writes snap1's update of the row it lacks as the row
/// (hub order), so row 1 is back everywhere, without the rows under it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_cascading_in_its_own_table_left_alone_on_snap1_cascades_there() {
    let star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; \
             CREATE TABLE t (id INT PRIMARY KEY, pid INT, v INT, \
             FOREIGN KEY (pid) REFERENCES t (id) ON DELETE CASCADE); \
             CREATE TABLE u (id INT PRIMARY KEY, v INT); \
             INSERT INTO t VALUES (1, NULL, 0), (2, NULL, 0), (20, 1, 0), (200, 20, 0); \
             INSERT INTO u VALUES (1, 0)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    while_snap1_waits(
        &star,
        "BEGIN; UPDATE MOST.u SET v = 1 WHERE id = 1; UPDATE MOST.t SET v = 1 WHERE id = 1; \
         COMMIT",
        "update",
        "DELETE FROM MOST.t WHERE id = 1",
        None,
    )
    .await;
    converged_or_show(&star, &["MOST.t"]).await;
    for node in &star.cluster.nodes {
        let t: Vec<(i32, Option<i32>)> = node
            .query("SELECT id, pid FROM MOST.t ORDER BY id")
            .await
            .unwrap();
        assert_eq!(t, vec![(1, None), (2, None)], "{}", node.name());
    }
}

/// Parents 1 to `n` and 20,000 of `p`; children 10 and 11 of parent 20,000 and grandchildren
/// 100 and 101 under them, all keys with `rule`. Snap1 re-points child 10 at parent `n` - 100
/// (held on its way) while the DBA deletes parents 1 to `n`: every node ends with the master's
/// rows. `hub_extra` goes into the hub's configuration.
async fn snap1_repoints_child_10_while_the_dba_deletes_parents(
    n: u32,
    rule: &str,
    hub_extra: &str,
) {
    let star = Star::start_tuned(2, 2, hub_extra, "").await.unwrap();
    star.master()
        .exec(&format!(
            "CREATE DATABASE MOST; USE MOST; CREATE TABLE p (id INT PRIMARY KEY, v INT); \
             CREATE TABLE c (id INT PRIMARY KEY, pid INT, \
             FOREIGN KEY (pid) REFERENCES p (id) {rule}); \
             CREATE TABLE g (id INT PRIMARY KEY, cid INT, \
             FOREIGN KEY (cid) REFERENCES c (id) {rule}); \
             CREATE TABLE u (id INT PRIMARY KEY, v INT); \
             INSERT INTO p SELECT seq, 0 FROM seq_1_to_{n}; INSERT INTO p VALUES (20000, 0); \
             INSERT INTO c VALUES (10, 20000), (11, 20000); \
             INSERT INTO g VALUES (100, 10), (101, 11); \
             INSERT INTO u VALUES (1, 0)"
        ))
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    while_snap1_waits(
        &star,
        &format!(
            "BEGIN; UPDATE MOST.u SET v = 1 WHERE id = 1; \
             UPDATE MOST.c SET pid = {} WHERE id = 10; \
             INSERT INTO MOST.c VALUES (12, 8); INSERT INTO MOST.g VALUES (102, 12); COMMIT",
            n - 100
        ),
        "update",
        &format!("DELETE FROM MOST.p WHERE id <= {n}"),
        None,
    )
    .await;
    every_node_holds(
        &star,
        &[20000],
        &[(10, 20000), (11, 20000)],
        &[(100, 10), (101, 11)],
    )
    .await;
}

/// As `a_parent_delete_keeps_the_rows_under_a_restricting_child_snap1_repoints_at_it`, but the
/// DBA makes parent 1 again in the same transaction, so the master takes snap1's re-point of
/// child 10 when it arrives. Snap1 used to delete child 10 and the master's grandchild 100
/// under it for the delete; the echo wrote child 10 again, not the grandchild, which only
/// snap1 lacked then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_deleted_and_made_again_keeps_the_rows_under_a_child_snap1_repoints_at_it() {
    let star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; CREATE TABLE p (id INT PRIMARY KEY, v INT); \
             CREATE TABLE c (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) REFERENCES p (id)); \
             CREATE TABLE g (id INT PRIMARY KEY, cid INT, FOREIGN KEY (cid) REFERENCES c (id)); \
             CREATE TABLE u (id INT PRIMARY KEY, v INT); \
             INSERT INTO p VALUES (1, 0), (2, 0); INSERT INTO c VALUES (10, 2), (11, 2); \
             INSERT INTO g VALUES (100, 10), (101, 11); INSERT INTO u VALUES (1, 0)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    while_snap1_waits(
        &star,
        "BEGIN; UPDATE MOST.u SET v = 1 WHERE id = 1; UPDATE MOST.c SET pid = 1 WHERE id = 10; \
         COMMIT",
        "update",
        "BEGIN; DELETE FROM MOST.p WHERE id = 1; INSERT INTO MOST.p VALUES (1, 1); COMMIT",
        None,
    )
    .await;
    every_node_holds(&star, &[1, 2], &[(10, 1), (11, 2)], &[(100, 10), (101, 11)]).await;
}

/// As `a_parent_delete_keeps_the_rows_under_a_child_snap1_repoints_at_it`, under `RESTRICT`
/// keys: the master's delete of parent 1 is refused on snap1 by child 10, which snap1 re-pointed
/// at it (held on its way), and by child 12, which snap1 added under it with grandchild 102.
/// Snap1 deleted the rows referring to the parent (`fk.rs`, `delete_referring`), and the
/// master's grandchild 100 under child 10 with them; the echo of the refused re-point brought
/// child 10 back, not the grandchild. A foreign parent delete that rows with own changes in
/// flight refuse is now made without foreign key checks: those rows stay until their echoes
/// settle them (child 10 as the master holds it; child 12 and grandchild 102, which the master
/// refused, deleted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_delete_keeps_the_rows_under_a_restricting_child_snap1_repoints_at_it() {
    let star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; CREATE TABLE p (id INT PRIMARY KEY, v INT); \
             CREATE TABLE c (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) REFERENCES p (id)); \
             CREATE TABLE g (id INT PRIMARY KEY, cid INT, FOREIGN KEY (cid) REFERENCES c (id)); \
             CREATE TABLE u (id INT PRIMARY KEY, v INT); \
             INSERT INTO p VALUES (1, 0), (2, 0), (3, 0); \
             INSERT INTO c VALUES (10, 2), (11, 2); \
             INSERT INTO g VALUES (100, 10), (101, 11); \
             INSERT INTO u VALUES (1, 0)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    while_snap1_waits(
        &star,
        "BEGIN; UPDATE MOST.u SET v = 1 WHERE id = 1; UPDATE MOST.c SET pid = 1 WHERE id = 10; \
         INSERT INTO MOST.c VALUES (12, 1); INSERT INTO MOST.g VALUES (102, 12); COMMIT",
        "update",
        "DELETE FROM MOST.p WHERE id = 1",
        None,
    )
    .await;
    every_node_holds(&star, &[2, 3], &[(10, 2), (11, 2)], &[(100, 10), (101, 11)]).await;
}

/// A DBA deletes a customer on the master (its orders go with it: `ON DELETE CASCADE`, not in
/// the binlog) while a snap's change to that customer is on its way. The snap leaves the
/// master's delete alone (the key is in flight), so its cascade did not happen there; the
/// snap's change then reaches the master after the delete and, later in hub order, brings the
/// customer back there, without orders. The snap kept the orders for good. A master's delete
/// left alone now makes its cascade on the snap explicitly: the referring rows whose keys are
/// not in flight are deleted (or set to NULL), and deletes are kept as images left alone for
/// the others (`k`: a key whose columns are not in the table's order, as in-flight keys have
/// them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_masters_parent_delete_left_alone_still_cascades() {
    let star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; CREATE TABLE p (id INT PRIMARY KEY, v INT); \
             CREATE TABLE c (id INT PRIMARY KEY, pid INT, \
             FOREIGN KEY (pid) REFERENCES p (id) ON DELETE CASCADE); \
             CREATE TABLE n (id INT PRIMARY KEY, pid INT, \
             FOREIGN KEY (pid) REFERENCES p (id) ON DELETE SET NULL); \
             CREATE TABLE k (a INT, b INT, pid INT, PRIMARY KEY (b, a), \
             FOREIGN KEY (pid) REFERENCES p (id) ON DELETE CASCADE); \
             CREATE TABLE u (id INT PRIMARY KEY, v INT); \
             INSERT INTO p VALUES (1, 0), (2, 0); INSERT INTO c VALUES (1, 1), (2, 1), (3, 2); \
             INSERT INTO k VALUES (1, 1, 1), (2, 1, 1); \
             INSERT INTO n VALUES (1, 1); INSERT INTO u VALUES (1, 0)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    while_snap1_waits(
        &star,
        "BEGIN; UPDATE MOST.u SET v = 1 WHERE id = 1; UPDATE MOST.p SET v = 1 WHERE id = 1; \
         UPDATE MOST.c SET id = 4 WHERE id = 2; UPDATE MOST.k SET a = 3 WHERE a = 2; COMMIT",
        "change",
        "DELETE FROM MOST.p WHERE id = 1",
        None,
    )
    .await;
    converged_or_show(&star, &["MOST.p", "MOST.c", "MOST.k", "MOST.n"]).await;
    for node in &star.cluster.nodes {
        let p = id_pairs(node, "MOST.p").await;
        let c = id_pairs(node, "MOST.c").await;
        let k: Vec<(i32, i32, i32)> = node.query("SELECT * FROM MOST.k").await.unwrap();
        let n: Vec<(i32, Option<i32>)> = node.query("SELECT * FROM MOST.n").await.unwrap();
        assert_eq!(
            (p, c, k, n),
            (
                vec![(1, 1), (2, 0)],
                vec![(3, 2), (4, 1)],
                vec![(3, 1, 1)],
                vec![(1, None)]
            ),
            "{}",
            node.name()
        );
    }
    let log = star.agent_log(0);
    assert!(
        log.contains("referring=`MOST`.`c` changed=1 left_alone=1"),
        "snap1 deleted order 1 and left order 4 (its own key move on its way) alone: {log}"
    );
    assert!(
        log.contains("referring=`MOST`.`k` changed=1 left_alone=1"),
        "the same with a key whose columns are not in the table's order: {log}"
    );
}

/// Snap1 moves a parent to another key under a key that cascades deletes but not updates
/// (`ON DELETE CASCADE`, its update rule `RESTRICT` by default): its server takes the move,
/// since no child refers to the parent there. Meanwhile the master adds a child of the parent.
/// The master's server would refuse the move now, as snap1's would have had it held the child.
/// - Before stop 25 the hub made the move as a delete and an insert, whose cascade took the
///   master's child there, unlogged, while snap1 kept it (taken without checks) for good.
/// - Stops 25 to 28 made that cascade explicit: every node converged, without the child, a
///   committed row lost to a key that never deletes on a move.
/// - Now the hub tries such a move as one `UPDATE` first: the master refuses it and keeps
///   parent and child, the echo brings the parent back to snap1, and the refusal is logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_key_move_whose_key_restricts_updates_keeps_the_masters_child() {
    let star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; CREATE TABLE p (id INT PRIMARY KEY, v INT); \
             CREATE TABLE c (id INT PRIMARY KEY, pid INT, \
             FOREIGN KEY (pid) REFERENCES p (id) ON DELETE CASCADE); \
             CREATE TABLE u (id INT PRIMARY KEY, v INT); \
             INSERT INTO p VALUES (1, 0), (2, 0); INSERT INTO u VALUES (1, 0)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    snap1_moves_parent_1_while(&star, 5, "INSERT INTO MOST.c VALUES (10, 1)").await;
    converged_or_show(&star, &["MOST.p", "MOST.c", "MOST.u"]).await;
    for node in &star.cluster.nodes {
        let p: Vec<(i32, i32)> = node.query("SELECT * FROM MOST.p").await.unwrap();
        let c: Vec<(i32, i32)> = node.query("SELECT * FROM MOST.c").await.unwrap();
        let u: Vec<(i32, i32)> = node.query("SELECT * FROM MOST.u").await.unwrap();
        assert_eq!(
            (p, c, u),
            (vec![(1, 0), (2, 0)], vec![(10, 1)], vec![(1, 1)]),
            "{}",
            node.name()
        );
    }
    the_move_is_refused_and_logged(&star).await;
}

/// Snap1's transaction changes `u` 1 and moves parent `p` 1 to `to`; the DBA runs
/// `meanwhile` on the master before the hub applies it (snap1 has the DBA's change first).
async fn snap1_moves_parent_1_while(star: &Star, to: i32, meanwhile: &str) {
    let own = format!(
        "BEGIN; UPDATE MOST.u SET v = 1 WHERE id = 1; UPDATE MOST.p SET id = {to} WHERE id = 1; \
         COMMIT"
    );
    while_snap1_waits(star, &own, "key move", meanwhile, None).await;
}

/// Snap1 commits `own`, whose first statement changes `u` 1: a DBA's lock holds the hub's
/// apply of it (`what` names it). Meanwhile the DBA runs `dba` on the master; once snap1 has
/// that, it runs `then` (when given), and the lock goes.
async fn while_snap1_waits(star: &Star, own: &str, what: &str, dba: &str, then: Option<&str>) {
    let mut lock = snap1_commits_held(
        star,
        own,
        &format!("the hub's apply of snap1's {what} waits for the DBA's lock"),
    )
    .await;
    star.master().exec(dba).await.unwrap();
    snap_has_the_masters_changes(star, 0).await;
    if let Some(sql) = then {
        app_exec(star.snap(0), sql).await.unwrap();
    }
    lock.query_drop("ROLLBACK").await.unwrap();
}

/// The master refused snap1's move of `p`, and logged it.
async fn the_move_is_refused_and_logged(star: &Star) {
    let kinds: Vec<String> = star
        .master()
        .query("SELECT kind FROM starsync.conflicts WHERE table_name = 'p'")
        .await
        .unwrap();
    assert_eq!(
        kinds,
        vec!["foreign_key".to_string()],
        "the refusal is logged"
    );
}

/// A DBA's transaction on the master adds a child of a parent that snap1 deleted (its delete on
/// its way) and deletes another parent, whose child goes with it there (`ON DELETE CASCADE`,
/// unlogged). Snap1 applies that transaction without foreign key checks (it lacks the first
/// child's parent), so the server made no cascade there, and snap1 kept the second child for
/// good. The cascade is now made there explicitly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_masters_parent_delete_applied_without_checks_still_cascades() {
    let star = Star::start(1).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; CREATE TABLE p (id INT PRIMARY KEY); \
             CREATE TABLE c (id INT PRIMARY KEY, pid INT, \
             FOREIGN KEY (pid) REFERENCES p (id) ON DELETE CASCADE); \
             CREATE TABLE u (id INT PRIMARY KEY, v INT); \
             INSERT INTO p VALUES (1), (2); INSERT INTO c VALUES (3, 2); \
             INSERT INTO u VALUES (1, 0)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    while_snap1_waits(
        &star,
        "BEGIN; UPDATE MOST.u SET v = 1 WHERE id = 1; DELETE FROM MOST.p WHERE id = 1; COMMIT",
        "delete",
        "BEGIN; INSERT INTO MOST.c VALUES (1, 1); DELETE FROM MOST.p WHERE id = 2; COMMIT",
        None,
    )
    .await;
    converged_or_show(&star, &["MOST.p", "MOST.c"]).await;
    for node in &star.cluster.nodes {
        let p: Vec<i32> = node.query("SELECT id FROM MOST.p").await.unwrap();
        let c: Vec<(i32, i32)> = node.query("SELECT * FROM MOST.c").await.unwrap();
        assert_eq!((p, c), (vec![], vec![]), "{}", node.name());
    }
}

/// Parent keys moved on every node, under keys that follow them (`ON UPDATE CASCADE` to a
/// child and a grandchild, `ON UPDATE SET NULL` to another child; `ON DELETE` is the default,
/// `RESTRICT`). The origin's server changes the children with the move, and its binlog shows
/// the move only: every node must make the move as an update, so that its own server changes
/// its children the same way. (Made as a delete and an insert, the delete was refused on the
/// hub, the snap's move with it, and a snap applying the master's move deleted the children.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parent_key_moves_reach_every_node_with_their_on_update_cascade() {
    let star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; CREATE TABLE p (id INT PRIMARY KEY, v INT, u INT UNIQUE); \
             CREATE TABLE c (id INT PRIMARY KEY, pid INT, \
             FOREIGN KEY (pid) REFERENCES p (id) ON UPDATE CASCADE); \
             CREATE TABLE g (id INT PRIMARY KEY, cpid INT, UNIQUE KEY (cpid), \
             FOREIGN KEY (cpid) REFERENCES c (pid) ON UPDATE CASCADE); \
             CREATE TABLE n (id INT PRIMARY KEY, pid INT, \
             FOREIGN KEY (pid) REFERENCES p (id) ON UPDATE SET NULL); \
             INSERT INTO p VALUES (1, 0, 1), (2, 0, 2), (3, 0, 3), (4, 0, 4); \
             INSERT INTO c VALUES (10, 1), (11, 2), (12, 3), (13, 4); \
             INSERT INTO g VALUES (100, 1), (101, 2), (102, 3); \
             INSERT INTO n VALUES (20, 1), (21, 2), (22, 3), (23, 4)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    // A snap's own move, a DBA's move on the master, and the other snap's move of two parents
    // in one statement (the second takes the key the first left).
    app_exec(star.snap(0), "UPDATE MOST.p SET id = 5 WHERE id = 1")
        .await
        .unwrap();
    star.master()
        .exec("UPDATE MOST.p SET id = 6, v = 1 WHERE id = 2")
        .await
        .unwrap();
    converged_or_show(&star, &["MOST.p", "MOST.c", "MOST.g", "MOST.n"]).await;
    app_exec(
        star.snap(1),
        "UPDATE MOST.p SET id = id - 1 WHERE id IN (3, 4) ORDER BY id",
    )
    .await
    .unwrap();
    converged_or_show(&star, &["MOST.p", "MOST.c", "MOST.g", "MOST.n"]).await;
    for node in &star.cluster.nodes {
        let p: Vec<(i32, i32)> = node
            .query("SELECT id, v FROM MOST.p ORDER BY id")
            .await
            .unwrap();
        let c = id_pairs(node, "MOST.c").await;
        let g = id_pairs(node, "MOST.g").await;
        let n: Vec<(i32, Option<i32>)> = node
            .query("SELECT * FROM MOST.n ORDER BY id")
            .await
            .unwrap();
        assert_eq!(
            (p, c, g, n),
            (
                vec![(2, 0), (3, 0), (5, 0), (6, 1)],
                vec![(10, 5), (11, 6), (12, 2), (13, 3)],
                vec![(100, 5), (101, 6), (102, 2)],
                vec![(20, None), (21, None), (22, None), (23, None)]
            ),
            "{}",
            node.name()
        );
    }
    let conflicts: Vec<u64> = star
        .master()
        .query("SELECT COUNT(*) FROM starsync.conflicts")
        .await
        .unwrap();
    // (A moving row keeps its unique value `u`: the hub took the row at its old key for
    // another row holding it, and logged it as displaced.)
    assert_eq!(conflicts, vec![0], "no move was refused or conflicted");
}

/// Snap1 moves a parent to another key; its server moves the parent's child with it (`ON
/// UPDATE CASCADE`, unlogged) and sets another one's key to NULL (`ON UPDATE SET NULL`).
/// Meanwhile the master adds another child of the parent under a key that does not follow
/// (`RESTRICT`), so the master refuses the move. The echo brings the
/// parent back to its key on snap1, and now the children as the master kept them (before,
/// snap1's kept the parent's new key, a row that no longer exists there, and NULL, for good).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_parent_key_move_brings_back_the_children_that_followed_it() {
    let star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; CREATE TABLE p (id INT PRIMARY KEY, v INT); \
             CREATE TABLE c (id INT PRIMARY KEY, pid INT, \
             FOREIGN KEY (pid) REFERENCES p (id) ON UPDATE CASCADE); \
             CREATE TABLE n (id INT PRIMARY KEY, pid INT, \
             FOREIGN KEY (pid) REFERENCES p (id) ON UPDATE SET NULL); \
             CREATE TABLE r (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) REFERENCES p (id)); \
             CREATE TABLE u (id INT PRIMARY KEY, v INT); \
             INSERT INTO p VALUES (1, 0); INSERT INTO c VALUES (10, 1); \
             INSERT INTO n VALUES (30, 1); \
             INSERT INTO u VALUES (1, 0)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    snap1_moves_parent_1_while(&star, 2, "INSERT INTO MOST.r VALUES (20, 1)").await;
    converged_or_show(&star, &["MOST.p", "MOST.c", "MOST.n", "MOST.r"]).await;
    for node in &star.cluster.nodes {
        let p: Vec<(i32, i32)> = node.query("SELECT * FROM MOST.p").await.unwrap();
        let c: Vec<(i32, i32)> = node.query("SELECT * FROM MOST.c").await.unwrap();
        let n: Vec<(i32, Option<i32>)> = node.query("SELECT * FROM MOST.n").await.unwrap();
        let r: Vec<(i32, i32)> = node.query("SELECT * FROM MOST.r").await.unwrap();
        assert_eq!(
            (p, c, n, r),
            (
                vec![(1, 0)],
                vec![(10, 1)],
                vec![(30, Some(1))],
                vec![(20, 1)]
            ),
            "{}",
            node.name()
        );
    }
    the_move_is_refused_and_logged(&star).await;
}

/// Snap1 moves a parent to another key (`ON UPDATE CASCADE` to a child and from it to a
/// grandchild, `ON UPDATE SET NULL` to another child) while snap2, which still has the parent
/// at its old key, adds a child, a grandchild and a `SET NULL` child of it. The master takes
/// snap2's rows first; snap1 takes them without checks (its parent moved). The master's
/// server then moves them with snap1's move, below its binlog. Snap1 kept them at the old key
/// for good: the hub now makes the move's cascade explicit (the rows that follow it are
/// written as updates of their own, binlogged), so snap1's echo brings them. The same with a
/// change of a referred column that is not the key (`k.code`, its referring row `r`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_added_elsewhere_while_their_parent_moved_follow_it_on_every_node() {
    let star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; CREATE TABLE p (id INT PRIMARY KEY, v INT); \
             CREATE TABLE c (id INT PRIMARY KEY, pid INT, \
             FOREIGN KEY (pid) REFERENCES p (id) ON UPDATE CASCADE); \
             CREATE TABLE g (id INT PRIMARY KEY, cpid INT, \
             FOREIGN KEY (cpid) REFERENCES c (pid) ON UPDATE CASCADE); \
             CREATE TABLE n (id INT PRIMARY KEY, pid INT, \
             FOREIGN KEY (pid) REFERENCES p (id) ON UPDATE SET NULL); \
             CREATE TABLE k (id INT PRIMARY KEY, code INT UNIQUE); \
             CREATE TABLE r (id INT PRIMARY KEY, code INT, \
             FOREIGN KEY (code) REFERENCES k (code) ON UPDATE CASCADE); \
             CREATE TABLE u (id INT PRIMARY KEY, v INT); \
             INSERT INTO p VALUES (1, 0); INSERT INTO c VALUES (10, 1); \
             INSERT INTO g VALUES (100, 1); INSERT INTO n VALUES (30, 1); \
             INSERT INTO k VALUES (1, 100); INSERT INTO r VALUES (10, 100); \
             INSERT INTO u VALUES (1, 0)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    let mut dba = snap1_commits_held(
        &star,
        "BEGIN; UPDATE MOST.u SET v = 1 WHERE id = 1; UPDATE MOST.p SET id = 5 WHERE id = 1; \
         UPDATE MOST.k SET code = 200 WHERE id = 1; COMMIT",
        "the hub's apply of snap1's key move waits for the DBA's lock",
    )
    .await;
    app_exec(
        star.snap(1),
        "BEGIN; INSERT INTO MOST.c VALUES (20, 1); INSERT INTO MOST.g VALUES (101, 1); \
         INSERT INTO MOST.n VALUES (31, 1); INSERT INTO MOST.r VALUES (20, 100); COMMIT",
    )
    .await
    .unwrap();
    eventually(
        "the master has snap2's rows",
        Duration::from_secs(30),
        || async {
            let n: Vec<u64> = star.master().query("SELECT COUNT(*) FROM MOST.n").await?;
            Ok(n[0] == 2)
        },
    )
    .await
    .unwrap();
    snap_has_the_masters_changes(&star, 0).await;
    dba.query_drop("ROLLBACK").await.unwrap();
    converged_or_show(&star, &["MOST.p", "MOST.c", "MOST.g", "MOST.n", "MOST.r"]).await;
    for node in &star.cluster.nodes {
        let p: Vec<(i32, i32)> = node.query("SELECT * FROM MOST.p").await.unwrap();
        let c = id_pairs(node, "MOST.c").await;
        let g = id_pairs(node, "MOST.g").await;
        let n: Vec<(i32, Option<i32>)> = node
            .query("SELECT * FROM MOST.n ORDER BY id")
            .await
            .unwrap();
        let r = id_pairs(node, "MOST.r").await;
        assert_eq!(
            (p, c, g, n, r),
            (
                vec![(5, 0)],
                vec![(10, 5), (20, 5)],
                vec![(100, 5), (101, 5)],
                vec![(30, None), (31, None)],
                vec![(10, 200), (20, 200)]
            ),
            "{}",
            node.name()
        );
    }
    let conflicts: Vec<u64> = star
        .master()
        .query("SELECT COUNT(*) FROM starsync.conflicts")
        .await
        .unwrap();
    assert_eq!(conflicts, vec![0], "nothing was refused or conflicted");
}

/// A DBA moves a parent to another key on the master (its children follow it there, `ON
/// UPDATE CASCADE` and `SET NULL`, below the binlog) while snap1's own change of the parent is
/// on its way. Snap1 makes the move as an update, its server moving the children, and keeps
/// its own image of the old key for the echo, which brings the parent back at its old key on
/// every node (hub order: snap1's change came after the move).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_masters_parent_key_move_left_alone_still_moves_the_children() {
    masters_parent_key_move_while_snap1_changes_it(
        "BEGIN; UPDATE MOST.u SET v = 1 WHERE id = 1; UPDATE MOST.p SET v = 7 WHERE id = 1; \
         COMMIT",
    )
    .await;
}

/// A DBA moves a parent's key from 1 to 5 (its children follow it on the master: `ON UPDATE
/// CASCADE` and `SET NULL`, below the binlog) while snap1's own changes of both keys are on
/// their way. Snap1 leaves the move alone (both keys in flight: its own changes come later in
/// hub order and win), and its server moved no child. Its changes then came out on the master
/// without touching the children (the row at 1 written again, the row at 5 as the move left
/// it), so snap1 kept them at the old key for good: it now makes the master's follows itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_masters_parent_key_move_left_alone_between_keys_in_flight_moves_the_children() {
    masters_parent_key_move_while_snap1_changes_it(
        "BEGIN; UPDATE MOST.u SET v = 1 WHERE id = 1; UPDATE MOST.p SET v = 7 WHERE id = 1; \
         INSERT INTO MOST.p VALUES (5, 0); COMMIT",
    )
    .await;
}

/// Parent `p` (1, 0) with a child `c` (`ON UPDATE CASCADE`) and `n` (`ON UPDATE SET NULL`):
/// snap1 commits `snap1_sql` (which first updates row 1 of `MOST.u` and sets `p` 1's `v` to 7),
/// held on its way to the master, while a DBA moves `p` 1 to 5 there. Every node ends with
/// the parent at both keys, the child following the move, and `n` NULL.
async fn masters_parent_key_move_while_snap1_changes_it(snap1_sql: &str) {
    let star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; CREATE TABLE p (id INT PRIMARY KEY, v INT); \
             CREATE TABLE c (id INT PRIMARY KEY, pid INT, \
             FOREIGN KEY (pid) REFERENCES p (id) ON UPDATE CASCADE); \
             CREATE TABLE n (id INT PRIMARY KEY, pid INT, \
             FOREIGN KEY (pid) REFERENCES p (id) ON UPDATE SET NULL); \
             CREATE TABLE u (id INT PRIMARY KEY, v INT); \
             INSERT INTO p VALUES (1, 0); INSERT INTO c VALUES (10, 1); \
             INSERT INTO n VALUES (30, 1); INSERT INTO u VALUES (1, 0)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    while_snap1_waits(
        &star,
        snap1_sql,
        "change",
        "UPDATE MOST.p SET id = 5 WHERE id = 1",
        None,
    )
    .await;
    converged_or_show(&star, &["MOST.p", "MOST.c", "MOST.n"]).await;
    for node in &star.cluster.nodes {
        let p = id_pairs(node, "MOST.p").await;
        let c: Vec<(i32, i32)> = node.query("SELECT * FROM MOST.c").await.unwrap();
        let n: Vec<(i32, Option<i32>)> = node.query("SELECT * FROM MOST.n").await.unwrap();
        assert_eq!(
            (p, c, n),
            (vec![(1, 7), (5, 0)], vec![(10, 5)], vec![(30, None)]),
            "{}",
            node.name()
        );
    }
}

/// Snap1 deletes a row whose `code` an `ON UPDATE CASCADE` key refers to, and while that is on
/// its way the DBA adds a child of it (the master refuses the delete: a `RESTRICT` child); snap1
/// then inserts the row again with another code. The master holds the row, so the insert
/// becomes an update of its code there, which the child follows: the hub makes that explicit
/// too, as for an update. Before, the master's server moved the child unlogged, and snap1,
/// whose echo of the insert changed nothing it did not already have, kept the old code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snaps_insert_that_updates_the_masters_row_takes_its_followers_along() {
    let star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; \
             CREATE TABLE k (id INT PRIMARY KEY, code INT UNIQUE); \
             CREATE TABLE r (id INT PRIMARY KEY, code INT, \
             FOREIGN KEY (code) REFERENCES k (code) ON UPDATE CASCADE); \
             CREATE TABLE u (id INT PRIMARY KEY, v INT); \
             INSERT INTO k VALUES (1, 100); INSERT INTO u VALUES (1, 0)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    while_snap1_waits(
        &star,
        "BEGIN; UPDATE MOST.u SET v = 1 WHERE id = 1; DELETE FROM MOST.k WHERE id = 1; COMMIT",
        "delete",
        "INSERT INTO MOST.r VALUES (20, 100)",
        Some("INSERT INTO MOST.k VALUES (1, 200)"),
    )
    .await;
    converged_or_show(&star, &["MOST.k", "MOST.r"]).await;
    for node in &star.cluster.nodes {
        let k: Vec<(i32, i32)> = node.query("SELECT * FROM MOST.k").await.unwrap();
        let r: Vec<(i32, i32)> = node.query("SELECT * FROM MOST.r").await.unwrap();
        assert_eq!((k, r), (vec![(1, 200)], vec![(20, 200)]), "{}", node.name());
    }
}

/// Snap1 commits `sql`, which first updates row 1 of `MOST.u`; a DBA's lock on that row on
/// the master holds the hub's apply of it ([`dba_holds`]) until the returned connection rolls
/// back (`what`: the wait, for its message).
async fn snap1_commits_held(star: &Star, sql: &str, what: &str) -> mysql_async::Conn {
    let dba = dba_holds(star, "MOST.u").await;
    app_exec(star.snap(0), sql).await.unwrap();
    master_waits_for_a_lock(star, what).await;
    dba
}

/// A DBA's open transaction on the master holding row 1 of `table` (`SELECT … FOR UPDATE`):
/// the hub's apply of a snap's change that touches the row waits for it.
async fn dba_holds(star: &Star, table: &str) -> mysql_async::Conn {
    let mut dba = star.master().conn().await.unwrap();
    dba.query_drop("BEGIN").await.unwrap();
    dba.query_drop(format!("SELECT * FROM {table} WHERE id = 1 FOR UPDATE"))
        .await
        .unwrap();
    dba
}

/// Waits until a transaction on the master waits for a lock (`what`: the hub's apply that
/// [`dba_holds`] holds).
async fn master_waits_for_a_lock(star: &Star, what: &str) {
    eventually(what, Duration::from_secs(30), || async {
        let waiting: Vec<u64> = star
            .master()
            .query(
                "SELECT COUNT(*) FROM information_schema.INNODB_TRX \
                 WHERE trx_state = 'LOCK WAIT'",
            )
            .await?;
        Ok(waiting[0] == 1)
    })
    .await
    .unwrap();
}

/// Waits until snap `i` holds every change the master holds now.
async fn snap_has_the_masters_changes(star: &Star, i: usize) {
    let master_pos = star.master().gtid_binlog_pos().await.unwrap();
    eventually(
        &format!("snap{} has the master's changes", i + 1),
        Duration::from_secs(30),
        || async {
            let p = star.snap(i).gtid_binlog_pos().await?;
            Ok(master_pos.iter().all(|g| p.contains(g)))
        },
    )
    .await
    .unwrap();
}

/// Waits until every node converged (else fails, showing them), then checks that every node
/// holds the keys `p` of `MOST.p` and the rows `c` and `g` of `MOST.c` and `MOST.g`.
async fn every_node_holds(star: &Star, p: &[i32], c: &[(i32, i32)], g: &[(i32, i32)]) {
    converged_or_show(star, &["MOST.p", "MOST.c", "MOST.g"]).await;
    for node in &star.cluster.nodes {
        let ids: Vec<i32> = node
            .query("SELECT id FROM MOST.p ORDER BY id")
            .await
            .unwrap();
        let held = (
            ids,
            id_pairs(node, "MOST.c").await,
            id_pairs(node, "MOST.g").await,
        );
        assert_eq!(
            held,
            (p.to_vec(), c.to_vec(), g.to_vec()),
            "{}",
            node.name()
        );
    }
}

/// The rows of a two-column `table` (`MOST.t`) on `node`, in key order.
async fn id_pairs(node: &starsync_tests::mariadb::Node, table: &str) -> Vec<(i32, i32)> {
    node.query(&format!("SELECT * FROM {table} ORDER BY id"))
        .await
        .unwrap()
}

/// Waits until every node converged; if they do not, fails with the rows of `tables` on each.
async fn converged_or_show(star: &Star, tables: &[&str]) {
    if let Err(e) = star.wait_converged(Duration::from_secs(30)).await {
        let mut all = Vec::new();
        for node in &star.cluster.nodes {
            for t in tables {
                let rows: Vec<mysql_async::Row> =
                    node.query(&format!("SELECT * FROM {t}")).await.unwrap();
                let rows: Vec<_> = rows.into_iter().map(|r| r.unwrap()).collect();
                all.push(format!("{t} on {}: {rows:?}", node.name()));
            }
        }
        panic!("{e}: {all:#?}");
    }
}

/// A non-transactional table's conflicts are logged too. While the hub is stopped, the DBA and
/// snap1 change the same rows of a MyISAM table; snap1's statements reach the master after the
/// DBA's and win (hub order). The hub compares each row with the master's before the group's
/// one statement writes it, as it does for InnoDB rows, and records what differed after the
/// group's commit, unlogged: the master's binlog gains snap1's GTIDs and nothing else. Before,
/// such conflicts were resolved without a word.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_on_a_myisam_table_are_logged() {
    let mut star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; CREATE TABLE MOST.my (id INT PRIMARY KEY, v INT) \
             ENGINE=MyISAM; INSERT INTO MOST.my VALUES (1, 0), (2, 0), (3, 0)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    star.hub_proc().terminate(Duration::from_secs(10)).unwrap();
    let m = star.master();
    m.exec(
        "UPDATE MOST.my SET v = 5 WHERE id IN (1, 2); DELETE FROM MOST.my WHERE id = 3; \
         INSERT INTO MOST.my VALUES (4, 50)",
    )
    .await
    .unwrap();
    // One statement updating a row the DBA changed and one the DBA deleted; an insert of a key
    // the DBA took; an update of a row both left as it was.
    app_exec(
        star.snap(0),
        "UPDATE MOST.my SET v = v + 1 WHERE id IN (1, 3); INSERT INTO MOST.my VALUES (4, 40); \
         INSERT INTO MOST.my VALUES (5, 0); UPDATE MOST.my SET v = 9 WHERE id = 5",
    )
    .await
    .unwrap();
    let before = m.gtid_binlog_pos().await.unwrap();
    star.start_hub().unwrap();
    star.wait_converged(Duration::from_secs(60)).await.unwrap();
    let m = star.master();
    for n in [m, star.snap(0), star.snap(1)] {
        let rows: Vec<(i32, i32)> = n
            .query("SELECT id, v FROM MOST.my ORDER BY id")
            .await
            .unwrap();
        assert_eq!(
            rows,
            vec![(1, 1), (2, 5), (3, 1), (4, 40), (5, 9)],
            "my on {}",
            n.name()
        );
    }
    let conflicts: Vec<(String, String, String, Option<String>)> = m
        .query(
            "SELECT kind, row_key, origin_node, master_image FROM starsync.conflicts \
             WHERE table_name = 'my' ORDER BY id",
        )
        .await
        .unwrap();
    let kinds: Vec<(&str, &str)> = conflicts
        .iter()
        .map(|c| (c.0.as_str(), c.1.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("update_mismatch", r#"{"id":1}"#),
            ("update_missing", r#"{"id":3}"#),
            ("insert_exists", r#"{"id":4}"#),
        ],
        "{conflicts:?}"
    );
    assert!(conflicts.iter().all(|c| c.2 == "snap1"), "{conflicts:?}");
    assert!(
        conflicts[0].3.as_deref().is_some_and(|i| i.contains("5")),
        "the master's row before snap1's: {conflicts:?}"
    );
    // Only snap1's four GTIDs were added on the master: the records took none.
    let after = m.gtid_binlog_pos().await.unwrap();
    let snap1 = star.snap(0).gtid_binlog_pos().await.unwrap();
    let d = star.snap(0).spec.domain_id;
    assert_eq!(
        after.get(d),
        snap1.get(d),
        "{after} against snap1's {snap1}"
    );
    assert_eq!(after.get(d).map(|g| g.seq), Some(4), "{after}");
    let md = m.spec.domain_id;
    assert_eq!(after.get(md), before.get(md), "{after} against {before}");
    assert!(star
        .hub_log()
        .contains("conflict: resolved in hub order and logged"));
}
