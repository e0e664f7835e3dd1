//! INSERT: one prompt per writable column, then the row as stored.
//!
//! AUTO_INCREMENT and generated columns are skipped (the server fills them); every other column
//! gets a prompt showing its type, nullability and default, and only accepts a value valid for
//! that type. Esc goes back one column with the earlier answer kept; Esc on the first column goes
//! back to the table list.

use mysql_async::Value;

use super::prompt::{self, Answer, Nav};
use super::{clear_screen, App};
use crate::catalog::Table;
use crate::error::Result;
use crate::value::display_text;

/// Runs INSERT; the result is the notice for the main menu.
pub fn run(app: &mut App) -> Result<Option<String>> {
    loop {
        let table = match app.pick_table("INSERT — add a row")? {
            Nav::Go(t) => t,
            Nav::Back | Nav::Home => return Ok(None),
        };
        match form(&table)? {
            Nav::Go(values) => return save(app, &table, values).map(Some),
            Nav::Back => continue,
            Nav::Home => return Ok(None),
        }
    }
}

/// Column indexes an INSERT asks about.
fn writable(t: &Table) -> Vec<usize> {
    (0..t.columns.len())
        .filter(|&i| !t.columns[i].auto_increment && !t.columns[i].generated)
        .collect()
}

fn draw(t: &Table, cols: &[usize], answers: &[Option<Answer>], at: usize) {
    clear_screen();
    println!(
        "INSERT into {} — column {} of {}",
        display_text(&t.name),
        at + 1,
        cols.len()
    );
    let name_w = t
        .columns
        .iter()
        .map(|c| crate::render::width(&display_text(&c.name)))
        .max()
        .unwrap_or(0);
    for (i, c) in t.columns.iter().enumerate() {
        let marker = if cols.get(at) == Some(&i) { "▸" } else { " " };
        let shown = if c.auto_increment {
            "(filled in by the server: auto-increment)".to_owned()
        } else if c.generated {
            "(computed by the server)".to_owned()
        } else {
            match cols
                .iter()
                .position(|&k| k == i)
                .and_then(|k| answers[k].as_ref())
            {
                Some(a) => match &a.value {
                    None => "(default)".to_owned(),
                    Some(v) => crate::value::show::display(&c.kind, v),
                },
                None => String::new(),
            }
        };
        let name = display_text(&c.name);
        let pad = " ".repeat(name_w.saturating_sub(crate::render::width(&name)));
        println!(" {marker}{name}{pad}  {shown}");
    }
    println!();
}

fn form(t: &Table) -> Result<Nav<Vec<(usize, Value)>>> {
    let cols = writable(t);
    let mut answers: Vec<Option<Answer>> = vec![None; cols.len()];
    let mut at = 0;
    while at < cols.len() {
        draw(t, &cols, &answers, at);
        let col = &t.columns[cols[at]];
        let previous = answers[at].as_ref().map(|a| a.raw.clone());
        match prompt::column_value(col, true, previous.as_deref())? {
            Nav::Go(a) => {
                answers[at] = Some(a);
                at += 1;
            }
            Nav::Back if at == 0 => return Ok(Nav::Back),
            Nav::Back => at -= 1,
            Nav::Home => return Ok(Nav::Home),
        }
    }
    Ok(Nav::Go(
        cols.iter()
            .zip(answers)
            .filter_map(|(&i, a)| a.and_then(|a| a.value).map(|v| (i, v)))
            .collect(),
    ))
}

fn save(app: &mut App, t: &Table, values: Vec<(usize, Value)>) -> Result<String> {
    let inserted = app.rt.block_on(app.db.insert(t, &values))?;
    let mut notice = format!("✔ Inserted a row into {}", display_text(&t.name));
    match &inserted.row {
        Some(row) => {
            notice.push_str(&format!(" ({}):\n", super::key_text(t, row)));
            notice.push_str(&super::rows_table(t, std::slice::from_ref(row)));
        }
        None => {
            if let Some(id) = inserted.auto_id {
                notice.push_str(&format!(" (new id {id})"));
            }
            notice.push('.');
        }
    }
    Ok(notice.trim_end().to_owned())
}
