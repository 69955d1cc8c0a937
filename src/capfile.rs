//! Reading capture files as a stream, in constant memory: pcap (either byte order, microsecond or
//! nanosecond timestamps) and pcapng (section header, interface description, enhanced, simple and
//! obsolete packet blocks; other blocks skipped), link type Ethernet.
//!
//! Hand-written rather than taken from a crate because what a user needs here is what the crates
//! did not give: the byte offset of every problem, per-interface timestamp resolution in pcapng
//! (`if_tsresol`, microseconds by default), and no panic on any bytes.

use std::io::{self, Read};
use std::time::Duration;

/// Link type Ethernet (LINKTYPE_ETHERNET, libpcap's DLT_EN10MB).
pub const LINKTYPE_ETHERNET: u32 = 1;
/// The largest record this reader accepts: a corrupt length must not make it allocate gigabytes.
pub const MAX_RECORD: usize = 16 * 1024 * 1024;

/// A capture file problem, always saying where.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// Reading failed.
    /// (The I/O error is the source, so `{:#}` prints it once, after this.)
    #[error("read error at byte {offset}")]
    Io {
        /// Where.
        offset: u64,
        /// The I/O error.
        source: io::Error,
    },
    /// Neither pcap nor pcapng.
    #[error("not a pcap or pcapng file: it starts with {found} (pcap starts with a1b2c3d4 or a1b23c4d in either byte order, pcapng with 0a0d0d0a)")]
    NotCapture {
        /// The first bytes, in hex.
        found: String,
    },
    /// A link type other than Ethernet.
    #[error("link type {linktype} ({name}) is not one this command reads: encap verify checks captures of link type 1 (EN10MB), as `tcpdump -i lo -w` writes them; encap decode also reads NULL (0), RAW (101), LOOP (108), LINUX_SLL (113), IPV4 (228), IPV6 (229) and LINUX_SLL2 (276)")]
    LinkType {
        /// The link type.
        linktype: u32,
        /// Its libpcap name.
        name: &'static str,
    },
    /// The file ends inside a header or a frame.
    #[error("frame {frame}: the file ends at byte {end}, inside the {what} that starts at byte {offset} and needs {needed} bytes (truncated file?)")]
    Truncated {
        /// The frame being read.
        frame: u64,
        /// What was being read.
        what: &'static str,
        /// Where it starts.
        offset: u64,
        /// Bytes it needs.
        needed: usize,
        /// Where the file ends.
        end: u64,
    },
    /// A length or field that cannot be right.
    #[error("frame {frame}: corrupt {what} at byte {offset}: {why}")]
    Corrupt {
        /// The frame being read.
        frame: u64,
        /// What was being read.
        what: &'static str,
        /// Where it starts.
        offset: u64,
        /// What is wrong.
        why: String,
    },
}

/// libpcap's name for a link type.
#[must_use]
pub fn linktype_name(l: u32) -> &'static str {
    match l {
        0 => "NULL, BSD loopback",
        1 => "EN10MB, Ethernet",
        101 => "RAW, IP without link header",
        108 => "LOOP, OpenBSD loopback",
        105 => "IEEE802_11, Wi-Fi",
        113 => "LINUX_SLL, Linux cooked capture (tcpdump -i any)",
        127 => "IEEE802_11_RADIOTAP",
        228 => "IPV4",
        229 => "IPV6",
        276 => "LINUX_SLL2, Linux cooked capture v2 (tcpdump -i any)",
        _ => "unknown",
    }
}

/// The file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Classic pcap.
    Pcap {
        /// Big-endian headers.
        big_endian: bool,
        /// Nanosecond timestamps (magic a1b23c4d).
        nanos: bool,
    },
    /// pcapng.
    PcapNg,
}

