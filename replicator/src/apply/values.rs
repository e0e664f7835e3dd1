//! Model values as statement parameters, and as JSON for humans (conflict log).
//!
//! Parameters are bound in the binary protocol, so nothing is escaped and nothing is lost:
//! DECIMAL goes as its text, ENUM and SET as their index and bitmask (what the origin stored),
//! TIMESTAMP as a UTC calendar time (the applier's session runs with `time_zone='+00:00'`),
//! strings and blobs as bytes (the session's `character_set_client` is `binary`).

use mysql_async::Value as P;

use crate::model::Value;

/// The parameter for one value.
pub fn param(v: &Value) -> P {
    match v {
        Value::Null => P::NULL,
        Value::Int(i) => P::Int(*i),
        Value::UInt(u) => P::UInt(*u),
        Value::Float(f) => P::Float(*f),
        Value::Double(d) => P::Double(*d),
        Value::Decimal(s) => P::Bytes(s.as_bytes().to_vec()),
        Value::Bytes(b) => P::Bytes(b.to_vec()),
        Value::Date(d) => P::Date(d.y, d.m, d.d, 0, 0, 0, 0),
        Value::DateTime(d) => P::Date(d.y, d.m, d.d, d.h, d.mi, d.s, d.us),
        Value::Time(t) => P::Time(t.neg, t.h / 24, (t.h % 24) as u8, t.mi, t.s, t.us),
        Value::Timestamp { s, us } => {
            if *s == 0 && *us == 0 {
                P::Date(0, 0, 0, 0, 0, 0, 0)
            } else {
                let (y, m, d, hh, mi, ss) = utc_from_epoch(*s as i64);
                P::Date(y, m, d, hh, mi, ss, *us)
            }
        }
        Value::Year(y) => P::UInt(*y as u64),
        Value::Bit(b) => P::UInt(*b),
        Value::Enum(i) => P::UInt(*i as u64),
        Value::Set(m) => P::UInt(*m),
    }
}

/// The parameters for the columns `idx` of a row image, in order.
pub fn params(image: &[Value], idx: &[usize]) -> Vec<P> {
    idx.iter().map(|&i| param(&image[i])).collect()
}

/// Appends `v` as an SQL literal that means exactly what [`param`] binds (the session runs with
/// `SET NAMES binary` and `time_zone='+00:00'`): strings and blobs as hex, DECIMAL as its text,
/// floats in their shortest exact form, temporal values as quoted text, ENUM/SET/BIT/YEAR as
/// their numbers.
pub fn literal(v: &Value, out: &mut String) {
    use std::fmt::Write;
    match v {
        Value::Null => out.push_str("NULL"),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::UInt(u) | Value::Bit(u) | Value::Set(u) => {
            let _ = write!(out, "{u}");
        }
        Value::Enum(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Year(y) => {
            let _ = write!(out, "{y}");
        }
        // `{:e}` of a float is its shortest representation that reads back to the same value.
        Value::Float(f) if f.is_finite() => {
            let _ = write!(out, "{:e}", *f as f64);
            // An f32 widened to f64 is exact; the server rounds it back to the same FLOAT.
        }
        Value::Double(d) if d.is_finite() => {
            let _ = write!(out, "{d:e}");
        }
        Value::Float(_) | Value::Double(_) => out.push_str("NULL"),
        Value::Decimal(s) => {
            // Digits, sign and point only (it came from the binlog decoder).
            out.push_str(s);
        }
        Value::Bytes(b) => {
            if b.is_empty() {
                out.push_str("''");
            } else {
                out.push_str("X'");
                out.push_str(&hex::encode(b));
                out.push('\'');
            }
        }
        Value::Date(_) | Value::DateTime(_) | Value::Time(_) | Value::Timestamp { .. } => {
            let text = match v {
                Value::Timestamp { s: 0, us: 0 } => "0000-00-00 00:00:00".to_string(),
                Value::Timestamp { s, us } => {
                    let (y, m, d, hh, mi, ss) = utc_from_epoch(*s as i64);
                    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mi:02}:{ss:02}.{us:06}")
                }
                Value::DateTime(d) => format!(
                    "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}",
                    d.y, d.m, d.d, d.h, d.mi, d.s, d.us
                ),
                Value::Time(t) => format!(
                    "{}{:02}:{:02}:{:02}.{:06}",
                    if t.neg { "-" } else { "" },
                    t.h,
                    t.mi,
                    t.s,
                    t.us
                ),
                other => other.to_string(),
            };
            out.push('\'');
            out.push_str(&text);
            out.push('\'');
        }
    }
}

/// Seconds since the epoch to a UTC calendar time (Howard Hinnant's civil_from_days).
pub fn utc_from_epoch(secs: i64) -> (u16, u8, u8, u8, u8, u8) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (
        y as u16,
        m as u8,
        d as u8,
        (rem / 3600) as u8,
        (rem / 60 % 60) as u8,
        (rem % 60) as u8,
    )
}

