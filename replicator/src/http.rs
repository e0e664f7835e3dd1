//! A very small HTTP/1.1 server for status endpoints (`GET`, and `POST` without a body for the
//! hub's `/repair`; `Connection: close`).
//!
//! The hub serves `/status`, `/metrics`, `/health`, `/verify` and `/repair` with it, the agent its
//! local `/status`. Requests are read with a size limit and a timeout; anything else gets 400 or
//! 405.

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

/// A request: its method, path and query string (the part after `?`, empty without one), and
/// the bearer token of its `Authorization` header, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub bearer: Option<String>,
}

impl Request {
    /// Parses a request target (`/path?a=1&b=x`).
    pub fn new(method: &str, target: &str) -> Request {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Request {
            method: method.to_string(),
            path: path.to_string(),
            query: query.to_string(),
            bearer: None,
        }
    }

    /// Parses a request head: its request line and the bearer token of its `Authorization`
    /// header. `None`: no request line.
    pub fn parse(head: &str) -> Option<Request> {
        let mut lines = head.lines();
        let mut parts = lines.next()?.split_whitespace();
        let (method, target) = (parts.next()?, parts.next()?);
        let mut req = Request::new(method, target);
        req.bearer = lines.find_map(|l| {
            let (name, value) = l.split_once(':')?;
            if !name.trim().eq_ignore_ascii_case("authorization") {
                return None;
            }
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_string())
        });
        Some(req)
    }

    /// Whether the request carries `token` (compared in constant time).
    pub fn has_token(&self, token: &str) -> bool {
        let Some(given) = &self.bearer else {
            return false;
        };
        let (a, b) = (given.as_bytes(), token.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
    }

    /// Whether the method only reads (`GET`, `HEAD`).
    pub fn reads(&self) -> bool {
        matches!(self.method.as_str(), "GET" | "HEAD")
    }

    /// The value of query parameter `name`, percent-decoded (`+` is a space); `Some("")` for a
    /// parameter without a value.
    pub fn param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k) == name).then(|| decode(v))
        })
    }
}

/// Percent-decodes a query component.
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a query component (everything but unreserved characters).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~') {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// Maps a request to a response.
pub type Handler =
    Arc<dyn Fn(Request) -> futures::future::BoxFuture<'static, Response> + Send + Sync>;

/// A handler of `GET` requests from a synchronous function of the path.
pub fn sync_handler(f: impl Fn(&str) -> Response + Send + Sync + 'static) -> Handler {
    let f = Arc::new(f);
    Arc::new(move |req: Request| {
        let f = f.clone();
        Box::pin(async move {
            if req.reads() {
                f(&req.path)
            } else {
                Response::text(405, "only GET is served\n")
            }
        })
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
            match Request::parse(&head) {
                Some(req) if matches!(req.method.as_str(), "GET" | "HEAD" | "POST") => {
                    handler(req).await
                }
                Some(_) => Response::text(405, "only GET and POST are served\n"),
                None => Response::text(400, "bad request\n"),
            }
        }
    };
    let reason = match resp.status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let challenge = if resp.status == 401 {
        "WWW-Authenticate: Bearer realm=\"starsync hub\"\r\n"
    } else {
        ""
    };
    let head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\
         Cache-Control: no-store\r\n{challenge}\r\n",
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
    request(addr, "GET", path, timeout, None).await
}

/// `method http://addr/path` without a body, with `token` as bearer token when given,
/// returning (status, body).
pub async fn request(
    addr: &str,
    method: &str,
    path: &str,
    timeout: Duration,
    token: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    tokio::time::timeout(timeout, async {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(
            format!(
                "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n{auth}\
                 Connection: close\r\n\r\n"
            )
            .as_bytes(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_decoded() {
        let r = Request::new("POST", "/repair?table=%60MOST%60.t+1&node=snap%31&dry_run");
        assert_eq!(r.path, "/repair");
        assert_eq!(r.param("table").as_deref(), Some("`MOST`.t 1"));
        assert_eq!(r.param("node").as_deref(), Some("snap1"));
        assert_eq!(r.param("dry_run").as_deref(), Some(""));
        assert_eq!(r.param("other"), None);
        assert_eq!(
            Request::new("GET", "/x?a=%E6%97%A5%").param("a").as_deref(),
            Some("日%")
        );
        let odd = "MOST.t a&b=c%";
        assert_eq!(
            Request::new("GET", &format!("/x?t={}", encode(odd)))
                .param("t")
                .as_deref(),
            Some(odd)
        );
        assert!(!r.reads());
    }

    #[test]
    fn the_bearer_token_is_read_from_the_head_and_compared_whole() {
        let head =
            "GET /status HTTP/1.1\r\nHost: h\r\nauthorization:  Bearer  s3cret-token \r\n\r\n";
        let r = Request::parse(head).unwrap();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/status"));
        assert_eq!(r.bearer.as_deref(), Some("s3cret-token"));
        assert!(r.has_token("s3cret-token"));
        assert!(!r.has_token("s3cret-toke"));
        assert!(!r.has_token("s3cret-tokeN"));
        let basic = Request::parse("GET / HTTP/1.1\r\nAuthorization: Basic eDp5\r\n\r\n").unwrap();
        assert_eq!(basic.bearer, None);
        assert!(!basic.has_token(""));
        assert_eq!(Request::parse(""), None);
    }
}
