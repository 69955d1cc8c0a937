//! The connection model: handed the frames of one TCP connection in the order they were seen, it
//! learns what only the kernel can choose (both initial sequence numbers, both IP ID counters,
//! MSS, window scale, SACK-permitted, timestamps) and predicts every other field of every frame
//! in both directions. Each prediction is a whole frame built by the same pipeline as
//! `encap show`; the kernel's frame and the model's are compared field by field over the layers'
//! field tables, and every field gets a [`Verdict`].
//!
//! Pure: no sockets, no clock, no randomness. Values no model can know in advance (an ISN, a
//! TSval, a window chosen by buffer autotuning) are taken from the frame that carries them,
//! labelled as such, and checked for consistency from then on.

use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::dissect::{dissect, slice, Net, Transport};
use crate::layers::ethernet::{EtherType, EthernetHeader};
use crate::layers::tcp::{self, field as tf, TcpOption};
use crate::layers::{Field, Layer};
use crate::pipeline::{encapsulate, ChecksumMode, Params};

/// The MSS Linux announces on `lo` for IPv4 (MTU 65536 less 20 + 20 header bytes; see
/// LOOPBACK.md).
pub const LO_MSS: u16 = 65495;

/// The MSS Linux announces on `lo` for IPv6: MTU 65536 less the 40-byte IPv6 and 20-byte TCP
/// headers.
pub const LO_MSS_V6: u16 = 65476;

/// The host's TCP receive-buffer settings, from which Linux derives the window a new connection
/// offers in its SYN or SYN-ACK and the window scale it announces (`tcp_select_initial_window`).
/// Read off the host by whoever runs the model (`/proc/sys/net/ipv4/tcp_rmem`,
/// `/proc/sys/net/core/rmem_max`); without them those fields are kernel-chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSettings {
    /// `net.ipv4.tcp_rmem`: the receive buffer's minimum, default and maximum, in bytes.
    pub tcp_rmem: [u32; 3],
    /// `net.core.rmem_max`: the most `SO_RCVBUF` may ask for.
    pub rmem_max: u32,
}

impl TcpSettings {
    /// Parses the two sysctls as `/proc/sys` shows them: `"4096\t131072\t33554432"` and
    /// `"4194304"` (any whitespace or commas between the three numbers).
    ///
    /// # Errors
    /// A message naming the setting and what is wrong with it.
    pub fn parse(tcp_rmem: &str, rmem_max: &str) -> Result<TcpSettings, String> {
        let nums: Vec<u32> = tcp_rmem
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|x| !x.is_empty())
            .map(|x| {
                x.parse()
                    .map_err(|_| format!("net.ipv4.tcp_rmem: {x:?} is not a byte count"))
            })
            .collect::<Result<_, _>>()?;
        let tcp_rmem: [u32; 3] = nums.try_into().map_err(|v: Vec<u32>| {
            format!(
                "net.ipv4.tcp_rmem: expected three numbers (min, default, max), got {}",
                v.len()
            )
        })?;
        let rmem_max = rmem_max.trim().parse().map_err(|_| {
            format!(
                "net.core.rmem_max: {:?} is not a byte count",
                rmem_max.trim()
            )
        })?;
        Ok(TcpSettings { tcp_rmem, rmem_max })
    }

    /// The window space of a new socket (`tcp_full_space`): its receive buffer, `tcp_rmem[1]`,
    /// of which Linux offers half as window (the default scaling ratio, 128/256).
    #[must_use]
    pub fn full_space(&self) -> u32 {
        ((u64::from(self.tcp_rmem[1]) * 128) >> 8) as u32
    }

    /// The window a SYN or SYN-ACK offers for segments of `mss` bytes (the MSS announced, less
    /// the timestamps option on a SYN-ACK that has it): the full space rounded down to a whole
    /// number of segments, at most 65535 (a SYN's window is never scaled).
    #[must_use]
    pub fn initial_window(&self, mss: u32) -> u16 {
        let mut space = self.full_space();
        if mss > 0 && space > mss {
            space -= space % mss;
        }
        space.min(u32::from(u16::MAX)) as u16
    }

    /// The window scale a SYN or SYN-ACK announces: enough for the largest buffer the socket
    /// may grow to, `max(tcp_rmem[2], rmem_max)`, in a 16-bit field: its log2 less 15, at most 14.
    #[must_use]
    pub fn window_scale(&self) -> u8 {
        let space = self
            .full_space()
            .max(self.tcp_rmem[2])
            .max(self.rmem_max)
            .min(u32::from(u16::MAX) << 14);
        (space.max(1).ilog2().saturating_sub(15)).min(14) as u8
    }
}

/// The window a side advertises in its first segment after the handshake (`__tcp_select_window`
/// with an empty receive queue): the window its SYN offered (`rcv_ssthresh`), rounded up to a
/// whole unit of its window scale, then scaled.
#[must_use]
pub fn first_scaled_window(syn_window: u16, wscale: u8) -> u16 {
    let unit = 1u32 << wscale.min(14);
    let window = u32::from(syn_window).div_ceil(unit) * unit;
    (window >> wscale.min(14)).min(u32::from(u16::MAX)) as u16
}

/// What the comparison says of one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Equal to the model's value, computed from protocol rules and the connection's state.
    Predicted,
    /// Taken from an earlier frame and consistent with it (`seq = ISN + bytes sent`).
    Learned {
        /// From what.
        from: &'static str,
    },
    /// Chosen by the kernel where no model can know it in advance; taken from this frame.
    KernelChosen {
        /// Why it cannot be predicted.
        why: &'static str,
    },
    /// What `lo` omits or changes, predicted exactly and checked.
    Loopback {
        /// What lo does.
        why: &'static str,
    },
    /// Anything else: the model expected `expected`.
    Mismatch {
        /// The model's value, as shown to users.
        expected: String,
    },
}

impl Verdict {
    /// The short label used in tables.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Predicted => "predicted",
            Verdict::Learned { .. } => "learned",
            Verdict::KernelChosen { .. } => "kernel-chosen",
            Verdict::Loopback { .. } => "loopback",
            Verdict::Mismatch { .. } => "MISMATCH",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Predicted => f.write_str("predicted"),
            Verdict::Learned { from } => write!(f, "learned: {from}"),
            Verdict::KernelChosen { why } => write!(f, "kernel-chosen: {why}"),
            Verdict::Loopback { why } => write!(f, "loopback: {why}"),
            Verdict::Mismatch { expected } => write!(f, "MISMATCH: the model expected {expected}"),
        }
    }
}

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

/// The kind of segment a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Opens the connection.
    Syn,
    /// Answers the SYN.
    SynAck,
    /// Carries application bytes.
    Data,
    /// Acknowledges only.
    Ack,
    /// Closes one direction (possibly with data).
    Fin,
    /// Aborts.
    Rst,
}

/// One field of one frame: the kernel's value, the model's, and the verdict.
#[derive(Debug, Clone)]
pub struct FieldCheck {
    /// The layer.
    pub layer: Layer,
    /// The kernel's field.
    pub field: Field,
    /// The model's value as shown.
    pub model: String,
    /// The verdict.
    pub verdict: Verdict,
}

/// The comparison of one frame.
#[derive(Debug, Clone)]
pub struct FrameCheck {
    /// Frame number in the capture.
    pub number: u64,
    /// 0: from the client (the side that sent the SYN), 1: from the server.
    pub from: usize,
    /// What kind of segment.
    pub kind: Kind,
    /// Flags.
    pub flags: u16,
    /// Sequence number relative to the sender's ISN.
    pub rel_seq: u32,
    /// Acknowledgment number relative to the receiver's ISN (0 without ACK).
    pub rel_ack: u32,
    /// Payload length.
    pub len: usize,
    /// Each side's state after this frame.
    pub states: [TcpState; 2],
    /// Every field.
    pub fields: Vec<FieldCheck>,
    /// The frame the model built.
    pub model_frame: Vec<u8>,
    /// The CRC-32 this frame would carry as FCS on a real wire.
    pub wire_fcs: u32,
}

impl FrameCheck {
    /// How many fields have each verdict: predicted, learned, kernel-chosen, loopback, mismatch.
    #[must_use]
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for f in &self.fields {
            c.add(&f.verdict);
        }
        c
    }
}

/// Verdict counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Predicted.
    pub predicted: usize,
    /// Learned.
    pub learned: usize,
    /// Kernel-chosen.
    pub kernel: usize,
    /// Loopback.
    pub loopback: usize,
    /// MISMATCH.
    pub mismatch: usize,
}

impl Counts {
    fn add(&mut self, v: &Verdict) {
        match v {
            Verdict::Predicted => self.predicted += 1,
            Verdict::Learned { .. } => self.learned += 1,
            Verdict::KernelChosen { .. } => self.kernel += 1,
            Verdict::Loopback { .. } => self.loopback += 1,
            Verdict::Mismatch { .. } => self.mismatch += 1,
        }
    }

    /// All fields.
    #[must_use]
    pub fn total(&self) -> usize {
        self.predicted + self.learned + self.kernel + self.loopback + self.mismatch
    }

    /// The share of fields predicted or learned, in percent: of all fields, and of the fields
    /// `lo` leaves as a wire would have them (all but the loopback ones, which the model
    /// predicts exactly too, as lo has them).
    #[must_use]
    pub fn shares(&self) -> (f64, f64) {
        let pct = |n: usize, of: usize| {
            if of == 0 {
                0.0
            } else {
                100.0 * n as f64 / of as f64
            }
        };
        let known = self.predicted + self.learned;
        (
            pct(known, self.total()),
            pct(known, self.total() - self.loopback),
        )
    }

    /// Adds another count.
    pub fn merge(&mut self, o: Counts) {
        self.predicted += o.predicted;
        self.learned += o.learned;
        self.kernel += o.kernel;
        self.loopback += o.loopback;
        self.mismatch += o.mismatch;
    }
}

