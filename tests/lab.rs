//! `encap lab` as root: the namespaces come and go leaving the root namespace as it was, and the
//! demo's frames on both links are what a router makes of them (ARP or neighbour discovery first,
//! TTL or hop limit one less, both MACs rewritten), read back by tshark from the pcapng it wrote.
//! Skipped (with the reason printed) when not root or a tool is missing; CI makes a skip fail.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use common::{encap, have, is_root, tshark_fields, with_timeout};

/// The tests compare the system's namespaces and links before and after: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Longest a lab command may take before the test kills it.
const LIMIT: Duration = Duration::from_secs(60);

/// Removes whatever a test's lab left, even when the test fails.
struct Cleanup;

impl Drop for Cleanup {
    fn drop(&mut self) {
        let mut down = encap();
        down.args(["lab", "down"]);
        let _ = with_timeout(down, LIMIT);
    }
}

fn ready(test: &str, tools: &[&str]) -> bool {
    is_root(test) && tools.iter().all(|t| have(t, test))
}

/// `ip netns list` and `ip -br link` of this (the root) namespace.
fn system_state() -> (String, String) {
    let run = |args: &[&str]| {
        let out = Command::new("ip").args(args).output().expect("run ip");
        assert!(out.status.success(), "ip {args:?} failed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    (run(&["netns", "list"]), run(&["-br", "link"]))
}

fn lab(args: &[&str]) -> (String, String) {
    let mut cmd = encap();
    cmd.arg("lab").args(args);
    let out = with_timeout(cmd, LIMIT);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "encap lab {args:?}: {}\n{stdout}\n{stderr}",
        out.status
    );
    (stdout, stderr)
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("encap-lab-test-{}-{name}", std::process::id()))
}

#[test]
fn up_status_exec_down_leave_the_system_as_it_was_mtu_b() {
    if !ready(
        "up_status_exec_down_leave_the_system_as_it_was_mtu_b",
        &["ip"],
    ) {
        return;
    }
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let _cleanup = Cleanup;
    let before = system_state();
    let (up, _) = lab(&["up", "--mtu-b", "1400"]);
    assert!(up.contains("02:00:00:00:0a:01"), "{up}");
    let (mtu, _) = lab(&["exec", "r", "--", "ip", "-o", "link", "show", "dev", "r-b"]);
    assert!(mtu.contains(" mtu 1400 "), "{mtu}");
    let (mtu, _) = lab(&["exec", "a", "--", "ip", "-o", "link", "show", "dev", "a-r"]);
    assert!(mtu.contains(" mtu 1500 "), "{mtu}");
    let (status, _) = lab(&["status"]);
    assert!(status.contains("kept"), "{status}");
    let (addr, _) = lab(&["exec", "a", "--", "ip", "-br", "addr", "show", "dev", "a-r"]);
    assert!(
        addr.contains("192.0.2.10/24") && addr.contains("2001:db8:a::10/64"),
        "{addr}"
    );
    let (route, _) = lab(&["exec", "b", "--", "ip", "route", "show", "default"]);
    assert!(route.contains("via 198.51.100.1"), "{route}");
    let (fwd, _) = lab(&["exec", "r", "--", "cat", "/proc/sys/net/ipv4/ip_forward"]);
    assert_eq!(fwd.trim(), "1");
    assert_eq!(
        before.1,
        system_state().1,
        "the lab changed the root namespace's links"
    );
    lab(&["down"]);
    assert_eq!(
        before,
        system_state(),
        "namespaces or links left after down"
    );
}

/// One frame as tshark reads it: field name to value.
type Row = BTreeMap<String, String>;

fn read_back(file: &Path) -> Vec<Row> {
    let fields: Vec<String> = [
        "frame.interface_id",
        "frame.interface_name",
        "eth.src",
        "eth.dst",
        "arp.opcode",
        "icmpv6.type",
        "icmp.mtu",
        "icmpv6.mtu",
        "ip.src",
        "ip.ttl",
        "ipv6.src",
        "ipv6.hlim",
        "ip.id",
        "tcp.seq_raw",
        "tcp.ack_raw",
        "tcp.flags",
        "tcp.len",
        "tcp.checksum.status",
    ]
    .iter()
    .map(|s| (*s).to_string())
    .collect();
    tshark_fields(file, &fields, &["tcp.check_checksum:TRUE"])
}

