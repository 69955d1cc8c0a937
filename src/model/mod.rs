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
//!
//! One frame goes through five steps, each in its own file:
//! 1. [`observed`]: what the frame says, read once through the layers' accessors;
//! 2. [`event`]: what kind of segment it is and in what circumstances it was sent (after
//!    [`learn`] took what only a handshake can tell);
//! 3. [`predict`]: the frame the kernel would have sent for that event;
//! 4. [`compare`]: the two frames field by field, each field judged by its rule in [`rules`];
//! 5. [`learn`]: what the frame teaches for the next one, and the states' step ([`state`]).
//!
//! Each side's state is in [`side`], sequence arithmetic in [`seq`], Linux's own numbers in
//! [`linux`].

pub mod analysis;
pub mod compare;
pub mod congestion;
pub mod delack;
pub mod event;
pub mod learn;
pub mod linux;
pub mod neighbour;
pub mod observed;
pub mod peer;
pub mod pmtu;
pub mod predict;
pub mod recovery;
pub mod revise;
pub mod rules;
pub mod seq;
pub mod side;
pub mod state;
pub mod verdict;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

pub use analysis::Analysis;
pub use event::Kind;
pub use linux::{first_scaled_window, TcpSettings, LO_MSS, LO_MSS_V6, TSVAL_SLACK_MS};
pub use side::{Side, Stack};
pub use state::TcpState;
pub use verdict::{Counts, FieldCheck, FrameCheck, Gap, ModelError, Revision, Verdict};

use crate::dissect::{Net, Transport};
use crate::pipeline::{ChecksumMode, Params};
use observed::Observed;
use rules::Facts;
use side::{Pair, SideState, Write};

/// Why a side on `lo` is Linux: both ends are this host's kernel (what [`Connection::stack`]
/// says of every side there).
pub const ON_LO: &str = "on lo: both ends are this host's kernel";

/// One TCP connection, as the model follows it.
#[derive(Debug, Clone)]
pub struct Connection {
    sides: Pair<SideState>,
    timestamps: bool,
    sack: bool,
    /// The SYN asked for ECN (ECE and CWR set: net.ipv4.tcp_ecn = 1 on the client).
    ecn_asked: bool,
    /// Both sides agreed on ECN: data segments go out ECN-capable, ECT(0).
    ecn: bool,
    /// The last frame seen, and its number: a copy of it is a frame captured twice.
    last_frame: Option<(u64, Vec<u8>)>,
    /// The host's receive-buffer settings, when known: SYN windows and window scales predicted.
    settings: Option<TcpSettings>,
    /// The last RST a socket sent, until a later frame shows whether it was one.
    reset: Option<revise::Reset>,
    /// Each side's path MTU, once a router told it a smaller one and its kernel acted on it
    /// ([`pmtu`]).
    pmtu: [Option<u16>; 2],
    /// A path MTU a router told a side, before the side's first segment that shows it knows.
    /// (And where the first bytes it refused start.)
    pmtu_pending: [Option<(u16, u32)>; 2],
    /// Segments a router refused (too big for its next hop), by sender: they never reached
    /// the peer.
    refused: Vec<(Side, seq::Span)>,
    /// The keys of the last frame judged on the fast path, by its shape.
    keys: compare::KeyCache,
}

