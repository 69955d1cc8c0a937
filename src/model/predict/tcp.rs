//! The TCP header of the model's frame: sequence and acknowledgment numbers, flags, urgent
//! pointer and window, and the window's right edge (which Linux never moves left).

use super::super::event::{Event, Kind};
use super::super::linux::first_scaled_window;
use super::super::observed::Observed;
use super::super::seq;
use super::super::side::Side;
use super::super::Connection;
use super::PayloadPlan;
use crate::layers::tcp::field as tf;
use crate::pipeline::Params;

/// Fills in sequence and acknowledgment numbers, flags and urgent pointer.
pub fn header(
    c: &Connection,
    from: Side,
    o: &Observed<'_>,
    ev: &Event,
    plan: &PayloadPlan,
    p: &mut Params,
) {
    let (me, peer) = (&c.sides[from], &c.sides[!from]);
    let kind = o.kind;
    p.tcp.seq = if ev.probe || ev.gap || ev.retrans || ev.fills.is_some() {
        o.seq()
    } else if ev.redundant {
        me.next_seq.wrapping_sub(1)
    } else {
        me.next_seq
    };
    // A SYN that reopened a TIME_WAIT connection: the ISN is the TIME_WAIT socket's.
    if let (Kind::SynAck, Some(isn)) = (kind, me.reused_isn) {
        p.tcp.seq = isn;
    }
    p.tcp.ack = if kind == Kind::Syn { 0 } else { o.ack() };
    if !ev.ack_ok && !ev.ack_ahead && kind != Kind::Syn {
        p.tcp.ack = peer.next_seq;
    }
    // Urgent data (MSG_OOB) is the application's: URG and the pointer past the urgent byte,
    // taken from the frame.
    if o.urgent() {
        p.tcp.urgent = o.segment.urgent();
    }
    p.tcp.flags = flags(c, from, o, ev, push(c, from, o, ev, plan));
    if ev.ctl_rst {
        // It answers the segment that reached no socket: seq its acknowledgment (or 0), ack
        // its end.
        p.tcp.seq = peer.last_ack.unwrap_or(0);
        p.tcp.ack = if peer.last_ack.is_some() {
            0
        } else {
            peer.next_seq
        };
    }
}

/// Whether a data segment must carry PSH: Linux marks the last segment of each write
/// (tcp_push), so a segment that ends a write has it. `None` where the frame decides: in the
/// middle of a large write (PSH there marks a forced push, when half the peer's window went
/// out unpushed), and where nothing is known of the writes but the segment is a full one.
#[must_use]
pub fn push(
    c: &Connection,
    from: Side,
    o: &Observed<'_>,
    ev: &Event,
    plan: &PayloadPlan,
) -> Option<bool> {
    if o.kind != Kind::Data || ev.retrans || ev.gap || ev.fills.is_some() {
        return None;
    }
    if plan.predicted {
        let ends = plan.coalesced > 0
            || c.sides[from]
                .queue
                .writes
                .front()
                .is_some_and(|w| o.len() >= w.left);
        return ends.then_some(true);
    }
    let mss = c.send_mss(from)?;
    (o.len() < mss).then_some(true)
}

/// The flags Linux sets for this kind of segment; `push` as [`push`] says.
fn flags(c: &Connection, from: Side, o: &Observed<'_>, ev: &Event, push: Option<bool>) -> u16 {
    let (me, peer) = (&c.sides[from], &c.sides[!from]);
    // ECN (RFC 3168): a SYN asks with ECE and CWR together (tcp_ecn_send_syn), the SYN-ACK
    // agrees with ECE (Linux's default, tcp_ecn = 2, agrees when asked).
    let ecn = match o.kind {
        Kind::Syn if o.has(tf::FLG_ECE | tf::FLG_CWR) => tf::FLG_ECE | tf::FLG_CWR,
        Kind::Syn => 0,
        Kind::SynAck if c.ecn_asked => tf::FLG_ECE,
        _ => 0,
    };
    let urg = if o.urgent() { tf::FLG_URG } else { 0 };
    ecn | urg
        | match o.kind {
            // A side that received a SYN answers it with a SYN-ACK, nothing else.
            Kind::Syn | Kind::Data | Kind::Ack | Kind::Fin if ev.answers_syn => {
                tf::FLG_SYN | tf::FLG_ACK
            }
            Kind::Syn => tf::FLG_SYN,
            Kind::SynAck => tf::FLG_SYN | tf::FLG_ACK,
            Kind::Data if push == Some(true) || (push.is_none() && o.has(tf::FLG_PSH)) => {
                tf::FLG_PSH | tf::FLG_ACK
            }
            Kind::Data => tf::FLG_ACK,
            Kind::Ack => tf::FLG_ACK,
            // A side sends one FIN: a second one at another place is not Linux's.
            Kind::Fin
                if me
                    .fin_seq
                    .is_some_and(|f| f != o.seq().wrapping_add(o.len() as u32)) =>
            {
                tf::FLG_ACK | if o.is_empty() { 0 } else { tf::FLG_PSH }
            }
            Kind::Fin if o.is_empty() => tf::FLG_FIN | tf::FLG_ACK,
            Kind::Fin => tf::FLG_FIN | tf::FLG_ACK | tf::FLG_PSH,
            // The control socket answers a segment without ACK with RST+ACK, one with ACK with
            // a bare RST; a socket resetting its connection sends RST+ACK.
            Kind::Rst if ev.ctl_rst && peer.last_ack.is_some() => tf::FLG_RST,
            Kind::Rst => tf::FLG_RST | tf::FLG_ACK,
        }
}

