//! The portable change model: what a MariaDB transaction is once it has left the binlog.
//!
//! A transaction travels as a sequence of [`TxnItem`]s: `Begin` (its GTID and commit time), any
//! number of `Rows` chunks and `Query` statements, then `Commit`. Large transactions therefore
//! stream in bounded chunks: nobody ever holds a whole 1M-row transaction in memory. A chunk names
//! its table fully ([`TableMeta`]: schema, table, column names and types, primary key), so every
//! chunk can be applied on its own, by column name.
//!
//! Values ([`Value`]) cover every MariaDB type exactly: integers keep their width and sign,
//! DECIMAL travels as its exact decimal text, temporal types as their fields, ENUM and SET as
//! their stored index and bitmask, strings and blobs as the bytes the server stored, in the
//! column's character set (named in [`ColumnMeta::charset`]).
//!
//! Encoding is MessagePack via serde with one- or two-letter field and variant names.
//! [`FORMAT_VERSION`] is part of the wire handshake; a change that is not backwards compatible
//! bumps it.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::gtid::Gtid;

/// Version of the change format and wire messages.
pub const FORMAT_VERSION: u32 = 2;

/// MariaDB column type codes (`enum_field_types`) as they appear in table-map events.
pub mod coltype {
    pub const DECIMAL: u8 = 0;
    pub const TINY: u8 = 1;
    pub const SHORT: u8 = 2;
    pub const LONG: u8 = 3;
    pub const FLOAT: u8 = 4;
    pub const DOUBLE: u8 = 5;
    pub const NULL: u8 = 6;
    pub const TIMESTAMP: u8 = 7;
    pub const LONGLONG: u8 = 8;
    pub const INT24: u8 = 9;
    pub const DATE: u8 = 10;
    pub const TIME: u8 = 11;
    pub const DATETIME: u8 = 12;
    pub const YEAR: u8 = 13;
    pub const NEWDATE: u8 = 14;
    pub const VARCHAR: u8 = 15;
    pub const BIT: u8 = 16;
    pub const TIMESTAMP2: u8 = 17;
    pub const DATETIME2: u8 = 18;
    pub const TIME2: u8 = 19;
    pub const BLOB_COMPRESSED: u8 = 140;
    pub const VARCHAR_COMPRESSED: u8 = 141;
    pub const JSON: u8 = 245;
    pub const NEWDECIMAL: u8 = 246;
    pub const ENUM: u8 = 247;
    pub const SET: u8 = 248;
    pub const TINY_BLOB: u8 = 249;
    pub const MEDIUM_BLOB: u8 = 250;
    pub const LONG_BLOB: u8 = 251;
    pub const BLOB: u8 = 252;
    pub const VAR_STRING: u8 = 253;
    pub const STRING: u8 = 254;
    pub const GEOMETRY: u8 = 255;
}

/// The binary collation id (`my_charset_bin`).
pub const BINARY_CHARSET: u16 = 63;

/// One column as the origin's binlog described it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ColumnMeta {
    /// Column name (from `binlog_row_metadata=FULL`).
    #[serde(rename = "n")]
    pub name: String,
    /// Real type code (for `STRING` columns the real type: ENUM, SET or STRING).
    #[serde(rename = "t")]
    pub ty: u8,
    /// Type metadata as in the table-map event (lengths, precision, ...), normalized to u16.
    #[serde(rename = "m")]
    pub meta: u16,
    /// Numeric columns: declared UNSIGNED.
    #[serde(rename = "u", default)]
    pub unsigned: bool,
    /// Collation id for character columns (63 = binary), 0 when not a character column.
    #[serde(rename = "c", default)]
    pub charset: u16,
    /// Nullable per the table map.
    #[serde(rename = "z", default)]
    pub nullable: bool,
    /// An ENUM's or SET's values in order, as the origin logged them (for the conflict log,
    /// where a value reads as its label rather than its index).
    #[serde(rename = "l", default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

