//! Several links of one path checked against the model (`encap verify` given several files, or
//! a pcapng with one interface per link; `encap lab demo`): each link's frames by its own
//! verifier (the TCP connections, ARP or neighbour discovery, what else the link carries
//! listed), and each packet the router forwarded checked hop by hop ([`encap::hops`]). Printed
//! per link, then the hops, then one summary row per link and one for the hops.

use std::io::BufReader;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use termcolor::WriteColor;

use crate::chat::verify::heading;
use encap::capfile::{CaptureReader, DECODED_LINK_TYPES};
use encap::hops::{HopCheck, Path};
use encap::layers::tcp::flag_names;
use encap::model::Counts;
use encap::render::{neighbour, verdicts};
use encap::verify::{Outcome, Transcript};

/// How the links are shown.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// Every field of every frame.
    pub verbose: bool,
    /// Each connection as a ladder of three columns, these: client's host, router, server's.
    pub ladder: Option<[&'a str; 3]>,
    /// The endpoints a Linux kernel runs (`--linux`); empty: each side told by its SYN.
    pub linux: &'a [encap::verify::LinuxEnd],
}

/// One captured frame of a link, in capture order over all links.
pub struct Framed<'a> {
    /// The link's index.
    pub link: usize,
    /// Its number, as its file counts it.
    pub number: u64,
    /// When it was captured.
    pub timestamp: Duration,
    /// Its link type (a pcap link type: hops are checked on Ethernet links).
    pub link_type: u32,
    /// Its bytes.
    pub data: &'a [u8],
}

/// Checks every frame of the links named `names` and prints it all; returns the number of
/// MISMATCH fields (0: every frame on every link as the model said).
///
/// # Errors
/// Output.
pub fn check_links<W: WriteColor>(
    out: &mut W,
    names: &[&str],
    router: &str,
    frames: &[Framed<'_>],
    transcript: Option<&Transcript>,
    view: View<'_>,
) -> std::io::Result<usize> {
    let mut path = Path::new(names.len(), None, transcript).with_linux(view.linux);
    let mut seen: Vec<(usize, u64, Outcome)> = Vec::new();
    let mut hops: Vec<HopCheck> = Vec::new();
    for f in frames {
        let n = f.number;
        let (outcome, hop) = path.feed(f.link, n, Some(f.timestamp), f.link_type, f.data);
        seen.push((f.link, n, outcome));
        hops.extend(hop);
    }
    let mut rows = Vec::new();
    for (l, name) in names.iter().enumerate() {
        let on_link = seen.iter().filter(|(link, ..)| *link == l);
        rows.extend(link_section(
            out,
            name,
            on_link,
            &path.links()[l],
            view.verbose,
        )?);
    }
    rows.extend(hop_section(out, names, router, &seen, &hops)?);
    if let Some(columns) = view.ladder {
        ladders(out, columns, &seen, &hops, &path)?;
    }
    heading(out, "summary")?;
    verdicts::connections(out, &rows)?;
    Ok(rows.iter().map(|r| r.counts.mismatch).sum::<usize>())
}

/// One link's frames, each as its verdict line (or table); returns the link's summary rows: one
/// per connection, one for its ARP or neighbour discovery.
fn link_section<'a, W: WriteColor>(
    out: &mut W,
    name: &str,
    seen: impl Iterator<Item = &'a (usize, u64, Outcome)>,
    verifier: &encap::verify::Verifier,
    verbose: bool,
) -> std::io::Result<Vec<verdicts::ConnectionRow>> {
    heading(
        out,
        &format!("link {name}: every frame checked against the model"),
    )?;
    let (mut nb, mut nb_frames) = (Counts::default(), 0);
    let (mut big, mut big_frames) = (Counts::default(), 0);
    let mut conn: Vec<(usize, Counts)> = Vec::new();
    let mut sides: Vec<[(usize, Counts); 2]> = Vec::new();
    for (_, n, o) in seen {
        match o {
            Outcome::Checked(stream, c) => {
                if verbose {
                    verdicts::table(out, c)?;
                } else {
                    verdicts::summary(out, c)?;
                }
                if conn.len() <= *stream {
                    conn.resize(stream + 1, (0, Counts::default()));
                }
                conn[*stream].0 += 1;
                conn[*stream].1.merge(c.counts());
                sides.resize(conn.len(), Default::default());
                let side = &mut sides[*stream][c.from.index()];
                side.0 += 1;
                side.1.merge(c.counts());
            }
            Outcome::Neighbour(c) => {
                if verbose {
                    neighbour::table(out, c)?;
                } else {
                    neighbour::summary(out, c)?;
                }
                nb.merge(c.counts());
                nb_frames += 1;
            }
            Outcome::TooBig(c) => {
                if verbose {
                    neighbour::table(out, c)?;
                } else {
                    neighbour::summary(out, c)?;
                }
                big.merge(c.counts());
                big_frames += 1;
            }
            Outcome::Listed(what, _) => neighbour::listed(out, *n, what)?,
            Outcome::NotChecked(e) => writeln!(out, "frame {n}: NOT CHECKED: {e}")?,
            Outcome::Skipped => writeln!(
                out,
                "frame {n}: not TCP, ARP or neighbour discovery: not checked"
            )?,
        }
    }
    let mut rows = Vec::new();
    for (stream, ((key, c), (frames, counts))) in
        verifier.connections().zip(conn.iter_mut()).enumerate()
    {
        counts.mismatch += verdicts::open_gaps(out, c)?;
        counts.mismatch += verdicts::unsent(out, c)?;
        verdicts::stacks(out, false, stream, c, sides[stream])?;
        rows.push(verdicts::ConnectionRow {
            name: format!("{name} {} -> {}", key.0, key.1),
            frames: *frames,
            counts: *counts,
        });
    }
    if nb_frames > 0 {
        rows.push(verdicts::ConnectionRow {
            name: format!("{name} ARP / neighbour discovery"),
            frames: nb_frames,
            counts: nb,
        });
    }
    if big_frames > 0 {
        rows.push(verdicts::ConnectionRow {
            name: format!("{name} {}", crate::cmd::verify::TOO_BIG_ROW),
            frames: big_frames,
            counts: big,
        });
    }
    Ok(rows)
}

