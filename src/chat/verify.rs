//! `--verify`: the chat captures its own connections on `lo` and checks every frame the kernel sent
//! against the connection model, as `encap demo` does for its in-process dialogue.
//!
//! The capture runs in a [`Sniffer`] thread; the `poll()` loop takes its frames after each send and
//! receive ([`Verifier::sync`], a short wait for the frames to arrive), routes each to its
//! connection by address pair, and shows the verdicts. Once the model has seen the handshake, the
//! pipeline view of the next message uses the kernel's own numbers ([`Verifier::predict`]). When a
//! connection closes, its ladder and its summary row are shown ([`Verifier::close`]).

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::time::Duration;

use termcolor::{Color, ColorSpec, WriteColor};

use encap::model::{connection_key, Connection, Counts, FrameCheck, Kind, Side, TcpSettings};
use encap::pipeline::{encapsulate, segment, Encapsulated};
use encap::render::{ladder, verdicts};

use crate::capture::{Capture, CaptureError, Frame, Sniffer};

/// Quiet that ends a wait for frames after a send or a receive.
pub const QUIET: Duration = Duration::from_millis(120);
/// Quiet that ends the wait for the last frames of a closed connection (the final ACK).
const CLOSE_QUIET: Duration = Duration::from_millis(200);
/// The longest one wait for frames lasts, however busy the connection.
const LIMIT: Duration = Duration::from_millis(1000);
/// Frames of connections not (yet) accepted kept at most; the oldest go first.
const PENDING_LIMIT: usize = 4096;
/// Closed connections remembered, so their late frames are dropped rather than kept.
const CLOSED_LIMIT: usize = 256;

/// A connection's endpoints: (client, the side that sent the SYN; server).
type Key = (SocketAddrV4, SocketAddrV4);

/// One connection the model follows: every frame checked, for the ladder and the summary.
pub struct Followed {
    conn: Connection,
    checks: Vec<FrameCheck>,
    counts: Counts,
    number: u64,
    /// Frames the model could not take (not TCP over IPv4 or IPv6, or malformed).
    unchecked: u64,
    /// The number of the last frame checked at the previous quiet time ([`Followed::settle`]).
    settled: u64,
}

/// Why a gap is named during a live capture, not at its end.
const COMPLETE: &str = "the kernel dropped none of the captured frames, and a quiet time has passed since: no frame can fill it";

impl Followed {
    /// A connection from `client` (the side that sends the SYN) to `server`, nothing seen yet.
    #[must_use]
    /// `settings`: the host's TCP settings, when known (see [`Connection::with_settings`]).
    pub fn new(
        client: SocketAddrV4,
        server: SocketAddrV4,
        settings: Option<TcpSettings>,
    ) -> Followed {
        Followed {
            conn: Connection::new(client, server).with_settings(settings),
            checks: Vec::new(),
            counts: Counts::default(),
            number: 0,
            unchecked: 0,
            settled: 0,
        }
    }

    /// Called after a quiet time in which nothing more was captured. With `complete` (the
    /// kernel dropped none of the frames so far), a gap opened before the previous quiet time
    /// can no longer be filled by a frame late on its way to the capture (on a machine with
    /// several CPUs, a frame can wait in another CPU's queue), so it is named now, a MISMATCH
    /// at the frame that opened it, and not again at the end. Returns how many.
    ///
    /// # Errors
    /// An I/O error from `out`.
    pub fn settle<W: WriteColor>(&mut self, out: &mut W, complete: bool) -> io::Result<usize> {
        let mut named = 0;
        if complete {
            let gaps = self.conn.take_gaps(self.settled);
            verdicts::write_gaps(out, &gaps, Some(COMPLETE))?;
            named = gaps.len();
            self.counts.mismatch += named;
        }
        self.settled = self.number;
        Ok(named)
    }

    /// The model of the connection.
    #[must_use]
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The model of the connection, to tell it what a side sent.
    pub fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Every frame checked so far.
    #[must_use]
    pub fn checks(&self) -> &[FrameCheck] {
        &self.checks
    }

