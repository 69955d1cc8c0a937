//! Encapsulate and decapsulate at 6, 64 and 1460-byte payloads, with the peer crates building and
//! reading the same frame in the same criterion group, so the ratios come from one run.
//!
//! Every encoder writes the same 14 + 20 + 32-byte headers (NOP, NOP, timestamps) with full IPv4
//! and TCP checksums into a reused buffer, then appends the FCS (peers: crc32fast, as encap uses).
//! Every decoder validates the lengths of all four layers and hands back the payload.
//!
//! Run: `cargo bench --bench pipeline`

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddrV4};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use encap::pipeline::{decapsulate, encapsulate_into, Params};

const SIZES: [usize; 3] = [6, 64, 1460];
const SRC: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const DST: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

fn params() -> Params {
    Params::between(SocketAddrV4::new(SRC, 40000), SocketAddrV4::new(DST, 6666))
}

fn etherparse_direct(p: &[u8], buf: &mut Vec<u8>) {
    use etherparse::{
        EtherType, Ethernet2Header, IpNumber, Ipv4Header, TcpHeader, TcpOptionElement,
    };
    let eth = Ethernet2Header {
        source: [0; 6],
        destination: [0; 6],
        ether_type: EtherType::IPV4,
    };
    let mut tcp = TcpHeader::new(40000, 6666, 1, 64);
    tcp.acknowledgment_number = 1;
    tcp.ack = true;
    tcp.psh = true;
    tcp.set_options(&[
        TcpOptionElement::Noop,
        TcpOptionElement::Noop,
        TcpOptionElement::Timestamp(1, 1),
    ])
    .unwrap();
    let mut ip = Ipv4Header::new(
        (tcp.header_len() + p.len()) as u16,
        64,
        IpNumber::TCP,
        SRC.octets(),
        DST.octets(),
    )
    .unwrap();
    ip.identification = 1;
    ip.dont_fragment = true;
    tcp.checksum = tcp.calc_checksum_ipv4(&ip, p).unwrap();
    buf.clear();
    eth.write(buf).unwrap();
    ip.write(buf).unwrap();
    tcp.write(buf).unwrap();
    buf.extend_from_slice(p);
    let fcs = crc32fast::hash(buf);
    buf.extend_from_slice(&fcs.to_le_bytes());
}

fn etherparse_builder(p: &[u8], buf: &mut Vec<u8>) {
    use etherparse::{PacketBuilder, TcpOptionElement};
    let b = PacketBuilder::ethernet2([0; 6], [0; 6])
        .ipv4(SRC.octets(), DST.octets(), 64)
        .tcp(40000, 6666, 1, 64)
        .ack(1)
        .psh()
        .options(&[
            TcpOptionElement::Noop,
            TcpOptionElement::Noop,
            TcpOptionElement::Timestamp(1, 1),
        ])
        .unwrap();
    buf.clear();
    b.write(buf, p).unwrap();
    let fcs = crc32fast::hash(buf);
    buf.extend_from_slice(&fcs.to_le_bytes());
}

fn pnet_build(p: &[u8], buf: &mut Vec<u8>) {
    use pnet_base::MacAddr;
    use pnet_packet::ethernet::{EtherTypes, MutableEthernetPacket};
    use pnet_packet::ip::IpNextHeaderProtocols;
    use pnet_packet::ipv4::{self, Ipv4Flags, MutableIpv4Packet};
    use pnet_packet::tcp::{self, MutableTcpPacket, TcpFlags, TcpOption};
    let total = 14 + 20 + 32 + p.len();
    buf.clear();
    buf.resize(total + 4, 0);
    {
        let mut eth = MutableEthernetPacket::new(&mut buf[..total]).unwrap();
        eth.set_destination(MacAddr::zero());
        eth.set_source(MacAddr::zero());
        eth.set_ethertype(EtherTypes::Ipv4);
    }
    {
        let mut t = MutableTcpPacket::new(&mut buf[34..total]).unwrap();
        t.set_source(40000);
        t.set_destination(6666);
        t.set_sequence(1);
        t.set_acknowledgement(1);
        t.set_data_offset(8);
        t.set_flags(TcpFlags::PSH | TcpFlags::ACK);
        t.set_window(64);
        t.set_options(&[
            TcpOption::nop(),
            TcpOption::nop(),
            TcpOption::timestamp(1, 1),
        ]);
        t.set_payload(p);
        let c = tcp::ipv4_checksum(&t.to_immutable(), &SRC, &DST);
        t.set_checksum(c);
    }
    {
        let mut ip = MutableIpv4Packet::new(&mut buf[14..total]).unwrap();
        ip.set_version(4);
        ip.set_header_length(5);
        ip.set_total_length((total - 14) as u16);
        ip.set_identification(1);
        ip.set_flags(Ipv4Flags::DontFragment);
        ip.set_ttl(64);
        ip.set_next_level_protocol(IpNextHeaderProtocols::Tcp);
        ip.set_source(SRC);
        ip.set_destination(DST);
        let c = ipv4::checksum(&ip.to_immutable());
        ip.set_checksum(c);
    }
    let fcs = crc32fast::hash(&buf[..total]);
    buf[total..].copy_from_slice(&fcs.to_le_bytes());
}

