//! `export`: a dump imported into a fresh server gives equal checksums; a missing or failing
//! mariadb-dump is a clear error and leaves no file.

use starsync_tests::Cluster;

use crate::common::{dead_port, node_args, run_with, tables};

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
         CREATE TABLE notes (id INT PRIMARY KEY, txt TEXT); \
         INSERT INTO notes SELECT seq, REPEAT(CHAR(65 + seq % 26), 1000) FROM seq_1_to_3000; \
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
    // The position is written after the data: a dump this big has it far from the start.
    assert!(text.len() > 3 << 20, "{} bytes", text.len());
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
    assert_eq!(names, ["blobs", "customers", "notes", "orders", "products"]);
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
