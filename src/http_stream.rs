//! HTTP messages put back together from the TCP segments of a capture, one connection direction
//! at a time, as a decoder sees them: frames are handed in one by one, in capture order.
//!
//! TCP carries a byte stream; an HTTP request may arrive in two segments, a response's headers in
//! one and its body in the next. Each direction of each connection keeps the bytes of the message
//! it has not seen whole, in sequence order (a retransmission's bytes are taken once, a gap in the
//! capture cuts the message and says so). A message is given on the frame that completes it, with
//! the frames its bytes came from; the frames before say that they carry part of one. What is
//! left when the connection closes or the capture ends is given as a cut message.
//!
//! A connection is taken for HTTP when one of its ports is an HTTP port ([`HTTP_PORTS`]) or a
//! payload starts like an HTTP message (a method and a space, or `HTTP/1.`).

use std::collections::HashMap;
use std::net::IpAddr;

use crate::dissect::{Net, Sliced, Transport};
use crate::layers::http::{self, Message, Parsed};
use crate::layers::tcp::field::{FLG_FIN, FLG_RST, FLG_SYN};
use crate::layers::DecodeError;

/// The TCP ports dissected as HTTP whatever the payload, as Wireshark's defaults.
pub const HTTP_PORTS: [u16; 8] = [80, 591, 3128, 8000, 8008, 8080, 8088, 8888];

/// Most bytes kept for one message not yet whole: past this it is given as cut.
pub const MAX_MESSAGE: usize = 4 << 20;

/// Most connection directions followed at once; past this the oldest state is dropped (its
/// messages given as cut), so memory stays bounded on any capture.
const MAX_STREAMS: usize = 1 << 16;

/// One HTTP message, put together.
#[derive(Debug, Clone)]
pub struct Reassembled {
    /// The message. Its fields' byte ranges are offsets in the frame when the message came in one
    /// frame, else offsets in the message (the bytes of `frames`, put end to end).
    pub message: Message,
    /// The frames its bytes came from, in order.
    pub frames: Vec<u64>,
    /// Why the message is not whole, when it is not.
    pub cut: Option<String>,
}

impl Reassembled {
    /// Whether the message's bytes came from more than one frame (its offsets are then in the
    /// message, not in the frame).
    #[must_use]
    pub fn reassembled(&self) -> bool {
        self.frames.len() > 1
    }
}

/// What one frame holds of HTTP.
#[derive(Debug, Clone, Default)]
pub struct HttpFrame {
    /// The messages this frame completes (or cuts).
    pub messages: Vec<Reassembled>,
    /// This frame's bytes are part of a message not yet whole: bytes so far, and the total the
    /// headers announce when they are whole.
    pub pending: Option<(usize, Option<usize>)>,
    /// The bytes that should start a message are not HTTP.
    pub error: Option<DecodeError>,
}

impl HttpFrame {
    /// Whether the frame holds anything HTTP.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty() && self.pending.is_none() && self.error.is_none()
    }
}

/// The bytes one frame gave a stream: the frame, where they start in it, how many are left.
#[derive(Debug, Clone, Copy)]
struct Piece {
    frame: u64,
    at: usize,
    len: usize,
}

/// One direction of one connection.
#[derive(Debug, Default)]
struct Stream {
    /// The sequence number of the next byte expected.
    next: Option<u32>,
    /// The bytes of the message not yet whole.
    buf: Vec<u8>,
    /// Where they came from.
    pieces: Vec<Piece>,
    /// The last time (frame number) it was fed.
    last: u64,
}

type Key = (IpAddr, u16, IpAddr, u16);

/// The HTTP state of every connection of a capture.
#[derive(Debug, Default)]
pub struct HttpStreams {
    streams: HashMap<Key, Stream>,
    /// Connections (both directions' keys) taken for HTTP by their payload.
    http: std::collections::HashSet<Key>,
}

