//! ARP and IPv6 neighbour discovery on one link, predicted as Linux does them: a request goes to
//! everyone (broadcast, or the target's solicited-node multicast group) unless the sender has the
//! address cached; the reply goes back to the asker with the addresses of the request swapped;
//! each side then holds the other's MAC in its neighbour cache (the asker from the reply, the
//! answerer from the request it answered), and every later frame of the link uses the MACs those
//! caches hold. Frames a link carries besides (MLDv2 reports, router solicitations) are named
//! and listed, not checked.
//!
//! Pure: handed one frame at a time, in capture order, for one link.

use std::net::{IpAddr, Ipv6Addr};

use super::verdict::{Counts, FieldCheck, Verdict};
use crate::dissect::{slice, slice_link, Net, Transport};
use crate::layers::arp::{self, ArpPacket};
use crate::layers::ethernet::{self, mac_to_string, EtherType, EthernetHeader, Mac};
use crate::layers::icmp;
use crate::layers::ipv6;
use crate::layers::link::{link_type, Cooked};
use crate::layers::ndp::{self, Message};
use crate::layers::{Layer, Value};

/// The Ethernet broadcast address.
pub const BROADCAST: Mac = [0xff; 6];

/// One ARP or neighbour discovery frame, checked field by field.
#[derive(Debug, Clone)]
pub struct NeighbourCheck {
    /// Frame number in the capture.
    pub number: u64,
    /// What it is, in tcpdump's words: `ARP, Request who-has 192.0.2.1 tell 192.0.2.10`.
    pub what: String,
    /// Every field.
    pub fields: Vec<FieldCheck>,
    /// The frame the model built.
    pub model_frame: Vec<u8>,
}

impl NeighbourCheck {
    /// How many fields have each verdict.
    #[must_use]
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for f in &self.fields {
            c.add(&f.verdict);
        }
        c
    }
}

/// What the neighbour model made of a frame that is not a TCP segment.
#[derive(Debug, Clone)]
pub enum Seen {
    /// ARP or a neighbour solicitation or advertisement: checked.
    Checked(NeighbourCheck),
    /// Something else the link carries (an MLDv2 report, a router solicitation): the frame in
    /// tcpdump's words with why it is there, and its kind. Listed, not checked.
    Listed {
        /// `fe80::1 > ff02::16: ICMP6, multicast listener report v2 (why)`.
        what: String,
        /// `multicast listener report v2`.
        kind: &'static str,
    },
}

/// A station of the link: a MAC, the addresses it spoke for, and its neighbour cache.
#[derive(Debug, Clone)]
struct Station {
    mac: Mac,
    ips: Vec<IpAddr>,
    cache: Vec<(IpAddr, Mac)>,
}

/// A request not answered yet.
#[derive(Debug, Clone, Copy)]
struct Asked {
    mac: Mac,
    ip: IpAddr,
    target: IpAddr,
    /// Sent to everyone (broadcast or multicast), not to a cached MAC.
    multicast: bool,
}

/// The stations of one link and what each resolved.
#[derive(Debug, Clone, Default)]
pub struct Neighbours {
    stations: Vec<Station>,
    asked: Vec<Asked>,
    /// While a frame of a Linux cooked capture is observed: its link type and bytes (the
    /// model's frame is then judged in its cooked header, which has the source MAC only).
    cooked: Option<(u32, Vec<u8>)>,
}

/// The verdict of each field of a neighbour frame, by key (Wireshark's field name).
type Rule<'a> = &'a dyn Fn(&str) -> Verdict;

const SENDER_KNOWN: Verdict = Verdict::Learned {
    from: "the sender's MAC or address, as its earlier ARP or neighbour discovery frames on this link showed it",
};

impl Neighbours {
    /// A link with nothing seen yet.
    #[must_use]
    pub fn new() -> Neighbours {
        Neighbours::default()
    }

