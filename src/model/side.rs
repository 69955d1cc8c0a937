//! The two ends of a connection, and what the model knows of each.
//!
//! [`Side`] names an end (`!side` is the other one), [`Pair`] holds one value per end, and
//! [`SideState`] is everything the model has learned of one end, each piece a named type.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::ops::{Index, IndexMut, Not};
use std::time::Duration;

use super::seq::Span;
use super::state::TcpState;

/// One end of a connection: the client sent the SYN, the server answered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The side that opened the connection (or sent the first frame the capture holds).
    Client,
    /// The other side.
    Server,
}

impl Side {
    /// Both sides, client first.
    pub const BOTH: [Side; 2] = [Side::Client, Side::Server];

    /// 0 for the client, 1 for the server: the index into a `[T; 2]` kept in that order.
    #[must_use]
    pub fn index(self) -> usize {
        match self {
            Side::Client => 0,
            Side::Server => 1,
        }
    }

    /// The side at `index` of a client-first pair (only its lowest bit counts).
    #[must_use]
    pub fn from_index(index: usize) -> Side {
        if index & 1 == 0 {
            Side::Client
        } else {
            Side::Server
        }
    }

    /// `client` or `server`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
        }
    }
}

impl Not for Side {
    type Output = Side;
    fn not(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

/// What runs one end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stack {
    /// A Linux kernel: the model predicts its every frame, habits included (IP ID counter,
    /// Don't Fragment, TTL 64, the option layout of `tcp_options_write`, windows from
    /// `tcp_rmem`, TSvals on its millisecond clock).
    Linux,
    /// Any other TCP stack (another system, a scripted test peer): the model follows it,
    /// taking its habits as they come (*peer-chosen*), and checks only what every correct TCP
    /// must do (RFC 9293's sequence and acknowledgment arithmetic, options only where they
    /// belong, a window never shrunk; RFC 7323, 2018).
    Other,
}

impl Stack {
    /// `Linux` or `not Linux`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Stack::Linux => "Linux",
            Stack::Other => "not Linux",
        }
    }
}

/// One value for each side, indexed by [`Side`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pair<T>(pub [T; 2]);

impl<T> Pair<T> {
    /// This side's value and the other side's, both mutable.
    pub fn both_mut(&mut self, side: Side) -> (&mut T, &mut T) {
        let [client, server] = &mut self.0;
        match side {
            Side::Client => (client, server),
            Side::Server => (server, client),
        }
    }
}

impl<T> Index<Side> for Pair<T> {
    type Output = T;
    fn index(&self, side: Side) -> &T {
        &self.0[side.index()]
    }
}

impl<T> IndexMut<Side> for Pair<T> {
    fn index_mut(&mut self, side: Side) -> &mut T {
        &mut self.0[side.index()]
    }
}

/// Bytes of a side's stream the capture has not shown yet: skipped by a later segment (sent
/// out of order, or missed by the capture), or acknowledged by the peer before they appeared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hole {
    /// The missing bytes.
    pub span: Span,
    /// The frame that skipped them.
    pub frame: u64,
    /// The peer acknowledged them: it has the bytes, only the capture lacks them.
    pub acked: bool,
    /// When the bytes come, what tells whether they were sent before the frame that skipped
    /// them (as a capture may reorder) or after it (then that frame was wrong).
    pub opener: Opener,
}

/// What the frame that opened a hole carried: for a frame whose sequence number skipped bytes,
/// its IP ID and TSval (a segment sent after it has later ones); for a frame that acknowledged
/// bytes not seen, its TSecr (the bytes, if sent after that ACK was built, have a later TSval).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Opener {
    /// Its IPv4 identification.
    pub ip_id: Option<u16>,
    /// Its TSval (a gap) or TSecr (an acknowledgment).
    pub ts: Option<u32>,
    /// How far it moved its own stream.
    pub advance: u32,
}

/// A side's TCP timestamp clock (Linux counts milliseconds): the capture time and TSval of its
/// first timestamp, from which every later TSval follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TsClock {
    /// When the first TSval was captured.
    pub at: Duration,
    /// That TSval.
    pub tsval: u32,
}

impl TsClock {
    /// The TSval this clock shows at `now`.
    #[must_use]
    pub fn tsval_at(&self, now: Duration) -> u32 {
        let ms = now.saturating_sub(self.at).as_millis();
        self.tsval
            .wrapping_add(u32::try_from(ms).unwrap_or(u32::MAX))
    }
}

/// A TSval and the end of the first in-order segment that carried it: a peer echoing that
/// TSval has received at least that far (RFC 7323 TS.Recent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TsMark {
    /// The TSval.
    pub tsval: u32,
    /// The sequence number after the segment that first carried it.
    pub end: u32,
}

/// An IP ID a side skipped (a frame came with a higher one), and the frame that did: it comes
/// later (captured out of order) or never (reported at the end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkippedId {
    /// The IP ID.
    pub id: u16,
    /// The frame that skipped it.
    pub frame: u64,
}

