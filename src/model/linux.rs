//! Linux's own rules, with the kernel functions they come from: the MSS on `lo`, the windows and
//! window scale a SYN offers (`tcp_select_initial_window`), the first window after the
//! handshake (`__tcp_select_window`), and how exactly TSvals follow the millisecond clock.

/// The MSS Linux announces on `lo` for IPv4 (MTU 65536 less 20 + 20 header bytes; see
/// LOOPBACK.md).
pub const LO_MSS: u16 = 65495;

/// The MSS Linux announces on `lo` for IPv6: MTU 65536 less the 40-byte IPv6 and 20-byte TCP
/// headers.
pub const LO_MSS_V6: u16 = 65476;

/// The host's TCP receive-buffer settings, from which Linux derives the window a new connection
/// offers in its SYN or SYN-ACK and the window scale it announces (`tcp_select_initial_window`).
/// Read off the host by whoever runs the model (`/proc/sys/net/ipv4/tcp_rmem`,
/// `/proc/sys/net/core/rmem_max`); without them those fields are kernel-chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSettings {
    /// `net.ipv4.tcp_rmem`: the receive buffer's minimum, default and maximum, in bytes.
    pub tcp_rmem: [u32; 3],
    /// `net.core.rmem_max`: the most `SO_RCVBUF` may ask for.
    pub rmem_max: u32,
}

impl TcpSettings {
    /// Parses the two sysctls as `/proc/sys` shows them: `"4096\t131072\t33554432"` and
    /// `"4194304"` (any whitespace or commas between the three numbers).
    ///
    /// # Errors
    /// A message naming the setting and what is wrong with it.
    pub fn parse(tcp_rmem: &str, rmem_max: &str) -> Result<TcpSettings, String> {
        let nums: Vec<u32> = tcp_rmem
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|x| !x.is_empty())
            .map(|x| {
                x.parse()
                    .map_err(|_| format!("net.ipv4.tcp_rmem: {x:?} is not a byte count"))
            })
            .collect::<Result<_, _>>()?;
        let tcp_rmem: [u32; 3] = nums.try_into().map_err(|v: Vec<u32>| {
            format!(
                "net.ipv4.tcp_rmem: expected three numbers (min, default, max), got {}",
                v.len()
            )
        })?;
        let rmem_max = rmem_max.trim().parse().map_err(|_| {
            format!(
                "net.core.rmem_max: {:?} is not a byte count",
                rmem_max.trim()
            )
        })?;
        Ok(TcpSettings { tcp_rmem, rmem_max })
    }

    /// The window space of a new socket (`tcp_full_space`): its receive buffer, `tcp_rmem[1]`,
    /// of which Linux offers half as window (the default scaling ratio, 128/256).
    #[must_use]
    pub fn full_space(&self) -> u32 {
        ((u64::from(self.tcp_rmem[1]) * 128) >> 8) as u32
    }

    /// The window a SYN or SYN-ACK offers for segments of `mss` bytes (the MSS announced, less
    /// the timestamps option on a SYN-ACK that has it): the full space rounded down to a whole
    /// number of segments, at most 65535 (a SYN's window is never scaled).
    #[must_use]
    pub fn initial_window(&self, mss: u32) -> u16 {
        let mut space = self.full_space();
        if mss > 0 && space > mss {
            space -= space % mss;
        }
        space.min(u32::from(u16::MAX)) as u16
    }

    /// The window scale a SYN or SYN-ACK announces: enough for the largest buffer the socket
    /// may grow to, `max(tcp_rmem[2], rmem_max)`, in a 16-bit field: its log2 less 15, at most 14.
    #[must_use]
    pub fn window_scale(&self) -> u8 {
        let space = self
            .full_space()
            .max(self.tcp_rmem[2])
            .max(self.rmem_max)
            .min(u32::from(u16::MAX) << 14);
        (space.max(1).ilog2().saturating_sub(15)).min(14) as u8
    }
}

