//! A path of several links checked together (the captures of both sides of a router): each link
//! has its own [`Verifier`] (its connections, its ARP or neighbour discovery), and a packet seen
//! on one link and again on another is checked hop by hop: the router changed only what
//! forwarding changes (the TTL or hop limit one less, both MACs rewritten to the router's own and
//! the next hop's, as the out link's neighbour caches hold them, the IPv4 header checksum
//! updated), and nothing else.
//!
//! Pure, as the model is: frames are handed in, in capture order, each with its link.

use std::net::IpAddr;
use std::time::Duration;

use crate::dissect::{dissect_link, slice_link, Net, Transport};
use crate::layers::ethernet::{self, EthernetHeader};
use crate::layers::link::{link_type, packet_type, Cooked};
use crate::layers::{ipv4, ipv6, Field};
use crate::model::neighbour::judge_link;
use crate::model::{FieldCheck, TcpSettings, Verdict};
use crate::verify::{Outcome, Transcript, Verifier};

/// How many packets of the path wait for their copy on another link, at most: a packet a router
/// forwards shows up on the other side within a few frames.
const WAITING: usize = 4096;

/// One packet checked across the router: where it was seen before and after, and every field of
/// the forwarded copy against the model's (the first copy, as the router would forward it).
#[derive(Debug, Clone)]
pub struct HopCheck {
    /// Link index and frame number of the copy before the router.
    pub before: (usize, u64),
    /// Link index and frame number of the copy after it.
    pub after: (usize, u64),
    /// TTL or hop limit before and after, and which of the two it is.
    pub hops: (u64, u64, &'static str),
    /// Source MAC before and after.
    pub source: (String, String),
    /// Destination MAC before and after (none in a cooked capture: its header has only the
    /// source's).
    pub destination: Option<(String, String)>,
    /// The IPv4 header checksum before and after (none in IPv6).
    pub checksum: Option<(u64, u64)>,
    /// Every field of the forwarded copy; for a packet the router dropped, the fields that say
    /// why (its length against the next hop's MTU, DF).
    pub fields: Vec<FieldCheck>,
    /// The router did not forward the packet: too big for its next hop, whose MTU this is, it
    /// sent an ICMP error back instead (`after` is that message).
    pub dropped: Option<u32>,
}

impl HopCheck {
    /// The Packet-Tracer-like line: `at r: TTL 64 -> 63, source MAC ... -> ..., destination
    /// MAC ... -> ..., header checksum 0x.... -> 0x....` (a cooked capture holds no destination
    /// MAC: then none).
    #[must_use]
    pub fn line(&self, router: &str) -> String {
        if let Some(mtu) = self.dropped {
            let v6 = self.checksum.is_none();
            return format!(
                "dropped at {router}: larger than the next-hop MTU {mtu}{}, {} sent back",
                if v6 { "" } else { " with DF set" },
                if v6 {
                    "ICMPv6 packet too big (type 2)"
                } else {
                    "ICMP fragmentation needed (type 3 code 4)"
                },
            );
        }
        let mut s = format!(
            "at {router}: {} {} -> {}, source MAC {} -> {}",
            self.hops.2, self.hops.0, self.hops.1, self.source.0, self.source.1,
        );
        if let Some((a, b)) = &self.destination {
            s += &format!(", destination MAC {a} -> {b}");
        }
        if let Some((a, b)) = self.checksum {
            s += &format!(", header checksum 0x{a:04x} -> 0x{b:04x}");
        }
        s
    }

    /// Its verdict counts.
    #[must_use]
    pub fn counts(&self) -> crate::model::Counts {
        let mut c = crate::model::Counts::default();
        for f in &self.fields {
            c.add(&f.verdict);
        }
        c
    }
}

/// A packet seen on one link, waiting for its copy on another.
#[derive(Debug)]
struct Waiting {
    link: usize,
    number: u64,
    kind: u32,
    id: Vec<u8>,
    frame: Vec<u8>,
}

/// A TCP packet's flow: its source and destination, addresses and ports.
type Flow = (IpAddr, u16, IpAddr, u16);

/// The flow of a TCP packet, if the frame is one.
fn flow(frame: &[u8], kind: u32) -> Option<Flow> {
    let s = slice_link(frame, kind);
    let Transport::Tcp(t) = s.transport else {
        return None;
    };
    let (src, dst): (IpAddr, IpAddr) = match &s.net {
        Net::Ipv4(p) => (p.source().into(), p.destination().into()),
        Net::Ipv6(p, _) => (p.source.into(), p.destination.into()),
        _ => return None,
    };
    Some((src, t.src_port(), dst, t.dst_port()))
}

/// A router's refusal the links beyond it have not been told of yet: the packets its sender
/// sent before the refused one are still on their way there (each link's capture sees a
/// packet when the router forwards it, and the router may forward an earlier packet, on
/// another CPU, after it sent the ICMP error for a later one).
#[derive(Debug)]
struct Deferred {
    /// The link that carried the refused packet, and its frame number there.
    near: (usize, u64),
    flow: Flow,
    mtu: u32,
    quoted: Vec<u8>,
}

/// How many refusals wait for the frames before them, at most.
const DEFERRED: usize = 16;

/// The links of one path, each with its verifier, and the packets waiting for their next hop.
#[derive(Debug)]
pub struct Path {
    links: Vec<Verifier>,
    waiting: std::collections::VecDeque<Waiting>,
    deferred: Vec<Deferred>,
}

impl Path {
    /// A path of `links` links, each followed as [`Verifier::new`] does.
    #[must_use]
    pub fn new(
        links: usize,
        settings: Option<TcpSettings>,
        transcript: Option<&Transcript>,
    ) -> Path {
        Path {
            links: (0..links)
                .map(|_| Verifier::new(settings, transcript.cloned()))
                .collect(),
            waiting: std::collections::VecDeque::new(),
            deferred: Vec::new(),
        }
    }

