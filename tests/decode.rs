//! `encap decode` on the real captures in `captures/`, checked field by field against tshark, and
//! the decoder and file reader fed broken and random input.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{encap, have};
use encap::capfile::CaptureReader;
use proptest::prelude::*;
use serde_json::Value as Json;

fn captures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "captures/ should hold the recorded sessions"
    );
    files
}

fn decode_json(file: &Path) -> Vec<serde_json::Map<String, Json>> {
    common::decode_json(file, &[])
}

/// Every field name tshark knows.
fn tshark_fields() -> BTreeSet<String> {
    let out = Command::new("tshark")
        .arg("-G")
        .arg("fields")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split('\t').nth(2).map(str::to_owned))
        .collect()
}

#[test]
fn every_capture_agrees_with_tshark_field_by_field() {
    if !have("tshark", "every_capture_agrees_with_tshark") {
        return;
    }
    let known = tshark_fields();
    for file in captures() {
        let ours = decode_json(&file);
        let keys: BTreeSet<String> = ours
            .iter()
            .flat_map(|o| o.keys().cloned())
            .filter(|k| known.contains(k))
            // HTTP and its reassembly, on ports tshark does not take for HTTP unless told: in
            // tests/http.rs, with `-d`.
            .filter(|k| !k.starts_with("http.") && !k.starts_with("tcp.segment"))
            .filter(|k| !k.starts_with("tcp.reassembled"))
            // tshark gives SACK edges relative to the ISN, encap the numbers on the wire (as
            // tshark with tcp.relative_sequence_numbers:FALSE, which
            // json_has_every_sack_block_and_md5_mptcp_unknown_options_as_tshark compares).
            .filter(|k| k != "tcp.options.sack_le" && k != "tcp.options.sack_re")
            .collect();
        let keys: Vec<String> = keys.into_iter().collect();
        // SACK edges as on the wire (encap's tcp.options.sack_le/re, as its tcp.seq_raw):
        // tshark makes them relative to the ISN unless told.
        let theirs = common::tshark_fields(
            &file,
            &keys,
            &[
                "tcp.check_checksum:FALSE",
                "tcp.relative_sequence_numbers:FALSE",
            ],
        );
        assert_eq!(ours.len(), theirs.len(), "{}: frame count", file.display());
        let mut compared = 0;
        for (o, t) in ours.iter().zip(&theirs) {
            let n = &o["frame.number"];
            // An ICMP error quotes the datagram that caused it: tshark dissects the quoted IP and
            // UDP headers and calls only the quoted payload data, encap keeps the quote raw.
            // (ICMPv6's "packet too big", type 2, quotes the packet too.)
            let quotes = o.get("icmp.type").and_then(Json::as_u64) == Some(3)
                || matches!(o.get("icmpv6.type").and_then(Json::as_u64), Some(1 | 2));
            for (k, v) in o {
                let Some(tv) = t.get(k) else { continue };
                if quotes && k.starts_with("data.") {
                    continue;
                }
                if tv.is_empty() {
                    // tshark hands payloads to its application dissectors (HTTP...), so data.* may
                    // be absent there; every header field must be present.
                    assert!(
                        k.starts_with("data."),
                        "{}: frame {n}: tshark has no {k}, encap says {v}",
                        file.display()
                    );
                    continue;
                }
                assert!(
                    common::same_as_tshark(v, tv),
                    "{}: frame {n}: {k}: encap says {v}, tshark says {tv}",
                    file.display()
                );
                compared += 1;
            }
            // IPv6's fixed header has 8 fields, IPv4's 13 (its flags and fragment offset); the
            // lab's links carry ARP and MLD frames too, with fewer.
            let least = match (
                o.contains_key("tcp.srcport"),
                o.contains_key("ipv6.version"),
            ) {
                (false, _) => 5,
                (true, true) => 25,
                (true, false) => 30,
            };
            assert!(
                o.len() >= least,
                "{}: frame {n} has only {} fields",
                file.display(),
                o.len()
            );
        }
        eprintln!(
            "{}: {} frames, {compared} field values equal to tshark's",
            file.display(),
            ours.len()
        );
    }
}

#[test]
fn one_line_view_shows_the_chat() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/chat-hello-hi.pcap");
    let out = encap().arg("decode").arg(&file).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 16, "{text}");
    assert!(
        text.lines().next().unwrap().contains("Flags [S], seq"),
        "{text}"
    );
    assert!(text.contains("length 6: \"hello\\n\""), "{text}");
    assert!(text.contains("\"你好，服务器！\\n\""), "{text}");
    assert!(text.contains("Flags [F.]"), "{text}");
    let v = encap()
        .args(["decode", "-v", "-x", "-c", "4"])
        .arg(&file)
        .output()
        .unwrap();
    let v = String::from_utf8(v.stdout).unwrap();
    assert!(
        v.contains("[partial: pseudo-header sum left for checksum offload]"),
        "{v}"
    );
    assert!(v.contains("Option: MSS 65495"), "{v}");
    assert!(v.contains("tt tt tt"), "{v}");
}

/// Copies a capture, lets `edit` change it, and returns the path.
fn edited(name: &str, edit: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/chat-hello-hi.pcap");
    let mut bytes = std::fs::read(src).unwrap();
    edit(&mut bytes);
    let dst = std::env::temp_dir().join(format!("encap-decode-{}-{name}.pcap", std::process::id()));
    std::fs::write(&dst, bytes).unwrap();
    dst
}

#[test]
fn truncated_file_shows_every_good_frame_then_says_where() {
    let path = edited("truncated", |b| b.truncate(b.len() - 10));
    let out = encap().arg("decode").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.lines().count(),
        15,
        "every good frame before the cut is shown"
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("stopped after 15 good frames")
            && err.contains("frame 16: the file ends at byte"),
        "{err}"
    );
}

#[test]
fn malformed_frame_is_reported_and_decoding_goes_on() {
    // Frame 4's IPv4 header length (IHL) becomes 4: frame records are 16 bytes, frames 1-3 are
    // 74, 74 and 66 bytes; so frame 4's data starts at 24 + 16*4 + 74 + 74 + 66 = 302, IHL at +14.
    let path = edited("ihl", |b| b[302 + 14] = 0x44);
    let out = encap().arg("decode").arg(&path).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 16);
    assert!(lines[3].contains("[malformed: IPv4: Header length at offset 14 is 4 (16 bytes): IHL must be at least 5 (20 bytes)]"), "{}", lines[3]);
    assert!(
        lines[4].contains("Flags [.]") && !lines[4].contains("malformed"),
        "{}",
        lines[4]
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 of 16 frames shown are malformed"));
}

