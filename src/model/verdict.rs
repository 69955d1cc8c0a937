//! What the comparison says: a [`Verdict`] per field, a [`FrameCheck`] per frame, [`Counts`]
//! over many, and the [`Gap`]s a connection leaves open.

use std::fmt;

use super::event::Kind;
use super::side::Side;
use super::state::TcpState;
use crate::layers::tcp;
use crate::layers::{Field, Layer};

/// What the comparison says of one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Equal to the model's value, computed from protocol rules and the connection's state.
    Predicted,
    /// Taken from an earlier frame and consistent with it (`seq = ISN + bytes sent`).
    Learned {
        /// From what.
        from: &'static str,
    },
    /// Chosen by the kernel where no model can know it in advance; taken from this frame.
    KernelChosen {
        /// Why it cannot be predicted.
        why: &'static str,
    },
    /// Chosen by a peer that is not Linux, where any correct TCP may choose as it likes (its
    /// ISN, window, options, IP ID, TTL); taken from this frame.
    PeerChosen {
        /// What it chose.
        why: &'static str,
    },
    /// What `lo` omits or changes, predicted exactly and checked.
    Loopback {
        /// What lo does.
        why: &'static str,
    },
    /// Anything else: the model expected `expected`.
    Mismatch {
        /// The model's value, as shown to users.
        expected: String,
    },
}

impl Verdict {
    /// The short label used in tables.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Predicted => "predicted",
            Verdict::Learned { .. } => "learned",
            Verdict::KernelChosen { .. } => "kernel-chosen",
            Verdict::PeerChosen { .. } => "peer-chosen",
            Verdict::Loopback { .. } => "loopback",
            Verdict::Mismatch { .. } => "MISMATCH",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Predicted => f.write_str("predicted"),
            Verdict::Learned { from } => write!(f, "learned: {from}"),
            Verdict::KernelChosen { why } => write!(f, "kernel-chosen: {why}"),
            Verdict::PeerChosen { why } => write!(f, "peer-chosen: {why}"),
            Verdict::Loopback { why } => write!(f, "loopback: {why}"),
            Verdict::Mismatch { expected } => write!(f, "MISMATCH: the model expected {expected}"),
        }
    }
}

/// One field of one frame: the kernel's value, the model's, and the verdict.
#[derive(Debug, Clone)]
pub struct FieldCheck {
    /// The layer.
    pub layer: Layer,
    /// The kernel's field.
    pub field: Field,
    /// The model's value as shown.
    pub model: String,
    /// The verdict.
    pub verdict: Verdict,
}

/// The comparison of one frame.
#[derive(Debug, Clone)]
pub struct FrameCheck {
    /// Frame number in the capture.
    pub number: u64,
    /// Which side sent it.
    pub from: Side,
    /// What kind of segment.
    pub kind: Kind,
    /// Flags.
    pub flags: u16,
    /// Sequence number relative to the sender's ISN.
    pub rel_seq: u32,
    /// Acknowledgment number relative to the receiver's ISN (0 without ACK).
    pub rel_ack: u32,
    /// Payload length.
    pub len: usize,
    /// Each side's state after this frame.
    pub states: [TcpState; 2],
    /// Every field's verdict, in the order of [`FrameCheck::fields`].
    pub(crate) judged: Vec<Judged>,
    /// Every field, with both values as shown: built when first asked for (see [`Fields`]).
    pub(crate) fields: Fields,
    /// The frame the model built.
    pub model_frame: Vec<u8>,
    /// The CRC-32 this frame would carry as FCS on a real wire.
    pub wire_fcs: u32,
    /// Its TCP analysis events (Wireshark's `tcp.analysis.*`), as the model classified it.
    pub events: Vec<super::analysis::Analysis>,
    /// Fields of earlier frames that this frame proves wrong: each is a MISMATCH of that
    /// frame, counted here, with this frame as the evidence.
    pub revisions: Vec<Revision>,
}

