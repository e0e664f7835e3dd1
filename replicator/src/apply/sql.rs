//! Statements the applier runs for one table, built once per table shape.
//!
//! Rows are applied **by column name**: the plan maps the origin's columns (names from
//! `binlog_row_metadata=FULL`) onto the target table as it is now. Columns the target lacks are
//! reported and left out; generated columns are computed by the target, never written. So a
//! change that crosses an ALTER is applied to the columns both sides have, never mis-mapped.

use std::collections::HashMap;

use crate::model::{RowKind, RowsChunk, TableMeta, Value};

/// Quotes an identifier with backticks.
pub fn ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

/// `db`.`table`.
pub fn qualified(schema: &str, table: &str) -> String {
    format!("{}.{}", ident(schema), ident(table))
}

/// A target column as information_schema describes it.
#[derive(Debug, Clone)]
pub struct TargetColumn {
    pub name: String,
    pub generated: bool,
    /// The column's character set on the target (`binary` for binary strings); `None` for
    /// columns that hold no characters, or when the definition does not say.
    pub charset: Option<String>,
}

/// Plain target columns named `names` (tests).
#[cfg(test)]
pub(crate) fn plain_columns(names: &[&str]) -> Vec<TargetColumn> {
    names
        .iter()
        .map(|n| TargetColumn {
            name: n.to_string(),
            generated: false,
            charset: None,
        })
        .collect()
}

/// For a system-versioned table (`SHOW CREATE TABLE` says `WITH SYSTEM VERSIONING` or has a
/// `PERIOD FOR SYSTEM_TIME`), the origin's column holding each row's end of validity: the
/// one declared `GENERATED ALWAYS AS ROW END`, or the implicit `row_end`.
/// Whether the engine of a `SHOW CREATE TABLE` output can roll back. Aria, MyISAM, MEMORY and
/// the like cannot: the server logs their changes as they happen, as groups of their own.
pub fn transactional_engine(ddl: &str) -> bool {
    let Some(at) = ddl.find(") ENGINE=") else {
        return true;
    };
    let engine = ddl[at + 9..]
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .next()
        .unwrap_or("");
    ["InnoDB", "RocksDB", "TokuDB"]
        .iter()
        .any(|e| e.eq_ignore_ascii_case(engine))
}

pub fn row_end_column(ddl: &str, meta: &TableMeta) -> Option<usize> {
    if !ddl.contains("WITH SYSTEM VERSIONING") && !ddl.contains("PERIOD FOR SYSTEM_TIME") {
        return None;
    }
    let declared = ddl.lines().find_map(|line| {
        let rest = line.strip_prefix("  `")?;
        let (name, def) = rest.split_once("` ")?;
        def.contains("GENERATED ALWAYS AS ROW END")
            .then(|| name.replace("``", "`"))
    });
    let name = declared.unwrap_or_else(|| "row_end".to_string());
    meta.columns
        .iter()
        .position(|c| c.name.eq_ignore_ascii_case(&name))
}

/// Whether a row image of a system-versioned table is a current row: its row end is the
/// largest timestamp (history rows end when they were replaced or deleted).
fn is_current(image: &[Value], end: usize) -> bool {
    match &image[end] {
        // 2038-01-19 03:14:07.999999 UTC up to MariaDB 11.4, 2106-02-07 06:28:15.999999 after.
        Value::Timestamp { s, .. } => *s >= i32::MAX as u32,
        _ => false,
    }
}

/// The changes of a system-versioned table's chunk to current rows, which is all a target
/// applies: it versions them itself (its history rows carry its own times). An insert of a
/// current row is an insert; an update that leaves the row current is an update; one that
/// ends it is how MariaDB logs a DELETE, so it becomes a delete; history rows written or
/// purged (`DELETE HISTORY`) are left out.
pub fn current_rows(chunk: &RowsChunk, end: usize) -> Vec<RowsChunk> {
    let part = |kind| RowsChunk {
        no_fk_checks: chunk.no_fk_checks,
        ..RowsChunk::new(chunk.table.clone(), kind, Vec::new())
    };
    let (mut same, mut deletes) = (part(chunk.kind), part(RowKind::Delete));
    for (before, after) in chunk.rows() {
        match (before, after) {
            (None, Some(a)) if is_current(a, end) => same.values.extend_from_slice(a),
            (Some(b), None) if is_current(b, end) => same.values.extend_from_slice(b),
            (Some(b), Some(a)) if is_current(b, end) => {
                if is_current(a, end) {
                    same.values.extend_from_slice(b);
                    same.values.extend_from_slice(a);
                } else {
                    deletes.values.extend_from_slice(b);
                }
            }
            _ => {}
        }
    }
    [same, deletes]
        .into_iter()
        .filter(|c| !c.is_empty())
        .collect()
}

