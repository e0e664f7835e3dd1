//! snap-cli's error type, and server errors in plain words.
//!
//! Errors fall in three groups, and the menu treats each differently:
//! - **lost connection** ([`DbError::is_lost`]: the socket closed, the server went away, the
//!   session was killed) is *transient*: the menu says so and offers to reconnect;
//! - **login refused** ([`DbError::is_login`], wrong password or unknown account) stops startup,
//!   or asks for the password again when it was typed;
//! - everything else the server refuses (duplicate key, foreign key, value too long, …) is
//!   *definite* for that one statement: the menu shows [`DbError::plain`] and carries on.
//!
//! Terminal failures ([`Error::Terminal`]) end the program: without a terminal there is no menu.

/// Result alias of the snap-cli library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),

    #[error(transparent)]
    Db(#[from] DbError),

    /// The user left at the password prompt.
    #[error("cancelled at the password prompt")]
    Cancelled,

    /// The terminal cannot be used (not a TTY, I/O error).
    #[error("terminal: {0}")]
    Terminal(inquire::InquireError),
}

/// A failed database call, with what we were doing.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {source}")]
pub struct DbError {
    pub context: String,
    #[source]
    pub source: mysql_async::Error,
}

/// MariaDB error codes we explain (see `include/mysqld_error.h`).
mod code {
    pub const ACCESS_DENIED_DB: u16 = 1044;
    pub const ACCESS_DENIED: u16 = 1045;
    pub const BAD_NULL: u16 = 1048;
    pub const BAD_DB: u16 = 1049;
    pub const SHUTDOWN: u16 = 1053;
    pub const BAD_FIELD: u16 = 1054;
    pub const DUP_ENTRY: u16 = 1062;
    pub const TABLE_ACCESS_DENIED: u16 = 1142;
    pub const COLUMN_ACCESS_DENIED: u16 = 1143;
    pub const NO_SUCH_TABLE: u16 = 1146;
    pub const ABORTING_CONNECTION: u16 = 1152;
    pub const NET_READ_ERROR: u16 = 1158;
    pub const LOCK_WAIT_TIMEOUT: u16 = 1205;
    pub const LOCK_DEADLOCK: u16 = 1213;
    pub const WARN_DATA_OUT_OF_RANGE: u16 = 1264;
    pub const TRUNCATED_WRONG_VALUE: u16 = 1292;
    pub const OPTION_PREVENTS_STATEMENT: u16 = 1290;
    pub const NO_DEFAULT_FOR_FIELD: u16 = 1364;
    pub const TRUNCATED_WRONG_VALUE_FOR_FIELD: u16 = 1366;
    pub const DATA_TOO_LONG: u16 = 1406;
    pub const ROW_IS_REFERENCED: u16 = 1451;
    pub const NO_REFERENCED_ROW: u16 = 1452;
    pub const CONNECTION_KILLED: u16 = 1927;
    pub const CONSTRAINT_FAILED: u16 = 4025;
    // Client-side codes (libmysql's): mysql_async reports these as I/O errors, but a proxy can
    // relay them as server errors.
    pub const CONN_HOST_ERROR: u16 = 2003;
    pub const SERVER_GONE: u16 = 2006;
    pub const SERVER_LOST: u16 = 2013;
}

impl DbError {
    pub fn new(context: impl Into<String>, source: mysql_async::Error) -> Self {
        Self {
            context: context.into(),
            source,
        }
    }

    /// The server's error code, when the server refused.
    pub fn code(&self) -> Option<u16> {
        match &self.source {
            mysql_async::Error::Server(e) => Some(e.code),
            _ => None,
        }
    }

    /// The connection is gone: reconnecting may help.
    pub fn is_lost(&self) -> bool {
        match &self.source {
            mysql_async::Error::Server(e) => matches!(
                e.code,
                code::SHUTDOWN
                    | code::ABORTING_CONNECTION
                    | code::NET_READ_ERROR
                    | code::CONNECTION_KILLED
                    | code::SERVER_GONE
                    | code::SERVER_LOST
                    | code::CONN_HOST_ERROR
            ),
            mysql_async::Error::Io(_) => true,
            mysql_async::Error::Driver(d) => matches!(
                d,
                mysql_async::DriverError::ConnectionClosed
                    | mysql_async::DriverError::PacketOutOfOrder
                    | mysql_async::DriverError::UnexpectedPacket { .. }
            ),
            _ => false,
        }
    }

