//! TLS on the hub's port, optional: row images cross the network between snaps and the master,
//! and the shared secret only authenticates (it never goes on the wire, but the rows do).
//!
//! With `[hub] tls_cert` and `tls_key` the hub takes TLS connections only; an agent with
//! `[agent] tls_ca` connects with TLS and checks the hub's certificate against that CA for the
//! hub's name (`[agent] tls_server_name`, else the host of `[agent] hub`; an IP address works
//! when the certificate names it). The handshake and everything after it are the same frames,
//! inside TLS. A mismatch (one side with TLS, the other without) is told apart by the first byte
//! the hub reads (a TLS record starts with 22): each side's log then says which setting is
//! missing, instead of a frame error.

use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
pub use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::config::{AgentSection, ConfigError, HubSection};

/// The first byte of a TLS handshake record (content type `handshake`).
pub const TLS_HANDSHAKE_BYTE: u8 = 0x16;

/// A connection to or from the hub: plain TCP or TLS over it.
pub enum WireStream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::TlsStream<TcpStream>>),
}

impl WireStream {
    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        matches!(self, WireStream::Tls(_))
    }
}

impl From<TcpStream> for WireStream {
    fn from(s: TcpStream) -> Self {
        WireStream::Plain(s)
    }
}

impl AsyncRead for WireStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            WireStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            // A peer gone without TLS's closing message (killed, or its host down) ends the
            // stream as a plain peer's close does: frames carry their own length, so a cut
            // frame is still told apart by the codec.
            WireStream::Tls(s) => match Pin::new(s.as_mut()).poll_read(cx, buf) {
                Poll::Ready(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    Poll::Ready(Ok(()))
                }
                other => other,
            },
        }
    }
}

impl AsyncWrite for WireStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            WireStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            WireStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            WireStream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            WireStream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            WireStream::Plain(s) => s.is_write_vectored(),
            WireStream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            WireStream::Plain(s) => Pin::new(s).poll_flush(cx),
            WireStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            WireStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            WireStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

fn invalid(field: &'static str, problem: String) -> ConfigError {
    ConfigError::Invalid { field, problem }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificates of a PEM file, at least one.
fn certificates(
    field: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let shown = path.display();
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            invalid(
                field,
                format!("({shown}) cannot be read as PEM certificates: {e}"),
            )
        })?;
    if certs.is_empty() {
        return Err(invalid(
            field,
            format!(
                "({shown}) holds no certificate: expected PEM blocks `-----BEGIN CERTIFICATE-----`"
            ),
        ));
    }
    Ok(certs)
}

/// The hub's TLS side: what accepts agents, and when its certificate stops being valid (the
/// certificate file is read once for both).
#[derive(Clone)]
pub struct HubTls {
    pub acceptor: TlsAcceptor,
    /// The `notAfter` of the hub's own certificate (the file's first), when it can be read.
    pub expires_at: Option<SystemTime>,
}

/// The hub's TLS side, when `[hub] tls_cert` and `tls_key` are set.
pub fn acceptor(hub: &HubSection) -> Result<Option<HubTls>, ConfigError> {
    let (Some(cert), Some(key)) = (&hub.tls_cert, &hub.tls_key) else {
        return Ok(None);
    };
    server_tls(cert, key).map(Some)
}

/// TLS for the hub's side from a PEM certificate (chain) and its private key.
pub fn server_tls(cert: &Path, key: &Path) -> Result<HubTls, ConfigError> {
    let certs = certificates("hub.tls_cert", cert)?;
    let expires_at = certs.first().and_then(|c| not_after(c.as_ref()));
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        invalid(
            "hub.tls_key",
            format!(
                "({}) holds no usable private key: {e} (expected a PEM `PRIVATE KEY`, `RSA PRIVATE \
                 KEY` or `EC PRIVATE KEY` block, readable by the hub's user)",
                key.display()
            ),
        )
    })?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("hub.tls_cert", format!("TLS is not available: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            invalid(
                "hub.tls_key",
                format!("cannot be used with hub.tls_cert (is it that certificate's key?): {e}"),
            )
        })?;
    Ok(HubTls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        expires_at,
    })
}

/// An agent's TLS side, when `[agent] tls_ca` is set: the connector and the name the hub's
/// certificate must carry.
pub fn connector(
    agent: &AgentSection,
) -> Result<Option<(TlsConnector, ServerName<'static>)>, ConfigError> {
    let Some(ca) = &agent.tls_ca else {
        return Ok(None);
    };
    Ok(Some((client_tls(ca)?, server_name(agent)?)))
}

