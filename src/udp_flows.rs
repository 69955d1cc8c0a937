//! The UDP datagrams of a capture, and the ICMP port unreachable errors they draw, checked field
//! by field against how Linux sends them (`encap verify` hands them here; TCP goes to the model).
//!
//! A UDP datagram has no state to learn beyond its flow: each field is a rule. What Linux does
//! (net/ipv4/ip_output.c, udp.c, icmp.c):
//! - IPv4: DF set (path-MTU discovery is on by default), TTL 64, TOS 0; the IP ID of a connected
//!   socket counts from a random start, one per datagram (`ip_select_ident_segs`); an
//!   unconnected socket with DF sends ID 0. IPv6: traffic class 0, hop limit 64, the flow label
//!   the kernel chose for the flow (`auto_flowlabels`), the same for every datagram of it.
//! - UDP: length = 8 + data; on `lo` the checksum is the pseudo-header sum left for checksum
//!   offload (CHECKSUM_PARTIAL), on a real link the full sum.
//! - A datagram to a port nobody listens on draws an ICMP destination unreachable, code 3 (port
//!   unreachable; ICMPv6 type 1 code 4) from the kernel: TOS 0xc0 (precedence "internetwork
//!   control", `icmp_send`), no DF, an IP ID of the kernel's choosing, and the datagram quoted from
//!   its IP header on, as much as fits in 576 bytes (IPv6: 1280).

use std::collections::HashMap;
use std::net::IpAddr;

use crate::checksum::{self, Pseudo};
use crate::dissect::{dissect_link, slice_link, Net, Sliced, Transport};
use crate::layers::{Field, Layer};
use crate::model::{Counts, FieldCheck, Verdict};

/// One datagram (or ICMP error) checked.
#[derive(Debug, Clone)]
pub struct DatagramCheck {
    /// Frame number.
    pub number: u64,
    /// The flow: `udp SRC -> DST` or `icmp SRC -> DST`.
    pub flow: String,
    /// What it is, in a few words.
    pub what: String,
    /// Every field.
    pub fields: Vec<FieldCheck>,
}

impl DatagramCheck {
    /// The verdicts counted.
    #[must_use]
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for f in &self.fields {
            c.add(&f.verdict);
            if f.verdict == (Verdict::Learned { from: ENDPOINT }) {
                c.endpoints += 1;
            }
        }
        c
    }
}

type FlowKey = (IpAddr, u16, IpAddr, u16);

/// What the checker remembers of each flow.
#[derive(Debug, Clone, Copy)]
struct Flow {
    /// The last IPv4 ID, or IPv6 flow label, it sent.
    last_id: u32,
}

/// Every UDP flow of a capture.
#[derive(Debug, Default)]
pub struct UdpFlows {
    flows: HashMap<FlowKey, Flow>,
    order: Vec<FlowKey>,
    /// Frames checked and their verdicts, per flow (`udp A -> B`, `icmp A -> B`), in order.
    tally: Vec<(String, usize, Counts)>,
    /// Datagrams sent, by their IP header's bytes with the ID and checksum zeroed: what an ICMP
    /// error quotes (bounded).
    sent: Vec<Vec<u8>>,
}

/// Most datagrams remembered for the ICMP errors that may quote them.
const REMEMBERED: usize = 256;

fn check(layer: Layer, field: &Field, model: String, verdict: Verdict) -> FieldCheck {
    FieldCheck {
        layer,
        field: field.clone(),
        model,
        verdict,
    }
}

/// The verdict of `field` against `want`: predicted when equal, else a MISMATCH.
fn rule(layer: Layer, field: &Field, want: u64) -> FieldCheck {
    let v = if field.number() == Some(want) {
        Verdict::Predicted
    } else {
        Verdict::Mismatch {
            expected: want.to_string(),
        }
    };
    check(layer, field, want.to_string(), v)
}

const LO: &str = "lo has no MACs: zero addresses";
const ENDPOINT: &str = "the flow's addresses and ports, from its first datagram";

impl UdpFlows {
    /// A checker with no flow yet.
    #[must_use]
    pub fn new() -> UdpFlows {
        UdpFlows::default()
    }

    /// The flows in order of first appearance.
    #[must_use]
    pub fn flows(&self) -> Vec<String> {
        self.order
            .iter()
            .map(|(s, sp, d, dp)| format!("udp {} -> {}", sock(*s, *sp), sock(*d, *dp)))
            .collect()
    }

    /// Each flow (UDP, and the ICMP errors between two hosts) with its frames and verdicts, in
    /// order of first appearance.
    #[must_use]
    pub fn tally(&self) -> &[(String, usize, Counts)] {
        &self.tally
    }

