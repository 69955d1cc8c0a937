//! The mutation test of issue 9: every frame of every capture in `captures/`, each field kind
//! edited as a differently behaving kernel would have sent it (the IPv4 header checksum
//! recomputed), verified again. Each edit must be named at that frame and that field; where
//! the model declares the field kernel-chosen in that frame (an ISN, a first IP ID...), the
//! edit is listed as an exception with the model's reason.

mod common;

use std::collections::HashSet;
use std::fs::File;
use std::io::BufReader;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use encap::capfile::CaptureReader;
use encap::dissect::dissect_link;
use encap::layers::{ipv4, ipv6, payload, tcp, Field};
use encap::model::{TcpSettings, Verdict};
use encap::verify::{Outcome, Transcript, Verifier};

/// Number, time, link type, bytes.
type Frame = (u64, Duration, u32, Vec<u8>);

fn captures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        // A router's `tcpdump -i any` is two links in one file, each packet twice: verify checks
        // it with its links apart and hop by hop (tests/cooked.rs edits a forwarded TTL there),
        // not with the one verifier this test drives. Link r-b beyond a router that dropped
        // packets: alone it lacks the bytes and IP IDs they carried, which only link a-r's
        // capture accounts for (checked together in tests/neighbour.rs).
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let router_any = name.starts_with("lab-any") && name.ends_with("-r.pcap");
            let beyond_drop = name.starts_with("lab-mtu1400") && name.ends_with("-r-b.pcap");
            !(router_any || beyond_drop)
        })
        .collect();
    v.sort();
    v
}

fn frames(path: &Path) -> Vec<Frame> {
    let file = BufReader::new(File::open(path).unwrap());
    let mut r = CaptureReader::with_link_types(file, &encap::capfile::DECODED_LINK_TYPES).unwrap();
    let mut out = Vec::new();
    while let Some(p) = r.next_packet().unwrap() {
        out.push((p.number, p.timestamp, p.link_type, p.data.to_vec()));
    }
    out
}

fn settings() -> TcpSettings {
    let (rmem, max) = common::capture_settings();
    TcpSettings::parse(&rmem, &max).unwrap()
}

fn transcript(capture: &Path) -> Option<Transcript> {
    let stem = capture.file_stem()?.to_str()?;
    let path = capture.with_file_name(format!("{stem}.transcript.jsonl"));
    let text = std::fs::read_to_string(path).ok()?;
    let mut t: Transcript = [Vec::new(), Vec::new()];
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let side = usize::from(v["from"] == "server");
        t[side].push(v["text"].as_str().unwrap().as_bytes().to_vec());
    }
    Some(t)
}

/// What verify says of a capture: each field's verdict per frame (every frame's in the unedited
/// run, the edited frame's in an edit's), and where it found a MISMATCH (frame, field),
/// including gaps and skipped IP IDs reported at the end.
struct Verified {
    verdicts: Vec<(u64, String, Verdict)>,
    mismatches: HashSet<(u64, String)>,
    not_checked: HashSet<u64>,
}

/// The verifier of the unedited capture as it was before each frame, and what it said.
fn verify(frames: &[Frame], t: &Option<Transcript>) -> (Vec<Verifier>, Verified) {
    let mut v = Verifier::new(Some(settings()), t.clone());
    let mut before = Vec::with_capacity(frames.len());
    let mut out = Verified {
        verdicts: Vec::new(),
        mismatches: HashSet::new(),
        not_checked: HashSet::new(),
    };
    for frame in frames {
        before.push(v.clone());
        feed(&mut v, frame, true, &mut out);
    }
    close(&v, &mut out);
    (before, out)
}

