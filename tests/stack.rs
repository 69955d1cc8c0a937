//! `encap lab demo --stack encap` as root: encap's own TCP/IP endpoint in namespace a talks to a
//! kernel socket program in b (`encap server`, `nc -l`, the blog's server.py) across r. Each
//! dialogue must arrive intact, b's kernel's frames must be as the model predicts, and tshark
//! must find every frame encap sent with good IPv4 and TCP checksums (over IPv6: good TCP and
//! ICMPv6 checksums, encap's own neighbour discovery on a-r). Skipped (with the reason
//! printed) when not root or a tool is missing; CI makes a skip fail.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::Duration;

use common::{encap, have, is_root, tshark_fields, with_timeout};

/// One lab at a time: the machine is small, and each run makes three namespaces.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Longest a run may take before the test kills it (a retransmission takes one second).
const LIMIT: Duration = Duration::from_secs(90);

/// encap's endpoint's MAC on a-r.
const ENCAP_MAC: &str = "02:00:00:00:0a:01";

fn ready(test: &str, tools: &[&str]) -> bool {
    is_root(test) && tools.iter().all(|t| have(t, test))
}

fn seed_server_py(test: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/seed/server.py");
    common::ready(p.is_file(), test, &format!("{} is missing", p.display())).then_some(p)
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("encap-stack-test-{}-{name}", std::process::id()))
}

/// Runs the demo; checks that its lab's namespaces are gone afterwards.
fn demo(args: &[&str]) -> (Output, String, String) {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut cmd = encap();
    cmd.args(["lab", "demo", "--stack", "encap"]).args(args);
    let out = with_timeout(cmd, LIMIT);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let id = stdout
        .split_whitespace()
        .find(|w| w.starts_with("encap-") && !w.contains('/'))
        .unwrap_or_else(|| panic!("no lab id in the output:\n{stdout}\n{stderr}"))
        .to_string();
    let list = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(
        !list.contains(&format!("{id}-")),
        "{id}'s namespaces are left: {list}"
    );
    (out, stdout, stderr)
}

/// Every frame encap's endpoint sent on a-r (interface 0), as tshark reads it with checksum
/// validation on: each has a good IPv4 header checksum and, if TCP, a good TCP checksum; over
/// IPv6 a good TCP or ICMPv6 checksum (each neighbour solicitation and advertisement with hop
/// limit 255).
fn assert_encap_frames_have_good_checksums(pcap: &Path) -> usize {
    let fields: Vec<String> = [
        "frame.interface_id",
        "eth.src",
        "ip.checksum.status",
        "tcp.checksum.status",
        "eth.type",
        "frame.number",
        "icmpv6.checksum.status",
        "icmpv6.type",
        "ipv6.hlim",
    ]
    .map(String::from)
    .to_vec();
    let prefs = ["tcp.check_checksum:TRUE", "ip.check_checksum:TRUE"];
    let rows: Vec<BTreeMap<String, String>> = tshark_fields(pcap, &fields, &prefs)
        .into_iter()
        .filter(|r| r["frame.interface_id"] == "0" && r["eth.src"] == ENCAP_MAC)
        .collect();
    let (mut tcp, mut arp, mut nd) = (0, 0, 0);
    for r in &rows {
        match r["eth.type"].as_str() {
            "0x0800" => {
                assert_eq!(r["ip.checksum.status"], "1", "IPv4 checksum of frame {r:?}");
                assert_eq!(r["tcp.checksum.status"], "1", "TCP checksum of frame {r:?}");
                tcp += 1;
            }
            "0x0806" => arp += 1,
            "0x86dd" if r["icmpv6.type"].is_empty() => {
                assert_eq!(r["tcp.checksum.status"], "1", "TCP checksum of frame {r:?}");
                tcp += 1;
            }
            "0x86dd" => {
                assert!(
                    ["135", "136"].contains(&r["icmpv6.type"].as_str()),
                    "only neighbour discovery: {r:?}"
                );
                assert_eq!(r["icmpv6.checksum.status"], "1", "ICMPv6 checksum of {r:?}");
                assert_eq!(r["ipv6.hlim"], "255", "hop limit of {r:?}");
                nd += 1;
            }
            // a's kernel has neither IPv4 nor IPv6 on a-r: nothing else comes from a's MAC.
            other => panic!("a frame of type {other} from a's MAC: {r:?}"),
        }
    }
    assert!(
        arp + nd >= 1,
        "encap's ARP request or neighbour solicitation is on a-r: {rows:?}"
    );
    assert!(tcp >= 8, "SYN, ACKs, three messages and the FIN: {rows:?}");
    tcp
}

