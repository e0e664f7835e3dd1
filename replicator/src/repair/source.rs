//! The hub's side of a repair: one table of the master in a consistent snapshot, sent into a
//! snap's fan-out stream at the snapshot's position.

use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use tokio::sync::mpsc;
use tracing::info;

use super::{RepairBegin, RepairEnd};
use crate::apply::sql::qualified;
use crate::config::LimitsConfig;
use crate::error::{Error, Result};
use crate::gtid::GtidPos;
use crate::snapshot::source::TableRows;
use crate::wire::Message;

/// `ER_TABLE_DEF_CHANGED`: the table changed after the snapshot began.
const TABLE_DEF_CHANGED: u16 = 1412;
/// `ER_NO_SUCH_TABLE`.
const NO_SUCH_TABLE: u16 = 1146;
/// `ER_BAD_DB_ERROR`.
const NO_SUCH_DB: u16 = 1049;

/// One table of the master in an open consistent snapshot, holding the table's metadata lock.
pub struct TableSnapshot {
    conn: mysql_async::Conn,
    pub schema: String,
    pub table: String,
    /// The master's position of the snapshot.
    pub pos: GtidPos,
    /// `SHOW CREATE TABLE` at that position.
    pub create: String,
}

fn server_code(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(s) => Some(s.code),
        _ => None,
    }
}

impl TableSnapshot {
    /// Opens the snapshot. A DDL of the table between the snapshot's start and its metadata
    /// lock makes its rows unreadable in the snapshot (1412): then it starts again.
    pub async fn open(opts: &mysql_async::Opts, schema: &str, table: &str) -> Result<Self> {
        let q = qualified(schema, table);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut conn = crate::snapshot::open_snapshot(opts, "a repair").await?;
            // Reading a row takes the table's metadata lock (held to the end of the snapshot,
            // so the definition read next is the snapshot's) and fails if the table changed
            // since the snapshot began.
            let probe: std::result::Result<Option<u8>, _> =
                conn.query_first(format!("SELECT 1 FROM {q} LIMIT 1")).await;
            match probe {
                Ok(_) => {}
                Err(e) if server_code(&e) == Some(TABLE_DEF_CHANGED) && attempt < 5 => {
                    conn.disconnect().await.ok();
                    continue;
                }
                Err(e) if matches!(server_code(&e), Some(NO_SUCH_TABLE | NO_SUCH_DB)) => {
                    return Err(Error::Request(format!(
                        "the master has no table {q}: name an existing table (DB.TABLE); \
                         `master-admin verify` lists the tables that differ"
                    )));
                }
                Err(e) => return Err(Error::db(format!("reading {q} on the master"))(e)),
            }
            let row: Option<(Vec<u8>, Vec<u8>)> = conn
                .query_first(format!("SHOW CREATE TABLE {q}"))
                .await
                .map_err(Error::db(format!("reading the definition of {q}")))?;
            let Some((_, create)) = row else {
                return Err(Error::Request(format!("the master has no table {q}")));
            };
            let create = String::from_utf8_lossy(&create).into_owned();
            if !create.starts_with("CREATE TABLE") {
                return Err(Error::Request(format!(
                    "{q} is not a base table on the master (a view or sequence): only tables \
                     are repaired"
                )));
            }
            if create.contains("WITH SYSTEM VERSIONING") {
                return Err(Error::Request(format!(
                    "{q} is system-versioned: its history cannot be repaired row by row; \
                     resync the snap (`replicator agent --resync`)"
                )));
            }
            let pos = crate::snapshot::snapshot_position(&mut conn).await?;
            return Ok(TableSnapshot {
                conn,
                schema: schema.to_string(),
                table: table.to_string(),
                pos,
                create,
            });
        }
    }

    /// Sends the table's rows into a snap's stream (`tx`, the session's outgoing queue); ends
    /// the snapshot. Returns the rows sent.
    pub async fn send(
        mut self,
        id: u64,
        dry_run: bool,
        limits: &LimitsConfig,
        tx: &mpsc::Sender<Message>,
        node: &str,
    ) -> Result<u64> {
        let started = Instant::now();
        let gone = || Error::Protocol {
            peer: node.to_string(),
            problem: "the session ended during a repair".into(),
        };
        let q = qualified(&self.schema, &self.table);
        tx.send(Message::RepairBegin(RepairBegin {
            id,
            schema: self.schema.clone(),
            table: self.table.clone(),
            pos: self.pos.clone(),
            create: self.create.clone(),
            dry_run,
        }))
        .await
        .map_err(|_| gone())?;
        let mut total = 0u64;
        let mut last_log = Instant::now();
        {
            let (schema, table, create) = (&self.schema, &self.table, &self.create);
            let mut rows = TableRows::open(&mut self.conn, schema, table, create, limits).await?;
            while let Some(chunk) = rows.next_chunk().await? {
                total += chunk.len() as u64;
                tx.send(Message::RepairRows(chunk))
                    .await
                    .map_err(|_| gone())?;
                if last_log.elapsed() > Duration::from_secs(2) {
                    last_log = Instant::now();
                    info!(node, table = %q, rows = total, "repair: sending the master's rows");
                }
            }
        }
        self.conn.query_drop("COMMIT").await.ok();
        self.conn.disconnect().await.ok();
        tx.send(Message::RepairEnd(RepairEnd { id, rows: total }))
            .await
            .map_err(|_| gone())?;
        info!(node, table = %q, rows = total, position = %self.pos,
              secs = started.elapsed().as_secs_f64(), "repair: the master's rows are sent");
        Ok(total)
    }
}
