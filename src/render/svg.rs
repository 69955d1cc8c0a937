//! SVG figures, as the blog draws them: the encapsulation boxes of a frame, drawn to scale in bytes
//! (each box's width is its byte count times one scale), and a connection's ladder as a sequence
//! diagram. Both are written into a writer, standalone (an XML file for slides) or inline in the
//! HTML page, with presentation attributes rather than a style sheet so that any SVG viewer draws
//! them the same. Every text goes through [`Esc`].

use std::io::{self, Write};

use super::markup::Esc;
use crate::dissect::{dissect, slice, Net, Transport};
use crate::layers::ethernet::{self, WireView};
use crate::layers::payload::escape_bytes;
use crate::layers::tcp::{field::FLG_ACK, flag_names};
use crate::layers::Layer;
use crate::model::{FrameCheck, Verdict};

/// What a box of the encapsulation figure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Preamble and start frame delimiter (a real wire only).
    Preamble,
    /// A layer's header.
    Header,
    /// The application's bytes.
    Data,
    /// Zeros that bring a frame to 60 bytes.
    Padding,
    /// The frame check sequence.
    Fcs,
}

/// One box: a layer's part of the frame and its size in bytes.
#[derive(Debug, Clone)]
pub struct Part {
    /// The layer the bytes belong to.
    pub layer: Layer,
    /// Header, data or trailer.
    pub role: Role,
    /// Its size: the box's width is this times the figure's scale.
    pub bytes: usize,
    /// Its key fields, as a line under the row.
    pub caption: String,
    /// Drawn dashed: bytes a real wire carries that this frame (captured on lo) does not.
    pub wire_only: bool,
}

impl Part {
    fn name(&self) -> String {
        match self.role {
            Role::Preamble => "preamble + SFD".into(),
            Role::Header => format!("{} header", self.layer),
            Role::Data => "data".into(),
            Role::Padding => "padding".into(),
            Role::Fcs => "FCS".into(),
        }
    }

    fn fill(&self) -> &'static str {
        match (self.role, self.layer) {
            (Role::Preamble, _) => "#b8b8b8",
            (Role::Padding, _) => "#e4e4e4",
            (Role::Fcs, _) => "#f0a0a0",
            (Role::Data, _) => "#e2b4ea",
            (_, Layer::Tcp | Layer::Udp | Layer::Icmp | Layer::Icmpv6) => "#f5dc7a",
            (_, Layer::Ipv4 | Layer::Ipv6 | Layer::Arp) => "#9fdc9f",
            (_, Layer::Ethernet | Layer::Vlan) => "#92cfe0",
            _ => "#e2b4ea",
        }
    }
}

/// The encapsulation figure of one frame: its headers outermost first, its data, and what the
/// Ethernet layer adds around them.
#[derive(Debug, Clone)]
pub struct Figure {
    /// A title over the figure.
    pub title: String,
    /// Preamble and SFD, with `--wire`.
    pub preamble: Option<Part>,
    /// The headers, outermost (Ethernet) first.
    pub headers: Vec<Part>,
    /// The application's bytes.
    pub data: Part,
    /// Padding (if any) and FCS.
    pub trailer: Vec<Part>,
}

/// The key fields of a layer, read through the layers' accessors.
fn caption(layer: Layer, frame: &[u8]) -> String {
    let s = slice(frame);
    match (layer, &s.net, &s.transport) {
        (Layer::Ethernet, ..) => s.ethernet.map_or_else(String::new, |e| {
            format!(
                "{} → {}, type 0x{:04x}",
                ethernet::mac_to_string(&e.source),
                ethernet::mac_to_string(&e.destination),
                u16::from(e.ethertype)
            )
        }),
        (Layer::Ipv4, Net::Ipv4(p), _) => format!(
            "{} → {}, id {}, total length {}",
            p.source(),
            p.destination(),
            p.identification(),
            p.total_len()
        ),
        (Layer::Ipv6, Net::Ipv6(p, _), _) => format!("{} → {}", p.source, p.destination),
        (Layer::Tcp, _, Transport::Tcp(t)) => {
            let mut c = format!("port {} → {}, seq {}", t.src_port(), t.dst_port(), t.seq());
            if t.flags() & FLG_ACK != 0 {
                c.push_str(&format!(", ack {}", t.ack()));
            }
            c.push_str(&format!(
                ", [{}], win {}",
                flag_names(t.flags()),
                t.window()
            ));
            c
        }
        _ => String::new(),
    }
}

