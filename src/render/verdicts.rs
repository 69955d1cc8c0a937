//! The model-versus-kernel comparison: one line per frame, the field table side by side, and the
//! per-connection summary.

use std::io;

use termcolor::{Color, ColorSpec, WriteColor};

use crate::layers::tcp::flag_names;
use crate::model::{Counts, FieldCheck, FrameCheck, Side, Verdict};
use crate::render::frames::Line;

fn direction(f: &FrameCheck) -> &'static str {
    if f.from == crate::model::Side::Client {
        "client -> server"
    } else {
        "server -> client"
    }
}

fn verdict_color(v: &Verdict) -> Option<Color> {
    match v {
        Verdict::Mismatch { .. } => Some(Color::Red),
        Verdict::KernelChosen { .. } => Some(Color::Yellow),
        Verdict::PeerChosen { .. } => Some(Color::Magenta),
        Verdict::Loopback { .. } => Some(Color::Cyan),
        Verdict::Predicted | Verdict::Learned { .. } => Some(Color::Green),
    }
}

/// Bold green when nothing mismatched, bold red otherwise.
fn outcome_color(c: Counts) -> ColorSpec {
    let mut spec = ColorSpec::new();
    spec.set_fg(Some(if c.mismatch == 0 {
        Color::Green
    } else {
        Color::Red
    }))
    .set_bold(true);
    spec
}

/// One line for the frame, then one line per MISMATCH.
///
/// # Errors
/// An I/O error from `w`.
pub fn summary<W: WriteColor>(w: &mut W, f: &FrameCheck) -> io::Result<()> {
    let c = f.counts();
    // (Built in memory and written in three calls: this line is verify's hot path, one per
    // frame, and `write!`'s pieces cost more than the model's check of the frame.)
    let mut line = Line(Vec::with_capacity(160));
    line.s("frame ").n(f.number).s(": ").s(direction(f)).s(" [");
    let mut names = crate::layers::tcp::flag_list(f.flags);
    match names.next() {
        None => line.s("none"),
        Some(first) => line.s(first),
    };
    for name in names {
        line.s(", ").s(name);
    }
    line.s("] len ").n(f.len);
    if !f.events.is_empty() {
        line.s(&events(f));
    }
    line.s(": ");
    tally_into(w, line, c)?;
    // (A frame with no MISMATCH has its fields built only when something shows them.)
    mismatch_lines(w, f.number, if c.mismatch > 0 { f.fields() } else { &[] })?;
    revisions(w, f)
}

/// `N/M fields as the model said (... predicted, ...)` and the end of the line.
///
/// # Errors
/// An I/O error from `w`.
pub fn tally<W: WriteColor>(w: &mut W, c: Counts) -> io::Result<()> {
    tally_into(w, Line(Vec::with_capacity(100)), c)
}

/// `line`, then the tally of `c` (its first part in the outcome's colour).
fn tally_into<W: WriteColor>(w: &mut W, mut line: Line, c: Counts) -> io::Result<()> {
    w.write_all(&line.0)?;
    line.0.clear();
    w.set_color(&outcome_color(c))?;
    line.n(c.total() - c.mismatch)
        .s("/")
        .n(c.total())
        .s(" fields as the model said");
    w.write_all(&line.0)?;
    w.reset()?;
    line.0.clear();
    line.s(" (")
        .n(c.predicted)
        .s(" predicted, ")
        .n(c.learned)
        .s(" learned, ")
        .n(c.kernel)
        .s(" kernel-chosen, ")
        .n(c.loopback)
        .s(" loopback");
    if c.peer > 0 {
        line.s(", ").n(c.peer).s(" peer-chosen");
    }
    if c.mismatch > 0 {
        line.s(", ").n(c.mismatch).s(" MISMATCH");
    }
    line.s(")\n");
    w.write_all(&line.0)
}

