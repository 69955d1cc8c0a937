//! The frames `encap show` writes, checked by tools nobody here wrote: tshark dissects them (both
//! checksums good, every field equal to encap's JSON), etherparse's slicer reads back the same
//! fields, and zlib's CRC-32 (through python3) agrees with the FCS and its residue.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{encap, have};
use serde_json::Value as Json;

/// The messages and parameters the issue asks for: empty, `hello`, 1460 bytes, Chinese text, with
/// and without options, and a SYN with Linux's SYN options.
fn cases() -> Vec<(&'static str, String, Vec<&'static str>)> {
    let long: String = (0..1460)
        .map(|i| char::from(b'!' + (i % 90) as u8))
        .collect();
    vec![
        ("empty, no options", String::new(), vec!["--no-options"]),
        ("empty, timestamps", String::new(), vec![]),
        ("hello", "hello".into(), vec![]),
        (
            "hello, no options",
            "hello".into(),
            vec!["--no-options", "--id", "22691", "--seq", "3735928559"],
        ),
        (
            "1460 bytes",
            long,
            vec![
                "--src",
                "10.0.0.1:51000",
                "--dst",
                "192.0.2.7:80",
                "--window",
                "502",
            ],
        ),
        (
            "Chinese",
            "你好，世界！这是一条聊天消息 👋".into(),
            vec!["--ttl", "1", "--dscp", "46", "--ecn", "2"],
        ),
        (
            "SYN",
            String::new(),
            vec![
                "--flags",
                "S",
                "--seq",
                "123456789",
                "--ack",
                "0",
                "--tsval",
                "99",
                "--window",
                "65495",
            ],
        ),
        (
            "SYN-ACK, MSS 1460 wscale 7",
            String::new(),
            vec!["--flags", "SA", "--mss", "1460", "--wscale", "7"],
        ),
        (
            "IP options, MACs",
            "x".into(),
            vec![
                "--ip-options",
                "94040000",
                "--src-mac",
                "02:00:5e:10:00:01",
                "--dst-mac",
                "ff:ff:ff:ff:ff:ff",
                "--no-df",
                "--flags",
                "FA",
            ],
        ),
        (
            "IPv6 hello",
            "hello".into(),
            vec![
                "--src",
                "[::1]:40000",
                "--dst",
                "[::1]:6666",
                "--flow-label",
                "0x12345",
            ],
        ),
        (
            "IPv6 SYN, traffic class",
            String::new(),
            vec![
                "--src",
                "[2001:db8::1]:51000",
                "--dst",
                "[2001:db8::2]:443",
                "--flags",
                "S",
                "--ack",
                "0",
                "--dscp",
                "10",
                "--ecn",
                "1",
                "--ttl",
                "3",
            ],
        ),
    ]
}

/// Runs `encap show` with `-w` and `--json`; returns the JSON object and the frame from the file.
fn show(
    message: &str,
    extra: &[&str],
    pcap: &std::path::Path,
) -> (serde_json::Map<String, Json>, Vec<u8>) {
    let out = encap()
        .arg("show")
        .arg(message)
        .args(extra)
        .arg("--json")
        .arg("-w")
        .arg(pcap)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "encap show failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let obj: Json = serde_json::from_slice(&out.stdout).unwrap();
    let bytes = std::fs::read(pcap).unwrap();
    // pcap: 24-byte file header, 16-byte record header (incl_len at 8..12), then the frame.
    let incl = u32::from_le_bytes(bytes[32..36].try_into().unwrap()) as usize;
    assert_eq!(bytes.len(), 40 + incl, "one frame in the file");
    (obj.as_object().unwrap().clone(), bytes[40..].to_vec())
}

#[test]
fn tshark_dissects_every_frame_with_good_checksums_and_equal_fields() {
    if !have("tshark", "tshark_dissects_every_frame") {
        return;
    }
    let dir = tempdir();
    for (name, message, extra) in cases() {
        let pcap = dir.join(format!("{}.pcap", name.replace([' ', ','], "_")));
        let (ours, _) = show(&message, &extra, &pcap);
        let mut fields: Vec<String> = ours.keys().cloned().collect();
        fields.extend([
            "ip.checksum.status".into(),
            "tcp.checksum.status".into(),
            "_ws.expert".into(),
        ]);
        let theirs = common::tshark_fields(
            &pcap,
            &fields,
            &["ip.check_checksum:TRUE", "tcp.check_checksum:TRUE"],
        )
        .remove(0);
        let v6 = ours.contains_key("ipv6.version");
        assert_eq!(
            theirs["ip.checksum.status"],
            if v6 { "" } else { "1" },
            "{name}: tshark says the IPv4 checksum is not good"
        );
        assert_eq!(
            theirs["tcp.checksum.status"], "1",
            "{name}: tshark says the TCP checksum is not good"
        );
        let mut compared = 0;
        for (key, value) in &ours {
            let t = &theirs[key];
            if t.is_empty() {
                // Fields tshark has no value for in this frame: only our own summaries may be absent.
                assert!(
                    matches!(
                        key.as_str(),
                        "data.len" | "eth.fcs" | "tcp.len" | "data.data"
                    ),
                    "{name}: tshark has no {key}"
                );
                continue;
            }
            assert!(
                common::same_as_tshark(value, t),
                "{name}: {key}: encap says {value}, tshark says {t}"
            );
            compared += 1;
        }
        assert!(compared >= 25, "{name}: only {compared} fields compared");
        eprintln!("{name}: {compared} fields equal to tshark's");
    }
}

