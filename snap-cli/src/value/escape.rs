//! The few escapes a user can type, and how text is made safe to print.
//!
//! Typed text is stored **verbatim**: quotes, backslashes, `;`, `--`, emoji all go to the server
//! as bound parameter bytes. The only exceptions are what a terminal cannot type:
//! - `\0` anywhere is a NUL byte (terminals deliver Ctrl+Space/NUL as a key, not a character);
//! - the whole input `\N` is NULL and `\e` is the empty text (Enter alone means "the default").
//!
//! To type those sequences literally, double the backslash: `\\0` is the text `\0`, `\\N` the
//! text `\N`. Backslashes anywhere else are ordinary characters: `C:\dir` is `C:\dir`.
//! [`escape`] is the exact inverse of [`unescape`], so a stored value can be put back into an
//! input line for editing.
//!
//! Printing is the other direction: control characters from the database (or from the agent's
//! status) must never reach the terminal raw, where an ESC could rewrite the screen.
//! [`display_text`] shows them as `\0`, `\n`, `\x1b`, … instead.

/// Whole-input tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// `\N`.
    Null,
    /// `\e`.
    Empty,
    /// Anything else, unescaped.
    Text(String),
}

/// Interprets typed input: whole-input tokens first, then `\0` runs.
pub fn unescape(raw: &str) -> Token {
    match raw {
        "\\N" => return Token::Null,
        "\\e" => return Token::Empty,
        _ => {}
    }
    // `\\N` → `\N`, `\\\e` → `\\e`: one backslash fewer than typed.
    if let Some(last) = raw.chars().last() {
        let body = &raw[..raw.len() - last.len_utf8()];
        if (last == 'N' || last == 'e') && body.len() >= 2 && body.chars().all(|c| c == '\\') {
            return Token::Text(format!("{}{last}", &body[1..]));
        }
    }
    Token::Text(unescape_zero(raw))
}

/// Only the `\0` rule: a run of `k` backslashes before `0` becomes `k/2` backslashes, plus NUL
/// (the `0` consumed) when `k` is odd.
pub fn unescape_zero(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut run = 0usize;
    for c in raw.chars() {
        match c {
            '\\' => run += 1,
            '0' if run > 0 => {
                out.extend(std::iter::repeat_n('\\', run / 2));
                out.push(if run % 2 == 1 { '\0' } else { '0' });
                run = 0;
            }
            c => {
                out.extend(std::iter::repeat_n('\\', run));
                run = 0;
                out.push(c);
            }
        }
    }
    out.extend(std::iter::repeat_n('\\', run));
    out
}

/// What to type to get `text` back from [`unescape`].
pub fn escape(text: &str) -> String {
    // Whole-input tokens and their literal forms gain one backslash.
    if let Some(last) = text.chars().last() {
        let body = &text[..text.len() - last.len_utf8()];
        if (last == 'N' || last == 'e') && !body.is_empty() && body.chars().all(|c| c == '\\') {
            return format!("\\{text}");
        }
    }
    escape_zero(text)
}

/// Inverse of [`unescape_zero`].
pub fn escape_zero(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = 0usize;
    for c in text.chars() {
        match c {
            '\\' => run += 1,
            '0' => {
                out.extend(std::iter::repeat_n('\\', run * 2));
                run = 0;
                out.push('0');
            }
            '\0' => {
                out.extend(std::iter::repeat_n('\\', run * 2 + 1));
                run = 0;
                out.push('0');
            }
            c => {
                out.extend(std::iter::repeat_n('\\', run));
                run = 0;
                out.push(c);
            }
        }
    }
    out.extend(std::iter::repeat_n('\\', run));
    out
}

/// Whether `text` can be typed back on one input line (no control characters other than NUL).
pub fn typeable(text: &str) -> bool {
    !text.chars().any(|c| c != '\0' && is_unsafe(c))
}

/// Characters never printed raw: C0/C1 controls, DEL, and the bidirectional overrides that
/// can make text display in a different order than it is stored.
fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Text made safe for the terminal: NUL as `\0` (and a literal `\0` as `\\0`), other controls
/// as `\n`, `\t`, `\r` or `\x1b`/`\u{202e}`.
pub fn display_text(text: &str) -> String {
    let escaped = escape_zero(text);
    if !escaped.chars().any(is_unsafe) {
        return escaped;
    }
    let mut out = String::with_capacity(escaped.len() + 8);
    for c in escaped.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if is_unsafe(c) && (c as u32) < 0x100 => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if is_unsafe(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_zero_escape() {
        assert_eq!(unescape("\\N"), Token::Null);
        assert_eq!(unescape("\\e"), Token::Empty);
        assert_eq!(unescape("\\\\N"), Token::Text("\\N".into()));
        assert_eq!(unescape("a\\0b"), Token::Text("a\0b".into()));
        assert_eq!(unescape("a\\\\0b"), Token::Text("a\\0b".into()));
        assert_eq!(unescape("a\\\\\\0b"), Token::Text("a\\\0b".into()));
        // Backslashes elsewhere are verbatim, including at the end and before other digits.
        assert_eq!(unescape("C:\\dir\\1\\"), Token::Text("C:\\dir\\1\\".into()));
        assert_eq!(
            unescape("'; DROP TABLE x; --"),
            Token::Text("'; DROP TABLE x; --".into())
        );
        assert_eq!(unescape("N"), Token::Text("N".into()));
        assert_eq!(unescape(""), Token::Text(String::new()));
    }

    /// Every string over an alphabet of the characters that matter, up to length 6.
    fn all_strings(alphabet: &[char], max: usize) -> Vec<String> {
        let mut out = vec![String::new()];
        let mut layer = vec![String::new()];
        for _ in 0..max {
            let mut next = Vec::new();
            for s in &layer {
                for &c in alphabet {
                    let mut t = s.clone();
                    t.push(c);
                    next.push(t);
                }
            }
            out.extend(next.iter().cloned());
            layer = next;
        }
        out
    }

    #[test]
    fn escape_inverts_unescape_exhaustively() {
        for s in all_strings(&['\\', '0', '\0', 'N', 'e', 'é'], 6) {
            let typed = escape(&s);
            assert_eq!(
                unescape(&typed),
                Token::Text(s.clone()),
                "{s:?} escaped as {typed:?}"
            );
        }
    }

    #[test]
    fn display_never_prints_controls() {
        assert_eq!(display_text("a\0b"), "a\\0b");
        assert_eq!(display_text("a\\0b"), "a\\\\0b");
        assert_eq!(display_text("x\u{1b}[2Jy\n"), "x\\x1b[2Jy\\n");
        assert_eq!(display_text("\u{202e}abc"), "\\u{202e}abc");
        assert_eq!(display_text("🙂 ok"), "🙂 ok");
        assert!(typeable("a\0b") && !typeable("a\nb"));
    }
}
