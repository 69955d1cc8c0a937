//! The pipeline views of one encapsulated message: the four stages with field tables and hex
//! dumps (`full`), one line per layer (`summary`), and what a real 802.3 wire adds (`wire`).

use std::io;

use termcolor::{Color, ColorSpec, WriteColor};

use super::hexdump::{self, Mark};
use super::{field_position, layer_color, layer_letters};
use crate::dissect::{slice, Net, Transport};
use crate::layers::ethernet::{self, WireView};
use crate::layers::payload::escape_bytes;
use crate::layers::tcp::flag_names;
use crate::layers::Layer;
use crate::pipeline::{Encapsulated, Stage};

/// What a stage's heading says the layer adds.
pub(crate) fn adds(stage: &Stage<'_>) -> String {
    let h = stage.header.len();
    let n = stage.bytes.len();
    match stage.layer {
        Layer::Application => format!("the message as the application hands it to send(): {n} bytes"),
        Layer::Tcp => format!(
            "adds a {h}-byte header (ports, sequence and acknowledgment numbers, flags, window, checksum{}) -> a {n}-byte segment",
            if h > 20 { ", options" } else { "" }
        ),
        Layer::Ipv4 => format!("adds a {h}-byte header (addresses, TTL, protocol, header checksum) -> a {n}-byte packet"),
        Layer::Ipv6 => format!("adds a {h}-byte header (addresses, hop limit, flow label, next header; no checksum) -> a {n}-byte packet"),
        Layer::Ethernet if stage.trailer.len() > 4 => format!(
            "adds a {h}-byte header (MAC addresses, EtherType), {} bytes of padding (a frame is at least 60 bytes before its FCS) and a 4-byte FCS -> a {n}-byte frame ({} bytes as a capture stores it, without padding and FCS)",
            stage.trailer.len() - 4,
            n - stage.trailer.len()
        ),
        Layer::Ethernet => format!(
            "adds a {h}-byte header (MAC addresses, EtherType) and a 4-byte FCS -> a {n}-byte frame ({} bytes as a capture stores it, without the FCS)",
            n - stage.trailer.len()
        ),
        other => format!("{other}: {n} bytes"),
    }
}

fn heading<W: WriteColor>(w: &mut W, number: usize, stage: &Stage<'_>) -> io::Result<()> {
    w.set_color(
        ColorSpec::new()
            .set_fg(Some(layer_color(stage.layer)))
            .set_bold(true),
    )?;
    write!(w, "[{number}/4] {}", stage.layer)?;
    w.reset()?;
    writeln!(w, ": {}", adds(stage))
}

/// Writes the four stages top to bottom: a heading, the field table (byte offsets relative to the
/// stage's bytes) and a hex dump with the bytes this layer added marked.
///
/// # Errors
/// An I/O error from `w`.
pub fn full<W: WriteColor>(w: &mut W, e: &Encapsulated) -> io::Result<()> {
    for (i, stage) in e.stage_views().iter().enumerate() {
        if i > 0 {
            writeln!(w)?;
        }
        heading(w, i + 1, stage)?;
        let rows: Vec<(String, &str, String, &str)> = stage
            .fields
            .iter()
            .map(|f| {
                let (range, bits) = field_position(f, 0, stage.bytes);
                let value = if bits.is_empty() {
                    f.display.clone()
                } else {
                    format!("{bits} = {}", f.display)
                };
                (range, f.name.as_ref(), value, f.meaning.as_ref())
            })
            .collect();
        let name_w = rows
            .iter()
            .map(|r| r.1.chars().count())
            .max()
            .unwrap_or(0)
            .max(5);
        let value_w = rows
            .iter()
            .map(|r| r.2.chars().count())
            .max()
            .unwrap_or(0)
            .max(5);
        writeln!(
            w,
            "    {:<7} {:<name_w$}  {:<value_w$}  Meaning",
            "Bytes", "Field", "Value"
        )?;
        for (range, name, value, meaning) in &rows {
            writeln!(
                w,
                "    {range:<7} {name:<name_w$}  {value:<value_w$}  {meaning}"
            )?;
        }
        let letters = layer_letters(stage.layer);
        let mut marks = vec![Mark {
            range: stage.header.clone(),
            letters,
            color: layer_color(stage.layer),
        }];
        let padded = stage.trailer.len() > ethernet::field::FCS_LEN;
        if padded {
            marks.push(Mark {
                range: stage.trailer.start..stage.trailer.end - ethernet::field::FCS_LEN,
                letters: "pp",
                color: Color::Magenta,
            });
        }
        if !stage.trailer.is_empty() {
            marks.push(Mark {
                range: stage.trailer.end - ethernet::field::FCS_LEN..stage.trailer.end,
                letters: "ff",
                color: Color::Red,
            });
        }
        if !w.supports_color() {
            let fcs = match (stage.trailer.is_empty(), padded) {
                (true, _) => "",
                (false, true) => ", pp = padding, ff = FCS",
                (false, false) => ", ff = FCS",
            };
            writeln!(w, "    ({letters} = bytes {} added{fcs})", stage.layer)?;
        }
        hexdump::write(w, stage.bytes, &marks, "    ")?;
        if stage.layer == Layer::Ethernet {
            let frame_len = stage.bytes.len() - stage.trailer.len();
            if frame_len < ethernet::field::MIN_FRAME_LEN {
                writeln!(
                    w,
                    "    note: {frame_len} bytes is under Ethernet's 60-byte minimum, so it is padded with zeros before the FCS, as a real wire carries it (lo and captures store the {frame_len} bytes only; see --wire)"
                )?;
            }
            if frame_len > 1514 {
                writeln!(
                    w,
                    "    note: {frame_len} bytes is more than a 1500-byte-MTU Ethernet carries (1514 bytes); lo's MTU is 65536, a NIC would need segmentation offload"
                )?;
            }
        }
    }
    Ok(())
}

