//! Shared by the integration tests: finding external tools, and failing instead of skipping
//! when CI says every tool must be there (`ENCAP_REQUIRE_ALL=1`, set by `.ci/run`).
#![allow(dead_code)]

use std::process::Command;

/// True when `tool` runs. When it does not: panics if `ENCAP_REQUIRE_ALL=1` (CI), else prints why
/// the test is skipped and returns false.
pub fn have(tool: &str, test: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success() || !o.stderr.is_empty());
    ready(
        ok,
        test,
        &format!("`{tool}` is not installed (apt-get install it, or run .ci/run)"),
    )
}

/// The built `encap` binary.
pub fn encap() -> Command {
    Command::new(env!("CARGO_BIN_EXE_encap"))
}

/// True when the test runs as root (live capture needs CAP_NET_RAW). When not: panics if
/// `ENCAP_REQUIRE_ALL=1` (CI), else prints why the test is skipped and returns false.
pub fn is_root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    ready(
        root,
        test,
        "needs root (CAP_NET_RAW) to capture on lo; run it with sudo",
    )
}

/// Runs `cmd` to completion, killing it after `limit` so a hung child cannot hang the test.
pub fn with_timeout(mut cmd: Command, limit: std::time::Duration) -> std::process::Output {
    use std::process::Stdio;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let done = watchdog(child.id(), limit);
    let out = child.wait_with_output().expect("wait");
    let _ = done.send(());
    out
}

/// Kills the child `pid` with SIGKILL after `limit`, unless something is sent on the returned
/// channel first (send once it ended).
pub fn watchdog(pid: u32, limit: std::time::Duration) -> std::sync::mpsc::Sender<()> {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if rx.recv_timeout(limit).is_err() {
            // SAFETY: kill has no memory-safety preconditions; the pid is our child's.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
    });
    tx
}

/// Runs `tshark -r FILE -T fields` for `fields` (with the `-o` preferences in `prefs`) and returns
/// one map of field name to value per frame; multiple occurrences are comma-separated.
pub fn tshark_fields(
    file: &std::path::Path,
    fields: &[String],
    prefs: &[&str],
) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r")
        .arg(file)
        .args(["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a"]);
    for p in prefs {
        cmd.args(["-o", p]);
    }
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark");
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("tshark prints UTF-8")
        .lines()
        .map(|l| {
            fields
                .iter()
                .cloned()
                .zip(l.split('\t').map(str::to_owned))
                .collect()
        })
        .collect()
}

/// Whether encap's JSON value equals tshark's text for the same field: numbers against decimal,
/// `0x` hex or True/False; floats within 2 µs; strings ignoring colons and case. tshark's
/// comma-separated occurrences match if any does; a list of ours matches them one by one, in
/// order.
pub fn same_as_tshark(ours: &serde_json::Value, theirs: &str) -> bool {
    use serde_json::Value as Json;
    let candidates: Vec<&str> = theirs.split(',').collect();
    match ours {
        Json::Array(list) => {
            list.len() == candidates.len()
                && list
                    .iter()
                    .zip(&candidates)
                    .all(|(o, t)| same_as_tshark(o, t))
        }
        Json::Number(n) if n.is_f64() => theirs
            .parse::<f64>()
            .is_ok_and(|t| (t - n.as_f64().unwrap_or(f64::NAN)).abs() < 2e-6),
        Json::Number(n) => candidates.iter().any(|t| {
            let parsed = match t.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16).ok(),
                None => t.parse::<u64>().ok().or(match *t {
                    "True" => Some(1),
                    "False" => Some(0),
                    _ => None,
                }),
            };
            parsed == n.as_u64()
        }),
        Json::String(s) => candidates
            .iter()
            .any(|t| t.replace(':', "").eq_ignore_ascii_case(&s.replace(':', ""))),
        _ => false,
    }
}

