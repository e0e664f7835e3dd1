//! Messages between agents and the hub.
//!
//! # Session
//! 1. agent → `Hello` (protocol version, node name, server id, domain, nonce)
//! 2. hub → `Challenge` (its version and name, its nonce) — or `Refused`
//! 3. agent → `Auth` (HMAC-SHA256 of both nonces under the shared secret)
//! 4. hub → `Welcome` (its own proof, so the agent knows the hub holds the secret too, the
//!    master's position, what replicates) — or `Refused`
//! 5. agent → `Subscribe` (its position and echo position: where fan-out starts)
//!
//! Then both directions stream: the agent sends its captured transactions (`Txn`) and capture
//! heartbeats; the hub answers with cumulative `Ack`s after commit. The hub sends the master's
//! binlog (`Txn`) with heartbeats between transactions; the agent answers `HeartbeatAck` after
//! applying everything before them. The secret itself never travels.

use serde::{Deserialize, Serialize};

use crate::config::ReplicateConfig;
use crate::gtid::{Gtid, GtidPos};
use crate::model::TxnItem;

/// The protocol version this build speaks (also the change-format version).
pub const PROTOCOL_VERSION: u32 = crate::model::FORMAT_VERSION;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    #[serde(rename = "v")]
    pub version: u32,
    #[serde(rename = "n")]
    pub node: String,
    #[serde(rename = "s")]
    pub server_id: u32,
    #[serde(rename = "d")]
    pub domain_id: u32,
    #[serde(rename = "x", with = "serde_bytes")]
    pub nonce: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Challenge {
    #[serde(rename = "v")]
    pub version: u32,
    #[serde(rename = "n")]
    pub hub: String,
    #[serde(rename = "x", with = "serde_bytes")]
    pub nonce: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    /// The hub's proof that it knows the secret.
    #[serde(rename = "p", with = "serde_bytes")]
    pub proof: Vec<u8>,
    /// The master's `gtid_binlog_pos` now (its entry for the agent's domain is where capture
    /// resumes).
    #[serde(rename = "m")]
    pub master_pos: GtidPos,
    /// Which databases replicate (the agent drops other rows at capture).
    #[serde(rename = "r")]
    pub replicate: ReplicateConfig,
    /// The master's server id and domain.
    #[serde(rename = "s")]
    pub master_server_id: u32,
    #[serde(rename = "d")]
    pub master_domain_id: u32,
    /// The master's [`crate::check::SCHEMA_SETTINGS`] (absent from older hubs).
    #[serde(rename = "g", default)]
    pub settings: Vec<(String, String)>,
}

