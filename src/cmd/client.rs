//! `encap client`: a chat client on a real kernel TCP socket.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use termcolor::WriteColor;

use crate::chat::session::Outcome;
use crate::chat::sys;
use crate::chat::ChatFlags;

use super::show::parse_any_endpoint;

/// Arguments of `encap client`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Each line typed is sent to the server; its messages are shown as they arrive. \
`exit`, end of input, Ctrl-C (SIGINT) or SIGTERM ends the dialogue cleanly (a FIN to the server). \
Start `encap server` first."
)]
pub struct Args {
    /// Address and port of the server.
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:6666", value_parser = parse_any_endpoint)]
    pub connect: SocketAddr,
    /// View, --explain and --verify.
    #[command(flatten)]
    pub chat: ChatFlags,
    /// Chat over UDP: one datagram per message, no connection (IPv6 too: [::1]:6666); only
    /// --view applies.
    #[arg(long, conflicts_with_all = ["explain", "verify"])]
    pub udp: bool,
}

/// Runs `encap client`.
///
/// # Errors
/// No server (ECONNREFUSED), a reset connection, or failing output: exit status 2 (main).
pub fn run<W: WriteColor>(args: &Args, out: &mut W) -> anyhow::Result<ExitCode> {
    if args.udp {
        return crate::chat::udp::client(out, args.connect, args.chat.view);
    }
    let SocketAddr::V4(connect) = args.connect else {
        return Err(super::UsageError(format!(
            "--connect {}: the TCP chat is IPv4 only (--udp takes IPv6)",
            args.connect
        ))
        .into());
    };
    let mut session = args.chat.session(out, connect, "client", true)?;
    let fd = sys::socket(session.trace());
    session.narrate()?;
    let fd = fd.context("cannot create a socket")?;
    let connected = sys::connect(session.trace(), &fd, connect);
    session.narrate()?;
    if let Err(e) = connected {
        sys::close(
            session.trace(),
            fd,
            crate::chat::narrate::Closing::Unconnected,
        );
        session.narrate()?;
        if e.errno == libc::ECONNREFUSED {
            anyhow::bail!(
                "no server is listening on {}, start `encap server` first (ECONNREFUSED)",
                connect
            );
        }
        return Err(e).with_context(|| format!("cannot connect to {}", connect));
    }
    match session.chat(fd)? {
        Outcome::Clean => Ok(ExitCode::SUCCESS),
        Outcome::Mismatch(n) => {
            eprintln!("encap: --verify found {n} field(s) that are a MISMATCH (listed above)");
            Ok(ExitCode::from(1))
        }
        Outcome::Failed(e) => {
            Err(e).with_context(|| format!("the dialogue with {} failed", connect))
        }
    }
}