/// One line per packet the router forwarded, with its MISMATCH lines; the summary row of them.
fn hop_section<W: WriteColor>(
    out: &mut W,
    names: &[&str],
    router: &str,
    seen: &[(usize, u64, Outcome)],
    hops: &[HopCheck],
) -> std::io::Result<Option<verdicts::ConnectionRow>> {
    heading(
        out,
        &format!("at {router}: each packet it forwarded, checked hop by hop"),
    )?;
    let mut hc = Counts::default();
    for h in hops {
        let c = h.counts();
        hc.merge(c);
        // (The segment's flags: the forwarded copy's, or for a drop the refused one's.)
        let segment = if h.dropped.is_some() {
            h.before
        } else {
            h.after
        };
        let flags = seen
            .iter()
            .find(|(l, n, _)| (*l, *n) == segment)
            .and_then(|(.., o)| match o {
                Outcome::Checked(_, c) => Some(flag_names(c.flags)),
                _ => None,
            })
            .unwrap_or_default();
        let arrow = if h.dropped.is_some() {
            format!("-> {} ({} frame {})", router, names[h.after.0], h.after.1)
        } else {
            format!("-> {} frame {}", names[h.after.0], h.after.1)
        };
        write!(
            out,
            "TCP [{flags}] {} frame {} {arrow}: {}; ",
            names[h.before.0],
            h.before.1,
            h.line(router)
        )?;
        verdicts::tally(out, c)?;
        verdicts::mismatch_lines(out, h.after.1, &h.fields)?;
    }
    Ok((!hops.is_empty()).then(|| verdicts::ConnectionRow {
        name: format!("hops at {router}"),
        frames: hops.len(),
        counts: hc,
    }))
}

/// Each connection of the first link drawn across the router, one row per segment that crossed.
fn ladders<W: WriteColor>(
    out: &mut W,
    columns: [&str; 3],
    seen: &[(usize, u64, Outcome)],
    hops: &[HopCheck],
    path: &Path,
) -> std::io::Result<()> {
    let check = |at: (usize, u64)| {
        seen.iter().find_map(|(l, n, o)| match o {
            Outcome::Checked(stream, c) if (*l, *n) == at => Some((*stream, c)),
            _ => None,
        })
    };
    let labels: Vec<String> = hops
        .iter()
        .map(|h| match h.dropped {
            Some(mtu) => format!("dropped: MTU {mtu}, ICMP back"),
            None => format!(
                "{} {}",
                if h.checksum.is_some() {
                    "TTL"
                } else {
                    "hop limit"
                },
                h.hops.1
            ),
        })
        .collect();
    for (stream, (key, _)) in path.links()[0].connections().enumerate() {
        let rows: Vec<encap::render::ladder3::Crossing<'_>> = hops
            .iter()
            .zip(&labels)
            .filter_map(|(h, hops)| {
                let sent = check(h.before)?;
                // (A packet r dropped has no copy beyond it: drawn when sent on the first link.)
                let forwarded = match h.dropped {
                    Some(_) if h.before.0 == 0 => None,
                    Some(_) => return None,
                    None => Some(check(h.after)?),
                };
                let on_first = match forwarded {
                    Some(f) if h.before.0 != 0 => f.0,
                    _ => sent.0,
                };
                (on_first == stream).then_some(encap::render::ladder3::Crossing {
                    sent: sent.1,
                    forwarded: forwarded.map(|f| f.1),
                    hops,
                })
            })
            .collect();
        if rows.is_empty() {
            continue;
        }
        heading(
            out,
            &format!(
                "{} -> {} across {}: the ladder (frame numbers: sent/forwarded)",
                key.0, key.1, columns[1]
            ),
        )?;
        encap::render::ladder3::write(
            out,
            columns,
            (&key.0.to_string(), &key.1.to_string()),
            &rows,
        )?;
    }
    Ok(())
}

