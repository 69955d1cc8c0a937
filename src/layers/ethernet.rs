//! Ethernet II framing (IEEE 802.3 clause 3, "Type" interpretation of the Length/Type field).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Destination MAC address                    |
//! +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                               |                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//! |                      Source MAC address                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           EtherType           |   Payload (46..1500 bytes on a wire) ...
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |             Frame check sequence (CRC-32, LSB first)          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! On a real wire the frame is preceded by a 7-byte preamble and the start frame delimiter, padded
//! to 60 bytes before the FCS, and followed by a 12-byte inter-frame gap. Linux's `lo` carries
//! none of these: no preamble, no padding, no FCS (see `shared/docs/LOOPBACK.md`).

use super::{
    be16, first_cut, need, table_raw, DecodeError, Field, FieldSpec, Layer, RawField, RawValue,
    Value,
};

/// Byte ranges of the header fields, relative to the start of the frame.
pub mod field {
    use std::ops::Range;
    /// Destination MAC address.
    pub const DESTINATION: Range<usize> = 0..6;
    /// Source MAC address.
    pub const SOURCE: Range<usize> = 6..12;
    /// EtherType of the payload.
    pub const ETHERTYPE: Range<usize> = 12..14;
    /// Length of the header.
    pub const HEADER_LEN: usize = ETHERTYPE.end;
    /// Length of the frame check sequence that follows the payload on a wire.
    pub const FCS_LEN: usize = 4;
    /// Smallest frame on a wire, without the FCS: shorter ones are padded.
    pub const MIN_FRAME_LEN: usize = 60;
    /// Preamble (7 × 0x55) and start frame delimiter (0xd5).
    pub const PREAMBLE_SFD: [u8; 8] = [0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0xd5];
    /// Inter-frame gap, in byte times.
    pub const INTER_FRAME_GAP: usize = 12;
}

/// Wireshark's display-filter names of this layer's fields: the keys of its field table, which
/// the model's verdict rules and the renderers name instead of spelling the strings.
pub mod key {
    /// `eth.dst`.
    pub const DST: &str = "eth.dst";
    /// `eth.src`.
    pub const SRC: &str = "eth.src";
    /// `eth.type`.
    pub const TYPE: &str = "eth.type";
    /// `eth.fcs`.
    pub const FCS: &str = "eth.fcs";
}

/// The field table.
pub const FIELDS: [FieldSpec; 3] = [
    FieldSpec {
        name: "Destination",
        key: key::DST,
        bytes: field::DESTINATION,
        mask: None,
        meaning: "MAC address of the next hop (all zero on lo)",
    },
    FieldSpec {
        name: "Source",
        key: key::SRC,
        bytes: field::SOURCE,
        mask: None,
        meaning: "MAC address of the sending interface (all zero on lo)",
    },
    FieldSpec {
        name: "Type",
        key: key::TYPE,
        bytes: field::ETHERTYPE,
        mask: None,
        meaning: "which protocol the payload is",
    },
];

/// The FCS row of the table, placed after the payload.
pub const FCS_FIELD: FieldSpec = FieldSpec {
    name: "Frame check sequence",
    key: key::FCS,
    bytes: 0..field::FCS_LEN,
    mask: None,
    meaning: "CRC-32 of the frame, least significant byte first; the receiver drops a frame whose CRC fails",
};

/// EtherType code points. Never fails: unknown values are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtherType {
    /// 0x0800
    Ipv4,
    /// 0x0806
    Arp,
    /// 0x8100, an 802.1Q VLAN tag.
    Vlan,
    /// 0x86dd
    Ipv6,
    /// Anything else.
    Unknown(u16),
}

impl From<u16> for EtherType {
    fn from(v: u16) -> Self {
        match v {
            0x0800 => EtherType::Ipv4,
            0x0806 => EtherType::Arp,
            0x8100 => EtherType::Vlan,
            0x86dd => EtherType::Ipv6,
            other => EtherType::Unknown(other),
        }
    }
}

impl From<EtherType> for u16 {
    fn from(t: EtherType) -> u16 {
        match t {
            EtherType::Ipv4 => 0x0800,
            EtherType::Arp => 0x0806,
            EtherType::Vlan => 0x8100,
            EtherType::Ipv6 => 0x86dd,
            EtherType::Unknown(v) => v,
        }
    }
}

impl EtherType {
    /// The protocol's name, or `unknown`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            EtherType::Ipv4 => "IPv4",
            EtherType::Arp => "ARP",
            EtherType::Vlan => "802.1Q",
            EtherType::Ipv6 => "IPv6",
            EtherType::Unknown(_) => "unknown",
        }
    }
}

/// A MAC address.
pub type Mac = [u8; 6];

