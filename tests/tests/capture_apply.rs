//! Capture and exact apply: every MariaDB column type, extreme and NULL values, composite keys,
//! inserted, updated and deleted on node A, read from A's binlog, encoded to MessagePack,
//! decoded, and applied to node B. B ends byte-identical (CHECKSUM TABLE) with A's GTIDs.

use std::time::Duration;

use replicator::apply::{Applier, TxnMode};
use replicator::binlog::{AssembleOptions, BinlogReader, Read, ReaderOptions};
use replicator::gtid::GtidPos;
use replicator::model::TxnItem;
use starsync_tests::{mariadb, Cluster, Node};

const SCHEMA: &str = r#"
CREATE DATABASE MOST CHARACTER SET utf8mb4;
CREATE TABLE MOST.types (
  id INT NOT NULL, sub VARCHAR(20) NOT NULL,
  ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED,
  mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
  dec1 DECIMAL(65,30), dec2 DECIMAL(10,2) UNSIGNED, dec3 DECIMAL(5,0), dec4 DECIMAL(18,9),
  f FLOAT, d DOUBLE,
  b1 BIT(1), b10 BIT(10), b64 BIT(64),
  c CHAR(10), vc VARCHAR(300), tx TEXT, mtx MEDIUMTEXT, ltx LONGTEXT,
  c_l1 CHAR(5) CHARACTER SET latin1, vc_l1 VARCHAR(50) CHARACTER SET latin1,
  tx_l1 TEXT CHARACTER SET latin1,
  bin BINARY(8), vbin VARBINARY(300), tb TINYBLOB, bl BLOB, mb MEDIUMBLOB, lb LONGBLOB,
  dt DATE, t0 TIME, t3 TIME(3), t6 TIME(6), dt0 DATETIME, dt6 DATETIME(6),
  ts0 TIMESTAMP NULL, ts6 TIMESTAMP(6) NULL, y YEAR,
  e ENUM('a','b','c'), s SET('x','y','z'),
  j JSON, ip INET6, u UUID, g GEOMETRY, p POINT,
  PRIMARY KEY (id, sub)
);
CREATE TABLE MOST.latin (id SMALLINT UNSIGNED PRIMARY KEY, name VARCHAR(40), note TEXT,
  twice INT AS (id * 2) PERSISTENT, upper_name VARCHAR(40) AS (UPPER(name)) VIRTUAL)
  DEFAULT CHARSET=latin1;
CREATE TABLE MOST.nokey (a INT, b VARCHAR(10));
"#;

const ROWS: &str = r#"
SET SESSION sql_mode = '', time_zone = '+00:00';
INSERT INTO MOST.types (id, sub) VALUES (1, 'nulls');
INSERT INTO MOST.types VALUES (2, 'min',
  -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0,
  -99999999999999999999999999999999999.999999999999999999999999999999, 0.00, -99999, -0.000000001,
  -3.40282e38, -1.7976931348623157e308,
  b'0', b'0', b'0',
  '', '', '', '', '', '', '', '',
  x'', x'', x'', x'', x'', x'',
  '1000-01-01', '-838:59:59', '-838:59:59.999', '-00:00:00.000001', '1000-01-01 00:00:00',
  '1000-01-01 00:00:00.000000', '1970-01-01 00:00:01', '1970-01-01 00:00:01.000001', 1901,
  'a', '', '{}', '::', '00000000-0000-0000-0000-000000000000',
  ST_GeomFromText('POINT(0 0)'), ST_GeomFromText('POINT(-1.5 -2.25)'));
