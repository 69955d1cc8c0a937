//! Decoding any captured frame layer by layer: Ethernet II, 802.1Q, ARP, IPv4, IPv6, TCP, UDP,
//! ICMP, ICMPv6, and raw bytes for anything else (never dropped).
//!
//! Two levels, as in the layer files: [`slice`] walks the frame once with zero-copy views and
//! records where each layer starts (the one-line view and filters use it, so it must be cheap);
//! [`dissect`] turns a slice into a tree of layers whose fields come from each layer's field
//! table (the `-v`, `-x` and `--json` views use it). A malformed frame is decoded as far as it
//! goes: the layers before the error are whole, the failing layer shows the fields its bytes
//! hold, and the error names layer, field and absolute offset.

use std::net::Ipv4Addr;
use std::ops::Range;

use crate::checksum::Pseudo;
use crate::layers::ethernet::{self, EtherType, EthernetHeader};
use crate::layers::ipv4::{self, IpProtocol, Ipv4Packet};
use crate::layers::ipv6::{self, Ipv6Packet};
use crate::layers::link::{self, link_type};
use crate::layers::tcp::{self, TcpSegment};
use crate::layers::{arp, icmp, payload, udp, vlan, DecodeError, Field, Layer, RawField, Value};

/// The network layer of a frame.
#[derive(Debug, Clone)]
pub enum Net<'a> {
    /// Nothing decoded (the Ethernet header itself is cut short).
    None,
    /// IPv4.
    Ipv4(Ipv4Packet<'a>),
    /// IPv6, with the bytes from its header to the end of its payload.
    Ipv6(Ipv6Packet, &'a [u8]),
    /// ARP: opcode, sender and target IPv4 addresses.
    Arp(u16, Ipv4Addr, Ipv4Addr),
    /// Another EtherType, its payload raw.
    Other(EtherType, &'a [u8]),
}

/// The transport layer of a frame.
#[derive(Debug, Clone, Copy)]
pub enum Transport<'a> {
    /// Nothing decoded.
    None,
    /// TCP.
    Tcp(TcpSegment<'a>),
    /// UDP: source port, destination port, payload.
    Udp(u16, u16, &'a [u8]),
    /// ICMP or ICMPv6 (by the layer): type and code.
    Icmp(Layer, u8, u8),
    /// Another IP protocol, its bytes raw.
    Other(IpProtocol, &'a [u8]),
}

/// A frame walked once: the views of its layers and where each starts.
#[derive(Debug, Clone)]
pub struct Sliced<'a> {
    /// The frame as captured.
    pub frame: &'a [u8],
    /// The Ethernet header, when the frame holds one.
    pub ethernet: Option<EthernetHeader>,
    /// The VLAN ID of an 802.1Q tag (the outer one of two).
    pub vlan: Option<u16>,
    /// The VLAN ID of the inner tag of two (QinQ).
    pub inner_vlan: Option<u16>,
    /// The network layer.
    pub net: Net<'a>,
    /// Offset of the network layer.
    pub net_at: usize,
    /// The transport layer.
    pub transport: Transport<'a>,
    /// Offset of the transport layer.
    pub transport_at: usize,
    /// The application payload's bytes in the frame.
    pub payload: Range<usize>,
    /// One past the last byte the layers account for (what follows is padding).
    pub end: usize,
    /// The first error, and the layer and offset where decoding stopped.
    pub error: Option<(DecodeError, Layer, usize)>,
    /// For an IP fragment: its offset in bytes and whether more fragments follow.
    pub fragment: Option<(usize, bool)>,
}

impl<'a> Sliced<'a> {
    /// The application payload.
    #[must_use]
    pub fn payload(&self) -> &'a [u8] {
        self.frame.get(self.payload.clone()).unwrap_or_default()
    }

    /// Source and destination port of TCP or UDP (also of a TCP header cut short, when its
    /// ports were captured).
    #[must_use]
    pub fn ports(&self) -> Option<(u16, u16)> {
        match self.transport {
            Transport::Tcp(t) => Some((t.src_port(), t.dst_port())),
            Transport::Udp(s, d, _) => Some((s, d)),
            _ => self
                .cut_tcp("tcp.srcport")
                .zip(self.cut_tcp("tcp.dstport"))
                .map(|(s, d)| (s as u16, d as u16)),
        }
    }

    /// A field of a TCP header that could not be decoded whole (cut short), read through the
    /// field table from the bytes that were captured: `None` when there is no such header, or
    /// the field itself was not captured.
    #[must_use]
    pub fn cut_tcp(&self, key: &str) -> Option<u64> {
        let tcp = match &self.net {
            Net::Ipv4(p) => p.protocol() == IpProtocol::Tcp,
            Net::Ipv6(p, _) => p.protocol == IpProtocol::Tcp,
            _ => false,
        };
        if !tcp || !matches!(self.transport, Transport::None) || self.error.is_none() {
            return None;
        }
        let bytes = self.frame.get(self.transport_at..)?;
        tcp::FIELDS.iter().find(|f| f.key == key)?.read(bytes)
    }

    /// The TCP payload's length: as the IP header gives it, also when the capture's snapshot
    /// length cut the frame short of it (as tcpdump and tshark give it); `None` without a whole
    /// TCP header.
    #[must_use]
    pub fn tcp_len(&self) -> Option<usize> {
        let Transport::Tcp(t) = self.transport else {
            return None;
        };
        let captured = t.payload().len();
        Some(match (&self.error, self.original_len()) {
            (Some(_), Some(whole)) if whole > self.frame.len() => whole
                .saturating_sub(self.transport_at + t.header_len())
                .max(captured),
            _ => captured,
        })
    }

    /// The length the frame had on the link, as far as its headers tell: 14 (+4 with a VLAN tag)
    /// + the IP packet's length; `None` when no IP header says.
    #[must_use]
    pub fn original_len(&self) -> Option<usize> {
        match (&self.net, &self.error) {
            (Net::Ipv4(p), _) => Some(self.net_at + usize::from(p.total_len())),
            (Net::Ipv6(_, b), _) => Some(self.net_at + ipv6::declared_len(b)?),
            // A cut-short IP header still states the length the packet had.
            (Net::None, Some((_, Layer::Ipv4, _))) => {
                Some(self.net_at + ipv4::declared_len(self.frame.get(self.net_at..)?)?)
            }
            (Net::None, Some((_, Layer::Ipv6, _))) => {
                Some(self.net_at + ipv6::declared_len(self.frame.get(self.net_at..)?)?)
            }
            _ => None,
        }
    }
}

fn stop<'a>(mut s: Sliced<'a>, e: DecodeError, layer: Layer, at: usize) -> Sliced<'a> {
    // The first error is the cause (an IPv4 packet cut short cuts its TCP header too).
    if s.error.is_none() {
        s.error = Some((e.add_offset(at), layer, at));
    }
    s
}

