//! `encap demo --udp`: the blog's dialogue twice on lo, over TCP and over UDP, both captured,
//! frame by frame side by side: what a connection costs (handshake, ACKs, teardown) and what a
//! datagram does without (and so cannot promise).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use termcolor::WriteColor;

use crate::capture::{Capture, CaptureError, Sniffer};
use encap::dissect::{slice, Transport};
use encap::layers::tcp::flag_names;
use encap::udp_flows::UdpFlows;

/// The blog's dialogue: (from the client?, line).
const DIALOGUE: [(bool, &str); 5] = [
    (true, "hello\n"),
    (false, "hi\n"),
    (true, "你好，服务器！\n"),
    (false, "你好，客户端 👋\n"),
    (true, "exit\n"),
];

/// How long the capture waits for the last frames (the teardown's) after the dialogue.
const QUIET: Duration = Duration::from_millis(300);
const LIMIT: Duration = Duration::from_secs(5);

fn sniff(port: u16) -> anyhow::Result<Sniffer> {
    match Capture::open_port("lo", Some(port)) {
        Ok(cap) => Ok(Sniffer::start(cap, port)),
        Err(CaptureError::NoPermission { exe, .. }) => anyhow::bail!(
            "demo --udp counts the frames on lo, which needs CAP_NET_RAW: run `sudo {exe} demo --udp` (or `sudo setcap cap_net_raw+ep {exe}` once)"
        ),
        Err(e) => Err(e).context("cannot capture on lo"),
    }
}

/// The dialogue over TCP: connect, the five lines each read by the other side, the client
/// closes, the server closes.
fn tcp_dialogue(listener: &TcpListener) -> anyhow::Result<()> {
    let mut client = TcpStream::connect(listener.local_addr()?)?;
    let (mut server, _) = listener.accept()?;
    for s in [&client, &server] {
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(LIMIT))?;
    }
    for (from_client, line) in DIALOGUE {
        let (tx, rx) = if from_client {
            (&mut client, &mut server)
        } else {
            (&mut server, &mut client)
        };
        tx.write_all(line.as_bytes())?;
        let mut got = vec![0u8; line.len()];
        rx.read_exact(&mut got)?;
    }
    drop(client);
    // The server reads the client's FIN (end of file), then closes its end.
    let mut rest = Vec::new();
    server.read_to_end(&mut rest)?;
    drop(server);
    Ok(())
}

/// The dialogue over UDP: one datagram per line, each received before the next is sent.
fn udp_dialogue(server: &UdpSocket) -> anyhow::Result<()> {
    let client = UdpSocket::bind("127.0.0.1:0")?;
    client.connect(server.local_addr()?)?;
    for s in [&client, server] {
        s.set_read_timeout(Some(LIMIT))?;
    }
    let mut peer: Option<SocketAddr> = None;
    let mut buf = [0u8; 256];
    for (from_client, line) in DIALOGUE {
        if from_client {
            client.send(line.as_bytes())?;
            let (_, from) = server.recv_from(&mut buf)?;
            peer = Some(from);
        } else {
            let to = peer.context("the server has no peer address yet")?;
            server.send_to(line.as_bytes(), to)?;
            client.recv(&mut buf)?;
        }
    }
    Ok(())
}

/// One line per frame: TCP flags, length and role (the ACK that completes the handshake and the
/// ACKs after a FIN belong to them), or a datagram's length.
fn describe_all(frames: &[(Duration, Vec<u8>)]) -> Vec<String> {
    let (mut after_synack, mut closing) = (false, false);
    frames
        .iter()
        .map(|(_, frame)| match slice(frame).transport {
            Transport::Tcp(t) => {
                let len = t.payload().len();
                let f = t.flags();
                let what = if f & 0x02 != 0 {
                    after_synack = f & 0x10 != 0;
                    "handshake"
                } else if f & 0x05 != 0 {
                    closing = true;
                    "teardown"
                } else if len == 0 && after_synack {
                    after_synack = false;
                    "handshake"
                } else if len == 0 && closing {
                    "teardown"
                } else if len == 0 {
                    "ACK only"
                } else {
                    "data"
                };
                format!("[{}] len {len} ({what})", flag_names(f))
            }
            Transport::Udp(_, _, d) => format!("datagram len {}", d.len()),
            _ => "other".into(),
        })
        .collect()
}

