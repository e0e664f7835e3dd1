//! A framed connection and its handshake (version check, mutual challenge–response on the
//! shared secret: HMAC-SHA256 over both nonces, the role and the node name).

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

use super::codec::{FrameCodec, FrameError};
use super::messages::{Challenge, Hello, Message, Welcome, PROTOCOL_VERSION};
use super::tls::WireStream;

/// A connection carrying [`Message`]s.
pub type Conn = Framed<WireStream, FrameCodec<Message>>;

/// Why a session could not start or went on.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("{0}")]
    Frame(#[from] FrameError),
    #[error("the peer closed the connection{0}")]
    Closed(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("refused: {0}")]
    Refused(String),
    #[error("unexpected {got} message (expected {expected})")]
    Unexpected {
        got: &'static str,
        expected: &'static str,
    },
}

const NONCE: usize = 32;
const AGENT_ROLE: &[u8] = b"starsync-agent-v1";
const HUB_ROLE: &[u8] = b"starsync-hub-v1";

fn nonce() -> Vec<u8> {
    let mut n = vec![0u8; NONCE];
    rand::thread_rng().fill_bytes(&mut n);
    n
}

fn mac(secret: &str, role: &[u8], first: &[u8], second: &[u8], node: &str) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    m.update(role);
    m.update(first);
    m.update(second);
    m.update(node.as_bytes());
    m
}

/// Sets a TCP stream up for frames: small frames (acks, one-row transactions) go out at once.
pub fn tcp(stream: TcpStream) -> TcpStream {
    stream.set_nodelay(true).ok();
    stream
}

/// Wraps a stream (plain TCP, or TLS over it).
pub fn framed(stream: impl Into<WireStream>, max_frame: usize) -> Conn {
    Framed::new(stream.into(), FrameCodec::new(max_frame))
}

/// Receives one message within `timeout`.
pub async fn recv(conn: &mut Conn, timeout: Duration) -> Result<Message, SessionError> {
    match tokio::time::timeout(timeout, conn.next()).await {
        Err(_) => Err(SessionError::Timeout(timeout)),
        Ok(None) => Err(SessionError::Closed(String::new())),
        Ok(Some(Err(e))) => Err(e.into()),
        Ok(Some(Ok(Message::Refused { reason }))) => Err(SessionError::Refused(reason)),
        Ok(Some(Ok(Message::Error { message }))) => Err(SessionError::Closed(format!(
            " after an error on its side: {message}"
        ))),
        Ok(Some(Ok(m))) => Ok(m),
    }
}

/// Writes `first` and whatever else is already queued in `rx` (up to a batch), then flushes once:
/// fewer system calls and packets than one flush per message, and no added wait.
pub async fn send_batch<S>(
    sink: &mut S,
    first: Message,
    rx: &mut tokio::sync::mpsc::Receiver<Message>,
) -> Result<usize, FrameError>
where
    S: futures::Sink<Message, Error = FrameError> + Unpin,
{
    let mut bytes = first.approx_bytes();
    sink.feed(first).await?;
    let mut n = 1;
    while n < 256 && bytes < (8 << 20) {
        match rx.try_recv() {
            Ok(m) => {
                bytes += m.approx_bytes();
                sink.feed(m).await?;
                n += 1;
            }
            Err(_) => break,
        }
    }
    sink.flush().await?;
    Ok(bytes)
}

/// Sends one message.
pub async fn send(conn: &mut Conn, m: Message) -> Result<(), SessionError> {
    conn.send(m).await.map_err(SessionError::from)
}

/// The agent's side: returns the hub's welcome.
pub async fn client_handshake(
    conn: &mut Conn,
    node: &str,
    server_id: u32,
    domain_id: u32,
    secret: &str,
    timeout: Duration,
) -> Result<Welcome, SessionError> {
    let my_nonce = nonce();
    send(
        conn,
        Message::Hello(Hello {
            version: PROTOCOL_VERSION,
            node: node.into(),
            server_id,
            domain_id,
            nonce: my_nonce.clone(),
        }),
    )
    .await?;
    let ch = match recv(conn, timeout).await? {
        Message::Challenge(c) => c,
        m => {
            return Err(SessionError::Unexpected {
                got: m.kind(),
                expected: "challenge",
            })
        }
    };
    let proof = mac(secret, AGENT_ROLE, &ch.nonce, &my_nonce, node)
        .finalize()
        .into_bytes()
        .to_vec();
    send(conn, Message::Auth { proof }).await?;
    let welcome = match recv(conn, timeout).await? {
        Message::Welcome(w) => w,
        m => {
            return Err(SessionError::Unexpected {
                got: m.kind(),
                expected: "welcome",
            })
        }
    };
    mac(secret, HUB_ROLE, &my_nonce, &ch.nonce, node)
        .verify_slice(&welcome.proof)
        .map_err(|_| {
            SessionError::Refused(
                "the hub could not prove it knows the shared secret (wrong secret on this agent, \
                 or not the real hub)"
                    .into(),
            )
        })?;
    Ok(welcome)
}