#[test]
fn other_link_types_and_non_captures_get_clear_errors() {
    let wifi = edited("wifi", |b| b[20..24].copy_from_slice(&105u32.to_le_bytes()));
    let out = encap().arg("decode").arg(&wifi).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("link type 105 (IEEE802_11"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = encap()
        .arg("decode")
        .arg("Cargo.toml")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a pcap or pcapng file"));
    let out = encap()
        .args(["decode", "/nonexistent.pcap"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open /nonexistent.pcap"));
}

/// Reads every frame of `bytes` and dissects it; panics are the failure.
fn read_everything(bytes: &[u8]) {
    let Ok(mut r) = CaptureReader::new(bytes) else {
        return;
    };
    while let Ok(Some(p)) = r.next_packet() {
        let d = encap::dissect::dissect(p.data);
        let _ = d.nodes.len();
        let f = encap::render::frames::Frame {
            number: p.number,
            timestamp: p.timestamp,
            data: p.data,
            orig_len: p.orig_len,
            utc_offset: -12 * 3600,
            link_type: 1,
        };
        let mut out = termcolor::NoColor::new(Vec::new());
        encap::render::frames::write_frame(
            &mut out,
            &f,
            &encap::render::frames::FrameOptions {
                verbose: true,
                hex: true,
                json: false,
                date: true,
                link: true,
            },
        )
        .unwrap();
        let _ = encap::render::frames::json(&f);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_bytes_never_panic_the_reader(bytes in prop::collection::vec(any::<u8>(), 0..400), magic in 0usize..5) {
        let mut b = bytes;
        let magics: [&[u8]; 5] = [&[0xd4, 0xc3, 0xb2, 0xa1], &[0xa1, 0xb2, 0xc3, 0xd4], &[0x4d, 0x3c, 0xb2, 0xa1], &[0x0a, 0x0d, 0x0d, 0x0a], &[]];
        let m = magics[magic];
        if b.len() >= m.len() {
            b[..m.len()].copy_from_slice(m);
        }
        read_everything(&b);
    }

    #[test]
    fn mutated_captures_never_panic(file in 0usize..6, edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12), cut in any::<prop::sample::Index>()) {
        let files = captures();
        let mut b = std::fs::read(&files[file % files.len()]).unwrap();
        for (at, v) in edits {
            let i = at.index(b.len());
            b[i] = v;
        }
        read_everything(&b);
        read_everything(&b[..cut.index(b.len() + 1)]);
    }
}

/// Writes a pcap of `frames`, each cut to at most `snaplen` bytes, with its original length kept
/// in the record, as `tcpdump -s SNAPLEN` writes it.
fn write_pcap(name: &str, frames: &[Vec<u8>], snaplen: usize) -> PathBuf {
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&(snaplen as u32).to_le_bytes());
    f.extend_from_slice(&1u32.to_le_bytes());
    for (i, frame) in frames.iter().enumerate() {
        let cap = frame.len().min(snaplen);
        for v in [1_700_000_000 + i as u32, 0, cap as u32, frame.len() as u32] {
            f.extend_from_slice(&v.to_le_bytes());
        }
        f.extend_from_slice(&frame[..cap]);
    }
    let path =
        std::env::temp_dir().join(format!("encap-decode-{}-{name}.pcap", std::process::id()));
    std::fs::write(&path, f).unwrap();
    path
}

#[test]
fn a_capture_cut_by_its_snapshot_length_is_decoded_as_far_as_it_was_captured() {
    let path = write_pcap("snap60", &common::capture_frames("chat-hello-hi.pcap"), 60);
    let out = encap().arg("decode").arg(&path).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let first = text.lines().next().unwrap();
    assert!(
        first.contains("IP 127.0.0.1.47472 > 127.0.0.1.46666: Flags [S], seq 2216865551"),
        "{first}"
    );
    assert!(
        first.contains("[cut short: captured 60 of 74 bytes]") && !first.contains("malformed"),
        "{first}"
    );
    // The port filter reads the ports from what was captured.
    let out = encap()
        .args(["decode", "--port", "46666"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 16);
    // Nothing whole to check: verify says so and fails (2: trouble, not a MISMATCH found)
    // rather than passing on nothing.
    let out = encap().arg("verify").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nothing in"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A copy of the capture `name` in `captures/` with each frame cut to `snaplen` bytes, as
/// `tcpdump -s SNAPLEN` writes it (the original lengths and times kept: the model's TSval clock
/// runs on them).
fn cut_copy(name: &str, snaplen: usize) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "encap-decode-{}-s{snaplen}-{name}",
        std::process::id()
    ));
    let original = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures")
        .join(name);
    let mut r = CaptureReader::new(std::io::BufReader::new(
        std::fs::File::open(original).unwrap(),
    ))
    .unwrap();
    let mut w = encap::pcap::FrameWriter::new(std::fs::File::create(&path).unwrap()).unwrap();
    while let Some(p) = r.next_packet().unwrap() {
        w.write_cut(
            p.timestamp,
            &p.data[..p.data.len().min(snaplen)],
            p.data.len(),
        )
        .unwrap();
    }
    path
}

/// `decode --json`'s `tcp.len` of each frame of `path` is `want`, and tshark's (where it is).
fn tcp_lens_as_tshark(path: &Path, want: &[u64]) {
    let out = encap()
        .args(["decode", "--json"])
        .arg(path)
        .output()
        .unwrap();
    let lens: Vec<u64> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["tcp.len"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(lens, want);
    if common::have("tshark", "tcp.len of a cut capture against tshark") {
        let theirs = common::tshark_fields(path, &["tcp.len".to_string()], &[]);
        let theirs: Vec<u64> = theirs
            .iter()
            .map(|m| m["tcp.len"].parse().unwrap())
            .collect();
        assert_eq!(lens, theirs);
    }
}

#[test]
fn a_capture_cut_after_its_tcp_headers_is_verified_with_lengths_from_the_ip_header() {
    // tcpdump -s 80: every header whole, the longer payloads cut.
    let path = cut_copy("chat-hello-hi.pcap", 80);
    let out = encap().arg("decode").arg(&path).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let eighth = text.lines().nth(7).unwrap();
    assert!(
        eighth.contains("seq 2216865558:2216865580,") && eighth.contains("length 22: "),
        "the segment's length is the IP header's, not the bytes captured: {eighth}"
    );
    assert!(
        eighth.contains("[cut short: captured 80 of 88 bytes]"),
        "{eighth}"
    );
    tcp_lens_as_tshark(&path, &[0, 0, 0, 6, 0, 3, 0, 22, 0, 24, 0, 5, 0, 0, 0, 0]);
    // The model checks every frame, cut ones as far as they were captured: no ACK is taken to
    // acknowledge bytes "that never appeared".
    let out = encap().arg("verify").arg(&path).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{text}");
    let row = text
        .lines()
        .find(|l| l.starts_with("127.0.0.1:47472 -> "))
        .unwrap();
    let nums: Vec<usize> = row
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!((nums[0], nums[6]), (16, 0), "16 frames, 0 MISMATCH: {row}");
    // An edited byte of a cut frame's captured payload is still found, with a transcript.
    let transcript =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/chat-hello-hi.transcript.jsonl");
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.windows(3).position(|w| w == "你".as_bytes()).unwrap();
    bytes[at] ^= 1;
    let edited = path.with_extension("edited.pcap");
    std::fs::write(&edited, bytes).unwrap();
    let out = encap()
        .arg("verify")
        .arg("--transcript")
        .arg(&transcript)
        .arg(&edited)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("MISMATCH frame 8 Application Data (bytes 66-79)"),
        "{text}"
    );
    let _ = std::fs::remove_file(edited);
    let _ = std::fs::remove_file(path);
}

#[test]
fn an_ipv6_capture_cut_after_its_tcp_headers_is_verified_as_ipv4_is() {
    // tcpdump -s 96 over IPv6: 14 + 40 + 32 bytes of headers whole, the payloads cut.
    let path = cut_copy("nc-nc-ipv6.pcap", 96);
    let out = encap().arg("decode").arg(&path).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let fourth = text.lines().nth(3).unwrap();
    assert!(
        fourth.contains("length 12: ") && fourth.contains("[cut short: captured 96 of 98 bytes]"),
        "the segment's length is the IPv6 header's, not the bytes captured: {fourth}"
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("2 of 10 frames shown were cut short") && !stderr.contains("malformed"),
        "{stderr}"
    );
    tcp_lens_as_tshark(&path, &[0, 0, 0, 12, 0, 16, 0, 0, 0, 0]);
    let out = encap().arg("verify").arg(&path).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{text}");
    let row = text.lines().find(|l| l.starts_with("[::1]:")).unwrap();
    let nums: Vec<usize> = row
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!((nums[0], nums[6]), (10, 0), "10 frames, 0 MISMATCH: {row}");
    assert!(!text.contains("not checked"), "{text}");
    let _ = std::fs::remove_file(path);
}

#[test]
fn arp_inside_a_vlan_tag_and_ipv6_addresses_read_as_wireshark_writes_them() {
    // An ARP reply from 02:00:00:00:00:02 (10.0.0.2) in VLAN 5.
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&[2, 0, 0, 0, 0, 2, 0x81, 0x00, 0x00, 0x05, 0x08, 0x06]);
    arp.extend_from_slice(&[
        0, 1, 8, 0, 6, 4, 0, 2, 2, 0, 0, 0, 0, 2, 10, 0, 0, 2, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1,
    ]);
    // UDP over IPv6 from ::1 port 5000 to ::1 port 53, 3 bytes.
    let mut v6 = vec![0; 12];
    v6.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, 11, 17, 64]);
    v6.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
    v6.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
    v6.extend_from_slice(&[0x13, 0x88, 0, 53, 0, 11, 0, 0, b'a', b'b', b'c']);
    let path = write_pcap("arp-v6", &[arp, v6], 65535);
    let out = encap().arg("decode").arg(&path).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("vlan 5, ARP, Reply 10.0.0.2 is-at 02:00:00:00:00:02"),
        "{text}"
    );
    assert!(
        text.contains("IP6 ::1.5000 > ::1.53: UDP, length 3: \"abc\""),
        "{text}"
    );
    let out = encap()
        .args(["decode", "--json"])
        .arg(&path)
        .output()
        .unwrap();
    let objs: Vec<Json> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objs[0]["arp.src.proto_ipv4"], "10.0.0.2");
    assert_eq!(objs[0]["arp.src.hw_mac"], "02:00:00:00:00:02");
    assert_eq!(objs[0]["vlan.id"], 5);
    assert_eq!(objs[1]["ipv6.src"], "::1");
    assert_eq!(objs[1]["udp.dstport"], 53);
    if common::have("tshark", "arp_inside_a_vlan_tag") {
        // Every field both tools have, equal.
        for (n, o) in objs.iter().enumerate() {
            let keys: Vec<String> = o
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| !k.starts_with("frame.") && !k.starts_with("data."))
                .cloned()
                .collect();
            let theirs = &common::tshark_fields(&path, &keys, &[])[n];
            for k in &keys {
                let t = &theirs[k];
                assert!(
                    !t.is_empty() && common::same_as_tshark(&o[k], t),
                    "frame {}: {k}: encap {} tshark {t:?}",
                    n + 1,
                    o[k]
                );
            }
        }
    }
}

