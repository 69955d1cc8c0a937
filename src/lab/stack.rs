//! `encap lab demo --stack encap`: host a's side of the chat run by encap's own TCP/IP endpoint
//! ([`encap::stack`]) instead of a's kernel. The edge is thin: one `AF_PACKET` socket on a's veth,
//! opened on a thread that entered a (a's kernel has no IPv4 address there and IPv6 disabled, so
//! it neither answers ARP or neighbour solicitations for a's address nor resets the connection),
//! the time since the run began, and the random ISN, timestamp offset, IP ID and IPv6 flow label
//! the endpoint is handed. Every frame the endpoint sends is shown
//! before it goes out: the pipeline's frame, the bytes the socket is given, and the FCS a wire
//! would carry after them. The program in b is a kernel socket (`encap server`, `nc -l`, the
//! blog's server.py); its frames, captured in r on r-b as b sent them, are checked by the model.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use termcolor::WriteColor;

use super::demo::{collect_until_closed, report, Args, Captures, LinkFrame, Peer};
use super::{address, in_namespace, Host, Kind, Lab, LINKS};
use crate::capture::Capture;
use crate::chat::verify::heading;
use crate::packet_edge::{failure, random_u32s, Edge, TIME_WAIT};
use encap::layers::ethernet::mac_to_string;
use encap::model::Side;
use encap::stack::{Config, Endpoint, Event, State, TcpEvent};
use encap::verify::{Outcome, Verifier};

/// The longest wait for one step of the dialogue (a retransmission after a 1 s RTO included).
const STEP_LIMIT: Duration = Duration::from_secs(10);
/// The TCP port of encap's endpoint in a.
const LOCAL_PORT: u16 = 40000;

/// Runs the demo with encap's endpoint in a.
///
/// # Errors
/// Making the lab, a socket, the peer program, or output; the lab is removed in every case.
pub fn run<W: WriteColor>(args: &Args, out: &mut W) -> anyhow::Result<ExitCode> {
    // (`encap server`'s chat is IPv4: over IPv6 the peer is `nc -l` unless another is named.)
    let kind = args
        .peer
        .unwrap_or(if args.ipv6 { Peer::Nc } else { Peer::Encap });
    if args.ipv6 && kind == Peer::Encap {
        // (Not the endpoint's limit: `encap server`'s TCP chat narrates IPv4 system calls only.)
        return Err(crate::cmd::UsageError(
            "--stack encap --ipv6 --peer encap: `encap server`'s TCP chat is IPv4 only; with --ipv6 pick --peer nc or --peer python (a kernel socket in b either way)".to_string(),
        )
        .into());
    }
    let mut opts = args.lab;
    opts.bare_a = true;
    let lab = Lab::create(&opts, Kind::Run)?;
    writeln!(
        out,
        "encap lab demo --stack encap: lab {} (namespaces {}), offload {:?}; a's kernel has no IPv4 address and IPv6 disabled on a-r: encap's own endpoint is {} there",
        lab.id,
        lab.ns.join(", "),
        args.lab.offload,
        address(Host::A, args.ipv6)
    )?;
    let captures = Captures::start(&lab)?;
    let settings = in_namespace(lab.ns(Host::B), || {
        crate::chat::sys::tcp_settings().map_err(anyhow::Error::msg)
    })
    .ok();
    let server = SocketAddr::new(address(Host::B, args.ipv6), args.port);
    let mut peer = match kind {
        Peer::None => None,
        kind => Some(PeerProc::start(&lab, kind, server, args.server_py.clone())?),
    };
    let peer_name = peer.as_ref().map_or("nothing", |p| p.name);
    writeln!(out, "in b: {peer_name} listening on {server}")?;
    let edge = open_edge(&lab)?;
    if args.wait_stdin {
        writeln!(out, "ready")?;
        out.flush()?;
        super::demo::wait_for_stdin()?;
    }
    let mut live = Live::new(&lab, edge, server, args.drop_first_data, out)?;
    let played = play(&mut live, peer.as_mut(), kind);
    let exit = match &played {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            live.out.flush()?;
            eprintln!("encap: error: {e:#}");
            // The kernel's RST to the SYN is the run's finding (1); anything else is trouble.
            ExitCode::from(if live.refused { 1 } else { crate::cmd::TROUBLE })
        }
    };
    let (sent, dropped) = (live.edge.sent, live.edge.dropped);
    if let Some(p) = peer.as_mut() {
        p.finish(live.out)?;
    }
    let frames = if played.is_ok() {
        collect_until_closed(&captures)?
    } else {
        collect_for(&captures, Duration::from_millis(300))
    };
    drop(captures);
    let out = live.out;
    writeln!(
        out,
        "encap's endpoint sent {sent} frames{}",
        if dropped {
            " (and the edge dropped the first data segment on purpose, as asked)"
        } else {
            ""
        }
    )?;
    report(args, &lab, out, &frames)?;
    check_kernel_frames(out, &frames, settings, args.ipv6)?;
    lab.remove();
    Ok(exit)
}

