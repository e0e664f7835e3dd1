//! `verify`: equal on a converged cluster; after a row changes on one snap behind
//! replication's back, the table and the node are named. Needs the hub's `/verify`.

use std::time::Duration;

use starsync_tests::Star;

use crate::common::admin;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reports_equal_then_names_the_changed_table_and_node() {
    // Needs the hub's /verify (contract in the master-admin brief).
    let star = Star::start(2).await.unwrap();
    admin(&star, &["init"]).await.expect(0);
    star.master()
        .exec(
            "USE MOST; INSERT INTO customers (name, email) SELECT CONCAT('c', seq), \
             CONCAT('c', seq, '@x') FROM seq_1_to_200; \
             INSERT INTO products (sku, name, price) VALUES ('A', 'a', 1), ('B', 'b', 2)",
        )
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    let pos = star.master().gtid_binlog_pos().await.unwrap();

    let out = admin(&star, &["verify"]).await;
    out.expect(0)
        .says(&[&format!("all 3 tables equal on 3 nodes at position {pos}")]);
    let out = admin(&star, &["verify", "--json"]).await.expect(0);
    let doc = out.json();
    assert_eq!(doc["equal"], true);
    assert_eq!(doc["nodes"].as_array().unwrap().len(), 3);
    for n in doc["nodes"].as_array().unwrap() {
        assert!(n["tables"]["`MOST`.`customers`"].is_number(), "{n:#}");
    }

    // A row changed on snap1 behind replication's back.
    star.snap(0)
        .exec("SET sql_log_bin = 0; UPDATE MOST.customers SET city = 'changed' WHERE id = 1")
        .await
        .unwrap();
    let out = admin(&star, &["verify"]).await;
    let out = out.expect(1);
    out.says(&["table `MOST`.`customers` differs on node snap1 (checksum "]);
    assert!(!out.stdout.contains("snap2"), "{out:#?}");
    assert!(!out.stdout.contains("products"), "{out:#?}");
    let doc = admin(&star, &["verify", "--json"]).await.expect(1).json();
    assert_eq!(doc["equal"], false);
    let diffs = doc["differences"].as_array().unwrap();
    assert_eq!(diffs.len(), 1, "{doc:#}");
    assert_eq!(diffs[0]["node"], "snap1");
    assert_eq!(diffs[0]["table"], "`MOST`.`customers`");
}

/// The hub's own verifications (`[hub] verify_every_secs`): a row changed on a snap behind
/// replication's back is found without anyone asking: the hub WARNs with the repair command,
/// `/status` carries it, and `master-admin status` counts it as a problem (exit 1); once the
/// DBA repairs the table, the next verification finds every table equal again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_verifies_on_its_own_and_status_names_a_differing_table() {
    let star = Star::start_tuned(2, 2, "verify_every_secs = 1\n", "")
        .await
        .unwrap();
    admin(&star, &["init"]).await.expect(0);
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    let last_verify = || async {
        let st = star.status().await?;
        anyhow::Ok(st["hub"]["last_verify"].clone())
    };
    let all_equal = |what: &'static str| {
        starsync_tests::eventually(what, Duration::from_secs(30), move || async move {
            Ok(last_verify().await?["differences"]
                .as_array()
                .is_some_and(|d| d.is_empty()))
        })
    };
    all_equal("a verification finds every table equal")
        .await
        .unwrap();
    admin(&star, &["status"]).await.expect(0).says(&[
        "verified equal at ",
        "(the hub's last verification, at position ",
    ]);

    star.snap(1)
        .exec("SET sql_log_bin = 0; INSERT INTO MOST.products (sku, name, price) VALUES ('Z', 'z', 9)")
        .await
        .unwrap();
    starsync_tests::eventually(
        "a verification names the table and the node",
        Duration::from_secs(30),
        || async {
            let v = last_verify().await?;
            Ok(v["differences"]
                == serde_json::json!([{"table": "`MOST`.`products`", "node": "snap2"}]))
        },
    )
    .await
    .unwrap();
    assert!(
        star.hub_log().lines().any(|l| l.contains("WARN")
            && l.contains("a table differs from the master's (scheduled verification)")
            && l.contains("master-admin repair MOST.products --node snap2")),
        "{}",
        star.hub_log()
    );
    admin(&star, &["status"]).await.expect(1).says(&[
        "PROBLEM: `MOST`.`products` differs on snap2 from the master's (the hub's verification at ",
        "`master-admin repair MOST.products --node snap2` makes it the master's",
    ]);

    admin(&star, &["repair", "MOST.products", "--node", "snap2"])
        .await
        .expect(0);
    all_equal("after the repair, a verification finds every table equal")
        .await
        .unwrap();
    admin(&star, &["status"]).await.expect(0);
}