/// The EtherType of an 802.1ad (QinQ) service tag.
const QINQ: u16 = 0x88a8;

/// Nothing decoded yet, the network layer expected at `net_at`.
fn unsliced(frame: &[u8], net_at: usize) -> Sliced<'_> {
    Sliced {
        frame,
        ethernet: None,
        vlan: None,
        inner_vlan: None,
        net: Net::None,
        net_at,
        transport: Transport::None,
        transport_at: frame.len(),
        payload: frame.len()..frame.len(),
        end: frame.len(),
        error: None,
        fragment: None,
    }
}

/// Walks a frame of link type `link` (a pcap link type: Ethernet, or one that
/// [`crate::layers::link`] decodes) once, layer by layer, as far as it decodes.
#[must_use]
pub fn slice_link(frame: &[u8], link: u32) -> Sliced<'_> {
    if link == link_type::ETHERNET {
        return slice(frame);
    }
    let s = unsliced(frame, 0);
    match link::parse(link, frame) {
        Ok((ethertype, len)) => {
            let rest = frame.get(len..).unwrap_or_default();
            slice_net(unsliced(frame, len), ethertype, rest)
        }
        Err(e) => stop(s, e, Layer::Link, 0),
    }
}

/// Walks `frame`, an Ethernet frame, once, layer by layer, as far as it decodes.
#[must_use]
pub fn slice(frame: &[u8]) -> Sliced<'_> {
    let mut s = unsliced(frame, EthernetHeader::LEN);
    let (eth, mut rest) = match EthernetHeader::parse(frame) {
        Ok(x) => x,
        Err(e) => return stop(s, e, Layer::Ethernet, 0),
    };
    s.ethernet = Some(eth);
    let mut ethertype = eth.ethertype;
    // 802.1Q, and QinQ (802.1ad: an outer tag 0x88a8, or 0x8100 twice): two tags at most.
    for depth in 0..2 {
        if !matches!(ethertype, EtherType::Vlan | EtherType::Unknown(QINQ)) {
            break;
        }
        match vlan::parse(rest) {
            Ok((id, inner, after)) => {
                if depth == 0 {
                    s.vlan = Some(id);
                } else {
                    s.inner_vlan = Some(id);
                }
                ethertype = inner;
                rest = after;
                s.net_at += vlan::field::HEADER_LEN;
            }
            Err(e) => {
                let at = s.net_at;
                return stop(s, e, Layer::Vlan, at);
            }
        }
    }
    slice_net(s, ethertype, rest)
}