/// Bytes of one side's stream that a frame skipped and no later frame brought: a sequence
/// number that was wrong, or a segment the capture missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// The frame that skipped them.
    pub frame: u64,
    /// 0: the client's stream, 1: the server's.
    pub from: usize,
    /// The sequence number the model expected there.
    pub start: u32,
    /// Where the frame's bytes began (or, `acked`, what it acknowledged).
    pub end: u32,
    /// The frame is the peer's ACK of bytes the capture never showed, not a segment ahead.
    pub acked: bool,
}

impl Gap {
    /// The field the gap is reported on: the frame's sequence or acknowledgment number.
    #[must_use]
    pub fn key(&self) -> &'static str {
        if self.acked {
            "tcp.ack_raw"
        } else {
            "tcp.seq_raw"
        }
    }

    /// What can have left it open.
    #[must_use]
    pub fn why(&self) -> &'static str {
        if self.acked {
            "a segment the capture missed, or a wrong acknowledgment number"
        } else {
            "a wrong sequence number, or a segment the capture missed"
        }
    }
}

/// Why a frame cannot be checked at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// Not IPv4 or IPv6 TCP (without IPv6 extension headers), or malformed.
    #[error("frame {0} is not a well-formed TCP frame over IPv4 or IPv6")]
    NotTcp(u64),
    /// Not of this connection.
    #[error("frame {0} belongs to another connection")]
    OtherConnection(u64),
    /// The same bytes as an earlier frame: captured twice.
    #[error("frame {0} is byte for byte frame {1}: captured twice (as a capture on \"any\", or a raw socket on lo, sees frames), not checked again")]
    Duplicate(u64, u64),
}

/// What the model knows of one side.
#[derive(Debug, Clone)]
struct Side {
    addr: SocketAddr,
    isn: Option<u32>,
    /// Next sequence number this side will use (after SYN, data and FIN seen so far).
    next_seq: u32,
    /// Sequence boundaries this side reached, most recent last: what the peer may acknowledge.
    boundaries: VecDeque<u32>,
    next_id: Option<u16>,
    tsvals: VecDeque<u32>,
    /// The capture time and TSval of this side's first timestamp: its clock's origin.
    ts_clock: Option<(Duration, u32)>,
    window: Option<u16>,
    /// The window this side offered in its SYN or SYN-ACK (never scaled).
    syn_window: Option<u16>,
    /// Whether this side has sent a segment since its SYN or SYN-ACK.
    after_syn: bool,
    /// The IPv6 flow label of this side's segments.
    flow: Option<u32>,
    /// The right edge of the window this side last offered: its ACK plus its scaled window.
    wnd_edge: Option<u32>,
    /// The acknowledgment number of this side's latest segment that had ACK.
    last_ack: Option<u32>,
    /// This side's FIN was acknowledged before the peer's FIN came: FIN_WAIT_2 was reached.
    fin_wait2: bool,
    /// Sequence ranges of this side's stream not seen yet, skipped by a later segment (sent
    /// out of order, or missed by the capture), with the frame that skipped them.
    /// The last number is true when the peer acknowledged them: it has the bytes, only the
    /// capture lacks them.
    holes: Vec<(u32, u32, u64, bool)>,
    /// A duplicate range this side received again and reports in its next ACK (D-SACK).
    dsack: Option<(u32, u32)>,
    /// The capture missed segments of this side since its last frame (its IP ID may skip).
    missed: bool,
    /// The DSCP and TTL (hop limit) of this socket's packets, once seen.
    dscp_ttl: Option<(u8, u8)>,
    /// For each TSval of this side, the end of the first in-order segment that carried it:
    /// a peer echoing that TSval has received at least that far (RFC 7323 TS.Recent).
    ts_marks: VecDeque<(u32, u32)>,
    /// IP IDs this side skipped (a frame came with a higher one) and the frame that did: they
    /// come later (captured out of order) or never (a MISMATCH at the end).
    skipped_ids: Vec<(u16, u64)>,
    /// The byte ranges of this side's latest data segments, in the order they were captured:
    /// what the peer can have received when it acknowledges.
    sent: VecDeque<(u32, u32)>,
    /// The window scale this side announced in its SYN.
    wscale: Option<u8>,
    /// The largest window this side has advertised, scaled (the kernel's `max_window` of its
    /// peer's socket).
    max_window: u32,
    mss: Option<u16>,
    state: TcpState,
    fin_seq: Option<u32>,
}

impl Side {
    fn new(addr: SocketAddr, state: TcpState) -> Side {
        Side {
            addr,
            isn: None,
            next_seq: 0,
            boundaries: VecDeque::new(),
            next_id: None,
            tsvals: VecDeque::new(),
            window: None,
            syn_window: None,
            after_syn: false,
            flow: None,
            wnd_edge: None,
            last_ack: None,
            fin_wait2: false,
            holes: Vec::new(),
            dsack: None,
            missed: false,
            sent: VecDeque::new(),
            dscp_ttl: None,
            skipped_ids: Vec::new(),
            ts_marks: VecDeque::new(),
            wscale: None,
            max_window: 0,
            mss: None,
            state,
            fin_seq: None,
            ts_clock: None,
        }
    }
    fn remember_boundary(&mut self) {
        if self.boundaries.back() != Some(&self.next_seq) {
            self.boundaries.push_back(self.next_seq);
            if self.boundaries.len() > 256 {
                self.boundaries.pop_front();
            }
        }
    }
}

/// What the verdict of a field depends on besides the field itself.
struct Context<'a> {
    kind: Kind,
    from: usize,
    segment: &'a tcp::TcpSegment<'a>,
    payload_predicted: bool,
    ack_ok: bool,
    timewait_reply: bool,
    /// How this frame's TSval stands against the sender's clock, when frame times are known.
    tsval_clock: TsvalClock,
    /// The window the model predicts for this frame, if any.
    window_pred: Option<u16>,
    /// This packet's length is where the kernel cut a large write, not the model's segment.
    gso_cut: bool,
    /// How many writes this packet carries when more than one (Nagle, autocorking).
    coalesced: usize,
    /// An RST from the kernel's control socket: no socket had the connection.
    ctl_rst: bool,
    /// A keepalive or zero-window probe.
    probe: bool,
    /// Ahead of the next sequence number: bytes before it are not in the capture (yet).
    gap: bool,
    /// Fills a gap left by the frame with this number.
    fills: Option<u64>,
    /// A retransmitted SYN or SYN-ACK.
    syn_again: bool,
    /// Bytes sent again.
    retrans: bool,
    /// Acknowledges bytes the capture has not shown.
    ack_ahead: bool,
    /// Over IPv4.
    v4: bool,
    /// An older IP ID one of this side's skipped IDs accounts for.
    id_late: bool,
    /// An ACK older than this side's previous one, captured after it.
    stale: bool,
    /// An IP ID a little ahead of this side's counter.
    id_ahead: bool,
    /// The MSS option is below lo's: asked for by the application or the route.
    mss_app: bool,
    /// A SYN or SYN-ACK with a TCP Fast Open option.
    tfo_seen: bool,
    /// The frame's DSCP and TTL (hop limit).
    dscp_ttl: (u8, u8),
    /// The window's edge moved left of this one, offered before.
    shrunk: Option<u32>,
}

/// A TSval against the sender's clock: Linux's TCP timestamps count milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TsvalClock {
    /// No frame time, or the first TSval of this side: nothing to compare with.
    Unknown,
    /// Within [`TSVAL_SLACK_MS`] of the first TSval plus the milliseconds since.
    OnTime,
}

/// How far (ms) a TSval may be from the sender's clock as the capture times show it: the TSval
/// is taken when the segment is built, the capture time when it arrives, and both clocks tick
/// in whole milliseconds.
pub const TSVAL_SLACK_MS: u32 = 2;

/// One TCP connection, as the model follows it.
#[derive(Debug, Clone)]
pub struct Connection {
    sides: [Side; 2],
    timestamps: bool,
    sack: bool,
    /// The SYN asked for ECN (ECE and CWR set: net.ipv4.tcp_ecn = 1 on the client).
    ecn_asked: bool,
    /// Both sides agreed on ECN: data segments go out ECN-capable, ECT(0).
    ecn: bool,
    /// The application bytes each side is expected to send next (live mode), if known.
    expected: [Option<VecDeque<u8>>; 2],
    /// The writes not yet wholly sent, oldest first: bytes left, and the segment size Linux
    /// fixed for them when the application wrote (`size_goal`, from `mss_now` at that moment).
    /// The last frame seen, and its number: a copy of it is a frame captured twice.
    last_frame: Option<(u64, Vec<u8>)>,
    /// A third number: the write's whole size.
    writes: [VecDeque<(usize, Option<usize>, usize)>; 2],
    /// The host's receive-buffer settings, when known: SYN windows and window scales predicted.
    settings: Option<TcpSettings>,
}

fn kind_of(flags: u16, len: usize) -> Kind {
    if flags & tf::FLG_RST != 0 {
        Kind::Rst
    } else if flags & tf::FLG_SYN != 0 {
        if flags & tf::FLG_ACK != 0 {
            Kind::SynAck
        } else {
            Kind::Syn
        }
    } else if flags & tf::FLG_FIN != 0 {
        Kind::Fin
    } else if len > 0 {
        Kind::Data
    } else {
        Kind::Ack
    }
}

impl Connection {
    /// A connection from `client` (the side that sends the SYN) to `server`.
    #[must_use]
    pub fn new(client: impl Into<SocketAddr>, server: impl Into<SocketAddr>) -> Connection {
        let (client, server) = (client.into(), server.into());
        Connection {
            sides: [
                Side::new(client, TcpState::Closed),
                Side::new(server, TcpState::Listen),
            ],
            timestamps: false,
            sack: false,
            ecn_asked: false,
            ecn: false,
            expected: [None, None],
            writes: [VecDeque::new(), VecDeque::new()],
            settings: None,
            last_frame: None,
        }
    }

