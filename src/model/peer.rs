//! A side that is not Linux (another system, a scripted test peer): the model follows it rather
//! than predicting its habits. Its frame is predicted as any correct TCP must send it (sequence
//! and acknowledgment numbers from the connection's arithmetic, flags for the event, lengths
//! and checksums from the bytes), with what a stack may choose as it likes taken from the frame
//! ([`adopt`]) and judged *peer-chosen* ([`rule`]); a frame that breaks a rule every TCP keeps
//! (RFC 9293, 7323, 2018) is a MISMATCH there, at that field.
//!
//! Which side is which is told (`encap verify --linux ADDR`) or read off a side's SYN or
//! SYN-ACK ([`fingerprint`]).

use super::event::Kind;
use super::observed::Observed;
use super::rules::{Facts, Rule};
use super::seq;
use super::side::Stack;
use super::verdict::Verdict;
use crate::layers::tcp::{field as tf, TcpOption};
use crate::layers::{ipv4, ipv6, payload, tcp};
use crate::pipeline::{ChecksumMode, Params};

/// The flags a stack sets as it likes: PSH (where a write ends is its own business), URG, and
/// the ECN echo flags.
const OWN_FLAGS: u16 = tf::FLG_PSH | tf::FLG_URG | tf::FLG_ECE | tf::FLG_CWR;

/// Takes into the model's frame `p` what the followed side chose in frame `o`: its IP layer's
/// marking, identification and Don't Fragment, its window, its options (their layout and
/// values; the TSecr stays the model's, as the peer must echo one of the Linux side's TSvals),
/// the flags of [`OWN_FLAGS`], and a full TCP checksum where it sent one.
pub fn adopt(o: &Observed<'_>, on_a_wire: bool, p: &mut Params) {
    p.ip.dscp = o.dscp;
    p.ip.ecn = o.ecn;
    p.ip.ttl = o.ttl;
    p.ip.dont_fragment = o.df;
    p.ip.identification = o.ip_id.unwrap_or(0);
    if let Some(v6) = &mut p.ipv6 {
        v6.traffic_class = (o.dscp << 2) | o.ecn;
        v6.hop_limit = o.ttl;
        v6.flow_label = o.flow.unwrap_or(0);
    }
    p.tcp.window = o.window();
    p.tcp.flags = (p.tcp.flags & !OWN_FLAGS) | (o.flags() & OWN_FLAGS);
    // An RST answering a segment with ACK may itself carry one or not (RFC 9293 §3.10.7.3):
    // without, its acknowledgment field is not used.
    if o.kind == Kind::Rst {
        p.tcp.flags = (p.tcp.flags & !tf::FLG_ACK) | (o.flags() & tf::FLG_ACK);
        if !o.has_ack() {
            p.tcp.ack = o.ack();
        }
    }
    let echo = p.tcp.options.iter().find_map(|opt| match opt {
        TcpOption::Timestamps { tsecr, .. } => Some(*tsecr),
        _ => None,
    });
    p.tcp.options.clone_from(&o.options);
    // (A SYN echoes nothing: its TSecr should be 0, RFC 7323 §3.2.)
    let echo = if o.kind == Kind::Syn { Some(0) } else { echo };
    if let Some(echo) = echo {
        for opt in &mut p.tcp.options {
            if let TcpOption::Timestamps { tsecr, .. } = opt {
                *tsecr = echo;
            }
        }
    }
    if on_a_wire {
        p.checksum = if o.full_checksum {
            ChecksumMode::Full
        } else {
            ChecksumMode::Offloaded
        };
    }
}

fn chosen(why: &'static str) -> Option<Rule> {
    Some(Rule::IfEqual(Verdict::PeerChosen { why }))
}

fn broken(text: String) -> Option<Rule> {
    Some(Rule::Broken(text))
}

