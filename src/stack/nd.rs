//! IPv6 neighbour discovery for the endpoint (RFC 4861), sans-IO: ARP's place for IPv6. It
//! answers solicitations for its own address, and asks for the next hop's MAC with its own
//! solicitation to the target's solicited-node group (a request each second, three at most, as
//! Linux's `mcast_solicit` and `retrans_time`).
//!
//! As Linux's `ndisc_recv_ns` answers: a solicitation sent to the solicited-node group gets an
//! advertisement with the solicited and override flags and our link-layer address; one sent
//! straight to our address (a neighbour confirming a cached entry, Linux's unicast probe) gets
//! the solicited flag only and no option (the asker has our MAC already); duplicate address
//! detection by another node for our address (a solicitation from `::`) gets an advertisement to
//! all nodes, override set, solicited clear. The router flag is clear: the endpoint is a host.
//!
//! No duplicate address detection of our own, and no MLD report for our solicited-node group:
//! the lab hands the endpoint an address no other node of the link has (every address there is
//! given out by the lab, and the lab's kernels take theirs with `nodad` and `accept_dad` 0, for
//! the same reason: DAD would only delay the first SYN by a second), and a veth does not filter
//! multicast by MLD snooping, so every solicitation for us arrives without a report. a's kernel
//! itself has IPv6 disabled on a-r (`disable_ipv6`), so it has no address there, link-local or
//! global, neither answers for ours nor resets the connection, and sends no DAD, MLD or router
//! solicitation of its own.

use std::net::Ipv6Addr;
use std::time::Duration;

use super::arp::{Neighbour, Resolution};
use crate::checksum;
use crate::layers::ethernet::Mac;
use crate::layers::icmp;
use crate::layers::ndp::{self, Message};
use crate::pipeline::encapsulate_ndp;

/// The all-nodes multicast group (RFC 4291 §2.7.1): where an answer to duplicate address
/// detection goes.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// Neighbour discovery's hop limit: a receiver drops any that is less (it crossed a router).
pub const HOP_LIMIT: u8 = 255;

/// The IPv6 packet a neighbour discovery message came in: what its checks need.
#[derive(Debug, Clone, Copy)]
pub struct Carried {
    /// The Ethernet source.
    pub mac: Mac,
    /// The IPv6 source.
    pub src: Ipv6Addr,
    /// The destination.
    pub dst: Ipv6Addr,
    /// The hop limit.
    pub hop_limit: u8,
}

/// Neighbour discovery's: our IPv6 address, and the next hop's.
pub type Resolver = Neighbour<Ipv6Addr>;

impl Resolver {
    /// Solicits `target`, now.
    #[must_use]
    pub fn new(mac: Mac, ip: Ipv6Addr, target: Ipv6Addr, now: Duration) -> Resolver {
        let mut r = Neighbour::blank(mac, ip, target);
        r.solicit(now);
        r
    }

    /// True for the Ethernet destinations of frames for us: our MAC, our solicited-node group's
    /// and all nodes'.
    #[must_use]
    pub fn listens(&self, mac: Mac) -> bool {
        mac == self.mac
            || mac == ndp::multicast_mac(ndp::solicited_node(self.ip))
            || mac == ndp::multicast_mac(ALL_NODES)
    }

    /// True for the IPv6 destinations of packets for us (the same three).
    #[must_use]
    pub fn accepts(&self, ip: Ipv6Addr) -> bool {
        ip == self.ip || ip == ndp::solicited_node(self.ip) || ip == ALL_NODES
    }

    /// A solicitation for the next hop from our address (Linux takes the source of the packet
    /// that waits for the answer, ours), to its solicited-node group, with our MAC.
    fn solicit(&mut self, now: Duration) {
        let group = ndp::solicited_node(self.target);
        let m = Message {
            kind: ndp::SOLICITATION,
            flags: 0,
            target: self.target,
            lla: Some((ndp::OPT_SOURCE_LLA, self.mac)),
        };
        let frame = encapsulate_ndp(&m, self.mac, ndp::multicast_mac(group), (self.ip, group));
        self.out.push_back(frame);
        self.asking.asked(now);
    }

    /// A solicitation again, or giving up, once a second passed without an answer.
    pub fn tick(&mut self, now: Duration) {
        if self.asking.due(now) {
            self.solicit(now);
        }
    }