/// One frame read from a file, borrowed until the next read.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    /// 1-based frame number.
    pub number: u64,
    /// Time since the Unix epoch.
    pub timestamp: Duration,
    /// The captured bytes.
    pub data: &'a [u8],
    /// The frame's length on the link (larger than `data` when the capture cut it short).
    pub orig_len: usize,
    /// Byte offset of the frame's record in the file.
    pub offset: u64,
    /// A pcap record whose timestamp fraction is out of range (a microsecond field of 1000000
    /// or more, a nanosecond field of 10^9 or more): the value read. The timestamp then carries
    /// it into the seconds as the arithmetic says, rather than clamping it.
    pub bad_fraction: Option<u32>,
    /// The frame's link type (the file's, or its pcapng interface's).
    pub link_type: u32,
    /// Bytes of FCS at the end of the frame, as the pcap header's FCS-length bits say.
    pub fcs_len: usize,
    /// The pcapng interface the frame was captured on (its index in the section), 0 in pcap:
    /// one link each when a capture holds several.
    pub interface: u32,
}

/// The link types [`CaptureReader::with_link_types`] may be asked for besides Ethernet, which
/// [`crate::dissect::slice_link`] decodes: NULL and LOOP (the BSDs' and macOS's loopback), RAW,
/// IPV4, IPV6, LINUX_SLL and LINUX_SLL2 (`tcpdump -i any`).
pub const DECODED_LINK_TYPES: [u32; 8] = [1, 0, 101, 108, 113, 228, 229, 276];

/// The pcap header's link-type field: the link type in the low 16 bits; bit 26 says that bits
/// 28-31 hold the FCS length in 16-bit words (libpcap's `LT_FCS_LENGTH_PRESENT`).
fn split_link_field(field: u32) -> (u32, usize) {
    let fcs = if field & 0x0400_0000 != 0 {
        ((field >> 28) & 0xf) as usize * 2
    } else {
        0
    };
    (field & 0xffff, fcs)
}

#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: u32,
    /// Timestamp units per second: 10^n or 2^n.
    units: TsUnits,
}

#[derive(Debug, Clone, Copy)]
enum TsUnits {
    Pow10(u32),
    Pow2(u32),
}

impl TsUnits {
    fn duration(self, ticks: u64) -> Duration {
        match self {
            TsUnits::Pow10(n) => {
                let per_sec = 10u64.pow(n.min(19));
                let frac = u128::from(ticks % per_sec) * 1_000_000_000 / u128::from(per_sec);
                Duration::new(ticks / per_sec, frac as u32)
            }
            TsUnits::Pow2(n) => {
                let n = n.min(63);
                let frac = (u128::from(ticks & ((1u64 << n) - 1)) * 1_000_000_000) >> n;
                Duration::new(ticks >> n, frac as u32)
            }
        }
    }
}

/// A streaming reader of pcap and pcapng files.
pub struct CaptureReader<R: Read> {
    r: R,
    format: Format,
    big: bool,
    offset: u64,
    number: u64,
    buf: Vec<u8>,
    interfaces: Vec<Interface>,
    /// Each interface's if_name, as far as given.
    names: Vec<Option<String>>,
    pcap_units: TsUnits,
    snaplen: usize,
    /// The link types this reader passes on (others are an error).
    accept: &'static [u32],
    /// pcap: the file's link type and FCS length.
    pcap_link: (u32, usize),
}

