//! The link-layer headers of captures that are not Ethernet (tcpdump.org's link-type list):
//!
//! ```text
//! NULL (0), LOOP (108): 4 bytes, the address family (NULL: the writer's byte order, LOOP: big
//!                       endian): 2 is IPv4; IPv6 is 10 (Linux), 24, 28 or 30 (the BSDs, macOS)
//! RAW (101), IPV4 (228), IPV6 (229): no header; RAW's IP version is the first nibble
//! LINUX_SLL (113), 16 bytes (tcpdump -i any):
//!   packet type (2) | ARPHRD type (2) | address length (2) | address (8) | protocol (2)
//! LINUX_SLL2 (276), 20 bytes:
//!   protocol (2) | reserved (2) | interface index (4) | ARPHRD type (2) | packet type (1) |
//!   address length (1) | address (8)
//! ```
//! The protocol fields are EtherTypes. What follows each header is the network layer.

use super::ethernet::EtherType;
use super::{be16, first_cut, table_fields, DecodeError, Field, FieldSpec, Layer, Value};

/// The link types, by their numbers in the pcap header.
pub mod link_type {
    /// BSD loopback: the address family in the writer's byte order.
    pub const NULL: u32 = 0;
    /// Ethernet II.
    pub const ETHERNET: u32 = 1;
    /// Raw IP, version from the first nibble.
    pub const RAW: u32 = 101;
    /// OpenBSD loopback: the address family, big endian.
    pub const LOOP: u32 = 108;
    /// Linux cooked capture, version 1.
    pub const LINUX_SLL: u32 = 113;
    /// Raw IPv4.
    pub const IPV4: u32 = 228;
    /// Raw IPv6.
    pub const IPV6: u32 = 229;
    /// Linux cooked capture, version 2.
    pub const LINUX_SLL2: u32 = 276;
}

/// Byte ranges relative to the start of each header.
pub mod field {
    use std::ops::Range;
    /// NULL and LOOP: the address family.
    pub const FAMILY: Range<usize> = 0..4;
    /// SLL: how the packet went (0 to us, 1 broadcast, 2 multicast, 3 to another host, 4 sent).
    pub const SLL_PKTTYPE: Range<usize> = 0..2;
    /// SLL: the ARPHRD type of the interface.
    pub const SLL_HATYPE: Range<usize> = 2..4;
    /// SLL: the length of the link-layer address.
    pub const SLL_HALEN: Range<usize> = 4..6;
    /// SLL: the link-layer source address (8 bytes, padded).
    pub const SLL_ADDR: Range<usize> = 6..14;
    /// SLL: the EtherType of the payload.
    pub const SLL_PROTOCOL: Range<usize> = 14..16;
    /// SLL2: the EtherType of the payload.
    pub const SLL2_PROTOCOL: Range<usize> = 0..2;
    /// SLL2: reserved, zero.
    pub const SLL2_RESERVED: Range<usize> = 2..4;
    /// SLL2: the interface index.
    pub const SLL2_IFINDEX: Range<usize> = 4..8;
    /// SLL2: the ARPHRD type of the interface.
    pub const SLL2_HATYPE: Range<usize> = 8..10;
    /// SLL2: the packet type, as SLL's.
    pub const SLL2_PKTTYPE: Range<usize> = 10..11;
    /// SLL2: the length of the link-layer address.
    pub const SLL2_HALEN: Range<usize> = 11..12;
    /// SLL2: the link-layer source address (8 bytes, padded).
    pub const SLL2_ADDR: Range<usize> = 12..20;
}

/// NULL's and LOOP's field table.
pub const NULL_FIELDS: [FieldSpec; 1] = [FieldSpec {
    name: "Family",
    key: "null.family",
    bytes: field::FAMILY,
    mask: None,
    meaning: "the address family of the packet (2: IPv4; 10, 24, 28 or 30: IPv6)",
}];

