//! Captured frames, for `encap sniff` and `encap decode` alike: one line per frame in tcpdump's
//! spirit, the layer tree (`-v`), the marked hex dump (`-x`), or one JSON object per line.

use std::io;
use std::time::Duration;

use serde_json::{Map, Value as Json};
use termcolor::{ColorSpec, WriteColor};

use super::hexdump;
use crate::dissect::{dissect_link, slice_link, Net, Sliced, Transport};
use crate::layers::ethernet::{self, mac_to_string};
use crate::layers::icmp;
use crate::layers::payload::escape_into;
use crate::layers::tcp::{self, TcpOption};
use crate::layers::{DecodeError, Layer};

/// Which views to print.
#[derive(Debug, Clone, Copy, Default)]
pub struct FrameOptions {
    /// The layer tree with every field, its offset and checksum verdicts.
    pub verbose: bool,
    /// The hex dump with each layer's bytes marked.
    pub hex: bool,
    /// One JSON object per frame instead of text.
    pub json: bool,
    /// The date before the time of day, as tcpdump -tttt: `2026-12-01 10:48:09.123456`.
    pub date: bool,
    /// The link-level header in the one-line view, as tcpdump -e: the MAC addresses, the
    /// EtherType and the frame's length.
    pub link: bool,
}

/// One captured frame.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// 1-based number.
    pub number: u64,
    /// Time since the Unix epoch.
    pub timestamp: Duration,
    /// The captured bytes.
    pub data: &'a [u8],
    /// Its length on the link.
    pub orig_len: usize,
    /// Seconds east of UTC of the clock its time is shown in (0: UTC); the caller, who may read
    /// the time zone, says.
    pub utc_offset: i32,
    /// Its pcap link type: Ethernet (1), or one [`crate::layers::link`] decodes.
    pub link_type: u32,
}

/// Most payload characters the one-line view shows.
const PAYLOAD_PREVIEW: usize = 48;

/// Writes `frame` as `opts` asks.
///
/// # Errors
/// An I/O error from `w`.
pub fn write_frame<W: WriteColor>(
    w: &mut W,
    frame: &Frame<'_>,
    opts: &FrameOptions,
) -> io::Result<()> {
    write_sliced(w, frame, &slice_link(frame.data, frame.link_type), opts)
}

/// Like [`write_frame`], for a frame the caller has already sliced (to filter it, say).
///
/// # Errors
/// An I/O error from `w`.
pub fn write_sliced<W: WriteColor>(
    w: &mut W,
    frame: &Frame<'_>,
    s: &Sliced<'_>,
    opts: &FrameOptions,
) -> io::Result<()> {
    if opts.json {
        // Written into memory and out in one call (formatting straight into the stream costs a
        // write call per token); the common frame straight from the field tables, any other
        // built as a map first, the same bytes either way.
        let mut line = JSON_LINE.take();
        line.clear();
        json_into(&mut line, frame, s, true)?;
        line.push(b'\n');
        let written = w.write_all(&line);
        JSON_LINE.set(line);
        return written;
    }
    line(w, frame, s, opts)?;
    if opts.verbose || opts.hex {
        let d = dissect_link(frame.data, frame.link_type);
        if opts.verbose {
            for n in &d.nodes {
                super::node_heading(w, "    ", n)?;
                let name_w = super::name_width(&n.fields);
                for f in &n.fields {
                    let (range, value) = super::field_row(f, frame.data);
                    writeln!(w, "      {range:<9} {:<name_w$}  {value}", f.name)?;
                }
            }
        }
        if let Some(e) = &d.error {
            w.set_color(
                ColorSpec::new()
                    .set_fg(Some(termcolor::Color::Red))
                    .set_bold(true),
            )?;
            // Truncated because the capture cut the frame is not the sender's fault.
            let cut = frame.data.len() < frame.orig_len
                && matches!(e, crate::layers::DecodeError::Truncated { .. });
            write!(w, "    {}", if cut { "cut short" } else { "malformed" })?;
            w.reset()?;
            writeln!(w, ": {e}")?;
        }
        if opts.hex {
            hexdump::write_layers(w, frame.data, &d.nodes, "    ")?;
        }
    }
    Ok(())
}

