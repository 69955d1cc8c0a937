//! What kind of segment a frame is, and the circumstances that decide what the kernel would
//! have sent for it: a retransmission, a probe, a gap, an RST from the control socket...
//! Classified from the frame and the model's state, before the model predicts anything.

use super::observed::Observed;
use super::seq;
use super::side::{Side, SideState};
use super::state::TcpState;
use crate::layers::tcp::field as tf;

/// The kind of segment a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Opens the connection.
    Syn,
    /// Answers the SYN.
    SynAck,
    /// Carries application bytes.
    Data,
    /// Acknowledges only.
    Ack,
    /// Closes one direction (possibly with data).
    Fin,
    /// Aborts.
    Rst,
}

impl Kind {
    /// The kind of a segment with these flags and this much payload.
    #[must_use]
    pub fn of(flags: u16, len: usize) -> Kind {
        if flags & tf::FLG_RST != 0 {
            Kind::Rst
        } else if flags & tf::FLG_SYN != 0 {
            if flags & tf::FLG_ACK != 0 {
                Kind::SynAck
            } else {
                Kind::Syn
            }
        } else if flags & tf::FLG_FIN != 0 {
            Kind::Fin
        } else if len > 0 {
            Kind::Data
        } else {
            Kind::Ack
        }
    }

    /// A SYN or a SYN-ACK.
    #[must_use]
    pub fn is_syn(self) -> bool {
        matches!(self, Kind::Syn | Kind::SynAck)
    }
}

/// An RST from a side that has no socket for this connection (nothing listened, or its socket
/// is gone) comes from the kernel's control socket (`tcp_v4_send_reset`): no options, window
/// 0, over IPv4 IP ID 0 and a full checksum. So does one from a side that has sent its FIN:
/// data reaching a socket closed for receiving (or its TIME_WAIT stand-in). And so does any
/// Linux RST without ACK: a socket's own RST always carries one (`tcp_send_active_reset`),
/// the control socket's answer to a segment with ACK never does (RFC 9293: `<SEQ=SEG.ACK>
/// <CTL=RST>`), as when a listener's queue overflowed and the handshake it answered left no
/// socket behind. (Another stack's RST, once it had the connection, is its socket's whatever
/// its state: RFC 9293 §3.10.7.4 resets from any synchronized state at the socket's own
/// sequence number, its ACK what it received; Linux's control socket is Linux's habit, as in
/// `peer-rst-lastack.pcap`, the peer's RST, ACK in LAST_ACK after its own FIN.)
#[must_use]
pub fn from_control_socket(me: &SideState, kind: Kind, has_ack: bool) -> bool {
    kind == Kind::Rst
        && (me.isn.is_none()
            || (!me.followed()
                && (!has_ack
                    || matches!(
                        me.state,
                        TcpState::Closed
                            | TcpState::FinWait1
                            | TcpState::FinWait2
                            | TcpState::Closing
                            | TcpState::TimeWait
                    ))))
}

/// A SYN (or SYN-ACK) with a new sequence number from a side that is past its own SYN: only a
/// closed socket, a listener or a TIME_WAIT one (reused by a new connection) starts anew.
#[must_use]
pub fn syn_out_of_place(me: &SideState, o: &Observed<'_>) -> bool {
    o.kind.is_syn()
        && me.isn.is_some_and(|isn| isn != o.seq())
        && !matches!(
            me.state,
            TcpState::Closed | TcpState::Listen | TcpState::TimeWait
        )
}

