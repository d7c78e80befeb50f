//! Text that someone else chose, made safe to print.
//!
//! Claims (names, tags, capability ids, versions), guest error messages and guest log lines
//! are written by whoever built or signed a module. Printed raw, a control sequence in them
//! can clear a terminal, forge a line of output (`\r`, `\n`), set the window title or write
//! the clipboard (OSC 52). [`escape_controls`] and [`Escaped`] replace every C0 control
//! character, DEL and every C1 control character with a visible escape (`\n`, `\t`, `\r`,
//! `\e`, `\u{9b}` …), and leave all other text — including non-ASCII letters — unchanged.

use std::borrow::Cow;
use std::fmt;

/// Whether `c` is a control character a terminal may act on: C0 (U+0000–U+001F), DEL
/// (U+007F) or C1 (U+0080–U+009F).
pub fn is_control(c: char) -> bool {
    c.is_control()
}

/// `text` with every control character escaped; borrowed when there is none.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if text.chars().any(is_control) {
        Cow::Owned(Escaped(text).to_string())
    } else {
        Cow::Borrowed(text)
    }
}

/// Displays the wrapped text with its control characters escaped (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(is_control) {
            f.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            match c {
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                '\u{1b}' => f.write_str("\\e")?,
                other => write!(f, "\\u{{{:x}}}", u32::from(other))?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    //! Tests for escaping control characters.

    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        assert!(matches!(
            escape_controls("echo 1.2.3 ü ✓"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn c0_del_and_c1_are_escaped() {
        assert_eq!(
            escape_controls("a\nb\rc\td\u{1b}]52;c;SGVsbG8=\u{7}e\u{7f}f\u{9b}2Jg"),
            "a\\nb\\rc\\td\\e]52;c;SGVsbG8=\\u{7}e\\u{7f}f\\u{9b}2Jg"
        );
        assert_eq!(Escaped("\u{0}").to_string(), "\\u{0}");
    }

    #[test]
    fn nothing_escaped_is_a_control_character_any_more() {
        let all: String = (0u32..0x200).filter_map(char::from_u32).collect();
        assert!(!escape_controls(&all).chars().any(is_control));
    }
}
