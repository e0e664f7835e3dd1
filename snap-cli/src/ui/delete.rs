//! DELETE: pick rows (by key, or several from a search), see them, confirm.
//!
//! The chosen rows are deleted in one transaction, each matched on the values shown, so a row
//! changed meanwhile is left alone (and counted as "already gone").

use super::prompt::{self, Nav};
use super::{clear_screen, App};
use crate::error::Result;
use crate::value::display_text;

/// Runs DELETE; the result is the notice for the main menu.
pub fn run(app: &mut App) -> Result<Option<String>> {
    'table: loop {
        let table = match app.pick_table("DELETE — remove rows")? {
            Nav::Go(t) => t,
            Nav::Back | Nav::Home => return Ok(None),
        };
        let title = format!("DELETE from {}", display_text(&table.name));
        loop {
            let rows = match super::find::pick_rows(app, &table, &title, true)? {
                Nav::Go(r) => r,
                Nav::Back => continue 'table,
                Nav::Home => return Ok(None),
            };
            clear_screen();
            println!("{title}");
            println!();
            println!("{}", super::rows_table(&table, &rows));
            let n = rows.len();
            let question = if n == 1 {
                "Delete this row?".to_owned()
            } else {
                format!("Delete these {n} rows?")
            };
            match prompt::confirm(&question, false)? {
                Nav::Go(true) => {}
                Nav::Go(false) => return Ok(Some("Nothing was deleted.".into())),
                Nav::Back => continue,
                Nav::Home => return Ok(None),
            }
            let deleted = app.rt.block_on(app.db.delete(&table, &rows))?;
            let mut notice = format!(
                "✔ Deleted {deleted} row{} from {}.",
                if deleted == 1 { "" } else { "s" },
                display_text(&table.name)
            );
            if deleted < n as u64 {
                notice.push_str(&format!(
                    " {} of the rows you picked had already been changed or deleted meanwhile \
                     and were left alone.",
                    n as u64 - deleted
                ));
            }
            return Ok(Some(notice));
        }
    }
}
