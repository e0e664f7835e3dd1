//! Streaming a MariaDB binlog over the replication protocol.
//!
//! # Connecting
//! MariaDB positions a replica by GTID when the session sets `@slave_connect_state` (every domain
//! of the start position; a domain left out replays from the first binlog) and
//! `@mariadb_slave_capability=4` before `COM_BINLOG_DUMP`. Every reader registers with its own
//! replica server id: two readers with one id disconnect each other (ERROR 4052).
//!
//! # Resumption
//! The reader remembers the position after the last *complete* event group it read. When the
//! connection drops, times out (no event or heartbeat for three heartbeat periods) or the server
//! restarts, it reconnects with exponential backoff from that position. If a group was only partly
//! read, the consumer first gets [`TxnItem::Abort`] and then the group again from its `Begin`:
//! no loss, no duplicate. ERROR 1236 (the position's binlog is gone) is definite:
//! [`Error::BinlogPurged`].

use std::time::Duration;

use futures::StreamExt;
use mysql_async::binlog::events::Event;
use mysql_async::prelude::*;
use mysql_async::BinlogStream;
use tracing::{debug, info, warn};

use super::assemble::{AssembleOptions, Assembler};
use crate::error::{db_error_is_transient, Error, Result};
use crate::gtid::GtidPos;
use crate::model::TxnItem;

/// What the reader connects to and how.
#[derive(Clone)]
pub struct ReaderOptions {
    /// The server to read from (its account needs REPLICATION SLAVE and BINLOG MONITOR).
    pub opts: mysql_async::Opts,
    /// Replica server id to register with; unique among the server's binlog readers.
    pub replica_id: u32,
    /// Server heartbeat period while idle; the connection counts as dead after three.
    pub heartbeat: Duration,
    /// Longest pause between reconnect attempts.
    pub reconnect_max: Duration,
    /// Name for logs.
    pub label: String,
    pub assemble: AssembleOptions,
}

/// What [`BinlogReader::next`] returns.
#[derive(Debug)]
pub enum Read {
    Item(TxnItem),
    /// The server had nothing new for a heartbeat period: the reader is caught up.
    Idle,
}

/// A binlog stream that survives disconnects.
pub struct BinlogReader {
    opts: ReaderOptions,
    stream: Option<BinlogStream>,
    asm: Assembler,
    /// Set after a break inside a group: the next call reports `Abort` first.
    pending_abort: bool,
    backoff: Duration,
    /// Reconnects so far (for tests and metrics).
    pub reconnects: u64,
}

impl BinlogReader {
    /// A reader that will start after `start` (nothing is sent before the first `next`).
    pub fn new(opts: ReaderOptions, start: GtidPos) -> Self {
        let asm = Assembler::new(opts.assemble.clone(), start);
        Self {
            opts,
            stream: None,
            asm,
            pending_abort: false,
            backoff: Duration::from_millis(100),
            reconnects: 0,
        }
    }

    /// Position after the last complete group read (what a reconnect resumes from).
    pub fn position(&self) -> &GtidPos {
        &self.asm.pos
    }

    /// Connects now, so that a bad position or account is reported at once.
    pub async fn connect(&mut self) -> Result<()> {
        if self.stream.is_none() {
            self.stream = Some(open_stream(&self.opts, &self.asm.pos).await?);
        }
        Ok(())
    }