/// One line per MISMATCH among `fields` of frame `number`: layer, field, bytes, both values.
///
/// # Errors
/// An I/O error from `w`.
pub fn mismatch_lines<W: WriteColor>(
    w: &mut W,
    number: u64,
    fields: &[FieldCheck],
) -> io::Result<()> {
    for x in fields
        .iter()
        .filter(|x| matches!(x.verdict, Verdict::Mismatch { .. }))
    {
        w.set_color(ColorSpec::new().set_fg(Some(Color::Red)).set_bold(true))?;
        write!(w, "    MISMATCH")?;
        w.reset()?;
        let at = if x.field.bytes.is_empty() {
            "not in the frame".to_string()
        } else {
            format!(
                "bytes {}-{}",
                x.field.bytes.start,
                x.field.bytes.end.saturating_sub(1)
            )
        };
        writeln!(
            w,
            " frame {} {} {} ({at}): kernel {}, model {}",
            number,
            x.layer,
            x.field.name,
            shorten(&x.field.display, 80),
            shorten(&x.model, 80)
        )?;
    }
    Ok(())
}

/// One line per field of an earlier frame that this frame proves wrong.
///
/// # Errors
/// An I/O error from `w`.
pub fn revisions<W: WriteColor>(w: &mut W, f: &FrameCheck) -> io::Result<()> {
    for r in &f.revisions {
        w.set_color(ColorSpec::new().set_fg(Some(Color::Red)).set_bold(true))?;
        write!(w, "    MISMATCH")?;
        w.reset()?;
        writeln!(
            w,
            " frame {} {}: the model now expects {}: shown by frame {}: {}",
            r.frame, r.key, r.expected, f.number, r.why
        )?;
    }
    Ok(())
}

/// The revisions this frame makes, one JSON object each, as a MISMATCH of the earlier frame
/// with this one as the evidence.
#[must_use]
pub fn json_revisions(f: &FrameCheck) -> Vec<serde_json::Value> {
    f.revisions
        .iter()
        .map(|r| {
            serde_json::json!({
                "frame.number": r.frame,
                "field": r.key,
                "verdict": "MISMATCH",
                "model": r.expected,
                "evidence": f.number,
                "reason": r.why,
            })
        })
        .collect()
}

/// The frame's analysis events, as ` (keep alive, duplicate ACK #2)`, or nothing.
#[must_use]
pub fn events(f: &FrameCheck) -> String {
    if f.events.is_empty() {
        return String::new();
    }
    let names: Vec<String> = f.events.iter().map(ToString::to_string).collect();
    format!(" ({})", names.join(", "))
}

/// One line per side whose transcript holds bytes no frame carried (what the capture lacks);
/// returns how many. For a transcript of a capture: live, bytes may still wait in a queue.
///
/// # Errors
/// An I/O error from `w`.
pub fn unsent<W: WriteColor>(w: &mut W, conn: &crate::model::Connection) -> io::Result<usize> {
    let unsent = conn.unsent();
    for (side, bytes) in &unsent {
        w.set_color(ColorSpec::new().set_fg(Some(Color::Red)).set_bold(true))?;
        write!(w, "    MISMATCH")?;
        w.reset()?;
        writeln!(
            w,
            " the transcript says the {} wrote {bytes} byte(s) that no frame of the capture carries",
            side.name()
        )?;
    }
    Ok(unsent.len())
}

/// `s` cut to `max` characters, with `…` where it was cut: a 100 kB payload's display must not
/// flood the terminal.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() > max {
        format!("{}…", s.chars().take(max - 1).collect::<String>())
    } else {
        s.to_string()
    }
}

/// The kernel's frame next to the model's, field by field, with each verdict and its reason.
///
/// # Errors
/// An I/O error from `w`.
pub fn table<W: WriteColor>(w: &mut W, f: &FrameCheck) -> io::Result<()> {
    summary(w, f)?;
    let name_w = field_rows(w, f.fields())?;
    let val_w = f
        .fields()
        .iter()
        .map(|x| x.field.display.chars().count().min(28))
        .max()
        .unwrap_or(5);
    writeln!(w, "    {:<11} {:<name_w$}  {:<val_w$}  {:<val_w$}  {}; on a real wire this frame would end with CRC-32 0x{:08x}", "Ethernet II", "Frame check sequence", "(none)", format!("0x{:08x}", f.wire_fcs), no_fcs(f.fields()), f.wire_fcs)
}

