//! One TCP connection, the active opener's side (RFC 9293), sans-IO: segments come in as parsed
//! headers and payloads with the time they arrived; segments to send and events go out through
//! queues. The clock is the `now` handed to every call (a [`Duration`] since any fixed start); the
//! initial sequence number and the timestamp clock's offset are handed in too.
//!
//! What it does: the three-way handshake with MSS, SACK-permitted, timestamps and window scale
//! (Linux's order); data cut at the peer's MSS and held to its window; an immediate ACK of every
//! segment that carries data or a FIN, with SACK blocks for what arrived out of order; FIN both
//! ways (FIN_WAIT_1/2, CLOSING, TIME_WAIT, CLOSE_WAIT, LAST_ACK); RST on abort; retransmission
//! after the RTO of RFC 6298 (1 s at first and at least, doubled on each timeout, RTT samples
//! only from segments sent once, Karn's rule), the SYN and the FIN included.
//!
//! What it does not: congestion control (a chat has a few segments in flight), zero-window
//! probes, PAWS, urgent data.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use crate::layers::tcp::field::{FLG_ACK, FLG_FIN, FLG_PSH, FLG_RST, FLG_SYN};
use crate::layers::tcp::{TcpHeader, TcpOption};
use crate::model::seq::after;
use crate::pipeline::{linux_data_options, linux_syn_options};

/// RFC 6298 (2.1): the RTO before any RTT was measured, and (2.4) its least value.
pub const INITIAL_RTO: Duration = Duration::from_secs(1);
/// RFC 6298 (2.5): an upper bound on the RTO.
pub const MAX_RTO: Duration = Duration::from_secs(60);
/// Timeouts in a row after which the connection is given up (the SYN's, or a segment's).
pub const MAX_RETRIES: u32 = 6;
/// The window scale this side announces.
pub const WSCALE: u8 = 7;
/// The receive buffer this side announces (the application takes every byte as it arrives, so
/// the window never shrinks).
pub const RECEIVE_BUFFER: u32 = 64 * 1024;

/// The connection's state (RFC 9293 §3.3.2; LISTEN and SYN_RECEIVED are a passive opener's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No connection (before the SYN, or after the end).
    Closed,
    /// SYN sent, waiting for the SYN-ACK.
    SynSent,
    /// Open both ways.
    Established,
    /// Our FIN sent, not yet acknowledged.
    FinWait1,
    /// Our FIN acknowledged, the peer's not come.
    FinWait2,
    /// Both FINs sent, ours not yet acknowledged.
    Closing,
    /// Both FINs acknowledged; waiting for stray segments (2 MSL).
    TimeWait,
    /// The peer's FIN came; we may still send.
    CloseWait,
    /// Our FIN sent after the peer's, not yet acknowledged.
    LastAck,
}

impl State {
    /// The name Linux and netstat use.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            State::Closed => "CLOSED",
            State::SynSent => "SYN_SENT",
            State::Established => "ESTABLISHED",
            State::FinWait1 => "FIN_WAIT_1",
            State::FinWait2 => "FIN_WAIT_2",
            State::Closing => "CLOSING",
            State::TimeWait => "TIME_WAIT",
            State::CloseWait => "CLOSE_WAIT",
            State::LastAck => "LAST_ACK",
        }
    }
}

/// What happened to the connection, for the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The handshake completed: the peer's MSS, window scale (if both sides announced one),
    /// SACK-permitted and timestamps as negotiated.
    Connected {
        /// The MSS the peer announced.
        mss: u16,
        /// The peer's window scale, if both announced one.
        wscale: Option<u8>,
        /// Both sides announced SACK-permitted.
        sack: bool,
        /// Both sides sent timestamps.
        timestamps: bool,
    },
    /// Bytes of the peer's stream, in order.
    Data(Vec<u8>),
    /// The peer's FIN: it sends nothing more.
    PeerClosed,
    /// A segment was sent again after its RTO ran out.
    Retransmitted {
        /// Its sequence number, relative to our ISN.
        relative_seq: u32,
        /// Its length in sequence numbers (SYN and FIN count one).
        len: u32,
        /// The RTO that ran out.
        rto: Duration,
        /// The new, doubled RTO.
        next_rto: Duration,
    },
    /// The peer answered the SYN with a RST: no socket listens on that port.
    Refused,
    /// The peer reset the connection.
    Reset,
    /// The RTO ran out [`MAX_RETRIES`] times in a row.
    TimedOut,
    /// The connection ended (after TIME_WAIT, or LAST_ACK's ACK).
    Closed,
}

