//! `encap server` and `encap client` over real loopback sockets: each test runs the built binary
//! on its own ephemeral port (so tests run in parallel), with a deadline on every wait, and kills
//! every child it started when it fails.
//!
//! Tests that need strace, nc or python3 skip with a printed reason when the tool is missing,
//! unless `ENCAP_REQUIRE_ALL=1` (set in CI), which makes them fail instead.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use encap::layers::payload::escape_bytes;

const WAIT: Duration = Duration::from_secs(20);

fn encap() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_encap"));
    only_standard_fds(&mut c);
    c
}

/// Starts `cmd` with only descriptors 0, 1 and 2 open, as from a shell, so its first socket is
/// descriptor 3 as the blog shows (and the `--explain` tests expect) even when this test runs
/// under a parent that leaks one (`flock FILE cargo test` passes its lock as descriptor 3).
fn only_standard_fds(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: close_range is a plain system call, async-signal-safe, and touches no memory;
    // CLOSE_RANGE_CLOEXEC only marks the descriptors, so they close at exec and std's own
    // error pipe keeps working until then.
    unsafe {
        cmd.pre_exec(|| {
            if libc::close_range(
                3,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC as libc::c_int,
            ) == -1
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// True when `tool` can be run; otherwise skips (prints why) or, with ENCAP_REQUIRE_ALL=1, fails.
fn have(tool: &str, version_arg: &str, test: &str) -> bool {
    let ok = Command::new(tool)
        .arg(version_arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !ok {
        skip_or_fail(&format!("{test}: `{tool}` is not installed"));
    }
    ok
}

fn skip_or_fail(why: &str) {
    if std::env::var("ENCAP_REQUIRE_ALL").as_deref() == Ok("1") {
        panic!("{why}; ENCAP_REQUIRE_ALL=1 forbids skipping");
    }
    eprintln!("SKIPPED {why}");
}

/// The blog's programs, beside the repository (a copy of shared/ sits beside the clone in CI).
fn seed_dir(test: &str) -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/seed");
    if d.join("server.py").is_file() && d.join("client.py").is_file() {
        Some(d)
    } else {
        skip_or_fail(&format!(
            "{test}: {} has no server.py/client.py",
            d.display()
        ));
        None
    }
}

/// A running child: its stdin, and its stdout lines arriving on a channel. Killed when dropped.
struct Proc {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: Option<thread::JoinHandle<String>>,
}

impl Proc {
    fn spawn(name: &str, mut cmd: Command) -> Proc {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf)
                            .trim_end_matches('\n')
                            .to_string();
                        if tx.send(line).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let mut stderr = child.stderr.take().expect("piped stderr");
        let stderr = thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        Proc {
            name: name.to_string(),
            stdin: child.stdin.take(),
            child,
            lines: rx,
            seen: Vec::new(),
            stderr: Some(stderr),
        }
    }

    fn send(&mut self, text: &str) {
        self.send_bytes(text.as_bytes());
    }

    fn send_bytes(&mut self, b: &[u8]) {
        let name = self.name.clone();
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin
            .write_all(b)
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|e| panic!("writing to {name}: {e}"));
    }

    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for a stdout line for which `pred` holds, and returns it.
    fn expect(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let hit = pred(&line);
                    self.seen.push(line.clone());
                    if hit {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "{}: no line {what} within {WAIT:?}; output:\n{}",
                        self.name,
                        self.seen.join("\n")
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "{}: output ended without a line {what}; output:\n{}",
                        self.name,
                        self.seen.join("\n")
                    )
                }
            }
        }
    }

    fn expect_contains(&mut self, needle: &str) -> String {
        self.expect(&format!("containing {needle:?}"), |l| l.contains(needle))
    }

    /// Waits for the process to exit; returns its status, the rest of its stdout and its stderr.
    fn finish(mut self) -> (ExitStatus, Vec<String>, String) {
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "{} did not exit within {WAIT:?}; output:\n{}",
                    self.name,
                    self.seen.join("\n")
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        let mut all = std::mem::take(&mut self.seen);
        all.extend(self.lines.try_iter());
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(2)) {
            all.push(l);
        }
        let err = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        (status, all, err)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn server(port: u16, extra: &[&str]) -> Proc {
    let mut c = encap();
    c.args(["server", "--listen", &format!("127.0.0.1:{port}")])
        .args(extra);
    let mut p = Proc::spawn("encap server", c);
    p.expect_contains("listening on");
    p
}

fn client(port: u16, extra: &[&str]) -> Proc {
    let mut c = encap();
    c.args(["client", "--connect", &format!("127.0.0.1:{port}")])
        .args(extra);
    let mut p = Proc::spawn("encap client", c);
    p.expect_contains("connected to");
    p
}

