//! The map from keys to the dots that keep them alive, laid out for joins.

use alloc::vec::Vec;
use core::fmt;
use core::hash::{Hash, Hasher};
use core::mem;

use smallvec::{Array, SmallVec};

/// What a [`DotStore`] maps a key to: the dots (or dot-tagged fragments)
/// that keep the key alive. Empty means the key is absent.
pub(crate) trait DotValue: Default {
    /// Whether no dot is left.
    fn is_empty(&self) -> bool;
}

impl<A: Array> DotValue for SmallVec<A> {
    fn is_empty(&self) -> bool {
        SmallVec::is_empty(self)
    }
}

/// A sorted map from keys to non-empty [`DotValue`]s: the dot store that
/// [`OrSet`](crate::OrSet) (an element's dots) and [`OrMap`](crate::OrMap)
/// (a key's tagged fragments) share.
///
/// The entries sit in chunks of a few kilobytes each, in key order: a B-tree
/// with one level of leaves, each leaf a vector. A join writes whole chunks
/// in one ordered pass, and dropping a store of plain keys frees one
/// allocation per chunk, where a `BTreeMap` of 100k keys was ten thousand
/// nodes to allocate and free (the free alone cost as much as the join). A
/// single insert or removal shifts entries within one chunk only.
///
/// A chunk doubles once it is 75 to 100 % full, and splits at a length of
/// [`DotStore::CHUNK`] to half as much again, both by its store's own
/// phase (see [`DotStore::phase`]): replicas of one state hold the same
/// entries, in the same chunks, and grown by doubling every replica's
/// chunk reallocated at the same insert. A thousand agents in one process
/// all did it in the wave of the same write, and that write was the
/// slowest of every run. For the same reason a merge (which writes new
/// chunks) leaves room by the phase too ([`DotStore::merged_room`]).
#[derive(Clone)]
pub(crate) struct DotStore<K, V> {
    /// Each non-empty, at most [`DotStore::limit`] long (of the store's
    /// phase when the chunk last grew); keys ascending
    /// across all of them.
    chunks: Vec<Vec<(K, V)>>,
    len: usize,
}