/// The circumstances of one frame: what the kernel was doing when it sent it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Event {
    /// A retransmission the timer may have sent (`TCP_RTO_MIN` or more after its sending
    /// before): after it the socket's `txhash`, so its IPv6 flow label, is new.
    pub rto: bool,
    /// An RST from the kernel's control socket: no socket had the connection.
    pub ctl_rst: bool,
    /// A SYN or SYN-ACK sent again with the same ISN (no answer came in time).
    pub syn_again: bool,
    /// An ACK from a closed socket's TIME_WAIT mini-socket: IP ID 0, full checksum.
    pub timewait_reply: bool,
    /// A keepalive or zero-window probe: an empty ACK at `snd_una - 1`.
    pub probe: bool,
    /// An empty ACK that acknowledges nothing new and updates no window, with nothing from the
    /// peer to answer since this side's previous segment: Linux sends that only as a probe, one
    /// below.
    pub redundant: bool,
    /// Ahead of the next sequence number: bytes before it are not in the capture (yet).
    pub gap: bool,
    /// Fills a gap left by the frame with this number.
    pub fills: Option<u64>,
    /// Bytes sent again.
    pub retrans: bool,
    /// Acknowledges bytes the capture has not shown.
    pub ack_ahead: bool,
    /// An ACK older than this side's previous one, captured after it.
    pub stale: bool,
    /// An older IP ID one of this side's skipped IDs accounts for.
    pub id_late: bool,
    /// An IP ID a little ahead of this side's counter.
    pub id_ahead: bool,
    /// The acknowledgment is one the peer's stream reached.
    pub ack_ok: bool,
    /// The sender received a SYN and has not answered it yet: its answer is a SYN-ACK.
    pub answers_syn: bool,
    /// In a cooked capture of a real interface, a segment longer than the sender's segment
    /// size: several segments in one packet, seen where the capture's host handled it whole.
    pub merged: Option<Merged>,
    /// Bytes a router refused as too big for its next hop, sent again (path-MTU discovery).
    pub resent_refused: bool,
}

/// A packet of several segments, as a capture on a real interface shows it (`tcpdump -i any`
/// reads packets where the stack handles them): on the way in, the receiver's GRO merged
/// segments of the sender's segment size into one (and wrote the pseudo-header sum into its
/// checksum, as `tcp_gro_complete` does: the stack checked each segment's own before); on the
/// way out, one TSO/GSO packet the NIC (or the GSO layer past the capture) cuts into segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Merged {
    /// How many segments of `size` the payload holds (the last one may be shorter).
    pub segments: u32,
    /// The sender's segment size: the smaller MSS of the two SYNs less this segment's options.
    pub size: u16,
    /// It arrived at the capture's host (GRO-merged), rather than left it (TSO/GSO).
    pub arrived: bool,
}

/// The segments a packet longer than its sender's segment size holds (see [`Merged`]); `None`
/// for one that fits, or outside a cooked capture of a real interface.
#[must_use]
pub fn merged(o: &Observed<'_>, me: &SideState, peer: &SideState) -> Option<Merged> {
    if o.cooked.is_none() || !o.on_a_wire() || o.kind.is_syn() {
        return None;
    }
    let options = o.segment.header_len().saturating_sub(tf::HEADER_LEN);
    let mss = usize::from(peer.mss?.min(me.mss.unwrap_or(u16::MAX)));
    let size = mss.checked_sub(options).filter(|&n| n > 0)?;
    (o.len() > size).then(|| Merged {
        segments: u32::try_from(o.len().div_ceil(size)).unwrap_or(u32::MAX),
        size: u16::try_from(size).unwrap_or(u16::MAX),
        arrived: o.arrived(),
    })
}

/// How far ahead of a socket's IP ID counter an ID may be and still be taken as its frames not
/// captured yet.
pub const ID_AHEAD_LIMIT: u16 = 8;

