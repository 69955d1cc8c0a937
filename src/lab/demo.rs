//! `encap lab demo`: the blog's dialogue from a client in `a` to a server in `b` across `r`, over
//! kernel sockets made inside the namespaces, with both links captured from inside `r` (one
//! `AF_PACKET` socket on each of r's veths, each opened on a thread that entered r, keeping both
//! directions: on one veth end every frame of its link passes once).
//!
//! It shows what the frames are and what `r` changed in each one it forwarded, found by comparing
//! the same packet on both links byte for byte. Checking them against the model is not done here.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::Context;
use termcolor::WriteColor;

use super::{address, in_namespace, Host, Kind, Lab, LINKS};
use crate::capture::{Capture, FrameSource};
use crate::chat::verify::heading;
use encap::dissect::{slice, Transport};
use encap::layers::ethernet::mac_to_string;
use encap::layers::tcp;
use encap::pipeline::{encapsulate, Params};
use encap::render::pipeline as pipeline_view;

/// `encap lab demo`'s flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub lab: super::Options,
    /// IPv6 instead of IPv4: neighbour solicitation instead of ARP, the hop limit instead of TTL.
    #[arg(long)]
    pub ipv6: bool,
    /// The server's port in b.
    #[arg(long, default_value_t = 6666)]
    pub port: u16,
    /// Keep the capture: pcapng with one interface per link (a-r, r-b).
    #[arg(short = 'w', long = "write", value_name = "FILE")]
    pub write: Option<PathBuf>,
    /// Who runs a's side: `kernel` (a kernel socket) or `encap` (encap's own TCP/IP endpoint on
    /// an AF_PACKET socket, a's kernel left without a's address; IPv4 with its own ARP, or with
    /// --ipv6 its own neighbour discovery).
    #[arg(long, value_enum, default_value_t = Stack::Kernel)]
    pub stack: Stack,
    /// With `--stack encap`, the kernel-socket program in b: `encap` (`encap server`, IPv4; the
    /// default), `nc` (`nc -l`; the default with --ipv6), `python` (the blog's server.py, which
    /// answers turn by turn without newlines) or `none` (nothing listens: the kernel's RST, exit
    /// status 1).
    #[arg(long, value_enum)]
    pub peer: Option<Peer>,
    /// With `--peer python`, the blog's server.py (its address 127.0.0.1 is replaced by b's).
    #[arg(long, value_name = "FILE", default_value = "../shared/seed/server.py")]
    pub server_py: PathBuf,
    /// For tests (`--stack encap`): the edge does not send the first data segment, so the
    /// endpoint sends it again after its RTO.
    #[arg(long, hide = true)]
    pub drop_first_data: bool,
    /// For tests: once the lab and the captures are ready, print "ready" and wait for a line on
    /// stdin before the chat, so a test can kill a run whose lab exists without racing it.
    #[arg(long, hide = true)]
    pub wait_stdin: bool,
}

/// Who runs a's side of the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Stack {
    /// A kernel socket (in a, for the lab's demo).
    Kernel,
    /// encap's own endpoint ([`encap::stack`]) on a packet socket (in a, for the lab's demo).
    Encap,
}

/// The program in b that encap's endpoint talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Peer {
    /// `encap server`.
    Encap,
    /// `nc -l` (OpenBSD netcat).
    Nc,
    /// The blog's server.py.
    Python,
    /// Nothing listens.
    None,
}

/// The longest wait for the last frames of the connection (the final ACK on each link).
const END_LIMIT: Duration = Duration::from_secs(5);
/// How long a socket read waits before the demo gives up on the peer.
const READ_LIMIT: Duration = Duration::from_secs(5);

/// One captured frame: its link (0 a-r, 1 r-b), receive time and bytes.
#[derive(Debug, Clone)]
pub(super) struct LinkFrame {
    pub(super) link: usize,
    pub(super) timestamp: Duration,
    pub(super) data: Vec<u8>,
}

