//! Path-MTU discovery. A router that cannot forward a packet with DF set (every IPv6 packet)
//! onto a narrower link drops it and answers its sender with ICMP "fragmentation needed" (type 3
//! code 4, RFC 1191) or ICMPv6 "packet too big" (type 2, RFC 4443 §3.2), announcing the next
//! hop's MTU and quoting the packet. The sender's kernel lowers its path MTU to it, and TCP sends
//! the refused bytes again at once in segments that fit (`tcp_v4_mtu_reduced`,
//! `tcp_simple_retransmit`), and every later segment as small.
//!
//! What Linux puts in the message (net/ipv4/icmp.c `icmp_send`, net/ipv6/icmp.c `icmp6_send`):
//! - IPv4: TOS 0xc0 (precedence "internetwork control" over the packet's own TOS), no DF, TTL
//!   64, an IP ID of the kernel's hashed counter, from the router's address on the link the
//!   packet came in by (the route back to the sender's), the packet quoted from its IP header
//!   on, as it arrived (TTL not yet lowered), as much as fits in 576 bytes.
//! - IPv6: traffic class 0, hop limit 64, a flow label of the kernel's, as much of the packet as
//!   fits in 1280 bytes (the minimum IPv6 MTU).
//!
//! Pure, as the rest of the model: the frames are handed in.

use std::net::{IpAddr, SocketAddr};

use super::neighbour::{judge, NeighbourCheck};
use super::seq::{self, Span};
use super::side::{Hole, Opener, Side};
use super::verdict::{FieldCheck, Verdict};
use super::Connection;
use crate::checksum::Pseudo;
use crate::dissect::{dissect, slice, slice_link, Net, Transport};
use crate::layers::ethernet::{self, EtherType, EthernetHeader};
use crate::layers::ipv4::{IpProtocol, Ipv4Header};
use crate::layers::ipv6::Ipv6Header;
use crate::layers::link::link_type;
use crate::layers::{icmp, ipv4, ipv6, Layer};

/// The most an IPv4 ICMP error is (RFC 1812 §4.3.2.3): its headers and the quote.
pub const V4_ERROR_MAX: usize = 576;
/// The most an ICMPv6 error is: the minimum IPv6 MTU.
pub const V6_ERROR_MAX: usize = 1280;
/// IPv4's header and ICMP's, before the quote.
const V4_HEADERS: usize = 20 + icmp::field::QUOTE;
/// IPv6's header and ICMPv6's, before the quote.
const V6_HEADERS: usize = 40 + icmp::field::QUOTE;

/// A "fragmentation needed" or "packet too big" on a link: who sent it to whom, the MTU it
/// announces, and the packet it quotes.
#[derive(Debug, Clone)]
pub struct TooBig<'a> {
    /// The router's address.
    pub from: IpAddr,
    /// The refused packet's sender.
    pub to: IpAddr,
    /// The next hop's MTU.
    pub mtu: u32,
    /// The refused packet, from its IP header on, as much as was quoted.
    pub quoted: &'a [u8],
}

/// The TCP segment a quote shows: its connection (sender first), where it starts, how much it
/// carried, and its IPv4 identification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// The segment's sender and its peer.
    pub key: (SocketAddr, SocketAddr),
    /// Its sequence number.
    pub seq: u32,
    /// Its payload's length, as its IP header says.
    pub len: usize,
    /// The whole packet's length, as its IP header says.
    pub packet_len: usize,
    /// Its IPv4 identification (none in IPv6).
    pub ip_id: Option<u16>,
}

/// The "fragmentation needed" or "packet too big" in `frame` (an Ethernet frame), if it is one.
#[must_use]
pub fn too_big(frame: &[u8]) -> Option<TooBig<'_>> {
    let s = slice(frame);
    let (from, to): (IpAddr, IpAddr) = match &s.net {
        Net::Ipv4(p) => (p.source().into(), p.destination().into()),
        Net::Ipv6(p, _) => (p.source.into(), p.destination.into()),
        _ => return None,
    };
    let Transport::Icmp(layer, ..) = s.transport else {
        return None;
    };
    let (mtu, quoted) = icmp::too_big(frame.get(s.transport_at..s.end)?, layer)?;
    Some(TooBig {
        from,
        to,
        mtu,
        quoted,
    })
}

