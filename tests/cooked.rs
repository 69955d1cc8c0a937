//! Captures from real interfaces as `tcpdump -i any` writes them (issue 16): Linux cooked
//! captures (LINUX_SLL2 and LINUX_SLL) of the lab's hosts and router, an HTTP fetch and the chat
//! on lo, and GRO on a veth. Each verifies with 0 MISMATCH as the Ethernet captures do; the
//! router's is split into its links by interface index and checked hop by hop; an end host's
//! says which frames its kernel sent; GRO's merged packets and TSO/GSO packets are named, and
//! an edit of what the model predicts of them is a MISMATCH at that frame.

mod common;

use std::path::{Path, PathBuf};

use encap::dissect::dissect_link;
use encap::layers::{ipv4, tcp};

/// The frames of a capture of any link type encap decodes.
fn frames_of(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    let mut r = encap::capfile::CaptureReader::with_link_types(
        &bytes[..],
        &encap::capfile::DECODED_LINK_TYPES,
    )
    .unwrap();
    let mut out = Vec::new();
    while let Some(p) = r.next_packet().unwrap() {
        out.push(p.data.to_vec());
    }
    out
}

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures")
        .join(name)
}

/// `encap verify FILE ARGS...`: exit status and output.
fn verify(file: &Path, args: &[&str]) -> (i32, String) {
    let out = common::encap()
        .arg("verify")
        .arg(file)
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), format!("{text}{err}"))
}

/// The summary's MISMATCH column, summed over its rows but `all` (each row's third number from
/// its end: MISMATCH, then the two shares).
fn mismatches(text: &str) -> usize {
    let header = text
        .lines()
        .position(|l| l.starts_with("connection "))
        .expect("a summary");
    let rows = text
        .lines()
        .skip(header + 1)
        .take_while(|l| l.ends_with("%)"))
        .filter(|l| !l.starts_with("all "))
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words[words.len() - 3].parse::<usize>().unwrap()
        })
        .collect::<Vec<_>>();
    assert!(!rows.is_empty(), "no summary row in:\n{text}");
    rows.iter().sum()
}

#[test]
fn every_cooked_capture_verifies_with_no_mismatch() {
    for name in [
        "lab-any-nc-r.pcap",
        "lab-any-sll-nc-r.pcap",
        "lab-any-ipv6-nc-r.pcap",
        "lab-any-nc-a.pcap",
        "lab-any-nc-b.pcap",
        "lab-any-http-b.pcap",
        "lab-gro-nc-a.pcap",
        "lab-gro-nc-b.pcap",
        "any-curl-http.pcap",
        "any-chat-hello-hi.pcap",
        "any-python-chat.pcap",
    ] {
        let (code, text) = verify(&capture(name), &[]);
        assert_eq!(code, 0, "{name}:\n{text}");
        assert!(!text.contains("MISMATCH frame"), "{name}:\n{text}");
        assert_eq!(mismatches(&text), 0, "{name}:\n{text}");
    }
}

#[test]
fn the_routers_sll2_capture_is_two_links_checked_hop_by_hop() {
    let (code, text) = verify(&capture("lab-any-nc-r.pcap"), &[]);
    assert_eq!(code, 0, "{text}");
    let a = text
        .find("== link lab-any-nc-r.pcap ifindex 2")
        .expect(&text);
    let b = text
        .find("== link lab-any-nc-r.pcap ifindex 3")
        .expect(&text);
    assert!(a < b, "links in the order of their interface indexes");
    // Every TCP packet forwarded, a to b on ifindex 2 then 3 with TTL 64 -> 63, and back.
    let hops: Vec<&str> = text.lines().filter(|l| l.starts_with("TCP [")).collect();
    assert_eq!(hops.len(), 10, "{text}");
    assert!(hops.iter().any(|l| l.contains("ifindex 2 frame")
        && l.contains("-> lab-any-nc-r.pcap ifindex 3 frame")
        && l.contains("at r: TTL 64 -> 63, source MAC 02:00:00:00:0a:01 -> 02:00:00:00:0b:02")));
    assert!(hops.iter().any(|l| l.contains("ifindex 3 frame")
        && l.contains("-> lab-any-nc-r.pcap ifindex 2 frame")
        && l.contains("source MAC 02:00:00:00:0b:01 -> 02:00:00:00:0a:02")));
    assert!(
        text.lines()
            .any(|l| l.starts_with("hops at r") && l.split_whitespace().nth(3) == Some("10")),
        "{text}"
    );
}

