//! ICMP (RFC 792) and ICMPv6 (RFC 4443): the type, code and checksum that start every message.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Code      |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Rest of the message                        |
//! ```

use super::{first_cut, table_fields, DecodeError, Field, FieldSpec, Layer, Value};
use crate::checksum;

/// Byte ranges relative to the start of the message.
pub mod field {
    use std::ops::Range;
    /// Message type.
    pub const TYPE: Range<usize> = 0..1;
    /// Code within the type.
    pub const CODE: Range<usize> = 1..2;
    /// Checksum.
    pub const CHECKSUM: Range<usize> = 2..4;
    /// Length of the part decoded here.
    pub const HEADER_LEN: usize = CHECKSUM.end;
    /// ICMP's "fragmentation needed" (type 3 code 4, RFC 1191): the next-hop MTU, after two
    /// unused bytes.
    pub const NEXT_HOP_MTU: Range<usize> = 6..8;
    /// ICMPv6's "packet too big" (type 2, RFC 4443 §3.2): the MTU, 32 bits.
    pub const V6_MTU: Range<usize> = 4..8;
    /// Where the quoted packet starts in either message.
    pub const QUOTE: usize = 8;
}

/// Wireshark's display-filter names of the fields the model's rules name.
pub mod key {
    /// ICMPv6's checksum.
    pub const V6_CHECKSUM: &str = "icmpv6.checksum";
    /// The next-hop MTU of a "fragmentation needed".
    pub const MTU: &str = "icmp.mtu";
    /// The MTU of a "packet too big".
    pub const V6_MTU: &str = "icmpv6.mtu";
}

/// ICMP's destination unreachable type and its "fragmentation needed and DF set" code.
pub const FRAG_NEEDED: (u8, u8) = (3, 4);
/// ICMPv6's "packet too big" type.
pub const PACKET_TOO_BIG: u8 = 2;

/// The rest of a "fragmentation needed": unused, then the next-hop MTU (RFC 1191).
pub const FRAG_NEEDED_V4: [FieldSpec; 2] = [
    FieldSpec { name: "Unused", key: "icmp.unused", bytes: 4..6, mask: None, meaning: "zero" },
    FieldSpec { name: "Next-hop MTU", key: key::MTU, bytes: field::NEXT_HOP_MTU, mask: None, meaning: "the MTU of the link the router could not forward the packet onto (RFC 1191): the sender's path MTU from now on" },
];

/// The rest of a "packet too big": the MTU (RFC 4443).
pub const TOO_BIG_V6: [FieldSpec; 1] = [FieldSpec {
    name: "MTU",
    key: key::V6_MTU,
    bytes: field::V6_MTU,
    mask: None,
    meaning: "the MTU of the next-hop link: the sender's path MTU from now on",
}];

/// Whether the message `msg` says a packet was too big for the next hop: ICMP type 3 code 4,
/// or ICMPv6 type 2.
#[must_use]
pub fn is_too_big(msg: &[u8], layer: Layer) -> bool {
    match (layer, msg.first(), msg.get(1)) {
        (Layer::Icmpv6, Some(&t), _) => t == PACKET_TOO_BIG,
        (_, Some(&t), Some(&c)) => (t, c) == FRAG_NEEDED,
        _ => false,
    }
}

/// The MTU a "fragmentation needed" or "packet too big" announces, and the packet it quotes.
#[must_use]
pub fn too_big(msg: &[u8], layer: Layer) -> Option<(u32, &[u8])> {
    if !is_too_big(msg, layer) {
        return None;
    }
    let range = if layer == Layer::Icmpv6 {
        field::V6_MTU
    } else {
        field::NEXT_HOP_MTU
    };
    let mtu = msg
        .get(range)?
        .iter()
        .fold(0u32, |a, b| (a << 8) | u32::from(*b));
    Some((mtu, msg.get(field::QUOTE..)?))
}

