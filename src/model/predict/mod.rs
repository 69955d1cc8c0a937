//! The frame the kernel would send for a classified event: the network layer ([`ip`]), the TCP
//! header ([`tcp`]), its options ([`options`]) and the payload ([`payload`]), put together by
//! the same pipeline as `encap show`.

pub mod ip;
pub mod options;
pub mod payload;
pub mod tcp;

use super::event::Event;
use super::observed::Observed;
use super::side::Side;
use super::Connection;
use crate::layers::ethernet::{EtherType, EthernetHeader};
use crate::layers::tcp::TcpOption;
use crate::pipeline::{encapsulate, ChecksumMode, Encapsulated, Params};

pub use payload::PayloadPlan;

/// The model's frame and what went into it that the verdicts need.
#[derive(Debug)]
pub struct Prediction {
    /// The frame the model built.
    pub frame: Encapsulated,
    /// How its payload was chosen.
    pub payload: PayloadPlan,
    /// What the model says of the window.
    pub window: tcp::WindowPrediction,
    /// Whether a data segment must carry PSH (`None`: the frame decides).
    pub push: Option<bool>,
    /// The TSval was checked against the sender's millisecond clock.
    pub tsval_on_time: bool,
    /// The TSval is the socket's clock after a SYN cookie: up to 63 ms ahead of the clock the
    /// SYN-ACK's TSval gave (see [`options::cookie_clock`]).
    pub tsval_cookie: bool,
    /// The MSS option is below the link's: asked for by the application or the route.
    pub mss_app: bool,
    /// The window's edge moved left of this one, offered before.
    pub shrunk: Option<u32>,
    /// The right edge of the window this frame offers (its ACK plus its scaled window).
    pub edge: Option<u32>,
    /// The model's options did not fit where the kernel's did: what they were, and why.
    pub unfit: Option<String>,
    /// For a SYN or SYN-ACK: the option kinds in the order Linux would lay them out (what
    /// tells Linux from other stacks, [`super::peer::fingerprint`]); empty for other frames.
    pub linux_kinds: Vec<u8>,
}

/// Builds the model's frame for frame `o` from `from`, classified as `ev`.
///
/// # Errors
/// `None` when not even the frame's own options let the pipeline build it.
pub fn predict(c: &Connection, from: Side, o: &Observed<'_>, ev: &Event) -> Option<Prediction> {
    let (me, peer) = (&c.sides[from], &c.sides[!from]);
    let mut p = Params::between_any(me.addr, peer.addr);
    p.checksum = ChecksumMode::Offloaded;
    // lo's zero MACs, or on a real link the side's own and its next hop's, as its first frame
    // showed them; the TCP checksum offloaded, or full where the first frame had it so.
    let (source, destination) = me.macs.or(o.macs).unwrap_or(([0; 6], [0; 6]));
    p.ethernet = EthernetHeader {
        destination,
        source,
        ethertype: EtherType::Ipv4,
    };
    // GRO's merged packet carries the pseudo-header sum whatever the sender wrote.
    let gro = ev.merged.is_some_and(|m| m.arrived);
    if o.on_a_wire() && me.full_checksum.unwrap_or(o.full_checksum) && !gro {
        p.checksum = ChecksumMode::Full;
    }
    let plan = payload::plan(c, from, o, ev);
    let contradicted = options::mss_contradicted(c, from, o);
    ip::network(c, from, o, ev, &mut p);
    tcp::header(c, from, o, ev, &plan, &mut p);
    let window = tcp::window(c, from, o, ev, contradicted, &mut p);
    let tsval_on_time = options::options(c, from, o, ev, contradicted, window.locked, &mut p);
    let mss_app = !contradicted && options::mss_below_link(c, from, o);
    let tsval_cookie = options::cookie_clock(c, from, o);
    let (edge, shrunk) = tcp::window_edge(c, from, o, ev);
    let push = tcp::push(c, from, o, ev, &plan);
    let linux_kinds = if o.kind.is_syn() {
        p.tcp.options.iter().map(TcpOption::kind).collect()
    } else {
        Vec::new()
    };
    if me.followed() {
        super::peer::adopt(o, o.on_a_wire(), &mut p);
    }
    let (frame, unfit) = build(&plan.bytes, &mut p, o)?;
    Some(Prediction {
        frame,
        payload: plan,
        window,
        push,
        tsval_on_time: tsval_on_time && !tsval_cookie,
        tsval_cookie,
        mss_app,
        shrunk,
        edge,
        unfit,
        linux_kinds,
    })
}

/// The model's frame may not fit where the kernel's did (its options are longer than the ones
/// this frame carries): then it keeps the frame's options, so every other field is still
/// compared, and the options are reported as a MISMATCH.
fn build(
    payload: &[u8],
    p: &mut Params,
    o: &Observed<'_>,
) -> Option<(Encapsulated, Option<String>)> {
    match encapsulate(payload, p) {
        Ok(m) => Some((m, None)),
        Err(e) => {
            let unfit = format!(
                "{} (the model's frame would not fit: {e})",
                options::text(&p.tcp.options)
            );
            p.tcp.options.clone_from(&o.options);
            encapsulate(payload, p).ok().map(|m| (m, Some(unfit)))
        }
    }
}
