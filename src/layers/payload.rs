//! The application layer: the chat message as bytes.
//!
//! A chat message is UTF-8 text; on the wire it is just bytes, which TCP carries without looking at
//! them. Text shown to a user from anywhere outside (a peer, a capture) goes through [`escape`] so
//! that no control character or terminal escape sequence reaches the terminal.

use super::{Field, FieldSpec, Value};

/// The field table: the payload is one field.
pub const FIELDS: [FieldSpec; 1] = [FieldSpec {
    name: "Data",
    key: "data.data",
    bytes: 0..0,
    mask: None,
    meaning: "the application's bytes, opaque to TCP",
}];

/// The payload as one field at absolute offset `base`.
#[must_use]
pub fn fields(payload: &[u8], base: usize) -> Vec<Field> {
    let mut f = Field::from_spec(
        &FIELDS[0],
        base,
        Value::Bytes(payload.to_vec()),
        format!("\"{}\" ({} bytes)", escape_bytes(payload), payload.len()),
    );
    f.bytes.end = base + payload.len();
    vec![f]
}

/// Escapes text for a terminal: control characters (C0, DEL, C1), and the Unicode characters
/// that reorder or hide text (bidi overrides, zero-width) become visible escapes; `\` is doubled.
/// Printable text, Chinese and emoji included, is kept as it is.
#[must_use]
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || is_invisible_format(c) => {
                let v = u32::from(c);
                if v <= 0xff {
                    out.push_str(&format!("\\x{v:02x}"));
                } else {
                    out.push_str(&format!("\\u{{{v:04x}}}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Escapes bytes that may not be UTF-8: valid UTF-8 runs are escaped as text, each invalid byte
/// is shown as `\xNN`.
#[must_use]
pub fn escape_bytes(b: &[u8]) -> String {
    let mut out = String::new();
    for chunk in b.utf8_chunks() {
        out.push_str(&escape(chunk.valid()));
        for x in chunk.invalid() {
            out.push_str(&format!("\\x{x:02x}"));
        }
    }
    out
}

/// Format characters that change how text is shown without being visible themselves.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_sequences_but_keeps_text() {
        assert_eq!(escape("hello"), "hello");
        assert_eq!(escape("你好 👋"), "你好 👋");
        assert_eq!(escape("\x1b[31mred\x07"), "\\x1b[31mred\\x07");
        assert_eq!(escape("a\\b\n"), "a\\\\b\\n");
        assert_eq!(escape("\u{9b}2J"), "\\x9b2J");
        assert_eq!(escape("ab\u{202e}cd"), "ab\\u{202e}cd");
        assert_eq!(escape_bytes(b"ok\xff\xfe!"), "ok\\xff\\xfe!");
    }

    #[test]
    fn payload_field_spans_the_bytes() {
        let f = fields("你好".as_bytes(), 66);
        assert_eq!(f[0].bytes, 66..72);
        assert_eq!(f[0].display, "\"你好\" (6 bytes)");
    }
}
