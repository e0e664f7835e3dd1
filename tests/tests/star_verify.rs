//! The hub's `/verify`: equal on a converged cluster; after a row is changed on one snap with
//! `sql_log_bin=0` (so it does not replicate), it names the table and the node; an index added
//! on one snap alone shows as a difference of that table's definition.

use std::time::Duration;

use starsync_tests::Star;

async fn verify(star: &Star) -> serde_json::Value {
    let (code, body) = replicator::http::get(
        &format!("127.0.0.1:{}", star.http_port),
        "/verify",
        Duration::from_secs(120),
    )
    .await
    .unwrap();
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_a_silently_changed_row() {
    let star = Star::start(2).await.unwrap();
    star.master()
        .exec(
            "CREATE DATABASE MOST; USE MOST; CREATE TABLE a (id INT PRIMARY KEY, v INT); \
             CREATE TABLE b (id INT PRIMARY KEY, s TEXT); \
             INSERT INTO a SELECT seq, seq FROM seq_1_to_100; INSERT INTO b VALUES (1, 'x')",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();

    let v = verify(&star).await;
    assert_eq!(v["equal"], true, "{v:#}");
    assert_eq!(v["nodes"].as_array().unwrap().len(), 3);
    assert_eq!(v["differences"].as_array().unwrap().len(), 0);

    star.snap(1)
        .exec("SET SESSION sql_log_bin = 0; UPDATE MOST.a SET v = 0 WHERE id = 42")
        .await
        .unwrap();
    let v = verify(&star).await;
    assert_eq!(v["equal"], false, "{v:#}");
    let diffs = v["differences"].as_array().unwrap();
    assert_eq!(diffs.len(), 1, "{v:#}");
    assert_eq!(diffs[0]["table"], "`MOST`.`a`");
    assert_eq!(diffs[0]["node"], "snap2");
    assert_ne!(diffs[0]["expected"], diffs[0]["actual"]);

    // Same rows, different definition: an index added on snap1 alone.
    star.snap(0)
        .exec("SET SESSION sql_log_bin = 0; ALTER TABLE MOST.b ADD INDEX s10 (s(10))")
        .await
        .unwrap();
    let v = verify(&star).await;
    let diffs: Vec<(String, String)> = v["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["node"].as_str().unwrap().to_string(),
                d["table"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        diffs,
        vec![
            ("snap1".to_string(), "`MOST`.`b` (definition)".to_string()),
            ("snap2".to_string(), "`MOST`.`a`".to_string()),
        ],
        "{v:#}"
    );
}
