//! The lab: two hosts and a router in network namespaces, host `a` -- router `r` -- host `b`,
//! joined by two veth pairs. The backend behind `encap lab`.
//!
//! ```text
//!   ns a                      ns r                      ns b
//!  [a-r] 192.0.2.10 ---- 192.0.2.1 [r-a]  [r-b] 198.51.100.1 ---- 198.51.100.10 [b-r]
//!        2001:db8:a::10   2001:db8:a::1     2001:db8:b::1     2001:db8:b::10
//! ```
//!
//! The namespaces and links are made by iproute2 (`ip netns add`, `ip -n NS link add ... type veth
//! peer ... netns OTHER`) and the offloads turned off by `ethtool -K`, run as child processes:
//! every step is one command a reader can run by hand and find in the error, each one's result is
//! the kernel's own answer, and no netlink message layout has to be written and kept here. Each
//! veth pair is made inside a host's namespace with its peer put straight into the router's, so
//! nothing is ever created in the root namespace. The sysctls (forwarding) are written from a thread
//! that entered `r` (`setns(2)` moves only the calling thread, so the process's other threads stay
//! where they are).
//!
//! Every lab is recorded in a state file under [`STATE_DIR`] before its first namespace exists, so
//! `encap lab down`, or the next `encap lab up`, removes what a killed run left. A [`Lab`] removes
//! its namespaces (and so its veths) when dropped, unless it was kept (`encap lab up`).
//!
//! This lives in the binary, not the library: it runs programs and changes the system.

pub mod demo;
pub mod peer;
pub mod stack;

use std::fmt::Write as _;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use encap::layers::ethernet::{mac_to_string, Mac};

/// Where labs are recorded, one file each.
pub const STATE_DIR: &str = "/run/encap-lab";
/// Where iproute2 keeps the named namespaces it mounts.
const NETNS_DIR: &str = "/run/netns";

/// One of the three machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Host {
    /// Host a, the client's side.
    A,
    /// The router between the two links.
    R,
    /// Host b, the server's side.
    B,
}

impl Host {
    /// The three, in order.
    pub const ALL: [Host; 3] = [Host::A, Host::R, Host::B];

    /// Its letter.
    pub fn letter(self) -> &'static str {
        match self {
            Host::A => "a",
            Host::R => "r",
            Host::B => "b",
        }
    }
}

/// One end of a veth pair: the namespace it lives in, its name there, its fixed MAC and addresses.
#[derive(Debug, Clone, Copy)]
pub struct End {
    /// The machine.
    pub host: Host,
    /// The interface's name inside the machine's namespace.
    pub dev: &'static str,
    /// The locally administered MAC it is given (unless `--random-macs`).
    pub mac: Mac,
    /// Its IPv4 address (a /24).
    pub ipv4: Ipv4Addr,
    /// Its IPv6 address (a /64).
    pub ipv6: Ipv6Addr,
}

/// One link: a veth pair, host end first, router end second.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    /// Its name, `a-r` or `r-b`.
    pub name: &'static str,
    /// The end in the host's namespace.
    pub host: End,
    /// The end in the router's namespace.
    pub router: End,
}

/// The two links, a-r then r-b: documentation addresses only (RFC 5737, RFC 3849).
pub const LINKS: [Link; 2] = [
    Link {
        name: "a-r",
        host: End {
            host: Host::A,
            dev: "a-r",
            mac: [0x02, 0, 0, 0, 0x0a, 0x01],
            ipv4: Ipv4Addr::new(192, 0, 2, 10),
            ipv6: Ipv6Addr::new(0x2001, 0xdb8, 0xa, 0, 0, 0, 0, 0x10),
        },
        router: End {
            host: Host::R,
            dev: "r-a",
            mac: [0x02, 0, 0, 0, 0x0a, 0x02],
            ipv4: Ipv4Addr::new(192, 0, 2, 1),
            ipv6: Ipv6Addr::new(0x2001, 0xdb8, 0xa, 0, 0, 0, 0, 0x1),
        },
    },
    Link {
        name: "r-b",
        host: End {
            host: Host::B,
            dev: "b-r",
            mac: [0x02, 0, 0, 0, 0x0b, 0x01],
            ipv4: Ipv4Addr::new(198, 51, 100, 10),
            ipv6: Ipv6Addr::new(0x2001, 0xdb8, 0xb, 0, 0, 0, 0, 0x10),
        },
        router: End {
            host: Host::R,
            dev: "r-b",
            mac: [0x02, 0, 0, 0, 0x0b, 0x02],
            ipv4: Ipv4Addr::new(198, 51, 100, 1),
            ipv6: Ipv6Addr::new(0x2001, 0xdb8, 0xb, 0, 0, 0, 0, 0x1),
        },
    },
];