fn on_link<'a>(rows: &'a [Row], link: &str) -> Vec<&'a Row> {
    rows.iter()
        .filter(|r| r["frame.interface_id"] == link)
        .collect()
}

/// The same TCP segment on the other link.
fn segment_key(r: &Row) -> String {
    [
        "tcp.seq_raw",
        "tcp.ack_raw",
        "tcp.flags",
        "tcp.len",
        "ip.id",
        "ip.src",
        "ipv6.src",
    ]
    .iter()
    .map(|f| r[*f].as_str())
    .collect::<Vec<_>>()
    .join("/")
}

/// Runs the demo and returns what tshark read from the pcapng it wrote.
fn demo(extra: &[&str], name: &str) -> (String, Vec<Row>) {
    let file = temp(name);
    let path = file.to_string_lossy().into_owned();
    let mut args = vec!["demo", "-w", &path];
    args.extend_from_slice(extra);
    let (stdout, _) = lab(&args);
    let bytes = std::fs::read(&file).expect("the pcapng the demo wrote");
    assert_eq!(
        bytes.get(..4),
        Some(&[0x0a, 0x0d, 0x0d, 0x0a][..]),
        "pcapng magic"
    );
    let rows = read_back(&file);
    // The file, one interface per link, verifies on its own: both links and the hops at r.
    let verify = encap()
        .arg("verify")
        .arg(&file)
        .output()
        .expect("encap verify");
    let text = String::from_utf8_lossy(&verify.stdout);
    assert_eq!(
        verify.status.code(),
        Some(0),
        "encap verify {path}:\n{text}"
    );
    for link in ["a-r", "r-b"] {
        assert!(
            text.contains(&format!("== link {link}: every frame checked")),
            "{text}"
        );
    }
    assert!(text.lines().any(|l| l.starts_with("hops at r ")), "{text}");
    let _ = std::fs::remove_file(&file);
    (stdout, rows)
}

/// The frame the host or router sends first on each link resolves the next hop's MAC: the
/// request and its reply (`asked`, `told`) come before the first frame of the connection.
fn resolution_first(rows: &[Row], field: &str, asked: &str, told: &str, ip_field: &str) {
    for link in ["0", "1"] {
        let frames = on_link(rows, link);
        let first_tcp = frames
            .iter()
            .position(|r| !r[ip_field].is_empty() && !r["tcp.flags"].is_empty())
            .unwrap_or_else(|| panic!("no TCP frame on link {link}"));
        let before: Vec<&str> = frames[..first_tcp]
            .iter()
            .map(|r| r[field].as_str())
            .collect();
        let ask = before.iter().position(|v| *v == asked);
        let tell = before.iter().rposition(|v| *v == told);
        assert!(
            matches!((ask, tell), (Some(a), Some(t)) if a < t),
            "link {link}: no {field} {asked} then {told} before the first TCP frame: {before:?}"
        );
    }
}

/// Every TCP segment is on both links, with `hop` 64 on the sender's link and 63 on the other,
/// both MACs rewritten as the lab's fixed MACs say.
fn forwarded(rows: &[Row], hop: &str, a: &str) {
    let mut checked = 0;
    for r in rows.iter().filter(|r| !r["tcp.flags"].is_empty()) {
        let from_a = r["ip.src"] == a || r["ipv6.src"] == a;
        let (first, second) = if from_a { ("0", "1") } else { ("1", "0") };
        if r["frame.interface_id"] != first {
            continue;
        }
        let key = segment_key(r);
        let other = rows
            .iter()
            .find(|o| o["frame.interface_id"] == second && segment_key(o) == key)
            .unwrap_or_else(|| panic!("segment {key} not on link {second}"));
        assert_eq!(
            (r[hop].as_str(), other[hop].as_str()),
            ("64", "63"),
            "{hop} of {key}"
        );
        let macs = |r: &Row| (r["eth.src"].clone(), r["eth.dst"].clone());
        let expect = if from_a {
            [
                ("02:00:00:00:0a:01", "02:00:00:00:0a:02"),
                ("02:00:00:00:0b:02", "02:00:00:00:0b:01"),
            ]
        } else {
            [
                ("02:00:00:00:0b:01", "02:00:00:00:0b:02"),
                ("02:00:00:00:0a:02", "02:00:00:00:0a:01"),
            ]
        };
        let expect = expect.map(|(s, d)| (s.to_string(), d.to_string()));
        assert_eq!([macs(r), macs(other)], expect, "MACs of {key}");
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} segments checked across r");
}

