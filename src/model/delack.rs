//! When a Linux receiver must have acknowledged the peer's data, as far as a capture can check
//! it: at once in quick-ack mode, and within the delayed ACK's longest wait otherwise.
//!
//! `tcp_event_data_recv` puts a socket in quick-ack mode on its first data (`icsk_ack.ato` still
//! 0: `tcp_incr_quickack`, up to `TCP_MAX_QUICKACKS`, 16, and at most half the receive window
//! in `rcv_mss` segments, `rcv_mss` at most 536 at first); `__tcp_ack_snd_check` then ACKs each
//! segment at once (`tcp_in_quickack_mode`), each ACK sent using one up
//! (`tcp_dec_quickack_mode`). Once the socket sent data itself it may be in ping-pong mode,
//! where quick ACKs stop; the model asks quick ACKs only of a receiver that has sent no data and
//! fewer than 16 ACKs.
//!
//! Otherwise `tcp_send_delayed_ack` arms the delayed-ACK timer from the first unacknowledged
//! segment (a later one never pushes it back): `ato` at least `TCP_ATO_MIN` (40 ms), at most
//! `max_ato`, HZ/2 (500 ms) or `TCP_DELACK_MAX` (200 ms) in ping-pong mode, and less with an RTT
//! known. An ACK may come sooner (a second full segment, the application reading, data to send),
//! never later: later than the longest wait, with the timer's slack, the receiver kept an ACK
//! it owed.

use std::time::Duration;

/// The delayed ACK's shortest wait (`TCP_DELACK_MIN`, `TCP_ATO_MIN`): a quick ACK comes sooner.
pub const DELACK_MIN: Duration = Duration::from_millis(40);
/// The delayed ACK's longest wait outside ping-pong mode (`max_ato`, HZ/2), with the timer
/// wheel's slack (up to 1/8 late) and one retry of a socket the application held
/// (`TCP_DELACK_MIN` again): later than this, no timer was running for the data.
pub const DELACK_LATEST: Duration = Duration::from_millis(500 + 500 / 8 + 40);
/// `TCP_MAX_QUICKACKS`.
pub const MAX_QUICKACKS: u32 = 16;
/// The first `rcv_mss` estimate's ceiling (`TCP_MSS_DEFAULT`): quick ACKs are at most half the
/// receive window in segments of this size.
const RCV_MSS_FIRST: u32 = 536;

/// A receiver's ACK duty: since when it owes an ACK, and whether quick ACKs apply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delack {
    /// When the earliest of the peer's data segments not yet acknowledged arrived.
    owed_since: Option<Duration>,
    /// The ACKs this side sent after its handshake.
    acks: u32,
    /// It sent data, or the peer's FIN came (`tcp_fin` enters ping-pong mode): it may be in
    /// ping-pong mode, no quick ACKs.
    pingpong: bool,
}

impl Delack {
    /// The peer's new data arrived at `now`.
    pub fn arrived(&mut self, now: Duration) {
        self.owed_since.get_or_insert(now);
    }

    /// The peer's data came again at `now`: what came before may never have been taken (a
    /// request socket drops data; a router may have), so the ACK is owed from now.
    pub fn arrived_again(&mut self, now: Duration) {
        if self.owed_since.is_some() {
            self.owed_since = Some(now);
        }
    }

    /// The peer's FIN arrived (`tcp_fin`: ping-pong mode in CLOSE_WAIT).
    pub fn fin_arrived(&mut self) {
        self.pingpong = true;
    }

    /// How late an acknowledgment of the peer's data sent at `now` is, by the rules above, its
    /// receive window being `window` bytes: why, if it is.
    #[must_use]
    pub fn late(&self, now: Duration, window: u32) -> Option<String> {
        let waited = now.saturating_sub(self.owed_since?);
        let quick = !self.pingpong
            && self.acks < MAX_QUICKACKS
            && window / (2 * RCV_MSS_FIRST) >= MAX_QUICKACKS;
        let ms = waited.as_millis();
        if quick && waited >= DELACK_MIN {
            return Some(format!(
                "an ACK of the peer's data at once, not {ms} ms after it arrived: quick-ack mode after the handshake (tcp_in_quickack_mode: {} of its 16 quick ACKs used, no data sent), as __tcp_ack_snd_check ACKs each segment",
                self.acks
            ));
        }
        (waited > DELACK_LATEST).then(|| {
            format!(
                "an ACK of the peer's data sooner than {ms} ms after it arrived: the delayed-ACK timer (tcp_send_delayed_ack) waits {} ms at most (HZ/2, with the timer's slack)",
                DELACK_LATEST.as_millis()
            )
        })
    }

    /// This side sent a frame after its handshake: an acknowledgment of the peer's data if
    /// `acked`, carrying data if `data`.
    pub fn sent(&mut self, acked: bool, data: bool) {
        if acked {
            self.acks += 1;
            // (An ACK of part of it: the rest came after it was built, or never came, or the
            // capture shows it out of order; when it was taken is unknown, so nothing is
            // asked of it.)
            self.owed_since = None;
        }
        self.pingpong |= data;
    }
}

