//! What each fuzz target does with its input, in one place: the libFuzzer targets in
//! `fuzz_targets/` call these, and `tests/fuzz_corpus.rs` (on stable, in every `cargo test`)
//! includes this file and replays the committed corpus through the same functions.
//!
//! A function here panics only when the library does, or when an invariant it checks fails.

use std::io::Cursor;
use std::time::Duration;

use encap::capfile::CaptureReader;
use encap::dissect::{dissect as dissect_frame, ports, slice};
use encap::framing::{Ending, LineFramer, Message};
use encap::model::TcpSettings;
use encap::render::frames::{json_into, write_frame, Frame, FrameOptions};
use encap::verify::{Transcript, Verifier};
use termcolor::NoColor;

/// The dissector on any bytes: slicing, the layer tree, and every renderer of a captured frame
/// (one line, the layer tree, the hex dump, JSON).
pub fn dissect(data: &[u8]) {
    let s = slice(data);
    let _ = (s.payload(), s.ports(), s.original_len(), ports(data));
    let _ = (s.cut_tcp("tcp.seq_raw"), s.cut_tcp("tcp.flags"));
    let d = dissect_frame(data);
    for n in &d.nodes {
        assert!(
            n.range.end <= data.len(),
            "{:?} ends past the frame",
            n.layer
        );
    }
    let frame = Frame {
        number: 1,
        timestamp: Duration::from_micros(1_700_000_000_000_000),
        data,
        orig_len: data.len(),
        utc_offset: 0,
        link_type: encap::layers::link::link_type::ETHERNET,
    };
    for (verbose, hex) in [(false, false), (true, true)] {
        let opts = FrameOptions {
            verbose,
            hex,
            json: false,
            date: verbose,
            link: hex,
        };
        let mut out = NoColor::new(Vec::new());
        write_frame(&mut out, &frame, &opts).expect("writing into memory");
    }
    // `--json` writes a frame of the common shape straight from the field tables, any other from
    // the map (`json`): either way it must be the map's line, byte for byte.
    let opts = FrameOptions {
        verbose: false,
        hex: false,
        json: true,
        date: false,
        link: false,
    };
    let mut line = NoColor::new(Vec::new());
    write_frame(&mut line, &frame, &opts).expect("writing into memory");
    let mut map = Vec::new();
    json_into(&mut map, &frame, &s, false).expect("writing into memory");
    map.push(b'\n');
    if *line.get_ref() != map {
        assert_eq!(
            String::from_utf8_lossy(line.get_ref()),
            String::from_utf8_lossy(&map),
            "the JSON written from the field tables differs from the map's"
        );
    }
}

/// The capture-file reader on any file: every frame to the end or the first error, whose message
/// is formatted too.
pub fn capfile(data: &[u8]) {
    let mut r = match CaptureReader::new(Cursor::new(data)) {
        Ok(r) => r,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let _ = r.format();
    let mut last = 0;
    loop {
        match r.next_packet() {
            Ok(Some(p)) => {
                assert!(p.number > last, "frame numbers increase");
                last = p.number;
            }
            Ok(None) => break,
            Err(e) => {
                let _ = e.to_string();
                break;
            }
        }
        assert!(r.offset() <= data.len() as u64, "offset past the end");
    }
}

/// Reads a big-endian `u16` length and that many bytes (fewer at the end of the input).
fn take_record<'a>(data: &mut &'a [u8]) -> Option<&'a [u8]> {
    let (len, rest) = match data {
        [a, b, rest @ ..] => (usize::from(u16::from_be_bytes([*a, *b])), rest),
        _ => return None,
    };
    let (rec, rest) = rest.split_at(len.min(rest.len()));
    *data = rest;
    Some(rec)
}

/// The model fed any sequence of frames. The input: a flags byte (bit 0: host settings, from the
/// next 16 bytes; bit 1: a transcript, from the next two records, each split at `\n` into
/// writes, client then server), then records of a `u16` length, a time step in milliseconds
/// (`0xff`: no time) and the frame.
pub fn verify(data: &[u8]) {
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let settings = if flags & 1 == 1 && rest.len() >= 16 {
        let (b, r) = rest.split_at(16);
        rest = r;
        let n = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Some(TcpSettings {
            tcp_rmem: [n(0), n(4), n(8)],
            rmem_max: n(12),
        })
    } else {
        None
    };
    let transcript: Option<Transcript> = if flags & 2 == 2 {
        let mut writes = || -> Vec<Vec<u8>> {
            let rec = take_record(&mut rest).unwrap_or_default();
            rec.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect()
        };
        Some([writes(), writes()])
    } else {
        None
    };
    let mut v = Verifier::new(settings, transcript);
    let mut now = Duration::ZERO;
    let mut number = 0;
    while let Some((&step, r)) = rest.split_first() {
        rest = r;
        let Some(frame) = take_record(&mut rest) else {
            break;
        };
        number += 1;
        now += Duration::from_millis(u64::from(step));
        let _ = v.feed(number, (step != 0xff).then_some(now), frame);
    }
    for (_, conn) in v.connections() {
        let _ = (conn.open_gaps(), conn.open_ids());
    }
}

/// The chat's framing of any byte stream. The input: the longest line (4 + 4 × the first byte),
/// then pieces as they would arrive, each a length byte and that many bytes; a length byte of 0
/// is the peer going quiet for a moment. Checks that the messages give back the stream byte for
/// byte, that none is longer than the limit, and that parts are numbered 1, 2, 3...
pub fn framing(data: &[u8]) {
    let Some((&m, mut rest)) = data.split_first() else {
        return;
    };
    let max = 4 + 4 * usize::from(m);
    let mut f = LineFramer::new(max);
    let (mut sent, mut out) = (Vec::new(), Vec::new());
    while let Some((&n, r)) = rest.split_first() {
        if n == 0 {
            rest = r;
            if f.wants_idle_flush() {
                out.extend(f.flush(Ending::Idle));
            }
            continue;
        }
        let (piece, r) = r.split_at(usize::from(n).min(r.len()));
        rest = r;
        sent.extend_from_slice(piece);
        f.push(piece, &mut out);
    }
    out.extend(f.flush(Ending::Eof));
    check_messages(&out, &sent, max);
}

fn check_messages(out: &[Message], sent: &[u8], max: usize) {
    let mut got = Vec::new();
    let mut next_part = 1;
    for m in out {
        assert!(m.text.len() <= max, "a message longer than the limit");
        got.extend_from_slice(&m.text);
        if m.ending == Ending::Newline {
            got.push(b'\n');
        }
        match m.part {
            Some(p) => {
                assert_eq!(p.index, next_part, "parts numbered in order");
                assert_eq!(
                    p.last,
                    m.ending != Ending::Cut,
                    "only the last part ends the line"
                );
                next_part = if p.last { 1 } else { p.index + 1 };
            }
            None => assert_eq!(next_part, 1, "a whole message inside a cut line"),
        }
    }
    assert_eq!(got, sent, "the messages give back the stream");
}
