//! Configuration of the hub and the agent, read from TOML.
//!
//! Every section rejects unknown fields (a typo is an error, not a silently ignored setting), has
//! defaults where a sensible one exists, and `validate()` names the offending field. Secrets come
//! from the file or, preferably, from the environment (`STARSYNC_SECRET`, `STARSYNC_DB_PASSWORD`),
//! and never appear in `Debug` output or logs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Environment variable that overrides the shared secret of hub and agents.
pub const SECRET_ENV: &str = "STARSYNC_SECRET";
/// Environment variable that overrides the hub's HTTP token.
pub const HTTP_TOKEN_ENV: &str = "STARSYNC_HTTP_TOKEN";
/// Environment variable that overrides the MariaDB password.
pub const DB_PASSWORD_ENV: &str = "STARSYNC_DB_PASSWORD";
/// The replicator's own bookkeeping schema: never replicated.
pub const STATE_SCHEMA: &str = "starsync";
/// Schemas that never replicate.
pub const SYSTEM_SCHEMAS: &[&str] = &[
    "mysql",
    "information_schema",
    "performance_schema",
    "sys",
    STATE_SCHEMA,
];

/// Whether `schema` is a system schema (or starsync's own), which never replicates.
pub fn is_system_schema(schema: &str) -> bool {
    SYSTEM_SCHEMAS
        .iter()
        .any(|s| s.eq_ignore_ascii_case(schema))
}

/// A configuration error: which file, which field, what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config field `{field}` {problem}")]
    Invalid {
        field: &'static str,
        problem: String,
    },
}

fn invalid(field: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field,
        problem: problem.into(),
    }
}

/// A secret string: deserialized from TOML or the environment, redacted in `Debug`.
pub use layered_config::Secret;

/// This node's identity. The server and domain ids must equal the local MariaDB's
/// `server_id` and `gtid_domain_id` (`replicator check` verifies it).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Node name shown in status and logs, unique in the cluster (letters, digits, `-`, `_`).
    pub name: String,
    /// The local MariaDB's `server_id`.
    pub server_id: u32,
    /// The local MariaDB's `gtid_domain_id`; every node has its own.
    pub domain_id: u32,
}

/// How to reach the local MariaDB server.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MariaDbConfig {
    /// Host name or address (ignored when `socket` is set).
    #[serde(default = "default_host")]
    pub host: String,
    /// TCP port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Unix socket path; preferred over TCP when set.
    #[serde(default)]
    pub socket: Option<PathBuf>,
    /// Replication account (see `replicator check` for the privileges it needs).
    #[serde(default = "default_user")]
    pub user: String,
    /// Its password; `STARSYNC_DB_PASSWORD` overrides.
    #[serde(default)]
    pub password: Secret,
    /// Seconds to wait for a connection.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
}

fn default_host() -> String {
    "127.0.0.1".into()
}
fn default_port() -> u16 {
    3306
}
fn default_user() -> String {
    "starsync_repl".into()
}
fn default_connect_timeout() -> u64 {
    10
}

impl MariaDbConfig {
    /// Connection options for mysql_async (no default schema, UTC session time zone is set by
    /// the users of the connection where it matters).
    pub fn opts(&self) -> mysql_async::Opts {
        let mut b = mysql_async::OptsBuilder::default()
            .ip_or_hostname(self.host.clone())
            .tcp_port(self.port)
            .user(Some(self.user.clone()))
            .pass(Some(self.password.expose().to_owned()))
            .prefer_socket(false)
            .wait_timeout(Some(28_800));
        if let Some(sock) = &self.socket {
            b = b.socket(Some(sock.to_string_lossy().into_owned()));
        }
        b.into()
    }

