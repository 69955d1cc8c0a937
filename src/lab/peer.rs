//! `encap lab peer SCENARIO -w FILE`: a scripted TCP peer that is not Linux, in host a, driving
//! one behaviour of the Linux kernel in host b on purpose, the frames on b's veth recorded.
//!
//! The peer is a script of steps, as Scapy's are: each step sends one frame with exactly the
//! flags, options and window the scenario wants, or waits (by event, never by sleeping) for the
//! kernel's next segment and reacts to its sequence numbers. It speaks through one `AF_PACKET`
//! socket on a's veth (a's kernel has no IPv4 address there, as for `lab demo --stack encap`, so
//! it neither answers ARP for the peer's address nor resets its connection), answers and asks ARP
//! with [`encap::stack::arp`], and builds every frame with the pipeline. Its frames look like
//! another stack's: no DF, IP ID 0, TTL 64, full checksums, its SYN's options in BSD's order
//! (MSS, window scale, SACK-permitted, timestamps), each scenario with or without timestamps,
//! SACK and window scaling.
//!
//! The kernel's side is a small Python server in b (a kernel socket: read the request, write N
//! bytes, close). The capture is encap's own: one packet socket on b's veth `b-r` opened inside b,
//! both directions, so the file holds the kernel's frames as b sent them (offloads off: full
//! checksums, segments cut at the MSS) and the peer's as b received them (TTL 63 after r); IPv4
//! and ARP only (the veths' own IPv6 frames as they come up are left out).
//!
//! Every wait is bounded ([`STEP_LIMIT`] per frame awaited, [`MAX_SEGMENTS`] per loop); the lab
//! is removed on every exit, an error or Ctrl-C included (the [`Lab`]'s drop).

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use termcolor::WriteColor;

use super::demo::{Captures, LinkFrame};
use super::{address, in_namespace, Host, Kind, Lab, Offload, LINKS, TCP_LISTEN};
use crate::capture::{Capture, FrameSource};
use encap::layers::arp::ArpPacket;
use encap::layers::ethernet::{EtherType, EthernetHeader, Mac};
use encap::layers::ipv4::{IpProtocol, Ipv4Packet};
use encap::layers::ipv6;
use encap::layers::ndp;
use encap::layers::tcp::field::{FLG_ACK, FLG_FIN, FLG_PSH, FLG_RST, FLG_SYN};
use encap::layers::tcp::{flag_names, TcpHeader, TcpOption, TcpSegment};
use encap::pipeline::{encapsulate, ChecksumMode, Params};
use encap::stack::arp::Resolution;
use encap::stack::{nd, Neighbours};

/// The longest wait for one frame of the kernel's (a retransmission after several backoffs
/// included).
pub const STEP_LIMIT: Duration = Duration::from_secs(10);
/// The most kernel segments one loop of a script takes before it gives up.
pub const MAX_SEGMENTS: usize = 2000;
/// The longest wait for the capture to hold the peer's last frame.
const CAPTURE_LIMIT: Duration = Duration::from_secs(5);
/// The peer's TCP port.
const PEER_PORT: u16 = 40000;
/// The peer's request, answered by the server in b.
const REQUEST: &[u8] = b"send the data\n";

/// `encap lab peer`'s flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The behaviour to drive.
    #[arg(value_enum)]
    pub scenario: Scenario,
    /// Where to write the capture: pcap, Ethernet, every IPv4 and ARP frame on b's veth in both
    /// directions (with --ipv6: every IPv6 TCP segment and neighbour solicitation and
    /// advertisement).
    #[arg(short = 'w', long = "write", value_name = "FILE")]
    pub write: PathBuf,
    /// Over IPv6: the peer is 2001:db8:a::10, the kernel 2001:db8:b::10, and the peer does
    /// neighbour discovery itself (encap's, `encap::stack::nd`) instead of ARP.
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,
    /// The server's port in b.
    #[arg(long, default_value_t = 6666)]
    pub port: u16,
}

/// The scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// A SYN with an MSS only (no timestamps, SACK or window scale), a request, a few KB back,
    /// FIN both ways (the peer's FIN acknowledging the kernel's).
    Nooptions,
    /// MSS 536 (SACK and timestamps, no window scale).
    Mss536,
    /// 60 KB from the server to a large window: the first ACK held until the initial window of
    /// 10 segments arrived, then one ACK per segment.
    Slowstart,
    /// SACK on; one segment of the burst "lost": duplicate ACKs with SACK blocks until the
    /// kernel retransmits it.
    SackFastretransmit,
    /// No ACK of the server's data until the kernel sent its first segment again 4 times.
    RtoBackoff,
    /// A window of three segments, then window 0 answering 3 zero-window probes, then open.
    Zerowindow,
    /// The peer's RST after the SYN-ACK (the kernel's request in SYN_RECV).
    #[value(name = "rst-synrecv")]
    RstSynRecv,
    /// The peer's RST in ESTABLISHED, during the server's answer.
    RstEstablished,
    /// The peer's FIN in ESTABLISHED: the kernel to CLOSE_WAIT, then the server answers and
    /// closes.
    FinEstablished,
    /// The server closes first; the peer ACKs its FIN (FIN_WAIT_2), then sends its own.
    #[value(name = "fin-finwait")]
    FinFinWait,
    /// 30 small segments from the peer, each waiting for the kernel's ACK: quick ACKs, then
    /// delayed ones.
    DelayedAck,
    /// Simultaneous close: the server's FIN crosses the peer's, which does not acknowledge it
    /// (the kernel from FIN_WAIT_1 to CLOSING); the peer's ACK of it then (TIME_WAIT).
    #[value(name = "fin-closing")]
    FinClosing,
    /// The server closes first; the peer answers its FIN with a RST (the kernel in FIN_WAIT_1).
    #[value(name = "rst-finwait1")]
    RstFinWait1,
    /// The peer's FIN, the server's answer and FIN (LAST_ACK), then the peer's RST, not an ACK.
    #[value(name = "rst-lastack")]
    RstLastAck,
    /// The peer's FIN (CLOSE_WAIT), the same FIN again (a duplicate ACK), then a RST; the server
    /// closes only after it.
    #[value(name = "rst-closewait")]
    RstCloseWait,
    /// TIME_WAIT (as fin-finwait): the peer's FIN again (the kernel ACKs it again), a RST at
    /// the next sequence number (TIME_WAIT ends, no answer), then a new SYN from the same port,
    /// which finds no socket (the server's listener closed too: the kernel's RST, ACK).
    #[value(name = "timewait-fin")]
    TimeWaitFin,
    /// TIME_WAIT (as fin-finwait), then a new SYN from the same port with a higher sequence
    /// number: the kernel opens a new connection at once (its ISN the old one's end + 65537).
    #[value(name = "timewait-syn")]
    TimeWaitSyn,
    /// The Linux side is a client in b connecting to the peer, which answers with RST, ACK
    /// (connection refused).
    #[value(name = "rst-synsent")]
    RstSynSent,
}

