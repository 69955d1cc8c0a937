//! The model driven frame by frame, in quinn-proto's `Pair` style: two endpoints build their
//! frames with the pipeline as Linux would on `lo` (ISNs, IP IDs, TSvals handed in), the
//! connection model checks each, and each test looks at one rule's event and verdicts.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::*;
use crate::layers::tcp::{field as tf, key};
use crate::pipeline::{encapsulate, linux_data_options, linux_syn_options, Params};

/// One end: where its stream, IP ID counter and clock stand.
struct End {
    addr: SocketAddrV4,
    seq: u32,
    id: u16,
    tsval: u32,
    window: u16,
}

/// Both ends and the model between them.
struct Pair {
    conn: Connection,
    ends: [End; 2],
    frames: u64,
    /// The capture time of the next frame, if the test gives one.
    now: Option<std::time::Duration>,
    /// Each end's first timed frame: when, and its TSval (a Linux clock counts milliseconds
    /// from there).
    clock: [Option<(std::time::Duration, u32)>; 2],
}

impl Pair {
    /// A connection whose handshake the model has seen (frames 1-3).
    fn established() -> Pair {
        let c = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 40000);
        let s = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 6666);
        // The first window after a SYN of 65495 with scale 7: 65495 rounded up to 128s, in 128s.
        let end = |addr, seq, id, tsval| End {
            addr,
            seq,
            id,
            tsval,
            window: 512,
        };
        let mut p = Pair {
            conn: Connection::new(c, s),
            ends: [end(c, 1000, 100, 5000), end(s, 9000, 0, 7000)],
            frames: 0,
            now: None,
            clock: [None; 2],
        };
        let syn = p.frame(Side::Client, tf::FLG_SYN, b"", 0);
        assert_eq!(syn.counts().mismatch, 0, "{syn:?}");
        let synack = p.frame(Side::Server, tf::FLG_SYN | tf::FLG_ACK, b"", 0);
        assert_eq!(synack.counts().mismatch, 0, "{synack:?}");
        p.ack(Side::Client);
        p
    }

    /// Sends a segment from `from` with these flags and payload, its sequence number `back`
    /// bytes behind where the stream stands (0: in order), and checks it.
    fn frame(&mut self, from: Side, flags: u16, payload: &[u8], back: u32) -> FrameCheck {
        self.frame_with(from, flags, payload, back, Vec::new())
    }

    /// [`Pair::frame`] with `extra` options after the timestamps (SACK blocks).
    fn frame_with(
        &mut self,
        from: Side,
        flags: u16,
        payload: &[u8],
        back: u32,
        extra: Vec<crate::layers::tcp::TcpOption>,
    ) -> FrameCheck {
        let (i, j) = (from.index(), (!from).index());
        if let Some(now) = self.now {
            let (t0, ts0) = *self.clock[i].get_or_insert((now, self.ends[i].tsval));
            self.ends[i].tsval = ts0.wrapping_add((now - t0).as_millis() as u32);
        }
        let (me, peer) = (&self.ends[i], &self.ends[j]);
        let mut p = Params::between(me.addr, peer.addr);
        p.checksum = crate::pipeline::ChecksumMode::Offloaded;
        p.ip.identification = me.id;
        p.tcp.seq = me.seq.wrapping_sub(back);
        p.tcp.ack = if flags & tf::FLG_ACK != 0 {
            peer.seq
        } else {
            0
        };
        p.tcp.flags = flags;
        let tsecr = if from == Side::Client && flags == tf::FLG_SYN {
            0
        } else {
            peer.tsval
        };
        p.tcp.window = if flags & tf::FLG_SYN != 0 {
            65495
        } else {
            me.window
        };
        p.tcp.options = if flags & tf::FLG_SYN != 0 {
            linux_syn_options(65495, me.tsval, tsecr, 7)
        } else {
            linux_data_options(me.tsval, tsecr)
        };
        p.tcp.options.extend(extra);
        let frame = encapsulate(payload, &p).unwrap();
        self.frames += 1;
        let check = self
            .conn
            .observe_at(self.frames, self.now, frame.frame())
            .unwrap();
        let me = &mut self.ends[i];
        if back == 0 {
            me.seq = me.seq.wrapping_add(payload.len() as u32)
                + u32::from(flags & (tf::FLG_SYN | tf::FLG_FIN) != 0);
        }
        me.id = if flags == tf::FLG_SYN | tf::FLG_ACK {
            me.id
        } else {
            me.id.wrapping_add(1)
        };
        check
    }

    fn ack(&mut self, from: Side) -> FrameCheck {
        self.frame(from, tf::FLG_ACK, b"", 0)
    }

    fn data(&mut self, from: Side, payload: &[u8]) -> FrameCheck {
        self.frame(from, tf::FLG_PSH | tf::FLG_ACK, payload, 0)
    }
}

