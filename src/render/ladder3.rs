//! A connection across a router drawn as a ladder of three columns (host a, router r, host b):
//! each segment an arrow from its sender to the router, on the link it was sent on, and on from
//! the router to its receiver, on the other link, with the TTL or hop limit it arrived with; each
//! endpoint's TCP state beside it after the frame, and the frame numbers on both links.

use std::io;

use termcolor::WriteColor;

use crate::layers::tcp::flag_names;
use crate::model::{FrameCheck, Side, TcpState};

/// Width of each half of an arrow (sender to router, router to receiver).
const HALF: usize = 38;

/// One segment across the router.
#[derive(Debug, Clone, Copy)]
pub struct Crossing<'a> {
    /// The frame as its sender sent it (its link's check).
    pub sent: &'a FrameCheck,
    /// The same segment as the router forwarded it (the other link's check); `None`: the
    /// router dropped it.
    pub forwarded: Option<&'a FrameCheck>,
    /// `TTL 63` or `hop limit 63`: what it arrived with; for a dropped packet, what the router
    /// did instead (`dropped: MTU 1400, ICMP back`).
    pub hops: &'a str,
}

/// Writes the ladder: `names` the three columns (client's host, router, server's host),
/// `ends` the two endpoints' addresses.
///
/// # Errors
/// An I/O error from `w`.
pub fn write<W: WriteColor>(
    w: &mut W,
    names: [&str; 3],
    ends: (&str, &str),
    rows: &[Crossing<'_>],
) -> io::Result<()> {
    let half = " ".repeat(HALF);
    writeln!(
        w,
        "{:>9} {:<16}{half} {:<2}{half}  {}",
        "", names[0], names[1], names[2]
    )?;
    writeln!(w, "{:>9} {:<16}{half}   {half}  {}", "", ends.0, ends.1)?;
    let first = rows
        .first()
        .map(|r| std::slice::from_ref(r.sent))
        .unwrap_or_default();
    let [c0, s0] = crate::model::state::initial(first);
    writeln!(w, "{:>9} {:<16}{half}   {half}  {s0}", "", c0.to_string())?;
    for r in rows {
        let f = r.sent;
        let mut label = format!(" {} seq {}", flag_names(f.flags), f.rel_seq);
        if f.flags & crate::layers::tcp::field::FLG_ACK != 0 {
            label.push_str(&format!(" ack {}", f.rel_ack));
        }
        label.push_str(&format!(" len {} ", f.len));
        let hops = format!(" {} ", r.hops);
        let width = HALF - 4;
        // (A dropped packet goes no further than r: the far side's state is as it was.)
        let far = r.forwarded.map_or(f.states, |fw| fw.states);
        let (arrow, states): (String, [TcpState; 2]) = match (f.from, r.forwarded) {
            (Side::Client, Some(_)) => (
                format!("--{label:-<width$}-> r --{hops:-<width$}->"),
                [f.states[0], far[1]],
            ),
            (Side::Client, None) => (
                format!("--{label:-<width$}-> r  X{hops:<width$}  "),
                [f.states[0], far[1]],
            ),
            (Side::Server, Some(_)) => (
                format!("<-{hops:-<width$}-- r <-{label:-<width$}--"),
                [far[0], f.states[1]],
            ),
            (Side::Server, None) => (
                format!("  {hops:>width$}X  r <-{label:-<width$}--"),
                [far[0], f.states[1]],
            ),
        };
        let numbers = match r.forwarded {
            Some(fw) => format!("{}/{}", f.number, fw.number),
            None => format!("{}/-", f.number),
        };
        writeln!(
            w,
            "{numbers:>9} {:<16}{arrow}  {}",
            states[0].to_string(),
            states[1]
        )?;
    }
    Ok(())
}
