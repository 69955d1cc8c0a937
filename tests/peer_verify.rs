//! Issue 16: captures of the Linux kernel answering a scripted peer that is not Linux
//! (`captures/peer-*.pcap`, recorded by `encap lab peer`): `encap verify` tells the peer by its
//! SYN, follows its frames (their habits peer-chosen, only what every TCP must do checked) and
//! predicts Linux's, with 0 MISMATCH on both; named with `--linux`, the same; with the wrong
//! side named Linux, the peer's habits are MISMATCH.

mod common;

use std::path::{Path, PathBuf};

use common::encap;

fn peer_captures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("peer-") && name.ends_with(".pcap")
        })
        .collect();
    v.sort();
    v
}

/// `encap verify --json` on `capture` with `args`: its exit status and its objects.
fn verify(capture: &Path, args: &[&str]) -> (Option<i32>, Vec<serde_json::Value>) {
    let out = encap()
        .arg("verify")
        .arg("--json")
        .args(args)
        .arg(capture)
        .output()
        .unwrap();
    let objs = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (out.status.code(), objs)
}

/// The per-side objects: side, stack, frames, mismatch, peer_chosen.
fn sides(objs: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    objs.iter().filter(|o| o.get("stack").is_some()).collect()
}

#[test]
fn the_linux_side_answering_a_scripted_peer_is_predicted_with_no_mismatch() {
    let captures = peer_captures();
    assert!(captures.len() >= 8, "{captures:?}");
    let ipv6 = captures
        .iter()
        .filter(|c| c.to_string_lossy().contains("peer-ipv6-"))
        .count();
    assert!(ipv6 >= 3, "{captures:?}");
    for c in &captures {
        let name = c.display();
        // Over IPv6 (`encap lab peer --ipv6`) the kernel is 2001:db8:b::10, and the peer is
        // told by its flow label 0 where over IPv4 its Don't Fragment and IP ID tell it.
        let v6 = name.to_string().contains("peer-ipv6-");
        let linux_addr = if v6 {
            "2001:db8:b::10"
        } else {
            "198.51.100.10"
        };
        for args in [&[][..], &["--linux", linux_addr][..]] {
            let (code, objs) = verify(c, args);
            assert_eq!(code, Some(0), "{name} {args:?}");
            let s = sides(&objs);
            assert_eq!(s.len(), 2, "{name}: {s:?}");
            // The peer connects, but in rst-synsent, where Linux does and the peer refuses.
            let refused = name.to_string().ends_with("peer-rst-synsent.pcap");
            let (peer, linux) = if refused { (s[1], s[0]) } else { (s[0], s[1]) };
            let (peer_side, linux_side) = if refused {
                ("server", "client")
            } else {
                ("client", "server")
            };
            assert_eq!(
                (peer["side"].as_str(), linux["side"].as_str()),
                (Some(peer_side), Some(linux_side)),
                "{name}"
            );
            assert_eq!(peer["stack"], "not Linux", "{name}: {peer}");
            assert_eq!(linux["stack"], "Linux", "{name}: {linux}");
            assert_eq!(
                (peer["mismatch"].as_u64(), linux["mismatch"].as_u64()),
                (Some(0), Some(0)),
                "{name}"
            );
            assert!(peer["peer_chosen"].as_u64().unwrap() > 0, "{name}: {peer}");
            assert_eq!(linux["peer_chosen"].as_u64(), Some(0), "{name}: {linux}");
            if args.is_empty() {
                let why = peer["why"].as_str().unwrap();
                let habit = if v6 {
                    "flow label 0"
                } else {
                    "no Don't Fragment"
                };
                assert!(
                    why.contains("is not Linux's") && why.contains(habit),
                    "{name}: {why}"
                );
            }
            // Each frame of the peer's: its IP ID and Don't Fragment (its flow label) are its own.
            let from_peer = format!("{peer_side}->{linux_side}");
            for f in objs.iter().filter(|o| o["direction"] == from_peer.as_str()) {
                let verdict = |key: &str| {
                    f["fields"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|x| x["field"] == key)
                        .map(|x| x["verdict"].clone())
                };
                let keys: &[&str] = if v6 {
                    &["ipv6.flow"]
                } else {
                    &["ip.id", "ip.flags.df"]
                };
                for key in keys {
                    assert_eq!(
                        verdict(key),
                        Some("peer-chosen".into()),
                        "{name}: {key} {f}"
                    );
                }
            }
        }
    }
}

#[test]
fn the_peer_named_linux_is_checked_as_linux_and_its_habits_are_mismatches() {
    let c = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/peer-nooptions.pcap");
    let (code, objs) = verify(&c, &["--linux", "192.0.2.10:40000"]);
    assert_eq!(code, Some(1));
    let s = sides(&objs);
    assert_eq!(
        (s[0]["stack"].as_str(), s[1]["stack"].as_str()),
        (Some("Linux"), Some("not Linux"))
    );
    assert!(s[0]["mismatch"].as_u64().unwrap() > 0, "{}", s[0]);
    // Its SYN's Don't Fragment, as Linux would have set it, is the first thing named.
    let syn = objs.iter().find(|o| o["flags"] == "SYN").unwrap();
    let df = syn["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["field"] == "ip.flags.df")
        .unwrap();
    assert_eq!(df["verdict"], "MISMATCH", "{df}");
}

#[test]
fn a_bad_linux_address_is_named() {
    let c = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/peer-nooptions.pcap");
    let out = encap()
        .args(["verify", "--linux", "192.0.2.300"])
        .arg(&c)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("--linux") && e.contains("192.0.2.300"), "{e}");
}
