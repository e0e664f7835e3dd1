//! Startup checks: is the local MariaDB configured as starsync needs?
//!
//! Replication is only exact when every node logs full row images with full metadata under strict
//! GTIDs, and when the replication account may do what the replicator does (read the binlog, apply
//! with the origin's GTID, apply echoes without binlogging, reset GTID state for a snapshot). Each
//! failed check names the setting, the expected and the actual value and the exact fix, either a
//! `my.cnf` line or a `GRANT`. Hub and agent refuse to start unless every check holds.

use std::collections::BTreeSet;
use std::fmt;

use mysql_async::prelude::*;

use crate::config::NodeConfig;
use crate::error::{Error, Result};

/// Global privileges the replication account needs, with why.
pub const REQUIRED_PRIVILEGES: &[(&str, &str)] = &[
    (
        "SELECT",
        "read rows for snapshots, verification and conflict detection",
    ),
    ("INSERT", "apply row changes"),
    ("UPDATE", "apply row changes"),
    ("DELETE", "apply row changes"),
    ("CREATE", "apply CREATE DATABASE/TABLE from the master"),
    ("DROP", "apply DROP DATABASE/TABLE from the master"),
    ("ALTER", "apply ALTER TABLE from the master"),
    ("INDEX", "apply CREATE/DROP INDEX from the master"),
    ("REFERENCES", "create tables with foreign keys"),
    ("CREATE VIEW", "replicate views"),
    ("SHOW VIEW", "snapshot views"),
    ("TRIGGER", "replicate triggers"),
    ("CREATE ROUTINE", "replicate stored routines"),
    ("ALTER ROUTINE", "replicate stored routines"),
    ("RELOAD", "RESET MASTER when a new snap loads its snapshot"),
    (
        "REPLICATION SLAVE",
        "read the binlog over the replication protocol",
    ),
    ("BINLOG MONITOR", "read binlog positions and GTID state"),
    (
        "BINLOG REPLAY",
        "apply with the origin's server_id, gtid_domain_id and gtid_seq_no",
    ),
    (
        "BINLOG ADMIN",
        "apply echoes and snapshots with sql_log_bin=0",
    ),
    (
        "REPLICATION MASTER ADMIN",
        "set gtid_binlog_state after a snapshot load",
    ),
    (
        "SET USER",
        "create views and routines with their original DEFINER",
    ),
    (
        "READ_ONLY ADMIN",
        "hold local writes off (read_only) while a snap loads a snapshot, and write meanwhile",
    ),
];

/// Privileges that `SUPER` also grants in MariaDB 10.11.
const SUPER_COVERS: &[&str] = &[
    "BINLOG REPLAY",
    "BINLOG ADMIN",
    "REPLICATION MASTER ADMIN",
    "SET USER",
    "BINLOG MONITOR",
];

/// One failed check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The setting or privilege.
    pub setting: String,
    pub expected: String,
    pub actual: String,
    /// What to do, verbatim (a my.cnf line or a GRANT statement).
    pub fix: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "  - {}: expected {}, found {}\n    fix: {}",
            self.setting, self.expected, self.actual, self.fix
        )
    }
}

/// What the server reported, for the success message.
#[derive(Debug, Clone, Default)]
pub struct ServerFacts {
    pub version: String,
    pub server_id: u32,
    pub domain_id: u32,
    pub user: String,
    pub gtid_binlog_pos: String,
    /// The largest statement or row this server takes; a row bigger than some node's cannot be
    /// applied there (compared by the hub).
    pub max_allowed_packet: u64,
}

/// Server settings that change what the master's DDL makes of a table: a snap needs the
/// master's (name, what goes wrong otherwise). The hub sends the master's in its welcome.
pub const SCHEMA_SETTINGS: [(&str, &str); 3] = [
    (
        "lower_case_table_names",
        "table names are stored in another case there, and rows of a table miss it on the other \
         side",
    ),
    (
        "explicit_defaults_for_timestamp",
        "a TIMESTAMP column declared without NULL or DEFAULT gets other defaults there (NOT \
         NULL, the current time)",
    ),
    (
        "default_storage_engine",
        "a table created without ENGINE gets another engine there (a non-transactional one \
         cannot roll back a statement that fails half-way, nor lock the rows it compares)",
    ),
];

/// This server's [`SCHEMA_SETTINGS`], as (name, value).
pub async fn schema_settings(conn: &mut mysql_async::Conn) -> Result<Vec<(String, String)>> {
    let row: Option<(String, String, String)> = conn
        .query_first(
            "SELECT CAST(@@lower_case_table_names AS CHAR), \
             CAST(@@explicit_defaults_for_timestamp AS CHAR), @@default_storage_engine",
        )
        .await
        .map_err(Error::db("reading the server's schema settings"))?;
    let (a, b, c) = row.unwrap_or_default();
    Ok(SCHEMA_SETTINGS
        .iter()
        .map(|(n, _)| n.to_string())
        .zip([a, b, c])
        .collect())
}