/// Reads up to `out.len()` bytes; fewer only at the end of the input.
fn read_full<R: Read>(r: &mut R, out: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < out.len() {
        match r.read(&mut out[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

impl<R: Read> CaptureReader<R> {
    /// Reads the file header (pcap) or the first section header (pcapng).
    ///
    /// # Errors
    /// A [`CaptureError`] saying what is wrong and where.
    pub fn new(r: R) -> Result<CaptureReader<R>, CaptureError> {
        CaptureReader::with_link_types(r, &[LINKTYPE_ETHERNET])
    }

    /// As [`CaptureReader::new`], passing on frames of the link types in `accept` (each
    /// [`Packet`] says its own), such as [`DECODED_LINK_TYPES`].
    ///
    /// # Errors
    /// A [`CaptureError`] saying what is wrong and where, or a link type not in `accept`.
    pub fn with_link_types(
        mut r: R,
        accept: &'static [u32],
    ) -> Result<CaptureReader<R>, CaptureError> {
        let mut head = [0u8; 24];
        let got = read_full(&mut r, &mut head)
            .map_err(|source| CaptureError::Io { offset: 0, source })?;
        let found = head[..got.min(8)]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        let magic = head[..4].try_into().map(u32::from_be_bytes).unwrap_or(0);
        let pcap = |big_endian, nanos| Format::Pcap { big_endian, nanos };
        let format = match magic {
            0xa1b2_c3d4 => pcap(true, false),
            0xd4c3_b2a1 => pcap(false, false),
            0xa1b2_3c4d => pcap(true, true),
            0x4d3c_b2a1 => pcap(false, true),
            0x0a0d_0d0a => Format::PcapNg,
            _ => {
                return Err(CaptureError::NotCapture {
                    found: if found.is_empty() {
                        "nothing (empty file)".into()
                    } else {
                        found
                    },
                })
            }
        };
        let mut reader = CaptureReader {
            r,
            format,
            big: false,
            offset: 0,
            number: 0,
            buf: Vec::with_capacity(65_536 + 64),
            interfaces: Vec::new(),
            names: Vec::new(),
            pcap_units: TsUnits::Pow10(6),
            snaplen: MAX_RECORD,
            accept,
            pcap_link: (LINKTYPE_ETHERNET, 0),
        };
        match format {
            Format::Pcap { big_endian, nanos } => {
                if got < 24 {
                    return Err(CaptureError::Truncated {
                        frame: 0,
                        what: "pcap file header",
                        offset: 0,
                        needed: 24,
                        end: got as u64,
                    });
                }
                reader.big = big_endian;
                reader.pcap_units = TsUnits::Pow10(if nanos { 9 } else { 6 });
                let (linktype, fcs) = split_link_field(reader.u32(&head, 20));
                if !accept.contains(&linktype) {
                    return Err(CaptureError::LinkType {
                        linktype,
                        name: linktype_name(linktype),
                    });
                }
                reader.pcap_link = (linktype, fcs);
                reader.offset = 24;
            }
            Format::PcapNg => {
                // The section header is parsed by the block reader: hand it the bytes read.
                reader.buf.extend_from_slice(&head[..got]);
                reader.read_section_header(got)?;
            }
        }
        Ok(reader)
    }

    /// The link type frames have so far: a pcap file's, or a pcapng file's first interface's
    /// (Ethernet before its description is read).
    #[must_use]
    pub fn link_type(&self) -> u32 {
        match self.format {
            Format::Pcap { .. } => self.pcap_link.0,
            Format::PcapNg => self
                .interfaces
                .first()
                .map_or(LINKTYPE_ETHERNET, |i| i.linktype),
        }
    }

    /// The pcapng interfaces described so far (1 for a pcap file).
    #[must_use]
    pub fn interfaces(&self) -> usize {
        match self.format {
            Format::Pcap { .. } => 1,
            Format::PcapNg => self.interfaces.len(),
        }
    }

    /// The name (if_name) of pcapng interface `i`, if it has one.
    #[must_use]
    pub fn interface_name(&self, i: usize) -> Option<&str> {
        self.names.get(i)?.as_deref()
    }

    /// The file's format.
    #[must_use]
    pub fn format(&self) -> Format {
        self.format
    }

    /// Bytes consumed so far.
    #[must_use]
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn u32(&self, b: &[u8], at: usize) -> u32 {
        let w = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if self.big {
            u32::from_be_bytes(w)
        } else {
            u32::from_le_bytes(w)
        }
    }

    fn u16(&self, b: &[u8], at: usize) -> u16 {
        let w = [b[at], b[at + 1]];
        if self.big {
            u16::from_be_bytes(w)
        } else {
            u16::from_le_bytes(w)
        }
    }

    /// Reads `n` bytes into `buf` from position `have`; `Ok(false)` on a clean end of input before
    /// any byte of this unit.
    fn fill(&mut self, n: usize, have: usize, what: &'static str) -> Result<bool, CaptureError> {
        self.buf.resize(n, 0);
        let got = if have < n {
            read_full(&mut self.r, &mut self.buf[have..n]).map_err(|source| CaptureError::Io {
                offset: self.offset + have as u64,
                source,
            })?
        } else {
            0
        };
        if have + got < n {
            if have + got == 0 {
                return Ok(false);
            }
            return Err(CaptureError::Truncated {
                frame: self.number + 1,
                what,
                offset: self.offset,
                needed: n,
                end: self.offset + (have + got) as u64,
            });
        }
        Ok(true)
    }

    /// Reads the next frame. `Ok(None)` at the end of the file.
    ///
    /// # Errors
    /// A [`CaptureError`] naming the frame and byte offset. After an error the reader cannot go
    /// on: the stream is no longer at a record boundary.
    pub fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        match self.format {
            Format::Pcap { .. } => self.next_pcap(),
            Format::PcapNg => self.next_pcapng(),
        }
    }

    fn next_pcap(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        if !self.fill(16, 0, "pcap record header")? {
            return Ok(None);
        }
        let b = &self.buf;
        let (sec, frac, incl, orig) = (
            self.u32(b, 0),
            self.u32(b, 4),
            self.u32(b, 8) as usize,
            self.u32(b, 12) as usize,
        );
        if incl > MAX_RECORD {
            return Err(self.corrupt(
                "pcap record header",
                format!(
                    "captured length {incl} is larger than any frame ({MAX_RECORD} bytes at most)"
                ),
            ));
        }
        if !self.fill(16 + incl, 16, "frame")? {
            return Ok(None);
        }
        let (ticks, limit) = match self.pcap_units {
            TsUnits::Pow10(9) => (
                Duration::from_secs(u64::from(sec)) + Duration::from_nanos(u64::from(frac)),
                1_000_000_000,
            ),
            _ => (
                Duration::from_secs(u64::from(sec)) + Duration::from_micros(u64::from(frac)),
                1_000_000,
            ),
        };
        let (link_type, fcs_len) = self.pcap_link;
        let mut packet = self.emit(ticks, 16..16 + incl, orig.max(incl));
        packet.bad_fraction = (frac >= limit).then_some(frac);
        packet.link_type = link_type;
        packet.fcs_len = fcs_len;
        Ok(Some(packet))
    }

    fn emit(
        &mut self,
        timestamp: Duration,
        data: std::ops::Range<usize>,
        orig_len: usize,
    ) -> Packet<'_> {
        self.number += 1;
        let offset = self.offset;
        self.offset += self.buf.len() as u64;
        Packet {
            number: self.number,
            timestamp,
            data: &self.buf[data],
            orig_len,
            offset,
            bad_fraction: None,
            link_type: LINKTYPE_ETHERNET,
            fcs_len: 0,
            interface: 0,
        }
    }

    fn corrupt(&self, what: &'static str, why: String) -> CaptureError {
        CaptureError::Corrupt {
            frame: self.number + 1,
            what,
            offset: self.offset,
            why,
        }
    }

    /// Reads a section header block whose first `have` bytes are in `buf`.
    fn read_section_header(&mut self, have: usize) -> Result<(), CaptureError> {
        if !self.fill(12, have, "pcapng section header")? {
            return Err(CaptureError::Truncated {
                frame: 0,
                what: "pcapng section header",
                offset: self.offset,
                needed: 12,
                end: self.offset,
            });
        }
        self.big = match self.buf[8..12] {
            [0x1a, 0x2b, 0x3c, 0x4d] => true,
            [0x4d, 0x3c, 0x2b, 0x1a] => false,
            _ => {
                return Err(self.corrupt(
                    "pcapng section header",
                    format!(
                        "byte-order magic is {:02x?}, not 1a2b3c4d",
                        &self.buf[8..12]
                    ),
                ))
            }
        };
        let len = self.block_len()?;
        self.fill(len, have.max(12), "pcapng section header")?;
        self.check_trailer(len, "pcapng section header")?;
        self.interfaces.clear();
        self.names.clear();
        self.offset += len as u64;
        Ok(())
    }

    fn block_len(&self) -> Result<usize, CaptureError> {
        let len = self.u32(&self.buf, 4) as usize;
        if len < 12 || len % 4 != 0 || len > MAX_RECORD {
            return Err(self.corrupt(
                "pcapng block",
                format!("block length {len} is not a multiple of 4 between 12 and {MAX_RECORD}"),
            ));
        }
        Ok(len)
    }

    fn check_trailer(&self, len: usize, what: &'static str) -> Result<(), CaptureError> {
        let trailer = self.u32(&self.buf, len - 4) as usize;
        if trailer != len {
            return Err(self.corrupt(
                what,
                format!("block length {len} at its start but {trailer} at its end"),
            ));
        }
        Ok(())
    }

    fn next_pcapng(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        loop {
            if !self.fill(8, 0, "pcapng block header")? {
                return Ok(None);
            }
            let kind = self.u32(&self.buf, 0);
            if kind == 0x0a0d_0d0a {
                self.read_section_header(8)?;
                continue;
            }
            let len = self.block_len()?;
            self.fill(len, 8, "pcapng block")?;
            self.check_trailer(len, "pcapng block")?;
            let body = 8..len - 4;
            match kind {
                1 => {
                    let iface = self.interface_description(body)?;
                    self.interfaces.push(iface);
                    self.offset += len as u64;
                }
                6 | 2 => {
                    // Enhanced (6) and obsolete (2) packet blocks share the layout after the first
                    // word: interface (32 bits, or 16 + 16 drop count), timestamp, lengths, data.
                    if body.len() < 20 {
                        return Err(self.corrupt(
                            "pcapng packet block",
                            format!(
                                "body of {} bytes is shorter than the 20-byte packet header",
                                body.len()
                            ),
                        ));
                    }
                    let b = &self.buf[body.clone()];
                    let iface = if kind == 6 {
                        self.u32(b, 0) as usize
                    } else {
                        usize::from(self.u16(b, 0))
                    };
                    let ticks = (u64::from(self.u32(b, 4)) << 32) | u64::from(self.u32(b, 8));
                    let (cap, orig) = (self.u32(b, 12) as usize, self.u32(b, 16) as usize);
                    if cap > body.len() - 20 {
                        return Err(self.corrupt(
                            "pcapng packet block",
                            format!(
                                "captured length {cap} runs past the block's {} data bytes",
                                body.len() - 20
                            ),
                        ));
                    }
                    let i = self.interface(iface)?;
                    let start = body.start + 20;
                    let mut packet =
                        self.emit(i.units.duration(ticks), start..start + cap, orig.max(cap));
                    packet.link_type = i.linktype;
                    packet.interface = u32::try_from(iface).unwrap_or(u32::MAX);
                    return Ok(Some(packet));
                }
                3 => {
                    if body.len() < 4 {
                        return Err(self.corrupt(
                            "pcapng simple packet block",
                            "shorter than its 4-byte length field".into(),
                        ));
                    }
                    let orig = self.u32(&self.buf, 8) as usize;
                    let i = self.interface(0)?;
                    let cap = orig.min(body.len() - 4).min(self.snaplen);
                    let start = body.start + 4;
                    // A simple packet block carries no timestamp.
                    let mut packet = self.emit(Duration::ZERO, start..start + cap, orig);
                    packet.link_type = i.linktype;
                    return Ok(Some(packet));
                }
                _ => self.offset += len as u64,
            }
        }
    }

    fn interface(&self, index: usize) -> Result<Interface, CaptureError> {
        let i = *self.interfaces.get(index).ok_or_else(|| self.corrupt("pcapng packet block", format!("interface {index} was never described (an interface description block must come first)")))?;
        if !self.accept.contains(&i.linktype) {
            return Err(CaptureError::LinkType {
                linktype: i.linktype,
                name: linktype_name(i.linktype),
            });
        }
        Ok(i)
    }

    fn interface_description(
        &mut self,
        body: std::ops::Range<usize>,
    ) -> Result<Interface, CaptureError> {
        if body.len() < 8 {
            return Err(self.corrupt(
                "pcapng interface description",
                format!("body of {} bytes is shorter than 8", body.len()),
            ));
        }
        let b = &self.buf[body.clone()];
        let linktype = u32::from(self.u16(b, 0));
        let snaplen = self.u32(b, 4) as usize;
        self.snaplen = if snaplen == 0 { MAX_RECORD } else { snaplen };
        let mut units = TsUnits::Pow10(6);
        let mut name = None;
        let mut at = 8;
        while at + 4 <= b.len() {
            let (code, len) = (self.u16(b, at), usize::from(self.u16(b, at + 2)));
            if code == 0 {
                break;
            }
            let Some(value) = b.get(at + 4..at + 4 + len) else {
                return Err(self.corrupt(
                    "pcapng interface option",
                    format!("option {code} of {len} bytes runs past its block"),
                ));
            };
            if code == 2 {
                name = Some(
                    String::from_utf8_lossy(value)
                        .trim_end_matches('\0')
                        .to_string(),
                );
            }
            if code == 9 && len == 1 {
                let v = value[0];
                units = if v & 0x80 == 0 {
                    TsUnits::Pow10(u32::from(v))
                } else {
                    TsUnits::Pow2(u32::from(v & 0x7f))
                };
                if matches!(units, TsUnits::Pow10(n) if n > 19) {
                    return Err(self.corrupt(
                        "pcapng interface option",
                        format!("if_tsresol 10^-{v} is finer than any clock"),
                    ));
                }
            }
            at += 4 + len.div_ceil(4) * 4;
        }
        self.names.push(name);
        Ok(Interface { linktype, units })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcap(big: bool, nanos: bool, linktype: u32, frames: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let w32 = |v: u32| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let w16 = |v: u16| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut f = Vec::new();
        f.extend_from_slice(&w32(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
        f.extend_from_slice(&w16(2));
        f.extend_from_slice(&w16(4));
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&w32(262_144));
        f.extend_from_slice(&w32(linktype));
        for (s, frac, data) in frames {
            for v in [*s, *frac, data.len() as u32, data.len() as u32] {
                f.extend_from_slice(&w32(v));
            }
            f.extend_from_slice(data);
        }
        f
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<(u64, Duration, Vec<u8>)>, CaptureError> {
        let mut r = CaptureReader::new(bytes)?;
        let mut out = Vec::new();
        while let Some(p) = r.next_packet()? {
            out.push((p.number, p.timestamp, p.data.to_vec()));
        }
        Ok(out)
    }

    #[test]
    fn pcap_both_byte_orders_and_resolutions() {
        for big in [false, true] {
            for nanos in [false, true] {
                let file = pcap(big, nanos, 1, &[(10, 5, b"abc"), (11, 7, b"")]);
                let got = read_all(&file).unwrap();
                let unit = if nanos { 1 } else { 1000 };
                assert_eq!(
                    got,
                    vec![
                        (1, Duration::new(10, 5 * unit), b"abc".to_vec()),
                        (2, Duration::new(11, 7 * unit), vec![])
                    ]
                );
            }
        }
    }

    #[test]
    fn errors_say_where() {
        let file = pcap(false, false, 1, &[(1, 0, b"abcdef"), (2, 0, b"ghij")]);
        let cut = &file[..file.len() - 2];
        let mut r = CaptureReader::new(cut).unwrap();
        assert!(r.next_packet().unwrap().is_some());
        let e = r.next_packet().unwrap_err().to_string();
        assert!(e.contains("frame 2: the file ends at byte 64, inside the frame that starts at byte 46 and needs 20 bytes"), "{e}");
        let e = read_all(&pcap(false, false, 113, &[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("link type 113 (LINUX_SLL"), "{e}");
        let e = read_all(b"GIF89a..").unwrap_err().to_string();
        assert!(e.contains("starts with 4749463839612e2e"), "{e}");
        let mut huge = pcap(false, false, 1, &[(1, 0, b"x")]);
        huge[32..36].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(read_all(&huge)
            .unwrap_err()
            .to_string()
            .contains("corrupt pcap record header at byte 24"));
    }

    fn pcapng(tsresol: Option<u8>, linktype: u16) -> Vec<u8> {
        let mut f = Vec::new();
        let block = |f: &mut Vec<u8>, kind: u32, body: &[u8]| {
            let len = 12 + body.len().div_ceil(4) * 4;
            f.extend_from_slice(&kind.to_le_bytes());
            f.extend_from_slice(&(len as u32).to_le_bytes());
            f.extend_from_slice(body);
            f.resize(f.len() + (len - 12 - body.len()), 0);
            f.extend_from_slice(&(len as u32).to_le_bytes());
        };
        let mut shb = vec![0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0];
        shb.extend_from_slice(&u64::MAX.to_le_bytes());
        block(&mut f, 0x0a0d_0d0a, &shb);
        let mut idb = linktype.to_le_bytes().to_vec();
        idb.extend_from_slice(&[0, 0, 0, 0, 4, 0]);
        if let Some(r) = tsresol {
            idb.extend_from_slice(&[9, 0, 1, 0, r, 0, 0, 0]);
        }
        idb.extend_from_slice(&[0, 0, 0, 0]);
        block(&mut f, 1, &idb);
        block(&mut f, 5, &[0; 8]); // interface statistics: skipped
        let ticks: u64 = 1_700_000_000_123_456;
        let mut epb = 0u32.to_le_bytes().to_vec();
        epb.extend_from_slice(&((ticks >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(ticks as u32).to_le_bytes());
        epb.extend_from_slice(&3u32.to_le_bytes());
        epb.extend_from_slice(&5u32.to_le_bytes());
        epb.extend_from_slice(b"xyz");
        block(&mut f, 6, &epb);
        let mut spb = 2u32.to_le_bytes().to_vec();
        spb.extend_from_slice(b"hi");
        block(&mut f, 3, &spb);
        f
    }

    #[test]
    fn pcapng_blocks_and_resolution() {
        let got = read_all(&pcapng(None, 1)).unwrap();
        assert_eq!(
            got[0],
            (
                1,
                Duration::new(1_700_000_000, 123_456_000),
                b"xyz".to_vec()
            )
        );
        assert_eq!(got[1].2, b"hi");
        let got = read_all(&pcapng(Some(9), 1)).unwrap();
        assert_eq!(got[0].1, Duration::new(1_700_000, 123_456));
        let e = read_all(&pcapng(None, 0)).unwrap_err().to_string();
        assert!(e.contains("link type 0 (NULL"), "{e}");
    }

    #[test]
    fn every_truncation_is_an_error_or_a_clean_end() {
        for file in [
            pcap(true, false, 1, &[(1, 0, b"abcdef"), (2, 0, b"gh")]),
            pcapng(Some(6), 1),
        ] {
            let whole = read_all(&file).unwrap().len();
            for cut in 0..file.len() {
                match read_all(&file[..cut]) {
                    Ok(frames) => assert!(frames.len() < whole, "cut {cut}"),
                    Err(e) => assert!(!e.to_string().is_empty()),
                }
            }
        }
    }
}
