//! The snap's side of a repair (see the module above for the steps and why).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use mysql_async::prelude::*;
use tracing::{info, warn};

use super::{RepairBegin, RepairEnd, RepairReport, WORK_SCHEMA, WORK_TABLE};
use crate::apply::sql::{columns_of_create_table, ident, primary_key_of_create_table, qualified};
use crate::apply::Applier;
use crate::error::{Error, Result};
use crate::gtid::GtidPos;
use crate::model::{RowsChunk, Value};
use crate::verify::definition_digest;

/// What a repair needs from the agent around it.
pub trait Hooks: Send + Sync {
    /// Resolves true once capture has read the snap's own transactions as far as `local` (its
    /// binlog position) holds them, false when it did not in reasonable time.
    fn captured(&self, local: GtidPos) -> BoxFuture<'static, bool>;
    /// The encoded primary keys of `table`'s rows (`schema.table`) with an own change in flight
    /// ([`crate::agent::inflight`]).
    fn in_flight(&self, table: &str) -> Vec<Vec<u8>>;
    /// Echoes of the own transactions recorded so far are to be written in full (the repair
    /// changed rows of `table` they might take as already held).
    fn touched(&self, table: &str);
    /// Where the repair is, for the agent's status (`None`: done).
    fn progress(&self, what: Option<String>);
}

/// The master's `CREATE TABLE` statement for the table named `quoted` instead (its foreign
/// keys kept: the session runs without their checks).
fn renamed(create: &str, quoted: &str) -> Option<String> {
    let rest = create.strip_prefix("CREATE TABLE `")?;
    let end = crate::apply::sql::quoted_name(rest).1;
    (end <= rest.len() && rest[..end].ends_with('`'))
        .then(|| format!("CREATE TABLE {quoted}{}", &rest[end..]))
}

/// `SELECT COUNT(*) …` on `c`, about table `q`.
async fn count_rows(c: &mut mysql_async::Conn, sql: String, q: &str) -> Result<u64> {
    let n: Option<u64> = c
        .query_first(sql)
        .await
        .map_err(Error::db(format!("comparing the rows of {q}")))?;
    Ok(n.unwrap_or(0))
}

/// The work table, quoted.
fn work_table() -> String {
    qualified(WORK_SCHEMA, WORK_TABLE)
}

/// How long the repair waits for capture to read the snap's binlog.
pub const CAPTURE_WAIT: Duration = Duration::from_secs(10);

/// A repair in progress on the snap: started at `RepairBegin`, fed the rows, finished at
/// `RepairEnd`. A failure at any step is kept and reported at the end (the rest of the rows
/// are then only counted); the agent's session goes on either way.
pub struct Repair {
    begin: RepairBegin,
    report: RepairReport,
    started: Instant,
    last_log: Instant,
    rows: u64,
    /// The open transaction, while rows are to be loaded.
    applier: Option<Applier>,
    failed: Option<String>,
}

impl Repair {
    /// Starts the repair: the work table made (like the table, or from the master's definition
    /// when the table's differs here) and a transaction opened to load it. The table itself is
    /// not touched until [`Repair::finish`]: a session that ends before leaves it as it was.
    pub async fn start(opts: &mysql_async::Opts, begin: RepairBegin, hooks: &dyn Hooks) -> Repair {
        let report = RepairReport {
            id: begin.id,
            table: format!("{}.{}", begin.schema, begin.table),
            master_pos: begin.pos.to_string(),
            dry_run: begin.dry_run,
            ..Default::default()
        };
        let mut r = Repair {
            begin,
            report,
            started: Instant::now(),
            last_log: Instant::now(),
            rows: 0,
            applier: None,
            failed: None,
        };
        info!(table = %r.report.table, position = %r.report.master_pos, dry_run = r.begin.dry_run,
              "repair: receiving the master's rows of a table");
        hooks.progress(Some(format!(
            "{}: receiving the master's rows",
            r.report.table
        )));
        match r.prepare(opts).await {
            Ok(applier) => r.applier = applier,
            Err(e) => r.failed = Some(e.to_string()),
        }
        r
    }