/// Writes one line per layer, top to bottom.
///
/// # Errors
/// An I/O error from `w`.
pub fn summary<W: WriteColor>(w: &mut W, e: &Encapsulated) -> io::Result<()> {
    let sliced = slice(e.frame());
    let (Some(eth), Transport::Tcp(t)) = (sliced.ethernet, sliced.transport) else {
        return writeln!(w, "(frame does not decode)");
    };
    let s = e.stages();
    let ip_line = match &sliced.net {
        Net::Ipv4(ip) => (
            Layer::Ipv4,
            format!(
                "+{:>3} bytes   {} -> {}  id {}  ttl {}{}  proto TCP  len {}  cksum 0x{:04x}",
                s.tcp - s.ip,
                ip.source(),
                ip.destination(),
                ip.identification(),
                ip.header()[8],
                if ip.header()[6] & 0x40 != 0 {
                    "  DF"
                } else {
                    ""
                },
                ip.total_len(),
                ip.checksum()
            ),
        ),
        Net::Ipv6(ip, b) => (
            Layer::Ipv6,
            format!(
                "+{:>3} bytes   {} -> {}  flow 0x{:05x}  hlim {}  next TCP  plen {}",
                s.tcp - s.ip,
                ip.source,
                ip.destination,
                u32::from_be_bytes([0, b[1] & 0x0f, b[2], b[3]]),
                b[7],
                ip.end - 40
            ),
        ),
        _ => return writeln!(w, "(frame does not decode)"),
    };
    let lines = [
        (Layer::Application, {
            // A long payload is shown by its start: a line, not a screenful.
            let p = e.payload();
            let shown = &p[..p.len().min(60)];
            let more = if p.len() > shown.len() {
                format!("… (+{} bytes)", p.len() - shown.len())
            } else {
                String::new()
            };
            format!("{:>5} bytes   \"{}\"{more}", p.len(), escape_bytes(shown))
        }),
        (
            Layer::Tcp,
            format!(
                "+{:>3} bytes   {} -> {}  seq {}  ack {}  [{}]  win {}  len {}  cksum 0x{:04x}",
                s.payload - s.tcp,
                t.src_port(),
                t.dst_port(),
                t.seq(),
                t.ack(),
                flag_names(t.flags()),
                t.window(),
                t.payload().len(),
                t.checksum()
            ),
        ),
        ip_line,
        (
            Layer::Ethernet,
            format!(
                "+{:>3} bytes   {} -> {}  type {}  FCS 0x{:08x}  = {}-byte frame ({} with {}FCS)",
                s.ip - s.ethernet,
                ethernet::mac_to_string(&eth.source),
                ethernet::mac_to_string(&eth.destination),
                if matches!(sliced.net, Net::Ipv6(..)) {
                    "IPv6"
                } else {
                    "IPv4"
                },
                e.fcs(),
                e.frame().len(),
                e.frame_with_fcs().len(),
                if s.pad > 0 { "padding and " } else { "" }
            ),
        ),
    ];
    for (layer, text) in lines {
        w.set_color(
            ColorSpec::new()
                .set_fg(Some(layer_color(layer)))
                .set_bold(true),
        )?;
        write!(w, "  {:<12}", layer.name())?;
        w.reset()?;
        writeln!(w, "{text}")?;
    }
    Ok(())
}

