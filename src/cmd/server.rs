//! `encap server`: a chat server on a real kernel TCP socket, serving many clients at once.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use termcolor::WriteColor;

use crate::chat::sys;
use crate::chat::ChatFlags;

use super::show::parse_any_endpoint;

/// Arguments of `encap server`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Each line typed goes to every connected client; each client's messages are shown \
with its address. `exit`, Ctrl-C (SIGINT) or SIGTERM ends the server cleanly: a FIN to each \
client, then each connection's closing line. End of input (`encap server &`, `< /dev/null`) only \
ends the typing: the server keeps serving. Start it before any `encap client`."
)]
pub struct Args {
    /// Address and port to listen on (loopback unless told otherwise); port 0 lets the kernel
    /// choose one, which is printed.
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:6666", value_parser = parse_any_endpoint)]
    pub listen: SocketAddr,
    /// Length of the queue of completed handshakes waiting for accept() (the blog's listen(1)).
    #[arg(long, value_name = "N", default_value_t = 1, allow_negative_numbers = true,
          value_parser = clap::value_parser!(i32).range(0..))]
    pub backlog: i32,
    /// View, --explain and --verify.
    #[command(flatten)]
    pub chat: ChatFlags,
    /// Chat over UDP: one datagram per message, no connection (IPv6 too: [::1]:6666); only
    /// --view applies.
    #[arg(long, conflicts_with_all = ["explain", "verify"])]
    pub udp: bool,
}

/// Runs `encap server`.
///
/// # Errors
/// The listening socket cannot be set up (EADDRINUSE, EACCES, ...), or output fails. Exit
/// status 1 when `--verify` found a MISMATCH.
pub fn run<W: WriteColor>(args: &Args, out: &mut W) -> anyhow::Result<ExitCode> {
    if args.udp {
        return crate::chat::udp::serve(out, args.listen, args.chat.view);
    }
    let SocketAddr::V4(listen) = args.listen else {
        return Err(super::UsageError(format!(
            "--listen {}: the TCP chat is IPv4 only (--udp takes IPv6)",
            args.listen
        ))
        .into());
    };
    // Port 0: the port is the kernel's choice at bind(), so `--verify` starts capturing then
    // (still before listen(), so no handshake is missed).
    let chosen = listen.port() == 0;
    let mut session = args.chat.session(out, listen, "server", !chosen)?;
    let bound = (|| {
        let fd = sys::socket(session.trace())?;
        sys::set_reuseaddr(session.trace(), &fd)?;
        sys::bind(session.trace(), &fd, listen)?;
        let addr = if chosen {
            sys::name(session.trace(), &fd, sys::End::Local)?
        } else {
            listen
        };
        Ok::<_, sys::SysError>((fd, addr))
    })();
    session.narrate()?;
    let (fd, addr) = bound.with_context(|| format!("cannot listen on {}", listen))?;
    if chosen && args.chat.verify {
        session.start_verify(addr, "server")?;
    }
    let listening = sys::listen(session.trace(), &fd, args.backlog);
    session.narrate()?;
    listening.with_context(|| format!("cannot listen on {addr}"))?;
    session.say(&format!("listening on {addr} (backlog {})", args.backlog))?;
    let mismatches = session.serve(fd)?;
    writeln!(out, "stopped listening on {addr}; the server is done")?;
    if mismatches > 0 {
        eprintln!("encap: --verify found {mismatches} field(s) that are a MISMATCH (listed above)");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