impl ColumnMeta {
    /// A short type name for messages.
    pub fn type_name(&self) -> &'static str {
        use coltype::*;
        match self.ty {
            TINY => "TINYINT",
            SHORT => "SMALLINT",
            INT24 => "MEDIUMINT",
            LONG => "INT",
            LONGLONG => "BIGINT",
            FLOAT => "FLOAT",
            DOUBLE => "DOUBLE",
            NEWDECIMAL | DECIMAL => "DECIMAL",
            YEAR => "YEAR",
            DATE | NEWDATE => "DATE",
            TIME | TIME2 => "TIME",
            DATETIME | DATETIME2 => "DATETIME",
            TIMESTAMP | TIMESTAMP2 => "TIMESTAMP",
            VARCHAR | VAR_STRING => "VARCHAR",
            STRING => "CHAR",
            ENUM => "ENUM",
            SET => "SET",
            BIT => "BIT",
            BLOB | TINY_BLOB | MEDIUM_BLOB | LONG_BLOB => "BLOB",
            GEOMETRY => "GEOMETRY",
            JSON => "JSON",
            _ => "UNKNOWN",
        }
    }
}

/// A table as one transaction saw it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TableMeta {
    #[serde(rename = "s")]
    pub schema: String,
    #[serde(rename = "t")]
    pub table: String,
    #[serde(rename = "c")]
    pub columns: Vec<ColumnMeta>,
    /// Indexes into `columns` of the primary key; empty when the table has none.
    #[serde(rename = "k")]
    pub primary_key: Vec<usize>,
}

impl TableMeta {
    /// `schema.table`, unquoted, for messages.
    pub fn full_name(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }

    /// The positions of the columns `names` (case-insensitive, as the server compares them);
    /// `None` when one is not a column of the table.
    pub fn positions(&self, names: &[String]) -> Option<Vec<usize>> {
        names
            .iter()
            .map(|n| {
                self.columns
                    .iter()
                    .position(|c| c.name.eq_ignore_ascii_case(n))
            })
            .collect()
    }

    /// Values of the primary key of one row image (all columns when there is no key).
    pub fn key_of<'a>(&self, image: &'a [Value]) -> Vec<&'a Value> {
        if self.primary_key.is_empty() {
            image.iter().collect()
        } else {
            self.primary_key.iter().map(|&i| &image[i]).collect()
        }
    }

    /// The primary key of one row image, encoded ([`encode_key`]).
    pub fn encoded_key(&self, image: &[Value]) -> Vec<u8> {
        encode_key(&self.key_of(image))
    }
}

/// A row's key values (primary key in its order, or the whole row) encoded as in-flight keys,
/// images left alone and the rows a delete reaches are compared: MessagePack of the values.
pub fn encode_key(values: &[&Value]) -> Vec<u8> {
    rmp_serde::to_vec(values).unwrap_or_default()
}

/// What a rows chunk does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RowKind {
    #[serde(rename = "I")]
    Insert,
    #[serde(rename = "U")]
    Update,
    #[serde(rename = "D")]
    Delete,
}

/// A run of row changes of one kind on one table, part of a transaction.
///
/// `values` is flat: for inserts each row is its after-image, for deletes its before-image, for
/// updates the before-image followed by the after-image; every image has `table.columns.len()`
/// values. One allocation per chunk, not per row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowsChunk {
    #[serde(rename = "t")]
    pub table: Arc<TableMeta>,
    #[serde(rename = "k")]
    pub kind: RowKind,
    #[serde(rename = "v")]
    pub values: Vec<Value>,
    /// The origin's session ran the change with `foreign_key_checks = 0` (the rows event's
    /// `NO_FOREIGN_KEY_CHECKS_F`): it is applied so too, as native replication does. Absent from
    /// older peers' chunks.
    #[serde(rename = "f", default, skip_serializing_if = "std::ops::Not::not")]
    pub no_fk_checks: bool,
}

impl RowsChunk {
    /// A chunk of `values` (see the type), its origin's foreign key checks on.
    pub fn new(table: Arc<TableMeta>, kind: RowKind, values: Vec<Value>) -> RowsChunk {
        RowsChunk {
            table,
            kind,
            values,
            no_fk_checks: false,
        }
    }

    /// Values per row (two images for updates).
    pub fn row_width(&self) -> usize {
        let n = self.table.columns.len();
        match self.kind {
            RowKind::Update => 2 * n,
            _ => n,
        }
    }

