//! The TCP options of the model's frame: which a SYN carries and where each goes (the sender's
//! sysctls and `tcp_options_write`), timestamps read off the sender's clock, SACK blocks.

use super::super::event::{Event, Kind};
use super::super::linux::{LO_MSS, LO_MSS_V6, TSVAL_SLACK_MS};
use super::super::observed::Observed;
use super::super::seq::Span;
use super::super::side::{Side, SideState};
use super::super::Connection;
use crate::layers::tcp::TcpOption;
use crate::pipeline::Params;

use std::collections::VecDeque;

/// Fills in the options; true when the TSval was checked against the sender's clock.
pub fn options(
    c: &Connection,
    from: Side,
    o: &Observed<'_>,
    ev: &Event,
    contradicted: bool,
    rcvbuf_locked: bool,
    p: &mut Params,
) -> bool {
    let (me, peer) = (&c.sides[from], &c.sides[!from]);
    // The echo is the peer's most recent TSval, or an earlier one when this segment was built
    // before the peer's latest arrived; anything else the peer never sent. (Searched from the
    // newest: the echo is nearly always of the latest.)
    let tsecr = match o.tsecr {
        Some(e) if peer.tsvals.iter().rev().any(|&v| v == e) => e,
        _ => peer.last_tsval().unwrap_or(0),
    };
    let (tsval, on_time) = if cookie_clock(c, from, o) {
        (o.tsval.unwrap_or(0), false)
    } else {
        tsval(me, peer, o)
    };
    // The scale follows the host's settings, or a receive buffer the application set.
    let ws = o.wscale.map(|w| match c.settings {
        Some(set) if !rcvbuf_locked => set.window_scale(),
        _ => w,
    });
    let own_mss = own_mss(c, from, o).filter(|_| !contradicted);
    p.tcp.options = match o.kind {
        Kind::Syn => syn_options(o, own_mss, Some(0), ws).collect_with(tsval),
        Kind::SynAck => syn_options(o, own_mss, Some(tsecr), ws).collect_with(tsval),
        Kind::Rst if ev.ctl_rst => Vec::new(),
        _ if c.timestamps => vec![
            TcpOption::Nop,
            TcpOption::Nop,
            TcpOption::Timestamps { tsval, tsecr },
        ],
        _ => Vec::new(),
    };
    if c.sack && !matches!(o.kind, Kind::Syn | Kind::SynAck | Kind::Rst) {
        let blocks = sack_blocks(c, me, peer, o);
        if !blocks.is_empty() {
            p.tcp
                .options
                .extend([TcpOption::Nop, TcpOption::Nop, TcpOption::Sack(blocks)]);
        }
    }
    on_time
}

/// The sender's clock, learned from its first TSval: a TSval within the slack of it is kept
/// (the model cannot know the sub-millisecond phase), and so is a pure ACK's as old as the
/// peer's latest frame: a socket stamps a segment with its clock as last read
/// (`tcp_clock_cache`, read as a segment comes in and before data goes out), and an ACK its
/// process sends after reading (`tcp_cleanup_rbuf`: the ACK or window update it owed) carries
/// the time the peer's segment came in, however long the process took to wake up on a busy
/// machine. Any other is replaced by the clock's value, which the comparison then shows as a
/// MISMATCH.
fn tsval(me: &SideState, peer: &SideState, o: &Observed<'_>) -> (u32, bool) {
    match (o.tsval, o.time, me.ts_clock) {
        (Some(v), Some(now), Some(clock)) => {
            let expected = clock.tsval_at(now);
            // How far the clock went since the peer's latest frame (none seen: 0).
            let since = match (o.kind, peer.last_time) {
                (Kind::Ack, Some(t)) => expected.wrapping_sub(clock.tsval_at(t.min(now))),
                _ => 0,
            };
            let ahead = v.wrapping_sub(expected);
            let behind = expected.wrapping_sub(v);
            if ahead <= TSVAL_SLACK_MS || behind <= since.saturating_add(TSVAL_SLACK_MS) {
                (v, true)
            } else {
                (expected, true)
            }
        }
        (v, ..) => (v.unwrap_or(0), false),
    }
}