    /// The server refused the login (wrong password or unknown account).
    pub fn is_login(&self) -> bool {
        self.code() == Some(code::ACCESS_DENIED)
    }

    /// What happened, in words a snap user understands, without SQL jargon where possible.
    pub fn plain(&self) -> String {
        let server = match &self.source {
            mysql_async::Error::Server(e) => e,
            mysql_async::Error::Io(e) => {
                return format!(
                    "The connection to the database was lost or could not be made ({e}). \
                     If you were saving a change, it may not have been saved: check it after \
                     reconnecting."
                )
            }
            other if self.is_lost() => {
                return format!(
                    "The connection to the database was lost ({other}). If you were saving a \
                     change, it may not have been saved: check it after reconnecting."
                )
            }
            other => return format!("Something went wrong while {}: {other}", self.context),
        };
        let msg = server.message.as_str();
        match server.code {
            code::DUP_ENTRY => format!(
                "A row with that key already exists ({}). Nothing was saved.",
                duplicate_detail(msg)
            ),
            code::ROW_IS_REFERENCED => format!(
                "Other rows still point to this one{} (a foreign key). Delete or change those \
                 rows first. Nothing was changed.",
                fk_child(msg)
                    .map(|t| format!(" from table {t}"))
                    .unwrap_or_default()
            ),
            code::NO_REFERENCED_ROW => format!(
                "The value you gave must match an existing row{} (a foreign key), and no such \
                 row exists. Nothing was saved.",
                fk_parent(msg)
                    .map(|t| format!(" in table {t}"))
                    .unwrap_or_default()
            ),
            code::ACCESS_DENIED => format!("Wrong user name or password ({msg})."),
            code::ACCESS_DENIED_DB | code::TABLE_ACCESS_DENIED | code::COLUMN_ACCESS_DENIED => {
                format!(
                    "Your account is not allowed to do that ({msg}). Ask the database \
                     administrator for the privilege."
                )
            }
            code::DATA_TOO_LONG => format!(
                "The value is too long for column {}. Nothing was saved.",
                quoted_column(msg).unwrap_or_else(|| "(unknown)".into())
            ),
            code::WARN_DATA_OUT_OF_RANGE => format!(
                "The value is out of range for column {}. Nothing was saved.",
                quoted_column(msg).unwrap_or_else(|| "(unknown)".into())
            ),
            code::TRUNCATED_WRONG_VALUE | code::TRUNCATED_WRONG_VALUE_FOR_FIELD => format!(
                "The server cannot store that value as given: {msg}. It may use characters \
                 the column's character set cannot hold. Nothing was saved."
            ),
            code::BAD_NULL => format!(
                "Column {} needs a value (it cannot be NULL). Nothing was saved.",
                quoted_column(msg).unwrap_or_else(|| "(unknown)".into())
            ),
            code::NO_DEFAULT_FOR_FIELD => format!(
                "Column {} needs a value (it has no default). Nothing was saved.",
                quoted_column(msg).unwrap_or_else(|| "(unknown)".into())
            ),
            code::CONSTRAINT_FAILED => {
                format!("The value breaks a rule of the table ({msg}). Nothing was saved.")
            }
            code::NO_SUCH_TABLE | code::BAD_FIELD => format!(
                "The table changed while you were working ({msg}); it may have been altered or \
                 dropped on another node. Start the operation again."
            ),
            code::BAD_DB => format!("The database does not exist on this server ({msg})."),
            code::LOCK_WAIT_TIMEOUT | code::LOCK_DEADLOCK => format!(
                "Another session was changing the same rows ({msg}). Nothing was saved; try \
                 again."
            ),
            code::OPTION_PREVENTS_STATEMENT if msg.contains("read-only") => format!(
                "This snap is read-only right now, most likely while it loads the master's data \
                 (a new snap or a resync; the replicator lifts it when the load is done). \
                 Nothing was saved; try again in a few minutes, or ask the DBA. ({msg})"
            ),
            code::OPTION_PREVENTS_STATEMENT => {
                format!("The server does not accept changes right now ({msg}).")
            }
            c if self.is_lost() => format!(
                "The connection to the database was lost ({msg}, error {c}). If you were saving \
                 a change, it may not have been saved: check it after reconnecting."
            ),
            c => format!(
                "The server refused while {}: {msg} (error {c}).",
                self.context
            ),
        }
    }
}

