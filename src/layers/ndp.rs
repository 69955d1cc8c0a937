//! IPv6 neighbour discovery (RFC 4861): the neighbour solicitation (ICMPv6 type 135) and
//! advertisement (136) that take ARP's place, and their link-layer address option.
//!
//! ```text
//! +---------------+---------------+-------------------------------+
//! |  Type (135)   |   Code (0)    |           Checksum            |
//! +---------------+---------------+-------------------------------+
//! |R|S|O|              Reserved (0 in a solicitation)             |
//! +---------------------------------------------------------------+
//! |                Target address (16 bytes)                      |
//! +---------------+---------------+-------------------------------+
//! | Option type   | Length (1 = 8)| Link-layer address (6 bytes)  |
//! +---------------+---------------+-------------------------------+
//! ```
//!
//! Offsets are relative to the start of the ICMPv6 message; the type, code and checksum are
//! [`super::icmp`]'s.

use std::net::Ipv6Addr;

use super::ethernet::{mac_to_string, Mac};
use super::{table_fields, Field, FieldSpec, Value};
use crate::checksum;

/// ICMPv6 type of a neighbour solicitation.
pub const SOLICITATION: u8 = 135;
/// ICMPv6 type of a neighbour advertisement.
pub const ADVERTISEMENT: u8 = 136;
/// Option type: the sender's link-layer address (in a solicitation).
pub const OPT_SOURCE_LLA: u8 = 1;
/// Option type: the target's link-layer address (in an advertisement).
pub const OPT_TARGET_LLA: u8 = 2;

/// Byte ranges relative to the start of the ICMPv6 message.
pub mod field {
    use std::ops::Range;
    /// Flags (advertisement) or reserved (solicitation).
    pub const FLAGS: Range<usize> = 4..8;
    /// Target address.
    pub const TARGET: Range<usize> = 8..24;
    /// The fixed part, before the options.
    pub const FIXED_LEN: usize = TARGET.end;
    /// An option's type, relative to the option.
    pub const OPT_TYPE: Range<usize> = 0..1;
    /// An option's length in units of 8 bytes, relative to the option.
    pub const OPT_LEN: Range<usize> = 1..2;
    /// A link-layer address option's address (Ethernet), relative to the option.
    pub const OPT_LLA: Range<usize> = 2..8;
    /// Router flag: the sender forwards packets.
    pub const FLAG_R: u32 = 0x8000_0000;
    /// Solicited flag: an answer to a solicitation.
    pub const FLAG_S: u32 = 0x4000_0000;
    /// Override flag: the address replaces a cached one.
    pub const FLAG_O: u32 = 0x2000_0000;
}

/// Wireshark's display-filter names of this layer's fields.
pub mod key {
    /// Reserved bytes of a solicitation.
    pub const RESERVED: &str = "icmpv6.reserved";
    /// A solicitation's target.
    pub const NS_TARGET: &str = "icmpv6.nd.ns.target_address";
    /// An advertisement's router flag.
    pub const FLAG_R: &str = "icmpv6.nd.na.flag.r";
    /// Its solicited flag.
    pub const FLAG_S: &str = "icmpv6.nd.na.flag.s";
    /// Its override flag.
    pub const FLAG_O: &str = "icmpv6.nd.na.flag.o";
    /// Its reserved bits.
    pub const FLAG_RSV: &str = "icmpv6.nd.na.flag.rsv";
    /// An advertisement's target.
    pub const NA_TARGET: &str = "icmpv6.nd.na.target_address";
    /// An option's type.
    pub const OPT_TYPE: &str = "icmpv6.opt.type";
    /// An option's length.
    pub const OPT_LENGTH: &str = "icmpv6.opt.length";
    /// A link-layer address option's address.
    pub const OPT_LINKADDR: &str = "icmpv6.opt.linkaddr";
}

/// A solicitation's fixed part after type, code and checksum.
pub const NS_FIELDS: [FieldSpec; 2] = [
    FieldSpec {
        name: "Reserved",
        key: key::RESERVED,
        bytes: field::FLAGS,
        mask: None,
        meaning: "zero",
    },
    FieldSpec {
        name: "Target address",
        key: key::NS_TARGET,
        bytes: field::TARGET,
        mask: None,
        meaning: "the address whose link-layer address the sender asks for",
    },
];