/// LINUX_SLL's field table.
pub const SLL_FIELDS: [FieldSpec; 5] = [
    FieldSpec {
        name: "Packet type",
        key: "sll.pkttype",
        bytes: field::SLL_PKTTYPE,
        mask: None,
        meaning: "0 to this host, 1 broadcast, 2 multicast, 3 to another host, 4 sent by it",
    },
    FieldSpec {
        name: "Link-layer address type",
        key: "sll.hatype",
        bytes: field::SLL_HATYPE,
        mask: None,
        meaning: "the interface's ARPHRD type (1 Ethernet, 772 loopback)",
    },
    FieldSpec {
        name: "Link-layer address length",
        key: "sll.halen",
        bytes: field::SLL_HALEN,
        mask: None,
        meaning: "how many of the 8 address bytes are the address",
    },
    FieldSpec {
        name: "Source",
        key: "sll.src.eth",
        bytes: field::SLL_ADDR,
        mask: None,
        meaning: "the sender's link-layer address, padded to 8 bytes",
    },
    FieldSpec {
        name: "Protocol",
        key: "sll.etype",
        bytes: field::SLL_PROTOCOL,
        mask: None,
        meaning: "which protocol the payload is (an EtherType)",
    },
];

/// LINUX_SLL2's field table.
pub const SLL2_FIELDS: [FieldSpec; 7] = [
    FieldSpec {
        name: "Protocol",
        key: "sll.etype",
        bytes: field::SLL2_PROTOCOL,
        mask: None,
        meaning: "which protocol the payload is (an EtherType)",
    },
    FieldSpec {
        name: "Reserved",
        key: "sll.reserved",
        bytes: field::SLL2_RESERVED,
        mask: None,
        meaning: "zero",
    },
    FieldSpec {
        name: "Interface index",
        key: "sll.ifindex",
        bytes: field::SLL2_IFINDEX,
        mask: None,
        meaning: "the interface the packet was captured on",
    },
    FieldSpec {
        name: "Link-layer address type",
        key: "sll.hatype",
        bytes: field::SLL2_HATYPE,
        mask: None,
        meaning: "the interface's ARPHRD type (1 Ethernet, 772 loopback)",
    },
    FieldSpec {
        name: "Packet type",
        key: "sll.pkttype",
        bytes: field::SLL2_PKTTYPE,
        mask: None,
        meaning: "0 to this host, 1 broadcast, 2 multicast, 3 to another host, 4 sent by it",
    },
    FieldSpec {
        name: "Link-layer address length",
        key: "sll.halen",
        bytes: field::SLL2_HALEN,
        mask: None,
        meaning: "how many of the 8 address bytes are the address",
    },
    FieldSpec {
        name: "Source",
        key: "sll.src.eth",
        bytes: field::SLL2_ADDR,
        mask: None,
        meaning: "the sender's link-layer address, padded to 8 bytes",
    },
];

/// The field table of `link`'s header (empty for the raw IP link types and unknown ones).
#[must_use]
pub fn table(link: u32) -> &'static [FieldSpec] {
    match link {
        link_type::NULL | link_type::LOOP => &NULL_FIELDS,
        link_type::LINUX_SLL => &SLL_FIELDS,
        link_type::LINUX_SLL2 => &SLL2_FIELDS,
        _ => &[],
    }
}

/// Whether `family`, a BSD or Linux address family, is IPv4 (`Some(false)`), IPv6
/// (`Some(true)`) or neither.
fn family_is_ipv6(family: u32) -> Option<bool> {
    match family {
        2 => Some(false),
        10 | 24 | 28 | 30 => Some(true),
        _ => None,
    }
}