#[test]
fn over_ipv6_the_routers_capture_is_checked_hop_by_hop_by_the_hop_limit() {
    let (code, text) = verify(&capture("lab-any-ipv6-nc-r.pcap"), &[]);
    assert_eq!(code, 0, "{text}");
    let hops = text
        .lines()
        .filter(|l| l.starts_with("TCP [") && l.contains("at r: hop limit 64 -> 63, source MAC"))
        .count();
    assert_eq!(hops, 10, "{text}");
}

#[test]
fn the_routers_sll_capture_has_no_interface_index_and_says_so() {
    let (code, text) = verify(&capture("lab-any-sll-nc-r.pcap"), &[]);
    assert_eq!(code, 0, "{text}");
    let copies = text
        .lines()
        .filter(|l| l.contains("that the router forwarded (SLL has no interface index"))
        .count();
    assert_eq!(copies, 10, "{text}");
    assert!(text.contains("at r: TTL 64 -> 63"), "{text}");
    // The connection's model saw each packet once, as it came in to r.
    let row = text
        .lines()
        .find(|l| l.starts_with("lab-any-sll-nc-r.pcap 192.0.2.10:"))
        .expect(&text);
    assert_eq!(row.split_whitespace().nth(4), Some("10"), "{row}");
}

#[test]
fn an_end_hosts_capture_names_the_frames_its_kernel_sent() {
    let (_, a) = verify(&capture("lab-any-nc-a.pcap"), &[]);
    assert!(
        a.contains("this host is the client 192.0.2.10:")
            && a.contains("(packet type OUTGOING); the server's 4 frame(s) arrived"),
        "{a}"
    );
    let (_, b) = verify(&capture("lab-any-nc-b.pcap"), &[]);
    assert!(
        b.contains("this host is the server 198.51.100.10:6666: its kernel sent frames"),
        "{b}"
    );
    let (_, lo) = verify(&capture("any-curl-http.pcap"), &[]);
    assert!(
        lo.contains("both sides are this host (captured on lo"),
        "{lo}"
    );
}

/// The frames of lab-gro-nc-b.pcap that GRO merged: (number, line).
fn merged_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.contains("(GRO-merged: "))
        .map(str::to_string)
        .collect()
}

