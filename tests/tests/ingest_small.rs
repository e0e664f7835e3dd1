//! The hub's one-round-trip ingest of small transactions (`Applier::apply_small_checked`):
//! clean transactions commit in one query with the origin's GTID; a transaction that conflicts
//! with the master's rows is rolled back untouched and then goes item by item, which records the
//! conflict and forces the origin's images. And the item-by-item path's replay after a lock
//! conflict (`apply::retry`). Real servers: origin A, "master" M.

use std::time::Duration;

use mysql_async::prelude::*;
use replicator::apply::retry::{self, TxnBuffer};
use replicator::apply::{Applier, TxnMode};
use replicator::model::TxnItem;
use starsync_tests::{mariadb, Cluster};

const TABLE: &str =
    "CREATE TABLE MOST.t (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL, n INT NULL) ENGINE=InnoDB";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_transactions_commit_in_one_query_and_conflicts_fall_back() {
    let cluster = two_nodes().await;
    let (a, m) = (&cluster.nodes[0], &cluster.nodes[1]);
    // On A: eight transactions, one statement each but the third.
    a.exec(
        "INSERT INTO MOST.t VALUES (1, 'one', NULL); \
         INSERT INTO MOST.t VALUES (2, 'two', 2); \
         BEGIN; INSERT INTO MOST.t VALUES (3, 'three', 3), (4, 'four', 4); \
           UPDATE MOST.t SET n = 10 WHERE id = 1; COMMIT; \
         UPDATE MOST.t SET v = 'uno' WHERE id = 1; \
         DELETE FROM MOST.t WHERE id = 4; \
         INSERT INTO MOST.t VALUES (5, 'five', 5); \
         DELETE FROM MOST.t WHERE id = 3; \
         UPDATE MOST.t SET v = 'FIVE' WHERE id = 5",
    )
    .await
    .unwrap();
    let (txns, target) = a.transactions().await.unwrap();
    assert_eq!(txns.len(), 8, "eight transactions on A");

    let mut master = Applier::connect(&m.opts_as(mariadb::REPL_USER, mariadb::REPL_PASSWORD), "M")
        .await
        .unwrap();
    let mode = TxnMode {
        preserve_gtid: true,
        detect_conflicts: true,
        echo: false,
        origin: "A".into(),
        cascade_here: false,
    };
    // What M's own users did meanwhile (not binlogged, so A's GTIDs stay contiguous on M):
    // before A's 2nd transaction M already has id 2; before the 4th, M changed id 1; before
    // the 7th, M changed id 3; before the 8th, M already wrote A's new value of id 5 (so that
    // update matches, under the column's case-insensitive collation, and changes nothing: its
    // GTID must land all the same).
    let local = |i: usize| match i {
        1 => Some("INSERT INTO MOST.t VALUES (2, 'master two', NULL)"),
        3 => Some("UPDATE MOST.t SET n = 99 WHERE id = 1"),
        6 => Some("UPDATE MOST.t SET v = 'master three' WHERE id = 3"),
        7 => Some("UPDATE MOST.t SET v = 'FIVE' WHERE id = 5"),
        _ => None,
    };
    let mut one_query = Vec::new();
    for (i, items) in txns.iter().enumerate() {
        if let Some(sql) = local(i) {
            m.exec(&format!("SET SESSION sql_log_bin=0; {sql}"))
                .await
                .unwrap();
        }
        match master.apply_small_checked(items).await.unwrap() {
            Some(c) => {
                assert_eq!(c.conflicts, 0);
                one_query.push(i);
            }
            None => {
                for it in items {
                    master.apply_item(it, &mode).await.unwrap();
                }
            }
        }
    }
    assert_eq!(
        one_query,
        vec![0, 2, 4, 5, 7],
        "clean transactions take one query, conflicting ones fall back"
    );
    // Hub order wins: M ends exactly as A, with A's GTIDs, and each conflict is logged once.
    assert_eq!(
        a.checksum("MOST.t").await.unwrap(),
        m.checksum("MOST.t").await.unwrap()
    );
    assert_eq!(m.gtid_binlog_pos().await.unwrap(), target);
    let logged: Vec<(String, String)> = m
        .conn()
        .await
        .unwrap()
        .query("SELECT kind, JSON_EXTRACT(row_key, '$.id') FROM starsync.conflicts ORDER BY id")
        .await
        .unwrap();
    assert_eq!(
        logged,
        vec![
            ("insert_exists".to_string(), "2".to_string()),
            ("update_mismatch".to_string(), "1".to_string()),
            ("delete_mismatch".to_string(), "3".to_string()),
        ]
    );
}

