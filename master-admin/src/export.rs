//! `master-admin export`: a consistent SQL dump of a replicated database with its GTID position.
//!
//! Runs `mariadb-dump --single-transaction --gtid --master-data=2 --routines --triggers --events
//! --databases DB…`: one consistent snapshot (a brief global read lock takes the binlog position,
//! then InnoDB's snapshot serves the rest), with the position written as a comment
//! (`-- SET GLOBAL gtid_slave_pos='…'`) so a new node built from the file knows where it stands.
//!
//! The password goes to the child in `MYSQL_PWD`, never on its command line (where `ps` shows
//! it). The dump streams to `FILE.partial` with a progress line and is renamed to `FILE` only when
//! mariadb-dump succeeded, so a failed export never leaves a file that looks complete. The GTID
//! position comes at the end of the dump (after the data); the last megabyte is kept while
//! streaming and checked for it.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use replicator::gtid::GtidPos;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::Settings;
use crate::error::{Error, Result};
use crate::names::Ident;
use crate::render;

/// The dump tool.
pub const DUMP_PROGRAM: &str = "mariadb-dump";
/// How much of the dump's end is searched for the GTID position: with `--master-data`,
/// mariadb-dump writes `-- SET GLOBAL gtid_slave_pos='…'` after all data ("the deferred gtid
/// setting"), followed only by a few restoring statements.
const TAIL_BYTES: usize = 1 << 20;

/// What to export where.
#[derive(Debug, Clone)]
pub struct ExportOpts {
    pub output: PathBuf,
    pub databases: Vec<Ident>,
    /// Overwrite an existing output file.
    pub force: bool,
}

/// The dump's arguments (connection, then what to dump); no password.
pub fn dump_args(settings: &Settings, databases: &[Ident]) -> Vec<String> {
    let mut args = vec![format!("--user={}", settings.user)];
    match &settings.socket {
        Some(s) => {
            args.push("--protocol=SOCKET".into());
            args.push(format!("--socket={}", s.display()));
        }
        None => {
            args.push("--protocol=TCP".into());
            args.push(format!("--host={}", settings.host));
            args.push(format!("--port={}", settings.port));
        }
    }
    for a in [
        "--single-transaction",
        "--gtid",
        "--master-data=2",
        "--routines",
        "--triggers",
        "--events",
        // Binary values as hex literals and text as utf8mb4: the file then imports byte-exact
        // whatever the importing client's character set.
        "--hex-blob",
        "--default-character-set=utf8mb4",
        "--databases",
    ] {
        args.push(a.into());
    }
    // A name that starts with `-` must not read as an option: after `--` everything is a name.
    if databases.iter().any(|d| d.as_str().starts_with('-')) {
        args.push("--".into());
    }
    args.extend(databases.iter().map(|d| d.as_str().to_owned()));
    args
}

/// The GTID position in a dump's text (`-- SET GLOBAL gtid_slave_pos='1-1-5';`).
pub fn gtid_in_dump(text: &str) -> Option<GtidPos> {
    text.lines()
        .filter(|l| l.contains("gtid_slave_pos"))
        .find_map(|l| {
            let start = l.find('\'')? + 1;
            let end = start + l[start..].find('\'')?;
            l[start..end].parse().ok()
        })
}

fn partial_path(output: &Path) -> PathBuf {
    let mut name = output.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    output.with_file_name(name)
}

/// Prints progress to stderr: a line rewritten in place on a terminal, a line every few
/// seconds elsewhere.
struct Progress {
    tty: bool,
    started: Instant,
    last: Instant,
    every: Duration,
    what: String,
}

impl Progress {
    fn new(what: String) -> Self {
        let tty = std::io::stderr().is_terminal();
        let now = Instant::now();
        Self {
            tty,
            started: now,
            last: now,
            every: if tty {
                Duration::from_millis(200)
            } else {
                Duration::from_secs(5)
            },
            what,
        }
    }

    fn update(&mut self, bytes: u64) {
        if self.last.elapsed() < self.every {
            return;
        }
        self.last = Instant::now();
        let line = format!(
            "{}: {} written, {}",
            self.what,
            render::bytes(bytes),
            render::duration(self.started.elapsed())
        );
        let mut err = std::io::stderr().lock();
        let _ = if self.tty {
            write!(err, "\r\x1b[K{line}")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
    }

    fn finish(&self) {
        if self.tty {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
        }
    }
}

/// Runs `export`; prints the outcome to `out`.
pub async fn run(settings: &Settings, opts: &ExportOpts, out: &mut dyn Write) -> Result<()> {
    let output = &opts.output;
    if output.exists() && !opts.force {
        return Err(Error::Usage(format!(
            "{} already exists: choose another --output, or pass --force to overwrite it",
            output.display()
        )));
    }
    let partial = partial_path(output);
    let file_err = |what: &'static str, path: &Path| {
        let path = path.to_owned();
        move |cause| Error::File { what, path, cause }
    };
    let mut file = tokio::fs::File::create(&partial)
        .await
        .map_err(file_err("cannot create", &partial))?;

