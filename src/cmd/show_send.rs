//! `encap show --send`: the pipeline's SYN injected on `lo` through a packet socket, and the
//! kernel's answers captured, each checked against the model. The frame shown is not a
//! prediction but the bytes sent: zero MACs and a full TCP checksum (nothing offloads a frame
//! that a packet socket hands to a device). A listener answers with its SYN-ACK, which the
//! kernel then resets (no socket has encap's source port); a closed port answers with RST, ACK.

use std::fs::File;
use std::net::{SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use termcolor::WriteColor;

use crate::capture::{Capture, CaptureError, FrameSource};
use encap::layers::tcp::field::{FLG_ACK, FLG_RST, FLG_SYN};
use encap::model::{connection_key_link, Counts, FrameCheck, Side};
use encap::pipeline::{self, ChecksumMode};
use encap::render;
use encap::verify::{Outcome, Verifier};

use super::show::{Args, View};
use super::UsageError;

/// How long to wait for the kernel's answers: they come within a millisecond on `lo`.
const ANSWER_LIMIT: Duration = Duration::from_secs(3);

/// The sysctls of `lo` that let a frame from a packet socket reach 127.0.0.1 from 127.0.0.1.
/// The kernel routes every frame that arrives without a route of its own (as one from a packet
/// socket does); on input it drops a destination in 127.0.0.0/8 as a martian unless
/// `route_localnet` is set, and a source that is one of its own addresses unless `accept_local`
/// is (`ip_route_input_slow`, `fib_validate_source`; seen here: `in_martian_dst` and then
/// `in_martian_src` in `/proc/net/stat/rt_cache` grow by one, and no SYN-ACK comes). A frame the
/// kernel itself sends on `lo` carries its route and is never checked so.
const LO_SYSCTLS: [&str; 2] = [
    "/proc/sys/net/ipv4/conf/lo/route_localnet",
    "/proc/sys/net/ipv4/conf/lo/accept_local",
];

/// Where runs of `--send` take turns: each sets the sysctls and puts them back, so two at once
/// would put them back under each other's feet.
const LOCK: &str = "/run/encap-show-send.lock";

/// Runs `encap show --send`.
///
/// # Errors
/// Bad arguments, no CAP_NET_RAW, a port some socket has, no answer: exit status 2 (main).
pub fn run<W: WriteColor>(args: &Args, out: &mut W) -> anyhow::Result<ExitCode> {
    let (src, dst) = endpoints(args)?;
    if args.flags() != FLG_SYN {
        return Err(
            UsageError("--send sends a SYN: leave --flags out (or give --flags S)".into()).into(),
        );
    }
    if args.message.as_deref().is_some_and(|m| !m.is_empty()) {
        return Err(UsageError(
            "--send sends a SYN, which carries no message here: leave the message out".into(),
        )
        .into());
    }
    let mut capture = Capture::open_port("lo", Some(dst.port())).map_err(|e| match e {
        CaptureError::NoPermission { cause, .. } => anyhow::anyhow!(
            "encap show --send needs the CAP_NET_RAW capability for its packet socket on lo, \
             which this process does not have (socket(AF_PACKET): {cause}); it also sets two \
             sysctls of lo for the run: run it as root (sudo encap show --send ...)"
        ),
        e => anyhow::Error::new(e).context("cannot open a packet socket on lo"),
    })?;
    crate::capture::stop_on_signals().context("cannot set the SIGINT/SIGTERM handlers")?;
    let _turn = take_turn()?;
    let (_holder, src) = hold_port(src)?;
    let sysctls = LoSysctls::set()?;
    let mut params = args.params();
    params.tcp.src_port = src.port();
    params.checksum = ChecksumMode::Full;
    let syn = pipeline::encapsulate(&[], &params)?;
    writeln!(
        out,
        "encap show --send: the pipeline's SYN from {src} to {dst}, injected on lo through a packet socket: the frame itself, not a prediction (zero MACs, the full TCP checksum: nothing offloads a frame that a packet socket hands to lo)"
    )?;
    match args.view {
        View::Full => render::pipeline::full(out, &syn)?,
        View::Summary => render::pipeline::summary(out, &syn)?,
    }
    if !sysctls.restore.is_empty() {
        writeln!(
            out,
            "\n{} set to 1 for this run, back to 0 at its end: without them the kernel drops a frame from a packet socket that arrives on lo from and to 127.0.0.1 (a martian)",
            sysctls.names().join(" and ")
        )?;
    }
    let start = Instant::now();
    capture
        .send(syn.frame())
        .context("sending the SYN on lo's packet socket")?;
    writeln!(
        out,
        "\nsent {} bytes to lo's packet socket; what came back on lo:",
        syn.frame().len()
    )?;
    let mut verifier = Verifier::new(crate::chat::sys::tcp_settings().ok(), None);
    let seen = answers(&mut capture, &mut verifier, (src, dst), start)?;
    report(out, args.view, &seen, syn.frame(), (src, dst))
}

/// --src and --dst, both IPv4 on 127.0.0.0/8.
fn endpoints(args: &Args) -> anyhow::Result<(SocketAddrV4, SocketAddrV4)> {
    let (SocketAddr::V4(src), SocketAddr::V4(dst)) = (args.src(), args.dst) else {
        return Err(UsageError(format!(
            "--send speaks IPv4 only: give --src and --dst (--to) as 127.0.0.1:PORT (here {} and {})",
            args.src(),
            args.dst
        ))
        .into());
    };
    for (flag, a) in [("--src", src), ("--dst", dst)] {
        if !a.ip().is_loopback() {
            return Err(UsageError(format!(
                "{flag} {a}: --send injects on lo, so both ends are on 127.0.0.0/8 (127.0.0.1:6666)"
            ))
            .into());
        }
    }
    Ok((src, dst))
}

/// A TCP socket bound to `at` (port 0: one the kernel picks that no socket has) and nothing
/// more: it holds the source port for the run. Returns it and the address it holds.
///
/// Bound only, it owns the port in the bind table and nowhere else: an arriving segment is
/// looked up among the connected and the listening sockets (`__inet_lookup_skb`), never in the
/// bind table, so the listener's SYN-ACK finds no socket and the kernel's control socket answers
/// it with a RST, as for a port nobody has (seen: with such a socket bound, the exchange is the
/// same to the byte, and `ss -tan` does not list it). A socket that listened or connected would
/// own it where it counts and take the SYN-ACK. And while it is bound no other socket can take
/// the port (connect() never picks it, a bind() to it fails), which a port merely found free in
/// the kernel's socket table could not promise between the look and the SYN-ACK.
fn hold_port(at: SocketAddrV4) -> anyhow::Result<(socket2::Socket, SocketAddrV4)> {
    use socket2::{Domain, Protocol, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))
        .context("cannot create the socket that holds the source port")?;
    sock.bind(&SocketAddr::V4(at).into()).map_err(|e| {
        anyhow::anyhow!(
            "cannot hold {at} for the SYN ({e}): a socket has that port, and it may take the \
             kernel's SYN-ACK; leave --src's port out (or give 0) for one that no socket has"
        )
    })?;
    let held = sock
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket_ipv4())
        .context("cannot read the port the kernel picked")?;
    Ok((sock, held))
}

