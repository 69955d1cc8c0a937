//! What one captured frame says, read once through the layers' accessors: the model's every
//! later step works on these values, never on header bytes.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::event::Kind;
use super::verdict::ModelError;
use crate::checksum::Pseudo;
use crate::dissect::{slice_link, Net, Sliced, Transport};
use crate::layers::ethernet::Mac;
use crate::layers::link::{link_type, Cooked};
use crate::layers::tcp::{self, field as tf, ChecksumStatus, TcpOption, TcpSegment};

/// One TCP frame, as the model reads it.
#[derive(Debug, Clone)]
pub struct Observed<'a> {
    /// Its number in the capture.
    pub number: u64,
    /// When it was captured, if known.
    pub time: Option<Duration>,
    /// The whole frame.
    pub frame: &'a [u8],
    /// Its link type (a pcap link type: Ethernet, or a cooked or raw capture's).
    pub link: u32,
    /// Where the network layer starts in the frame.
    pub net_at: usize,
    /// The Ethernet header's MAC addresses, source and destination (none in a cooked or raw
    /// capture); both zero on `lo`.
    pub macs: Option<(Mac, Mac)>,
    /// The Linux cooked header of a `tcpdump -i any` capture: the packet's direction (this
    /// host sent it, or it arrived), the interface and the source MAC.
    pub cooked: Option<Cooked>,
    /// On a real link: the TCP checksum is the full, correct one (no offload left it as the
    /// pseudo-header sum). Always false on `lo` and in raw IP captures.
    pub full_checksum: bool,
    /// Where the TCP header starts in the frame.
    pub transport_at: usize,
    /// The TCP segment, as far as it was captured.
    pub segment: TcpSegment<'a>,
    /// The payload's length, when the capture's snapshot length cut the frame short of it (the
    /// IP header's length, less the headers): what [`Observed::len`] gives; the bytes captured
    /// are [`Observed::payload`].
    pub cut: Option<usize>,
    /// The sender's address and port.
    pub src: SocketAddr,
    /// IPv4's identification (`None` over IPv6).
    pub ip_id: Option<u16>,
    /// IPv6's flow label (`None` over IPv4).
    pub flow: Option<u32>,
    /// DSCP.
    pub dscp: u8,
    /// TTL or hop limit.
    pub ttl: u8,
    /// The ECN field (IPv4's, or the low two bits of IPv6's traffic class).
    pub ecn: u8,
    /// IPv4's Don't Fragment flag (`true` over IPv6, which routers never fragment).
    pub df: bool,
    /// What kind of segment.
    pub kind: Kind,
    /// The frame's layers as walked once, for the comparison's walk of its fields.
    pub sliced: Sliced<'a>,
    /// Its options, well-formed ones only.
    pub options: Vec<TcpOption>,
    /// The timestamps option's TSval and TSecr.
    pub tsval: Option<u32>,
    /// TSecr.
    pub tsecr: Option<u32>,
    /// The window scale option.
    pub wscale: Option<u8>,
    /// The MSS option.
    pub mss: Option<u16>,
    /// The SACK-permitted option.
    pub sack_permitted: bool,
    /// The SACK blocks.
    pub sack: Vec<(u32, u32)>,
    /// A TCP Fast Open option (kind 34), in a SYN or SYN-ACK.
    pub fastopen: Option<TcpOption>,
}

/// What the network layer says of a TCP frame, read through its layer's accessors.
struct IpFields {
    src: IpAddr,
    ip_id: Option<u16>,
    flow: Option<u32>,
    dscp: u8,
    ttl: u8,
    ecn: u8,
    df: bool,
}

impl IpFields {
    /// IPv4's, or IPv6's without extension headers; `None` for anything else.
    fn of(net: &Net<'_>) -> Option<IpFields> {
        match net {
            Net::Ipv4(ip) => Some(IpFields {
                src: IpAddr::V4(ip.source()),
                ip_id: Some(ip.identification()),
                flow: None,
                dscp: ip.dscp(),
                ttl: ip.ttl(),
                ecn: ip.ecn(),
                df: ip.dont_fragment(),
            }),
            Net::Ipv6(ip, _) if ip.extensions.is_empty() => Some(IpFields {
                src: IpAddr::V6(ip.source),
                ip_id: None,
                flow: Some(ip.flow_label),
                dscp: ip.traffic_class >> 2,
                ttl: ip.hop_limit,
                ecn: ip.traffic_class & 3,
                df: true,
            }),
            _ => None,
        }
    }
}

