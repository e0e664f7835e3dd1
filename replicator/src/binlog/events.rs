//! MariaDB-specific binlog events, which mysql_common hands over raw.
//!
//! GTID (162): `seq u64 LE, domain u32 LE, flags u8[, commit_id u64 LE when flags & 2]`; the
//! origin server id is in the event header. GTID_LIST (163) and BINLOG_CHECKPOINT (161) only mark
//! binlog files and are not needed to follow a stream.

use crate::gtid::Gtid;

/// Event type codes used by the reader.
pub mod kind {
    pub const QUERY: u8 = 2;
    /// `LOAD DATA` logged as a statement: a QUERY event with 13 more post-header bytes (its
    /// file is in BEGIN_LOAD_QUERY and APPEND_BLOCK events before it).
    pub const EXECUTE_LOAD_QUERY: u8 = 18;
    pub const ROTATE: u8 = 4;
    pub const INTVAR: u8 = 5;
    pub const RAND: u8 = 13;
    pub const USER_VAR: u8 = 14;
    pub const FORMAT_DESCRIPTION: u8 = 15;
    pub const XID: u8 = 16;
    pub const TABLE_MAP: u8 = 19;
    pub const HEARTBEAT: u8 = 27;
    pub const XA_PREPARE: u8 = 38;
    pub const ANNOTATE_ROWS: u8 = 160;
    pub const BINLOG_CHECKPOINT: u8 = 161;
    pub const GTID: u8 = 162;
    pub const GTID_LIST: u8 = 163;
    pub const START_ENCRYPTION: u8 = 164;
    pub const QUERY_COMPRESSED: u8 = 165;
    pub const ROWS_COMPRESSED_FIRST: u8 = 166;
    pub const ROWS_COMPRESSED_LAST: u8 = 171;
}

/// GTID event flags.
pub mod flag {
    /// The group is a single statement (DDL or a non-transactional statement) with no COMMIT.
    pub const STANDALONE: u8 = 1;
    pub const GROUP_COMMIT_ID: u8 = 2;
    pub const TRANSACTIONAL: u8 = 4;
    pub const DDL: u8 = 32;
    pub const PREPARED_XA: u8 = 64;
    pub const COMPLETED_XA: u8 = 128;
}

/// A parsed GTID event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GtidEvent {
    pub gtid: Gtid,
    pub flags: u8,
}

impl GtidEvent {
    /// Parses the body of a GTID event; `server_id` comes from the event header.
    pub fn parse(body: &[u8], server_id: u32) -> Option<GtidEvent> {
        if body.len() < 13 {
            return None;
        }
        let seq = u64::from_le_bytes(body[0..8].try_into().ok()?);
        let domain = u32::from_le_bytes(body[8..12].try_into().ok()?);
        Some(GtidEvent {
            gtid: Gtid::new(domain, server_id, seq),
            flags: body[12],
        })
    }

    pub fn standalone(&self) -> bool {
        self.flags & flag::STANDALONE != 0
    }
    pub fn ddl(&self) -> bool {
        self.flags & flag::DDL != 0
    }
    pub fn transactional(&self) -> bool {
        self.flags & flag::TRANSACTIONAL != 0
    }
    pub fn xa(&self) -> bool {
        self.flags & (flag::PREPARED_XA | flag::COMPLETED_XA) != 0
    }
}

/// The parts of a QUERY event body the replicator needs.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryEvent<'a> {
    pub schema: &'a [u8],
    pub sql: &'a [u8],
    /// `character_set_client` collation of the origin session (Q_CHARSET_CODE), 0 if absent.
    pub charset: u16,
    /// Microseconds of the statement's start time (Q_HRNOW; the seconds are the header's).
    pub micros: Option<u32>,
    /// The origin session's settings the status variables give (`sql_mode`, time zone,
    /// foreign key checks, `collation_server`, auto-increment step, `lc_time_names`); the rest
    /// of it comes from other events.
    pub session: crate::model::StatementSession,
    pub error_code: u16,
}

/// An INTVAR event: `LAST_INSERT_ID` (1) or `INSERT_ID` (2) for the statement that follows.
pub fn intvar(body: &[u8]) -> Option<(u8, u64)> {
    Some((
        *body.first()?,
        u64::from_le_bytes(body.get(1..9)?.try_into().ok()?),
    ))
}

