//! `encap verify FILE`: the model's prediction of every frame of every TCP connection in a
//! capture, checked field by field against what the kernel sent.

use std::fs::File;
use std::io::BufReader;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use termcolor::WriteColor;

use encap::capfile::CaptureReader;
use encap::model::{Counts, FrameCheck, TcpSettings};
use encap::render::{html, ladder, neighbour, svg, verdicts};
use encap::verify::{Outcome, Verifier};

/// Arguments of `encap verify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A pcap or pcapng capture (ours, or tcpdump's of any program): Ethernet, or a cooked or raw
    /// one (`tcpdump -i any`), checked from the network layer on.
    pub file: PathBuf,
    /// More captures, each one link of the same path (the two sides of a router): every link
    /// is checked on its own and each packet seen on two links hop by hop. A pcapng with one
    /// interface per link (`encap lab demo -w`) is checked so on its own.
    #[arg(value_name = "MORE")]
    pub more: Vec<PathBuf>,
    /// The router's name in the hop lines over several links (`at r: TTL 64 -> 63, ...`).
    #[arg(long, value_name = "NAME", default_value = "r")]
    pub router: String,
    /// Show every field of every frame: kernel, model, verdict and its reason.
    #[arg(short, long)]
    pub verbose: bool,
    /// Draw each connection as a ladder with both sides' TCP states.
    #[arg(long)]
    pub ladder: bool,
    /// What the applications sent, one JSON object per line: {"from": "client", "text": "hello\n"}
    /// ("client" is the side that sent the SYN). With it, payloads are predicted and checked
    /// byte for byte; without it they can only be taken from the frames (lo's checksum does
    /// not cover them).
    #[arg(long, value_name = "FILE.jsonl")]
    pub transcript: Option<PathBuf>,
    /// net.ipv4.tcp_rmem of the host the capture was taken on ("4096 131072 33554432"): with
    /// --rmem-max, the windows of SYN and SYN-ACK and the window scales are predicted, not
    /// taken from the frames.
    #[arg(long, value_name = "MIN DEFAULT MAX", requires = "rmem_max")]
    pub tcp_rmem: Option<String>,
    /// net.core.rmem_max of the host the capture was taken on (see --tcp-rmem).
    #[arg(long, value_name = "BYTES", requires = "tcp_rmem")]
    pub rmem_max: Option<String>,
    /// One JSON object per line instead of the text: one per frame (every field with its
    /// Wireshark name, kernel and model values, verdict and reason), then one per connection.
    #[arg(long, conflicts_with_all = ["verbose", "ladder"])]
    pub json: bool,
    /// The capture was taken on this host: read --tcp-rmem and --rmem-max from /proc/sys.
    #[arg(long, conflicts_with_all = ["tcp_rmem", "rmem_max"])]
    pub this_host: bool,
    /// Write each connection's ladder as an SVG sequence diagram.
    #[arg(long, value_name = "FILE.svg")]
    pub svg: Option<PathBuf>,
    /// Write a self-contained page: the summary, the ladders, and every frame's fields (kernel,
    /// model, verdict) with both hex dumps, a field's bytes lit up when it is clicked.
    #[arg(long, value_name = "FILE.html")]
    pub html: Option<PathBuf>,
    /// Stop after the first N frames of the file, as tcpdump -c (the summary covers those).
    #[arg(short = 'c', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
}

/// Reads a transcript: each write of each side's application, in order (one line, one write).
fn read_transcript(path: &std::path::Path) -> anyhow::Result<[Vec<Vec<u8>>; 2]> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut sent = [Vec::new(), Vec::new()];
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("{}: line {}: not JSON", path.display(), n + 1))?;
        let side = match v["from"].as_str() {
            Some("client") => 0,
            Some("server") => 1,
            _ => anyhow::bail!(
                "{}: line {}: \"from\" must be \"client\" or \"server\"",
                path.display(),
                n + 1
            ),
        };
        let text = v["text"]
            .as_str()
            .with_context(|| format!("{}: line {}: no \"text\"", path.display(), n + 1))?;
        sent[side].push(text.as_bytes().to_vec());
    }
    Ok(sent)
}

/// What the command keeps of one connection besides its model.
#[derive(Default)]
struct Followed {
    checks: Vec<FrameCheck>,
    /// The kernel's frame of each check, kept for `--html`.
    raw: Vec<Vec<u8>>,
    counts: Counts,
    frames: usize,
}

/// The summary row of the routers' "fragmentation needed" and "packet too big" messages.
pub const TOO_BIG_ROW: &str = "ICMP too big (path MTU) from routers";

