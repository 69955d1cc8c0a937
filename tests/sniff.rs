//! `encap sniff` against the real kernel: loopback TCP traffic made here, on a port of its own, is
//! captured by the binary; every frame must be seen once (not twice, as a packet socket on `lo`
//! sees it without PACKET_IGNORE_OUTGOING), whole (GSO frames far above 1500 bytes included), with
//! the right ports and payload. Live tests need root; the no-permission test drops CAP_NET_RAW.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use serde_json::Value as Json;

/// How long any child process may take before the test kills it and fails.
const CHILD_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `encap sniff`, killed if the test ends early.
struct Sniffer {
    child: Child,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

/// What a finished `encap sniff` left.
struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Sniffer {
    /// Starts `encap sniff ARGS` and waits until it says it is listening.
    fn start(args: &[&str]) -> Sniffer {
        let mut cmd = common::encap();
        cmd.args(["--color", "never", "sniff"]).args(args);
        Sniffer::spawn(cmd)
    }

    /// Starts a capture program (encap or tcpdump) and waits until it says on stderr that it is
    /// "listening on" its interface.
    fn spawn(cmd: std::process::Command) -> Sniffer {
        let (mut s, out) = Sniffer::spawn_unread(cmd);
        s.stdout = Some(thread::spawn(move || {
            let mut text = String::new();
            let _ = BufReader::new(out).read_to_string(&mut text);
            text
        }));
        s
    }

    /// As [`Sniffer::spawn`], but nothing reads the capture's stdout until the caller does.
    fn spawn_unread(mut cmd: std::process::Command) -> (Sniffer, std::process::ChildStdout) {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        let (ready_tx, ready_rx) = mpsc::channel();
        let stderr = thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if line.contains("listening on") {
                    let _ = ready_tx.send(());
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        let mut s = Sniffer {
            child,
            stdout: None,
            stderr: Some(stderr),
        };
        if ready_rx.recv_timeout(Duration::from_secs(10)).is_err() {
            drop(out);
            let f = s.finish();
            panic!(
                "the capture did not start listening: {:?}\n{}",
                f.status, f.stderr
            );
        }
        (s, out)
    }

    /// Sends `signal` (SIGINT is Ctrl-C) and waits for the exit.
    fn signal(mut self, signal: libc::c_int) -> Finished {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid");
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(
            unsafe { libc::kill(pid, signal) },
            0,
            "kill({pid}, {signal})"
        );
        self.finish()
    }

    /// Waits for the exit (at most CHILD_TIMEOUT, then kills and fails).
    fn finish(&mut self) -> Finished {
        let start = Instant::now();
        let status = loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                break st;
            }
            if start.elapsed() > CHILD_TIMEOUT {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the capture did not exit within {CHILD_TIMEOUT:?}: killed");
            }
            thread::sleep(Duration::from_millis(20));
        };
        Finished {
            status,
            stdout: self
                .stdout
                .take()
                .map(|h| h.join().unwrap())
                .unwrap_or_default(),
            stderr: self
                .stderr
                .take()
                .map(|h| h.join().unwrap())
                .unwrap_or_default(),
        }
    }
}

impl Drop for Sniffer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Live tests take turns: one floods lo on purpose (kernel_drops_are_counted), and every sniffer
/// reads all of lo's frames before its port filter, so a flood in a parallel test would make
/// another test's sniffer drop frames.
fn live_turn() -> std::sync::MutexGuard<'static, ()> {
    static LIVE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LIVE.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The three numbers of `N frames captured, M shown, K dropped by kernel`.
fn summary(stderr: &str) -> (u64, u64, u64) {
    let line = stderr
        .lines()
        .find(|l| l.ends_with("dropped by kernel"))
        .unwrap_or_else(|| panic!("no summary line in stderr:\n{stderr}"));
    let n: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(n.len(), 3, "{line}");
    assert_eq!(
        line,
        format!(
            "{} frames captured, {} shown, {} dropped by kernel",
            n[0], n[1], n[2]
        )
    );
    (n[0], n[1], n[2])
}

/// Runs a command to its end, killed (SIGKILL) after 30 seconds so a capture that unexpectedly
/// works and waits for frames cannot hang the test.
fn run_limited(argv: &[&str]) -> std::process::Output {
    std::process::Command::new("timeout")
        .args(["-s", "KILL", "30"])
        .args(argv)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {argv:?}: {e}"))
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("encap-sniff-{}-{name}", std::process::id()))
}

