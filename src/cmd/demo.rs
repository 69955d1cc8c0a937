//! `encap demo`: the whole story in one command. A server and a client in this process talk over
//! loopback (the blog's dialogue); each message is shown through the pipeline before it goes to
//! the kernel, the frames the kernel really sent are captured on `lo` and checked field by field
//! against the model, and the connection ends as a ladder and a summary.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::{SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::ValueEnum;
use termcolor::{Color, ColorSpec, WriteColor};

use crate::capture::{self, Capture, Sniffer};
use crate::chat::verify::{heading, Followed};
use encap::dissect::dissect;
use encap::layers::payload::escape_bytes;
use encap::model::{FrameCheck, Side};
use encap::pcap::FrameWriter;
use encap::pipeline::{encapsulate, segment, Encapsulated};
use encap::render::pipeline as pipeline_view;

/// How much of each message to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum View {
    /// The first message in full (four stages, field tables, hex dumps, every field checked), the
    /// others one line per layer and per frame.
    Auto,
    /// Every message in full.
    Full,
    /// Every message one line per layer, every frame one line.
    Summary,
}

/// Arguments of `encap demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The port to listen on; if it is busy, a free one is used, and the demo says so.
    #[arg(long, default_value_t = 6666)]
    pub port: u16,
    /// Keep the capture of the whole session in this pcap file.
    // `--pcap`, its old name, is kept as a hidden alias.
    #[arg(short = 'w', long = "write", alias = "pcap", value_name = "FILE.pcap")]
    pub pcap: Option<PathBuf>,
    /// How much to show.
    #[arg(long, value_enum, default_value_t = View::Auto)]
    pub view: View,
    /// Extra messages sent by the client before `exit`, for larger payloads: a size in bytes
    /// becomes that many bytes of text (repeatable: --extra 1 --extra 1460 --extra 100000).
    #[arg(long, value_name = "BYTES", value_parser = parse_extra)]
    pub extra: Vec<usize>,
    /// Write the connection's ladder as an SVG sequence diagram.
    #[arg(long, value_name = "FILE.svg")]
    pub svg: Option<PathBuf>,
    /// Write a self-contained page: each message through the pipeline, every frame the kernel sent
    /// next to the model's, the ladder and the summary.
    #[arg(long, value_name = "FILE.html")]
    pub html: Option<PathBuf>,
    /// The dialogue over TCP and over UDP, both captured, frame by frame side by side.
    #[arg(long, conflicts_with_all = ["pcap", "extra", "svg", "html"])]
    pub udp: bool,
}

/// An `--extra` size: at least 1 byte (an empty send() sends nothing, so there is no frame to
/// show or check, and the receiver would wait for it in vain).
fn parse_extra(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("0 bytes: an empty send() puts nothing on the wire, so there is no message to show; give at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{s:?} is not a size in bytes")),
    }
}

/// The blog's dialogue: (0 = client, 1 = server, line).
pub const DIALOGUE: [(usize, &str); 4] = [
    (0, "hello\n"),
    (1, "hi\n"),
    (0, "你好，服务器！\n"),
    (1, "你好，客户端 👋\n"),
];

/// A message of `n` bytes: the alphabet over and over, a newline last.
#[must_use]
pub fn filler(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| {
            if i + 1 == n {
                b'\n'
            } else {
                b'a' + (i % 26) as u8
            }
        })
        .collect()
}

/// The longest the demo waits for the frames of one step.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

fn side_name(side: usize) -> &'static str {
    if side == 0 {
        "client"
    } else {
        "server"
    }
}

/// Everything the model checked, for the ladder and the summary, and the capture file.
struct Checked {
    followed: Followed,
    pcap: Option<FrameWriter<BufWriter<File>>>,
    /// Every frame fed, in order, for `--html` (a check's number is its place here, from 1).
    raw: Option<Vec<Vec<u8>>>,
    /// Steps at which the kernel's socket states (sock_diag, ss -tan) and the model's differed.
    states_differ: usize,
}