    fn count(&mut self, c: &DatagramCheck) {
        let counts = c.counts();
        match self.tally.iter_mut().find(|(f, ..)| *f == c.flow) {
            Some((_, n, t)) => {
                *n += 1;
                t.merge(counts);
            }
            None => self.tally.push((c.flow.clone(), 1, counts)),
        }
    }

    /// Checks frame `number` (link type `link`) if it is a UDP datagram or an ICMP port
    /// unreachable; `None` when it is neither, or malformed (then `encap decode` says why).
    pub fn feed(&mut self, number: u64, link: u32, frame: &[u8]) -> Option<DatagramCheck> {
        let s = slice_link(frame, link);
        if s.error.is_some() || s.fragment.is_some() {
            return None;
        }
        let fields: Vec<(Layer, Field)> = dissect_link(frame, link)
            .nodes
            .into_iter()
            .flat_map(|n| n.fields.into_iter().map(move |f| (n.layer, f)))
            .collect();
        let c = match s.transport {
            Transport::Udp(sp, dp, data) => self.datagram(number, &s, sp, dp, data, &fields),
            Transport::Icmp(Layer::Icmp, 3, 3) | Transport::Icmp(Layer::Icmpv6, 1, 4) => {
                self.unreachable(number, &s, &fields)
            }
            _ => None,
        }?;
        self.count(&c);
        Some(c)
    }

    fn datagram(
        &mut self,
        number: u64,
        s: &Sliced<'_>,
        sp: u16,
        dp: u16,
        data: &[u8],
        fields: &[(Layer, Field)],
    ) -> Option<DatagramCheck> {
        let (src, dst, pseudo) = match &s.net {
            Net::Ipv4(p) => (
                p.source().into(),
                p.destination().into(),
                Pseudo::V4(p.source(), p.destination()),
            ),
            Net::Ipv6(p, _) => (
                p.source.into(),
                p.destination.into(),
                Pseudo::V6(p.source, p.destination),
            ),
            _ => return None,
        };
        let key = (src, sp, dst, dp);
        let known = self.flows.get(&key).copied();
        if known.is_none() {
            self.order.push(key);
        }
        let udp_len = 8 + data.len() as u64;
        let mut out = Vec::with_capacity(fields.len());
        let mut id_seen = 0u32;
        for (layer, f) in fields {
            let c = match (f.key.as_ref(), *layer) {
                (_, Layer::Application) => check(*layer, f, f.display.clone(), Verdict::Predicted),
                (_, Layer::Ethernet | Layer::Link | Layer::Vlan) => ethernet_field(*layer, f),
                ("ip.id", _) | ("ipv6.flow", _) => {
                    let v = f.number().unwrap_or(0) as u32;
                    id_seen = v;
                    id_verdict(*layer, f, v, known, f.key == "ip.id")
                }
                ("ip.len", _) => rule(*layer, f, 20 + udp_len),
                ("ipv6.plen", _) => rule(*layer, f, udp_len),
                ("udp.length", _) => rule(*layer, f, udp_len),
                ("ip.flags.df", _) => rule(*layer, f, 1),
                ("udp.checksum", _) => udp_checksum(*layer, f, s, pseudo),
                (k, _) => common_ip(*layer, f, k, 17, 0),
            };
            out.push(c);
        }
        self.flows.insert(key, Flow { last_id: id_seen });
        let packet = match &s.net {
            Net::Ipv4(p) => Some(p.as_bytes()),
            Net::Ipv6(_, b) => Some(*b),
            _ => None,
        };
        if let Some(packet) = packet {
            if self.sent.len() >= REMEMBERED {
                self.sent.remove(0);
            }
            self.sent.push(packet.to_vec());
        }
        Some(DatagramCheck {
            number,
            flow: format!("udp {} -> {}", sock(src, sp), sock(dst, dp)),
            what: format!("{} bytes of data", data.len()),
            fields: out,
        })
    }

