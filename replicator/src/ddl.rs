//! What a statement from the binlog touches: enough of SQL to route DDL.
//!
//! The binlog's QUERY event carries the session's default schema, which is not always the schema
//! a statement changes (`CREATE TABLE other.t` run from `MOST`, `CREATE DATABASE x` logged with
//! `x`, account statements that change `mysql`). This reads the statement's first keywords and
//! object name to find the schema it changes, so the hub can replicate exactly what its
//! `[replicate]` configuration says.

/// A classified statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub kind: StatementKind,
    /// The schema the statement changes (empty when unknown).
    pub schema: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    /// CREATE/ALTER/DROP/RENAME/TRUNCATE of databases, tables, views, routines, ...
    Ddl,
    /// Accounts and privileges (GRANT, CREATE USER, ...): never replicated.
    Account,
    /// Triggers and scheduled events (CREATE/ALTER/DROP TRIGGER, EVENT): they run on the master
    /// only and their effects replicate as rows (a trigger on a snap would fire again on every
    /// applied row; an event on every node would do its work once per node).
    MasterOnly,
    /// SAVEPOINT, ROLLBACK TO, RELEASE SAVEPOINT inside a transaction: part of the
    /// transaction, replicated with it wherever it comes from.
    Savepoint,
    /// A data change logged as a statement (its session's `binlog_format` was not ROW):
    /// INSERT, UPDATE, DELETE, REPLACE, LOAD DATA.
    Dml,
    /// Anything else (FLUSH, ANALYZE, ...).
    Other,
}

/// Whether a statement of a transaction is `SAVEPOINT`, `ROLLBACK TO` or `RELEASE SAVEPOINT`
/// (part of the transaction wherever it comes from, never DDL drift).
pub fn is_savepoint(q: &crate::model::QueryItem) -> bool {
    classify(&q.sql_lossy(), &q.schema).kind == StatementKind::Savepoint
}

/// Whether a statement of a transaction is a data change logged as a statement.
pub fn is_dml(q: &crate::model::QueryItem) -> bool {
    classify(&q.sql_lossy(), &q.schema).kind == StatementKind::Dml
}

/// Functions whose value differs per node and per call even with the origin's time and seeds.
const NONDETERMINISTIC: [&str; 5] = ["UUID()", "UUID_SHORT()", "SYS_GUID()", "RAND()", "SYSDATE("];

/// `ALTER TABLE … ADD …` with a default computed per node (`DEFAULT (UUID())`): each node
/// fills the table's existing rows with its own values. The function, when it is one.
pub fn adds_a_column_with_nondeterministic_default(sql: &str) -> Option<&'static str> {
    let toks = tokens(sql, 3);
    let w = |i: usize, word: &str| toks.get(i).is_some_and(|t| is_word(t, word));
    if !(w(0, "ALTER") && (w(1, "TABLE") || w(2, "TABLE"))) {
        return None;
    }
    let up = sql.to_ascii_uppercase().replace(' ', "");
    if !up.contains("ADD") {
        return None;
    }
    NONDETERMINISTIC
        .into_iter()
        .find(|f| up.contains(&format!("DEFAULT({f}")) || up.contains(&format!("DEFAULT{f}")))
}

/// What a snap's statement-logged data change means, for its agent's and the hub's logs.
pub const SNAP_STATEMENT_DML: &str = "a data change on this snap was logged as a statement (its \
     session's binlog_format was not ROW, which only an account with SUPER or BINLOG ADMIN can \
     set): it is not replicated, and this snap differs from the master for the rows it changed \
     until the same change is made on the master (it then reaches every node); keep \
     binlog_format=ROW";