    /// Checks frame `number`, an Ethernet frame, if it is ARP or neighbour discovery (and
    /// learns from it), or names it if it is something else a link carries that no model here
    /// covers. `None` for TCP and for what is not this model's (UDP, IPv4 ICMP...).
    pub fn observe(&mut self, number: u64, frame: &[u8]) -> Option<Seen> {
        let s = slice(frame);
        let eth = s.ethernet?;
        match (&s.net, s.transport, &s.error) {
            (Net::Arp(..), _, None) => {
                let at = s.net_at;
                let p = ArpPacket::parse(frame.get(at..)?).ok()?;
                Some(Seen::Checked(self.arp(number, frame, eth, p)))
            }
            (Net::Ipv6(ip, _), Transport::Icmp(Layer::Icmpv6, t, _), None) if ndp::is_ndp(t) => {
                let m = Message::parse(frame.get(s.transport_at..)?)?;
                let (src, dst) = (ip.source, ip.destination);
                Some(Seen::Checked(self.ndp(number, frame, eth, (src, dst), m)))
            }
            // (A port unreachable is the UDP rules' to check, against the datagram it quotes.)
            (Net::Ipv6(ip, _), Transport::Icmp(Layer::Icmpv6, t, c), None) if (t, c) != (1, 4) => {
                let (kind, why) = listed(t);
                let what = format!("{} > {}: ICMP6, {kind}{why}", ip.source, ip.destination);
                Some(Seen::Listed { what, kind })
            }
            _ => None,
        }
    }

    /// [`Neighbours::observe`] for a frame of link type `link`: Ethernet, or a Linux cooked
    /// capture of an Ethernet interface (`tcpdump -i any`), whose header gives the source MAC
    /// and no destination. Such a frame is read as the Ethernet frame it was on the link (its
    /// destination, which no rule judges there, the broadcast for an ARP request, the group's
    /// MAC for IPv6 multicast, else zero), and judged in its own header: the source MAC, then
    /// the packet.
    pub fn observe_link(&mut self, number: u64, link: u32, frame: &[u8]) -> Option<Seen> {
        if link == link_type::ETHERNET {
            return self.observe(number, frame);
        }
        let c = Cooked::parse(link, frame)?;
        let source = c.source_mac()?;
        let s = slice_link(frame, link);
        let (ethertype, _) = crate::layers::link::parse(link, frame).ok()?;
        let destination = match &s.net {
            Net::Arp(..) => BROADCAST,
            Net::Ipv6(ip, _) if ip.destination.is_multicast() => ndp::multicast_mac(ip.destination),
            _ => [0; 6],
        };
        let mut wire = vec![0; EthernetHeader::LEN];
        EthernetHeader {
            destination,
            source,
            ethertype,
        }
        .emit(&mut wire);
        wire.extend_from_slice(frame.get(s.net_at..)?);
        self.cooked = Some((link, frame.to_vec()));
        let seen = self.observe(number, &wire);
        self.cooked = None;
        seen
    }

    /// [`judge`], of the cooked frame being observed when there is one: the model's Ethernet
    /// frame put in that frame's cooked header with the model's source MAC; of the header, only
    /// the source MAC is judged (the rest is the capture's: direction, interface).
    fn judge_seen(&self, frame: &[u8], model: &[u8], rule: Rule<'_>) -> Vec<FieldCheck> {
        let Some((link, real)) = &self.cooked else {
            return judge(frame, model, rule);
        };
        let recooked = EthernetHeader::parse(model).ok().and_then(|(eth, packet)| {
            let mut c = Cooked::parse(*link, real)?;
            c.address.1[..6].copy_from_slice(&eth.source);
            let mut v = c.header(*link, eth.ethertype);
            v.extend_from_slice(packet);
            Some(v)
        });
        let Some(recooked) = recooked else {
            return judge(frame, model, rule);
        };
        let rule = |k: &str| {
            rule(if k == "sll.src.eth" {
                ethernet::key::SRC
            } else {
                k
            })
        };
        let mut fields = judge_link(real, &recooked, *link, &rule);
        fields.retain(|f| f.layer != Layer::Link || f.field.key == "sll.src.eth");
        fields
    }

    /// The address of IPv6 (`v6`) or IPv4 that the station with MAC `mac` spoke for on this
    /// link (not a link-local one), if its ARP or neighbour discovery showed one.
    #[must_use]
    pub fn address_of(&self, mac: Mac, v6: bool) -> Option<IpAddr> {
        let st = self.stations.iter().find(|st| st.mac == mac)?;
        st.ips.iter().copied().find(|ip| match ip {
            IpAddr::V4(_) => !v6,
            IpAddr::V6(a) => v6 && (a.segments()[0] & 0xffc0) != 0xfe80,
        })
    }

    fn station(&self, ip: IpAddr) -> Option<&Station> {
        self.stations.iter().find(|st| st.ips.contains(&ip))
    }

