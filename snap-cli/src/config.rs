//! Where snap-cli connects, resolved from flags, environment, a TOML file and defaults.
//!
//! Every setting is looked up in that order — **flag > env > file > default** — one setting at
//! a time, so a file can hold the host while `SNAP_CLI_PORT` moves the port for one session.
//! The file rejects unknown keys (a typo is an error, not a silently ignored setting) and
//! [`Settings::validate`] names the offending setting and where it came from.
//!
//! The password is never a flag (it would show in `ps`): it comes from `SNAP_CLI_PASSWORD`, the
//! file, or a prompt. It is redacted in `Debug` output.

use std::path::{Path, PathBuf};

use layered_config::parse_env;
pub use layered_config::{ConfigError, Origin, Secret};
use serde::Deserialize;

/// Environment variable naming the config file (same as `--config`).
pub const CONFIG_ENV: &str = "SNAP_CLI_CONFIG";
/// Default MariaDB host.
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// Default MariaDB port.
pub const DEFAULT_PORT: u16 = 3306;
/// Default account: the snap application account (DML on `MOST` only).
pub const DEFAULT_USER: &str = "snap_user";
/// The replicated database.
pub const DEFAULT_DATABASE: &str = "MOST";
/// Default address of the local replicator agent's status endpoint.
pub const DEFAULT_AGENT_STATUS: &str = "127.0.0.1:4581";

/// One source of settings (flags, environment or file): every field optional.
///
/// The TOML file deserializes straight into this, so its keys are exactly these field names.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// MariaDB host name or address (ignored when `socket` is set).
    pub host: Option<String>,
    /// MariaDB TCP port.
    pub port: Option<u16>,
    /// Account to log in with; it needs SELECT, INSERT, UPDATE, DELETE on the database.
    pub user: Option<String>,
    /// Its password. Prefer `SNAP_CLI_PASSWORD` or the prompt over storing it in a file.
    pub password: Option<Secret>,
    /// Unix socket of the local server; used instead of TCP when set.
    pub socket: Option<PathBuf>,
    /// Database to work in.
    pub database: Option<String>,
    /// `host:port` of the local replicator agent's status endpoint.
    pub agent_status: Option<String>,
    /// Rows per page in SELECT ALL and SEARCH; by default it fits the terminal.
    pub page_size: Option<usize>,
}

impl Layer {
    /// Reads the TOML file at `path`.
    pub fn from_file(path: &Path) -> Result<Layer, ConfigError> {
        layered_config::read_toml(path)
    }

    /// Parses TOML text (errors say which key and line).
    pub fn from_toml(text: &str) -> Result<Layer, String> {
        layered_config::parse_toml(text)
    }

    /// Reads the `SNAP_CLI_*` variables through `var` (the process environment in production, a
    /// map in tests).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Layer, ConfigError> {
        // An empty variable counts as unset: `SNAP_CLI_HOST= snap-cli` should not mean "no host",
        // and an empty password is typed at the prompt (Enter) rather than taken from the air.
        let get = |name: &str| var(name).filter(|v| !v.is_empty());
        Ok(Layer {
            host: get("SNAP_CLI_HOST"),
            port: parse_env(&get, "SNAP_CLI_PORT", "port", "valid")?,
            user: get("SNAP_CLI_USER"),
            password: get("SNAP_CLI_PASSWORD").map(Secret::new),
            socket: get("SNAP_CLI_SOCKET").map(PathBuf::from),
            database: get("SNAP_CLI_DATABASE"),
            agent_status: get("SNAP_CLI_AGENT_STATUS"),
            page_size: parse_env(&get, "SNAP_CLI_PAGE_SIZE", "page_size", "valid")?,
        })
    }
}

/// The settings in force, after precedence.
#[derive(Debug, Clone)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// `None`: ask with a password prompt.
    pub password: Option<Secret>,
    pub socket: Option<PathBuf>,
    pub database: String,
    pub agent_status: String,
    /// `None`: fit the terminal.
    pub page_size: Option<usize>,
    /// Where each validated setting came from, for error messages.
    origins: Vec<(&'static str, Origin)>,
}

impl Settings {
    /// Resolves each setting as flag > env > file > default.
    pub fn resolve(flags: Layer, env: Layer, file: Layer) -> Settings {
        let layers = [
            (Origin::Flag, flags),
            (Origin::Env, env),
            (Origin::File, file),
        ];
        let mut origins = Vec::new();
        macro_rules! pick {
            ($field:ident) => {{
                let found = layers
                    .iter()
                    .find_map(|(o, l)| l.$field.clone().map(|v| (*o, v)));
                if let Some((o, _)) = &found {
                    origins.push((stringify!($field), *o));
                }
                found.map(|(_, v)| v)
            }};
        }
        Settings {
            host: pick!(host).unwrap_or_else(|| DEFAULT_HOST.into()),
            port: pick!(port).unwrap_or(DEFAULT_PORT),
            user: pick!(user).unwrap_or_else(|| DEFAULT_USER.into()),
            password: pick!(password),
            socket: pick!(socket),
            database: pick!(database).unwrap_or_else(|| DEFAULT_DATABASE.into()),
            agent_status: pick!(agent_status).unwrap_or_else(|| DEFAULT_AGENT_STATUS.into()),
            page_size: pick!(page_size),
            origins,
        }
    }