/// The frames of a capture in `captures/`, in order.
pub fn capture_frames(name: &str) -> Vec<Vec<u8>> {
    capture_frames_at(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("captures")
            .join(name),
    )
}

/// The frames of the capture file at `path`, in order.
pub fn capture_frames_at(path: &std::path::Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).expect("read the capture");
    let mut r = encap::capfile::CaptureReader::new(&bytes[..]).expect("a capture");
    let mut out = Vec::new();
    while let Some(p) = r.next_packet().expect("a frame") {
        out.push(p.data.to_vec());
    }
    out
}

/// True when `ready`. When not: panics with `why` if `ENCAP_REQUIRE_ALL=1` (CI), else prints it
/// as the reason the test is skipped and returns false. For what `have` cannot ask a tool.
pub fn ready(ready: bool, test: &str, why: &str) -> bool {
    if !ready {
        let why = format!("{test}: {why}");
        if std::env::var("ENCAP_REQUIRE_ALL").as_deref() == Ok("1") {
            panic!("{why}; ENCAP_REQUIRE_ALL=1 forbids skipping");
        }
        eprintln!("SKIPPED {why}");
    }
    ready
}

/// The recording host's `net.ipv4.tcp_rmem` and `net.core.rmem_max`, as `captures/record.sh`
/// saved them in `captures/host-tcp-settings.txt`.
pub fn capture_settings() -> (String, String) {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/host-tcp-settings.txt");
    let text = std::fs::read_to_string(path).unwrap();
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|r| r.trim_start().strip_prefix('='))
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|| panic!("{key} in host-tcp-settings.txt"))
    };
    (value("net.ipv4.tcp_rmem"), value("net.core.rmem_max"))
}

/// Where the bytes of frame `n` (1-based) of a little-endian pcap file start.
pub fn pcap_frame_at(bytes: &[u8], n: usize) -> usize {
    let mut at = 24;
    for _ in 1..n {
        let incl = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        at += 16 + incl;
    }
    at + 16
}

/// `encap decode --json EXTRA FILE`: one object per line, the command's success asserted.
pub fn decode_json(
    file: &std::path::Path,
    extra: &[&str],
) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let out = encap()
        .arg("decode")
        .arg("--json")
        .args(extra)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| match serde_json::from_str(l).unwrap() {
            serde_json::Value::Object(o) => o,
            other => panic!("not an object: {other}"),
        })
        .collect()
}

/// A loopback port for a program the test cannot ask to bind port 0 and tell the port it got
/// (`nc -l`, the blog's server.py, a demo whose capture filter names its port). Binding port 0
/// and closing it is not enough: the kernel may then give that port to any connect() as its
/// source port, or to another bind to port 0, before the program binds it. A port below the
/// kernel's ephemeral range (`net.ipv4.ip_local_port_range`) is given to neither; this one is
/// free now, and each call of this process picks another (from an offset of its own).
pub fn listen_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768);
    // (Above the ports services listen on, and clear of the chat's 6666 and 46666. On a host
    // whose ephemeral range starts below 21000, the ports from 20000 on may be ephemeral too.)
    let (low, high) = (20000u32, ephemeral.clamp(21000, 65535));
    let span = high - low;
    let start = std::process::id().wrapping_mul(7919) % span;
    for _ in 0..span {
        let port = low + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % span;
        let Ok(port) = u16::try_from(port) else {
            continue;
        };
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port between {low} and {high}");
}

/// A loopback port nothing listens on, held for as long as the socket returned lives: bound and
/// not listening, so a connect() to it is refused and no other socket can take it meanwhile.
pub fn closed_port() -> (socket2::Socket, u16) {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a TCP socket");
    let addr: std::net::SocketAddr = "127.0.0.1:0".parse().expect("an address");
    s.bind(&addr.into()).expect("bind a loopback port");
    let port = s
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .map(|a| a.port())
        .expect("its port");
    (s, port)
}