/// The two capture threads in `r`, stopped when dropped.
pub(super) struct Captures {
    pub(super) frames: mpsc::Receiver<LinkFrame>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Captures {
    /// Opens one capture per link in `r` and returns once both sockets are bound, so no frame of
    /// the chat can pass before them.
    pub(super) fn start(lab: &Lab) -> anyhow::Result<Captures> {
        let points: Vec<(String, &'static str)> = LINKS
            .iter()
            .map(|l| (lab.ns(Host::R).to_string(), l.router.dev))
            .collect();
        Captures::on(&points)
    }

    /// Opens one capture on each (namespace, device) of `points`, both directions, each frame
    /// tagged with its point's index as its link; returns once every socket is bound.
    pub(super) fn on(points: &[(String, &'static str)]) -> anyhow::Result<Captures> {
        let (tx, frames) = mpsc::channel();
        let (ready_tx, ready) = mpsc::channel::<anyhow::Result<()>>();
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for (link, (ns, dev)) in points.iter().enumerate() {
            let (tx, ready_tx, stop) = (tx.clone(), ready_tx.clone(), Arc::clone(&stop));
            let (ns, dev) = (ns.clone(), *dev);
            threads.push(std::thread::spawn(move || {
                let opened = super::enter(&ns).and_then(|()| {
                    Capture::open_both_directions(dev)
                        .with_context(|| format!("cannot capture on {dev} in {ns}"))
                });
                let mut cap = match opened {
                    Ok(c) => {
                        let _ = ready_tx.send(Ok(()));
                        c
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                while !stop.load(Ordering::Relaxed) {
                    match cap.next_frame() {
                        Ok(Some(f)) => {
                            let frame = LinkFrame {
                                link,
                                timestamp: f.timestamp,
                                data: f.data.to_vec(),
                            };
                            if tx.send(frame).is_err() {
                                return;
                            }
                        }
                        Ok(None) => {}
                        Err(_) => return,
                    }
                }
            }));
        }
        let captures = Captures {
            frames,
            stop,
            threads,
        };
        for _ in points {
            ready
                .recv()
                .context("a capture thread ended before opening its socket")??;
        }
        Ok(captures)
    }
}

impl Drop for Captures {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Runs the demo.
///
/// # Errors
/// Making the lab, a socket, the capture, or output; the lab is removed in every case.
pub fn run<W: WriteColor>(args: &Args, out: &mut W) -> anyhow::Result<ExitCode> {
    if args.stack == Stack::Encap {
        return super::stack::run(args, out);
    }
    let lab = Lab::create(&args.lab, Kind::Run)?;
    writeln!(
        out,
        "encap lab demo: lab {} (namespaces {}), offload {:?}, MTU 1500 on a-r, {} on r-b at r (1500 at b)",
        lab.id,
        lab.ns.join(", "),
        args.lab.offload,
        args.lab.mtu_b
    )?;
    for (i, link) in LINKS.iter().enumerate() {
        writeln!(
            out,
            "  link {}: {} {} {}  <->  r {} {}",
            link.name,
            link.host.host.letter(),
            link.host.dev,
            mac_to_string(&lab.macs[i][0]),
            link.router.dev,
            mac_to_string(&lab.macs[i][1])
        )?;
    }
    let captures = Captures::start(&lab)?;
    writeln!(
        out,
        "capturing in r on r-a (link a-r) and r-b (link r-b), both directions"
    )?;
    if args.wait_stdin {
        writeln!(out, "ready")?;
        out.flush()?;
        wait_for_stdin()?;
    }
    let frames = chat(args, &lab, out, &captures)?;
    drop(captures);
    let mismatches = report(args, &lab, out, &frames)?;
    lab.remove();
    Ok(if mismatches == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Waits until stdin is readable (a line, or its end), looking at the stop flag every 100 ms so
/// that Ctrl-C or SIGTERM still removes the lab.
pub(super) fn wait_for_stdin() -> anyhow::Result<()> {
    loop {
        if crate::capture::stop_requested() {
            anyhow::bail!("interrupted (SIGINT or SIGTERM): the lab is removed");
        }
        let mut fds = [libc::pollfd {
            fd: libc::STDIN_FILENO,
            events: libc::POLLIN,
            revents: 0,
        }];
        if crate::chat::sys::poll(&mut fds, 100, None).context("poll on stdin")? > 0 {
            return Ok(());
        }
    }
}

/// The connection: made in the namespaces, the dialogue played, closed; returns every frame
/// captured up to the connection's last ACK on both links.
fn chat<W: WriteColor>(
    args: &Args,
    lab: &Lab,
    out: &mut W,
    captures: &Captures,
) -> anyhow::Result<Vec<LinkFrame>> {
    let server_addr = SocketAddr::new(address(Host::B, args.ipv6), args.port);
    let listener = in_namespace(lab.ns(Host::B), move || {
        TcpListener::bind(server_addr)
            .with_context(|| format!("cannot listen on {server_addr} in b"))
    })?;
    let client = in_namespace(lab.ns(Host::A), move || {
        TcpStream::connect(server_addr)
            .with_context(|| format!("cannot connect from a to {server_addr}"))
    })?;
    let (server, client_addr) = listener.accept().context("accept in b")?;
    for s in [&client, &server] {
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(READ_LIMIT))?;
    }
    writeln!(out, "connected: client {client_addr} in a -> server {server_addr} in b, across r; TCP_NODELAY on both")?;
    let streams = [&client, &server];
    let mut readers = [
        BufReader::new(server.try_clone()?),
        BufReader::new(client.try_clone()?),
    ];
    let mut sent = [0u32; 2];
    for (i, (from, line)) in dialogue(args).iter().enumerate() {
        let (from, line) = (*from, line.as_slice());
        let name = ["client in a", "server in b"][from];
        let shown = match std::str::from_utf8(line) {
            Ok(text) if line.len() <= 64 => format!("{text:?}"),
            _ => format!(
                "{} bytes ({:?}...), more than r can forward onto r-b whole",
                line.len(),
                String::from_utf8_lossy(&line[..line.len().min(26)])
            ),
        };
        heading(out, &format!("message {}: the {name} sends {shown}", i + 1))?;
        let (src, dst) = if from == 0 {
            (client_addr, server_addr)
        } else {
            (server_addr, client_addr)
        };
        // The frame as it leaves the sender: onto a-r from a, onto r-b from b, to r's MAC.
        let [host_mac, router_mac] = lab.macs[from];
        let mut params = Params::between_any(src, dst).with_macs(host_mac, router_mac);
        params.tcp.seq = 1 + sent[from];
        params.tcp.ack = 1 + sent[1 - from];
        writeln!(out, "The pipeline on link {} (sequence numbers relative; IP ID, window and timestamps as placeholders):", LINKS[from].name)?;
        pipeline_view::summary(out, &encapsulate(line, &params)?)?;
        let mut stream = streams[from];
        stream
            .write_all(line)
            .with_context(|| format!("the {name} could not send"))?;
        sent[from] += u32::try_from(line.len()).unwrap_or(u32::MAX);
        let mut got = Vec::new();
        readers[from]
            .read_until(b'\n', &mut got)
            .context("the peer did not receive the message")?;
        writeln!(
            out,
            "received: {}{}",
            if got.len() <= 64 {
                format!("{:?}", String::from_utf8_lossy(&got))
            } else {
                format!("{} bytes", got.len())
            },
            if got == line {
                ", intact"
            } else {
                ", NOT what was sent"
            }
        )?;
    }
    // The client closes first, the server answers the end of stream with its own FIN.
    client.shutdown(Shutdown::Write).context("shutdown in a")?;
    let mut rest = Vec::new();
    readers[0]
        .read_to_end(&mut rest)
        .context("the server reading the end")?;
    server.shutdown(Shutdown::Write).context("shutdown in b")?;
    readers[1]
        .read_to_end(&mut rest)
        .context("the client reading the end")?;
    drop((client, server, readers, listener));
    collect_until_closed(captures)
}

/// The dialogue as `encap demo` plays it, then, when r-b is narrower than a-r, a 4200-byte
/// message from the client (more than one full-size segment: r refuses those, and a sends them
/// again smaller), then the client's "exit".
fn dialogue(args: &Args) -> Vec<(usize, Vec<u8>)> {
    let mut lines: Vec<(usize, Vec<u8>)> = crate::cmd::demo::DIALOGUE
        .iter()
        .map(|(from, l)| (*from, l.as_bytes().to_vec()))
        .collect();
    if args.lab.mtu_b < 1500 {
        lines.push((0, crate::cmd::demo::filler(BIG_MESSAGE)));
    }
    lines.push((0, b"exit\n".to_vec()));
    lines
}

/// The size of the message sent when r-b is narrower (`--mtu-b`): 3 segments of 1448 bytes,
/// 4 of 1348 (`--mtu-b 1400`), so that even with offloads on, where the capture sees a GSO
/// packet before it is cut into segments, the IP IDs the packet sent again spends show the
/// smaller segments.
pub const BIG_MESSAGE: usize = 4200;

/// Takes frames until each link carried both FINs and an ACK after them, or [`END_LIMIT`].
pub(super) fn collect_until_closed(captures: &Captures) -> anyhow::Result<Vec<LinkFrame>> {
    let end = Instant::now() + END_LIMIT;
    let mut frames = Vec::new();
    while !LINKS.iter().enumerate().all(|(l, _)| closed(&frames, l)) {
        if crate::capture::stop_requested() {
            anyhow::bail!("interrupted (SIGINT or SIGTERM): the lab is removed");
        }
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            frames.extend(captures.frames.try_iter());
            break;
        }
        if let Ok(f) = captures
            .frames
            .recv_timeout(left.min(Duration::from_millis(100)))
        {
            frames.push(f);
        }
    }
    Ok(in_causal_order(frames))
}

/// `frames` in the order to check them: by capture time, but a packet r forwarded never before
/// the copy it came from ([`encap::hops::causal_order`]).
pub(super) fn in_causal_order(frames: Vec<LinkFrame>) -> Vec<LinkFrame> {
    let order = {
        let keyed: Vec<(usize, Duration, u32, &[u8])> = frames
            .iter()
            .map(|f| {
                let kind = encap::layers::link::link_type::ETHERNET;
                (f.link, f.timestamp, kind, f.data.as_slice())
            })
            .collect();
        encap::hops::causal_order(&keyed)
    };
    let mut slots: Vec<Option<LinkFrame>> = frames.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// The TCP flags of a frame.
fn tcp_flags(data: &[u8]) -> Option<u16> {
    match slice(data).transport {
        Transport::Tcp(seg) => Some(seg.flags()),
        _ => None,
    }
}

/// True once link `link` carried two FINs and an ACK after the second.
fn closed(frames: &[LinkFrame], link: usize) -> bool {
    let mut fins = 0;
    for f in frames.iter().filter(|f| f.link == link) {
        let Some(flags) = tcp_flags(&f.data) else {
            continue;
        };
        if fins == 2 && flags & tcp::field::FLG_ACK != 0 {
            return true;
        }
        if flags & tcp::field::FLG_FIN != 0 {
            fins += 1;
        }
    }
    false
}

/// Each link's frames checked against the model, the hops at r, and the pcapng file; returns
/// the number of MISMATCH fields.
pub(super) fn report<W: WriteColor>(
    args: &Args,
    lab: &Lab,
    out: &mut W,
    frames: &[LinkFrame],
) -> anyhow::Result<usize> {
    let names: Vec<&str> = LINKS.iter().map(|l| l.name).collect();
    let mut numbers = [0u64; LINKS.len()];
    let framed: Vec<crate::cmd::verify_path::Framed<'_>> = frames
        .iter()
        .map(|f| crate::cmd::verify_path::Framed {
            link: f.link,
            number: {
                numbers[f.link] += 1;
                numbers[f.link]
            },
            timestamp: f.timestamp,
            link_type: encap::layers::link::link_type::ETHERNET,
            data: &f.data,
        })
        .collect();
    let mut transcript: encap::verify::Transcript = [Vec::new(), Vec::new()];
    for (from, line) in dialogue(args) {
        transcript[from].push(line);
    }
    // (encap's own endpoint in a writes its own messages: their payloads are taken from the
    // frames, not predicted from the kernel dialogue's.)
    let transcript = (args.stack != Stack::Encap).then_some(&transcript);
    let b_kernel = [encap::verify::LinuxEnd {
        addr: address(Host::B, args.ipv6),
        port: None,
    }];
    let mismatches = crate::cmd::verify_path::check_links(
        out,
        &names,
        "r",
        &framed,
        transcript,
        crate::cmd::verify_path::View {
            verbose: false,
            ladder: Some(["a (client)", "r", "b (server)"]),
            // (encap's own endpoint in a is not Linux: b's kernel is, and a's frames are
            // followed as a peer's.)
            linux: if args.stack == Stack::Encap {
                &b_kernel
            } else {
                &[]
            },
        },
    )?;
    if let Some(path) = &args.write {
        write_pcapng(path, lab, frames)?;
        writeln!(
            out,
            "wrote {} (pcapng, interface 0 link a-r, interface 1 link r-b)",
            path.display()
        )?;
    }
    if mismatches == 0 {
        writeln!(
            out,
            "0 MISMATCH: every frame on both links, and every hop at r, as the model said"
        )?;
    } else {
        writeln!(
            out,
            "{mismatches} MISMATCH fields over the links and hops (each named above)"
        )?;
    }
    Ok(mismatches)
}

/// Writes every frame into `path`, one pcapng interface per link.
fn write_pcapng(path: &std::path::Path, lab: &Lab, frames: &[LinkFrame]) -> anyhow::Result<()> {
    let descriptions: Vec<String> = LINKS
        .iter()
        .map(|l| {
            format!(
                "link {} of lab {}, captured on {} in r",
                l.name, lab.id, l.router.dev
            )
        })
        .collect();
    let links: Vec<(&str, &str)> = LINKS
        .iter()
        .zip(&descriptions)
        .map(|(l, d)| (l.name, d.as_str()))
        .collect();
    crate::cmd::write_file(path, |w| {
        let mut pcap = encap::pcap::LinksWriter::new(w, &links).map_err(std::io::Error::other)?;
        for f in frames {
            pcap.write(f.link as u32, f.timestamp, &f.data)
                .map_err(std::io::Error::other)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddrV4};

    /// A segment from a to b as it leaves a.
    fn segment() -> Vec<u8> {
        let a = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 10), 40000);
        let b = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 10), 6666);
        let params = Params::between(a, b).with_macs(LINKS[0].host.mac, LINKS[0].router.mac);
        encapsulate(b"hello\n", &params).unwrap().frame().to_vec()
    }

    fn on(link: usize, data: &[u8]) -> LinkFrame {
        LinkFrame {
            link,
            timestamp: Duration::ZERO,
            data: data.to_vec(),
        }
    }

    #[test]
    fn a_link_is_closed_after_both_fins_and_an_ack() {
        let seg = segment();
        let with_flags = |flags: u16| {
            let mut f = seg.clone();
            let at = 14 + 20 + 12;
            f[at..at + 2].copy_from_slice(&((8u16 << 12) | flags).to_be_bytes());
            on(0, &f)
        };
        let (fin, ack) = (
            tcp::field::FLG_FIN | tcp::field::FLG_ACK,
            tcp::field::FLG_ACK,
        );
        let mut frames = vec![with_flags(ack), with_flags(fin), with_flags(fin)];
        assert!(!closed(&frames, 0));
        frames.push(with_flags(ack));
        assert!(closed(&frames, 0));
        assert!(!closed(&frames, 1), "nothing on the other link");
    }
}
