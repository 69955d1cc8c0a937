//! ARP for the endpoint (RFC 826), sans-IO: it answers requests for its own address, and asks for
//! the next hop's MAC (a request each second, three at most, as Linux's `mcast_solicit`).

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::layers::arp::{ArpPacket, REPLY, REQUEST};
use crate::layers::ethernet::Mac;
use crate::pipeline::{encapsulate_arp, ArpFrame};

/// The broadcast MAC.
pub const BROADCAST: Mac = [0xff; 6];
/// Requests sent before the next hop counts as unreachable.
pub const TRIES: u32 = 3;
/// The wait between two requests.
pub const RETRY: Duration = Duration::from_secs(1);

/// What ARP learned or gave up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Nothing yet.
    Waiting,
    /// The next hop is at this MAC.
    Resolved(Mac),
    /// No answer after [`TRIES`] requests.
    Unreachable,
}

/// The asking for one next hop's MAC, ARP's or neighbour discovery's: what is known, how many
/// requests went, when the next one is due.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asking {
    pub(crate) state: Resolution,
    sent: u32,
    deadline: Option<Duration>,
}

impl Asking {
    pub(crate) fn new() -> Asking {
        Asking {
            state: Resolution::Waiting,
            sent: 0,
            deadline: None,
        }
    }

    pub(crate) fn deadline(&self) -> Option<Duration> {
        self.deadline
    }

    /// A request went out at `now`.
    pub(crate) fn asked(&mut self, now: Duration) {
        self.sent += 1;
        self.deadline = Some(now + RETRY);
    }

    /// The answer came.
    pub(crate) fn resolved(&mut self, mac: Mac) {
        self.state = Resolution::Resolved(mac);
        self.deadline = None;
    }

    /// True when a request is due again at `now`; after [`TRIES`] the next hop is unreachable.
    pub(crate) fn due(&mut self, now: Duration) -> bool {
        match self.deadline {
            Some(d) if now >= d && self.state == Resolution::Waiting => {
                if self.sent >= TRIES {
                    self.state = Resolution::Unreachable;
                    self.deadline = None;
                    false
                } else {
                    true
                }
            }
            _ => false,
        }
    }
}

/// Our address, and the one next hop we ask about: ARP's over IPv4 ([`Resolver`]), neighbour
/// discovery's over IPv6 ([`super::nd::Resolver`]).
#[derive(Debug)]
pub struct Neighbour<A> {
    pub(crate) mac: Mac,
    pub(crate) ip: A,
    pub(crate) target: A,
    pub(crate) asking: Asking,
    pub(crate) out: VecDeque<ArpFrame>,
}

impl<A: Copy> Neighbour<A> {
    /// Nothing asked yet.
    pub(crate) fn blank(mac: Mac, ip: A, target: A) -> Neighbour<A> {
        Neighbour {
            mac,
            ip,
            target,
            asking: Asking::new(),
            out: VecDeque::new(),
        }
    }

    /// The next hop's address.
    #[must_use]
    pub fn target(&self) -> A {
        self.target
    }

    /// What is known of the next hop.
    #[must_use]
    pub fn state(&self) -> Resolution {
        self.asking.state
    }

    /// The next frame to send.
    pub fn transmit(&mut self) -> Option<ArpFrame> {
        self.out.pop_front()
    }

    /// When the next request is due, while waiting.
    #[must_use]
    pub fn deadline(&self) -> Option<Duration> {
        self.asking.deadline()
    }
}

/// ARP's: our IPv4 address, and the next hop's.
pub type Resolver = Neighbour<Ipv4Addr>;

impl Resolver {
    /// Asks who has `target`, now.
    #[must_use]
    pub fn new(mac: Mac, ip: Ipv4Addr, target: Ipv4Addr, now: Duration) -> Resolver {
        let mut r = Neighbour::blank(mac, ip, target);
        r.request(now);
        r
    }

    fn request(&mut self, now: Duration) {
        let arp = ArpPacket {
            oper: REQUEST,
            sha: self.mac,
            spa: self.ip,
            tha: [0; 6],
            tpa: self.target,
        };
        self.out
            .push_back(encapsulate_arp(&arp, self.mac, BROADCAST));
        self.asking.asked(now);
    }

    /// A request again, or giving up, once a second passed without an answer.
    pub fn tick(&mut self, now: Duration) {
        if self.asking.due(now) {
            self.request(now);
        }
    }

    /// An ARP packet arrived: a request for our address is answered; the next hop's MAC is
    /// learned from any packet it sent to us (its reply, or its own request).
    pub fn receive(&mut self, arp: &ArpPacket) {
        if arp.tpa != self.ip {
            return;
        }
        if arp.spa == self.target {
            self.asking.resolved(arp.sha);
        }
        if arp.oper == REQUEST {
            let reply = ArpPacket {
                oper: REPLY,
                sha: self.mac,
                spa: self.ip,
                tha: arp.sha,
                tpa: arp.spa,
            };
            self.out
                .push_back(encapsulate_arp(&reply, self.mac, arp.sha));
        }
    }
}
