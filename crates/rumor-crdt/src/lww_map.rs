//! Map of last-writer-wins registers, with timestamped removals.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt::Debug;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::wire::{self, ReplicaLookup, ReplicaTable, SeqWith, Tabled, WireDot, WireTimestamp};
use crate::{CausalContext, Crdt, Dot, HlcTimestamp, ReplicaId, Superseded};

/// One key's latest write: a value, or a removal (tombstone).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct Write<V> {
    ts: HlcTimestamp,
    /// The write's dot is `(ts.replica, counter)`.
    counter: u64,
    value: Option<V>,
}

impl<V> Write<V> {
    fn dot(&self) -> Dot {
        Dot::new(self.ts.replica, self.counter)
    }
}

/// A map whose every key is a last-writer-wins register, ordered by
/// [`HlcTimestamp`]. A removal is a write too (a tombstone with a timestamp):
/// it beats an older concurrent write and loses to a newer one.
///
/// Every write is also named by a [`Dot`]. The map's [`Crdt::context`] is
/// the set of dots of the writes it **holds** (one per key), so that
/// [`Crdt::delta_since`] ships exactly the writes a peer does not hold. A
/// context never claims an overwritten write: a peer that holds an older
/// write for a key, or none, is always sent the newer one, whatever pieces
/// of deltas it received before (see [`Crdt::split`]).
///
/// The timestamp's replica is the writer: each replica stamps its writes with
/// its own [`Hlc`](crate::Hlc). Two replicas that stamp writes with the same
/// replica id take the same dots, and a peer holding one of two such writes
/// is never sent the other.
///
/// ```
/// use rumor_crdt::{Crdt, Hlc, LwwMap, ReplicaId};
///
/// let mut clock_a = Hlc::new(ReplicaId::from_u128(1));
/// let mut clock_b = Hlc::new(ReplicaId::from_u128(2));
/// let mut a = LwwMap::new();
/// let mut b = LwwMap::new();
///
/// let d1 = a.insert("door", "open", clock_a.now(100)).unwrap();
/// b.join(&d1);
/// let d2 = b.remove(&"door", clock_b.now(105)).unwrap(); // newer: the removal wins
/// let d3 = a.insert("light", "on", clock_a.now(101)).unwrap();
/// a.join(&d2);
/// b.join(&d3);
/// assert_eq!(a.get(&"door"), None);
/// assert_eq!(a.get(&"light"), Some(&"on"));
/// assert_eq!(a, b);
/// ```
#[derive(Clone, Debug)]
pub struct LwwMap<K, V> {
    writes: BTreeMap<K, Write<V>>,
    /// The highest dot counter seen of each replica, in writes held or
    /// overwritten: a writer never reuses the dot of one of its writes that
    /// another write has since overwritten. Local bookkeeping, not part of
    /// the value (`==` ignores it); the encoding carries the counters that
    /// the held writes do not show, so that a state restored from its
    /// encoding keeps them.
    counters: BTreeMap<ReplicaId, u64>,
}

impl<K, V> Default for LwwMap<K, V> {
    fn default() -> Self {
        Self {
            writes: BTreeMap::new(),
            counters: BTreeMap::new(),
        }
    }
}

/// Two maps are equal when they hold the same writes.
impl<K: PartialEq, V: PartialEq> PartialEq for LwwMap<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.writes == other.writes
    }
}

impl<K: Eq, V: Eq> Eq for LwwMap<K, V> {}

impl<K: core::hash::Hash, V: core::hash::Hash> core::hash::Hash for LwwMap<K, V> {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.writes.hash(state);
    }
}

impl<K, V> LwwMap<K, V> {
    /// The next dot of `replica`: above every write of it seen here.
    fn next_dot(&self, replica: ReplicaId) -> Dot {
        let seen = self.counters.get(&replica).copied().unwrap_or(0);
        Dot::new(replica, seen.saturating_add(1))
    }

    /// Records that `counter` of `replica` was seen.
    fn saw(&mut self, replica: ReplicaId, counter: u64) {
        let seen = self.counters.entry(replica).or_insert(0);
        *seen = (*seen).max(counter);
    }
}