/// One TCP frame read back from the pcap file.
#[derive(Debug)]
struct Segment {
    src: u16,
    dst: u16,
    seq: u32,
    syn: bool,
    ack: bool,
    fin: bool,
    /// The IPv4 identification (shown when a segment is sent again).
    ip_id: u16,
    payload: Vec<u8>,
    /// The whole frame: a frame captured twice is the same bytes, a retransmission never is (a
    /// new IP ID, or a later TSval: a listener's SYN-ACK has IP ID 0 each time).
    bytes: Vec<u8>,
}

fn read_pcap(path: &Path) -> Vec<Segment> {
    let bytes = std::fs::read(path).expect("read the pcap file");
    let mut r = pcap_file::pcap::PcapReader::new(&bytes[..]).expect("pcap header");
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.expect("pcap record");
        assert_eq!(
            p.orig_len as usize,
            p.data.len(),
            "a frame cut short in the file"
        );
        let s = SlicedPacket::from_ethernet(&p.data).expect("etherparse reads the frame");
        let Some(TransportSlice::Tcp(t)) = &s.transport else {
            panic!("not TCP: {:?}", &p.data[..p.data.len().min(64)])
        };
        let Some(NetSlice::Ipv4(ip)) = &s.net else {
            panic!("not IPv4: {:?}", &p.data[..p.data.len().min(64)])
        };
        out.push(Segment {
            ip_id: ip.header().identification(),
            src: t.source_port(),
            dst: t.destination_port(),
            seq: t.sequence_number(),
            syn: t.syn(),
            ack: t.ack(),
            fin: t.fin(),
            payload: t.payload().to_vec(),
            bytes: p.data.to_vec(),
        });
    }
    out
}

/// Every frame of a pcap file with its timestamp.
fn read_frames(path: &Path) -> Vec<(Duration, Vec<u8>)> {
    let bytes = std::fs::read(path).expect("read the pcap file");
    let mut r = pcap_file::pcap::PcapReader::new(&bytes[..]).expect("pcap header");
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.expect("pcap record");
        out.push((p.timestamp, p.data.to_vec()));
    }
    out
}

/// Fails when two frames of the capture are the same bytes: one frame seen twice.
fn each_frame_once(segments: &[Segment]) {
    let mut first = std::collections::HashMap::new();
    for (i, s) in segments.iter().enumerate() {
        if let Some(j) = first.insert(&s.bytes, i) {
            panic!(
                "frames {} and {} are the same bytes: seen twice",
                j + 1,
                i + 1
            );
        }
    }
}

/// The byte stream one direction carried, each payload placed by its sequence number relative to
/// the SYN's. Fails when a retransmission (which a loaded machine can draw even on lo) carries
/// other bytes than the first sending, or at a gap. (A copy of a frame: [`each_frame_once`].)
fn stream(segments: &[Segment], src: u16, dst: u16) -> Vec<u8> {
    let one_way: Vec<&Segment> = segments
        .iter()
        .filter(|s| s.src == src && s.dst == dst)
        .collect();
    // (A SYN sent again has the sequence number of the first.)
    let isns: BTreeSet<u32> = one_way.iter().filter(|s| s.syn).map(|s| s.seq).collect();
    assert_eq!(isns.len(), 1, "{src} > {dst}: SYNs at {isns:?}");
    let isn = isns.first().copied().unwrap_or(0);
    let (mut out, mut have) = (Vec::new(), Vec::new());
    let mut resent = 0;
    for s in one_way.iter().filter(|s| !s.payload.is_empty()) {
        let rel = s.seq.wrapping_sub(isn).wrapping_sub(1);
        assert!(
            rel < 1 << 30,
            "{src} > {dst}: data at relative seq {rel}: before the first byte after the SYN, or far beyond"
        );
        let rel = rel as usize;
        let end = rel + s.payload.len();
        if out.len() < end {
            out.resize(end, 0);
            have.resize(end, false);
        }
        resent += usize::from(have[rel]);
        for (at, &b) in (rel..end).zip(&s.payload) {
            assert!(
                !have[at] || out[at] == b,
                "{src} > {dst}: the segment at seq {rel} (IP ID {}) carries other bytes at {at} than before",
                s.ip_id
            );
            out[at] = b;
            have[at] = true;
        }
    }
    if let Some(gap) = have.iter().position(|h| !h) {
        panic!("{src} > {dst}: a gap at seq {gap}");
    }
    if resent > 0 {
        eprintln!("{src} > {dst}: {resent} segment(s) sent again (a retransmission)");
    }
    out
}