/// What the peer's TCP announces: its habits.
#[derive(Debug, Clone, Copy)]
struct Habits {
    mss: u16,
    sack: bool,
    timestamps: bool,
    wscale: Option<u8>,
    /// The window field of every segment (scaled by `wscale` but on the SYN).
    window: u16,
}

/// What the server in b does with its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Serve {
    /// Read up to the request's newline, write N bytes, close.
    Answer(usize),
    /// Read until the peer's FIN, write N bytes, close.
    AnswerAtEof(usize),
    /// Read until the peer's FIN (or RST), close.
    Read,
    /// Read until the peer's FIN (or RST), then close only once told to (a line on its
    /// standard input): the kernel's socket stays in CLOSE_WAIT meanwhile.
    Hold,
    /// No server: a client in b connects to the peer (the kernel's socket in SYN_SENT).
    Connect,
}

impl Scenario {
    /// The peer's habits; over IPv6 its MSS is the link's MTU less 60 bytes, not 40.
    fn habits(self, ipv6: bool) -> Habits {
        let mss = if ipv6 { 1440 } else { 1460 };
        let modern = Habits {
            mss,
            sack: true,
            timestamps: true,
            wscale: Some(7),
            window: 65535,
        };
        match self {
            Scenario::Nooptions => Habits {
                sack: false,
                timestamps: false,
                wscale: None,
                ..modern
            },
            Scenario::Mss536 => Habits {
                mss: 536,
                wscale: None,
                ..modern
            },
            // Three segments of 1448 bytes (1460 less the timestamps option; 1428 over IPv6).
            Scenario::Zerowindow => Habits {
                wscale: None,
                window: 3 * (mss - 12),
                ..modern
            },
            _ => modern,
        }
    }

    fn serve(self) -> Serve {
        match self {
            Scenario::Nooptions | Scenario::Mss536 => Serve::Answer(6000),
            Scenario::Slowstart => Serve::Answer(60_000),
            Scenario::SackFastretransmit | Scenario::Zerowindow => Serve::Answer(20_000),
            Scenario::RtoBackoff => Serve::Answer(4000),
            Scenario::RstEstablished => Serve::Answer(30_000),
            Scenario::FinFinWait => Serve::Answer(1000),
            Scenario::FinEstablished => Serve::AnswerAtEof(3000),
            Scenario::RstSynRecv | Scenario::DelayedAck => Serve::Read,
            Scenario::FinClosing | Scenario::RstFinWait1 => Serve::Answer(1000),
            Scenario::TimeWaitFin | Scenario::TimeWaitSyn => Serve::Answer(1000),
            Scenario::RstLastAck => Serve::AnswerAtEof(3000),
            Scenario::RstCloseWait => Serve::Hold,
            Scenario::RstSynSent => Serve::Connect,
        }
    }

    /// How many connections the server takes one after another.
    fn connections(self) -> u32 {
        if self == Scenario::TimeWaitSyn {
            2
        } else {
            1
        }
    }
}

/// Runs one scenario.
///
/// # Errors
/// Making the lab, a socket, the server, a step that waited too long, or the capture file; the
/// lab is removed in every case.
pub fn run<W: WriteColor>(args: &Args, out: &mut W) -> anyhow::Result<ExitCode> {
    let opts = super::Options {
        random_macs: false,
        mtu_b: 1500,
        offload: Offload::Off,
        bare_a: true,
    };
    let lab = Lab::create(&opts, Kind::Run)?;
    let server = SocketAddr::new(address(Host::B, args.ipv6), args.port);
    let me = SocketAddr::new(address(Host::A, args.ipv6), PEER_PORT);
    let linux = if args.scenario.serve() == Serve::Connect {
        format!("a Linux client in b ({}) connects to it", server.ip())
    } else {
        format!("the Linux server {server} in b")
    };
    writeln!(
        out,
        "encap lab peer {}: lab {} (namespaces {}), offload off; the scripted peer is {me} in a, {linux}",
        clap::ValueEnum::to_possible_value(&args.scenario).map_or(String::new(), |v| v.get_name().to_string()),
        lab.id,
        lab.ns.join(", ")
    )?;
    let captures = Captures::on(&[(lab.ns(Host::B).to_string(), LINKS[1].host.dev)])?;
    let (serve, conns) = (args.scenario.serve(), args.scenario.connections());
    // A client in b connects to the peer once the peer listens on a's link; a server in b
    // listens before the peer connects.
    let habits = args.scenario.habits(args.ipv6);
    let (mut proc, mut peer) = if serve == Serve::Connect {
        let from_b = SocketAddr::new(server.ip(), 0);
        let peer = Peer::open(&lab, me, from_b, habits, out)?;
        let to_peer = peer.local;
        (Server::start(&lab, to_peer, serve, conns)?, peer)
    } else {
        let proc = Server::start(&lab, server, serve, conns)?;
        (proc, Peer::open(&lab, me, server, habits, out)?)
    };
    let played = play(&mut peer, &lab, &mut proc, args.scenario);
    let (last, sent) = (peer.last, peer.sent);
    let out = peer.out;
    if let Err(e) = &played {
        out.flush()?;
        eprintln!("encap: error: {e:#}");
    }
    let frames = collect(&captures, last, args.ipv6)?;
    drop(captures);
    proc.finish(out)?;
    write_pcap(&args.write, &frames)?;
    writeln!(
        out,
        "the scripted peer sent {sent} frames; wrote {} frames to {} (b's veth b-r, both directions, {})",
        frames.len(),
        args.write.display(),
        if args.ipv6 {
            "IPv6 TCP and neighbour discovery"
        } else {
            "IPv4 and ARP"
        }
    )?;
    lab.remove();
    Ok(if played.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::cmd::TROUBLE)
    })
}

/// The script of each scenario.
fn play<W: WriteColor>(
    p: &mut Peer<'_, W>,
    lab: &Lab,
    server: &mut Server,
    s: Scenario,
) -> anyhow::Result<()> {
    match s {
        Scenario::Nooptions | Scenario::Mss536 => fetch(p, 0),
        Scenario::Slowstart => fetch(p, 10),
        Scenario::SackFastretransmit => sack_fast_retransmit(p),
        Scenario::RtoBackoff => rto_backoff(p),
        Scenario::Zerowindow => zero_window(p),
        Scenario::RstSynRecv => rst_syn_recv(p, lab),
        Scenario::RstEstablished => rst_established(p),
        Scenario::FinEstablished => fin_established(p),
        Scenario::FinFinWait => fin_fin_wait(p, lab),
        Scenario::DelayedAck => delayed_ack(p),
        Scenario::FinClosing => fin_closing(p, lab),
        Scenario::RstFinWait1 => rst_fin_wait1(p, lab),
        Scenario::RstLastAck => rst_last_ack(p, lab),
        Scenario::RstCloseWait => rst_close_wait(p, lab, server),
        Scenario::TimeWaitFin => time_wait_fin(p, lab),
        Scenario::TimeWaitSyn => time_wait_syn(p, lab),
        Scenario::RstSynSent => rst_syn_sent(p),
    }
}

