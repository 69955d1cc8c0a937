//! TCP (RFC 9293), with the options of RFC 9293 (EOL, NOP, MSS), RFC 7323 (window scale,
//! timestamps) and RFC 2018 (SACK-permitted, SACK).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Source Port          |       Destination Port        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                        Sequence Number                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Acknowledgment Number                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Data |       |C|E|U|A|P|R|S|F|                               |
//! | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//! |       |       |R|E|G|K|H|T|N|N|                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Checksum            |         Urgent Pointer        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           [Options]                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The checksum covers a pseudo-header (source and destination address, zero, protocol 6, TCP
//! length), the header and the payload. On a device with checksum offload, such as Linux's `lo`,
//! the kernel writes only the folded pseudo-header sum and the device (or nobody) finishes it:
//! this module calls such a checksum *partial*.

use std::fmt;
use std::net::Ipv4Addr;
use std::ops::Range;

use super::{
    be16, be32, first_cut, need, table_raw, DecodeError, Field, FieldSpec, Layer, RawField,
    RawValue, Value,
};
use crate::checksum;

/// Byte ranges of the header fields, relative to the start of the header.
pub mod field {
    use std::ops::Range;
    /// Source port.
    pub const SRC_PORT: Range<usize> = 0..2;
    /// Destination port.
    pub const DST_PORT: Range<usize> = 2..4;
    /// Sequence number.
    pub const SEQ_NUM: Range<usize> = 4..8;
    /// Acknowledgment number.
    pub const ACK_NUM: Range<usize> = 8..12;
    /// Data offset (4 bits), reserved (3 bits), AE (1 bit) and the eight flags.
    pub const FLAGS: Range<usize> = 12..14;
    /// Receive window.
    pub const WIN_SIZE: Range<usize> = 14..16;
    /// Checksum.
    pub const CHECKSUM: Range<usize> = 16..18;
    /// Urgent pointer.
    pub const URGENT: Range<usize> = 18..20;
    /// Length of the header without options.
    pub const HEADER_LEN: usize = URGENT.end;
    /// Longest header (data offset 15).
    pub const MAX_HEADER_LEN: usize = 60;

    /// FIN: no more data from the sender.
    pub const FLG_FIN: u16 = 0x001;
    /// SYN: synchronize sequence numbers.
    pub const FLG_SYN: u16 = 0x002;
    /// RST: reset the connection.
    pub const FLG_RST: u16 = 0x004;
    /// PSH: push the data to the application.
    pub const FLG_PSH: u16 = 0x008;
    /// ACK: the acknowledgment number is valid.
    pub const FLG_ACK: u16 = 0x010;
    /// URG: the urgent pointer is valid.
    pub const FLG_URG: u16 = 0x020;
    /// ECE: ECN echo.
    pub const FLG_ECE: u16 = 0x040;
    /// CWR: congestion window reduced.
    pub const FLG_CWR: u16 = 0x080;
    /// AE: accurate ECN (RFC 9768; was NS).
    pub const FLG_AE: u16 = 0x100;
    /// Every flag bit, reserved bits included, of the 16 bits at `FLAGS`.
    pub const FLAGS_MASK: u16 = 0x0fff;

    /// Option kinds.
    pub const OPT_EOL: u8 = 0;
    /// No-operation.
    pub const OPT_NOP: u8 = 1;
    /// Maximum segment size.
    pub const OPT_MSS: u8 = 2;
    /// Window scale.
    pub const OPT_WS: u8 = 3;
    /// SACK permitted.
    pub const OPT_SACK_PERM: u8 = 4;
    /// SACK blocks.
    pub const OPT_SACK: u8 = 5;
    /// Timestamps.
    pub const OPT_TS: u8 = 8;
}

/// Wireshark's display-filter names of this layer's fields: the keys of its field table, which
/// the model's verdict rules and the renderers name instead of spelling the strings.
pub mod key {
    /// `tcp.srcport`.
    pub const SRCPORT: &str = "tcp.srcport";
    /// `tcp.dstport`.
    pub const DSTPORT: &str = "tcp.dstport";
    /// `tcp.seq_raw`.
    pub const SEQ_RAW: &str = "tcp.seq_raw";
    /// `tcp.ack_raw`.
    pub const ACK_RAW: &str = "tcp.ack_raw";
    /// `tcp.hdr_len`.
    pub const HDR_LEN: &str = "tcp.hdr_len";
    /// `tcp.flags`.
    pub const FLAGS: &str = "tcp.flags";
    /// `tcp.window_size_value`.
    pub const WINDOW: &str = "tcp.window_size_value";
    /// `tcp.checksum`.
    pub const CHECKSUM: &str = "tcp.checksum";
    /// `tcp.urgent_pointer`.
    pub const URGENT: &str = "tcp.urgent_pointer";
    // The option rows' keys (written by `fields`; a test checks each is what it writes).
    /// `tcp.options`.
    pub const OPTIONS: &str = "tcp.options";
    /// `tcp.option_kind`.
    pub const OPTION_KIND: &str = "tcp.option_kind";
    /// `tcp.options.mss_val`.
    pub const MSS_VAL: &str = "tcp.options.mss_val";
    /// `tcp.options.wscale.shift`.
    pub const WSCALE_SHIFT: &str = "tcp.options.wscale.shift";
    /// `tcp.options.sack_perm`.
    pub const SACK_PERM: &str = "tcp.options.sack_perm";
    /// `tcp.options.sack_le`.
    pub const SACK_LE: &str = "tcp.options.sack_le";
    /// `tcp.options.timestamp.tsval`.
    pub const TSVAL: &str = "tcp.options.timestamp.tsval";
    /// `tcp.options.timestamp.tsecr`.
    pub const TSECR: &str = "tcp.options.timestamp.tsecr";
}