/// The window a side advertises in its first segment after the handshake (`__tcp_select_window`
/// with an empty receive queue): the window its SYN offered (`rcv_ssthresh`), rounded up to a
/// whole unit of its window scale, then scaled.
#[must_use]
pub fn first_scaled_window(syn_window: u16, wscale: u8) -> u16 {
    let unit = 1u32 << wscale.min(14);
    let window = u32::from(syn_window).div_ceil(unit) * unit;
    (window >> wscale.min(14)).min(u32::from(u16::MAX)) as u16
}

/// How far (ms) a TSval may be from the sender's clock as the capture times show it: the TSval
/// is taken when the segment is built, the capture time when it arrives, and both clocks tick
/// in whole milliseconds.
pub const TSVAL_SLACK_MS: u32 = 2;

/// The default TTL (hop limit) of the host (`net.ipv4.ip_default_ttl`, `net.ipv6.conf.*.hop_limit`).
pub const DEFAULT_TTL: u8 = 64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_as_proc_shows_them_and_say_what_is_wrong() {
        let s = TcpSettings::parse("4096\t131072\t33554432\n", "4194304\n").unwrap();
        assert_eq!(s.tcp_rmem, [4096, 131072, 33554432]);
        assert_eq!(s.rmem_max, 4194304);
        assert_eq!(
            TcpSettings::parse("4096,131072,6291456", "212992")
                .unwrap()
                .tcp_rmem[2],
            6291456
        );
        let e = TcpSettings::parse("4096 131072", "1").unwrap_err();
        assert!(e.contains("tcp_rmem") && e.contains("got 2"), "{e}");
        let e = TcpSettings::parse("4096 x 1", "1").unwrap_err();
        assert!(e.contains("\"x\""), "{e}");
        let e = TcpSettings::parse("1 2 3", "-4").unwrap_err();
        assert!(e.contains("rmem_max"), "{e}");
    }

    #[test]
    fn initial_windows_and_scales_follow_tcp_select_initial_window() {
        // Linux 6.16+ defaults on lo: 65495 in the SYN, 65483 (MSS less the 12-byte timestamps
        // option) in the SYN-ACK, scale 10 for a 32 MB maximum; the captures show exactly these.
        let new = TcpSettings::parse("4096 131072 33554432", "212992").unwrap();
        assert_eq!(new.full_space(), 65536);
        assert_eq!(new.initial_window(65495), 65495);
        assert_eq!(new.initial_window(65483), 65483);
        assert_eq!(new.window_scale(), 10);
        // Older kernels' 6 MB maximum: scale 7. An MSS of 1460 on a real wire: 44 segments.
        let old = TcpSettings::parse("4096 131072 6291456", "212992").unwrap();
        assert_eq!(old.window_scale(), 7);
        assert_eq!(old.initial_window(1460), 64240);
        // A small buffer: no rounding below one segment, and the scale never below 0.
        let tiny = TcpSettings::parse("1024 2048 4096", "4096").unwrap();
        assert_eq!(tiny.initial_window(65495), 1024);
        assert_eq!(tiny.window_scale(), 0);
        // A huge one: the scale stops at 14 (RFC 7323).
        let huge = TcpSettings::parse("4096 131072 4294967295", "4294967295").unwrap();
        assert_eq!(huge.window_scale(), 14);
        assert_eq!(huge.initial_window(65495), 65495);
    }

    #[test]
    fn first_window_after_the_handshake_is_the_syn_window_rounded_up_to_the_scale() {
        assert_eq!(first_scaled_window(65495, 10), 64);
        assert_eq!(first_scaled_window(65483, 7), 512);
        assert_eq!(first_scaled_window(64240, 7), 502);
        assert_eq!(first_scaled_window(65535, 0), 65535);
        assert_eq!(first_scaled_window(65535, 14), 4);
    }
}
