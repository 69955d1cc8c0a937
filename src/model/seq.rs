//! Sequence-number arithmetic (RFC 9293 §3.4, in the manner of RFC 1982): numbers wrap at 2^32,
//! so "after" means "ahead by less than a quarter of the space". Every comparison of sequence
//! numbers, acknowledgments, window edges and TSvals in the model goes through here.

/// How far ahead one number may be of another and still count as after it. A quarter of the
/// space (RFC 1982 allows half): far more than any window, and a wild value is never "ahead".
pub const AHEAD_LIMIT: u32 = 1 << 30;

/// `a` comes after `b` (and is not equal to it).
#[must_use]
pub fn after(a: u32, b: u32) -> bool {
    let d = a.wrapping_sub(b);
    d != 0 && d < AHEAD_LIMIT
}

/// `a` comes before `b` by the rules of RFC 1982 (more than half the space behind it), as a
/// TSval older than the sender's last one does.
#[must_use]
pub fn older(a: u32, b: u32) -> bool {
    a.wrapping_sub(b) > u32::MAX / 2
}

/// A range of a stream, `start` up to (not including) `end`, both sequence numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// The first sequence number.
    pub start: u32,
    /// One past the last.
    pub end: u32,
}

impl Span {
    /// The span from `start` to `end`.
    #[must_use]
    pub fn new(start: u32, end: u32) -> Span {
        Span { start, end }
    }

    /// `len` bytes from `start`.
    #[must_use]
    pub fn from_len(start: u32, len: usize) -> Span {
        Span::new(start, start.wrapping_add(len as u32))
    }

    /// `x` lies inside.
    #[must_use]
    pub fn contains(&self, x: u32) -> bool {
        x.wrapping_sub(self.start) < self.end.wrapping_sub(self.start)
    }

    /// Nothing left inside (empty, or its end before its start).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        !after(self.end, self.start)
    }

    /// As a pair, for SACK blocks.
    #[must_use]
    pub fn pair(&self) -> (u32, u32) {
        (self.start, self.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_wraps_and_stops_at_a_quarter_of_the_space() {
        assert!(after(5, 3));
        assert!(!after(3, 3));
        assert!(!after(3, 5));
        assert!(after(2, u32::MAX - 1));
        assert!(!after(AHEAD_LIMIT, 0));
        assert!(after(AHEAD_LIMIT - 1, 0));
    }

    #[test]
    fn older_is_more_than_half_the_space_behind() {
        assert!(older(1, 2));
        assert!(!older(2, 1));
        assert!(older(u32::MAX, 0));
        assert!(!older(0, 0));
    }

    #[test]
    fn a_span_holds_what_lies_between_its_ends_across_the_wrap() {
        let s = Span::new(u32::MAX - 1, 3);
        assert!(s.contains(u32::MAX) && s.contains(0) && s.contains(2));
        assert!(!s.contains(3) && !s.contains(u32::MAX - 2));
        assert!(Span::new(7, 7).is_empty());
        assert!(Span::new(8, 7).is_empty());
        assert_eq!(Span::from_len(10, 5), Span::new(10, 15));
    }
}
