//! The endpoint offline, frame by frame: every frame it sends is read back through the pipeline,
//! every frame of the peer is built by it, and the clock is whatever the test hands in.

use super::*;
use crate::layers::arp::{REPLY, REQUEST};
use crate::layers::tcp::field::{FLG_ACK, FLG_FIN, FLG_PSH, FLG_RST, FLG_SYN};
use crate::layers::tcp::TcpOption;
use crate::pipeline::{decapsulate, linux_data_options, linux_syn_options};

const A: Mac = [2, 0, 0, 0, 0x0a, 1];
const R: Mac = [2, 0, 0, 0, 0x0a, 2];
const ISN: u32 = 0x1000_0000;
const PEER_ISN: u32 = 0x7000_0000;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn cfg() -> Config {
    Config {
        mac: A,
        ip: Ipv4Addr::new(192, 0, 2, 10),
        prefix_len: 24,
        gateway: Ipv4Addr::new(192, 0, 2, 1),
        mtu: 1500,
        port: 40000,
        remote: SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 10), 6666),
        isn: ISN,
        ts_offset: 5000,
        ip_id: 7,
        time_wait: Duration::from_secs(60),
        accept_partial: false,
    }
}

/// A TCP frame the endpoint sent, read back: header and payload. Panics on ARP.
fn tcp_of(sent: &Sent) -> (TcpHeader, Vec<u8>) {
    let d = decapsulate(sent.frame()).expect("a TCP frame");
    assert_eq!(
        d.tcp.checksum_status(d.ip.source(), d.ip.destination()),
        ChecksumStatus::Good,
        "the full TCP checksum"
    );
    assert!(d.ip.verify_checksum(), "the IPv4 header checksum");
    assert_eq!(d.ethernet.source, A);
    assert_eq!(d.ethernet.destination, R);
    (TcpHeader::parse(&d.tcp).unwrap(), d.tcp.payload().to_vec())
}

/// Every frame queued, as TCP.
fn sent_tcp(e: &mut Endpoint) -> Vec<(TcpHeader, Vec<u8>)> {
    std::iter::from_fn(|| e.transmit())
        .map(|s| tcp_of(&s))
        .collect()
}

fn events(e: &mut Endpoint) -> Vec<Event> {
    std::iter::from_fn(|| e.event()).collect()
}

/// A frame from the peer through r, with a full checksum.
fn from_peer(seq: u32, ack: u32, flags: u16, payload: &[u8], options: Vec<TcpOption>) -> Vec<u8> {
    let c = cfg();
    let mut p = Params::between(c.remote, SocketAddrV4::new(c.ip, c.port)).with_macs(R, A);
    p.tcp.seq = seq;
    p.tcp.ack = ack;
    p.tcp.flags = flags;
    p.tcp.window = if flags & FLG_SYN != 0 { 65160 } else { 502 };
    p.tcp.options = options;
    encapsulate(payload, &p).unwrap().frame().to_vec()
}

fn arp_frame(oper: u16, sha: Mac, spa: Ipv4Addr, tha: Mac, tpa: Ipv4Addr, to: Mac) -> Vec<u8> {
    let a = ArpPacket {
        oper,
        sha,
        spa,
        tha,
        tpa,
    };
    crate::pipeline::encapsulate_arp(&a, sha, to)
        .frame()
        .to_vec()
}

/// The ARP request, its reply, and the SYN; returns the endpoint at t = 10 ms, SYN sent.
fn syn_sent() -> Endpoint {
    let c = cfg();
    let mut e = Endpoint::connect(c, ms(0));
    let Some(Sent::Arp(req)) = e.transmit() else {
        panic!("ARP first")
    };
    let (eth, rest) = EthernetHeader::parse(req.frame()).unwrap();
    assert_eq!(eth.destination, arp::BROADCAST);
    let asked = ArpPacket::parse(rest).unwrap();
    assert_eq!(
        (asked.oper, asked.spa, asked.tpa),
        (REQUEST, c.ip, c.gateway)
    );
    assert_eq!(req.frame_with_fcs().len(), 64, "padded to 60, then the FCS");
    assert!(e.transmit().is_none(), "no SYN before the next hop's MAC");
    e.receive(&arp_frame(REPLY, R, c.gateway, A, c.ip, A), ms(10));
    assert_eq!(events(&mut e), [Event::Resolved(c.gateway, R)]);
    e
}

