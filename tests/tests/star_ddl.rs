//! DDL made on the master reaches every snap; DDL run on a snap is not forwarded and is reported
//! (hub log, agent log, status) as local drift. Tables without a primary key replicate by
//! full-row match.

use std::time::Duration;

use starsync_tests::star::{app_exec, status_node};
use starsync_tests::{eventually, Star};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_ddl_reaches_snaps_and_snap_ddl_is_reported() {
    let star = Star::start(2).await.unwrap();
    let m = star.master();
    m.exec(
        "CREATE DATABASE MOST; CREATE DATABASE shop; \
         CREATE TABLE shop.orders (id INT PRIMARY KEY, total DECIMAL(10,2)); \
         USE MOST; CREATE TABLE a (id INT PRIMARY KEY, v INT); \
         ALTER TABLE a ADD COLUMN w VARCHAR(10) NOT NULL DEFAULT 'x', ADD INDEX (v); \
         INSERT INTO a VALUES (1, 1, 'y'), (2, 2, DEFAULT); \
         CREATE TABLE gone (id INT PRIMARY KEY); DROP TABLE gone; \
         CREATE TABLE nokey (a INT, b VARCHAR(10)); \
         INSERT INTO nokey VALUES (1, 'dup'), (1, 'dup'), (2, NULL); \
         INSERT INTO shop.orders VALUES (7, 70.5); \
         CREATE USER 'local_only'@'%' IDENTIFIED BY 'pw'",
    )
    .await
    .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    for s in star.snaps() {
        let cols: Vec<String> = s
            .query(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA='MOST' \
                 AND TABLE_NAME='a' ORDER BY ORDINAL_POSITION",
            )
            .await
            .unwrap();
        assert_eq!(cols, vec!["id", "v", "w"], "ALTER reached {}", s.name());
        let gone: Vec<u64> = s
            .query("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME = 'gone'")
            .await
            .unwrap();
        assert_eq!(gone[0], 0, "DROP TABLE reached {}", s.name());
        let shop: Vec<String> = s.query("SELECT total FROM shop.orders").await.unwrap();
        assert_eq!(
            shop,
            vec!["70.50"],
            "a database created on the master replicates"
        );
        let users: Vec<u64> = s
            .query("SELECT COUNT(*) FROM mysql.user WHERE user = 'local_only'")
            .await
            .unwrap();
        assert_eq!(users[0], 0, "account statements stay on the master");
    }

    // A table without a primary key: one of two identical rows changes, one row goes.
    app_exec(
        star.snap(0),
        "UPDATE MOST.nokey SET b = 'one' WHERE a = 1 LIMIT 1; \
                            DELETE FROM MOST.nokey WHERE a = 2",
    )
    .await
    .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    let rows: Vec<(i32, Option<String>)> = star
        .snap(1)
        .query("SELECT a, b FROM MOST.nokey ORDER BY b")
        .await
        .unwrap();
    assert_eq!(rows, vec![(1, Some("dup".into())), (1, Some("one".into()))]);

    // DDL on a snap (as root: snap users have DML only) is not forwarded.
    let s1 = star.snap(0);
    s1.exec("DROP TABLE MOST.a").await.unwrap();
    s1.exec("CREATE TABLE MOST.local_t (id INT PRIMARY KEY)")
        .await
        .unwrap();
    eventually("the drift is reported", Duration::from_secs(15), || async {
        let st = star.status().await?;
        let n = status_node(&st, "snap1").cloned().unwrap();
        Ok(n["ddl_drift"].as_u64() == Some(2)
            && n["last_ddl_drift"]
                .as_str()
                .is_some_and(|s| s.contains("local_t")))
    })
    .await
    .unwrap();
    let hub_log = star.hub_log();
    assert!(
        hub_log.contains("DDL executed on this snap is not replicated")
            && hub_log.contains("DROP TABLE"),
        "hub log: {hub_log}"
    );
    assert!(star
        .agent_log(0)
        .contains("DDL run on this snap is not replicated"));
    // The master and the other snap keep the table; the snap's GTIDs still reached the master.
    for n in [m, star.snap(1)] {
        let c: Vec<u64> = n.query("SELECT COUNT(*) FROM MOST.a").await.unwrap();
        assert_eq!(c[0], 2, "MOST.a still on {}", n.name());
    }
    eventually(
        "snap1's domain is contiguous on the master",
        Duration::from_secs(15),
        || async {
            let local = s1.gtid_binlog_pos().await?.get(2);
            let master = m.gtid_binlog_pos().await?.get(2);
            Ok(local.is_some() && local == master)
        },
    )
    .await
    .unwrap();
    // Replication goes on for tables both sides have.
    app_exec(star.snap(1), "INSERT INTO MOST.nokey VALUES (3, 'after')")
        .await
        .unwrap();
    eventually(
        "rows still flow to the drifted snap",
        Duration::from_secs(15),
        || async {
            let c: Vec<u64> = s1
                .query("SELECT COUNT(*) FROM MOST.nokey WHERE a = 3")
                .await?;
            Ok(c[0] == 1)
        },
    )
    .await
    .unwrap();
}
