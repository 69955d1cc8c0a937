//! The payload of the model's frame: with the application's writes known, the next bytes of
//! the current write, as many as one segment carries; else the frame's own bytes.

use super::super::event::Event;
use super::super::observed::Observed;
use super::super::side::Side;
use super::super::Connection;

/// How the model chose the payload.
#[derive(Debug, Clone, Default)]
pub struct PayloadPlan {
    /// The model's payload.
    pub bytes: Vec<u8>,
    /// Predicted from the application's writes (not taken from the frame).
    pub predicted: bool,
    /// Its length is where the kernel cut a large write, not the model's segment.
    pub gso_cut: bool,
    /// How many writes it carries when more than one (Nagle, autocorking).
    pub coalesced: usize,
    /// A segment size taken anew inside send(), for the rest of the write.
    pub regrown: Option<usize>,
}

/// The payload of frame `o` from `from`.
#[must_use]
pub fn plan(c: &Connection, from: Side, o: &Observed<'_>, ev: &Event) -> PayloadPlan {
    let queue = &c.sides[from].queue;
    // (Of a frame the capture cut short, the bytes it did not keep are not known: zeros, cut
    // off again before the frames are compared.)
    let mut bytes = o.payload().to_vec();
    bytes.resize(o.len(), 0);
    let taken = PayloadPlan {
        bytes,
        ..PayloadPlan::default()
    };
    let (Some(q), Some(write)) = (&queue.bytes, queue.writes.front()) else {
        return taken;
    };
    if o.is_empty() || ev.retrans || ev.gap || ev.fills.is_some() {
        return taken;
    }
    let mss = write.segment.or_else(|| c.send_mss(from));
    let mut len = mss.map_or(o.len(), |mss| write.left.min(mss)).min(q.len());
    let mut plan = PayloadPlan {
        predicted: true,
        ..PayloadPlan::default()
    };
    let l = o.len();
    // Several writes in one segment (Nagle, autocorking): the packet ends where a later write
    // ends.
    if l > write.left && l <= q.len() {
        if let Some(n) = writes_ending_at(c, from, l).filter(|_| mss.map_or(true, |m| l <= m)) {
            len = l;
            plan.coalesced = n;
        }
    }
    // Where a write larger than one segment is cut into packets is the kernel's choice of the
    // moment: while send() holds the socket, ACKs wait in its backlog; a write larger than the
    // send buffer waits for space inside send(), pushing what it has, and takes a new segment
    // size from the peer's grown window; what is still queued leaves in packets the window
    // allows, cut at its edge (tcp_mss_split_point) or with a small rest merged in
    // (tcp_grow_skb). The model takes such a packet's length from the frame, and checks its
    // bytes against the write. A write of one segment or less must leave whole.
    if let Some(mss) = mss {
        if plan.coalesced == 0 && l != len && write.len > mss && l <= write.left.min(q.len()) {
            len = l;
            plan.gso_cut = true;
            plan.regrown = c.send_mss(from).filter(|&m| m != mss && l % m.max(1) == 0);
        }
    }
    plan.bytes = q.iter().take(len).copied().collect();
    plan
}

/// How many of `from`'s queued writes a packet of `len` bytes carries if it ends exactly where
/// one of them ends.
fn writes_ending_at(c: &Connection, from: Side, len: usize) -> Option<usize> {
    let writes = &c.sides[from].queue.writes;
    let mut end = writes.front()?.left;
    let mut n = 1;
    for w in writes.iter().skip(1) {
        if end >= len {
            break;
        }
        end += w.left;
        n += 1;
    }
    (end == len).then_some(n)
}