    let mut child = match tokio::process::Command::new(DUMP_PROGRAM)
        .args(dump_args(settings, &opts.databases))
        .env("MYSQL_PWD", settings.password.expose())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            drop(file);
            let _ = std::fs::remove_file(&partial);
            return Err(if e.kind() == std::io::ErrorKind::NotFound {
                Error::DumpMissing {
                    program: DUMP_PROGRAM.into(),
                }
            } else {
                Error::File {
                    what: "cannot run",
                    path: DUMP_PROGRAM.into(),
                    cause: e,
                }
            });
        }
    };
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let errors = tokio::spawn(async move {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s).await;
        String::from_utf8_lossy(&s).into_owned()
    });

    let names: Vec<&str> = opts.databases.iter().map(Ident::as_str).collect();
    let mut progress = Progress::new(format!(
        "exporting {} from {} to {}",
        names.join(", "),
        settings.address(),
        output.display()
    ));
    let mut tail: Vec<u8> = Vec::new();
    let mut written: u64 = 0;
    let mut buf = vec![0u8; 256 * 1024];
    let copied: std::io::Result<()> = async {
        loop {
            let n = stdout.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            file.write_all(&buf[..n]).await?;
            tail.extend_from_slice(&buf[..n]);
            if tail.len() > 2 * TAIL_BYTES {
                tail.drain(..tail.len() - TAIL_BYTES);
            }
            written += n as u64;
            progress.update(written);
        }
        file.flush().await?;
        file.sync_all().await
    }
    .await;
    progress.finish();
    let status = child.wait().await;
    let stderr_text = errors.await.unwrap_or_default();
    drop(file);

    let fail = |e: Error| {
        let _ = std::fs::remove_file(&partial);
        Err(e)
    };
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => {
            return fail(Error::DumpFailed {
                status: s.to_string(),
                stderr: stderr_text.trim().to_owned(),
            })
        }
        Err(e) => return fail(file_err("waiting for", Path::new(DUMP_PROGRAM))(e)),
    }
    if let Err(e) = copied {
        return fail(file_err("cannot write", &partial)(e));
    }
    std::fs::rename(&partial, output).map_err(file_err("cannot rename the dump to", output))?;
    let warnings = stderr_text.trim();
    if !warnings.is_empty() {
        eprintln!("mariadb-dump said:\n{warnings}");
    }
    let _ = writeln!(
        out,
        "exported {} to {}: {} in {}",
        names.join(", "),
        output.display(),
        render::bytes(written),
        render::duration(progress.started.elapsed())
    );
    match gtid_in_dump(&String::from_utf8_lossy(&tail)) {
        Some(pos) => {
            let _ = writeln!(
                out,
                "GTID position {} is recorded in the file (-- SET GLOBAL gtid_slave_pos='{pos}')",
                if pos.is_empty() {
                    "(empty)".to_string()
                } else {
                    pos.to_string()
                }
            );
            Ok(())
        }
        None => Err(Error::DumpIncomplete(format!(
            "the dump {} has no GTID position (no gtid_slave_pos line): is binary logging on \
             on {}? The file is kept, but it cannot seed a new node",
            output.display(),
            settings.address()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Layer;

    #[test]
    fn arguments_carry_no_password_and_the_consistency_flags() {
        let flags = Layer {
            port: Some(3307),
            password: Some(crate::config::Secret::new("s3cret")),
            ..Layer::default()
        };
        let s = Settings::resolve(flags, Layer::default(), Layer::default()).unwrap();
        let args = dump_args(&s, &[Ident::new("MOST", "database").unwrap()]);
        assert!(args.iter().all(|a| !a.contains("s3cret")), "{args:?}");
        for want in [
            "--single-transaction",
            "--gtid",
            "--master-data=2",
            "--routines",
            "--triggers",
            "--events",
            "--port=3307",
            "--protocol=TCP",
        ] {
            assert!(args.iter().any(|a| a == want), "{want} in {args:?}");
        }
        assert_eq!(args[args.len() - 2..], ["--databases", "MOST"]);
    }

    #[test]
    fn finds_the_gtid_position() {
        // As mariadb-dump 10.11 writes it with --gtid --master-data=2, after the data.
        let tail = "-- Dumping routines for database 'MOST'\n--\n\n\
                    -- The deferred gtid setting for slave corresponding to the master-data \
                    CHANGE-MASTER follows\n\n\
                    -- Preferably use GTID to start replication from GTID position:\n\n\
                    -- SET GLOBAL gtid_slave_pos='1-1-5,2-2-3';\n\
                    /*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;\n";
        assert_eq!(gtid_in_dump(tail).unwrap().to_string(), "1-1-5,2-2-3");
        assert!(gtid_in_dump("-- nothing here\n").is_none());
        assert!(gtid_in_dump("-- SET GLOBAL gtid_slave_pos='';\n")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn partial_file_is_beside_the_output() {
        assert_eq!(
            partial_path(Path::new("/x/most.sql")),
            PathBuf::from("/x/most.sql.partial")
        );
    }
}
