//! The binlog files a server keeps, each with the GTID state at its start (its `Gtid_list`
//! event): what `master-admin purge-binlogs` plans with, and how an agent tells that its own
//! unshipped transactions were purged (the oldest file starts past them).

use mysql_async::prelude::*;

use crate::error::{Error, Result};
use crate::gtid::GtidPos;

/// One binlog file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinlogFile {
    pub name: String,
    pub size: u64,
    /// The GTID state at its start.
    pub start: GtidPos,
}

/// The server's binlog files, oldest first.
pub async fn list(conn: &mut mysql_async::Conn) -> Result<Vec<BinlogFile>> {
    let rows: Vec<mysql_async::Row> = conn
        .query("SHOW BINARY LOGS")
        .await
        .map_err(Error::db("listing the binary logs (SHOW BINARY LOGS)"))?;
    let mut out = Vec::new();
    for row in rows {
        let name: String = row.get(0).unwrap_or_default();
        let size: u64 = row.get(1).unwrap_or_default();
        let start = start_of(conn, &name).await?;
        out.push(BinlogFile { name, size, start });
    }
    Ok(out)
}

/// The GTID state at the start of the server's oldest binlog file: a domain's transactions up
/// to its seq there are gone from the binlog.
pub async fn oldest_start(conn: &mut mysql_async::Conn) -> Result<GtidPos> {
    let first: Option<mysql_async::Row> = conn
        .query_first("SHOW BINARY LOGS")
        .await
        .map_err(Error::db("listing the binary logs (SHOW BINARY LOGS)"))?;
    match first.and_then(|r| r.get::<String, _>(0)) {
        Some(name) => start_of(conn, &name).await,
        None => Ok(GtidPos::new()),
    }
}

async fn start_of(conn: &mut mysql_async::Conn, name: &str) -> Result<GtidPos> {
    let events: Vec<mysql_async::Row> = conn
        .query(format!(
            "SHOW BINLOG EVENTS IN '{}' LIMIT 4",
            name.replace('\'', "''")
        ))
        .await
        .map_err(Error::db(format!("reading the start of {name}")))?;
    let list = events.iter().find_map(|e| {
        let kind: String = e.get(2)?;
        (kind == "Gtid_list").then(|| e.get::<String, _>(5))?
    });
    let unreadable = |problem: String| Error::Decode {
        position: name.to_string(),
        what: "Gtid_list".into(),
        problem,
    };
    let list = list.ok_or_else(|| {
        unreadable("no Gtid_list event at its start; is this a MariaDB binlog?".into())
    })?;
    let text = list.trim().trim_start_matches('[').trim_end_matches(']');
    text.parse()
        .map_err(|e| unreadable(format!("the GTID list {text:?} cannot be read: {e}")))
}

/// The server's current binlog file, by number (`mysql-bin.000042`: 42), and position in it.
/// Both only grow, file by file, until the binlog is reset (RESET MASTER).
pub async fn current_file(conn: &mut mysql_async::Conn) -> Result<Option<(u64, u64)>> {
    let row: Option<mysql_async::Row> =
        conn.query_first("SHOW MASTER STATUS")
            .await
            .map_err(Error::db(
                "reading the current binlog file (SHOW MASTER STATUS)",
            ))?;
    Ok(row.and_then(|r| {
        let name: String = r.get(0)?;
        let pos: u64 = r.get(1)?;
        Some((file_no(&name)?, pos))
    }))
}

/// The number at the end of a binlog file name.
pub fn file_no(name: &str) -> Option<u64> {
    name.rsplit('.').next()?.parse().ok()
}

/// What `starsync.binlog_seen` holds: the binlog file number last seen, and a reset seen.
pub async fn seen(conn: &mut mysql_async::Conn) -> Result<(Option<u64>, Option<String>)> {
    let row: Option<(u64, Option<String>)> = conn
        .query_first("SELECT file_no, reset_seen FROM starsync.binlog_seen WHERE id = 1")
        .await
        .map_err(Error::db("reading starsync.binlog_seen"))?;
    Ok(row.map_or((None, None), |(n, r)| (Some(n), r)))
}

/// Records the binlog file number seen and whether a reset was seen (`None` clears it),
/// without binlogging it (the session binlogs again afterwards).
pub async fn record_seen(
    conn: &mut mysql_async::Conn,
    file_no: u64,
    reset_seen: Option<&str>,
) -> Result<()> {
    let what = "recording the binlog state seen in starsync.binlog_seen";
    conn.query_drop("SET SESSION sql_log_bin = 0")
        .await
        .map_err(Error::db(what))?;
    conn.exec_drop(
        "INSERT INTO starsync.binlog_seen (id, file_no, reset_seen) VALUES (1, ?, ?) \
         ON DUPLICATE KEY UPDATE file_no = VALUES(file_no), reset_seen = VALUES(reset_seen), \
         updated_at = NOW(6)",
        (file_no, reset_seen),
    )
    .await
    .map_err(Error::db(what))?;
    conn.query_drop("SET SESSION sql_log_bin = 1")
        .await
        .map_err(Error::db(what))
}
