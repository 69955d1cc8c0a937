//! `encap show --send`: the pipeline's SYN injected on lo, the kernel's answers captured and
//! checked against the model. As root: a listener's SYN-ACK and the kernel's RST for it, a
//! closed port's RST, ACK (exit status 1), the sysctls of lo put back. Without CAP_NET_RAW: a
//! clear error, exit status 2. The root tests skip with the reason printed when not root
//! (CI, with ENCAP_REQUIRE_ALL=1, fails instead).

mod common;

use std::net::TcpListener;
use std::process::Output;
use std::sync::Mutex;
use std::time::Duration;

use common::{encap, is_root, with_timeout};

/// One run at a time: each sets two sysctls of lo for its run and puts them back.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const SYSCTLS: [&str; 2] = [
    "/proc/sys/net/ipv4/conf/lo/route_localnet",
    "/proc/sys/net/ipv4/conf/lo/accept_local",
];

fn sysctls() -> Vec<String> {
    SYSCTLS
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("read a sysctl"))
        .collect()
}

/// Runs `encap show --send ARGS...`, checking that lo's sysctls are as they were afterwards.
fn send(args: &[&str]) -> (Output, String, String) {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let before = sysctls();
    let mut cmd = encap();
    cmd.args(["show", "--send"]).args(args).env("NO_COLOR", "1");
    let out = with_timeout(cmd, Duration::from_secs(30));
    assert_eq!(sysctls(), before, "lo's sysctls were not put back");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

#[test]
fn a_listener_answers_the_syn_and_the_kernel_resets_its_syn_ack() {
    if !is_root("a_listener_answers_the_syn_and_the_kernel_resets_its_syn_ack") {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    let port = listener.local_addr().expect("its port").port();
    let to = format!("127.0.0.1:{port}");
    let (out, stdout, stderr) = send(&["--to", &to]);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(
            "frame 1: encap's SYN, as lo carried it back in: byte for byte the frame sent"
        ),
        "{stdout}"
    );
    assert!(
        stdout
            .contains("frame 2: server -> client [SYN, ACK] len 0: 33/33 fields as the model said"),
        "{stdout}"
    );
    assert!(
        stdout.contains("frame 3: client -> server [RST] len 0: 27/27 fields as the model said"),
        "{stdout}"
    );
    // The field tables: the SYN-ACK's ID 0 and the RST's window 0, each as the model said.
    assert!(stdout.contains("IPv4        Identification"), "{stdout}");
    assert!(
        stdout.contains("the kernel's answers: 2 frames checked, 60 fields:")
            && stdout.contains(", 0 MISMATCH\n"),
        "{stdout}"
    );
    // The RST ended the handshake: the listener has no connection to accept.
    listener.set_nonblocking(true).expect("non-blocking");
    assert_eq!(
        listener.accept().map(|_| ()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::WouldBlock),
        "the listener got a connection"
    );
}

#[test]
fn a_closed_port_answers_with_rst_ack_and_exit_status_1() {
    if !is_root("a_closed_port_answers_with_rst_ack_and_exit_status_1") {
        return;
    }
    // A port nothing listens on, held bound (not listening) for the test.
    let (_held, port) = common::closed_port();
    let to = format!("127.0.0.1:{port}");
    let (out, stdout, stderr) = send(&["--to", &to, "--view", "summary"]);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout
            .contains("frame 2: server -> client [RST, ACK] len 0: 27/27 fields as the model said"),
        "{stdout}"
    );
    assert!(stdout.contains(", 0 MISMATCH\n"), "{stdout}");
    assert!(
        stderr.contains(&format!(
            "nothing listens on {to}: the kernel answered the SYN with RST, ACK"
        )),
        "{stderr}"
    );
}

#[test]
fn without_cap_net_raw_it_says_what_is_missing() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let mut cmd = if root {
        if !common::have("setpriv", "without_cap_net_raw_it_says_what_is_missing") {
            return;
        }
        // As nobody, with no capabilities.
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_encap"));
        c
    } else {
        encap()
    };
    cmd.args(["show", "--send", "--to", "127.0.0.1:6666"]);
    let out = with_timeout(cmd, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("needs the CAP_NET_RAW capability"),
        "{stderr}"
    );
}

#[test]
fn it_sends_only_on_loopback_and_only_ipv4() {
    for (args, says) in [
        (&["--to", "[::1]:6666", "--src", "[::1]:0"][..], "IPv4 only"),
        (&["--to", "192.0.2.1:6666"][..], "127.0.0.0/8"),
        (&["--flags", "PA"][..], "--send sends a SYN"),
    ] {
        let mut cmd = encap();
        cmd.args(["show", "--send"]).args(args);
        let out = with_timeout(cmd, Duration::from_secs(30));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