#[test]
fn one_line_view_is_tcpdumps_line_plus_the_frame_number_and_the_payload() {
    if !have("tcpdump", "one_line_view_is_tcpdumps_line") {
        return;
    }
    for file in captures() {
        // tcpdump names a cooked capture's interface by the reading host's index table
        // ("lo    In  "), which encap's line leaves out; and the lab's links carry MLDv2 reports
        // and router solicitations, whose one-line names are not tcpdump's yet (issue 10), and
        // ARP, whose line tcpdump ends with ", length 28" and encap's does not (the scripted
        // peer's captures, `peer-*`, are made in the lab).
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        if name.starts_with("any-") || name.starts_with("lab-") || name.starts_with("peer-") {
            continue;
        }
        let ours = encap().arg("decode").arg(&file).output().unwrap();
        let theirs = Command::new("tcpdump")
            .args(["-nn", "-S", "-r"])
            .arg(&file)
            .env("TZ", "UTC")
            .output()
            .unwrap();
        let theirs = String::from_utf8(theirs.stdout).unwrap();
        let ours = String::from_utf8(ours.stdout).unwrap();
        assert_eq!(
            ours.lines().count(),
            theirs.lines().count(),
            "{}",
            file.display()
        );
        for (n, (o, t)) in ours.lines().zip(theirs.lines()).enumerate() {
            // Ours: "    N " + tcpdump's line + (for a payload) ": \"escaped text\"".
            let o = o.trim_start().split_once(' ').map_or(o, |(num, rest)| {
                assert_eq!(num, (n + 1).to_string());
                rest
            });
            let o = match o
                .find(", length ")
                .and_then(|at| o[at..].find(": \"").map(|p| at + p))
            {
                Some(cut) => &o[..cut],
                None => o,
            };
            assert_eq!(o, t, "{}: frame {}", file.display(), n + 1);
        }
    }
}