/// Every frame the captures hold after `wait`.
fn collect_for(captures: &Captures, wait: Duration) -> Vec<LinkFrame> {
    std::thread::sleep(wait);
    super::demo::in_causal_order(captures.frames.try_iter().collect())
}

/// The packet socket on a's veth, opened inside a (frames a's kernel sends are not read back).
fn open_edge(lab: &Lab) -> anyhow::Result<Capture> {
    let dev = LINKS[0].host.dev;
    let ns = lab.ns(Host::A).to_string();
    in_namespace(&ns.clone(), move || {
        Capture::open(dev).with_context(|| format!("cannot open a packet socket on {dev} in {ns}"))
    })
}

/// The endpoint and its edge while the dialogue runs.
struct Live<'a, W> {
    edge: Edge,
    out: &'a mut W,
    /// What the peer sent, in order, not yet taken by the dialogue.
    got: Vec<u8>,
    peer_closed: bool,
    failure: Option<String>,
    /// b's kernel answered the SYN with a RST.
    refused: bool,
}

impl<'a, W: WriteColor> Live<'a, W> {
    fn new(
        lab: &Lab,
        socket: Capture,
        server: SocketAddr,
        drop_first_data: bool,
        out: &'a mut W,
    ) -> anyhow::Result<Live<'a, W>> {
        let [isn, ts_offset, id] = random_u32s()?;
        let v6 = server.is_ipv6();
        let cfg = Config {
            mac: lab.macs[0][0],
            ip: address(Host::A, v6),
            prefix_len: if v6 { 64 } else { 24 },
            gateway: if v6 {
                LINKS[0].router.ipv6.into()
            } else {
                LINKS[0].router.ipv4.into()
            },
            mtu: 1500,
            port: LOCAL_PORT,
            remote: server,
            isn,
            ts_offset,
            ip_id: id as u16,
            flow_label: id >> 12,
            time_wait: TIME_WAIT,
            // b's kernel leaves the TCP checksum to its veth, which never computes it: the
            // segment crosses r and reaches a with the pseudo-header sum only.
            accept_partial: true,
        };
        writeln!(
            out,
            "encap's endpoint: {} {} on a-r, next hop {} (r), ISN 0x{isn:08x}, TSval offset {ts_offset}, {} (drawn from /dev/urandom by the edge); MSS {}",
            mac_to_string(&cfg.mac),
            SocketAddr::new(cfg.ip, LOCAL_PORT),
            cfg.gateway,
            if v6 {
                format!("flow label 0x{:05x}, traffic class 0, hop limit 64", cfg.flow_label)
            } else {
                format!("first IP ID {}", cfg.ip_id)
            },
            cfg.mss()
        )?;
        let start = Instant::now();
        let mut edge = Edge::new(Endpoint::connect(cfg, Duration::ZERO), socket, "a-r", start);
        edge.drop_first_data = drop_first_data;
        Ok(Live {
            edge,
            out,
            got: Vec::new(),
            peer_closed: false,
            failure: None,
            refused: false,
        })
    }

    fn now(&self) -> Duration {
        self.edge.now()
    }

    /// One turn of the edge, and what the endpoint reported, shown and taken note of.
    fn step(&mut self) -> anyhow::Result<()> {
        for e in self.edge.step(self.out)? {
            let line = self.edge.describe(&e);
            let remote = self.edge.endpoint.config().remote;
            if let Some(f) = failure(&e, remote, "b's kernel") {
                self.failure = Some(f);
            }
            match e {
                Event::Tcp(TcpEvent::Data(d)) => self.got.extend_from_slice(&d),
                Event::Tcp(TcpEvent::PeerClosed) => self.peer_closed = true,
                Event::Tcp(TcpEvent::Refused) => self.refused = true,
                _ => {}
            }
            writeln!(self.out, "   {line}")?;
        }
        Ok(())
    }

    /// Steps until `done` holds; an error after [`STEP_LIMIT`], on a failure, or a signal.
    fn until(
        &mut self,
        what: &str,
        mut extra: impl FnMut(&mut Live<'a, W>) -> bool,
    ) -> anyhow::Result<()> {
        let end = Instant::now() + STEP_LIMIT;
        loop {
            if let Some(f) = &self.failure {
                bail!("{f}");
            }
            if extra(self) {
                return Ok(());
            }
            if crate::capture::stop_requested() {
                bail!("interrupted (SIGINT or SIGTERM): the lab is removed");
            }
            if Instant::now() > end {
                bail!("waited {} s for {what}", STEP_LIMIT.as_secs());
            }
            self.step()?;
        }
    }
}

