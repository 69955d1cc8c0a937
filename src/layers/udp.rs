//! UDP (RFC 768).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Source Port          |       Destination Port        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |            Length             |           Checksum            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::{be16, first_cut, table_fields, DecodeError, Field, FieldSpec, Layer, Value};
use crate::checksum;

/// Byte ranges relative to the start of the header.
pub mod field {
    use std::ops::Range;
    /// Source port.
    pub const SRC_PORT: Range<usize> = 0..2;
    /// Destination port.
    pub const DST_PORT: Range<usize> = 2..4;
    /// Length of header + payload.
    pub const LENGTH: Range<usize> = 4..6;
    /// Checksum (0 = none, over IPv4).
    pub const CHECKSUM: Range<usize> = 6..8;
    /// Length of the header.
    pub const HEADER_LEN: usize = CHECKSUM.end;
}

/// The field table.
pub const FIELDS: [FieldSpec; 4] = [
    FieldSpec {
        name: "Source port",
        key: "udp.srcport",
        bytes: field::SRC_PORT,
        mask: None,
        meaning: "the sending socket's port",
    },
    FieldSpec {
        name: "Destination port",
        key: "udp.dstport",
        bytes: field::DST_PORT,
        mask: None,
        meaning: "the receiving socket's port",
    },
    FieldSpec {
        name: "Length",
        key: "udp.length",
        bytes: field::LENGTH,
        mask: None,
        meaning: "bytes of UDP header + payload",
    },
    FieldSpec {
        name: "Checksum",
        key: "udp.checksum",
        bytes: field::CHECKSUM,
        mask: None,
        meaning: "RFC 1071 sum over pseudo-header, header and payload (0 = not computed)",
    },
];

/// Checks the length field and returns (source port, destination port, payload).
///
/// # Errors
/// A [`DecodeError`] with offsets relative to the header.
pub fn parse(b: &[u8]) -> Result<(u16, u16, &[u8]), DecodeError> {
    if b.len() < field::HEADER_LEN {
        return Err(DecodeError::Truncated {
            layer: Layer::Udp,
            field: first_cut(&FIELDS, b.len()),
            needed: field::HEADER_LEN,
            available: b.len(),
        });
    }
    let len = usize::from(be16(b, field::LENGTH.start));
    if len < field::HEADER_LEN {
        return Err(DecodeError::Invalid {
            layer: Layer::Udp,
            field: "Length",
            offset: field::LENGTH.start,
            value: len.to_string(),
            why: "shorter than the 8-byte header",
        });
    }
    if len > b.len() {
        return Err(DecodeError::Truncated {
            layer: Layer::Udp,
            field: "Length",
            needed: len,
            available: b.len(),
        });
    }
    Ok((be16(b, 0), be16(b, 2), &b[field::HEADER_LEN..len]))
}

/// As [`parse`] for the first fragment of a datagram (IP offset 0, more fragments follow): the
/// header is whole but its Length counts the whole datagram, so the data is what the fragment
/// holds, up to that length.
///
/// # Errors
/// A header cut short, or a Length below 8.
pub fn parse_first_fragment(b: &[u8]) -> Result<(u16, u16, &[u8]), DecodeError> {
    match parse(b) {
        Err(DecodeError::Truncated {
            field: "Length", ..
        }) => Ok((
            be16(b, 0),
            be16(b, 2),
            b.get(field::HEADER_LEN..).unwrap_or_default(),
        )),
        other => other,
    }
}

/// The Length field less the header: the data bytes of the whole datagram, when `b` holds at
/// least the header.
#[must_use]
pub fn data_len(b: &[u8]) -> Option<usize> {
    let len = usize::from(u16::from_be_bytes([*b.get(4)?, *b.get(5)?]));
    len.checked_sub(field::HEADER_LEN)
}

/// The datagram's fields at absolute offset `base`; `addrs` are the IP addresses, for the
/// checksum verdict.
#[must_use]
pub fn fields(b: &[u8], base: usize, addrs: Option<checksum::Pseudo>) -> Vec<Field> {
    table_fields(&FIELDS, b, base, |key, raw, _| {
        (key == "udp.checksum")
            .then(|| (Value::Number(raw), checksum_display(b, raw as u16, addrs)))
    })
}