/// True when `file` holds several links: a pcapng capture that describes more than one
/// interface before its first frame (as `encap lab demo -w` writes it: one per link), a
/// LINUX_SLL2 capture (`tcpdump -i any`) of more than one interface index, or a LINUX_SLL one
/// taken on a router (a packet that came in seen again going out, one hop less).
///
/// # Errors
/// The file cannot be opened or read.
pub fn several_interfaces(file: &std::path::Path) -> anyhow::Result<bool> {
    let f = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let mut r = CaptureReader::with_link_types(BufReader::new(f), &DECODED_LINK_TYPES)
        .with_context(|| file.display().to_string())?;
    let mut cooked = encap::hops::CookedLinks::default();
    // The first frames tell: a router forwards within a few frames of the first connection.
    for _ in 0..COOKED_SCAN {
        let several = match r.next_packet() {
            Ok(Some(p)) => cooked.see(p.link_type, p.data),
            _ => break,
        };
        if several || r.interfaces() > 1 {
            return Ok(true);
        }
    }
    Ok(r.interfaces() > 1)
}

/// How many frames of a cooked capture [`several_interfaces`] reads to tell a router's capture.
const COOKED_SCAN: usize = 4096;

/// `encap verify` over several links: each file, and each interface of a pcapng, is one link,
/// named by its interface's name (or the file's). Frames are taken in time order over all links.
///
/// # Errors
/// A file cannot be read, or output.
pub fn run<W: WriteColor>(
    files: &[&std::path::Path],
    router: &str,
    transcript: Option<&Transcript>,
    view: View<'_>,
    out: &mut W,
) -> anyhow::Result<ExitCode> {
    let mut names: Vec<String> = Vec::new();
    let mut frames: Vec<(usize, Duration, u32, Vec<u8>, u64)> = Vec::new();
    for file in files {
        let shown = file.display().to_string();
        let short = file
            .file_name()
            .map_or_else(|| shown.clone(), |n| n.to_string_lossy().into_owned());
        let f = std::fs::File::open(file).with_context(|| format!("cannot open {shown}"))?;
        let mut r = CaptureReader::with_link_types(BufReader::new(f), &DECODED_LINK_TYPES)
            .with_context(|| shown.clone())?;
        let base = names.len();
        let mut keys: Vec<(u32, Option<u32>)> = Vec::new();
        let first = frames.len();
        while let Some(p) = r
            .next_packet()
            .with_context(|| format!("{shown}: stopped early"))?
        {
            // A cooked capture of several interfaces (SLL2): one link per interface index.
            let sub = match encap::layers::link::Cooked::parse(p.link_type, p.data) {
                Some(encap::layers::link::Cooked {
                    ifindex: Some(i), ..
                }) => Some(i),
                _ => None,
            };
            let key = (p.interface, sub);
            let at = match keys.iter().position(|k| *k == key) {
                Some(at) => at,
                None => {
                    keys.push(key);
                    keys.len() - 1
                }
            };
            frames.push((
                base + at,
                p.timestamp,
                p.link_type,
                p.data.to_vec(),
                p.number,
            ));
        }
        // The links in the order of their interfaces (and interface indexes).
        let mut sorted: Vec<usize> = (0..keys.len()).collect();
        sorted.sort_by_key(|&k| keys[k]);
        for f in frames.iter_mut().skip(first) {
            f.0 = base + sorted.iter().position(|&k| k == f.0 - base).unwrap_or(0);
        }
        for &(i, sub) in sorted.iter().map(|&k| &keys[k]) {
            let mut name = match r.interface_name(i as usize) {
                Some(n) if !n.is_empty() => n.to_string(),
                _ if r.interfaces() > 1 => format!("{short}#{i}"),
                _ => short.clone(),
            };
            if let Some(ifindex) = sub {
                name += &format!(" ifindex {ifindex}");
            }
            names.push(name);
        }
    }
    // Time order over all links, a link's own frames in their order, a forwarded copy after
    // the copy it came from.
    let order = {
        let keyed: Vec<(usize, Duration, u32, &[u8])> = frames
            .iter()
            .map(|f| (f.0, f.1, f.2, f.3.as_slice()))
            .collect();
        encap::hops::causal_order(&keyed)
    };
    let framed: Vec<Framed<'_>> = order
        .iter()
        .map(|&i| &frames[i])
        .filter(|f| f.0 < names.len())
        .map(|f| Framed {
            link: f.0,
            number: f.4,
            timestamp: f.1,
            link_type: f.2,
            data: &f.3,
        })
        .collect();
    if framed.is_empty() {
        eprintln!(
            "encap: nothing in {} could be checked: no frames",
            files.len()
        );
        return Ok(ExitCode::from(2));
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mismatches = check_links(out, &refs, router, &framed, transcript, view)?;
    out.flush()?;
    Ok(if mismatches > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
