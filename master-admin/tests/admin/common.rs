//! Runs the real `master-admin` binary against real clusters.

use std::process::Stdio;
use std::time::Duration;

use starsync_tests::{Node, Star};
use tokio::io::AsyncWriteExt;

/// What one run of master-admin did.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Panics with the whole output unless the exit code is `code`.
    #[track_caller]
    pub fn expect(self, code: i32) -> Out {
        assert_eq!(self.code, code, "exit code of master-admin; {self:#?}");
        self
    }

    /// Panics unless stdout or stderr contains every one of `want`.
    #[track_caller]
    pub fn says(&self, want: &[&str]) -> &Out {
        let all = format!("{}{}", self.stdout, self.stderr);
        for w in want {
            assert!(all.contains(w), "{w:?} not in the output: {self:#?}");
        }
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}

/// The binary under test.
pub fn exe() -> &'static str {
    env!("CARGO_BIN_EXE_master-admin")
}

/// A master-admin command with a clean environment (no `MASTER_ADMIN_*` from the caller).
pub fn command(args: &[String], env: &[(&str, &str)]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(exe());
    cmd.args(args).kill_on_drop(true);
    for (k, _) in std::env::vars() {
        if k.starts_with("MASTER_ADMIN_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs master-admin with `args`, feeding `stdin` (closed when `None`), within a minute.
pub async fn run_with(args: &[String], stdin: Option<&str>, env: &[(&str, &str)]) -> Out {
    let mut cmd = command(args, env);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("master-admin starts");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.unwrap();
    }
    drop(input);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("master-admin {args:?} did not finish within 60 s"))
        .unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Connection flags for a node, as root, with the hub at `hub`.
pub fn node_args(node: &Node, hub: &str) -> Vec<String> {
    vec![
        "--host".into(),
        "127.0.0.1".into(),
        "--port".into(),
        node.port.to_string(),
        "--user".into(),
        "root".into(),
        "--hub".into(),
        hub.into(),
    ]
}

/// The star's hub address.
pub fn hub_addr(star: &Star) -> String {
    format!("127.0.0.1:{}", star.http_port)
}

/// `master-admin <connection to node> <args…>` against the star's hub.
pub async fn on(star: &Star, node: &Node, args: &[&str]) -> Out {
    on_with(star, node, args, None).await
}

/// Same, with text on stdin.
pub async fn on_with(star: &Star, node: &Node, args: &[&str], stdin: Option<&str>) -> Out {
    let mut all = node_args(node, &hub_addr(star));
    all.extend(args.iter().map(|s| s.to_string()));
    run_with(&all, stdin, &[]).await
}

/// `master-admin <connection to the master> <args…>`.
pub async fn admin(star: &Star, args: &[&str]) -> Out {
    on(star, star.master(), args).await
}

/// A TCP port nobody listens on.
pub fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Names of `db`'s tables on a node.
pub async fn tables(node: &Node, db: &str) -> Vec<String> {
    node.query(&format!(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}' \
         ORDER BY TABLE_NAME"
    ))
    .await
    .unwrap()
}
