//! Real MariaDB servers for tests, benchmarks and the demo.
//!
//! Each server gets its own datadir, socket, error log and free TCP port under one temp folder,
//! and runs `mariadbd` as the current user. A template datadir is made once (by
//! `mariadb-install-db`, then started with the binlog off to create the product's accounts) and
//! cached in the system temp folder; every node starts from a copy of it, so a 3-node cluster is
//! up in about a second. Servers start in parallel.
//!
//! Teardown: [`Cluster`] kills every server it started, by pid, when dropped — also when a test
//! panics — and prints the tail of each error log if the thread is panicking. Servers are started
//! with `PR_SET_PDEATHSIG`, so they also die if the test process itself is killed.

use std::io::{BufRead, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use mysql_async::prelude::*;

/// The replication account the harness creates on every node.
pub const REPL_USER: &str = "starsync_repl";
/// Its password.
pub const REPL_PASSWORD: &str = "repl-pass-0123456789";
/// The snap application account (DML on `MOST` only).
pub const APP_USER: &str = "snap_user";
/// Its password.
pub const APP_PASSWORD: &str = "snap-pass-0123456789";

/// Bumped whenever the template's contents change, so stale caches are not reused.
const TEMPLATE_VERSION: u32 = 3;

/// What a node of a cluster looks like.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub name: String,
    pub server_id: u32,
    pub domain_id: u32,
    /// Extra `mariadbd` options, appended last so they override the defaults
    /// (e.g. `--binlog-format=STATEMENT`).
    pub extra_args: Vec<String>,
}

impl NodeSpec {
    pub fn new(name: &str, id: u32) -> Self {
        Self {
            name: name.into(),
            server_id: id,
            domain_id: id,
            extra_args: Vec::new(),
        }
    }

    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.extra_args.push(a.into());
        self
    }
}

/// One running (or stopped) MariaDB server.
#[derive(Debug)]
pub struct Node {
    pub spec: NodeSpec,
    pub dir: PathBuf,
    pub datadir: PathBuf,
    pub socket: PathBuf,
    pub port: u16,
    pub error_log: PathBuf,
    child: Option<Child>,
}

impl Node {
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Connection options for `user`.
    pub fn opts_as(&self, user: &str, password: &str) -> mysql_async::Opts {
        mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(self.port)
            .user(Some(user))
            .pass(Some(password))
            .prefer_socket(false)
            .into()
    }

    /// Connection options for root (all privileges, no password).
    pub fn opts(&self) -> mysql_async::Opts {
        self.opts_as("root", "")
    }

    /// A new root connection.
    pub async fn conn(&self) -> Result<mysql_async::Conn> {
        mysql_async::Conn::new(self.opts())
            .await
            .with_context(|| format!("connecting to node {} on port {}", self.name(), self.port))
    }

    /// Runs statements as root (a new connection each call).
    pub async fn exec(&self, sql: &str) -> Result<()> {
        let mut c = self.conn().await?;
        c.query_drop(sql)
            .await
            .with_context(|| format!("on node {}: {sql}", self.name()))?;
        c.disconnect().await.ok();
        Ok(())
    }