    /// The same connection on a host with these TCP settings: the windows of the SYN and
    /// SYN-ACK and both window scales are then predicted, not taken from the frames.
    #[must_use]
    pub fn with_settings(mut self, settings: Option<TcpSettings>) -> Connection {
        self.settings = settings;
        self
    }

    /// The gaps still open: for each, the frame whose sequence number skipped bytes that never
    /// came. Ask once the connection's frames are all seen.
    #[must_use]
    pub fn open_gaps(&self) -> Vec<Gap> {
        let mut gaps: Vec<Gap> = (0..2)
            .flat_map(|from| {
                self.sides[from]
                    .holes
                    .iter()
                    .map(move |&(start, end, frame, acked)| Gap {
                        frame,
                        from,
                        start,
                        end,
                        acked,
                    })
            })
            .collect();
        gaps.sort_by_key(|g| g.frame);
        gaps
    }

    /// IP IDs a frame skipped that no later frame of that socket carried: for each frame, the
    /// side (0 client, 1 server) and the IDs. Ask once the connection's frames are all seen.
    #[must_use]
    pub fn open_ids(&self) -> Vec<(u64, usize, Vec<u16>)> {
        let mut out: Vec<(u64, usize, Vec<u16>)> = Vec::new();
        for from in 0..2 {
            for &(id, frame) in &self.sides[from].skipped_ids {
                match out.iter_mut().find(|(f, s, _)| *f == frame && *s == from) {
                    Some(entry) => entry.2.push(id),
                    None => out.push((frame, from, vec![id])),
                }
            }
        }
        out.sort_by_key(|e| e.0);
        out
    }

    /// The two endpoints: client, server.
    #[must_use]
    pub fn endpoints(&self) -> (SocketAddr, SocketAddr) {
        (self.sides[0].addr, self.sides[1].addr)
    }

    /// Tells the model what the application on side `from` (0 client, 1 server) wrote, so that
    /// the payload of its next data segments is predicted rather than taken from the frame.
    pub fn expect_sent(&mut self, from: usize, bytes: &[u8]) {
        self.expected[from & 1]
            .get_or_insert_with(VecDeque::new)
            .extend(bytes.iter().copied());
        if !bytes.is_empty() {
            let segment = self.send_mss(from & 1);
            self.writes[from & 1].push_back((bytes.len(), segment, bytes.len()));
        }
    }

    /// The parameters of the next data segment side `from` (0 client, 1 server) would send,
    /// with every number the model has learned: `None` until it has seen enough of both sides.
    /// TSval is the kernel's clock: the last value seen stands in for it. See
    /// [`Connection::predict_data_at`] to have it read off the sender's clock.
    #[must_use]
    pub fn predict_data(&self, from: usize, len: usize) -> Option<Params> {
        self.predict_data_at(from, len, None)
    }

    /// [`Connection::predict_data`] for a segment sent at `now` (on the clock of the frame times
    /// given to [`Connection::observe_at`]): TSval is then the sender's first TSval plus the
    /// milliseconds since, as the kernel's millisecond clock will have it.
    #[must_use]
    pub fn predict_data_at(
        &self,
        from: usize,
        len: usize,
        now: Option<Duration>,
    ) -> Option<Params> {
        let (me, peer) = (&self.sides[from & 1], &self.sides[1 - (from & 1)]);
        peer.isn?;
        let mut p = Params::between_any(me.addr, peer.addr);
        p.checksum = ChecksumMode::Offloaded;
        match &mut p.ipv6 {
            Some(v6) => v6.flow_label = me.flow?,
            None => p.ip.identification = me.next_id?,
        }
        p.tcp.seq = me.next_seq;
        p.tcp.ack = peer.next_seq;
        p.tcp.window = me.window?;
        let tsval = match (now, me.ts_clock) {
            (Some(now), Some((t0, v0))) => v0.wrapping_add(
                u32::try_from(now.saturating_sub(t0).as_millis()).unwrap_or(u32::MAX),
            ),
            _ => me.tsvals.back().copied().unwrap_or(0),
        };
        p.tcp.options = if self.timestamps {
            crate::pipeline::linux_data_options(tsval, peer.tsvals.back().copied().unwrap_or(0))
        } else {
            Vec::new()
        };
        (len <= p.max_payload() || self.send_mss(from).is_some()).then_some(p)
    }

    /// The most payload side `from` puts in one segment (Linux's `mss_now`): the MSS its peer
    /// announced, less the timestamps option when it is on, and no more than half the largest
    /// window the peer has advertised (`tcp_bound_to_half_wnd`). On `lo` a large write leaves
    /// as packets of this size, the last one carrying the rest.
    #[must_use]
    pub fn send_mss(&self, from: usize) -> Option<usize> {
        let peer = &self.sides[1 - (from & 1)];
        // The peer's MSS, or this side's own when smaller (its route's, or TCP_MAXSEG set by
        // the application, which its SYN announces too).
        let own = self.sides[from & 1].mss.unwrap_or(u16::MAX);
        let mss = usize::from(peer.mss?.min(own))
            .saturating_sub(if self.timestamps { 12 } else { 0 })
            .max(1);
        let half_window = usize::try_from(peer.max_window / 2).unwrap_or(usize::MAX);
        Some(if half_window > 0 {
            mss.min(half_window)
        } else {
            mss
        })
    }

    /// Checks one frame of this connection and learns from it.
    ///
    /// # Errors
    /// [`ModelError`] when the frame is not a TCP frame (over IPv4 or IPv6) of this connection.
    pub fn observe(&mut self, number: u64, frame: &[u8]) -> Result<FrameCheck, ModelError> {
        self.observe_at(number, None, frame)
    }