/// An advertisement's fixed part after type, code and checksum.
pub const NA_FIELDS: [FieldSpec; 5] = [
    FieldSpec {
        name: "Router flag",
        key: key::FLAG_R,
        bytes: field::FLAGS,
        mask: Some(field::FLAG_R),
        meaning: "1 = the sender is a router (it forwards packets)",
    },
    FieldSpec {
        name: "Solicited flag",
        key: key::FLAG_S,
        bytes: field::FLAGS,
        mask: Some(field::FLAG_S),
        meaning: "1 = the answer to a solicitation",
    },
    FieldSpec {
        name: "Override flag",
        key: key::FLAG_O,
        bytes: field::FLAGS,
        mask: Some(field::FLAG_O),
        meaning: "1 = replace a cached link-layer address",
    },
    FieldSpec {
        name: "Reserved",
        key: key::FLAG_RSV,
        bytes: field::FLAGS,
        mask: Some(0x1fff_ffff),
        meaning: "zero",
    },
    FieldSpec {
        name: "Target address",
        key: key::NA_TARGET,
        bytes: field::TARGET,
        mask: None,
        meaning: "the address advertised (the one solicited)",
    },
];

/// A link-layer address option, relative to the option.
pub const LLA_FIELDS: [FieldSpec; 3] = [
    FieldSpec {
        name: "Option type",
        key: key::OPT_TYPE,
        bytes: field::OPT_TYPE,
        mask: None,
        meaning: "1 = source link-layer address, 2 = target link-layer address",
    },
    FieldSpec {
        name: "Option length",
        key: key::OPT_LENGTH,
        bytes: field::OPT_LEN,
        mask: None,
        meaning: "in units of 8 bytes",
    },
    FieldSpec {
        name: "Link-layer address",
        key: key::OPT_LINKADDR,
        bytes: field::OPT_LLA,
        mask: None,
        meaning: "the MAC address of the sender (1) or of the target (2)",
    },
];

/// Whether `t` is a neighbour solicitation or advertisement.
#[must_use]
pub fn is_ndp(t: u8) -> bool {
    matches!(t, SOLICITATION | ADVERTISEMENT)
}

/// The length of the message's fixed part and its whole options (each as its length byte
/// says), as far as `msg` holds them: what is left after is data.
#[must_use]
pub fn header_len(msg: &[u8]) -> usize {
    let mut at = field::FIXED_LEN;
    while let Some(&units) = msg.get(at + field::OPT_LEN.start) {
        let end = at + usize::from(units) * 8;
        if units == 0 || end > msg.len() {
            break;
        }
        at = end;
    }
    at.min(msg.len())
}

/// A solicitation or advertisement read: target and the link-layer address option, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message {
    /// 135 or 136.
    pub kind: u8,
    /// The flags word (advertisement) or reserved bytes.
    pub flags: u32,
    /// The target address.
    pub target: Ipv6Addr,
    /// The first link-layer address option: its type and the address.
    pub lla: Option<(u8, Mac)>,
}

impl Message {
    /// Reads a solicitation or advertisement from `msg`, the ICMPv6 message; `None` when it is
    /// neither or too short.
    #[must_use]
    pub fn parse(msg: &[u8]) -> Option<Message> {
        let kind = *msg.first()?;
        if !is_ndp(kind) || msg.len() < field::FIXED_LEN {
            return None;
        }
        let flags = u32::from_be_bytes(msg.get(field::FLAGS)?.try_into().ok()?);
        let target: [u8; 16] = msg.get(field::TARGET)?.try_into().ok()?;
        let opt = msg.get(field::FIXED_LEN..).unwrap_or_default();
        let lla = match (
            opt.first(),
            opt.get(field::OPT_LEN.start),
            opt.get(field::OPT_LLA),
        ) {
            (Some(&t), Some(1), Some(m)) => Some((t, m.try_into().ok()?)),
            _ => None,
        };
        Some(Message {
            kind,
            flags,
            target: target.into(),
            lla,
        })
    }

    /// The message's bytes, its checksum computed for a packet from `src` to `dst`.
    #[must_use]
    pub fn emit(&self, src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
        let mut m = vec![self.kind, 0, 0, 0];
        m.extend_from_slice(&self.flags.to_be_bytes());
        m.extend_from_slice(&self.target.octets());
        if let Some((t, mac)) = self.lla {
            m.extend_from_slice(&[t, 1]);
            m.extend_from_slice(&mac);
        }
        let sum = checksum::add(checksum::Pseudo::V6(src, dst).sum(58, m.len()), &m);
        let c = !checksum::fold(sum);
        m[super::icmp::field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
        m
    }
}

/// The solicited-node multicast address of `target` (ff02::1:ffXX:XXXX, RFC 4291 §2.7.1), to
/// which a solicitation for it is sent.
#[must_use]
pub fn solicited_node(target: Ipv6Addr) -> Ipv6Addr {
    let t = target.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(t[13]),
        u16::from_be_bytes([t[14], t[15]]),
    )
}

