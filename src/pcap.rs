//! Capture files: writing frames as pcap (the classic libpcap format), link type Ethernet, and as
//! pcapng with one interface per link ([`LinksWriter`], for captures of several links at once).
//!
//! Frames are stored as captures store them: without FCS. The writer writes into any
//! `io::Write`; the caller supplies each frame's timestamp, so this module reads no clock.

use std::borrow::Cow;
use std::io::Write;
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::{DataLink, Endianness, TsResolution};

/// tcpdump's default snapshot length: large enough for a 65535-byte IPv4 packet on `lo` plus its
/// 14-byte Ethernet header.
pub const SNAPLEN: u32 = 262_144;

/// Writes Ethernet frames into a pcap stream.
pub struct FrameWriter<W: Write> {
    inner: PcapWriter<W>,
}

impl<W: Write> FrameWriter<W> {
    /// Writes the pcap file header (microsecond timestamps, little-endian, as tcpdump writes on
    /// x86) and returns the writer.
    ///
    /// # Errors
    /// An I/O error from `out`.
    pub fn new(out: W) -> Result<FrameWriter<W>, pcap_file::PcapError> {
        FrameWriter::with_snaplen(out, SNAPLEN)
    }

    /// As [`FrameWriter::new`], with `snaplen` in the header: the most bytes of a frame the
    /// capture kept (tcpdump's `-s`).
    ///
    /// # Errors
    /// An I/O error from `out`.
    pub fn with_snaplen(out: W, snaplen: u32) -> Result<FrameWriter<W>, pcap_file::PcapError> {
        let header = PcapHeader {
            snaplen,
            datalink: DataLink::ETHERNET,
            ts_resolution: TsResolution::MicroSecond,
            endianness: Endianness::Little,
            ..PcapHeader::default()
        };
        Ok(FrameWriter {
            inner: PcapWriter::with_header(out, header)?,
        })
    }

    /// Writes one frame, captured whole, with the given time since the Unix epoch.
    ///
    /// # Errors
    /// An I/O error from the underlying writer.
    pub fn write(&mut self, timestamp: Duration, frame: &[u8]) -> Result<(), pcap_file::PcapError> {
        self.write_cut(timestamp, frame, frame.len())
    }

    /// Writes one frame whose length on the link was `orig_len`, of which `frame` was captured
    /// (shorter when the capture cut it).
    ///
    /// # Errors
    /// An I/O error from the underlying writer.
    pub fn write_cut(
        &mut self,
        timestamp: Duration,
        frame: &[u8],
        orig_len: usize,
    ) -> Result<(), pcap_file::PcapError> {
        let len = u32::try_from(orig_len.max(frame.len())).unwrap_or(u32::MAX);
        self.inner
            .write_packet(&PcapPacket::new(timestamp, len, frame))?;
        Ok(())
    }

    /// Returns the underlying writer, to flush or close it.
    pub fn into_inner(self) -> W {
        self.inner.into_writer()
    }
}

/// Writes Ethernet frames of several links into one pcapng stream: one Interface Description Block
/// per link (its name and description), each frame an Enhanced Packet Block naming its link.
///
/// Timestamps are written in nanoseconds (`if_tsresol` 9 on every interface), as pcap-file writes
/// them.
pub struct LinksWriter<W: Write> {
    inner: PcapNgWriter<W>,
    links: u32,
}

impl<W: Write> LinksWriter<W> {
    /// Writes the section header and one interface per `(name, description)` in `links`, in order:
    /// the first is interface 0.
    ///
    /// # Errors
    /// An I/O error from `out`.
    pub fn new(out: W, links: &[(&str, &str)]) -> Result<LinksWriter<W>, pcap_file::PcapError> {
        let mut inner = PcapNgWriter::new(out)?;
        for (name, description) in links {
            let mut idb = InterfaceDescriptionBlock::new(DataLink::ETHERNET, SNAPLEN);
            idb.options = vec![
                InterfaceDescriptionOption::IfName(Cow::Owned((*name).to_string())),
                InterfaceDescriptionOption::IfDescription(Cow::Owned((*description).to_string())),
                InterfaceDescriptionOption::IfTsResol(9),
            ];
            inner.write_pcapng_block(idb)?;
        }
        Ok(LinksWriter {
            inner,
            links: u32::try_from(links.len()).unwrap_or(u32::MAX),
        })
    }

