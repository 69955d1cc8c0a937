//! Renderers: each writes into a writer it is given and never decides colour itself (the command
//! edge does, once: `--color`, `NO_COLOR`, whether stdout is a terminal).

pub mod datagram;
pub mod frames;
pub mod hexdump;
pub mod html;
pub mod http;
pub mod json;
pub mod ladder;
pub mod ladder3;
pub mod markup;
pub mod neighbour;
pub mod pipeline;
pub mod svg;
pub mod verdicts;

use termcolor::Color;

use crate::layers::Layer;

/// A layer's heading in a field listing, after `indent`: its name in its colour, then the bytes
/// it spans (`IPv4, bytes 14-33`).
///
/// # Errors
/// An I/O error from `w`.
pub fn node_heading<W: termcolor::WriteColor>(
    w: &mut W,
    indent: &str,
    n: &crate::dissect::Node,
) -> std::io::Result<()> {
    w.set_color(
        termcolor::ColorSpec::new()
            .set_fg(Some(layer_color(n.layer)))
            .set_bold(true),
    )?;
    write!(w, "{indent}{}", n.layer)?;
    w.reset()?;
    writeln!(
        w,
        ", bytes {}-{}",
        n.range.start,
        n.range.end.saturating_sub(1).max(n.range.start)
    )
}

/// A field's place and value as a field listing shows them: its byte range, and its value
/// (after its bits, for a field narrower than its bytes: `.1.. .... = Set`).
#[must_use]
pub fn field_row(f: &crate::layers::Field, frame: &[u8]) -> (String, String) {
    let (range, bits) = field_position(f, 0, frame);
    let value = if bits.is_empty() {
        f.display.clone()
    } else {
        format!("{bits} = {}", f.display)
    };
    (range, value)
}

/// The width of the longest field name of a listing, in characters.
#[must_use]
pub fn name_width(fields: &[crate::layers::Field]) -> usize {
    fields
        .iter()
        .map(|f| f.name.chars().count())
        .max()
        .unwrap_or(0)
}

/// The colour a layer's bytes and heading are drawn in on a terminal.
#[must_use]
pub fn layer_color(layer: Layer) -> Color {
    match layer {
        Layer::Application => Color::Magenta,
        Layer::Tcp => Color::Yellow,
        Layer::Ipv4 => Color::Green,
        Layer::Ethernet | Layer::Vlan | Layer::Link => Color::Cyan,
        Layer::Ipv6 | Layer::Arp => Color::Green,
        Layer::Udp | Layer::Icmp | Layer::Icmpv6 => Color::Yellow,
        Layer::Raw | Layer::Http => Color::Magenta,
    }
}

/// The two letters that mark a layer's bytes in a hex dump without colour.
#[must_use]
pub fn layer_letters(layer: Layer) -> &'static str {
    match layer {
        Layer::Application => "dd",
        Layer::Tcp => "tt",
        Layer::Ipv4 => "ii",
        Layer::Ethernet => "ee",
        Layer::Vlan => "vv",
        Layer::Link => "ll",
        Layer::Arp => "aa",
        Layer::Ipv6 => "ii",
        Layer::Udp => "uu",
        Layer::Icmp | Layer::Icmpv6 => "cc",
        Layer::Raw => "dd",
        Layer::Http => "hh",
    }
}

/// Formats a field's byte range (`12`, `0-1`) and, for fields narrower than their bytes, the
/// field's bits the way Wireshark draws them (`0100 ....`).
#[must_use]
pub fn field_position(
    f: &crate::layers::Field,
    relative_to: usize,
    raw: &[u8],
) -> (String, String) {
    let start = f.bytes.start.saturating_sub(relative_to);
    let end = f.bytes.end.saturating_sub(relative_to);
    let range = match end.saturating_sub(start) {
        0 => format!("{start}"),
        1 => format!("{start}"),
        _ => format!("{start}-{}", end - 1),
    };
    let bits = match (f.mask, raw.get(start..end)) {
        (Some(mask), Some(bytes)) => {
            let width = bytes.len() * 8;
            let value = bytes.iter().fold(0u32, |a, b| (a << 8) | u32::from(*b));
            let mut s = String::with_capacity(width + width / 4);
            for bit in (0..width).rev() {
                s.push(if mask >> bit & 1 == 0 {
                    '.'
                } else if value >> bit & 1 == 1 {
                    '1'
                } else {
                    '0'
                });
                if bit % 4 == 0 && bit != 0 {
                    s.push(' ');
                }
            }
            s
        }
        _ => String::new(),
    };
    (range, bits)
}
