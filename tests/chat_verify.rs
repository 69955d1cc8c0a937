//! `encap server --verify` and `encap client --verify`: each side captures its own connection on
//! `lo` and checks every frame the kernel sent against the model. Every child runs with a deadline
//! and is killed when the test ends, so nothing hangs.

mod common;

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(20);

/// A port for a server this test starts (see [`common::listen_port`]).
fn free_port() -> u16 {
    common::listen_port()
}

/// A running child: its stdin, its stdout and stderr going to a file. Killed when dropped.
struct Proc {
    name: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &'static str, mut cmd: Command) -> Proc {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let log = std::env::temp_dir().join(format!(
            "encap-chat-verify-{}-{}-{name}.log",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let file = File::create(&log).expect("create the log file");
        let err = file.try_clone().expect("clone the log file");
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(file)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc {
            name,
            stdin: child.stdin.take(),
            child,
            log,
        }
    }

    /// Everything the child wrote so far.
    fn output(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    fn send(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(text.as_bytes()).expect("write to stdin");
        stdin.flush().expect("flush stdin");
    }

    /// Polls `ready` until it gives a value; fails after [`WAIT`], saying what was awaited.
    fn poll<T>(&mut self, what: &str, mut ready: impl FnMut(&mut Self) -> Option<T>) -> T {
        let end = Instant::now() + WAIT;
        loop {
            if let Some(v) = ready(self) {
                return v;
            }
            assert!(
                Instant::now() < end,
                "{}: {what} within {WAIT:?}; output so far:\n{}",
                self.name,
                self.output()
            );
            thread::sleep(POLL);
        }
    }

    /// Waits until the output contains `text`.
    fn expect_contains(&mut self, text: &str) {
        self.poll(&format!("no {text:?}"), |p| {
            p.output().contains(text).then_some(())
        });
    }

    /// Closes stdin and waits for the child to exit: its status and everything it wrote.
    fn finish(&mut self) -> (ExitStatus, String) {
        self.stdin = None;
        let status = self.poll("did not exit", |p| p.child.try_wait().expect("try_wait"));
        (status, self.output())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// `encap` with `args`, under `setpriv` without CAP_NET_RAW when `no_cap`.
fn encap(args: &[&str], no_cap: bool) -> Command {
    if no_cap {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--inh-caps=-all", "--bounding-set=-net_raw"])
            .arg(env!("CARGO_BIN_EXE_encap"))
            .args(args);
        cmd
    } else {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_encap"));
        cmd.args(args);
        cmd
    }
}

const HELLO: &str = "hello\n";
const NI_HAO_SERVER: &str = "你好，服务器！\n";
const NI_HAO_CLIENT: &str = "你好，客户端 👋\n";

/// Starts `encap server --verify` on a free loopback port with `args` and waits until it listens:
/// the server and its address.
fn start_server(args: &[&str], no_cap: bool) -> (Proc, String) {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut all = vec!["server", "--verify", "--listen", &addr];
    all.extend_from_slice(args);
    let mut server = Proc::spawn("server", encap(&all, no_cap));
    server.expect_contains("listening on");
    (server, addr)
}

/// Starts `encap client --verify` to `addr` and waits until it is connected and chatting.
fn start_client(name: &'static str, addr: &str, view: &str, no_cap: bool) -> Proc {
    let mut client = Proc::spawn(
        name,
        encap(
            &["client", "--verify", "--connect", addr, "--view", view],
            no_cap,
        ),
    );
    client.expect_contains("type a line to send it");
    client
}

/// Starts a server and a client with `--verify`, chats both ways, the client types `exit`, then
/// the server: their exit statuses and outputs.
fn dialogue(no_cap: bool) -> [(ExitStatus, String); 2] {
    let (mut server, addr) = start_server(&["--view", "summary"], no_cap);
    let mut client = start_client("client", &addr, "summary", no_cap);
    client.send(HELLO);
    server.expect_contains("says (6 bytes): hello");
    server.send(NI_HAO_CLIENT);
    client.expect_contains("says (24 bytes): 你好，客户端 👋");
    client.send(NI_HAO_SERVER);
    server.expect_contains("says (22 bytes): 你好，服务器！");
    client.send("exit\n");
    let c = client.finish();
    server.expect_contains("ended the dialogue (exit)");
    server.expect_contains("is gone");
    if !no_cap {
        // The server shows the connection's summary row once it is closed.
        server.expect_contains("predicted+learned");
    }
    server.send("exit\n");
    let s = server.finish();
    [s, c]
}

/// The line of frame `n`'s verdict going `dir` with `flags` and payload `len`, if any.
fn has_frame(out: &str, dir: &str, flags: &str, len: usize) -> bool {
    out.lines().any(|l| {
        l.starts_with("frame ")
            && l.contains(&format!(": {dir} [{flags}] len {len}: "))
            && l.contains("fields as the model said")
    })
}

/// The header line of the per-connection summary table.
fn is_table_header(line: &str) -> bool {
    line.starts_with("connection ") && line.contains("predicted+learned")
}

/// One row of a per-connection summary table.
#[derive(Debug)]
struct Row {
    client: String,
    server: String,
    frames: usize,
    mismatch: usize,
}

/// The rows of every summary table in `out`: `client -> server frames fields predicted learned
/// kernel-chosen loopback MISMATCH share (share of the fields lo leaves alone)`.
fn summary_rows(out: &str) -> Vec<Row> {
    let lines: Vec<&str> = out.lines().collect();
    lines
        .windows(2)
        .filter(|w| is_table_header(w[0]))
        .map(|w| {
            let t: Vec<&str> = w[1].split_whitespace().collect();
            assert!(t.len() == 12 && t[1] == "->", "not a summary row: {}", w[1]);
            let n = |i: usize| t[i].parse::<usize>().expect("a count");
            Row {
                client: t[0].to_string(),
                server: t[2].to_string(),
                frames: n(3),
                mismatch: n(9),
            }
        })
        .collect()
}

/// No field disagreed: MISMATCH appears only as the summary table's column name.
fn assert_no_mismatch(who: &str, out: &str) {
    for l in out.lines().filter(|l| l.contains("MISMATCH")) {
        assert!(is_table_header(l), "{who}: {l}\n{out}");
    }
}

#[test]
fn server_and_client_verify_every_frame_of_their_connection() {
    if !common::is_root("server_and_client_verify") {
        return;
    }
    let outs = dialogue(false);
    for ((status, out), who) in outs.iter().zip(["server", "client"]) {
        assert!(status.success(), "{who} exited with {status}:\n{out}");
        assert!(out.contains("--verify: capturing on lo"), "{who}:\n{out}");
        // The handshake, the data both ways (Chinese text: 22 and 24 bytes), the teardown.
        for (dir, flags, len) in [
            ("client -> server", "SYN", 0),
            ("server -> client", "SYN, ACK", 0),
            ("client -> server", "ACK", 0),
            ("client -> server", "PSH, ACK", HELLO.len()),
            ("server -> client", "PSH, ACK", NI_HAO_CLIENT.len()),
            ("client -> server", "PSH, ACK", NI_HAO_SERVER.len()),
            ("client -> server", "PSH, ACK", "exit\n".len()),
            ("client -> server", "FIN, ACK", 0),
            ("server -> client", "FIN, ACK", 0),
        ] {
            assert!(
                has_frame(out, dir, flags, len),
                "{who}: no verdict for {dir} [{flags}] len {len}:\n{out}"
            );
        }
        // The pipeline view used the kernel's numbers learned from the captured handshake.
        assert!(
            out.contains("the kernel's own seq, ack, IP ID"),
            "{who}:\n{out}"
        );
        assert_no_mismatch(who, out);
        assert!(
            out.contains("== the connection as a ladder"),
            "{who}:\n{out}"
        );
        assert!(out.contains("SYN_SENT"), "{who}:\n{out}");
        // The summary row: client -> server, frames, fields, the verdict counts, MISMATCH 0.
        let rows = summary_rows(out);
        assert_eq!(rows.len(), 1, "{who}: {rows:?}\n{out}");
        // As many frames as verdict lines.
        let verdicts = out.lines().filter(|l| l.starts_with("frame ")).count();
        assert_eq!(rows[0].frames, verdicts, "{who}: {rows:?}\n{out}");
        assert_eq!(rows[0].mismatch, 0, "{who}: {rows:?}\n{out}");
    }
}

#[test]
fn the_server_checks_each_client_on_its_own_connection() {
    if !common::is_root("server_checks_each_client") {
        return;
    }
    let (mut server, addr) = start_server(&["--view", "full", "--backlog", "4"], false);
    let mut one = start_client("client1", &addr, "none", false);
    let mut two = start_client("client2", &addr, "none", false);
    one.send("one\n");
    server.expect_contains("says (4 bytes): one");
    two.send("two\n");
    server.expect_contains("says (4 bytes): two");
    server.send("both\n");
    one.expect_contains("says (5 bytes): both");
    two.expect_contains("says (5 bytes): both");
    one.send("exit\n");
    let (status, out_one) = one.finish();
    assert!(status.success(), "{out_one}");
    server.expect_contains("1 client still connected");
    two.send("exit\n");
    let (status, out_two) = two.finish();
    assert!(status.success(), "{out_two}");
    server.expect_contains("0 clients still connected");
    server.expect_contains("predicted+learned");
    server.send("exit\n");
    let (status, out) = server.finish();
    assert!(status.success(), "{out}");
    assert_no_mismatch("server", &out);
    // --view full: the field table of each data frame.
    assert!(out.contains("field by field"), "{out}");
    let rows = summary_rows(&out);
    assert_eq!(rows.len(), 2, "{rows:?}\n{out}");
    for (row, out_client) in rows.iter().zip([&out_one, &out_two]) {
        assert_eq!(row.server, addr, "{rows:?}");
        assert_eq!(row.mismatch, 0, "{rows:?}\n{out}");
        // The same connection, seen from the client: the same frames, the same verdicts.
        assert_no_mismatch("client", out_client);
        let mine = summary_rows(out_client);
        assert_eq!(mine.len(), 1, "{out_client}");
        assert_eq!(mine[0].client, row.client, "{rows:?} {mine:?}");
        assert_eq!(mine[0].frames, row.frames, "{rows:?} {mine:?}");
        assert!(
            out.contains(&format!("-- captured on lo: {} -> {addr}", row.client)),
            "{out}"
        );
    }
}

#[test]
fn without_cap_net_raw_the_chat_goes_on_and_says_how_to_grant_it() {
    if !common::is_root("verify_without_cap_net_raw")
        || !common::have("setpriv", "verify_without_cap_net_raw")
    {
        return;
    }
    let outs = dialogue(true);
    for ((status, out), who) in outs.iter().zip(["server", "client"]) {
        assert!(status.success(), "{who} exited with {status}:\n{out}");
        assert!(
            out.contains("lacks CAP_NET_RAW")
                && out.contains("sudo setcap cap_net_raw+ep")
                && out.contains(&format!("{who} --verify"))
                && out.contains("goes on without the check"),
            "{who}:\n{out}"
        );
        assert!(
            !out.lines().any(|l| l.starts_with("frame ")),
            "{who}:\n{out}"
        );
        // Without a capture the pipeline falls back to relative numbers.
        assert!(out.contains("relative to this connection"), "{who}:\n{out}");
    }
    assert!(outs[0].1.contains("says (22 bytes): 你好，服务器！"));
    assert!(outs[1].1.contains("says (24 bytes): 你好，客户端 👋"));
}

#[test]
fn verify_on_a_non_loopback_address_says_it_checks_loopback_only() {
    let port = free_port();
    let mut server = Proc::spawn(
        "server",
        encap(
            &["server", "--verify", "--listen", &format!("0.0.0.0:{port}")],
            false,
        ),
    );
    server.expect_contains("listening on");
    server.send("exit\n");
    let (status, out) = server.finish();
    assert!(status.success(), "{out}");
    assert!(
        out.contains("--verify checks loopback connections only"),
        "{out}"
    );
}

#[test]
fn ctrl_c_ends_the_chat_with_the_last_frames_checked_and_the_ladder_drawn() {
    if !common::is_root("ctrl_c_ends_the_chat") {
        return;
    }
    let (mut server, addr) = start_server(&["--view", "summary"], false);
    let mut client = start_client("client", &addr, "summary", false);
    client.send(HELLO);
    server.expect_contains("says (6 bytes): hello");
    client.expect_contains("frame 5: server -> client [ACK]");
    // Ctrl-C, as a terminal sends it: SIGINT to the client, whose stdin stays open.
    let pid = client.child.id().to_string();
    let kill = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(kill.success());
    let status = client.poll("did not exit after SIGINT", |p| {
        p.child.try_wait().expect("try_wait")
    });
    let out = client.output();
    assert!(status.success(), "client exited with {status}:\n{out}");
    assert!(out.contains("interrupted: ending the chat"), "{out}");
    // Its FIN and the server's, checked like every other frame, then the ladder and the row.
    assert!(has_frame(&out, "client -> server", "FIN, ACK", 0), "{out}");
    assert!(has_frame(&out, "server -> client", "FIN, ACK", 0), "{out}");
    assert!(out.contains("the connection as a ladder"), "{out}");
    assert!(out.contains("TIME_WAIT"), "{out}");
    assert_no_mismatch("client", &out);
    let rows = summary_rows(&out);
    assert_eq!(rows.len(), 1, "{out}");
    assert!(rows[0].frames >= 9 && rows[0].mismatch == 0, "{rows:?}");
    // The server saw an ordinary close and goes on serving.
    server.expect_contains("is gone");
    server.send("exit\n");
    let (status, out) = server.finish();
    assert!(status.success(), "{out}");
    assert_no_mismatch("server", &out);
}

#[test]
fn a_server_on_port_0_verifies_the_port_the_kernel_chose() {
    if !common::is_root("a_server_on_port_0_verifies_the_port_the_kernel_chose") {
        return;
    }
    let mut server = Proc::spawn(
        "server",
        encap(
            &[
                "server",
                "--verify",
                "--listen",
                "127.0.0.1:0",
                "--view",
                "none",
            ],
            false,
        ),
    );
    let addr = server.poll("no listening line", |p| {
        p.output().lines().find_map(|l| {
            l.strip_prefix("listening on ")
                .and_then(|r| r.split_whitespace().next())
                .map(str::to_string)
        })
    });
    let port = addr.rsplit(':').next().unwrap_or_default().to_string();
    assert_ne!(port, "0", "the server printed port 0");
    let out = server.output();
    assert!(
        out.contains(&format!("--verify: capturing on lo (port {port})")),
        "{out}"
    );
    let mut client = start_client("client", &addr, "none", false);
    client.send(HELLO);
    server.expect_contains("says (6 bytes): hello");
    client.send("exit\n");
    let (status, cout) = client.finish();
    assert!(status.success(), "{cout}");
    server.expect_contains("is gone");
    // SIGTERM ends the server as `exit` would: the closing lines, exit status 0.
    let kill = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(kill.success());
    let (status, out) = server.finish();
    assert!(status.success(), "{status}\n{out}");
    assert!(out.contains("stopped listening on"), "{out}");
    // The server checked its connection's frames (the handshake included) on the chosen port.
    assert!(has_frame(&out, "client -> server", "SYN", 0), "{out}");
    assert_no_mismatch("server", &out);
}