/// `encap client` against a server that is being started by someone else: retries while refused.
fn client_when_listening(port: u16, extra: &[&str]) -> Proc {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut c = encap();
        c.args(["client", "--connect", &format!("127.0.0.1:{port}")])
            .args(extra);
        let mut p = Proc::spawn("encap client", c);
        let first = p.lines.recv_timeout(WAIT).unwrap_or_default();
        if first.contains("connected to") {
            p.seen.push(first);
            return p;
        }
        let (status, _, err) = p.finish();
        assert!(
            err.contains("ECONNREFUSED") && status.code() == Some(2),
            "unexpected client failure: {status:?} {err}"
        );
        assert!(
            Instant::now() < deadline,
            "the server never started listening"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// The peer port a server-side line names: "127.0.0.1:PORT connected to ...".
fn peer_of(line: &str) -> String {
    line.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The line a peer's `text` sent with its newline is shown as: the count is of what arrived,
/// newline included.
fn says(peer: &str, text: &str) -> String {
    format!(
        "{peer} says ({} bytes): {}",
        text.len() + 1,
        escape_bytes(text.as_bytes())
    )
}

/// The line for `text` sent without a newline (the blog's Python programs), shown once the peer
/// went quiet.
fn says_raw(peer: &str, text: &str) -> String {
    format!(
        "{peer} says ({} bytes): {}",
        text.len(),
        escape_bytes(text.as_bytes())
    )
}

#[test]
fn server_and_client_chat_both_ways_and_exit_ends_both() {
    let (mut s, port) = server_on_port_0(&["--view", "summary"]);
    let mut c = client(port, &["--view", "full"]);
    let joined = s.expect_contains("connected to");
    let cpeer = peer_of(&joined);
    assert!(joined.contains("TCP_NODELAY"), "{joined}");
    let speer = format!("127.0.0.1:{port}");

    let mut client_bytes = 0;
    for text in ["hello", "你好，世界", "emoji 👋🎉 and 中文 together", ""] {
        client_bytes += text.len() + 1;
        c.send(&format!("{text}\n"));
        s.expect(&format!("{text:?} from the client"), |l| {
            l == says(&cpeer, text)
        });
    }
    // The client showed its first message through the pipeline: four stages, relative numbers.
    c.expect_contains("relative to this connection");
    c.expect("the Ethernet stage", |l| l.starts_with("[4/4] Ethernet II"));
    // A terminal escape from a peer never reaches the terminal raw.
    c.send("\x1b[2J\x07bell\n");
    client_bytes += 10;
    let l = s.expect_contains("bell");
    assert_eq!(l, format!("{cpeer} says (10 bytes): \\x1b[2J\\x07bell"));

    for text in ["hi", "服务端 says 你好 🚀"] {
        s.send(&format!("{text}\n"));
        c.expect(&format!("{text:?} from the server"), |l| {
            l == says(&speer, text)
        });
    }
    // The server's summary view names the connection's real ports and relative numbers:
    // "hi\n" is the server's first byte (seq 1) after all the client sent (ack 1 + that).
    let want = format!("seq 1  ack {}", 1 + client_bytes);
    let ports = format!("{port} -> {}", &cpeer[10..]);
    s.expect("the TCP line of the first reply", |l| {
        l.contains(&ports) && l.contains(&want)
    });
    s.send("exit\n");
    c.expect_contains(&format!("{speer} ended the dialogue (exit)"));
    let (cs, _, cerr) = c.finish();
    let (ss, _, serr) = s.finish();
    assert!(cs.success(), "client: {cs:?} {cerr}");
    assert!(ss.success(), "server: {ss:?} {serr}");
}

#[test]
fn client_exit_ends_its_dialogue_and_the_server_goes_on() {
    let (mut s, port) = server_on_port_0(&["--view", "none"]);
    let mut c = client(port, &["--view", "none"]);
    let cpeer = peer_of(&s.expect_contains("connected to"));
    c.send("bye 👋\nexit\n");
    s.expect_contains(&says(&cpeer, "bye 👋"));
    s.expect_contains(&format!("{cpeer} ended the dialogue (exit)"));
    let (cs, _, cerr) = c.finish();
    assert!(cs.success(), "client: {cs:?} {cerr}");
    s.expect_contains("0 clients still connected");
    // A new client is still served.
    let mut c2 = client(port, &["--view", "none"]);
    let c2peer = peer_of(&s.expect_contains("connected to"));
    c2.send("again\n");
    s.expect_contains(&says(&c2peer, "again"));
    // End of input ends the server's typing, not the server: it keeps serving.
    s.close_stdin();
    s.expect_contains("end of input: nothing more will be typed, the server keeps serving");
    c2.send("still served\n");
    s.expect_contains(&says(&c2peer, "still served"));
    // SIGTERM ends it cleanly: a FIN to the client, the closing lines, exit status 0.
    signal(&s.child, libc::SIGTERM);
    s.expect_contains("interrupted: ending the chat (a FIN to each peer)");
    s.expect_contains(&format!("connection with {c2peer} closed"));
    s.expect_contains("stopped listening on");
    let (ss, _, serr) = s.finish();
    assert!(ss.success(), "server: {ss:?} {serr}");
    c2.expect_contains(&format!("127.0.0.1:{port} closed the connection"));
    let (c2s, _, c2err) = c2.finish();
    assert!(c2s.success(), "client: {c2s:?} {c2err}");
}

/// The port in a server's banner, `listening on 127.0.0.1:PORT (backlog N)`.
fn listening_port(banner: &str) -> u16 {
    banner
        .strip_prefix("listening on 127.0.0.1:")
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {banner:?}"))
}

/// Sends `sig` to a child this test started.
fn signal(child: &Child, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).expect("a pid fits pid_t");
    // SAFETY: kill has no memory-safety preconditions; the pid is our own running child's.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill({pid}, {sig})");
}

#[test]
fn a_server_started_with_no_input_serves_on_the_port_the_kernel_chose() {
    // `encap server &` in a script: standard input is /dev/null, the port 0 (any free one).
    let mut c = encap();
    c.args(["server", "--listen", "127.0.0.1:0", "--view", "none"]);
    let mut s = Proc::spawn("encap server", c);
    s.close_stdin();
    let banner = s.expect_contains("listening on");
    let port = listening_port(&banner);
    assert_ne!(port, 0, "{banner}");
    s.expect_contains("the server keeps serving");
    let mut cl = client(port, &["--view", "none"]);
    let cpeer = peer_of(&s.expect_contains("connected to"));
    cl.send("hello\n");
    // The count is of the bytes that arrived: `hello` and its newline.
    s.expect_contains(&format!("{cpeer} says (6 bytes): hello"));
    signal(&s.child, libc::SIGINT);
    s.expect_contains(&format!("connection with {cpeer} closed"));
    let (ss, out, serr) = s.finish();
    assert!(ss.success(), "server: {ss:?} {serr} {out:?}");
    cl.expect_contains(&format!("127.0.0.1:{port} closed the connection"));
    let (cs, _, cerr) = cl.finish();
    assert!(cs.success(), "client: {cs:?} {cerr}");
}

#[test]
fn ctrl_c_ends_a_client_cleanly_without_verify() {
    let (mut s, port) = server_on_port_0(&["--view", "none"]);
    let mut c = client(port, &["--view", "none"]);
    let cpeer = peer_of(&s.expect_contains("connected to"));
    c.send("before ctrl-c\n");
    s.expect_contains(&says(&cpeer, "before ctrl-c"));
    // As a terminal sends it, stdin still open: the client sends its FIN and says so.
    signal(&c.child, libc::SIGINT);
    c.expect_contains("interrupted: ending the chat (a FIN to each peer)");
    c.expect_contains(&format!(
        "connection with 127.0.0.1:{port} closed (14 bytes sent"
    ));
    let (cs, _, cerr) = c.finish();
    assert!(cs.success(), "client killed or failed: {cs:?} {cerr}");
    s.expect_contains(&format!("{cpeer} closed the connection"));
    s.send("exit\n");
    let (ss, _, serr) = s.finish();
    assert!(ss.success(), "server: {ss:?} {serr}");
}

#[test]
fn a_negative_backlog_is_refused() {
    let out = encap()
        .args(["server", "--listen", "127.0.0.1:0", "--backlog", "-1"])
        .stdin(Stdio::null())
        .output()
        .expect("run encap");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--backlog") && err.contains("-1"), "{err}");
}

#[test]
fn separators_and_c1_characters_arrive_visible_and_distinct() {
    let (mut s, port) = server_on_port_0(&["--view", "none"]);
    let mut c = client(port, &["--view", "none"]);
    let cpeer = peer_of(&s.expect_contains("connected to"));
    // U+2028, U+2029, the character U+009B, then the lone byte 0x9B (not UTF-8).
    c.send_bytes(b"a\xe2\x80\xa8b\xe2\x80\xa9c\xc2\x9bd\x9be\n");
    s.expect_contains(&format!(
        "{cpeer} says (15 bytes): a\\u{{2028}}b\\u{{2029}}c\\u{{009b}}d\\x9be"
    ));
    s.send("exit\n");
    let (ss, _, serr) = s.finish();
    assert!(ss.success(), "server: {ss:?} {serr}");
}

#[test]
fn long_line_arrives_in_labelled_parts() {
    let (mut s, port) = server_on_port_0(&["--view", "none"]);
    let mut c = client(port, &["--view", "summary"]);
    let cpeer = peer_of(&s.expect_contains("connected to"));
    let line: String = "长".repeat(70_000); // 210,000 bytes
    c.send(&format!("{line}\n"));
    let mut got = Vec::new();
    for i in 1..=4 {
        let l = s.expect(&format!("part {i}"), |l| l.contains(&format!(", part {i}")));
        let (head, text) = l.split_once("): ").expect("a says line");
        got.push(text.to_string());
        assert!(head.starts_with(&format!("{cpeer} says (")), "{head}");
        if i == 4 {
            assert!(head.ends_with(", part 4, last"), "{head}");
        }
    }
    assert_eq!(got.concat(), line);
    // Cut between characters, each part at most 64 KiB.
    assert!(got.iter().all(|p| p.len() <= 65536 && p.len() % 3 == 0));
    // The sender showed the message as the segments its MSS makes.
    c.expect_contains("=== segment 1 of");
}

#[test]
fn second_client_keeps_chatting_while_the_first_is_killed() {
    let (mut s, port) = server_on_port_0(&["--view", "none"]);
    let mut a = client(port, &["--view", "none"]);
    let apeer = peer_of(&s.expect_contains("connected to"));
    let mut b = client(port, &["--view", "none"]);
    let bpeer = peer_of(&s.expect_contains("connected to"));
    // One after the other: the server's lines are read in order, and two clients sending at
    // once may arrive in either order.
    a.send("from a\n");
    s.expect_contains(&says(&apeer, "from a"));
    b.send("from b\n");
    s.expect_contains(&says(&bpeer, "from b"));
    s.send("to everyone\n");
    let speer = format!("127.0.0.1:{port}");
    a.expect_contains(&says(&speer, "to everyone"));
    b.expect_contains(&says(&speer, "to everyone"));

    a.child.kill().expect("SIGKILL the first client");
    let _ = a.child.wait();
    s.expect_contains(&format!("{apeer} is gone; 1 client still connected"));

    b.send("still here 🙂\n");
    s.expect_contains(&says(&bpeer, "still here 🙂"));
    s.send("only b gets this\n");
    b.expect_contains(&says(&speer, "only b gets this"));
    s.send("exit\n");
    let (bs, _, berr) = b.finish();
    let (ss, _, serr) = s.finish();
    assert!(
        bs.success() && ss.success(),
        "{bs:?} {berr} / {ss:?} {serr}"
    );
}

#[test]
fn client_without_server_says_so() {
    let (_held, port) = common::closed_port();
    let out = encap()
        .args(["client", "--connect", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .output()
        .expect("run encap client");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "no server is listening on 127.0.0.1:{port}, start `encap server` first (ECONNREFUSED)"
        )),
        "{err}"
    );
}

#[test]
fn busy_port_gives_eaddrinuse() {
    let holder = TcpListener::bind("127.0.0.1:0").expect("hold a port");
    let port = holder.local_addr().expect("address").port();
    let out = encap()
        .args([
            "server",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--explain",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run encap server");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(err.contains("EADDRINUSE"), "{err}");
    assert!(err.contains("another process"), "{err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("sin_port=htons({port}), sin_addr=inet_addr(\"127.0.0.1\")}}, 16) = -1 EADDRINUSE (Address already in use)")),
        "{stdout}"
    );
    drop(holder);
}

// ---- interoperability ----

#[test]
fn client_talks_to_nc_listening() {
    if !have("nc", "-h", "client_talks_to_nc_listening") {
        return;
    }
    let port = common::listen_port();
    let mut nc = Command::new("nc");
    nc.args(["-l", "127.0.0.1", &port.to_string()]);
    let mut nc = Proc::spawn("nc -l", nc);
    let mut c = client_when_listening(port, &["--view", "none"]);
    c.send("hello from encap ✓ 你好\n");
    nc.expect("the client's line", |l| l == "hello from encap ✓ 你好");
    nc.send("reply from nc ☕\n");
    c.expect_contains(&says(&format!("127.0.0.1:{port}"), "reply from nc ☕"));
    c.send("exit\n");
    nc.expect("exit", |l| l == "exit");
    let (cs, _, cerr) = c.finish();
    assert!(cs.success(), "client: {cs:?} {cerr}");
}

#[test]
fn nc_talks_to_server() {
    if !have("nc", "-h", "nc_talks_to_server") {
        return;
    }
    let (mut s, port) = server_on_port_0(&["--view", "none"]);
    let mut nc = Command::new("nc");
    nc.args(["127.0.0.1", &port.to_string()]);
    let mut nc = Proc::spawn("nc", nc);
    let npeer = peer_of(&s.expect_contains("connected to"));
    nc.send("hello from nc 🐈\n");
    s.expect_contains(&says(&npeer, "hello from nc 🐈"));
    s.send("hi nc, 你好\n");
    nc.expect("the server's line", |l| l == "hi nc, 你好");
    s.send("exit\n");
    nc.expect("exit", |l| l == "exit");
    let (ss, _, serr) = s.finish();
    assert!(ss.success(), "server: {ss:?} {serr}");
}

/// A copy of the blog's program with its port 6666 replaced, so tests can run in parallel.
fn patched(seed: &Path, file: &str, port: u16, dir: &Path) -> PathBuf {
    let src = std::fs::read_to_string(seed.join(file)).expect("read the blog's program");
    assert!(
        src.contains("6666"),
        "{file} no longer hard-codes port 6666"
    );
    let out = dir.join(format!("{port}-{file}"));
    std::fs::write(&out, src.replace("6666", &port.to_string())).expect("write the patched copy");
    out
}

fn temp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("encap-chat-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

#[test]
fn client_talks_to_the_blogs_server_py() {
    let test = "client_talks_to_the_blogs_server_py";
    if !have("python3", "--version", test) {
        return;
    }
    let Some(seed) = seed_dir(test) else { return };
    let port = common::listen_port();
    let script = patched(&seed, "server.py", port, &temp_dir());
    let mut py = Command::new("python3");
    py.arg("-u").arg(&script);
    let mut py = Proc::spawn("server.py", py);
    let mut c = client_when_listening(port, &["--view", "none"]);
    let speer = format!("127.0.0.1:{port}");

    c.send("hello 你好\n");
    py.expect_contains("客户端: hello 你好");
    // server.py sends raw text without a newline: shown after the peer goes quiet.
    py.send("hi 👋 from python\n");
    c.expect_contains(&says_raw(&speer, "hi 👋 from python"));
    c.send("second message\n");
    py.expect_contains("客户端: second message");
    py.send("exit\n");
    c.expect_contains(&format!("{speer} ended the dialogue (exit)"));
    let (cs, _, cerr) = c.finish();
    assert!(cs.success(), "client: {cs:?} {cerr}");
    let (ps, _, perr) = py.finish();
    assert!(ps.success(), "server.py: {ps:?} {perr}");
}

#[test]
fn the_blogs_client_py_talks_to_server() {
    let test = "the_blogs_client_py_talks_to_server";
    if !have("python3", "--version", test) {
        return;
    }
    let Some(seed) = seed_dir(test) else { return };
    let (mut s, port) = server_on_port_0(&["--view", "none"]);
    let script = patched(&seed, "client.py", port, &temp_dir());
    let mut py = Command::new("python3");
    py.arg("-u").arg(&script);
    let mut py = Proc::spawn("client.py", py);
    let ppeer = peer_of(&s.expect_contains("connected to"));

    py.send("hello 世界\n");
    s.expect_contains(&says_raw(&ppeer, "hello 世界"));
    s.send("reply 🎉\n");
    py.expect_contains("服务端: reply 🎉");
    py.send("more text\n");
    s.expect_contains(&says_raw(&ppeer, "more text"));
    s.send("ok\n");
    py.expect_contains("服务端: ok");
    // client.py sends the literal `exit`: the server ends the dialogue with it.
    py.send("exit\n");
    s.expect_contains(&format!("{ppeer} ended the dialogue (exit)"));
    py.close_stdin();
    s.expect_contains(&format!("{ppeer} is gone; 0 clients still connected"));
    let (ps, pout, perr) = py.finish();
    assert!(ps.success(), "client.py: {ps:?} {perr}");
    assert!(pout.iter().any(|l| l.contains("Dialogue Over")), "{pout:?}");
    s.send("exit\n");
    let (ss, _, serr) = s.finish();
    assert!(ss.success(), "server: {ss:?} {serr}");
}

// ---- stress ----

/// xorshift64*: a small seeded PRNG, so both sides of a test can regenerate the same messages.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const STRESS_MESSAGES: usize = 10_000;
const STRESS_MAX: usize = 64 * 1024;

/// A message of exactly `len` bytes of random UTF-8 without a newline: ASCII, controls (escape,
/// tab, CR, DEL, C1), two-, three- and four-byte characters (Latin, CJK, emoji).
fn random_message(rng: &mut Rng, len: usize, out: &mut String) {
    out.clear();
    while out.len() < len {
        let room = len - out.len();
        let c = match rng.below(20) {
            0 => Some(['\x1b', '\t', '\r', '\x7f', '\u{9b}', '\\', '\x00'][rng.below(7) as usize]),
            1..=3 if room >= 2 => char::from_u32(0x00a0 + rng.below(0x0700 - 0xa0) as u32),
            4..=6 if room >= 3 => char::from_u32(0x4e00 + rng.below(0x5200) as u32),
            7..=8 if room >= 4 => char::from_u32(0x1f300 + rng.below(0x300) as u32),
            _ => char::from_u32(0x20 + rng.below(0x5f) as u32),
        }
        .filter(|c| c.len_utf8() <= room)
        .unwrap_or('x');
        out.push(c);
    }
}

/// Message lengths: uniform over 0..=64 KiB.
fn random_len(rng: &mut Rng) -> usize {
    rng.below(STRESS_MAX as u64 + 1) as usize
}

/// Writes the seeded messages, one line each, into `stdin`; returns the bytes written and stdin,
/// still open (end of input would end the dialogue).
fn feed(mut stdin: ChildStdin, seed: u64) -> std::io::Result<(u64, ChildStdin)> {
    let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut stdin);
    let mut rng = Rng(seed);
    let mut msg = String::new();
    let mut total = 0u64;
    for _ in 0..STRESS_MESSAGES {
        let len = random_len(&mut rng);
        random_message(&mut rng, len, &mut msg);
        w.write_all(msg.as_bytes())?;
        w.write_all(b"\n")?;
        total += len as u64 + 1;
    }
    w.flush()?;
    drop(w);
    Ok((total, stdin))
}

/// Reads `says` lines from `r` and checks each against the seeded messages, in order.
fn check_received(mut r: impl BufRead, seed: u64) -> Result<usize, String> {
    let mut rng = Rng(seed);
    let mut msg = String::new();
    let mut line = String::new();
    let mut n = 0;
    // The last line that was not a message: how the output ended, when it ends early (a signal
    // to the process ends it cleanly, with `interrupted: ...`).
    let mut other = String::new();
    while n < STRESS_MESSAGES {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) => {
                return Err(format!(
                    "output ended after {n} messages; its last other line: {:?}",
                    other.trim_end()
                ))
            }
            Ok(_) => {}
            Err(e) => return Err(format!("reading output after {n} messages: {e}")),
        }
        let Some((_, rest)) = line.split_once(" says (") else {
            other.clone_from(&line);
            continue;
        };
        let len = random_len(&mut rng);
        random_message(&mut rng, len, &mut msg);
        // The count is of what arrived: the message and its newline.
        let want_head = format!("{} bytes): ", len + 1);
        let Some(text) = rest.strip_prefix(&want_head) else {
            return Err(format!(
                "message {n}: wanted {want_head:?}, got {:?}",
                &rest[..rest.len().min(60)]
            ));
        };
        if text.trim_end_matches('\n') != escape_bytes(msg.as_bytes()) {
            return Err(format!("message {n} ({len} bytes) arrived changed"));
        }
        n += 1;
    }
    Ok(n)
}

