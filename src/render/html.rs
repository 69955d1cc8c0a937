//! One self-contained HTML page (inline CSS, JS and SVG; no network; opens from disk): the
//! encapsulation figure and each stage's field table and hex dump of a message, the kernel's frame
//! next to the model's with every verdict, the ladder and the summary.
//!
//! Every field row carries its byte range (`data-from`, `data-to`, absolute in the bytes its hex
//! dump shows) and every byte its index (`data-i`); the page's script lights up a field's bytes
//! when its row is hovered or clicked, and a byte's fields the other way round, within the
//! `.scope` both belong to. The style sheet and the script are `page/page.css` and `page/page.js`,
//! included at build time. Written with plain writers, every text through [`Esc`] (see
//! [`super::markup`] for why).

use std::io::{self, Write};
use std::ops::Range;

use super::markup::{layer_class, Esc};
use super::svg::{self, Figure, Ladder};
use super::verdicts::ConnectionRow;
use super::{field_position, pipeline::adds};
use crate::dissect::dissect;
use crate::layers::tcp::flag_names;
use crate::layers::Layer;
use crate::model::{Connection, FrameCheck, Verdict};
use crate::pipeline::{Encapsulated, Stage};

const CSS: &str = include_str!("page/page.css");
const JS: &str = include_str!("page/page.js");
/// Bytes shown of one hex dump at most: a 100 kB write would make the page unwieldy.
const MAX_DUMP: usize = 4096;

/// One connection as a session's page shows it.
#[derive(Debug)]
pub struct ConnectionView<'a> {
    /// Its endpoints and its checked frames.
    pub ladder: Ladder<'a>,
    /// The model, for what the capture left open (gaps, skipped IP IDs).
    pub conn: &'a Connection,
    /// The kernel's bytes of each frame of `ladder.frames`, in the same order.
    pub kernel: Vec<&'a [u8]>,
}

/// What `verify --html` and `demo --html` show: the summary, each connection's ladder, the
/// messages through the pipeline (the demo's), and every frame the kernel sent.
#[derive(Debug)]
pub struct Session<'a> {
    /// The page's title.
    pub title: &'a str,
    /// A sentence on what the page shows.
    pub intro: &'a str,
    /// The summary rows, one per connection.
    pub rows: &'a [ConnectionRow],
    /// The connections.
    pub connections: Vec<ConnectionView<'a>>,
    /// Messages shown through the pipeline before they were sent, each with its title.
    pub messages: &'a [(String, Vec<Encapsulated>)],
    /// Said where the frames would be when no frame was captured.
    pub none_captured: &'a str,
}

/// Writes a session's page.
///
/// # Errors
/// An I/O error from `w`.
pub fn session<W: Write>(w: W, s: &Session<'_>) -> io::Result<W> {
    let mut page = Page::start(w, s.title, s.intro)?;
    page.heading("summary")?;
    page.summary(s.rows)?;
    for c in &s.connections {
        page.heading(&format!(
            "{} -> {}: the connection as a ladder",
            c.ladder.client, c.ladder.server
        ))?;
        // What the capture left open, as the text view says it.
        let mut gaps = termcolor::NoColor::new(Vec::new());
        super::verdicts::open_gaps(&mut gaps, c.conn)?;
        page.lines(&String::from_utf8_lossy(gaps.get_ref()))?;
        page.ladders(std::slice::from_ref(&c.ladder))?;
    }
    if !s.messages.is_empty() {
        page.heading("each message through the pipeline, before send()")?;
    }
    for (title, frames) in s.messages {
        page.message(title, frames, false)?;
    }
    for c in &s.connections {
        page.heading(&format!(
            "{} -> {}: every frame the kernel sent, next to the model's",
            c.ladder.client, c.ladder.server
        ))?;
        if c.ladder.frames.is_empty() {
            page.paragraph(s.none_captured)?;
        }
        for (kernel, check) in c.kernel.iter().zip(c.ladder.frames) {
            page.checked(kernel, check)?;
        }
    }
    page.finish()
}

/// A page being written: [`Page::start`], the sections in order, [`Page::finish`].
#[derive(Debug)]
pub struct Page<W: Write> {
    w: W,
}

/// A byte range of a dump and the CSS class its bytes get.
struct Marked {
    range: Range<usize>,
    class: &'static str,
}

