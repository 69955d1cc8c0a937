//! One file per subcommand. Each parses its own arguments (clap) and renders into the writer that
//! `main` gives it; sockets, capture and files are opened here, never in the library.

pub mod client;
pub mod client_stack;
pub mod decode;
pub mod demo;
pub mod demo_states;
pub mod demo_udp;
pub mod http;
pub mod json_lines;
pub mod lab;
pub mod server;
pub mod show;
pub mod show_send;
pub mod sniff;
pub mod sockets;
pub mod verify;
pub mod verify_path;

/// An error in what the user asked for (a bad address, flag letter or size).
///
/// Every error ends a command with [`TROUBLE`]; this type only says that the user can fix it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// How the one-line view shows each frame's time: as tcpdump, in the local time zone (`TZ`).
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct TimeFlags {
    /// Show times in UTC, not in the local time zone.
    #[arg(long)]
    pub utc: bool,
    /// -tttt: the date before the time of day, as tcpdump -tttt (other counts of -t are not
    /// supported).
    #[arg(short = 't', action = clap::ArgAction::Count)]
    pub t: u8,
}

extern "C" {
    /// POSIX `tzset()` (the libc crate does not declare it on Linux): reads `TZ` once, for
    /// `localtime_r`, which need not.
    fn tzset();
}

impl TimeFlags {
    /// Whether to show the date (`-tttt`).
    ///
    /// # Errors
    /// A count of `-t` other than 4.
    pub fn date(&self) -> Result<bool, UsageError> {
        match self.t {
            0 => Ok(false),
            4 => Ok(true),
            n => Err(UsageError(format!(
                "-{}: only -tttt (the date and the time) is supported",
                "t".repeat(usize::from(n))
            ))),
        }
    }

    /// The clock's offset east of UTC at `t` (since the epoch): 0 with `--utc`, else the local
    /// time zone's (`TZ`, `/etc/localtime`), with its daylight saving time at that moment.
    #[must_use]
    pub fn offset_at(&self, t: std::time::Duration) -> i32 {
        static TZSET: std::sync::Once = std::sync::Once::new();
        if self.utc {
            return 0;
        }
        // SAFETY: tzset has no preconditions; Once runs it before any localtime_r here.
        TZSET.call_once(|| unsafe { tzset() });
        let Ok(secs) = libc::time_t::try_from(t.as_secs()) else {
            return 0;
        };
        // SAFETY: an all-zero tm is valid; localtime_r writes it and reads `secs`, both live.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        if unsafe { libc::localtime_r(&secs, &mut tm) }.is_null() {
            return 0;
        }
        i32::try_from(tm.tm_gmtoff).unwrap_or(0)
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

/// The exit status of every command that ends with an error (bad arguments, an unreadable file,
/// a device that is not up, a failed connection), as clap's own for bad arguments; 1 is kept
/// for a finding (a MISMATCH), 0 for success: one rule for every command (README).
pub const TROUBLE: u8 = 2;

/// Files larger than this get a progress bar when stderr is a terminal.
const PROGRESS_MIN_BYTES: u64 = 64 * 1024 * 1024;

/// A progress bar over a file of `size` bytes, on standard error when it is a terminal and the
/// file is large (decode and verify read them as fast as they can, but a gigabyte takes a while).
pub fn progress_bar(size: u64) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    (std::io::stderr().is_terminal() && size >= PROGRESS_MIN_BYTES).then(|| {
        let bar = indicatif::ProgressBar::new(size);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    })
}
