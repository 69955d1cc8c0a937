//! The socket system calls the chat makes, each made directly through libc so that `--explain`
//! narrates the real call with its real arguments and its real return value.
//!
//! Every wrapper records its [`Call`] and [`Outcome`] in a [`Trace`]; the session writes the
//! recorded lines out between calls. Readiness is waited for with `poll()`, which strace does not
//! count as a network call, so `strace -e trace=network` shows exactly the narrated calls.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::narrate::{self, Call, Closing, Outcome};

/// Narrated calls not yet written out. Records nothing unless enabled.
#[derive(Debug, Default)]
pub struct Trace {
    enabled: bool,
    lines: Vec<(String, String)>,
}

impl Trace {
    /// A trace that records when `enabled`.
    #[must_use]
    pub fn new(enabled: bool) -> Trace {
        Trace {
            enabled,
            lines: Vec::new(),
        }
    }

    fn record(&mut self, call: &Call, out: &Outcome) {
        if self.enabled {
            self.lines
                .push((narrate::strace_line(call, out), narrate::explain(call, out)));
        }
    }

    /// Takes the recorded (strace line, explanation) pairs.
    pub fn take(&mut self) -> Vec<(String, String)> {
        mem::take(&mut self.lines)
    }
}

/// A failed socket call: which call, and the errno it returned.
#[derive(Debug, thiserror::Error)]
#[error("{call} failed: {} ({}){}", narrate::errno_name(*errno), narrate::errno_text(*errno), narrate::errno_meaning(*errno).map(|m| format!(": {m}")).unwrap_or_default())]
pub struct SysError {
    /// The call's name.
    pub call: &'static str,
    /// The errno.
    pub errno: i32,
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn check(call: &'static str, ret: i64, e: i32) -> Result<i64, SysError> {
    if ret < 0 {
        Err(SysError { call, errno: e })
    } else {
        Ok(ret)
    }
}

fn to_sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain old data; all-zero is a valid value.
    let mut sa: libc::sockaddr_in = unsafe { mem::zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_port = a.port().to_be();
    sa.sin_addr = libc::in_addr {
        s_addr: u32::from(*a.ip()).to_be(),
    };
    sa
}

fn from_sockaddr(sa: &libc::sockaddr_in) -> Option<SocketAddrV4> {
    (i32::from(sa.sin_family) == libc::AF_INET).then(|| {
        SocketAddrV4::new(
            Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)),
            u16::from_be(sa.sin_port),
        )
    })
}

const SOCKADDR_LEN: libc::socklen_t = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;

/// `socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_TCP)`.
///
/// # Errors
/// The errno.
pub fn socket(t: &mut Trace) -> Result<OwnedFd, SysError> {
    // SAFETY: plain system call with constant arguments.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            libc::IPPROTO_TCP,
        )
    };
    let e = errno();
    t.record(&Call::Socket, &Outcome::from_ret(fd.into(), e));
    check("socket", fd.into(), e)?;
    // SAFETY: fd was just returned by socket() and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn setsockopt_int(
    t: &mut Trace,
    fd: RawFd,
    level: (i32, &'static str),
    name: (i32, &'static str),
    value: i32,
) -> Result<(), SysError> {
    // SAFETY: the pointer and length describe a live i32.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level.0,
            name.0,
            (&value as *const i32).cast(),
            mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    let e = errno();
    t.record(
        &Call::SetSockOpt {
            fd,
            level: level.1,
            name: name.1,
            value,
        },
        &Outcome::from_ret(r.into(), e),
    );
    check("setsockopt", r.into(), e).map(drop)
}

/// `setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, [1], 4)`.
///
/// # Errors
/// The errno.
pub fn set_reuseaddr(t: &mut Trace, fd: &OwnedFd) -> Result<(), SysError> {
    setsockopt_int(
        t,
        fd.as_raw_fd(),
        (libc::SOL_SOCKET, "SOL_SOCKET"),
        (libc::SO_REUSEADDR, "SO_REUSEADDR"),
        1,
    )
}

/// `setsockopt(fd, SOL_TCP, TCP_NODELAY, [1], 4)`.
///
/// # Errors
/// The errno.
pub fn set_nodelay(t: &mut Trace, fd: &OwnedFd) -> Result<(), SysError> {
    setsockopt_int(
        t,
        fd.as_raw_fd(),
        (libc::IPPROTO_TCP, "SOL_TCP"),
        (libc::TCP_NODELAY, "TCP_NODELAY"),
        1,
    )
}

/// `getsockopt(fd, SOL_TCP, TCP_MAXSEG, ...)`: the connection's MSS.
///
/// # Errors
/// The errno.
pub fn tcp_maxseg(t: &mut Trace, fd: &OwnedFd) -> Result<usize, SysError> {
    let mut value: i32 = 0;
    let mut len = mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: the pointers describe a live i32 and its length.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_MAXSEG,
            (&mut value as *mut i32).cast(),
            &mut len,
        )
    };
    let e = errno();
    t.record(
        &Call::GetSockOpt {
            fd: fd.as_raw_fd(),
            level: "SOL_TCP",
            name: "TCP_MAXSEG",
            value,
        },
        &Outcome::from_ret(r.into(), e),
    );
    check("getsockopt", r.into(), e)?;
    Ok(usize::try_from(value).unwrap_or(0))
}