#[test]
fn gro_merged_packets_are_named_and_their_checksum_predicted() {
    let file = capture("lab-gro-nc-b.pcap");
    let (code, text) = verify(&file, &[]);
    assert_eq!(code, 0, "{text}");
    let merged = merged_lines(&text);
    assert!(
        merged
            .iter()
            .any(|l| l.contains("len 7240 (GRO-merged: 5 segments of 1448)")),
        "{text}"
    );
    assert!(merged.len() >= 3, "{text}");
    // The sender's capture shows the segments GRO merged: none longer than 1448.
    let (_, sent) = verify(&capture("lab-gro-nc-a.pcap"), &[]);
    assert!(
        !sent.contains("GRO-merged") && !sent.contains("TSO/GSO"),
        "{sent}"
    );
    assert!(sent.contains("len 1448:"), "{sent}");
    // A TSO/GSO packet on its way out of a (offloads on) is named so.
    let (_, a) = verify(&capture("lab-any-nc-a.pcap"), &[]);
    assert!(a.contains("(TSO/GSO: 4 segments of 1448)"), "{a}");
    let (_, json) = verify(&file, &["--json"]);
    assert!(json.contains("\"encap.gro_merged\""), "{json}");

    // The merged packet's checksum is the pseudo-header sum GRO wrote: given the full checksum
    // the sender's segments had, it is a MISMATCH at that frame's checksum; so is its IP ID.
    let n: usize = merged[0]
        .strip_prefix("frame ")
        .and_then(|r| r.split(':').next())
        .unwrap()
        .parse()
        .unwrap();
    let bytes = std::fs::read(&file).unwrap();
    let at = common::pcap_frame_at(&bytes, n);
    let frames = frames_of(&file);
    let frame = &frames[n - 1];
    let d = dissect_link(frame, encap::layers::link::link_type::LINUX_SLL2);
    let field = |key: &str| {
        d.nodes
            .iter()
            .flat_map(|n| &n.fields)
            .find(|f| f.key == key)
            .cloned()
            .unwrap()
    };
    let dir = std::env::temp_dir().join(format!("encap-cooked-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (key, value) in [
        (
            tcp::key::CHECKSUM,
            field(tcp::key::CHECKSUM).number().unwrap() ^ 0x0101,
        ),
        (
            ipv4::key::ID,
            field(ipv4::key::ID).number().unwrap().wrapping_add(1) & 0xffff,
        ),
    ] {
        let mut edited = bytes.clone();
        let f = field(key);
        assert!(f.write(&mut edited[at..at + frame.len()], value));
        if key == ipv4::key::ID {
            ipv4::refresh_checksum(&mut edited[at + 20..at + frame.len()]);
        }
        let path = dir.join("edited.pcap");
        std::fs::write(&path, &edited).unwrap();
        let (code, text) = verify(&path, &[]);
        assert_eq!(code, 1, "{key}: {text}");
        assert!(
            text.lines()
                .any(|l| l.contains(&format!("MISMATCH frame {n} ")) && l.contains(&*f.name)),
            "{key} at frame {n}:\n{text}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_router_that_does_not_decrement_the_ttl_is_caught_in_a_cooked_capture() {
    let file = capture("lab-any-nc-r.pcap");
    let bytes = std::fs::read(&file).unwrap();
    let frames = frames_of(&file);
    // The first forwarded copy out on ifindex 3 (TTL 63 there).
    let (i, frame) = frames
        .iter()
        .enumerate()
        .find(|(_, f)| {
            let d = dissect_link(f, encap::layers::link::link_type::LINUX_SLL2);
            let get = |k: &str| {
                d.nodes
                    .iter()
                    .flat_map(|n| &n.fields)
                    .find(|x| x.key == k)
                    .and_then(|x| x.number())
            };
            get("sll.ifindex") == Some(3)
                && get(ipv4::key::TTL) == Some(63)
                && get(tcp::key::SRCPORT).is_some()
        })
        .unwrap();
    let d = dissect_link(frame, encap::layers::link::link_type::LINUX_SLL2);
    let ttl = d
        .nodes
        .iter()
        .flat_map(|n| &n.fields)
        .find(|x| x.key == ipv4::key::TTL)
        .unwrap();
    let at = common::pcap_frame_at(&bytes, i + 1);
    let mut edited = bytes.clone();
    assert!(ttl.write(&mut edited[at..at + frame.len()], 64));
    ipv4::refresh_checksum(&mut edited[at + 20..at + frame.len()]);
    let dir = std::env::temp_dir().join(format!("encap-cooked-ttl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("edited.pcap");
    std::fs::write(&path, &edited).unwrap();
    let (code, text) = verify(&path, &[]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, 1, "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains(&format!("MISMATCH frame {} IPv4 Time to live", i + 1))),
        "{text}"
    );
}

#[test]
fn arp_and_neighbour_discovery_are_checked_in_a_cooked_capture() {
    let file = capture("lab-any-nc-a.pcap");
    let (code, text) = verify(&file, &[]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("frame 5: ARP, Request who-has 192.0.2.1 tell 192.0.2.10 (broadcast): 10/10 fields as the model said"),
        "{text}"
    );
    assert!(
        text.contains("frame 6: ARP, Reply 192.0.2.1 is-at 02:00:00:00:0a:02: 10/10"),
        "{text}"
    );
    let (_, six) = verify(&capture("lab-any-ipv6-nc-r.pcap"), &[]);
    assert!(
        six.contains("ICMP6, neighbor advertisement, tgt is 2001:db8:b::10: 20/20"),
        "{six}"
    );
    // With r's ARP on each link known, the forwarded copies' source MAC is learned.
    // (the hops row: frames, fields, predicted, learned...: each copy's source MAC learned).
    let (_, r) = verify(&capture("lab-any-nc-r.pcap"), &[]);
    let hops = r.lines().find(|l| l.starts_with("hops at r")).expect(&r);
    assert_eq!(hops.split_whitespace().nth(6), Some("10"), "{hops}");
    // The reply's target address edited: a MISMATCH at that frame.
    let bytes = std::fs::read(&file).unwrap();
    let frames = frames_of(&file);
    let d = dissect_link(&frames[5], encap::layers::link::link_type::LINUX_SLL2);
    let tpa = d
        .nodes
        .iter()
        .flat_map(|n| &n.fields)
        .find(|f| f.key == encap::layers::arp::key::DST_IP)
        .cloned()
        .unwrap();
    let at = common::pcap_frame_at(&bytes, 6);
    let mut edited = bytes.clone();
    // (192.0.2.11 for 192.0.2.10, at the field's own bytes.)
    edited[at + tpa.bytes.start..at + tpa.bytes.end].copy_from_slice(&[192, 0, 2, 11]);
    let dir = std::env::temp_dir().join(format!("encap-cooked-arp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("edited.pcap");
    std::fs::write(&path, &edited).unwrap();
    let (code, text) = verify(&path, &[]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("MISMATCH frame 6 ARP"), "{text}");
}