    /// An ICMPv6 message `msg` for us arrived in `by`. A solicitation for our address is
    /// answered; the next hop's MAC is learned from its advertisement, or from its own
    /// solicitation for us (RFC 4861 §7.2.3: the source link-layer address is cached). Anything
    /// else of ICMPv6 is left alone.
    ///
    /// # Errors
    /// Why a neighbour discovery message was dropped: the validity checks of RFC 4861 §7.1.
    pub fn receive(&mut self, by: Carried, msg: &[u8]) -> Result<(), String> {
        let Some(&kind) = msg.first() else {
            return Ok(());
        };
        if !ndp::is_ndp(kind) {
            return Ok(());
        }
        let m = valid(by, msg)?;
        if kind == ndp::ADVERTISEMENT {
            if m.target == self.target && self.asking.state == Resolution::Waiting {
                match m.lla {
                    Some((ndp::OPT_TARGET_LLA, mac)) => self.asking.resolved(mac),
                    _ => {
                        return Err(format!(
                            "neighbor advertisement for {} without the target's link-layer address, while it is unresolved (RFC 4861 §7.2.5)",
                            m.target
                        ))
                    }
                }
            }
            return Ok(());
        }
        if m.target != self.ip {
            return Ok(());
        }
        let lla = match m.lla {
            Some((ndp::OPT_SOURCE_LLA, mac)) => Some(mac),
            _ => None,
        };
        if by.src == self.target {
            if let Some(mac) = lla {
                self.asking.resolved(mac);
            }
        }
        self.advertise(by, lla);
        Ok(())
    }

    /// The answer to a solicitation for our address.
    fn advertise(&mut self, by: Carried, lla: Option<Mac>) {
        let dad = by.src.is_unspecified();
        let multicast = by.dst.is_multicast();
        let (to, mac) = if dad {
            (ALL_NODES, ndp::multicast_mac(ALL_NODES))
        } else {
            (by.src, lla.unwrap_or(by.mac))
        };
        let mut flags = 0;
        if !dad {
            flags |= ndp::field::FLAG_S;
        }
        if dad || multicast {
            flags |= ndp::field::FLAG_O;
        }
        let m = Message {
            kind: ndp::ADVERTISEMENT,
            flags,
            target: self.ip,
            lla: (dad || multicast).then_some((ndp::OPT_TARGET_LLA, self.mac)),
        };
        self.out
            .push_back(encapsulate_ndp(&m, self.mac, mac, (self.ip, to)));
    }
}

/// The checks of RFC 4861 §7.1.1 (solicitation) and §7.1.2 (advertisement), in order; the
/// message read when it passes.
fn valid(by: Carried, msg: &[u8]) -> Result<Message, String> {
    let what = if msg[0] == ndp::SOLICITATION {
        "neighbor solicitation"
    } else {
        "neighbor advertisement"
    };
    let from = by.src;
    if by.hop_limit != HOP_LIMIT {
        return Err(format!(
            "{what} from {from}: hop limit {}, not 255 (it crossed a router)",
            by.hop_limit
        ));
    }
    let sum = checksum::add(checksum::Pseudo::V6(by.src, by.dst).sum(58, msg.len()), msg);
    if checksum::fold(sum) != 0xffff {
        let found = msg
            .get(icmp::field::CHECKSUM)
            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
        return Err(format!(
            "{what} from {from}: ICMPv6 checksum 0x{found:04x} is not right (bytes 2-3 of the ICMPv6 message)"
        ));
    }
    if msg.get(icmp::field::CODE.start) != Some(&0) {
        return Err(format!("{what} from {from}: code is not 0 (byte 1)"));
    }
    let Some(m) = Message::parse(msg) else {
        return Err(format!(
            "{what} from {from}: {} bytes, shorter than 24 (type, code, checksum, flags, target)",
            msg.len()
        ));
    };
    if m.target.is_multicast() {
        return Err(format!(
            "{what} from {from}: target {} is a multicast address (bytes 8-23)",
            m.target
        ));
    }
    if m.kind == ndp::SOLICITATION && from.is_unspecified() {
        if by.dst != ndp::solicited_node(m.target) {
            return Err(format!(
                "{what} from :: (duplicate address detection) to {}, not the target's solicited-node group",
                by.dst
            ));
        }
        if m.lla.is_some() {
            return Err(format!(
                "{what} from :: (duplicate address detection) with a source link-layer address option"
            ));
        }
    }
    if m.kind == ndp::ADVERTISEMENT && by.dst.is_multicast() && m.flags & ndp::field::FLAG_S != 0 {
        return Err(format!(
            "{what} from {from}: to the multicast group {} with the solicited flag set",
            by.dst
        ));
    }
    Ok(m)
}
