//! The model's view of one connection: the numbers its segments would carry.
//!
//! A socket never sees the kernel's initial sequence numbers or its IP ID counter, so the model
//! counts relative to the start of this connection, as Wireshark's "relative sequence numbers" do:
//! the first data byte each way is number 1, and the IP ID of the first data segment is 1.
//! Pure: counts in, pipeline parameters out.

use std::net::SocketAddrV4;

use encap::pipeline::{self, ChecksumMode, EncapError, Encapsulated, Params};

/// Byte and segment counters of one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnModel {
    /// This end (getsockname).
    pub local: SocketAddrV4,
    /// The other end (getpeername).
    pub peer: SocketAddrV4,
    /// Bytes handed to the kernel to send so far.
    pub sent: u64,
    /// Bytes received so far.
    pub received: u64,
    /// Data segments the model has built so far.
    pub segments: u64,
    /// Messages sent so far.
    pub messages: u64,
}

impl ConnModel {
    /// A connection that has carried nothing yet.
    #[must_use]
    pub fn new(local: SocketAddrV4, peer: SocketAddrV4) -> ConnModel {
        ConnModel {
            local,
            peer,
            sent: 0,
            received: 0,
            segments: 0,
            messages: 0,
        }
    }

    /// Relative sequence number of the next byte sent: 1 + bytes sent (mod 2^32).
    #[must_use]
    pub fn seq(&self) -> u32 {
        (self.sent.wrapping_add(1) & 0xffff_ffff) as u32
    }

    /// Relative acknowledgment number: 1 + bytes received (mod 2^32).
    #[must_use]
    pub fn ack(&self) -> u32 {
        (self.received.wrapping_add(1) & 0xffff_ffff) as u32
    }

    /// Relative IP ID of the next data segment: 1 + data segments so far (mod 2^16).
    #[must_use]
    pub fn ip_id(&self) -> u16 {
        (self.segments.wrapping_add(1) & 0xffff) as u16
    }

    /// The pipeline parameters for the next data segment, with what `lo` really carries: this
    /// connection's addresses and ports, and the checksum left to the (absent) offload device.
    #[must_use]
    pub fn params(&self) -> Params {
        let mut p = Params::between(self.local, self.peer);
        p.tcp.seq = self.seq();
        p.tcp.ack = self.ack();
        p.ip.identification = self.ip_id();
        p.checksum = ChecksumMode::Offloaded;
        p
    }

    /// The frames `message` becomes: one, or one per `mss` bytes when it does not fit in one
    /// segment. Does not count them: call [`ConnModel::on_sent`].
    ///
    /// # Errors
    /// [`EncapError`] if a frame cannot be built (not for any message length: segments always fit).
    pub fn frames(&self, message: &[u8], mss: usize) -> Result<Vec<Encapsulated>, EncapError> {
        let p = self.params();
        let mss = mss.clamp(1, p.max_payload());
        if message.len() <= mss {
            Ok(vec![pipeline::encapsulate(message, &p)?])
        } else {
            pipeline::segment(message, &p, mss)
        }
    }

    /// Counts a message of `len` bytes handed to the kernel as `segments` segments.
    pub fn on_sent(&mut self, len: usize, segments: usize) {
        self.sent = self.sent.wrapping_add(len as u64);
        self.segments = self.segments.wrapping_add(segments as u64);
        self.messages += 1;
    }

    /// Counts `len` bytes received.
    pub fn on_received(&mut self, len: usize) {
        self.received = self.received.wrapping_add(len as u64);
    }
}

/// How many segments a message of `len` bytes takes with this MSS.
#[must_use]
pub fn segment_count(len: usize, mss: usize) -> usize {
    len.div_ceil(mss.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use encap::pipeline::decapsulate;
    use std::net::Ipv4Addr;

    fn conn() -> ConnModel {
        ConnModel::new(
            SocketAddrV4::new(Ipv4Addr::LOCALHOST, 39872),
            SocketAddrV4::new(Ipv4Addr::LOCALHOST, 6666),
        )
    }

    #[test]
    fn numbers_start_at_one_and_follow_the_bytes() {
        let mut c = conn();
        assert_eq!((c.seq(), c.ack(), c.ip_id()), (1, 1, 1));
        c.on_sent(6, 1);
        c.on_received(3);
        assert_eq!((c.seq(), c.ack(), c.ip_id()), (7, 4, 2));
        c.sent = u64::from(u32::MAX);
        c.segments = u64::from(u16::MAX);
        assert_eq!((c.seq(), c.ip_id()), (0, 0));
    }

    #[test]
    fn a_message_becomes_the_frame_lo_carries() {
        let mut c = conn();
        c.on_sent(10, 1);
        c.on_received(4);
        let frames = c.frames(b"hello\n", 65483).expect("fits");
        assert_eq!(frames.len(), 1);
        let d = decapsulate(frames[0].frame()).expect("decodes");
        assert_eq!(d.tcp.src_port(), 39872);
        assert_eq!(d.tcp.dst_port(), 6666);
        assert_eq!(d.tcp.seq(), 11);
        assert_eq!(d.tcp.ack(), 5);
        assert_eq!(d.ip.identification(), 2);
        // Offloaded: the pseudo-header sum only, 0xfe08 + TCP length on 127.0.0.1 (LOOPBACK.md).
        assert_eq!(d.tcp.checksum(), 0xfe08 + 32 + 6);
        assert_eq!(frames[0].frame().len(), 72);
    }

    #[test]
    fn a_long_message_is_segmented_at_the_mss() {
        let c = conn();
        let msg = vec![b'x'; 70_000];
        let frames = c.frames(&msg, 32741).expect("segments fit");
        assert_eq!(frames.len(), segment_count(msg.len(), 32741));
        assert_eq!(frames.len(), 3);
        let d = decapsulate(frames[2].frame()).expect("decodes");
        assert_eq!(d.tcp.seq(), 1 + 2 * 32741);
        assert_eq!(d.ip.identification(), 3);
        // An MSS larger than one packet allows is clamped to what one packet can carry.
        let frames = c.frames(&msg, 1 << 20).expect("segments fit");
        assert_eq!(frames.len(), 2);
    }
}