/// The handshake done at t = 20 ms; the peer's window scale 7, MSS 1460.
fn established() -> Endpoint {
    let mut e = syn_sent();
    let syn = sent_tcp(&mut e);
    assert_eq!(syn.len(), 1);
    let tsval = 5010;
    let synack = from_peer(
        PEER_ISN,
        ISN + 1,
        FLG_SYN | FLG_ACK,
        b"",
        linux_syn_options(1460, 900, tsval, 7),
    );
    e.receive(&synack, ms(20));
    e
}

#[test]
fn the_handshake_announces_linux_s_options_and_acknowledges_the_syn_ack() {
    let mut e = syn_sent();
    let syn = sent_tcp(&mut e);
    let (h, payload) = &syn[0];
    assert_eq!((h.seq, h.ack, h.flags), (ISN, 0, FLG_SYN));
    assert!(payload.is_empty());
    assert_eq!(
        h.options,
        linux_syn_options(1460, 5010, 0, 7),
        "MSS from the MTU, TSval from now"
    );
    assert_eq!(h.window, 65535);
    e.receive(
        &from_peer(
            PEER_ISN,
            ISN + 1,
            FLG_SYN | FLG_ACK,
            b"",
            linux_syn_options(1400, 900, 5010, 7),
        ),
        ms(20),
    );
    let ack = sent_tcp(&mut e);
    assert_eq!(ack.len(), 1);
    assert_eq!(
        (ack[0].0.seq, ack[0].0.ack, ack[0].0.flags),
        (ISN + 1, PEER_ISN + 1, FLG_ACK)
    );
    assert_eq!(ack[0].0.options, linux_data_options(5020, 900));
    assert_eq!(ack[0].0.window, 512, "64 KiB scaled by 7");
    assert_eq!(e.state(), State::Established);
    assert_eq!(
        events(&mut e),
        [Event::Tcp(TcpEvent::Connected {
            mss: 1400,
            wscale: Some(7),
            sack: true,
            timestamps: true
        })]
    );
}

#[test]
fn data_both_ways_is_sent_cut_at_the_mss_and_acknowledged() {
    let mut e = established();
    sent_tcp(&mut e);
    events(&mut e);
    let big = vec![b'x'; 3000];
    e.send(&big, ms(30));
    let segs = sent_tcp(&mut e);
    let lens: Vec<usize> = segs.iter().map(|s| s.1.len()).collect();
    assert_eq!(
        lens,
        [1448, 1448, 104],
        "the MSS less 12 bytes of timestamps"
    );
    assert_eq!(segs[1].0.seq, ISN + 1 + 1448);
    assert!(segs
        .iter()
        .all(|s| s.0.flags == FLG_PSH | FLG_ACK && s.0.ack == PEER_ISN + 1));
    e.receive(
        &from_peer(
            PEER_ISN + 1,
            ISN + 3001,
            FLG_ACK,
            b"",
            linux_data_options(901, 5030),
        ),
        ms(40),
    );
    assert_eq!(e.tcb().unwrap().pending(), 0);
    assert!(sent_tcp(&mut e).is_empty(), "an ACK is not acknowledged");
    e.receive(
        &from_peer(
            PEER_ISN + 1,
            ISN + 3001,
            FLG_PSH | FLG_ACK,
            b"hi\n",
            linux_data_options(902, 5030),
        ),
        ms(50),
    );
    assert_eq!(
        events(&mut e),
        [Event::Tcp(TcpEvent::Data(b"hi\n".to_vec()))]
    );
    let ack = sent_tcp(&mut e);
    assert_eq!((ack[0].0.ack, ack[0].0.flags), (PEER_ISN + 4, FLG_ACK));
    assert_eq!(
        ack[0].0.options,
        linux_data_options(5050, 902),
        "TSecr echoes the peer's TSval"
    );
}

