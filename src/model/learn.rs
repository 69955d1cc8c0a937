//! What a frame teaches the model for the next ones: first what only a handshake can tell
//! (before the frame is predicted), then, after the comparison, where each side's stream,
//! counters, clocks and windows now stand.

use super::analysis::Analysis;
use super::event::{Event, Kind};
use super::observed::Observed;
use super::predict::{tcp::scale, Prediction};
use super::seq::Span;
use super::side::{
    Hole, Marked, Marking, Opener, Side, SideState, SkippedId, TsClock, TsMark, KEEP,
};
use super::state::TcpState;
use super::Connection;
use crate::layers::tcp::field as tf;

/// How many holes, skipped IDs and TSval marks a side keeps.
const KEEP_FEW: usize = 64;
/// How many of its latest data segments a side keeps for SACK.
const KEEP_SENT: usize = 32;

impl Connection {
    /// Learns what only this frame can tell, before it is predicted: a SYN's or SYN-ACK's ISN
    /// and options, or, with no handshake in the capture, each side's numbers from its first
    /// frame.
    pub(super) fn learn_handshake(&mut self, from: Side, o: &Observed<'_>, ctl_rst: bool) {
        if ctl_rst {
            // Nothing to learn: the control socket has no sequence space of its own.
        } else if o.kind.is_syn() {
            let me = &mut self.sides[from];
            me.isn = Some(o.seq());
            me.next_seq = o.seq();
            me.mss = o.mss;
            if o.kind == Kind::Syn {
                self.timestamps = o.tsval.is_some();
                self.sack = o.sack_permitted;
                let both = tf::FLG_ECE | tf::FLG_CWR;
                self.ecn_asked = o.flags() & both == both;
            } else {
                self.timestamps &= o.tsval.is_some();
                self.sack &= o.sack_permitted;
                self.ecn = self.ecn_asked && o.has(tf::FLG_ECE);
            }
        } else if self.sides[from].isn.is_none() {
            self.learn_midstream(from, o);
        }
    }

    /// No handshake in the capture: the first frame of each side teaches its numbers, whether
    /// timestamps are on, and (by its acknowledgment) where the peer stands.
    fn learn_midstream(&mut self, from: Side, o: &Observed<'_>) {
        let (me, peer) = self.sides.both_mut(from);
        me.isn = Some(o.seq().wrapping_sub(1));
        me.next_seq = o.seq();
        self.timestamps |= o.tsval.is_some();
        if peer.isn.is_none() && o.has_ack() {
            peer.isn = Some(o.ack().wrapping_sub(1));
            peer.next_seq = o.ack();
            peer.remember_boundary();
        }
        if let (Some(echo), true) = (o.tsecr, peer.tsvals.is_empty()) {
            peer.tsvals.push_back(echo);
        }
        // Both sides are past the handshake the capture does not hold.
        for side in &mut self.sides.0 {
            if matches!(side.state, TcpState::Closed | TcpState::Listen) {
                side.state = TcpState::Established;
            }
        }
    }

    /// Learns from the kernel's frame once it is compared.
    pub(super) fn learn(&mut self, from: Side, o: &Observed<'_>, ev: &Event, pred: &Prediction) {
        // A GSO packet counts one IP ID per segment of `mss_now` bytes.
        let segs = match self.send_mss(from) {
            Some(mss) if !o.is_empty() => o.len().div_ceil(mss.max(1)) as u16,
            _ => 1,
        };
        if o.kind.is_syn() {
            self.sides[from].wscale = o.wscale;
        }
        // The window this frame advertises, scaled, for the peer's `mss_now`.
        let advertised = u32::from(o.window()) << scale(self, from, o.kind);
        if ev.ctl_rst {
            // The control socket's RST ends the connection and teaches nothing of a socket.
            return;
        }
        let me = &mut self.sides[from];
        if o.on_a_wire() {
            me.macs = me.macs.or(o.macs);
            me.full_checksum.get_or_insert(o.full_checksum);
        }
        learn_ids(me, o, ev, segs);
        me.missed = false;
        if ev.retrans {
            me.retransmitted = Some(o.number);
        }
        me.syn_resent |= ev.syn_again && o.kind == Kind::Syn;
        // This side's ACK carried the D-SACK it owed.
        if o.has_ack() {
            me.dsack = None;
        }
        learn_stream(me, o, ev);
        if let Some(e) = pred.edge {
            if pred.shrunk.is_none() && !ev.stale {
                me.wnd_edge = Some(e);
            }
        }
        if o.has_ack() && !ev.stale {
            me.last_ack = Some(o.ack());
        }
        if !ev.timewait_reply {
            let m = me.marking.get_or_insert(Marked {
                marking: Marking {
                    dscp: o.dscp,
                    ttl: o.ttl,
                },
                first: o.number,
                frames: 0,
            });
            m.frames = m.frames.saturating_add(1);
        }
        if o.advance() > 0 || ev.probe {
            me.last_answerable = o.number;
        }
        let refused = !o.is_empty() && self.was_refused(from, Span::from_len(o.seq(), o.len()));
        let (me, peer) = self.sides.both_mut(from);
        learn_peer(me, peer, o, ev);
        if refused && (ev.retrans || ev.fills.is_some()) {
            // Bytes a router refused reach the peer for the first time: no D-SACK, and the
            // peer's ACK may stop where they end.
            if ev.retrans {
                peer.dsack = None;
            }
            me.boundaries
                .push_back(o.seq().wrapping_add(o.len() as u32));
            if me.boundaries.len() > KEEP {
                me.boundaries.pop_front();
            }
        }
        learn_side(me, o, advertised, pred.tsval_cookie);
        self.forget_marks_past_refused(from);
        if pred.payload.predicted {
            self.learn_writes(from, o, pred.payload.regrown);
        }
    }

