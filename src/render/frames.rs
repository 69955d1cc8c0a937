//! Captured frames, for `encap sniff` and `encap decode` alike: one line per frame in tcpdump's
//! spirit, the layer tree (`-v`), the marked hex dump (`-x`), or one JSON object per line.

use std::io::{self, Write};
use std::time::Duration;

use serde_json::{Map, Value as Json};
use termcolor::{ColorSpec, WriteColor};

use super::hexdump::{self, Mark};
use super::{field_position, layer_color, layer_letters};
use crate::dissect::{dissect, slice, Net, Sliced, Transport};
use crate::layers::ethernet::mac_to_string;
use crate::layers::icmp;
use crate::layers::payload::escape_bytes;
use crate::layers::tcp::{self, TcpOption};
use crate::layers::Layer;

/// Which views to print.
#[derive(Debug, Clone, Copy, Default)]
pub struct FrameOptions {
    /// The layer tree with every field, its offset and checksum verdicts.
    pub verbose: bool,
    /// The hex dump with each layer's bytes marked.
    pub hex: bool,
    /// One JSON object per frame instead of text.
    pub json: bool,
}

/// One captured frame.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// 1-based number.
    pub number: u64,
    /// Time since the Unix epoch.
    pub timestamp: Duration,
    /// The captured bytes.
    pub data: &'a [u8],
    /// Its length on the link.
    pub orig_len: usize,
}

/// Most payload characters the one-line view shows.
const PAYLOAD_PREVIEW: usize = 48;

/// Writes `frame` as `opts` asks.
///
/// # Errors
/// An I/O error from `w`.
pub fn write_frame<W: WriteColor>(
    w: &mut W,
    frame: &Frame<'_>,
    opts: &FrameOptions,
) -> io::Result<()> {
    write_sliced(w, frame, &slice(frame.data), opts)
}

/// Like [`write_frame`], for a frame the caller has already sliced (to filter it, say).
///
/// # Errors
/// An I/O error from `w`.
pub fn write_sliced<W: WriteColor>(
    w: &mut W,
    frame: &Frame<'_>,
    s: &Sliced<'_>,
    opts: &FrameOptions,
) -> io::Result<()> {
    if opts.json {
        return writeln!(w, "{}", Json::Object(json(frame)));
    }
    line(w, frame, s)?;
    if opts.verbose || opts.hex {
        let d = dissect(frame.data);
        if opts.verbose {
            for n in &d.nodes {
                w.set_color(
                    ColorSpec::new()
                        .set_fg(Some(layer_color(n.layer)))
                        .set_bold(true),
                )?;
                write!(w, "    {}", n.layer)?;
                w.reset()?;
                writeln!(
                    w,
                    ", bytes {}-{}",
                    n.range.start,
                    n.range.end.saturating_sub(1).max(n.range.start)
                )?;
                let rows: Vec<(String, String)> = n
                    .fields
                    .iter()
                    .map(|f| {
                        let (range, bits) = field_position(f, 0, frame.data);
                        (
                            range,
                            if bits.is_empty() {
                                f.display.clone()
                            } else {
                                format!("{bits} = {}", f.display)
                            },
                        )
                    })
                    .collect();
                let name_w = n
                    .fields
                    .iter()
                    .map(|f| f.name.chars().count())
                    .max()
                    .unwrap_or(0);
                for (f, (range, value)) in n.fields.iter().zip(rows) {
                    writeln!(w, "      {range:<9} {:<name_w$}  {value}", f.name)?;
                }
            }
        }
        if let Some(e) = &d.error {
            w.set_color(
                ColorSpec::new()
                    .set_fg(Some(termcolor::Color::Red))
                    .set_bold(true),
            )?;
            write!(w, "    malformed")?;
            w.reset()?;
            writeln!(w, ": {e}")?;
        }
        if opts.hex {
            let marks: Vec<Mark> = d
                .nodes
                .iter()
                .map(|n| Mark {
                    range: n.range.clone(),
                    letters: layer_letters(n.layer),
                    color: layer_color(n.layer),
                })
                .collect();
            if !w.supports_color() {
                let legend: Vec<String> = d
                    .nodes
                    .iter()
                    .map(|n| format!("{} {}", layer_letters(n.layer), n.layer))
                    .collect();
                writeln!(w, "    ({})", legend.join(", "))?;
            }
            hexdump::write(w, frame.data, &marks, "    ")?;
        }
    }
    Ok(())
}

/// Writes `HH:MM:SS.ffffff` (UTC) of a time since the epoch.
fn clock<W: Write>(w: &mut W, t: Duration) -> io::Result<()> {
    let day = t.as_secs() % 86_400;
    write!(
        w,
        "{:02}:{:02}:{:02}.{:06}",
        day / 3600,
        day / 60 % 60,
        day % 60,
        t.subsec_micros()
    )
}