/// Of `frames`, those of TCP (`tcp`) or of UDP.
fn only(frames: Vec<(Duration, Vec<u8>)>, tcp: bool) -> Vec<(Duration, Vec<u8>)> {
    frames
        .into_iter()
        .filter(|(_, f)| match slice(f).transport {
            Transport::Tcp(_) => tcp,
            Transport::Udp(..) => !tcp,
            _ => false,
        })
        .collect()
}

/// Runs `encap demo --udp`: the dialogue over TCP on `port` and over UDP on `port` (each
/// protocol has its own ports; a busy one is replaced by a free one).
///
/// # Errors
/// No capture permission, a socket call that fails, or output fails.
pub fn run<W: WriteColor>(port: u16, out: &mut W) -> anyhow::Result<ExitCode> {
    let listener = TcpListener::bind(("127.0.0.1", port))
        .or_else(|_| TcpListener::bind("127.0.0.1:0"))
        .context("cannot bind a TCP port on 127.0.0.1")?;
    let udp = UdpSocket::bind(("127.0.0.1", port))
        .or_else(|_| UdpSocket::bind("127.0.0.1:0"))
        .context("cannot bind a UDP port on 127.0.0.1")?;
    let (tcp_port, udp_port) = (listener.local_addr()?.port(), udp.local_addr()?.port());
    writeln!(
        out,
        "encap demo --udp: the blog's dialogue ({} lines) over TCP (127.0.0.1:{tcp_port}) and over UDP (127.0.0.1:{udp_port}), every frame captured on lo",
        DIALOGUE.len()
    )?;
    let tcp_sniffer = sniff(tcp_port)?;
    let udp_sniffer = sniff(udp_port)?;
    tcp_dialogue(&listener).context("the TCP dialogue")?;
    udp_dialogue(&udp).context("the UDP dialogue")?;
    // A port number is TCP's and UDP's alike: each capture keeps its own protocol's frames.
    let tcp_frames = only(tcp_sniffer.drain(QUIET, LIMIT), true);
    let udp_frames = only(udp_sniffer.drain(QUIET, LIMIT), false);
    let (tcp_lines, udp_lines) = (describe_all(&tcp_frames), describe_all(&udp_frames));
    writeln!(
        out,
        "\n{:<4} {:<44} UDP: datagrams",
        "", "TCP: a connection"
    )?;
    for i in 0..tcp_frames.len().max(udp_frames.len()) {
        let t = tcp_lines.get(i).map_or("", String::as_str);
        let u = udp_lines.get(i).map_or("", String::as_str);
        writeln!(out, "{:>4} {t:<44} {u}", i + 1)?;
    }
    let bytes = |fs: &[(Duration, Vec<u8>)]| fs.iter().map(|(_, f)| f.len()).sum::<usize>();
    let kinds = |what: &str| tcp_lines.iter().filter(|l| l.contains(what)).count();
    writeln!(out)?;
    writeln!(
        out,
        "TCP: {} frames, {} bytes on lo: {} of handshake, {} carrying data, {} ACKs only, {} of teardown. Every byte is numbered, acknowledged, resent if lost, delivered in order.",
        tcp_frames.len(),
        bytes(&tcp_frames),
        kinds("(handshake)"),
        kinds("(data)"),
        kinds("(ACK only)"),
        kinds("(teardown)")
    )?;
    writeln!(
        out,
        "UDP: {} frames, {} bytes on lo: one datagram per message, nothing before, after or in between. A lost datagram is gone; two may arrive in either order; nobody acknowledges.",
        udp_frames.len(),
        bytes(&udp_frames)
    )?;
    // Each datagram checked against how Linux sends one.
    let mut flows = UdpFlows::new();
    let mut mismatch = 0;
    for (i, (_, f)) in udp_frames.iter().enumerate() {
        if let Some(c) = flows.feed(i as u64 + 1, encap::layers::link::link_type::ETHERNET, f) {
            mismatch += c.counts().mismatch;
        }
    }
    writeln!(
        out,
        "the {} datagrams checked field by field against the rules Linux sends them by: {mismatch} MISMATCH",
        udp_frames.len()
    )?;
    out.flush()?;
    Ok(if mismatch > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