/// The field table, in header order. Options follow, one row each.
pub const FIELDS: [FieldSpec; 9] = [
    FieldSpec {
        name: "Source port",
        key: key::SRCPORT,
        bytes: field::SRC_PORT,
        mask: None,
        meaning: "the sending socket's port",
    },
    FieldSpec {
        name: "Destination port",
        key: key::DSTPORT,
        bytes: field::DST_PORT,
        mask: None,
        meaning: "the receiving socket's port",
    },
    FieldSpec {
        name: "Sequence number",
        key: key::SEQ_RAW,
        bytes: field::SEQ_NUM,
        mask: None,
        meaning: "stream position of the first payload byte (a SYN or FIN counts as one)",
    },
    FieldSpec {
        name: "Acknowledgment number",
        key: key::ACK_RAW,
        bytes: field::ACK_NUM,
        mask: None,
        meaning: "next byte expected from the peer (valid with ACK)",
    },
    FieldSpec {
        name: "Header length",
        key: key::HDR_LEN,
        bytes: field::FLAGS,
        mask: Some(0xf000),
        meaning: "data offset, in 32-bit words: where the payload starts",
    },
    FieldSpec {
        name: "Flags",
        key: key::FLAGS,
        bytes: field::FLAGS,
        mask: Some(field::FLAGS_MASK as u32),
        meaning:
            "control bits: SYN opens, FIN closes, RST aborts, ACK acknowledges, PSH delivers now",
    },
    FieldSpec {
        name: "Window",
        key: key::WINDOW,
        bytes: field::WIN_SIZE,
        mask: None,
        meaning:
            "receive buffer space offered, in units of the window scale (a SYN's is never scaled)",
    },
    FieldSpec {
        name: "Checksum",
        key: key::CHECKSUM,
        bytes: field::CHECKSUM,
        mask: None,
        meaning: "RFC 1071 sum over pseudo-header, header and payload",
    },
    FieldSpec {
        name: "Urgent pointer",
        key: key::URGENT,
        bytes: field::URGENT,
        mask: None,
        meaning: "end of urgent data (valid with URG; unused by chat)",
    },
];

/// An option kind's short name, as tcpdump writes it in its option lists (`mss`, `sackOK`,
/// `TS`, `nop`, `wscale`), or the number for a kind without one.
#[must_use]
pub fn option_name(kind: u8) -> std::borrow::Cow<'static, str> {
    match kind {
        field::OPT_EOL => "eol".into(),
        field::OPT_NOP => "nop".into(),
        field::OPT_MSS => "mss".into(),
        field::OPT_WS => "wscale".into(),
        field::OPT_SACK_PERM => "sackOK".into(),
        field::OPT_SACK => "sack".into(),
        field::OPT_TS => "TS".into(),
        34 => "tfo".into(),
        k => format!("kind {k}").into(),
    }
}

/// The names of the flags set in `flags`, as Wireshark writes them: `PSH, ACK`.
#[must_use]
pub fn flag_names(flags: u16) -> String {
    let names: Vec<&str> = flag_list(flags).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// The names of the flags set in `flags`, in tcpdump's order (SYN, FIN, ... as [`flag_names`]
/// joins them), without allocating.
pub fn flag_list(flags: u16) -> impl Iterator<Item = &'static str> {
    const NAMES: [(u16, &str); 9] = [
        (field::FLG_AE, "AE"),
        (field::FLG_CWR, "CWR"),
        (field::FLG_ECE, "ECE"),
        (field::FLG_URG, "URG"),
        (field::FLG_ACK, "ACK"),
        (field::FLG_PSH, "PSH"),
        (field::FLG_RST, "RST"),
        (field::FLG_SYN, "SYN"),
        (field::FLG_FIN, "FIN"),
    ];
    NAMES
        .iter()
        .rev()
        .filter(move |(bit, _)| flags & bit != 0)
        .map(|(_, name)| *name)
}

/// Parses tcpdump-style flag letters: `S` SYN, `F` FIN, `R` RST, `P` PSH, `A` ACK (also `.`),
/// `U` URG, `E` ECE, `W` CWR. `PA` is PSH|ACK.
///
/// # Errors
/// Names the letter that is not a flag.
pub fn parse_flags(s: &str) -> Result<u16, String> {
    let mut flags = 0;
    for c in s.chars() {
        flags |= match c.to_ascii_uppercase() {
            'F' => field::FLG_FIN,
            'S' => field::FLG_SYN,
            'R' => field::FLG_RST,
            'P' => field::FLG_PSH,
            'A' | '.' => field::FLG_ACK,
            'U' => field::FLG_URG,
            'E' => field::FLG_ECE,
            'W' => field::FLG_CWR,
            _ => {
                return Err(format!(
                    "{c:?} in {s:?} is not a TCP flag letter; use S (SYN), A (ACK), P (PSH), F (FIN), R (RST), U (URG), E (ECE), W (CWR)"
                ))
            }
        };
    }
    Ok(flags)
}

/// A TCP option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpOption {
    /// End of option list (kind 0).
    Eol,
    /// No-operation (kind 1), used to align the next option.
    Nop,
    /// Maximum segment size (kind 2, SYN only).
    Mss(u16),
    /// Window scale shift count (kind 3, SYN only).
    WindowScale(u8),
    /// SACK permitted (kind 4, SYN only).
    SackPermitted,
    /// SACK blocks (kind 5): left and right edges.
    Sack(Vec<(u32, u32)>),
    /// Timestamps (kind 8): TSval and TSecr.
    Timestamps {
        /// The sender's clock.
        tsval: u32,
        /// The latest TSval received from the peer.
        tsecr: u32,
    },
    /// Any other kind, kept as raw bytes (after kind and length).
    Unknown {
        /// Option kind.
        kind: u8,
        /// Option data.
        data: Vec<u8>,
    },
}

