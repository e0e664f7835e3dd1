//! Typed input → a MariaDB parameter value, checked against the column's type first.
//!
//! The server would reject (or, outside strict mode, silently truncate) a bad value; checking
//! here means the user sees what is wrong while still at the prompt, in words about their
//! column ("at most 2 digits after the point"), and nothing half-valid is ever sent. The checks
//! follow MariaDB's documented ranges; the server stays the final judge (strict mode is on for
//! the session, see [`crate::db`]).

use mysql_async::Value;

use crate::catalog::Kind;

/// Parses `text` (already unescaped) for a column of `kind` with character set `charset`.
pub fn parse(kind: &Kind, charset: Option<&str>, text: &str) -> Result<Value, String> {
    match kind {
        Kind::Int {
            bits,
            unsigned,
            boolean,
        } => parse_int(text, *bits, *unsigned, *boolean),
        Kind::Decimal {
            precision,
            scale,
            unsigned,
        } => parse_decimal(text, *precision, *scale, *unsigned),
        Kind::Float { double, unsigned } => parse_float(text, *double, *unsigned),
        Kind::Bit { width } => parse_bit(text, *width).map(Value::UInt),
        Kind::Date => {
            let d = parse_date(text.trim())?;
            Ok(Value::Date(d.0, d.1, d.2, 0, 0, 0, 0))
        }
        Kind::DateTime { fsp } => parse_datetime(text, *fsp, false),
        Kind::Timestamp { fsp } => parse_datetime(text, *fsp, true),
        Kind::Time { fsp } => parse_time(text, *fsp),
        Kind::Year => parse_year(text),
        Kind::Char { max_chars } => {
            check_charset(text, charset)?;
            let n = text.chars().count() as u64;
            if n > *max_chars {
                return Err(format!(
                    "too long: {n} characters, this column holds at most {max_chars}"
                ));
            }
            Ok(Value::Bytes(text.as_bytes().to_vec()))
        }
        Kind::Text { max_bytes } => {
            check_charset(text, charset)?;
            let n = encoded_len(text, charset);
            if n > *max_bytes {
                return Err(format!(
                    "too long: {n} bytes, this column holds at most {max_bytes}"
                ));
            }
            Ok(Value::Bytes(text.as_bytes().to_vec()))
        }
        Kind::Json => match serde_json::from_str::<serde_json::Value>(text) {
            // Stored as typed: the user's spacing and key order are theirs to keep.
            Ok(_) => Ok(Value::Bytes(text.as_bytes().to_vec())),
            Err(e) => Err(format!("not valid JSON: {e}")),
        },
        Kind::Binary { max_bytes } => {
            let bytes = parse_hex(text)?;
            if bytes.len() as u64 > *max_bytes {
                return Err(format!(
                    "too long: {} bytes, this column holds at most {max_bytes}",
                    bytes.len()
                ));
            }
            Ok(Value::Bytes(bytes))
        }
        Kind::Enum(members) => {
            if members.iter().any(|m| m == text) {
                Ok(Value::Bytes(text.as_bytes().to_vec()))
            } else {
                Err(format!("not one of: {}", members.join(", ")))
            }
        }
        Kind::Set(members) => {
            if text.is_empty() {
                return Ok(Value::Bytes(Vec::new()));
            }
            for part in text.split(',') {
                if !members.iter().any(|m| m == part) {
                    return Err(format!("{part:?} is not one of: {}", members.join(", ")));
                }
            }
            Ok(Value::Bytes(text.as_bytes().to_vec()))
        }
        Kind::Uuid => parse_uuid(text),
        Kind::Inet4 => text
            .trim()
            .parse::<std::net::Ipv4Addr>()
            .map(|a| Value::Bytes(a.to_string().into_bytes()))
            .map_err(|_| "not an IPv4 address like 192.0.2.1".into()),
        Kind::Inet6 => text
            .trim()
            .parse::<std::net::IpAddr>()
            .map(|a| match a {
                // INET6 holds IPv4 addresses in their mapped form.
                std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped().to_string(),
                std::net::IpAddr::V6(v6) => v6.to_string(),
            })
            .map(|s| Value::Bytes(s.into_bytes()))
            .map_err(|_| "not an IP address like 2001:db8::1 or 192.0.2.1".into()),
        Kind::Other(t) => Err(format!(
            "{t} values cannot be typed here; use the default or NULL"
        )),
    }
}