fn pnet_read(frame: &[u8]) -> Option<usize> {
    use pnet_packet::ethernet::{EtherTypes, EthernetPacket};
    use pnet_packet::ip::IpNextHeaderProtocols;
    use pnet_packet::ipv4::Ipv4Packet;
    use pnet_packet::tcp::TcpPacket;
    use pnet_packet::Packet;
    let eth = EthernetPacket::new(frame)?;
    if eth.get_ethertype() != EtherTypes::Ipv4 {
        return None;
    }
    let ip = Ipv4Packet::new(eth.payload())?;
    let ihl = usize::from(ip.get_header_length()) * 4;
    let total = usize::from(ip.get_total_length());
    // pnet's views check only the fixed header: validate what decapsulate validates.
    if ihl < 20
        || total < ihl
        || total > eth.payload().len()
        || ip.get_next_level_protocol() != IpNextHeaderProtocols::Tcp
    {
        return None;
    }
    let tcp = TcpPacket::new(&eth.payload()[ihl..total])?;
    let off = usize::from(tcp.get_data_offset()) * 4;
    if off < 20 || off > total - ihl {
        return None;
    }
    Some(tcp.payload().len())
}

fn bench_encapsulate(c: &mut Criterion) {
    let mut g = c.benchmark_group("encapsulate+fcs");
    let params = params();
    for n in SIZES {
        let p = payload(n);
        g.throughput(Throughput::Bytes(n as u64));
        let mut buf = Vec::with_capacity(2048);
        // All four must produce the same frame (PacketBuilder has no way to set the IP ID: 0).
        let mut reference = Vec::new();
        encapsulate_into(&p, &params, &mut reference).unwrap();
        let mut id0 = params.clone();
        id0.ip.identification = 0;
        let mut reference_id0 = Vec::new();
        encapsulate_into(&p, &id0, &mut reference_id0).unwrap();
        for (name, f, want) in [
            (
                "etherparse-headers",
                etherparse_direct as fn(&[u8], &mut Vec<u8>),
                &reference,
            ),
            (
                "etherparse-PacketBuilder",
                etherparse_builder,
                &reference_id0,
            ),
            ("pnet", pnet_build, &reference),
        ] {
            f(&p, &mut buf);
            assert!(buf == *want, "{name} builds a different frame at {n} bytes");
        }
        g.bench_with_input(BenchmarkId::new("encap", n), &p, |b, p| {
            b.iter(|| encapsulate_into(black_box(p), black_box(&params), &mut buf).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("etherparse-headers", n), &p, |b, p| {
            b.iter(|| etherparse_direct(black_box(p), &mut buf))
        });
        g.bench_with_input(
            BenchmarkId::new("etherparse-PacketBuilder", n),
            &p,
            |b, p| b.iter(|| etherparse_builder(black_box(p), &mut buf)),
        );
        g.bench_with_input(BenchmarkId::new("pnet", n), &p, |b, p| {
            b.iter(|| pnet_build(black_box(p), &mut buf))
        });
    }
    g.finish();
}

fn bench_decapsulate(c: &mut Criterion) {
    let mut g = c.benchmark_group("decapsulate");
    let params = params();
    for n in SIZES {
        let mut frame = Vec::new();
        encapsulate_into(&payload(n), &params, &mut frame).unwrap();
        frame.truncate(frame.len() - 4); // as captured: no FCS
        g.throughput(Throughput::Bytes(frame.len() as u64));
        assert_eq!(decapsulate(&frame).unwrap().payload().len(), n);
        let sliced = etherparse::SlicedPacket::from_ethernet(&frame).unwrap();
        assert!(
            matches!(sliced.transport, Some(etherparse::TransportSlice::Tcp(t)) if t.payload().len() == n)
        );
        assert_eq!(pnet_read(&frame), Some(n));
        g.bench_with_input(BenchmarkId::new("encap", n), &frame, |b, f| {
            b.iter(|| decapsulate(black_box(f)).map(|d| d.payload().len()))
        });
        g.bench_with_input(
            BenchmarkId::new("etherparse-SlicedPacket", n),
            &frame,
            |b, f| {
                b.iter(|| {
                    etherparse::SlicedPacket::from_ethernet(black_box(f))
                        .map(|s| s.transport.is_some())
                })
            },
        );
        g.bench_with_input(BenchmarkId::new("pnet", n), &frame, |b, f| {
            b.iter(|| pnet_read(black_box(f)))
        });
    }
    g.finish();
}

criterion_group!(benches, bench_encapsulate, bench_decapsulate);
criterion_main!(benches);
