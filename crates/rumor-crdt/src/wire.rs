//! Compact wire forms shared by the dot-based types: replica ids are written
//! once in a table and referred to by index, so that a dot costs a few varint
//! bytes instead of a 16-byte UUID.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize, Serializer};

use crate::context::Ranges;
use crate::{CausalContext, Dot, HlcTimestamp, ReplicaId};

/// Assigns table indices to replica ids while encoding: every replica is
/// added, then [`finish`](Self::finish) sorts them, and a replica's index is
/// its place in id order, found by binary search. (A `BTreeMap` from id to
/// index took most of the time of encoding a state of 1,000 writers: a
/// search per dot, twice, since sequences are walked once to count them.)
#[derive(Default)]
pub(crate) struct ReplicaTable {
    /// The replicas added; sorted and without duplicates once finished.
    ids: Vec<ReplicaId>,
}

impl ReplicaTable {
    pub(crate) fn add(&mut self, replica: ReplicaId) {
        self.ids.push(replica);
    }

    /// Sorts and deduplicates, so that indices follow id order; call after
    /// the last `add` and before the first lookup.
    pub(crate) fn finish(&mut self) {
        // By the id as a number: the ids' own order (a UUID's bytes, big
        // end first), in one comparison rather than a 16-byte `memcmp`.
        self.ids.sort_unstable_by_key(ReplicaId::as_u128);
        self.ids.dedup();
    }

    /// The index of `replica`, `u32::MAX` for one never added.
    pub(crate) fn index(&self, replica: ReplicaId) -> u32 {
        self.ids
            .binary_search_by_key(&replica.as_u128(), ReplicaId::as_u128)
            .ok()
            .and_then(|i| u32::try_from(i).ok())
            .unwrap_or(u32::MAX)
    }

    pub(crate) fn ids(&self) -> Vec<ReplicaId> {
        self.ids.clone()
    }

    pub(crate) fn add_context(&mut self, ctx: &CausalContext) {
        self.ids.extend(ctx.replicas());
    }

    /// The wire form of `ctx` ([`WireContext`]), written straight from the
    /// context: same bytes as the vector, without building it.
    pub(crate) fn context<'a>(&'a self, ctx: &'a CausalContext) -> impl Serialize + 'a {
        SeqWith(move || {
            ctx.iter_replica_ranges()
                .map(|(replica, ranges)| (self.index(replica), SeqWith(|| ranges.to_wire())))
        })
    }

    pub(crate) fn dot(&self, dot: Dot) -> WireDot {
        (self.index(dot.replica), dot.counter)
    }

    /// [`dot`](Self::dot), looked up only when serialized: the counting
    /// walk of a sequence that does not know its length ([`SeqWith`])
    /// then does no lookup.
    pub(crate) const fn lazy_dot(&self, dot: Dot) -> LazyDot<'_> {
        LazyDot(self, dot)
    }

    pub(crate) fn timestamp(&self, ts: HlcTimestamp) -> WireTimestamp {
        (ts.wall_ms, ts.logical, self.index(ts.replica))
    }
}

/// `(replica index, counter)`.
pub(crate) type WireDot = (u32, u64);

/// `(wall_ms, logical, replica index)`.
pub(crate) type WireTimestamp = (u64, u32, u32);
/// `[(replica index, [(start, end - start)])]`.
pub(crate) type WireContext = Vec<(u32, Vec<(u64, u64)>)>;

/// A dot serialized as its [`WireDot`] ([`ReplicaTable::lazy_dot`]).
pub(crate) struct LazyDot<'a>(&'a ReplicaTable, Dot);

impl Serialize for LazyDot<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.dot(self.1).serialize(serializer)
    }
}

/// Serializes the items of the iterators `make` returns as a sequence,
/// without collecting them: bincode writes the length first, so `make` is
/// called twice, once to count and once to write, unless its iterator
/// knows its exact length (a map over a collection's iterator does).
pub(crate) struct SeqWith<F>(pub(crate) F);

impl<F, I> Serialize for SeqWith<F>
where
    F: Fn() -> I,
    I: Iterator,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let len = match (self.0)().size_hint() {
            (low, Some(high)) if low == high => low,
            _ => (self.0)().count(),
        };
        debug_assert_eq!(len, (self.0)().count(), "a size hint that lied");
        let mut seq = serializer.serialize_seq(Some(len))?;
        for item in (self.0)() {
            seq.serialize_element(&item)?;
        }
        seq.end()
    }
}

/// Resolves table indices while decoding untrusted input.
pub(crate) struct ReplicaLookup(Vec<ReplicaId>);

impl ReplicaLookup {
    pub(crate) fn new<E: serde::de::Error>(ids: Vec<ReplicaId>) -> Result<Self, E> {
        if ids.windows(2).any(|w| w[0] >= w[1]) {
            return Err(E::custom("replica table not strictly ascending"));
        }
        Ok(Self(ids))
    }

    pub(crate) fn replica<E: serde::de::Error>(&self, index: u32) -> Result<ReplicaId, E> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.0.get(i))
            .copied()
            .ok_or_else(|| E::custom("replica index out of range"))
    }

    pub(crate) fn dot<E: serde::de::Error>(&self, (index, counter): WireDot) -> Result<Dot, E> {
        if counter == 0 {
            return Err(E::custom("dot counter 0"));
        }
        Ok(Dot::new(self.replica(index)?, counter))
    }

    pub(crate) fn timestamp<E: serde::de::Error>(
        &self,
        (wall_ms, logical, index): WireTimestamp,
    ) -> Result<HlcTimestamp, E> {
        Ok(HlcTimestamp::new(wall_ms, logical, self.replica(index)?))
    }

    pub(crate) fn context<E: serde::de::Error>(
        &self,
        wire: WireContext,
    ) -> Result<CausalContext, E> {
        let mut replicas = BTreeMap::new();
        let mut prev: Option<u32> = None;
        for (index, pairs) in wire {
            if prev.is_some_and(|p| p >= index) {
                return Err(E::custom("context replicas not strictly ascending"));
            }
            prev = Some(index);
            let ranges = Ranges::from_wire(&pairs).map_err(E::custom)?;
            replicas.insert(self.replica(index)?, ranges);
        }
        Ok(CausalContext::from_replica_ranges(replicas))
    }
}

/// Checks that keys arrive strictly ascending, so a decoded map is canonical.
pub(crate) fn ascending<'a, K: Ord + 'a, E: serde::de::Error>(
    keys: impl IntoIterator<Item = &'a K>,
) -> Result<(), E> {
    let mut prev: Option<&K> = None;
    for key in keys {
        if prev.is_some_and(|p| p >= key) {
            return Err(E::custom("keys not strictly ascending"));
        }
        prev = Some(key);
    }
    Ok(())
}

/// Checks that no dot names two writes: joins (and removals) assume a dot
/// stands for exactly one element or key.
pub(crate) fn distinct_dots<E: serde::de::Error>(mut dots: Vec<Dot>) -> Result<(), E> {
    dots.sort_unstable();
    if dots.windows(2).any(|w| w[0] == w[1]) {
        return Err(E::custom("one dot names two writes"));
    }
    Ok(())
}

/// Serde helper: a replica table followed by the body that refers to it.
#[derive(Serialize, Deserialize)]
pub(crate) struct Tabled<B> {
    pub(crate) replicas: Vec<ReplicaId>,
    pub(crate) body: B,
}