/// A field of an earlier frame that a later frame proves wrong: the verdict goes back to the
/// frame where the change happened, and names the frame that showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// The frame whose field was wrong.
    pub frame: u64,
    /// Its field (Wireshark's name).
    pub key: &'static str,
    /// What the model now expects it to have been.
    pub expected: String,
    /// How the later frame shows it.
    pub why: &'static str,
}

/// One field's verdict, as the counts need it.
#[derive(Debug, Clone)]
pub(crate) struct Judged {
    pub verdict: Verdict,
    /// One of the fields that name the connection's endpoints.
    pub endpoint: bool,
}

impl Judged {
    pub(crate) fn of(f: &FieldCheck) -> Judged {
        Judged {
            verdict: f.verdict.clone(),
            endpoint: is_endpoint(&f.field.key),
        }
    }
}

/// A frame's field checks. Most frames of a long capture are only counted and summed up in a
/// line: their fields, with the text a user reads for each value, are built from both frames
/// only when something shows them (`--verbose`, `--json`, the pictures). A frame with a
/// MISMATCH, or of a shape the fast path does not walk, has them built at once.
#[derive(Debug, Clone)]
pub(crate) enum Fields {
    /// Built.
    Built(Vec<FieldCheck>),
    /// To be built from the kernel's frame (and its link type) and the model's, each field with
    /// the verdict [`FrameCheck::judged`] gives it.
    Later {
        kernel: Vec<u8>,
        link: u32,
        built: std::sync::OnceLock<Vec<FieldCheck>>,
        /// The verdicts counted once (a frame's counts are asked for more than once).
        counts: Counts,
    },
}

impl FrameCheck {
    /// Every field of the kernel's frame, with the model's value and the verdict (and a row
    /// for each field only the model's frame has).
    #[must_use]
    pub fn fields(&self) -> &[FieldCheck] {
        match &self.fields {
            Fields::Built(f) => f,
            Fields::Later {
                kernel,
                link,
                built,
                ..
            } => built.get_or_init(|| {
                super::compare::rebuild(kernel, *link, &self.model_frame, &self.judged)
            }),
        }
    }

    /// [`FrameCheck::fields`], to change (the renderers' tests make verdicts up this way).
    pub fn fields_mut(&mut self) -> &mut Vec<FieldCheck> {
        if let Fields::Later { .. } = self.fields {
            let built = self.fields().to_vec();
            self.fields = Fields::Built(built);
        }
        match &mut self.fields {
            Fields::Built(f) => f,
            Fields::Later { .. } => unreachable!("made Built just above"),
        }
    }

    /// How many fields have each verdict: predicted, learned, kernel-chosen, loopback, mismatch
    /// (the revisions of earlier frames' fields included).
    #[must_use]
    pub fn counts(&self) -> Counts {
        let mut c = match &self.fields {
            // (Made up or changed through fields_mut: counted from what is there.)
            Fields::Built(f) => Counts::of(f.iter().map(Judged::of)),
            Fields::Later { counts, .. } => *counts,
        };
        // Each revision is a MISMATCH of an earlier frame's field, found with this one.
        c.mismatch += self.revisions.len();
        c
    }
}

/// The fields that name the connection's endpoints: its addresses and ports.
pub(crate) fn is_endpoint(key: &str) -> bool {
    use crate::layers::{ipv4, ipv6};
    // (A `match`, not a search of a list: asked of every field of every frame.)
    matches!(
        key,
        ipv4::key::SRC
            | ipv4::key::DST
            | ipv6::key::SRC
            | ipv6::key::DST
            | tcp::key::SRCPORT
            | tcp::key::DSTPORT
    )
}

/// Verdict counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Predicted.
    pub predicted: usize,
    /// Learned.
    pub learned: usize,
    /// Kernel-chosen.
    pub kernel: usize,
    /// Loopback.
    pub loopback: usize,
    /// Peer-chosen: the habits of a side that is not Linux.
    pub peer: usize,
    /// MISMATCH.
    pub mismatch: usize,
    /// Of the predicted and learned: the addresses and ports that define the connection, which
    /// cannot fail once its first frame is seen. Counted apart so that the shares measure the
    /// model.
    pub endpoints: usize,
}

