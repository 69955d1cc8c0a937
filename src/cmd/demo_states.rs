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
    // The same three sockets as `ss -tan` lists them at this moment, by its own names.
    let ours: Vec<String> = [(s, SocketAddr::from(([0, 0, 0, 0], 0))), (c, s), (s, c)]
        .iter()
        .map(|&(local, peer)| {
            rows.iter()
                .find(|r| {
                    r.local == local && (r.peer == peer || (peer.port() == 0 && r.peer.port() == 0))
                })
                .map_or("-", |r| r.state_name())
                .to_string()
        })
        .collect();
    let differ_ss = match ss_states(server.port(), [(s, None), (c, Some(s)), (s, Some(c))]) {
        Some(theirs) if theirs == ours => {
            write!(out, "; ss -tan at the same moment: the same")?;
            false
        }
        Some(theirs) => {
            write!(
                out,
                "; ss -tan at the same moment: {}: DIFFERENT",
                theirs.join(", ")
            )?;
            true
        }
        None => {
            write!(out, "; ss -tan: not run (iproute2's ss is not installed)")?;
            false
        }
    };
    let Some(m) = model else {
        writeln!(out)?;
        return Ok(differ_ss);
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
    Ok(differ || differ_ss)
}

/// The states `ss -tan` gives the sockets of `port` with these local and peer addresses (no
/// peer: the listener), by ss's names, "-" for one it does not list; `None` when ss cannot run.
fn ss_states(port: u16, sockets: [(SocketAddr, Option<SocketAddr>); 3]) -> Option<Vec<String>> {
    let filter = format!("( sport = :{port} or dport = :{port} )");
    let out = std::process::Command::new("ss")
        .args(["-tan", &filter])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .filter(|w: &Vec<&str>| w.len() >= 5)
        .collect();
    Some(
        sockets
            .iter()
            .map(|(local, peer)| {
                let local = encap::sock_diag::ss_addr(*local);
                rows.iter()
                    .find(|w| {
                        w[3] == local
                            && peer.map_or(w[4].ends_with(":*"), |p| {
                                w[4] == encap::sock_diag::ss_addr(p)
                            })
                    })
                    .map_or("-", |w| w[0])
                    .to_string()
            })
            .collect(),
    )
}