/// The dialogue with `peer`: exit 0, every message intact at both ends, 0 MISMATCH for b's
/// kernel, good checksums on every frame encap sent.
fn dialogue_with(test: &str, peer: &str, tools: &[&str], messages: &[&str], extra: &[&str]) {
    let mut need = vec!["ip", "tshark"];
    need.extend(tools);
    if !ready(test, &need) {
        return;
    }
    let Some(server_py) = seed_server_py(test) else {
        return;
    };
    let pcap = temp(&format!("{peer}.pcapng"));
    let server_py = server_py.to_string_lossy().into_owned();
    let w = pcap.to_string_lossy().into_owned();
    let mut args = vec!["--peer", peer, "--server-py", &server_py, "-w", &w];
    args.extend(extra);
    let (out, stdout, stderr) = demo(&args);
    assert!(out.status.success(), "{}\n{stdout}\n{stderr}", out.status);
    let b = if extra.contains(&"--ipv6") {
        "[2001:db8:b::10]:6666"
    } else {
        "198.51.100.10:6666"
    };
    for m in messages {
        let line = format!("received {m:?} intact");
        assert!(stdout.contains(&line), "{line} not in:\n{stdout}");
    }
    for reply in ["hi", "你好，客户端 👋"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.contains(&format!("{b} says (")) && l.contains(reply)),
            "the peer's {reply:?} did not reach encap's endpoint:\n{stdout}"
        );
    }
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("b's kernel: "))
        .unwrap_or_else(|| panic!("no model summary:\n{stdout}"));
    assert!(summary.contains(" 0 MISMATCH"), "{summary}");
    assert!(!summary.starts_with("b's kernel: 0 frames"), "{summary}");
    assert!(
        stdout.contains(&format!("connection with {b} closed")),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "0 MISMATCH: every frame on both links, and every hop at r, as the model said"
        ),
        "{stdout}"
    );
    assert_encap_frames_have_good_checksums(&pcap);
    let _ = std::fs::remove_file(&pcap);
}

#[test]
fn the_dialogue_with_encap_server() {
    dialogue_with(
        "the_dialogue_with_encap_server",
        "encap",
        &[],
        &["hello\n", "你好，服务器！\n", "exit\n"],
        &[],
    );
}

/// With offloads off b's kernel computes its TCP checksums in full: the endpoint gets them as a
/// wire would carry them.
#[test]
fn the_dialogue_with_encap_server_offload_off() {
    dialogue_with(
        "the_dialogue_with_encap_server_offload_off",
        "encap",
        &["ethtool"],
        &["hello\n", "你好，服务器！\n", "exit\n"],
        &["--offload", "off"],
    );
}

#[test]
fn the_dialogue_with_nc() {
    dialogue_with(
        "the_dialogue_with_nc",
        "nc",
        &["nc"],
        &["hello\n", "你好，服务器！\n", "exit\n"],
        &[],
    );
}

#[test]
fn the_dialogue_with_the_blogs_server_py() {
    dialogue_with(
        "the_dialogue_with_the_blogs_server_py",
        "python",
        &["python3"],
        &["hello", "你好，服务器！", "exit"],
        &[],
    );
}

#[test]
fn a_dropped_first_data_segment_is_sent_again_after_the_rto() {
    let test = "a_dropped_first_data_segment_is_sent_again_after_the_rto";
    if !ready(test, &["ip", "tshark"]) {
        return;
    }
    let pcap = temp("drop.pcapng");
    let w = pcap.to_string_lossy().into_owned();
    let (out, stdout, stderr) = demo(&["--drop-first-data", "-w", &w]);
    assert!(out.status.success(), "{}\n{stdout}\n{stderr}", out.status);
    assert!(
        stdout.contains("DROPPED by the edge on purpose"),
        "{stdout}"
    );
    assert!(
        stdout
            .contains("RTO ran out after 1000 ms: sent again seq 1 (relative), 6 sequence numbers"),
        "{stdout}"
    );
    assert!(stdout.contains("received \"hello\\n\" intact"), "{stdout}");
    assert!(stdout.contains("received \"exit\\n\" intact"), "{stdout}");
    // The segment left once, on a-r: the dropped copy never reached the link.
    let rows = tshark_fields(
        &pcap,
        &[
            "frame.interface_id".into(),
            "eth.src".into(),
            "tcp.len".into(),
        ],
        &[],
    );
    let hello = rows
        .iter()
        .filter(|r| {
            r["frame.interface_id"] == "0" && r["eth.src"] == ENCAP_MAC && r["tcp.len"] == "6"
        })
        .count();
    assert_eq!(hello, 1, "{rows:?}");
    assert_encap_frames_have_good_checksums(&pcap);
    let _ = std::fs::remove_file(&pcap);
}

#[test]
fn a_closed_port_gets_the_kernel_s_rst_and_exit_status_1() {
    let test = "a_closed_port_gets_the_kernel_s_rst_and_exit_status_1";
    if !ready(test, &["ip"]) {
        return;
    }
    let (out, stdout, stderr) = demo(&["--peer", "none"]);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("connection refused"), "{stderr}");
    assert!(
        stdout.contains("answered the SYN with RST, ACK"),
        "{stdout}"
    );
    assert!(
        stdout.contains("from b's kernel: RST, ACK seq 0 ack 1"),
        "{stdout}"
    );
}

/// IPv6: encap's own neighbour discovery on a-r, then the same dialogue and checks.
#[test]
fn the_dialogue_over_ipv6_with_nc() {
    dialogue_with(
        "the_dialogue_over_ipv6_with_nc",
        "nc",
        &["nc"],
        &["hello\n", "你好，服务器！\n", "exit\n"],
        &["--ipv6"],
    );
}

#[test]
fn the_dialogue_over_ipv6_with_the_blogs_server_py_offload_off() {
    dialogue_with(
        "the_dialogue_over_ipv6_with_the_blogs_server_py_offload_off",
        "python",
        &["python3", "ethtool"],
        &["hello", "你好，服务器！", "exit"],
        &["--ipv6", "--offload", "off"],
    );
}

#[test]
fn ipv6_with_encap_server_in_b_is_a_clear_usage_error() {
    let out = encap()
        .args([
            "lab", "demo", "--stack", "encap", "--ipv6", "--peer", "encap",
        ])
        .output()
        .expect("run encap");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("pick --peer nc or --peer python"),
        "{stderr}"
    );
}