/// The hub's side, up to authentication: returns the agent's hello once its proof checked out.
/// `welcome` builds the welcome (without proof) or refuses the node with a reason.
pub async fn server_handshake<F>(
    conn: &mut Conn,
    hub_name: &str,
    secret: &str,
    timeout: Duration,
    welcome: F,
) -> Result<Hello, SessionError>
where
    F: FnOnce(&Hello) -> Result<Welcome, String>,
{
    let hello = match recv(conn, timeout).await? {
        Message::Hello(h) => h,
        m => {
            return Err(SessionError::Unexpected {
                got: m.kind(),
                expected: "hello",
            })
        }
    };
    if hello.version != PROTOCOL_VERSION {
        let reason = format!(
            "protocol version {} is not supported; this hub speaks version {PROTOCOL_VERSION}: \
             run the same starsync release on hub and agents",
            hello.version
        );
        send(
            conn,
            Message::Refused {
                reason: reason.clone(),
            },
        )
        .await
        .ok();
        return Err(SessionError::Refused(reason));
    }
    let my_nonce = nonce();
    send(
        conn,
        Message::Challenge(Challenge {
            version: PROTOCOL_VERSION,
            hub: hub_name.into(),
            nonce: my_nonce.clone(),
        }),
    )
    .await?;
    let proof = match recv(conn, timeout).await? {
        Message::Auth { proof } => proof,
        m => {
            return Err(SessionError::Unexpected {
                got: m.kind(),
                expected: "auth",
            })
        }
    };
    if mac(secret, AGENT_ROLE, &my_nonce, &hello.nonce, &hello.node)
        .verify_slice(&proof)
        .is_err()
    {
        let reason = format!(
            "authentication failed for node {:?}: the shared secret does not match the hub's",
            hello.node
        );
        send(
            conn,
            Message::Refused {
                reason: reason.clone(),
            },
        )
        .await
        .ok();
        return Err(SessionError::Refused(reason));
    }
    let mut w = match welcome(&hello) {
        Ok(w) => w,
        Err(reason) => {
            send(
                conn,
                Message::Refused {
                    reason: reason.clone(),
                },
            )
            .await
            .ok();
            return Err(SessionError::Refused(reason));
        }
    };
    w.proof = mac(secret, HUB_ROLE, &hello.nonce, &my_nonce, &hello.node)
        .finalize()
        .into_bytes()
        .to_vec();
    send(conn, Message::Welcome(w)).await?;
    Ok(hello)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ReplicateConfig;

    async fn pair() -> (Conn, Conn) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (a, b) = tokio::join!(TcpStream::connect(addr), l.accept());
        (
            framed(tcp(a.unwrap()), 1 << 20),
            framed(tcp(b.unwrap().0), 1 << 20),
        )
    }

    fn welcome(_: &Hello) -> Result<Welcome, String> {
        Ok(Welcome {
            proof: vec![],
            master_pos: "1-1-5".parse().unwrap(),
            replicate: ReplicateConfig::default(),
            master_server_id: 1,
            master_domain_id: 1,
            settings: Vec::new(),
        })
    }

    #[tokio::test]
    async fn handshake_succeeds_with_the_same_secret() {
        let (mut a, mut h) = pair().await;
        let t = Duration::from_secs(5);
        let (ra, rh) = tokio::join!(
            client_handshake(&mut a, "snap1", 2, 2, "0123456789abcdef", t),
            server_handshake(&mut h, "master", "0123456789abcdef", t, welcome)
        );
        assert_eq!(ra.unwrap().master_pos.to_string(), "1-1-5");
        assert_eq!(rh.unwrap().node, "snap1");
    }

    #[tokio::test]
    async fn wrong_secret_is_refused_on_both_sides() {
        let (mut a, mut h) = pair().await;
        let t = Duration::from_secs(5);
        let (ra, rh) = tokio::join!(
            client_handshake(&mut a, "snap1", 2, 2, "wrong-secret-0000", t),
            server_handshake(&mut h, "master", "0123456789abcdef", t, welcome)
        );
        let ea = ra.unwrap_err().to_string();
        let eh = rh.unwrap_err().to_string();
        assert!(ea.contains("shared secret does not match"), "{ea}");
        assert!(eh.contains("authentication failed"), "{eh}");
    }
}