/// The columns of a `SHOW CREATE TABLE` statement, with whether each is generated.
pub fn columns_of_create_table(ddl: &str) -> Vec<TargetColumn> {
    // The table's default character set, on its options line (`) ENGINE=… DEFAULT
    // CHARSET=latin1 …`); a column declared in another one says `CHARACTER SET x`.
    let default_cs = ddl
        .lines()
        .rev()
        .find(|l| l.starts_with(')'))
        .and_then(|l| l.split(" CHARSET=").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .map(str::to_ascii_lowercase);
    let mut out = Vec::new();
    for line in ddl.lines() {
        let Some(rest) = line.strip_prefix("  `") else {
            continue; // keys, constraints, table options
        };
        let (name, end) = quoted_name(rest);
        let def = rest[end..].to_ascii_uppercase();
        let ty = def.trim_start().split(['(', ' ']).next().unwrap_or("");
        let charset = if let Some(cs) = def.split(" CHARACTER SET ").nth(1) {
            cs.split_whitespace().next().map(str::to_ascii_lowercase)
        } else {
            match ty {
                "CHAR" | "VARCHAR" | "TINYTEXT" | "TEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM"
                | "SET" => default_cs.clone(),
                "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" => {
                    Some("binary".into())
                }
                _ => None,
            }
        };
        out.push(TargetColumn {
            name,
            generated: def.contains(" GENERATED ALWAYS AS ")
                || def.contains(" AS (")
                    && (def.contains(" VIRTUAL")
                        || def.contains(" STORED")
                        || def.contains(" PERSISTENT")),
            charset,
        });
    }
    out
}

/// The column names of each `UNIQUE KEY` in a `SHOW CREATE TABLE` (not the primary key).
pub fn unique_keys_of_create_table(ddl: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for line in ddl.lines() {
        let Some(rest) = line.strip_prefix("  UNIQUE KEY ") else {
            continue;
        };
        // Skip the key's own name, then read the backticked names in the column list (a
        // prefix length follows a name as `(10)`).
        let names = backticked(rest);
        if names.len() > 1 {
            out.push(names[1..].to_vec());
        }
    }
    out
}

/// The columns of the primary key of a `SHOW CREATE TABLE` statement, in key order (empty
/// without one).
pub fn primary_key_of_create_table(ddl: &str) -> Vec<String> {
    ddl.lines()
        .find_map(|line| line.strip_prefix("  PRIMARY KEY "))
        .map(backticked)
        .unwrap_or_default()
}

/// The backtick-quoted names in `s`, in order (doubled backticks unescaped).
pub(crate) fn backticked(mut s: &str) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(open) = s.find('`') {
        let (name, end) = quoted_name(&s[open + 1..]);
        out.push(name);
        s = &s[open + 1 + end..];
    }
    out
}

/// A name quoted with backticks, read from just after its opening backtick: the name (doubled
/// backticks unescaped) and the byte offset after its closing backtick (the end of `s` when
/// there is none).
pub(crate) fn quoted_name(s: &str) -> (String, usize) {
    let mut name = String::new();
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '`' {
            if chars.peek().is_some_and(|(_, n)| *n == '`') {
                chars.next();
                name.push('`');
                continue;
            }
            return (name, i + 1);
        }
        name.push(c);
    }
    (name, s.len())
}

/// A secondary unique key of the target, for finding the rows an image would displace.
#[derive(Debug, Clone)]
pub struct UniqueKey {
    /// Origin column indexes of the key.
    pub cols: Vec<usize>,
    /// `SELECT JSON_OBJECT(…) FROM … WHERE key = ? AND NOT primary key = ? FOR UPDATE`
    /// (params: the key's values, then the primary key's).
    pub select_others: String,
    /// `DELETE FROM … WHERE` the same.
    pub delete_others: String,
    /// The two, also leaving out the row at a second primary key (params: then that key's
    /// values): a row moving to another key still holds its unique values at its old one,
    /// and is no other row ([`TablePlan::others_params`]).
    pub select_others_moved: String,
    pub delete_others_moved: String,
}

