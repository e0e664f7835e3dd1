//! The terminal menu: login, the main menu loop, and how errors are shown.
//!
//! The UI is synchronous (inquire reads the terminal); database and status calls run on a
//! tokio runtime the [`App`] owns, via `block_on`. Each screen starts from a cleared terminal
//! so what the user sees is the current step only: the main menu shows the connection, the
//! replicator status line and the outcome of the last operation above the six choices.
//!
//! # Navigation
//! Every prompt maps Esc to [`Nav::Back`] (one step up) and Ctrl+C to [`Nav::Home`] (the main
//! menu; from the main menu, exit). Operations are written as loops over their steps so Back
//! always lands on the previous question with the previous answer filled in.
//!
//! # Errors
//! A database error ends the current operation, never the program: the main menu shows it in
//! plain words ([`crate::error::DbError::plain`]); after a lost connection it offers to
//! reconnect. Only an unusable terminal ends the program.

mod browse;
mod delete;
mod find;
mod insert;
mod prompt;
mod update;

use std::fmt;
use std::io::Write;

use inquire::{Confirm, Password, PasswordDisplayMode, Select};

use crate::catalog::Table;
use crate::config::Settings;
use crate::db::{self, Db};
use crate::error::{DbError, Error, Result};
use crate::status;
pub use prompt::Nav;

/// The main menu: six numbered entries (type the number or move with the arrows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuItem {
    Insert,
    Update,
    Delete,
    SelectAll,
    Search,
    Exit,
}

impl MenuItem {
    pub const ALL: [MenuItem; 6] = [
        MenuItem::Insert,
        MenuItem::Update,
        MenuItem::Delete,
        MenuItem::SelectAll,
        MenuItem::Search,
        MenuItem::Exit,
    ];
}

impl fmt::Display for MenuItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MenuItem::Insert => "1 - INSERT",
            MenuItem::Update => "2 - UPDATE",
            MenuItem::Delete => "3 - DELETE",
            MenuItem::SelectAll => "4 - SELECT ALL",
            MenuItem::Search => "5 - SEARCH",
            MenuItem::Exit => "6 - Exit",
        })
    }
}

/// The running menu: settings, the database session and the runtime that drives it.
pub struct App {
    rt: tokio::runtime::Runtime,
    db: Db,
    settings: Settings,
    /// Shown under the status line at the next main menu (the last operation's outcome).
    notice: Vec<String>,
}

/// Clears the terminal and homes the cursor.
pub fn clear_screen() {
    print!("\x1b[H\x1b[2J");
    std::io::stdout().flush().ok();
}

/// Terminal size (columns, rows), with a sane fallback when unknown.
pub fn term_size() -> (usize, usize) {
    crossterm::terminal::size()
        .map(|(c, r)| (c.max(40) as usize, r.max(10) as usize))
        .unwrap_or((100, 30))
}

/// Logs in (asking for the password when none was configured) and returns the menu, or the
/// error that ends startup.
pub fn login(rt: tokio::runtime::Runtime, settings: Settings) -> Result<App> {
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stdin());
    let mut password = settings.password.as_ref().map(|p| p.expose().to_owned());
    let mut failures = 0;
    loop {
        let pw = match password.take() {
            Some(p) => p,
            None => {
                let message = format!("Password for {}:", settings.describe());
                let answer = Password::new(&message)
                    .without_confirmation()
                    .with_display_mode(PasswordDisplayMode::Masked)
                    .with_help_message("Esc or Ctrl+C to quit")
                    .prompt();
                match answer {
                    Ok(p) => p,
                    Err(
                        inquire::InquireError::OperationCanceled
                        | inquire::InquireError::OperationInterrupted,
                    ) => return Err(Error::Cancelled),
                    Err(e) => return Err(Error::Terminal(e)),
                }
            }
        };
        let opts = db::options(&settings, &pw);
        match rt.block_on(Db::connect(opts, &settings.database)) {
            Ok(db) => {
                return Ok(App {
                    rt,
                    db,
                    settings,
                    notice: Vec::new(),
                })
            }
            // A wrong password from the environment or file is worth a prompt too, when
            // someone is there to answer it.
            Err(e) if e.is_login() && interactive && failures < 2 => {
                failures += 1;
                println!("✘ {} Try again.", e.plain());
            }
            Err(e) => return Err(e.into()),
        }
    }
}

impl App {
    /// Runs the main menu until Exit (or Ctrl+C at the main menu).
    pub fn run(mut self) -> Result<()> {
        match self.rt.block_on(self.db.schema_exists()) {
            Ok(true) => {}
            Ok(false) => self.notice.push(format!(
                "The database {} does not exist on this server yet (or your account cannot see \
                 it). It appears once the replicator has copied it here.",
                self.settings.database
            )),
            Err(e) => self.show_error(e)?,
        }
        loop {
            self.main_screen();
            let choice = Select::new("What do you want to do?", MenuItem::ALL.to_vec())
                .with_help_message("↑↓ or type a number, Enter to choose")
                .with_page_size(6)
                .with_scorer(&prompt::prefix_scorer)
                .prompt();
            let item = match prompt::nav(choice)? {
                Nav::Go(item) => item,
                Nav::Back => continue,
                Nav::Home => break,
            };
            if item == MenuItem::Exit {
                break;
            }
            let outcome = self
                .rt
                .block_on(self.db.ping())
                .map_err(Error::from)
                .and_then(|()| match item {
                    MenuItem::Insert => insert::run(&mut self),
                    MenuItem::Update => update::run(&mut self),
                    MenuItem::Delete => delete::run(&mut self),
                    MenuItem::SelectAll => browse::select_all(&mut self),
                    MenuItem::Search => browse::search(&mut self),
                    MenuItem::Exit => Ok(None),
                });
            match outcome {
                Ok(Some(notice)) => self.notice.push(notice),
                Ok(None) => {}
                Err(Error::Db(e)) => self.show_error(e)?,
                Err(e) => return Err(e),
            }
        }
        clear_screen();
        println!("Bye.");
        let App { rt, db, .. } = self;
        rt.block_on(db.close());
        Ok(())
    }