/// Frame `frame` through `v`, what it says added to `out` (its every verdict if `all`, else
/// only its MISMATCHes).
fn feed(v: &mut Verifier, frame: &Frame, all: bool, out: &mut Verified) {
    let (n, time, link, data) = frame;
    match v.feed_link(*n, Some(*time), *link, data) {
        Outcome::Checked(_, check) => {
            for r in &check.revisions {
                out.mismatches.insert((r.frame, r.key.to_string()));
            }
            // (Building a frame's fields for showing costs more than verifying it: only the
            // frames asked for, and those with a MISMATCH, are built.)
            if !all && check.counts().mismatch == check.revisions.len() {
                return;
            }
            for f in check.fields().iter().cloned() {
                if matches!(f.verdict, Verdict::Mismatch { .. }) {
                    out.mismatches.insert((*n, f.field.key.to_string()));
                }
                if all {
                    out.verdicts.push((*n, f.field.key.to_string(), f.verdict));
                }
            }
        }
        Outcome::NotChecked(_) => {
            out.not_checked.insert(*n);
        }
        Outcome::Skipped | Outcome::Neighbour(_) | Outcome::TooBig(_) | Outcome::Listed(..) => {}
    }
}

/// The gaps and skipped IP IDs left open at the end of the capture.
fn close(v: &Verifier, out: &mut Verified) {
    for (_, conn) in v.connections() {
        for g in conn.open_gaps() {
            out.mismatches.insert((g.frame, g.key().to_string()));
        }
        for (frame, _, _) in conn.open_ids() {
            out.mismatches.insert((frame, ipv4::key::ID.to_string()));
        }
    }
}

/// The capture with frame `i` edited, verified from the unedited run's state before that frame
/// (the frames before it say what they said unedited: nothing but their frames not checked).
/// It stops at the edited frame if that names `key` there: nothing later can unname it.
fn verify_edit(cap: &Capture, i: usize, edited: Vec<u8>, key: &str) -> Verified {
    let mut v = cap.before[i].clone();
    let prefix: Vec<u64> = cap.all[..i].iter().map(|f| f.0).collect();
    let mut out = Verified {
        verdicts: Vec::new(),
        mismatches: HashSet::new(),
        not_checked: cap
            .base
            .not_checked
            .iter()
            .filter(|n| prefix.contains(n))
            .copied()
            .collect(),
    };
    let (n, time, link, _) = &cap.all[i];
    feed(&mut v, &(*n, *time, *link, edited), true, &mut out);
    if out.mismatches.contains(&(*n, key.to_string())) {
        return out;
    }
    for frame in &cap.all[i + 1..] {
        feed(&mut v, frame, false, &mut out);
    }
    close(&v, &mut out);
    out
}

/// One edit: the field's key, a name for the report, and the new value from the old.
struct Edit {
    key: &'static str,
    what: &'static str,
    /// How many bytes at the end of the field's row hold its value (an option row includes
    /// the option's kind and length).
    width: usize,
    new: fn(u64) -> u64,
}

const FLAGS: [(&str, u16); 8] = [
    ("FIN", tcp::field::FLG_FIN),
    ("SYN", tcp::field::FLG_SYN),
    ("RST", tcp::field::FLG_RST),
    ("PSH", tcp::field::FLG_PSH),
    ("ACK", tcp::field::FLG_ACK),
    ("URG", tcp::field::FLG_URG),
    ("ECE", tcp::field::FLG_ECE),
    ("CWR", tcp::field::FLG_CWR),
];