impl UniqueKey {
    /// The select and delete of the other rows holding the key's values (`moved`: leaving out
    /// the moving row's old key too).
    pub fn others(&self, moved: bool) -> (&str, &str) {
        if moved {
            (&self.select_others_moved, &self.delete_others_moved)
        } else {
            (&self.select_others, &self.delete_others)
        }
    }
}

/// How one origin table shape is applied to the target.
#[derive(Debug)]
pub struct TablePlan {
    pub name: String,
    /// Origin column indexes written, in statement parameter order.
    pub cols: Vec<usize>,
    /// Origin column indexes of the key used to find rows (primary key, or every written
    /// column when the table has none: full-row match).
    pub key: Vec<usize>,
    pub has_pk: bool,
    /// Origin columns the target does not have.
    pub missing: Vec<String>,
    /// `INSERT … ON DUPLICATE KEY UPDATE` of every written column (force to image).
    pub upsert: String,
    /// Plain `INSERT` (conflict-checking fast path; no-key tables).
    pub insert: String,
    /// `DELETE … WHERE key` (`LIMIT 1` for full-row match).
    pub delete: String,
    /// `UPDATE … SET cols WHERE key` (`LIMIT 1` for full-row match): one row forced to its
    /// after-image, found by its before-image's key ([`TablePlan::update_by_row_params`]).
    pub update_by_row: String,
    /// `UPDATE … SET cols WHERE key AND every column <=> before` (params: after, key, before).
    pub check_update: String,
    /// `DELETE … WHERE key AND every column <=> before` (params: key, before).
    pub check_delete: String,
    /// Text forms for one-round-trip small transactions: `INSERT INTO t (cols) VALUES`, the
    /// ` ON DUPLICATE KEY UPDATE …` tail, and `(key columns)`.
    pub insert_head: String,
    pub upsert_tail: String,
    pub key_cols: String,
    /// `SELECT every column <=> ?, JSON_OBJECT(...) FROM … WHERE key FOR UPDATE`
    /// (params: image, key): whether the current row equals an image, and the row for humans.
    pub select_current: String,
    /// The target is a sequence (`CREATE SEQUENCE`): its row is applied with `SETVAL`.
    pub sequence: bool,
    /// The target's engine rolls back (InnoDB): its rows belong in the open transaction even
    /// when the origin's group is flagged non-transactional (a transaction that also changed
    /// a MyISAM table is logged without `FL_TRANSACTIONAL`).
    pub transactional: bool,
    /// The target is system-versioned: the origin's row-end column (see [`current_rows`]).
    pub versioned_end: Option<usize>,
    /// The target's secondary unique keys whose columns are all written (tables with a
    /// primary key only).
    pub unique: Vec<UniqueKey>,
    /// `JSON_OBJECT(…)` of the written columns: a row for humans (the conflict log).
    pub row_json: String,
    /// Each origin column's parameter: `?`, or `CONVERT(? USING origin)` where the origin's
    /// character set is not the target's ([`TablePlan::converting`]).
    pub marks: Vec<String>,
    /// Some parameter is converted (the one-query path, which writes literals, is not used).
    pub converts: bool,
}

impl TablePlan {
    /// Whether an update from `before` to `after` moves the row to another key.
    pub fn moves(&self, before: &[Value], after: &[Value]) -> bool {
        self.key.iter().any(|&k| before[k] != after[k])
    }

    /// The parameters of [`TablePlan::update_by_row`]: the after-image's columns, then the
    /// before-image's key.
    pub fn update_by_row_params(
        &self,
        before: &[Value],
        after: &[Value],
    ) -> Vec<mysql_async::Value> {
        let mut p = super::values::params(after, &self.cols);
        p.extend(super::values::params(before, &self.key));
        p
    }

    /// Builds the plan of `meta` against the target's columns.
    pub fn new(meta: &TableMeta, target: &[TargetColumn]) -> TablePlan {
        Self::converting(meta, target, |_| None)
    }