/// The verdict's CSS class and the symbol that says it without colour.
fn verdict_style(v: &Verdict) -> (&'static str, &'static str) {
    match v {
        Verdict::Predicted => ("v-predicted", "✓"),
        Verdict::Learned { .. } => ("v-learned", "✓"),
        Verdict::KernelChosen { .. } => ("v-kernel", "◆"),
        Verdict::PeerChosen { .. } => ("v-peer", "◇"),
        Verdict::Loopback { .. } => ("v-loopback", "↺"),
        Verdict::Mismatch { .. } => ("v-mismatch", "✗"),
    }
}

fn bytes_text(r: &Range<usize>) -> String {
    match r.len() {
        0 => "-".into(),
        1 => r.start.to_string(),
        _ => format!("{}-{}", r.start, r.end - 1),
    }
}

impl<W: Write> Page<W> {
    /// Writes the page's head, its title and a legend of the verdicts.
    ///
    /// # Errors
    /// An I/O error from `w`.
    pub fn start(mut w: W, title: &str, intro: &str) -> io::Result<Page<W>> {
        writeln!(
            w,
            r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="encap {}">
<title>{}</title>
<style>
{CSS}</style></head>
<body>
<h1>{}</h1>
<p class="lead">{}</p>"#,
            env!("CARGO_PKG_VERSION"),
            Esc(title),
            Esc(title),
            Esc(intro)
        )?;
        writeln!(
            w,
            r#"<ul class="legend" aria-label="verdicts"><li class="v-predicted"><span class="verdict"><span class="sym">✓</span>predicted</span>: computed from the protocol and the connection</li><li class="v-learned"><span class="verdict"><span class="sym">✓</span>learned</span>: from an earlier frame, consistent with it</li><li class="v-kernel"><span class="verdict"><span class="sym">◆</span>kernel-chosen</span>: no model can know it in advance</li><li class="v-peer"><span class="verdict"><span class="sym">◇</span>peer-chosen</span>: a stack that is not Linux chose it, as any TCP may</li><li class="v-loopback"><span class="verdict"><span class="sym">↺</span>loopback</span>: what lo changes, predicted exactly</li><li class="v-mismatch"><span class="verdict"><span class="sym">✗</span>MISMATCH</span>: not what the model said</li></ul>
<p>Hover or click a field to light up its bytes in the hex dump, or a byte to light up its fields; click a frame of the ladder to open it.</p>"#
        )?;
        Ok(Page { w })
    }

    /// A section heading.
    ///
    /// # Errors
    /// An I/O error.
    pub fn heading(&mut self, text: &str) -> io::Result<()> {
        writeln!(self.w, "<h2>{}</h2>", Esc(text))
    }