/// How many different places in the sequence space the segments `which` picks take, by
/// direction: `at` a segment's place (a segment sent again is where it was before).
fn places(
    segments: &[Segment],
    which: impl Fn(&Segment) -> bool,
    at: impl Fn(&Segment) -> u32,
) -> usize {
    let places: HashSet<(u16, u32)> = segments
        .iter()
        .filter(|s| which(s))
        .map(|s| (s.src, at(s)))
        .collect();
    places.len()
}

#[test]
fn every_frame_seen_once_and_whole() {
    if !common::is_root("every_frame_seen_once_and_whole") {
        return;
    }
    let _turn = live_turn();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let pcap = temp_path("once.pcap");
    // tcpdump captures the same connection, for comparison (libpcap drops lo's outgoing copies
    // in user space; encap has the kernel do it).
    let tcpdump_pcap = temp_path("once-tcpdump.pcap");
    let tcpdump = common::have("tcpdump", "every_frame_seen_once_and_whole").then(|| {
        let mut cmd = std::process::Command::new("tcpdump");
        // A 64 MB buffer: with tcpdump's default 2 MB, a busy machine made it drop 14 of 52
        // frames (GSO frames of 47 KB) while encap's 8 MB lost none.
        cmd.args([
            "-i",
            "lo",
            "-nn",
            "--immediate-mode",
            "-B",
            "65536",
            "-U",
            "-w",
        ])
        .arg(&tcpdump_pcap)
        .arg(format!("tcp port {port}"));
        Sniffer::spawn(cmd)
    });
    let sniffer = Sniffer::start(&[
        "--port",
        &port.to_string(),
        "--json",
        "-w",
        pcap.to_str().unwrap(),
    ]);

    // Distinct messages, each its own segment (TCP_NODELAY, and each waits for the reply), then
    // 200 KB in one write, which leaves as GSO packets far above any MSS.
    let messages: Vec<Vec<u8>> = (0..5)
        .map(|i| format!("message {i}: {}\n", "é".repeat(i * 7)).into_bytes())
        .collect();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let mut expected_up: Vec<u8> = messages.concat();
    expected_up.extend_from_slice(&big);

    let lens: Vec<usize> = messages.iter().map(Vec::len).collect();
    let big_len = big.len();
    let server = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(CHILD_TIMEOUT)).unwrap();
        s.set_nodelay(true).unwrap();
        let mut got = Vec::new();
        for (i, n) in lens.iter().enumerate() {
            let mut buf = vec![0; *n];
            s.read_exact(&mut buf).unwrap();
            got.extend_from_slice(&buf);
            s.write_all(format!("ok {i}\n").as_bytes()).unwrap();
        }
        let mut buf = vec![0; big_len];
        s.read_exact(&mut buf).unwrap();
        got.extend_from_slice(&buf);
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
        got
    });
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_nodelay(true).unwrap();
    c.set_read_timeout(Some(CHILD_TIMEOUT)).unwrap();
    let client_port = c.local_addr().unwrap().port();
    let mut replies = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        c.write_all(m).unwrap();
        let want = format!("ok {i}\n");
        let mut buf = vec![0; want.len()];
        c.read_exact(&mut buf).unwrap();
        assert_eq!(buf, want.as_bytes());
        replies.extend_from_slice(&buf);
    }
    c.write_all(&big).unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(server.join().unwrap(), expected_up);
    drop(c);
    // The last ACKs and FINs reach the socket within microseconds; leave the sniffer time to
    // read them before Ctrl-C.
    thread::sleep(Duration::from_millis(500));
    let f = sniffer.signal(libc::SIGINT);
    assert!(f.status.success(), "{:?}\n{}", f.status, f.stderr);
    let (captured, shown, dropped) = summary(&f.stderr);
    eprintln!("{captured} frames captured, {shown} shown, {dropped} dropped by kernel");
    assert_eq!(
        dropped, 0,
        "the kernel dropped frames: the checks below would be meaningless"
    );

    // The JSON: one object per frame, captured length equal to the original everywhere.
    let objects: Vec<Json> = f
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(objects.len() as u64, shown);
    for o in &objects {
        assert_eq!(o["frame.len"], o["frame.cap_len"], "cut short: {o}");
    }

    // The file: every frame of the connection, each once, whole.
    let segments = read_pcap(&pcap);
    assert_eq!(segments.len() as u64, shown);
    for s in &segments {
        let ports = [s.src, s.dst];
        assert!(
            ports.contains(&port) && ports.contains(&client_port),
            "{s:?}"
        );
    }
    each_frame_once(&segments);
    assert_eq!(stream(&segments, client_port, port), expected_up);
    assert_eq!(stream(&segments, port, client_port), replies);
    // Handshake and close, each once (or sent again where it was: a retransmission): one
    // SYN-ACK, one FIN each way.
    // (A FIN's place is after its payload: sent again, it may carry more or less of it.)
    assert_eq!(places(&segments, |s| s.syn && s.ack, |s| s.seq), 1);
    let fin_at = |s: &Segment| s.seq.wrapping_add(s.payload.len() as u32);
    let fins: Vec<(u16, u32, usize)> = segments
        .iter()
        .filter(|s| s.fin)
        .map(|s| (s.src, s.seq, s.payload.len()))
        .collect();
    assert_eq!(
        places(&segments, |s| s.fin, fin_at),
        2,
        "FINs (port, seq, len): {fins:?}"
    );
    for (o, s) in objects.iter().zip(&segments) {
        assert_eq!(o["frame.cap_len"], s.bytes.len(), "{o}");
        assert_eq!(o["tcp.srcport"], s.src, "{o}");
        assert_eq!(o["tcp.dstport"], s.dst, "{o}");
    }
    let largest = segments.iter().map(|s| s.bytes.len()).max().unwrap_or(0);
    eprintln!("largest frame: {largest} bytes");
    assert!(
        largest > 8 * 1500,
        "no GSO frame: the largest is {largest} bytes"
    );

    // tcpdump saw the same frames, byte for byte, at nearly the same receive times: encap's are
    // the kernel's stamps (SIOCGSTAMP), not the time the program got round to reading.
    if let Some(tcpdump) = tcpdump {
        let t = tcpdump.signal(libc::SIGINT);
        assert!(t.status.success(), "tcpdump: {:?}\n{}", t.status, t.stderr);
        let ours = read_frames(&pcap);
        let theirs = read_frames(&tcpdump_pcap);
        assert_eq!(
            ours.len(),
            theirs.len(),
            "frames: encap {} tcpdump {}\n{}",
            ours.len(),
            theirs.len(),
            t.stderr
        );
        let mut worst = Duration::ZERO;
        for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
            assert_eq!(o.1, t.1, "frame {}: bytes differ from tcpdump's", i + 1);
            let gap = if o.0 > t.0 { o.0 - t.0 } else { t.0 - o.0 };
            worst = worst.max(gap);
        }
        eprintln!(
            "tcpdump saw the same {} frames; timestamps at most {worst:?} apart",
            theirs.len()
        );
        assert!(
            worst < Duration::from_millis(20),
            "timestamps {worst:?} apart"
        );
        let _ = std::fs::remove_file(&tcpdump_pcap);
    }

    // tcpdump reads the file back, frame for frame.
    if common::have("tcpdump", "every_frame_seen_once_and_whole") {
        let out = std::process::Command::new("timeout")
            .args(["30", "tcpdump", "-nn", "-r"])
            .arg(&pcap)
            .output()
            .expect("run tcpdump");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(text.lines().count() as u64, shown, "{text}");
    }
    let _ = std::fs::remove_file(&pcap);
}