#[test]
fn stress_ten_thousand_random_messages_each_way() {
    let started = Instant::now();
    let spawn = |args: &[&str]| {
        encap()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start encap")
    };
    // Port 0: the kernel's choice, read back from the banner, so no other test can be given the
    // same port between a probe and the bind (as a port picked by binding and releasing can be).
    let mut server = spawn(&["server", "--listen", "127.0.0.1:0", "--view", "none"]);
    let mut sout = BufReader::with_capacity(1 << 20, server.stdout.take().expect("stdout"));
    let mut line = String::new();
    while !line.contains("listening on") {
        line.clear();
        if sout.read_line(&mut line).unwrap_or(0) == 0 {
            let _ = server.kill();
            panic!("the server did not start: {:?}", server.wait());
        }
    }
    let listen = format!("127.0.0.1:{}", listening_port(line.trim_end()));
    let mut client = spawn(&["client", "--connect", &listen, "--view", "none"]);
    struct Kill(Vec<Child>);
    impl Drop for Kill {
        fn drop(&mut self) {
            for c in &mut self.0 {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
    let cout = BufReader::with_capacity(1 << 20, client.stdout.take().expect("stdout"));
    // Each side's standard error, kept to say why a side's output ended early.
    let errors = [&mut server, &mut client].map(|c| {
        let mut e = c.stderr.take().expect("stderr");
        thread::spawn(move || {
            let mut s = String::new();
            let _ = e.read_to_string(&mut s);
            s
        })
    });
    let (sin, cin) = (
        server.stdin.take().expect("stdin"),
        client.stdin.take().expect("stdin"),
    );
    let mut children = Kill(vec![server, client]);
    let (server_seed, client_seed) = (0x5eed_0001_u64, 0x5eed_0002_u64);
    let (tx, rx) = mpsc::channel();
    let t = tx.clone();
    // The same reader that read the banner: what it has buffered beyond it is not lost.
    thread::spawn(move || t.send(("server received", check_received(sout, client_seed))));
    let t = tx.clone();
    thread::spawn(move || t.send(("client received", check_received(cout, server_seed))));
    let (wtx, wrx) = mpsc::channel();
    let w = wtx.clone();
    thread::spawn(move || w.send(feed(sin, server_seed)));
    thread::spawn(move || wtx.send(feed(cin, client_seed)));
    drop(tx);
    // Generous: alone it takes 60-90 s in a debug build, 530-540 s with both cores loaded by
    // two other processes at a higher priority, and once more than 600 s.
    let limit = Duration::from_secs(1800);
    for _ in 0..2 {
        match rx.recv_timeout(limit.saturating_sub(started.elapsed())) {
            Ok((who, Ok(n))) => assert_eq!(n, STRESS_MESSAGES, "{who}"),
            Ok((who, Err(e))) => {
                // Say how each side ended: an exit status, a signal, its last words.
                let mut why = String::new();
                for (c, name) in children.0.iter_mut().zip(["server", "client"]) {
                    let deadline = Instant::now() + Duration::from_secs(5);
                    let status = loop {
                        match c.try_wait() {
                            Ok(Some(st)) => break format!("{st}"),
                            _ if Instant::now() > deadline => break "still running".into(),
                            _ => thread::sleep(Duration::from_millis(20)),
                        }
                    };
                    why.push_str(&format!("\n{name}: {status}"));
                }
                drop(children);
                for (h, name) in errors.into_iter().zip(["server", "client"]) {
                    let err = h.join().unwrap_or_default();
                    why.push_str(&format!("\n{name}'s stderr: {}", err.trim()));
                }
                panic!("{who}: {e}{why}");
            }
            Err(e) => panic!("stress test did not finish within {limit:?}: {e}"),
        }
    }
    let mut bytes = 0;
    let mut stdins = Vec::new();
    for _ in 0..2 {
        let (n, stdin) = wrx
            .recv_timeout(Duration::from_secs(10))
            .expect("writer finished")
            .expect("writing the messages");
        bytes += n;
        stdins.push(stdin);
    }
    eprintln!(
        "stress: {STRESS_MESSAGES} messages each way, {bytes} bytes in all, checked in {:.1?}",
        started.elapsed()
    );
    // `exit` at the server ends both sides cleanly.
    for s in &mut stdins {
        s.write_all(b"exit\n").expect("write exit");
        s.flush().expect("flush");
    }
    let deadline = Instant::now() + WAIT;
    for c in &mut children.0 {
        loop {
            if let Some(status) = c.try_wait().expect("try_wait") {
                assert!(status.success(), "{status:?}");
                break;
            }
            assert!(Instant::now() < deadline, "a side did not exit after exit");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

// ---- --explain against strace ----

/// The narrated system calls in `--explain` output, in order (close is narrated too, but strace
/// counts it as a descriptor call, not a network one).
fn narrated_calls(out: &[String]) -> Vec<String> {
    out.iter()
        .filter_map(|l| l.strip_prefix("» "))
        .filter(|l| !l.starts_with("close("))
        .map(normalize_call)
        .collect()
}

/// What `strace -o FILE` wrote: one call a line, without the pid and the alignment padding.
fn straced_calls(log: &str) -> Vec<String> {
    log.lines()
        .map(|l| {
            l.trim_start_matches(|c: char| c.is_ascii_digit())
                .trim_start()
        })
        .filter(|l| !l.starts_with("+++") && !l.starts_with("---") && !l.is_empty())
        .map(normalize_call)
        .collect()
}

/// `listen(3, 1)          = 0` -> `listen(3, 1) = 0`.
fn normalize_call(l: &str) -> String {
    match l.rsplit_once(" = ") {
        Some((call, ret)) => format!("{} = {ret}", call.trim_end()),
        None => l.to_string(),
    }
}

fn strace(log: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("strace");
    c.args(["-f", "-e", "trace=network", "-o"])
        .arg(log)
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_encap"))
        .args(args);
    only_standard_fds(&mut c);
    c
}

#[test]
fn explain_matches_strace() {
    if !have("strace", "-V", "explain_matches_strace") {
        return;
    }
    let dir = temp_dir();
    let port = common::listen_port();
    let listen = format!("127.0.0.1:{port}");
    let (slog, clog) = (
        dir.join(format!("{port}-server.strace")),
        dir.join(format!("{port}-client.strace")),
    );
    let mut s = Proc::spawn(
        "strace encap server",
        strace(
            &slog,
            &["server", "--listen", &listen, "--view", "none", "--explain"],
        ),
    );
    s.expect_contains("listening on");
    let mut c = Proc::spawn(
        "strace encap client",
        strace(
            &clog,
            &[
                "client",
                "--connect",
                &listen,
                "--view",
                "none",
                "--explain",
            ],
        ),
    );
    c.expect_contains("connected to");
    let cpeer = peer_of(&s.expect_contains("connected to"));
    c.send("hello\n");
    s.expect_contains(&says(&cpeer, "hello"));
    // Longer than strace's 32-byte default, with UTF-8 and an escape: octal and "..." as strace.
    let long = "\x1b[1m你好, this line is longer than thirty-two bytes 👋";
    c.send(&format!("{long}\n"));
    s.expect_contains(&says(&cpeer, long));
    s.send("hi\n");
    c.expect_contains(&says(&listen, "hi"));
    s.send("exit\n");
    let (cs, cout, cerr) = c.finish();
    let (ss, sout, serr) = s.finish();
    assert!(
        cs.success() && ss.success(),
        "{cs:?} {cerr} / {ss:?} {serr}"
    );

    for (who, out, log) in [("server", &sout, &slog), ("client", &cout, &clog)] {
        let log = std::fs::read_to_string(log).expect("read the strace log");
        let narrated = narrated_calls(out);
        let straced = straced_calls(&log);
        assert!(
            narrated.len() >= 8,
            "{who}: too few narrated calls: {narrated:#?}"
        );
        assert_eq!(
            narrated, straced,
            "{who}: --explain (left) and strace -e trace=network (right) differ"
        );
        // Every narrated call is followed by what it does.
        let i = out
            .iter()
            .position(|l| l.starts_with("» "))
            .expect("narration");
        assert!(out[i + 1].starts_with("    "), "{who}: {}", out[i + 1]);
    }
    // The calls the blog names are all there, with the arguments strace shows.
    let all = narrated_calls(&sout).join("\n") + "\n" + &narrated_calls(&cout).join("\n");
    for want in [
        "socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_TCP) = 3",
        "setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0",
        &format!("bind(3, {{sa_family=AF_INET, sin_port=htons({port}), sin_addr=inet_addr(\"127.0.0.1\")}}, 16) = 0"),
        "listen(3, 1) = 0",
        "SOCK_CLOEXEC|SOCK_NONBLOCK) = 4",
        &format!("connect(3, {{sa_family=AF_INET, sin_port=htons({port}), sin_addr=inet_addr(\"127.0.0.1\")}}, 16) = 0"),
        "setsockopt(3, SOL_TCP, TCP_NODELAY, [1], 4) = 0",
        "sendto(3, \"hello\\n\", 6, MSG_NOSIGNAL, NULL, 0) = 6",
        "recvfrom(4, \"hello\\n\", 65536, 0, NULL, NULL) = 6",
        "sendto(3, \"\\33[1m\\344\\275\\240\\345\\245\\275, this line is longer \"..., 59, MSG_NOSIGNAL, NULL, 0) = 59",
        "shutdown(4, SHUT_WR) = 0",
        "recvfrom(3, \"\", 65536, 0, NULL, NULL) = 0",
    ] {
        assert!(all.contains(want), "missing {want:?} in:\n{all}");
    }
}

#[test]
fn explain_matches_strace_when_refused() {
    if !have("strace", "-V", "explain_matches_strace_when_refused") {
        return;
    }
    let (_held, port) = common::closed_port();
    let log = temp_dir().join(format!("{port}-refused.strace"));
    let out = strace(
        &log,
        &[
            "client",
            "--connect",
            &format!("127.0.0.1:{port}"),
            "--explain",
        ],
    )
    .stdin(Stdio::null())
    .output()
    .expect("run strace");
    assert_eq!(out.status.code(), Some(2));
    let stdout: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let narrated = narrated_calls(&stdout);
    assert_eq!(
        narrated,
        straced_calls(&std::fs::read_to_string(&log).expect("log"))
    );
    assert_eq!(
        narrated.last().map(String::as_str),
        Some(format!("connect(3, {{sa_family=AF_INET, sin_port=htons({port}), sin_addr=inet_addr(\"127.0.0.1\")}}, 16) = -1 ECONNREFUSED (Connection refused)").as_str())
    );
    assert!(stdout
        .iter()
        .any(|l| l.contains("ECONNREFUSED: the SYN was answered by a RST")));
}

// ---- resets ----

/// Closes `stream` with a RST instead of a FIN (SO_LINGER with a zero timeout).
fn reset(stream: std::net::TcpStream) {
    let s = socket2::Socket::from(stream);
    s.set_linger(Some(Duration::ZERO)).expect("SO_LINGER 0");
    drop(s);
}

#[test]
fn a_client_resetting_does_not_disturb_the_others() {
    let (mut s, port) = server_on_port_0(&["--view", "none"]);
    let mut good = client(port, &["--view", "none"]);
    let gpeer = peer_of(&s.expect_contains("connected to"));
    let mut rude = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let rpeer = peer_of(&s.expect_contains("connected to"));
    rude.write_all(b"about to reset\n").expect("send");
    s.expect_contains(&says(&rpeer, "about to reset"));
    reset(rude);
    s.expect_contains(&format!(
        "{rpeer} reset the connection: recvfrom failed: ECONNRESET"
    ));
    s.expect_contains(&format!("{rpeer} is gone; 1 client still connected"));
    good.send("unaffected\n");
    s.expect_contains(&says(&gpeer, "unaffected"));
    s.send("exit\n");
    let (gs, _, gerr) = good.finish();
    let (ss, _, serr) = s.finish();
    assert!(
        gs.success() && ss.success(),
        "{gs:?} {gerr} / {ss:?} {serr}"
    );
}

#[test]
fn bytes_received_before_a_reset_are_shown_not_lost() {
    let (mut s, port) = server_on_port_0(&["--view", "none"]);
    let mut rude = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let rpeer = peer_of(&s.expect_contains("connected to"));
    // A line, then half a line, then a RST: the half line is the peer's last message.
    rude.write_all(b"hello\nworld").expect("send");
    s.expect_contains(&says(&rpeer, "hello"));
    thread::sleep(Duration::from_millis(300));
    reset(rude);
    s.expect_contains(&says_raw(&rpeer, "world"));
    s.expect_contains(&format!("{rpeer} reset the connection"));
    s.send("exit\n");
    let (ss, _, serr) = s.finish();
    assert!(ss.success(), "{ss:?} {serr}");
}

#[test]
fn client_reports_a_reset_and_exits_2() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let mut c = client(port, &["--view", "none", "--explain"]);
    let (conn, _) = listener.accept().expect("accept");
    c.send("hello\n");
    c.expect_contains("sendto(3, \"hello\\n\", 6, MSG_NOSIGNAL, NULL, 0) = 6");
    thread::sleep(Duration::from_millis(100));
    reset(conn);
    c.expect_contains("= -1 ECONNRESET (Connection reset by peer)");
    c.expect_contains("ECONNRESET: the peer's kernel answered with a RST");
    let (status, _, err) = c.finish();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("the dialogue with 127.0.0.1:{port} failed"))
            && err.contains("ECONNRESET"),
        "{err}"
    );
}

#[test]
fn privileged_port_gives_eacces() {
    let unprivileged_start =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
            .ok()
            .and_then(|s| s.trim().parse::<u16>().ok())
            .unwrap_or(1024);
    if unprivileged_start <= 81 {
        skip_or_fail(&format!("privileged_port_gives_eacces: ip_unprivileged_port_start is {unprivileged_start}, so no port needs privilege here"));
        return;
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let mut cmd = if root {
        // Drop root and every capability, as an ordinary user would run it.
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ])
        .arg(env!("CARGO_BIN_EXE_encap"));
        c
    } else {
        encap()
    };
    cmd.args(["server", "--listen", "127.0.0.1:81"])
        .stdin(Stdio::null());
    let Ok(out) = cmd.output() else {
        skip_or_fail("privileged_port_gives_eacces: running as root and setpriv is missing");
        return;
    };
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.code() != Some(2) && !err.contains("EACCES") {
        skip_or_fail(&format!(
            "privileged_port_gives_eacces: this user may bind port 81 ({err})"
        ));
        return;
    }
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("EACCES") && err.contains("below 1024"),
        "{err}"
    );
}

// ---- the view against what the kernel really sends ----

/// The numbers one segment carries, as the model shows them or as a capture has them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SegmentNumbers {
    src_port: u16,
    dst_port: u16,
    /// Relative to the sender's initial sequence number.
    seq: u32,
    /// Relative to the receiver's initial sequence number.
    ack: u32,
    flags: String,
    len: usize,
    cksum: u16,
    ip_total_len: u16,
}