/// `bind(fd, {...}, 16)`.
///
/// # Errors
/// The errno.
pub fn bind(t: &mut Trace, fd: &OwnedFd, addr: SocketAddrV4) -> Result<(), SysError> {
    let sa = to_sockaddr(addr);
    // SAFETY: sa is a live sockaddr_in of the given length.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_in).cast(),
            SOCKADDR_LEN,
        )
    };
    let e = errno();
    t.record(
        &Call::Bind {
            fd: fd.as_raw_fd(),
            addr,
        },
        &Outcome::from_ret(r.into(), e),
    );
    check("bind", r.into(), e).map(drop)
}

/// `listen(fd, backlog)`.
///
/// # Errors
/// The errno.
pub fn listen(t: &mut Trace, fd: &OwnedFd, backlog: i32) -> Result<(), SysError> {
    // SAFETY: plain system call.
    let r = unsafe { libc::listen(fd.as_raw_fd(), backlog) };
    let e = errno();
    t.record(
        &Call::Listen {
            fd: fd.as_raw_fd(),
            backlog,
        },
        &Outcome::from_ret(r.into(), e),
    );
    check("listen", r.into(), e).map(drop)
}

/// `accept4(fd, ..., SOCK_CLOEXEC|SOCK_NONBLOCK)`: the new socket and its peer.
///
/// # Errors
/// The errno.
pub fn accept(t: &mut Trace, fd: &OwnedFd) -> Result<(OwnedFd, SocketAddrV4), SysError> {
    // SAFETY: all-zero is a valid sockaddr_in.
    let mut sa: libc::sockaddr_in = unsafe { mem::zeroed() };
    let mut len = SOCKADDR_LEN;
    let ptr = &mut sa as *mut libc::sockaddr_in;
    // SAFETY: sa and len are live and len is sa's size.
    let r = unsafe {
        libc::accept4(
            fd.as_raw_fd(),
            ptr.cast(),
            &mut len,
            libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
        )
    };
    let e = errno();
    let peer = (r >= 0).then(|| from_sockaddr(&sa)).flatten();
    t.record(
        &Call::Accept4 {
            fd: fd.as_raw_fd(),
            peer,
            ptr: ptr as usize,
        },
        &Outcome::from_ret(r.into(), e),
    );
    check("accept4", r.into(), e)?;
    // SAFETY: r was just returned by accept4() and is owned by nobody else.
    let new = unsafe { OwnedFd::from_raw_fd(r) };
    let peer = peer.ok_or(SysError {
        call: "accept4",
        errno: libc::EAFNOSUPPORT,
    })?;
    Ok((new, peer))
}

/// `connect(fd, {...}, 16)`, blocking until the handshake is done or refused.
///
/// # Errors
/// The errno.
pub fn connect(t: &mut Trace, fd: &OwnedFd, addr: SocketAddrV4) -> Result<(), SysError> {
    let sa = to_sockaddr(addr);
    // SAFETY: sa is a live sockaddr_in of the given length.
    let r = unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_in).cast(),
            SOCKADDR_LEN,
        )
    };
    let e = errno();
    t.record(
        &Call::Connect {
            fd: fd.as_raw_fd(),
            addr,
        },
        &Outcome::from_ret(r.into(), e),
    );
    check("connect", r.into(), e).map(drop)
}

/// Which end `getsockname`/`getpeername` reads.
#[derive(Debug, Clone, Copy)]
pub enum End {
    /// getsockname.
    Local,
    /// getpeername.
    Peer,
}

