//! A whole star cluster: a master and snaps (real MariaDB servers), the hub and one agent per
//! snap (real `replicator` processes, real TCP). Used by the end-to-end tests, the benchmark and
//! the demo.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use mysql_async::prelude::*;

use crate::eventually;
use crate::mariadb::{free_port, Cluster, Node, NodeSpec, REPL_PASSWORD, REPL_USER};
use crate::process::{bin, Proc};

/// The cluster's shared secret in tests.
pub const SECRET: &str = "test-secret-0123456789abcdef";

/// A running star.
pub struct Star {
    pub hub: Option<Proc>,
    pub agents: Vec<Option<Proc>>,
    pub hub_port: u16,
    pub http_port: u16,
    pub status_ports: Vec<u16>,
    pub dir: PathBuf,
    /// The hub's `[hub] http_token`, when a test set one: the harness's requests send it.
    pub http_token: Option<String>,
    /// Dropped last: servers go after the processes that use them.
    pub cluster: Cluster,
}

impl Star {
    /// Starts a master (`master`, id 1) and `snaps` snaps (`snap1`.., ids 2..), the hub and the
    /// agents, and waits until every agent is connected.
    pub async fn start(snaps: u32) -> Result<Star> {
        Self::start_with(snaps, |s| s).await
    }

    /// Like `start`, with a chance to change each server's spec.
    pub async fn start_with(snaps: u32, f: impl Fn(NodeSpec) -> NodeSpec) -> Result<Star> {
        Self::start_partial(snaps, snaps, f).await
    }

    /// Starts every server and the hub, but agents only for the first `agents` snaps (the
    /// others join later with `start_agent`).
    pub async fn start_partial(
        snaps: u32,
        agents: u32,
        f: impl Fn(NodeSpec) -> NodeSpec,
    ) -> Result<Star> {
        Self::start_full(snaps, agents, f, "", "").await
    }

    /// Like `start_partial`, with extra settings for the hub's `[hub]` section and every
    /// agent's `[agent]` section (TOML lines).
    pub async fn start_tuned(
        snaps: u32,
        agents: u32,
        hub_extra: &str,
        agent_extra: &str,
    ) -> Result<Star> {
        Self::start_full(snaps, agents, |s| s, hub_extra, agent_extra).await
    }

    /// Like `start_tuned`, with a chance to change each server's spec too.
    pub async fn start_full(
        snaps: u32,
        agents: u32,
        f: impl Fn(NodeSpec) -> NodeSpec,
        hub_extra: &str,
        agent_extra: &str,
    ) -> Result<Star> {
        Self::servers(snaps, f)
            .await?
            .launch(agents, hub_extra, agent_extra)
            .await
    }

    /// Like `start`, with TLS between the agents and the hub: a CA and a hub certificate made
    /// for this cluster, in its folder ([`Star::tls_ca`]).
    pub async fn start_tls(snaps: u32) -> Result<Star> {
        let star = Self::servers(snaps, |s| s).await?;
        let dir = star.dir.join("tls");
        std::fs::create_dir_all(&dir)?;
        let certs = crate::tls::write_certs(&dir, "cluster", &["127.0.0.1", "localhost"])?;
        star.launch(snaps, &certs.hub_toml(), &certs.agent_toml())
            .await
    }

    /// The CA of a cluster started with [`Star::start_tls`].
    pub fn tls_ca(&self) -> Option<PathBuf> {
        Some(self.dir.join("tls/cluster-ca.pem")).filter(|p| p.exists())
    }

    /// The servers, and the star around them without its processes.
    async fn servers(snaps: u32, f: impl Fn(NodeSpec) -> NodeSpec) -> Result<Star> {
        let mut specs = vec![f(NodeSpec::new("master", 1))];
        for i in 1..=snaps {
            specs.push(f(NodeSpec::new(&format!("snap{i}"), i + 1)));
        }
        let cluster = Cluster::start_specs(specs).await?;
        let dir = cluster.root.path().to_owned();
        Ok(Star {
            hub: None,
            agents: (0..snaps).map(|_| None).collect(),
            hub_port: free_port()?,
            http_port: free_port()?,
            status_ports: (0..snaps).map(|_| free_port()).collect::<Result<_>>()?,
            dir,
            http_token: None,
            cluster,
        })
    }

    /// Writes the configs, starts the hub and the first `agents` agents, waits for them.
    async fn launch(mut self, agents: u32, hub_extra: &str, agent_extra: &str) -> Result<Star> {
        // A test that gives the hub an HTTP token (`http_token = "…"` in `hub_extra`) has the
        // harness send it.
        self.http_token = hub_extra.lines().find_map(|l| {
            let v = l
                .trim()
                .strip_prefix("http_token")?
                .trim()
                .strip_prefix('=')?;
            Some(v.trim().trim_matches('"').to_string())
        });
        self.write_configs(hub_extra, agent_extra)?;
        self.start_hub()?;
        for i in 0..agents as usize {
            self.start_agent(i)?;
        }
        self.wait_agents(agents as usize, Duration::from_secs(60))
            .await?;
        Ok(self)
    }

