//! The pictures: SVG files parse as XML, render in Chromium and draw boxes as wide as their bytes;
//! the HTML page, opened from disk in headless Chromium (Debian's, driven by playwright-core
//! from tests/browser/), shows every frame, lights up exactly a field's bytes when the field is
//! clicked (and a byte's fields the other way round), opens a frame from the ladder, escapes
//! payload text, and makes no network request; each screenshot is not blank.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{encap, have, is_root, ready, with_timeout};
use encap::dissect::dissect;
use encap::layers::Field;
use serde_json::{json, Value};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("encap-html-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// True when node, Chromium and the pinned playwright-core are there (or skips, or under
/// ENCAP_REQUIRE_ALL=1 fails).
fn browser(test: &str) -> bool {
    have("node", test)
        && have("chromium", test)
        && ready(
            root().join("tests/browser/node_modules/playwright-core/package.json").exists(),
            test,
            "tests/browser/node_modules is missing: run `npm ci --prefix tests/browser` (.ci/run does)",
        )
}

/// Runs tests/browser/check.mjs on `job` and returns what it saw.
fn run_browser(dir: &Path, job: &Value) -> Value {
    let path = dir.join("job.json");
    std::fs::write(&path, job.to_string()).unwrap();
    let mut cmd = std::process::Command::new("node");
    cmd.arg(root().join("tests/browser/check.mjs")).arg(&path);
    let out = with_timeout(cmd, Duration::from_secs(200));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "check.mjs failed ({:?}): {stderr}",
        out.status
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("check.mjs printed no JSON: {e}; stderr: {stderr}"))
}

/// Decodes a PNG screenshot: (width, height, distinct colours, share of pixels that are not white).
fn look_at(png_path: &Path) -> (u32, u32, usize, f64) {
    let file =
        std::fs::File::open(png_path).unwrap_or_else(|e| panic!("{}: {e}", png_path.display()));
    let mut reader = png::Decoder::new(file).read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("a PNG frame");
    let channels = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(channels).collect();
    let distinct: HashSet<&[u8]> = pixels.iter().map(|p| &p[..3.min(p.len())]).collect();
    let white = pixels
        .iter()
        .filter(|p| p.iter().take(3).all(|c| *c >= 250))
        .count();
    let non_white = 1.0 - white as f64 / pixels.len().max(1) as f64;
    (info.width, info.height, distinct.len(), non_white)
}

fn assert_not_blank(png_path: &Path) {
    let (w, h, colours, ink) = look_at(png_path);
    let size = std::fs::metadata(png_path).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "{}: {w}x{h}, {size} bytes, {colours} colours, {:.1}% not white",
        png_path.display(),
        ink * 100.0
    );
    assert!(w > 100 && h > 100, "{}: {w}x{h}", png_path.display());
    assert!(
        colours > 8,
        "{}: only {colours} colours: blank?",
        png_path.display()
    );
    assert!(
        ink > 0.02,
        "{}: {:.2}% not white: blank?",
        png_path.display(),
        ink * 100.0
    );
}

