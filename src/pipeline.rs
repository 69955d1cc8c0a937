//! The encapsulation pipeline: a message goes down through TCP, IPv4 and Ethernet II, one explicit
//! layer at a time, into one buffer; and a frame goes back up.
//!
//! [`encapsulate`] places the payload in a buffer after enough headroom for every header, then each
//! layer writes its header in front of what the layer above produced (as the kernel's `sk_buff`
//! does with `skb_push`), so the payload is written once and never copied per layer. Each stage's
//! start is recorded, so the four stages can be shown: stage *k* is the bytes from its start to the
//! end of the payload (and, for Ethernet, the FCS after it).
//!
//! [`decapsulate`] walks back up, validating every length, and returns zero-copy views of each
//! layer. It is pure: no sockets, clocks or randomness anywhere in this module.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::ops::Range;

use crate::checksum::Pseudo;
use crate::layers::ethernet::{self, EtherType, EthernetHeader, Mac};
use crate::layers::ipv4::{self, IpProtocol, Ipv4Header, Ipv4Packet};
use crate::layers::ipv6::{self, Ipv6Header};
use crate::layers::tcp::{self, TcpHeader, TcpOption, TcpSegment};
use crate::layers::{payload, DecodeError, Field, Layer};

/// Whether the TCP checksum is computed in full or left as the device would receive it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChecksumMode {
    /// The full RFC 1071 checksum, as it is on a wire after the NIC (or the kernel) finished it.
    #[default]
    Full,
    /// The folded pseudo-header sum, as Linux writes it for a device that offloads checksums:
    /// exactly what a capture on `lo` shows.
    Offloaded,
}

/// Everything a frame is built from. `Default` is what Linux puts on `lo` for a data segment of a
/// connection from 127.0.0.1:40000 to 127.0.0.1:6666, with relative sequence numbers 1 and 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// Ethernet header (its EtherType is set to IPv4 by the pipeline).
    pub ethernet: EthernetHeader,
    /// IPv4 header; the total length, protocol and checksum are computed by the pipeline.
    pub ip: Ipv4Header,
    /// TCP header; ports come from here, the checksum is computed by the pipeline.
    pub tcp: TcpHeader,
    /// How the TCP checksum is written.
    pub checksum: ChecksumMode,
    /// IPv6 instead of IPv4: when set, the packet gets this header and `ip` is not used.
    pub ipv6: Option<Ipv6Header>,
}

/// Options Linux puts on an established segment: NOP, NOP, timestamps (12 bytes, a 32-byte header).
#[must_use]
pub fn linux_data_options(tsval: u32, tsecr: u32) -> Vec<TcpOption> {
    vec![
        TcpOption::Nop,
        TcpOption::Nop,
        TcpOption::Timestamps { tsval, tsecr },
    ]
}

/// Options Linux puts on a SYN: MSS, SACK-permitted, timestamps, NOP, window scale (20 bytes).
#[must_use]
pub fn linux_syn_options(mss: u16, tsval: u32, tsecr: u32, wscale: u8) -> Vec<TcpOption> {
    vec![
        TcpOption::Mss(mss),
        TcpOption::SackPermitted,
        TcpOption::Timestamps { tsval, tsecr },
        TcpOption::Nop,
        TcpOption::WindowScale(wscale),
    ]
}

impl Default for Params {
    fn default() -> Self {
        Params::between(
            SocketAddrV4::new(Ipv4Addr::LOCALHOST, 40000),
            SocketAddrV4::new(Ipv4Addr::LOCALHOST, 6666),
        )
    }
}

impl Params {
    /// Linux's defaults on `lo` for a data segment between two sockets.
    #[must_use]
    pub fn between(src: SocketAddrV4, dst: SocketAddrV4) -> Params {
        Params {
            ethernet: EthernetHeader {
                destination: [0; 6],
                source: [0; 6],
                ethertype: EtherType::Ipv4,
            },
            ip: Ipv4Header {
                dscp: 0,
                ecn: 0,
                total_len: 0,
                identification: 1,
                dont_fragment: true,
                more_fragments: false,
                fragment_offset: 0,
                ttl: 64,
                protocol: IpProtocol::Tcp,
                checksum: 0,
                source: *src.ip(),
                destination: *dst.ip(),
                options: Vec::new(),
            },
            tcp: TcpHeader {
                src_port: src.port(),
                dst_port: dst.port(),
                seq: 1,
                ack: 1,
                flags: tcp::field::FLG_PSH | tcp::field::FLG_ACK,
                window: 64,
                checksum: 0,
                urgent: 0,
                options: linux_data_options(1, 1),
            },
            checksum: ChecksumMode::Full,
            ipv6: None,
        }
    }

