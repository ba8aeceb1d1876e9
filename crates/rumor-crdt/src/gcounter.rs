//! Grow-only counter.

use alloc::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use crate::{Crdt, ReplicaId};

/// A grow-only counter: one monotonic entry per replica, the value is their
/// sum. Its causal summary is itself (the per-replica entries).
///
/// ```
/// use rumor_crdt::{Crdt, GCounter, ReplicaId};
///
/// let (r1, r2) = (ReplicaId::from_u128(1), ReplicaId::from_u128(2));
/// let mut a = GCounter::new();
/// let mut b = GCounter::new();
/// let d1 = a.increment(r1, 3);
/// let d2 = b.increment(r2, 4);
///
/// // Deltas can arrive in any order, any number of times.
/// a.join(&d2);
/// a.join(&d2);
/// b.join(&d1);
/// assert_eq!(a, b);
/// assert_eq!(a.value(), 7);
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default, Debug, Serialize)]
#[serde(transparent)]
pub struct GCounter {
    entries: BTreeMap<ReplicaId, u64>,
}

impl GCounter {
    /// A counter at zero.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `amount` on behalf of `replica` and returns the delta (that
    /// replica's new entry). The entry saturates at `u64::MAX`.
    pub fn increment(&mut self, replica: ReplicaId, amount: u64) -> Self {
        if amount == 0 {
            return Self::default();
        }
        let entry = self.entries.entry(replica).or_insert(0);
        *entry = entry.saturating_add(amount);
        let mut delta = Self::default();
        delta.entries.insert(replica, *entry);
        delta
    }

    /// The counter's value: the sum of all entries, saturating at `u64::MAX`.
    #[must_use]
    pub fn value(&self) -> u64 {
        self.entries
            .values()
            .fold(0u64, |sum, &n| sum.saturating_add(n))
    }

    /// The count contributed by `replica`.
    #[must_use]
    pub fn get(&self, replica: ReplicaId) -> u64 {
        self.entries.get(&replica).copied().unwrap_or(0)
    }

    /// The per-replica entries, by replica.
    pub fn entries(&self) -> impl Iterator<Item = (ReplicaId, u64)> + '_ {
        self.entries.iter().map(|(r, n)| (*r, *n))
    }
}

impl Crdt for GCounter {
    type Context = GCounter;

    fn join(&mut self, other: &Self) {
        for (replica, &theirs) in &other.entries {
            let mine = self.entries.entry(*replica).or_insert(0);
            *mine = (*mine).max(theirs);
        }
    }

    fn context(&self) -> Self::Context {
        self.clone()
    }

    fn delta_since(&self, seen: &Self::Context) -> Self {
        let entries = self
            .entries
            .iter()
            .filter(|(replica, &n)| n > seen.get(**replica))
            .map(|(r, n)| (*r, *n))
            .collect();
        Self { entries }
    }

    fn is_bottom(&self) -> bool {
        self.entries.is_empty()
    }

    fn includes(&self, other: &Self) -> bool {
        other.entries.iter().all(|(r, &n)| self.get(*r) >= n)
    }

    fn missing_from(&self, other: &Self) -> Self {
        self.delta_since(other)
    }
}

impl<'de> Deserialize<'de> for GCounter {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = BTreeMap::<ReplicaId, u64>::deserialize(deserializer)?;
        // Zero entries are never created by `increment`; keep the form canonical.
        if entries.values().any(|&n| n == 0) {
            return Err(serde::de::Error::custom("g-counter: zero entry"));
        }
        Ok(Self { entries })
    }
}