    /// Lines of text kept as they are (the text views' MISMATCH lines, for instance), each line
    /// naming MISMATCH marked as one.
    ///
    /// # Errors
    /// An I/O error.
    pub fn lines(&mut self, text: &str) -> io::Result<()> {
        writeln!(self.w, r#"<div class="lines">"#)?;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let class = if line.contains("MISMATCH") {
                " class=\"v-mismatch\""
            } else {
                ""
            };
            let sym = if class.is_empty() { "" } else { "✗ " };
            writeln!(self.w, "<p{class}>{sym}{}</p>", Esc(line.trim()))?;
        }
        writeln!(self.w, "</div>")
    }

    /// A paragraph of text.
    ///
    /// # Errors
    /// An I/O error.
    pub fn paragraph(&mut self, text: &str) -> io::Result<()> {
        writeln!(self.w, "<p>{}</p>", Esc(text))
    }

    /// A message through the pipeline: its encapsulation figure (every segment), then each stage of
    /// each segment with its field table and hex dump, the bytes the stage's layer added marked.
    ///
    /// # Errors
    /// An I/O error.
    pub fn message(&mut self, title: &str, frames: &[Encapsulated], wire: bool) -> io::Result<()> {
        writeln!(
            self.w,
            r#"<section class="message"><h3>{}</h3>"#,
            Esc(title)
        )?;
        let figures: Vec<Figure> = frames
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let t = if frames.len() > 1 {
                    format!(
                        "segment {} of {}: {} bytes of data",
                        i + 1,
                        frames.len(),
                        e.payload().len()
                    )
                } else {
                    format!(
                        "{} bytes of data in a {}-byte frame",
                        e.payload().len(),
                        e.frame_with_fcs().len()
                    )
                };
                Figure::of_frame(&t, e.frame(), true, wire)
            })
            .collect();
        svg::encapsulation(&mut self.w, &figures, false)?;
        for (i, e) in frames.iter().enumerate() {
            if frames.len() > 1 {
                writeln!(self.w, "<h3>segment {} of {}</h3>", i + 1, frames.len())?;
            }
            for (n, stage) in e.stage_views().iter().enumerate() {
                self.stage(n + 1, stage)?;
            }
        }
        writeln!(self.w, "</section>")
    }

    /// One stage: heading, field table (bytes relative to the stage), hex dump.
    fn stage(&mut self, number: usize, stage: &Stage<'_>) -> io::Result<()> {
        let class = layer_class(stage.layer);
        writeln!(
            self.w,
            r#"<section class="stage scope l-border-{}" data-layer="{}"><h3>[{number}/4] {}: {}</h3>"#,
            class.trim_start_matches("l-"),
            Esc(stage.layer.name()),
            Esc(stage.layer.name()),
            Esc(&adds(stage))
        )?;
        let mut marks = vec![Marked {
            range: stage.header.clone(),
            class,
        }];
        if !stage.trailer.is_empty() {
            let fcs_at = stage
                .trailer
                .end
                .saturating_sub(crate::layers::ethernet::field::FCS_LEN);
            marks.push(Marked {
                range: stage.trailer.start..fcs_at,
                class: "l-pad",
            });
            marks.push(Marked {
                range: fcs_at..stage.trailer.end,
                class: "l-fcs",
            });
        }
        writeln!(self.w, r#"<div class="dumps">"#)?;
        hexdump(&mut self.w, stage.bytes, &marks, None, "stage")?;
        writeln!(self.w, r#"<p class="sel" aria-live="polite"></p></div>"#)?;
        writeln!(self.w, "<table class=\"fields\"><tr><th>Bytes</th><th>Field</th><th>Value</th><th>Meaning</th></tr>")?;
        for f in &stage.fields {
            let (range, bits) = field_position(f, 0, stage.bytes);
            let value = if bits.is_empty() {
                f.display.clone()
            } else {
                format!("{bits} = {}", f.display)
            };
            writeln!(
                self.w,
                r#"<tr class="f" tabindex="0" data-from="{}" data-to="{}" data-key="{}" data-name="{}"><td class="mono">{}</td><td>{}</td><td class="mono">{}</td><td>{}</td></tr>"#,
                f.bytes.start,
                f.bytes.end,
                Esc(&f.key),
                Esc(&f.name),
                Esc(&range),
                Esc(&f.name),
                Esc(&value),
                Esc(&f.meaning)
            )?;
        }
        writeln!(self.w, "</table>")?;
        writeln!(self.w, "</section>")
    }

    /// One frame the kernel sent, checked: a summary line that opens its details (`#frame-N`):
    /// the encapsulation figure, every field with the kernel's value, the model's and the verdict,
    /// and both frames' hex dumps, the model's bytes that differ from the kernel's marked.
    ///
    /// # Errors
    /// An I/O error.
    pub fn checked(&mut self, kernel: &[u8], check: &FrameCheck) -> io::Result<()> {
        let c = check.counts();
        let ok = c.total() - c.mismatch;
        let dir = if check.from == crate::model::Side::Client {
            "client → server"
        } else {
            "server → client"
        };
        let mut line = format!(
            "frame {}: {dir} [{}] seq {}",
            check.number,
            flag_names(check.flags),
            check.rel_seq
        );
        if check.flags & crate::layers::tcp::field::FLG_ACK != 0 {
            line.push_str(&format!(" ack {}", check.rel_ack));
        }
        line.push_str(&format!(
            " len {}: {ok}/{} fields as the model said",
            check.len,
            c.total()
        ));
        let (class, verdict) = if c.mismatch > 0 {
            (" mismatch", format!(" ✗ {} MISMATCH", c.mismatch))
        } else {
            ("", " ✓".to_string())
        };
        writeln!(
            self.w,
            r#"<details class="frame{class}" id="frame-{n}" data-frame="{n}"{open}><summary>{}{}</summary><div class="scope">"#,
            Esc(&line),
            Esc(&verdict),
            n = check.number,
            // A MISMATCH frame is open from the start: it is what a reader looks for.
            open = if c.mismatch > 0 { " open" } else { "" },
        )?;
        let title = format!(
            "frame {} as the kernel sent it ({} bytes on lo)",
            check.number,
            kernel.len()
        );
        svg::encapsulation(
            &mut self.w,
            &[Figure::of_frame(&title, kernel, false, false)],
            false,
        )?;
        self.frame_dumps(kernel, check)?;
        self.verdict_table(check)?;
        writeln!(self.w, "</div></details>")
    }

    /// The kernel's frame and the model's as hex dumps side by side, the model's bytes that
    /// differ from the kernel's marked, then the line that names the selection.
    fn frame_dumps(&mut self, kernel: &[u8], check: &FrameCheck) -> io::Result<()> {
        writeln!(self.w, r#"<div class="dumps">"#)?;
        let kernel_marks = layer_marks(kernel);
        writeln!(
            self.w,
            "<figure><figcaption>the kernel's frame (captured on lo)</figcaption>"
        )?;
        hexdump(&mut self.w, kernel, &kernel_marks, None, "kernel")?;
        writeln!(self.w, "</figure><figure><figcaption>the model's frame (bytes that differ: red, wavy underline)</figcaption>")?;
        if check.model_frame.is_empty() {
            writeln!(self.w, "<p>(the model built no frame)</p>")?;
        } else {
            let model_marks = layer_marks(&check.model_frame);
            hexdump(
                &mut self.w,
                &check.model_frame,
                &model_marks,
                Some(kernel),
                "model",
            )?;
        }
        writeln!(
            self.w,
            r#"</figure><p class="sel" aria-live="polite"></p></div>"#
        )
    }

    fn verdict_table(&mut self, check: &FrameCheck) -> io::Result<()> {
        writeln!(self.w, "<table class=\"fields\"><tr><th>Layer</th><th>Field</th><th>Bytes</th><th>Kernel</th><th>Model</th><th>Verdict</th></tr>")?;
        for x in check.fields() {
            let (class, sym) = verdict_style(&x.verdict);
            writeln!(
                self.w,
                r#"<tr class="f {class}" tabindex="0" data-from="{}" data-to="{}" data-key="{}" data-name="{}"><td>{}</td><td>{}</td><td class="mono">{}</td><td class="mono">{}</td><td class="mono">{}</td><td class="verdict"><span class="sym">{sym}</span>{}</td></tr>"#,
                x.field.bytes.start,
                x.field.bytes.end,
                Esc(&x.field.key),
                Esc(&format!("{} {}", x.layer, x.field.name)),
                Esc(x.layer.name()),
                Esc(&x.field.name),
                bytes_text(&x.field.bytes),
                Esc(&shorten(&x.field.display, 120)),
                Esc(&shorten(&x.model, 120)),
                Esc(&x.verdict.to_string())
            )?;
        }
        writeln!(
            self.w,
            r#"<tr class="v-loopback"><td>Ethernet II</td><td>Frame check sequence</td><td class="mono">-</td><td class="mono">(none)</td><td class="mono">0x{:08x}</td><td class="verdict"><span class="sym">↺</span>loopback: lo carries no FCS; on a real wire this frame would end with CRC-32 0x{:08x}</td></tr></table>"#,
            check.wire_fcs, check.wire_fcs
        )
    }

    /// The ladders, each frame linking to its details.
    ///
    /// # Errors
    /// An I/O error.
    pub fn ladders(&mut self, ladders: &[Ladder<'_>]) -> io::Result<()> {
        writeln!(self.w, r#"<figure class="ladder">"#)?;
        svg::ladders(&mut self.w, ladders, false, true)?;
        writeln!(self.w, "<figcaption>relative sequence numbers; beside each line, that side's TCP state after the frame; a MISMATCH frame is red, dashed and labelled ✗</figcaption></figure>")
    }

    /// The per-connection summary table, with a total row when there are several.
    ///
    /// # Errors
    /// An I/O error.
    pub fn summary(&mut self, rows: &[ConnectionRow]) -> io::Result<()> {
        writeln!(
            self.w,
            r#"<table class="summary"><tr><th>connection</th><th>frames</th><th>fields</th><th>predicted</th><th>learned</th><th>kernel-chosen</th><th>loopback</th><th>MISMATCH</th><th>predicted + learned (of the fields lo leaves alone)</th></tr>"#
        )?;
        let mut total = ConnectionRow {
            name: "all".into(),
            frames: 0,
            counts: crate::model::Counts::default(),
        };
        for r in rows {
            self.summary_row(r)?;
            total.frames += r.frames;
            total.counts.merge(r.counts);
        }
        if rows.len() > 1 {
            self.summary_row(&total)?;
        }
        writeln!(self.w, "</table>")
    }

    fn summary_row(&mut self, r: &ConnectionRow) -> io::Result<()> {
        let c = r.counts;
        let (share, beyond_lo) = c.shares();
        let mismatch = if c.mismatch == 0 {
            r#"<td class="num ok">0 ✓</td>"#.to_string()
        } else {
            format!(r#"<td class="num bad">{} ✗</td>"#, c.mismatch)
        };
        writeln!(
            self.w,
            r#"<tr><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td>{mismatch}<td class="num">{share:.1}% ({beyond_lo:.1}%)</td></tr>"#,
            Esc(&r.name),
            r.frames,
            c.total(),
            c.predicted,
            c.learned,
            c.kernel,
            c.loopback
        )
    }

    /// Writes the script and closes the page; returns the writer.
    ///
    /// # Errors
    /// An I/O error.
    pub fn finish(mut self) -> io::Result<W> {
        writeln!(self.w, "<script>\n{JS}</script>\n</body></html>")?;
        self.w.flush()?;
        Ok(self.w)
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() > max {
        format!("{}…", s.chars().take(max - 1).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Each layer's bytes of a frame, as the decoder's tree has them.
fn layer_marks(frame: &[u8]) -> Vec<Marked> {
    dissect(frame)
        .nodes
        .iter()
        .map(|n| Marked {
            range: n.range.clone(),
            class: if n.layer == Layer::Raw && n.range.start > 0 {
                "l-pad"
            } else {
                layer_class(n.layer)
            },
        })
        .collect()
}

/// A hex dump, 16 bytes a line, each byte a `<span class="b" data-i="N">` with the class of the
/// first mark that holds it; with `against`, bytes that differ from it are marked `diff`.
fn hexdump<W: Write>(
    w: &mut W,
    bytes: &[u8],
    marks: &[Marked],
    against: Option<&[u8]>,
    role: &str,
) -> io::Result<()> {
    write!(w, r#"<div class="hex" data-role="{role}">"#)?;
    let shown = &bytes[..bytes.len().min(MAX_DUMP)];
    for (row, line) in shown.chunks(16).enumerate() {
        let base = row * 16;
        write!(w, r#"<div><span class="off">{base:04x}</span>"#)?;
        for (k, b) in line.iter().enumerate() {
            let i = base + k;
            let class = marks
                .iter()
                .find(|m| m.range.contains(&i))
                .map_or("", |m| m.class);
            let diff = against.is_some_and(|a| a.get(i) != Some(b));
            write!(
                w,
                r#"<span class="b {class}{}{}" data-i="{i}">{b:02x}</span> "#,
                if k == 8 { " gap" } else { "" },
                if diff { " diff" } else { "" }
            )?;
        }
        let ascii: String = line
            .iter()
            .map(|b| {
                if b.is_ascii_graphic() || *b == b' ' {
                    char::from(*b)
                } else {
                    '.'
                }
            })
            .collect();
        // No newline between the rows: the dump is `white-space: pre`, so one would show.
        write!(
            w,
            r#"{:pad$}<span class="asc">{}</span></div>"#,
            "",
            Esc(&ascii),
            pad = (16 - line.len()) * 3
        )?;
    }
    if bytes.len() > shown.len() {
        write!(
            w,
            "<div>… {} more bytes not shown</div>",
            bytes.len() - shown.len()
        )?;
    }
    writeln!(w, "</div>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mismatch_row_has_colour_symbol_and_word_and_differing_bytes_are_marked() {
        let (frame, mut check) = crate::render::svg::tests::checked_syn();
        check.fields_mut()[0].verdict = Verdict::Mismatch {
            expected: "<i>".into(),
        };
        check.model_frame[0] ^= 1;
        let mut page = Page::start(Vec::new(), "t", "i").unwrap();
        page.checked(&frame, &check).unwrap();
        let html = String::from_utf8(page.finish().unwrap()).unwrap();
        assert!(html.contains(r#"<details class="frame mismatch" id="frame-1""#));
        assert!(html.contains(r#"<tr class="f v-mismatch" tabindex="0" data-from="0" data-to="6""#));
        assert!(html.contains("<span class=\"sym\">✗</span>MISMATCH: the model expected &lt;i&gt;"));
        let model = &html[html.find(r#"data-role="model""#).unwrap()..];
        assert!(
            model.contains(r#"class="b l-eth diff" data-i="0""#),
            "the changed byte"
        );
        assert!(
            model.contains(r#"class="b l-eth" data-i="1""#),
            "an equal byte"
        );
        assert_eq!(html.matches("<script").count(), 1);
    }
}