/// Handshake, request, the answer (each segment ACKed, the first ACK held until `hold` segments
/// came if `hold` > 0), then the peer's FIN acknowledging the kernel's.
fn fetch<W: WriteColor>(p: &mut Peer<'_, W>, hold: usize) -> anyhow::Result<()> {
    p.handshake()?;
    p.request()?;
    if hold > 0 {
        let mut held = 0;
        while held < hold {
            let s = p.next("the initial window's segments")?;
            if p.accept(&s) {
                held += 1;
            }
        }
        p.say(&format!(
            "{held} segments came before any ACK of the peer's: the initial window; one ACK for them all"
        ))?;
        p.ack(&[])?;
    }
    p.receive_to_fin(true)?;
    p.close()
}

/// The segment after the first is dropped; each later one answered with a duplicate ACK whose
/// SACK block covers what came after the hole, until the kernel sends the hole again.
fn sack_fast_retransmit<W: WriteColor>(p: &mut Peer<'_, W>) -> anyhow::Result<()> {
    let synack = p.handshake()?;
    if !has_option(&synack.h, |o| matches!(o, TcpOption::SackPermitted)) {
        bail!("the kernel's SYN-ACK did not agree to SACK");
    }
    p.request()?;
    let first = p.next_data("the first data segment")?;
    p.accept(&first);
    p.ack(&[])?;
    let hole = p.next_data("the segment to lose")?;
    p.say(&format!(
        "the peer drops seq {} len {}: the hole",
        p.rel_rcv(hole.h.seq),
        hole.payload.len()
    ))?;
    let (hole_start, after_hole) = (hole.h.seq, hole.end());
    // The SACK block's right edge is the data's end; the kernel's FIN, if it came after the
    // hole, is taken with the data once the hole is filled.
    let (mut sacked_end, mut fin) = (after_hole, false);
    let mut dupacks = 0;
    for _ in 0..MAX_SEGMENTS {
        let s = p.next("the retransmission of the hole")?;
        if s.payload.is_empty() && s.h.flags & FLG_FIN == 0 {
            continue;
        }
        if s.h.seq == hole_start {
            p.say(&format!(
                "the hole came again ({dupacks} duplicate ACKs sent by the time the peer read it; the capture shows how many had reached b): ACK of everything to {}",
                p.rel_rcv(sacked_end)
            ))?;
            p.rcv_nxt = sacked_end.max(s.end()).wrapping_add(u32::from(fin));
            p.fin_taken = fin;
            p.ack(&[])?;
            p.receive_to_fin(true)?;
            return p.close();
        }
        // Out of order, after the hole: kept (a FIN too, which no SACK block can cover).
        if s.h.seq == sacked_end {
            sacked_end = s.h.seq.wrapping_add(s.payload.len() as u32);
            fin = s.h.flags & FLG_FIN != 0;
        }
        dupacks += 1;
        p.ack(&[(after_hole, sacked_end)])?;
    }
    bail!("the hole was not sent again in {MAX_SEGMENTS} segments")
}

/// The server's data taken but not ACKed until the kernel sent its first segment again 4 times.
fn rto_backoff<W: WriteColor>(p: &mut Peer<'_, W>) -> anyhow::Result<()> {
    const AGAIN: usize = 4;
    p.handshake()?;
    p.request()?;
    let first = p.next_data("the first data segment")?;
    p.accept(&first);
    let mut again = 0;
    for _ in 0..MAX_SEGMENTS {
        let s = p.next("a retransmission")?;
        p.accept(&s);
        if s.h.seq == first.h.seq && !s.payload.is_empty() {
            again += 1;
            p.say(&format!("the first segment sent again ({again})"))?;
            if again == AGAIN {
                p.ack(&[])?;
                p.receive_to_fin(true)?;
                return p.close();
            }
        }
    }
    bail!("the first segment was not sent again {AGAIN} times in {MAX_SEGMENTS} segments")
}

/// Three segments fill the window; the peer answers with window 0 and each of the kernel's
/// probes with window 0 again, 3 times; then it opens the window and the transfer completes.
fn zero_window<W: WriteColor>(p: &mut Peer<'_, W>) -> anyhow::Result<()> {
    const PROBES: usize = 3;
    p.handshake()?;
    p.request()?;
    let start = p.rcv_nxt;
    let full = u32::from(p.habits.window);
    for _ in 0..MAX_SEGMENTS {
        if p.rcv_nxt.wrapping_sub(start) >= full {
            break;
        }
        let s = p.next_data("the window's worth of data")?;
        p.accept(&s);
    }
    let open = p.habits.window;
    p.habits.window = 0;
    p.say("the window is full: ACK with window 0")?;
    p.ack(&[])?;
    let mut probes = 0;
    for _ in 0..MAX_SEGMENTS {
        let s = p.next("a zero-window probe")?;
        if s.payload.is_empty() && s.h.seq == p.rcv_nxt.wrapping_sub(1) {
            probes += 1;
            p.say(&format!(
                "zero-window probe {probes}: answered with window 0"
            ))?;
            p.ack(&[])?;
            if probes == PROBES {
                break;
            }
        }
    }
    p.habits.window = open;
    p.say("the window opens again")?;
    p.ack(&[])?;
    p.receive_to_fin(true)?;
    p.close()
}

/// SYN, the kernel's SYN-ACK, then a RST instead of the ACK; the kernel drops its request.
fn rst_syn_recv<W: WriteColor>(p: &mut Peer<'_, W>, lab: &Lab) -> anyhow::Result<()> {
    p.syn()?;
    p.expect("the SYN-ACK", |s| s.h.flags & FLG_SYN != 0)?;
    let port = p.remote.port();
    wait_for_states(lab, port, "the request in SYN_RECV", |st| st.contains(&3))?;
    p.say("b's kernel lists the request in SYN_RECV")?;
    p.send(FLG_RST, &[])?;
    wait_for_states(lab, port, "the request removed", |st| !st.contains(&3))?;
    p.say("b's kernel no longer lists the request (SYN_RECV)")
}

/// Handshake, request, two segments of the answer ACKed, then a RST.
fn rst_established<W: WriteColor>(p: &mut Peer<'_, W>) -> anyhow::Result<()> {
    p.handshake()?;
    p.request()?;
    for _ in 0..2 {
        let s = p.next_data("the answer")?;
        p.accept(&s);
        p.ack(&[])?;
    }
    p.send(FLG_RST | FLG_ACK, &[])
}

/// Handshake, request, the peer's FIN (CLOSE_WAIT in b), then the server's answer and FIN.
fn fin_established<W: WriteColor>(p: &mut Peer<'_, W>) -> anyhow::Result<()> {
    p.handshake()?;
    p.request()?;
    p.send(FLG_FIN | FLG_ACK, &[])?;
    let fin_end = p.snd_nxt;
    let acked = p.expect("the ACK of the peer's FIN", |s| s.h.ack == fin_end)?;
    if !acked.payload.is_empty() {
        p.ack(&[])?;
    }
    p.receive_to_fin(true)?;
    p.ack(&[])
}

