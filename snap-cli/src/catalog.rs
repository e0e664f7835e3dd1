//! Tables, columns and keys of the database, read live from `information_schema`.
//!
//! This is the only source of identifiers snap-cli ever puts into SQL: a table or column name
//! reaches a statement only if the server listed it here, and then only quoted
//! ([`crate::sql::quote_ident`]). The snap account sees these catalog rows for the tables it has
//! privileges on, so nothing beyond `SELECT` on the database is needed.
//!
//! Each column's MariaDB type is parsed into a [`Kind`] that says how to validate what the user
//! types ([`crate::value`]) and how to show what the server returns.

use mysql_async::prelude::*;
use mysql_async::{Conn, Row};

use crate::error::DbError;

/// What kind of value a column holds, with the limits that validation checks.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// TINYINT … BIGINT. `bits` is 8, 16, 24, 32 or 64.
    Int {
        bits: u8,
        unsigned: bool,
        /// TINYINT(1), MariaDB's BOOLEAN: also accepts true/false.
        boolean: bool,
    },
    /// DECIMAL(precision, scale).
    Decimal {
        precision: u32,
        scale: u32,
        unsigned: bool,
    },
    /// FLOAT (single) or DOUBLE.
    Float {
        double: bool,
        unsigned: bool,
    },
    /// BIT(width), 1 to 64 bits.
    Bit {
        width: u32,
    },
    Date,
    /// DATETIME(fsp) with `fsp` fractional second digits.
    DateTime {
        fsp: u32,
    },
    /// TIMESTAMP(fsp): like DATETIME, range 1970–2038.
    Timestamp {
        fsp: u32,
    },
    /// TIME(fsp), -838:59:59 to 838:59:59.
    Time {
        fsp: u32,
    },
    Year,
    /// CHAR / VARCHAR: at most `max_chars` characters.
    Char {
        max_chars: u64,
    },
    /// TINYTEXT … LONGTEXT: at most `max_bytes` bytes in the column's character set.
    Text {
        max_bytes: u64,
    },
    /// LONGTEXT with `CHECK (json_valid(col))`, which is what MariaDB's JSON is.
    Json,
    /// BINARY / VARBINARY / BLOBs: bytes, typed as hex.
    Binary {
        max_bytes: u64,
    },
    Enum(Vec<String>),
    Set(Vec<String>),
    Uuid,
    Inet4,
    Inet6,
    /// Geometry and anything newer: shown, not typed.
    Other(String),
}

impl Kind {
    /// Text the user types verbatim (with the `\0` escape), searched with LIKE.
    pub fn is_textual(&self) -> bool {
        matches!(self, Kind::Char { .. } | Kind::Text { .. } | Kind::Json)
    }

    /// Ordered values for which a range search makes sense.
    pub fn is_ordered(&self) -> bool {
        matches!(
            self,
            Kind::Int { .. }
                | Kind::Decimal { .. }
                | Kind::Float { .. }
                | Kind::Date
                | Kind::DateTime { .. }
                | Kind::Timestamp { .. }
                | Kind::Time { .. }
                | Kind::Year
        )
    }

    /// Right-aligned when rendered.
    pub fn is_numeric(&self) -> bool {
        matches!(
            self,
            Kind::Int { .. } | Kind::Decimal { .. } | Kind::Float { .. } | Kind::Year
        )
    }
}

/// A column's default, as `COLUMN_DEFAULT` reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnDefault {
    /// No default: a value must be given (or NULL, when nullable).
    None,
    /// `DEFAULT NULL`.
    Null,
    /// A constant (unquoted), e.g. `0.00` or `red`.
    Literal(String),
    /// An expression the server evaluates, e.g. `current_timestamp()`.
    Expression(String),
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    /// The type as the server spells it, e.g. `decimal(8,2)` or `int(10) unsigned`.
    pub column_type: String,
    pub kind: Kind,
    pub nullable: bool,
    pub default: ColumnDefault,
    pub auto_increment: bool,
    /// Computed by the server (`AS (…)`): never written.
    pub generated: bool,
    /// Character set of text columns (`utf8mb4`, `latin1`, …).
    pub charset: Option<String>,
    /// `table.column` this column references through a foreign key, if any.
    pub references: Option<String>,
}

