//! The lab's links checked against the model: each link's frames by its own verifier (the TCP
//! connection, ARP or neighbour discovery, what else the link carries listed), and each packet r
//! forwarded checked hop by hop ([`encap::hops`]). Printed per link, then the hops, then one
//! summary row per link and one for the hops.

use std::time::Duration;

use termcolor::WriteColor;

use crate::chat::verify::heading;
use encap::hops::{HopCheck, Path};
use encap::layers::link::link_type;
use encap::layers::tcp::flag_names;
use encap::model::Counts;
use encap::render::{neighbour, verdicts};
use encap::verify::{Outcome, Transcript};

/// One captured frame of a link, in capture order over all links.
pub struct Framed<'a> {
    /// The link's index.
    pub link: usize,
    /// When it was captured.
    pub timestamp: Duration,
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
    transcript: &Transcript,
) -> std::io::Result<usize> {
    let mut path = Path::new(names.len(), None, Some(transcript));
    let mut numbers = vec![0u64; names.len()];
    let mut seen: Vec<(usize, u64, Outcome)> = Vec::new();
    let mut hops: Vec<HopCheck> = Vec::new();
    for f in frames {
        numbers[f.link] += 1;
        let n = numbers[f.link];
        let (outcome, hop) = path.feed(f.link, n, Some(f.timestamp), link_type::ETHERNET, f.data);
        seen.push((f.link, n, outcome));
        hops.extend(hop);
    }
    let mut rows = Vec::new();
    let mut mismatches = 0;
    for (l, name) in names.iter().enumerate() {
        heading(
            out,
            &format!("link {name}: every frame checked against the model"),
        )?;
        let (mut nb, mut nb_frames) = (Counts::default(), 0);
        let mut conn: Vec<(usize, Counts)> = Vec::new();
        for (_, n, o) in seen.iter().filter(|(link, ..)| *link == l) {
            match o {
                Outcome::Checked(stream, c) => {
                    verdicts::summary(out, c)?;
                    if conn.len() <= *stream {
                        conn.resize(stream + 1, (0, Counts::default()));
                    }
                    conn[*stream].0 += 1;
                    conn[*stream].1.merge(c.counts());
                }
                Outcome::Neighbour(c) => {
                    neighbour::summary(out, c)?;
                    nb.merge(c.counts());
                    nb_frames += 1;
                }
                Outcome::Listed(what, _) => neighbour::listed(out, *n, what)?,
                Outcome::NotChecked(e) => writeln!(out, "frame {n}: NOT CHECKED: {e}")?,
                Outcome::Skipped => writeln!(
                    out,
                    "frame {n}: not TCP, ARP or neighbour discovery: not checked"
                )?,
            }
        }
        let v = &path.links()[l];
        for ((key, c), (frames, counts)) in v.connections().zip(conn.iter_mut()) {
            counts.mismatch += verdicts::open_gaps(out, c)?;
            counts.mismatch += verdicts::unsent(out, c)?;
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
    }
    heading(
        out,
        &format!("at {router}: each packet it forwarded, checked hop by hop"),
    )?;
    let mut hc = Counts::default();
    for h in &hops {
        let c = h.counts();
        hc.merge(c);
        let flags = seen
            .iter()
            .find(|(l, n, _)| (*l, *n) == h.after)
            .and_then(|(.., o)| match o {
                Outcome::Checked(_, c) => Some(flag_names(c.flags)),
                _ => None,
            })
            .unwrap_or_default();
        write!(
            out,
            "TCP [{flags}] {} frame {} -> {} frame {}: {}; ",
            names[h.before.0],
            h.before.1,
            names[h.after.0],
            h.after.1,
            h.line(router)
        )?;
        verdicts::tally(out, c)?;
        verdicts::mismatch_lines(out, h.after.1, &h.fields)?;
    }
    if !hops.is_empty() {
        rows.push(verdicts::ConnectionRow {
            name: format!("hops at {router}"),
            frames: hops.len(),
            counts: hc,
        });
    }
    heading(out, "summary")?;
    verdicts::connections(out, &rows)?;
    mismatches += rows.iter().map(|r| r.counts.mismatch).sum::<usize>();
    Ok(mismatches)
}
