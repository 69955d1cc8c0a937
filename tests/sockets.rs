//! `encap sockets`: the kernel's TCP sockets through sock_diag, equal to `ss -tan` at the same
//! moment.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::process::Command;

use common::{encap, have};

/// (state, Recv-Q, Send-Q, local, peer) of each row after the header.
fn rows(text: &str) -> BTreeSet<Vec<String>> {
    text.lines()
        .skip(1)
        .map(|l| l.split_whitespace().take(5).map(str::to_owned).collect())
        .collect()
}

#[test]
fn sockets_of_a_port_are_what_ss_tan_shows() {
    if !have("ss", "sockets_of_a_port_are_what_ss_tan_shows") {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (server, _) = listener.accept().unwrap();
    // Bytes the server does not read: its Recv-Q. A second connection not accepted: the
    // listener's Recv-Q.
    client.write_all(b"hello").unwrap();
    let _waiting = TcpStream::connect(("127.0.0.1", port)).unwrap();
    // Wait for both to be there: the bytes in the server's queue, the connection in the
    // listener's (poll says readable).
    let mut peeked = [0u8; 5];
    while server.peek(&mut peeked).unwrap() < 5 {}
    let mut fd = libc::pollfd {
        fd: std::os::fd::AsRawFd::as_raw_fd(&listener),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one live pollfd.
    assert_eq!(
        unsafe { libc::poll(&mut fd, 1, 30_000) },
        1,
        "the second connection never queued"
    );
    let ours = encap()
        .args(["sockets", "--port", &port.to_string()])
        .output()
        .unwrap();
    let filter = format!("( sport = :{port} or dport = :{port} )");
    let theirs = Command::new("ss").args(["-tan", &filter]).output().unwrap();
    assert!(ours.status.success());
    let (ours, theirs) = (
        String::from_utf8(ours.stdout).unwrap(),
        String::from_utf8(theirs.stdout).unwrap(),
    );
    let (o, t) = (rows(&ours), rows(&theirs));
    assert_eq!(o, t, "encap:\n{ours}\nss -tan:\n{theirs}");
    // The listener, two ends of each of the two connections.
    assert_eq!(o.len(), 5, "{ours}");
    let listen = o.iter().find(|r| r[0] == "LISTEN").unwrap();
    assert_eq!(listen[1], "1", "one connection waits for accept(): {ours}");
    assert!(
        o.iter().any(|r| r[0] == "ESTAB" && r[1] == "5"),
        "the server's end holds the 5 unread bytes: {ours}"
    );
}

#[test]
fn demo_shows_the_kernels_states_next_to_the_models_at_each_step() {
    if !common::is_root("demo_shows_the_kernels_states") {
        return;
    }
    let out = common::with_timeout(
        {
            let mut c = encap();
            c.args(["demo", "--view", "summary", "--port", "0"]);
            c
        },
        std::time::Duration::from_secs(120),
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("kernel's sockets (sock_diag"))
        .collect();
    // After the handshake, after each of the five messages, half closed, after the close.
    assert_eq!(rows.len(), 8, "{text}");
    assert!(
        rows.iter()
            .all(|r| r.ends_with("the model's states after the last frame: the same")),
        "{rows:#?}"
    );
    // And each row is what `ss -tan` says of the same sockets at that moment (the demo runs it).
    if common::have("ss", "demo_shows_the_kernels_states: ss -tan") {
        assert!(
            rows.iter()
                .all(|r| r.contains("; ss -tan at the same moment: the same;")),
            "{rows:#?}"
        );
    }
    assert!(rows[0].contains("listener LISTEN, client ESTABLISHED, server ESTABLISHED"));
    assert!(
        rows[6].contains("client FIN_WAIT_2, server CLOSE_WAIT"),
        "the client's FIN acknowledged, the server not closed yet: {}",
        rows[6]
    );
    assert!(
        rows[7].contains("client TIME_WAIT, server CLOSED"),
        "the client closed first: {}",
        rows[7]
    );
}
