//! The chat over UDP (`encap server --udp`, `encap client --udp`): one datagram per message, no
//! connection. The server has no listen() and no accept(): it answers to the address each
//! datagram came from. The client's connect() sends nothing; it fixes the peer, so that the
//! kernel hands this socket the ICMP errors about it (a port unreachable becomes ECONNREFUSED).
//!
//! One thread: poll() waits on standard input and the socket together.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::ExitCode;

use anyhow::Context;
use termcolor::WriteColor;

use encap::datagram::{self, DatagramParams};
use encap::layers::payload::escape_bytes;
use encap::render;

use super::View;

/// Most peers the server remembers (each datagram's sender becomes one).
const MAX_PEERS: usize = 64;

/// What poll() found ready.
struct Ready {
    input: bool,
    socket: bool,
}

/// Waits until standard input (while `stdin_open`) or the socket can be read.
fn wait(sock: &UdpSocket, stdin_open: bool) -> std::io::Result<Ready> {
    let mut fds = [
        libc::pollfd {
            fd: sock.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: if stdin_open { 0 } else { -1 },
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    loop {
        // SAFETY: fds is a live array of two pollfd; -1 entries are ignored by poll.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n >= 0 {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    let hit = |f: &libc::pollfd| f.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0;
    Ok(Ready {
        socket: hit(&fds[0]),
        input: hit(&fds[1]),
    })
}

/// Standard input, read as it comes, cut into lines.
#[derive(Default)]
struct Lines {
    buf: Vec<u8>,
    closed: bool,
}

impl Lines {
    /// Reads what standard input has (once poll said it is readable) and returns the whole lines.
    fn read(&mut self) -> std::io::Result<Vec<Vec<u8>>> {
        let mut chunk = [0u8; 4096];
        // SAFETY: chunk is a live buffer of its length; fd 0 is standard input.
        let n = unsafe { libc::read(0, chunk.as_mut_ptr().cast(), chunk.len()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            return if e.kind() == std::io::ErrorKind::Interrupted {
                Ok(Vec::new())
            } else {
                Err(e)
            };
        }
        if n == 0 {
            self.closed = true;
            if !self.buf.is_empty() {
                return Ok(vec![std::mem::take(&mut self.buf)]);
            }
            return Ok(Vec::new());
        }
        self.buf.extend_from_slice(&chunk[..n as usize]);
        let mut lines = Vec::new();
        while let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
            let mut line: Vec<u8> = self.buf.drain(..=i).collect();
            line.pop();
            lines.push(line);
        }
        Ok(lines)
    }
}

/// The text of a datagram as shown: one trailing newline dropped, everything escaped.
fn shown(data: &[u8]) -> String {
    escape_bytes(data.strip_suffix(b"\n").unwrap_or(data))
}

/// Shows `msg` through the pipeline from `from` to `to` as `view` asks. `connected`: the
/// number of datagrams this connected socket sent before (its IP IDs count up from one the
/// kernel picked at connect(), shown relative to it); `None` for an unconnected socket, whose
/// datagrams with DF carry IP ID 0.
fn show_pipeline<W: WriteColor>(
    out: &mut W,
    msg: &[u8],
    (from, to): (SocketAddr, SocketAddr),
    connected: Option<u16>,
    view: View,
) -> anyhow::Result<()> {
    if view == View::None {
        return Ok(());
    }
    let params = DatagramParams {
        ip_id: connected.unwrap_or(0),
        ..DatagramParams::default()
    };
    let frame = datagram::encapsulate(msg, from, to, params)?;
    match view {
        View::Full => render::datagram::full(out, &frame)?,
        _ => render::datagram::summary(out, &frame)?,
    }
    if connected == Some(0) && from.is_ipv4() {
        writeln!(out, "  (IP ID relative: a connected socket's first is picked by the kernel at connect(), then counts by one per datagram; an unconnected socket's are 0)")?;
    }
    Ok(())
}

/// `encap server --udp`: receives datagrams on `listen`, shows each with its sender, and sends
/// every typed line to every sender seen so far.
///
/// # Errors
/// The socket cannot be bound (EADDRINUSE...), or output fails.
pub fn serve<W: WriteColor>(
    out: &mut W,
    listen: SocketAddr,
    view: View,
) -> anyhow::Result<ExitCode> {
    let sock =
        UdpSocket::bind(listen).with_context(|| format!("cannot bind a UDP socket to {listen}"))?;
    let local = sock.local_addr()?;
    writeln!(
        out,
        "listening on {local}/udp: no listen(), no accept(), no handshake: each datagram says who sent it"
    )?;
    writeln!(
        out,
        "type a line to send it to every client that has sent a datagram; `exit` ends the server (end of input only ends the typing)"
    )?;
    out.flush()?;
    let mut peers: Vec<SocketAddr> = Vec::new();
    let mut lines = Lines::default();
    let mut buf = vec![0u8; 65536];
    loop {
        let ready = wait(&sock, !lines.closed)?;
        if ready.socket {
            match sock.recv_from(&mut buf) {
                Ok((n, from)) => {
                    if !peers.contains(&from) && peers.len() < MAX_PEERS {
                        peers.push(from);
                        writeln!(out, "{from} sent its first datagram: it is a peer now (UDP keeps no connection; replies go to the address a datagram came from)")?;
                    }
                    writeln!(
                        out,
                        "{from} says ({n} bytes, 1 datagram): {}",
                        shown(&buf[..n])
                    )?;
                }
                Err(e) => writeln!(out, "recvfrom failed: {e}")?,
            }
        }
        if ready.input {
            for line in lines.read()? {
                if line == b"exit" {
                    writeln!(
                        out,
                        "server ends: nothing to close with the clients (no connection, no FIN)"
                    )?;
                    return Ok(ExitCode::SUCCESS);
                }
                if peers.is_empty() {
                    writeln!(
                        out,
                        "no client has sent a datagram yet: no address to send to"
                    )?;
                }
                let mut msg = line;
                msg.push(b'\n');
                for p in &peers {
                    writeln!(out, "-> {p}: {} bytes in 1 datagram", msg.len())?;
                    show_pipeline(out, &msg, (local, *p), None, view)?;
                    if let Err(e) = sock.send_to(&msg, p) {
                        writeln!(out, "sendto {p} failed: {e}")?;
                    }
                }
            }
        }
        out.flush()?;
    }
}

/// `encap client --udp`: a connected UDP socket to `server`; each typed line is one datagram.
///
/// # Errors
/// The socket cannot be set up, or output fails.
pub fn client<W: WriteColor>(
    out: &mut W,
    server: SocketAddr,
    view: View,
) -> anyhow::Result<ExitCode> {
    let any: IpAddr = match server {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let sock = UdpSocket::bind((any, 0)).context("cannot create a UDP socket")?;
    sock.connect(server)
        .with_context(|| format!("cannot connect the UDP socket to {server}"))?;
    let local = sock.local_addr()?;
    writeln!(
        out,
        "UDP socket {local} connected to {server}: connect() sent nothing (no handshake); it fixes the peer, so the kernel reports ICMP errors about it to this socket"
    )?;
    writeln!(
        out,
        "type a line to send it as one datagram; `exit` or end of input ends the client"
    )?;
    out.flush()?;
    let (mut sent, mut received) = (0u64, 0u64);
    let mut lines = Lines::default();
    let mut buf = vec![0u8; 65536];
    loop {
        if lines.closed {
            break;
        }
        let ready = wait(&sock, true)?;
        if ready.socket {
            match sock.recv(&mut buf) {
                Ok(n) => {
                    received += 1;
                    writeln!(out, "{server} says ({n} bytes, 1 datagram): {}", shown(&buf[..n]))?;
                }
                Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => writeln!(
                    out,
                    "recv: ECONNREFUSED (Connection refused): nothing listens on {server}/udp. The kernel there answered the datagram with an {}, which Linux hands to this connected socket as an error on its next call. The datagram itself is lost: UDP does not resend it.",
                    if server.is_ipv4() {
                        "ICMP destination unreachable, type 3 code 3 (port unreachable)"
                    } else {
                        "ICMPv6 destination unreachable, type 1 code 4 (port unreachable)"
                    }
                )?,
                Err(e) => writeln!(out, "recv failed: {e}")?,
            }
        }
        if ready.input {
            for line in lines.read()? {
                if line == b"exit" {
                    lines.closed = true;
                    break;
                }
                let mut msg = line;
                msg.push(b'\n');
                sent += 1;
                writeln!(
                    out,
                    "-> {server}: message {sent}, {} bytes in 1 datagram (no handshake before it, no ACK after it, no retransmission if it is lost)",
                    msg.len()
                )?;
                let before = u16::try_from(sent - 1).unwrap_or(u16::MAX);
                show_pipeline(out, &msg, (local, server), Some(before), view)?;
                match sock.send(&msg) {
                    Ok(_) => {}
                    Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => writeln!(
                        out,
                        "send: ECONNREFUSED: an earlier datagram drew an ICMP port unreachable from {server}; the error is reported once, this datagram was not sent"
                    )?,
                    Err(e) => writeln!(out, "send failed: {e}")?,
                }
            }
        }
        out.flush()?;
    }
    writeln!(out, "done: {sent} datagram(s) sent, {received} received (nothing to close: no FIN, no TIME_WAIT)")?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
