//! Grow-only counter.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;

use serde::de::{self, MapAccess, Visitor};
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
    ///
    /// ```
    /// use rumor_crdt::{Crdt, GCounter};
    ///
    /// let counter = GCounter::new();
    /// assert_eq!(counter.value(), 0);
    /// assert!(counter.is_bottom());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `amount` on behalf of `replica` and returns the delta (that
    /// replica's new entry). The entry saturates at `u64::MAX`.
    ///
    /// ```
    /// use rumor_crdt::{GCounter, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut counter = GCounter::new();
    /// counter.increment(r, 2);
    /// let delta = counter.increment(r, 3);
    /// assert_eq!(delta.get(r), 5); // the new entry, not the amount
    /// counter.increment(r, u64::MAX);
    /// assert_eq!(counter.value(), u64::MAX); // saturates
    /// ```
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
    ///
    /// ```
    /// use rumor_crdt::{GCounter, ReplicaId};
    ///
    /// let mut counter = GCounter::new();
    /// counter.increment(ReplicaId::from_u128(1), 2);
    /// counter.increment(ReplicaId::from_u128(2), 3);
    /// assert_eq!(counter.value(), 5);
    /// ```
    #[must_use]
    pub fn value(&self) -> u64 {
        self.entries
            .values()
            .fold(0u64, |sum, &n| sum.saturating_add(n))
    }

    /// The count contributed by `replica`.
    ///
    /// ```
    /// use rumor_crdt::{GCounter, ReplicaId};
    ///
    /// let (r1, r2) = (ReplicaId::from_u128(1), ReplicaId::from_u128(2));
    /// let mut counter = GCounter::new();
    /// counter.increment(r1, 2);
    /// counter.increment(r1, 2);
    /// assert_eq!((counter.get(r1), counter.get(r2)), (4, 0));
    /// ```
    #[must_use]
    pub fn get(&self, replica: ReplicaId) -> u64 {
        self.entries.get(&replica).copied().unwrap_or(0)
    }

    /// The per-replica entries, by replica.
    ///
    /// ```
    /// use rumor_crdt::{GCounter, ReplicaId};
    ///
    /// let (r1, r2) = (ReplicaId::from_u128(1), ReplicaId::from_u128(2));
    /// let mut counter = GCounter::new();
    /// counter.increment(r2, 5);
    /// counter.increment(r1, 1);
    /// assert_eq!(counter.entries().collect::<Vec<_>>(), [(r1, 1), (r2, 5)]);
    /// ```
    pub fn entries(&self) -> impl Iterator<Item = (ReplicaId, u64)> + '_ {
        self.entries.iter().map(|(r, n)| (*r, *n))
    }
}

impl Crdt for GCounter {
    type Context = GCounter;

    /// One ordered pass over both maps when `other` is not much smaller
    /// (replicas only `other` has are inserted after it); a lookup per
    /// entry of a small `other`, such as a one-entry delta.
    fn join(&mut self, other: &Self) {
        if other.entries.len().saturating_mul(4) < self.entries.len() {
            for (replica, &theirs) in &other.entries {
                let mine = self.entries.entry(*replica).or_insert(0);
                *mine = (*mine).max(theirs);
            }
            return;
        }
        let mut theirs = other.entries.iter().peekable();
        let mut only_theirs = Vec::new();
        for (replica, mine) in &mut self.entries {
            while let Some(entry) = theirs.next_if(|(r, _)| *r < replica) {
                only_theirs.push(entry);
            }
            if let Some((_, &n)) = theirs.next_if(|(r, _)| *r == replica) {
                *mine = (*mine).max(n);
            }
        }
        only_theirs.extend(theirs);
        self.entries
            .extend(only_theirs.into_iter().map(|(r, &n)| (*r, n)));
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

    /// Each entry is its replica's write (the count it reached); a zero
    /// entry, which no mutator makes and the decoder refuses, writes nothing.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, GCounter, ReplicaId};
    ///
    /// let (me, you) = (ReplicaId::from_u128(1), ReplicaId::from_u128(2));
    /// let mut counter = GCounter::new();
    /// let delta = counter.increment(me, 2);
    /// assert!(delta.authored_only_by(me) && !delta.authored_only_by(you));
    /// ```
    fn authored_only_by(&self, author: ReplicaId) -> bool {
        self.entries.iter().all(|(r, &n)| n == 0 || *r == author)
    }

    fn split(&self, parts: usize) -> Vec<Self> {
        let entries: Vec<(ReplicaId, u64)> = self.entries.iter().map(|(r, n)| (*r, *n)).collect();
        entries
            .chunks(crate::crdt::chunk_len(entries.len(), parts))
            .map(|chunk| Self {
                entries: chunk.iter().copied().collect(),
            })
            .collect()
    }
}

/// Decodes the canonical form only, the one `Serialize` writes: replicas
/// strictly ascending (so none twice) and no zero entry (`increment` never
/// makes one). A map that repeats a replica would otherwise decode with the
/// last count winning, and one value would have several encodings.
impl<'de> Deserialize<'de> for GCounter {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(CanonicalEntries)
    }
}

/// Reads a [`GCounter`]'s entries, refusing a non-canonical form.
struct CanonicalEntries;

impl<'de> Visitor<'de> for CanonicalEntries {
    type Value = GCounter;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of replica ids to non-zero counts, replicas strictly ascending")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<GCounter, A::Error> {
        let mut entries = BTreeMap::new();
        let mut last: Option<ReplicaId> = None;
        while let Some((replica, count)) = map.next_entry::<ReplicaId, u64>()? {
            if count == 0 {
                return Err(de::Error::custom("g-counter: zero entry"));
            }
            if last.is_some_and(|last| last >= replica) {
                return Err(de::Error::custom(
                    "g-counter: replicas not strictly ascending",
                ));
            }
            last = Some(replica);
            entries.insert(replica, count);
        }
        Ok(GCounter { entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both ways of joining (one ordered pass, lookups for a small other)
    /// take each replica's larger count, whichever side lacks the replica.
    #[test]
    fn join_takes_the_larger_count_of_every_replica() {
        let mut seed = 0x2545_F491_4F6C_DD1D_u64;
        let mut below = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..500 {
            let mut sides = [GCounter::new(), GCounter::new()];
            for side in &mut sides {
                for _ in 0..below(12) {
                    let replica = ReplicaId::from_u128(u128::from(below(10)));
                    side.increment(replica, below(5) + 1);
                }
            }
            let [a, b] = sides;
            let mut joined = a.clone();
            joined.join(&b);
            for r in 0..10 {
                let replica = ReplicaId::from_u128(r);
                assert_eq!(joined.get(replica), a.get(replica).max(b.get(replica)));
            }
            assert!(joined.entries().all(|(r, _)| a.get(r) > 0 || b.get(r) > 0));
        }
    }
}
