//! Map of last-writer-wins registers, with timestamped removals.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt::Debug;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::wire::{self, ReplicaLookup, ReplicaTable, SeqWith, Tabled, WireContext, WireTimestamp};
use crate::{CausalContext, Crdt, Dot, HlcTimestamp};

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
/// Every write is also named by a [`Dot`], and the map keeps the
/// [`CausalContext`] of all writes it has seen, so that
/// [`Crdt::delta_since`] can ship exactly the writes a peer lacks.
///
/// ```
/// use rumor_crdt::{Crdt, Hlc, LwwMap, ReplicaId};
///
/// let mut clock_a = Hlc::new(ReplicaId::from_u128(1));
/// let mut clock_b = Hlc::new(ReplicaId::from_u128(2));
/// let mut a = LwwMap::new();
/// let mut b = LwwMap::new();
///
/// let d1 = a.insert("door", "open", clock_a.now(100));
/// b.join(&d1);
/// let d2 = b.remove(&"door", clock_b.now(105)); // newer: the removal wins
/// let d3 = a.insert("light", "on", clock_a.now(101));
/// a.join(&d2);
/// b.join(&d3);
/// assert_eq!(a.get(&"door"), None);
/// assert_eq!(a.get(&"light"), Some(&"on"));
/// assert_eq!(a, b);
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct LwwMap<K, V> {
    writes: BTreeMap<K, Write<V>>,
    context: CausalContext,
}

