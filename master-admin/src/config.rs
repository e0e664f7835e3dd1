//! Where master-admin connects: the master's MariaDB (as a DBA account) and the hub's HTTP
//! endpoint, resolved from flags, environment, a TOML file and defaults.
//!
//! Every setting is looked up in that order — **flag > env > file > default** — one setting at
//! a time, so a file can hold the host while `MASTER_ADMIN_PORT` moves the port for one command.
//! The file rejects unknown keys (a typo is an error, not a silently ignored setting) and
//! [`Settings::validate`] names the offending setting and where it came from.
//!
//! The password is never a flag (it would show in `ps`): it comes from `--password-file`,
//! `MASTER_ADMIN_PASSWORD`, or the file (`password` or `password_file`); without any, the empty
//! password is used (e.g. root over the local socket with `unix_socket` authentication). It is
//! redacted in `Debug` output.

use std::path::{Path, PathBuf};
use std::time::Duration;

use layered_config::{parse_env, read_password_file};
pub use layered_config::{ConfigError, Origin, Secret};
use serde::Deserialize;

/// Environment variable naming the config file (same as `--config`).
pub const CONFIG_ENV: &str = "MASTER_ADMIN_CONFIG";
/// Environment variable holding the password.
pub const PASSWORD_ENV: &str = "MASTER_ADMIN_PASSWORD";
/// Environment variable holding the hub's HTTP token (its `[hub] http_token`).
pub const HUB_TOKEN_ENV: &str = "MASTER_ADMIN_HUB_TOKEN";
/// Default MariaDB host.
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// Default MariaDB port.
pub const DEFAULT_PORT: u16 = 3306;
/// Default account.
pub const DEFAULT_USER: &str = "root";
/// Default address of the hub's HTTP endpoint (the hub's `hub.http_listen` default).
pub const DEFAULT_HUB: &str = "127.0.0.1:4580";
/// How long to wait for a database connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One source of settings (flags, environment or file): every field optional.
///
/// The TOML file deserializes straight into this, so its keys are exactly these field names.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// MariaDB host name or address of the master (ignored when `socket` is set).
    pub host: Option<String>,
    /// MariaDB TCP port of the master.
    pub port: Option<u16>,
    /// DBA account (needs CREATE, DROP, SELECT on `starsync`, and RELOAD for `export`).
    pub user: Option<String>,
    /// Unix socket of the master's server; used instead of TCP when set.
    pub socket: Option<PathBuf>,
    /// `host:port` of the hub's HTTP endpoint (the hub's `hub.http_listen`).
    pub hub: Option<String>,
    /// The password. Prefer `MASTER_ADMIN_PASSWORD` or `password_file` over storing it here.
    pub password: Option<Secret>,
    /// A file holding the password (its first line; a trailing newline is ignored).
    pub password_file: Option<PathBuf>,
    /// The hub's HTTP token (its `[hub] http_token`), when it has one. Prefer
    /// `MASTER_ADMIN_HUB_TOKEN` or `hub_token_file`.
    pub hub_token: Option<Secret>,
    /// A file holding the hub's HTTP token (its first line).
    pub hub_token_file: Option<PathBuf>,
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

    /// Reads the `MASTER_ADMIN_*` variables through `var` (the process environment in
    /// production, a map in tests). An empty variable counts as unset.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Layer, ConfigError> {
        let get = |name: &str| var(name).filter(|v| !v.is_empty());
        Ok(Layer {
            host: get("MASTER_ADMIN_HOST"),
            port: parse_env(&get, "MASTER_ADMIN_PORT", "port", "a port number")?,
            user: get("MASTER_ADMIN_USER"),
            socket: get("MASTER_ADMIN_SOCKET").map(PathBuf::from),
            hub: get("MASTER_ADMIN_HUB"),
            password: get(PASSWORD_ENV).map(Secret::new),
            password_file: get("MASTER_ADMIN_PASSWORD_FILE").map(PathBuf::from),
            hub_token: get(HUB_TOKEN_ENV).map(Secret::new),
            hub_token_file: get("MASTER_ADMIN_HUB_TOKEN_FILE").map(PathBuf::from),
        })
    }
}