    /// [`Params::between`] for either address family: between two IPv6 sockets the packet is
    /// IPv6 (hop limit 64, flow label 0 until set).
    #[must_use]
    pub fn between_any(src: SocketAddr, dst: SocketAddr) -> Params {
        match (src, dst) {
            (SocketAddr::V4(s), SocketAddr::V4(d)) => Params::between(s, d),
            _ => {
                let v6 = |a: SocketAddr| match a {
                    SocketAddr::V6(a) => *a.ip(),
                    SocketAddr::V4(a) => a.ip().to_ipv6_mapped(),
                };
                let mut p = Params::between(
                    SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, src.port()),
                    SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, dst.port()),
                );
                p.ipv6 = Some(Ipv6Header {
                    traffic_class: 0,
                    flow_label: 0,
                    hop_limit: 64,
                    source: v6(src),
                    destination: v6(dst),
                });
                p
            }
        }
    }

    /// The network header's length: IPv4's with its options, or IPv6's 40 bytes.
    #[must_use]
    pub fn ip_len(&self) -> usize {
        if self.ipv6.is_some() {
            Ipv6Header::LEN
        } else {
            self.ip.len()
        }
    }

    /// Sets both MAC addresses.
    #[must_use]
    pub fn with_macs(mut self, source: Mac, destination: Mac) -> Params {
        self.ethernet.source = source;
        self.ethernet.destination = destination;
        self
    }

    /// The most payload one packet can carry with these headers (IPv4's total length, or
    /// IPv6's payload length, is 16 bits).
    #[must_use]
    pub fn max_payload(&self) -> usize {
        let ip = if self.ipv6.is_some() {
            0
        } else {
            self.ip.len()
        };
        usize::from(u16::MAX) - ip - self.tcp.len()
    }
}

/// Why a frame cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncapError {
    /// The message does not fit in one IPv4 packet.
    #[error("a {len}-byte message does not fit in one IPv4 packet: the Total length field is 16 bits, so at most 65535 bytes, which leaves {max} bytes of payload after a {ip}-byte IPv4 header and a {tcp}-byte TCP header (split it into segments with --segment)")]
    TooLarge {
        /// Message length.
        len: usize,
        /// Most payload that fits.
        max: usize,
        /// IPv4 header length.
        ip: usize,
        /// TCP header length.
        tcp: usize,
    },
    /// The message does not fit in one IPv6 packet.
    #[error("a {len}-byte message does not fit in one IPv6 packet: the Payload length field is 16 bits, so at most 65535 bytes after the 40-byte IPv6 header, which leaves {max} bytes of payload after a {tcp}-byte TCP header (split it into segments with --segment)")]
    TooLargeV6 {
        /// Message length.
        len: usize,
        /// Most payload that fits.
        max: usize,
        /// TCP header length.
        tcp: usize,
    },
    /// Options longer than the header can hold.
    #[error(
        "{layer} options take {len} bytes, but a header has room for at most 40 bytes of options"
    )]
    OptionsTooLong {
        /// Which header.
        layer: Layer,
        /// Their length.
        len: usize,
    },
    /// IPv4 options must be whole 32-bit words.
    #[error(
        "IPv4 options take {len} bytes, which is not a multiple of 4 (pad them with EOL, 0x00)"
    )]
    OptionsNotAligned {
        /// Their length.
        len: usize,
    },
}

/// Where each stage of an encapsulated frame starts in its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stages {
    /// Start of the payload (stage 1, Application).
    pub payload: usize,
    /// Start of the TCP header (stage 2).
    pub tcp: usize,
    /// Start of the IPv4 header (stage 3).
    pub ip: usize,
    /// Start of the Ethernet header (stage 4): the start of the frame.
    pub ethernet: usize,
    /// One past the last payload byte: the end of the frame without FCS.
    pub end: usize,
    /// Zero bytes after `end` that bring a short frame to 60 bytes on a wire.
    pub pad: usize,
    /// The FCS, which follows `end` and the padding in the buffer least significant byte first.
    pub fcs: u32,
}

