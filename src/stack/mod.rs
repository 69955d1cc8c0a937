//! A user-space TCP/IPv4 endpoint over Ethernet whose every frame is the pipeline's: the sibling of
//! the model that sends instead of predicting. Sans-IO like the rest of the library: frames come
//! in as bytes with the time they arrived, frames to send come out as the pipeline built them
//! ([`Sent`]: the exact bytes for the packet socket, with the padding and FCS a wire adds), and no
//! socket, clock or randomness is inside: the time is the `now` handed to each call, the ISN, the
//! timestamp clock's offset and the first IP ID are in the [`Config`].
//!
//! One connection, opened actively: ARP first for the next hop ([`arp`]), then TCP ([`tcp`]).
//! Requests for our own address are answered, segments for no connection of ours are answered
//! with a RST, frames with a bad IPv4 or TCP checksum are dropped with the reason.

pub mod arp;
pub mod tcp;

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use crate::layers::arp::ArpPacket;
use crate::layers::ethernet::{EtherType, EthernetHeader, Mac};
use crate::layers::ipv4::{IpProtocol, Ipv4Packet};
use crate::layers::tcp::{ChecksumStatus, TcpHeader, TcpSegment};
use crate::pipeline::{encapsulate, ArpFrame, ChecksumMode, Encapsulated, Params};
use arp::{Resolution, Resolver};
pub use tcp::{Event as TcpEvent, State};
use tcp::{Opening, Tcb};

/// Everything the endpoint is given.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Our MAC.
    pub mac: Mac,
    /// Our IPv4 address.
    pub ip: Ipv4Addr,
    /// Its prefix length: a peer inside it is asked for directly, any other through `gateway`.
    pub prefix_len: u8,
    /// The router.
    pub gateway: Ipv4Addr,
    /// The link's MTU (the MSS announced is 40 bytes less).
    pub mtu: u16,
    /// Our TCP port.
    pub port: u16,
    /// The peer.
    pub remote: SocketAddrV4,
    /// The initial sequence number.
    pub isn: u32,
    /// Added to the milliseconds of `now` to make each TSval.
    pub ts_offset: u32,
    /// The IP ID of the first packet; each one after takes the next.
    pub ip_id: u16,
    /// How long TIME_WAIT lasts.
    pub time_wait: Duration,
    /// Accept a TCP checksum left as the pseudo-header sum: what a veth peer whose sender
    /// offloads checksums hands over (its kernel never computed the rest; on a wire the NIC
    /// would have).
    pub accept_partial: bool,
}