    /// Where the server is, for messages: `host:port` or the socket path.
    pub fn address(&self) -> String {
        match &self.socket {
            Some(s) => s.display().to_string(),
            None => format!("{}:{}", self.host, self.port),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.user.is_empty() {
            return Err(invalid(
                "mariadb.user",
                "is empty: set the replication account",
            ));
        }
        if self.socket.is_none() && self.host.is_empty() {
            return Err(invalid("mariadb.host", "is empty: set host or socket"));
        }
        if self.connect_timeout_secs == 0 {
            return Err(invalid(
                "mariadb.connect_timeout_secs",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// Memory and size limits. Every queue is bounded by bytes, so a large transaction applies
/// backpressure instead of growing memory.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest frame accepted on the wire, in bytes; larger ones close the connection.
    #[serde(default = "default_max_frame")]
    pub max_frame_bytes: usize,
    /// Row changes per chunk when a transaction is streamed (large transactions span chunks).
    #[serde(default = "default_chunk_rows")]
    pub chunk_rows: usize,
    /// Approximate bytes per chunk.
    #[serde(default = "default_chunk_bytes")]
    pub chunk_bytes: usize,
    /// Bytes of decoded changes that may be queued between reader, network and applier.
    #[serde(default = "default_queue_bytes")]
    pub queue_bytes: usize,
    /// Threads running the service's tasks; 0 = one per CPU core. Unset: 1 for an agent (its
    /// work is one sequence of hand-offs, and on one thread they cost no cross-thread wake-up),
    /// half the cores for the hub (the master's MariaDB on the same machine does the heavy
    /// work; each snap's fan-out decodes the master's binlog in its own task).
    #[serde(default)]
    pub worker_threads: Option<usize>,
}

fn default_max_frame() -> usize {
    64 << 20
}
fn default_chunk_rows() -> usize {
    4096
}
fn default_chunk_bytes() -> usize {
    4 << 20
}
fn default_queue_bytes() -> usize {
    64 << 20
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_frame_bytes: default_max_frame(),
            chunk_rows: default_chunk_rows(),
            chunk_bytes: default_chunk_bytes(),
            queue_bytes: default_queue_bytes(),
            worker_threads: None,
        }
    }
}

impl LimitsConfig {
    /// Worker threads for the runtime: the configured number, `role_default` when unset;
    /// `None`: one per core.
    pub fn runtime_threads(&self, role_default: Option<usize>) -> Option<usize> {
        match self.worker_threads {
            Some(0) => None,
            Some(n) => Some(n),
            None => role_default,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.max_frame_bytes < 64 << 10 {
            return Err(invalid("limits.max_frame_bytes", "must be at least 65536"));
        }
        if self.chunk_rows == 0 {
            return Err(invalid("limits.chunk_rows", "must be at least 1"));
        }
        if self.chunk_bytes == 0 || self.chunk_bytes * 2 > self.max_frame_bytes {
            return Err(invalid(
                "limits.chunk_bytes",
                format!(
                    "must be between 1 and half of limits.max_frame_bytes ({})",
                    self.max_frame_bytes / 2
                ),
            ));
        }
        if self.queue_bytes < self.chunk_bytes {
            return Err(invalid(
                "limits.queue_bytes",
                "must be at least limits.chunk_bytes",
            ));
        }
        Ok(())
    }
}

/// Which databases the hub replicates.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicateConfig {
    /// Databases that always replicate.
    #[serde(default = "default_databases")]
    pub databases: Vec<String>,
    /// Whether every other (non-system) database of the master replicates too, in particular the
    /// ones created on the master later.
    #[serde(default = "default_true")]
    pub new_databases: bool,
    /// Databases that never replicate.
    #[serde(default)]
    pub exclude: Vec<String>,
}

fn default_databases() -> Vec<String> {
    vec!["MOST".into()]
}
fn default_true() -> bool {
    true
}

impl Default for ReplicateConfig {
    fn default() -> Self {
        Self {
            databases: default_databases(),
            new_databases: true,
            exclude: Vec::new(),
        }
    }
}

impl ReplicateConfig {
    /// Whether changes to `schema` replicate. System schemas never do.
    pub fn replicates(&self, schema: &str) -> bool {
        if is_system_schema(schema) || self.exclude.iter().any(|e| e == schema) {
            return false;
        }
        self.new_databases || self.databases.iter().any(|d| d == schema)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(d) = self.databases.iter().find(|d| is_system_schema(d)) {
            return Err(invalid(
                "replicate.databases",
                format!("lists the system schema {d:?}, which never replicates"),
            ));
        }
        Ok(())
    }
}

/// The hub's network side.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HubSection {
    /// Address agents connect to.
    #[serde(default = "default_hub_listen")]
    pub listen: SocketAddr,
    /// Address of the HTTP status endpoint (`/status`, `/metrics`, `/health`).
    #[serde(default = "default_http_listen")]
    pub http_listen: SocketAddr,
    /// Shared secret of the cluster (at least 16 characters); `STARSYNC_SECRET` overrides.
    #[serde(default)]
    pub secret: Secret,
    /// Interval of in-band heartbeats, in milliseconds (lag is measured with them).
    #[serde(default = "default_heartbeat_ms")]
    pub heartbeat_ms: u64,
    /// An agent that sends nothing for this long (it reports every 300 ms) is considered gone:
    /// its session ends (status: disconnected, with the reason) and its agent reconnects.
    #[serde(default = "default_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// Days the conflict log (`starsync.conflicts`) keeps a conflict; older ones are deleted at
    /// the hub's start and every 10 minutes. 0 keeps them all.
    #[serde(default = "default_conflict_log_days")]
    pub conflict_log_days: u32,
    /// Token the HTTP endpoint asks for (`Authorization: Bearer …`) on every path but `/health`;
    /// empty: no login (keep `http_listen` on localhost then). `STARSYNC_HTTP_TOKEN` overrides.
    #[serde(default)]
    pub http_token: Secret,
    /// PEM certificate (chain, the hub's first) for TLS on `listen`; with `tls_key`, the hub
    /// takes TLS connections only (see [`crate::wire::tls`]).
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Seconds between the hub's own verifications (`/verify` of every replicated table on
    /// every connected node, as `master-admin verify` runs it); a table that differs is WARNed,
    /// shown in `/status` (`hub.last_verify`) and by `master-admin status`. 0: never. Each one
    /// reads every table on every node (`CHECKSUM TABLE`): on big databases, keep it daily.
    #[serde(default)]
    pub verify_every_secs: u64,
}

fn default_conflict_log_days() -> u32 {
    90
}
fn default_hub_listen() -> SocketAddr {
    "0.0.0.0:4500".parse().unwrap()
}
fn default_http_listen() -> SocketAddr {
    "127.0.0.1:4580".parse().unwrap()
}
fn default_heartbeat_ms() -> u64 {
    250
}
fn default_idle_timeout_ms() -> u64 {
    15_000
}
/// The smallest idle timeout accepted: several of the peers' heartbeat and report intervals.
const MIN_IDLE_TIMEOUT_MS: u64 = 2_000;

/// The agent's network side.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSection {
    /// The hub's address, `host:port`.
    pub hub: String,
    /// Address of the agent's local status endpoint (used by snap-cli).
    #[serde(default = "default_agent_status")]
    pub status_listen: SocketAddr,
    /// Shared secret of the cluster; `STARSYNC_SECRET` overrides.
    #[serde(default)]
    pub secret: Secret,
    /// Longest wait between reconnect attempts, in milliseconds.
    #[serde(default = "default_reconnect_max_ms")]
    pub reconnect_max_ms: u64,
    /// A hub that sends nothing for this long (it sends heartbeats every `hub.heartbeat_ms`) is
    /// considered gone (hung, or the network path dropped): the session ends and the agent
    /// reconnects. Keep it well above the hub's `heartbeat_ms`.
    #[serde(default = "default_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// PEM certificate(s) of the CA that signed the hub's certificate: the agent then connects
    /// with TLS and refuses a hub whose certificate does not check out.
    #[serde(default)]
    pub tls_ca: Option<PathBuf>,
    /// The name the hub's certificate carries, when it is not the host of `hub`.
    #[serde(default)]
    pub tls_server_name: Option<String>,
}

fn default_agent_status() -> SocketAddr {
    "127.0.0.1:4581".parse().unwrap()
}
fn default_reconnect_max_ms() -> u64 {
    5_000
}

/// The hub's configuration file (`replicator hub --config hub.toml`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    pub node: NodeConfig,
    pub mariadb: MariaDbConfig,
    pub hub: HubSection,
    #[serde(default)]
    pub replicate: ReplicateConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
}

