//! The network layer of the model's frame: IPv4's identification, DSCP, ECN and TTL, or IPv6's
//! flow label, traffic class and hop limit, and whether the TCP checksum is left to offload.

use super::super::event::{Event, Kind};
use super::super::observed::Observed;
use super::super::side::{Marking, Side};
use super::super::Connection;
use crate::pipeline::{ChecksumMode, Params};

/// Fills in `p`'s network layer for frame `o` from `from`.
pub fn network(c: &Connection, from: Side, o: &Observed<'_>, ev: &Event, p: &mut Params) {
    let me = &c.sides[from];
    if let Some(v6) = &mut p.ipv6 {
        // A socket's flow label is a hash of its random txhash: the first frame of each side
        // shows it, and it stays (net.ipv6.auto_flowlabels). A retransmitted SYN is sent with
        // a new one (sk_rethink_txhash), as is a retransmission by the timer (its frame shows
        // the new label, the model cannot tell a timeout from a probe by the time alone); the
        // control socket's RST with its own.
        v6.flow_label = if ev.syn_again || ev.ctl_rst || ev.rto {
            o.flow.unwrap_or(0)
        } else {
            me.flow.or(o.flow).unwrap_or(0)
        };
    }
    // A socket's DSCP and TTL are the application's or the host's defaults: its first frame
    // shows them, and they stay. The control socket uses the defaults.
    let mark = if ev.ctl_rst {
        Marking::DEFAULT
    } else {
        me.marking.map_or(
            Marking {
                dscp: o.dscp,
                ttl: o.ttl,
            },
            |m| m.marking,
        )
    };
    p.ip.dscp = mark.dscp;
    p.ip.ttl = mark.ttl;
    if let Some(v6) = &mut p.ipv6 {
        v6.traffic_class = mark.dscp << 2;
        v6.hop_limit = mark.ttl;
    }
    p.ip.identification = identification(c, from, o, ev);
    // The TIME_WAIT mini-socket and the control socket answer through ip_send_unicast_reply:
    // a full checksum over IPv4.
    if (ev.timewait_reply || ev.ctl_rst) && p.ipv6.is_none() {
        p.checksum = ChecksumMode::Full;
    }
    // ECN (RFC 3168): once both sides agreed, data segments are sent ECT(0); retransmissions
    // are not.
    if c.ecn && !o.is_empty() && !ev.retrans && o.kind != Kind::Rst {
        p.ip.ecn = 2;
        if let Some(v6) = &mut p.ipv6 {
            v6.traffic_class |= 2;
        }
    }
}

/// The IPv4 identification: 0 on a SYN-ACK (the request socket's) and from the control socket
/// or a TIME_WAIT mini-socket, else the socket's counter; the frame's own where the capture
/// lost or reordered frames of this socket.
fn identification(c: &Connection, from: Side, o: &Observed<'_>, ev: &Event) -> u16 {
    let me = &c.sides[from];
    let reordered = ev.fills.is_some() || me.missed || ev.gap || ev.stale || ev.id_late;
    match (o.ip_id, me.ids.next) {
        (Some(id), _) if reordered || ev.id_ahead => id,
        _ if o.kind == Kind::SynAck || ev.timewait_reply || ev.ctl_rst => 0,
        (_, Some(id)) => id,
        (id, None) => id.unwrap_or(0),
    }
}