impl TcpOption {
    /// Bytes this option takes in the header.
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            TcpOption::Eol | TcpOption::Nop => 1,
            TcpOption::Mss(_) => 4,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 2,
            TcpOption::Sack(blocks) => 2 + 8 * blocks.len(),
            TcpOption::Timestamps { .. } => 10,
            TcpOption::Unknown { data, .. } => 2 + data.len(),
        }
    }

    /// Never true: every option has a kind byte.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The option's kind byte.
    #[must_use]
    pub fn kind(&self) -> u8 {
        match self {
            TcpOption::Eol => field::OPT_EOL,
            TcpOption::Nop => field::OPT_NOP,
            TcpOption::Mss(_) => field::OPT_MSS,
            TcpOption::WindowScale(_) => field::OPT_WS,
            TcpOption::SackPermitted => field::OPT_SACK_PERM,
            TcpOption::Sack(_) => field::OPT_SACK,
            TcpOption::Timestamps { .. } => field::OPT_TS,
            TcpOption::Unknown { kind, .. } => *kind,
        }
    }

    /// Writes the option at the start of `out`; returns the bytes written and their sum as
    /// big-endian 16-bit words, as if the option started at an even offset. Both come from the
    /// option's values in one pass, so the checksum never reads back the bytes just written.
    fn emit(&self, out: &mut [u8]) -> (usize, u64) {
        let halves = |v: u32| u64::from(v >> 16) + u64::from(v & 0xffff);
        let kind_len = |kind: u8, len: usize, out: &mut [u8]| {
            out[0] = kind;
            out[1] = len as u8;
            u64::from(u16::from_be_bytes([kind, len as u8]))
        };
        match self {
            TcpOption::Eol => {
                out[0] = field::OPT_EOL;
                (1, 0)
            }
            TcpOption::Nop => {
                out[0] = field::OPT_NOP;
                (1, u64::from(field::OPT_NOP) << 8)
            }
            TcpOption::Mss(m) => {
                let s = kind_len(field::OPT_MSS, 4, out);
                out[2..4].copy_from_slice(&m.to_be_bytes());
                (4, s + u64::from(*m))
            }
            TcpOption::WindowScale(shift) => {
                let s = kind_len(field::OPT_WS, 3, out);
                out[2] = *shift;
                (3, s + (u64::from(*shift) << 8))
            }
            TcpOption::SackPermitted => (2, kind_len(field::OPT_SACK_PERM, 2, out)),
            TcpOption::Sack(blocks) => {
                let len = 2 + 8 * blocks.len();
                let mut s = kind_len(field::OPT_SACK, len, out);
                for (i, (l, r)) in blocks.iter().enumerate() {
                    out[2 + 8 * i..6 + 8 * i].copy_from_slice(&l.to_be_bytes());
                    out[6 + 8 * i..10 + 8 * i].copy_from_slice(&r.to_be_bytes());
                    s += halves(*l) + halves(*r);
                }
                (len, s)
            }
            TcpOption::Timestamps { tsval, tsecr } => {
                let s = kind_len(field::OPT_TS, 10, out);
                out[2..6].copy_from_slice(&tsval.to_be_bytes());
                out[6..10].copy_from_slice(&tsecr.to_be_bytes());
                (10, s + halves(*tsval) + halves(*tsecr))
            }
            TcpOption::Unknown { kind, data } => {
                let len = 2 + data.len();
                let s = kind_len(*kind, len, out);
                out[2..len].copy_from_slice(data);
                (len, checksum::add(s, data))
            }
        }
    }
}

impl fmt::Display for TcpOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TcpOption::Eol => write!(f, "EOL"),
            TcpOption::Nop => write!(f, "NOP"),
            TcpOption::Mss(m) => write!(f, "MSS {m}"),
            TcpOption::WindowScale(s) => write!(f, "window scale {s} (×{})", 1u64 << (*s).min(14)),
            TcpOption::SackPermitted => write!(f, "SACK permitted"),
            TcpOption::Sack(b) => {
                write!(f, "SACK")?;
                for (l, r) in b {
                    write!(f, " {l}-{r}")?;
                }
                Ok(())
            }
            TcpOption::Timestamps { tsval, tsecr } => {
                write!(f, "timestamps TSval {tsval} TSecr {tsecr}")
            }
            TcpOption::Unknown { kind: 34, data } if data.is_empty() => {
                write!(f, "TCP Fast Open cookie request (kind 34)")
            }
            TcpOption::Unknown { kind: 34, data } => {
                write!(f, "TCP Fast Open cookie (kind 34), {} bytes", data.len())
            }
            TcpOption::Unknown { kind: 30, data } => {
                write!(f, "Multipath TCP (kind 30), {} data bytes", data.len())
            }
            TcpOption::Unknown { kind, data } => {
                write!(f, "kind {kind}, {} data bytes", data.len())
            }
        }
    }
}