impl Column {
    /// Whether an INSERT may leave it out and let the server fill it in.
    pub fn has_default(&self) -> bool {
        self.default != ColumnDefault::None || self.auto_increment
    }

    /// The type as the user knows it: the server's spelling, except `json` for MariaDB's JSON
    /// (which the server reports as `longtext` with a `json_valid` check).
    pub fn type_name(&self) -> &str {
        if self.kind == Kind::Json {
            "json"
        } else {
            &self.column_type
        }
    }

    /// `decimal(8,2), NOT NULL, default 0.00` — what the user sees next to the name.
    pub fn describe(&self) -> String {
        let mut s = self.type_name().to_owned();
        s.push_str(if self.nullable {
            ", nullable"
        } else {
            ", NOT NULL"
        });
        match &self.default {
            ColumnDefault::None => {}
            ColumnDefault::Null => s.push_str(", default NULL"),
            ColumnDefault::Literal(v) if self.kind.is_numeric() => {
                s.push_str(&format!(", default {v}"))
            }
            ColumnDefault::Literal(v) => {
                s.push_str(&format!(", default '{}'", crate::value::display_text(v)))
            }
            ColumnDefault::Expression(e) => s.push_str(&format!(", default {e}")),
        }
        if let Some(r) = &self.references {
            s.push_str(&format!(", → {r}"));
        }
        s
    }
}

/// How a row is identified for UPDATE and DELETE.
#[derive(Debug, Clone, PartialEq)]
pub enum RowKey {
    /// The primary key's columns (indexes into `Table::columns`).
    Primary(Vec<usize>),
    /// A unique key whose columns are all NOT NULL.
    Unique { name: String, columns: Vec<usize> },
    /// No usable key: a row is matched on all its values, one row at a time (`LIMIT 1`).
    None,
}

/// A table with its columns and key.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub schema: String,
    pub name: String,
    pub columns: Vec<Column>,
    pub key: RowKey,
}

impl Table {
    /// Column indexes that identify a row: the key's, or all of them.
    pub fn identity(&self) -> Vec<usize> {
        match &self.key {
            RowKey::Primary(c) | RowKey::Unique { columns: c, .. } => c.clone(),
            RowKey::None => (0..self.columns.len()).collect(),
        }
    }

    /// The key's columns, when there is a key.
    pub fn key_columns(&self) -> Option<&[usize]> {
        match &self.key {
            RowKey::Primary(c) | RowKey::Unique { columns: c, .. } => Some(c),
            RowKey::None => None,
        }
    }

    /// `id` or `(a, b)`: the key's column names, for prompts.
    pub fn key_names(&self) -> String {
        let Some(cols) = self.key_columns() else {
            return "(no key)".into();
        };
        let names: Vec<&str> = cols
            .iter()
            .map(|&i| self.columns[i].name.as_str())
            .collect();
        if names.len() == 1 {
            names[0].to_owned()
        } else {
            format!("({})", names.join(", "))
        }
    }
}

/// Names of the base tables of `schema`, sorted.
pub async fn table_names(conn: &mut Conn, schema: &str) -> Result<Vec<String>, DbError> {
    conn.exec(
        "SELECT TABLE_NAME FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
        (schema,),
    )
    .await
    .map_err(|e| DbError::new("listing the tables", e))
}

/// Whether `schema` exists (and the account can see it).
pub async fn schema_exists(conn: &mut Conn, schema: &str) -> Result<bool, DbError> {
    let n: Option<u64> = conn
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            (schema,),
        )
        .await
        .map_err(|e| DbError::new("looking up the database", e))?;
    Ok(n.unwrap_or(0) > 0)
}