/// Formats a MAC address as Wireshark does: `00:00:00:00:00:00`.
#[must_use]
pub fn mac_to_string(m: &Mac) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// Parses `aa:bb:cc:dd:ee:ff` (or with `-`).
///
/// # Errors
/// A message saying what is wrong with the text.
pub fn parse_mac(s: &str) -> Result<Mac, String> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return Err(format!(
            "MAC address {s:?} must have six hex bytes, like 00:00:00:00:00:00"
        ));
    }
    let mut m = [0u8; 6];
    for (slot, p) in m.iter_mut().zip(&parts) {
        *slot = u8::from_str_radix(p, 16)
            .ok()
            .filter(|_| p.len() == 2)
            .ok_or_else(|| format!("MAC address {s:?}: {p:?} is not a hex byte"))?;
    }
    Ok(m)
}

/// An Ethernet II header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetHeader {
    /// Destination MAC.
    pub destination: Mac,
    /// Source MAC.
    pub source: Mac,
    /// EtherType of the payload.
    pub ethertype: EtherType,
}

impl EthernetHeader {
    /// The header's length.
    pub const LEN: usize = field::HEADER_LEN;

    /// Parses the header at the start of `frame`, returning it and the payload after it.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] when `frame` is shorter than 14 bytes (offsets relative to
    /// `frame`).
    pub fn parse(frame: &[u8]) -> Result<(EthernetHeader, &[u8]), DecodeError> {
        need(
            frame,
            field::HEADER_LEN,
            Layer::Ethernet,
            first_cut(&FIELDS, frame.len()),
        )?;
        let mut destination = [0; 6];
        destination.copy_from_slice(&frame[field::DESTINATION]);
        let mut source = [0; 6];
        source.copy_from_slice(&frame[field::SOURCE]);
        let ethertype = EtherType::from(be16(frame, field::ETHERTYPE.start));
        Ok((
            EthernetHeader {
                destination,
                source,
                ethertype,
            },
            &frame[field::HEADER_LEN..],
        ))
    }

    /// Writes the header into the first 14 bytes of `out`.
    ///
    /// # Panics
    /// If `out` is shorter than 14 bytes.
    pub fn emit(&self, out: &mut [u8]) {
        out[field::DESTINATION].copy_from_slice(&self.destination);
        out[field::SOURCE].copy_from_slice(&self.source);
        out[field::ETHERTYPE].copy_from_slice(&u16::from(self.ethertype).to_be_bytes());
    }
}

/// The largest value of the Type field that is an IEEE 802.3 length instead (EtherTypes start at
/// 0x0600).
pub const MAX_8023_LENGTH: usize = 1500;

/// The fields of the Ethernet header at `frame[..14]`, which starts at absolute offset `base`.
/// Returns as many fields as `frame` holds whole.
#[must_use]
pub fn fields(frame: &[u8], base: usize) -> Vec<Field> {
    let mut out = Vec::with_capacity(FIELDS.len());
    for spec in &FIELDS {
        let Some(bytes) = frame.get(spec.bytes.clone()) else {
            break;
        };
        let (value, display) = if spec.key == "eth.type" {
            let t = be16(bytes, 0);
            if usize::from(t) <= MAX_8023_LENGTH {
                // IEEE 802.3: a length, and an LLC header follows (Wireshark's eth.len).
                let mut f = Field::from_spec(
                    spec,
                    base,
                    Value::Number(u64::from(t)),
                    format!("{t} (a length, not a type: IEEE 802.3, an LLC header follows)"),
                );
                f.key = "eth.len".into();
                f.name = "Length".into();
                out.push(f);
                continue;
            }
            (
                Value::Number(u64::from(t)),
                format!("0x{t:04x} ({})", EtherType::from(t).name()),
            )
        } else {
            let mut m = [0; 6];
            m.copy_from_slice(bytes);
            (Value::Bytes(bytes.to_vec()), mac_to_string(&m))
        };
        out.push(Field::from_spec(spec, base, value, display));
    }
    out
}

/// [`fields`]' keys, bytes and values without the displays (see [`RawField`]); false for an
/// IEEE 802.3 length in place of the type, which only [`fields`] shows.
pub fn raw_fields<'a>(frame: &'a [u8], base: usize, out: &mut Vec<RawField<'a>>) -> bool {
    let before = out.len();
    table_raw(
        &FIELDS,
        Layer::Ethernet,
        frame,
        base,
        out,
        |key, raw, bytes| {
            (key != "eth.type")
                .then_some(RawValue::Bytes(bytes))
                .or(Some(RawValue::Number(raw)))
        },
    );
    !out[before..].iter().any(|f| {
        f.key == "eth.type" && matches!(f.value, RawValue::Number(t) if t <= MAX_8023_LENGTH as u64)
    })
}

/// The FCS a frame would carry on a wire: CRC-32 (IEEE 802.3, reflected, as zlib computes it)
/// over destination MAC through the end of the (padded) payload.
#[inline]
#[must_use]
pub fn fcs(frame: &[u8]) -> u32 {
    crc32fast::hash(frame)
}

