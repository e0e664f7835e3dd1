//! Finding rows: a search (column, match, value) and picking rows by key or from the results.
//! Shared by SEARCH, UPDATE (one row) and DELETE (several rows).

use std::fmt;

use inquire::validator::Validation;
use inquire::{MultiSelect, Text};
use mysql_async::Value;

use super::prompt::{self, step, Nav};
use super::{clear_screen, term_size, App};
use crate::catalog::{Kind, Table};
use crate::error::Result;
use crate::sql::{Filter, Match};
use crate::value::{self, display_text, escape, parse};

/// Most rows offered for picking; more means the search should be narrower.
const PICK_LIMIT: u64 = 200;

/// How a column can be matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    Contains,
    StartsWith,
    Equals,
    Range,
    IsNull,
}

impl fmt::Display for How {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            How::Contains => "contains",
            How::StartsWith => "starts with",
            How::Equals => "equals",
            How::Range => "range (from … to …)",
            How::IsNull => "is NULL",
        })
    }
}

fn hows(kind: &Kind, nullable: bool) -> Vec<How> {
    let mut v = match kind {
        Kind::Char { .. } | Kind::Text { .. } | Kind::Json | Kind::Binary { .. } => {
            vec![How::Contains, How::StartsWith, How::Equals]
        }
        Kind::Enum(_) | Kind::Set(_) => vec![How::Equals, How::Contains],
        k if k.is_ordered() => vec![How::Equals, How::Range],
        Kind::Other(_) => vec![],
        _ => vec![How::Equals],
    };
    if nullable {
        v.push(How::IsNull);
    }
    v
}

/// A labelled index, for lists of columns or rows.
#[derive(Debug, Clone)]
struct Labelled {
    index: usize,
    label: String,
}

impl fmt::Display for Labelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

/// Asks column → kind of match → value(s). `title` heads each screen.
pub fn search_spec(t: &Table, title: &str) -> Result<Nav<Filter>> {
    let mut note = String::new();
    loop {
        clear_screen();
        println!("{title}");
        println!();
        if !note.is_empty() {
            println!("{note}");
            println!();
            note.clear();
        }
        let columns: Vec<Labelled> = t
            .columns
            .iter()
            .enumerate()
            .map(|(index, c)| Labelled {
                index,
                label: format!("{} ({})", display_text(&c.name), c.type_name()),
            })
            .collect();
        let column = step!(prompt::choose("Search which column?", columns, "")?).index;
        let col = &t.columns[column];
        loop {
            let options = hows(&col.kind, col.nullable);
            if options.is_empty() {
                note = format!("✘ {} values cannot be searched here.", col.column_type);
                break;
            }
            let how = match prompt::choose(&format!("{} …", display_text(&col.name)), options, "")?
            {
                Nav::Go(h) => h,
                Nav::Back => break,
                Nav::Home => return Ok(Nav::Home),
            };
            let matches = match match_value(t, column, how)? {
                Nav::Go(m) => m,
                Nav::Back => continue,
                Nav::Home => return Ok(Nav::Home),
            };
            return Ok(Nav::Go(Filter { column, matches }));
        }
    }
}

