//! Capture files: writing frames as pcap (the classic libpcap format), link type Ethernet.
//!
//! Frames are stored as captures store them: without FCS. The writer writes into any
//! `io::Write`; the caller supplies each frame's timestamp, so this module reads no clock.

use std::io::Write;
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
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

#[cfg(test)]
mod tests {
    use super::*;

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
