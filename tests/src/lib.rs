//! # starsync test harness
//!
//! Real parts only: [`mariadb`] starts real MariaDB servers (own datadir, socket and port under a
//! temp folder) and [`process`] runs the real `replicator`, `master-admin` and `snap-cli`
//! binaries. Used by every end-to-end test, the benchmarks and the demo.

pub mod load;
pub mod mariadb;
pub mod process;
pub mod star;
pub mod tls;

pub use mariadb::{Cluster, Node, NodeSpec};
pub use star::Star;

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `check` until it returns `Ok(true)` or `timeout` passes; the last error or `false`
/// becomes the failure message. Use instead of sleeps.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last = match check().await {
            Ok(true) => return Ok(()),
            Ok(false) => "condition not yet true".to_string(),
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() > deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}: {last}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Pids of all `mariadbd` processes on the machine (what `pgrep mariadbd` finds).
pub fn pgrep(name: &str) -> Vec<u32> {
    let out = std::process::Command::new("pgrep")
        .arg("-x")
        .arg(name)
        .output()
        .expect("pgrep runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}