impl Checked {
    /// Takes the frames `sniffer` captured until `quiet` passes without one, keeps them in the
    /// pcap file and checks each against the model; then, if the kernel dropped none, names
    /// the gaps that can no longer be filled ([`Followed::settle`]).
    fn feed<W: WriteColor>(
        &mut self,
        out: &mut W,
        sniffer: &Sniffer,
        quiet: Duration,
        full: bool,
    ) -> anyhow::Result<()> {
        let (frames, quiet) = sniffer.drain_quiet(quiet, DRAIN_LIMIT);
        for frame in frames {
            if let Some(w) = &mut self.pcap {
                w.write(frame.0, &frame.1)?;
            }
            if let Some(raw) = &mut self.raw {
                raw.push(frame.1.clone());
            }
            self.followed.check(out, &frame, full)?;
        }
        if quiet {
            self.followed.settle(out, sniffer.complete())?;
        }
        Ok(())
    }

    /// Checks what was captured until a quiet moment, then shows the kernel's socket states
    /// next to the model's (the close's steps).
    fn settle<W: WriteColor>(
        &mut self,
        out: &mut W,
        sniffer: &Sniffer,
        client: SocketAddrV4,
        server: SocketAddrV4,
    ) -> anyhow::Result<()> {
        self.feed(out, sniffer, Duration::from_millis(200), false)?;
        self.states(out, client, server)
    }

    /// Shows the kernel's socket states beside ss -tan's and the model's, counting a difference.
    fn states<W: WriteColor>(
        &mut self,
        out: &mut W,
        client: SocketAddrV4,
        server: SocketAddrV4,
    ) -> anyhow::Result<()> {
        let model = self.followed.checks().last().map(|c| c.states);
        if super::demo_states::show(out, client, server, model)? {
            self.states_differ += 1;
        }
        Ok(())
    }
}

