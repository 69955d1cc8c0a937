//! One file per subcommand. Each parses its own arguments (clap) and renders into the writer that
//! `main` gives it; sockets, capture and files are opened here, never in the library.

pub mod client;
pub mod decode;
pub mod demo;
pub mod server;
pub mod show;
pub mod sniff;
pub mod verify;

/// An error in what the user asked for (a bad address, flag letter or size).
///
/// Every error ends a command with [`TROUBLE`]; this type only says that the user can fix it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The exit status of every command that ends with an error (bad arguments, an unreadable file,
/// a device that is not up, a failed connection), as clap's own for bad arguments; 1 is kept
/// for a finding (a MISMATCH), 0 for success: one rule for every command (README).
pub const TROUBLE: u8 = 2;