/// Builds the frame for `message` into `buf` (cleared first; its capacity is reused), and returns
/// where each stage starts. The buffer holds the frame followed by its 4-byte FCS.
///
/// # Errors
/// [`EncapError`] when the message or the options do not fit.
pub fn encapsulate_into(
    message: &[u8],
    params: &Params,
    buf: &mut Vec<u8>,
) -> Result<Stages, EncapError> {
    let ip_len = params.ip_len();
    let tcp_len = params.tcp.len();
    if params.ipv6.is_none() && params.ip.options.len() % 4 != 0 {
        return Err(EncapError::OptionsNotAligned {
            len: params.ip.options.len(),
        });
    }
    if ip_len > ipv4::field::MAX_HEADER_LEN {
        return Err(EncapError::OptionsTooLong {
            layer: Layer::Ipv4,
            len: ip_len - ipv4::field::HEADER_LEN,
        });
    }
    if tcp_len > tcp::field::MAX_HEADER_LEN {
        return Err(EncapError::OptionsTooLong {
            layer: Layer::Tcp,
            len: tcp_len - tcp::field::HEADER_LEN,
        });
    }
    let max = params.max_payload();
    if message.len() > max {
        return Err(if params.ipv6.is_some() {
            EncapError::TooLargeV6 {
                len: message.len(),
                max,
                tcp: tcp_len,
            }
        } else {
            EncapError::TooLarge {
                len: message.len(),
                max,
                ip: ip_len,
                tcp: tcp_len,
            }
        });
    }
    let headroom = EthernetHeader::LEN + ip_len + tcp_len;
    let end = headroom + message.len();
    // A frame shorter than 60 bytes is padded with zeros before its FCS on a wire; the FCS
    // covers the padding. (A capture on lo stores neither.)
    let pad = ethernet::field::MIN_FRAME_LEN.saturating_sub(end);
    buf.clear();
    buf.resize(end + pad + ethernet::field::FCS_LEN, 0);

    // Stage 1, Application: the payload, written once, after the headroom.
    let payload = headroom;
    buf[payload..end].copy_from_slice(message);

    // Stage 2, TCP: header in front of the payload. Its checksum is summed from the header's
    // values as they are written and from the message, not read back from the buffer.
    let tcp_start = payload - tcp_len;
    let offload = params.checksum == ChecksumMode::Offloaded;
    let payload_sum = if offload {
        0
    } else {
        crate::checksum::add(0, message)
    };
    let pseudo = match &params.ipv6 {
        Some(v6) => Pseudo::V6(v6.source, v6.destination),
        None => Pseudo::V4(params.ip.source, params.ip.destination),
    };
    params.tcp.emit_with_checksum(
        &mut buf[tcp_start..payload],
        message.len(),
        payload_sum,
        pseudo,
        offload,
    );

    // Stage 3, IPv4 (or IPv6): header in front of the segment.
    let ip_start = tcp_start - ip_len;
    let segment_len = (end - tcp_start) as u16;
    match &params.ipv6 {
        Some(v6) => v6.emit(&mut buf[ip_start..tcp_start], segment_len, IpProtocol::Tcp),
        None => {
            params.ip.emit(&mut buf[ip_start..tcp_start], segment_len);
        }
    }

    // Stage 4, Ethernet II: header in front of the packet, FCS after it.
    let eth_start = ip_start - EthernetHeader::LEN;
    let eth = EthernetHeader {
        ethertype: if params.ipv6.is_some() {
            EtherType::Ipv6
        } else {
            EtherType::Ipv4
        },
        ..params.ethernet
    };
    eth.emit(&mut buf[eth_start..ip_start]);
    let fcs = ethernet::fcs(&buf[eth_start..end + pad]);
    buf[end + pad..].copy_from_slice(&fcs.to_le_bytes());

    Ok(Stages {
        payload,
        tcp: tcp_start,
        ip: ip_start,
        ethernet: eth_start,
        end,
        pad,
        fcs,
    })
}

/// A frame built by [`encapsulate`], with the record of its stages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encapsulated {
    buf: Vec<u8>,
    stages: Stages,
}

