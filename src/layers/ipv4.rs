//! IPv4 (RFC 791).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version|  IHL  |   DSCP    |ECN|          Total Length         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Identification        |Flags|      Fragment Offset    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Time to Live |    Protocol   |         Header Checksum       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       Source Address                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Destination Address                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Options                    |    Padding    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! DSCP and ECN are RFC 2474 and RFC 3168's split of the old Type of Service byte.

use std::net::Ipv4Addr;

use super::{
    be16, first_cut, need, table_raw, DecodeError, Field, FieldSpec, Layer, RawField, RawValue,
    Value,
};
use crate::checksum;

/// Byte ranges of the header fields, relative to the start of the header.
pub mod field {
    use std::ops::Range;
    /// Version (high nibble) and IHL (low nibble).
    pub const VER_IHL: Range<usize> = 0..1;
    /// DSCP (high 6 bits) and ECN (low 2 bits).
    pub const DS_ECN: Range<usize> = 1..2;
    /// Total length of header + payload.
    pub const TOTAL_LEN: Range<usize> = 2..4;
    /// Identification.
    pub const IDENT: Range<usize> = 4..6;
    /// Flags (3 bits) and fragment offset (13 bits).
    pub const FLG_OFF: Range<usize> = 6..8;
    /// Time to live.
    pub const TTL: Range<usize> = 8..9;
    /// Protocol of the payload.
    pub const PROTOCOL: Range<usize> = 9..10;
    /// Header checksum.
    pub const CHECKSUM: Range<usize> = 10..12;
    /// Source address.
    pub const SOURCE: Range<usize> = 12..16;
    /// Destination address.
    pub const DESTINATION: Range<usize> = 16..20;
    /// Length of the header without options.
    pub const HEADER_LEN: usize = DESTINATION.end;
    /// Longest header (IHL 15).
    pub const MAX_HEADER_LEN: usize = 60;
    /// Don't Fragment, in the 16 bits of `FLG_OFF`.
    pub const FLG_DF: u16 = 0x4000;
    /// More Fragments.
    pub const FLG_MF: u16 = 0x2000;
    /// Reserved (evil) bit.
    pub const FLG_RESERVED: u16 = 0x8000;
    /// Fragment offset mask, in 8-byte units.
    pub const OFFSET_MASK: u16 = 0x1fff;
}

/// Wireshark's display-filter names of this layer's fields: the keys of its field table, which
/// the model's verdict rules and the renderers name instead of spelling the strings.
pub mod key {
    /// `ip.version`.
    pub const VERSION: &str = "ip.version";
    /// `ip.hdr_len`.
    pub const HDR_LEN: &str = "ip.hdr_len";
    /// `ip.dsfield.dscp`.
    pub const DSCP: &str = "ip.dsfield.dscp";
    /// `ip.dsfield.ecn`.
    pub const ECN: &str = "ip.dsfield.ecn";
    /// `ip.len`.
    pub const LEN: &str = "ip.len";
    /// `ip.id`.
    pub const ID: &str = "ip.id";
    /// `ip.flags.rb`.
    pub const FLAG_RB: &str = "ip.flags.rb";
    /// `ip.flags.df`.
    pub const FLAG_DF: &str = "ip.flags.df";
    /// `ip.flags.mf`.
    pub const FLAG_MF: &str = "ip.flags.mf";
    /// `ip.frag_offset`.
    pub const FRAG_OFFSET: &str = "ip.frag_offset";
    /// `ip.ttl`.
    pub const TTL: &str = "ip.ttl";
    /// `ip.proto`.
    pub const PROTO: &str = "ip.proto";
    /// `ip.checksum`.
    pub const CHECKSUM: &str = "ip.checksum";
    /// `ip.src`.
    pub const SRC: &str = "ip.src";
    /// `ip.dst`.
    pub const DST: &str = "ip.dst";
}

