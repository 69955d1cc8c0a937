//! `encap client --stack encap`: the chat client run by encap's own TCP/IP endpoint
//! ([`encap::stack`]) on a packet socket, with no kernel socket: the edge is
//! [`crate::packet_edge`], the one `encap lab demo --stack encap` uses. Each line typed is sent,
//! the server's lines are shown as they arrive, `exit` (or end of input, SIGINT, SIGTERM) sends
//! encap's FIN and waits for the server's.

use std::io::BufRead;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use termcolor::WriteColor;

use crate::capture::{Capture, CaptureError};
use crate::chat::framing::LineFramer;
use crate::chat::View;
use crate::packet_edge::{failure, interface_facts, random_u32s, Edge, TIME_WAIT};
use encap::layers::ethernet::mac_to_string;
use encap::layers::payload::escape_bytes;
use encap::stack::{Config, Endpoint, Event, State, TcpEvent};

use super::client::Args;
use super::UsageError;

/// The longest wait for the handshake (the SYN is sent again after 1, 2 and 4 s) and for the
/// close once it began (TIME_WAIT included).
const LIMIT: Duration = Duration::from_secs(10);

/// Reads `192.0.2.10/24`.
///
/// # Errors
/// Says what form is expected.
pub fn parse_prefix(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let bad = || format!("{s:?} is not an IPv4 address and prefix length, like 192.0.2.10/24");
    let (a, len) = s.split_once('/').ok_or_else(bad)?;
    let a: Ipv4Addr = a.parse().map_err(|_| bad())?;
    let len: u8 = len.parse().ok().filter(|l| *l <= 32).ok_or_else(bad)?;
    Ok((a, len))
}

/// Runs the client with encap's endpoint.
///
/// # Errors
/// Bad arguments, no CAP_NET_RAW, no ARP answer, a timeout, a reset: exit status 2 (main).
pub fn run<W: WriteColor>(args: &Args, out: &mut W) -> anyhow::Result<ExitCode> {
    let cfg = config(args)?;
    let dev = args.interface.as_deref().unwrap_or_default();
    let socket = Capture::open(dev).map_err(|e| match e {
        CaptureError::NoPermission { cause, .. } => anyhow::anyhow!(
            "encap client --stack encap needs the CAP_NET_RAW capability for its packet socket \
             on {dev}, which this process does not have (socket(AF_PACKET): {cause}): run it as \
             root, in the namespace of {dev} (sudo encap lab exec a -- encap client --stack encap ...)"
        ),
        e => anyhow::Error::new(e),
    })?;
    crate::capture::stop_on_signals().context("cannot set the SIGINT/SIGTERM handlers")?;
    writeln!(
        out,
        "encap's endpoint: {} {}:{} on {dev} (MTU {}), next hop {}, ISN 0x{:08x}, TSval offset {}, first IP ID {} (drawn from /dev/urandom); no kernel socket",
        mac_to_string(&cfg.mac),
        cfg.ip,
        cfg.port,
        cfg.mtu,
        cfg.next_hop(),
        cfg.isn,
        cfg.ts_offset,
        cfg.ip_id
    )?;
    let mut edge = Edge::new(
        Endpoint::connect(cfg, Duration::ZERO),
        socket,
        dev,
        Instant::now(),
    );
    edge.show = args.chat.view != View::None;
    edge.full = args.chat.view == View::Full;
    let mut chat = Chat {
        edge,
        framer: LineFramer::default(),
        closing: None,
        failure: None,
        refused: false,
    };
    match chat.run(out) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if chat.refused => {
            out.flush()?;
            eprintln!("encap: error: {e:#}");
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e),
    }
}

/// The endpoint's configuration from the arguments and the interface.
fn config(args: &Args) -> anyhow::Result<Config> {
    let SocketAddr::V4(remote) = args.connect else {
        return Err(UsageError(format!(
            "--connect {}: encap's own endpoint speaks IPv4 only (no IPv6 or neighbour discovery yet)",
            args.connect
        ))
        .into());
    };
    let (Some(dev), Some((ip, prefix_len))) = (args.interface.as_deref(), args.source) else {
        return Err(UsageError(
            "--stack encap needs the interface and encap's own address on it: -i DEV --source ADDR/LEN (e.g. -i a-r --source 192.0.2.10/24)".into(),
        )
        .into());
    };
    let nic = interface_facts(dev)?;
    if nic.ipv4.contains(&ip) {
        bail!(
            "the kernel has {ip} on {dev} itself: it would answer ARP for it and reset encap's connection; take it away first (ip addr del {ip}/{prefix_len} dev {dev}), or give encap an address of its own (`encap lab up --bare-a` leaves host a without one)"
        );
    }
    let mut cfg = Config {
        mac: nic.mac,
        ip: ip.into(),
        prefix_len,
        gateway: args.gateway.unwrap_or(Ipv4Addr::UNSPECIFIED).into(),
        mtu: nic.mtu,
        port: 0,
        remote: remote.into(),
        isn: 0,
        ts_offset: 0,
        ip_id: 0,
        // (IPv4 only: no flow label.)
        flow_label: 0,
        time_wait: TIME_WAIT,
        // A kernel peer on a veth leaves its TCP checksums to the veth, which never computes
        // them: they arrive as the pseudo-header sum.
        accept_partial: true,
    };
    if cfg.next_hop() == cfg.gateway && args.gateway.is_none() {
        return Err(UsageError(format!(
            "{remote} is not in {ip}/{prefix_len}: name the router with --gateway ADDR (in the lab: --gateway 192.0.2.1)"
        ))
        .into());
    }
    let [isn, ts_offset, id] = random_u32s()?;
    let [port, _, _] = random_u32s()?;
    cfg.isn = isn;
    cfg.ts_offset = ts_offset;
    cfg.ip_id = id as u16;
    // A port of the dynamic range (RFC 6335), drawn anew each run: a new connection does not
    // meet the server's memory of the last one.
    cfg.port = 49152 + (port % 16384) as u16;
    Ok(cfg)
}