#[test]
fn out_of_order_data_is_held_with_a_sack_block_and_duplicates_are_acknowledged_only() {
    let mut e = established();
    sent_tcp(&mut e);
    events(&mut e);
    let (s1, s2) = (PEER_ISN + 1, PEER_ISN + 6);
    let opts = || linux_data_options(901, 5020);
    e.receive(
        &from_peer(s2, ISN + 1, FLG_PSH | FLG_ACK, b"world", opts()),
        ms(30),
    );
    assert!(events(&mut e).is_empty(), "nothing in order yet");
    let ack = sent_tcp(&mut e);
    assert_eq!(ack[0].0.ack, s1, "still waiting for the first byte");
    assert!(ack[0]
        .0
        .options
        .contains(&TcpOption::Sack(vec![(s2, s2 + 5)])));
    e.receive(
        &from_peer(s1, ISN + 1, FLG_PSH | FLG_ACK, b"hello", opts()),
        ms(40),
    );
    let got: Vec<u8> = events(&mut e)
        .into_iter()
        .flat_map(|ev| match ev {
            Event::Tcp(TcpEvent::Data(d)) => d,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(got, b"helloworld");
    let ack = sent_tcp(&mut e);
    assert_eq!(ack[0].0.ack, s1 + 10);
    assert_eq!(
        ack[0].0.options,
        linux_data_options(5040, 901),
        "no SACK block left"
    );
    // The first segment again, and one that overlaps the end of what came.
    e.receive(
        &from_peer(s1, ISN + 1, FLG_PSH | FLG_ACK, b"hello", opts()),
        ms(50),
    );
    assert!(
        events(&mut e).is_empty(),
        "a duplicate is not delivered twice"
    );
    assert_eq!(sent_tcp(&mut e)[0].0.ack, s1 + 10, "but acknowledged");
    e.receive(
        &from_peer(s2, ISN + 1, FLG_PSH | FLG_ACK, b"world!", opts()),
        ms(60),
    );
    assert_eq!(
        events(&mut e),
        [Event::Tcp(TcpEvent::Data(b"!".to_vec()))],
        "only the new byte"
    );
}

#[test]
fn the_syn_is_sent_again_after_one_second_then_two() {
    let mut e = syn_sent();
    assert_eq!(sent_tcp(&mut e).len(), 1);
    assert_eq!(e.deadline(), Some(ms(1010)));
    e.tick(ms(1009));
    assert!(e.transmit().is_none(), "not before the RTO");
    e.tick(ms(1010));
    let again = sent_tcp(&mut e);
    assert_eq!(
        (again[0].0.seq, again[0].0.flags),
        (ISN, FLG_SYN),
        "the same ISN"
    );
    assert_eq!(
        again[0].0.options,
        linux_syn_options(1460, 6010, 0, 7),
        "a new TSval"
    );
    assert_eq!(
        events(&mut e),
        [Event::Tcp(TcpEvent::Retransmitted {
            relative_seq: 0,
            len: 1,
            rto: ms(1000),
            next_rto: ms(2000)
        })]
    );
    e.tick(ms(3009));
    assert!(e.transmit().is_none());
    e.tick(ms(3010));
    assert_eq!(sent_tcp(&mut e).len(), 1, "doubled: 2 s later");
    for _ in 0..5 {
        let d = e.deadline().unwrap();
        e.tick(d);
    }
    assert!(e.is_done());
    assert!(events(&mut e).contains(&Event::Tcp(TcpEvent::TimedOut)));
}

#[test]
fn lost_data_is_sent_again_after_the_rto_and_the_rtt_measured_once() {
    let mut e = established();
    sent_tcp(&mut e);
    events(&mut e);
    // The SYN's RTT was 10 ms: the RTO stays at its least, 1 s.
    assert_eq!(e.tcb().unwrap().rto(), ms(1000));
    e.send(b"hello\n", ms(100));
    let first = sent_tcp(&mut e);
    assert_eq!(e.deadline(), Some(ms(1100)));
    e.tick(ms(1100));
    let again = sent_tcp(&mut e);
    assert_eq!((again[0].0.seq, &again[0].1), (first[0].0.seq, &first[0].1));
    e.receive(
        &from_peer(
            PEER_ISN + 1,
            ISN + 7,
            FLG_ACK,
            b"",
            linux_data_options(950, 6100),
        ),
        ms(1150),
    );
    assert_eq!(e.deadline(), None, "all acknowledged: the timer stops");
    assert_eq!(
        e.tcb().unwrap().rto(),
        ms(2000),
        "Karn: no sample from a segment sent twice"
    );
}

#[test]
fn an_active_close_goes_through_fin_wait_and_time_wait() {
    let mut e = established();
    sent_tcp(&mut e);
    e.close(ms(30));
    let fin = sent_tcp(&mut e);
    assert_eq!((fin[0].0.seq, fin[0].0.flags), (ISN + 1, FLG_FIN | FLG_ACK));
    assert_eq!(e.state(), State::FinWait1);
    let o = || linux_data_options(901, 5030);
    e.receive(&from_peer(PEER_ISN + 1, ISN + 2, FLG_ACK, b"", o()), ms(40));
    assert_eq!(e.state(), State::FinWait2);
    e.receive(
        &from_peer(PEER_ISN + 1, ISN + 2, FLG_FIN | FLG_ACK, b"", o()),
        ms(50),
    );
    assert_eq!(e.state(), State::TimeWait);
    assert_eq!(
        sent_tcp(&mut e)[0].0.ack,
        PEER_ISN + 2,
        "the FIN acknowledged"
    );
    // The peer's FIN again (our ACK lost): acknowledged again, TIME_WAIT starts over.
    e.receive(
        &from_peer(PEER_ISN + 1, ISN + 2, FLG_FIN | FLG_ACK, b"", o()),
        ms(70),
    );
    assert_eq!(sent_tcp(&mut e)[0].0.ack, PEER_ISN + 2);
    assert_eq!(e.deadline(), Some(ms(60_070)));
    e.tick(ms(60_070));
    assert_eq!(e.state(), State::Closed);
    assert!(events(&mut e).contains(&Event::Tcp(TcpEvent::Closed)));
}

#[test]
fn fins_that_cross_go_through_closing_and_a_fin_with_the_ack_straight_to_time_wait() {
    let o = || linux_data_options(901, 5030);
    let mut e = established();
    e.close(ms(30));
    sent_tcp(&mut e);
    e.receive(
        &from_peer(PEER_ISN + 1, ISN + 1, FLG_FIN | FLG_ACK, b"", o()),
        ms(40),
    );
    assert_eq!(
        e.state(),
        State::Closing,
        "the peer's FIN has not seen ours"
    );
    e.receive(&from_peer(PEER_ISN + 2, ISN + 2, FLG_ACK, b"", o()), ms(50));
    assert_eq!(e.state(), State::TimeWait);

    let mut e = established();
    e.close(ms(30));
    e.receive(
        &from_peer(PEER_ISN + 1, ISN + 2, FLG_FIN | FLG_ACK, b"", o()),
        ms(40),
    );
    assert_eq!(e.state(), State::TimeWait);
}

#[test]
fn a_passive_close_goes_through_close_wait_and_last_ack() {
    let o = || linux_data_options(901, 5030);
    let mut e = established();
    sent_tcp(&mut e);
    events(&mut e);
    e.receive(
        &from_peer(
            PEER_ISN + 1,
            ISN + 1,
            FLG_PSH | FLG_FIN | FLG_ACK,
            b"bye",
            o(),
        ),
        ms(40),
    );
    assert_eq!(e.state(), State::CloseWait);
    assert_eq!(
        events(&mut e),
        [
            Event::Tcp(TcpEvent::Data(b"bye".to_vec())),
            Event::Tcp(TcpEvent::PeerClosed)
        ]
    );
    assert_eq!(
        sent_tcp(&mut e)[0].0.ack,
        PEER_ISN + 5,
        "data and FIN acknowledged"
    );
    e.send(b"ok\n", ms(50));
    e.close(ms(50));
    let segs = sent_tcp(&mut e);
    assert_eq!(segs.len(), 2, "still sending in CLOSE_WAIT, then the FIN");
    assert_eq!(e.state(), State::LastAck);
    e.receive(&from_peer(PEER_ISN + 5, ISN + 5, FLG_ACK, b"", o()), ms(60));
    assert_eq!(e.state(), State::Closed);
    assert!(e.is_done());
}

#[test]
fn a_rst_answers_the_syn_of_a_closed_port() {
    let mut e = syn_sent();
    sent_tcp(&mut e);
    e.receive(
        &from_peer(0, ISN + 1, FLG_RST | FLG_ACK, b"", vec![]),
        ms(20),
    );
    assert!(e.is_done());
    assert_eq!(events(&mut e), [Event::Tcp(TcpEvent::Refused)]);
    assert!(e.transmit().is_none(), "a RST is never answered");
}

#[test]
fn segments_for_no_connection_get_a_rst_and_arp_requests_for_us_a_reply() {
    let mut e = established();
    sent_tcp(&mut e);
    events(&mut e);
    let c = cfg();
    let mut p = Params::between(c.remote, SocketAddrV4::new(c.ip, 40001)).with_macs(R, A);
    p.tcp.flags = FLG_SYN;
    p.tcp.seq = 77;
    p.tcp.options = vec![];
    e.receive(encapsulate(b"", &p).unwrap().frame(), ms(30));
    let rst = sent_tcp(&mut e);
    assert_eq!(
        (rst[0].0.src_port, rst[0].0.flags, rst[0].0.ack),
        (40001, FLG_RST | FLG_ACK, 78)
    );
    assert_eq!(events(&mut e), [Event::ResetSent(c.remote)]);
    p.tcp.flags = FLG_ACK;
    p.tcp.ack = 1234;
    e.receive(encapsulate(b"", &p).unwrap().frame(), ms(31));
    assert_eq!((sent_tcp(&mut e)[0].0.seq, FLG_RST), (1234, FLG_RST));

    e.receive(
        &arp_frame(REQUEST, R, c.gateway, [0; 6], c.ip, arp::BROADCAST),
        ms(40),
    );
    let Some(Sent::Arp(reply)) = e.transmit() else {
        panic!("an ARP reply")
    };
    let (eth, rest) = EthernetHeader::parse(reply.frame()).unwrap();
    assert_eq!(eth.destination, R);
    let a = ArpPacket::parse(rest).unwrap();
    assert_eq!(
        (a.oper, a.sha, a.spa, a.tha, a.tpa),
        (REPLY, A, c.ip, R, c.gateway)
    );
    // Not ours: no answer.
    e.receive(
        &arp_frame(
            REQUEST,
            R,
            c.gateway,
            [0; 6],
            Ipv4Addr::new(192, 0, 2, 11),
            arp::BROADCAST,
        ),
        ms(41),
    );
    assert!(e.transmit().is_none());
}

#[test]
fn a_segment_with_a_bad_checksum_is_dropped_with_the_reason() {
    let mut e = established();
    sent_tcp(&mut e);
    events(&mut e);
    let mut f = from_peer(
        PEER_ISN + 1,
        ISN + 1,
        FLG_PSH | FLG_ACK,
        b"hi\n",
        linux_data_options(901, 5030),
    );
    let last = f.len() - 1;
    f[last] ^= 0x20;
    e.receive(&f, ms(30));
    let ev = events(&mut e);
    assert!(
        matches!(&ev[..], [Event::Dropped(why)] if why.contains("checksum")),
        "{ev:?}"
    );
    assert!(e.transmit().is_none(), "not acknowledged");
}

#[test]
fn without_an_arp_answer_the_next_hop_is_unreachable_after_three_requests() {
    let mut e = Endpoint::connect(cfg(), ms(0));
    e.tick(ms(1000));
    e.tick(ms(2000));
    e.tick(ms(3000));
    let requests = std::iter::from_fn(|| e.transmit()).count();
    assert_eq!(requests, 3);
    assert!(e.is_done());
    assert_eq!(events(&mut e), [Event::Unreachable(cfg().gateway)]);
}

#[test]
fn a_fin_ahead_of_missing_data_waits_for_it_and_a_syn_ack_again_is_acknowledged_again() {
    let o = || linux_data_options(901, 5030);
    let mut e = established();
    sent_tcp(&mut e);
    events(&mut e);
    // The SYN-ACK again: our ACK of it was lost.
    e.receive(
        &from_peer(
            PEER_ISN,
            ISN + 1,
            FLG_SYN | FLG_ACK,
            b"",
            linux_syn_options(1460, 900, 5010, 7),
        ),
        ms(25),
    );
    let again = sent_tcp(&mut e);
    assert_eq!(
        (again[0].0.seq, again[0].0.ack, again[0].0.flags),
        (ISN + 1, PEER_ISN + 1, FLG_ACK)
    );
    // "bye" with the FIN arrives before "ok " that precedes it.
    e.receive(
        &from_peer(PEER_ISN + 4, ISN + 1, FLG_FIN | FLG_ACK, b"bye", o()),
        ms(30),
    );
    assert_eq!(e.state(), State::Established, "the FIN is not in order yet");
    assert!(events(&mut e).is_empty());
    e.receive(
        &from_peer(PEER_ISN + 1, ISN + 1, FLG_ACK, b"ok ", o()),
        ms(40),
    );
    assert_eq!(
        events(&mut e),
        [
            Event::Tcp(TcpEvent::Data(b"ok ".to_vec())),
            Event::Tcp(TcpEvent::Data(b"bye".to_vec())),
            Event::Tcp(TcpEvent::PeerClosed)
        ]
    );
    assert_eq!(e.state(), State::CloseWait);
    let acks = sent_tcp(&mut e);
    assert_eq!(
        acks.last().unwrap().0.ack,
        PEER_ISN + 8,
        "six bytes and the FIN"
    );
}

#[test]
fn a_lost_fin_is_sent_again_after_the_rto() {
    let mut e = established();
    sent_tcp(&mut e);
    events(&mut e);
    e.close(ms(30));
    assert_eq!(sent_tcp(&mut e)[0].0.flags, FLG_FIN | FLG_ACK);
    e.tick(ms(1030));
    let again = sent_tcp(&mut e);
    assert_eq!(
        (again[0].0.seq, again[0].0.flags),
        (ISN + 1, FLG_FIN | FLG_ACK)
    );
    assert_eq!(
        events(&mut e),
        [Event::Tcp(TcpEvent::Retransmitted {
            relative_seq: 1,
            len: 1,
            rto: ms(1000),
            next_rto: ms(2000)
        })]
    );
}

#[test]
fn a_rst_in_the_window_but_not_at_the_next_number_gets_a_challenge_ack() {
    let mut e = established();
    sent_tcp(&mut e);
    events(&mut e);
    e.receive(&from_peer(PEER_ISN + 100, 0, FLG_RST, b"", vec![]), ms(30));
    assert_eq!(e.state(), State::Established, "RFC 5961: not at rcv_nxt");
    assert_eq!(sent_tcp(&mut e)[0].0.flags, FLG_ACK, "the challenge ACK");
    e.receive(&from_peer(PEER_ISN + 1, 0, FLG_RST, b"", vec![]), ms(40));
    assert!(e.is_done());
    assert_eq!(events(&mut e), [Event::Tcp(TcpEvent::Reset)]);
}
