//! `master-admin verify`: are all nodes' tables the same?
//!
//! The hub coordinates (`GET /verify`): every node checksums each replicated table inside a
//! consistent snapshot taken at one common GTID position, retrying until the positions agree, so
//! that a checksum difference is a real difference and not a transaction in flight. This module
//! asks, and renders the answer: one line when all is equal, else one line per table and node
//! that differs and per node that did not take part.

use std::time::Duration;

use crate::error::{Error, Result, EXIT_OK, EXIT_PROBLEM};
use crate::hub::{Hub, VerifyDoc};
use crate::names::TableName;
use replicator::verify::DEFINITION_SUFFIX;

/// Default for how long the hub may take (checksumming large tables takes time).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// The verdict as text.
pub fn render(doc: &VerifyDoc) -> String {
    let pos = doc.master_pos.to_string();
    let pos = if pos.is_empty() {
        "(empty)".into()
    } else {
        pos
    };
    let tables = doc
        .nodes
        .iter()
        .map(|n| {
            n.tables
                .keys()
                .filter(|t| !t.ends_with(DEFINITION_SUFFIX))
                .count()
        })
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    if doc.equal {
        let one = doc
            .nodes
            .first()
            .and_then(|n| n.tables.keys().find(|t| !t.ends_with(DEFINITION_SUFFIX)));
        let what = if let (1, Some(t)) = (tables, one) {
            format!("table {t}")
        } else {
            format!("all {tables} tables")
        };
        out.push_str(&format!(
            "{what} equal on {} nodes at position {pos}\n",
            doc.nodes.len()
        ));
        return out;
    }
    for d in &doc.differences {
        if let Some(table) = d.table.strip_suffix(DEFINITION_SUFFIX) {
            out.push_str(&format!(
                "table {table} is defined differently on node {} than on the master (compare \
                 SHOW CREATE TABLE on both: a column, an index or an option)\n",
                d.node
            ));
            continue;
        }
        let line = match (&d.actual, &d.expected) {
            (Some(a), Some(e)) => format!(
                "table {} differs on node {} (checksum {a}, master {e})",
                d.table, d.node
            ),
            (None, Some(e)) => format!(
                "table {} is missing on node {} (master checksum {e})",
                d.table, d.node
            ),
            (Some(a), None) => format!(
                "table {} is on node {} (checksum {a}) but not on the master",
                d.table, d.node
            ),
            (None, None) => format!("table {} differs on node {}", d.table, d.node),
        };
        out.push_str(&line);
        out.push('\n');
    }
    for name in &doc.missing {
        let why = doc
            .nodes
            .iter()
            .find(|n| &n.name == name)
            .and_then(|n| n.error.as_deref())
            .map(|e| format!(": {e}"))
            .unwrap_or_else(|| " (disconnected or no answer)".into());
        out.push_str(&format!("node {name} was not verified{why}\n"));
    }
    for n in &doc.nodes {
        if let (Some(e), false) = (&n.error, doc.missing.contains(&n.name)) {
            out.push_str(&format!("node {}: {e}\n", n.name));
        }
    }
    out.push_str(&format!(
        "NOT EQUAL at position {pos}: {} difference(s), {} node(s) not verified\n",
        doc.differences.len(),
        doc.missing.len()
    ));
    if let Some(d) = doc.differences.first() {
        out.push_str(&format!(
            "make a snap's table the master's with `{}` (--dry-run counts first)\n",
            replicator::repair::repair_command(&d.table, &d.node)
        ));
    }
    out
}

/// Runs `verify` (of every replicated table, or of `table` only); exit code 0 when equal, 1
/// otherwise.
pub async fn run(
    hub: &Hub,
    table: Option<&TableName>,
    timeout: Duration,
    as_json: bool,
) -> Result<u8> {
    let path = match table {
        Some(t) => format!("/verify?table={}", replicator::http::encode(&t.quoted())),
        None => "/verify".to_string(),
    };
    let (doc, raw) = match hub.get_doc_at::<VerifyDoc>(&path, "/verify", timeout).await {
        Err(Error::HubStatus {
            addr,
            path,
            status: 404,
            ..
        }) => {
            return Err(Error::HubStatus {
                addr,
                path,
                status: 404,
                body: "this hub does not serve /verify: upgrade the replicator on the master"
                    .into(),
            })
        }
        r => r?,
    };
    if as_json {
        println!("{raw}");
    } else {
        print!("{}", render(&doc));
    }
    Ok(if doc.equal { EXIT_OK } else { EXIT_PROBLEM })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_is_one_line() {
        let doc: VerifyDoc = serde_json::from_str(
            r#"{"equal": true, "master_pos": "1-1-5",
              "nodes": [{"name": "master", "gtid_pos": "1-1-5", "tables": {"a": 1, "a (definition)": 3, "b": 2}},
                        {"name": "snap1", "gtid_pos": "1-1-5", "tables": {"a": 1, "a (definition)": 3, "b": 2}}],
              "differences": [], "missing": []}"#,
        )
        .unwrap();
        assert_eq!(
            render(&doc),
            "all 2 tables equal on 2 nodes at position 1-1-5\n"
        );
    }

    #[test]
    fn differences_name_table_node_and_checksums() {
        let doc: VerifyDoc = serde_json::from_str(
            r#"{"equal": false, "master_pos": "1-1-5",
              "nodes": [{"name": "master", "tables": {"`MOST`.`t`": 123}},
                        {"name": "snap2", "error": "connection refused"}],
              "differences": [
                {"table": "`MOST`.`t`", "node": "snap1", "expected": 123, "actual": 456},
                {"table": "`MOST`.`u`", "node": "snap1", "expected": 9, "actual": null},
                {"table": "`MOST`.`v` (definition)", "node": "snap1", "expected": 4, "actual": 5}],
              "missing": ["snap2"]}"#,
        )
        .unwrap();
        let text = render(&doc);
        for want in [
            "table `MOST`.`t` differs on node snap1 (checksum 456, master 123)",
            "table `MOST`.`u` is missing on node snap1 (master checksum 9)",
            "table `MOST`.`v` is defined differently on node snap1 than on the master",
            "node snap2 was not verified: connection refused",
            "NOT EQUAL at position 1-1-5: 3 difference(s), 1 node(s) not verified",
            "`master-admin repair MOST.t --node snap1` (--dry-run counts first)",
        ] {
            assert!(text.contains(want), "{want:?} not in\n{text}");
        }
        assert_eq!(
            replicator::repair::shell_table("`my.db`.`it's`"),
            "'`my.db`.`it'\\''s`'"
        );
    }
}
