//! Following every TCP connection of a capture through the model: frames are handed in one by
//! one, split into connections by their address pair (in order of first appearance; the client
//! is the side that sent the first frame), and each is checked by its connection's model.
//! Pure, as the model is: the command `encap verify`, the live views and the tests drive it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::layers::link::link_type;
use crate::model::neighbour::{NeighbourCheck, Neighbours, Seen};
use crate::model::{
    connection_key_of, pmtu, Connection, FrameCheck, ModelError, Side, Stack, TcpSettings,
};

/// What the applications of each side wrote, one entry per write, client first.
pub type Transcript = [Vec<Vec<u8>>; 2];

/// A connection's address pair: client, server.
pub type Key = (SocketAddr, SocketAddr);

/// What became of one frame handed to the [`Verifier`].
// (Checked is what nearly every frame gives: boxing it would allocate once per frame to save
// the stack space of the rare others.)
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Outcome {
    /// Checked: the connection's number (in order of first appearance) and the check.
    Checked(usize, FrameCheck),
    /// Of a connection, but not checked (captured twice, or not a well-formed segment of it).
    NotChecked(ModelError),
    /// ARP or neighbour discovery: checked by the link's [`Neighbours`].
    Neighbour(NeighbourCheck),
    /// A router's "fragmentation needed" or "packet too big" about a TCP segment: checked
    /// against the segment it quotes ([`crate::model::pmtu`]), and its connection told.
    TooBig(NeighbourCheck),
    /// Something else a link carries that no model here covers (an MLDv2 report, a router
    /// solicitation): what it is, and its kind. Listed, not checked, not a finding.
    Listed(String, &'static str),
    /// Not TCP over IPv4 or IPv6, or malformed: no connection's.
    Skipped,
}

/// Every connection of a capture, each with its model. (A clone goes on from where this one
/// is: the mutation test verifies each edit of a frame from the state before that frame.)
#[derive(Debug, Default, Clone)]
pub struct Verifier {
    /// Each connection and its model, in order of first appearance.
    models: Vec<(Key, Connection)>,
    /// Each connection's number in `models`. (Asked only for a frame of another connection than
    /// the frame before's: hashing both addresses for every frame cost more than a percent.)
    conns: HashMap<Key, usize>,
    /// The connection of the frame before, and its number: most frames are of the same one.
    last: Option<(Key, usize)>,
    settings: Option<TcpSettings>,
    transcript: Option<Transcript>,
    /// ARP and neighbour discovery on the link: the MACs of its TCP frames.
    neighbours: Neighbours,
    /// The endpoints a Linux kernel runs (`encap verify --linux`); empty: told by fingerprint.
    linux: Vec<LinuxEnd>,
    /// The latest TCP frames with data: what a router's "fragmentation needed" may quote.
    recent: std::collections::VecDeque<(u64, Vec<u8>)>,
}

/// An endpoint a Linux kernel runs, as `--linux` names it: an address, and maybe a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinuxEnd {
    /// Its address.
    pub addr: std::net::IpAddr,
    /// Its port; `None`: every port of the address.
    pub port: Option<u16>,
}

impl LinuxEnd {
    /// Reads `192.0.2.10`, `192.0.2.10:6666`, `2001:db8::1` or `[2001:db8::1]:80`.
    ///
    /// # Errors
    /// A message saying what is wrong with `text`.
    pub fn parse(text: &str) -> Result<LinuxEnd, String> {
        if let Ok(addr) = text.parse::<std::net::IpAddr>() {
            return Ok(LinuxEnd { addr, port: None });
        }
        text.parse::<SocketAddr>()
            .map(|a| LinuxEnd {
                addr: a.ip(),
                port: Some(a.port()),
            })
            .map_err(|_| {
                format!("{text:?} is not an address or address:port (192.0.2.10, 192.0.2.10:6666, [2001:db8::1]:80)")
            })
    }

    /// Whether it names endpoint `a`.
    #[must_use]
    pub fn names(&self, a: SocketAddr) -> bool {
        self.addr == a.ip() && self.port.map_or(true, |p| p == a.port())
    }
}

/// How many TCP frames the verifier keeps for the ICMP errors that may quote them.
const RECENT: usize = 64;

impl Verifier {
    /// A verifier for a capture taken on a host with these settings (if known), whose
    /// applications wrote what `transcript` says (if known).
    #[must_use]
    pub fn new(settings: Option<TcpSettings>, transcript: Option<Transcript>) -> Verifier {
        Verifier {
            settings,
            transcript,
            ..Verifier::default()
        }
    }

    /// The same verifier, told which endpoints a Linux kernel runs: every other is followed as
    /// a peer that is not Linux (see [`crate::model::Stack`]).
    #[must_use]
    pub fn with_linux(mut self, linux: Vec<LinuxEnd>) -> Verifier {
        self.linux = linux;
        self
    }

    /// Checks frame `number`, captured at `time`.
    pub fn feed(&mut self, number: u64, time: Option<Duration>, frame: &[u8]) -> Outcome {
        self.feed_link(number, time, link_type::ETHERNET, frame)
    }

    /// Checks frame `number` of link type `link` (a pcap link type: Ethernet, a Linux cooked
    /// capture, raw IP...), captured at `time`.
    pub fn feed_link(
        &mut self,
        number: u64,
        time: Option<Duration>,
        link: u32,
        frame: &[u8],
    ) -> Outcome {
        self.feed_captured(number, time, link, frame, frame.len())
    }

