//! Echoes that would change nothing are not written again (`replicator::echo_skip`); an echo
//! that repairs a foreign overwrite still is. Real cluster: 1 master, 2 snaps.

use std::time::Duration;

use starsync_tests::star::app_exec;
use starsync_tests::Star;

async fn skipped(star: &Star) -> u64 {
    star.agent_status(0).await.unwrap()["echo_rows_skipped"]
        .as_u64()
        .expect("echo_rows_skipped in the agent status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_echoes_are_left_out_and_repairing_ones_written() {
    let star = Star::start(2).await.unwrap();
    let (m, s1) = (star.master(), star.snap(0));
    m.exec(
        "CREATE DATABASE MOST; CREATE TABLE MOST.e (id INT PRIMARY KEY, v VARCHAR(20)); \
         CREATE TABLE MOST.other (id INT PRIMARY KEY)",
    )
    .await
    .unwrap();
    star.wait_converged(Duration::from_secs(60)).await.unwrap();
    assert_eq!(skipped(&star).await, 0);

    // A clean own transaction: its echo would rewrite 5,000 rows snap1 holds already.
    app_exec(
        s1,
        "USE MOST; INSERT INTO e SELECT seq, CONCAT('snap1-', seq) FROM seq_1_to_5000",
    )
    .await
    .unwrap();
    star.wait_converged(Duration::from_secs(60)).await.unwrap();
    let clean = skipped(&star).await;
    assert!(
        clean >= 5000,
        "the clean echo's rows were left out ({clean})"
    );

    // Foreign transactions the master orders before snap1's next one, but which snap1 applies
    // after committing it (200,000 rows take its agent a while; snap1 commits meanwhile): the
    // echo of snap1's transaction must then be written. The master's id 10001 conflicts with
    // snap1's; hub order puts snap1's last, everywhere.
    m.exec(
        "USE MOST; INSERT INTO e SELECT seq + 100000, 'master' FROM seq_1_to_200000; \
         INSERT INTO other VALUES (1)",
    )
    .await
    .unwrap();
    m.exec("INSERT INTO MOST.e VALUES (10001, 'master')")
        .await
        .unwrap();
    app_exec(
        s1,
        "USE MOST; INSERT INTO e SELECT seq, 'snap1' FROM seq_10001_to_12000",
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}"));
    star.wait_converged(Duration::from_secs(120)).await.unwrap();
    assert_eq!(
        skipped(&star).await,
        clean,
        "the echo after a foreign change to its table was written, not left out"
    );
    for node in [m, s1, star.snap(1)] {
        let v: Vec<String> = node
            .query("SELECT v FROM MOST.e WHERE id = 10001")
            .await
            .unwrap();
        assert_eq!(v, vec!["snap1".to_string()], "on {}", node.name());
    }
}
