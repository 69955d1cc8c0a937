//! A user-space TCP/IP endpoint (IPv4 or IPv6) over Ethernet whose every frame is the pipeline's: the sibling of
//! the model that sends instead of predicting. Sans-IO like the rest of the library: frames come
//! in as bytes with the time they arrived, frames to send come out as the pipeline built them
//! ([`Sent`]: the exact bytes for the packet socket, with the padding and FCS a wire adds), and no
//! socket, clock or randomness is inside: the time is the `now` handed to each call, the ISN, the
//! timestamp clock's offset, the first IP ID and the IPv6 flow label are in the [`Config`].
//!
//! One connection, opened actively: the next hop's MAC first, by ARP ([`arp`]) or IPv6 neighbour
//! discovery ([`nd`]), then TCP ([`tcp`]). Requests for our own address are answered, segments
//! for no connection of ours are answered with a RST, frames with a bad IPv4, ICMPv6 or TCP
//! checksum are dropped with the reason.

pub mod arp;
pub mod nd;
pub mod tcp;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::checksum::Pseudo;
use crate::layers::arp::ArpPacket;
use crate::layers::ethernet::{EtherType, EthernetHeader, Mac};
use crate::layers::ipv4::{IpProtocol, Ipv4Packet};
use crate::layers::ipv6::{self, Ipv6Header};
use crate::layers::tcp::{ChecksumStatus, TcpHeader, TcpSegment};
use crate::pipeline::{encapsulate, ArpFrame, ChecksumMode, Encapsulated, Params};
use arp::Resolution;
pub use tcp::{Event as TcpEvent, State};
use tcp::{Opening, Tcb};

/// Everything the endpoint is given.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Our MAC.
    pub mac: Mac,
    /// Our address, IPv4 or IPv6 (`gateway` and `remote` are of the same family).
    pub ip: IpAddr,
    /// Its prefix length: a peer inside it is asked for directly, any other through `gateway`.
    pub prefix_len: u8,
    /// The router.
    pub gateway: IpAddr,
    /// The link's MTU (the MSS announced is 40 bytes less over IPv4, 60 over IPv6).
    pub mtu: u16,
    /// Our TCP port.
    pub port: u16,
    /// The peer.
    pub remote: SocketAddr,
    /// The initial sequence number.
    pub isn: u32,
    /// Added to the milliseconds of `now` to make each TSval.
    pub ts_offset: u32,
    /// The IP ID of the first packet; each one after takes the next (IPv4).
    pub ip_id: u16,
    /// The flow label of every IPv6 packet of the connection (20 bits; RFC 6437: one label per
    /// flow, chosen by its source, as Linux's `auto_flowlabels` does). Traffic class 0, hop
    /// limit 64.
    pub flow_label: u32,
    /// How long TIME_WAIT lasts.
    pub time_wait: Duration,
    /// Accept a TCP checksum left as the pseudo-header sum: what a veth peer whose sender
    /// offloads checksums hands over (its kernel never computed the rest; on a wire the NIC
    /// would have).
    pub accept_partial: bool,
}

impl Config {
    /// The address whose MAC is asked for: the peer on our subnet, else the gateway.
    #[must_use]
    pub fn next_hop(&self) -> IpAddr {
        let same = match (self.ip, self.remote.ip()) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix_len.min(32)))
                    .unwrap_or(0);
                u32::from(a) & mask == u32::from(b) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix_len.min(128)))
                    .unwrap_or(0);
                u128::from(a) & mask == u128::from(b) & mask
            }
            _ => false,
        };
        if same {
            self.remote.ip()
        } else {
            self.gateway
        }
    }

    /// The MSS to announce: the MTU less the IPv4 (20) or IPv6 (40) header and TCP's 20 bytes.
    #[must_use]
    pub fn mss(&self) -> u16 {
        let ip = if self.ip.is_ipv6() {
            Ipv6Header::LEN
        } else {
            crate::layers::ipv4::field::HEADER_LEN
        };
        self.mtu
            .saturating_sub((ip + crate::layers::tcp::field::HEADER_LEN) as u16)
    }
}

