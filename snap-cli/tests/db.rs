//! The library below the menu, against a real MariaDB node: the catalog reads every type as
//! the server declares it, every checked value round-trips byte for byte through prepared
//! statements, and UPDATE/DELETE never touch a row that changed since it was read.

mod common;

use mysql_async::Value;
use snap_cli::catalog::{ColumnDefault, Kind, RowKey, Table};
use snap_cli::config::{Layer, Secret, Settings};
use snap_cli::db::{self, Db};
use snap_cli::sql::{Filter, Match};
use snap_cli::value;
use starsync_tests::mariadb::{APP_PASSWORD, APP_USER};

use common::Fixture;

fn settings(f: &Fixture, socket: bool) -> Settings {
    let flags = Layer {
        port: Some(f.node().port),
        user: Some(APP_USER.into()),
        password: Some(Secret::new(APP_PASSWORD)),
        socket: socket.then(|| f.node().socket.clone()),
        ..Layer::default()
    };
    Settings::resolve(flags, Layer::default(), Layer::default())
}

async fn session(f: &Fixture) -> Db {
    let s = settings(f, false);
    Db::connect(db::options(&s, APP_PASSWORD), "MOST")
        .await
        .expect("snap account logs in")
}

/// Parses `typed` for `column` of `t` exactly as the INSERT prompt does.
fn typed(t: &Table, column: &str, typed: &str) -> (usize, Value) {
    let i = t.columns.iter().position(|c| c.name == column).unwrap();
    let v = value::interpret(&t.columns[i], typed, false)
        .unwrap_or_else(|e| panic!("{column} {typed:?}: {e}"))
        .unwrap();
    (i, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_reads_types_keys_and_defaults_as_the_snap_account() {
    let f = Fixture::start().await;
    f.exec(
        "CREATE TABLE MOST.extra (u UUID NOT NULL, ip INET6, ip4 INET4, l1 VARCHAR(5) \
         CHARACTER SET latin1, f FLOAT, `we``ird col` INT, UNIQUE KEY uu (u))",
    )
    .await;
    let mut db = session(&f).await;
    assert_eq!(db.tables().await.unwrap(), vec!["extra", "people", "x"]);
    let t = db.table("people").await.unwrap().unwrap();
    assert_eq!(t.key, RowKey::Primary(vec![0]));
    let kind = |n: &str| t.columns.iter().find(|c| c.name == n).unwrap().clone();
    assert!(kind("id").auto_increment);
    assert!(kind("twice").generated);
    assert_eq!(kind("doc").kind, Kind::Json);
    assert_eq!(
        kind("price").kind,
        Kind::Decimal {
            precision: 8,
            scale: 2,
            unsigned: false
        }
    );
    assert_eq!(kind("price").default, ColumnDefault::Literal("0.00".into()));
    assert_eq!(
        kind("created").default,
        ColumnDefault::Expression("current_timestamp()".into())
    );
    assert_eq!(kind("note").default, ColumnDefault::Null);
    assert_eq!(kind("name").default, ColumnDefault::None);
    assert_eq!(kind("seen").kind, Kind::DateTime { fsp: 3 });
    assert_eq!(
        kind("color").kind,
        Kind::Enum(vec!["red".into(), "green".into(), "blue".into()])
    );
    assert_eq!(kind("flags").kind, Kind::Bit { width: 4 });
    assert_eq!(kind("raw").kind, Kind::Binary { max_bytes: 8 });
    assert_eq!(
        kind("active").kind,
        Kind::Int {
            bits: 8,
            unsigned: false,
            boolean: true
        }
    );
    let e = db.table("extra").await.unwrap().unwrap();
    assert_eq!(
        e.key,
        RowKey::Unique {
            name: "uu".into(),
            columns: vec![0]
        }
    );
    let kinds: Vec<Kind> = e.columns.iter().map(|c| c.kind.clone()).collect();
    assert_eq!(kinds[0], Kind::Uuid);
    assert_eq!(kinds[1], Kind::Inet6);
    assert_eq!(kinds[2], Kind::Inet4);
    assert_eq!(e.columns[3].charset.as_deref(), Some("latin1"));
    assert_eq!(e.columns[5].name, "we`ird col");
    assert!(db.table("gone").await.unwrap().is_none());
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checked_values_round_trip_byte_for_byte() {
    let f = Fixture::start().await;
    f.exec(
        "CREATE TABLE MOST.extra (id INT PRIMARY KEY, u UUID, ip INET6, ip4 INET4, \
         l1 VARCHAR(5) CHARACTER SET latin1, f FLOAT, `we``ird col` TEXT)",
    )
    .await;
    let mut db = session(&f).await;
    let t = db.table("people").await.unwrap().unwrap();
    let nasty = "'; DROP TABLE x; -- \\' \" ` \\\\ 🙂👩‍👩‍👧 \\0";
    let values = vec![
        typed(&t, "name", nasty),
        typed(&t, "note", "line\\0two"),
        typed(&t, "price", "-999999.99"),
        typed(&t, "ratio", "-1.25e-10"),
        typed(&t, "born", "2024-02-29"),
        typed(&t, "seen", "9999-12-31 23:59:59.999"),
        typed(&t, "dur", "838:59:59"),
        typed(&t, "yr", "1901"),
        typed(&t, "tags", "b,c"),
        typed(&t, "flags", "0xf"),
        typed(&t, "doc", "[1, {\"a\": null}]"),
        typed(&t, "raw", "0x0027005c22"),
        typed(&t, "big", "18446744073709551615"),
        typed(&t, "active", "false"),
    ];
    let ins = db.insert(&t, &values).await.unwrap();
    assert_eq!(ins.auto_id, Some(1));
    let row = ins.row.expect("read back by its key");
    let shown: Vec<String> = row
        .iter()
        .zip(&t.columns)
        .map(|(v, c)| value::show::display(&c.kind, v))
        .collect();
    assert_eq!(
        &shown[..16],
        &[
            "1",
            "'; DROP TABLE x; -- \\' \" ` \\\\ 🙂👩‍👩‍👧 \\0",
            "line\\0two",
            "-999999.99",
            "-0.000000000125",
            "2024-02-29",
            "9999-12-31 23:59:59.999",
            "838:59:59",
            "1901",
            "red",
            "b,c",
            "b'1111'",
            "[1, {\"a\": null}]",
            "0x0027005c22",
            "18446744073709551615",
            "0",
        ]
    );
    let stored: Vec<(Vec<u8>, Vec<u8>, String)> = f
        .query("SELECT CAST(name AS BINARY), CAST(note AS BINARY), HEX(raw) FROM MOST.people")
        .await;
    assert_eq!(
        stored[0].0,
        "'; DROP TABLE x; -- \\' \" ` \\\\ 🙂👩‍👩‍👧 \0".as_bytes()
    );
    assert_eq!(stored[0].1, b"line\0two");
    assert_eq!(stored[0].2, "0027005C22");
    let x: Vec<u32> = f.query("SELECT id FROM MOST.x").await;
    assert_eq!(x, vec![1]);

    // Newer types, another character set, a float, and a column name with a backtick.
    let e = db.table("extra").await.unwrap().unwrap();
    let vals = vec![
        typed(&e, "id", "1"),
        typed(&e, "u", "123E4567E89B12D3A456426614174000"),
        typed(&e, "ip", "192.0.2.1"),
        typed(&e, "ip4", "10.0.0.255"),
        typed(&e, "l1", "é€ab"),
        typed(&e, "f", "0.1"),
        typed(&e, "we`ird col", "ok"),
    ];
    let row = db.insert(&e, &vals).await.unwrap().row.unwrap();
    let shown: Vec<String> = row
        .iter()
        .zip(&e.columns)
        .map(|(v, c)| value::show::display(&c.kind, v))
        .collect();
    assert_eq!(
        shown,
        [
            "1",
            "123e4567-e89b-12d3-a456-426614174000",
            "::ffff:192.0.2.1",
            "10.0.0.255",
            "é€ab",
            "0.1",
            "ok"
        ]
    );
    assert!(value::interpret(&e.columns[4], "🙂", false).is_err());
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_and_delete_only_touch_rows_as_they_were_read() {
    let f = Fixture::start().await;
    f.exec(
        "INSERT INTO MOST.people (name, note) VALUES ('a', 'n1'), ('b', 'n2'), ('c', NULL); \
         CREATE TABLE MOST.nokey (k INT, v TEXT); \
         INSERT INTO MOST.nokey VALUES (1, 'same'), (1, 'same'), (2, NULL)",
    )
    .await;
    let mut db = session(&f).await;
    let t = db.table("people").await.unwrap().unwrap();
    let rows = db.page(&t, None, 10, 0).await.unwrap();
    assert_eq!(rows.len(), 3);
    let note = t.columns.iter().position(|c| c.name == "note").unwrap();

    // Unchanged since read: saved (also when the new value equals the old one).
    assert!(db
        .update(&t, &rows[0], &[(note, Value::Bytes(b"n1".to_vec()))])
        .await
        .unwrap());
    // Changed by someone else since read: nothing is overwritten.
    f.exec("UPDATE MOST.people SET note = 'theirs' WHERE id = 2")
        .await;
    assert!(!db
        .update(&t, &rows[1], &[(note, Value::Bytes(b"mine".to_vec()))])
        .await
        .unwrap());
    let notes: Vec<Option<String>> = f.query("SELECT note FROM MOST.people ORDER BY id").await;
    assert_eq!(notes, vec![Some("n1".into()), Some("theirs".into()), None]);
    // A NULL in the row still matches (NULL-safe comparison).
    assert!(db
        .update(&t, &rows[2], &[(note, Value::NULL)])
        .await
        .unwrap());

    // DELETE in one transaction; a row that changed meanwhile is left alone.
    assert_eq!(db.delete(&t, &rows).await.unwrap(), 2);
    let left: Vec<String> = f.query("SELECT name FROM MOST.people").await;
    assert_eq!(left, vec!["b"]);

    // Without a key, exactly one of two identical rows goes.
    let nk = db.table("nokey").await.unwrap().unwrap();
    assert_eq!(nk.key, RowKey::None);
    let rows = db.page(&nk, None, 10, 0).await.unwrap();
    assert_eq!(db.delete(&nk, &rows[..1]).await.unwrap(), 1);
    assert_eq!(db.delete(&nk, &rows[2..]).await.unwrap(), 1);
    let left: Vec<(i32, String)> = f.query("SELECT k, v FROM MOST.nokey").await;
    assert_eq!(left, vec![(1, "same".to_string())]);
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_filters_match_literally_and_sessions_heal() {
    let f = Fixture::start().await;
    f.exec(
        "INSERT INTO MOST.people (name, price) VALUES ('100%_sure', 1), ('100 sure', 2), \
         ('x!y', 3), ('Ann', 4)",
    )
    .await;
    // Over the Unix socket this time.
    let s = settings(&f, true);
    let mut db = Db::connect(db::options(&s, APP_PASSWORD), "MOST")
        .await
        .unwrap();
    let t = db.table("people").await.unwrap().unwrap();
    let name = 1;
    let count = |m: Match| Filter {
        column: name,
        matches: m,
    };
    let n = db
        .count(&t, Some(&count(Match::Contains(b"%_".to_vec()))))
        .await
        .unwrap();
    assert_eq!(n, 1);
    let n = db
        .count(&t, Some(&count(Match::Contains(b"!".to_vec()))))
        .await
        .unwrap();
    assert_eq!(n, 1);
    let n = db
        .count(&t, Some(&count(Match::StartsWith(b"100".to_vec()))))
        .await
        .unwrap();
    assert_eq!(n, 2);
    let price = Filter {
        column: 3,
        matches: Match::Range(Some(Value::Bytes(b"2".to_vec())), None),
    };
    let rows = db.page(&t, Some(&price), 2, 1).await.unwrap();
    assert_eq!(rows.len(), 2, "LIMIT 2 OFFSET 1 of 3 matches");

    // The session is killed while idle: ping reconnects.
    let ids: Vec<u64> = f
        .query("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'snap_user'")
        .await;
    f.exec(&format!("KILL CONNECTION {}", ids[0])).await;
    let e = db.tables().await.unwrap_err();
    assert!(e.is_lost(), "{e}");
    // The next call connects again by itself.
    assert_eq!(db.tables().await.unwrap().len(), 2);
    db.ping().await.unwrap();
    db.close().await;
}