/// A short description of the accepted format, for the prompt's help line.
pub fn hint(kind: &Kind) -> String {
    match kind {
        Kind::Int {
            bits,
            unsigned,
            boolean,
        } => {
            let (lo, hi) = int_range(*bits, *unsigned);
            if *boolean {
                format!("whole number {lo} to {hi}, or true/false")
            } else {
                format!("whole number {lo} to {hi}")
            }
        }
        Kind::Decimal {
            precision, scale, ..
        } => format!(
            "number, up to {} digits before the point and {scale} after",
            precision.saturating_sub(*scale)
        ),
        Kind::Float { .. } => "number, e.g. 3.14 or 1.5e-3".into(),
        Kind::Bit { width } => format!("{width} bits: b'0101', 0x0f or a number"),
        Kind::Date => "date YYYY-MM-DD".into(),
        Kind::DateTime { fsp } | Kind::Timestamp { fsp } => {
            format!("YYYY-MM-DD HH:MM:SS{}", fraction_hint(*fsp))
        }
        Kind::Time { fsp } => format!("[-]HH:MM:SS{} (up to 838 hours)", fraction_hint(*fsp)),
        Kind::Year => "year 1901 to 2155".into(),
        Kind::Char { max_chars } => format!("text, up to {max_chars} characters"),
        Kind::Text { max_bytes } => format!("text, up to {max_bytes} bytes"),
        Kind::Json => "JSON, e.g. {\"a\": 1}".into(),
        Kind::Binary { max_bytes } => format!("bytes as hex 0x..., up to {max_bytes} bytes"),
        Kind::Enum(m) | Kind::Set(m) => format!("one of {}", m.join(", ")),
        Kind::Uuid => "UUID like 123e4567-e89b-12d3-a456-426614174000".into(),
        Kind::Inet4 => "IPv4 address".into(),
        Kind::Inet6 => "IPv6 or IPv4 address".into(),
        Kind::Other(t) => format!("{t}: cannot be typed here"),
    }
}

fn fraction_hint(fsp: u32) -> String {
    if fsp == 0 {
        String::new()
    } else {
        format!("[.{}]", "f".repeat(fsp as usize))
    }
}

/// The inclusive range of an integer column.
pub fn int_range(bits: u8, unsigned: bool) -> (i128, i128) {
    if unsigned {
        (0, (1i128 << bits) - 1)
    } else {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    }
}

fn parse_int(text: &str, bits: u8, unsigned: bool, boolean: bool) -> Result<Value, String> {
    let t = text.trim();
    if boolean {
        match t.to_ascii_lowercase().as_str() {
            "true" => return Ok(Value::Int(1)),
            "false" => return Ok(Value::Int(0)),
            _ => {}
        }
    }
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "not a whole number: {}",
            hint(&Kind::Int {
                bits,
                unsigned,
                boolean
            })
        ));
    }
    let (lo, hi) = int_range(bits, unsigned);
    match t.parse::<i128>() {
        Ok(n) if n >= lo && n <= hi => Ok(if unsigned {
            Value::UInt(n as u64)
        } else {
            Value::Int(n as i64)
        }),
        _ => Err(format!("out of range: this column holds {lo} to {hi}")),
    }
}