    /// What the station with MAC `mac` holds for `target` (a station may speak from an
    /// address its earlier frames did not show, such as its link-local one).
    fn cached(&self, mac: Mac, target: IpAddr) -> Option<Mac> {
        let st = self.stations.iter().find(|st| st.mac == mac)?;
        st.cache.iter().find(|(a, _)| *a == target).map(|(_, m)| *m)
    }

    /// Records that `mac` speaks for `ip`.
    fn meet(&mut self, mac: Mac, ip: IpAddr) {
        match self.stations.iter_mut().find(|st| st.mac == mac) {
            Some(st) if !st.ips.contains(&ip) => st.ips.push(ip),
            Some(_) => {}
            None => self.stations.push(Station {
                mac,
                ips: vec![ip],
                cache: Vec::new(),
            }),
        }
    }

    /// Puts `ip` at `mac` into the cache of the station that is `holder`.
    fn cache(&mut self, holder: Mac, ip: IpAddr, mac: Mac) {
        if let Some(st) = self.stations.iter_mut().find(|st| st.mac == holder) {
            st.cache.retain(|(a, _)| *a != ip);
            st.cache.push((ip, mac));
        }
    }

    /// A request answered by a reply from `mac` for `target`: both sides cache each other.
    fn answered(&mut self, q: Asked, mac: Mac) {
        self.cache(q.mac, q.target, mac);
        self.cache(mac, q.ip, q.mac);
    }

    /// The request a reply for `target` to `asker` answers: the latest from that asker for
    /// it, or else the latest anyone sent for it (a reply to the wrong asker is then caught).
    fn take_asked(&mut self, target: IpAddr, asker: IpAddr) -> Option<Asked> {
        let i = self
            .asked
            .iter()
            .rposition(|q| q.target == target && q.ip == asker)
            .or_else(|| self.asked.iter().rposition(|q| q.target == target))?;
        Some(self.asked.remove(i))
    }

    fn arp(
        &mut self,
        number: u64,
        frame: &[u8],
        eth: EthernetHeader,
        p: ArpPacket,
    ) -> NeighbourCheck {
        let known = self.station(p.spa.into()).map(|st| st.mac);
        if p.oper == arp::REQUEST {
            self.arp_request(number, frame, eth, p, known)
        } else {
            self.arp_reply(number, frame, eth, p, known)
        }
    }

    /// A request: to everyone unless the sender has the target cached.
    fn arp_request(
        &mut self,
        number: u64,
        frame: &[u8],
        eth: EthernetHeader,
        p: ArpPacket,
        known: Option<Mac>,
    ) -> NeighbourCheck {
        let (sha, spa) = (p.sha, p.spa);
        let mac = known.unwrap_or(eth.source);
        let target = p.tpa;
        let cached = self.cached(eth.source, target.into());
        let model = ArpPacket {
            oper: arp::REQUEST,
            sha: mac,
            spa,
            tha: [0; 6],
            tpa: target,
        };
        let bytes = arp_frame(cached.unwrap_or(BROADCAST), mac, &model);
        let asked = Asked {
            mac: sha,
            ip: spa.into(),
            target: target.into(),
            multicast: eth.destination == BROADCAST,
        };
        let fields = self.request(
            frame,
            &bytes,
            known,
            [arp::key::SRC_IP, arp::key::DST_IP],
            asked,
        );
        let to = if cached.is_some() {
            "unicast: a cached entry confirmed"
        } else {
            "broadcast"
        };
        let what = format!("ARP, Request who-has {target} tell {spa} ({to})");
        NeighbourCheck {
            number,
            what,
            fields,
            model_frame: bytes,
        }
    }

    /// A request (ARP) or solicitation judged against the model's `bytes`, `keys` its sender's
    /// address and its target; the request is then remembered, its sender met.
    fn request(
        &mut self,
        frame: &[u8],
        bytes: &[u8],
        known: Option<Mac>,
        [sender, target]: [&str; 2],
        asked: Asked,
    ) -> Vec<FieldCheck> {
        let rule = |k: &str| {
            if k == ethernet::key::SRC || k == sender {
                sender_verdict(
                    known.is_some(),
                    "the sending interface's MAC and address: its first frame on this link",
                )
            } else if k == target {
                Verdict::KernelChosen {
                    why: "the address the sender needs: the destination or the router towards it",
                }
            } else {
                Verdict::Predicted
            }
        };
        let fields = self.judge_seen(frame, bytes, &rule);
        self.meet(asked.mac, asked.ip);
        self.asked.push(asked);
        fields
    }

