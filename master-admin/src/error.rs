//! master-admin's error type, and the exit code of each error.
//!
//! Every error says what to do next: an unreachable hub names its address and where to look, a
//! refused connection names the server and account, a missing tool names the package. Errors are
//! either **transient** (the hub or the database does not answer: try again later, and `status
//! --watch` keeps trying) or **definite** (bad input, a refusal, a failed statement: retrying the
//! same command gives the same answer); [`Error::is_transient`] says which.

use std::path::PathBuf;

use crate::config::ConfigError;

/// Exit code: everything is fine.
pub const EXIT_OK: u8 = 0;
/// Exit code: a check found a problem (a node disconnected or lagging, tables that differ).
pub const EXIT_PROBLEM: u8 = 1;
/// Exit code: bad usage or configuration (flags, config file, names, a table without key).
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the hub's HTTP endpoint does not answer, or answers with an error.
pub const EXIT_HUB: u8 = 3;
/// Exit code: the database cannot be reached, or a statement failed.
pub const EXIT_DB: u8 = 4;
/// Exit code: refused (not the master, a system schema, not confirmed).
pub const EXIT_REFUSED: u8 = 5;
/// Exit code: the export failed (`mariadb-dump` missing or failing, the file not writable).
pub const EXIT_EXPORT: u8 = 6;

/// Everything that can go wrong in master-admin.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// Input that cannot be used (a malformed name, a column definition, a missing key).
    #[error("{0}")]
    Usage(String),

    #[error(
        "the hub at {addr} does not answer ({cause}). Is it running and is this its address? \
         Check `systemctl status starsync-hub` and the setting `hub.http_listen` of the hub's \
         config, then pass that address with --hub HOST:PORT (or `hub` in the config file)"
    )]
    HubUnreachable { addr: String, cause: std::io::Error },

    #[error("the hub at {addr} answered {path} with HTTP {status}: {body}")]
    HubStatus {
        addr: String,
        path: &'static str,
        status: u16,
        body: String,
    },

    #[error("the hub at {addr} sent a {path} document that cannot be read: {problem}")]
    HubDecode {
        addr: String,
        path: &'static str,
        problem: String,
    },

    #[error(
        "cannot connect to MariaDB at {address} as {user}: {cause}. Check --host/--port \
         (or --socket), --user and the password (MASTER_ADMIN_PASSWORD or --password-file)"
    )]
    Connect {
        address: String,
        user: String,
        cause: DbCause,
    },

    #[error("{what} on {address}: {cause}")]
    Db {
        what: String,
        address: String,
        cause: DbCause,
    },

    /// The database is there but the object is not (or is of the wrong kind).
    #[error("{0}")]
    NotFound(String),

    /// master-admin will not do it: not the master, a system schema, not confirmed.
    #[error("refused: {0}")]
    Refused(String),

    #[error(
        "`{program}` was not found on PATH: install the MariaDB client tools \
         (`apt-get install mariadb-client`) or put mariadb-dump on PATH"
    )]
    DumpMissing { program: String },

    #[error("mariadb-dump failed ({status}):\n{stderr}")]
    DumpFailed { status: String, stderr: String },

    #[error("{what} {path}: {cause}")]
    File {
        what: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },

    /// The dump was written but lacks something it must hold.
    #[error("{0}")]
    DumpIncomplete(String),
}

impl Error {
    /// The process exit code for this error (see the `EXIT_*` constants).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) | Error::Usage(_) => EXIT_USAGE,
            Error::HubUnreachable { .. } | Error::HubStatus { .. } | Error::HubDecode { .. } => {
                EXIT_HUB
            }
            Error::Connect { .. } | Error::Db { .. } | Error::NotFound(_) => EXIT_DB,
            Error::Refused(_) => EXIT_REFUSED,
            Error::DumpMissing { .. }
            | Error::DumpFailed { .. }
            | Error::File { .. }
            | Error::DumpIncomplete(_) => EXIT_EXPORT,
        }
    }

    /// Whether trying again later may succeed (the hub or the database did not answer).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::HubUnreachable { .. } | Error::Connect { .. } => true,
            Error::HubStatus { status, .. } => *status >= 500,
            Error::Db { cause, .. } => !matches!(cause.0, mysql_async::Error::Server(_)),
            _ => false,
        }
    }

    /// A server error's number (e.g. 1146 for a missing table), if this is one.
    pub fn server_code(&self) -> Option<u16> {
        match self {
            Error::Db {
                cause: DbCause(mysql_async::Error::Server(e)),
                ..
            } => Some(e.code),
            _ => None,
        }
    }
}

/// A database error, shown in plain words: the server's `ERROR code (state): message`, or the
/// network error itself without mysql_async's repeated wrappers.
#[derive(Debug)]
pub struct DbCause(pub mysql_async::Error);

impl From<mysql_async::Error> for DbCause {
    fn from(e: mysql_async::Error) -> Self {
        DbCause(e)
    }
}

impl std::fmt::Display for DbCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            mysql_async::Error::Server(e) => {
                write!(f, "ERROR {} ({}): {}", e.code, e.state, e.message)
            }
            mysql_async::Error::Io(mysql_async::IoError::Io(e)) => write!(f, "{e}"),
            mysql_async::Error::Driver(e) => write!(f, "{e}"),
            other => write!(f, "{other}"),
        }
    }
}

/// master-admin's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_unreachable_names_the_address_and_what_to_check() {
        let e = Error::HubUnreachable {
            addr: "10.0.0.5:4580".into(),
            cause: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        };
        let text = e.to_string();
        assert!(text.contains("10.0.0.5:4580"), "{text}");
        assert!(text.contains("systemctl status starsync-hub"), "{text}");
        assert!(text.contains("hub.http_listen"), "{text}");
        assert_eq!(e.exit_code(), EXIT_HUB);
        assert!(e.is_transient());
    }

    #[test]
    fn exit_codes_by_kind() {
        assert_eq!(Error::Usage("x".into()).exit_code(), EXIT_USAGE);
        assert_eq!(Error::Refused("x".into()).exit_code(), EXIT_REFUSED);
        assert_eq!(Error::NotFound("x".into()).exit_code(), EXIT_DB);
        let missing = Error::DumpMissing {
            program: "mariadb-dump".into(),
        };
        assert_eq!(missing.exit_code(), EXIT_EXPORT);
        assert!(missing
            .to_string()
            .contains("apt-get install mariadb-client"));
        assert!(!missing.is_transient());
    }
}