/// Why the frame shows no FCS: lo has none; a veth (a frame with real MACs) carries none either,
/// as no software link does: the CRC-32 is the network card's, added on the wire and stripped
/// on receipt.
#[must_use]
pub fn no_fcs(fields: &[FieldCheck]) -> &'static str {
    let real = fields.iter().any(|x| {
        x.field.key == crate::layers::ethernet::key::SRC
            && x.field.value != crate::layers::Value::Bytes(vec![0; 6])
    });
    if real {
        "not captured: a veth, like lo, carries no FCS (a network card adds it on the wire)"
    } else {
        "loopback: lo carries no FCS"
    }
}

/// The field table's heading and one row per field (kernel, model, verdict); returns the width
/// of the name column.
///
/// # Errors
/// An I/O error from `w`.
pub fn field_rows<W: WriteColor>(w: &mut W, fields: &[FieldCheck]) -> io::Result<usize> {
    let name_w = fields
        .iter()
        .map(|x| x.field.name.chars().count())
        .max()
        .unwrap_or(5)
        .min(32);
    let val_w = fields
        .iter()
        .map(|x| x.field.display.chars().count().min(28))
        .max()
        .unwrap_or(5);
    writeln!(
        w,
        "    {:<11} {:<name_w$}  {:<val_w$}  {:<val_w$}  verdict",
        "layer", "field", "kernel", "model"
    )?;
    for x in fields {
        write!(
            w,
            "    {:<11} {:<name_w$}  {:<val_w$}  {:<val_w$}  ",
            x.layer.name(),
            x.field.name,
            shorten(&x.field.display, 28),
            shorten(&x.model, 28)
        )?;
        w.set_color(ColorSpec::new().set_fg(verdict_color(&x.verdict)))?;
        write!(w, "{}", x.verdict)?;
        w.reset()?;
        writeln!(w)?;
    }
    Ok(name_w)
}

/// One row of the per-connection table.
#[derive(Debug, Clone)]
pub struct ConnectionRow {
    /// `client -> server` addresses.
    pub name: String,
    /// Frames checked.
    pub frames: usize,
    /// Verdict counts.
    pub counts: Counts,
}

/// The per-connection summary table, with a total line.
///
/// # Errors
/// An I/O error from `w`.
pub fn connections<W: WriteColor>(w: &mut W, rows: &[ConnectionRow]) -> io::Result<()> {
    let name_w = rows
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(10)
        .max(10);
    // (A column for the peer's choices only where a side is not Linux.)
    let peer = rows.iter().any(|r| r.counts.peer > 0);
    write!(
        w,
        "{:<name_w$}  {:>6} {:>6} {:>9} {:>7} {:>13} ",
        "connection", "frames", "fields", "predicted", "learned", "kernel-chosen"
    )?;
    if peer {
        write!(w, "{:>11} ", "peer-chosen")?;
    }
    writeln!(
        w,
        "{:>8} {:>8}  predicted+learned, endpoints apart (of fields lo leaves alone)",
        "loopback", "MISMATCH"
    )?;
    let mut total = Counts::default();
    let mut frames = 0;
    for r in rows {
        row(w, &r.name, r.frames, r.counts, name_w, peer)?;
        total.merge(r.counts);
        frames += r.frames;
    }
    if rows.len() > 1 {
        row(w, "all", frames, total, name_w, peer)?;
    }
    Ok(())
}

