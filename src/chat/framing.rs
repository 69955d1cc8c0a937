//! Framing a byte stream into chat messages.
//!
//! TCP carries a stream of bytes, not messages: one `send` may arrive as several `recv`s and several
//! `send`s as one. A chat message here is a line: the bytes up to a newline. Two exceptions keep
//! other peers working and memory bounded:
//!
//! - A peer that has never sent a newline (the blog's Python programs send raw text) has its bytes
//!   shown once they stop arriving for [`IDLE`]. Once a peer has sent a newline it is treated as a
//!   line-oriented peer and its lines are only cut at newlines, so a sender that stalls in the
//!   middle of a long line never has it cut in two.
//! - A line longer than [`MAX_LINE`] bytes is delivered in labelled parts of at most that size,
//!   cut at a UTF-8 character boundary where there is one near the limit.
//!
//! Pure: bytes in, messages out; the caller owns the clock.

use std::time::Duration;

/// The longest line delivered whole: 64 KiB.
pub const MAX_LINE: usize = 64 * 1024;

/// How long a newline-less peer must be quiet before its bytes are shown.
pub const IDLE: Duration = Duration::from_millis(200);

/// Why a message ended where it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// A newline (not included in the text).
    Newline,
    /// The peer stopped sending for a moment without a newline.
    Idle,
    /// The stream ended.
    Eof,
    /// The line reached [`MAX_LINE`]; more of it follows.
    Cut,
}

/// Which part of a long line a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// 1 for the first part.
    pub index: usize,
    /// Whether this part ends the line.
    pub last: bool,
}

/// One message taken out of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The text, without its newline; bytes as received (possibly not UTF-8).
    pub text: Vec<u8>,
    /// What ended it.
    pub ending: Ending,
    /// `Some` when the line was delivered in parts.
    pub part: Option<Part>,
}

impl Message {
    /// Whether this is the blog's `exit` (a trailing `\r` from a CRLF peer is ignored).
    #[must_use]
    pub fn is_exit(&self) -> bool {
        self.part.is_none() && matches!(self.text.as_slice(), b"exit" | b"exit\r")
    }
}

/// Splits a byte stream into [`Message`]s.
#[derive(Debug, Clone)]
pub struct LineFramer {
    buf: Vec<u8>,
    /// Parts already delivered of the line in `buf`.
    parts: usize,
    saw_newline: bool,
    max: usize,
}

impl Default for LineFramer {
    fn default() -> Self {
        LineFramer::new(MAX_LINE)
    }
}

impl LineFramer {
    /// A framer that cuts lines longer than `max` bytes (at least 4, so a character always fits).
    #[must_use]
    pub fn new(max: usize) -> LineFramer {
        LineFramer {
            buf: Vec::new(),
            parts: 0,
            saw_newline: false,
            max: max.max(4),
        }
    }

    /// Takes in bytes as they arrived, appending every complete message to `out`.
    pub fn push(&mut self, mut data: &[u8], out: &mut Vec<Message>) {
        while let Some(nl) = data.iter().position(|&b| b == b'\n') {
            self.saw_newline = true;
            let (line, rest) = data.split_at(nl);
            data = rest.get(1..).unwrap_or_default();
            if self.buf.is_empty() && self.parts == 0 && line.len() <= self.max {
                out.push(Message {
                    text: line.to_vec(),
                    ending: Ending::Newline,
                    part: None,
                });
                continue;
            }
            self.buf.extend_from_slice(line);
            self.cut_parts(out);
            out.push(self.take(Ending::Newline));
        }
        self.buf.extend_from_slice(data);
        self.cut_parts(out);
    }

    /// Bytes waiting for the end of their line.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Whether waiting bytes should be shown after [`IDLE`]: the peer has bytes waiting and has
    /// never sent a newline.
    #[must_use]
    pub fn wants_idle_flush(&self) -> bool {
        !self.saw_newline && !self.buf.is_empty()
    }

    /// Delivers the waiting bytes (the peer went quiet, or the stream ended).
    pub fn flush(&mut self, ending: Ending) -> Option<Message> {
        if self.buf.is_empty() {
            self.parts = 0;
            return None;
        }
        Some(self.take(ending))
    }

    fn take(&mut self, ending: Ending) -> Message {
        let text = std::mem::take(&mut self.buf);
        let part = (self.parts > 0).then_some(Part {
            index: self.parts + 1,
            last: true,
        });
        self.parts = 0;
        Message { text, ending, part }
    }

    /// Cuts parts off the front of `buf` while it holds more than one line may.
    fn cut_parts(&mut self, out: &mut Vec<Message>) {
        while self.buf.len() > self.max {
            let cut = utf8_cut(&self.buf, self.max);
            let rest = self.buf.split_off(cut);
            let text = std::mem::replace(&mut self.buf, rest);
            self.parts += 1;
            out.push(Message {
                text,
                ending: Ending::Cut,
                part: Some(Part {
                    index: self.parts,
                    last: false,
                }),
            });
        }
    }
}

