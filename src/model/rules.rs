//! The verdict rules: for each field, keyed by the constant its layer's field table exports,
//! what the model's value means in this frame's circumstances. A field renamed in its layer
//! file renames the constant here with it, or stops this file compiling.
//!
//! Each rule answers only where its circumstance holds; the first that answers decides. A
//! field no rule names is *predicted*: computed from protocol rules and the connection's state.

use super::event::{Event, Kind};
use super::linux::DEFAULT_TTL;
use super::observed::Observed;
use super::predict::Prediction;
use super::seq;
use super::side::SideState;
use super::verdict::Verdict;
use crate::layers::tcp::field as tf;
use crate::layers::{ethernet, ipv4, ipv6, payload, tcp};

/// What a field's verdict depends on besides the field itself.
pub struct Facts<'a> {
    /// The kernel's frame.
    pub o: &'a Observed<'a>,
    /// Its circumstances.
    pub ev: &'a Event,
    /// The model's frame and what went into it.
    pub pred: &'a Prediction,
    /// The sender, as the model knew it before this frame.
    pub me: &'a SideState,
    /// Its peer.
    pub peer: &'a SideState,
    /// Both sides agreed on ECN.
    pub ecn: bool,
    /// The host's TCP settings are known.
    pub settings_known: bool,
    /// The handshake agreed on timestamps.
    pub timestamps: bool,
    /// The handshake permitted SACK.
    pub sack: bool,
    /// What the congestion rules say of the frame.
    pub cong: super::congestion::Judgement,
    /// What may have sent a retransmission of a Linux side's (the loss detection's rules).
    pub cause: Option<&'a super::recovery::Cause>,
    /// How late the frame acknowledges the peer's data, if it is (the delayed ACK's rules).
    pub late_ack: Option<&'a str>,
}

/// What a rule says of a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// This verdict, if the model's value equals the kernel's (else a MISMATCH with the
    /// model's value).
    IfEqual(Verdict),
    /// A MISMATCH whatever the values: the frame breaks a rule of its own (the model expected
    /// what this says).
    Broken(String),
    /// This verdict whatever the values: a field the capture did not keep enough of the frame
    /// to check (a checksum over bytes its snapshot length cut off).
    Uncheckable(Verdict),
}

use Rule::IfEqual;

/// The rule for the field `key` of this frame.
#[must_use]
pub fn rule(key: &str, f: &Facts<'_>) -> Rule {
    // A side that is not Linux: what any TCP may choose is the peer's, what every TCP must do
    // is checked as for Linux.
    let followed = f.me.followed();
    if followed {
        if let Some(r) = super::peer::rule(key, f) {
            return r;
        }
    }
    // Each group of rules is for one layer's keys (`eth.`, `ip.` and `ipv6.`, `tcp.`, the
    // payload's): only that group is asked, as a frame has some 30 fields to judge.
    let layer = |prefix: &str| key.starts_with(prefix);
    let r = if layer("eth.") {
        link(key, f)
    } else if layer("ip") {
        network(key, f).or_else(|| identification(key, f))
    } else if layer("tcp.") {
        transport(key, f)
            .or_else(|| sequence(key, f))
            .or_else(|| window(key, f))
            .or_else(|| option(key, f))
    } else {
        application(key, f)
    };
    let r = r.unwrap_or(IfEqual(Verdict::Predicted));
    if followed {
        super::peer::relabel(r)
    } else {
        r
    }
}

fn kc(why: &'static str) -> Option<Rule> {
    Some(IfEqual(Verdict::KernelChosen { why }))
}

fn learned(from: &'static str) -> Option<Rule> {
    Some(IfEqual(Verdict::Learned { from }))
}

fn predicted() -> Option<Rule> {
    Some(IfEqual(Verdict::Predicted))
}