/// A socket's IPv4 identification counter (Linux: one per socket, +1 per segment).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpIds {
    /// The next IP ID this socket will use, once one was seen.
    pub next: Option<u16>,
    /// IDs it skipped that no frame has carried yet.
    pub skipped: Vec<SkippedId>,
}

/// What a socket marks its packets with: DSCP and TTL (hop limit), the application's (IP_TOS,
/// IP_TTL, IPV6_TCLASS, IPV6_UNICAST_HOPS) or the host's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marking {
    /// Differentiated services code point.
    pub dscp: u8,
    /// TTL or hop limit.
    pub ttl: u8,
}

impl Marking {
    /// The host's defaults, as the kernel's control socket uses them.
    pub const DEFAULT: Marking = Marking { dscp: 0, ttl: 64 };
}

/// A socket's marking as the model learned it: from which frame, and how many showed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marked {
    /// DSCP and TTL.
    pub marking: Marking,
    /// The frame that showed them first.
    pub first: u64,
    /// How many frames of the socket showed them.
    pub frames: u32,
}

/// One write of the application not yet wholly sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Write {
    /// Bytes of it not sent yet.
    pub left: usize,
    /// The segment size Linux fixed for it when the application wrote (`size_goal`, from
    /// `mss_now` at that moment); `None` for a write known before the handshake.
    pub segment: Option<usize>,
    /// Its whole size.
    pub len: usize,
}

/// What the application of one side wrote and the kernel has not sent yet, when known (live,
/// or from a transcript).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteQueue {
    /// The bytes, oldest first; `None` when nothing is known of what the side writes.
    pub bytes: Option<VecDeque<u8>>,
    /// The writes they came in, oldest first.
    pub writes: VecDeque<Write>,
}

/// What the model knows of one side.
#[derive(Debug, Clone)]
pub struct SideState {
    /// Address and port.
    pub addr: SocketAddr,
    /// Initial sequence number, once learned.
    pub isn: Option<u32>,
    /// Next sequence number this side will use (after SYN, data and FIN seen so far).
    pub next_seq: u32,
    /// Sequence boundaries this side reached, most recent last: what the peer may acknowledge.
    pub boundaries: VecDeque<u32>,
    /// Its IPv4 identification counter.
    pub ids: IpIds,
    /// Its TSvals seen, most recent last.
    pub tsvals: VecDeque<u32>,
    /// Its timestamp clock, from its first TSval.
    pub ts_clock: Option<TsClock>,
    /// Its TSvals and the stream positions that prove a peer echoing them received that far.
    pub ts_marks: VecDeque<TsMark>,
    /// The window field of its latest segment.
    pub window: Option<u16>,
    /// The window it offered in its SYN or SYN-ACK (never scaled).
    pub syn_window: Option<u16>,
    /// Whether it has sent a segment since its SYN or SYN-ACK.
    pub after_syn: bool,
    /// The IPv6 flow label of its segments.
    pub flow: Option<u32>,
    /// The right edge of the window it last offered: its ACK plus its scaled window.
    pub wnd_edge: Option<u32>,
    /// The acknowledgment number of its latest segment that had ACK.
    pub last_ack: Option<u32>,
    /// Its FIN was acknowledged before the peer's FIN came: FIN_WAIT_2 was reached.
    pub fin_wait2: bool,
    /// Bytes of its stream not seen yet.
    pub holes: Vec<Hole>,
    /// A range it received twice and reports in its next ACK (D-SACK).
    pub dsack: Option<Span>,
    /// The capture missed segments of this side since its last frame (its IP ID may skip).
    pub missed: bool,
    /// Its DSCP and TTL, once seen.
    pub marking: Option<Marked>,
    /// The byte ranges of its latest data segments, in capture order: what the peer can have
    /// received when it acknowledges.
    pub sent: VecDeque<Span>,
    /// The window scale it announced in its SYN.
    pub wscale: Option<u8>,
    /// The largest window it has advertised, scaled (the kernel's `max_window` of its peer).
    pub max_window: u32,
    /// The MSS it announced.
    pub mss: Option<u16>,
    /// Its TCP state.
    pub state: TcpState,
    /// Where its FIN sits in its stream, once sent.
    pub fin_seq: Option<u32>,
    /// The frame that carried its FIN, and when it was captured.
    pub fin_frame: u64,
    /// When the FIN was captured.
    pub fin_time: Option<Duration>,
    /// The number of its latest frame.
    pub last_frame: u64,
    /// When its latest frame was captured.
    pub last_time: Option<Duration>,
    /// The frame of its latest keepalive or zero-window probe.
    pub probed: Option<u64>,
    /// The frame of its latest retransmission.
    pub retransmitted: Option<u64>,
    /// It sent its SYN again (no answer came in time: a listener whose queue was full dropped
    /// the first, and answers the next with a SYN cookie).
    pub syn_resent: bool,
    /// Its flight and congestion window's bound, and its retransmission timer.
    pub congestion: super::congestion::Congestion,
    /// Its segments' sendings, and what the peer's ACKs proved lost.
    pub recovery: super::recovery::Recovery,
    /// When it owes the peer an ACK, and whether quick ACKs apply.
    pub delack: super::delack::Delack,
    /// How many duplicate ACKs it has sent in a row.
    pub dup_acks: u32,
    /// The number of its latest frame that the peer answers with an ACK: one that carried
    /// bytes, a SYN or a FIN, or a probe.
    pub last_answerable: u64,
    /// Its latest segment without payload, SYN or FIN: frame number and sequence number.
    pub last_empty: Option<(u64, u32)>,
    /// What its application wrote and the kernel has not sent yet.
    pub queue: WriteQueue,
    /// On a real link: the MAC addresses of its frames, its own and the next hop's (from ARP),
    /// as its first frame showed them.
    pub macs: Option<(crate::layers::ethernet::Mac, crate::layers::ethernet::Mac)>,
    /// Whether its frames carry the full TCP checksum (no offload), as its first frame showed.
    pub full_checksum: Option<bool>,
    /// What runs it, and why the model says so: told (`encap verify --linux`), or read off its
    /// first frame; `None` until then.
    pub stack: Option<(Stack, String)>,
    /// The ISN its TIME_WAIT socket gives the new connection a SYN reopened on the same four
    /// addresses and ports (tcp_timewait_state_process: the old snd_nxt + 65537).
    pub reused_isn: Option<u32>,
}