    /// The verdicts of every field checked so far.
    #[must_use]
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Checks one frame captured at `time` and shows its verdict: the field table for a data frame
    /// when `full`, one line otherwise. A frame the model cannot take is shown as not checked.
    ///
    /// # Errors
    /// An I/O error from `out`.
    pub fn check<W: WriteColor>(
        &mut self,
        out: &mut W,
        (time, frame): &Frame,
        full: bool,
    ) -> io::Result<()> {
        self.number += 1;
        let check = match self.conn.observe_at(self.number, Some(*time), frame) {
            Ok(c) => c,
            Err(e @ encap::model::ModelError::Duplicate(..)) => {
                return writeln!(out, "{e}");
            }
            Err(e) => {
                self.unchecked += 1;
                return writeln!(out, "frame {}: NOT CHECKED: {e}", self.number);
            }
        };
        if full && check.kind == Kind::Data {
            writeln!(
                out,
                "The frame the kernel sent, next to the model's, field by field:"
            )?;
            verdicts::table(out, &check)?;
        } else {
            verdicts::summary(out, &check)?;
        }
        self.counts.merge(check.counts());
        self.checks.push(check);
        Ok(())
    }

    /// The ladder of the connection and its row of the summary table.
    ///
    /// # Errors
    /// An I/O error from `out`.
    pub fn report<W: WriteColor>(&mut self, out: &mut W) -> io::Result<()> {
        self.counts.mismatch += verdicts::open_gaps(out, &self.conn)?;
        let (client, server) = self.conn.endpoints();
        heading(out, "the connection as a ladder (relative sequence numbers; each side's TCP state after the frame)")?;
        ladder::write(out, &client.to_string(), &server.to_string(), &self.checks)?;
        heading(out, "summary")?;
        verdicts::connections(
            out,
            &[verdicts::ConnectionRow {
                name: format!("{client} -> {server}"),
                frames: self.checks.len(),
                counts: self.counts,
            }],
        )?;
        if self.unchecked > 0 {
            writeln!(
                out,
                "{} captured frame(s) could not be checked (not well-formed TCP over IPv4 or IPv6)",
                self.unchecked
            )?;
        }
        Ok(())
    }
}

/// A heading: a blank line, then `== text` in bold.
///
/// # Errors
/// An I/O error from `out`.
pub fn heading<W: WriteColor>(out: &mut W, text: &str) -> io::Result<()> {
    writeln!(out)?;
    out.set_color(ColorSpec::new().set_bold(true))?;
    writeln!(out, "== {text}")?;
    out.reset()
}

/// The chat's capture and the connections it follows.
pub struct Verifier {
    /// The capture; `None` only in tests, which hand frames to [`Verifier::feed`] themselves.
    sniffer: Option<Sniffer>,
    full: bool,
    /// Each connection with the side this process is (0 client, 1 server).
    conns: Vec<(Key, usize, Followed)>,
    /// Frames of connections not registered yet (the server's, before `accept()`).
    pending: VecDeque<Frame>,
    closed: VecDeque<Key>,
    /// The connection whose frames were shown last, so a change of connection is announced.
    shown: Option<Key>,
    /// MISMATCH fields in the connections closed so far.
    closed_mismatches: usize,
    /// This host's TCP settings, for the model's SYN windows and window scales.
    settings: Option<TcpSettings>,
    /// No frame of the port was lost so far: the kernel dropped none, nor did `pending` when
    /// full ([`Followed::settle`]).
    complete: bool,
}

impl Verifier {
    /// Starts capturing the connections of a chat on `addr` (the address listened on or connected
    /// to), before any of them is made, and says so. When it cannot (`addr` is not loopback, no
    /// `CAP_NET_RAW`, no `lo`), says why and returns `None`: the chat goes on without the check.
    /// `full`: show the field table of each data frame. `command`: `server` or `client`, for the
    /// advice on how to run with the capability.
    ///
    /// # Errors
    /// An I/O error from `out`.
    pub fn start<W: WriteColor>(
        out: &mut W,
        addr: SocketAddrV4,
        full: bool,
        command: &str,
    ) -> io::Result<Option<Verifier>> {
        if !addr.ip().is_loopback() {
            warn(out, &format!(" --verify checks loopback connections only (it captures on lo), and {} is not a loopback address; the chat goes on without the check.", addr.ip()))?;
            return Ok(None);
        }
        match Capture::open_port("lo", Some(addr.port())) {
            Ok(cap) => {
                writeln!(out, "--verify: capturing on lo (port {}): every frame the kernel sends is checked against the model", addr.port())?;
                let mut v = Verifier::new(Some(Sniffer::start(cap, addr.port())), full);
                v.settings = super::sys::tcp_settings().ok();
                v.complete = true;
                Ok(Some(v))
            }
            Err(CaptureError::NoPermission { exe, .. }) => {
                warn(out, &format!(" this process lacks CAP_NET_RAW, which --verify needs to capture on lo. Run `sudo {exe} {command} --verify ...`, or grant it once: `sudo setcap cap_net_raw+ep {exe}` (a rebuild loses it)."))?;
                writeln!(out, "The chat goes on without the check.")?;
                Ok(None)
            }
            Err(e) => {
                warn(
                    out,
                    &format!(" cannot capture on lo ({e}); the chat goes on without the check."),
                )?;
                Ok(None)
            }
        }
    }