/// Whether frame `o` is the listener's first after a SYN-ACK that may have been a SYN cookie,
/// with a TSval up to 63 ms ahead of the clock that SYN-ACK gave. A listener whose queue is
/// full drops a SYN (the client sends it again) and answers with a cookie
/// (`cookie_init_timestamp`): its TSval is the clock rounded down to 64 ms, the SYN's options
/// in the low 6 bits, before the connection's random offset is added; the socket made from
/// the cookie then sends its own clock.
#[must_use]
pub fn cookie_clock(c: &Connection, from: Side, o: &Observed<'_>) -> bool {
    let (me, peer) = (&c.sides[from], &c.sides[!from]);
    let (Some(v), Some(now), Some(clock)) = (o.tsval, o.time, me.ts_clock) else {
        return false;
    };
    let ahead = v.wrapping_sub(clock.tsval_at(now));
    !me.after_syn && peer.syn_resent && !o.kind.is_syn() && ahead > TSVAL_SLACK_MS && ahead < 64
}

/// The MSS Linux announces on `lo`, for this frame's IP version.
#[must_use]
pub fn link_mss(o: &Observed<'_>) -> u16 {
    if o.src.is_ipv6() {
        LO_MSS_V6
    } else {
        LO_MSS
    }
}

/// This side's own MSS when smaller than the link's: asked for by the application
/// (TCP_MAXSEG) or set on the route.
fn own_mss(c: &Connection, from: Side, o: &Observed<'_>) -> Option<u16> {
    c.sides[from].mss.filter(|&m| m < link_mss(o))
}

/// A SYN or SYN-ACK announcing an MSS below the link's.
#[must_use]
pub fn mss_below_link(c: &Connection, from: Side, o: &Observed<'_>) -> bool {
    own_mss(c, from, o).is_some() && o.kind.is_syn()
}

/// A SYN or SYN-ACK whose MSS is below the link's but whose window is the one the link's MSS
/// gives (Linux rounds the window to whole segments of the MSS it announces): the MSS is
/// wrong, not the application's.
#[must_use]
pub fn mss_contradicted(c: &Connection, from: Side, o: &Observed<'_>) -> bool {
    let (Some(set), Some(own), true) = (c.settings, own_mss(c, from, o), o.kind.is_syn()) else {
        return false;
    };
    let less = if o.kind == Kind::SynAck && o.tsval.is_some() {
        12
    } else {
        0
    };
    let by_link = set.initial_window(u32::from(link_mss(o)).saturating_sub(less));
    by_link != set.initial_window(u32::from(own).saturating_sub(less)) && o.window() == by_link
}

/// The options of a SYN or SYN-ACK, before the TSval is known: which it carries follows the
/// sender's sysctls (tcp_timestamps, tcp_sack, tcp_window_scaling; a SYN-ACK only those the SYN
/// offered), where each goes follows tcp_options_write.
struct SynOptions {
    mss: u16,
    /// The timestamps option's TSecr, when it has one.
    tsecr: Option<u32>,
    sack: bool,
    wscale: Option<u8>,
    fastopen: Option<TcpOption>,
}

fn syn_options(
    o: &Observed<'_>,
    own_mss: Option<u16>,
    tsecr: Option<u32>,
    wscale: Option<u8>,
) -> SynOptions {
    let lo = if o.src.is_ipv6() { LO_MSS_V6 } else { LO_MSS };
    SynOptions {
        mss: own_mss.unwrap_or(lo),
        tsecr: o.tsval.and(tsecr),
        sack: o.sack_permitted,
        wscale,
        fastopen: o.fastopen.clone(),
    }
}

impl SynOptions {
    fn collect_with(self, tsval: u32) -> Vec<TcpOption> {
        let mut out = vec![TcpOption::Mss(self.mss)];
        let ts = self
            .tsecr
            .map(|tsecr| TcpOption::Timestamps { tsval, tsecr });
        match (ts, self.sack) {
            (Some(ts), true) => out.extend([TcpOption::SackPermitted, ts]),
            (Some(ts), false) => out.extend([TcpOption::Nop, TcpOption::Nop, ts]),
            (None, true) => out.extend([TcpOption::Nop, TcpOption::Nop, TcpOption::SackPermitted]),
            (None, false) => {}
        }
        if let Some(ws) = self.wscale {
            out.extend([TcpOption::Nop, TcpOption::WindowScale(ws)]);
        }
        // TCP Fast Open (RFC 7413) goes last, padded with NOPs to a 32-bit word.
        if let Some(tfo) = self.fastopen {
            let pad = tfo.len() % 4 == 2;
            out.push(tfo);
            if pad {
                out.extend([TcpOption::Nop, TcpOption::Nop]);
            }
        }
        out
    }
}

