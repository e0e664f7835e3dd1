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

/// A row image as a JSON object keyed by column name.
pub fn image_json(columns: &[crate::model::ColumnMeta], image: &[Value]) -> serde_json::Value {
    serde_json::Value::Object(
        columns
            .iter()
            .zip(image)
            .map(|(c, v)| (c.name.clone(), to_json(v)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_conversion() {
        assert_eq!(utc_from_epoch(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(utc_from_epoch(1_577_836_800), (2020, 1, 1, 0, 0, 0));
        assert_eq!(utc_from_epoch(2_147_483_647), (2038, 1, 19, 3, 14, 7));
        assert_eq!(utc_from_epoch(951_782_400), (2000, 2, 29, 0, 0, 0));
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