/// A segment to send: the TCP header (its checksum is the pipeline's) and the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The header.
    pub header: TcpHeader,
    /// The payload.
    pub payload: Vec<u8>,
}

/// What the connection is handed at its start.
#[derive(Debug, Clone, Copy)]
pub struct Opening {
    /// Our address and port.
    pub local: SocketAddr,
    /// The peer's.
    pub remote: SocketAddr,
    /// The initial sequence number.
    pub isn: u32,
    /// Added to the milliseconds of `now` to make each TSval.
    pub ts_offset: u32,
    /// The MSS to announce (the link MTU less the IP and TCP headers: 40 bytes over IPv4, 60
    /// over IPv6).
    pub mss: u16,
    /// How long TIME_WAIT lasts (2 MSL).
    pub time_wait: Duration,
}

/// The retransmission timer and RTT estimate of RFC 6298.
#[derive(Debug, Clone, Copy)]
struct Timer {
    rto: Duration,
    srtt: Option<Duration>,
    rttvar: Duration,
    deadline: Option<Duration>,
    retries: u32,
    /// The end sequence number of a segment sent once, and when: the next RTT sample.
    probe: Option<(u32, Duration)>,
}

impl Timer {
    /// RFC 6298 (2.2, 2.3): a new RTT measurement.
    fn sample(&mut self, rtt: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let diff = if srtt > rtt { srtt - rtt } else { rtt - srtt };
                self.rttvar = self.rttvar * 3 / 4 + diff / 4;
                self.srtt = Some(srtt * 7 / 8 + rtt / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(rtt);
        self.rto =
            (srtt + (self.rttvar * 4).max(Duration::from_millis(1))).clamp(INITIAL_RTO, MAX_RTO);
    }
}

/// One connection.
#[derive(Debug)]
pub struct Tcb {
    open: Opening,
    state: State,
    snd_una: u32,
    snd_nxt: u32,
    /// The peer's window in bytes, scaled.
    snd_wnd: u32,
    snd_wscale: u8,
    rcv_nxt: u32,
    irs: u32,
    peer_mss: u16,
    timestamps: bool,
    sack: bool,
    ts_recent: u32,
    /// Written by the application, not sent yet.
    unsent: Vec<u8>,
    /// Sent and not acknowledged: the bytes from `snd_una` (after the SYN).
    unacked: VecDeque<u8>,
    fin_queued: bool,
    fin_sent: bool,
    /// Out-of-order data by sequence number, and where the peer's FIN is once it came.
    ooo: BTreeMap<u32, Vec<u8>>,
    peer_fin: Option<u32>,
    timer: Timer,
    time_wait_until: Option<Duration>,
    out: VecDeque<Segment>,
    events: VecDeque<Event>,
}

impl Tcb {
    /// A connection that sends its SYN now.
    #[must_use]
    pub fn connect(open: Opening, now: Duration) -> Tcb {
        let mut tcb = Tcb {
            open,
            state: State::SynSent,
            snd_una: open.isn,
            snd_nxt: open.isn.wrapping_add(1),
            snd_wnd: 0,
            snd_wscale: 0,
            rcv_nxt: 0,
            irs: 0,
            peer_mss: 536,
            timestamps: false,
            sack: false,
            ts_recent: 0,
            unsent: Vec::new(),
            unacked: VecDeque::new(),
            fin_queued: false,
            fin_sent: false,
            ooo: BTreeMap::new(),
            peer_fin: None,
            timer: Timer {
                rto: INITIAL_RTO,
                srtt: None,
                rttvar: Duration::ZERO,
                deadline: None,
                retries: 0,
                probe: None,
            },
            time_wait_until: None,
            out: VecDeque::new(),
            events: VecDeque::new(),
        };
        tcb.send_syn(now);
        tcb.timer.probe = Some((tcb.snd_nxt, now));
        tcb
    }

    /// The state.
    #[must_use]
    pub fn state(&self) -> State {
        self.state
    }

    /// Our ISN.
    #[must_use]
    pub fn isn(&self) -> u32 {
        self.open.isn
    }

    /// The peer's ISN (0 before the SYN-ACK).
    #[must_use]
    pub fn peer_isn(&self) -> u32 {
        self.irs
    }

    /// The current RTO.
    #[must_use]
    pub fn rto(&self) -> Duration {
        self.timer.rto
    }