/// The TCP segment `quoted` (an IP packet, cut where the quote ends) is, if it is one.
#[must_use]
pub fn refused(quoted: &[u8]) -> Option<Refused> {
    // (An IPv6 quote is cut inside the payload its header declares: made whole to decode.)
    let uncut = ipv6::uncut(quoted);
    let s = slice_link(uncut.as_ref().map_or(quoted, |u| &u.0), link_type::RAW);
    let Transport::Tcp(t) = s.transport else {
        return None;
    };
    let (key, packet_len, ip_id, upper) = match &s.net {
        Net::Ipv4(p) => (
            (
                SocketAddr::new(p.source().into(), t.src_port()),
                SocketAddr::new(p.destination().into(), t.dst_port()),
            ),
            usize::from(p.total_len()),
            Some(p.identification()),
            p.header_len(),
        ),
        Net::Ipv6(p, _) => (
            (
                SocketAddr::new(p.source.into(), t.src_port()),
                SocketAddr::new(p.destination.into(), t.dst_port()),
            ),
            uncut.as_ref().map_or(p.end, |u| u.1),
            None,
            p.upper,
        ),
        _ => return None,
    };
    Some(Refused {
        key,
        seq: t.seq(),
        len: packet_len.saturating_sub(upper + t.header_len()),
        packet_len,
        ip_id,
    })
}

/// Whether `quoted` (as an ICMP error quotes a packet) is the packet `ip` (an IP packet as a link
/// carried it): the same connection, sequence number, lengths and IPv4 identification, whatever
/// else the quote says (which is then checked byte for byte).
#[must_use]
pub fn quotes(quoted: &[u8], ip: &[u8]) -> bool {
    refused(quoted).is_some_and(|q| refused(ip) == Some(q))
}

/// The message a router sends for `packet` (the refused frame as its link carried it, Ethernet
/// header first) when its next hop's MTU is `mtu`: from `router` (its address on that link),
/// back to the frame's sender, MACs swapped. The IP ID (IPv4) or flow label (IPv6) are the
/// kernel's: `chosen`.
#[must_use]
pub fn model_frame(packet: &[u8], router: IpAddr, mtu: u32, chosen: u32) -> Option<Vec<u8>> {
    let s = slice(packet);
    let eth = s.ethernet?;
    let ip = packet.get(s.net_at..)?;
    let mut f = vec![0u8; EthernetHeader::LEN];
    let (ethertype, headers, max) = match (&s.net, router) {
        (Net::Ipv4(..), IpAddr::V4(_)) => (EtherType::Ipv4, V4_HEADERS, V4_ERROR_MAX),
        (Net::Ipv6(..), IpAddr::V6(_)) => (EtherType::Ipv6, V6_HEADERS, V6_ERROR_MAX),
        _ => return None,
    };
    EthernetHeader {
        destination: eth.source,
        source: eth.destination,
        ethertype,
    }
    .emit(&mut f);
    let quoted = &ip[..ip.len().min(max - headers)];
    let at = f.len();
    match (&s.net, router) {
        (Net::Ipv4(p), IpAddr::V4(r)) => {
            let message = icmp::emit_too_big(mtu, quoted, None);
            f.resize(at + 20, 0);
            Ipv4Header {
                // Precedence "internetwork control" over the packet's own TOS (ECN cleared).
                dscp: 0x30 | (p.dscp() & 0x0c),
                ecn: 0,
                total_len: 0,
                identification: u16::try_from(chosen).unwrap_or(0),
                dont_fragment: false,
                more_fragments: false,
                fragment_offset: 0,
                ttl: super::linux::DEFAULT_TTL,
                protocol: IpProtocol::Icmp,
                checksum: 0,
                source: r,
                destination: p.source(),
                options: Vec::new(),
            }
            .emit(&mut f[at..], u16::try_from(message.len()).ok()?);
            f.extend_from_slice(&message);
        }
        (Net::Ipv6(p, _), IpAddr::V6(r)) => {
            let message = icmp::emit_too_big(mtu, quoted, Some(Pseudo::V6(r, p.source)));
            f.resize(at + Ipv6Header::LEN, 0);
            Ipv6Header {
                traffic_class: 0,
                flow_label: chosen,
                hop_limit: super::linux::DEFAULT_TTL,
                source: r,
                destination: p.source,
            }
            .emit(
                &mut f[at..],
                u16::try_from(message.len()).ok()?,
                IpProtocol::Icmpv6,
            );
            f.extend_from_slice(&message);
        }
        _ => return None,
    }
    Some(f)
}

/// Why the IP ID or flow label, the router's address and the MTU are what they are.
const ID_WHY: &str = "an ICMP error's IP ID (no DF: the kernel's hashed counter) or flow label";
const MTU_WHY: &str = "the MTU of the router's next hop toward the destination, which no frame of this link shows; the sender's segments must fit in it from now on";
const ROUTER_KNOWN: &str =
    "the router's address on this link, as its ARP or neighbour discovery showed it";