/// The dialogue, adapted to the peer; ends with both sides closed.
fn play<W: WriteColor>(
    live: &mut Live<'_, W>,
    mut peer: Option<&mut PeerProc>,
    kind: Peer,
) -> anyhow::Result<()> {
    live.until("the handshake", |l| {
        l.edge.endpoint.state() == State::Established
    })?;
    let newline = kind != Peer::Python;
    let dialogue = crate::cmd::demo::DIALOGUE.iter().chain(&[(0, "exit\n")]);
    for (i, (from, line)) in dialogue.enumerate() {
        let text = if newline {
            *line
        } else {
            line.trim_end_matches('\n')
        };
        let who = if *from == 0 {
            "encap's endpoint in a"
        } else {
            "the peer in b"
        };
        heading(
            live.out,
            &format!("message {}: {who} sends {text:?}", i + 1),
        )?;
        let Some(p) = peer.as_deref_mut() else {
            bail!("no peer in b")
        };
        if *from == 0 {
            let now = live.now();
            live.edge.endpoint.send(text.as_bytes(), now);
            live.until("the peer to receive it", |_| {
                p.poll();
                p.received(text)
            })?;
            writeln!(live.out, "   in b, {} received {text:?} intact", p.name)?;
        } else {
            p.type_line(text.trim_end_matches('\n'))?;
            live.until("the peer's message", |l| l.got.ends_with(text.as_bytes()))?;
            live.got.clear();
        }
    }
    close(live, peer, kind)
}

/// The end: the blog's server answers `exit` with `exit` and quits; `encap server` closes the
/// connection; `nc` sends its FIN once its input ends. encap's endpoint closes its side when the
/// peer closed (or first, for nc) and waits out TIME_WAIT or LAST_ACK.
fn close<W: WriteColor>(
    live: &mut Live<'_, W>,
    peer: Option<&mut PeerProc>,
    kind: Peer,
) -> anyhow::Result<()> {
    let Some(p) = peer else { bail!("no peer in b") };
    heading(live.out, "the end: FIN both ways")?;
    match kind {
        Peer::Python => {
            p.type_line("exit")?;
            live.until("the peer's exit", |l| l.got.ends_with(b"exit"))?;
        }
        Peer::Nc => {
            let now = live.now();
            live.edge.endpoint.close(now);
            live.until("the ACK of encap's FIN", |l| {
                !matches!(
                    l.edge.endpoint.state(),
                    State::FinWait1 | State::Established
                )
            })?;
            p.end_input();
        }
        _ => {}
    }
    live.until("the peer's FIN", |l| l.peer_closed)?;
    let now = live.now();
    live.edge.endpoint.close(now);
    live.until("the connection's end", |l| l.edge.endpoint.is_done())
}