impl<K, V> Default for LwwMap<K, V> {
    fn default() -> Self {
        Self {
            writes: BTreeMap::new(),
            context: CausalContext::new(),
        }
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
    /// at once: nothing changes and the delta is empty.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, Hlc, LwwMap, ReplicaId};
    ///
    /// let mut clock = Hlc::new(ReplicaId::from_u128(1));
    /// let (t1, t2) = (clock.now(100), clock.now(200));
    /// let mut map = LwwMap::new();
    /// let delta = map.insert("mode", "auto", t2);
    /// assert_eq!(delta.get(&"mode"), Some(&"auto"));
    /// assert!(map.insert("mode", "manual", t1).is_bottom()); // older: loses at once
    /// assert_eq!(map.get(&"mode"), Some(&"auto"));
    /// ```
    pub fn insert(&mut self, key: K, value: V, ts: HlcTimestamp) -> Self {
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
    /// let old_write = peer.insert("door", "open", HlcTimestamp::new(100, 0, r1));
    /// let mut map = LwwMap::new();
    /// map.remove(&"door", HlcTimestamp::new(200, 0, r2)); // absent here: tombstoned anyway
    /// map.join(&old_write); // the older write arrives late, and loses
    /// assert_eq!((map.get(&"door"), map.tombstones()), (None, 1));
    /// ```
    pub fn remove(&mut self, key: &K, ts: HlcTimestamp) -> Self {
        self.write(key.clone(), None, ts)
    }

    fn write(&mut self, key: K, value: Option<V>, ts: HlcTimestamp) -> Self {
        if self.writes.get(&key).is_some_and(|held| held.ts >= ts) {
            return Self::default();
        }
        let dot = self.context.next_dot(ts.replica);
        let write = Write {
            ts,
            counter: dot.counter,
            value,
        };
        self.context.insert(dot);
        self.writes.insert(key.clone(), write.clone());
        let mut delta = Self::default();
        delta.context.insert(dot);
        delta.writes.insert(key, write);
        delta
    }

    /// The value of `key`, unless absent or removed.
    ///
    /// ```
    /// use rumor_crdt::{Hlc, LwwMap, ReplicaId};
    ///
    /// let mut clock = Hlc::new(ReplicaId::from_u128(1));
    /// let mut map = LwwMap::new();
    /// map.insert("k", 1, clock.now(1));
    /// assert_eq!(map.get(&"k"), Some(&1));
    /// map.remove(&"k", clock.now(2));
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
    /// map.insert("k", 'a', t1);
    /// assert_eq!(map.timestamp(&"k"), Some(t1));
    /// map.remove(&"k", t2);
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
    /// map.insert("k", 'a', clock.now(1));
    /// assert!(map.contains_key(&"k"));
    /// map.remove(&"k", clock.now(2));
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
    /// map.insert("b", 2, clock.now(1));
    /// map.insert("a", 1, clock.now(2));
    /// map.insert("c", 3, clock.now(3));
    /// map.remove(&"c", clock.now(4));
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
    /// map.insert("a", 1, clock.now(1));
    /// map.insert("b", 2, clock.now(2));
    /// map.remove(&"a", clock.now(3));
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
    /// map.insert("a", 1, clock.now(1));
    /// assert!(!map.is_empty());
    /// map.remove(&"a", clock.now(2));
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
    /// map.insert("a", 1, clock.now(1));
    /// map.remove(&"a", clock.now(2));
    /// map.remove(&"never set", clock.now(3));
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
        self.context.join(&other.context);
    }

    fn context(&self) -> Self::Context {
        self.context.clone()
    }

    fn delta_since(&self, seen: &Self::Context) -> Self {
        // Writes are superseded by timestamp, never removed by a context, so
        // the delta's context need only cover what the peer has not seen.
        let writes = self
            .writes
            .iter()
            .filter(|(_, w)| !seen.contains(&w.dot()))
            .map(|(k, w)| (k.clone(), w.clone()))
            .collect();
        Self {
            writes,
            context: self.context.difference(seen),
        }
    }

    fn is_bottom(&self) -> bool {
        self.writes.is_empty() && self.context.is_empty()
    }

    /// Writes are superseded by timestamp only, so `other ≤ self` iff every
    /// write of `other` is matched or beaten here and its context is seen.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, Hlc, LwwMap, ReplicaId};
    ///
    /// let mut clock = Hlc::new(ReplicaId::from_u128(1));
    /// let mut map = LwwMap::new();
    /// let old = map.insert("k", 1, clock.now(1));
    /// let new = map.insert("k", 2, clock.now(2));
    /// assert!(map.includes(&old)); // beaten, yet included: joining it changes nothing
    /// assert!(map.includes(&new) && !old.includes(&new));
    /// ```
    fn includes(&self, other: &Self) -> bool {
        other.writes.iter().all(|(key, theirs)| {
            self.writes
                .get(key)
                .is_some_and(|mine| mine.ts >= theirs.ts)
        }) && other.context.is_subset(&self.context)
    }

    fn missing_from(&self, other: &Self) -> Self {
        self.delta_since(&other.context)
    }

    fn split(&self, parts: usize) -> Vec<Self> {
        crate::crdt::split_dotted(&self.writes, &self.context, parts, |w| [w.dot()])
            .into_iter()
            .map(|(writes, context)| Self { writes, context })
            .collect()
    }
}

type WireBody<K, V> = (WireContext, Vec<(K, WireTimestamp, u64, Option<V>)>);

impl<K: Serialize, V: Serialize> Serialize for LwwMap<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut table = ReplicaTable::default();
        table.add_context(&self.context);
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
        // The writes name their own dots: send only the rest of the context,
        // which keeps a one-write delta's context empty on the wire.
        let named: CausalContext = self.writes.values().map(Write::dot).collect();
        let context = self.context.difference(&named);
        let tabled = Tabled {
            replicas: table.ids(),
            body: (table.context(&context), writes),
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
        let (context, writes) = wire.body;
        let mut context = lookup.context::<D::Error>(context)?;
        wire::ascending::<K, D::Error>(writes.iter().map(|(k, ..)| k))?;
        let mut out = Vec::with_capacity(writes.len());
        for (key, ts, counter, value) in writes {
            let ts = lookup.timestamp::<D::Error>(ts)?;
            let write = Write { ts, counter, value };
            if counter == 0 || context.contains(&write.dot()) {
                return Err(D::Error::custom(
                    "lww map: zero counter, or a write's dot repeated in the context",
                ));
            }
            out.push((key, write));
        }
        wire::distinct_dots::<D::Error>(out.iter().map(|(_, w)| w.dot()).collect())?;
        context.extend(out.iter().map(|(_, w)| w.dot()));
        Ok(Self {
            writes: out.into_iter().collect(),
            context,
        })
    }
}