fn link(key: &str, f: &Facts<'_>) -> Option<Rule> {
    match key {
        ethernet::key::DST | ethernet::key::SRC if !f.o.on_a_wire() => Some(IfEqual(Verdict::Loopback {
            why: "lo has no hardware: both MAC addresses are zero",
        })),
        ethernet::key::DST | ethernet::key::SRC if f.me.macs.is_some() => learned("this side's MAC addresses, its interface's and the next hop's, as its first frame showed them"),
        ethernet::key::DST | ethernet::key::SRC => kc("the sending interface's MAC address and the next hop's, resolved by ARP: taken from this side's first frame"),
        _ => None,
    }
}

/// Addresses, DSCP, ECN, TTL, lengths and the flow label.
fn network(key: &str, f: &Facts<'_>) -> Option<Rule> {
    let (o, ev, me) = (f.o, f.ev, f.me);
    let marked = !ev.ctl_rst
        && match key {
            ipv4::key::DSCP | ipv6::key::TCLASS => o.dscp != 0,
            ipv4::key::TTL | ipv6::key::HLIM => o.ttl != DEFAULT_TTL,
            _ => false,
        };
    let plan = &f.pred.payload;
    match key {
        ipv6::key::FLOW if ev.ctl_rst || ev.syn_again => kc("flow label: a new hash for a retransmitted SYN, or the control socket's for its RST"),
        ipv6::key::FLOW if ev.rto => kc("flow label: a new hash after a retransmission timeout (tcp_write_timeout: sk_rethink_txhash draws a new txhash), or the socket's if a tail loss probe or the ACKs sent it"),
        ipv4::key::ECN if f.ecn && !o.is_empty() => learned("ECT(0): ECN agreed in the handshake, so data segments are sent ECN-capable"),
        _ if marked && me.marking.is_none() => kc("set for this socket: by the application (IP_TOS, IP_TTL, IPV6_TCLASS, IPV6_UNICAST_HOPS) or the host (net.ipv4.ip_default_ttl)"),
        _ if marked => learned("this socket's, unchanged since its first segment"),
        ipv4::key::LEN | ipv6::key::PLEN if !plan.predicted && !o.is_empty() => learned("the headers plus the payload as long as this frame has it (a transcript of what was sent would let the model predict it)"),
        ipv4::key::LEN | ipv6::key::PLEN if plan.coalesced > 1 => kc("several writes in one segment: held while earlier data was unacknowledged (Nagle, without TCP_NODELAY) or the device busy (autocorking), then sent together"),
        ipv4::key::LEN | ipv6::key::PLEN if plan.gso_cut => kc("where the kernel cut a write larger than one segment: at whole segments, at the edge of the peer's window, or where send() ran out of buffer space and pushed what it had, as ACKs and space arrived"),
        ipv4::key::SRC | ipv4::key::DST | ipv6::key::SRC | ipv6::key::DST if o.kind == Kind::Syn => learned("the address connect() was given and its route"),
        ipv4::key::SRC | ipv4::key::DST | ipv6::key::SRC | ipv6::key::DST => learned("the connection's endpoints, from its first frame"),
        ipv6::key::FLOW if me.flow.is_none() => kc("flow label: a hash of the socket's random txhash (net.ipv6.auto_flowlabels)"),
        ipv6::key::FLOW => learned("this socket's flow label, unchanged since its first segment"),
        _ => None,
    }
}

/// The IPv4 identification.
fn identification(key: &str, f: &Facts<'_>) -> Option<Rule> {
    if key != ipv4::key::ID {
        return None;
    }
    let (ev, me) = (f.ev, f.me);
    match () {
        _ if ev.timewait_reply => kc("sent for a closed socket by its TIME_WAIT mini-socket: IP ID 0, full checksum"),
        _ if ev.ctl_rst => predicted(),
        _ if ev.id_late => kc("an older IP ID of this socket, skipped before: this frame was captured after a later one"),
        _ if ev.stale => kc("an older IP ID: this ACK was built before the previous one and captured after it"),
        _ if ev.gap => kc("ahead with its bytes: the frames between were sent out of order or missed by the capture"),
        _ if ev.id_ahead && !me.missed => kc("a little ahead of this socket's counter: its frames with the IDs between are not in the capture yet (frames can pass each other on the way to it); kept open until they come"),
        _ if ev.fills.is_some() => kc("sent before the frame that skipped these bytes: out of order"),
        _ if me.missed => kc("this socket's IP ID skipped the segments the capture missed"),
        _ if f.o.kind == Kind::SynAck => predicted(),
        _ if me.ids.next.is_none() => kc("each socket's IP ID counter starts at a random value"),
        _ => learned("this socket's previous IP ID + 1 per segment"),
    }
}