    fn unreachable(
        &mut self,
        number: u64,
        s: &Sliced<'_>,
        fields: &[(Layer, Field)],
    ) -> Option<DatagramCheck> {
        let (src, dst) = match &s.net {
            Net::Ipv4(p) => (IpAddr::from(p.source()), IpAddr::from(p.destination())),
            Net::Ipv6(p, _) => (p.source.into(), p.destination.into()),
            _ => return None,
        };
        // After type, code and checksum, 4 unused bytes (ICMPv6: the same), then the quote.
        let quoted = s.payload().get(4..).unwrap_or_default();
        // ICMP quotes the datagram as it was sent: one this capture saw.
        let seen = self.sent.iter().any(|d| {
            let n = d.len().min(quoted.len());
            n >= 28 && d[..n] == quoted[..n]
        });
        let v6 = matches!(s.net, Net::Ipv6(..));
        let mut out = Vec::with_capacity(fields.len());
        for (layer, f) in fields {
            out.push(unreachable_field(*layer, f, quoted.len(), seen, v6));
        }
        Some(DatagramCheck {
            number,
            flow: format!("icmp {src} -> {dst}"),
            what:
                "port unreachable: the kernel's answer to a datagram for a port nobody listens on"
                    .into(),
            fields: out,
        })
    }
}

/// The verdict of one field of an ICMP port unreachable that quotes `quoted_len` bytes (`seen`:
/// a datagram of this capture).
fn unreachable_field(
    layer: Layer,
    f: &Field,
    quoted_len: usize,
    seen: bool,
    v6: bool,
) -> FieldCheck {
    match (f.key.as_ref(), layer) {
        (_, Layer::Ethernet | Layer::Link | Layer::Vlan) => ethernet_field(layer, f),
        (_, Layer::Application) if seen => {
            check(layer, f, "the datagram, quoted".into(), Verdict::Predicted)
        }
        (_, Layer::Application) => check(
            layer,
            f,
            "a datagram this capture sent".into(),
            Verdict::Mismatch {
                expected: "the quoted datagram to be one this capture carries".into(),
            },
        ),
        ("ip.id", _) => check(
            layer,
            f,
            "(any)".into(),
            Verdict::KernelChosen {
                why: "an ICMP error's IP ID: no DF, so the kernel's hashed counter",
            },
        ),
        ("ipv6.flow", _) => check(
            layer,
            f,
            "(any)".into(),
            Verdict::KernelChosen {
                why: "the ICMPv6 error's flow label",
            },
        ),
        ("ip.flags.df", _) => rule(layer, f, 0),
        ("ip.dsfield.dscp", _) => rule(layer, f, 48),
        ("ip.len", _) => rule(layer, f, 28 + quoted_len as u64),
        ("ipv6.plen", _) => rule(layer, f, 8 + quoted_len as u64),
        ("icmp.type", _) => rule(layer, f, 3),
        ("icmp.code", _) => rule(layer, f, 3),
        ("icmpv6.type", _) => rule(layer, f, 1),
        ("icmpv6.code", _) => rule(layer, f, 4),
        ("icmp.checksum" | "icmpv6.checksum", _) => {
            let ok = f.display.contains("[correct]");
            let v = if ok {
                Verdict::Predicted
            } else {
                Verdict::Mismatch {
                    expected: "a correct checksum (ICMP is summed in software)".into(),
                }
            };
            check(layer, f, "correct".into(), v)
        }
        (k, _) => common_ip(layer, f, k, if v6 { 58 } else { 1 }, 0),
    }
}

fn sock(ip: IpAddr, port: u16) -> String {
    std::net::SocketAddr::new(ip, port).to_string()
}

fn ethernet_field(layer: Layer, f: &Field) -> FieldCheck {
    match f.key.as_ref() {
        "eth.src" | "eth.dst" if f.value == crate::layers::Value::Bytes(vec![0; 6]) => check(
            layer,
            f,
            "00:00:00:00:00:00".into(),
            Verdict::Loopback { why: LO },
        ),
        // The EtherType of the IP version the datagram is.
        "eth.type" | "sll.protocol" => check(layer, f, f.display.clone(), Verdict::Predicted),
        _ => check(
            layer,
            f,
            f.display.clone(),
            Verdict::KernelChosen {
                why: "the link's own header (MACs, EtherType, a capture's link header)",
            },
        ),
    }
}

/// The IP fields every datagram and error share: version, header length, TOS, TTL, protocol,
/// checksum, addresses, ports.
fn common_ip(layer: Layer, f: &Field, key: &str, proto: u64, tos: u64) -> FieldCheck {
    match key {
        "ip.version" => rule(layer, f, 4),
        "ipv6.version" => rule(layer, f, 6),
        "ip.hdr_len" => rule(layer, f, 20),
        "ip.dsfield.dscp" | "ipv6.tclass.dscp" => rule(layer, f, tos >> 2),
        "ip.dsfield.ecn" | "ipv6.tclass.ecn" => rule(layer, f, tos & 3),
        "ipv6.tclass" => rule(layer, f, tos),
        "ip.flags.rb" | "ip.flags.mf" | "ip.frag_offset" => rule(layer, f, 0),
        "ip.ttl" | "ipv6.hlim" => rule(layer, f, 64),
        "ip.proto" | "ipv6.nxt" => rule(layer, f, proto),
        "ip.checksum" => {
            let v = if f.display.contains("[correct]") {
                Verdict::Predicted
            } else {
                Verdict::Mismatch {
                    expected: "the header's correct checksum".into(),
                }
            };
            check(layer, f, "correct".into(), v)
        }
        _ => check(
            layer,
            f,
            f.display.clone(),
            Verdict::Learned { from: ENDPOINT },
        ),
    }
}

