//! TCP states (RFC 9293 §3.3.2) and how a frame moves both sides' states, as the ladder shows
//! them.

use std::fmt;

use super::event::Kind;
use super::side::{Pair, Side, SideState};
use super::verdict::FrameCheck;

/// A TCP state (RFC 9293 §3.3.2), as the ladder shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum TcpState {
    Closed,
    Listen,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TcpState::Closed => "CLOSED",
            TcpState::Listen => "LISTEN",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynReceived => "SYN_RECEIVED",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait1 => "FIN_WAIT_1",
            TcpState::FinWait2 => "FIN_WAIT_2",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::Closing => "CLOSING",
            TcpState::LastAck => "LAST_ACK",
            TcpState::TimeWait => "TIME_WAIT",
        })
    }
}

/// The states of the sender and of its peer after a segment of `kind` from the sender;
/// `acks_peer_fin` when it acknowledges the peer's FIN.
#[must_use]
pub fn next_states(
    kind: Kind,
    me: TcpState,
    peer: TcpState,
    acks_peer_fin: bool,
) -> (TcpState, TcpState) {
    use TcpState::*;
    match kind {
        Kind::Rst => (Closed, Closed),
        Kind::Syn => (
            SynSent,
            if peer == Listen || peer == Closed {
                SynReceived
            } else {
                peer
            },
        ),
        Kind::SynAck => (SynReceived, Established),
        Kind::Fin => {
            let me_next = match me {
                CloseWait => LastAck,
                Established | SynReceived => FinWait1,
                other => other,
            };
            let peer_next = match peer {
                Established => CloseWait,
                FinWait1 if acks_peer_fin => TimeWait,
                FinWait1 => Closing,
                FinWait2 => TimeWait,
                other => other,
            };
            (me_next, peer_next)
        }
        Kind::Data | Kind::Ack => {
            let me_next = if me == SynReceived { Established } else { me };
            let peer_next = match peer {
                SynReceived => Established,
                FinWait1 if acks_peer_fin => FinWait2,
                Closing if acks_peer_fin => TimeWait,
                LastAck if acks_peer_fin => Closed,
                other => other,
            };
            (me_next, peer_next)
        }
    }
}

impl super::Connection {
    /// A SYN from the client, with a new ISN, that starts a new connection on the same
    /// addresses and ports: the server's socket is gone (a RST ended it: the SYN meets a
    /// listener or nothing, as a first SYN does), or it is a Linux TIME_WAIT socket that takes
    /// the SYN (see [`Self::time_wait_takes`]).
    pub(super) fn reopens(&self, from: Side, o: &super::Observed<'_>) -> bool {
        let (client, server) = (&self.sides[Side::Client], &self.sides[Side::Server]);
        from == Side::Client
            && o.kind == Kind::Syn
            && !o.has_ack()
            && client.isn.is_some_and(|isn| isn != o.seq())
            && (server.state == TcpState::Closed || self.time_wait_takes(o))
    }

    /// A Linux server in TIME_WAIT takes a SYN for a new connection (tcp_timewait_state_process,
    /// TCP_TW_SYN) when it has no ACK and its sequence number is after the old connection's
    /// rcv_nxt, or its TSval newer than the last one seen.
    fn time_wait_takes(&self, o: &super::Observed<'_>) -> bool {
        let (client, server) = (&self.sides[Side::Client], &self.sides[Side::Server]);
        let newer_ts = match (o.tsval, client.last_tsval()) {
            (Some(v), Some(last)) => super::seq::after(v, last),
            _ => false,
        };
        server.state == TcpState::TimeWait
            && !server.followed()
            && (super::seq::after(o.seq(), client.next_seq) || newer_ts)
    }

    /// Starts the connection anew for the SYN `o`: what runs each side and the host's settings
    /// kept, all else as before a first SYN. Out of TIME_WAIT the server's new ISN is the old
    /// connection's snd_nxt + 65535 + 2 (never 0), as tcp_timewait_state_process hands it to
    /// the listener (tcp_conn_request then uses it instead of a fresh secure_tcp_seq).
    pub(super) fn reopen(&mut self, o: &super::Observed<'_>) {
        let reused = self.time_wait_takes(o).then(|| {
            match self.sides[Side::Server].next_seq.wrapping_add(65537) {
                0 => 1,
                n => n,
            }
        });
        let stacks = [
            self.sides[Side::Client].stack.take(),
            self.sides[Side::Server].stack.take(),
        ];
        let (client, server) = self.endpoints();
        let mut fresh = super::Connection::new(client, server).with_settings(self.settings);
        for (side, stack) in Side::BOTH.into_iter().zip(stacks) {
            fresh.sides[side].stack = stack;
        }
        fresh.sides[Side::Server].reused_isn = reused;
        *self = fresh;
    }
}

