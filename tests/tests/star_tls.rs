//! TLS between the agents and the hub: the rows cross the network encrypted, every node
//! converges, and each mismatch of settings (a plain agent to a TLS hub, an agent trusting
//! another CA, a TLS agent to a plain hub) is named in both logs while the other snap goes on.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use starsync_tests::star::{app_exec, status_node};
use starsync_tests::tls::{write_certs, write_certs_valid};
use starsync_tests::{eventually, Star};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A TCP relay to `target` that keeps every byte it carries, both ways; returns its port.
async fn recording_relay(target: String, seen: Arc<Mutex<Vec<u8>>>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = l.accept().await {
            let Ok(outbound) = TcpStream::connect(&target).await else {
                continue;
            };
            let (ri, wi) = inbound.into_split();
            let (ro, wo) = outbound.into_split();
            for (mut r, mut w) in [(ri, wo), (ro, wi)] {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 << 10];
                    while let Ok(n) = r.read(&mut buf).await {
                        if n == 0 || w.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        if let Ok(mut s) = seen.lock() {
                            s.extend_from_slice(&buf[..n]);
                        }
                    }
                    let _ = w.shutdown().await;
                });
            }
        }
    });
    port
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Rewrites one line of a config file: the line starting with `key` becomes `line` (removed
/// when `line` is empty).
fn set_line(path: &std::path::Path, key: &str, line: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    let out: Vec<&str> = text
        .lines()
        .map(|l| if l.starts_with(key) { line } else { l })
        .filter(|l| !l.is_empty() || !line.is_empty())
        .collect();
    std::fs::write(path, out.join("\n") + "\n").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_cross_encrypted_and_each_tls_mismatch_is_named() {
    let certs_dir = tempfile::tempdir().unwrap();
    // The hub's certificate ends in 10 days: the hub says so.
    let end = replicator::hub::status::rfc3339(
        std::time::SystemTime::now() + Duration::from_secs(10 * 86_400),
    );
    let day = |r: std::ops::Range<usize>| end[r].parse::<u16>().unwrap();
    let good = write_certs_valid(
        certs_dir.path(),
        "good",
        &["127.0.0.1", "localhost"],
        Some((
            (2020, 1, 1),
            (day(0..4) as i32, day(5..7) as u8, day(8..10) as u8),
        )),
    )
    .unwrap();
    let other = write_certs(certs_dir.path(), "other", &["127.0.0.1"]).unwrap();
    let mut star = Star::start_tuned(2, 2, &good.hub_toml(), &good.agent_toml())
        .await
        .unwrap();
    star.master()
        .exec("CREATE DATABASE MOST; CREATE TABLE MOST.t (id INT PRIMARY KEY, v VARCHAR(60))")
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();

    // snap2's agent reaches the hub through a relay that keeps what it carries.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let relay = recording_relay(format!("127.0.0.1:{}", star.hub_port), seen.clone()).await;
    let cfg2 = star.agent_config(1);
    let good2 = std::fs::read_to_string(&cfg2).unwrap();
    star.agent_proc(1).kill9();
    set_line(&cfg2, "hub = ", &format!("hub = \"127.0.0.1:{relay}\""));
    star.start_agent(1).unwrap();
    star.wait_agents(2, Duration::from_secs(30)).await.unwrap();
    let st = star.status().await.unwrap();
    let expires = st["hub"]["tls_expires_at"].as_str().unwrap_or_default();
    assert!(expires.starts_with(&end[..10]), "{st}");
    eventually(
        "the hub warns of its certificate's end",
        Duration::from_secs(20),
        || async {
            Ok(star.hub_log().contains(&format!(
                "the hub's TLS certificate ([hub] tls_cert) expires on {}",
                &end[..10]
            )))
        },
    )
    .await
    .unwrap();
    for snap in ["snap1", "snap2"] {
        assert_eq!(status_node(&st, snap).unwrap()["tls"], true, "{snap}: {st}");
    }
    app_exec(
        star.snap(0),
        "INSERT INTO MOST.t VALUES (1, 'snap1-row-in-clear-text')",
    )
    .await
    .unwrap();
    app_exec(
        star.snap(1),
        "INSERT INTO MOST.t VALUES (2, 'snap2-row-in-clear-text')",
    )
    .await
    .unwrap();
    star.master()
        .exec("INSERT INTO MOST.t VALUES (3, 'master-row-in-clear-text')")
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    {
        let seen = seen.lock().unwrap();
        // snap2 sent its row and received the other two (and its own echo) through the relay.
        assert!(seen.len() > 500, "only {} bytes went through", seen.len());
        assert_eq!(seen[0], 0x16, "the agent did not start with a TLS record");
        for marker in ["snap1-row", "snap2-row", "master-row", "snap2", "MOST"] {
            assert!(!contains(&seen, marker), "{marker:?} crossed in clear text");
        }
    }

    // A plain agent: the TLS-only hub refuses it, in words the agent logs.
    star.agent_proc(1).kill9();
    std::fs::write(&cfg2, &good2).unwrap();
    set_line(&cfg2, "tls_ca", "");
    star.start_agent(1).unwrap();
    eventually(
        "both sides name the missing TLS",
        Duration::from_secs(20),
        || async {
            Ok(star.hub_log().contains("the peer did not start TLS")
                && star
                    .agent_log(1)
                    .contains("this hub takes TLS connections only"))
        },
    )
    .await
    .unwrap();

    // An agent that trusts another CA refuses the hub's certificate.
    star.agent_proc(1).kill9();
    std::fs::write(
        &cfg2,
        good2.replace(good.ca.to_str().unwrap(), other.ca.to_str().unwrap()),
    )
    .unwrap();
    star.start_agent(1).unwrap();
    eventually(
        "both sides log the refused certificate",
        Duration::from_secs(20),
        || async {
            Ok(star.hub_log().contains("TLS handshake failed")
                && star
                    .agent_log(1)
                    .contains("the hub's certificate was refused: the CA in"))
        },
    )
    .await
    .unwrap();

    // Meanwhile snap1 and the master replicate, and snap2 takes local writes.
    app_exec(
        star.snap(0),
        "INSERT INTO MOST.t VALUES (4, 'during the mismatches')",
    )
    .await
    .unwrap();
    app_exec(
        star.snap(1),
        "INSERT INTO MOST.t VALUES (5, 'waits on snap2')",
    )
    .await
    .unwrap();
    eventually(
        "snap1's row reaches the master",
        Duration::from_secs(15),
        || async {
            let n: Vec<u64> = star
                .master()
                .query("SELECT COUNT(*) FROM MOST.t WHERE id = 4")
                .await?;
            Ok(n[0] == 1)
        },
    )
    .await
    .unwrap();
    assert_eq!(
        status_node(&star.status().await.unwrap(), "snap1").unwrap()["connected"],
        true
    );

    // A hub without TLS closes on agents that start it; they say what is missing.
    star.hub_proc().kill9();
    let hub_toml = std::fs::read_to_string(star.hub_config()).unwrap();
    set_line(&star.hub_config(), "tls_cert", "");
    set_line(&star.hub_config(), "tls_key", "");
    star.start_hub().unwrap();
    eventually(
        "both sides name the hub's missing TLS",
        Duration::from_secs(20),
        || async {
            Ok(star.hub_log().contains("the peer started TLS")
                && star
                    .agent_log(0)
                    .contains("it has no [hub] tls_cert and tls_key"))
        },
    )
    .await
    .unwrap();

    // Everything right again: every write made meanwhile arrives everywhere.
    star.hub_proc().kill9();
    std::fs::write(star.hub_config(), hub_toml).unwrap();
    star.start_hub().unwrap();
    star.agent_proc(1).kill9();
    std::fs::write(&cfg2, &good2).unwrap();
    star.start_agent(1).unwrap();
    star.wait_converged(Duration::from_secs(60)).await.unwrap();
    let n: Vec<u64> = star
        .snap(1)
        .query("SELECT COUNT(*) FROM MOST.t")
        .await
        .unwrap();
    assert_eq!(n[0], 5);

    // A clean stop in TLS: the hub's last word reaches the agents, both exit 0.
    let hub = star.hub_proc().terminate(Duration::from_secs(15)).unwrap();
    assert!(hub.success(), "the hub exited with {hub}");
    eventually(
        "the agents read why the session ended",
        Duration::from_secs(10),
        || async { Ok((0..2).all(|i| star.agent_log(i).contains("the hub is shutting down"))) },
    )
    .await
    .unwrap();
    let agent = star
        .agent_proc(0)
        .terminate(Duration::from_secs(15))
        .unwrap();
    assert!(agent.success(), "agent1 exited with {agent}");
}

/// A renewed certificate is taken on SIGHUP (`systemctl reload starsync-hub`), without a
/// restart: files that do not load are named at ERROR and the hub keeps its certificate (an
/// agent still connects with it); files that do are served to new connections (an agent that
/// trusts only the new CA connects), `/status` shows the new end, and the session open
/// meanwhile stays up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_is_taken_on_sighup() {
    let certs_dir = tempfile::tempdir().unwrap();
    let old = write_certs_valid(
        certs_dir.path(),
        "old",
        &["127.0.0.1"],
        Some(((2020, 1, 1), (2090, 1, 1))),
    )
    .unwrap();
    let new = write_certs(certs_dir.path(), "new", &["127.0.0.1"]).unwrap();
    let mut star = Star::start_tuned(2, 2, &old.hub_toml(), &old.agent_toml())
        .await
        .unwrap();
    assert!(expires(&star).await.starts_with("2090-01-01"));
    let hup = |pid: u32| {
        let ok = std::process::Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -HUP {pid}");
    };
    let hub_pid = star.hub_proc().pid().unwrap();
    let snap2_since =
        |st: &serde_json::Value| status_node(st, "snap2").unwrap()["connected_since"].clone();
    let before = snap2_since(&star.status().await.unwrap());

    // Junk in the certificate file: the hub keeps the one it has.
    std::fs::write(&old.cert, "not a certificate").unwrap();
    hup(hub_pid);
    eventually(
        "the hub names the file that did not load",
        Duration::from_secs(10),
        || async {
            Ok(star.hub_log().lines().any(|l| {
                l.contains("ERROR")
                    && l.contains("the TLS certificate could not be reloaded")
                    && l.contains("hub.tls_cert")
            }))
        },
    )
    .await
    .unwrap();
    star.agent_proc(0).kill9();
    star.start_agent(0).unwrap();
    star.wait_agents(2, Duration::from_secs(30)).await.unwrap();
    assert!(expires(&star).await.starts_with("2090-01-01"));

    // The renewed files (another CA, rcgen's end in 4096): served after the reload.
    std::fs::copy(&new.cert, &old.cert).unwrap();
    std::fs::copy(&new.key, &old.key).unwrap();
    hup(hub_pid);
    eventually(
        "/status shows the renewed certificate's end",
        Duration::from_secs(10),
        || async { Ok(expires(&star).await.starts_with("4096-01-01")) },
    )
    .await
    .unwrap();
    assert!(star.hub_log().contains("TLS certificate reloaded"));
    // snap2's agent (old CA) kept its session; snap1's, given the new CA, connects anew.
    star.agent_proc(0).kill9();
    std::fs::copy(&new.ca, &old.ca).unwrap();
    star.start_agent(0).unwrap();
    star.wait_agents(2, Duration::from_secs(30)).await.unwrap();
    star.master()
        .exec("CREATE DATABASE IF NOT EXISTS MOST; CREATE TABLE MOST.r (id INT PRIMARY KEY); INSERT INTO MOST.r VALUES (1)")
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    assert_eq!(
        star.hub_log().matches("hub started").count(),
        1,
        "the hub was not restarted"
    );
    let st = star.status().await.unwrap();
    for name in ["snap1", "snap2"] {
        assert_eq!(status_node(&st, name).unwrap()["tls"], true, "{name}");
    }
    assert_eq!(
        snap2_since(&st),
        before,
        "snap2's session stayed up through both reloads"
    );
}

async fn expires(star: &Star) -> String {
    let st = star.status().await.unwrap();
    st["hub"]["tls_expires_at"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