/// Reads the TCP and IPv4 lines of `--view summary` output.
fn summary_segments(out: &[String]) -> Vec<SegmentNumbers> {
    let mut segs = Vec::new();
    for (i, l) in out.iter().enumerate() {
        let t: Vec<&str> = l.split_whitespace().collect();
        if t.first() != Some(&"TCP") || !t.contains(&"->") {
            continue;
        }
        let after = |key: &str| -> &str {
            let k = t.iter().position(|x| *x == key).expect(key);
            t[k + 1]
        };
        let arrow = t.iter().position(|x| *x == "->").expect("->");
        let flags = l[l.find('[').expect("[") + 1..l.find(']').expect("]")].to_string();
        let ip: Vec<&str> = out[i + 1].split_whitespace().collect();
        let ip_len = ip[ip.iter().position(|x| *x == "len").expect("ip len") + 1];
        segs.push(SegmentNumbers {
            src_port: t[arrow - 1].parse().expect("port"),
            dst_port: t[arrow + 1].parse().expect("port"),
            seq: after("seq").parse().expect("seq"),
            ack: after("ack").parse().expect("ack"),
            flags,
            len: after("len").parse().expect("len"),
            cksum: u16::from_str_radix(after("cksum").trim_start_matches("0x"), 16).expect("cksum"),
            ip_total_len: ip_len.parse().expect("ip len"),
        });
    }
    segs
}

