//! One file per subcommand. Each parses its own arguments (clap) and renders into the writer that
//! `main` gives it; sockets, capture and files are opened here, never in the library.

pub mod client;
pub mod decode;
pub mod demo;
pub mod server;
pub mod show;
pub mod sniff;
pub mod verify;

/// An error in what the user asked for (a bad address, flag letter or size): exit status 2, as for
/// a usage error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Exit status for an error: 2 for usage errors, 1 for everything else.
pub fn exit_status(err: &anyhow::Error) -> u8 {
    if err
        .chain()
        .any(|e| e.is::<UsageError>() || e.is::<encap::pipeline::EncapError>())
    {
        2
    } else {
        1
    }
}