/// Walks raw option bytes, yielding each option with its offset relative to `raw`. Padding after
/// EOL is skipped. A malformed option ends the walk with an error whose offset is relative to the
/// start of the TCP header.
pub fn options(raw: &[u8]) -> impl Iterator<Item = Result<(usize, TcpOption), DecodeError>> + '_ {
    let mut at = 0usize;
    let mut done = false;
    std::iter::from_fn(move || {
        if done || at >= raw.len() {
            return None;
        }
        let start = at;
        let kind = raw[at];
        let opt = match kind {
            field::OPT_EOL => {
                done = true;
                Ok(TcpOption::Eol)
            }
            field::OPT_NOP => Ok(TcpOption::Nop),
            _ => match raw.get(at + 1).copied() {
                None => Err(opt_err(
                    "Option length",
                    start + 1,
                    "missing".into(),
                    "the options end inside an option",
                )),
                Some(len) if len < 2 => Err(opt_err(
                    "Option length",
                    start + 1,
                    len.to_string(),
                    "an option's length counts its kind and length bytes, so it is at least 2",
                )),
                Some(len) if start + usize::from(len) > raw.len() => Err(DecodeError::Truncated {
                    layer: Layer::Tcp,
                    field: "Options",
                    needed: field::HEADER_LEN + start + usize::from(len),
                    available: field::HEADER_LEN + raw.len(),
                }),
                Some(len) => {
                    let body = &raw[start + 2..start + usize::from(len)];
                    Ok(match (kind, body.len()) {
                        (field::OPT_MSS, 2) => TcpOption::Mss(be16(body, 0)),
                        (field::OPT_WS, 1) => TcpOption::WindowScale(body[0]),
                        (field::OPT_SACK_PERM, 0) => TcpOption::SackPermitted,
                        (field::OPT_SACK, n) if n % 8 == 0 => TcpOption::Sack(
                            body.chunks_exact(8)
                                .map(|c| (be32(c, 0), be32(c, 4)))
                                .collect(),
                        ),
                        (field::OPT_TS, 8) => TcpOption::Timestamps {
                            tsval: be32(body, 0),
                            tsecr: be32(body, 4),
                        },
                        _ => TcpOption::Unknown {
                            kind,
                            data: body.to_vec(),
                        },
                    })
                }
            },
        };
        match opt {
            Ok(o) => {
                at += if done { raw.len() - start } else { o.len() };
                Some(Ok((start, o)))
            }
            Err(e) => {
                done = true;
                Some(Err(e))
            }
        }
    })
}

fn opt_err(
    field: &'static str,
    offset_in_options: usize,
    value: String,
    why: &'static str,
) -> DecodeError {
    DecodeError::Invalid {
        layer: Layer::Tcp,
        field,
        offset: field::HEADER_LEN + offset_in_options,
        value,
        why,
    }
}

/// How a TCP checksum field stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumStatus {
    /// The full checksum, and it verifies.
    Good,
    /// The folded pseudo-header sum that checksum offload leaves: what Linux writes on `lo`.
    Partial,
    /// Neither: `expected` is the right full checksum.
    Bad {
        /// The correct checksum.
        expected: u16,
        /// The pseudo-header sum an offloading sender would have left.
        partial: u16,
    },
}

/// A read-only view of a TCP segment whose lengths have been checked: no accessor panics.
#[derive(Debug, Clone, Copy)]
pub struct TcpSegment<'a> {
    bytes: &'a [u8],
}

impl<'a> TcpSegment<'a> {
    /// Checks the data offset against the bytes and returns the view.
    ///
    /// # Errors
    /// A [`DecodeError`] naming the field; offsets are relative to `bytes`.
    #[inline]
    pub fn new_checked(bytes: &'a [u8]) -> Result<TcpSegment<'a>, DecodeError> {
        if bytes.len() < field::HEADER_LEN {
            return Err(DecodeError::Truncated {
                layer: Layer::Tcp,
                field: first_cut(&FIELDS, bytes.len()),
                needed: field::HEADER_LEN,
                available: bytes.len(),
            });
        }
        let header_len = usize::from(bytes[field::FLAGS.start] >> 4) * 4;
        if header_len < field::HEADER_LEN {
            return Err(DecodeError::Invalid {
                layer: Layer::Tcp,
                field: "Header length",
                offset: field::FLAGS.start,
                value: format!("{} ({header_len} bytes)", header_len / 4),
                why: "the data offset must be at least 5 (20 bytes)",
            });
        }
        need(bytes, header_len, Layer::Tcp, "Options")?;
        Ok(TcpSegment { bytes })
    }

    /// As [`TcpSegment::new_checked`] for `bytes` known to be the whole segment (its IP packet
    /// was captured whole): a data offset past their end is then a bad data offset, not a
    /// header cut short.
    ///
    /// # Errors
    /// A [`DecodeError`] naming the field; offsets are relative to `bytes`.
    pub fn new_checked_whole(bytes: &'a [u8]) -> Result<TcpSegment<'a>, DecodeError> {
        let offset = bytes.get(field::FLAGS.start).map(|b| usize::from(b >> 4));
        match offset {
            Some(words) if words >= 5 && words * 4 > bytes.len() => Err(DecodeError::Invalid {
                layer: Layer::Tcp,
                field: "Header length",
                offset: field::FLAGS.start,
                value: format!(
                    "{words} ({} bytes, in a {}-byte segment)",
                    words * 4,
                    bytes.len()
                ),
                why: "the data offset points past the end of the segment",
            }),
            _ => TcpSegment::new_checked(bytes),
        }
    }

    /// Header length in bytes.
    #[must_use]
    pub fn header_len(&self) -> usize {
        usize::from(self.bytes[field::FLAGS.start] >> 4) * 4
    }
    /// Header bytes, options included.
    #[must_use]
    pub fn header(&self) -> &'a [u8] {
        &self.bytes[..self.header_len()]
    }
    /// The whole segment.
    #[must_use]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
    /// Payload.
    #[must_use]
    pub fn payload(&self) -> &'a [u8] {
        &self.bytes[self.header_len()..]
    }
    /// Source port.
    #[must_use]
    pub fn src_port(&self) -> u16 {
        be16(self.bytes, field::SRC_PORT.start)
    }
    /// Destination port.
    #[must_use]
    pub fn dst_port(&self) -> u16 {
        be16(self.bytes, field::DST_PORT.start)
    }
    /// Sequence number.
    #[must_use]
    pub fn seq(&self) -> u32 {
        be32(self.bytes, field::SEQ_NUM.start)
    }
    /// Acknowledgment number.
    #[must_use]
    pub fn ack(&self) -> u32 {
        be32(self.bytes, field::ACK_NUM.start)
    }
    /// Flags (12 bits: reserved, AE, CWR ... FIN).
    #[must_use]
    pub fn flags(&self) -> u16 {
        be16(self.bytes, field::FLAGS.start) & field::FLAGS_MASK
    }
    /// Window field.
    #[must_use]
    pub fn window(&self) -> u16 {
        be16(self.bytes, field::WIN_SIZE.start)
    }
    /// Checksum field.
    #[must_use]
    pub fn checksum(&self) -> u16 {
        be16(self.bytes, field::CHECKSUM.start)
    }
    /// Urgent pointer.
    #[must_use]
    pub fn urgent(&self) -> u16 {
        be16(self.bytes, field::URGENT.start)
    }
    /// Raw option bytes.
    #[must_use]
    pub fn options_raw(&self) -> &'a [u8] {
        &self.header()[field::HEADER_LEN..]
    }

    /// Checks the checksum field against the full checksum and the offloaded partial sum.
    #[must_use]
    pub fn checksum_status(&self, src: Ipv4Addr, dst: Ipv4Addr) -> ChecksumStatus {
        self.checksum_status_with(checksum::Pseudo::V4(src, dst))
    }

    /// [`TcpSegment::checksum_status`] for either IP version's pseudo-header.
    #[must_use]
    pub fn checksum_status_with(&self, addrs: checksum::Pseudo) -> ChecksumStatus {
        let pseudo = addrs.sum(6, self.bytes.len());
        if checksum::fold(checksum::add(pseudo, self.bytes)) == 0xffff {
            return ChecksumStatus::Good;
        }
        let partial = checksum::fold(pseudo);
        if self.checksum() == partial {
            return ChecksumStatus::Partial;
        }
        let b = self.bytes;
        let sum = checksum::add(pseudo, &b[..field::CHECKSUM.start]);
        let sum = checksum::add(sum, &b[field::CHECKSUM.end..]);
        ChecksumStatus::Bad {
            expected: !checksum::fold(sum),
            partial,
        }
    }
}