    fn new(sniffer: Option<Sniffer>, full: bool) -> Verifier {
        Verifier {
            sniffer,
            full,
            conns: Vec::new(),
            pending: VecDeque::new(),
            closed: VecDeque::new(),
            shown: None,
            closed_mismatches: 0,
            settings: None,
            complete: false,
        }
    }

    /// MISMATCH fields in every connection checked so far, closed or open.
    pub fn mismatches(&self) -> usize {
        self.closed_mismatches
            + self
                .conns
                .iter()
                .map(|(_, _, f)| f.counts().mismatch)
                .sum::<usize>()
    }

    /// Follows a new connection between `local` and `peer`; `server`: this process accepted it.
    pub fn add(&mut self, local: SocketAddrV4, peer: SocketAddrV4, server: bool) {
        let (key, side) = if server {
            ((peer, local), 1)
        } else {
            ((local, peer), 0)
        };
        self.closed.retain(|k| *k != key);
        self.conns.retain(|(k, _, _)| *k != key);
        self.conns
            .push((key, side, Followed::new(key.0, key.1, self.settings)));
    }

    /// Where the connection between `a` and `b` (either way round) is in `conns`.
    fn index(&self, a: SocketAddrV4, b: SocketAddrV4) -> Option<usize> {
        self.conns
            .iter()
            .position(|(k, _, _)| *k == (a, b) || *k == (b, a))
    }

    /// Tells the model what this process handed the kernel to send on the connection.
    pub fn expect_sent(&mut self, local: SocketAddrV4, peer: SocketAddrV4, bytes: &[u8]) {
        if let Some(i) = self.index(local, peer) {
            let (_, side, f) = &mut self.conns[i];
            f.conn.expect_sent(Side::from_index(*side), bytes);
        }
    }

    /// The frames `message` becomes with the numbers the model learned from the kernel (absolute
    /// seq and ack, IP ID, window, the last TSval seen), split at the MSS the peer announced;
    /// `None` until the model has seen enough of the connection.
    #[must_use]
    pub fn predict(
        &self,
        local: SocketAddrV4,
        peer: SocketAddrV4,
        message: &[u8],
    ) -> Option<Vec<Encapsulated>> {
        let (_, side, f) = &self.conns[self.index(local, peer)?];
        let side = Side::from_index(*side);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok();
        let params = f.conn.predict_data_at(side, message.len(), now)?;
        if message.len() > params.max_payload() {
            segment(message, &params, f.conn.send_mss(side)?).ok()
        } else {
            encapsulate(message, &params).ok().map(|e| vec![e])
        }
    }

    /// Takes the frames captured so far (waiting until `quiet` passes without one), checks each
    /// against its connection's model and shows the verdicts.
    ///
    /// # Errors
    /// An I/O error from `out`.
    pub fn sync<W: WriteColor>(&mut self, out: &mut W, quiet: Duration) -> io::Result<()> {
        let (fresh, quiet) = match &self.sniffer {
            Some(s) => {
                let (fresh, quiet) = s.drain_quiet(quiet, LIMIT);
                self.complete &= s.complete();
                (fresh, quiet)
            }
            None => (Vec::new(), false),
        };
        self.feed(out, fresh)?;
        if quiet {
            self.settle(out)?;
        }
        Ok(())
    }