/// How a lab is built.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Options {
    /// Let the kernel draw the MACs instead of the fixed 02:00:00:00:0a:01 ... ones.
    #[arg(long)]
    pub random_macs: bool,
    /// The MTU of r's end of the second link (r-b); b's end and link a-r keep 1500. b still
    /// announces MSS 1460, so a sends full-size packets that r cannot forward with DF set: r
    /// answers each with ICMP "fragmentation needed" (ICMPv6 "packet too big"), next-hop MTU N,
    /// and a's kernel lowers its path MTU.
    #[arg(long, value_name = "N", default_value_t = 1500, value_parser = clap::value_parser!(u32).range(1280..=1500))]
    pub mtu_b: u32,
    /// Tx checksumming, TSO and GSO on every veth: `on` (veth's default: partial TCP checksums,
    /// segments larger than the MTU) or `off` (full checksums, segments cut at the MSS).
    #[arg(long, value_enum, default_value_t = Offload::On)]
    pub offload: Offload,
    /// Leave a's kernel without IPv4 and global IPv6 addresses and routes, for encap's own
    /// endpoint there (`lab demo --stack encap`): a's kernel then neither answers ARP for a's
    /// address nor resets the connection's segments.
    #[arg(skip)]
    pub bare_a: bool,
}

/// The offload setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Offload {
    /// veth's default.
    On,
    /// `ethtool -K DEV tx off tso off gso off` on every veth.
    Off,
}

/// What a lab is for, which says when `down` may remove it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Made by `encap lab up`: stays until `encap lab down`.
    Kept,
    /// Made by one run (`encap lab demo`): removed by that run, or by `down` once its process died.
    Run,
}

/// A lab that exists: its namespaces, removed when dropped unless kept.
#[derive(Debug)]
pub struct Lab {
    /// The run's unique prefix, `encap-PID`.
    pub id: String,
    /// The namespace names of a, r and b.
    pub ns: [String; 3],
    /// The MACs really in use, by link then host end / router end.
    pub macs: [[Mac; 2]; 2],
    kind: Kind,
    removed: bool,
    /// Keeps the kernel stamping frames while the lab lives
    /// ([`crate::capture::kernel_timestamps_on`]; none if it failed: then stamps may be late).
    _stamps: Option<std::os::fd::OwnedFd>,
}

impl Lab {
    /// The namespace of `host`.
    pub fn ns(&self, host: Host) -> &str {
        &self.ns[host as usize]
    }

    /// Builds a lab: records it, then makes the namespaces, links, addresses and routes. On any
    /// error what was made is removed before the error returns.
    ///
    /// # Errors
    /// A command that failed (named with its arguments and its stderr), or the state file.
    pub fn create(opts: &Options, kind: Kind) -> anyhow::Result<Lab> {
        let id = format!("encap-{}", std::process::id());
        let ns = Host::ALL.map(|h| format!("{id}-{}", h.letter()));
        let mut lab = Lab {
            id,
            ns,
            macs: LINKS.map(|l| [l.host.mac, l.router.mac]),
            kind,
            removed: false,
            _stamps: crate::capture::kernel_timestamps_on().ok(),
        };
        lab.record()?;
        lab.build(opts)?;
        if opts.random_macs {
            for (i, link) in LINKS.iter().enumerate() {
                lab.macs[i] = [
                    read_mac(lab.ns(link.host.host), link.host.dev)?,
                    read_mac(lab.ns(link.router.host), link.router.dev)?,
                ];
            }
        }
        Ok(lab)
    }

