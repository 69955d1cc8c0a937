//! What lets Linux send bytes again before its retransmission timer, as far as a capture can
//! check it: loss detection from the peer's ACKs, the tail loss probe, and the timer itself.
//!
//! On each ACK, `tcp_ack` runs `tcp_fastretrans_alert`, which asks `tcp_identify_packet_loss`
//! which segments are lost and, by `tcp_time_to_recover` ("the loss is proven": `lost_out`),
//! enters recovery and retransmits them (PRR forces the first at once). With SACK, the loss
//! detection is RACK's (`net.ipv4.tcp_recovery = 1`, the default; `tcp_rack_detect_loss`): a
//! segment is lost only once a segment sent after it was delivered (SACKed), its reordering
//! window `min_rtt / 4` after, or at once when `tcp_reordering` (3) packets are SACKed
//! (`tcp_rack_reo_wnd` is then 0, RFC 6675's DupThresh). Without SACK it is NewReno's
//! (`tcp_newreno_mark_lost`): the oldest segment once 3 duplicate ACKs came, each next one on a
//! partial ACK during recovery. So a retransmission the ACKs prompted needs that evidence first:
//! with SACK, a SACK block above its bytes; without, three duplicate ACKs (or a recovery under
//! way); sent before it, it is a MISMATCH at its sequence number.
//!
//! Two other retransmissions need no evidence. The tail loss probe (`tcp_send_loss_probe`, RFC
//! 8985 §7.3) sends the last segment again when a probe timeout passes without an ACK. The
//! retransmission timer (`tcp_retransmit_timer`) sends the oldest segment again no sooner than
//! `TCP_RTO_MIN` (200 ms) after its sending before (`tcp_rearm_rto` counts from the head's
//! sending), and then every segment in flight counts as lost (`tcp_enter_loss`) until the
//! ACKs pass what was sent by then. After a timeout Linux also draws a new random `txhash`
//! (`tcp_write_timeout`: `sk_rethink_txhash`), so over IPv6 that retransmission and the
//! segments after it carry a new flow label.
//!
//! When each must come is the kernel's timing (the ACK's processing, PRR's count) and the
//! capture's order; the model checks that none comes early and shows the evidence each had.

use std::collections::VecDeque;
use std::time::Duration;

use super::revise::TIMER_MIN;
use super::seq::{self, Span};

/// The retransmission timer's floor (`TCP_RTO_MIN`): no timeout comes sooner after the
/// segment's sending before.
pub const RTO_MIN: Duration = Duration::from_millis(200);
/// Packets SACKed, or duplicate ACKs, that prove a loss at once (`net.ipv4.tcp_reordering`).
pub const REORDERING: u32 = 3;
/// How many sendings the model keeps (beyond them, it says nothing of a retransmission).
const KEEP: usize = 1024;

/// One sender's segments in flight with the time each was last sent, and what the peer's ACKs
/// have shown of their loss.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Segments not yet acknowledged, each with its latest sending.
    sends: VecDeque<(Span, Duration)>,
    /// What the peer SACKed above its cumulative ACK.
    sacked: Vec<Span>,
    /// The peer's cumulative ACK.
    una: Option<u32>,
    /// The peer's duplicate ACKs in a row.
    dupacks: u32,
    /// A recovery (or loss state after a timeout) under way, until the ACKs pass this
    /// sequence number (the kernel's `high_seq`: its `snd_nxt` when it began).
    high_seq: Option<u32>,
    /// The frame and time of the latest sending.
    last: Option<(u64, Duration)>,
}

/// What sent a retransmission, as the evidence allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// The retransmission timer may have (at least `TCP_RTO_MIN` after its sending before).
    Timer,
    /// A tail loss probe may have: it is the last segment sent.
    TailProbe,
    /// The peer's ACKs proved the loss: how.
    Proven(String),
    /// Nothing allowed it yet: why not.
    Early(String),
}