/// The settings in force, after precedence.
#[derive(Debug, Clone)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub socket: Option<PathBuf>,
    pub hub: String,
    pub password: Secret,
    /// Empty: none given (the hub asks for none, or says so).
    pub hub_token: Secret,
    origins: Vec<(&'static str, Origin)>,
}

/// A secret given as a value or as a file in the layers: the first layer that has either
/// provides it (a layer with both is an error); a file is read here.
fn secret(
    layers: &[(Origin, Layer)],
    setting: &'static str,
    both: &str,
    forms: impl Fn(&Layer) -> (&Option<Secret>, &Option<PathBuf>),
    origins: &mut Vec<(&'static str, Origin)>,
) -> Result<Secret, ConfigError> {
    for (origin, l) in layers {
        let value = match forms(l) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid {
                    setting,
                    origin: origin.to_string(),
                    problem: format!("is given both as {both}: keep one"),
                })
            }
            (Some(v), None) => v.clone(),
            (None, Some(path)) => read_password_file(path, *origin)?,
            (None, None) => continue,
        };
        origins.push((setting, *origin));
        return Ok(value);
    }
    Ok(Secret::default())
}

impl Settings {
    /// Resolves each setting as flag > env > file > default. The password is one setting with
    /// two forms: the first layer that has `password` or `password_file` provides it (a layer
    /// with both is an error), and a password file is read here.
    pub fn resolve(flags: Layer, env: Layer, file: Layer) -> Result<Settings, ConfigError> {
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
        let password = secret(
            &layers,
            "password",
            "`password` and `password_file`",
            |l| (&l.password, &l.password_file),
            &mut origins,
        )?;
        let hub_token = secret(
            &layers,
            "hub_token",
            "`hub_token` and `hub_token_file`",
            |l| (&l.hub_token, &l.hub_token_file),
            &mut origins,
        )?;
        Ok(Settings {
            host: pick!(host).unwrap_or_else(|| DEFAULT_HOST.into()),
            port: pick!(port).unwrap_or(DEFAULT_PORT),
            user: pick!(user).unwrap_or_else(|| DEFAULT_USER.into()),
            socket: pick!(socket),
            hub: pick!(hub).unwrap_or_else(|| DEFAULT_HUB.into()),
            password,
            hub_token,
            origins,
        })
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
        if let Err(problem) = check_host_port(&self.hub) {
            return Err(bad("hub", problem));
        }
        Ok(())
    }

    /// Where the database is, for messages: `host:port` or the socket path.
    pub fn address(&self) -> String {
        match &self.socket {
            Some(s) => s.display().to_string(),
            None => format!("{}:{}", self.host, self.port),
        }
    }

    /// Connection options for mysql_async.
    pub fn opts(&self) -> mysql_async::Opts {
        let mut b = mysql_async::OptsBuilder::default()
            .ip_or_hostname(self.host.clone())
            .tcp_port(self.port)
            .user(Some(self.user.clone()))
            .pass(Some(self.password.expose().to_owned()))
            .prefer_socket(false);
        if let Some(sock) = &self.socket {
            b = b.socket(Some(sock.to_string_lossy().into_owned()));
        }
        b.into()
    }
}

