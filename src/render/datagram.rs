//! A UDP datagram's frame through the pipeline, drawn from the decoder's layer tree (so from the
//! same field tables): one line per layer, or each layer's field table and the marked hex dump.

use std::io;

use termcolor::{ColorSpec, WriteColor};

use super::hexdump;
use super::layer_color;
use crate::dissect::dissect;
use crate::layers::payload::escape_bytes;
use crate::layers::Layer;

/// One line per layer, application first: what each adds.
///
/// # Errors
/// An I/O error from `w`.
pub fn summary<W: WriteColor>(w: &mut W, frame: &[u8]) -> io::Result<()> {
    let d = dissect(frame);
    for n in d.nodes.iter().rev() {
        let value = |key: &str| {
            n.fields
                .iter()
                .find(|f| f.key == key)
                .map_or(String::new(), |f| f.display.clone())
        };
        let text = match n.layer {
            Layer::Application => format!(
                "\"{}\"",
                escape_bytes(frame.get(n.range.clone()).unwrap_or_default())
            ),
            Layer::Udp => format!(
                "{} -> {}  len {}  cksum {}",
                value("udp.srcport"),
                value("udp.dstport"),
                value("udp.length"),
                value("udp.checksum")
            ),
            Layer::Ipv4 => format!(
                "{} -> {}  id {}  ttl {}  DF {}  proto UDP  len {}",
                value("ip.src"),
                value("ip.dst"),
                value("ip.id"),
                value("ip.ttl"),
                value("ip.flags.df"),
                value("ip.len")
            ),
            Layer::Ipv6 => format!(
                "{} -> {}  hop limit {}  next header UDP  payload {}",
                value("ipv6.src"),
                value("ipv6.dst"),
                value("ipv6.hlim"),
                value("ipv6.plen")
            ),
            Layer::Ethernet => format!(
                "{} -> {}  type {}  = {}-byte frame",
                value("eth.src"),
                value("eth.dst"),
                value("eth.type"),
                frame.len()
            ),
            _ => String::new(),
        };
        w.set_color(
            ColorSpec::new()
                .set_fg(Some(layer_color(n.layer)))
                .set_bold(true),
        )?;
        write!(w, "  {:<11}", n.layer.name())?;
        w.reset()?;
        let plus = if n.layer == Layer::Application {
            "  "
        } else {
            "+ "
        };
        writeln!(w, " {plus}{:>2} bytes   {text}", n.range.len())?;
    }
    Ok(())
}

/// Each layer's field table (byte offsets in the frame, value, meaning), then the frame's hex
/// dump with each layer's bytes marked.
///
/// # Errors
/// An I/O error from `w`.
pub fn full<W: WriteColor>(w: &mut W, frame: &[u8]) -> io::Result<()> {
    let d = dissect(frame);
    for n in d.nodes.iter().rev() {
        super::node_heading(w, "  ", n)?;
        let name_w = super::name_width(&n.fields);
        for f in &n.fields {
            let (range, value) = super::field_row(f, frame);
            writeln!(
                w,
                "    {range:<9} {:<name_w$}  {value}   ({})",
                f.name, f.meaning
            )?;
        }
    }
    hexdump::write_layers(w, frame, &d.nodes, "  ")
}

/// One line for a checked datagram: frame, flow, what it is, the verdicts counted, and each
/// MISMATCH with the model's value.
///
/// # Errors
/// An I/O error from `w`.
pub fn check_line<W: WriteColor>(w: &mut W, c: &crate::udp_flows::DatagramCheck) -> io::Result<()> {
    let n = c.counts();
    writeln!(
        w,
        "frame {}: {} ({}): {} fields: {} predicted, {} learned, {} kernel-chosen, {} loopback, {} MISMATCH",
        c.number,
        c.flow,
        c.what,
        n.total(),
        n.predicted,
        n.learned,
        n.kernel,
        n.loopback,
        n.mismatch
    )?;
    for f in &c.fields {
        if let crate::model::Verdict::Mismatch { expected } = &f.verdict {
            writeln!(
                w,
                "    MISMATCH {} ({}): {}, the model expected {expected}",
                f.field.name, f.field.key, f.field.display
            )?;
        }
    }
    Ok(())
}

/// Every field of a checked datagram: layer, name, the kernel's value, the verdict.
///
/// # Errors
/// An I/O error from `w`.
pub fn check_table<W: WriteColor>(
    w: &mut W,
    c: &crate::udp_flows::DatagramCheck,
) -> io::Result<()> {
    check_line(w, c)?;
    for f in &c.fields {
        writeln!(
            w,
            "    {:<11} {:<22} {:<40} {}",
            f.layer.name(),
            f.field.name,
            f.field.display,
            f.verdict
        )?;
    }
    Ok(())
}

/// A checked datagram as one JSON object: each field with its Wireshark name, the kernel's and
/// the model's value and the verdict.
#[must_use]
pub fn check_json(c: &crate::udp_flows::DatagramCheck) -> serde_json::Value {
    let fields: Vec<serde_json::Value> = c
        .fields
        .iter()
        .map(|f| {
            serde_json::json!({
                "field": f.field.key,
                "kernel": f.field.display,
                "model": f.model,
                "verdict": f.verdict.label(),
                "reason": f.verdict.to_string(),
            })
        })
        .collect();
    serde_json::json!({"frame.number": c.number, "flow": c.flow, "fields": fields})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagram::{encapsulate, DatagramParams};

    #[test]
    fn summary_shows_the_8_byte_header_and_partial_checksum() {
        let f = encapsulate(
            b"hello\n",
            "127.0.0.1:40000".parse().unwrap(),
            "127.0.0.1:6666".parse().unwrap(),
            DatagramParams::default(),
        )
        .unwrap();
        let mut out = termcolor::NoColor::new(Vec::new());
        summary(&mut out, &f).unwrap();
        let text = String::from_utf8(out.into_inner()).unwrap();
        assert!(
            text.contains("UDP         +  8 bytes   40000 -> 6666  len 14  cksum 0x"),
            "{text}"
        );
        assert!(text.contains("[partial"), "{text}");
        assert!(text.contains("= 48-byte frame"), "{text}");
        let mut out = termcolor::NoColor::new(Vec::new());
        full(&mut out, &f).unwrap();
        let text = String::from_utf8(out.into_inner()).unwrap();
        assert!(text.contains("UDP, bytes 34-41"), "{text}");
    }
}
