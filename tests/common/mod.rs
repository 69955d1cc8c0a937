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
    if !ok {
        let why = format!("{test}: `{tool}` is not installed (apt-get install it, or run .ci/run)");
        if std::env::var("ENCAP_REQUIRE_ALL").as_deref() == Ok("1") {
            panic!("{why}; ENCAP_REQUIRE_ALL=1 forbids skipping");
        }
        eprintln!("SKIPPED {why}");
    }
    ok
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
    if !root {
        let why = format!("{test}: needs root (CAP_NET_RAW) to capture on lo; run it with sudo");
        if std::env::var("ENCAP_REQUIRE_ALL").as_deref() == Ok("1") {
            panic!("{why}; ENCAP_REQUIRE_ALL=1 forbids skipping");
        }
        eprintln!("SKIPPED {why}");
    }
    root
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
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if rx.recv_timeout(limit).is_err() {
            // SAFETY: kill has no memory-safety preconditions; the pid is our child's.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
    });
    let out = child.wait_with_output().expect("wait");
    let _ = tx.send(());
    out
}
