//! `encap decode FILE`: every frame of a pcap or pcapng file, decoded layer by layer, streamed in
//! constant memory.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use termcolor::WriteColor;

use encap::capfile::{linktype_name, CaptureReader, Format, DECODED_LINK_TYPES};
use encap::dissect::slice_link;
use encap::http_stream::HttpStreams;
use encap::render::frames::{json, write_sliced, Frame, FrameOptions};

use super::json_lines::{Pool, Sink};

/// Arguments of `encap decode`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A pcap or pcapng capture of link type Ethernet (as `tcpdump -i lo -w FILE` writes);
    /// `-` reads it from standard input (`tcpdump -w - | encap decode -`).
    pub file: PathBuf,
    /// Show the layer tree: every field with its byte offset and checksum verdicts (-vv, as
    /// tcpdump users type it, is the same).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Show the hex dump with each layer's bytes marked, and their ASCII (-X, tcpdump's
    /// letter for that, is the same).
    #[arg(short = 'x', long, short_alias = 'X')]
    pub hex: bool,
    /// Show each frame's link-level header in the one-line view, as tcpdump -e.
    #[arg(short = 'e', long = "link-header")]
    pub link: bool,
    /// One JSON object per frame, one per line, with Wireshark's field names.
    #[arg(long, conflicts_with_all = ["verbose", "hex"])]
    pub json: bool,
    /// Only frames to or from this TCP or UDP port.
    #[arg(long)]
    pub port: Option<u16>,
    /// Stop after this many frames shown.
    #[arg(short = 'c', long, value_name = "N")]
    pub count: Option<u64>,
    /// The time zone and form of the times shown.
    #[command(flatten)]
    pub time: super::TimeFlags,
}

/// Runs `encap decode`.
///
/// # Errors
/// The file cannot be opened, or is not a capture, or is truncated or corrupt (after every good
/// frame before the problem was shown), or output fails.
pub fn run<W: WriteColor>(args: &Args, out: &mut W) -> anyhow::Result<ExitCode> {
    if args.count == Some(0) {
        return Err(super::UsageError("-c needs at least 1 frame".into()).into());
    }
    let stdin = args.file.as_os_str() == "-";
    let name = if stdin {
        "standard input".to_string()
    } else {
        args.file.display().to_string()
    };
    let (input, size): (Box<dyn Read>, u64) = if stdin {
        (Box::new(std::io::stdin().lock()), 0)
    } else {
        let file = File::open(&args.file).with_context(|| format!("cannot open {name}"))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        (Box::new(file), size)
    };
    let mut reader = CaptureReader::with_link_types(
        BufReader::with_capacity(1 << 18, input),
        &DECODED_LINK_TYPES,
    )
    .with_context(|| name.clone())?;
    if !args.json {
        let format = match reader.format() {
            Format::Pcap { nanos: true, .. } => "pcap, nanosecond timestamps",
            Format::Pcap { .. } => "pcap",
            Format::PcapNg => "pcapng",
        };
        // tcpdump's form: `link-type EN10MB (Ethernet)`.
        let link = linktype_name(reader.link_type());
        let link = match link.split_once(", ") {
            Some((short, long)) => format!("{short} ({long})"),
            None => link.to_string(),
        };
        eprintln!("reading from file {name} ({format}), link-type {link}");
    }
    let progress = super::progress_bar(size);
    let opts = FrameOptions {
        verbose: args.verbose > 0,
        hex: args.hex,
        link: args.link,
        json: args.json,
        date: args.time.date()?,
    };
    let nanos = matches!(reader.format(), Format::Pcap { nanos: true, .. });
    // (`--json` formats its lines on every core: each depends on its frame alone.)
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let (tally, result) = std::thread::scope(|scope| -> anyhow::Result<_> {
        let mut output = match (args.json, threads) {
            (false, _) => Output::Text(&mut *out),
            (true, 1) => Output::Json(Sink::Here {
                out: &mut *out,
                line: Vec::new(),
            }),
            (true, n) => Output::Json(Sink::Pool(Pool::new(scope, n, &mut *out))),
        };
        let mut tally = Tally::default();
        let result = each_frame(
            &mut reader,
            args,
            &opts,
            nanos,
            &name,
            &progress,
            &mut tally,
            &mut output,
        )?;
        if let Some(bar) = &progress {
            bar.finish_and_clear();
        }
        // Messages the capture ends in the middle of: each said cut, after the last frame.
        for r in tally.streams.finish() {
            match &mut output {
                Output::Json(sink) => {
                    let mut obj = serde_json::Map::new();
                    let frame = r.frames.last().copied().unwrap_or(tally.read);
                    obj.insert("frame.number".into(), frame.into());
                    let h = encap::http_stream::HttpFrame {
                        messages: vec![r],
                        ..Default::default()
                    };
                    encap::render::http::add_json(&mut obj, &h);
                    let mut line = serde_json::to_vec(&obj)?;
                    line.push(b'\n');
                    sink.line(line)?;
                }
                Output::Text(out) => {
                    writeln!(out, "end of capture:")?;
                    encap::render::http::write_message(*out, &r, args.verbose > 0)?;
                }
            }
        }
        if let Output::Json(sink) = output {
            sink.finish()?;
        }
        Ok((tally, result))
    })?;
    let Tally {
        read,
        shown,
        malformed,
        cut,
        ..
    } = tally;
    out.flush()?;
    if malformed > 0 {
        eprintln!("{malformed} of {shown} frames shown are malformed (each says where)");
    }
    if cut > 0 {
        eprintln!("{cut} of {shown} frames shown were cut short by the capture's snapshot length (each says how much of it was captured)");
    }
    result.with_context(|| format!("{name}: stopped after {read} good frames"))?;
    Ok(ExitCode::SUCCESS)
}