    pub fn master(&self) -> &Node {
        &self.cluster.nodes[0]
    }

    /// Snap `i` (0-based).
    pub fn snap(&self, i: usize) -> &Node {
        &self.cluster.nodes[i + 1]
    }

    pub fn snaps(&self) -> &[Node] {
        &self.cluster.nodes[1..]
    }

    pub fn hub_config(&self) -> PathBuf {
        self.dir.join("hub.toml")
    }

    pub fn agent_config(&self, i: usize) -> PathBuf {
        self.dir.join(format!("agent{}.toml", i + 1))
    }

    fn write_configs(&self, hub_extra: &str, agent_extra: &str) -> Result<()> {
        let m = self.master();
        std::fs::write(
            self.hub_config(),
            format!(
                "[node]\nname = \"master\"\nserver_id = {}\ndomain_id = {}\n\n\
                 [mariadb]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"{REPL_USER}\"\n\
                 password = \"{REPL_PASSWORD}\"\n\n\
                 [hub]\nlisten = \"127.0.0.1:{}\"\nhttp_listen = \"127.0.0.1:{}\"\n\
                 secret = \"{SECRET}\"\nheartbeat_ms = 100\n{hub_extra}\n",
                m.spec.server_id, m.spec.domain_id, m.port, self.hub_port, self.http_port
            ),
        )?;
        for (i, s) in self.snaps().iter().enumerate() {
            std::fs::write(
                self.agent_config(i),
                format!(
                    "[node]\nname = \"{}\"\nserver_id = {}\ndomain_id = {}\n\n\
                     [mariadb]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"{REPL_USER}\"\n\
                     password = \"{REPL_PASSWORD}\"\n\n\
                     [agent]\nhub = \"127.0.0.1:{}\"\nstatus_listen = \"127.0.0.1:{}\"\n\
                     secret = \"{SECRET}\"\nreconnect_max_ms = 1000\n{agent_extra}\n",
                    s.name(),
                    s.spec.server_id,
                    s.spec.domain_id,
                    s.port,
                    self.hub_port,
                    self.status_ports[i]
                ),
            )?;
        }
        Ok(())
    }

    pub fn start_hub(&mut self) -> Result<()> {
        let log = self.dir.join("hub.log");
        self.hub = Some(Proc::spawn(
            "hub",
            &bin("replicator"),
            &["hub", "--config", self.hub_config().to_str().unwrap()],
            &log,
            &[("RUST_LOG", &log_filter())],
        )?);
        Ok(())
    }

    pub fn start_agent(&mut self, i: usize) -> Result<()> {
        self.start_agent_with(i, &[])
    }

    /// Starts agent `i` with extra arguments (`--resync`).
    pub fn start_agent_with(&mut self, i: usize, extra: &[&str]) -> Result<()> {
        let log = self.dir.join(format!("agent{}.log", i + 1));
        let config = self.agent_config(i);
        let mut args = vec!["agent", "--config", config.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.agents[i] = Some(Proc::spawn(
            &format!("agent{}", i + 1),
            &bin("replicator"),
            &args,
            &log,
            &[("RUST_LOG", &log_filter())],
        )?);
        Ok(())
    }

    pub fn hub_proc(&mut self) -> &mut Proc {
        self.hub.as_mut().expect("hub running")
    }

    pub fn agent_proc(&mut self, i: usize) -> &mut Proc {
        self.agents[i].as_mut().expect("agent running")
    }

    /// The hub's `/status` (with the hub's HTTP token when the test set one).
    pub async fn status(&self) -> Result<serde_json::Value> {
        let (code, body) = replicator::http::request(
            &format!("127.0.0.1:{}", self.http_port),
            "GET",
            "/status",
            Duration::from_secs(5),
            self.http_token.as_deref(),
        )
        .await?;
        if code != 200 {
            bail!("/status answered {code}: {body}");
        }
        Ok(serde_json::from_str(&body)?)
    }

    /// Waits until every snap's agent is connected to the hub.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<()> {
        self.wait_agents(self.snaps().len(), timeout).await
    }

    /// Waits until the agents of the first `n` snaps are connected.
    pub async fn wait_agents(&self, n: usize, timeout: Duration) -> Result<()> {
        let names: Vec<String> = self.snaps()[..n]
            .iter()
            .map(|n| n.name().to_string())
            .collect();
        eventually("all agents connected", timeout, || async {
            let st = self.status().await?;
            let nodes = st["nodes"].as_array().cloned().unwrap_or_default();
            Ok(names.iter().all(|n| {
                nodes
                    .iter()
                    .any(|x| x["name"] == n.as_str() && x["connected"] == true)
            }))
        })
        .await
    }

