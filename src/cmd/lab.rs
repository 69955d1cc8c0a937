//! `encap lab`: two hosts and a router in network namespaces (`up`, `down`, `status`, `exec`), and
//! the chat across them with both links captured (`demo`). The backend is [`crate::lab`].

use std::os::unix::process::CommandExt;
use std::process::ExitCode;

use anyhow::Context;
use termcolor::WriteColor;

use crate::lab::{self, Host, Kind, Lab, LINKS};

/// The `encap lab` subcommands.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: LabCommand,
}

/// What `encap lab` does.
#[derive(Debug, clap::Subcommand)]
pub enum LabCommand {
    /// Make the lab and leave it (namespaces a, r, b; links a-r, r-b), for `lab exec`. Removes a
    /// lab left before.
    Up(UpArgs),
    /// Remove the lab `up` made and any a killed run left.
    Down,
    /// Show the labs recorded and what of them exists.
    Status,
    /// Run a program inside a host's namespace of the lab `up` made, as `ip netns exec` does:
    /// `encap lab exec a -- ping -c1 198.51.100.10`.
    Exec {
        /// The host: a, r or b.
        #[arg(value_enum)]
        host: Host,
        /// The program and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// The blog's dialogue from a client in a to a server in b across r, over kernel sockets,
    /// both links captured: each message through the pipeline, the frames on each link, and
    /// what r changed in each frame it forwarded.
    Demo(lab::demo::Args),
    /// A scripted TCP peer in a (not Linux: no DF, IP ID 0, its own options) driving one
    /// behaviour of b's kernel on purpose (slow start, fast retransmit with SACK, RTO backoff,
    /// zero-window probes, RST and FIN in each state), b's veth recorded into a pcap.
    Peer(lab::peer::Args),
}

/// Arguments of `encap lab up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// How the lab is built.
    #[command(flatten)]
    pub lab: lab::Options,
    /// Leave a's kernel without a's IPv4 and global IPv6 addresses and routes, for encap's own
    /// endpoint there: `encap lab exec a -- encap client --stack encap -i a-r --source
    /// 192.0.2.10/24 --gateway 192.0.2.1 --connect 198.51.100.10:6666`.
    #[arg(long)]
    pub bare_a: bool,
}

/// Runs `encap lab ...`.
///
/// # Errors
/// Not root, a command that failed, or output.
pub fn run<W: WriteColor>(args: &Args, out: &mut W) -> anyhow::Result<ExitCode> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        anyhow::bail!(
            "encap lab makes network namespaces and veth links: it needs root (run it with sudo)"
        );
    }
    crate::capture::stop_on_signals().context("cannot install the SIGINT/SIGTERM handlers")?;
    match &args.command {
        LabCommand::Up(up_args) => {
            let mut opts = up_args.lab;
            opts.bare_a = up_args.bare_a;
            up(&opts, out)
        }
        LabCommand::Down => {
            let done = lab::remove_stale()?;
            if done.is_empty() {
                writeln!(out, "no lab to remove")?;
            }
            for line in done {
                writeln!(out, "{line}")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Status => status(out),
        LabCommand::Exec { host, command } => exec(*host, command),
        LabCommand::Demo(demo) => lab::demo::run(demo, out),
        LabCommand::Peer(peer) => lab::peer::run(peer, out),
    }
}

fn up<W: WriteColor>(opts: &lab::Options, out: &mut W) -> anyhow::Result<ExitCode> {
    for line in lab::remove_stale()? {
        writeln!(out, "{line} (left before)")?;
    }
    let made = Lab::create(opts, Kind::Kept)?;
    writeln!(
        out,
        "lab {} is up: namespaces {}",
        made.id,
        made.ns.join(", ")
    )?;
    for (i, link) in LINKS.iter().enumerate() {
        let [host_mac, router_mac] = made.macs[i];
        writeln!(
            out,
            "  link {}: {} {} {} {}/24 {}/64  <->  {} {} {} {}/24 {}/64",
            link.name,
            link.host.host.letter(),
            link.host.dev,
            encap::layers::ethernet::mac_to_string(&host_mac),
            link.host.ipv4,
            link.host.ipv6,
            link.router.host.letter(),
            link.router.dev,
            encap::layers::ethernet::mac_to_string(&router_mac),
            link.router.ipv4,
            link.router.ipv6,
        )?;
    }
    if opts.bare_a {
        writeln!(out, "  a's kernel has no IPv4 address on a-r and no routes, and IPv6 off (--bare-a): 192.0.2.10 is free for encap's own endpoint (encap client --stack encap)")?;
    }
    writeln!(out, "  forwarding on r; default routes via r in a and b; offload {:?}; MTU 1500 on a-r, {} on r-b at r (1500 at b)", opts.offload, opts.mtu_b)?;
    writeln!(out, "run programs in it with `encap lab exec a|r|b -- COMMAND...`; remove it with `encap lab down`")?;
    made.keep();
    Ok(ExitCode::SUCCESS)
}

fn status<W: WriteColor>(out: &mut W) -> anyhow::Result<ExitCode> {
    let labs = lab::recorded()?;
    if labs.is_empty() {
        writeln!(out, "no lab")?;
    }
    for l in &labs {
        let kind = match l.kind {
            Kind::Kept => "kept (encap lab up)".to_string(),
            Kind::Run if l.owner_alive() => format!("a run's, process {} running", l.owner),
            Kind::Run => format!(
                "a run's, process {} gone: `encap lab down` removes it",
                l.owner
            ),
        };
        writeln!(
            out,
            "{}: {kind}; namespaces present: {}",
            l.path.display(),
            l.existing().join(", ")
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Enters `host`'s namespace on this (the only) thread and replaces the process with `command`.
fn exec(host: Host, command: &[String]) -> anyhow::Result<ExitCode> {
    let found = lab::kept()?.context("no lab is up: run `encap lab up` first")?;
    let ns = found
        .ns(host)
        .with_context(|| {
            format!(
                "the lab {} has no namespace for {}",
                found.path.display(),
                host.letter()
            )
        })?
        .to_string();
    lab::enter(&ns)?;
    let (program, rest) = command.split_first().context("no command given after --")?;
    let err = std::process::Command::new(program).args(rest).exec();
    Err(err).with_context(|| format!("cannot run {program} in {ns}"))
}
