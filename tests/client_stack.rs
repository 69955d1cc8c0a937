//! `encap client --stack encap`: the chat client run by encap's own TCP/IP endpoint in host a of
//! a lab the test makes (`encap lab up --bare-a`, documentation addresses only, removed by
//! `encap lab down` on every way out of the test), talking to `encap server` on a kernel socket
//! in host b across r. As root; skipped with the reason printed otherwise (CI, with
//! ENCAP_REQUIRE_ALL=1, fails instead).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{encap, have, is_root, with_timeout};

/// One lab at a time (`lab up` removes a lab left before).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The longest wait for one line of a program's output.
const WAIT: Duration = Duration::from_secs(20);

const CLIENT: [&str; 10] = [
    "client",
    "--stack",
    "encap",
    "-i",
    "a-r",
    "--source",
    "192.0.2.10/24",
    "--gateway",
    "192.0.2.1",
    "--view=summary",
];

/// Removes the test's lab, whatever happened; then the root namespace's namespaces are as
/// they were.
struct Lab {
    before: String,
}

fn netns_list() -> String {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Lab {
    fn up() -> Lab {
        let before = netns_list();
        let mut up = encap();
        up.args(["lab", "up", "--bare-a"]);
        let lab = Lab { before };
        let out = with_timeout(up, Duration::from_secs(60));
        assert!(
            out.status.success(),
            "encap lab up --bare-a: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        lab
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let mut down = encap();
        down.args(["lab", "down"]);
        let _ = with_timeout(down, Duration::from_secs(60));
        if !std::thread::panicking() {
            assert_eq!(netns_list(), self.before, "the lab's namespaces are left");
        }
    }
}

/// A program run in a host of the lab, its output read line by line on a thread.
struct InLab {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    seen: String,
}

impl InLab {
    fn start(host: &str, args: &[&str]) -> InLab {
        let mut cmd = encap();
        cmd.args(["lab", "exec", host, "--", env!("CARGO_BIN_EXE_encap")])
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn encap lab exec");
        let stdin = child.stdin.take();
        let (tx, lines) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { return };
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            });
        }
        InLab {
            child,
            stdin,
            lines,
            seen: String::new(),
        }
    }

    /// Waits for a line containing `text`; panics with all that was seen after [`WAIT`].
    fn wait_for(&mut self, text: &str) {
        let end = Instant::now() + WAIT;
        while !self.seen.lines().any(|l| l.contains(text)) {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push_str(&line);
                    self.seen.push('\n');
                }
                Err(_) => panic!(
                    "no line with {text:?} within {WAIT:?}; seen:\n{}",
                    self.seen
                ),
            }
        }
    }

    fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to the program");
        stdin.flush().expect("flush");
    }

    /// Its exit status, within [`WAIT`] (killed by its pid after).
    fn wait(&mut self) -> Option<i32> {
        self.stdin = None;
        let end = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.seen.push_str(&line);
                    self.seen.push('\n');
                }
                return status.code();
            }
            assert!(
                Instant::now() < end,
                "still running after {WAIT:?}; seen:\n{}",
                self.seen
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for InLab {
    fn drop(&mut self) {
        // (`encap lab exec` became the program: this pid is the program's own.)
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ready(test: &str) -> bool {
    is_root(test) && have("ip", test)
}

#[test]
fn encaps_endpoint_chats_with_encap_server_and_exit_closes_both_sides() {
    if !ready("encaps_endpoint_chats_with_encap_server_and_exit_closes_both_sides") {
        return;
    }
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let _lab = Lab::up();
    let mut server = InLab::start(
        "b",
        &["server", "--listen", "198.51.100.10:6666", "--view", "none"],
    );
    server.wait_for("listening on 198.51.100.10:6666");
    let mut client = InLab::start(
        "a",
        &[&CLIENT[..], &["--connect", "198.51.100.10:6666"]].concat(),
    );
    client.wait_for("type a line to send it");
    assert!(
        client
            .seen
            .contains("ARP, Request who-has 192.0.2.1 tell 192.0.2.10")
            && client
                .seen
                .contains("ARP: 192.0.2.1 is at 02:00:00:00:0a:02")
            && client
                .seen
                .contains("connected to 198.51.100.10:6666 (ESTABLISHED)"),
        "{}",
        client.seen
    );
    client.type_line("hello from encap's endpoint");
    server.wait_for("says (28 bytes): hello from encap's endpoint");
    server.type_line("hi from b's kernel");
    client.wait_for("198.51.100.10:6666 says (19 bytes): hi from b's kernel");
    client.type_line("exit");
    server.wait_for("ended the dialogue (exit)");
    server.wait_for("is gone; 0 clients still connected");
    assert_eq!(client.wait(), Some(0), "{}", client.seen);
    assert!(
        client.seen.contains("[FIN, ACK]")
            && client
                .seen
                .contains("198.51.100.10:6666 closed its side (FIN)")
            && client
                .seen
                .contains("connection with 198.51.100.10:6666 closed (CLOSED)"),
        "{}",
        client.seen
    );
    server.type_line("exit");
    assert_eq!(server.wait(), Some(0), "{}", server.seen);
}

#[test]
fn a_closed_port_is_refused_with_exit_status_1() {
    if !ready("a_closed_port_is_refused_with_exit_status_1") {
        return;
    }
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let _lab = Lab::up();
    let mut client = InLab::start(
        "a",
        &[&CLIENT[..], &["--connect", "198.51.100.10:6667"]].concat(),
    );
    assert_eq!(client.wait(), Some(1), "{}", client.seen);
    assert!(
        client.seen.contains("198.51.100.10:6667 answered the SYN with RST, ACK")
            && client.seen.contains(
                "encap: error: connection refused: 198.51.100.10 answered encap's SYN to 198.51.100.10:6667 with a RST (no socket listens on that port)"
            ),
        "{}",
        client.seen
    );
}

#[test]
fn it_says_what_it_needs() {
    for (args, says) in [
        (&["--connect", "[::1]:6666"][..], "IPv4 only"),
        (
            &["--connect", "198.51.100.10:6666"][..],
            "-i DEV --source ADDR/LEN",
        ),
        (
            &[
                "-i",
                "lo",
                "--source",
                "192.0.2.10/33",
                "--connect",
                "198.51.100.10:6666",
            ][..],
            "is not an IPv4 address and prefix length",
        ),
    ] {
        let mut cmd = encap();
        cmd.args(["client", "--stack", "encap"]).args(args);
        let out = with_timeout(cmd, WAIT);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    // The endpoint's flags without it.
    let mut cmd = encap();
    cmd.args(["client", "-i", "lo"]);
    let out = with_timeout(cmd, WAIT);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("add --stack encap"), "{stderr}");
}
