//! `init`, `create-*` and `drop-*`: what they create and drop replicates to every snap; snaps,
//! system schemas, tables without key and unconfirmed drops are refused.

use std::time::Duration;

use starsync_tests::{eventually, Star};

use crate::common::{admin, dead_port, node_args, on, on_with, run_with, tables};

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
