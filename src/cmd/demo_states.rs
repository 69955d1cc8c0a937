//! The demo's sockets as the kernel keeps them (sock_diag, as `ss -tan` reads them), shown at each
//! step next to the TCP state the model reached after the last frame it checked.

use std::net::{SocketAddr, SocketAddrV4};

use termcolor::WriteColor;

use encap::model::TcpState;

/// Writes the kernel's state of the listener and of both ends of `client` -> `server`, and,
/// when the model has checked frames, whether its states (`model`, client then server) are the
/// kernel's. A socket the kernel no longer has is CLOSED. Returns whether they differ.
///
/// # Errors
/// Output fails (a sock_diag failure is said, not returned: the demo goes on).
pub fn show<W: WriteColor>(
    out: &mut W,
    client: SocketAddrV4,
    server: SocketAddrV4,
    model: Option<[TcpState; 2]>,
) -> anyhow::Result<bool> {
    let rows = match super::sockets::tcp_sockets() {
        Ok(r) => r,
        Err(e) => {
            writeln!(out, "kernel's socket table: cannot read it ({e:#})")?;
            return Ok(false);
        }
    };
    let (c, s) = (SocketAddr::V4(client), SocketAddr::V4(server));
    let find = |local: SocketAddr, peer: SocketAddr| {
        rows.iter()
            .find(|r| r.local == local && r.peer == peer)
            .map_or("CLOSED", |r| r.rfc_state())
    };
    let listener = rows
        .iter()
        .find(|r| r.local == s && r.peer.port() == 0)
        .map_or("CLOSED", |r| r.rfc_state());
    let kernel = [find(c, s), find(s, c)];
    write!(
        out,
        "kernel's sockets (sock_diag, as ss -tan): listener {listener}, client {}, server {}",
        kernel[0], kernel[1]
    )?;
    let Some(m) = model else {
        writeln!(out)?;
        return Ok(false);
    };
    let m = [m[0].to_string(), m[1].to_string()];
    let differ = m[0] != kernel[0] || m[1] != kernel[1];
    if differ {
        writeln!(
            out,
            "; the model says client {}, server {}: DIFFERENT",
            m[0], m[1]
        )?;
    } else {
        writeln!(out, "; the model's states after the last frame: the same")?;
    }
    Ok(differ)
}
