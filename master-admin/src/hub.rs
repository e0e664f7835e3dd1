//! The hub's HTTP endpoint: `/status` and `/verify`, read into typed documents.
//!
//! The hub writes `/status` from `replicator::hub::status::StatusDoc` (schema in that module's
//! docs). The types here mirror it for reading and are tolerant: a field the hub adds later is
//! ignored, a field it drops gets its default, so master-admin and the hub can be upgraded one at
//! a time. GTID positions are parsed into [`GtidPos`] at this edge.
//!
//! `/verify` asks the hub to checksum every replicated table on every node at one common GTID
//! position; the hub does the coordination and answers with a [`VerifyDoc`].

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use replicator::gtid::GtidPos;
use serde::{Deserialize, Deserializer};

use crate::error::{Error, Result};

/// How long `/status` may take.
pub const STATUS_TIMEOUT: Duration = Duration::from_secs(5);

/// The hub's HTTP endpoint.
#[derive(Debug, Clone)]
pub struct Hub {
    pub addr: String,
    /// Its `[hub] http_token`, sent as bearer token when not empty.
    token: crate::config::Secret,
}

impl Hub {
    pub fn new(addr: impl Into<String>) -> Self {
        Self {
            addr: addr.into(),
            token: Default::default(),
        }
    }

    /// Sends `token` with every request (none when empty).
    pub fn with_token(mut self, token: &crate::config::Secret) -> Self {
        self.token = token.clone();
        self
    }

    /// `GET path`: the body of a 200 answer, or the error that says what to check.
    pub async fn get(&self, path: &'static str, timeout: Duration) -> Result<String> {
        self.call("GET", path, path, timeout).await
    }

    /// `POST path` (no body; parameters in the query), `name` being the endpoint for messages:
    /// the body of a 200 answer, or the error that says what to check.
    pub async fn post(&self, path: &str, name: &'static str, timeout: Duration) -> Result<String> {
        self.call("POST", path, name, timeout).await
    }

    /// `method path`: the body of a 200 answer, or the error that says what to check. The hub's
    /// 409 (a request it cannot do as asked: a table or snap it does not know) is a refusal.
    async fn call(
        &self,
        method: &str,
        path: &str,
        name: &'static str,
        timeout: Duration,
    ) -> Result<String> {
        let token = Some(self.token.expose()).filter(|t| !t.is_empty());
        let (status, body) = replicator::http::request(&self.addr, method, path, timeout, token)
            .await
            .map_err(|cause| Error::HubUnreachable {
                addr: self.addr.clone(),
                cause,
            })?;
        match status {
            200 => Ok(body),
            409 => Err(Error::Refused(body.trim().to_owned())),
            0 => Err(Error::HubUnreachable {
                addr: self.addr.clone(),
                cause: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "the answer is not HTTP: is this the hub's http_listen address, not its \
                     agent port?",
                ),
            }),
            _ => Err(Error::HubStatus {
                addr: self.addr.clone(),
                path: name,
                status,
                body: body.trim().to_owned(),
            }),
        }
    }

    /// `GET path` parsed as JSON into `T`, plus the document as pretty JSON text (for `--json`):
    /// the hub's own text when it is already pretty, so its field order is kept.
    pub async fn get_doc<T: serde::de::DeserializeOwned>(
        &self,
        path: &'static str,
        timeout: Duration,
    ) -> Result<(T, String)> {
        self.get_doc_at(path, path, timeout).await
    }

    /// [`Hub::get_doc`] of `path` with a query string, `name` being the endpoint for messages.
    pub async fn get_doc_at<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        name: &'static str,
        timeout: Duration,
    ) -> Result<(T, String)> {
        let body = self.call("GET", path, name, timeout).await?;
        let path = name;
        let decode = |problem: String| Error::HubDecode {
            addr: self.addr.clone(),
            path,
            problem,
        };
        let value: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| decode(e.to_string()))?;
        let doc = T::deserialize(&value).map_err(|e| decode(e.to_string()))?;
        let pretty = if body.trim().contains('\n') {
            body.trim().to_owned()
        } else {
            serde_json::to_string_pretty(&value).unwrap_or(body)
        };
        Ok((doc, pretty))
    }

    /// The hub's `/status`.
    pub async fn status(&self) -> Result<(StatusDoc, String)> {
        self.get_doc("/status", STATUS_TIMEOUT).await
    }
}

