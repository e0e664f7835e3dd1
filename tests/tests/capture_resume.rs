//! The binlog reader survives a cut connection and a server crash in the middle of a
//! transaction: after `Abort` the transaction comes again from its start, and the stream holds
//! every transaction exactly once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use replicator::binlog::{AssembleOptions, BinlogReader, Read, ReaderOptions};
use replicator::gtid::{Gtid, GtidPos};
use replicator::model::{TxnItem, Value};
use starsync_tests::{mariadb, Cluster};

const BIG: u64 = 200_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_connection_and_server_restart_mid_transaction() {
    let mut cluster = Cluster::start(1).await.unwrap();
    let a = &cluster.nodes[0];
    a.exec("CREATE DATABASE MOST; CREATE TABLE MOST.k (id BIGINT PRIMARY KEY, pad VARCHAR(200))")
        .await
        .unwrap();
    // small, big, small, big, small: ids are unique across all transactions.
    let mut base = 0u64;
    let mut sql = String::from("USE MOST;\n");
    for (i, n) in [5u64, BIG, 5, BIG, 5].iter().enumerate() {
        if *n == 5 {
            for _ in 0..10 {
                sql.push_str(&format!(
                    "INSERT INTO MOST.k SELECT seq + {base}, 'small' FROM seq_1_to_{n};\n"
                ));
                base += n;
            }
        } else {
            sql.push_str(&format!(
                "INSERT INTO MOST.k SELECT seq + {base}, REPEAT('big{i}', 40) FROM seq_1_to_{n};\n"
            ));
            base += n;
        }
    }
    a.exec(&sql).await.unwrap();
    let target = a.gtid_binlog_pos().await.unwrap();

    let mut reader = BinlogReader::new(
        ReaderOptions {
            opts: a.opts_as(mariadb::REPL_USER, mariadb::REPL_PASSWORD),
            replica_id: 777,
            heartbeat: Duration::from_millis(300),
            reconnect_max: Duration::from_millis(300),
            label: "A".into(),
            assemble: AssembleOptions {
                chunk_rows: 1000,
                ..Default::default()
            },
        },
        GtidPos::new(),
    );

    // Commits seen, each with the ids of its rows.
    let mut committed: Vec<(Gtid, BTreeSet<i64>)> = Vec::new();
    let mut open: Option<(Gtid, BTreeSet<i64>)> = None;
    let mut aborts = 0;
    let mut big_seen = 0;
    let mut cut_done = false;
    let mut crash_done = false;
    loop {
        let read = tokio::time::timeout(Duration::from_secs(60), reader.next())
            .await
            .expect("reader stalled")
            .expect("reader failed");
        match read {
            Read::Item(TxnItem::Begin(b)) => {
                assert!(open.is_none(), "Begin inside a transaction");
                open = Some((b.gtid, BTreeSet::new()));
            }
            Read::Item(TxnItem::Rows(chunk)) => {
                let (_, ids) = open.as_mut().expect("rows outside a transaction");
                for (_, after) in chunk.rows() {
                    let Value::Int(id) = after.unwrap()[0] else {
                        panic!("id is not an integer")
                    };
                    assert!(ids.insert(id), "row {id} twice in one transaction");
                }
                let in_big = ids.len() >= 1000 && ids.len() < BIG as usize / 2;
                if in_big && !cut_done {
                    // Cut the dump connection from the server side.
                    cut_done = true;
                    big_seen += 1;
                    let ids: Vec<u64> = cluster.nodes[0]
                        .query("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'")
                        .await
                        .unwrap();
                    assert_eq!(ids.len(), 1, "one dump thread");
                    cluster.nodes[0]
                        .exec(&format!("KILL {}", ids[0]))
                        .await
                        .unwrap();
                } else if in_big && !crash_done && committed.len() > 15 {
                    // kill -9 the server in the second big transaction, restart it later.
                    crash_done = true;
                    big_seen += 1;
                    cluster.nodes[0].kill9();
                    let node = &mut cluster.nodes[0];
                    tokio::time::sleep(Duration::from_millis(700)).await;
                    node.start().await.unwrap();
                }
            }
            Read::Item(TxnItem::Commit(c)) => {
                let (g, ids) = open.take().expect("commit outside a transaction");
                assert_eq!(g, c.gtid);
                assert_eq!(ids.len() as u64, c.rows);
                committed.push((g, ids));
            }
            Read::Item(TxnItem::Abort) => {
                aborts += 1;
                open = None;
            }
            Read::Item(_) => {} // DDL statements
            Read::Idle => {
                if reader.position().covers(&target) {
                    break;
                }
            }
        }
    }
    assert!(
        cut_done && crash_done,
        "both failures were injected ({big_seen})"
    );
    assert!(
        aborts >= 2,
        "each failure aborted the open transaction ({aborts})"
    );
    assert!(reader.reconnects >= 2, "reconnects: {}", reader.reconnects);

    // Every GTID exactly once, in order, and nothing else.
    let d = target.get(1).unwrap();
    let gtids: Vec<u64> = committed
        .iter()
        .filter(|(g, _)| g.domain == 1)
        .map(|(g, _)| g.seq)
        .collect();
    assert_eq!(
        gtids,
        (1..=d.seq).collect::<Vec<_>>(),
        "GTIDs exactly once, in order"
    );
    // Every row exactly once: the union of the transactions' rows is the table.
    let mut all = BTreeMap::new();
    for (g, ids) in &committed {
        for id in ids {
            assert!(
                all.insert(*id, *g).is_none(),
                "row {id} in two transactions"
            );
        }
    }
    let count: Vec<u64> = cluster.nodes[0]
        .query("SELECT COUNT(*) FROM MOST.k")
        .await
        .unwrap();
    assert_eq!(all.len() as u64, count[0]);
    assert_eq!(count[0], 2 * BIG + 30 * 5);
}
