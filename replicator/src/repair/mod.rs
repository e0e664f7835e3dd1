//! Repair of one table on one snap: the master's rows of the table, at a position in that snap's
//! own stream, replace the snap's.
//!
//! `master-admin verify` finds a table that differs on a snap (a change made there without
//! binlogging, a row the hub refused, a master DDL that failed there, a column whose default the
//! DDL computed per node); `master-admin repair TABLE --node SNAP` mends it without the snap
//! losing anything else (a resync replaces every replicated database and holds local writes off
//! while it loads).
//!
//! # Where in the stream
//! The hub's fan-out to that snap, between two transactions, opens a consistent snapshot on the
//! master ([`source::TableSnapshot`]). Everything the fan-out had sent was committed before it,
//! so the snapshot's position is at or after the fan-out's; the fan-out goes on until it has sent
//! exactly that position and then sends the table's rows (`RepairBegin`, `RepairRows`…,
//! `RepairEnd`) before anything later. The snap applies them in stream order, so what follows in
//! the stream applies to the repaired rows. The snapshot holds the table's metadata lock on the
//! master until its rows are sent (like `mariadb-dump --single-transaction`): a DDL of that
//! table waits meanwhile.
//!
//! # On the snap ([`target::Repair`])
//! Unlogged (it is not a change to replicate, and the snap's GTID position does not move), with
//! foreign key checks off (the master's rows are consistent with its other tables as the stream
//! delivers them):
//! 1. The master's rows are loaded into a work table (`starsync.repair_rows`, which does not
//!    replicate), made like the snap's table, or from the master's `CREATE TABLE` when the
//!    snap's definition differs. The snap's table is not touched yet: a session that ends here
//!    leaves it as it was.
//! 2. A table whose definition differs from the master's (or that is missing) is made again
//!    from the master's `CREATE TABLE` (DDL: not part of the transaction that follows).
//! 3. In one transaction: every row of the table is locked (a locking scan under REPEATABLE READ
//!    also locks the gaps: local writers of the table wait until the repair commits), and the
//!    agent waits until its capture has read the snap's binlog up to then, so every local change
//!    of the table is known. Rows whose key has a local change in flight (captured, its echo not
//!    back yet) keep the snap's version in the work table: that change reaches the master after
//!    the snapshot, and its echo brings the master's image. Echoes of every own transaction
//!    recorded so far are written in full from now on ([`crate::echo_skip`]): the repair changed
//!    rows they might otherwise take as already held.
//! 4. The rows are counted by reading (rows not identical to the master's, byte for byte in every
//!    stored column; the master's rows not here), then those rows are deleted and the master's
//!    missing ones inserted, and the counts are the report. A dry run only counts. A table
//!    without a primary key has all its rows replaced.
//!
//! A table of a non-transactional engine (MyISAM, Aria) takes no row locks and its change is
//! not one atomic step; local writes to it during a repair can be lost on the snap.

pub mod source;
pub mod target;

use serde::{Deserialize, Serialize};

use crate::gtid::GtidPos;

/// The table the master's rows are loaded into on the snap (`starsync`, which does not
/// replicate; a real table, not a temporary one: the agent's account may not make those).
pub const WORK_SCHEMA: &str = "starsync";
pub const WORK_TABLE: &str = "repair_rows";

/// The start of a repair's rows in a snap's stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepairBegin {
    #[serde(rename = "i")]
    pub id: u64,
    #[serde(rename = "s")]
    pub schema: String,
    #[serde(rename = "t")]
    pub table: String,
    /// The master's position the rows are at (the stream's position there).
    #[serde(rename = "p")]
    pub pos: GtidPos,
    /// The master's `SHOW CREATE TABLE` at that position.
    #[serde(rename = "c")]
    pub create: String,
    /// Count and report, change nothing.
    #[serde(rename = "d")]
    pub dry_run: bool,
}