/// The next hop's resolution: ARP over IPv4, neighbour discovery over IPv6 (the endpoint's, and
/// `encap lab peer`'s).
#[derive(Debug)]
pub enum Neighbours {
    /// ARP (IPv4).
    Arp(arp::Resolver),
    /// Neighbour discovery (IPv6).
    Nd(nd::Resolver),
}

impl Neighbours {
    /// Asks for `cfg`'s next hop, now.
    fn new(cfg: &Config, now: Duration) -> Neighbours {
        Neighbours::asking(cfg.mac, cfg.ip, cfg.next_hop(), now)
    }

    /// Our MAC and address `ip`, asking for `target`'s MAC, now.
    ///
    /// # Panics
    /// When `ip` and `target` are not of one family (a program's mistake in the configuration,
    /// not anything from the wire).
    #[must_use]
    pub fn asking(mac: Mac, ip: IpAddr, target: IpAddr, now: Duration) -> Neighbours {
        match (ip, target) {
            (IpAddr::V4(ip), IpAddr::V4(to)) => {
                Neighbours::Arp(arp::Resolver::new(mac, ip, to, now))
            }
            (IpAddr::V6(ip), IpAddr::V6(to)) => Neighbours::Nd(nd::Resolver::new(mac, ip, to, now)),
            (ip, to) => {
                panic!("the endpoint's address {ip} and its next hop {to} are not of one family")
            }
        }
    }

    /// What is known of the next hop.
    #[must_use]
    pub fn state(&self) -> Resolution {
        match self {
            Neighbours::Arp(r) => r.state(),
            Neighbours::Nd(r) => r.state(),
        }
    }

    /// The next hop's address.
    #[must_use]
    pub fn target(&self) -> IpAddr {
        match self {
            Neighbours::Arp(r) => r.target().into(),
            Neighbours::Nd(r) => r.target().into(),
        }
    }

    fn deadline(&self) -> Option<Duration> {
        match self {
            Neighbours::Arp(r) => r.deadline(),
            Neighbours::Nd(r) => r.deadline(),
        }
    }

    /// The time is `now`: a request again, or giving up.
    pub fn tick(&mut self, now: Duration) {
        match self {
            Neighbours::Arp(r) => r.tick(now),
            Neighbours::Nd(r) => r.tick(now),
        }
    }

    /// The next ARP or neighbour discovery frame to send.
    pub fn transmit(&mut self) -> Option<Sent> {
        match self {
            Neighbours::Arp(r) => r.transmit().map(Sent::Arp),
            Neighbours::Nd(r) => r.transmit().map(Sent::Nd),
        }
    }

    /// True for a frame's Ethernet destination that may be for us (`ours`: our MAC).
    #[must_use]
    pub fn listens(&self, mac: Mac, ours: Mac) -> bool {
        match self {
            Neighbours::Arp(_) => mac == ours || mac == arp::BROADCAST,
            Neighbours::Nd(r) => r.listens(mac),
        }
    }
}

/// A frame the endpoint sends, as the pipeline built it.
#[derive(Debug, Clone)]
pub enum Sent {
    /// A TCP segment: the four stages.
    Tcp(Encapsulated),
    /// An ARP request or reply.
    Arp(ArpFrame),
    /// A neighbour solicitation or advertisement (ICMPv6).
    Nd(ArpFrame),
}

impl Sent {
    /// The bytes for the packet socket (no padding, no FCS: the device adds them).
    #[must_use]
    pub fn frame(&self) -> &[u8] {
        match self {
            Sent::Tcp(e) => e.frame(),
            Sent::Arp(a) | Sent::Nd(a) => a.frame(),
        }
    }

