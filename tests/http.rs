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

/// `python3 -m http.server` on 127.0.0.1, port 0, serving `dir`: the child and the port it
/// printed. Killed when dropped.
struct HttpServer(std::process::Child, u16);

impl HttpServer {
    fn start(dir: &Path) -> HttpServer {
        use std::io::BufRead;
        let mut child = std::process::Command::new("python3")
            .args([
                "-u",
                "-m",
                "http.server",
                "0",
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start python3 -m http.server");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        // "Serving HTTP on 127.0.0.1 port 41541 (http://127.0.0.1:41541/) ..."
        let port = line
            .split_whitespace()
            .skip_while(|w| *w != "port")
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        HttpServer(child, port)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn http_client_gets_200_for_a_file_and_404_with_its_meaning() {
    if !have("python3", "http_client_gets_200_and_404") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("encap-http-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("hello.txt"), "hello from a file\n").unwrap();
    let server = HttpServer::start(&dir);
    let get = |path: &str| {
        let out = common::with_timeout(
            {
                let mut c = encap();
                c.args([
                    "http",
                    "GET",
                    &format!("http://127.0.0.1:{}{path}", server.1),
                ]);
                c
            },
            std::time::Duration::from_secs(60),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let ok = get("/hello.txt");
    assert!(ok.contains("-> request, "), "{ok}");
    assert!(
        ok.contains("GET /hello.txt HTTP/1.1  Host 127.0.0.1:"),
        "{ok}"
    );
    assert!(ok.contains("\nHTTP/1.0 200 OK: 2xx success"), "{ok}");
    assert!(
        ok.contains("body: \"hello from a file\\n\" (18 bytes)"),
        "{ok}"
    );
    // The pipeline of each message: TCP, IP and Ethernet lines with the socket's own ports.
    assert_eq!(ok.matches("Ethernet II + 14 bytes").count(), 2, "{ok}");
    let missing = get("/no-such-file");
    assert!(
        missing.contains("HTTP/1.0 404 File not found: 4xx client error")
            && missing.contains("404: the server has nothing at this URI"),
        "{missing}"
    );
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn http_client_refuses_what_is_not_loopback_and_says_when_nobody_listens() {
    let out = encap()
        .args(["http", "GET", "http://192.0.2.1/"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a loopback address"));
    // A port nobody listens on, held bound (not listening) for the test.
    let (_held, port) = common::closed_port();
    let out = encap()
        .args(["http", "GET", &format!("http://127.0.0.1:{port}/")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ECONNREFUSED"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn show_http_is_the_application_stage() {
    let out = encap()
        .args([
            "show",
            "--http",
            "GET / HTTP/1.1",
            "--header",
            "Host: 127.0.0.1",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("[HTTP] application protocol: a request line, 1 header lines"),
        "{text}"
    );
    assert!(text.contains("  0-2       Method           GET"), "{text}");
    assert!(
        text.contains("  22-30     Host value       127.0.0.1"),
        "{text}"
    );
    assert!(
        text.contains("  33-34     Blank line       \\r\\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "[1/4] Application: the message as the application hands it to send(): 35 bytes"
        ),
        "{text}"
    );
    let bad = encap()
        .args(["show", "--http", "GET / HTTP/7.1"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("Request version"));
}
