//! `--explain`: each socket call written as the Linux system call it is, the way
//! `strace -e trace=network` prints it, followed by one line on what the kernel does for it.
//!
//! Pure: a [`Call`] and its [`Outcome`] in, text out. The calls themselves are made in
//! `chat::sys`, which records what really went in and what really came back.

use std::net::SocketAddrV4;

/// How many bytes of a buffer strace shows before `...` (its default `-s 32`).
pub const STRACE_STRLEN: usize = 32;

/// One socket system call with its real arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_TCP)`.
    Socket,
    /// `setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, [1], 4)` and the like.
    SetSockOpt {
        /// Socket.
        fd: i32,
        /// Level and option as strace names them.
        level: &'static str,
        /// Option name.
        name: &'static str,
        /// The int value set.
        value: i32,
    },
    /// `getsockopt(fd, SOL_TCP, TCP_MAXSEG, [value], [4])`.
    GetSockOpt {
        /// Socket.
        fd: i32,
        /// Level.
        level: &'static str,
        /// Option name.
        name: &'static str,
        /// The int value read (meaningful when the call succeeded).
        value: i32,
    },
    /// `bind(fd, {...}, 16)`.
    Bind {
        /// Socket.
        fd: i32,
        /// Address bound.
        addr: SocketAddrV4,
    },
    /// `listen(fd, backlog)`.
    Listen {
        /// Socket.
        fd: i32,
        /// Backlog asked for.
        backlog: i32,
    },
    /// `accept4(fd, {...}, [16], SOCK_CLOEXEC|SOCK_NONBLOCK)`.
    Accept4 {
        /// Listening socket.
        fd: i32,
        /// The peer, when the call succeeded.
        peer: Option<SocketAddrV4>,
        /// Address of the sockaddr buffer (strace prints it when the call failed).
        ptr: usize,
    },
    /// `connect(fd, {...}, 16)`.
    Connect {
        /// Socket.
        fd: i32,
        /// Address connected to.
        addr: SocketAddrV4,
    },
    /// `getsockname(fd, {...}, [16])`.
    GetSockName {
        /// Socket.
        fd: i32,
        /// The address, when the call succeeded.
        addr: Option<SocketAddrV4>,
        /// Buffer address.
        ptr: usize,
    },
    /// `getpeername(fd, {...}, [16])`.
    GetPeerName {
        /// Socket.
        fd: i32,
        /// The address, when the call succeeded.
        addr: Option<SocketAddrV4>,
        /// Buffer address.
        ptr: usize,
    },
    /// `sendto(fd, "...", len, MSG_NOSIGNAL, NULL, 0)`: what `send()` is on Linux.
    SendTo {
        /// Socket.
        fd: i32,
        /// The bytes offered (strace shows at most [`STRACE_STRLEN`] of them).
        data: Vec<u8>,
        /// How many bytes were offered.
        len: usize,
    },
    /// `recvfrom(fd, "...", cap, 0, NULL, NULL)`: what `recv()` is on Linux.
    RecvFrom {
        /// Socket.
        fd: i32,
        /// The bytes received (at most [`STRACE_STRLEN`] are kept).
        data: Vec<u8>,
        /// Buffer size.
        cap: usize,
        /// Buffer address (strace prints it when the call failed).
        ptr: usize,
    },
    /// `shutdown(fd, SHUT_WR)`.
    Shutdown {
        /// Socket.
        fd: i32,
    },
    /// `close(fd)` (strace counts it as a descriptor call, not a network one).
    Close {
        /// Descriptor.
        fd: i32,
        /// What the socket was, which decides what closing it does.
        was: Closing,
    },
}

/// What a socket being closed was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    /// A connected socket.
    Connection,
    /// A listening socket.
    Listener,
    /// A socket that never got a connection (its connect() failed).
    Unconnected,
}

/// What a call returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The return value (-1 on failure).
    pub ret: i64,
    /// `errno` when the call failed.
    pub errno: Option<i32>,
}