/// `getsockname(fd, ...)` or `getpeername(fd, ...)`.
///
/// # Errors
/// The errno.
pub fn name(t: &mut Trace, fd: &OwnedFd, end: End) -> Result<SocketAddrV4, SysError> {
    // SAFETY: all-zero is a valid sockaddr_in.
    let mut sa: libc::sockaddr_in = unsafe { mem::zeroed() };
    let mut len = SOCKADDR_LEN;
    let ptr = &mut sa as *mut libc::sockaddr_in;
    // SAFETY: sa and len are live and len is sa's size.
    let r = unsafe {
        match end {
            End::Local => libc::getsockname(fd.as_raw_fd(), ptr.cast(), &mut len),
            End::Peer => libc::getpeername(fd.as_raw_fd(), ptr.cast(), &mut len),
        }
    };
    let e = errno();
    let addr = (r >= 0).then(|| from_sockaddr(&sa)).flatten();
    let raw = fd.as_raw_fd();
    let call = match end {
        End::Local => Call::GetSockName {
            fd: raw,
            addr,
            ptr: ptr as usize,
        },
        End::Peer => Call::GetPeerName {
            fd: raw,
            addr,
            ptr: ptr as usize,
        },
    };
    t.record(&call, &Outcome::from_ret(r.into(), e));
    let which = match end {
        End::Local => "getsockname",
        End::Peer => "getpeername",
    };
    check(which, r.into(), e)?;
    addr.ok_or(SysError {
        call: which,
        errno: libc::EAFNOSUPPORT,
    })
}

/// `sendto(fd, data, len, MSG_NOSIGNAL, NULL, 0)`: how many bytes the kernel took.
///
/// # Errors
/// The errno (EAGAIN when the send buffer is full).
pub fn send(t: &mut Trace, fd: &OwnedFd, data: &[u8]) -> Result<usize, SysError> {
    // SAFETY: data is a live slice of the given length.
    let r = unsafe {
        libc::send(
            fd.as_raw_fd(),
            data.as_ptr().cast(),
            data.len(),
            libc::MSG_NOSIGNAL,
        )
    };
    let e = errno();
    if t.enabled {
        let shown = &data[..data.len().min(narrate::STRACE_STRLEN)];
        t.record(
            &Call::SendTo {
                fd: fd.as_raw_fd(),
                data: shown.to_vec(),
                len: data.len(),
            },
            &Outcome::from_ret(r as i64, e),
        );
    }
    check("sendto", r as i64, e).map(|n| usize::try_from(n).unwrap_or(0))
}

/// `recvfrom(fd, buf, len, 0, NULL, NULL)`: how many bytes arrived (0 = the peer sent FIN).
///
/// # Errors
/// The errno (EAGAIN when nothing is there, ECONNRESET after a RST).
pub fn recv(t: &mut Trace, fd: &OwnedFd, buf: &mut [u8]) -> Result<usize, SysError> {
    // SAFETY: buf is a live, writable slice of the given length.
    let r = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    let e = errno();
    if t.enabled {
        let n = usize::try_from(r).unwrap_or(0).min(narrate::STRACE_STRLEN);
        t.record(
            &Call::RecvFrom {
                fd: fd.as_raw_fd(),
                data: buf.get(..n).unwrap_or_default().to_vec(),
                cap: buf.len(),
                ptr: buf.as_ptr() as usize,
            },
            &Outcome::from_ret(r as i64, e),
        );
    }
    check("recvfrom", r as i64, e).map(|n| usize::try_from(n).unwrap_or(0))
}

/// `shutdown(fd, SHUT_WR)`: send FIN.
///
/// # Errors
/// The errno.
pub fn shutdown_write(t: &mut Trace, fd: &OwnedFd) -> Result<(), SysError> {
    // SAFETY: plain system call.
    let r = unsafe { libc::shutdown(fd.as_raw_fd(), libc::SHUT_WR) };
    let e = errno();
    t.record(
        &Call::Shutdown { fd: fd.as_raw_fd() },
        &Outcome::from_ret(r.into(), e),
    );
    check("shutdown", r.into(), e).map(drop)
}

/// `close(fd)` of a socket that `was` what it says, narrated (dropping an `OwnedFd` would close
/// it silently).
pub fn close(t: &mut Trace, fd: OwnedFd, was: Closing) {
    let raw = fd.as_raw_fd();
    // Take the descriptor out of the OwnedFd so it is closed exactly once, here.
    let raw_owned = std::os::fd::IntoRawFd::into_raw_fd(fd);
    // SAFETY: raw_owned is ours alone and is not used after this.
    let r = unsafe { libc::close(raw_owned) };
    let e = errno();
    t.record(
        &Call::Close { fd: raw, was },
        &Outcome::from_ret(r.into(), e),
    );
}

