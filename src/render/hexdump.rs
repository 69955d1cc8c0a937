//! A hex dump in which chosen byte ranges are marked: coloured on a terminal, and with a marker row
//! under each line when colour is off, so the layers stay visible in a pipe or a screenshot.

use std::io;
use std::ops::Range;

use termcolor::{Color, ColorSpec, WriteColor};

/// A marked range of the dump.
#[derive(Debug, Clone)]
pub struct Mark {
    /// Bytes marked, relative to the dump.
    pub range: Range<usize>,
    /// Two letters shown under each marked byte when colour is off.
    pub letters: &'static str,
    /// Colour of the marked bytes on a terminal.
    pub color: Color,
}

const WIDTH: usize = 16;

/// pretty-hex's simple layout without its 4-byte grouping: `41 42 43`.
const SPACED: pretty_hex::HexConfig = pretty_hex::HexConfig {
    title: false,
    ascii: false,
    width: 0,
    group: 0,
    chunk: 1,
    max_bytes: usize::MAX,
    display_offset: 0,
};

/// Bytes as `41 42 43`, by pretty-hex.
#[must_use]
pub fn spaced(bytes: &[u8]) -> String {
    pretty_hex::config_hex(&bytes, SPACED)
}

/// Writes `bytes` as a hex dump, 16 bytes a line, offsets from 0, with `marks` highlighted.
/// Unmarked bytes are dimmed on a terminal. `indent` is written before every line.
///
/// # Errors
/// An I/O error from `w`.
pub fn write<W: WriteColor>(
    w: &mut W,
    bytes: &[u8],
    marks: &[Mark],
    indent: &str,
) -> io::Result<()> {
    let mark_of = |i: usize| marks.iter().find(|m| m.range.contains(&i));
    for (row, line) in bytes.chunks(WIDTH).enumerate() {
        let base = row * WIDTH;
        write!(w, "{indent}{base:04x}  ")?;
        // Runs of bytes with the same mark, split at the 8-byte gap, each written by pretty-hex.
        let mut i = 0;
        while i < line.len() {
            let m = mark_of(base + i);
            let mut j = i + 1;
            while j < line.len() && j != 8 && same(mark_of(base + j), m) {
                j += 1;
            }
            if i > 0 {
                write!(w, "{}", if i == 8 { "  " } else { " " })?;
            }
            match m {
                Some(m) => w.set_color(ColorSpec::new().set_fg(Some(m.color)).set_bold(true))?,
                None => w.set_color(ColorSpec::new().set_dimmed(true))?,
            }
            write!(w, "{}", spaced(&line[i..j]))?;
            w.reset()?;
            i = j;
        }
        let printed = line.len() * 3 - 1 + usize::from(line.len() > 8);
        write!(w, "{:pad$}  ", "", pad = WIDTH * 3 - printed)?;
        for b in line {
            let c = if b.is_ascii_graphic() || *b == b' ' {
                char::from(*b)
            } else {
                '.'
            };
            write!(w, "{c}")?;
        }
        writeln!(w)?;
        if !w.supports_color()
            && line
                .iter()
                .enumerate()
                .any(|(k, _)| mark_of(base + k).is_some())
        {
            let mut row = String::with_capacity(WIDTH * 3 + 8);
            for k in 0..line.len() {
                if k == 8 {
                    row.push(' ');
                }
                row.push_str(mark_of(base + k).map_or("  ", |m| m.letters));
                row.push(' ');
            }
            writeln!(w, "{indent}      {}", row.trim_end())?;
        }
    }
    Ok(())
}

fn same(a: Option<&Mark>, b: Option<&Mark>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => std::ptr::eq(x, y),
        _ => false,
    }
}

/// Dumps `frame` with each layer of `nodes` (a dissection's) marked, under a legend of the
/// letters when colour is off.
///
/// # Errors
/// An I/O error from `w`.
pub fn write_layers<W: WriteColor>(
    w: &mut W,
    frame: &[u8],
    nodes: &[crate::dissect::Node],
    indent: &str,
) -> io::Result<()> {
    use super::{layer_color, layer_letters};
    let marks: Vec<Mark> = nodes
        .iter()
        .map(|n| Mark {
            range: n.range.clone(),
            letters: layer_letters(n.layer),
            color: layer_color(n.layer),
        })
        .collect();
    if !w.supports_color() {
        let legend: Vec<String> = nodes
            .iter()
            .map(|n| format!("{} {}", layer_letters(n.layer), n.layer))
            .collect();
        writeln!(w, "{indent}({})", legend.join(", "))?;
    }
    write(w, frame, &marks, indent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use termcolor::NoColor;

    #[test]
    fn marker_rows_without_colour() {
        let bytes: Vec<u8> = (0x41..0x41 + 20).collect();
        let marks = [
            Mark {
                range: 2..4,
                letters: "tt",
                color: Color::Yellow,
            },
            Mark {
                range: 17..18,
                letters: "ff",
                color: Color::Red,
            },
        ];
        let mut out = NoColor::new(Vec::new());
        write(&mut out, &bytes, &marks, "").unwrap();
        let text = String::from_utf8(out.into_inner()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "0000  41 42 43 44 45 46 47 48  49 4a 4b 4c 4d 4e 4f 50  ABCDEFGHIJKLMNOP"
        );
        assert_eq!(lines[1], "            tt tt");
        assert_eq!(
            lines[2],
            "0010  51 52 53 54                                       QRST"
        );
        assert_eq!(lines[3], "         ff");
        assert_eq!(lines.len(), 4);
    }
}
