//! The SQL text of every statement snap-cli runs, built from catalog names only.
//!
//! Two rules make user input harmless:
//! 1. **Values are never part of the SQL text.** Every value — typed or read back from a row —
//!    is a `?` placeholder bound as a prepared-statement parameter. The server never parses it.
//! 2. **Identifiers come from the catalog and are always quoted.** Table and column names are the
//!    ones [`crate::catalog`] read from `information_schema`, wrapped in backticks with any
//!    backtick doubled ([`quote_ident`]), so even a column named ``a` OR 1`` stays a name.
//!
//! Rows are identified with `<=>` (NULL-safe equality) so a NULL in a matched value still
//! matches, and UPDATE/DELETE carry `LIMIT 1` so a table without a key never loses more than the
//! one row the user picked.

use mysql_async::Value;

use crate::catalog::Table;

/// `` `name` `` with backticks doubled.
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `` `schema`.`table` ``.
pub fn qualified(t: &Table) -> String {
    format!("{}.{}", quote_ident(&t.schema), quote_ident(&t.name))
}

fn column_list(t: &Table) -> String {
    t.columns
        .iter()
        .map(|c| quote_ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `` `a` <=> ? AND `b` <=> ? `` over the given column indexes.
fn match_columns(t: &Table, cols: &[usize]) -> String {
    cols.iter()
        .map(|&i| format!("{} <=> ?", quote_ident(&t.columns[i].name)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// `INSERT INTO t (a, b) VALUES (?, ?)`; with no columns, every column takes its default.
pub fn insert(t: &Table, cols: &[usize]) -> String {
    let names: Vec<String> = cols
        .iter()
        .map(|&i| quote_ident(&t.columns[i].name))
        .collect();
    let marks = vec!["?"; cols.len()].join(", ");
    format!(
        "INSERT INTO {} ({}) VALUES ({marks})",
        qualified(t),
        names.join(", ")
    )
}

/// One row by the values of `cols` (the key, or all columns for a table without one).
pub fn select_where(t: &Table, cols: &[usize]) -> String {
    format!(
        "SELECT {} FROM {} WHERE {} LIMIT 1",
        column_list(t),
        qualified(t),
        match_columns(t, cols)
    )
}

/// Updates `set` columns of the row whose `guard` columns still hold the values read: a row
/// changed or deleted meanwhile (another session, or replication) matches nothing.
pub fn update(t: &Table, set: &[usize], guard: &[usize]) -> String {
    let assignments: Vec<String> = set
        .iter()
        .map(|&i| format!("{} = ?", quote_ident(&t.columns[i].name)))
        .collect();
    format!(
        "UPDATE {} SET {} WHERE {} LIMIT 1",
        qualified(t),
        assignments.join(", "),
        match_columns(t, guard)
    )
}

/// Deletes the one row whose `guard` columns hold the values read.
pub fn delete(t: &Table, guard: &[usize]) -> String {
    format!(
        "DELETE FROM {} WHERE {} LIMIT 1",
        qualified(t),
        match_columns(t, guard)
    )
}

/// How a SEARCH matches one column.
#[derive(Debug, Clone, PartialEq)]
pub enum Match {
    /// Text containing the bytes (LIKE, case as the column's collation says).
    Contains(Vec<u8>),
    /// Text starting with the bytes.
    StartsWith(Vec<u8>),
    /// Equal to a checked value.
    Equals(Value),
    /// Between two checked values, inclusive; either end may be open.
    Range(Option<Value>, Option<Value>),
    /// NULL.
    IsNull,
}

/// A search: one column, one match.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub column: usize,
    pub matches: Match,
}

/// `!` escapes LIKE's wildcards, so `%`, `_` and `!` typed by the user match themselves.
/// (Not backslash: its meaning in a literal depends on `NO_BACKSLASH_ESCAPES`.)
pub fn like_escape(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 2);
    for &b in bytes {
        if matches!(b, b'%' | b'_' | b'!') {
            out.push(b'!');
        }
        out.push(b);
    }
    out
}

/// The WHERE clause (without `WHERE`) and its parameters.
pub fn filter_clause(t: &Table, f: &Filter) -> (String, Vec<Value>) {
    let col = quote_ident(&t.columns[f.column].name);
    match &f.matches {
        Match::Contains(b) => {
            let mut p = b"%".to_vec();
            p.extend(like_escape(b));
            p.push(b'%');
            (format!("{col} LIKE ? ESCAPE '!'"), vec![Value::Bytes(p)])
        }
        Match::StartsWith(b) => {
            let mut p = like_escape(b);
            p.push(b'%');
            (format!("{col} LIKE ? ESCAPE '!'"), vec![Value::Bytes(p)])
        }
        Match::Equals(v) => (format!("{col} = ?"), vec![v.clone()]),
        Match::Range(Some(lo), Some(hi)) => (
            format!("{col} BETWEEN ? AND ?"),
            vec![lo.clone(), hi.clone()],
        ),
        Match::Range(Some(lo), None) => (format!("{col} >= ?"), vec![lo.clone()]),
        Match::Range(None, Some(hi)) => (format!("{col} <= ?"), vec![hi.clone()]),
        // Never built by the UI (it asks for at least one end); matches everything non-NULL.
        Match::Range(None, None) => (format!("{col} IS NOT NULL"), vec![]),
        Match::IsNull => (format!("{col} IS NULL"), vec![]),
    }
}

fn where_part(t: &Table, f: Option<&Filter>) -> (String, Vec<Value>) {
    match f {
        Some(f) => {
            let (clause, params) = filter_clause(t, f);
            (format!(" WHERE {clause}"), params)
        }
        None => (String::new(), Vec::new()),
    }
}

/// `SELECT COUNT(*)` of the table, or of a search's matches.
pub fn count(t: &Table, f: Option<&Filter>) -> (String, Vec<Value>) {
    let (w, params) = where_part(t, f);
    (format!("SELECT COUNT(*) FROM {}{w}", qualified(t)), params)
}

/// One page, in key order; the last two parameters are LIMIT and OFFSET.
pub fn page(t: &Table, f: Option<&Filter>, limit: u64, offset: u64) -> (String, Vec<Value>) {
    let (w, mut params) = where_part(t, f);
    let order = match t.key_columns() {
        Some(cols) => format!(
            " ORDER BY {}",
            cols.iter()
                .map(|&i| quote_ident(&t.columns[i].name))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => String::new(),
    };
    params.push(Value::UInt(limit));
    params.push(Value::UInt(offset));
    (
        format!(
            "SELECT {} FROM {}{w}{order} LIMIT ? OFFSET ?",
            column_list(t),
            qualified(t)
        ),
        params,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{ColumnInfo, RowKey};

    fn table() -> Table {
        let col = |n: &str| {
            ColumnInfo {
                name: n.into(),
                data_type: "varchar".into(),
                column_type: "varchar(10)".into(),
                max_chars: Some(10),
                ..ColumnInfo::default()
            }
            .into_column(false)
        };
        Table {
            schema: "MOST".into(),
            name: "we`ird".into(),
            columns: vec![col("id"), col("a` OR 1=1 -- ")],
            key: RowKey::Primary(vec![0]),
        }
    }

    #[test]
    fn identifiers_are_quoted_and_values_are_placeholders() {
        let t = table();
        assert_eq!(
            insert(&t, &[0, 1]),
            "INSERT INTO `MOST`.`we``ird` (`id`, `a`` OR 1=1 -- `) VALUES (?, ?)"
        );
        assert_eq!(insert(&t, &[]), "INSERT INTO `MOST`.`we``ird` () VALUES ()");
        assert_eq!(
            update(&t, &[1], &[0, 1]),
            "UPDATE `MOST`.`we``ird` SET `a`` OR 1=1 -- ` = ? WHERE `id` <=> ? AND \
             `a`` OR 1=1 -- ` <=> ? LIMIT 1"
        );
        assert_eq!(
            delete(&t, &[0]),
            "DELETE FROM `MOST`.`we``ird` WHERE `id` <=> ? LIMIT 1"
        );
        let (sql, params) = page(&t, None, 20, 40);
        assert_eq!(
            sql,
            "SELECT `id`, `a`` OR 1=1 -- ` FROM `MOST`.`we``ird` ORDER BY `id` LIMIT ? OFFSET ?"
        );
        assert_eq!(params, vec![Value::UInt(20), Value::UInt(40)]);
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        let t = table();
        let f = Filter {
            column: 1,
            matches: Match::Contains(b"50%_off!".to_vec()),
        };
        let (sql, params) = count(&t, Some(&f));
        assert_eq!(
            sql,
            "SELECT COUNT(*) FROM `MOST`.`we``ird` WHERE `a`` OR 1=1 -- ` LIKE ? ESCAPE '!'"
        );
        assert_eq!(params, vec![Value::Bytes(b"%50!%!_off!!%".to_vec())]);
        let f = Filter {
            column: 0,
            matches: Match::Range(Some(Value::Int(1)), None),
        };
        assert_eq!(filter_clause(&t, &f).0, "`id` >= ?");
    }
}
