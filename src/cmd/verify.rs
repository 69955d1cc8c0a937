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
    /// An endpoint a Linux kernel runs, ADDR or ADDR:PORT (repeatable): its frames are
    /// predicted, every other endpoint's are followed as a peer that is not Linux (its habits
    /// peer-chosen, only what every TCP must do checked). Without it each side is told by its
    /// SYN or SYN-ACK (on lo both are Linux), and the output says which and why.
    #[arg(long, value_name = "ADDR[:PORT]", value_parser = encap::verify::LinuxEnd::parse)]
    pub linux: Vec<encap::verify::LinuxEnd>,
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
    /// Each side's frames and their counts, client first.
    sides: [(usize, Counts); 2],
    /// In a Linux cooked capture (`tcpdump -i any`): each side's frames this host sent
    /// (packet type OUTGOING), and how many of its frames arrived.
    own: [Vec<u64>; 2],
    arrived: [usize; 2],
    /// Captured on a loopback interface: both sides are the capture's host.
    lo: bool,
}

impl Followed {
    /// Remembers which way frame `number` of side `from` went, by its cooked header.
    fn direction(&mut self, from: encap::model::Side, link: u32, frame: &[u8], number: u64) {
        if let Some(c) = encap::layers::link::Cooked::parse(link, frame) {
            self.lo |= c.hatype == encap::layers::link::ARPHRD_LOOPBACK;
            if c.outgoing() {
                self.own[from.index()].push(number);
            } else {
                self.arrived[from.index()] += 1;
            }
        }
    }
}

/// Frame numbers as short ranges: `1-3, 5, 7-9`.
fn ranges(numbers: &[u64]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < numbers.len() {
        let mut j = i;
        while j + 1 < numbers.len() && numbers[j + 1] == numbers[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            numbers[i].to_string()
        } else {
            format!("{}-{}", numbers[i], numbers[j])
        });
        i = j + 1;
    }
    parts.join(", ")
}

/// For a Linux cooked capture: which side of each connection is the capture's own host (its
/// kernel sent the frames the cooked header marks OUTGOING), and which frames those were.
fn own_host_note<W: WriteColor>(
    out: &mut W,
    order: &[(SocketAddr, SocketAddr)],
    followed: &[Followed],
) -> std::io::Result<()> {
    use encap::model::Side;
    for (k, f) in order.iter().zip(followed) {
        let addr = |s: Side| if s == Side::Client { k.0 } else { k.1 };
        let own: Vec<Side> = Side::BOTH
            .into_iter()
            .filter(|s| !f.own[s.index()].is_empty())
            .collect();
        let seen = own.len()
            + Side::BOTH
                .iter()
                .filter(|s| f.arrived[s.index()] > 0)
                .count();
        if seen == 0 {
            continue;
        }
        write!(out, "{} -> {}: ", k.0, k.1)?;
        if f.lo {
            writeln!(out, "both sides are this host (captured on lo: every frame went from this host to itself; a copy seen twice there, out and in, is checked once)")?;
            continue;
        }
        match own.as_slice() {
            [] => writeln!(out, "every frame arrived at the capture's host (packet type not OUTGOING): neither side is this host")?,
            [_, _] => writeln!(out, "both sides are this host (its kernel sent frames of each: packet type OUTGOING)")?,
            [s] => writeln!(
                out,
                "this host is the {} {}: its kernel sent frames {} (packet type OUTGOING); the {}'s {} frame(s) arrived",
                s.name(),
                addr(*s),
                ranges(&f.own[s.index()]),
                (!*s).name(),
                f.arrived[(!*s).index()]
            )?,
            _ => {}
        }
    }
    Ok(())
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
        linux: &args.linux,
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
    let mut verifier = Verifier::new(settings, transcript).with_linux(args.linux.clone());
    let mut udp = encap::udp_flows::UdpFlows::new();
    let mut followed: Vec<Followed> = Vec::new();
    let mut unchecked = 0u64;
    let mut neighbours = Neighbours::default();
    // (One buffer for every frame's JSON line.)
    let mut line: Vec<u8> = Vec::new();
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
            line.clear();
            verdicts::write_json_frame(&mut line, &check, stream);
            line.push(b'\n');
            out.write_all(&line)?;
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
        f.direction(check.from, p.link_type, p.data, p.number);
        let counts = check.counts();
        f.counts.merge(counts);
        f.frames += 1;
        let side = &mut f.sides[check.from.index()];
        side.0 += 1;
        side.1.merge(counts);
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
    for (stream, ((_, conn), f)) in verifier.connections().zip(&followed).enumerate() {
        verdicts::stacks(out, args.json, stream, conn, f.sides)?;
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
        own_host_note(out, &order, &followed)?;
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
