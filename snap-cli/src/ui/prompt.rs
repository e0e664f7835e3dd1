//! Prompt building blocks: Back/Home navigation, lists with a Back entry, and one prompt per
//! column that only accepts a value valid for that column.

use std::fmt;

use inquire::error::InquireResult;
use inquire::validator::Validation;
use inquire::{InquireError, MultiSelect, Select, Text};
use mysql_async::Value;

use crate::catalog::{Column, ColumnDefault, Kind};
use crate::error::{Error, Result};
use crate::value::{self, display_text};

/// Where the user wants to go after a prompt.
#[derive(Debug, Clone, PartialEq)]
pub enum Nav<T> {
    /// Answered.
    Go(T),
    /// Esc (or the Back entry): one step up.
    Back,
    /// Ctrl+C: straight to the main menu.
    Home,
}

/// Unwraps `Nav::Go`, or returns the Back/Home from the enclosing step function.
macro_rules! step {
    ($e:expr) => {
        match $e {
            $crate::ui::Nav::Go(v) => v,
            $crate::ui::Nav::Back => return Ok($crate::ui::Nav::Back),
            $crate::ui::Nav::Home => return Ok($crate::ui::Nav::Home),
        }
    };
}
pub(crate) use step;

/// Esc and Ctrl+C become navigation; other prompt failures mean the terminal is unusable.
pub fn nav<T>(r: InquireResult<T>) -> Result<Nav<T>> {
    match r {
        Ok(v) => Ok(Nav::Go(v)),
        Err(InquireError::OperationCanceled) => Ok(Nav::Back),
        Err(InquireError::OperationInterrupted) => Ok(Nav::Home),
        Err(e) => Err(Error::Terminal(e)),
    }
}

/// Filters a list by what its entries start with (so typing `3` picks `3 - DELETE`), falling
/// back to "contains" for longer text like table names.
pub fn prefix_scorer<T>(input: &str, _option: &T, text: &str, _idx: usize) -> Option<i64> {
    let input = input.trim().to_lowercase();
    let text = text.to_lowercase();
    if input.is_empty() || text.starts_with(&input) {
        Some(2)
    } else if input.len() > 1 && text.contains(&input) {
        Some(1)
    } else {
        None
    }
}

/// An entry of a list that also offers Back.
#[derive(Debug, Clone, PartialEq)]
pub enum Choice<T> {
    Item(T),
    Back,
}

impl<T: fmt::Display> fmt::Display for Choice<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Choice::Item(t) => t.fmt(f),
            Choice::Back => f.write_str("Back"),
        }
    }
}

/// Items to choose from, plus a `Back` entry at the end.
pub fn choose<T: fmt::Display + Clone>(message: &str, items: Vec<T>, help: &str) -> Result<Nav<T>> {
    let mut options: Vec<Choice<T>> = items.into_iter().map(Choice::Item).collect();
    options.push(Choice::Back);
    let help = if help.is_empty() {
        "↑↓ to move, type to filter, Enter to choose, Esc = back".to_owned()
    } else {
        format!("{help} · Esc = back")
    };
    let page = options.len().clamp(3, 15);
    let answer = Select::new(message, options)
        .with_help_message(&help)
        .with_page_size(page)
        .with_scorer(&prefix_scorer)
        .prompt();
    Ok(match nav(answer)? {
        Nav::Go(Choice::Item(t)) => Nav::Go(t),
        Nav::Go(Choice::Back) | Nav::Back => Nav::Back,
        Nav::Home => Nav::Home,
    })
}

/// Yes/no with Esc = back.
pub fn confirm(message: &str, default: bool) -> Result<Nav<bool>> {
    nav(inquire::Confirm::new(message)
        .with_default(default)
        .with_help_message("y/n · Esc = back")
        .prompt())
}

/// One column's answer: what was typed (to show it again after Back) and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The raw input (or the chosen member), for editing again.
    pub raw: String,
    /// `None`: the column's default.
    pub value: Option<Value>,
}

/// An ENUM member, NULL or the default, in a Select.
#[derive(Debug, Clone, PartialEq)]
enum EnumChoice {
    Member(String),
    Null,
    Default(String),
}

impl fmt::Display for EnumChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnumChoice::Member(m) if m.is_empty() => f.write_str("'' (empty)"),
            EnumChoice::Member(m) => f.write_str(&display_text(m)),
            EnumChoice::Null => f.write_str("(NULL)"),
            EnumChoice::Default(d) => write!(f, "(the default: {})", display_text(d)),
        }
    }
}

/// The "(the default: …)" entry of an ENUM/SET list; a NULL default is the "(NULL)" entry.
fn default_choice(col: &Column, allow_default: bool) -> Option<EnumChoice> {
    if !allow_default {
        return None;
    }
    match &col.default {
        ColumnDefault::Literal(l) => Some(EnumChoice::Default(l.clone())),
        ColumnDefault::Expression(e) => Some(EnumChoice::Default(e.clone())),
        ColumnDefault::Null | ColumnDefault::None => None,
    }
}

/// `name (decimal(8,2), NOT NULL, default 0.00):`
pub fn column_message(col: &Column) -> String {
    format!("{} ({}):", display_text(&col.name), col.describe())
}

