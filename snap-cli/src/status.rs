//! The replicator status line: is the local agent connected, how far behind, how much is queued.
//!
//! The local `replicator agent` serves `GET /status` as JSON on a loopback address (default
//! `127.0.0.1:4581`). The client here is deliberately tiny — one HTTP/1.0 request over a tokio
//! `TcpStream`, the whole exchange bounded by a short timeout and a response size cap — because
//! it runs before every menu and must never make the menu wait or pull in an HTTP stack.
//!
//! Anything the agent sends is treated as untrusted text: fields are optional (the agent may
//! grow), and strings are made terminal-safe before they are printed.

use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::value::display_text;

/// How long the menu waits for the agent.
pub const TIMEOUT: Duration = Duration::from_millis(700);
/// Largest response read; a status document is a few hundred bytes.
const MAX_RESPONSE: usize = 64 * 1024;

/// The agent's `/status` document. Unknown fields are ignored: the agent may add some.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct AgentStatus {
    pub node: Option<String>,
    pub hub: Option<String>,
    #[serde(default)]
    pub connected: bool,
    pub connected_since: Option<String>,
    pub lag_ms: Option<u64>,
    pub pending_own_txns: Option<u64>,
    pub gtid_pos: Option<String>,
    pub last_error: Option<String>,
}

/// Why no status could be read.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("reading the answer: {0}")]
    Io(std::io::Error),
    #[error("answered {0}")]
    Http(String),
    #[error("the answer is not a status document: {0}")]
    Body(String),
}

impl StatusError {
    /// Nothing listens (or nothing answers): the agent is not running.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, StatusError::Connect(_) | StatusError::Timeout(_))
    }
}

/// Fetches the status from `addr` (`host:port`) within `timeout`.
pub async fn fetch(addr: &str, timeout: Duration) -> Result<AgentStatus, StatusError> {
    match tokio::time::timeout(timeout, fetch_inner(addr)).await {
        Ok(r) => r,
        Err(_) => Err(StatusError::Timeout(timeout)),
    }
}

async fn fetch_inner(addr: &str) -> Result<AgentStatus, StatusError> {
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(StatusError::Connect)?;
    let request = format!(
        "GET /status HTTP/1.0\r\nHost: {addr}\r\nAccept: application/json\r\n\
         User-Agent: snap-cli\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(StatusError::Io)?;
    let mut response = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.map_err(StatusError::Io)?;
        if n == 0 {
            break;
        }
        if response.len() + n > MAX_RESPONSE {
            return Err(StatusError::Body(format!(
                "larger than {MAX_RESPONSE} bytes"
            )));
        }
        response.extend_from_slice(&chunk[..n]);
    }
    parse_response(&response)
}

/// Parses a raw HTTP response carrying the status JSON.
pub fn parse_response(raw: &[u8]) -> Result<AgentStatus, StatusError> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| StatusError::Http("an incomplete HTTP response".into()))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut body = &raw[split + 4..];
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let code = status_line.split_whitespace().nth(1).unwrap_or_default();
    if !status_line.starts_with("HTTP/") || code != "200" {
        return Err(StatusError::Http(display_text(status_line)));
    }
    let mut chunked = false;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                if let Ok(n) = value.parse::<usize>() {
                    body = &body[..n.min(body.len())];
                }
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                && value.eq_ignore_ascii_case("chunked")
            {
                chunked = true;
            }
        }
    }
    let decoded;
    if chunked {
        decoded = dechunk(body)?;
        body = &decoded;
    }
    serde_json::from_slice(body).map_err(|e| StatusError::Body(e.to_string()))
}