/// Sets O_NONBLOCK (fcntl, not a network call, so not narrated).
///
/// # Errors
/// The errno.
pub fn set_nonblocking(fd: &OwnedFd) -> Result<(), SysError> {
    // SAFETY: plain fcntl calls on a descriptor we own.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    check("fcntl", flags.into(), errno())?;
    // SAFETY: as above.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) };
    check("fcntl", r.into(), errno()).map(drop)
}

/// Blocks SIGINT and SIGTERM in this thread (and in the threads it starts from now on), and
/// returns the signal mask to wait with in [`poll`]: the one before, with both unblocked. A
/// signal can then only arrive while `ppoll()` waits, which it ends at once: one that arrives
/// anywhere else waits for the next `ppoll()`, never for the next event.
///
/// # Errors
/// A failed `pthread_sigmask` (it cannot fail with these arguments).
pub fn block_stop_signals() -> Result<libc::sigset_t, SysError> {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset before use; pthread_sigmask
    // reads `stop` and writes `before`, both live.
    unsafe {
        let mut stop: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut stop);
        libc::sigaddset(&mut stop, libc::SIGINT);
        libc::sigaddset(&mut stop, libc::SIGTERM);
        let mut before: libc::sigset_t = std::mem::zeroed();
        let r = libc::pthread_sigmask(libc::SIG_BLOCK, &stop, &mut before);
        if r != 0 {
            return Err(SysError {
                call: "pthread_sigmask",
                errno: r,
            });
        }
        libc::sigdelset(&mut before, libc::SIGINT);
        libc::sigdelset(&mut before, libc::SIGTERM);
        Ok(before)
    }
}

/// Waits with `ppoll()` for any of `fds` to become ready, or `timeout_ms` (-1: no limit), with
/// the signal mask `mask` while it waits (see [`block_stop_signals`]), or the current one.
/// EINTR counts as nothing ready.
///
/// # Errors
/// Any other errno.
pub fn poll(
    fds: &mut [libc::pollfd],
    timeout_ms: i32,
    mask: Option<&libc::sigset_t>,
) -> Result<usize, SysError> {
    let timeout = (timeout_ms >= 0).then(|| libc::timespec {
        tv_sec: libc::time_t::from(timeout_ms / 1000),
        tv_nsec: libc::c_long::from(timeout_ms % 1000) * 1_000_000,
    });
    let timeout_ptr = timeout
        .as_ref()
        .map_or(std::ptr::null(), std::ptr::from_ref);
    let mask_ptr = mask.map_or(std::ptr::null(), std::ptr::from_ref);
    // SAFETY: fds is a live slice of pollfd of the given length; the timeout and the mask are
    // null or point to live values.
    let r = unsafe {
        libc::ppoll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            timeout_ptr,
            mask_ptr,
        )
    };
    let e = errno();
    if r < 0 && e == libc::EINTR {
        return Ok(0);
    }
    check("poll", r.into(), e).map(|n| usize::try_from(n).unwrap_or(0))
}

/// `read(0, ...)` from standard input (not a network call, not narrated).
///
/// # Errors
/// The errno; EINTR and EAGAIN are returned as errors for the caller to retry.
pub fn read_stdin(buf: &mut [u8]) -> Result<usize, SysError> {
    // SAFETY: buf is a live, writable slice of the given length.
    let r = unsafe { libc::read(libc::STDIN_FILENO, buf.as_mut_ptr().cast(), buf.len()) };
    check("read", r as i64, errno()).map(|n| usize::try_from(n).unwrap_or(0))
}

/// This host's TCP receive-buffer settings, from `/proc/sys` (`net.ipv4.tcp_rmem`,
/// `net.core.rmem_max`): what the model needs to predict the windows of a SYN and SYN-ACK and
/// both window scales.
///
/// # Errors
/// Which file could not be read or parsed.
pub fn tcp_settings() -> Result<encap::model::TcpSettings, String> {
    let read =
        |path: &str| std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"));
    encap::model::TcpSettings::parse(
        &read("/proc/sys/net/ipv4/tcp_rmem")?,
        &read("/proc/sys/net/core/rmem_max")?,
    )
}
