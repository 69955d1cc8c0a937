//! One file per subcommand. Each parses its own arguments (clap) and renders into the writer that
//! `main` gives it; sockets, capture and files are opened here, never in the library.

pub mod client;
pub mod decode;
pub mod demo;
pub mod lab;
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

/// Creates `path` and writes it through a buffer with `write`: the one way the commands put a figure
/// or a page in a file.
///
/// # Errors
/// The file cannot be created or written; the error names it.
pub fn write_file(
    path: &std::path::Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    write(&mut w)
        .and_then(|()| w.flush())
        .with_context(|| format!("writing {}", path.display()))
}
