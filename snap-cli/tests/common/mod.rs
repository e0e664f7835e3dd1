//! Shared by the end-to-end tests: a real MariaDB node with a `MOST` schema of varied types,
//! and the real `snap-cli` binary running in a detached tmux server of its own, driven with
//! `send-keys` and read with `capture-pane`.
//!
//! Every wait polls the screen (or the database) with a deadline instead of sleeping; the tmux
//! server is killed when its [`Screen`] is dropped, also when a test panics, and the screen is
//! printed then so a failure shows what the user would have seen.

#![allow(dead_code)] // each test file uses its own subset

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use starsync_tests::mariadb::{APP_PASSWORD, APP_USER};
use starsync_tests::{Cluster, Node};

/// How long any one screen may take to appear.
pub const SCREEN_TIMEOUT: Duration = Duration::from_secs(20);

/// The schema every test starts from.
pub const SCHEMA: &str = "
CREATE DATABASE MOST;
CREATE TABLE MOST.people (
  id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(40) NOT NULL,
  note TEXT NULL,
  price DECIMAL(8,2) NOT NULL DEFAULT 0.00,
  ratio DOUBLE NULL,
  born DATE NULL,
  seen DATETIME(3) NULL,
  dur TIME NULL,
  yr YEAR NULL,
  color ENUM('red','green','blue') NOT NULL DEFAULT 'red',
  tags SET('a','b','c') NULL,
  flags BIT(4) NULL,
  doc JSON NULL,
  raw VARBINARY(8) NULL,
  big BIGINT UNSIGNED NULL,
  active TINYINT(1) NOT NULL DEFAULT 1,
  created TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  twice INT AS (id * 2) VIRTUAL
);
CREATE TABLE MOST.x (id INT PRIMARY KEY);
INSERT INTO MOST.x VALUES (1);
";

/// A one-node cluster with [`SCHEMA`] loaded.
pub struct Fixture {
    pub cluster: Cluster,
    /// An address where no agent listens (so the status line is deterministic).
    pub no_agent: String,
}

impl Fixture {
    pub async fn start() -> Fixture {
        // A single node: plain AUTO_INCREMENT steps (the harness gives cluster nodes steps of
        // 64 so that their ids never collide), so that the screens show ids 1, 2, 3.
        let cluster = Cluster::start_specs(vec![starsync_tests::NodeSpec::new("node1", 1)
            .arg("--auto-increment-increment=1")
            .arg("--auto-increment-offset=1")])
        .await
        .expect("MariaDB node starts");
        cluster.nodes[0].exec(SCHEMA).await.expect("schema loads");
        let no_agent = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().to_string()
        };
        Fixture { cluster, no_agent }
    }

    pub fn node(&self) -> &Node {
        &self.cluster.nodes[0]
    }

    /// Runs `sql` as root.
    pub async fn exec(&self, sql: &str) {
        self.node()
            .exec(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e:#}"));
    }

    /// Runs a query as root.
    pub async fn query<T: mysql_async::prelude::FromRow + Send + 'static>(
        &self,
        sql: &str,
    ) -> Vec<T> {
        self.node()
            .query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e:#}"))
    }

    /// snap-cli logged in as the snap account over TCP, at the main menu.
    pub fn app(&self, extra: &[&str]) -> Screen {
        let port = self.node().port.to_string();
        let mut args = vec![
            "--port",
            port.as_str(),
            "--user",
            APP_USER,
            "--agent-status",
            self.no_agent.as_str(),
        ];
        args.extend_from_slice(extra);
        let s = Screen::start(&args, &[("SNAP_CLI_PASSWORD", APP_PASSWORD)]);
        s.wait_for("What do you want to do?");
        s
    }
}

/// The real binary in a 200×50 tmux pane of its own tmux server, whose socket lives in a temp
/// folder of its own (removed with it: tmux leaves named sockets behind in /tmp/tmux-UID).
pub struct Screen {
    socket: String,
    _dir: tempfile::TempDir,
}

impl Screen {
    /// Starts `snap-cli args…` with `env` (and nothing from a SNAP_CLI_* the test runner has).
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Screen {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("tmux.conf");
        // default-size = the pane size: tmux recalculates the size of a window with no attached
        // client now and then, falling back to default-size (80x24), which reflows the screen
        // under the program and loses lines of what it drew. (`window-size manual` would say
        // the same, but tmux 3.3a crashes with it in a config file.) remain-on-exit keeps the
        // last screen readable if the shell ends; no status bar, so the program has all 50 rows.
        std::fs::write(
            &conf,
            "set -g default-size 200x50\nset -g remain-on-exit on\nset -g status off\n\
             set -g history-limit 5000\nset -sg escape-time 0\n",
        )
        .unwrap();
        let socket = dir.path().join("tmux.sock").display().to_string();
        let mut cmd = Command::new("tmux");
        cmd.args(["-S", &socket, "-f"]).arg(&conf).args([
            "new-session",
            "-d",
            "-x",
            "200",
            "-y",
            "50",
            "-s",
            "main",
        ]);
        for var in [
            "SNAP_CLI_HOST",
            "SNAP_CLI_PORT",
            "SNAP_CLI_USER",
            "SNAP_CLI_PASSWORD",
            "SNAP_CLI_SOCKET",
            "SNAP_CLI_DATABASE",
            "SNAP_CLI_AGENT_STATUS",
            "SNAP_CLI_PAGE_SIZE",
            "SNAP_CLI_CONFIG",
        ] {
            // Unset in the pane unless the test sets it.
            if !env.iter().any(|(k, _)| *k == var) {
                cmd.args(["-e", &format!("{var}=")]);
            }
        }
        for (k, v) in env {
            cmd.args(["-e", &format!("{k}={v}")]);
        }
        cmd.arg("-e").arg("LANG=C.UTF-8");
        // A shell in the pane reports the exit status on screen and stays: tmux 3.3 can miss
        // the death of a pane whose program exits with output still unread (the pane then never
        // reads as dead), so the test reads the status from the screen instead.
        cmd.args([
            "sh",
            "-c",
            "\"$0\" \"$@\"; s=$?; printf '\\n[snap-cli exited with status %s]\\n' \"$s\"; exec sleep 3600",
            env!("CARGO_BIN_EXE_snap-cli"),
        ]);
        cmd.args(args);
        // Detached: the environment of the test runner (a TMUX variable) must not leak in.
        cmd.env_remove("TMUX");
        let out = cmd.output().expect("tmux runs (apt-get install tmux)");
        assert!(
            out.status.success(),
            "tmux new-session failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Screen { socket, _dir: dir }
    }

    fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-S", &self.socket])
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("tmux runs")
    }

