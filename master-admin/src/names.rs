//! Database, table and column names as the DBA types them, checked and quoted for SQL.
//!
//! Names are always written into SQL quoted with backticks (a backtick in a name is doubled), so
//! any name MariaDB accepts can be used and none can end the statement. Column definitions of
//! `create-table` are SQL by design (`"price DECIMAL(10,2) NOT NULL"`); they are checked to be one
//! definition each: no statement separator, no comment, balanced parentheses outside quotes.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// MariaDB's longest database, table or column name.
pub const MAX_NAME: usize = 64;

/// A database, table or column name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident(String);

impl Ident {
    /// Checks a bare name (without quotes).
    pub fn new(name: &str, what: &str) -> Result<Self, Error> {
        let bad = |problem: &str| Error::Usage(format!("{what} name {name:?} {problem}"));
        if name.is_empty() {
            return Err(bad("is empty"));
        }
        if name.chars().count() > MAX_NAME {
            return Err(bad("is longer than 64 characters"));
        }
        if name.contains('\0') {
            return Err(bad("contains a NUL character"));
        }
        if name.ends_with(' ') {
            return Err(bad("ends with a space, which MariaDB does not allow"));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as stored by the server.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name quoted for SQL: `` `na``me` ``.
    pub fn quoted(&self) -> String {
        format!("`{}`", self.0.replace('`', "``"))
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads one name part from the start of `s`: `` `quoted``name` `` or bare up to `stop`.
/// Returns the name and the rest.
fn name_part(s: &str, stop: impl Fn(char) -> bool) -> Result<(String, &str), String> {
    if let Some(body) = s.strip_prefix('`') {
        let mut name = String::new();
        let mut chars = body.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '`' {
                if chars.peek().map(|(_, c)| *c) == Some('`') {
                    chars.next();
                    name.push('`');
                } else {
                    return Ok((name, &body[i + 1..]));
                }
            } else {
                name.push(c);
            }
        }
        Err(format!("{s:?} has an unclosed backtick"))
    } else {
        let end = s.find(&stop).unwrap_or(s.len());
        let name = &s[..end];
        if name.contains('`') {
            return Err(format!("{name:?} has a backtick inside a bare name"));
        }
        Ok((name.to_owned(), &s[end..]))
    }
}

/// A database name (`MOST`, `` `my db` ``).
pub fn database(s: &str) -> Result<Ident, Error> {
    let (name, rest) = name_part(s.trim(), |_| false).map_err(Error::Usage)?;
    if !rest.is_empty() {
        return Err(Error::Usage(format!(
            "database name {s:?} has text after the closing backtick"
        )));
    }
    Ident::new(&name, "database")
}

/// A table name with its database: `DB.TABLE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    pub db: Ident,
    pub table: Ident,
}

impl TableName {
    /// `` `db`.`table` `` for SQL.
    pub fn quoted(&self) -> String {
        format!("{}.{}", self.db.quoted(), self.table.quoted())
    }
}

impl fmt::Display for TableName {
    /// `db.table` as typed (unquoted), for messages and confirmation.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.db, self.table)
    }
}

impl FromStr for TableName {
    type Err = Error;

    /// `DB.TABLE`, either part optionally in backticks (needed when it contains a dot).
    fn from_str(s: &str) -> Result<Self, Error> {
        let usage = |p: String| Error::Usage(format!("table name {s:?}: {p}"));
        let (db, rest) = name_part(s.trim(), |c| c == '.').map_err(usage)?;
        let Some(rest) = rest.strip_prefix('.') else {
            return Err(Error::Usage(format!(
                "table name {s:?} needs its database: DB.TABLE (e.g. MOST.customers)"
            )));
        };
        let (table, rest) = name_part(rest, |_| false).map_err(usage)?;
        if !rest.is_empty() {
            return Err(usage("unexpected text after the table name".into()));
        }
        Ok(TableName {
            db: Ident::new(&db, "database")?,
            table: Ident::new(&table, "table")?,
        })
    }
}

/// One column definition of `create-table`: a name and the SQL after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDef {
    pub name: Ident,
    /// Type and attributes, e.g. `DECIMAL(10,2) NOT NULL DEFAULT 0`.
    pub spec: String,
}

impl ColumnDef {
    /// The definition for SQL, with the name quoted.
    pub fn sql(&self) -> String {
        format!("{} {}", self.name.quoted(), self.spec)
    }

    /// Whether the definition declares the column the primary key (`... PRIMARY KEY`).
    pub fn is_primary_key(&self) -> bool {
        let code = outside_quotes(&self.spec).to_ascii_uppercase();
        let words: Vec<&str> = code.split_whitespace().collect();
        words.windows(2).any(|w| w == ["PRIMARY", "KEY"])
    }
}