/// A RAND event: the two seeds of `RAND()` for the statement that follows.
pub fn rand_seeds(body: &[u8]) -> Option<(u64, u64)> {
    Some((
        u64::from_le_bytes(body.get(0..8)?.try_into().ok()?),
        u64::from_le_bytes(body.get(8..16)?.try_into().ok()?),
    ))
}

/// A USER_VAR event: a user variable the statement that follows reads, with its value.
pub fn user_var(body: &[u8]) -> Option<crate::model::UserVar> {
    use crate::model::{UserVar, UserVarValue};
    let name_len = u32::from_le_bytes(body.get(0..4)?.try_into().ok()?) as usize;
    let name = String::from_utf8_lossy(body.get(4..4 + name_len)?).into_owned();
    let mut i = 4 + name_len;
    let is_null = *body.get(i)? != 0;
    i += 1;
    if is_null {
        return Some(UserVar {
            name,
            value: UserVarValue::Null,
        });
    }
    let ty = *body.get(i)?;
    let collation = u32::from_le_bytes(body.get(i + 1..i + 5)?.try_into().ok()?);
    let len = u32::from_le_bytes(body.get(i + 5..i + 9)?.try_into().ok()?) as usize;
    i += 9;
    let v = body.get(i..i + len)?;
    let unsigned = body.get(i + len).is_some_and(|f| f & 1 != 0);
    let value = match ty {
        0 => UserVarValue::Str {
            collation,
            bytes: v.to_vec(),
        },
        1 => UserVarValue::Real(f64::from_le_bytes(v.get(..8)?.try_into().ok()?)),
        2 => {
            let raw = u64::from_le_bytes(v.get(..8)?.try_into().ok()?);
            if unsigned {
                UserVarValue::UInt(raw)
            } else {
                UserVarValue::Int(raw as i64)
            }
        }
        4 => UserVarValue::Decimal(super::rows::decimal_text(
            v.get(2..)?,
            *v.first()?,
            *v.get(1)?,
        )?),
        _ => return None,
    };
    Some(UserVar { name, value })
}

/// `flags2` bit: the session ran with `foreign_key_checks = 0` (OPTION_NO_FOREIGN_KEY_CHECKS).
pub const NO_FOREIGN_KEY_CHECKS: u32 = 1 << 26;

/// Status variable codes of QUERY events, with their sizes where fixed.
fn status_var_len(code: u8, rest: &[u8]) -> Option<usize> {
    Some(match code {
        0 => 4,                               // Q_FLAGS2_CODE
        1 => 8,                               // Q_SQL_MODE_CODE
        2 => 1 + *rest.first()? as usize + 2, // Q_CATALOG_CODE (old)
        3 => 4,                               // Q_AUTO_INCREMENT
        4 => 6,                               // Q_CHARSET_CODE
        5 => 1 + *rest.first()? as usize,     // Q_TIME_ZONE_CODE
        6 => 1 + *rest.first()? as usize,     // Q_CATALOG_NZ_CODE
        7 => 2,                               // Q_LC_TIME_NAMES_CODE
        8 => 2,                               // Q_CHARSET_DATABASE_CODE
        9 => 8,                               // Q_TABLE_MAP_FOR_UPDATE_CODE
        10 => 4,                              // Q_MASTER_DATA_WRITTEN_CODE
        11 => {
            // Q_INVOKER: user, host (length-prefixed)
            let ul = *rest.first()? as usize;
            let hl = *rest.get(1 + ul)? as usize;
            2 + ul + hl
        }
        12 => {
            // Q_UPDATED_DB_NAMES: count, then NUL-terminated names
            let n = *rest.first()? as usize;
            let mut len = 1;
            if n < 254 {
                for _ in 0..n {
                    let end = rest[len..].iter().position(|&b| b == 0)?;
                    len += end + 1;
                }
            }
            len
        }
        13 => 3,  // Q_MICROSECONDS
        14 => 1,  // Q_COMMIT_TS (MySQL)
        15 => 0,  // Q_COMMIT_TS2
        16 => 1,  // Q_EXPLICIT_DEFAULTS_FOR_TIMESTAMP
        17 => 8,  // Q_DDL_LOGGED_WITH_XID
        18 => 2,  // Q_DEFAULT_COLLATION_FOR_UTF8MB4
        19 => 1,  // Q_SQL_REQUIRE_PRIMARY_KEY
        20 => 1,  // Q_DEFAULT_TABLE_ENCRYPTION
        128 => 3, // Q_HRNOW (MariaDB)
        129 => 8, // Q_XID (MariaDB)
        _ => return None,
    })
}

