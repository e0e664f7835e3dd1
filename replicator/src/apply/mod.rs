//! Exact apply of transaction items to a MariaDB server.
//!
//! # Guarantees
//! - **Atomic and GTID-preserving**: a transaction is applied in one DB transaction whose GTID is
//!   the origin's (`SET gtid_domain_id, server_id` then `SET gtid_seq_no`: two statements, because
//!   the server checks `gtid_seq_no` against the domain in force *before* the SET). A
//!   transaction also writes one bookkeeping row (`starsync.applied`), so even a transaction whose
//!   rows change nothing lands in the binlog with its GTID; small ones whose statements certainly
//!   write a row leave it out ([`small`]).
//! - **Exactly once**: the target's `@@gtid_binlog_pos` is read at connect and advanced at every
//!   commit; a transaction it already holds is skipped. `gtid_strict_mode` makes the server refuse
//!   a duplicate anyway (ERROR 1950).
//! - **Force to image**: inserts and updates become upserts of the after-image by primary key,
//!   deletes delete the key if present; tables without a primary key are matched on the whole row.
//!   Rows are mapped by column name ([`sql::TablePlan`]).
//! - With conflict detection on (the hub), each row's before-image is compared with the current
//!   row first; a difference is applied anyway (hub order wins) and recorded in
//!   `starsync.conflicts` in the same transaction.
//!
//! Bulk rows go through prepared statements with MariaDB's bulk execute (`exec_batch`): no
//! escaping, one round trip per chunk.

mod cascade;
mod conflict;
pub mod fk;
mod nontx;
pub mod refused;
pub mod retry;
pub mod small;
pub mod sql;
pub mod values;

use std::collections::HashMap;
use std::sync::Arc;

use mysql_async::prelude::*;
use mysql_async::Conn;
use tracing::{debug, error, info, warn};

use crate::config::STATE_SCHEMA;
use crate::error::{Error, Result};
use crate::gtid::{Gtid, GtidPos};
use crate::model::{QueryItem, RowKind, RowsChunk, TableMeta, TxnBegin, TxnCommit, Value};
use sql::TablePlan;
use values::params;

/// DDL that creates starsync's own tables; run with `sql_log_bin=0` so it replicates nowhere.
pub const STATE_DDL: &[&str] = &[
    "CREATE DATABASE IF NOT EXISTS starsync",
    "CREATE TABLE IF NOT EXISTS starsync.applied (
        domain_id INT UNSIGNED NOT NULL PRIMARY KEY,
        server_id INT UNSIGNED NOT NULL,
        seq_no BIGINT UNSIGNED NOT NULL,
        origin_ts INT UNSIGNED NOT NULL,
        applied_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
    ) ENGINE=InnoDB",
    "CREATE TABLE IF NOT EXISTS starsync.echo_pos (
        domain_id INT UNSIGNED NOT NULL PRIMARY KEY,
        server_id INT UNSIGNED NOT NULL,
        seq_no BIGINT UNSIGNED NOT NULL
    ) ENGINE=InnoDB",
    "CREATE TABLE IF NOT EXISTS starsync.sync_state (
        id TINYINT UNSIGNED NOT NULL PRIMARY KEY,
        status VARCHAR(16) NOT NULL,
        pos VARCHAR(2048) NOT NULL,
        rows_loaded BIGINT UNSIGNED NOT NULL DEFAULT 0,
        updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
    ) ENGINE=InnoDB",
    // On a snap: present while the agent holds local writes off (`read_only`) because the
    // snap's databases are being replaced by the master's; `previous` is the setting to restore.
    "CREATE TABLE IF NOT EXISTS starsync.read_only_hold (
        id TINYINT UNSIGNED NOT NULL PRIMARY KEY,
        previous TINYINT UNSIGNED NOT NULL,
        reason VARCHAR(128) NOT NULL,
        since TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
    ) ENGINE=InnoDB",
    // On a snap: the number of its newest binlog file when the agent last looked (MariaDB
    // numbers binlog files upwards; a lower number later means the binlog was reset: RESET
    // MASTER), and, once the agent saw such a reset after the master had received the snap's
    // transactions, what it saw: the snap's new writes reuse GTIDs the master holds, and its
    // replication stays stopped until a resync clears this.
    "CREATE TABLE IF NOT EXISTS starsync.binlog_seen (
        id TINYINT UNSIGNED NOT NULL PRIMARY KEY,
        file_no BIGINT UNSIGNED NOT NULL,
        reset_seen VARCHAR(1024) NULL,
        updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
    ) ENGINE=InnoDB",
    // On the master: every snap the hub has served, and the oldest position of the master's
    // binlog it still needs (`master-admin purge-binlogs` keeps those binlogs).
    "CREATE TABLE IF NOT EXISTS starsync.snaps (
        name VARCHAR(64) NOT NULL PRIMARY KEY,
        server_id INT UNSIGNED NOT NULL,
        domain_id INT UNSIGNED NOT NULL,
        gtid_pos VARCHAR(2048) NOT NULL,
        needs_from VARCHAR(2048) NOT NULL,
        last_seen TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
    ) ENGINE=InnoDB",
    "CREATE TABLE IF NOT EXISTS starsync.conflicts (
        id BIGINT AUTO_INCREMENT PRIMARY KEY,
        detected_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
        schema_name VARCHAR(64) NOT NULL,
        table_name VARCHAR(64) NOT NULL,
        kind VARCHAR(32) NOT NULL,
        row_key JSON NOT NULL,
        origin_node VARCHAR(64) NOT NULL,
        origin_gtid VARCHAR(64) NOT NULL,
        master_image JSON NULL,
        incoming_before JSON NULL,
        incoming_after JSON NULL,
        KEY (detected_at)
    ) ENGINE=InnoDB",
    refused::DDL,
    // On a snap: the master's images of rows that had an own change on its way to the master,
    // left alone until that change's echo comes back ([`crate::agent::inflight`]). Each row is
    // written with the transaction that left the image alone and deleted with the echo that
    // writes it; a restarted agent loads them.
    "CREATE TABLE IF NOT EXISTS starsync.left_alone (
        row_hash BINARY(32) NOT NULL PRIMARY KEY,
        table_name VARCHAR(200) NOT NULL,
        stored LONGBLOB NOT NULL,
        left_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
    ) ENGINE=InnoDB",
];

/// The apply session's `sql_mode`, for [`APPLY_SQL_MODE`] and [`STRICT`] (one list). Values
/// are written as the origin stored them: a 0 into an `AUTO_INCREMENT` column stays 0, zero
/// dates and (`ALLOW_INVALID_DATES`) the dates a snap running with that mode allowed are taken
/// as they are. Not strict: a value the target's column cannot hold (its type was narrowed, an
/// `ENUM` shrunk, a character set changed there while the origin wrote) is converted with a
/// warning, as the target's own `ALTER` converted its rows; the hub records each such row (kind
/// `converted`, the value as sent kept), so that the nodes converge and nothing goes unseen.
macro_rules! apply_sql_mode {
    () => {
        "NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION,ALLOW_INVALID_DATES"
    };
}

/// The apply session's `sql_mode` (see [`apply_sql_mode`]).
pub(crate) const APPLY_SQL_MODE: &str = apply_sql_mode!();

/// A statement prefix that runs it with [`APPLY_SQL_MODE`] made strict: a value the column
/// cannot hold fails it (the hub's one-query path, which then goes row by row, where the
/// conversion is recorded).
pub(crate) const STRICT: &str = concat!(
    "SET STATEMENT sql_mode='STRICT_ALL_TABLES,",
    apply_sql_mode!(),
    "' FOR "
);

/// `sql_mode` bits STRICT_TRANS_TABLES and STRICT_ALL_TABLES (as `SET sql_mode = N` reads them).
const STRICT_MODES: u64 = 1 << 21 | 1 << 22;

/// Server errors a strict `sql_mode` makes of a value converted to fit its column (the hub
/// records a row refused so as `bad_value`).
pub(crate) const CONVERSION_ERRORS: [u16; 5] = [1264, 1265, 1292, 1366, 1406];

/// Undoes [`session_settings`] and a statement's client charset: the apply session's own.
const RESTORE_SESSION: &str = concat!(
    "SET NAMES binary; SET SESSION sql_mode = '",
    apply_sql_mode!(),
    "', time_zone = '+00:00', foreign_key_checks = 1, \
     collation_server = @@global.collation_server, timestamp = DEFAULT, insert_id = 0, \
     auto_increment_increment = @@global.auto_increment_increment, \
     auto_increment_offset = @@global.auto_increment_offset, \
     lc_time_names = @@global.lc_time_names"
);

/// `SET` statements giving the apply session a statement's origin settings. Without the origin's
/// `sql_mode`, a master's `CREATE TABLE "t" …` under `ANSI_QUOTES` failed on the snaps, a
/// generated column `a || b` under `PIPES_AS_CONCAT` became `a OR b` there, a default
/// `'C:\new'` under `NO_BACKSLASH_ESCAPES` took a newline, and routines kept the apply
/// session's mode; without its time zone a `TIMESTAMP` default meant another instant. The time
/// zone is in the event only when it was not the server's default: then it is this server's.
fn session_settings(s: &crate::model::StatementSession) -> String {
    let mut sets = Vec::new();
    if let Some(mode) = s.sql_mode {
        sets.push(format!("sql_mode = {mode}"));
    }
    match &s.time_zone {
        Some(tz) => sets.push(format!(
            "time_zone = '{}'",
            tz.replace('\\', "\\\\").replace('\'', "\\'")
        )),
        None => sets.push("time_zone = DEFAULT".into()),
    }
    if s.no_foreign_key_checks {
        sets.push("foreign_key_checks = 0".into());
    }
    if s.collation_server != 0 {
        sets.push(format!("collation_server = {}", s.collation_server));
    }
    // What makes a statement-logged data change give the origin's rows: its time (`NOW()`),
    // its auto-increment values, `LAST_INSERT_ID()`, `RAND()`.
    if let Some(us) = s.timestamp_us {
        sets.push(format!(
            "timestamp = {}.{:06}",
            us / 1_000_000,
            us % 1_000_000
        ));
    }
    if let Some(n) = s.insert_id {
        sets.push(format!("insert_id = {n}"));
    }
    if let Some((inc, off)) = s.auto_increment {
        sets.push(format!(
            "auto_increment_increment = {inc}, auto_increment_offset = {off}"
        ));
    }
    if let Some(n) = s.lc_time_names {
        sets.push(format!("lc_time_names = {n}"));
    }
    if let Some(n) = s.last_insert_id {
        sets.push(format!("last_insert_id = {n}"));
    }
    if let Some((a, b)) = s.rand_seed {
        sets.push(format!("rand_seed1 = {a}, rand_seed2 = {b}"));
    }
    format!("SET SESSION {}", sets.join(", "))
}

