//! `demo`: a whole starsync cluster on this machine, for trying it out.
//!
//! Starts a master and two snaps (real MariaDB servers, each with its own datadir and port under
//! one temp folder), the hub and one agent per snap (the real `replicator` binary), runs
//! `master-admin init` on the master, starts the Streamlit console when Streamlit is installed,
//! and prints how to reach everything. Ctrl-C (SIGINT) or SIGTERM stops it all in order — console,
//! agents, hub, then each server with a clean shutdown — and removes the temp folder.
//!
//! Run it after building every binary (it runs them from its own folder):
//! `cargo build --release --workspace --bins && target/release/demo`.
//!
//! # Nothing left behind
//! Every server and replicator is started with `PR_SET_PDEATHSIG`, so even a `kill -9` of the
//! demo takes them down; the console runs in its own process group, which is signalled as a
//! whole, so Streamlit's own children go with it. The ready block lists every pid
//! (`tests/tests/demo.rs` checks that none survives).
//!
//! Exit codes: 0 stopped cleanly after a signal; 1 the cluster could not be started, or something
//! did not stop cleanly (the message says what).

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use starsync_tests::mariadb::{die_with_parent, free_port, APP_PASSWORD, APP_USER};
use starsync_tests::process::bin_dir;
use starsync_tests::Star;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// The line that ends the ready block (`tests/tests/demo.rs` waits for it).
const READY_END: &str = "Ctrl-C stops everything.";

fn main() -> ExitCode {
    // One thread: every child is spawned from this thread, which matters because
    // PR_SET_PDEATHSIG fires when the spawning *thread* ends.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// SIGINT and SIGTERM, installed before anything starts so that an early Ctrl-C also cleans up.
struct StopSignals {
    int: Signal,
    term: Signal,
}

impl StopSignals {
    fn install() -> Result<Self> {
        Ok(Self {
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
        })
    }

    /// Waits for either; returns its name.
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
        }
    }
}

async fn run() -> Result<()> {
    let mut signals = StopSignals::install()?;
    let bins = Binaries::find()?;
    say("starting a master and two snaps (MariaDB), the hub and two agents …");

    let started = Instant::now();
    let star = tokio::select! {
        r = Star::start_tls(2) => r.context("starting the cluster")?,
        s = signals.recv() => {
            // Dropping the half-started cluster kills what was started and removes its folder.
            say(&format!("{s} during startup: stopped"));
            return Ok(());
        }
    };
    let mut demo = Demo {
        star: Some(star),
        gui: None,
        bins,
    };
    let interrupted = tokio::select! {
        r = demo.prepare() => match r {
            Ok(()) => None,
            Err(e) => {
                say("stopping after a startup failure …");
                demo.stop().ok();
                return Err(e);
            }
        },
        s = signals.recv() => Some(s),
    };
    if let Some(s) = interrupted {
        say(&format!("{s} during startup: stopping …"));
        return demo.stop();
    }
    demo.print_ready(started.elapsed());
    let why = demo.watch(&mut signals).await;
    say(&format!(
        "{why} received: stopping the console, agents, hub and servers …"
    ));
    demo.stop()
}

/// Prints a status line of the demo itself (its own output, not a child's).
fn say(line: &str) {
    println!("[demo] {line}");
    std::io::stdout().flush().ok();
}

/// The product binaries the demo shows to the user (it runs `replicator` through the harness).
struct Binaries {
    snap_cli: PathBuf,
    master_admin: PathBuf,
}

impl Binaries {
    /// Finds them next to the demo's own executable; all three must be built.
    fn find() -> Result<Self> {
        let dir = bin_dir();
        let missing: Vec<String> = ["replicator", "snap-cli", "master-admin"]
            .iter()
            .map(|name| dir.join(name))
            .filter(|p| !p.exists())
            .map(|p| p.display().to_string())
            .collect();
        if !missing.is_empty() {
            bail!(
                "not built: {}. Build every binary first: cargo build --release --workspace --bins",
                missing.join(", ")
            );
        }
        Ok(Binaries {
            snap_cli: dir.join("snap-cli"),
            master_admin: dir.join("master-admin"),
        })
    }
}

