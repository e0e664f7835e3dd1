//! The master's database: connecting, making sure it *is* the master, and asking the DBA to
//! confirm destructive statements.
//!
//! # Master only
//! DDL must be run on the master: the hub replicates the master's binlog to every snap, while
//! DDL run on a snap stays there (it is reported as drift). Before any DDL, master-admin compares
//! the connected server's `@@server_id` with the `hub.server_id` of the hub's `/status`. A
//! different id is refused. When the hub does not answer, the check cannot be made: master-admin
//! warns and goes on, so that the master can still be administered while the hub is down.

use std::io::{BufRead, Write};
use std::time::Duration;

use mysql_async::prelude::*;
use mysql_async::Conn;

use crate::config::{Settings, CONNECT_TIMEOUT};
use crate::error::{Error, Result};
use crate::hub::Hub;

/// How long the master check waits for the hub.
const HUB_CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// A connection to the master's database, with its address for messages.
pub struct Db {
    pub conn: Conn,
    pub address: String,
}

impl Db {
    /// Connects with the settings (within [`CONNECT_TIMEOUT`]).
    pub async fn connect(settings: &Settings) -> Result<Db> {
        let address = settings.address();
        let connect_err = |cause: mysql_async::Error| Error::Connect {
            address: address.clone(),
            user: settings.user.clone(),
            cause: cause.into(),
        };
        let conn = tokio::time::timeout(CONNECT_TIMEOUT, Conn::new(settings.opts()))
            .await
            .map_err(|_| {
                connect_err(mysql_async::Error::Io(mysql_async::IoError::Io(
                    std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no answer within {CONNECT_TIMEOUT:?}"),
                    ),
                )))
            })?
            .map_err(connect_err)?;
        Ok(Db { conn, address })
    }

    /// An error-mapping closure naming what was being done.
    pub fn err(&self, what: impl Into<String>) -> impl FnOnce(mysql_async::Error) -> Error {
        let what = what.into();
        let address = self.address.clone();
        move |cause| Error::Db {
            what,
            address,
            cause: cause.into(),
        }
    }

    /// Runs one statement.
    pub async fn exec(&mut self, what: &str, sql: &str) -> Result<()> {
        let err = self.err(what);
        self.conn.query_drop(sql).await.map_err(err)
    }

    /// Makes sure this server is the master the hub replicates from (see the module docs).
    /// Prints a warning to stderr when the hub cannot be asked.
    pub async fn ensure_master(&mut self, hub: &Hub) -> Result<()> {
        let err = self.err("reading @@server_id");
        let id: Option<u32> = self
            .conn
            .query_first("SELECT @@server_id")
            .await
            .map_err(err)?;
        let id = id.unwrap_or(0);
        match hub
            .get_doc::<crate::hub::StatusDoc>("/status", HUB_CHECK_TIMEOUT)
            .await
        {
            Ok((doc, _)) if doc.hub.server_id == id => Ok(()),
            Ok((doc, _)) => Err(Error::Refused(format!(
                "the server at {} has server_id {id}, but the hub at {} replicates from the \
                 master {:?} with server_id {}: run this against the master (--host/--port or \
                 --socket of the master's MariaDB)",
                self.address, hub.addr, doc.hub.node, doc.hub.server_id
            ))),
            Err(e) => {
                eprintln!(
                    "warning: cannot confirm that {} (server_id {id}) is the master: {e}. Going \
                     on; make sure this is the master, or DDL will not replicate.",
                    self.address
                );
                Ok(())
            }
        }
    }
}

/// Asks the DBA to type `expected` (any of `accepted`) to confirm; `Refused` otherwise.
///
/// `input` and `prompt` are stdin and stderr in production, buffers in tests. End of input
/// counts as "no".
pub fn confirm(
    what: &str,
    accepted: &[String],
    input: &mut dyn BufRead,
    prompt: &mut dyn Write,
) -> Result<()> {
    let expected = &accepted[0];
    let _ = write!(prompt, "{what}\nType {expected} to confirm: ");
    let _ = prompt.flush();
    let mut line = String::new();
    let read = input.read_line(&mut line).unwrap_or(0);
    let typed = line.trim_end_matches(['\r', '\n']).trim();
    if read > 0 && accepted.iter().any(|a| a == typed) {
        return Ok(());
    }
    let _ = writeln!(prompt);
    Err(Error::Refused(if read == 0 {
        format!("not confirmed (no input): type {expected} when asked, or pass --yes")
    } else {
        format!("not confirmed: {typed:?} is not {expected}; nothing was changed")
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(input: &str) -> Result<()> {
        let mut out = Vec::new();
        confirm(
            "This drops MOST.t.",
            &["MOST.t".into(), "`MOST`.`t`".into()],
            &mut input.as_bytes(),
            &mut out,
        )
    }

    #[test]
    fn confirmation_needs_the_exact_name() {
        ask("MOST.t\n").unwrap();
        ask("  `MOST`.`t`\r\n").unwrap();
        let e = ask("most.t\n").unwrap_err().to_string();
        assert!(e.contains("not confirmed") && e.contains("most.t"), "{e}");
        let e = ask("").unwrap_err().to_string();
        assert!(e.contains("--yes"), "{e}");
        assert!(matches!(ask("y\n"), Err(Error::Refused(_))));
    }
}
