//! The one-command demo, run as a user runs it: in its own process group, stopped by SIGINT sent
//! to that whole group as a terminal's Ctrl-C would be. Its printed addresses must work (hub
//! status, snap accounts, a write travelling from snap1 to snap2), and after the signal nothing
//! it started may be alive and its temp folder must be gone. (`ops_files.rs` checks the files in
//! `config/` and `docker/`.)

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use starsync_tests::eventually;
use starsync_tests::mariadb::{self, die_with_parent};
use starsync_tests::process::alive;

/// The cluster secret the example configs are loaded with (they hold none themselves).
const EXAMPLE_SECRET: &str = "example-secret-0123456789";

/// Sets the environment every test of this file shares, once, before any test does anything
/// else: `STARSYNC_SECRET` for the example configs. Every test calls it first, so no test reads
/// the environment while it changes.
fn env() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::env::set_var(replicator::config::SECRET_ENV, EXAMPLE_SECRET));
}

// ------------------------------------------------------------------------------------------------
// The demo
// ------------------------------------------------------------------------------------------------

/// The demo as a child in its own process group; SIGKILLs the group (and the console's) if the
/// test fails halfway.
struct DemoProc {
    child: Child,
    gui_pgid: Option<i32>,
}

impl Drop for DemoProc {
    fn drop(&mut self) {
        if let Some(g) = self.gui_pgid {
            kill(-g, libc::SIGKILL);
        }
        kill(-(self.child.id() as i32), libc::SIGKILL);
        self.child.wait().ok();
    }
}

fn kill(pid: i32, sig: i32) -> bool {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid, sig) == 0 }
}

/// What the ready block told the user.
#[derive(Debug)]
struct Ready {
    text: String,
    master_port: u16,
    http_port: u16,
    snap_ports: Vec<u16>,
    snap_password: String,
    dir: PathBuf,
    pids: BTreeMap<String, i32>,
    gui_url: Option<String>,
}

/// The number after `key` in `line` (e.g. `--port 3307`, `127.0.0.1:4580`).
fn number_after(line: &str, key: &str) -> u16 {
    let rest = &line[line
        .find(key)
        .unwrap_or_else(|| panic!("no {key:?} in {line:?}"))
        + key.len()..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number after {key:?} in {line:?}"))
}

fn parse_ready(text: &str) -> Ready {
    let find = |prefix: &str| -> &str {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{text}"))
    };
    let master = find("master ");
    let snap_ports = ["snap1:", "snap2:"]
        .iter()
        .map(|p| number_after(find(p), "--port "))
        .collect();
    let snap1 = find("snap1:");
    let snap_password = snap1
        .split_whitespace()
        .find_map(|w| w.strip_prefix("SNAP_CLI_PASSWORD="))
        .expect("SNAP_CLI_PASSWORD= in the snap-cli line")
        .to_string();
    let dir = find("Logs and datadirs:")
        .split_whitespace()
        .nth(3)
        .expect("a folder after 'Logs and datadirs:'")
        .trim_end_matches('/')
        .into();
    let pids = find("Processes:")
        .split_whitespace()
        .skip(1)
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("name=pid");
            (k.to_string(), v.parse().expect("pid"))
        })
        .collect();
    let gui_url = text
        .lines()
        .find_map(|l| l.strip_prefix("Console (Streamlit): http"))
        .map(|rest| format!("http{rest}"));
    Ready {
        text: text.to_string(),
        master_port: number_after(master, "127.0.0.1:"),
        http_port: number_after(master, "status http://127.0.0.1:"),
        snap_ports,
        snap_password,
        dir,
        pids,
        gui_url,
    }
}

/// Pids of every process whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(c) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&c).replace('\0', " ");
            if cmd.contains(needle) {
                found.push((pid, cmd));
            }
        }
    }
    found
}

fn snap_opts(port: u16, password: &str) -> mysql_async::Opts {
    mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .user(Some(mariadb::APP_USER))
        .pass(Some(password))
        .prefer_socket(false)
        .into()
}