/// A "fragmentation needed" (or, with `pseudo` the IPv6 addresses, a "packet too big")
/// announcing `mtu` and quoting `quoted`, its checksum filled in (ICMPv6's over the
/// pseudo-header).
#[must_use]
pub fn emit_too_big(mtu: u32, quoted: &[u8], pseudo: Option<checksum::Pseudo>) -> Vec<u8> {
    let mut m = vec![0u8; field::QUOTE];
    match pseudo {
        Some(_) => {
            m[field::TYPE.start] = PACKET_TOO_BIG;
            m[field::V6_MTU].copy_from_slice(&mtu.to_be_bytes());
        }
        None => {
            (m[field::TYPE.start], m[field::CODE.start]) = FRAG_NEEDED;
            let mtu = u16::try_from(mtu).unwrap_or(u16::MAX);
            m[field::NEXT_HOP_MTU].copy_from_slice(&mtu.to_be_bytes());
        }
    }
    m.extend_from_slice(quoted);
    let start = pseudo.map_or(0, |p| p.sum(58, m.len()));
    let sum = !checksum::fold(checksum::add(start, &m));
    m[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
    m
}

/// ICMP's field table.
pub const FIELDS_V4: [FieldSpec; 3] = [
    FieldSpec {
        name: "Type",
        key: "icmp.type",
        bytes: field::TYPE,
        mask: None,
        meaning: "0 echo reply, 3 unreachable, 8 echo request, 11 time exceeded",
    },
    FieldSpec {
        name: "Code",
        key: "icmp.code",
        bytes: field::CODE,
        mask: None,
        meaning: "detail within the type (for 3: 3 = port unreachable)",
    },
    FieldSpec {
        name: "Checksum",
        key: "icmp.checksum",
        bytes: field::CHECKSUM,
        mask: None,
        meaning: "RFC 1071 sum over the ICMP message",
    },
];

/// ICMPv6's field table.
pub const FIELDS_V6: [FieldSpec; 3] = [
    FieldSpec { name: "Type", key: "icmpv6.type", bytes: field::TYPE, mask: None, meaning: "1 unreachable, 128 echo request, 129 echo reply, 135/136 neighbor solicitation/advertisement" },
    FieldSpec { name: "Code", key: "icmpv6.code", bytes: field::CODE, mask: None, meaning: "detail within the type" },
    FieldSpec { name: "Checksum", key: key::V6_CHECKSUM, bytes: field::CHECKSUM, mask: None, meaning: "RFC 1071 sum over pseudo-header and message" },
];

/// The identifier and sequence number of an echo request or reply (RFC 792 types 8 and 0).
pub const ECHO_V4: [FieldSpec; 2] = [
    FieldSpec {
        name: "Identifier",
        key: "icmp.ident",
        bytes: 4..6,
        mask: None,
        meaning: "matches replies to requests (ping uses its process ID)",
    },
    FieldSpec {
        name: "Sequence number",
        key: "icmp.seq",
        bytes: 6..8,
        mask: None,
        meaning: "counts the requests",
    },
];

/// The same for ICMPv6 echo (RFC 4443 types 128 and 129).
pub const ECHO_V6: [FieldSpec; 2] = [
    FieldSpec {
        name: "Identifier",
        key: "icmpv6.echo.identifier",
        bytes: 4..6,
        mask: None,
        meaning: "matches replies to requests",
    },
    FieldSpec {
        name: "Sequence number",
        key: "icmpv6.echo.sequence_number",
        bytes: 6..8,
        mask: None,
        meaning: "counts the requests",
    },
];

/// Whether `t` is an echo request or reply, whose header goes on with identifier and sequence.
#[must_use]
pub fn is_echo(t: u8, layer: Layer) -> bool {
    if layer == Layer::Icmpv6 {
        matches!(t, 128 | 129)
    } else {
        matches!(t, 0 | 8)
    }
}

/// The header's length: 8 for an echo, 4 (type, code, checksum) for the rest, whose following
/// bytes depend on the type and are shown as data.
#[must_use]
pub fn header_len(t: u8, layer: Layer) -> usize {
    if is_echo(t, layer) {
        8
    } else {
        field::HEADER_LEN
    }
}

/// The name of an ICMP (v4) type.
#[must_use]
pub fn type_name_v4(t: u8) -> &'static str {
    match t {
        0 => "echo reply",
        3 => "destination unreachable",
        5 => "redirect",
        8 => "echo request",
        11 => "time exceeded",
        _ => "other",
    }
}

/// The name of an ICMPv6 type.
#[must_use]
pub fn type_name_v6(t: u8) -> &'static str {
    match t {
        1 => "destination unreachable",
        2 => "packet too big",
        3 => "time exceeded",
        128 => "echo request",
        129 => "echo reply",
        133 => "router solicitation",
        134 => "router advertisement",
        135 => "neighbor solicitation",
        136 => "neighbor advertisement",
        _ => "other",
    }
}

/// The header's length in `msg`, a whole message: [`header_len`], or for a neighbour
/// solicitation or advertisement its fixed part and options ([`super::ndp`]).
#[must_use]
pub fn message_header_len(msg: &[u8], layer: Layer) -> usize {
    match msg.first() {
        Some(&t) if layer == Layer::Icmpv6 && super::ndp::is_ndp(t) => super::ndp::header_len(msg),
        // (What follows is the quoted packet.)
        Some(_) if is_too_big(msg, layer) => field::QUOTE.min(msg.len()),
        Some(&t) => header_len(t, layer).min(msg.len()),
        None => 0,
    }
}

/// Returns (type, code).
///
/// # Errors
/// [`DecodeError::Truncated`] when fewer than 4 bytes.
pub fn parse(b: &[u8], layer: Layer) -> Result<(u8, u8), DecodeError> {
    if b.len() < field::HEADER_LEN {
        return Err(DecodeError::Truncated {
            layer,
            field: first_cut(&FIELDS_V4, b.len()),
            needed: field::HEADER_LEN,
            available: b.len(),
        });
    }
    Ok((b[0], b[1]))
}