    /// What the frame's events teach: a probe to be answered, a run of duplicate ACKs.
    pub(super) fn learn_events(&mut self, from: Side, o: &Observed<'_>, events: &[Analysis]) {
        let me = &mut self.sides[from];
        if events
            .iter()
            .any(|e| matches!(e, Analysis::KeepAlive | Analysis::ZeroWindowProbe))
        {
            me.probed = Some(o.number);
        }
        me.dup_acks = if events
            .iter()
            .any(|e| matches!(e, Analysis::DuplicateAck(_)))
        {
            me.dup_acks + 1
        } else if o.kind == Kind::Ack && !o.has_ack() {
            me.dup_acks
        } else {
            0
        };
    }

    /// What this segment carried comes off the writes it belongs to.
    fn learn_writes(&mut self, from: Side, o: &Observed<'_>, regrown: Option<usize>) {
        // A segment size taken anew inside send() holds for the rest of that write.
        if let (Some(m), Some(w)) = (regrown, self.sides[from].queue.writes.front_mut()) {
            w.segment = Some(m);
        }
        self.take_written(from, o.len());
    }

    /// `len` bytes of `from`'s stream were sent: they come off the queue and its writes.
    pub(super) fn take_written(&mut self, from: Side, len: usize) {
        let mss_now = self.send_mss(from);
        let queue = &mut self.sides[from].queue;
        if let Some(q) = &mut queue.bytes {
            q.drain(..len.min(q.len()));
        }
        let mut sent = len;
        while sent > 0 {
            let Some(w) = queue.writes.front_mut() else {
                break;
            };
            // A write known before the handshake (a transcript) gets its segment size now.
            w.segment.get_or_insert(mss_now.unwrap_or(sent));
            let take = sent.min(w.left);
            w.left -= take;
            sent -= take;
            if w.left == 0 {
                queue.writes.pop_front();
            }
        }
    }
}

/// The IP ID counter: IDs skipped and found, and the next one.
fn learn_ids(me: &mut SideState, o: &Observed<'_>, ev: &Event, segs: u16) {
    let ids = &mut me.ids;
    if let (Some(id), true) = (o.ip_id, ev.id_late) {
        ids.skipped.retain(|s| s.id != id);
    }
    if let (Some(id), Some(next), true) = (o.ip_id, ids.next, ev.id_ahead && !me.missed) {
        let mut n = next;
        while n != id && ids.skipped.len() < KEEP_FEW {
            ids.skipped.push(SkippedId {
                id: n,
                frame: o.number,
            });
            n = n.wrapping_add(1);
        }
    }
    if o.kind != Kind::SynAck && !ev.timewait_reply && !ev.stale && !ev.id_late {
        let next = o.ip_id.map(|id| id.wrapping_add(segs));
        // A segment sent out of order carries an older IP ID: the counter stays ahead.
        let older = match (ev.fills, next, ids.next) {
            (Some(_), Some(n), Some(cur)) => cur.wrapping_sub(n) < 0x8000,
            _ => false,
        };
        if !older {
            ids.next = next;
        }
    }
}

