//! # snap-cli: the snap user's terminal menu
//!
//! Snap users work in a six-item menu (INSERT, UPDATE, DELETE, SELECT ALL, SEARCH, Exit) against
//! their **local** MariaDB; the starsync replicator agent picks their changes up from the binlog
//! and replicates them. The menu shows the agent's status so the user knows a change is on its
//! way.
//!
//! Modules, from the bottom up:
//! - [`config`]: where to connect (flags > env > file > defaults);
//! - [`catalog`]: tables, columns, keys, read live from `information_schema` — the only source
//!   of identifiers that reach SQL;
//! - [`value`]: per-type validation of what the user types, and display of what the server holds;
//! - [`sql`]: statement text (quoted catalog names, `?` for every value);
//! - [`db`]: the session — prepared statements only, reconnect after loss;
//! - [`status`]: the agent's `/status` over a tiny HTTP/1.0 client;
//! - [`render`]: rows laid out for the terminal;
//! - [`ui`]: the menus and prompts (inquire);
//! - [`cli`]: flags, startup, exit codes.
//!
//! # Using it
//! `snap-cli --port 3306` (or `--socket`, `--config FILE`, `SNAP_CLI_*` variables); the password
//! is asked for unless `SNAP_CLI_PASSWORD` is set. In every list, type to filter (the main menu:
//! type the number) or move with the arrows; Enter chooses, Esc goes back one step, Ctrl+C goes
//! back to the main menu (and, there, quits). In a value prompt:
//! - Enter alone = the column's default (INSERT), shown as the prompt's placeholder;
//! - `\N` = NULL (nullable columns only), `\e` = empty text, `\0` = a NUL byte — terminals
//!   deliver NUL (Ctrl+Space) as a key, which the prompt cannot tell from a space; doubling the
//!   backslash types these literally (`\\0`). Every other character is stored as typed;
//! - binary columns take hex (`0x00ff`), BIT takes `b'0101'`, `0x0f` or a number, ENUM and SET
//!   are picked from a list.
//!
//! # Guarantees
//! Nothing the user types is ever part of SQL text, so nothing typed can run as SQL; server
//! errors are explained and the menu continues; no user input can make the program panic.
//!
//! There is no log output: the terminal belongs to the menu, and every problem is shown there.

pub mod catalog;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod render;
pub mod sql;
pub mod status;
pub mod ui;
pub mod value;

pub use error::{DbError, Error, Result};
