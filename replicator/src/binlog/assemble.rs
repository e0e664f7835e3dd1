//! Binlog events → transaction items.
//!
//! MariaDB writes a transaction as an event group that starts with a GTID event and ends with
//! XID (InnoDB), with a `COMMIT` query (non-transactional engines), or after its single statement
//! when the GTID event is flagged standalone (DDL). The [`Assembler`] turns such groups into
//! `Begin`, `Rows`…, `Query`…, `Commit` items, decoding rows into bounded chunks as it goes (a
//! large transaction never sits in memory whole), skipping groups of domains it was not asked
//! for without decoding them, and dropping rows of schemas the filter rejects. It owns no
//! connection: the reader feeds it, and so can a benchmark.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;

use super::events::{kind, GtidEvent, QueryEvent};
use super::rows::{decode_rows, rows_kind, rows_table_id, NO_FOREIGN_KEY_CHECKS_F};
use super::table::{table_map_name, TableDecoder};
use crate::gtid::{Gtid, GtidPos};
use crate::model::{QueryItem, RowsChunk, StatementSession, TxnBegin, TxnCommit, TxnItem};

/// Which schemas' rows are kept. Returns false for schemas to drop.
/// Which tables' rows to keep: called with the schema and the table name.
pub type SchemaFilter = Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

/// Told about each transaction of another domain that `only_domain` skipped: its GTID, the
/// `schema.table` names its rows touched, and whether it ran a statement (DDL).
pub type ForeignHook = Arc<dyn Fn(Gtid, &[String], bool) + Send + Sync>;

/// Assembly limits and filters.
#[derive(Clone)]
pub struct AssembleOptions {
    /// Called for every skipped transaction of another domain.
    pub foreign: Option<ForeignHook>,
    /// Only groups of this domain are emitted (the agent captures its own domain only).
    pub only_domain: Option<u32>,
    /// Rows of schemas it rejects are dropped (their transactions still emit Begin/Commit).
    pub schema_filter: Option<SchemaFilter>,
    /// Rows per chunk at most.
    pub chunk_rows: usize,
    /// Approximate bytes per chunk at most.
    pub chunk_bytes: usize,
}

impl Default for AssembleOptions {
    fn default() -> Self {
        Self {
            foreign: None,
            only_domain: None,
            schema_filter: None,
            chunk_rows: 4096,
            chunk_bytes: 4 << 20,
        }
    }
}

/// The group being read.
struct Open {
    gtid: Gtid,
    standalone: bool,
    /// Not emitted (other domain).
    skip: bool,
    rows: u64,
    /// Skipped groups: the tables their rows touched, and whether they ran a statement.
    foreign_tables: Vec<String>,
    foreign_ddl: bool,
    /// What the INTVAR, RAND and USER_VAR events before the next statement said.
    vars: StatementSession,
}

/// A decoding failure, with where it happened.
#[derive(Debug, Clone)]
pub struct AssembleError {
    pub at: Option<Gtid>,
    pub what: String,
    pub problem: String,
}

/// Event groups in, transaction items out.
pub struct Assembler {
    opts: AssembleOptions,
    tables: HashMap<u64, TableDecoder>,
    open: Option<Open>,
    chunk: Option<RowsChunk>,
    chunk_bytes: usize,
    /// Items ready for the consumer.
    pub out: VecDeque<TxnItem>,
    /// Every group read completely (emitted or skipped).
    pub pos: GtidPos,
}

impl Assembler {
    pub fn new(opts: AssembleOptions, start: GtidPos) -> Self {
        Self {
            opts,
            tables: HashMap::new(),
            open: None,
            chunk: None,
            chunk_bytes: 0,
            out: VecDeque::new(),
            pos: start,
        }
    }

    /// Whether a group has been started and not finished.
    pub fn in_txn(&self) -> bool {
        self.open.is_some()
    }

    /// The GTID of the open group, if any.
    pub fn open_gtid(&self) -> Option<Gtid> {
        self.open.as_ref().map(|o| o.gtid)
    }

    /// Forgets a partly read group (the connection broke): returns whether its items had started
    /// to be emitted, in which case the consumer must be told to abort it.
    pub fn abort_open(&mut self) -> bool {
        self.chunk = None;
        self.chunk_bytes = 0;
        match self.open.take() {
            Some(o) => !o.skip,
            None => false,
        }
    }

    fn fail(&self, what: &str, problem: impl Into<String>) -> AssembleError {
        AssembleError {
            at: self.open_gtid(),
            what: what.into(),
            problem: problem.into(),
        }
    }