    /// The frame as a wire carries it: padded to 60 bytes, then the FCS.
    #[must_use]
    pub fn frame_with_fcs(&self) -> &[u8] {
        match self {
            Sent::Tcp(e) => e.frame_with_fcs(),
            Sent::Arp(a) | Sent::Nd(a) => a.frame_with_fcs(),
        }
    }

    /// The FCS.
    #[must_use]
    pub fn fcs(&self) -> u32 {
        match self {
            Sent::Tcp(e) => e.fcs(),
            Sent::Arp(a) | Sent::Nd(a) => a.fcs(),
        }
    }

    /// The TCP payload it carries (empty for ARP and neighbour discovery).
    #[must_use]
    pub fn payload(&self) -> &[u8] {
        match self {
            Sent::Tcp(e) => e.payload(),
            Sent::Arp(_) | Sent::Nd(_) => &[],
        }
    }
}

/// What happened, for the program that drives the endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The next hop's MAC is known.
    Resolved(IpAddr, Mac),
    /// No ARP or neighbour discovery answer from the next hop.
    Unreachable(IpAddr),
    /// The connection.
    Tcp(TcpEvent),
    /// A frame for us that was dropped, and why.
    Dropped(String),
    /// A segment for no connection of ours, answered with a RST.
    ResetSent(SocketAddr),
}

/// The endpoint: one address, one connection.
#[derive(Debug)]
pub struct Endpoint {
    cfg: Config,
    resolver: Neighbours,
    tcb: Option<Tcb>,
    /// Written before the connection existed (ARP still waiting).
    early: Vec<u8>,
    close_early: bool,
    ip_id: u16,
    out: VecDeque<Sent>,
    events: VecDeque<Event>,
}

impl Endpoint {
    /// Starts connecting to `cfg.remote`: the ARP request (or neighbour solicitation) for the
    /// next hop goes first, the SYN once it is answered.
    ///
    /// # Panics
    /// When `cfg`'s addresses are not all of one family.
    #[must_use]
    pub fn connect(cfg: Config, now: Duration) -> Endpoint {
        let mut e = Endpoint {
            cfg,
            resolver: Neighbours::new(&cfg, now),
            tcb: None,
            early: Vec::new(),
            close_early: false,
            ip_id: cfg.ip_id,
            out: VecDeque::new(),
            events: VecDeque::new(),
        };
        e.collect(now);
        e
    }

    /// The connection's state (CLOSED before the SYN).
    #[must_use]
    pub fn state(&self) -> State {
        self.tcb.as_ref().map_or(State::Closed, Tcb::state)
    }

    /// True once nothing more can happen: the connection ended, or never could start.
    #[must_use]
    pub fn is_done(&self) -> bool {
        match &self.tcb {
            Some(t) => t.state() == State::Closed,
            None => self.resolver.state() == Resolution::Unreachable,
        }
    }

