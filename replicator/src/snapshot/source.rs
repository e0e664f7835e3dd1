//! The hub's side of a snapshot: read the master in one consistent snapshot and stream it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::SinkExt;
use mysql_async::prelude::*;
use tracing::info;

use super::{SchemaStatement, SnapshotBegin, SnapshotEnd};
use crate::apply::sql::{ident, qualified};
use crate::config::{LimitsConfig, ReplicateConfig};
use crate::error::{Error, Result};
use crate::gtid::GtidPos;
use crate::model::{ColumnMeta, Date, DateTime, RowKind, RowsChunk, TableMeta, Time, Value};
use crate::wire::session::Conn;
use crate::wire::Message;

/// A value of the binary protocol as a model value (exact: it goes back the same way).
pub fn from_protocol(v: mysql_async::Value) -> Value {
    use mysql_async::Value as P;
    match v {
        P::NULL => Value::Null,
        P::Bytes(b) => Value::Bytes(b.into()),
        P::Int(i) => Value::Int(i),
        P::UInt(u) => Value::UInt(u),
        P::Float(f) => Value::Float(f),
        P::Double(d) => Value::Double(d),
        P::Date(y, m, d, 0, 0, 0, 0) => Value::Date(Date { y, m, d }),
        P::Date(y, m, d, h, mi, s, us) => Value::DateTime(DateTime {
            y,
            m,
            d,
            h,
            mi,
            s,
            us,
        }),
        P::Time(neg, days, h, mi, s, us) => Value::Time(Time {
            neg,
            h: days * 24 + h as u32,
            mi,
            s,
            us,
        }),
    }
}

/// Sends one message of the snapshot. An agent that takes nothing for `idle` (stopped, or the
/// network path dropped) ends the snapshot: its consistent-snapshot transaction must not stay
/// open on the master (it holds back purge) until TCP gives up.
async fn send(conn: &mut Conn, m: Message, peer: &str, idle: Duration) -> Result<()> {
    match tokio::time::timeout(idle, conn.send(m)).await {
        Ok(r) => r.map_err(|e| Error::Protocol {
            peer: peer.into(),
            problem: format!("sending the snapshot: {e}"),
        }),
        Err(_) => Err(Error::Silent {
            peer: peer.into(),
            problem: format!(
                "took no snapshot data for {:.1} s: it is hung or the network path to it \
                 dropped; the snapshot is abandoned (the agent asks again when it is back; \
                 hub.idle_timeout_ms)",
                idle.as_secs_f64()
            ),
        }),
    }
}

/// The shape of rows read over the binary protocol, from the result's columns (no key).
pub fn protocol_meta(db: &str, name: &str, columns: &[mysql_async::Column]) -> TableMeta {
    TableMeta {
        schema: db.to_string(),
        table: name.to_string(),
        columns: columns
            .iter()
            .map(|col| ColumnMeta {
                name: col.name_str().into_owned(),
                ty: col.column_type() as u8,
                meta: 0,
                unsigned: false,
                charset: col.character_set(),
                nullable: true,
                labels: Vec::new(),
            })
            .collect(),
        primary_key: Vec::new(),
    }
}