    /// Checks `fresh` frames, after those kept for connections not registered before, in the
    /// order the kernel sent them. On lo a frame waits in the backlog of the CPU that sent it
    /// until that CPU takes it in, and the capture socket gets it then: two frames sent from
    /// two CPUs (a socket's ACK from one's softirq, its next data from its process on the
    /// other) can come in either order. Their timestamps keep the order sent: `loopback_xmit`
    /// clears the frame's time and `__netif_rx` stamps it as it enters the backlog (with
    /// `net.core.netdev_tstamp_prequeue`, 1 by default; at 0 the stamp is taken as the frame
    /// is taken in, and sorting changes nothing). (A stable sort: frames of one microsecond
    /// keep the order captured.)
    fn feed<W: WriteColor>(&mut self, out: &mut W, fresh: Vec<Frame>) -> io::Result<()> {
        let mut frames = std::mem::take(&mut self.pending);
        frames.extend(fresh);
        frames.make_contiguous().sort_by_key(|(time, _)| *time);
        for frame in frames {
            self.route(out, frame)?;
        }
        Ok(())
    }

    fn route<W: WriteColor>(&mut self, out: &mut W, frame: Frame) -> io::Result<()> {
        // The chat is IPv4: frames of IPv6 connections on the port are not its own.
        let Some((SocketAddr::V4(src), SocketAddr::V4(dst))) = connection_key(&frame.1) else {
            return Ok(());
        };
        let Some(i) = self.index(src, dst) else {
            if !self
                .closed
                .iter()
                .any(|k| *k == (src, dst) || *k == (dst, src))
            {
                if self.pending.len() == PENDING_LIMIT {
                    self.pending.pop_front();
                    self.complete = false;
                }
                self.pending.push_back(frame);
            }
            return Ok(());
        };
        let (key, _, f) = &mut self.conns[i];
        if self.shown != Some(*key) {
            out.set_color(ColorSpec::new().set_fg(Some(Color::Cyan)))?;
            writeln!(
                out,
                "-- captured on lo: {} -> {} (the kernel's frames, checked against the model)",
                key.0, key.1
            )?;
            out.reset()?;
            self.shown = Some(*key);
        }
        f.check(out, &frame, self.full)
    }

    /// After a quiet time: each connection names the gaps no frame can fill any more, if no
    /// frame was lost ([`Followed::settle`]).
    fn settle<W: WriteColor>(&mut self, out: &mut W) -> io::Result<()> {
        for (_, _, f) in &mut self.conns {
            f.settle(out, self.complete)?;
        }
        Ok(())
    }

    /// The connection between `local` and `peer` is closed: takes its last frames, shows its
    /// ladder and summary row, and stops following it.
    ///
    /// # Errors
    /// An I/O error from `out`.
    pub fn close<W: WriteColor>(
        &mut self,
        out: &mut W,
        local: SocketAddrV4,
        peer: SocketAddrV4,
    ) -> io::Result<()> {
        self.sync(out, CLOSE_QUIET)?;
        let Some(at) = self.index(local, peer) else {
            return Ok(());
        };
        let (key, _, mut f) = self.conns.remove(at);
        if self.closed.len() == CLOSED_LIMIT {
            self.closed.pop_front();
        }
        self.closed.push_back(key);
        if self.shown == Some(key) {
            self.shown = None;
        }
        if f.checks.is_empty() {
            return writeln!(out, "--verify: no frame of {} -> {} was captured on lo, so nothing was checked (it checks loopback connections only)", key.0, key.1);
        }
        let r = f.report(out);
        self.closed_mismatches += f.counts().mismatch;
        r
    }
}