/// Ports, flags, urgent pointer and checksum.
fn transport(key: &str, f: &Facts<'_>) -> Option<Rule> {
    let (o, ev) = (f.o, f.ev);
    match key {
        tcp::key::CHECKSUM if ev.timewait_reply => {
            kc("sent for a closed socket by its TIME_WAIT mini-socket: IP ID 0, full checksum")
        }
        tcp::key::CHECKSUM if ev.ctl_rst && o.ip_id.is_some() => predicted(),
        tcp::key::CHECKSUM if o.cut.is_some() && o.on_a_wire() => Some(Rule::Uncheckable(Verdict::KernelChosen { why: "over payload bytes the capture's snapshot length cut off: not checkable" })),
        tcp::key::CHECKSUM if !o.on_a_wire() => Some(IfEqual(Verdict::Loopback { why: "checksum offload: lo carries the pseudo-header sum, never the full checksum" })),
        tcp::key::CHECKSUM if o.full_checksum => predicted(),
        tcp::key::CHECKSUM if f.me.full_checksum.is_some() => learned("checksum offload (the interface, as veth, leaves the pseudo-header sum), as this side's first frame showed it"),
        tcp::key::CHECKSUM => kc("checksum offload on this interface: the pseudo-header sum, left for hardware that veth and lo do not have"),
        tcp::key::FLAGS if o.kind == Kind::Syn && o.has(tf::FLG_ECE | tf::FLG_CWR) => {
            kc("ECE and CWR: the client asks for ECN (net.ipv4.tcp_ecn = 1 on its host)")
        }
        tcp::key::FLAGS | tcp::key::URGENT if o.urgent() => kc(
            "urgent data: the application sent a byte with MSG_OOB; URG and the pointer past it",
        ),
        tcp::key::FLAGS if o.kind == Kind::Data && !o.has(tf::FLG_PSH) && f.pred.push.is_none() => {
            kc("PSH marks the last segment of a write; this one is not")
        }
        tcp::key::DSTPORT if o.kind == Kind::Syn => {
            learned("the address connect() was given and its route")
        }
        tcp::key::SRCPORT if o.kind == Kind::Syn => kc("ephemeral port picked by connect()"),
        tcp::key::SRCPORT | tcp::key::DSTPORT => {
            learned("the connection's endpoints, from its first frame")
        }
        _ => None,
    }
}