impl Recovery {
    /// The bytes of `span` sent (first or again) at `at`, by frame `frame`.
    pub fn sent(&mut self, span: Span, at: Duration, frame: u64) {
        if span.is_empty() {
            return;
        }
        self.last = Some((frame, at));
        if let Some(s) = self.sends.iter_mut().find(|(s, _)| s.start == span.start) {
            *s = (span, at);
            return;
        }
        if self.sends.len() >= KEEP {
            self.sends.pop_front();
        }
        self.sends.push_back((span, at));
    }

    /// The peer's ACK of `ack` with `blocks` SACKed, a duplicate ACK if `dup`.
    pub fn acked(&mut self, ack: u32, blocks: &[(u32, u32)], dup: bool) {
        if self.una.is_some_and(|u| seq::after(u, ack)) {
            return;
        }
        self.una = Some(ack);
        self.dupacks = if dup { self.dupacks + 1 } else { 0 };
        self.sends.retain(|(s, _)| seq::after(s.end, ack));
        // (A block at or below the ACK is a D-SACK: a duplicate, no delivery of new bytes.)
        for &(l, r) in blocks {
            if seq::after(r, ack) && seq::after(r, l) {
                self.sacked
                    .push(Span::new(if seq::after(l, ack) { l } else { ack }, r));
            }
        }
        self.sacked.retain(|s| seq::after(s.end, ack));
        if self.high_seq.is_some_and(|h| !seq::after(h, ack)) {
            self.high_seq = None;
        }
    }

    /// New data beyond the congestion window sent at `now` may be a tail loss probe
    /// (`tcp_send_loss_probe` sends a new segment when it can, cwnd or not): one packet, the
    /// probe timeout (at least [`TIMER_MIN`], `TCP_TIMEOUT_MIN`) after the latest sending, the peer silent since
    /// (its latest frame `heard`, a number).
    #[must_use]
    pub fn may_probe(&self, now: Option<Duration>, packets: u32, heard: u64) -> bool {
        match (now, self.last) {
            (Some(now), Some((frame, at))) => {
                packets == 1 && heard < frame && now.saturating_sub(at) >= TIMER_MIN
            }
            _ => false,
        }
    }

    /// What may have sent `span` again at `now`, the sender's next sequence number being
    /// `snd_nxt`, SACK agreed or not, its segments `mss` bytes. `None`: the model cannot say
    /// (no time, or a sending it did not keep).
    #[must_use]
    pub fn cause(
        &self,
        span: Span,
        now: Option<Duration>,
        snd_nxt: u32,
        sack: bool,
        mss: usize,
    ) -> Option<Cause> {
        let now = now?;
        if self.una.is_some_and(|u| !seq::after(span.end, u)) {
            return None; // all acknowledged already: spurious, another matter
        }
        let before = self.sends.iter().find(|(s, _)| s.contains(span.start));
        // (A sending not kept, or bytes never seen sent: nothing to say.)
        let &(_, at) = before?;
        if now.saturating_sub(at) >= RTO_MIN {
            return Some(Cause::Timer);
        }
        if span.end == snd_nxt {
            return Some(Cause::TailProbe);
        }
        if self.high_seq.is_some_and(|h| seq::after(h, span.start)) {
            return Some(Cause::Proven(
                "a recovery under way: its bytes were in flight when it began (tcp_xmit_retransmit_queue)".into(),
            ));
        }
        if sack {
            let above: u32 = self
                .sacked
                .iter()
                .filter(|s| !seq::after(span.end, s.start))
                .map(|s| s.end.wrapping_sub(s.start))
                .sum();
            let packets = above.div_ceil(u32::try_from(mss.max(1)).unwrap_or(u32::MAX));
            return Some(if packets > 0 {
                Cause::Proven(format!(
                    "{packets} packets SACKed above it: a segment sent after it was delivered (tcp_rack_detect_loss{})",
                    if packets >= REORDERING {
                        ", at once: tcp_reordering 3 reached"
                    } else {
                        ", after its reordering window"
                    }
                ))
            } else {
                Cause::Early(format!(
                    "no fast retransmission of {} yet: no SACK block above it, so no segment sent after it is known delivered (tcp_rack_detect_loss), and it is neither the last segment (a tail loss probe) nor 200 ms old (TCP_RTO_MIN: the timer)",
                    span.start
                ))
            });
        }
        Some(if self.dupacks >= REORDERING {
            Cause::Proven(format!(
                "{} duplicate ACKs: tcp_reordering 3 reached (tcp_newreno_mark_lost)",
                self.dupacks
            ))
        } else {
            Cause::Early(format!(
                "no fast retransmission of {} yet: {} duplicate ACKs, and without SACK Linux waits for 3 (tcp_reordering, tcp_newreno_mark_lost); it is neither the last segment (a tail loss probe) nor 200 ms old (TCP_RTO_MIN: the timer)",
                span.start, self.dupacks
            ))
        })
    }