    /// Runs a query as root and returns its rows.
    pub async fn query<T: FromRow + Send + 'static>(&self, sql: &str) -> Result<Vec<T>> {
        let mut c = self.conn().await?;
        let rows = c
            .query(sql)
            .await
            .with_context(|| format!("on node {}: {sql}", self.name()))?;
        c.disconnect().await.ok();
        Ok(rows)
    }

    /// `@@gtid_binlog_pos`.
    pub async fn gtid_binlog_pos(&self) -> Result<replicator::gtid::GtidPos> {
        let s: Vec<String> = self.query("SELECT @@gtid_binlog_pos").await?;
        Ok(s[0].parse()?)
    }

    /// This node's transactions, read from its binlog as the replicator reads them, and its
    /// position after them.
    pub async fn transactions(
        &self,
    ) -> Result<(
        Vec<Vec<replicator::model::TxnItem>>,
        replicator::gtid::GtidPos,
    )> {
        use replicator::binlog::{AssembleOptions, BinlogReader, Read, ReaderOptions};
        use replicator::model::TxnItem;
        let target = self.gtid_binlog_pos().await?;
        let mut reader = BinlogReader::new(
            ReaderOptions {
                opts: self.opts_as(REPL_USER, REPL_PASSWORD),
                replica_id: 1001,
                heartbeat: Duration::from_millis(300),
                reconnect_max: Duration::from_millis(500),
                label: self.name().to_string(),
                assemble: AssembleOptions::default(),
            },
            replicator::gtid::GtidPos::new(),
        );
        let mut txns: Vec<Vec<TxnItem>> = Vec::new();
        let mut open = Vec::new();
        loop {
            let read = tokio::time::timeout(Duration::from_secs(30), reader.next())
                .await
                .context("the binlog reader stalled")??;
            match read {
                Read::Item(item) => {
                    let end = matches!(item, TxnItem::Commit(_));
                    open.push(item);
                    if end {
                        txns.push(std::mem::take(&mut open));
                    }
                }
                Read::Idle if reader.position().covers(&target) => break,
                Read::Idle => {}
            }
        }
        Ok((txns, target))
    }

    /// `CHECKSUM TABLE` of one table (`None` when the table does not exist).
    pub async fn checksum(&self, table: &str) -> Result<Option<i64>> {
        let rows: Vec<(String, Option<i64>)> = self
            .query(&format!("CHECKSUM TABLE {table} EXTENDED"))
            .await?;
        Ok(rows.into_iter().next().and_then(|r| r.1))
    }

    /// Starts the server (again) on its datadir and port, and waits until it answers.
    pub async fn start(&mut self) -> Result<()> {
        if self.child.is_some() {
            bail!("node {} is already running", self.name());
        }
        self.spawn()?;
        self.wait_ready(Duration::from_secs(60)).await
    }

    fn spawn(&mut self) -> Result<()> {
        // A tmpdir of its own: a starting server deletes every `#sql…` file in its tmpdir (its
        // own leftovers, it assumes), so servers sharing /tmp removed each other's live
        // temporary tables ("Error on delete of '/tmp/#sql-temptable-…'", seen in CI).
        let tmp = self.dir.join("tmp");
        std::fs::create_dir_all(&tmp)?;
        let mut cmd = Command::new(mariadbd());
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", self.datadir.display()))
            .arg(format!("--tmpdir={}", tmp.display()))
            .arg(format!("--socket={}", self.socket.display()))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg(format!(
                "--pid-file={}",
                self.dir.join("mariadbd.pid").display()
            ))
            .arg(format!("--log-error={}", self.error_log.display()))
            .args(server_settings(&self.spec))
            .args(&self.spec.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if is_root() {
            cmd.arg("--user=root");
        }
        die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {} for node {}", mariadbd(), self.name()))?;
        self.child = Some(child);
        Ok(())
    }

    async fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    self.child = None;
                    bail!(
                        "mariadbd of node {} exited with {status} during startup; error log:\n{}",
                        self.name(),
                        self.log_tail(40)
                    );
                }
            }
            if let Ok(mut c) = mysql_async::Conn::new(self.opts()).await {
                if let Ok(Some(datadir)) = c.query_first::<String, _>("SELECT @@datadir").await {
                    c.disconnect().await.ok();
                    // Another server on this port (the port was taken between choosing it and
                    // this server's bind): fail here rather than test against the wrong server.
                    let ours = self.datadir.canonicalize().unwrap_or(self.datadir.clone());
                    if Path::new(&datadir) != ours {
                        bail!(
                            "port {} of node {} is answered by another server (datadir {datadir}); \
                             error log:\n{}",
                            self.port,
                            self.name(),
                            self.log_tail(40)
                        );
                    }
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "node {} did not become ready within {timeout:?}; error log:\n{}",
                    self.name(),
                    self.log_tail(40)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Clean shutdown (SIGTERM), waiting for the process to exit.
    pub fn stop(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if child.try_wait()?.is_some() {
                    return Ok(());
                }
                if Instant::now() > deadline {
                    child.kill().ok();
                    child.wait().ok();
                    bail!("node {} did not stop within 60 s; killed", self.name());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }

    /// `kill -9`: the server dies without a clean shutdown (crash recovery on next start).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }

    /// The last `n` lines of the error log.
    pub fn log_tail(&self, n: usize) -> String {
        let Ok(f) = std::fs::File::open(&self.error_log) else {
            return "(no error log)".into();
        };
        let lines: Vec<String> = std::io::BufReader::new(f)
            .lines()
            .map_while(|l| l.ok())
            .collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "----- error log of MariaDB node {} (port {}), last lines -----\n{}\n-----",
                self.name(),
                self.port,
                self.log_tail(30)
            );
        }
        self.kill9();
    }
}

