//! Live capture from a network interface: the backend behind `encap sniff`.
//!
//! encap opens the `AF_PACKET` socket itself and configures it before pnet's datalink channel takes
//! it over (`Config.socket_fd`), because pnet's defaults do not suit `lo` (LOOPBACK.md, "Capturing
//! it"):
//! - `PACKET_IGNORE_OUTGOING`: the kernel hands a packet socket every `lo` frame twice, once on the
//!   way out and once on the way in; with this option it hands over only the incoming copy, so each
//!   frame is seen once (libpcap drops the outgoing copy in user space instead).
//! - an 8 MB receive buffer (`SO_RCVBUFFORCE` as root, else `SO_RCVBUF` up to `rmem_max`), so a burst
//!   is queued rather than dropped;
//! - a read buffer of [`encap::pcap::SNAPLEN`] bytes: pnet reads with `recvfrom` into a buffer of
//!   `read_buffer_size` bytes and the kernel silently cuts a longer frame to that size (its default
//!   is 4096, and a GSO frame on `lo` is up to 65535 + 14 bytes);
//! - a read timeout, so the loop looks at the stop flag (SIGINT, SIGTERM) at least every 100 ms;
//! - promiscuous mode off (pnet turns it on by default: pointless on `lo`, and a change to the
//!   interface that outlives a crash elsewhere).
//!
//! The kernel's counters come from `getsockopt(PACKET_STATISTICS)`, and each frame's receive time
//! from `ioctl(SIOCGSTAMP)`, the time the kernel stamped on the last frame read.
//!
//! This lives in the binary, not the library: it opens sockets and reads clocks.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pnet_datalink::{Channel, DataLinkReceiver, DataLinkSender, NetworkInterface};

/// `SOL_PACKET` option: do not queue frames this host sends (`linux/if_packet.h`, Linux 4.20).
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
/// `SOL_PACKET` option: read and reset the socket's `struct tpacket_stats`.
const PACKET_STATISTICS: libc::c_int = 6;
/// `SOL_SOCKET` option: set the receive buffer past `net.core.rmem_max` (needs `CAP_NET_ADMIN`).
/// The asm-generic value, which x86 and arm use.
const SO_RCVBUFFORCE: libc::c_int = 33;
/// ioctl: the receive time of the last frame read, as a `struct timeval` (`SIOCGSTAMP_OLD`).
const SIOCGSTAMP: libc::c_ulong = 0x8906;

/// The receive buffer asked of the kernel, in bytes.
pub const RECEIVE_BUFFER: usize = 8 * 1024 * 1024;
/// How long one wait for a frame lasts before the loop looks at the stop flag again.
pub const READ_TIMEOUT: Duration = Duration::from_millis(100);
/// The largest frame read whole. An IPv4 packet is at most 65535 bytes, plus 14 of Ethernet header;
/// this is tcpdump's default snapshot length, the same as the pcap files' snaplen.
pub const READ_BUFFER: usize = encap::pcap::SNAPLEN as usize;

/// `struct tpacket_stats` from `linux/if_packet.h`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct TpacketStats {
    tp_packets: libc::c_uint,
    tp_drops: libc::c_uint,
}

/// What the kernel counted for the socket since it was opened.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct KernelStats {
    /// Frames the socket accepted, queued or dropped ("received by filter" in tcpdump's words).
    pub received: u64,
    /// Frames dropped because the receive buffer was full.
    pub dropped: u64,
}

/// Why a capture could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The process may not open packet sockets.
    #[error(
        "capturing needs the CAP_NET_RAW capability, which this process does not have \
         (socket(AF_PACKET): {cause}).\n\
         Run it as root:\n    sudo {exe} sniff ...\n\
         or grant the capability to the binary once:\n    sudo setcap cap_net_raw+ep {exe}\n\
         (a rebuilt binary loses it: run setcap again after each cargo build)"
    )]
    NoPermission {
        /// The binary to grant the capability to.
        exe: String,
        /// The error from `socket(2)`.
        cause: io::Error,
    },
    /// No interface has that name.
    #[error("there is no interface {name:?}; the interfaces here are: {}", available.join(", "))]
    NoSuchInterface {
        /// The name asked for.
        name: String,
        /// The names of the interfaces that exist.
        available: Vec<String>,
    },
    /// The interface exists but is down (`ip link set NAME up` brings it up).
    #[error("{interface}: that device is not up")]
    NotUp {
        /// The interface.
        interface: String,
    },
    /// The interface does not carry Ethernet II frames (a tun device, a CAN bus...).
    #[error(
        "{interface} carries link type {hatype} ({}), not Ethernet: encap decodes Ethernet II \
         frames only (lo and Ethernet interfaces)",
        hardware_type_name(*hatype)
    )]
    NotEthernet {
        /// The interface.
        interface: String,
        /// Its `ARPHRD_*` hardware type.
        hatype: u16,
    },
    /// A system call failed.
    #[error("{what} on {interface}: {cause}")]
    Os {
        /// What was being done.
        what: &'static str,
        /// The interface.
        interface: String,
        /// The error.
        cause: io::Error,
    },
}

/// One frame as read from the socket.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    /// When the kernel received it, since the Unix epoch.
    pub timestamp: Duration,
    /// The bytes captured: the whole frame unless it was longer than the read buffer.
    pub data: &'a [u8],
}

