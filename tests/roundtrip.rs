//! Generated inputs: decapsulate(encapsulate(x)) gives back every field; every truncation of a
//! valid frame is an error naming the layer and offset; no bytes, random or mutated, panic the
//! decoder or the field tables.

use std::net::Ipv4Addr;

use encap::layers::ethernet::{EtherType, EthernetHeader};
use encap::layers::ipv4::{IpProtocol, Ipv4Header};
use encap::layers::tcp::{ChecksumStatus, TcpHeader, TcpOption};
use encap::layers::{DecodeError, Layer};
use encap::pipeline::{decapsulate, encapsulate, ChecksumMode, Params};
use encap::render;
use proptest::prelude::*;

fn option() -> impl Strategy<Value = TcpOption> {
    prop_oneof![
        Just(TcpOption::Nop),
        any::<u16>().prop_map(TcpOption::Mss),
        (0u8..=14).prop_map(TcpOption::WindowScale),
        Just(TcpOption::SackPermitted),
        prop::collection::vec((any::<u32>(), any::<u32>()), 1..=3).prop_map(TcpOption::Sack),
        (any::<u32>(), any::<u32>())
            .prop_map(|(tsval, tsecr)| TcpOption::Timestamps { tsval, tsecr }),
        ((9u8..=253), prop::collection::vec(any::<u8>(), 0..6))
            .prop_map(|(kind, data)| TcpOption::Unknown { kind, data }),
    ]
}

fn options() -> impl Strategy<Value = Vec<TcpOption>> {
    prop::collection::vec(option(), 0..6).prop_map(|mut v| {
        while v.iter().map(TcpOption::len).sum::<usize>() > 40 {
            v.pop();
        }
        v
    })
}