    async fn prepare(&mut self, opts: &mysql_async::Opts) -> Result<Option<Applier>> {
        let b = &self.begin;
        let q = qualified(&b.schema, &b.table);
        let mut applier = Applier::connect(opts, "local (repair)").await?;
        let c = applier.conn();
        c.query_drop(
            "SET SESSION sql_log_bin = 0, foreign_key_checks = 0, \
             tx_isolation = 'REPEATABLE-READ'",
        )
        .await
        .map_err(Error::db("preparing the repair session"))?;
        let shown: std::result::Result<Option<(String, String)>, _> =
            c.query_first(format!("SHOW CREATE TABLE {q}")).await;
        let local = match shown {
            Ok(row) => row.map(|(_, ddl)| ddl),
            Err(mysql_async::Error::Server(_)) => None,
            Err(e) => return Err(Error::db(format!("reading the definition of {q}"))(e)),
        };
        let differs = local.as_deref().map(definition_digest) != Some(definition_digest(&b.create));
        self.report.definition_differed = differs;
        if differs && b.dry_run {
            // Nothing to compare the rows with: they are counted only.
            return Ok(None);
        }
        // DDL, so before the transaction. Made from the master's definition when the table's
        // differs here (the table is made again from it at the end).
        let work = work_table();
        let create = if differs {
            renamed(&b.create, &work).ok_or_else(|| {
                Error::Request(format!(
                    "the master's definition of {q} does not start as SHOW CREATE TABLE prints \
                     it: {}",
                    b.create.lines().next().unwrap_or("")
                ))
            })?
        } else {
            format!("CREATE TABLE {work} LIKE {q}")
        };
        c.query_drop(format!("USE {}", ident(WORK_SCHEMA)))
            .await
            .map_err(Error::db("using the starsync schema"))?;
        for sql in [format!("DROP TABLE IF EXISTS {work}"), create] {
            c.query_drop(sql)
                .await
                .map_err(Error::db(format!("making the repair's work table for {q}")))?;
        }
        applier.begin_unlogged().await?;
        Ok(Some(applier))
    }

    /// Loads a chunk of the master's rows into the work table.
    pub async fn rows(&mut self, chunk: RowsChunk, hooks: &dyn Hooks) {
        self.rows += chunk.len() as u64;
        if self.last_log.elapsed() > Duration::from_secs(2) {
            self.last_log = Instant::now();
            info!(table = %self.report.table, rows = self.rows, "repair: loading the master's rows");
        }
        hooks.progress(Some(format!(
            "{}: {} of the master's rows received",
            self.report.table, self.rows
        )));
        if self.failed.is_some() {
            return;
        }
        let Some(applier) = self.applier.as_mut() else {
            return;
        };
        let mut meta = (*chunk.table).clone();
        meta.schema = WORK_SCHEMA.into();
        meta.table = WORK_TABLE.into();
        let chunk = RowsChunk {
            table: Arc::new(meta),
            ..chunk
        };
        if let Err(e) = applier.rows(&chunk, None).await {
            self.failed = Some(e.to_string());
        }
    }

    /// Compares, changes the table (unless dry) and reports.
    pub async fn finish(mut self, end: RepairEnd, hooks: &dyn Hooks) -> RepairReport {
        self.report.master_rows = end.rows;
        if self.failed.is_none() && end.rows != self.rows {
            self.failed = Some(format!(
                "the hub sent {} rows and {} arrived",
                end.rows, self.rows
            ));
        }
        if let Some(mut applier) = self.applier.take() {
            if self.failed.is_none() {
                hooks.progress(Some(format!(
                    "{}: comparing the snap's {} with the master's and rewriting them",
                    self.report.table,
                    if self.report.definition_differed {
                        "table (made again)"
                    } else {
                        "rows"
                    }
                )));
                if let Err(e) = self.sync(&mut applier, hooks).await {
                    self.failed = Some(e.to_string());
                }
            }
            applier.abort().await.ok();
            let drop = format!("DROP TABLE IF EXISTS {}", work_table());
            if let Err(e) = applier.conn().query_drop(drop).await {
                warn!(error = %e, table = %work_table(), "repair: cannot drop the work table");
            }
        }
        hooks.progress(None);
        let mut r = self.report;
        r.secs = self.started.elapsed().as_secs_f64();
        r.error = self.failed;
        match &r.error {
            None => info!(table = %r.table, dry_run = r.dry_run, master_rows = r.master_rows,
                          differed = r.differed, missing = r.missing, extra = r.extra,
                          in_flight = r.in_flight, recreated = r.recreated,
                          definition_differed = r.definition_differed, keyless = r.keyless,
                          secs = r.secs, "repair done"),
            Some(e) => warn!(table = %r.table, error = %e, recreated = r.recreated,
            "repair failed; the table is as it was{}",
            if r.recreated {
                " after being made again from the master's definition (its \
                 rows may be missing: repair it again)"
            } else {
                ""
            }),
        }
        r
    }