fn addrs(s: &Sliced<'_>) -> Option<(IpAddr, IpAddr)> {
    match &s.net {
        Net::Ipv4(p) => Some((p.source().into(), p.destination().into())),
        Net::Ipv6(p, _) => Some((p.source.into(), p.destination.into())),
        _ => None,
    }
}

impl HttpStreams {
    /// A new, empty state.
    #[must_use]
    pub fn new() -> HttpStreams {
        HttpStreams::default()
    }

    /// Feeds frame `number` (already sliced) and returns what it holds of HTTP.
    pub fn feed(&mut self, number: u64, s: &Sliced<'_>) -> HttpFrame {
        let mut out = HttpFrame::default();
        let (Transport::Tcp(t), Some((src, dst))) = (s.transport, addrs(s)) else {
            return out;
        };
        if s.fragment.is_some() {
            return out;
        }
        let key = (src, t.src_port(), dst, t.dst_port());
        let flags = t.flags();
        let payload = s.payload();
        let chosen = HTTP_PORTS.contains(&key.1)
            || HTTP_PORTS.contains(&key.3)
            || self.http.contains(&key)
            || (!payload.is_empty() && http::looks_like_http(payload));
        if !chosen {
            return out;
        }
        if !self.http.contains(&key) {
            self.http.insert(key);
            self.http.insert((key.2, key.3, key.0, key.1));
        }
        if self.streams.len() >= MAX_STREAMS && !self.streams.contains_key(&key) {
            self.evict(&mut out);
        }
        let st = self.streams.entry(key).or_default();
        st.last = number;
        let mut seq = t.seq();
        if flags & FLG_SYN != 0 {
            seq = seq.wrapping_add(1);
            st.next = Some(seq);
        }
        let mut data = payload;
        let mut at = s.payload.start;
        let next = *st.next.get_or_insert(seq);
        let ahead = seq.wrapping_sub(next) as i32;
        if ahead < 0 {
            // Bytes seen already (a retransmission): only what follows them is new.
            let seen = usize::try_from(-i64::from(ahead)).unwrap_or(usize::MAX);
            data = data.get(seen..).unwrap_or_default();
            at += seen.min(payload.len());
        } else if ahead > 0 && !data.is_empty() {
            if !st.buf.is_empty() {
                let why = format!("{ahead} bytes missing from the capture before frame {number}");
                out.messages.extend(cut(st, why, &mut out.error));
            }
            st.pieces.clear();
            st.buf.clear();
        }
        if !data.is_empty() {
            st.next = Some(
                st.next
                    .unwrap_or(seq)
                    .wrapping_add(ahead.max(0) as u32)
                    .wrapping_add(data.len() as u32),
            );
            if st.buf.is_empty() && !http::looks_like_http(data) && !self_port_http(&key) {
                // Not the start of a message (the rest of a body we did not see whole).
            } else {
                st.buf.extend_from_slice(data);
                st.pieces.push(Piece {
                    frame: number,
                    at,
                    len: data.len(),
                });
                drain(st, &mut out);
            }
        }
        if flags & (FLG_FIN | FLG_RST) != 0 {
            closed(st, flags, &mut out);
            self.streams.remove(&key);
        }
        out
    }

    /// What is left when the capture ends: each message not yet whole, cut.
    pub fn finish(&mut self) -> Vec<Reassembled> {
        let mut err = None;
        let mut out = Vec::new();
        let mut keys: Vec<Key> = self.streams.keys().copied().collect();
        keys.sort_by_key(|k| self.streams.get(k).map_or(0, |s| s.last));
        for k in keys {
            if let Some(mut st) = self.streams.remove(&k) {
                if !st.buf.is_empty() {
                    out.extend(cut(&mut st, "the capture ends".into(), &mut err));
                }
            }
        }
        out
    }

    fn evict(&mut self, out: &mut HttpFrame) {
        let oldest = self
            .streams
            .iter()
            .min_by_key(|(_, s)| s.last)
            .map(|(k, _)| *k);
        if let Some(mut st) = oldest.and_then(|k| self.streams.remove(&k)) {
            if !st.buf.is_empty() {
                let why = "too many connections followed at once".to_string();
                out.messages.extend(cut(&mut st, why, &mut out.error));
            }
        }
    }
}

