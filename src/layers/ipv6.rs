//! IPv6 (RFC 8200): the fixed 40-byte header, and the extension headers that may follow it.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Traffic Class |           Flow Label                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Payload Length        |  Next Header  |   Hop Limit   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Source Address (128 bits)                     |
//! |              Destination Address (128 bits)                   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::net::Ipv6Addr;
use std::ops::Range;

use super::ipv4::IpProtocol;
use super::{
    be16, first_cut, table_fields, table_raw, DecodeError, Field, FieldSpec, Layer, RawField, Value,
};

/// Byte ranges relative to the start of the header.
pub mod field {
    use std::ops::Range;
    /// Version (4 bits), traffic class (8), flow label (20).
    pub const VER_TC_FLOW: Range<usize> = 0..4;
    /// Payload length.
    pub const PAYLOAD_LEN: Range<usize> = 4..6;
    /// Next header.
    pub const NEXT_HEADER: Range<usize> = 6..7;
    /// Hop limit.
    pub const HOP_LIMIT: Range<usize> = 7..8;
    /// Source address.
    pub const SOURCE: Range<usize> = 8..24;
    /// Destination address.
    pub const DESTINATION: Range<usize> = 24..40;
    /// Length of the fixed header.
    pub const HEADER_LEN: usize = DESTINATION.end;
}

/// An IPv6 fixed header to write (no extension headers): the payload length and next header
/// are given when it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Header {
    /// Traffic class: DSCP (6 bits) and ECN (2).
    pub traffic_class: u8,
    /// Flow label (20 bits; higher bits are dropped).
    pub flow_label: u32,
    /// Hop limit (Linux: 64).
    pub hop_limit: u8,
    /// Source address.
    pub source: Ipv6Addr,
    /// Destination address.
    pub destination: Ipv6Addr,
}

impl Ipv6Header {
    /// Length of the header: always 40 bytes.
    pub const LEN: usize = field::HEADER_LEN;

    /// Writes the header into `out[..40]` for a payload of `payload_len` bytes of protocol
    /// `next`.
    ///
    /// # Panics
    /// If `out` is shorter than 40 bytes.
    pub fn emit(&self, out: &mut [u8], payload_len: u16, next: IpProtocol) {
        let first =
            (6u32 << 28) | (u32::from(self.traffic_class) << 20) | (self.flow_label & 0xf_ffff);
        out[field::VER_TC_FLOW].copy_from_slice(&first.to_be_bytes());
        out[field::PAYLOAD_LEN].copy_from_slice(&payload_len.to_be_bytes());
        out[field::NEXT_HEADER.start] = next.into();
        out[field::HOP_LIMIT.start] = self.hop_limit;
        out[field::SOURCE].copy_from_slice(&self.source.octets());
        out[field::DESTINATION].copy_from_slice(&self.destination.octets());
    }
}

/// Wireshark's display-filter names of this layer's fields: the keys of its field table, which
/// the model's verdict rules and the renderers name instead of spelling the strings.
pub mod key {
    /// `ipv6.version`.
    pub const VERSION: &str = "ipv6.version";
    /// `ipv6.tclass`.
    pub const TCLASS: &str = "ipv6.tclass";
    /// `ipv6.flow`.
    pub const FLOW: &str = "ipv6.flow";
    /// `ipv6.plen`.
    pub const PLEN: &str = "ipv6.plen";
    /// `ipv6.nxt`.
    pub const NXT: &str = "ipv6.nxt";
    /// `ipv6.hlim`.
    pub const HLIM: &str = "ipv6.hlim";
    /// `ipv6.src`.
    pub const SRC: &str = "ipv6.src";
    /// `ipv6.dst`.
    pub const DST: &str = "ipv6.dst";
}

/// The field table of the fixed header.
pub const FIELDS: [FieldSpec; 8] = [
    FieldSpec {
        name: "Version",
        key: key::VERSION,
        bytes: field::VER_TC_FLOW,
        mask: Some(0xf000_0000),
        meaning: "IP version: 6",
    },
    FieldSpec {
        name: "Traffic class",
        key: key::TCLASS,
        bytes: field::VER_TC_FLOW,
        mask: Some(0x0ff0_0000),
        meaning: "DSCP and ECN, as in IPv4",
    },
    FieldSpec {
        name: "Flow label",
        key: key::FLOW,
        bytes: field::VER_TC_FLOW,
        mask: Some(0x000f_ffff),
        meaning: "marks packets of one flow for routers",
    },
    FieldSpec {
        name: "Payload length",
        key: key::PLEN,
        bytes: field::PAYLOAD_LEN,
        mask: None,
        meaning: "bytes after this 40-byte header",
    },
    FieldSpec {
        name: "Next header",
        key: key::NXT,
        bytes: field::NEXT_HEADER,
        mask: None,
        meaning: "which header follows (6 = TCP, 17 = UDP, 58 = ICMPv6)",
    },
    FieldSpec {
        name: "Hop limit",
        key: key::HLIM,
        bytes: field::HOP_LIMIT,
        mask: None,
        meaning: "IPv6's TTL: hops left",
    },
    FieldSpec {
        name: "Source address",
        key: key::SRC,
        bytes: field::SOURCE,
        mask: None,
        meaning: "the sending host",
    },
    FieldSpec {
        name: "Destination address",
        key: key::DST,
        bytes: field::DESTINATION,
        mask: None,
        meaning: "the receiving host",
    },
];