    /// The same path, told which endpoints a Linux kernel runs ([`Verifier::with_linux`]).
    #[must_use]
    pub fn with_linux(mut self, linux: &[crate::verify::LinuxEnd]) -> Path {
        self.links = self
            .links
            .into_iter()
            .map(|v| v.with_linux(linux.to_vec()))
            .collect();
        self
    }

    /// The verifier of each link.
    #[must_use]
    pub fn links(&self) -> &[Verifier] {
        &self.links
    }

    /// Checks frame `number` of link `link` on that link, and, when it is the copy of a packet
    /// seen on another link, hop by hop. A link beyond those given is no link: `Skipped`.
    ///
    /// A Linux cooked capture taken on the router (`tcpdump -i any` there) holds both copies of
    /// a forwarded packet, the one that came in and the one that went out. With SLL2 each is on
    /// the link of its interface index; SLL (v1) has no interface index, so both are on one
    /// link: the copy going out (packet type OUTGOING, one hop less) is then checked hop by hop
    /// only, and listed on the link (its connection's model saw the packet as it came in).
    pub fn feed(
        &mut self,
        link: usize,
        number: u64,
        time: Option<Duration>,
        kind: u32,
        frame: &[u8],
    ) -> (Outcome, Option<HopCheck>) {
        if link >= self.links.len() {
            return (Outcome::Skipped, None);
        }
        let id = identity(frame, kind);
        let cooked = Cooked::parse(kind, frame);
        let outgoing = cooked.is_some_and(|c| c.outgoing());
        let found = id.as_ref().and_then(|id| {
            self.waiting.iter().rposition(|w| {
                w.id == *id
                    && w.kind == kind
                    && (w.link != link
                        || (kind == link_type::LINUX_SLL
                            && outgoing
                            && !Cooked::parse(w.kind, &w.frame).is_some_and(|c| c.outgoing())
                            && hop_count(&w.frame, w.kind)
                                == hop_count(frame, kind).wrapping_add(1)))
            })
        });
        // A frame of a refused packet's flow on a far link, other than the copy of a packet sent
        // before the refused one: the far link is past the refusal.
        let copy_of = found.map(|i| (self.waiting[i].link, self.waiting[i].number));
        if let Some(f) = flow(frame, kind).filter(|_| !self.deferred.is_empty()) {
            let due = self
                .deferred
                .iter()
                .map(|d| {
                    d.near.0 != link
                        && d.flow == f
                        && !copy_of.is_some_and(|(l, n)| l == d.near.0 && n < d.near.1)
                })
                .collect();
            self.release(due);
        }
        let Some(i) = found else {
            let outcome = self.links[link].feed_link(number, time, kind, frame);
            if matches!(outcome, Outcome::TooBig(_)) {
                let drop = self.refused(link, number, frame);
                return (outcome, drop);
            }
            if let Some(id) = id {
                if self.waiting.len() == WAITING {
                    self.waiting.pop_front();
                }
                self.waiting.push_back(Waiting {
                    link,
                    number,
                    kind,
                    id,
                    frame: frame.to_vec(),
                });
            }
            return (outcome, None);
        };
        let w = self.waiting.remove(i).unwrap_or_else(|| unreachable!());
        let outcome = if w.link == link {
            Outcome::Listed(
                format!(
                    "the copy of frame {} that the router forwarded (SLL has no interface index: \
                     checked hop by hop below)",
                    w.number
                ),
                "forwarded copies",
            )
        } else {
            self.links[link].feed_link(number, time, kind, frame)
        };
        if !self.deferred.is_empty() {
            let due = self
                .deferred
                .iter()
                .map(|d| !self.earlier_waiting(d))
                .collect();
            self.release(due);
        }
        let now = Waiting {
            link,
            number,
            kind,
            id: Vec::new(),
            frame: frame.to_vec(),
        };
        // Two capture sockets' clocks may put the forwarded copy first: the copy before the
        // router is the one with the higher TTL or hop limit, whichever came first.
        let hop = if hop_count(frame, kind) > hop_count(&w.frame, w.kind) {
            self.hop(&now, (w.link, w.number), &w.frame)
        } else {
            self.hop(&w, (link, number), frame)
        };
        (outcome, hop)
    }

