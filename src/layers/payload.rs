//! The application layer: the chat message as bytes.
//!
//! A chat message is UTF-8 text; on the wire it is just bytes, which TCP carries without looking at
//! them. Text shown to a user from anywhere outside (a peer, a capture) goes through [`escape`] so
//! that no control character or terminal escape sequence reaches the terminal.

use super::{Field, FieldSpec, Layer, RawField, RawValue, Value};

/// Wireshark's display-filter names of this layer's fields: the keys of its field table, which
/// the model's verdict rules and the renderers name instead of spelling the strings.
pub mod key {
    /// `data.data`.
    pub const DATA: &str = "data.data";
}

/// The field table: the payload is one field.
pub const FIELDS: [FieldSpec; 1] = [FieldSpec {
    name: "Data",
    key: key::DATA,
    bytes: 0..0,
    mask: None,
    meaning: "the application's bytes, opaque to TCP",
}];

/// [`fields`]' key, bytes and value without the display (see [`RawField`]).
pub fn raw_fields<'a>(payload: &'a [u8], base: usize, out: &mut Vec<RawField<'a>>) {
    out.push(RawField {
        layer: Layer::Application,
        key: FIELDS[0].key,
        bytes: base..base + payload.len(),
        value: RawValue::Bytes(payload),
    });
}

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
/// that reorder, hide or break text (bidi overrides, zero-width, the line and paragraph
/// separators U+2028 and U+2029) become visible escapes; `\` is doubled. A character below
/// U+0080 is written `\xNN`, any other `\u{NNNN}`, so the character U+009B (`\u{009b}`) never
/// looks like the byte 0x9B that is not UTF-8 (`\x9b`, from [`escape_bytes`]). Printable text,
/// Chinese and emoji included, is kept as it is.
#[must_use]
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_str_into(&mut out, s);
    out
}

/// [`escape`], appending to `out`. Runs of printable text are copied whole; only the characters
/// that need it are looked at one by one.
pub fn escape_str_into(out: &mut String, s: &str) {
    use std::fmt::Write;
    let bytes = s.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        let b = bytes[i];
        if (0x20..0x7f).contains(&b) && b != b'\\' {
            i += 1;
            continue;
        }
        let Some(c) = s[i..].chars().next() else {
            break;
        };
        let special = match c {
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            _ => None,
        };
        let escaped = special.is_some() || c.is_control() || is_invisible_format(c);
        if escaped {
            out.push_str(&s[start..i]);
            if let Some(e) = special {
                out.push_str(e);
            } else {
                let v = u32::from(c);
                // Writing into a String cannot fail.
                let _ = if v < 0x80 {
                    write!(out, "\\x{v:02x}")
                } else {
                    write!(out, "\\u{{{v:04x}}}")
                };
            }
            start = i + c.len_utf8();
        }
        i += c.len_utf8();
    }
    out.push_str(&s[start..]);
}

/// Escapes bytes that may not be UTF-8: valid UTF-8 runs are escaped as text, each invalid byte
/// is shown as `\xNN`.
#[must_use]
pub fn escape_bytes(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    escape_into(&mut out, b);
    out
}

/// [`escape_bytes`], appending to `out`.
pub fn escape_into(out: &mut String, b: &[u8]) {
    for chunk in b.utf8_chunks() {
        escape_str_into(out, chunk.valid());
        for x in chunk.invalid() {
            out.push_str(&format!("\\x{x:02x}"));
        }
    }
}

/// Format characters that change how text is shown without being visible themselves.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
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
        assert_eq!(escape("ab\u{202e}cd"), "ab\\u{202e}cd");
        assert_eq!(escape_bytes(b"ok\xff\xfe!"), "ok\\xff\\xfe!");
    }

    #[test]
    fn line_and_paragraph_separators_are_escaped() {
        // Both break a terminal line as a newline would, so a peer could fake a line of output.
        assert_eq!(escape("a\u{2028}b\u{2029}c"), "a\\u{2028}b\\u{2029}c");
    }

    #[test]
    fn the_character_u009b_and_the_byte_0x9b_differ() {
        // U+009B (CSI as a character, 2 bytes in UTF-8) and the lone byte 0x9B (not UTF-8) are
        // different bytes on the wire: they must not print the same.
        assert_eq!(escape("\u{9b}2J"), "\\u{009b}2J");
        assert_eq!(escape_bytes(b"\x9b2J"), "\\x9b2J");
        assert_eq!(escape_bytes("\u{9b}".as_bytes()), "\\u{009b}");
        assert_eq!(escape("\u{85}"), "\\u{0085}");
        assert_eq!(escape("\x7f"), "\\x7f");
    }

    #[test]
    fn payload_field_spans_the_bytes() {
        let f = fields("你好".as_bytes(), 66);
        assert_eq!(f[0].bytes, 66..72);
        assert_eq!(f[0].display, "\"你好\" (6 bytes)");
    }
}