/// The sender closed (FIN) or reset (RST) its direction: what it left is given, cut unless whole.
fn closed(st: &mut Stream, flags: u16, out: &mut HttpFrame) {
    if st.buf.is_empty() {
        return;
    }
    let why = if flags & FLG_RST != 0 {
        "the connection was reset (RST) before the message was whole"
    } else {
        "the sender closed the connection (FIN)"
    };
    out.messages.extend(cut(st, why.into(), &mut out.error));
    out.pending = None;
}

/// Whether a port of `key` is an HTTP port, so that bytes are kept even when they do not start
/// like a message.
fn self_port_http(key: &Key) -> bool {
    HTTP_PORTS.contains(&key.1) || HTTP_PORTS.contains(&key.3)
}

/// Takes the first `n` bytes of `st` off: the frames they came from, and the offset of the
/// message in the frame when it came from one frame only.
fn take(st: &mut Stream, n: usize) -> (Vec<u64>, Option<usize>) {
    let mut left = n;
    let mut frames = Vec::new();
    let mut first_at = None;
    for p in &mut st.pieces {
        if left == 0 {
            break;
        }
        let k = left.min(p.len);
        if k == 0 {
            continue;
        }
        if frames.is_empty() {
            first_at = Some(p.at);
        }
        frames.push(p.frame);
        p.at += k;
        p.len -= k;
        left -= k;
    }
    st.pieces.retain(|p| p.len > 0);
    st.buf.drain(..n.min(st.buf.len()));
    let single = (frames.len() == 1).then_some(first_at).flatten();
    (frames, single)
}

/// Gives every whole message at the front of `st`, and says whether bytes are left pending.
fn drain(st: &mut Stream, out: &mut HttpFrame) {
    loop {
        if st.buf.is_empty() {
            return;
        }
        match http::parse(&st.buf, 0) {
            Ok(Parsed::Complete(m)) => {
                let len = m.len.max(1);
                let (frames, single) = take(st, len);
                out.messages.push(placed(m, frames, single, None));
            }
            Ok(Parsed::Partial(need)) => {
                if st.buf.len() > MAX_MESSAGE {
                    let why = format!("longer than {MAX_MESSAGE} bytes: not reassembled further");
                    out.messages.extend(cut(st, why, &mut out.error));
                } else {
                    out.pending = Some((st.buf.len(), need));
                }
                return;
            }
            Err(e) => {
                out.error = Some(e);
                let n = st.buf.len();
                take(st, n);
                return;
            }
        }
    }
}

/// The message with its offsets rebased into the frame when it came from one frame.
fn placed(
    mut m: Message,
    frames: Vec<u64>,
    single: Option<usize>,
    cut: Option<String>,
) -> Reassembled {
    if let Some(base) = single {
        for f in &mut m.fields {
            f.bytes = f.bytes.start + base..f.bytes.end + base;
        }
    }
    Reassembled {
        message: m,
        frames,
        cut,
    }
}