/// The network layer (`ethertype`, its bytes `rest` at `s.net_at`) and everything above it.
fn slice_net<'a>(mut s: Sliced<'a>, ethertype: EtherType, rest: &'a [u8]) -> Sliced<'a> {
    let at = s.net_at;
    let (protocol, upper, upper_at) = match ethertype {
        EtherType::Ipv4 => match Ipv4Packet::new_checked(rest).or_else(|e| {
            // Cut short by the capture (a snapshot length): decode what was captured, and keep
            // the error so the frame is not taken for whole.
            let cut = Ipv4Packet::new_cut(rest).ok_or_else(|| e.clone())?;
            s.error = Some((e.add_offset(at), Layer::Ipv4, at));
            Ok::<_, DecodeError>(cut)
        }) {
            Ok(p) => {
                s.end = at + p.as_bytes().len();
                s.net = Net::Ipv4(p);
                let flags = u16::from_be_bytes([p.header()[6], p.header()[7]]);
                if flags & 0x3fff != 0 {
                    s.fragment = Some((usize::from(flags & 0x1fff) * 8, flags & 0x2000 != 0));
                }
                if let Some(raw) =
                    later_fragment(&mut s, p.protocol(), p.payload(), at + p.header_len())
                {
                    return raw;
                }
                (p.protocol(), p.payload(), at + p.header_len())
            }
            Err(e) => return stop(s, e, Layer::Ipv4, at),
        },
        EtherType::Ipv6 => match ipv6::parse(rest).or_else(|e| {
            // Cut short by the capture, as IPv4 above.
            let cut = ipv6::parse_cut(rest).ok_or_else(|| e.clone())?;
            s.error = Some((e.add_offset(at), Layer::Ipv6, at));
            Ok::<_, DecodeError>(cut)
        }) {
            Ok(p) => {
                let bytes = &rest[..p.end];
                s.end = at + p.end;
                let (proto, upper, upper_at) = (p.protocol, &bytes[p.upper..], at + p.upper);
                // A Fragment extension header: offset (13 bits, 8-byte units) and M flag.
                s.fragment = p.extensions.iter().find(|e| e.kind == 44).and_then(|e| {
                    let w = bytes.get(e.bytes.start + 2..e.bytes.start + 4)?;
                    let v = u16::from_be_bytes([w[0], w[1]]);
                    Some((usize::from(v >> 3) * 8, v & 1 != 0))
                });
                s.net = Net::Ipv6(p, bytes);
                if let Some(raw) = later_fragment(&mut s, proto, upper, upper_at) {
                    return raw;
                }
                (proto, upper, upper_at)
            }
            Err(e) => return stop(s, e, Layer::Ipv6, at),
        },
        EtherType::Arp => match arp::parse(rest) {
            Ok((op, sender, target)) => {
                s.net = Net::Arp(op, sender, target);
                s.end = at + arp::field::LEN;
                return s;
            }
            Err(e) => return stop(s, e, Layer::Arp, at),
        },
        other => {
            s.net = Net::Other(other, rest);
            return s;
        }
    };
    s.transport_at = upper_at;
    // Bytes cut by the capture end a header early; in a packet captured whole, a header that
    // runs past the end is a bad length field.
    let whole = s.error.is_none();
    match protocol {
        IpProtocol::Tcp => match if whole {
            TcpSegment::new_checked_whole(upper)
        } else {
            TcpSegment::new_checked(upper)
        } {
            Ok(t) => {
                s.transport = Transport::Tcp(t);
                s.payload = upper_at + t.header_len()..upper_at + upper.len();
            }
            Err(e) => return stop(s, e, Layer::Tcp, upper_at),
        },
        // A first fragment holds the UDP header, and only part of the data its Length counts.
        IpProtocol::Udp => match if s.fragment == Some((0, true)) {
            udp::parse_first_fragment(upper)
        } else {
            udp::parse(upper)
        } {
            Ok((src, dst, data)) => {
                s.transport = Transport::Udp(src, dst, data);
                s.payload = upper_at + udp::field::HEADER_LEN
                    ..upper_at + udp::field::HEADER_LEN + data.len();
            }
            Err(e) => return stop(s, e, Layer::Udp, upper_at),
        },
        IpProtocol::Icmp | IpProtocol::Icmpv6 => {
            let layer = if protocol == IpProtocol::Icmp {
                Layer::Icmp
            } else {
                Layer::Icmpv6
            };
            match icmp::parse(upper, layer) {
                Ok((t, c)) => {
                    s.transport = Transport::Icmp(layer, t, c);
                    let hlen = icmp::message_header_len(upper, layer);
                    s.payload = upper_at + hlen..upper_at + upper.len();
                }
                Err(e) => return stop(s, e, layer, upper_at),
            }
        }
        other => s.transport = Transport::Other(other, upper),
    }
    s
}