struct Demo {
    /// `None` once stopped.
    star: Option<Star>,
    gui: Option<Gui>,
    bins: Binaries,
}

/// The console: `streamlit/run.sh` in its own process group.
struct Gui {
    child: Child,
    url: String,
    password: String,
    log: PathBuf,
}

impl Gui {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM to the whole group, SIGKILL to what is left after 10 s; reaps the leader.
    fn stop(&mut self) -> Result<()> {
        let pgid = self.child.id() as i32;
        kill_group(pgid, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut clean = true;
        loop {
            let leader_done = self.child.try_wait()?.is_some();
            if leader_done && !group_alive(pgid) {
                break;
            }
            if Instant::now() > deadline {
                kill_group(pgid, libc::SIGKILL);
                self.child.wait().ok();
                clean = false;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if !clean {
            bail!("the console did not stop within 10 s of SIGTERM; killed");
        }
        Ok(())
    }
}

impl Drop for Gui {
    fn drop(&mut self) {
        // Also on an error path: never leave the console running.
        kill_group(self.child.id() as i32, libc::SIGKILL);
        self.child.wait().ok();
    }
}

/// Waits up to 60 s for the console's health endpoint; gives up at once if it exits.
async fn wait_serving(gui: &mut Gui, addr: &str) -> std::result::Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = gui.child.try_wait() {
            return Err(format!("it exited with {status}"));
        }
        let health = replicator::http::get(addr, "/_stcore/health", Duration::from_secs(2)).await;
        if matches!(health, Ok((200, _))) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err("no answer on /_stcore/health within 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn kill_group(pgid: i32, sig: i32) {
    // SAFETY: kill has no memory-safety preconditions; a negative pid names a process group.
    unsafe {
        libc::kill(-pgid, sig);
    }
}

fn group_alive(pgid: i32) -> bool {
    // SAFETY: as above; signal 0 only checks for existence.
    unsafe { libc::kill(-pgid, 0) == 0 }
}

/// How `MOST` came to exist.
enum Init {
    MasterAdmin,
    /// master-admin is missing or failed; the demo made the starter schema itself, for this reason.
    Fallback(String),
}

impl Demo {
    fn star(&self) -> &Star {
        self.star.as_ref().expect("cluster running")
    }

    /// `master-admin init`, the console, and a converged cluster.
    async fn prepare(&mut self) -> Result<()> {
        match self.master_admin_init().await? {
            Init::MasterAdmin => say("master-admin init: done"),
            Init::Fallback(why) => {
                say(&format!(
                    "master-admin init did not set up the cluster ({why}); FALLBACK: the demo \
                     creates the starter schema MOST itself"
                ));
                self.starter_schema().await?;
            }
        }
        self.star()
            .wait_converged(Duration::from_secs(60))
            .await
            .context("waiting for the snaps to receive MOST")?;
        self.gui = self.start_gui().await;
        Ok(())
    }

    /// Runs the real `master-admin … init`; `Fallback` unless it exits 0 and `MOST` exists.
    async fn master_admin_init(&self) -> Result<Init> {
        let star = self.star();
        let log = star.dir.join("master-admin-init.log");
        let out = tokio::process::Command::new(&self.bins.master_admin)
            .args(self.master_admin_args("init"))
            .env("MASTER_ADMIN_PASSWORD", "")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let out = match tokio::time::timeout(Duration::from_secs(120), out).await {
            Err(_) => return Ok(Init::Fallback("it did not finish within 120 s".into())),
            Ok(Err(e)) => return Ok(Init::Fallback(format!("cannot run it: {e}"))),
            Ok(Ok(out)) => out,
        };
        std::fs::write(&log, [&out.stdout[..], &out.stderr[..]].concat()).ok();
        if !out.status.success() {
            return Ok(Init::Fallback(format!(
                "it exited with {}; output in {}",
                out.status,
                shown(&log)
            )));
        }
        let exists: Vec<String> = star
            .master()
            .query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'MOST'")
            .await?;
        if exists.is_empty() {
            return Ok(Init::Fallback(format!(
                "it exited 0 but the master has no database MOST; output in {}",
                shown(&log)
            )));
        }
        Ok(Init::MasterAdmin)
    }

    fn master_admin_args(&self, command: &str) -> Vec<String> {
        let star = self.star();
        vec![
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            star.master().port.to_string(),
            "--user".into(),
            "root".into(),
            "--hub".into(),
            format!("127.0.0.1:{}", star.http_port),
            command.into(),
        ]
    }

    /// The fallback: `MOST` with one small table and a few rows, made on the master (DDL is the
    /// master's business) and replicated to the snaps like any change.
    async fn starter_schema(&self) -> Result<()> {
        self.star()
            .master()
            .exec(
                "CREATE DATABASE IF NOT EXISTS `MOST` \
                   CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; \
                 CREATE TABLE IF NOT EXISTS `MOST`.`items` ( \
                   id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, \
                   name VARCHAR(100) NOT NULL, \
                   quantity INT NOT NULL DEFAULT 0, \
                   note VARCHAR(255) NULL, \
                   updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP \
                     ON UPDATE CURRENT_TIMESTAMP \
                 ); \
                 INSERT INTO `MOST`.`items` (name, quantity, note) VALUES \
                   ('bolts', 120, 'added on the master'), \
                   ('nuts', 300, 'added on the master'), \
                   ('washers', 75, NULL)",
            )
            .await
            .context("creating the starter schema on the master")
    }

    /// Starts the console when Streamlit is importable; otherwise says how to install it.
    async fn start_gui(&self) -> Option<Gui> {
        let star = self.star();
        let streamlit = repo_root().join("streamlit");
        if !streamlit.join("run.sh").exists() {
            say(&format!(
                "console: not started ({} not found; run the demo from a clone of the repository)",
                streamlit.join("run.sh").display()
            ));
            return None;
        }
        // Asked from streamlit/, where run.sh runs it: from the repository root, the folder
        // `streamlit/` itself would import as an (empty) namespace package and fool the check.
        let importable = Command::new("python3")
            .args(["-c", "import streamlit.web.cli"])
            .current_dir(&streamlit)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !importable {
            // Debian's python3 refuses system-wide pip installs (PEP 668): use a virtualenv.
            say(&format!(
                "console: not started (python3 cannot import streamlit). To have it, run the \
                 demo from a shell with a virtualenv:\n       \
                 python3 -m venv .venv && . .venv/bin/activate && pip install -r {}",
                shown(&streamlit.join("requirements.txt"))
            ));
            return None;
        }
        let port = match free_port() {
            Ok(p) => p,
            Err(e) => {
                say(&format!("console: not started (no free port: {e})"));
                return None;
            }
        };
        // A secrets file in the clone wins over the environment (streamlit/starsync_gui/auth.py).
        let (password, password_source) = if streamlit.join(".streamlit/secrets.toml").exists() {
            (
                "(gui_password in streamlit/.streamlit/secrets.toml)".to_string(),
                "secrets",
            )
        } else {
            (random_password(), "env")
        };
        let log = star.dir.join("gui.log");
        let spawned = (|| -> Result<Child> {
            let out = std::fs::File::create(&log)?;
            let mut cmd = Command::new("bash");
            cmd.arg(streamlit.join("run.sh"))
                .args(["--server.port", &port.to_string()])
                .args(["--server.fileWatcherType", "none"])
                .env_remove("STARSYNC_GUI_CONFIG")
                .env("STARSYNC_GUI_DB_HOST", "127.0.0.1")
                .env("STARSYNC_GUI_DB_PORT", star.master().port.to_string())
                .env("STARSYNC_GUI_DB_USER", "root")
                .env("STARSYNC_GUI_DB_PASSWORD", "")
                .env(
                    "STARSYNC_HUB_STATUS_URL",
                    format!("http://127.0.0.1:{}/status", star.http_port),
                )
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .stdin(Stdio::null())
                .stdout(out.try_clone()?)
                .stderr(out)
                // Its own group: a terminal's Ctrl-C reaches the demo, which stops the group.
                .process_group(0);
            if password_source == "env" {
                cmd.env("STARSYNC_GUI_PASSWORD", &password);
            }
            die_with_parent(&mut cmd);
            Ok(cmd.spawn()?)
        })();
        let child = match spawned {
            Ok(c) => c,
            Err(e) => {
                say(&format!("console: not started ({e:#})"));
                return None;
            }
        };
        let mut gui = Gui {
            child,
            url: format!("http://127.0.0.1:{port}"),
            password,
            log,
        };
        match wait_serving(&mut gui, &format!("127.0.0.1:{port}")).await {
            Ok(()) => Some(gui),
            Err(why) => {
                say(&format!(
                    "console: did not come up ({why}); see {}. Continuing without it.",
                    shown(&gui.log)
                ));
                gui.stop().ok();
                None
            }
        }
    }

    fn print_ready(&self, took: Duration) {
        let star = self.star();
        let b = &self.bins;
        let mut s = String::new();
        let mut line = |l: String| {
            s.push_str(&l);
            s.push('\n');
        };
        line(String::new());
        line(format!(
            "==== starsync demo is ready ({:.1} s) ====================================",
            took.as_secs_f64()
        ));
        line(String::new());
        line("  node    MariaDB           server/domain id  replicator".into());
        line(format!(
            "  master  127.0.0.1:{:<5}   {}/{}               hub: agents connect to 127.0.0.1:{} (TLS), \
             status http://127.0.0.1:{}/status",
            star.master().port,
            star.master().spec.server_id,
            star.master().spec.domain_id,
            star.hub_port,
            star.http_port
        ));
        for (i, n) in star.snaps().iter().enumerate() {
            line(format!(
                "  {:<6}  127.0.0.1:{:<5}   {}/{}               agent: status 127.0.0.1:{}",
                n.name(),
                n.port,
                n.spec.server_id,
                n.spec.domain_id,
                star.status_ports[i]
            ));
        }
        line(String::new());
        line(
            "Open snap-cli on a snap (in another terminal; it logs in as the snap account):".into(),
        );
        for (i, n) in star.snaps().iter().enumerate() {
            line(format!(
                "  {}: SNAP_CLI_PASSWORD={APP_PASSWORD} {} --host 127.0.0.1 --port {} --user \
                 {APP_USER} --agent-status 127.0.0.1:{}",
                n.name(),
                shown(&b.snap_cli),
                n.port,
                star.status_ports[i]
            ));
        }
        line(String::new());
        line("Replication status of every node:".into());
        line(format!(
            "  MASTER_ADMIN_PASSWORD= {} {}",
            shown(&b.master_admin),
            self.master_admin_args("status").join(" ")
        ));
        line(format!(
            "  curl -s http://127.0.0.1:{}/status      (the same, as JSON)",
            star.http_port
        ));
        line(String::new());
        match &self.gui {
            Some(g) => {
                line(format!("Console (Streamlit): {}", g.url));
                line(format!("  password: {}", g.password));
            }
            None => line("Console (Streamlit): not running (see above)".into()),
        }
        line(format!(
            "  SQL as root on the master: mariadb -h 127.0.0.1 -P {} -u root MOST",
            star.master().port
        ));
        line(String::new());
        line(format!(
            "Logs and datadirs: {}/  (hub.log, agent1.log, agent2.log, gui.log, <node>/error.log)",
            star.dir.display()
        ));
        if let Some(ca) = star.tls_ca() {
            line(format!(
                "Agents and hub talk TLS, with a CA made for this demo: {} (the README's TLS \
                 section makes your own)",
                ca.display()
            ));
        }
        let mut pids = vec![
            format!("master={}", pid(star.master().pid())),
            format!("snap1={}", pid(star.snap(0).pid())),
            format!("snap2={}", pid(star.snap(1).pid())),
            format!("hub={}", pid(star.hub.as_ref().and_then(|p| p.pid()))),
        ];
        for (i, a) in star.agents.iter().enumerate() {
            pids.push(format!(
                "agent{}={}",
                i + 1,
                pid(a.as_ref().and_then(|p| p.pid()))
            ));
        }
        if let Some(g) = &self.gui {
            pids.push(format!("gui={}", g.pid()));
        }
        line(format!("Processes: {}", pids.join(" ")));
        line(String::new());
        line(READY_END.into());
        print!("{s}");
        std::io::stdout().flush().ok();
    }

    /// Waits for SIGINT/SIGTERM; meanwhile reports a replicator or console that exits by itself.
    async fn watch(&mut self, signals: &mut StopSignals) -> &'static str {
        let mut reported = std::collections::HashSet::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                s = signals.recv() => return s,
                _ = tick.tick() => {}
            }
            let star = self.star.as_mut().expect("cluster running");
            let mut dead = Vec::new();
            for p in star.hub.iter_mut().chain(star.agents.iter_mut().flatten()) {
                if !p.running() {
                    dead.push((p.name.clone(), p.log.clone()));
                }
            }
            if let Some(g) = self.gui.as_mut() {
                if matches!(g.child.try_wait(), Ok(Some(_))) {
                    dead.push(("console".into(), g.log.clone()));
                }
            }
            for (name, log) in dead {
                if reported.insert(name.clone()) {
                    say(&format!(
                        "WARNING: the {name} exited by itself; see {}",
                        shown(&log)
                    ));
                }
            }
        }
    }