fn warn<W: WriteColor>(out: &mut W, text: &str) -> io::Result<()> {
    out.set_color(ColorSpec::new().set_fg(Some(Color::Yellow)).set_bold(true))?;
    write!(out, "no check:")?;
    out.reset()?;
    writeln!(out, "{text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    use encap::capfile::CaptureReader;

    /// The frames of a capture file in the repository.
    fn frames(name: &str) -> Vec<Frame> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("captures")
            .join(name);
        let file = std::fs::File::open(&path).expect("open the capture");
        let mut r = CaptureReader::new(std::io::BufReader::new(file)).expect("a capture");
        let mut out = Vec::new();
        while let Some(p) = r.next_packet().expect("a frame") {
            out.push((p.timestamp, p.data.to_vec()));
        }
        out
    }

    fn addr(port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, port)
    }

    fn text(out: termcolor::NoColor<Vec<u8>>) -> String {
        String::from_utf8(out.into_inner()).expect("UTF-8")
    }

    /// `encap chat` between 127.0.0.1:47472 (client) and 127.0.0.1:46666 (server): hello, hi,
    /// two lines of Chinese, exit, teardown. 16 frames.
    const CHAT: &str = "chat-hello-hi.pcap";

    #[test]
    fn frames_that_arrive_before_accept_wait_for_their_connection() {
        let chat = frames(CHAT);
        let mut v = Verifier::new(None, false);
        let mut out = termcolor::NoColor::new(Vec::new());
        // The handshake is captured before the server accepts the connection.
        v.feed(&mut out, chat[..3].to_vec()).unwrap();
        assert!(out.get_ref().is_empty());
        v.add(addr(46666), addr(47472), true);
        v.feed(&mut out, chat[3..].to_vec()).unwrap();
        v.close(&mut out, addr(46666), addr(47472)).unwrap();
        let t = text(out);
        assert!(
            t.starts_with("-- captured on lo: 127.0.0.1:47472 -> 127.0.0.1:46666"),
            "{t}"
        );
        assert!(
            t.contains("frame 1: client -> server [SYN] len 0: 33/33"),
            "{t}"
        );
        assert!(t.contains("frame 16: client -> server [ACK] len 0:"), "{t}");
        // MISMATCH only as the name of the summary table's column.
        assert!(
            t.lines()
                .filter(|l| l.contains("MISMATCH"))
                .all(|l| l.starts_with("connection ")),
            "{t}"
        );
        assert!(t.contains("== the connection as a ladder"), "{t}");
        let row = t.lines().last().unwrap_or_default();
        assert!(
            row.starts_with("127.0.0.1:47472 -> 127.0.0.1:46666      16 "),
            "{t}"
        );
        assert_eq!(row.split_whitespace().nth(9), Some("0"), "{t}");
    }

    /// A verifier following the client's side of [`CHAT`], an empty output, and the frames.
    fn client_side(full: bool) -> (Verifier, termcolor::NoColor<Vec<u8>>, Vec<Frame>) {
        let mut v = Verifier::new(None, full);
        v.add(addr(47472), addr(46666), false);
        (v, termcolor::NoColor::new(Vec::new()), frames(CHAT))
    }

    /// The chat without its handshake, as a capture that started late sees it, checked and
    /// reported: its output.
    fn from_the_middle(full: bool) -> String {
        let (mut v, mut out, chat) = client_side(full);
        v.feed(&mut out, chat[3..].to_vec()).unwrap();
        v.close(&mut out, addr(47472), addr(46666)).unwrap();
        text(out)
    }

    #[test]
    fn mismatches_are_counted_for_the_exit_status() {
        let (mut v, mut out, mut chat) = client_side(false);
        assert_eq!(v.mismatches(), 0);
        // Frame 4's sequence number, one higher than the kernel could have sent.
        chat[3].1[41] = chat[3].1[41].wrapping_add(1);
        v.feed(&mut out, chat).unwrap();
        let open = v.mismatches();
        assert!(open > 0, "{}", text(out));
        let mut out = termcolor::NoColor::new(Vec::new());
        v.close(&mut out, addr(47472), addr(46666)).unwrap();
        // Still counted once the connection is closed, and the byte the wrong sequence number
        // skipped, never sent, is one more.
        assert!(v.mismatches() > open);
        let t = text(out);
        assert!(
            t.contains("MISMATCH frame 4 TCP Sequence number") && t.contains("never appeared"),
            "{t}"
        );
    }

    /// Frames a capture socket on lo took in another order than the kernel sent them: each
    /// frame waits in the backlog of the CPU that sent it, and two CPUs' backlogs are drained
    /// in either order. The kernel's timestamp is taken as the frame enters the backlog
    /// (`loopback_xmit`: `__netif_rx`, `net_timestamp_check`), so it keeps the order sent.
    #[test]
    fn frames_captured_out_of_the_order_sent_are_checked_in_the_order_sent() {
        let (mut v, mut out, mut chat) = client_side(false);
        // Frame 7, the client's ACK of "hi" (sent in softirq), captured after frame 8, its
        // 22 bytes (sent by the process on the other CPU): each keeps its own timestamp.
        chat.swap(6, 7);
        assert!(chat[6].0 > chat[7].0);
        v.feed(&mut out, chat).unwrap();
        v.close(&mut out, addr(47472), addr(46666)).unwrap();
        let t = text(out);
        assert_eq!(v.mismatches(), 0, "{t}");
        assert!(t.contains("frame 7: client -> server [ACK] len 0:"), "{t}");
        assert!(
            t.contains("frame 8: client -> server [PSH, ACK] len 22:"),
            "{t}"
        );
    }

    /// The chat with frame 4 (the client's "hello") left out, as a capture that lost it.
    fn without_hello(complete: bool) -> (String, String) {
        let (mut v, mut out, mut chat) = client_side(false);
        v.complete = complete;
        chat.remove(3);
        let rest = chat.split_off(6);
        // Two quiet times: after the first, the gap is new; after the second, it is named.
        v.feed(&mut out, chat).unwrap();
        v.settle(&mut out).unwrap();
        v.feed(&mut out, rest).unwrap();
        v.settle(&mut out).unwrap();
        let fed = text(out);
        let mut out = termcolor::NoColor::new(Vec::new());
        v.close(&mut out, addr(47472), addr(46666)).unwrap();
        (fed, text(out))
    }

    #[test]
    fn with_no_frame_dropped_a_missing_segment_is_a_mismatch_at_once() {
        // Frame 4 of the capture is now the server's ACK of the six bytes nobody saw.
        let (fed, closed) = without_hello(true);
        assert!(
            fed.lines()
                .any(|l| l.contains("MISMATCH frame 4 TCP Acknowledgment number")
                    && l.contains("the kernel dropped none")),
            "{fed}"
        );
        assert!(!closed.contains("never appeared"), "{closed}");
        // Without the kernel's word, the gap stays open until the end, and is named there.
        let (fed, closed) = without_hello(false);
        assert!(
            !fed.contains("MISMATCH frame 4 TCP Acknowledgment"),
            "{fed}"
        );
        assert!(
            closed.contains("MISMATCH frame 4 TCP Acknowledgment number")
                && closed.contains("never appeared"),
            "{closed}"
        );
    }

    #[test]
    fn a_connection_seen_from_its_middle_is_still_followed() {
        let t = from_the_middle(true);
        let verdicts = t.lines().filter(|l| l.starts_with("frame ")).count();
        assert_eq!(verdicts, 13, "{t}");
        assert!(!t.contains("NOT CHECKED"), "{t}");
        // --view full: the data frames as field tables.
        assert!(t.contains("field by field"), "{t}");
        let row = t.lines().last().unwrap_or_default();
        assert_eq!(row.split_whitespace().nth(3), Some("13"), "{t}");
    }

    #[test]
    fn a_connection_seen_from_its_middle_is_learned_from_each_sides_first_frame() {
        let t = from_the_middle(false);
        let row = t.lines().last().unwrap_or_default();
        assert_eq!(row.split_whitespace().nth(9), Some("0"), "{t}");
    }

    #[test]
    fn frames_of_other_connections_are_not_shown_and_late_frames_are_dropped() {
        let (mut v, mut out, chat) = client_side(false);
        v.feed(&mut out, chat[..15].to_vec()).unwrap();
        v.close(&mut out, addr(47472), addr(46666)).unwrap();
        let shown = out.get_ref().len();
        // The last ACK arrives after the connection was closed and reported: dropped, not kept.
        v.feed(&mut out, chat[15..].to_vec()).unwrap();
        assert_eq!(out.get_ref().len(), shown);
        assert!(v.pending.is_empty());
        // Another connection's frames wait for their connection, bounded.
        let mut other = chat[0].clone();
        other.1[14 + 20] ^= 1; // another source port
        for _ in 0..PENDING_LIMIT + 10 {
            v.feed(&mut out, vec![other.clone()]).unwrap();
        }
        assert_eq!(out.get_ref().len(), shown);
        assert_eq!(v.pending.len(), PENDING_LIMIT);
    }

    #[test]
    fn the_pipeline_uses_the_learned_numbers_once_the_handshake_is_seen() {
        let (mut v, mut out, chat) = client_side(false);
        assert!(v.predict(addr(47472), addr(46666), b"hello\n").is_none());
        v.feed(&mut out, chat[..3].to_vec()).unwrap();
        let f = v
            .predict(addr(47472), addr(46666), b"hello\n")
            .expect("a prediction after the handshake");
        // Frame 4 of the capture is this segment: the same seq, ack and IP ID.
        assert_eq!(f.len(), 1);
        let model = encap::dissect::slice(f[0].frame()).transport;
        let kernel = encap::dissect::slice(&chat[3].1).transport;
        match (model, kernel) {
            (encap::dissect::Transport::Tcp(m), encap::dissect::Transport::Tcp(k)) => {
                assert_eq!((m.seq(), m.ack()), (k.seq(), k.ack()));
            }
            other => panic!("not TCP: {other:?}"),
        }
    }
}