INSERT INTO MOST.types VALUES (3, 'max',
  127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807,
  18446744073709551615,
  99999999999999999999999999999999999.999999999999999999999999999999, 99999999.99, 99999,
  123456789.123456789,
  3.40282e38, 1.7976931348623157e308,
  b'1', b'1111111111', b'1111111111111111111111111111111111111111111111111111111111111111',
  'é😀🎉x', REPEAT('ü', 300), CONCAT('emoji 😀 ', REPEAT('🎉', 1000)), REPEAT('m', 70000),
  REPEAT('long text ', 20000),
  'àéîõü', 'Ærøskøbing ß', REPEAT('þ', 1000),
  x'00ff00ff00ff00ff', x'00000000', x'ff', REPEAT(x'00ff', 30000), REPEAT(x'01', 70000),
  REPEAT(x'fe', 1048576),
  '9999-12-31', '838:59:59', '838:59:59.999', '838:59:59.999999', '9999-12-31 23:59:59',
  '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07', '2038-01-19 03:14:07.999999', 2155,
  'c', 'x,y,z', '{"a": [1, 2.5, "x", null, true], "😀": {"nested": "\\"quoted\\""}}',
  'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'ffffffff-ffff-ffff-ffff-ffffffffffff',
  ST_GeomFromText('POLYGON((0 0, 10 0, 10 10, 0 10, 0 0))'),
  ST_GeomFromText('POINT(1e300 -1e-300)'));