/// What the model says of a frame's window.
#[derive(Debug, Clone, Copy, Default)]
pub struct WindowPrediction {
    /// The window exactly, where Linux's rules fix it: a SYN's from the host's settings, a
    /// side's first after the handshake from its SYN's.
    pub exact: Option<u16>,
    /// The least it may be: a side's first window after the handshake is its SYN's less the
    /// bytes it received and may not have read yet.
    pub floor: Option<u16>,
    /// A SYN's window and scale below the host's settings, consistent with a receive buffer
    /// the application set (SO_RCVBUF locks it, and Linux derives both from it).
    pub locked: bool,
    /// The listener's first window after a SYN-ACK that may have been a SYN cookie (its SYN
    /// was sent twice): the socket made from the cookie sizes it anew.
    pub cookie: bool,
}

/// A SYN or SYN-ACK whose window is below what the host's settings give and whose window
/// scale is the one that window's buffer gives (`tcp_select_initial_window` clamps the scale
/// to a locked buffer's space): the application set SO_RCVBUF.
#[must_use]
pub fn rcvbuf_locked(c: &Connection, o: &Observed<'_>, settings_window: Option<u16>) -> bool {
    let (Some(full), Some(ws), true) = (settings_window, o.wscale, o.kind.is_syn()) else {
        return false;
    };
    let scale_of = |space: u32| (space.max(1).ilog2().saturating_sub(15)).min(14) as u8;
    let w = u32::from(o.window());
    let mss = u32::from(
        c.sides[Side::Client]
            .mss
            .max(c.sides[Side::Server].mss)
            .unwrap_or(0),
    );
    o.window() < full && (ws == scale_of(w) || ws == scale_of(w + mss))
}

/// Fills in the window, and says what the model predicts of it. A SYN's or SYN-ACK's follows
/// from the host's settings and the MSS it announces (less the timestamps option on a SYN-ACK
/// that carries it); a side's first segment after the handshake offers its SYN's window
/// rounded up to its scale, less what it received unread. Any later one is the receive
/// buffer's free space, which autotuning and unread data move: the frame's.
pub fn window(
    c: &Connection,
    from: Side,
    o: &Observed<'_>,
    ev: &Event,
    mss_contradicted: bool,
    p: &mut Params,
) -> WindowPrediction {
    let me = &c.sides[from];
    let mss = if mss_contradicted {
        Some(super::options::link_mss(o))
    } else {
        me.mss
    };
    let mut w = WindowPrediction::default();
    if let (true, Some(set), Some(mss)) = (o.kind.is_syn(), c.settings, mss) {
        let less = if o.kind == Kind::SynAck && o.tsval.is_some() {
            12
        } else {
            0
        };
        w.exact = Some(set.initial_window(u32::from(mss).saturating_sub(less)));
        w.locked = rcvbuf_locked(c, o, w.exact);
        if w.locked {
            w.exact = None;
        }
    } else if !me.after_syn && !o.kind.is_syn() && c.sides[!from].syn_resent {
        w.cookie = true;
    } else if let (Some(syn), false, Some(_), Some(_)) = (
        me.syn_window,
        me.after_syn || o.kind.is_syn(),
        c.sides[Side::Client].wscale,
        c.sides[Side::Server].wscale,
    ) {
        let scale = me.wscale.unwrap_or(0);
        let peer = &c.sides[!from];
        let received = peer
            .next_seq
            .wrapping_sub(peer.isn.unwrap_or(0).wrapping_add(1));
        let unread = u16::try_from(received).unwrap_or(u16::MAX);
        w.exact = Some(first_scaled_window(syn, scale));
        w.floor = Some(first_scaled_window(syn.saturating_sub(unread), scale));
    }
    p.tcp.window = match (o.kind.is_syn(), w.exact, w.floor) {
        _ if ev.ctl_rst => 0,
        (true, Some(exact), _) => exact,
        (false, _, Some(floor)) if o.window() < floor => floor,
        _ => o.window(),
    };
    w
}

/// The window scale that applies to `from`'s window field in a segment of `kind`: its own,
/// once both sides announced one; never on a SYN.
#[must_use]
pub fn scale(c: &Connection, from: Side, kind: Kind) -> u32 {
    match (c.sides[Side::Client].wscale, c.sides[Side::Server].wscale) {
        (Some(_), Some(_)) if !kind.is_syn() => {
            u32::from(c.sides[from].wscale.unwrap_or(0).min(14))
        }
        _ => 0,
    }
}

/// The right edge of the window this frame offers, and the edge offered before if this one
/// lies left of it (RFC 7323 §2.4: tcp_select_window keeps at least what was offered).
pub fn window_edge(
    c: &Connection,
    from: Side,
    o: &Observed<'_>,
    ev: &Event,
) -> (Option<u32>, Option<u32>) {
    // Every segment but a SYN and the control socket's RST offers a window (a socket's RST
    // too: tcp_transmit_skb selects it as for any segment).
    let offers = o.has_ack() && !o.kind.is_syn() && !ev.ctl_rst;
    let edge = offers.then(|| {
        o.ack()
            .wrapping_add(u32::from(o.window()) << scale(c, from, o.kind))
    });
    let shrunk = match (edge, c.sides[from].wnd_edge) {
        _ if ev.stale => None,
        (Some(now), Some(before)) if seq::after(before, now) => Some(before),
        _ => None,
    };
    (edge, shrunk)
}