/// The data segments in a capture, with sequence numbers made relative to each side's SYN.
fn captured_segments(pcap: &Path) -> Vec<SegmentNumbers> {
    let file = std::fs::File::open(pcap).expect("open the capture");
    let mut r = pcap_file::pcap::PcapReader::new(file).expect("a pcap file");
    let mut isn = std::collections::HashMap::new();
    let mut segs = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.expect("a packet");
        let d = encap::pipeline::decapsulate(&p.data).expect("the kernel's frame decodes");
        let t = &d.tcp;
        if t.flags() & 0x002 != 0 {
            isn.insert(t.src_port(), t.seq());
            continue;
        }
        if t.payload().is_empty() {
            continue;
        }
        let rel = |port: u16, n: u32| n.wrapping_sub(*isn.get(&port).expect("SYN seen"));
        segs.push(SegmentNumbers {
            src_port: t.src_port(),
            dst_port: t.dst_port(),
            seq: rel(t.src_port(), t.seq()),
            ack: rel(t.dst_port(), t.ack()),
            flags: encap::layers::tcp::flag_names(t.flags()),
            len: t.payload().len(),
            cksum: t.checksum(),
            ip_total_len: d.ip.total_len(),
        });
    }
    segs
}

#[test]
fn the_view_shows_what_lo_really_carries() {
    let test = "the_view_shows_what_lo_really_carries";
    if !have("tcpdump", "--version", test) {
        return;
    }
    let port = common::listen_port();
    let pcap = temp_dir().join(format!("{port}.pcap"));
    let mut td = Command::new("tcpdump");
    td.args([
        "-i",
        "lo",
        "-U",
        "--immediate-mode",
        "-n",
        "-s",
        "262144",
        "-B",
        "65536",
        "-w",
    ])
    .arg(&pcap)
    .arg(format!("tcp port {port}"))
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    let mut td = td.spawn().expect("start tcpdump");
    let mut err = BufReader::new(td.stderr.take().expect("stderr"));
    let mut line = String::new();
    let _ = err.read_line(&mut line);
    if !line.contains("listening on") {
        let _ = td.kill();
        let _ = td.wait();
        skip_or_fail(&format!(
            "{test}: tcpdump cannot capture on lo here: {}",
            line.trim()
        ));
        return;
    }
    struct Stop(Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut td = Stop(td);

    let mut s = server(port, &["--view", "summary"]);
    let mut c = client(port, &["--view", "summary"]);
    let cpeer = peer_of(&s.expect_contains("connected to"));
    c.send("hello\n");
    s.expect_contains(&says(&cpeer, "hello"));
    s.send("你好 👋\n");
    c.expect_contains("你好 👋");
    c.send("bye, and 谢谢\n");
    s.expect_contains("谢谢");
    s.send("exit\n");
    let (_, cout, _) = c.finish();
    let (_, sout, _) = s.finish();
    thread::sleep(Duration::from_millis(300));
    // SIGINT: tcpdump finishes the file and exits.
    // SAFETY: kill has no memory-safety preconditions; the pid is our child's.
    unsafe { libc::kill(td.0.id() as i32, libc::SIGINT) };
    let _ = td.0.wait();

    let mut model = summary_segments(&cout);
    model.extend(summary_segments(&sout));
    let captured = captured_segments(&pcap);
    assert_eq!(model.len(), 4, "{model:#?}");
    for m in &model {
        assert!(
            captured.contains(m),
            "the model showed {m:?}, but lo carried:\n{captured:#?}"
        );
    }
    // Offloaded checksum: 0xfe08 + TCP length, as LOOPBACK.md says.
    assert!(captured
        .iter()
        .all(|c| c.cksum as usize == 0xfe08 + 32 + c.len));
}

// ---- the server under load ----

/// A server on the port the kernel chose, and that port.
fn server_on_port_0(extra: &[&str]) -> (Proc, u16) {
    let mut c = encap();
    c.args(["server", "--listen", "127.0.0.1:0"]).args(extra);
    let mut s = Proc::spawn("encap server", c);
    let port = listening_port(&s.expect_contains("listening on"));
    (s, port)
}

/// Reads lines from `stream` until `last` (a whole line), or the end; returns every line.
fn read_lines_until(stream: std::net::TcpStream, last: &str) -> std::io::Result<Vec<String>> {
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut r = BufReader::new(stream);
    let mut lines = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Ok(lines);
        }
        let l = line.trim_end_matches('\n').to_string();
        let done = l == last;
        lines.push(l);
        if done {
            return Ok(lines);
        }
    }
}

