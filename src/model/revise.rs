//! What a frame proves about earlier ones. Some changes show only later: an RST after which the
//! same side goes on sending, a FIN where the side's next segment starts, a SYN's TTL that no
//! later segment of the socket has. The verdict goes back to the frame where the change
//! happened, naming this frame as the evidence, and the model's state is put back as if the
//! earlier frame had been right.

use super::event::Kind;
use super::linux::DEFAULT_TTL;
use super::observed::Observed;
use super::seq;
use super::side::Side;
use super::state::{with_acked_fin, without_fin, TcpState};
use super::verdict::Revision;
use super::Connection;
use crate::layers::tcp::field as tf;
use crate::layers::{ipv4, ipv6, tcp};

/// The shortest time after which Linux sends a segment again (a tail loss probe's floor,
/// TCP_TIMEOUT_MIN; the RTO is at least 200 ms).
pub const TIMER_MIN: std::time::Duration = std::time::Duration::from_millis(2);

/// The longest a Linux receiver delays an ACK (TCP_DELACK_MAX).
pub const DELACK_MAX: std::time::Duration = std::time::Duration::from_millis(200);

/// An RST a socket sent (not the control socket): the frame and both states before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reset {
    /// The frame that carried it.
    pub frame: u64,
    /// Who sent it.
    pub from: Side,
    /// Both sides' states before it, client first.
    pub before: [TcpState; 2],
}

impl Connection {
    /// The fields of earlier frames that frame `o` from `from` proves wrong.
    pub(super) fn revise(&mut self, from: Side, o: &Observed<'_>) -> Vec<Revision> {
        let mut out = Vec::new();
        self.revise_reset(from, o, &mut out);
        self.revise_fin(from, o, &mut out);
        self.revise_marking(from, o, &mut out);
        self.revise_hole(from, o, &mut out);
        self.revise_missing_fin(from, o, &mut out);
        out
    }

    /// The peer acknowledged one byte more than this side's stream, right after its latest bare
    /// ACK, and this side goes on from there: that ACK carried a FIN.
    fn revise_missing_fin(&mut self, from: Side, o: &Observed<'_>, out: &mut Vec<Revision>) {
        let me = &self.sides[from];
        let Some((frame, at)) = me.last_empty else {
            return;
        };
        let Some(i) = me.holes.iter().position(|h| {
            h.acked
                && h.span.start == at
                && h.span.end == at.wrapping_add(1)
                && o.seq() == h.span.end
        }) else {
            return;
        };
        out.push(Revision {
            frame,
            key: tcp::key::FLAGS,
            expected: "FIN".into(),
            why: "the peer acknowledged one byte more, right after this segment, and the side's stream goes on from there: it carried a FIN",
        });
        let (me_state, peer_state) = with_acked_fin(me.state, self.sides[!from].state);
        let me = &mut self.sides[from];
        me.holes.remove(i);
        me.fin_seq = Some(at);
        me.fin_frame = frame;
        me.missed = false;
        me.state = me_state;
        self.sides[!from].state = peer_state;
    }