const ROUTER_WHY: &str =
    "the router's address on this link (no ARP or neighbour discovery of it was captured)";
const MACS: &str =
    "the refused frame's MACs swapped: the router answers its sender over the same link";

/// Checks `frame`, a "fragmentation needed" or "packet too big", against the message the router
/// sends for `packet` (the refused frame as this link carried it; `None`: not in the capture).
/// `router`: the router's address on this link, when its ARP or neighbour discovery showed it.
#[must_use]
pub fn check(
    number: u64,
    frame: &[u8],
    tb: &TooBig<'_>,
    packet: Option<&[u8]>,
    router: Option<IpAddr>,
) -> NeighbourCheck {
    let s = slice(frame);
    let chosen = match &s.net {
        Net::Ipv4(p) => u32::from(p.identification()),
        Net::Ipv6(p, _) => p.flow_label,
        _ => 0,
    };
    let from = router.unwrap_or(tb.from);
    let built = packet.and_then(|p| model_frame(p, from, tb.mtu, chosen));
    // Without the refused frame the message is checked against itself where the quote decides.
    let model = built.clone().unwrap_or_else(|| frame.to_vec());
    let quote_seen = built.is_some();
    let rule = |k: &str| match k {
        ipv4::key::ID | ipv6::key::FLOW => Verdict::KernelChosen { why: ID_WHY },
        icmp::key::MTU | icmp::key::V6_MTU => Verdict::KernelChosen { why: MTU_WHY },
        ipv4::key::SRC | ipv6::key::SRC if router.is_some() => {
            Verdict::Learned { from: ROUTER_KNOWN }
        }
        ipv4::key::SRC | ipv6::key::SRC => Verdict::KernelChosen { why: ROUTER_WHY },
        ethernet::key::SRC | ethernet::key::DST if quote_seen => Verdict::Learned { from: MACS },
        _ if !quote_seen => Verdict::KernelChosen {
            why: "the refused packet is not in this capture: taken from the message",
        },
        _ => Verdict::Predicted,
    };
    let mut fields = judge(frame, &model, &rule);
    fields.extend(quote_check(frame, &model, quote_seen));
    let what = match refused(tb.quoted) {
        Some(r) => format!(
            "{} > {}: {}, {} bytes{} from {} refused (MTU {})",
            tb.from,
            tb.to,
            name(tb),
            r.packet_len,
            if tb.from.is_ipv6() { "" } else { " (DF)" },
            r.key.0,
            tb.mtu
        ),
        None => format!("{} > {}: {} (MTU {})", tb.from, tb.to, name(tb), tb.mtu),
    };
    NeighbourCheck {
        number,
        what,
        fields,
        model_frame: model,
    }
}