/// Settings every node runs with: what `../shared/DESIGN.md` requires, plus test-friendly sizes.
/// `config/mariadb/starsync.cnf` is the production counterpart.
pub fn server_settings(spec: &NodeSpec) -> Vec<String> {
    let mut v: Vec<String> = [
        "--log-bin=mariadb-bin",
        "--binlog-format=ROW",
        "--binlog-row-image=FULL",
        "--binlog-row-metadata=FULL",
        "--gtid-strict-mode=ON",
        "--log-bin-trust-function-creators=ON",
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_unicode_ci",
        "--innodb-buffer-pool-size=256M",
        "--innodb-log-file-size=256M",
        "--innodb-flush-log-at-trx-commit=2",
        "--sync-binlog=0",
        "--max-connections=300",
        "--max-allowed-packet=64M",
        "--skip-name-resolve",
        "--performance-schema=OFF",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(format!("--server-id={}", spec.server_id));
    v.push(format!("--gtid-domain-id={}", spec.domain_id));
    // Multi-master: every node generates its own AUTO_INCREMENT values.
    v.push("--auto-increment-increment=64".into());
    v.push(format!(
        "--auto-increment-offset={}",
        (spec.server_id - 1) % 64 + 1
    ));
    v
}

/// A set of MariaDB servers under one temp folder.
pub struct Cluster {
    pub nodes: Vec<Node>,
    /// Deleted when the cluster is dropped (after the servers are killed: field order).
    pub root: tempfile::TempDir,
}

impl Cluster {
    /// Starts `n` nodes named `node1..` with server and domain ids `1..=n`.
    pub async fn start(n: u32) -> Result<Cluster> {
        Self::start_specs(
            (1..=n)
                .map(|i| NodeSpec::new(&format!("node{i}"), i))
                .collect(),
        )
        .await
    }

    /// Starts the given nodes in parallel.
    pub async fn start_specs(specs: Vec<NodeSpec>) -> Result<Cluster> {
        let template = template_datadir()?;
        let root = tempfile::Builder::new()
            .prefix("starsync-")
            .tempdir()
            .context("creating the cluster's temp folder")?;
        let mut nodes = Vec::new();
        for spec in specs {
            let dir = root.path().join(&spec.name);
            std::fs::create_dir_all(&dir)?;
            let datadir = dir.join("data");
            copy_dir(&template, &datadir)?;
            let mut node = Node {
                socket: dir.join("mysql.sock"),
                error_log: dir.join("error.log"),
                port: free_port()?,
                dir,
                datadir,
                spec,
                child: None,
            };
            node.spawn()?;
            nodes.push(node);
        }
        let mut cluster = Cluster { nodes, root };
        let waits = cluster
            .nodes
            .iter_mut()
            .map(|n| n.wait_ready(Duration::from_secs(60)));
        for r in futures::future::join_all(waits).await {
            r?;
        }
        Ok(cluster)
    }

    pub fn node(&self, name: &str) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.name() == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    }

    pub fn node_mut(&mut self, name: &str) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.name() == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    }

    /// The pids of the servers still running.
    pub fn pids(&self) -> Vec<u32> {
        self.nodes.iter().filter_map(|n| n.pid()).collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // STARSYNC_KEEP=1 keeps datadirs and logs for a post-mortem.
        if std::env::var_os("STARSYNC_KEEP").is_some() {
            if let Ok(spare) = tempfile::tempdir() {
                let kept = std::mem::replace(&mut self.root, spare).keep();
                eprintln!("STARSYNC_KEEP: cluster files kept in {}", kept.display());
            }
        }
    }
}

