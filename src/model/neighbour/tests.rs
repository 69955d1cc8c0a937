use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;
use crate::layers::ipv6::Ipv6Header;
use crate::layers::ndp::field::{FLAG_O, FLAG_R, FLAG_S};

const A: Mac = [2, 0, 0, 0, 0x0a, 1];
const R: Mac = [2, 0, 0, 0, 0x0a, 2];

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn checked(seen: Option<Seen>) -> NeighbourCheck {
    match seen {
        Some(Seen::Checked(c)) => c,
        other => panic!("not checked: {other:?}"),
    }
}

fn verdict<'a>(c: &'a NeighbourCheck, key: &str) -> &'a Verdict {
    &c.fields
        .iter()
        .find(|f| f.field.key == key)
        .unwrap_or_else(|| panic!("no {key}"))
        .verdict
}

fn arp(dst: Mac, op: u16, sender: (Mac, [u8; 4]), target: (Mac, [u8; 4])) -> Vec<u8> {
    let p = ArpPacket {
        oper: op,
        sha: sender.0,
        spa: sender.1.into(),
        tha: target.0,
        tpa: target.1.into(),
    };
    arp_frame(dst, sender.0, &p)
}

#[test]
fn an_arp_reply_is_predicted_from_its_request_and_later_requests_go_unicast() {
    let mut n = Neighbours::new();
    let (a, r) = ([192, 0, 2, 10], [192, 0, 2, 1]);
    let q = checked(n.observe(1, &arp(BROADCAST, 1, (A, a), ([0; 6], r))));
    assert_eq!(q.counts().mismatch, 0);
    assert!(
        q.what
            .contains("who-has 192.0.2.1 tell 192.0.2.10 (broadcast)"),
        "{}",
        q.what
    );
    let reply = checked(n.observe(2, &arp(A, 2, (R, r), (A, a))));
    assert_eq!(reply.counts().mismatch, 0, "{:?}", reply.fields);
    assert_eq!(*verdict(&reply, arp::key::DST_MAC), Verdict::Predicted);
    // Both now hold each other: a's next request for r confirms it, to r's MAC.
    let probe = checked(n.observe(3, &arp(R, 1, (A, a), ([0; 6], r))));
    assert_eq!(probe.counts().mismatch, 0, "{:?}", probe.fields);
    assert!(probe.what.contains("unicast"));
    assert_eq!(*verdict(&probe, ethernet::key::SRC), SENDER_KNOWN);
    // The same probe broadcast is not what a cache does.
    let wrong = checked(n.observe(4, &arp(BROADCAST, 1, (A, a), ([0; 6], r))));
    assert!(
        matches!(verdict(&wrong, ethernet::key::DST), Verdict::Mismatch { expected } if expected == "02:00:00:00:0a:02")
    );
    // A reply whose target is not the asker is caught; one nobody asked for is the kernel's.
    n.observe(5, &arp(BROADCAST, 1, (A, a), ([0; 6], [192, 0, 2, 2])));
    let bad = checked(n.observe(
        6,
        &arp(A, 2, ([2, 0, 0, 0, 0x0a, 3], [192, 0, 2, 2]), (R, a)),
    ));
    assert!(matches!(
        verdict(&bad, arp::key::DST_MAC),
        Verdict::Mismatch { .. }
    ));
    let unasked = checked(n.observe(7, &arp(A, 2, (R, [192, 0, 2, 7]), (A, a))));
    assert_eq!(unasked.counts().mismatch, 0);
    assert!(matches!(
        verdict(&unasked, arp::key::DST_IP),
        Verdict::KernelChosen { .. }
    ));
}

#[test]
fn tcp_frames_use_the_macs_the_caches_hold_forwarded_ones_too() {
    let mut n = Neighbours::new();
    let (a, r) = ([192, 0, 2, 10], [192, 0, 2, 1]);
    assert!(n
        .expected_macs(
            Ipv4Addr::from(a).into(),
            Ipv4Addr::new(198, 51, 100, 10).into()
        )
        .is_none());
    n.observe(1, &arp(BROADCAST, 1, (A, a), ([0; 6], r)));
    n.observe(2, &arp(A, 2, (R, r), (A, a)));
    let b: IpAddr = Ipv4Addr::new(198, 51, 100, 10).into();
    // a to b: a's own MAC, to its router's (the one address it resolved).
    assert_eq!(
        n.expected_macs(Ipv4Addr::from(a).into(), b),
        Some((A, Some(R)))
    );
    // b to a, as r forwards it: r is the station that holds a.
    assert_eq!(
        n.expected_macs(b, Ipv4Addr::from(a).into()),
        Some((R, Some(A)))
    );
}