fn row<W: WriteColor>(
    w: &mut W,
    name: &str,
    frames: usize,
    c: Counts,
    name_w: usize,
    peer: bool,
) -> io::Result<()> {
    let (share, beyond_lo) = c.shares();
    write!(
        w,
        "{name:<name_w$}  {frames:>6} {:>6} {:>9} {:>7} {:>13} ",
        c.total(),
        c.predicted,
        c.learned,
        c.kernel,
    )?;
    if peer {
        write!(w, "{:>11} ", c.peer)?;
    }
    write!(w, "{:>8} ", c.loopback)?;
    w.set_color(&outcome_color(c))?;
    write!(w, "{:>8}", c.mismatch)?;
    w.reset()?;
    writeln!(w, "  {share:>16.1}% ({beyond_lo:.1}%)")
}

/// One frame's check as one JSON object: the frame number, its connection (`tcp.stream`, in
/// order of first appearance), direction, flags and length, both sides' TCP states after it,
/// and every field with Wireshark's name, the kernel's value, the model's, and the verdict with
/// its reason.
#[must_use]
pub fn json_frame(f: &FrameCheck, stream: usize) -> serde_json::Value {
    let fields = json_fields(f.fields());
    let c = f.counts();
    serde_json::json!({
        "frame.number": f.number,
        "tcp.stream": stream,
        "direction": if f.from == crate::model::Side::Client { "client->server" } else { "server->client" },
        "flags": flag_names(f.flags),
        "tcp.len": f.len,
        "tcp.analysis.flags": f.events.iter().map(|e| e.key()).collect::<Vec<_>>(),
        "states": [f.states[0].to_string(), f.states[1].to_string()],
        "predicted": c.predicted,
        "learned": c.learned,
        "kernel_chosen": c.kernel,
        "peer_chosen": c.peer,
        "loopback": c.loopback,
        "mismatch": c.mismatch,
        "wire_fcs": f.wire_fcs,
        "fields": fields,
    })
}

/// [`json_frame`], written straight into `out` (one line, no newline) without building a JSON
/// value: byte for byte what `serde_json` writes of [`json_frame`]'s value, at the speed of
/// `decode --json`.
pub fn write_json_frame(out: &mut Vec<u8>, f: &FrameCheck, stream: usize) {
    let c = f.counts();
    let mut o = crate::render::json::Obj::new(out);
    o.number("frame.number", f.number);
    o.number("tcp.stream", stream as u64);
    o.text(
        "direction",
        if f.from == Side::Client {
            "client->server"
        } else {
            "server->client"
        },
    );
    o.text("flags", &flag_names(f.flags));
    o.number("tcp.len", f.len as u64);
    o.texts("tcp.analysis.flags", f.events.iter().map(|e| e.key()));
    let states = [f.states[0].to_string(), f.states[1].to_string()];
    o.texts("states", states.iter().map(String::as_str));
    for (key, n) in [
        ("predicted", c.predicted),
        ("learned", c.learned),
        ("kernel_chosen", c.kernel),
        ("peer_chosen", c.peer),
        ("loopback", c.loopback),
        ("mismatch", c.mismatch),
    ] {
        o.number(key, n as u64);
    }
    o.number("wire_fcs", u64::from(f.wire_fcs));
    let fields = f.fields();
    o.objects("fields", fields.len(), |i, x| {
        write_json_field(x, &fields[i])
    });
    o.end();
}

/// One field's object of [`json_fields`], written into `o`.
fn write_json_field(o: &mut crate::render::json::Obj<'_>, x: &FieldCheck) {
    o.text("field", &x.field.key);
    o.text("name", &x.field.name);
    o.text("layer", &x.layer.to_string());
    o.field("kernel", &x.field);
    o.text("kernel_text", &x.field.display);
    o.text("model_text", &x.model);
    let (verdict, reason) = verdict_parts(&x.verdict);
    o.text("verdict", verdict);
    match reason {
        Some(r) => o.text("reason", &r),
        None => o.null("reason"),
    }
}

