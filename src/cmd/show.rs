//! `encap show MESSAGE`: one message through the pipeline, offline, no privileges needed.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::ValueEnum;
use serde_json::{Map, Value as Json};
use termcolor::WriteColor;

use encap::layers::ethernet::{parse_mac, Mac};
use encap::layers::tcp::{self, parse_flags, TcpOption};
use encap::pcap::FrameWriter;
use encap::pipeline::{
    self, linux_data_options, linux_syn_options, ChecksumMode, Encapsulated, Params,
};
use encap::render;

use super::UsageError;

/// How much of the pipeline to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum View {
    /// The four stages, each with its field table and a hex dump.
    Full,
    /// One line per layer.
    Summary,
}

/// Arguments of `encap show`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Defaults are what Linux puts on lo for a chat message: zero MACs, TTL 64, DF, \
timestamps option, window 64 (scaled by 2^10). Example: encap show hello --flags PA --seq 1 --ack 1"
)]
pub struct Args {
    /// The message (UTF-8 text; Chinese and emoji are fine). Empty is allowed: encap show "".
    /// `-` reads it from standard input, as bytes.
    /// With --http, the message's body.
    #[arg(required_unless_present_any = ["file", "http", "send"], conflicts_with = "file")]
    pub message: Option<String>,
    /// Read the message from this file, as bytes (any size: --segment splits what one packet
    /// cannot hold).
    #[arg(long, value_name = "FILE")]
    pub file: Option<std::path::PathBuf>,
    /// Source address and port: IPv4 (127.0.0.1:40000) or IPv6 in brackets ([::1]:40000)
    /// [default: 127.0.0.1:40000; with --send 127.0.0.1:0, a port the kernel picks that no
    /// socket has].
    #[arg(long, value_name = "IP:PORT", value_parser = parse_any_endpoint)]
    pub src: Option<SocketAddr>,
    /// Destination address and port, of the same family as --src (--to is the same).
    #[arg(long, visible_alias = "to", value_name = "IP:PORT", default_value = "127.0.0.1:6666", value_parser = parse_any_endpoint)]
    pub dst: SocketAddr,
    /// Sequence number.
    #[arg(long, default_value_t = 1)]
    pub seq: u32,
    /// Acknowledgment number [default: 1 when ACK is set; 0 otherwise, as Linux sends a SYN or a
    /// RST without ACK].
    #[arg(long)]
    pub ack: Option<u32>,
    /// TCP flags as tcpdump's letters: S SYN, A ACK, P PSH, F FIN, R RST, U URG, E ECE, W CWR
    /// [default: PA; S with --send].
    #[arg(long, value_parser = parse_flag_letters)]
    pub flags: Option<u16>,
    /// TCP window field [default: 64, in units of the window scale 2^10; a SYN's is never
    /// scaled: 65495 as Linux offers on lo, 65483 in a SYN-ACK (65476 and 65464 over IPv6)].
    #[arg(long)]
    pub window: Option<u16>,
    /// TCP urgent pointer.
    #[arg(long, default_value_t = 0)]
    pub urgent: u16,
    /// IPv4 identification [default: 1].
    #[arg(long)]
    pub id: Option<u16>,
    /// IPv4 time to live (IPv6: hop limit).
    #[arg(long, default_value_t = 64)]
    pub ttl: u8,
    /// IPv6 flow label (0-1048575).
    #[arg(long, value_name = "LABEL", value_parser = parse_flow_label)]
    pub flow_label: Option<u32>,
    /// DSCP (0-63): IPv4's DS field or IPv6's traffic class.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=63))]
    pub dscp: u8,
    /// ECN (0-3).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=3))]
    pub ecn: u8,
    /// Clear IPv4's Don't Fragment bit (Linux sets it).
    #[arg(long)]
    pub no_df: bool,
    /// IPv4 options as hex bytes, a multiple of 4 (e.g. 01010100).
    #[arg(long, value_name = "HEX", value_parser = parse_hex)]
    pub ip_options: Option<HexBytes>,
    /// Source MAC address.
    #[arg(long, value_name = "MAC", default_value = "00:00:00:00:00:00", value_parser = parse_mac)]
    pub src_mac: Mac,
    /// Destination MAC address.
    #[arg(long, value_name = "MAC", default_value = "00:00:00:00:00:00", value_parser = parse_mac)]
    pub dst_mac: Mac,
    /// MSS option value (SYN options default to what Linux announces on lo: 65495 over IPv4,
    /// 65535 less the 40 bytes of IPv4 and TCP headers; 65476 over IPv6).
    #[arg(long)]
    pub mss: Option<u16>,
    /// Window scale option value (SYN options default to 10).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=14))]
    pub wscale: Option<u8>,
    /// Timestamps option TSval.
    #[arg(long, default_value_t = 1)]
    pub tsval: u32,
    /// Timestamps option TSecr.
    #[arg(long, default_value_t = 1)]
    pub tsecr: u32,
    /// No TCP options at all: a 20-byte TCP header.
    #[arg(long, conflicts_with_all = ["mss", "wscale"])]
    pub no_options: bool,
    /// Write the TCP checksum as Linux does on lo (checksum offload): the pseudo-header sum only.
    #[arg(long)]
    pub offload: bool,
    /// Split a message into segments of at most this many payload bytes, each shown.
    #[arg(long, value_name = "MSS", num_args = 0..=1, default_missing_value = "65483")]
    pub segment: Option<usize>,
    /// Make the message an HTTP message with this start line (`GET / HTTP/1.1`, or a status
    /// line `HTTP/1.1 404 Not Found`), shown as the application stage; MESSAGE or --file is its
    /// body (Content-Length is added for a body when no --header gives it).
    #[arg(long, value_name = "START LINE")]
    pub http: Option<String>,
    /// A header line of the --http message (`Host: 127.0.0.1`); repeat it for more.
    #[arg(long = "header", value_name = "NAME: VALUE", requires = "http")]
    pub headers: Vec<String>,
    /// What to show.
    #[arg(long, value_enum, default_value_t = View::Full)]
    pub view: View,
    /// Also show what a real Ethernet wire adds: preamble, padding, FCS, inter-frame gap.
    #[arg(long)]
    pub wire: bool,
    /// Print one JSON object per frame, with Wireshark's field names, instead of the views.
    #[arg(long)]
    pub json: bool,
    /// Write the frame(s) to a pcap file (without FCS, as captures store frames).
    #[arg(short = 'w', long = "write", value_name = "FILE.pcap")]
    pub write: Option<std::path::PathBuf>,
    /// Inject the SYN on lo through a packet socket (root: CAP_NET_RAW) towards --dst, a port
    /// on 127.0.0.1, and show what the kernel answers, each frame checked against the model:
    /// a listener's SYN-ACK and then the RST for it (no socket has the source port), or the
    /// RST, ACK of a closed port (exit status 1). IPv4 only.
    #[arg(long, conflicts_with_all = ["file", "http", "segment", "json", "write", "svg", "html"])]
    pub send: bool,
    /// Write the encapsulation figure (boxes to scale in bytes; preamble with --wire) as SVG.
    #[arg(long, value_name = "FILE.svg")]
    pub svg: Option<std::path::PathBuf>,
    /// Write a self-contained page: the figure, each stage's field table and hex dump.
    #[arg(long, value_name = "FILE.html")]
    pub html: Option<std::path::PathBuf>,
}