/// Parses the link header of a frame of link type `link` (not Ethernet): the EtherType of what
/// follows, and the header's length.
///
/// # Errors
/// [`DecodeError`] for a header cut short, an address family or IP version that is neither
/// IPv4 nor IPv6, or a link type this decoder does not know; offsets relative to the frame.
pub fn parse(link: u32, b: &[u8]) -> Result<(EtherType, usize), DecodeError> {
    let need = |len: usize| {
        if b.len() < len {
            Err(DecodeError::Truncated {
                layer: Layer::Link,
                field: first_cut(table(link), b.len()),
                needed: len,
                available: b.len(),
            })
        } else {
            Ok(())
        }
    };
    let ip = |v6: bool| if v6 { EtherType::Ipv6 } else { EtherType::Ipv4 };
    match link {
        link_type::NULL | link_type::LOOP => {
            need(field::FAMILY.end)?;
            let raw = [b[0], b[1], b[2], b[3]];
            // NULL is in the writer's byte order: take whichever order names a family (little
            // endian, as most writers are, when neither does).
            let big = u32::from_be_bytes(raw);
            let family = if link == link_type::LOOP || family_is_ipv6(big).is_some() {
                big
            } else {
                u32::from_le_bytes(raw)
            };
            match family_is_ipv6(family) {
                Some(v6) => Ok((ip(v6), field::FAMILY.end)),
                None => Err(DecodeError::Invalid {
                    layer: Layer::Link,
                    field: "Family",
                    offset: 0,
                    value: family.to_string(),
                    why: "not an address family of IPv4 (2) or IPv6 (10, 24, 28, 30)",
                }),
            }
        }
        link_type::RAW => match b.first().map(|v| v >> 4) {
            Some(4) => Ok((EtherType::Ipv4, 0)),
            Some(6) => Ok((EtherType::Ipv6, 0)),
            Some(v) => Err(DecodeError::Invalid {
                layer: Layer::Link,
                field: "IP version",
                offset: 0,
                value: v.to_string(),
                why: "a raw IP packet starts with version 4 or 6",
            }),
            None => Err(DecodeError::Truncated {
                layer: Layer::Link,
                field: "IP version",
                needed: 1,
                available: 0,
            }),
        },
        link_type::IPV4 => Ok((EtherType::Ipv4, 0)),
        link_type::IPV6 => Ok((EtherType::Ipv6, 0)),
        link_type::LINUX_SLL => {
            need(field::SLL_PROTOCOL.end)?;
            Ok((
                EtherType::from(be16(b, field::SLL_PROTOCOL.start)),
                field::SLL_PROTOCOL.end,
            ))
        }
        link_type::LINUX_SLL2 => {
            need(field::SLL2_ADDR.end)?;
            Ok((
                EtherType::from(be16(b, field::SLL2_PROTOCOL.start)),
                field::SLL2_ADDR.end,
            ))
        }
        _ => Err(DecodeError::Invalid {
            layer: Layer::Link,
            field: "Link type",
            offset: 0,
            value: link.to_string(),
            why: "a link type this decoder does not know",
        }),
    }
}

/// The packet types of a Linux cooked header (`PACKET_*` of `<linux/if_packet.h>`): how the
/// packet went past the interface the capture saw it on.
pub mod packet_type {
    /// Addressed to this host: it arrived.
    pub const HOST: u16 = 0;
    /// A broadcast that arrived.
    pub const BROADCAST: u16 = 1;
    /// A multicast that arrived.
    pub const MULTICAST: u16 = 2;
    /// Addressed to another host, seen in promiscuous mode.
    pub const OTHERHOST: u16 = 3;
    /// Sent by this host: its kernel wrote it (or forwarded it) out of the interface.
    pub const OUTGOING: u16 = 4;
}

/// The ARPHRD type of an Ethernet interface (veth, a NIC).
pub const ARPHRD_ETHER: u16 = 1;
/// The ARPHRD type of the loopback interface.
pub const ARPHRD_LOOPBACK: u16 = 772;

/// A Linux cooked header (LINUX_SLL or LINUX_SLL2, what `tcpdump -i any` writes), read through
/// this file's offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cooked {
    /// How the packet went ([`packet_type`]).
    pub packet_type: u16,
    /// The interface's ARPHRD type ([`ARPHRD_ETHER`], [`ARPHRD_LOOPBACK`]...).
    pub hatype: u16,
    /// The interface index (SLL2 only: SLL has none).
    pub ifindex: Option<u32>,
    /// The link-layer source address: its length (at most 8) and the 8 bytes it is padded to.
    pub address: (u8, [u8; 8]),
}

impl Cooked {
    /// The frame of link type `link` starts with a cooked header: it, or `None` for another
    /// link type or a header cut short.
    #[must_use]
    pub fn parse(link: u32, b: &[u8]) -> Option<Cooked> {
        let (pkt, ha, len, addr, ifindex) = match link {
            link_type::LINUX_SLL if b.len() >= field::SLL_PROTOCOL.end => (
                be16(b, field::SLL_PKTTYPE.start),
                be16(b, field::SLL_HATYPE.start),
                be16(b, field::SLL_HALEN.start).min(8) as u8,
                field::SLL_ADDR,
                None,
            ),
            link_type::LINUX_SLL2 if b.len() >= field::SLL2_ADDR.end => (
                u16::from(b[field::SLL2_PKTTYPE.start]),
                be16(b, field::SLL2_HATYPE.start),
                b[field::SLL2_HALEN.start].min(8),
                field::SLL2_ADDR,
                Some(super::be32(b, field::SLL2_IFINDEX.start)),
            ),
            _ => return None,
        };
        let mut address = [0; 8];
        address.copy_from_slice(&b[addr]);
        Some(Cooked {
            packet_type: pkt,
            hatype: ha,
            ifindex,
            address: (len, address),
        })
    }