/// One stage of the pipeline as shown: the layer, its bytes so far, and which of them it added.
#[derive(Debug, Clone)]
pub struct Stage<'a> {
    /// The layer of this stage.
    pub layer: Layer,
    /// Everything this stage hands down: its header, the layers above, and (Ethernet) the FCS.
    pub bytes: &'a [u8],
    /// The header this layer added, relative to `bytes`.
    pub header: Range<usize>,
    /// The trailer this layer added (the FCS), relative to `bytes`; empty for other layers.
    pub trailer: Range<usize>,
    /// This layer's fields, offsets relative to `bytes`.
    pub fields: Vec<Field>,
}

/// Builds the frame for `message`.
///
/// `hello\n` between two sockets on `lo`, as Linux sends it (LOOPBACK.md): a 72-byte frame whose
/// TCP checksum field holds the pseudo-header sum 0xfe2e left for checksum offload.
///
/// ```
/// use encap::pipeline::{decapsulate, encapsulate, ChecksumMode, Params};
///
/// let params = Params { checksum: ChecksumMode::Offloaded, ..Params::default() };
/// let frame = encapsulate(b"hello\n", &params).unwrap();
/// assert_eq!(frame.frame().len(), 72);
/// let back = decapsulate(frame.frame()).unwrap();
/// assert_eq!(back.tcp.checksum(), 0xfe2e);
/// assert_eq!(back.payload(), b"hello\n");
/// // On a real wire the frame ends with its CRC-32, least significant byte first.
/// assert_eq!(frame.frame_with_fcs()[72..], frame.fcs().to_le_bytes());
/// ```
///
/// # Errors
/// [`EncapError`] when the message or the options do not fit.
pub fn encapsulate(message: &[u8], params: &Params) -> Result<Encapsulated, EncapError> {
    let mut buf = Vec::new();
    let stages = encapsulate_into(message, params, &mut buf)?;
    Ok(Encapsulated { buf, stages })
}

impl Encapsulated {
    /// The frame as a capture stores it: without FCS.
    #[must_use]
    pub fn frame(&self) -> &[u8] {
        &self.buf[self.stages.ethernet..self.stages.end]
    }

    /// The frame followed by its FCS.
    #[must_use]
    pub fn frame_with_fcs(&self) -> &[u8] {
        &self.buf[self.stages.ethernet..]
    }

    /// The FCS.
    #[must_use]
    pub fn fcs(&self) -> u32 {
        self.stages.fcs
    }

    /// Where each stage starts.
    #[must_use]
    pub fn stages(&self) -> Stages {
        self.stages
    }

    /// The payload.
    #[must_use]
    pub fn payload(&self) -> &[u8] {
        &self.buf[self.stages.payload..self.stages.end]
    }

    /// The four stages, top (Application) to bottom (Ethernet II), each with its fields read back
    /// from the bytes through the layer's field table.
    #[must_use]
    pub fn stage_views(&self) -> Vec<Stage<'_>> {
        let s = self.stages;
        let end = s.end;
        let b = &self.buf;
        let v6 = b[s.ip] >> 4 == 6;
        let addrs = if v6 {
            ipv6::parse(&b[s.ip..end])
                .ok()
                .map(|p| Pseudo::V6(p.source, p.destination))
        } else {
            Ipv4Packet::new_checked(&b[s.ip..end])
                .ok()
                .map(|p| (p.source(), p.destination()).into())
        };
        let mut eth_fields = ethernet::fields(&b[s.ethernet..s.ip], 0);
        if s.pad > 0 {
            eth_fields.push(ethernet::padding_field(end - s.ethernet, s.pad));
        }
        eth_fields.push(ethernet::fcs_field(s.fcs, end + s.pad - s.ethernet));
        vec![
            Stage {
                layer: Layer::Application,
                bytes: &b[s.payload..end],
                header: 0..end - s.payload,
                trailer: 0..0,
                fields: payload::fields(&b[s.payload..end], 0),
            },
            Stage {
                layer: Layer::Tcp,
                bytes: &b[s.tcp..end],
                header: 0..s.payload - s.tcp,
                trailer: 0..0,
                fields: tcp::fields(&b[s.tcp..end], 0, addrs),
            },
            Stage {
                layer: if v6 { Layer::Ipv6 } else { Layer::Ipv4 },
                bytes: &b[s.ip..end],
                header: 0..s.tcp - s.ip,
                trailer: 0..0,
                fields: if v6 {
                    ipv6::fields(&b[s.ip..s.tcp], 0, &[])
                } else {
                    ipv4::fields(&b[s.ip..s.tcp], 0)
                },
            },
            Stage {
                layer: Layer::Ethernet,
                bytes: &b[s.ethernet..],
                header: 0..s.ip - s.ethernet,
                trailer: end - s.ethernet..b.len() - s.ethernet,
                fields: eth_fields,
            },
        ]
    }
}