    pub fn len(&self) -> usize {
        self.values.len().checked_div(self.row_width()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Iterates `(before, after)` images; absent images are `None`.
    pub fn rows(&self) -> impl Iterator<Item = (Option<&[Value]>, Option<&[Value]>)> {
        let n = self.table.columns.len();
        let kind = self.kind;
        self.values
            .chunks_exact(self.row_width().max(1))
            .map(move |r| match kind {
                RowKind::Insert => (None, Some(r)),
                RowKind::Delete => (Some(r), None),
                RowKind::Update => (Some(&r[..n]), Some(&r[n..])),
            })
    }

    /// Approximate heap size, for byte-bounded queues.
    pub fn approx_bytes(&self) -> usize {
        self.values.iter().map(Value::approx_bytes).sum::<usize>() + 64
    }
}

/// Start of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnBegin {
    /// The origin GTID (domain and server id of the node where it was committed).
    #[serde(rename = "g")]
    pub gtid: Gtid,
    /// Commit time at the origin, seconds since the epoch (binlog event timestamp).
    #[serde(rename = "ts")]
    pub timestamp: u32,
    /// A statement group: DDL (flag FL_DDL of the GTID event) or any other standalone statement.
    #[serde(rename = "ddl", default)]
    pub ddl: bool,
    /// Not transactional (MyISAM, ...): it cannot be rolled back.
    #[serde(rename = "nt", default)]
    pub non_transactional: bool,
}

/// A statement of a transaction (DDL, or statements the binlog kept as text).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueryItem {
    /// Default schema the statement was executed in (may be empty).
    #[serde(rename = "s")]
    pub schema: String,
    /// The statement text, as bytes in the origin's client character set.
    #[serde(rename = "q", with = "serde_bytes")]
    pub sql: Vec<u8>,
    /// Collation id of the origin session's client character set (0 = unknown).
    #[serde(rename = "c", default)]
    pub charset: u16,
    /// The origin session's settings that change what a statement means (how its text parses,
    /// what a routine keeps, how a time literal reads): run with them, as native replication
    /// does. Absent from older peers.
    #[serde(rename = "e", default)]
    pub session: Option<Box<StatementSession>>,
}

/// The origin session's settings a statement ran with, from its binlog events.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StatementSession {
    /// `sql_mode`, as the number `SET sql_mode = N` takes (`ANSI_QUOTES`, `PIPES_AS_CONCAT`,
    /// `NO_BACKSLASH_ESCAPES`, `ORACLE`, strictness; a routine keeps it).
    #[serde(rename = "m", default)]
    pub sql_mode: Option<u64>,
    /// `time_zone`, when the session's was not the server's default (time literals in DDL).
    #[serde(rename = "z", default)]
    pub time_zone: Option<String>,
    /// The session ran with `foreign_key_checks = 0`.
    #[serde(rename = "f", default)]
    pub no_foreign_key_checks: bool,
    /// `collation_server` (the character set of a `CREATE DATABASE` without one); 0: unknown.
    #[serde(rename = "v", default)]
    pub collation_server: u16,
    /// When the statement ran on the origin, in microseconds since the epoch (`SET TIMESTAMP`:
    /// `NOW()` in a statement-logged data change gives the origin's time).
    #[serde(rename = "t", default)]
    pub timestamp_us: Option<u64>,
    /// The first auto-increment value the origin's statement took (INTVAR `INSERT_ID`).
    #[serde(rename = "i", default)]
    pub insert_id: Option<u64>,
    /// The origin session's `auto_increment_increment` and `_offset` (the values after the
    /// first one of a multi-row insert).
    #[serde(rename = "a", default)]
    pub auto_increment: Option<(u16, u16)>,
    /// `LAST_INSERT_ID()` as the origin's statement read it (INTVAR `LAST_INSERT_ID`).
    #[serde(rename = "l", default)]
    pub last_insert_id: Option<u64>,
    /// The seeds of the origin's `RAND()` (RAND event).
    #[serde(rename = "r", default)]
    pub rand_seed: Option<(u64, u64)>,
    /// User variables the statement read (USER_VAR events).
    #[serde(rename = "u", default)]
    pub user_vars: Vec<UserVar>,
    /// `lc_time_names` by number (month and day names of `DATE_FORMAT`), when not `en_US`.
    #[serde(rename = "n", default)]
    pub lc_time_names: Option<u16>,
    /// A `LOAD DATA` logged as a statement: its file's content stayed in the origin's binlog
    /// (not shipped), so the statement cannot run elsewhere.
    #[serde(rename = "ld", default)]
    pub load_data: bool,
}

/// A user variable a statement read on the origin, and its value there.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserVar {
    #[serde(rename = "n")]
    pub name: String,
    #[serde(rename = "v")]
    pub value: UserVarValue,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum UserVarValue {
    #[serde(rename = "n")]
    Null,
    #[serde(rename = "i")]
    Int(i64),
    #[serde(rename = "u")]
    UInt(u64),
    #[serde(rename = "f")]
    Real(f64),
    /// Exact decimal text.
    #[serde(rename = "d")]
    Decimal(String),
    /// A string: its bytes and collation id.
    #[serde(rename = "s")]
    Str {
        #[serde(rename = "c")]
        collation: u32,
        #[serde(rename = "b", with = "serde_bytes")]
        bytes: Vec<u8>,
    },
}

