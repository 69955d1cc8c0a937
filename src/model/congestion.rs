//! What Linux's congestion control allows a sender, as far as a capture can check it: slow start
//! from the initial window of 10 segments (RFC 6928, `TCP_INIT_CWND`), and the retransmission
//! timer's exponential backoff (RFC 6298 §5.5).
//!
//! The congestion window itself is the kernel's (it grows by the packets each ACK acknowledges
//! in slow start, less once HyStart or a loss ends it), so the model keeps an upper bound of
//! it: 10 packets plus every packet acknowledged. Packets in flight (counted as Linux counts
//! them, one per `mss_now` bytes of each segment, `tcp_skb_pcount`) never exceed the window, so
//! a sender with more in flight than the bound broke slow start. Once a segment is sent again
//! or the peer reports a loss (SACK blocks, a duplicate ACK), Linux counts lost packets out of
//! flight and the bound says no more: the check stops there.

use std::collections::VecDeque;
use std::time::Duration;

use super::seq;

/// Linux's initial congestion window, in packets (`TCP_INIT_CWND`, RFC 6928).
pub const INIT_CWND: u32 = 10;

/// How many segments in flight the model follows (beyond them, the check stops).
const KEEP: usize = 1024;

/// One sender's flight and window bound, and its retransmission timer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Congestion {
    /// Segments sent and not yet acknowledged: where each ends, and how many packets it counts.
    flight: VecDeque<(u32, u32)>,
    /// The packets in `flight`.
    in_flight: u32,
    /// The most packets the congestion window can hold: [`INIT_CWND`] plus each packet
    /// acknowledged.
    bound: u32,
    /// Slow start is followed: no loss, retransmission or SACK yet.
    following: bool,
    /// The latest sending of the oldest unacknowledged segment by the retransmission timer.
    timer: Option<Timer>,
}

/// A segment sent again by the retransmission timer: where it starts, when, and how long after
/// the sending before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timer {
    /// Its sequence number.
    pub seq: u32,
    /// When it was sent (captured).
    pub at: Duration,
    /// How long after the sending before.
    pub after: Option<Duration>,
    /// The frame that sent it.
    pub frame: u64,
}

impl Default for Congestion {
    fn default() -> Congestion {
        Congestion {
            flight: VecDeque::new(),
            in_flight: 0,
            bound: INIT_CWND,
            following: true,
            timer: None,
        }
    }
}

impl Congestion {
    /// New data of `len` bytes (or a FIN, `len` 0) ending at `end`, in segments of `mss` bytes:
    /// `Some(bound)` if it puts more packets in flight than the window can hold.
    #[must_use]
    pub fn exceeds(&self, len: usize, mss: usize) -> Option<(u32, u32)> {
        let packets = pcount(len, mss);
        (self.following && self.in_flight + packets > self.bound)
            .then_some((self.in_flight, self.bound))
    }

    /// New data sent: now in flight.
    pub fn sent(&mut self, end: u32, len: usize, mss: usize) {
        if !self.following {
            return;
        }
        if self.flight.len() >= KEEP {
            self.following = false;
            return;
        }
        let packets = pcount(len, mss);
        self.flight.push_back((end, packets));
        self.in_flight += packets;
    }

    /// The peer acknowledged up to `ack`: what it covers leaves the flight, and the bound grows
    /// by as many packets (slow start, at most).
    pub fn acked(&mut self, ack: u32) {
        while let Some(&(end, packets)) = self.flight.front() {
            if seq::after(end, ack) {
                break;
            }
            self.flight.pop_front();
            self.in_flight -= packets;
            self.bound = self.bound.saturating_add(packets);
        }
    }

    /// A loss is seen (a retransmission, a duplicate ACK, SACK blocks): Linux's flight is no
    /// longer what was sent less what was acknowledged.
    pub fn lost(&mut self) {
        self.following = false;
        self.flight.clear();
        self.in_flight = 0;
    }

    /// The sender's packets in flight and the window's bound, while slow start is followed.
    #[must_use]
    pub fn window(&self) -> Option<(u32, u32)> {
        self.following.then_some((self.in_flight, self.bound))
    }

    /// A retransmission of the segment at `seq` sent at `now`: how long after its sending
    /// before by the timer (when the same segment went before), and whether the wait is the
    /// timer's backoff (twice the one before, which may have run up to 1/8 long). Sooner than that is no timeout: a tail loss probe, or the peer's ACKs
    /// prompted it.
    #[must_use]
    pub fn backoff(&self, seq: u32, now: Duration) -> Backoff {
        let before = self.timer.filter(|t| t.seq == seq);
        let after = before.map(|t| now.saturating_sub(t.at));
        let doubled = match (before.and_then(|t| t.after), after) {
            // (Timers that far out fire on the timer wheel's coarser levels, up to 1/8 late:
            // the wait before may have run long, so 7/4 of it counts as doubled.)
            (Some(prev), Some(this)) => Some(this * 4 + Duration::from_millis(4) >= prev * 7),
            _ => None,
        };
        Backoff {
            after,
            doubled,
            frame: before.map(|t| t.frame),
        }
    }

    /// The segment at `seq` sent again at `now` by frame `frame`, `after` its sending before.
    pub fn retransmitted(&mut self, seq: u32, now: Duration, frame: u64, after: Option<Duration>) {
        self.timer = Some(Timer {
            seq,
            at: now,
            after,
            frame,
        });
    }
}

/// What the timer's backoff says of a retransmission.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backoff {
    /// How long after the segment's sending before.
    pub after: Option<Duration>,
    /// Whether the wait doubled the one before (`None`: no wait before to compare).
    pub doubled: Option<bool>,
    /// The frame of the sending before.
    pub frame: Option<u64>,
}