/// The verdict of field `key` of a checked frame.
pub(super) fn verdict<'a>(c: &'a FrameCheck, key: &str) -> &'a Verdict {
    &c.fields()
        .iter()
        .find(|f| f.field.key == key)
        .unwrap()
        .verdict
}

/// What the model expected of field `key` of `c`, which must be a MISMATCH.
pub(super) fn mismatch<'a>(c: &'a FrameCheck, key: &str) -> &'a str {
    match verdict(c, key) {
        Verdict::Mismatch { expected } => expected,
        v => panic!("{key}: {v:?}"),
    }
}

#[test]
fn a_dialogue_is_as_the_model_says_with_no_events() {
    let mut p = Pair::established();
    for (from, text) in [(Side::Client, &b"hello\n"[..]), (Side::Server, b"hi\n")] {
        let d = p.data(from, text);
        let a = p.ack(!from);
        assert_eq!(
            (d.counts().mismatch, a.counts().mismatch),
            (0, 0),
            "{d:?} {a:?}"
        );
        assert!(d.events.is_empty() && a.events.is_empty());
    }
}

#[test]
fn a_keepalive_probe_is_one_below_and_its_answer_repeats_the_ack() {
    let mut p = Pair::established();
    let probe = p.frame(Side::Client, tf::FLG_ACK, b"", 1);
    assert_eq!(probe.events, vec![Analysis::KeepAlive]);
    assert!(matches!(
        verdict(&probe, key::SEQ_RAW),
        Verdict::Learned { .. }
    ));
    let answer = p.ack(Side::Server);
    assert_eq!(answer.events, vec![Analysis::KeepAliveAck]);
    assert_eq!(probe.counts().mismatch + answer.counts().mismatch, 0);
}

#[test]
fn a_pure_ack_that_acknowledges_nothing_new_is_a_probe_missing_its_one_below() {
    let mut p = Pair::established();
    let again = p.ack(Side::Client);
    assert!(
        matches!(verdict(&again, key::SEQ_RAW), Verdict::Mismatch { .. }),
        "{again:?}"
    );
}

#[test]
fn bytes_sent_again_are_a_retransmission() {
    let mut p = Pair::established();
    p.data(Side::Client, b"hello\n");
    let again = p.frame(Side::Client, tf::FLG_PSH | tf::FLG_ACK, b"hello\n", 6);
    assert_eq!(again.events, vec![Analysis::Retransmission]);
    // (It starts at the oldest byte the peer has not acknowledged.)
    assert!(matches!(
        verdict(&again, key::SEQ_RAW),
        Verdict::Learned { from } if from.contains("snd_una")
    ));
}

#[test]
fn a_segment_ahead_opens_a_gap_that_the_end_reports() {
    let mut p = Pair::established();
    p.ends[0].seq = p.ends[0].seq.wrapping_add(10); // ten bytes the capture never shows
    let ahead = p.data(Side::Client, b"late\n");
    assert_eq!(ahead.events, vec![Analysis::LostSegment]);
    let gaps = p.conn.open_gaps();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!((gaps[0].frame, gaps[0].key()), (ahead.number, key::SEQ_RAW));
}

#[test]
fn an_rst_after_which_its_sender_goes_on_is_revised_at_the_rst() {
    let mut p = Pair::established();
    let rst = p.frame(Side::Client, tf::FLG_RST | tf::FLG_ACK, b"", 0);
    assert_eq!(rst.counts().mismatch, 0);
    let after = p.data(Side::Client, b"still here\n");
    assert_eq!(after.revisions.len(), 1, "{after:?}");
    assert_eq!(
        (after.revisions[0].frame, after.revisions[0].key),
        (rst.number, key::FLAGS)
    );
}

#[test]
fn the_first_window_after_the_handshake_never_shrinks_below_the_syns() {
    let mut p = Pair::established();
    p.ends[1].window = 511; // the server's SYN offered 65495, scale 7: 512 in units
    let small = p.data(Side::Server, b"hi\n");
    assert!(
        matches!(verdict(&small, key::WINDOW), Verdict::Mismatch { .. }),
        "{small:?}"
    );
}

