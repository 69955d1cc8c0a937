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
    connection_key_link, Connection, FrameCheck, ModelError, Side, Stack, TcpSettings,
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
    /// Something else a link carries that no model here covers (an MLDv2 report, a router
    /// solicitation): what it is, and its kind. Listed, not checked, not a finding.
    Listed(String, &'static str),
    /// Not TCP over IPv4 or IPv6, or malformed: no connection's.
    Skipped,
}

/// Every connection of a capture, each with its model.
#[derive(Debug, Default)]
pub struct Verifier {
    order: Vec<Key>,
    /// Each connection's model, and its number in `order`.
    conns: HashMap<Key, (usize, Connection)>,
    /// The connection of the frame before, and its number: most frames are of the same one.
    last: Option<(Key, usize)>,
    settings: Option<TcpSettings>,
    transcript: Option<Transcript>,
    /// ARP and neighbour discovery on the link: the MACs of its TCP frames.
    neighbours: Neighbours,
    /// The endpoints a Linux kernel runs (`encap verify --linux`); empty: told by fingerprint.
    linux: Vec<LinuxEnd>,
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
        let Some((src, dst)) = connection_key_link(frame, link) else {
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
        let Some((_, conn)) = self.conns.get_mut(&key) else {
            return Outcome::Skipped;
        };
        match conn.observe_captured(number, time, link, frame, orig_len) {
            Ok(mut check) => {
                if link == link_type::ETHERNET {
                    self.neighbours.judge_macs(frame, &mut check);
                }
                Outcome::Checked(stream, check)
            }
            Err(e) => Outcome::NotChecked(e),
        }
    }

    /// The connection of `src` and `dst` (either way round) and its number, made on its first
    /// frame (whose sender is the client).
    fn find_or_add(&mut self, src: SocketAddr, dst: SocketAddr) -> (Key, usize) {
        let key = if self.conns.contains_key(&(dst, src)) {
            (dst, src)
        } else {
            (src, dst)
        };
        let (n, _) = self.conns.entry(key).or_insert_with(|| {
            self.order.push(key);
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
            (self.order.len() - 1, conn)
        });
        (key, *n)
    }

    /// The link's ARP and neighbour discovery, as far as seen.
    #[must_use]
    pub fn neighbours(&self) -> &Neighbours {
        &self.neighbours
    }

    /// The connections in order of first appearance, each with its model.
    pub fn connections(&self) -> impl Iterator<Item = (Key, &Connection)> + '_ {
        self.order
            .iter()
            .filter_map(|k| self.conns.get(k).map(|(_, c)| (*k, c)))
    }
}