/// An ARP frame built by [`encapsulate_arp`], or a neighbour solicitation or advertisement built
/// by [`encapsulate_ndp`]: Ethernet II around the packet, the padding a wire adds to reach 60
/// bytes, and the FCS after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArpFrame {
    buf: Vec<u8>,
    end: usize,
    pad: usize,
    fcs: u32,
}

impl ArpFrame {
    /// Frames `packet` (written by `write` into its bytes) in Ethernet II, pads it and appends
    /// the FCS.
    fn build(
        source: Mac,
        destination: Mac,
        ethertype: EtherType,
        len: usize,
        write: impl FnOnce(&mut [u8]),
    ) -> ArpFrame {
        let end = EthernetHeader::LEN + len;
        let pad = ethernet::field::MIN_FRAME_LEN.saturating_sub(end);
        let mut buf = vec![0; end + pad + ethernet::field::FCS_LEN];
        write(&mut buf[EthernetHeader::LEN..end]);
        EthernetHeader {
            destination,
            source,
            ethertype,
        }
        .emit(&mut buf[..EthernetHeader::LEN]);
        let fcs = ethernet::fcs(&buf[..end + pad]);
        buf[end + pad..].copy_from_slice(&fcs.to_le_bytes());
        ArpFrame { buf, end, pad, fcs }
    }

    /// The frame as a capture stores it and a packet socket sends it: header and packet, without
    /// padding or FCS (the device adds both).
    #[must_use]
    pub fn frame(&self) -> &[u8] {
        &self.buf[..self.end]
    }

    /// The frame as a wire carries it: padded to 60 bytes, then the FCS (least significant byte
    /// first).
    #[must_use]
    pub fn frame_with_fcs(&self) -> &[u8] {
        &self.buf
    }

    /// The zero bytes a wire adds before the FCS.
    #[must_use]
    pub fn pad(&self) -> usize {
        self.pad
    }

    /// The FCS.
    #[must_use]
    pub fn fcs(&self) -> u32 {
        self.fcs
    }
}

/// Builds the Ethernet frame of an ARP packet from `source` to `destination` (the broadcast
/// address for a request).
#[must_use]
pub fn encapsulate_arp(
    arp: &crate::layers::arp::ArpPacket,
    source: Mac,
    destination: Mac,
) -> ArpFrame {
    ArpFrame::build(
        source,
        destination,
        EtherType::Arp,
        crate::layers::arp::field::LEN,
        |b| arp.emit(b),
    )
}

/// Builds the Ethernet frame of a neighbour solicitation or advertisement from `from` to `to`
/// (RFC 4861): IPv6 with hop limit 255 (a receiver drops neighbour discovery that crossed a
/// router, §7.1), traffic class and flow label 0 (what Linux's `ndisc_send_skb` sends), the
/// ICMPv6 checksum over the IPv6 pseudo-header.
#[must_use]
pub fn encapsulate_ndp(
    m: &crate::layers::ndp::Message,
    source: Mac,
    destination: Mac,
    (from, to): (std::net::Ipv6Addr, std::net::Ipv6Addr),
) -> ArpFrame {
    let msg = m.emit(from, to);
    let ip = Ipv6Header {
        traffic_class: 0,
        flow_label: 0,
        hop_limit: 255,
        source: from,
        destination: to,
    };
    ArpFrame::build(
        source,
        destination,
        EtherType::Ipv6,
        Ipv6Header::LEN + msg.len(),
        |b| {
            ip.emit(b, msg.len() as u16, IpProtocol::Icmpv6);
            b[Ipv6Header::LEN..].copy_from_slice(&msg);
        },
    )
}