/// A GTID position sent as MariaDB's text (`"1-1-5,2-2-9"`); `null` reads as empty.
fn gtid_pos<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<GtidPos, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    s.unwrap_or_default()
        .parse()
        .map_err(serde::de::Error::custom)
}

fn opt_gtid_pos<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<GtidPos>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    s.map(|s| s.parse().map_err(serde::de::Error::custom))
        .transpose()
}

/// The hub's `/status` document.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct StatusDoc {
    pub hub: HubInfo,
    pub nodes: Vec<NodeInfo>,
    pub conflicts_total: u64,
}

/// The hub itself and the master it runs next to.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct HubInfo {
    /// The master's node name.
    pub node: String,
    /// The master's `server_id`: `init` and the drop commands compare it with the server they
    /// are connected to.
    pub server_id: u32,
    pub domain_id: u32,
    #[serde(deserialize_with = "gtid_pos")]
    pub gtid_binlog_pos: GtidPos,
    pub started_at: String,
    pub version: String,
    /// Whether the master's database answers the hub.
    pub master_ok: bool,
    /// When the hub's TLS certificate expires (RFC 3339); `None` without TLS.
    pub tls_expires_at: Option<String>,
    /// The last of the hub's own verifications that compared the nodes (`[hub]
    /// verify_every_secs`); `None` before the first, or when they are off.
    pub last_verify: Option<LastVerify>,
}

/// What the hub's last own verification found.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LastVerify {
    pub at: String,
    pub position: String,
    pub differences: Vec<DifferingTable>,
    pub missing: Vec<String>,
}

/// A table that differs from the master's on one node.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DifferingTable {
    pub table: String,
    pub node: String,
}

impl Default for HubInfo {
    fn default() -> Self {
        Self {
            node: String::new(),
            server_id: 0,
            domain_id: 0,
            gtid_binlog_pos: GtidPos::new(),
            started_at: String::new(),
            version: String::new(),
            master_ok: true,
            tls_expires_at: None,
            last_verify: None,
        }
    }
}

/// One node (the master or a snap) as the hub sees it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NodeInfo {
    pub name: String,
    pub role: String,
    pub server_id: u32,
    pub domain_id: u32,
    pub connected: bool,
    /// Loading its initial snapshot.
    pub syncing: bool,
    pub connected_since: Option<String>,
    pub disconnected_since: Option<String>,
    pub address: String,
    /// Its session with the hub runs in TLS.
    pub tls: bool,
    #[serde(deserialize_with = "gtid_pos")]
    pub gtid_pos: GtidPos,
    pub txns_behind: u64,
    pub lag_ms: Option<u64>,
    pub capture_lag_ms: Option<u64>,
    pub txn_per_sec: f64,
    pub rows_per_sec: f64,
    pub bytes_queued: u64,
    pub conflicts: u64,
    pub ddl_drift: u64,
    pub last_ddl_drift: Option<String>,
    /// Master DDL statements that failed on this snap since its agent started.
    pub ddl_failed: u64,
    pub last_ddl_failed: Option<String>,
    /// Why the snap refuses local writes right now (`None`: it takes them).
    pub writes_held: Option<String>,
    /// A repair of one of its tables while it runs: the table and how far.
    pub repair: Option<String>,
    pub last_error: Option<String>,
    /// The node's `max_allowed_packet` (hubs before it was reported: absent).
    pub max_allowed_packet: Option<u64>,
    pub ingested_txns: u64,
    pub applied_txns: u64,
    pub applied_rows: u64,
    /// Snaps: the oldest position of the master's binlog the snap still needs (`None`: not
    /// known yet, or a hub that does not say).
    #[serde(deserialize_with = "opt_gtid_pos")]
    pub needs_from: Option<GtidPos>,
    /// The snap's position is no longer in the master's binlog (it needs a resync).
    pub needs_resync: bool,
}

/// A table checksum as the hub sends it (a number; shown as sent, never computed with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum(pub String);

