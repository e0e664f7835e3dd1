//! The pieces `snap-cli` and `master-admin` share to resolve their settings — **flag > env >
//! file > default**, one setting at a time — and to explain a bad one: which setting, from
//! where, what is wrong. Each tool keeps its own `Layer` (the keys of its file) and `Settings`;
//! this crate has no dependency on the replicator, so snap-cli stays small. The replicator uses
//! its [`Secret`] too.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A configuration problem: which setting, from where, what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("cannot read the password file {path} (from {origin}): {source}")]
    PasswordFile {
        path: PathBuf,
        origin: Origin,
        source: std::io::Error,
    },
    #[error("setting `{setting}` (from {origin}) {problem}")]
    Invalid {
        setting: &'static str,
        origin: String,
        problem: String,
    },
}

/// A password or shared secret: redacted in `Debug` (an empty one shows as `""`, so that
/// "not set" stays visible).
#[derive(Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret itself; call only where it is used, never to print or log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str("\"<redacted>\"")
        }
    }
}

/// Where a resolved setting came from (for error messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Flag,
    Env,
    File,
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Flag => "command-line flag",
            Origin::Env => "environment",
            Origin::File => "config file",
            Origin::Default => "default",
        })
    }
}

/// Reads the TOML file at `path` into a layer (errors name the file, the key and the line).
pub fn read_toml<L: DeserializeOwned>(path: &Path) -> Result<L, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_toml(&text).map_err(|message| ConfigError::Parse {
        path: path.to_owned(),
        message,
    })
}

/// Parses TOML text into a layer (errors say which key and line).
pub fn parse_toml<L: DeserializeOwned>(text: &str) -> Result<L, String> {
    toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())
}

/// Parses environment variable `name` (through `get`, which treats empty as unset) for
/// `setting`; `what` says what a valid value is ("a port number").
pub fn parse_env<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    setting: &'static str,
    what: &str,
) -> Result<Option<T>, ConfigError>
where
    T::Err: fmt::Display,
{
    match get(name) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|e| ConfigError::Invalid {
                setting,
                origin: format!("environment variable {name}"),
                problem: format!("is {v:?}, which is not {what}: {e}"),
            }),
    }
}

/// The password in the first line of the file at `path` (a trailing newline is ignored).
pub fn read_password_file(path: &Path, origin: Origin) -> Result<Secret, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::PasswordFile {
        path: path.to_owned(),
        origin,
        source,
    })?;
    Ok(Secret::new(text.lines().next().unwrap_or("")))
}

/// Checks `s` is `host:port` with a non-empty host and a port from 1 to 65535; the error names
/// `example` as a valid value.
pub fn check_host_port(s: &str, example: &str) -> Result<(), String> {
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(format!("is {s:?}: expected host:port, e.g. {example}"));
    };
    if host.is_empty() {
        return Err(format!("is {s:?}: the host part is empty"));
    }
    match port.parse::<u16>() {
        Ok(p) if p != 0 => Ok(()),
        _ => Err(format!("is {s:?}: {port:?} is not a port number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Layer {
        port: Option<u16>,
    }

    #[test]
    fn files_name_the_path_key_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.toml");
        std::fs::write(&path, "port = 3307\n").unwrap();
        assert_eq!(read_toml::<Layer>(&path).unwrap().port, Some(3307));
        std::fs::write(&path, "\nprot = 3307\n").unwrap();
        let err = read_toml::<Layer>(&path).unwrap_err().to_string();
        assert!(
            err.contains("x.toml") && err.contains("prot") && err.contains("line 2"),
            "{err}"
        );
        let err = read_toml::<Layer>(&dir.path().join("none.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("cannot read config file") && err.contains("none.toml"),
            "{err}"
        );
    }

    #[test]
    fn env_values_are_parsed_and_errors_name_the_variable() {
        let get = |name: &str| (name == "P").then(|| " 3307 ".to_string());
        assert_eq!(
            parse_env::<u16>(&get, "P", "port", "a port number").unwrap(),
            Some(3307)
        );
        assert_eq!(
            parse_env::<u16>(&get, "Q", "port", "a port number").unwrap(),
            None
        );
        let bad = |_: &str| Some("x".to_string());
        let err = parse_env::<u16>(&bad, "P", "port", "a port number")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "setting `port` (from environment variable P) is \"x\", which is not a port number: \
             invalid digit found in string"
        );
    }

    #[test]
    fn host_port_and_secrets() {
        assert!(check_host_port("h:1", "e:2").is_ok());
        assert!(check_host_port("h", "e:2")
            .unwrap_err()
            .contains("e.g. e:2"));
        assert!(check_host_port(":1", "e:2")
            .unwrap_err()
            .contains("host part is empty"));
        assert!(check_host_port("h:0", "e:2")
            .unwrap_err()
            .contains("not a port number"));
        assert_eq!(format!("{:?}", Secret::new("pw")), "\"<redacted>\"");
        assert_eq!(format!("{:?}", Secret::default()), "\"\"");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret\nignored\n").unwrap();
        assert_eq!(
            read_password_file(&path, Origin::Flag).unwrap().expose(),
            "s3cret"
        );
        let err = read_password_file(&dir.path().join("no"), Origin::Env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("(from environment)"), "{err}");
    }
}