/// Splits the start of a statement into tokens: words, quoted identifiers, punctuation.
fn tokens(sql: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let b = sql.as_bytes();
    let mut i = 0;
    while i < b.len() && out.len() < max {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'#' || (c == b'-' && b.get(i + 1) == Some(&b'-')) {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            // `/*!NNNNN ... */` executable comments are read as their content.
            if b.get(i + 2) == Some(&b'!') {
                i += 3;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            } else {
                match sql[i + 2..].find("*/") {
                    Some(e) => i = i + 2 + e + 2,
                    None => break,
                }
            }
        } else if c == b'*' && b.get(i + 1) == Some(&b'/') {
            i += 2;
        } else if c == b'`' || c == b'"' {
            let q = c;
            let mut s = String::new();
            i += 1;
            while i < b.len() {
                if b[i] == q {
                    if b.get(i + 1) == Some(&q) {
                        s.push(q as char);
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                let ch = sql[i..].chars().next().unwrap();
                s.push(ch);
                i += ch.len_utf8();
            }
            out.push(format!("`{s}"));
        } else if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80 {
            let start = i;
            while i < b.len()
                && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$' || b[i] >= 0x80)
            {
                i += 1;
            }
            out.push(sql[start..i].to_string());
        } else {
            out.push((c as char).to_string());
            i += 1;
        }
    }
    out
}

fn is_word(t: &str, w: &str) -> bool {
    !t.starts_with('`') && t.eq_ignore_ascii_case(w)
}

fn ident(t: &str) -> String {
    t.strip_prefix('`').unwrap_or(t).to_string()
}

/// Reads `name` or `db.name` at `toks[i]`, returning the schema part (or `default`).
fn object_schema(toks: &[String], i: usize, default: &str) -> String {
    match (toks.get(i), toks.get(i + 1), toks.get(i + 2)) {
        (Some(db), Some(dot), Some(_)) if dot == "." => ident(db),
        (Some(_), _, _) => default.to_string(),
        _ => default.to_string(),
    }
}

/// Classifies `sql` run with default schema `default`.
pub fn classify(sql: &str, default: &str) -> Statement {
    let toks = tokens(sql, 64);
    let w = |i: usize, word: &str| toks.get(i).is_some_and(|t| is_word(t, word));
    let other = Statement {
        kind: StatementKind::Other,
        schema: default.to_string(),
    };
    let Some(first) = toks.first() else {
        return other;
    };
    let first = first.to_ascii_uppercase();
    let account = Statement {
        kind: StatementKind::Account,
        schema: "mysql".into(),
    };
    let savepoint = Statement {
        kind: StatementKind::Savepoint,
        schema: default.to_string(),
    };
    match first.as_str() {
        "SAVEPOINT" => return savepoint,
        "ROLLBACK" if w(1, "TO") || w(1, "WORK") && w(2, "TO") => return savepoint,
        "RELEASE" if w(1, "SAVEPOINT") => return savepoint,
        "GRANT" | "REVOKE" => return account,
        "SET" if w(1, "PASSWORD") || w(1, "DEFAULT") && w(2, "ROLE") => return account,
        "RENAME" if w(1, "USER") => return account,
        "FLUSH" if w(1, "PRIVILEGES") => return account,
        "RENAME" | "TRUNCATE" => {
            let mut i = 1;
            if w(i, "TABLE") || w(i, "TABLES") {
                i += 1;
            }
            return Statement {
                kind: StatementKind::Ddl,
                schema: object_schema(&toks, i, default),
            };
        }
        "CREATE" | "ALTER" | "DROP" => {}
        "INSERT" | "UPDATE" | "DELETE" | "REPLACE" | "LOAD" => {
            return Statement {
                kind: StatementKind::Dml,
                schema: default.to_string(),
            }
        }
        _ => return other,
    }
    // Skip modifiers up to the object keyword.
    let mut i = 1;
    while let Some(t) = toks.get(i) {
        let u = t.to_ascii_uppercase();
        match u.as_str() {
            "OR" | "REPLACE" | "TEMPORARY" | "ONLINE" | "OFFLINE" | "IGNORE" | "UNIQUE"
            | "FULLTEXT" | "SPATIAL" | "AGGREGATE" | "ALGORITHM" | "MERGE" | "TEMPTABLE"
            | "UNDEFINED" | "SQL" | "SECURITY" | "INVOKER" | "NONBLOCKING" | "=" => i += 1,
            "DEFINER" => {
                // DEFINER = user@host | CURRENT_USER[()]
                i += 2;
                while let Some(t) = toks.get(i) {
                    if t == "@" || t == "(" || t == ")" || t.starts_with('\'') {
                        i += 1;
                    } else if toks.get(i + 1).is_some_and(|n| n == "@") {
                        i += 2;
                    } else {
                        break;
                    }
                }
                if toks.get(i).is_some_and(|t| t.starts_with('`') || t == "'") {
                    i += 1;
                }
            }
            _ => break,
        }
    }
    let obj = toks
        .get(i)
        .map(|t| t.to_ascii_uppercase())
        .unwrap_or_default();
    i += 1;
    // IF [NOT] EXISTS
    if w(i, "IF") {
        i += 1;
        if w(i, "NOT") {
            i += 1;
        }
        i += 1;
    }
    match obj.as_str() {
        "USER" | "ROLE" | "SERVER" => account,
        "DATABASE" | "SCHEMA" => Statement {
            kind: StatementKind::Ddl,
            schema: toks.get(i).map(|t| ident(t)).unwrap_or_default(),
        },
        "INDEX" | "KEY" => {
            // CREATE INDEX name ON tbl / DROP INDEX name ON tbl
            let on = (i..toks.len()).find(|&j| w(j, "ON"));
            Statement {
                kind: StatementKind::Ddl,
                schema: on.map_or(default.to_string(), |j| {
                    object_schema(&toks, j + 1, default)
                }),
            }
        }
        "TRIGGER" | "EVENT" => Statement {
            kind: StatementKind::MasterOnly,
            schema: object_schema(&toks, i, default),
        },
        "TABLE" | "VIEW" | "PROCEDURE" | "FUNCTION" | "SEQUENCE" | "PACKAGE" => Statement {
            kind: StatementKind::Ddl,
            schema: object_schema(&toks, i, default),
        },
        _ => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nondeterministic_column_defaults_are_found() {
        let f = adds_a_column_with_nondeterministic_default;
        assert_eq!(
            f("ALTER TABLE t ADD COLUMN u CHAR(36) DEFAULT (UUID())"),
            Some("UUID()")
        );
        assert_eq!(
            f("alter table t add r double default (rand( ))"),
            Some("RAND()")
        );
        assert_eq!(
            f("ALTER ONLINE TABLE t ADD s DATETIME DEFAULT (SYSDATE())"),
            Some("SYSDATE(")
        );
        assert_eq!(
            f("ALTER TABLE t ADD ts TIMESTAMP DEFAULT CURRENT_TIMESTAMP"),
            None
        );
        assert_eq!(f("CREATE TABLE t (u CHAR(36) DEFAULT (UUID()))"), None);
        assert_eq!(f("ALTER TABLE t DROP COLUMN u"), None);
    }

    fn schema(sql: &str, default: &str) -> (StatementKind, String) {
        let s = classify(sql, default);
        (s.kind, s.schema)
    }

    #[test]
    fn finds_the_changed_schema() {
        use StatementKind::*;
        assert_eq!(schema("CREATE DATABASE shop", "shop"), (Ddl, "shop".into()));
        assert_eq!(
            schema("create schema if not exists `we``ird`", ""),
            (Ddl, "we`ird".into())
        );
        assert_eq!(
            schema("CREATE TABLE t (id int)", "MOST"),
            (Ddl, "MOST".into())
        );
        assert_eq!(
            schema("CREATE TABLE other.t (id int)", "MOST"),
            (Ddl, "other".into())
        );
        assert_eq!(
            schema("DROP TABLE IF EXISTS `x`.`y` /* generated by server */", ""),
            (Ddl, "x".into())
        );
        assert_eq!(
            schema("ALTER ONLINE TABLE MOST.t ADD c INT", ""),
            (Ddl, "MOST".into())
        );
        assert_eq!(
            schema(
                "CREATE DEFINER=`root`@`localhost` PROCEDURE p() SELECT 1",
                "MOST"
            ),
            (Ddl, "MOST".into())
        );
        assert_eq!(
            schema(
                "CREATE OR REPLACE ALGORITHM=MERGE VIEW v2.v AS SELECT 1",
                "MOST"
            ),
            (Ddl, "v2".into())
        );
        assert_eq!(
            schema("CREATE UNIQUE INDEX i ON s.t (a)", "MOST"),
            (Ddl, "s".into())
        );
        assert_eq!(
            schema("/* c */ TRUNCATE TABLE t", "MOST"),
            (Ddl, "MOST".into())
        );
        assert_eq!(schema("RENAME TABLE a.t TO a.u", ""), (Ddl, "a".into()));
        assert_eq!(schema("CREATE USER 'x'@'%'", "MOST").0, Account);
        assert_eq!(schema("GRANT ALL ON *.* TO x", "MOST").0, Account);
        assert_eq!(schema("DROP ROLE r", "").0, Account);
        assert_eq!(
            schema(
                "CREATE DEFINER=`root`@`%` TRIGGER t AFTER INSERT ON p FOR EACH ROW SET @a=1",
                "MOST"
            ),
            (MasterOnly, "MOST".into())
        );
        assert_eq!(schema("DROP TRIGGER IF EXISTS MOST.t", "").0, MasterOnly);
        assert_eq!(
            schema(
                "CREATE DEFINER=`root`@`localhost` EVENT MOST.tick ON SCHEDULE EVERY 1 MINUTE \
                 DO INSERT INTO MOST.log VALUES (NOW())",
                ""
            ),
            (MasterOnly, "MOST".into())
        );
        assert_eq!(schema("ALTER EVENT tick DISABLE", "MOST").0, MasterOnly);
        for sp in [
            "SAVEPOINT `s1`",
            "ROLLBACK TO `s1`",
            "rollback work to savepoint s1",
            "RELEASE SAVEPOINT s1",
        ] {
            assert_eq!(schema(sp, "").0, Savepoint, "{sp}");
        }
        assert_eq!(schema("ROLLBACK", "").0, Other);
        assert_eq!(schema("FLUSH PRIVILEGES", "MOST").0, Account);
        assert_eq!(schema("FLUSH TABLES", "MOST").0, Other);
        assert_eq!(schema("DROP EVENT IF EXISTS MOST.tick", "").0, MasterOnly);
    }
}