/// The field table, in header order. Options follow as one row when present.
pub const FIELDS: [FieldSpec; 15] = [
    FieldSpec {
        name: "Version",
        key: key::VERSION,
        bytes: field::VER_IHL,
        mask: Some(0xf0),
        meaning: "IP version: 4",
    },
    FieldSpec {
        name: "Header length",
        key: key::HDR_LEN,
        bytes: field::VER_IHL,
        mask: Some(0x0f),
        meaning: "IHL, in 32-bit words: 5 = 20 bytes, no options",
    },
    FieldSpec {
        name: "DSCP",
        key: key::DSCP,
        bytes: field::DS_ECN,
        mask: Some(0xfc),
        meaning: "Differentiated Services code point: queueing class (0 = best effort)",
    },
    FieldSpec {
        name: "ECN",
        key: key::ECN,
        bytes: field::DS_ECN,
        mask: Some(0x03),
        meaning: "Explicit Congestion Notification (0 = not ECN-capable)",
    },
    FieldSpec {
        name: "Total length",
        key: key::LEN,
        bytes: field::TOTAL_LEN,
        mask: None,
        meaning: "bytes of IP header + TCP header + payload",
    },
    FieldSpec {
        name: "Identification",
        key: key::ID,
        bytes: field::IDENT,
        mask: None,
        meaning: "per-socket packet counter, for reassembling fragments",
    },
    FieldSpec {
        name: "Reserved bit",
        key: key::FLAG_RB,
        bytes: field::FLG_OFF,
        mask: Some(field::FLG_RESERVED as u32),
        meaning: "must be 0",
    },
    FieldSpec {
        name: "Don't fragment",
        key: key::FLAG_DF,
        bytes: field::FLG_OFF,
        mask: Some(field::FLG_DF as u32),
        meaning: "routers must not fragment; Linux sets it for path MTU discovery",
    },
    FieldSpec {
        name: "More fragments",
        key: key::FLAG_MF,
        bytes: field::FLG_OFF,
        mask: Some(field::FLG_MF as u32),
        meaning: "more fragments of this packet follow",
    },
    FieldSpec {
        name: "Fragment offset",
        key: key::FRAG_OFFSET,
        bytes: field::FLG_OFF,
        mask: Some(field::OFFSET_MASK as u32),
        meaning: "where this fragment's data goes, in 8-byte units",
    },
    FieldSpec {
        name: "Time to live",
        key: key::TTL,
        bytes: field::TTL,
        mask: None,
        meaning: "hops left before a router discards the packet (Linux starts at 64)",
    },
    FieldSpec {
        name: "Protocol",
        key: key::PROTO,
        bytes: field::PROTOCOL,
        mask: None,
        meaning: "which protocol the payload is (6 = TCP)",
    },
    FieldSpec {
        name: "Header checksum",
        key: key::CHECKSUM,
        bytes: field::CHECKSUM,
        mask: None,
        meaning: "RFC 1071 checksum of this header only",
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

/// The options row, placed after the fixed header.
pub const OPTIONS_FIELD: FieldSpec = FieldSpec {
    name: "Options",
    key: "ip.opt.type",
    bytes: field::HEADER_LEN..field::HEADER_LEN,
    mask: None,
    meaning: "IP options, padded to a multiple of 4 bytes (keyed by the first option's type)",
};

/// IP protocol numbers. Never fails: unknown values are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpProtocol {
    /// 1
    Icmp,
    /// 6
    Tcp,
    /// 17
    Udp,
    /// 58
    Icmpv6,
    /// Anything else.
    Unknown(u8),
}

impl From<u8> for IpProtocol {
    fn from(v: u8) -> Self {
        match v {
            1 => IpProtocol::Icmp,
            6 => IpProtocol::Tcp,
            17 => IpProtocol::Udp,
            58 => IpProtocol::Icmpv6,
            other => IpProtocol::Unknown(other),
        }
    }
}

impl From<IpProtocol> for u8 {
    fn from(p: IpProtocol) -> u8 {
        match p {
            IpProtocol::Icmp => 1,
            IpProtocol::Tcp => 6,
            IpProtocol::Udp => 17,
            IpProtocol::Icmpv6 => 58,
            IpProtocol::Unknown(v) => v,
        }
    }
}

/// IPv6's "no next header" (59), as an IP protocol number.
pub const NO_NEXT_HEADER: u8 = 59;

impl IpProtocol {
    /// The protocol's name, or `unknown`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            IpProtocol::Icmp => "ICMP",
            IpProtocol::Tcp => "TCP",
            IpProtocol::Udp => "UDP",
            IpProtocol::Icmpv6 => "ICMPv6",
            // IPv6-NoNxt (RFC 8200 4.7): nothing follows; any bytes after are ignored.
            IpProtocol::Unknown(NO_NEXT_HEADER) => "no next header",
            IpProtocol::Unknown(_) => "unknown",
        }
    }
}