#[test]
fn etherparse_slicer_reads_back_the_same_fields() {
    use etherparse::{InternetSlice, SlicedPacket, TransportSlice};
    let dir = tempdir();
    for (name, message, extra) in cases() {
        let pcap = dir.join("e.pcap");
        let (ours, frame) = show(&message, &extra, &pcap);
        let s = SlicedPacket::from_ethernet(&frame)
            .unwrap_or_else(|e| panic!("{name}: etherparse: {e}"));
        let n = |k: &str| ours[k].as_u64().unwrap();
        let Some(TransportSlice::Tcp(t)) = &s.transport else {
            panic!("{name}: not TCP")
        };
        let h = match &s.net {
            Some(InternetSlice::Ipv4(ip)) => ip.header(),
            Some(InternetSlice::Ipv6(ip)) => {
                let h = ip.header();
                assert_eq!(u64::from(h.traffic_class()), n("ipv6.tclass"), "{name}");
                assert_eq!(u64::from(h.flow_label().value()), n("ipv6.flow"), "{name}");
                assert_eq!(u64::from(h.payload_length()), n("ipv6.plen"), "{name}");
                assert_eq!(u64::from(h.hop_limit()), n("ipv6.hlim"), "{name}");
                assert_eq!(h.source_addr().to_string(), ours["ipv6.src"], "{name}");
                assert_eq!(h.destination_addr().to_string(), ours["ipv6.dst"], "{name}");
                assert_eq!(u64::from(t.checksum()), n("tcp.checksum"), "{name}");
                // etherparse computes the TCP checksum over the IPv6 pseudo-header itself.
                let computed = t
                    .to_header()
                    .calc_checksum_ipv6(&h.to_header(), t.payload())
                    .unwrap();
                assert_eq!(u64::from(computed), n("tcp.checksum"), "{name}");
                assert_eq!(t.payload(), message.as_bytes(), "{name}");
                continue;
            }
            _ => panic!("{name}: not IP"),
        };
        assert_eq!(u64::from(h.identification()), n("ip.id"), "{name}");
        assert_eq!(u64::from(h.ttl()), n("ip.ttl"), "{name}");
        assert_eq!(u64::from(h.total_len()), n("ip.len"), "{name}");
        assert_eq!(u64::from(h.header_checksum()), n("ip.checksum"), "{name}");
        assert_eq!(u64::from(h.dcp().value()), n("ip.dsfield.dscp"), "{name}");
        assert_eq!(u64::from(h.ecn().value()), n("ip.dsfield.ecn"), "{name}");
        assert_eq!(u64::from(h.dont_fragment()), n("ip.flags.df"), "{name}");
        assert_eq!(h.source_addr().to_string(), ours["ip.src"], "{name}");
        assert_eq!(h.destination_addr().to_string(), ours["ip.dst"], "{name}");
        assert_eq!(u64::from(t.source_port()), n("tcp.srcport"), "{name}");
        assert_eq!(u64::from(t.destination_port()), n("tcp.dstport"), "{name}");
        assert_eq!(u64::from(t.sequence_number()), n("tcp.seq_raw"), "{name}");
        assert_eq!(
            u64::from(t.acknowledgment_number()),
            n("tcp.ack_raw"),
            "{name}"
        );
        assert_eq!(
            u64::from(t.window_size()),
            n("tcp.window_size_value"),
            "{name}"
        );
        assert_eq!(u64::from(t.checksum()), n("tcp.checksum"), "{name}");
        assert_eq!(u64::from(t.data_offset()) * 4, n("tcp.hdr_len"), "{name}");
        assert_eq!(t.payload().len() as u64, n("data.len"), "{name}");
        assert_eq!(t.payload(), message.as_bytes(), "{name}");
        let flags = u64::from(t.fin())
            | u64::from(t.syn()) << 1
            | u64::from(t.rst()) << 2
            | u64::from(t.psh()) << 3
            | u64::from(t.ack()) << 4;
        assert_eq!(flags, n("tcp.flags"), "{name}");
        // etherparse computes the TCP checksum itself: it must agree with the field.
        let computed = t
            .to_header()
            .calc_checksum_ipv4(&h.to_header(), t.payload())
            .unwrap();
        assert_eq!(u64::from(computed), n("tcp.checksum"), "{name}");
    }
}

