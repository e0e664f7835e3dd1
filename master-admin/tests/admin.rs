//! The real `master-admin` binary against real star clusters (MariaDB servers, hub and agents):
//! status under load and after an agent dies, `--max-lag`, `--watch`; init and schema changes
//! that replicate, refused for system schemas and snaps; the conflict log after concurrent
//! updates; export and import into a fresh server; an unreachable hub; verify.
//!
//! Build the binaries first (`cargo build --workspace --bins`): the harness runs the real
//! `replicator`.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{admin, dead_port, hub_addr, node_args, on, on_with, run_with, tables, Out};
use mysql_async::prelude::*;
use starsync_tests::load::{self, Outcome};
use starsync_tests::star::app_conn;
use starsync_tests::{eventually, Cluster, Star};

/// The node names of a `status --json` document.
fn node_names(doc: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> = doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

fn node<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no node {name} in {doc:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_under_load_then_lag_and_a_dead_agent_set_the_exit_code() {
    let mut star = Star::start(2).await.unwrap();
    star.master().exec(load::SCHEMA).await.unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();

    // A write load on the master and on snap1.
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = [star.master(), star.snap(0)]
        .iter()
        .map(|n| {
            tokio::spawn(load::writer(
                n.opts(),
                n.spec.server_id as u64,
                stop.clone(),
                Duration::from_millis(5),
            ))
        })
        .collect();

    // Under load: all three nodes with positions, lag and applied transactions.
    let last = std::sync::Mutex::new(None);
    eventually(
        "status --json shows every node with lag",
        Duration::from_secs(20),
        || {
            let star = &star;
            let last = &last;
            async move {
                let out = admin(star, &["status", "--json"]).await;
                let doc = out.json();
                let ok = out.code == 0
                    && node_names(&doc) == ["master", "snap1", "snap2"]
                    && ["snap1", "snap2"].iter().all(|s| {
                        let n = node(&doc, s);
                        n["lag_ms"].is_u64()
                            && n["applied_txns"].as_u64() > Some(0)
                            && n["txn_per_sec"].as_f64() > Some(0.0)
                    })
                    && doc["nodes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|n| n["gtid_pos"].as_str().is_some_and(|p| p.contains(',')));
                *last.lock().unwrap() = Some(out);
                Ok(ok)
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}; last output: {:#?}", last.lock().unwrap()));
    let out = last.into_inner().unwrap().unwrap();
    let doc = out.json();
    for n in doc["nodes"].as_array().unwrap() {
        assert_eq!(n["connected"], true, "{n:#}");
        let pos: replicator::gtid::GtidPos = n["gtid_pos"].as_str().unwrap().parse().unwrap();
        assert!(!pos.is_empty(), "{n:#}");
        assert!(n["txns_behind"].is_u64(), "{n:#}");
    }
    // The snap writer's domain reached the master.
    let master_pos: replicator::gtid::GtidPos = node(&doc, "master")["gtid_pos"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(master_pos.get(2).is_some(), "{master_pos}");

    let table = admin(&star, &["status", "--max-lag", "600000"])
        .await
        .expect(0);
    table.says(&[
        "NODE",
        "GTID POSITION",
        "LAG MS",
        "LAST ERROR",
        "OK: all 3 nodes connected, lag within 600000 ms",
    ]);
    for name in ["master", "snap1", "snap2"] {
        assert!(
            table.stdout.lines().any(|l| l.starts_with(name)),
            "a row for {name}: {table:#?}"
        );
    }
    println!("status under load:\n{}", table.stdout);

    stop.store(true, Ordering::Relaxed);
    let mut outcomes: Vec<Outcome> = Vec::new();
    for w in writers {
        outcomes.push(w.await.unwrap());
    }
    star.wait_converged(Duration::from_secs(60)).await.unwrap();
    for n in &star.cluster.nodes {
        load::verify(n, &outcomes).await.unwrap();
    }

    // --watch refreshes until Ctrl-C (SIGINT), then exits with the last verdict.
    watch_until_interrupted(&star).await;

    // A stopped (not dead) agent: connected, but its lag grows past the threshold.
    star.agent_proc(1).pause(true);
    eventually(
        "status --max-lag 1000 reports snap2's lag",
        Duration::from_secs(20),
        || async {
            let out = admin(&star, &["status", "--max-lag", "1000"]).await;
            Ok(out.code == 1 && out.stdout.contains("PROBLEM: snap2 lags"))
        },
    )
    .await
    .unwrap();
    admin(&star, &["status", "--max-lag", "1000"])
        .await
        .expect(1)
        .says(&["(over --max-lag 1000)"]);
    // The same cluster within a generous threshold is fine.
    admin(&star, &["status", "--max-lag", "600000"])
        .await
        .expect(0);
    star.agent_proc(1).pause(false);
    eventually("snap2 catches up", Duration::from_secs(20), || async {
        Ok(admin(&star, &["status", "--max-lag", "1000"]).await.code == 0)
    })
    .await
    .unwrap();

    // A dead agent: disconnected, exit 1, in the table and in the JSON.
    star.agent_proc(0).kill9();
    eventually(
        "status reports snap1 disconnected",
        Duration::from_secs(20),
        || async {
            let out = admin(&star, &["status"]).await;
            Ok(out.code == 1 && out.stdout.contains("PROBLEM: snap1 is disconnected"))
        },
    )
    .await
    .unwrap();
    let out = admin(&star, &["status"]).await.expect(1);
    let row = out.stdout.lines().find(|l| l.starts_with("snap1")).unwrap();
    assert!(row.contains(" NO"), "{row}");
    println!("status with snap1's agent dead:\n{}", out.stdout);
    let out = admin(&star, &["status", "--json"]).await.expect(1);
    let doc = out.json();
    assert_eq!(node(&doc, "snap1")["connected"], false);
    assert_eq!(node(&doc, "snap2")["connected"], true);
}

/// Runs `status --watch 1`, waits for two refreshes, sends SIGINT and expects exit 0.
async fn watch_until_interrupted(star: &Star) {
    use tokio::io::AsyncReadExt;
    let mut args = node_args(star.master(), &hub_addr(star));
    args.extend(["status".to_string(), "--watch".into(), "1".into()]);
    let mut child = common::command(&args, &[])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = String::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        let mut buf = [0u8; 4096];
        while seen.matches("refreshing every 1s").count() < 2 {
            let n = stdout.read(&mut buf).await.unwrap();
            assert!(n > 0, "watch ended early: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no two refreshes within 20 s: {seen}"));
    assert!(seen.contains("OK: all 3 nodes connected"), "{seen}");
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("watch stops on Ctrl-C")
        .unwrap();
    assert_eq!(status.code(), Some(0), "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_and_schema_changes_replicate_and_are_refused_where_they_must() {
    let star = Star::start(2).await.unwrap();
    let (m, s1) = (star.master(), star.snap(0));

    admin(&star, &["init"]).await.expect(0).says(&[
        "database MOST: created",
        "table MOST.customers: created",
        "table MOST.products: created",
        "table MOST.orders: created",
    ]);
    admin(&star, &["init"]).await.expect(0).says(&[
        "database MOST: already there",
        "table MOST.orders: already there",
    ]);
    m.exec(
        "INSERT INTO MOST.customers (name, email, city) VALUES ('Ann', 'ann@x', 'Oslo'); \
         INSERT INTO MOST.products (sku, name, price) VALUES ('A-1', 'Widget', 9.99); \
         INSERT INTO MOST.orders (customer_id, product_id, quantity) \
           SELECT c.id, p.id, 3 FROM MOST.customers c, MOST.products p",
    )
    .await
    .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    for s in star.snaps() {
        assert_eq!(tables(s, "MOST").await, ["customers", "orders", "products"]);
        let fks: Vec<u64> = s
            .query(
                "SELECT COUNT(*) FROM information_schema.REFERENTIAL_CONSTRAINTS \
                 WHERE CONSTRAINT_SCHEMA = 'MOST' AND TABLE_NAME = 'orders'",
            )
            .await
            .unwrap();
        assert_eq!(fks[0], 2, "both foreign keys on {}", s.name());
        let charset: Vec<String> = s
            .query(
                "SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA \
                 WHERE SCHEMA_NAME = 'MOST'",
            )
            .await
            .unwrap();
        assert_eq!(charset, ["utf8mb4_unicode_ci"]);
    }

    // Not the master: refused, and nothing is created on the snap.
    on(&star, s1, &["create-database", "onsnap"])
        .await
        .expect(5)
        .says(&["server_id 2", "server_id 1", "master"]);
    on(&star, s1, &["init"]).await.expect(5);
    assert!(s1
        .query::<String>("SHOW DATABASES LIKE 'onsnap'")
        .await
        .unwrap()
        .is_empty());

    // Creation replicates.
    admin(&star, &["create-database", "shop"]).await.expect(0);
    admin(
        &star,
        &[
            "create-table",
            "shop.items",
            "--column",
            "id INT",
            "--column",
            "name VARCHAR(20) NOT NULL",
            "--column",
            "price DECIMAL(10,2) DEFAULT 0",
            "--primary-key",
            "id",
        ],
    )
    .await
    .expect(0)
    .says(&["created table shop.items"]);
    // Without a primary key: refused unless asked for.
    admin(&star, &["create-table", "shop.nokey", "--column", "a INT"])
        .await
        .expect(2)
        .says(&["no primary key", "--allow-no-primary-key"]);
    assert_eq!(tables(m, "shop").await, ["items"]);
    admin(
        &star,
        &[
            "create-table",
            "shop.nokey",
            "--column",
            "a INT",
            "--allow-no-primary-key",
        ],
    )
    .await
    .expect(0);
    // A column definition that tries to be two statements never reaches the server.
    admin(
        &star,
        &[
            "create-table",
            "shop.x",
            "-C",
            "id INT; DROP DATABASE shop",
            "--primary-key",
            "id",
        ],
    )
    .await
    .expect(2)
    .says(&["`;`"]);
    m.exec("INSERT INTO shop.items VALUES (1, 'pen', 1.50)")
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    for s in star.snaps() {
        assert_eq!(tables(s, "shop").await, ["items", "nokey"], "{}", s.name());
        let cols: Vec<String> = s
            .query(
                "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE \
                 TABLE_SCHEMA = 'shop' AND TABLE_NAME = 'items' AND CONSTRAINT_NAME = 'PRIMARY'",
            )
            .await
            .unwrap();
        assert_eq!(cols, ["id"]);
    }

    // System schemas are refused, with or without --yes.
    for (cmd, name) in [
        ("drop-table", "mysql.user"),
        ("drop-table", "starsync.conflicts"),
        ("drop-table", "INFORMATION_SCHEMA.TABLES"),
        ("drop-database", "mysql"),
        ("drop-database", "sys"),
        ("drop-database", "performance_schema"),
        ("drop-database", "starsync"),
    ] {
        admin(&star, &[cmd, name, "--yes"])
            .await
            .expect(5)
            .says(&["system schema"]);
    }
    admin(&star, &["create-database", "mysql"]).await.expect(5);
    let users: Vec<u64> = m.query("SELECT COUNT(*) FROM mysql.user").await.unwrap();
    assert!(users[0] > 0);
    let conflicts: Vec<u64> = m
        .query("SELECT COUNT(*) FROM starsync.conflicts")
        .await
        .unwrap();
    assert_eq!(conflicts[0], 0, "starsync.conflicts is still there");

    // Confirmation: the wrong name or no answer keeps the table.
    on_with(&star, m, &["drop-table", "shop.items"], Some("items\n"))
        .await
        .expect(5)
        .says(&["Type shop.items to confirm", "not confirmed"]);
    on_with(&star, m, &["drop-table", "shop.items"], None)
        .await
        .expect(5)
        .says(&["--yes"]);
    assert_eq!(tables(m, "shop").await, ["items", "nokey"]);
    admin(&star, &["drop-table", "shop.missing", "--yes"])
        .await
        .expect(4)
        .says(&["no table shop.missing"]);

    // Typed name, and --yes: dropped here and on every snap.
    on_with(
        &star,
        m,
        &["drop-table", "shop.items"],
        Some("shop.items\n"),
    )
    .await
    .expect(0)
    .says(&["dropped table shop.items"]);
    admin(&star, &["drop-table", "shop.nokey", "--yes"])
        .await
        .expect(0);
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    for s in star.snaps() {
        assert!(tables(s, "shop").await.is_empty(), "{}", s.name());
    }
    on_with(&star, m, &["drop-database", "shop"], Some("shop\n"))
        .await
        .expect(0);
    eventually(
        "the drop reaches the snaps",
        Duration::from_secs(30),
        || async {
            for s in star.snaps() {
                if !s
                    .query::<String>("SHOW DATABASES LIKE 'shop'")
                    .await?
                    .is_empty()
                {
                    return Ok(false);
                }
            }
            Ok(true)
        },
    )
    .await
    .unwrap();

    // The hub down: DDL still works on the master, with a warning that it was not confirmed.
    let mut args = node_args(m, &format!("127.0.0.1:{}", dead_port()));
    args.extend(["create-database".to_string(), "nohub".into()]);
    run_with(&args, None, &[])
        .await
        .expect(0)
        .says(&["warning: cannot confirm", "is the master"]);
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_then_import_into_a_fresh_node_gives_equal_checksums() {
    let cluster = Cluster::start(2).await.unwrap();
    let (src, fresh) = (&cluster.nodes[0], &cluster.nodes[1]);
    let dir = tempfile::tempdir().unwrap();
    let no_hub = format!("127.0.0.1:{}", dead_port());
    let args = |node: &starsync_tests::Node, more: &[&str]| {
        let mut a = node_args(node, &no_hub);
        a.extend(more.iter().map(|s| s.to_string()));
        a
    };

    // Data of many kinds, with a trigger and a routine (the hub is not needed for init).
    run_with(&args(src, &["init"]), None, &[]).await.expect(0);
    src.exec(
        "USE MOST; \
         INSERT INTO customers (name, email, city) \
           SELECT CONCAT('name ', seq, ' 🙂 ''q'' \\\\'), CONCAT('c', seq, '@x'), \
                  IF(seq % 3 = 0, NULL, 'Zürich') FROM seq_1_to_5000; \
         INSERT INTO products (sku, name, price, stock) \
           SELECT CONCAT('S', seq), CONCAT('p', seq), seq / 7, seq FROM seq_1_to_300; \
         INSERT INTO orders (customer_id, product_id, quantity) \
           SELECT c.id, p.id, 1 FROM customers c JOIN products p ON p.id = c.id % 300 + 1; \
         CREATE TABLE blobs (id INT PRIMARY KEY, b LONGBLOB, j JSON, t TIME(6), bits BIT(5)); \
         INSERT INTO blobs VALUES (1, UNHEX('00FF0D0A5C27'), '{\"a\": [1, null]}', '-12:00:01.5', \
           b'10101'), (2, REPEAT(UNHEX('00'), 70000), NULL, NULL, NULL); \
         CREATE TRIGGER stock_down AFTER INSERT ON orders FOR EACH ROW \
           UPDATE products SET stock = stock - NEW.quantity WHERE id = NEW.product_id; \
         CREATE PROCEDURE restock(n INT) UPDATE products SET stock = stock + n",
    )
    .await
    .unwrap();
    let pos = src.gtid_binlog_pos().await.unwrap();
    let file = dir.path().join("most.sql");
    let file_s = file.to_str().unwrap();

    let out = run_with(&args(src, &["export", "--output", file_s]), None, &[])
        .await
        .expect(0);
    out.says(&[
        "exported MOST to",
        &format!("GTID position {pos} is recorded in the file"),
    ]);
    println!("export: {}{}", out.stdout, out.stderr);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains(&format!("gtid_slave_pos='{pos}'")),
        "the file records the position"
    );
    assert!(!dir.path().join("most.sql.partial").exists());

    // An existing file is not overwritten without --force.
    run_with(&args(src, &["export", "--output", file_s]), None, &[])
        .await
        .expect(2)
        .says(&["already exists", "--force"]);
    run_with(
        &args(src, &["export", "--output", file_s, "--force"]),
        None,
        &[],
    )
    .await
    .expect(0);

    // Import into an empty server with the mariadb client; every table has the same checksum.
    let import = std::process::Command::new("mariadb")
        .args([
            "--no-defaults",
            "--protocol=TCP",
            "-h127.0.0.1",
            &format!("-P{}", fresh.port),
            "-uroot",
        ])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .unwrap();
    assert!(
        import.status.success(),
        "import: {}",
        String::from_utf8_lossy(&import.stderr)
    );
    let names = tables(src, "MOST").await;
    assert_eq!(names, ["blobs", "customers", "orders", "products"]);
    assert_eq!(tables(fresh, "MOST").await, names);
    for t in &names {
        let table = format!("`MOST`.`{t}`");
        let want = src.checksum(&table).await.unwrap();
        assert!(want.is_some());
        assert_eq!(fresh.checksum(&table).await.unwrap(), want, "{table}");
    }
    let routines: Vec<String> = fresh
        .query("SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA='MOST'")
        .await
        .unwrap();
    assert_eq!(routines, ["restock"]);
    let triggers: Vec<String> = fresh
        .query("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA='MOST'")
        .await
        .unwrap();
    assert_eq!(triggers, ["stock_down"]);

    // mariadb-dump missing: a clear error, and no file.
    let empty = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.sql");
    let out = run_with(
        &args(src, &["export", "--output", other.to_str().unwrap()]),
        None,
        &[("PATH", empty.path().to_str().unwrap())],
    )
    .await
    .expect(6);
    out.says(&["mariadb-dump", "apt-get install mariadb-client"]);
    assert!(!other.exists());
    assert!(!dir.path().join("other.sql.partial").exists());

    // mariadb-dump failing: its own words, and no file.
    run_with(
        &args(
            src,
            &[
                "export",
                "--output",
                other.to_str().unwrap(),
                "--database",
                "nosuchdb",
            ],
        ),
        None,
        &[],
    )
    .await
    .expect(6)
    .says(&["mariadb-dump failed", "nosuchdb"]);
    assert!(!other.exists());
    assert!(!dir.path().join("other.sql.partial").exists());

    // A server where the hub never ran has no conflict log.
    run_with(&args(fresh, &["conflicts"]), None, &[])
        .await
        .expect(0)
        .says(&["no conflicts recorded"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_hub_exits_3_naming_the_address_and_bad_config_exits_2() {
    let addr = format!("127.0.0.1:{}", dead_port());
    for cmd in ["status", "verify"] {
        let out = run_with(&["--hub".into(), addr.clone(), cmd.into()], None, &[]).await;
        out.expect(3).says(&[
            &addr,
            "does not answer",
            "systemctl status starsync-hub",
            "hub.http_listen",
        ]);
    }
    // From the environment, and the flag wins over it.
    let env_addr = format!("127.0.0.1:{}", dead_port());
    run_with(&["status".into()], None, &[("MASTER_ADMIN_HUB", &env_addr)])
        .await
        .expect(3)
        .says(&[&env_addr]);
    let out = run_with(
        &["--hub".into(), addr.clone(), "status".into()],
        None,
        &[("MASTER_ADMIN_HUB", &env_addr)],
    )
    .await
    .expect(3);
    assert!(out.stderr.contains(&addr) && !out.stderr.contains(&env_addr));

    // Configuration errors: exit 2, naming the problem.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("admin.toml");
    std::fs::write(&cfg, "hub = \"127.0.0.1:4580\"\nhots = \"typo\"\n").unwrap();
    run_with(
        &[
            "--config".into(),
            cfg.to_str().unwrap().into(),
            "status".into(),
        ],
        None,
        &[],
    )
    .await
    .expect(2)
    .says(&["hots"]);
    run_with(
        &["--hub".into(), "nowhere".into(), "status".into()],
        None,
        &[],
    )
    .await
    .expect(2)
    .says(&["hub", "host:port"]);
    run_with(&["status".into(), "--bogus".into()], None, &[])
        .await
        .expect(2);
    // The example config file is accepted (the hub it names is then only unreachable).
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/master-admin.toml");
    let out: Out = run_with(
        &[
            "--config".into(),
            example.into(),
            "--hub".into(),
            addr.clone(),
            "status".into(),
        ],
        None,
        &[],
    )
    .await;
    out.expect(3);
}

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