/// A read-only view of an IPv4 packet whose lengths have been checked: no accessor panics.
#[derive(Debug, Clone, Copy)]
pub struct Ipv4Packet<'a> {
    bytes: &'a [u8],
}

impl<'a> Ipv4Packet<'a> {
    /// Checks the version and every length (IHL against the bytes and the total length, the total
    /// length against the bytes) and returns the view. Bytes after the total length (Ethernet
    /// padding) are not part of the packet.
    ///
    /// # Errors
    /// A [`DecodeError`] naming the field; offsets are relative to `bytes`.
    #[inline]
    pub fn new_checked(bytes: &'a [u8]) -> Result<Ipv4Packet<'a>, DecodeError> {
        if bytes.len() < field::HEADER_LEN {
            return Err(DecodeError::Truncated {
                layer: Layer::Ipv4,
                field: first_cut(&FIELDS, bytes.len()),
                needed: field::HEADER_LEN,
                available: bytes.len(),
            });
        }
        let version = bytes[0] >> 4;
        if version != 4 {
            return Err(invalid(
                "Version",
                0,
                version.to_string(),
                "an IPv4 packet has version 4",
            ));
        }
        let header_len = usize::from(bytes[0] & 0x0f) * 4;
        if header_len < field::HEADER_LEN {
            return Err(invalid(
                "Header length",
                0,
                format!("{} ({header_len} bytes)", header_len / 4),
                "IHL must be at least 5 (20 bytes)",
            ));
        }
        need(bytes, header_len, Layer::Ipv4, "Options")?;
        let total = usize::from(be16(bytes, field::TOTAL_LEN.start));
        if total < header_len {
            return Err(invalid(
                "Total length",
                field::TOTAL_LEN.start,
                total.to_string(),
                "shorter than the header length",
            ));
        }
        if total > bytes.len() {
            return Err(DecodeError::Truncated {
                layer: Layer::Ipv4,
                field: "Total length",
                needed: total,
                available: bytes.len(),
            });
        }
        Ok(Ipv4Packet {
            bytes: &bytes[..total],
        })
    }

    /// The whole packet, header and payload, without any padding that followed it.
    #[must_use]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
    /// Header length in bytes.
    #[must_use]
    pub fn header_len(&self) -> usize {
        usize::from(self.bytes[0] & 0x0f) * 4
    }
    /// The header bytes, options included.
    #[must_use]
    pub fn header(&self) -> &'a [u8] {
        &self.bytes[..self.header_len()]
    }
    /// The payload.
    #[must_use]
    pub fn payload(&self) -> &'a [u8] {
        &self.bytes[self.header_len()..]
    }
    /// Total length field.
    #[must_use]
    pub fn total_len(&self) -> u16 {
        be16(self.bytes, field::TOTAL_LEN.start)
    }
    /// Identification field.
    #[must_use]
    pub fn identification(&self) -> u16 {
        be16(self.bytes, field::IDENT.start)
    }
    /// Differentiated services code point: the upper six bits of the second byte.
    #[must_use]
    pub fn dscp(&self) -> u8 {
        self.bytes[field::DS_ECN.start] >> 2
    }
    /// Explicit congestion notification: the lower two bits of the second byte.
    #[must_use]
    pub fn ecn(&self) -> u8 {
        self.bytes[field::DS_ECN.start] & 0x03
    }
    /// Time to live.
    #[must_use]
    pub fn ttl(&self) -> u8 {
        self.bytes[field::TTL.start]
    }
    /// The Don't Fragment flag.
    #[must_use]
    pub fn dont_fragment(&self) -> bool {
        be16(self.bytes, field::FLG_OFF.start) & field::FLG_DF != 0
    }
    /// The More Fragments flag.
    #[must_use]
    pub fn more_fragments(&self) -> bool {
        be16(self.bytes, field::FLG_OFF.start) & field::FLG_MF != 0
    }
    /// The fragment offset, in bytes.
    #[must_use]
    pub fn fragment_offset(&self) -> usize {
        usize::from(be16(self.bytes, field::FLG_OFF.start) & field::OFFSET_MASK) * 8
    }
    /// Protocol field.
    #[must_use]
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol::from(self.bytes[field::PROTOCOL.start])
    }
    /// Source address.
    #[must_use]
    pub fn source(&self) -> Ipv4Addr {
        addr(self.bytes, field::SOURCE.start)
    }
    /// Destination address.
    #[must_use]
    pub fn destination(&self) -> Ipv4Addr {
        addr(self.bytes, field::DESTINATION.start)
    }
    /// Header checksum field.
    #[must_use]
    pub fn checksum(&self) -> u16 {
        be16(self.bytes, field::CHECKSUM.start)
    }
    /// True when the header checksum verifies.
    #[must_use]
    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::add(0, self.header())) == 0xffff
    }
    /// The checksum the header should hold.
    #[must_use]
    pub fn correct_checksum(&self) -> u16 {
        let h = self.header();
        let sum = checksum::add(0, &h[..field::CHECKSUM.start]);
        !checksum::fold(checksum::add(sum, &h[field::CHECKSUM.end..]))
    }
}