#[test]
fn checksums_over_ipv6_are_checked_against_the_ipv6_pseudo_header() {
    // etherparse builds the frames with their checksums: the oracle.
    let lo6 = std::net::Ipv6Addr::LOCALHOST.octets();
    let mut udp = Vec::new();
    etherparse::PacketBuilder::ethernet2([0; 6], [0; 6])
        .ipv6(lo6, lo6, 64)
        .udp(5000, 53)
        .write(&mut udp, b"abc")
        .unwrap();
    let mut tcp = Vec::new();
    etherparse::PacketBuilder::ethernet2([0; 6], [0; 6])
        .ipv6(lo6, lo6, 64)
        .tcp(40000, 6666, 1, 64)
        .ack(1)
        .psh()
        .write(&mut tcp, b"hi")
        .unwrap();
    let mut bad = udp.clone();
    bad[62] ^= 0x01; // one payload bit, the checksum left as it was
    let path = write_pcap("v6-checksums", &[udp, tcp, bad], 65535);
    let out = encap().args(["decode", "-v"]).arg(&path).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let verdicts: Vec<&str> = text.lines().filter(|l| l.contains(" Checksum ")).collect();
    assert_eq!(verdicts.len(), 3, "{text}");
    assert!(
        verdicts[0].ends_with("[correct]") && verdicts[1].ends_with("[correct]"),
        "{text}"
    );
    assert!(verdicts[2].contains("[incorrect, should be 0x"), "{text}");
}

#[test]
fn dash_r_and_standard_input_read_as_decode_file_does() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/chat-hello-hi.pcap");
    let want = encap().arg("decode").arg(&file).output().unwrap();
    assert!(want.status.success());
    // `encap -r FILE`, as tcpdump -r and tshark -r; also after --color.
    for pre in [&[][..], &["--color", "never"][..], &["--color=never"][..]] {
        let out = encap().args(pre).arg("-r").arg(&file).output().unwrap();
        assert!(
            out.status.success(),
            "{pre:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, want.stdout, "{pre:?}");
    }
    // `decode -`: the capture on standard input, as `tcpdump -w - | encap decode -`.
    let out = encap()
        .args(["decode", "-"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("reading from file standard input (pcap)"),
        "{err}"
    );
    assert_eq!(out.stdout, want.stdout);
}

/// A pcap file (microseconds, little-endian, link type Ethernet) holding `frames`.
fn pcap_of(name: &str, frames: &[Vec<u8>]) -> PathBuf {
    write_pcap(name, frames, 262_144)
}

/// tcpdump -nn -S -r's lines for `path`, or None (skipped, or failing with ENCAP_REQUIRE_ALL)
/// without tcpdump.
fn tcpdump_lines(path: &Path, test: &str) -> Option<Vec<String>> {
    if !have("tcpdump", test) {
        return None;
    }
    let out = Command::new("tcpdump")
        .args(["-nn", "-S", "-r"])
        .arg(path)
        .output()
        .unwrap();
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect(),
    )
}

/// encap decode's one-line view of `path`, without the frame numbers.
fn encap_lines(path: &Path) -> Vec<String> {
    let out = encap().arg("decode").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            l.trim_start()
                .split_once(' ')
                .map_or(l, |(_, rest)| rest)
                .to_string()
        })
        .collect()
}

#[test]
fn a_bad_tcp_data_offset_is_worded_as_tcpdump_words_it() {
    let mut frames = common::capture_frames("chat-hello-hi.pcap");
    let hello = frames.swap_remove(3);
    let at = 14 + 20 + 12;
    let mut long = hello.clone();
    long[at] = 0xf0 | (long[at] & 0x0f); // 60 bytes in a 38-byte segment
    let mut short = hello;
    short[at] = 0x30 | (short[at] & 0x0f); // 12 bytes
    let path = pcap_of("bad-offsets", &[long, short]);
    let ours = encap_lines(&path);
    assert!(
        ours[0].contains("[bad hdr length 60 - too long, > 38]"),
        "{ours:?}"
    );
    assert!(
        ours[0].contains("the data offset points past the end of the segment"),
        "{ours:?}"
    );
    assert!(!ours[0].contains("cut short"), "{ours:?}");
    assert!(
        ours[1].contains("[bad hdr length 12 - too short, < 20]"),
        "{ours:?}"
    );
    let Some(theirs) = tcpdump_lines(&path, "a_bad_tcp_data_offset_is_worded_as_tcpdump_words_it")
    else {
        return;
    };
    for (o, t) in ours.iter().zip(&theirs) {
        let bad = t
            .find(" [bad hdr length")
            .map(|i| &t[i..])
            .unwrap_or_default();
        assert!(
            !bad.is_empty() && o.contains(bad),
            "ours {o:?}, tcpdump {t:?}"
        );
    }
}

#[test]
fn ipv6_no_next_header_is_named_as_tcpdump_names_it() {
    let mut frame = vec![0u8; 12];
    frame.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, 4, 59, 64]);
    for _ in 0..2 {
        frame.extend_from_slice(&[0; 15]);
        frame.push(1);
    }
    frame.extend_from_slice(b"abcd");
    let path = pcap_of("nh59", &[frame]);
    let ours = encap_lines(&path);
    assert!(
        ours[0].ends_with("IP6 ::1 > ::1: no next header"),
        "{ours:?}"
    );
    if let Some(theirs) = tcpdump_lines(&path, "ipv6_no_next_header_is_named_as_tcpdump_names_it") {
        assert_eq!(ours, theirs);
    }
}