/// The instant of a UTC civil time (Howard Hinnant's days-from-civil); `None` before 1970 or
/// out of range.
pub fn epoch_from_utc(
    y: i64,
    m: i64,
    d: i64,
    h: i64,
    mi: i64,
    s: i64,
) -> Option<std::time::SystemTime> {
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days * 86_400 + h * 3600 + mi * 60 + s).ok()?;
    Some(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

/// A value as JSON for the conflict log and status output: numbers stay numbers where exact,
/// text stays text, binary becomes `"0x…"`.
pub fn to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Null => J::Null,
        Value::Int(i) => J::from(*i),
        Value::UInt(u) => J::from(*u),
        Value::Float(f) => J::from(*f as f64),
        Value::Double(d) => J::from(*d),
        Value::Year(y) => J::from(*y),
        Value::Enum(i) => J::from(*i),
        Value::Set(m) | Value::Bit(m) => J::from(*m),
        Value::Bytes(b) => match std::str::from_utf8(b) {
            Ok(s) => J::from(s),
            Err(_) => J::from(format!("0x{}", hex::encode(b))),
        },
        other => J::from(other.to_string()),
    }
}

/// A column's value as JSON for people (the conflict log): an ENUM or SET by its labels when
/// the origin logged them, as the master's own `JSON_OBJECT` shows them.
pub fn column_json(col: &crate::model::ColumnMeta, v: &Value) -> serde_json::Value {
    let label = |i: u64| col.labels.get((i as usize).wrapping_sub(1)).cloned();
    match v {
        Value::Enum(0) if !col.labels.is_empty() => serde_json::Value::from(""),
        Value::Enum(i) => label(u64::from(*i)).map_or_else(|| to_json(v), serde_json::Value::from),
        Value::Set(m) if !col.labels.is_empty() && *m >> col.labels.len().min(63) == 0 => {
            let on: Vec<&str> = (0..col.labels.len())
                .filter(|b| m >> b & 1 == 1)
                .map(|b| col.labels[b].as_str())
                .collect();
            serde_json::Value::from(on.join(","))
        }
        _ => to_json(v),
    }
}

/// A row image as a JSON object keyed by column name.
pub fn image_json(columns: &[crate::model::ColumnMeta], image: &[Value]) -> serde_json::Value {
    serde_json::Value::Object(
        columns
            .iter()
            .zip(image)
            .map(|(c, v)| (c.name.clone(), column_json(c, v)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_and_sets_read_as_their_labels() {
        let col = |labels: &[&str]| crate::model::ColumnMeta {
            name: "e".into(),
            ty: crate::model::coltype::ENUM,
            meta: 0,
            unsigned: false,
            charset: 45,
            nullable: true,
            labels: labels.iter().map(|l| l.to_string()).collect(),
        };
        let abc = col(&["a", "b", "c"]);
        assert_eq!(column_json(&abc, &Value::Enum(3)), "c");
        assert_eq!(column_json(&abc, &Value::Enum(0)), "");
        assert_eq!(column_json(&abc, &Value::Set(0b101)), "a,c");
        assert_eq!(column_json(&abc, &Value::Set(0)), "");
        // Out of range, or no labels logged: the number.
        assert_eq!(column_json(&abc, &Value::Enum(4)), 4);
        assert_eq!(column_json(&abc, &Value::Set(0b1000)), 8);
        assert_eq!(column_json(&col(&[]), &Value::Enum(2)), 2);
        assert_eq!(column_json(&abc, &Value::Null), serde_json::Value::Null);
    }

    #[test]
    fn epoch_conversion() {
        assert_eq!(utc_from_epoch(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(utc_from_epoch(1_577_836_800), (2020, 1, 1, 0, 0, 0));
        assert_eq!(utc_from_epoch(2_147_483_647), (2038, 1, 19, 3, 14, 7));
        assert_eq!(utc_from_epoch(951_782_400), (2000, 2, 29, 0, 0, 0));
    }

    #[test]
    fn epoch_from_utc_is_the_inverse() {
        for secs in [
            0i64,
            951_782_400,
            1_577_836_800,
            2_147_483_647,
            4_102_444_799,
        ] {
            let (y, m, d, h, mi, s) = utc_from_epoch(secs);
            let t = epoch_from_utc(y.into(), m.into(), d.into(), h.into(), mi.into(), s.into())
                .unwrap();
            let back = t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
            assert_eq!(back, secs as u64, "{secs}");
        }
        assert_eq!(epoch_from_utc(1969, 12, 31, 0, 0, 0), None);
        assert_eq!(epoch_from_utc(2020, 13, 1, 0, 0, 0), None);
    }

    #[test]
    fn literals_are_exact() {
        let lit = |v: Value| {
            let mut s = String::new();
            literal(&v, &mut s);
            s
        };
        assert_eq!(
            lit(Value::Bytes(bytes::Bytes::from_static(b"a'\\\0"))),
            "X'61275c00'"
        );
        assert_eq!(lit(Value::Bytes(bytes::Bytes::new())), "''");
        assert_eq!(lit(Value::Double(0.1)), "1e-1");
        assert_eq!(
            lit(Value::Double(-1.7976931348623157e308)),
            "-1.7976931348623157e308"
        );
        assert_eq!(lit(Value::Float(0.1)), "1.0000000149011612e-1");
        assert_eq!(lit(Value::Int(i64::MIN)), "-9223372036854775808");
        assert_eq!(
            lit(Value::Timestamp { s: 1, us: 5 }),
            "'1970-01-01 00:00:01.000005'"
        );
        assert_eq!(
            lit(Value::Time(crate::model::Time {
                neg: true,
                h: 838,
                mi: 59,
                s: 59,
                us: 0
            })),
            "'-838:59:59.000000'"
        );
    }

    #[test]
    fn time_over_a_day() {
        let t = crate::model::Time {
            neg: true,
            h: 838,
            mi: 59,
            s: 59,
            us: 1,
        };
        assert_eq!(param(&Value::Time(t)), P::Time(true, 34, 22, 59, 59, 1));
    }
}