fn parse_decimal(text: &str, precision: u32, scale: u32, unsigned: bool) -> Result<Value, String> {
    let t = text.trim();
    let (negative, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int_part, frac_part) = body.split_once('.').unwrap_or((body, ""));
    let is_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int_part.is_empty() && frac_part.is_empty())
        || !is_digits(int_part)
        || !is_digits(frac_part)
    {
        return Err("not a number like 12.34".into());
    }
    let significant = int_part.trim_start_matches('0');
    let int_max = precision.saturating_sub(scale) as usize;
    if significant.len() > int_max {
        return Err(format!(
            "too large: at most {int_max} digits before the point"
        ));
    }
    if frac_part.len() > scale as usize {
        return Err(if scale == 0 {
            "this column holds whole numbers only".into()
        } else {
            format!("at most {scale} digits after the point")
        });
    }
    let zero = significant.is_empty() && frac_part.bytes().all(|b| b == b'0');
    if negative && unsigned && !zero {
        return Err("this column holds no negative numbers".into());
    }
    let mut normal = String::new();
    if negative && !zero {
        normal.push('-');
    }
    normal.push_str(if significant.is_empty() {
        "0"
    } else {
        significant
    });
    // As the server will store and show it: all `scale` digits after the point.
    if scale > 0 {
        normal.push('.');
        normal.push_str(&format!("{frac_part:0<w$}", w = scale as usize));
    }
    Ok(Value::Bytes(normal.into_bytes()))
}

fn parse_float(text: &str, double: bool, unsigned: bool) -> Result<Value, String> {
    let t = text.trim();
    // Rust also accepts "inf" and "NaN", which no MariaDB column can hold.
    let plausible = !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'));
    let x = match t.parse::<f64>() {
        Ok(x) if plausible && x.is_finite() => x,
        _ => return Err("not a number like 3.14 or 1.5e-3".into()),
    };
    if unsigned && x < 0.0 {
        return Err("this column holds no negative numbers".into());
    }
    if !double && x.abs() > f32::MAX as f64 {
        return Err("out of range for FLOAT (about ±3.4e38)".into());
    }
    Ok(Value::Double(x))
}

fn parse_bit(text: &str, width: u32) -> Result<u64, String> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    let parsed = if let Some(b) = lower
        .strip_prefix("b'")
        .and_then(|r| r.strip_suffix('\''))
        .or_else(|| lower.strip_prefix("0b"))
    {
        if b.is_empty() || b.len() > 64 || !b.bytes().all(|c| c == b'0' || c == b'1') {
            None
        } else {
            u64::from_str_radix(b, 2).ok()
        }
    } else if let Some(h) = lower.strip_prefix("0x") {
        u64::from_str_radix(h, 16).ok().filter(|_| !h.is_empty())
    } else {
        t.parse::<u64>().ok()
    };
    let Some(n) = parsed else {
        return Err(format!("not a bit value: {}", hint(&Kind::Bit { width })));
    };
    if width < 64 && n >> width != 0 {
        return Err(format!("too large for {width} bits"));
    }
    Ok(n)
}

fn is_leap(y: u16) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: u16, m: u8) -> u8 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

fn number<T: std::str::FromStr>(s: &str, min_len: usize, max_len: usize) -> Option<T> {
    if s.len() < min_len || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `YYYY-MM-DD` (month and day may have one digit) → (year, month, day), a real calendar day.
pub fn parse_date(t: &str) -> Result<(u16, u8, u8), String> {
    let bad = || format!("not a date like 2024-02-29 ({t:?})");
    let mut parts = t.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let (Some(y), Some(m), Some(d)) = (
        number::<u16>(y, 4, 4),
        number::<u8>(m, 1, 2),
        number::<u8>(d, 1, 2),
    ) else {
        return Err(bad());
    };
    if y == 0 || !(1..=12).contains(&m) {
        return Err(bad());
    }
    if d == 0 || d > days_in_month(y, m) {
        return Err(format!("{y:04}-{m:02} has no day {d}"));
    }
    Ok((y, m, d))
}

/// `HH:MM[:SS[.ffffff]]` → (hours, minutes, seconds, microseconds); hours unbounded here.
fn parse_clock(t: &str, fsp: u32, max_hour_digits: usize) -> Result<(u32, u8, u8, u32), String> {
    let bad = || format!("not a time like 13:45:00 ({t:?})");
    let (hms, frac) = t.split_once('.').unwrap_or((t, ""));
    let mut parts = hms.split(':');
    let h = parts
        .next()
        .and_then(|h| number::<u32>(h, 1, max_hour_digits));
    let m = parts.next().and_then(|m| number::<u8>(m, 2, 2));
    let s = match parts.next() {
        None => Some(0),
        Some(s) => number::<u8>(s, 2, 2),
    };
    let (Some(h), Some(m), Some(s), None) = (h, m, s, parts.next()) else {
        return Err(bad());
    };
    if m > 59 || s > 59 {
        return Err(bad());
    }
    if !frac.is_empty() || t.ends_with('.') {
        if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        if frac.len() > fsp as usize {
            return Err(if fsp == 0 {
                "this column keeps whole seconds only (no fraction)".into()
            } else {
                format!("at most {fsp} digits after the seconds")
            });
        }
    }
    let micros = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<6}").parse::<u32>().map_err(|_| bad())?
    };
    Ok((h, m, s, micros))
}

