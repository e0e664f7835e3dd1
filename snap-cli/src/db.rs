//! The session with the local MariaDB: one connection, prepared statements only.
//!
//! Every statement is a prepared statement with bound parameters ([`crate::sql`] builds the text
//! from catalog names); nothing typed by the user is ever parsed as SQL. Writes run in
//! autocommit mode, so each INSERT/UPDATE is one transaction that the local replicator agent
//! picks up from the binlog; a multi-row DELETE is one explicit transaction.
//!
//! # Recovery
//! A lost connection (server restart, idle timeout, killed session) drops the connection object;
//! the next call connects again. [`Db::ping`] at the start of each menu operation heals idle
//! timeouts silently; a loss in the middle of an operation surfaces as an error the menu explains
//! (the change may or may not have been committed — the message says to check).
//!
//! The session runs in strict SQL mode whatever the server's default, so a value that slipped
//! past validation is refused rather than silently truncated.

use std::time::Duration;

use mysql_async::prelude::*;
use mysql_async::{Conn, Opts, OptsBuilder, Row, TxOpts, Value};

use crate::catalog::{self, Table};
use crate::config::Settings;
use crate::error::DbError;
use crate::sql::{self, Filter};
use crate::value::show::normalize;

/// How long to wait for the server when connecting.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A connected (or reconnectable) session.
pub struct Db {
    opts: Opts,
    conn: Option<Conn>,
    /// The database the menu works in.
    pub schema: String,
}

/// What an INSERT did.
#[derive(Debug, Clone, PartialEq)]
pub struct Inserted {
    /// The AUTO_INCREMENT value the server assigned, if any.
    pub auto_id: Option<u64>,
    /// The row as stored (defaults filled in), when it can be found by its key.
    pub row: Option<Vec<Value>>,
}

/// Connection options for `settings` with `password`.
pub fn options(settings: &Settings, password: &str) -> Opts {
    let mut b = OptsBuilder::default()
        .user(Some(settings.user.clone()))
        .pass(Some(password.to_owned()))
        // Affected rows = matched rows, so an UPDATE to identical values still reports its row
        // and 0 means "the row is gone or changed", never "nothing to change".
        .client_found_rows(true)
        .init(vec![
            "SET NAMES utf8mb4".to_owned(),
            "SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), \
             'STRICT_ALL_TABLES')"
                .to_owned(),
        ])
        .stmt_cache_size(Some(64));
    b = match &settings.socket {
        Some(socket) => b
            .socket(Some(socket.to_string_lossy().into_owned()))
            .prefer_socket(true),
        None => b
            .ip_or_hostname(settings.host.clone())
            .tcp_port(settings.port)
            .prefer_socket(false),
    };
    b.into()
}

async fn open(opts: &Opts) -> Result<Conn, DbError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, Conn::new(opts.clone())).await {
        Ok(r) => r.map_err(|e| DbError::new("connecting", e)),
        Err(_) => Err(DbError::new(
            "connecting",
            mysql_async::Error::Io(mysql_async::IoError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {CONNECT_TIMEOUT:?}"),
            ))),
        )),
    }
}

impl Db {
    /// Connects; the error says whether the login was refused or the server unreachable.
    pub async fn connect(opts: Opts, schema: &str) -> Result<Db, DbError> {
        let conn = open(&opts).await?;
        Ok(Db {
            opts,
            conn: Some(conn),
            schema: schema.to_owned(),
        })
    }

    /// Drops the current connection (if any) and opens a new one.
    pub async fn reconnect(&mut self) -> Result<(), DbError> {
        if let Some(old) = self.conn.take() {
            old.disconnect().await.ok();
        }
        self.conn = Some(open(&self.opts).await?);
        Ok(())
    }

    /// Whether a connection is open (it may still turn out dead on next use).
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Checks the connection, reconnecting once if it died while idle.
    pub async fn ping(&mut self) -> Result<(), DbError> {
        if let Some(c) = self.conn.as_mut() {
            if c.ping().await.is_ok() {
                return Ok(());
            }
            self.conn = None;
        }
        self.reconnect().await
    }

    /// Closes the session politely.
    pub async fn close(mut self) {
        if let Some(c) = self.conn.take() {
            c.disconnect().await.ok();
        }
    }

    /// The connection, opening one if the last was lost.
    async fn conn(&mut self) -> Result<&mut Conn, DbError> {
        if self.conn.is_none() {
            self.conn = Some(open(&self.opts).await?);
        }
        Ok(self.conn.as_mut().expect("connection was just set"))
    }

    /// Forgets a connection that an error showed to be dead.
    fn check<T>(&mut self, r: Result<T, DbError>) -> Result<T, DbError> {
        if let Err(e) = &r {
            if e.is_lost() {
                self.conn = None;
            }
        }
        r
    }

    /// The base tables of the database, live.
    pub async fn tables(&mut self) -> Result<Vec<String>, DbError> {
        let schema = self.schema.clone();
        let r = catalog::table_names(self.conn().await?, &schema).await;
        self.check(r)
    }

    /// Whether the database exists and is visible to this account.
    pub async fn schema_exists(&mut self) -> Result<bool, DbError> {
        let schema = self.schema.clone();
        let r = catalog::schema_exists(self.conn().await?, &schema).await;
        self.check(r)
    }

    /// One table's columns and key, live; `None` if it is gone.
    pub async fn table(&mut self, name: &str) -> Result<Option<Table>, DbError> {
        let schema = self.schema.clone();
        let r = catalog::load_table(self.conn().await?, &schema, name).await;
        self.check(r)
    }