fn edits() -> Vec<Edit> {
    vec![
        Edit {
            key: ipv4::key::TTL,
            what: "TTL",
            width: 1,
            new: |v| if v == 64 { 128 } else { 64 },
        },
        Edit {
            key: ipv6::key::HLIM,
            what: "hop limit",
            width: 1,
            new: |v| if v == 64 { 128 } else { 64 },
        },
        Edit {
            key: ipv4::key::ID,
            what: "IP ID",
            width: 2,
            new: |v| (v + 1) & 0xffff,
        },
        Edit {
            key: ipv4::key::DSCP,
            what: "DSCP",
            width: 1,
            new: |v| if v == 0 { 46 } else { 0 },
        },
        Edit {
            key: ipv6::key::TCLASS,
            what: "traffic class",
            width: 4,
            new: |v| if v == 0 { 46 << 2 } else { 0 },
        },
        Edit {
            key: tcp::key::SEQ_RAW,
            what: "seq",
            width: 4,
            new: |v| (v + 1) & 0xffff_ffff,
        },
        Edit {
            key: tcp::key::ACK_RAW,
            what: "ack",
            width: 4,
            new: |v| (v + 1) & 0xffff_ffff,
        },
        Edit {
            key: tcp::key::WINDOW,
            what: "window",
            width: 2,
            new: |v| if v == 0 { 1 } else { v - 1 },
        },
        Edit {
            key: tcp::key::URGENT,
            what: "urgent pointer",
            width: 2,
            new: |v| if v == 0 { 1 } else { 0 },
        },
        Edit {
            key: tcp::key::TSVAL,
            what: "TSval",
            width: 4,
            new: |v| (v + 1000) & 0xffff_ffff,
        },
        Edit {
            key: tcp::key::TSECR,
            what: "TSecr",
            width: 4,
            new: |v| (v + 1) & 0xffff_ffff,
        },
        Edit {
            key: tcp::key::MSS_VAL,
            what: "MSS",
            width: 2,
            new: |v| v - 1,
        },
        Edit {
            key: tcp::key::WSCALE_SHIFT,
            what: "window scale",
            width: 1,
            new: |v| (v + 1) % 15,
        },
    ]
}

/// Writes `value` into the last `width` bytes of `field`'s row, then refreshes the IPv4 header
/// checksum; false when the frame has no such field.
fn apply(frame: &mut [u8], link: u32, field: &Field, width: usize, value: u64) -> bool {
    let mut f = field.clone();
    if f.bytes.len() > width && f.mask.is_none() {
        f.bytes = f.bytes.end - width..f.bytes.end;
    }
    if !f.write(frame, value) {
        return false;
    }
    if let Some(ip) = dissect_link(frame, link)
        .nodes
        .iter()
        .find(|n| n.layer == encap::layers::Layer::Ipv4)
    {
        if let Some(first) = ip.fields.first() {
            ipv4::refresh_checksum(&mut frame[first.bytes.start..]);
        }
    }
    true
}

/// Every edit of frame `i`: what was changed, the field key it must be named at, the new frame.
fn mutants(frame: &[u8], link: u32, with_transcript: bool) -> Vec<(String, String, Vec<u8>)> {
    let tree = dissect_link(frame, link);
    let fields: Vec<&Field> = tree.nodes.iter().flat_map(|n| n.fields.iter()).collect();
    let find = |key: &str| fields.iter().copied().find(|f| f.key == key);
    let mut out = Vec::new();
    // Only the frames the model checks: TCP segments (a link's ARP and MLD frames are listed,
    // not judged).
    if find(tcp::key::SRCPORT).is_none() {
        return out;
    }
    for e in edits() {
        let Some(f) = find(e.key) else { continue };
        let Some(old) = f.number() else { continue };
        let mut m = frame.to_vec();
        if apply(&mut m, link, f, e.width, (e.new)(old)) && m != frame {
            out.push((e.what.to_string(), e.key.to_string(), m));
        }
    }
    if let Some(f) = find(tcp::key::FLAGS) {
        let old = f.number().unwrap_or(0);
        for (name, bit) in FLAGS {
            let mut m = frame.to_vec();
            if apply(&mut m, link, f, 2, old ^ u64::from(bit)) {
                out.push((format!("flag {name}"), tcp::key::FLAGS.to_string(), m));
            }
        }
    }
    if let (Some(f), true) = (find(payload::key::DATA), with_transcript) {
        let mut m = frame.to_vec();
        if let Some(b) = m.get_mut(f.bytes.start) {
            *b ^= 0x01;
            out.push(("a payload byte".into(), payload::key::DATA.into(), m));
        }
    }
    out
}

