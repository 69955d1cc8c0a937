//! A UDP datagram through the pipeline: the message, the 8-byte UDP header, IPv4 or IPv6,
//! Ethernet II, as Linux builds it on `lo` for a UDP socket. Pure: the IP ID is a parameter.
//!
//! Beside TCP's 32 bytes (with the timestamps option), UDP adds 8: ports, length, checksum. No
//! sequence numbers, no acknowledgments, no window: one `send()` is one datagram, sent once.

use std::net::{IpAddr, SocketAddr};

use crate::checksum::Pseudo;
use crate::layers::ethernet::{EtherType, EthernetHeader};
use crate::layers::ipv4::{IpProtocol, Ipv4Header};
use crate::layers::ipv6::Ipv6Header;
use crate::layers::udp;

/// Why a datagram cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatagramError {
    /// The source and destination are of different address families.
    #[error("{0} and {1} are of different address families")]
    Families(SocketAddr, SocketAddr),
    /// The message does not fit one IP packet.
    #[error("a {0}-byte message does not fit one UDP datagram over IP (at most {1} bytes)")]
    TooLong(usize, usize),
}

/// What Linux puts in the IP header of a UDP datagram it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatagramParams {
    /// IPv4 identification (a connected socket with DF counts its own; an unconnected one with DF
    /// sends 0).
    pub ip_id: u16,
    /// IPv4 Don't Fragment (Linux sets it when path-MTU discovery is on, the default).
    pub dont_fragment: bool,
    /// TTL or hop limit.
    pub ttl: u8,
    /// Whether the UDP checksum is left for checksum offload (lo), or computed in full.
    pub offload: bool,
}

impl Default for DatagramParams {
    fn default() -> DatagramParams {
        DatagramParams {
            ip_id: 0,
            dont_fragment: true,
            ttl: 64,
            offload: true,
        }
    }
}

/// The largest message one datagram holds between `src` and `dst` (IP's 65535 bytes less the
/// headers; IPv6's payload length counts only what follows its header).
#[must_use]
pub fn max_message(src: SocketAddr) -> usize {
    match src.ip() {
        IpAddr::V4(_) => 65535 - 20 - udp::field::HEADER_LEN,
        IpAddr::V6(_) => 65535 - udp::field::HEADER_LEN,
    }
}

/// Builds the Ethernet frame (zero MACs, as on `lo`; no FCS) that carries `message` from `src` to
/// `dst` in one UDP datagram.
///
/// # Errors
/// Mixed address families, or a message larger than one datagram.
pub fn encapsulate(
    message: &[u8],
    src: SocketAddr,
    dst: SocketAddr,
    p: DatagramParams,
) -> Result<Vec<u8>, DatagramError> {
    if message.len() > max_message(src) {
        return Err(DatagramError::TooLong(message.len(), max_message(src)));
    }
    let udp_len = udp::field::HEADER_LEN + message.len();
    let (ethertype, ip_len, pseudo) = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => (EtherType::Ipv4, 20, Pseudo::V4(s, d)),
        (IpAddr::V6(s), IpAddr::V6(d)) => (EtherType::Ipv6, Ipv6Header::LEN, Pseudo::V6(s, d)),
        _ => return Err(DatagramError::Families(src, dst)),
    };
    let eth = EthernetHeader::LEN;
    let mut frame = vec![0u8; eth + ip_len + udp_len];
    EthernetHeader {
        destination: [0; 6],
        source: [0; 6],
        ethertype,
    }
    .emit(&mut frame[..eth]);
    let at = eth + ip_len;
    frame[at + udp::field::HEADER_LEN..].copy_from_slice(message);
    udp::emit(
        &mut frame[at..],
        src.port(),
        dst.port(),
        message.len(),
        pseudo,
        p.offload,
    );
    // udp_len fits: max_message checked it.
    let udp_len16 = udp_len as u16;
    match pseudo {
        Pseudo::V4(s, d) => {
            Ipv4Header {
                dscp: 0,
                ecn: 0,
                total_len: 0,
                identification: p.ip_id,
                dont_fragment: p.dont_fragment,
                more_fragments: false,
                fragment_offset: 0,
                ttl: p.ttl,
                protocol: IpProtocol::Udp,
                checksum: 0,
                source: s,
                destination: d,
                options: Vec::new(),
            }
            .emit(&mut frame[eth..at], udp_len16);
        }
        Pseudo::V6(s, d) => Ipv6Header {
            traffic_class: 0,
            flow_label: 0,
            hop_limit: p.ttl,
            source: s,
            destination: d,
        }
        .emit(&mut frame[eth..at], udp_len16, IpProtocol::Udp),
    }
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissect::{dissect, slice, Transport};
    use crate::layers::Layer;

    #[test]
    fn hello_is_a_50_byte_frame_with_an_8_byte_udp_header() {
        let src: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let dst: SocketAddr = "127.0.0.1:6666".parse().unwrap();
        let f = encapsulate(b"hello\n", src, dst, DatagramParams::default()).unwrap();
        assert_eq!(f.len(), 14 + 20 + 8 + 6);
        let s = slice(&f);
        assert!(s.error.is_none());
        assert!(matches!(
            s.transport,
            Transport::Udp(40000, 6666, b"hello\n")
        ));
        let d = dissect(&f);
        let udp = d.nodes.iter().find(|n| n.layer == Layer::Udp).unwrap();
        assert_eq!(udp.range.len(), 8);
        assert!(
            udp.fields[3].display.contains("[partial"),
            "{}",
            udp.fields[3].display
        );
        let full = DatagramParams {
            offload: false,
            ..DatagramParams::default()
        };
        let f = encapsulate(b"hello\n", src, dst, full).unwrap();
        let d = dissect(&f);
        let udp = d.nodes.iter().find(|n| n.layer == Layer::Udp).unwrap();
        assert!(
            udp.fields[3].display.contains("[correct]"),
            "{}",
            udp.fields[3].display
        );
    }

    #[test]
    fn ipv6_and_errors() {
        let src: SocketAddr = "[::1]:40000".parse().unwrap();
        let dst: SocketAddr = "[::1]:6666".parse().unwrap();
        let f = encapsulate(b"hi", src, dst, DatagramParams::default()).unwrap();
        assert_eq!(f.len(), 14 + 40 + 8 + 2);
        assert!(slice(&f).error.is_none());
        let v4: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert!(encapsulate(b"", src, v4, DatagramParams::default()).is_err());
        assert!(encapsulate(&vec![0; 70000], v4, v4, DatagramParams::default()).is_err());
    }
}