/// A source of frames: the live socket, or a list of frames in tests.
pub trait FrameSource {
    /// Waits up to [`READ_TIMEOUT`] for the next frame; `Ok(None)` when none came (or a signal
    /// interrupted the wait), so the caller can look at its stop flag.
    ///
    /// # Errors
    /// A socket error other than a timeout or an interruption.
    fn next_frame(&mut self) -> io::Result<Option<Received<'_>>>;

    /// The kernel's counters so far.
    ///
    /// # Errors
    /// A failed `getsockopt`.
    fn kernel_stats(&mut self) -> io::Result<KernelStats>;
}

/// A live capture on one interface.
pub struct Capture {
    interface: String,
    /// The socket, owned by pnet's receiver and sender (closed when both are dropped).
    fd: RawFd,
    rx: Box<dyn DataLinkReceiver>,
    _tx: Box<dyn DataLinkSender>,
    totals: KernelStats,
    receive_buffer: usize,
}

impl Capture {
    /// Opens a capture on `interface`: every frame it receives, each once, promiscuous mode off.
    ///
    /// # Errors
    /// As [`Capture::open_port`].
    pub fn open(interface: &str) -> Result<Capture, CaptureError> {
        Capture::open_port(interface, None)
    }

    /// As [`Capture::open`]; with `port`, the kernel queues only frames that may carry that TCP or
    /// UDP port ([`port_filter`]), so other traffic cannot fill the receive buffer.
    ///
    /// # Errors
    /// [`CaptureError::NoPermission`] without `CAP_NET_RAW`, [`CaptureError::NoSuchInterface`]
    /// for an unknown name, [`CaptureError::Os`] for any other failed call.
    pub fn open_port(interface: &str, port: Option<u16>) -> Result<Capture, CaptureError> {
        Capture::open_program(interface, port.map(port_filter))
    }

    /// As [`Capture::open`], but keeping the frames this host sends too: on one end of a veth pair
    /// each frame of the link passes once, outgoing or incoming, so both are needed to see the link
    /// whole (on `lo` the same frame would come twice).
    ///
    /// # Errors
    /// As [`Capture::open_port`].
    pub fn open_both_directions(interface: &str) -> Result<Capture, CaptureError> {
        Capture::open_with(interface, None, false)
    }

    /// As [`Capture::open`], with `program` (a classic BPF program, from [`compile_filter`] or
    /// [`port_filter`]) deciding in the kernel which frames are queued, and how many bytes of
    /// each.
    ///
    /// # Errors
    /// As [`Capture::open_port`], and [`CaptureError::NotUp`] for an interface that is down.
    pub fn open_program(
        interface: &str,
        program: Option<Vec<Insn>>,
    ) -> Result<Capture, CaptureError> {
        Capture::open_with(interface, program, true)
    }

    // Over 80 lines: one sequence of socket options, each failure named; split, the order that the
    // kernel needs (options before bind, bind before the link type) would be harder to see.
    fn open_with(
        interface: &str,
        program: Option<Vec<Insn>>,
        ignore_outgoing: bool,
    ) -> Result<Capture, CaptureError> {
        // `any`, as tcpdump -i any: every interface (index 0). Each frame then comes with its own
        // interface's link header, which must be Ethernet's for all of them.
        let any = interface == ANY;
        let nic = if any {
            every_interface_is_ethernet()?
        } else {
            find_interface(interface)?
        };
        if !any && !nic.is_up() {
            return Err(CaptureError::NotUp {
                interface: interface.to_string(),
            });
        }
        // On `any`, PACKET_IGNORE_OUTGOING would drop what this host sends on every interface:
        // the filter drops only lo's outgoing copies instead (lo shows each frame twice).
        let program = match (any, program) {
            (true, p) => Some(drop_lo_outgoing(p.unwrap_or_else(|| keep_all(u32::MAX)))),
            (false, p) => p,
        };
        let os = |what: &'static str| {
            move |cause: io::Error| CaptureError::Os {
                what,
                interface: interface.to_string(),
                cause,
            }
        };
        let socket = open_packet_socket().map_err(|source| {
            if matches!(source.raw_os_error(), Some(libc::EPERM | libc::EACCES)) {
                CaptureError::NoPermission {
                    exe: current_exe(),
                    cause: source,
                }
            } else {
                CaptureError::Os {
                    what: "cannot open a packet socket",
                    interface: interface.to_string(),
                    cause: source,
                }
            }
        })?;
        let fd = socket.as_raw_fd();
        if !any && ignore_outgoing {
            set_int(fd, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, 1).map_err(os(
                "cannot set PACKET_IGNORE_OUTGOING (needs Linux 4.20 or later)",
            ))?;
        }
        set_receive_buffer(fd).map_err(os("cannot set the receive buffer"))?;
        let receive_buffer = get_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF)
            .map_err(os("cannot read the receive buffer size"))?;
        if let Some(program) = &program {
            attach_filter(fd, program).map_err(os("cannot attach the capture filter"))?;
        }
        // Turns on kernel timestamps for this socket before any frame is queued (it fails with
        // ENOENT, as no frame was read yet).
        let _ = last_timestamp(fd);
        bind(fd, nic.index).map_err(os("cannot bind the packet socket"))?;
        let hatype = hardware_type(fd).map_err(os("cannot read the link type"))?;
        if !any && !matches!(hatype, ARPHRD_ETHER | ARPHRD_LOOPBACK) {
            return Err(CaptureError::NotEthernet {
                interface: interface.to_string(),
                hatype,
            });
        }

        let config = pnet_datalink::Config {
            read_buffer_size: READ_BUFFER,
            write_buffer_size: 0,
            read_timeout: Some(READ_TIMEOUT),
            promiscuous: false,
            // pnet binds the socket again (same interface, ETH_P_ALL), sets O_NONBLOCK, and
            // closes it when its receiver and sender are both dropped.
            socket_fd: Some(socket.into_raw_fd()),
            ..pnet_datalink::Config::default()
        };
        match pnet_datalink::channel(&nic, config) {
            Ok(Channel::Ethernet(tx, rx)) => Ok(Capture {
                interface: nic.name,
                fd,
                rx,
                _tx: tx,
                totals: KernelStats::default(),
                receive_buffer: usize::try_from(receive_buffer).unwrap_or(0),
            }),
            Ok(_) => Err(CaptureError::Os {
                what: "pnet opened a channel that is not Ethernet",
                interface: interface.to_string(),
                cause: io::Error::from(io::ErrorKind::Unsupported),
            }),
            // pnet closed the socket before returning the error.
            Err(cause) => Err(CaptureError::Os {
                what: "cannot open pnet's datalink channel",
                interface: interface.to_string(),
                cause,
            }),
        }
    }

    /// Sends `frame` (Ethernet header first, no FCS: the device adds what it adds) out of the
    /// interface, exactly as given: what `encap`'s own TCP/IP endpoint puts on a link.
    ///
    /// # Errors
    /// The `send(2)` that failed.
    pub fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: `frame` is a live slice of the given length; the socket is bound to the
        // interface, so no address is needed.
        let n = unsafe { libc::send(self.fd, frame.as_ptr().cast(), frame.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n as usize != frame.len() {
            return Err(io::Error::other(format!(
                "sent {n} of the frame's {} bytes",
                frame.len()
            )));
        }
        Ok(())
    }

    /// The interface's name.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The receive buffer the kernel granted, in bytes: twice what was asked for (it counts its
    /// own bookkeeping in it), or less when `net.core.rmem_max` capped an unprivileged request.
    pub fn receive_buffer(&self) -> usize {
        self.receive_buffer
    }
}