/// The message at the front of `st`, cut for `why`; the buffer is emptied. `None` when its bytes
/// do not hold even a start line (the error, if they are not HTTP, goes to `err`).
fn cut(st: &mut Stream, why: String, err: &mut Option<DecodeError>) -> Option<Reassembled> {
    let n = st.buf.len();
    let parsed = http::parse_cut(&st.buf, 0);
    let (frames, single) = take(st, n);
    match parsed {
        Ok(Some(m)) => {
            let why = (!m.complete).then_some(why);
            Some(placed(m, frames, single, why))
        }
        Ok(None) => Some(Reassembled {
            message: Message {
                kind: http::Kind::Request,
                fields: Vec::new(),
                header_len: n,
                len: n,
                body_end: http::BodyEnd::Length(0),
                complete: false,
            },
            frames,
            cut: Some(format!("{why}: {n} bytes, not even a whole start line")),
        }),
        Err(e) => {
            *err = Some(e);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissect::slice;
    use crate::layers::http::key;
    use crate::pipeline::{encapsulate, Params};

    fn frame(seq: u32, flags: u16, payload: &[u8], src_port: u16, dst_port: u16) -> Vec<u8> {
        let mut p = Params::default();
        p.tcp.seq = seq;
        p.tcp.flags = flags;
        p.tcp.src_port = src_port;
        p.tcp.dst_port = dst_port;
        encapsulate(payload, &p).unwrap().frame().to_vec()
    }

    const REQ: &[u8] = b"GET /a HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

    #[test]
    fn request_in_one_frame_has_frame_offsets() {
        let mut h = HttpStreams::new();
        let f = frame(1, 0x18, REQ, 40000, 8000);
        let r = h.feed(1, &slice(&f));
        assert_eq!(r.messages.len(), 1);
        let m = &r.messages[0];
        assert!(!m.reassembled());
        let method = m.message.get(key::METHOD).unwrap();
        assert_eq!(&f[method.bytes.clone()], b"GET");
    }

    #[test]
    fn request_split_across_two_segments_is_reassembled() {
        let mut h = HttpStreams::new();
        let (a, b) = REQ.split_at(10);
        let f1 = frame(1, 0x18, a, 40000, 46000);
        let f2 = frame(11, 0x18, b, 40000, 46000);
        let r1 = h.feed(1, &slice(&f1));
        assert!(r1.messages.is_empty());
        assert_eq!(r1.pending, Some((10, None)));
        // A retransmission of the first part changes nothing.
        assert!(h.feed(2, &slice(&f1)).messages.is_empty());
        let r2 = h.feed(3, &slice(&f2));
        assert_eq!(r2.messages.len(), 1, "{r2:?}");
        let m = &r2.messages[0];
        assert_eq!(m.frames, [1, 3]);
        assert!(m.cut.is_none());
        assert_eq!(m.message.get(key::URI).unwrap().display, "/a");
        assert_eq!(m.message.get("http.host").unwrap().bytes, 23..32);
        assert!(h.finish().is_empty());
    }

    #[test]
    fn message_cut_by_fin_or_capture_end_says_so() {
        let mut h = HttpStreams::new();
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort";
        let f = frame(1, 0x18, resp, 8080, 40000);
        assert!(h.feed(1, &slice(&f)).pending.is_some());
        let fin = frame(1 + resp.len() as u32, 0x11, b"", 8080, 40000);
        let r = h.feed(2, &slice(&fin));
        assert_eq!(r.messages.len(), 1);
        let why = r.messages[0].cut.as_deref().unwrap();
        assert!(why.contains("FIN"), "{why}");
        let f = frame(1, 0x18, &REQ[..5], 40001, 8080);
        h.feed(3, &slice(&f));
        let left = h.finish();
        assert_eq!(left.len(), 1);
        assert!(left[0].cut.as_deref().unwrap().contains("capture ends"));
    }

    #[test]
    fn gap_cuts_the_message() {
        let mut h = HttpStreams::new();
        h.feed(1, &slice(&frame(1, 0x18, &REQ[..10], 40000, 8000)));
        let r = h.feed(2, &slice(&frame(100, 0x18, REQ, 40000, 8000)));
        assert_eq!(r.messages.len(), 2, "{r:?}");
        assert!(r.messages[0].cut.as_deref().unwrap().contains("missing"));
        assert!(r.messages[1].cut.is_none());
    }

    #[test]
    fn chat_payload_is_not_http() {
        let mut h = HttpStreams::new();
        assert!(h
            .feed(1, &slice(&frame(1, 0x18, b"hello\n", 40000, 6666)))
            .is_empty());
        let r = h.feed(2, &slice(&frame(1, 0x18, b"\x00\x01 not http", 40000, 80)));
        assert!(r.error.is_some());
    }
}