/// An agent's configuration file (`replicator agent --config agent.toml`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    pub node: NodeConfig,
    pub mariadb: MariaDbConfig,
    pub agent: AgentSection,
    #[serde(default)]
    pub limits: LimitsConfig,
}

/// Either configuration, as `replicator check` reads it.
#[derive(Debug, Clone)]
pub enum AnyConfig {
    Hub(HubConfig),
    Agent(AgentConfig),
}

impl AnyConfig {
    pub fn node(&self) -> &NodeConfig {
        match self {
            AnyConfig::Hub(c) => &c.node,
            AnyConfig::Agent(c) => &c.node,
        }
    }
    pub fn mariadb(&self) -> &MariaDbConfig {
        match self {
            AnyConfig::Hub(c) => &c.mariadb,
            AnyConfig::Agent(c) => &c.mariadb,
        }
    }

    /// Loads a hub or agent file, telling them apart by their `[hub]` / `[agent]` section.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = read(path)?;
        let value: toml::Table = toml::from_str(&text).map_err(|e| parse_err(path, e))?;
        match (value.contains_key("hub"), value.contains_key("agent")) {
            (true, false) => HubConfig::from_toml(path, &text).map(AnyConfig::Hub),
            (false, true) => AgentConfig::from_toml(path, &text).map(AnyConfig::Agent),
            _ => Err(ConfigError::Parse {
                path: path.to_owned(),
                message: "it needs exactly one of the sections [hub] or [agent]".into(),
            }),
        }
    }
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

