//! `conflicts`: the conflict log after concurrent updates of the same rows on three nodes.

use std::time::Duration;

use mysql_async::prelude::*;
use starsync_tests::star::app_conn;
use starsync_tests::Star;

use crate::common::admin;

/// The same rows updated on all three nodes at once, round after round (as in
/// `tests/tests/star_conflicts.rs`), until every node converged.
async fn provoke_conflicts(star: &Star) {
    let m = star.master();
    m.exec(
        "CREATE DATABASE MOST; CREATE TABLE MOST.c (id INT PRIMARY KEY, v INT NOT NULL, \
         who VARCHAR(10)); USE MOST; INSERT INTO c SELECT seq, 0, 'init' FROM seq_1_to_10",
    )
    .await
    .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    let mut conns = vec![m.conn().await.unwrap()];
    for s in star.snaps() {
        conns.push(app_conn(s).await.unwrap());
    }
    let names = ["master", "snap1", "snap2"];
    for round in 0..15 {
        let futs = conns.iter_mut().enumerate().map(|(i, c)| {
            let who = names[i];
            c.query_drop(format!(
                "UPDATE MOST.c SET v = v + {}, who = '{who}' WHERE id IN (1, 2, {})",
                i + 1,
                3 + round % 5
            ))
        });
        for r in futures::future::join_all(futs).await {
            r.unwrap();
        }
    }
    star.wait_converged(Duration::from_secs(60)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_lists_concurrent_updates_with_both_images() {
    let star = Star::start(2).await.unwrap();
    admin(&star, &["conflicts"])
        .await
        .expect(0)
        .says(&["no conflicts recorded"]);
    provoke_conflicts(&star).await;
    let m = star.master();
    let total: Vec<u64> = m
        .query("SELECT COUNT(*) FROM starsync.conflicts")
        .await
        .unwrap();
    let total = total[0];
    assert!(total > 0, "concurrent updates produced conflicts");

    let out = admin(&star, &["conflicts", "--json", "--limit", "100000"])
        .await
        .expect(0);
    let list = out.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len() as u64, total);
    let mut ids: Vec<u64> = list.iter().map(|c| c["id"].as_u64().unwrap()).collect();
    let sorted = {
        let mut s = ids.clone();
        s.sort();
        s
    };
    assert_eq!(ids, sorted, "oldest first");
    ids.dedup();
    assert_eq!(ids.len(), list.len());
    for c in list {
        assert_eq!(c["schema"], "MOST");
        let at = c["detected_at"].as_str().unwrap();
        let age = master_admin::render::ago(at).unwrap_or_else(|| panic!("RFC 3339: {at}"));
        assert!(
            age < Duration::from_secs(600),
            "detected_at {at} is UTC and recent"
        );
        assert_eq!(c["table"], "c");
        assert!(c["key"]["id"].is_i64(), "{c:#}");
        let origin = c["origin_node"].as_str().unwrap();
        assert!(origin == "snap1" || origin == "snap2", "{c:#}");
        let gtid: replicator::gtid::Gtid = c["origin_gtid"].as_str().unwrap().parse().unwrap();
        assert!(gtid.domain == 2 || gtid.domain == 3, "{c:#}");
        if c["kind"] == "update_mismatch" {
            assert!(c["master_image"]["v"].is_i64(), "{c:#}");
            assert!(c["incoming_before"]["v"].is_i64(), "{c:#}");
            assert!(c["incoming_after"]["v"].is_i64(), "{c:#}");
        }
    }
    assert!(
        list.iter().any(|c| c["kind"] == "update_mismatch"),
        "concurrent updates of the same rows give update_mismatch"
    );

    // The text: the most recent 3, with both images.
    let out = admin(&star, &["conflicts", "--limit", "3"]).await.expect(0);
    out.says(&[
        "MOST.c",
        "key {\"id\":",
        "from snap",
        "master image     {",
        "incoming before  {",
        "incoming after   {",
    ]);
    assert_eq!(
        out.stdout.matches("master image").count() as u64,
        total.min(3)
    );
    if total > 3 {
        out.says(&[&format!("3 most recent of {total} conflicts shown")]);
    }
    println!("conflicts:\n{}", out.stdout);

    // Filters.
    let from_snap1: Vec<u64> = m
        .query("SELECT COUNT(*) FROM starsync.conflicts WHERE origin_node = 'snap1'")
        .await
        .unwrap();
    let out = admin(
        &star,
        &[
            "conflicts",
            "--json",
            "--limit",
            "100000",
            "--node",
            "snap1",
        ],
    )
    .await
    .expect(0);
    let list = out.json();
    assert_eq!(list.as_array().unwrap().len() as u64, from_snap1[0]);
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["origin_node"] == "snap1"));
    let out = admin(
        &star,
        &[
            "conflicts",
            "--json",
            "--limit",
            "100000",
            "--table",
            "MOST.c",
        ],
    )
    .await
    .expect(0);
    assert_eq!(out.json().as_array().unwrap().len() as u64, total);
    admin(&star, &["conflicts", "--table", "MOST.other"])
        .await
        .expect(0)
        .says(&["no conflicts recorded that match"]);
}