/// Sniffs `-c 3 --json` while a connection to `listener` is made from `host`: the three JSON
/// objects (the handshake, if each frame is seen once) and how the sniffer ended.
fn three_frames(listener: &TcpListener, host: &str) -> (Vec<Json>, Finished) {
    three_frames_on(listener, host, &[])
}

/// As [`three_frames`], with `extra` arguments to the sniffer (`-i any`).
fn three_frames_on(listener: &TcpListener, host: &str, extra: &[&str]) -> (Vec<Json>, Finished) {
    let port = listener.local_addr().unwrap().port();
    let port_arg = port.to_string();
    let mut args = vec!["--port", &port_arg, "-c", "3", "--json"];
    args.extend_from_slice(extra);
    let mut sniffer = Sniffer::start(&args);
    let c = TcpStream::connect((host, port)).unwrap();
    let (s, _) = listener.accept().unwrap();
    let f = sniffer.finish();
    drop((c, s));
    assert!(f.status.success(), "{:?}\n{}", f.status, f.stderr);
    let objects = f
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (objects, f)
}

fn flags(objects: &[Json]) -> Vec<u64> {
    objects
        .iter()
        .map(|o| {
            o["tcp.flags"]
                .as_u64()
                .unwrap_or_else(|| panic!("no tcp.flags: {o}"))
        })
        .collect()
}

