//! The `master-admin` command line, as a library so that tests can call it.
//!
//! Exit codes (also in `--help`):
//! - 0: done; for `status` all nodes connected and within `--max-lag`; for `verify` all equal;
//! - 1: a check found a problem (a node disconnected or over `--max-lag`; tables differ);
//! - 2: usage or configuration error;
//! - 3: the hub's HTTP endpoint does not answer (or answers with an error);
//! - 4: the database cannot be reached, or a statement failed, or the object does not exist;
//! - 5: refused: not the master, a system schema, or not confirmed;
//! - 6: export failed (mariadb-dump missing or failing, the file not writable, no GTID).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::config::{Layer, Settings, CONFIG_ENV};
use crate::conflicts::Filter;
use crate::db::Db;
use crate::error::{Error, Result, EXIT_OK};
use crate::export::ExportOpts;
use crate::hub::Hub;
use crate::names::{self, Ident, TableName};
use crate::schema::NewTable;
use crate::status::StatusOpts;

const AFTER_HELP: &str = "\
Connection: the master's MariaDB (--host/--port or --socket, --user; password from \
MASTER_ADMIN_PASSWORD or --password-file) and the hub's HTTP endpoint (--hub; its token, when \
the hub has [hub] http_token, from MASTER_ADMIN_HUB_TOKEN or --hub-token-file). Each flag also \
has an environment variable (MASTER_ADMIN_HOST, _PORT, _USER, _SOCKET, _HUB, _PASSWORD_FILE, \
_HUB_TOKEN_FILE) \
and a key in the config file (--config or MASTER_ADMIN_CONFIG; see config/master-admin.toml); \
a flag wins over the environment, which wins over the file.

Exit codes: 0 OK; 1 a check found a problem (node disconnected or over --max-lag, tables \
differ); 2 usage or configuration error; 3 hub unreachable; 4 database error; 5 refused (not the \
master, system schema, not confirmed); 6 export failed.";