    /// [`Verifier::feed_link`] for a frame of which the capture kept `frame` of `orig_len` bytes
    /// (cut short by its snapshot length when `orig_len` is larger).
    pub fn feed_captured(
        &mut self,
        number: u64,
        time: Option<Duration>,
        link: u32,
        frame: &[u8],
        orig_len: usize,
    ) -> Outcome {
        // (Sliced once: the connection's key, the model's reading and its comparison all walk
        // these views.)
        let sliced = crate::dissect::slice_link(frame, link);
        let Some((src, dst)) = connection_key_of(&sliced) else {
            if let Some(tb) = (link == link_type::ETHERNET)
                .then(|| pmtu::too_big(frame))
                .flatten()
            {
                return self.too_big(number, frame, &tb);
            }
            let seen = self.neighbours.observe_link(number, link, frame);
            return match seen {
                Some(Seen::Checked(c)) => Outcome::Neighbour(c),
                Some(Seen::Listed { what, kind }) => Outcome::Listed(what, kind),
                None => Outcome::Skipped,
            };
        };
        let (key, stream) = match self.last {
            Some((k, n)) if k == (src, dst) || k == (dst, src) => (k, n),
            _ => self.find_or_add(src, dst),
        };
        self.last = Some((key, stream));
        let Some((_, conn)) = self.models.get_mut(stream) else {
            return Outcome::Skipped;
        };
        match conn.observe_sliced(number, time, link, sliced, orig_len) {
            Ok(mut check) => {
                if link == link_type::ETHERNET {
                    self.neighbours.judge_macs(src.ip(), dst.ip(), &mut check);
                    if check.len > 0 {
                        self.remember(number, frame);
                    }
                }
                Outcome::Checked(stream, check)
            }
            Err(e) => Outcome::NotChecked(e),
        }
    }

    /// Keeps a TCP frame with data: what an ICMP error may quote.
    fn remember(&mut self, number: u64, frame: &[u8]) {
        // (Once the ring is full the oldest buffer is reused: no allocation per frame.)
        let mut buf = if self.recent.len() == RECENT {
            self.recent.pop_front().map(|(_, b)| b).unwrap_or_default()
        } else {
            Vec::new()
        };
        // (Whole: a packet cut short no longer decodes as what it was.)
        buf.clear();
        buf.extend_from_slice(frame);
        self.recent.push_back((number, buf));
    }

    /// A router's "fragmentation needed" or "packet too big": checked against the frame it
    /// quotes (when this link carried it), and the segment's connection told the path MTU.
    fn too_big(&mut self, number: u64, frame: &[u8], tb: &pmtu::TooBig<'_>) -> Outcome {
        let packet = self.recent.iter().rev().find(|(_, f)| {
            let at = crate::dissect::slice(f).net_at;
            pmtu::quotes(tb.quoted, f.get(at..).unwrap_or_default())
        });
        let router = packet.and_then(|(_, f)| {
            let eth = crate::dissect::slice(f).ethernet?;
            self.neighbours
                .address_of(eth.destination, tb.from.is_ipv6())
        });
        let check = pmtu::check(number, frame, tb, packet.map(|(_, f)| f.as_slice()), router);
        self.refused(tb.mtu, tb.quoted);
        Outcome::TooBig(check)
    }

    /// Tells the connection of the segment `quoted` (an IP packet as a router's ICMP error
    /// quotes it) that a router refused it, its next hop's MTU being `mtu`. For a link on the
    /// router's far side, which never carried the segment, the caller tells it too.
    pub fn refused(&mut self, mtu: u32, quoted: &[u8]) {
        let Some(r) = pmtu::refused(quoted) else {
            return;
        };
        let (key, from) = if self.conns.contains_key(&r.key) {
            (r.key, Side::Client)
        } else {
            ((r.key.1, r.key.0), Side::Server)
        };
        if let Some(&n) = self.conns.get(&key) {
            self.models[n].1.path_mtu_reduced(from, mtu, &r);
        }
    }

    /// The connection of `src` and `dst` (either way round) and its number, made on its first
    /// frame (whose sender is the client).
    fn find_or_add(&mut self, src: SocketAddr, dst: SocketAddr) -> (Key, usize) {
        for key in [(dst, src), (src, dst)] {
            if let Some(&n) = self.conns.get(&key) {
                return (key, n);
            }
        }
        let key = (src, dst);
        let mut conn = Connection::new(key.0, key.1).with_settings(self.settings);
        if !self.linux.is_empty() {
            for (side, addr) in [(Side::Client, key.0), (Side::Server, key.1)] {
                let (stack, why) = if self.linux.iter().any(|l| l.names(addr)) {
                    (Stack::Linux, "named by --linux")
                } else {
                    (Stack::Other, "not named by --linux")
                };
                conn.set_stack(side, stack, why.into());
            }
        }
        if let Some(sent) = &self.transcript {
            for side in Side::BOTH {
                for w in &sent[side.index()] {
                    conn.expect_sent(side, w);
                }
            }
        }
        self.models.push((key, conn));
        let n = self.models.len() - 1;
        self.conns.insert(key, n);
        (key, n)
    }

    /// The link's ARP and neighbour discovery, as far as seen.
    #[must_use]
    pub fn neighbours(&self) -> &Neighbours {
        &self.neighbours
    }

    /// The connections in order of first appearance, each with its model.
    pub fn connections(&self) -> impl Iterator<Item = (Key, &Connection)> + '_ {
        self.models.iter().map(|(k, c)| (*k, c))
    }
}
