//! Plain-text output: aligned tables, byte sizes, durations and the hub's timestamps.
//!
//! Output is plain text without colour so that it reads the same in a terminal, a pipe, a mail
//! from cron and a test's assertion.

use std::time::{Duration, SystemTime};

/// How a column is aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A table of text cells with a header row, laid out with two spaces between columns.
#[derive(Debug, Clone)]
pub struct Table {
    headers: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[(&'static str, Align)]) -> Self {
        Self {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are empty.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The laid-out text, one line per row after the header and a rule; no trailing spaces.
    pub fn render(&self) -> String {
        let n = self.headers.len();
        let width = |s: &str| s.chars().count();
        let mut widths: Vec<usize> = self.headers.iter().map(|(h, _)| width(h)).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                widths[i] = widths[i].max(width(c));
            }
        }
        let line = |cells: Vec<&str>| {
            let mut out = String::new();
            for (i, c) in cells.iter().enumerate() {
                if i > 0 {
                    out.push_str("  ");
                }
                let pad = widths[i].saturating_sub(width(c));
                match self.headers[i].1 {
                    Align::Left => {
                        out.push_str(c);
                        out.extend(std::iter::repeat_n(' ', pad));
                    }
                    Align::Right => {
                        out.extend(std::iter::repeat_n(' ', pad));
                        out.push_str(c);
                    }
                }
            }
            out.trim_end().to_owned()
        };
        let mut out = line(self.headers.iter().map(|(h, _)| *h).collect());
        out.push('\n');
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        out.push_str(&line(rule.iter().map(String::as_str).collect()));
        out.push('\n');
        for r in &self.rows {
            let cells: Vec<&str> = (0..n)
                .map(|i| r.get(i).map(String::as_str).unwrap_or(""))
                .collect();
            out.push_str(&line(cells));
            out.push('\n');
        }
        out
    }
}

/// `1.5 MiB`, `812 B`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// A short duration: `45s`, `12m05s`, `3h02m`, `4d07h`.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86400, (s % 86400) / 3600),
    }
}

/// Seconds since the epoch of an RFC 3339 UTC time as the hub writes it
/// (`2024-01-31T12:00:00.123Z`); `None` for anything else.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || !s.ends_with('Z') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let millis = match s.get(19..s.len() - 1) {
        Some("") => 0,
        Some(frac) if frac.starts_with('.') && frac.len() > 1 => {
            let digits = &frac[1..frac.len().min(4)];
            digits.parse::<u64>().ok()? * 10u64.pow(3 - digits.len() as u32)
        }
        _ => return None,
    };
    let t = replicator::apply::values::epoch_from_utc(y, m, d, h, mi, sec)?;
    Some(t + Duration::from_millis(millis))
}

/// How long ago an RFC 3339 time was, by this machine's clock (zero if it is in the future).
pub fn ago(s: &str) -> Option<Duration> {
    let t = parse_rfc3339(s)?;
    Some(SystemTime::now().duration_since(t).unwrap_or_default())
}

/// `text` cut to `max` characters with an ellipsis.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let mut t = Table::new(&[("NODE", Align::Left), ("LAG", Align::Right)]);
        t.row(vec!["master".into(), "0".into()]);
        t.row(vec!["snap1".into(), "1234".into()]);
        assert_eq!(
            t.render(),
            "NODE     LAG\n------  ----\nmaster     0\nsnap1   1234\n"
        );
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(bytes(812), "812 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(5 << 20), "5.0 MiB");
        assert_eq!(duration(Duration::from_secs(45)), "45s");
        assert_eq!(duration(Duration::from_secs(725)), "12m05s");
        assert_eq!(duration(Duration::from_secs(3 * 3600 + 120)), "3h02m");
        assert_eq!(duration(Duration::from_secs(86400 * 4 + 7 * 3600)), "4d07h");
    }

    #[test]
    fn rfc3339_round_trips_with_the_hubs_format() {
        let t = parse_rfc3339("2020-01-01T00:00:00.123Z").unwrap();
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH).unwrap(),
            Duration::from_millis(1_577_836_800_123)
        );
        let t = parse_rfc3339("2024-02-29T23:59:59Z").unwrap();
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(),
            1_709_251_199
        );
        assert!(parse_rfc3339("yesterday").is_none());
        assert!(parse_rfc3339("2020-13-01T00:00:00Z").is_none());
    }

    #[test]
    fn truncate_counts_characters() {
        assert_eq!(truncate("héllo", 10), "héllo");
        assert_eq!(truncate("héllo wörld", 6), "héllo…");
    }
}