/// An extension header found between the fixed header and the upper layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// Its protocol number (0, 43, 44, 60, 51).
    pub kind: u8,
    /// Its bytes, relative to the start of the IPv6 header.
    pub bytes: Range<usize>,
    /// The next header it announces.
    pub next: u8,
}

/// The name of an extension header kind.
#[must_use]
pub fn extension_name(kind: u8) -> &'static str {
    match kind {
        0 => "Hop-by-Hop Options",
        43 => "Routing",
        44 => "Fragment",
        51 => "Authentication",
        60 => "Destination Options",
        _ => "unknown",
    }
}

/// Wireshark's key for an extension header's next-header field.
fn extension_key(kind: u8) -> &'static str {
    match kind {
        0 => "ipv6.hopopts.nxt",
        43 => "ipv6.routing.nxt",
        44 => "ipv6.fraghdr.nxt",
        51 => "ah.next_header",
        _ => "ipv6.dstopts.nxt",
    }
}

/// A decoded IPv6 header: the upper-layer protocol, where it starts, and the extensions walked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6Packet {
    /// Source address.
    pub source: Ipv6Addr,
    /// Destination address.
    pub destination: Ipv6Addr,
    /// Traffic class: DSCP in the upper six bits, ECN in the lower two.
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
    /// Hop limit.
    pub hop_limit: u8,
    /// The upper-layer protocol after any extension headers.
    pub protocol: IpProtocol,
    /// Offset of the upper-layer header, relative to the IPv6 header.
    pub upper: usize,
    /// One past the last payload byte (40 + payload length), relative to the IPv6 header.
    pub end: usize,
    /// Extension headers in order.
    pub extensions: Vec<Extension>,
}

/// Parses the fixed header and walks the extension headers.
///
/// # Errors
/// A [`DecodeError`] with offsets relative to the IPv6 header.
/// A packet cut short, as an ICMPv6 error quotes one: its bytes with the payload length made
/// what is there (so that it decodes), and the whole packet's length its header declared.
/// `None` for what is not an IPv6 header.
#[must_use]
pub fn uncut(b: &[u8]) -> Option<(Vec<u8>, usize)> {
    if b.len() < field::HEADER_LEN || b[0] >> 4 != 6 {
        return None;
    }
    let declared = field::HEADER_LEN + usize::from(be16(b, field::PAYLOAD_LEN.start));
    let have = u16::try_from(b.len() - field::HEADER_LEN).ok()?;
    let mut v = b.to_vec();
    v[field::PAYLOAD_LEN].copy_from_slice(&have.to_be_bytes());
    Some((v, declared))
}

pub fn parse(b: &[u8]) -> Result<Ipv6Packet, DecodeError> {
    if b.len() < field::HEADER_LEN {
        return Err(DecodeError::Truncated {
            layer: Layer::Ipv6,
            field: first_cut(&FIELDS, b.len()),
            needed: field::HEADER_LEN,
            available: b.len(),
        });
    }
    if b[0] >> 4 != 6 {
        return Err(DecodeError::Invalid {
            layer: Layer::Ipv6,
            field: "Version",
            offset: 0,
            value: (b[0] >> 4).to_string(),
            why: "an IPv6 packet has version 6",
        });
    }
    let end = field::HEADER_LEN + usize::from(be16(b, field::PAYLOAD_LEN.start));
    if end > b.len() {
        return Err(DecodeError::Truncated {
            layer: Layer::Ipv6,
            field: "Payload length",
            needed: end,
            available: b.len(),
        });
    }
    walk(b, end)
}

/// A packet the capture cut short (a snapshot length): the fixed header and any extension
/// headers are whole, the payload is what was captured, shorter than the Payload length says.
/// Its [`Ipv6Packet::end`] is the end of the captured bytes; [`declared_len`] still says how
/// long the packet was. `None` for anything else (a whole packet, or one cut inside a header).
#[must_use]
pub fn parse_cut(b: &[u8]) -> Option<Ipv6Packet> {
    let declared = declared_len(b)?;
    if b.len() < field::HEADER_LEN || b[0] >> 4 != 6 || declared <= b.len() {
        return None;
    }
    walk(b, b.len()).ok()
}

/// The packet's length as its header declares it (40 + Payload length), when the bytes hold
/// that field.
#[must_use]
pub fn declared_len(b: &[u8]) -> Option<usize> {
    let len = b.get(field::PAYLOAD_LEN)?;
    Some(field::HEADER_LEN + usize::from(u16::from_be_bytes([len[0], len[1]])))
}