fn parse_err(path: &Path, e: toml::de::Error) -> ConfigError {
    ConfigError::Parse {
        path: path.to_owned(),
        message: e.to_string().trim_end().to_owned(),
    }
}

fn env_override(secret: &mut Secret, var: &str) {
    if let Ok(v) = std::env::var(var) {
        if !v.is_empty() {
            *secret = Secret::new(v);
        }
    }
}

fn validate_node(n: &NodeConfig) -> Result<(), ConfigError> {
    if n.name.is_empty()
        || n.name.len() > 64
        || !n
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(invalid(
            "node.name",
            format!("is {:?}: use 1 to 64 letters, digits, '-' or '_'", n.name),
        ));
    }
    if n.server_id == 0 {
        return Err(invalid(
            "node.server_id",
            "is 0: MariaDB refuses replication with server_id 0; give every node its own id",
        ));
    }
    Ok(())
}

fn validate_secret(field: &'static str, s: &Secret) -> Result<(), ConfigError> {
    if s.expose().chars().count() < 16 {
        return Err(invalid(
            field,
            format!("must hold at least 16 characters (set it in the file or in {SECRET_ENV})"),
        ));
    }
    Ok(())
}

impl HubConfig {
    /// Reads, applies environment overrides and validates.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::from_toml(path, &read(path)?)
    }

    fn from_toml(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let mut c: Self = toml::from_str(text).map_err(|e| parse_err(path, e))?;
        env_override(&mut c.hub.secret, SECRET_ENV);
        env_override(&mut c.hub.http_token, HTTP_TOKEN_ENV);
        env_override(&mut c.mariadb.password, DB_PASSWORD_ENV);
        c.validate()?;
        Ok(c)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_node(&self.node)?;
        self.mariadb.validate()?;
        self.limits.validate()?;
        self.replicate.validate()?;
        validate_secret("hub.secret", &self.hub.secret)?;
        let token = self.hub.http_token.expose();
        if !token.is_empty() && (token.chars().count() < 16 || token.contains(char::is_whitespace))
        {
            return Err(invalid(
                "hub.http_token",
                format!(
                    "must hold at least 16 characters and no spaces (set it in the file or in \
                     {HTTP_TOKEN_ENV}; empty: the HTTP endpoint has no login)"
                ),
            ));
        }
        if self.hub.heartbeat_ms == 0 {
            return Err(invalid("hub.heartbeat_ms", "must be at least 1"));
        }
        validate_idle("hub.idle_timeout_ms", self.hub.idle_timeout_ms)?;
        match (&self.hub.tls_cert, &self.hub.tls_key) {
            (Some(_), None) => {
                return Err(invalid(
                    "hub.tls_key",
                    "is missing: hub.tls_cert is set, and TLS needs the certificate's private key",
                ))
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "hub.tls_cert",
                    "is missing: hub.tls_key is set, and TLS needs the certificate too",
                ))
            }
            _ => {}
        }
        Ok(())
    }
}