/// `Duplicate entry 'x' for key 'PRIMARY'` → `'x' is already used by key PRIMARY`.
fn duplicate_detail(msg: &str) -> String {
    msg.strip_prefix("Duplicate entry ")
        .and_then(|rest| rest.rsplit_once(" for key "))
        .map(|(value, key)| format!("{value} is already used by key {}", key.trim_matches('\'')))
        .unwrap_or_else(|| msg.to_owned())
}

/// The child table of a 1451 message: `… fails (`MOST`.`child`, CONSTRAINT …`.
fn fk_child(msg: &str) -> Option<String> {
    let start = msg.find("fails (")? + "fails (".len();
    let rest = &msg[start..];
    let end = rest.find(", CONSTRAINT")?;
    Some(rest[..end].to_owned())
}

/// The parent table of a 1452 message: `… REFERENCES `parent` (`id`))`.
fn fk_parent(msg: &str) -> Option<String> {
    let start = msg.find("REFERENCES ")? + "REFERENCES ".len();
    let rest = &msg[start..];
    let end = rest.find(" (")?;
    Some(rest[..end].to_owned())
}

/// The first `'name'` in a message like `Data too long for column 'name' at row 1`.
fn quoted_column(msg: &str) -> Option<String> {
    let start = msg.find('\'')? + 1;
    let end = msg[start..].find('\'')? + start;
    Some(msg[start..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(code: u16, message: &str) -> DbError {
        DbError::new(
            "saving the row",
            mysql_async::Error::Server(mysql_async::ServerError {
                code,
                message: message.into(),
                state: "23000".into(),
            }),
        )
    }

    #[test]
    fn duplicate_key_in_plain_words() {
        let e = server(1062, "Duplicate entry '7' for key 'PRIMARY'");
        assert_eq!(
            e.plain(),
            "A row with that key already exists ('7' is already used by key PRIMARY). \
             Nothing was saved."
        );
        assert!(!e.is_lost());
    }

    #[test]
    fn foreign_keys_name_the_other_table() {
        let e = server(
            1451,
            "Cannot delete or update a parent row: a foreign key constraint fails \
             (`MOST`.`child`, CONSTRAINT `fk` FOREIGN KEY (`pid`) REFERENCES `parent` (`id`))",
        );
        assert!(
            e.plain().starts_with(
                "Other rows still point to this one from table `MOST`.`child` (a foreign key)"
            ),
            "{}",
            e.plain()
        );
        let e = server(
            1452,
            "Cannot add or update a child row: a foreign key constraint fails (`MOST`.`child`, \
             CONSTRAINT `fk` FOREIGN KEY (`pid`) REFERENCES `parent` (`id`))",
        );
        assert!(
            e.plain().contains("existing row in table `parent`"),
            "{}",
            e.plain()
        );
    }

    #[test]
    fn login_denied_lost_and_too_long() {
        let e = server(
            1045,
            "Access denied for user 'snap_user'@'localhost' (using password: YES)",
        );
        assert!(e.is_login());
        assert!(e.plain().starts_with("Wrong user name or password"));
        let e = server(
            1142,
            "DELETE command denied to user 'snap_user'@'localhost' for table `MOST`.`t`",
        );
        assert!(e
            .plain()
            .starts_with("Your account is not allowed to do that"));
        let e = server(1406, "Data too long for column 'name' at row 1");
        assert_eq!(
            e.plain(),
            "The value is too long for column name. Nothing was saved."
        );
        let e = server(
            1290,
            "The MariaDB server is running with the --read-only option so it cannot execute \
             this statement",
        );
        assert!(e.plain().starts_with("This snap is read-only right now"));
        assert!(e.plain().contains("Nothing was saved"));
        for code in [1927, 2006, 2013] {
            let e = server(code, "Connection was killed");
            assert!(e.is_lost(), "{code}");
            assert!(e.plain().contains("connection to the database was lost"));
        }
        let io = DbError::new(
            "reading",
            mysql_async::Error::Io(mysql_async::IoError::Io(std::io::Error::from(
                std::io::ErrorKind::ConnectionReset,
            ))),
        );
        assert!(io.is_lost() && !io.is_login());
        let closed = DbError::new(
            "reading",
            mysql_async::Error::Driver(mysql_async::DriverError::ConnectionClosed),
        );
        assert!(closed.is_lost());
        assert!(closed
            .plain()
            .contains("connection to the database was lost"));
    }

    #[test]
    fn unknown_codes_keep_the_server_message() {
        let e = server(1234, "Something odd");
        assert_eq!(
            e.plain(),
            "The server refused while saving the row: Something odd (error 1234)."
        );
    }
}
