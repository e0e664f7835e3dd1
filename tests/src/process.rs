//! The product's binaries as child processes.
//!
//! Tests run the binaries that `cargo build --workspace --bins` put next to the test executable's
//! `deps/` folder. Every child is started with `PR_SET_PDEATHSIG` and killed when its handle is
//! dropped; its stdout and stderr go to a log file whose tail is printed when a test fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::mariadb::{die_with_parent, signal};

/// The folder holding the workspace's binaries (`target/debug` or `target/release`).
pub fn bin_dir() -> PathBuf {
    if let Ok(d) = std::env::var("STARSYNC_BIN_DIR") {
        return d.into();
    }
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().expect("exe has a folder");
    // Test executables live in target/<profile>/deps; binaries one level up.
    if dir.ends_with("deps") {
        dir.parent().unwrap().to_owned()
    } else {
        dir.to_owned()
    }
}

/// Path of one of the workspace's binaries; panics with the fix when it was not built.
pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.exists(),
        "{} not found: run `cargo build --workspace --bins` before the tests (the README's test \
         command does)",
        p.display()
    );
    p
}

/// A running child process that is killed when dropped.
#[derive(Debug)]
pub struct Proc {
    pub name: String,
    pub log: PathBuf,
    child: Option<Child>,
}

impl Proc {
    /// Starts `program args…` with stdout+stderr appended to `log`.
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[&str],
        log: &Path,
        env: &[(&str, &str)],
    ) -> Result<Proc> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        for (k, v) in env {
            cmd.env(k, v);
        }
        die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        Ok(Proc {
            name: name.into(),
            log: log.to_owned(),
            child: Some(child),
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c.try_wait().ok().flatten().is_none(),
            None => false,
        }
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().ok();
            c.wait().ok();
        }
    }

    /// SIGTERM, then waits up to `deadline` for the exit status.
    pub fn terminate(&mut self, deadline: Duration) -> Result<ExitStatus> {
        let Some(mut c) = self.child.take() else {
            bail!("{} is not running", self.name);
        };
        signal(c.id(), libc::SIGTERM);
        let until = Instant::now() + deadline;
        loop {
            if let Some(st) = c.try_wait()? {
                return Ok(st);
            }
            if Instant::now() > until {
                c.kill().ok();
                c.wait().ok();
                bail!("{} did not exit within {deadline:?} of SIGTERM", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Pauses (SIGSTOP) or resumes (SIGCONT) the process.
    pub fn pause(&self, paused: bool) {
        if let Some(pid) = self.pid() {
            signal(pid, if paused { libc::SIGSTOP } else { libc::SIGCONT });
        }
    }

    /// The whole log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let text = self.log_text();
            let lines: Vec<&str> = text.lines().collect();
            eprintln!(
                "----- log of {}, last lines -----\n{}\n-----",
                self.name,
                lines[lines.len().saturating_sub(40)..].join("\n")
            );
        }
        if let Some(c) = self.child.as_mut() {
            // Resume a paused child so that it can die.
            signal(c.id(), libc::SIGCONT);
        }
        self.kill9();
    }
}

/// Whether `pid` is a live (not zombie) process whose command line contains `marker`; a pid
/// reused by an unrelated process does not count.
pub fn alive(pid: i32, marker: &str) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat.rsplit_once(") ").map(|(_, r)| r.chars().next());
    if state == Some(Some('Z')) {
        return false;
    }
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains(marker))
        .unwrap_or(false)
}