fn parse_datetime(text: &str, fsp: u32, timestamp: bool) -> Result<Value, String> {
    let t = text.trim();
    let (date, clock) = match t.split_once([' ', 'T']) {
        Some((d, c)) => (d, c.trim()),
        None => (t, "00:00:00"),
    };
    let (y, mo, d) = parse_date(date)?;
    let (h, mi, s, us) = parse_clock(clock, fsp, 2)?;
    if h > 23 {
        return Err(format!("not a time of day ({clock:?})"));
    }
    if timestamp && !((1970, 1, 1) <= (y, mo, d) && (y, mo, d) <= (2038, 1, 19)) {
        return Err("TIMESTAMP holds 1970-01-01 00:00:01 to 2038-01-19 03:14:07 (UTC)".into());
    }
    Ok(Value::Date(y, mo, d, h as u8, mi, s, us))
}

fn parse_time(text: &str, fsp: u32) -> Result<Value, String> {
    let t = text.trim();
    let (negative, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let (h, m, s, us) = parse_clock(body, fsp, 3)?;
    if (h, m, s, us) > (838, 59, 59, 0) {
        return Err("TIME holds -838:59:59 to 838:59:59".into());
    }
    Ok(Value::Time(
        negative && (h, m, s, us) != (0, 0, 0, 0),
        h / 24,
        (h % 24) as u8,
        m,
        s,
        us,
    ))
}

fn parse_year(text: &str) -> Result<Value, String> {
    match number::<u16>(text.trim(), 1, 4) {
        Some(0) => Ok(Value::Int(0)),
        Some(y) if (1901..=2155).contains(&y) => Ok(Value::Int(y as i64)),
        _ => Err("YEAR holds 1901 to 2155 (or 0000)".into()),
    }
}

/// `0x` followed by an even number of hex digits.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let t = text.trim();
    let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) else {
        return Err("type bytes as hex starting with 0x, e.g. 0x48656c6c6f".into());
    };
    if h.len() % 2 != 0 {
        return Err("hex needs an even number of digits (two per byte)".into());
    }
    (0..h.len())
        .step_by(2)
        .map(|i| {
            h.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| format!("not hex: {h:?}"))
        })
        .collect()
}

fn parse_uuid(text: &str) -> Result<Value, String> {
    let t = text.trim();
    let hex: String = t.chars().filter(|&c| c != '-').collect();
    let dashes_ok =
        !t.contains('-') || t.split('-').map(str::len).collect::<Vec<_>>() == [8, 4, 4, 4, 12];
    if hex.len() != 32 || !dashes_ok || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("not a UUID like 123e4567-e89b-12d3-a456-426614174000".into());
    }
    let h = hex.to_ascii_lowercase();
    let canonical = format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    );
    Ok(Value::Bytes(canonical.into_bytes()))
}

/// Rejects characters the column's character set cannot store, before the server does.
fn check_charset(text: &str, charset: Option<&str>) -> Result<(), String> {
    let cs = charset.unwrap_or("utf8mb4").to_ascii_lowercase();
    let bad = match cs.as_str() {
        "ascii" => text.chars().find(|c| !c.is_ascii()),
        "utf8" | "utf8mb3" => text.chars().find(|&c| c as u32 > 0xffff),
        "latin1" => text.chars().find(|&c| !is_cp1252(c)),
        _ => None,
    };
    match bad {
        Some(c) => Err(format!(
            "this column ({cs}) cannot store the character {:?}",
            c
        )),
        None => Ok(()),
    }
}