/// Two servers with table `MOST.t`, created without binlogging (so A's binlog holds only what
/// the test writes).
async fn two_nodes() -> Cluster {
    let cluster = Cluster::start(2).await.unwrap();
    for node in &cluster.nodes {
        node.exec(&format!(
            "SET SESSION sql_log_bin=0; CREATE DATABASE MOST; {TABLE}"
        ))
        .await
        .unwrap();
    }
    cluster
}

/// The agent's variant (`Applier::apply_small`, forcing images): inserts go as plain `INSERT`s
/// without the bookkeeping row; a key the target already holds fails that try and the
/// transaction is forced as always. Every GTID lands either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_inserts_skip_bookkeeping_and_force_over_existing_keys() {
    let cluster = two_nodes().await;
    let (a, s) = (&cluster.nodes[0], &cluster.nodes[1]);
    a.exec(
        "INSERT INTO MOST.t VALUES (1, 'one', 1); \
         INSERT INTO MOST.t VALUES (2, 'two', 2), (3, 'three', 3); \
         BEGIN; INSERT INTO MOST.t VALUES (4, 'four', 4); \
           UPDATE MOST.t SET n = 10 WHERE id = 1; COMMIT",
    )
    .await
    .unwrap();
    let (txns, target) = a.transactions().await.unwrap();
    assert_eq!(txns.len(), 3);
    let mut snap = Applier::connect(&s.opts_as(mariadb::REPL_USER, mariadb::REPL_PASSWORD), "S")
        .await
        .unwrap();
    // S already holds key 3, with other values (written locally, not binlogged).
    s.exec("SET SESSION sql_log_bin=0; INSERT INTO MOST.t VALUES (3, 'local three', NULL)")
        .await
        .unwrap();
    let mut sc = s.conn().await.unwrap();
    for (i, items) in txns.iter().enumerate() {
        let c = snap.apply_small(items, None).await.unwrap();
        assert!(
            c.is_some_and(|c| !c.skipped),
            "transaction {i} in one round trip"
        );
        let bookkeeping: u64 = sc
            .query_first("SELECT COUNT(*) FROM starsync.applied")
            .await
            .unwrap()
            .unwrap();
        // Only the transaction that met key 3 was forced with its bookkeeping row.
        assert_eq!(bookkeeping, u64::from(i >= 1), "after transaction {i}");
    }
    assert_eq!(
        a.checksum("MOST.t").await.unwrap(),
        s.checksum("MOST.t").await.unwrap(),
        "S forced to A's images"
    );
    assert_eq!(s.gtid_binlog_pos().await.unwrap(), target);
    // Applied again (a replay): the target holds them, nothing is written.
    for items in &txns {
        assert!(
            snap.apply_small(items, None)
                .await
                .unwrap()
                .unwrap()
                .skipped
        );
    }
}

