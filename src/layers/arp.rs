//! ARP (RFC 826) for IPv4 over Ethernet: who has this IPv4 address?
//!
//! ```text
//! +-------------------------------+-------------------------------+
//! |        Hardware type (1)      |     Protocol type (0x0800)    |
//! +---------------+---------------+-------------------------------+
//! | HW size (6)   | Proto size (4)|  Opcode (1 request, 2 reply)  |
//! +---------------+---------------+-------------------------------+
//! | Sender MAC (6) | Sender IPv4 (4) | Target MAC (6) | Target IPv4 (4)
//! ```

use std::net::Ipv4Addr;

use super::ethernet::{mac_to_string, EtherType, Mac};
use super::{first_cut, table_fields, DecodeError, Field, FieldSpec, Layer, Value};

/// Byte ranges relative to the start of the ARP packet (Ethernet/IPv4 sizes).
pub mod field {
    use std::ops::Range;
    /// Hardware type.
    pub const HTYPE: Range<usize> = 0..2;
    /// Protocol type.
    pub const PTYPE: Range<usize> = 2..4;
    /// Hardware address length.
    pub const HLEN: Range<usize> = 4..5;
    /// Protocol address length.
    pub const PLEN: Range<usize> = 5..6;
    /// Operation.
    pub const OPER: Range<usize> = 6..8;
    /// Sender hardware address.
    pub const SHA: Range<usize> = 8..14;
    /// Sender protocol address.
    pub const SPA: Range<usize> = 14..18;
    /// Target hardware address.
    pub const THA: Range<usize> = 18..24;
    /// Target protocol address.
    pub const TPA: Range<usize> = 24..28;
    /// Length for Ethernet and IPv4.
    pub const LEN: usize = TPA.end;
}

/// Wireshark's display-filter names of the fields the model's rules name.
pub mod key {
    /// Sender IP address.
    pub const SRC_IP: &str = "arp.src.proto_ipv4";
    /// Target MAC address.
    pub const DST_MAC: &str = "arp.dst.hw_mac";
    /// Target IP address.
    pub const DST_IP: &str = "arp.dst.proto_ipv4";
}

/// The field table.
pub const FIELDS: [FieldSpec; 9] = [
    FieldSpec {
        name: "Hardware type",
        key: "arp.hw.type",
        bytes: field::HTYPE,
        mask: None,
        meaning: "1 = Ethernet",
    },
    FieldSpec {
        name: "Protocol type",
        key: "arp.proto.type",
        bytes: field::PTYPE,
        mask: None,
        meaning: "0x0800 = IPv4",
    },
    FieldSpec {
        name: "Hardware size",
        key: "arp.hw.size",
        bytes: field::HLEN,
        mask: None,
        meaning: "bytes in a hardware address",
    },
    FieldSpec {
        name: "Protocol size",
        key: "arp.proto.size",
        bytes: field::PLEN,
        mask: None,
        meaning: "bytes in a protocol address",
    },
    FieldSpec {
        name: "Opcode",
        key: "arp.opcode",
        bytes: field::OPER,
        mask: None,
        meaning: "1 = request (who has?), 2 = reply (is at)",
    },
    FieldSpec {
        name: "Sender MAC",
        key: "arp.src.hw_mac",
        bytes: field::SHA,
        mask: None,
        meaning: "the asker's (or answerer's) MAC",
    },
    FieldSpec {
        name: "Sender IP",
        key: "arp.src.proto_ipv4",
        bytes: field::SPA,
        mask: None,
        meaning: "the asker's (or answerer's) IPv4 address",
    },
    FieldSpec {
        name: "Target MAC",
        key: "arp.dst.hw_mac",
        bytes: field::THA,
        mask: None,
        meaning: "unknown (zero) in a request",
    },
    FieldSpec {
        name: "Target IP",
        key: "arp.dst.proto_ipv4",
        bytes: field::TPA,
        mask: None,
        meaning: "the address being asked about",
    },
];