/// The demo's own verdicts: every frame on both links and every hop at r as the model said,
/// the address resolution (`ARP, Request` or `neighbor solicitation`) checked on each link.
fn all_as_the_model_said(stdout: &str, resolution: &[&str]) {
    assert!(
        stdout.contains(
            "0 MISMATCH: every frame on both links, and every hop at r, as the model said"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("MISMATCH frame"), "{stdout}");
    for link in ["a-r", "r-b"] {
        let section = stdout
            .split(&format!(
                "== link {link}: every frame checked against the model"
            ))
            .nth(1)
            .and_then(|s| s.split("\n== ").next())
            .unwrap_or_else(|| panic!("no section for link {link}:\n{stdout}"));
        for what in resolution {
            assert!(
                section
                    .lines()
                    .any(|l| l.contains(what) && l.contains("fields as the model said")),
                "link {link}: no {what} checked:\n{section}"
            );
        }
        let tcp = section.lines().filter(|l| l.contains(" [SYN")).count();
        assert_eq!(tcp, 2, "link {link}: SYN and SYN-ACK checked:\n{section}");
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&format!("{link} ARP / neighbour discovery"))),
            "{stdout}"
        );
    }
    let hops = stdout
        .lines()
        .filter(|l| {
            l.starts_with("TCP [")
                && l.contains(": at r: ")
                && l.contains("fields as the model said")
        })
        .count();
    assert!(hops >= 10, "{hops} hops checked at r:\n{stdout}");
}

#[test]
fn demo_ipv4_arp_first_ttl_and_macs_rewritten() {
    if !ready(
        "demo_ipv4_arp_first_ttl_and_macs_rewritten",
        &["ip", "tshark"],
    ) {
        return;
    }
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let _cleanup = Cleanup;
    let before = system_state();
    let (stdout, rows) = demo(&[], "v4.pcapng");
    let names: std::collections::BTreeSet<&str> = rows
        .iter()
        .map(|r| r["frame.interface_name"].as_str())
        .collect();
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["a-r", "r-b"],
        "one interface per link"
    );
    resolution_first(&rows, "arp.opcode", "1", "2", "ip.src");
    forwarded(&rows, "ip.ttl", "192.0.2.10");
    assert!(stdout.contains("at r: TTL 64 -> 63, source MAC 02:00:00:00:0a:01 -> 02:00:00:00:0b:02, destination MAC 02:00:00:00:0a:02 -> 02:00:00:00:0b:01, header checksum 0x"), "{stdout}");
    assert!(stdout.contains("received: \"hi\\n\", intact"), "{stdout}");
    all_as_the_model_said(&stdout, &["ARP, Request who-has", "ARP, Reply"]);
    assert_eq!(before, system_state(), "the demo left namespaces or links");
}

#[test]
fn demo_offload_off_full_tcp_checksums() {
    if !ready(
        "demo_offload_off_full_tcp_checksums",
        &["ip", "tshark", "ethtool"],
    ) {
        return;
    }
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let _cleanup = Cleanup;
    let (stdout, rows) = demo(&["--offload", "off"], "off.pcapng");
    all_as_the_model_said(&stdout, &["ARP, Request who-has", "ARP, Reply"]);
    let statuses: Vec<&str> = rows
        .iter()
        .filter(|r| !r["tcp.flags"].is_empty())
        .map(|r| r["tcp.checksum.status"].as_str())
        .collect();
    assert!(statuses.len() >= 20, "{statuses:?}");
    // tshark's checksum status: 1 good, 0 bad, 2 unverified.
    assert!(
        statuses.iter().all(|s| *s == "1"),
        "TCP checksums: {statuses:?}"
    );
    forwarded(&rows, "ip.ttl", "192.0.2.10");
}