/// Waits for runs of `--send` in other processes (see [`LOCK`]); the turn ends when the file
/// is closed.
fn take_turn() -> anyhow::Result<File> {
    let f = File::create(LOCK).with_context(|| format!("cannot create {LOCK}"))?;
    // SAFETY: flock on a descriptor that `f` keeps open.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } == -1 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("cannot lock {LOCK}"));
    }
    Ok(f)
}

/// The sysctls of [`LO_SYSCTLS`] set to 1 for the run; each one that was 0 is put back when
/// this is dropped (at the end, on an error, after SIGINT or SIGTERM; after a SIGKILL by hand:
/// `sysctl -w net.ipv4.conf.lo.route_localnet=0 net.ipv4.conf.lo.accept_local=0`).
struct LoSysctls {
    restore: Vec<(&'static str, String)>,
}

impl LoSysctls {
    fn set() -> anyhow::Result<LoSysctls> {
        let mut set = LoSysctls {
            restore: Vec::new(),
        };
        for path in LO_SYSCTLS {
            let was = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {path}"))?
                .trim()
                .to_string();
            if was == "0" {
                std::fs::write(path, "1")
                    .with_context(|| format!("cannot set {path} to 1 for the run (needs root)"))?;
                set.restore.push((path, was));
            }
        }
        Ok(set)
    }

