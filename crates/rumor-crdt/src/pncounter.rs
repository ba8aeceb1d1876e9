//! Increment/decrement counter.

use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::{Crdt, GCounter, ReplicaId};

/// A counter that goes up and down: two [`GCounter`]s, one for increments and
/// one for decrements. Its causal summary is itself.
///
/// ```
/// use rumor_crdt::{Crdt, PnCounter, ReplicaId};
///
/// let (r1, r2) = (ReplicaId::from_u128(1), ReplicaId::from_u128(2));
/// let mut a = PnCounter::new();
/// let mut b = PnCounter::new();
/// let d1 = a.increment(r1, 10);
/// let d2 = b.decrement(r2, 3);
/// a.join(&d2);
/// b.join(&d1);
/// assert_eq!(a.value(), 7);
/// assert_eq!(a, b);
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default, Debug, Serialize, Deserialize)]
pub struct PnCounter {
    increments: GCounter,
    decrements: GCounter,
}

impl PnCounter {
    /// A counter at zero.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, PnCounter};
    ///
    /// let counter = PnCounter::new();
    /// assert_eq!(counter.value(), 0);
    /// assert!(counter.is_bottom());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `amount` on behalf of `replica`; returns the delta.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, PnCounter, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut counter = PnCounter::new();
    /// let delta = counter.increment(r, 4);
    /// assert_eq!(counter.value(), 4);
    /// assert_eq!(delta.increments().get(r), 4);
    /// assert!(delta.decrements().is_bottom());
    /// ```
    pub fn increment(&mut self, replica: ReplicaId, amount: u64) -> Self {
        Self {
            increments: self.increments.increment(replica, amount),
            decrements: GCounter::default(),
        }
    }

    /// Subtracts `amount` on behalf of `replica`; returns the delta.
    ///
    /// ```
    /// use rumor_crdt::{PnCounter, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut counter = PnCounter::new();
    /// counter.increment(r, 10);
    /// let delta = counter.decrement(r, 3);
    /// assert_eq!(counter.value(), 7);
    /// assert_eq!(delta.value(), -3);
    /// ```
    pub fn decrement(&mut self, replica: ReplicaId, amount: u64) -> Self {
        Self {
            increments: GCounter::default(),
            decrements: self.decrements.increment(replica, amount),
        }
    }

    /// Increments minus decrements, exactly: each half is summed in `i128`,
    /// not through [`GCounter::value`] (which saturates at `u64::MAX`).
    /// Only each replica's own entry saturates, at `u64::MAX`.
    ///
    /// ```
    /// use rumor_crdt::{PnCounter, ReplicaId};
    ///
    /// let (r1, r2) = (ReplicaId::from_u128(1), ReplicaId::from_u128(2));
    /// let mut c = PnCounter::new();
    /// c.decrement(r1, 5);
    /// assert_eq!(c.value(), -5);
    /// c.increment(r1, u64::MAX);
    /// c.increment(r2, 10);
    /// assert_eq!(c.value(), i128::from(u64::MAX) + 5);
    /// ```
    #[must_use]
    pub fn value(&self) -> i128 {
        exact_sum(&self.increments) - exact_sum(&self.decrements)
    }

    /// The grow-only counter of increments.
    ///
    /// ```
    /// use rumor_crdt::{PnCounter, ReplicaId};
    ///
    /// let (r1, r2) = (ReplicaId::from_u128(1), ReplicaId::from_u128(2));
    /// let mut counter = PnCounter::new();
    /// counter.increment(r1, 5);
    /// counter.decrement(r2, 2);
    /// assert_eq!(counter.increments().value(), 5);
    /// assert_eq!(counter.increments().get(r2), 0);
    /// ```
    #[must_use]
    pub fn increments(&self) -> &GCounter {
        &self.increments
    }