impl Outcome {
    /// From a libc return value and the errno read right after it.
    #[must_use]
    pub fn from_ret(ret: i64, errno: i32) -> Outcome {
        Outcome {
            ret,
            errno: (ret < 0).then_some(errno),
        }
    }
}

impl Call {
    /// Whether strace's `-e trace=network` shows this call.
    #[cfg(test)]
    #[must_use]
    pub fn is_network(&self) -> bool {
        !matches!(self, Call::Close { .. })
    }
}

/// A sockaddr_in as strace prints it.
#[must_use]
pub fn sockaddr(a: SocketAddrV4) -> String {
    format!(
        "{{sa_family=AF_INET, sin_port=htons({}), sin_addr=inet_addr(\"{}\")}}",
        a.port(),
        a.ip()
    )
}

/// Bytes as strace quotes them: printable ASCII as is, `\n`-style escapes for the usual controls,
/// every other byte in octal (three digits only when an octal digit follows), `...` after the
/// closing quote when more than `limit` bytes were there. The result is plain ASCII.
#[must_use]
pub fn strace_quote(data: &[u8], total: usize, limit: usize) -> String {
    let shown = &data[..data.len().min(limit).min(total)];
    let mut s = String::with_capacity(shown.len() + 8);
    s.push('"');
    for (i, &c) in shown.iter().enumerate() {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\x0c' => s.push_str("\\f"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            b'\x0b' => s.push_str("\\v"),
            0x20..=0x7e => s.push(char::from(c)),
            _ => {
                let next_is_octal = shown.get(i + 1).is_some_and(|n| (b'0'..=b'7').contains(n));
                if next_is_octal {
                    s.push_str(&format!("\\{c:03o}"));
                } else {
                    s.push_str(&format!("\\{c:o}"));
                }
            }
        }
    }
    s.push('"');
    if total > shown.len() {
        s.push_str("...");
    }
    s
}

/// The symbolic name of an errno value, as strace prints it.
#[must_use]
pub fn errno_name(e: i32) -> String {
    let name = match e {
        libc::EPERM => "EPERM",
        libc::EINTR => "EINTR",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::EPIPE => "EPIPE",
        libc::ENOTSOCK => "ENOTSOCK",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::EADDRINUSE => "EADDRINUSE",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::ENETDOWN => "ENETDOWN",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::ECONNABORTED => "ECONNABORTED",
        libc::ECONNRESET => "ECONNRESET",
        libc::ENOBUFS => "ENOBUFS",
        libc::EISCONN => "EISCONN",
        libc::ENOTCONN => "ENOTCONN",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::EHOSTUNREACH => "EHOSTUNREACH",
        libc::EINPROGRESS => "EINPROGRESS",
        _ => return format!("E{e}"),
    };
    name.to_string()
}

/// The C library's message for an errno value (`Connection refused`).
#[must_use]
pub fn errno_text(e: i32) -> String {
    let s = std::io::Error::from_raw_os_error(e).to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// What the user should make of an errno, in one sentence, for the errors a chat meets.
#[must_use]
pub fn errno_meaning(e: i32) -> Option<&'static str> {
    Some(match e {
        libc::EADDRINUSE => "another socket already holds this address and port: another process is listening there (SO_REUSEADDR only lets a new server take over a port whose old connections wait in TIME_WAIT); stop it or pick another port with --listen",
        libc::EACCES => "ports below 1024 are privileged: binding one needs root or CAP_NET_BIND_SERVICE; use a port of 1024 or above",
        libc::ECONNREFUSED => "the SYN was answered by a RST: no socket is listening on that address and port",
        libc::ECONNRESET => "the peer's kernel answered with a RST: its program died or closed the socket with data unread, and anything still in flight is lost",
        libc::EPIPE => "the connection is closed for sending: the peer is gone, nothing more can be sent",
        libc::EADDRNOTAVAIL => "that IP address does not belong to any interface of this machine",
        libc::ETIMEDOUT => "the peer never answered: SYNs or data were retransmitted until the kernel gave up",
        libc::EAGAIN => "nothing to do right now without blocking: the buffer is empty (recv) or full (send); poll() says when to try again",
        libc::ENOTCONN => "the socket is not connected",
        _ => return None,
    })
}