/// Global flags and the command.
#[derive(Debug, Parser)]
#[command(
    name = "master-admin",
    version,
    about = "starsync master-admin: cluster status, schema changes on the master, conflicts, \
             verification, export and binlog purging",
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// Config file (TOML; see config/master-admin.toml).
    #[arg(long, short = 'c', value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// The master's MariaDB host [default: 127.0.0.1].
    #[arg(long, short = 'H', global = true)]
    pub host: Option<String>,
    /// The master's MariaDB TCP port [default: 3306].
    #[arg(long, short = 'P', global = true)]
    pub port: Option<u16>,
    /// DBA account [default: root].
    #[arg(long, short = 'u', global = true)]
    pub user: Option<String>,
    /// Unix socket of the master's MariaDB (instead of host and port).
    #[arg(long, short = 'S', global = true, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// File holding the password (else MASTER_ADMIN_PASSWORD).
    #[arg(long, global = true, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// The hub's HTTP endpoint, its `hub.http_listen` [default: 127.0.0.1:4580].
    #[arg(long, global = true, value_name = "HOST:PORT")]
    pub hub: Option<String>,
    /// File holding the hub's HTTP token, its `hub.http_token` (else MASTER_ADMIN_HUB_TOKEN).
    #[arg(long, global = true, value_name = "FILE")]
    pub hub_token_file: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Every node's connection, position, lag, throughput, conflicts and errors (from the hub).
    #[command(
        after_help = "Exit codes: 0 every node connected (and within --max-lag); 1 a node \
                            is disconnected, the master database does not answer the hub, or a \
                            node's lag is over --max-lag; 2 usage; 3 the hub does not answer."
    )]
    Status {
        /// Print the hub's JSON document instead of the table.
        #[arg(long)]
        json: bool,
        /// Refresh every SECONDS (default 2) until Ctrl-C.
        #[arg(long, short = 'w', value_name = "SECONDS", num_args = 0..=1,
              default_missing_value = "2")]
        watch: Option<u64>,
        /// Exit 1 when a node's lag is over MS milliseconds.
        #[arg(long, value_name = "MS")]
        max_lag: Option<u64>,
    },
    /// Create the MOST database and its starter tables (customers, products, orders) on the
    /// master; safe to run again.
    Init,
    /// Create a database on the master (utf8mb4).
    CreateDatabase {
        /// Database name.
        name: String,
    },
    /// Create a table on the master, e.g. `create-table MOST.t --column "id INT" --column
    /// "name VARCHAR(50) NOT NULL" --primary-key id`.
    CreateTable {
        /// DB.TABLE
        table: String,
        /// A column: "name TYPE [attributes]" (repeat for each column).
        #[arg(
            long = "column",
            short = 'C',
            value_name = "DEFINITION",
            required = true
        )]
        columns: Vec<String>,
        /// Primary key column(s), comma-separated.
        #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
        primary_key: Vec<String>,
        /// Create it without primary key (replication then matches whole rows).
        #[arg(long)]
        allow_no_primary_key: bool,
        /// Do nothing if the table already exists.
        #[arg(long)]
        if_not_exists: bool,
    },
    /// Drop a table on the master (asks you to type its name).
    DropTable {
        /// DB.TABLE
        table: String,
        /// Do not ask.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Purge the master's binlog files that no snap needs any more (asks you to type purge).
    #[command(
        after_help = "Each snap reads the master's binlog from its own position, also after \
                      being offline: a file it still needs, once purged, leaves it without the \
                      master's changes until it is resynced. This lists every file with the snaps \
                      that read from it (positions from the hub, which keeps them across \
                      restarts) and purges only the files before the oldest one a snap needs. \
                      The hub must be running."
    )]
    PurgeBinlogs {
        /// Only show what would be purged.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Forget a snap that is gone for good, so purge-binlogs stops keeping binlogs for it
    /// (asks you to type its name).
    #[command(
        after_help = "The hub remembers every snap it has served, offline ones too (in \
                      starsync.snaps on the master), and purge-binlogs keeps the binlog files \
                      each still needs. A retired snap would hold them forever: forget it. \
                      Refused while the snap is connected. A forgotten snap that comes back is \
                      served again, from its own position if the master still has it; else it \
                      needs `replicator agent --resync`."
    )]
    ForgetSnap {
        /// The snap's node name, as `master-admin status` lists it.
        name: String,
        /// Do not ask.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Drop a database on the master (asks you to type its name).
    DropDatabase {
        /// Database name.
        name: String,
        /// Do not ask.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Recent conflicts with the master's and the incoming row images.
    Conflicts {
        /// Show at most N (the most recent).
        #[arg(long, short = 'n', default_value_t = 20, value_name = "N",
              value_parser = clap::value_parser!(u64).range(1..))]
        limit: u64,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Only this table (TABLE or DB.TABLE).
        #[arg(long)]
        table: Option<String>,
        /// Only conflicts from this origin node.
        #[arg(long)]
        node: Option<String>,
    },
    /// Checksum every replicated table on every node at one common position and compare.
    #[command(
        after_help = "Exit codes: 0 every table equal on every node; 1 a table differs or \
                            a node could not be verified; 2 usage; 3 the hub does not answer."
    )]
    Verify {
        /// The hub's JSON answer instead of text.
        #[arg(long)]
        json: bool,
        /// Only this table (DB.TABLE).
        #[arg(long, value_name = "DB.TABLE")]
        table: Option<String>,
        /// Give the hub this long to answer.
        #[arg(long, value_name = "SECONDS", default_value_t = crate::verify::DEFAULT_TIMEOUT.as_secs())]
        timeout: u64,
    },
    /// Make one table of one snap (or of every snap) the master's: the master's rows, at a
    /// position in the snap's stream, replace the snap's (rows with a local change on its way
    /// are left to it).
    #[command(
        after_help = "The snap keeps serving; writers of that table on it wait while it is \
                      rewritten, and a DDL of it on the master waits until its rows are read. \
                      A table whose definition differs on the snap is made again from the \
                      master's CREATE TABLE.\n\nExit codes: 0 done (with --dry-run: nothing \
                      differs); 1 the repair failed, or with --dry-run the table differs (with \
                      --all-snaps: on any snap, or a snap was not connected); 2 usage; 3 the hub does not answer; 5 refused (no such table, snap not \
                      connected)."
    )]
    Repair {
        /// The table, as DB.TABLE.
        table: String,
        /// The snap whose table is repaired (its name in `master-admin status`).
        #[arg(long, value_name = "SNAP", required_unless_present = "all_snaps")]
        node: Option<String>,
        /// Every snap the hub knows, one after the other (one that is not connected is reported
        /// and skipped; exit 1 then). E.g. after a master DDL whose default differs per node.
        #[arg(long, conflicts_with = "node")]
        all_snaps: bool,
        /// Count the rows that differ; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// The snap's report as JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Give the hub this long to answer.
        #[arg(long, value_name = "SECONDS", default_value_t = crate::repair::DEFAULT_TIMEOUT.as_secs())]
        timeout: u64,
    },
    /// Consistent SQL dump (mariadb-dump) with the GTID position recorded in the file.
    Export {
        /// The file to write.
        #[arg(long, short = 'o', value_name = "FILE.sql")]
        output: PathBuf,
        /// Database to export (repeat for more).
        #[arg(
            long = "database",
            short = 'd',
            default_value = "MOST",
            value_name = "DB"
        )]
        databases: Vec<String>,
        /// Overwrite the output file if it exists.
        #[arg(long)]
        force: bool,
    },
}