#[test]
fn slow_start_holds_ten_packets_then_one_more_per_packet_acknowledged() {
    let mut p = Pair::established();
    for i in 0..10 {
        let d = p.data(Side::Client, b"x");
        assert_eq!(d.counts().mismatch, 0, "segment {i}: {:#?}", d.fields());
    }
    // An eleventh before any ACK: beyond the initial window.
    let mut over = Pair::established();
    for _ in 0..10 {
        over.data(Side::Client, b"x");
    }
    assert_eq!(
        over.conn.sides[Side::Client].congestion.window(),
        Some((10, 10))
    );
    let d = over.data(Side::Client, b"x");
    let expected = mismatch(&d, key::SEQ_RAW);
    assert!(
        expected.contains("10 packets in flight") && expected.contains("TCP_INIT_CWND"),
        "{expected}"
    );
    // Two acknowledged: two more may go (slow start), then the window is full again.
    p.ack(Side::Server);
    let (in_flight, bound) = p.conn.sides[Side::Client].congestion.window().unwrap();
    assert_eq!((in_flight, bound), (0, 20));
}

#[test]
fn a_fin_sent_again_to_a_full_socket_is_d_sacked_in_its_duplicate_ack() {
    use crate::layers::tcp::TcpOption;
    // As in peer-rst-closewait.pcap: the client's FIN, the server's ACK (CLOSE_WAIT), the same
    // FIN again; the server's duplicate ACK carries a D-SACK of the FIN's sequence number.
    let dup_ack = |dsack: bool| {
        let mut p = Pair::established();
        p.frame(Side::Client, tf::FLG_FIN | tf::FLG_ACK, b"", 0);
        p.ack(Side::Server);
        let fin = p.ends[0].seq.wrapping_sub(1);
        let again = p.frame(Side::Client, tf::FLG_FIN | tf::FLG_ACK, b"", 1);
        assert_eq!(again.counts().mismatch, 0, "{again:?}");
        let block = vec![
            TcpOption::Nop,
            TcpOption::Nop,
            TcpOption::Sack(vec![(fin, fin.wrapping_add(1))]),
        ];
        p.frame_with(
            Side::Server,
            tf::FLG_ACK,
            b"",
            0,
            if dsack { block } else { Vec::new() },
        )
    };
    let with = dup_ack(true);
    assert_eq!(with.counts().mismatch, 0, "{:#?}", with.fields());
    let without = dup_ack(false);
    assert!(without.counts().mismatch > 0, "{:#?}", without.fields());
}

#[test]
fn a_new_syn_to_a_socket_in_time_wait_reopens_it_with_the_old_end_plus_65537() {
    // As in peer-timewait-syn.pcap: the server closes first and ends in TIME_WAIT; the client's
    // SYN from the same port, its sequence number past the old stream, opens a new connection
    // whose SYN-ACK's ISN is the server's old snd_nxt + 65537.
    let reopened = |past: u32| {
        let mut p = Pair::established();
        p.frame(Side::Server, tf::FLG_FIN | tf::FLG_ACK, b"", 0);
        p.ack(Side::Client);
        p.frame(Side::Client, tf::FLG_FIN | tf::FLG_ACK, b"", 0);
        p.ack(Side::Server);
        assert_eq!(p.conn.sides[Side::Server].state, TcpState::TimeWait);
        p.ends[0].seq = p.ends[0].seq.wrapping_add(100_000);
        let syn = p.frame(Side::Client, tf::FLG_SYN, b"", 0);
        assert_eq!(syn.counts().mismatch, 0, "{:#?}", syn.fields());
        p.ends[1].seq = p.ends[1].seq.wrapping_add(past);
        p.ends[1].id = 0;
        p.frame(Side::Server, tf::FLG_SYN | tf::FLG_ACK, b"", 0)
    };
    let synack = reopened(65537);
    assert_eq!(synack.counts().mismatch, 0, "{:#?}", synack.fields());
    assert!(matches!(
        verdict(&synack, key::SEQ_RAW),
        Verdict::Learned { from } if from.contains("TIME_WAIT")
    ));
    let other = reopened(65538);
    assert!(
        matches!(verdict(&other, key::SEQ_RAW), Verdict::Mismatch { .. }),
        "{other:?}"
    );
}