/// `SET @name = value` for the user variables a statement read on its origin, each of the
/// origin's type: a decimal keeps its scale, a string its character set and collation (made by
/// `CAST(… AS CHAR)` under the collation's id, which the session takes as a number).
async fn set_user_vars(conn: &mut Conn, vars: &[crate::model::UserVar]) -> Result<()> {
    use crate::model::UserVarValue as V;
    for u in vars {
        let value = match &u.value {
            V::Null => "NULL".to_string(),
            V::Int(n) => n.to_string(),
            V::UInt(n) => n.to_string(),
            V::Real(f) => format!("{f:e}"),
            // Exact text from the binlog's decimal (digits, sign, point): a DECIMAL literal.
            V::Decimal(d) => d.clone(),
            V::Str {
                collation: 63,
                bytes,
            } => format!("X'{}'", hex::encode(bytes)),
            V::Str { bytes, .. } => format!("CAST(X'{}' AS CHAR)", hex::encode(bytes)),
        };
        let prep = match &u.value {
            V::Str { collation, .. } if *collation != 63 => {
                format!("SET SESSION collation_connection = {collation}; ")
            }
            _ => String::new(),
        };
        conn.query_drop(format!("{prep}SET @{} = {value}", sql::ident(&u.name)))
            .await
            .map_err(Error::db(format!("setting the user variable @{}", u.name)))?;
    }
    Ok(())
}

/// Creates starsync's schema on `conn` without binlogging it.
pub async fn ensure_state_schema(conn: &mut Conn) -> Result<()> {
    conn.query_drop("SET SESSION sql_log_bin=0")
        .await
        .map_err(Error::db("disabling binlog for starsync's own tables"))?;
    for ddl in STATE_DDL {
        conn.query_drop(*ddl)
            .await
            .map_err(Error::db("creating starsync's bookkeeping tables"))?;
    }
    conn.query_drop("SET SESSION sql_log_bin=1")
        .await
        .map_err(Error::db("re-enabling binlog"))?;
    Ok(())
}

/// Reads `@@gtid_binlog_pos`.
pub async fn gtid_binlog_pos(conn: &mut Conn) -> Result<GtidPos> {
    let s: Option<String> = conn
        .query_first("SELECT @@gtid_binlog_pos")
        .await
        .map_err(Error::db("reading gtid_binlog_pos"))?;
    s.unwrap_or_default()
        .parse()
        .map_err(|e: crate::gtid::ParseGtidError| Error::Decode {
            position: "gtid_binlog_pos".into(),
            what: "server position".into(),
            problem: e.to_string(),
        })
}

/// Reads the persisted echo positions (own-domain transactions that came back from the hub).
pub async fn echo_pos(conn: &mut Conn) -> Result<GtidPos> {
    let rows: Vec<(u32, u32, u64)> = conn
        .query("SELECT domain_id, server_id, seq_no FROM starsync.echo_pos")
        .await
        .map_err(Error::db("reading starsync.echo_pos"))?;
    Ok(rows
        .into_iter()
        .map(|(d, s, n)| Gtid::new(d, s, n))
        .collect())
}

/// How one transaction is applied.
#[derive(Debug, Clone, Default)]
pub struct TxnMode {
    /// Binlog it under the origin's GTID (foreign changes, hub ingest). When false the
    /// transaction is applied with `sql_log_bin=0` (echoes, snapshot loads).
    pub preserve_gtid: bool,
    /// Compare before-images and record conflicts (hub ingest).
    pub detect_conflicts: bool,
    /// An echo of our own transaction: persist it in `starsync.echo_pos`.
    pub echo: bool,
    /// Origin node name, for the conflict log.
    pub origin: String,
    /// A snap applying the master's own writes (a DBA's client), whose cascades are not in
    /// the binlog: a delete of a row that cascading keys refer to makes its cascade here
    /// explicitly where the server does not make it (the row left alone by `skip_row`, or
    /// the transaction applied without foreign key checks): `Applier::cascade_here`,
    /// apply/cascade.rs.
    pub cascade_here: bool,
}

/// Rows for which this returns true are not applied (the agent's in-flight rule); it gets a
/// row's before and after images.
pub type SkipRow<'a> = &'a (dyn Fn(&TableMeta, Option<&[Value]>, Option<&[Value]>) -> bool + Sync);

/// Called, with the target's position, before an echo's rows are applied; returns once every
/// own transaction up to that position has been captured (the agent's capture registers the
/// row keys of each transaction it reads).
pub type EchoGuard = Arc<dyn Fn(GtidPos) -> futures::future::BoxFuture<'static, ()> + Send + Sync>;

/// Tells the applier which echo rows would change nothing ([`crate::echo_skip`]); the agent's
/// capture records what own transactions left.
pub trait EchoSkip: Send + Sync {
    /// Waits until capture has read the local binlog up to `local`; false when it did not in
    /// time (then nothing is left out).
    fn ready(&self, local: GtidPos) -> futures::future::BoxFuture<'static, bool>;
    /// The result (see [`crate::echo_skip::TableHash::result`]) own transaction `seq` left on `key` of
    /// `table`, when known and no foreign transaction touched the table since.
    fn own_final(&self, seq: u64, table: &str, key: u64) -> Option<u64>;
    /// Whether own transaction `seq` is recorded and no foreign transaction touched `table`
    /// since (otherwise no row of it can be left out, and nothing is hashed).
    fn eligible(&self, seq: u64, table: &str) -> bool;
    /// `rows` echo rows were left out.
    fn skipped(&self, rows: u64);
    /// The applier changed rows of `table` that the change it applies does not carry (rows
    /// holding a unique value it takes): no echo row of the table may be left out as held.
    fn touched(&self, table: &str);
}

/// The agent's images left alone ([`crate::agent::inflight`]), as `Applier::cascade_here`
/// needs them.
pub trait LeftImages: Send + Sync {
    /// Makes the images left alone for rows of `table` whose `columns` hold `values` deletes
    /// (with `set_null`, those columns NULL).
    fn cascade(
        &self,
        table: &str,
        columns: &[String],
        values: &[Value],
        set_null: bool,
    ) -> CascadedImages;

    /// Gives the images left alone for rows of `table` whose `filter` columns hold those
    /// values the `set` values (the master's update of a row they follow, made here by
    /// `Applier::follow_here`).
    fn follow(&self, table: &str, filter: &[(String, Value)], set: &[(String, Value)]);

    /// Whether rows of `table` (`schema.table`) have images left alone.
    fn has_images(&self, table: &str) -> bool;

    /// Whether rows of `table` (`schema.table`) have own changes in flight.
    fn has_keys(&self, table: &str) -> bool;

    /// Whether the row of `table` with the encoded primary key `key` has an own change in
    /// flight.
    fn holds(&self, table: &str, key: &[u8]) -> bool;

    /// The encoded primary keys of the rows of `table` with own changes in flight.
    fn keys_of(&self, table: &str) -> Vec<Vec<u8>>;
}

/// What [`LeftImages::cascade`] found and changed.
#[derive(Debug, Default)]
pub struct CascadedImages {
    /// The encoded keys of every row of the table that has an image left alone.
    pub imaged: std::collections::HashSet<Vec<u8>>,
    /// The images it made deletes: each row's table and values, as the master held them (its
    /// cascade goes on from them there).
    pub deleted: Vec<(Arc<TableMeta>, Vec<Value>)>,
}

/// Rows of starsync's own tables that go with the next transaction the applier commits, in it
/// (the agent's images left alone, [`crate::agent::inflight`]): they are committed with the
/// change that made them or not at all.
pub trait CommitRows: Send + Sync {
    /// The statements to run before `COMMIT` (none: nothing to write).
    fn sql(&self) -> Vec<String>;
    /// The transaction that ran the last [`CommitRows::sql`] committed.
    fn committed(&self);
}

/// One row's (before, after) images.
pub(crate) type RowPair<'a> = (Option<&'a [Value]>, Option<&'a [Value]>);

/// The rows of a chunk that `skip` does not exclude (by either image).
pub(crate) fn kept_rows<'a>(chunk: &'a RowsChunk, skip: Option<SkipRow<'_>>) -> Vec<RowPair<'a>> {
    chunk
        .rows()
        .filter(|r| !skipped(r, &chunk.table, skip))
        .collect()
}

/// Whether an update among `rows` moves a row to another key (of `plan`): such rows need the
/// old key deleted and the new one written, in the origin's order.
pub(crate) fn moves_a_key(plan: &TablePlan, rows: &[RowPair<'_>]) -> bool {
    rows.iter().any(|r| match r {
        (Some(b), Some(a)) => plan.moves(b, a),
        _ => false,
    })
}

/// Whether `skip` excludes a row (by either image).
fn skipped(row: &RowPair<'_>, table: &TableMeta, skip: Option<SkipRow<'_>>) -> bool {
    skip.is_some_and(|f| f(table, row.0, row.1))
}

/// The part to apply of a row that `skip` does not exclude but that moves between a key in
/// flight and one that is not ([`crate::agent::inflight`] keeps the image of the key in flight
/// and lets the row through, so that the other key's part is not lost): the new key's row
/// alone (`(None, after)`) when the old key is in flight, the old key's delete alone
/// (`(before, None)`) when the new one is. Applied whole, the move wrote the master's row over
/// an own change in flight at the new key (or deleted one at the old key), and nothing put the
/// own change back: its echo was left out as what this node held already. `None`: apply the
/// row as it is. (A call of `skip` with one image gives the key the same image as with both.)
fn moved_in_part<'a>(
    row: &RowPair<'a>,
    plan: &TablePlan,
    table: &TableMeta,
    skip: Option<SkipRow<'_>>,
) -> Option<RowPair<'a>> {
    let (skip, (Some(b), Some(a))) = (skip?, *row) else {
        return None;
    };
    if !plan.moves(b, a) {
        return None;
    }
    if skip(table, Some(b), None) {
        Some((None, Some(a)))
    } else if skip(table, None, Some(a)) {
        Some((Some(b), None))
    } else {
        None
    }
}

/// A committed transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub gtid: Gtid,
    pub rows: u64,
    pub conflicts: u64,
    /// The transaction was already held and nothing was done.
    pub skipped: bool,
    /// Its DDL statement failed here for good (`statement: error`); the GTID was recorded
    /// without it, so this node's schema differs from the origin's.
    pub ddl_failed: Option<String>,
}

struct Open {
    begin: TxnBegin,
    mode: TxnMode,
    /// Already held by the target: ignore items until the commit.
    skip: bool,
    rows: u64,
    conflicts: u64,
    /// A DDL transaction failed: commit an empty transaction with its GTID instead.
    ddl_error: Option<String>,
    ddl_ran: bool,
    /// The statement of a DDL group, run when the next item shows what kind of group it is:
    /// followed by the commit, an ordinary DDL (binlogged, it takes the GTID); followed by
    /// rows, `CREATE TABLE … SELECT` ([`Applier::create_for_rows`]).
    pending_ddl: Option<QueryItem>,
    /// A `CREATE TABLE … SELECT`: the table was created unlogged and the group's rows are
    /// applied in an ordinary transaction that takes the GTID.
    ddl_as_txn: bool,
    /// `SETVAL` statements of the transaction's sequence rows, run at its commit
    /// ([`Applier::sequence_rows`]), and how many rows they stand for.
    sequences: Vec<String>,
    sequence_rows: u64,
    savepoints: u32,
    /// Echo: whether capture had read everything before it (asked once per transaction).
    echo_ready: Option<bool>,
    /// Echo: keys already written by this transaction (their later rows are always written).
    echo_written: std::collections::HashSet<u64>,
    /// A non-transactional group from the hub, applied on a snap ([`unlogged_group`]): its
    /// rows unlogged, the GTID taken by the bookkeeping row at the commit.
    unlogged_rows: bool,
    /// The hub: a non-transactional group's rows, written as one statement at its end
    /// ([`nontx`]).
    nontx_rows: Vec<(RowsChunk, Arc<TablePlan>)>,
    /// The hub: the conflicts of a non-transactional group, recorded after its commit
    /// ([`Applier::check_non_transactional`]).
    nontx_conflicts: Vec<conflict::NontxConflict>,
}