/// What the congestion rules say of one frame, before the model learns from it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Judgement {
    /// New data beyond the congestion window's bound: the packets in flight, and the bound.
    pub over: Option<(u32, u32)>,
    /// A retransmission's timer.
    pub backoff: Option<Backoff>,
    /// The peer sent nothing since the sending before: the timer alone sent this one.
    pub unprompted: bool,
    /// New bytes (or a FIN) in order: they go into the flight.
    pub new_data: bool,
}

/// How many packets Linux counts a segment of `len` bytes as (`tcp_skb_pcount`): one per `mss`
/// bytes, at least one (a FIN).
fn pcount(len: usize, mss: usize) -> u32 {
    u32::try_from(len.div_ceil(mss.max(1)).max(1)).unwrap_or(u32::MAX)
}

impl super::Connection {
    /// What the congestion rules say of frame `o` from `from`, classified as `ev`.
    pub(super) fn congestion_of(
        &self,
        from: super::Side,
        o: &super::Observed<'_>,
        ev: &super::event::Event,
    ) -> Judgement {
        let (me, peer) = (&self.sides[from], &self.sides[!from]);
        if me.followed() || ev.ctl_rst {
            return Judgement::default();
        }
        let new_data = new_data(me, o, ev);
        // (Beyond the window by one packet, the probe timer may have sent it: a tail loss
        // probe takes new data when there is some, cwnd or not.)
        let over = if new_data {
            self.send_mss(from).and_then(|mss| {
                me.congestion
                    .exceeds(o.len(), mss)
                    .filter(|&(in_flight, bound)| {
                        in_flight > bound
                            || !me
                                .recovery
                                .may_probe(o.time, pcount(o.len(), mss), peer.last_frame)
                    })
            })
        } else {
            None
        };
        let backoff = o
            .time
            .filter(|_| ev.retrans)
            .map(|now| me.congestion.backoff(o.seq(), now));
        let unprompted = backoff
            .and_then(|b| b.frame)
            .is_some_and(|f| peer.last_frame < f);
        Judgement {
            over,
            backoff,
            unprompted,
            new_data,
        }
    }

    /// What frame `o` from `from` changes of both senders' flights: its acknowledgment takes
    /// the peer's packets out of flight (a duplicate ACK or SACK blocks report a loss), its new
    /// data puts its own in, a retransmission ends the check and restarts its timer.
    pub(super) fn learn_congestion(
        &mut self,
        from: super::Side,
        o: &super::Observed<'_>,
        ev: &super::event::Event,
        events: &[super::Analysis],
        j: &Judgement,
    ) {
        let mss = self.send_mss(from);
        let peer = &mut self.sides[!from];
        if o.has_ack() && !ev.ctl_rst {
            peer.congestion.acked(o.ack());
            let dup = events
                .iter()
                .any(|e| matches!(e, super::Analysis::DuplicateAck(_)));
            if dup || !o.sack.is_empty() {
                peer.congestion.lost();
            }
        }
        let me = &mut self.sides[from];
        if me.followed() || ev.ctl_rst {
            return;
        }
        if ev.retrans {
            me.congestion.lost();
            if let Some(now) = o.time {
                let after = j.backoff.and_then(|b| b.after);
                me.congestion.retransmitted(o.seq(), now, o.number, after);
            }
        } else if let (true, Some(mss)) = (j.new_data, mss) {
            me.congestion
                .sent(o.seq().wrapping_add(o.advance()), o.len(), mss);
        }
    }
}

/// New bytes (or a FIN) in order from a side past its handshake: what puts packets in flight.
fn new_data(
    me: &super::side::SideState,
    o: &super::Observed<'_>,
    ev: &super::event::Event,
) -> bool {
    let carries = !o.is_empty() || o.kind == super::Kind::Fin;
    carries
        && !o.kind.is_syn()
        && me.isn.is_some()
        && o.seq() == me.next_seq
        && !(ev.retrans || ev.probe || ev.gap || ev.fills.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_start_allows_ten_packets_then_one_more_per_packet_acknowledged() {
        let mut c = Congestion::default();
        for i in 1..=10u32 {
            assert_eq!(c.exceeds(1448, 1448), None, "packet {i}");
            c.sent(i * 1448, 1448, 1448);
        }
        assert_eq!(c.exceeds(1448, 1448), Some((10, 10)));
        // A GSO packet of three segments counts three.
        c.acked(3 * 1448);
        assert_eq!(c.window(), Some((7, 13)));
        assert_eq!(c.exceeds(3 * 1448, 1448), None);
        assert_eq!(c.exceeds(7 * 1448, 1448), Some((7, 13)));
        // After a loss nothing more is said.
        c.lost();
        assert_eq!((c.exceeds(100_000, 1448), c.window()), (None, None));
    }

    #[test]
    fn the_retransmission_timer_doubles_its_wait() {
        let mut c = Congestion::default();
        let ms = Duration::from_millis;
        let mut send = |at: u64| {
            let b = c.backoff(1, ms(at));
            c.retransmitted(1, ms(at), at, b.after);
            b
        };
        assert_eq!(send(1218).after, None);
        assert_eq!(
            send(1642),
            Backoff {
                after: Some(ms(424)),
                doubled: None,
                frame: Some(1218)
            }
        );
        assert_eq!(send(2474).doubled, Some(true));
        // Sooner than twice the wait before: no timeout's backoff.
        assert_eq!(send(2900).doubled, Some(false));
    }
}