/// The line strace prints for this call (without its alignment padding).
#[must_use]
pub fn strace_line(call: &Call, out: &Outcome) -> String {
    let failed = out.errno.is_some();
    let args = match call {
        Call::Socket => "socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_TCP)".to_string(),
        Call::SetSockOpt {
            fd,
            level,
            name,
            value,
        } => format!("setsockopt({fd}, {level}, {name}, [{value}], 4)"),
        Call::GetSockOpt {
            fd,
            level,
            name,
            value,
        } => {
            if failed {
                format!("getsockopt({fd}, {level}, {name}, NULL, [4])")
            } else {
                format!("getsockopt({fd}, {level}, {name}, [{value}], [4])")
            }
        }
        Call::Bind { fd, addr } => format!("bind({fd}, {}, 16)", sockaddr(*addr)),
        Call::Listen { fd, backlog } => format!("listen({fd}, {backlog})"),
        Call::Accept4 { fd, peer, ptr } => format!(
            "accept4({fd}, {}, [16], SOCK_CLOEXEC|SOCK_NONBLOCK)",
            addr_or_ptr(*peer, *ptr)
        ),
        Call::Connect { fd, addr } => format!("connect({fd}, {}, 16)", sockaddr(*addr)),
        Call::GetSockName { fd, addr, ptr } => {
            format!("getsockname({fd}, {}, [16])", addr_or_ptr(*addr, *ptr))
        }
        Call::GetPeerName { fd, addr, ptr } => {
            format!("getpeername({fd}, {}, [16])", addr_or_ptr(*addr, *ptr))
        }
        Call::SendTo { fd, data, len } => format!(
            "sendto({fd}, {}, {len}, MSG_NOSIGNAL, NULL, 0)",
            strace_quote(data, *len, STRACE_STRLEN)
        ),
        Call::RecvFrom { fd, data, cap, ptr } => {
            let buf = if failed {
                format!("{ptr:#x}")
            } else {
                let n = usize::try_from(out.ret).unwrap_or(0);
                strace_quote(data, n, STRACE_STRLEN)
            };
            format!("recvfrom({fd}, {buf}, {cap}, 0, NULL, NULL)")
        }
        Call::Shutdown { fd } => format!("shutdown({fd}, SHUT_WR)"),
        Call::Close { fd, .. } => format!("close({fd})"),
    };
    match out.errno {
        Some(e) => format!("{args} = -1 {} ({})", errno_name(e), errno_text(e)),
        None => format!("{args} = {}", out.ret),
    }
}

fn addr_or_ptr(a: Option<SocketAddrV4>, ptr: usize) -> String {
    match a {
        Some(a) => sockaddr(a),
        None => format!("{ptr:#x}"),
    }
}