/// Sequence and acknowledgment numbers.
fn sequence(key: &str, f: &Facts<'_>) -> Option<Rule> {
    let (o, ev) = (f.o, f.ev);
    match key {
        tcp::key::SEQ_RAW if ev.ctl_rst => predicted(),
        tcp::key::SEQ_RAW if ev.resent_refused => kc("bytes a router refused as too big for its next hop (its ICMP error said the MTU), sent again at once in segments that fit: where each starts is taken from the frame"),
        tcp::key::SEQ_RAW if ev.syn_again => learned("the same ISN: this SYN is sent again, no answer having come in time"),
        tcp::key::SEQ_RAW if f.cong.over.is_some() => Some(Rule::Broken(over_window(f))),
        tcp::key::SEQ_RAW if ev.retrans => match f.cause {
            Some(super::recovery::Cause::Early(why)) => Some(Rule::Broken(why.clone())),
            _ => retransmission(f),
        },
        tcp::key::SEQ_RAW if ev.redundant => Some(Rule::Broken(format!("{} (an empty ACK acknowledging nothing new is sent only as a keepalive or zero-window probe, one below the next sequence number)", f.me.next_seq.wrapping_sub(1)))),
        tcp::key::SEQ_RAW if ev.probe => learned("one below the next sequence number (snd_una - 1): a keepalive or zero-window probe, a byte the peer has, to draw its ACK"),
        tcp::key::SEQ_RAW if ev.gap => kc("ahead of the next sequence number: the bytes between were sent out of order or missed by the capture (a gap the model keeps open)"),
        tcp::key::SEQ_RAW if ev.fills.is_some() => learned("fills a gap an earlier frame left: these bytes were sent out of order"),
        tcp::key::SEQ_RAW if o.kind == Kind::SynAck && f.me.reused_isn.is_some() => learned("the TIME_WAIT socket's snd_nxt + 65537: a SYN with a higher sequence number reopened the connection (tcp_timewait_state_process)"),
        tcp::key::SEQ_RAW if o.kind.is_syn() => kc("initial sequence number: a keyed hash of the addresses plus a clock (secure_tcp_seq)"),
        tcp::key::SEQ_RAW => learned("ISN + 1 + bytes sent"),
        tcp::key::ACK_RAW if ev.ctl_rst => learned("the end of the segment this RST answers"),
        tcp::key::ACK_RAW if ev.ack_ahead => kc("acknowledges bytes not (yet) in the capture: a segment it missed, or one captured after this ACK (a gap the model keeps open)"),
        tcp::key::ACK_RAW if o.kind == Kind::Syn => predicted(),
        tcp::key::ACK_RAW if f.late_ack.is_some() => Some(Rule::Broken(f.late_ack.unwrap_or_default().to_string())),
        tcp::key::ACK_RAW if ev.ack_ok => Some(acknowledgment(f)),
        _ => None,
    }
}

/// A retransmission's sequence number: too soon for the timer's backoff, else where it starts.
fn retransmission(f: &Facts<'_>) -> Option<Rule> {
    if f.cong.unprompted && f.cong.backoff.is_some_and(|b| b.doubled == Some(false)) {
        return Some(Rule::Broken(hasty(f)));
    }
    if f.peer.last_ack == Some(f.o.seq()) {
        return learned("the oldest byte the peer has not acknowledged (snd_una): where a retransmission by the timer, or the first of a recovery, starts");
    }
    kc("a retransmission: bytes sent before, sent again when their ACK did not come in time (an RTO, or a tail loss probe), or that the peer's SACK blocks showed lost")
}

/// New data beyond slow start's window: what the model expected instead.
fn over_window(f: &Facts<'_>) -> String {
    let (in_flight, bound) = f.cong.over.unwrap_or_default();
    format!("no new segment yet: {in_flight} packets in flight, and slow start's window holds at most {bound} (10 at first, RFC 6928's TCP_INIT_CWND, and one more per packet acknowledged)")
}

/// A retransmission by the timer sooner than its backoff allows.
fn hasty(f: &Facts<'_>) -> String {
    let b = f.cong.backoff.unwrap_or_default();
    let ms = |d: Option<std::time::Duration>| d.map_or(0, |d| d.as_millis());
    format!(
        "no retransmission {} ms after the last (frame {}): with no answer from the peer, the retransmission timer waits twice as long each time (RFC 6298 §5.5)",
        ms(b.after),
        b.frame.unwrap_or(0)
    )
}

/// An acknowledgment the peer's stream reached: echoing a TSval means the segment that carried
/// it first was received.
fn acknowledgment(f: &Facts<'_>) -> Rule {
    // (Which TSval a stack echoes is Linux's rule here; another stack's may differ.)
    let proven =
        f.o.tsecr
            .filter(|_| !f.me.followed())
            // (From the newest: the echo is of a recent one. Each TSval is kept once.)
            .and_then(|e| f.peer.ts_marks.iter().rev().find(|m| m.tsval == e))
            .map(|m| m.end);
    match proven.filter(|&end| seq::after(end, f.o.ack())) {
        Some(end) => Rule::Broken(format!("an acknowledgment of at least {end}: its TSecr echoes the segment of the peer's that ends there, so that segment was received")),
        None => IfEqual(Verdict::Learned { from: "the peer's ISN + bytes received" }),
    }
}