impl AgentConfig {
    /// Reads, applies environment overrides and validates.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::from_toml(path, &read(path)?)
    }

    fn from_toml(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let mut c: Self = toml::from_str(text).map_err(|e| parse_err(path, e))?;
        env_override(&mut c.agent.secret, SECRET_ENV);
        env_override(&mut c.mariadb.password, DB_PASSWORD_ENV);
        c.validate()?;
        Ok(c)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_node(&self.node)?;
        self.mariadb.validate()?;
        self.limits.validate()?;
        validate_secret("agent.secret", &self.agent.secret)?;
        match self.agent.hub.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {}
            _ => {
                return Err(invalid(
                    "agent.hub",
                    format!(
                        "is {:?}: expected host:port of the hub, e.g. \"master.example:4500\"",
                        self.agent.hub
                    ),
                ))
            }
        }
        if self.agent.reconnect_max_ms < 100 {
            return Err(invalid("agent.reconnect_max_ms", "must be at least 100"));
        }
        validate_idle("agent.idle_timeout_ms", self.agent.idle_timeout_ms)?;
        if self.agent.tls_server_name.is_some() && self.agent.tls_ca.is_none() {
            return Err(invalid(
                "agent.tls_server_name",
                "is set without agent.tls_ca: set tls_ca (the CA that signed the hub's \
                 certificate) to connect with TLS",
            ));
        }
        Ok(())
    }
}