/// The ARP and neighbour discovery frames of the capture, and what else its links carry.
#[derive(Default)]
struct Neighbours {
    frames: usize,
    counts: Counts,
    /// Each kind of frame listed, not modelled, and how many.
    listed: Vec<(&'static str, usize)>,
}

impl Neighbours {
    fn show<W: WriteColor>(
        &mut self,
        out: &mut W,
        json: bool,
        verbose: bool,
        c: &encap::model::neighbour::NeighbourCheck,
    ) -> std::io::Result<()> {
        self.frames += 1;
        self.counts.merge(c.counts());
        if json {
            writeln!(out, "{}", neighbour::json(c))
        } else if verbose {
            neighbour::table(out, c)
        } else {
            neighbour::summary(out, c)
        }
    }

    fn list<W: WriteColor>(
        &mut self,
        out: &mut W,
        json: bool,
        number: u64,
        what: &str,
        kind: &'static str,
    ) -> std::io::Result<()> {
        match self.listed.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => self.listed.push((kind, 1)),
        }
        if json {
            let o = serde_json::json!({"frame.number": number, "info": what, "verdict": "not modelled"});
            writeln!(out, "{o}")
        } else {
            neighbour::listed(out, number, what)
        }
    }

    /// The summary's row, named `name`, when there were any.
    fn row(&self, name: &str) -> Option<verdicts::ConnectionRow> {
        (self.frames > 0).then(|| verdicts::ConnectionRow {
            name: name.into(),
            frames: self.frames,
            counts: self.counts,
        })
    }

    fn listed_note<W: WriteColor>(&self, out: &mut W) -> std::io::Result<()> {
        if self.listed.is_empty() {
            return Ok(());
        }
        let kinds: Vec<String> = self
            .listed
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        writeln!(
            out,
            "({} listed above: not modelled, not a finding)",
            kinds.join(", ")
        )
    }
}

/// Writes `--svg` (the ladders) and `--html` (the page), if asked for.
fn pictures(
    args: &Args,
    verifier: &Verifier,
    followed: &[Followed],
    rows: &[verdicts::ConnectionRow],
) -> anyhow::Result<()> {
    let order: Vec<(SocketAddr, SocketAddr)> = verifier.connections().map(|(k, _)| k).collect();
    let names: Vec<(String, String)> = order
        .iter()
        .map(|k| (k.0.to_string(), k.1.to_string()))
        .collect();
    let ladders: Vec<svg::Ladder<'_>> = names
        .iter()
        .zip(followed)
        .map(|((client, server), f)| svg::Ladder {
            client,
            server,
            frames: &f.checks,
        })
        .collect();
    if let Some(path) = &args.svg {
        super::write_file(path, |w| svg::ladders(w, &ladders, true, false))?;
    }
    if let Some(path) = &args.html {
        let connections = ladders
            .iter()
            .zip(followed.iter().zip(verifier.connections()))
            .map(|(l, (f, (_, conn)))| html::ConnectionView {
                ladder: *l,
                conn,
                kernel: f.raw.iter().map(Vec::as_slice).collect(),
            })
            .collect();
        let title = format!("encap verify {}", args.file.display());
        let s = html::Session {
            title: &title,
            intro: "Every frame of every TCP connection of the capture, checked field by field against the model.",
            rows,
            connections,
            messages: &[],
            none_captured: "no frame of this connection could be checked",
        };
        super::write_file(path, |w| html::session(w, &s).map(drop))?;
    }
    Ok(())
}

/// `encap verify` over several links (see [`super::verify_path`]); the views of one
/// connection (`--json`, `--svg`, `--html`) are not drawn over several yet; the ladder is drawn
/// across the router, in three columns.
fn several_links<W: WriteColor>(args: &Args, out: &mut W) -> anyhow::Result<ExitCode> {
    if args.json || args.svg.is_some() || args.html.is_some() || args.count.is_some() {
        anyhow::bail!("over several links, verify writes its text view only: --json, --svg, --html and -c take one link (one file of one interface)");
    }
    let transcript = args
        .transcript
        .as_deref()
        .map(read_transcript)
        .transpose()?;
    let files: Vec<&std::path::Path> = std::iter::once(args.file.as_path())
        .chain(args.more.iter().map(PathBuf::as_path))
        .collect();
    let view = super::verify_path::View {
        verbose: args.verbose,
        ladder: args
            .ladder
            .then_some(["client", args.router.as_str(), "server"]),
    };
    super::verify_path::run(&files, &args.router, transcript.as_ref(), view, out)
}