/// The layer that decodes an IP protocol, if this decoder has one.
fn transport_layer(p: IpProtocol) -> Option<Layer> {
    match p {
        IpProtocol::Tcp => Some(Layer::Tcp),
        IpProtocol::Udp => Some(Layer::Udp),
        IpProtocol::Icmp => Some(Layer::Icmp),
        IpProtocol::Icmpv6 => Some(Layer::Icmpv6),
        IpProtocol::Unknown(_) => None,
    }
}

/// A fragment after the first carries no transport header: without reassembly its bytes are
/// shown raw, flagged. (The first fragment, offset 0, starts with the transport header, which is
/// decoded as far as its bytes go.)
fn later_fragment<'a>(
    s: &mut Sliced<'a>,
    protocol: IpProtocol,
    upper: &'a [u8],
    upper_at: usize,
) -> Option<Sliced<'a>> {
    match s.fragment {
        Some((offset, _)) if offset > 0 => {
            s.transport = Transport::Other(protocol, upper);
            s.transport_at = upper_at;
            s.payload = s.end..s.end;
            Some(s.clone())
        }
        _ => None,
    }
}

/// The TCP or UDP ports of an Ethernet frame, if it has them.
#[must_use]
pub fn ports(frame: &[u8]) -> Option<(u16, u16)> {
    slice(frame).ports()
}

/// One layer of a dissected frame.
#[derive(Debug, Clone)]
pub struct Node {
    /// The layer.
    pub layer: Layer,
    /// Its bytes in the frame (header, or for raw data and payload, the bytes).
    pub range: Range<usize>,
    /// Its fields, absolute offsets.
    pub fields: Vec<Field>,
}

/// A frame decoded into a tree of layers.
#[derive(Debug, Clone)]
pub struct Dissection {
    /// Layers, outermost first.
    pub nodes: Vec<Node>,
    /// Why decoding stopped early, if it did.
    pub error: Option<DecodeError>,
}

fn raw(
    layer: Layer,
    name: &'static str,
    key: &'static str,
    bytes: &[u8],
    at: usize,
    meaning: &'static str,
) -> Node {
    Node {
        layer,
        range: at..at + bytes.len(),
        fields: vec![Field {
            name: name.into(),
            key: key.into(),
            bytes: at..at + bytes.len(),
            mask: None,
            value: Value::Bytes(bytes.to_vec()),
            display: format!("{} bytes", bytes.len()),
            meaning: meaning.into(),
        }],
    }
}

