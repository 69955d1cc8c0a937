//! The endpoint offline, frame by frame: every frame it sends is read back through the pipeline,
//! every frame of the peer is built by it, and the clock is whatever the test hands in.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use super::*;
use crate::layers::arp::{REPLY, REQUEST};
use crate::layers::ndp::{self, Message};
use crate::layers::tcp::field::{FLG_ACK, FLG_FIN, FLG_PSH, FLG_RST, FLG_SYN};
use crate::layers::tcp::TcpOption;
use crate::pipeline::{decapsulate, linux_data_options, linux_syn_options};

const A: Mac = [2, 0, 0, 0, 0x0a, 1];
const R: Mac = [2, 0, 0, 0, 0x0a, 2];
const A_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const R_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const PEER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 10), 6666);
const ISN: u32 = 0x1000_0000;
const PEER_ISN: u32 = 0x7000_0000;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn cfg() -> Config {
    Config {
        mac: A,
        ip: A_IP.into(),
        prefix_len: 24,
        gateway: R_IP.into(),
        mtu: 1500,
        port: 40000,
        remote: PEER.into(),
        isn: ISN,
        ts_offset: 5000,
        ip_id: 7,
        flow_label: 0x1_2345,
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
    let mut p = Params::between(PEER, SocketAddrV4::new(A_IP, c.port)).with_macs(R, A);
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
    assert_eq!((asked.oper, asked.spa, asked.tpa), (REQUEST, A_IP, R_IP));
    assert_eq!(req.frame_with_fcs().len(), 64, "padded to 60, then the FCS");
    assert!(e.transmit().is_none(), "no SYN before the next hop's MAC");
    e.receive(&arp_frame(REPLY, R, R_IP, A, A_IP, A), ms(10));
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
    let mut p = Params::between(PEER, SocketAddrV4::new(A_IP, 40001)).with_macs(R, A);
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
        &arp_frame(REQUEST, R, R_IP, [0; 6], A_IP, arp::BROADCAST),
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
        (REPLY, A, A_IP, R, R_IP)
    );
    // Not ours: no answer.
    e.receive(
        &arp_frame(
            REQUEST,
            R,
            R_IP,
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

// IPv6: neighbour discovery instead of ARP, then the same TCP.

const A6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xa, 0, 0, 0, 0, 0x10);
const R6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xa, 0, 0, 0, 0, 1);
const PEER6: SocketAddrV6 = SocketAddrV6::new(
    Ipv6Addr::new(0x2001, 0xdb8, 0xb, 0, 0, 0, 0, 0x10),
    6666,
    0,
    0,
);
const FLOW: u32 = 0x1_2345;

fn cfg6() -> Config {
    Config {
        ip: A6.into(),
        prefix_len: 64,
        gateway: R6.into(),
        remote: PEER6.into(),
        ..cfg()
    }
}

/// A neighbour discovery frame from `mac` to `to_mac`, `from` to `to`, with this hop limit; its
/// ICMPv6 checksum spoiled when `spoil`.
fn nd_in(
    m: &Message,
    mac: Mac,
    to_mac: Mac,
    (from, to): (Ipv6Addr, Ipv6Addr),
    hop: u8,
    spoil: bool,
) -> Vec<u8> {
    let mut msg = m.emit(from, to);
    if spoil {
        msg[crate::layers::icmp::field::CHECKSUM.start] ^= 0x01;
    }
    let mut f = vec![0; EthernetHeader::LEN + Ipv6Header::LEN];
    EthernetHeader {
        destination: to_mac,
        source: mac,
        ethertype: EtherType::Ipv6,
    }
    .emit(&mut f);
    Ipv6Header {
        traffic_class: 0,
        flow_label: 0,
        hop_limit: hop,
        source: from,
        destination: to,
    }
    .emit(
        &mut f[EthernetHeader::LEN..],
        msg.len() as u16,
        IpProtocol::Icmpv6,
    );
    f.extend_from_slice(&msg);
    f
}

/// r's advertisement of its MAC, answering our solicitation (solicited, override, router).
fn r_advertises(hop: u8, spoil: bool) -> Vec<u8> {
    let na = Message {
        kind: ndp::ADVERTISEMENT,
        flags: ndp::field::FLAG_R | ndp::field::FLAG_S | ndp::field::FLAG_O,
        target: R6,
        lla: Some((ndp::OPT_TARGET_LLA, R)),
    };
    nd_in(&na, R, A, (R6, A6), hop, spoil)
}

/// A neighbour discovery frame the endpoint sent, read back: the Ethernet destination, the IPv6
/// destination and the message; the hop limit 255 and a good ICMPv6 checksum asserted.
fn nd_out(sent: &Sent) -> (Mac, Ipv6Addr, Message) {
    let Sent::Nd(f) = sent else {
        panic!("neighbour discovery, not {sent:?}")
    };
    let (eth, rest) = EthernetHeader::parse(f.frame()).unwrap();
    assert_eq!((eth.source, eth.ethertype), (A, EtherType::Ipv6));
    let ip = ipv6::parse(rest).unwrap();
    assert_eq!(
        (ip.source, ip.hop_limit, ip.protocol),
        (A6, 255, IpProtocol::Icmpv6)
    );
    assert_eq!((ip.traffic_class, ip.flow_label), (0, 0));
    let msg = &rest[ip.upper..ip.end];
    let sum = crate::checksum::add(
        Pseudo::V6(ip.source, ip.destination).sum(58, msg.len()),
        msg,
    );
    assert_eq!(
        crate::checksum::fold(sum),
        0xffff,
        "the ICMPv6 checksum over the pseudo-header"
    );
    (
        eth.destination,
        ip.destination,
        Message::parse(msg).unwrap(),
    )
}

/// A TCP segment the endpoint sent over IPv6, read back: full checksum over the IPv6
/// pseudo-header, r's MAC, our flow label, hop limit 64.
fn tcp6_of(sent: &Sent) -> (TcpHeader, Vec<u8>) {
    let Sent::Tcp(e) = sent else {
        panic!("TCP, not {sent:?}")
    };
    let (eth, rest) = EthernetHeader::parse(e.frame()).unwrap();
    assert_eq!(
        (eth.source, eth.destination, eth.ethertype),
        (A, R, EtherType::Ipv6)
    );
    let ip = ipv6::parse(rest).unwrap();
    assert_eq!((ip.source, ip.destination), (A6, *PEER6.ip()));
    assert_eq!(
        (ip.hop_limit, ip.traffic_class, ip.flow_label),
        (64, 0, FLOW)
    );
    let seg = TcpSegment::new_checked(&rest[ip.upper..ip.end]).unwrap();
    assert_eq!(
        seg.checksum_status_with(Pseudo::V6(ip.source, ip.destination)),
        ChecksumStatus::Good
    );
    (TcpHeader::parse(&seg).unwrap(), seg.payload().to_vec())
}

fn sent6(e: &mut Endpoint) -> Vec<(TcpHeader, Vec<u8>)> {
    std::iter::from_fn(|| e.transmit())
        .map(|s| tcp6_of(&s))
        .collect()
}

/// A segment from the peer over IPv6, full checksum.
fn from_peer6(seq: u32, ack: u32, flags: u16, payload: &[u8], options: Vec<TcpOption>) -> Vec<u8> {
    let mut p =
        Params::between_any(PEER6.into(), SocketAddr::new(A6.into(), 40000)).with_macs(R, A);
    p.tcp.seq = seq;
    p.tcp.ack = ack;
    p.tcp.flags = flags;
    p.tcp.window = 502;
    p.tcp.options = options;
    encapsulate(payload, &p).unwrap().frame().to_vec()
}

/// The solicitation for r, r's advertisement: the endpoint at t = 10 ms with r's MAC.
fn resolved6() -> Endpoint {
    let mut e = Endpoint::connect(cfg6(), ms(0));
    let (mac, to, m) = nd_out(&e.transmit().expect("a solicitation first"));
    assert_eq!(
        mac,
        [0x33, 0x33, 0xff, 0, 0, 1],
        "the solicited-node group's MAC"
    );
    assert_eq!(to, "ff02::1:ff00:1".parse::<Ipv6Addr>().unwrap());
    assert_eq!(
        m,
        Message {
            kind: ndp::SOLICITATION,
            flags: 0,
            target: R6,
            lla: Some((ndp::OPT_SOURCE_LLA, A)),
        }
    );
    assert!(e.transmit().is_none(), "no SYN before r's MAC");
    e.receive(&r_advertises(255, false), ms(10));
    assert_eq!(events(&mut e), [Event::Resolved(R6.into(), R)]);
    e
}

#[test]
fn neighbour_discovery_asks_for_the_router_then_the_handshake_data_and_fins_go_over_ipv6() {
    let mut e = resolved6();
    let syn = sent6(&mut e);
    assert_eq!(syn.len(), 1);
    assert_eq!((syn[0].0.seq, syn[0].0.flags), (ISN, FLG_SYN));
    assert_eq!(
        syn[0].0.options,
        linux_syn_options(1440, 5010, 0, 7),
        "MSS: the MTU less 40 bytes of IPv6 and 20 of TCP"
    );
    e.receive(
        &from_peer6(
            PEER_ISN,
            ISN + 1,
            FLG_SYN | FLG_ACK,
            b"",
            linux_syn_options(1440, 900, 5010, 10),
        ),
        ms(20),
    );
    let ack = sent6(&mut e);
    assert_eq!(
        (ack[0].0.seq, ack[0].0.ack, ack[0].0.flags),
        (ISN + 1, PEER_ISN + 1, FLG_ACK)
    );
    assert_eq!(e.state(), State::Established);
    e.send(b"hello\n", ms(30));
    let data = sent6(&mut e);
    assert_eq!(
        (data[0].0.seq, data[0].1.as_slice()),
        (ISN + 1, &b"hello\n"[..])
    );
    let peer = |seq: u32, ack: u32, flags: u16, payload: &[u8]| {
        from_peer6(
            PEER_ISN + seq,
            ISN + ack,
            flags,
            payload,
            linux_data_options(910, 5030),
        )
    };
    e.receive(&peer(1, 7, FLG_PSH | FLG_ACK, b"hi\n"), ms(40));
    let acked = sent6(&mut e);
    assert_eq!((acked[0].0.ack, acked[0].0.flags), (PEER_ISN + 4, FLG_ACK));
    e.close(ms(50));
    let fin = sent6(&mut e);
    assert_eq!((fin[0].0.seq, fin[0].0.flags), (ISN + 7, FLG_FIN | FLG_ACK));
    e.receive(&peer(4, 8, FLG_FIN | FLG_ACK, b""), ms(60));
    let last = sent6(&mut e);
    assert_eq!((last[0].0.ack, last[0].0.flags), (PEER_ISN + 5, FLG_ACK));
    assert_eq!(e.state(), State::TimeWait);
    let got: Vec<Event> = events(&mut e);
    assert!(
        got.contains(&Event::Tcp(TcpEvent::Data(b"hi\n".to_vec()))),
        "{got:?}"
    );
    assert!(got.contains(&Event::Tcp(TcpEvent::PeerClosed)), "{got:?}");
}

#[test]
fn a_solicitation_for_our_address_is_answered_as_linux_answers_it() {
    let mut e = resolved6();
    let _syn = sent6(&mut e);
    let ns = |target: Ipv6Addr, lla: Option<(u8, Mac)>| Message {
        kind: ndp::SOLICITATION,
        flags: 0,
        target,
        lla,
    };
    let group = ndp::solicited_node(A6);
    let with_lla = Some((ndp::OPT_SOURCE_LLA, R));
    // To our solicited-node group: solicited, override, our MAC in the option, back to r.
    let f = nd_in(
        &ns(A6, with_lla),
        R,
        ndp::multicast_mac(group),
        (R6, group),
        255,
        false,
    );
    e.receive(&f, ms(30));
    let (mac, to, na) = nd_out(&e.transmit().expect("an advertisement"));
    assert_eq!((mac, to), (R, R6));
    assert_eq!(
        na,
        Message {
            kind: ndp::ADVERTISEMENT,
            flags: ndp::field::FLAG_S | ndp::field::FLAG_O,
            target: A6,
            lla: Some((ndp::OPT_TARGET_LLA, A)),
        }
    );
    // Straight to our address (r's unicast probe): solicited only, no option.
    e.receive(
        &nd_in(&ns(A6, with_lla), R, A, (R6, A6), 255, false),
        ms(31),
    );
    let (mac, to, na) = nd_out(&e.transmit().expect("an advertisement"));
    assert_eq!(
        (mac, to, na.flags, na.lla),
        (R, R6, ndp::field::FLAG_S, None)
    );
    // Duplicate address detection for our address: to all nodes, override, not solicited.
    let dad = nd_in(
        &ns(A6, None),
        R,
        ndp::multicast_mac(group),
        (Ipv6Addr::UNSPECIFIED, group),
        255,
        false,
    );
    e.receive(&dad, ms(32));
    let (mac, to, na) = nd_out(&e.transmit().expect("an advertisement"));
    assert_eq!((mac, to), ([0x33, 0x33, 0, 0, 0, 1], nd::ALL_NODES));
    assert_eq!(
        (na.flags, na.lla),
        (ndp::field::FLAG_O, Some((ndp::OPT_TARGET_LLA, A)))
    );
    // Another address's: no answer.
    let other = Ipv6Addr::new(0x2001, 0xdb8, 0xa, 0, 0, 0, 0, 0x11);
    let g = ndp::solicited_node(other);
    e.receive(
        &nd_in(
            &ns(other, with_lla),
            R,
            ndp::multicast_mac(g),
            (R6, g),
            255,
            false,
        ),
        ms(33),
    );
    assert!(e.transmit().is_none());
    assert_eq!(events(&mut e), []);
}

#[test]
fn the_router_s_own_solicitation_is_a_cached_answer_and_nothing_is_asked_again() {
    let mut e = Endpoint::connect(cfg6(), ms(0));
    let _ns = nd_out(&e.transmit().unwrap());
    // r asks for us before it answers: its source link-layer address is cached (RFC 4861
    // §7.2.3), and the SYN goes to it after our advertisement.
    let group = ndp::solicited_node(A6);
    let ns = Message {
        kind: ndp::SOLICITATION,
        flags: 0,
        target: A6,
        lla: Some((ndp::OPT_SOURCE_LLA, R)),
    };
    e.receive(
        &nd_in(&ns, R, ndp::multicast_mac(group), (R6, group), 255, false),
        ms(5),
    );
    assert_eq!(events(&mut e), [Event::Resolved(R6.into(), R)]);
    let (_, to, na) = nd_out(&e.transmit().expect("our advertisement"));
    assert_eq!((to, na.kind), (R6, ndp::ADVERTISEMENT));
    let syn = tcp6_of(&e.transmit().expect("the SYN"));
    assert_eq!(syn.0.flags, FLG_SYN);
    // r's advertisement, late: nothing changes; no solicitation after a second or three.
    e.receive(&r_advertises(255, false), ms(10));
    for t in [1000, 2000, 3000] {
        e.tick(ms(t));
        while let Some(s) = e.transmit() {
            assert!(
                matches!(s, Sent::Tcp(_)),
                "only the SYN sent again, not {s:?}"
            );
        }
    }
    assert!(!events(&mut e)
        .iter()
        .any(|x| matches!(x, Event::Resolved(..) | Event::Unreachable(_))));
}

#[test]
fn neighbour_discovery_with_a_bad_checksum_or_a_routed_hop_limit_is_dropped_with_the_reason() {
    let mut e = Endpoint::connect(cfg6(), ms(0));
    let _ns = nd_out(&e.transmit().unwrap());
    e.receive(&r_advertises(255, true), ms(5));
    let got = events(&mut e);
    assert!(
        matches!(&got[..], [Event::Dropped(why)] if why.contains("ICMPv6 checksum") && why.contains("2001:db8:a::1")),
        "{got:?}"
    );
    e.receive(&r_advertises(64, false), ms(6));
    let got = events(&mut e);
    assert!(
        matches!(&got[..], [Event::Dropped(why)] if why.contains("hop limit 64, not 255")),
        "{got:?}"
    );
    assert!(e.transmit().is_none(), "still no SYN");
    assert_eq!(e.state(), State::Closed);
    e.receive(&r_advertises(255, false), ms(7));
    assert_eq!(events(&mut e), [Event::Resolved(R6.into(), R)]);
}

#[test]
fn without_an_advertisement_the_router_is_unreachable_after_three_solicitations() {
    let mut e = Endpoint::connect(cfg6(), ms(0));
    for t in [1000, 2000] {
        let _ = nd_out(&e.transmit().unwrap());
        e.tick(ms(t));
    }
    let _ = nd_out(&e.transmit().expect("the third"));
    e.tick(ms(3000));
    assert!(e.transmit().is_none());
    assert_eq!(events(&mut e), [Event::Unreachable(R6.into())]);
    assert!(e.is_done());
}

#[test]
fn a_segment_over_ipv6_with_a_bad_checksum_is_dropped_and_one_for_no_connection_gets_a_rst() {
    let mut e = resolved6();
    let _syn = sent6(&mut e);
    // Another port of ours: a RST over IPv6, its checksum over the IPv6 pseudo-header.
    let mut p =
        Params::between_any(PEER6.into(), SocketAddr::new(A6.into(), 40001)).with_macs(R, A);
    p.tcp.flags = FLG_SYN;
    p.tcp.seq = 77;
    e.receive(encapsulate(b"", &p).unwrap().frame(), ms(20));
    let rst = sent6(&mut e);
    assert_eq!(
        (rst[0].0.src_port, rst[0].0.flags, rst[0].0.ack),
        (40001, FLG_RST | FLG_ACK, 78)
    );
    p.checksum = ChecksumMode::Offloaded;
    e.receive(encapsulate(b"", &p).unwrap().frame(), ms(21));
    assert!(e.transmit().is_none());
    let got = events(&mut e);
    assert!(
        matches!(&got[..], [Event::ResetSent(_), Event::Dropped(why)] if why.contains("[2001:db8:b::10]:6666: checksum")),
        "{got:?}"
    );
}