/// Edits no later frame can disprove, each with the reason.
fn undetectable(capture: &str, frame: u64, what: &str) -> Option<&'static str> {
    match (capture, frame, what) {
        ("scenario-latedata.pcap", 8, "flag FIN") => Some(
            "a FIN on the client's last segment, which the server answers with the control \
             socket's bare RST: it acknowledges nothing, and nothing follows it",
        ),
        ("scenario-overflow.pcap", 250..=262, "flag FIN") => Some(
            "a FIN on a client's last data segment sent again, which the server's control socket \
             answers with a bare RST (no socket took the connection): as in scenario-latedata, \
             nothing follows it",
        ),
        ("scenario-overflow.pcap", 34, "flag FIN") => Some(
            "a FIN on the server's ACK 121 ms before its real FIN: the client's ACK of it may wait \
             its longest delayed ACK (200 ms, TCP_DELACK_MAX), so nothing in between disproves it",
        ),
        (c, _, "flag FIN") if c.starts_with("lab-") => Some(
            "a FIN added to a side's last segment but one, on a real link: the model assumes no \
             delivery time there (as it does on lo), so the peer's ACK that leaves it out does not \
             disprove it",
        ),
        _ => None,
    }
}

#[derive(Default)]
struct Score {
    named: usize,
    elsewhere: Vec<String>,
    missed: Vec<String>,
    exceptions: Vec<String>,
    /// Edits of a followed peer's frames: named at their field, named elsewhere, its own choice.
    peer: [usize; 3],
}

impl Score {
    /// An edit of a peer's frame: named at its field, or elsewhere (its full checksum, a later
    /// frame), or a choice of its own (peer-chosen, or a flag a stack sets as it likes); never
    /// unnamed otherwise.
    fn peer(
        &mut self,
        label: &str,
        what: &str,
        named: bool,
        r: &Verified,
        before: Option<&(u64, String, Verdict)>,
    ) {
        let own_flag = ["flag PSH", "flag URG", "flag ECE", "flag CWR"].contains(&what);
        if named {
            self.peer[0] += 1;
        } else if !r.mismatches.is_empty() || !r.not_checked.is_empty() {
            self.peer[1] += 1;
        } else if own_flag || matches!(before, Some((_, _, Verdict::PeerChosen { .. }))) {
            self.peer[2] += 1;
        } else {
            self.missed.push(format!("{label} (a peer's frame)"));
        }
    }
}

/// A capture ready to be edited: its frames, its transcript, and what verify says of it unedited.
struct Capture {
    name: String,
    all: Vec<Frame>,
    /// It has a transcript (its payload bytes are edited too).
    transcript: bool,
    base: Verified,
    /// The unedited run's verifier before each frame.
    before: Vec<Verifier>,
}

fn prepare(path: &Path) -> Capture {
    let all = frames(path);
    let t = transcript(path);
    let (before, base) = verify(&all, &t);
    assert!(
        base.mismatches.is_empty(),
        "{}: unedited, {:?}",
        path.display(),
        base.mismatches
    );
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    Capture {
        name,
        all,
        transcript: t.is_some(),
        base,
        before,
    }
}