#[test]
fn an_out_of_range_timestamp_fraction_is_reported_not_clamped() {
    // Frame 1's microseconds field set to 1,500,000: 1.5 s past its seconds.
    let path = edited("bad-fraction", |b| {
        b[28..32].copy_from_slice(&1_500_000u32.to_le_bytes())
    });
    let out = encap()
        .args(["decode", "--json", "-c", "1"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("frame 1: the timestamp's fraction at byte 28 is 1500000, out of range (microseconds, at most 999999)"),
        "{err}"
    );
    let sec = {
        let b = std::fs::read(&path).unwrap();
        u32::from_le_bytes(b[24..28].try_into().unwrap())
    };
    let v: Json = serde_json::from_slice(&out.stdout).unwrap();
    let t = v["frame.time_epoch"].as_f64().unwrap();
    assert!(
        (t - (f64::from(sec) + 1.5)).abs() < 1e-6,
        "{t} for {sec} s + 1500000 µs"
    );
}

#[test]
fn a_first_ipv4_fragment_is_decoded_as_far_as_it_holds() {
    // UDP 5000 > 5001, a 48-byte datagram (40 bytes of data) of which this first fragment (MF
    // set, offset 0) carries the header and 16 bytes.
    let mut ip = vec![
        0x45, 0, 0, 44, 0x12, 0x34, 0x20, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
    ];
    let folded = {
        let s: u32 = ip
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum();
        !(((s & 0xffff) + (s >> 16)) as u16)
    };
    ip[10..12].copy_from_slice(&folded.to_be_bytes());
    let mut frame = vec![0u8; 12];
    frame.extend_from_slice(&[0x08, 0x00]);
    frame.extend_from_slice(&ip);
    frame.extend_from_slice(&[0x13, 0x88, 0x13, 0x89, 0, 48, 0, 0]);
    frame.extend_from_slice(&[b'x'; 16]);
    let path = pcap_of("first-fragment", &[frame]);
    let out = encap()
        .args(["decode", "--json"])
        .arg(&path)
        .output()
        .unwrap();
    let v: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["udp.srcport"].clone(), v["udp.dstport"].clone()),
        (5000.into(), 5001.into()),
        "{v}"
    );
    let ours = encap_lines(&path);
    assert!(
        ours[0].contains("IP 127.0.0.1.5000 > 127.0.0.1.5001: UDP, length 40"),
        "{ours:?}"
    );
    assert!(!ours[0].contains("malformed"), "{ours:?}");
    if let Some(theirs) =
        tcpdump_lines(&path, "a_first_ipv4_fragment_is_decoded_as_far_as_it_holds")
    {
        let t = theirs[0].split_once(' ').map(|x| x.1).unwrap_or_default();
        assert!(ours[0].contains(t), "ours {:?}, tcpdump {t:?}", ours[0]);
    }
}

#[test]
fn times_are_shown_in_the_local_time_zone_as_tcpdump_shows_them() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/chat-hello-hi.pcap");
    let time = |tz: &str, args: &[&str]| {
        let line = decode_stdout(tz, &[&["-c", "1"][..], args].concat(), &file);
        line.split_whitespace()
            .skip(1)
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    };
    // Frame 1 was taken at 20:53:37.845949 UTC on 2026-11-25. POSIX TZ strings need no zone
    // files: 8 hours east, and New York's rule (EST in November).
    assert!(time("UTC", &[]).starts_with("20:53:37.845949 "));
    assert!(time("CST-8", &[]).starts_with("04:53:37.845949 "));
    assert_eq!(time("CST-8", &["-tttt"]), "2026-11-26 04:53:37.845949");
    assert_eq!(
        time("EST5EDT,M3.2.0,M11.1.0", &["-tttt"]),
        "2026-11-25 15:53:37.845949"
    );
    assert!(time("CST-8", &["--utc"]).starts_with("20:53:37.845949 "));
    let tcpdump = |tz: &str| {
        let out = Command::new("tcpdump")
            .env("TZ", tz)
            .args(["-tttt", "-nn", "-c", "1", "-r"])
            .arg(&file)
            .output()
            .unwrap();
        let l = String::from_utf8_lossy(&out.stdout).into_owned();
        l.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
    };
    if have("tcpdump", "times_are_shown_in_the_local_time_zone") {
        for tz in ["CST-8", "EST5EDT,M3.2.0,M11.1.0", "UTC"] {
            assert_eq!(time(tz, &["-tttt"]), tcpdump(tz), "TZ={tz}");
        }
    }
    let out = encap().args(["decode", "-tt"]).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// An IPv4/TCP frame on lo (pure ACK) whose TCP options are `options` (a multiple of 4 bytes).
fn tcp_frame_with_options(options: &[u8]) -> Vec<u8> {
    let tcp_len = 20 + options.len();
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[
        0x08,
        0x00,
        0x45,
        0,
        0,
        (20 + tcp_len) as u8,
        0,
        1,
        0x40,
        0,
        64,
        6,
        0,
        0,
    ]);
    f.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
    f.extend_from_slice(&[0x9c, 0x40, 0x1a, 0x0a, 0, 0, 0, 100, 0, 0, 0, 200]);
    f.extend_from_slice(&[((tcp_len / 4) << 4) as u8, 0x10, 0, 64, 0, 0, 0, 0]);
    f.extend_from_slice(options);
    f
}

