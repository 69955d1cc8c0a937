//! ARP and neighbour discovery checked by `encap verify` on the lab's captures (`captures/record.sh
//! lab`: nc across the router, both links, offloads on and off): the request and reply
//! predicted, the MACs of every TCP frame learned from them, edits caught, and what a link carries
//! besides listed without failing.

mod common;

use std::path::{Path, PathBuf};

use common::encap;

const LAB: [&str; 4] = [
    "lab-offload-on-nc-a-r.pcap",
    "lab-offload-on-nc-r-b.pcap",
    "lab-offload-off-nc-a-r.pcap",
    "lab-offload-off-nc-r-b.pcap",
];

/// The same over IPv6: neighbour solicitation and advertisement instead of ARP.
const LAB6: [&str; 4] = [
    "lab-ipv6-offload-on-nc-a-r.pcap",
    "lab-ipv6-offload-on-nc-r-b.pcap",
    "lab-ipv6-offload-off-nc-a-r.pcap",
    "lab-ipv6-offload-off-nc-r-b.pcap",
];

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures")
        .join(name)
}

fn verify(path: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let out = encap()
        .arg("verify")
        .args(extra)
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Every TCP frame's two MACs come from the neighbour caches ARP or neighbour discovery
/// filled, the frames a link carries besides are listed, and nothing is a MISMATCH.
fn macs_learned_and_the_rest_listed(name: &str, t: &str) {
    let frames = t
        .lines()
        .filter(|l| l.contains(" [") && l.contains("fields as the model said"))
        .count();
    let learned = |what: &str| {
        t.lines()
            .filter(|l| l.contains(what) && l.contains("learned: "))
            .count()
    };
    assert!(frames >= 10, "{name}: {frames} TCP frames");
    assert_eq!(
        learned("learned: the next hop's MAC, as the sender's neighbour cache holds it"),
        frames,
        "{name}:\n{t}"
    );
    assert_eq!(
        learned("learned: the sender's own MAC, as its ARP or neighbour discovery"),
        frames,
        "{name}"
    );
    // MLDv2 reports are named and listed, not counted.
    assert!(
        t.contains("ICMP6, multicast listener report v2 (an interface announcing")
            && t.contains("multicast listener report v2 listed above: not modelled, not a finding"),
        "{name}:\n{t}"
    );
    assert!(!t.contains("MISMATCH frame"), "{name}:\n{t}");
    // The real-wire view: veth shows no FCS, the CRC-32 a wire would carry is named.
    let fcs = t
        .lines()
        .filter(|l| l.contains("Frame check sequence"))
        .collect::<Vec<_>>();
    assert_eq!(fcs.len(), frames, "{name}");
    assert!(
        fcs.iter()
            .all(|l| l.contains("a veth, like lo, carries no FCS")
                && l.contains("on a real wire this frame would end with CRC-32 0x")),
        "{fcs:?}"
    );
}

#[test]
fn each_lab_link_over_ipv6_verifies_with_neighbour_discovery_predicted() {
    for name in LAB6 {
        let (code, t) = verify(&capture(name), &["-v"]);
        assert_eq!(code, Some(0), "{name}:\n{t}");
        let ns = t
            .lines()
            .find(|l| l.contains("neighbor solicitation, who has"))
            .unwrap_or_else(|| panic!("{name}: no solicitation checked:\n{t}"));
        assert!(
            ns.contains("(to its solicited-node group): 19/19 fields"),
            "{ns}"
        );
        let na = t
            .lines()
            .find(|l| l.contains("neighbor advertisement, tgt is"))
            .unwrap();
        assert!(
            na.contains("22/22 fields as the model said (20 predicted"),
            "{na}"
        );
        macs_learned_and_the_rest_listed(name, &t);
    }
}

#[test]
fn each_lab_link_verifies_with_arp_predicted_and_macs_learned_from_it() {
    for name in LAB {
        let (code, t) = verify(&capture(name), &["-v"]);
        assert_eq!(code, Some(0), "{name}:\n{t}");
        let request = t
            .lines()
            .find(|l| l.contains("ARP, Request who-has"))
            .unwrap_or_else(|| panic!("{name}: no ARP request checked:\n{t}"));
        assert!(
            request.contains("(broadcast): 12/12 fields as the model said"),
            "{request}"
        );
        let reply = t.lines().find(|l| l.contains("ARP, Reply")).unwrap();
        assert!(
            reply.contains("12/12 fields as the model said (11 predicted"),
            "{reply}"
        );
        assert!(
            t.lines()
                .any(|l| l.starts_with("ARP / neighbour discovery ") && l.contains(" 2 ")),
            "{t}"
        );
        macs_learned_and_the_rest_listed(name, &t);
    }
}

fn edited(name: &str, n: usize, at: usize, value: u8, tag: &str) -> PathBuf {
    let mut bytes = std::fs::read(capture(name)).unwrap();
    let f = common::pcap_frame_at(&bytes, n);
    bytes[f + at] = value;
    let path =
        std::env::temp_dir().join(format!("encap-neighbour-{}-{tag}.pcap", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    path
}

fn mismatch(path: &Path, n: u64, field: &str, model: &str) {
    let (code, t) = verify(path, &[]);
    assert_eq!(code, Some(1), "{t}");
    assert!(
        t.lines()
            .any(|l| l.contains(&format!("MISMATCH frame {n} {field}"))
                && l.contains(&format!("model {model}"))),
        "no MISMATCH of {field} in frame {n} (model {model}):\n{t}"
    );
    std::fs::remove_file(path).unwrap();
}

#[test]
fn edited_arp_and_macs_are_mismatches_with_both_values() {
    let name = "lab-offload-off-nc-a-r.pcap";
    // Frames 1-3 are MLDv2 reports, 4 the request, 5 the reply, 6 the SYN.
    let (_, t) = verify(&capture(name), &[]);
    assert!(
        t.contains("frame 5: ARP, Reply 192.0.2.1 is-at 02:00:00:00:0a:02"),
        "{t}"
    );
    // The reply's target MAC (bytes 32-37): the asker's, from the request.
    mismatch(
        &edited(name, 5, 37, 0x07, "tha"),
        5,
        "ARP Target MAC",
        "02:00:00:00:0a:01",
    );
    // The reply's target IP (bytes 38-41): the asker's.
    mismatch(
        &edited(name, 5, 41, 11, "tpa"),
        5,
        "ARP Target IP",
        "192.0.2.10",
    );
    // The request sent to one station instead of everyone.
    mismatch(
        &edited(name, 4, 0, 0x02, "bcast"),
        4,
        "Ethernet II Destination",
        "ff:ff:ff:ff:ff:ff",
    );
    // A later segment to another MAC than the one ARP resolved for the router.
    mismatch(
        &edited(name, 8, 5, 0x09, "dmac"),
        8,
        "Ethernet II Destination",
        "02:00:00:00:0a:02",
    );
    // Over IPv6: an advertisement answering a multicast solicitation without its override
    // flag (frame 6, flags at byte 58: R, S and O set).
    let name = "lab-ipv6-offload-off-nc-a-r.pcap";
    let (_, t) = verify(&capture(name), &[]);
    assert!(
        t.contains("frame 6: ICMP6, neighbor advertisement, tgt is 2001:db8:a::1"),
        "{t}"
    );
    mismatch(
        &edited(name, 6, 58, 0xc0, "nao"),
        6,
        "ICMPv6 Override flag",
        "1",
    );
}

#[test]
fn both_links_given_together_are_checked_hop_by_hop() {
    for (a_r, r_b) in [
        (LAB[0], LAB[1]),
        (LAB[2], LAB[3]),
        (LAB6[0], LAB6[1]),
        (LAB6[2], LAB6[3]),
    ] {
        let out = encap()
            .arg("verify")
            .arg(capture(a_r))
            .arg(capture(r_b))
            .output()
            .unwrap();
        let t = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{a_r} {r_b}:\n{t}");
        let hop = if a_r.contains("ipv6") {
            "hop limit"
        } else {
            "TTL"
        };
        let hops: Vec<&str> = t.lines().filter(|l| l.starts_with("TCP [")).collect();
        assert!(hops.len() >= 10, "{} hops:\n{t}", hops.len());
        for l in &hops {
            assert!(
                l.contains(&format!(": at r: {hop} 64 -> 63, source MAC ")),
                "{l}"
            );
            assert!(
                l.contains("fields as the model said") && !l.contains("MISMATCH"),
                "{l}"
            );
        }
        // The SYN crosses from a-r to r-b: a's MACs replaced by r's on r-b and b's.
        let syn = hops.iter().find(|l| l.starts_with("TCP [SYN] ")).unwrap();
        assert!(syn.contains(&format!("{a_r} frame ")) && syn.contains("source MAC 02:00:00:00:0a:01 -> 02:00:00:00:0b:02, destination MAC 02:00:00:00:0a:02 -> 02:00:00:00:0b:01"), "{syn}");
        if hop == "TTL" {
            assert!(syn.contains(", header checksum 0x"), "{syn}");
        }
        let row = t.lines().find(|l| l.starts_with("hops at r ")).unwrap();
        assert_eq!(
            row.split_whitespace().nth(3),
            Some(hops.len().to_string().as_str()),
            "{row}"
        );
        for name in [a_r, r_b] {
            assert!(
                t.contains(&format!(
                    "== link {name}: every frame checked against the model"
                )),
                "{t}"
            );
        }
    }
}

#[test]
fn a_forwarded_segment_changed_beyond_forwarding_is_a_mismatch_of_the_hop() {
    // The SYN on r-b (frame 7: MLDv2 x4, the ARP request and reply first) with TTL 62: r took two.
    let (a_r, r_b) = ("lab-offload-off-nc-a-r.pcap", "lab-offload-off-nc-r-b.pcap");
    let bytes = std::fs::read(capture(r_b)).unwrap();
    let f = common::pcap_frame_at(&bytes, 7);
    assert_eq!(bytes[f + 22], 63, "the forwarded SYN's TTL");
    let path = edited(r_b, 7, 22, 62, "ttl");
    let out = encap()
        .arg("verify")
        .arg(capture(a_r))
        .arg(&path)
        .output()
        .unwrap();
    let t = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{t}");
    let hop = t.lines().position(|l| l.starts_with("TCP [SYN] ")).unwrap();
    let next = t.lines().nth(hop + 1).unwrap_or_default();
    assert!(
        next.contains("MISMATCH frame 7 IPv4 Time to live") && next.contains("kernel 62, model 63"),
        "{t}"
    );
    std::fs::remove_file(path).unwrap();
}

#[test]
fn the_ladder_over_both_links_has_three_columns_and_the_router_between() {
    let out = encap()
        .args(["verify", "--ladder"])
        .arg(capture(LAB[2]))
        .arg(capture(LAB[3]))
        .output()
        .unwrap();
    let t = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let ladder: Vec<&str> = t
        .lines()
        .skip_while(|l| !l.contains("across r: the ladder"))
        .take_while(|l| !l.starts_with("== summary"))
        .filter(|l| !l.is_empty())
        .collect();
    assert!(
        ladder[1].contains("client")
            && ladder[1].contains(" r ")
            && ladder[1].trim_end().ends_with("server"),
        "{t}"
    );
    // The SYN: frame 6 on a-r, 7 on r-b, through r with TTL 63; the SYN-ACK back.
    assert!(
        ladder.iter().any(|l| l
            .trim_start()
            .starts_with("6/7 SYN_SENT        -- SYN seq 0 len 0 --")
            && l.contains("-> r -- TTL 63 --")
            && l.trim_end().ends_with("SYN_RECEIVED")),
        "{t}"
    );
    assert!(ladder.iter().any(|l| l.contains("<- TTL 63 --") && l.contains("r <- SYN, ACK seq 0 ack 1 len 0 --")), "{t}");
    assert!(
        ladder
            .last()
            .is_some_and(|l| l.trim_end().ends_with("CLOSED")),
        "{t}"
    );
}

#[test]
fn a_unicast_solicitation_confirming_an_entry_and_its_answer_are_predicted() {
    let (code, t) = verify(&capture("lab-ipv6-probe-nc-a-r.pcap"), &["-v"]);
    assert_eq!(code, Some(0), "{t}");
    let probe = t
        .lines()
        .find(|l| l.contains("neighbor solicitation, who has 2001:db8:a::10 (unicast: a cached entry confirmed): 19/19"))
        .unwrap_or_else(|| panic!("no unicast solicitation predicted:\n{t}"));
    let n: u64 = probe.split(':').next().unwrap()["frame ".len()..]
        .parse()
        .unwrap();
    // Its answer: to r, no override flag, no option (24 bytes of message).
    let answer = t
        .lines()
        .find(|l| l.starts_with(&format!("frame {}: ICMP6, neighbor advertisement", n + 1)))
        .unwrap();
    assert!(
        answer.contains("19/19 fields as the model said"),
        "{answer}"
    );
    assert!(
        t.contains("ICMP6, router solicitation (an interface coming up, asking for routers): not modelled, listed")
            && t.contains("1 router solicitation listed above"),
        "{t}"
    );
    assert!(!t.contains("MISMATCH frame"), "{t}");
}

/// r's end of r-b at MTU 1400 (`captures/record.sh lab-mtu`, IPv4 and IPv6).
const MTU: [(&str, &str); 2] = [
    ("lab-mtu1400", "ICMP unreachable - need to frag"),
    ("lab-mtu1400-ipv6", "ICMP6, packet too big"),
];

/// The same with offloads off: the write leaves cut at the MSS, r refuses each segment larger
/// than 1400 bytes of IP (one error each) and forwards the rest, b holds that out of order; a
/// sends the refused bytes again smaller. Given together: 0 MISMATCH.
#[test]
fn with_offloads_off_each_refused_segment_draws_an_error_and_is_sent_again_smaller() {
    for (prefix, icmp, again) in [
        (
            "lab-mtu1400-offload-off",
            MTU[0].1,
            "len 1348 (retransmission)",
        ),
        (
            "lab-mtu1400-ipv6-offload-off",
            MTU[1].1,
            "len 1328 (retransmission)",
        ),
    ] {
        let out = encap()
            .arg("verify")
            .arg(capture(&format!("{prefix}-nc-a-r.pcap")))
            .arg(capture(&format!("{prefix}-nc-r-b.pcap")))
            .output()
            .unwrap();
        let t = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{prefix}:\n{t}");
        assert!(!t.contains("MISMATCH frame"), "{prefix}:\n{t}");
        let count = |what: &str| t.lines().filter(|l| l.contains(what)).count();
        assert_eq!(count(icmp), 3, "{prefix}: three segments refused:\n{t}");
        assert_eq!(
            count("dropped at r: larger than the next-hop MTU 1400"),
            3,
            "{prefix}"
        );
        assert!(count(again) >= 3, "{prefix}:\n{t}");
        // b's ACKs name what it holds beyond the refused bytes: checked, not mismatched.
        assert!(count("(duplicate ACK #1)") >= 1, "{prefix}:\n{t}");
        // The ladder draws each refused segment going no further than r.
        let out = encap()
            .args(["verify", "--ladder"])
            .arg(capture(&format!("{prefix}-nc-a-r.pcap")))
            .arg(capture(&format!("{prefix}-nc-r-b.pcap")))
            .output()
            .unwrap();
        let t = String::from_utf8_lossy(&out.stdout);
        let drawn = t
            .lines()
            .filter(|l| l.contains("-> r  X dropped: MTU 1400, ICMP back") && l.contains("/- "))
            .count();
        assert_eq!(drawn, 3, "{prefix}:\n{t}");
    }
}

/// Both links of the MTU captures together: r's ICMP error predicted from the packet it quotes,
/// the drop named at r rather than a packet missing on r-b, the bytes sent again at once, and
/// nothing a MISMATCH.
#[test]
fn a_packet_too_big_for_the_next_hop_is_dropped_at_r_and_its_icmp_predicted() {
    for (prefix, icmp) in MTU {
        let (a_r, r_b) = (
            capture(&format!("{prefix}-nc-a-r.pcap")),
            capture(&format!("{prefix}-nc-r-b.pcap")),
        );
        let out = encap().arg("verify").arg(&a_r).arg(&r_b).output().unwrap();
        let t = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{prefix}:\n{t}");
        assert!(!t.contains("MISMATCH frame"), "{prefix}:\n{t}");
        let lines: Vec<&str> = t.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.contains(icmp))
            .unwrap_or_else(|| panic!("{prefix}: no ICMP error checked:\n{t}"));
        let line = lines[at];
        assert!(line.contains("refused (MTU 1400): "), "{line}");
        let (checked, all) = line
            .split(" fields as the model said")
            .next()
            .and_then(|s| s.rsplit(' ').next())
            .and_then(|s| s.split_once('/'))
            .unwrap_or_else(|| panic!("{line}"));
        assert!(
            checked == all && all.parse::<u32>().unwrap() >= 16,
            "{line}"
        );
        // The refused bytes, sent again at once by a: the next line of link a-r.
        assert!(
            lines[at + 1].contains("client -> server [PSH, ACK] len 5016 (retransmission)")
                && !lines[at + 1].contains("MISMATCH"),
            "{prefix}: {}",
            lines[at + 1]
        );
        let drop = lines
            .iter()
            .find(|l| l.contains("dropped at r: larger than the next-hop MTU 1400"))
            .unwrap_or_else(|| panic!("{prefix}: no drop named at r:\n{t}"));
        assert!(
            drop.contains("sent back; ") && drop.contains("as the model said"),
            "{drop}"
        );
        // The summary's row: one message, on link a-r.
        let row = t
            .lines()
            .find(|l| l.contains("ICMP too big (path MTU) from routers"))
            .unwrap_or_else(|| panic!("{prefix}: no summary row:\n{t}"));
        assert!(row.starts_with(&format!("{prefix}-nc-a-r.pcap ")), "{row}");
        let frames = row
            .split("routers")
            .nth(1)
            .and_then(|r| r.split_whitespace().next());
        assert_eq!(frames, Some("1"), "{row}");
    }
}

/// Link r-b alone cannot know of the packet r dropped: the IP IDs a's kernel spent on it are
/// missing there, and said so; an edited quote in r's ICMP error is a MISMATCH.
#[test]
fn without_link_a_r_the_dropped_packet_shows_as_skipped_ids_and_an_edited_quote_is_caught() {
    let (code, t) = verify(&capture("lab-mtu1400-nc-r-b.pcap"), &[]);
    assert_eq!(code, Some(1), "{t}");
    assert!(
        t.contains("of the client's IDs, which no later frame carried"),
        "{t}"
    );
    // The ICMP error on link a-r (14 Ethernet, 20 IP, 8 ICMP: the quote at 42); byte 42 + 8 is
    // the quoted TTL.
    let name = "lab-mtu1400-nc-a-r.pcap";
    let (_, t) = verify(&capture(name), &[]);
    let line = t
        .lines()
        .find(|l| l.contains(&format!(": 192.0.2.1 > 192.0.2.10: {}", MTU[0].1)))
        .unwrap_or_else(|| panic!("no ICMP error:\n{t}"));
    let n: usize = line["frame ".len()..line.find(':').unwrap()]
        .parse()
        .unwrap();
    let path = edited(name, n, 42 + 8, 63, "quote");
    let (code, t) = verify(&path, &[]);
    assert_eq!(code, Some(1), "{t}");
    assert!(
        t.lines()
            .any(|l| l.starts_with(&format!("    MISMATCH frame {n} Application Data"))),
        "{t}"
    );
    std::fs::remove_file(path).unwrap();
}