    /// Writes one frame captured whole on link number `link` (0-based, as given to `new`), with
    /// the given time since the Unix epoch.
    ///
    /// # Errors
    /// [`pcap_file::PcapError::InvalidField`] for a link that was not declared; an I/O error from
    /// the underlying writer.
    pub fn write(
        &mut self,
        link: u32,
        timestamp: Duration,
        frame: &[u8],
    ) -> Result<(), pcap_file::PcapError> {
        if link >= self.links {
            return Err(pcap_file::PcapError::InvalidField(
                "LinksWriter: a frame on a link that has no interface",
            ));
        }
        let block = EnhancedPacketBlock {
            interface_id: link,
            timestamp,
            original_len: u32::try_from(frame.len()).unwrap_or(u32::MAX),
            data: Cow::Borrowed(frame),
            options: Vec::new(),
        };
        self.inner.write_pcapng_block(block)?;
        Ok(())
    }

    /// Returns the underlying writer, to flush or close it.
    pub fn into_inner(self) -> W {
        self.inner.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_one_interface_per_link() {
        let mut w =
            LinksWriter::new(Vec::new(), &[("r-a", "link a-r"), ("r-b", "link r-b")]).unwrap();
        w.write(0, Duration::new(1_700_000_000, 5), &[1, 2, 3])
            .unwrap();
        w.write(1, Duration::new(1_700_000_001, 0), &[4, 5])
            .unwrap();
        assert!(w.write(2, Duration::ZERO, &[6]).is_err(), "no third link");
        let bytes = w.into_inner();
        let mut r = pcap_file::pcapng::PcapNgReader::new(&bytes[..]).unwrap();
        let mut seen = Vec::new();
        while let Some(block) = r.next_block() {
            if let pcap_file::pcapng::Block::EnhancedPacket(p) = block.unwrap() {
                seen.push((p.interface_id, p.timestamp, p.data.to_vec()));
            }
        }
        assert_eq!(r.interfaces().len(), 2);
        assert_eq!(
            seen,
            vec![
                (0, Duration::new(1_700_000_000, 5), vec![1, 2, 3]),
                (1, Duration::new(1_700_000_001, 0), vec![4, 5])
            ]
        );
        let mut ours = crate::capfile::CaptureReader::new(&bytes[..]).unwrap();
        assert_eq!(ours.next_packet().unwrap().unwrap().data, &[1, 2, 3]);
    }

    #[test]
    fn writes_a_readable_file() {
        let mut w = FrameWriter::new(Vec::new()).unwrap();
        w.write(Duration::new(1_700_000_000, 123_000), &[1, 2, 3])
            .unwrap();
        let bytes = w.into_inner();
        // Magic a1b2c3d4 little-endian, version 2.4, link type 1 (Ethernet).
        assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(&bytes[20..24], &1u32.to_le_bytes());
        assert_eq!(bytes.len(), 24 + 16 + 3);
        let mut cut = FrameWriter::new(Vec::new()).unwrap();
        cut.write_cut(Duration::ZERO, &[1, 2], 60).unwrap();
        let cut = cut.into_inner();
        assert_eq!(
            (&cut[32..36], &cut[36..40]),
            (&2u32.to_le_bytes()[..], &60u32.to_le_bytes()[..]),
            "incl_len 2, orig_len 60"
        );
        let mut r = pcap_file::pcap::PcapReader::new(&bytes[..]).unwrap();
        let p = r.next_packet().unwrap().unwrap();
        assert_eq!(&*p.data, &[1, 2, 3]);
        assert_eq!(p.timestamp, Duration::new(1_700_000_000, 123_000));
    }
}