#[test]
fn json_has_every_sack_block_and_md5_mptcp_unknown_options_as_tshark() {
    let mut sack = vec![1, 1, 5, 26];
    for v in [1000u32, 2000, 3000, 4000, 5000, 6000] {
        sack.extend_from_slice(&v.to_be_bytes());
    }
    let mut other = vec![19, 18];
    other.extend((1..=16).map(|i| i as u8));
    other.extend_from_slice(&[1, 1, 30, 4, 0x21, 0, 77, 4, 0xbe, 0xef]);
    let path = pcap_of(
        "sack-md5",
        &[
            tcp_frame_with_options(&sack),
            tcp_frame_with_options(&other),
        ],
    );
    let ours = decode_json(&path);
    assert_eq!(
        ours[0]["tcp.options.sack_le"],
        serde_json::json!([1000, 3000, 5000])
    );
    assert_eq!(
        ours[0]["tcp.options.sack_re"],
        serde_json::json!([2000, 4000, 6000])
    );
    assert_eq!(ours[0]["tcp.options.sack.count"], 3);
    assert_eq!(ours[1]["tcp.options.mptcp.subtype"], 2);
    assert_eq!(ours[1]["tcp.options.unknown.payload"], "be:ef");
    assert!(ours[1]["tcp.options.md5.digest"]
        .as_str()
        .is_some_and(|d| d.starts_with("01:02:03")));
    if !have(
        "tshark",
        "json_has_every_sack_block_and_md5_mptcp_unknown_options_as_tshark",
    ) {
        return;
    }
    let keys: Vec<String> = [
        "tcp.options.sack_le",
        "tcp.options.sack_re",
        "tcp.options.sack.count",
        "tcp.options.md5.digest",
        "tcp.options.mptcp.subtype",
        "tcp.options.unknown.payload",
    ]
    .map(String::from)
    .to_vec();
    let theirs = common::tshark_fields(
        &path,
        &keys,
        &[
            "tcp.relative_sequence_numbers:FALSE",
            "tcp.check_checksum:FALSE",
        ],
    );
    for (o, t) in ours.iter().zip(&theirs) {
        for k in &keys {
            match (o.get(k), t[k].as_str()) {
                (None, "") => {}
                (Some(v), tv) => {
                    assert!(
                        common::same_as_tshark(v, tv),
                        "{k}: encap {v}, tshark {tv:?}"
                    )
                }
                (None, tv) => panic!("{k}: encap has none, tshark {tv:?}"),
            }
        }
    }
}

/// A pcap file (microseconds, little-endian) of link-type field `link` holding `frames`.
fn pcap_with_link(name: &str, link: u32, frames: &[Vec<u8>]) -> PathBuf {
    let path = write_pcap(name, frames, 262_144);
    let mut b = std::fs::read(&path).unwrap();
    b[20..24].copy_from_slice(&link.to_le_bytes());
    std::fs::write(&path, b).unwrap();
    path
}

