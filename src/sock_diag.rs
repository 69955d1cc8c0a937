//! The kernel's table of TCP sockets as `ss -tan` reads it: a `SOCK_DIAG_BY_FAMILY` dump request
//! over a `NETLINK_SOCK_DIAG` socket (linux/sock_diag.h, linux/inet_diag.h), and the
//! `inet_diag_msg` records that answer it. Pure: the bytes are built and parsed here, the netlink
//! socket lives in the command (`encap sockets`).
//!
//! ```text
//! nlmsghdr (16 bytes, host byte order): len u32, type u16 (20 = SOCK_DIAG_BY_FAMILY), flags u16,
//!                                       seq u32, pid u32
//! inet_diag_req_v2 (56 bytes): family u8, protocol u8, ext u8, pad u8, states u32 (a bit per
//!                              TCP state), inet_diag_sockid (48 bytes)
//! inet_diag_msg (72 bytes): family u8, state u8, timer u8, retrans u8, inet_diag_sockid
//!                           (sport be16, dport be16, src [u8; 16], dst [u8; 16], if u32,
//!                           cookie [u32; 2]), expires u32, rqueue u32, wqueue u32, uid u32,
//!                           inode u32
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Byte offsets of the messages' fields.
pub mod field {
    use std::ops::Range;
    /// nlmsghdr: total length.
    pub const NL_LEN: Range<usize> = 0..4;
    /// nlmsghdr: message type.
    pub const NL_TYPE: Range<usize> = 4..6;
    /// nlmsghdr: flags.
    pub const NL_FLAGS: Range<usize> = 6..8;
    /// nlmsghdr: sequence number.
    pub const NL_SEQ: Range<usize> = 8..12;
    /// Length of nlmsghdr.
    pub const NL_HEADER_LEN: usize = 16;
    /// inet_diag_req_v2 / inet_diag_msg: address family.
    pub const FAMILY: usize = 0;
    /// inet_diag_req_v2: protocol; inet_diag_msg: TCP state.
    pub const PROTOCOL_OR_STATE: usize = 1;
    /// inet_diag_req_v2: the bit mask of states asked for.
    pub const STATES: Range<usize> = 4..8;
    /// Length of inet_diag_req_v2.
    pub const REQ_LEN: usize = 56;
    /// inet_diag_msg: source port (big-endian).
    pub const SPORT: Range<usize> = 4..6;
    /// inet_diag_msg: destination port (big-endian).
    pub const DPORT: Range<usize> = 6..8;
    /// inet_diag_msg: source address (4 or 16 bytes used).
    pub const SRC: Range<usize> = 8..24;
    /// inet_diag_msg: destination address.
    pub const DST: Range<usize> = 24..40;
    /// inet_diag_msg: bytes in the receive queue (LISTEN: connections waiting for accept()).
    pub const RQUEUE: Range<usize> = 56..60;
    /// inet_diag_msg: bytes in the send queue (LISTEN: the backlog).
    pub const WQUEUE: Range<usize> = 60..64;
    /// Length of inet_diag_msg.
    pub const MSG_LEN: usize = 72;
}