/// The rule for field `key` of a frame from a followed side, where it differs from Linux's;
/// `None` for the rules every TCP shares (then [`relabel`] names what Linux's rules call
/// kernel-chosen as the peer's choice).
#[must_use]
pub fn rule(key: &str, f: &Facts<'_>) -> Option<Rule> {
    let o = f.o;
    match key {
        ipv4::key::DSCP | ipv4::key::ECN | ipv6::key::TCLASS => chosen("its traffic class: DSCP and ECN as its application or system sets them"),
        ipv4::key::TTL | ipv6::key::HLIM => chosen("its initial TTL (hop limit), less the routers on the way: 64 on Linux and macOS, 128 on Windows, 255 on some others"),
        ipv4::key::ID => chosen("its IP ID policy (a counter, random, or 0 with Don't Fragment: RFC 6864)"),
        ipv4::key::FLAG_DF => chosen("whether it sets Don't Fragment (path MTU discovery, RFC 1191)"),
        ipv6::key::FLOW => chosen("its flow label (RFC 6437: a hash, or 0)"),
        tcp::key::SEQ_RAW if o.kind.is_syn() => chosen("its initial sequence number"),
        tcp::key::ACK_RAW if o.kind == Kind::Rst && !o.has_ack() => chosen("not used: an RST without ACK"),
        tcp::key::WINDOW if f.pred.shrunk.is_some() => broken(format!("a window reaching at least {} (the right edge of a window offered moves left: RFC 9293 §3.8.6.2.2 says a receiver should not shrink it; the model follows Linux, which never does)", f.pred.shrunk.unwrap_or(0))),
        tcp::key::WINDOW => chosen("its receive window, from its buffers"),
        tcp::key::CHECKSUM if o.on_a_wire() && !o.full_checksum && o.cut.is_none() => chosen("left to checksum offload by its interface"),
        tcp::key::MSS_VAL | tcp::key::WSCALE_SHIFT | tcp::key::SACK_PERM if !o.kind.is_syn() => broken("no such option: MSS, window scale and SACK-permitted belong in a SYN only (RFC 9293 §3.7.1, RFC 7323 §2.2, RFC 2018 §2)".into()),
        tcp::key::MSS_VAL => chosen("the largest segment it takes, from its interface's MTU"),
        tcp::key::WSCALE_SHIFT => chosen("its window scale, from its largest receive buffer"),
        tcp::key::SACK_PERM => chosen("whether it offers SACK"),
        tcp::key::TSVAL => timestamps(f),
        tcp::key::SACK_LE => sack(f),
        tcp::key::OPTION_KIND | tcp::key::OPTIONS => chosen("its options and their layout (padding with NOPs as it likes)"),
        payload::key::DATA if !f.pred.payload.predicted => chosen("its application's bytes, taken from this frame (a transcript of what was sent lets the model check them)"),
        _ => None,
    }
}

/// TSval: only where the handshake agreed on timestamps (a SYN may offer them), and never
/// going back (RFC 7323 §3.2, §5.3: the clock is monotonic).
fn timestamps(f: &Facts<'_>) -> Option<Rule> {
    let o = f.o;
    if !o.kind.is_syn() && !f.timestamps && o.kind != Kind::Rst {
        return broken(
            "no timestamps option: the handshake did not agree on timestamps (RFC 7323 §3.2)"
                .into(),
        );
    }
    match (f.me.last_tsval(), o.tsval) {
        (Some(last), Some(v)) if seq::older(v, last) => broken(format!(
            "a TSval no earlier than {last} (its timestamp clock must not go back, RFC 7323 §5.3)"
        )),
        _ => chosen("its timestamp clock: its rate and offset are its own (RFC 7323 §5.4)"),
    }
}

