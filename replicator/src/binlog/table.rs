//! Table-map events: what the binlog says about a table, turned into a [`TableMeta`] for the
//! change model and a decoding plan for its rows.
//!
//! The event is parsed here rather than through mysql_common so that every MariaDB type (and its
//! optional metadata from `binlog_row_metadata=FULL`: names, signedness, charsets, primary key) is
//! handled explicitly. The plan is made once per table map, not per row: row decoding then only
//! walks a `Vec<ColDec>`.

use std::sync::Arc;

use crate::model::{coltype, ColumnMeta, TableMeta};

/// How one column's value is laid out in a row image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColDec {
    Int {
        bytes: u8,
        unsigned: bool,
    },
    Float,
    Double,
    Decimal {
        precision: u8,
        scale: u8,
    },
    Year,
    Date,
    /// Old-format (pre-5.6) TIME / DATETIME / TIMESTAMP.
    TimeOld,
    DateTimeOld,
    TimestampOld,
    Time2 {
        fsp: u8,
    },
    DateTime2 {
        fsp: u8,
    },
    Timestamp2 {
        fsp: u8,
    },
    /// Length-prefixed bytes: VARCHAR, CHAR, BLOB/TEXT/JSON, GEOMETRY.
    Bytes {
        len_bytes: u8,
    },
    /// BINARY(n) (also INET6, UUID): the binlog strips trailing zero bytes; they are put back so
    /// that the value is the stored one whatever type the target column has.
    Binary {
        len_bytes: u8,
        width: u16,
    },
    Enum {
        bytes: u8,
    },
    Set {
        bytes: u8,
    },
    Bit {
        bytes: u8,
    },
}

/// A parsed table map: model metadata plus the decoding plan.
#[derive(Debug)]
pub struct TableDecoder {
    pub table_id: u64,
    pub meta: Arc<TableMeta>,
    pub cols: Vec<ColDec>,
    /// The event body it was parsed from: a repeated identical table map reuses this decoder.
    pub raw: Vec<u8>,
}

/// Why a table map could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableMapError(pub String);

type R<T> = Result<T, TableMapError>;

fn err<T>(msg: impl Into<String>) -> R<T> {
    Err(TableMapError(msg.into()))
}

/// A byte cursor with MySQL's integer encodings.
pub(crate) struct Cur<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
}