/// `SOCK_DIAG_BY_FAMILY`.
pub const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `NLMSG_ERROR`.
const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`.
const NLMSG_DONE: u16 = 3;
/// `NLM_F_REQUEST | NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`).
const DUMP: u16 = 0x1 | 0x100 | 0x200;
/// `IPPROTO_TCP`.
const TCP: u8 = 6;

/// The dump request for every TCP socket of `family` (`AF_INET` 2, `AF_INET6` 10), in every
/// state, as `ss -tan` asks.
#[must_use]
pub fn request(family: u8, seq: u32) -> Vec<u8> {
    let len = field::NL_HEADER_LEN + field::REQ_LEN;
    let mut b = vec![0u8; len];
    b[field::NL_LEN].copy_from_slice(&(len as u32).to_ne_bytes());
    b[field::NL_TYPE].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    b[field::NL_FLAGS].copy_from_slice(&DUMP.to_ne_bytes());
    b[field::NL_SEQ].copy_from_slice(&seq.to_ne_bytes());
    let r = &mut b[field::NL_HEADER_LEN..];
    r[field::FAMILY] = family;
    r[field::PROTOCOL_OR_STATE] = TCP;
    r[field::STATES].copy_from_slice(&u32::MAX.to_ne_bytes());
    b
}

/// One TCP socket as the kernel keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketRow {
    /// Its TCP state (the kernel's number, `TCP_ESTABLISHED` = 1 ...).
    pub state: u8,
    /// Local address and port.
    pub local: SocketAddr,
    /// Peer address and port (the unspecified address and port 0 for a listener).
    pub peer: SocketAddr,
    /// Receive queue (LISTEN: connections waiting for accept()).
    pub recv_q: u32,
    /// Send queue (LISTEN: the backlog).
    pub send_q: u32,
}

impl SocketRow {
    /// The state as `ss` names it.
    #[must_use]
    pub fn state_name(&self) -> &'static str {
        state_name(self.state)
    }

    /// The state as RFC 9293 and the ladder name it (`ESTABLISHED`, `FIN_WAIT_2`...).
    #[must_use]
    pub fn rfc_state(&self) -> &'static str {
        match self.state {
            1 => "ESTABLISHED",
            2 => "SYN_SENT",
            3 | 12 => "SYN_RECEIVED",
            4 => "FIN_WAIT_1",
            5 => "FIN_WAIT_2",
            6 => "TIME_WAIT",
            7 => "CLOSED",
            8 => "CLOSE_WAIT",
            9 => "LAST_ACK",
            10 => "LISTEN",
            11 => "CLOSING",
            _ => "UNKNOWN",
        }
    }
}

/// A TCP state as `ss` names it.
#[must_use]
pub fn state_name(state: u8) -> &'static str {
    match state {
        1 => "ESTAB",
        2 => "SYN-SENT",
        3 | 12 => "SYN-RECV",
        4 => "FIN-WAIT-1",
        5 => "FIN-WAIT-2",
        6 => "TIME-WAIT",
        7 => "UNCONN",
        8 => "CLOSE-WAIT",
        9 => "LAST-ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        _ => "UNKNOWN",
    }
}

/// What one buffer of the answer held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Sockets; more buffers follow.
    More(Vec<SocketRow>),
    /// The last sockets: the dump is done.
    Done(Vec<SocketRow>),
}

/// Why an answer cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiagError {
    /// The kernel answered with an error (a negative errno).
    #[error("the kernel refused the sock_diag request: errno {0}")]
    Kernel(i32),
    /// A message runs past the buffer, or is too short for what it claims.
    #[error("a netlink message at byte {at} is malformed: {why}")]
    Malformed {
        /// Offset of the message in the buffer.
        at: usize,
        /// What is wrong.
        why: &'static str,
    },
}

fn ne32(b: &[u8], r: std::ops::Range<usize>) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[r]);
    u32::from_ne_bytes(a)
}

fn addr(family: u8, b: &[u8]) -> IpAddr {
    if family == 10 {
        let mut a = [0u8; 16];
        a.copy_from_slice(&b[..16]);
        Ipv6Addr::from(a).into()
    } else {
        Ipv4Addr::new(b[0], b[1], b[2], b[3]).into()
    }
}

/// Reads one buffer of the kernel's answer: every `inet_diag_msg` in it.
///
/// # Errors
/// The kernel's error, or a message that does not fit the buffer.
pub fn parse(buf: &[u8]) -> Result<Answer, DiagError> {
    let mut rows = Vec::new();
    let mut at = 0;
    while at + field::NL_HEADER_LEN <= buf.len() {
        let h = &buf[at..];
        let len = ne32(h, field::NL_LEN) as usize;
        if len < field::NL_HEADER_LEN || at + len > buf.len() {
            return Err(DiagError::Malformed {
                at,
                why: "its length runs past the buffer",
            });
        }
        let kind = u16::from_ne_bytes([h[4], h[5]]);
        let body = &h[field::NL_HEADER_LEN..len];
        match kind {
            NLMSG_DONE => return Ok(Answer::Done(rows)),
            NLMSG_ERROR => {
                let errno = body
                    .get(..4)
                    .map_or(0, |e| i32::from_ne_bytes([e[0], e[1], e[2], e[3]]));
                return Err(DiagError::Kernel(-errno));
            }
            SOCK_DIAG_BY_FAMILY => {
                if body.len() < field::MSG_LEN {
                    return Err(DiagError::Malformed {
                        at,
                        why: "shorter than an inet_diag_msg",
                    });
                }
                let family = body[field::FAMILY];
                let port = |r: std::ops::Range<usize>| {
                    u16::from_be_bytes([body[r.start], body[r.start + 1]])
                };
                rows.push(SocketRow {
                    state: body[field::PROTOCOL_OR_STATE],
                    local: SocketAddr::new(addr(family, &body[field::SRC]), port(field::SPORT)),
                    peer: SocketAddr::new(addr(family, &body[field::DST]), port(field::DPORT)),
                    recv_q: ne32(body, field::RQUEUE),
                    send_q: ne32(body, field::WQUEUE),
                });
            }
            _ => {}
        }
        // Messages are aligned to 4 bytes.
        at += (len + 3) & !3;
    }
    Ok(Answer::More(rows))
}

/// An address as `ss -n` writes it: `127.0.0.1:6666`, `[::1]:6666`, `*` for port 0.
#[must_use]
pub fn ss_addr(a: SocketAddr) -> String {
    let port = if a.port() == 0 {
        "*".to_string()
    } else {
        a.port().to_string()
    };
    match a.ip() {
        IpAddr::V4(ip) => format!("{ip}:{port}"),
        IpAddr::V6(ip) => format!("[{ip}]:{port}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(state: u8, rq: u32) -> Vec<u8> {
        let len = field::NL_HEADER_LEN + field::MSG_LEN;
        let mut m = vec![0u8; len];
        m[field::NL_LEN].copy_from_slice(&(len as u32).to_ne_bytes());
        m[field::NL_TYPE].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        let b = &mut m[field::NL_HEADER_LEN..];
        b[0] = 2;
        b[1] = state;
        b[4..6].copy_from_slice(&6666u16.to_be_bytes());
        b[8..12].copy_from_slice(&[127, 0, 0, 1]);
        b[field::RQUEUE].copy_from_slice(&rq.to_ne_bytes());
        m
    }

    #[test]
    fn request_and_answer() {
        let r = request(2, 7);
        assert_eq!(r.len(), 72);
        assert_eq!(u16::from_ne_bytes([r[4], r[5]]), 20);
        let mut buf = message(10, 0);
        buf.extend(message(1, 5));
        let Answer::More(rows) = parse(&buf).unwrap() else {
            panic!("not done yet")
        };
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].state_name(), rows[1].rfc_state()),
            ("LISTEN", "ESTABLISHED")
        );
        assert_eq!(ss_addr(rows[0].local), "127.0.0.1:6666");
        assert_eq!(ss_addr(rows[0].peer), "0.0.0.0:*");
        assert_eq!(rows[1].recv_q, 5);
        let mut done = vec![0u8; 20];
        done[0..4].copy_from_slice(&20u32.to_ne_bytes());
        done[4..6].copy_from_slice(&3u16.to_ne_bytes());
        assert_eq!(parse(&done).unwrap(), Answer::Done(vec![]));
        for cut in 0..buf.len() {
            let _ = parse(&buf[..cut]);
        }
        let mut bad = message(1, 0);
        bad[0] = 200;
        assert!(parse(&bad).is_err());
    }
}