/// The states of a side and its peer had the side not sent the FIN the model took it to send.
#[must_use]
pub fn without_fin(me: TcpState, peer: TcpState) -> (TcpState, TcpState) {
    use TcpState::*;
    let me = match me {
        FinWait1 | FinWait2 => Established,
        LastAck | Closing => CloseWait,
        other => other,
    };
    let peer = match peer {
        CloseWait => Established,
        Closing => FinWait1,
        TimeWait => FinWait2,
        LastAck => FinWait1,
        other => other,
    };
    (me, peer)
}

/// The states of a side and its peer had the side sent a FIN, which the peer acknowledged, in
/// the segment the model took for a bare ACK.
#[must_use]
pub fn with_acked_fin(me: TcpState, peer: TcpState) -> (TcpState, TcpState) {
    use TcpState::*;
    let me = match me {
        Established | FinWait1 => FinWait2,
        CloseWait => TimeWait,
        other => other,
    };
    let peer = match peer {
        Established => CloseWait,
        FinWait1 => LastAck,
        FinWait2 => TimeWait,
        other => other,
    };
    (me, peer)
}

/// Moves both sides' states for a segment of `kind` from `from` with these flags and ack.
pub fn step(sides: &mut Pair<SideState>, from: Side, kind: Kind, has_ack: bool, ack: u32) {
    let acks_peer_fin = has_ack
        && sides[!from]
            .fin_seq
            .is_some_and(|f| ack == f.wrapping_add(1));
    let (me, peer) = (sides[from].state, sides[!from].state);
    let (me_next, peer_next) = next_states(kind, me, peer, acks_peer_fin);
    if peer_next == TcpState::FinWait2 && peer != TcpState::FinWait2 {
        sides[!from].fin_wait2 = true;
    }
    sides[from].state = me_next;
    sides[!from].state = peer_next;
}

/// A server that answered the connection only with the control socket's RST (a refused
/// connect): nothing listened, so it was CLOSED throughout. The model cannot know that at the
/// SYN, only once the RST came: the ladder is drawn from the states as the whole connection
/// shows them.
pub fn restate(checks: &mut [FrameCheck]) {
    let server_frames = || checks.iter().filter(|c| c.from == Side::Server);
    let refused = server_frames().next().is_some()
        && server_frames().all(|c| c.kind == Kind::Rst && c.rel_seq == 0)
        && checks.iter().all(|c| c.kind != Kind::SynAck);
    if refused {
        for c in checks.iter_mut() {
            c.states[Side::Server.index()] = TcpState::Closed;
        }
    }
}

/// The states both sides started in, client first, as a connection's checks show them: the
/// client CLOSED, the server LISTEN (or CLOSED, when [`restate`] found that nothing listened).
#[must_use]
pub fn initial(checks: &[FrameCheck]) -> [TcpState; 2] {
    let refused = checks
        .first()
        .is_some_and(|c| c.kind == Kind::Syn && c.states[Side::Server.index()] == TcpState::Closed);
    [
        TcpState::Closed,
        if refused {
            TcpState::Closed
        } else {
            TcpState::Listen
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use TcpState::*;

    #[test]
    fn the_blog_close_goes_fin_wait_1_close_wait_then_time_wait_last_ack() {
        assert_eq!(
            next_states(Kind::Fin, Established, Established, false),
            (FinWait1, CloseWait)
        );
        assert_eq!(
            next_states(Kind::Fin, CloseWait, FinWait1, true),
            (LastAck, TimeWait)
        );
        assert_eq!(
            next_states(Kind::Ack, TimeWait, LastAck, true),
            (TimeWait, Closed)
        );
        assert_eq!(
            next_states(Kind::Ack, CloseWait, FinWait1, true),
            (CloseWait, FinWait2)
        );
        assert_eq!(
            next_states(Kind::Fin, Established, FinWait1, false),
            (FinWait1, Closing)
        );
    }

    #[test]
    fn a_handshake_moves_listen_to_established_and_rst_closes_both() {
        assert_eq!(
            next_states(Kind::Syn, Closed, Listen, false),
            (SynSent, SynReceived)
        );
        assert_eq!(
            next_states(Kind::SynAck, SynReceived, SynSent, false),
            (SynReceived, Established)
        );
        assert_eq!(
            next_states(Kind::Ack, Established, SynReceived, false),
            (Established, Established)
        );
        assert_eq!(
            next_states(Kind::Rst, Established, Established, false),
            (Closed, Closed)
        );
    }
}