/// Reads one table's columns, key, JSON checks and foreign keys. `None` if it does not exist.
pub async fn load_table(
    conn: &mut Conn,
    schema: &str,
    name: &str,
) -> Result<Option<Table>, DbError> {
    let ctx = |what: &str| format!("reading the {what} of table {name}");
    let rows: Vec<Row> = conn
        .exec(
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, \
             CHARACTER_MAXIMUM_LENGTH, CHARACTER_OCTET_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, \
             DATETIME_PRECISION, CHARACTER_SET_NAME, IS_GENERATED \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
             ORDER BY ORDINAL_POSITION",
            (schema, name),
        )
        .await
        .map_err(|e| DbError::new(ctx("columns"), e))?;
    if rows.is_empty() {
        return Ok(None);
    }
    let json_checks: Vec<(String, String)> = conn
        .exec(
            "SELECT CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS \
             WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ? AND LEVEL = 'Column'",
            (schema, name),
        )
        .await
        .map_err(|e| DbError::new(ctx("checks"), e))?;
    let mut columns = Vec::with_capacity(rows.len());
    for row in rows {
        let info = ColumnInfo::from_row(row);
        let json = json_checks.iter().any(|(col, clause)| {
            *col == info.name && *clause == format!("json_valid({})", crate::sql::quote_ident(col))
        });
        columns.push(info.into_column(json));
    }
    let fks: Vec<(String, String, String)> = conn
        .exec(
            "SELECT COLUMN_NAME, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME \
             FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
             AND REFERENCED_TABLE_NAME IS NOT NULL",
            (schema, name),
        )
        .await
        .map_err(|e| DbError::new(ctx("foreign keys"), e))?;
    for (col, rtable, rcol) in fks {
        if let Some(c) = columns.iter_mut().find(|c| c.name == col) {
            c.references = Some(format!("{rtable}.{rcol}"));
        }
    }
    // PRIMARY sorts first; the other unique keys by name, so the choice is stable.
    let stats: Vec<(String, String, u64, String)> = conn
        .exec(
            "SELECT INDEX_NAME, COLUMN_NAME, NON_UNIQUE, NULLABLE FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
             ORDER BY INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX",
            (schema, name),
        )
        .await
        .map_err(|e| DbError::new(ctx("keys"), e))?;
    let key = pick_key(&columns, &stats);
    Ok(Some(Table {
        schema: schema.to_owned(),
        name: name.to_owned(),
        columns,
        key,
    }))
}

/// The primary key, else the first unique key without nullable columns, else none.
fn pick_key(columns: &[Column], stats: &[(String, String, u64, String)]) -> RowKey {
    let mut names: Vec<&str> = stats.iter().map(|s| s.0.as_str()).collect();
    names.dedup();
    for index in names {
        let parts: Vec<_> = stats.iter().filter(|s| s.0 == index).collect();
        if parts.iter().any(|s| s.2 != 0 || s.3 == "YES") {
            continue;
        }
        let cols: Option<Vec<usize>> = parts
            .iter()
            .map(|s| columns.iter().position(|c| c.name == s.1))
            .collect();
        let Some(cols) = cols else { continue };
        return if index == "PRIMARY" {
            RowKey::Primary(cols)
        } else {
            RowKey::Unique {
                name: index.to_owned(),
                columns: cols,
            }
        };
    }
    RowKey::None
}

/// One `information_schema.COLUMNS` row.
#[derive(Debug, Clone, Default)]
pub struct ColumnInfo {
    pub name: String,
    pub data_type: String,
    pub column_type: String,
    pub nullable: bool,
    pub default: Option<String>,
    pub extra: String,
    pub max_chars: Option<u64>,
    pub max_bytes: Option<u64>,
    pub precision: Option<u64>,
    pub scale: Option<u64>,
    pub fsp: Option<u64>,
    pub charset: Option<String>,
    pub generated: bool,
}

impl ColumnInfo {
    fn from_row(mut row: Row) -> Self {
        let s = |row: &mut Row, i: usize| -> String {
            row.take::<Option<String>, _>(i)
                .flatten()
                .unwrap_or_default()
        };
        let n =
            |row: &mut Row, i: usize| -> Option<u64> { row.take::<Option<u64>, _>(i).flatten() };
        ColumnInfo {
            name: s(&mut row, 0),
            data_type: s(&mut row, 1),
            column_type: s(&mut row, 2),
            nullable: s(&mut row, 3) == "YES",
            default: row.take::<Option<String>, _>(4).flatten(),
            extra: s(&mut row, 5),
            max_chars: n(&mut row, 6),
            max_bytes: n(&mut row, 7),
            precision: n(&mut row, 8),
            scale: n(&mut row, 9),
            fsp: n(&mut row, 10),
            charset: row.take::<Option<String>, _>(11).flatten(),
            generated: s(&mut row, 12) != "NEVER",
        }
    }