/// Asks for one column's value. `allow_default`: an INSERT may leave it to the server.
/// `initial`: the previous answer (after Back) or the current value (UPDATE).
pub fn column_value(
    col: &Column,
    allow_default: bool,
    initial: Option<&str>,
) -> Result<Nav<Answer>> {
    // In a list, the entry under the cursor (or ticked) at first is the default, so Enter
    // alone means "the default" there too.
    let default_pick = match (&col.default, allow_default) {
        (ColumnDefault::Null, true) => Some("\\N".to_owned()),
        (ColumnDefault::Literal(l), true) if matches!(col.kind, Kind::Set(_)) => Some(l.clone()),
        (ColumnDefault::Literal(_) | ColumnDefault::Expression(_), true) => Some(String::new()),
        _ => None,
    };
    let pick = initial.or(default_pick.as_deref());
    match &col.kind {
        Kind::Enum(members) => enum_value(col, members, allow_default, pick),
        Kind::Set(members) => set_value(col, members, pick),
        _ => text_value(col, allow_default, initial),
    }
}

fn text_value(col: &Column, allow_default: bool, initial: Option<&str>) -> Result<Nav<Answer>> {
    let message = column_message(col);
    let escapes = value::escapes_hint(col, allow_default);
    let mut help = value::parse::hint(&col.kind);
    if !escapes.is_empty() {
        help.push_str(" · ");
        help.push_str(&escapes);
    }
    help.push_str(" · Esc = back");
    let checked = col.clone();
    let validator = move |input: &str| {
        Ok(match value::interpret(&checked, input, allow_default) {
            Ok(_) => Validation::Valid,
            Err(why) => Validation::Invalid(why.into()),
        })
    };
    let mut prompt = Text::new(&message)
        .with_help_message(&help)
        .with_validator(validator);
    let placeholder = match (&col.default, allow_default) {
        (ColumnDefault::Literal(d), true) => format!("default: {}", display_text(d)),
        (ColumnDefault::Expression(e), true) => format!("default: {e}"),
        (ColumnDefault::Null, true) => "default: NULL".into(),
        _ => String::new(),
    };
    if !placeholder.is_empty() {
        prompt = prompt.with_placeholder(&placeholder);
    }
    if let Some(init) = initial {
        prompt = prompt.with_initial_value(init);
    }
    let raw = nav(prompt.prompt())?;
    Ok(raw.map(|raw| {
        // The validator accepted exactly this input, so interpreting it again cannot fail.
        let value = value::interpret(col, &raw, allow_default).unwrap_or(None);
        Answer { raw, value }
    }))
}

fn enum_value(
    col: &Column,
    members: &[String],
    allow_default: bool,
    initial: Option<&str>,
) -> Result<Nav<Answer>> {
    let mut options: Vec<EnumChoice> = Vec::new();
    if let Some(d) = default_choice(col, allow_default) {
        options.push(d);
    }
    options.extend(members.iter().cloned().map(EnumChoice::Member));
    if col.nullable {
        options.push(EnumChoice::Null);
    }
    let start = initial
        .and_then(|i| {
            options.iter().position(|o| match o {
                EnumChoice::Member(m) => m == i,
                EnumChoice::Null => i == "\\N",
                EnumChoice::Default(_) => i.is_empty(),
            })
        })
        .unwrap_or(0);
    let message = column_message(col);
    let answer = Select::new(&message, options)
        .with_starting_cursor(start)
        .with_page_size(10)
        .with_help_message("↑↓ to move, type to filter, Enter to choose · Esc = back")
        .prompt();
    Ok(nav(answer)?.map(|c| match c {
        EnumChoice::Member(m) => Answer {
            value: Some(Value::Bytes(m.clone().into_bytes())),
            raw: m,
        },
        EnumChoice::Null => Answer {
            raw: "\\N".into(),
            value: Some(Value::NULL),
        },
        EnumChoice::Default(_) => Answer {
            raw: String::new(),
            value: None,
        },
    }))
}

fn set_value(col: &Column, members: &[String], initial: Option<&str>) -> Result<Nav<Answer>> {
    // NULL is an entry too; the validator keeps it exclusive. The default is ticked at first.
    let mut options: Vec<EnumChoice> = members.iter().cloned().map(EnumChoice::Member).collect();
    if col.nullable {
        options.push(EnumChoice::Null);
    }
    let chosen: Vec<usize> = match initial {
        Some("\\N") => options
            .iter()
            .position(|o| *o == EnumChoice::Null)
            .into_iter()
            .collect(),
        Some(init) if !init.is_empty() => init
            .split(',')
            .filter_map(|m| {
                options
                    .iter()
                    .position(|o| *o == EnumChoice::Member(m.to_owned()))
            })
            .collect(),
        _ => Vec::new(),
    };
    let validator = |picked: &[inquire::list_option::ListOption<&EnumChoice>]| {
        let special = picked
            .iter()
            .any(|p| !matches!(p.value, EnumChoice::Member(_)));
        Ok(if special && picked.len() > 1 {
            Validation::Invalid("NULL goes alone, without members".into())
        } else {
            Validation::Valid
        })
    };
    let message = column_message(col);
    let answer = MultiSelect::new(&message, options)
        .with_default(&chosen)
        .with_page_size(10)
        .with_validator(validator)
        .with_help_message("Space to tick, Enter to accept (none ticked = empty set) · Esc = back")
        .prompt();
    Ok(nav(answer)?.map(|picked| match picked.first() {
        Some(EnumChoice::Null) => Answer {
            raw: "\\N".into(),
            value: Some(Value::NULL),
        },
        Some(EnumChoice::Default(_)) => Answer {
            raw: String::new(),
            value: None,
        },
        _ => {
            let joined = picked
                .iter()
                .filter_map(|p| match p {
                    EnumChoice::Member(m) => Some(m.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join(",");
            Answer {
                value: Some(Value::Bytes(joined.clone().into_bytes())),
                raw: joined,
            }
        }
    }))
}

impl<T> Nav<T> {
    /// Maps the answer, keeping Back/Home.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Nav<U> {
        match self {
            Nav::Go(t) => Nav::Go(f(t)),
            Nav::Back => Nav::Back,
            Nav::Home => Nav::Home,
        }
    }
}