/// The Ethernet multicast address of an IPv6 multicast address (33:33 and its last four bytes,
/// RFC 2464 §7).
#[must_use]
pub fn multicast_mac(group: Ipv6Addr) -> Mac {
    let g = group.octets();
    [0x33, 0x33, g[12], g[13], g[14], g[15]]
}

/// The fields after type, code and checksum of a solicitation or advertisement, `msg` the whole
/// ICMPv6 message at absolute offset `base`.
#[must_use]
pub fn fields(msg: &[u8], base: usize) -> Vec<Field> {
    let table: &[FieldSpec] = match msg.first() {
        Some(&SOLICITATION) => &NS_FIELDS,
        Some(&ADVERTISEMENT) => &NA_FIELDS,
        _ => return Vec::new(),
    };
    let show = |key: &str, raw: u64, bytes: &[u8]| -> Option<(Value, String)> {
        if key == key::NS_TARGET || key == key::NA_TARGET {
            let a: [u8; 16] = bytes.try_into().ok()?;
            return Some((Value::Bytes(bytes.to_vec()), Ipv6Addr::from(a).to_string()));
        }
        if key == key::OPT_LINKADDR {
            let m: Mac = bytes.try_into().ok()?;
            return Some((Value::Bytes(bytes.to_vec()), mac_to_string(&m)));
        }
        if key == key::OPT_TYPE {
            let name = match raw {
                1 => "source link-layer address",
                2 => "target link-layer address",
                _ => "other",
            };
            return Some((Value::Number(raw), format!("{raw} ({name})")));
        }
        None
    };
    let mut out = table_fields(table, msg, base, show);
    let end = header_len(msg);
    let mut at = field::FIXED_LEN;
    while at < end {
        let opt = &msg[at..end];
        let units = usize::from(opt.get(field::OPT_LEN.start).copied().unwrap_or(1)).max(1);
        let this = &opt[..(units * 8).min(opt.len())];
        if matches!(this.first(), Some(&(OPT_SOURCE_LLA | OPT_TARGET_LLA))) && units == 1 {
            out.extend(table_fields(&LLA_FIELDS, this, base + at, show));
        } else {
            out.extend(table_fields(&LLA_FIELDS[..2], this, base + at, show));
        }
        at += units * 8;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_solicitation_round_trips_with_a_good_checksum() {
        let src: Ipv6Addr = "2001:db8:a::10".parse().unwrap();
        let target: Ipv6Addr = "2001:db8:a::1".parse().unwrap();
        let dst = solicited_node(target);
        assert_eq!(dst.to_string(), "ff02::1:ff00:1");
        assert_eq!(multicast_mac(dst), [0x33, 0x33, 0xff, 0, 0, 1]);
        let m = Message {
            kind: SOLICITATION,
            flags: 0,
            target,
            lla: Some((OPT_SOURCE_LLA, [2, 0, 0, 0, 0x0a, 1])),
        };
        let bytes = m.emit(src, dst);
        assert_eq!(bytes.len(), 32);
        assert_eq!(header_len(&bytes), 32);
        assert_eq!(Message::parse(&bytes), Some(m));
        let sum = checksum::add(checksum::Pseudo::V6(src, dst).sum(58, 32), &bytes);
        assert_eq!(checksum::fold(sum), 0xffff);
        let f = fields(&bytes, 54);
        let keys: Vec<&str> = f.iter().map(|f| f.key.as_ref()).collect();
        assert_eq!(
            keys,
            [
                key::RESERVED,
                key::NS_TARGET,
                key::OPT_TYPE,
                key::OPT_LENGTH,
                key::OPT_LINKADDR
            ]
        );
        assert_eq!(f[1].display, "2001:db8:a::1");
        assert_eq!(f[4].display, "02:00:00:00:0a:01");
        assert_eq!(f[4].bytes, 54 + 26..54 + 32);
    }

    #[test]
    fn an_advertisement_shows_its_flags_and_a_cut_option_is_not_read() {
        let m = Message {
            kind: ADVERTISEMENT,
            flags: field::FLAG_S | field::FLAG_O,
            target: "2001:db8:a::1".parse().unwrap(),
            lla: None,
        };
        let bytes = m.emit(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST);
        let f = fields(&bytes, 0);
        let flag = |k: &str| f.iter().find(|x| x.key == k).and_then(Field::number);
        assert_eq!(
            (flag(key::FLAG_R), flag(key::FLAG_S), flag(key::FLAG_O)),
            (Some(0), Some(1), Some(1))
        );
        let mut cut = bytes.clone();
        cut.extend_from_slice(&[2, 1, 2, 0]);
        assert_eq!(header_len(&cut), 24, "an option cut short is data");
        assert_eq!(Message::parse(&cut).unwrap().lla, None);
        assert_eq!(Message::parse(&bytes[..20]), None);
    }
}
