//! Values: what the user types, checked per MariaDB type, and what the server returns, shown.
//!
//! - [`escape`]: the `\0`, `\N`, `\e` conventions and terminal-safe printing;
//! - [`parse`]: typed text → a bound parameter, validated against the column;
//! - [`show`]: server values → display text, and back into an editable input line.
//!
//! [`interpret`] ties them together for one prompt answer.

pub mod escape;
pub mod parse;
pub mod show;

pub use escape::display_text;

use mysql_async::Value;

use crate::catalog::{Column, Kind};

/// The help line's reminder of the escapes that apply to a column.
pub fn escapes_hint(col: &Column, allow_default: bool) -> String {
    let mut parts = Vec::new();
    if allow_default && col.has_default() {
        parts.push("Enter alone = default");
    }
    if col.nullable {
        parts.push("\\N = NULL");
    }
    if col.kind.is_textual() {
        parts.push("\\0 = NUL byte");
        if allow_default && col.has_default() {
            parts.push("\\e = empty text");
        }
    }
    parts.join(" · ")
}

/// One answer for `col`: `Ok(None)` means "leave it to the server's default" (only when
/// `allow_default`), `Ok(Some(v))` a checked value (`Value::NULL` for NULL).
pub fn interpret(col: &Column, raw: &str, allow_default: bool) -> Result<Option<Value>, String> {
    interpret_text(
        &col.kind,
        col.charset.as_deref(),
        raw,
        allow_default && col.has_default(),
        col.nullable,
    )
}

/// [`interpret`] without a [`Column`]: the kind, character set and nullability spelled out.
pub fn interpret_text(
    kind: &Kind,
    charset: Option<&str>,
    raw: &str,
    allow_default: bool,
    nullable: bool,
) -> Result<Option<Value>, String> {
    use escape::Token;
    if raw.is_empty() {
        if allow_default {
            return Ok(None);
        }
        if kind.is_textual() && *kind != Kind::Json {
            return Ok(Some(Value::Bytes(Vec::new())));
        }
        return Err(if nullable {
            "type a value, or \\N for NULL".into()
        } else {
            "type a value".into()
        });
    }
    match escape::unescape(raw) {
        Token::Null if nullable => Ok(Some(Value::NULL)),
        Token::Null => Err("this column cannot be NULL".into()),
        Token::Empty if kind.is_textual() && *kind != Kind::Json => {
            Ok(Some(Value::Bytes(Vec::new())))
        }
        Token::Empty => Err("\\e (empty text) only applies to text columns".into()),
        Token::Text(text) if kind.is_textual() => parse::parse(kind, charset, &text).map(Some),
        // Only text interprets `\0`; elsewhere it would just be an invalid number or date.
        Token::Text(_) => parse::parse(kind, charset, raw).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds() -> Vec<Kind> {
        let mut v = vec![
            Kind::Decimal {
                precision: 65,
                scale: 30,
                unsigned: true,
            },
            Kind::Decimal {
                precision: 1,
                scale: 0,
                unsigned: false,
            },
            Kind::Float {
                double: false,
                unsigned: true,
            },
            Kind::Bit { width: 1 },
            Kind::Bit { width: 64 },
            Kind::Date,
            Kind::DateTime { fsp: 6 },
            Kind::Timestamp { fsp: 0 },
            Kind::Time { fsp: 2 },
            Kind::Year,
            Kind::Char { max_chars: 2 },
            Kind::Text { max_bytes: 3 },
            Kind::Json,
            Kind::Binary { max_bytes: 2 },
            Kind::Enum(vec!["a".into(), String::new()]),
            Kind::Set(vec!["a".into(), "b".into()]),
            Kind::Uuid,
            Kind::Inet4,
            Kind::Inet6,
            Kind::Other("point".into()),
        ];
        for bits in [8, 16, 24, 32, 64] {
            for unsigned in [false, true] {
                v.push(Kind::Int {
                    bits,
                    unsigned,
                    boolean: bits == 8,
                });
            }
        }
        v
    }

    /// Nothing typed can make validation panic: every string up to length 3 over characters
    /// that matter to some parser, plus very long inputs, for every kind.
    #[test]
    fn no_input_panics_any_kind() {
        let alphabet: Vec<char> = "0 9-.:eEx'\\Nb,\0é🙂".chars().collect();
        let mut inputs = vec![String::new()];
        let mut layer = vec![String::new()];
        for _ in 0..3 {
            let mut next = Vec::new();
            for s in &layer {
                for &c in &alphabet {
                    next.push(format!("{s}{c}"));
                }
            }
            inputs.extend(next.iter().cloned());
            layer = next;
        }
        inputs.push("9".repeat(5000));
        inputs.push(format!("-{}.{}", "9".repeat(100), "9".repeat(100)));
        inputs.push(format!("0x{}", "f".repeat(1001)));
        inputs.push("2024-02-29 23:59:59.9999999".into());
        inputs.push("🙂".repeat(1000));
        for kind in kinds() {
            for charset in [None, Some("latin1"), Some("utf8mb3")] {
                for input in &inputs {
                    for allow_default in [false, true] {
                        let _ = interpret_text(&kind, charset, input, allow_default, true);
                    }
                }
            }
        }
    }

    #[test]
    fn empty_null_and_escapes() {
        let text = Kind::Char { max_chars: 10 };
        assert_eq!(interpret_text(&text, None, "", true, true), Ok(None));
        assert_eq!(
            interpret_text(&text, None, "", false, false),
            Ok(Some(Value::Bytes(vec![])))
        );
        assert_eq!(
            interpret_text(&text, None, "\\e", true, false),
            Ok(Some(Value::Bytes(vec![])))
        );
        assert_eq!(
            interpret_text(&text, None, "\\N", false, true),
            Ok(Some(Value::NULL))
        );
        assert!(interpret_text(&text, None, "\\N", false, false).is_err());
        assert_eq!(
            interpret_text(&text, None, "a\\0b", false, false),
            Ok(Some(Value::Bytes(b"a\0b".to_vec())))
        );
        let num = Kind::Int {
            bits: 32,
            unsigned: false,
            boolean: false,
        };
        assert!(interpret_text(&num, None, "", false, true)
            .unwrap_err()
            .contains("\\N"));
        assert!(interpret_text(&num, None, "\\e", false, true).is_err());
        assert_eq!(interpret_text(&num, None, "", true, true), Ok(None));
    }
}