/// Decodes `Transfer-Encoding: chunked` (a server may use it despite the HTTP/1.0 request).
fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, StatusError> {
    let bad = || StatusError::Body("broken chunked encoding".into());
    let mut out = Vec::new();
    loop {
        let eol = body.windows(2).position(|w| w == b"\r\n").ok_or_else(bad)?;
        let size_text = String::from_utf8_lossy(&body[..eol]);
        let size_hex = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| bad())?;
        body = &body[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size + 2 {
            return Err(bad());
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

/// `12 ms`, `3.4 s`, `5 min`.
fn lag(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms} ms"),
        1000..=59_999 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{} min", ms / 60_000),
    }
}

/// The line shown above the menu.
pub fn status_line(addr: &str, status: &Result<AgentStatus, StatusError>) -> String {
    let addr = display_text(addr);
    match status {
        Ok(s) => {
            let hub = display_text(s.hub.as_deref().unwrap_or("(unknown hub)"));
            if s.connected {
                let lag = s.lag_ms.map(lag).unwrap_or_else(|| "unknown".into());
                let pending = match s.pending_own_txns {
                    Some(1) => "1 local change on its way".to_owned(),
                    Some(n) => format!("{n} local changes on their way"),
                    None => "local changes: unknown".to_owned(),
                };
                format!("replicator: connected to hub {hub} · lag {lag} · {pending}")
            } else {
                let why = s
                    .last_error
                    .as_deref()
                    .map(|e| format!(" ({})", display_text(e)))
                    .unwrap_or_default();
                let pending = match s.pending_own_txns {
                    Some(n) if n > 0 => format!(" · {n} local changes waiting"),
                    _ => String::new(),
                };
                format!(
                    "replicator: NOT connected to hub {hub}{why}{pending} — your changes are saved \
                     locally and will replicate when it reconnects"
                )
            }
        }
        Err(e) if e.is_unreachable() => format!(
            "replicator: agent not reachable at {addr} — your changes are saved locally and will \
             replicate when it returns"
        ),
        Err(e) => format!(
            "replicator: cannot read the agent's status at {addr} ({}) — your changes are saved \
             locally",
            display_text(&e.to_string())
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    const SAMPLE: &str = r#"{"node":"snap1","hub":"127.0.0.1:4500","connected":true,"connected_since":"2026-11-26T14:00:00Z","lag_ms":12,"pending_own_txns":0,"gtid_pos":"1-1-5,2-2-9","last_error":null}"#;

    /// A stand-in agent: serves `response` to every connection, records the requests.
    async fn agent(response: String) -> (String, tokio::task::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let task = tokio::spawn(async move {
            let mut requests = Vec::new();
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 2048];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = sock.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            requests.push(String::from_utf8_lossy(&got).into_owned());
            sock.write_all(response.as_bytes()).await.unwrap();
            sock.shutdown().await.ok();
            requests
        });
        (addr, task)
    }

    #[tokio::test]
    async fn reads_status_from_a_real_http_server() {
        let (addr, task) = agent(format!(
            "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{SAMPLE}",
            SAMPLE.len()
        ))
        .await;
        let s = fetch(&addr, TIMEOUT).await.unwrap();
        assert!(s.connected);
        assert_eq!(s.hub.as_deref(), Some("127.0.0.1:4500"));
        assert_eq!(s.lag_ms, Some(12));
        let requests = task.await.unwrap();
        assert!(
            requests[0].starts_with("GET /status HTTP/1.0\r\n"),
            "{requests:?}"
        );
        assert_eq!(
            status_line(&addr, &Ok(s)),
            "replicator: connected to hub 127.0.0.1:4500 · lag 12 ms · 0 local changes on their way"
        );
    }

    #[tokio::test]
    async fn chunked_answers_and_http_errors() {
        let body = r#"{"hub":"h:1","connected":false,"pending_own_txns":3,"last_error":"hub refused: bad secret"}"#;
        let (addr, _t) = agent(format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
            body.len()
        ))
        .await;
        let s = fetch(&addr, TIMEOUT).await.unwrap();
        assert!(!s.connected);
        let line = status_line(&addr, &Ok(s));
        assert!(
            line.starts_with("replicator: NOT connected to hub h:1 (hub refused: bad secret) · 3 local changes waiting"),
            "{line}"
        );
        let (addr, _t) = agent("HTTP/1.0 503 Service Unavailable\r\n\r\n".into()).await;
        let e = fetch(&addr, TIMEOUT).await.unwrap_err();
        assert!(!e.is_unreachable());
        assert!(status_line(&addr, &Err(e)).contains("503 Service Unavailable"));
        let (addr, _t) = agent("HTTP/1.0 200 OK\r\n\r\nnot json".into()).await;
        assert!(matches!(
            fetch(&addr, TIMEOUT).await,
            Err(StatusError::Body(_))
        ));
    }

    #[tokio::test]
    async fn unreachable_agent_says_changes_are_kept() {
        // Bind then drop: a port nothing listens on.
        let addr = {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap().to_string()
        };
        let e = fetch(&addr, TIMEOUT).await.unwrap_err();
        assert!(e.is_unreachable(), "{e}");
        assert_eq!(
            status_line(&addr, &Err(e)),
            format!(
                "replicator: agent not reachable at {addr} — your changes are saved locally and \
                 will replicate when it returns"
            )
        );
    }

    #[tokio::test]
    async fn a_silent_agent_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        // Accepts and never answers.
        let _t = tokio::spawn(async move {
            let (_sock, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        let started = std::time::Instant::now();
        let e = fetch(&addr, Duration::from_millis(200)).await.unwrap_err();
        assert!(matches!(e, StatusError::Timeout(_)), "{e}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn agent_text_is_made_terminal_safe() {
        let s = AgentStatus {
            hub: Some("evil\u{1b}[2J".into()),
            connected: true,
            lag_ms: Some(61_000),
            pending_own_txns: Some(1),
            ..AgentStatus::default()
        };
        assert_eq!(
            status_line("a:1", &Ok(s)),
            "replicator: connected to hub evil\\x1b[2J · lag 1 min · 1 local change on its way"
        );
    }
}
