//! The edge of encap's own TCP/IP endpoint ([`encap::stack`]): one `AF_PACKET` socket on an
//! Ethernet interface (the capture backend's, [`Capture::send`] to send), the time since the
//! run began, and the random ISN, timestamp offset and IP ID the endpoint is handed. Every
//! frame the endpoint sends is shown before it goes out: the pipeline's frame, the bytes the
//! socket is given, and the FCS a wire would carry after them. Shared by `encap lab demo
//! --stack encap` and `encap client --stack encap`.
//!
//! This lives in the binary, not the library: it opens sockets, reads the clock and draws
//! random numbers.

use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::Context;
use termcolor::WriteColor;

use crate::capture::{Capture, FrameSource};
use encap::layers::ethernet::mac_to_string;
use encap::layers::payload::escape_bytes;
use encap::render::frames::{write_frame, Frame, FrameOptions};
use encap::render::{hexdump, pipeline as pipeline_view};
use encap::stack::{Endpoint, Event, Sent, TcpEvent};

/// How long TIME_WAIT lasts here: long enough to answer a FIN sent again, short for a chat
/// (Linux waits 60 s).
pub const TIME_WAIT: Duration = Duration::from_secs(2);

/// Three random numbers from the kernel, for the ISN, the timestamp offset and the IP ID (and,
/// from its upper 20 bits, the IPv6 flow label).
///
/// # Errors
/// `/dev/urandom` cannot be read.
pub fn random_u32s() -> anyhow::Result<[u32; 3]> {
    let mut b = [0u8; 12];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .context("cannot read /dev/urandom")?;
    let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    Ok([word(0), word(4), word(8)])
}

/// The endpoint on its packet socket.
pub struct Edge {
    /// The endpoint (sans-IO).
    pub endpoint: Endpoint,
    socket: Capture,
    start: Instant,
    /// The link's name, as the frames sent are shown (`a-r`).
    link: String,
    /// Frames handed to the socket so far (or dropped on purpose).
    pub sent: u64,
    /// Whether each frame sent is shown.
    pub show: bool,
    /// Each TCP frame sent shown with its four stages in full (field tables and hex dumps),
    /// not one line per layer.
    pub full: bool,
    /// Drop the first data segment instead of sending it (a test of the retransmission).
    pub drop_first_data: bool,
    /// The first data segment was dropped.
    pub dropped: bool,
}

impl Edge {
    /// The endpoint on `socket` (opened on the interface of link `link`); times count from
    /// `start`, the time the endpoint was made at ([`Duration::ZERO`]).
    pub fn new(endpoint: Endpoint, socket: Capture, link: &str, start: Instant) -> Edge {
        Edge {
            endpoint,
            socket,
            start,
            link: link.to_string(),
            sent: 0,
            show: true,
            full: false,
            drop_first_data: false,
            dropped: false,
        }
    }

    /// The time since the endpoint was made.
    pub fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// Shows and sends every frame the endpoint queued.
    ///
    /// # Errors
    /// Output, or a failed send.
    pub fn flush<W: WriteColor>(&mut self, out: &mut W) -> anyhow::Result<()> {
        while let Some(frame) = self.endpoint.transmit() {
            self.sent += 1;
            let drop = self.drop_first_data && !self.dropped && !frame.payload().is_empty();
            if self.show || drop {
                let how = Shown {
                    full: self.full,
                    dropped: drop,
                };
                show_sent(out, &self.link, self.sent, &frame, self.now(), how)?;
            }
            if drop {
                self.dropped = true;
                continue;
            }
            self.socket
                .send(frame.frame())
                .with_context(|| format!("sending on {}'s packet socket", self.link))?;
        }
        Ok(())
    }