/// What differs between a snap's [`SCHEMA_SETTINGS`] and the master's, a sentence each.
pub fn schema_mismatches(snap: &[(String, String)], master: &[(String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (name, why) in SCHEMA_SETTINGS {
        let get = |v: &[(String, String)]| v.iter().find(|(n, _)| n == name).map(|x| x.1.clone());
        if let (Some(here), Some(there)) = (get(snap), get(master)) {
            if !here.eq_ignore_ascii_case(&there) {
                out.push(format!(
                    "{name} is {here} here and {there} on the master: {why}"
                ));
            }
        }
    }
    out
}

/// Runs every check against the server behind `conn`. `node` is the configured identity.
pub async fn check_server(
    conn: &mut mysql_async::Conn,
    node: &NodeConfig,
) -> Result<(ServerFacts, Vec<Finding>)> {
    let row: Option<mysql_async::Row> = conn
        .query_first(
            "SELECT @@version, @@log_bin, @@binlog_format, @@binlog_row_image, \
             @@binlog_row_metadata, @@gtid_strict_mode, @@server_id, @@gtid_domain_id, \
             CURRENT_USER(), @@gtid_binlog_pos, @@log_bin_trust_function_creators, \
             @@max_allowed_packet",
        )
        .await
        .map_err(Error::db("reading server settings"))?;
    let row = row.expect("SELECT of variables returns a row");
    let get = |i: usize| -> String {
        row.get_opt::<String, _>(i)
            .and_then(|r| r.ok())
            .unwrap_or_default()
    };
    let facts = ServerFacts {
        version: get(0),
        server_id: get(6).parse().unwrap_or(0),
        domain_id: get(7).parse().unwrap_or(0),
        user: get(8),
        gtid_binlog_pos: get(9),
        max_allowed_packet: get(11).parse().unwrap_or(0),
    };
    let mut findings = Vec::new();
    let mut expect = |setting: &str, actual: String, expected: &str, fix: String| {
        if !actual.eq_ignore_ascii_case(expected) {
            findings.push(Finding {
                setting: setting.into(),
                expected: expected.into(),
                actual,
                fix,
            });
        }
    };

    if !facts.version.to_ascii_lowercase().contains("mariadb") {
        expect(
            "server",
            facts.version.clone(),
            "MariaDB 10.5 or newer",
            "starsync replicates MariaDB only (it relies on MariaDB GTIDs); install mariadb-server"
                .into(),
        );
    }
    let cnf = |line: &str| format!("add `{line}` under [mariadbd] in my.cnf and restart MariaDB");
    let cnf_online = |line: &str, var: &str, val: &str| {
        format!(
            "add `{line}` under [mariadbd] in my.cnf (and `SET GLOBAL {var}={val};` to apply it \
             now, then reconnect clients)"
        )
    };
    expect(
        "log_bin",
        on_off(&get(1)),
        "ON",
        cnf("log_bin = mariadb-bin"),
    );
    expect(
        "binlog_format",
        get(2),
        "ROW",
        cnf_online("binlog_format = ROW", "binlog_format", "'ROW'"),
    );
    expect(
        "binlog_row_image",
        get(3),
        "FULL",
        cnf_online("binlog_row_image = FULL", "binlog_row_image", "'FULL'"),
    );
    expect(
        "binlog_row_metadata",
        get(4),
        "FULL",
        cnf_online(
            "binlog_row_metadata = FULL",
            "binlog_row_metadata",
            "'FULL'",
        ),
    );
    expect(
        "gtid_strict_mode",
        on_off(&get(5)),
        "ON",
        cnf_online("gtid_strict_mode = ON", "gtid_strict_mode", "ON"),
    );
    // Triggers and stored functions from the master are applied by the replication account,
    // which has no SUPER: with binlogging on, MariaDB refuses them (ERROR 1419) unless trusted.
    // Row-based binlogs make that safe.
    expect(
        "log_bin_trust_function_creators",
        on_off(&get(10)),
        "ON",
        cnf_online(
            "log_bin_trust_function_creators = ON",
            "log_bin_trust_function_creators",
            "ON",
        ),
    );
    expect(
        "server_id",
        facts.server_id.to_string(),
        &node.server_id.to_string(),
        format!(
            "node.server_id in the config says {}; make them equal: `server_id = {}` under \
             [mariadbd] in my.cnf, or fix the config. Every node needs its own server_id",
            node.server_id, node.server_id
        ),
    );
    expect(
        "gtid_domain_id",
        facts.domain_id.to_string(),
        &node.domain_id.to_string(),
        format!(
            "node.domain_id in the config says {}; make them equal: `gtid_domain_id = {}` under \
             [mariadbd] in my.cnf, or fix the config. Every node needs its own domain",
            node.domain_id, node.domain_id
        ),
    );

    let have = account_privileges(conn).await?;
    let has_super = have.contains("SUPER");
    let missing: Vec<&str> = REQUIRED_PRIVILEGES
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| !(have.contains(*p) || (has_super && SUPER_COVERS.contains(p))))
        .collect();
    if !missing.is_empty() {
        let account = grant_target(&facts.user);
        findings.push(Finding {
            setting: format!("privileges of {}", facts.user),
            expected: REQUIRED_PRIVILEGES
                .iter()
                .map(|(p, _)| *p)
                .collect::<Vec<_>>()
                .join(", "),
            actual: format!("missing {}", missing.join(", ")),
            fix: format!("GRANT {} ON *.* TO {account};", missing.join(", ")),
        });
    }
    Ok((facts, findings))
}

/// Formats findings as one block for an error or the terminal.
pub fn render(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| f.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Fails with [`Error::Misconfigured`] unless every check holds.
pub async fn ensure_server_ready(
    conn: &mut mysql_async::Conn,
    node: &NodeConfig,
    address: &str,
) -> Result<ServerFacts> {
    let (facts, findings) = check_server(conn, node).await?;
    if findings.is_empty() {
        Ok(facts)
    } else {
        Err(Error::Misconfigured {
            address: address.into(),
            findings: render(&findings),
        })
    }
}

/// A service's start: connects to its server, refuses to go on unless every check holds,
/// creates starsync's own tables, and returns the connection, the server's facts and its position.
pub async fn connect_checked(
    db: &crate::config::MariaDbConfig,
    node: &NodeConfig,
    what: &str,
) -> Result<(mysql_async::Conn, ServerFacts, crate::gtid::GtidPos)> {
    let address = db.address();
    let mut conn = mysql_async::Conn::new(db.opts())
        .await
        .map_err(Error::db(format!("connecting to the {what} at {address}")))?;
    let facts = ensure_server_ready(&mut conn, node, &address).await?;
    crate::apply::ensure_state_schema(&mut conn).await?;
    let pos = crate::apply::gtid_binlog_pos(&mut conn).await?;
    Ok((conn, facts, pos))
}

fn on_off(v: &str) -> String {
    match v {
        "1" => "ON".into(),
        "0" => "OFF".into(),
        other => other.into(),
    }
}

/// `user@host` as returned by CURRENT_USER(), quoted for a GRANT.
fn grant_target(current_user: &str) -> String {
    match current_user.rsplit_once('@') {
        Some((u, h)) => format!("'{u}'@'{h}'"),
        None => format!("'{current_user}'"),
    }
}

/// Global privileges of the connected account, from information_schema.
async fn account_privileges(conn: &mut mysql_async::Conn) -> Result<BTreeSet<String>> {
    let privs: Vec<String> = conn
        .query(
            "SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES \
             WHERE GRANTEE = CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', \
             SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')",
        )
        .await
        .map_err(Error::db("reading the account's privileges"))?;
    Ok(privs.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_mismatches_name_the_setting_and_both_values() {
        let v = |a: &str, b: &str, c: &str| {
            SCHEMA_SETTINGS
                .iter()
                .map(|(n, _)| n.to_string())
                .zip([a, b, c].map(String::from))
                .collect::<Vec<_>>()
        };
        assert!(schema_mismatches(&v("0", "1", "InnoDB"), &v("0", "1", "innodb")).is_empty());
        let m = schema_mismatches(&v("1", "0", "InnoDB"), &v("0", "1", "InnoDB"));
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(m[0].starts_with("lower_case_table_names is 1 here and 0 on the master"));
        assert!(m[1].starts_with("explicit_defaults_for_timestamp is 0 here and 1 on the master"));
        // An older hub sends none: nothing to compare.
        assert!(schema_mismatches(&v("1", "0", "Aria"), &[]).is_empty());
    }

    #[test]
    fn grant_target_quotes() {
        assert_eq!(grant_target("repl@%"), "'repl'@'%'");
        assert_eq!(grant_target("a@b@localhost"), "'a@b'@'localhost'");
    }

    #[test]
    fn finding_renders_all_parts() {
        let f = Finding {
            setting: "binlog_format".into(),
            expected: "ROW".into(),
            actual: "STATEMENT".into(),
            fix: "add `binlog_format = ROW`".into(),
        };
        let s = f.to_string();
        assert!(s.contains("binlog_format") && s.contains("ROW") && s.contains("STATEMENT"));
    }
}