    /// A router's "fragmentation needed" or "packet too big", frame `number` of `link`: the
    /// packet it quotes, waiting for its copy on the far side, was dropped there. The links that
    /// never carried it learn of it (its connection's IP IDs spent, the path MTU); the drop is
    /// checked: the packet was larger than the MTU and (IPv4) had DF set.
    fn refused(&mut self, link: usize, number: u64, frame: &[u8]) -> Option<HopCheck> {
        let tb = crate::model::pmtu::too_big(frame)?;
        let i = self.waiting.iter().rposition(|w| {
            let ip = w
                .frame
                .get(slice_link(&w.frame, w.kind).net_at..)
                .unwrap_or_default();
            crate::model::pmtu::quotes(tb.quoted, ip)
        })?;
        let w = self.waiting.remove(i)?;
        let d = Deferred {
            near: (w.link, w.number),
            flow: flow(&w.frame, w.kind)?,
            mtu: tb.mtu,
            quoted: tb.quoted.to_vec(),
        };
        if self.earlier_waiting(&d) {
            if self.deferred.len() == DEFERRED {
                let oldest = self.deferred.remove(0);
                self.tell(&oldest);
            }
            self.deferred.push(d);
        } else {
            self.tell(&d);
        }
        let d = dissect_link(&w.frame, w.kind);
        let fields: Vec<FieldCheck> = d
            .nodes
            .iter()
            .flat_map(|n| n.fields.iter().map(move |f| (n.layer, f)))
            .filter_map(|(layer, f)| {
                let (ok, model) = match f.key.as_ref() {
                    ipv4::key::LEN => (
                        f.number()? > u64::from(tb.mtu),
                        format!("more than {} (the next hop's MTU)", tb.mtu),
                    ),
                    ipv6::key::PLEN => (
                        f.number()? + 40 > u64::from(tb.mtu),
                        format!("more than {} (the next hop's MTU) less 40", tb.mtu),
                    ),
                    ipv4::key::FLAG_DF => (
                        f.number()? == 1,
                        "1 (a router fragments a packet without DF)".into(),
                    ),
                    _ => return None,
                };
                let verdict = if ok {
                    Verdict::Predicted
                } else {
                    Verdict::Mismatch {
                        expected: model.clone(),
                    }
                };
                Some(FieldCheck {
                    layer,
                    field: f.clone(),
                    model,
                    verdict,
                })
            })
            .collect();
        let ttl = u64::from(hop_count(&w.frame, w.kind));
        let mac = |k: &str| {
            d.nodes
                .iter()
                .flat_map(|n| &n.fields)
                .find(|f| f.key == k)
                .map_or_else(|| "?".into(), |f| f.display.clone())
        };
        Some(HopCheck {
            before: (w.link, w.number),
            after: (link, number),
            hops: (
                ttl,
                ttl,
                if tb.from.is_ipv6() {
                    "hop limit"
                } else {
                    "TTL"
                },
            ),
            source: (mac(ethernet::key::SRC), mac(ethernet::key::SRC)),
            destination: (w.kind == link_type::ETHERNET)
                .then(|| (mac(ethernet::key::DST), mac(ethernet::key::DST))),
            checksum: (!tb.from.is_ipv6()).then_some((0, 0)),
            fields,
            dropped: Some(tb.mtu),
        })
    }

    /// Whether a packet of `d`'s flow sent before the refused one still waits for its copy on
    /// the far side.
    fn earlier_waiting(&self, d: &Deferred) -> bool {
        self.waiting.iter().any(|w| {
            w.link == d.near.0 && w.number < d.near.1 && flow(&w.frame, w.kind) == Some(d.flow)
        })
    }

    /// Tells the links beyond the router of refusal `d` (its connection's IP IDs spent, the
    /// path MTU): where its packet would have been, had the router forwarded it.
    fn tell(&mut self, d: &Deferred) {
        for (l, v) in self.links.iter_mut().enumerate() {
            if l != d.near.0 {
                v.refused(d.mtu, &d.quoted);
            }
        }
    }

    /// Tells the far links of each deferred refusal that `due` (one flag each) says is due, in
    /// the order they came.
    fn release(&mut self, due: Vec<bool>) {
        let mut due = due.into_iter();
        let (now, later): (Vec<Deferred>, Vec<Deferred>) = std::mem::take(&mut self.deferred)
            .into_iter()
            .partition(|_| due.next().unwrap_or(false));
        self.deferred = later;
        for d in &now {
            self.tell(d);
        }
    }