impl<K, V> Default for DotStore<K, V> {
    fn default() -> Self {
        Self {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<K, V> DotStore<K, V> {
    /// Entries in a chunk at the least phase's split: about 8 KiB of them.
    const CHUNK: usize = {
        let fit = 8192 / (1 + mem::size_of::<(K, V)>());
        if fit < 16 {
            16
        } else {
            fit
        }
    };

    /// This store's phase, in `0..64`: the mixed bits of its own address.
    /// Replicas holding the same entries differ in nothing else, and the
    /// phase only sizes chunks (never what the store holds): a store that
    /// moves takes a new one, and a run is as reproducible as before.
    fn phase(&self) -> usize {
        let at = core::ptr::from_ref(self).addr() as u64;
        // Fibonacci hashing: the top bits of the product depend on every bit.
        ((at >> 3).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize
    }

    /// The length at which a full chunk of a store of `phase` splits:
    /// [`Self::CHUNK`] to half as much again.
    fn limit(phase: usize) -> usize {
        Self::CHUNK + Self::CHUNK * phase / 128
    }

    /// Room for one more entry in `chunk`, shorter than `limit`: once it is
    /// 75 to 100 % full (by `phase`), its capacity doubles (to `limit` at
    /// most), so that replicas of different phases reallocate at different
    /// inserts even from the same capacity.
    fn make_room(chunk: &mut Vec<(K, V)>, phase: usize, limit: usize) {
        let (len, capacity) = (chunk.len(), chunk.capacity());
        if len >= capacity - capacity * phase / 256 {
            let grown = (2 * capacity).max(4).min(limit).max(len + 1);
            chunk.reserve_exact(grown - len);
        }
    }

    /// The room a merge of up to `keys` keys makes, for a store of `phase`:
    /// past the length at which [`Self::make_room`] would grow the chunk at
    /// the next insert, plus up to a half of `keys` more by the phase
    /// (scrambled: the growth threshold's phase and this one must not
    /// cancel out). Replicas merged to the same keys, sized exactly, were
    /// all full at once and all reallocated at the next insert; now the
    /// first insert that grows the chunk differs between them, and the
    /// room is at most twice the keys and one (one chunk, for large stores).
    fn merged_room(keys: usize, phase: usize) -> usize {
        let full = keys.saturating_mul(256).div_ceil(256 - phase);
        let spread = (phase * 37) % 64;
        full.saturating_add(1)
            .saturating_add(keys.saturating_mul(spread) / 128)
    }

    /// The number of keys.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The keys and their dots, ascending.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        self.chunks.iter().flatten().map(|(k, v)| (k, v))
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &K> + '_ {
        self.iter().map(|(k, _)| k)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.iter().map(|(_, v)| v)
    }

    /// The dots of every key, ascending by key.
    pub(crate) fn into_values(self) -> impl Iterator<Item = V> {
        self.chunks.into_iter().flatten().map(|(_, v)| v)
    }
}

impl<K: Ord, V: DotValue> DotStore<K, V> {
    /// The store of `entries`, which must be ascending by key, distinct, with
    /// non-empty dots.
    pub(crate) fn from_sorted(entries: Vec<(K, V)>) -> Self {
        debug_assert!(entries.windows(2).all(|w| w[0].0 < w[1].0));
        debug_assert!(entries.iter().all(|(_, v)| !v.is_empty()));
        let mut out = Builder::new(entries.len());
        if entries.len() <= Self::CHUNK {
            out.finish_with(entries)
        } else {
            for entry in entries {
                out.push(entry);
            }
            out.finish()
        }
    }

    /// The chunk that holds or would hold `key`, and where in it.
    fn locate(&self, key: &K) -> (usize, Result<usize, usize>) {
        let chunk = self
            .chunks
            .partition_point(|c| c.first().is_some_and(|(k, _)| k <= key))
            .saturating_sub(1);
        match self.chunks.get(chunk) {
            Some(entries) => (chunk, entries.binary_search_by(|(k, _)| k.cmp(key))),
            None => (0, Err(0)),
        }
    }

    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        match self.locate(key) {
            (chunk, Ok(i)) => Some(&self.chunks[chunk][i].1),
            (_, Err(_)) => None,
        }
    }

    pub(crate) fn contains_key(&self, key: &K) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key`'s dots (non-empty); returns the ones they replace.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        debug_assert!(!value.is_empty());
        let phase = self.phase();
        let limit = Self::limit(phase);
        // Keys in ascending order append.
        match self.chunks.last_mut() {
            Some(last) if last.last().is_some_and(|(k, _)| *k < key) => {
                if last.len() < limit {
                    Self::make_room(last, phase, limit);
                    last.push((key, value));
                } else {
                    let mut chunk = Vec::with_capacity(limit);
                    chunk.push((key, value));
                    self.chunks.push(chunk);
                }
                self.len += 1;
                return None;
            }
            None => {
                self.chunks.push(alloc::vec![(key, value)]);
                self.len = 1;
                return None;
            }
            Some(_) => {}
        }
        let (mut chunk, found) = self.locate(&key);
        let mut i = match found {
            Ok(i) => return Some(mem::replace(&mut self.chunks[chunk][i].1, value)),
            Err(i) => i,
        };
        if self.chunks[chunk].len() >= limit {
            let half = self.chunks[chunk].len() / 2;
            let mut tail = Vec::with_capacity(limit);
            tail.extend(self.chunks[chunk].drain(half..));
            self.chunks.insert(chunk + 1, tail);
            if i > half {
                chunk += 1;
                i -= half;
            }
        }
        Self::make_room(&mut self.chunks[chunk], phase, limit);
        self.chunks[chunk].insert(i, (key, value));
        self.len += 1;
        None
    }

    /// Removes `key`; returns its dots.
    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let (chunk, i) = match self.locate(key) {
            (chunk, Ok(i)) => (chunk, i),
            (_, Err(_)) => return None,
        };
        Some(self.remove_at(chunk, i))
    }

    fn remove_at(&mut self, chunk: usize, i: usize) -> V {
        let (_, value) = self.chunks[chunk].remove(i);
        if self.chunks[chunk].is_empty() {
            self.chunks.remove(chunk);
        }
        self.len -= 1;
        value
    }

    /// Applies `f` to `key`'s dots (empty if absent), then keeps the key iff
    /// they are not empty.
    pub(crate) fn upsert(&mut self, key: &K, f: impl FnOnce(&mut V))
    where
        K: Clone,
    {
        match self.locate(key) {
            (chunk, Ok(i)) => {
                f(&mut self.chunks[chunk][i].1);
                if self.chunks[chunk][i].1.is_empty() {
                    self.remove_at(chunk, i);
                }
            }
            (_, Err(_)) => {
                let mut value = V::default();
                f(&mut value);
                if !value.is_empty() {
                    self.insert(key.clone(), value);
                }
            }
        }
    }

    /// Keeps the keys for which `keep` holds and whose dots it leaves
    /// non-empty.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        for chunk in &mut self.chunks {
            chunk.retain_mut(|(k, v)| keep(k, v) && !v.is_empty());
        }
        self.chunks.retain(|chunk| !chunk.is_empty());
        self.len = self.chunks.iter().map(Vec::len).sum();
    }

    /// Joins `other` into `self` in one ordered pass that writes new chunks.
    /// `merge(mine, theirs)` updates a key's dots from the other side's
    /// (`None` if `other` lacks the key; `mine` is empty if I lack it); the
    /// key stays iff they end non-empty.
    pub(crate) fn merge_with(&mut self, other: &Self, mut merge: impl FnMut(&mut V, Option<&V>))
    where
        K: Clone,
    {
        let room = Self::merged_room(self.len + other.len, self.phase());
        let mine = mem::take(self);
        let mut out = Builder::new(room);
        let mut theirs = other.iter().peekable();
        for chunk in mine.chunks {
            for (key, mut value) in chunk {
                while let Some((k2, v2)) = theirs.next_if(|(k2, _)| *k2 < &key) {
                    out.push_theirs(k2, v2, &mut merge);
                }
                let v2 = theirs.next_if(|(k2, _)| *k2 == &key).map(|(_, v2)| v2);
                merge(&mut value, v2);
                if !value.is_empty() {
                    out.push((key, value));
                }
            }
        }
        for (k2, v2) in theirs {
            out.push_theirs(k2, v2, &mut merge);
        }
        *self = out.finish();
    }
}

/// Fills chunks in key order.
struct Builder<K, V> {
    chunks: Vec<Vec<(K, V)>>,
    current: Vec<(K, V)>,
    len: usize,
    /// At most this many entries are still to come: a small store's one
    /// chunk is no larger than it needs to be.
    room: usize,
}

impl<K, V> Builder<K, V> {
    /// A builder for at most `len` entries.
    fn new(len: usize) -> Self {
        Self {
            chunks: Vec::with_capacity(len.div_ceil(DotStore::<K, V>::CHUNK)),
            current: Vec::new(),
            len: 0,
            room: len,
        }
    }

    fn push(&mut self, entry: (K, V)) {
        let chunk = DotStore::<K, V>::CHUNK;
        if self.current.len() == chunk {
            let next = Vec::with_capacity(chunk.min(self.room));
            self.chunks.push(mem::replace(&mut self.current, next));
        } else if self.current.capacity() == 0 {
            self.current.reserve_exact(chunk.min(self.room));
        }
        self.current.push(entry);
        self.len += 1;
        self.room = self.room.saturating_sub(1);
    }

    /// Pushes a key only the other side of a join has, with the dots that
    /// `merge` keeps of `theirs`.
    fn push_theirs(&mut self, key: &K, theirs: &V, merge: &mut impl FnMut(&mut V, Option<&V>))
    where
        K: Clone,
        V: DotValue,
    {
        let mut added = V::default();
        merge(&mut added, Some(theirs));
        if !added.is_empty() {
            self.push((key.clone(), added));
        }
    }

    fn finish(mut self) -> DotStore<K, V> {
        if !self.current.is_empty() {
            self.chunks.push(self.current);
        }
        DotStore {
            chunks: self.chunks,
            len: self.len,
        }
    }

    /// The store of one chunk, `entries`, after nothing was pushed.
    fn finish_with(mut self, entries: Vec<(K, V)>) -> DotStore<K, V> {
        debug_assert!(self.len == 0);
        self.len = entries.len();
        self.current = entries;
        self.finish()
    }
}

impl<K: PartialEq, V: PartialEq> PartialEq for DotStore<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl<K: Eq, V: Eq> Eq for DotStore<K, V> {}

impl<K: Hash, V: Hash> Hash for DotStore<K, V> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.len.hash(state);
        for entry in self.iter() {
            entry.hash(state);
        }
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for DotStore<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Ord, V: DotValue> FromIterator<(K, V)> for DotStore<K, V> {
    /// As a `BTreeMap` collects: a later entry of a key replaces an earlier
    /// one. Entries with empty dots are left out.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut entries: Vec<(K, V)> = iter.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        if !entries.windows(2).all(|w| w[0].0 < w[1].0) {
            // After a stable sort of the reversed list, the first of each run
            // of equal keys is the one given last: the one kept.
            entries.reverse();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            entries.dedup_by(|later, earlier| later.0 == earlier.0);
        }
        Self::from_sorted(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;

    type Value = SmallVec<[u32; 2]>;

    /// Seeded xorshift: the same operations on every run.
    struct Dice(u64);

    impl Dice {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    fn check(store: &DotStore<u64, Value>, model: &BTreeMap<u64, Value>) {
        assert_eq!(store.len(), model.len());
        assert!(store.iter().eq(model.iter()));
        assert!(store.chunks.iter().all(|c| !c.is_empty()));
        let limit = DotStore::<u64, Value>::limit(store.phase());
        assert!(store.chunks.iter().all(|c| c.len() <= limit));
    }

    fn capacity(store: &DotStore<u64, Value>) -> usize {
        store.chunks.iter().map(Vec::capacity).sum()
    }

    /// Replicas hold the same entries, inserted in the same order. Grown by
    /// doubling, every replica's chunk reallocated at the same insert (the
    /// 10th, 19th, 37th, 73rd... after a join had sized it to 9), and a
    /// thousand agents in one process paid for it in the same write's wave.
    /// Stores at different addresses grow at different inserts, by a factor
    /// of 2 to 3: a few reallocations each, the memory at most three times
    /// the entries.
    #[test]
    fn stores_of_the_same_keys_grow_their_chunks_at_different_inserts() {
        const STORES: usize = 64;
        let mut stores: Vec<DotStore<u64, Value>> = (0..STORES)
            .map(|_| (0..9).map(|k| (k << 40, smallvec::smallvec![0])).collect())
            .collect();
        let mut dice = Dice(0x2545_F491_4F6C_DD1D);
        let mut grew_at: BTreeMap<usize, usize> = BTreeMap::new();
        let mut grown = [0usize; STORES];
        for n in 0..2_000usize {
            let key = dice.below(1 << 50);
            for (store, grown) in stores.iter_mut().zip(&mut grown) {
                let before = capacity(store);
                assert_eq!(store.insert(key, smallvec::smallvec![1]), None);
                if capacity(store) != before {
                    *grew_at.entry(n).or_default() += 1;
                    *grown += 1;
                }
            }
        }
        let (at, most) = grew_at.iter().max_by_key(|(_, s)| **s).expect("some grew");
        assert!(
            *most <= STORES / 3,
            "{most} of {STORES} stores reallocated at insert {at}"
        );
        for (store, grown) in stores.iter().zip(grown) {
            let entries = store.len();
            assert_eq!(entries, 2_009);
            assert!(
                capacity(store) <= 3 * entries,
                "{} for {entries}",
                capacity(store)
            );
            // Each chunk's growths to the split, and the splits.
            let chunks = store.chunks.len();
            assert!(
                grown <= 8 * chunks,
                "{grown} reallocations for {chunks} chunks"
            );
        }
    }

    /// Replicas grow from one-key deltas as an `OrSet` joins them: a delta
    /// at least an eighth of the store is merged (a new chunk, no larger
    /// than the keys need), a smaller one inserted. Sized exactly by the
    /// last merge, every replica's chunk was full at the same key and
    /// reallocated at the next insert (a swarm's 10th claim, at all 1,000
    /// agents in that write's wave). A merge leaves room by the store's
    /// phase, so the first insert to grow the chunk differs too.
    #[test]
    fn stores_grown_by_joins_of_one_key_grow_their_chunks_at_different_inserts() {
        const STORES: usize = 64;
        let mut stores: Vec<DotStore<u64, Value>> =
            (0..STORES).map(|_| DotStore::default()).collect();
        let mut dice = Dice(0x5851_F42D_4C95_7F2D);
        let mut grew_at: BTreeMap<usize, usize> = BTreeMap::new();
        let take = |mine: &mut Value, theirs: Option<&Value>| {
            if let Some(t) = theirs.filter(|_| mine.is_empty()) {
                *mine = t.clone();
            }
        };
        let mut merged = 0;
        for n in 0..200usize {
            let key = dice.below(1 << 50);
            let delta = DotStore::from_sorted(alloc::vec![(key, smallvec::smallvec![1])]);
            for store in &mut stores {
                if delta.len() * 8 >= store.len() {
                    store.merge_with(&delta, take);
                    merged = n;
                    continue;
                }
                let before = capacity(store);
                assert_eq!(store.insert(key, smallvec::smallvec![1]), None);
                if capacity(store) != before {
                    *grew_at.entry(n).or_default() += 1;
                }
            }
        }
        assert!(merged >= 8, "the first keys are merged");
        let (at, most) = grew_at.iter().max_by_key(|(_, s)| **s).expect("some grew");
        assert!(
            *most <= STORES / 2,
            "{most} of {STORES} stores reallocated at insert {at} (the last merge at {merged})"
        );
        for store in &stores {
            assert_eq!(store.len(), 200);
            assert!(capacity(store) <= 3 * store.len(), "{}", capacity(store));
        }
    }

    /// Random inserts, removals, updates, retains and merges over many
    /// chunks (so chunks split, empty and are rebuilt) agree with a
    /// `BTreeMap` at every step.
    #[test]
    fn every_operation_agrees_with_a_btree_map() {
        let mut dice = Dice(0x9E37_79B9_7F4A_7C15);
        for round in 0..20 {
            let range = [50, 1_000, 5_000][round % 3];
            let mut store: DotStore<u64, Value> = DotStore::default();
            let mut model: BTreeMap<u64, Value> = BTreeMap::new();
            for step in 0..4_000u32 {
                let key = dice.below(range);
                let value: Value = smallvec::smallvec![step];
                match dice.below(100) {
                    0..=49 => {
                        assert_eq!(store.insert(key, value.clone()), model.insert(key, value))
                    }
                    50..=69 => assert_eq!(store.remove(&key), model.remove(&key)),
                    70..=89 => {
                        let clear = dice.below(3) == 0;
                        let f = |v: &mut Value| {
                            if clear {
                                v.clear();
                            } else {
                                v.push(step);
                            }
                        };
                        store.upsert(&key, f);
                        let mut v = model.remove(&key).unwrap_or_default();
                        f(&mut v);
                        if !v.is_empty() {
                            model.insert(key, v);
                        }
                    }
                    90..=94 => {
                        let m = dice.below(7) + 2;
                        store.retain(|k, _| k % m != 0);
                        model.retain(|k, _| k % m != 0);
                    }
                    _ => {
                        let other: BTreeMap<u64, Value> = (0..dice.below(range))
                            .map(|_| (dice.below(range), smallvec::smallvec![step]))
                            .collect();
                        let theirs: DotStore<u64, Value> = other.clone().into_iter().collect();
                        // Keep mine where both have the key, drop keys
                        // divisible by 3 that only I have, add theirs.
                        let merge = |mine: &mut Value, theirs: Option<&Value>| match theirs {
                            Some(t) if mine.is_empty() => *mine = t.clone(),
                            Some(_) => {}
                            None => {
                                if mine.first().is_some_and(|x| x % 3 == 0) {
                                    mine.clear();
                                }
                            }
                        };
                        store.merge_with(&theirs, merge);
                        let mut joined = BTreeMap::new();
                        for k in model.keys().chain(other.keys()) {
                            let mut v = model.get(k).cloned().unwrap_or_default();
                            merge(&mut v, other.get(k));
                            if !v.is_empty() {
                                joined.insert(*k, v);
                            }
                        }
                        model = joined;
                    }
                }
                assert_eq!(store.get(&key), model.get(&key));
                if step % 97 == 0 {
                    check(&store, &model);
                }
            }
            check(&store, &model);
            let collected: DotStore<u64, Value> = model.clone().into_iter().rev().collect();
            assert_eq!(collected, store);
        }
    }
}