/// Where to cut `b` at or before `max` without splitting a UTF-8 character: backs off over at most
/// three continuation bytes, else cuts at `max` (the bytes are not UTF-8 there anyway).
fn utf8_cut(b: &[u8], max: usize) -> usize {
    (max.saturating_sub(3)..=max)
        .rev()
        .find(|&i| b.get(i).is_some_and(|&x| x & 0xc0 != 0x80))
        .filter(|&i| i > 0)
        .unwrap_or(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(f: &mut LineFramer, data: &[u8]) -> Vec<Message> {
        let mut out = Vec::new();
        f.push(data, &mut out);
        out
    }

    fn line(s: &str) -> Message {
        Message {
            text: s.as_bytes().to_vec(),
            ending: Ending::Newline,
            part: None,
        }
    }

    #[test]
    fn splits_lines_and_joins_pieces() {
        let mut f = LineFramer::default();
        assert_eq!(frame(&mut f, b"hello\nwor"), vec![line("hello")]);
        assert_eq!(f.pending(), 3);
        assert_eq!(
            frame(&mut f, "ld\n\n你".as_bytes()),
            vec![line("world"), line("")]
        );
        assert_eq!(frame(&mut f, "好 👋\n".as_bytes()), vec![line("你好 👋")]);
        assert_eq!(f.pending(), 0);
    }

    #[test]
    fn one_byte_at_a_time_gives_the_same_messages() {
        let input = "a\nbc\n你好\n\nexit\n".as_bytes();
        let mut f = LineFramer::default();
        let mut out = Vec::new();
        for b in input {
            f.push(std::slice::from_ref(b), &mut out);
        }
        let texts: Vec<_> = out.iter().map(|m| m.text.clone()).collect();
        assert_eq!(
            texts,
            vec![
                b"a".to_vec(),
                b"bc".to_vec(),
                "你好".as_bytes().to_vec(),
                vec![],
                b"exit".to_vec()
            ]
        );
        assert!(out[4].is_exit());
    }

    #[test]
    fn newline_less_peer_is_flushed_when_idle_or_at_eof() {
        let mut f = LineFramer::default();
        assert!(frame(&mut f, b"hello").is_empty());
        assert!(f.wants_idle_flush());
        let m = f.flush(Ending::Idle).expect("bytes were waiting");
        assert_eq!(m.text, b"hello");
        assert_eq!(m.ending, Ending::Idle);
        assert!(m.part.is_none());
        assert!(!f.wants_idle_flush());
        assert!(f.flush(Ending::Idle).is_none());
        frame(&mut f, b"exit");
        let m = f.flush(Ending::Eof).expect("bytes were waiting");
        assert!(m.is_exit());
    }

    #[test]
    fn line_oriented_peer_is_not_cut_when_idle() {
        let mut f = LineFramer::default();
        frame(&mut f, b"first\nhalf a li");
        assert!(!f.wants_idle_flush());
        assert_eq!(frame(&mut f, b"ne\n"), vec![line("half a line")]);
    }

    #[test]
    fn exactly_max_is_whole_and_one_more_is_in_parts() {
        let mut f = LineFramer::new(8);
        assert_eq!(frame(&mut f, b"12345678\n"), vec![line("12345678")]);
        let out = frame(&mut f, b"123456789\n");
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].text, b"12345678");
        assert_eq!(
            out[0].part,
            Some(Part {
                index: 1,
                last: false
            })
        );
        assert_eq!(out[1].text, b"9");
        assert_eq!(
            out[1].part,
            Some(Part {
                index: 2,
                last: true
            })
        );
        assert_eq!(out[1].ending, Ending::Newline);
    }

    #[test]
    fn long_line_never_buffers_more_than_max() {
        let mut f = LineFramer::new(MAX_LINE);
        let chunk = vec![b'x'; 10_000];
        let mut out = Vec::new();
        for _ in 0..100 {
            f.push(&chunk, &mut out);
            assert!(f.pending() <= MAX_LINE);
        }
        f.push(b"\n", &mut out);
        let total: usize = out.iter().map(|m| m.text.len()).sum();
        assert_eq!(total, 1_000_000);
        assert_eq!(out.len(), 1_000_000usize.div_ceil(MAX_LINE));
        for (i, m) in out.iter().enumerate() {
            let p = m.part.expect("every piece is a part");
            assert_eq!(p.index, i + 1);
            assert_eq!(p.last, i + 1 == out.len());
        }
    }

    #[test]
    fn parts_are_cut_between_characters() {
        // 3-byte characters do not divide 8: cut before the character that would straddle.
        let mut f = LineFramer::new(8);
        let out = frame(&mut f, "你好世界\n".as_bytes());
        let texts: Vec<String> = out
            .iter()
            .map(|m| String::from_utf8(m.text.clone()).expect("cut at a boundary"))
            .collect();
        assert_eq!(texts, vec!["你好", "世界"]);
        // Not UTF-8 at all: cut at the limit.
        let mut f = LineFramer::new(4);
        let out = frame(&mut f, &[0x80; 9]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].text.len(), 4);
    }

    #[test]
    fn long_line_flushed_at_eof_is_its_last_part() {
        let mut f = LineFramer::new(4);
        let out = frame(&mut f, b"abcdef");
        assert_eq!(out.len(), 1);
        let m = f.flush(Ending::Eof).expect("bytes were waiting");
        assert_eq!(m.text, b"ef");
        assert_eq!(
            m.part,
            Some(Part {
                index: 2,
                last: true
            })
        );
    }

    #[test]
    fn exit_is_recognised_only_whole() {
        let mut f = LineFramer::default();
        let out = frame(&mut f, b"exit\r\nexit now\n exit\n");
        assert!(out[0].is_exit());
        assert!(!out[1].is_exit());
        assert!(!out[2].is_exit());
    }
}