impl<K: Ord + Clone, V: Clone> LwwMap<K, V> {
    /// An empty map.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, LwwMap};
    ///
    /// let map: LwwMap<String, u32> = LwwMap::new();
    /// assert!(map.is_empty() && map.is_bottom());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value` at time `ts` (the writer is `ts.replica`) and
    /// returns the delta. A write not newer than the key's current one loses
    /// at once: nothing changes, and the error says which write won. Stamp
    /// writes with the replica's [`Hlc`](crate::Hlc) after it observed what
    /// the replica received (a gossip node does it: `Node::timestamp`), and
    /// a local write always wins.
    ///
    /// ```
    /// use rumor_crdt::{Hlc, LwwMap, ReplicaId, Superseded};
    ///
    /// let mut clock = Hlc::new(ReplicaId::from_u128(1));
    /// let (t1, t2) = (clock.now(100), clock.now(200));
    /// let mut map = LwwMap::new();
    /// let delta = map.insert("mode", "auto", t2)?;
    /// assert_eq!(delta.get(&"mode"), Some(&"auto"));
    /// let lost = map.insert("mode", "manual", t1); // older: loses at once
    /// assert_eq!(lost, Err(Superseded { held: t2, attempted: t1 }));
    /// assert_eq!(map.get(&"mode"), Some(&"auto"));
    /// # Ok::<(), Superseded>(())
    /// ```
    ///
    /// # Errors
    /// [`Superseded`] if `key` holds a write (value or removal) at least as
    /// new.
    pub fn insert(&mut self, key: K, value: V, ts: HlcTimestamp) -> Result<Self, Superseded> {
        self.write(key, Some(value), ts)
    }

    /// Removes `key` at time `ts` by writing a tombstone, and returns the
    /// delta. The tombstone is written even if the key is absent here, so that
    /// it also beats older writes this replica has not seen yet.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, HlcTimestamp, LwwMap, ReplicaId};
    ///
    /// let (r1, r2) = (ReplicaId::from_u128(1), ReplicaId::from_u128(2));
    /// let mut peer = LwwMap::new();
    /// let old_write = peer.insert("door", "open", HlcTimestamp::new(100, 0, r1)).unwrap();
    /// let mut map = LwwMap::new();
    /// map.remove(&"door", HlcTimestamp::new(200, 0, r2)).unwrap(); // absent here: tombstoned anyway
    /// map.join(&old_write); // the older write arrives late, and loses
    /// assert_eq!((map.get(&"door"), map.tombstones()), (None, 1));
    /// ```
    ///
    /// # Errors
    /// [`Superseded`] if `key` holds a write at least as new.
    pub fn remove(&mut self, key: &K, ts: HlcTimestamp) -> Result<Self, Superseded> {
        self.write(key.clone(), None, ts)
    }

    fn write(&mut self, key: K, value: Option<V>, ts: HlcTimestamp) -> Result<Self, Superseded> {
        if let Some(held) = self.writes.get(&key).filter(|held| held.ts >= ts) {
            return Err(Superseded {
                held: held.ts,
                attempted: ts,
            });
        }
        let dot = self.next_dot(ts.replica);
        let write = Write {
            ts,
            counter: dot.counter,
            value,
        };
        self.saw(dot.replica, dot.counter);
        self.writes.insert(key.clone(), write.clone());
        let mut delta = Self::default();
        delta.writes.insert(key, write);
        Ok(delta)
    }

    /// The value of `key`, unless absent or removed.
    ///
    /// ```
    /// use rumor_crdt::{Hlc, LwwMap, ReplicaId};
    ///
    /// let mut clock = Hlc::new(ReplicaId::from_u128(1));
    /// let mut map = LwwMap::new();
    /// map.insert("k", 1, clock.now(1)).unwrap();
    /// assert_eq!(map.get(&"k"), Some(&1));
    /// map.remove(&"k", clock.now(2)).unwrap();
    /// assert_eq!(map.get(&"k"), None);
    /// ```
    #[must_use]
    pub fn get(&self, key: &K) -> Option<&V> {
        self.writes.get(key).and_then(|w| w.value.as_ref())
    }

    /// The timestamp of the latest write (value or removal) of `key`.
    ///
    /// ```
    /// use rumor_crdt::{Hlc, LwwMap, ReplicaId};
    ///
    /// let mut clock = Hlc::new(ReplicaId::from_u128(1));
    /// let (t1, t2) = (clock.now(1), clock.now(2));
    /// let mut map = LwwMap::new();
    /// map.insert("k", 'a', t1).unwrap();
    /// assert_eq!(map.timestamp(&"k"), Some(t1));
    /// map.remove(&"k", t2).unwrap();
    /// assert_eq!(map.timestamp(&"k"), Some(t2)); // a removal has a timestamp too
    /// assert_eq!(map.timestamp(&"other"), None);
    /// ```
    #[must_use]
    pub fn timestamp(&self, key: &K) -> Option<HlcTimestamp> {
        self.writes.get(key).map(|w| w.ts)
    }