impl FromStr for ColumnDef {
    type Err = Error;

    /// `name TYPE [attributes]`, the name optionally in backticks.
    fn from_str(s: &str) -> Result<Self, Error> {
        let usage = |p: &str| Error::Usage(format!("column definition {s:?} {p}"));
        let (name, rest) =
            name_part(s.trim(), char::is_whitespace).map_err(|p| Error::Usage(p.to_string()))?;
        let spec = rest.trim();
        if spec.is_empty() {
            return Err(usage(
                "has no type: write it as \"name TYPE\", e.g. \"id INT\"",
            ));
        }
        check_one_definition(spec).map_err(|p| usage(&p))?;
        Ok(ColumnDef {
            name: Ident::new(&name, "column")?,
            spec: spec.to_owned(),
        })
    }
}

/// `s` with every quoted string, identifier and their contents blanked out.
fn outside_quotes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut quote: Option<char> = None;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                if c == '\\' && q != '`' {
                    chars.next();
                } else if c == q {
                    if chars.peek() == Some(&q) {
                        chars.next();
                    } else {
                        quote = None;
                    }
                }
                out.push(' ');
            }
            None => {
                if matches!(c, '\'' | '"' | '`') {
                    quote = Some(c);
                    out.push(' ');
                } else {
                    out.push(c);
                }
            }
        }
    }
    if quote.is_some() {
        // Mark the unclosed quote for the checker.
        out.push('\u{0}');
    }
    out
}

/// One column definition, nothing more: no `;`, no comments, balanced parentheses.
fn check_one_definition(spec: &str) -> Result<(), String> {
    let code = outside_quotes(spec);
    if code.ends_with('\u{0}') {
        return Err("has an unclosed quote".into());
    }
    if code.contains(';') {
        return Err("contains `;`: give one column per --column".into());
    }
    if code.contains("--") || code.contains('#') || code.contains("/*") {
        return Err("contains an SQL comment".into());
    }
    let mut depth: i32 = 0;
    for c in code.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            return Err("closes a parenthesis it did not open".into());
        }
    }
    if depth != 0 {
        return Err("has an unclosed parenthesis".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_parse_with_and_without_backticks() {
        let t: TableName = "MOST.customers".parse().unwrap();
        assert_eq!((t.db.as_str(), t.table.as_str()), ("MOST", "customers"));
        assert_eq!(t.quoted(), "`MOST`.`customers`");
        let t: TableName = "`my.db`.`odd``name`".parse().unwrap();
        assert_eq!((t.db.as_str(), t.table.as_str()), ("my.db", "odd`name"));
        assert_eq!(t.quoted(), "`my.db`.`odd``name`");
        assert_eq!(t.to_string(), "my.db.odd`name");
        for bad in ["customers", "MOST.", ".t", "`MOST.t", "MOST.t`x`", "a`b.c"] {
            assert!(bad.parse::<TableName>().is_err(), "{bad}");
        }
        let long = format!("MOST.{}", "x".repeat(65));
        assert!(long.parse::<TableName>().is_err());
    }

    #[test]
    fn database_names() {
        assert_eq!(database("MOST").unwrap().quoted(), "`MOST`");
        assert_eq!(database("`a b`").unwrap().as_str(), "a b");
        assert!(database("").is_err());
        assert!(database("`x`y").is_err());
    }

    #[test]
    fn column_definitions_are_one_definition_each() {
        let c: ColumnDef = "price DECIMAL(10,2) NOT NULL DEFAULT 0".parse().unwrap();
        assert_eq!(c.sql(), "`price` DECIMAL(10,2) NOT NULL DEFAULT 0");
        assert!(!c.is_primary_key());
        let c: ColumnDef = "`my col` VARCHAR(10) COMMENT 'a; b -- (not code'"
            .parse()
            .unwrap();
        assert_eq!(c.name.as_str(), "my col");
        assert!(!c.is_primary_key());
        let c: ColumnDef = "id INT AUTO_INCREMENT PRIMARY  KEY".parse().unwrap();
        assert!(c.is_primary_key());
        let c: ColumnDef = "id INT COMMENT 'primary key'".parse().unwrap();
        assert!(!c.is_primary_key(), "quoted text is not code");
        for bad in [
            "id",
            "id INT; DROP TABLE x",
            "id INT -- comment",
            "id INT /* x */",
            "id INT # x",
            "id INT)",
            "id DECIMAL(10,2",
            "id VARCHAR(10) COMMENT 'open",
        ] {
            assert!(bad.parse::<ColumnDef>().is_err(), "{bad}");
        }
    }
}