/// Checks that the packet holds Ethernet/IPv4 ARP; returns (opcode, sender IP, target IP).
///
/// # Errors
/// A [`DecodeError`] with offsets relative to the ARP packet.
pub fn parse(b: &[u8]) -> Result<(u16, Ipv4Addr, Ipv4Addr), DecodeError> {
    if b.len() < field::LEN {
        return Err(DecodeError::Truncated {
            layer: Layer::Arp,
            field: first_cut(&FIELDS, b.len()),
            needed: field::LEN,
            available: b.len(),
        });
    }
    if b[4] != 6 || b[5] != 4 {
        return Err(DecodeError::Invalid {
            layer: Layer::Arp,
            field: "Hardware size",
            offset: 4,
            value: format!("{}/{}", b[4], b[5]),
            why: "only Ethernet (6) / IPv4 (4) ARP is decoded",
        });
    }
    let ip = |at: usize| Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3]);
    Ok((
        u16::from_be_bytes([b[6], b[7]]),
        ip(field::SPA.start),
        ip(field::TPA.start),
    ))
}

/// Opcode of a request: who has the target IPv4 address?
pub const REQUEST: u16 = 1;
/// Opcode of a reply: the sender IPv4 address is at the sender MAC.
pub const REPLY: u16 = 2;

/// An Ethernet/IPv4 ARP packet as plain values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpPacket {
    /// [`REQUEST`] or [`REPLY`].
    pub oper: u16,
    /// Sender MAC.
    pub sha: Mac,
    /// Sender IPv4 address.
    pub spa: Ipv4Addr,
    /// Target MAC (zero in a request).
    pub tha: Mac,
    /// Target IPv4 address.
    pub tpa: Ipv4Addr,
}

impl ArpPacket {
    /// Reads a whole Ethernet/IPv4 ARP packet.
    ///
    /// # Errors
    /// As [`parse`].
    pub fn parse(b: &[u8]) -> Result<ArpPacket, DecodeError> {
        let (oper, spa, tpa) = parse(b)?;
        let mac = |r: std::ops::Range<usize>| -> Mac { b[r].try_into().unwrap_or([0; 6]) };
        Ok(ArpPacket {
            oper,
            sha: mac(field::SHA),
            spa,
            tha: mac(field::THA),
            tpa,
        })
    }

    /// Writes the packet into the first [`field::LEN`] bytes of `out`.
    ///
    /// # Panics
    /// If `out` is shorter than 28 bytes.
    pub fn emit(&self, out: &mut [u8]) {
        out[field::HTYPE].copy_from_slice(&1u16.to_be_bytes());
        out[field::PTYPE].copy_from_slice(&u16::from(EtherType::Ipv4).to_be_bytes());
        out[field::HLEN.start] = 6;
        out[field::PLEN.start] = 4;
        out[field::OPER].copy_from_slice(&self.oper.to_be_bytes());
        out[field::SHA].copy_from_slice(&self.sha);
        out[field::SPA].copy_from_slice(&self.spa.octets());
        out[field::THA].copy_from_slice(&self.tha);
        out[field::TPA].copy_from_slice(&self.tpa.octets());
    }
}

/// The packet's fields at absolute offset `base`.
#[must_use]
pub fn fields(b: &[u8], base: usize) -> Vec<Field> {
    table_fields(&FIELDS, b, base, |key, raw, bytes| match key {
        "arp.src.hw_mac" | "arp.dst.hw_mac" => {
            let m: [u8; 6] = bytes.try_into().ok()?;
            Some((Value::Bytes(bytes.to_vec()), mac_to_string(&m)))
        }
        "arp.src.proto_ipv4" | "arp.dst.proto_ipv4" => {
            let a: [u8; 4] = bytes.try_into().ok()?;
            Some((Value::Bytes(bytes.to_vec()), Ipv4Addr::from(a).to_string()))
        }
        "arp.proto.type" => Some((
            Value::Number(raw),
            format!("0x{raw:04x} ({})", EtherType::from(raw as u16).name()),
        )),
        "arp.opcode" => Some((
            Value::Number(raw),
            format!(
                "{raw} ({})",
                match raw {
                    1 => "request",
                    2 => "reply",
                    _ => "other",
                }
            ),
        )),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request() {
        let p = [
            0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2,
        ];
        assert_eq!(
            parse(&p).unwrap(),
            (1, Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2))
        );
        let f = fields(&p, 14);
        assert_eq!(f.len(), 9);
        assert_eq!(f[5].display, "02:00:00:00:00:01");
        assert!(parse(&p[..27]).is_err());
        let whole = ArpPacket::parse(&p).unwrap();
        assert_eq!(whole.sha, [2, 0, 0, 0, 0, 1]);
        assert_eq!(whole.tha, [0; 6]);
        let mut back = [0u8; field::LEN];
        whole.emit(&mut back);
        assert_eq!(back, p, "emit writes back what parse read");
    }
}