/// The one-line view without frame numbers and times, one line per frame.
fn lines_after_time(path: &Path) -> Vec<String> {
    let out = encap()
        .args(["decode", "--utc"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split_whitespace().skip(2).collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn the_link_types_users_meet_are_decoded_as_tcpdump_decodes_them() {
    let eth = common::capture_frames("chat-hello-hi.pcap");
    let ip: Vec<Vec<u8>> = eth.iter().map(|f| f[14..].to_vec()).collect();
    let ip6: Vec<Vec<u8>> = common::capture_frames("nc-nc-ipv6.pcap")
        .iter()
        .map(|f| f[14..].to_vec())
        .collect();
    let with = |head: &[u8], packets: &[Vec<u8>]| -> Vec<Vec<u8>> {
        packets.iter().map(|p| [head, p].concat()).collect()
    };
    let mut sll = vec![0, 0, 3, 4, 0, 6];
    sll.extend_from_slice(&[0; 8]);
    sll.extend_from_slice(&[0x08, 0x00]);
    let mut sll2 = vec![0x08, 0x00, 0, 0, 0, 0, 0, 1, 3, 4, 0, 6];
    sll2.extend_from_slice(&[0; 8]);
    let want = lines_after_time(&pcap_of("eth", &eth));
    let want6 = lines_after_time(&pcap_of("eth6", &common::capture_frames("nc-nc-ipv6.pcap")));
    let cases = [
        ("null", 0, with(&2u32.to_le_bytes(), &ip), &want),
        ("loop", 108, with(&2u32.to_be_bytes(), &ip), &want),
        ("raw", 101, ip.clone(), &want),
        ("ipv4", 228, ip.clone(), &want),
        ("ipv6", 229, ip6.clone(), &want6),
        ("raw6", 101, ip6.clone(), &want6),
        ("sll", 113, with(&sll, &ip), &want),
        ("sll2", 276, with(&sll2, &ip), &want),
    ];
    let tcpdump = have("tcpdump", "the_link_types_users_meet_are_decoded");
    for (name, link, frames, want) in cases {
        let path = pcap_with_link(name, link, &frames);
        let ours = lines_after_time(&path);
        assert_eq!(&ours, want, "{name}: not as the same frames over Ethernet");
        if tcpdump {
            let out = Command::new("tcpdump")
                .env("TZ", "UTC")
                .args(["-nn", "-S", "-r"])
                .arg(&path)
                .output()
                .unwrap();
            let theirs = String::from_utf8_lossy(&out.stdout).into_owned();
            assert_eq!(theirs.lines().count(), ours.len(), "{name}: {theirs}");
            for (o, t) in ours.iter().zip(theirs.lines()) {
                // tcpdump prints a cooked capture's direction first ("lo In"); the rest is ours.
                let o = o.split(" [").next().unwrap_or(o);
                let o = o.split(": \"").next().unwrap_or(o);
                assert!(t.contains(o), "{name}: encap {o:?}\ntcpdump {t:?}");
            }
        }
    }
    // -v shows the cooked header's fields, as Wireshark names them.
    let path = pcap_with_link("sll2-v", 276, &with(&sll2, &ip[..1]));
    let out = encap().args(["decode", "-v"]).arg(&path).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Link layer, bytes 0-19"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("Link-layer address type") && l.ends_with(" 772")),
        "{text}"
    );
    // An address family that is neither IPv4 nor IPv6 is malformed, said where.
    let path = pcap_with_link("null-bad", 0, &with(&9u32.to_le_bytes(), &ip[..1]));
    let out = encap().arg("decode").arg(&path).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Link layer: Family at offset 0 is 9"),
        "{text}"
    );
}

#[test]
fn a_link_type_with_fcs_bits_is_ethernet_with_its_fcs() {
    let eth = common::capture_frames("chat-hello-hi.pcap");
    let want = lines_after_time(&pcap_of("fcs-plain", &eth));
    // FCS-length bits present, length 0: plain Ethernet (it was refused as link type 67108865).
    let path = pcap_with_link("fcs0", 0x0400_0001, &eth);
    assert_eq!(lines_after_time(&path), want);
    // Two 16-bit words of FCS: each frame carries its 4-byte CRC-32, checked with -v.
    let with_fcs: Vec<Vec<u8>> = eth
        .iter()
        .map(|f| [&f[..], &crc32fast::hash(f).to_le_bytes()[..]].concat())
        .collect();
    let path = pcap_with_link("fcs4", 0x2400_0001, &with_fcs);
    assert_eq!(lines_after_time(&path), want);
    let out = encap()
        .args(["decode", "-v", "-c", "1"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Ethernet FCS, bytes 74-77: 0x"), "{text}");
    assert!(text.contains("[correct]"), "{text}");
    // verify reads cooked captures too: Ethernet frames labelled LINUX_SLL hold no TCP frame it
    // can check, and it says so (exit status 2).
    let path = pcap_with_link("verify-sll", 113, &eth);
    let out = encap().arg("verify").arg(&path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("could be checked"), "{err}");
}

#[test]
fn qinq_tags_are_walked_and_an_8023_length_is_shown_as_one() {
    let syn = common::capture_frames("chat-hello-hi.pcap").remove(0);
    let mut qinq = syn[..12].to_vec();
    qinq.extend_from_slice(&[0x88, 0xa8, 0, 100, 0x81, 0x00, 0, 200, 0x08, 0x00]);
    qinq.extend_from_slice(&syn[14..]);
    let mut llc = vec![
        0x01, 0x80, 0xc2, 0, 0, 0, 2, 2, 2, 2, 2, 2, 0, 38, 0x42, 0x42, 0x03,
    ];
    llc.resize(60, 0);
    let path = pcap_of("qinq-llc", &[qinq, llc]);
    let ours = lines_after_time(&path);
    assert!(
        ours[0].starts_with("vlan 100, vlan 200, IP 127.0.0.1.47472 > 127.0.0.1.46666: Flags [S]"),
        "{ours:?}"
    );
    assert_eq!(
        ours[1],
        "802.3, length 38: LLC, dsap 0x42, ssap 0x42, ctrl 0x03"
    );
    let json = decode_json(&path);
    assert_eq!(json[0]["tcp.srcport"], 47472, "{:?}", json[0]);
    assert_eq!(json[1]["eth.len"], 38, "{:?}", json[1]);
    assert!(!json[1].contains_key("eth.type"), "{:?}", json[1]);
    let out = encap().args(["decode", "-v"]).arg(&path).output().unwrap();
    let v = String::from_utf8_lossy(&out.stdout);
    assert!(
        v.contains("802.1Q VLAN, bytes 14-17") && v.contains("802.1Q VLAN, bytes 18-21"),
        "{v}"
    );
    assert!(v.contains("38 (a length, not a type: IEEE 802.3"), "{v}");
    if have(
        "tcpdump",
        "qinq_tags_are_walked_and_an_8023_length_is_shown_as_one",
    ) {
        let out = Command::new("tcpdump")
            .args(["-e", "-nn", "-r"])
            .arg(&path)
            .output()
            .unwrap();
        let t = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = t.lines().collect();
        assert!(
            lines[0].contains(
                "vlan 100, p 0, ethertype 802.1Q (0x8100), vlan 200, p 0, ethertype IPv4"
            ),
            "{t}"
        );
        assert!(
            lines[1].contains("802.3, length 38: LLC, dsap STP (0x42)"),
            "{t}"
        );
    }
}

/// An Ethernet frame with IPv4 (127.0.0.1 both ways, protocol `proto`) carrying `payload`.
fn ipv4_frame(proto: u8, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut ip = vec![
        0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, proto, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
    ];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    let s: u32 = ip
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    let sum = !(((s & 0xffff) + (s >> 16)) as u16);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&ip);
    f.extend_from_slice(payload);
    f
}

#[test]
fn icmp_one_liners_have_id_seq_and_the_quoted_datagram_as_tcpdump() {
    let mut request = vec![8, 0, 0, 0, 0x12, 0x34, 0, 1];
    request.extend_from_slice(&[b'p'; 56]);
    let mut reply = request.clone();
    reply[0] = 0;
    // Port unreachable, quoting a UDP datagram to port 9.
    let quoted = &ipv4_frame(17, &[0x9c, 0x40, 0, 9, 0, 18, 0, 0, b'x', b'x'])[14..];
    let mut unreachable = vec![3, 3, 0, 0, 0, 0, 0, 0];
    unreachable.extend_from_slice(quoted);
    let frames = [
        ipv4_frame(1, &request),
        ipv4_frame(1, &reply),
        ipv4_frame(1, &unreachable),
    ];
    let path = pcap_of("icmp", &frames);
    let ours = lines_after_time(&path);
    assert_eq!(
        ours,
        [
            "IP 127.0.0.1 > 127.0.0.1: ICMP echo request, id 4660, seq 1, length 64",
            "IP 127.0.0.1 > 127.0.0.1: ICMP echo reply, id 4660, seq 1, length 64",
            "IP 127.0.0.1 > 127.0.0.1: ICMP 127.0.0.1 udp port 9 unreachable, length 38",
        ]
    );
    // ICMPv6's echo, as tcpdump words it.
    let mut v6 = vec![0u8; 12];
    v6.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, 64, 58, 64]);
    for _ in 0..2 {
        v6.extend_from_slice(&[0; 15]);
        v6.push(1);
    }
    let mut echo6 = request.clone();
    echo6[0] = 128;
    v6.extend_from_slice(&echo6);
    let path6 = pcap_of("icmp6", &[v6]);
    assert_eq!(
        lines_after_time(&path6),
        ["IP6 ::1 > ::1: ICMP6, echo request, id 4660, seq 1, length 64"]
    );
    if have(
        "tcpdump",
        "icmp_one_liners_have_id_seq_and_the_quoted_datagram",
    ) {
        let out = Command::new("tcpdump")
            .args(["-nn", "-r"])
            .arg(&path)
            .output()
            .unwrap();
        let theirs: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split_once(' ').map_or(l, |x| x.1).to_string())
            .collect();
        assert_eq!(ours, theirs);
    }
}