    /// A reply: to the asker, the request's addresses swapped.
    fn arp_reply(
        &mut self,
        number: u64,
        frame: &[u8],
        eth: EthernetHeader,
        p: ArpPacket,
        known: Option<Mac>,
    ) -> NeighbourCheck {
        let (sha, spa) = (p.sha, p.spa);
        let mac = known.unwrap_or(eth.source);
        let sender_rule = |why| sender_verdict(known.is_some(), why);
        let q = self.take_asked(spa.into(), p.tpa.into());
        let model = match q {
            Some(Asked {
                mac: qm,
                ip: IpAddr::V4(qi),
                ..
            }) => ArpPacket {
                oper: arp::REPLY,
                sha: mac,
                spa,
                tha: qm,
                tpa: qi,
            },
            _ => ArpPacket { sha: mac, ..p },
        };
        let bytes = arp_frame(model.tha, mac, &model);
        let rule = |k: &str| {
            match k {
            ethernet::key::SRC => {
                sender_rule("the MAC of the interface that owns the address asked for")
            }
            ethernet::key::DST | arp::key::SRC_IP | arp::key::DST_MAC | arp::key::DST_IP
                if q.is_none() =>
            {
                Verdict::KernelChosen {
                    why: "no request for it in the capture (a gratuitous reply, or its request was not captured)",
                }
            }
            _ => Verdict::Predicted,
        }
        };
        let fields = self.judge_seen(frame, &bytes, &rule);
        self.meet(sha, spa.into());
        if let Some(q) = q {
            self.answered(q, sha);
        }
        let what = format!("ARP, Reply {spa} is-at {}", mac_to_string(&sha));
        NeighbourCheck {
            number,
            what,
            fields,
            model_frame: bytes,
        }
    }

    fn ndp(
        &mut self,
        number: u64,
        frame: &[u8],
        eth: EthernetHeader,
        addrs: (Ipv6Addr, Ipv6Addr),
        m: Message,
    ) -> NeighbourCheck {
        let known = self.station(addrs.0.into()).map(|st| st.mac);
        if m.kind == ndp::SOLICITATION {
            self.solicitation(number, frame, eth, addrs, m, known)
        } else {
            self.advertisement(number, frame, eth, addrs, m, known)
        }
    }

    /// A solicitation: to the target's solicited-node group unless the sender has it cached.
    fn solicitation(
        &mut self,
        number: u64,
        frame: &[u8],
        eth: EthernetHeader,
        (src, dst): (Ipv6Addr, Ipv6Addr),
        m: Message,
        known: Option<Mac>,
    ) -> NeighbourCheck {
        let mac = known.unwrap_or(eth.source);
        let cached = self.cached(eth.source, m.target.into());
        let to = if cached.is_some() {
            m.target
        } else {
            ndp::solicited_node(m.target)
        };
        let eth_dst = cached.unwrap_or_else(|| ndp::multicast_mac(to));
        let model = Message {
            flags: 0,
            lla: Some((ndp::OPT_SOURCE_LLA, mac)),
            ..m
        };
        let bytes = ndp_frame(eth_dst, mac, (src, to), &model);
        let asked = Asked {
            mac: eth.source,
            ip: src.into(),
            target: m.target.into(),
            multicast: dst.is_multicast(),
        };
        let fields = self.request(
            frame,
            &bytes,
            known,
            [ipv6::key::SRC, ndp::key::NS_TARGET],
            asked,
        );
        let how = if cached.is_some() {
            "unicast: a cached entry confirmed"
        } else {
            "to its solicited-node group"
        };
        let what = format!("ICMP6, neighbor solicitation, who has {} ({how})", m.target);
        NeighbourCheck {
            number,
            what,
            fields,
            model_frame: bytes,
        }
    }

