//! UPDATE: pick the row (by key or from a search), pick the columns, type the new values
//! (each prompt starts from the current value), see before/after, confirm.
//!
//! The statement only matches the row if it still holds the values that were shown
//! ([`crate::db::Db::update`]): if another session or replication changed it meanwhile, nothing
//! is overwritten and the user is told to look again.

use std::fmt;

use inquire::validator::Validation;
use inquire::MultiSelect;
use mysql_async::Value;

use super::prompt::{self, Nav};
use super::{clear_screen, term_size, App};
use crate::catalog::Table;
use crate::error::Result;
use crate::value::{display_text, show};

/// Runs UPDATE; the result is the notice for the main menu.
pub fn run(app: &mut App) -> Result<Option<String>> {
    'table: loop {
        let table = match app.pick_table("UPDATE — change a row")? {
            Nav::Go(t) => t,
            Nav::Back | Nav::Home => return Ok(None),
        };
        let title = format!("UPDATE {}", display_text(&table.name));
        'row: loop {
            let row = match super::find::pick_rows(app, &table, &title, false)? {
                Nav::Go(mut rows) => rows.remove(0),
                Nav::Back => continue 'table,
                Nav::Home => return Ok(None),
            };
            let mut chosen: Vec<usize> = Vec::new();
            loop {
                chosen = match pick_columns(&table, &title, &row, &chosen)? {
                    Nav::Go(c) => c,
                    Nav::Back => continue 'row,
                    Nav::Home => return Ok(None),
                };
                let changes = match new_values(&table, &title, &row, &chosen)? {
                    Nav::Go(c) => c,
                    Nav::Back => continue,
                    Nav::Home => return Ok(None),
                };
                clear_screen();
                println!("{title} — {}", super::key_text(&table, &row));
                println!();
                println!("{}", before_after(&table, &row, &changes));
                match prompt::confirm("Save this change?", false)? {
                    Nav::Go(true) => return save(app, &table, &row, &changes).map(Some),
                    Nav::Go(false) => return Ok(Some("Nothing was changed.".into())),
                    Nav::Back => continue,
                    Nav::Home => return Ok(None),
                }
            }
        }
    }
}

/// A column with its current value, in the column list.
#[derive(Debug, Clone)]
struct ColumnNow {
    index: usize,
    label: String,
}

impl fmt::Display for ColumnNow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

fn pick_columns(
    t: &Table,
    title: &str,
    row: &[Value],
    previous: &[usize],
) -> Result<Nav<Vec<usize>>> {
    clear_screen();
    println!("{title} — {}", super::key_text(t, row));
    println!();
    println!("{}", super::rows_table(t, &[row.to_vec()]));
    let max = term_size().0.saturating_sub(10);
    let options: Vec<ColumnNow> = t
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.generated)
        .map(|(index, c)| ColumnNow {
            index,
            label: crate::render::truncate(
                &format!(
                    "{} = {}   ({})",
                    display_text(&c.name),
                    show::display(&c.kind, &row[index]),
                    c.type_name()
                ),
                max,
            ),
        })
        .collect();
    let defaults: Vec<usize> = options
        .iter()
        .enumerate()
        .filter(|(_, o)| previous.contains(&o.index))
        .map(|(i, _)| i)
        .collect();
    let validator = |p: &[inquire::list_option::ListOption<&ColumnNow>]| {
        Ok(if p.is_empty() {
            Validation::Invalid("tick at least one column (Space)".into())
        } else {
            Validation::Valid
        })
    };
    let page = options.len().clamp(3, 15);
    let answer = MultiSelect::new("Which columns do you want to change?", options)
        .with_default(&defaults)
        .with_page_size(page)
        .with_validator(validator)
        .with_help_message("Space to tick, Enter to accept · Esc = back")
        .prompt();
    Ok(prompt::nav(answer)?.map(|p| p.into_iter().map(|c| c.index).collect()))
}

fn new_values(
    t: &Table,
    title: &str,
    row: &[Value],
    chosen: &[usize],
) -> Result<Nav<Vec<(usize, Value)>>> {
    let mut raws: Vec<Option<String>> = vec![None; chosen.len()];
    let mut values: Vec<Value> = vec![Value::NULL; chosen.len()];
    let mut at = 0;
    while at < chosen.len() {
        let i = chosen[at];
        let col = &t.columns[i];
        clear_screen();
        println!("{title} — {}", super::key_text(t, row));
        println!();
        let current = show::display(&col.kind, &row[i]);
        println!("  {}: now {}", display_text(&col.name), current);
        let start = raws[at]
            .clone()
            .or_else(|| show::input_form(&col.kind, &row[i]));
        if start.is_none() {
            println!("  (the current value has line breaks; what you type replaces it)");
        }
        println!();
        match prompt::column_value(col, false, start.as_deref())? {
            Nav::Go(a) => {
                values[at] = a.value.unwrap_or(Value::NULL);
                raws[at] = Some(a.raw);
                at += 1;
            }
            Nav::Back if at == 0 => return Ok(Nav::Back),
            Nav::Back => at -= 1,
            Nav::Home => return Ok(Nav::Home),
        }
    }
    Ok(Nav::Go(chosen.iter().copied().zip(values).collect()))
}

/// `column │ before │ after` for the changed columns.
fn before_after(t: &Table, row: &[Value], changes: &[(usize, Value)]) -> String {
    let rows: Vec<Vec<String>> = changes
        .iter()
        .map(|(i, v)| {
            let c = &t.columns[*i];
            vec![
                display_text(&c.name),
                show::display(&c.kind, &row[*i]),
                show::display(&c.kind, v),
            ]
        })
        .collect();
    let headers = vec!["column".into(), "before".into(), "after".into()];
    crate::render::table(&headers, &[false; 3], &rows, term_size().0)
}

fn save(app: &mut App, t: &Table, row: &[Value], changes: &[(usize, Value)]) -> Result<String> {
    let updated = app.rt.block_on(app.db.update(t, row, changes))?;
    if !updated {
        return Ok(format!(
            "✘ Nothing was saved: that row of {} was changed or deleted meanwhile (perhaps by \
             replication from another node). Look it up again.",
            display_text(&t.name)
        ));
    }
    // Show the row as stored now (it may have moved if its key changed).
    let mut after = row.to_vec();
    for (i, v) in changes {
        after[*i] = v.clone();
    }
    let key: Vec<usize> = t.identity();
    let stored = app.rt.block_on(app.db.find(
        t,
        &key,
        key.iter().map(|&i| after[i].clone()).collect(),
    ))?;
    let mut notice = format!(
        "✔ Updated {} ({})",
        display_text(&t.name),
        super::key_text(t, &after)
    );
    match stored {
        Some(r) => {
            notice.push_str(":\n");
            notice.push_str(&super::rows_table(t, &[r]));
        }
        None => notice.push('.'),
    }
    Ok(notice.trim_end().to_owned())
}