/// tcpdump's flag letters: `S` SYN, `F` FIN, `P` PSH, `R` RST, `U` URG, `E` ECE, `W` CWR, `.` ACK.
fn flag_letters(flags: u16) -> String {
    let mut s = String::with_capacity(4);
    for (bit, c) in [
        (tcp::field::FLG_SYN, 'S'),
        (tcp::field::FLG_FIN, 'F'),
        (tcp::field::FLG_PSH, 'P'),
        (tcp::field::FLG_RST, 'R'),
        (tcp::field::FLG_URG, 'U'),
        (tcp::field::FLG_ECE, 'E'),
        (tcp::field::FLG_CWR, 'W'),
        (tcp::field::FLG_ACK, '.'),
    ] {
        if flags & bit != 0 {
            s.push(c);
        }
    }
    if s.is_empty() {
        s.push_str("none");
    }
    s
}

fn tcp_options<W: Write>(w: &mut W, raw: &[u8]) -> io::Result<()> {
    if raw.is_empty() {
        return Ok(());
    }
    write!(w, ", options [")?;
    for (i, item) in tcp::options(raw).enumerate() {
        if i > 0 {
            write!(w, ",")?;
        }
        match item {
            Ok((_, TcpOption::Nop)) => write!(w, "nop")?,
            Ok((_, TcpOption::Eol)) => write!(w, "eol")?,
            Ok((_, TcpOption::Mss(m))) => write!(w, "mss {m}")?,
            Ok((_, TcpOption::WindowScale(s))) => write!(w, "wscale {s}")?,
            Ok((_, TcpOption::SackPermitted)) => write!(w, "sackOK")?,
            Ok((_, TcpOption::Sack(b))) => write!(w, "sack {}", b.len())?,
            Ok((_, TcpOption::Timestamps { tsval, tsecr })) => {
                write!(w, "TS val {tsval} ecr {tsecr}")?
            }
            Ok((_, TcpOption::Unknown { kind, data })) => write!(w, "opt-{kind}:{}", data.len())?,
            Err(_) => write!(w, "bad opts")?,
        }
    }
    write!(w, "]")
}

fn payload_preview<W: Write>(w: &mut W, p: &[u8]) -> io::Result<()> {
    if p.is_empty() {
        return Ok(());
    }
    let cut = p.len().min(PAYLOAD_PREVIEW);
    write!(w, ": \"{}\"", escape_bytes(&p[..cut]))?;
    if cut < p.len() {
        write!(w, "... (+{} bytes)", p.len() - cut)?;
    }
    Ok(())
}

/// The one-line view.
fn line<W: WriteColor>(w: &mut W, f: &Frame<'_>, s: &Sliced<'_>) -> io::Result<()> {
    write!(w, "{:>5} ", f.number)?;
    clock(w, f.timestamp)?;
    if let Some(id) = s.vlan {
        write!(w, " vlan {id},")?;
    }
    let (src, dst, family): (String, String, &str) = match &s.net {
        Net::Ipv4(p) => (p.source().to_string(), p.destination().to_string(), "IP"),
        Net::Ipv6(p, _) => (p.source.to_string(), p.destination.to_string(), "IP6"),
        Net::Arp(op, sender, target) => {
            match op {
                1 => write!(w, " ARP, Request who-has {target} tell {sender}")?,
                2 => write!(
                    w,
                    " ARP, Reply {sender} is-at {}",
                    s.frame
                        .get(22..28)
                        .and_then(|m| <[u8; 6]>::try_from(m).ok())
                        .map_or_else(String::new, |m| mac_to_string(&m))
                )?,
                _ => write!(w, " ARP, opcode {op}")?,
            }
            return end_line(w, f, s);
        }
        Net::Other(t, b) => {
            write!(w, " ethertype 0x{:04x}, length {}", u16::from(*t), b.len())?;
            return end_line(w, f, s);
        }
        Net::None => return end_line(w, f, s),
    };
    match s.transport {
        Transport::Tcp(t) => {
            let len = t.payload().len();
            write!(
                w,
                " {family} {src}.{} > {dst}.{}: Flags [{}], seq {}",
                t.src_port(),
                t.dst_port(),
                flag_letters(t.flags()),
                t.seq()
            )?;
            if len > 0 {
                write!(w, ":{}", t.seq().wrapping_add(len as u32))?;
            }
            if t.flags() & tcp::field::FLG_ACK != 0 {
                write!(w, ", ack {}", t.ack())?;
            }
            write!(w, ", win {}", t.window())?;
            tcp_options(w, t.options_raw())?;
            write!(w, ", length {len}")?;
            payload_preview(w, t.payload())?;
        }
        Transport::Udp(sp, dp, p) => {
            write!(
                w,
                " {family} {src}.{sp} > {dst}.{dp}: UDP, length {}",
                p.len()
            )?;
            payload_preview(w, p)?;
        }
        Transport::Icmp(layer, t, c) => {
            let name = if layer == Layer::Icmp {
                icmp::type_name_v4(t)
            } else {
                icmp::type_name_v6(t)
            };
            let l = s.payload.len() + 4;
            write!(
                w,
                " {family} {src} > {dst}: {layer} {name}, type {t}, code {c}, length {l}"
            )?;
        }
        Transport::Other(p, b) => {
            write!(
                w,
                " {family} {src} > {dst}: ip-proto-{} ({}), length {}",
                u8::from(p),
                p.name(),
                b.len()
            )?;
        }
        Transport::None => write!(w, " {family} {src} > {dst}:")?,
    }
    end_line(w, f, s)
}

