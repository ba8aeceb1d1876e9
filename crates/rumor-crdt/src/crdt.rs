//! The [`Crdt`] trait: join, causal summary and exact delta extraction.

use core::fmt::Debug;

/// A state-based, delta-enabled CRDT.
///
/// The states of a type form a join-semilattice: [`Crdt::join`] is the least
/// upper bound, so it is commutative, associative and idempotent, and
/// `Default::default()` is the bottom (the state that has seen nothing).
///
/// Every mutator of an implementing type applies its change to `self` **and
/// returns the delta**, itself a value of the type: joining that delta into
/// any replica that already had the prior state gives the same result as the
/// mutation (`s ⊔ m_δ(s) == m(s)`).
///
/// For anti-entropy, [`Crdt::context`] summarizes what a state has seen and
/// [`Crdt::delta_since`] returns what a peer with a given summary is missing.
/// For all reachable states `a` and `b`:
/// `a ⊔ b.delta_since(&a.context()) == a ⊔ b`.
///
/// ```
/// use rumor_crdt::{Crdt, GCounter, ReplicaId};
///
/// let (r1, r2) = (ReplicaId::from_u128(1), ReplicaId::from_u128(2));
/// let mut a = GCounter::new();
/// let mut b = GCounter::new();
/// a.increment(r1, 2);
/// let delta = b.increment(r2, 5);
///
/// // Ship only what `a` lacks, then join it.
/// let missing = b.delta_since(&a.context());
/// assert_eq!(missing, delta);
/// a.join(&missing);
/// assert_eq!(a.value(), 7);
/// ```
pub trait Crdt: Clone + PartialEq + Default + Debug {
    /// The summary of what a state has seen: the entries for counters, a
    /// [`CausalContext`](crate::CausalContext) for dot-based types.
    type Context: Clone + PartialEq + Default + Debug;

    /// Joins `other` into `self` (least upper bound).
    fn join(&mut self, other: &Self);

    /// What this state has seen.
    fn context(&self) -> Self::Context;

    /// The smallest state that, joined into a replica whose summary is
    /// `seen`, brings it up to `self ⊔ that replica`.
    fn delta_since(&self, seen: &Self::Context) -> Self;

    /// Whether this is the bottom state (an empty delta is not worth sending).
    fn is_bottom(&self) -> bool {
        *self == Self::default()
    }

    /// Whether `self` already reflects everything in `other`
    /// (`other ≤ self`, i.e. `self ⊔ other == self`).
    ///
    /// ```
    /// use rumor_crdt::{Crdt, GCounter, ReplicaId};
    ///
    /// let mut counter = GCounter::new();
    /// let delta = counter.increment(ReplicaId::from_u128(1), 2);
    /// assert!(counter.includes(&delta));
    /// assert!(!GCounter::new().includes(&delta));
    /// ```
    fn includes(&self, other: &Self) -> bool {
        let mut joined = self.clone();
        joined.join(other);
        joined == *self
    }

    /// The part of `self` that `other` is missing:
    /// `self.delta_since(&other.context())`, without copying the context.
    /// Gossip uses it to forward only what a received delta added.
    fn missing_from(&self, other: &Self) -> Self {
        self.delta_since(&other.context())
    }
}