/// The server answers and closes first; the peer ACKs its FIN, waits until b shows FIN_WAIT_2,
/// then sends its own FIN.
fn fin_fin_wait<W: WriteColor>(p: &mut Peer<'_, W>, lab: &Lab) -> anyhow::Result<()> {
    p.handshake()?;
    p.request()?;
    p.receive_to_fin(true)?;
    p.ack(&[])?;
    wait_for_states(lab, p.remote.port(), "FIN_WAIT_2 in b", |st| {
        st.contains(&5)
    })?;
    p.say("b's kernel shows the connection in FIN_WAIT_2")?;
    p.close()
}

/// 30 segments of 100 bytes without PSH (with PSH the kernel ACKs as soon as the server reads,
/// the connection being one-way), each sent once the kernel ACKed the one before: its quick
/// ACKs, then delayed ones; then FIN both ways.
fn delayed_ack<W: WriteColor>(p: &mut Peer<'_, W>) -> anyhow::Result<()> {
    p.handshake()?;
    for i in 0..30u8 {
        let line = [b'a' + i % 26; 100];
        p.send(FLG_ACK, &line)?;
        let end = p.snd_nxt;
        p.expect("the kernel's ACK of the write", |s| s.h.ack == end)?;
    }
    p.send(FLG_FIN | FLG_ACK, &[])?;
    p.receive_to_fin(false)?;
    p.ack(&[])
}

/// The states of b's sockets, as /proc/net/tcp numbers them.
const TCP_FIN_WAIT1: u8 = 4;
const TCP_FIN_WAIT2: u8 = 5;
const TCP_TIME_WAIT: u8 = 6;
const TCP_CLOSE_WAIT: u8 = 8;
const TCP_LAST_ACK: u8 = 9;
const TCP_CLOSING: u8 = 11;

/// Handshake, request, the answer up to the server's FIN, which the peer has not taken: its
/// next ACK will not cover it.
fn answer_to_fin<W: WriteColor>(p: &mut Peer<'_, W>) -> anyhow::Result<()> {
    p.handshake()?;
    p.request()?;
    p.receive_to_fin(true)?;
    p.unsee_fin();
    Ok(())
}

/// The server's FIN crosses the peer's: the peer's FIN acknowledges the data but not the FIN.
fn fin_closing<W: WriteColor>(p: &mut Peer<'_, W>, lab: &Lab) -> anyhow::Result<()> {
    answer_to_fin(p)?;
    p.say("the peer's FIN does not acknowledge the kernel's: both closed at once")?;
    p.send(FLG_FIN | FLG_ACK, &[])?;
    let end = p.snd_nxt;
    p.expect("the ACK of the peer's FIN", |s| s.h.ack == end)?;
    wait_for_states(lab, p.remote.port(), "CLOSING in b", |st| {
        st.contains(&TCP_CLOSING)
    })?;
    p.say("b's kernel shows the connection in CLOSING")?;
    p.take_fin();
    p.ack(&[])?;
    wait_for_states(lab, p.remote.port(), "TIME_WAIT in b", |st| {
        st.contains(&TCP_TIME_WAIT)
    })?;
    p.say("b's kernel shows the connection in TIME_WAIT")
}

/// The server's FIN answered with a RST (no ACK) while b is in FIN_WAIT_1.
fn rst_fin_wait1<W: WriteColor>(p: &mut Peer<'_, W>, lab: &Lab) -> anyhow::Result<()> {
    answer_to_fin(p)?;
    wait_for_states(lab, p.remote.port(), "FIN_WAIT_1 in b", |st| {
        st.contains(&TCP_FIN_WAIT1)
    })?;
    p.say("b's kernel shows the connection in FIN_WAIT_1: the peer resets it")?;
    p.send(FLG_RST, &[])?;
    wait_for_states(lab, p.remote.port(), "the connection gone from b", |st| {
        !st.contains(&TCP_FIN_WAIT1)
    })?;
    p.say("b's kernel no longer lists the connection")
}

/// The peer's FIN, the server's answer and FIN (LAST_ACK), then RST, ACK instead of the ACK.
fn rst_last_ack<W: WriteColor>(p: &mut Peer<'_, W>, lab: &Lab) -> anyhow::Result<()> {
    p.handshake()?;
    p.request()?;
    p.send(FLG_FIN | FLG_ACK, &[])?;
    p.receive_to_fin(true)?;
    wait_for_states(lab, p.remote.port(), "LAST_ACK in b", |st| {
        st.contains(&TCP_LAST_ACK)
    })?;
    p.say("b's kernel shows the connection in LAST_ACK: the peer resets it")?;
    p.send(FLG_RST | FLG_ACK, &[])?;
    wait_for_states(lab, p.remote.port(), "the connection gone from b", |st| {
        !st.contains(&TCP_LAST_ACK)
    })?;
    p.say("b's kernel no longer lists the connection")
}

/// The peer's FIN (CLOSE_WAIT), the same FIN again, then RST, ACK; the server closes after.
fn rst_close_wait<W: WriteColor>(
    p: &mut Peer<'_, W>,
    lab: &Lab,
    server: &mut Server,
) -> anyhow::Result<()> {
    p.handshake()?;
    p.request()?;
    p.send(FLG_FIN | FLG_ACK, &[])?;
    let end = p.snd_nxt;
    p.expect("the ACK of the peer's FIN", |s| s.h.ack == end)?;
    wait_for_states(lab, p.remote.port(), "CLOSE_WAIT in b", |st| {
        st.contains(&TCP_CLOSE_WAIT)
    })?;
    p.say("b's kernel shows the connection in CLOSE_WAIT: the peer sends its FIN again")?;
    p.send_again(FLG_FIN | FLG_ACK)?;
    p.expect("the kernel's duplicate ACK", |s| s.h.ack == end)?;
    p.send(FLG_RST | FLG_ACK, &[])?;
    wait_for_states(lab, p.remote.port(), "the connection gone from b", |st| {
        !st.contains(&TCP_CLOSE_WAIT)
    })?;
    p.say("b's kernel no longer lists the connection; the server closes its socket")?;
    server.release()
}

/// As fin-finwait, up to the kernel's ACK of the peer's FIN: b in TIME_WAIT.
fn to_time_wait<W: WriteColor>(p: &mut Peer<'_, W>, lab: &Lab) -> anyhow::Result<()> {
    p.handshake()?;
    p.request()?;
    p.receive_to_fin(true)?;
    p.ack(&[])?;
    wait_for_states(lab, p.remote.port(), "FIN_WAIT_2 in b", |st| {
        st.contains(&TCP_FIN_WAIT2)
    })?;
    p.close()?;
    wait_for_states(lab, p.remote.port(), "TIME_WAIT in b", |st| {
        st.contains(&TCP_TIME_WAIT)
    })?;
    p.say("b's kernel shows the connection in TIME_WAIT")
}

