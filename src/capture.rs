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
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// [`CaptureError::NoPermission`] without `CAP_NET_RAW`, [`CaptureError::NoSuchInterface`]
    /// for an unknown name, [`CaptureError::Os`] for any other failed call.
    pub fn open(interface: &str) -> Result<Capture, CaptureError> {
        let nic = find_interface(interface)?;
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
        set_int(fd, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, 1).map_err(os(
            "cannot set PACKET_IGNORE_OUTGOING (needs Linux 4.20 or later)",
        ))?;
        set_receive_buffer(fd).map_err(os("cannot set the receive buffer"))?;
        let receive_buffer = get_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF)
            .map_err(os("cannot read the receive buffer size"))?;
        bind(fd, nic.index).map_err(os("cannot bind the packet socket"))?;
        let hatype = hardware_type(fd).map_err(os("cannot read the link type"))?;
        if !matches!(hatype, ARPHRD_ETHER | ARPHRD_LOOPBACK) {
            return Err(CaptureError::NotEthernet {
                interface: interface.to_string(),
                hatype,
            });
        }
        // Turns on kernel timestamps for this socket; fails with ENOENT as no frame was read yet.
        let _ = last_timestamp(fd);

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
