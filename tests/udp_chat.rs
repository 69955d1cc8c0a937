//! The chat over UDP (`--udp`): against `nc -u` both ways, and the kernel's answer when nobody
//! listens (an ICMP port unreachable, then ECONNREFUSED on the connected socket).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use common::{encap, have};

/// Generous: each wait ends on the line it waits for, long before this.
const WAIT: Duration = Duration::from_secs(30);

/// A child whose standard output is read line by line on a thread; killed when dropped.
struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(mut cmd: Command) -> Running {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Running {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing `text` and returns it.
    fn wait_for(&mut self, text: &str) -> String {
        loop {
            match self.lines.recv_timeout(WAIT) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(text) {
                        return l;
                    }
                }
                Err(e) => panic!("no line with {text:?} ({e}); saw {:#?}", self.seen),
            }
        }
    }

    fn send(&mut self, line: &str) {
        // One write of the line and its newline: nc -u sends each read as a datagram, and
        // `writeln!` writes the two apart (seen: "hi from nc" and "\n" as two datagrams).
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A UDP port on 127.0.0.1 that was free a moment ago (bound, read back, closed).
fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `encap client --udp` to 127.0.0.1:`port`.
fn udp_client(port: u16, view: &str) -> Running {
    let mut client = encap();
    let to = format!("127.0.0.1:{port}");
    client.args(["client", "--udp", "--connect", &to, "--view", view]);
    Running::start(client)
}

#[test]
fn udp_server_talks_with_nc_u() {
    if !have("nc", "udp_server_talks_with_nc_u") {
        return;
    }
    let mut server = encap();
    server.args([
        "server",
        "--udp",
        "--listen",
        "127.0.0.1:0",
        "--view",
        "summary",
    ]);
    let mut server = Running::start(server);
    let line = server.wait_for("listening on 127.0.0.1:");
    let port: u16 = line
        .split_whitespace()
        .nth(2)
        .and_then(|a| a.trim_end_matches("/udp:").rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    let mut nc = Command::new("nc");
    nc.args(["-u", "127.0.0.1", &port.to_string()]);
    let mut nc = Running::start(nc);
    nc.send("hello from nc");
    server.wait_for("sent its first datagram");
    server.wait_for("says (14 bytes, 1 datagram): hello from nc");
    server.send("hi from encap");
    // The pipeline of the reply: the 8-byte UDP header with lo's partial checksum.
    let udp = server.wait_for("UDP         +  8 bytes");
    assert!(udp.contains(&format!("{port} -> ")), "{udp}");
    assert!(udp.contains("len 22") && udp.contains("[partial"), "{udp}");
    nc.wait_for("hi from encap");
    server.send("exit");
    server.wait_for("server ends");
}

#[test]
fn udp_client_talks_with_nc_u_l() {
    if !have("nc", "udp_client_talks_with_nc_u_l") {
        return;
    }
    let port = free_udp_port();
    let mut nc = Command::new("nc");
    nc.args(["-u", "-l", "127.0.0.1", &port.to_string()]);
    let mut nc = Running::start(nc);
    let mut client = udp_client(port, "none");
    client.wait_for("connected to");
    // nc may not be bound yet when the first datagram leaves: then the kernel refuses it and the
    // client says so. Send until nc has one (bounded: a few datagrams, each after an answer).
    let mut got = false;
    for i in 0..20 {
        client.send(&format!("hello {i}"));
        let l = client.wait_for("-> 127.0.0.1");
        assert!(l.contains("in 1 datagram"), "{l}");
        match nc.lines.recv_timeout(Duration::from_millis(500)) {
            Ok(l) if l.starts_with("hello") => {
                got = true;
                break;
            }
            _ => {}
        }
    }
    assert!(
        got,
        "nc -u -l never got a datagram; the client said {:#?}",
        client.seen
    );
    nc.send("hi from nc");
    client.wait_for("says (11 bytes, 1 datagram): hi from nc");
    client.send("exit");
    client.wait_for("done: ");
}

#[test]
fn nobody_listening_is_an_icmp_port_unreachable_then_econnrefused() {
    let port = free_udp_port();
    let mut client = udp_client(port, "summary");
    client.wait_for("connected to");
    client.send("anyone?");
    let l = client.wait_for("ECONNREFUSED");
    assert!(
        l.contains("ICMP destination unreachable, type 3 code 3 (port unreachable)"),
        "{l}"
    );
    client.send("exit");
    client.wait_for("done: 1 datagram(s) sent, 0 received");
}

#[test]
fn verify_checks_nc_u_datagrams_and_the_icmp_error_with_0_mismatch() {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/nc-udp.pcap");
    let out = encap().arg("verify").arg(&file).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(text.matches("(17 bytes of data)").count(), 2, "{text}");
    assert!(
        text.contains("icmp 127.0.0.1 -> 127.0.0.1 (port unreachable"),
        "{text}"
    );
    let all = text.lines().find(|l| l.starts_with("all ")).unwrap();
    let cols: Vec<&str> = all.split_whitespace().collect();
    assert_eq!((cols[1], cols[7]), ("5", "0"), "{all}");
    assert!(text.contains("the udp and icmp rows"), "{text}");

    // The same capture with the second datagram's IP ID one off: the model catches it.
    let mut bytes = std::fs::read(&file).unwrap();
    let frames = common::capture_frames("nc-udp.pcap");
    let second = &frames[2];
    let at = bytes
        .windows(second.len())
        .position(|w| w == second.as_slice())
        .unwrap();
    bytes[at + 19] ^= 0x01; // the low byte of the IP ID (14 + 4 + 1)
    let bad = std::env::temp_dir().join(format!("encap-udp-bad-{}.pcap", std::process::id()));
    std::fs::write(&bad, &bytes).unwrap();
    let out = encap().arg("verify").arg(&bad).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    std::fs::remove_file(&bad).unwrap();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("MISMATCH Identification (ip.id)"), "{text}");
}

#[test]
fn verify_checks_nc_u_datagrams_over_ipv6_with_0_mismatch() {
    // captures/record.sh udp: nc -6 -u on ::1, then a datagram to a port nobody listens on.
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/nc-udp-ipv6.pcap");
    let out = encap().arg("verify").arg(&file).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.matches("udp [::1]:").count() >= 4, "{text}");
    let all = text.lines().find(|l| l.starts_with("all ")).unwrap();
    let cols: Vec<&str> = all.split_whitespace().collect();
    assert_eq!(
        (cols[1], cols[7]),
        ("5", "0"),
        "4 datagrams and the ICMPv6 error, 0 MISMATCH: {all}"
    );
    // The ICMPv6 port unreachable, checked against the datagram it quotes.
    assert!(text.contains("icmp ::1 -> ::1 (port unreachable"), "{text}");
    // A datagram's hop limit edited: the model catches it (IPv6 header byte 7).
    let mut bytes = std::fs::read(&file).unwrap();
    let frames = common::capture_frames("nc-udp-ipv6.pcap");
    let at = bytes
        .windows(frames[1].len())
        .position(|w| w == frames[1].as_slice())
        .unwrap();
    bytes[at + 14 + 7] = 63;
    let bad = std::env::temp_dir().join(format!("encap-udp6-bad-{}.pcap", std::process::id()));
    std::fs::write(&bad, &bytes).unwrap();
    let out = encap().arg("verify").arg(&bad).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    std::fs::remove_file(&bad).unwrap();
    assert_eq!(out.status.code(), Some(1), "{text}");
}

#[test]
fn demo_udp_contrasts_a_connection_with_datagrams() {
    if !common::is_root("demo_udp_contrasts_a_connection_with_datagrams") {
        return;
    }
    let out = common::with_timeout(
        {
            let mut c = encap();
            c.args(["demo", "--udp", "--port", "0"]);
            c
        },
        Duration::from_secs(120),
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("UDP: 5 frames"),
        "one datagram per line of the dialogue: {text}"
    );
    assert!(text.contains(": 3 of handshake, 5 carrying data"), "{text}");
    assert!(
        text.contains("the 5 datagrams checked field by field"),
        "{text}"
    );
    assert!(text.contains(": 0 MISMATCH"), "{text}");
    let tcp: usize = text
        .split("TCP: ")
        .nth(2)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no TCP frame count in {text}"));
    assert!(tcp >= 11, "handshake, data and teardown: {text}");
}