/// SACK blocks while the receiver holds bytes beyond a gap (tcp_options_write puts them after
/// the timestamps): a D-SACK for a range received twice first, then the blocks it holds out of
/// order. Which of the peer's segments it had when it built this ACK follows from the
/// acknowledgment number: the captured segments, in capture order, up to one that leaves
/// exactly that many bytes in order; of the states that do, the one whose blocks this frame
/// carries, if any.
fn sack_blocks(
    c: &Connection,
    me: &SideState,
    peer: &SideState,
    o: &Observed<'_>,
) -> Vec<(u32, u32)> {
    let mut blocks: Vec<(u32, u32)> = me.dsack.iter().map(Span::pair).collect();
    let candidates = sack_states(&peer.sent, o.ack());
    let skip = blocks.len();
    let held = candidates
        .iter()
        .find(|cand| o.sack.get(skip..) == Some(&cand[..]))
        .or(candidates.last())
        .cloned()
        .unwrap_or_default();
    blocks.extend(held);
    blocks.truncate(if c.timestamps { 3 } else { 4 });
    blocks
}

/// The out-of-order blocks a receiver may hold when it acknowledges `ack`, for each prefix of
/// the sender's segments (in capture order) after which exactly the bytes up to `ack` are in
/// order: the blocks above `ack`, most recently received first. Empty if none is beyond a gap.
fn sack_states(sent: &VecDeque<Span>, ack: u32) -> Vec<Vec<(u32, u32)>> {
    let Some(&Span { start: base, .. }) = sent.front() else {
        return Vec::new();
    };
    // Sent in order (the usual case): nothing can be held beyond a gap.
    if sent
        .iter()
        .zip(sent.iter().skip(1))
        .all(|(a, b)| a.end == b.start)
    {
        return vec![Vec::new()];
    }
    let rel = |x: u32| x.wrapping_sub(base);
    let mut states = Vec::new();
    for n in 1..=sent.len() {
        let Some(state) = held_after(sent, n, rel(ack), base) else {
            continue;
        };
        if !states.contains(&state) {
            states.push(state);
        }
    }
    states
}

/// The blocks held beyond `ack` (relative to `base`) once the first `n` segments of `sent`
/// arrived, most recently received first; `None` if they leave another point in order.
fn held_after(sent: &VecDeque<Span>, n: usize, ack: u32, base: u32) -> Option<Vec<(u32, u32)>> {
    let rel = |x: u32| x.wrapping_sub(base);
    // In-order point: everything below the first segment counts as received.
    let mut have: Vec<(u32, u32, usize)> = sent
        .iter()
        .take(n)
        .enumerate()
        .map(|(i, s)| (rel(s.start), rel(s.end), i))
        .collect();
    have.sort_by_key(|h| h.0);
    let mut upto = 0u32;
    for h in &have {
        if h.0 <= upto && h.1 > upto {
            upto = h.1;
        }
    }
    if upto != ack {
        return None;
    }
    // Merge what lies above into blocks, each remembering its latest segment.
    let mut blocks: Vec<(u32, u32, usize)> = Vec::new();
    for h in have.iter().filter(|h| h.0 > upto) {
        match blocks.last_mut() {
            Some(b) if h.0 <= b.1 => {
                b.1 = b.1.max(h.1);
                b.2 = b.2.max(h.2);
            }
            _ => blocks.push(*h),
        }
    }
    blocks.sort_by_key(|b| std::cmp::Reverse(b.2));
    Some(
        blocks
            .iter()
            .map(|b| (b.0.wrapping_add(base), b.1.wrapping_add(base)))
            .collect(),
    )
}

/// Options as a list: `NOP, NOP, timestamps TSval 1 TSecr 2`, or `none`.
#[must_use]
pub fn text(opts: &[TcpOption]) -> String {
    if opts.is_empty() {
        return "none".into();
    }
    opts.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