#[test]
fn a_new_syn_after_a_reset_starts_anew_and_no_listener_answers_from_the_control_socket() {
    // As in peer-timewait-fin.pcap: the connection reset, a new SYN from the same port; with
    // nothing listening the server's kernel answers RST, ACK from its control socket (seq 0,
    // ack the SYN's + 1, no options, window 0).
    let mut p = Pair::established();
    p.frame(Side::Client, tf::FLG_RST | tf::FLG_ACK, b"", 0);
    p.ends[0].seq = p.ends[0].seq.wrapping_add(100_000);
    p.frame(Side::Client, tf::FLG_SYN, b"", 0);
    assert_eq!(p.conn.sides[Side::Server].isn, None);
    let (c, s) = p.conn.endpoints();
    let (std::net::SocketAddr::V4(c), std::net::SocketAddr::V4(s)) = (c, s) else {
        unreachable!()
    };
    let mut rst = Params::between(s, c);
    rst.checksum = crate::pipeline::ChecksumMode::Full;
    rst.ip.identification = 0;
    rst.tcp.seq = 0;
    rst.tcp.ack = p.ends[0].seq;
    rst.tcp.flags = tf::FLG_RST | tf::FLG_ACK;
    rst.tcp.window = 0;
    rst.tcp.options = Vec::new();
    let check = p
        .conn
        .observe(9, encapsulate(b"", &rst).unwrap().frame())
        .unwrap();
    assert!(
        matches!(verdict(&check, key::SEQ_RAW), Verdict::Predicted),
        "{check:?}"
    );
    assert_eq!(check.counts().mismatch, 0, "{:#?}", check.fields());
}

/// The frames of `captures/chat-hello-hi.pcap` (client 127.0.0.1:47472, server :46666), each
/// with its capture time.
fn chat_frames() -> Vec<(Duration, Vec<u8>)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/chat-hello-hi.pcap");
    let file = std::fs::File::open(path).unwrap();
    let mut r = crate::capfile::CaptureReader::new(std::io::BufReader::new(file)).unwrap();
    let mut out = Vec::new();
    while let Some(p) = r.next_packet().unwrap() {
        out.push((p.timestamp, p.data.to_vec()));
    }
    out
}

/// The frames through one model, with their times: the number and keys of each MISMATCH.
fn chat_mismatches(frames: &[(Duration, Vec<u8>)]) -> Vec<(u64, String)> {
    let at = |port| SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
    let mut conn = Connection::new(at(47472), at(46666));
    let mut bad = Vec::new();
    for (n, (time, frame)) in (1..).zip(frames) {
        let check = conn.observe_at(n, Some(*time), frame).unwrap();
        for f in check.fields() {
            if matches!(f.verdict, Verdict::Mismatch { .. }) {
                bad.push((n, f.field.key.to_string()));
            }
        }
    }
    bad
}

#[test]
fn a_pure_ack_sent_late_carries_the_clock_as_the_peers_segment_came_in() {
    let frames = chat_frames();
    assert_eq!(chat_mismatches(&frames), Vec::new());
    // Frame 9, the server's ACK of frame 8 (the client's 22 bytes), sent 5 ms later, as by a
    // server process that woke up late on a busy machine and sent the ACK it owed after
    // reading: its TSval the socket's clock as frame 8 came in.
    let mut late = frames.clone();
    late[8].0 += Duration::from_millis(5);
    assert_eq!(chat_mismatches(&late), Vec::new());
    // A TSval older than frame 8's arrival: no clock the socket read since.
    let tsval = |f: &mut Vec<u8>, less: u32| {
        let at = 14 + 20 + 20 + 4;
        let v = u32::from_be_bytes(f[at..at + 4].try_into().unwrap()) - less;
        f[at..at + 4].copy_from_slice(&v.to_be_bytes());
    };
    let mut old = late.clone();
    tsval(&mut old[8].1, 4);
    assert_eq!(chat_mismatches(&old), vec![(9, key::TSVAL.to_string())]);
    // Data reads the clock before it goes out: frame 10 (the server's 24 bytes) 5 ms late with
    // the TSval of its time is a MISMATCH.
    let mut data = frames.clone();
    data[9].0 += Duration::from_millis(5);
    assert_eq!(chat_mismatches(&data), vec![(10, key::TSVAL.to_string())]);
}