/// Decodes `frame`, an Ethernet frame, into a tree of layers with every field from the layers'
/// field tables.
#[must_use]
pub fn dissect(frame: &[u8]) -> Dissection {
    dissect_link(frame, link_type::ETHERNET)
}

/// The fields [`dissect`] would give an Ethernet frame of TCP over IPv4 or IPv6, as raw values
/// without their displays (the fast path of `verify`): appended to `out`, in [`dissect`]'s
/// order. False, with `out` left partly filled, for any other frame (a VLAN tag, padding, an
/// IPv6 extension header, a malformed option, a fragment, an error): only [`dissect`] shows those.
pub fn raw_fields<'a>(frame: &'a [u8], out: &mut Vec<RawField<'a>>) -> bool {
    raw_fields_of(&slice(frame), out)
}

/// [`raw_fields`] of a frame already sliced (an Ethernet frame's, as [`slice`] walks it).
pub fn raw_fields_of<'a>(s: &Sliced<'a>, out: &mut Vec<RawField<'a>>) -> bool {
    let frame = s.frame;
    let plain = s.error.is_none()
        && s.vlan.is_none()
        && s.fragment.is_none()
        && s.end == frame.len()
        && ethernet::raw_fields(frame, 0, out);
    let Transport::Tcp(t) = s.transport else {
        return false;
    };
    if !plain {
        return false;
    }
    match &s.net {
        Net::Ipv4(p) => ipv4::raw_fields(p.header(), s.net_at, out),
        Net::Ipv6(p, b) if p.extensions.is_empty() => ipv6::raw_fields(b, s.net_at, out),
        _ => return false,
    }
    if !tcp::raw_fields(t.as_bytes(), s.transport_at, out) {
        return false;
    }
    let p = s.payload();
    if !p.is_empty() {
        payload::raw_fields(p, s.payload.start, out);
    }
    true
}

/// What decides the keys [`raw_fields_of`] walks in a frame it takes, written into `out` (its
/// network layer and header length, its TCP header's length and its options' kinds in order
/// (each marked when it was not read as that kind's option),
/// whether it carries a payload): two frames of the same shape have the same keys in the same
/// order. False (and `out` empty) for a frame `raw_fields_of` does not take.
pub fn shape_of(s: &Sliced<'_>, out: &mut Vec<u8>) -> bool {
    out.clear();
    let ethernet_ii = s
        .ethernet
        .as_ref()
        .is_some_and(|e| usize::from(u16::from(e.ethertype)) > ethernet::MAX_8023_LENGTH);
    let Transport::Tcp(t) = s.transport else {
        return false;
    };
    if !ethernet_ii
        || s.error.is_some()
        || s.vlan.is_some()
        || s.fragment.is_some()
        || s.end != s.frame.len()
    {
        return false;
    }
    match &s.net {
        Net::Ipv4(p) => out.extend([4, u8::try_from(p.header_len()).unwrap_or(0)]),
        Net::Ipv6(p, _) if p.extensions.is_empty() => out.push(6),
        _ => return false,
    }
    out.push(u8::try_from(t.header_len()).unwrap_or(0));
    for item in tcp::options(t.options_raw()) {
        let Ok((_, opt)) = item else {
            out.clear();
            return false;
        };
        // (A known kind of the wrong length is read as an unknown option, with other keys.)
        let unknown = matches!(opt, tcp::TcpOption::Unknown { .. });
        out.extend([opt.kind(), u8::from(unknown)]);
    }
    out.push(u8::from(!s.payload().is_empty()));
    true
}