/// The window field.
fn window(key: &str, f: &Facts<'_>) -> Option<Rule> {
    if key != tcp::key::WINDOW {
        return None;
    }
    let (o, pred) = (f.o, f.pred);
    let w = o.window();
    match () {
        _ if f.ev.ctl_rst => predicted(),
        _ if pred.shrunk.is_some() => Some(Rule::Broken(format!("a window reaching at least {} (Linux never moves the edge of a window it offered to the left, RFC 7323 §2.4)", pred.shrunk.unwrap_or(0)))),
        _ if o.kind.is_syn() && pred.window.exact.is_some() => predicted(),
        _ if pred.window.cookie => kc("the first window of a socket made from a SYN cookie (the listener's queue was full: the client's first SYN went unanswered): sized anew from its receive buffer, not from the SYN-ACK's"),
        _ if pred.window.locked => kc("a receive buffer the application set (SO_RCVBUF): the SYN's window and scale follow from it, not from tcp_rmem"),
        _ if pred.window.exact == Some(w) => predicted(),
        // Below the SYN's window less all that arrived: never (IfEqual against the floor).
        _ if pred.window.floor.is_some_and(|floor| w < floor) => predicted(),
        _ if pred.window.floor.is_some() => kc("the SYN's window less the bytes received and not read yet"),
        _ if f.me.window == Some(w) => learned("unchanged since this side's previous segment"),
        _ => kc("receive window from the socket buffer and its autotuning"),
    }
}

/// The options' values.
fn option(key: &str, f: &Facts<'_>) -> Option<Rule> {
    let (o, ev) = (f.o, f.ev);
    match key {
        tcp::key::TSVAL if ev.ctl_rst => predicted(),
        tcp::key::TSVAL if f.pred.tsval_cookie => kc("the socket's own clock, up to 63 ms ahead of its SYN-ACK's TSval: the listener's queue was full (the client's first SYN went unanswered), so the SYN-ACK was a SYN cookie, whose TSval is the clock rounded down to 64 ms with the SYN's options in its low bits"),
        tcp::key::TSVAL if f.pred.tsval_on_time => learned("the sender's millisecond clock, from its first TSval and the time since (a pure ACK's as the socket last read it: no earlier than the peer's latest frame)"),
        tcp::key::TSVAL => match (f.me.last_tsval(), o.tsval) {
            (Some(last), Some(v)) if seq::older(v, last) => Some(Rule::Broken(format!("a TSval no earlier than {last}"))),
            _ => kc("TSval: the sender's millisecond clock plus a random per-connection offset"),
        },
        tcp::key::TSECR if o.kind == Kind::Syn => predicted(),
        tcp::key::TSECR => learned("a TSval the peer sent, echoed (RFC 7323 TS.Recent)"),
        tcp::key::OPTION_KIND if o.fastopen.is_some() => kc("TCP Fast Open (RFC 7413): the client asks for a cookie or presents one (net.ipv4.tcp_fastopen, MSG_FASTOPEN), the server's cookie is a keyed hash of the client's address"),
        tcp::key::MSS_VAL if f.pred.mss_app => kc("an MSS below lo's: asked for by the application (TCP_MAXSEG) or set on the route (advmss)"),
        tcp::key::WSCALE_SHIFT if f.pred.window.locked => kc("a receive buffer the application set (SO_RCVBUF): the scale follows from it"),
        tcp::key::WSCALE_SHIFT if f.settings_known => predicted(),
        tcp::key::WSCALE_SHIFT => kc("window scale from the receive buffer size (tcp_rmem)"),
        _ => None,
    }
}

/// The application's bytes.
fn application(key: &str, f: &Facts<'_>) -> Option<Rule> {
    match key {
        payload::key::DATA if f.ev.retrans => kc("bytes sent before, sent again"),
        payload::key::DATA if f.pred.payload.predicted => predicted(),
        // Without a transcript the bytes can only be taken from this very frame: counted with
        // the values no model can know in advance, not as learned.
        payload::key::DATA => kc("the application's bytes, taken from this frame (a transcript of what was sent lets the model check them)"),
        _ => None,
    }
}
