//! The echo guard (`Applier::rows_planned`, echo branch; the agent's guard waits for capture):
//! an echo must never bring an older own image back over a newer local commit that capture had
//! not read yet when the echo arrived. The echo's rows are written (which locks them), then the
//! guard returns once capture has read every own transaction committed up to the position read
//! after the write; a row that one of them touched is then in flight, so the chunk is rolled
//! back to its savepoint and written again without it.
//!
//! Here on a real server, with capture played by the test: the own transaction that is echoed,
//! then a newer own commit on one of its rows, which "capture" (the skip rule) learns of only
//! when the guard is called.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use replicator::apply::{Applier, TxnMode};
use replicator::gtid::GtidPos;
use replicator::model::{RowKind, RowsChunk, TableMeta, TxnItem, Value};
use starsync_tests::{mariadb, Cluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_echo_leaves_a_row_that_a_newer_own_commit_changed() {
    let cluster = Cluster::start(1).await.unwrap();
    let s = &cluster.nodes[0];
    s.exec(
        "CREATE DATABASE MOST; USE MOST; CREATE TABLE e (id INT PRIMARY KEY, v VARCHAR(20)); \
         INSERT INTO e VALUES (1, 'old'), (2, 'old'), (3, 'old')",
    )
    .await
    .unwrap();
    // The own transaction whose echo comes back.
    s.exec("UPDATE MOST.e SET v = CONCAT('own1-', id)")
        .await
        .unwrap();
    let (txns, _) = s.transactions().await.unwrap();
    let own = txns.last().unwrap().clone();
    let domain = match &own[0] {
        TxnItem::Begin(b) => b.gtid.domain,
        other => panic!("a transaction starts with Begin: {other:?}"),
    };
    // Its echo carries the master's images: the master settled the rows otherwise (a conflict
    // with a write there), so every row of the echo changes something here.
    let echo: Vec<TxnItem> = own
        .into_iter()
        .map(|item| match item {
            TxnItem::Rows(c) if c.table.table == "e" => {
                assert_eq!(c.kind, RowKind::Update);
                let mut values = c.values.clone();
                let width = c.row_width();
                for row in values.chunks_exact_mut(width) {
                    let id = match row[0] {
                        Value::Int(id) => id,
                        ref other => panic!("id {other:?}"),
                    };
                    row[width - 1] = Value::Bytes(format!("master-{id}").into_bytes().into());
                }
                TxnItem::Rows(RowsChunk::new(c.table.clone(), c.kind, values))
            }
            other => other,
        })
        .collect();
    // A newer own commit on row 2, which capture has not read when the echo arrives.
    s.exec("UPDATE MOST.e SET v = 'own2' WHERE id = 2")
        .await
        .unwrap();
    let newer = s.gtid_binlog_pos().await.unwrap().get(domain).unwrap();

    let mut applier = Applier::connect(
        &s.opts_as(mariadb::REPL_USER, mariadb::REPL_PASSWORD),
        "snap",
    )
    .await
    .unwrap();
    // The guard: capture catches up with the position it is given, and so learns that row 2
    // is in flight again.
    let caught_up = Arc::new(AtomicBool::new(false));
    let guarded: Arc<Mutex<Vec<GtidPos>>> = Arc::default();
    {
        let (caught_up, guarded) = (caught_up.clone(), guarded.clone());
        applier.set_echo_guard(Arc::new(move |local: GtidPos| {
            guarded.lock().unwrap().push(local);
            caught_up.store(true, Ordering::SeqCst);
            async {}.boxed()
        }));
    }
    let in_flight = |_: &TableMeta, before: Option<&[Value]>, after: Option<&[Value]>| {
        let row = after.or(before).unwrap();
        caught_up.load(Ordering::SeqCst) && row[0] == Value::Int(2)
    };
    let mode = TxnMode {
        echo: true,
        ..Default::default()
    };
    for item in &echo {
        match item {
            TxnItem::Begin(b) => assert!(applier.begin(b, mode.clone()).await.unwrap()),
            TxnItem::Rows(c) => applier.rows(c, Some(&in_flight)).await.unwrap(),
            TxnItem::Commit(c) => {
                applier.commit(c).await.unwrap();
            }
            other => panic!("unexpected in the echo: {other:?}"),
        }
    }

    let guarded = guarded.lock().unwrap().clone();
    assert_eq!(
        guarded.len(),
        1,
        "the guard is asked once per chunk: {guarded:?}"
    );
    assert!(
        guarded[0].contains(&newer),
        "the guard is given a position read after the echo's rows were written, which holds \
         the newer own commit {newer}: {}",
        guarded[0]
    );
    let rows: Vec<(i64, String)> = s
        .query("SELECT id, v FROM MOST.e ORDER BY id")
        .await
        .unwrap();
    assert_eq!(
        rows,
        [
            (1, "master-1".to_string()),
            (2, "own2".to_string()),
            (3, "master-3".to_string())
        ],
        "the echo writes the master's rows, except row 2, which the newer own commit changed \
         (its own echo brings the master's version of it)"
    );
}