/// TIME_WAIT: the peer's FIN again (ACKed again), a RST (TIME_WAIT ends), then a new SYN from
/// the same port once the server's listener is closed too (the RST of a port with no socket).
fn time_wait_fin<W: WriteColor>(p: &mut Peer<'_, W>, lab: &Lab) -> anyhow::Result<()> {
    to_time_wait(p, lab)?;
    p.say("the peer's FIN again, as if the kernel's ACK were lost")?;
    p.send_again(FLG_FIN | FLG_ACK)?;
    let end = p.snd_nxt;
    p.expect("the ACK of the FIN sent again", |s| s.h.ack == end)?;
    p.say("a RST at the next sequence number: TIME_WAIT ends (net.ipv4.tcp_rfc1337 = 0)")?;
    p.send(FLG_RST | FLG_ACK, &[])?;
    wait_for_states(lab, p.remote.port(), "TIME_WAIT gone from b", |st| {
        !st.contains(&TCP_TIME_WAIT)
    })?;
    wait_for_states(lab, p.remote.port(), "the server's listener closed", |st| {
        !st.contains(&TCP_LISTEN)
    })?;
    p.say("b's kernel lists neither the connection nor a listener: a new SYN finds no socket")?;
    p.reopen(100_000);
    p.syn()?;
    let rst = p.next("the kernel's RST")?;
    if rst.h.flags & FLG_RST == 0 {
        bail!(
            "the kernel answered the SYN with {}, not RST",
            flag_names(rst.h.flags)
        );
    }
    Ok(())
}

/// TIME_WAIT, then a new SYN from the same port, its ISN 100 000 past the old connection's
/// end: a new connection (request, answer, FIN both ways).
fn time_wait_syn<W: WriteColor>(p: &mut Peer<'_, W>, lab: &Lab) -> anyhow::Result<()> {
    to_time_wait(p, lab)?;
    p.say("a new SYN from the same port, its ISN 100000 after the old connection's end")?;
    p.reopen(100_000);
    let synack = p.handshake()?;
    p.say(&format!(
        "the new connection's ISN is the old one's end + {} (tcp_timewait_state_process: 65537)",
        synack.h.seq.wrapping_sub(p.old_end)
    ))?;
    p.request()?;
    p.receive_to_fin(true)?;
    p.close()
}

/// Linux's SYN from b's client, answered with RST, ACK (seq 0, ack its ISN + 1).
fn rst_syn_sent<W: WriteColor>(p: &mut Peer<'_, W>) -> anyhow::Result<()> {
    let syn = p.next("the client's SYN")?;
    if syn.h.flags & (FLG_SYN | FLG_ACK) != FLG_SYN {
        bail!(
            "b's client sent {} first, not a SYN",
            flag_names(syn.h.flags)
        );
    }
    p.remote.set_port(syn.h.src_port);
    p.irs = syn.h.seq;
    p.rcv_nxt = syn.end();
    p.iss = 0;
    p.snd_nxt = 0;
    p.say("no listener here: the peer refuses the connection")?;
    p.send(FLG_RST | FLG_ACK, &[])
}

/// Waits until b's sockets on `port` satisfy `done` (read every 20 ms, 5 s at most).
fn wait_for_states(
    lab: &Lab,
    port: u16,
    what: &str,
    done: impl Fn(&[u8]) -> bool,
) -> anyhow::Result<()> {
    for _ in 0..250 {
        if done(&super::tcp_states(lab.ns(Host::B), port)?) {
            return Ok(());
        }
        stop_check()?;
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("waited 5 s for {what} (b's /proc/net/tcp)")
}

fn stop_check() -> anyhow::Result<()> {
    if crate::capture::stop_requested() {
        bail!("interrupted (SIGINT or SIGTERM): the lab is removed");
    }
    Ok(())
}

fn has_option(h: &TcpHeader, f: impl Fn(&TcpOption) -> bool) -> bool {
    h.options.iter().any(f)
}

/// A segment of the kernel's, as the peer received it.
#[derive(Debug, Clone)]
struct Seg {
    h: TcpHeader,
    payload: Vec<u8>,
}

impl Seg {
    /// The sequence number after it (SYN and FIN count one).
    fn end(&self) -> u32 {
        let flags = u32::from(self.h.flags & FLG_SYN != 0) + u32::from(self.h.flags & FLG_FIN != 0);
        self.h
            .seq
            .wrapping_add(self.payload.len() as u32)
            .wrapping_add(flags)
    }
}

/// What identifies a frame of the connection in the capture: its TCP sequence, acknowledgment
/// and flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Marker {
    seq: u32,
    ack: u32,
    flags: u16,
}

impl Marker {
    fn of(h: &TcpHeader) -> Marker {
        Marker {
            seq: h.seq,
            ack: h.ack,
            flags: h.flags,
        }
    }
}

/// The scripted peer: its edge, ARP or neighbour discovery, and the connection's numbers.
struct Peer<'o, W> {
    edge: Capture,
    arp: Neighbours,
    start: Instant,
    out: &'o mut W,
    local: SocketAddr,
    remote: SocketAddr,
    mac: Mac,
    habits: Habits,
    iss: u32,
    snd_nxt: u32,
    irs: u32,
    rcv_nxt: u32,
    /// Timestamps agreed (the peer offered them and the SYN-ACK carried them).
    timestamps: bool,
    ts_offset: u32,
    /// The kernel's latest TSval, echoed.
    ts_recent: u32,
    /// The kernel's FIN was taken into the stream.
    fin_taken: bool,
    /// Before a new connection from the same port: the kernel's sequence number after the old
    /// one's FIN.
    old_end: u32,
    sent: u64,
    /// The last frame of the connection the peer sent or received, by its source: the capture
    /// holds the whole connection once it holds that one.
    last: Option<(IpAddr, Marker)>,
}