/// A lock conflict while a transaction is replayed after a lock conflict: the hub begins the
/// transaction again and replays it, and never runs an item outside it (in autocommit each
/// statement would commit on its own, the first under the transaction's GTID, and the origin's
/// later transactions would be refused or taken for applied). With a 1 s lock wait: session U
/// holds z, which the hub's third item needs (timeout, replay); session T takes y as the hub
/// rolls back, so the replay of the earlier items times out too; then U lets z go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_conflict_during_the_replay_of_a_transaction_replays_it_again() {
    let cluster = two_nodes().await;
    let (a, m) = (&cluster.nodes[0], &cluster.nodes[1]);
    for node in [a, m] {
        node.exec(
            "SET SESSION sql_log_bin=0; \
             CREATE TABLE MOST.x (id INT PRIMARY KEY, n INT NOT NULL); \
             CREATE TABLE MOST.y (id INT PRIMARY KEY, n INT NOT NULL); \
             CREATE TABLE MOST.z (id INT PRIMARY KEY, n INT NOT NULL); \
             INSERT INTO MOST.x VALUES (1, 0); INSERT INTO MOST.y VALUES (1, 0); \
             INSERT INTO MOST.z VALUES (1, 0)",
        )
        .await
        .unwrap();
    }
    // On A: one transaction, one row in each of x, y, z (three items after its Begin).
    a.exec(
        "BEGIN; UPDATE MOST.x SET n = 1; UPDATE MOST.y SET n = 1; UPDATE MOST.z SET n = 1; COMMIT",
    )
    .await
    .unwrap();
    let (txns, target) = a.transactions().await.unwrap();
    assert_eq!(txns.len(), 1);
    let items = &txns[0];
    let rows: Vec<&str> = items
        .iter()
        .filter_map(|i| match i {
            TxnItem::Rows(c) => Some(c.table.table.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(rows, ["x", "y", "z"], "one rows item per table");

    let mut hub = Applier::connect(&m.opts_as(mariadb::REPL_USER, mariadb::REPL_PASSWORD), "M")
        .await
        .unwrap();
    hub.conn()
        .query_drop("SET SESSION innodb_lock_wait_timeout = 1")
        .await
        .unwrap();
    let hub_id = hub.conn().id();
    let mode = TxnMode {
        preserve_gtid: true,
        detect_conflicts: true,
        echo: false,
        origin: "A".into(),
        cascade_here: false,
    };
    let mut buf = TxnBuffer::new(1 << 20);
    // Begin, x, y: the hub holds x and y.
    let z_at = items.len() - 2;
    for item in &items[..z_at] {
        retry::apply_item(&mut hub, &mut buf, item, &mode, None)
            .await
            .unwrap();
    }
    let mut u = m.conn().await.unwrap();
    u.query_drop("BEGIN; SELECT * FROM MOST.z FOR UPDATE")
        .await
        .unwrap();
    let z = items[z_at].clone();
    let mode2 = mode.clone();
    let task = tokio::spawn(async move {
        let r = retry::apply_item(&mut hub, &mut buf, &z, &mode2, None).await;
        (hub, buf, r)
    });
    let mut watch = m.conn().await.unwrap();
    lock_wait(&mut watch, hub_id, "z").await;
    // T queues for y: it gets y when the hub's wait for z times out and the hub rolls back.
    let mut t = m.conn().await.unwrap();
    let t_task = tokio::spawn(async move {
        t.query_drop("BEGIN; SELECT * FROM MOST.y FOR UPDATE")
            .await
            .unwrap();
        t
    });
    // The replay takes x and waits for y (held by T); z is free from now on.
    lock_wait(&mut watch, hub_id, "y").await;
    u.query_drop("COMMIT").await.unwrap();
    // The replay's wait times out (1 s): the transaction must be replayed again, not z run
    // on its own. Then T goes away.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut t = t_task.await.unwrap();
    t.query_drop("ROLLBACK").await.unwrap();
    let (mut hub, mut buf, r) = tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .expect("the hub's apply ended")
        .unwrap();
    r.expect("z applied inside the replayed transaction");
    for item in &items[z_at + 1..] {
        retry::apply_item(&mut hub, &mut buf, item, &mode, None)
            .await
            .unwrap();
    }
    for t in ["MOST.x", "MOST.y", "MOST.z"] {
        assert_eq!(
            a.checksum(t).await.unwrap(),
            m.checksum(t).await.unwrap(),
            "{t} as on A"
        );
    }
    assert_eq!(m.gtid_binlog_pos().await.unwrap(), target);
    // One transaction in M's binlog: A's GTID, holding all three rows.
    let events: Vec<mysql_async::Row> = watch.query("SHOW BINLOG EVENTS").await.unwrap();
    let kinds: Vec<String> = events
        .iter()
        .map(|e| e.get::<String, _>("Event_type").unwrap())
        .filter(|k| k == "Gtid" || k == "Update_rows_v1" || k == "Xid")
        .collect();
    assert_eq!(
        kinds,
        [
            "Gtid",
            "Update_rows_v1",
            "Update_rows_v1",
            "Update_rows_v1",
            "Xid"
        ],
        "one transaction on M"
    );
}

/// Waits until the connection `id` on `watch`'s server waits for a row lock of `MOST.table`
/// (each step of the test waits on another table). `INNODB_TRX` is a cache that the server
/// refreshes only when it was not read for 100 ms: polled faster, it never changes.
async fn lock_wait(watch: &mut mysql_async::Conn, id: u32, table: &str) {
    for _ in 0..200 {
        let n: Option<u64> = watch
            .exec_first(
                "SELECT COUNT(*) FROM information_schema.INNODB_TRX t \
                 JOIN information_schema.INNODB_LOCKS l ON l.lock_id = t.trx_requested_lock_id \
                 WHERE t.trx_mysql_thread_id = ? AND t.trx_state = 'LOCK WAIT' \
                 AND l.lock_table = ?",
                (id, format!("`MOST`.`{table}`")),
            )
            .await
            .unwrap();
        if n == Some(1) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    panic!("connection {id} never waited for a lock of MOST.{table}");
}