impl Cli {
    fn layer(&self) -> Layer {
        Layer {
            host: self.host.clone(),
            port: self.port,
            user: self.user.clone(),
            socket: self.socket.clone(),
            hub: self.hub.clone(),
            password: None,
            password_file: self.password_file.clone(),
            hub_token: None,
            hub_token_file: self.hub_token_file.clone(),
        }
    }
}

/// Resolves the settings from the flags, the process environment and the config file.
pub fn settings(cli: &Cli) -> Result<Settings> {
    let env = Layer::from_env(|k| std::env::var(k).ok())?;
    let path = cli.config.clone().or_else(|| {
        std::env::var_os(CONFIG_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    let file = match path {
        Some(p) => Layer::from_file(&p)?,
        None => Layer::default(),
    };
    let s = Settings::resolve(cli.layer(), env, file)?;
    s.validate()?;
    Ok(s)
}

/// Runs the command; `Ok` carries the exit code of a check (0 or 1), `Err` the failure (whose
/// [`Error::exit_code`] is the process's).
pub fn run(cli: Cli) -> Result<u8> {
    let settings = settings(&cli)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|cause| Error::File {
            what: "cannot start the async runtime",
            path: PathBuf::new(),
            cause,
        })?;
    rt.block_on(dispatch(cli.command, settings))
}

async fn dispatch(command: Command, settings: Settings) -> Result<u8> {
    let hub = Hub::new(settings.hub.clone()).with_token(&settings.hub_token);
    let mut stdout = std::io::stdout();
    match command {
        Command::Status {
            json,
            watch,
            max_lag,
        } => {
            if watch == Some(0) {
                return Err(Error::Usage("--watch needs at least 1 second".into()));
            }
            let opts = StatusOpts {
                json,
                watch: watch.map(Duration::from_secs),
                max_lag_ms: max_lag,
            };
            crate::status::run(&hub, &opts).await
        }
        Command::Verify {
            json,
            table,
            timeout,
        } => {
            let table: Option<TableName> = table.map(|t| t.parse()).transpose()?;
            let timeout = Duration::from_secs(timeout.max(1));
            crate::verify::run(&hub, table.as_ref(), timeout, json).await
        }
        Command::Repair {
            table,
            node,
            all_snaps: _,
            dry_run,
            json,
            timeout,
        } => {
            let table: TableName = table.parse()?;
            let timeout = Duration::from_secs(timeout.max(1));
            match node {
                Some(node) => crate::repair::run(&hub, &table, &node, dry_run, timeout, json).await,
                None => crate::repair::run_all(&hub, &table, dry_run, timeout, json).await,
            }
        }
        Command::Init => {
            let mut db = Db::connect(&settings).await?;
            crate::schema::init(&mut db, &hub, &mut stdout).await?;
            Ok(EXIT_OK)
        }
        Command::CreateDatabase { name } => {
            let name = names::database(&name)?;
            let mut db = Db::connect(&settings).await?;
            crate::schema::create_database(&mut db, &hub, &name, &mut stdout).await?;
            Ok(EXIT_OK)
        }
        Command::CreateTable {
            table,
            columns,
            primary_key,
            allow_no_primary_key,
            if_not_exists,
        } => {
            let t = NewTable {
                name: table.parse()?,
                columns: columns.iter().map(|c| c.parse()).collect::<Result<_>>()?,
                primary_key: primary_key
                    .iter()
                    .map(|k| Ident::new(k.trim(), "primary key column"))
                    .collect::<Result<_>>()?,
                allow_no_primary_key,
                if_not_exists,
            };
            // Refuse a bad definition before connecting.
            crate::schema::refuse_system(&t.name.db, "create tables")?;
            t.sql()?;
            let mut db = Db::connect(&settings).await?;
            crate::schema::create_table(&mut db, &hub, &t, &mut stdout).await?;
            Ok(EXIT_OK)
        }
        Command::DropTable { table, yes } => {
            let t: TableName = table.parse()?;
            crate::schema::refuse_system(&t.db, "drop tables")?;
            let mut db = Db::connect(&settings).await?;
            crate::schema::drop_table(&mut db, &hub, &t, yes, &mut stdout).await?;
            Ok(EXIT_OK)
        }
        Command::DropDatabase { name, yes } => {
            let name = names::database(&name)?;
            crate::schema::refuse_system(&name, "drop databases")?;
            let mut db = Db::connect(&settings).await?;
            crate::schema::drop_database(&mut db, &hub, &name, yes, &mut stdout).await?;
            Ok(EXIT_OK)
        }
        Command::PurgeBinlogs { dry_run, yes } => {
            let mut db = Db::connect(&settings).await?;
            crate::binlogs::purge(&mut db, &hub, dry_run, yes, &mut stdout).await?;
            Ok(EXIT_OK)
        }
        Command::ForgetSnap { name, yes } => {
            let mut db = Db::connect(&settings).await?;
            crate::binlogs::forget_snap(&mut db, &hub, &name, yes, &mut stdout).await?;
            Ok(EXIT_OK)
        }
        Command::Conflicts {
            limit,
            json,
            table,
            node,
        } => {
            let mut db = Db::connect(&settings).await?;
            let f = Filter { limit, table, node };
            crate::conflicts::run(&mut db, &f, json, &mut stdout).await?;
            Ok(EXIT_OK)
        }
        Command::Export {
            output,
            databases,
            force,
        } => {
            let opts = ExportOpts {
                output,
                databases: databases
                    .iter()
                    .map(|d| names::database(d))
                    .collect::<Result<_>>()?,
                force,
            };
            crate::export::run(&settings, &opts, &mut stdout).await?;
            Ok(EXIT_OK)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn flags_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn watch_takes_an_optional_interval() {
        let cli = Cli::parse_from(["master-admin", "status", "--watch"]);
        assert!(matches!(
            cli.command,
            Command::Status { watch: Some(2), .. }
        ));
        let cli = Cli::parse_from(["master-admin", "status", "--watch", "5", "--max-lag", "100"]);
        assert!(matches!(
            cli.command,
            Command::Status {
                watch: Some(5),
                max_lag: Some(100),
                ..
            }
        ));
        let cli = Cli::parse_from(["master-admin", "--port", "3307", "status"]);
        assert_eq!(cli.port, Some(3307));
        let cli = Cli::parse_from(["master-admin", "status", "--hub", "h:1"]);
        assert_eq!(cli.hub.as_deref(), Some("h:1"));
    }

    #[test]
    fn create_table_collects_columns_and_keys() {
        let cli = Cli::parse_from([
            "master-admin",
            "create-table",
            "MOST.t",
            "--column",
            "id INT",
            "-C",
            "b INT",
            "--primary-key",
            "id,b",
        ]);
        let Command::CreateTable {
            columns,
            primary_key,
            ..
        } = cli.command
        else {
            panic!("not create-table");
        };
        assert_eq!(columns, ["id INT", "b INT"]);
        assert_eq!(primary_key, ["id", "b"]);
    }
}