    /// An advertisement: to the solicitation's sender, solicited, with override and the target's
    /// link-layer address when the solicitation was multicast (Linux's `ndisc_recv_ns`).
    fn advertisement(
        &mut self,
        number: u64,
        frame: &[u8],
        eth: EthernetHeader,
        (_, dst): (Ipv6Addr, Ipv6Addr),
        m: Message,
        known: Option<Mac>,
    ) -> NeighbourCheck {
        let mac = known.unwrap_or(eth.source);
        let sender = |why| sender_verdict(known.is_some(), why);
        let q = self.take_asked(m.target.into(), dst.into());
        let (eth_dst, model) = match q {
            Some(q) => {
                let mut flags = ndp::field::FLAG_S | (m.flags & ndp::field::FLAG_R);
                if q.multicast {
                    flags |= ndp::field::FLAG_O;
                }
                let lla = q.multicast.then_some((ndp::OPT_TARGET_LLA, mac));
                (q.mac, Message { flags, lla, ..m })
            }
            None => (
                eth.destination,
                Message {
                    lla: m.lla.map(|(t, _)| (t, mac)),
                    ..m
                },
            ),
        };
        let bytes = ndp_frame(eth_dst, mac, (m.target, dst), &model);
        let rule = |k: &str| {
            match k {
            ethernet::key::SRC => sender("the MAC of the interface that owns the address solicited"),
            ndp::key::FLAG_R => Verdict::KernelChosen {
                why: "set by a host that forwards packets (a router), clear on any other",
            },
            ethernet::key::DST | ipv6::key::DST | ipv6::key::SRC | ipv6::key::PLEN
            | ndp::key::FLAG_S | ndp::key::FLAG_O | ndp::key::NA_TARGET | icmp::key::V6_CHECKSUM
                if q.is_none() =>
            {
                Verdict::KernelChosen {
                    why: "no solicitation for it in the capture (unsolicited, or its solicitation was not captured)",
                }
            }
            _ => Verdict::Predicted,
        }
        };
        let fields = self.judge_seen(frame, &bytes, &rule);
        self.meet(eth.source, m.target.into());
        if let Some(q) = q {
            self.answered(q, eth.source);
        }
        let what = format!("ICMP6, neighbor advertisement, tgt is {}", m.target);
        NeighbourCheck {
            number,
            what,
            fields,
            model_frame: bytes,
        }
    }

    /// The MACs a TCP frame of this link must carry, as the neighbour caches say: its sender's
    /// own (the station whose address is the source, or, for a packet a router forwards, the
    /// station that has the destination cached), and the one the sender resolved for the
    /// destination or, when it resolved only one, for its router. `None` where the caches do
    /// not tell (no ARP or neighbour discovery seen for that sender).
    #[must_use]
    pub fn expected_macs(&self, src: IpAddr, dst: IpAddr) -> Option<(Mac, Option<Mac>)> {
        let sender = self.station(src).or_else(|| {
            let mut forwarders = self
                .stations
                .iter()
                .filter(|st| !st.ips.contains(&dst) && st.cache.iter().any(|(a, _)| *a == dst));
            let one = forwarders.next()?;
            forwarders.next().is_none().then_some(one)
        })?;
        // Not the destination's own: the router's, when the sender holds one neighbour only
        // (under one address or several: its link-local one and the one its route names).
        let only = sender
            .cache
            .first()
            .map(|(_, m)| *m)
            .filter(|m| sender.cache.iter().all(|(_, x)| x == m));
        let next_hop = match sender.cache.iter().find(|(a, _)| *a == dst) {
            Some((_, m)) => Some(*m),
            None => only,
        };
        Some((sender.mac, next_hop))
    }

    /// Gives the Ethernet addresses of a TCP frame from `src` to `dst` the verdict the neighbour caches give them
    /// (learned, or a MISMATCH with the MAC the cache holds), where they tell.
    pub fn judge_macs(&self, src: IpAddr, dst: IpAddr, check: &mut super::FrameCheck) {
        let Some((own, next_hop)) = self.expected_macs(src, dst) else {
            return;
        };
        for f in check.fields_mut().iter_mut() {
            let (expected, from) = match f.field.key.as_ref() {
                ethernet::key::SRC => (own, "the sender's own MAC, as its ARP or neighbour discovery frames on this link showed it"),
                ethernet::key::DST => match next_hop {
                    Some(m) => (m, "the next hop's MAC, as the sender's neighbour cache holds it (resolved by ARP or neighbour discovery earlier on this link)"),
                    None => continue,
                },
                _ => continue,
            };
            f.model = mac_to_string(&expected);
            f.verdict = if f.field.value == Value::Bytes(expected.to_vec()) {
                Verdict::Learned { from }
            } else {
                Verdict::Mismatch {
                    expected: f.model.clone(),
                }
            };
        }
    }
}