impl QueryItem {
    pub fn sql_lossy(&self) -> String {
        String::from_utf8_lossy(&self.sql).into_owned()
    }
}

/// End of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnCommit {
    #[serde(rename = "g")]
    pub gtid: Gtid,
    /// Number of rows in the whole transaction.
    #[serde(rename = "r")]
    pub rows: u64,
}

/// One element of a transaction stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TxnItem {
    #[serde(rename = "B")]
    Begin(TxnBegin),
    #[serde(rename = "R")]
    Rows(RowsChunk),
    #[serde(rename = "Q")]
    Query(QueryItem),
    #[serde(rename = "C")]
    Commit(TxnCommit),
    /// The stream broke inside a transaction: drop what was received of it (it will be sent
    /// again from its `Begin`).
    #[serde(rename = "A")]
    Abort,
}

impl TxnItem {
    pub fn approx_bytes(&self) -> usize {
        match self {
            TxnItem::Rows(c) => c.approx_bytes(),
            TxnItem::Query(q) => q.sql.len() + 32,
            _ => 32,
        }
    }
}

/// A calendar date (`DATE`), zero parts allowed as MariaDB allows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Date {
    pub y: u16,
    pub m: u8,
    pub d: u8,
}

/// `DATETIME(n)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DateTime {
    pub y: u16,
    pub m: u8,
    pub d: u8,
    pub h: u8,
    pub mi: u8,
    pub s: u8,
    pub us: u32,
}

/// `TIME(n)`: a signed duration up to ±838:59:59.999999.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Time {
    pub neg: bool,
    pub h: u32,
    pub mi: u8,
    pub s: u8,
    pub us: u32,
}

/// One column value, exactly as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Value {
    #[serde(rename = "n")]
    Null,
    /// Signed integers of every width.
    #[serde(rename = "i")]
    Int(i64),
    /// Unsigned integers of every width.
    #[serde(rename = "u")]
    UInt(u64),
    #[serde(rename = "f")]
    Float(f32),
    #[serde(rename = "d")]
    Double(f64),
    /// DECIMAL as its exact text, e.g. `-12.3400`.
    #[serde(rename = "x")]
    Decimal(String),
    /// Strings (in the column's charset), binary strings, blobs, JSON, GEOMETRY (SRID + WKB).
    #[serde(rename = "b")]
    Bytes(#[serde(with = "serde_bytes_bytes")] Bytes),
    #[serde(rename = "D")]
    Date(Date),
    #[serde(rename = "T")]
    Time(Time),
    #[serde(rename = "Y")]
    DateTime(DateTime),
    /// TIMESTAMP as UTC seconds and microseconds since the epoch (0 = the zero timestamp).
    #[serde(rename = "S")]
    Timestamp { s: u32, us: u32 },
    /// YEAR (0 for the year `0000`).
    #[serde(rename = "y")]
    Year(u16),
    /// BIT(n), right-aligned.
    #[serde(rename = "B")]
    Bit(u64),
    /// ENUM by 1-based index (0 = the empty error value).
    #[serde(rename = "e")]
    Enum(u16),
    /// SET as its member bitmask.
    #[serde(rename = "s")]
    Set(u64),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn approx_bytes(&self) -> usize {
        match self {
            Value::Bytes(b) => b.len() + 40,
            Value::Decimal(s) => s.len() + 40,
            _ => 40,
        }
    }
}

