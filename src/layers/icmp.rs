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
}

/// Wireshark's display-filter names of the fields the model's rules name.
pub mod key {
    /// ICMPv6's checksum.
    pub const V6_CHECKSUM: &str = "icmpv6.checksum";
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
}