    /// Our address and the peer's.
    #[must_use]
    pub fn addresses(&self) -> (SocketAddr, SocketAddr) {
        (self.open.local, self.open.remote)
    }

    /// The next segment to send.
    pub fn transmit(&mut self) -> Option<Segment> {
        self.out.pop_front()
    }

    /// The next event.
    pub fn event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Tcb::tick`] has something to do: the RTO's or TIME_WAIT's end.
    #[must_use]
    pub fn deadline(&self) -> Option<Duration> {
        self.time_wait_until.or(self.timer.deadline)
    }

    /// Bytes written and not yet acknowledged, or not yet sent.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.unsent.len() + self.unacked.len()
    }

    /// The application writes `data`: sent now as far as the peer's window allows.
    pub fn send(&mut self, data: &[u8], now: Duration) {
        if matches!(
            self.state,
            State::SynSent | State::Established | State::CloseWait
        ) && !self.fin_queued
        {
            self.unsent.extend_from_slice(data);
            self.push(now);
        }
    }

    /// The application closes its side: a FIN once everything written was sent.
    pub fn close(&mut self, now: Duration) {
        match self.state {
            State::SynSent | State::Established | State::CloseWait => {
                self.fin_queued = true;
                self.push(now);
            }
            _ => {}
        }
    }

    /// The application aborts: a RST, and the connection is gone.
    pub fn abort(&mut self) {
        if !matches!(self.state, State::Closed | State::SynSent | State::TimeWait) {
            let seg = self.header(self.snd_nxt, FLG_RST | FLG_ACK, Vec::new(), None);
            self.out.push_back(seg);
        }
        self.finish(None);
    }

    /// The time is `now`: retransmits what the RTO ran out for, ends TIME_WAIT.
    pub fn tick(&mut self, now: Duration) {
        if let Some(end) = self.time_wait_until {
            if now >= end {
                self.finish(Some(Event::Closed));
            }
            return;
        }
        let Some(deadline) = self.timer.deadline else {
            return;
        };
        if now < deadline {
            return;
        }
        self.timer.retries += 1;
        if self.timer.retries > MAX_RETRIES {
            self.finish(Some(Event::TimedOut));
            return;
        }
        let rto = self.timer.rto;
        self.timer.rto = (rto * 2).min(MAX_RTO);
        // Karn: no RTT sample from a segment sent twice.
        self.timer.probe = None;
        let len = self.retransmit_first(now);
        self.events.push_back(Event::Retransmitted {
            relative_seq: self.snd_una.wrapping_sub(self.open.isn),
            len,
            rto,
            next_rto: self.timer.rto,
        });
        self.timer.deadline = Some(now + self.timer.rto);
    }

    /// Sends again the first segment not acknowledged; returns its length in sequence numbers.
    fn retransmit_first(&mut self, now: Duration) -> u32 {
        if self.state == State::SynSent {
            self.send_syn(now);
            return 1;
        }
        let n = self.unacked.len().min(self.send_mss());
        let payload: Vec<u8> = self.unacked.iter().take(n).copied().collect();
        let fin = self.fin_sent && n == self.unacked.len();
        let mut flags = FLG_ACK;
        if n > 0 {
            flags |= FLG_PSH;
        }
        if fin {
            flags |= FLG_FIN;
        }
        let seg = self.header(self.snd_una, flags, payload, Some(now));
        self.out.push_back(seg);
        n as u32 + u32::from(fin)
    }

    fn send_syn(&mut self, now: Duration) {
        let mut header = self.header(self.open.isn, FLG_SYN, Vec::new(), Some(now));
        header.header.ack = 0;
        header.header.window = RECEIVE_BUFFER.min(u32::from(u16::MAX)) as u16;
        header.header.options = linux_syn_options(self.open.mss, self.tsval(now), 0, WSCALE);
        self.out.push_back(header);
        self.timer.deadline = Some(now + self.timer.rto);
    }

    fn tsval(&self, now: Duration) -> u32 {
        self.open
            .ts_offset
            .wrapping_add(now.as_millis().min(u128::from(u32::MAX)) as u32)
    }

    /// A segment of this connection at `seq` with the ACK of what came in order, our window,
    /// the timestamps (when negotiated and `now` is given) and SACK blocks for what came out of
    /// order.
    fn header(&self, seq: u32, flags: u16, payload: Vec<u8>, now: Option<Duration>) -> Segment {
        let mut options = match now {
            Some(now) if self.timestamps || self.state == State::SynSent => {
                linux_data_options(self.tsval(now), self.ts_recent)
            }
            _ => Vec::new(),
        };
        if self.sack && !self.ooo.is_empty() && flags & FLG_ACK != 0 {
            if options.is_empty() {
                options = vec![TcpOption::Nop, TcpOption::Nop];
            } else {
                options.extend([TcpOption::Nop, TcpOption::Nop]);
            }
            options.push(TcpOption::Sack(self.sack_blocks()));
        }
        Segment {
            header: TcpHeader {
                src_port: self.open.local.port(),
                dst_port: self.open.remote.port(),
                seq,
                ack: if flags & FLG_ACK != 0 {
                    self.rcv_nxt
                } else {
                    0
                },
                flags,
                window: (RECEIVE_BUFFER >> WSCALE) as u16,
                checksum: 0,
                urgent: 0,
                options,
            },
            payload,
        }
    }

    /// The ranges held out of order, merged, at most three (what fits beside the timestamps).
    fn sack_blocks(&self) -> Vec<(u32, u32)> {
        let mut blocks: Vec<(u32, u32)> = Vec::new();
        for (&seq, data) in &self.ooo {
            let end = seq.wrapping_add(data.len() as u32);
            match blocks.last_mut() {
                Some(last) if !after(seq, last.1) => {
                    if after(end, last.1) {
                        last.1 = end;
                    }
                }
                _ => blocks.push((seq, end)),
            }
        }
        blocks.truncate(3);
        blocks
    }

    /// The most payload one segment may carry: the peer's MSS less our options on it.
    fn send_mss(&self) -> usize {
        let options = if self.timestamps { 12 } else { 0 };
        usize::from(self.peer_mss).saturating_sub(options).max(1)
    }

    /// Sends what the window allows, then the FIN once nothing is left unsent.
    fn push(&mut self, now: Duration) {
        if !matches!(self.state, State::Established | State::CloseWait) {
            return;
        }
        while !self.unsent.is_empty() {
            let in_flight = self.unacked.len() as u32;
            let room = self.snd_wnd.saturating_sub(in_flight) as usize;
            let n = self.unsent.len().min(self.send_mss()).min(room);
            if n == 0 {
                break;
            }
            let payload: Vec<u8> = self.unsent.drain(..n).collect();
            self.unacked.extend(payload.iter().copied());
            let seg = self.header(self.snd_nxt, FLG_PSH | FLG_ACK, payload, Some(now));
            self.sent(seg, n as u32, now);
        }
        if self.fin_queued && !self.fin_sent && self.unsent.is_empty() {
            self.fin_sent = true;
            self.state = if self.state == State::CloseWait {
                State::LastAck
            } else {
                State::FinWait1
            };
            let seg = self.header(self.snd_nxt, FLG_FIN | FLG_ACK, Vec::new(), Some(now));
            self.sent(seg, 1, now);
        }
    }

    /// Queues a new segment of `len` sequence numbers at `snd_nxt`; starts the RTO and an RTT
    /// sample when none runs.
    fn sent(&mut self, seg: Segment, len: u32, now: Duration) {
        self.out.push_back(seg);
        self.snd_nxt = self.snd_nxt.wrapping_add(len);
        if self.timer.deadline.is_none() {
            self.timer.deadline = Some(now + self.timer.rto);
        }
        if self.timer.probe.is_none() {
            self.timer.probe = Some((self.snd_nxt, now));
        }
    }

    fn finish(&mut self, event: Option<Event>) {
        self.state = State::Closed;
        self.timer.deadline = None;
        self.time_wait_until = None;
        self.events.extend(event);
    }

    /// A segment of this connection (its ports are ours) arrived at `now`.
    pub fn receive(&mut self, h: &TcpHeader, payload: &[u8], now: Duration) {
        match self.state {
            State::Closed => {}
            State::SynSent => self.receive_syn_sent(h, now),
            _ => self.receive_synchronized(h, payload, now),
        }
    }

    /// RFC 9293 §3.10.7.3, SYN-SENT.
    fn receive_syn_sent(&mut self, h: &TcpHeader, now: Duration) {
        let ack_ok = h.flags & FLG_ACK != 0 && h.ack == self.snd_nxt;
        if h.flags & FLG_ACK != 0 && !ack_ok {
            if h.flags & FLG_RST == 0 {
                let mut seg = self.header(h.ack, FLG_RST, Vec::new(), None);
                seg.header.ack = 0;
                self.out.push_back(seg);
            }
            return;
        }
        if h.flags & FLG_RST != 0 {
            if ack_ok {
                self.finish(Some(Event::Refused));
            }
            return;
        }
        if h.flags & FLG_SYN == 0 || !ack_ok {
            return;
        }
        self.irs = h.seq;
        self.rcv_nxt = h.seq.wrapping_add(1);
        self.snd_una = h.ack;
        let mut wscale = None;
        let mut ts_seen = false;
        for o in &h.options {
            match *o {
                TcpOption::Mss(m) => self.peer_mss = m,
                TcpOption::WindowScale(s) => wscale = Some(s.min(14)),
                TcpOption::SackPermitted => self.sack = true,
                TcpOption::Timestamps { tsval, .. } => {
                    ts_seen = true;
                    self.ts_recent = tsval;
                }
                _ => {}
            }
        }
        self.timestamps = ts_seen;
        self.snd_wscale = wscale.unwrap_or(0);
        // The window of a SYN is never scaled.
        self.snd_wnd = u32::from(h.window);
        self.state = State::Established;
        self.acked_all(now);
        self.events.push_back(Event::Connected {
            mss: self.peer_mss,
            wscale,
            sack: self.sack,
            timestamps: self.timestamps,
        });
        let ack = self.header(self.snd_nxt, FLG_ACK, Vec::new(), Some(now));
        self.out.push_back(ack);
        self.push(now);
    }

    /// Everything sent is acknowledged: the RTT sample if one ran, the timer stopped.
    fn acked_all(&mut self, now: Duration) {
        if let Some((end, at)) = self.timer.probe {
            if !after(end, self.snd_una) {
                self.timer.sample(now.saturating_sub(at));
                self.timer.probe = None;
            }
        }
        self.timer.retries = 0;
        self.timer.deadline = if self.snd_una == self.snd_nxt {
            None
        } else {
            Some(now + self.timer.rto)
        };
    }

    /// Any synchronized state: RST, the sequence check, the ACK, the data, the FIN.
    fn receive_synchronized(&mut self, h: &TcpHeader, payload: &[u8], now: Duration) {
        if h.flags & FLG_RST != 0 {
            if h.seq == self.rcv_nxt {
                self.finish(Some(Event::Reset));
            } else if self.in_window(h.seq) {
                // RFC 5961 §3.2: a RST not at the expected number gets a challenge ACK.
                self.ack_now(now);
            }
            return;
        }
        if h.flags & FLG_SYN != 0 {
            // The SYN-ACK again: our ACK of it was lost. Acknowledge it once more.
            self.ack_now(now);
            return;
        }
        let len = payload.len() as u32 + u32::from(h.flags & FLG_FIN != 0);
        let end = h.seq.wrapping_add(len);
        if len > 0 && !after(end, self.rcv_nxt) {
            // Entirely old: a duplicate. Its ACK tells the peer what we have. In TIME_WAIT it is
            // the peer's FIN again (our last ACK was lost): 2 MSL start over.
            if self.state == State::TimeWait {
                self.time_wait_until = Some(now + self.open.time_wait);
            }
            self.ack_now(now);
            return;
        }
        if len == 0 && h.seq != self.rcv_nxt && !self.in_window(h.seq) {
            self.ack_now(now);
            return;
        }
        if h.flags & FLG_ACK != 0 {
            self.receive_ack(h, now);
        }
        if self.state == State::Closed {
            return;
        }
        if !payload.is_empty() || h.flags & FLG_FIN != 0 {
            if let Some(ts) = timestamp(h) {
                if !after(h.seq, self.rcv_nxt) {
                    self.ts_recent = ts;
                }
            }
            self.receive_data(h.seq, payload, h.flags & FLG_FIN != 0, now);
            self.ack_now(now);
        }
        self.push(now);
    }

    fn in_window(&self, seq: u32) -> bool {
        seq.wrapping_sub(self.rcv_nxt) < RECEIVE_BUFFER
    }

    fn ack_now(&mut self, now: Duration) {
        let seg = self.header(self.snd_nxt, FLG_ACK, Vec::new(), Some(now));
        self.out.push_back(seg);
    }

    /// The ACK field and the window of an acceptable segment.
    fn receive_ack(&mut self, h: &TcpHeader, now: Duration) {
        if after(h.ack, self.snd_nxt) {
            // Acknowledges what was never sent: tell the peer where we are.
            self.ack_now(now);
            return;
        }
        self.snd_wnd = u32::from(h.window) << self.snd_wscale;
        if !after(h.ack, self.snd_una) {
            return;
        }
        let mut acked = h.ack.wrapping_sub(self.snd_una) as usize;
        self.snd_una = h.ack;
        let fin_acked = self.fin_sent && h.ack == self.snd_nxt;
        if fin_acked {
            acked -= 1;
        }
        let acked = acked.min(self.unacked.len());
        self.unacked.drain(..acked);
        self.acked_all(now);
        if fin_acked {
            match self.state {
                State::FinWait1 => self.state = State::FinWait2,
                State::Closing => self.enter_time_wait(now),
                State::LastAck => self.finish(Some(Event::Closed)),
                _ => {}
            }
        }
    }

    fn enter_time_wait(&mut self, now: Duration) {
        self.state = State::TimeWait;
        self.timer.deadline = None;
        self.time_wait_until = Some(now + self.open.time_wait);
    }

    /// Data (and a FIN) at `seq`: in order it goes to the application at once, with whatever
    /// was held after it; ahead of `rcv_nxt` it is held; what is before `rcv_nxt` is cut off.
    fn receive_data(&mut self, seq: u32, payload: &[u8], fin: bool, now: Duration) {
        let end = seq.wrapping_add(payload.len() as u32);
        if fin {
            self.peer_fin = Some(end);
        }
        if !payload.is_empty() && after(end, self.rcv_nxt) {
            let skip = self.rcv_nxt.wrapping_sub(seq) as usize;
            if skip <= payload.len() && !after(seq, self.rcv_nxt) {
                self.deliver(payload[skip..].to_vec());
            } else {
                self.ooo.insert(seq, payload.to_vec());
            }
        }
        self.drain_held();
        if self.peer_fin == Some(self.rcv_nxt) {
            self.rcv_nxt = self.rcv_nxt.wrapping_add(1);
            self.peer_fin = None;
            self.events.push_back(Event::PeerClosed);
            match self.state {
                State::Established => self.state = State::CloseWait,
                State::FinWait1 => self.state = State::Closing,
                State::FinWait2 => self.enter_time_wait(now),
                _ => {}
            }
        }
    }

    fn deliver(&mut self, data: Vec<u8>) {
        self.rcv_nxt = self.rcv_nxt.wrapping_add(data.len() as u32);
        if !data.is_empty() {
            self.events.push_back(Event::Data(data));
        }
    }

    /// Hands over the held segments that the stream now reaches.
    fn drain_held(&mut self) {
        while let Some((&seq, _)) = self.ooo.iter().find(|(&s, _)| !after(s, self.rcv_nxt)) {
            let data = self.ooo.remove(&seq).unwrap_or_default();
            let end = seq.wrapping_add(data.len() as u32);
            if after(end, self.rcv_nxt) {
                let skip = self.rcv_nxt.wrapping_sub(seq) as usize;
                self.deliver(data[skip..].to_vec());
            }
        }
    }
}

/// The TSval of a segment's timestamps option.
fn timestamp(h: &TcpHeader) -> Option<u32> {
    h.options.iter().find_map(|o| match *o {
        TcpOption::Timestamps { tsval, .. } => Some(tsval),
        _ => None,
    })
}

/// The RST that answers a segment no connection owns (RFC 9293 §3.10.7.1): with an ACK in the
/// segment, a RST at that number; without, a RST with an ACK of everything it carried. `None`
/// for a RST (never answered).
#[must_use]
pub fn reset_for(h: &TcpHeader, payload_len: usize) -> Option<TcpHeader> {
    if h.flags & FLG_RST != 0 {
        return None;
    }
    let (seq, ack, flags) = if h.flags & FLG_ACK != 0 {
        (h.ack, 0, FLG_RST)
    } else {
        let len = payload_len as u32
            + u32::from(h.flags & FLG_SYN != 0)
            + u32::from(h.flags & FLG_FIN != 0);
        (0, h.seq.wrapping_add(len), FLG_RST | FLG_ACK)
    };
    Some(TcpHeader {
        src_port: h.dst_port,
        dst_port: h.src_port,
        seq,
        ack,
        flags,
        window: 0,
        checksum: 0,
        urgent: 0,
        options: Vec::new(),
    })
}