    /// `span` was sent again at `now` for `cause`, the sender's next sequence number being
    /// `snd_nxt`: a timeout or a proven loss begins a recovery (`tcp_enter_loss`,
    /// `tcp_enter_recovery`: `high_seq` is `snd_nxt`), unless one is under way.
    pub fn retransmitted(
        &mut self,
        span: Span,
        (now, frame): (Duration, u64),
        cause: Option<&Cause>,
        snd_nxt: u32,
    ) {
        let begins = matches!(cause, Some(Cause::Timer | Cause::Proven(_)));
        if begins && self.high_seq.is_none() {
            self.high_seq = Some(snd_nxt);
        }
        self.sent(span, now, frame);
    }
}

impl super::Connection {
    /// What may have sent frame `o` from `from` again, if it is a retransmission of a Linux
    /// side's (not a control socket's RST, nor bytes a router refused as too big).
    pub(super) fn retransmission_cause(
        &self,
        from: super::Side,
        o: &super::Observed<'_>,
        ev: &super::event::Event,
    ) -> Option<Cause> {
        let me = &self.sides[from];
        if me.followed() || !ev.retrans || ev.ctl_rst || ev.resent_refused {
            return None;
        }
        let mss = self.send_mss(from)?;
        let span = Span::from_len(o.seq(), o.advance() as usize);
        me.recovery.cause(span, o.time, me.next_seq, self.sack, mss)
    }