    /// Leaves the lab in place when dropped (`encap lab up`).
    pub fn keep(mut self) {
        self.removed = true;
    }

    fn state_file(&self) -> PathBuf {
        Path::new(STATE_DIR).join(format!("{}.lab", self.id))
    }

    /// Writes the state file before anything exists, so a kill at any later point leaves a record.
    fn record(&self) -> anyhow::Result<()> {
        fs::create_dir_all(STATE_DIR).with_context(|| format!("cannot create {STATE_DIR}"))?;
        let mut text = String::new();
        let kind = match self.kind {
            Kind::Kept => "kept",
            Kind::Run => "run",
        };
        let _ = writeln!(text, "kind {kind}\nowner {}", std::process::id());
        for ns in &self.ns {
            let _ = writeln!(text, "ns {ns}");
        }
        let path = self.state_file();
        fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
    }

    /// The commands that make the lab, in order; removes what was made if one fails or a stop
    /// signal came.
    fn build(&mut self, opts: &Options) -> anyhow::Result<()> {
        let result = self.build_steps(opts);
        if result.is_err() {
            self.remove_now();
        }
        result
    }

    fn build_steps(&self, opts: &Options) -> anyhow::Result<()> {
        for ns in &self.ns {
            ip(&["netns", "add", ns])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            // No duplicate address detection on the link-local addresses either (the global ones
            // get `nodad`): while r's fe80:: address is tentative it cannot ask for b's MAC, and
            // the first SYN would wait a second and be sent again.
            sysctl(
                ns,
                &["ipv6/conf/all/accept_dad", "ipv6/conf/default/accept_dad"],
                "0",
            )?;
        }
        if opts.bare_a {
            // No IPv6 on a's kernel either: it would send MLD reports and router solicitations
            // from a's MAC, frames that are not encap's.
            sysctl(
                self.ns(Host::A),
                &[
                    "ipv6/conf/all/disable_ipv6",
                    "ipv6/conf/default/disable_ipv6",
                ],
                "1",
            )?;
        }
        for (i, link) in LINKS.iter().enumerate() {
            stop_check()?;
            // Only r's end of r-b is narrower: b's end keeps 1500, so b's SYN-ACK still says
            // MSS 1460 and the narrow hop is found by path-MTU discovery, as one beyond a router
            // is on a real path. (A veth drops what its receiving end's MTU cannot take, so b
            // must not send r more than N bytes: the demo's b writes only short lines.)
            let mtu = "1500".to_string();
            let router_mtu = if i == 0 { 1500 } else { opts.mtu_b }.to_string();
            let (host_ns, router_ns) = (self.ns(link.host.host), self.ns(link.router.host));
            let (host_mac, router_mac) = (
                mac_to_string(&link.host.mac),
                mac_to_string(&link.router.mac),
            );
            let mut add = vec!["-n", host_ns, "link", "add", link.host.dev, "mtu", &mtu];
            if !opts.random_macs {
                add.extend(["address", &host_mac]);
            }
            add.extend(["type", "veth", "peer", "name", link.router.dev]);
            add.extend(["mtu", &router_mtu]);
            if !opts.random_macs {
                add.extend(["address", &router_mac]);
            }
            add.extend(["netns", router_ns]);
            ip(&add)?;
            let bare = |end: &End| opts.bare_a && end.host == Host::A;
            for end in [link.host, link.router] {
                configure_end(self.ns(end.host), &end, opts.offload, !bare(&end))?;
            }
            if bare(&link.host) {
                continue;
            }
            let gateway = link.router;
            ip(&[
                "-n",
                host_ns,
                "route",
                "add",
                "default",
                "via",
                &gateway.ipv4.to_string(),
            ])?;
            ip(&[
                "-n",
                host_ns,
                "-6",
                "route",
                "add",
                "default",
                "via",
                &gateway.ipv6.to_string(),
            ])?;
        }
        for link in LINKS {
            for end in [link.host, link.router] {
                wait_until_up(self.ns(end.host), end.dev)?;
            }
        }
        sysctl(
            self.ns(Host::R),
            &["ipv4/ip_forward", "ipv6/conf/all/forwarding"],
            "1",
        )?;
        stop_check()
    }