/// The message's fields at absolute offset `base`; `layer` is `Icmp` or `Icmpv6`, `addrs` the
/// IP addresses (ICMPv6's checksum covers the IPv6 pseudo-header; ICMP's the message alone).
#[must_use]
pub fn fields(b: &[u8], base: usize, layer: Layer, addrs: Option<checksum::Pseudo>) -> Vec<Field> {
    let v6 = layer == Layer::Icmpv6;
    let table: &[FieldSpec] = if v6 { &FIELDS_V6 } else { &FIELDS_V4 };
    let pseudo = match (v6, addrs) {
        (false, _) => Some(0),
        (true, Some(a @ checksum::Pseudo::V6(..))) => Some(a.sum(58, b.len())),
        (true, _) => None,
    };
    let mut out = fixed_fields(table, b, base, v6, pseudo);
    if b.first().is_some_and(|t| is_echo(*t, layer)) {
        out.extend(table_fields(
            if v6 { &ECHO_V6 } else { &ECHO_V4 },
            b,
            base,
            |_, _, _| None,
        ));
    }
    if is_too_big(b, layer) {
        out.extend(table_fields(
            if v6 {
                &TOO_BIG_V6[..]
            } else {
                &FRAG_NEEDED_V4[..]
            },
            b,
            base,
            |_, _, _| None,
        ));
    }
    if v6 && b.first().is_some_and(|t| super::ndp::is_ndp(*t)) {
        out.extend(super::ndp::fields(b, base));
    }
    out
}

fn fixed_fields(
    table: &[FieldSpec],
    b: &[u8],
    base: usize,
    v6: bool,
    pseudo: Option<u64>,
) -> Vec<Field> {
    table_fields(table, b, base, |key, raw, _| {
        if key.ends_with(".type") {
            let name = if v6 {
                type_name_v6(raw as u8)
            } else {
                type_name_v4(raw as u8)
            };
            Some((Value::Number(raw), format!("{raw} ({name})")))
        } else if key.ends_with(".checksum") {
            let verdict = match pseudo {
                Some(start) if checksum::fold(checksum::add(start, b)) == 0xffff => {
                    " [correct]".to_string()
                }
                Some(start) => {
                    let sum = checksum::add(
                        checksum::add(start, &b[..field::CHECKSUM.start]),
                        b.get(field::CHECKSUM.end..).unwrap_or_default(),
                    );
                    format!(" [incorrect, should be 0x{:04x}]", !checksum::fold(sum))
                }
                None => String::new(),
            };
            Some((Value::Number(raw), format!("0x{raw:04x}{verdict}")))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request() {
        let m = [8, 0, 0xf7, 0xff, 0, 1];
        assert_eq!(parse(&m, Layer::Icmp).unwrap(), (8, 0));
        assert_eq!(
            fields(&m, 34, Layer::Icmp, None)[0].display,
            "8 (echo request)"
        );
        assert_eq!(
            fields(&[128, 0, 0, 0], 54, Layer::Icmpv6, None)[0].key,
            "icmpv6.type"
        );
        assert!(parse(&m[..3], Layer::Icmp).is_err());
        let f = fields(&m, 34, Layer::Icmp, None);
        assert_eq!((f[3].key.as_ref(), f[3].number()), ("icmp.ident", Some(1)));
        assert_eq!(header_len(8, Layer::Icmp), 8);
        assert_eq!(header_len(3, Layer::Icmp), 4);
    }

    #[test]
    fn fragmentation_needed_and_packet_too_big_carry_the_mtu_and_the_quote() {
        let quoted = [0x45, 0, 0x13, 0xbc];
        let m = emit_too_big(1400, &quoted, None);
        assert_eq!(parse(&m, Layer::Icmp).unwrap(), FRAG_NEEDED);
        assert_eq!(too_big(&m, Layer::Icmp), Some((1400, &quoted[..])));
        assert_eq!(message_header_len(&m, Layer::Icmp), 8);
        assert_eq!(checksum::fold(checksum::add(0, &m)), 0xffff);
        let f = fields(&m, 34, Layer::Icmp, None);
        let mtu = f.iter().find(|f| f.key == key::MTU).unwrap();
        assert_eq!((mtu.number(), mtu.bytes.clone()), (Some(1400), 40..42));
        assert!(f[2].display.ends_with("[correct]"), "{}", f[2].display);
        // A port unreachable (code 3) is not one.
        let mut port = m.clone();
        port[1] = 3;
        assert_eq!(too_big(&port, Layer::Icmp), None);
        let a: std::net::Ipv6Addr = "2001:db8:a::1".parse().unwrap();
        let b: std::net::Ipv6Addr = "2001:db8:a::10".parse().unwrap();
        let v6 = emit_too_big(1400, &quoted, Some(checksum::Pseudo::V6(a, b)));
        assert_eq!(too_big(&v6, Layer::Icmpv6), Some((1400, &quoted[..])));
        let f = fields(&v6, 54, Layer::Icmpv6, Some(checksum::Pseudo::V6(a, b)));
        assert!(f[2].display.ends_with("[correct]"), "{}", f[2].display);
        assert_eq!(
            f.iter().find(|f| f.key == key::V6_MTU).unwrap().number(),
            Some(1400)
        );
    }
}
