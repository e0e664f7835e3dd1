//! The hub's one-round-trip ingest of small transactions (`Applier::apply_small_checked`):
//! clean transactions commit in one query with the origin's GTID; a transaction that conflicts
//! with the master's rows is rolled back untouched and then goes item by item, which records the
//! conflict and forces the origin's images. Real servers: origin A, "master" M.

use std::time::Duration;

use mysql_async::prelude::*;
use replicator::apply::{Applier, TxnMode};
use replicator::binlog::{AssembleOptions, BinlogReader, Read, ReaderOptions};
use replicator::gtid::GtidPos;
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
    let (txns, target) = transactions(a).await;
    assert_eq!(txns.len(), 8, "eight transactions on A");

    let mut master = Applier::connect(&m.opts_as(mariadb::REPL_USER, mariadb::REPL_PASSWORD), "M")
        .await
        .unwrap();
    let mode = TxnMode {
        preserve_gtid: true,
        detect_conflicts: true,
        echo: false,
        origin: "A".into(),
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

/// A's transactions, read from its binlog, and A's position after them.
async fn transactions(a: &starsync_tests::Node) -> (Vec<Vec<TxnItem>>, GtidPos) {
    let target = a.gtid_binlog_pos().await.unwrap();
    let mut reader = BinlogReader::new(
        ReaderOptions {
            opts: a.opts_as(mariadb::REPL_USER, mariadb::REPL_PASSWORD),
            replica_id: 1001,
            heartbeat: Duration::from_millis(300),
            reconnect_max: Duration::from_millis(500),
            label: "A".into(),
            assemble: AssembleOptions::default(),
        },
        GtidPos::new(),
    );
    let mut txns: Vec<Vec<TxnItem>> = Vec::new();
    let mut open = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(30), reader.next())
            .await
            .expect("reader stalled")
            .unwrap()
        {
            Read::Item(item) => {
                let end = matches!(item, TxnItem::Commit(_));
                open.push(item);
                if end {
                    txns.push(std::mem::take(&mut open));
                }
            }
            Read::Idle if reader.position().covers(&target) => break,
            Read::Idle => {}
        }
    }
    (txns, target)
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
    let (txns, target) = transactions(a).await;
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