impl FrameSource for Capture {
    fn next_frame(&mut self) -> io::Result<Option<Received<'_>>> {
        let fd = self.fd;
        match self.rx.next() {
            Ok(data) => {
                let timestamp = last_timestamp(fd).unwrap_or_else(|_| now());
                Ok(Some(Received { timestamp, data }))
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                        | io::ErrorKind::WouldBlock
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn kernel_stats(&mut self) -> io::Result<KernelStats> {
        // The kernel resets its counters on every read, so they are added up here.
        let mut st = TpacketStats::default();
        let mut len = std::mem::size_of::<TpacketStats>() as libc::socklen_t;
        // SAFETY: `st` is a writable `struct tpacket_stats` and `len` its size.
        let rc = unsafe {
            libc::getsockopt(
                self.fd,
                libc::SOL_PACKET,
                PACKET_STATISTICS,
                std::ptr::addr_of_mut!(st).cast(),
                &mut len,
            )
        };
        if rc == -1 {
            return Err(io::Error::last_os_error());
        }
        // tp_packets already includes tp_drops (net/packet/af_packet.c, packet_getsockopt).
        self.totals.received += u64::from(st.tp_packets);
        self.totals.dropped += u64::from(st.tp_drops);
        Ok(self.totals)
    }
}

/// The interface name that captures on every interface, as tcpdump's.
pub const ANY: &str = "any";

/// The `ARPHRD_*` hardware type of the interface `name` (`SIOCGIFHWADDR`, which answers for
/// this process's network namespace, as `/sys` may not), or `None` if it cannot be read.
fn interface_hardware_type(name: &str) -> Option<u16> {
    let probe = open_probe_socket()?;
    // SAFETY: an all-zero ifreq is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.as_bytes();
    if bytes.len() >= req.ifr_name.len() {
        return None;
    }
    for (d, b) in req.ifr_name.iter_mut().zip(bytes) {
        *d = *b as libc::c_char;
    }
    // SAFETY: SIOCGIFHWADDR reads the name and writes the hardware address into `req`.
    let rc = unsafe { libc::ioctl(probe.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) };
    if rc != 0 {
        return None;
    }
    // SAFETY: on success the kernel filled ifru_hwaddr.
    Some(unsafe { req.ifr_ifru.ifru_hwaddr.sa_family })
}

/// Asks the kernel to stamp every frame with its time from now on (a datagram socket with
/// `SO_TIMESTAMPNS`, sending nothing), for as long as the socket is open. The first socket that
/// asks turns the stamping on only later, from a work queue (`net_enable_timestamp`), and until
/// then a capture socket's `SIOCGSTAMP` gives the time the frame was read instead: on a busy
/// machine a lab's first frames were stamped milliseconds late, in one burst (their TSvals 3 ms
/// apart, their stamps 40 µs), and the model took its clock from them. Opened before the lab is
/// built, the stamping is on long before the first frame.
///
/// # Errors
/// The socket or the option.
pub fn kernel_timestamps_on() -> io::Result<OwnedFd> {
    let fd = open_probe_socket().ok_or_else(io::Error::last_os_error)?;
    set_int(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)?;
    Ok(fd)
}

/// A datagram socket, only to ask the kernel about interfaces.
fn open_probe_socket() -> Option<OwnedFd> {
    // SAFETY: plain system call; the descriptor is owned at once.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    // SAFETY: `fd` is a new descriptor that nothing else owns.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// For `-i any`: a pseudo-interface of index 0 (every interface), once every interface is known
/// to carry Ethernet II frames (ARPHRD 1 or 772); those that are down too, as they may come up
/// while the capture runs.
///
/// # Errors
/// [`CaptureError::NotEthernet`] naming the first interface that is not Ethernet.
fn every_interface_is_ethernet() -> Result<NetworkInterface, CaptureError> {
    for nic in &pnet_datalink::interfaces() {
        let hatype = interface_hardware_type(&nic.name);
        if let Some(hatype) = hatype.filter(|t| !matches!(*t, ARPHRD_ETHER | ARPHRD_LOOPBACK)) {
            return Err(CaptureError::NotEthernet {
                interface: format!("-i any: {}", nic.name),
                hatype,
            });
        }
    }
    Ok(NetworkInterface {
        name: ANY.to_string(),
        description: String::new(),
        index: 0,
        mac: None,
        ips: Vec::new(),
        flags: 0,
    })
}

/// The index of `lo`, 1 on Linux unless it cannot be read.
fn lo_index() -> u32 {
    pnet_datalink::interfaces()
        .iter()
        .find(|n| n.is_loopback())
        .map_or(1, |n| n.index)
}

/// `program` after a prefix that drops the frames lo sends (its outgoing copy of each frame:
/// the incoming one is kept), read from the kernel's packet type and interface index (classic
/// BPF's Linux extensions, `SKF_AD_PKTTYPE` and `SKF_AD_IFINDEX`). The program's jumps are
/// relative, so it runs unchanged after the prefix.
fn drop_lo_outgoing(program: Vec<Insn>) -> Vec<Insn> {
    /// `SKF_AD_OFF`: loads from here on are the kernel's ancillary data, not frame bytes.
    const SKF_AD_OFF: u32 = 0xffff_f000;
    const SKF_AD_PKTTYPE: u32 = 4;
    const SKF_AD_IFINDEX: u32 = 8;
    /// `A = u32 at [k]` (BPF_LD | BPF_W | BPF_ABS).
    const LD_W_ABS: u16 = 0x20;
    let insn = |code, jt, jf, k| Insn { code, jt, jf, k };
    let mut out = vec![
        insn(LD_W_ABS, 0, 0, SKF_AD_OFF + SKF_AD_PKTTYPE),
        insn(op::JEQ, 0, 3, u32::from(libc::PACKET_OUTGOING)),
        insn(LD_W_ABS, 0, 0, SKF_AD_OFF + SKF_AD_IFINDEX),
        insn(op::JEQ, 0, 1, lo_index()),
        insn(op::RET, 0, 0, 0),
    ];
    out.extend(program);
    out
}

/// Looks an interface up by name among pnet's list.
fn find_interface(name: &str) -> Result<NetworkInterface, CaptureError> {
    let all = pnet_datalink::interfaces();
    if let Some(nic) = all.iter().find(|n| n.name == name) {
        return Ok(nic.clone());
    }
    let mut available: Vec<String> = all.into_iter().map(|n| n.name).collect();
    available.sort();
    available.dedup();
    Err(CaptureError::NoSuchInterface {
        name: name.to_string(),
        available,
    })
}

/// `socket(AF_PACKET, SOCK_RAW, 0)`: protocol 0 so that nothing is queued before `bind` picks the
/// interface and `ETH_P_ALL` (opened with `ETH_P_ALL`, the socket would queue frames of every
/// interface until then, and keep them).
fn open_packet_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain system call; the descriptor is owned at once.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Binds the socket to the interface with index `ifindex`, all protocols (`ETH_P_ALL`).
fn bind(fd: RawFd, ifindex: u32) -> io::Result<()> {
    // SAFETY: an all-zero sockaddr_ll is valid.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as libc::sa_family_t;
    sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    sll.sll_ifindex = i32::try_from(ifindex)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface index too large"))?;
    // SAFETY: `sll` is a sockaddr_ll of the length given.
    let rc = unsafe {
        libc::bind(
            fd,
            std::ptr::addr_of!(sll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `SOL_SOCKET` option: attach a classic BPF program that decides which frames are queued.
const SO_ATTACH_FILTER: libc::c_int = 26;

/// One classic BPF instruction (`struct sock_filter`, `linux/filter.h`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    /// Operation.
    pub code: u16,
    /// Instructions to skip when a jump's condition holds.
    pub jt: u8,
    /// Instructions to skip when it does not.
    pub jf: u8,
    /// Operand.
    pub k: u32,
}

/// `struct sock_fprog`.
#[repr(C)]
struct Fprog {
    len: libc::c_ushort,
    filter: *const Insn,
}

/// Classic BPF operation codes used here (`linux/bpf_common.h`).
pub mod op {
    /// `A = u16 at [k]` (BPF_LD | BPF_H | BPF_ABS).
    pub const LD_H_ABS: u16 = 0x28;
    /// `A = u8 at [k]` (BPF_LD | BPF_B | BPF_ABS).
    pub const LD_B_ABS: u16 = 0x30;
    /// `A = u16 at [X + k]` (BPF_LD | BPF_H | BPF_IND).
    pub const LD_H_IND: u16 = 0x48;
    /// `X = 4 * (u8 at [k] & 0xf)`, the IPv4 header length (BPF_LDX | BPF_B | BPF_MSH).
    pub const LDX_B_MSH: u16 = 0xb1;
    /// Jump if `A == k` (BPF_JMP | BPF_JEQ | BPF_K).
    pub const JEQ: u16 = 0x15;
    /// Jump if `A & k != 0` (BPF_JMP | BPF_JSET | BPF_K).
    pub const JSET: u16 = 0x45;
    /// Return `k`: keep that many bytes of the frame, 0 to drop it (BPF_RET | BPF_K).
    pub const RET: u16 = 0x06;
}

/// A step of a filter, with jumps to absolute instruction numbers (forward only).
enum Step {
    LdH(u32),
    LdB(u32),
    LdHInd(u32),
    LdxIpHeaderLen(u32),
    Jeq(u32, usize, usize),
    Jset(u32, usize, usize),
    Ret(u32),
}

/// Turns steps into instructions, jump targets into the relative offsets BPF wants.
fn assemble(steps: &[Step]) -> Vec<Insn> {
    let rel = |at: usize, to: usize| -> u8 {
        // Programs here are a few dozen instructions long and jump forward only.
        u8::try_from(to.saturating_sub(at + 1)).unwrap_or(u8::MAX)
    };
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (code, jt, jf, k) = match *s {
                Step::LdH(k) => (op::LD_H_ABS, 0, 0, k),
                Step::LdB(k) => (op::LD_B_ABS, 0, 0, k),
                Step::LdHInd(k) => (op::LD_H_IND, 0, 0, k),
                Step::LdxIpHeaderLen(k) => (op::LDX_B_MSH, 0, 0, k),
                Step::Jeq(k, t, f) => (op::JEQ, rel(i, t), rel(i, f), k),
                Step::Jset(k, t, f) => (op::JSET, rel(i, t), rel(i, f), k),
                Step::Ret(k) => (op::RET, 0, 0, k),
            };
            Insn { code, jt, jf, k }
        })
        .collect()
}

/// A classic BPF program that keeps the frames that may carry TCP or UDP port `port`, source or
/// destination, as `tcpdump port P` does: IPv4 TCP/UDP with that port (first fragments only),
/// IPv6 TCP/UDP with that port right after the fixed header; also, for user space to decide,
/// IPv6 with other next headers (extension headers) and VLAN-tagged frames. It drops the rest
/// (other ports, ARP, ICMP, later fragments). Kept frames are kept whole.
pub fn port_filter(port: u16) -> Vec<Insn> {
    use Step::*;
    const IPV4: usize = 2;
    const NOT_IPV4: usize = 12;
    const IPV6: usize = 15;
    const IPV6_PORTS: usize = 18;
    const KEEP: usize = 22;
    const DROP: usize = 23;
    let p = u32::from(port);
    let steps = [
        LdH(12),                     // 0: EtherType
        Jeq(0x0800, IPV4, NOT_IPV4), // 1
        LdB(14 + 9),                 // 2: IPv4 protocol
        Jeq(6, 5, 4),                // 3: TCP
        Jeq(17, 5, DROP),            // 4: UDP
        LdH(14 + 6),                 // 5: flags and fragment offset
        Jset(0x1fff, DROP, 7),       // 6: a later fragment has no ports
        LdxIpHeaderLen(14),          // 7: X = IPv4 header length
        LdHInd(14),                  // 8: source port
        Jeq(p, KEEP, 10),            // 9
        LdHInd(14 + 2),              // 10: destination port
        Jeq(p, KEEP, DROP),          // 11
        Jeq(0x86dd, IPV6, 13),       // 12: A is still the EtherType
        Jeq(0x8100, KEEP, 14),       // 13: 802.1Q
        Jeq(0x88a8, KEEP, DROP),     // 14: 802.1ad
        LdB(14 + 6),                 // 15: IPv6 next header
        Jeq(6, IPV6_PORTS, 17),      // 16
        Jeq(17, IPV6_PORTS, KEEP),   // 17: an extension header: user space decides
        LdH(14 + 40),                // 18: source port
        Jeq(p, KEEP, 20),            // 19
        LdH(14 + 42),                // 20: destination port
        Jeq(p, KEEP, DROP),          // 21
        Ret(u32::MAX),               // 22: keep, whole
        Ret(0),                      // 23: drop
    ];
    assemble(&steps)
}

/// The program that keeps every frame, `snaplen` bytes of each at most.
pub fn keep_all(snaplen: u32) -> Vec<Insn> {
    assemble(&[Step::Ret(snaplen)])
}

/// `program` with every "keep" return (`ret #k`, k > 0) keeping at most `snaplen` bytes, as
/// tcpdump's `-s`: the kernel then queues only that much of each frame.
#[must_use]
pub fn with_snaplen(mut program: Vec<Insn>, snaplen: u32) -> Vec<Insn> {
    for insn in &mut program {
        if insn.code == op::RET && insn.k > 0 {
            insn.k = snaplen;
        }
    }
    program
}

/// Compiles a capture filter expression as tcpdump takes it (`tcp port 6666 or udp`,
/// pcap-filter(7)) to classic BPF for an Ethernet link, with libpcap's own compiler
/// (`pcap_compile`, optimised), keeping at most `snaplen` bytes of each frame.
///
/// # Errors
/// libpcap's message for an expression it cannot compile.
pub fn compile_filter(expression: &str, snaplen: u32) -> Result<Vec<Insn>, String> {
    // libpcap's `struct bpf_insn` is the kernel's `struct sock_filter`: same fields, same order.
    const _: () =
        assert!(std::mem::size_of::<pcap::BpfInstruction>() == std::mem::size_of::<Insn>());
    let dead = pcap::Capture::dead(pcap::Linktype::ETHERNET).map_err(|e| e.to_string())?;
    let program = dead
        .compile(expression, true)
        .map_err(|e| format!("cannot compile the filter {expression:?}: {e}"))?;
    let insns = program.get_instructions();
    // SAFETY: BpfInstruction is #[repr(transparent)] over libpcap's `struct bpf_insn`
    // { u_short code; u_char jt; u_char jf; bpf_u_int32 k; }, which has the layout of the
    // #[repr(C)] Insn (the size is checked above); the slice is copied before `program` frees it.
    let copied =
        unsafe { std::slice::from_raw_parts(insns.as_ptr().cast::<Insn>(), insns.len()) }.to_vec();
    // The dead handle's snapshot length (65535) would cut a 64 KiB GSO frame on lo.
    Ok(with_snaplen(copied, snaplen))
}

fn attach_filter(fd: RawFd, program: &[Insn]) -> io::Result<()> {
    let prog = Fprog {
        len: libc::c_ushort::try_from(program.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "filter too long"))?,
        filter: program.as_ptr(),
    };
    // SAFETY: `prog` points at `len` instructions that outlive the call (the kernel copies them).
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            SO_ATTACH_FILTER,
            std::ptr::addr_of!(prog).cast(),
            std::mem::size_of::<Fprog>() as libc::socklen_t,
        )
    };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `ARPHRD_ETHER`: Ethernet (`linux/if_arp.h`).
const ARPHRD_ETHER: u16 = 1;
/// `ARPHRD_LOOPBACK`: `lo`, which frames its packets as Ethernet II with zero addresses.
const ARPHRD_LOOPBACK: u16 = 772;

/// The `ARPHRD_*` hardware type of the interface a bound packet socket is on.
fn hardware_type(fd: RawFd) -> io::Result<u16> {
    // SAFETY: an all-zero sockaddr_ll is valid.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: getsockname writes at most `len` bytes into `sll`.
    let rc = unsafe { libc::getsockname(fd, std::ptr::addr_of_mut!(sll).cast(), &mut len) };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(sll.sll_hatype)
}

fn hardware_type_name(hatype: u16) -> &'static str {
    match hatype {
        1 => "Ethernet",
        772 => "loopback",
        776 => "IPv6-in-IPv4 tunnel",
        778 => "GRE tunnel",
        280 => "CAN",
        519 => "IEEE 802.11",
        65534 => "none: raw IP, as a tun device",
        _ => "see ARPHRD_* in linux/if_arp.h",
    }
}

/// Asks for [`RECEIVE_BUFFER`] bytes: forced past `rmem_max` when allowed (root), else as much as
/// `net.core.rmem_max` lets an unprivileged `SO_RCVBUF` have.
fn set_receive_buffer(fd: RawFd) -> io::Result<()> {
    let want = libc::c_int::try_from(RECEIVE_BUFFER).unwrap_or(libc::c_int::MAX);
    match set_int(fd, libc::SOL_SOCKET, SO_RCVBUFFORCE, want) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            set_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, want)
        }
        Err(e) => Err(e),
    }
}