/// The client (Linux) sends four segments of 100 bytes at 0.1 ms steps; the server ACKs the
/// first, then sends a duplicate ACK of it with `sack` blocks: the Pair, and where the second
/// segment (the hole) starts.
fn hole_after_dup_ack(sack: Vec<(u32, u32)>) -> (Pair, u32) {
    use crate::layers::tcp::TcpOption;
    use std::time::Duration;
    let mut p = Pair::established();
    let mut t = 0;
    let mut tick = |p: &mut Pair| {
        t += 100;
        p.now = Some(Duration::from_micros(t));
    };
    tick(&mut p);
    p.data(Side::Client, &[b'a'; 100]);
    tick(&mut p);
    p.ack(Side::Server);
    let hole = p.ends[0].seq;
    for _ in 0..3 {
        tick(&mut p);
        let d = p.data(Side::Client, &[b'b'; 100]);
        assert_eq!(d.counts().mismatch, 0, "{:#?}", d.fields());
    }
    // The server's ACKs stay at the hole (the capture's view of a peer that lost it).
    let end = p.ends[0].seq;
    p.ends[0].seq = hole;
    tick(&mut p);
    let extra = if sack.is_empty() {
        vec![]
    } else {
        vec![TcpOption::Nop, TcpOption::Nop, TcpOption::Sack(sack)]
    };
    let dup = p.frame_with(Side::Server, tf::FLG_ACK, b"", 0, extra);
    assert!(
        dup.events.contains(&Analysis::DuplicateAck(1)),
        "{:?}",
        dup.events
    );
    p.ends[0].seq = end;
    tick(&mut p);
    (p, hole)
}

#[test]
fn a_fast_retransmission_before_the_acks_show_the_loss_is_a_mismatch() {
    // (tcp_fastretrans_alert, tcp_rack_detect_loss: with SACK a segment is lost only once one
    // sent after it was SACKed.) A duplicate ACK without SACK blocks: the hole sent again now,
    // neither the last segment nor 200 ms old, is early.
    let (mut p, hole) = hole_after_dup_ack(vec![]);
    let back = p.ends[0].seq.wrapping_sub(hole);
    let again = p.frame(Side::Client, tf::FLG_PSH | tf::FLG_ACK, &[b'b'; 100], back);
    let expected = mismatch(&again, key::SEQ_RAW);
    assert!(
        expected.contains("no SACK block above it") && expected.contains("tcp_rack_detect_loss"),
        "{expected}"
    );
    // The same retransmission after a SACK block above the hole: proven, no MISMATCH.
    let (mut p, hole) = hole_after_dup_ack(vec![(hole + 100, hole + 200)]);
    let back = p.ends[0].seq.wrapping_sub(hole);
    let again = p.frame(Side::Client, tf::FLG_PSH | tf::FLG_ACK, &[b'b'; 100], back);
    assert_eq!(again.counts().mismatch, 0, "{:#?}", again.fields());
    // The last segment sent again instead: a tail loss probe needs no evidence.
    let (mut p, _) = hole_after_dup_ack(vec![]);
    let again = p.frame(Side::Client, tf::FLG_PSH | tf::FLG_ACK, &[b'b'; 100], 100);
    assert_eq!(again.counts().mismatch, 0, "{:#?}", again.fields());
}

#[test]
fn a_quick_ack_after_the_handshake_comes_at_once_and_no_delayed_ack_after_its_longest_wait() {
    use std::time::Duration;
    let ms = |m| Some(Duration::from_millis(m));
    // (tcp_event_data_recv: quick-ack mode on the first data; __tcp_ack_snd_check ACKs each
    // segment at once while it lasts.) The server's ACK 1 ms after the client's data: quick.
    let mut p = Pair::established();
    p.now = ms(10);
    p.data(Side::Client, b"hello\n");
    p.now = ms(11);
    let quick = p.ack(Side::Server);
    assert_eq!(quick.counts().mismatch, 0, "{:#?}", quick.fields());
    // 45 ms after: a delayed ACK's wait, where a quick one was owed.
    p.now = ms(20);
    p.data(Side::Client, b"again\n");
    p.now = ms(65);
    let late = p.ack(Side::Server);
    let expected = mismatch(&late, key::ACK_RAW);
    assert!(expected.contains("quick-ack mode"), "{expected}");
    // A server that sent data may be in ping-pong mode: 45 ms is allowed, 700 ms is not
    // (tcp_send_delayed_ack: HZ/2 at most).
    p.now = ms(70);
    p.data(Side::Server, b"hi\n");
    p.ack(Side::Client);
    p.now = ms(100);
    p.data(Side::Client, b"third\n");
    p.now = ms(145);
    let delayed = p.ack(Side::Server);
    assert_eq!(delayed.counts().mismatch, 0, "{:#?}", delayed.fields());
    p.now = ms(200);
    p.data(Side::Client, b"fourth\n");
    p.now = ms(900);
    let late = p.ack(Side::Server);
    let expected = mismatch(&late, key::ACK_RAW);
    assert!(expected.contains("tcp_send_delayed_ack"), "{expected}");
}
