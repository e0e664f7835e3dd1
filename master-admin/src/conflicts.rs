//! `master-admin conflicts`: the conflict log (`starsync.conflicts` on the master).
//!
//! The hub applies every snap transaction in hub order; when a row's before-image on the master
//! is not what the snap saw, it applies the change anyway and logs a conflict in the same
//! transaction: the table, the kind, the row's key, the origin node and GTID, the row as the
//! master had it (*master image*) and the snap's before and after images. This command shows the
//! most recent ones, oldest first so the newest is next to the prompt.
//!
//! The log lives on the master only (written with the binlog off). It does not exist until the
//! hub first started; then there is simply nothing recorded. The hub deletes conflicts older
//! than its `[hub] conflict_log_days` (90 by default).

use std::io::Write;

use mysql_async::prelude::*;
use mysql_async::{Params, Row, Value};
use serde::Serialize;

use crate::db::Db;
use crate::error::{Error, Result};
use crate::render;

/// Longest image shown in the text output (the JSON output has them whole).
const IMAGE_CHARS: usize = 300;

/// Which conflicts to show.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// At most this many, the most recent.
    pub limit: u64,
    /// `TABLE` or `DB.TABLE`.
    pub table: Option<String>,
    /// Origin node name.
    pub node: Option<String>,
}

/// One logged conflict.
#[derive(Debug, Clone, Serialize)]
pub struct Conflict {
    pub id: u64,
    /// When the hub detected it: RFC 3339 UTC with microseconds.
    pub detected_at: String,
    pub schema: String,
    pub table: String,
    pub kind: String,
    pub key: serde_json::Value,
    pub origin_node: String,
    pub origin_gtid: String,
    pub master_image: Option<serde_json::Value>,
    pub incoming_before: Option<serde_json::Value>,
    pub incoming_after: Option<serde_json::Value>,
}

/// A JSON column's text as JSON (as a string if it somehow is not JSON).
fn json(text: String) -> serde_json::Value {
    serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
}

/// Column `i` of `r` as `T`; `None` when missing or of another type (never panics).
fn col<T: FromValue>(r: &mut Row, i: usize) -> Option<T> {
    r.take_opt(i)?.ok()
}

fn conflict_from_row(mut r: Row) -> Option<Conflict> {
    let r = &mut r;
    Some(Conflict {
        id: col(r, 0)?,
        detected_at: col(r, 1)?,
        schema: col(r, 2)?,
        table: col(r, 3)?,
        kind: col(r, 4)?,
        key: json(col(r, 5)?),
        origin_node: col(r, 6)?,
        origin_gtid: col(r, 7)?,
        master_image: col::<Option<String>>(r, 8)?.map(json),
        incoming_before: col::<Option<String>>(r, 9)?.map(json),
        incoming_after: col::<Option<String>>(r, 10)?.map(json),
    })
}

/// The WHERE clause and its parameters.
fn where_clause(f: &Filter) -> (String, Vec<Value>) {
    let mut conds = Vec::new();
    let mut params = Vec::new();
    if let Some(t) = &f.table {
        match t.split_once('.') {
            Some((db, table)) => {
                conds.push("schema_name = ? AND table_name = ?");
                params.push(Value::from(db.trim_matches('`')));
                params.push(Value::from(table.trim_matches('`')));
            }
            None => {
                conds.push("table_name = ?");
                params.push(Value::from(t.trim_matches('`')));
            }
        }
    }
    if let Some(n) = &f.node {
        conds.push("origin_node = ?");
        params.push(Value::from(n.as_str()));
    }
    let clause = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    (clause, params)
}

/// Reads the most recent conflicts (oldest first) and how many match in all.
/// `None` when the conflict log does not exist.
pub async fn read(db: &mut Db, f: &Filter) -> Result<Option<(Vec<Conflict>, u64)>> {
    // `detected_at` is a TIMESTAMP: shown in the session's time zone, so make that UTC (the
    // hub's /status times are UTC too).
    db.exec("setting the session time zone", "SET time_zone = '+00:00'")
        .await?;
    let (clause, params) = where_clause(f);
    let count_sql = format!("SELECT COUNT(*) FROM starsync.conflicts{clause}");
    let err = db.err("reading starsync.conflicts");
    let total: Option<u64> = match db
        .conn
        .exec_first(count_sql, Params::Positional(params.clone()))
        .await
        .map_err(err)
    {
        Ok(n) => n,
        // 1146: no such table; 1049: no such database. The hub has never run here.
        Err(e) if matches!(e.server_code(), Some(1146 | 1049)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let sql = format!(
        "SELECT id, DATE_FORMAT(detected_at, '%Y-%m-%dT%H:%i:%s.%fZ'), schema_name, table_name, kind, row_key, \
         origin_node, origin_gtid, master_image, incoming_before, incoming_after \
         FROM starsync.conflicts{clause} ORDER BY id DESC LIMIT {}",
        f.limit
    );
    let err = db.err("reading starsync.conflicts");
    let rows: Vec<Row> = db
        .conn
        .exec(sql, Params::Positional(params))
        .await
        .map_err(err)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(conflict_from_row(r).ok_or_else(|| Error::Db {
            what: "reading starsync.conflicts".into(),
            address: db.address.clone(),
            cause: mysql_async::Error::Other("a row has an unexpected column type".into()).into(),
        })?);
    }
    out.reverse();
    Ok(Some((out, total.unwrap_or(0))))
}

fn image(v: &Option<serde_json::Value>) -> String {
    match v {
        None => "-".into(),
        Some(v) => {
            let text = v.to_string();
            let n = text.chars().count();
            if n > IMAGE_CHARS {
                format!(
                    "{} ({} more characters; --json shows all)",
                    render::truncate(&text, IMAGE_CHARS),
                    n - IMAGE_CHARS
                )
            } else {
                text
            }
        }
    }
}

/// What a conflict kind means: what the hub found and what it did.
pub fn explain(kind: &str) -> &'static str {
    match kind {
        "insert_exists" => {
            "the key was taken on the master by another row; the incoming row replaced it"
        }
        "update_missing" => "the row was gone from the master; the incoming row was written",
        "update_mismatch" => {
            "the master's row was not what the origin changed; the incoming row replaced it"
        }
        "delete_missing" => "the row was already gone from the master",
        "delete_mismatch" => "the master's row was not what the origin deleted; it was deleted",
        "no_key_update_missing" | "no_key_delete_missing" => {
            "no identical row on the master (a table without a primary key); the change was \
             not applied"
        }
        "foreign_key" => {
            "a foreign key refused the change on the master, which kept its rows; a child row \
             whose parent the master deleted goes from the origin when that delete reaches it, \
             a parent the origin deleted must be restored there (its agent's log says so)"
        }
        "check_constraint" => {
            "a CHECK constraint of the master refused the row, which was not applied; the \
             origin keeps it (master-admin verify shows the difference; master-admin repair \
             makes its table there the master's)"
        }
        "not_null" => {
            "a column the master has NOT NULL got no value or NULL; the row was not applied, \
             the origin keeps it (master-admin verify shows the difference; master-admin \
             repair makes its table there the master's)"
        }
        "bad_value" => {
            "the master cannot store a value of the row (out of range, too long, not valid for \
             its column as the master defines it); the row was not applied, the origin keeps it"
        }
        "table_missing" => {
            "the table does not exist on the master (dropped there, or made on the origin \
             only); the row was not applied"
        }
        "converted" => {
            "a value of the row did not fit its column on the master (narrowed, an ENUM shrunk, \
             another character set); the server converted it and every node took the master's \
             row; the value as sent is in incoming_after"
        }
        "unique_displaced" => {
            "the master's row held the incoming row's value of a unique key; it was deleted \
             everywhere and the incoming row written"
        }
        _ => "",
    }
}