#[test]
fn two_hundred_clients_at_once_lose_nothing_while_others_come_and_go() {
    const CLIENTS: usize = 200;
    const MESSAGES: usize = 100;
    const CHURN: usize = 100;
    let (mut s, port) = server_on_port_0(&["--view", "none", "--backlog", "256"]);
    // Every client connects, waits for all the others to be connected, then sends its messages
    // one write each and reads the server's broadcast to its last line.
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(CLIENTS));
    let (ports_tx, ports_rx) = mpsc::channel();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|k| {
            let (barrier, ports_tx) = (barrier.clone(), ports_tx.clone());
            thread::spawn(move || -> std::io::Result<Vec<String>> {
                let mut c = std::net::TcpStream::connect(("127.0.0.1", port))?;
                ports_tx.send((c.local_addr()?.port(), k)).ok();
                drop(ports_tx);
                barrier.wait();
                for j in 0..MESSAGES {
                    c.write_all(format!("client {k} message {j}\n").as_bytes())?;
                }
                read_lines_until(c, "broadcast end")
            })
        })
        .collect();
    drop(ports_tx);
    // Meanwhile others connect and go: some say a line first, some say nothing.
    let churn = thread::spawn(move || -> std::io::Result<()> {
        for k in 0..CHURN {
            let mut c = std::net::TcpStream::connect(("127.0.0.1", port))?;
            if k % 2 == 0 {
                c.write_all(format!("churn {k}\n").as_bytes())?;
            }
        }
        Ok(())
    });
    let client_of: std::collections::HashMap<String, usize> = ports_rx
        .iter()
        .take(CLIENTS)
        .map(|(p, k)| (format!("127.0.0.1:{p}"), k))
        .collect();
    assert_eq!(client_of.len(), CLIENTS, "every client connected");
    // Each client's messages, as the server showed them, in the order it showed them.
    let mut got = vec![Vec::new(); CLIENTS];
    let mut total = 0;
    while total < CLIENTS * MESSAGES {
        let line = s.expect("showing a client's message", |l| l.contains(" says ("));
        let (peer, rest) = line.split_once(" says (").expect("a says line");
        let text = rest.split_once("): ").map_or("", |(_, t)| t);
        if let Some(&k) = client_of.get(peer) {
            got[k].push(text.to_string());
            total += 1;
        } else {
            assert!(text.starts_with("churn "), "from {peer}: {line}");
        }
    }
    for (k, msgs) in got.iter().enumerate() {
        let want: Vec<String> = (0..MESSAGES)
            .map(|j| format!("client {k} message {j}"))
            .collect();
        assert_eq!(msgs, &want, "client {k}: lost or out of order");
    }
    churn.join().expect("churn thread").expect("churn connects");
    // Memory stays bounded: each connection holds a small queue and one line's buffer.
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.child.id())).unwrap();
    let peak_kb: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .expect("VmHWM");
    assert!(peak_kb < 64 * 1024, "server peak memory {peak_kb} kB");
    // The server's lines reach every client, in order.
    for j in 0..MESSAGES {
        s.send(&format!("broadcast {j}\n"));
    }
    s.send("broadcast end\n");
    let want: Vec<String> = (0..MESSAGES)
        .map(|j| format!("broadcast {j}"))
        .chain(["broadcast end".to_string()])
        .collect();
    for (k, c) in clients.into_iter().enumerate() {
        let lines = c.join().expect("client thread").unwrap_or_else(|e| {
            let rest: Vec<String> = s.lines.try_iter().collect();
            panic!(
                "client {k}: {e}; the server said since:\n{}",
                rest.join("\n")
            )
        });
        assert_eq!(lines, want, "client {k} received");
    }
    s.send("exit\n");
    let (status, _, err) = s.finish();
    assert!(status.success(), "{status:?} {err}");
    eprintln!("{CLIENTS} clients x {MESSAGES} messages, {CHURN} more came and went; server peak {peak_kb} kB");
}

