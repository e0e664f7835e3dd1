//! Rows as readable text: aligned tables, or one record per block when a table is too wide.
//!
//! Widths are measured in terminal columns (an emoji takes two), cells are cut to a maximum
//! width with `…`, and numbers are right-aligned. Cells arrive already terminal-safe
//! ([`crate::value::show::display`]); this module only lays them out.

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Widest a cell gets in table layout.
const MAX_CELL: usize = 40;
/// Narrowest a column is squeezed to before switching to record layout.
const MIN_CELL: usize = 8;

/// Terminal columns of `s`.
pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// `s` cut to at most `max` columns, ending in `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > max {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

fn pad(s: &str, w: usize, right: bool) -> String {
    let fill = " ".repeat(w.saturating_sub(width(s)));
    if right {
        format!("{fill}{s}")
    } else {
        format!("{s}{fill}")
    }
}

/// Whether `columns` columns surely fit side by side in `term_width` (at the narrowest
/// squeeze); if not, rows are laid out as records, one line per column.
pub fn fits_as_table(columns: usize, term_width: usize) -> bool {
    columns * (MIN_CELL + 3) + 2 <= term_width
}

/// A table of `rows` under `headers`, fitting `term_width` columns; falls back to one block per
/// row ("record layout") when even squeezed columns do not fit.
pub fn table(
    headers: &[String],
    right: &[bool],
    rows: &[Vec<String>],
    term_width: usize,
) -> String {
    if headers.is_empty() {
        return String::new();
    }
    let mut widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            rows.iter()
                .map(|r| width(&r[i]))
                .chain([width(h)])
                .max()
                .unwrap_or(0)
                .min(MAX_CELL)
        })
        .collect();
    // The rule line is the widest: one column of margin each side, three between columns.
    let total = |w: &[usize]| w.iter().sum::<usize>() + 3 * w.len().saturating_sub(1) + 2;
    // Squeeze the widest column until it fits or every column is at the minimum.
    while total(&widths) > term_width {
        let (i, &w) = widths
            .iter()
            .enumerate()
            .max_by_key(|(_, w)| **w)
            .expect("headers is not empty");
        if w <= MIN_CELL {
            return records(headers, rows, term_width);
        }
        widths[i] = w - 1;
    }
    let line = |cells: &[String], align: bool| -> String {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| pad(&truncate(c, widths[i]), widths[i], align && right[i]))
            .collect();
        format!(" {}", parts.join(" │ ")).trim_end().to_owned()
    };
    let mut out = String::new();
    out.push_str(&line(headers, false));
    out.push('\n');
    let rule: Vec<String> = widths.iter().map(|w| "─".repeat(*w)).collect();
    out.push_str(&format!("─{}─", rule.join("─┼─")));
    out.push('\n');
    for r in rows {
        out.push_str(&line(r, true));
        out.push('\n');
    }
    out
}

/// One block per row: `name │ value` lines under a `── row N ──` rule.
pub fn records(headers: &[String], rows: &[Vec<String>], term_width: usize) -> String {
    let name_w = headers
        .iter()
        .map(|h| width(h))
        .max()
        .unwrap_or(0)
        .min(MAX_CELL);
    let value_w = term_width.saturating_sub(name_w + 4).max(MIN_CELL);
    let mut out = String::new();
    for (n, r) in rows.iter().enumerate() {
        let title = format!("── row {} ", n + 1);
        out.push_str(&title);
        out.push_str(&"─".repeat(term_width.saturating_sub(width(&title)).min(40)));
        out.push('\n');
        for (h, v) in headers.iter().zip(r) {
            out.push_str(&format!(
                " {} │ {}\n",
                pad(&truncate(h, name_w), name_w, false),
                truncate(v, value_w)
            ));
        }
    }
    out
}

/// `id=1 · name=Ann · …` on one line of at most `max` columns (for choosing a row).
pub fn summary(headers: &[String], row: &[String], max: usize) -> String {
    let parts: Vec<String> = headers
        .iter()
        .zip(row)
        .map(|(h, v)| format!("{h}={}", truncate(v, 30)))
        .collect();
    truncate(&parts.join(" · "), max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn aligned_table_with_wide_characters() {
        let out = table(
            &s(&["id", "name"]),
            &[true, false],
            &[s(&["1", "Ann"]), s(&["10", "🙂🙂"])],
            80,
        );
        assert_eq!(out, " id │ name\n────┼──────\n  1 │ Ann\n 10 │ 🙂🙂\n");
    }

    #[test]
    fn long_cells_are_cut_and_wide_tables_become_records() {
        let long = "x".repeat(100);
        let out = table(&s(&["a"]), &[false], &[vec![long.clone()]], 80);
        assert!(out.lines().nth(2).unwrap().ends_with('…'));
        assert_eq!(width(out.lines().nth(2).unwrap()), MAX_CELL + 1);
        let headers: Vec<String> = (0..20).map(|i| format!("column{i}")).collect();
        let row: Vec<String> = (0..20).map(|i| format!("value{i}")).collect();
        let out = table(&headers, &[false; 20], &[row], 80);
        assert!(out.starts_with("── row 1 "), "{out}");
        assert!(out.contains(" column7  │ value7\n"), "{out}");
    }

    #[test]
    fn truncate_respects_display_width() {
        assert_eq!(truncate("🙂🙂🙂", 4), "🙂…");
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(
            summary(&s(&["id", "n"]), &s(&["1", "Ann"]), 80),
            "id=1 · n=Ann"
        );
    }
}