    /// Removes the namespaces (their veths go with them) and the state file; errors are printed,
    /// as there is nothing else to do with them at this point.
    fn remove_now(&mut self) {
        if self.removed {
            return;
        }
        self.removed = true;
        for ns in &self.ns {
            if Path::new(NETNS_DIR).join(ns).exists() {
                if let Err(e) = ip(&["netns", "delete", ns]) {
                    eprintln!("encap: error: removing the lab: {e:#}");
                }
            }
        }
        let _ = fs::remove_file(self.state_file());
    }

    /// Removes the lab now (the same as dropping it, but reads better at the end of a run).
    pub fn remove(mut self) {
        self.remove_now();
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.remove_now();
    }
}

/// Writes `value` to each of `keys` under /proc/sys/net, from a thread inside `ns` (the files there
/// are that namespace's).
fn sysctl(ns: &str, keys: &[&'static str], value: &'static str) -> anyhow::Result<()> {
    let keys = keys.to_vec();
    let name = ns.to_string();
    in_namespace(ns, move || {
        for key in keys {
            let path = format!("/proc/sys/net/{key}");
            fs::write(&path, value)
                .with_context(|| format!("cannot write {value} to {path} in {name}"))?;
        }
        Ok(())
    })
}

/// Up, addresses, and the offloads for one veth end.
/// Without `addresses` the end gets none (but the link-local IPv6 address the kernel gives it).
fn configure_end(ns: &str, end: &End, offload: Offload, addresses: bool) -> anyhow::Result<()> {
    if addresses {
        let v4 = format!("{}/24", end.ipv4);
        let v6 = format!("{}/64", end.ipv6);
        ip(&["-n", ns, "addr", "add", &v4, "dev", end.dev])?;
        ip(&["-n", ns, "-6", "addr", "add", &v6, "dev", end.dev, "nodad"])?;
    }
    if offload == Offload::Off {
        run(Command::new("ip")
            .args(["netns", "exec", ns, "ethtool", "-K", end.dev])
            .args(["tx", "off", "tso", "off", "gso", "off"]))?;
    }
    ip(&["-n", ns, "link", "set", end.dev, "up"]).map(drop)
}

/// Waits until the kernel reports `dev` in `ns` operationally up. A veth's carrier comes on when
/// both ends are up, but the kernel applies it later, from its link-watch work (up to a second):
/// until then the device has no queue and drops what it is given (a first ARP or neighbour
/// solicitation lost, the SYN a second late). Bounded: an error after five seconds.
fn wait_until_up(ns: &str, dev: &str) -> anyhow::Result<()> {
    const TRIES: u32 = 250;
    for _ in 0..TRIES {
        stop_check()?;
        let shown = ip(&["-n", ns, "-o", "link", "show", "dev", dev])?;
        if shown.contains(" state UP ") {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    bail!("{dev} in {ns} is not operationally up after 5 s (`ip -n {ns} link show dev {dev}`)")
}

/// The MAC of `dev` in `ns`, as `ip -br link` prints it.
fn read_mac(ns: &str, dev: &str) -> anyhow::Result<Mac> {
    let out = run(Command::new("ip").args(["-n", ns, "-br", "link", "show", "dev", dev]))?;
    let field = out.split_whitespace().nth(2).unwrap_or_default();
    encap::layers::ethernet::parse_mac(field)
        .map_err(|e| anyhow::anyhow!("the MAC of {dev} in {ns}: {e} (ip printed {out:?})"))
}

/// Runs `ip ARGS...`.
fn ip(args: &[&str]) -> anyhow::Result<String> {
    run(Command::new("ip").args(args))
}

/// Runs a command to completion; its stdout, or an error naming it and carrying its stderr.
fn run(cmd: &mut Command) -> anyhow::Result<String> {
    let shown = format!(
        "{} {}",
        cmd.get_program().to_string_lossy(),
        cmd.get_args()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let out = cmd
        .output()
        .with_context(|| format!("cannot run `{shown}` (is iproute2/ethtool installed?)"))?;
    if !out.status.success() {
        bail!(
            "`{shown}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// An error once SIGINT or SIGTERM came, so a build stops between steps.
fn stop_check() -> anyhow::Result<()> {
    if crate::capture::stop_requested() {
        bail!("interrupted (SIGINT or SIGTERM): the lab is removed");
    }
    Ok(())
}

/// Moves the calling thread into the network namespace `ns` (`setns(2)`, this thread only).
///
/// # Errors
/// The namespace does not exist, or `setns` failed.
pub fn enter(ns: &str) -> anyhow::Result<()> {
    let path = Path::new(NETNS_DIR).join(ns);
    let file = fs::File::open(&path).with_context(|| {
        format!(
            "no network namespace {ns} ({} cannot be opened)",
            path.display()
        )
    })?;
    // SAFETY: setns on an open namespace descriptor; it changes only this thread's namespace.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == -1 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("setns into the network namespace {ns}"));
    }
    Ok(())
}

/// Runs `f` on a new thread inside the namespace `ns` and returns its result: sockets it opens
/// stay in `ns` wherever they are used afterwards.
///
/// # Errors
/// Entering the namespace, or `f`'s error.
pub fn in_namespace<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        enter(&ns)?;
        f()
    })
    .join()
    .map_err(|_| anyhow::anyhow!("a thread in a lab namespace panicked"))?
}

/// A lab found in [`STATE_DIR`].
#[derive(Debug)]
pub struct Recorded {
    /// The state file.
    pub path: PathBuf,
    /// Kept (`up`) or one run's.
    pub kind: Kind,
    /// The process that made it.
    pub owner: u32,
    /// Its namespaces, a, r, b.
    pub ns: Vec<String>,
}

impl Recorded {
    /// True when the process that made it still runs (a `Run` lab then belongs to it).
    pub fn owner_alive(&self) -> bool {
        // SAFETY: kill with signal 0 only checks that the process exists.
        self.owner != 0 && unsafe { libc::kill(self.owner as libc::pid_t, 0) } == 0
    }

    /// The namespaces of it that exist now.
    pub fn existing(&self) -> Vec<&str> {
        self.ns
            .iter()
            .filter(|n| Path::new(NETNS_DIR).join(n).exists())
            .map(String::as_str)
            .collect()
    }

    /// The namespace of `host`.
    pub fn ns(&self, host: Host) -> Option<&str> {
        self.ns.get(host as usize).map(String::as_str)
    }
}

/// Every lab recorded, oldest state file name first.
///
/// # Errors
/// The directory cannot be read.
pub fn recorded() -> anyhow::Result<Vec<Recorded>> {
    let dir = match fs::read_dir(STATE_DIR) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {STATE_DIR}")),
    };
    let mut labs = Vec::new();
    for entry in dir {
        let path = entry
            .with_context(|| format!("cannot read {STATE_DIR}"))?
            .path();
        if path.extension() != Some(std::ffi::OsStr::new("lab")) {
            continue;
        }
        let text =
            fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut lab = Recorded {
            path,
            kind: Kind::Run,
            owner: 0,
            ns: Vec::new(),
        };
        for line in text.lines() {
            match line.split_once(' ') {
                Some(("kind", "kept")) => lab.kind = Kind::Kept,
                Some(("owner", pid)) => lab.owner = pid.parse().unwrap_or(0),
                // Only names this program makes are ever deleted, whatever the file says.
                Some(("ns", ns)) if ns.starts_with("encap-") && !ns.contains('/') => {
                    lab.ns.push(ns.to_string());
                }
                _ => {}
            }
        }
        labs.push(lab);
    }
    labs.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(labs)
}

/// Removes every kept lab and every run's lab whose process is gone; returns what it removed, one
/// line each. A running `encap lab demo` keeps its lab.
///
/// # Errors
/// A namespace that could not be deleted, or the state directory.
pub fn remove_stale() -> anyhow::Result<Vec<String>> {
    let mut done = Vec::new();
    for lab in recorded()? {
        if lab.kind == Kind::Run && lab.owner_alive() && lab.owner != std::process::id() {
            continue;
        }
        for ns in lab.existing() {
            ip(&["netns", "delete", ns])?;
            done.push(format!("removed the network namespace {ns}"));
        }
        fs::remove_file(&lab.path)
            .with_context(|| format!("cannot remove {}", lab.path.display()))?;
    }
    Ok(done)
}

/// The kept lab (`encap lab up`), if there is one.
///
/// # Errors
/// The state directory cannot be read.
pub fn kept() -> anyhow::Result<Option<Recorded>> {
    Ok(recorded()?.into_iter().rev().find(|l| l.kind == Kind::Kept))
}

/// The address of `host`'s end on its link (for `r`, the end on a-r), by family.
pub fn address(host: Host, ipv6: bool) -> IpAddr {
    let end = match host {
        Host::A => LINKS[0].host,
        Host::R => LINKS[0].router,
        Host::B => LINKS[1].host,
    };
    if ipv6 {
        IpAddr::V6(end.ipv6)
    } else {
        IpAddr::V4(end.ipv4)
    }
}

/// The state Linux shows for a listening socket in `/proc/net/tcp` (`TCP_LISTEN`).
pub const TCP_LISTEN: u8 = 0x0A;

/// The states (`/proc/net/tcp`'s `st` column: 01 ESTABLISHED, 03 SYN_RECV, 05 FIN_WAIT2, 08
/// CLOSE_WAIT, 0A LISTEN ...) of the TCP sockets in `ns` whose local port is `port`, IPv4's and
/// then IPv6's, read on a thread inside `ns` from `/proc/thread-self/net/tcp` and `tcp6` (absent
/// where IPv6 is off).
///
/// # Errors
/// Entering the namespace or reading the IPv4 table.
pub fn tcp_states(ns: &str, port: u16) -> anyhow::Result<Vec<u8>> {
    let name = ns.to_string();
    let table = in_namespace(ns, move || {
        let v4 = fs::read_to_string("/proc/thread-self/net/tcp")
            .with_context(|| format!("reading the TCP sockets of {name}"))?;
        Ok(v4 + &fs::read_to_string("/proc/thread-self/net/tcp6").unwrap_or_default())
    })?;
    let port = format!(":{port:04X}");
    Ok(table
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let st = u8::from_str_radix(f.get(3)?, 16).ok()?;
            f.get(1)?.ends_with(&port).then_some(st)
        })
        .collect())
}

/// Ends a program this run started in a namespace: a second for it to end by itself, then a
/// SIGTERM to its pid; its exit status.
///
/// # Errors
/// Waiting for it failed.
pub fn end_child(child: &mut std::process::Child) -> std::io::Result<std::process::ExitStatus> {
    for _ in 0..50 {
        if child.try_wait()?.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    if child.try_wait()?.is_none() {
        // SAFETY: kill has no memory-safety preconditions; the pid is our own child's.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    }
    child.wait()
}

/// Kills a program this run started, if it still runs (on an early exit: an error, Ctrl-C).
pub fn kill_child(child: &mut std::process::Child) {
    if let Ok(None) = child.try_wait() {
        let _ = child.kill();
        let _ = child.wait();
    }
}
