//! [`Advance`]: how far past what a replica knows a counter received from
//! elsewhere may run.

/// A bound on counters that arrive from other replicas: dot counters,
/// incarnations, sequence numbers. A claimed counter is admitted if it is
/// not past what the receiver already knows of the same origin, or if it is
/// at most `step` past it and below `ceiling`.
///
/// One message can then move an origin's counter by at most `step`, and no
/// number of messages can bring it near the end of `u64`: a writer whose
/// next dot is `max + 1` never saturates into reusing a dot, and a member
/// can always outlive a claim about itself with a higher incarnation.
///
/// ```
/// use rumor_crdt::Advance;
///
/// let bound = Advance { step: 100, ceiling: 1 << 62 };
/// assert!(bound.admits(5, 105)); // a step of 100
/// assert!(!bound.admits(5, 106)); // too far ahead of what is known
/// assert!(!bound.admits(u64::MAX - 1, u64::MAX)); // at the end of the range
/// assert!(bound.admits(7, 3)); // behind: no advance at all
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Advance {
    /// How far past the receiver's knowledge one claim may go.
    pub step: u64,
    /// No claim at or above this is admitted (unless it is no advance).
    pub ceiling: u64,
}

impl Advance {
    /// Whether `claimed` may be taken from a peer by a receiver that knows
    /// `known` of the same origin.
    #[must_use]
    pub const fn admits(self, known: u64, claimed: u64) -> bool {
        claimed <= known || (claimed < self.ceiling && claimed - known <= self.step)
    }
}
