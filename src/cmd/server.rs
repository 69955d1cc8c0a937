//! `encap server`: a chat server on a real kernel TCP socket, serving many clients at once.

use std::net::SocketAddrV4;
use std::process::ExitCode;

use anyhow::Context;
use termcolor::WriteColor;

use crate::chat::sys;
use crate::chat::ChatFlags;

use super::show::parse_endpoint;

/// Arguments of `encap server`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Each line typed goes to every connected client; each client's messages are shown \
with its address. `exit` (or end of input) ends the server. Start it before any `encap client`."
)]
pub struct Args {
    /// Address and port to listen on (loopback unless told otherwise).
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:6666", value_parser = parse_endpoint)]
    pub listen: SocketAddrV4,
    /// Length of the queue of completed handshakes waiting for accept() (the blog's listen(1)).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub backlog: i32,
    /// View, --explain and --verify.
    #[command(flatten)]
    pub chat: ChatFlags,
}

/// Runs `encap server`.
///
/// # Errors
/// The listening socket cannot be set up (EADDRINUSE, EACCES, ...), or output fails. Exit
/// status 1 when `--verify` found a MISMATCH.
pub fn run<W: WriteColor>(args: &Args, out: &mut W) -> anyhow::Result<ExitCode> {
    let mut session = args.chat.session(out, args.listen, "server")?;
    let setup = (|| {
        let fd = sys::socket(session.trace())?;
        sys::set_reuseaddr(session.trace(), &fd)?;
        sys::bind(session.trace(), &fd, args.listen)?;
        sys::listen(session.trace(), &fd, args.backlog)?;
        Ok::<_, sys::SysError>(fd)
    })();
    session.narrate()?;
    let fd = setup.with_context(|| format!("cannot listen on {}", args.listen))?;
    session.say(&format!(
        "listening on {} (backlog {})",
        args.listen, args.backlog
    ))?;
    let mismatches = session.serve(fd)?;
    if mismatches > 0 {
        eprintln!("encap: --verify found {mismatches} field(s) that are a MISMATCH (listed above)");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
