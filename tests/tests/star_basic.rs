//! Bidirectional star replication: writes on every node, including a multi-statement
//! transaction on a snap, and DDL on the master, reach every node; nothing loops, nothing is
//! lost or doubled.

use std::time::Duration;

use starsync_tests::star::app_exec;
use starsync_tests::Star;

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

/// Transactions of few rows but many bytes: 200 rows of 200 KB on a snap and on the master.
/// They are small by row count, so a one-round-trip apply would write them as one ~80 MB text
/// query, past `max_allowed_packet`; they must go item by item and arrive whole everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn few_rows_of_many_bytes_replicate() {
    let star = Star::start(2).await.unwrap();
    let (m, s1, s2) = (star.master(), star.snap(0), star.snap(1));
    m.exec("CREATE DATABASE MOST; CREATE TABLE MOST.blobs (id INT PRIMARY KEY, b LONGBLOB)")
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    let packet: Vec<u64> = m.query("SELECT @@max_allowed_packet").await.unwrap();
    assert!(
        packet[0] < 200 * 200_000 * 2,
        "the transaction's literals must not fit one packet for this test to mean anything"
    );
    app_exec(
        s1,
        "USE MOST; INSERT INTO blobs SELECT seq, REPEAT(CHAR(64 + seq % 26), 200000) FROM seq_1_to_200",
    )
    .await
    .unwrap();
    m.exec(
        "USE MOST; INSERT INTO blobs SELECT seq, REPEAT(CHAR(97 + seq % 26), 200000) \
         FROM seq_201_to_400",
    )
    .await
    .unwrap();
    app_exec(s2, "UPDATE MOST.blobs SET b = REVERSE(b) WHERE id <= 200")
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(120)).await.unwrap();
    let sums: Vec<(u64, u64)> = s1
        .query("SELECT COUNT(*), SUM(LENGTH(b)) FROM MOST.blobs")
        .await
        .unwrap();
    assert_eq!(sums, vec![(400, 400 * 200_000)]);
}
