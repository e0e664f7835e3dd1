//! Values from the server, shown to the user and put back into input lines.
//!
//! Rows are read with prepared statements (binary protocol), so a value arrives typed:
//! integers as `Int`/`UInt`, dates as `Date`, times as `Time`, everything textual as `Bytes`.
//! The column's [`Kind`] decides how the bytes read: text is UTF-8, binary is shown as `0x…`,
//! BIT as `b'…'`.

use mysql_async::Value;

use super::escape::{display_text, escape, typeable};
use crate::catalog::Kind;

/// How a NULL is shown.
pub const NULL: &str = "NULL";

/// A value for display (one line, terminal-safe, not truncated).
pub fn display(kind: &Kind, v: &Value) -> String {
    match v {
        Value::NULL => NULL.into(),
        Value::Bytes(b) => match kind {
            Kind::Binary { .. } | Kind::Other(_) => hex(b),
            Kind::Bit { width } => bits(be_u64(b), *width),
            _ => display_text(&String::from_utf8_lossy(b)),
        },
        Value::UInt(n) => match kind {
            Kind::Bit { width } => bits(*n, *width),
            _ => n.to_string(),
        },
        Value::Int(n) => match kind {
            Kind::Year => format!("{n:04}"),
            _ => n.to_string(),
        },
        Value::Float(f) => f.to_string(),
        Value::Double(d) => match kind {
            // FLOAT columns computed in double precision show float's digits.
            Kind::Float { double: false, .. } => (*d as f32).to_string(),
            _ => d.to_string(),
        },
        Value::Date(y, mo, d, h, mi, s, us) => match kind {
            Kind::Date => format!("{y:04}-{mo:02}-{d:02}"),
            Kind::DateTime { fsp } | Kind::Timestamp { fsp } => format!(
                "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}{}",
                fraction(*us, *fsp)
            ),
            _ => format!(
                "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}{}",
                fraction(*us, 6)
            ),
        },
        Value::Time(neg, days, h, mi, s, us) => {
            let fsp = match kind {
                Kind::Time { fsp } => *fsp,
                _ => 6,
            };
            format!(
                "{}{:02}:{mi:02}:{s:02}{}",
                if *neg { "-" } else { "" },
                days * 24 + *h as u32,
                fraction(*us, fsp)
            )
        }
    }
}

/// What to type to enter `v` again (an UPDATE starts from it). `None` when it cannot be typed
/// on one line (text with line breaks or other control characters).
pub fn input_form(kind: &Kind, v: &Value) -> Option<String> {
    match (kind, v) {
        (_, Value::NULL) => Some("\\N".into()),
        (Kind::Char { .. } | Kind::Text { .. } | Kind::Json, Value::Bytes(b)) => {
            let s = String::from_utf8(b.clone()).ok()?;
            if s.is_empty() {
                return Some("\\e".into());
            }
            typeable(&s).then(|| escape(&s))
        }
        (Kind::Enum(_) | Kind::Set(_), Value::Bytes(b)) => String::from_utf8(b.clone()).ok(),
        _ => Some(display(kind, v)),
    }
}

/// Values as the server returns them, made comparable with what we send: BIT arrives as
/// big-endian bytes but is compared (and typed) as a number.
pub fn normalize(kind: &Kind, v: Value) -> Value {
    match (kind, v) {
        (Kind::Bit { .. }, Value::Bytes(b)) => Value::UInt(be_u64(&b)),
        (_, v) => v,
    }
}

fn fraction(us: u32, fsp: u32) -> String {
    if fsp == 0 {
        return String::new();
    }
    let digits = format!("{us:06}");
    format!(".{}", &digits[..(fsp as usize).min(6)])
}

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(2 + b.len() * 2);
    s.push_str("0x");
    for byte in b {
        s.push_str(&format!("{byte:02x}"));
    }
    s
}

fn be_u64(b: &[u8]) -> u64 {
    b.iter()
        .rev()
        .take(8)
        .rev()
        .fold(0u64, |acc, &x| (acc << 8) | x as u64)
}

fn bits(n: u64, width: u32) -> String {
    format!("b'{:0w$b}'", n, w = width as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_by_kind() {
        assert_eq!(
            display(&Kind::Date, &Value::Date(2024, 1, 2, 0, 0, 0, 0)),
            "2024-01-02"
        );
        assert_eq!(
            display(
                &Kind::DateTime { fsp: 3 },
                &Value::Date(2024, 1, 2, 3, 4, 5, 120000)
            ),
            "2024-01-02 03:04:05.120"
        );
        assert_eq!(
            display(&Kind::Time { fsp: 0 }, &Value::Time(true, 1, 2, 3, 4, 0)),
            "-26:03:04"
        );
        assert_eq!(
            display(&Kind::Binary { max_bytes: 4 }, &Value::Bytes(vec![0, 171])),
            "0x00ab"
        );
        assert_eq!(
            display(&Kind::Bit { width: 4 }, &Value::Bytes(vec![5])),
            "b'0101'"
        );
        assert_eq!(
            display(
                &Kind::Char { max_chars: 9 },
                &Value::Bytes(b"a\0b".to_vec())
            ),
            "a\\0b"
        );
        assert_eq!(display(&Kind::Year, &Value::Int(0)), "0000");
        assert_eq!(display(&Kind::Char { max_chars: 9 }, &Value::NULL), "NULL");
    }

    #[test]
    fn input_form_round_trips_through_parsing() {
        let c = Kind::Char { max_chars: 50 };
        for text in [
            "plain",
            "a\0b",
            "C:\\0dir",
            "\\N",
            "'; DROP TABLE x; --",
            "",
        ] {
            let v = Value::Bytes(text.as_bytes().to_vec());
            let typed = input_form(&c, &v).unwrap();
            let back = crate::value::interpret_text(&c, None, &typed, false, true).unwrap();
            assert_eq!(back, Some(v), "{text:?} typed as {typed:?}");
        }
        assert_eq!(input_form(&c, &Value::Bytes(b"two\nlines".to_vec())), None);
        assert_eq!(input_form(&c, &Value::NULL).as_deref(), Some("\\N"));
    }
}
