//! HTTP: `encap decode --json` on captures of curl and python's http.server against tshark
//! (`-d tcp.port==PORT,http`) field by field and frame by frame, a request split across two
//! segments reassembled, and a message the capture cuts marked so.

mod common;

use std::path::{Path, PathBuf};

use common::{decode_json, encap, have};
use serde_json::Value as Json;

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures")
        .join(name)
}

/// The HTTP fields compared with tshark's.
const FIELDS: [&str; 21] = [
    "http.request.method",
    "http.request.uri",
    "http.request.version",
    "http.host",
    "http.user_agent",
    "http.accept",
    "http.request.line",
    "http.response.version",
    "http.response.code",
    "http.response.phrase",
    "http.response.code.desc",
    "http.server",
    "http.date",
    "http.content_type",
    "http.content_length",
    "http.content_length_header",
    "http.last_modified",
    "http.response.line",
    "http.file_data",
    "tcp.segment",
    "tcp.reassembled.length",
];

/// Ours against tshark's text: a string exactly as tshark prints it (a date holds commas, so the
/// generic comparison's split on commas does not apply), a list joined with commas, a number as
/// the generic comparison takes it.
fn same(ours: &Json, theirs: &str) -> bool {
    match ours {
        Json::String(s) => s == theirs,
        Json::Array(list) => {
            let parts: Vec<String> = list
                .iter()
                .map(|v| match v {
                    Json::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            parts.join(",") == theirs
        }
        _ => common::same_as_tshark(ours, theirs),
    }
}

/// Compares every HTTP field of every frame; returns how many values were equal.
fn agrees_with_tshark(name: &str, port: u16) -> usize {
    let file = capture(name);
    let ours = decode_json(&file, &[]);
    let fields: Vec<String> = FIELDS.iter().map(|s| s.to_string()).collect();
    let decode_as = format!("tcp.port=={port},http");
    let out = std::process::Command::new("tshark")
        .arg("-r")
        .arg(&file)
        .args(["-d", &decode_as, "-T", "fields", "-E", "occurrence=a"])
        .args(fields.iter().flat_map(|f| ["-e", f.as_str()]))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Vec<Vec<String>> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect();
    assert_eq!(ours.len(), theirs.len(), "{name}: frame count");
    let mut equal = 0;
    for (o, t) in ours.iter().zip(&theirs) {
        let n = &o["frame.number"];
        for (k, tv) in fields.iter().zip(t) {
            match (o.get(k), tv.is_empty()) {
                (None, true) => {}
                (Some(v), false) => {
                    assert!(
                        same(v, tv),
                        "{name}: frame {n}: {k}: encap says {v}, tshark says {tv}"
                    );
                    equal += 1;
                }
                (Some(v), true) => {
                    panic!("{name}: frame {n}: {k}: encap says {v}, tshark has none")
                }
                (None, false) => panic!("{name}: frame {n}: {k}: tshark says {tv}, encap has none"),
            }
        }
    }
    eprintln!("{name}: {equal} HTTP values equal to tshark's");
    equal
}

#[test]
fn curl_and_http_server_agree_with_tshark_frame_by_frame() {
    if !have("tshark", "curl_and_http_server_agree_with_tshark") {
        return;
    }
    for (name, port) in [
        ("curl-http.pcap", 46669),
        ("curl-http-ipv6.pcap", 46671),
        ("http-split-request.pcap", 46690),
    ] {
        // A request (method, URI, version, host, agent, accept, 3 header lines) and a response
        // (its status line, headers, body, segments) at least.
        assert!(agrees_with_tshark(name, port) >= 20, "{name}");
    }
}

#[test]
fn request_split_across_two_segments_is_reassembled() {
    let frames = decode_json(&capture("http-split-request.pcap"), &[]);
    let with_data: Vec<_> = frames
        .iter()
        .filter(|o| o["tcp.len"].as_u64() > Some(0) && o["tcp.dstport"] == 46690)
        .collect();
    assert_eq!(with_data.len(), 2, "the request is in two segments");
    let (first, second) = (with_data[0], with_data[1]);
    assert!(first.get("http.request.method").is_none());
    assert_eq!(first["http.continued"], first["tcp.len"]);
    assert_eq!(second["http.request.method"], "GET");
    assert_eq!(second["http.request.uri"], "/index.html");
    assert_eq!(
        second["http.host"], "127.0.0.1",
        "the header the cut went through"
    );
    assert_eq!(
        second["tcp.segment"],
        Json::from(vec![
            first["frame.number"].clone(),
            second["frame.number"].clone()
        ])
    );
    let total = first["tcp.len"].as_u64().unwrap() + second["tcp.len"].as_u64().unwrap();
    assert_eq!(second["tcp.reassembled.length"], total);

    // The text view says the same: the first segment is part of a message, the second completes it.
    let out = encap()
        .args(["decode", "-v"])
        .arg(capture("http-split-request.pcap"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("HTTP: part of a message not yet whole"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "HTTP GET /index.html HTTP/1.1 (Host 127.0.0.1); reassembled from frames {}, {} ({total} bytes)",
            first["frame.number"], second["frame.number"]
        )),
        "{text}"
    );
    assert!(
        text.contains("offsets in the reassembled message"),
        "{text}"
    );
}

#[test]
fn a_message_the_capture_cuts_is_marked() {
    // Decoding stops after frame 7: the response's headers (frame 6) are there, its body
    // (frame 8) is not.
    let out = encap()
        .args(["decode", "-c", "7"])
        .arg(capture("curl-http.pcap"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("end of capture:"), "{text}");
    assert!(text.contains("HTTP HTTP/1.0 200 OK"), "{text}");
    assert!(
        text.contains("CUT: the message is not whole, 185 bytes seen: the capture ends"),
        "{text}"
    );
    let json = decode_json(&capture("curl-http.pcap"), &["-c", "7"]);
    let last = json.last().unwrap();
    assert_eq!(last["http.cut"], "the capture ends");
    assert_eq!(last["http.response.code"], 200);
    assert!(last.get("http.file_data").is_none());
}