/// MariaDB's `latin1` is Windows-1252.
fn is_cp1252(c: char) -> bool {
    (c as u32) < 0x80
        || ((c as u32) >= 0xa0 && (c as u32) <= 0xff)
        || "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ".contains(c)
}

/// Bytes `text` takes in the column's character set (single-byte sets: one per character).
fn encoded_len(text: &str, charset: Option<&str>) -> u64 {
    match charset.map(|c| c.to_ascii_lowercase()).as_deref() {
        Some("latin1" | "ascii" | "latin2" | "cp1250" | "cp1251") => text.chars().count() as u64,
        _ => text.len() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(bits: u8, unsigned: bool) -> Kind {
        Kind::Int {
            bits,
            unsigned,
            boolean: false,
        }
    }

    #[test]
    fn integers_check_their_range() {
        assert_eq!(parse(&int(8, false), None, "-128"), Ok(Value::Int(-128)));
        assert!(parse(&int(8, false), None, "128").is_err());
        assert_eq!(parse(&int(8, true), None, "255"), Ok(Value::UInt(255)));
        assert!(parse(&int(8, true), None, "-1").is_err());
        assert_eq!(
            parse(&int(64, true), None, "18446744073709551615"),
            Ok(Value::UInt(u64::MAX))
        );
        assert!(parse(&int(64, true), None, "18446744073709551616").is_err());
        assert_eq!(
            parse(&int(24, false), None, " 8388607 "),
            Ok(Value::Int(8388607))
        );
        for bad in ["", "1.5", "1e3", "12a", "--1", "0x10"] {
            assert!(parse(&int(32, false), None, bad).is_err(), "{bad}");
        }
        let b = Kind::Int {
            bits: 8,
            unsigned: false,
            boolean: true,
        };
        assert_eq!(parse(&b, None, "TRUE"), Ok(Value::Int(1)));
    }

    #[test]
    fn decimals_check_precision_and_scale() {
        let k = Kind::Decimal {
            precision: 8,
            scale: 2,
            unsigned: false,
        };
        assert_eq!(
            parse(&k, None, "123456.78"),
            Ok(Value::Bytes(b"123456.78".to_vec()))
        );
        assert_eq!(
            parse(&k, None, "-0012.5"),
            Ok(Value::Bytes(b"-12.50".to_vec()))
        );
        assert_eq!(parse(&k, None, ".5"), Ok(Value::Bytes(b"0.50".to_vec())));
        assert_eq!(parse(&k, None, "-0"), Ok(Value::Bytes(b"0.00".to_vec())));
        assert!(parse(&k, None, "1234567")
            .unwrap_err()
            .contains("6 digits before"));
        assert!(parse(&k, None, "1.234")
            .unwrap_err()
            .contains("2 digits after"));
        for bad in ["", ".", "1,5", "1e2", "abc", "- 1"] {
            assert!(parse(&k, None, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn floats_are_finite_and_in_range() {
        let f = Kind::Float {
            double: false,
            unsigned: false,
        };
        assert_eq!(parse(&f, None, "1.5e-3"), Ok(Value::Double(0.0015)));
        assert!(parse(&f, None, "1e39").is_err());
        for bad in ["inf", "NaN", "", "1..2", "infinity"] {
            assert!(parse(&f, None, bad).is_err(), "{bad}");
        }
        let d = Kind::Float {
            double: true,
            unsigned: false,
        };
        assert!(parse(&d, None, "1e39").is_ok());
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(
            parse(&Kind::Date, None, "2024-02-29"),
            Ok(Value::Date(2024, 2, 29, 0, 0, 0, 0))
        );
        assert!(parse(&Kind::Date, None, "2023-02-29")
            .unwrap_err()
            .contains("no day 29"));
        for bad in [
            "2024-13-01",
            "24-01-01",
            "2024/01/01",
            "2024-01-01x",
            "0000-00-00",
        ] {
            assert!(parse(&Kind::Date, None, bad).is_err(), "{bad}");
        }
        let dt = Kind::DateTime { fsp: 3 };
        assert_eq!(
            parse(&dt, None, "2024-05-06 07:08:09.123"),
            Ok(Value::Date(2024, 5, 6, 7, 8, 9, 123000))
        );
        assert_eq!(
            parse(&dt, None, "2024-05-06T07:08"),
            Ok(Value::Date(2024, 5, 6, 7, 8, 0, 0))
        );
        assert!(parse(&dt, None, "2024-05-06 07:08:09.1234").is_err());
        assert!(parse(&dt, None, "2024-05-06 24:00:00").is_err());
        assert!(parse(&Kind::DateTime { fsp: 0 }, None, "2024-05-06 07:08:09.5").is_err());
        assert!(parse(&Kind::Timestamp { fsp: 0 }, None, "1969-12-31 00:00:00").is_err());
        assert!(parse(&Kind::Timestamp { fsp: 0 }, None, "2000-01-01").is_ok());
        let t = Kind::Time { fsp: 0 };
        assert_eq!(
            parse(&t, None, "-838:59:59"),
            Ok(Value::Time(true, 34, 22, 59, 59, 0))
        );
        assert!(parse(&t, None, "839:00:00").is_err());
        assert!(parse(&t, None, "12:60:00").is_err());
        assert_eq!(parse(&Kind::Year, None, "2155"), Ok(Value::Int(2155)));
        assert!(parse(&Kind::Year, None, "1900").is_err());
    }

    #[test]
    fn text_length_and_charset() {
        let c = Kind::Char { max_chars: 3 };
        assert!(parse(&c, Some("utf8mb4"), "🙂🙂🙂").is_ok());
        assert!(parse(&c, Some("utf8mb4"), "abcd")
            .unwrap_err()
            .contains("at most 3"));
        assert!(parse(&c, Some("latin1"), "🙂")
            .unwrap_err()
            .contains("latin1"));
        assert!(parse(&c, Some("latin1"), "é€").is_ok());
        assert!(parse(&c, Some("utf8mb3"), "🙂").is_err());
        let t = Kind::Text { max_bytes: 4 };
        assert!(parse(&t, Some("utf8mb4"), "🙂").is_ok());
        assert!(parse(&t, Some("utf8mb4"), "a🙂").is_err());
    }

    #[test]
    fn json_hex_bit_enum_set_uuid_inet() {
        assert!(parse(&Kind::Json, None, "{\"a\": [1, 2]}").is_ok());
        assert!(parse(&Kind::Json, None, "{a: 1}")
            .unwrap_err()
            .contains("JSON"));
        let b = Kind::Binary { max_bytes: 2 };
        assert_eq!(parse(&b, None, "0x00ff"), Ok(Value::Bytes(vec![0, 255])));
        assert!(parse(&b, None, "0x001122").is_err());
        assert!(parse(&b, None, "abc").is_err());
        assert!(parse(&b, None, "0xabc").is_err());
        let bit = Kind::Bit { width: 4 };
        assert_eq!(parse(&bit, None, "b'1010'"), Ok(Value::UInt(10)));
        assert_eq!(parse(&bit, None, "0b0111"), Ok(Value::UInt(7)));
        assert_eq!(parse(&bit, None, "0xf"), Ok(Value::UInt(15)));
        assert!(parse(&bit, None, "16").is_err());
        let e = Kind::Enum(vec!["red".into(), "it's".into()]);
        assert!(parse(&e, None, "it's").is_ok());
        assert!(parse(&e, None, "blue").is_err());
        let s = Kind::Set(vec!["a".into(), "b".into()]);
        assert!(parse(&s, None, "a,b").is_ok());
        assert!(parse(&s, None, "a,c").is_err());
        assert_eq!(
            parse(&Kind::Uuid, None, "123E4567E89B12D3A456426614174000"),
            Ok(Value::Bytes(
                b"123e4567-e89b-12d3-a456-426614174000".to_vec()
            ))
        );
        assert!(parse(&Kind::Uuid, None, "123e4567-e89b-12d3-a456").is_err());
        assert!(parse(&Kind::Inet6, None, "2001:db8::1").is_ok());
        assert_eq!(
            parse(&Kind::Inet6, None, "192.0.2.1"),
            Ok(Value::Bytes(b"::ffff:192.0.2.1".to_vec()))
        );
        assert!(parse(&Kind::Inet4, None, "300.1.1.1").is_err());
    }
}