    /// Where `setting` came from.
    pub fn origin(&self, setting: &str) -> Origin {
        self.origins
            .iter()
            .find(|(s, _)| *s == setting)
            .map(|(_, o)| *o)
            .unwrap_or(Origin::Default)
    }

    /// Checks every setting; the error names the setting and its origin.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |setting: &'static str, problem: String| ConfigError::Invalid {
            setting,
            origin: self.origin(setting).to_string(),
            problem,
        };
        if self.socket.is_none() && self.host.trim().is_empty() {
            return Err(bad("host", "is empty: give a host name or address".into()));
        }
        if self.port == 0 {
            return Err(bad("port", "is 0: give the server's TCP port".into()));
        }
        if self.user.is_empty() {
            return Err(bad("user", "is empty".into()));
        }
        // MariaDB's own limit for database names; longer cannot exist on the server.
        if self.database.is_empty() || self.database.chars().count() > 64 {
            return Err(bad(
                "database",
                format!("is {:?}: it must be 1 to 64 characters long", self.database),
            ));
        }
        if let Err(problem) = check_host_port(&self.agent_status) {
            return Err(bad("agent_status", problem));
        }
        if let Some(n) = self.page_size {
            if !(1..=1000).contains(&n) {
                return Err(bad("page_size", format!("is {n}: use 1 to 1000")));
            }
        }
        Ok(())
    }

    /// `user@host:port` or `user@socket`, for headings and messages.
    pub fn describe(&self) -> String {
        match &self.socket {
            Some(s) => format!("{}@{}", self.user, s.display()),
            None => format!("{}@{}:{}", self.user, self.host, self.port),
        }
    }
}

/// `host:port` with a non-empty host and a valid port.
fn check_host_port(s: &str) -> Result<(), String> {
    layered_config::check_host_port(s, DEFAULT_AGENT_STATUS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Layer {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Layer::from_env(|k| map.get(k).cloned()).unwrap()
    }

    #[test]
    fn precedence_is_flag_env_file_default_per_setting() {
        let file = Layer::from_toml(
            "host = \"file-host\"\nport = 3307\nuser = \"file-user\"\ndatabase = \"FILEDB\"\n",
        )
        .unwrap();
        let env = env(&[("SNAP_CLI_PORT", "3308"), ("SNAP_CLI_USER", "env-user")]);
        let flags = Layer {
            user: Some("flag-user".into()),
            ..Layer::default()
        };
        let s = Settings::resolve(flags, env, file);
        assert_eq!(s.user, "flag-user");
        assert_eq!(s.origin("user"), Origin::Flag);
        assert_eq!(s.port, 3308);
        assert_eq!(s.origin("port"), Origin::Env);
        assert_eq!(s.host, "file-host");
        assert_eq!(s.origin("host"), Origin::File);
        assert_eq!(s.database, "FILEDB");
        assert_eq!(s.agent_status, DEFAULT_AGENT_STATUS);
        assert_eq!(s.origin("agent_status"), Origin::Default);
        assert!(s.password.is_none());
        s.validate().unwrap();
    }

    #[test]
    fn defaults_when_nothing_is_given() {
        let s = Settings::resolve(Layer::default(), Layer::default(), Layer::default());
        assert_eq!(
            (
                s.host.as_str(),
                s.port,
                s.user.as_str(),
                s.database.as_str()
            ),
            (DEFAULT_HOST, DEFAULT_PORT, DEFAULT_USER, DEFAULT_DATABASE)
        );
        assert_eq!(s.describe(), "snap_user@127.0.0.1:3306");
    }

    #[test]
    fn password_from_env_is_redacted_in_debug() {
        let s = Settings::resolve(
            Layer::default(),
            env(&[("SNAP_CLI_PASSWORD", "hunter2")]),
            Layer::default(),
        );
        assert_eq!(s.password.as_ref().unwrap().expose(), "hunter2");
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
    }

    #[test]
    fn unknown_file_keys_are_rejected_with_their_name() {
        let e = Layer::from_toml("hots = \"x\"\n").unwrap_err();
        assert!(e.contains("hots"), "{e}");
    }

    #[test]
    fn example_config_file_parses_and_validates() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/snap-cli.toml");
        let file = Layer::from_file(&path).unwrap();
        let s = Settings::resolve(Layer::default(), Layer::default(), file);
        s.validate().unwrap();
        assert_eq!(s.database, "MOST");
    }

    #[test]
    fn bad_env_port_names_the_variable() {
        let e = Layer::from_env(|k| (k == "SNAP_CLI_PORT").then(|| "abc".to_string()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("SNAP_CLI_PORT") && e.contains("port"), "{e}");
    }

    #[test]
    fn validate_names_setting_and_origin() {
        let flags = Layer {
            agent_status: Some("nowhere".into()),
            ..Layer::default()
        };
        let s = Settings::resolve(flags, Layer::default(), Layer::default());
        let e = s.validate().unwrap_err().to_string();
        assert!(
            e.contains("agent_status") && e.contains("command-line flag"),
            "{e}"
        );
        let file = Layer::from_toml("page_size = 0\n").unwrap();
        let e = Settings::resolve(Layer::default(), Layer::default(), file)
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("page_size") && e.contains("config file"), "{e}");
    }
}