    /// The forwarded copy `after` of `w` against `w` as the router would forward it.
    fn hop(&self, w: &Waiting, after: (usize, u64), frame: &[u8]) -> Option<HopCheck> {
        let s = slice_link(&w.frame, w.kind);
        let (src, dst): (IpAddr, IpAddr) = match &s.net {
            Net::Ipv4(p) => (p.source().into(), p.destination().into()),
            Net::Ipv6(p, _) => (p.source.into(), p.destination.into()),
            _ => return None,
        };
        // (On one link holding both sides of the router, SLL's, its caches cannot say which
        // MAC the router uses on the way out.)
        let macs = (w.link != after.0)
            .then(|| self.links[after.0].neighbours().expected_macs(src, dst))
            .flatten();
        let (model, known) = forwarded(w, frame, macs)?;
        let before = dissect_link(&w.frame, w.kind);
        let hop_key = if matches!(s.net, Net::Ipv4(_)) {
            ipv4::key::TTL
        } else {
            ipv6::key::HLIM
        };
        let cooked = w.kind != link_type::ETHERNET;
        let rule = |k: &str| {
            match k {
            ethernet::key::SRC if known.0 => Verdict::Learned { from: "the router's own MAC on the out link, as its ARP or neighbour discovery there showed it" },
            ethernet::key::DST if known.1 => Verdict::Learned { from: "the next hop's MAC on the out link, as the router's neighbour cache holds it" },
            ethernet::key::SRC | ethernet::key::DST => Verdict::KernelChosen { why: "the router's MAC and the next hop's on the out link: no ARP or neighbour discovery for them was captured there" },
            "sll.src.eth" if known.0 => Verdict::Learned { from: "the router's own MAC on the out interface, as its ARP or neighbour discovery there showed it" },
            "sll.src.eth" => Verdict::KernelChosen { why: "the router's own MAC on the out interface: no ARP or neighbour discovery of it was captured there (a cooked capture shows the source MAC only)" },
            "sll.ifindex" => Verdict::KernelChosen { why: "the interface the router's route sends the packet out of" },
            _ => Verdict::Predicted,
        }
        };
        let fields = judge_link(frame, &model, w.kind, &rule);
        let after_d = dissect_link(frame, w.kind);
        let num = |d: &crate::dissect::Dissection, k: &str| field(d, k).and_then(|f| f.number());
        let mac = |d: &crate::dissect::Dissection, k: &str| {
            field(d, k).map_or_else(|| "?".into(), |f| f.display)
        };
        let mac_key = if cooked {
            "sll.src.eth"
        } else {
            ethernet::key::SRC
        };
        let hops_before = num(&before, hop_key)?;
        Some(HopCheck {
            before: (w.link, w.number),
            after,
            hops: (
                hops_before,
                num(&after_d, hop_key).unwrap_or(0),
                if hop_key == ipv4::key::TTL {
                    "TTL"
                } else {
                    "hop limit"
                },
            ),
            source: (mac(&before, mac_key), mac(&after_d, mac_key)),
            destination: (!cooked).then(|| {
                (
                    mac(&before, ethernet::key::DST),
                    mac(&after_d, ethernet::key::DST),
                )
            }),
            checksum: num(&before, ipv4::key::CHECKSUM).zip(num(&after_d, ipv4::key::CHECKSUM)),
            fields,
            dropped: None,
        })
    }
}

/// The order in which to hand in frames captured on several links (`frames`: each one's link,
/// capture time, link type and bytes): by capture time, each link's own frames in the order
/// given, except that a copy a router forwarded never comes before the copy it was forwarded
/// from. Two capture sockets' stamps are not in step: seen in `lab demo`, every frame of r-b
/// stamped some 100 µs before its copy on a-r, both ways, on a busy machine; r-b's model then
/// saw a's retransmission before r's ICMP error about the packet before it, and counted the
/// IP IDs wrong. (Copies are matched by a hash of what stays the same across the router: a
/// collision only holds a frame back until the other is handed in.)
#[must_use]
pub fn causal_order(frames: &[(usize, Duration, u32, &[u8])]) -> Vec<usize> {
    use std::collections::HashMap;
    use std::hash::{DefaultHasher, Hash, Hasher};
    let links = frames.iter().map(|f| f.0 + 1).max().unwrap_or(0);
    let mut queues: Vec<Vec<usize>> = vec![Vec::new(); links];
    for (i, f) in frames.iter().enumerate() {
        queues[f.0].push(i);
    }
    for q in &mut queues {
        q.sort_by_key(|&i| frames[i].1);
    }
    // Each packet's copies: link, place on it, TTL or hop limit.
    let key = |f: &(usize, Duration, u32, &[u8])| {
        identity(f.3, f.2).map(|id| {
            let mut h = DefaultHasher::new();
            (f.2, id).hash(&mut h);
            h.finish()
        })
    };
    let mut copies: HashMap<u64, Vec<(usize, usize, u8)>> = HashMap::new();
    let mut keys = vec![None; frames.len()];
    for (link, q) in queues.iter().enumerate() {
        for (at, &i) in q.iter().enumerate() {
            keys[i] = key(&frames[i]);
            if let Some(k) = keys[i] {
                copies
                    .entry(k)
                    .or_default()
                    .push((link, at, hop_count(frames[i].3, frames[i].2)));
            }
        }
    }
    let mut next = vec![0usize; links];
    let mut order = Vec::with_capacity(frames.len());
    while order.len() < frames.len() {
        let heads = (0..links).filter_map(|l| queues[l].get(next[l]).map(|&i| (l, i)));
        // A forwarded copy waits while the copy it came from (more hops left, another link)
        // is still to come.
        let waits = |&(l, i): &(usize, usize)| {
            keys[i].is_some_and(|k| {
                let hops = hop_count(frames[i].3, frames[i].2);
                copies[&k]
                    .iter()
                    .any(|&(l2, at, h)| l2 != l && h > hops && at >= next[l2])
            })
        };
        let free = heads
            .clone()
            .filter(|h| !waits(h))
            .min_by_key(|&(_, i)| frames[i].1);
        let Some((l, i)) = free.or_else(|| heads.min_by_key(|&(_, i)| frames[i].1)) else {
            break;
        };
        order.push(i);
        next[l] += 1;
    }
    order
}

/// Tells, frame by frame, whether a Linux cooked capture holds several links: an SLL2 one of
/// more than one interface index, or an SLL one taken on a router (a TCP packet that came in
/// seen again going out, one hop less).
#[derive(Debug, Default)]
pub struct CookedLinks {
    ifindex: Option<u32>,
    came_in: std::collections::HashSet<(Vec<u8>, u8)>,
}

impl CookedLinks {
    /// Looks at one more frame; true once the capture is known to hold several links.
    pub fn see(&mut self, kind: u32, frame: &[u8]) -> bool {
        let Some(c) = Cooked::parse(kind, frame) else {
            return false;
        };
        if let Some(i) = c.ifindex {
            return *self.ifindex.get_or_insert(i) != i;
        }
        let Some(id) = identity(frame, kind) else {
            return false;
        };
        let hops = hop_count(frame, kind);
        if c.outgoing() {
            self.came_in.contains(&(id, hops.wrapping_add(1)))
        } else {
            self.came_in.insert((id, hops));
            false
        }
    }
}

/// The field `key` of a dissection.
fn field(d: &crate::dissect::Dissection, key: &str) -> Option<Field> {
    d.nodes
        .iter()
        .flat_map(|n| &n.fields)
        .find(|f| f.key == key)
        .cloned()
}

/// The copy `w` as the router forwards it, in the link header of the copy seen after it
/// (`frame`): the TTL or hop limit one less, the IPv4 header checksum updated, on Ethernet both
/// MACs as the out link's neighbour caches hold them (`macs`, where known), in a cooked header
/// the packet type OUTGOING. With it, whether the router's MAC and the next hop's were known.
fn forwarded(
    w: &Waiting,
    frame: &[u8],
    macs: Option<(
        crate::layers::ethernet::Mac,
        Option<crate::layers::ethernet::Mac>,
    )>,
) -> Option<(Vec<u8>, (bool, bool))> {
    let s = slice_link(&w.frame, w.kind);
    let after = slice_link(frame, w.kind);
    let mut model = frame.get(..after.net_at)?.to_vec();
    model.extend_from_slice(w.frame.get(s.net_at..)?);
    let d = dissect_link(&model, w.kind);
    let hop_key = if matches!(s.net, Net::Ipv4(_)) {
        ipv4::key::TTL
    } else {
        ipv6::key::HLIM
    };
    let hop = field(&d, hop_key)?;
    hop.write(&mut model, hop.number()?.saturating_sub(1));
    let mut known = (false, false);
    if w.kind == link_type::ETHERNET {
        // The MACs: as the out link's caches hold them, or where no ARP was seen there, as the
        // copy has them (then kernel-chosen).
        let (eth_after, _) = EthernetHeader::parse(frame).ok()?;
        let (own, next) = macs.map_or((eth_after.source, None), |(o, n)| (o, n));
        EthernetHeader {
            source: own,
            destination: next.unwrap_or(eth_after.destination),
            ..eth_after
        }
        .emit(&mut model);
        known = (macs.is_some(), next.is_some());
    } else {
        if let Some(p) = field(&d, "sll.pkttype") {
            p.write(&mut model, u64::from(packet_type::OUTGOING));
        }
        // The source MAC: the router's own on the out link, where its ARP there showed it.
        if let (Some((own, _)), Some(mut c)) = (macs, Cooked::parse(w.kind, &model)) {
            c.address.1[..6].copy_from_slice(&own);
            let (ethertype, _) = crate::layers::link::parse(w.kind, &model).ok()?;
            model.splice(..after.net_at, c.header(w.kind, ethertype));
            known.0 = true;
        }
    }
    if matches!(s.net, Net::Ipv4(_)) {
        if let Some(header) = model.get_mut(after.net_at..) {
            ipv4::refresh_checksum(header);
        }
    }
    Some((model, known))
}

/// The TTL or hop limit of an IP packet (0 for anything else).
fn hop_count(frame: &[u8], kind: u32) -> u8 {
    match slice_link(frame, kind).net {
        Net::Ipv4(p) => p.ttl(),
        Net::Ipv6(p, _) => p.hop_limit,
        _ => 0,
    }
}

/// What stays the same of a TCP packet across a router: its addresses, the IPv4 identification,
/// and the whole segment. `None` for what is not TCP over IP, and for the link types whose
/// copies are not matched (only Ethernet and the Linux cooked captures are).
fn identity(frame: &[u8], kind: u32) -> Option<Vec<u8>> {
    if !matches!(
        kind,
        link_type::ETHERNET | link_type::LINUX_SLL | link_type::LINUX_SLL2
    ) {
        return None;
    }
    let s = slice_link(frame, kind);
    if !matches!(s.transport, Transport::Tcp(_)) || s.error.is_some() {
        return None;
    }
    let mut id = Vec::with_capacity(64);
    match &s.net {
        Net::Ipv4(p) => {
            id.extend_from_slice(&p.source().octets());
            id.extend_from_slice(&p.destination().octets());
            id.extend_from_slice(&p.identification().to_be_bytes());
        }
        Net::Ipv6(p, _) => {
            id.extend_from_slice(&p.source.octets());
            id.extend_from_slice(&p.destination.octets());
        }
        _ => return None,
    }
    id.extend_from_slice(frame.get(s.transport_at..s.end)?);
    Some(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissect::dissect;
    use crate::layers::ethernet::EtherType;
    use crate::pipeline::{encapsulate, Params};
    use std::net::{Ipv4Addr, SocketAddrV4};

    const A: [u8; 6] = [2, 0, 0, 0, 0x0a, 1];
    const RA: [u8; 6] = [2, 0, 0, 0, 0x0a, 2];
    const RB: [u8; 6] = [2, 0, 0, 0, 0x0b, 2];
    const B: [u8; 6] = [2, 0, 0, 0, 0x0b, 1];

    /// A segment from a to b as it leaves a, and as r forwards it.
    fn crossing() -> (Vec<u8>, Vec<u8>) {
        let a = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 10), 40000);
        let b = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 10), 6666);
        let params = Params::between(a, b).with_macs(A, RA);
        let before = encapsulate(b"hello\n", &params).unwrap().frame().to_vec();
        let mut after = before.clone();
        EthernetHeader {
            source: RB,
            destination: B,
            ethertype: ethernet::EtherType::Ipv4,
        }
        .emit(&mut after);
        let ttl = dissect(&after).nodes[1]
            .fields
            .iter()
            .find(|f| f.key == ipv4::key::TTL)
            .cloned()
            .unwrap();
        assert!(ttl.write(&mut after, 63));
        ipv4::refresh_checksum(&mut after[14..]);
        (before, after)
    }

    fn verdict_of<'a>(h: &'a HopCheck, key: &str) -> &'a Verdict {
        &h.fields
            .iter()
            .find(|f| f.field.key == key)
            .unwrap()
            .verdict
    }

    #[test]
    fn a_forwarded_segment_is_checked_hop_by_hop_and_its_changes_named() {
        let (before, after) = crossing();
        let mut path = Path::new(2, None, None);
        assert!(path.feed(0, 1, None, 1, &before).1.is_none());
        let hop = path
            .feed(1, 1, None, 1, &after)
            .1
            .expect("the same segment on r-b");
        assert_eq!(hop.counts().mismatch, 0, "{:?}", hop.fields);
        let sum = |f: &[u8]| u16::from_be_bytes([f[24], f[25]]);
        assert_eq!(
            hop.line("r"),
            format!(
                "at r: TTL 64 -> 63, source MAC 02:00:00:00:0a:01 -> 02:00:00:00:0b:02, \
                 destination MAC 02:00:00:00:0a:02 -> 02:00:00:00:0b:01, \
                 header checksum 0x{:04x} -> 0x{:04x}",
                sum(&before),
                sum(&after)
            )
        );
        assert_eq!(*verdict_of(&hop, ipv4::key::TTL), Verdict::Predicted);
        // No ARP on r-b was seen: the MACs are the kernel's there.
        assert!(matches!(
            verdict_of(&hop, ethernet::key::SRC),
            Verdict::KernelChosen { .. }
        ));
        assert_eq!((hop.before, hop.after), ((0, 1), (1, 1)));
        // The forwarded copy captured first (two sockets' clocks): the same hop.
        let mut path = Path::new(2, None, None);
        assert!(path.feed(1, 1, None, 1, &after).1.is_none());
        let swapped = path.feed(0, 1, None, 1, &before).1.unwrap();
        assert_eq!((swapped.before, swapped.after), ((0, 1), (1, 1)));
        assert_eq!(swapped.line("r"), hop.line("r"));
    }

    #[test]
    fn a_router_that_changes_more_than_forwarding_does_is_caught() {
        let (before, mut after) = crossing();
        // The TTL left as it was (and the checksum with it).
        let mut same_ttl = after.clone();
        same_ttl[14..34].copy_from_slice(&before[14..34]);
        let mut path = Path::new(2, None, None);
        path.feed(0, 1, None, 1, &before);
        let hop = path.feed(1, 1, None, 1, &same_ttl).1.unwrap();
        assert!(
            matches!(verdict_of(&hop, ipv4::key::TTL), Verdict::Mismatch { expected } if expected == "63")
        );
        // The DSCP rewritten: the same packet still (its segment), one field wrong.
        let dscp = dissect(&after).nodes[1]
            .fields
            .iter()
            .find(|f| f.key == ipv4::key::DSCP)
            .cloned()
            .unwrap();
        dscp.write(&mut after, 10);
        ipv4::refresh_checksum(&mut after[14..]);
        let mut path = Path::new(2, None, None);
        path.feed(0, 1, None, 1, &before);
        let hop = path.feed(1, 1, None, 1, &after).1.unwrap();
        assert!(matches!(
            verdict_of(&hop, ipv4::key::DSCP),
            Verdict::Mismatch { .. }
        ));
        assert!(matches!(
            verdict_of(&hop, ipv4::key::CHECKSUM),
            Verdict::Mismatch { .. }
        ));
        // A segment whose bytes changed is another packet; on the same link, no hop either.
        let mut path = Path::new(2, None, None);
        path.feed(0, 1, None, 1, &before);
        assert!(path.feed(0, 2, None, 1, &before).1.is_none(), "same link");
        let mut other = after.clone();
        let last = other.len() - 1;
        other[last] ^= 1;
        assert!(path.feed(1, 1, None, 1, &other).1.is_none());
        assert!(
            matches!(path.feed(5, 1, None, 1, &before).0, Outcome::Skipped),
            "no link 5"
        );
    }

    /// The crossing as `tcpdump -i any` inside r writes it: in on r-a (ifindex 2), out on r-b
    /// (ifindex 3), each cooked header with its packet type and source MAC, in SLL2 or SLL.
    fn cooked_crossing(link: u32) -> (Vec<u8>, Vec<u8>) {
        let (before, after) = crossing();
        let wrap = |frame: &[u8], c: Cooked| {
            let mut v = c.header(link, EtherType::Ipv4);
            v.extend_from_slice(&frame[14..]);
            v
        };
        (
            wrap(
                &before,
                Cooked::ethernet_from(packet_type::HOST, Some(2), A),
            ),
            wrap(
                &after,
                Cooked::ethernet_from(packet_type::OUTGOING, Some(3), RB),
            ),
        )
    }

    #[test]
    fn a_cooked_capture_on_the_router_is_checked_hop_by_hop() {
        let (before, after) = cooked_crossing(link_type::LINUX_SLL2);
        let mut path = Path::new(2, None, None);
        assert!(path
            .feed(0, 1, None, link_type::LINUX_SLL2, &before)
            .1
            .is_none());
        let (outcome, hop) = path.feed(1, 2, None, link_type::LINUX_SLL2, &after);
        assert!(matches!(outcome, Outcome::Checked(..)), "{outcome:?}");
        let hop = hop.expect("the copy out on ifindex 3");
        assert_eq!(hop.counts().mismatch, 0, "{:?}", hop.fields);
        assert!(hop.line("r").starts_with(
            "at r: TTL 64 -> 63, source MAC 02:00:00:00:0a:01 -> 02:00:00:00:0b:02, header checksum"
        ));
        assert_eq!(*verdict_of(&hop, "sll.pkttype"), Verdict::Predicted);
        assert!(matches!(
            verdict_of(&hop, "sll.ifindex"),
            Verdict::KernelChosen { .. }
        ));
        // Forwarded with the TTL left alone: named.
        let mut wrong = after.clone();
        let ttl = dissect_link(&wrong, link_type::LINUX_SLL2).nodes[1]
            .fields
            .iter()
            .find(|f| f.key == ipv4::key::TTL)
            .cloned()
            .unwrap();
        ttl.write(&mut wrong, 64);
        ipv4::refresh_checksum(&mut wrong[20..]);
        let mut path = Path::new(2, None, None);
        path.feed(0, 1, None, link_type::LINUX_SLL2, &before);
        let hop = path
            .feed(1, 2, None, link_type::LINUX_SLL2, &wrong)
            .1
            .unwrap();
        assert!(matches!(
            verdict_of(&hop, ipv4::key::TTL),
            Verdict::Mismatch { .. }
        ));
        // The capture is known to hold two links from its second interface index on.
        let mut links = CookedLinks::default();
        assert!(!links.see(link_type::LINUX_SLL2, &before));
        assert!(links.see(link_type::LINUX_SLL2, &after));
    }

    #[test]
    fn an_sll_capture_on_the_router_has_one_link_and_its_forwarded_copies_are_hops() {
        let (before, after) = cooked_crossing(link_type::LINUX_SLL);
        let mut links = CookedLinks::default();
        assert!(!links.see(link_type::LINUX_SLL, &before));
        assert!(
            links.see(link_type::LINUX_SLL, &after),
            "in, then out one hop less"
        );
        let mut path = Path::new(1, None, None);
        assert!(matches!(
            path.feed(0, 1, None, link_type::LINUX_SLL, &before).0,
            Outcome::Checked(..)
        ));
        let (outcome, hop) = path.feed(0, 2, None, link_type::LINUX_SLL, &after);
        assert!(
            matches!(&outcome, Outcome::Listed(what, _) if what.contains("copy of frame 1")),
            "{outcome:?}"
        );
        let hop = hop.expect("the forwarded copy");
        assert_eq!((hop.before, hop.after), ((0, 1), (0, 2)));
        assert_eq!(hop.counts().mismatch, 0, "{:?}", hop.fields);
        // The same packet again on lo's two copies (out, then in, the same TTL) is no hop: the
        // link's model calls it a duplicate.
        let mut path = Path::new(1, None, None);
        path.feed(0, 1, None, link_type::LINUX_SLL, &after);
        assert!(path
            .feed(0, 2, None, link_type::LINUX_SLL, &after)
            .1
            .is_none());
    }

    /// The frames of a lab capture (`captures/NAME-a-r.pcap` and `-r-b.pcap`) in time order,
    /// each with its link and number.
    fn lab_frames(name: &str) -> Vec<(usize, u64, Duration, Vec<u8>)> {
        let mut frames = Vec::new();
        for (link, end) in ["a-r", "r-b"].into_iter().enumerate() {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("captures")
                .join(format!("{name}-{end}.pcap"));
            let file = std::fs::File::open(&path).unwrap();
            let mut r = crate::capfile::CaptureReader::new(std::io::BufReader::new(file)).unwrap();
            while let Some(p) = r.next_packet().unwrap() {
                frames.push((link, p.number, p.timestamp, p.data.to_vec()));
            }
        }
        frames.sort_by_key(|f| f.2);
        frames
    }

    /// Every frame of `frames` through a path of two links: each link's TCP frames with a
    /// MISMATCH field, by link and frame number, then those the end names (a gap no frame
    /// filled, IP IDs no frame carried).
    fn mismatches(frames: &[(usize, u64, Duration, Vec<u8>)]) -> Vec<(usize, u64)> {
        let mut path = Path::new(2, None, None);
        let mut bad = Vec::new();
        for (link, number, time, data) in frames {
            let (outcome, _) = path.feed(*link, *number, Some(*time), link_type::ETHERNET, data);
            if let Outcome::Checked(_, c) = outcome {
                if c.counts().mismatch > 0 {
                    bad.push((*link, *number));
                }
            }
        }
        for (link, v) in path.links().iter().enumerate() {
            for (_, conn) in v.connections() {
                bad.extend(conn.open_gaps().iter().map(|g| (link, g.frame)));
                bad.extend(conn.open_ids().iter().map(|(frame, ..)| (link, *frame)));
            }
        }
        bad
    }

    #[test]
    fn beyond_the_router_a_refusal_counts_once_the_packets_before_it_crossed() {
        // `lab demo --mtu-b 1400` with nc: on a-r, a's ACK (IP ID 0xa221, frame 9), the 5016
        // bytes r refuses (0xa222, 4 segments), r's ICMP error (11), the bytes again (0xa226);
        // on r-b the ACK (9) and the bytes again (10).
        let frames = lab_frames("lab-mtu1400-nc");
        assert_eq!(mismatches(&frames), Vec::new());
        // r forwards the ACK after it sent the ICMP error (another CPU, a busy machine): r-b
        // has not carried the ACK yet when the error is seen, and the refused packet's IDs
        // are spent after it.
        let at = |link, number| {
            frames
                .iter()
                .position(|f| (f.0, f.1) == (link, number))
                .unwrap()
        };
        let mut late = frames.clone();
        let ack = late.remove(at(1, 9));
        let icmp = late.iter().position(|f| (f.0, f.1) == (0, 11)).unwrap();
        late.insert(icmp + 1, ack);
        assert_eq!(mismatches(&late), Vec::new());
    }

    #[test]
    fn a_forwarded_copy_stamped_before_the_copy_it_came_from_is_checked_after_it() {
        // r-b's capture socket stamping every frame before a-r's (seen: some 100 µs, on a
        // busy machine; here 10 s, all of r-b first).
        let mut frames = lab_frames("lab-mtu1400-nc");
        for f in frames.iter_mut().filter(|f| f.0 == 1) {
            f.2 -= Duration::from_secs(10);
        }
        frames.sort_by_key(|f| f.2);
        // In time order r-b's model sees a's bytes sent again before r's ICMP error: it
        // counts the refused packet's IP IDs as skipped.
        assert!(!mismatches(&frames).is_empty());
        let keyed: Vec<(usize, Duration, u32, &[u8])> = frames
            .iter()
            .map(|f| (f.0, f.2, link_type::ETHERNET, f.3.as_slice()))
            .collect();
        let order = causal_order(&keyed);
        let ordered: Vec<_> = order.iter().map(|&i| frames[i].clone()).collect();
        assert_eq!(mismatches(&ordered), Vec::new());
        // Each link's frames in their order, every frame once.
        for link in 0..2 {
            let numbers: Vec<u64> = ordered
                .iter()
                .filter(|f| f.0 == link)
                .map(|f| f.1)
                .collect();
            assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
        }
        assert_eq!(ordered.len(), frames.len());
    }
}
