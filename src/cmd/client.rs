//! `encap client`: a chat client on a real kernel TCP socket.

use std::net::SocketAddrV4;
use std::process::ExitCode;

use anyhow::Context;
use termcolor::WriteColor;

use crate::chat::session::{Options, Outcome, Session};
use crate::chat::sys::{self, Trace};
use crate::chat::View;

use super::show::parse_endpoint;

/// Arguments of `encap client`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Each line typed is sent to the server; its messages are shown as they arrive. \
`exit` (or end of input) ends the dialogue. Start `encap server` first."
)]
pub struct Args {
    /// Address and port of the server.
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:6666", value_parser = parse_endpoint)]
    pub connect: SocketAddrV4,
    /// How each outgoing message is shown before it goes to the kernel.
    #[arg(long, value_enum, default_value_t = View::Full)]
    pub view: View,
    /// Narrate every socket call as the Linux system call strace shows, and what it does.
    #[arg(long)]
    pub explain: bool,
    /// Capture this chat's connections on lo and check every frame the kernel sends against the
    /// model, shown after each message; each connection ends with its ladder and summary
    /// (needs CAP_NET_RAW, as `encap sniff`; loopback connections only).
    #[arg(long)]
    pub verify: bool,
}

/// Runs `encap client`.
///
/// # Errors
/// No server (ECONNREFUSED), a reset connection, or failing output: exit status 1.
pub fn run<W: WriteColor>(args: &Args, out: &mut W) -> anyhow::Result<ExitCode> {
    let opts = Options { view: args.view };
    let mut session = Session::new(out, Trace::new(args.explain), opts);
    if args.verify {
        session.start_verify(args.connect, "client")?;
    }
    let fd = sys::socket(session.trace());
    session.narrate()?;
    let fd = fd.context("cannot create a socket")?;
    let connected = sys::connect(session.trace(), &fd, args.connect);
    session.narrate()?;
    if let Err(e) = connected {
        sys::close(session.trace(), fd);
        session.narrate()?;
        if e.errno == libc::ECONNREFUSED {
            anyhow::bail!(
                "no server is listening on {}, start `encap server` first (ECONNREFUSED)",
                args.connect
            );
        }
        return Err(e).with_context(|| format!("cannot connect to {}", args.connect));
    }
    match session.chat(fd)? {
        Outcome::Clean => Ok(ExitCode::SUCCESS),
        Outcome::Failed(e) => {
            Err(e).with_context(|| format!("the dialogue with {} failed", args.connect))
        }
    }
}