/// The extension headers from byte 40 up to `end`, and the packet they make.
/// (Called on at least the fixed header's 40 bytes.)
fn walk(b: &[u8], end: usize) -> Result<Ipv6Packet, DecodeError> {
    let addr = |r: Range<usize>| {
        let mut a = [0u8; 16];
        a.copy_from_slice(&b[r]);
        Ipv6Addr::from(a)
    };
    let mut next = b[field::NEXT_HEADER.start];
    let mut at = field::HEADER_LEN;
    let mut extensions = Vec::new();
    while matches!(next, 0 | 43 | 44 | 51 | 60) {
        let len = match (next, b.get(at + 1)) {
            (_, None) => {
                return Err(DecodeError::Truncated {
                    layer: Layer::Ipv6,
                    field: extension_name(next),
                    needed: at + 2,
                    available: end.min(b.len()),
                })
            }
            (44, Some(_)) => 8,
            (51, Some(l)) => (usize::from(*l) + 2) * 4,
            (_, Some(l)) => (usize::from(*l) + 1) * 8,
        };
        if at + len > end {
            return Err(DecodeError::Truncated {
                layer: Layer::Ipv6,
                field: extension_name(next),
                needed: at + len,
                available: end,
            });
        }
        let following = b[at];
        extensions.push(Extension {
            kind: next,
            bytes: at..at + len,
            next: following,
        });
        next = following;
        at += len;
    }
    Ok(Ipv6Packet {
        source: addr(field::SOURCE),
        destination: addr(field::DESTINATION),
        traffic_class: (b[0] << 4) | (b[1] >> 4),
        flow_label: u32::from_be_bytes([0, b[1] & 0x0f, b[2], b[3]]),
        hop_limit: b[field::HOP_LIMIT.start],
        protocol: IpProtocol::from(next),
        upper: at,
        end,
        extensions,
    })
}

/// [`fields`]' keys, bytes and values without the displays (see [`RawField`]), for a header
/// without extension headers (those only [`fields`] walks).
pub fn raw_fields<'a>(b: &'a [u8], base: usize, out: &mut Vec<RawField<'a>>) {
    table_raw(&FIELDS, Layer::Ipv6, b, base, out, |_, _, _| None);
}

/// The fields of the fixed header at absolute offset `base`, then one row per extension header.
#[must_use]
pub fn fields(b: &[u8], base: usize, extensions: &[Extension]) -> Vec<Field> {
    let mut out = table_fields(&FIELDS, b, base, |key, raw, bytes| match key {
        "ipv6.src" | "ipv6.dst" => {
            let a: [u8; 16] = bytes.try_into().ok()?;
            Some((Value::Bytes(bytes.to_vec()), Ipv6Addr::from(a).to_string()))
        }
        "ipv6.nxt" => Some((
            Value::Number(raw),
            format!("{raw} ({})", next_name(raw as u8)),
        )),
        "ipv6.tclass" | "ipv6.flow" => Some((
            Value::Number(raw),
            format!("0x{raw:0w$x}", w = if key == "ipv6.flow" { 5 } else { 2 }),
        )),
        _ => None,
    });
    for e in extensions {
        out.push(Field {
            name: format!("{} header", extension_name(e.kind)).into(),
            key: extension_key(e.kind).into(),
            bytes: base + e.bytes.start..base + e.bytes.end,
            mask: None,
            value: Value::Number(u64::from(e.next)),
            display: format!(
                "next header {} ({}), {} bytes",
                e.next,
                next_name(e.next),
                e.bytes.len()
            ),
            meaning: "an extension header, walked to find the upper layer".into(),
        });
    }
    out
}

fn next_name(n: u8) -> &'static str {
    match n {
        0 | 43 | 44 | 51 | 60 => extension_name(n),
        59 => "no next header",
        _ => IpProtocol::from(n).name(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(next: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0, 0, payload.len() as u8, next, 64];
        p.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        p.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn walks_extension_headers() {
        // Hop-by-hop (8 bytes) announcing a fragment header (8 bytes) announcing UDP.
        let mut payload = vec![44, 0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0, 1];
        payload.extend_from_slice(&[0; 8]);
        let p = parse(&packet(0, &payload)).unwrap();
        assert_eq!(p.protocol, IpProtocol::Udp);
        assert_eq!(p.upper, 56);
        assert_eq!(p.extensions.len(), 2);
        let f = fields(&packet(0, &payload), 14, &p.extensions);
        assert_eq!(f.last().unwrap().key, "ipv6.fraghdr.nxt");
        assert_eq!(f[6].display, "::1");
    }

    #[test]
    fn truncated_and_invalid() {
        let p = packet(6, &[0; 20]);
        for len in 0..p.len() {
            assert!(parse(&p[..len]).is_err(), "{len}");
        }
        let mut v = p.clone();
        v[0] = 0x40;
        assert!(parse(&v).unwrap_err().to_string().contains("version 6"));
        let cut_ext = packet(0, &[6, 5, 0, 0]);
        assert!(parse(&cut_ext)
            .unwrap_err()
            .to_string()
            .contains("Hop-by-Hop"));
    }
}