/// The sender's stream: the next sequence number, the TSvals that prove what the peer
/// received, and the holes a gap opens or a late segment fills.
fn learn_stream(me: &mut SideState, o: &Observed<'_>, ev: &Event) {
    let advance = o.advance();
    if o.seq() == me.next_seq {
        me.next_seq = me.next_seq.wrapping_add(advance);
        if let (Some(v), true) = (o.tsval, advance > 0) {
            if !me.ts_marks.iter().any(|m| m.tsval == v) {
                me.ts_marks.push_back(TsMark {
                    tsval: v,
                    end: me.next_seq,
                });
                if me.ts_marks.len() > KEEP_FEW {
                    me.ts_marks.pop_front();
                }
            }
        }
    } else if ev.gap {
        // Keep the gap open until the bytes come; follow the stream from here on.
        if me.holes.len() < KEEP_FEW {
            me.holes.push(Hole {
                span: Span::new(me.next_seq, o.seq()),
                frame: o.number,
                acked: false,
                opener: Opener {
                    ip_id: o.ip_id,
                    ts: o.tsval,
                    advance,
                },
            });
        }
        me.next_seq = o.seq().wrapping_add(advance);
    } else if ev.fills.is_some() {
        let end = o.seq().wrapping_add(advance);
        for h in &mut me.holes {
            if h.span.contains(o.seq()) {
                if o.seq() == h.span.start {
                    h.span.start = end;
                } else {
                    // Bytes in the middle of a gap: keep what is before them open.
                    h.span.end = o.seq();
                }
            }
        }
        me.holes.retain(|h| !h.span.is_empty());
    }
}

/// What the sender's frame tells of its peer: which of its segments the peer may hold (SACK),
/// a range it now has twice (D-SACK), bytes it acknowledged that the capture lacks.
fn learn_peer(me: &mut SideState, peer: &mut SideState, o: &Observed<'_>, ev: &Event) {
    if !o.is_empty() {
        me.sent.push_back(Span::from_len(o.seq(), o.len()));
        if me.sent.len() > KEEP_SENT {
            me.sent.pop_front();
        }
    }
    // (A receiver that has sent nothing since its SYN-ACK may have had no socket for the first
    // copies: a listener whose accept queue was full drops the handshake's ACK and the data.)
    // A bare FIN sent again reaches a full socket (CLOSE_WAIT, LAST_ACK, CLOSING) that has
    // it: tcp_validate_incoming's tcp_send_dupack D-SACKs its one sequence number, seq to
    // end_seq (no further than rcv_nxt), as for bytes. (A TIME_WAIT mini-socket's ACK,
    // tcp_v4_timewait_ack, carries no SACK blocks.)
    let fin_again = o.is_empty() && o.has(tf::FLG_FIN) && peer.state != TcpState::TimeWait;
    if ev.retrans && (!o.is_empty() || fin_again) && peer.after_syn {
        // On lo nothing is lost: the peer has these bytes already, and says so once.
        // Duplicates that follow one another extend the pending D-SACK block.
        let span = Span::from_len(o.seq(), o.len() + usize::from(fin_again));
        peer.dsack = match peer.dsack {
            Some(d) if d.end == span.start => Some(Span::new(d.start, span.end)),
            _ => Some(span),
        };
    }
    if ev.ack_ahead {
        // The peer has bytes this capture did not show: a gap in the peer's stream, open until
        // they come (out of order) or for good (missed by the capture).
        if peer.holes.len() < KEEP_FEW {
            peer.holes.push(Hole {
                span: Span::new(peer.next_seq, o.ack()),
                frame: o.number,
                acked: true,
                opener: Opener {
                    ip_id: None,
                    ts: o.tsecr,
                    advance: 0,
                },
            });
        }
        peer.next_seq = o.ack();
        peer.remember_boundary();
        peer.missed = true;
    }
}

/// The sender's FIN, clock, TSvals, window and flow label.
fn learn_side(me: &mut SideState, o: &Observed<'_>, advertised: u32, cookie_clock: bool) {
    if o.has(tf::FLG_FIN) {
        me.fin_seq = Some(o.seq().wrapping_add(o.len() as u32));
        me.fin_frame = o.number;
        me.fin_time = o.time;
    }
    me.last_empty = (o.advance() == 0).then_some((o.number, o.seq()));
    me.last_frame = o.number;
    if o.time.is_some() {
        me.last_time = o.time;
    }
    me.remember_boundary();
    if let (Some(v), Some(t), None) = (o.tsval, o.time, me.ts_clock) {
        me.ts_clock = Some(TsClock { at: t, tsval: v });
    }
    // After a SYN cookie the socket's own clock, up to 63 ms ahead of the cookie's TSval.
    if let (Some(v), Some(t), true) = (o.tsval, o.time, cookie_clock) {
        me.ts_clock = Some(TsClock { at: t, tsval: v });
    }
    if let Some(v) = o.tsval {
        me.tsvals.push_back(v);
        if me.tsvals.len() > KEEP {
            me.tsvals.pop_front();
        }
    }
    me.window = Some(o.window());
    if o.flow.is_some() {
        me.flow = o.flow;
    }
    if o.kind.is_syn() {
        me.syn_window = Some(o.window());
    } else {
        me.after_syn = true;
    }
    me.max_window = me.max_window.max(advertised);
}