    async fn sync(&mut self, applier: &mut Applier, hooks: &dyn Hooks) -> Result<()> {
        applier.commit_unlogged(self.rows).await?; // the work table's rows
        let b = &self.begin;
        let q = qualified(&b.schema, &b.table);
        let c = applier.conn();
        if self.report.definition_differed {
            warn!(table = %q, "repair: the table's definition differs from the master's; it is \
                               made again from the master's and loaded with its rows");
            for (i, sql) in [
                format!("CREATE DATABASE IF NOT EXISTS {}", ident(&b.schema)),
                format!("USE {}", ident(&b.schema)),
                format!("DROP TABLE IF EXISTS {q}"),
                b.create.clone(),
            ]
            .into_iter()
            .enumerate()
            {
                // From the DROP on, the table is no longer as it was.
                self.report.recreated |= i >= 2;
                c.query_drop(sql.as_str()).await.map_err(Error::db(format!(
                    "making {q} again from the master's definition"
                )))?;
            }
        }
        applier.begin_unlogged().await?;
        let c = applier.conn();
        // Every row and gap of the table locked: local writers of it wait from here on.
        let _: Option<u64> = c
            .query_first(format!("SELECT COUNT(*) FROM {q} FOR UPDATE"))
            .await
            .map_err(Error::db(format!(
                "locking the rows of {q} (a local transaction holding them for longer than \
                 innodb_lock_wait_timeout makes the repair fail: try again)"
            )))?;
        // Every local change of the table committed before the lock is captured, so its keys
        // are in flight or its echo has been applied.
        let pos = crate::apply::gtid_binlog_pos(c).await?;
        if !hooks.captured(pos.clone()).await {
            return Err(Error::Request(format!(
                "capture has not read this snap's binlog up to {pos} within {} s; try the \
                 repair again",
                CAPTURE_WAIT.as_secs()
            )));
        }
        hooks.touched(&self.report.table);
        let tmp = work_table();
        let stored: Vec<String> = columns_of_create_table(&b.create)
            .into_iter()
            .filter(|c| !c.generated)
            .map(|c| ident(&c.name))
            .collect();
        let cols = stored.join(", ");
        let pk: Vec<String> = primary_key_of_create_table(&b.create)
            .iter()
            .map(|c| ident(c))
            .collect();
        let c = applier.conn();
        // A multi-table DELETE resolves its aliases in the default database.
        c.query_drop(format!("USE {}", ident(&b.schema)))
            .await
            .map_err(Error::db(format!("using database {}", b.schema)))?;
        let affected = |what: &'static str| {
            let q = q.clone();
            move |e| Error::db(format!("{what} {q}"))(e)
        };
        // Counted by reading first: a dry run changes nothing, whatever the table's engine.
        if pk.is_empty() {
            // No key to compare rows by: all of them replaced.
            self.report.keyless = true;
            self.report.extra = count_rows(c, format!("SELECT COUNT(*) FROM {q}"), &q).await?;
            self.report.missing = count_rows(c, format!("SELECT COUNT(*) FROM {tmp}"), &q).await?;
            if !b.dry_run {
                c.query_drop(format!("DELETE FROM {q}"))
                    .await
                    .map_err(affected("deleting the rows of"))?;
                c.query_drop(format!("INSERT INTO {q} ({cols}) SELECT {cols} FROM {tmp}"))
                    .await
                    .map_err(affected("inserting the master's rows into"))?;
            }
        } else {
            let key_eq = |a: &str, b: &str| {
                pk.iter()
                    .map(|k| format!("{a}.{k} = {b}.{k}"))
                    .collect::<Vec<_>>()
                    .join(" AND ")
            };
            // Rows with an own change in flight keep the snap's version (a table made again
            // has none left: their echoes bring the master's rows).
            let in_flight = if self.report.recreated {
                Vec::new()
            } else {
                hooks.in_flight(&self.report.table)
            };
            let by_key = pk
                .iter()
                .map(|k| format!("{k} = ?"))
                .collect::<Vec<_>>()
                .join(" AND ");
            for key in in_flight {
                let Ok(values) = rmp_serde::from_slice::<Vec<Value>>(&key) else {
                    continue;
                };
                if values.len() != pk.len() {
                    continue;
                }
                let params: Vec<mysql_async::Value> =
                    values.iter().map(crate::apply::values::param).collect();
                c.exec_drop(format!("DELETE FROM {tmp} WHERE {by_key}"), params.clone())
                    .await
                    .map_err(affected("keeping a row in flight of"))?;
                let master_had = c.affected_rows();
                c.exec_drop(
                    format!("INSERT INTO {tmp} ({cols}) SELECT {cols} FROM {q} WHERE {by_key}"),
                    params,
                )
                .await
                .map_err(affected("keeping a row in flight of"))?;
                if master_had + c.affected_rows() > 0 {
                    self.report.in_flight += 1;
                }
            }
            let same = stored
                .iter()
                .map(|k| format!("BINARY x.{k} <=> BINARY s.{k}"))
                .collect::<Vec<_>>()
                .join(" AND ");
            let not_in_work = |also: &str| {
                format!(
                    "FROM {q} AS x WHERE NOT EXISTS (SELECT 1 FROM {tmp} AS s WHERE {}{also})",
                    key_eq("s", "x")
                )
            };
            let extra = count_rows(c, format!("SELECT COUNT(*) {}", not_in_work("")), &q).await?;
            let wrong = count_rows(
                c,
                format!("SELECT COUNT(*) {}", not_in_work(&format!(" AND {same}"))),
                &q,
            )
            .await?;
            let masters_not_here = count_rows(
                c,
                format!(
                    "SELECT COUNT(*) FROM {tmp} AS s WHERE NOT EXISTS \
                     (SELECT 1 FROM {q} AS x WHERE {} AND {same})",
                    key_eq("x", "s")
                ),
                &q,
            )
            .await?;
            self.report.extra = extra;
            self.report.differed = wrong.saturating_sub(extra);
            self.report.missing = masters_not_here.saturating_sub(self.report.differed);
            if !b.dry_run && wrong + masters_not_here > 0 {
                // Rows not the master's go; the master's rows then missing come in.
                c.query_drop(format!("DELETE x {}", not_in_work(&format!(" AND {same}"))))
                    .await
                    .map_err(affected("deleting the rows that differ of"))?;
                c.query_drop(format!(
                    "DELETE s FROM {tmp} AS s WHERE EXISTS (SELECT 1 FROM {q} AS x WHERE {})",
                    key_eq("x", "s")
                ))
                .await
                .map_err(affected("comparing the rows of"))?;
                c.query_drop(format!("INSERT INTO {q} ({cols}) SELECT {cols} FROM {tmp}"))
                    .await
                    .map_err(affected("inserting the master's rows into"))?;
            }
        }
        if b.dry_run {
            applier.abort().await?;
        } else {
            applier.commit_unlogged(0).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_masters_definition_is_renamed_to_the_work_table() {
        let create = "CREATE TABLE `a``b` (\n  `id` int(11) NOT NULL,\n  PRIMARY KEY (`id`)\n) \
                      ENGINE=InnoDB";
        assert_eq!(
            renamed(create, "`starsync`.`repair_rows`").unwrap(),
            "CREATE TABLE `starsync`.`repair_rows` (\n  `id` int(11) NOT NULL,\n  PRIMARY KEY \
             (`id`)\n) ENGINE=InnoDB"
        );
        assert_eq!(renamed("CREATE TABLE `unclosed", "`x`"), None);
        assert_eq!(renamed("CREATE VIEW `v` AS SELECT 1", "`x`"), None);
    }
}