    /// A plan whose string parameters are converted where the origin's column has another
    /// character set than the target's (`charset_of` names a collation id's character set):
    /// `CONVERT(? USING origin)`, so the target stores the characters, not the origin's bytes
    /// read as its own (a table converted to another character set while a snap wrote).
    pub fn converting(
        meta: &TableMeta,
        target: &[TargetColumn],
        charset_of: impl Fn(u16) -> Option<String>,
    ) -> TablePlan {
        let by_name: HashMap<String, &TargetColumn> =
            target.iter().map(|c| (c.name.to_lowercase(), c)).collect();
        let mut cols = Vec::new();
        let mut missing = Vec::new();
        let mut marks = vec!["?".to_string(); meta.columns.len()];
        for (i, c) in meta.columns.iter().enumerate() {
            match by_name.get(&c.name.to_lowercase()) {
                Some(t) if t.generated => {}
                Some(t) => {
                    cols.push(i);
                    let origin = match c.charset {
                        0 | crate::model::BINARY_CHARSET => None,
                        id => charset_of(id),
                    };
                    if let (Some(from), Some(to)) = (origin, &t.charset) {
                        if to != "binary" && &from != to {
                            marks[i] = format!("CONVERT(? USING {from})");
                        }
                    }
                }
                None => missing.push(c.name.clone()),
            }
        }
        let converts = marks.iter().any(|m| m != "?");
        let mark = |i: &usize| marks[*i].as_str();
        let has_pk =
            !meta.primary_key.is_empty() && meta.primary_key.iter().all(|k| cols.contains(k));
        let key = if has_pk {
            meta.primary_key.clone()
        } else {
            cols.clone()
        };
        let name = qualified(&meta.schema, &meta.table);
        let cname = |i: &usize| ident(&meta.columns[*i].name);
        let col_list = cols.iter().map(cname).collect::<Vec<_>>().join(", ");
        let values = cols.iter().map(mark).collect::<Vec<_>>().join(", ");
        let set_list = cols
            .iter()
            .map(|i| format!("{} = {}", cname(i), mark(i)))
            .collect::<Vec<_>>()
            .join(", ");
        // Primary key columns are NOT NULL: `=` (index lookup); full-row match needs `<=>`.
        let key_op = if has_pk { "=" } else { "<=>" };
        let key_eq = key
            .iter()
            .map(|i| format!("{} {key_op} {}", cname(i), mark(i)))
            .collect::<Vec<_>>()
            .join(" AND ");
        let all_eq = cols
            .iter()
            .map(|i| format!("{} <=> {}", cname(i), mark(i)))
            .collect::<Vec<_>>()
            .join(" AND ");
        let limit = if has_pk { "" } else { " LIMIT 1" };
        let insert = format!("INSERT INTO {name} ({col_list}) VALUES ({values})");
        let upsert_tail = if has_pk {
            let updates = cols
                .iter()
                .map(|i| format!("{c} = VALUES({c})", c = cname(i)))
                .collect::<Vec<_>>()
                .join(", ");
            format!(" ON DUPLICATE KEY UPDATE {updates}")
        } else {
            String::new()
        };
        let upsert = format!("{insert}{upsert_tail}");
        let insert_head = format!("INSERT INTO {name} ({col_list}) VALUES ");
        let key_cols = format!("({})", key.iter().map(cname).collect::<Vec<_>>().join(", "));
        let json = cols
            .iter()
            .map(|i| {
                format!(
                    "'{}', {}",
                    meta.columns[*i]
                        .name
                        .replace('\\', "\\\\")
                        .replace('\'', "\\'"),
                    cname(i)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        TablePlan {
            sequence: false,
            transactional: true,
            versioned_end: None,
            unique: Vec::new(),
            delete: format!("DELETE FROM {name} WHERE {key_eq}{limit}"),
            update_by_row: format!("UPDATE {name} SET {set_list} WHERE {key_eq}{limit}"),
            check_update: format!("UPDATE {name} SET {set_list} WHERE {key_eq} AND {all_eq}"),
            check_delete: format!("DELETE FROM {name} WHERE {key_eq} AND {all_eq}"),
            select_current: format!(
                "SELECT ({all_eq}) AS same, JSON_OBJECT({json}) FROM {name} WHERE {key_eq}{limit} \
                 FOR UPDATE"
            ),
            row_json: format!("JSON_OBJECT({json})"),
            converts,
            marks,
            name,
            cols,
            key,
            has_pk,
            missing,
            upsert,
            insert,
            insert_head,
            upsert_tail,
            key_cols,
        }
    }

    /// The parameters of `u`'s statements ([`UniqueKey::others`]) for the row `after`, and
    /// whether it moves from `before`'s key (then the moved statements take them).
    pub fn others_params(
        &self,
        u: &UniqueKey,
        before: Option<&[Value]>,
        after: &[Value],
    ) -> (Vec<mysql_async::Value>, bool) {
        let mut p = super::values::params(after, &u.cols);
        p.extend(super::values::params(after, &self.key));
        let from = before.filter(|b| self.moves(b, after));
        if let Some(b) = from {
            p.extend(super::values::params(b, &self.key));
        }
        (p, from.is_some())
    }

    /// Adds the target's secondary unique keys (from its `SHOW CREATE TABLE`).
    pub fn set_unique_keys(&mut self, meta: &TableMeta, ddl: &str) {
        if !self.has_pk {
            return;
        }
        let cname = |i: &usize| ident(&meta.columns[*i].name);
        let pk_eq = self
            .key
            .iter()
            .map(|i| format!("{} = {}", cname(i), self.marks[*i]))
            .collect::<Vec<_>>()
            .join(" AND ");
        let json = &self.row_json;
        for names in unique_keys_of_create_table(ddl) {
            let cols: Option<Vec<usize>> = names
                .iter()
                .map(|n| {
                    meta.columns
                        .iter()
                        .position(|c| c.name.eq_ignore_ascii_case(n))
                        .filter(|i| self.cols.contains(i))
                })
                .collect();
            let Some(cols) = cols else { continue };
            let key_eq = cols
                .iter()
                .map(|i| format!("{} = {}", cname(i), self.marks[*i]))
                .collect::<Vec<_>>()
                .join(" AND ");
            let filter = format!("{} WHERE {key_eq} AND NOT ({pk_eq})", self.name);
            let moved = format!("{filter} AND NOT ({pk_eq})");
            self.unique.push(UniqueKey {
                cols,
                select_others: format!("SELECT {json} FROM {filter} FOR UPDATE"),
                delete_others: format!("DELETE FROM {filter}"),
                select_others_moved: format!("SELECT {json} FROM {moved} FOR UPDATE"),
                delete_others_moved: format!("DELETE FROM {moved}"),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn engines_that_roll_back() {
        use super::transactional_engine as t;
        assert!(t(
            "CREATE TABLE `t` (\n  `id` int(11) NOT NULL\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        ));
        assert!(!t(
            "CREATE TABLE `t` (\n  `id` int(11) NOT NULL\n) ENGINE=MyISAM DEFAULT CHARSET=utf8mb4"
        ));
        assert!(!t("CREATE TABLE `t` (\n  `id` int(11) NOT NULL\n) ENGINE=Aria DEFAULT CHARSET=utf8mb4 PAGE_CHECKSUM=1"));
        assert!(!t(
            "CREATE TABLE `t` (\n  `id` int(11) NOT NULL\n) ENGINE=MEMORY"
        ));
        assert!(t("CREATE TABLE `t` (\n  `id` int(11) NOT NULL\n) ENGINE=InnoDB\n PARTITION BY HASH (`id`)\nPARTITIONS 4"));
    }

    #[test]
    fn unique_keys_are_read_from_show_create_table() {
        let ddl = "CREATE TABLE `t` (\n  `id` int(11) NOT NULL,\n  `e``x` varchar(20) DEFAULT NULL,\n  \
                   `a` int(11) DEFAULT NULL,\n  `b` text DEFAULT NULL,\n  PRIMARY KEY (`id`),\n  \
                   UNIQUE KEY `e``x` (`e``x`),\n  UNIQUE KEY `ab` (`a`,`b`(10)),\n  KEY `a` (`a`)\n) \
                   ENGINE=InnoDB";
        assert_eq!(
            unique_keys_of_create_table(ddl),
            vec![
                vec!["e`x".to_string()],
                vec!["a".to_string(), "b".to_string()]
            ]
        );
        assert_eq!(primary_key_of_create_table(ddl), vec!["id".to_string()]);
        assert_eq!(
            primary_key_of_create_table(&ddl.replace("(`id`)", "(`id`,`e``x`)")),
            vec!["id".to_string(), "e`x".to_string()]
        );
        assert!(primary_key_of_create_table("CREATE TABLE `t` (\n  `a` int(11)\n)").is_empty());
        let meta = crate::model::int_table(&["id", "e`x", "a", "b"]);
        let mut p = TablePlan::new(&meta, &columns_of_create_table(ddl));
        p.set_unique_keys(&meta, ddl);
        assert_eq!(p.unique.len(), 2);
        assert_eq!(p.unique[1].cols, vec![2, 3]);
        assert!(
            p.unique[0]
                .delete_others
                .ends_with("WHERE `e``x` = ? AND NOT (`id` = ?)"),
            "{}",
            p.unique[0].delete_others
        );
    }

    #[test]
    fn versioned_chunks_keep_current_rows_and_turn_ended_rows_into_deletes() {
        use crate::model::ColumnMeta;
        let col = |n: &str| ColumnMeta {
            name: n.into(),
            ty: 3,
            meta: 0,
            unsigned: false,
            charset: 0,
            nullable: false,
            labels: Vec::new(),
        };
        let table = std::sync::Arc::new(TableMeta {
            schema: "MOST".into(),
            table: "sv".into(),
            columns: vec![col("id"), col("v"), col("row_start"), col("row_end")],
            primary_key: vec![0, 3],
        });
        let ts = |s: u32| Value::Timestamp { s, us: 0 };
        let max = ts(i32::MAX as u32);
        let row =
            |id: i64, v: i64, end: &Value| vec![Value::Int(id), Value::Int(v), ts(1), end.clone()];
        let ddl = "CREATE TABLE `sv` (\n  `id` int(11) NOT NULL,\n  `v` int(11) DEFAULT NULL,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 WITH SYSTEM VERSIONING";
        assert_eq!(row_end_column(ddl, &table), Some(3));
        assert_eq!(
            row_end_column("CREATE TABLE `t` (\n  `id` int(11)\n)", &table),
            None
        );
        // An UPDATE: the row stays current; its history copy is an insert of an ended row.
        let update = RowsChunk {
            no_fk_checks: false,
            table: table.clone(),
            kind: RowKind::Update,
            values: [
                row(1, 1, &max),
                row(1, 2, &max),
                row(2, 2, &max),
                row(2, 2, &ts(5)),
            ]
            .concat(),
        };
        let parts = current_rows(&update, 3);
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[0].kind, parts[0].len()), (RowKind::Update, 1));
        assert_eq!(parts[0].values[4], Value::Int(1));
        assert_eq!((parts[1].kind, parts[1].len()), (RowKind::Delete, 1));
        assert_eq!(parts[1].values[0], Value::Int(2));
        let history = RowsChunk {
            no_fk_checks: false,
            table: table.clone(),
            kind: RowKind::Insert,
            values: [row(1, 1, &ts(5)), row(3, 3, &max)].concat(),
        };
        let parts = current_rows(&history, 3);
        assert_eq!(parts.len(), 1);
        assert_eq!((parts[0].kind, parts[0].len()), (RowKind::Insert, 1));
        assert_eq!(parts[0].values[0], Value::Int(3));
    }

    use super::*;
    use crate::model::{coltype, ColumnMeta};

    fn col(name: &str) -> ColumnMeta {
        ColumnMeta {
            name: name.into(),
            ty: coltype::LONG,
            meta: 0,
            unsigned: false,
            charset: 0,
            nullable: true,
            labels: Vec::new(),
        }
    }

    #[test]
    fn plan_maps_by_name_and_skips_generated() {
        let meta = TableMeta {
            schema: "MOST".into(),
            table: "we`ird".into(),
            columns: vec![col("id"), col("a"), col("gone"), col("g")],
            primary_key: vec![0],
        };
        let target = vec![
            TargetColumn {
                name: "A".into(),
                generated: false,
                charset: None,
            },
            TargetColumn {
                name: "id".into(),
                generated: false,
                charset: None,
            },
            TargetColumn {
                name: "g".into(),
                generated: true,
                charset: None,
            },
        ];
        let p = TablePlan::new(&meta, &target);
        assert_eq!(p.cols, vec![0, 1]);
        assert_eq!(p.missing, vec!["gone".to_string()]);
        assert!(p.has_pk);
        assert_eq!(
            p.upsert,
            "INSERT INTO `MOST`.`we``ird` (`id`, `a`) VALUES (?, ?) ON DUPLICATE KEY UPDATE \
             `id` = VALUES(`id`), `a` = VALUES(`a`)"
        );
        assert_eq!(p.delete, "DELETE FROM `MOST`.`we``ird` WHERE `id` = ?");
    }

    #[test]
    fn create_table_columns() {
        let ddl = "CREATE TABLE `t` (\n  `id` int(11) NOT NULL,\n  `we``ird` varchar(3) DEFAULT 'a,b',\n  \
                   `g` int(11) GENERATED ALWAYS AS (`id` + 1) VIRTUAL,\n  `s` int(11) GENERATED ALWAYS AS (`id` * 2) STORED,\n  \
                   PRIMARY KEY (`id`),\n  KEY `k` (`g`)\n) ENGINE=InnoDB";
        let cols = columns_of_create_table(ddl);
        let names: Vec<(&str, bool)> = cols
            .iter()
            .map(|c| (c.name.as_str(), c.generated))
            .collect();
        assert_eq!(
            names,
            vec![("id", false), ("we`ird", false), ("g", true), ("s", true)]
        );
    }

    #[test]
    fn create_table_column_charsets_and_converting_plans() {
        let ddl = "CREATE TABLE `t` (\n  `id` int(11) NOT NULL,\n  `a` varchar(10) DEFAULT NULL,\n  \
                   `b` text CHARACTER SET utf8mb4 COLLATE utf8mb4_bin DEFAULT NULL,\n  \
                   `c` varbinary(4) DEFAULT NULL,\n  `e` enum('x','y') DEFAULT NULL,\n  \
                   PRIMARY KEY (`id`)\n) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci";
        let cols = columns_of_create_table(ddl);
        let cs: Vec<Option<&str>> = cols.iter().map(|c| c.charset.as_deref()).collect();
        assert_eq!(
            cs,
            vec![
                None,
                Some("latin1"),
                Some("utf8mb4"),
                Some("binary"),
                Some("latin1")
            ]
        );
        // The origin's a and b are utf8mb4 (45), c binary (63): a is converted, b and c not.
        let mut meta = TableMeta {
            schema: "s".into(),
            table: "t".into(),
            columns: vec![col("id"), col("a"), col("b"), col("c")],
            primary_key: vec![0],
        };
        for (i, id) in [(1, 45), (2, 45), (3, 63)] {
            meta.columns[i].charset = id;
        }
        let p = TablePlan::converting(&meta, &cols, |id| (id == 45).then(|| "utf8mb4".into()));
        assert!(p.converts);
        assert_eq!(
            p.insert,
            "INSERT INTO `s`.`t` (`id`, `a`, `b`, `c`) VALUES (?, CONVERT(? USING utf8mb4), ?, ?)"
        );
        let mut out = String::new();
        super::super::small::tuple_marked(
            &[
                Value::Int(1),
                Value::Bytes("é".into()),
                Value::Null,
                Value::Null,
            ],
            &p.cols,
            Some(&p.marks),
            &mut out,
        );
        assert!(
            out.starts_with("(1, CONVERT(") && out.contains("USING utf8mb4)"),
            "{out}"
        );
        assert!(!TablePlan::new(&meta, &cols).converts);
    }

    #[test]
    fn no_key_tables_match_full_rows() {
        let meta = TableMeta {
            schema: "s".into(),
            table: "t".into(),
            columns: vec![col("a"), col("b")],
            primary_key: vec![],
        };
        let target = plain_columns(&["a", "b"]);
        let p = TablePlan::new(&meta, &target);
        assert!(!p.has_pk);
        assert_eq!(p.key, vec![0, 1]);
        assert_eq!(
            p.delete,
            "DELETE FROM `s`.`t` WHERE `a` <=> ? AND `b` <=> ? LIMIT 1"
        );
        assert_eq!(p.upsert, p.insert);
    }
}