    /// Whether `key` has a value.
    ///
    /// ```
    /// use rumor_crdt::{Hlc, LwwMap, ReplicaId};
    ///
    /// let mut clock = Hlc::new(ReplicaId::from_u128(1));
    /// let mut map = LwwMap::new();
    /// map.insert("k", 'a', clock.now(1)).unwrap();
    /// assert!(map.contains_key(&"k"));
    /// map.remove(&"k", clock.now(2)).unwrap();
    /// assert!(!map.contains_key(&"k")); // a tombstone is not a value
    /// ```
    #[must_use]
    pub fn contains_key(&self, key: &K) -> bool {
        self.get(key).is_some()
    }

    /// The live (not removed) entries, by key.
    ///
    /// ```
    /// use rumor_crdt::{Hlc, LwwMap, ReplicaId};
    ///
    /// let mut clock = Hlc::new(ReplicaId::from_u128(1));
    /// let mut map = LwwMap::new();
    /// map.insert("b", 2, clock.now(1)).unwrap();
    /// map.insert("a", 1, clock.now(2)).unwrap();
    /// map.insert("c", 3, clock.now(3)).unwrap();
    /// map.remove(&"c", clock.now(4)).unwrap();
    /// assert_eq!(map.iter().collect::<Vec<_>>(), [(&"a", &1), (&"b", &2)]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        self.writes
            .iter()
            .filter_map(|(k, w)| w.value.as_ref().map(|v| (k, v)))
    }

    /// The number of live entries.
    ///
    /// ```
    /// use rumor_crdt::{Hlc, LwwMap, ReplicaId};
    ///
    /// let mut clock = Hlc::new(ReplicaId::from_u128(1));
    /// let mut map = LwwMap::new();
    /// map.insert("a", 1, clock.now(1)).unwrap();
    /// map.insert("b", 2, clock.now(2)).unwrap();
    /// map.remove(&"a", clock.now(3)).unwrap();
    /// assert_eq!(map.len(), 1); // tombstones do not count
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.writes.values().filter(|w| w.value.is_some()).count()
    }

    /// Whether there is no live entry.
    ///
    /// ```
    /// use rumor_crdt::{Hlc, LwwMap, ReplicaId};
    ///
    /// let mut clock = Hlc::new(ReplicaId::from_u128(1));
    /// let mut map = LwwMap::new();
    /// assert!(map.is_empty());
    /// map.insert("a", 1, clock.now(1)).unwrap();
    /// assert!(!map.is_empty());
    /// map.remove(&"a", clock.now(2)).unwrap();
    /// assert!(map.is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of tombstones held (removals not yet pruned).
    ///
    /// ```
    /// use rumor_crdt::{Hlc, LwwMap, ReplicaId};
    ///
    /// let mut clock = Hlc::new(ReplicaId::from_u128(1));
    /// let mut map = LwwMap::new();
    /// map.insert("a", 1, clock.now(1)).unwrap();
    /// map.remove(&"a", clock.now(2)).unwrap();
    /// map.remove(&"never set", clock.now(3)).unwrap();
    /// assert_eq!((map.len(), map.tombstones()), (0, 2));
    /// ```
    #[must_use]
    pub fn tombstones(&self) -> usize {
        self.writes.values().filter(|w| w.value.is_none()).count()
    }
}

impl<K: Ord + Clone + Debug, V: Clone + PartialEq + Debug> Crdt for LwwMap<K, V> {
    type Context = CausalContext;

    fn join(&mut self, other: &Self) {
        for (key, theirs) in &other.writes {
            match self.writes.get_mut(key) {
                Some(mine) if mine.ts >= theirs.ts => {}
                Some(mine) => *mine = theirs.clone(),
                None => {
                    self.writes.insert(key.clone(), theirs.clone());
                }
            }
        }
        for (&replica, &counter) in &other.counters {
            self.saw(replica, counter);
        }
    }

    /// The counters it carries: those of the writes it holds and those it
    /// only saw (its next dot is past all of them).
    fn advances_within(&self, known: &Self, bound: crate::Advance) -> bool {
        self.counters.iter().all(|(replica, &counter)| {
            let mine = known.counters.get(replica).copied().unwrap_or(0);
            bound.admits(mine, counter)
        })
    }