/// Runs `encap verify`: exit status 1 if any field is a MISMATCH (frames it could not check are
/// listed, and do not fail), 2 when nothing could be checked.
///
/// # Errors
/// The file cannot be read, or output fails.
pub fn run<W: WriteColor>(args: &Args, out: &mut W) -> anyhow::Result<ExitCode> {
    if !args.more.is_empty() || super::verify_path::several_interfaces(&args.file)? {
        return several_links(args, out);
    }
    let name = args.file.display();
    let file = File::open(&args.file).with_context(|| format!("cannot open {name}"))?;
    let progress = super::progress_bar(file.metadata().map_or(0, |m| m.len()));
    let mut reader =
        CaptureReader::with_link_types(BufReader::new(file), &encap::capfile::DECODED_LINK_TYPES)
            .with_context(|| name.to_string())?;
    let mut skipped = 0u64;
    let transcript = args
        .transcript
        .as_deref()
        .map(read_transcript)
        .transpose()?;
    let settings = match (&args.tcp_rmem, &args.rmem_max, args.this_host) {
        (Some(rmem), Some(max), _) => Some(
            TcpSettings::parse(rmem, max)
                .map_err(|e| anyhow::anyhow!("--tcp-rmem/--rmem-max: {e}"))?,
        ),
        (.., true) => Some(
            crate::chat::sys::tcp_settings().map_err(|e| anyhow::anyhow!("--this-host: {e}"))?,
        ),
        _ => None,
    };
    let mut verifier = Verifier::new(settings, transcript);
    let mut udp = encap::udp_flows::UdpFlows::new();
    let mut followed: Vec<Followed> = Vec::new();
    let mut unchecked = 0u64;
    let mut neighbours = Neighbours::default();
    let mut too_big = Neighbours::default();
    let read = loop {
        let p = match reader.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        };
        if args.count.is_some_and(|c| p.number > c) {
            break Ok(());
        }
        if let Some(bar) = progress.as_ref().filter(|_| p.number % 4096 == 0) {
            bar.set_position(p.offset);
        }
        let (stream, check) = match verifier.feed_captured(
            p.number,
            Some(p.timestamp),
            p.link_type,
            p.data,
            p.orig_len,
        ) {
            Outcome::Checked(stream, check) => (stream, check),
            Outcome::Skipped => {
                // UDP and the ICMP errors it draws: checked against Linux's rules (no model state).
                if let Some(c) = udp.feed(p.number, p.link_type, p.data) {
                    if args.json {
                        writeln!(out, "{}", encap::render::datagram::check_json(&c))?;
                    } else if args.verbose {
                        encap::render::datagram::check_table(out, &c)?;
                    } else {
                        encap::render::datagram::check_line(out, &c)?;
                    }
                    continue;
                }
                skipped += 1;
                continue;
            }
            Outcome::Neighbour(c) => {
                neighbours.show(out, args.json, args.verbose, &c)?;
                continue;
            }
            Outcome::TooBig(c) => {
                too_big.show(out, args.json, args.verbose, &c)?;
                continue;
            }
            Outcome::Listed(what, kind) => {
                neighbours.list(out, args.json, p.number, &what, kind)?;
                continue;
            }
            Outcome::NotChecked(e @ encap::model::ModelError::Duplicate(..)) => {
                if args.json {
                    let o =
                        serde_json::json!({"frame.number": p.number, "duplicate": e.to_string()});
                    writeln!(out, "{o}")?;
                } else {
                    writeln!(out, "{e}")?;
                }
                continue;
            }
            Outcome::NotChecked(e) => {
                if args.json {
                    let o = serde_json::json!({"frame.number": p.number, "error": e.to_string()});
                    writeln!(out, "{o}")?;
                } else {
                    writeln!(out, "frame {}: NOT CHECKED: {e}", p.number)?;
                }
                unchecked += 1;
                continue;
            }
        };
        if args.json {
            writeln!(out, "{}", verdicts::json_frame(&check, stream))?;
            for r in verdicts::json_revisions(&check) {
                writeln!(out, "{r}")?;
            }
        } else if args.verbose {
            verdicts::table(out, &check)?;
        } else {
            verdicts::summary(out, &check)?;
        }
        if followed.len() <= stream {
            followed.resize_with(stream + 1, Followed::default);
        }
        let f = &mut followed[stream];
        f.counts.merge(check.counts());
        f.frames += 1;
        if args.html.is_some() {
            f.raw.push(p.data.to_vec());
        }
        if args.ladder || args.svg.is_some() || args.html.is_some() {
            f.checks.push(check);
        }
    };
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let order: Vec<(SocketAddr, SocketAddr)> = verifier.connections().map(|(k, _)| k).collect();
    followed.resize_with(order.len(), Followed::default);
    for f in &mut followed {
        encap::model::state::restate(&mut f.checks);
    }
    // Bytes a frame skipped that no later frame brought: reported once all frames are seen.
    if !args.json {
        for ((_, conn), f) in verifier.connections().zip(followed.iter_mut()) {
            f.counts.mismatch += verdicts::open_gaps(out, conn)?;
            f.counts.mismatch += verdicts::unsent(out, conn)?;
        }
    } else {
        for ((_, conn), f) in verifier.connections().zip(followed.iter_mut()) {
            for g in conn.open_gaps() {
                let what = if g.acked {
                    "it acknowledges bytes that never appeared"
                } else {
                    "the bytes before it never appeared"
                };
                let reason = format!("{what} ({})", g.why());
                let o = serde_json::json!({"frame.number": g.frame, "field": g.key(), "kernel": g.end, "model": g.start, "verdict": "MISMATCH", "reason": reason});
                writeln!(out, "{o}")?;
                f.counts.mismatch += 1;
            }
            for (side, bytes) in conn.unsent() {
                let o = serde_json::json!({"field": "data.data", "from": side.name(), "unsent": bytes, "verdict": "MISMATCH", "reason": "the transcript says this side wrote bytes that no frame of the capture carries"});
                writeln!(out, "{o}")?;
                f.counts.mismatch += 1;
            }
            for (frame, _, ids) in conn.open_ids() {
                let o = serde_json::json!({"frame.number": frame, "field": "ip.id", "skipped": ids, "verdict": "MISMATCH", "reason": "it skipped IP IDs no later frame carried (a wrong IP ID, or a frame the capture missed)"});
                writeln!(out, "{o}")?;
                f.counts.mismatch += 1;
            }
        }
    }
    let mut rows: Vec<verdicts::ConnectionRow> = order
        .iter()
        .zip(&followed)
        .map(|(k, f)| verdicts::ConnectionRow {
            name: format!("{} -> {}", k.0, k.1),
            frames: f.frames,
            counts: f.counts,
        })
        .collect();
    rows.extend(neighbours.row("ARP / neighbour discovery"));
    rows.extend(too_big.row(TOO_BIG_ROW));
    rows.extend(
        udp.tally()
            .iter()
            .map(|(name, frames, counts)| verdicts::ConnectionRow {
                name: name.clone(),
                frames: *frames,
                counts: *counts,
            }),
    );
    if args.json {
        for (i, r) in rows.iter().enumerate() {
            writeln!(out, "{}", verdicts::json_connection(r, i))?;
        }
    } else {
        writeln!(out)?;
        verdicts::connections(out, &rows)?;
    }
    if !udp.tally().is_empty() && !args.json {
        writeln!(out, "(the udp and icmp rows: datagrams have no connection, so each is checked against the rules Linux sends them by: IP ID, DF, TTL, lengths, lo's partial checksum; and each ICMP port unreachable against the datagram it quotes)")?;
    }
    if skipped > 0 && !args.json {
        writeln!(out, "({skipped} frames were not checked: not TCP over IPv4 or IPv6, or cut short or malformed, as `encap decode` shows)")?;
    }
    if !args.json {
        neighbours.listed_note(out)?;
    }
    if unchecked > 0 && !args.json {
        writeln!(
            out,
            "({unchecked} frames of TCP connections could not be checked, each said why above)"
        )?;
    }
    if args.ladder {
        for (k, f) in order.iter().zip(&followed) {
            writeln!(out)?;
            ladder::write(out, &k.0.to_string(), &k.1.to_string(), &f.checks)?;
        }
    }
    pictures(args, &verifier, &followed, &rows)?;
    out.flush()?;
    // The summary of every good frame is out; now the file's own problem, if it had one.
    read.with_context(|| format!("{name}: stopped early"))?;
    let mismatches: usize = rows.iter().map(|r| r.counts.mismatch).sum();
    let checked: usize = rows.iter().map(|r| r.frames).sum();
    if checked == 0 {
        eprintln!(
            "encap: nothing in {name} could be checked: no well-formed TCP or UDP frame over IPv4 or IPv6"
        );
        return Ok(ExitCode::from(2));
    }
    // Frames the model does not cover are listed above; only a MISMATCH is a finding.
    Ok(if mismatches > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
