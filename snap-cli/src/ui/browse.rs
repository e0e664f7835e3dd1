//! SELECT ALL and SEARCH: rows shown a page at a time, in key order.
//!
//! Each page is read fresh (COUNT plus one `LIMIT/OFFSET` page), so rows arriving through
//! replication show up as the user pages; the page number is clamped when rows disappear.

use std::fmt;

use super::find::search_spec;
use super::prompt::{self, Nav};
use super::{clear_screen, App};
use crate::catalog::Table;
use crate::error::Result;
use crate::sql::{Filter, Match};
use crate::value::{display_text, show};

/// Runs SELECT ALL.
pub fn select_all(app: &mut App) -> Result<Option<String>> {
    loop {
        let table = match app.pick_table("SELECT ALL — show a table")? {
            Nav::Go(t) => t,
            Nav::Back | Nav::Home => return Ok(None),
        };
        let title = format!("SELECT ALL from {}", display_text(&table.name));
        match pager(app, &table, None, &title)? {
            Nav::Home => return Ok(None),
            _ => continue,
        }
    }
}

/// Runs SEARCH.
pub fn search(app: &mut App) -> Result<Option<String>> {
    'table: loop {
        let table = match app.pick_table("SEARCH — find rows")? {
            Nav::Go(t) => t,
            Nav::Back | Nav::Home => return Ok(None),
        };
        let title = format!("SEARCH {}", display_text(&table.name));
        loop {
            let filter = match search_spec(&table, &title)? {
                Nav::Go(f) => f,
                Nav::Back => continue 'table,
                Nav::Home => return Ok(None),
            };
            let heading = format!("{title} where {}", describe(&table, &filter));
            match pager(app, &table, Some(&filter), &heading)? {
                Nav::Home => return Ok(None),
                _ => continue,
            }
        }
    }
}

/// `name contains 'ann'`, for the results heading.
fn describe(t: &Table, f: &Filter) -> String {
    let c = &t.columns[f.column];
    let name = display_text(&c.name);
    let text = |b: &[u8]| match c.kind {
        crate::catalog::Kind::Binary { .. } => {
            show::display(&c.kind, &mysql_async::Value::Bytes(b.to_vec()))
        }
        _ => format!("'{}'", display_text(&String::from_utf8_lossy(b))),
    };
    let value = |v: &mysql_async::Value| {
        let s = show::display(&c.kind, v);
        if c.kind.is_numeric() {
            s
        } else {
            format!("'{s}'")
        }
    };
    match &f.matches {
        Match::Contains(b) => format!("{name} contains {}", text(b)),
        Match::StartsWith(b) => format!("{name} starts with {}", text(b)),
        Match::Equals(v) => format!("{name} = {}", value(v)),
        Match::Range(Some(lo), Some(hi)) => format!("{name} from {} to {}", value(lo), value(hi)),
        Match::Range(Some(lo), None) => format!("{name} ≥ {}", value(lo)),
        Match::Range(None, Some(hi)) => format!("{name} ≤ {}", value(hi)),
        Match::Range(None, None) => format!("{name} is not NULL"),
        Match::IsNull => format!("{name} is NULL"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Turn {
    Next,
    Previous,
    First,
    Last,
    MainMenu,
}

impl fmt::Display for Turn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Turn::Next => "Next page",
            Turn::Previous => "Previous page",
            Turn::First => "First page",
            Turn::Last => "Last page",
            Turn::MainMenu => "Main menu",
        })
    }
}

/// Shows the rows page by page until Back (to the step before) or the main menu.
fn pager(app: &mut App, t: &Table, f: Option<&Filter>, title: &str) -> Result<Nav<()>> {
    let size = app.page_size(t);
    let mut page: u64 = 0;
    loop {
        let total = app.rt.block_on(app.db.count(t, f))?;
        let pages = total.div_ceil(size).max(1);
        page = page.min(pages - 1);
        let rows = app.rt.block_on(app.db.page(t, f, size, page * size))?;
        clear_screen();
        let first = page * size + 1;
        let last = page * size + rows.len() as u64;
        if rows.is_empty() {
            println!("{title} — no rows");
        } else {
            println!(
                "{title} — rows {first}–{last} of {total} (page {} of {pages})",
                page + 1
            );
        }
        println!();
        if !rows.is_empty() {
            println!("{}", super::rows_table(t, &rows));
        }
        let mut turns = Vec::new();
        if page + 1 < pages {
            turns.push(Turn::Next);
        }
        if page > 0 {
            turns.push(Turn::Previous);
        }
        if page > 0 {
            turns.push(Turn::First);
        }
        if page + 1 < pages {
            turns.push(Turn::Last);
        }
        turns.push(Turn::MainMenu);
        let question = format!("Page {} of {pages}:", page + 1);
        match prompt::choose(&question, turns, "")? {
            Nav::Go(Turn::Next) => page += 1,
            Nav::Go(Turn::Previous) => page = page.saturating_sub(1),
            Nav::Go(Turn::First) => page = 0,
            Nav::Go(Turn::Last) => page = pages - 1,
            Nav::Go(Turn::MainMenu) | Nav::Home => return Ok(Nav::Home),
            Nav::Back => return Ok(Nav::Back),
        }
    }
}