    /// The dots of the writes held, one per key: never a dot of an
    /// overwritten write, which a peer could take for the newer one.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, Dot, HlcTimestamp, LwwMap, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut map = LwwMap::new();
    /// map.insert("k", 1, HlcTimestamp::new(100, 0, r)).unwrap(); // dot (r, 1)
    /// map.insert("k", 2, HlcTimestamp::new(200, 0, r)).unwrap(); // dot (r, 2) overwrites it
    /// let seen = map.context();
    /// assert!(seen.contains(&Dot::new(r, 2)) && !seen.contains(&Dot::new(r, 1)));
    /// ```
    fn context(&self) -> Self::Context {
        self.writes.values().map(Write::dot).collect()
    }

    /// The writes whose dots `seen` lacks. Writes are superseded by
    /// timestamp, never removed by a context, so nothing else is needed.
    fn delta_since(&self, seen: &Self::Context) -> Self {
        let mut delta = Self::default();
        for (key, write) in &self.writes {
            if !seen.contains(&write.dot()) {
                delta.saw(write.ts.replica, write.counter);
                delta.writes.insert(key.clone(), write.clone());
            }
        }
        delta
    }

    /// Raises the per-replica counters only (local bookkeeping): the map's
    /// value and context are unchanged.
    fn observe_dots(&mut self, seen: &CausalContext) {
        for replica in seen.replicas() {
            self.saw(replica, seen.max(replica));
        }
    }

    fn last_dot(&self, replica: ReplicaId) -> u64 {
        self.next_dot(replica).counter.saturating_sub(1)
    }

    fn is_bottom(&self) -> bool {
        self.writes.is_empty()
    }

    /// Every write held, values and removals (tombstones) alike: a removal
    /// here is a timestamped write that beats older ones, so it names its
    /// writer too (its timestamp's replica, which is also its dot's). The
    /// per-replica counters are local bookkeeping, not writes (the map's
    /// value ignores them), so they are not checked.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, Hlc, LwwMap, ReplicaId};
    ///
    /// let (me, you) = (ReplicaId::from_u128(1), ReplicaId::from_u128(2));
    /// let mut theirs = LwwMap::new();
    /// theirs.insert("door", "open", Hlc::new(you).now(100)).unwrap();
    /// let mut mine = theirs.clone();
    /// let removal = mine.remove(&"door", Hlc::new(me).now(200)).unwrap();
    /// assert!(removal.authored_only_by(me) && !removal.authored_only_by(you));
    /// assert!(!theirs.authored_only_by(me));
    /// ```
    fn authored_only_by(&self, author: ReplicaId) -> bool {
        self.writes.values().all(|w| w.ts.replica == author)
    }

    fn latest_timestamp(&self) -> Option<HlcTimestamp> {
        self.writes.values().map(|w| w.ts).max()
    }

    /// Writes are superseded by timestamp only, so `other ≤ self` iff every
    /// write of `other` is matched or beaten here.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, Hlc, LwwMap, ReplicaId};
    ///
    /// let mut clock = Hlc::new(ReplicaId::from_u128(1));
    /// let mut map = LwwMap::new();
    /// let old = map.insert("k", 1, clock.now(1)).unwrap();
    /// let new = map.insert("k", 2, clock.now(2)).unwrap();
    /// assert!(map.includes(&old)); // beaten, yet included: joining it changes nothing
    /// assert!(map.includes(&new) && !old.includes(&new));
    /// ```
    fn includes(&self, other: &Self) -> bool {
        other.writes.iter().all(|(key, theirs)| {
            self.writes
                .get(key)
                .is_some_and(|mine| mine.ts >= theirs.ts)
        })
    }

    /// `self.delta_since(&other.context())`, found key by key: the writes
    /// whose dot `other` does not hold under the same key.
    fn missing_from(&self, other: &Self) -> Self {
        let mut delta = Self::default();
        for (key, write) in &self.writes {
            if other
                .writes
                .get(key)
                .is_none_or(|theirs| theirs.dot() != write.dot())
            {
                delta.saw(write.ts.replica, write.counter);
                delta.writes.insert(key.clone(), write.clone());
            }
        }
        delta
    }