    /// The header of link type `link` (LINUX_SLL or LINUX_SLL2; anything else gets SLL2's)
    /// before a packet of `ethertype`: what the capture would have written (an SLL header has
    /// no interface index).
    #[must_use]
    pub fn header(&self, link: u32, ethertype: EtherType) -> Vec<u8> {
        let proto = u16::from(ethertype).to_be_bytes();
        let (len, addr) = self.address;
        if link == link_type::LINUX_SLL {
            let mut b = vec![0; field::SLL_PROTOCOL.end];
            b[field::SLL_PKTTYPE].copy_from_slice(&self.packet_type.to_be_bytes());
            b[field::SLL_HATYPE].copy_from_slice(&self.hatype.to_be_bytes());
            b[field::SLL_HALEN].copy_from_slice(&u16::from(len).to_be_bytes());
            b[field::SLL_ADDR].copy_from_slice(&addr);
            b[field::SLL_PROTOCOL].copy_from_slice(&proto);
            return b;
        }
        let mut b = vec![0; field::SLL2_ADDR.end];
        b[field::SLL2_PROTOCOL].copy_from_slice(&proto);
        b[field::SLL2_IFINDEX].copy_from_slice(&self.ifindex.unwrap_or(0).to_be_bytes());
        b[field::SLL2_HATYPE].copy_from_slice(&self.hatype.to_be_bytes());
        b[field::SLL2_PKTTYPE.start] = self.packet_type as u8;
        b[field::SLL2_HALEN.start] = len;
        b[field::SLL2_ADDR].copy_from_slice(&addr);
        b
    }

    /// A cooked header of an Ethernet interface: packet type, interface index, source MAC.
    #[must_use]
    pub fn ethernet_from(
        packet_type: u16,
        ifindex: Option<u32>,
        mac: super::ethernet::Mac,
    ) -> Cooked {
        let mut address = [0; 8];
        address[..6].copy_from_slice(&mac);
        Cooked {
            packet_type,
            hatype: ARPHRD_ETHER,
            ifindex,
            address: (6, address),
        }
    }

    /// This host's kernel sent the packet (packet type OUTGOING).
    #[must_use]
    pub fn outgoing(&self) -> bool {
        self.packet_type == packet_type::OUTGOING
    }

    /// Captured on an Ethernet interface (not `lo`): the packet was on a real link.
    #[must_use]
    pub fn ethernet(&self) -> bool {
        self.hatype == ARPHRD_ETHER
    }

    /// The source MAC, when the address is one (six bytes on an Ethernet interface).
    #[must_use]
    pub fn source_mac(&self) -> Option<super::ethernet::Mac> {
        let (len, a) = self.address;
        (self.ethernet() && len == 6).then(|| [a[0], a[1], a[2], a[3], a[4], a[5]])
    }

    /// The packet type in words, as tcpdump shows it (`In`, `Out`, `B`, `M`, `P`).
    #[must_use]
    pub fn direction(&self) -> &'static str {
        match self.packet_type {
            packet_type::HOST => "In",
            packet_type::BROADCAST => "B",
            packet_type::MULTICAST => "M",
            packet_type::OTHERHOST => "P",
            packet_type::OUTGOING => "Out",
            _ => "?",
        }
    }
}