#[test]
fn dash_e_vv_and_capital_x_as_tcpdump_users_type_them() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/chat-hello-hi.pcap");
    let run = |args: &[&str]| decode_stdout("UTC", args, &file);
    // -vv is -v; -X is -x (whose dump has the ASCII column already).
    assert_eq!(run(&["-vv"]), run(&["-v"]));
    assert_eq!(run(&["-X"]), run(&["-x"]));
    let e = run(&["-e"]);
    let first = e.lines().next().unwrap();
    assert!(
        first.contains(" 00:00:00:00:00:00 > 00:00:00:00:00:00, ethertype IPv4 (0x0800), length 74: 127.0.0.1.47472 > 127.0.0.1.46666: Flags [S]"),
        "{first}"
    );
    if have(
        "tcpdump",
        "dash_e_vv_and_capital_x_as_tcpdump_users_type_them",
    ) {
        let out = Command::new("tcpdump")
            .env("TZ", "UTC")
            .args(["-e", "-nn", "-S", "-r"])
            .arg(&file)
            .output()
            .unwrap();
        let theirs = String::from_utf8_lossy(&out.stdout);
        for (o, t) in e.lines().zip(theirs.lines()) {
            // Ours adds the frame number first and the payload's text last.
            let o = o.trim_start().split_once(' ').map_or(o, |x| x.1);
            let o = o.split(": \"").next().unwrap_or(o);
            assert!(t.starts_with(o), "encap {o:?}\ntcpdump {t:?}");
        }
        assert_eq!(e.lines().count(), theirs.lines().count());
    }
}

/// `encap decode ARGS FILE`'s output with `TZ` set to `tz`; fails unless it succeeds.
fn decode_stdout(tz: &str, args: &[&str], file: &Path) -> String {
    let out = encap()
        .env("TZ", tz)
        .arg("decode")
        .args(args)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn json_written_from_the_field_tables_is_the_maps_byte_for_byte_on_every_capture() {
    use encap::capfile::DECODED_LINK_TYPES;
    use encap::dissect::slice_link;
    use encap::render::frames::{json_into, Frame};
    let (mut frames, mut fast_frames) = (0, 0);
    for file in captures() {
        let f = std::fs::File::open(&file).unwrap();
        let mut r = CaptureReader::with_link_types(std::io::BufReader::new(f), &DECODED_LINK_TYPES)
            .unwrap();
        while let Some(p) = r.next_packet().unwrap() {
            let frame = Frame {
                number: p.number,
                timestamp: p.timestamp,
                data: p.data,
                orig_len: p.orig_len,
                utc_offset: 0,
                link_type: p.link_type,
            };
            let s = slice_link(p.data, p.link_type);
            let (mut fast, mut slow) = (Vec::new(), Vec::new());
            let took_fast = json_into(&mut fast, &frame, &s, true).unwrap();
            json_into(&mut slow, &frame, &s, false).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&fast),
                String::from_utf8_lossy(&slow),
                "{} frame {}",
                file.display(),
                p.number
            );
            frames += 1;
            fast_frames += usize::from(took_fast);
        }
    }
    // Most frames of these captures (Ethernet, IPv4 or IPv6, TCP) take the direct way; SACK
    // blocks, cooked and loopback link headers and UDP take the map's.
    assert!(fast_frames * 2 > frames, "{fast_frames} of {frames}");
    eprintln!("{fast_frames} of {frames} frames written straight from the field tables");
}

#[test]
fn a_corrupt_record_an_empty_file_and_a_directory_get_the_same_clear_errors_in_decode_and_verify() {
    // Frame 2's record header (frame 1: 16 + 74 bytes from byte 24) says 4 GiB were captured.
    let huge = edited("huge", |b| {
        b[114 + 8..114 + 12].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    });
    let empty = edited("empty", Vec::clear);
    let dir = std::env::temp_dir();
    for (args, shown) in [
        (&["decode"][..], 1),
        (&["decode", "--json"][..], 1),
        (&["verify"][..], 0),
    ] {
        let out = encap().args(args).arg(&huge).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(
                "frame 2: corrupt pcap record header at byte 114: captured length 4294967280 is larger than any frame"
            ),
            "{args:?}: {err}"
        );
        if shown > 0 {
            // Frame 1, before the corrupt record, is shown.
            let text = String::from_utf8_lossy(&out.stdout);
            assert_eq!(text.lines().count(), shown, "{args:?}: {text}");
            assert!(
                err.contains("stopped after 1 good frames"),
                "{args:?}: {err}"
            );
        }
        let out = encap().args(args).arg(&empty).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("not a pcap or pcapng file: it starts with nothing (empty file)"),
            "{args:?}: {err}"
        );
        let out = encap().args(args).arg(&dir).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(&format!("{}: read error at byte 0", dir.display())),
            "{args:?}: {err}"
        );
    }
    let _ = (std::fs::remove_file(huge), std::fs::remove_file(empty));
}

/// `decode --json` formats its lines on every core a batch at a time (`src/cmd/json_lines.rs`):
/// on a file of many batches, with HTTP among them (lines the reading thread formats itself),
/// its output is byte for byte that of one core (`taskset -c 0`, which `nproc` shows leaves it
/// one).
#[test]
fn json_lines_formatted_on_every_core_are_those_of_one_core_in_order() {
    let test = "decode --json on several cores against one";
    if !have("taskset", test) {
        return;
    }
    let cores = |taskset: bool| {
        let mut c = Command::new(if taskset { "taskset" } else { "nproc" });
        if taskset {
            c.args(["-c", "0", "nproc"]);
        }
        let out = c.output().expect("nproc runs");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<usize>()
            .unwrap_or(0)
    };
    assert_eq!(cores(true), 1, "taskset -c 0 leaves one core");
    if !common::ready(cores(false) > 1, test, "needs two cores or more") {
        return;
    }
    let mut frames = Vec::new();
    for _ in 0..80 {
        for name in [
            "chat-hello-hi.pcap",
            "http-split-request.pcap",
            "nc-udp.pcap",
        ] {
            frames.extend(common::capture_frames(name));
        }
    }
    assert!(frames.len() > 2000, "{} frames", frames.len());
    let path = write_pcap("json-cores", &frames, 65535);
    let run = |taskset: bool| {
        let mut c = if taskset {
            let mut c = Command::new("taskset");
            c.args(["-c", "0", env!("CARGO_BIN_EXE_encap")]);
            c
        } else {
            encap()
        };
        let out = c.args(["decode", "--json"]).arg(&path).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let (many, one) = (run(false), run(true));
    let lines = many
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    assert!(
        lines >= frames.len(),
        "{lines} lines for {} frames",
        frames.len()
    );
    let http = String::from_utf8_lossy(&many)
        .matches("\"http.request.method\"")
        .count();
    assert!(http >= 80, "{http} HTTP requests among the lines");
    assert!(many == one, "the lines differ from one core's");
    let _ = std::fs::remove_file(path);
}