#[test]
fn demo_ipv6_neighbour_discovery_and_hop_limit() {
    if !ready(
        "demo_ipv6_neighbour_discovery_and_hop_limit",
        &["ip", "tshark", "ethtool"],
    ) {
        return;
    }
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let _cleanup = Cleanup;
    let before = system_state();
    let (stdout, rows) = demo(&["--ipv6"], "v6.pcapng");
    resolution_first(&rows, "icmpv6.type", "135", "136", "ipv6.src");
    forwarded(&rows, "ipv6.hlim", "2001:db8:a::10");
    assert!(stdout.contains("at r: hop limit 64 -> 63"), "{stdout}");
    all_as_the_model_said(
        &stdout,
        &["neighbor solicitation", "neighbor advertisement"],
    );
    let (stdout, rows) = demo(&["--ipv6", "--offload", "off"], "v6-off.pcapng");
    all_as_the_model_said(
        &stdout,
        &["neighbor solicitation", "neighbor advertisement"],
    );
    forwarded(&rows, "ipv6.hlim", "2001:db8:a::10");
    assert_eq!(before, system_state(), "the demo left namespaces or links");
}

#[test]
fn a_run_killed_with_sigkill_is_removed_by_down() {
    if !ready("a_run_killed_with_sigkill_is_removed_by_down", &["ip"]) {
        return;
    }
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let _cleanup = Cleanup;
    let before = system_state();
    let mut child = encap()
        .args(["lab", "demo", "--wait-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn encap lab demo");
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    // The event: the run says its lab and captures are ready (or ends, and the test fails).
    let said_ready = lines.any(|l| l.is_ok_and(|l| l == "ready"));
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    drop(child.stdin.take().map(|mut s| s.write_all(b"\n")));
    assert!(said_ready, "the demo never said ready");
    let left = system_state().0;
    assert!(
        left.contains(&format!("encap-{pid}-a")) && left.contains(&format!("encap-{pid}-r")),
        "the killed run's namespaces: {left}"
    );
    let (down, _) = lab(&["down"]);
    assert!(down.contains(&format!("encap-{pid}-b")), "{down}");
    assert_eq!(before, system_state(), "down left namespaces or links");
}

/// `--mtu-b 1400`: r's end of r-b narrower than b's, so b still announces MSS 1460 and a's
/// 4200-byte message leaves as one packet r cannot forward with DF set (IPv6: ever). r drops it
/// and answers with ICMP fragmentation needed (ICMPv6 packet too big), next-hop MTU 1400; a sends
/// the bytes again, now 4 segments of 1348 (their IP IDs show it) instead of 3 of 1448; the
/// dropped packet never appears on r-b, and the model predicted all of it.
#[test]
fn demo_mtu_b_1400_icmp_fragmentation_needed_and_smaller_segments() {
    if !ready(
        "demo_mtu_b_1400_icmp_fragmentation_needed_and_smaller_segments",
        &["ip", "tshark"],
    ) {
        return;
    }
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let _cleanup = Cleanup;
    for (extra, icmp, tag) in [
        (
            &["--mtu-b", "1400"][..],
            "ICMP unreachable - need to frag",
            "v4",
        ),
        (
            &["--mtu-b", "1400", "--ipv6"][..],
            "ICMP6, packet too big",
            "v6",
        ),
        (
            &["--mtu-b", "1400", "--offload", "off"][..],
            "ICMP unreachable - need to frag",
            "v4-off",
        ),
        (
            &["--mtu-b", "1400", "--ipv6", "--offload", "off"][..],
            "ICMP6, packet too big",
            "v6-off",
        ),
    ] {
        if tag.ends_with("-off") {
            offload_off_segments_shrink(extra, icmp, tag);
            continue;
        }
        let (stdout, rows) = demo(extra, &format!("mtu-{tag}.pcapng"));
        assert!(
            stdout.contains("0 MISMATCH: every frame on both links"),
            "{stdout}"
        );
        let line = stdout
            .lines()
            .find(|l| l.contains(icmp))
            .unwrap_or_else(|| panic!("{tag}: no ICMP error checked:\n{stdout}"));
        assert!(
            line.contains("refused (MTU 1400): ") && !line.contains("MISMATCH"),
            "{line}"
        );
        assert!(
            stdout
                .lines()
                .any(|l| l.contains("dropped at r: larger than the next-hop MTU 1400")),
            "{stdout}"
        );
        // On link a-r: the 4200 bytes twice, r's message between, naming MTU 1400.
        let a_r = on_link(&rows, "0");
        let big: Vec<usize> = (0..a_r.len())
            .filter(|&i| a_r[i]["tcp.len"] == "4200")
            .collect();
        assert_eq!(big.len(), 2, "{tag}: {a_r:#?}");
        let between = &a_r[big[0] + 1..big[1]];
        let mtu_field = if tag == "v4" {
            "icmp.mtu"
        } else {
            "icmpv6.mtu"
        };
        assert!(
            between.iter().any(|r| r[mtu_field] == "1400"),
            "{tag}: {between:#?}"
        );
        assert_eq!(a_r[big[0]]["tcp.seq_raw"], a_r[big[1]]["tcp.seq_raw"]);
        // On r-b the bytes come once: the packet r forwarded after the smaller MTU.
        let r_b = on_link(&rows, "1");
        assert_eq!(
            r_b.iter().filter(|r| r["tcp.len"] == "4200").count(),
            1,
            "{tag}"
        );
        if tag == "v4" {
            // a's next segment after the one sent again: its IP ID 4 on (4 segments of 1348).
            let id =
                |r: &Row| u16::from_str_radix(r["ip.id"].trim_start_matches("0x"), 16).unwrap();
            let next = a_r[big[1] + 1..]
                .iter()
                .find(|r| r["ip.src"] == "192.0.2.10" && !r["tcp.seq_raw"].is_empty())
                .unwrap();
            assert_eq!(id(next), id(a_r[big[1]]).wrapping_add(4), "{next:?}");
        }
    }
}

/// `--mtu-b 1400 --offload off`: a's 4200 bytes leave cut at the MSS b announced (IPv4 1448 +
/// 1448 + 1304; IPv6 1428 + 1428 + 1344); r refuses each one larger than 1400 bytes of IP (one
/// ICMP error each) and forwards the rest, which b holds out of order (its ACKs carry it as a
/// SACK block); a sends the refused bytes again cut at 1400 less the headers and timestamps
/// (IPv4 1348 + 1348 + 200; IPv6 1328 + 1328 + 1328 + 216), and nothing after them is larger;
/// the model predicted all of it (0 MISMATCH).
fn offload_off_segments_shrink(extra: &[&str], icmp: &str, tag: &str) {
    let (stdout, rows) = demo(extra, &format!("mtu-{tag}.pcapng"));
    assert!(
        stdout.contains("0 MISMATCH: every frame on both links"),
        "{stdout}"
    );
    let v6 = tag.starts_with("v6");
    let (first, again, refused): (&[usize], &[usize], usize) = if v6 {
        (&[1428, 1428, 1344], &[1328, 1328, 1328, 216], 3)
    } else {
        (&[1448, 1448, 1304], &[1348, 1348, 200], 2)
    };
    let count = |what: &str| stdout.lines().filter(|l| l.contains(what)).count();
    assert_eq!(
        count(icmp),
        refused,
        "{tag}: one error per refused segment:\n{stdout}"
    );
    assert_eq!(
        count("dropped at r: larger than the next-hop MTU 1400"),
        refused,
        "{tag}:\n{stdout}"
    );
    let (src, a) = if v6 {
        ("ipv6.src", "2001:db8:a::10")
    } else {
        ("ip.src", "192.0.2.10")
    };
    let mtu_field = if v6 { "icmpv6.mtu" } else { "icmp.mtu" };
    let a_r = on_link(&rows, "0");
    assert_eq!(
        a_r.iter().filter(|r| r[mtu_field] == "1400").count(),
        refused,
        "{tag}"
    );
    let data: Vec<usize> = a_r
        .iter()
        .filter(|r| r[src] == a && r[mtu_field].is_empty() && !r["tcp.len"].is_empty())
        .map(|r| r["tcp.len"].parse().unwrap())
        .filter(|&n: &usize| n > 0)
        .collect();
    let at = |run: &[usize]| {
        data.windows(run.len())
            .position(|w| w == run)
            .unwrap_or_else(|| panic!("{tag}: no {run:?} in {data:?}"))
    };
    let (sent, resent) = (at(first), at(again));
    assert!(sent < resent, "{tag}: {data:?}");
    let most = again[0];
    assert!(data[resent..].iter().all(|&n| n <= most), "{tag}: {data:?}");
}