/// A TCP header as plain values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpHeader {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Flags (12 bits).
    pub flags: u16,
    /// Window field (before scaling).
    pub window: u16,
    /// Checksum as found (parse) or as written (emit fills it in).
    pub checksum: u16,
    /// Urgent pointer.
    pub urgent: u16,
    /// Options, in order. `emit` pads them with zero (EOL) bytes to a multiple of 4.
    pub options: Vec<TcpOption>,
}

impl TcpHeader {
    /// Header length in bytes: 20 + the options rounded up to a multiple of 4.
    #[must_use]
    pub fn len(&self) -> usize {
        if let [TcpOption::Nop, TcpOption::Nop, TcpOption::Timestamps { .. }] = self.options[..] {
            return field::HEADER_LEN + 12;
        }
        let opts: usize = self.options.iter().map(TcpOption::len).sum();
        field::HEADER_LEN + opts.div_ceil(4) * 4
    }

    /// Never true: a header has at least 20 bytes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Reads the header of a checked segment.
    ///
    /// # Errors
    /// A malformed option, offsets relative to the TCP header.
    pub fn parse(s: &TcpSegment<'_>) -> Result<TcpHeader, DecodeError> {
        let options = options(s.options_raw())
            .map(|r| r.map(|(_, o)| o))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TcpHeader {
            src_port: s.src_port(),
            dst_port: s.dst_port(),
            seq: s.seq(),
            ack: s.ack(),
            flags: s.flags(),
            window: s.window(),
            checksum: s.checksum(),
            urgent: s.urgent(),
            options,
        })
    }

    /// Writes the header into `out[..self.len()]` with a zero checksum; [`fill_checksum`] fills
    /// it once the payload is in place, or use [`TcpHeader::emit_with_checksum`].
    ///
    /// # Panics
    /// If `out` is shorter than the header, or the options exceed 40 bytes (the pipeline checks).
    pub fn emit(&self, out: &mut [u8]) {
        let len = self.len();
        self.write(&mut out[..len]);
    }

    /// Writes the header into `out`, which must be exactly [`TcpHeader::len`] bytes, with its
    /// checksum for a payload of `payload_len` bytes whose [`checksum::add`] is `payload_sum`,
    /// between the addresses of `addrs` (IPv4 or IPv6): the full checksum, or with `offload` the pseudo-header sum Linux
    /// leaves for the device. The header's part of the sum comes from its values as they are
    /// written, not from reading the bytes back. Returns the checksum.
    ///
    /// # Panics
    /// If `out` is not the header's length, or header + payload exceed 65535 bytes.
    pub fn emit_with_checksum(
        &self,
        out: &mut [u8],
        payload_len: usize,
        payload_sum: u64,
        addrs: checksum::Pseudo,
        offload: bool,
    ) -> u16 {
        let header_sum = self.write(out);
        let pseudo = addrs.sum(6, out.len() + payload_len);
        let c = if offload {
            checksum::fold(pseudo)
        } else {
            !checksum::fold(pseudo + payload_sum + header_sum)
        };
        out[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
        c
    }

    /// Writes every field into `out` (its length is the header length; the checksum is zero) and
    /// returns the sum of the header's 16-bit words.
    fn write(&self, out: &mut [u8]) -> u64 {
        let len = out.len();
        assert!(
            (field::HEADER_LEN..=field::MAX_HEADER_LEN).contains(&len),
            "TCP options must fit in 40 bytes"
        );
        let halves = |v: u32| u64::from(v >> 16) + u64::from(v & 0xffff);
        let off_flags = ((len as u16 / 4) << 12) | (self.flags & field::FLAGS_MASK);
        out[field::SRC_PORT].copy_from_slice(&self.src_port.to_be_bytes());
        out[field::DST_PORT].copy_from_slice(&self.dst_port.to_be_bytes());
        out[field::SEQ_NUM].copy_from_slice(&self.seq.to_be_bytes());
        out[field::ACK_NUM].copy_from_slice(&self.ack.to_be_bytes());
        out[field::FLAGS].copy_from_slice(&off_flags.to_be_bytes());
        out[field::WIN_SIZE].copy_from_slice(&self.window.to_be_bytes());
        out[field::CHECKSUM].copy_from_slice(&[0, 0]);
        out[field::URGENT].copy_from_slice(&self.urgent.to_be_bytes());
        let mut sum = u64::from(self.src_port)
            + u64::from(self.dst_port)
            + halves(self.seq)
            + halves(self.ack)
            + u64::from(off_flags)
            + u64::from(self.window)
            + u64::from(self.urgent);
        // What Linux puts on every established segment, NOP NOP timestamps, in one go.
        if let [TcpOption::Nop, TcpOption::Nop, TcpOption::Timestamps { tsval, tsecr }] =
            self.options[..]
        {
            let (v, e) = (tsval.to_be_bytes(), tsecr.to_be_bytes());
            out[field::HEADER_LEN..field::HEADER_LEN + 12]
                .copy_from_slice(&[1, 1, 8, 10, v[0], v[1], v[2], v[3], e[0], e[1], e[2], e[3]]);
            return sum + 0x0101 + 0x080a + halves(tsval) + halves(tsecr);
        }
        let mut at = field::HEADER_LEN;
        for o in &self.options {
            let (n, s) = o.emit(&mut out[at..]);
            // An option that starts at an odd offset has its bytes in the other half of each
            // word: its folded sum, byte-swapped (RFC 1071 §2(B)).
            sum += if at % 2 == 0 {
                s
            } else {
                u64::from(checksum::fold(s).swap_bytes())
            };
            at += n;
        }
        out[at..].fill(field::OPT_EOL);
        sum
    }
}