/// The value(s) a match needs, checked for the column's type.
fn match_value(t: &Table, column: usize, how: How) -> Result<Nav<Match>> {
    let col = &t.columns[column];
    let binary = matches!(col.kind, Kind::Binary { .. });
    match how {
        How::IsNull => Ok(Nav::Go(Match::IsNull)),
        How::Contains | How::StartsWith => {
            let help = if binary {
                "bytes as hex 0x... · Esc = back"
            } else {
                "text to look for (case as the column's collation) · \\0 = NUL byte · Esc = back"
            };
            let validator = move |s: &str| {
                Ok(if binary {
                    match parse::parse_hex(s) {
                        Ok(_) => Validation::Valid,
                        Err(e) => Validation::Invalid(e.into()),
                    }
                } else {
                    Validation::Valid
                })
            };
            let label = format!("{} {how}:", display_text(&col.name));
            let text = step!(prompt::nav(
                Text::new(&label)
                    .with_help_message(help)
                    .with_validator(validator)
                    .prompt()
            )?);
            let bytes = if binary {
                parse::parse_hex(&text).unwrap_or_default()
            } else {
                escape::unescape_zero(&text).into_bytes()
            };
            Ok(Nav::Go(if how == How::Contains {
                Match::Contains(bytes)
            } else {
                Match::StartsWith(bytes)
            }))
        }
        How::Equals => {
            if let Kind::Enum(members) = &col.kind {
                let label = format!("{} equals:", display_text(&col.name));
                let m = step!(prompt::choose(&label, members.clone(), "")?);
                return Ok(Nav::Go(Match::Equals(Value::Bytes(m.into_bytes()))));
            }
            let (kind, charset) = (col.kind.clone(), col.charset.clone());
            let check =
                move |s: &str| value::interpret_text(&kind, charset.as_deref(), s, false, false);
            let validator = {
                let check = check.clone();
                move |s: &str| {
                    Ok(match check(s) {
                        Ok(_) => Validation::Valid,
                        Err(e) => Validation::Invalid(e.into()),
                    })
                }
            };
            let label = format!("{} equals:", display_text(&col.name));
            let help = format!("{} · Esc = back", parse::hint(&col.kind));
            let text = step!(prompt::nav(
                Text::new(&label)
                    .with_help_message(&help)
                    .with_validator(validator)
                    .prompt()
            )?);
            let v = check(&text).ok().flatten().unwrap_or(Value::NULL);
            Ok(Nav::Go(Match::Equals(v)))
        }
        How::Range => {
            let lo = step!(bound(col, "from", "no lower limit", true)?);
            let hi = step!(bound(col, "to", "no upper limit", lo.is_some())?);
            Ok(Nav::Go(Match::Range(lo, hi)))
        }
    }
}

/// One end of a range; `may_be_open`: Enter alone leaves it open.
fn bound(
    col: &crate::catalog::Column,
    which: &str,
    open: &str,
    may_be_open: bool,
) -> Result<Nav<Option<Value>>> {
    let kind = col.kind.clone();
    let validator = move |s: &str| {
        Ok(if s.is_empty() {
            if may_be_open {
                Validation::Valid
            } else {
                Validation::Invalid("give at least one limit".into())
            }
        } else {
            match parse::parse(&kind, None, s) {
                Ok(_) => Validation::Valid,
                Err(e) => Validation::Invalid(e.into()),
            }
        })
    };
    let label = format!("{} {which}:", display_text(&col.name));
    let help = format!(
        "{} · Enter alone = {open} · Esc = back",
        parse::hint(&col.kind)
    );
    let text = step!(prompt::nav(
        Text::new(&label)
            .with_help_message(&help)
            .with_validator(validator)
            .prompt()
    )?);
    if text.is_empty() {
        return Ok(Nav::Go(None));
    }
    Ok(Nav::Go(parse::parse(&col.kind, None, &text).ok()))
}

/// Asks for the key's values and reads that row. `Go(None)`: no such row.
fn by_key(app: &mut App, t: &Table) -> Result<Nav<Option<Vec<Value>>>> {
    let Some(cols) = t.key_columns().map(<[usize]>::to_vec) else {
        return Ok(Nav::Go(None));
    };
    let mut answers: Vec<Option<String>> = vec![None; cols.len()];
    let mut values: Vec<Value> = vec![Value::NULL; cols.len()];
    let mut at = 0;
    while at < cols.len() {
        let col = &t.columns[cols[at]];
        match prompt::column_value(col, false, answers[at].as_deref())? {
            Nav::Go(a) => {
                values[at] = a.value.unwrap_or(Value::NULL);
                answers[at] = Some(a.raw);
                at += 1;
            }
            Nav::Back if at == 0 => return Ok(Nav::Back),
            Nav::Back => at -= 1,
            Nav::Home => return Ok(Nav::Home),
        }
    }
    Ok(Nav::Go(app.rt.block_on(app.db.find(t, &cols, values))?))
}

/// The ways to find rows: by key when the table has one, or a search.
#[derive(Debug, Clone, PartialEq)]
enum Method {
    ByKey(String),
    Search,
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Method::ByKey(k) => write!(f, "by its key ({k})"),
            Method::Search => f.write_str("from a search"),
        }
    }
}

