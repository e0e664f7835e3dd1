//! An image left alone for an in-flight key is written with the echo that releases it
//! (`agent::inflight`, `Applier::force_unless_refused`). Here, on a real server, the foreign
//! key refuses such images, because of the snap's own later changes still on their way:
//! - `RESTRICT`: the image is written without checks. The master took the row with its key
//!   checked; the parent is missing here (or children refuse the parent's delete) only through
//!   own changes that the master refuses or settles, and their echoes settle this row too.
//!   Dropping it lost it for good: `star_fuzz` saw a snap keep four children fewer than the
//!   master, and `tests/model/converge_fk.py` (variant `drop`) diverges the same way.
//! - `ON DELETE CASCADE`: the image is left out when its parent went here with a foreign
//!   change: the master's row went with its parent (a cascade is not in the binlog), as it did
//!   here. When an own change of the parent is in flight, the parent went here with it, not
//!   with the master's: the image is written without checks, and that change's echo settles it
//!   (left out, it was lost for good when the master kept the parent and the row:
//!   `tests/model/converge_fk.py`, `hub-cascades+marks` against `+parent`).

use replicator::apply::{Applier, TxnMode};
use replicator::model::{RowKind, RowsChunk, TxnItem, Value};
use starsync_tests::{mariadb, Cluster};

const SCHEMA: &str = "CREATE DATABASE MOST; USE MOST; \
    CREATE TABLE pp (id INT PRIMARY KEY, v INT); \
    CREATE TABLE cc (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) REFERENCES pp (id)); \
    CREATE TABLE pk (id INT PRIMARY KEY, v INT); \
    CREATE TABLE ck (id INT PRIMARY KEY, pid INT, \
      FOREIGN KEY (pid) REFERENCES pk (id) ON DELETE CASCADE); \
    CREATE TABLE gone (id INT PRIMARY KEY, v INT); \
    INSERT INTO pp VALUES (1, 0), (2, 0); INSERT INTO pk VALUES (1, 0), (2, 0), (3, 0)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_left_alone_that_a_foreign_key_refuses() {
    let cluster = Cluster::start(1).await.unwrap();
    let s = &cluster.nodes[0];
    s.exec(SCHEMA).await.unwrap();
    // A table the master drops (and this node with it) after one of its rows was left alone
    // here: the image is left out when its key is released. It stopped the echo before, for
    // good once images were kept in the snap's database.
    s.exec("INSERT INTO MOST.gone VALUES (1, 1)").await.unwrap();
    let (txns, _) = s.transactions().await.unwrap();
    let gone = txns
        .last()
        .unwrap()
        .iter()
        .find_map(|i| match i {
            TxnItem::Rows(c) => Some(c.clone()),
            _ => None,
        })
        .expect("the row of gone");
    s.exec("DROP TABLE MOST.gone").await.unwrap();
    // The snap's own transaction whose echo releases the keys.
    s.exec(
        "BEGIN; INSERT INTO MOST.cc VALUES (1, 1); INSERT INTO MOST.ck VALUES (1, 1); \
         UPDATE MOST.pp SET v = 1 WHERE id = 1; UPDATE MOST.pk SET v = 1 WHERE id = 1; COMMIT",
    )
    .await
    .unwrap();
    let (txns, _) = s.transactions().await.unwrap();
    let echo = txns.last().unwrap().clone();
    let meta = |t: &str| {
        echo.iter()
            .find_map(|i| match i {
                TxnItem::Rows(c) if c.table.table == t => Some(c.table.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{t} in the echo"))
    };
    // Own changes made after it, on their way to the master: the parents 2 deleted (the
    // master refuses the RESTRICT one: it holds a child of it), a child of parent 1 added
    // (the master refuses it: it deleted parent 1).
    s.exec(
        "DELETE FROM MOST.pp WHERE id = 2; DELETE FROM MOST.pk WHERE id = 2; \
         INSERT INTO MOST.cc VALUES (11, 1)",
    )
    .await
    .unwrap();
    // A foreign change applied here: parent 3 of the CASCADE key deleted (with the master's).
    s.exec("DELETE FROM MOST.pk WHERE id = 3").await.unwrap();
    // What the agent has in flight: the parents 2 (the own deletes above).
    let in_flight =
        |t: &str, k: &[Value]| k == [Value::Int(2)] && (t == "MOST.pp" || t == "MOST.pk");
    // The master's rows, left alone here meanwhile: children of the parents 2 and 3, parent 1
    // deleted, and a child this node can take as it is.
    let row = |t: &str, kind, vals: [i64; 2]| {
        RowsChunk::new(meta(t), kind, vals.iter().map(|&v| Value::Int(v)).collect())
    };
    let left_alone = [
        row("cc", RowKind::Insert, [12, 1]),
        row("cc", RowKind::Insert, [10, 2]),
        row("ck", RowKind::Insert, [10, 2]),
        row("ck", RowKind::Insert, [30, 3]),
        row("pp", RowKind::Delete, [1, 1]),
        gone,
    ];

    let mut applier = Applier::connect(
        &s.opts_as(mariadb::REPL_USER, mariadb::REPL_PASSWORD),
        "snap",
    )
    .await
    .unwrap();
    let mode = TxnMode {
        echo: true,
        ..Default::default()
    };
    for item in &echo {
        match item {
            TxnItem::Begin(b) => assert!(applier.begin(b, mode.clone()).await.unwrap()),
            TxnItem::Rows(c) => applier.rows(c, None).await.unwrap(),
            TxnItem::Commit(c) => {
                for l in &left_alone {
                    applier.force_unless_refused(l, &in_flight).await.unwrap();
                }
                applier.commit(c).await.unwrap();
            }
            other => panic!("unexpected in the echo: {other:?}"),
        }
    }

    let rows = |t: &'static str| async move {
        let r: Vec<(i64, Option<i64>)> = s
            .query(&format!("SELECT id, pid FROM MOST.{t} ORDER BY id"))
            .await
            .unwrap();
        r
    };
    assert_eq!(
        rows("cc").await,
        [(1, Some(1)), (10, Some(2)), (11, Some(1)), (12, Some(1))],
        "RESTRICT: the child whose parent an own change deleted is written (child 10), and so \
         is the one this node takes as it is (12)"
    );
    let parents: Vec<i64> = s.query("SELECT id FROM MOST.pp ORDER BY id").await.unwrap();
    assert_eq!(
        parents,
        Vec::<i64>::new(),
        "RESTRICT: the master's delete of parent 1 is written though child 11 (own, on its \
         way) refers to it"
    );
    assert_eq!(
        rows("ck").await,
        [(1, Some(1)), (10, Some(2))],
        "ON DELETE CASCADE: the child of the parent a foreign change deleted is left out (30), \
         the one whose parent an own change in flight deleted is written (10)"
    );
}