prop_compose! {
    fn params()(
        macs in (any::<[u8; 6]>(), any::<[u8; 6]>()),
        addrs in (any::<u32>(), any::<u32>()),
        ports in (any::<u16>(), any::<u16>()),
        seq in any::<u32>(), ack in any::<u32>(), flags in 0u16..0x1ff, window in any::<u16>(), urgent in any::<u16>(),
        tcp_options in options(),
        id in any::<u16>(), ttl in any::<u8>(), dscp in 0u8..64, ecn in 0u8..4, df in any::<bool>(), mf in any::<bool>(),
        fragment_offset in 0u16..0x2000,
        ip_words in prop::collection::vec(any::<[u8; 4]>(), 0..=10),
        offload in any::<bool>(),
    ) -> Params {
        Params {
            ethernet: EthernetHeader { source: macs.0, destination: macs.1, ethertype: EtherType::Ipv4 },
            ip: Ipv4Header {
                dscp, ecn, total_len: 0, identification: id, dont_fragment: df, more_fragments: mf, fragment_offset,
                ttl, protocol: IpProtocol::Tcp, checksum: 0,
                source: Ipv4Addr::from(addrs.0), destination: Ipv4Addr::from(addrs.1),
                options: ip_words.concat(),
            },
            tcp: TcpHeader { src_port: ports.0, dst_port: ports.1, seq, ack, flags, window, checksum: 0, urgent, options: tcp_options },
            checksum: if offload { ChecksumMode::Offloaded } else { ChecksumMode::Full },
            ipv6: None,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decapsulate_gives_back_every_field(p in params(), payload in prop::collection::vec(any::<u8>(), 0..2000)) {
        let e = encapsulate(&payload, &p).unwrap();
        let d = decapsulate(e.frame()).unwrap();
        let h = d.headers().unwrap();
        prop_assert_eq!(h.ethernet, p.ethernet);
        // The pipeline computes length and checksum; everything else must come back as given.
        let ip_len = p.ip.len() + p.tcp.len() + payload.len();
        prop_assert_eq!(&h.ip, &Ipv4Header { total_len: ip_len as u16, checksum: h.ip.checksum, ..p.ip.clone() });
        prop_assert!(d.ip.verify_checksum());
        let mut expected_options = p.tcp.options.clone();
        if expected_options.iter().map(TcpOption::len).sum::<usize>() % 4 != 0 {
            expected_options.push(TcpOption::Eol);
        }
        prop_assert_eq!(&h.tcp, &TcpHeader { checksum: h.tcp.checksum, options: expected_options, ..p.tcp.clone() });
        let status = d.tcp.checksum_status(p.ip.source, p.ip.destination);
        match p.checksum {
            ChecksumMode::Full => prop_assert_eq!(status, ChecksumStatus::Good),
            // A partial sum can coincide with the full checksum only by chance; either is right.
            ChecksumMode::Offloaded => prop_assert!(matches!(status, ChecksumStatus::Partial | ChecksumStatus::Good)),
        }
        prop_assert_eq!(h.payload, payload);
        // The FCS covers the frame as a wire carries it: padded to Ethernet's 60-byte minimum.
        let mut wire = e.frame().to_vec();
        wire.resize(wire.len().max(60), 0);
        prop_assert_eq!(e.fcs(), crc32fast::hash(&wire));
        prop_assert_eq!(&e.frame_with_fcs()[wire.len()..], &e.fcs().to_le_bytes()[..]);
    }

    #[test]
    fn every_truncation_names_layer_and_offset(p in params(), payload in prop::collection::vec(any::<u8>(), 0..64)) {
        let e = encapsulate(&payload, &p).unwrap();
        let frame = e.frame();
        for len in 0..frame.len() {
            let err = decapsulate(&frame[..len]).unwrap_err();
            let expected_layer = if len < 14 { Layer::Ethernet } else { Layer::Ipv4 };
            prop_assert_eq!(err.layer(), expected_layer, "{} bytes: {}", len, err);
            prop_assert!(matches!(err, DecodeError::Truncated { available, .. } if available == len), "{} bytes: {}", len, err);
            let text = err.to_string();
            prop_assert!(text.contains(&format!("offset {len}")), "{}", text);
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        exercise(&bytes);
    }

    #[test]
    fn mutated_frames_never_panic(p in params(), payload in prop::collection::vec(any::<u8>(), 0..100),
                                  edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
                                  cut in any::<prop::sample::Index>()) {
        let e = encapsulate(&payload, &p).unwrap();
        let mut f = e.frame().to_vec();
        for (at, v) in edits {
            let i = at.index(f.len());
            f[i] = v;
        }
        // Keep the frame an IPv4/TCP frame often enough to reach the inner layers.
        if f[12..14] != [0x08, 0x00] && cut.index(2) == 0 {
            f[12] = 0x08;
            f[13] = 0x00;
        }
        exercise(&f);
        exercise(&f[..cut.index(f.len() + 1)]);
    }
}

/// Decodes and renders `bytes` every way the crate can; panics are the failure.
fn exercise(bytes: &[u8]) {
    let _ = encap::layers::ethernet::fields(bytes, 0);
    if let Some(ip) = bytes.get(14..) {
        let _ = encap::layers::ipv4::fields(ip, 14);
        let _ = encap::layers::tcp::fields(ip, 14, None);
        let _ = encap::layers::tcp::fields(
            ip,
            14,
            Some((Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST).into()),
        );
    }
    if let Ok(d) = decapsulate(bytes) {
        let layers = d.layers();
        let _ = d.headers();
        let mut obj = serde_json::Map::new();
        render::json::add_fields(&mut obj, &layers);
    }
}

/// A frame under Ethernet's 60-byte minimum (no payload, no options: 54 bytes): its FCS is over
/// the padded frame, as a wire carries it (the case the property test draws only rarely).
#[test]
fn a_short_frames_fcs_covers_its_padding() {
    let mut p = encap::pipeline::Params::default();
    p.tcp.options.clear();
    let e = encapsulate(b"", &p).unwrap();
    assert_eq!(e.frame().len(), 54);
    let mut wire = e.frame().to_vec();
    wire.resize(60, 0);
    assert_eq!(e.fcs(), crc32fast::hash(&wire));
    assert_ne!(e.fcs(), crc32fast::hash(e.frame()));
}