    /// Chunks of the writes. Each piece is a valid delta on its own: it
    /// holds whole writes and claims nothing else, so joining any subset of
    /// the pieces anywhere never hides a write from later repairs.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, HlcTimestamp, LwwMap, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let ts = |ms| HlcTimestamp::new(ms, 0, r);
    /// let (mut a, mut b, mut c) = (LwwMap::new(), LwwMap::new(), LwwMap::new());
    /// b.join(&a.insert("a", 1, ts(100)).unwrap());
    /// a.insert("a", 2, ts(200)).unwrap();
    /// a.insert("z", 3, ts(300)).unwrap();
    /// let pieces = a.split(2);
    /// c.join(&pieces[1]); // the piece with a = 2 is lost
    /// c.join(&b.delta_since(&c.context()));
    /// assert_eq!(c.get(&"a"), Some(&1)); // b still repairs what c lacks
    /// ```
    fn split(&self, parts: usize) -> Vec<Self> {
        let items: Vec<(&K, &Write<V>)> = self.writes.iter().collect();
        items
            .chunks(crate::crdt::chunk_len(items.len(), parts))
            .map(|chunk| {
                let mut piece = Self::default();
                for &(key, write) in chunk {
                    piece.saw(write.ts.replica, write.counter);
                    piece.writes.insert(key.clone(), write.clone());
                }
                piece
            })
            .collect()
    }
}

/// Wire form of the body: the counters the writes do not show, as
/// `(replica index, counter)` ascending by replica (almost always empty),
/// then the writes ascending by key.
type WireBody<K, V> = (Vec<WireDot>, Vec<(K, WireTimestamp, u64, Option<V>)>);

impl<K, V> LwwMap<K, V> {
    /// The highest counter of each replica among the held writes, ascending
    /// by replica. (Sorted in a vector rather than built into a map: this
    /// runs at every encoding of the state, digests included.)
    fn held_counters(&self) -> Vec<(ReplicaId, u64)> {
        let mut held: Vec<(ReplicaId, u64)> = self
            .writes
            .values()
            .map(|w| (w.ts.replica, w.counter))
            .collect();
        held.sort_unstable_by_key(|&(replica, counter)| (replica.as_u128(), counter));
        // Each replica's counters ascend: keep its last, the highest.
        held.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1 = later.1;
            }
            same
        });
        held
    }

    /// The counters the held writes do not show.
    fn hidden_counters(&self) -> impl Iterator<Item = Dot> + '_ {
        let held = self.held_counters();
        self.counters
            .iter()
            .filter(move |&(r, c)| {
                held.binary_search_by_key(&r.as_u128(), |(h, _)| h.as_u128())
                    .map_or(true, |i| held[i].1 < *c)
            })
            .map(|(&r, &c)| Dot::new(r, c))
    }
}

impl<K: Serialize, V: Serialize> Serialize for LwwMap<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let hidden: Vec<Dot> = self.hidden_counters().collect();
        let mut table = ReplicaTable::default();
        for dot in &hidden {
            table.add(dot.replica);
        }
        for w in self.writes.values() {
            table.add(w.ts.replica);
        }
        table.finish();
        let table = &table;
        let writes = SeqWith(|| {
            self.writes
                .iter()
                .map(|(k, w)| (k, table.timestamp(w.ts), w.counter, &w.value))
        });
        let hidden = SeqWith(|| hidden.iter().map(|d| table.dot(*d)));
        let tabled = Tabled {
            replicas: table.ids(),
            body: (hidden, writes),
        };
        tabled.serialize(serializer)
    }
}

impl<'de, K, V> Deserialize<'de> for LwwMap<K, V>
where
    K: Deserialize<'de> + Ord,
    V: Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let wire = Tabled::<WireBody<K, V>>::deserialize(deserializer)?;
        let lookup = ReplicaLookup::new::<D::Error>(wire.replicas)?;
        let (hidden, writes) = wire.body;
        wire::ascending::<K, D::Error>(writes.iter().map(|(k, ..)| k))?;
        let mut out = Vec::with_capacity(writes.len());
        for (key, ts, counter, value) in writes {
            let ts = lookup.timestamp::<D::Error>(ts)?;
            if counter == 0 {
                return Err(D::Error::custom("lww map: zero counter"));
            }
            out.push((key, Write { ts, counter, value }));
        }
        wire::distinct_dots::<D::Error>(out.iter().map(|(_, w)| w.dot()).collect())?;
        let mut map = Self {
            writes: out.into_iter().collect(),
            counters: BTreeMap::new(),
        };
        map.counters = map.held_counters().into_iter().collect();
        let mut prev = None;
        for wire_dot in hidden {
            let dot = lookup.dot::<D::Error>(wire_dot)?;
            if prev.is_some_and(|p| p >= dot.replica) {
                return Err(D::Error::custom(
                    "lww map: counters not ascending by replica",
                ));
            }
            prev = Some(dot.replica);
            if map
                .counters
                .get(&dot.replica)
                .is_some_and(|&held| held >= dot.counter)
            {
                return Err(D::Error::custom(
                    "lww map: a counter the writes already show",
                ));
            }
            map.counters.insert(dot.replica, dot.counter);
        }
        Ok(map)
    }
}