/// One output line, built in memory and written with one call: the one-line view is the hot
/// path of `encap decode` on large files, where formatting through `write!` into the terminal
/// stream cost more than decoding.
pub(crate) struct Line(pub(crate) Vec<u8>);

impl Line {
    /// Appends text. Inlined, so that the many short literals become fixed-size moves instead
    /// of calls to `memmove` (perf showed those calls as the largest item of the one-line view).
    #[inline(always)]
    pub(crate) fn s(&mut self, text: &str) -> &mut Self {
        self.0.extend_from_slice(text.as_bytes());
        self
    }
    #[inline(always)]
    pub(crate) fn n(&mut self, v: impl itoa::Integer) -> &mut Self {
        self.0
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        self
    }
    fn ip4(&mut self, a: std::net::Ipv4Addr) -> &mut Self {
        // Dotted quad assembled on the stack and appended once.
        let mut text = [0u8; 15];
        let mut len = 0;
        for (i, octet) in a.octets().into_iter().enumerate() {
            if i > 0 {
                text[len] = b'.';
                len += 1;
            }
            let digits = [octet / 100, octet / 10 % 10, octet % 10];
            let skip = if octet >= 100 {
                0
            } else if octet >= 10 {
                1
            } else {
                2
            };
            for d in &digits[skip..] {
                text[len] = b'0' + d;
                len += 1;
            }
        }
        self.0.extend_from_slice(&text[..len]);
        self
    }
}