/// The text output: one block per conflict, then a count line.
pub fn render_text(conflicts: &[Conflict], total: u64, f: &Filter) -> String {
    if conflicts.is_empty() {
        return if f.table.is_some() || f.node.is_some() {
            "no conflicts recorded that match the filter\n".into()
        } else {
            "no conflicts recorded\n".into()
        };
    }
    let mut out = String::new();
    for c in conflicts {
        out.push_str(&format!(
            "#{}  {}  {}.{}  {}  key {}\n",
            c.id, c.detected_at, c.schema, c.table, c.kind, c.key
        ));
        out.push_str(&format!(
            "    from {} (GTID {})\n",
            c.origin_node, c.origin_gtid
        ));
        let what = explain(&c.kind);
        if !what.is_empty() {
            out.push_str(&format!("    {what}\n"));
        }
        out.push_str(&format!(
            "    master image     {}\n",
            image(&c.master_image)
        ));
        out.push_str(&format!(
            "    incoming before  {}\n",
            image(&c.incoming_before)
        ));
        out.push_str(&format!(
            "    incoming after   {}\n",
            image(&c.incoming_after)
        ));
    }
    let shown = conflicts.len() as u64;
    if shown < total {
        out.push_str(&format!(
            "\n{shown} most recent of {total} conflicts shown (--limit N for more)\n"
        ));
    } else {
        out.push_str(&format!("\n{total} conflict(s)\n"));
    }
    out
}

/// Runs `conflicts`.
pub async fn run(db: &mut Db, f: &Filter, as_json: bool, out: &mut dyn Write) -> Result<()> {
    let (conflicts, total) = read(db, f).await?.unwrap_or_default();
    let text = if as_json {
        let mut s = serde_json::to_string_pretty(&conflicts).unwrap_or_default();
        s.push('\n');
        s
    } else {
        render_text(&conflicts, total, f)
    };
    let _ = out.write_all(text.as_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_parameters() {
        let (c, p) = where_clause(&Filter {
            limit: 5,
            table: Some("MOST.c".into()),
            node: Some("snap1".into()),
        });
        assert_eq!(
            c,
            " WHERE schema_name = ? AND table_name = ? AND origin_node = ?"
        );
        assert_eq!(p.len(), 3);
        let (c, p) = where_clause(&Filter::default());
        assert!(c.is_empty() && p.is_empty());
    }

    #[test]
    fn text_shows_both_images() {
        let c = Conflict {
            id: 7,
            detected_at: "2024-01-01T10:00:00.000001Z".into(),
            schema: "MOST".into(),
            table: "c".into(),
            kind: "update_mismatch".into(),
            key: serde_json::json!({"id": 1}),
            origin_node: "snap1".into(),
            origin_gtid: "2-2-15".into(),
            master_image: Some(serde_json::json!({"id": 1, "v": 3})),
            incoming_before: Some(serde_json::json!({"id": 1, "v": 0})),
            incoming_after: None,
        };
        let text = render_text(&[c], 3, &Filter::default());
        for want in [
            "#7  2024-01-01T10:00:00.000001Z  MOST.c  update_mismatch  key {\"id\":1}",
            "from snap1 (GTID 2-2-15)",
            "the master's row was not what the origin changed; the incoming row replaced it",
            "master image     {\"id\":1,\"v\":3}",
            "incoming before  {\"id\":1,\"v\":0}",
            "incoming after   -",
            "1 most recent of 3 conflicts shown",
        ] {
            assert!(text.contains(want), "{want:?} not in\n{text}");
        }
        assert_eq!(
            render_text(&[], 0, &Filter::default()),
            "no conflicts recorded\n"
        );
    }
}