/// SACK blocks: only where SACK was permitted, each a range of the Linux side's bytes that
/// were sent and not yet acknowledged cumulatively (RFC 2018 §3).
fn sack(f: &Facts<'_>) -> Option<Rule> {
    let o = f.o;
    if !f.sack {
        return broken("no SACK option: the handshake did not permit SACK (RFC 2018 §2)".into());
    }
    let sent = f.peer.next_seq;
    let bad = o.sack.iter().find(|&&(left, right)| {
        !seq::after(right, left) || seq::after(right, sent) || seq::after(o.ack(), right)
    });
    match bad {
        Some(&(left, right)) => broken(format!(
            "SACK blocks within the bytes the Linux side sent and above the acknowledgment ({} to {sent}), not {left}-{right} (RFC 2018 §3)",
            o.ack()
        )),
        None => chosen("which received blocks it reports, and in what order"),
    }
}

/// What Linux's rules call the kernel's choice is, on a followed side, the peer's.
#[must_use]
pub fn relabel(r: Rule) -> Rule {
    match r {
        Rule::IfEqual(Verdict::KernelChosen { why }) => Rule::IfEqual(Verdict::PeerChosen { why }),
        Rule::Uncheckable(Verdict::KernelChosen { why }) => {
            Rule::Uncheckable(Verdict::PeerChosen { why })
        }
        r => r,
    }
}

/// What a SYN offered, which a SYN-ACK can only take or leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offered {
    /// The timestamps option.
    pub timestamps: bool,
    /// SACK permitted.
    pub sack: bool,
    /// Window scaling.
    pub wscale: bool,
}

/// The features of a SYN or SYN-ACK by which Linux is known, each with what Linux does.
struct Feature {
    /// The frame has it as Linux would.
    linux: bool,
    /// What the frame shows, where it is not Linux's.
    shows: String,
}

/// Reads off a side's SYN or SYN-ACK whether a Linux kernel sent it: Don't Fragment, a TTL of
/// 64 (less the routers on the way), the option layout of `tcp_options_write` (`linux_kinds`,
/// the model's own layout for the options the frame carries), timestamps, SACK and window
/// scaling offered (Linux's defaults; a SYN-ACK only those the SYN offered), and a SYN's IP ID
/// from a random counter, not 0. One feature off is a Linux host set up its own way (a sysctl,
/// a socket option) or a frame edited: still Linux, checked as such. Two or more: another stack.
#[must_use]
pub fn fingerprint(
    o: &Observed<'_>,
    linux_kinds: &[u8],
    offered: Option<Offered>,
) -> (Stack, String) {
    let kinds: Vec<u8> = o.options.iter().map(TcpOption::kind).collect();
    let names = |k: &[u8]| {
        k.iter()
            .map(|&k| tcp::option_name(k))
            .collect::<Vec<_>>()
            .join(",")
    };
    let asked = offered.unwrap_or(Offered {
        timestamps: true,
        sack: true,
        wscale: true,
    });
    let ipv4 = o.ip_id.is_some();
    let features = [
        (
            ipv4,
            o.df,
            "no Don't Fragment (Linux sets it: path MTU discovery)".to_string(),
        ),
        (
            true,
            o.ttl <= 64 && o.ttl > 32,
            format!("TTL {} (Linux starts at 64)", o.ttl),
        ),
        (
            true,
            kinds == linux_kinds,
            format!(
                "options {} where Linux lays the same out as {}",
                names(&kinds),
                names(linux_kinds)
            ),
        ),
        (
            asked.timestamps,
            o.tsval.is_some(),
            "no timestamps (Linux offers them: net.ipv4.tcp_timestamps = 1)".to_string(),
        ),
        (
            asked.sack,
            o.sack_permitted,
            "no SACK permitted (Linux offers it: net.ipv4.tcp_sack = 1)".to_string(),
        ),
        (
            asked.wscale,
            o.wscale.is_some(),
            "no window scale (Linux offers it: net.ipv4.tcp_window_scaling = 1)".to_string(),
        ),
        (
            ipv4 && o.kind == Kind::Syn,
            o.ip_id != Some(0),
            "IP ID 0 (Linux's SYN has its socket's random first IP ID)".to_string(),
        ),
        // IPv6 has neither Don't Fragment nor an IP ID: its flow label takes their place.
        // ip6_make_flowlabel labels every packet of a socket with its flow's hash
        // (net.ipv6.auto_flowlabels = 1), the SYN and the SYN-ACK (tcp_v6_send_synack) too.
        (
            o.flow.is_some(),
            o.flow != Some(0),
            "flow label 0 (Linux labels its SYN and SYN-ACK with the flow's hash: net.ipv6.auto_flowlabels = 1)"
                .to_string(),
        ),
    ];
    let frame = if o.kind == Kind::Syn {
        "SYN"
    } else {
        "SYN-ACK"
    };
    let shows = if ipv4 {
        "Don't Fragment, TTL 64, options as tcp_options_write lays them out"
    } else {
        "a flow label, hop limit 64, options as tcp_options_write lays them out"
    };
    judge(features, frame, shows)
}