impl super::Connection {
    /// How late frame `o` from `from` acknowledges the peer's data, if it does and its side is
    /// a Linux receiver: why, if it is.
    pub(super) fn late_ack(&self, from: super::Side, o: &super::Observed<'_>) -> Option<String> {
        let me = &self.sides[from];
        if me.followed() || o.kind.is_syn() || !advances(me, o) {
            return None;
        }
        let window = u32::from(o.window()) << super::predict::tcp::scale(self, from, o.kind);
        me.delack.late(o.time?, window)
    }

    /// What frame `o` from `from` owes and pays, read before the model learns from it: whether
    /// it acknowledges more than its side did; whether it carries new
    /// data of its own, in order and for the first time (an ACK owed from now).
    pub(super) fn ack_duty(
        &self,
        from: super::Side,
        o: &super::Observed<'_>,
        ev: &super::event::Event,
    ) -> AckDuty {
        AckDuty {
            acked: advances(&self.sides[from], o),
            data_in: !o.is_empty()
                && o.seq() == self.sides[from].next_seq
                && !(ev.retrans || ev.probe || ev.gap || ev.fills.is_some() || ev.ctl_rst),
            again: !o.is_empty() && ev.retrans,
        }
    }

    /// What frame `o` from `from` teaches the ACK duties (`duty`, read before): its sender's
    /// ACK and data; the receiver's new data or FIN.
    pub(super) fn learn_delack(
        &mut self,
        from: super::Side,
        o: &super::Observed<'_>,
        duty: AckDuty,
    ) {
        let Some(now) = o.time else {
            return;
        };
        let AckDuty {
            acked,
            data_in,
            again,
        } = duty;
        let me = &mut self.sides[from];
        if !o.kind.is_syn() {
            me.delack.sent(acked, !o.is_empty());
        }
        let peer = &mut self.sides[!from];
        if data_in {
            peer.delack.arrived(now);
        } else if again {
            peer.delack.arrived_again(now);
        }
        if o.has(crate::layers::tcp::field::FLG_FIN) {
            peer.delack.fin_arrived();
        }
    }
}

/// What a frame acknowledges and carries, for the ACK duties.
#[derive(Debug, Clone, Copy)]
pub(super) struct AckDuty {
    acked: bool,
    data_in: bool,
    again: bool,
}

/// `o` acknowledges more than its side did before (its first ACK: anything).
fn advances(me: &super::side::SideState, o: &super::Observed<'_>) -> bool {
    o.has_ack() && me.last_ack.map_or(true, |a| super::seq::after(o.ack(), a))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: u32 = 64240;

    fn ms(m: u64) -> Duration {
        Duration::from_millis(m)
    }

    #[test]
    fn in_quick_ack_mode_each_segment_is_acked_at_once() {
        let mut d = Delack::default();
        d.arrived(ms(100));
        assert_eq!(d.late(ms(101), WINDOW), None);
        let why = d.late(ms(140), WINDOW).expect("40 ms is a delayed ACK's");
        assert!(
            why.contains("quick-ack mode") && why.contains("tcp_in_quickack_mode"),
            "{why}"
        );
        d.sent(true, false);
        // Sixteen ACKs use the quick ones up: then 40 ms is a delayed ACK's, allowed.
        for i in 0..15 {
            d.arrived(ms(200 + i));
            assert_eq!(d.late(ms(200 + i), WINDOW), None);
            d.sent(true, false);
        }
        d.arrived(ms(300));
        assert_eq!(d.late(ms(340), WINDOW), None);
        // A receiver that sent data may be in ping-pong mode: no quick ACKs asked.
        let mut d = Delack::default();
        d.sent(false, true);
        d.arrived(ms(10));
        assert_eq!(d.late(ms(50), WINDOW), None);
        // Nor of one whose window holds fewer than 32 first segments (half of it, 16).
        let mut d = Delack::default();
        d.arrived(ms(10));
        assert_eq!(d.late(ms(50), 32 * 536 - 1), None);
    }

    #[test]
    fn no_delayed_ack_comes_later_than_its_longest_wait() {
        let mut d = Delack::default();
        d.sent(false, true);
        // The timer runs from the first unacknowledged segment, not the latest.
        d.arrived(ms(100));
        d.arrived(ms(500));
        assert_eq!(d.late(ms(100) + DELACK_LATEST, WINDOW), None);
        let why = d.late(ms(101) + DELACK_LATEST, WINDOW).expect("too late");
        assert!(why.contains("tcp_send_delayed_ack"), "{why}");
        // All acknowledged: nothing owed.
        d.sent(true, false);
        assert_eq!(d.late(ms(5000), WINDOW), None);
    }
}
