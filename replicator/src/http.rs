//! A very small HTTP/1.1 server for status endpoints (`GET` only, `Connection: close`).
//!
//! The hub serves `/status`, `/metrics` and `/health` with it, the agent its local `/status`.
//! Requests are read with a size limit and a timeout; anything else gets 400 or 405.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tracing::debug;

/// A response.
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Response {
    pub fn json(body: String) -> Self {
        Self {
            status: 200,
            content_type: "application/json",
            body,
        }
    }
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }
}

/// Maps a request path (query string removed) to a response.
pub type Handler =
    Arc<dyn Fn(String) -> futures::future::BoxFuture<'static, Response> + Send + Sync>;

/// A handler from a synchronous function.
pub fn sync_handler(f: impl Fn(&str) -> Response + Send + Sync + 'static) -> Handler {
    let f = Arc::new(f);
    Arc::new(move |path: String| {
        let f = f.clone();
        Box::pin(async move { f(&path) })
    })
}

/// Serves until `shutdown`.
pub async fn serve(listener: TcpListener, handler: Handler, shutdown: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        let Ok((stream, _)) = accepted else { continue };
        let h = handler.clone();
        tokio::spawn(async move {
            if let Err(e) = handle(stream, h).await {
                debug!(error = %e, "status request failed");
            }
        });
    }
}

async fn handle(mut stream: TcpStream, handler: Handler) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.len() > 8192 {
                break;
            }
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
    let resp = match read {
        Err(_) => Response::text(408, "request timeout\n"),
        Ok(Err(e)) => return Err(e),
        Ok(Ok(())) => {
            let head = String::from_utf8_lossy(&buf);
            let mut parts = head.lines().next().unwrap_or("").split_whitespace();
            match (parts.next(), parts.next()) {
                (Some("GET"), Some(target)) | (Some("HEAD"), Some(target)) => {
                    handler(target.split('?').next().unwrap_or(target).to_string()).await
                }
                (Some(_), Some(_)) => Response::text(405, "only GET is served\n"),
                _ => Response::text(400, "bad request\n"),
            }
        }
    };
    let reason = match resp.status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\
         Cache-Control: no-store\r\n\r\n",
        resp.status,
        resp.content_type,
        resp.body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(resp.body.as_bytes()).await?;
    stream.shutdown().await.ok();
    Ok(())
}

/// A tiny client: `GET http://addr/path`, returning (status, body). For tools and tests.
pub async fn get(addr: &str, path: &str, timeout: Duration) -> std::io::Result<(u16, String)> {
    tokio::time::timeout(timeout, async {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await?;
        let text = String::from_utf8_lossy(&out).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        Ok((status, body.to_string()))
    })
    .await
    .map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no answer from {addr} within {timeout:?}"),
        )
    })?
}