/// A verdict's label and its reason, as the JSON says them.
fn verdict_parts(v: &Verdict) -> (&'static str, Option<String>) {
    match v {
        Verdict::Predicted => ("predicted", None),
        Verdict::Learned { from } => ("learned", Some((*from).to_string())),
        Verdict::KernelChosen { why } => ("kernel-chosen", Some((*why).to_string())),
        Verdict::PeerChosen { why } => ("peer-chosen", Some((*why).to_string())),
        Verdict::Loopback { why } => ("loopback", Some((*why).to_string())),
        Verdict::Mismatch { expected } => {
            ("MISMATCH", Some(format!("the model expected {expected}")))
        }
    }
}

/// Every field as a JSON object: Wireshark's name, the kernel's value, the model's, the verdict
/// and its reason.
#[must_use]
pub fn json_fields(fields: &[FieldCheck]) -> Vec<serde_json::Value> {
    fields
        .iter()
        .map(|x| {
            let (verdict, reason) = verdict_parts(&x.verdict);
            serde_json::json!({
                "field": x.field.key,
                "name": x.field.name,
                "layer": x.layer.to_string(),
                "kernel": crate::render::json::value(&x.field),
                "kernel_text": x.field.display,
                "model_text": x.model,
                "verdict": verdict,
                "reason": reason,
            })
        })
        .collect()
}

/// A connection's summary row as one JSON object.
#[must_use]
pub fn json_connection(r: &ConnectionRow, stream: usize) -> serde_json::Value {
    let c = r.counts;
    let (share, beyond_lo) = c.shares();
    serde_json::json!({
        "connection": r.name,
        "tcp.stream": stream,
        "frames": r.frames,
        "fields_checked": c.total(),
        "predicted": c.predicted,
        "learned": c.learned,
        "kernel_chosen": c.kernel,
        "peer_chosen": c.peer,
        "loopback": c.loopback,
        "mismatch": c.mismatch,
        "endpoint_fields": c.endpoints,
        "predicted_or_learned_pct": (share * 10.0).round() / 10.0,
        "predicted_or_learned_beyond_lo_pct": (beyond_lo * 10.0).round() / 10.0,
    })
}

/// The gaps a connection left open, each as a MISMATCH line naming the frame that skipped the
/// bytes; returns how many.
///
/// # Errors
/// An I/O error from `w`.
pub fn open_gaps<W: WriteColor>(w: &mut W, conn: &crate::model::Connection) -> io::Result<usize> {
    let gaps = conn.open_gaps();
    let ids = conn.open_ids();
    write_gaps(w, &gaps, None)?;
    for (frame, from, skipped) in &ids {
        w.set_color(ColorSpec::new().set_fg(Some(Color::Red)).set_bold(true))?;
        write!(w, "    MISMATCH")?;
        w.reset()?;
        let list: Vec<String> = skipped.iter().map(ToString::to_string).collect();
        writeln!(
            w,
            " frame {frame} IPv4 Identification: it skipped {} of the {}, which no later frame carried (a wrong IP ID, or a frame the capture missed)",
            list.join(", "),
            if *from == crate::model::Side::Client { "client's IDs" } else { "server's IDs" }
        )?;
    }
    Ok(gaps.len() + ids.len())
}

/// `gaps`, each as a MISMATCH line naming the frame that skipped the bytes, and why it can be
/// open: `why`, or what [`crate::model::Gap::why`] says.
///
/// # Errors
/// An I/O error from `w`.
pub fn write_gaps<W: WriteColor>(
    w: &mut W,
    gaps: &[crate::model::Gap],
    why: Option<&str>,
) -> io::Result<()> {
    for g in gaps {
        let why = why.unwrap_or(g.why());
        w.set_color(ColorSpec::new().set_fg(Some(Color::Red)).set_bold(true))?;
        write!(w, "    MISMATCH")?;
        w.reset()?;
        let stream = if g.from == crate::model::Side::Client {
            "client's stream"
        } else {
            "server's stream"
        };
        let n = g.end.wrapping_sub(g.start);
        if g.acked {
            writeln!(
                w,
                " frame {} TCP Acknowledgment number: kernel {}, model {}: it acknowledges {n} byte(s) of the {stream} that never appeared ({why})",
                g.frame, g.end, g.start
            )?;
        } else {
            writeln!(
                w,
                " frame {} TCP Sequence number: kernel {}, model {}: the {n} byte(s) of the {stream} before it never appeared ({why})",
                g.frame, g.end, g.start
            )?;
        }
    }
    Ok(())
}

