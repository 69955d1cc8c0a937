//! The chat over real kernel sockets (`encap server`, `encap client`): the parts both share.
//!
//! - [`framing`]: a byte stream into messages (lines, idle flush, 64 KiB parts). Pure.
//! - [`model`]: one connection's relative sequence, acknowledgment and IP ID numbers. Pure.
//! - [`narrate`]: `--explain`, each socket call as strace prints it and what the kernel does. Pure.
//! - [`sys`]: the socket calls themselves, through libc, recorded for the narration.
//! - [`session`]: the `poll()` loop that runs a dialogue.
//! - [`verify`]: `--verify`, the connections captured on `lo` and checked against the model.

pub use encap::framing;
pub mod model;
pub mod narrate;
pub mod session;
pub mod sys;
pub mod udp;
pub mod verify;

use clap::ValueEnum;

/// How each outgoing message is shown before it goes to the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum View {
    /// The four stages, each with its field table and a hex dump.
    Full,
    /// One line per layer.
    Summary,
    /// Plain chat: messages only.
    None,
}

/// The flags `encap server` and `encap client` share.
#[derive(Debug, clap::Args)]
pub struct ChatFlags {
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

impl ChatFlags {
    /// Starts a session with these flags, and the capture for `--verify` when asked and
    /// `verify_now` (else the caller starts it with [`session::Session::start_verify`] once it
    /// knows the port): `addr` is the address the chat will use, `role` "server" or "client".
    ///
    /// # Errors
    /// The signal handlers cannot be set, or output fails while the capture's state is reported.
    pub fn session<'w, W: termcolor::WriteColor>(
        &self,
        out: &'w mut W,
        addr: std::net::SocketAddrV4,
        role: &str,
        verify_now: bool,
    ) -> anyhow::Result<session::Session<'w, W>> {
        let mut session = session::Session::new(
            out,
            sys::Trace::new(self.explain),
            session::Options { view: self.view },
        );
        session.stop_on_signals()?;
        if self.verify && verify_now {
            session.start_verify(addr, role)?;
        }
        Ok(session)
    }
}