/// tcpdump's words for the message.
fn name(tb: &TooBig<'_>) -> &'static str {
    if tb.from.is_ipv6() {
        "ICMP6, packet too big"
    } else {
        "ICMP unreachable - need to frag"
    }
}

/// The quoted packet (the message's payload) against the model's.
fn quote_check(frame: &[u8], model: &[u8], seen: bool) -> Option<FieldCheck> {
    let payload = |f: &[u8]| {
        dissect(f)
            .nodes
            .into_iter()
            .find(|n| n.layer == Layer::Application)
            .and_then(|n| n.fields.into_iter().next())
    };
    let kernel = payload(frame)?;
    let ours = payload(model);
    let same = ours.as_ref().is_some_and(|m| m.value == kernel.value);
    let verdict = match (seen, same) {
        (false, _) => Verdict::KernelChosen {
            why: "a packet this capture did not carry",
        },
        (true, true) => Verdict::Predicted,
        (true, false) => Verdict::Mismatch {
            expected: "the refused packet, from its IP header on, as it arrived".into(),
        },
    };
    Some(FieldCheck {
        layer: Layer::Application,
        model: ours.map_or_else(|| "(none)".into(), |m| m.display),
        field: kernel,
        verdict,
    })
}

impl Connection {
    /// A router refused a segment of `from` (`refused`, as its message quoted it) and told the
    /// sender the next hop's MTU is `mtu`: the sender's segments fit in it from now on, and the
    /// refused bytes never reached the peer. When this capture has not carried the segment (it
    /// is on the router's far side), its IP IDs are spent all the same.
    pub fn path_mtu_reduced(&mut self, from: Side, mtu: u32, refused: &Refused) {
        // The refused packet was built before the sender knew of this MTU: its segments are
        // the size it had then (without any path MTU told since).
        let told = self.pmtu[from.index()].take();
        let before = self.send_mss(from);
        self.pmtu[from.index()] = told;
        let span = Span::from_len(refused.seq, refused.len);
        let mtu = u16::try_from(mtu).unwrap_or(u16::MAX);
        let me = &mut self.sides[from];
        let seen = seq::after(me.next_seq, refused.seq);
        if seen {
            // The peer never had these bytes: not among what it may hold out of order, and a
            // TSval they carried proves nothing it received.
            // (An empty span keeps its place: what lies below it counts as received, what lies
            // above it as held beyond a gap.)
            for s in &mut me.sent {
                if span.contains(s.start) {
                    *s = Span::new(span.start, span.start);
                }
            }
            // (Refused segments back to back: one marker, at the first.)
            let mut after_marker = false;
            me.sent.retain(|s| {
                let again = s.is_empty() && after_marker;
                after_marker = s.is_empty();
                !again
            });
            me.ts_marks
                .retain(|m| !span.contains(m.end.wrapping_sub(1)));
            // The segments the sender built before the message reached it keep the old size:
            // the new one holds from its first segment sent again.
            let pending = &mut self.pmtu_pending[from.index()];
            *pending = Some(pending.map_or((mtu, refused.seq), |(p, at)| (p.min(mtu), at)));
        } else {
            if me.next_seq == refused.seq {
                // On the router's far side: the bytes were sent, and refused, before what
                // comes next; a hole until they come again.
                if let (Some(id), Some(mss)) = (refused.ip_id, before) {
                    if me.ids.next == Some(id) {
                        let segs = refused.len.div_ceil(mss.max(1)).max(1);
                        me.ids.next = Some(id.wrapping_add(segs as u16));
                    }
                }
                // (Refused segments back to back make one hole: one sent again may cross
                // where they met.)
                match me.holes.iter_mut().find(|h| h.span.end == span.start) {
                    Some(h) if h.opener == Opener::default() => h.span.end = span.end,
                    _ => me.holes.push(Hole {
                        span,
                        frame: me.last_frame,
                        acked: false,
                        opener: Opener::default(),
                    }),
                }
                me.next_seq = span.end;
                // Where the peer's stream stops in order (see the other side's marker).
                if !me.sent.back().is_some_and(Span::is_empty) {
                    me.sent.push_back(Span::new(span.start, span.start));
                }
                self.take_written(from, refused.len);
            }
            self.set_path_mtu(from, mtu);
        }
        if self.refused.len() == KEEP_REFUSED {
            self.refused.remove(0);
        }
        self.refused.push((from, span));
        // The refused segment is sent again as it was (over IPv6, with no IP ID, byte for
        // byte): not a frame captured twice.
        self.last_frame = None;
    }

    fn set_path_mtu(&mut self, from: Side, mtu: u16) {
        let pmtu = &mut self.pmtu[from.index()];
        *pmtu = Some(pmtu.map_or(mtu, |p| p.min(mtu)));
    }

    /// Before frame `o` of `from` is predicted: a segment that sends refused bytes again is the
    /// sender's first with the path MTU it was told (Linux retransmits them at once, in
    /// segments that fit, `tcp_simple_retransmit`).
    pub(super) fn apply_path_mtu(&mut self, from: Side, o: &super::observed::Observed<'_>) {
        let Some((mtu, _)) = self.pmtu_pending[from.index()] else {
            return;
        };
        if !o.is_empty() && self.was_refused(from, Span::from_len(o.seq(), o.len())) {
            self.pmtu_pending[from.index()] = None;
            self.set_path_mtu(from, mtu);
        }
    }

    /// The largest segment payload the path MTU lets `from` send, if a router told it one: the
    /// MTU less the IP and TCP headers (the caller takes the options off).
    #[must_use]
    pub fn path_mss(&self, from: Side) -> Option<u16> {
        let ip = if self.sides[from].addr.is_ipv6() {
            40
        } else {
            20
        };
        self.pmtu[from.index()].map(|m| m.saturating_sub(ip + 20))
    }

    /// Where the first refused bytes of `from` not yet sent again start: until they are, the
    /// peer holds what came after them out of order.
    fn refused_outstanding(&self, from: Side) -> Option<u32> {
        if let Some((_, at)) = self.pmtu_pending[from.index()] {
            return Some(at);
        }
        self.sides[from]
            .holes
            .iter()
            .find(|h| self.was_refused(from, h.span))
            .map(|h| h.span.start)
    }

    /// After a frame of `from` is learned: a TSval first carried by a segment beyond refused
    /// bytes not sent again proves nothing of what the peer received (it holds that segment out
    /// of order, and echoes an older TSval).
    pub(super) fn forget_marks_past_refused(&mut self, from: Side) {
        if let Some(start) = self.refused_outstanding(from) {
            self.sides[from]
                .ts_marks
                .retain(|m| !seq::after(m.end, start));
        }
    }

    /// `ev` for frame `o` of `from`, marked when it sends bytes a router refused again.
    pub(super) fn resent_refused(
        &self,
        from: Side,
        o: &super::observed::Observed<'_>,
        ev: super::event::Event,
    ) -> super::event::Event {
        super::event::Event {
            resent_refused: (ev.retrans || ev.fills.is_some())
                && !o.is_empty()
                && self.was_refused(from, Span::from_len(o.seq(), o.len())),
            ..ev
        }
    }

    /// Whether bytes `span` of `from` were refused by a router: sent again, they reach the peer
    /// for the first time.
    pub(super) fn was_refused(&self, from: Side, span: Span) -> bool {
        self.refused
            .iter()
            .any(|(side, r)| *side == from && r.contains(span.start))
    }
}

/// How many refused segments a connection remembers.
const KEEP_REFUSED: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::ethernet::Mac;
    use crate::pipeline::{encapsulate, Params};
    use std::net::{Ipv4Addr, SocketAddrV4};

    const A: Mac = [2, 0, 0, 0, 0x0a, 1];
    const R: Mac = [2, 0, 0, 0, 0x0a, 2];

    fn segment(len: usize) -> Vec<u8> {
        let a = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 10), 40000);
        let b = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 10), 6666);
        let mut p = Params::between(a, b).with_macs(A, R);
        p.tcp.seq = 1000;
        encapsulate(&vec![b'x'; len], &p).unwrap().frame().to_vec()
    }

    #[test]
    fn the_routers_message_quotes_the_refused_packet_and_is_checked_field_by_field() {
        let packet = segment(1448);
        let router = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let icmp = model_frame(&packet, router, 1400, 7).unwrap();
        assert_eq!(icmp.len(), 14 + 576, "576 bytes of IP");
        let tb = too_big(&icmp).unwrap();
        assert_eq!((tb.mtu, tb.quoted.len(), tb.from), (1400, 548, router));
        assert_eq!(tb.quoted, &packet[14..14 + 548]);
        let r = refused(tb.quoted).unwrap();
        assert_eq!((r.seq, r.len, r.packet_len), (1000, 1448, 1500));
        let c = check(3, &icmp, &tb, Some(&packet), Some(router));
        assert_eq!(c.counts().mismatch, 0, "{:#?}", c.fields);
        assert!(c
            .what
            .contains("1500 bytes (DF) from 192.0.2.10:40000 refused (MTU 1400)"));
        // A quote that is not the packet's, and a wrong TTL, are caught.
        let mut bad = icmp.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let tb = too_big(&bad).unwrap();
        // (The checksum, still the one over the packet's bytes, is the model's too.)
        assert_eq!(
            check(3, &bad, &tb, Some(&packet), Some(router))
                .counts()
                .mismatch,
            1,
            "the quote"
        );
        let mut ttl = icmp.clone();
        // (The TTL and so the header checksum.)
        ttl[22] = 63;
        ipv4::refresh_checksum(&mut ttl[14..34]);
        let tb = too_big(&ttl).unwrap();
        assert_eq!(
            check(3, &ttl, &tb, Some(&packet), Some(router))
                .counts()
                .mismatch,
            2
        );
    }

    #[test]
    fn a_connection_told_the_path_mtu_sends_smaller_segments() {
        let a = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 10), 40000);
        let b = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 10), 6666);
        let mut c = Connection::new(a, b);
        c.sides[Side::Server].mss = Some(1460);
        c.timestamps = true;
        assert_eq!(c.send_mss(Side::Client), Some(1448));
        let r = Refused {
            key: (a.into(), b.into()),
            seq: 0,
            len: 5000,
            packet_len: 5052,
            ip_id: Some(10),
        };
        c.sides[Side::Client].ids.next = Some(10);
        c.path_mtu_reduced(Side::Client, 1400, &r);
        assert_eq!(c.send_mss(Side::Client), Some(1348), "1400 - 20 - 20 - 12");
        assert_eq!(
            c.sides[Side::Client].ids.next,
            Some(14),
            "4 segments of 1448 spent"
        );
        assert!(c.was_refused(Side::Client, Span::from_len(1448, 10)));
        assert!(!c.was_refused(Side::Server, Span::from_len(0, 10)));
    }
}