    /// What was set, as sysctl names (`net.ipv4.conf.lo.route_localnet`).
    fn names(&self) -> Vec<String> {
        self.restore
            .iter()
            .map(|(p, _)| p.trim_start_matches("/proc/sys/").replace('/', "."))
            .collect()
    }
}

impl Drop for LoSysctls {
    fn drop(&mut self) {
        for (path, was) in &self.restore {
            if let Err(e) = std::fs::write(path, was) {
                eprintln!("encap: warning: cannot put {path} back to {was}: {e}");
            }
        }
    }
}

/// One frame of the connection that lo carried, and what the model made of it.
struct Seen {
    data: Vec<u8>,
    check: Option<FrameCheck>,
    /// Why the model did not check it.
    unchecked: Option<String>,
}

/// The frames of the connection `key` that lo carried after the SYN was sent, each fed to the
/// model: until a RST (the kernel's last answer either way), or [`ANSWER_LIMIT`].
fn answers(
    capture: &mut Capture,
    verifier: &mut Verifier,
    key: (SocketAddrV4, SocketAddrV4),
    start: Instant,
) -> anyhow::Result<Vec<Seen>> {
    let (src, dst) = (SocketAddr::V4(key.0), SocketAddr::V4(key.1));
    let mut seen: Vec<Seen> = Vec::new();
    while start.elapsed() < ANSWER_LIMIT {
        if crate::capture::stop_requested() {
            bail!("interrupted (SIGINT or SIGTERM) while waiting for the kernel's answer");
        }
        let Some(f) = capture.next_frame().context("reading lo's packet socket")? else {
            continue;
        };
        let k = connection_key_link(f.data, encap::layers::link::link_type::ETHERNET);
        if k != Some((src, dst)) && k != Some((dst, src)) {
            continue;
        }
        let (data, time) = (f.data.to_vec(), f.timestamp);
        let n = seen.len() as u64 + 1;
        let (check, unchecked) = match verifier.feed(n, Some(time), &data) {
            Outcome::Checked(_, c) => (Some(c), None),
            Outcome::NotChecked(e) => (None, Some(e.to_string())),
            _ => (
                None,
                Some("not a TCP segment of the connection".to_string()),
            ),
        };
        let rst = check.as_ref().is_some_and(|c| c.flags & FLG_RST != 0);
        seen.push(Seen {
            data,
            check,
            unchecked,
        });
        if rst {
            break;
        }
    }
    Ok(seen)
}

/// Shows each frame and the model's check of the kernel's; the exit status: 0 for a
/// listener's SYN-ACK and the RST for it, 1 for a closed port's RST, ACK or a MISMATCH.
fn report<W: WriteColor>(
    out: &mut W,
    view: View,
    seen: &[Seen],
    syn: &[u8],
    (src, dst): (SocketAddrV4, SocketAddrV4),
) -> anyhow::Result<ExitCode> {
    let mut kernel = Counts::default();
    let mut checked = 0;
    let (mut syn_ack, mut refused, mut reset) = (false, false, false);
    for (i, s) in seen.iter().enumerate() {
        let n = i + 1;
        let Some(c) = &s.check else {
            writeln!(
                out,
                "frame {n}: NOT CHECKED: {}",
                s.unchecked.as_deref().unwrap_or("?")
            )?;
            continue;
        };
        if c.from == Side::Client && c.flags == FLG_SYN {
            // The model knows Linux's SYNs on lo, whose TCP checksum is the pseudo-header sum:
            // this one is encap's, with the full sum. What it teaches is the connection.
            let same = s.data == syn;
            writeln!(
                out,
                "frame {n}: encap's SYN, as lo carried it back in: {}; the model learns the connection's numbers from it (encap's frame, not the kernel's: not counted)",
                if same { "byte for byte the frame sent" } else { "NOT the frame sent" }
            )?;
            if !same {
                kernel.mismatch += 1;
            }
            continue;
        }
        let (why, answer) = answer(c, src, dst);
        match answer {
            Some(Answer::SynAck) => syn_ack = true,
            Some(Answer::Refused) => refused = true,
            Some(Answer::Reset) => reset = true,
            None => {}
        }
        writeln!(out, "\n{why}")?;
        match view {
            View::Full => render::verdicts::table(out, c)?,
            View::Summary => render::verdicts::summary(out, c)?,
        }
        kernel.merge(c.counts());
        checked += 1;
    }
    writeln!(
        out,
        "\nthe kernel's answers: {checked} frame{} checked, {} fields: {} predicted, {} learned, {} kernel-chosen, {} loopback, {} MISMATCH",
        if checked == 1 { "" } else { "s" },
        kernel.total(),
        kernel.predicted,
        kernel.learned,
        kernel.kernel,
        kernel.loopback,
        kernel.mismatch
    )?;
    out.flush()?;
    exit_status(dst, (syn_ack, refused, reset), kernel.mismatch)
}

/// The kernel's answers to the SYN.
enum Answer {
    /// A listener's SYN-ACK.
    SynAck,
    /// A closed port's RST, ACK.
    Refused,
    /// The control socket's RST for the SYN-ACK.
    Reset,
}

/// What frame `c` is, in words, and which answer it is.
fn answer(c: &FrameCheck, src: SocketAddrV4, dst: SocketAddrV4) -> (String, Option<Answer>) {
    match (c.from, c.flags) {
        (Side::Server, f) if f == FLG_SYN | FLG_ACK => (
            format!("the kernel's SYN-ACK: a socket listens on {dst}, and answers the SYN"),
            Some(Answer::SynAck),
        ),
        (Side::Server, f) if f == FLG_RST | FLG_ACK => (
            format!("the kernel's RST, ACK: no socket listens on {dst}, so its control socket refuses the SYN (ack = encap's ISN + 1)"),
            Some(Answer::Refused),
        ),
        (Side::Client, FLG_RST) => (
            format!("the kernel's RST for the SYN-ACK: no socket is connected from or listens on {src} (encap's socket only holds the port, bound), so the control socket answers it: seq = the SYN-ACK's ack, no ACK flag (RFC 9293 3.10.7.1)"),
            Some(Answer::Reset),
        ),
        _ => ("another frame of the connection".to_string(), None),
    }
}

/// 0 for a SYN-ACK and the RST for it; 1 for a refusal or a MISMATCH; an error (2) when the
/// kernel's answers did not all come.
fn exit_status(
    dst: SocketAddrV4,
    (syn_ack, refused, reset): (bool, bool, bool),
    mismatch: usize,
) -> anyhow::Result<ExitCode> {
    if refused {
        eprintln!(
            "encap: nothing listens on {dst}: the kernel answered the SYN with RST, ACK (connection refused); start a server there first (encap server --listen {dst})"
        );
        return Ok(ExitCode::from(1));
    }
    if !syn_ack {
        bail!(
            "no answer to the SYN on lo within {} s",
            ANSWER_LIMIT.as_secs()
        );
    }
    if !reset {
        bail!(
            "the kernel's SYN-ACK came, but no RST for it within {} s",
            ANSWER_LIMIT.as_secs()
        );
    }
    if mismatch > 0 {
        eprintln!("encap: {mismatch} field(s) are a MISMATCH (listed above)");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