/// Whether a group is applied with its rows unlogged and its GTID on the bookkeeping row: a
/// snap's apply of the master's non-transactional group (MyISAM, Aria). MariaDB logs each
/// statement on such a table as a group of its own, so a change the snap cannot make in one
/// statement (a key moved; a unique value displaced) would log GTIDs its origin never made,
/// and the origin's own later GTIDs would then be taken for applied. A snap's binlog holds
/// foreign changes only for its position (capture reads its own domain), so nothing is lost by
/// not logging them. The master's binlog is the stream: the hub logs as always.
fn unlogged_group(b: &TxnBegin, mode: &TxnMode) -> bool {
    b.non_transactional && !b.ddl && mode.preserve_gtid && !mode.detect_conflicts && !mode.echo
}

/// Applies transaction items to one target server over one connection.
pub struct Applier {
    conn: Conn,
    label: String,
    /// What the target holds (`gtid_binlog_pos`), advanced at each commit.
    pos: GtidPos,
    /// Echoes already applied (own domain).
    echo: GtidPos,
    plans: HashMap<TableMeta, Arc<TablePlan>>,
    open: Option<Open>,
    log_bin: bool,
    gtid_session: Option<(u32, u32)>,
    /// Warned about missing columns already (per table).
    warned: std::collections::HashSet<String>,
    echo_guard: Option<EchoGuard>,
    echo_skip: Option<Arc<dyn EchoSkip>>,
    left_images: Option<Arc<dyn LeftImages>>,
    commit_rows: Option<Arc<dyn CommitRows>>,
    /// Cascading foreign keys per table (hub ingest, [`cascade`]).
    cascades: cascade::CascadeCache,
    /// A transaction applied without foreign key checks: the master's change adds a row whose
    /// parent this node deleted, in a change of its own the master refuses ([`fk`]).
    without_fk_checks: Option<Gtid>,
    /// The next delete chunk is made without foreign key checks: rows here refused it, all of
    /// them with own changes in flight ([`Applier::refused_by_own_rows_only`]).
    next_delete_over_own_rows: bool,
    /// The target's `max_allowed_packet`: a one-round-trip query must fit it.
    max_packet: usize,
    /// Character set names by collation id, as this server knows them.
    charsets: HashMap<u16, Option<String>>,
}

impl Applier {
    /// Connects and prepares the session (binary client charset, UTC, no auto-increment on 0,
    /// found-rows counting, starsync's tables).
    pub async fn connect(opts: &mysql_async::Opts, label: &str) -> Result<Applier> {
        let opts = mysql_async::OptsBuilder::from_opts(opts.clone())
            .client_found_rows(true)
            .stmt_cache_size(Some(512));
        let mut conn = Conn::new(opts)
            .await
            .map_err(Error::db(format!("connecting to {label} to apply changes")))?;
        ensure_state_schema(&mut conn).await?;
        conn.query_drop(format!(
            "SET NAMES binary; SET SESSION time_zone='+00:00', sql_mode='{APPLY_SQL_MODE}', \
             foreign_key_checks=1, tx_isolation='READ-COMMITTED', \
             binlog_annotate_row_events=0, innodb_lock_wait_timeout=30, autocommit=1",
        ))
        .await
        .map_err(Error::db(format!("preparing the apply session on {label}")))?;
        let max_packet: Option<u64> = conn
            .query_first("SELECT @@max_allowed_packet")
            .await
            .map_err(Error::db(format!("reading max_allowed_packet on {label}")))?;
        let pos = gtid_binlog_pos(&mut conn).await?;
        let echo = echo_pos(&mut conn).await?;
        Ok(Applier {
            charsets: HashMap::new(),
            max_packet: max_packet.unwrap_or(1 << 20) as usize,
            conn,
            label: label.into(),
            pos,
            echo,
            plans: HashMap::new(),
            open: None,
            log_bin: true,
            gtid_session: None,
            warned: Default::default(),
            echo_guard: None,
            echo_skip: None,
            left_images: None,
            commit_rows: None,
            cascades: Default::default(),
            without_fk_checks: None,
            next_delete_over_own_rows: false,
        })
    }

    /// Installs the guard run before echo rows are applied.
    pub fn set_echo_guard(&mut self, guard: EchoGuard) {
        self.echo_guard = Some(guard);
    }

    /// Installs the agent's images left alone (`Applier::cascade_here`, apply/cascade.rs).
    pub fn set_left_images(&mut self, images: Arc<dyn LeftImages>) {
        self.left_images = Some(images);
    }

    /// Installs what tells echo rows that would change nothing.
    pub fn set_echo_skip(&mut self, skip: Arc<dyn EchoSkip>) {
        self.echo_skip = Some(skip);
    }

    /// Installs what gives rows to write with each commit.
    pub fn set_commit_rows(&mut self, rows: Arc<dyn CommitRows>) {
        self.commit_rows = Some(rows);
    }

    /// The statements of [`CommitRows`] for the transaction being committed.
    pub(crate) fn commit_rows_sql(&self) -> Vec<String> {
        self.commit_rows
            .as_ref()
            .map(|c| c.sql())
            .unwrap_or_default()
    }

    /// The transaction that ran `commit_rows_sql()`'s statements committed.
    pub(crate) fn commit_rows_done(&self, sql: &[String]) {
        if let (Some(c), false) = (&self.commit_rows, sql.is_empty()) {
            c.committed();
        }
    }

    /// What the target holds.
    pub fn position(&self) -> &GtidPos {
        &self.pos
    }

    /// Echoes applied so far.
    pub fn echo_position(&self) -> &GtidPos {
        &self.echo
    }

    /// Re-reads the target's position (after someone else wrote to it).
    pub async fn refresh_position(&mut self) -> Result<()> {
        self.pos = gtid_binlog_pos(&mut self.conn).await?;
        Ok(())
    }

    /// The connection, for callers that need one more statement on the same session.
    pub fn conn(&mut self) -> &mut Conn {
        &mut self.conn
    }

    pub fn in_txn(&self) -> bool {
        self.open.is_some()
    }

    /// Forgets cached table plans (after DDL).
    pub fn invalidate_plans(&mut self) {
        self.plans.clear();
        self.cascades.clear();
    }

    async fn set_log_bin(&mut self, on: bool) -> Result<()> {
        if self.log_bin != on {
            self.conn
                .query_drop(if on {
                    "SET SESSION sql_log_bin=1"
                } else {
                    "SET SESSION sql_log_bin=0"
                })
                .await
                .map_err(Error::db("setting sql_log_bin"))?;
            self.log_bin = on;
        }
        Ok(())
    }

    /// Sets the GTID the next binlogged transaction gets and, unless it is DDL, opens the
    /// transaction: one round trip.
    async fn set_gtid_and_begin(&mut self, g: Gtid, begin: bool) -> Result<()> {
        let mut sql = String::with_capacity(96);
        if self.gtid_session != Some((g.domain, g.server)) {
            sql.push_str(&format!(
                "SET SESSION gtid_domain_id={}, server_id={}; ",
                g.domain, g.server
            ));
        }
        sql.push_str(&format!("SET SESSION gtid_seq_no={}", g.seq));
        if begin {
            sql.push_str("; BEGIN");
        }
        self.conn
            .query_drop(sql)
            .await
            .map_err(Error::db(format!("starting {g}")))?;
        self.gtid_session = Some((g.domain, g.server));
        Ok(())
    }

    /// Starts a transaction. Returns false when the target already holds it (its items until
    /// the commit are then ignored).
    pub async fn begin(&mut self, b: &TxnBegin, mode: TxnMode) -> Result<bool> {
        if self.open.is_some() {
            self.abort().await?;
        }
        self.next_delete_over_own_rows = false;
        let held = if mode.echo {
            self.echo.contains(&b.gtid)
        } else {
            mode.preserve_gtid && self.pos.contains(&b.gtid)
        };
        let skip = held;
        let unlogged_rows = unlogged_group(b, &mode);
        if !skip {
            self.set_log_bin(mode.preserve_gtid && !unlogged_rows)
                .await?;
            if unlogged_rows {
                self.conn
                    .query_drop("BEGIN")
                    .await
                    .map_err(Error::db(format!("starting {}", b.gtid)))?;
            } else if mode.preserve_gtid {
                self.set_gtid_and_begin(b.gtid, !b.ddl).await?;
            } else if !b.ddl {
                self.conn
                    .query_drop("BEGIN")
                    .await
                    .map_err(Error::db(format!("starting {}", b.gtid)))?;
            }
        }
        self.open = Some(Open {
            begin: b.clone(),
            mode,
            skip,
            rows: 0,
            conflicts: 0,
            ddl_error: None,
            ddl_ran: false,
            pending_ddl: None,
            ddl_as_txn: false,
            sequences: Vec::new(),
            sequence_rows: 0,
            savepoints: 0,
            echo_ready: None,
            echo_written: Default::default(),
            unlogged_rows,
            nontx_rows: Vec::new(),
            nontx_conflicts: Vec::new(),
        });
        Ok(!skip)
    }

    /// Starts a transaction applied without binlogging and without a GTID (a snapshot's or a
    /// repair's rows), ended by [`Applier::commit_unlogged`] or [`Applier::abort`].
    pub async fn begin_unlogged(&mut self) -> Result<()> {
        self.begin(&unlogged(), TxnMode::default())
            .await
            .map(|_| ())
    }

    /// Commits a transaction started by [`Applier::begin_unlogged`].
    pub async fn commit_unlogged(&mut self, rows: u64) -> Result<Committed> {
        let gtid = unlogged().gtid;
        self.commit(&TxnCommit { gtid, rows }).await
    }

    /// Takes a statement of the open transaction (DDL from the origin). A DDL group's statement
    /// runs at the next item (see `Open::pending_ddl`); others run now.
    pub async fn query(&mut self, q: &QueryItem) -> Result<()> {
        self.flush_non_transactional().await?;
        let Some(open) = self.open.as_mut() else {
            return Err(self.no_txn("statement"));
        };
        if open.skip {
            return Ok(());
        }
        if open.begin.ddl {
            if let Some(earlier) = open.pending_ddl.replace(q.clone()) {
                self.run_statement(&earlier).await?;
            }
            return Ok(());
        }
        self.run_statement(q).await
    }