/// Splits `message` into segments of at most `mss` payload bytes, each a frame of its own: the
/// sequence number advances by each segment's length (and by one after a SYN, which takes a
/// sequence number of its own), the IP ID by one; SYN stays on the first segment only, FIN and
/// PSH on the last only (as Linux sets PSH on the last segment of a write). `mss` above the most
/// one packet holds ([`Params::max_payload`]) is taken as that most.
///
/// # Errors
/// [`EncapError`] when `mss` is 0 or a segment does not fit.
pub fn segment(
    message: &[u8],
    params: &Params,
    mss: usize,
) -> Result<Vec<Encapsulated>, EncapError> {
    let mss = mss.clamp(1, params.max_payload().max(1));
    let mut out = Vec::with_capacity(message.len() / mss + 1);
    let mut p = params.clone();
    let chunks: Vec<&[u8]> = if message.is_empty() {
        vec![message]
    } else {
        message.chunks(mss).collect()
    };
    let last = chunks.len() - 1;
    let (syn, fin) = (tcp::field::FLG_SYN, tcp::field::FLG_FIN);
    for (i, chunk) in chunks.into_iter().enumerate() {
        p.tcp.flags = params.tcp.flags;
        if i != 0 {
            // The SYN opens the stream once; the segments after it are data segments, with the
            // options Linux puts on those (the timestamps, if the SYN had them).
            p.tcp.flags &= !syn;
            if params.tcp.flags & syn != 0 {
                p.tcp.options = after_syn_options(&params.tcp.options);
            }
        }
        if i != last {
            // The FIN closes the stream after the last byte; PSH marks the write's end.
            p.tcp.flags &= !(tcp::field::FLG_PSH | fin);
        }
        out.push(encapsulate(chunk, &p)?);
        // SYN takes a sequence number of its own, before the first data byte.
        let consumed = chunk.len() as u32 + u32::from(p.tcp.flags & syn != 0);
        p.tcp.seq = p.tcp.seq.wrapping_add(consumed);
        p.ip.identification = p.ip.identification.wrapping_add(1);
    }
    Ok(out)
}

/// The options of a data segment that follows a SYN with `syn_options`: the SYN's timestamps, as
/// Linux sends them (`NOP, NOP, TS`), or none.
fn after_syn_options(syn_options: &[TcpOption]) -> Vec<TcpOption> {
    syn_options
        .iter()
        .find_map(|o| match *o {
            TcpOption::Timestamps { tsval, tsecr } => Some(linux_data_options(tsval, tsecr)),
            _ => None,
        })
        .unwrap_or_default()
}

/// A frame decoded back up through its layers: zero-copy views whose lengths are all checked.
#[derive(Debug, Clone, Copy)]
pub struct Decapsulated<'a> {
    /// The whole frame as given.
    pub frame: &'a [u8],
    /// The Ethernet header.
    pub ethernet: EthernetHeader,
    /// The IPv4 packet (without any padding after its total length).
    pub ip: Ipv4Packet<'a>,
    /// The TCP segment.
    pub tcp: TcpSegment<'a>,
    /// Offset of the TCP header in the frame.
    pub tcp_offset: usize,
}

impl<'a> Decapsulated<'a> {
    /// The application payload.
    #[must_use]
    pub fn payload(&self) -> &'a [u8] {
        self.tcp.payload()
    }

    /// Offset of the payload in the frame.
    #[must_use]
    pub fn payload_offset(&self) -> usize {
        self.tcp_offset + self.tcp.header_len()
    }

    /// Every layer's fields, bottom (Ethernet) to top (Application), with absolute offsets.
    #[must_use]
    pub fn layers(&self) -> Vec<(Layer, Vec<Field>)> {
        let ip_off = EthernetHeader::LEN;
        let addrs = Some((self.ip.source(), self.ip.destination()).into());
        vec![
            (Layer::Ethernet, ethernet::fields(self.frame, 0)),
            (Layer::Ipv4, ipv4::fields(self.ip.header(), ip_off)),
            (
                Layer::Tcp,
                tcp::fields(self.tcp.as_bytes(), self.tcp_offset, addrs),
            ),
            (
                Layer::Application,
                payload::fields(self.payload(), self.payload_offset()),
            ),
        ]
    }
}