impl<'o, W: WriteColor> Peer<'o, W> {
    /// Opens the packet socket in a and resolves the router's MAC (by ARP, or neighbour
    /// discovery when `local` is IPv6).
    fn open(
        lab: &Lab,
        local: SocketAddr,
        remote: SocketAddr,
        habits: Habits,
        out: &'o mut W,
    ) -> anyhow::Result<Peer<'o, W>> {
        let dev = LINKS[0].host.dev;
        let ns = lab.ns(Host::A).to_string();
        let edge = in_namespace(&ns.clone(), move || {
            Capture::open(dev)
                .with_context(|| format!("cannot open a packet socket on {dev} in {ns}"))
        })?;
        let [iss, ts_offset, _] = crate::packet_edge::random_u32s()?;
        let router = LINKS[0].router;
        let gateway: IpAddr = if local.is_ipv6() {
            router.ipv6.into()
        } else {
            router.ipv4.into()
        };
        let start = Instant::now();
        let mut p = Peer {
            edge,
            arp: Neighbours::asking(lab.macs[0][0], local.ip(), gateway, Duration::ZERO),
            start,
            out,
            local,
            remote,
            mac: lab.macs[0][0],
            habits,
            iss,
            snd_nxt: iss,
            irs: 0,
            rcv_nxt: 0,
            timestamps: false,
            ts_offset,
            ts_recent: 0,
            fin_taken: false,
            old_end: 0,
            sent: 0,
            last: None,
        };
        p.resolve()?;
        Ok(p)
    }

    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn say(&mut self, line: &str) -> anyhow::Result<()> {
        writeln!(self.out, "{:9.6}    {line}", self.now().as_secs_f64())?;
        Ok(())
    }

    /// Sends what ARP (neighbour discovery) queued.
    fn flush_arp(&mut self) -> anyhow::Result<()> {
        while let Some(f) = self.arp.transmit() {
            self.edge
                .send(f.frame())
                .context("sending ARP or neighbour discovery on a-r's packet socket")?;
        }
        Ok(())
    }

    /// Asks for the router's MAC (three requests a second apart at most).
    fn resolve(&mut self) -> anyhow::Result<Mac> {
        loop {
            self.flush_arp()?;
            match self.arp.state() {
                Resolution::Resolved(mac) => return Ok(mac),
                Resolution::Unreachable => bail!(
                    "no answer from r ({}) on a-r to the peer's {}",
                    self.arp.target(),
                    if self.local.is_ipv6() {
                        "neighbour solicitations"
                    } else {
                        "ARP requests"
                    }
                ),
                Resolution::Waiting => {}
            }
            stop_check()?;
            if let Some(f) = self.edge.next_frame().context("reading a-r")? {
                let data = f.data.to_vec();
                self.take(&data);
            }
            let now = self.now();
            self.arp.tick(now);
        }
    }

    /// Hands an ARP packet or a neighbour discovery message to the resolver (which answers a
    /// request for the peer's address), or returns the kernel's TCP segment to the peer.
    fn take(&mut self, frame: &[u8]) -> Option<Seg> {
        let (eth, rest) = EthernetHeader::parse(frame).ok()?;
        if !self.arp.listens(eth.destination, self.mac) {
            return None;
        }
        if let (EtherType::Arp, Neighbours::Arp(r)) = (eth.ethertype, &mut self.arp) {
            if let Ok(a) = ArpPacket::parse(rest) {
                r.receive(&a);
            }
            return None;
        }
        let (src, dst, hop_limit, proto, upper) = ip_of(&eth, rest)?;
        if let (Neighbours::Nd(r), IpAddr::V6(s), IpAddr::V6(d)) = (&mut self.arp, src, dst) {
            if proto == IpProtocol::Icmpv6 && r.accepts(d) {
                let by = nd::Carried {
                    mac: eth.source,
                    src: s,
                    dst: d,
                    hop_limit,
                };
                if let Err(why) = r.receive(by, &upper) {
                    eprintln!("encap: warning: the peer dropped a {why}");
                }
                return None;
            }
        }
        if dst != self.local.ip() || proto != IpProtocol::Tcp {
            return None;
        }
        let seg = TcpSegment::new_checked(&upper[..]).ok()?;
        let h = TcpHeader::parse(&seg).ok()?;
        // Port 0: any (the client in b's ephemeral port, learned from its SYN).
        let any = self.remote.port() == 0;
        if src != self.remote.ip() || !(any || h.src_port == self.remote.port()) {
            return None;
        }
        if h.dst_port != self.local.port() {
            return None;
        }
        Some(Seg {
            h,
            payload: seg.payload().to_vec(),
        })
    }

    /// The kernel's next segment, shown; an error after [`STEP_LIMIT`] or on a signal.
    fn next(&mut self, what: &str) -> anyhow::Result<Seg> {
        let end = Instant::now() + STEP_LIMIT;
        loop {
            stop_check()?;
            if Instant::now() > end {
                bail!("waited {} s for {what}", STEP_LIMIT.as_secs());
            }
            let Some(f) = self.edge.next_frame().context("reading a-r")? else {
                continue;
            };
            let data = f.data.to_vec();
            let seg = self.take(&data);
            self.flush_arp()?;
            if let Some(s) = seg {
                if let Some(TcpOption::Timestamps { tsval, .. }) =
                    s.h.options
                        .iter()
                        .find(|o| matches!(o, TcpOption::Timestamps { .. }))
                {
                    self.ts_recent = *tsval;
                }
                self.show("<-", &s.h, s.payload.len())?;
                self.last = Some((self.remote.ip(), Marker::of(&s.h)));
                return Ok(s);
            }
        }
    }

    /// The kernel's next segment that carries data.
    fn next_data(&mut self, what: &str) -> anyhow::Result<Seg> {
        for _ in 0..MAX_SEGMENTS {
            let s = self.next(what)?;
            if !s.payload.is_empty() {
                return Ok(s);
            }
        }
        bail!("no data segment in {MAX_SEGMENTS} segments while waiting for {what}")
    }

    /// The kernel's next segment for which `done` holds; what each carries in order is taken
    /// into the stream (and not ACKed).
    fn expect(&mut self, what: &str, done: impl Fn(&Seg) -> bool) -> anyhow::Result<Seg> {
        for _ in 0..MAX_SEGMENTS {
            let s = self.next(what)?;
            if s.h.flags & FLG_RST != 0 {
                bail!("the kernel reset the connection while the peer waited for {what}");
            }
            if s.h.flags & FLG_SYN == 0 {
                self.accept(&s);
            }
            if done(&s) {
                return Ok(s);
            }
        }
        bail!("no segment for {what} in {MAX_SEGMENTS} segments")
    }

    /// Takes `s` into the stream if it is the next in order (its data, its FIN); true if taken.
    fn accept(&mut self, s: &Seg) -> bool {
        let carries = !s.payload.is_empty() || s.h.flags & FLG_FIN != 0;
        if carries && s.h.seq == self.rcv_nxt {
            self.rcv_nxt = s.end();
            self.fin_taken |= s.h.flags & FLG_FIN != 0;
            return true;
        }
        false
    }

    /// The kernel's sequence number relative to its ISN.
    fn rel_rcv(&self, seq: u32) -> u32 {
        seq.wrapping_sub(self.irs)
    }

    /// The SYN: MSS, then window scale, SACK-permitted and timestamps as the habits say.
    fn syn(&mut self) -> anyhow::Result<()> {
        self.send(FLG_SYN, &[])
    }

    /// SYN, SYN-ACK, ACK; the SYN-ACK returned.
    fn handshake(&mut self) -> anyhow::Result<Seg> {
        self.syn()?;
        let iss = self.iss;
        let synack = self.next("the SYN-ACK")?;
        if synack.h.flags & (FLG_SYN | FLG_ACK) != FLG_SYN | FLG_ACK
            || synack.h.ack != iss.wrapping_add(1)
        {
            bail!(
                "the kernel answered the SYN with {} ack {}, not a SYN-ACK of it",
                flag_names(synack.h.flags),
                synack.h.ack
            );
        }
        self.irs = synack.h.seq;
        self.rcv_nxt = synack.h.seq.wrapping_add(1);
        self.timestamps = self.habits.timestamps
            && has_option(&synack.h, |o| matches!(o, TcpOption::Timestamps { .. }));
        self.ack(&[])?;
        Ok(synack)
    }

    /// The request: one line (not HTTP's: the port is not HTTP's).
    fn request(&mut self) -> anyhow::Result<()> {
        self.send(FLG_PSH | FLG_ACK, REQUEST)
    }

    /// A pure ACK of everything taken, with `sack` blocks.
    fn ack(&mut self, sack: &[(u32, u32)]) -> anyhow::Result<()> {
        self.send_with(FLG_ACK, &[], sack)
    }

    /// Takes the kernel's segments until its FIN, ACKing each that carries data if `ack_each`
    /// (the FIN itself is left for the caller to answer).
    fn receive_to_fin(&mut self, ack_each: bool) -> anyhow::Result<()> {
        for _ in 0..MAX_SEGMENTS {
            if self.fin_taken {
                return Ok(());
            }
            let s = self.next("the kernel's FIN")?;
            if s.h.flags & FLG_RST != 0 {
                bail!("the kernel reset the connection");
            }
            self.accept(&s);
            if ack_each && !s.payload.is_empty() && !self.fin_taken {
                self.ack(&[])?;
            }
        }
        bail!("no FIN in {MAX_SEGMENTS} segments")
    }

    /// Forgets that the kernel's FIN was taken: the next ACK covers its data only.
    fn unsee_fin(&mut self) {
        if self.fin_taken {
            self.fin_taken = false;
            self.rcv_nxt = self.rcv_nxt.wrapping_sub(1);
        }
    }

    /// Takes the kernel's FIN that [`Self::unsee_fin`] left out.
    fn take_fin(&mut self) {
        if !self.fin_taken {
            self.fin_taken = true;
            self.rcv_nxt = self.rcv_nxt.wrapping_add(1);
        }
    }

    /// Sends the peer's last FIN again (its sequence number one before `snd_nxt`).
    fn send_again(&mut self, flags: u16) -> anyhow::Result<()> {
        self.snd_nxt = self.snd_nxt.wrapping_sub(1);
        self.send(flags, &[])
    }

    /// A new connection from the same port: its ISN `past` after the old one's end.
    fn reopen(&mut self, past: u32) {
        self.old_end = self.rcv_nxt;
        self.iss = self.snd_nxt.wrapping_add(past);
        self.snd_nxt = self.iss;
        self.fin_taken = false;
    }

    /// The peer's FIN (acknowledging all taken), then the kernel's ACK of it.
    fn close(&mut self) -> anyhow::Result<()> {
        self.send(FLG_FIN | FLG_ACK, &[])?;
        let end = self.snd_nxt;
        self.expect("the ACK of the peer's FIN", |s| s.h.ack == end)?;
        Ok(())
    }

    fn send(&mut self, flags: u16, payload: &[u8]) -> anyhow::Result<()> {
        self.send_with(flags, payload, &[])
    }

    /// The options of a segment: the SYN's as the habits say, later the timestamps if agreed
    /// and SACK blocks (none on a RST).
    fn options(&self, flags: u16, sack: &[(u32, u32)]) -> Vec<TcpOption> {
        let tsval = self.ts_offset.wrapping_add(self.now().as_millis() as u32);
        let mut o = Vec::new();
        if flags & FLG_SYN != 0 {
            o.push(TcpOption::Mss(self.habits.mss));
            if let Some(ws) = self.habits.wscale {
                o.extend([TcpOption::Nop, TcpOption::WindowScale(ws)]);
            }
            if self.habits.sack {
                o.extend([TcpOption::Nop, TcpOption::Nop, TcpOption::SackPermitted]);
            }
            if self.habits.timestamps {
                let ts = TcpOption::Timestamps { tsval, tsecr: 0 };
                o.extend([TcpOption::Nop, TcpOption::Nop, ts]);
            }
            return o;
        }
        if flags & FLG_RST != 0 {
            return o;
        }
        if self.timestamps {
            let tsecr = self.ts_recent;
            o.extend([
                TcpOption::Nop,
                TcpOption::Nop,
                TcpOption::Timestamps { tsval, tsecr },
            ]);
        }
        if !sack.is_empty() {
            o.extend([
                TcpOption::Nop,
                TcpOption::Nop,
                TcpOption::Sack(sack.to_vec()),
            ]);
        }
        o
    }

    /// Builds one segment with the pipeline (full checksums, no DF, IP ID 0; over IPv6 flow
    /// label 0) and sends it.
    fn send_with(&mut self, flags: u16, payload: &[u8], sack: &[(u32, u32)]) -> anyhow::Result<()> {
        let next_hop = self.resolve()?;
        let header = TcpHeader {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq: self.snd_nxt,
            ack: if flags & FLG_ACK != 0 {
                self.rcv_nxt
            } else {
                0
            },
            flags,
            window: self.habits.window,
            checksum: 0,
            urgent: 0,
            options: self.options(flags, sack),
        };
        let mut params = Params::between_any(self.local, self.remote).with_macs(self.mac, next_hop);
        params.checksum = ChecksumMode::Full;
        params.ip.identification = 0;
        params.ip.dont_fragment = false;
        params.ip.ttl = 64;
        if let Some(v6) = &mut params.ipv6 {
            v6.flow_label = 0;
            v6.hop_limit = 64;
        }
        params.tcp = header.clone();
        let frame = encapsulate(payload, &params).context("building the peer's segment")?;
        self.edge
            .send(frame.frame())
            .context("sending on a-r's packet socket")?;
        self.sent += 1;
        self.last = Some((self.local.ip(), Marker::of(&header)));
        let syn_fin = u32::from(flags & FLG_SYN != 0) + u32::from(flags & FLG_FIN != 0);
        self.snd_nxt = self
            .snd_nxt
            .wrapping_add(payload.len() as u32)
            .wrapping_add(syn_fin);
        self.show("->", &header, payload.len())
    }

    /// One line per frame: who, flags, relative numbers, window, length, options.
    fn show(&mut self, dir: &str, h: &TcpHeader, len: usize) -> anyhow::Result<()> {
        // The kernel's ISN is its SYN-ACK's sequence number, before the peer learned it.
        let irs = if h.flags & FLG_SYN != 0 {
            h.seq
        } else {
            self.irs
        };
        let (seq, ack) = if dir == "->" {
            (h.seq.wrapping_sub(self.iss), h.ack.wrapping_sub(irs))
        } else {
            (h.seq.wrapping_sub(irs), h.ack.wrapping_sub(self.iss))
        };
        let ack = if h.flags & FLG_ACK != 0 { ack } else { 0 };
        let who = if dir == "->" { "peer  " } else { "kernel" };
        let opts: Vec<String> = h.options.iter().map(ToString::to_string).collect();
        writeln!(
            self.out,
            "{:9.6} {dir} {who} {} seq {seq} ack {ack} win {} len {len}{}",
            self.now().as_secs_f64(),
            flag_names(h.flags),
            h.window,
            if opts.is_empty() {
                String::new()
            } else {
                format!(" <{}>", opts.join(", "))
            }
        )?;
        Ok(())
    }
}