fn ndp(dst: Mac, src: Mac, ips: (&str, &str), m: Message) -> Vec<u8> {
    ndp_frame(dst, src, (v6(ips.0), v6(ips.1)), &m)
}

#[test]
fn neighbour_discovery_is_predicted_as_linux_answers() {
    let mut n = Neighbours::new();
    let target = v6("2001:db8:a::1");
    let ns = Message {
        kind: ndp::SOLICITATION,
        flags: 0,
        target,
        lla: Some((ndp::OPT_SOURCE_LLA, A)),
    };
    let group = [0x33, 0x33, 0xff, 0, 0, 1];
    let c = checked(n.observe(1, &ndp(group, A, ("2001:db8:a::10", "ff02::1:ff00:1"), ns)));
    assert_eq!(c.counts().mismatch, 0, "{:?}", c.fields);
    assert_eq!(*verdict(&c, icmp::key::V6_CHECKSUM), Verdict::Predicted);
    assert_eq!(*verdict(&c, ipv6::key::HLIM), Verdict::Predicted);
    // A router's answer to a multicast solicitation: solicited, override, its MAC as option.
    let na = Message {
        kind: ndp::ADVERTISEMENT,
        flags: FLAG_R | FLAG_S | FLAG_O,
        target,
        lla: Some((ndp::OPT_TARGET_LLA, R)),
    };
    let c = checked(n.observe(2, &ndp(A, R, ("2001:db8:a::1", "2001:db8:a::10"), na)));
    assert_eq!(c.counts().mismatch, 0, "{:?}", c.fields);
    assert!(matches!(
        verdict(&c, ndp::key::FLAG_R),
        Verdict::KernelChosen { .. }
    ));
    // Without the override flag it is not what Linux sends for a multicast solicitation (which
    // a's cache did not call for: itself a MISMATCH of its destination).
    let again = checked(n.observe(3, &ndp(group, A, ("2001:db8:a::10", "ff02::1:ff00:1"), ns)));
    assert!(matches!(
        verdict(&again, ethernet::key::DST),
        Verdict::Mismatch { .. }
    ));
    let no_o = Message {
        flags: FLAG_S,
        ..na
    };
    let c = checked(n.observe(4, &ndp(A, R, ("2001:db8:a::1", "2001:db8:a::10"), no_o)));
    assert!(matches!(
        verdict(&c, ndp::key::FLAG_O),
        Verdict::Mismatch { .. }
    ));
    // Cached: the next solicitation goes unicast, answered without the option or override.
    let probe = checked(n.observe(5, &ndp(R, A, ("2001:db8:a::10", "2001:db8:a::1"), ns)));
    assert_eq!(probe.counts().mismatch, 0, "{:?}", probe.fields);
    let answer = Message {
        flags: FLAG_R | FLAG_S,
        lla: None,
        ..na
    };
    let c = checked(n.observe(6, &ndp(A, R, ("2001:db8:a::1", "2001:db8:a::10"), answer)));
    assert_eq!(c.counts().mismatch, 0, "{:?}", c.fields);
    assert_eq!(
        n.expected_macs(v6("2001:db8:a::10").into(), v6("2001:db8:b::10").into()),
        Some((A, Some(R)))
    );
}

#[test]
fn other_icmpv6_is_listed_by_name_and_tcp_is_not_this_models() {
    let mut n = Neighbours::new();
    let mld = Message {
        kind: 143,
        flags: 0,
        target: Ipv6Addr::UNSPECIFIED,
        lla: None,
    };
    // (Built as a neighbour message, with type 143: the model only reads its type.)
    let mut f = ndp(
        [0x33, 0x33, 0, 0, 0, 0x16],
        A,
        ("fe80::1", "ff02::16"),
        Message {
            kind: ndp::SOLICITATION,
            ..mld
        },
    );
    f[EthernetHeader::LEN + Ipv6Header::LEN] = 143;
    match n.observe(1, &f) {
        Some(Seen::Listed { what, kind }) => {
            assert_eq!(kind, "multicast listener report v2");
            assert!(
                what.starts_with("fe80::1 > ff02::16: ICMP6, multicast listener report v2 ("),
                "{what}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        n.observe(2, &f[..30]).is_none(),
        "cut short: not this model's"
    );
}