/// Writes what the frame looks like on a real 802.3 wire: preamble and SFD, padding, FCS and the
/// inter-frame gap, each labelled, none of which `lo` shows.
///
/// # Errors
/// An I/O error from `w`.
pub fn wire<W: WriteColor>(w: &mut W, e: &Encapsulated) -> io::Result<()> {
    let frame = e.frame();
    let v = WireView::of(frame);
    let total = v.wire_len(frame.len());
    writeln!(
        w,
        "On a real Ethernet wire (lo shows none of the labelled extras):"
    )?;
    let pre = ethernet::field::PREAMBLE_SFD;
    writeln!(
        w,
        "    {:<18} {:>5} bytes  {}  lets the receiver's clock lock on; d5 marks the frame's start",
        "preamble + SFD",
        pre.len(),
        hexdump::spaced(&pre)
    )?;
    writeln!(
        w,
        "    {:<18} {:>5} bytes  destination MAC .. end of payload, as above",
        "frame",
        frame.len()
    )?;
    if v.padding > 0 {
        writeln!(w, "    {:<18} {:>5} bytes  zeros, to reach the 60-byte minimum so collisions can be detected", "padding", v.padding)?;
    } else {
        writeln!(
            w,
            "    {:<18} {:>5} bytes  (none needed: the frame is at least 60 bytes)",
            "padding", 0
        )?;
    }
    writeln!(
        w,
        "    {:<18} {:>5} bytes  {}  CRC-32 0x{:08x} over frame{}, least significant byte first",
        "FCS",
        4,
        hexdump::spaced(&v.fcs.to_le_bytes()),
        v.fcs,
        if v.padding > 0 { " + padding" } else { "" }
    )?;
    writeln!(
        w,
        "    {:<18} {:>5} bytes  idle line before the next frame may start",
        "inter-frame gap",
        ethernet::field::INTER_FRAME_GAP
    )?;
    writeln!(
        w,
        "    = {total} byte times on the wire: {} ns at 1 Gb/s, {} ns at 100 Mb/s",
        total * 8,
        total * 80
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{encapsulate, Params};
    use termcolor::NoColor;

    fn render(f: fn(&mut NoColor<Vec<u8>>, &Encapsulated) -> io::Result<()>, msg: &[u8]) -> String {
        let e = encapsulate(msg, &Params::default()).unwrap();
        let mut out = NoColor::new(Vec::new());
        f(&mut out, &e).unwrap();
        String::from_utf8(out.into_inner()).unwrap()
    }

    #[test]
    fn full_view_shows_four_stages_with_marks() {
        let text = render(full, b"hello");
        for h in [
            "[1/4] Application",
            "[2/4] TCP",
            "[3/4] IPv4",
            "[4/4] Ethernet II",
        ] {
            assert!(text.contains(h), "{h} missing:\n{text}");
        }
        assert!(text.contains("a 37-byte segment"));
        assert!(text.contains("a 75-byte frame (71 bytes as a capture stores it"));
        assert!(text.contains(".... 0101 = 20 bytes (IHL 5)"), "{text}");
        assert!(text.contains("0100 .... = 4"), "{text}");
        assert!(text.contains("(tt = bytes TCP added)"));
        assert!(text.contains("[correct]"));
    }

    #[test]
    fn summary_is_one_line_per_layer() {
        let text = render(summary, b"hi\x1b[2J");
        assert_eq!(text.lines().count(), 4);
        assert!(text.contains("\"hi\\x1b[2J\""), "{text}");
        assert!(
            text.contains("40000 -> 6666  seq 1  ack 1  [PSH, ACK]  win 64  len 6"),
            "{text}"
        );
    }

    #[test]
    fn wire_view_pads_short_frames() {
        let p = Params {
            tcp: crate::layers::tcp::TcpHeader {
                options: vec![],
                ..Params::default().tcp
            },
            ..Params::default()
        };
        let e = encapsulate(b"", &p).unwrap();
        let mut out = NoColor::new(Vec::new());
        wire(&mut out, &e).unwrap();
        let text = String::from_utf8(out.into_inner()).unwrap();
        assert!(text.contains("padding                6 bytes"), "{text}");
        assert!(text.contains("= 84 byte times"), "{text}");
    }
}