impl<'a> Cur<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    pub fn take(&mut self, n: usize) -> R<&'a [u8]> {
        if self.remaining() < n {
            return err(format!(
                "truncated: needed {n} bytes at offset {}, {} left",
                self.pos,
                self.remaining()
            ));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub fn u8(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn uint_le(&mut self, n: usize) -> R<u64> {
        let b = self.take(n)?;
        Ok(b.iter().rev().fold(0u64, |acc, &x| (acc << 8) | x as u64))
    }
    pub fn lenenc(&mut self) -> R<u64> {
        match self.u8()? {
            x @ 0..=250 => Ok(x as u64),
            252 => self.uint_le(2),
            253 => self.uint_le(3),
            254 => self.uint_le(8),
            x => err(format!("invalid length-encoded integer prefix {x}")),
        }
    }
}

/// Columns with a bit in SIGNEDNESS. MariaDB counts YEAR (a TINYINT underneath) but not BIT.
fn is_numeric(ty: u8) -> bool {
    use coltype::*;
    matches!(
        ty,
        TINY | SHORT | INT24 | LONG | LONGLONG | FLOAT | DOUBLE | NEWDECIMAL | DECIMAL | YEAR
    )
}

/// Columns that carry a character set in DEFAULT_CHARSET / COLUMN_CHARSET (by real type).
fn is_character(ty: u8) -> bool {
    use coltype::*;
    matches!(
        ty,
        STRING | VAR_STRING | VARCHAR | BLOB | TINY_BLOB | MEDIUM_BLOB | LONG_BLOB | GEOMETRY
    )
}

/// Optional metadata field types (`Table_map_log_event::Optional_metadata_field_type`).
mod opt {
    pub const SIGNEDNESS: u8 = 1;
    pub const DEFAULT_CHARSET: u8 = 2;
    pub const COLUMN_CHARSET: u8 = 3;
    pub const COLUMN_NAME: u8 = 4;
    pub const SET_STR_VALUE: u8 = 5;
    pub const ENUM_STR_VALUE: u8 = 6;
    pub const SIMPLE_PRIMARY_KEY: u8 = 8;
    pub const PRIMARY_KEY_WITH_PREFIX: u8 = 9;
}

impl TableDecoder {
    /// Parses a TABLE_MAP event body (post-header included, checksum excluded).
    pub fn parse(body: &[u8]) -> R<TableDecoder> {
        let mut c = Cur::new(body);
        let (table_id, schema, table) = header(&mut c)?;
        let ncols = c.lenenc()? as usize;
        let types = c.take(ncols)?.to_vec();
        let meta_len = c.lenenc()? as usize;
        let mut m = Cur::new(c.take(meta_len)?);
        let nulls = c.take(ncols.div_ceil(8))?.to_vec();

        // Per-column metadata and real types.
        let mut real = Vec::with_capacity(ncols);
        let mut metas = Vec::with_capacity(ncols);
        for (i, &t) in types.iter().enumerate() {
            use coltype::*;
            let (rt, meta): (u8, u16) = match t {
                FLOAT | DOUBLE | BLOB | TINY_BLOB | MEDIUM_BLOB | LONG_BLOB | GEOMETRY | JSON
                | TIMESTAMP2 | DATETIME2 | TIME2 => (t, m.u8()? as u16),
                VARCHAR | VAR_STRING => (t, m.uint_le(2)? as u16),
                BIT | NEWDECIMAL => {
                    let a = m.u8()? as u16;
                    let b = m.u8()? as u16;
                    (t, (a << 8) | b)
                }
                STRING | ENUM | SET => {
                    let b0 = m.u8()?;
                    let b1 = m.u8()? as u16;
                    if (b0 & 0x30) != 0x30 {
                        // A CHAR longer than 255 bytes: the high length bits hide in byte 0.
                        (b0 | 0x30, b1 | ((((b0 & 0x30) ^ 0x30) as u16) << 4))
                    } else {
                        (b0, b1)
                    }
                }
                BLOB_COMPRESSED | VARCHAR_COMPRESSED => {
                    return err(format!(
                        "column {} of {schema}.{table} uses MariaDB column compression, which \
                         starsync does not replicate; remove COMPRESSED from the column",
                        i + 1
                    ))
                }
                TINY | SHORT | INT24 | LONG | LONGLONG | YEAR | DATE | NEWDATE | TIME
                | DATETIME | TIMESTAMP | NULL => (t, 0),
                other => {
                    return err(format!(
                        "column {} of {schema}.{table} has unknown binlog type {other}",
                        i + 1
                    ))
                }
            };
            real.push(rt);
            metas.push(meta);
        }

        // Optional metadata (binlog_row_metadata=FULL).
        let mut unsigned = vec![false; ncols];
        let mut charsets = vec![0u16; ncols];
        let mut names: Vec<Option<String>> = vec![None; ncols];
        let mut labels: Vec<Vec<String>> = vec![Vec::new(); ncols];
        let mut pk = Vec::new();
        let char_cols: Vec<usize> = (0..ncols).filter(|&i| is_character(real[i])).collect();
        let num_cols: Vec<usize> = (0..ncols).filter(|&i| is_numeric(real[i])).collect();
        while c.remaining() > 0 {
            let ty = c.u8()?;
            let len = c.lenenc()? as usize;
            let mut v = Cur::new(c.take(len)?);
            match ty {
                opt::SIGNEDNESS => {
                    for (k, &col) in num_cols.iter().enumerate() {
                        let byte = v.buf.get(k / 8).copied().unwrap_or(0);
                        unsigned[col] = byte & (0x80 >> (k % 8)) != 0;
                    }
                }
                opt::DEFAULT_CHARSET => {
                    let default = v.lenenc()? as u16;
                    for &col in &char_cols {
                        charsets[col] = default;
                    }
                    while v.remaining() > 0 {
                        let idx = v.lenenc()? as usize;
                        let cs = v.lenenc()? as u16;
                        if let Some(&col) = char_cols.get(idx) {
                            charsets[col] = cs;
                        }
                    }
                }
                opt::COLUMN_CHARSET => {
                    for &col in &char_cols {
                        if v.remaining() == 0 {
                            break;
                        }
                        charsets[col] = v.lenenc()? as u16;
                    }
                }
                opt::COLUMN_NAME => {
                    for name in names.iter_mut() {
                        let l = v.lenenc()? as usize;
                        *name = Some(String::from_utf8_lossy(v.take(l)?).into_owned());
                    }
                }
                opt::SIMPLE_PRIMARY_KEY => {
                    while v.remaining() > 0 {
                        pk.push(v.lenenc()? as usize);
                    }
                }
                opt::PRIMARY_KEY_WITH_PREFIX => {
                    while v.remaining() > 0 {
                        pk.push(v.lenenc()? as usize);
                        let _prefix = v.lenenc()?;
                    }
                }
                opt::SET_STR_VALUE | opt::ENUM_STR_VALUE => {
                    let want = if ty == opt::SET_STR_VALUE {
                        coltype::SET
                    } else {
                        coltype::ENUM
                    };
                    for (i, _) in real.iter().enumerate().filter(|(_, &t)| t == want) {
                        if v.remaining() == 0 {
                            break;
                        }
                        let n = v.lenenc()? as usize;
                        let mut values = Vec::with_capacity(n.min(1024));
                        for _ in 0..n {
                            let l = v.lenenc()? as usize;
                            values.push(String::from_utf8_lossy(v.take(l)?).into_owned());
                        }
                        labels[i] = values;
                    }
                }
                _ => {} // geometry types, visibility: not needed
            }
        }
        if let Some(i) = names.iter().position(Option::is_none) {
            return err(format!(
                "the table map of {schema}.{table} has no name for column {}: the origin server \
                 must log binlog_row_metadata=FULL",
                i + 1
            ));
        }
        if pk.iter().any(|&i| i >= ncols) {
            return err(format!(
                "primary key of {schema}.{table} names a missing column"
            ));
        }

        let mut cols = Vec::with_capacity(ncols);
        let mut columns = Vec::with_capacity(ncols);
        for i in 0..ncols {
            let (rt, meta) = (real[i], metas[i]);
            cols.push(col_dec(rt, meta, unsigned[i], charsets[i]).map_err(|e| {
                TableMapError(format!("column {} of {schema}.{table}: {}", i + 1, e.0))
            })?);
            columns.push(ColumnMeta {
                name: names[i].take().unwrap_or_default(),
                ty: rt,
                meta,
                unsigned: unsigned[i],
                charset: charsets[i],
                nullable: nulls[i / 8] & (1 << (i % 8)) != 0,
                labels: std::mem::take(&mut labels[i]),
            });
        }
        Ok(TableDecoder {
            table_id,
            meta: Arc::new(TableMeta {
                schema,
                table,
                columns,
                primary_key: pk,
            }),
            cols,
            raw: body.to_vec(),
        })
    }
}

/// Table id, schema and table name: the start of a TABLE_MAP body.
fn header(c: &mut Cur<'_>) -> R<(u64, String, String)> {
    let table_id = c.uint_le(6)?;
    let _flags = c.uint_le(2)?;
    let db_len = c.u8()? as usize;
    let schema = String::from_utf8_lossy(c.take(db_len)?).into_owned();
    c.u8()?;
    let tbl_len = c.u8()? as usize;
    let table = String::from_utf8_lossy(c.take(tbl_len)?).into_owned();
    c.u8()?;
    Ok((table_id, schema, table))
}

/// `schema.table` of a TABLE_MAP body, without parsing its columns.
pub fn table_map_name(body: &[u8]) -> Option<String> {
    let (_, schema, table) = header(&mut Cur::new(body)).ok()?;
    Some(format!("{schema}.{table}"))
}

fn col_dec(ty: u8, meta: u16, unsigned: bool, charset: u16) -> R<ColDec> {
    use coltype::*;
    Ok(match ty {
        TINY => ColDec::Int { bytes: 1, unsigned },
        SHORT => ColDec::Int { bytes: 2, unsigned },
        INT24 => ColDec::Int { bytes: 3, unsigned },
        LONG => ColDec::Int { bytes: 4, unsigned },
        LONGLONG => ColDec::Int { bytes: 8, unsigned },
        FLOAT => ColDec::Float,
        DOUBLE => ColDec::Double,
        NEWDECIMAL => ColDec::Decimal {
            precision: (meta >> 8) as u8,
            scale: (meta & 0xff) as u8,
        },
        YEAR => ColDec::Year,
        DATE | NEWDATE => ColDec::Date,
        TIME => ColDec::TimeOld,
        DATETIME => ColDec::DateTimeOld,
        TIMESTAMP => ColDec::TimestampOld,
        TIME2 => ColDec::Time2 { fsp: meta as u8 },
        DATETIME2 => ColDec::DateTime2 { fsp: meta as u8 },
        TIMESTAMP2 => ColDec::Timestamp2 { fsp: meta as u8 },
        VARCHAR | VAR_STRING => ColDec::Bytes {
            len_bytes: if meta < 256 { 1 } else { 2 },
        },
        STRING if charset == crate::model::BINARY_CHARSET => ColDec::Binary {
            len_bytes: if meta < 256 { 1 } else { 2 },
            width: meta,
        },
        STRING => ColDec::Bytes {
            len_bytes: if meta < 256 { 1 } else { 2 },
        },
        ENUM => ColDec::Enum { bytes: meta as u8 },
        SET => ColDec::Set { bytes: meta as u8 },
        BIT => {
            let (bits, bytes) = ((meta >> 8) as u8, (meta & 0xff) as u8);
            ColDec::Bit {
                bytes: bytes + u8::from(bits > 0),
            }
        }
        BLOB | TINY_BLOB | MEDIUM_BLOB | LONG_BLOB | GEOMETRY | JSON => {
            if !(1..=4).contains(&meta) {
                return err(format!("blob length size {meta} is not 1 to 4"));
            }
            ColDec::Bytes {
                len_bytes: meta as u8,
            }
        }
        other => return err(format!("type {other} cannot be decoded")),
    })
}