    /// Runs a statement of the open transaction; a DDL statement that fails here for good is
    /// recorded (`ddl_error`): the group's GTID then commits without it.
    async fn run_statement(&mut self, q: &QueryItem) -> Result<()> {
        let Some(open) = self.open.as_ref() else {
            return Err(self.no_txn("statement"));
        };
        let gtid = open.begin.gtid;
        let ddl = open.begin.ddl;
        if q.session.as_ref().is_some_and(|s| s.load_data) {
            // Its rows are in a file the origin's binlog holds and starsync does not ship: they
            // are missing here, which is said and counted like a DDL that failed here.
            let why = "the origin's LOAD DATA was logged as a statement (its session's \
                       binlog_format was not ROW): its file stays in the origin's binlog, so its \
                       rows are not applied here and this node lacks them. Repair the table from \
                       the master (`master-admin repair DB.TABLE --node NODE`), resync this node \
                       (`replicator agent --resync`), or load the file again on the master with \
                       binlog_format=ROW (delete the rows first, or LOAD DATA … REPLACE)";
            error!(target_node = %self.label, gtid = %gtid, statement = %q.sql_lossy(), "{why}");
            if let Some(open) = self.open.as_mut() {
                open.ddl_ran = true;
                open.ddl_error = Some(format!("{}: {why}", q.sql_lossy()));
            }
            return Ok(());
        }
        let result = self.exec_statement(q, gtid).await?;
        self.statement_done(q, gtid, ddl, result)
    }

    /// Records how a statement of the open transaction ended.
    fn statement_done(
        &mut self,
        q: &QueryItem,
        gtid: Gtid,
        ddl: bool,
        result: std::result::Result<(), mysql_async::Error>,
    ) -> Result<()> {
        let Some(open) = self.open.as_mut() else {
            return Err(self.no_txn("statement"));
        };
        open.ddl_ran = true;
        match result {
            Ok(()) => Ok(()),
            Err(e) if ddl && !crate::error::db_error_is_transient(&e) => {
                // The master's DDL failed here (the snap drifted): record it, keep the GTID.
                error!(target_node = %self.label, gtid = %gtid, statement = %q.sql_lossy(),
                       error = %e, "DDL failed on this node; its GTID is recorded without it, so \
                       this node's schema differs from the master's (master-admin verify shows \
                       how): resolve what blocked it, then run the statement here with \
                       sql_log_bin=0, or make the table the master's, rows and definition, with \
                       `master-admin repair DB.TABLE --node NODE` on the master");
                open.ddl_error = Some(format!("{}: {e}", q.sql_lossy()));
                Ok(())
            }
            Err(e) => Err(Error::Db {
                context: format!("running the statement of {gtid}: {}", q.sql_lossy()),
                source: e,
            }),
        }
    }

    /// Executes a statement in the origin's client charset and default schema; the outer
    /// result is the session's, the inner one the statement's own.
    async fn exec_statement(
        &mut self,
        q: &QueryItem,
        gtid: Gtid,
    ) -> Result<std::result::Result<(), mysql_async::Error>> {
        if let Some(f) = crate::ddl::adds_a_column_with_nondeterministic_default(&q.sql_lossy()) {
            warn!(gtid = %gtid, statement = %q.sql_lossy(), function = f,
                  "the statement adds a column whose default is computed on each node ({f}): \
                   the table's existing rows get other values here than on the master \
                   (`master-admin verify` shows the table differing). To make them equal, \
                   repair the table on every snap from the master (`master-admin repair DB.TABLE \
                   --all-snaps`), or set the column on the master with an UPDATE (e.g. `UPDATE \
                   t SET c = {f}`): its rows replicate");
        }
        let kind = crate::ddl::classify(&q.sql_lossy(), &q.schema).kind;
        if kind == crate::ddl::StatementKind::Dml {
            warn!(gtid = %gtid, statement = %q.sql_lossy(),
                  "a data change the origin logged as a statement (its session's binlog_format was \
                   not ROW) runs here as a statement, with the origin's time, auto-increment \
                   values, RAND() seeds and user variables; one whose result depends on more \
                   (UUID(), LIMIT without ORDER BY, rows this node holds otherwise) can change \
                   other rows here: keep binlog_format=ROW");
        }
        // The statement runs in the origin's client charset, default schema and session
        // settings (how its text parses, what a routine keeps, how time literals read).
        let mut prep = String::new();
        if q.charset != 0 {
            prep.push_str(&format!(
                "SET SESSION character_set_client={c}, collation_connection={c}; ",
                c = q.charset
            ));
        }
        if let Some(s) = &q.session {
            // A setting this server does not take (a newer origin's `sql_mode` bit, a time zone
            // without the time zone tables, a collation it lacks): said, and the statement runs
            // without the origin's settings rather than stopping replication.
            let sets = session_settings(s);
            let taken = match set_user_vars(&mut self.conn, &s.user_vars).await {
                Ok(()) => self
                    .conn
                    .query_drop(sets.as_str())
                    .await
                    .map_err(Error::db("taking the origin session's settings")),
                Err(e) => Err(e),
            };
            if let Err(e) = taken {
                warn!(gtid = %gtid, settings = %sets, error = %e,
                      "cannot take the origin session's settings for a statement; it runs \
                       with the apply session's (its meaning may differ here: compare with \
                       `master-admin verify`)");
                self.conn
                    .query_drop(RESTORE_SESSION)
                    .await
                    .map_err(Error::db("restoring the apply session's settings"))?;
            }
        }
        if !q.schema.is_empty() {
            // `CREATE DATABASE x` is logged with `x` as its default schema, which does not
            // exist yet: then the statement runs without one (it names its objects).
            match self
                .conn
                .query_drop(format!("USE {}", sql::ident(&q.schema)))
                .await
            {
                Ok(()) => {}
                Err(mysql_async::Error::Server(e)) if e.code == 1049 => {}
                Err(e) => {
                    return Err(Error::Db {
                        context: format!("selecting schema {} for {gtid}", q.schema),
                        source: e,
                    })
                }
            }
        }
        if !prep.is_empty() {
            self.conn
                .query_drop(prep)
                .await
                .map_err(Error::db(format!("preparing the statement of {gtid}")))?;
        }
        let mut result = self.conn.query_drop(q.sql.as_slice()).await;
        // Under the origin's strict mode, DDL that converts rows (a column narrowed, an ENUM
        // shrunk) fails on a row this node holds and the origin did not: a snap's own row not
        // yet at the master. It is converted instead, as the master converts that row when it
        // arrives (and records it, kind `converted`), so that the nodes keep one schema.
        let mode = q.session.as_ref().and_then(|s| s.sql_mode);
        if let (Err(mysql_async::Error::Server(e)), Some(mode)) = (&result, mode) {
            if mode & STRICT_MODES != 0 && CONVERSION_ERRORS.contains(&e.code) {
                warn!(gtid = %gtid, error = %e.message,
                      "the statement cannot convert a row of this node under the origin's strict \
                       sql_mode; running it again without strictness (the row is converted as \
                       the master converts it when it arrives)");
                self.conn
                    .query_drop(format!("SET SESSION sql_mode = {}", mode & !STRICT_MODES))
                    .await
                    .map_err(Error::db(format!("relaxing sql_mode for {gtid}")))?;
                result = self.conn.query_drop(q.sql.as_slice()).await;
            }
        }
        self.conn
            .query_drop(RESTORE_SESSION)
            .await
            .map_err(Error::db("restoring the apply session's settings"))?;
        // What may change a table's definition or its keys makes the cached plans and keys
        // stale. Not a savepoint, nor a data change: clearing them there (a transaction's
        // `SAVEPOINT`, one in ten of the fuzz's) had every such transaction read them again, the
        // cascading keys' `information_schema` look alone taking 10 ms and more under load.
        if !matches!(
            kind,
            crate::ddl::StatementKind::Savepoint | crate::ddl::StatementKind::Dml
        ) {
            self.invalidate_plans();
        }
        Ok(result)
    }

    /// `CREATE TABLE … SELECT` from the origin: its group holds the CREATE statement, then the
    /// rows of the new table, under one GTID. A client session cannot run both under one GTID
    /// (the CREATE commits by itself and would take it; the rows would get a GTID the origin
    /// never made), so the table is created unlogged and the rows go into an ordinary
    /// transaction that takes the GTID. If this node stops in between, the group is applied
    /// again: the table found then holds none of its rows (they commit with the GTID) and is
    /// created anew.
    async fn create_for_rows(&mut self, q: &QueryItem, table: &TableMeta) -> Result<()> {
        let Some(open) = self.open.as_ref() else {
            return Err(self.no_txn("statement"));
        };
        let (gtid, log) = (open.begin.gtid, open.mode.preserve_gtid);
        self.set_log_bin(false).await?;
        let mut result = self.exec_statement(q, gtid).await?;
        if let Err(mysql_async::Error::Server(e)) = &result {
            if e.code == 1050 {
                let name = sql::qualified(&table.schema, &table.table);
                warn!(target_node = %self.label, gtid = %gtid, table = %table.full_name(),
                      "the table CREATE TABLE … SELECT makes is already here (an earlier try of \
                       this transaction stopped after creating it, or the node drifted); it is \
                       created anew");
                self.conn
                    .query_drop(format!("DROP TABLE IF EXISTS {name}"))
                    .await
                    .map_err(Error::db(format!(
                        "dropping {name} to create it again for {gtid}"
                    )))?;
                result = self.exec_statement(q, gtid).await?;
            }
        }
        self.statement_done(q, gtid, true, result)?;
        self.set_log_bin(log).await?;
        if log {
            self.set_gtid_and_begin(gtid, true).await?;
        } else {
            self.conn
                .query_drop("BEGIN")
                .await
                .map_err(Error::db(format!("starting {gtid}")))?;
        }
        if let Some(o) = self.open.as_mut() {
            o.ddl_as_txn = true;
        }
        Ok(())
    }

    /// Applies a rows chunk to the open transaction; `skip_row` says which rows to leave alone.
    /// A chunk its origin changed without foreign key checks is applied without them too (as
    /// native replication does: a parent the master deleted that way keeps its children).
    pub async fn rows(&mut self, chunk: &RowsChunk, skip_row: Option<SkipRow<'_>>) -> Result<()> {
        let checks_off = self.checks_off(chunk);
        if !checks_off || self.open.as_ref().is_none_or(|o| o.skip) {
            return self.apply_chunk(chunk, skip_row).await;
        }
        self.fk_checks_off("starsync_fk").await.map_err(Error::db(
            "turning foreign key checks off as the origin had them",
        ))?;
        let r = self.apply_chunk(chunk, skip_row).await;
        let restored = self
            .restore_fk_checks("starsync_fk")
            .await
            .map_err(Error::db("turning foreign key checks back on"));
        r.and(restored)
    }

    /// Turns foreign key checks off, keeping their value in the session variable `@saved`
    /// for [`Applier::restore_fk_checks`] (one name per caller: they nest).
    async fn fk_checks_off(&mut self, saved: &str) -> std::result::Result<(), mysql_async::Error> {
        self.set_fk_checks(saved, 0).await
    }

