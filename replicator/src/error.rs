//! The replicator's error type.
//!
//! Every error is either **transient** (the connection dropped, the server restarted: reconnect
//! with backoff and resume from the last complete transaction) or **definite** (the binlog
//! position is gone, the server is misconfigured, the data cannot be applied: stop that stream and
//! show the operator what to do). [`Error::is_transient`] says which.

use crate::config::ConfigError;
use crate::gtid::GtidPos;

/// Result alias of the replicator library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// A database call failed; `context` says what we were doing.
    #[error("{context}: {source}{}", packet_hint(.source))]
    Db {
        context: String,
        #[source]
        source: mysql_async::Error,
    },

    /// The server no longer holds the binlog we need (ERROR 1236).
    #[error(
        "the binlog position {position} is no longer available on {server}: {}. \
         The binlog files holding it were purged (or the server's GTID state was reset). \
         Re-create this node from a fresh snapshot (`replicator agent --resync`), \
         or raise `expire_logs_days`/`binlog_expire_logs_seconds` to keep binlogs longer",
        .message.trim_end_matches('.')
    )]
    BinlogPurged {
        position: GtidPos,
        server: String,
        message: String,
    },

    /// A snap's own transactions that the master does not have were purged from the snap's
    /// binlog (expiry while the hub was unreachable, or `PURGE BINARY LOGS`): they can never
    /// be shipped.
    #[error(
        "{node}'s own transactions {which} are no longer in its binlog ({}): they can \
         never reach the master, and what they changed is on {node} only. To make {node} \
         converge again, run `replicator agent --resync --discard-unshipped` on it: its \
         replicated databases are replaced with the master's and those changes are lost (save \
         what you need first, with mariadb-dump). Keep a snap's binlogs \
         (binlog_expire_logs_seconds) longer than its hub may be unreachable",
        .message.trim_end_matches('.')
    )]
    UnshippedPurged {
        node: String,
        /// `after 3-3-5`, or `from the first`.
        which: String,
        message: String,
    },

    /// The binlog stream held something we cannot decode: definite, carries where.
    #[error("cannot decode binlog event at {position} ({what}): {problem}")]
    Decode {
        position: String,
        what: String,
        problem: String,
    },

    /// A change could not be applied: definite, carries table and key.
    #[error("cannot apply {gtid} to {table} (key {key}): {problem}")]
    Apply {
        gtid: String,
        table: String,
        key: String,
        problem: String,
        /// The server's error code, when the server refused the change.
        code: Option<u16>,
    },

    /// The local server is not configured as the design requires.
    #[error("the MariaDB server at {address} is not configured for starsync:\n{findings}")]
    Misconfigured { address: String, findings: String },

    /// The hub refused this agent (wrong secret, version, identity clash).
    #[error("the hub at {hub} refused this agent: {reason}")]
    Refused { hub: String, reason: String },

    /// The hub ended this agent's session and said why (its own database failed, for one).
    #[error("the hub at {hub} ended the session: {reason}")]
    HubEnded { hub: String, reason: String },

    /// The peer went silent (hung, or the network path to it dropped).
    #[error("{peer}: {problem}")]
    Silent { peer: String, problem: String },

    /// The snap's binlog no longer matches what capture read (its binlog state went back:
    /// RESET MASTER on the snap), or its stream stopped delivering what the server holds. The
    /// session starts again; the checks at connect decide whether capture can go on.
    #[error("capture of {node}'s binlog: {problem}")]
    CaptureStalled { node: String, problem: String },

    /// The peer broke the wire protocol.
    #[error("protocol error with {peer}: {problem}")]
    Protocol { peer: String, problem: String },

    /// Network I/O failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// A snapshot load that is redone: the snap changed under it.
    #[error("the snapshot load is redone: {reason}")]
    LoadAgain { reason: String },

    /// An operator's request that cannot be done as asked (a table that does not exist, a snap
    /// that is not connected); the message says what to ask instead.
    #[error("{0}")]
    Request(String),

    /// The operation was cancelled by shutdown.
    #[error("shutting down")]
    Shutdown,
}

