//! IEEE 802.1Q VLAN tag: four bytes after the source MAC, announced by EtherType 0x8100.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | PCP |D|        VLAN ID        |      EtherType of the payload  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//! (The TPID 0x8100 itself is the Ethernet header's Type field.)

use super::ethernet::EtherType;
use super::{be16, first_cut, table_fields, DecodeError, Field, FieldSpec, Layer, Value};

/// Byte ranges relative to the start of the tag (after the Ethernet header).
pub mod field {
    use std::ops::Range;
    /// Priority (3 bits), drop eligible (1 bit), VLAN ID (12 bits).
    pub const TCI: Range<usize> = 0..2;
    /// EtherType of the payload.
    pub const ETHERTYPE: Range<usize> = 2..4;
    /// Length of the tag.
    pub const HEADER_LEN: usize = ETHERTYPE.end;
}

/// The field table.
pub const FIELDS: [FieldSpec; 4] = [
    FieldSpec {
        name: "Priority",
        key: "vlan.priority",
        bytes: field::TCI,
        mask: Some(0xe000),
        meaning: "802.1p priority code point",
    },
    FieldSpec {
        name: "Drop eligible",
        key: "vlan.dei",
        bytes: field::TCI,
        mask: Some(0x1000),
        meaning: "may be dropped under congestion",
    },
    FieldSpec {
        name: "VLAN ID",
        key: "vlan.id",
        bytes: field::TCI,
        mask: Some(0x0fff),
        meaning: "which virtual LAN the frame belongs to",
    },
    FieldSpec {
        name: "Type",
        key: "vlan.etype",
        bytes: field::ETHERTYPE,
        mask: None,
        meaning: "which protocol the payload is",
    },
];

/// Parses a tag: the VLAN ID and the inner EtherType, with the bytes after the tag.
///
/// # Errors
/// [`DecodeError::Truncated`], offsets relative to the tag.
pub fn parse(b: &[u8]) -> Result<(u16, EtherType, &[u8]), DecodeError> {
    if b.len() < field::HEADER_LEN {
        return Err(DecodeError::Truncated {
            layer: Layer::Vlan,
            field: first_cut(&FIELDS, b.len()),
            needed: field::HEADER_LEN,
            available: b.len(),
        });
    }
    Ok((
        be16(b, 0) & 0x0fff,
        EtherType::from(be16(b, 2)),
        &b[field::HEADER_LEN..],
    ))
}

/// The tag's fields at absolute offset `base`.
#[must_use]
pub fn fields(b: &[u8], base: usize) -> Vec<Field> {
    table_fields(&FIELDS, b, base, |key, raw, _| {
        (key == "vlan.etype").then(|| {
            (
                Value::Number(raw),
                format!("0x{raw:04x} ({})", EtherType::from(raw as u16).name()),
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_fields() {
        let tag = [0xa0, 0x64, 0x08, 0x00, 0xff];
        let (id, t, rest) = parse(&tag).unwrap();
        assert_eq!((id, t, rest), (100, EtherType::Ipv4, &[0xff][..]));
        let f = fields(&tag, 14);
        assert_eq!(f[0].number(), Some(5));
        assert_eq!(f[2].number(), Some(100));
        assert_eq!(f[3].bytes, 16..18);
        assert!(parse(&tag[..3]).is_err());
    }
}