/// Classifies a frame from `from`, the model having learned what its handshake teaches.
#[must_use]
pub fn classify(o: &Observed<'_>, me: &SideState, peer: &SideState, ctl_rst: bool) -> Event {
    let kind = o.kind;
    let syn_again = kind.is_syn() && me.isn == Some(o.seq());
    // Only a socket whose FIN was acknowledged before the peer's FIN came reaches FIN_WAIT_2
    // and, closed, becomes a mini-socket that answers through the control socket
    // (ip_send_unicast_reply); a FIN+ACK answering its FIN in FIN_WAIT_1 is acknowledged by
    // the full socket (tcp_rcv_state_process).
    let timewait_reply = kind == Kind::Ack
        && me.fin_wait2
        && matches!(me.state, TcpState::FinWait2 | TcpState::TimeWait)
        && o.ip_id == Some(0);
    // A keepalive or zero-window probe: a byte the peer already has, to draw its ACK
    // (tcp_xmit_probe_skb).
    let probe = kind == Kind::Ack
        && o.is_empty()
        && me.isn.is_some()
        && o.seq() == me.next_seq.wrapping_sub(1);
    // (Another stack may repeat an ACK as it likes: a duplicate ACK, RFC 5681.)
    let redundant = kind == Kind::Ack
        && !me.followed()
        && o.is_empty()
        && me.last_frame > peer.last_answerable
        && o.seq() == me.next_seq
        && me.last_ack == Some(o.ack())
        && me.window == Some(o.window());
    let in_stream = !matches!(kind, Kind::Syn | Kind::SynAck | Kind::Rst) && me.isn.is_some();
    let gap = in_stream && !probe && seq::after(o.seq(), me.next_seq);
    let fills = me
        .holes
        .iter()
        .find(|h| h.span.contains(o.seq()) && !o.is_empty())
        .map(|h| h.frame);
    // Bytes behind the next sequence number, not filling a gap: sent again (an RTO, or a
    // tail loss probe).
    let retrans = fills.is_none()
        && !probe
        && in_stream
        && seq::after(me.next_seq, o.seq())
        && (!o.is_empty() || o.has(tf::FLG_FIN));
    Event {
        ctl_rst,
        syn_again,
        timewait_reply,
        probe,
        redundant,
        gap,
        fills,
        retrans,
        merged: merged(o, me, peer),
        ..acknowledgment(o, me, peer)
    }
}

/// The circumstances an acknowledgment and an IP ID show.
fn acknowledgment(o: &Observed<'_>, me: &SideState, peer: &SideState) -> Event {
    let kind = o.kind;
    // An acknowledgment of bytes the capture has not shown (yet): missed, or captured after
    // this ACK.
    let ack_ahead = o.has_ack()
        && !matches!(kind, Kind::Syn | Kind::Rst)
        && peer.isn.is_some()
        && seq::after(o.ack(), peer.next_seq);
    // An ACK acknowledging less than this side's previous one was built before it and captured
    // after it (frames can pass each other on the way to the capture).
    let stale = o.has_ack() && me.last_ack.is_some_and(|a| seq::after(a, o.ack()));
    // An IP ID behind the counter that one of this side's skipped IDs accounts for; one a
    // little ahead: frames of this socket not in the capture yet.
    let id_late = match (o.ip_id, me.ids.next) {
        (Some(id), Some(_)) => me.ids.skipped.iter().any(|s| s.id == id),
        _ => false,
    };
    let id_ahead = match (o.ip_id, me.ids.next) {
        (Some(id), Some(next)) if kind != Kind::SynAck => {
            (1..=ID_AHEAD_LIMIT).contains(&id.wrapping_sub(next))
        }
        _ => false,
    };
    let ack_ok =
        kind == Kind::Syn || o.ack() == peer.next_seq || peer.boundaries.contains(&o.ack());
    Event {
        ack_ahead,
        stale,
        id_late,
        id_ahead,
        ack_ok,
        ..Event::default()
    }
}

/// Which side a frame from `src` comes from, if either.
#[must_use]
pub fn side_of(src: std::net::SocketAddr, client: &SideState, server: &SideState) -> Option<Side> {
    if src == client.addr {
        Some(Side::Client)
    } else if src == server.addr {
        Some(Side::Server)
    } else {
        None
    }
}
