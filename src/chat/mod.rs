//! The chat over real kernel sockets (`encap server`, `encap client`): the parts both share.
//!
//! - [`framing`]: a byte stream into messages (lines, idle flush, 64 KiB parts). Pure.
//! - [`model`]: one connection's relative sequence, acknowledgment and IP ID numbers. Pure.
//! - [`narrate`]: `--explain`, each socket call as strace prints it and what the kernel does. Pure.
//! - [`sys`]: the socket calls themselves, through libc, recorded for the narration.
//! - [`session`]: the `poll()` loop that runs a dialogue.
//! - [`verify`]: `--verify`, the connections captured on `lo` and checked against the model.

pub mod framing;
pub mod model;
pub mod narrate;
pub mod session;
pub mod sys;
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