    /// The grow-only counter of decrements.
    ///
    /// ```
    /// use rumor_crdt::{PnCounter, ReplicaId};
    ///
    /// let (r1, r2) = (ReplicaId::from_u128(1), ReplicaId::from_u128(2));
    /// let mut counter = PnCounter::new();
    /// counter.increment(r1, 5);
    /// counter.decrement(r2, 2);
    /// assert_eq!(counter.decrements().value(), 2); // a count, not negative
    /// assert_eq!(counter.decrements().get(r1), 0);
    /// ```
    #[must_use]
    pub fn decrements(&self) -> &GCounter {
        &self.decrements
    }
}

/// The sum of a counter's entries. Exact: overflowing `i128` would take
/// 2^63 replicas at `u64::MAX`, so the saturation is only there to never
/// panic.
fn exact_sum(counter: &GCounter) -> i128 {
    counter
        .entries()
        .fold(0i128, |sum, (_, n)| sum.saturating_add(i128::from(n)))
}

impl Crdt for PnCounter {
    type Context = PnCounter;

    fn join(&mut self, other: &Self) {
        self.increments.join(&other.increments);
        self.decrements.join(&other.decrements);
    }

    fn context(&self) -> Self::Context {
        self.clone()
    }

    fn delta_since(&self, seen: &Self::Context) -> Self {
        Self {
            increments: self.increments.delta_since(&seen.increments),
            decrements: self.decrements.delta_since(&seen.decrements),
        }
    }

    fn is_bottom(&self) -> bool {
        self.increments.is_bottom() && self.decrements.is_bottom()
    }

    fn includes(&self, other: &Self) -> bool {
        self.increments.includes(&other.increments) && self.decrements.includes(&other.decrements)
    }

    fn missing_from(&self, other: &Self) -> Self {
        self.delta_since(other)
    }

    /// Both halves: an increment and a decrement are both writes.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, PnCounter, ReplicaId};
    ///
    /// let (me, you) = (ReplicaId::from_u128(1), ReplicaId::from_u128(2));
    /// let mut counter = PnCounter::new();
    /// let down = counter.decrement(me, 2);
    /// assert!(down.authored_only_by(me) && !down.authored_only_by(you));
    /// ```
    fn authored_only_by(&self, author: ReplicaId) -> bool {
        self.increments.authored_only_by(author) && self.decrements.authored_only_by(author)
    }

    /// Chunks of the entries of both halves (an increment entry and a
    /// decrement entry are two entries): each piece a counter of its own.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, PnCounter, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut counter = PnCounter::new();
    /// counter.increment(r, 5);
    /// counter.decrement(r, 2);
    /// let pieces = counter.split(2);
    /// assert_eq!(pieces.len(), 2);
    /// let mut joined = PnCounter::new();
    /// pieces.iter().for_each(|p| joined.join(p));
    /// assert_eq!(joined, counter);
    /// ```
    fn split(&self, parts: usize) -> Vec<Self> {
        let entries: Vec<(bool, ReplicaId, u64)> = self
            .increments
            .entries()
            .map(|(r, n)| (true, r, n))
            .chain(self.decrements.entries().map(|(r, n)| (false, r, n)))
            .collect();
        entries
            .chunks(crate::crdt::chunk_len(entries.len(), parts))
            .map(|chunk| {
                let mut piece = Self::default();
                for &(up, replica, n) in chunk {
                    let _ = if up {
                        piece.increments.increment(replica, n)
                    } else {
                        piece.decrements.increment(replica, n)
                    };
                }
                piece
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 14, item 9: `value` saturated each half at `u64::MAX` before
    /// subtracting, so the documented `i128` was not exact.
    #[test]
    fn value_is_exact_past_u64_max() {
        let (r1, r2, r3) = (
            ReplicaId::from_u128(1),
            ReplicaId::from_u128(2),
            ReplicaId::from_u128(3),
        );
        let mut counter = PnCounter::new();
        counter.increment(r1, u64::MAX);
        counter.increment(r2, 4);
        assert_eq!(counter.value(), i128::from(u64::MAX) + 4);
        counter.decrement(r1, u64::MAX);
        counter.decrement(r3, u64::MAX);
        assert_eq!(counter.value(), 4 - i128::from(u64::MAX));
    }
}