/// The end of a repair's rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepairEnd {
    #[serde(rename = "i")]
    pub id: u64,
    /// Rows sent.
    #[serde(rename = "r")]
    pub rows: u64,
}

/// What a repair did (or would do, dry), as the snap reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RepairReport {
    pub id: u64,
    /// The snap (filled in by the hub).
    pub node: String,
    /// `schema.table`.
    pub table: String,
    /// The master's position the snap's table now matches.
    pub master_pos: String,
    pub dry_run: bool,
    /// The master's rows.
    pub master_rows: u64,
    /// The snap's definition differed from the master's (or the table was missing there).
    pub definition_differed: bool,
    /// The table was made again from the master's definition.
    pub recreated: bool,
    /// Rows whose key the master has, with other values here: made the master's.
    pub differed: u64,
    /// Rows the master has and the snap had not: inserted.
    pub missing: u64,
    /// Rows the snap had and the master has not: deleted.
    pub extra: u64,
    /// Rows of a table without a primary key are replaced all (they have no key to compare by).
    pub keyless: bool,
    /// Rows left as they are because a local change of theirs is in flight (its echo brings
    /// the master's image).
    pub in_flight: u64,
    /// Seconds the snap spent.
    pub secs: f64,
    /// Why it failed (nothing was changed unless `recreated`).
    pub error: Option<String>,
}

impl RepairReport {
    /// Whether the snap's table was (or, dry, would have been) other than the master's.
    pub fn differs(&self) -> bool {
        self.definition_differed || self.differed + self.missing + self.extra > 0
    }
}

/// The command that makes `table` (as `/verify` names a difference: quoted, or its
/// definition) on `node` the master's: `master-admin repair DB.TABLE --node NODE`.
pub fn repair_command(table: &str, node: &str) -> String {
    let table = table
        .strip_suffix(crate::verify::DEFINITION_SUFFIX)
        .unwrap_or(table);
    format!("master-admin repair {} --node {node}", shell_table(table))
}

/// A quoted table name as a shell argument for `repair`: `DB.TABLE` when plain, else the
/// backquoted form in single quotes.
pub fn shell_table(quoted: &str) -> String {
    match parse_table(quoted) {
        Some((db, t))
            if [&db, &t].iter().all(|p| {
                p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
            }) =>
        {
            format!("{db}.{t}")
        }
        _ => format!("'{}'", quoted.replace('\'', "'\\''")),
    }
}

/// Splits `schema.table` (each part optionally in backticks) into its parts.
pub fn parse_table(s: &str) -> Option<(String, String)> {
    let s = s.trim();
    let (schema, rest) = part(s)?;
    let rest = rest.strip_prefix('.')?;
    let (table, rest) = part(rest)?;
    (rest.is_empty() && !schema.is_empty() && !table.is_empty()).then_some((schema, table))
}

/// One name at the start of `s` and what follows it.
fn part(s: &str) -> Option<(String, &str)> {
    if let Some(q) = s.strip_prefix('`') {
        let mut name = String::new();
        let mut chars = q.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '`' {
                if chars.peek().is_some_and(|&(_, n)| n == '`') {
                    chars.next();
                    name.push('`');
                } else {
                    return Some((name, &q[i + 1..]));
                }
            } else {
                name.push(c);
            }
        }
        None
    } else {
        let end = s.find('.').unwrap_or(s.len());
        Some((s[..end].to_string(), &s[end..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_parse_with_and_without_quotes() {
        let p = |s: &str| parse_table(s);
        assert_eq!(p("MOST.t"), Some(("MOST".into(), "t".into())));
        assert_eq!(p(" `MOST`.`a.b` "), Some(("MOST".into(), "a.b".into())));
        assert_eq!(p("`x``y`.t"), Some(("x`y".into(), "t".into())));
        assert_eq!(p("t"), None);
        assert_eq!(p("MOST."), None);
        assert_eq!(p("a.b.c"), None);
        assert_eq!(p("`MOST.t"), None);
    }
}