fn end_line<W: WriteColor>(w: &mut W, f: &Frame<'_>, s: &Sliced<'_>) -> io::Result<()> {
    if f.data.len() < f.orig_len {
        write!(
            w,
            " [cut short: captured {} of {} bytes]",
            f.data.len(),
            f.orig_len
        )?;
    }
    if let Some((e, ..)) = &s.error {
        w.set_color(ColorSpec::new().set_fg(Some(termcolor::Color::Red)))?;
        write!(w, " [malformed: {e}]")?;
        w.reset()?;
    }
    writeln!(w)
}

/// The frame as one flat JSON object with Wireshark's field names.
#[must_use]
pub fn json(frame: &Frame<'_>) -> Map<String, Json> {
    let mut obj = Map::new();
    obj.insert("frame.number".into(), Json::from(frame.number));
    obj.insert(
        "frame.time_epoch".into(),
        Json::from(frame.timestamp.as_secs_f64()),
    );
    obj.insert("frame.len".into(), Json::from(frame.orig_len));
    obj.insert("frame.cap_len".into(), Json::from(frame.data.len()));
    let d = dissect(frame.data);
    let layers: Vec<(Layer, Vec<crate::layers::Field>)> =
        d.nodes.into_iter().map(|n| (n.layer, n.fields)).collect();
    super::json::add_fields(&mut obj, &layers);
    let s = slice(frame.data);
    if let Transport::Tcp(t) = s.transport {
        obj.insert("tcp.len".into(), Json::from(t.payload().len()));
    }
    if let Some((e, layer, _)) = &s.error {
        obj.insert("_ws.malformed".into(), Json::from(format!("{layer}: {e}")));
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{encapsulate, ChecksumMode, Params};
    use termcolor::NoColor;

    fn render(data: &[u8], opts: FrameOptions) -> String {
        let mut out = NoColor::new(Vec::new());
        let f = Frame {
            number: 7,
            timestamp: Duration::new(1_700_000_000, 123_456_789),
            data,
            orig_len: data.len(),
        };
        write_frame(&mut out, &f, &opts).unwrap();
        String::from_utf8(out.into_inner()).unwrap()
    }

    #[test]
    fn one_line_like_tcpdump() {
        let p = Params {
            checksum: ChecksumMode::Offloaded,
            ..Params::default()
        };
        let e = encapsulate(b"hello\n\x1b[2J", &p).unwrap();
        let text = render(e.frame(), FrameOptions::default());
        assert_eq!(
            text,
            "    7 22:13:20.123456 IP 127.0.0.1.40000 > 127.0.0.1.6666: Flags [P.], seq 1:11, ack 1, win 64, options [nop,nop,TS val 1 ecr 1], length 10: \"hello\\n\\x1b[2J\"\n"
        );
    }

    #[test]
    fn verbose_tree_and_hex() {
        let p = Params {
            checksum: ChecksumMode::Offloaded,
            ..Params::default()
        };
        let e = encapsulate(b"hello\n", &p).unwrap();
        let text = render(
            e.frame(),
            FrameOptions {
                verbose: true,
                hex: true,
                json: false,
            },
        );
        assert!(text.contains("    TCP, bytes 34-65"), "{text}");
        assert!(
            text.contains("0xfe2e [partial: pseudo-header sum left for checksum offload]"),
            "{text}"
        );
        assert!(
            text.contains("(ee Ethernet II, ii IPv4, tt TCP, dd Application)"),
            "{text}"
        );
    }

    #[test]
    fn malformed_and_cut_short_frames_say_so() {
        let e = encapsulate(b"hello", &Params::default()).unwrap();
        let text = render(&e.frame()[..40], FrameOptions::default());
        assert!(text.contains("[malformed: IPv4: Total length needs bytes up to offset 71, but the frame ends at offset 40]"), "{text}");
        let text = render(&e.frame()[..30], FrameOptions::default());
        assert!(text.contains("[malformed: IPv4: Destination address needs bytes up to offset 34, but the frame ends at offset 30]"), "{text}");
        let mut out = NoColor::new(Vec::new());
        let f = Frame {
            number: 1,
            timestamp: Duration::ZERO,
            data: &e.frame()[..60],
            orig_len: 71,
        };
        write_frame(&mut out, &f, &FrameOptions::default()).unwrap();
        assert!(String::from_utf8(out.into_inner())
            .unwrap()
            .contains("[cut short: captured 60 of 71 bytes]"));
    }

    #[test]
    fn json_numbers_and_names() {
        let e = encapsulate(b"hi", &Params::default()).unwrap();
        let f = Frame {
            number: 3,
            timestamp: Duration::new(5, 0),
            data: e.frame(),
            orig_len: e.frame().len(),
        };
        let o = json(&f);
        assert_eq!(o["frame.number"], 3);
        assert_eq!(o["tcp.srcport"], 40000);
        assert_eq!(o["tcp.len"], 2);
        assert_eq!(o["ip.src"], "127.0.0.1");
    }
}