#[test]
fn count_stops_after_the_handshake() {
    if !common::is_root("count_stops_after_the_handshake") {
        return;
    }
    let _turn = live_turn();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (objects, f) = three_frames(&listener, "127.0.0.1");
    // SYN, SYN-ACK, ACK: each once (seen twice, the first three would be SYN, SYN, SYN-ACK).
    assert_eq!(flags(&objects), [0x002, 0x012, 0x010], "{}", f.stdout);
    let (_, shown, _) = summary(&f.stderr);
    assert_eq!(shown, 3);
}

#[test]
fn ipv6_on_lo_is_captured_too() {
    if !common::is_root("ipv6_on_lo_is_captured_too") {
        return;
    }
    let _turn = live_turn();
    let listener = match TcpListener::bind("[::1]:0") {
        Ok(l) => l,
        Err(e) if std::env::var("ENCAP_REQUIRE_ALL").as_deref() != Ok("1") => {
            eprintln!("SKIPPED ipv6_on_lo_is_captured_too: no ::1 on lo ({e})");
            return;
        }
        Err(e) => panic!(
            "ipv6_on_lo_is_captured_too: no ::1 on lo ({e}); ENCAP_REQUIRE_ALL=1 forbids skipping"
        ),
    };
    let (objects, f) = three_frames(&listener, "::1");
    for o in &objects {
        assert_eq!(o["frame.len"], o["frame.cap_len"], "{o}");
    }
    assert_eq!(flags(&objects), [0x002, 0x012, 0x010], "{}", f.stdout);
}

#[test]
fn udp_ports_are_kept_too() {
    if !common::is_root("udp_ports_are_kept_too") {
        return;
    }
    let _turn = live_turn();
    let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = rx.local_addr().unwrap().port();
    let mut sniffer = Sniffer::start(&["--port", &port.to_string(), "-c", "2", "--json"]);
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    // Traffic on another port never reaches the sniffer: the kernel filter drops it.
    let other = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..1000 {
        let _ = tx.send_to(b"not for us", other.local_addr().unwrap());
    }
    for m in [&b"first datagram"[..], b"second"] {
        tx.send_to(m, ("127.0.0.1", port)).unwrap();
    }
    let f = sniffer.finish();
    assert!(f.status.success(), "{:?}\n{}", f.status, f.stderr);
    let objects: Vec<Json> = f
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(objects.len(), 2, "{}", f.stdout);
    let (captured, shown, _) = summary(&f.stderr);
    assert_eq!((captured, shown), (2, 2), "{}", f.stderr);
    let from = tx.local_addr().unwrap().port();
    for (o, len) in objects.iter().zip([14, 6]) {
        assert_eq!(o["udp.srcport"], from, "{o}");
        assert_eq!(o["udp.dstport"], port, "{o}");
        assert_eq!(o["frame.len"], 14 + 20 + 8 + len, "{o}");
    }
}

#[test]
fn kernel_drops_are_counted() {
    // A sniffer that cannot write (nobody reads its stdout) stops reading its socket; a burst of
    // 100,000 datagrams then overflows the receive buffer, and the kernel's PACKET_STATISTICS
    // count must show up in the closing line.
    if !common::is_root("kernel_drops_are_counted") {
        return;
    }
    let _turn = live_turn();
    let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = rx.local_addr().unwrap().port();
    let mut cmd = common::encap();
    cmd.args([
        "--color",
        "never",
        "sniff",
        "--port",
        &port.to_string(),
        "-v",
        "-x",
    ]);
    let (sniffer, mut sniffer_stdout) = Sniffer::spawn_unread(cmd);
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let datagram = [b'd'; 100];
    let sent = 100_000u64;
    for _ in 0..sent {
        // The receiving socket's own buffer overflows too; that is not what is measured here.
        let _ = tx.send_to(&datagram, ("127.0.0.1", port));
    }
    // Let the sniffer write again, and stop it half a second later (caught up or not).
    let drain = thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = sniffer_stdout.read_to_end(&mut sink);
    });
    thread::sleep(Duration::from_millis(500));
    let f = sniffer.signal(libc::SIGINT);
    drain.join().unwrap();
    assert!(f.status.success(), "{:?}\n{}", f.status, f.stderr);
    let (captured, shown, dropped) = summary(&f.stderr);
    eprintln!("{sent} datagrams sent: {captured} frames captured, {shown} shown, {dropped} dropped by kernel");
    assert!(dropped > 0, "no drops counted:\n{}", f.stderr);
    assert!(captured + dropped <= sent + 1000, "{}", f.stderr);
}

