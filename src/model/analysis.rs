//! TCP analysis as model events, under Wireshark's names (`tcp.analysis.*`). Unlike
//! Wireshark's heuristics, each is what the model classified and predicted for the frame, and
//! the kernel's frame then confirmed field by field.

use std::fmt;

use super::event::{Event, Kind};
use super::observed::Observed;
use super::seq;
use super::side::SideState;

/// One analysis event of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Analysis {
    /// Bytes sent again after a timeout or a tail loss probe.
    Retransmission,
    /// Bytes sent again after the peer's duplicate ACKs.
    FastRetransmission,
    /// Bytes sent again that the peer had already acknowledged.
    SpuriousRetransmission,
    /// Bytes that fill a gap an earlier frame left: sent (or captured) out of order.
    OutOfOrder,
    /// The sequence number skips bytes the capture does not hold (yet).
    LostSegment,
    /// Acknowledges bytes the capture does not hold (yet).
    AckLostSegment,
    /// The same acknowledgment again, with the same window: the Nth duplicate.
    DuplicateAck(u32),
    /// Offers a zero window.
    ZeroWindow,
    /// A probe of the peer's zero window.
    ZeroWindowProbe,
    /// The ACK answering a zero-window probe.
    ZeroWindowProbeAck,
    /// A keepalive probe (one byte below the next sequence number).
    KeepAlive,
    /// The ACK answering a keepalive probe.
    KeepAliveAck,
    /// Only the window changed.
    WindowUpdate,
    /// Its bytes fill the peer's window to its edge.
    WindowFull,
    /// Sent again by the retransmission timer, this long after its sending before; whether the
    /// wait doubled the one before (exponential backoff, RFC 6298 §5.5), where there was one.
    Timeout {
        /// Milliseconds since the sending before.
        after_ms: u32,
        /// The wait doubled the one before.
        doubled: Option<bool>,
    },
    /// Several segments in one packet, in a cooked capture of a real interface: merged by the
    /// receiver's GRO, or one TSO/GSO packet on its way out (not Wireshark's: `encap.*`).
    Merged(super::event::Merged),
}

impl Analysis {
    /// Wireshark's field name.
    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            Analysis::Retransmission => "tcp.analysis.retransmission",
            Analysis::FastRetransmission => "tcp.analysis.fast_retransmission",
            Analysis::SpuriousRetransmission => "tcp.analysis.spurious_retransmission",
            Analysis::OutOfOrder => "tcp.analysis.out_of_order",
            Analysis::LostSegment => "tcp.analysis.lost_segment",
            Analysis::AckLostSegment => "tcp.analysis.ack_lost_segment",
            Analysis::DuplicateAck(_) => "tcp.analysis.duplicate_ack",
            Analysis::ZeroWindow => "tcp.analysis.zero_window",
            Analysis::ZeroWindowProbe => "tcp.analysis.zero_window_probe",
            Analysis::ZeroWindowProbeAck => "tcp.analysis.zero_window_probe_ack",
            Analysis::KeepAlive => "tcp.analysis.keep_alive",
            Analysis::KeepAliveAck => "tcp.analysis.keep_alive_ack",
            Analysis::WindowUpdate => "tcp.analysis.window_update",
            Analysis::WindowFull => "tcp.analysis.window_full",
            Analysis::Timeout { .. } => "tcp.analysis.rto",
            Analysis::Merged(m) if m.arrived => "encap.gro_merged",
            Analysis::Merged(_) => "encap.tso_gso",
        }
    }
}

impl fmt::Display for Analysis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Analysis::DuplicateAck(n) => write!(f, "duplicate ACK #{n}"),
            Analysis::Timeout { after_ms, doubled } => {
                write!(f, "RTO: {after_ms} ms after its sending before")?;
                match doubled {
                    Some(true) => f.write_str(", twice the wait before or more (backoff)"),
                    Some(false) => f.write_str(", sooner than twice the wait before"),
                    None => Ok(()),
                }
            }
            Analysis::Merged(m) => write!(
                f,
                "{}: {} segments of {}",
                if m.arrived { "GRO-merged" } else { "TSO/GSO" },
                m.segments,
                m.size
            ),
            other => {
                let key = other.key();
                f.write_str(
                    key.trim_start_matches("tcp.analysis.")
                        .replace('_', " ")
                        .as_str(),
                )
            }
        }
    }
}