fn indices(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

/// Every field of a frame, from the layers' field tables, with its byte range in the frame.
fn fields_of(frame: &[u8]) -> Vec<Field> {
    dissect(frame)
        .nodes
        .into_iter()
        .flat_map(|n| n.fields)
        .collect()
}

/// One click per field (its row, by key and occurrence), for the browser.
fn row_clicks(scope: &str, fields: &[Field]) -> Vec<Value> {
    fields
        .iter()
        .enumerate()
        .filter(|(_, f)| !f.bytes.is_empty())
        .map(|(i, f)| {
            let nth = fields[..i].iter().filter(|g| g.key == f.key).count();
            json!({"scope": scope, "key": f.key, "nth": nth})
        })
        .collect()
}

/// The fields that hold byte `i`, and the bytes all of them cover.
fn holding(fields: &[Field], i: usize) -> (Vec<String>, Vec<usize>) {
    let hold: Vec<&Field> = fields.iter().filter(|f| f.bytes.contains(&i)).collect();
    let bytes: BTreeSet<usize> = hold.iter().flat_map(|f| f.bytes.clone()).collect();
    (
        hold.iter().map(|f| f.key.to_string()).collect(),
        bytes.into_iter().collect(),
    )
}

/// Checks what the browser saw of clicking each field of `fields` and each byte of `bytes`.
fn assert_highlights(page: &Value, fields: &[Field], bytes: &[usize], dumps: &[&str]) {
    let with_bytes: Vec<&Field> = fields.iter().filter(|f| !f.bytes.is_empty()).collect();
    let rows = page["rows"].as_array().unwrap();
    assert_eq!(rows.len(), with_bytes.len());
    for (r, f) in rows.iter().zip(&with_bytes) {
        assert!(r.get("missing").is_none(), "no row for {}: {r}", f.key);
        let want: Vec<usize> = f.bytes.clone().collect();
        for d in dumps {
            assert_eq!(
                indices(&r["bytes"][d]),
                want,
                "{} ({}) lit the wrong bytes in the {d} dump",
                f.key,
                f.name
            );
        }
        assert_eq!(
            r["rows"],
            json!([f.key]),
            "clicking {} lit other rows",
            f.key
        );
    }
    for (b, i) in page["bytes"].as_array().unwrap().iter().zip(bytes) {
        let (keys, want) = holding(fields, *i);
        assert_eq!(b["rows"], json!(keys), "byte {i} lit the wrong fields");
        for d in dumps {
            assert_eq!(
                indices(&b["bytes"][d]),
                want,
                "byte {i} lit the wrong bytes in the {d} dump"
            );
        }
    }
}

fn assert_quiet(page: &Value) {
    assert_eq!(
        page["requests"],
        json!([]),
        "the page made network requests"
    );
    assert_eq!(page["errors"], json!([]), "the page's script failed");
    assert_eq!(
        page["dialogs"],
        json!(0),
        "a dialog opened: injected script?"
    );
}

/// Runs encap with `args` (strings and paths alike) and requires exit status 0.
fn run_ok(args: &[&dyn AsRef<std::ffi::OsStr>]) {
    let out = encap()
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "encap failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A port for a demo's server (which its capture's filter names before it listens).
fn free_port() -> String {
    common::listen_port().to_string()
}

fn chat_capture() -> (PathBuf, PathBuf) {
    (
        root().join("captures/chat-hello-hi.pcap"),
        root().join("captures/chat-hello-hi.transcript.jsonl"),
    )
}

#[test]
fn verify_page_shows_every_frame_and_lights_up_exactly_a_fields_bytes() {
    let test = "verify_page_shows_every_frame_and_lights_up_exactly_a_fields_bytes";
    if !browser(test) {
        return;
    }
    let dir = scratch("verify");
    let (pcap, transcript) = chat_capture();
    let page = dir.join("verify.html");
    run_ok(&[
        &"verify",
        &pcap,
        &"--transcript",
        &transcript,
        &"--html",
        &page,
    ]);
    let frames = common::capture_frames("chat-hello-hi.pcap");
    // Frame 4: the client's "hello\n"; every field of it clicked, and bytes of each layer.
    let fields = fields_of(&frames[3]);
    let bytes = [0usize, 12, 14, 20, 34, 46, 66, 71];
    let scope = "#frame-4 .scope";
    let shot = dir.join("verify.png");
    let job = json!({"pages": [{
        "file": page,
        "rows": row_clicks(scope, &fields),
        "bytes": bytes.iter().map(|i| json!({"scope": scope, "dump": "kernel", "i": i})).collect::<Vec<_>>(),
        "ladder": 6,
        "print": true,
        "screenshot": shot,
        "scrollTo": "#frame-4 table",
        "thenClick": "#frame-4 tr.f[data-key=\"tcp.seq_raw\"]",
    }]});
    let seen = run_browser(&dir, &job);
    let p = &seen["pages"][0];
    let want: Vec<String> = (1..=frames.len()).map(|n| format!("frame-{n}")).collect();
    assert_eq!(
        p["frames"],
        json!(want),
        "every frame of the session has its details"
    );
    assert_eq!(
        indices(&p["ladderFrames"]),
        (1..=frames.len()).collect::<Vec<_>>(),
        "every frame is in the ladder"
    );
    assert_eq!(
        p["unprinted"],
        json!(0),
        "printed, every frame's table shows"
    );
    assert_eq!(p["printed"], json!(frames.len()));
    assert_eq!(
        p["ladderOpened"],
        json!(true),
        "clicking frame 6 in the ladder opens its details"
    );
    assert_highlights(p, &fields, &bytes, &["kernel", "model"]);
    assert_quiet(p);
    assert_not_blank(&shot);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn show_page_lights_up_each_stages_fields_and_escapes_the_payload() {
    let test = "show_page_lights_up_each_stages_fields_and_escapes_the_payload";
    let dir = scratch("show");
    let message = "<script>alert(1)</script> & <img src=x onerror=alert(2)> &amp;";
    let (page, svg) = (dir.join("show.html"), dir.join("show.svg"));
    run_ok(&[
        &"show", &message, &"--view", &"summary", &"--html", &page, &"--svg", &svg,
    ]);
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(
        html.matches("<script").count(),
        1,
        "only the page's own script"
    );
    assert!(!html.contains("<img"), "the payload's element got through");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;img src=x"),
        "the payload is shown as text"
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("the SVG is XML");
    assert!(doc
        .descendants()
        .all(|n| !matches!(n.tag_name().name(), "script" | "img")));
    assert!(
        doc.descendants().any(|n| n
            .text()
            .is_some_and(|t| t.contains("<script>alert(1)</script> & <img"))),
        "the SVG shows the payload as text"
    );
    if !browser(test) {
        return;
    }
    // One field of each stage, its range relative to the stage, from the layer's own field table.
    use encap::layers::{ethernet, ipv4, tcp, FieldSpec};
    let tables: [(&str, &[FieldSpec], &[&str]); 3] = [
        ("TCP", &tcp::FIELDS, &["tcp.seq_raw", "tcp.flags"]),
        ("IPv4", &ipv4::FIELDS, &["ip.ttl", "ip.src"]),
        ("Ethernet II", &ethernet::FIELDS, &["eth.type"]),
    ];
    let mut picks = vec![("Application", "data.data".to_string(), 0..message.len())];
    for (layer, table, keys) in tables {
        for f in table.iter().filter(|f| keys.contains(&f.key)) {
            picks.push((layer, f.key.to_string(), f.bytes.clone()));
        }
    }
    assert_eq!(picks.len(), 6, "every key is in its table");
    let rows: Vec<Value> = picks.iter().map(|(layer, key, _)| json!({"scope": format!("section.stage[data-layer=\"{layer}\"]"), "key": key})).collect();
    let shot = dir.join("show.png");
    let seen = run_browser(
        &dir,
        &json!({"pages": [{"file": page, "rows": rows, "screenshot": shot}], "images": [{"file": svg, "screenshot": dir.join("show-svg.png")}]}),
    );
    let p = &seen["pages"][0];
    for (r, (layer, key, want)) in p["rows"].as_array().unwrap().iter().zip(&picks) {
        assert_eq!(
            indices(&r["bytes"]["stage"]),
            want.clone().collect::<Vec<_>>(),
            "{layer} {key}"
        );
    }
    assert_eq!(p["scripts"], json!(1), "the payload added no script");
    assert_quiet(p);
    assert_eq!(seen["images"][0]["requests"], json!([]));
    assert_not_blank(&shot);
    assert_not_blank(&dir.join("show-svg.png"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `rect class="part"` boxes of an encapsulation SVG: (y, x, width, bytes, role).
fn boxes(svg: &str) -> Vec<(f64, f64, f64, usize, String)> {
    let doc = roxmltree::Document::parse(svg).expect("the SVG is XML");
    let num = |n: &roxmltree::Node, a: &str| n.attribute(a).unwrap().parse::<f64>().unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name("rect") && n.attribute("class") == Some("part"))
        .map(|n| {
            (
                num(&n, "y"),
                num(&n, "x"),
                num(&n, "width"),
                n.attribute("data-bytes").unwrap().parse().unwrap(),
                n.attribute("data-role").unwrap().to_string(),
            )
        })
        .collect()
}

/// Writes three SVGs into `dir`: hello's boxes with --wire, a 54-byte ACK's (padded), and the
/// chat capture's ladder.
fn write_svgs(dir: &Path) -> [PathBuf; 3] {
    let (enc, short, ladder) = (
        dir.join("hello.svg"),
        dir.join("ack.svg"),
        dir.join("ladder.svg"),
    );
    run_ok(&[
        &"show", &"hello", &"--wire", &"--svg", &enc, &"--view", &"summary",
    ]);
    run_ok(&[
        &"show",
        &"",
        &"--flags",
        &"A",
        &"--no-options",
        &"--svg",
        &short,
        &"--view",
        &"summary",
    ]);
    let (pcap, transcript) = chat_capture();
    run_ok(&[
        &"verify",
        &pcap,
        &"--transcript",
        &transcript,
        &"--svg",
        &ladder,
    ]);

    [enc, short, ladder]
}

#[test]
fn svg_boxes_are_as_wide_as_their_bytes() {
    let dir = scratch("svg-boxes");
    let [enc, short, _] = write_svgs(&dir);
    let b = boxes(&std::fs::read_to_string(&enc).unwrap());
    let scale = b[0].2 / b[0].3 as f64;
    for (y, x, w, bytes, role) in &b {
        assert!(
            (w / *bytes as f64 - scale).abs() < 0.01,
            "{role} at y {y} x {x}: {w} px for {bytes} bytes, not {scale} px a byte"
        );
    }
    let bottom_y = b.iter().map(|r| r.0).fold(0.0, f64::max);
    let bottom: Vec<_> = b.iter().filter(|r| r.0 == bottom_y).collect();
    let layout: Vec<(usize, &str)> = bottom.iter().map(|r| (r.3, r.4.as_str())).collect();
    assert_eq!(
        layout,
        [
            (8, "Preamble"),
            (14, "Header"),
            (20, "Header"),
            (32, "Header"),
            (5, "Data"),
            (4, "Fcs")
        ]
    );
    assert!(
        (bottom[3].2 / bottom[2].2 - 32.0 / 20.0).abs() < 1e-3,
        "TCP header : IPv4 header = 32 : 20"
    );
    for pair in bottom.windows(2) {
        assert!(
            (pair[0].1 + pair[0].2 - pair[1].1).abs() < 0.02,
            "boxes touch: {pair:?}"
        );
    }
    let data_x: Vec<f64> = b.iter().filter(|r| r.4 == "Data").map(|r| r.1).collect();
    assert_eq!(data_x.len(), 4, "the data is in each of the four rows");
    assert!(
        data_x.iter().all(|x| (x - data_x[0]).abs() < 0.01),
        "the data is aligned in every row: {data_x:?}"
    );
    // A 54-byte ACK: 6 bytes of padding before the FCS.
    let b = boxes(&std::fs::read_to_string(&short).unwrap());
    assert!(b.iter().any(|r| r.4 == "Padding" && r.3 == 6), "{b:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn svg_ladder_has_every_frame_and_every_figure_renders() {
    let test = "svg_ladder_has_every_frame_and_every_figure_renders";
    let dir = scratch("svg-render");
    let [enc, short, ladder] = write_svgs(&dir);
    let text = std::fs::read_to_string(&ladder).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("the ladder SVG is XML");
    let frames = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("ladder-frame"))
        .count();
    assert_eq!(frames, common::capture_frames("chat-hello-hi.pcap").len());
    if !browser(test) {
        return;
    }
    let images: Vec<Value> = [&enc, &short, &ladder]
        .iter()
        .map(|f| json!({"file": f, "screenshot": f.with_extension("png")}))
        .collect();
    let seen = run_browser(&dir, &json!({"images": images}));
    for (i, f) in seen["images"]
        .as_array()
        .unwrap()
        .iter()
        .zip([&enc, &short, &ladder])
    {
        assert_eq!(i["requests"], json!([]));
        assert_eq!(i["errors"], json!([]));
        assert_not_blank(&f.with_extension("png"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn demo_live_writes_a_page_with_every_frame_and_its_ladder() {
    let test = "demo_live_writes_a_page_with_every_frame_and_its_ladder";
    if !is_root(test) || !browser(test) {
        return;
    }
    let dir = scratch("demo");
    let port = free_port();
    let (page, svg, pcap) = (
        dir.join("demo.html"),
        dir.join("demo.svg"),
        dir.join("demo.pcap"),
    );
    let mut cmd = encap();
    cmd.args(["demo", "--port", &port, "--view", "summary", "--html"])
        .arg(&page)
        .arg("--svg")
        .arg(&svg)
        .arg("--pcap")
        .arg(&pcap);
    let out = with_timeout(cmd, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("wrote the page to {}", page.display())),
        "{stdout}"
    );
    let frames: Vec<Vec<u8>> = {
        let bytes = std::fs::read(&pcap).unwrap();
        let mut r = encap::capfile::CaptureReader::new(&bytes[..]).unwrap();
        let mut v = Vec::new();
        while let Some(p) = r.next_packet().unwrap() {
            v.push(p.data.to_vec());
        }
        v
    };
    assert!(frames.len() >= 16, "{} frames", frames.len());
    let text = std::fs::read_to_string(&svg).unwrap();
    roxmltree::Document::parse(&text).expect("the demo's ladder is XML");
    let fields = fields_of(&frames[3]);
    let shot = dir.join("demo.png");
    let seen = run_browser(
        &dir,
        &json!({"pages": [{"file": page, "rows": row_clicks("#frame-4 .scope", &fields), "bytes": [], "screenshot": shot, "fullPage": true}], "images": [{"file": svg, "screenshot": dir.join("demo-svg.png")}]}),
    );
    let p = &seen["pages"][0];
    let want: Vec<String> = (1..=frames.len()).map(|n| format!("frame-{n}")).collect();
    assert_eq!(
        p["frames"],
        json!(want),
        "every frame the demo captured has its details"
    );
    assert_eq!(
        indices(&p["ladderFrames"]),
        (1..=frames.len()).collect::<Vec<_>>()
    );
    assert_highlights(p, &fields, &[], &["kernel", "model"]);
    assert_quiet(p);
    assert_not_blank(&shot);
    assert_not_blank(&dir.join("demo-svg.png"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn demo_without_a_capture_still_writes_its_messages_and_says_why_no_frame_is_checked() {
    let test = "demo_without_a_capture_still_writes_its_messages";
    if !is_root(test) || !have("setpriv", test) {
        return;
    }
    let dir = scratch("demo-nocap");
    let port = free_port();
    let page = dir.join("demo.html");
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--inh-caps=-all", "--bounding-set=-net_raw"])
        .arg(env!("CARGO_BIN_EXE_encap"))
        .args(["demo", "--port", &port, "--view", "summary", "--html"])
        .arg(&page);
    let out = with_timeout(cmd, Duration::from_secs(60));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    // The blog's four lines and the client's exit, each through the pipeline; no frame checked.
    assert_eq!(html.matches(r#"<section class="message">"#).count(), 5);
    assert!(html.contains("nothing was captured: run as root, or with CAP_NET_RAW"));
    assert!(!html.contains(r#"<details class="frame"#));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn verify_page_opens_mismatch_frames_and_says_what_the_capture_left_open() {
    // The chat without frame 4 (the client's "hello\n"): later frames carry its bytes' numbers.
    let dir = scratch("gap");
    let pcap = dir.join("gap.pcap");
    let mut w = encap::pcap::FrameWriter::new(std::fs::File::create(&pcap).unwrap()).unwrap();
    for (i, f) in common::capture_frames("chat-hello-hi.pcap")
        .iter()
        .enumerate()
    {
        if i != 3 {
            w.write(Duration::from_secs(1_700_000_000 + i as u64), f)
                .unwrap();
        }
    }
    drop(w);
    let page = dir.join("gap.html");
    let (_, transcript) = chat_capture();
    let out = encap()
        .arg("verify")
        .arg(&pcap)
        .arg("--transcript")
        .arg(&transcript)
        .arg("--html")
        .arg(&page)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "a MISMATCH is found");
    let html = std::fs::read_to_string(&page).unwrap();
    let open = html.matches(r#"<details class="frame mismatch""#).count();
    assert!(open > 0, "some frame is a MISMATCH");
    assert_eq!(
        html.matches(r#"data-frame="5" open>"#).count(),
        1,
        "{open} open"
    );
    assert!(
        html.contains(r#"<p class="v-mismatch">✗ MISMATCH frame"#),
        "the gap's MISMATCH line"
    );
    assert!(html.contains("never appeared"));
    let _ = std::fs::remove_dir_all(&dir);
}