/// The capture's frames, in time order, once it holds the connection's last frame (or after
/// [`CAPTURE_LIMIT`], or at once after SIGINT or SIGTERM).
fn collect(
    captures: &Captures,
    last: Option<(IpAddr, Marker)>,
    ipv6: bool,
) -> anyhow::Result<Vec<LinkFrame>> {
    let end = Instant::now() + CAPTURE_LIMIT;
    let mut frames: Vec<LinkFrame> = Vec::new();
    let seen = |frames: &[LinkFrame]| match last {
        Some(m) => frames.iter().any(|f| marker_of(&f.data) == Some(m)),
        None => true,
    };
    // Interrupted, what was captured is still written.
    while !seen(&frames) && !crate::capture::stop_requested() {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            eprintln!(
                "encap: warning: the capture did not see the connection's last frame within {} s",
                CAPTURE_LIMIT.as_secs()
            );
            break;
        }
        if let Ok(f) = captures
            .frames
            .recv_timeout(left.min(Duration::from_millis(100)))
        {
            frames.push(f);
        }
    }
    frames.extend(captures.frames.try_iter());
    // The connection and ARP (over IPv6: neighbour solicitations and advertisements): the
    // frames the veths send as they come up (MLDv2 reports, router solicitations) are nobody's
    // behaviour here.
    frames.retain(|f| kept(&f.data, ipv6));
    Ok(super::demo::in_causal_order(frames))
}