/// Every edit of frame `i` of a capture, each verified again with the capture's other frames.
fn score_frame(cap: &Capture, i: usize, score: &mut Score) {
    let Capture {
        name,
        all,
        transcript,
        base,
        ..
    } = cap;
    let n = &all[i].0;
    // A frame of a peer that is not Linux (issue 16): the model follows it, checking only
    // what every TCP must do; its edits are scored apart from the Linux side's.
    let peer_frame = base
        .verdicts
        .iter()
        .any(|(f, _, v)| f == n && matches!(v, Verdict::PeerChosen { .. }));
    for (what, key, m) in mutants(&all[i].3, all[i].2, *transcript) {
        let r = verify_edit(cap, i, m, &key);
        let label = format!("{name} frame {n}: {what} ({key})");
        let before = base.verdicts.iter().find(|(f, k, _)| f == n && *k == key);
        let after = r.verdicts.iter().find(|(f, k, _)| f == n && *k == key);
        if peer_frame {
            score.peer(
                &label,
                &what,
                r.mismatches.contains(&(*n, key.clone())),
                &r,
                before,
            );
            continue;
        }
        if let Some((_, _, Verdict::KernelChosen { why })) = before {
            score
                .exceptions
                .push(format!("{label}: kernel-chosen in this frame: {why}"));
        } else if let Some((_, _, Verdict::PeerChosen { why })) = before {
            // A peer that is not Linux (issue 16): its habits are its own.
            score
                .exceptions
                .push(format!("{label}: peer-chosen in this frame: {why}"));
        } else if r.mismatches.contains(&(*n, key.clone())) {
            score.named += 1;
        } else if !r.mismatches.is_empty() || !r.not_checked.is_empty() {
            let mut at: Vec<_> = r.mismatches.iter().collect();
            at.sort();
            at.truncate(6);
            let nc: Vec<_> = r.not_checked.iter().collect();
            score
                .elsewhere
                .push(format!("{label}: named at {at:?} not checked {nc:?}"));
        } else if let Some((_, _, Verdict::KernelChosen { why } | Verdict::PeerChosen { why })) =
            after
        {
            // The model says at that frame and field that the new value is a choice it
            // cannot check (an application's TTL on a socket's only frame...).
            score.exceptions.push(format!(
                "{label}: edited, declared kernel-chosen at this frame: {why}"
            ));
        } else if let Some(why) = undetectable(name, *n, &what) {
            score
                .exceptions
                .push(format!("{label}: no frame can show it: {why}"));
        } else {
            score.missed.push(label);
        }
    }
}

/// Every edit of every frame of the captures, the frames spread over the machine's threads (each
/// mutant verified from the state before its frame, see [`verify_edit`]); the score is put together in capture and
/// frame order, so its report reads as a single thread's would.
fn score_all(paths: &[PathBuf]) -> Score {
    let caps: Vec<Capture> = paths.iter().map(|p| prepare(p)).collect();
    let items: Vec<(usize, usize)> = caps
        .iter()
        .enumerate()
        .flat_map(|(c, cap)| (0..cap.all.len()).map(move |i| (c, i)))
        .collect();
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    let mut parts: Vec<(usize, Score)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&(c, i)) = items.get(k) else {
                            return done;
                        };
                        let mut part = Score::default();
                        score_frame(&caps[c], i, &mut part);
                        done.push((k, part));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a scoring thread panicked"))
            .collect()
    });
    parts.sort_by_key(|(k, _)| *k);
    let mut score = Score::default();
    for (_, p) in parts {
        score.named += p.named;
        score.elsewhere.extend(p.elsewhere);
        score.missed.extend(p.missed);
        score.exceptions.extend(p.exceptions);
        for (sum, n) in score.peer.iter_mut().zip(p.peer) {
            *sum += n;
        }
    }
    score
}

#[test]
fn every_edit_of_every_field_is_named_at_its_frame_and_field() {
    let score = score_all(&captures());
    let judged = score.named + score.elsewhere.len() + score.missed.len();
    let share = 100.0 * score.named as f64 / judged.max(1) as f64;
    println!(
        "mutation score: {} edits; named at frame and field {} ({share:.1}%), elsewhere {}, missed {}; exceptions {}",
        judged + score.exceptions.len(),
        score.named,
        score.elsewhere.len(),
        score.missed.len(),
        score.exceptions.len()
    );
    println!(
        "a peer's frames (not Linux, followed): {} edits named at frame and field, {} elsewhere, {} its own choice",
        score.peer[0], score.peer[1], score.peer[2]
    );
    for e in &score.elsewhere {
        println!("  elsewhere: {e}");
    }
    for e in &score.missed {
        println!("  missed: {e}");
    }
    for e in &score.exceptions {
        println!("  exception: {e}");
    }
    assert!(judged > 1000, "only {judged} edits judged");
    assert!(
        score.missed.is_empty(),
        "{} edits missed",
        score.missed.len()
    );
    assert!(share >= 97.0, "only {share:.1}% named at frame and field");
}