    /// The column this row describes; `json` when a `json_valid` check guards it.
    pub fn into_column(self, json: bool) -> Column {
        let kind = if json { Kind::Json } else { parse_kind(&self) };
        let default = parse_default(self.default.as_deref());
        Column {
            auto_increment: self.extra.to_ascii_lowercase().contains("auto_increment"),
            generated: self.generated || self.extra.to_ascii_uppercase().contains("GENERATED"),
            name: self.name,
            column_type: self.column_type,
            kind,
            nullable: self.nullable,
            default,
            charset: self.charset,
            references: None,
        }
    }
}

fn parse_kind(c: &ColumnInfo) -> Kind {
    let ct = c.column_type.to_ascii_lowercase();
    let unsigned = ct.contains(" unsigned");
    let int = |bits| Kind::Int {
        bits,
        unsigned,
        boolean: false,
    };
    let u32_of = |v: Option<u64>| v.unwrap_or(0).min(u32::MAX as u64) as u32;
    match c.data_type.to_ascii_lowercase().as_str() {
        "tinyint" => Kind::Int {
            bits: 8,
            unsigned,
            boolean: ct.starts_with("tinyint(1)"),
        },
        "smallint" => int(16),
        "mediumint" => int(24),
        "int" | "integer" => int(32),
        "bigint" => int(64),
        "decimal" | "numeric" => Kind::Decimal {
            precision: u32_of(c.precision),
            scale: u32_of(c.scale),
            unsigned,
        },
        "float" => Kind::Float {
            double: false,
            unsigned,
        },
        "double" | "real" => Kind::Float {
            double: true,
            unsigned,
        },
        "bit" => Kind::Bit {
            width: u32_of(c.precision).clamp(1, 64),
        },
        "date" => Kind::Date,
        "datetime" => Kind::DateTime { fsp: u32_of(c.fsp) },
        "timestamp" => Kind::Timestamp { fsp: u32_of(c.fsp) },
        "time" => Kind::Time { fsp: u32_of(c.fsp) },
        "year" => Kind::Year,
        "char" | "varchar" => Kind::Char {
            max_chars: c.max_chars.unwrap_or(u64::MAX),
        },
        "tinytext" | "text" | "mediumtext" | "longtext" => Kind::Text {
            max_bytes: c.max_bytes.unwrap_or(u64::MAX),
        },
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => Kind::Binary {
            max_bytes: c.max_bytes.unwrap_or(u64::MAX),
        },
        "enum" => Kind::Enum(parse_members(&c.column_type)),
        "set" => Kind::Set(parse_members(&c.column_type)),
        "uuid" => Kind::Uuid,
        "inet4" => Kind::Inet4,
        "inet6" => Kind::Inet6,
        other => Kind::Other(other.to_owned()),
    }
}

/// Members of `enum('a','it''s','a\\b')` as the server spells COLUMN_TYPE: quotes doubled,
/// backslash escapes as in SQL string literals.
pub fn parse_members(column_type: &str) -> Vec<String> {
    let Some(open) = column_type.find('(') else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut chars = column_type[open + 1..].chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue; // commas, the closing parenthesis
        }
        let mut member = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\'' if chars.peek() == Some(&'\'') => {
                    chars.next();
                    member.push('\'');
                }
                '\'' => break,
                '\\' => member.push(match chars.next() {
                    Some('0') => '\0',
                    Some('n') => '\n',
                    Some('r') => '\r',
                    Some('t') => '\t',
                    Some('Z') => '\u{1a}',
                    Some(other) => other,
                    None => '\\',
                }),
                c => member.push(c),
            }
        }
        out.push(member);
    }
    out
}