    /// Feeds one event: its type, origin server id and timestamp from the header, and its body
    /// (checksum removed).
    pub fn push(
        &mut self,
        event_type: u8,
        server_id: u32,
        timestamp: u32,
        body: &[u8],
    ) -> Result<(), AssembleError> {
        match event_type {
            kind::GTID => {
                let g = GtidEvent::parse(body, server_id)
                    .ok_or_else(|| self.fail("GTID event", "too short"))?;
                if self.open.is_some() {
                    // A group without its end (the origin crashed mid-write): drop it.
                    self.abort_open();
                    self.out.push_back(TxnItem::Abort);
                }
                if g.xa() {
                    return Err(self.fail(
                        "XA transaction",
                        format!(
                            "{} is part of a two-phase XA transaction (XA PREPARE, then XA \
                             COMMIT), which starsync does not replicate, and replication of \
                             this server's changes cannot go past it. Use ordinary transactions, \
                             or XA COMMIT … ONE PHASE (replicated like one). To go on, resync \
                             the snaps that need these changes (`replicator agent --resync`; on \
                             the snap that ran it, `--resync --discard-unshipped`, which drops \
                             its changes not yet on the master)",
                            g.gtid
                        ),
                    ));
                }
                let skip = self.opts.only_domain.is_some_and(|d| d != g.gtid.domain);
                self.open = Some(Open {
                    gtid: g.gtid,
                    standalone: g.standalone(),
                    skip,
                    rows: 0,
                    foreign_tables: Vec::new(),
                    foreign_ddl: false,
                    vars: StatementSession::default(),
                });
                if !skip {
                    self.out.push_back(TxnItem::Begin(TxnBegin {
                        gtid: g.gtid,
                        timestamp,
                        // A standalone group is one statement outside any transaction, DDL
                        // or not (`FLUSH PRIVILEGES` is logged so without the DDL flag): it
                        // is applied like DDL, the statement itself taking the GTID.
                        ddl: g.ddl() || g.standalone(),
                        non_transactional: !g.transactional(),
                    }));
                }
            }
            kind::TABLE_MAP => {
                if let Some(open) = self.open.as_mut().filter(|o| o.skip) {
                    if self.opts.foreign.is_some() {
                        if let Some(name) = table_map_name(body) {
                            if !open.foreign_tables.contains(&name) {
                                open.foreign_tables.push(name);
                            }
                        }
                    }
                    return Ok(());
                }
                let id = rows_table_id(body).map(|x| x.0).unwrap_or(u64::MAX);
                let reuse = self.tables.get(&id).is_some_and(|t| t.raw == body);
                if !reuse {
                    let t =
                        TableDecoder::parse(body).map_err(|e| self.fail("table map event", e.0))?;
                    if self.tables.len() > 10_000 {
                        self.tables.clear();
                    }
                    self.tables.insert(id, t);
                }
            }
            t if rows_kind(t).is_some() => {
                let Some(open) = self.open.as_ref() else {
                    return Err(self.fail("rows event", "outside of a transaction"));
                };
                if open.skip {
                    return Ok(());
                }
                let gtid = open.gtid;
                let (kind, v2) = rows_kind(t).unwrap();
                let (id, flags) =
                    rows_table_id(body).ok_or_else(|| self.fail("rows event", "too short"))?;
                let no_fk_checks = flags & NO_FOREIGN_KEY_CHECKS_F != 0;
                let Some(meta) = self.tables.get(&id).map(|t| t.meta.clone()) else {
                    return Err(self.fail("rows event", format!("no table map for table id {id}")));
                };
                if let Some(f) = &self.opts.schema_filter {
                    if !f(&meta.schema, &meta.table) {
                        return Ok(());
                    }
                }
                let same = self.chunk.as_ref().is_some_and(|c| {
                    c.kind == kind && Arc::ptr_eq(&c.table, &meta) && c.no_fk_checks == no_fk_checks
                });
                if !same {
                    self.flush_chunk();
                    self.chunk = Some(RowsChunk {
                        no_fk_checks,
                        ..RowsChunk::new(meta.clone(), kind, Vec::new())
                    });
                }
                let table = &self.tables[&id];
                let chunk = self.chunk.as_mut().unwrap();
                let bytes = Bytes::copy_from_slice(body);
                let n = decode_rows(table, kind, v2, &bytes, &mut chunk.values).map_err(|e| {
                    AssembleError {
                        at: Some(gtid),
                        what: format!("rows of {}", meta.full_name()),
                        problem: e.0,
                    }
                })?;
                let rows_in_chunk = chunk.len();
                if let Some(o) = self.open.as_mut() {
                    o.rows += n as u64;
                }
                self.chunk_bytes += body.len();
                if rows_in_chunk >= self.opts.chunk_rows
                    || self.chunk_bytes >= self.opts.chunk_bytes
                {
                    self.flush_chunk();
                }
            }
            kind::QUERY | kind::EXECUTE_LOAD_QUERY => {
                // `LOAD DATA` logged as a statement: read as a QUERY event without the 13 bytes
                // its post-header adds (file id, file name position, duplicate handling).
                let load_data = event_type == kind::EXECUTE_LOAD_QUERY;
                let joined;
                let body = if load_data {
                    joined = match (body.get(..13), body.get(26..)) {
                        (Some(a), Some(b)) => [a, b].concat(),
                        _ => return Err(self.fail("execute load query event", "too short")),
                    };
                    &joined[..]
                } else {
                    body
                };
                let q =
                    QueryEvent::parse(body).ok_or_else(|| self.fail("query event", "malformed"))?;
                let Some(open) = self.open.as_ref() else {
                    // Outside any group (older servers, or a stream started mid-group): ignore.
                    return Ok(());
                };
                let sql = q.sql;
                if sql.eq_ignore_ascii_case(b"BEGIN") {
                    return Ok(());
                }
                if sql.eq_ignore_ascii_case(b"COMMIT") {
                    self.finish();
                    return Ok(());
                }
                if sql.eq_ignore_ascii_case(b"ROLLBACK") {
                    if self.abort_open() {
                        self.out.push_back(TxnItem::Abort);
                    }
                    return Ok(());
                }
                let standalone = open.standalone;
                if open.skip {
                    self.open.as_mut().unwrap().foreign_ddl = true;
                } else {
                    self.flush_chunk();
                    let vars = std::mem::take(&mut self.open.as_mut().unwrap().vars);
                    self.out.push_back(TxnItem::Query(QueryItem {
                        schema: String::from_utf8_lossy(q.schema).into_owned(),
                        sql: sql.to_vec(),
                        charset: q.charset,
                        session: Some(Box::new(StatementSession {
                            timestamp_us: Some(
                                u64::from(timestamp) * 1_000_000 + u64::from(q.micros.unwrap_or(0)),
                            ),
                            insert_id: vars.insert_id,
                            last_insert_id: vars.last_insert_id,
                            rand_seed: vars.rand_seed,
                            user_vars: vars.user_vars,
                            load_data,
                            ..q.session
                        })),
                    }));
                }
                if standalone {
                    self.finish();
                }
            }
            kind::INTVAR | kind::RAND | kind::USER_VAR => {
                let Some(open) = self.open.as_mut().filter(|o| !o.skip) else {
                    return Ok(());
                };
                let v = &mut open.vars;
                let ok = match event_type {
                    kind::INTVAR => super::events::intvar(body).map(|(ty, n)| match ty {
                        1 => v.last_insert_id = Some(n),
                        2 => v.insert_id = Some(n),
                        _ => {}
                    }),
                    kind::RAND => super::events::rand_seeds(body).map(|r| v.rand_seed = Some(r)),
                    _ => super::events::user_var(body).map(|u| v.user_vars.push(u)),
                };
                if ok.is_none() {
                    return Err(self.fail("statement context event", "malformed"));
                }
            }
            kind::XID => self.finish(),
            kind::XA_PREPARE => {
                return Err(self.fail("XA PREPARE", "XA transactions are not replicated"));
            }
            kind::QUERY_COMPRESSED | kind::ROWS_COMPRESSED_FIRST..=kind::ROWS_COMPRESSED_LAST => {
                return Err(self.fail(
                    "compressed event",
                    "the server writes compressed binlog events: set log_bin_compress=OFF",
                ));
            }
            // File markers, annotations, statement-based helpers: nothing to replicate.
            _ => {}
        }
        Ok(())
    }

    fn flush_chunk(&mut self) {
        if let Some(c) = self.chunk.take() {
            if !c.is_empty() {
                self.out.push_back(TxnItem::Rows(c));
            }
        }
        self.chunk_bytes = 0;
    }

    fn finish(&mut self) {
        let Some(open) = self.open.take() else {
            return;
        };
        if open.skip {
            if let Some(hook) = &self.opts.foreign {
                hook(open.gtid, &open.foreign_tables, open.foreign_ddl);
            }
        } else {
            self.flush_chunk();
            self.out.push_back(TxnItem::Commit(TxnCommit {
                gtid: open.gtid,
                rows: open.rows,
            }));
        }
        self.pos.advance(open.gtid);
    }
}