fn checksum_display(b: &[u8], found: u16, addrs: Option<checksum::Pseudo>) -> String {
    let datagram = b.get(..usize::from(be16(b, field::LENGTH.start)));
    let (Some(addrs), Some(d)) = (addrs, datagram.filter(|d| d.len() >= field::HEADER_LEN)) else {
        return format!("0x{found:04x}");
    };
    if found == 0 {
        return match addrs {
            checksum::Pseudo::V4(..) => {
                "0x0000 [none: the sender did not compute one, as UDP over IPv4 allows]".into()
            }
            checksum::Pseudo::V6(..) => {
                "0x0000 [incorrect: UDP over IPv6 must carry a checksum]".into()
            }
        };
    }
    let pseudo = addrs.sum(17, d.len());
    if checksum::fold(checksum::add(pseudo, d)) == 0xffff {
        return format!("0x{found:04x} [correct]");
    }
    let partial = checksum::fold(pseudo);
    if found == partial {
        return format!("0x{found:04x} [partial: pseudo-header sum left for checksum offload]");
    }
    let sum = checksum::add(
        checksum::add(pseudo, &d[..field::CHECKSUM.start]),
        &d[field::CHECKSUM.end..],
    );
    let expected = match !checksum::fold(sum) {
        0 => 0xffff,
        c => c,
    };
    format!("0x{found:04x} [incorrect, should be 0x{expected:04x}]")
}

/// Writes a UDP header for `payload` into `out[..8]` (the payload must follow it in `out`) and its
/// checksum over the pseudo-header `addrs`: the full one, or with `offload` the folded
/// pseudo-header sum Linux leaves for a device that offloads checksums (`lo`:
/// `udp4_hwcsum`/`udp6_set_csum` with CHECKSUM_PARTIAL). A full checksum that comes out 0 is
/// written 0xffff (RFC 768: 0 means none). Returns the checksum written.
///
/// # Panics
/// If `out` is shorter than the header plus `payload_len`, or the datagram exceeds 65535 bytes.
pub fn emit(
    out: &mut [u8],
    src_port: u16,
    dst_port: u16,
    payload_len: usize,
    addrs: checksum::Pseudo,
    offload: bool,
) -> u16 {
    let len = field::HEADER_LEN + payload_len;
    let len16 = u16::try_from(len).expect("a UDP datagram fits 65535 bytes");
    out[field::SRC_PORT].copy_from_slice(&src_port.to_be_bytes());
    out[field::DST_PORT].copy_from_slice(&dst_port.to_be_bytes());
    out[field::LENGTH].copy_from_slice(&len16.to_be_bytes());
    out[field::CHECKSUM].copy_from_slice(&[0, 0]);
    let pseudo = addrs.sum(17, len);
    let c = if offload {
        checksum::fold(pseudo)
    } else {
        match !checksum::fold(checksum::add(pseudo, &out[..len])) {
            0 => 0xffff,
            c => c,
        }
    };
    out[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn parse_checks_length() {
        let d = [0x13, 0x88, 0x00, 0x35, 0x00, 0x0a, 0, 0, b'h', b'i', 0xee];
        let (s, t, p) = parse(&d).unwrap();
        assert_eq!((s, t, p), (5000, 53, &b"hi"[..]));
        let mut short = d;
        short[5] = 4;
        assert!(parse(&short)
            .unwrap_err()
            .to_string()
            .contains("Length at offset 4 is 4"));
        let mut long = d;
        long[5] = 20;
        assert!(matches!(
            parse(&long).unwrap_err(),
            DecodeError::Truncated {
                needed: 20,
                available: 11,
                ..
            }
        ));
        assert_eq!(fields(&d, 34, None)[3].display, "0x0000");
        let lo = Some((Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST).into());
        assert!(fields(&d, 34, lo)[3].display.contains("[none"));
        // With its checksum filled in, the datagram verifies.
        let mut good = d[..10].to_vec();
        let c = !checksum::fold(checksum::add(
            checksum::pseudo_header_v4(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, 17, 10),
            &good,
        ));
        good[6..8].copy_from_slice(&c.to_be_bytes());
        assert!(
            fields(&good, 34, lo)[3].display.ends_with("[correct]"),
            "{}",
            fields(&good, 34, lo)[3].display
        );
        good[9] ^= 1;
        assert!(fields(&good, 34, lo)[3]
            .display
            .contains("[incorrect, should be"));
    }
}
