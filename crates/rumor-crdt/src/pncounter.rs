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

    /// Increments minus decrements.
    ///
    /// ```
    /// let mut c = rumor_crdt::PnCounter::new();
    /// c.decrement(rumor_crdt::ReplicaId::from_u128(1), 5);
    /// assert_eq!(c.value(), -5);
    /// ```
    #[must_use]
    pub fn value(&self) -> i128 {
        i128::from(self.increments.value()) - i128::from(self.decrements.value())
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

    fn split(&self, parts: usize) -> Vec<Self> {
        // Both halves are cut into pieces of the same length, then paired up.
        let (p, n) = (
            self.increments.entries().count(),
            self.decrements.entries().count(),
        );
        let each = crate::crdt::chunk_len(p + n, parts);
        let mut ups = self.increments.split(p.div_ceil(each)).into_iter();
        let mut downs = self.decrements.split(n.div_ceil(each)).into_iter();
        let mut out = Vec::new();
        loop {
            let piece = Self {
                increments: ups.next().unwrap_or_default(),
                decrements: downs.next().unwrap_or_default(),
            };
            if piece.is_bottom() {
                return out;
            }
            out.push(piece);
        }
    }
}
