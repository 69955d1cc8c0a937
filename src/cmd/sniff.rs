//! `encap sniff`: live capture from an interface (default `lo`), each frame decoded as it arrives.
//! Needs `CAP_NET_RAW`. The socket and its settings live in `crate::capture`; this file is the
//! arguments and the loop.

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::Context;
use termcolor::WriteColor;

use encap::dissect::ports;
use encap::pcap::FrameWriter;
use encap::render::frames::{write_frame, Frame, FrameOptions};

use crate::capture::{self, Capture, FrameSource, KernelStats};

/// Arguments of `encap sniff`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Needs CAP_NET_RAW: run with sudo, or `sudo setcap cap_net_raw+ep \
$(which encap)` once (a rebuild loses it). Ctrl-C stops and prints the counters. \
Example: sudo encap sniff -c 10 -v"
)]
pub struct Args {
    /// The interface to capture on; `any`, as tcpdump, for every interface (each must carry
    /// Ethernet frames).
    #[arg(short = 'i', long, default_value = "lo")]
    pub interface: String,
    /// A capture filter as tcpdump takes it (pcap-filter(7)), e.g. `tcp port 6666 or udp`;
    /// several words are joined with spaces. Compiled by libpcap and run in the kernel; it
    /// replaces --port.
    #[arg(value_name = "EXPRESSION", conflicts_with = "all")]
    pub expression: Vec<String>,
    /// Keep at most this many bytes of each frame, as tcpdump -s (0: the default, 262144).
    #[arg(
        short = 's',
        long = "snapshot-length",
        value_name = "SNAPLEN",
        default_value_t = 0
    )]
    pub snaplen: u32,
    /// Accepted for tcpdump's habit: addresses and ports are always shown as numbers.
    #[arg(short = 'n', action = clap::ArgAction::Count)]
    pub numeric: u8,
    /// Keep only frames whose TCP or UDP source or destination port is this (the chat's port by
    /// default). A kernel filter drops the others before they are queued, so they cost nothing.
    #[arg(long, default_value_t = 6666, conflicts_with = "all")]
    pub port: u16,
    /// Keep every frame, whatever its ports.
    #[arg(long)]
    pub all: bool,
    /// Stop after this many frames shown.
    #[arg(short = 'c', long, value_name = "N")]
    pub count: Option<u64>,
    /// Also write every frame kept to this pcap file, with its receive time. The file header is
    /// written at once and the frames reach the file at least once a second (every frame with
    /// -U), so a capture killed outright still leaves a readable file.
    #[arg(short = 'w', long = "write", value_name = "FILE.pcap")]
    pub write: Option<PathBuf>,
    /// With -w: write each frame to the file as soon as it is captured, as tcpdump -U does.
    #[arg(short = 'U', long = "packet-buffered", requires = "write")]
    pub packet_buffered: bool,
    /// Every field of every layer, not one line per frame (-vv is the same).
    #[arg(short = 'v', long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Add a hex dump of each frame, with its ASCII (-X is the same).
    #[arg(short = 'x', long, short_alias = 'X')]
    pub hex: bool,
    /// Show each frame's link-level header in the one-line view, as tcpdump -e.
    #[arg(short = 'e', long = "link-header")]
    pub link: bool,
    /// One JSON object per frame, with Wireshark's field names.
    #[arg(long)]
    pub json: bool,
    /// The time zone and form of the times shown.
    #[command(flatten)]
    pub time: super::TimeFlags,
}

/// What the loop counted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Frames read from the socket (with `--port`, those the kernel filter passed).
    pub captured: u64,
    /// Frames that passed the port filter and were shown.
    pub shown: u64,
}

/// Runs `encap sniff` until Ctrl-C, SIGTERM or `-c` frames.
///
/// # Errors
/// No permission or no such interface (with what to do), or an I/O error.
pub fn run<W: WriteColor>(args: &Args, out: &mut W) -> anyhow::Result<ExitCode> {
    if args.count == Some(0) {
        return Err(super::UsageError("-c needs at least 1 frame".into()).into());
    }
    let snaplen = match args.snaplen {
        0 => encap::pcap::SNAPLEN,
        n if n > encap::pcap::SNAPLEN => {
            return Err(super::UsageError(format!(
                "-s {n}: at most {} bytes of a frame are read",
                encap::pcap::SNAPLEN
            ))
            .into())
        }
        n => n,
    };
    let expression = args.expression.join(" ");
    let program = if !expression.is_empty() {
        Some(capture::compile_filter(&expression, snaplen).map_err(super::UsageError)?)
    } else if args.all {
        Some(capture::keep_all(snaplen))
    } else {
        Some(capture::with_snaplen(
            capture::port_filter(args.port),
            snaplen,
        ))
    };
    capture::stop_on_signals().context("cannot install the Ctrl-C handler")?;
    let mut source = Capture::open_program(&args.interface, program).map_err(|e| match e {
        e @ (capture::CaptureError::NoSuchInterface { .. }
        | capture::CaptureError::NotUp { .. }
        | capture::CaptureError::NotEthernet { .. }) => {
            anyhow::Error::new(super::UsageError(e.to_string()))
        }
        e => anyhow::Error::new(e),
    })?;
    let file = match &args.write {
        Some(path) => Some(SharedFile(Rc::new(RefCell::new(BufWriter::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        ))))),
        None => None,
    };
    let mut pcap = match (&file, &args.write) {
        (Some(f), Some(path)) => {
            let w = FrameWriter::with_snaplen(f.clone(), snaplen)
                .with_context(|| format!("writing {}", path.display()))?;
            // The header reaches the file before the first frame does.
            f.0.borrow_mut()
                .flush()
                .with_context(|| format!("writing {}", path.display()))?;
            Some(w)
        }
        _ => None,
    };
    let mut policy = FlushPolicy::new(args.packet_buffered);
    let mut flush = |wrote: bool| -> anyhow::Result<()> {
        if let (Some(f), Some(path)) = (&file, &args.write) {
            if policy.due(wrote, Instant::now()) {
                f.0.borrow_mut()
                    .flush()
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
        Ok(())
    };
    let filter = if !expression.is_empty() {
        format!("filter {expression:?}")
    } else if args.all {
        "every frame".to_string()
    } else {
        format!("TCP or UDP port {}", args.port)
    };
    eprintln!(
        "encap: listening on {}, link-type EN10MB (Ethernet), snapshot length {snaplen} bytes, {filter}",
        source.interface(),
    );
    let granted = source.receive_buffer();
    // The kernel doubles what it is asked for; less than that means rmem_max capped it.
    if granted < 2 * capture::RECEIVE_BUFFER {
        eprintln!(
            "encap: warning: the kernel gave the capture a {} KiB receive buffer, not {} KiB \
             (net.core.rmem_max caps it without CAP_NET_ADMIN), so a burst may be dropped; \
             raise the cap with: sudo sysctl -w net.core.rmem_max={}",
            granted / 1024,
            2 * capture::RECEIVE_BUFFER / 1024,
            capture::RECEIVE_BUFFER
        );
    }

    let mut counts = Counts::default();
    let looped = sniff_loop(
        args,
        &mut source,
        out,
        pcap.as_mut(),
        &mut counts,
        capture::stop_requested,
        &mut flush,
    );
    // Whatever ended the loop, the file is completed and the counters printed.
    drop(pcap);
    let flushed = match (&file, &args.write) {
        (Some(f), Some(path)) => {
            f.0.borrow_mut()
                .flush()
                .with_context(|| format!("writing {}", path.display()))
        }
        _ => Ok(()),
    };
    let _ = out.flush();
    let kernel = source.kernel_stats().ok();
    eprintln!("{}", summary(counts, kernel));
    if let Some(queued) = kernel.and_then(|k| k.received.checked_sub(k.dropped + counts.captured)) {
        if queued > 0 {
            eprintln!(
                "({queued} more frames were still queued in the kernel when the capture stopped)"
            );
        }
    }
    looped?;
    flushed?;
    Ok(ExitCode::SUCCESS)
}

/// tcpdump's closing line: `N frames captured, M shown, K dropped by kernel`.
pub fn summary(counts: Counts, kernel: Option<KernelStats>) -> String {
    let dropped = kernel.map_or_else(|| "unknown".to_string(), |k| k.dropped.to_string());
    format!(
        "{} frames captured, {} shown, {dropped} dropped by kernel",
        counts.captured, counts.shown
    )
}

/// The pcap file of `-w`, shared by the writer that fills it and the loop that flushes it.
#[derive(Clone)]
struct SharedFile(Rc<RefCell<BufWriter<File>>>);

impl Write for SharedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.borrow_mut().flush()
    }
}

/// When the frames written to `-w`'s file are flushed to it: after each frame with `-U`, else
/// once a second at most after the first frame not yet flushed (tcpdump's `-U` and its
/// buffered default, with a bound on how much a kill can lose).
#[derive(Debug)]
struct FlushPolicy {
    every_frame: bool,
    /// When the oldest frame not yet flushed was written.
    oldest: Option<Instant>,
}

/// How long a frame may wait in the buffer without `-U`.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

impl FlushPolicy {
    fn new(every_frame: bool) -> FlushPolicy {
        FlushPolicy {
            every_frame,
            oldest: None,
        }
    }

    /// Whether to flush now; `wrote`: a frame was just written.
    fn due(&mut self, wrote: bool, now: Instant) -> bool {
        if wrote && self.oldest.is_none() {
            self.oldest = Some(now);
        }
        let due = match self.oldest {
            Some(t) => self.every_frame || now.duration_since(t) >= FLUSH_EVERY,
            None => false,
        };
        if due {
            self.oldest = None;
        }
        due
    }
}

/// Reads frames until `stop()` says so or `-c` frames were shown; keeps those the port filter
/// passes, writes them to `pcap` and renders them to `out`. `flush(wrote)` is called after each
/// frame written to `pcap` (true) and after each read that timed out (false).
fn sniff_loop<W: WriteColor, S: FrameSource, P: Write>(
    args: &Args,
    source: &mut S,
    out: &mut W,
    mut pcap: Option<&mut FrameWriter<P>>,
    counts: &mut Counts,
    stop: impl Fn() -> bool,
    flush: &mut dyn FnMut(bool) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let options = FrameOptions {
        verbose: args.verbose > 0,
        hex: args.hex,
        link: args.link,
        json: args.json,
        date: args.time.date()?,
    };
    while !stop() && args.count.map_or(true, |c| counts.shown < c) {
        let Some(frame) = source
            .next_frame()
            .context("reading from the capture socket")?
        else {
            flush(false)?;
            continue;
        };
        counts.captured += 1;
        // An expression was decided in the kernel; the port filter lets some frames through for
        // user space to decide (extension headers, VLAN tags).
        if args.expression.is_empty() && !args.all && !keep(frame.data, args.port) {
            continue;
        }
        counts.shown += 1;
        if let Some(w) = pcap.as_deref_mut() {
            w.write_cut(
                frame.timestamp,
                frame.data,
                capture::original_len(frame.data),
            )
            .context("writing the pcap file")?;
            flush(true)?;
        }
        let shown = Frame {
            number: counts.shown,
            timestamp: frame.timestamp,
            data: frame.data,
            orig_len: capture::original_len(frame.data),
            utc_offset: args.time.offset_at(frame.timestamp),
            link_type: 1,
        };
        write_frame(out, &shown, &options).context("writing the frame")?;
    }
    Ok(())
}

/// Whether the port filter keeps `frame`. A frame cut short is always kept: the decoder may not
/// read its ports, and hiding it would hide that the capture lost bytes.
fn keep(frame: &[u8], port: u16) -> bool {
    match ports(frame) {
        Some((s, d)) => s == port || d == port,
        None => capture::original_len(frame) > frame.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Received;
    use encap::pipeline::{encapsulate, Params};
    use std::time::Duration;

    /// Frames from a list, as bandwhich's tests feed a fake datalink receiver.
    struct Frames {
        frames: Vec<Vec<u8>>,
        at: usize,
        idle: u32,
    }

    impl FrameSource for Frames {
        fn next_frame(&mut self) -> std::io::Result<Option<Received<'_>>> {
            if self.at >= self.frames.len() {
                self.idle += 1;
                return Ok(None);
            }
            self.at += 1;
            Ok(self.frames.get(self.at - 1).map(|f| Received {
                timestamp: Duration::new(1_700_000_000, 0),
                data: f,
            }))
        }
        fn kernel_stats(&mut self) -> std::io::Result<KernelStats> {
            Ok(KernelStats::default())
        }
    }

    fn args(extra: &[&str]) -> Args {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            a: Args,
        }
        let mut v = vec!["sniff"];
        v.extend_from_slice(extra);
        Cli::parse_from(v).a
    }

    fn frame(src: u16, dst: u16, msg: &[u8]) -> Vec<u8> {
        let p = Params::between(
            format!("127.0.0.1:{src}").parse().unwrap(),
            format!("127.0.0.1:{dst}").parse().unwrap(),
        );
        encapsulate(msg, &p).unwrap().frame().to_vec()
    }

    fn run_on(frames: Vec<Vec<u8>>, extra: &[&str]) -> (Counts, String, Vec<u8>) {
        let a = args(extra);
        let mut src = Frames {
            frames,
            at: 0,
            idle: 0,
        };
        let mut out = termcolor::NoColor::new(Vec::new());
        let mut pcap = FrameWriter::new(Vec::new()).unwrap();
        let mut counts = Counts::default();
        let stop = std::cell::Cell::new(0);
        // Stops after a few idle reads, as Ctrl-C would.
        sniff_loop(
            &a,
            &mut src,
            &mut out,
            Some(&mut pcap),
            &mut counts,
            || {
                stop.set(stop.get() + 1);
                stop.get() > 100
            },
            &mut |_| Ok(()),
        )
        .unwrap();
        (
            counts,
            String::from_utf8(out.into_inner()).unwrap(),
            pcap.into_inner(),
        )
    }

    #[test]
    fn port_filter_keeps_either_direction() {
        let frames = vec![
            frame(40000, 6666, b"to server"),
            frame(40000, 7777, b"other"),
            frame(6666, 40000, b"to client"),
            vec![0xff; 7],
            Vec::new(),
        ];
        let (counts, text, pcap) = run_on(frames.clone(), &[]);
        assert_eq!(
            counts,
            Counts {
                captured: 5,
                shown: 2
            }
        );
        assert_eq!(text.lines().count(), 2, "{text}");
        let mut r = pcap_file::pcap::PcapReader::new(&pcap[..]).unwrap();
        assert_eq!(&*r.next_packet().unwrap().unwrap().data, &frames[0][..]);
        assert_eq!(&*r.next_packet().unwrap().unwrap().data, &frames[2][..]);
        assert!(r.next_packet().is_none());

        let (counts, _, _) = run_on(frames, &["--all"]);
        assert_eq!(
            counts,
            Counts {
                captured: 5,
                shown: 5
            }
        );
    }

    #[test]
    fn count_stops_the_loop() {
        let frames = vec![
            frame(1, 6666, b"a"),
            frame(1, 6666, b"b"),
            frame(1, 6666, b"c"),
        ];
        let (counts, _, _) = run_on(frames, &["-c", "2"]);
        assert_eq!(
            counts,
            Counts {
                captured: 2,
                shown: 2
            }
        );
    }

    #[test]
    fn json_has_lengths_and_ports() {
        let (_, text, _) = run_on(vec![frame(40000, 6666, b"hi")], &["--json"]);
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["frame.len"], 14 + 20 + 32 + 2);
        assert_eq!(v["frame.cap_len"], 14 + 20 + 32 + 2);
        assert_eq!(v["tcp.dstport"], 6666);
    }

    #[test]
    fn no_panic_on_any_short_frame() {
        let full = frame(40000, 6666, b"hello");
        let frames: Vec<Vec<u8>> = (0..full.len()).map(|n| full[..n].to_vec()).collect();
        for extra in [&["--all", "-v", "-x"][..], &["--all", "--json"]] {
            let (counts, _, _) = run_on(frames.clone(), extra);
            assert_eq!(counts.shown, full.len() as u64);
        }
    }

    #[test]
    fn a_frame_cut_short_says_so() {
        // The read buffer cut a 1000-byte segment: the IP header still says how long it was.
        let full = frame(40000, 6666, &[b'x'; 1000]);
        let cut = full[..200].to_vec();
        let (_, text, _) = run_on(vec![cut.clone()], &["--json", "--all"]);
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["frame.len"], full.len());
        assert_eq!(v["frame.cap_len"], 200);
        let (_, text, _) = run_on(vec![cut.clone()], &["--all"]);
        assert!(
            text.contains(&format!("cut short: captured 200 of {} bytes", full.len())),
            "{text}"
        );
        // Its ports are read from the captured part of the TCP header: the filter applies.
        let (counts, _, _) = run_on(vec![cut.clone()], &["--port", "6666"]);
        assert_eq!(counts.shown, 1);
        let (counts, _, _) = run_on(vec![cut], &["--port", "1"]);
        assert_eq!(counts.shown, 0);
    }

    #[test]
    fn flush_policy_bounds_what_a_kill_loses() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        // -U: every frame written is flushed at once; idle reads flush nothing.
        let mut u = FlushPolicy::new(true);
        assert!(!u.due(false, at(0)));
        assert!(u.due(true, at(1)));
        assert!(!u.due(false, at(2)));
        // Default: a frame waits at most a second, counted from the oldest unflushed one,
        // whether more frames follow or the capture goes idle.
        let mut d = FlushPolicy::new(false);
        assert!(!d.due(true, at(0)));
        assert!(!d.due(true, at(500)));
        assert!(!d.due(false, at(999)));
        assert!(d.due(false, at(1000)));
        assert!(!d.due(false, at(5000)), "nothing left to flush");
        assert!(!d.due(true, at(5001)));
        assert!(d.due(true, at(6001)));
    }

    #[test]
    fn summary_line() {
        let c = Counts {
            captured: 8,
            shown: 3,
        };
        let k = KernelStats {
            received: 9,
            dropped: 1,
        };
        assert_eq!(
            summary(c, Some(k)),
            "8 frames captured, 3 shown, 1 dropped by kernel"
        );
    }
}