/// Computes and writes the checksum of `segment` (header, then payload): the full checksum, or
/// with `offload` the partial sum Linux leaves for the device. Returns the value written. (The
/// pipeline uses [`TcpHeader::emit_with_checksum`], which sums the header as it writes it.)
///
/// # Panics
/// If `segment` is shorter than a TCP header or longer than 65535 bytes.
pub fn fill_checksum(segment: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr, offload: bool) -> u16 {
    let len = u16::try_from(segment.len()).expect("a TCP segment fits 65535 bytes");
    let pseudo = checksum::pseudo_header_v4(src, dst, 6, len);
    segment[field::CHECKSUM].copy_from_slice(&[0, 0]);
    let c = if offload {
        checksum::fold(pseudo)
    } else {
        !checksum::fold(checksum::add(pseudo, segment))
    };
    segment[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    c
}

/// The fields of the TCP header in `segment` (header and payload), which starts at absolute
/// offset `base`; `addrs` are the IPv4 source and destination, for the checksum verdict.
#[must_use]
/// [`fields`]' keys, bytes and values without the displays (see [`RawField`]); false when an
/// option is malformed, which only [`fields`] shows.
pub fn raw_fields<'a>(segment: &'a [u8], base: usize, out: &mut Vec<RawField<'a>>) -> bool {
    table_raw(&FIELDS, Layer::Tcp, segment, base, out, |key, raw, _| {
        (key == "tcp.hdr_len").then_some(RawValue::Number(raw * 4))
    });
    let Ok(seg) = TcpSegment::new_checked(segment) else {
        return true;
    };
    let row = |key, bytes: Range<usize>, n: u64| RawField {
        layer: Layer::Tcp,
        key,
        bytes,
        value: RawValue::Number(n),
    };
    for item in options(seg.options_raw()) {
        let Ok((at, opt)) = item else { return false };
        let start = base + field::HEADER_LEN + at;
        let span = if opt == TcpOption::Eol {
            seg.header_len() - field::HEADER_LEN - at
        } else {
            opt.len()
        };
        let (key, n) = match &opt {
            TcpOption::Eol => ("tcp.options.eol", 0),
            TcpOption::Nop => ("tcp.options.nop", 1),
            TcpOption::Mss(m) => ("tcp.options.mss_val", u64::from(*m)),
            TcpOption::WindowScale(s) => ("tcp.options.wscale.shift", u64::from(*s)),
            TcpOption::SackPermitted => {
                out.push(RawField {
                    layer: Layer::Tcp,
                    key: "tcp.options.sack_perm",
                    bytes: start..start + span,
                    value: RawValue::Bytes(&[field::OPT_SACK_PERM, 2]),
                });
                continue;
            }
            TcpOption::Sack(blocks) => (
                "tcp.options.sack_le",
                blocks.first().map_or(0, |b| u64::from(b.0)),
            ),
            TcpOption::Timestamps { tsval, tsecr } => {
                out.push(row(
                    "tcp.options.timestamp.tsval",
                    start..start + 6,
                    u64::from(*tsval),
                ));
                out.push(row(
                    "tcp.options.timestamp.tsecr",
                    start + 6..start + 10,
                    u64::from(*tsecr),
                ));
                continue;
            }
            TcpOption::Unknown { kind, .. } => ("tcp.option_kind", u64::from(*kind)),
        };
        out.push(row(key, start..start + span, n));
    }
    true
}