/// Writes `HH:MM:SS.ffffff` of a time since the epoch, `offset` seconds east of UTC, after
/// `YYYY-MM-DD ` when `date`.
fn clock(l: &mut Line, t: Duration, offset: i32, date: bool) {
    let secs = i64::try_from(t.as_secs()).unwrap_or(i64::MAX) + i64::from(offset);
    if date {
        let (y, m, d) = civil_date(secs.div_euclid(86_400));
        l.n(y);
        for v in [m, d] {
            l.s(if v < 10 { "-0" } else { "-" }).n(v);
        }
        l.s(" ");
    }
    let day = secs.rem_euclid(86_400).unsigned_abs();
    let mut text = *b"00:00:00.000000";
    for (at, value, width) in [
        (0, day / 3600, 2),
        (3, day / 60 % 60, 2),
        (6, day % 60, 2),
        (9, u64::from(t.subsec_micros()), 6),
    ] {
        let mut v = value;
        for i in (at..at + width).rev() {
            text[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    }
    l.0.extend_from_slice(&text);
}

/// The proleptic Gregorian date of a day number since 1970-01-01, by the days-to-civil
/// arithmetic Howard Hinnant published (eras of 400 years, years that start in March).
fn civil_date(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// tcpdump's one-liners for the ICMP messages users meet: echo with its identifier and sequence
/// number, and a destination unreachable with the datagram it quotes (`ICMP 127.0.0.1 udp port 9
/// unreachable`). `bytes`: the ICMP message, `len` its length. False for the others, which the
/// caller writes with their type and code.
/// ICMPv6's port unreachable as tcpdump writes it (`ICMP6, destination unreachable, unreachable
/// port, ::1 udp port 46694, length 70`), from the quoted IPv6 header (destination at bytes
/// 24-39, next header at 6) and the quoted UDP or TCP ports. False for any other message.
fn icmp6_unreachable(l: &mut Line, t: u8, c: u8, quoted: &[u8], len: usize) -> bool {
    let (1, 4, Some(q)) = (t, c, quoted.get(..44)) else {
        return false;
    };
    let Ok(dst) = <[u8; 16]>::try_from(&q[24..40]) else {
        return false;
    };
    let proto = match q[6] {
        17 => "udp",
        6 => "tcp",
        _ => return false,
    };
    let port = u16::from_be_bytes([q[42], q[43]]);
    l.s(": ICMP6, destination unreachable, unreachable port, ")
        .s(&std::net::Ipv6Addr::from(dst).to_string())
        .s(" ")
        .s(proto)
        .s(" port ")
        .n(port)
        .s(", length ")
        .n(len);
    true
}

fn icmp_as_tcpdump(l: &mut Line, layer: Layer, t: u8, c: u8, bytes: &[u8], len: usize) -> bool {
    let be16 = |at: usize| {
        bytes
            .get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    let v6 = layer == Layer::Icmpv6;
    if icmp::is_echo(t, layer) {
        let (Some(id), Some(seq)) = (be16(4), be16(6)) else {
            return false;
        };
        let what = if matches!(t, 8 | 128) {
            "request"
        } else {
            "reply"
        };
        l.s(if v6 { ": ICMP6, echo " } else { ": ICMP echo " })
            .s(what)
            .s(", id ")
            .n(id)
            .s(", seq ")
            .n(seq)
            .s(", length ")
            .n(len);
        return true;
    }
    // A destination unreachable quotes the IPv4 header and 8 bytes of what could not go.
    let quoted = bytes.get(8..).unwrap_or_default();
    if v6 {
        return icmp6_unreachable(l, t, c, quoted, len);
    }
    let ihl = usize::from(quoted.first().map_or(0, |b| b & 0x0f)) * 4;
    let (false, 3, Some(q), true) = (v6, t, quoted.get(12..20), ihl >= 20) else {
        return false;
    };
    let dst = std::net::Ipv4Addr::new(q[4], q[5], q[6], q[7]);
    let proto = quoted.get(9).copied().unwrap_or(0);
    let port = quoted
        .get(ihl + 2..ihl + 4)
        .map(|b| u16::from_be_bytes([b[0], b[1]]));
    l.s(": ICMP ");
    match (c, proto, port) {
        (0, ..) => l.s("net ").ip4(dst).s(" unreachable"),
        (1, ..) => l.s("host ").ip4(dst).s(" unreachable"),
        (2, p, _) => l.ip4(dst).s(" protocol ").n(p).s(" unreachable"),
        (3, 6 | 17, Some(port)) => l
            .ip4(dst)
            .s(if proto == 6 {
                " tcp port "
            } else {
                " udp port "
            })
            .n(port)
            .s(" unreachable"),
        _ => l.ip4(dst).s(" unreachable, code ").n(c),
    };
    l.s(", length ").n(len);
    true
}

/// tcpdump's flag letters, in its order: `F` FIN, `S` SYN, `R` RST, `P` PSH, `.` ACK, `U` URG,
/// `E` ECE, `W` CWR.
fn flag_letters(l: &mut Line, flags: u16) {
    let before = l.0.len();
    for (bit, c) in [
        (tcp::field::FLG_FIN, b'F'),
        (tcp::field::FLG_SYN, b'S'),
        (tcp::field::FLG_RST, b'R'),
        (tcp::field::FLG_PSH, b'P'),
        (tcp::field::FLG_ACK, b'.'),
        (tcp::field::FLG_URG, b'U'),
        (tcp::field::FLG_ECE, b'E'),
        (tcp::field::FLG_CWR, b'W'),
    ] {
        if flags & bit != 0 {
            l.0.push(c);
        }
    }
    if l.0.len() == before {
        l.s("none");
    }
}

fn tcp_options(l: &mut Line, raw: &[u8]) {
    if raw.is_empty() {
        return;
    }
    // What Linux puts on every established segment: NOP, NOP, timestamps.
    if let [1, 1, 8, 10, v0, v1, v2, v3, e0, e1, e2, e3] = *raw {
        l.s(", options [nop,nop,TS val ")
            .n(u32::from_be_bytes([v0, v1, v2, v3]));
        l.s(" ecr ").n(u32::from_be_bytes([e0, e1, e2, e3])).s("]");
        return;
    }
    l.s(", options [");
    for (i, item) in tcp::options(raw).enumerate() {
        if i > 0 {
            l.s(",");
        }
        match item {
            Ok((_, TcpOption::Nop)) => l.s("nop"),
            Ok((_, TcpOption::Eol)) => l.s("eol"),
            Ok((_, TcpOption::Mss(m))) => l.s("mss ").n(m),
            Ok((_, TcpOption::WindowScale(s))) => l.s("wscale ").n(s),
            Ok((_, TcpOption::SackPermitted)) => l.s("sackOK"),
            Ok((_, TcpOption::Sack(b))) => {
                l.s("sack ").n(b.len()).s(" ");
                for (left, right) in b {
                    l.s("{").n(left).s(":").n(right).s("}");
                }
                &mut *l
            }
            Ok((_, TcpOption::Timestamps { tsval, tsecr })) => {
                l.s("TS val ").n(tsval).s(" ecr ").n(tsecr)
            }
            // TCP Fast Open, as tcpdump writes it (two spaces included).
            Ok((_, TcpOption::Unknown { kind: 34, data })) if data.is_empty() => {
                l.s("tfo  cookiereq")
            }
            Ok((_, TcpOption::Unknown { kind: 34, data })) => {
                l.s("tfo  cookie ");
                for b in data {
                    l.s(&format!("{b:02x}"));
                }
                &mut *l
            }
            Ok((_, TcpOption::Unknown { kind, data })) => l.s("opt-").n(kind).s(":").n(data.len()),
            Err(_) => l.s("bad opts"),
        };
    }
    l.s("]");
}

fn payload_preview(l: &mut Line, p: &[u8]) {
    if p.is_empty() {
        return;
    }
    let cut = p.len().min(PAYLOAD_PREVIEW);
    l.s(": \"");
    let shown = &p[..cut];
    if shown
        .iter()
        .all(|b| (0x20..0x7f).contains(b) && *b != b'\\')
    {
        // Printable ASCII, the common case, needs no escaping.
        l.0.extend_from_slice(shown);
    } else {
        let mut text = String::with_capacity(cut + 8);
        escape_into(&mut text, shown);
        l.s(&text);
    }
    l.s("\"");
    if cut < p.len() {
        l.s("... (+").n(p.len() - cut).s(" bytes)");
    }
}

/// The one-line view.
fn line<W: WriteColor>(
    w: &mut W,
    f: &Frame<'_>,
    s: &Sliced<'_>,
    opts: &FrameOptions,
) -> io::Result<()> {
    let mut l = Line(LINE.take());
    l.0.clear();
    let mut num = itoa::Buffer::new();
    let num = num.format(f.number);
    for _ in num.len()..5 {
        l.0.push(b' ');
    }
    l.s(num).s(" ");
    clock(&mut l, f.timestamp, f.utc_offset, opts.date);
    let link = match (opts.link, s.ethernet) {
        (true, Some(eth)) => {
            l.s(" ")
                .s(&mac_to_string(&eth.source))
                .s(" > ")
                .s(&mac_to_string(&eth.destination))
                .s(",");
            let t = u16::from(eth.ethertype);
            // An 802.3 length is shown below, as tcpdump -e shows it.
            if usize::from(t) > ethernet::MAX_8023_LENGTH {
                let name = match t {
                    0x88a8 => "802.1Q-QinQ",
                    _ => eth.ethertype.name(),
                };
                l.s(" ethertype ")
                    .s(name)
                    .s(&format!(" (0x{t:04x}), length "))
                    .n(f.orig_len)
                    .s(":");
            }
            true
        }
        _ => false,
    };
    if let Some(id) = s.vlan {
        l.s(" vlan ").n(id).s(",");
    }
    if let Some(id) = s.inner_vlan {
        l.s(" vlan ").n(id).s(",");
    }
    let (family, src, dst) = match &s.net {
        Net::Ipv4(p) => (
            "IP",
            Endpoint::V4(p.source()),
            Endpoint::V4(p.destination()),
        ),
        Net::Ipv6(p, _) => ("IP6", Endpoint::V6(p.source), Endpoint::V6(p.destination)),
        Net::Arp(op, sender, target) => {
            match op {
                1 => l
                    .s(" ARP, Request who-has ")
                    .ip4(*target)
                    .s(" tell ")
                    .ip4(*sender),
                2 => {
                    let mac = s
                        .frame
                        .get(s.net_at + 8..s.net_at + 14)
                        .and_then(|m| <[u8; 6]>::try_from(m).ok())
                        .map_or_else(String::new, |m| mac_to_string(&m));
                    l.s(" ARP, Reply ").ip4(*sender).s(" is-at ").s(&mac)
                }
                _ => l.s(" ARP, opcode ").n(*op),
            };
            return end_line(w, l, f, s);
        }
        Net::Other(t, b) if usize::from(u16::from(*t)) <= ethernet::MAX_8023_LENGTH => {
            // IEEE 802.3: the Type field is a length, and an LLC header follows (as tcpdump -e).
            l.s(" 802.3, length ").n(u16::from(*t));
            if let [dsap, ssap, ctrl, ..] = b[..] {
                l.s(&format!(
                    ": LLC, dsap 0x{dsap:02x}, ssap 0x{ssap:02x}, ctrl 0x{ctrl:02x}"
                ));
            }
            return end_line(w, l, f, s);
        }
        Net::Other(t, b) => {
            l.s(&format!(" ethertype 0x{:04x}, length ", u16::from(*t)))
                .n(b.len());
            return end_line(w, l, f, s);
        }
        Net::None => return end_line(w, l, f, s),
    };
    // With the link header shown, tcpdump -e names no family: the EtherType said it.
    if link {
        l.s(" ");
    } else {
        l.s(" ").s(family).s(" ");
    }
    src.write(&mut l);
    match s.transport {
        Transport::Tcp(t) => {
            // (The length the IP header gives, also of a segment the capture cut short.)
            let len = s.tcp_len().unwrap_or(t.payload().len());
            l.s(".").n(t.src_port()).s(" > ");
            dst.write(&mut l);
            l.s(".").n(t.dst_port()).s(": Flags [");
            flag_letters(&mut l, t.flags());
            l.s("]");
            // As tcpdump: a pure ACK (no data, SYN, FIN or RST) shows no sequence number.
            let control = tcp::field::FLG_SYN | tcp::field::FLG_FIN | tcp::field::FLG_RST;
            if len > 0 || t.flags() & control != 0 || t.flags() & tcp::field::FLG_ACK == 0 {
                l.s(", seq ").n(t.seq());
                if len > 0 {
                    l.s(":").n(t.seq().wrapping_add(len as u32));
                }
            }
            if t.flags() & tcp::field::FLG_ACK != 0 {
                l.s(", ack ").n(t.ack());
            }
            l.s(", win ").n(t.window());
            if t.flags() & tcp::field::FLG_URG != 0 {
                l.s(", urg ").n(t.urgent());
            }
            tcp_options(&mut l, t.options_raw());
            l.s(", length ").n(len);
            payload_preview(&mut l, t.payload());
        }
        Transport::Udp(sp, dp, p) => {
            l.s(".").n(sp).s(" > ");
            dst.write(&mut l);
            // A first fragment: the whole datagram's length, as its header says (as tcpdump).
            let len = match s.fragment {
                Some(_) => s
                    .frame
                    .get(s.transport_at..)
                    .and_then(crate::layers::udp::data_len)
                    .unwrap_or(p.len()),
                None => p.len(),
            };
            l.s(".").n(dp).s(": UDP, length ").n(len);
            payload_preview(&mut l, p);
        }
        Transport::Icmp(layer, t, c) => {
            let name = if layer == Layer::Icmp {
                icmp::type_name_v4(t)
            } else {
                icmp::type_name_v6(t)
            };
            l.s(" > ");
            dst.write(&mut l);
            let bytes = s.frame.get(s.transport_at..s.end).unwrap_or_default();
            let len = s.payload.end - s.transport_at;
            if icmp_as_tcpdump(&mut l, layer, t, c, bytes, len) {
                return end_line(w, l, f, s);
            }
            l.s(": ")
                .s(layer.name())
                .s(" ")
                .s(name)
                .s(", type ")
                .n(t)
                .s(", code ")
                .n(c)
                .s(", length ")
                .n(s.payload.end - s.transport_at);
        }
        Transport::Other(p, _) if u8::from(p) == crate::layers::ipv4::NO_NEXT_HEADER => {
            // As tcpdump: the bytes after it, if any, are ignored (RFC 8200 4.7).
            l.s(" > ");
            dst.write(&mut l);
            l.s(": no next header");
        }
        Transport::Other(p, b) => {
            l.s(" > ");
            dst.write(&mut l);
            l.s(": ip-proto-")
                .n(u8::from(p))
                .s(" (")
                .s(p.name())
                .s("), length ")
                .n(b.len());
        }
        Transport::None => match (s.cut_tcp("tcp.srcport"), s.cut_tcp("tcp.dstport")) {
            // A TCP header cut short: what tcpdump shows of it, from the captured bytes.
            (Some(sp), Some(dp)) => {
                l.s(".").n(sp).s(" > ");
                dst.write(&mut l);
                l.s(".").n(dp).s(":");
                if let Some(flags) = s.cut_tcp("tcp.flags") {
                    l.s(" Flags [");
                    flag_letters(&mut l, flags as u16);
                    l.s("]");
                }
                if let Some(seq) = s.cut_tcp("tcp.seq_raw") {
                    l.s(", seq ").n(seq);
                }
                // tcpdump's words for a data offset that cannot be right.
                let segment = s.end.saturating_sub(s.transport_at);
                let bad = matches!(
                    s.error,
                    Some((
                        DecodeError::Invalid {
                            field: "Header length",
                            ..
                        },
                        Layer::Tcp,
                        _
                    ))
                );
                match s.cut_tcp("tcp.hdr_len").map(|w| w * 4) {
                    Some(hlen) if bad && hlen < 20 => {
                        l.s(" [bad hdr length ").n(hlen).s(" - too short, < 20]");
                    }
                    Some(hlen) if bad => {
                        l.s(" [bad hdr length ")
                            .n(hlen)
                            .s(" - too long, > ")
                            .n(segment)
                            .s("]");
                    }
                    _ => {
                        l.s(" [TCP header cut short]");
                    }
                }
            }
            _ => {
                l.s(" > ");
                dst.write(&mut l);
                l.s(":");
            }
        },
    }
    end_line(w, l, f, s)
}

/// An IP address in the one-line view.
enum Endpoint {
    V4(std::net::Ipv4Addr),
    V6(std::net::Ipv6Addr),
}

impl Endpoint {
    fn write(&self, l: &mut Line) {
        match self {
            Endpoint::V4(a) => {
                l.ip4(*a);
            }
            Endpoint::V6(a) => {
                l.s(&a.to_string());
            }
        }
    }
}

fn end_line<W: WriteColor>(
    w: &mut W,
    mut l: Line,
    f: &Frame<'_>,
    s: &Sliced<'_>,
) -> io::Result<()> {
    if let Some((offset, more)) = s.fragment {
        l.s(" [IP fragment at byte ").n(offset).s(if more {
            ", more follow]"
        } else {
            ", the last]"
        });
    }
    if f.data.len() < f.orig_len {
        l.s(" [cut short: captured ")
            .n(f.data.len())
            .s(" of ")
            .n(f.orig_len)
            .s(" bytes]");
    }
    // A frame the capture cut short is truncated by nature: "cut short" above says so.
    let cut = f.data.len() < f.orig_len;
    let written = match &s.error {
        Some((crate::layers::DecodeError::Truncated { .. }, ..)) if cut => {
            l.s("\n");
            w.write_all(&l.0)
        }
        None => {
            l.s("\n");
            w.write_all(&l.0)
        }
        Some((e, ..)) => {
            w.write_all(&l.0)?;
            w.set_color(ColorSpec::new().set_fg(Some(termcolor::Color::Red)))?;
            write!(w, " [malformed: {e}]")?;
            w.reset()?;
            writeln!(w)
        }
    };
    // The buffer's capacity serves the next line.
    LINE.set(l.0);
    written
}

thread_local! {
    /// The one-line view's buffer, reused from frame to frame.
    static LINE: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
    /// The JSON line's buffer, reused likewise.
    static JSON_LINE: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Appends `frame`'s JSON object (sliced as `s`) to `out`, without a newline: straight from the
/// field tables when `fast` and the frame is of the shape most captures hold
/// ([`super::json::write_common`]), else built first as a map by [`json`]. Returns whether the
/// fast way was taken; both give the same bytes (the `dissect` fuzz target, replayed by
/// `tests/fuzz_corpus.rs`, and `tests/decode.rs` on every capture check it).
///
/// # Errors
/// None in practice: writing into memory does not fail.
pub fn json_into(
    out: &mut Vec<u8>,
    frame: &Frame<'_>,
    s: &Sliced<'_>,
    fast: bool,
) -> io::Result<bool> {
    let head = super::json::FrameHead {
        number: frame.number,
        time_epoch: frame.timestamp.as_secs_f64(),
        len: frame.orig_len,
        cap_len: frame.data.len(),
    };
    if fast
        && frame.link_type == crate::layers::link::link_type::ETHERNET
        && super::json::write_common(out, &head, s)
    {
        return Ok(true);
    }
    serde_json::to_writer(&mut *out, &Json::Object(json(frame))).map_err(io::Error::other)?;
    Ok(false)
}

/// The frame as one flat JSON object with Wireshark's field names.
#[must_use]
pub fn json(frame: &Frame<'_>) -> Map<String, Json> {
    let mut obj = Map::new();
    obj.insert("frame.number".into(), Json::from(frame.number));
    obj.insert(
        "frame.time_epoch".into(),
        Json::from(frame.timestamp.as_secs_f64()),
    );
    obj.insert("frame.len".into(), Json::from(frame.orig_len));
    obj.insert("frame.cap_len".into(), Json::from(frame.data.len()));
    let d = dissect_link(frame.data, frame.link_type);
    let layers: Vec<(Layer, Vec<crate::layers::Field>)> =
        d.nodes.into_iter().map(|n| (n.layer, n.fields)).collect();
    super::json::add_fields(&mut obj, &layers);
    let s = slice_link(frame.data, frame.link_type);
    if let Transport::Tcp(t) = s.transport {
        obj.insert(
            "tcp.len".into(),
            Json::from(s.tcp_len().unwrap_or(t.payload().len())),
        );
        super::json::add_tcp_options(&mut obj, t.options_raw());
    }
    if let Some((e, ..)) = &s.error {
        obj.insert("_ws.malformed".into(), Json::from(e.to_string()));
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{encapsulate, ChecksumMode, Params};
    use termcolor::NoColor;

    fn render(data: &[u8], opts: FrameOptions) -> String {
        let mut out = NoColor::new(Vec::new());
        let f = Frame {
            number: 7,
            timestamp: Duration::new(1_700_000_000, 123_456_789),
            data,
            orig_len: data.len(),
            utc_offset: 0,
            link_type: 1,
        };
        write_frame(&mut out, &f, &opts).unwrap();
        String::from_utf8(out.into_inner()).unwrap()
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(-1), (1969, 12, 31));
        assert_eq!(civil_date(19_782), (2024, 2, 29));
        assert_eq!(civil_date(19_783), (2024, 3, 1));
        assert_eq!(civil_date(11_016), (2000, 2, 29));
    }

    #[test]
    fn clock_with_offset_and_date() {
        let t = Duration::new(1_700_000_000, 123_456_789); // 2023-11-14 22:13:20 UTC
        let mut l = Line(Vec::new());
        clock(&mut l, t, 8 * 3600, true);
        assert_eq!(
            String::from_utf8(l.0).unwrap(),
            "2023-11-15 06:13:20.123456"
        );
        let mut l = Line(Vec::new());
        clock(&mut l, Duration::new(3600, 0), -5 * 3600, false);
        // 01:00 UTC, five hours west: 20:00 the day before.
        assert_eq!(String::from_utf8(l.0).unwrap(), "20:00:00.000000");
    }

    #[test]
    fn one_line_like_tcpdump() {
        let p = Params {
            checksum: ChecksumMode::Offloaded,
            ..Params::default()
        };
        let e = encapsulate(b"hello\n\x1b[2J", &p).unwrap();
        let text = render(e.frame(), FrameOptions::default());
        assert_eq!(
            text,
            "    7 22:13:20.123456 IP 127.0.0.1.40000 > 127.0.0.1.6666: Flags [P.], seq 1:11, ack 1, win 64, options [nop,nop,TS val 1 ecr 1], length 10: \"hello\\n\\x1b[2J\"\n"
        );
    }

    #[test]
    fn verbose_tree_and_hex() {
        let p = Params {
            checksum: ChecksumMode::Offloaded,
            ..Params::default()
        };
        let e = encapsulate(b"hello\n", &p).unwrap();
        let text = render(
            e.frame(),
            FrameOptions {
                verbose: true,
                hex: true,
                ..FrameOptions::default()
            },
        );
        assert!(text.contains("    TCP, bytes 34-65"), "{text}");
        assert!(
            text.contains("0xfe2e [partial: pseudo-header sum left for checksum offload]"),
            "{text}"
        );
        assert!(
            text.contains("(ee Ethernet II, ii IPv4, tt TCP, dd Application)"),
            "{text}"
        );
    }

    #[test]
    fn malformed_and_cut_short_frames_say_so() {
        let e = encapsulate(b"hello", &Params::default()).unwrap();
        let text = render(&e.frame()[..40], FrameOptions::default());
        assert!(text.contains("[malformed: IPv4: Total length needs bytes up to offset 71, but the frame ends at offset 40]"), "{text}");
        let text = render(&e.frame()[..30], FrameOptions::default());
        assert!(text.contains("[malformed: IPv4: Destination address needs bytes up to offset 34, but the frame ends at offset 30]"), "{text}");
        let mut out = NoColor::new(Vec::new());
        let f = Frame {
            number: 1,
            timestamp: Duration::ZERO,
            data: &e.frame()[..60],
            orig_len: 71,
            utc_offset: 0,
            link_type: 1,
        };
        write_frame(&mut out, &f, &FrameOptions::default()).unwrap();
        assert!(String::from_utf8(out.into_inner())
            .unwrap()
            .contains("[cut short: captured 60 of 71 bytes]"));
    }

    #[test]
    fn json_numbers_and_names() {
        let e = encapsulate(b"hi", &Params::default()).unwrap();
        let f = Frame {
            number: 3,
            timestamp: Duration::new(5, 0),
            data: e.frame(),
            orig_len: e.frame().len(),
            utc_offset: 0,
            link_type: 1,
        };
        let o = json(&f);
        assert_eq!(o["frame.number"], 3);
        assert_eq!(o["tcp.srcport"], 40000);
        assert_eq!(o["tcp.len"], 2);
        assert_eq!(o["ip.src"], "127.0.0.1");
    }
}