/// Parses `IP:PORT` for an IPv4 or IPv6 endpoint (`[::1]:6666`).
///
/// # Errors
/// Says what form is expected.
pub fn parse_any_endpoint(s: &str) -> Result<SocketAddr, String> {
    s.parse().map_err(|_| {
        format!("{s:?} is not an address and port; write it like 127.0.0.1:6666 or [::1]:6666")
    })
}

/// A flow label in decimal or 0x hex, at most 20 bits.
fn parse_flow_label(s: &str) -> Result<u32, String> {
    let v = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => s.parse(),
    }
    .map_err(|_| format!("{s:?} is not a number (decimal, or hex as 0x12345)"))?;
    if v >= 1 << 20 {
        return Err(format!(
            "{s} does not fit the 20-bit flow label (at most 0xfffff, 1048575)"
        ));
    }
    Ok(v)
}

fn parse_flag_letters(s: &str) -> Result<u16, String> {
    parse_flags(s)
}

/// Bytes given as hex on the command line.
#[derive(Debug, Clone)]
pub struct HexBytes(pub Vec<u8>);

fn parse_hex(s: &str) -> Result<HexBytes, String> {
    let clean: String = s.chars().filter(|c| !matches!(c, ' ' | ':')).collect();
    if clean.len() % 2 != 0 {
        return Err(format!("{s:?} has an odd number of hex digits"));
    }
    (0..clean.len())
        .step_by(2)
        .map(|i| {
            let pair = clean
                .get(i..i + 2)
                .ok_or_else(|| format!("{s:?} is not hex bytes"))?;
            u8::from_str_radix(pair, 16).map_err(|_| format!("{pair:?} in {s:?} is not a hex byte"))
        })
        .collect::<Result<Vec<u8>, String>>()
        .map(HexBytes)
}