/// The verdict of the sender's own MAC and address: learned when its earlier frames showed them.
fn sender_verdict(known: bool, why: &'static str) -> Verdict {
    if known {
        SENDER_KNOWN
    } else {
        Verdict::KernelChosen { why }
    }
}

/// The name of an ICMPv6 message this model does not check (tcpdump's), and why a link carries
/// it.
fn listed(t: u8) -> (&'static str, &'static str) {
    match t {
        143 => (
            "multicast listener report v2",
            " (an interface announcing the multicast groups it joined, as it comes up)",
        ),
        133 => (
            "router solicitation",
            " (an interface coming up, asking for routers)",
        ),
        134 => ("router advertisement", ""),
        130 => ("multicast listener query", ""),
        131 => ("multicast listener report", ""),
        _ => (icmp::type_name_v6(t), ""),
    }
}

/// An ARP frame: Ethernet header and packet, no padding (veth and lo send 42 bytes).
fn arp_frame(dst: Mac, src: Mac, p: &ArpPacket) -> Vec<u8> {
    let mut f = vec![0u8; EthernetHeader::LEN];
    EthernetHeader {
        destination: dst,
        source: src,
        ethertype: EtherType::Arp,
    }
    .emit(&mut f);
    let mut packet = [0u8; arp::field::LEN];
    p.emit(&mut packet);
    f.extend_from_slice(&packet);
    f
}

/// A neighbour discovery frame as Linux sends it: traffic class and flow label 0, hop limit 255.
fn ndp_frame(dst: Mac, src: Mac, addrs: (Ipv6Addr, Ipv6Addr), m: &Message) -> Vec<u8> {
    crate::pipeline::encapsulate_ndp(m, src, dst, addrs)
        .frame()
        .to_vec()
}

/// The kernel's frame against the model's, field by field over the layers' tables: each field
/// of the kernel's frame gets `rule`'s verdict when the model's value is equal, a MISMATCH with
/// the model's value when not; a field only one of the frames has is a MISMATCH.
pub(crate) fn judge(kernel: &[u8], model: &[u8], rule: Rule<'_>) -> Vec<FieldCheck> {
    judge_link(
        kernel,
        model,
        crate::layers::link::link_type::ETHERNET,
        rule,
    )
}

/// [`judge`] for two frames of link type `link` (Ethernet, or a cooked capture's).
pub(crate) fn judge_link(
    kernel: &[u8],
    model: &[u8],
    link: u32,
    rule: Rule<'_>,
) -> Vec<FieldCheck> {
    let (k, m) = (
        crate::dissect::dissect_link(kernel, link),
        crate::dissect::dissect_link(model, link),
    );
    let fields_of = |d: &crate::dissect::Dissection| -> Vec<(Layer, crate::layers::Field)> {
        d.nodes
            .iter()
            .filter(|n| n.layer != Layer::Application && n.layer != Layer::Raw)
            .flat_map(|n| n.fields.iter().map(move |f| (n.layer, f.clone())))
            // Padding to 60 bytes is the NIC's (veth and lo send none): not the kernel's.
            .filter(|(_, f)| f.key != "eth.padding")
            .collect()
    };
    let (kf, mut mf) = (fields_of(&k), fields_of(&m));
    let mut out = Vec::with_capacity(kf.len());
    for (layer, f) in kf {
        let found = mf.iter().position(|(_, x)| x.key == f.key);
        let verdict = match found.map(|i| mf.remove(i).1) {
            Some(x) if x.value == f.value => {
                let v = rule(&f.key);
                out.push(FieldCheck {
                    layer,
                    model: x.display,
                    field: f,
                    verdict: v,
                });
                continue;
            }
            Some(x) => x.display,
            None => "(none)".to_string(),
        };
        out.push(FieldCheck {
            layer,
            model: verdict.clone(),
            field: f,
            verdict: Verdict::Mismatch { expected: verdict },
        });
    }
    for (layer, x) in mf {
        let expected = format!("{} {}", x.name, x.display);
        let field = crate::layers::Field {
            bytes: 0..0,
            value: Value::Bytes(Vec::new()),
            display: "(absent)".into(),
            ..x
        };
        out.push(FieldCheck {
            layer,
            field,
            model: expected.clone(),
            verdict: Verdict::Mismatch { expected },
        });
    }
    out
}

#[cfg(test)]
mod tests;