    /// Presses keys by tmux name (`Enter`, `Escape`, `Down`, `Space`, `C-c`, …).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "main"];
        args.extend_from_slice(keys);
        let out = self.tmux(&args);
        assert!(out.status.success(), "send-keys {keys:?}");
    }

    /// Types `text` literally (no key-name lookup).
    pub fn type_text(&self, text: &str) {
        let out = self.tmux(&["send-keys", "-t", "main", "-l", "--", text]);
        assert!(out.status.success(), "send-keys -l {text:?}");
    }

    /// Sends raw bytes, e.g. a NUL.
    pub fn bytes(&self, bytes: &[u8]) {
        let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut args = vec!["send-keys", "-t", "main", "-H"];
        args.extend(hex.iter().map(String::as_str));
        assert!(self.tmux(&args).status.success());
    }

    /// Types `text`, then Enter.
    pub fn answer(&self, text: &str) {
        if !text.is_empty() {
            self.type_text(text);
        }
        self.keys(&["Enter"]);
    }

    /// The visible screen.
    pub fn text(&self) -> String {
        let out = self.tmux(&["capture-pane", "-p", "-t", "main"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen satisfies `pred`; returns it.
    pub fn wait_until(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + SCREEN_TIMEOUT;
        loop {
            let s = self.text();
            if pred(&s) {
                return s;
            }
            if Instant::now() > deadline {
                let o = self.tmux(&[
                    "display-message",
                    "-p",
                    "-t",
                    "main",
                    "#{pane_width}x#{pane_height}, cursor #{cursor_x},#{cursor_y}",
                ]);
                panic!(
                    "timed out waiting for {what}; the screen ({}) shows:\n{s}",
                    String::from_utf8_lossy(&o.stdout).trim()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Waits until `needle` is on screen.
    pub fn wait_for(&self, needle: &str) -> String {
        self.wait_until(&format!("{needle:?}"), |s| s.contains(needle))
    }

    /// Waits until all of `needles` are on screen (e.g. a heading and the prompt under it,
    /// so the screen is complete).
    pub fn wait_all(&self, needles: &[&str]) -> String {
        self.wait_until(&format!("{needles:?}"), |s| {
            needles.iter().all(|n| s.contains(n))
        })
    }

    /// Waits for `needle`, then types `text` and Enter.
    pub fn at(&self, needle: &str, text: &str) -> String {
        let s = self.wait_for(needle);
        self.answer(text);
        s
    }

    /// Presses Escape once `needle` is on screen, then waits for `next`.
    pub fn back(&self, needle: &str, next: &str) -> String {
        self.wait_for(needle);
        self.keys(&["Escape"]);
        self.wait_for(next)
    }

    /// The program's exit status once it has ended (as the pane's shell reported it).
    pub fn exit_status(&self) -> Option<i32> {
        let text = self.text();
        let rest = text.split("[snap-cli exited with status ").nth(1)?;
        rest.split(']').next()?.trim().parse().ok()
    }

    /// Waits for the program to end; returns its exit status.
    pub fn wait_exit(&self) -> i32 {
        let s = self.wait_for("[snap-cli exited with status ");
        self.exit_status()
            .unwrap_or_else(|| panic!("no exit status on screen:\n{s}"))
    }

    /// The screen, saved under `target/snap-cli-screens/` for the documentation of the PR.
    pub fn save(&self, name: &str) -> String {
        let text = self.text();
        let trimmed: Vec<&str> = text.lines().map(str::trim_end).collect();
        let mut body = trimmed.join("\n");
        body = body.trim_end().to_owned();
        body.push('\n');
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screens");
        std::fs::create_dir_all(&dir).ok();
        std::fs::write(dir.join(format!("{name}.txt")), &body).ok();
        body
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("----- last snap-cli screen -----\n{}\n-----", self.text());
        }
        let _ = Command::new("tmux")
            .args(["-S", &self.socket, "kill-server"])
            .env_remove("TMUX")
            .output();
    }
}

/// Polls the database until `check` holds.
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    starsync_tests::eventually(what, SCREEN_TIMEOUT, check)
        .await
        .unwrap();
}