async fn snap_rows(port: u16, password: &str, sql: &str) -> anyhow::Result<Vec<(i32, String)>> {
    let mut c = mysql_async::Conn::new(snap_opts(port, password)).await?;
    let rows = c.query(sql).await?;
    c.disconnect().await.ok();
    Ok(rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_runs_and_ctrl_c_leaves_nothing_behind() {
    env();
    let started = Instant::now();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_demo"));
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // The demo writes its own secret into its configs; do not let this file's override in.
        .env_remove(replicator::config::SECRET_ENV)
        // Like a shell job: its own process group, so that SIGINT to the group is a Ctrl-C.
        .process_group(0);
    die_with_parent(&mut cmd);
    let mut child = cmd.spawn().expect("starting the demo");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut demo = DemoProc {
        child,
        gui_pgid: None,
    };
    let (tx, rx) = mpsc::channel::<String>();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("demo> {l}");
            let _ = tx.send(l);
        }
    });
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            println!("demo stderr> {l}");
            let _ = tx2.send(format!("stderr: {l}"));
        }
    });

    // The ready block, up to its last line.
    let mut output = String::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => {
                output.push_str(&l);
                output.push('\n');
                if l == "Ctrl-C stops everything." {
                    break;
                }
            }
            Err(_) => panic!("no ready block within 180 s; output so far:\n{output}"),
        }
    }
    let ready_after = started.elapsed();
    let ready = parse_ready(&output);
    assert!(
        output.contains("master-admin init: done") || output.contains("FALLBACK"),
        "the demo must say whether master-admin init ran or the fallback made MOST:\n{output}"
    );
    if let Some(&g) = ready.pids.get("gui") {
        demo.gui_pgid = Some(g);
    }
    assert!(
        ready.dir.starts_with(std::env::temp_dir()),
        "{} is not under the temp folder",
        ready.dir.display()
    );
    let markers = [
        ("master", "mariadbd"),
        ("snap1", "mariadbd"),
        ("snap2", "mariadbd"),
        ("hub", "replicator"),
        ("agent1", "replicator"),
        ("agent2", "replicator"),
        ("gui", "streamlit"),
    ];
    for (name, marker) in markers {
        match ready.pids.get(name) {
            Some(&pid) => assert!(alive(pid, marker), "{name} (pid {pid}) is not running"),
            None => assert_eq!(name, "gui", "no pid printed for {name}:\n{}", ready.text),
        }
    }

    // What master-admin status shows: the hub's /status, at the printed address.
    let (code, body) = replicator::http::get(
        &format!("127.0.0.1:{}", ready.http_port),
        "/status",
        Duration::from_secs(5),
    )
    .await
    .expect("GET /status");
    assert_eq!(code, 200, "{body}");
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    let connected: Vec<&str> = status["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|n| n["connected"] == true)
        .filter_map(|n| n["name"].as_str())
        .collect();
    assert_eq!(connected.len(), 3, "connected nodes: {status:#}");
    // The agents talk TLS to the hub, as the demo says.
    assert!(ready.text.contains("(TLS)"), "{}", ready.text);
    let tls: Vec<&str> = status["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|n| n["tls"] == true)
        .filter_map(|n| n["name"].as_str())
        .collect();
    assert_eq!(tls, ["snap1", "snap2"], "{status:#}");
    for n in ["master", "snap1", "snap2"] {
        assert!(connected.contains(&n), "{n} not connected: {status:#}");
    }

    // A write on snap1, with the printed account and password, reaches snap2. The table is made
    // on the master (DDL is the master's), so this does not depend on the starter schema.
    let master = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(ready.master_port)
        .user(Some("root"))
        .prefer_socket(false);
    let mut m = mysql_async::Conn::new(master)
        .await
        .expect("root on master");
    m.query_drop("CREATE TABLE MOST.demo_check (id INT PRIMARY KEY, v VARCHAR(40) NOT NULL)")
        .await
        .expect("create table on the master (MOST must exist after init)");
    m.disconnect().await.ok();
    let (p1, p2, pw) = (
        ready.snap_ports[0],
        ready.snap_ports[1],
        &ready.snap_password,
    );
    eventually(
        "MOST.demo_check on snap1",
        Duration::from_secs(30),
        || async {
            Ok(snap_rows(p1, pw, "SELECT id, v FROM MOST.demo_check")
                .await
                .is_ok())
        },
    )
    .await
    .unwrap();
    let mut c1 = mysql_async::Conn::new(snap_opts(p1, pw))
        .await
        .expect("the printed snap account logs in on snap1");
    c1.query_drop("INSERT INTO MOST.demo_check VALUES (1, 'written on snap1')")
        .await
        .unwrap();
    c1.disconnect().await.ok();
    eventually(
        "snap1's write on snap2",
        Duration::from_secs(30),
        || async {
            let rows = snap_rows(p2, pw, "SELECT id, v FROM MOST.demo_check").await?;
            Ok(rows == vec![(1, "written on snap1".to_string())])
        },
    )
    .await
    .unwrap();

    if let Some(url) = &ready.gui_url {
        let addr = url.trim_start_matches("http://");
        let (code, _) = replicator::http::get(addr, "/_stcore/health", Duration::from_secs(5))
            .await
            .expect("the console answers");
        assert_eq!(code, 200);
    } else {
        println!("(Streamlit is not installed here: the demo ran without the console)");
    }

    // Ctrl-C: SIGINT to the whole process group, as a terminal sends it.
    let pgid = demo.child.id() as i32;
    let stop_started = Instant::now();
    assert!(kill(-pgid, libc::SIGINT));
    let status = loop {
        if let Some(st) = demo.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            stop_started.elapsed() < Duration::from_secs(30),
            "the demo did not exit within 30 s of SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let stop_took = stop_started.elapsed();
    // The rest of its output.
    while let Ok(l) = rx.recv_timeout(Duration::from_millis(500)) {
        output.push_str(&l);
        output.push('\n');
    }
    assert!(status.success(), "demo exited with {status}:\n{output}");
    assert!(output.contains("stopped; removed"), "{output}");

    for (name, marker) in markers {
        if let Some(&pid) = ready.pids.get(name) {
            assert!(!alive(pid, marker), "{name} (pid {pid}) is still running");
        }
    }
    if let Some(g) = demo.gui_pgid {
        // Streamlit and anything it started: the whole group is gone.
        assert!(
            !kill(-g, 0),
            "processes of the console's group {g} are alive"
        );
    }
    assert!(
        !kill(-pgid, 0),
        "processes of the demo's group {pgid} are alive"
    );
    let left = processes_mentioning(&ready.dir.to_string_lossy());
    assert!(left.is_empty(), "still running: {left:?}");
    assert!(
        !ready.dir.exists(),
        "{} was not removed",
        ready.dir.display()
    );
    println!(
        "demo: ready after {:.1} s, stopped {:.1} s after SIGINT",
        ready_after.as_secs_f64(),
        stop_took.as_secs_f64()
    );
}