/// What an agent reports about itself, every second or so.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentReport {
    /// The snap's `gtid_binlog_pos`.
    #[serde(rename = "p")]
    pub pos: GtidPos,
    /// Own transactions captured but not yet acknowledged by the hub.
    #[serde(rename = "q")]
    pub pending_own: u64,
    /// Milliseconds from a local commit to the hub's acknowledgement (last measured).
    #[serde(rename = "c")]
    pub capture_lag_ms: Option<u64>,
    /// Bytes waiting to be applied on the snap.
    #[serde(rename = "b")]
    pub bytes_queued: u64,
    /// DDL executed locally on the snap (not replicated) so far.
    #[serde(rename = "x")]
    pub ddl_drift: u64,
    /// The last error the agent met, if any.
    #[serde(rename = "e")]
    pub last_error: Option<String>,
    /// The snap's `max_allowed_packet` (0: unknown).
    #[serde(rename = "k", default)]
    pub max_allowed_packet: u64,
    /// The last own transaction whose echo was applied on the snap (its echo position).
    #[serde(rename = "o", default)]
    pub echo: GtidPos,
    /// Master DDL statements that failed on the snap since its agent started: its schema
    /// differs from the master's until a DBA mends it.
    #[serde(rename = "f", default)]
    pub ddl_failed: u64,
    /// The last of them, with the server's error.
    #[serde(rename = "g", default)]
    pub last_ddl_failed: Option<String>,
    /// Why the snap refuses local writes (`read_only`) right now, if it does.
    #[serde(rename = "w", default)]
    pub writes_held: Option<String>,
    /// A repair of one of its tables while it runs: the table and how far.
    #[serde(rename = "r", default)]
    pub repair: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Message {
    #[serde(rename = "hello")]
    Hello(Hello),
    #[serde(rename = "chal")]
    Challenge(Challenge),
    #[serde(rename = "auth")]
    Auth {
        #[serde(rename = "p", with = "serde_bytes")]
        proof: Vec<u8>,
    },
    #[serde(rename = "welcome")]
    Welcome(Welcome),
    #[serde(rename = "refused")]
    Refused { reason: String },
    #[serde(rename = "sub")]
    Subscribe {
        #[serde(rename = "p")]
        pos: GtidPos,
        #[serde(rename = "e")]
        echo: GtidPos,
    },
    /// A transaction item (agent → hub: captured; hub → agent: fan-out).
    #[serde(rename = "t")]
    Txn(TxnItem),
    /// Cumulative: every transaction of the agent's domain up to `gtid` is committed on the master.
    #[serde(rename = "ack")]
    Ack { gtid: Gtid },
    /// Everything before this in the stream was committed at or before `ts_us` (µs since epoch,
    /// sender's clock).
    #[serde(rename = "hb")]
    Heartbeat { id: u64, ts_us: u64 },
    /// The receiver has applied everything before heartbeat `id`.
    #[serde(rename = "hba")]
    HeartbeatAck { id: u64, ts_us: u64 },
    #[serde(rename = "st")]
    Report(AgentReport),
    /// Hub → agent, about once a second: the agent's lag as the hub measured it.
    #[serde(rename = "lag")]
    Lag {
        #[serde(rename = "l")]
        lag_ms: Option<u64>,
        #[serde(rename = "b")]
        behind: u64,
    },
    /// Hub → agent: checksum these tables in a consistent snapshot.
    #[serde(rename = "vreq")]
    VerifyRequest { id: u64, tables: Vec<String> },
    /// Agent → hub: the snapshot's position and the checksums (`None`: no such table).
    #[serde(rename = "vres")]
    VerifyResult {
        id: u64,
        pos: GtidPos,
        sums: Vec<(String, Option<i64>)>,
        error: Option<String>,
    },
    /// Agent → hub, instead of `Subscribe`: send me a snapshot first.
    #[serde(rename = "snapreq")]
    SnapshotRequest,
    #[serde(rename = "snapbeg")]
    SnapshotBegin(crate::snapshot::SnapshotBegin),
    #[serde(rename = "snaprows")]
    SnapshotRows(crate::model::RowsChunk),
    #[serde(rename = "snapend")]
    SnapshotEnd(crate::snapshot::SnapshotEnd),
    /// Hub → agent, in the fan-out stream between two transactions: the master's rows of one
    /// table at this point of the stream follow ([`crate::repair`]).
    #[serde(rename = "rbeg")]
    RepairBegin(crate::repair::RepairBegin),
    #[serde(rename = "rrows")]
    RepairRows(crate::model::RowsChunk),
    #[serde(rename = "rend")]
    RepairEnd(crate::repair::RepairEnd),
    /// Agent → hub: what the repair did.
    #[serde(rename = "rres")]
    RepairResult(crate::repair::RepairReport),
    /// The sender is closing the session because of this.
    #[serde(rename = "err")]
    Error { message: String },
    /// Hub → agent: the master's changes cannot be sent to this snap (its position is no longer
    /// in the master's binlog) until it is resynced; the session goes on for its own changes.
    #[serde(rename = "fstop")]
    FanoutStopped { message: String },
}

impl Message {
    /// Short name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Hello(_) => "hello",
            Message::Challenge(_) => "challenge",
            Message::Auth { .. } => "auth",
            Message::Welcome(_) => "welcome",
            Message::Refused { .. } => "refused",
            Message::Subscribe { .. } => "subscribe",
            Message::Txn(_) => "txn",
            Message::Ack { .. } => "ack",
            Message::Heartbeat { .. } => "heartbeat",
            Message::HeartbeatAck { .. } => "heartbeat-ack",
            Message::Report(_) => "report",
            Message::Lag { .. } => "lag",
            Message::VerifyRequest { .. } => "verify-request",
            Message::SnapshotRequest => "snapshot-request",
            Message::SnapshotBegin(_) => "snapshot-begin",
            Message::SnapshotRows(_) => "snapshot-rows",
            Message::SnapshotEnd(_) => "snapshot-end",
            Message::VerifyResult { .. } => "verify-result",
            Message::RepairBegin(_) => "repair-begin",
            Message::RepairRows(_) => "repair-rows",
            Message::RepairEnd(_) => "repair-end",
            Message::RepairResult(_) => "repair-result",
            Message::Error { .. } => "error",
            Message::FanoutStopped { .. } => "fanout-stopped",
        }
    }

    pub fn approx_bytes(&self) -> usize {
        match self {
            Message::Txn(t) => t.approx_bytes(),
            Message::RepairRows(c) => c.approx_bytes(),
            _ => 64,
        }
    }
}

/// Microseconds since the epoch, now.
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}
