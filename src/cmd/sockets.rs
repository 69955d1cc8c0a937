//! `encap sockets`: the kernel's TCP sockets as `ss -tan` shows them (state, queues, local and
//! peer address), read through sock_diag netlink as ss reads them.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::ExitCode;

use anyhow::Context;
use termcolor::WriteColor;

use encap::sock_diag::{self, Answer, SocketRow};

/// Arguments of `encap sockets`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example: encap sockets --port 6666, beside a chat: the server's LISTEN socket, \
and for each client two ESTAB rows (one per end), then TIME-WAIT on the side that closed first."
)]
pub struct Args {
    /// Only sockets whose local or peer port is this one.
    #[arg(long)]
    pub port: Option<u16>,
}

/// Every TCP socket of the host (IPv4, then IPv6), through a `NETLINK_SOCK_DIAG` socket.
///
/// # Errors
/// The netlink socket cannot be opened, or the kernel refuses or garbles the answer.
pub fn tcp_sockets() -> anyhow::Result<Vec<SocketRow>> {
    // SAFETY: socket() has no memory preconditions; the result is checked.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            libc::NETLINK_SOCK_DIAG,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error()).context("cannot open a NETLINK_SOCK_DIAG socket");
    }
    // SAFETY: fd is a new descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut rows = Vec::new();
    for (seq, family) in [(1u32, libc::AF_INET as u8), (2, libc::AF_INET6 as u8)] {
        let req = sock_diag::request(family, seq);
        // SAFETY: req is a live buffer of its length; a null address sends to the kernel.
        let n = unsafe { libc::send(fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error()).context("sending the sock_diag request");
        }
        let mut buf = vec![0u8; 1 << 16];
        loop {
            // SAFETY: buf is a live, writable buffer of its length.
            let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e).context("reading the sock_diag answer");
            }
            match sock_diag::parse(&buf[..n as usize])? {
                Answer::More(r) => rows.extend(r),
                Answer::Done(r) => {
                    rows.extend(r);
                    break;
                }
            }
            if n == 0 {
                break;
            }
        }
    }
    Ok(rows)
}

/// Writes `rows` as `ss -tan` lays them out.
///
/// # Errors
/// An I/O error from `w`.
pub fn write_table<W: io::Write>(w: &mut W, rows: &[SocketRow]) -> io::Result<()> {
    writeln!(
        w,
        "{:<11}{:>7} {:>7} {:<28} {:<28} (RFC 9293)",
        "State", "Recv-Q", "Send-Q", "Local Address:Port", "Peer Address:Port"
    )?;
    for r in rows {
        writeln!(
            w,
            "{:<11}{:>7} {:>7} {:<28} {:<28} {}",
            r.state_name(),
            r.recv_q,
            r.send_q,
            sock_diag::ss_addr(r.local),
            sock_diag::ss_addr(r.peer),
            r.rfc_state()
        )?;
    }
    Ok(())
}

/// Runs `encap sockets`.
///
/// # Errors
/// The kernel's table cannot be read, or output fails.
pub fn run<W: WriteColor>(args: &Args, out: &mut W) -> anyhow::Result<ExitCode> {
    let mut rows = tcp_sockets()?;
    if let Some(p) = args.port {
        rows.retain(|r| r.local.port() == p || r.peer.port() == p);
    }
    write_table(out, &rows)?;
    if rows.is_empty() {
        writeln!(
            out,
            "(no TCP socket{})",
            args.port.map_or(String::new(), |p| format!(" on port {p}"))
        )?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