impl Counts {
    /// The counts of these verdicts.
    pub(crate) fn of(judged: impl IntoIterator<Item = impl std::borrow::Borrow<Judged>>) -> Counts {
        let mut c = Counts::default();
        for j in judged {
            c.add_judged(j.borrow());
        }
        c
    }

    fn add_judged(&mut self, j: &Judged) {
        self.add(&j.verdict);
        let known = matches!(j.verdict, Verdict::Predicted | Verdict::Learned { .. });
        if known && j.endpoint {
            self.endpoints += 1;
        }
    }

    /// Counts one more field with verdict `v`.
    pub fn add(&mut self, v: &Verdict) {
        match v {
            Verdict::Predicted => self.predicted += 1,
            Verdict::Learned { .. } => self.learned += 1,
            Verdict::KernelChosen { .. } => self.kernel += 1,
            Verdict::PeerChosen { .. } => self.peer += 1,
            Verdict::Loopback { .. } => self.loopback += 1,
            Verdict::Mismatch { .. } => self.mismatch += 1,
        }
    }

    /// All fields.
    #[must_use]
    pub fn total(&self) -> usize {
        self.predicted + self.learned + self.kernel + self.peer + self.loopback + self.mismatch
    }

    /// The share of fields predicted or learned, in percent, the connection's addresses and
    /// ports left out: of all fields, and of the fields `lo` leaves as a wire would have them
    /// (all but the loopback ones, which the model predicts exactly too, as lo has them).
    #[must_use]
    pub fn shares(&self) -> (f64, f64) {
        let pct = |n: usize, of: usize| {
            if of == 0 {
                0.0
            } else {
                100.0 * n as f64 / of as f64
            }
        };
        let known = self.predicted + self.learned - self.endpoints;
        let judged = self.total() - self.endpoints;
        (pct(known, judged), pct(known, judged - self.loopback))
    }

    /// Adds another count.
    pub fn merge(&mut self, o: Counts) {
        self.predicted += o.predicted;
        self.learned += o.learned;
        self.kernel += o.kernel;
        self.loopback += o.loopback;
        self.peer += o.peer;
        self.mismatch += o.mismatch;
        self.endpoints += o.endpoints;
    }
}

/// Bytes of one side's stream that a frame skipped and no later frame brought: a sequence
/// number that was wrong, or a segment the capture missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// The frame that skipped them.
    pub frame: u64,
    /// Whose stream.
    pub from: Side,
    /// The sequence number the model expected there.
    pub start: u32,
    /// Where the frame's bytes began (or, `acked`, what it acknowledged).
    pub end: u32,
    /// The frame is the peer's ACK of bytes the capture never showed, not a segment ahead.
    pub acked: bool,
}

impl Gap {
    /// The field the gap is reported on: the frame's sequence or acknowledgment number.
    #[must_use]
    pub fn key(&self) -> &'static str {
        if self.acked {
            tcp::key::ACK_RAW
        } else {
            tcp::key::SEQ_RAW
        }
    }

    /// What can have left it open.
    #[must_use]
    pub fn why(&self) -> &'static str {
        if self.acked {
            "a segment the capture missed, or a wrong acknowledgment number"
        } else {
            "a wrong sequence number, or a segment the capture missed"
        }
    }
}

/// Why a frame cannot be checked at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// Not IPv4 or IPv6 TCP (without IPv6 extension headers), or malformed.
    #[error("frame {0} is not a well-formed TCP frame over IPv4 or IPv6")]
    NotTcp(u64),
    /// Not of this connection.
    #[error("frame {0} belongs to another connection")]
    OtherConnection(u64),
    /// The same bytes as an earlier frame: captured twice.
    #[error("frame {0} is byte for byte frame {1}: captured twice (as a capture on \"any\", or a raw socket on lo, sees frames), not checked again")]
    Duplicate(u64, u64),
}