/// Decodes an Ethernet II / IPv4 / TCP frame (without FCS), validating every length.
///
/// # Errors
/// A [`DecodeError`] naming the layer, the field and the absolute byte offset.
#[inline]
pub fn decapsulate(frame: &[u8]) -> Result<Decapsulated<'_>, DecodeError> {
    let (ethernet, rest) = EthernetHeader::parse(frame)?;
    if ethernet.ethertype != EtherType::Ipv4 {
        let t = u16::from(ethernet.ethertype);
        return Err(DecodeError::Invalid {
            layer: Layer::Ethernet,
            field: "Type",
            offset: ethernet::field::ETHERTYPE.start,
            value: format!("0x{t:04x} ({})", ethernet.ethertype.name()),
            why: "the pipeline carries IPv4 (0x0800) only",
        });
    }
    let ip = Ipv4Packet::new_checked(rest).map_err(|e| e.add_offset(EthernetHeader::LEN))?;
    if ip.protocol() != IpProtocol::Tcp {
        let p = ip.protocol();
        return Err(DecodeError::Invalid {
            layer: Layer::Ipv4,
            field: "Protocol",
            offset: EthernetHeader::LEN + ipv4::field::PROTOCOL.start,
            value: format!("{} ({})", u8::from(p), p.name()),
            why: "the pipeline carries TCP (6) only",
        });
    }
    let tcp_offset = EthernetHeader::LEN + ip.header_len();
    let tcp = TcpSegment::new_checked(ip.payload()).map_err(|e| e.add_offset(tcp_offset))?;
    Ok(Decapsulated {
        frame,
        ethernet,
        ip,
        tcp,
        tcp_offset,
    })
}

/// Every field of a decoded frame, owned, for comparing a round trip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headers {
    /// Ethernet header.
    pub ethernet: EthernetHeader,
    /// IPv4 header.
    pub ip: Ipv4Header,
    /// TCP header.
    pub tcp: TcpHeader,
    /// Payload.
    pub payload: Vec<u8>,
}