/// A kernel-socket program in b, started from a thread inside b (a child inherits the
/// namespace of the thread that forks it), its output gathered by a reader thread.
struct PeerProc {
    name: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    output: mpsc::Receiver<Vec<u8>>,
    seen: Vec<u8>,
    kind: Peer,
}

impl PeerProc {
    fn start(
        lab: &Lab,
        kind: Peer,
        at: SocketAddr,
        server_py: PathBuf,
    ) -> anyhow::Result<PeerProc> {
        let (name, mut cmd) = match kind {
            Peer::Encap => {
                let exe = std::env::current_exe().context("cannot find encap's own binary")?;
                let mut c = Command::new(exe);
                c.args(["server", "--view", "none", "--listen", &at.to_string()]);
                c.env("NO_COLOR", "1");
                ("encap server", c)
            }
            Peer::Nc => {
                let mut c = Command::new("nc");
                c.args(["-N", "-l", &at.ip().to_string(), &at.port().to_string()]);
                ("nc -l", c)
            }
            Peer::Python | Peer::None => {
                let src = std::fs::read_to_string(&server_py).with_context(|| {
                    format!(
                        "cannot read the blog's server.py at {} (--server-py)",
                        server_py.display()
                    )
                })?;
                if !src.contains("'127.0.0.1', 6666") {
                    bail!(
                        "{} no longer binds ('127.0.0.1', 6666): cannot move it to b's address",
                        server_py.display()
                    );
                }
                let mut moved = src.replace(
                    "'127.0.0.1', 6666",
                    &format!("'{}', {}", at.ip(), at.port()),
                );
                if at.is_ipv6() {
                    let family = "socket.socket(socket.AF_INET, socket.SOCK_STREAM)";
                    if !moved.contains(family) {
                        bail!(
                            "{} no longer makes its socket with {family}: cannot make it IPv6",
                            server_py.display()
                        );
                    }
                    moved =
                        moved.replace(family, "socket.socket(socket.AF_INET6, socket.SOCK_STREAM)");
                }
                let mut c = Command::new("python3");
                c.args(["-u", "-c", &moved]);
                ("the blog's server.py", c)
            }
        };
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = in_namespace(lab.ns(Host::B), move || {
            cmd.spawn()
                .with_context(|| format!("cannot start {name} in b"))
        })?;
        let stdin = child.stdin.take();
        let mut stdout = child.stdout.take().context("the peer's stdout")?;
        let (tx, output) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    return;
                }
            }
        });
        let mut p = PeerProc {
            name,
            child,
            stdin,
            output,
            seen: Vec::new(),
            kind,
        };
        p.wait_listening(lab, at)?;
        Ok(p)
    }

    /// Waits until b's kernel shows a socket listening on `at`'s port (read from
    /// `/proc/thread-self/net/tcp` on a thread inside b), or the program ended.
    fn wait_listening(&mut self, lab: &Lab, at: SocketAddr) -> anyhow::Result<()> {
        for _ in 0..250 {
            if super::tcp_states(lab.ns(Host::B), at.port())?.contains(&super::TCP_LISTEN) {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} in b ended ({status}) before listening on {at}",
                    self.name
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("{} in b is not listening on {at} after 5 s", self.name)
    }

    fn poll(&mut self) {
        self.seen.extend(self.output.try_iter().flatten());
    }

    /// True once the program showed it received `text`.
    fn received(&self, text: &str) -> bool {
        let seen = String::from_utf8_lossy(&self.seen);
        let line = text.trim_end_matches('\n');
        match self.kind {
            Peer::Encap if line == "exit" => seen.contains("ended the dialogue (exit)"),
            Peer::Encap => seen.contains(&format!("says ({} bytes): {line}\n", text.len())),
            Peer::Python if line == "exit" => true,
            Peer::Python => seen.contains(&format!("客户端: {line}\n")),
            _ => seen.contains(text),
        }
    }

    /// The line the program sends next, written to its input.
    fn type_line(&mut self, line: &str) -> anyhow::Result<()> {
        let name = self.name;
        let stdin = self
            .stdin
            .as_mut()
            .with_context(|| format!("{name}'s input is closed"))?;
        writeln!(stdin, "{line}").with_context(|| format!("cannot write to {name}'s input"))?;
        stdin.flush()?;
        Ok(())
    }

    fn end_input(&mut self) {
        self.stdin = None;
    }

    /// Ends the program: its input closed, a SIGTERM to its pid if it is still running a second
    /// later (`encap server` keeps serving other clients), then its exit.
    fn finish<W: WriteColor>(&mut self, out: &mut W) -> anyhow::Result<()> {
        self.stdin = None;
        let status = super::end_child(&mut self.child)?;
        self.poll();
        writeln!(out, "{} in b ended ({status})", self.name)?;
        Ok(())
    }
}