fn get_int(fd: RawFd, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` is a writable c_int and `len` says so.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            std::ptr::addr_of_mut!(value).cast(),
            &mut len,
        )
    };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(value)
}

fn set_int(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: `value` is a c_int and the length says so.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            std::ptr::addr_of!(value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The kernel's receive time of the last frame read from `fd`.
fn last_timestamp(fd: RawFd) -> io::Result<Duration> {
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    // SAFETY: SIOCGSTAMP writes one struct timeval.
    let rc = unsafe { libc::ioctl(fd, SIOCGSTAMP as _, std::ptr::addr_of_mut!(tv)) };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    let secs = u64::try_from(tv.tv_sec).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    let micros =
        u32::try_from(tv.tv_usec).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    Ok(Duration::new(secs, 0) + Duration::from_micros(u64::from(micros)))
}

fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

fn current_exe() -> String {
    std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "encap".to_string())
}

/// The length the frame had on the wire, read from its own headers: for IPv4, 14 + the IP total
/// length; for IPv6, 14 + 40 + the payload length. Never less than what was captured (a short
/// frame on a real wire is padded to 60 bytes). When the headers do not say (another EtherType, a
/// length field of 0 as in a BIG TCP packet), what was captured.
pub fn original_len(frame: &[u8]) -> usize {
    let be16 = |at: usize| {
        frame
            .get(at..at + 2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    };
    let from_headers = match be16(12) {
        Some(0x0800) => be16(14 + 2).filter(|&n| n >= 20).map(|n| 14 + n),
        Some(0x86dd) => be16(14 + 4).filter(|&n| n > 0).map(|n| 14 + 40 + n),
        _ => None,
    };
    from_headers.map_or(frame.len(), |n| n.max(frame.len()))
}

/// A frame captured by a [`Sniffer`]: its receive time and its bytes.
pub type Frame = (Duration, Vec<u8>);

/// A capture running in a background thread, keeping the frames of one TCP or UDP port and handing
/// them over a channel, so a single-threaded program (the demo, the chat's `poll()` loop) can take
/// them when it is ready. Stops when dropped.
pub struct Sniffer {
    frames: mpsc::Receiver<Frame>,
    /// Frames the kernel dropped before the last one handed over (`u64::MAX`: its counters
    /// could not be read).
    dropped: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sniffer {
    /// Starts reading `cap` in a thread; frames that do not carry `port` are left out.
    pub fn start(mut cap: Capture, port: u16) -> Sniffer {
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let dropped = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&dropped);
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match cap.next_frame() {
                    Ok(Some(f)) => {
                        if !encap::dissect::ports(f.data)
                            .is_some_and(|(s, d)| s == port || d == port)
                        {
                            continue;
                        }
                        let frame = (f.timestamp, f.data.to_vec());
                        // Read after the frame was taken from the queue: the kernel counts a
                        // drop when it cannot queue a frame, so every frame lost before this
                        // one is counted by now (and perhaps some lost after it: on the safe
                        // side).
                        // (Once one was dropped, the capture is no longer complete: no more
                        // reading needed.)
                        if counted.load(Ordering::SeqCst) == 0 {
                            let total = cap.kernel_stats().map_or(u64::MAX, |k| k.dropped);
                            counted.store(total, Ordering::SeqCst);
                        }
                        if tx.send(frame).is_err() {
                            return;
                        }
                    }
                    Ok(None) => {}
                    Err(_) => return,
                }
            }
        });
        Sniffer {
            frames: rx,
            dropped,
            stop,
            thread: Some(thread),
        }
    }

    /// True while the kernel has dropped none of the frames handed over so far: a check of
    /// them may take the capture for complete ([`encap::model::Connection::set_capture_complete`]).
    #[must_use]
    pub fn complete(&self) -> bool {
        self.dropped.load(Ordering::SeqCst) == 0
    }

    /// The frames that arrive within `quiet` of each other, until none does or `limit` has passed
    /// since the call (so a busy connection cannot hold the caller for long).
    pub fn drain(&self, quiet: Duration, limit: Duration) -> Vec<Frame> {
        self.drain_quiet(quiet, limit).0
    }

    /// As [`Sniffer::drain`], and whether it ended because `quiet` passed without a frame
    /// (rather than at `limit`, or because the capture stopped).
    pub fn drain_quiet(&self, quiet: Duration, limit: Duration) -> (Vec<Frame>, bool) {
        let end = std::time::Instant::now() + limit;
        let mut out = Vec::new();
        loop {
            let left = end.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                // Take what is already queued, without waiting.
                out.extend(self.frames.try_iter());
                return (out, false);
            }
            match self.frames.recv_timeout(quiet.min(left)) {
                Ok(f) => out.push(f),
                Err(mpsc::RecvTimeoutError::Timeout) if left > quiet => return (out, true),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return (out, false),
            }
        }
    }
}

impl Drop for Sniffer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Makes SIGINT (Ctrl-C) and SIGTERM set the stop flag instead of killing the process, so the
/// capture can flush its file and print its counters. Each handler is one-shot: a second Ctrl-C
/// kills as usual. No `SA_RESTART`, so a waiting `poll` returns at once.
///
/// # Errors
/// A failed `sigaction`.
pub fn stop_on_signals() -> io::Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: an all-zero sigaction is valid; the handler only stores to an atomic, which is
        // async-signal-safe.
        let rc = unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_stop_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            sa.sa_flags = libc::SA_RESETHAND;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut())
        };
        if rc == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// True once SIGINT or SIGTERM arrived.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a classic BPF program the way the kernel does for the instructions used here: a load
    /// past the end of the frame drops it.
    fn run(program: &[Insn], frame: &[u8]) -> u32 {
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        let b = |at: usize| frame.get(at).map(|&v| u32::from(v));
        let h = |at: usize| Some(b(at)? << 8 | b(at + 1)?);
        loop {
            let i = program[pc];
            pc += 1;
            let k = i.k as usize;
            match i.code {
                op::LD_H_ABS => match h(k) {
                    Some(v) => a = v,
                    None => return 0,
                },
                op::LD_B_ABS => match b(k) {
                    Some(v) => a = v,
                    None => return 0,
                },
                op::LD_H_IND => match h(x as usize + k) {
                    Some(v) => a = v,
                    None => return 0,
                },
                op::LDX_B_MSH => match b(k) {
                    Some(v) => x = 4 * (v & 0xf),
                    None => return 0,
                },
                op::JEQ => pc += usize::from(if a == i.k { i.jt } else { i.jf }),
                op::JSET => pc += usize::from(if a & i.k != 0 { i.jt } else { i.jf }),
                op::RET => return i.k,
                other => panic!("opcode {other:#x} not expected"),
            }
        }
    }

    fn ipv4(proto: u8, src: u16, dst: u16, frag: u16, ihl: u8) -> Vec<u8> {
        let hl = usize::from(ihl) * 4;
        let mut f = vec![0u8; 14 + hl + 8];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x40 | ihl;
        f[14 + 6..14 + 8].copy_from_slice(&frag.to_be_bytes());
        f[14 + 9] = proto;
        f[14 + hl..14 + hl + 2].copy_from_slice(&src.to_be_bytes());
        f[14 + hl + 2..14 + hl + 4].copy_from_slice(&dst.to_be_bytes());
        f
    }

    fn ipv6(next: u8, src: u16, dst: u16) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 40 + 8];
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        f[14] = 0x60;
        f[14 + 6] = next;
        f[54..56].copy_from_slice(&src.to_be_bytes());
        f[56..58].copy_from_slice(&dst.to_be_bytes());
        f
    }

    #[test]
    fn port_filter_keeps_what_may_carry_the_port() {
        let prog = port_filter(6666);
        let keep = |f: &[u8]| run(&prog, f) == u32::MAX;
        // IPv4 TCP and UDP, either direction, with or without IP options.
        assert!(keep(&ipv4(6, 40000, 6666, 0x4000, 5)));
        assert!(keep(&ipv4(6, 6666, 40000, 0x4000, 5)));
        assert!(keep(&ipv4(17, 6666, 53, 0, 5)));
        assert!(keep(&ipv4(6, 1, 6666, 0, 15)));
        assert!(!keep(&ipv4(6, 40000, 7777, 0x4000, 5)));
        assert!(!keep(&ipv4(17, 6667, 6665, 0, 5)));
        // ICMP, and a later fragment whose bytes only look like ports.
        assert!(!keep(&ipv4(1, 6666, 6666, 0, 5)));
        assert!(!keep(&ipv4(6, 6666, 6666, 0x2001, 5)));
        // A first fragment (MF set, offset 0) has the ports.
        assert!(keep(&ipv4(6, 6666, 1, 0x2000, 5)));
        // IPv6.
        assert!(keep(&ipv6(6, 40000, 6666)));
        assert!(keep(&ipv6(17, 6666, 1)));
        assert!(!keep(&ipv6(6, 1, 2)));
        assert!(
            keep(&ipv6(0, 1, 2)),
            "hop-by-hop header: user space decides"
        );
        // VLAN-tagged: user space decides; ARP: dropped.
        let mut vlan = ipv4(6, 1, 2, 0, 5);
        vlan[12..14].copy_from_slice(&[0x81, 0x00]);
        assert!(keep(&vlan));
        let mut arp = vec![0u8; 42];
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert!(!keep(&arp));
        // A real frame from the pipeline.
        let e = encap::pipeline::encapsulate(b"hi", &encap::pipeline::Params::default()).unwrap();
        assert!(keep(e.frame()));
        assert_eq!(run(&port_filter(6667), e.frame()), 0);
    }

    #[test]
    fn port_filter_never_reads_past_a_short_frame() {
        let prog = port_filter(6666);
        let full = ipv4(6, 40000, 6666, 0, 5);
        let ports_end = 14 + 20 + 4;
        for n in 0..ports_end {
            // Cut before the destination port: dropped (the kernel drops on a load past the end).
            assert_eq!(run(&prog, &full[..n]), 0, "{n} bytes");
        }
        assert_eq!(run(&prog, &full[..ports_end]), u32::MAX);
        assert_eq!(run(&prog, &full), u32::MAX);
    }

    #[test]
    fn port_filter_jumps_land_inside_the_program() {
        let prog = port_filter(1);
        for (i, insn) in prog.iter().enumerate() {
            if insn.code == op::JEQ || insn.code == op::JSET {
                assert!(i + 1 + usize::from(insn.jt) < prog.len(), "{i}: {insn:?}");
                assert!(i + 1 + usize::from(insn.jf) < prog.len(), "{i}: {insn:?}");
            }
        }
        assert_eq!(prog.last().map(|i| i.code), Some(op::RET));
    }

    #[test]
    fn original_len_from_the_ip_header() {
        let mut f = vec![0u8; 14 + 20];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[16..18].copy_from_slice(&1500u16.to_be_bytes());
        assert_eq!(original_len(&f), 14 + 1500);
        // Padded on a wire: the capture is longer than the IP packet.
        f[16..18].copy_from_slice(&20u16.to_be_bytes());
        f.resize(60, 0);
        assert_eq!(original_len(&f), 60);
        // A total length of 0 (BIG TCP) says nothing.
        f[16..18].copy_from_slice(&0u16.to_be_bytes());
        assert_eq!(original_len(&f), 60);
    }

    #[test]
    fn original_len_never_panics() {
        for n in 0..64 {
            let f = vec![0x86u8; n];
            let _ = original_len(&f);
            let mut g = vec![0u8; n];
            if n > 14 {
                g[12] = 0x08;
            }
            let _ = original_len(&g);
        }
        let mut v6 = vec![0u8; 14 + 40];
        v6[12..14].copy_from_slice(&[0x86, 0xdd]);
        v6[18..20].copy_from_slice(&100u16.to_be_bytes());
        assert_eq!(original_len(&v6), 14 + 40 + 100);
    }
}