/// The fields of `link`'s header `b`, at absolute offset `base`.
#[must_use]
pub fn fields(link: u32, b: &[u8], base: usize) -> Vec<Field> {
    table_fields(table(link), b, base, |key, raw, bytes| match key {
        "sll.etype" => Some((
            Value::Number(raw),
            format!("0x{raw:04x} ({})", EtherType::from(raw as u16).name()),
        )),
        "sll.src.eth" => {
            let len = usize::from(
                b.get(match link {
                    link_type::LINUX_SLL => field::SLL_HALEN.end - 1,
                    _ => field::SLL2_HALEN.start,
                })
                .copied()
                .unwrap_or(0),
            )
            .min(bytes.len());
            let text: Vec<String> = bytes[..len].iter().map(|x| format!("{x:02x}")).collect();
            Some((Value::Bytes(bytes[..len].to_vec()), text.join(":")))
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_every_link_type() {
        assert_eq!(parse(0, &[2, 0, 0, 0, 0x45]).unwrap(), (EtherType::Ipv4, 4));
        assert_eq!(parse(0, &[0, 0, 0, 30]).unwrap(), (EtherType::Ipv6, 4));
        assert_eq!(parse(108, &[0, 0, 0, 2]).unwrap(), (EtherType::Ipv4, 4));
        assert_eq!(parse(101, &[0x60]).unwrap(), (EtherType::Ipv6, 0));
        assert_eq!(parse(228, &[]).unwrap(), (EtherType::Ipv4, 0));
        let mut sll = [0u8; 16];
        sll[14..].copy_from_slice(&[0x86, 0xdd]);
        assert_eq!(parse(113, &sll).unwrap(), (EtherType::Ipv6, 16));
        let mut sll2 = [0u8; 20];
        sll2[..2].copy_from_slice(&[0x08, 0x00]);
        assert_eq!(parse(276, &sll2).unwrap(), (EtherType::Ipv4, 20));
    }

    #[test]
    fn truncated_and_invalid_never_panic() {
        for link in [0, 101, 108, 113, 228, 229, 276, 999] {
            for len in 0..24 {
                let _ = parse(link, &vec![0x77; len]);
                let _ = fields(link, &vec![0x77; len], 0);
                let _ = Cooked::parse(link, &vec![0x77; len]).map(|c| c.source_mac());
            }
        }
        let e = parse(113, &[0; 10]).unwrap_err();
        assert_eq!((e.layer(), e.offset()), (Layer::Link, 10));
        assert!(parse(0, &[9, 0, 0, 0])
            .unwrap_err()
            .to_string()
            .contains("Family"));
    }

    #[test]
    fn sll_fields() {
        let mut sll = [0u8; 16];
        sll[..6].copy_from_slice(&[0, 4, 3, 4, 0, 6]);
        sll[6..12].copy_from_slice(&[1, 2, 3, 4, 5, 6]);
        sll[14..].copy_from_slice(&[0x08, 0x00]);
        let f = fields(113, &sll, 0);
        assert_eq!(f[0].number(), Some(4));
        assert_eq!(f[1].number(), Some(772));
        assert_eq!(f[3].display, "01:02:03:04:05:06");
        assert_eq!(f[4].display, "0x0800 (IPv4)");
    }

    #[test]
    fn cooked_headers_give_direction_interface_and_source() {
        let mut sll2 = [0u8; 20];
        sll2[..2].copy_from_slice(&[0x08, 0x00]);
        sll2[4..8].copy_from_slice(&3u32.to_be_bytes());
        sll2[8..10].copy_from_slice(&1u16.to_be_bytes());
        sll2[10] = 4;
        sll2[11] = 6;
        sll2[12..18].copy_from_slice(&[2, 0, 0, 0, 0x0b, 2]);
        let c = Cooked::parse(276, &sll2).unwrap();
        assert_eq!(
            (c.ifindex, c.outgoing(), c.direction()),
            (Some(3), true, "Out")
        );
        assert_eq!(c.source_mac(), Some([2, 0, 0, 0, 0x0b, 2]));
        let mut sll = [0u8; 16];
        sll[..6].copy_from_slice(&[0, 0, 3, 4, 0, 0]);
        let lo = Cooked::parse(113, &sll).unwrap();
        assert_eq!(
            (lo.ifindex, lo.outgoing(), lo.ethernet()),
            (None, false, false)
        );
        assert_eq!(lo.source_mac(), None);
        assert_eq!(Cooked::parse(276, &sll2[..19]), None);
        assert_eq!(Cooked::parse(1, &sll2), None);
        // Written back as read.
        assert_eq!(c.header(276, EtherType::Ipv4), sll2.to_vec());
        let v1 = Cooked::ethernet_from(0, None, [1, 2, 3, 4, 5, 6]);
        let h = v1.header(113, EtherType::Ipv6);
        assert_eq!(Cooked::parse(113, &h), Some(v1));
        assert_eq!(parse(113, &h).unwrap(), (EtherType::Ipv6, 16));
        // An address length past 8 is cut to the 8 bytes there are.
        sll[4..6].copy_from_slice(&[0, 200]);
        assert_eq!(Cooked::parse(113, &sll).unwrap().address.0, 8);
    }
}