/// `host:port` with a non-empty host and a valid port.
fn check_host_port(s: &str) -> Result<(), String> {
    layered_config::check_host_port(s, DEFAULT_HUB)
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
            "host = \"file-host\"\nport = 3307\nuser = \"file-user\"\nhub = \"h:1\"\n\
             password = \"file-pw\"\n",
        )
        .unwrap();
        let env = env(&[
            ("MASTER_ADMIN_PORT", "3308"),
            ("MASTER_ADMIN_USER", "env-user"),
            (PASSWORD_ENV, "env-pw"),
        ]);
        let flags = Layer {
            user: Some("flag-user".into()),
            ..Layer::default()
        };
        let s = Settings::resolve(flags, env, file).unwrap();
        assert_eq!(
            (s.user.as_str(), s.origin("user")),
            ("flag-user", Origin::Flag)
        );
        assert_eq!((s.port, s.origin("port")), (3308, Origin::Env));
        assert_eq!(
            (s.host.as_str(), s.origin("host")),
            ("file-host", Origin::File)
        );
        assert_eq!(s.hub, "h:1");
        assert_eq!(s.password.expose(), "env-pw");
        assert_eq!(s.origin("password"), Origin::Env);
        assert_eq!(s.origin("socket"), Origin::Default);
        s.validate().unwrap();
    }

    #[test]
    fn defaults_when_nothing_is_given() {
        let s = Settings::resolve(Layer::default(), Layer::default(), Layer::default()).unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.user.as_str(), s.hub.as_str()),
            (DEFAULT_HOST, DEFAULT_PORT, DEFAULT_USER, DEFAULT_HUB)
        );
        assert_eq!(s.password.expose(), "");
        assert_eq!(s.address(), "127.0.0.1:3306");
    }

    #[test]
    fn password_file_flag_beats_env_and_is_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "from-file\n").unwrap();
        let flags = Layer {
            password_file: Some(path),
            ..Layer::default()
        };
        let s =
            Settings::resolve(flags, env(&[(PASSWORD_ENV, "env-pw")]), Layer::default()).unwrap();
        assert_eq!(s.password.expose(), "from-file");
        assert!(!format!("{s:?}").contains("from-file"));
    }

    #[test]
    fn missing_password_file_names_the_file() {
        let flags = Layer {
            password_file: Some("/nonexistent/pw".into()),
            ..Layer::default()
        };
        let e = Settings::resolve(flags, Layer::default(), Layer::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/nonexistent/pw") && e.contains("command-line flag"),
            "{e}"
        );
    }

    #[test]
    fn both_password_forms_in_one_layer_is_an_error() {
        let file = Layer::from_toml("password = \"a\"\npassword_file = \"/x\"\n").unwrap();
        let e = Settings::resolve(Layer::default(), Layer::default(), file).unwrap_err();
        assert!(e.to_string().contains("password_file"), "{e}");
    }

    #[test]
    fn the_hub_token_comes_from_a_file_or_the_environment_like_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "token-from-file-0123\n").unwrap();
        let flags = Layer {
            hub_token_file: Some(path),
            ..Layer::default()
        };
        let env = env(&[(HUB_TOKEN_ENV, "token-from-env-0123")]);
        let s = Settings::resolve(flags, env.clone(), Layer::default()).unwrap();
        assert_eq!(s.hub_token.expose(), "token-from-file-0123");
        assert_eq!(s.origin("hub_token"), Origin::Flag);
        assert!(!format!("{s:?}").contains("token-from"));
        let s = Settings::resolve(Layer::default(), env, Layer::default()).unwrap();
        assert_eq!(s.hub_token.expose(), "token-from-env-0123");
        let none = Settings::resolve(Layer::default(), Layer::default(), Layer::default()).unwrap();
        assert!(none.hub_token.is_empty());
        let file = Layer::from_toml("hub_token = \"a\"\nhub_token_file = \"/x\"\n").unwrap();
        let e = Settings::resolve(Layer::default(), Layer::default(), file).unwrap_err();
        assert!(e.to_string().contains("hub_token_file"), "{e}");
    }

    #[test]
    fn unknown_file_keys_are_rejected_with_their_name() {
        let e = Layer::from_toml("hots = \"x\"\n").unwrap_err();
        assert!(e.contains("hots"), "{e}");
    }

    #[test]
    fn example_config_file_parses_and_validates() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/master-admin.toml");
        let file = Layer::from_file(&path).unwrap();
        let s = Settings::resolve(Layer::default(), Layer::default(), file).unwrap();
        s.validate().unwrap();
        assert_eq!(s.hub, DEFAULT_HUB);
    }

    #[test]
    fn validate_names_setting_and_origin() {
        let flags = Layer {
            hub: Some("nowhere".into()),
            ..Layer::default()
        };
        let s = Settings::resolve(flags, Layer::default(), Layer::default()).unwrap();
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("hub") && e.contains("command-line flag"), "{e}");
        let e = Layer::from_env(|k| (k == "MASTER_ADMIN_PORT").then(|| "x".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("MASTER_ADMIN_PORT"), "{e}");
    }
}