/// Where the frames go: text (the one-line view, `-v`, `-x`), or JSON lines.
enum Output<'w, W: WriteColor> {
    Text(&'w mut W),
    Json(Sink<'w, W>),
}

/// What the reading loop counted, and the HTTP it followed.
#[derive(Default)]
struct Tally {
    /// The number of the last frame read.
    read: u64,
    shown: u64,
    malformed: u64,
    cut: u64,
    streams: HttpStreams,
}

/// Every frame of `reader` to `output`, counted in `tally`, until the end, the `-c` count or
/// the first error reading the file (returned, after the frames before it were shown); an
/// error writing stops it at once.
#[allow(clippy::too_many_arguments)]
fn each_frame<R: Read, W: WriteColor>(
    reader: &mut CaptureReader<R>,
    args: &Args,
    opts: &FrameOptions,
    nanos: bool,
    name: &str,
    progress: &Option<indicatif::ProgressBar>,
    tally: &mut Tally,
    output: &mut Output<'_, W>,
) -> anyhow::Result<Result<(), encap::capfile::CaptureError>> {
    loop {
        let packet = match reader.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => return Ok(Ok(())),
            Err(e) => return Ok(Err(e)),
        };
        tally.read = packet.number;
        if let Some(frac) = packet.bad_fraction {
            let unit = if nanos {
                "nanoseconds, at most 999999999"
            } else {
                "microseconds, at most 999999"
            };
            eprintln!(
                "{name}: frame {}: the timestamp's fraction at byte {} is {frac}, out of range ({unit}): shown carried into the seconds",
                packet.number,
                packet.offset + 4
            );
        }
        if let Some(bar) = progress {
            if packet.number % 4096 == 0 {
                bar.set_position(packet.offset);
            }
        }
        // A frame that carries its FCS (the pcap header says how long): decoded without it,
        // the FCS checked and shown with -v.
        let (data, fcs) = match packet.data.len().checked_sub(packet.fcs_len) {
            Some(end) if packet.fcs_len > 0 && packet.data.len() == packet.orig_len => {
                packet.data.split_at(end)
            }
            _ => (packet.data, &[][..]),
        };
        let sliced = slice_link(data, packet.link_type);
        if let Some(port) = args.port {
            if !sliced.ports().is_some_and(|(s, d)| s == port || d == port) {
                continue;
            }
        }
        // (A frame the snapshot length cut short is not malformed: tshark does not say so.)
        if packet.orig_len > packet.data.len() {
            tally.cut += 1;
        } else {
            tally.malformed += u64::from(sliced.error.is_some());
        }
        let frame = Frame {
            number: packet.number,
            timestamp: packet.timestamp,
            data,
            orig_len: packet.orig_len - fcs.len(),
            // JSON has the epoch time only: no time zone to look up per frame.
            utc_offset: if args.json {
                0
            } else {
                args.time.offset_at(packet.timestamp)
            },
            link_type: packet.link_type,
        };
        // HTTP is followed per connection across frames (a request split across segments).
        let http = tally.streams.feed(packet.number, &sliced);
        match output {
            Output::Json(sink) if !http.is_empty() => {
                let mut obj = json(&frame);
                encap::render::http::add_json(&mut obj, &http);
                let mut line = serde_json::to_vec(&obj)?;
                line.push(b'\n');
                sink.line(line)?;
            }
            Output::Json(sink) => sink.frame(&frame, &sliced)?,
            Output::Text(out) => {
                write_sliced(*out, &frame, &sliced, opts)?;
                // The one-line view stays tcpdump's line; HTTP is in the layer tree, as
                // tcpdump -v.
                if args.verbose > 0 {
                    encap::render::http::write_text(*out, &http, true)?;
                    fcs_line(*out, data, fcs)?;
                }
            }
        }
        tally.shown += 1;
        if args.count.is_some_and(|c| tally.shown >= c) {
            return Ok(Ok(()));
        }
    }
}

/// `-v`'s line on a frame's FCS, when the capture kept it: correct, or what it should be.
fn fcs_line<W: WriteColor>(out: &mut W, data: &[u8], fcs: &[u8]) -> std::io::Result<()> {
    let Ok(found) = <[u8; 4]>::try_from(fcs) else {
        return Ok(());
    };
    let found = u32::from_le_bytes(found);
    let want = encap::layers::ethernet::fcs(data);
    let verdict = if found == want {
        "[correct]".to_string()
    } else {
        format!("[incorrect, should be 0x{want:08x}]")
    };
    writeln!(
        out,
        "    Ethernet FCS, bytes {}-{}: 0x{found:08x} {verdict}",
        data.len(),
        data.len() + 3
    )
}