impl Config {
    /// The address ARP asks for: the peer on our subnet, else the gateway.
    #[must_use]
    pub fn next_hop(&self) -> Ipv4Addr {
        let mask = u32::MAX
            .checked_shl(32 - u32::from(self.prefix_len.min(32)))
            .unwrap_or(0);
        let same = u32::from(self.ip) & mask == u32::from(*self.remote.ip()) & mask;
        if same {
            *self.remote.ip()
        } else {
            self.gateway
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
}

impl Sent {
    /// The bytes for the packet socket (no padding, no FCS: the device adds them).
    #[must_use]
    pub fn frame(&self) -> &[u8] {
        match self {
            Sent::Tcp(e) => e.frame(),
            Sent::Arp(a) => a.frame(),
        }
    }

    /// The frame as a wire carries it: padded to 60 bytes, then the FCS.
    #[must_use]
    pub fn frame_with_fcs(&self) -> &[u8] {
        match self {
            Sent::Tcp(e) => e.frame_with_fcs(),
            Sent::Arp(a) => a.frame_with_fcs(),
        }
    }

    /// The FCS.
    #[must_use]
    pub fn fcs(&self) -> u32 {
        match self {
            Sent::Tcp(e) => e.fcs(),
            Sent::Arp(a) => a.fcs(),
        }
    }

    /// The TCP payload it carries (empty for ARP).
    #[must_use]
    pub fn payload(&self) -> &[u8] {
        match self {
            Sent::Tcp(e) => e.payload(),
            Sent::Arp(_) => &[],
        }
    }
}

/// What happened, for the program that drives the endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The next hop's MAC is known.
    Resolved(Ipv4Addr, Mac),
    /// No ARP answer from the next hop.
    Unreachable(Ipv4Addr),
    /// The connection.
    Tcp(TcpEvent),
    /// A frame for us that was dropped, and why.
    Dropped(String),
    /// A segment for no connection of ours, answered with a RST.
    ResetSent(SocketAddrV4),
}

/// The endpoint: one address, one connection.
#[derive(Debug)]
pub struct Endpoint {
    cfg: Config,
    resolver: Resolver,
    tcb: Option<Tcb>,
    /// Written before the connection existed (ARP still waiting).
    early: Vec<u8>,
    close_early: bool,
    ip_id: u16,
    out: VecDeque<Sent>,
    events: VecDeque<Event>,
}

impl Endpoint {
    /// Starts connecting to `cfg.remote`: the ARP request for the next hop goes first, the SYN
    /// once it is answered.
    #[must_use]
    pub fn connect(cfg: Config, now: Duration) -> Endpoint {
        let mut e = Endpoint {
            cfg,
            resolver: Resolver::new(cfg.mac, cfg.ip, cfg.next_hop(), now),
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

    /// The time is `now`: ARP and TCP timers.
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
        if eth.destination != self.cfg.mac && eth.destination != arp::BROADCAST {
            return;
        }
        match eth.ethertype {
            EtherType::Arp => match ArpPacket::parse(rest) {
                Ok(a) => self.resolver.receive(&a),
                Err(e) => self.drop_with(format!("ARP: {e}")),
            },
            EtherType::Ipv4 => self.receive_ipv4(&eth, rest, now),
            _ => {}
        }
        self.collect(now);
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
        if ip.destination() != self.cfg.ip || ip.protocol() != IpProtocol::Tcp {
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
        let seg = match TcpSegment::new_checked(ip.payload()) {
            Ok(s) => s,
            Err(e) => return self.drop_with(format!("TCP from {}: {e}", ip.source())),
        };
        match seg.checksum_status(ip.source(), ip.destination()) {
            ChecksumStatus::Good => {}
            ChecksumStatus::Partial if self.cfg.accept_partial => {}
            status => {
                return self.drop_with(format!(
                    "TCP from {}:{}: checksum 0x{:04x} is not right ({status:?})",
                    ip.source(),
                    seg.src_port(),
                    seg.checksum()
                ))
            }
        }
        let header = match TcpHeader::parse(&seg) {
            Ok(h) => h,
            Err(e) => return self.drop_with(format!("TCP from {}: {e}", ip.source())),
        };
        let from = SocketAddrV4::new(ip.source(), header.src_port);
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

    /// Moves what ARP and TCP queued into the endpoint's queues, and starts TCP once ARP
    /// resolved.
    fn collect(&mut self, now: Duration) {
        while let Some(f) = self.resolver.transmit() {
            self.out.push_back(Sent::Arp(f));
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
            local: SocketAddrV4::new(self.cfg.ip, self.cfg.port),
            remote: self.cfg.remote,
            isn: self.cfg.isn,
            ts_offset: self.cfg.ts_offset,
            mss: self.cfg.mtu.saturating_sub(40),
            time_wait: self.cfg.time_wait,
        }
    }

    /// Builds a segment to `to` through the pipeline: full checksums, our MAC, the next hop's
    /// (or `mac`, the sender of the frame answered).
    fn emit_tcp(&mut self, header: TcpHeader, payload: &[u8], to: SocketAddrV4, mac: Option<Mac>) {
        let next = match (mac, self.resolver.state()) {
            (Some(m), _) | (None, Resolution::Resolved(m)) => m,
            _ => return,
        };
        let mut params = Params::between(SocketAddrV4::new(self.cfg.ip, header.src_port), to)
            .with_macs(self.cfg.mac, next);
        params.tcp = header;
        params.checksum = ChecksumMode::Full;
        params.ip.identification = self.ip_id;
        self.ip_id = self.ip_id.wrapping_add(1);
        match encapsulate(payload, &params) {
            Ok(e) => self.out.push_back(Sent::Tcp(e)),
            Err(e) => self.drop_with(format!("cannot build a segment: {e}")),
        }
    }
}

#[cfg(test)]
mod tests;