    /// Tables of `MOST` on the master.
    pub async fn tables(&self) -> Result<Vec<String>> {
        self.master()
            .query(
                "SELECT CONCAT('`', TABLE_SCHEMA, '`.`', TABLE_NAME, '`') FROM \
                 information_schema.TABLES WHERE TABLE_SCHEMA = 'MOST' AND TABLE_TYPE = 'BASE TABLE' \
                 ORDER BY TABLE_NAME",
            )
            .await
    }

    /// Waits until every node holds the master's GTID position exactly and every table of
    /// `MOST` has the master's checksum and definition on every node.
    pub async fn wait_converged(&self, timeout: Duration) -> Result<()> {
        eventually("every node converged with the master", timeout, || async {
            let target = self.master().gtid_binlog_pos().await?;
            for s in self.snaps() {
                let p = s.gtid_binlog_pos().await?;
                if p != target {
                    anyhow::bail!("{} is at {p}, the master at {target}", s.name());
                }
            }
            // Positions equal; a last look at the master in case it moved meanwhile.
            if self.master().gtid_binlog_pos().await? != target {
                return Ok(false);
            }
            // The snaps' own transactions have come back as echoes (nothing left to apply).
            for (i, s) in self.snaps().iter().enumerate() {
                if self.agents[i].is_none() {
                    continue;
                }
                let own = target.get(s.spec.domain_id).map(|g| g.to_string());
                let st = self.agent_status(i).await?;
                if own.is_some() && st["echoed_own"].as_str().map(str::to_string) != own {
                    anyhow::bail!("{} has not applied its echoes up to {own:?}", s.name());
                }
                // A snap that just loaded a snapshot holds the master's position a moment
                // before its agent lets local writes in again.
                if !st["local_writes_held"].is_null() {
                    anyhow::bail!("{} still holds local writes", s.name());
                }
            }
            for t in self.tables().await? {
                let want = self.master().checksum(&t).await?;
                let want_def = definition(self.master(), &t).await?;
                for s in self.snaps() {
                    let got = s.checksum(&t).await?;
                    if got != want {
                        anyhow::bail!("{t} differs on {}: {got:?} vs master {want:?}", s.name());
                    }
                    if definition(s, &t).await? != want_def {
                        anyhow::bail!("{t} is defined differently on {}", s.name());
                    }
                }
            }
            Ok(true)
        })
        .await
    }

    /// Runs SQL on a node as root.
    pub async fn exec(&self, node: &Node, sql: &str) -> Result<()> {
        node.exec(sql).await
    }

    /// An agent's local `/status`.
    pub async fn agent_status(&self, i: usize) -> Result<serde_json::Value> {
        let (_, body) = replicator::http::get(
            &format!("127.0.0.1:{}", self.status_ports[i]),
            "/status",
            Duration::from_secs(5),
        )
        .await?;
        Ok(serde_json::from_str(&body)?)
    }

    /// The hub's log.
    pub fn hub_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("hub.log")).unwrap_or_default()
    }

    /// An agent's log.
    pub fn agent_log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.join(format!("agent{}.log", i + 1))).unwrap_or_default()
    }
}

/// A digest of a table's definition (as `/verify` compares them), `None` without the table.
async fn definition(node: &Node, table: &str) -> Result<Option<i64>> {
    let r: std::result::Result<Vec<(String, String)>, _> =
        node.query(&format!("SHOW CREATE TABLE {table}")).await;
    Ok(r.ok()
        .and_then(|v| v.into_iter().next())
        .map(|(_, ddl)| replicator::verify::definition_digest(&ddl)))
}

/// The node called `name` in a hub `/status` document.
pub fn status_node<'a>(status: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    status["nodes"]
        .as_array()?
        .iter()
        .find(|n| n["name"] == name)
}

/// Connects as the snap application account (DML on MOST only).
pub async fn app_conn(node: &Node) -> Result<mysql_async::Conn> {
    mysql_async::Conn::new(node.opts_as(crate::mariadb::APP_USER, crate::mariadb::APP_PASSWORD))
        .await
        .context("connecting as the app user")
}

/// Runs statements as the app user.
pub async fn app_exec(node: &Node, sql: &str) -> Result<()> {
    let mut c = app_conn(node).await?;
    c.query_drop(sql).await?;
    c.disconnect().await.ok();
    Ok(())
}

/// The replicator processes' log filter: `STARSYNC_TEST_LOG` when set (benchmarks run with
/// `info`, the production default), else debug level for starsync's own modules.
fn log_filter() -> String {
    std::env::var("STARSYNC_TEST_LOG").unwrap_or_else(|_| "info,replicator=debug".into())
}