    /// Console, agents, hub, servers; then the temp folder goes.
    fn stop(&mut self) -> Result<()> {
        let mut problems = Vec::new();
        if let Some(mut g) = self.gui.take() {
            if let Err(e) = g.stop() {
                problems.push(format!("{e:#}"));
            }
        }
        if let Some(mut star) = self.star.take() {
            let procs = star.agents.iter_mut().rev().chain([&mut star.hub]);
            for slot in procs {
                if let Some(mut p) = slot.take() {
                    match p.terminate(Duration::from_secs(15)) {
                        Ok(st) if st.success() => {}
                        Ok(st) => problems.push(format!("{} exited with {st}", p.name)),
                        Err(e) => problems.push(format!("{e:#}")),
                    }
                }
            }
            for n in star.cluster.nodes.iter_mut() {
                if let Err(e) = n.stop() {
                    problems.push(format!("{e:#}"));
                }
            }
            let dir = star.dir.clone();
            drop(star);
            if dir.exists() {
                problems.push(format!("{} is still there", dir.display()));
            } else {
                say(&format!("stopped; removed {}", dir.display()));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            bail!("not everything stopped cleanly: {}", problems.join("; "))
        }
    }
}

fn pid(p: Option<u32>) -> String {
    p.map(|p| p.to_string()).unwrap_or_else(|| "-".into())
}

/// The repository the demo was built from (its `streamlit/` is the console).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned()
}

/// `p` relative to the current folder when it is below it (what a user types), else absolute.
fn shown(p: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| p.strip_prefix(cwd).ok().map(|r| r.display().to_string()))
        .unwrap_or_else(|| p.display().to_string())
}

/// A fresh console password for this run (the console runs SQL as root on the master).
fn random_password() -> String {
    let mut bytes = [0u8; 9];
    let read = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    if read.is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        bytes.copy_from_slice(&t.to_le_bytes()[..9]);
    }
    format!(
        "demo-{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}