/// The segment's payload length. Cut by the capture's snapshot length after a whole TCP header
/// (its record says it was longer on the link, `orig_len`): the IP header's length, the frame
/// checked as far as it was captured. `None` for a frame that was whole and falls short of its
/// IP length, or has another error: malformed.
fn payload_len(
    s: &crate::dissect::Sliced<'_>,
    segment: TcpSegment<'_>,
    orig_len: usize,
) -> Option<usize> {
    let captured = segment.payload().len();
    match (&s.error, s.tcp_len()) {
        (None, _) => Some(captured),
        (Some(_), Some(len)) if len > captured && orig_len > s.frame.len() => Some(len),
        _ => None,
    }
}

impl<'a> Observed<'a> {
    /// Reads frame `number`, captured at `time`.
    ///
    /// # Errors
    /// [`ModelError::NotTcp`] for anything but a well-formed TCP segment over IPv4 or over IPv6
    /// without extension headers.
    pub fn read(number: u64, time: Option<Duration>, frame: &'a [u8]) -> Result<Self, ModelError> {
        Observed::read_link(number, time, link_type::ETHERNET, frame, frame.len())
    }

    /// As [`Observed::read`], for a frame of link type `link` (a Linux cooked capture of
    /// `tcpdump -i any`, raw IP...): the link header is the capture's, the rest the kernel's.
    /// `orig_len` is the frame's length on the link as the capture's record gives it: longer
    /// than `frame` when its snapshot length cut the frame short.
    ///
    /// # Errors
    /// As [`Observed::read`].
    pub fn read_link(
        number: u64,
        time: Option<Duration>,
        link: u32,
        frame: &'a [u8],
        orig_len: usize,
    ) -> Result<Self, ModelError> {
        Observed::read_sliced(number, time, link, slice_link(frame, link), orig_len)
    }

    /// As [`Observed::read_link`], for a frame already sliced (by [`slice_link`], of link type
    /// `link`).
    ///
    /// # Errors
    /// As [`Observed::read`].
    pub fn read_sliced(
        number: u64,
        time: Option<Duration>,
        link: u32,
        s: Sliced<'a>,
        orig_len: usize,
    ) -> Result<Self, ModelError> {
        let frame = s.frame;
        let Transport::Tcp(segment) = s.transport else {
            return Err(ModelError::NotTcp(number));
        };
        let payload_len = payload_len(&s, segment, orig_len).ok_or(ModelError::NotTcp(number))?;
        let cut = (payload_len != segment.payload().len()).then_some(payload_len);
        let pseudo = match &s.net {
            Net::Ipv4(ip) => Some(Pseudo::V4(ip.source(), ip.destination())),
            Net::Ipv6(ip, _) => Some(Pseudo::V6(ip.source, ip.destination)),
            _ => None,
        };
        // Summed only on a real link (lo's MACs are zero): elsewhere no rule asks, and it would
        // cost a pass over every payload.
        let macs = s.ethernet.map(|e| (e.source, e.destination));
        let cooked = Cooked::parse(link, frame);
        let wire = macs.is_some_and(|(src, dst)| src != [0; 6] || dst != [0; 6])
            || cooked.is_some_and(|c| c.ethernet());
        let full_checksum =
            wire && pseudo.is_some_and(|p| segment.checksum_status_with(p) == ChecksumStatus::Good);
        let ip = IpFields::of(&s.net).ok_or(ModelError::NotTcp(number))?;
        let options: Vec<TcpOption> = tcp::options(segment.options_raw())
            .filter_map(|o| o.ok().map(|(_, o)| o))
            .collect();
        let kind = Kind::of(segment.flags(), payload_len);
        let mut o = Observed {
            number,
            time,
            frame,
            link,
            net_at: s.net_at,
            macs,
            cooked,
            full_checksum,
            transport_at: s.transport_at,
            segment,
            cut,
            src: SocketAddr::new(ip.src, segment.src_port()),
            ip_id: ip.ip_id,
            flow: ip.flow,
            dscp: ip.dscp,
            ttl: ip.ttl,
            ecn: ip.ecn,
            df: ip.df,
            kind,
            sliced: s,
            options: Vec::new(),
            tsval: None,
            tsecr: None,
            wscale: None,
            mss: None,
            sack_permitted: false,
            sack: Vec::new(),
            fastopen: None,
        };
        o.read_options(options);
        Ok(o)
    }