/// One line on what the kernel did for this call.
#[must_use]
pub fn explain(call: &Call, out: &Outcome) -> String {
    if let Some(e) = out.errno {
        let what = errno_meaning(e).unwrap_or("the call failed");
        return format!("{}: {what}", errno_name(e));
    }
    let ret = out.ret;
    match call {
        Call::Socket => format!("the kernel allocates a TCP socket (struct sock with empty send and receive buffers) and returns file descriptor {ret}; nothing is on the wire yet"),
        Call::SetSockOpt { name: "SO_REUSEADDR", .. } => "lets bind() take the port even while old connections on it wait in TIME_WAIT, so a restarted server need not wait a minute".into(),
        Call::SetSockOpt { name: "TCP_NODELAY", .. } => "turns Nagle's algorithm off: each send() leaves at once as its own segment instead of waiting to be merged with the next".into(),
        Call::SetSockOpt { name, .. } => format!("sets {name} on the socket"),
        Call::GetSockOpt { name: "TCP_MAXSEG", value, .. } => format!("the most payload TCP puts in one segment now (its mss_cache): {value} bytes: the MSS the peer announced in the handshake, less the options every segment carries, and at most half the largest window the peer has offered, so it grows with that window; longer messages go out as several segments"),
        Call::GetSockOpt { name, value, .. } => format!("reads {name}: {value}"),
        Call::Bind { addr, .. } => format!("gives the socket its local address {addr}: from now on segments to that port are delivered to it"),
        Call::Listen { backlog, .. } => format!("turns the socket into a listening socket: the kernel itself answers SYNs with SYN-ACK and queues completed handshakes (accept queue of backlog {backlog}) until accept() takes them"),
        Call::Accept4 { peer, .. } => format!("takes a connection whose three-way handshake (SYN, SYN-ACK, ACK) the kernel already completed off the accept queue: new socket {ret} for {}", peer.map_or_else(|| "the peer".to_string(), |p| p.to_string())),
        Call::Connect { addr, .. } => format!("the kernel picks an ephemeral port, sends SYN to {addr}, gets SYN-ACK back and answers ACK: the three-way handshake is done when connect() returns"),
        Call::GetSockName { addr, .. } => format!("reads this socket's own address: {}", addr.map_or_else(String::new, |a| a.to_string())),
        Call::GetPeerName { addr, .. } => format!("reads the address of the other end: {}", addr.map_or_else(String::new, |a| a.to_string())),
        Call::SendTo { len, .. } => {
            if usize::try_from(ret).is_ok_and(|n| n < *len) {
                format!("copies {ret} of {len} bytes into the socket's send buffer (it is full); the rest waits until poll() says there is room")
            } else {
                format!("copies {ret} bytes into the socket's send buffer and returns; TCP segments them, sends and retransmits on its own")
            }
        }
        Call::RecvFrom { .. } => {
            if ret == 0 {
                "returns 0: the peer sent FIN, it will send nothing more (end of stream)".into()
            } else {
                format!("copies {ret} bytes out of the socket's receive buffer, where the kernel put them as segments arrived and were ACKed")
            }
        }
        Call::Shutdown { .. } => "the kernel sends FIN after any data still in the send buffer: this side will send nothing more, but can still receive".into(),
        Call::Close { was: Closing::Connection, .. } => "releases the descriptor; the kernel finishes the connection on its own (FIN, then TIME_WAIT on the side that closed first)".into(),
        Call::Close { was: Closing::Listener, .. } => "releases the listening socket: the port stops accepting (a new SYN gets a RST) and handshakes completed but not yet accepted are reset; connections already accepted live on in their own sockets, untouched".into(),
        Call::Close { was: Closing::Unconnected, .. } => "releases the descriptor; the socket never had a connection, so nothing goes on the wire".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ok(ret: i64) -> Outcome {
        Outcome { ret, errno: None }
    }

    fn lo(port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)
    }

    #[test]
    fn lines_are_what_strace_prints() {
        assert_eq!(
            strace_line(&Call::Socket, &ok(3)),
            "socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_TCP) = 3"
        );
        let c = Call::SetSockOpt {
            fd: 3,
            level: "SOL_SOCKET",
            name: "SO_REUSEADDR",
            value: 1,
        };
        assert_eq!(
            strace_line(&c, &ok(0)),
            "setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0"
        );
        let c = Call::Bind {
            fd: 3,
            addr: lo(6666),
        };
        assert_eq!(strace_line(&c, &ok(0)), "bind(3, {sa_family=AF_INET, sin_port=htons(6666), sin_addr=inet_addr(\"127.0.0.1\")}, 16) = 0");
        assert_eq!(
            strace_line(&Call::Listen { fd: 3, backlog: 1 }, &ok(0)),
            "listen(3, 1) = 0"
        );
        let c = Call::Accept4 {
            fd: 3,
            peer: Some(lo(39872)),
            ptr: 0,
        };
        assert_eq!(strace_line(&c, &ok(4)), "accept4(3, {sa_family=AF_INET, sin_port=htons(39872), sin_addr=inet_addr(\"127.0.0.1\")}, [16], SOCK_CLOEXEC|SOCK_NONBLOCK) = 4");
        let c = Call::Connect { fd: 3, addr: lo(1) };
        let refused = Outcome::from_ret(-1, libc::ECONNREFUSED);
        assert_eq!(strace_line(&c, &refused), "connect(3, {sa_family=AF_INET, sin_port=htons(1), sin_addr=inet_addr(\"127.0.0.1\")}, 16) = -1 ECONNREFUSED (Connection refused)");
        assert!(explain(&c, &refused).starts_with("ECONNREFUSED: "));
        let c = Call::RecvFrom {
            fd: 4,
            data: vec![],
            cap: 65536,
            ptr: 0x7ffd_0000_1000,
        };
        assert_eq!(
            strace_line(&c, &Outcome::from_ret(-1, libc::EAGAIN)),
            "recvfrom(4, 0x7ffd00001000, 65536, 0, NULL, NULL) = -1 EAGAIN (Resource temporarily unavailable)"
        );
        assert_eq!(
            strace_line(&c, &ok(0)),
            "recvfrom(4, \"\", 65536, 0, NULL, NULL) = 0"
        );
        assert_eq!(
            strace_line(&Call::Shutdown { fd: 4 }, &ok(0)),
            "shutdown(4, SHUT_WR) = 0"
        );
    }

    #[test]
    fn buffers_are_quoted_like_strace() {
        // Checked against strace 6.1 on a Python sendto of the same bytes.
        let b = "你好\x01a\x015\0\x7f\"\\\t\x0b\x0c 0123456789012345678901234567890123456789"
            .as_bytes();
        assert_eq!(
            strace_quote(b, b.len(), 32),
            "\"\\344\\275\\240\\345\\245\\275\\1a\\0015\\0\\177\\\"\\\\\\t\\v\\f 01234567890123\"..."
        );
        assert_eq!(strace_quote(b"hello\n", 6, 32), "\"hello\\n\"");
        let exact = [b'x'; 32];
        assert!(!strace_quote(&exact, 32, 32).ends_with("..."));
        // A terminal escape from a peer is shown as octal, never passed through.
        assert_eq!(strace_quote(b"\x1b[2J", 4, 32), "\"\\33[2J\"");
    }

    #[test]
    fn send_line_shows_partial_writes() {
        let c = Call::SendTo {
            fd: 4,
            data: b"hello\n".to_vec(),
            len: 6,
        };
        assert_eq!(
            strace_line(&c, &ok(6)),
            "sendto(4, \"hello\\n\", 6, MSG_NOSIGNAL, NULL, 0) = 6"
        );
        assert!(explain(&c, &ok(3)).contains("3 of 6 bytes"));
        let close = |was| Call::Close { fd: 4, was };
        assert!(explain(&close(Closing::Connection), &ok(0)).contains("descriptor"));
        assert!(!close(Closing::Connection).is_network());
        // A listening socket's close() ends no connection: no FIN, no TIME_WAIT.
        let listener = explain(&close(Closing::Listener), &ok(0));
        assert!(listener.contains("stops accepting"), "{listener}");
        assert!(
            !listener.contains("FIN") && !listener.contains("TIME_WAIT"),
            "{listener}"
        );
        let refused = explain(&close(Closing::Unconnected), &ok(0));
        assert!(refused.contains("never had a connection"), "{refused}");
    }

    #[test]
    fn errno_names_and_meanings() {
        assert_eq!(errno_name(libc::EADDRINUSE), "EADDRINUSE");
        assert_eq!(errno_text(libc::ECONNREFUSED), "Connection refused");
        assert!(errno_meaning(libc::EADDRINUSE)
            .is_some_and(|m| m.contains("TIME_WAIT") && m.contains("SO_REUSEADDR")));
        assert!(errno_meaning(libc::EACCES).is_some_and(|m| m.contains("1024")));
        assert_eq!(errno_name(4095), "E4095");
    }
}