impl<'de> Deserialize<'de> for Checksum {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(Checksum(s)),
            serde_json::Value::Number(n) => Ok(Checksum(n.to_string())),
            other => Err(serde::de::Error::custom(format!(
                "a checksum must be a number, not {other}"
            ))),
        }
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The hub's `/verify` answer.
#[derive(Debug, Clone, Deserialize)]
pub struct VerifyDoc {
    /// True only when there are no differences and no node is missing.
    pub equal: bool,
    /// The common position every node checksummed at.
    #[serde(deserialize_with = "gtid_pos")]
    pub master_pos: GtidPos,
    #[serde(default)]
    pub nodes: Vec<VerifyNode>,
    #[serde(default)]
    pub differences: Vec<Difference>,
    /// Nodes that are disconnected or did not answer.
    #[serde(default)]
    pub missing: Vec<String>,
}

/// One node's checksums.
#[derive(Debug, Clone, Deserialize)]
pub struct VerifyNode {
    pub name: String,
    #[serde(default, deserialize_with = "opt_gtid_pos")]
    pub gtid_pos: Option<GtidPos>,
    /// Checksum by quoted table name (`` `MOST`.`t` ``).
    #[serde(default)]
    pub tables: BTreeMap<String, Option<Checksum>>,
    #[serde(default)]
    pub error: Option<String>,
}

/// A table whose checksum on a node is not the master's.
#[derive(Debug, Clone, Deserialize)]
pub struct Difference {
    pub table: String,
    pub node: String,
    /// The master's checksum.
    pub expected: Option<Checksum>,
    /// The node's checksum; `None` when the table is missing there.
    pub actual: Option<Checksum>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_doc_reads_the_hubs_schema_and_tolerates_changes() {
        let json = r#"{"hub": {"node": "master", "server_id": 1, "domain_id": 1,
            "gtid_binlog_pos": "1-1-5,2-2-3", "started_at": "2024-01-01T00:00:00.000Z",
            "version": "0.1.0", "master_ok": true, "new_field": 1},
          "nodes": [{"name": "snap1", "role": "snap", "connected": false,
            "gtid_pos": "1-1-4", "lag_ms": null, "txn_per_sec": 1.5}],
          "conflicts_total": 2}"#;
        let doc: StatusDoc = serde_json::from_str(json).unwrap();
        assert_eq!(doc.hub.gtid_binlog_pos.to_string(), "1-1-5,2-2-3");
        assert_eq!(doc.nodes[0].gtid_pos.to_string(), "1-1-4");
        assert!(!doc.nodes[0].connected);
        assert_eq!(doc.nodes[0].lag_ms, None);
        assert_eq!(doc.conflicts_total, 2);
        assert!(serde_json::from_str::<StatusDoc>(r#"{"nodes": [{"gtid_pos": "x"}]}"#).is_err());
    }

    #[test]
    fn verify_doc_reads_the_contract() {
        let json = r#"{"equal": false, "master_pos": "1-1-5",
          "nodes": [{"name": "master", "gtid_pos": "1-1-5", "tables": {"`MOST`.`t`": 123},
                     "error": null},
                    {"name": "snap2", "gtid_pos": null, "tables": {}, "error": "timeout"}],
          "differences": [{"table": "`MOST`.`t`", "node": "snap1", "expected": 123,
                           "actual": null}],
          "missing": ["snap2"]}"#;
        let doc: VerifyDoc = serde_json::from_str(json).unwrap();
        assert!(!doc.equal);
        assert_eq!(
            doc.nodes[0].tables["`MOST`.`t`"],
            Some(Checksum("123".into()))
        );
        assert_eq!(doc.nodes[1].gtid_pos, None);
        assert_eq!(doc.differences[0].actual, None);
        assert_eq!(doc.missing, vec!["snap2"]);
    }

    #[tokio::test]
    async fn unreachable_hub_is_a_transient_error_naming_the_address() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let e = Hub::new(&addr).status().await.unwrap_err();
        assert!(matches!(e, Error::HubUnreachable { .. }), "{e:?}");
        assert!(e.to_string().contains(&addr));
    }
}
