//! The Internet checksum (RFC 1071): the 16-bit ones' complement of the ones' complement sum of
//! 16-bit big-endian words, used by IPv4 (RFC 791) for its header and by TCP (RFC 9293) over a
//! pseudo-header, the TCP header and the payload.
//!
//! The sum is kept in a `u64` and folded at the end, which RFC 1071 §2(C) allows ("deferred
//! carries"); words are summed eight bytes at a time in native byte order and swapped once at the
//! end (RFC 1071 §2(B), "byte order independence").

use std::net::{Ipv4Addr, Ipv6Addr};

/// Adds `bytes`, taken as big-endian 16-bit words (an odd last byte padded with zero), to an
/// unfolded running sum. Bytes are consumed from offset 0: callers summing several pieces must
/// give each piece an even length except the last.
#[inline]
#[must_use]
pub fn add(sum: u64, bytes: &[u8]) -> u64 {
    // Native-endian 32-bit words summed into a 64-bit accumulator cannot overflow for any packet
    // shorter than 2^34 bytes; the swap to network order happens once, in `fold_native`.
    let mut acc: u64 = 0;
    let mut words = bytes.chunks_exact(4);
    for w in &mut words {
        acc += u64::from(u32::from_ne_bytes([w[0], w[1], w[2], w[3]]));
    }
    // The last 0 to 3 bytes start on an even offset: a 16-bit word and a zero-padded byte.
    // (Copying them into a zeroed 4-byte array and loading that stalled on store forwarding.)
    acc += match *words.remainder() {
        [a, b, c] => u64::from(u16::from_ne_bytes([a, b])) + u64::from(u16::from_ne_bytes([c, 0])),
        [a, b] => u64::from(u16::from_ne_bytes([a, b])),
        [a] => u64::from(u16::from_ne_bytes([a, 0])),
        _ => 0,
    };
    sum + u64::from(fold_native(acc))
}

/// Folds a native-order sum into a big-endian 16-bit ones' complement sum.
#[inline]
fn fold_native(s: u64) -> u16 {
    let s = (s & 0xffff_ffff) + (s >> 32);
    let s = (s & 0xffff_ffff) + (s >> 32);
    let s = (s & 0xffff) + (s >> 16);
    let s = (s & 0xffff) + (s >> 16);
    let folded = s as u16;
    if cfg!(target_endian = "little") {
        folded.swap_bytes()
    } else {
        folded
    }
}

/// Folds an unfolded sum to 16 bits (end-around carry), without complementing.
#[inline]
#[must_use]
pub fn fold(mut sum: u64) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The checksum of `bytes`: the complement of their folded sum.
#[inline]
#[must_use]
pub fn of(bytes: &[u8]) -> u16 {
    !fold(add(0, bytes))
}

/// The unfolded sum of the IPv4 pseudo-header that TCP and UDP checksums cover (RFC 9293 §3.1):
/// source, destination, zero, protocol, and the transport length.
#[inline]
#[must_use]
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u64 {
    let s = src.octets();
    let d = dst.octets();
    u64::from(u16::from_be_bytes([s[0], s[1]]))
        + u64::from(u16::from_be_bytes([s[2], s[3]]))
        + u64::from(u16::from_be_bytes([d[0], d[1]]))
        + u64::from(u16::from_be_bytes([d[2], d[3]]))
        + u64::from(protocol)
        + u64::from(length)
}

/// The addresses a transport checksum's pseudo-header covers: IPv4 (RFC 9293 §3.1) or IPv6
/// (RFC 8200 §8.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pseudo {
    /// Source and destination IPv4 addresses.
    V4(Ipv4Addr, Ipv4Addr),
    /// Source and destination IPv6 addresses.
    V6(Ipv6Addr, Ipv6Addr),
}

impl From<(Ipv4Addr, Ipv4Addr)> for Pseudo {
    fn from((src, dst): (Ipv4Addr, Ipv4Addr)) -> Pseudo {
        Pseudo::V4(src, dst)
    }
}

impl Pseudo {
    /// The unfolded pseudo-header sum for `protocol` and an upper-layer packet of `length` bytes.
    #[must_use]
    pub fn sum(self, protocol: u8, length: usize) -> u64 {
        match self {
            Pseudo::V4(src, dst) => pseudo_header_v4(src, dst, protocol, length as u16),
            Pseudo::V6(src, dst) => {
                let len = length as u32;
                add(add(0, &src.octets()), &dst.octets())
                    + u64::from(len >> 16)
                    + u64::from(len & 0xffff)
                    + u64::from(protocol)
            }
        }
    }
}

/// What Linux stores in the TCP checksum field when the device offloads checksums, as `lo` does:
/// the folded pseudo-header sum, not complemented (`__tcp_v4_send_check`:
/// `th->check = ~tcp_v4_check(len, saddr, daddr, 0)`). For 127.0.0.1 to 127.0.0.1 this is
/// `0xfe08 + length`.
///
/// ```
/// use std::net::{Ipv4Addr, Ipv6Addr};
/// let lo = Ipv4Addr::LOCALHOST;
/// // A 40-byte SYN: tcpdump prints `cksum 0xfe30 (incorrect -> ...)` for it on lo.
/// assert_eq!(encap::checksum::offloaded_v4(lo, lo, 6, 40), 0xfe30);
/// ```
#[inline]
#[must_use]
pub fn offloaded_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u16 {
    fold(pseudo_header_v4(src, dst, protocol, length))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A straightforward word-by-word reference to check the fast path against.
    fn reference(bytes: &[u8]) -> u16 {
        let mut s: u32 = 0;
        for pair in bytes.chunks(2) {
            let w = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
            s += u32::from(w);
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(add(0, &bytes)), 0xddf2);
        assert_eq!(of(&bytes), !0xddf2);
    }

    #[test]
    fn matches_reference_at_every_length_and_alignment() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 37 + 11) as u8).collect();
        for start in 0..8 {
            for end in start..data.len() {
                assert_eq!(
                    of(&data[start..end]),
                    reference(&data[start..end]),
                    "{start}..{end}"
                );
            }
        }
    }

    #[test]
    fn offloaded_loopback_value_from_a_real_capture() {
        // LOOPBACK.md: a 38-byte TCP segment (32-byte header + "hello\n") between 127.0.0.1
        // addresses carries 0xfe2e, a 40-byte SYN 0xfe30.
        let lo = Ipv4Addr::LOCALHOST;
        assert_eq!(offloaded_v4(lo, lo, 6, 38), 0xfe2e);
        assert_eq!(offloaded_v4(lo, lo, 6, 40), 0xfe30);
    }
}