    /// The connection, once the SYN was sent.
    #[must_use]
    pub fn tcb(&self) -> Option<&Tcb> {
        self.tcb.as_ref()
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The next frame to send.
    pub fn transmit(&mut self) -> Option<Sent> {
        self.out.pop_front()
    }

    /// The next event.
    pub fn event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Endpoint::tick`] is next due.
    #[must_use]
    pub fn deadline(&self) -> Option<Duration> {
        let tcp = self.tcb.as_ref().and_then(Tcb::deadline);
        match (self.resolver.deadline(), tcp) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The application writes `data`.
    pub fn send(&mut self, data: &[u8], now: Duration) {
        match &mut self.tcb {
            Some(t) => t.send(data, now),
            None => self.early.extend_from_slice(data),
        }
        self.collect(now);
    }

    /// The application closes its side (a FIN after what it wrote).
    pub fn close(&mut self, now: Duration) {
        match &mut self.tcb {
            Some(t) => t.close(now),
            None => self.close_early = true,
        }
        self.collect(now);
    }

    /// The application aborts the connection (a RST).
    pub fn abort(&mut self, now: Duration) {
        if let Some(t) = &mut self.tcb {
            t.abort();
        }
        self.collect(now);
    }

    /// The time is `now`: ARP's (or neighbour discovery's) and TCP's timers.
    pub fn tick(&mut self, now: Duration) {
        self.resolver.tick(now);
        if let Some(t) = &mut self.tcb {
            t.tick(now);
        }
        self.collect(now);
    }

    /// A frame arrived at `now`.
    pub fn receive(&mut self, frame: &[u8], now: Duration) {
        let Ok((eth, rest)) = EthernetHeader::parse(frame) else {
            return;
        };
        if !self.resolver.listens(eth.destination, self.cfg.mac) {
            return;
        }
        match (eth.ethertype, &mut self.resolver) {
            (EtherType::Arp, Neighbours::Arp(r)) => match ArpPacket::parse(rest) {
                Ok(a) => r.receive(&a),
                Err(e) => self.drop_with(format!("ARP: {e}")),
            },
            (EtherType::Ipv4, Neighbours::Arp(_)) => self.receive_ipv4(&eth, rest, now),
            (EtherType::Ipv6, Neighbours::Nd(_)) => self.receive_ipv6(&eth, rest, now),
            _ => {}
        }
        self.collect(now);
    }

    /// An IPv6 packet for us: neighbour discovery, or TCP.
    fn receive_ipv6(&mut self, eth: &EthernetHeader, bytes: &[u8], now: Duration) {
        let ip = match ipv6::parse(bytes) {
            Ok(p) => p,
            Err(e) => return self.drop_with(format!("IPv6: {e}")),
        };
        let Neighbours::Nd(r) = &mut self.resolver else {
            return;
        };
        if !r.accepts(ip.destination) {
            return;
        }
        let upper = &bytes[ip.upper..ip.end];
        match ip.protocol {
            IpProtocol::Icmpv6 => {
                let by = nd::Carried {
                    mac: eth.source,
                    src: ip.source,
                    dst: ip.destination,
                    hop_limit: ip.hop_limit,
                };
                if let Err(why) = r.receive(by, upper) {
                    self.drop_with(why);
                }
            }
            IpProtocol::Tcp if IpAddr::V6(ip.destination) == self.cfg.ip => {
                let addrs = Pseudo::V6(ip.source, ip.destination);
                self.receive_tcp(eth, (ip.source.into(), addrs), upper, now);
            }
            _ => {}
        }
    }

    fn drop_with(&mut self, why: String) {
        self.events.push_back(Event::Dropped(why));
    }

    /// An IPv4 packet for us: each check one early return, in the order of the layers.
    fn receive_ipv4(&mut self, eth: &EthernetHeader, bytes: &[u8], now: Duration) {
        let ip = match Ipv4Packet::new_checked(bytes) {
            Ok(p) => p,
            Err(e) => return self.drop_with(format!("IPv4: {e}")),
        };
        if IpAddr::V4(ip.destination()) != self.cfg.ip || ip.protocol() != IpProtocol::Tcp {
            return;
        }
        if !ip.verify_checksum() {
            return self.drop_with(format!(
                "IPv4 from {}: header checksum 0x{:04x}, should be 0x{:04x}",
                ip.source(),
                ip.checksum(),
                ip.correct_checksum()
            ));
        }
        let addrs = Pseudo::V4(ip.source(), ip.destination());
        self.receive_tcp(eth, (ip.source().into(), addrs), ip.payload(), now);
    }

    /// A TCP segment for our address from `src`, its checksum over the pseudo-header of
    /// `addrs`: each check one early return.
    fn receive_tcp(
        &mut self,
        eth: &EthernetHeader,
        (src, addrs): (IpAddr, Pseudo),
        bytes: &[u8],
        now: Duration,
    ) {
        let seg = match TcpSegment::new_checked(bytes) {
            Ok(s) => s,
            Err(e) => return self.drop_with(format!("TCP from {src}: {e}")),
        };
        match seg.checksum_status_with(addrs) {
            ChecksumStatus::Good => {}
            ChecksumStatus::Partial if self.cfg.accept_partial => {}
            status => {
                return self.drop_with(format!(
                    "TCP from {}: checksum 0x{:04x} is not right ({status:?})",
                    SocketAddr::new(src, seg.src_port()),
                    seg.checksum()
                ))
            }
        }
        let header = match TcpHeader::parse(&seg) {
            Ok(h) => h,
            Err(e) => return self.drop_with(format!("TCP from {src}: {e}")),
        };
        let from = SocketAddr::new(src, header.src_port);
        let ours = from == self.cfg.remote && header.dst_port == self.cfg.port;
        match &mut self.tcb {
            Some(t) if ours && t.state() != State::Closed => {
                t.receive(&header, seg.payload(), now);
            }
            _ => {
                if let Some(rst) = tcp::reset_for(&header, seg.payload().len()) {
                    self.events.push_back(Event::ResetSent(from));
                    self.emit_tcp(rst, &[], from, Some(eth.source));
                }
            }
        }
    }

    /// Moves what ARP (or neighbour discovery) and TCP queued into the endpoint's queues, and
    /// starts TCP once the next hop is resolved.
    fn collect(&mut self, now: Duration) {
        while let Some(f) = self.resolver.transmit() {
            self.out.push_back(f);
        }
        match self.resolver.state() {
            Resolution::Resolved(mac) if self.tcb.is_none() => {
                self.events
                    .push_back(Event::Resolved(self.resolver.target(), mac));
                let mut tcb = Tcb::connect(self.opening(), now);
                if !self.early.is_empty() {
                    tcb.send(&std::mem::take(&mut self.early), now);
                }
                if self.close_early {
                    tcb.close(now);
                }
                self.tcb = Some(tcb);
            }
            Resolution::Unreachable if self.tcb.is_none() && !self.close_early => {
                self.events
                    .push_back(Event::Unreachable(self.resolver.target()));
                // Said once.
                self.close_early = true;
            }
            _ => {}
        }
        let mut segs = Vec::new();
        if let Some(t) = &mut self.tcb {
            while let Some(s) = t.transmit() {
                segs.push(s);
            }
            while let Some(e) = t.event() {
                self.events.push_back(Event::Tcp(e));
            }
        }
        let remote = self.cfg.remote;
        for s in segs {
            self.emit_tcp(s.header, &s.payload, remote, None);
        }
    }

    fn opening(&self) -> Opening {
        Opening {
            local: SocketAddr::new(self.cfg.ip, self.cfg.port),
            remote: self.cfg.remote,
            isn: self.cfg.isn,
            ts_offset: self.cfg.ts_offset,
            mss: self.cfg.mss(),
            time_wait: self.cfg.time_wait,
        }
    }

    /// Builds a segment to `to` through the pipeline: full checksums, our MAC, the next hop's
    /// (or `mac`, the sender of the frame answered).
    fn emit_tcp(&mut self, header: TcpHeader, payload: &[u8], to: SocketAddr, mac: Option<Mac>) {
        let next = match (mac, self.resolver.state()) {
            (Some(m), _) | (None, Resolution::Resolved(m)) => m,
            _ => return,
        };
        let mut params = Params::between_any(SocketAddr::new(self.cfg.ip, header.src_port), to)
            .with_macs(self.cfg.mac, next);
        params.tcp = header;
        params.checksum = ChecksumMode::Full;
        match &mut params.ipv6 {
            Some(v6) => v6.flow_label = self.cfg.flow_label & 0xf_ffff,
            None => {
                params.ip.identification = self.ip_id;
                self.ip_id = self.ip_id.wrapping_add(1);
            }
        }
        match encapsulate(payload, &params) {
            Ok(e) => self.out.push_back(Sent::Tcp(e)),
            Err(e) => self.drop_with(format!("cannot build a segment: {e}")),
        }
    }
}

#[cfg(test)]
mod tests;
