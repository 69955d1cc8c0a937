//! The connection drawn as a ladder: both endpoints as columns, each frame an arrow with its
//! flags, relative seq and ack and length, and each side's TCP state beside it after the frame.

use std::io;

use termcolor::WriteColor;

use crate::layers::tcp::flag_names;
use crate::model::FrameCheck;

const ARROW: usize = 46;

/// Writes the ladder of one connection.
///
/// # Errors
/// An I/O error from `w`.
pub fn write<W: WriteColor>(
    w: &mut W,
    client: &str,
    server: &str,
    frames: &[FrameCheck],
) -> io::Result<()> {
    let gap = " ".repeat(ARROW);
    writeln!(w, "      {:<16}{gap}server", "client")?;
    writeln!(w, "      {client:<16}{gap}{server}")?;
    let [client_state, server_state] = crate::model::state::initial(frames);
    writeln!(
        w,
        "      {:<16}{gap}{server_state}",
        client_state.to_string()
    )?;
    for f in frames {
        let mut label = format!(" {} seq {}", flag_names(f.flags), f.rel_seq);
        if f.flags & crate::layers::tcp::field::FLG_ACK != 0 {
            label.push_str(&format!(" ack {}", f.rel_ack));
        }
        label.push_str(&format!(" len {} ", f.len));
        let width = ARROW - 4;
        let arrow = if f.from == crate::model::Side::Client {
            format!("--{label:-<width$}->")
        } else {
            format!("<-{label:-<width$}--")
        };
        // A retransmission, a probe, a duplicate ACK... is named after the states, so the
        // arrows stay aligned.
        let events: Vec<String> = f.events.iter().map(ToString::to_string).collect();
        let right = if events.is_empty() {
            f.states[1].to_string()
        } else {
            format!("{:<16}  ({})", f.states[1].to_string(), events.join(", "))
        };
        writeln!(
            w,
            "{:>5} {:<16}{arrow}  {right}",
            f.number,
            f.states[0].to_string(),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Connection;
    use crate::pipeline::{encapsulate, linux_syn_options, ChecksumMode, Params};
    use std::net::{Ipv4Addr, SocketAddrV4};

    #[test]
    fn handshake_ladder() {
        let c = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 40000);
        let s = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 6666);
        let mut conn = Connection::new(c, s);
        let mut syn = Params::between(c, s);
        syn.checksum = ChecksumMode::Offloaded;
        syn.tcp.flags = 0x002;
        syn.tcp.seq = 1000;
        syn.tcp.ack = 0;
        syn.tcp.options = linux_syn_options(65495, 7, 0, 10);
        let f1 = conn
            .observe(1, encapsulate(b"", &syn).unwrap().frame())
            .unwrap();
        let mut text = termcolor::NoColor::new(Vec::new());
        write(&mut text, "127.0.0.1:40000", "127.0.0.1:6666", &[f1]).unwrap();
        let text = String::from_utf8(text.into_inner()).unwrap();
        assert!(text.contains("    1 SYN_SENT        -- SYN seq 0 len 0 -------------------------->  SYN_RECEIVED"), "{text}");
    }
}