impl Args {
    /// The source address and port: --src, or its default.
    #[must_use]
    pub fn src(&self) -> SocketAddr {
        let port = if self.send { 0 } else { 40000 };
        self.src
            .unwrap_or(SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port)))
    }

    /// The TCP flags: --flags, or PA (S with --send).
    #[must_use]
    pub fn flags(&self) -> u16 {
        let default = if self.send {
            tcp::field::FLG_SYN
        } else {
            tcp::field::FLG_PSH | tcp::field::FLG_ACK
        };
        self.flags.unwrap_or(default)
    }

    /// The pipeline parameters these arguments describe.
    pub fn params(&self) -> Params {
        let mut p = Params::between_any(self.src(), self.dst).with_macs(self.src_mac, self.dst_mac);
        p.tcp.seq = self.seq;
        let flags = self.flags();
        // An acknowledgment number counts only with ACK set (RFC 9293 3.1): 0 otherwise.
        p.tcp.ack = self
            .ack
            .unwrap_or(u32::from(flags & tcp::field::FLG_ACK != 0));
        p.tcp.flags = flags;
        let v6 = p.ipv6.is_some();
        p.tcp.window = self.window.unwrap_or(
            match (
                flags & tcp::field::FLG_SYN != 0,
                flags & tcp::field::FLG_ACK != 0,
            ) {
                (true, false) if v6 => 65476,
                (true, false) => 65495,
                (true, true) if v6 => 65464,
                (true, true) => 65483,
                _ => 64,
            },
        );
        p.tcp.urgent = self.urgent;
        p.ip.identification = self.id.unwrap_or(1);
        p.ip.ttl = self.ttl;
        p.ip.dscp = self.dscp;
        p.ip.ecn = self.ecn;
        p.ip.dont_fragment = !self.no_df;
        p.ip.options = self.ip_options.clone().map(|h| h.0).unwrap_or_default();
        if let Some(v6) = &mut p.ipv6 {
            v6.hop_limit = self.ttl;
            v6.traffic_class = (self.dscp << 2) | self.ecn;
            v6.flow_label = self.flow_label.unwrap_or(0);
        }
        p.tcp.options = if self.no_options {
            Vec::new()
        } else if flags & tcp::field::FLG_SYN != 0 {
            let tsecr = if flags & tcp::field::FLG_ACK != 0 {
                self.tsecr
            } else {
                0
            };
            linux_syn_options(
                self.mss
                    .unwrap_or(if p.ipv6.is_some() { 65476 } else { 65495 }),
                self.tsval,
                tsecr,
                self.wscale.unwrap_or(10),
            )
        } else {
            let mut o = Vec::new();
            if let Some(m) = self.mss {
                o.push(TcpOption::Mss(m));
            }
            if let Some(s) = self.wscale {
                o.extend([TcpOption::Nop, TcpOption::WindowScale(s)]);
            }
            o.extend(linux_data_options(self.tsval, self.tsecr));
            o
        };
        p.checksum = if self.offload {
            ChecksumMode::Offloaded
        } else {
            ChecksumMode::Full
        };
        p
    }
}