/// Reads off a side whose first frame is a RST (it answered the other side's SYN, as a host
/// with nothing listening does) whether a Linux kernel sent it: Linux's control socket
/// (tcp_v4_send_reset, through ip_send_unicast_reply) sets Don't Fragment, TTL 64 and window
/// 0; another stack may not. One feature off is still Linux, as for a SYN.
#[must_use]
pub fn fingerprint_rst(o: &Observed<'_>) -> (Stack, String) {
    let features = [
        (
            o.ip_id.is_some(),
            o.df,
            "no Don't Fragment (Linux's control socket sets it)".to_string(),
        ),
        (
            true,
            o.ttl <= 64 && o.ttl > 32,
            format!("TTL {} (Linux starts at 64)", o.ttl),
        ),
        (
            true,
            o.window() == 0,
            format!(
                "window {} (Linux's RST from its control socket has window 0)",
                o.window()
            ),
        ),
    ];
    judge(
        features,
        "RST",
        "Don't Fragment, TTL 64, window 0: the control socket's",
    )
}

/// The stack the features that apply tell, and why: none off, Linux as `linux_shows` says;
/// one off, still Linux; two or more, another stack.
fn judge<const N: usize>(
    features: [(bool, bool, String); N],
    frame: &str,
    linux_shows: &str,
) -> (Stack, String) {
    let off: Vec<Feature> = features
        .into_iter()
        .filter(|(applies, ..)| *applies)
        .map(|(_, linux, shows)| Feature { linux, shows })
        .filter(|f| !f.linux)
        .collect();
    match off.as_slice() {
        [] => (Stack::Linux, format!("its {frame} is Linux's ({linux_shows})")),
        [one] => (Stack::Linux, format!("its {frame} is Linux's but for one thing: {} (a host set up its own way; checked as Linux)", one.shows)),
        _ => (Stack::Other, format!("its {frame} is not Linux's: {} (say --linux ADDR to have it checked as Linux)", off.iter().map(|f| f.shows.as_str()).collect::<Vec<_>>().join("; "))),
    }
}

#[cfg(test)]
mod tests {
    //! A scripted peer that is not Linux (no Don't Fragment, IP ID 0, TTL 128, an MSS as its
    //! only option, full checksums) against a Linux server, on a real link: frames built with
    //! the pipeline, each checked by the model.
    use std::net::{Ipv4Addr, SocketAddrV4};

    use super::*;
    use crate::model::{Connection, FrameCheck, Side};
    use crate::pipeline::{encapsulate, Params};

    const PEER_MAC: [u8; 6] = [2, 0, 0, 0, 0xa, 1];
    const FIN_ACK: u16 = tf::FLG_FIN | tf::FLG_ACK;
    const RST_ACK: u16 = tf::FLG_RST | tf::FLG_ACK;
    const LINUX_MAC: [u8; 6] = [2, 0, 0, 0, 0xa, 2];

    struct Script {
        conn: Connection,
        addrs: [SocketAddrV4; 2],
        /// Each side's next sequence number.
        seq: [u32; 2],
        linux_id: u16,
        frames: u64,
    }

