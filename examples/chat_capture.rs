//! Writes a pcap of a long chat on lo, built by encap's own pipeline: N data frames alternating
//! between client and server, each acknowledging the other, as the kernel would send them
//! (checksum offload, timestamps, per-socket IP IDs). Used by `benches/tools.sh`.
//!
//! `cargo run --release --example chat_capture -- FRAMES OUT.pcap`

use std::io::{BufWriter, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use encap::pcap::FrameWriter;
use encap::pipeline::{encapsulate_into, linux_data_options, ChecksumMode, Params};

const LINES: [&str; 6] = [
    "hello\n",
    "hi\n",
    "你好，服务器！\n",
    "你好，客户端 👋\n",
    "how is the stack today?\n",
    "all four layers accounted for\n",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let frames: u64 = args
        .next()
        .ok_or("usage: chat_capture FRAMES OUT.pcap")?
        .parse()?;
    let path = args.next().ok_or("usage: chat_capture FRAMES OUT.pcap")?;
    let client = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 40000);
    let server = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 6666);
    let mut sides = [
        Params::between(client, server),
        Params::between(server, client),
    ];
    let (mut seq, mut id) = ([1_000_000_u32, 2_000_000_u32], [22_691_u16, 27_227_u16]);
    let mut w = FrameWriter::new(BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(&path)?,
    ))?;
    let mut buf = Vec::with_capacity(2048);
    for n in 0..frames {
        let (me, peer) = ((n % 2) as usize, ((n + 1) % 2) as usize);
        let line = LINES[(n % LINES.len() as u64) as usize].as_bytes();
        let p = &mut sides[me];
        p.checksum = ChecksumMode::Offloaded;
        p.tcp.seq = seq[me];
        p.tcp.ack = seq[peer];
        p.ip.identification = id[me];
        // Each side's clock ticks once a millisecond, as the frames' times do; TSecr echoes the
        // peer's latest TSval, that of the frame before.
        p.tcp.options = linux_data_options(1_000 + n as u32, 999 + n as u32);
        let stages = encapsulate_into(line, p, &mut buf)?;
        w.write(
            Duration::new(1_764_000_000 + n / 1000, (n % 1000) as u32 * 1_000_000),
            &buf[stages.ethernet..stages.end],
        )?;
        seq[me] = seq[me].wrapping_add(line.len() as u32);
        id[me] = id[me].wrapping_add(1);
    }
    w.into_inner().flush()?;
    Ok(())
}