    /// Turns foreign key checks on, as [`Applier::fk_checks_off`] turns them off.
    async fn fk_checks_on(&mut self, saved: &str) -> std::result::Result<(), mysql_async::Error> {
        self.set_fk_checks(saved, 1).await
    }

    async fn set_fk_checks(
        &mut self,
        saved: &str,
        value: u8,
    ) -> std::result::Result<(), mysql_async::Error> {
        self.conn
            .query_drop(format!(
                "SET @{saved} = @@foreign_key_checks, foreign_key_checks = {value}"
            ))
            .await
    }

    /// Turns foreign key checks back to the value [`Applier::fk_checks_off`] kept in `@saved`.
    async fn restore_fk_checks(
        &mut self,
        saved: &str,
    ) -> std::result::Result<(), mysql_async::Error> {
        self.conn
            .query_drop(format!("SET foreign_key_checks = @{saved}"))
            .await
    }

    /// Whether `chunk` is applied without foreign key checks: its origin made it so, or this
    /// node lacks a parent another row of its transaction needs (`without_fk_checks`).
    fn checks_off(&self, chunk: &RowsChunk) -> bool {
        chunk.no_fk_checks || self.in_unchecked_txn()
    }

    /// Whether `chunk` is applied without foreign key checks although its origin made it with
    /// them: this node lacks a parent another row of its transaction needs, so the server
    /// makes no cascade here where the origin's did.
    fn unchecked_here(&self, chunk: &RowsChunk) -> bool {
        !chunk.no_fk_checks && self.in_unchecked_txn()
    }

    /// Whether the open transaction is the one this node applies without foreign key checks
    /// because it lacks a parent another of its rows needs (`without_fk_checks`).
    fn in_unchecked_txn(&self) -> bool {
        self.open
            .as_ref()
            .is_some_and(|o| Some(o.begin.gtid) == self.without_fk_checks)
    }

    async fn apply_chunk(
        &mut self,
        chunk: &RowsChunk,
        skip_row: Option<SkipRow<'_>>,
    ) -> Result<()> {
        let Some(open) = self.open.as_mut() else {
            return Err(self.no_txn("rows"));
        };
        if !open.skip {
            if let Some(q) = open.pending_ddl.take() {
                self.create_for_rows(&q, &chunk.table).await?;
            }
        }
        let Some(open) = self.open.as_ref() else {
            return Err(self.no_txn("rows"));
        };
        if open.begin.ddl && open.ddl_error.is_some() {
            // The rows of a `CREATE TABLE … SELECT` that failed here: recorded with it.
            return Ok(());
        }
        if open.skip || chunk.is_empty() {
            return Ok(());
        }
        let detect = open.mode.detect_conflicts;
        let Some(plan) = self.plan_if_exists(&chunk.table).await? else {
            if detect {
                // Hub ingest: the master dropped the table while the snap wrote to it (or the
                // snap made it without the master). Hub order wins: the rows go to the conflict
                // log, not to the master, and the snap loses the table with the master's DROP.
                return self.rows_table_missing(chunk, skip_row).await;
            }
            return Err(self.apply_error(&chunk.table, "-", TABLE_MISSING));
        };
        if let Some(end) = plan.versioned_end {
            for part in sql::current_rows(chunk, end) {
                self.rows_planned(&part, plan.clone(), skip_row).await?;
            }
            return Ok(());
        }
        self.rows_planned(chunk, plan, skip_row).await
    }

    /// Writes an image left alone for an in-flight key ([`crate::agent::inflight`]) in the open
    /// transaction (an echo's). When a foreign key refuses it here:
    /// - a key that changes rows with their parent (`CASCADE`, `SET NULL`): the row is left
    ///   out, as the master's went with its parent (a cascade, not logged), as it did here;
    ///   unless each parent it lacks through such keys has an own change in flight
    ///   (`parent_in_flight`, given the parent's `schema.table` and primary key): the parent
    ///   went here with that change, not with the master's, and that change's echo settles the
    ///   row (the hub makes its cascades explicit, `apply/cascade.rs`). It is then written
    ///   without checks. Left out, it was lost for good when the master kept the parent and the
    ///   row (it refused the own delete, or took the row after it: `tests/model/converge_fk.py`,
    ///   variant `hub-cascades+marks` against `+parent`);
    /// - otherwise (`RESTRICT`): the master took the row with its key checked, so the parent
    ///   it needs is missing here, or the children that refuse its delete are here, only
    ///   through own changes still on their way, which the master refuses or settles; their
    ///   echoes settle this row too. It is written without foreign key checks. Leaving it out
    ///   lost it for good when the master refused the own change (a snap's delete of a parent
    ///   the master held children of: the echo brought the parent back, not the children;
    ///   `tests/model/converge_fk.py`, variant `drop`).
    pub async fn force_unless_refused(
        &mut self,
        chunk: &RowsChunk,
        parent_in_flight: &(dyn Fn(&str, &[Value]) -> bool + Send + Sync),
    ) -> Result<()> {
        let Some(o) = self.open.as_mut() else {
            return Err(self.no_txn("rows"));
        };
        if o.skip {
            return Ok(());
        }
        if self.plan_if_exists(&chunk.table).await?.is_none() {
            // The master dropped the table since (its DROP came first): so did this node.
            debug!(target_node = %self.label, table = %chunk.table.full_name(),
                   "an image left alone is left out: its table is gone");
            return Ok(());
        }
        let Some(o) = self.open.as_mut() else {
            return Err(self.no_txn("rows"));
        };
        o.savepoints += 1;
        let sp = format!("starsync_f{}", o.savepoints);
        self.conn
            .query_drop(format!("SAVEPOINT {sp}"))
            .await
            .map_err(|e| self.wrap(&chunk.table, e))?;
        let e = match self.rows(chunk, None).await {
            Err(e) if refused_by_foreign_key(&e) => e,
            r => return r,
        };
        self.conn
            .query_drop(format!("ROLLBACK TO SAVEPOINT {sp}"))
            .await
            .map_err(|e| self.wrap(&chunk.table, e))?;
        if fk::follows_parent(&e) && !self.parents_in_flight(chunk, parent_in_flight).await? {
            debug!(target_node = %self.label, table = %chunk.table.full_name(), error = %e,
                   "an image left alone is left out: its row went with its parent");
            return Ok(());
        }
        debug!(target_node = %self.label, table = %chunk.table.full_name(), error = %e,
               "an image left alone is written without foreign key checks: own changes on \
                their way meet it, and their echoes settle it");
        let mut unchecked = chunk.clone();
        unchecked.no_fk_checks = true;
        self.rows(&unchecked, None).await
    }

    /// Whether every parent the row of `chunk` (one image, inserted) lacks here through
    /// cascading keys has an own change in flight (see [`Applier::force_unless_refused`]).
    async fn parents_in_flight(
        &mut self,
        chunk: &RowsChunk,
        parent_in_flight: &(dyn Fn(&str, &[Value]) -> bool + Send + Sync),
    ) -> Result<bool> {
        let Some((None, Some(image))) = chunk.rows().next() else {
            return Ok(false);
        };
        Ok(
            match self.missing_cascading_parents(&chunk.table, image).await? {
                Some(parents) => {
                    !parents.is_empty() && parents.iter().all(|(t, k)| parent_in_flight(t, k))
                }
                None => false,
            },
        )
    }