#[test]
fn sigterm_stops_cleanly() {
    if !common::is_root("sigterm_stops_cleanly") {
        return;
    }
    let _turn = live_turn();
    let pcap = temp_path("term.pcap");
    let sniffer = Sniffer::start(&["--port", "9", "-w", pcap.to_str().unwrap()]);
    let f = sniffer.signal(libc::SIGTERM);
    assert!(f.status.success(), "{:?}\n{}", f.status, f.stderr);
    let (_, shown, _) = summary(&f.stderr);
    assert_eq!(shown, 0);
    // An empty capture is still a valid file: just the 24-byte header.
    assert_eq!(std::fs::metadata(&pcap).unwrap().len(), 24);
    let _ = std::fs::remove_file(&pcap);
}

#[test]
fn without_cap_net_raw_says_how_to_grant_it() {
    let exe = env!("CARGO_BIN_EXE_encap");
    // SAFETY: geteuid has no preconditions.
    let out = if unsafe { libc::geteuid() } == 0 {
        if !common::have("setpriv", "without_cap_net_raw_says_how_to_grant_it") {
            return;
        }
        // Root without CAP_NET_RAW: out of the bounding set (so exec cannot regain it) and of
        // the inheritable set.
        run_limited(&[
            "setpriv",
            "--inh-caps=-all",
            "--bounding-set=-net_raw",
            exe,
            "sniff",
            "-c",
            "1",
        ])
    } else {
        run_limited(&[exe, "sniff", "-c", "1"])
    };
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("CAP_NET_RAW"), "{err}");
    assert!(err.contains("sudo "), "{err}");
    let setcap = format!("sudo setcap cap_net_raw+ep {}", env!("CARGO_BIN_EXE_encap"));
    assert!(err.contains(&setcap), "{err}");
    assert!(err.contains("rebuilt binary loses it"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn unknown_interface_lists_the_available_ones() {
    let out = run_limited(&[env!("CARGO_BIN_EXE_encap"), "sniff", "-i", "no-such-if0"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("\"no-such-if0\""), "{err}");
    assert!(err.contains("lo"), "{err}");
}

#[test]
fn an_interface_without_ethernet_framing_is_refused() {
    let test = "an_interface_without_ethernet_framing_is_refused";
    if !common::is_root(test) || !common::have("unshare", test) || !common::have("ip", test) {
        return;
    }
    let _turn = live_turn();
    // A tun device (link type none: raw IP), up (a device that is down is said to be so first),
    // in a network namespace of its own, gone at exit.
    let script = format!(
        "ip tuntap add dev encaptun0 mode tun && ip link set encaptun0 up \
         && exec timeout 30 {} sniff -i encaptun0",
        env!("CARGO_BIN_EXE_encap")
    );
    let (status, err) = in_new_network_namespace(&script);
    assert_eq!(status, Some(2), "{err}");
    assert!(err.contains("encaptun0 carries link type 65534"), "{err}");
    assert!(err.contains("not Ethernet"), "{err}");
}

#[test]
fn setcap_lets_an_unprivileged_user_capture() {
    // The advice the no-permission error gives, followed: a copy of the binary with
    // cap_net_raw+ep, run as user nobody.
    let test = "setcap_lets_an_unprivileged_user_capture";
    if !common::is_root(test) || !common::have("setpriv", test) {
        return;
    }
    let _turn = live_turn();
    // setcap has no --version; look for it on the PATH instead.
    let setcap = ["/usr/sbin/setcap", "/sbin/setcap", "/usr/bin/setcap"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(setcap) = setcap else {
        let why = format!("{test}: `setcap` is not installed (apt-get install libcap2-bin)");
        assert!(
            std::env::var("ENCAP_REQUIRE_ALL").as_deref() != Ok("1"),
            "{why}; ENCAP_REQUIRE_ALL=1 forbids skipping"
        );
        eprintln!("SKIPPED {why}");
        return;
    };
    let copy = temp_path("encap-with-cap-net-raw");
    std::fs::copy(env!("CARGO_BIN_EXE_encap"), &copy).unwrap();
    let st = std::process::Command::new(setcap)
        .arg("cap_net_raw+ep")
        .arg(&copy)
        .status()
        .unwrap();
    assert!(
        st.success(),
        "setcap failed (a file system without xattrs?)"
    );

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&copy)
        .args(["sniff", "--port", &port.to_string(), "-c", "3", "--json"]);
    let mut sniffer = Sniffer::spawn(cmd);
    let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (s, _) = listener.accept().unwrap();
    let f = sniffer.finish();
    drop((c, s));
    let _ = std::fs::remove_file(&copy);
    assert!(f.status.success(), "{:?}\n{}", f.status, f.stderr);
    assert_eq!(f.stdout.lines().count(), 3, "{}", f.stdout);
    assert_eq!(summary(&f.stderr).1, 3);
}

/// Waits (at most 10 s) until the pcap file at `path` holds at least `n` whole frames; returns
/// how many it holds.
fn wait_for_frames(path: &Path, n: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let bytes = std::fs::read(path).unwrap_or_default();
        let have = pcap_file::pcap::PcapReader::new(&bytes[..])
            .map(|mut r| {
                let mut k = 0;
                while let Some(Ok(_)) = r.next_packet() {
                    k += 1;
                }
                k
            })
            .unwrap_or(0);
        if have >= n || Instant::now() > deadline {
            return have;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_capture_file_survives_sigkill() {
    if !common::is_root("a_capture_file_survives_sigkill") {
        return;
    }
    let _turn = live_turn();
    for (mode, extra) in [("-U", &["-U"][..]), ("buffered", &[][..])] {
        let pcap = temp_path(&format!("kill{mode}.pcap"));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port().to_string();
        let mut args = vec!["--port", &port, "-w", pcap.to_str().unwrap()];
        args.extend_from_slice(extra);
        let mut sniffer = Sniffer::start(&args);
        // The header is written at once, before any frame.
        assert!(
            std::fs::metadata(&pcap).map(|m| m.len()).unwrap_or(0) >= 24,
            "{mode}: no pcap header once listening"
        );
        let mut c =
            TcpStream::connect(("127.0.0.1", listener.local_addr().unwrap().port())).unwrap();
        let (mut s, _) = listener.accept().unwrap();
        c.write_all(b"hello\n").unwrap();
        let mut got = [0u8; 6];
        s.read_exact(&mut got).unwrap();
        // SYN, SYN-ACK, ACK, the data and its ACK: in the file within a second (-U: at once).
        let have = wait_for_frames(&pcap, 5);
        assert!(have >= 5, "{mode}: {have} frames in the file after 10 s");
        // SIGKILL: no chance to flush; what is in the file is all there will be.
        sniffer.child.kill().unwrap();
        let _ = sniffer.child.wait();
        let frames = read_frames(&pcap);
        assert!(
            frames.len() >= 5,
            "{mode}: {} frames after SIGKILL",
            frames.len()
        );
        let _ = std::fs::remove_file(&pcap);
    }
}

#[test]
fn a_tcpdump_filter_expression_decides_what_is_kept() {
    if !common::is_root("a_tcpdump_filter_expression_decides_what_is_kept") {
        return;
    }
    let _turn = live_turn();
    let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let other = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (udp, tcp) = (
        rx.local_addr().unwrap().port(),
        listener.local_addr().unwrap().port(),
    );
    // Two words, as a shell passes `encap sniff udp port A or tcp port B` unquoted.
    let first = format!("udp dst port {udp}");
    let rest = format!("or tcp port {tcp}");
    let mut sniffer = Sniffer::start(&["--json", "-c", "4", &first, &rest]);
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    tx.send_to(b"not kept", other.local_addr().unwrap())
        .unwrap();
    tx.send_to(b"kept", ("127.0.0.1", udp)).unwrap();
    let c = TcpStream::connect(("127.0.0.1", tcp)).unwrap();
    let (s, _) = listener.accept().unwrap();
    let f = sniffer.finish();
    drop((c, s));
    assert!(f.status.success(), "{:?}\n{}", f.status, f.stderr);
    assert!(
        f.stderr.contains(&format!("filter \"{first} {rest}\"")),
        "{}",
        f.stderr
    );
    let objects: Vec<Json> = f
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(objects.len(), 4, "{}", f.stdout);
    assert_eq!(objects[0]["udp.dstport"], udp, "{}", f.stdout);
    // Then the handshake: SYN, SYN-ACK, ACK, each once.
    assert_eq!(flags(&objects[1..]), [0x002, 0x012, 0x010], "{}", f.stdout);
}

#[test]
fn a_filter_libpcap_cannot_compile_is_an_argument_error() {
    let out = run_limited(&[env!("CARGO_BIN_EXE_encap"), "sniff", "tcp", "port"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cannot compile the filter \"tcp port\""),
        "{err}"
    );
    assert!(err.contains("syntax error"), "{err}");
}

#[test]
fn snapshot_length_cuts_each_frame_as_tcpdump_s() {
    if !common::is_root("snapshot_length_cuts_each_frame_as_tcpdump_s") {
        return;
    }
    let _turn = live_turn();
    let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = rx.local_addr().unwrap().port().to_string();
    let pcap = temp_path("snap.pcap");
    let mut sniffer = Sniffer::start(&[
        "--json",
        "-c",
        "1",
        "-s",
        "100",
        "-w",
        pcap.to_str().unwrap(),
        "udp",
        "port",
        &port,
    ]);
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    tx.send_to(&[b'y'; 500], ("127.0.0.1", rx.local_addr().unwrap().port()))
        .unwrap();
    let f = sniffer.finish();
    assert!(f.status.success(), "{:?}\n{}", f.status, f.stderr);
    assert!(
        f.stderr.contains("snapshot length 100 bytes"),
        "{}",
        f.stderr
    );
    let o: Json = serde_json::from_str(f.stdout.trim()).unwrap();
    assert_eq!(
        (o["frame.cap_len"].clone(), o["frame.len"].clone()),
        (100.into(), 542.into())
    );
    // The file says so as tcpdump -s 100 -w writes it: snaplen 100 in the header, the record
    // 100 bytes captured of 542 (pcap_file's reader refuses orig_len > snaplen: read it here).
    let bytes = std::fs::read(&pcap).unwrap();
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!(bytes.len(), 24 + 16 + 100);
    assert_eq!((u32_at(16), u32_at(32), u32_at(36)), (100, 100, 542));
    if common::have("tcpdump", "snapshot_length_cuts_each_frame_as_tcpdump_s") {
        let out = run_limited(&["tcpdump", "-nn", "-r", pcap.to_str().unwrap()]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("UDP, length 500"), "{text}");
    }
    let _ = std::fs::remove_file(&pcap);
}

#[test]
fn a_device_that_is_down_is_named_as_tcpdump_does() {
    let test = "a_device_that_is_down_is_named_as_tcpdump_does";
    if !common::is_root(test) || !common::have("unshare", test) {
        return;
    }
    // A new network namespace's lo is down.
    let out = std::process::Command::new("timeout")
        .args(["-s", "KILL", "60", "unshare", "--net"])
        .arg(env!("CARGO_BIN_EXE_encap"))
        .args(["sniff", "-i", "lo", "-c", "1"])
        .stdin(Stdio::null())
        .output()
        .expect("run unshare");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("lo: that device is not up"), "{err}");
    assert!(!err.contains("listening"), "{err}");
}

#[test]
fn any_interface_sees_each_lo_frame_once() {
    if !common::is_root("any_interface_sees_each_lo_frame_once") {
        return;
    }
    let _turn = live_turn();
    // Every interface here must carry Ethernet frames for -i any (lo and Ethernet ones do).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (objects, f) = three_frames_on(&listener, "127.0.0.1", &["-i", "any"]);
    assert!(f.stderr.contains("listening on any"), "{}", f.stderr);
    // SYN, SYN-ACK, ACK: lo's outgoing copies are dropped, as libpcap drops them.
    assert_eq!(flags(&objects), [0x002, 0x012, 0x010], "{}", f.stdout);
}

#[test]
fn any_interface_refuses_an_interface_without_ethernet_framing() {
    let test = "any_interface_refuses_an_interface_without_ethernet_framing";
    if !common::is_root(test) || !common::have("unshare", test) || !common::have("ip", test) {
        return;
    }
    let script = format!(
        "ip link set lo up && ip tuntap add dev encaptun1 mode tun && ip link set encaptun1 up \
         && exec timeout 30 {} sniff -i any -c 1",
        env!("CARGO_BIN_EXE_encap")
    );
    let (status, err) = in_new_network_namespace(&script);
    assert_eq!(status, Some(2), "{err}");
    assert!(
        err.contains("-i any: encaptun1 carries link type 65534"),
        "{err}"
    );
}

/// Runs the shell `script` in a network namespace of its own (gone when it exits), killed after
/// 60 s: its exit status and standard error.
fn in_new_network_namespace(script: &str) -> (Option<i32>, String) {
    let out = std::process::Command::new("timeout")
        .args(["-s", "KILL", "60", "unshare", "--net", "sh", "-c", script])
        .stdin(Stdio::null())
        .output()
        .expect("run unshare");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