    /// What frame `o` from `from` teaches the loss detection: its ACK and SACK blocks, of the
    /// peer's flight; its new data (`new_data`) or retransmission (`cause`), of its own.
    pub(super) fn learn_recovery(
        &mut self,
        from: super::Side,
        o: &super::Observed<'_>,
        ev: &super::event::Event,
        events: &[super::Analysis],
        (new_data, cause): (bool, Option<&Cause>),
    ) {
        if o.has_ack() && !ev.ctl_rst {
            let dup = events
                .iter()
                .any(|e| matches!(e, super::Analysis::DuplicateAck(_)));
            self.sides[!from].recovery.acked(o.ack(), &o.sack, dup);
        }
        let me = &mut self.sides[from];
        let Some(now) = o.time.filter(|_| !me.followed() && !ev.ctl_rst) else {
            return;
        };
        let span = Span::from_len(o.seq(), o.advance() as usize);
        if ev.retrans {
            let snd_nxt = me.next_seq;
            me.recovery
                .retransmitted(span, (now, o.number), cause, snd_nxt);
        } else if new_data {
            me.recovery.sent(span, now, o.number);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1448;

    /// Ten segments sent at 1 ms; the first acknowledged.
    fn flight() -> Recovery {
        let mut r = Recovery::default();
        for i in 0..10u32 {
            r.sent(
                Span::from_len(1 + i * 1448, MSS),
                Duration::from_millis(1),
                u64::from(i),
            );
        }
        r.acked(1449, &[], false);
        r
    }

    fn hole() -> Span {
        Span::from_len(1449, MSS)
    }

    const SND_NXT: u32 = 1 + 10 * 1448;

    #[test]
    fn with_sack_a_fast_retransmission_needs_a_sack_block_above_the_hole() {
        let mut r = flight();
        let at = Some(Duration::from_millis(2));
        // A duplicate ACK without SACK blocks proves nothing: sent now, it is early.
        r.acked(1449, &[], true);
        let c = r.cause(hole(), at, SND_NXT, true, MSS);
        assert!(
            matches!(&c, Some(Cause::Early(why)) if why.contains("no SACK block above it")),
            "{c:?}"
        );
        // One segment SACKed above it: RACK may mark it lost (after its reordering window).
        r.acked(1449, &[(2897, 4345)], true);
        let c = r.cause(hole(), at, SND_NXT, true, MSS);
        assert!(
            matches!(&c, Some(Cause::Proven(why)) if why.starts_with("1 packets SACKed") && why.contains("reordering window")),
            "{c:?}"
        );
        // Three: at once.
        r.acked(1449, &[(2897, 7241)], true);
        let c = r.cause(hole(), at, SND_NXT, true, MSS);
        assert!(
            matches!(&c, Some(Cause::Proven(why)) if why.contains("tcp_reordering 3 reached")),
            "{c:?}"
        );
        // A D-SACK (below the ACK) is no delivery above the hole.
        let mut r = flight();
        r.acked(1449, &[(1, 1449)], true);
        assert!(matches!(
            r.cause(hole(), at, SND_NXT, true, MSS),
            Some(Cause::Early(_))
        ));
    }

    #[test]
    fn without_sack_the_third_duplicate_ack_allows_it() {
        let mut r = flight();
        let at = Some(Duration::from_millis(2));
        for n in 1..=2 {
            r.acked(1449, &[], true);
            let c = r.cause(hole(), at, SND_NXT, false, MSS);
            assert!(
                matches!(&c, Some(Cause::Early(why)) if why.contains(&format!("{n} duplicate ACKs"))),
                "{c:?}"
            );
        }
        r.acked(1449, &[], true);
        assert!(matches!(
            r.cause(hole(), at, SND_NXT, false, MSS),
            Some(Cause::Proven(_))
        ));
        // Once it was sent again, the recovery covers the rest of the flight (partial ACKs).
        let proven = Cause::Proven(String::new());
        r.retransmitted(
            hole(),
            (Duration::from_millis(2), 20),
            Some(&proven),
            SND_NXT,
        );
        r.acked(2897, &[], false);
        let next = Span::from_len(2897, MSS);
        assert!(
            matches!(r.cause(next, at, SND_NXT, false, MSS), Some(Cause::Proven(why)) if why.contains("recovery under way"))
        );
        // Until the ACKs pass what was sent when it began.
        r.acked(SND_NXT, &[], false);
        assert_eq!(r.cause(next, at, SND_NXT, false, MSS), None);
    }

    #[test]
    fn the_timer_and_the_tail_probe_need_no_evidence() {
        let r = flight();
        let ms = |m| Some(Duration::from_millis(m));
        // 200 ms after its sending before: the timer may have sent it.
        assert_eq!(
            r.cause(hole(), ms(201), SND_NXT, true, MSS),
            Some(Cause::Timer)
        );
        // 199 ms: not the timer, and nothing proved the loss.
        assert!(matches!(
            r.cause(hole(), ms(200), SND_NXT, true, MSS),
            Some(Cause::Early(_))
        ));
        // The last segment: a tail loss probe.
        let last = Span::from_len(SND_NXT - 1448, MSS);
        assert_eq!(
            r.cause(last, ms(10), SND_NXT, true, MSS),
            Some(Cause::TailProbe)
        );
        // New data beyond the window: a probe if one packet, 2 ms after the last sending (frame
        // 9), the peer silent since.
        assert!(r.may_probe(ms(3), 1, 8));
        assert!(!r.may_probe(ms(2), 1, 8), "sooner than TCP_TIMEOUT_MIN");
        assert!(!r.may_probe(ms(3), 2, 8), "two packets");
        assert!(!r.may_probe(ms(3), 1, 9), "the peer spoke since");
    }
}