INSERT INTO MOST.types VALUES (4, 'zero',
  0, 0, 0, 0, -1, 1, -1, 1, -1, 1,
  0, 0, 0, 0,
  -0.0, -0.0,
  b'1', b'0101010101', b'1000000000000000000000000000000000000000000000000000000000000001',
  'trail  ', 'trail  ', 'a\0b', '\\', '''', '"', 'x', 'z',
  x'0100000000000000', x'00', x'00', x'0000', x'00', x'00',
  '0000-00-00', '00:00:00', '-00:00:01.5', '00:00:00.000001', '0000-00-00 00:00:00',
  '2000-02-29 12:34:56.789012', '0000-00-00 00:00:00', '2000-01-01 00:00:00.5', 0,
  'b', 'y', '[]', '::1', '123e4567-e89b-12d3-a456-426655440000',
  ST_GeomFromText('LINESTRING(0 0, 1 1, 2 3)'), ST_GeomFromText('POINT(3 4)'));
INSERT INTO MOST.types (id, sub, tx, c) VALUES (5, 'inject', '''; DROP TABLE MOST.types; --', '\\''');
INSERT INTO MOST.latin (id, name, note) VALUES (1, 'Zoë', 'crème brûlée'), (65535, 'ÿ', NULL);
INSERT INTO MOST.nokey VALUES (1, 'dup'), (1, 'dup'), (2, NULL);
BEGIN;
UPDATE MOST.types SET mi = -1, miu = 16777214, tx = 'changed 😀', ts6 = '2001-09-09 01:46:40.25',
  y = 1999, s = 'x,z', e = 'b', dec1 = -1.5, j = '{"k": 1}', ip = '2001:db8::1'
  WHERE id = 2;
UPDATE MOST.types SET sub = 'moved', bi = 42 WHERE id = 3;
UPDATE MOST.latin SET name = 'Chloé' WHERE id = 1;
COMMIT;
DELETE FROM MOST.types WHERE id = 1;
UPDATE MOST.nokey SET b = 'one' WHERE a = 1 LIMIT 1;
DELETE FROM MOST.nokey WHERE a = 2;
ALTER TABLE MOST.latin ADD COLUMN extra INT DEFAULT 7;
INSERT INTO MOST.latin (id, name) VALUES (2, 'after alter');
"#;

fn reader_for(node: &Node, start: GtidPos) -> BinlogReader {
    BinlogReader::new(
        ReaderOptions {
            opts: node.opts_as(mariadb::REPL_USER, mariadb::REPL_PASSWORD),
            replica_id: 1000 + node.spec.server_id,
            heartbeat: Duration::from_millis(300),
            reconnect_max: Duration::from_millis(500),
            label: node.name().into(),
            assemble: AssembleOptions {
                chunk_rows: 2,
                ..Default::default()
            },
        },
        start,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_survives_capture_encode_apply() {
    let cluster = Cluster::start(3).await.unwrap();
    let (a, b, c) = (&cluster.nodes[0], &cluster.nodes[1], &cluster.nodes[2]);
    let mut conn = a.conn().await.unwrap();
    use mysql_async::prelude::*;
    conn.query_drop("SET NAMES utf8mb4").await.unwrap();
    conn.query_drop(SCHEMA).await.unwrap();
    conn.query_drop(ROWS).await.unwrap();
    let target = a.gtid_binlog_pos().await.unwrap();
    assert!(target.get(1).unwrap().seq >= 15, "{target}");

    let mut reader = reader_for(a, GtidPos::new());
    let mut applier = Applier::connect(&b.opts_as(mariadb::REPL_USER, mariadb::REPL_PASSWORD), "B")
        .await
        .unwrap();
    // C gets the same stream the way agents apply it: whole small transactions in one round
    // trip (exact SQL literals), the others item by item.
    let mut applier_c =
        Applier::connect(&c.opts_as(mariadb::REPL_USER, mariadb::REPL_PASSWORD), "C")
            .await
            .unwrap();
    let mut txn: Vec<TxnItem> = Vec::new();
    let mut small = 0;
    let mode = TxnMode {
        preserve_gtid: true,
        ..Default::default()
    };
    let mut bytes = 0usize;
    let mut commits = 0;
    let mut chunks = 0;
    loop {
        let read = tokio::time::timeout(Duration::from_secs(30), reader.next())
            .await
            .expect("reader stalled")
            .unwrap();
        match read {
            Read::Item(item) => {
                let wire = rmp_serde::to_vec(&item).unwrap();
                bytes += wire.len();
                let back: TxnItem = rmp_serde::from_slice(&wire).unwrap();
                assert_eq!(back, item, "MessagePack round trip changed the item");
                if matches!(back, TxnItem::Rows(_)) {
                    chunks += 1;
                }
                if applier.apply_item(&back, &mode).await.unwrap().is_some() {
                    commits += 1;
                }
                txn.push(back.clone());
                if matches!(back, TxnItem::Commit(_)) {
                    let items = std::mem::take(&mut txn);
                    if applier_c.apply_small(&items, None).await.unwrap().is_some() {
                        small += 1;
                    } else {
                        for it in &items {
                            applier_c.apply_item(it, &mode).await.unwrap();
                        }
                    }
                }
            }
            Read::Idle => {
                if reader.position().covers(&target) {
                    break;
                }
            }
        }
    }
    assert_eq!(
        commits as u64,
        target.get(1).unwrap().seq,
        "one commit per source GTID"
    );
    assert!(
        chunks > 5,
        "chunk_rows=2 splits transactions into chunks ({chunks})"
    );
    assert!(
        bytes > 1_000_000,
        "the 1 MiB blob travelled ({bytes} bytes)"
    );

    assert!(
        small >= 8,
        "most transactions took the one-round-trip path ({small})"
    );
    for table in ["MOST.types", "MOST.latin", "MOST.nokey"] {
        let (ca, cb) = (
            a.checksum(table).await.unwrap(),
            b.checksum(table).await.unwrap(),
        );
        assert!(ca.is_some(), "{table} exists on A");
        assert_eq!(ca, cb, "CHECKSUM TABLE {table} differs between A and B");
        let cc = c.checksum(table).await.unwrap();
        assert_eq!(
            ca, cc,
            "CHECKSUM TABLE {table} differs between A and C (one round trip)"
        );
    }
    assert_eq!(c.gtid_binlog_pos().await.unwrap(), target);
    // Row-level spot checks that CHECKSUM would also catch, with readable failures.
    let q = "SELECT CONCAT_WS('|', id, sub, HEX(mi), miu, y, ts6, s, e, ip, u, HEX(b64), dec1, \
             tx_l1 = REPEAT('þ', 1000), IFNULL(ST_AsText(g), 'nullg')) FROM MOST.types ORDER BY id";
    type Row = String;
    let ra: Vec<Row> = a.query(q).await.unwrap();
    let rb: Vec<Row> = b.query(q).await.unwrap();
    assert_eq!(ra, rb);
    assert_eq!(ra.len(), 4);
    assert_eq!(
        b.query::<String>("SELECT tx FROM MOST.types WHERE id = 5")
            .await
            .unwrap(),
        vec!["'; DROP TABLE MOST.types; --".to_string()]
    );
    // B holds exactly A's transactions, under A's GTIDs.
    assert_eq!(b.gtid_binlog_pos().await.unwrap(), target);
    assert_eq!(applier.position(), &target);
}