/// Recomputes the header checksum of the IPv4 header at the start of `header` (after an edit),
/// as a sender writes it. Does nothing to bytes too short to be a header.
pub fn refresh_checksum(header: &mut [u8]) {
    let len = header
        .first()
        .map_or(0, |b| usize::from(b & 0x0f) * 4)
        .max(field::HEADER_LEN);
    let Some(h) = header.get_mut(..len) else {
        return;
    };
    h[field::CHECKSUM].fill(0);
    let sum = !checksum::fold(checksum::add(0, h));
    h[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
}

fn addr(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

fn invalid(field: &'static str, offset: usize, value: String, why: &'static str) -> DecodeError {
    DecodeError::Invalid {
        layer: Layer::Ipv4,
        field,
        offset,
        value,
        why,
    }
}

/// An IPv4 header as plain values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Header {
    /// Differentiated Services code point (6 bits).
    pub dscp: u8,
    /// Explicit Congestion Notification (2 bits).
    pub ecn: u8,
    /// Total length as parsed; `emit` computes it from the payload length it is given.
    pub total_len: u16,
    /// Identification.
    pub identification: u16,
    /// Don't Fragment.
    pub dont_fragment: bool,
    /// More Fragments.
    pub more_fragments: bool,
    /// Fragment offset in 8-byte units (13 bits).
    pub fragment_offset: u16,
    /// Time to live.
    pub ttl: u8,
    /// Protocol of the payload.
    pub protocol: IpProtocol,
    /// Header checksum as found (parse) or as written (emit fills it in).
    pub checksum: u16,
    /// Source address.
    pub source: Ipv4Addr,
    /// Destination address.
    pub destination: Ipv4Addr,
    /// Options, raw; a multiple of 4 bytes, at most 40.
    pub options: Vec<u8>,
}

impl Ipv4Header {
    /// Header length in bytes, options included.
    #[must_use]
    pub fn len(&self) -> usize {
        field::HEADER_LEN + self.options.len()
    }

    /// Never true: a header has at least 20 bytes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Reads the header of a checked packet.
    #[must_use]
    pub fn parse(p: &Ipv4Packet<'_>) -> Ipv4Header {
        let b = p.bytes;
        let flags = be16(b, field::FLG_OFF.start);
        Ipv4Header {
            dscp: b[1] >> 2,
            ecn: b[1] & 3,
            total_len: p.total_len(),
            identification: p.identification(),
            dont_fragment: flags & field::FLG_DF != 0,
            more_fragments: flags & field::FLG_MF != 0,
            fragment_offset: flags & field::OFFSET_MASK,
            ttl: b[field::TTL.start],
            protocol: p.protocol(),
            checksum: p.checksum(),
            source: p.source(),
            destination: p.destination(),
            options: p.header()[field::HEADER_LEN..].to_vec(),
        }
    }

    /// Writes the header into `out[..self.len()]` for a payload of `payload_len` bytes, computing
    /// the total length and the header checksum. Returns the checksum.
    ///
    /// # Panics
    /// If `out` is shorter than the header, or the options are not a multiple of 4 bytes of at
    /// most 40, or the total exceeds 65535 (the pipeline checks all three before it calls this).
    pub fn emit(&self, out: &mut [u8], payload_len: u16) -> u16 {
        let len = self.len();
        let total =
            u16::try_from(len + usize::from(payload_len)).expect("IPv4 total length fits 16 bits");
        assert!(
            self.options.len() % 4 == 0 && len <= field::MAX_HEADER_LEN,
            "IPv4 options must be 4-byte words, at most 40 bytes"
        );
        let out = &mut out[..len];
        let ver_ihl_tos =
            u16::from_be_bytes([0x40 | (len / 4) as u8, (self.dscp << 2) | (self.ecn & 3)]);
        let mut flags = self.fragment_offset & field::OFFSET_MASK;
        if self.dont_fragment {
            flags |= field::FLG_DF;
        }
        if self.more_fragments {
            flags |= field::FLG_MF;
        }
        let ttl_proto = u16::from_be_bytes([self.ttl, self.protocol.into()]);
        let (src, dst) = (self.source.octets(), self.destination.octets());
        // The checksum is summed from the values, not read back from the bytes just written
        // (reading narrow stores back with wide loads stalls on store-to-load forwarding).
        let words = [
            ver_ihl_tos,
            total,
            self.identification,
            flags,
            ttl_proto,
            u16::from_be_bytes([src[0], src[1]]),
            u16::from_be_bytes([src[2], src[3]]),
            u16::from_be_bytes([dst[0], dst[1]]),
            u16::from_be_bytes([dst[2], dst[3]]),
        ];
        let sum = words
            .iter()
            .fold(checksum::add(0, &self.options), |a, w| a + u64::from(*w));
        let c = !checksum::fold(sum);
        out[0..2].copy_from_slice(&ver_ihl_tos.to_be_bytes());
        out[field::TOTAL_LEN].copy_from_slice(&total.to_be_bytes());
        out[field::IDENT].copy_from_slice(&self.identification.to_be_bytes());
        out[field::FLG_OFF].copy_from_slice(&flags.to_be_bytes());
        out[field::TTL.start..field::PROTOCOL.end].copy_from_slice(&ttl_proto.to_be_bytes());
        out[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
        out[field::SOURCE].copy_from_slice(&src);
        out[field::DESTINATION].copy_from_slice(&dst);
        out[field::HEADER_LEN..].copy_from_slice(&self.options);
        c
    }
}

/// [`fields`]' keys, bytes and values without the displays (see [`RawField`]).
pub fn raw_fields<'a>(header: &'a [u8], base: usize, out: &mut Vec<RawField<'a>>) {
    table_raw(
        &FIELDS,
        Layer::Ipv4,
        header,
        base,
        out,
        |key, raw, bytes| match key {
            "ip.hdr_len" => Some(RawValue::Number(raw * 4)),
            "ip.src" | "ip.dst" => Some(RawValue::Bytes(bytes)),
            _ => None,
        },
    );
    let header_len = header.first().map_or(0, |b| usize::from(b & 0x0f) * 4);
    if header_len > field::HEADER_LEN {
        if let Some(opts) = header.get(field::HEADER_LEN..header_len) {
            out.push(RawField {
                layer: Layer::Ipv4,
                key: OPTIONS_FIELD.key,
                bytes: base + OPTIONS_FIELD.bytes.start..base + header_len,
                value: RawValue::Number(u64::from(opts[0])),
            });
        }
    }
}

/// The fields of the IPv4 header in `header` (at least 20 bytes, as many as IHL says when
/// whole), which starts at absolute offset `base`.
#[must_use]
pub fn fields(header: &[u8], base: usize) -> Vec<Field> {
    let mut out = Vec::with_capacity(FIELDS.len() + 1);
    for spec in &FIELDS {
        let Some(raw) = spec.read(header) else { break };
        let (value, display) = match spec.key {
            "ip.hdr_len" => (
                Value::Number(raw * 4),
                format!("{} bytes (IHL {raw})", raw * 4),
            ),
            // Wireshark's value is the raw 13-bit field; the display says what it means.
            "ip.frag_offset" => (Value::Number(raw), format!("{} bytes ({raw} × 8)", raw * 8)),
            "ip.proto" => (
                Value::Number(raw),
                format!("{raw} ({})", IpProtocol::from(raw as u8).name()),
            ),
            "ip.checksum" => (Value::Number(raw), checksum_display(header, raw as u16)),
            "ip.flags.rb" | "ip.flags.df" | "ip.flags.mf" => (
                Value::Number(raw),
                if raw == 1 {
                    "Set".into()
                } else {
                    "Not set".into()
                },
            ),
            "ip.src" | "ip.dst" => {
                let b = &header[spec.bytes.clone()];
                (Value::Bytes(b.to_vec()), addr(b, 0).to_string())
            }
            _ => (Value::Number(raw), raw.to_string()),
        };
        out.push(Field::from_spec(spec, base, value, display));
    }
    let header_len = header.first().map_or(0, |b| usize::from(b & 0x0f) * 4);
    if header_len > field::HEADER_LEN {
        if let Some(opts) = header.get(field::HEADER_LEN..header_len) {
            let mut f = Field::from_spec(
                &OPTIONS_FIELD,
                base,
                Value::Number(u64::from(opts[0])),
                hex(opts),
            );
            f.bytes.end = base + header_len;
            out.push(f);
        }
    }
    out
}

fn checksum_display(header: &[u8], found: u16) -> String {
    match Ipv4Packet::new_checked_header(header) {
        Some(p) if p.verify_checksum() => format!("0x{found:04x} [correct]"),
        Some(p) => format!(
            "0x{found:04x} [incorrect, should be 0x{:04x}]",
            p.correct_checksum()
        ),
        None => format!("0x{found:04x}"),
    }
}

/// The packet's length as its header declares it (Total length), when the bytes hold that
/// field: also of a header cut short.
#[must_use]
pub fn declared_len(b: &[u8]) -> Option<usize> {
    let len = b.get(field::TOTAL_LEN)?;
    Some(usize::from(u16::from_be_bytes([len[0], len[1]])))
}

impl<'a> Ipv4Packet<'a> {
    /// A view over a packet the capture cut short: the header is whole and valid, the payload
    /// is what was captured (shorter than the Total length says). `None` otherwise. Its
    /// [`Ipv4Packet::total_len`] still says how long the packet was.
    #[must_use]
    pub fn new_cut(bytes: &'a [u8]) -> Option<Ipv4Packet<'a>> {
        let len = usize::from(bytes.first()? & 0x0f) * 4;
        let total = declared_len(bytes)?;
        (bytes[0] >> 4 == 4
            && len >= field::HEADER_LEN
            && bytes.len() >= len
            && total > bytes.len()
            && total >= len)
            .then_some(Ipv4Packet { bytes })
    }

    /// A view over a header alone (no payload), for checking its checksum; `None` when the bytes
    /// do not hold the whole header.
    fn new_checked_header(header: &'a [u8]) -> Option<Ipv4Packet<'a>> {
        let len = usize::from(header.first()? & 0x0f) * 4;
        (len >= field::HEADER_LEN && header.len() >= len).then_some(Ipv4Packet { bytes: header })
    }
}

/// Hex bytes separated by spaces.
pub(crate) fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From a real `lo` capture: 127.0.0.1 -> 127.0.0.1, TCP, 58 bytes total, ID 22692, DF.
    static HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x3a, 0x58, 0xa4, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, 0x7f, 0x00, 0x00,
        0x01, 0x7f, 0x00, 0x00, 0x01,
    ];

    fn packet() -> Vec<u8> {
        let mut p = HEADER.to_vec();
        let c = checksum::of(&p);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p.resize(58, 0xaa);
        p
    }

    #[test]
    fn deconstruct() {
        let bytes = packet();
        let p = Ipv4Packet::new_checked(&bytes).unwrap();
        assert!(p.verify_checksum());
        let h = Ipv4Header::parse(&p);
        assert_eq!((h.total_len, h.identification, h.ttl), (58, 22692, 64));
        assert!(h.dont_fragment && !h.more_fragments);
        assert_eq!(h.protocol, IpProtocol::Tcp);
        assert_eq!(p.payload().len(), 38);
    }

    #[test]
    fn construct() {
        let bytes = packet();
        let h = Ipv4Header::parse(&Ipv4Packet::new_checked(&bytes).unwrap());
        let mut out = [0u8; 20];
        h.emit(&mut out, 38);
        assert_eq!(out[..], bytes[..20]);
    }

    #[test]
    fn padding_after_total_length_is_not_payload() {
        let mut bytes = packet();
        bytes.extend_from_slice(&[0; 6]);
        assert_eq!(Ipv4Packet::new_checked(&bytes).unwrap().payload().len(), 38);
    }

    #[test]
    fn truncated_and_invalid() {
        let bytes = packet();
        for len in 0..58 {
            let e = Ipv4Packet::new_checked(&bytes[..len]).unwrap_err();
            assert!(
                matches!(e, DecodeError::Truncated { layer: Layer::Ipv4, available, .. } if available == len),
                "{len}: {e}"
            );
        }
        let mut bad = bytes.clone();
        bad[0] = 0x44;
        let e = Ipv4Packet::new_checked(&bad).unwrap_err();
        assert!(e.to_string().contains("IHL must be at least 5"), "{e}");
        bad[0] = 0x65;
        assert!(Ipv4Packet::new_checked(&bad)
            .unwrap_err()
            .to_string()
            .contains("Version at offset 0 is 6"));
        let mut short_total = bytes.clone();
        short_total[2..4].copy_from_slice(&10u16.to_be_bytes());
        assert!(Ipv4Packet::new_checked(&short_total)
            .unwrap_err()
            .to_string()
            .contains("Total length at offset 2 is 10"));
    }

    #[test]
    fn field_table_reads_every_field() {
        let bytes = packet();
        let f = fields(&bytes[..20], 14);
        let get = |k: &str| f.iter().find(|x| x.key == k).unwrap();
        assert_eq!(get("ip.hdr_len").number(), Some(20));
        assert_eq!(get("ip.id").number(), Some(22692));
        assert_eq!(get("ip.flags.df").number(), Some(1));
        assert_eq!(get("ip.id").bytes, 18..20);
        assert_eq!(get("ip.src").display, "127.0.0.1");
        assert!(get("ip.checksum").display.ends_with("[correct]"));
    }
}