/// Which side of connection `stream` is Linux, which not, and why, with each side's frames and
/// MISMATCH count: a line per side in the text, an object per side with `--json` (neither on
/// `lo`, where both are this host's kernel).
///
/// # Errors
/// An I/O error from `w`.
pub fn stacks<W: WriteColor>(
    w: &mut W,
    json: bool,
    stream: usize,
    conn: &crate::model::Connection,
    sides: [(usize, Counts); 2],
) -> io::Result<()> {
    let (client, server) = conn.endpoints();
    let all_lo = Side::BOTH.iter().all(|&s| {
        conn.stack(s)
            .map_or(true, |(_, why)| why == crate::model::ON_LO)
    });
    for (side, addr) in [(Side::Client, client), (Side::Server, server)] {
        let Some((stack, why)) = conn.stack(side) else {
            continue;
        };
        let (frames, c) = sides[side.index()];
        if all_lo {
            continue;
        }
        if json {
            let o = serde_json::json!({
                "tcp.stream": stream,
                "side": side.name(),
                "endpoint": addr.to_string(),
                "stack": stack.name(),
                "why": why,
                "frames": frames,
                "mismatch": c.mismatch,
                "peer_chosen": c.peer,
            });
            writeln!(w, "{o}")?;
        } else {
            write!(w, "{} {addr}: ", side.name())?;
            w.set_color(ColorSpec::new().set_bold(true))?;
            write!(w, "{}", stack.name())?;
            w.reset()?;
            writeln!(
                w,
                ": {why}. {frames} frames, {} MISMATCH{}",
                c.mismatch,
                if c.peer > 0 {
                    format!(", {} fields peer-chosen", c.peer)
                } else {
                    String::new()
                }
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capfile::CaptureReader;
    use crate::verify::{Outcome, Verifier};

    /// Every frame's check of captures with MISMATCH-free, peer-chosen, retransmitted and cut
    /// frames: the fast writer writes byte for byte what `serde_json` writes of the value.
    #[test]
    fn the_json_writer_writes_what_serde_json_writes() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
        let mut seen = 0;
        for name in [
            "chat-hello-hi.pcap",
            "scenario-zerowindow.pcap",
            "lab-offload-on-nc-a-r.pcap",
            "curl-http-ipv6.pcap",
        ] {
            let file = std::fs::File::open(dir.join(name)).unwrap();
            let mut r = CaptureReader::with_link_types(
                std::io::BufReader::new(file),
                &crate::capfile::DECODED_LINK_TYPES,
            )
            .unwrap();
            let mut v = Verifier::new(None, None);
            while let Some(p) = r.next_packet().unwrap() {
                let Outcome::Checked(stream, mut check) =
                    v.feed_link(p.number, Some(p.timestamp), p.link_type, p.data)
                else {
                    continue;
                };
                for edit in [false, true] {
                    if edit {
                        // A MISMATCH with text that needs escaping, and a field without reason.
                        let f = &mut check.fields_mut()[0];
                        f.verdict = Verdict::Mismatch {
                            expected: "a \"quoted\"\tvalue\\".into(),
                        };
                    }
                    let mut ours = Vec::new();
                    write_json_frame(&mut ours, &check, stream);
                    let theirs = serde_json::to_vec(&json_frame(&check, stream)).unwrap();
                    assert_eq!(
                        String::from_utf8(ours).unwrap(),
                        String::from_utf8(theirs).unwrap(),
                        "{name} frame {}",
                        p.number
                    );
                    seen += 1;
                }
            }
        }
        assert!(seen > 60, "{seen}");
    }
}