    /// One turn: send, wait up to 100 ms for a frame, hand it over, run the timers, send what
    /// that made; returns what the endpoint reported.
    ///
    /// # Errors
    /// Output, or the packet socket.
    pub fn step<W: WriteColor>(&mut self, out: &mut W) -> anyhow::Result<Vec<Event>> {
        self.flush(out)?;
        let received = self
            .socket
            .next_frame()
            .with_context(|| format!("reading {}'s packet socket", self.link))?
            .map(|f| f.data.to_vec());
        let now = self.now();
        if let Some(data) = received {
            self.endpoint.receive(&data, now);
        }
        self.endpoint.tick(now);
        let mut events = Vec::new();
        while let Some(e) = self.endpoint.event() {
            events.push(e);
        }
        self.flush(out)?;
        Ok(events)
    }

    /// One line for what the endpoint reported.
    pub fn describe(&self, e: &Event) -> String {
        let state = self.endpoint.state().name();
        let remote = self.endpoint.config().remote;
        match e {
            Event::Resolved(ip, mac) => {
                format!("{}: {ip} is at {}", resolution(*ip), mac_to_string(mac))
            }
            Event::Unreachable(ip) => format!("{}: no answer from {ip}", resolution(*ip)),
            Event::Dropped(why) => format!("dropped a frame: {why}"),
            Event::ResetSent(to) => {
                format!("a segment from {to} for no connection: answered with a RST")
            }
            Event::Tcp(t) => match t {
                TcpEvent::Connected { mss, wscale, sack, timestamps } => format!(
                    "connected to {remote} ({state}): the peer's MSS {mss}, window scale {}, SACK-permitted {sack}, timestamps {timestamps}",
                    wscale.map_or("none".to_string(), |s| s.to_string())
                ),
                TcpEvent::Data(d) => {
                    format!("{remote} says ({} bytes): {}", d.len(), escape_bytes(d))
                }
                TcpEvent::PeerClosed => format!("{remote} closed its side (FIN): {state}"),
                TcpEvent::Retransmitted { relative_seq, len, rto, next_rto } => format!(
                    "RTO ran out after {} ms: sent again seq {relative_seq} (relative), {len} sequence numbers; the RTO doubles to {} ms",
                    rto.as_millis(),
                    next_rto.as_millis()
                ),
                TcpEvent::Refused => format!("{remote} answered the SYN with RST, ACK"),
                TcpEvent::Reset => format!("{remote} reset the connection"),
                TcpEvent::TimedOut => "timed out".to_string(),
                TcpEvent::Closed => format!("connection with {remote} closed ({state})"),
            },
        }
    }
}

/// Why the dialogue cannot go on after `e`, if it cannot; `peer` names who answered
/// (`b's kernel`).
pub fn failure(e: &Event, remote: SocketAddr, peer: &str) -> Option<String> {
    match e {
        Event::Unreachable(ip) => Some(format!(
            "no {} answer from {ip} after 3 requests",
            resolution(*ip)
        )),
        Event::Tcp(TcpEvent::Refused) => Some(format!(
            "connection refused: {peer} answered encap's SYN to {remote} with a RST (no socket listens on that port)"
        )),
        Event::Tcp(TcpEvent::Reset) => Some(format!("{remote} reset the connection")),
        Event::Tcp(TcpEvent::TimedOut) => {
            Some(format!("{remote} did not answer: the RTO ran out 7 times"))
        }
        _ => None,
    }
}

/// How an address's MAC is resolved: ARP for IPv4, neighbour discovery for IPv6.
fn resolution(ip: IpAddr) -> &'static str {
    if ip.is_ipv6() {
        "neighbour discovery"
    } else {
        "ARP"
    }
}

/// How a frame sent is shown.
#[derive(Debug, Clone, Copy)]
struct Shown {
    /// A TCP frame's four stages in full.
    full: bool,
    /// Dropped by the edge on purpose.
    dropped: bool,
}