/// What Ethernet adds after the frame: padding to 60 bytes (if any) and the FCS; unless
/// `carried` (the pipeline's frame), drawn as what only a wire has, except padding lo captured.
fn ethernet_trailer(frame: &[u8], captured_padding: usize, carried: bool) -> Vec<Part> {
    let part = |role, bytes, caption: String, wire_only| Part {
        layer: Layer::Ethernet,
        role,
        bytes,
        caption,
        wire_only,
    };
    let v = WireView::of(frame);
    let mut trailer = Vec::new();
    let padding = captured_padding.max(v.padding);
    if padding > 0 {
        let wire_only = !carried && captured_padding == 0;
        trailer.push(part(
            Role::Padding,
            padding,
            format!(
                "{padding} zero bytes: a frame is at least 60 bytes before its FCS{}",
                if wire_only { " (not on lo)" } else { "" }
            ),
            wire_only,
        ));
    }
    let fcs_caption = if carried {
        format!("CRC-32 0x{:08x}", v.fcs)
    } else {
        format!("CRC-32 0x{:08x}: a wire would carry it, lo does not", v.fcs)
    };
    trailer.push(part(
        Role::Fcs,
        ethernet::field::FCS_LEN,
        fcs_caption,
        !carried,
    ));
    trailer
}

impl Figure {
    /// The figure of `frame` (without FCS, as captures store it). `carried`: the frame is the
    /// pipeline's, whose FCS (and padding) are part of it; otherwise it was captured on lo and
    /// they are drawn dashed, as what a wire would add. `wire`: also the preamble and SFD.
    #[must_use]
    pub fn of_frame(title: &str, frame: &[u8], carried: bool, wire: bool) -> Figure {
        let part = |layer, role, bytes, caption: String, wire_only| Part {
            layer,
            role,
            bytes,
            caption,
            wire_only,
        };
        let tree = dissect(frame);
        let sliced = slice(frame);
        // What follows the IP packet in a captured frame is its padding.
        let padding_at = if sliced.error.is_none() {
            sliced.end
        } else {
            frame.len()
        };
        let mut headers = Vec::new();
        let mut data = part(Layer::Application, Role::Data, 0, "no data".into(), false);
        for n in &tree.nodes {
            let len = n.range.len();
            match n.layer {
                _ if n.range.start >= padding_at => {}
                Layer::Application | Layer::Raw => {
                    let p = frame.get(n.range.clone()).unwrap_or_default();
                    let shown = &p[..p.len().min(40)];
                    let more = if p.len() > shown.len() { "…" } else { "" };
                    let text = format!("\"{}\"{more}", escape_bytes(shown));
                    data = part(n.layer, Role::Data, len, text, false);
                }
                l => headers.push(part(l, Role::Header, len, caption(l, frame), false)),
            }
        }
        let trailer = ethernet_trailer(frame, frame.len().saturating_sub(padding_at), carried);
        let preamble = wire.then(|| {
            part(
                Layer::Ethernet,
                Role::Preamble,
                ethernet::field::PREAMBLE_SFD.len(),
                "55 55 55 55 55 55 55 d5: the receiver's clock locks on, d5 starts the frame"
                    .into(),
                !carried,
            )
        });
        Figure {
            title: title.to_string(),
            preamble,
            headers,
            data,
            trailer,
        }
    }

    /// Every box of the bottom row, in wire order.
    fn bottom(&self) -> impl Iterator<Item = &Part> {
        self.preamble
            .iter()
            .chain(&self.headers)
            .chain(std::iter::once(&self.data))
            .chain(&self.trailer)
    }

    /// Caption lines the bottom row has beyond its header's: one per preamble and trailer box.
    fn extra_lines(&self) -> f64 {
        (usize::from(self.preamble.is_some()) + self.trailer.len()) as f64
    }