/// Rows matching a search, at most [`PICK_LIMIT`], with a note when there are more.
fn search_rows(app: &mut App, t: &Table, f: &Filter) -> Result<(Vec<Vec<Value>>, String)> {
    let total = app.rt.block_on(app.db.count(t, Some(f)))?;
    let rows = app.rt.block_on(app.db.page(t, Some(f), PICK_LIMIT, 0))?;
    let note = if total > PICK_LIMIT {
        format!("Showing the first {PICK_LIMIT} of {total} matches; search more narrowly to see the others.")
    } else {
        format!("{total} matching row{}.", if total == 1 { "" } else { "s" })
    };
    Ok((rows, note))
}

fn row_labels(t: &Table, rows: &[Vec<Value>]) -> Vec<Labelled> {
    let headers = super::headers(t);
    let max = term_size().0.saturating_sub(8);
    rows.iter()
        .enumerate()
        .map(|(index, r)| {
            let cells: Vec<String> = r
                .iter()
                .zip(&t.columns)
                .map(|(v, c)| value::show::display(&c.kind, v))
                .collect();
            Labelled {
                index,
                label: crate::render::summary(&headers, &cells, max),
            }
        })
        .collect()
}

/// Picks rows of `t`: by key (one row) or from a search (one row, or several when `many`).
pub fn pick_rows(
    app: &mut App,
    t: &Table,
    title: &str,
    many: bool,
) -> Result<Nav<Vec<Vec<Value>>>> {
    let mut note = String::new();
    loop {
        clear_screen();
        println!("{title}");
        println!();
        if !note.is_empty() {
            println!("{note}");
            println!();
        }
        let method = match t.key_columns() {
            Some(_) => {
                let methods = vec![Method::ByKey(t.key_names()), Method::Search];
                let what = if many {
                    "Find the rows"
                } else {
                    "Find the row"
                };
                step!(prompt::choose(what, methods, "")?)
            }
            None => Method::Search,
        };
        if let Method::ByKey(_) = method {
            match by_key(app, t)? {
                Nav::Go(Some(row)) => return Ok(Nav::Go(vec![row])),
                Nav::Go(None) => note = "✘ No row has that key.".into(),
                Nav::Back => note.clear(),
                Nav::Home => return Ok(Nav::Home),
            }
            continue;
        }
        let filter = match search_spec(t, title)? {
            Nav::Go(f) => f,
            // Without a key, the search is the first step: Back leaves.
            Nav::Back if t.key_columns().is_none() => return Ok(Nav::Back),
            Nav::Back => {
                note.clear();
                continue;
            }
            Nav::Home => return Ok(Nav::Home),
        };
        let (rows, found) = search_rows(app, t, &filter)?;
        if rows.is_empty() {
            note = "✘ No row matches that search.".into();
            continue;
        }
        clear_screen();
        println!("{title}");
        println!();
        println!("{found}");
        println!();
        let labels = row_labels(t, &rows);
        let picked: Vec<usize> = if many {
            let validator = |p: &[inquire::list_option::ListOption<&Labelled>]| {
                Ok(if p.is_empty() {
                    Validation::Invalid("tick at least one row (Space)".into())
                } else {
                    Validation::Valid
                })
            };
            let page = labels.len().clamp(3, 15);
            let answer = MultiSelect::new("Which rows?", labels)
                .with_page_size(page)
                .with_validator(validator)
                .with_help_message("Space to tick, → all, ← none, Enter to accept · Esc = back")
                .prompt();
            match prompt::nav(answer)? {
                Nav::Go(p) => p.into_iter().map(|l| l.index).collect(),
                Nav::Back => {
                    note.clear();
                    continue;
                }
                Nav::Home => return Ok(Nav::Home),
            }
        } else {
            match prompt::choose("Which row?", labels, "")? {
                Nav::Go(l) => vec![l.index],
                Nav::Back => {
                    note.clear();
                    continue;
                }
                Nav::Home => return Ok(Nav::Home),
            }
        };
        return Ok(Nav::Go(
            picked.into_iter().map(|i| rows[i].clone()).collect(),
        ));
    }
}