    /// The bytes a hole lacked arrive, sent after the frame that opened it: a later IP ID or
    /// TSval than the frame that skipped them, or a later TSval than the ACK that acknowledged
    /// them had seen. That frame's sequence (acknowledgment) number was wrong, not the
    /// capture's order. Only the hole the side's latest frame opened is taken back.
    fn revise_hole(&mut self, from: Side, o: &Observed<'_>, out: &mut Vec<Revision>) {
        let me = &self.sides[from];
        let Some(i) = me
            .holes
            .iter()
            .position(|h| h.span.start == o.seq() && !o.is_empty())
        else {
            return;
        };
        let h = me.holes[i];
        let later_id = matches!((o.ip_id, h.opener.ip_id), (Some(a), Some(b)) if a.wrapping_sub(b).wrapping_sub(1) < 0x7fff);
        let later_ts = matches!((o.tsval, h.opener.ts), (Some(a), Some(b)) if seq::after(a, b));
        // Linux acknowledges whole segments: never a point inside one that arrives later.
        let crosses = seq::after(o.seq().wrapping_add(o.len() as u32), h.span.end);
        let (key, why, last) = if h.acked {
            let why = "the bytes it acknowledged were sent after it (a later TSval than it had seen, or a segment it acknowledged only part of), so its acknowledgment number was wrong";
            let last = me.next_seq == h.span.end;
            (tcp::key::ACK_RAW, why, last && (later_ts || crosses))
        } else {
            let why = "the bytes it skipped were sent after it (a later IP ID or TSval), so its sequence number was wrong";
            let last = me.next_seq == h.span.end.wrapping_add(h.opener.advance);
            (tcp::key::SEQ_RAW, why, last && (later_id || later_ts))
        };
        if !last {
            return;
        }
        out.push(Revision {
            frame: h.frame,
            key,
            expected: h.span.start.to_string(),
            why,
        });
        let me = &mut self.sides[from];
        me.holes.remove(i);
        me.next_seq = h.span.start.wrapping_add(h.opener.advance);
        me.missed = false;
    }

    /// The same side sends again after its RST (not an RST, nor a new SYN): it reset nothing.
    fn revise_reset(&mut self, from: Side, o: &Observed<'_>, out: &mut Vec<Revision>) {
        let Some(r) = self.reset else { return };
        if r.from != from || matches!(o.kind, Kind::Rst | Kind::Syn) {
            return;
        }
        out.push(Revision {
            frame: r.frame,
            key: tcp::key::FLAGS,
            expected: "no RST (the connection went on)".into(),
            why: "the same side sent this segment after the RST, so its socket had not reset the connection",
        });
        self.sides[Side::Client].state = r.before[0];
        self.sides[Side::Server].state = r.before[1];
        self.reset = None;
    }

    /// The side's next segment starts where its FIN would have been: it sent no FIN. (Linux's
    /// segments after a FIN carry the sequence number after it; only a probe of a FIN the peer
    /// acknowledged goes back to it.)
    fn revise_fin(&mut self, from: Side, o: &Observed<'_>, out: &mut Vec<Revision>) {
        if o.kind == Kind::Rst {
            return;
        }
        let (me, peer) = (&self.sides[from], &self.sides[!from]);
        if let Some(fin) = me.fin_seq {
            let acked = peer.last_ack == Some(fin.wrapping_add(1));
            if o.seq() == fin && !o.has(tf::FLG_FIN) && !(o.is_empty() && acked) {
                let why = "the same side's next segment starts where the FIN would be, so no FIN was sent";
                self.unsend_fin(from, why, out);
                return;
            }
            // The bytes before the FIN sent again without it: Linux sends a FIN again with
            // the bytes it ends (the FIN rides on the write queue's last segment).
            let end = o.seq().wrapping_add(o.len() as u32);
            if end == fin && !o.is_empty() && !o.has(tf::FLG_FIN) && !acked {
                let why = "the same bytes were sent again without it, which Linux does not do to a FIN it sent with them, so no FIN was sent";
                self.unsend_fin(from, why, out);
                return;
            }
        }
        // The same FIN again sooner than any retransmission timer fires, and not in a recovery
        // (after the FIN, this side sent lost bytes again: then an ACK that stops short of the
        // FIN marks it lost too, and it goes again at once): the first was none.
        if let (Some(fin), Some(then), Some(now)) = (me.fin_seq, me.fin_time, o.time) {
            let same = o.has(tf::FLG_FIN) && o.seq().wrapping_add(o.len() as u32) == fin;
            let unprompted = me.retransmitted.map_or(true, |r| r < me.fin_frame);
            if same
                && unprompted
                && o.number != me.fin_frame
                && now.saturating_sub(then) < TIMER_MIN
            {
                let why = "the same FIN came again sooner than any retransmission timer fires (2 ms, TCP_TIMEOUT_MIN), so the earlier segment carried none";
                self.unsend_fin(from, why, out);
                return;
            }
        }
        // The same FIN again though the peer, which lo loses nothing to, never acknowledged the
        // first within its longest delayed ACK: the first was none.
        if let (Some(fin), Some(then), Some(now)) = (me.fin_seq, me.fin_time, o.time) {
            let same = o.has(tf::FLG_FIN) && o.seq().wrapping_add(o.len() as u32) == fin;
            let unanswered = peer.last_frame < me.fin_frame && o.src.ip().is_loopback();
            if same && unanswered && now.saturating_sub(then) > DELACK_MAX {
                let why = "the same FIN came again, but the peer had not acknowledged the first within its longest delayed ACK (200 ms, TCP_DELACK_MAX), which it would have on lo: the earlier segment carried none";
                self.unsend_fin(from, why, out);
                return;
            }
        }
        // The peer echoes the FIN's TSval, so it had received the FIN's segment, yet does not
        // acknowledge the FIN.
        if let Some(fin) = peer.fin_seq.filter(|&f| o.has_ack() && o.ack() == f) {
            let end = fin.wrapping_add(1);
            let echoed = o
                .tsecr
                .is_some_and(|e| peer.ts_marks.iter().any(|m| m.tsval == e && m.end == end));
            // On lo a segment arrives within microseconds: one built milliseconds after the FIN
            // was sent had it.
            let arrived = match (peer.fin_time, o.time) {
                (Some(then), Some(now)) => {
                    o.src.ip().is_loopback() && now.saturating_sub(then) > TIMER_MIN
                }
                _ => false,
            };
            // (Which TSval a stack echoes with a hole before the FIN is Linux's rule here.)
            if echoed && !self.sides[from].followed() {
                let why = "the peer echoes the FIN's timestamp, so it had the segment, yet does not acknowledge a FIN: none was sent";
                self.unsend_fin(!from, why, out);
            } else if arrived {
                let why = "the peer sent this segment well after the FIN reached it on lo, yet does not acknowledge a FIN: none was sent";
                self.unsend_fin(!from, why, out);
            }
        }
    }