    /// [`Connection::observe`] for a frame captured at `time` (since any fixed origin, such as
    /// the Unix epoch). With frame times the model learns each side's TSval clock from its first
    /// timestamp and predicts every later TSval as that value plus the milliseconds since.
    ///
    /// # Errors
    /// [`ModelError`] when the frame is not a TCP frame (over IPv4 or IPv6) of this connection.
    pub fn observe_at(
        &mut self,
        number: u64,
        time: Option<Duration>,
        frame: &[u8],
    ) -> Result<FrameCheck, ModelError> {
        let s = slice(frame);
        let (Transport::Tcp(t), None) = (s.transport, &s.error) else {
            return Err(ModelError::NotTcp(number));
        };
        if let Some((n, last)) = &self.last_frame {
            if last.as_slice() == frame {
                return Err(ModelError::Duplicate(number, *n));
            }
        }
        // What the network layer says: the source, IPv4's identification or IPv6's flow label.
        // The DSCP and TTL (hop limit) this frame carries.
        let (f_dscp, f_ttl) = match &s.net {
            Net::Ipv4(ip) => (ip.header()[1] >> 2, ip.header()[8]),
            Net::Ipv6(_, b) => (((b[0] & 0x0f) << 2) | (b[1] >> 6), b[7]),
            _ => (0, 64),
        };
        let (src_ip, ip_id, flow) = match &s.net {
            Net::Ipv4(ip) => (IpAddr::V4(ip.source()), Some(ip.identification()), None),
            Net::Ipv6(ip, b) if ip.extensions.is_empty() => (
                IpAddr::V6(ip.source),
                None,
                Some(u32::from_be_bytes([0, b[1] & 0x0f, b[2], b[3]])),
            ),
            _ => return Err(ModelError::NotTcp(number)),
        };
        let src = SocketAddr::new(src_ip, t.src_port());
        let from = if src == self.sides[0].addr {
            0
        } else if src == self.sides[1].addr {
            1
        } else {
            return Err(ModelError::OtherConnection(number));
        };
        let to = 1 - from;
        let payload = t.payload();
        let flags = t.flags();
        let kind = kind_of(flags, payload.len());
        let opts: Vec<TcpOption> = tcp::options(t.options_raw())
            .filter_map(|o| o.ok().map(|(_, o)| o))
            .collect();
        let seen_tsval = opts.iter().find_map(|o| {
            if let TcpOption::Timestamps { tsval, .. } = o {
                Some(*tsval)
            } else {
                None
            }
        });
        let seen_wscale = opts.iter().find_map(|o| {
            if let TcpOption::WindowScale(s) = o {
                Some(*s)
            } else {
                None
            }
        });

        // An RST from a side that has no socket for this connection (nothing listened, or its
        // socket is gone) comes from the kernel's control socket (tcp_v4_send_reset): no
        // options, window 0, over IPv4 IP ID 0 and a full checksum.
        // So does one from a side that has sent its FIN: data reaching a socket closed for
        // receiving (or its TIME_WAIT stand-in) is answered by tcp_v4_send_reset.
        let ctl_rst = kind == Kind::Rst
            && (self.sides[from].isn.is_none()
                || matches!(
                    self.sides[from].state,
                    TcpState::Closed
                        | TcpState::FinWait1
                        | TcpState::FinWait2
                        | TcpState::Closing
                        | TcpState::TimeWait
                ));
        // A SYN or SYN-ACK again with the same ISN: a retransmission (no answer came in time).
        let syn_again =
            matches!(kind, Kind::Syn | Kind::SynAck) && self.sides[from].isn == Some(t.seq());

        // Learn what only this frame can tell.
        if ctl_rst {
            // Nothing to learn: the control socket has no sequence space of its own.
        } else if matches!(kind, Kind::Syn | Kind::SynAck) {
            self.sides[from].isn = Some(t.seq());
            self.sides[from].next_seq = t.seq();
            if kind == Kind::Syn {
                self.timestamps = seen_tsval.is_some();
                self.sack = opts.contains(&TcpOption::SackPermitted);
                self.ecn_asked = flags & (tf::FLG_ECE | tf::FLG_CWR) == tf::FLG_ECE | tf::FLG_CWR;
            } else {
                self.timestamps &= seen_tsval.is_some();
                self.sack &= opts.contains(&TcpOption::SackPermitted);
                self.ecn = self.ecn_asked && flags & tf::FLG_ECE != 0;
            }
            self.sides[from].mss = opts.iter().find_map(|o| {
                if let TcpOption::Mss(m) = o {
                    Some(*m)
                } else {
                    None
                }
            });
        } else if self.sides[from].isn.is_none() {
            // No handshake in the capture: the first frame of each side teaches its numbers,
            // whether timestamps are on, and (by its acknowledgment) where the peer stands.
            self.sides[from].isn = Some(t.seq().wrapping_sub(1));
            self.sides[from].next_seq = t.seq();
            self.timestamps |= seen_tsval.is_some();
            if self.sides[to].isn.is_none() && flags & tf::FLG_ACK != 0 {
                self.sides[to].isn = Some(t.ack().wrapping_sub(1));
                self.sides[to].next_seq = t.ack();
                self.sides[to].remember_boundary();
            }
            if let (Some(echo), true) = (t_tsecr(&t), self.sides[to].tsvals.is_empty()) {
                self.sides[to].tsvals.push_back(echo);
            }
            // Both sides are past the handshake the capture does not hold.
            for side in &mut self.sides {
                if matches!(side.state, TcpState::Closed | TcpState::Listen) {
                    side.state = TcpState::Established;
                }
            }
        }

        // The model's frame.
        let me = &self.sides[from];
        let peer = &self.sides[to];
        let mut p = Params::between_any(me.addr, peer.addr);
        p.checksum = ChecksumMode::Offloaded;
        if let Some(v6) = &mut p.ipv6 {
            // A socket's flow label is a hash of its random txhash: the first frame of each
            // side shows it, and it stays (net.ipv6.auto_flowlabels).
            // A retransmitted SYN is sent with a new one (sk_rethink_txhash).
            v6.flow_label = if syn_again || ctl_rst {
                flow.unwrap_or(0)
            } else {
                me.flow.or(flow).unwrap_or(0)
            };
        }
        p.ethernet = EthernetHeader {
            destination: [0; 6],
            source: [0; 6],
            ethertype: EtherType::Ipv4,
        };
        // A socket's DSCP and TTL are the application's (IP_TOS, IP_TTL, IPV6_TCLASS,
        // IPV6_UNICAST_HOPS) or the host's defaults: its first frame shows them, and they stay.
        // The control socket uses the defaults.
        let (dscp, ttl) = if ctl_rst {
            (0, 64)
        } else {
            me.dscp_ttl.unwrap_or((f_dscp, f_ttl))
        };
        p.ip.dscp = dscp;
        p.ip.ttl = ttl;
        if let Some(v6) = &mut p.ipv6 {
            v6.traffic_class = dscp << 2;
            v6.hop_limit = ttl;
        }
        // Once a side's FIN is acknowledged, a socket the application has closed is replaced by
        // a TIME_WAIT mini-socket, and the kernel answers for it through its control socket
        // (ip_send_unicast_reply): IP ID 0 and a full checksum. Whether the application closed
        // or only shut down, the frame shows.
        // Only a socket whose FIN was acknowledged before the peer's FIN came reaches
        // FIN_WAIT_2 and, closed, becomes a mini-socket; a FIN+ACK answering its FIN in
        // FIN_WAIT_1 is acknowledged by the full socket (tcp_rcv_state_process).
        let timewait_reply = kind == Kind::Ack
            && me.fin_wait2
            && matches!(me.state, TcpState::FinWait2 | TcpState::TimeWait)
            && ip_id == Some(0);
        p.ip.identification = match (kind, me.next_id) {
            (Kind::SynAck, _) => 0,
            _ if timewait_reply || ctl_rst => 0,
            (_, Some(id)) => id,
            (_, None) => ip_id.unwrap_or(0),
        };
        if (timewait_reply || ctl_rst) && p.ipv6.is_none() {
            p.checksum = ChecksumMode::Full;
        }
        // A keepalive or zero-window probe: an empty ACK one below the next sequence number
        // (snd_una - 1), a byte the peer already has, to draw its ACK (tcp_xmit_probe_skb).
        let probe = kind == Kind::Ack
            && payload.is_empty()
            && me.isn.is_some()
            && t.seq() == me.next_seq.wrapping_sub(1);
        // A segment ahead of the next sequence number: the bytes between were sent out of
        // order (they follow) or the capture missed them. One that fills such a gap.
        let ahead = t.seq().wrapping_sub(me.next_seq);
        let gap = !matches!(kind, Kind::Syn | Kind::SynAck | Kind::Rst)
            && !probe
            && me.isn.is_some()
            && ahead != 0
            && ahead < 1 << 30;
        let fills = me
            .holes
            .iter()
            .find(|(start, end, ..)| {
                t.seq().wrapping_sub(*start) < end.wrapping_sub(*start) && !payload.is_empty()
            })
            .map(|h| h.2);
        // Bytes behind the next sequence number, not filling a gap: sent again (an RTO, or a
        // tail loss probe).
        let behind = me.next_seq.wrapping_sub(t.seq());
        let retrans = fills.is_none()
            && !probe
            && !matches!(kind, Kind::Syn | Kind::SynAck | Kind::Rst)
            && me.isn.is_some()
            && behind != 0
            && behind < 1 << 30
            && (!payload.is_empty() || flags & tf::FLG_FIN != 0);
        // An acknowledgment of bytes the capture has not shown (yet): missed, or captured
        // after this ACK.
        let ack_ahead = flags & tf::FLG_ACK != 0
            && !matches!(kind, Kind::Syn | Kind::Rst)
            && peer.isn.is_some()
            && {
                let d = t.ack().wrapping_sub(peer.next_seq);
                d != 0 && d < 1 << 30
            };
        // An ACK acknowledging less than this side's previous one was built before it and
        // captured after it (frames can pass each other on the way to the capture): its
        // window and IP ID are older, no news.
        let stale = flags & tf::FLG_ACK != 0
            && me
                .last_ack
                .is_some_and(|a| a.wrapping_sub(t.ack()) != 0 && a.wrapping_sub(t.ack()) < 1 << 30);
        // An IP ID behind the counter that one of this side's skipped IDs accounts for: a frame
        // captured after a later one. An IP ID a little ahead: frames of this socket not in the
        // capture yet; the IDs skipped are kept and reported if they never come.
        let id_late = match (ip_id, me.next_id) {
            (Some(id), Some(_)) => me.skipped_ids.iter().any(|(s, _)| *s == id),
            _ => false,
        };
        let id_ahead = match (ip_id, me.next_id) {
            (Some(id), Some(next)) if !matches!(kind, Kind::SynAck) => {
                let d = id.wrapping_sub(next);
                (1..=8).contains(&d)
            }
            _ => false,
        };
        if (fills.is_some() || me.missed || gap || stale || id_late || id_ahead) && ip_id.is_some()
        {
            p.ip.identification = ip_id.unwrap_or(0);
        }
        p.tcp.seq = if probe || gap || retrans || fills.is_some() {
            t.seq()
        } else {
            me.next_seq
        };
        p.tcp.ack = if kind == Kind::Syn { 0 } else { t.ack() };
        let ack_ok =
            kind == Kind::Syn || peer.boundaries.contains(&t.ack()) || t.ack() == peer.next_seq;
        if !ack_ok && !ack_ahead && kind != Kind::Syn {
            p.tcp.ack = peer.next_seq;
        }
        // ECN (RFC 3168): a SYN asks with ECE and CWR, the SYN-ACK agrees with ECE (Linux's
        // default, tcp_ecn = 2, agrees when asked); then data segments are sent ECT(0).
        let ecn_syn = if kind == Kind::Syn {
            flags & (tf::FLG_ECE | tf::FLG_CWR)
        } else if kind == Kind::SynAck && self.ecn_asked {
            tf::FLG_ECE
        } else {
            0
        };
        if self.ecn && !payload.is_empty() && !retrans && kind != Kind::Rst {
            p.ip.ecn = 2;
            if let Some(v6) = &mut p.ipv6 {
                v6.traffic_class |= 2;
            }
        }
        // Urgent data (MSG_OOB) is the application's: URG and the pointer past the urgent
        // byte, taken from the frame.
        // (Linux points just past the last urgent byte: within the segment, never 0.)
        let urgent =
            flags & tf::FLG_URG != 0 && (1..=payload.len()).contains(&usize::from(t.urgent()));
        if urgent {
            p.tcp.urgent = t.urgent();
        }
        p.tcp.flags = ecn_syn
            | if urgent { tf::FLG_URG } else { 0 }
            | match kind {
                Kind::Syn => tf::FLG_SYN,
                Kind::SynAck => tf::FLG_SYN | tf::FLG_ACK,
                Kind::Data if flags & tf::FLG_PSH == 0 => tf::FLG_ACK,
                Kind::Data => tf::FLG_PSH | tf::FLG_ACK,
                Kind::Ack => tf::FLG_ACK,
                Kind::Fin => {
                    tf::FLG_FIN | tf::FLG_ACK | if payload.is_empty() { 0 } else { tf::FLG_PSH }
                }
                // The control socket answers a segment without ACK with RST+ACK, one with ACK
                // with a bare RST; a socket resetting its connection sends RST+ACK.
                Kind::Rst if ctl_rst && peer.last_ack.is_some() => tf::FLG_RST,
                Kind::Rst => tf::FLG_RST | tf::FLG_ACK,
            };
        if ctl_rst {
            // It answers the segment that reached no socket: seq its acknowledgment (or 0),
            // ack its end.
            p.tcp.seq = peer.last_ack.unwrap_or(0);
            p.tcp.ack = if peer.last_ack.is_some() {
                0
            } else {
                peer.next_seq
            };
            p.tcp.window = 0;
        }
        // The window. A SYN's or SYN-ACK's follows from the host's settings and the MSS it
        // announces (less the timestamps option on a SYN-ACK that carries it); a side's first
        // segment after the handshake offers its SYN's window rounded up to its scale. Any
        // later one is the receive buffer's free space, which autotuning and unread data move:
        // the frame's, checked against nothing.
        let window_pred = match (kind, self.settings, self.sides[from].mss) {
            (Kind::Syn | Kind::SynAck, Some(set), Some(mss)) => {
                let less = if kind == Kind::SynAck && seen_tsval.is_some() {
                    12
                } else {
                    0
                };
                Some(set.initial_window(u32::from(mss).saturating_sub(less)))
            }
            (Kind::Syn | Kind::SynAck, ..) => None,
            _ => match (
                me.syn_window,
                me.after_syn,
                self.sides[0].wscale,
                self.sides[1].wscale,
            ) {
                (Some(w), false, Some(_), Some(_)) => {
                    Some(first_scaled_window(w, me.wscale.unwrap_or(0)))
                }
                _ => None,
            },
        };
        p.tcp.window = match (kind, window_pred) {
            _ if ctl_rst => 0,
            (Kind::Syn | Kind::SynAck, Some(w)) => w,
            _ => t.window(),
        };
        // The echo is the peer's most recent TSval, or an earlier one when this segment was
        // built before the peer's latest arrived; anything else the peer never sent.
        let peer_tsval = match t_tsecr(&t) {
            Some(e) if peer.tsvals.contains(&e) => e,
            _ => peer.tsvals.back().copied().unwrap_or(0),
        };
        // The sender's clock, learned from its first TSval: a TSval within the slack of it is
        // kept (the model cannot know the sub-millisecond phase); any other is replaced by the
        // clock's value, which the comparison then shows as a MISMATCH.
        let (tsval, tsval_clock) = match (seen_tsval, time, me.ts_clock) {
            (Some(v), Some(t), Some((t0, v0))) => {
                let expected = v0.wrapping_add(
                    u32::try_from(t.saturating_sub(t0).as_millis()).unwrap_or(u32::MAX),
                );
                let off = v.wrapping_sub(expected);
                if off <= TSVAL_SLACK_MS || off.wrapping_neg() <= TSVAL_SLACK_MS {
                    (v, TsvalClock::OnTime)
                } else {
                    (expected, TsvalClock::OnTime)
                }
            }
            (v, ..) => (v.unwrap_or(0), TsvalClock::Unknown),
        };
        let lo_mss = if p.ipv6.is_some() { LO_MSS_V6 } else { LO_MSS };
        // An MSS below lo's was asked for: by the application (TCP_MAXSEG) or the route.
        let own_mss = self.sides[from].mss.filter(|&m| m < lo_mss);
        let mss_app = own_mss.is_some() && matches!(kind, Kind::Syn | Kind::SynAck);
        // Which options a SYN carries follows the sender's sysctls (tcp_timestamps, tcp_sack,
        // tcp_window_scaling; a SYN-ACK only those the SYN offered): where each goes follows
        // tcp_options_write.
        // A Fast Open cookie request or cookie: the application's and the server's choice.
        let tfo = opts
            .iter()
            .find(|o| matches!(o, TcpOption::Unknown { kind: 34, .. }))
            .filter(|_| matches!(kind, Kind::Syn | Kind::SynAck))
            .cloned();
        let tfo_seen = tfo.is_some();
        let syn_opts = |ts: Option<TcpOption>, sack: bool, ws: Option<u8>| {
            let mut o = vec![TcpOption::Mss(own_mss.unwrap_or(lo_mss))];
            match (ts, sack) {
                (Some(ts), true) => o.extend([TcpOption::SackPermitted, ts]),
                (Some(ts), false) => o.extend([TcpOption::Nop, TcpOption::Nop, ts]),
                (None, true) => {
                    o.extend([TcpOption::Nop, TcpOption::Nop, TcpOption::SackPermitted])
                }
                (None, false) => {}
            }
            if let Some(ws) = ws {
                o.extend([TcpOption::Nop, TcpOption::WindowScale(ws)]);
            }
            // TCP Fast Open (RFC 7413) goes last, padded with NOPs to a 32-bit word.
            if let Some(tfo) = &tfo {
                o.push(tfo.clone());
                if tfo.len() % 4 == 2 {
                    o.extend([TcpOption::Nop, TcpOption::Nop]);
                }
            }
            o
        };
        let ws = seen_wscale.map(|w| self.settings.map_or(w, |set| set.window_scale()));
        let sack_seen = opts.contains(&TcpOption::SackPermitted);
        p.tcp.options = match kind {
            Kind::Syn => syn_opts(
                seen_tsval.map(|_| TcpOption::Timestamps { tsval, tsecr: 0 }),
                sack_seen,
                ws,
            ),
            Kind::SynAck => syn_opts(
                seen_tsval.map(|_| TcpOption::Timestamps {
                    tsval,
                    tsecr: peer_tsval,
                }),
                sack_seen,
                ws,
            ),
            Kind::Rst if ctl_rst => Vec::new(),
            _ if self.timestamps => vec![
                TcpOption::Nop,
                TcpOption::Nop,
                TcpOption::Timestamps {
                    tsval,
                    tsecr: peer_tsval,
                },
            ],
            _ => Vec::new(),
        };
        // SACK blocks while the receiver holds bytes beyond a gap (tcp_options_write puts them
        // after the timestamps): a D-SACK for a range received twice first, then the blocks
        // it holds out of order. Which of the peer's segments it had when it built this ACK
        // follows from the acknowledgment number: the captured segments, in capture order, up
        // to one that leaves exactly that many bytes in order; of the states that do, the one
        // whose blocks this frame carries, if any.
        if self.sack && !matches!(kind, Kind::Syn | Kind::SynAck | Kind::Rst) {
            let seen: Vec<(u32, u32)> = opts
                .iter()
                .find_map(|o| match o {
                    TcpOption::Sack(b) => Some(b.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            let mut blocks: Vec<(u32, u32)> = me.dsack.into_iter().collect();
            let candidates = sack_states(&peer.sent, t.ack());
            let skip = blocks.len();
            let held = candidates
                .iter()
                .find(|c| seen.get(skip..) == Some(&c[..]))
                .or(candidates.last())
                .cloned()
                .unwrap_or_default();
            blocks.extend(held);
            blocks.truncate(if self.timestamps { 3 } else { 4 });
            if !blocks.is_empty() {
                p.tcp
                    .options
                    .extend([TcpOption::Nop, TcpOption::Nop, TcpOption::Sack(blocks)]);
            }
        }
        // With the application's writes known, the payload is predicted: the next bytes of the
        // current write, as many as one segment carries.
        let mut model_payload = payload.to_vec();
        let mut payload_predicted = false;
        let mut gso_cut = false;
        let mut coalesced = 0;
        let mut regrown = None;
        if let (Some(q), Some(&(write_left, segment, write_len))) =
            (&self.expected[from], self.writes[from].front())
        {
            if !(payload.is_empty() || retrans || gap || fills.is_some()) {
                let mss = segment.or_else(|| self.send_mss(from));
                let mut len = match mss {
                    Some(mss) => write_left.min(mss),
                    None => payload.len(),
                }
                .min(q.len());
                // Several writes in one segment (Nagle, autocorking): the packet ends where a
                // later write ends.
                let l = payload.len();
                if l > write_left && l <= q.len() {
                    let mut end = write_left;
                    let mut n = 1;
                    for &(left, ..) in self.writes[from].iter().skip(1) {
                        if end >= l {
                            break;
                        }
                        end += left;
                        n += 1;
                    }
                    if end == l && mss.map_or(true, |m| l <= m) {
                        len = l;
                        coalesced = n;
                    }
                }
                // Where a write larger than one segment is cut into packets is the kernel's
                // choice of the moment: while send() holds the socket, ACKs wait in its backlog;
                // a write larger than the send buffer waits for space inside send(), pushing
                // what it has, and takes a new segment size from the peer's grown window;
                // what is still queued leaves in packets the window allows, cut at its edge
                // (tcp_mss_split_point) or with a small rest merged in (tcp_grow_skb). The
                // model takes such a packet's length from the frame, and checks its bytes
                // against the write. A write of one segment or less must leave whole.
                if let Some(mss) = mss {
                    if coalesced == 0 && l != len && write_len > mss && l <= write_left.min(q.len())
                    {
                        len = l;
                        gso_cut = true;
                        regrown = self
                            .send_mss(from)
                            .filter(|&m| m != mss && l % m.max(1) == 0);
                    }
                }
                model_payload = q.iter().take(len).copied().collect();
                payload_predicted = true;
            }
        }
        // The model's frame may not fit where the kernel's did (its options are longer than the
        // ones this frame carries): then it keeps the frame's options, so every other field is
        // still compared, and the options are reported below as a MISMATCH.
        let mut unfit = None;
        let model = match encapsulate(&model_payload, &p) {
            Ok(m) => m,
            Err(e) => {
                unfit = Some(format!(
                    "{} (the model's frame would not fit: {e})",
                    options_text(&p.tcp.options)
                ));
                p.tcp.options = opts.clone();
                encapsulate(&model_payload, &p).map_err(|_| ModelError::NotTcp(number))?
            }
        };

        // The right edge of the window this frame offers; Linux never moves it left (RFC 7323
        // §2.4: tcp_select_window keeps at least what was offered).
        let scale = match (self.sides[0].wscale, self.sides[1].wscale) {
            (Some(_), Some(_)) if !matches!(kind, Kind::Syn | Kind::SynAck) => {
                u32::from(self.sides[from].wscale.unwrap_or(0).min(14))
            }
            _ => 0,
        };
        let edge = (flags & tf::FLG_ACK != 0
            && !matches!(kind, Kind::Syn | Kind::SynAck | Kind::Rst))
        .then(|| t.ack().wrapping_add(u32::from(t.window()) << scale));
        let shrunk = match (edge, self.sides[from].wnd_edge) {
            _ if stale => None,
            (Some(now), Some(before))
                if before.wrapping_sub(now) != 0 && before.wrapping_sub(now) < 1 << 30 =>
            {
                Some(before)
            }
            _ => None,
        };

        // Field by field, over the field tables of both frames.
        let kernel_tree = dissect(frame);
        let model_tree = dissect(model.frame());
        let mut fields = Vec::with_capacity(40);
        let ctx = Context {
            kind,
            from,
            segment: &t,
            payload_predicted,
            ack_ok,
            timewait_reply,
            tsval_clock,
            window_pred,
            gso_cut,
            coalesced,
            ctl_rst,
            probe,
            gap,
            fills,
            syn_again,
            retrans,
            ack_ahead,
            v4: ip_id.is_some(),
            id_late,
            stale,
            id_ahead,
            mss_app,
            tfo_seen,
            dscp_ttl: (f_dscp, f_ttl),
            shrunk,
        };
        for node in &kernel_tree.nodes {
            let Some(model_node) = model_tree.nodes.iter().find(|n| n.layer == node.layer) else {
                continue;
            };
            for (i, f) in node.fields.iter().enumerate() {
                let m = model_node
                    .fields
                    .iter()
                    .filter(|x| x.key == f.key)
                    .nth(node.fields[..i].iter().filter(|x| x.key == f.key).count());
                let (model_value, model_display) = m.map_or((None, "(none)".to_string()), |m| {
                    (Some(&m.value), m.display.clone())
                });
                let equal = model_value == Some(&f.value);

                let verdict = self.verdict(f.key.as_ref(), &ctx, equal, &model_display);
                let model = match &verdict {
                    Verdict::Mismatch { expected } => expected.clone(),
                    _ => model_display,
                };
                fields.push(FieldCheck {
                    layer: node.layer,
                    field: f.clone(),
                    model,
                    verdict,
                });
            }
        }
        // A field the model has that the kernel's frame lacks is a mismatch too.
        for node in &model_tree.nodes {
            for m in &node.fields {
                if !kernel_tree
                    .nodes
                    .iter()
                    .any(|n| n.fields.iter().any(|f| f.key == m.key))
                {
                    // The kernel's frame has no such field: say so, at no bytes of it.
                    let absent = Field {
                        bytes: 0..0,
                        value: crate::layers::Value::Bytes(Vec::new()),
                        display: "(absent)".into(),
                        ..m.clone()
                    };
                    fields.push(FieldCheck {
                        layer: node.layer,
                        field: absent,
                        model: m.display.clone(),
                        verdict: Verdict::Mismatch {
                            expected: format!("{} {}", m.name, m.display),
                        },
                    });
                }
            }
        }

        if let Some(expected) = unfit {
            let at = s.transport_at + tf::HEADER_LEN;
            fields.push(FieldCheck {
                layer: Layer::Tcp,
                field: Field {
                    name: "Options".into(),
                    key: "tcp.options".into(),
                    bytes: at..s.transport_at + t.header_len(),
                    mask: None,
                    value: crate::layers::Value::Bytes(t.options_raw().to_vec()),
                    display: options_text(&opts),
                    meaning: "the TCP options, as a whole".into(),
                },
                model: expected.clone(),
                verdict: Verdict::Mismatch { expected },
            });
        }

        // Learn from the kernel's frame, and move the states.
        // A GSO packet counts one IP ID per segment of `mss_now` bytes.
        let segs = match self.send_mss(from) {
            Some(mss) if !payload.is_empty() => payload.len().div_ceil(mss.max(1)) as u16,
            _ => 1,
        };
        // The window this frame advertises, scaled (never on a SYN), for the peer's `mss_now`.
        if matches!(kind, Kind::Syn | Kind::SynAck) {
            self.sides[from].wscale = seen_wscale;
        }
        let shift = match (kind, self.sides[0].wscale, self.sides[1].wscale) {
            (Kind::Syn | Kind::SynAck, ..) | (_, None, _) | (_, _, None) => 0,
            _ => u32::from(self.sides[from].wscale.unwrap_or(0).min(14)),
        };
        let advertised = u32::from(t.window()) << shift;
        let me = &mut self.sides[from];
        if ctl_rst {
            // The control socket's RST ends the connection and teaches nothing of a socket.
            return Ok(self.finish(number, frame, from, &t, fields, model.frame()));
        }
        if let (Some(id), true) = (ip_id, id_late) {
            me.skipped_ids.retain(|(s, _)| *s != id);
        }
        if let (Some(id), Some(next), true) = (ip_id, me.next_id, id_ahead && !me.missed) {
            let mut n = next;
            while n != id && me.skipped_ids.len() < 64 {
                me.skipped_ids.push((n, number));
                n = n.wrapping_add(1);
            }
        }
        if kind != Kind::SynAck && !timewait_reply && !stale && !id_late {
            let next = ip_id.map(|id| id.wrapping_add(segs));
            // A segment sent out of order carries an older IP ID: the counter stays ahead.
            let older = match (fills, next, me.next_id) {
                (Some(_), Some(n), Some(cur)) => cur.wrapping_sub(n) < 0x8000,
                _ => false,
            };
            if !older {
                me.next_id = next;
            }
        }
        me.missed = false;
        // This side's ACK carried the D-SACK it owed.
        if flags & tf::FLG_ACK != 0 {
            me.dsack = None;
        }
        let advance = payload.len() as u32
            + u32::from(matches!(kind, Kind::Syn | Kind::SynAck))
            + u32::from(flags & tf::FLG_FIN != 0);
        if t.seq() == me.next_seq {
            me.next_seq = me.next_seq.wrapping_add(advance);
            if let (Some(v), true) = (seen_tsval, advance > 0) {
                if !me.ts_marks.iter().any(|(x, _)| *x == v) {
                    me.ts_marks.push_back((v, me.next_seq));
                    if me.ts_marks.len() > 64 {
                        me.ts_marks.pop_front();
                    }
                }
            }
        } else if gap {
            // Keep the gap open until the bytes come; follow the stream from here on.
            if me.holes.len() < 64 {
                me.holes.push((me.next_seq, t.seq(), number, false));
            }
            me.next_seq = t.seq().wrapping_add(advance);
        } else if fills.is_some() {
            let end = t.seq().wrapping_add(advance);
            for h in &mut me.holes {
                if t.seq().wrapping_sub(h.0) < h.1.wrapping_sub(h.0) {
                    if t.seq() == h.0 {
                        h.0 = end;
                    } else {
                        // Bytes in the middle of a gap: keep what is before them open.
                        h.1 = t.seq();
                    }
                }
            }
            me.holes
                .retain(|h| h.1.wrapping_sub(h.0) != 0 && h.1.wrapping_sub(h.0) < 1 << 30);
        }
        if let Some(e) = edge {
            if shrunk.is_none() && !stale {
                me.wnd_edge = Some(e);
            }
        }
        if flags & tf::FLG_ACK != 0 && !stale {
            me.last_ack = Some(t.ack());
        }
        if !timewait_reply {
            me.dscp_ttl.get_or_insert((f_dscp, f_ttl));
        }
        let (me, peer) = if from == 0 {
            let (a, b) = self.sides.split_at_mut(1);
            (&mut a[0], &mut b[0])
        } else {
            let (a, b) = self.sides.split_at_mut(1);
            (&mut b[0], &mut a[0])
        };
        if !payload.is_empty() {
            me.sent
                .push_back((t.seq(), t.seq().wrapping_add(payload.len() as u32)));
            if me.sent.len() > 32 {
                me.sent.pop_front();
            }
        }
        if retrans && !payload.is_empty() {
            // On lo nothing is lost: the peer has these bytes already, and says so once.
            let end = t.seq().wrapping_add(payload.len() as u32);
            // Duplicates that follow one another extend the pending D-SACK block.
            peer.dsack = match peer.dsack {
                Some((start, e)) if e == t.seq() => Some((start, end)),
                _ => Some((t.seq(), end)),
            };
        }
        if ack_ahead {
            // The peer has bytes this capture did not show: a gap in the peer's stream,
            // open until they come (out of order) or for good (missed by the capture).
            if peer.holes.len() < 64 {
                peer.holes.push((peer.next_seq, t.ack(), number, true));
            }
            peer.next_seq = t.ack();
            peer.remember_boundary();
            peer.missed = true;
        }
        let me = &mut self.sides[from];
        if flags & tf::FLG_FIN != 0 {
            me.fin_seq = Some(t.seq().wrapping_add(payload.len() as u32));
        }
        me.remember_boundary();
        if let (Some(v), Some(t), None) = (seen_tsval, time, me.ts_clock) {
            me.ts_clock = Some((t, v));
        }
        if let Some(v) = seen_tsval {
            me.tsvals.push_back(v);
            if me.tsvals.len() > 256 {
                me.tsvals.pop_front();
            }
        }
        me.window = Some(t.window());
        if flow.is_some() {
            me.flow = flow;
        }
        if matches!(kind, Kind::Syn | Kind::SynAck) {
            me.syn_window = Some(t.window());
        } else {
            me.after_syn = true;
        }
        me.max_window = me.max_window.max(advertised);
        if payload_predicted {
            if let Some(q) = &mut self.expected[from] {
                q.drain(..payload.len().min(q.len()));
            }
            // A segment size taken anew inside send() holds for the rest of that write.
            if let (Some(m), Some(w)) = (regrown, self.writes[from].front_mut()) {
                w.1 = Some(m);
            }
            // What this segment carried comes off the writes it belongs to.
            let mss_now = self.send_mss(from);
            let mut sent = payload.len();
            while sent > 0 {
                let Some((left, segment, _)) = self.writes[from].front_mut() else {
                    break;
                };
                // A write known before the handshake (a transcript) gets its segment size now.
                segment.get_or_insert(mss_now.unwrap_or(sent));
                let take = sent.min(*left);
                *left -= take;
                sent -= take;
                if *left == 0 {
                    self.writes[from].pop_front();
                }
            }
        }
        Ok(self.finish(number, frame, from, &t, fields, model.frame()))
    }

    /// Moves both sides' states for this frame, remembers it (a copy would be captured twice),
    /// and puts its check together, sequence numbers relative to the ISNs.
    fn finish(
        &mut self,
        number: u64,
        frame: &[u8],
        from: usize,
        t: &tcp::TcpSegment<'_>,
        fields: Vec<FieldCheck>,
        model_frame: &[u8],
    ) -> FrameCheck {
        let (flags, to) = (t.flags(), 1 - from);
        let kind = kind_of(flags, t.payload().len());
        self.step_states(from, kind, flags, t.ack());
        // The buffer is reused: one copy per frame, no allocation once it is large enough.
        let last = self.last_frame.get_or_insert_with(|| (0, Vec::new()));
        last.0 = number;
        last.1.clear();
        last.1.extend_from_slice(frame);
        FrameCheck {
            number,
            from,
            kind,
            flags,
            // (The control socket's RST has no ISN of its own: 0.)
            rel_seq: t
                .seq()
                .wrapping_sub(self.sides[from].isn.unwrap_or(t.seq())),
            rel_ack: if flags & tf::FLG_ACK != 0 {
                t.ack().wrapping_sub(self.sides[to].isn.unwrap_or(0))
            } else {
                0
            },
            len: t.payload().len(),
            states: [self.sides[0].state, self.sides[1].state],
            fields,
            wire_fcs: crate::layers::ethernet::WireView::of(frame).fcs,
            model_frame: model_frame.to_vec(),
        }
    }

    fn verdict(&self, key: &str, ctx: &Context<'_>, equal: bool, model: &str) -> Verdict {
        let Context {
            kind,
            from,
            segment: t,
            payload_predicted,
            ack_ok,
            timewait_reply,
            tsval_clock,
            window_pred,
            gso_cut,
            coalesced,
            ctl_rst,
            probe,
            gap,
            fills,
            syn_again,
            retrans,
            ack_ahead,
            v4,
            id_late,
            stale,
            id_ahead,
            mss_app,
            tfo_seen,
            dscp_ttl,
            shrunk,
        } = *ctx;
        let me = &self.sides[from];
        let first_of_side = me.next_id.is_none();
        let v = match key {
            "ip.id" | "tcp.checksum" if timewait_reply => Verdict::KernelChosen {
                why: "sent for a closed socket by its TIME_WAIT mini-socket: IP ID 0, full checksum",
            },
            "ip.id" if ctl_rst => Verdict::Predicted,
            "tcp.checksum" if ctl_rst && v4 => Verdict::Predicted,
            "tcp.seq_raw" if ctl_rst => Verdict::Predicted,
            "tcp.ack_raw" if ctl_rst => Verdict::Learned { from: "the end of the segment this RST answers" },
            "tcp.window_size_value" | "tcp.options.timestamp.tsval" if ctl_rst => Verdict::Predicted,
            "ipv6.flow" if ctl_rst || syn_again => Verdict::KernelChosen { why: "flow label: a new hash for a retransmitted SYN, or the control socket's for its RST" },
            "tcp.seq_raw" if syn_again => Verdict::Learned { from: "the same ISN: this SYN is sent again, no answer having come in time" },
            "tcp.flags" if kind == Kind::Syn && t.flags() & (tf::FLG_ECE | tf::FLG_CWR) != 0 => Verdict::KernelChosen { why: "ECE and CWR: the client asks for ECN (net.ipv4.tcp_ecn = 1 on its host)" },
            "ip.dsfield.ecn" if self.ecn && !t.payload().is_empty() => Verdict::Learned { from: "ECT(0): ECN agreed in the handshake, so data segments are sent ECN-capable" },
            "tcp.flags" | "tcp.urgent_pointer" if t.flags() & tf::FLG_URG != 0 && (1..=t.payload().len()).contains(&usize::from(t.urgent())) => Verdict::KernelChosen { why: "urgent data: the application sent a byte with MSG_OOB; URG and the pointer past it" },
            "tcp.option_kind" if tfo_seen => Verdict::KernelChosen { why: "TCP Fast Open (RFC 7413): the client asks for a cookie or presents one (net.ipv4.tcp_fastopen, MSG_FASTOPEN), the server's cookie is a keyed hash of the client's address" },
            "tcp.options.mss_val" if mss_app => Verdict::KernelChosen { why: "an MSS below lo's: asked for by the application (TCP_MAXSEG) or set on the route (advmss)" },
            "ip.dsfield.dscp" | "ipv6.tclass" | "ip.ttl" | "ipv6.hlim" if !ctl_rst && (dscp_ttl.0 != 0 && matches!(key, "ip.dsfield.dscp" | "ipv6.tclass") || dscp_ttl.1 != 64 && matches!(key, "ip.ttl" | "ipv6.hlim")) => {
                if me.dscp_ttl.is_none() {
                    Verdict::KernelChosen { why: "set for this socket: by the application (IP_TOS, IP_TTL, IPV6_TCLASS, IPV6_UNICAST_HOPS) or the host (net.ipv4.ip_default_ttl)" }
                } else {
                    Verdict::Learned { from: "this socket's, unchanged since its first segment" }
                }
            }
            "tcp.seq_raw" if retrans => Verdict::KernelChosen { why: "a retransmission: bytes sent before, sent again when their ACK did not come in time (an RTO, or a tail loss probe)" },
            "data.data" if retrans => Verdict::KernelChosen { why: "bytes sent before, sent again" },
            "tcp.ack_raw" if ack_ahead => Verdict::KernelChosen { why: "acknowledges bytes not (yet) in the capture: a segment it missed, or one captured after this ACK (a gap the model keeps open)" },
            "ip.id" if id_late => Verdict::KernelChosen { why: "an older IP ID of this socket, skipped before: this frame was captured after a later one" },
            "ip.id" if stale => Verdict::KernelChosen { why: "an older IP ID: this ACK was built before the previous one and captured after it" },
            "ip.id" if gap => Verdict::KernelChosen { why: "ahead with its bytes: the frames between were sent out of order or missed by the capture" },
            "ip.id" if id_ahead && !me.missed => Verdict::KernelChosen { why: "a little ahead of this socket's counter: its frames with the IDs between are not in the capture yet (frames can pass each other on the way to it); kept open until they come" },
            "ip.id" if fills.is_some() => Verdict::KernelChosen { why: "sent before the frame that skipped these bytes: out of order" },
            "ip.id" if me.missed => Verdict::KernelChosen { why: "this socket's IP ID skipped the segments the capture missed" },
            "tcp.seq_raw" if probe => Verdict::Learned { from: "one below the next sequence number (snd_una - 1): a keepalive or zero-window probe, a byte the peer has, to draw its ACK" },
            "tcp.seq_raw" if gap => Verdict::KernelChosen { why: "ahead of the next sequence number: the bytes between were sent out of order or missed by the capture (a gap the model keeps open)" },
            "tcp.seq_raw" if fills.is_some() => Verdict::Learned { from: "fills a gap an earlier frame left: these bytes were sent out of order" },
            "tcp.window_size_value" if shrunk.is_some() => {
                return Verdict::Mismatch { expected: format!("a window reaching at least {} (Linux never moves the edge of a window it offered to the left, RFC 7323 §2.4)", shrunk.unwrap_or(0)) };
            }
            "ip.len" | "ipv6.plen" if !payload_predicted && !t.payload().is_empty() => Verdict::Learned { from: "the headers plus the payload as long as this frame has it (a transcript of what was sent would let the model predict it)" },
            "ip.len" | "ipv6.plen" if coalesced > 1 => Verdict::KernelChosen { why: "several writes in one segment: held while earlier data was unacknowledged (Nagle, without TCP_NODELAY) or the device busy (autocorking), then sent together" },
            "ip.len" | "ipv6.plen" if gso_cut => Verdict::KernelChosen { why: "where the kernel cut a write larger than one segment: at whole segments, at the edge of the peer's window, or where send() ran out of buffer space and pushed what it had, as ACKs and space arrived" },
            "eth.dst" | "eth.src" => Verdict::Loopback { why: "lo has no hardware: both MAC addresses are zero" },
            "tcp.checksum" => Verdict::Loopback { why: "checksum offload: lo carries the pseudo-header sum, never the full checksum" },
            "ip.src" | "ip.dst" | "ipv6.src" | "ipv6.dst" | "tcp.dstport" if kind == Kind::Syn => Verdict::Learned { from: "the address connect() was given and its route" },
            "tcp.srcport" if kind == Kind::Syn => Verdict::KernelChosen { why: "ephemeral port picked by connect()" },
            "ip.src" | "ip.dst" | "ipv6.src" | "ipv6.dst" | "tcp.srcport" | "tcp.dstport" => Verdict::Learned { from: "the connection's endpoints, from its first frame" },
            "ip.id" if kind == Kind::SynAck => Verdict::Predicted,
            "ip.id" if first_of_side => Verdict::KernelChosen { why: "each socket's IP ID counter starts at a random value" },
            "ip.id" => Verdict::Learned { from: "this socket's previous IP ID + 1 per segment" },
            "ipv6.flow" if me.flow.is_none() => Verdict::KernelChosen { why: "flow label: a hash of the socket's random txhash (net.ipv6.auto_flowlabels)" },
            "ipv6.flow" => Verdict::Learned { from: "this socket's flow label, unchanged since its first segment" },
            "tcp.seq_raw" if matches!(kind, Kind::Syn | Kind::SynAck) => Verdict::KernelChosen { why: "initial sequence number: a keyed hash of the addresses plus a clock (secure_tcp_seq)" },
            "tcp.seq_raw" => Verdict::Learned { from: "ISN + 1 + bytes sent" },
            "tcp.ack_raw" if kind == Kind::Syn => Verdict::Predicted,
            "tcp.ack_raw" if ack_ok => {
                // Echoing a TSval means the segment that carried it first was received.
                let peer = &self.sides[1 - from];
                let proven = t_tsecr(t).and_then(|e| peer.ts_marks.iter().find(|(v, _)| *v == e)).map(|m| m.1);
                if let Some(end) = proven.filter(|end| {
                    let d = end.wrapping_sub(t.ack());
                    d != 0 && d < 1 << 30
                }) {
                    return Verdict::Mismatch { expected: format!("an acknowledgment of at least {end}: its TSecr echoes the segment of the peer's that ends there, so that segment was received") };
                }
                Verdict::Learned { from: "the peer's ISN + bytes received" }
            }
            "tcp.window_size_value" if matches!(kind, Kind::Syn | Kind::SynAck) && window_pred.is_some() => Verdict::Predicted,
            "tcp.window_size_value" if window_pred == Some(t.window()) => Verdict::Predicted,
            "tcp.window_size_value" if me.window == Some(t.window()) => Verdict::Learned { from: "unchanged since this side's previous segment" },
            "tcp.window_size_value" => Verdict::KernelChosen { why: "receive window from the socket buffer and its autotuning" },
            "tcp.options.timestamp.tsval" if tsval_clock == TsvalClock::OnTime => Verdict::Learned { from: "the sender's millisecond clock, from its first TSval and the time since" },
            "tcp.options.timestamp.tsval" => {
                if me.tsvals.back().is_some_and(|last| t_tsval(t).is_some_and(|v| v.wrapping_sub(*last) > u32::MAX / 2)) {
                    return Verdict::Mismatch { expected: format!("a TSval no earlier than {}", me.tsvals.back().copied().unwrap_or(0)) };
                }
                Verdict::KernelChosen { why: "TSval: the sender's millisecond clock plus a random per-connection offset" }
            }
            "tcp.options.timestamp.tsecr" if kind == Kind::Syn => Verdict::Predicted,
            "tcp.options.timestamp.tsecr" => Verdict::Learned { from: "a TSval the peer sent, echoed (RFC 7323 TS.Recent)" },
            "tcp.options.wscale.shift" if self.settings.is_some() => Verdict::Predicted,
            "tcp.options.wscale.shift" => Verdict::KernelChosen { why: "window scale from the receive buffer size (tcp_rmem)" },
            "tcp.flags" if kind == Kind::Data && t.flags() & tf::FLG_PSH == 0 => Verdict::KernelChosen { why: "PSH marks the last segment of a write; this one is not" },
            "data.data" if payload_predicted => Verdict::Predicted,
            // Without a transcript the bytes can only be taken from this very frame: counted
            // with the values no model can know in advance, not as learned.
            "data.data" => Verdict::KernelChosen { why: "the application's bytes, taken from this frame (a transcript of what was sent lets the model check them)" },
            _ => Verdict::Predicted,
        };
        if equal {
            v
        } else {
            Verdict::Mismatch {
                expected: model.to_string(),
            }
        }
    }

    fn step_states(&mut self, from: usize, kind: Kind, flags: u16, ack: u32) {
        use TcpState::*;
        let to = 1 - from;
        let acks_peer_fin = flags & tf::FLG_ACK != 0
            && self.sides[to]
                .fin_seq
                .is_some_and(|f| ack == f.wrapping_add(1));
        let (me, peer) = (self.sides[from].state, self.sides[to].state);
        let (me_next, peer_next) = match kind {
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
        };
        if peer_next == FinWait2 && peer != FinWait2 {
            self.sides[to].fin_wait2 = true;
        }
        self.sides[from].state = me_next;
        self.sides[to].state = peer_next;
    }
}

/// The out-of-order blocks a receiver may hold when it acknowledges `ack`, for each prefix of
/// the sender's segments (in capture order) after which exactly the bytes up to `ack` are in
/// order: the blocks above `ack`, most recently received first. Empty if none is beyond a gap.
fn sack_states(sent: &VecDeque<(u32, u32)>, ack: u32) -> Vec<Vec<(u32, u32)>> {
    let Some(&(base, _)) = sent.front() else {
        return Vec::new();
    };
    // Sent in order (the usual case): nothing can be held beyond a gap.
    if sent
        .iter()
        .zip(sent.iter().skip(1))
        .all(|(a, b)| a.1 == b.0)
    {
        return vec![Vec::new()];
    }
    let rel = |x: u32| x.wrapping_sub(base);
    let mut states = Vec::new();
    for n in 1..=sent.len() {
        // In-order point: everything below the first segment counts as received.
        let mut have: Vec<(u32, u32, usize)> = sent
            .iter()
            .take(n)
            .enumerate()
            .map(|(i, &(a, b))| (rel(a), rel(b), i))
            .collect();
        have.sort_by_key(|h| h.0);
        let mut upto = 0u32;
        for h in &have {
            if h.0 <= upto && h.1 > upto {
                upto = h.1;
            }
        }
        if upto != rel(ack) {
            continue;
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
        let state: Vec<(u32, u32)> = blocks
            .iter()
            .map(|b| (b.0.wrapping_add(base), b.1.wrapping_add(base)))
            .collect();
        if !states.contains(&state) {
            states.push(state);
        }
    }
    states
}

/// Options as a list: `NOP, NOP, timestamps TSval 1 TSecr 2`, or `none`.
fn options_text(opts: &[TcpOption]) -> String {
    if opts.is_empty() {
        return "none".into();
    }
    opts.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn t_tsval(t: &tcp::TcpSegment<'_>) -> Option<u32> {
    tcp::options(t.options_raw()).find_map(|o| match o {
        Ok((_, TcpOption::Timestamps { tsval, .. })) => Some(tsval),
        _ => None,
    })
}

fn t_tsecr(t: &tcp::TcpSegment<'_>) -> Option<u32> {
    tcp::options(t.options_raw()).find_map(|o| match o {
        Ok((_, TcpOption::Timestamps { tsecr, .. })) => Some(tsecr),
        _ => None,
    })
}

/// Splits the TCP frames of a capture into connections by their address pair, in order of first
/// appearance; the client is the side that sent the first frame (the SYN, when captured).
#[must_use]
pub fn connection_key(frame: &[u8]) -> Option<(SocketAddr, SocketAddr)> {
    let s = slice(frame);
    match (&s.net, s.transport, &s.error) {
        (Net::Ipv4(ip), Transport::Tcp(t), None) => Some((
            SocketAddr::new(ip.source().into(), t.src_port()),
            SocketAddr::new(ip.destination().into(), t.dst_port()),
        )),
        (Net::Ipv6(ip, _), Transport::Tcp(t), None) if ip.extensions.is_empty() => Some((
            SocketAddr::new(ip.source.into(), t.src_port()),
            SocketAddr::new(ip.destination.into(), t.dst_port()),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_as_proc_shows_them_and_say_what_is_wrong() {
        let s = TcpSettings::parse("4096\t131072\t33554432\n", "4194304\n").unwrap();
        assert_eq!(s.tcp_rmem, [4096, 131072, 33554432]);
        assert_eq!(s.rmem_max, 4194304);
        assert_eq!(
            TcpSettings::parse("4096,131072,6291456", "212992")
                .unwrap()
                .tcp_rmem[2],
            6291456
        );
        let e = TcpSettings::parse("4096 131072", "1").unwrap_err();
        assert!(e.contains("tcp_rmem") && e.contains("got 2"), "{e}");
        let e = TcpSettings::parse("4096 x 1", "1").unwrap_err();
        assert!(e.contains("\"x\""), "{e}");
        let e = TcpSettings::parse("1 2 3", "-4").unwrap_err();
        assert!(e.contains("rmem_max"), "{e}");
    }

    #[test]
    fn initial_windows_and_scales_follow_tcp_select_initial_window() {
        // Linux 6.16+ defaults on lo: 65495 in the SYN, 65483 (MSS less the 12-byte timestamps
        // option) in the SYN-ACK, scale 10 for a 32 MB maximum; the captures show exactly these.
        let new = TcpSettings::parse("4096 131072 33554432", "212992").unwrap();
        assert_eq!(new.full_space(), 65536);
        assert_eq!(new.initial_window(65495), 65495);
        assert_eq!(new.initial_window(65483), 65483);
        assert_eq!(new.window_scale(), 10);
        // Older kernels' 6 MB maximum: scale 7. An MSS of 1460 on a real wire: 44 segments.
        let old = TcpSettings::parse("4096 131072 6291456", "212992").unwrap();
        assert_eq!(old.window_scale(), 7);
        assert_eq!(old.initial_window(1460), 64240);
        // A small buffer: no rounding below one segment, and the scale never below 0.
        let tiny = TcpSettings::parse("1024 2048 4096", "4096").unwrap();
        assert_eq!(tiny.initial_window(65495), 1024);
        assert_eq!(tiny.window_scale(), 0);
        // A huge one: the scale stops at 14 (RFC 7323).
        let huge = TcpSettings::parse("4096 131072 4294967295", "4294967295").unwrap();
        assert_eq!(huge.window_scale(), 14);
        assert_eq!(huge.initial_window(65495), 65495);
    }

    #[test]
    fn first_window_after_the_handshake_is_the_syn_window_rounded_up_to_the_scale() {
        assert_eq!(first_scaled_window(65495, 10), 64);
        assert_eq!(first_scaled_window(65483, 7), 512);
        assert_eq!(first_scaled_window(64240, 7), 502);
        assert_eq!(first_scaled_window(65535, 0), 65535);
        assert_eq!(first_scaled_window(65535, 14), 4);
    }
}