impl fmt::Display for Value {
    /// A readable rendering for logs and the conflict log (not SQL).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Int(v) => write!(f, "{v}"),
            Value::UInt(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v}"),
            Value::Double(v) => write!(f, "{v}"),
            Value::Decimal(v) => f.write_str(v),
            Value::Bytes(b) => match std::str::from_utf8(b) {
                Ok(s) => write!(f, "{s:?}"),
                Err(_) => write!(f, "0x{}", hex::encode(b)),
            },
            Value::Date(d) => write!(f, "{:04}-{:02}-{:02}", d.y, d.m, d.d),
            Value::DateTime(d) => {
                write!(
                    f,
                    "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                    d.y, d.m, d.d, d.h, d.mi, d.s
                )?;
                if d.us != 0 {
                    write!(f, ".{:06}", d.us)?;
                }
                Ok(())
            }
            Value::Time(t) => {
                write!(
                    f,
                    "{}{:02}:{:02}:{:02}",
                    if t.neg { "-" } else { "" },
                    t.h,
                    t.mi,
                    t.s
                )?;
                if t.us != 0 {
                    write!(f, ".{:06}", t.us)?;
                }
                Ok(())
            }
            Value::Timestamp { s, us } => write!(f, "@{s}.{us:06}"),
            Value::Year(y) => write!(f, "{y:04}"),
            Value::Bit(b) => write!(f, "b'{b:b}'"),
            Value::Enum(i) => write!(f, "enum#{i}"),
            Value::Set(m) => write!(f, "set:{m:#x}"),
        }
    }
}

/// serde for `bytes::Bytes` as a MessagePack bin (not an array of integers).
mod serde_bytes_bytes {
    use bytes::Bytes;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &Bytes, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(b)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        let v: serde_bytes::ByteBuf = serde::Deserialize::deserialize(d)?;
        Ok(Bytes::from(v.into_vec()))
    }
}

/// A test table `MOST.t` of INT columns named `names`, the first one its (NOT NULL) primary key.
#[cfg(test)]
pub(crate) fn int_table(names: &[&str]) -> TableMeta {
    TableMeta {
        schema: "MOST".into(),
        table: "t".into(),
        columns: names
            .iter()
            .enumerate()
            .map(|(i, n)| ColumnMeta {
                name: (*n).into(),
                ty: coltype::LONG,
                meta: 0,
                unsigned: false,
                charset: 0,
                nullable: i > 0,
                labels: Vec::new(),
            })
            .collect(),
        primary_key: vec![0],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Arc<TableMeta> {
        Arc::new(TableMeta {
            schema: "MOST".into(),
            table: "t".into(),
            columns: vec![
                ColumnMeta {
                    name: "id".into(),
                    ty: coltype::LONG,
                    meta: 0,
                    unsigned: false,
                    charset: 0,
                    nullable: false,
                    labels: Vec::new(),
                },
                ColumnMeta {
                    name: "v".into(),
                    ty: coltype::VARCHAR,
                    meta: 40,
                    unsigned: false,
                    charset: 45,
                    nullable: true,
                    labels: Vec::new(),
                },
            ],
            primary_key: vec![0],
        })
    }

    #[test]
    fn every_value_round_trips_through_msgpack() {
        let values = vec![
            Value::Null,
            Value::Int(i64::MIN),
            Value::UInt(u64::MAX),
            Value::Float(f32::MIN_POSITIVE),
            Value::Double(-0.0),
            Value::Decimal("-99999999999999999999.9999999999".into()),
            Value::Bytes(Bytes::from_static("😀\0'\\".as_bytes())),
            Value::Date(Date { y: 0, m: 0, d: 0 }),
            Value::Time(Time {
                neg: true,
                h: 838,
                mi: 59,
                s: 59,
                us: 999_999,
            }),
            Value::DateTime(DateTime {
                y: 9999,
                m: 12,
                d: 31,
                h: 23,
                mi: 59,
                s: 59,
                us: 1,
            }),
            Value::Timestamp {
                s: 2_147_483_647,
                us: 999_999,
            },
            Value::Year(0),
            Value::Bit(u64::MAX),
            Value::Enum(65535),
            Value::Set(1 << 63),
        ];
        let item = TxnItem::Rows(RowsChunk {
            no_fk_checks: false,
            table: table(),
            kind: RowKind::Insert,
            values: values.clone(),
        });
        let bytes = rmp_serde::to_vec(&item).unwrap();
        let back: TxnItem = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, item);
        // Compact: short names, binary strings as bin.
        assert!(bytes.len() < 300, "{} bytes", bytes.len());
    }

    #[test]
    fn rows_iterates_images() {
        let t = table();
        let chunk = RowsChunk {
            no_fk_checks: false,
            table: t,
            kind: RowKind::Update,
            values: vec![
                Value::Int(1),
                Value::Null,
                Value::Int(1),
                Value::Bytes(Bytes::from_static(b"x")),
            ],
        };
        assert_eq!(chunk.len(), 1);
        let (b, a) = chunk.rows().next().unwrap();
        assert_eq!(b.unwrap()[1], Value::Null);
        assert_eq!(a.unwrap()[1], Value::Bytes(Bytes::from_static(b"x")));
    }
}