/// One frame as the endpoint sends it on link `link`.
fn show_sent<W: WriteColor>(
    out: &mut W,
    link: &str,
    n: u64,
    frame: &Sent,
    now: Duration,
    how: Shown,
) -> anyhow::Result<()> {
    let bytes = frame.frame();
    let wire = frame.frame_with_fcs();
    writeln!(
        out,
        "-> {link} frame {n} at {:.3} s from encap's endpoint{}: {} bytes to the packet socket, {} on a wire with padding and FCS 0x{:08x} (bytes {} last)",
        now.as_secs_f64(),
        if how.dropped { ", DROPPED by the edge on purpose (--drop-first-data)" } else { "" },
        bytes.len(),
        wire.len(),
        frame.fcs(),
        hexdump::spaced(&wire[wire.len() - 4..])
    )?;
    match frame {
        // (The full view ends with the frame's own hex dump.)
        Sent::Tcp(e) if how.full => return Ok(pipeline_view::full(out, e)?),
        Sent::Tcp(e) => pipeline_view::summary(out, e)?,
        Sent::Arp(_) | Sent::Nd(_) => {
            let f = Frame {
                number: n,
                timestamp: now,
                data: bytes,
                orig_len: bytes.len(),
                utc_offset: 0,
                link_type: encap::layers::link::link_type::ETHERNET,
            };
            write!(out, "  ")?;
            write_frame(
                out,
                &f,
                &FrameOptions {
                    link: true,
                    ..FrameOptions::default()
                },
            )?;
        }
    }
    hexdump::write(out, bytes, &[], "    ")?;
    Ok(())
}

/// What the kernel says of an interface, in this thread's network namespace.
#[derive(Debug, Clone)]
pub struct Nic {
    /// Its MAC.
    pub mac: encap::layers::ethernet::Mac,
    /// Its MTU.
    pub mtu: u16,
    /// The IPv4 addresses the kernel has on it.
    pub ipv4: Vec<std::net::Ipv4Addr>,
}

/// The MAC, MTU and IPv4 addresses of `dev` (from the kernel's netlink answer and the
/// `SIOCGIFMTU` ioctl: `/sys/class/net` would show the namespace sysfs was mounted in, which
/// `setns` does not change).
///
/// # Errors
/// No such interface, no MAC (not Ethernet), or the ioctl failed.
pub fn interface_facts(dev: &str) -> anyhow::Result<Nic> {
    let nic = pnet_datalink::interfaces()
        .into_iter()
        .find(|n| n.name == dev)
        .with_context(|| format!("there is no interface {dev:?} here"))?;
    let mac = nic
        .mac
        .with_context(|| format!("{dev} has no MAC address: not an Ethernet interface"))?
        .octets();
    let ipv4 = nic
        .ips
        .iter()
        .filter_map(|n| match n.ip() {
            std::net::IpAddr::V4(a) => Some(a),
            std::net::IpAddr::V6(_) => None,
        })
        .collect();
    Ok(Nic {
        mac,
        mtu: mtu(dev)?,
        ipv4,
    })
}

/// `ioctl(SIOCGIFMTU)` on a throwaway UDP socket.
fn mtu(dev: &str) -> anyhow::Result<u16> {
    use std::os::fd::AsRawFd;
    let sock = std::net::UdpSocket::bind("0.0.0.0:0")
        .or_else(|_| std::net::UdpSocket::bind("[::]:0"))
        .context("cannot open a socket to ask for the MTU")?;
    // SAFETY: an all-zero ifreq is valid; the name is copied in with its NUL, within IFNAMSIZ.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    if dev.len() >= req.ifr_name.len() {
        anyhow::bail!("{dev:?} is longer than an interface name can be");
    }
    for (d, s) in req.ifr_name.iter_mut().zip(dev.bytes()) {
        *d = s as libc::c_char;
    }
    // SAFETY: SIOCGIFMTU reads the name and writes ifru_mtu of `req`, which lives on.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFMTU, &mut req) } == -1 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("cannot read {dev}'s MTU (SIOCGIFMTU)"));
    }
    // SAFETY: the ioctl filled the MTU member of the union.
    let mtu = unsafe { req.ifr_ifru.ifru_mtu };
    Ok(u16::try_from(mtu).unwrap_or(u16::MAX))
}