    /// [`Applier::rows`] once the table's plan is known.
    async fn rows_planned(
        &mut self,
        chunk: &RowsChunk,
        plan: Arc<TablePlan>,
        skip_row: Option<SkipRow<'_>>,
    ) -> Result<()> {
        let Some(open) = self.open.as_ref() else {
            return Err(self.no_txn("rows"));
        };
        if chunk.is_empty() {
            return Ok(());
        }
        let detect = open.mode.detect_conflicts;
        let echo = open.mode.echo;
        let cascade_here = open.mode.cascade_here;
        if open.begin.non_transactional && !plan.transactional && open.mode.preserve_gtid && !echo {
            if !open.unlogged_rows && skip_row.is_none() {
                return self.hold_non_transactional(chunk, plan);
            }
            if plan.has_pk {
                return self.rows_as_one_statement(chunk, &plan, skip_row).await;
            }
        }
        self.flush_non_transactional().await?;
        if echo && !plan.has_pk {
            // Without a key an image cannot be forced twice: the snap made this very change
            // itself, so its echo is not re-applied (conflicts on such tables are logged by the
            // hub; give tables a primary key to have them resolved).
            return Ok(());
        }
        if plan.sequence {
            return self.sequence_rows(chunk).await;
        }
        let mut rows = Vec::with_capacity(chunk.len());
        let mut left_alone: Vec<RowPair<'_>> = Vec::new();
        for r in chunk.rows() {
            if skipped(&r, &chunk.table, skip_row) {
                left_alone.push(r);
            } else if let Some(part) = moved_in_part(&r, &plan, &chunk.table, skip_row) {
                rows.push(part);
                left_alone.push(r);
            } else {
                rows.push(r);
            }
        }
        if let (true, RowKind::Update, Some(_), false) =
            (cascade_here, chunk.kind, skip_row, chunk.no_fk_checks)
        {
            // Rows left alone: the master's update of them is not made here, nor what followed
            // it there, below its binlog, through keys with an update rule. Left so, the rows
            // following it kept their old values here for good when the own change in flight
            // came out on the master without moving them back (a delete of the row, or a key
            // move of its parent the master made first).
            self.follow_here(&chunk.table, &left_alone).await?;
        }
        // A foreign delete that would cascade here to a row with an own change in flight, or
        // that such a row refuses, is made without foreign key checks
        // ([`Applier::delete_reaches_own_rows`]); the master's own makes its other cascades
        // explicitly below (the hub's are rows of the transaction).
        let own_below = chunk.kind == RowKind::Delete
            && !echo
            && !detect
            && skip_row.is_some()
            && !self.checks_off(chunk)
            && (std::mem::take(&mut self.next_delete_over_own_rows)
                || self.delete_reaches_own_rows(&chunk.table, &rows).await?);
        // A delete its origin made without foreign key checks cascaded nothing there.
        let cascaded = !chunk.no_fk_checks;
        if let (RowKind::Delete, Some(skip), true, false, false) =
            (chunk.kind, skip_row, cascaded, echo, detect)
        {
            // Rows left alone: their delete, and so its cascade, is not made here. Applied
            // without foreign key checks (this node lacks a parent a row of the transaction
            // needs, `without_fk_checks`, or an own row would go with it): the server makes no
            // cascade either. The master's own delete cascaded there unlogged, through every
            // key; one that came through the hub carries its cascades as rows of its
            // transaction (the hub made them explicit), which reach the rows the master held:
            // through keys to its own table, the rows here it did not hold are made here
            // (`own_table_only`).
            let unchecked = self.unchecked_here(chunk) || own_below;
            let mut deleted: Vec<&[Value]> = left_alone.iter().filter_map(|r| r.0).collect();
            if unchecked {
                deleted.extend(rows.iter().filter_map(|r| r.0));
            }
            self.cascade_here(&chunk.table, &deleted, skip, !cascade_here)
                .await?;
            if cascade_here && !unchecked {
                // Rows deleted here with checks: the server cascades them here, but not to
                // the images left alone, which are the master's rows.
                for before in rows.iter().filter_map(|r| r.0) {
                    self.cascade_images(&chunk.table, before).await?;
                }
            }
        }
        if let Some(es) = self.echo_skip.clone() {
            // A row deleted here (or moved off its key) may cascade to rows of other tables,
            // which no binlog shows: no echo row of those tables may be left out as held (a
            // snap's re-applied delete of a parent can cascade to its own newer child, whose
            // echo must then write it again; `tests/model/converge_fk.py`, hub-cascades+marks).
            // So may an update of values that keys with an update rule refer to (a move made
            // as an update, `Applier::move_by_update`, or of another column they refer to).
            let table = &chunk.table;
            let moves = chunk.kind == RowKind::Update
                && (moves_a_key(&plan, &rows) || rows.iter().any(|r| r.1.is_none()));
            let deletes = chunk.kind == RowKind::Delete || moves;
            if deletes && !rows.is_empty() {
                let refs = self.cascading_refs(&table.schema, &table.table).await?;
                for r in refs.iter() {
                    es.touched(&r.full_name());
                }
            }
            if chunk.kind == RowKind::Update && !(rows.is_empty() && left_alone.is_empty()) {
                let on_update = self
                    .update_cascading_refs(&table.schema, &table.table)
                    .await?;
                if cascade::carries_any(table, &on_update, &rows)
                    || (cascade_here && cascade::carries_any(table, &on_update, &left_alone))
                {
                    for r in on_update.iter() {
                        es.touched(&r.full_name());
                    }
                }
            }
        }
        if echo {
            if let Some(es) = self.echo_skip.clone() {
                self.leave_out_unchanged(es.as_ref(), chunk, &mut rows)
                    .await?;
                if rows.is_empty() {
                    return Ok(());
                }
            }
            if let Some(guard) = self.echo_guard.clone() {
                // An echo must never bring back an older own image over a newer local commit
                // that capture had not read yet. Writing the rows locks them; then every own
                // transaction committed before is known (capture caught up with the position
                // read now), and if one of them touched these rows the chunk is rolled back to
                // its savepoint (the locks stay) and applied again without them.
                let sp = {
                    let o = self.open.as_mut().unwrap();
                    o.savepoints += 1;
                    format!("starsync_e{}", o.savepoints)
                };
                self.conn
                    .query_drop(format!("SAVEPOINT {sp}"))
                    .await
                    .map_err(|e| self.wrap(&chunk.table, e))?;
                self.rows_forced(chunk, &plan, &rows).await?;
                let local = gtid_binlog_pos(&mut self.conn).await?;
                guard(local).await;
                let now: Vec<RowPair<'_>> = rows
                    .iter()
                    .copied()
                    .filter(|r| !skipped(r, &chunk.table, skip_row))
                    .collect();
                if now.len() != rows.len() {
                    self.conn
                        .query_drop(format!("ROLLBACK TO SAVEPOINT {sp}"))
                        .await
                        .map_err(|e| self.wrap(&chunk.table, e))?;
                    self.rows_forced(chunk, &plan, &now).await?;
                    rows = now;
                }
                self.echo_deletes_cascade(chunk, &rows, skip_row).await?;
                if let Some(o) = self.open.as_mut() {
                    o.rows += rows.len() as u64;
                }
                return Ok(());
            }
        }
        let n = rows.len() as u64;
        if detect {
            self.rows_checked(chunk, &plan, &rows).await?;
        } else if own_below {
            info!(target_node = %self.label, table = %chunk.table.full_name(),
                  rows = rows.len(),
                  "the master deleted rows that rows made here refer to, with their changes \
                   on their way to the master: the delete is made without foreign key checks, \
                   and those rows stay until their echoes bring the master's version of them");
            self.fk_checks_off("starsync_own")
                .await
                .map_err(Error::db("turning foreign key checks off"))?;
            let r = self.rows_forced(chunk, &plan, &rows).await;
            self.restore_fk_checks("starsync_own")
                .await
                .map_err(Error::db("turning foreign key checks back on"))?;
            r?;
        } else {
            self.rows_forced(chunk, &plan, &rows).await?;
            if echo {
                self.echo_deletes_cascade(chunk, &rows, skip_row).await?;
            }
            if cascade_here && chunk.kind == RowKind::Update && self.unchecked_here(chunk) {
                // The master's own update, applied without checks: its rows' followers.
                self.follow_here(&chunk.table, &rows).await?;
            }
        }
        if let Some(o) = self.open.as_mut() {
            o.rows += n;
        }
        Ok(())
    }