    fn read_options(&mut self, options: Vec<TcpOption>) {
        for opt in &options {
            match opt {
                TcpOption::Timestamps { tsval, tsecr } if self.tsval.is_none() => {
                    self.tsval = Some(*tsval);
                    self.tsecr = Some(*tsecr);
                }
                TcpOption::WindowScale(s) if self.wscale.is_none() => self.wscale = Some(*s),
                TcpOption::Mss(m) if self.mss.is_none() => self.mss = Some(*m),
                TcpOption::SackPermitted => self.sack_permitted = true,
                TcpOption::Sack(b) if self.sack.is_empty() => self.sack.clone_from(b),
                TcpOption::Unknown { kind: 34, .. } if self.kind.is_syn() => {
                    self.fastopen.get_or_insert_with(|| opt.clone());
                }
                _ => {}
            }
        }
        self.options = options;
    }

    /// A frame of a real link: its Ethernet header has MAC addresses (on `lo` both are zero),
    /// or its cooked header says an Ethernet interface (veth, a NIC) carried it.
    #[must_use]
    pub fn on_a_wire(&self) -> bool {
        self.macs
            .is_some_and(|(src, dst)| src != [0; 6] || dst != [0; 6])
            || self.cooked.is_some_and(|c| c.ethernet())
    }

    /// The capture's host received the frame (a cooked header's packet type other than
    /// OUTGOING): what arrived, after the interface's GRO, not what the sender wrote.
    #[must_use]
    pub fn arrived(&self) -> bool {
        self.cooked.is_some_and(|c| !c.outgoing())
    }

    /// The frame from its network layer on: what the kernel sent, whatever link header the
    /// capture put before it.
    #[must_use]
    pub fn packet(&self) -> &'a [u8] {
        self.frame.get(self.net_at..).unwrap_or_default()
    }

    /// Sequence number.
    #[must_use]
    pub fn seq(&self) -> u32 {
        self.segment.seq()
    }
    /// Acknowledgment number.
    #[must_use]
    pub fn ack(&self) -> u32 {
        self.segment.ack()
    }
    /// The flags.
    #[must_use]
    pub fn flags(&self) -> u16 {
        self.segment.flags()
    }
    /// One flag (`tcp::field::FLG_*`) is set.
    #[must_use]
    pub fn has(&self, flag: u16) -> bool {
        self.segment.flags() & flag != 0
    }
    /// ACK is set.
    #[must_use]
    pub fn has_ack(&self) -> bool {
        self.has(tf::FLG_ACK)
    }
    /// The window field.
    #[must_use]
    pub fn window(&self) -> u16 {
        self.segment.window()
    }
    /// The payload.
    #[must_use]
    pub fn payload(&self) -> &'a [u8] {
        self.segment.payload()
    }
    /// The payload's length (as the IP header gives it, when the capture cut the frame short).
    #[must_use]
    pub fn len(&self) -> usize {
        self.cut.unwrap_or(self.segment.payload().len())
    }
    /// How many bytes of the model's Ethernet frame the capture would have kept of it: all, or
    /// as many as it kept of this one's packet when its snapshot length cut it.
    #[must_use]
    pub fn captured(&self, model_frame_len: usize) -> usize {
        match self.cut {
            Some(_) => (crate::layers::ethernet::field::HEADER_LEN + self.packet().len())
                .min(model_frame_len),
            None => model_frame_len,
        }
    }
    /// No payload.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// How far the segment moves its sender's stream: its payload, plus one for a SYN and
    /// one for a FIN.
    #[must_use]
    pub fn advance(&self) -> u32 {
        self.len() as u32 + u32::from(self.kind.is_syn()) + u32::from(self.has(tf::FLG_FIN))
    }
    /// URG is set and the urgent pointer lies within the segment (Linux points just past the
    /// last urgent byte: within the segment, never 0).
    #[must_use]
    pub fn urgent(&self) -> bool {
        self.has(tf::FLG_URG) && (1..=self.len()).contains(&usize::from(self.segment.urgent()))
    }
}