impl Connection {
    /// A connection from `client` (the side that sends the SYN) to `server`.
    #[must_use]
    pub fn new(client: impl Into<SocketAddr>, server: impl Into<SocketAddr>) -> Connection {
        Connection {
            sides: Pair([
                SideState::new(client.into(), TcpState::Closed),
                SideState::new(server.into(), TcpState::Listen),
            ]),
            timestamps: false,
            sack: false,
            ecn_asked: false,
            ecn: false,
            settings: None,
            last_frame: None,
            reset: None,
            pmtu: [None; 2],
            pmtu_pending: [None; 2],
            refused: Vec::new(),
            keys: compare::KeyCache::default(),
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
        let mut gaps: Vec<Gap> = Side::BOTH
            .into_iter()
            .flat_map(|from| {
                self.sides[from].holes.iter().map(move |h| Gap {
                    frame: h.frame,
                    from,
                    start: h.span.start,
                    end: h.span.end,
                    acked: h.acked,
                })
            })
            .collect();
        gaps.sort_by_key(|g| g.frame);
        gaps
    }

    /// Takes out the gaps opened by frames up to number `last` (see [`Connection::open_gaps`]),
    /// for a caller that knows they will stay open: a live capture whose kernel dropped no frame,
    /// asked after a quiet time in which nothing was captured. They are then no longer open.
    pub fn take_gaps(&mut self, last: u64) -> Vec<Gap> {
        let gaps: Vec<Gap> = self
            .open_gaps()
            .into_iter()
            .filter(|g| g.frame <= last)
            .collect();
        for side in Side::BOTH {
            self.sides[side].holes.retain(|h| h.frame > last);
        }
        gaps
    }

    /// IP IDs a frame skipped that no later frame of that socket carried: for each frame, the
    /// side and the IDs. Ask once the connection's frames are all seen.
    #[must_use]
    pub fn open_ids(&self) -> Vec<(u64, Side, Vec<u16>)> {
        let mut out: Vec<(u64, Side, Vec<u16>)> = Vec::new();
        for from in Side::BOTH {
            // (A side that is not Linux keeps its own IP ID policy: nothing skipped.)
            let skipped = if self.sides[from].followed() {
                &[][..]
            } else {
                &self.sides[from].ids.skipped[..]
            };
            for s in skipped {
                match out
                    .iter_mut()
                    .find(|(f, side, _)| *f == s.frame && *side == from)
                {
                    Some(entry) => entry.2.push(s.id),
                    None => out.push((s.frame, from, vec![s.id])),
                }
            }
        }
        out.sort_by_key(|e| e.0);
        out
    }

    /// The bytes each side's application wrote (as [`Connection::expect_sent`] said) that no
    /// frame has carried: what the capture lacks. Ask once the connection's frames are all seen.
    #[must_use]
    pub fn unsent(&self) -> Vec<(Side, usize)> {
        Side::BOTH
            .into_iter()
            .filter_map(|side| {
                let left = self.sides[side]
                    .queue
                    .bytes
                    .as_ref()
                    .map_or(0, VecDeque::len);
                (left > 0).then_some((side, left))
            })
            .collect()
    }

    /// The two endpoints: client, server.
    #[must_use]
    pub fn endpoints(&self) -> (SocketAddr, SocketAddr) {
        (self.sides[Side::Client].addr, self.sides[Side::Server].addr)
    }

    /// Tells the model what the application on side `from` wrote, so that the payload of its
    /// next data segments is predicted rather than taken from the frame.
    pub fn expect_sent(&mut self, from: Side, bytes: &[u8]) {
        let segment = self.send_mss(from);
        let queue = &mut self.sides[from].queue;
        queue
            .bytes
            .get_or_insert_with(VecDeque::new)
            .extend(bytes.iter().copied());
        if !bytes.is_empty() {
            queue.writes.push_back(Write {
                left: bytes.len(),
                segment,
                len: bytes.len(),
            });
        }
    }

    /// The parameters of the next data segment side `from` would send, with every number the
    /// model has learned: `None` until it has seen enough of both sides. TSval is the kernel's
    /// clock: the last value seen stands in for it. See [`Connection::predict_data_at`] to
    /// have it read off the sender's clock.
    #[must_use]
    pub fn predict_data(&self, from: Side, len: usize) -> Option<Params> {
        self.predict_data_at(from, len, None)
    }

    /// [`Connection::predict_data`] for a segment sent at `now` (on the clock of the frame times
    /// given to [`Connection::observe_at`]): TSval is then the sender's first TSval plus the
    /// milliseconds since, as the kernel's millisecond clock will have it.
    #[must_use]
    pub fn predict_data_at(&self, from: Side, len: usize, now: Option<Duration>) -> Option<Params> {
        let (me, peer) = (&self.sides[from], &self.sides[!from]);
        peer.isn?;
        let mut p = Params::between_any(me.addr, peer.addr);
        p.checksum = ChecksumMode::Offloaded;
        match &mut p.ipv6 {
            Some(v6) => v6.flow_label = me.flow?,
            None => p.ip.identification = me.ids.next?,
        }
        p.tcp.seq = me.next_seq;
        p.tcp.ack = peer.next_seq;
        p.tcp.window = me.window?;
        let tsval = match (now, me.ts_clock) {
            (Some(now), Some(clock)) => clock.tsval_at(now),
            _ => me.last_tsval().unwrap_or(0),
        };
        p.tcp.options = if self.timestamps {
            crate::pipeline::linux_data_options(tsval, peer.last_tsval().unwrap_or(0))
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
    pub fn send_mss(&self, from: Side) -> Option<usize> {
        let peer = &self.sides[!from];
        // The peer's MSS, or this side's own when smaller (its route's, or TCP_MAXSEG set by
        // the application, which its SYN announces too).
        let own = self.sides[from].mss.unwrap_or(u16::MAX);
        // (And no more than the path MTU allows, once a router said it is smaller.)
        let path = self.path_mss(from).unwrap_or(u16::MAX);
        let mss = usize::from(peer.mss?.min(own).min(path))
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
        self.observe_link_at(
            number,
            time,
            crate::layers::link::link_type::ETHERNET,
            frame,
        )
    }

    /// [`Connection::observe_at`] for a frame of link type `link` (a pcap link type: Ethernet,
    /// or a Linux cooked capture of `tcpdump -i any`, raw IP...). The link header is the
    /// capture's: all from the network layer on is checked. A packet captured twice (as `-i
    /// any` sees one on `lo`, going out and coming in) is checked once.
    ///
    /// # Errors
    /// As [`Connection::observe`].
    pub fn observe_link_at(
        &mut self,
        number: u64,
        time: Option<Duration>,
        link: u32,
        frame: &[u8],
    ) -> Result<FrameCheck, ModelError> {
        self.observe_captured(number, time, link, frame, frame.len())
    }

    /// [`Connection::observe_link_at`] for a frame of which the capture kept `frame` of
    /// `orig_len` bytes (its snapshot length cut it short): checked as far as it was captured.
    ///
    /// # Errors
    /// As [`Connection::observe`].
    pub fn observe_captured(
        &mut self,
        number: u64,
        time: Option<Duration>,
        link: u32,
        frame: &[u8],
        orig_len: usize,
    ) -> Result<FrameCheck, ModelError> {
        let s = crate::dissect::slice_link(frame, link);
        self.observe_sliced(number, time, link, s, orig_len)
    }

    /// [`Connection::observe_captured`] of a frame already sliced (by
    /// [`crate::dissect::slice_link`], of link type `link`).
    ///
    /// # Errors
    /// As [`Connection::observe`].
    pub fn observe_sliced(
        &mut self,
        number: u64,
        time: Option<Duration>,
        link: u32,
        s: crate::dissect::Sliced<'_>,
        orig_len: usize,
    ) -> Result<FrameCheck, ModelError> {
        let mut o = Observed::read_sliced(number, time, link, s, orig_len)?;
        let from = event::side_of(o.src, &self.sides[Side::Client], &self.sides[Side::Server])
            .ok_or(ModelError::OtherConnection(number))?;
        // (Linux's frames differ in their IP ID at least: the same bytes are one frame captured
        // twice. Another stack may send the same bytes again, a duplicate ACK with IP ID 0.)
        if let Some((n, last)) = &self.last_frame {
            if last.as_slice() == o.packet() && !self.sides[from].followed() {
                return Err(ModelError::Duplicate(number, *n));
            }
        }
        if self.reopens(from, &o) {
            self.reopen(&o);
        }
        if event::syn_out_of_place(&self.sides[from], &o) {
            // Checked as the segment it is without its SYN, whose flag the model then misses.
            o.kind = Kind::of(o.flags() & !crate::layers::tcp::field::FLG_SYN, o.len());
        }
        self.apply_path_mtu(from, &o);
        let revisions = self.revise(from, &o);
        // (What the SYN offered, before the SYN-ACK's learning narrows it to what both agreed.)
        let offered = (o.kind == Kind::SynAck).then(|| peer::Offered {
            timestamps: self.timestamps,
            sack: self.sack,
            wscale: self.sides[!from].wscale.is_some(),
        });
        let ctl_rst = event::from_control_socket(&self.sides[from], o.kind, o.has_ack());
        let syn_again = o.kind.is_syn() && self.sides[from].isn == Some(o.seq());
        let answers_syn =
            self.sides[from].state == TcpState::SynReceived && self.sides[from].isn.is_none();
        self.learn_handshake(from, &o, ctl_rst);
        let ev = event::Event {
            syn_again,
            answers_syn,
            ..event::classify(&o, &self.sides[from], &self.sides[!from], ctl_rst)
        };
        let mut ev = self.resent_refused(from, &o, ev);
        let timing = self.timing_of(from, &o, &mut ev);
        let pred = self.predict_first(from, &o, &ev, offered)?;
        let cong = self.congestion_of(from, &o, &ev);
        let facts = Facts {
            o: &o,
            ev: &ev,
            pred: &pred,
            me: &self.sides[from],
            peer: &self.sides[!from],
            ecn: self.ecn,
            settings_known: self.settings.is_some(),
            timestamps: self.timestamps,
            sack: self.sack,
            cong,
            cause: timing.cause.as_ref(),
            late_ack: timing.late_ack.as_deref(),
        };
        // The model's frame as the capture would have kept it (cut as this one was).
        let whole = pred.frame.frame();
        let model_frame = &whole[..o.captured(whole.len())];
        let fields = judge_fields(&o, model_frame, &facts, &mut self.keys);
        let events = self.events_of(from, &o, &ev, &cong);
        self.learn(from, &o, &ev, &pred);
        self.learn_events(from, &o, &events);
        self.learn_congestion(from, &o, &ev, &events, &cong);
        let cause = timing.cause.as_ref();
        self.learn_recovery(from, &o, &ev, &events, (cong.new_data, cause));
        if !ev.ctl_rst {
            self.learn_delack(from, &o, timing.duty);
        }
        let mut check = self.finish(from, &o, ctl_rst, fields, revisions, model_frame);
        check.events = events;
        Ok(check)
    }

    /// The loss detection's and the ACK duties' reading of frame `o` from `from`, before the
    /// model learns from it; a retransmission the timer may have sent is marked in `ev`.
    fn timing_of(&self, from: Side, o: &Observed<'_>, ev: &mut event::Event) -> Timing {
        let cause = self.retransmission_cause(from, o, ev);
        ev.rto = cause == Some(recovery::Cause::Timer);
        Timing {
            cause,
            late_ack: self.late_ack(from, o),
            duty: self.ack_duty(from, o, ev),
        }
    }

    /// The events of frame `o` from `from`: the analysis's, and the timer's wait.
    fn events_of(
        &self,
        from: Side,
        o: &Observed<'_>,
        ev: &event::Event,
        cong: &congestion::Judgement,
    ) -> Vec<Analysis> {
        let peer_scale = predict::tcp::scale(self, !from, Kind::Ack);
        let mut events = analysis::events(o, ev, &self.sides[from], &self.sides[!from], peer_scale);
        events.extend(cong.backoff.and_then(|b| {
            b.after.map(|after| Analysis::Timeout {
                after_ms: u32::try_from(after.as_millis()).unwrap_or(u32::MAX),
                doubled: b.doubled,
            })
        }));
        events
    }

    /// The model's frame for `o`, classified as `ev`; on the side's first frame, what runs it is
    /// decided first (from the frame as Linux would have sent it), and a side that is not
    /// Linux is predicted again as the peer it is.
    fn predict_first(
        &mut self,
        from: Side,
        o: &Observed<'_>,
        ev: &event::Event,
        offered: Option<peer::Offered>,
    ) -> Result<predict::Prediction, ModelError> {
        let pred = predict::predict(self, from, o, ev).ok_or(ModelError::NotTcp(o.number))?;
        if self.sides[from].stack.is_some() {
            return Ok(pred);
        }
        let (stack, why) = self.stack_of(o, &pred, offered);
        self.sides[from].stack = Some((stack, why));
        if stack == Stack::Other {
            return predict::predict(self, from, o, ev).ok_or(ModelError::NotTcp(o.number));
        }
        Ok(pred)
    }

    /// Says what runs side `side` (`encap verify --linux`), and why, before its first frame.
    pub fn set_stack(&mut self, side: Side, stack: Stack, why: String) {
        self.sides[side].stack = Some((stack, why));
    }

    /// What runs side `side`, and why the model says so: `None` before its first frame.
    #[must_use]
    pub fn stack(&self, side: Side) -> Option<(Stack, &str)> {
        self.sides[side]
            .stack
            .as_ref()
            .map(|(s, why)| (*s, why.as_str()))
    }

    /// What runs the side that sent `o`, its first frame: on `lo` this host's kernel; else
    /// read off its SYN or SYN-ACK, or a first frame that is a RST (its answer to a SYN);
    /// without one, Linux.
    fn stack_of(
        &self,
        o: &Observed<'_>,
        pred: &predict::Prediction,
        offered: Option<peer::Offered>,
    ) -> (Stack, String) {
        let zero_macs = o.macs.is_some_and(|(s, d)| s == [0; 6] && d == [0; 6]);
        let own = o.cooked.is_some_and(|c| c.outgoing());
        if zero_macs || o.src.ip().is_loopback() {
            (Stack::Linux, ON_LO.into())
        } else if own {
            (Stack::Linux, "the capture's own host: a Linux cooked capture (tcpdump -i any, which only Linux writes) marks its frames OUTGOING".into())
        } else if o.kind.is_syn() {
            peer::fingerprint(o, &pred.linux_kinds, offered)
        } else if o.kind == Kind::Rst {
            peer::fingerprint_rst(o)
        } else {
            (Stack::Linux, "no SYN or SYN-ACK of it in the capture to tell: taken as Linux (--linux ADDR says which side is)".into())
        }
    }

    /// Moves both sides' states for this frame, remembers it (a copy would be captured twice),
    /// and puts its check together, sequence numbers relative to the ISNs.
    fn finish(
        &mut self,
        from: Side,
        o: &Observed<'_>,
        ctl_rst: bool,
        (judged, fields): (Vec<verdict::Judged>, verdict::Fields),
        revisions: Vec<Revision>,
        model_frame: &[u8],
    ) -> FrameCheck {
        if o.kind == Kind::Rst && !ctl_rst {
            self.reset = Some(revise::Reset {
                frame: o.number,
                from,
                before: [
                    self.sides[Side::Client].state,
                    self.sides[Side::Server].state,
                ],
            });
        }
        state::step(&mut self.sides, from, o.kind, o.has_ack(), o.ack());
        // The buffer is reused: one copy per frame, no allocation once it is large enough.
        let last = self.last_frame.get_or_insert_with(|| (0, Vec::new()));
        last.0 = o.number;
        last.1.clear();
        last.1.extend_from_slice(o.packet());
        FrameCheck {
            number: o.number,
            from,
            kind: o.kind,
            flags: o.flags(),
            // (The control socket's RST has no ISN of its own: 0.)
            rel_seq: o
                .seq()
                .wrapping_sub(self.sides[from].isn.unwrap_or(o.seq())),
            rel_ack: if o.has_ack() {
                o.ack().wrapping_sub(self.sides[!from].isn.unwrap_or(0))
            } else {
                0
            },
            len: o.len(),
            states: [
                self.sides[Side::Client].state,
                self.sides[Side::Server].state,
            ],
            judged,
            fields,
            // (A capture without the Ethernet header: the FCS of the model's frame.)
            wire_fcs: crate::layers::ethernet::WireView::of(if o.net_at == 14 {
                o.frame
            } else {
                model_frame
            })
            .fcs,
            model_frame: model_frame.to_vec(),
            revisions,
            events: Vec::new(),
        }
    }
}

/// Every field of `o` judged against the model's frame: on the fast path (raw values, the
/// shown fields built later, only if asked for), or in full where the frames differ.
fn judge_fields(
    o: &Observed<'_>,
    model_frame: &[u8],
    facts: &Facts<'_>,
    keys: &mut compare::KeyCache,
) -> (Vec<verdict::Judged>, verdict::Fields) {
    let judged = facts
        .pred
        .unfit
        .is_none()
        .then(|| compare::judge(o, model_frame, facts, keys))
        .flatten();
    if let Some(judged) = judged {
        let counts = Counts::of(&judged);
        return (
            judged,
            verdict::Fields::Later {
                kernel: o.frame.to_vec(),
                link: o.link,
                built: std::sync::OnceLock::new(),
                counts,
            },
        );
    }
    let mut fields = compare::compare(o, model_frame, facts);
    if let Some(expected) = facts.pred.unfit.clone() {
        fields.push(compare::unfit_options(o, expected));
    }
    (Vec::new(), verdict::Fields::Built(fields))
}

/// Splits the TCP frames of a capture into connections by their address pair, in order of first
/// appearance; the client is the side that sent the first frame (the SYN, when captured).
#[must_use]
pub fn connection_key(frame: &[u8]) -> Option<(SocketAddr, SocketAddr)> {
    connection_key_link(frame, crate::layers::link::link_type::ETHERNET)
}

/// [`connection_key`] for a frame of link type `link`.
#[must_use]
pub fn connection_key_link(frame: &[u8], link: u32) -> Option<(SocketAddr, SocketAddr)> {
    connection_key_of(&crate::dissect::slice_link(frame, link))
}

/// [`connection_key`] of a frame already sliced.
#[must_use]
pub fn connection_key_of(s: &crate::dissect::Sliced<'_>) -> Option<(SocketAddr, SocketAddr)> {
    // (A frame cut short by the capture after its TCP header is still of its connection.)
    match (&s.net, s.transport, &s.error) {
        (Net::Ipv4(ip), Transport::Tcp(t), _) => Some((
            SocketAddr::new(ip.source().into(), t.src_port()),
            SocketAddr::new(ip.destination().into(), t.dst_port()),
        )),
        (Net::Ipv6(ip, _), Transport::Tcp(t), _) if ip.extensions.is_empty() => Some((
            SocketAddr::new(ip.source.into(), t.src_port()),
            SocketAddr::new(ip.destination.into(), t.dst_port()),
        )),
        _ => None,
    }
}

/// What the loss detection and the ACK duties read of a frame before the model learns from it.
struct Timing {
    /// What may have sent a retransmission.
    cause: Option<recovery::Cause>,
    /// How late it acknowledges the peer's data, if it is.
    late_ack: Option<String>,
    /// What it acknowledges and carries.
    duty: delack::AckDuty,
}

#[cfg(test)]
mod tests;