/// As [`dissect`], for a frame of link type `link` (see [`slice_link`]). Over 80 lines: one
/// arm per layer that may fail, each as short as the layer's own `fields` lets it be.
#[must_use]
pub fn dissect_link(frame: &[u8], link: u32) -> Dissection {
    let s = slice_link(frame, link);
    let mut nodes = Vec::with_capacity(5);
    let (failed_layer, failed_at) = s
        .error
        .as_ref()
        .map_or((None, 0), |(_, l, at)| (Some(*l), *at));
    let tail = |at: usize| frame.get(at..).unwrap_or_default();

    if link == link_type::ETHERNET {
        let eth_end = EthernetHeader::LEN.min(frame.len());
        nodes.push(Node {
            layer: Layer::Ethernet,
            range: 0..eth_end,
            fields: ethernet::fields(frame, 0),
        });
    } else if s.net_at > 0 || failed_layer == Some(Layer::Link) {
        let end = s
            .net_at
            .max(link::table(link).last().map_or(0, |f| f.bytes.end));
        let header = frame.get(..end.min(frame.len())).unwrap_or_default();
        nodes.push(Node {
            layer: Layer::Link,
            range: 0..header.len(),
            fields: link::fields(link, header, 0),
        });
    }
    let tags = usize::from(s.vlan.is_some()) + usize::from(s.inner_vlan.is_some());
    let failed_tag = usize::from(failed_layer == Some(Layer::Vlan));
    for k in 0..tags + failed_tag {
        let at = EthernetHeader::LEN + k * vlan::field::HEADER_LEN;
        nodes.push(Node {
            layer: Layer::Vlan,
            range: at.min(frame.len())..(at + vlan::field::HEADER_LEN).min(frame.len()),
            fields: vlan::fields(tail(at), at),
        });
    }
    let at = s.net_at;
    match (&s.net, failed_layer) {
        (Net::Ipv4(p), _) => nodes.push(Node {
            layer: Layer::Ipv4,
            range: at..at + p.header_len(),
            fields: ipv4::fields(p.header(), at),
        }),
        (Net::Ipv6(p, b), _) => nodes.push(Node {
            layer: Layer::Ipv6,
            range: at..at + p.upper,
            fields: ipv6::fields(b, at, &p.extensions),
        }),
        (Net::Arp(..), _) => nodes.push(Node {
            layer: Layer::Arp,
            range: at..at + arp::field::LEN,
            fields: arp::fields(tail(at), at),
        }),
        (Net::Other(t, b), _) => {
            let mut n = raw(
                Layer::Raw,
                "Data",
                "data.data",
                b,
                at,
                "payload of an EtherType this decoder does not know",
            );
            let t = u16::from(*t);
            n.fields[0].display = match b {
                [dsap, ssap, ctrl, ..] if usize::from(t) <= ethernet::MAX_8023_LENGTH => format!(
                    "{} bytes of IEEE 802.3 payload: LLC, DSAP 0x{dsap:02x}, SSAP 0x{ssap:02x}, control 0x{ctrl:02x}",
                    b.len()
                ),
                _ => format!("{} bytes of EtherType 0x{t:04x}", b.len()),
            };
            nodes.push(n);
        }
        (Net::None, Some(Layer::Ipv4)) => nodes.push(Node {
            layer: Layer::Ipv4,
            range: at..frame.len(),
            fields: ipv4::fields(tail(at), at),
        }),
        (Net::None, Some(Layer::Ipv6)) => nodes.push(Node {
            layer: Layer::Ipv6,
            range: at..frame.len(),
            fields: ipv6::fields(tail(at), at, &[]),
        }),
        (Net::None, Some(Layer::Arp)) => nodes.push(Node {
            layer: Layer::Arp,
            range: at..frame.len(),
            fields: arp::fields(tail(at), at),
        }),
        _ => {}
    }
    let at = s.transport_at;
    // (A segment the capture cut short: its checksum cannot be verified, as tshark says.)
    let addrs = match &s.net {
        _ if s.tcp_len() != Some(s.payload().len()) && s.tcp_len().is_some() => None,
        Net::Ipv4(p) => Some(Pseudo::V4(p.source(), p.destination())),
        Net::Ipv6(p, _) => Some(Pseudo::V6(p.source, p.destination)),
        _ => None,
    };
    let upper_end = s.end.min(frame.len());
    let upper = frame.get(at..upper_end).unwrap_or_default();
    match s.transport {
        Transport::Tcp(t) => nodes.push(Node {
            layer: Layer::Tcp,
            range: at..at + t.header_len(),
            fields: tcp::fields(t.as_bytes(), at, addrs),
        }),
        Transport::Udp(..) => nodes.push(Node {
            layer: Layer::Udp,
            range: at..at + udp::field::HEADER_LEN,
            fields: udp::fields(upper, at, addrs),
        }),
        Transport::Icmp(layer, ..) => nodes.push(Node {
            layer,
            range: at..s.payload.start,
            fields: icmp::fields(upper, at, layer, addrs),
        }),
        Transport::Other(p, b) => {
            let fragment = s.fragment.is_some();
            let mut n = raw(
                Layer::Raw,
                "Data",
                "data.data",
                b,
                at,
                if fragment {
                    "an IPv4 fragment: not reassembled, shown raw"
                } else {
                    "payload of an IP protocol this decoder does not know"
                },
            );
            n.fields[0].display = format!(
                "{} bytes of IP protocol {} ({}){}",
                b.len(),
                u8::from(p),
                p.name(),
                if fragment { ", fragment" } else { "" }
            );
            nodes.push(n);
        }
        // The transport header did not decode whole: show the fields its bytes hold, whether it
        // failed itself or the IP packet around it was cut short.
        Transport::None => match failed_layer
            .filter(|l| !matches!(l, Layer::Ipv4 | Layer::Ipv6))
            .or(match &s.net {
                Net::Ipv4(p) => transport_layer(p.protocol()),
                Net::Ipv6(p, _) => transport_layer(p.protocol),
                _ => None,
            }) {
            Some(Layer::Tcp) => nodes.push(Node {
                layer: Layer::Tcp,
                range: at..upper_end.max(at),
                fields: tcp::fields(upper, at, addrs),
            }),
            Some(Layer::Udp) => nodes.push(Node {
                layer: Layer::Udp,
                range: at..upper_end.max(at),
                fields: udp::fields(upper, at, addrs),
            }),
            Some(l @ (Layer::Icmp | Layer::Icmpv6)) => nodes.push(Node {
                layer: l,
                range: at..upper_end.max(at),
                fields: icmp::fields(upper, at, l, addrs),
            }),
            _ => {}
        },
    }
    let p = s.payload();
    if !p.is_empty() {
        nodes.push(Node {
            layer: Layer::Application,
            range: s.payload.clone(),
            fields: payload::fields(p, s.payload.start),
        });
    }
    if s.error.is_none() && s.end < frame.len() {
        nodes.push(raw(
            Layer::Raw,
            "Padding",
            "eth.padding",
            &frame[s.end..],
            s.end,
            "bytes after the IP packet, to reach Ethernet's 60-byte minimum",
        ));
    }
    if let Some(l) = failed_layer {
        if !nodes.iter().any(|n| n.layer == l) && failed_at < frame.len() {
            // The failing layer had no fields to show: keep its bytes visible.
            nodes.push(raw(
                Layer::Raw,
                "Undecoded",
                "_ws.malformed",
                tail(failed_at),
                failed_at,
                "bytes after the error, raw",
            ));
        }
    }
    Dissection {
        nodes,
        error: s.error.map(|(e, ..)| e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{encapsulate, Params};

    #[test]
    fn a_known_option_kind_of_another_length_is_another_shape() {
        // Timestamps (kind 8) of 10 bytes give two keys; kind 8 of 6 bytes is read as an
        // unknown option, one key. With an unknown kind after each, of 4 and 8 bytes, both
        // headers are 16 bytes of options of kinds 1, 1, 8, 30: the shapes must still differ,
        // as the keys do.
        let unknown = |kind: u8, len: usize| tcp::TcpOption::Unknown {
            kind,
            data: vec![0; len - 2],
        };
        let nops = [tcp::TcpOption::Nop, tcp::TcpOption::Nop];
        let mut p = Params::default();
        p.tcp.options = [
            &nops[..],
            &[
                tcp::TcpOption::Timestamps { tsval: 1, tsecr: 1 },
                unknown(30, 4),
            ],
        ]
        .concat();
        let ts = encapsulate(b"hi", &p).unwrap();
        p.tcp.options = [&nops[..], &[unknown(tcp::field::OPT_TS, 6), unknown(30, 8)]].concat();
        let odd = encapsulate(b"hi", &p).unwrap();
        let shape = |f: &[u8]| {
            let mut out = Vec::new();
            assert!(shape_of(&slice(f), &mut out));
            out
        };
        let keys = |f: &[u8]| {
            let mut out = Vec::new();
            assert!(raw_fields_of(&slice(f), &mut out));
            out.iter().map(|k| k.key).collect::<Vec<_>>()
        };
        assert_eq!(ts.frame().len(), odd.frame().len());
        assert_ne!(keys(ts.frame()), keys(odd.frame()));
        assert_ne!(shape(ts.frame()), shape(odd.frame()));
        // (Frames of one shape, other values: the same shape.)
        let hi = encapsulate(b"hi", &Params::default()).unwrap();
        let yo = encapsulate(b"yo", &Params::default()).unwrap();
        assert_eq!(shape(hi.frame()), shape(yo.frame()));
    }

    #[test]
    fn tcp_frame_has_four_layers() {
        let e = encapsulate(b"hello", &Params::default()).unwrap();
        let d = dissect(e.frame());
        assert!(d.error.is_none());
        let layers: Vec<Layer> = d.nodes.iter().map(|n| n.layer).collect();
        assert_eq!(
            layers,
            [Layer::Ethernet, Layer::Ipv4, Layer::Tcp, Layer::Application]
        );
        assert_eq!(ports(e.frame()), Some((40000, 6666)));
        assert_eq!(slice(e.frame()).original_len(), Some(71));
    }

    #[test]
    fn truncated_frame_is_decoded_as_far_as_it_goes() {
        let e = encapsulate(b"hello", &Params::default()).unwrap();
        let cut = &e.frame()[..40];
        let d = dissect(cut);
        let err = d.error.unwrap();
        assert_eq!((err.layer(), err.offset()), (Layer::Ipv4, 40));
        let ip = d.nodes.iter().find(|n| n.layer == Layer::Ipv4).unwrap();
        assert_eq!(ip.fields.len(), 15, "a whole IPv4 header is still shown");
        assert_eq!(slice(cut).original_len(), Some(71));
    }

    #[test]
    fn bad_data_offset_names_tcp_field_and_offset() {
        let e = encapsulate(b"hello", &Params::default()).unwrap();
        let mut f = e.frame().to_vec();
        f[46] = 0x30;
        let d = dissect(&f);
        let err = d.error.unwrap();
        assert_eq!((err.layer(), err.offset()), (Layer::Tcp, 46));
        assert!(
            err.to_string().contains("Header length at offset 46 is 3"),
            "{err}"
        );
        assert!(d.nodes.iter().any(|n| n.layer == Layer::Tcp));
    }

    #[test]
    fn every_link_type_never_panics_on_any_cut() {
        let e = encapsulate(b"hello", &Params::default()).unwrap();
        let ip = &e.frame()[14..];
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x08, 0x00]);
        sll.extend_from_slice(ip);
        for (link, frame) in [
            (113, sll),
            (101, ip.to_vec()),
            (0, [&[2, 0, 0, 0][..], ip].concat()),
        ] {
            let whole = slice_link(&frame, link);
            assert!(whole.error.is_none(), "{link}: {:?}", whole.error);
            assert!(matches!(whole.transport, Transport::Tcp(_)), "{link}");
            for n in 0..frame.len() {
                let _ = slice_link(&frame[..n], link);
                let d = dissect_link(&frame[..n], link);
                assert!(
                    d.nodes.iter().all(|x| x.range.end <= n),
                    "{link} cut at {n}"
                );
            }
        }
    }

    #[test]
    fn unknown_ethertype_is_kept_raw() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x88, 0xcc, 1, 2, 3]);
        let d = dissect(&f);
        assert!(d.error.is_none());
        assert_eq!(d.nodes[1].layer, Layer::Raw);
        assert!(d.nodes[1].fields[0].display.contains("0x88cc"));
    }
}