    /// The next item. Transient failures are retried inside (with backoff) until `Ok` or a
    /// definite error; cancel by dropping the future.
    pub async fn next(&mut self) -> Result<Read> {
        loop {
            if let Some(item) = self.asm.out.pop_front() {
                return Ok(Read::Item(item));
            }
            if self.pending_abort {
                self.pending_abort = false;
                return Ok(Read::Item(TxnItem::Abort));
            }
            if self.stream.is_none() {
                match open_stream(&self.opts, &self.asm.pos).await {
                    Ok(s) => {
                        self.stream = Some(s);
                        self.backoff = Duration::from_millis(100);
                    }
                    Err(e) if e.is_transient() => {
                        warn!(reader = %self.opts.label, error = %e, retry_in = ?self.backoff,
                              "binlog connection failed; retrying");
                        tokio::time::sleep(self.backoff).await;
                        self.backoff = (self.backoff * 2).min(self.opts.reconnect_max);
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            let stream = self.stream.as_mut().unwrap();
            // A busy server sends heartbeats late: only a long silence means a dead connection
            // (a false alarm would re-read a large transaction from its start).
            let wait = (self.opts.heartbeat * 3).max(Duration::from_secs(10));
            let next = tokio::time::timeout(wait, stream.next()).await;
            let problem = match next {
                Ok(Some(Ok(event))) => match self.feed(&event)? {
                    true => return Ok(Read::Idle),
                    false => continue,
                },
                Ok(Some(Err(e))) => {
                    if let mysql_async::Error::Server(s) = &e {
                        if s.code == 1236 {
                            return Err(Error::BinlogPurged {
                                position: self.asm.pos.clone(),
                                server: self.opts.label.clone(),
                                message: s.message.clone(),
                            });
                        }
                    }
                    if !db_error_is_transient(&e) {
                        return Err(Error::Db {
                            context: format!("reading the binlog of {}", self.opts.label),
                            source: e,
                        });
                    }
                    e.to_string()
                }
                Ok(None) => "the server closed the binlog stream".to_string(),
                Err(_) => format!("no event or heartbeat for {wait:?}"),
            };
            self.break_connection(&problem);
        }
    }

    fn break_connection(&mut self, problem: &str) {
        warn!(reader = %self.opts.label, problem, position = %self.asm.pos,
              "binlog stream broke; reconnecting");
        self.stream = None;
        self.reconnects += 1;
        if self.asm.abort_open() {
            self.pending_abort = true;
        }
    }

    /// Feeds one event to the assembler; returns whether it was a heartbeat.
    fn feed(&mut self, event: &Event) -> Result<bool> {
        let h = event.header();
        let ty = h.event_type_raw();
        if ty == super::events::kind::HEARTBEAT {
            return Ok(true);
        }
        self.asm
            .push(ty, h.server_id(), h.timestamp(), event.data())
            .map_err(|e| Error::Decode {
                position: e
                    .at
                    .map(|g| g.to_string())
                    .unwrap_or_else(|| format!("after {}", self.asm.pos)),
                what: e.what,
                problem: e.problem,
            })?;
        Ok(false)
    }
}

/// Opens a binlog dump from `pos`.
async fn open_stream(opts: &ReaderOptions, pos: &GtidPos) -> Result<BinlogStream> {
    let label = &opts.label;
    let mut conn = mysql_async::Conn::new(opts.opts.clone())
        .await
        .map_err(Error::db(format!("connecting to {label} for its binlog")))?;
    let hb_ns = opts.heartbeat.as_nanos().min(u64::MAX as u128) as u64;
    let setup = format!(
        "SET @mariadb_slave_capability=4, @slave_connect_state='{pos}', \
         @slave_gtid_strict_mode=1, @slave_gtid_ignore_duplicates=0, \
         @master_heartbeat_period={hb_ns}"
    );
    conn.query_drop(setup)
        .await
        .map_err(Error::db(format!("preparing the binlog dump on {label}")))?;
    debug!(reader = %label, position = %pos, replica_id = opts.replica_id, "requesting binlog");
    let request = mysql_async::BinlogStreamRequest::new(opts.replica_id)
        .with_filename(b"")
        .with_pos(4u64);
    let stream = conn
        .get_binlog_stream(request)
        .await
        .map_err(|e| match &e {
            mysql_async::Error::Server(s) if s.code == 1236 => Error::BinlogPurged {
                position: pos.clone(),
                server: label.clone(),
                message: s.message.clone(),
            },
            _ => Error::Db {
                context: format!("starting the binlog dump on {label}"),
                source: e,
            },
        })?;
    info!(reader = %label, position = %pos, "binlog stream open");
    Ok(stream)
}