/// The FCS as it follows the frame on the wire: least significant byte first.
#[inline]
#[must_use]
pub fn fcs_bytes(frame: &[u8]) -> [u8; 4] {
    fcs(frame).to_le_bytes()
}

/// The field row for an FCS at absolute offset `at`.
#[must_use]
pub fn fcs_field(fcs: u32, at: usize) -> Field {
    Field::from_spec(
        &FCS_FIELD,
        at,
        Value::Number(u64::from(fcs)),
        format!("0x{fcs:08x}"),
    )
}

/// The field row for `len` bytes of padding at absolute offset `at`.
#[must_use]
pub fn padding_field(at: usize, len: usize) -> Field {
    Field {
        name: "Padding".into(),
        key: "eth.padding".into(),
        bytes: at..at + len,
        mask: None,
        value: Value::Bytes(vec![0; len]),
        display: format!("{len} zero bytes"),
        meaning: "brings a short frame to 60 bytes before its FCS, as 802.3 requires".into(),
    }
}

/// What a frame looks like on a real 802.3 wire, beyond what `lo` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireView {
    /// Zero bytes added after the frame to reach 60 bytes.
    pub padding: usize,
    /// The FCS, over frame + padding.
    pub fcs: u32,
}

impl WireView {
    /// Computes the wire view of `frame` (a frame without FCS).
    #[must_use]
    pub fn of(frame: &[u8]) -> WireView {
        let padding = field::MIN_FRAME_LEN.saturating_sub(frame.len());
        let mut h = crc32fast::Hasher::new();
        h.update(frame);
        h.update(&[0u8; field::MIN_FRAME_LEN][..padding]);
        WireView {
            padding,
            fcs: h.finalize(),
        }
    }

    /// Bytes the frame occupies on the wire, preamble to inter-frame gap.
    #[must_use]
    pub fn wire_len(&self, frame_len: usize) -> usize {
        field::PREAMBLE_SFD.len()
            + frame_len
            + self.padding
            + field::FCS_LEN
            + field::INTER_FRAME_GAP
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static FRAME: [u8; 16] = [0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1, 0x08, 0x00, 0xab, 0xcd];

    #[test]
    fn deconstruct() {
        let (h, rest) = EthernetHeader::parse(&FRAME).unwrap();
        assert_eq!(h.destination, [0; 6]);
        assert_eq!(h.source, [2, 0, 0, 0, 0, 1]);
        assert_eq!(h.ethertype, EtherType::Ipv4);
        assert_eq!(rest, &[0xab, 0xcd]);
    }

    #[test]
    fn construct() {
        let (h, _) = EthernetHeader::parse(&FRAME).unwrap();
        let mut out = [0xffu8; 14];
        h.emit(&mut out);
        assert_eq!(out, FRAME[..14]);
    }

    #[test]
    fn truncated_names_the_field() {
        for len in 0..14 {
            let err = EthernetHeader::parse(&FRAME[..len]).unwrap_err();
            let DecodeError::Truncated {
                field,
                needed,
                available,
                ..
            } = err
            else {
                panic!()
            };
            assert_eq!((needed, available), (14, len));
            let expected = if len < 6 {
                "Destination"
            } else if len < 12 {
                "Source"
            } else {
                "Type"
            };
            assert_eq!(field, expected);
        }
    }

    #[test]
    fn fcs_residue() {
        let frame = b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x08\x00hello";
        let mut with_fcs = frame.to_vec();
        with_fcs.extend_from_slice(&fcs_bytes(frame));
        // The CRC register after frame + FCS holds 0xDEBB20E3; its final inversion 0x2144DF1C.
        assert_eq!(!crc32fast::hash(&with_fcs), 0xdebb_20e3);
        assert_eq!(crc32fast::hash(&with_fcs), 0x2144_df1c);
    }

    #[test]
    fn wire_pads_short_frames() {
        let w = WireView::of(&[0u8; 54]);
        assert_eq!(w.padding, 6);
        assert_eq!(w.fcs, crc32fast::hash(&[0u8; 60]));
        assert_eq!(w.wire_len(54), 8 + 60 + 4 + 12);
        assert_eq!(WireView::of(&[0u8; 72]).padding, 0);
    }

    #[test]
    fn macs() {
        assert_eq!(parse_mac("02:00:00:00:00:01").unwrap(), [2, 0, 0, 0, 0, 1]);
        assert!(parse_mac("02:00:00:00:00").is_err());
        assert!(parse_mac("02:00:00:00:00:zz").is_err());
        assert_eq!(
            mac_to_string(&[0xde, 0xad, 0xbe, 0xef, 0, 1]),
            "de:ad:be:ef:00:01"
        );
    }
}
