//! `encap` makes the TCP/IP stack visible: a chat message passes through TCP, IPv4 and Ethernet II
//! one explicit layer at a time, and the frames the Linux kernel really sends are decoded with the
//! same field tables and checked against the model.
//!
//! The library is pure: [`layers`], [`pipeline`] and [`checksum`] open no sockets, read no clock
//! and draw no random numbers. The renderers in [`render`] write into a writer they are given.
//! Sockets, capture and files live in the binary's subcommands.

pub mod capfile;
pub mod checksum;
pub mod datagram;
pub mod dissect;
// The chat's framing is pure and lives with the rest of the chat; the library carries it so the
// fuzz targets and their corpus test (fuzz/, tests/fuzz_corpus.rs) reach the binary's own code.
#[path = "chat/framing.rs"]
pub mod framing;
pub mod hops;
pub mod http_stream;
pub mod layers;
pub mod model;
pub mod pcap;
pub mod pipeline;
pub mod render;
pub mod sock_diag;
pub mod stack;
pub mod udp_flows;
pub mod verify;
