//! `encap verify FILE`: the model's prediction of every frame of every TCP connection in a
//! capture, checked field by field against what the kernel sent.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use termcolor::WriteColor;

use encap::capfile::CaptureReader;
use encap::model::{connection_key, Connection, Counts, FrameCheck, TcpSettings};
use encap::render::{ladder, verdicts};

/// Arguments of `encap verify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A pcap or pcapng capture (ours, or tcpdump's of any program) of link type Ethernet.
    pub file: PathBuf,
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

struct Followed {
    conn: Connection,
    checks: Vec<FrameCheck>,
    counts: Counts,
    frames: usize,
}

/// Runs `encap verify`: exit status 1 if any field is a MISMATCH (frames it could not check are
/// listed, and do not fail), 2 when nothing could be checked.
///
/// # Errors
/// The file cannot be read, or output fails.
pub fn run<W: WriteColor>(args: &Args, out: &mut W) -> anyhow::Result<ExitCode> {
    let name = args.file.display();
    let file = File::open(&args.file).with_context(|| format!("cannot open {name}"))?;
    let mut reader = CaptureReader::new(BufReader::new(file)).with_context(|| name.to_string())?;
    let mut order: Vec<(SocketAddr, SocketAddr)> = Vec::new();
    let mut conns: HashMap<(SocketAddr, SocketAddr), Followed> = HashMap::new();
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
    let mut unchecked = 0u64;
    let read = loop {
        let p = match reader.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        };
        if args.count.is_some_and(|c| p.number > c) {
            break Ok(());
        }
        let Some((src, dst)) = connection_key(p.data) else {
            skipped += 1;
            continue;
        };
        let key = if conns.contains_key(&(dst, src)) {
            (dst, src)
        } else {
            (src, dst)
        };
        let followed = conns.entry(key).or_insert_with(|| {
            order.push(key);
            let mut conn = Connection::new(key.0, key.1).with_settings(settings);
            if let Some(sent) = &transcript {
                for (side, writes) in sent.iter().enumerate() {
                    for w in writes {
                        conn.expect_sent(side, w);
                    }
                }
            }
            Followed {
                conn,
                checks: Vec::new(),
                counts: Counts::default(),
                frames: 0,
            }
        });
        let check = match followed
            .conn
            .observe_at(p.number, Some(p.timestamp), p.data)
        {
            Ok(c) => c,
            Err(e @ encap::model::ModelError::Duplicate(..)) => {
                if args.json {
                    let o =
                        serde_json::json!({"frame.number": p.number, "duplicate": e.to_string()});
                    writeln!(out, "{o}")?;
                } else {
                    writeln!(out, "{e}")?;
                }
                continue;
            }
            Err(e) => {
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
            let stream = order.iter().position(|k| *k == key).unwrap_or(0);
            writeln!(out, "{}", verdicts::json_frame(&check, stream))?;
        } else if args.verbose {
            verdicts::table(out, &check)?;
        } else {
            verdicts::summary(out, &check)?;
        }
        followed.counts.merge(check.counts());
        followed.frames += 1;
        if args.ladder {
            followed.checks.push(check);
        }
    };
    // Bytes a frame skipped that no later frame brought: reported once all frames are seen.
    if !args.json {
        for k in &order {
            if let Some(f) = conns.get_mut(k) {
                let n = verdicts::open_gaps(out, &f.conn)?;
                f.counts.mismatch += n;
            }
        }
    } else {
        for k in &order {
            if let Some(f) = conns.get_mut(k) {
                for g in f.conn.open_gaps() {
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
                for (frame, _, ids) in f.conn.open_ids() {
                    let o = serde_json::json!({"frame.number": frame, "field": "ip.id", "skipped": ids, "verdict": "MISMATCH", "reason": "it skipped IP IDs no later frame carried (a wrong IP ID, or a frame the capture missed)"});
                    writeln!(out, "{o}")?;
                    f.counts.mismatch += 1;
                }
            }
        }
    }
    let rows: Vec<verdicts::ConnectionRow> = order
        .iter()
        .filter_map(|k| {
            conns.get(k).map(|f| verdicts::ConnectionRow {
                name: format!("{} -> {}", k.0, k.1),
                frames: f.frames,
                counts: f.counts,
            })
        })
        .collect();
    if args.json {
        for (i, r) in rows.iter().enumerate() {
            writeln!(out, "{}", verdicts::json_connection(r, i))?;
        }
    } else {
        writeln!(out)?;
        verdicts::connections(out, &rows)?;
    }
    if skipped > 0 && !args.json {
        writeln!(out, "({skipped} frames were not checked: not TCP over IPv4 or IPv6, or cut short or malformed, as `encap decode` shows)")?;
    }
    if unchecked > 0 && !args.json {
        writeln!(
            out,
            "({unchecked} frames of TCP connections could not be checked, each said why above)"
        )?;
    }
    if args.ladder {
        for k in &order {
            if let Some(f) = conns.get(k) {
                writeln!(out)?;
                ladder::write(out, &k.0.to_string(), &k.1.to_string(), &f.checks)?;
            }
        }
    }
    out.flush()?;
    // The summary of every good frame is out; now the file's own problem, if it had one.
    read.with_context(|| format!("{name}: stopped early"))?;
    let mismatches: usize = rows.iter().map(|r| r.counts.mismatch).sum();
    let checked: usize = rows.iter().map(|r| r.frames).sum();
    if checked == 0 {
        eprintln!(
            "encap: nothing in {name} could be checked: no well-formed TCP frame over IPv4 or IPv6"
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
