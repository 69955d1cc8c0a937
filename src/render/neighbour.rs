//! ARP and neighbour discovery frames checked by [`crate::model::neighbour`]: one line each (or
//! the field table), and what else a link carries, listed by name.

use std::io;

use termcolor::WriteColor;

use super::verdicts::{field_rows, json_fields, mismatch_lines, tally};
use crate::model::neighbour::NeighbourCheck;

/// One line for the frame (what it is, its tally), then one line per MISMATCH.
///
/// # Errors
/// An I/O error from `w`.
pub fn summary<W: WriteColor>(w: &mut W, c: &NeighbourCheck) -> io::Result<()> {
    write!(w, "frame {}: {}: ", c.number, c.what)?;
    tally(w, c.counts())?;
    mismatch_lines(w, c.number, &c.fields)
}

/// The line, then every field: kernel, model, verdict and its reason.
///
/// # Errors
/// An I/O error from `w`.
pub fn table<W: WriteColor>(w: &mut W, c: &NeighbourCheck) -> io::Result<()> {
    summary(w, c)?;
    field_rows(w, &c.fields).map(drop)
}

/// A frame the link carries that no model here checks: named, listed, not a finding.
///
/// # Errors
/// An I/O error from `w`.
pub fn listed<W: WriteColor>(w: &mut W, number: u64, what: &str) -> io::Result<()> {
    writeln!(w, "frame {number}: {what}: not modelled, listed")
}

/// The frame's check as one JSON object, as [`super::verdicts::json_frame`] for a segment.
#[must_use]
pub fn json(c: &NeighbourCheck) -> serde_json::Value {
    let n = c.counts();
    serde_json::json!({
        "frame.number": c.number,
        "info": c.what,
        "predicted": n.predicted,
        "learned": n.learned,
        "kernel_chosen": n.kernel,
        "mismatch": n.mismatch,
        "fields": json_fields(&c.fields),
    })
}