    /// After an echo's deletes of `rows` here (rows this node held: the master does not hold
    /// them, as when it refused an own change of the row and its record says so,
    /// [`super::refused`]): the rows here referring to them through cascading keys, whose own
    /// changes are not in flight, are deleted (or their keys set to NULL), as the master's
    /// cascade made them ([`Applier::cascade_here`]): the master cannot hold a row referring to
    /// one it lacks. The echo's delete is forced without checks (its refused rows come parent
    /// first), which cascades nothing: a child this node kept through the master's parent
    /// delete, made without checks because the child's own change was in flight
    /// ([`Applier::delete_reaches_own_rows`]), went with its echo, and the master's rows under
    /// it, which the master's cascade had taken with the child there, stayed here for good.
    async fn echo_deletes_cascade(
        &mut self,
        chunk: &RowsChunk,
        rows: &[RowPair<'_>],
        skip_row: Option<SkipRow<'_>>,
    ) -> Result<()> {
        let Some(skip) = skip_row else {
            return Ok(());
        };
        if chunk.kind != RowKind::Delete {
            return Ok(());
        }
        let deleted: Vec<&[Value]> = rows.iter().filter_map(|r| r.0).collect();
        self.cascade_here(&chunk.table, &deleted, skip, false).await
    }

    /// A sequence's row as the origin logged it after `NEXTVAL` or `SETVAL`: the next value not
    /// yet handed out in cached blocks (`next_not_cached_value`) and the round. Applied at the
    /// commit with `SETVAL(…, next, 0, round)`, which only moves a sequence forward: a node never
    /// goes back to values another node may have handed out. (Sequences used on several nodes
    /// at once should be `INCREMENT BY 0`: they follow each node's `auto_increment_increment`
    /// and `_offset`, so their values never collide.)
    ///
    /// MariaDB logs a change made by `SETVAL` inside a transaction at once, as a group of its
    /// own that takes the session's GTID. So a transaction that is only sequence changes (the
    /// origin logs `NEXTVAL` in an explicit transaction that way) runs them as its own
    /// statements and they take its GTID; one that also has other rows (an autocommit
    /// `INSERT … NEXTVAL(…)`) commits those under the GTID first, and its sequence changes then
    /// apply unlogged: this node's sequence moves on, the nodes after it in the star learn of
    /// the move from the next change logged alone.
    async fn sequence_rows(&mut self, chunk: &RowsChunk) -> Result<()> {
        let meta = &chunk.table;
        let col = |n: &str| {
            meta.columns
                .iter()
                .position(|c| c.name.eq_ignore_ascii_case(n))
        };
        let (Some(next), Some(round)) = (col("next_not_cached_value"), col("cycle_count")) else {
            return Err(self.apply_error(
                meta,
                "-",
                "a row of a sequence without next_not_cached_value and cycle_count",
            ));
        };
        let int = |v: &Value| match v {
            Value::Int(i) => Some(i.to_string()),
            Value::UInt(u) => Some(u.to_string()),
            _ => None,
        };
        let name = sql::qualified(&meta.schema, &meta.table);
        let mut setvals = Vec::new();
        // A sequence has one row; a delete of it (never logged by MariaDB) changes nothing here.
        for (_, after) in chunk.rows() {
            let Some(a) = after else { continue };
            let (Some(value), Some(r)) = (int(&a[next]), int(&a[round])) else {
                return Err(self.apply_error(meta, "-", "a sequence's value is not an integer"));
            };
            setvals.push(format!("DO SETVAL({name}, {value}, 0, {r})"));
        }
        let Some(o) = self.open.as_mut() else {
            return Err(self.no_txn("rows"));
        };
        o.rows += setvals.len() as u64;
        o.sequence_rows += setvals.len() as u64;
        o.sequences.extend(setvals);
        Ok(())
    }

    /// Runs a transaction's `SETVAL`s (see [`Applier::sequence_rows`]).
    async fn run_setvals(&mut self, setvals: &[String], gtid: Gtid) -> Result<()> {
        for q in setvals {
            self.conn
                .query_drop(q.as_str())
                .await
                .map_err(Error::db(format!(
                    "applying the sequence change of {gtid}: {q}"
                )))?;
        }
        Ok(())
    }

    /// A non-transactional chunk (MyISAM, Aria) on a snap, whose group is applied unlogged
    /// ([`unlogged_group`]), or with rows left alone: one upsert of every after-image (a
    /// `REPLACE` when the table has secondary unique keys: a unique value one of this node's
    /// rows holds is displaced, as the master displaced it), or one delete of every key (force
    /// to image, without conflict checks: such tables cannot be rolled back to record one).
    /// Rows moved to other keys take the generic path. The hub writes whole groups
    /// ([`nontx`]).
    async fn rows_as_one_statement(
        &mut self,
        chunk: &RowsChunk,
        plan: &TablePlan,
        skip_row: Option<SkipRow<'_>>,
    ) -> Result<()> {
        let rows = kept_rows(chunk, skip_row);
        if rows.is_empty() {
            return Ok(());
        }
        if moves_a_key(plan, &rows) {
            return self.rows_forced(chunk, plan, &rows).await;
        }
        let sql = match chunk.kind {
            RowKind::Delete => nontx::delete(plan, rows.iter().filter_map(|(b, _)| *b)),
            _ => {
                let afters: Vec<&[Value]> = rows.iter().filter_map(|(_, a)| *a).collect();
                nontx::upsert(plan, &afters, false)
            }
        };
        self.conn
            .query_drop(sql)
            .await
            .map_err(|e| self.wrap(&chunk.table, e))?;
        if chunk.kind != RowKind::Delete && !plan.unique.is_empty() {
            // The echo of an own row it displaced brings that row back: written in full.
            if let Some(es) = &self.echo_skip {
                es.touched(&chunk.table.full_name());
            }
        }
        if let Some(o) = self.open.as_mut() {
            o.rows += rows.len() as u64;
        }
        Ok(())
    }

    /// Drops echo rows whose result the snap already holds ([`crate::echo_skip`]).
    async fn leave_out_unchanged(
        &mut self,
        es: &dyn EchoSkip,
        chunk: &RowsChunk,
        rows: &mut Vec<RowPair<'_>>,
    ) -> Result<()> {
        let ready = match self.open.as_ref().and_then(|o| o.echo_ready) {
            Some(r) => r,
            None => {
                // No foreign transaction commits here while this echo is applied (one apply
                // loop): once capture has read up to now, it knows every one before it.
                let local = gtid_binlog_pos(&mut self.conn).await?;
                let r = es.ready(local).await;
                if let Some(o) = self.open.as_mut() {
                    o.echo_ready = Some(r);
                }
                r
            }
        };
        if !ready {
            return Ok(());
        }
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        let seq = open.begin.gtid.seq;
        let meta = &chunk.table;
        let table = meta.full_name();
        // Fixed for the whole echo (no foreign transaction commits meanwhile): rows of a table
        // that is not eligible are all written, so none of their keys needs remembering.
        if !es.eligible(seq, &table) {
            return Ok(());
        }
        let th = crate::echo_skip::TableHash::of(meta);
        let before = rows.len();
        rows.retain(|(b, a)| {
            let img = a.or(*b).unwrap();
            let key = th.key(meta, img);
            if let (Some(b), Some(a)) = (b, a) {
                if meta.primary_key.iter().any(|&k| b[k] != a[k]) {
                    open.echo_written.insert(key);
                    open.echo_written.insert(th.key(meta, b));
                    return true;
                }
            }
            if !open.echo_written.contains(&key)
                && es
                    .own_final(seq, &table, key)
                    .is_some_and(|f| f == th.result(*a))
            {
                return false;
            }
            open.echo_written.insert(key);
            true
        });
        let left_out = (before - rows.len()) as u64;
        if left_out > 0 {
            es.skipped(left_out);
        }
        Ok(())
    }

    /// Commits the open transaction.
    pub async fn commit(&mut self, c: &TxnCommit) -> Result<Committed> {
        self.flush_non_transactional().await?;
        let Some(open) = self.open.take() else {
            return Err(self.no_txn("commit"));
        };
        let g = open.begin.gtid;
        if c.gtid != g {
            return Err(Error::Protocol {
                peer: self.label.clone(),
                problem: format!("commit of {} inside transaction {g}", c.gtid),
            });
        }
        if open.skip {
            return Ok(Committed {
                gtid: g,
                rows: 0,
                conflicts: 0,
                skipped: true,
                ddl_failed: None,
            });
        }
        let mut open = open;
        if let Some(q) = open.pending_ddl.take() {
            // An ordinary DDL group: the statement runs now, binlogged, and takes the GTID.
            self.open = Some(open);
            let r = self.run_statement(&q).await;
            open = self.open.take().expect("the transaction is still open");
            r?;
        }
        let mut setvals = std::mem::take(&mut open.sequences);
        let mut landed = false;
        let in_txn = !setvals.is_empty() && open.rows == open.sequence_rows && self.log_bin;
        if open.unlogged_rows {
            // The rows are in; the GTID goes on the bookkeeping row, in a logged transaction.
            self.run_setvals(&setvals, g).await?;
            setvals.clear();
            self.conn
                .query_drop("COMMIT")
                .await
                .map_err(Error::db(format!("committing the rows of {g}")))?;
            self.set_log_bin(true).await?;
            self.set_gtid_and_begin(g, true).await?;
        } else if in_txn {
            // Only sequence changes: they run in the transaction and take its GTID, unless none
            // changed anything here (then the bookkeeping row takes it).
            self.run_setvals(&setvals, g).await?;
            landed = gtid_binlog_pos(&mut self.conn).await?.contains(&g);
        } else if open.begin.non_transactional && self.log_bin && !open.begin.ddl {
            // Its statement was logged when it ran (see `rows_as_one_statement`), unless it
            // changed nothing here; then the bookkeeping row takes the GTID.
            let held = gtid_binlog_pos(&mut self.conn).await?;
            landed = held.contains(&g);
            if held.get(g.domain).is_some_and(|h| h.seq > g.seq) {
                warn!(target_node = %self.label, gtid = %g, position = %held,
                      "a non-transactional change was logged here in more than one part: this \
                       node now holds GTIDs its origin did not make; compare it with \
                       `master-admin verify`");
            }
        }
        if open.begin.ddl && open.ddl_ran && open.ddl_error.is_none() && !open.ddl_as_txn {
            // The DDL statement itself committed and took the GTID.
        } else {
            if open.begin.ddl && !open.ddl_as_txn {
                // No statement ran (filtered) or it failed: an empty transaction keeps the GTID.
                self.conn
                    .query_drop("BEGIN")
                    .await
                    .map_err(Error::db(format!("starting the GTID marker {g}")))?;
            }
            let mut sql = String::with_capacity(256);
            if open.mode.preserve_gtid && !landed {
                sql.push_str(&format!(
                    "INSERT INTO starsync.applied (domain_id, server_id, seq_no, origin_ts, \
                     applied_at) VALUES ({}, {}, {}, {}, NOW(6)) ON DUPLICATE KEY UPDATE \
                     server_id=VALUES(server_id), seq_no=VALUES(seq_no), \
                     origin_ts=VALUES(origin_ts), applied_at=VALUES(applied_at); ",
                    g.domain, g.server, g.seq, open.begin.timestamp
                ));
            }
            if open.mode.echo {
                sql.push_str(&format!(
                    "INSERT INTO starsync.echo_pos VALUES ({}, {}, {}) ON DUPLICATE KEY UPDATE \
                     server_id=VALUES(server_id), seq_no=VALUES(seq_no); ",
                    g.domain, g.server, g.seq
                ));
            }
            let extra = self.commit_rows_sql();
            for q in &extra {
                self.conn
                    .query_drop(q)
                    .await
                    .map_err(Error::db(format!("keeping the images {g} left alone")))?;
            }
            sql.push_str("COMMIT");
            self.conn
                .query_drop(sql)
                .await
                .map_err(Error::db(format!("committing {g}")))?;
            self.commit_rows_done(&extra);
        }
        if !open.nontx_conflicts.is_empty() {
            let found = std::mem::take(&mut open.nontx_conflicts);
            open.conflicts += found.len() as u64;
            let origin = open.mode.origin.clone();
            self.record_conflicts_unlogged(found, &origin, &g.to_string())
                .await?;
        }
        if !setvals.is_empty() && !in_txn {
            // Sequence changes beside other rows: after the commit, unlogged.
            let log = self.log_bin;
            self.set_log_bin(false).await?;
            self.run_setvals(&setvals, g).await?;
            self.set_log_bin(log).await?;
        }
        if open.mode.echo {
            self.echo.advance(g);
        } else if open.mode.preserve_gtid {
            self.pos.advance(g);
        }
        debug!(target_node = %self.label, gtid = %g, rows = open.rows, "applied");
        Ok(Committed {
            gtid: g,
            rows: open.rows,
            conflicts: open.conflicts,
            skipped: false,
            ddl_failed: open.ddl_error.take(),
        })
    }

    /// Applies one item of a transaction stream in `mode` (the mode of its `Begin` applies to the
    /// whole transaction). Returns the commit when the item ended a transaction.
    pub async fn apply_item(
        &mut self,
        item: &crate::model::TxnItem,
        mode: &TxnMode,
    ) -> Result<Option<Committed>> {
        use crate::model::TxnItem;
        match item {
            TxnItem::Begin(b) => {
                self.begin(b, mode.clone()).await?;
            }
            TxnItem::Rows(c) => self.rows(c, None).await?,
            TxnItem::Query(q) => self.query(q).await?,
            TxnItem::Commit(c) => return self.commit(c).await.map(Some),
            TxnItem::Abort => self.abort().await?,
        }
        Ok(None)
    }

    /// Rolls back the open transaction, if any.
    pub async fn abort(&mut self) -> Result<()> {
        self.next_delete_over_own_rows = false;
        if let Some(open) = self.open.take() {
            if !open.skip {
                self.conn
                    .query_drop("ROLLBACK; SET SESSION gtid_seq_no=0")
                    .await
                    .map_err(Error::db(format!("rolling back {}", open.begin.gtid)))?;
            }
        }
        Ok(())
    }

    fn no_txn(&self, what: &str) -> Error {
        Error::Protocol {
            peer: self.label.clone(),
            problem: format!("{what} outside of a transaction"),
        }
    }

    /// The plan for a table shape, built from the target's catalog on first use; `None` when
    /// the table (or its database) does not exist on the target.
    async fn plan_if_exists(&mut self, meta: &TableMeta) -> Result<Option<Arc<TablePlan>>> {
        if let Some(p) = self.plans.get(meta) {
            return Ok(Some(p.clone()));
        }
        // The table's own definition, not information_schema: queries that build an internal
        // temporary table (information_schema, SHOW COLUMNS) crashed MariaDB 10.11.19 here
        // (signal 11 in free_tmp_table) under concurrent replication load.
        let shown: std::result::Result<Option<(String, String)>, _> = self
            .conn
            .query_first(format!(
                "SHOW CREATE TABLE {}",
                sql::qualified(&meta.schema, &meta.table)
            ))
            .await;
        let ddl = match shown {
            Ok(Some((_, ddl))) => ddl,
            Ok(None) | Err(mysql_async::Error::Server(_)) => return Ok(None),
            Err(e) => {
                return Err(Error::Db {
                    context: format!("reading the definition of {}", meta.full_name()),
                    source: e,
                })
            }
        };
        let target = sql::columns_of_create_table(&ddl);
        // The names of the origin's character sets, for columns whose target holds another.
        for c in &meta.columns {
            if c.charset != 0
                && c.charset != crate::model::BINARY_CHARSET
                && !self.charsets.contains_key(&c.charset)
            {
                let name = self.charset_name(c.charset).await?;
                self.charsets.insert(c.charset, name);
            }
        }
        // A system-versioned table: the row-end column is part of the origin's primary key but
        // not something to write (the target keeps its own history); rows are found by the
        // rest of the key, and only current rows are applied ([`sql::current_rows`]).
        let versioned_end = sql::row_end_column(&ddl, meta);
        let charset_of = |id: u16| self.charsets.get(&id).cloned().flatten();
        let mut plan = match versioned_end {
            Some(end) => {
                let mut m = meta.clone();
                m.primary_key.retain(|&k| k != end);
                TablePlan::converting(&m, &target, charset_of)
            }
            None => TablePlan::converting(meta, &target, charset_of),
        };
        if plan.converts {
            warn!(target_node = %self.label, table = %meta.full_name(),
                  "the origin's rows of this table are in another character set than its \
                   columns here (converted while the origin wrote, or drift): their strings are \
                   converted on the way in");
        }
        plan.versioned_end = versioned_end;
        plan.transactional = sql::transactional_engine(&ddl);
        plan.set_unique_keys(meta, &ddl);
        plan.sequence = ddl
            .lines()
            .last()
            .is_some_and(|l| l.starts_with(')') && l.contains(" SEQUENCE=1"));
        let plan = Arc::new(plan);
        if !plan.missing.is_empty() && self.warned.insert(meta.full_name()) {
            warn!(target_node = %self.label, table = %meta.full_name(), missing = ?plan.missing,
                  "origin columns missing on this node are not applied");
        }
        self.plans.insert(meta.clone(), plan.clone());
        Ok(Some(plan))
    }

    /// The character set of collation `id` on this server (`None`: it does not know the id),
    /// read through the session (a collation id is a valid `collation_connection`), not
    /// information_schema.
    async fn charset_name(&mut self, id: u16) -> Result<Option<String>> {
        let set = self
            .conn
            .query_drop(format!("SET SESSION collation_connection = {id}"))
            .await;
        let r: std::result::Result<Option<String>, _> = match set {
            Ok(()) => {
                self.conn
                    .query_first("SELECT @@character_set_connection")
                    .await
            }
            Err(e) => Err(e),
        };
        self.conn
            .query_drop("SET NAMES binary")
            .await
            .map_err(Error::db("restoring the session charset"))?;
        Ok(r.ok().flatten().map(|n| n.to_ascii_lowercase()))
    }

    fn apply_error(&self, meta: &TableMeta, key: &str, problem: impl Into<String>) -> Error {
        self.server_refused(meta, key, problem, None)
    }

    /// [`Applier::apply_error`] for a change the server refused with `code`.
    fn server_refused(
        &self,
        meta: &TableMeta,
        key: &str,
        problem: impl Into<String>,
        code: Option<u16>,
    ) -> Error {
        Error::Apply {
            gtid: self
                .open
                .as_ref()
                .map(|o| o.begin.gtid.to_string())
                .unwrap_or_default(),
            table: meta.full_name(),
            key: key.into(),
            problem: problem.into(),
            code,
        }
    }

    fn wrap(&self, meta: &TableMeta, e: mysql_async::Error) -> Error {
        let code = match &e {
            mysql_async::Error::Server(s) => Some(s.code),
            _ => None,
        };
        if code.is_some_and(crate::error::is_foreign_key_error) {
            return self.server_refused(
                meta,
                "-",
                format!(
                    "{e}. Rows written on this node that the master had not received when \
                     it made this change refer to the row it removes, or are the row it \
                     refers to (the master refuses them when they arrive: kind foreign_key \
                     in its conflict log, `master-admin conflicts`). Replication of the \
                     master's changes to this node waits until they are resolved here: \
                     delete or re-point the referring rows, or restore the referred one"
                ),
                code,
            );
        }
        if crate::error::db_error_is_transient(&e) {
            Error::Db {
                context: format!("applying rows of {} on {}", meta.full_name(), self.label),
                source: e,
            }
        } else {
            self.server_refused(meta, "-", e.to_string(), code)
        }
    }

    /// Force-to-image apply without conflict checks.
    async fn rows_forced(
        &mut self,
        chunk: &RowsChunk,
        plan: &TablePlan,
        rows: &[RowPair<'_>],
    ) -> Result<()> {
        let meta = &chunk.table;
        let res = match chunk.kind {
            RowKind::Insert => {
                let stmt = &plan.upsert;
                let batch: Vec<Vec<mysql_async::Value>> = rows
                    .iter()
                    .map(|(_, a)| params(a.unwrap(), &plan.cols))
                    .collect();
                self.conn.exec_batch(stmt.as_str(), batch).await
            }
            RowKind::Delete => {
                let batch: Vec<Vec<mysql_async::Value>> = rows
                    .iter()
                    .map(|(b, _)| params(b.unwrap(), &plan.key))
                    .collect();
                self.conn.exec_batch(plan.delete.as_str(), batch).await
            }
            RowKind::Update if !plan.has_pk => {
                let batch: Vec<Vec<mysql_async::Value>> = rows
                    .iter()
                    .map(|(b, a)| plan.update_by_row_params(b.unwrap(), a.unwrap()))
                    .collect();
                self.conn
                    .exec_batch(plan.update_by_row.as_str(), batch)
                    .await
            }
            RowKind::Update => {
                // A move's part alone ([`moved_in_part`]) goes row by row too.
                let parts = rows.iter().any(|r| r.0.is_none() || r.1.is_none());
                if !parts && !moves_a_key(plan, rows) {
                    let batch: Vec<Vec<mysql_async::Value>> = rows
                        .iter()
                        .map(|(_, a)| params(a.unwrap(), &plan.cols))
                        .collect();
                    self.conn.exec_batch(plan.upsert.as_str(), batch).await
                } else {
                    // In the origin's row order: move each row as the update it was at its
                    // origin, where it can (else delete the old key, write the new).
                    let follows = !self
                        .update_cascading_refs(&meta.schema, &meta.table)
                        .await?
                        .is_empty();
                    let mut r = Ok(());
                    for row in rows {
                        let (b, a) = match *row {
                            (Some(b), Some(a)) => (b, a),
                            // A move's part alone ([`moved_in_part`]).
                            part => {
                                r = match part {
                                    (Some(b), None) => self.delete_row(plan, b).await,
                                    (None, Some(a)) => self.write_row(plan, a).await,
                                    _ => Ok(()),
                                };
                                if r.is_err() {
                                    break;
                                }
                                continue;
                            }
                        };
                        let moves = plan.moves(b, a);
                        if moves {
                            match self.move_by_update(plan, b, a).await {
                                Ok(true) => continue,
                                Ok(false) => {}
                                Err(mysql_async::Error::Server(s))
                                    if s.code == fk::ROW_IS_REFERENCED && !follows =>
                                {
                                    r = self.move_over_referring_rows(plan, b, a, &s.message).await;
                                    if r.is_err() {
                                        break;
                                    }
                                    continue;
                                }
                                Err(e) => {
                                    r = Err(e);
                                    break;
                                }
                            }
                        }
                        // A row of the chunk that keeps its key is only written (deleted, it
                        // would take the rows referring to it, or be refused by them).
                        if moves {
                            r = self.delete_row(plan, b).await;
                        }
                        if r.is_ok() {
                            r = self.write_row(plan, a).await;
                        }
                        if r.is_err() {
                            break;
                        }
                    }
                    r
                }
            }
        };
        match res {
            Err(mysql_async::Error::Server(ref s))
                if s.code == 1062 && plan.has_pk && !plan.unique.is_empty() =>
            {
                debug!(target_node = %self.label, table = %meta.full_name(), error = %s.message,
                       "a unique value of the change is held by another row here; row by row");
                self.rows_forced_displacing(chunk, plan, rows).await
            }
            r => r.map_err(|e| self.wrap(meta, e)),
        }
    }

    /// A move of a row to another key (`before` to `after`) that the origin made as an
    /// `UPDATE`, which rows here refuse: they refer to its old key through keys whose update
    /// rule is `RESTRICT` (`message`, the server's). No row referred to it where the change
    /// was made, so these are this node's own rows that the master has not taken yet (it
    /// will refuse them, and their echoes bring back its rows) or never took. Made without
    /// foreign key checks, the move leaves them as they are until then, with the rows
    /// referring to them in turn: those may be the master's. (Made as a delete and an insert,
    /// the delete took them here, with their cascades, or [`fk`] deleted them first: a child
    /// this node had re-pointed at the row came back with its echo, the rows under it not.)
    async fn move_over_referring_rows(
        &mut self,
        plan: &TablePlan,
        before: &[Value],
        after: &[Value],
        message: &str,
    ) -> std::result::Result<(), mysql_async::Error> {
        debug!(target_node = %self.label, table = %plan.name, error = %message,
               "a move that rows made here refer to: made without foreign key checks, they stay \
                until their echoes");
        self.fk_checks_off("starsync_mv").await?;
        let r = self.move_by_update(plan, before, after).await;
        self.restore_fk_checks("starsync_mv").await?;
        match r? {
            true => Ok(()),
            // Not moved (the row was here and its new key free a statement ago): as any move.
            false => {
                self.delete_row(plan, before).await?;
                self.write_row(plan, after).await
            }
        }
    }

    /// Deletes the row at `before`'s key (force to image).
    async fn delete_row(
        &mut self,
        plan: &TablePlan,
        before: &[Value],
    ) -> std::result::Result<(), mysql_async::Error> {
        self.conn
            .exec_drop(plan.delete.as_str(), params(before, &plan.key))
            .await
    }

    /// Writes `after` over whatever holds its key (force to image).
    async fn write_row(
        &mut self,
        plan: &TablePlan,
        after: &[Value],
    ) -> std::result::Result<(), mysql_async::Error> {
        self.conn
            .exec_drop(plan.upsert.as_str(), params(after, &plan.cols))
            .await
    }

    /// [`Applier::rows_forced`] row by row, each row's secondary unique values taken from any
    /// other row that holds them here (deleted, as the hub deleted them on the master when
    /// they met: kind `unique_displaced` in its conflict log). Such a row is one this node
    /// changed itself and the master had not taken yet when it made this change: in hub
    /// order it comes later, and its echo brings the master's row back. Redoing the rows the
    /// batch already wrote changes nothing (every row is forced to its image, in order).
    async fn rows_forced_displacing(
        &mut self,
        chunk: &RowsChunk,
        plan: &TablePlan,
        rows: &[RowPair<'_>],
    ) -> Result<()> {
        let meta = &chunk.table;
        let by_update = chunk.kind == RowKind::Update
            && !self
                .update_cascading_refs(&meta.schema, &meta.table)
                .await?
                .is_empty();
        let mut displaced = 0;
        for (b, a) in rows {
            if let Some(a) = a {
                for u in &plan.unique {
                    if u.cols.iter().any(|&c| a[c] == Value::Null) {
                        continue;
                    }
                    let (p, moved) = plan.others_params(u, *b, a);
                    self.conn
                        .exec_drop(u.others(moved).1, mysql_async::Params::Positional(p))
                        .await
                        .map_err(|e| self.wrap(meta, e))?;
                    displaced += self.conn.affected_rows();
                }
            }
            let (r, _) = self
                .force_checked(plan, chunk.kind, *b, *a, by_update)
                .await;
            r.map_err(|e| self.wrap(meta, e))?;
        }
        if displaced > 0 {
            if let Some(es) = &self.echo_skip {
                es.touched(&meta.full_name());
            }
            warn!(target_node = %self.label, table = %meta.full_name(), rows = displaced,
                  gtid = %self.open.as_ref().map(|o| o.begin.gtid.to_string()).unwrap_or_default(),
                  "rows here held a unique value this change gives another row: deleted (hub \
                   order; a row of this node's own changes comes back with their echo)");
        }
        Ok(())
    }
}

/// The begin of a transaction applied without binlogging and without a GTID.
fn unlogged() -> TxnBegin {
    TxnBegin {
        gtid: Gtid::new(0, 0, 0),
        timestamp: 0,
        ddl: false,
        non_transactional: false,
    }
}

/// Whether an apply error is a foreign key refusing a row (ERROR 1451 or 1452, see `wrap`).
fn refused_by_foreign_key(e: &Error) -> bool {
    matches!(e, Error::Apply { code: Some(c), .. } if crate::error::is_foreign_key_error(*c))
}

/// What an applier that must not drop rows says about a table its target does not have.
const TABLE_MISSING: &str = "the table does not exist on this node (DDL drift: make it the \
                             master's with `master-admin repair DB.TABLE --node NODE`, or \
                             resync the node)";

/// Name of the schema holding starsync's own state, re-exported for callers.
pub const STATE: &str = STATE_SCHEMA;