/// TLS for an agent's side: hubs whose certificate the CA(s) in the PEM file `ca` signed.
pub fn client_tls(ca: &Path) -> Result<TlsConnector, ConfigError> {
    let mut roots = RootCertStore::empty();
    for c in certificates("agent.tls_ca", ca)? {
        roots.add(c).map_err(|e| {
            invalid(
                "agent.tls_ca",
                format!(
                    "({}) holds a certificate that cannot be a CA: {e}",
                    ca.display()
                ),
            )
        })?;
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("agent.tls_ca", format!("TLS is not available: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// The name the hub's certificate must carry: `tls_server_name`, else the host of `hub`.
pub fn server_name(agent: &AgentSection) -> Result<ServerName<'static>, ConfigError> {
    let (field, name) = match &agent.tls_server_name {
        Some(n) => ("agent.tls_server_name", n.clone()),
        None => {
            let host = agent.hub.rsplit_once(':').map_or("", |(h, _)| h);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            ("agent.hub", host.to_owned())
        }
    };
    ServerName::try_from(name.clone()).map_err(|e| {
        invalid(
            field,
            format!("gives {name:?}, which is not a DNS name or IP address to check the hub's certificate against: {e}"),
        )
    })
}

/// What a failed TLS connection to the hub most likely means, for the agent's log.
pub fn client_failure(hub: &str, name: &ServerName<'_>, e: &std::io::Error) -> String {
    use rustls::CertificateError as C;
    let hint = match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidCertificate(c)) => {
            let why = match c {
                C::Expired | C::ExpiredContext { .. } => {
                    "it has expired: renew the hub's [hub] tls_cert (the same CA can sign the \
                     new one) and reload the hub (SIGHUP)"
                        .to_string()
                }
                C::NotValidYet | C::NotValidYetContext { .. } => {
                    "it is not valid yet: check the clocks of this snap and of the machine that \
                     made it"
                        .to_string()
                }
                C::NotValidForName | C::NotValidForNameContext { .. } => format!(
                    "it does not name {}: dial the hub by a name it carries ([agent] hub), or \
                     set [agent] tls_server_name to one",
                    name.to_str()
                ),
                C::UnknownIssuer => "the CA in [agent] tls_ca did not sign it: point tls_ca at \
                                     the CA that signed the hub's certificate"
                    .to_string(),
                _ => format!(
                    "it must be signed by the CA in [agent] tls_ca and name {}",
                    name.to_str()
                ),
            };
            format!("the hub's certificate was refused: {why}")
        }
        _ if e.kind() == std::io::ErrorKind::UnexpectedEof
            || e.kind() == std::io::ErrorKind::ConnectionReset =>
        {
            "the hub closed the connection: it has no [hub] tls_cert and tls_key (its log says \
             so), or it is not a starsync hub"
                .to_string()
        }
        _ => "check [hub] tls_cert on the hub and [agent] tls_ca here".to_string(),
    };
    format!("TLS handshake with the hub at {hub} failed: {e}; {hint}")
}

/// A DER element: its tag, its content and what follows it.
fn der(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, b) = b.split_first()?;
    let (&first, b) = b.split_first()?;
    let (len, b) = if first < 0x80 {
        (usize::from(first), b)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || b.len() < n {
            return None;
        }
        let len = b[..n].iter().fold(0usize, |a, &x| a << 8 | usize::from(x));
        (len, &b[n..])
    };
    Some((tag, b.get(..len)?, b.get(len..)?))
}

/// When an X.509 certificate (DER) stops being valid: its `notAfter`.
pub fn not_after(cert: &[u8]) -> Option<SystemTime> {
    let (0x30, cert, _) = der(cert)? else {
        return None;
    };
    let (0x30, tbs, _) = der(cert)? else {
        return None;
    };
    // version [0] (optional), serialNumber, signature, issuer, validity.
    let (tag, _, mut rest) = der(tbs)?;
    if tag == 0xa0 {
        rest = der(rest)?.2;
    }
    let rest = der(der(rest)?.2)?.2;
    let (0x30, validity, _) = der(rest)? else {
        return None;
    };
    let (tag, time, _) = der(der(validity)?.2)?;
    let time = std::str::from_utf8(time).ok()?;
    let (year, rest) = match tag {
        // UTCTime: YYMMDDHHMMSSZ, years 1950–2049.
        0x17 => {
            let yy: i64 = time.get(0..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, time.get(2..)?)
        }
        // GeneralizedTime: YYYYMMDDHHMMSSZ.
        0x18 => (time.get(0..4)?.parse().ok()?, time.get(4..)?),
        _ => return None,
    };
    let num = |r: std::ops::Range<usize>| rest.get(r)?.parse::<i64>().ok();
    crate::apply::values::epoch_from_utc(
        year,
        num(0..2)?,
        num(2..4)?,
        num(4..6)?,
        num(6..8)?,
        num(8..10)?,
    )
}

/// How long before its expiry the hub warns about its certificate.
pub const EXPIRY_WARNING: std::time::Duration = std::time::Duration::from_secs(30 * 86_400);

/// The WARN about the hub's certificate, when it expires within [`EXPIRY_WARNING`] (or did).
pub fn expiry_warning(at: SystemTime, now: SystemTime) -> Option<String> {
    let date = &crate::hub::status::rfc3339(at)[..10];
    match at.duration_since(now) {
        Err(_) => Some(format!(
            "the hub's TLS certificate ([hub] tls_cert) expired on {date}: agents refuse it, so \
             no snap replicates; renew it (the same CA can sign the new one) and reload the \
             hub (SIGHUP: `systemctl reload starsync-hub`)"
        )),
        Ok(left) if left < EXPIRY_WARNING => Some(format!(
            "the hub's TLS certificate ([hub] tls_cert) expires on {date}, in {} day(s): agents \
             refuse it from then on; renew it (the same CA can sign the new one) and reload the \
             hub (SIGHUP: `systemctl reload starsync-hub`)",
            left.as_secs() / 86_400
        )),
        Ok(_) => None,
    }
}
