//! The `encap` command line: one thin file per subcommand under `cmd/`.

mod capture;
mod chat;
mod cmd;
mod lab;
mod packet_edge;

use std::io::{self, IsTerminal};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use termcolor::{ColorChoice, StandardStream};

/// See a chat message pass through TCP, IPv4 and Ethernet II, byte by byte.
#[derive(Debug, Parser)]
#[command(
    name = "encap",
    version,
    about,
    max_term_width = 100,
    after_help = "Exit status, for every command: 0 success; 1 a finding (a field that is a \
MISMATCH: verify, demo, and server or client with --verify; in demo also socket states that \
differ from the model's); 2 trouble (bad arguments, a file \
that cannot be read, a device that is not up, no server listening, a connection that failed)."
)]
struct Cli {
    /// When to colour output: auto (only on a terminal, and not with NO_COLOR set), always, never.
    #[arg(long, value_enum, default_value_t = ColorWhen::Auto, global = true)]
    color: ColorWhen,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ColorWhen {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show one message passing through the pipeline: payload, TCP, IPv4, Ethernet II (offline).
    Show(cmd::show::Args),
    /// Chat server on a real kernel TCP socket: many clients, each message shown through the pipeline.
    Server(cmd::server::Args),
    /// Chat client on a real kernel TCP socket (start `encap server` first).
    Client(cmd::client::Args),
    /// Live capture from an interface (default lo, port 6666), each frame decoded; needs CAP_NET_RAW.
    Sniff(cmd::sniff::Args),
    /// Decode a pcap or pcapng file frame by frame, as tcpdump -r or tshark -r would (`encap -r
    /// FILE` is the same; `-` reads standard input).
    Decode(cmd::decode::Args),
    /// Check every frame of a capture against the model's prediction, field by field. Exit
    /// status 0: every frame checked as the model said (frames it does not cover are listed,
    /// and do not fail); 1: a MISMATCH; 2: trouble (the file, the arguments, nothing to check).
    Verify(cmd::verify::Args),
    /// The whole story in one command: chat on lo, each message through the pipeline, every frame
    /// the kernel sends checked against the model, the ladder and a summary.
    Demo(cmd::demo::Args),
    /// Two hosts and a router in network namespaces, joined by veth links (root): `up`, `down`,
    /// `status`, `exec a|r|b -- COMMAND...`, and `demo`, the chat across them with both links captured.
    Lab(cmd::lab::Args),
    /// A small HTTP client on a kernel socket (loopback only): the request and the response, each
    /// as the application stage and through the pipeline.
    Http(cmd::http::Args),
    /// The kernel's TCP sockets as `ss -tan` shows them (state, queues, addresses), read through
    /// sock_diag netlink.
    Sockets(cmd::sockets::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(tcpdump_read(std::env::args_os().collect()));
    let choice = match cli.color {
        ColorWhen::Always => ColorChoice::Always,
        ColorWhen::Never => ColorChoice::Never,
        ColorWhen::Auto => {
            // no-color.org: NO_COLOR counts when set and not empty (termcolor's own Auto
            // would take an empty one too), and a dumb terminal gets no colour either.
            if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
                || !io::stdout().is_terminal()
                || std::env::var_os("TERM").is_some_and(|t| t == "dumb")
            {
                ColorChoice::Never
            } else {
                ColorChoice::Always
            }
        }
    };
    let mut out = StandardStream::stdout(choice);
    let result = match cli.command {
        Command::Show(args) => cmd::show::run(&args, &mut out),
        Command::Server(args) => cmd::server::run(&args, &mut out),
        Command::Client(args) => cmd::client::run(&args, &mut out),
        Command::Sniff(args) => cmd::sniff::run(&args, &mut out),
        // A file is checked as fast as it reads, as decode's: buffered output.
        Command::Verify(args) => cmd::verify::run(
            &args,
            &mut termcolor::BufferedStandardStream::stdout(choice),
        ),
        Command::Demo(args) => cmd::demo::run(&args, &mut out),
        Command::Lab(args) => cmd::lab::run(&args, &mut out),
        Command::Http(args) => cmd::http::run(&args, &mut out),
        Command::Sockets(args) => cmd::sockets::run(&args, &mut out),
        // A file is decoded as fast as it reads: buffer the output instead of flushing each line.
        Command::Decode(args) => cmd::decode::run(
            &args,
            &mut termcolor::BufferedStandardStream::stdout(choice),
        ),
    };
    match result {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("encap: error: {err:#}");
            ExitCode::from(cmd::TROUBLE)
        }
    }
}

/// `encap -r FILE ...`, as tcpdump and tshark read a file, is `encap decode FILE ...`: the `-r`
/// that comes where the subcommand would (after any `--color`) becomes `decode`.
fn tcpdump_read(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut i = 1;
    while let Some(a) = args.get(i) {
        if a == "--color" {
            i += 2;
        } else if a.to_str().is_some_and(|a| a.starts_with("--color=")) {
            i += 1;
        } else {
            break;
        }
    }
    if args.get(i).is_some_and(|a| a == "-r") {
        args[i] = "decode".into();
    }
    args
}

/// `encap ... | head` closes the pipe early: that is success, not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}