fn id_verdict(layer: Layer, f: &Field, v: u32, known: Option<Flow>, v4: bool) -> FieldCheck {
    match (known, v4) {
        (None, true) if v == 0 => check(layer, f, "0".into(), Verdict::Predicted),
        (None, true) => check(
            layer,
            f,
            "(any)".into(),
            Verdict::KernelChosen {
                why: "a connected UDP socket's first IP ID: a random start",
            },
        ),
        (None, false) => check(
            layer,
            f,
            "(any)".into(),
            Verdict::KernelChosen {
                why: "the flow label the kernel chose for this flow",
            },
        ),
        (Some(k), true) => {
            let want = if k.last_id == 0 {
                0
            } else {
                (k.last_id + 1) & 0xffff
            };
            let verdict = if v == want {
                Verdict::Learned { from: "the flow's previous IP ID, +1 per datagram (0 stays 0: an unconnected socket)" }
            } else {
                Verdict::Mismatch {
                    expected: want.to_string(),
                }
            };
            check(layer, f, want.to_string(), verdict)
        }
        (Some(k), false) => {
            let verdict = if v == k.last_id {
                Verdict::Learned {
                    from: "the flow's label, the same for every datagram",
                }
            } else {
                Verdict::Mismatch {
                    expected: k.last_id.to_string(),
                }
            };
            check(layer, f, k.last_id.to_string(), verdict)
        }
    }
}

fn udp_checksum(layer: Layer, f: &Field, s: &Sliced<'_>, pseudo: Pseudo) -> FieldCheck {
    let found = f.number().unwrap_or(0) as u16;
    let udp = s
        .frame
        .get(s.transport_at..s.payload.end)
        .unwrap_or_default();
    let partial = checksum::fold(pseudo.sum(17, udp.len()));
    let lo = s
        .ethernet
        .map_or(true, |e| e.source == [0; 6] && e.destination == [0; 6]);
    if lo && found == partial {
        return check(
            layer,
            f,
            format!("0x{partial:04x}"),
            Verdict::Loopback {
                why: "checksum offload: the pseudo-header sum, completed by no device on lo",
            },
        );
    }
    if f.display.contains("[correct]") {
        return check(layer, f, "correct".into(), Verdict::Predicted);
    }
    check(
        layer,
        f,
        format!("0x{partial:04x}"),
        Verdict::Mismatch {
            expected: format!("0x{partial:04x} (lo's partial sum) or the full checksum"),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagram::{encapsulate, DatagramParams};
    use crate::layers::link::link_type::ETHERNET;

    fn frame(id: u16) -> Vec<u8> {
        let p = DatagramParams {
            ip_id: id,
            ..DatagramParams::default()
        };
        encapsulate(
            b"hello\n",
            "127.0.0.1:40000".parse().unwrap(),
            "127.0.0.1:6666".parse().unwrap(),
            p,
        )
        .unwrap()
    }

    #[test]
    fn ids_count_up_and_a_wrong_one_is_a_mismatch() {
        let mut u = UdpFlows::new();
        let c = u.feed(1, ETHERNET, &frame(100)).unwrap();
        assert_eq!(c.counts().mismatch, 0, "{c:#?}");
        assert_eq!(c.counts().kernel, 1);
        assert_eq!(c.counts().loopback, 3, "MACs and checksum");
        assert_eq!(
            u.feed(2, ETHERNET, &frame(101)).unwrap().counts().mismatch,
            0
        );
        let bad = u.feed(3, ETHERNET, &frame(105)).unwrap();
        assert_eq!(bad.counts().mismatch, 1);
        let mut ttl = frame(106);
        ttl[22] = 63;
        crate::layers::ipv4::refresh_checksum(&mut ttl[14..34]);
        assert_eq!(
            u.feed(4, ETHERNET, &ttl).unwrap().counts().mismatch,
            1,
            "the TTL"
        );
        assert_eq!(u.flows(), ["udp 127.0.0.1:40000 -> 127.0.0.1:6666"]);
    }
}