impl Decapsulated<'_> {
    /// Reads every header into owned values.
    ///
    /// # Errors
    /// A malformed TCP option, with its absolute offset.
    pub fn headers(&self) -> Result<Headers, DecodeError> {
        Ok(Headers {
            ethernet: self.ethernet,
            ip: Ipv4Header::parse(&self.ip),
            tcp: TcpHeader::parse(&self.tcp).map_err(|e| e.add_offset(self.tcp_offset))?,
            payload: self.payload().to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_on_lo_matches_the_kernel() {
        // LOOPBACK.md: "hello\n" becomes a 72-byte frame with PSH|ACK and checksum 0xfe2e.
        let p = Params {
            checksum: ChecksumMode::Offloaded,
            ..Params::default()
        };
        let e = encapsulate(b"hello\n", &p).unwrap();
        assert_eq!(e.frame().len(), 72);
        let d = decapsulate(e.frame()).unwrap();
        assert_eq!(d.tcp.checksum(), 0xfe2e);
        assert_eq!(d.tcp.flags(), tcp::field::FLG_PSH | tcp::field::FLG_ACK);
        assert!(d.ip.verify_checksum());
        assert_eq!(d.payload(), b"hello\n");
        assert_eq!(e.frame_with_fcs().len(), 76);
    }

    #[test]
    fn stages_nest() {
        let e = encapsulate("你好".as_bytes(), &Params::default()).unwrap();
        let v = e.stage_views();
        assert_eq!(
            v.iter().map(|s| s.bytes.len()).collect::<Vec<_>>(),
            [6, 38, 58, 76]
        );
        assert_eq!(v[3].trailer, 72..76);
        // Each stage ends with the stage above it.
        for w in v.windows(2) {
            let upper = w[0].bytes;
            let lower = &w[1].bytes[..w[1].bytes.len() - w[1].trailer.len()];
            assert!(lower.ends_with(upper));
        }
    }

    #[test]
    fn ipv6_frames_carry_the_ipv6_header_and_pseudo_header_sum() {
        let a = |port| SocketAddr::new(std::net::Ipv6Addr::LOCALHOST.into(), port);
        let mut p = Params::between_any(a(52174), a(46690));
        p.checksum = ChecksumMode::Offloaded;
        p.tcp.flags = tcp::field::FLG_ACK;
        let e = encapsulate(b"", &p).unwrap();
        let f = e.frame();
        assert_eq!(f.len(), 14 + 40 + 32);
        assert_eq!(f[12..14], [0x86, 0xdd]);
        assert_eq!(f[14] >> 4, 6);
        assert_eq!(f[18..20], [0, 32], "payload length: the TCP header");
        assert_eq!((f[20], f[21]), (6, 64), "next header TCP, hop limit 64");
        // As captured on lo (an ACK between two ::1 sockets): ::1 + ::1 + 6 + 32 = 0x0028.
        assert_eq!(f[14 + 40 + 16..14 + 40 + 18], [0x00, 0x28]);
        let views = e.stage_views();
        assert_eq!(views[2].layer, Layer::Ipv6);
        assert_eq!(views[2].header, 0..40);
        // The payload length field does not count the IPv6 header: 65535 - 32 bytes fit.
        assert!(encapsulate(&vec![0; 65_503], &p).is_ok());
        assert_eq!(
            encapsulate(&vec![0; 65_504], &p).unwrap_err(),
            EncapError::TooLargeV6 {
                len: 65_504,
                max: 65_503,
                tcp: 32
            }
        );
    }

    #[test]
    fn too_large_says_the_limit() {
        let p = Params::default();
        let e = encapsulate(&vec![b'x'; 70_000], &p).unwrap_err();
        assert_eq!(
            e,
            EncapError::TooLarge {
                len: 70_000,
                max: 65_483,
                ip: 20,
                tcp: 32
            }
        );
        assert!(e.to_string().contains("65483"));
        assert!(encapsulate(&vec![b'x'; 65_483], &p).is_ok());
    }

    #[test]
    fn segments_advance_seq_and_id() {
        let p = Params::default();
        let segs = segment(&[7u8; 3000], &p, 1448).unwrap();
        assert_eq!(segs.len(), 3);
        let d: Vec<_> = segs
            .iter()
            .map(|s| decapsulate(s.frame()).unwrap())
            .collect();
        assert_eq!(
            d.iter().map(|x| x.tcp.seq()).collect::<Vec<_>>(),
            [1, 1449, 2897]
        );
        assert_eq!(
            d.iter().map(|x| x.ip.identification()).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(
            d.iter().map(|x| x.tcp.flags()).collect::<Vec<_>>(),
            [0x10, 0x10, 0x18]
        );
        assert_eq!(d.iter().map(|x| x.payload().len()).sum::<usize>(), 3000);
    }

    #[test]
    fn syn_on_the_first_segment_fin_on_the_last_and_the_syn_takes_a_number() {
        let mut p = Params::default();
        p.tcp.flags = tcp::field::FLG_SYN | tcp::field::FLG_FIN;
        p.tcp.options = linux_syn_options(65495, 7, 0, 10);
        let segs = segment(b"abcdefghij", &p, 4).unwrap();
        let d: Vec<_> = segs
            .iter()
            .map(|s| decapsulate(s.frame()).unwrap())
            .collect();
        // S, then no flag, then F (tcpdump's [S], [none], [F]).
        assert_eq!(
            d.iter().map(|x| x.tcp.flags()).collect::<Vec<_>>(),
            [0x002, 0x000, 0x001]
        );
        // The SYN's 4 bytes are 1..=4 after its own number 1: the next starts at 6, then 10.
        assert_eq!(
            d.iter().map(|x| x.tcp.seq()).collect::<Vec<_>>(),
            [1, 6, 10]
        );
        // Only the SYN carries the SYN options; the others the timestamps, as Linux.
        assert_eq!(
            d.iter().map(|x| x.tcp.header_len()).collect::<Vec<_>>(),
            [40, 32, 32]
        );
    }

    #[test]
    fn wrong_type_and_protocol() {
        let e = encapsulate(b"x", &Params::default()).unwrap();
        let mut f = e.frame().to_vec();
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        let err = decapsulate(&f).unwrap_err();
        assert_eq!((err.layer(), err.offset()), (Layer::Ethernet, 12));
        let mut f = e.frame().to_vec();
        f[23] = 17;
        let err = decapsulate(&f).unwrap_err();
        assert_eq!((err.layer(), err.offset()), (Layer::Ipv4, 23));
    }
}