    /// The top of the main menu: who we are, the replicator line, the last outcome.
    fn main_screen(&mut self) {
        let line = self.status_line();
        clear_screen();
        println!(
            "snap-cli · {} · database {}",
            self.settings.describe(),
            self.settings.database
        );
        println!("{line}");
        println!();
        for n in self.notice.drain(..) {
            println!("{n}");
            println!();
        }
    }

    /// The replicator status, asked of the local agent now.
    pub fn status_line(&self) -> String {
        let addr = &self.settings.agent_status;
        let s = self.rt.block_on(status::fetch(addr, status::TIMEOUT));
        status::status_line(addr, &s)
    }

    /// Puts a database error on the next main menu; after a lost connection, offers to
    /// reconnect right away.
    fn show_error(&mut self, e: DbError) -> Result<()> {
        let plain = e.plain();
        if !e.is_lost() {
            self.notice.push(format!("✘ {plain}"));
            return Ok(());
        }
        clear_screen();
        println!("✘ {plain}");
        println!();
        let again = Confirm::new("Reconnect to the database now?")
            .with_default(true)
            .with_help_message("y/n · Esc = back to the menu without reconnecting")
            .prompt();
        match prompt::nav(again)? {
            Nav::Go(true) => match self.rt.block_on(self.db.reconnect()) {
                Ok(()) => self.notice.push(format!(
                    "✘ {plain}\n✔ Reconnected to {}.",
                    self.settings.describe()
                )),
                Err(e2) => self.notice.push(format!(
                    "✘ {plain}\n✘ Reconnecting failed: {} The next operation will try again.",
                    e2.plain()
                )),
            },
            _ => self.notice.push(format!(
                "✘ {plain}\nNot connected; the next operation will try again."
            )),
        }
        Ok(())
    }

    /// Rows per page: the setting, or what fits the terminal under the heading and the page
    /// prompt — one line per row in a table, one line per column (plus a rule) in records.
    fn page_size(&self, t: &Table) -> u64 {
        if let Some(n) = self.settings.page_size {
            return n as u64;
        }
        let (width, height) = term_size();
        let room = height.saturating_sub(12);
        let rows = if crate::render::fits_as_table(t.columns.len(), width) {
            room
        } else {
            room / (t.columns.len() + 1)
        };
        rows.clamp(1, 200) as u64
    }

    /// Step 1 of every operation: the tables, read live, plus Back.
    fn pick_table(&mut self, title: &str) -> Result<Nav<Table>> {
        loop {
            let names = self.rt.block_on(self.db.tables())?;
            clear_screen();
            println!("{title}");
            println!();
            if names.is_empty() {
                println!(
                    "There are no tables in {} yet (or your account cannot see them).",
                    self.settings.database
                );
                println!();
            }
            let name = match prompt::choose("Which table?", names, "")? {
                Nav::Go(n) => n,
                Nav::Back | Nav::Home => return Ok(Nav::Back),
            };
            match self.rt.block_on(self.db.table(&name))? {
                Some(t) => return Ok(Nav::Go(t)),
                // Dropped between listing and choosing (DDL can replicate in at any time).
                None => continue,
            }
        }
    }
}

/// Column headers of a table, terminal-safe.
pub(crate) fn headers(t: &Table) -> Vec<String> {
    t.columns
        .iter()
        .map(|c| crate::value::display_text(&c.name))
        .collect()
}

/// Rows laid out for the terminal (table, or records when too wide).
pub(crate) fn rows_table(t: &Table, rows: &[Vec<mysql_async::Value>]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .zip(&t.columns)
                .map(|(v, c)| crate::value::show::display(&c.kind, v))
                .collect()
        })
        .collect();
    let right: Vec<bool> = t.columns.iter().map(|c| c.kind.is_numeric()).collect();
    crate::render::table(&headers(t), &right, &cells, term_size().0)
}

/// `id = 7` or `(a, b) = (1, 2)`: a row's key for messages.
pub(crate) fn key_text(t: &Table, row: &[mysql_async::Value]) -> String {
    let Some(cols) = t.key_columns() else {
        return String::new();
    };
    let show = |i: &usize| crate::value::show::display(&t.columns[*i].kind, &row[*i]);
    if cols.len() == 1 {
        format!("{} = {}", headers(t)[cols[0]], show(&cols[0]))
    } else {
        format!(
            "{} = ({})",
            t.key_names(),
            cols.iter().map(show).collect::<Vec<_>>().join(", ")
        )
    }
}