    /// Takes back the FIN the model took `side` to have sent.
    fn unsend_fin(&mut self, side: Side, why: &'static str, out: &mut Vec<Revision>) {
        let (me, peer) = (&self.sides[side], &self.sides[!side]);
        let Some(fin) = me.fin_seq else { return };
        out.push(Revision {
            frame: me.fin_frame,
            key: tcp::key::FLAGS,
            expected: "no FIN".into(),
            why,
        });
        let (me_state, peer_state) = without_fin(me.state, peer.state);
        let me = &mut self.sides[side];
        me.next_seq = fin;
        me.fin_seq = None;
        me.state = me_state;
        self.sides[!side].state = peer_state;
    }

    /// Later segments of the socket carry the host's default TTL (DSCP) where only its first
    /// one had another: the first was wrong, not set by the application.
    fn revise_marking(&mut self, from: Side, o: &Observed<'_>, out: &mut Vec<Revision>) {
        let Some(marked) = &mut self.sides[from].marking else {
            return;
        };
        if o.kind == Kind::Rst || marked.frames != 1 {
            return;
        }
        let v4 = o.ip_id.is_some();
        let m = &mut marked.marking;
        if o.ttl != m.ttl && o.ttl == DEFAULT_TTL {
            out.push(Revision {
                frame: marked.first,
                key: if v4 { ipv4::key::TTL } else { ipv6::key::HLIM },
                expected: format!("{DEFAULT_TTL} (the host's default, which the socket's later segments carry)"),
                why: "the socket's later segments carry the host's default, so its first one was not set by the application",
            });
            m.ttl = o.ttl;
        }
        if o.dscp != m.dscp && o.dscp == 0 {
            out.push(Revision {
                frame: marked.first,
                key: if v4 { ipv4::key::DSCP } else { ipv6::key::TCLASS },
                expected: "0 (the host's default, which the socket's later segments carry)".into(),
                why: "the socket's later segments carry the host's default, so its first one was not set by the application",
            });
            m.dscp = o.dscp;
        }
    }
}