#[test]
fn a_client_that_stops_reading_is_dropped_and_the_others_go_on() {
    let started = Instant::now();
    let (mut s, port) = server_on_port_0(&["--view", "none"]);
    // One client that never reads, with a small receive buffer so that the server's queue for it
    // fills soon; one that reads everything.
    let stalled = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let size: libc::c_int = 4096;
    // SAFETY: setsockopt on a socket this test owns, with a pointer to a live c_int.
    unsafe {
        use std::os::fd::AsRawFd;
        libc::setsockopt(
            stalled.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            std::ptr::from_ref(&size).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    let stalled_name = format!("127.0.0.1:{}", stalled.local_addr().unwrap().port());
    s.expect_contains(&format!("{stalled_name} connected to"));
    let reader = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let reader_name = format!("127.0.0.1:{}", reader.local_addr().unwrap().port());
    s.expect_contains(&format!("{reader_name} connected to"));
    let reading = thread::spawn(move || read_lines_until(reader, "last line"));
    // Lines of 64 KiB until the server drops the stalled client, written from a thread while
    // this one watches the server's output: at most what the kernel can hold for the stalled
    // one (its send buffer, net.ipv4.tcp_wmem's maximum) and the server's 1 MiB queue, twice.
    let wmem_max: usize = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|t| t.split_whitespace().nth(2)?.parse().ok())
        .unwrap_or(4 << 20);
    let most_lines = 2 * (wmem_max + (1 << 20)) / (64 * 1024) + 16;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut stdin = s.stdin.take().expect("stdin");
    let writer = {
        let stop = stop.clone();
        thread::spawn(move || -> std::io::Result<ChildStdin> {
            let line = format!("{}\n", "x".repeat(64 * 1024 - 1));
            for _ in 0..most_lines {
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                stdin.write_all(line.as_bytes())?;
            }
            stdin.write_all(b"after the drop\nlast line\n")?;
            stdin.flush()?;
            Ok(stdin)
        })
    };
    let dropped = s.expect_contains(&format!("{stalled_name} is not reading"));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    eprintln!("dropped after {:.1?}: {dropped}", started.elapsed());
    assert!(
        dropped.contains("holding up the other clients; dropping it, the others go on"),
        "{dropped}"
    );
    s.expect_contains(&format!("{stalled_name} is gone; 1 client still connected"));
    // The reading client gets everything, to the last line, and is still connected.
    let lines = reading.join().expect("reader").expect("reading");
    assert_eq!(lines.last().map(String::as_str), Some("last line"));
    assert!(lines.iter().any(|l| l == "after the drop"));
    assert!(lines
        .iter()
        .all(|l| l.len() == 64 * 1024 - 1 || l == "after the drop" || l == "last line"));
    eprintln!("the reader had everything after {:.1?}", started.elapsed());
    drop(stalled);
    let mut stdin = writer.join().expect("writer").expect("writing");
    stdin.write_all(b"exit\n").unwrap();
    stdin.flush().unwrap();
    s.stdin = Some(stdin);
    let (status, _, err) = s.finish();
    assert!(status.success(), "{status:?} {err}");
}