/// True for a frame of the capture's family the file keeps: IPv4 and ARP, or IPv6's TCP and
/// neighbour discovery.
fn kept(frame: &[u8], ipv6: bool) -> bool {
    let Ok((eth, rest)) = EthernetHeader::parse(frame) else {
        return false;
    };
    match (eth.ethertype, ipv6) {
        (EtherType::Ipv4 | EtherType::Arp, false) => true,
        (EtherType::Ipv6, true) => ipv6::parse(rest).is_ok_and(|ip| match ip.protocol {
            IpProtocol::Tcp => true,
            IpProtocol::Icmpv6 => rest.get(ip.upper).is_some_and(|&k| ndp::is_ndp(k)),
            _ => false,
        }),
        _ => false,
    }
}

/// The IP packet of an Ethernet frame, IPv4 or IPv6: its source, destination, hop limit (TTL)
/// and upper-layer protocol, and that protocol's bytes.
fn ip_of(eth: &EthernetHeader, rest: &[u8]) -> Option<(IpAddr, IpAddr, u8, IpProtocol, Vec<u8>)> {
    match eth.ethertype {
        EtherType::Ipv4 => {
            let ip = Ipv4Packet::new_checked(rest).ok()?;
            let (src, dst) = (ip.source().into(), ip.destination().into());
            Some((src, dst, ip.ttl(), ip.protocol(), ip.payload().to_vec()))
        }
        EtherType::Ipv6 => {
            let ip = ipv6::parse(rest).ok()?;
            let upper = rest.get(ip.upper..ip.end)?.to_vec();
            let (src, dst) = (ip.source.into(), ip.destination.into());
            Some((src, dst, ip.hop_limit, ip.protocol, upper))
        }
        _ => None,
    }
}

/// The source address and TCP marker of a captured frame.
fn marker_of(frame: &[u8]) -> Option<(IpAddr, Marker)> {
    let (eth, rest) = EthernetHeader::parse(frame).ok()?;
    let (src, _, _, proto, upper) = ip_of(&eth, rest)?;
    if proto != IpProtocol::Tcp {
        return None;
    }
    let seg = TcpSegment::new_checked(&upper[..]).ok()?;
    let h = TcpHeader::parse(&seg).ok()?;
    Some((src, Marker::of(&h)))
}

fn write_pcap(path: &std::path::Path, frames: &[LinkFrame]) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut w = encap::pcap::FrameWriter::new(std::io::BufWriter::new(file))
        .with_context(|| format!("writing {}", path.display()))?;
    for f in frames {
        w.write(f.timestamp, &f.data)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    w.into_inner()
        .flush()
        .with_context(|| format!("writing {}", path.display()))
}

/// The Python server in b: a kernel socket that serves one connection as [`Serve`] says.
const SERVER_PY: &str = r#"
import socket, sys
host, port, mode, n, sndbuf, conns = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
family = socket.AF_INET6 if ':' in host else socket.AF_INET
if mode == 'connect':
    c = socket.socket(family)
    try:
        c.connect((host, port))
        print('client: connected to %s:%d' % (host, port), flush=True)
    except OSError as e:
        print('client: connect to %s:%d: %s' % (host, port, e), flush=True)
    c.close()
    sys.exit(0)
s = socket.socket(family)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if sndbuf:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
s.bind((host, port))
s.listen(1)
answer = (b'0123456789abcdef' * (n // 16 + 1))[:n]
for _ in range(conns):
    c, _ = s.accept()
    try:
        got = b''
        while True:
            d = c.recv(65536)
            if not d:
                break
            got += d
            if mode == 'answer' and b'\n' in got:
                break
        if mode in ('answer', 'eof'):
            c.sendall(answer)
        print('server: read %d bytes, wrote %d' % (len(got), n if mode in ('answer', 'eof') else 0), flush=True)
        if mode == 'hold':
            sys.stdin.readline()
    except OSError as e:
        print('server: %s' % e, flush=True)
    c.close()
"#;

/// The server process in b.
struct Server {
    child: Child,
}

impl Server {
    /// Starts the server (or client) in b; `conns` connections are served one after another.
    fn start(lab: &Lab, at: SocketAddr, serve: Serve, conns: u32) -> anyhow::Result<Server> {
        let (mode, n) = match serve {
            Serve::Answer(n) => ("answer", n),
            Serve::AnswerAtEof(n) => ("eof", n),
            Serve::Read => ("read", 0),
            Serve::Hold => ("hold", 0),
            Serve::Connect => ("connect", 0),
        };
        // Room for the whole answer in the send buffer, so one write queues it all and only
        // the congestion window decides what leaves when (else the buffer's 16 KB, growing
        // slowly, would).
        let sndbuf = (4 * n).to_string();
        let mut cmd = Command::new("python3");
        cmd.args([
            "-c",
            SERVER_PY,
            &at.ip().to_string(),
            &at.port().to_string(),
        ])
        .args([mode, &n.to_string(), &sndbuf, &conns.to_string()])
        .stdin(if serve == Serve::Hold {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
        let child = in_namespace(lab.ns(Host::B), move || {
            cmd.spawn().context("cannot start python3 in b")
        })?;
        let mut server = Server { child };
        if serve == Serve::Connect {
            return Ok(server);
        }
        for _ in 0..250 {
            if super::tcp_states(lab.ns(Host::B), at.port())?.contains(&TCP_LISTEN) {
                return Ok(server);
            }
            if let Some(status) = server.child.try_wait()? {
                bail!("the Python server in b ended ({status}) before listening on {at}");
            }
            stop_check()?;
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("the Python server in b is not listening on {at} after 5 s")
    }

    /// Tells a [`Serve::Hold`] server to close its connection (a line on its standard input).
    fn release(&mut self) -> anyhow::Result<()> {
        if let Some(stdin) = self.child.stdin.as_mut() {
            stdin
                .write_all(b"close\n")
                .context("telling the server in b to close")?;
        }
        Ok(())
    }

    /// Waits a second for the server to end, then ends it (SIGTERM to its pid).
    fn finish<W: WriteColor>(&mut self, out: &mut W) -> anyhow::Result<()> {
        let status = super::end_child(&mut self.child)?;
        writeln!(out, "the Python server in b ended ({status})")?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        super::kill_child(&mut self.child);
    }
}