/// `COLUMN_DEFAULT` as MariaDB ≥ 10.2.7 reports it: SQL NULL = no default, `NULL` = DEFAULT
/// NULL, `'text'` = a quoted literal, a bare number = a literal, anything else = an expression.
fn parse_default(raw: Option<&str>) -> ColumnDefault {
    match raw {
        None => ColumnDefault::None,
        Some("NULL") => ColumnDefault::Null,
        Some(s) if s.len() >= 2 && s.starts_with('\'') && s.ends_with('\'') => {
            let members = parse_members(&format!("({s})"));
            ColumnDefault::Literal(members.into_iter().next().unwrap_or_default())
        }
        Some(s) if s.parse::<f64>().is_ok() => ColumnDefault::Literal(s.to_owned()),
        Some(s) => ColumnDefault::Expression(s.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(data_type: &str, column_type: &str) -> ColumnInfo {
        ColumnInfo {
            name: "c".into(),
            data_type: data_type.into(),
            column_type: column_type.into(),
            ..ColumnInfo::default()
        }
    }

    #[test]
    fn kinds_from_catalog_rows() {
        assert_eq!(
            parse_kind(&info("int", "int(10) unsigned")),
            Kind::Int {
                bits: 32,
                unsigned: true,
                boolean: false
            }
        );
        assert_eq!(
            parse_kind(&info("tinyint", "tinyint(1)")),
            Kind::Int {
                bits: 8,
                unsigned: false,
                boolean: true
            }
        );
        let mut d = info("decimal", "decimal(8,2)");
        d.precision = Some(8);
        d.scale = Some(2);
        assert_eq!(
            parse_kind(&d),
            Kind::Decimal {
                precision: 8,
                scale: 2,
                unsigned: false
            }
        );
        let mut t = info("datetime", "datetime(3)");
        t.fsp = Some(3);
        assert_eq!(parse_kind(&t), Kind::DateTime { fsp: 3 });
        assert_eq!(
            parse_kind(&info("point", "point")),
            Kind::Other("point".into())
        );
    }

    #[test]
    fn enum_members_unescape_quotes_and_backslashes() {
        assert_eq!(
            parse_members(r"enum('red','green','it''s','a\\b')"),
            vec!["red", "green", "it's", r"a\b"]
        );
        assert_eq!(parse_members("set('a,b','')"), vec!["a,b", ""]);
    }

    #[test]
    fn defaults_are_classified() {
        assert_eq!(parse_default(None), ColumnDefault::None);
        assert_eq!(parse_default(Some("NULL")), ColumnDefault::Null);
        assert_eq!(
            parse_default(Some("'x''y'")),
            ColumnDefault::Literal("x'y".into())
        );
        assert_eq!(
            parse_default(Some("0.00")),
            ColumnDefault::Literal("0.00".into())
        );
        assert_eq!(
            parse_default(Some("current_timestamp()")),
            ColumnDefault::Expression("current_timestamp()".into())
        );
    }

    #[test]
    fn key_prefers_primary_then_not_null_unique() {
        let cols: Vec<Column> = ["a", "b", "c"]
            .iter()
            .map(|n| {
                ColumnInfo {
                    name: n.to_string(),
                    data_type: "int".into(),
                    column_type: "int(11)".into(),
                    ..ColumnInfo::default()
                }
                .into_column(false)
            })
            .collect();
        let st = |i: &str, c: &str, nu: u64, n: &str| (i.into(), c.into(), nu, n.into());
        assert_eq!(
            pick_key(&cols, &[st("PRIMARY", "c", 0, ""), st("u", "a", 0, "")]),
            RowKey::Primary(vec![2])
        );
        assert_eq!(
            pick_key(
                &cols,
                &[
                    st("n", "a", 0, "YES"),
                    st("u", "b", 0, ""),
                    st("u", "a", 0, "")
                ]
            ),
            RowKey::Unique {
                name: "u".into(),
                columns: vec![1, 0]
            }
        );
        assert_eq!(pick_key(&cols, &[st("i", "a", 1, "")]), RowKey::None);
    }
}