/// Runs the demo. Exit status 1 if any field is a MISMATCH, or a step's socket states differ
/// between the kernel, ss -tan and the model (frames the model does not cover are listed, and do
/// not fail).
///
/// # Errors
/// Sockets failing, or output failing.
pub fn run<W: WriteColor>(args: &Args, out: &mut W) -> anyhow::Result<ExitCode> {
    if args.udp {
        return super::demo_udp::run(args.port, out);
    }
    // The server's socket first, on the chat port or, if that is busy, a free one.
    let listener = match TcpListener::bind(("127.0.0.1", args.port)) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            let l =
                TcpListener::bind("127.0.0.1:0").context("cannot bind any port on 127.0.0.1")?;
            writeln!(out, "port {} is busy (EADDRINUSE: another process holds it), so the demo uses port {} instead", args.port, l.local_addr()?.port())?;
            l
        }
        Err(e) => {
            return Err(e).with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))
        }
    };
    let server_addr = match listener.local_addr()? {
        std::net::SocketAddr::V4(a) => a,
        std::net::SocketAddr::V6(_) => anyhow::bail!("the listener is not IPv4"),
    };
    writeln!(out, "encap demo: a server on {server_addr} and a client in this process, the blog's dialogue over real kernel sockets on lo")?;

    let sniffer = match Capture::open("lo") {
        Ok(cap) => {
            writeln!(out, "capturing on lo (port {}): every frame the kernel sends is checked against the model", server_addr.port())?;
            Some(Sniffer::start(cap, server_addr.port()))
        }
        Err(capture::CaptureError::NoPermission { exe, .. }) => {
            out.set_color(ColorSpec::new().set_fg(Some(Color::Yellow)).set_bold(true))?;
            write!(out, "no capture:")?;
            out.reset()?;
            writeln!(out, " this process lacks CAP_NET_RAW, which capturing on lo needs. Run `sudo {exe} demo`, or grant it once: `sudo setcap cap_net_raw+ep {exe}` (a rebuild loses it).")?;
            writeln!(out, "The chat and the pipeline run all the same; what can be checked without capturing comes from TCP_INFO at the end.")?;
            None
        }
        Err(e) => return Err(e).context("cannot capture on lo"),
    };
    let settings = match crate::chat::sys::tcp_settings() {
        Ok(set) => {
            if sniffer.is_some() {
                writeln!(out, "this host's receive buffer: net.ipv4.tcp_rmem {} {} {}, net.core.rmem_max {}: from them the model predicts the SYN's window ({}: half of {} is {}, rounded down to whole {}-byte segments) and the window scale ({}: log2 of {} less 15)", set.tcp_rmem[0], set.tcp_rmem[1], set.tcp_rmem[2], set.rmem_max, set.initial_window(u32::from(encap::model::LO_MSS)), set.tcp_rmem[1], set.full_space(), encap::model::LO_MSS, set.window_scale(), set.tcp_rmem[2].max(set.rmem_max))?;
            }
            Some(set)
        }
        Err(e) => {
            writeln!(
                out,
                "{e}: the SYN windows and window scales are taken from the frames"
            )?;
            None
        }
    };
    // Give the capture socket a moment to be bound before the handshake starts.
    std::thread::sleep(Duration::from_millis(50));

    let client =
        TcpStream::connect(server_addr).with_context(|| format!("connect to {server_addr}"))?;
    let (server, _) = listener.accept().context("accept")?;
    for s in [&client, &server] {
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
    }
    let client_addr = match client.local_addr()? {
        std::net::SocketAddr::V4(a) => a,
        std::net::SocketAddr::V6(_) => anyhow::bail!("the client is not IPv4"),
    };
    writeln!(out, "connected: client {client_addr} -> server {server_addr}; TCP_NODELAY on both, so each message leaves as one segment")?;
    let mut checked = Checked {
        followed: Followed::new(client_addr, server_addr, settings),
        pcap: match (&args.pcap, &sniffer) {
            (Some(path), Some(_)) => Some(FrameWriter::new(BufWriter::new(
                File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
            ))?),
            _ => None,
        },
        raw: args.html.as_ref().map(|_| Vec::new()),
        states_differ: 0,
    };
    let mut messages: Vec<(String, Vec<Encapsulated>)> = Vec::new();
    if let Some(s) = &sniffer {
        heading(
            out,
            "the three-way handshake: connect() sent the SYN, and the kernel completed it before accept() was called",
        )?;
        checked.feed(out, s, Duration::from_millis(150), false)?;
        checked.states(out, client_addr, server_addr)?;
    }

    let streams = [&client, &server];
    let mut readers = [
        BufReader::new(server.try_clone()?),
        BufReader::new(client.try_clone()?),
    ];
    let mut dialogue: Vec<(usize, Vec<u8>)> = DIALOGUE
        .iter()
        .map(|(s, l)| (*s, l.as_bytes().to_vec()))
        .collect();
    for n in &args.extra {
        dialogue.push((0, filler(*n)));
    }
    dialogue.push((0, b"exit\n".to_vec()));
    let mut sent = [0u64; 2];
    // Data segments each side built so far: the relative IP ID counts them, as the chat's.
    let mut segments = [0u64; 2];
    for (i, (from, message)) in dialogue.iter().enumerate() {
        let full = match args.view {
            View::Full => true,
            View::Summary => false,
            View::Auto => i == 0,
        };
        heading(
            out,
            &format!(
                "message {}: the {} sends \"{}\" ({} byte{})",
                i + 1,
                side_name(*from),
                preview(message),
                message.len(),
                if message.len() == 1 { "" } else { "s" }
            ),
        )?;
        let predicted = checked.followed.conn().predict_data_at(
            Side::from_index(*from),
            message.len(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok(),
        );
        let mss = checked
            .followed
            .conn()
            .send_mss(Side::from_index(*from))
            .unwrap_or(65483);
        let mut prediction = false;
        let frames = match (&sniffer, predicted) {
            (Some(_), Some(params)) => {
                prediction = true;
                writeln!(out, "The pipeline, with the numbers the model learned from the handshake (TSval read off the sender's millisecond clock):")?;
                if message.len() > params.max_payload() {
                    segment(message, &params, mss)?
                } else {
                    vec![encapsulate(message, &params)?]
                }
            }
            _ => {
                let local = if *from == 0 { client_addr } else { server_addr };
                let peer = if *from == 0 { server_addr } else { client_addr };
                let mut m = crate::chat::model::ConnModel::new(local, peer);
                m.sent = sent[*from];
                m.received = sent[1 - *from];
                m.segments = segments[*from];
                writeln!(out, "The pipeline (sequence numbers relative to this connection: without a capture the kernel's initial numbers are unknown):")?;
                m.frames(message, mss)?
            }
        };
        for (k, f) in frames.iter().enumerate() {
            if frames.len() > 1 {
                writeln!(out, "-- segment {} of {} --", k + 1, frames.len())?;
            }
            if full {
                pipeline_view::full(out, f)?;
            } else {
                pipeline_view::summary(out, f)?;
            }
            if frames.len() > 3 && k == 1 && !full {
                writeln!(out, "   ... {} more segments", frames.len() - 2)?;
                break;
            }
        }
        if args.html.is_some() {
            let title = format!(
                "message {}: the {} sends \"{}\"",
                i + 1,
                side_name(*from),
                preview(message)
            );
            messages.push((title, frames.clone()));
        }
        checked
            .followed
            .conn_mut()
            .expect_sent(Side::from_index(*from), message);
        // Sent from a thread while this one reads: a message larger than both sockets' buffers
        // would otherwise block send() for ever, the reader never reached.
        let mut writer = streams[*from].try_clone()?;
        let mut got = Vec::with_capacity(message.len());
        let (wrote, read) = std::thread::scope(|scope| {
            let sending = scope.spawn(|| writer.write_all(message));
            let read = readers[*from].read_until(b'\n', &mut got);
            (sending.join(), read)
        });
        wrote
            .map_err(|_| anyhow::anyhow!("the {}'s sending thread panicked", side_name(*from)))?
            .with_context(|| format!("the {} could not send", side_name(*from)))?;
        read.with_context(|| format!("the {} did not receive the message", side_name(1 - *from)))?;
        sent[*from] += message.len() as u64;
        segments[*from] += frames.len() as u64;
        writeln!(
            out,
            "the {} received {} byte{}: \"{}\"{}",
            side_name(1 - *from),
            got.len(),
            if got.len() == 1 { "" } else { "s" },
            preview(&got),
            if got == *message {
                ", intact"
            } else {
                ", NOT what was sent"
            }
        )?;
        if let Some(s) = &sniffer {
            let before = checked.followed.checks().len();
            checked.feed(out, s, Duration::from_millis(100), full)?;
            if prediction {
                let sent_now: Vec<&FrameCheck> = checked.followed.checks()[before..]
                    .iter()
                    .filter(|c| c.from == Side::from_index(*from) && c.len > 0)
                    .collect();
                prediction_report(out, &frames, &sent_now)?;
            }
            checked.states(out, client_addr, server_addr)?;
        }
    }

    // exit: both sides close, the client first, as in the blog.
    heading(
        out,
        "exit: the client closes, then the server (FIN, ACK each way)",
    )?;
    client.shutdown(std::net::Shutdown::Write)?;
    let mut rest = Vec::new();
    let _ = readers[0].read_to_end(&mut rest);
    // Half closed: the client's FIN is in and acknowledged, the server has not closed yet.
    if let Some(s) = &sniffer {
        checked.settle(out, s, client_addr, server_addr)?;
    }
    server.shutdown(std::net::Shutdown::Write)?;
    let mut rest = Vec::new();
    let _ = readers[1].read_to_end(&mut rest);
    let info = tcp_info(&client);
    drop(readers);
    drop(client);
    drop(server);
    if let Some(s) = &sniffer {
        checked.settle(out, s, client_addr, server_addr)?;
    }
    drop(sniffer);
    if let Some(w) = checked.pcap.take() {
        w.into_inner().flush()?;
        if let Some(p) = &args.pcap {
            writeln!(out, "wrote the capture to {}", p.display())?;
        }
    }

    if checked.followed.checks().is_empty() {
        pictures(out, args, &messages, &mut checked)?;
        heading(out, "what TCP_INFO says, without a capture")?;
        return without_capture(out, info);
    }
    checked.followed.report(out)?;
    pictures(out, args, &messages, &mut checked)?;
    let c = checked.followed.counts();
    let (share, beyond_lo) = c.shares();
    writeln!(out, "{} frames, {} fields: {} predicted, {} learned, {} kernel-chosen, {} loopback, {} MISMATCH; {share:.1}% predicted or learned ({beyond_lo:.1}% of the fields lo leaves alone)", checked.followed.checks().len(), c.total(), c.predicted, c.learned, c.kernel, c.loopback, c.mismatch)?;
    if checked.states_differ > 0 {
        writeln!(
            out,
            "at {} step(s) the kernel's socket states were not the model's or ss -tan's (DIFFERENT above)",
            checked.states_differ
        )?;
    }
    out.flush()?;
    // Frames the model does not cover are listed in the report; only a MISMATCH, or a socket
    // state the kernel, ss and the model do not agree on, is a finding.
    Ok(if c.mismatch == 0 && checked.states_differ == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Writes `--svg` (the ladder) and `--html` (the page), if asked for, and says so.
fn pictures<W: WriteColor>(
    out: &mut W,
    args: &Args,
    messages: &[(String, Vec<Encapsulated>)],
    checked: &mut Checked,
) -> anyhow::Result<()> {
    let (client, server) = checked.followed.conn().endpoints();
    let (client, server) = (client.to_string(), server.to_string());
    let checks = checked.followed.checks();
    let ladder = [encap::render::svg::Ladder {
        client: &client,
        server: &server,
        frames: checks,
    }];
    if let Some(path) = &args.svg {
        super::write_file(path, |w| {
            encap::render::svg::ladders(w, &ladder, true, false)
        })?;
        writeln!(out, "wrote the ladder to {}", path.display())?;
    }
    let Some(path) = &args.html else {
        return Ok(());
    };
    let raw = checked.raw.take().unwrap_or_default();
    let row = encap::render::verdicts::ConnectionRow {
        name: format!("{client} -> {server}"),
        frames: checks.len(),
        counts: checked.followed.counts(),
    };
    // A check's number is its frame's place in `raw`, from 1.
    let kernel = checks
        .iter()
        .map(|c| {
            let at = usize::try_from(c.number)
                .ok()
                .and_then(|n| n.checked_sub(1));
            at.and_then(|i| raw.get(i)).map_or(&[][..], Vec::as_slice)
        })
        .collect();
    let intro = format!("The blog's dialogue between a client ({client}) and a server ({server}) in one process over real kernel sockets on lo: each message through the pipeline before send(), then every frame the kernel sent, captured on lo and checked against the model.");
    let s = encap::render::html::Session {
        title: "encap demo",
        intro: &intro,
        rows: std::slice::from_ref(&row),
        connections: vec![encap::render::html::ConnectionView {
            ladder: ladder[0],
            conn: checked.followed.conn(),
            kernel,
        }],
        messages,
        none_captured:
            "nothing was captured: run as root, or with CAP_NET_RAW, to check the kernel's frames",
    };
    super::write_file(path, |w| encap::render::html::session(w, &s).map(drop))?;
    writeln!(out, "wrote the page to {}", path.display())?;
    Ok(())
}

/// How the frames the pipeline showed before `send()` compare with the ones the kernel sent,
/// field by field over the layers' field tables.
fn prediction_report<W: WriteColor>(
    out: &mut W,
    predicted: &[Encapsulated],
    kernel: &[&FrameCheck],
) -> std::io::Result<()> {
    if predicted.len() != kernel.len() {
        return writeln!(
            out,
            "before send(), the pipeline showed {} segment(s); the kernel sent {} packet(s)",
            predicted.len(),
            kernel.len()
        );
    }
    for (p, k) in predicted.iter().zip(kernel) {
        let tree = dissect(p.frame());
        let ours: Vec<_> = tree.nodes.iter().flat_map(|n| &n.fields).collect();
        let mut differ = Vec::new();
        for (i, kf) in k.fields().iter().enumerate() {
            let key = &kf.field.key;
            let nth = k.fields()[..i]
                .iter()
                .filter(|x| x.field.key == *key)
                .count();
            match ours.iter().filter(|x| x.key == *key).nth(nth) {
                Some(pf) if pf.value == kf.field.value => {}
                pf => differ.push((
                    kf,
                    pf.map_or_else(|| "(none)".to_string(), |f| f.display.clone()),
                )),
            }
        }
        write!(
            out,
            "frame {}: the pipeline's frame above, built before send(), has {}/{} fields as the kernel sent them",
            k.number,
            k.fields().len() - differ.len(),
            k.fields().len()
        )?;
        if differ.is_empty() {
            writeln!(out, ": byte for byte the same frame")?;
        } else {
            writeln!(out, "; not:")?;
        }
        let short = |s: &str| {
            if s.chars().count() > 80 {
                format!("{}…", s.chars().take(79).collect::<String>())
            } else {
                s.to_string()
            }
        };
        for (kf, ours) in differ {
            writeln!(
                out,
                "    {} {}: the pipeline said {}, the kernel sent {}{}",
                kf.layer,
                kf.field.name,
                short(&ours),
                short(&kf.field.display),
                if kf.field.key == "tcp.options.timestamp.tsval" {
                    " (the kernel reads its millisecond clock when it builds the segment: a tick can fall between)"
                } else {
                    ""
                }
            )?;
        }
    }
    Ok(())
}

fn preview(b: &[u8]) -> String {
    let cut = b.len().min(40);
    let mut s = escape_bytes(&b[..cut]);
    if cut < b.len() {
        s.push_str(&format!("... (+{} bytes)", b.len() - cut));
    }
    s
}

/// `struct tcp_info`'s first fields (linux/tcp.h), up to the MSS values.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct TcpInfoHead {
    state: u8,
    ca_state: u8,
    retransmits: u8,
    probes: u8,
    backoff: u8,
    options: u8,
    wscale: u8,
    flags: u8,
    rto: u32,
    ato: u32,
    snd_mss: u32,
    rcv_mss: u32,
}

fn tcp_info(s: &TcpStream) -> Option<TcpInfoHead> {
    let mut info = TcpInfoHead::default();
    let mut len = std::mem::size_of::<TcpInfoHead>() as libc::socklen_t;
    // SAFETY: `info` is writable for `len` bytes, the kernel writes at most `len`.
    let rc = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(info)
}

fn without_capture<W: WriteColor>(
    out: &mut W,
    info: Option<TcpInfoHead>,
) -> anyhow::Result<ExitCode> {
    let Some(i) = info else {
        writeln!(out, "getsockopt(TCP_INFO) failed: nothing could be checked")?;
        return Ok(ExitCode::SUCCESS);
    };
    let mut bad = 0;
    let mut check = |out: &mut W, what: &str, got: String, want: String| -> std::io::Result<()> {
        let ok = got == want;
        bad += usize::from(!ok);
        writeln!(
            out,
            "  {what:<36} kernel {got:<12} model {want:<12} {}",
            if ok { "predicted" } else { "MISMATCH" }
        )
    };
    check(
        out,
        "options negotiated",
        format!("{:#04x}", i.options & 0x7),
        format!("{:#04x}", 0x7),
    )?;
    writeln!(
        out,
        "    (0x7 = timestamps + SACK + window scale: every option Linux offers, both sides Linux)"
    )?;
    // tcp_bound_to_half_wnd: no segment larger than half the largest window the peer offered;
    // on lo that is 64 << 10 = 65536 once data flows, below the 65495 - 12 the MSS allows.
    let mss = (u32::from(encap::model::LO_MSS) - 12).min(65_536 / 2);
    check(
        out,
        "MSS for sending (snd_mss)",
        i.snd_mss.to_string(),
        mss.to_string(),
    )?;
    writeln!(out, "    (the smaller of 65495 - 12, the MSS announced on lo less the timestamps option, and half the peer's largest window, 65536 / 2)")?;
    writeln!(
        out,
        "  window scale: sends {} / receives {} (kernel-chosen: from the buffer sizes, tcp_rmem)",
        i.wscale & 0xf,
        i.wscale >> 4
    )?;
    writeln!(out, "To see every frame checked, run with the capability to capture: sudo, or `sudo setcap cap_net_raw+ep {}`.", std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "target/release/encap".into()))?;
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