pub fn fields(segment: &[u8], base: usize, addrs: Option<checksum::Pseudo>) -> Vec<Field> {
    let mut out = Vec::with_capacity(FIELDS.len() + 4);
    for spec in &FIELDS {
        let Some(raw) = spec.read(segment) else { break };
        let (value, display) = match spec.key {
            "tcp.hdr_len" => (raw * 4, format!("{} bytes (data offset {raw})", raw * 4)),
            "tcp.flags" => (raw, format!("0x{raw:03x} [{}]", flag_names(raw as u16))),
            "tcp.checksum" => (raw, checksum_display(segment, raw as u16, addrs)),
            _ => (raw, raw.to_string()),
        };
        out.push(Field::from_spec(spec, base, Value::Number(value), display));
    }
    let Ok(seg) = TcpSegment::new_checked(segment) else {
        return out;
    };
    for item in options(seg.options_raw()) {
        let Ok((at, opt)) = item else {
            let start = out.last().map_or(base + field::HEADER_LEN, |f| f.bytes.end);
            let rest = segment
                .get(start - base..seg.header_len())
                .unwrap_or_default();
            out.push(option_field(
                start,
                "Malformed option".into(),
                "tcp.options",
                Value::Bytes(rest.to_vec()),
                hex(rest),
                "an option this decoder could not read, raw",
            ));
            break;
        };
        let start = base + field::HEADER_LEN + at;
        let span = if opt == TcpOption::Eol {
            seg.header_len() - field::HEADER_LEN - at
        } else {
            opt.len()
        };
        let (key, value, meaning): (&'static str, Value, &'static str) = match &opt {
            TcpOption::Eol => (
                "tcp.options.eol",
                Value::Number(0),
                "end of the option list (the rest is padding)",
            ),
            TcpOption::Nop => (
                "tcp.options.nop",
                Value::Number(1),
                "no-operation: aligns the next option",
            ),
            TcpOption::Mss(m) => (
                "tcp.options.mss_val",
                Value::Number(u64::from(*m)),
                "largest segment this side will accept",
            ),
            TcpOption::WindowScale(s) => (
                "tcp.options.wscale.shift",
                Value::Number(u64::from(*s)),
                "the window field is shifted left by this many bits",
            ),
            TcpOption::SackPermitted => (
                "tcp.options.sack_perm",
                Value::Bytes(vec![field::OPT_SACK_PERM, 2]),
                "this side can take selective acknowledgments",
            ),
            TcpOption::Sack(blocks) => (
                "tcp.options.sack_le",
                Value::Number(blocks.first().map_or(0, |b| u64::from(b.0))),
                "blocks received out of order",
            ),
            TcpOption::Timestamps { tsval, .. } => (
                "tcp.options.timestamp.tsval",
                Value::Number(u64::from(*tsval)),
                "sender's clock and the echo of the peer's (RTT, PAWS)",
            ),
            TcpOption::Unknown { kind, .. } => (
                "tcp.option_kind",
                Value::Number(u64::from(*kind)),
                "an option this decoder does not know, shown raw",
            ),
        };
        if let TcpOption::Timestamps { tsval, tsecr } = opt {
            // Two rows, so that each value has its own key and bytes: TSval with kind and length.
            let mut f = option_field(
                start,
                "Option: timestamps, TSval".to_string(),
                key,
                value,
                tsval.to_string(),
                meaning,
            );
            f.bytes.end = start + 6;
            out.push(f);
            let mut f = option_field(
                start + 6,
                "Option: timestamps, TSecr".into(),
                "tcp.options.timestamp.tsecr",
                Value::Number(u64::from(tsecr)),
                tsecr.to_string(),
                "the peer's latest TSval, echoed (0 on a SYN)",
            );
            f.bytes.end = start + 10;
            out.push(f);
            continue;
        }
        let mut f = option_field(
            start,
            format!("Option: {opt}"),
            key,
            value,
            hex(&segment[start - base..start - base + span]),
            meaning,
        );
        f.bytes.end = start + span;
        out.push(f);
    }
    out
}

fn option_field(
    start: usize,
    name: String,
    key: &'static str,
    value: Value,
    display: String,
    meaning: &'static str,
) -> Field {
    Field {
        name: name.into(),
        key: key.into(),
        bytes: start..start,
        mask: None,
        value,
        display,
        meaning: meaning.into(),
    }
}

fn checksum_display(segment: &[u8], found: u16, addrs: Option<checksum::Pseudo>) -> String {
    let (Some(addrs), Ok(seg)) = (addrs, TcpSegment::new_checked(segment)) else {
        return format!("0x{found:04x}");
    };
    match seg.checksum_status_with(addrs) {
        ChecksumStatus::Good => format!("0x{found:04x} [correct]"),
        ChecksumStatus::Partial => {
            format!("0x{found:04x} [partial: pseudo-header sum left for checksum offload]")
        }
        ChecksumStatus::Bad { expected, partial } => {
            format!("0x{found:04x} [incorrect, should be 0x{expected:04x} (or 0x{partial:04x} if offloaded)]")
        }
    }
}