    impl Script {
        fn new() -> Script {
            let peer = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 10), 40000);
            let linux = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 10), 6666);
            Script {
                conn: Connection::new(peer, linux),
                addrs: [peer, linux],
                seq: [1000, 9000],
                linux_id: 0,
                frames: 0,
            }
        }

        /// A frame from `from` (the client is the peer, the server Linux): flags, window,
        /// options, payload; the rest as each stack does it.
        fn send(
            &mut self,
            from: Side,
            flags: u16,
            window: u16,
            options: Vec<TcpOption>,
            payload: &[u8],
            edit: impl FnOnce(&mut Params),
        ) -> FrameCheck {
            let (i, j) = (from.index(), (!from).index());
            let mut p = Params::between(self.addrs[i], self.addrs[j]);
            p.checksum = ChecksumMode::Full;
            let macs = [PEER_MAC, LINUX_MAC];
            p.ethernet.source = macs[i];
            p.ethernet.destination = macs[j];
            if from == Side::Client {
                p.ip.dont_fragment = false;
                p.ip.identification = 0;
                p.ip.ttl = 128;
            } else {
                p.ip.identification = self.linux_id;
                if flags & tf::FLG_SYN == 0 {
                    self.linux_id = self.linux_id.wrapping_add(1);
                }
            }
            p.tcp.seq = self.seq[i];
            p.tcp.ack = if flags & tf::FLG_ACK != 0 {
                self.seq[j]
            } else {
                0
            };
            p.tcp.flags = flags;
            p.tcp.window = window;
            p.tcp.options = options;
            edit(&mut p);
            let frame = encapsulate(payload, &p).unwrap();
            self.seq[i] = self.seq[i].wrapping_add(payload.len() as u32)
                + u32::from(flags & (tf::FLG_SYN | tf::FLG_FIN) != 0);
            self.frames += 1;
            self.conn.observe(self.frames, frame.frame()).unwrap()
        }

        /// The peer's SYN: window 8192, MSS 1460 its only option.
        fn syn(&mut self) -> FrameCheck {
            let mss = vec![TcpOption::Mss(1460)];
            self.send(Side::Client, tf::FLG_SYN, 8192, mss, b"", |_| {})
        }

        /// The handshake: the peer's SYN (MSS 1460 only), Linux's SYN-ACK (MSS only, as it
        /// answers such a SYN), the peer's ACK.
        fn established() -> Script {
            let mut s = Script::new();
            let syn = s.syn();
            assert_eq!(syn.counts().mismatch, 0, "{:#?}", syn.fields());
            let synack = s.send(
                Side::Server,
                tf::FLG_SYN | tf::FLG_ACK,
                64240,
                vec![TcpOption::Mss(1460)],
                b"",
                |_| {},
            );
            assert_eq!(synack.counts().mismatch, 0, "{:#?}", synack.fields());
            let ack = s.send(Side::Client, tf::FLG_ACK, 8192, vec![], b"", |_| {});
            assert_eq!(ack.counts().mismatch, 0, "{:#?}", ack.fields());
            s
        }
    }

    use crate::model::tests::verdict;

    fn mismatches(c: &FrameCheck) -> Vec<String> {
        c.fields()
            .iter()
            .filter(|f| matches!(f.verdict, Verdict::Mismatch { .. }))
            .map(|f| f.field.key.to_string())
            .collect()
    }

    #[test]
    fn a_peer_that_is_not_linux_is_told_by_its_syn_and_its_habits_are_its_own() {
        let mut s = Script::established();
        let (stack, why) = s.conn.stack(Side::Client).unwrap();
        assert_eq!(stack, Stack::Other, "{why}");
        for said in ["no Don't Fragment", "TTL 128", "no timestamps", "IP ID 0"] {
            assert!(why.contains(said), "{why}");
        }
        let (stack, why) = s.conn.stack(Side::Server).unwrap();
        assert_eq!(stack, Stack::Linux, "{why}");
        // The peer's habits are peer-chosen, Linux's frame predicted as Linux sends it.
        let data = s.send(
            Side::Client,
            tf::FLG_PSH | tf::FLG_ACK,
            8192,
            vec![],
            b"GET /\r\n",
            |_| {},
        );
        assert_eq!(data.counts().mismatch, 0, "{:#?}", data.fields());
        for key in [
            ipv4::key::ID,
            ipv4::key::FLAG_DF,
            ipv4::key::TTL,
            tcp::key::WINDOW,
        ] {
            assert!(
                matches!(verdict(&data, key), Verdict::PeerChosen { .. }),
                "{key}: {:?}",
                verdict(&data, key)
            );
        }
        assert_eq!(
            verdict(&data, tcp::key::SEQ_RAW),
            &Verdict::Learned {
                from: "ISN + 1 + bytes sent"
            }
        );
        let ack = s.send(Side::Server, tf::FLG_ACK, 502, vec![], b"", |_| {});
        assert_eq!(ack.counts().mismatch, 0, "{:#?}", ack.fields());
        assert_eq!(ack.counts().peer, 0);
        // A duplicate ACK is the peer's right (RFC 5681), not a fault.
        let dup = s.send(Side::Client, tf::FLG_ACK, 8192, vec![], b"", |_| {});
        let again = s.send(Side::Client, tf::FLG_ACK, 8192, vec![], b"", |_| {});
        assert_eq!(
            (dup.counts().mismatch, again.counts().mismatch),
            (0, 0),
            "{:#?}",
            again.fields()
        );
    }

    #[test]
    fn a_peer_breaking_a_rule_every_tcp_keeps_is_named_at_that_field() {
        // An MSS option outside the SYN.
        let mut s = Script::established();
        let c = s.send(
            Side::Client,
            tf::FLG_PSH | tf::FLG_ACK,
            8192,
            vec![TcpOption::Mss(1460)],
            b"x",
            |_| {},
        );
        assert_eq!(mismatches(&c), [tcp::key::MSS_VAL]);
        // SACK blocks that the handshake did not permit.
        let mut s = Script::established();
        let blocks = vec![
            TcpOption::Nop,
            TcpOption::Nop,
            TcpOption::Sack(vec![(9001, 9002)]),
        ];
        let c = s.send(Side::Client, tf::FLG_ACK, 8192, blocks, b"", |_| {});
        assert_eq!(mismatches(&c), [tcp::key::SACK_LE]);
        // Timestamps the handshake did not agree on.
        let mut s = Script::established();
        let ts = vec![
            TcpOption::Nop,
            TcpOption::Nop,
            TcpOption::Timestamps { tsval: 5, tsecr: 0 },
        ];
        let c = s.send(Side::Client, tf::FLG_ACK, 8192, ts, b"", |_| {});
        assert!(
            mismatches(&c).iter().any(|k| k == tcp::key::TSVAL),
            "{:?}",
            mismatches(&c)
        );
        // A sequence number ahead of the stream: bytes skipped that never come.
        let mut s = Script::established();
        let c = s.send(
            Side::Client,
            tf::FLG_PSH | tf::FLG_ACK,
            8192,
            vec![],
            b"abc",
            |p| p.tcp.seq += 5,
        );
        let gaps = s.conn.open_gaps();
        assert_eq!((gaps.len(), gaps[0].frame), (1, c.number), "{gaps:?}");
        let mut s = Script::established();
        let c = s.send(Side::Client, tf::FLG_ACK, 8192, vec![], b"", |p| {
            p.tcp.window = 16384
        });
        assert_eq!(
            c.counts().mismatch,
            0,
            "a window opened wider: {:?}",
            mismatches(&c)
        );
        let c = s.send(Side::Client, tf::FLG_ACK, 8192, vec![], b"", |p| {
            p.tcp.window = 1
        });
        assert_eq!(
            mismatches(&c),
            [tcp::key::WINDOW],
            "a window whose edge moved left"
        );
    }

    #[test]
    fn a_peer_resetting_after_its_fin_resets_from_its_socket() {
        // As in peer-rst-lastack.pcap: the peer's FIN, Linux's FIN, then the peer's RST, ACK at
        // its next sequence number, acknowledging Linux's FIN. (Linux in that state would
        // answer through its control socket, ACK 0: another stack resets from its socket.)
        let mut s = Script::established();
        let fin = s.send(Side::Client, FIN_ACK, 8192, vec![], b"", |_| {});
        assert_eq!(mismatches(&fin), Vec::<String>::new());
        let fin = s.send(Side::Server, FIN_ACK, 502, vec![], b"", |_| {});
        assert_eq!(mismatches(&fin), Vec::<String>::new());
        let rst = s.send(Side::Client, RST_ACK, 8192, vec![], b"", |_| {});
        assert_eq!(mismatches(&rst), Vec::<String>::new());
        assert!(!matches!(
            verdict(&rst, tcp::key::ACK_RAW),
            Verdict::Mismatch { .. }
        ));
        // Its acknowledgment is still checked: one past what Linux sent is a violation.
        let mut s = Script::established();
        s.send(Side::Client, FIN_ACK, 8192, vec![], b"", |_| {});
        s.send(Side::Server, FIN_ACK, 502, vec![], b"", |_| {});
        let rst = s.send(Side::Client, RST_ACK, 8192, vec![], b"", |p| p.tcp.ack += 1);
        assert_eq!(mismatches(&rst), [tcp::key::ACK_RAW, tcp::key::CHECKSUM]);
    }

    #[test]
    fn a_side_whose_first_frame_is_a_rst_is_told_by_it() {
        // As in peer-rst-synsent.pcap: Linux connects, the other side refuses with RST, ACK.
        let linux = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 10), 40626);
        let other = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 10), 40000);
        let refused = |edit: fn(&mut Params)| {
            let mut conn = Connection::new(linux, other);
            let mut p = Params::between(linux, other).with_macs(LINUX_MAC, PEER_MAC);
            p.checksum = ChecksumMode::Full;
            p.ip.identification = 4321;
            p.tcp.seq = 7000;
            p.tcp.ack = 0;
            p.tcp.flags = tf::FLG_SYN;
            p.tcp.window = 64240;
            p.tcp.options = crate::pipeline::linux_syn_options(1460, 5, 0, 7);
            let syn = conn
                .observe(1, encapsulate(b"", &p).unwrap().frame())
                .unwrap();
            assert_eq!(syn.counts().mismatch, 0, "{:#?}", syn.fields());
            let mut p = Params::between(other, linux).with_macs(PEER_MAC, LINUX_MAC);
            p.checksum = ChecksumMode::Full;
            p.ip.identification = 0;
            p.tcp.seq = 0;
            p.tcp.ack = 7001;
            p.tcp.options = Vec::new();
            p.tcp.flags = tf::FLG_RST | tf::FLG_ACK;
            p.tcp.window = 0;
            edit(&mut p);
            let rst = conn
                .observe(2, encapsulate(b"", &p).unwrap().frame())
                .unwrap();
            (conn, rst)
        };
        let (conn, rst) = refused(|p| {
            p.ip.dont_fragment = false;
            p.tcp.window = 65535;
        });
        let (stack, why) = conn.stack(Side::Server).unwrap();
        assert_eq!(stack, Stack::Other, "{why}");
        assert!(why.contains("window 65535"), "{why}");
        assert_eq!(mismatches(&rst), Vec::<String>::new());
        // Linux's own (its control socket's): Don't Fragment, window 0.
        let (conn, rst) = refused(|_| {});
        let (stack, why) = conn.stack(Side::Server).unwrap();
        assert_eq!(stack, Stack::Linux, "{why}");
        assert_eq!(mismatches(&rst), Vec::<String>::new());
    }

    #[test]
    fn told_which_side_is_linux_the_model_follows_the_other_whatever_it_looks_like() {
        let mut s = Script::new();
        s.conn
            .set_stack(Side::Client, Stack::Linux, "named by --linux".into());
        s.conn
            .set_stack(Side::Server, Stack::Other, "not named by --linux".into());
        // The peer's SYN checked as Linux's: its habits are MISMATCH now.
        let syn = s.syn();
        // (The TTL of a first frame may be the application's, IP_TTL: Linux's rules say so.)
        assert_eq!(mismatches(&syn), [ipv4::key::FLAG_DF, ipv4::key::CHECKSUM]);
        assert_eq!(s.conn.stack(Side::Server).unwrap().0, Stack::Other);
    }

    #[test]
    fn one_feature_off_is_still_linux_two_are_another_stack() {
        let mut s = Script::new();
        let linux_syn = |p: &mut Params| {
            p.ip.dont_fragment = true;
            p.ip.ttl = 64;
            p.ip.identification = 4321;
            p.tcp.options = crate::pipeline::linux_syn_options(1460, 7, 0, 7);
        };
        s.send(Side::Client, tf::FLG_SYN, 64240, vec![], b"", |p| {
            linux_syn(p);
            p.ip.ttl = 255;
        });
        let (stack, why) = s.conn.stack(Side::Client).unwrap();
        assert_eq!(stack, Stack::Linux, "{why}");
        assert!(why.contains("but for one thing: TTL 255"), "{why}");
        let mut s = Script::new();
        s.send(Side::Client, tf::FLG_SYN, 64240, vec![], b"", |p| {
            linux_syn(p);
            p.ip.ttl = 128;
            p.ip.dont_fragment = false;
        });
        assert_eq!(s.conn.stack(Side::Client).unwrap().0, Stack::Other);
    }

    #[test]
    fn over_ipv6_a_flow_label_of_0_counts_where_dont_fragment_and_the_ip_id_would() {
        use std::net::{Ipv6Addr, SocketAddrV6};
        // The scripted peer's IPv6 SYN: BSD's option layout, hop limit 64, flow label 0.
        let syn = |flow: u32| {
            let v6 = |last: u16, port| {
                SocketAddrV6::new(
                    Ipv6Addr::new(0x2001, 0xdb8, last, 0, 0, 0, 0, 0x10),
                    port,
                    0,
                    0,
                )
            };
            let (peer, linux) = (v6(0xa, 40000), v6(0xb, 6666));
            let mut conn = Connection::new(peer, linux);
            let mut p = Params::between_any(peer.into(), linux.into());
            p.checksum = ChecksumMode::Full;
            p.ethernet.source = PEER_MAC;
            p.ethernet.destination = LINUX_MAC;
            if let Some(h) = &mut p.ipv6 {
                h.flow_label = flow;
            }
            p.tcp.flags = tf::FLG_SYN;
            p.tcp.window = 65535;
            p.tcp.options = vec![
                TcpOption::Mss(1440),
                TcpOption::Nop,
                TcpOption::WindowScale(7),
                TcpOption::Nop,
                TcpOption::Nop,
                TcpOption::SackPermitted,
                TcpOption::Nop,
                TcpOption::Nop,
                TcpOption::Timestamps { tsval: 5, tsecr: 0 },
            ];
            conn.observe(1, encapsulate(b"", &p).unwrap().frame())
                .unwrap();
            let (stack, why) = conn.stack(Side::Client).unwrap();
            (stack, why.to_string())
        };
        let (stack, why) = syn(0);
        assert_eq!(stack, Stack::Other, "{why}");
        assert!(
            why.contains("flow label 0") && why.contains("options mss,nop,wscale"),
            "{why}"
        );
        // Labelled, only the layout is off: a Linux host set up its own way.
        let (stack, why) = syn(0x12345);
        assert_eq!(stack, Stack::Linux, "{why}");
        assert!(!why.contains("flow label"), "{why}");
    }
}