impl<'a> QueryEvent<'a> {
    /// Parses a QUERY event body.
    pub fn parse(body: &'a [u8]) -> Option<QueryEvent<'a>> {
        // thread_id(4) exec_time(4) db_len(1) error_code(2) status_vars_len(2)
        if body.len() < 13 {
            return None;
        }
        let db_len = body[8] as usize;
        let error_code = u16::from_le_bytes([body[9], body[10]]);
        let sv_len = u16::from_le_bytes([body[11], body[12]]) as usize;
        let sv = body.get(13..13 + sv_len)?;
        let mut charset = 0;
        let mut micros = None;
        let mut session = crate::model::StatementSession::default();
        let mut i = 0;
        while i < sv.len() {
            let code = sv[i];
            let Some(len) = status_var_len(code, &sv[i + 1..]) else {
                break; // unknown status var: the rest cannot be walked, what follows stays unknown
            };
            let Some(v) = sv.get(i + 1..i + 1 + len) else {
                break;
            };
            match code {
                0 => {
                    let flags2 = u32::from_le_bytes(v.try_into().unwrap());
                    session.no_foreign_key_checks = flags2 & NO_FOREIGN_KEY_CHECKS != 0;
                }
                1 => session.sql_mode = Some(u64::from_le_bytes(v.try_into().unwrap())),
                4 => {
                    charset = u16::from_le_bytes([v[0], v[1]]);
                    session.collation_server = u16::from_le_bytes([v[4], v[5]]);
                }
                5 => session.time_zone = Some(String::from_utf8_lossy(&v[1..]).into_owned()),
                3 => {
                    session.auto_increment = Some((
                        u16::from_le_bytes([v[0], v[1]]),
                        u16::from_le_bytes([v[2], v[3]]),
                    ))
                }
                7 => session.lc_time_names = Some(u16::from_le_bytes([v[0], v[1]])),
                128 => micros = Some(u32::from_le_bytes([v[0], v[1], v[2], 0])),
                _ => {}
            }
            i += 1 + len;
        }
        let rest = &body[13 + sv_len..];
        let schema = rest.get(..db_len)?;
        let sql = rest.get(db_len + 1..)?;
        Some(QueryEvent {
            schema,
            sql,
            charset,
            micros,
            session,
            error_code,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtid_event_parses() {
        let mut body = Vec::new();
        body.extend_from_slice(&42u64.to_le_bytes());
        body.extend_from_slice(&7u32.to_le_bytes());
        body.push(flag::STANDALONE | flag::DDL);
        let e = GtidEvent::parse(&body, 3).unwrap();
        assert_eq!(e.gtid, Gtid::new(7, 3, 42));
        assert!(e.standalone() && e.ddl() && !e.transactional());
        assert!(GtidEvent::parse(&body[..10], 3).is_none());
    }

    #[test]
    fn query_event_parses() {
        let mut body = vec![0u8; 8];
        body.push(4); // db len
        body.extend_from_slice(&0u16.to_le_bytes());
        let mut sv = vec![0u8];
        sv.extend_from_slice(&NO_FOREIGN_KEY_CHECKS.to_le_bytes());
        sv.push(1);
        sv.extend_from_slice(&(1u64 << 2 | 1 << 21).to_le_bytes()); // ANSI_QUOTES, STRICT_TRANS_TABLES
        sv.extend_from_slice(&[4u8, 45, 0, 45, 0, 8, 0]);
        sv.extend_from_slice(&[5u8, 6]);
        sv.extend_from_slice(b"+05:00");
        body.extend_from_slice(&(sv.len() as u16).to_le_bytes());
        body.extend_from_slice(&sv);
        body.extend_from_slice(b"MOST\0CREATE TABLE t (id int)");
        let q = QueryEvent::parse(&body).unwrap();
        assert_eq!(q.schema, b"MOST");
        assert_eq!(q.sql, b"CREATE TABLE t (id int)");
        assert_eq!(q.charset, 45);
        assert_eq!(q.session.collation_server, 8);
        assert_eq!(q.session.sql_mode, Some(4 | 1 << 21));
        assert_eq!(q.session.time_zone.as_deref(), Some("+05:00"));
        assert!(q.session.no_foreign_key_checks);
        // A truncated status block: what was read stays, nothing panics.
        let mut cut = body.clone();
        cut[11] = 3;
        let q = QueryEvent::parse(&cut).unwrap();
        assert_eq!(
            (q.session.no_foreign_key_checks, q.session.sql_mode),
            (false, None)
        );
    }
}