/// How many sequence boundaries, TSvals, holes... a side keeps: enough for any window of frames
/// the model compares against, bounded so memory stays flat in the capture's size.
pub const KEEP: usize = 256;

impl SideState {
    /// A side at `addr` in `state`, nothing learned yet.
    #[must_use]
    pub fn new(addr: SocketAddr, state: TcpState) -> SideState {
        SideState {
            addr,
            isn: None,
            next_seq: 0,
            boundaries: VecDeque::new(),
            ids: IpIds::default(),
            tsvals: VecDeque::new(),
            ts_clock: None,
            ts_marks: VecDeque::new(),
            window: None,
            syn_window: None,
            after_syn: false,
            flow: None,
            wnd_edge: None,
            last_ack: None,
            fin_wait2: false,
            holes: Vec::new(),
            dsack: None,
            missed: false,
            marking: None,
            sent: VecDeque::new(),
            wscale: None,
            max_window: 0,
            mss: None,
            state,
            fin_seq: None,
            fin_frame: 0,
            fin_time: None,
            last_time: None,
            last_empty: None,
            last_frame: 0,
            last_answerable: 0,
            probed: None,
            retransmitted: None,
            syn_resent: false,
            congestion: super::congestion::Congestion::default(),
            recovery: super::recovery::Recovery::default(),
            delack: super::delack::Delack::default(),
            dup_acks: 0,
            queue: WriteQueue::default(),
            macs: None,
            full_checksum: None,
            stack: None,
            reused_isn: None,
        }
    }

    /// Whether the model follows this side rather than predicting it as Linux.
    #[must_use]
    pub fn followed(&self) -> bool {
        matches!(self.stack, Some((Stack::Other, _)))
    }

    /// Remembers that this side's stream reached `next_seq`: the peer may acknowledge it.
    pub fn remember_boundary(&mut self) {
        if self.boundaries.back() != Some(&self.next_seq) {
            self.boundaries.push_back(self.next_seq);
            if self.boundaries.len() > KEEP {
                self.boundaries.pop_front();
            }
        }
    }

    /// Its latest TSval.
    #[must_use]
    pub fn last_tsval(&self) -> Option<u32> {
        self.tsvals.back().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_other_side_of_a_side_is_its_peer_and_a_pair_indexes_by_side() {
        assert_eq!(!Side::Client, Side::Server);
        assert_eq!(!!Side::Client, Side::Client);
        assert_eq!(Side::from_index(1), Side::Server);
        let mut p = Pair([1, 2]);
        assert_eq!(p[Side::Server], 2);
        let (me, peer) = p.both_mut(Side::Server);
        *me += 10;
        *peer += 20;
        assert_eq!(p.0, [21, 12]);
    }

    #[test]
    fn a_timestamp_clock_counts_milliseconds_from_its_first_tsval() {
        let c = TsClock {
            at: Duration::from_millis(1000),
            tsval: u32::MAX - 1,
        };
        assert_eq!(c.tsval_at(Duration::from_millis(1000)), u32::MAX - 1);
        assert_eq!(c.tsval_at(Duration::from_millis(1003)), 1);
        assert_eq!(c.tsval_at(Duration::from_millis(10)), u32::MAX - 1);
    }
}
