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
    /// Whose TCP/IP runs the client: `kernel` (a socket) or `encap` (encap's own endpoint on a
    /// packet socket on -i DEV, root: every frame it sends shown as the pipeline built it;
    /// IPv4 only, no IPv6 or neighbour discovery yet). Run it in a namespace whose kernel does
    /// not have the --source address (README: `encap lab up --bare-a`).
    #[arg(long, value_enum, default_value_t = crate::lab::demo::Stack::Kernel, conflicts_with_all = ["explain", "verify", "udp"])]
    pub stack: crate::lab::demo::Stack,
    /// With --stack encap: the Ethernet interface encap's endpoint speaks on (as tcpdump -i).
    #[arg(short = 'i', long, value_name = "DEV")]
    pub interface: Option<String>,
    /// With --stack encap: encap's own IPv4 address and prefix length on -i (192.0.2.10/24),
    /// one that the kernel does not have there.
    #[arg(long, value_name = "ADDR/LEN", value_parser = super::client_stack::parse_prefix)]
    pub source: Option<(std::net::Ipv4Addr, u8)>,
    /// With --stack encap: the router, for a server outside --source's prefix.
    #[arg(long, value_name = "ADDR")]
    pub gateway: Option<std::net::Ipv4Addr>,
}

/// Runs `encap client`.
///
/// # Errors
/// No server (ECONNREFUSED), a reset connection, or failing output: exit status 2 (main).
pub fn run<W: WriteColor>(args: &Args, out: &mut W) -> anyhow::Result<ExitCode> {
    if args.udp {
        return crate::chat::udp::client(out, args.connect, args.chat.view);
    }
    if args.stack == crate::lab::demo::Stack::Encap {
        return super::client_stack::run(args, out);
    }
    if args.interface.is_some() || args.source.is_some() || args.gateway.is_some() {
        return Err(super::UsageError(
            "-i, --source and --gateway are for encap's own endpoint: add --stack encap".into(),
        )
        .into());
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