/// How many duplicate ACKs in a row make the sender retransmit (RFC 5681).
pub const DUP_THRESH: u32 = 3;

/// The events of frame `o` from the side `me` (as the model knew it before this frame), its
/// peer `peer`, classified as `ev`; `scale` is the shift that applies to the peer's window.
#[must_use]
pub fn events(
    o: &Observed<'_>,
    ev: &Event,
    me: &SideState,
    peer: &SideState,
    peer_scale: u32,
) -> Vec<Analysis> {
    let mut out = Vec::new();
    // (A SYN or SYN-ACK sent again with the same ISN is a retransmission to Wireshark too.)
    if ev.syn_again {
        out.push(Analysis::Retransmission);
    }
    out.extend(ev.merged.map(Analysis::Merged));
    if ev.retrans {
        let r = retransmission(o, peer);
        out.push(r);
        // (A fast retransmission is a retransmission too: Wireshark sets both flags.)
        if r == Analysis::FastRetransmission {
            out.push(Analysis::Retransmission);
        }
    }
    if ev.fills.is_some() {
        out.push(Analysis::OutOfOrder);
    }
    if ev.gap {
        out.push(Analysis::LostSegment);
    }
    if ev.ack_ahead {
        out.push(Analysis::AckLostSegment);
    }
    if ev.probe {
        out.push(if peer.window == Some(0) {
            Analysis::ZeroWindowProbe
        } else {
            Analysis::KeepAlive
        });
    }
    if o.kind == Kind::Ack && peer.probed.is_some_and(|f| f == peer.last_frame) {
        out.push(if me.window == Some(0) {
            Analysis::ZeroWindowProbeAck
        } else {
            Analysis::KeepAliveAck
        });
    }
    if o.window() == 0 && !matches!(o.kind, Kind::Syn | Kind::SynAck | Kind::Fin | Kind::Rst) {
        out.push(Analysis::ZeroWindow);
    }
    acknowledgments(o, ev, me, &mut out);
    let edge = peer
        .last_ack
        .zip(peer.window)
        .map(|(a, w)| a.wrapping_add(u32::from(w) << peer_scale));
    if !o.is_empty() && !ev.retrans && edge == Some(o.seq().wrapping_add(o.len() as u32)) {
        out.push(Analysis::WindowFull);
    }
    out
}

/// A retransmission: spurious when the peer had acknowledged the bytes, fast after its
/// duplicate ACKs, else after a timer.
fn retransmission(o: &Observed<'_>, peer: &SideState) -> Analysis {
    let end = o.seq().wrapping_add(o.len() as u32);
    match peer.last_ack {
        Some(a) if !o.is_empty() && !seq::after(end, a) => Analysis::SpuriousRetransmission,
        Some(a) if a == o.seq() && peer.dup_acks >= DUP_THRESH => Analysis::FastRetransmission,
        _ => Analysis::Retransmission,
    }
}

/// A pure ACK that repeats the last one (a duplicate) or changes only the window (an update).
fn acknowledgments(o: &Observed<'_>, ev: &Event, me: &SideState, out: &mut Vec<Analysis>) {
    // (After the SYN's unscaled window, a side's first window is no update.)
    if o.kind != Kind::Ack
        || ev.probe
        || ev.redundant
        || !me.after_syn
        || me.last_ack != Some(o.ack())
    {
        return;
    }
    if me.window != Some(o.window()) {
        if o.window() != 0 {
            out.push(Analysis::WindowUpdate);
        }
    } else if !out.contains(&Analysis::KeepAliveAck) && !out.contains(&Analysis::ZeroWindowProbeAck)
    {
        out.push(Analysis::DuplicateAck(me.dup_acks + 1));
    }
}