    async fn rows(
        &mut self,
        t: &Table,
        query: String,
        params: Vec<Value>,
        what: &str,
    ) -> Result<Vec<Vec<Value>>, DbError> {
        let conn = self.conn().await?;
        let r = conn
            .exec::<Row, _, _>(query, params)
            .await
            .map_err(|e| DbError::new(format!("{what} table {}", t.name), e));
        let rows = self.check(r)?;
        Ok(rows
            .into_iter()
            .map(|row| {
                row.unwrap()
                    .into_iter()
                    .zip(&t.columns)
                    .map(|(v, c)| normalize(&c.kind, v))
                    .collect()
            })
            .collect())
    }

    /// Inserts one row: `values` are (column index, value); columns left out take their default.
    pub async fn insert(
        &mut self,
        t: &Table,
        values: &[(usize, Value)],
    ) -> Result<Inserted, DbError> {
        let cols: Vec<usize> = values.iter().map(|(i, _)| *i).collect();
        let params: Vec<Value> = values.iter().map(|(_, v)| v.clone()).collect();
        let conn = self.conn().await?;
        let r = conn
            .exec_drop(sql::insert(t, &cols), params)
            .await
            .map_err(|e| DbError::new(format!("saving the new row in {}", t.name), e));
        self.check(r)?;
        let auto_id = self
            .conn
            .as_ref()
            .and_then(|c| c.last_insert_id())
            .filter(|&id| id != 0);
        // Read it back by key, so the user sees what was stored (defaults, rounding).
        let Some(key) = t.key_columns().map(<[usize]>::to_vec) else {
            return Ok(Inserted { auto_id, row: None });
        };
        let mut key_values = Vec::new();
        for &k in &key {
            match values.iter().find(|(i, _)| *i == k) {
                Some((_, v)) => key_values.push(v.clone()),
                None if t.columns[k].auto_increment && auto_id.is_some() => {
                    key_values.push(Value::UInt(auto_id.unwrap_or_default()))
                }
                // A key filled by a default expression: not worth guessing.
                None => return Ok(Inserted { auto_id, row: None }),
            }
        }
        let row = self.find(t, &key, key_values).await?;
        Ok(Inserted { auto_id, row })
    }

    /// The row whose `cols` hold `values` (first match).
    pub async fn find(
        &mut self,
        t: &Table,
        cols: &[usize],
        values: Vec<Value>,
    ) -> Result<Option<Vec<Value>>, DbError> {
        let rows = self
            .rows(t, sql::select_where(t, cols), values, "reading a row of")
            .await?;
        Ok(rows.into_iter().next())
    }

    /// Columns compared to make sure `row` is still as read: the row's identity plus the
    /// columns being changed (floats excepted: their binary values do not round-trip reliably).
    fn guard(t: &Table, changing: &[usize]) -> Vec<usize> {
        let mut cols = t.identity();
        for &c in changing {
            let float = matches!(t.columns[c].kind, crate::catalog::Kind::Float { .. });
            if !cols.contains(&c) && !float {
                cols.push(c);
            }
        }
        cols
    }

    /// Sets `changes` on `row` (as read). `false`: the row was changed or deleted meanwhile and
    /// nothing was written.
    pub async fn update(
        &mut self,
        t: &Table,
        row: &[Value],
        changes: &[(usize, Value)],
    ) -> Result<bool, DbError> {
        let set: Vec<usize> = changes.iter().map(|(i, _)| *i).collect();
        let guard = Self::guard(t, &set);
        let mut params: Vec<Value> = changes.iter().map(|(_, v)| v.clone()).collect();
        params.extend(guard.iter().map(|&i| row[i].clone()));
        let conn = self.conn().await?;
        let r = conn
            .exec_drop(sql::update(t, &set, &guard), params)
            .await
            .map_err(|e| DbError::new(format!("saving the change to {}", t.name), e));
        self.check(r)?;
        Ok(self.conn.as_ref().map(|c| c.affected_rows()).unwrap_or(0) > 0)
    }

    /// Deletes `rows` (as read) in one transaction; returns how many were still there
    /// unchanged. Each row is matched on its identity and on every other column the user saw
    /// (floats and generated columns excepted), so a row changed meanwhile is left alone.
    pub async fn delete(&mut self, t: &Table, rows: &[Vec<Value>]) -> Result<u64, DbError> {
        let all: Vec<usize> = (0..t.columns.len())
            .filter(|&i| !t.columns[i].generated)
            .collect();
        let guard = Self::guard(t, &all);
        let stmt = sql::delete(t, &guard);
        let ctx = format!("deleting from {}", t.name);
        let conn = self.conn().await?;
        let r = async {
            let mut tx = conn.start_transaction(TxOpts::default()).await?;
            let mut deleted = 0;
            for row in rows {
                let params: Vec<Value> = guard.iter().map(|&i| row[i].clone()).collect();
                tx.exec_drop(stmt.as_str(), params).await?;
                deleted += tx.affected_rows();
            }
            tx.commit().await?;
            Ok::<u64, mysql_async::Error>(deleted)
        }
        .await
        .map_err(|e| DbError::new(ctx, e));
        self.check(r)
    }

    /// Rows in the table, or matching a search.
    pub async fn count(&mut self, t: &Table, f: Option<&Filter>) -> Result<u64, DbError> {
        let (query, params) = sql::count(t, f);
        let conn = self.conn().await?;
        let r = conn
            .exec_first::<u64, _, _>(query, params)
            .await
            .map_err(|e| DbError::new(format!("counting rows of {}", t.name), e));
        Ok(self.check(r)?.unwrap_or(0))
    }

    /// One page of rows in key order.
    pub async fn page(
        &mut self,
        t: &Table,
        f: Option<&Filter>,
        limit: u64,
        offset: u64,
    ) -> Result<Vec<Vec<Value>>, DbError> {
        let (query, params) = sql::page(t, f, limit, offset);
        self.rows(t, query, params, "reading").await
    }
}