use super::ipv4::hex;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_key_is_the_one_the_option_rows_carry() {
        let h = TcpHeader {
            src_port: 1,
            dst_port: 2,
            seq: 3,
            ack: 4,
            flags: field::FLG_ACK,
            window: 5,
            checksum: 0,
            urgent: 0,
            options: vec![
                TcpOption::Mss(1460),
                TcpOption::SackPermitted,
                TcpOption::Timestamps { tsval: 1, tsecr: 2 },
                TcpOption::WindowScale(7),
                TcpOption::Sack(vec![(10, 20)]),
                TcpOption::Unknown {
                    kind: 34,
                    data: vec![],
                },
            ],
        };
        let mut seg = vec![0u8; h.len()];
        h.emit(&mut seg);
        let rows = fields(&seg, 0, None);
        // (key::OPTIONS names the options as a whole: a malformed list, or the model's that
        // would not fit.)
        for k in [
            key::OPTION_KIND,
            key::MSS_VAL,
            key::WSCALE_SHIFT,
            key::SACK_PERM,
            key::SACK_LE,
            key::TSVAL,
            key::TSECR,
        ] {
            assert!(
                rows.iter().any(|r| r.key == k),
                "no row has key {k}: {rows:?}"
            );
        }
        for spec in &FIELDS {
            assert!(
                rows.iter().any(|r| r.key == spec.key),
                "no row for {}",
                spec.key
            );
        }
    }

    /// A SYN as Linux sends it on `lo` (LOOPBACK.md): MSS 65495, SACK-permitted, timestamps,
    /// NOP, window scale 10.
    static SYN: [u8; 40] = [
        0x9c, 0x40, 0x1a, 0x0a, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0, 0xa0, 0x02, 0xff, 0xd7, 0xfe,
        0x30, 0, 0, //
        0x02, 0x04, 0xff, 0xd7, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x01, 0x02, 0x03, 0, 0, 0, 0, 0x01,
        0x03, 0x03, 0x0a,
    ];

    #[test]
    fn deconstruct_syn() {
        let s = TcpSegment::new_checked(&SYN).unwrap();
        let h = TcpHeader::parse(&s).unwrap();
        assert_eq!(
            (h.src_port, h.dst_port, h.seq, h.flags, h.window),
            (40000, 6666, 0x1234_5678, field::FLG_SYN, 65495)
        );
        assert_eq!(
            h.options,
            vec![
                TcpOption::Mss(65495),
                TcpOption::SackPermitted,
                TcpOption::Timestamps {
                    tsval: 0x0001_0203,
                    tsecr: 0
                },
                TcpOption::Nop,
                TcpOption::WindowScale(10)
            ]
        );
        let lo = Ipv4Addr::LOCALHOST;
        assert_eq!(s.checksum_status(lo, lo), ChecksumStatus::Partial);
    }

    #[test]
    fn construct_syn() {
        let h = TcpHeader::parse(&TcpSegment::new_checked(&SYN).unwrap()).unwrap();
        let mut out = [0u8; 40];
        h.emit(&mut out);
        let lo = Ipv4Addr::LOCALHOST;
        assert_eq!(fill_checksum(&mut out, lo, lo, true), 0xfe30);
        assert_eq!(out, SYN);
        fill_checksum(&mut out, lo, lo, false);
        assert_eq!(
            TcpSegment::new_checked(&out)
                .unwrap()
                .checksum_status(lo, lo),
            ChecksumStatus::Good
        );
    }

    #[test]
    fn truncated_and_invalid() {
        for len in 0..40 {
            let e = TcpSegment::new_checked(&SYN[..len]).unwrap_err();
            assert!(
                matches!(e, DecodeError::Truncated { layer: Layer::Tcp, available, .. } if available == len),
                "{len}: {e}"
            );
        }
        let mut bad = SYN;
        bad[12] = 0x40;
        assert!(TcpSegment::new_checked(&bad)
            .unwrap_err()
            .to_string()
            .contains("Header length at offset 12 is 4"));
    }

    #[test]
    fn malformed_and_unknown_options() {
        let mut bad = SYN;
        bad[21] = 1; // MSS with length 1
        let s = TcpSegment::new_checked(&bad).unwrap();
        let e = TcpHeader::parse(&s).unwrap_err();
        assert!(e.to_string().contains("Option length at offset 21"), "{e}");
        let mut unknown = SYN;
        unknown[20..24].copy_from_slice(&[0xfd, 0x04, 0xbe, 0xef]);
        let h = TcpHeader::parse(&TcpSegment::new_checked(&unknown).unwrap()).unwrap();
        assert_eq!(
            h.options[0],
            TcpOption::Unknown {
                kind: 0xfd,
                data: vec![0xbe, 0xef]
            }
        );
        let mut over = SYN;
        over[38] = 9; // window scale claiming 9 bytes where 3 are left
        let e = TcpHeader::parse(&TcpSegment::new_checked(&over).unwrap()).unwrap_err();
        assert!(
            matches!(
                e,
                DecodeError::Truncated {
                    needed: 46,
                    available: 40,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn flags_letters() {
        assert_eq!(parse_flags("PA").unwrap(), field::FLG_PSH | field::FLG_ACK);
        assert_eq!(parse_flags("S").unwrap(), field::FLG_SYN);
        assert!(parse_flags("SX").unwrap_err().contains("'X'"));
        assert_eq!(flag_names(0x018), "PSH, ACK");
        assert_eq!(flag_names(0x012), "SYN, ACK");
    }

    #[test]
    fn option_rows_cover_the_option_bytes() {
        let f = fields(
            &SYN,
            34,
            Some((Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST).into()),
        );
        let opts: Vec<_> = f.iter().filter(|x| x.name.starts_with("Option")).collect();
        assert_eq!(opts.len(), 6);
        assert_eq!(opts[0].bytes, 54..58);
        assert_eq!(opts.last().unwrap().bytes.end, 74);
        assert!(f
            .iter()
            .any(|x| x.key == "tcp.checksum" && x.display.contains("partial")));
    }
}