/// Path of `mariadbd` (`MARIADBD` overrides; Debian installs it in /usr/sbin).
pub fn mariadbd() -> String {
    if let Ok(p) = std::env::var("MARIADBD") {
        return p;
    }
    for p in [
        "/usr/sbin/mariadbd",
        "/usr/bin/mariadbd",
        "/usr/local/bin/mariadbd",
    ] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    "mariadbd".into()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Makes the child die when the spawning thread's process dies.
pub fn die_with_parent(cmd: &mut Command) {
    // SAFETY: prctl is async-signal-safe and touches only the child's own state.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// Sends a signal to a process.
pub fn signal(pid: u32, sig: i32) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

/// A TCP port that is free right now on 127.0.0.1, and that this process has not handed out
/// before (tests run in parallel threads; a port given to one test's server is never given to
/// another's, even after it was released).
pub fn free_port() -> Result<u16> {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    // Hold every listener until a new port is found, so the kernel cannot offer one again.
    let mut held = Vec::new();
    for _ in 0..64 {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = l.local_addr()?.port();
        if !given.contains(&port) {
            given.push(port);
            return Ok(port);
        }
        held.push(l);
    }
    bail!("no free TCP port on 127.0.0.1 that this process has not used already")
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .context("running cp")?;
    if !status.success() {
        bail!("copying {} to {} failed", from.display(), to.display());
    }
    Ok(())
}

/// SQL run once on the template: the product's accounts.
fn template_sql() -> String {
    let privs = replicator::check::REQUIRED_PRIVILEGES
        .iter()
        .map(|(p, _)| *p)
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "CREATE USER '{REPL_USER}'@'%' IDENTIFIED BY '{REPL_PASSWORD}';\n\
         GRANT {privs} ON *.* TO '{REPL_USER}'@'%';\n\
         CREATE USER '{APP_USER}'@'%' IDENTIFIED BY '{APP_PASSWORD}';\n\
         GRANT SELECT, INSERT, UPDATE, DELETE ON `MOST`.* TO '{APP_USER}'@'%';\n\
         FLUSH PRIVILEGES;\n"
    )
}

static TEMPLATE: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();

/// The cached template datadir, made on first use (per machine, reused across test processes).
pub fn template_datadir() -> Result<PathBuf> {
    TEMPLATE
        .get_or_init(|| make_template().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow::anyhow!("cannot prepare the MariaDB template datadir: {e}"))
}

fn make_template() -> Result<PathBuf> {
    let uid = unsafe { libc::geteuid() };
    let sql = template_sql();
    let hash = sql.bytes().fold(TEMPLATE_VERSION as u64, |h, b| {
        h.wrapping_mul(31).wrapping_add(b as u64)
    });
    let final_dir = std::env::temp_dir().join(format!("starsync-template-{uid}-{hash:x}"));
    if final_dir.join("data/.ready").exists() {
        return Ok(final_dir.join("data"));
    }
    let work = tempfile::Builder::new()
        .prefix("starsync-template-build-")
        .tempdir()?;
    let data = work.path().join("data");
    // Its own tmpdir, as for every node (see `Node::spawn`).
    let tmp = work.path().join("tmp");
    std::fs::create_dir_all(&tmp)?;
    let out = Command::new("mariadb-install-db")
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--tmpdir={}", tmp.display()))
        .arg("--auth-root-authentication-method=normal")
        .arg("--skip-test-db")
        .arg("--innodb-log-file-size=256M")
        .args(if is_root() { vec!["--user=root"] } else { vec![] })
        .output()
        .context("running mariadb-install-db (is mariadb-server installed? apt-get install mariadb-server)")?;
    if !out.status.success() {
        bail!(
            "mariadb-install-db failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Start it without binlog and networking, create the accounts, shut it down.
    let sock = work.path().join("t.sock");
    let mut cmd = Command::new(mariadbd());
    cmd.arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--tmpdir={}", tmp.display()))
        .arg(format!("--socket={}", sock.display()))
        .arg("--skip-networking")
        .arg("--skip-log-bin")
        .arg("--innodb-log-file-size=256M")
        .arg(format!(
            "--log-error={}",
            work.path().join("t.err").display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if is_root() {
        cmd.arg("--user=root");
    }
    die_with_parent(&mut cmd);
    let mut child = cmd.spawn().context("starting mariadbd for the template")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut done = false;
    while Instant::now() < deadline {
        let mut client = Command::new("mariadb")
            .arg("--no-defaults")
            .arg(format!("--socket={}", sock.display()))
            .arg("-uroot")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("running the mariadb client (apt-get install mariadb-client)")?;
        client.stdin.take().unwrap().write_all(sql.as_bytes())?;
        let out = client.wait_with_output()?;
        if out.status.success() {
            done = true;
            break;
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "template mariadbd exited with {status}: {}",
                std::fs::read_to_string(work.path().join("t.err")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    signal(child.id(), libc::SIGTERM);
    child.wait()?;
    if !done {
        bail!("template mariadbd did not accept the account setup within 60 s");
    }
    std::fs::write(data.join(".ready"), b"")?;
    let staged = work.keep();
    // Another process may have won the race; either copy is fine.
    if std::fs::rename(&staged, &final_dir).is_err() {
        std::fs::remove_dir_all(&staged).ok();
    }
    if !final_dir.join("data/.ready").exists() {
        bail!("template datadir {} is incomplete", final_dir.display());
    }
    Ok(final_dir.join("data"))
}