fn validate_idle(key: &'static str, ms: u64) -> Result<(), ConfigError> {
    if ms < MIN_IDLE_TIMEOUT_MS {
        return Err(invalid(
            key,
            format!(
                "is {ms}: must be at least {MIN_IDLE_TIMEOUT_MS} (several heartbeat intervals; \
                 the default is {})",
                default_idle_timeout_ms()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HUB: &str = r#"
[node]
name = "master"
server_id = 1
domain_id = 1

[mariadb]
port = 3307
password = "pw"

[hub]
listen = "127.0.0.1:4500"
secret = "0123456789abcdef"
"#;

    fn hub(text: &str) -> Result<HubConfig, ConfigError> {
        HubConfig::from_toml(Path::new("hub.toml"), text)
    }

    #[test]
    fn hub_defaults() {
        let c = hub(HUB).unwrap();
        assert_eq!(c.mariadb.host, "127.0.0.1");
        assert_eq!(c.mariadb.user, "starsync_repl");
        assert_eq!(c.limits.max_frame_bytes, 64 << 20);
        assert!(c.replicate.replicates("MOST"));
        assert!(c.replicate.replicates("shop"));
        assert!(!c.replicate.replicates("mysql"));
        assert!(!c.replicate.replicates("starsync"));
    }

    #[test]
    fn worker_threads_default_by_role() {
        let c = hub(HUB).unwrap();
        assert_eq!(c.limits.runtime_threads(Some(1)), Some(1));
        let c = hub(&format!("{HUB}\n[limits]\nworker_threads = 0\n")).unwrap();
        assert_eq!(c.limits.runtime_threads(Some(1)), None, "0: one per core");
        let c = hub(&format!("{HUB}\n[limits]\nworker_threads = 3\n")).unwrap();
        assert_eq!(c.limits.runtime_threads(None), Some(3));
    }

    #[test]
    fn secrets_are_redacted() {
        let c = hub(HUB).unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("0123456789abcdef"), "{dbg}");
        assert!(!dbg.contains("\"pw\""), "{dbg}");
    }

    #[test]
    fn unknown_field_is_named() {
        let text = HUB.replace("port = 3307", "prot = 3307");
        let err = hub(&text).unwrap_err().to_string();
        assert!(err.contains("prot"), "{err}");
    }

    #[test]
    fn validation_names_the_field() {
        let err = hub(&HUB.replace("0123456789abcdef", "short"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("hub.secret"), "{err}");
        let err = hub(&HUB.replace("server_id = 1", "server_id = 0"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("node.server_id"), "{err}");
        let err = hub(&HUB.replace("\"master\"", "\"ma ster\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("node.name"), "{err}");
    }

    const AGENT: &str = r#"
[node]
name = "snap1"
server_id = 2
domain_id = 2
[mariadb]
[agent]
hub = "master:4500"
secret = "0123456789abcdef"
"#;

    fn agent(text: &str) -> Result<AgentConfig, ConfigError> {
        AgentConfig::from_toml(Path::new("a.toml"), text)
    }

    #[test]
    fn agent_hub_address_is_checked() {
        let err = agent(&AGENT.replace("\"master:4500\"", "\"nowhere\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("agent.hub"), "{err}");
        agent(AGENT).unwrap();
    }

    #[test]
    fn tls_settings_come_in_pairs_and_name_the_hub() {
        let one = |line: &str| HUB.replace("[hub]\n", &format!("[hub]\n{line}\n"));
        let err = hub(&one("tls_cert = \"hub.pem\"")).unwrap_err().to_string();
        assert!(
            err.contains("hub.tls_key") && err.contains("is missing"),
            "{err}"
        );
        let err = hub(&one("tls_key = \"hub.key\"")).unwrap_err().to_string();
        assert!(
            err.contains("hub.tls_cert") && err.contains("is missing"),
            "{err}"
        );
        let both = hub(&one("tls_cert = \"hub.pem\"\ntls_key = \"hub.key\"")).unwrap();
        assert_eq!(both.hub.tls_cert.as_deref(), Some(Path::new("hub.pem")));

        let with = |lines: &str| AGENT.replace("[agent]\n", &format!("[agent]\n{lines}\n"));
        let err = agent(&with("tls_server_name = \"hub.example\""))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("agent.tls_server_name") && err.contains("tls_ca"),
            "{err}"
        );
        // The name checked: the hub's host, or the name given; an IPv6 address without brackets.
        let name = |lines: &str, hub: &str| {
            let c = agent(&with(lines).replace("master:4500", hub)).unwrap();
            crate::wire::tls::server_name(&c.agent).map(|n| n.to_str().into_owned())
        };
        assert_eq!(
            name("tls_ca = \"ca.pem\"", "master:4500").unwrap(),
            "master"
        );
        assert_eq!(
            name("tls_ca = \"ca.pem\"", "10.0.0.5:4500").unwrap(),
            "10.0.0.5"
        );
        assert_eq!(name("tls_ca = \"ca.pem\"", "[::1]:4500").unwrap(), "::1");
        let given = "tls_ca = \"ca.pem\"\ntls_server_name = \"hub.example\"";
        assert_eq!(name(given, "10.0.0.5:4500").unwrap(), "hub.example");
        let err = name(
            "tls_ca = \"ca.pem\"\ntls_server_name = \"bad name!\"",
            "m:1",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("agent.tls_server_name"), "{err}");
    }

    #[test]
    fn an_http_token_is_long_enough_or_empty() {
        assert!(hub(HUB).unwrap().hub.http_token.is_empty());
        let with = |t: &str| HUB.replace("[hub]\n", &format!("[hub]\nhttp_token = \"{t}\"\n"));
        let err = hub(&with("short")).unwrap_err().to_string();
        assert!(
            err.contains("hub.http_token") && err.contains("16"),
            "{err}"
        );
        let err = hub(&with("has spaces in it 0123")).unwrap_err().to_string();
        assert!(err.contains("hub.http_token"), "{err}");
        let c = hub(&with("0123456789abcdef-token")).unwrap();
        assert_eq!(c.hub.http_token.expose(), "0123456789abcdef-token");
    }

    #[test]
    fn idle_timeouts_default_and_are_checked() {
        assert_eq!(hub(HUB).unwrap().hub.idle_timeout_ms, 15_000);
        let short = HUB.replace("[hub]\n", "[hub]\nidle_timeout_ms = 500\n");
        let err = hub(&short).unwrap_err().to_string();
        assert!(
            err.contains("hub.idle_timeout_ms") && err.contains("at least 2000"),
            "{err}"
        );
        assert_eq!(agent(AGENT).unwrap().agent.idle_timeout_ms, 15_000);
        let err = agent(&format!("{AGENT}idle_timeout_ms = 10\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("agent.idle_timeout_ms"), "{err}");
    }
}