impl Error {
    /// Wraps a database error with what we were doing.
    pub fn db(context: impl Into<String>) -> impl FnOnce(mysql_async::Error) -> Error {
        let context = context.into();
        move |source| Error::Db { context, source }
    }

    /// Wraps an I/O error with what we were doing.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }

    /// Whether retrying after a reconnect may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Db { source, .. } => db_error_is_transient(source),
            Error::Io { .. } => true,
            Error::Protocol { .. } => true,
            // A silent peer, or a hub that ended the session for a reason of its own (its
            // database down, for one): the next session may well work.
            Error::Silent { .. } | Error::HubEnded { .. } => true,
            Error::LoadAgain { .. } | Error::CaptureStalled { .. } => true,
            _ => false,
        }
    }

    /// The MariaDB error code, when this is a server error.
    pub fn server_code(&self) -> Option<u16> {
        match self {
            Error::Db {
                source: mysql_async::Error::Server(e),
                ..
            } => Some(e.code),
            _ => None,
        }
    }
}

/// Whether a server error code is a foreign key refusing a row (ER_ROW_IS_REFERENCED_2: a
/// parent row still referred to; ER_NO_REFERENCED_ROW_2: a child row without its parent).
pub fn is_foreign_key_error(code: u16) -> bool {
    matches!(code, 1451 | 1452)
}

/// What to do when a statement did not fit the server's `max_allowed_packet` (a row the origin
/// accepted is bigger than this server takes): retrying cannot help until the DBA raises it.
fn packet_hint(e: &mysql_async::Error) -> &'static str {
    let too_large = match e {
        // ER_NET_PACKET_TOO_LARGE, ER_WARN_ALLOWED_PACKET_OVERFLOWED
        mysql_async::Error::Server(s) => matches!(s.code, 1153 | 1301),
        mysql_async::Error::Driver(mysql_async::DriverError::PacketTooLarge) => true,
        // The codec's and the bulk-execute encoder's refusals (the client knows the server's
        // limit and does not send).
        other => {
            let text = other.to_string().to_lowercase();
            text.contains("packet too large") || text.contains("bigger than max payload")
        }
    };
    if too_large {
        " (the statement is larger than this server's max_allowed_packet: raise \
         max_allowed_packet on it to at least the other nodes' value, with SET GLOBAL and in its \
         config file; the transaction is retried and nothing is lost meanwhile)"
    } else {
        ""
    }
}

/// Server errors that a reconnect or retry can cure.
pub fn db_error_is_transient(e: &mysql_async::Error) -> bool {
    match e {
        mysql_async::Error::Io(_) | mysql_async::Error::Driver(_) => true,
        mysql_async::Error::Server(s) => matches!(
            s.code,
            // lock wait timeout, deadlock, server shutdown in progress, too many connections,
            // connection killed, query interrupted, read-only during failover
            1205 | 1213 | 1053 | 1040 | 1927 | 1317 | 2013 | 2006
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ends_are_retried_and_refusals_are_not() {
        let silent = Error::Silent {
            peer: "hub h:1".into(),
            problem: "sent nothing".into(),
        };
        let ended = Error::HubEnded {
            hub: "h:1".into(),
            reason: "the hub is shutting down".into(),
        };
        let refused = Error::Refused {
            hub: "h:1".into(),
            reason: "wrong secret".into(),
        };
        assert!(silent.is_transient() && ended.is_transient());
        // MariaDB's own sentence ends with a period; the message does not repeat it.
        let purged = Error::BinlogPurged {
            position: "1-1-2".parse().unwrap(),
            server: "master".into(),
            message: "required binlog files have been purged.".into(),
        };
        assert!(
            purged
                .to_string()
                .contains("have been purged. The binlog files"),
            "{purged}"
        );
        assert!(!refused.is_transient());
        assert_eq!(
            ended.to_string(),
            "the hub at h:1 ended the session: the hub is shutting down"
        );
    }
}