    /// Bytes of the widest row.
    #[must_use]
    pub fn total(&self) -> usize {
        self.bottom().map(|p| p.bytes).sum()
    }
}

const WIDTH: f64 = 1000.0;
const LEFT: f64 = 20.0;
const BYTES_WIDTH: f64 = WIDTH - 2.0 * LEFT;
const ROW: f64 = 74.0;
const BOX: f64 = 30.0;
/// The height of one caption line under a row.
const CAPTION: f64 = 16.0;
/// A generous average width of one character at the figures' 12 px font.
const CHAR: f64 = 7.0;

fn fmt_num(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The opening `<svg>` element; with `standalone`, the XML declaration before it.
fn open_svg<W: Write>(w: &mut W, height: f64, label: &str, standalone: bool) -> io::Result<()> {
    if standalone {
        writeln!(w, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    }
    writeln!(
        w,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{h}" viewBox="0 0 {WIDTH} {h}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12" role="img" aria-label="{}">"#,
        Esc(label),
        h = fmt_num(height)
    )?;
    writeln!(w, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##)
}

/// Writes the encapsulation figures of `figures` (one per segment), one under the other, as
/// one `<svg>`: each row adds a layer's header in front of the row above (and, at the bottom,
/// Ethernet's trailer), every box as wide as its bytes at one scale for the whole figure, the
/// data aligned in every row.
///
/// # Errors
/// An I/O error from `w`.
pub fn encapsulation<W: Write>(w: &mut W, figures: &[Figure], standalone: bool) -> io::Result<()> {
    let heights: Vec<f64> = figures
        .iter()
        .map(|f| 56.0 + ROW * (f.headers.len() + 1) as f64 + CAPTION * f.extra_lines())
        .collect();
    let label = figures
        .first()
        .map_or_else(String::new, |f| format!("encapsulation: {}", f.title));
    open_svg(w, heights.iter().sum::<f64>() + 10.0, &label, standalone)?;
    let mut y = 10.0;
    for (f, h) in figures.iter().zip(&heights) {
        figure(w, f, y)?;
        y += h;
    }
    writeln!(w, "</svg>")
}

/// One figure, its top at `y`.
fn figure<W: Write>(w: &mut W, f: &Figure, y: f64) -> io::Result<()> {
    let scale = BYTES_WIDTH / f.total().max(1) as f64;
    let scale = scale.min(14.0);
    writeln!(
        w,
        r#"<g class="encapsulation" data-scale="{}"><text x="{LEFT}" y="{}" font-size="14" font-weight="bold">{}</text>"#,
        fmt_num(scale),
        fmt_num(y + 14.0),
        Esc(&f.title)
    )?;
    let pre = f.preamble.as_ref().map_or(0, |p| p.bytes);
    let all_headers: usize = f.headers.iter().map(|p| p.bytes).sum();
    let data_x = LEFT + scale * (pre + all_headers) as f64;
    let rows = f.headers.len() + 1;
    for k in 0..rows {
        let first = f.headers.len() - k;
        let mut parts: Vec<&Part> = Vec::new();
        if k + 1 == rows {
            parts.extend(&f.preamble);
        }
        parts.extend(&f.headers[first..]);
        parts.push(&f.data);
        if k + 1 == rows {
            parts.extend(&f.trailer);
        }
        let before: usize = parts
            .iter()
            .take_while(|p| p.role != Role::Data)
            .map(|p| p.bytes)
            .sum();
        let row_y = y + 26.0 + ROW * k as f64;
        let title = match f.headers.get(first) {
            Some(h) if k + 1 == rows && pre > 0 => {
                let frame: usize = parts.iter().map(|p| p.bytes).sum::<usize>() - pre;
                format!(
                    "{} frame: {frame} bytes, {} on the wire with preamble",
                    h.layer,
                    frame + pre
                )
            }
            Some(h) if k + 1 == rows => format!("{} frame", h.layer),
            Some(h) if h.layer == Layer::Tcp => "TCP segment".to_string(),
            Some(h) => format!("{} packet", h.layer),
            None => "Application message".to_string(),
        };
        let x0 = data_x - scale * before as f64;
        let total: usize = parts.iter().map(|p| p.bytes).sum();
        let title = if pre > 0 && k + 1 == rows {
            title
        } else {
            format!("{title}: {total} bytes")
        };
        row(w, &parts, x0, row_y, scale, &title)?;
        let new = if k == 0 { &f.data } else { &f.headers[first] };
        let mut lines = vec![format!("{}: {}", new.name(), new.caption)];
        if k + 1 == rows {
            for t in f.preamble.iter().chain(&f.trailer) {
                lines.push(format!("{} {} bytes: {}", t.name(), t.bytes, t.caption));
            }
        }
        for (j, line) in lines.iter().enumerate() {
            writeln!(
                w,
                r##"<text x="{LEFT}" y="{}" fill="#333333">{}</text>"##,
                fmt_num(row_y + 14.0 + BOX + 14.0 + CAPTION * j as f64),
                Esc(line)
            )?;
        }
    }
    legend(
        w,
        f,
        y + 26.0 + ROW * rows as f64 + CAPTION * f.extra_lines(),
    )?;
    writeln!(w, "</g>")
}

/// A swatch and a name for every box of the bottom row, so the figure reads without colour too.
fn legend<W: Write>(w: &mut W, f: &Figure, y: f64) -> io::Result<()> {
    let mut x = LEFT;
    for p in f.bottom() {
        let label = format!("{} {} B", p.name(), p.bytes);
        writeln!(
            w,
            r##"<rect x="{}" y="{}" width="14" height="14" fill="{}" stroke="#333333"{}/><text x="{}" y="{}">{}</text>"##,
            fmt_num(x),
            fmt_num(y),
            p.fill(),
            if p.wire_only {
                r#" stroke-dasharray="3 2""#
            } else {
                ""
            },
            fmt_num(x + 18.0),
            fmt_num(y + 12.0),
            Esc(&label)
        )?;
        x += 30.0 + label.chars().count() as f64 * CHAR;
    }
    Ok(())
}

/// One row of boxes starting at `x`, its title above.
fn row<W: Write>(
    w: &mut W,
    parts: &[&Part],
    mut x: f64,
    y: f64,
    scale: f64,
    title: &str,
) -> io::Result<()> {
    // The title starts over the row, or ends at the right margin where it would run past it.
    let fits = x + title.chars().count() as f64 * CHAR <= WIDTH - LEFT;
    writeln!(
        w,
        r##"<text x="{}" y="{}" fill="#000000" font-weight="bold"{}>{}</text>"##,
        fmt_num(if fits { x.max(LEFT) } else { WIDTH - LEFT }),
        fmt_num(y + 10.0),
        if fits { "" } else { r#" text-anchor="end""# },
        Esc(title)
    )?;
    let top = y + 14.0;
    for p in parts {
        let width = scale * p.bytes as f64;
        writeln!(
            w,
            r##"<rect class="part" data-layer="{}" data-role="{:?}" data-bytes="{}" x="{}" y="{}" width="{}" height="{BOX}" fill="{}" stroke="#333333" stroke-width="1"{}/>"##,
            Esc(p.layer.name()),
            p.role,
            p.bytes,
            fmt_num(x),
            fmt_num(top),
            fmt_num(width),
            p.fill(),
            if p.wire_only {
                r#" stroke-dasharray="4 3" fill-opacity="0.45""#
            } else {
                ""
            }
        )?;
        let label = format!("{} {} B", p.name(), p.bytes);
        let cx = x + width / 2.0;
        if width >= label.chars().count() as f64 * CHAR + 6.0 {
            writeln!(
                w,
                r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
                fmt_num(cx),
                fmt_num(top + 19.0),
                Esc(&label)
            )?;
        } else if width >= 3.0 * CHAR {
            writeln!(
                w,
                r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
                fmt_num(cx),
                fmt_num(top + 19.0),
                p.bytes
            )?;
        }
        x += width;
    }
    Ok(())
}

/// One connection's ladder: its endpoints and its frames, as the model checked them.
#[derive(Debug, Clone, Copy)]
pub struct Ladder<'a> {
    /// The client's address (the side that sent the SYN).
    pub client: &'a str,
    /// The server's address.
    pub server: &'a str,
    /// Every frame, in capture order.
    pub frames: &'a [FrameCheck],
}

const LADDER_ROW: f64 = 30.0;
const CLIENT_X: f64 = 250.0;
const SERVER_X: f64 = 750.0;

/// Writes the ladders of `ladders`, one under the other, as one `<svg>`: a line per endpoint,
/// each frame an arrow with its flags, relative seq and ack and length, each side's TCP state
/// after the frame beside its line, and MISMATCH frames red, dashed and labelled. With `links`
/// (inline in the page) each arrow links to the frame's details, `#frame-N`.
///
/// # Errors
/// An I/O error from `w`.
pub fn ladders<W: Write>(
    w: &mut W,
    ladders: &[Ladder<'_>],
    standalone: bool,
    links: bool,
) -> io::Result<()> {
    let height = |l: &Ladder<'_>| 100.0 + LADDER_ROW * l.frames.len() as f64;
    let total: f64 = ladders.iter().map(height).sum();
    open_svg(w, total + 10.0, "the connection as a ladder", standalone)?;
    let mut y = 10.0;
    for l in ladders {
        ladder(w, l, y, links)?;
        y += height(l);
    }
    writeln!(w, "</svg>")
}

fn ladder<W: Write>(w: &mut W, l: &Ladder<'_>, y: f64, links: bool) -> io::Result<()> {
    let bottom = y + 80.0 + LADDER_ROW * l.frames.len() as f64;
    writeln!(w, r#"<g class="ladder">"#)?;
    let [client_state, server_state] = crate::model::state::initial(l.frames);
    for (x, who, addr, state) in [
        (CLIENT_X, "client", l.client, client_state),
        (SERVER_X, "server", l.server, server_state),
    ] {
        writeln!(
            w,
            r##"<text x="{x}" y="{}" text-anchor="middle" font-size="14" font-weight="bold">{who}</text><text x="{x}" y="{}" text-anchor="middle">{}</text><text x="{x}" y="{}" text-anchor="middle" fill="#555555">{state}</text><line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="#444444" stroke-width="2"/>"##,
            fmt_num(y + 14.0),
            fmt_num(y + 30.0),
            Esc(addr),
            fmt_num(y + 46.0),
            fmt_num(y + 54.0),
            fmt_num(bottom)
        )?;
    }
    for (i, f) in l.frames.iter().enumerate() {
        arrow(w, f, y + 70.0 + LADDER_ROW * i as f64, links)?;
    }
    writeln!(w, "</g>")
}

/// One frame's arrow, its label and both states, at `y`.
fn arrow<W: Write>(w: &mut W, f: &FrameCheck, y: f64, links: bool) -> io::Result<()> {
    let mismatches = f
        .fields()
        .iter()
        .filter(|x| matches!(x.verdict, Verdict::Mismatch { .. }))
        .count();
    let (x1, x2) = if f.from == crate::model::Side::Client {
        (CLIENT_X, SERVER_X)
    } else {
        (SERVER_X, CLIENT_X)
    };
    let mut label = format!("{} seq {}", flag_names(f.flags), f.rel_seq);
    if f.flags & FLG_ACK != 0 {
        label.push_str(&format!(" ack {}", f.rel_ack));
    }
    label.push_str(&format!(" len {}", f.len));
    let (color, dash) = if mismatches > 0 {
        label = format!("✗ MISMATCH ({mismatches}) {label}");
        ("#c00000", r#" stroke-dasharray="7 4""#)
    } else if f.from == crate::model::Side::Client {
        ("#000000", "")
    } else {
        ("#1f3f9f", "")
    };
    if links {
        write!(
            w,
            r##"<a href="#frame-{n}" class="ladder-frame" data-frame="{n}">"##,
            n = f.number
        )?;
    } else {
        write!(w, r#"<g class="ladder-frame" data-frame="{}">"#, f.number)?;
    }
    if mismatches > 0 {
        write!(
            w,
            r##"<rect x="{}" y="{}" width="{}" height="{LADDER_ROW}" fill="#ffd6d6"/>"##,
            LEFT,
            fmt_num(y - 18.0),
            WIDTH - 2.0 * LEFT
        )?;
    }
    let end = y + 10.0;
    let head = if x2 > x1 { x2 - 9.0 } else { x2 + 9.0 };
    writeln!(
        w,
        r##"<rect x="{LEFT}" y="{top}" width="{bw}" height="{LADDER_ROW}" fill="#ffffff" fill-opacity="0"/><text x="{LEFT}" y="{ty}">{n}</text><text x="{sx}" y="{ty}" text-anchor="end">{s0}</text><text x="{rx}" y="{ty}">{s1}</text><line x1="{x1}" y1="{y0}" x2="{hx}" y2="{hy}" stroke="{color}" stroke-width="2"{dash}/><polygon points="{x2},{end} {hx},{hy1} {hx},{hy2}" fill="{color}"/><text x="{mx}" y="{ly}" text-anchor="middle" fill="{color}">{label}</text>"##,
        top = fmt_num(y - 18.0),
        bw = WIDTH - 2.0 * LEFT,
        ty = fmt_num(y + 4.0),
        n = f.number,
        sx = CLIENT_X - 10.0,
        s0 = f.states[0],
        rx = SERVER_X + 10.0,
        s1 = f.states[1],
        y0 = fmt_num(y - 2.0),
        hx = fmt_num(head),
        hy = fmt_num(end - 0.5),
        end = fmt_num(end),
        hy1 = fmt_num(end - 5.0),
        hy2 = fmt_num(end + 4.0),
        mx = (CLIENT_X + SERVER_X) / 2.0,
        ly = fmt_num(y - 5.0),
        label = Esc(&label),
    )?;
    writeln!(w, "{}", if links { "</a>" } else { "</g>" })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::Connection;
    use crate::pipeline::{encapsulate, linux_syn_options, ChecksumMode, Params};
    use std::net::{Ipv4Addr, SocketAddrV4};

    /// A SYN the model has checked, as the ladder and the page get it, with the frame.
    pub(crate) fn checked_syn() -> (Vec<u8>, FrameCheck) {
        let c = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 40000);
        let s = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 6666);
        let mut p = Params::between(c, s);
        p.checksum = ChecksumMode::Offloaded;
        p.tcp.flags = crate::layers::tcp::field::FLG_SYN;
        p.tcp.ack = 0;
        p.tcp.options = linux_syn_options(65495, 7, 0, 10);
        let frame = encapsulate(b"", &p).unwrap();
        let check = Connection::new(c, s).observe(1, frame.frame()).unwrap();
        (frame.frame().to_vec(), check)
    }

    fn render(f: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        f(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        roxmltree::Document::parse(&text).expect("well-formed XML");
        text
    }

    #[test]
    fn a_mismatch_frame_is_red_dashed_and_labelled() {
        let (_, ok) = checked_syn();
        let mut bad = ok.clone();
        bad.number = 2;
        bad.fields_mut()[0].verdict = Verdict::Mismatch {
            expected: "<b>&".into(),
        };
        let l = Ladder {
            client: "127.0.0.1:40000",
            server: "127.0.0.1:6666",
            frames: &[ok, bad],
        };
        let text = render(|w| ladders(w, &[l], true, false));
        assert_eq!(
            text.matches("✗ MISMATCH (1) SYN seq 0 len 0").count(),
            1,
            "{text}"
        );
        assert_eq!(text.matches("stroke-dasharray").count(), 1, "{text}");
        assert!(text.contains(">SYN_SENT<") && text.contains(">SYN_RECEIVED<"));
        let linked = render(|w| ladders(w, &[l], false, true));
        assert!(linked.contains(r##"<a href="#frame-2" class="ladder-frame" data-frame="2">"##));
    }

    #[test]
    fn payload_markup_stays_text() {
        let e = encapsulate(b"<script>x</script>&\x01", &Params::default()).unwrap();
        let f = Figure::of_frame("a <title> & more", e.frame(), true, true);
        let text = render(|w| encapsulation(w, &[f], true));
        assert!(!text.contains("<script>"));
        assert!(
            text.contains("&quot;&lt;script&gt;x&lt;/script&gt;&amp;\\x01&quot;"),
            "{text}"
        );
        assert!(text.contains("a &lt;title&gt; &amp; more"));
    }
}