/// Runs `encap show`.
///
/// # Errors
/// A message that does not fit (exit status 2), or an I/O error.
pub fn run<W: WriteColor>(args: &Args, out: &mut W) -> anyhow::Result<ExitCode> {
    if args.send {
        return super::show_send::run(args, out);
    }
    match (args.src(), args.dst) {
        (SocketAddr::V4(_), SocketAddr::V4(_)) => {
            if args.flow_label.is_some() {
                return Err(UsageError("--flow-label is IPv6's: give --src and --dst as IPv6 addresses, e.g. [::1]:40000".into()).into());
            }
        }
        (SocketAddr::V6(_), SocketAddr::V6(_)) => {
            for (given, flag) in [
                (args.id.is_some(), "--id"),
                (args.no_df, "--no-df"),
                (args.ip_options.is_some(), "--ip-options"),
            ] {
                if given {
                    return Err(UsageError(format!("{flag} is IPv4's, and --src and --dst are IPv6 (IPv6 has no identification, DF bit or options in its fixed header)")).into());
                }
            }
        }
        (src, dst) => {
            return Err(UsageError(format!(
                "--src {src} and --dst {dst} are of different address families: give both as IPv4 or both as IPv6"
            ))
            .into())
        }
    }
    let params = args.params();
    let mut msg = if args.http.is_some() && args.file.is_none() && args.message.is_none() {
        Vec::new()
    } else {
        message(args)?
    };
    let http = match &args.http {
        Some(start) => {
            let (bytes, m) = super::http::build_message(start, &args.headers, &msg)?;
            msg = bytes;
            Some(m)
        }
        None => None,
    };
    let msg = msg.as_slice();
    let frames: Vec<Encapsulated> = match args.segment {
        Some(0) => {
            return Err(UsageError("--segment needs a size of at least 1 byte".into()).into())
        }
        Some(mss) => {
            let most = params.max_payload();
            if mss > most {
                eprintln!(
                    "encap: note: --segment {mss} is more than one packet holds: segments of at \
                     most {most} bytes, the most one packet holds with these headers"
                );
            }
            pipeline::segment(msg, &params, mss)?
        }
        None => vec![pipeline::encapsulate(msg, &params)?],
    };
    if let Some(path) = &args.write {
        let file =
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut w = FrameWriter::new(BufWriter::new(file))
            .with_context(|| format!("writing {}", path.display()))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        for f in &frames {
            w.write(now, f.frame())
                .with_context(|| format!("writing {}", path.display()))?;
        }
        w.into_inner()
            .flush()
            .with_context(|| format!("writing {}", path.display()))?;
    }
    pictures(args, msg, &frames)?;
    if let (Some(m), false) = (&http, args.json) {
        render::http::stage(out, msg, m, args.view == View::Full)?;
        if args.view == View::Full {
            writeln!(out)?;
        }
    }
    for (i, frame) in frames.iter().enumerate() {
        if args.json {
            writeln!(out, "{}", json(frame))?;
            continue;
        }
        if frames.len() > 1 {
            if i > 0 {
                writeln!(out)?;
            }
            writeln!(out, "=== segment {} of {} ===", i + 1, frames.len())?;
        }
        match args.view {
            View::Full => render::pipeline::full(out, frame)?,
            View::Summary => render::pipeline::summary(out, frame)?,
        }
        if args.wire {
            writeln!(out)?;
            render::pipeline::wire(out, frame)?;
        }
    }
    if let (Some(path), false) = (&args.write, args.json) {
        writeln!(
            out,
            "\nwrote {} frame(s) to {}",
            frames.len(),
            path.display()
        )?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Writes `--svg` and `--html`, if asked for.
fn pictures(args: &Args, message: &[u8], frames: &[Encapsulated]) -> anyhow::Result<()> {
    let title = format!(
        "\"{}\" through the pipeline",
        encap::layers::payload::escape_bytes(message)
    );
    if let Some(path) = &args.svg {
        let figures: Vec<_> = frames
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let t = match frames.len() {
                    1 => title.clone(),
                    n => format!("{title}: segment {} of {n}", i + 1),
                };
                render::svg::Figure::of_frame(&t, e.frame(), true, args.wire)
            })
            .collect();
        super::write_file(path, |w| render::svg::encapsulation(w, &figures, true))?;
    }
    if let Some(path) = &args.html {
        super::write_file(path, |w| {
            let mut page = render::html::Page::start(w, &title, "encap show: one message, built layer by layer by the pipeline (no kernel involved)")?;
            let what = match frames.len() {
                1 => "the frame, stage by stage".to_string(),
                n => format!("{n} segments, each stage by stage"),
            };
            page.message(&what, frames, args.wire)?;
            page.finish().map(drop)
        })?;
    }
    Ok(())
}

/// The message's bytes: the argument, standard input for `-`, or `--file`.
fn message(args: &Args) -> anyhow::Result<Vec<u8>> {
    match (&args.file, args.message.as_deref()) {
        (Some(path), _) => {
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
        }
        (None, Some("-")) => {
            let mut b = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut b)
                .context("cannot read the message from standard input")?;
            Ok(b)
        }
        (None, Some(m)) => Ok(m.as_bytes().to_vec()),
        (None, None) => Err(UsageError("give a message, `-` or --file FILE".into()).into()),
    }
}

/// One JSON object for a frame: every field by its Wireshark name, plus the frame length and FCS.
fn json(frame: &Encapsulated) -> Json {
    let mut obj = Map::new();
    obj.insert("frame.len".into(), Json::from(frame.frame().len()));
    if let Ok(d) = pipeline::decapsulate(frame.frame()) {
        render::json::add_fields(&mut obj, &d.layers());
        obj.insert("tcp.len".into(), Json::from(d.payload().len()));
    } else {
        // IPv6: the decoder's tree (decapsulate reads IPv4 only).
        let tree = encap::dissect::dissect(frame.frame());
        let layers: Vec<_> = tree
            .nodes
            .into_iter()
            .map(|n| (n.layer, n.fields))
            .collect();
        render::json::add_fields(&mut obj, &layers);
        obj.insert("tcp.len".into(), Json::from(frame.payload().len()));
    }
    obj.insert("eth.fcs".into(), Json::from(frame.fcs()));
    Json::Object(obj)
}