impl Drop for PeerProc {
    fn drop(&mut self) {
        super::kill_child(&mut self.child);
    }
}

/// The model's check of b's kernel: the connection's frames on r-b, as b sent them and as r
/// forwarded encap's; the verdicts of b's frames counted, encap's shown apart (encap is not
/// Linux: the model follows it as a peer, its habits peer-chosen, only what every TCP must do
/// checked).
fn check_kernel_frames<W: WriteColor>(
    out: &mut W,
    frames: &[LinkFrame],
    settings: Option<encap::model::TcpSettings>,
    ipv6: bool,
) -> anyhow::Result<()> {
    heading(
        out,
        "the model's check of b's kernel (its frames on r-b, as b sent them)",
    )?;
    let b_kernel = encap::verify::LinuxEnd {
        addr: address(Host::B, ipv6),
        port: None,
    };
    let mut verifier = Verifier::new(settings, None).with_linux(vec![b_kernel]);
    let (mut kernel, mut ours) = (
        encap::model::Counts::default(),
        encap::model::Counts::default(),
    );
    let mut frames_checked = 0;
    for (n, f) in frames.iter().filter(|f| f.link == 1).enumerate() {
        let Outcome::Checked(_, check) = verifier.feed(n as u64 + 1, Some(f.timestamp), &f.data)
        else {
            continue;
        };
        let bad: Vec<String> = check
            .fields()
            .iter()
            .filter(|c| matches!(c.verdict, encap::model::Verdict::Mismatch { .. }))
            .map(|c| format!("{} = {} ({})", c.field.name, c.field.display, c.verdict))
            .collect();
        let counts = check.counts();
        let who = if check.from == Side::Server {
            frames_checked += 1;
            kernel.merge(counts);
            "b's kernel"
        } else {
            ours.merge(counts);
            "encap (forwarded by r)"
        };
        writeln!(
            out,
            "frame {} from {who}: {} seq {} ack {} len {}: {} predicted, {} learned, {} kernel-chosen, {}{}",
            check.number,
            encap::layers::tcp::flag_names(check.flags),
            check.rel_seq,
            check.rel_ack,
            check.len,
            counts.predicted,
            counts.learned,
            counts.kernel,
            if counts.peer > 0 {
                format!("{} peer-chosen, ", counts.peer)
            } else {
                String::new()
            },
            if counts.mismatch == 0 {
                "0 MISMATCH".to_string()
            } else {
                format!(
                    "{} MISMATCH: {} ({} of them fields of earlier frames this one proves wrong)",
                    counts.mismatch,
                    bad.join("; "),
                    check.revisions.len()
                )
            }
        )?;
    }
    writeln!(
        out,
        "b's kernel: {frames_checked} frames checked, {} fields: {} predicted, {} learned, {} kernel-chosen, {} MISMATCH",
        kernel.total(),
        kernel.predicted,
        kernel.learned,
        kernel.kernel,
        kernel.mismatch
    )?;
    writeln!(
        out,
        "encap's frames: {} fields peer-chosen (encap is not Linux: its window, window scale and {} are its own), {} MISMATCH (a rule every TCP keeps, broken)",
        ours.peer,
        if ipv6 { "flow label" } else { "IP IDs" },
        ours.mismatch
    )?;
    Ok(())
}