fn first_text(row: &mysql_async::Row, i: usize) -> String {
    row.get_opt::<Vec<u8>, _>(i)
        .and_then(|r| r.ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// The rows of one table, read in chunks of at most `chunk_rows` rows or about `chunk_bytes`
/// bytes, as the binary protocol gives them (the session runs with `SET NAMES binary`).
pub struct TableRows<'a> {
    result: mysql_async::QueryResult<'a, 'static, mysql_async::BinaryProtocol>,
    meta: Arc<TableMeta>,
    limits: LimitsConfig,
    q: String,
}

impl<'a> TableRows<'a> {
    /// Starts reading `db`.`name` on `c` (inside the caller's snapshot, if it opened one);
    /// `create` is its `SHOW CREATE TABLE`, which the caller has read already.
    pub async fn open(
        c: &'a mut mysql_async::Conn,
        db: &str,
        name: &str,
        create: &str,
        limits: &LimitsConfig,
    ) -> Result<TableRows<'a>> {
        let q = qualified(db, name);
        // Every column by name: `SELECT *` leaves out INVISIBLE ones, whose values would then
        // be the defaults on the snap.
        let columns = crate::apply::sql::columns_of_create_table(create);
        let list = if columns.is_empty() {
            "*".to_string()
        } else {
            columns
                .iter()
                .map(|col| ident(&col.name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let result = c
            .exec_iter(format!("SELECT {list} FROM {q}"), ())
            .await
            .map_err(Error::db(format!("reading the rows of {q}")))?;
        let meta = Arc::new(protocol_meta(db, name, result.columns_ref()));
        Ok(TableRows {
            result,
            meta,
            limits: limits.clone(),
            q,
        })
    }

    /// The next chunk of rows (inserts); `None` after the last.
    pub async fn next_chunk(&mut self) -> Result<Option<RowsChunk>> {
        let mut values = Vec::new();
        let (mut bytes, mut rows) = (0usize, 0usize);
        while rows < self.limits.chunk_rows && bytes < self.limits.chunk_bytes {
            let Some(row) = self
                .result
                .next()
                .await
                .map_err(Error::db(format!("reading the rows of {}", self.q)))?
            else {
                break;
            };
            for v in row.unwrap() {
                let v = from_protocol(v);
                bytes += v.approx_bytes();
                values.push(v);
            }
            rows += 1;
        }
        Ok((rows > 0).then(|| RowsChunk::new(self.meta.clone(), RowKind::Insert, values)))
    }
}

/// Streams a consistent snapshot of the replicated databases to `peer`. Returns its position.
/// A peer that takes nothing for `idle` ends it (see `send`).
pub async fn stream(
    opts: &mysql_async::Opts,
    replicate: &ReplicateConfig,
    limits: &LimitsConfig,
    out: &mut Conn,
    peer: &str,
    idle: Duration,
) -> Result<GtidPos> {
    let started = Instant::now();
    let mut c = super::open_snapshot(opts, "a snapshot").await?;
    let pos = super::snapshot_position(&mut c).await?;

    // Schema: databases and base tables now; views and routines after the rows (triggers stay
    // on the master).
    let dbs: Vec<Vec<u8>> = c
        .query("SHOW DATABASES")
        .await
        .map_err(Error::db("listing databases"))?;
    let dbs: Vec<String> = dbs
        .into_iter()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .filter(|d| replicate.replicates(d))
        .collect();
    let mut schema = Vec::new();
    let mut objects = Vec::new();
    // Database, name and definition of each base table.
    let mut tables: Vec<(String, String, String)> = Vec::new();
    let mut estimated = 0u64;
    for db in &dbs {
        let row: Option<mysql_async::Row> = c
            .query_first(format!("SHOW CREATE DATABASE {}", ident(db)))
            .await
            .map_err(Error::db(format!("reading database {db}")))?;
        if let Some(row) = row {
            schema.push(SchemaStatement {
                schema: String::new(),
                sql: first_text(&row, 1),
                sql_mode: None,
            });
        }
        let list: Vec<mysql_async::Row> = c
            .query(format!("SHOW FULL TABLES FROM {}", ident(db)))
            .await
            .map_err(Error::db(format!("listing the tables of {db}")))?;
        for r in list {
            let (name, kind) = (first_text(&r, 0), first_text(&r, 1));
            let q = qualified(db, &name);
            if kind == "VIEW" {
                let v: Option<mysql_async::Row> = c
                    .query_first(format!("SHOW CREATE VIEW {q}"))
                    .await
                    .map_err(Error::db(format!("reading view {q}")))?;
                if let Some(v) = v {
                    objects.push(SchemaStatement {
                        schema: db.clone(),
                        sql: first_text(&v, 1),
                        sql_mode: None,
                    });
                }
            } else if kind == "SEQUENCE" {
                // Its definition, then its state as of the snapshot (`SETVAL` with the next
                // value not yet cached, as replicated sequence changes are applied).
                let d: Option<mysql_async::Row> = c
                    .query_first(format!("SHOW CREATE SEQUENCE {q}"))
                    .await
                    .map_err(Error::db(format!("reading sequence {q}")))?;
                let state: Option<(i64, i64)> = c
                    .query_first(format!(
                        "SELECT next_not_cached_value, cycle_count FROM {q}"
                    ))
                    .await
                    .map_err(Error::db(format!("reading the state of sequence {q}")))?;
                if let (Some(d), Some((next, round))) = (d, state) {
                    for sql in [
                        first_text(&d, 1),
                        format!("DO SETVAL({q}, {next}, 0, {round})"),
                    ] {
                        schema.push(SchemaStatement {
                            schema: db.clone(),
                            sql,
                            sql_mode: None,
                        });
                    }
                }
            } else if kind == "BASE TABLE" {
                let t: Option<mysql_async::Row> = c
                    .query_first(format!("SHOW CREATE TABLE {q}"))
                    .await
                    .map_err(Error::db(format!("reading table {q}")))?;
                if let Some(t) = t {
                    let create = first_text(&t, 1);
                    schema.push(SchemaStatement {
                        schema: db.clone(),
                        sql: create.clone(),
                        sql_mode: None,
                    });
                    tables.push((db.clone(), name, create));
                }
            }
        }
        let stats: Vec<mysql_async::Row> = c
            .query(format!("SHOW TABLE STATUS FROM {}", ident(db)))
            .await
            .map_err(Error::db(format!("estimating the rows of {db}")))?;
        estimated += stats
            .iter()
            .filter_map(|r| r.get_opt::<u64, _>(4).and_then(|x| x.ok()))
            .sum::<u64>();
        for (kind, show) in [("PROCEDURE", "PROCEDURE"), ("FUNCTION", "FUNCTION")] {
            let list: Vec<mysql_async::Row> = c
                .query(format!(
                    "SHOW {kind} STATUS WHERE Db = '{}'",
                    db.replace('\'', "''")
                ))
                .await
                .map_err(Error::db(format!("listing the routines of {db}")))?;
            for r in list {
                let name = first_text(&r, 1);
                let d: Option<mysql_async::Row> = c
                    .query_first(format!("SHOW CREATE {show} {}", qualified(db, &name)))
                    .await
                    .map_err(Error::db(format!("reading routine {db}.{name}")))?;
                if let Some(d) = d {
                    objects.push(SchemaStatement {
                        schema: db.clone(),
                        sql: first_text(&d, 2),
                        sql_mode: Some(first_text(&d, 1)),
                    });
                }
            }
        }
    }
    info!(peer, position = %pos, databases = dbs.len(), tables = tables.len(),
          estimated_rows = estimated, "snapshot started");
    send(
        out,
        Message::SnapshotBegin(SnapshotBegin {
            pos: pos.clone(),
            databases: dbs.clone(),
            estimated_rows: estimated,
            tables: tables.len() as u64,
            schema,
        }),
        peer,
        idle,
    )
    .await?;

    // Rows, table by table, in chunks.
    let mut total = 0u64;
    let mut last_log = Instant::now();
    for (db, name, create) in &tables {
        let q = qualified(db, name);
        let mut rows = TableRows::open(&mut c, db, name, create, limits).await?;
        while let Some(chunk) = rows.next_chunk().await? {
            total += chunk.len() as u64;
            send(out, Message::SnapshotRows(chunk), peer, idle).await?;
            if last_log.elapsed() > Duration::from_secs(2) {
                last_log = Instant::now();
                let secs = started.elapsed().as_secs_f64();
                info!(peer, rows = total, table = %q,
                      percent = (total as f64 * 100.0 / estimated.max(1) as f64).min(100.0) as u64,
                      rows_per_sec = (total as f64 / secs) as u64, "snapshot progress");
            }
        }
    }
    c.query_drop("COMMIT").await.ok();
    c.disconnect().await.ok();
    send(
        out,
        Message::SnapshotEnd(SnapshotEnd {
            pos: pos.clone(),
            rows: total,
            objects,
        }),
        peer,
        idle,
    )
    .await?;
    info!(peer, rows = total, secs = started.elapsed().as_secs_f64(), position = %pos,
          "snapshot sent");
    Ok(pos)
}