/// The dialogue's state.
struct Chat {
    edge: Edge,
    framer: LineFramer,
    /// When encap's endpoint began to close (its FIN queued).
    closing: Option<Instant>,
    failure: Option<String>,
    /// The server's kernel answered the SYN with a RST.
    refused: bool,
}

impl Chat {
    fn run<W: WriteColor>(&mut self, out: &mut W) -> anyhow::Result<()> {
        let start = Instant::now();
        while self.edge.endpoint.state() != State::Established {
            self.turn(out)?;
            if start.elapsed() > LIMIT {
                bail!(
                    "no connection to {} after {} s",
                    self.edge.endpoint.config().remote,
                    LIMIT.as_secs()
                );
            }
            if crate::capture::stop_requested() {
                bail!("interrupted (SIGINT or SIGTERM) before the connection was made");
            }
        }
        writeln!(
            out,
            "type a line to send it; `exit`, end of input, Ctrl-C or SIGTERM ends the dialogue"
        )?;
        out.flush()?;
        let lines = stdin_lines();
        while !self.edge.endpoint.is_done() {
            self.turn(out)?;
            if self.closing.is_none() {
                match lines.try_recv() {
                    Ok(line) => self.send_line(&line),
                    Err(mpsc::TryRecvError::Empty) => {}
                    Err(mpsc::TryRecvError::Disconnected) => self.close(),
                }
                if crate::capture::stop_requested() {
                    self.close();
                }
            }
            if self.closing.is_some_and(|t| t.elapsed() > LIMIT) {
                bail!("the connection did not close within {} s", LIMIT.as_secs());
            }
            out.flush()?;
        }
        Ok(())
    }

    /// One turn of the edge; what the endpoint reported, shown.
    fn turn<W: WriteColor>(&mut self, out: &mut W) -> anyhow::Result<()> {
        let remote = self.edge.endpoint.config().remote;
        for e in self.edge.step(out)? {
            if let Some(f) = failure(&e, remote, &remote.ip().to_string()) {
                self.failure = Some(f);
            }
            match &e {
                Event::Tcp(TcpEvent::Data(d)) => self.show_data(out, remote, d)?,
                Event::Tcp(TcpEvent::Refused) => {
                    self.refused = true;
                    writeln!(out, "   {}", self.edge.describe(&e))?;
                }
                Event::Tcp(TcpEvent::PeerClosed) => {
                    writeln!(out, "   {}", self.edge.describe(&e))?;
                    self.close();
                }
                _ => writeln!(out, "   {}", self.edge.describe(&e))?,
            }
        }
        if let Some(f) = &self.failure {
            bail!("{f}");
        }
        Ok(())
    }

    /// The server's bytes as lines, each shown escaped.
    fn show_data<W: WriteColor>(
        &mut self,
        out: &mut W,
        remote: SocketAddr,
        data: &[u8],
    ) -> anyhow::Result<()> {
        let mut messages = Vec::new();
        self.framer.push(data, &mut messages);
        for m in messages {
            if m.is_exit() {
                writeln!(out, "{remote} ended the dialogue (exit)")?;
                self.close();
            } else {
                writeln!(
                    out,
                    "{remote} says ({} bytes): {}",
                    m.text.len() + 1,
                    escape_bytes(&m.text)
                )?;
            }
        }
        Ok(())
    }

    fn send_line(&mut self, line: &str) {
        let now = self.edge.now();
        self.edge.endpoint.send(format!("{line}\n").as_bytes(), now);
        if line == "exit" {
            self.close();
        }
    }

    /// encap's FIN, once.
    fn close(&mut self) {
        if self.closing.is_none() {
            let now = self.edge.now();
            self.edge.endpoint.close(now);
            self.closing = Some(Instant::now());
        }
    }
}

/// Standard input's lines, read on a thread of their own; the channel closes at end of input.
fn stdin_lines() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}