#[test]
fn fcs_matches_zlib_and_leaves_the_residue() {
    if !have("python3", "fcs_matches_zlib") {
        return;
    }
    let dir = tempdir();
    for (name, message, extra) in cases() {
        let pcap = dir.join("z.pcap");
        let (ours, frame) = show(&message, &extra, &pcap);
        let fcs = ours["eth.fcs"].as_u64().unwrap() as u32;
        // As a wire carries it: a frame under 60 bytes padded with zeros, then the FCS.
        let mut with_fcs = frame.clone();
        with_fcs.resize(frame.len().max(60), 0);
        with_fcs.extend_from_slice(&fcs.to_le_bytes());
        let mut py = Command::new("python3")
            .args(["-c", "import sys, zlib\nd = sys.stdin.buffer.read()\nprint(zlib.crc32(d[:-4]), zlib.crc32(d))"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        py.stdin.take().unwrap().write_all(&with_fcs).unwrap();
        let out = py.wait_with_output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let v: Vec<u32> = text
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        assert_eq!(v[0], fcs, "{name}: zlib's CRC-32 of the frame");
        assert_eq!(
            v[1], 0x2144_df1c,
            "{name}: CRC over frame + FCS must give the residue"
        );
    }
}

#[test]
fn bad_input_exits_2_with_a_clear_error() {
    for (args, needle) in [
        (
            vec!["x", "--flags", "SZ"],
            "'Z' in \"SZ\" is not a TCP flag letter",
        ),
        (
            vec!["x", "--src", "300.0.0.1:5"],
            "is not an address and port; write it like 127.0.0.1:6666 or [::1]:6666",
        ),
        (
            vec!["x", "--src", "[::1]:5", "--dst", "127.0.0.1:6"],
            "of different address families",
        ),
        (
            vec!["x", "--src", "[::1]:5", "--dst", "[::1]:6", "--no-df"],
            "--no-df is IPv4's",
        ),
        (vec!["x", "--flow-label", "1"], "--flow-label is IPv6's"),
        (
            vec![
                "x",
                "--src",
                "[::1]:5",
                "--dst",
                "[::1]:6",
                "--flow-label",
                "0x100000",
            ],
            "does not fit the 20-bit flow label",
        ),
        (vec!["x", "--dst-mac", "00:11"], "must have six hex bytes"),
        (vec!["x", "--ip-options", "9404"], "not a multiple of 4"),
    ] {
        let out = encap().arg("show").args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let big = "a".repeat(65_484);
    let out = encap().args(["show", &big]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("a 65484-byte message does not fit in one IPv4 packet")
            && err.contains("65483 bytes of payload"),
        "{err}"
    );
    // With --segment the same message is split, each segment shown.
    let out = encap()
        .args(["show", &big, "--segment", "1448", "--view", "summary"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("=== segment 46 of 46 ==="),
        "{}",
        &text[..200]
    );
    assert_eq!(text.matches("[ACK]").count(), 45);
    assert_eq!(text.matches("[PSH, ACK]").count(), 1);
}

#[test]
fn output_to_a_closed_pipe_is_not_an_error() {
    let mut child = encap()
        .args(["show", "hello", "--segment", "1", "--color", "always"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let plain = encap().args(["show", "hi"]).output().unwrap().stdout;
    assert!(!plain.contains(&0x1b), "no escape codes in a pipe");
    assert!(
        String::from_utf8_lossy(&plain).contains("tt tt"),
        "marker rows stand in for colour"
    );
    let coloured = encap()
        .args(["show", "hi", "--color", "always"])
        .output()
        .unwrap()
        .stdout;
    assert!(coloured.contains(&0x1b));
    // On a terminal (util-linux `script` gives the command a pseudo-terminal): colour by
    // default, none with NO_COLOR.
    if have("script", "colour_only_when_asked_or_on_a_terminal") {
        let on_tty = |no_color: Option<&str>| {
            let mut cmd = Command::new("script");
            cmd.args([
                "-qec",
                &format!("{} show hi --view summary", env!("CARGO_BIN_EXE_encap")),
                "/dev/null",
            ]);
            match no_color {
                Some(v) => cmd.env("NO_COLOR", v),
                None => cmd.env_remove("NO_COLOR"),
            };
            cmd.output().unwrap().stdout
        };
        let tty = on_tty(None);
        assert!(
            String::from_utf8_lossy(&tty).contains("Application"),
            "the command ran on the terminal"
        );
        assert!(tty.contains(&0x1b), "colour on a terminal");
        assert!(
            !on_tty(Some("1")).contains(&0x1b),
            "NO_COLOR turns it off on a terminal too"
        );
        assert!(
            on_tty(Some("")).contains(&0x1b),
            "an empty NO_COLOR does not (no-color.org)"
        );
    }
}

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "encap-oracles-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `encap show ARGS -w FILE` (standard input `stdin`): its stderr, and tshark's `fields` of
/// every frame of the file.
fn show_through_tshark(
    args: &[&str],
    stdin: &[u8],
    fields: &[&str],
) -> (String, Vec<std::collections::BTreeMap<String, String>>) {
    let pcap = tempdir().join(format!("show-{}.pcap", args.join("_").len()));
    let mut child = encap()
        .arg("show")
        .args(args)
        .args(["--view", "summary", "-w"])
        .arg(&pcap)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{args:?}: {err}");
    let fields: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
    (err, common::tshark_fields(&pcap, &fields, &[]))
}

#[test]
fn show_segments_a_syn_fin_message_as_tcp_numbers_it() {
    if !have(
        "tshark",
        "show_segments_a_syn_fin_message_as_tcp_numbers_it",
    ) {
        return;
    }
    let (_, frames) = show_through_tshark(
        &["abcdefghij", "--segment", "4", "--flags", "SF"],
        b"",
        &["tcp.flags", "tcp.seq_raw", "tcp.len", "_ws.expert"],
    );
    let got: Vec<(&str, &str, &str)> = frames
        .iter()
        .map(|f| {
            (
                f["tcp.flags"].as_str(),
                f["tcp.seq_raw"].as_str(),
                f["tcp.len"].as_str(),
            )
        })
        .collect();
    // SYN only on the first, FIN only on the last; the SYN takes sequence number 1.
    assert_eq!(
        got,
        [
            ("0x0002", "1", "4"),
            ("0x0000", "6", "4"),
            ("0x0001", "10", "2")
        ]
    );
}

#[test]
fn show_without_ack_writes_ack_0_and_tshark_has_no_warning() {
    if !have(
        "tshark",
        "show_without_ack_writes_ack_0_and_tshark_has_no_warning",
    ) {
        return;
    }
    for flags in ["R", "F", "S", ""] {
        let (_, frames) = show_through_tshark(
            &["", "--flags", flags],
            b"",
            &["tcp.ack_raw", "tcp.ack.nonzero"],
        );
        assert_eq!(frames[0]["tcp.ack_raw"], "0", "--flags {flags:?}");
        assert_eq!(
            frames[0]["tcp.ack.nonzero"], "",
            "--flags {flags:?}: tshark warns"
        );
    }
    let (_, frames) = show_through_tshark(&["", "--flags", "A"], b"", &["tcp.ack_raw"]);
    assert_eq!(frames[0]["tcp.ack_raw"], "1");
}

#[test]
fn show_reads_the_message_from_a_file_or_standard_input_and_says_when_it_caps() {
    if !have(
        "tshark",
        "show_reads_the_message_from_a_file_or_standard_input",
    ) {
        return;
    }
    // 200 KiB: far more than an argument may hold, with bytes that are not UTF-8.
    let big: Vec<u8> = (0..200 * 1024).map(|i| (i % 251) as u8).collect();
    let file = tempdir().join("message.bin");
    std::fs::write(&file, &big).unwrap();
    let fields = ["tcp.len", "tcp.payload"];
    for (args, stdin) in [
        (
            vec!["--file", file.to_str().unwrap(), "--segment", "100000"],
            &[][..],
        ),
        (vec!["-", "--segment", "100000"], &big[..]),
    ] {
        let (err, frames) = show_through_tshark(&args, stdin, &fields);
        assert!(
            err.contains(
                "--segment 100000 is more than one packet holds: segments of at most 65483 bytes"
            ),
            "{args:?}: {err}"
        );
        let lens: Vec<&str> = frames.iter().map(|f| f["tcp.len"].as_str()).collect();
        assert_eq!(lens, ["65483", "65483", "65483", "8351"], "{args:?}");
        let carried: Vec<u8> = frames
            .iter()
            .flat_map(|f| {
                let hex = f["tcp.payload"].replace(':', "");
                (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                    .collect::<Vec<u8>>()
            })
            .collect();
        assert!(
            carried == big,
            "{args:?}: the frames do not carry the message"
        );
    }
}

#[test]
fn show_help_derives_the_mss_as_linux_does() {
    let help =
        String::from_utf8(encap().args(["show", "--help"]).output().unwrap().stdout).unwrap();
    // 65495 is 65535 less 40 bytes of headers; lo's MTU 65536 less them would be 65496.
    assert!(help.contains("65535 less the 40 bytes"), "{help}");
    assert!(!help.contains("MTU 65536 less"), "{help}");
}
