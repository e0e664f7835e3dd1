//! TLS on the hub protocol, without servers: the handshake inside TLS, and each way a TLS
//! setting can be wrong named in the error (a CA that did not sign the hub's certificate, a name
//! the certificate does not carry, a key of another certificate, files that hold no PEM).

use std::time::Duration;

use replicator::config::ReplicateConfig;
use replicator::wire::messages::{Hello, Welcome};
use replicator::wire::session::{client_handshake, framed, server_handshake, tcp};
use replicator::wire::tls::{client_failure, client_tls, server_tls, WireStream};
use starsync_tests::tls::{write_certs, write_certs_valid};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::pki_types::ServerName;

const SECRET: &str = "0123456789abcdef";
const T: Duration = Duration::from_secs(5);

fn welcome(_: &Hello) -> Result<Welcome, String> {
    Ok(Welcome {
        proof: vec![],
        master_pos: "1-1-7".parse().unwrap(),
        replicate: ReplicateConfig::default(),
        master_server_id: 1,
        master_domain_id: 1,
        settings: Vec::new(),
    })
}

async fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (a, b) = tokio::join!(TcpStream::connect(addr), l.accept());
    (tcp(a.unwrap()), tcp(b.unwrap().0))
}

#[tokio::test]
async fn the_handshake_runs_inside_tls_and_bad_certificates_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_certs(dir.path(), "good", &["127.0.0.1", "hub.example"]).unwrap();
    let other = write_certs(dir.path(), "other", &["127.0.0.1"]).unwrap();
    let old = write_certs_valid(
        dir.path(),
        "old",
        &["127.0.0.1"],
        Some(((2020, 1, 1), (2021, 1, 1))),
    )
    .unwrap();
    let hub = server_tls(&good.cert, &good.key).unwrap();
    let acceptor = hub.acceptor.clone();

    // The right CA, by IP address and by DNS name: the whole handshake inside TLS.
    for name in ["127.0.0.1", "hub.example"] {
        let (a, h) = pair().await;
        let connector = client_tls(&good.ca).unwrap();
        let sn = ServerName::try_from(name.to_string()).unwrap();
        let (ca, ch) = tokio::join!(connector.connect(sn, a), acceptor.accept(h));
        let agent: WireStream = WireStream::Tls(Box::new(ca.unwrap().into()));
        let hub: WireStream = WireStream::Tls(Box::new(ch.unwrap().into()));
        assert!(agent.is_tls() && hub.is_tls());
        let (mut a, mut h) = (framed(agent, 1 << 20), framed(hub, 1 << 20));
        let (ra, rh) = tokio::join!(
            client_handshake(&mut a, "snap1", 2, 2, SECRET, T),
            server_handshake(&mut h, "master", SECRET, T, welcome)
        );
        assert_eq!(ra.unwrap().master_pos.to_string(), "1-1-7");
        assert_eq!(rh.unwrap().node, "snap1");
    }

    // A CA that did not sign the hub's certificate, a name it does not carry, a certificate
    // that expired: refused by the agent, with what to set.
    let expired = server_tls(&old.cert, &old.key).unwrap();
    let old_end = expired.expires_at;
    let expired = expired.acceptor;
    let cases = [
        (
            &other.ca,
            "127.0.0.1",
            &acceptor,
            "the CA in [agent] tls_ca did not sign it",
        ),
        (
            &good.ca,
            "elsewhere.example",
            &acceptor,
            "set [agent] tls_server_name",
        ),
        (
            &old.ca,
            "127.0.0.1",
            &expired,
            "it has expired: renew the hub's [hub] tls_cert",
        ),
    ];
    for (ca, name, hub_side, hint) in cases {
        let (a, h) = pair().await;
        let connector = client_tls(ca).unwrap();
        let sn = ServerName::try_from(name.to_string()).unwrap();
        let (ca, ch) = tokio::join!(connector.connect(sn.clone(), a), hub_side.accept(h));
        let Err(e) = ca else {
            panic!("the agent took a certificate it should refuse ({name})");
        };
        let msg = client_failure("127.0.0.1:4500", &sn, &e);
        assert!(msg.contains("the hub's certificate was refused"), "{msg}");
        assert!(msg.contains(hint), "{msg}");
        assert!(ch.is_err(), "the hub's side fails too");
    }

    // The certificate's end, read from its DER: as made, and rcgen's default (year 4096).
    let end = old_end.unwrap();
    assert_eq!(
        replicator::hub::status::rfc3339(end),
        "2021-01-01T00:00:00.000Z"
    );
    let far = hub.expires_at.unwrap();
    assert!(replicator::hub::status::rfc3339(far).starts_with("4096-01-01"));
    assert_eq!(replicator::wire::tls::not_after(b"\x30\x03junk"), None);

    // Files that cannot serve.
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let missing = dir.path().join("missing.pem");
    let cases = [
        (
            server_tls(&junk, &good.key).err(),
            "hub.tls_cert",
            "holds no certificate",
        ),
        (
            server_tls(&good.cert, &missing).err(),
            "hub.tls_key",
            "holds no usable private key",
        ),
        (
            server_tls(&good.cert, &other.key).err(),
            "hub.tls_key",
            "is it that certificate's key",
        ),
        (
            client_tls(&junk).err(),
            "agent.tls_ca",
            "holds no certificate",
        ),
        (client_tls(&missing).err(), "agent.tls_ca", "cannot be read"),
    ];
    for (n, (err, field, what)) in cases.into_iter().enumerate() {
        let msg = err
            .unwrap_or_else(|| panic!("case {n} was accepted"))
            .to_string();
        assert!(msg.contains(field) && msg.contains(what), "case {n}: {msg}");
    }
}
