//! Observed-remove map of nested CRDTs: add-wins keys, one causal context.

use alloc::collections::BTreeSet;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::Debug;
use core::mem;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use smallvec::{smallvec, SmallVec};

use crate::context::ContextProbe;
use crate::dot_store::DotStore;
use crate::wire::{self, ReplicaLookup, ReplicaTable, SeqWith, Tabled, WireContext, WireDot};
use crate::{CausalContext, Crdt, Dot, ReplicaId};

/// One key's fragments: each nested update's delta, under the dot (its
/// *tag*) that names the update; ascending by tag, never empty in a map.
///
/// A fragment never changes once written (but for the join of two copies
/// of one tag that differ, which only a dishonest peer makes), so it is
/// shared, not copied: a join, a delta or a clone of the map takes a
/// reference to each fragment it keeps, and the usual one or two fragments
/// of a key sit inline. (Each fragment copied was a nested value's
/// allocations, and the key's vector one more: most of a large join's time,
/// and of dropping the other map after it.)
type Fragments<C> = SmallVec<[(Dot, Arc<C>); 2]>;

/// An add-wins map from keys to nested CRDTs (Almeida et al.'s map of dot
/// stores, for any nested [`Crdt`]).
///
/// A key's value is not stored as one `C` but as the **fragments** that made
/// it: every [`OrMap::update`] applies a nested delta mutator to the key's
/// value and keeps the nested delta it returns, tagged with a fresh [`Dot`]
/// of the map's [`CausalContext`]. The value is the join of the key's
/// fragments ([`OrMap::get`]). Fragments behave as the dots of an
/// [`OrSet`](crate::OrSet): [`OrMap::remove`] drops the fragments it has
/// observed and keeps only their tags in the context, so a join drops them
/// everywhere, while a fragment written concurrently (a tag the remover never
/// saw) survives. Removing a key removes exactly what the remover had
/// observed; an update concurrent with the removal survives, as in Riak's
/// and Akka's maps.
///
/// **One causal context.** Dot-based values inside the map (an
/// [`OrSet`](crate::OrSet), an [`MvRegister`](crate::MvRegister), another
/// `OrMap`) draw their dots from the map's context: before a nested
/// mutation the map raises a copy of the value to its own context
/// ([`Crdt::observe_dots`]), and the update's tag is the last dot the nested
/// delta took ([`Crdt::last_dot`]). So a nested add and the fragment holding
/// it share one dot, a value rebuilt after its key was removed never reuses
/// a dot, and the context stays one range per writer.
///
/// **Nested counters and LWW values** keep their own summaries (a counter
/// its entries, a register its timestamp) inside their fragments; the map's
/// context only names the fragments. A fragment is the nested delta: for a
/// [`GCounter`](crate::GCounter) the writer's entry, for an
/// [`LwwRegister`](crate::LwwRegister) the write. An update replaces the
/// key's fragments that its delta includes (a counter's older entry of the
/// same writer, an older register write, an OR-Set element it re-adds or
/// removes), so a key holds about one fragment per writer for a counter,
/// one for a register, one per element for a set. A counter key that is
/// removed while another replica increments it comes back with that
/// replica's entry: a G-Counter delta carries the writer's whole count, so
/// what survives is the concurrent writer's count, not just its increment.
///
/// ```
/// use rumor_crdt::{Crdt, GCounter, OrMap, OrSet, ReplicaId};
///
/// let (r1, r2) = (ReplicaId::from_u128(1), ReplicaId::from_u128(2));
/// let mut a: OrMap<&str, OrSet<&str>> = OrMap::new();
/// a.update(r1, "fruit", |set| set.insert(r1, "apple"));
/// let mut b = a.clone();
///
/// let removal = a.remove(&"fruit"); // removes what a saw...
/// let add = b.update(r2, "fruit", |set| set.insert(r2, "pear")); // ...concurrently
/// a.join(&add);
/// b.join(&removal);
/// assert_eq!(a, b);
/// let fruit = a.get(&"fruit").unwrap();
/// assert_eq!(fruit.iter().collect::<Vec<_>>(), [&"pear"]); // the concurrent add survives
///
/// // Counters inside a map: the delta of one increment is one small fragment.
/// let mut hits: OrMap<u32, GCounter> = OrMap::new();
/// let delta = hits.update(r1, 7, |c| c.increment(r1, 3));
/// assert_eq!(delta.get(&7).map(|c| c.value()), Some(3));
/// ```
#[derive(Clone, PartialEq, Debug)]
pub struct OrMap<K, C> {
    entries: DotStore<K, Fragments<C>>,
    context: CausalContext,
    /// The live tags whose update replaced older fragments of their key
    /// (the OR-Set's re-adds): [`Crdt::split`] keeps them with the removal
    /// of what they replaced. A property of the tag, the same everywhere.
    replacing: BTreeSet<Dot>,
}

impl<K, C> Default for OrMap<K, C> {
    fn default() -> Self {
        Self {
            entries: DotStore::default(),
            context: CausalContext::new(),
            replacing: BTreeSet::new(),
        }
    }
}

/// The join of `fragments` (bottom if none).
fn joined<'a, C: Crdt + 'a>(fragments: impl IntoIterator<Item = &'a C>) -> C {
    let mut value = C::default();
    for fragment in fragments {
        value.join(fragment);
    }
    value
}

impl<K: Ord + Clone, C: Crdt> OrMap<K, C> {
    /// An empty map.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, GCounter, OrMap};
    ///
    /// let map: OrMap<String, GCounter> = OrMap::new();
    /// assert!(map.is_empty() && map.is_bottom());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies the nested delta mutator `mutate` to `key`'s value (bottom if
    /// absent) on behalf of `replica`, and returns the map's delta: the
    /// nested delta under a fresh tag, with a context that covers the tag
    /// and the key's fragments the nested delta replaces. `mutate` gets a
    /// copy of the value raised to the map's context, and must return the
    /// delta of the mutators it called (not the value). A bottom nested
    /// delta changes nothing.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, GCounter, OrMap, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut map: OrMap<&str, GCounter> = OrMap::new();
    /// map.update(r, "visits", |c| c.increment(r, 1));
    /// let delta = map.update(r, "visits", |c| c.increment(r, 1));
    /// assert_eq!(map.get(&"visits").unwrap().value(), 2);
    /// assert_eq!(map.dots(&"visits").count(), 1); // the newer entry replaced the older
    /// assert_eq!(delta.context().dot_count(), 2); // its tag, and the one it replaced
    /// assert!(map.update(r, "visits", |c| c.increment(r, 0)).is_bottom());
    /// ```
    pub fn update(&mut self, replica: ReplicaId, key: K, mutate: impl FnOnce(&mut C) -> C) -> Self {
        let fragments = self.entries.get(&key).map_or(&[][..], |f| f.as_slice());
        let mut value = joined(fragments.iter().map(|(_, c)| &**c));
        value.observe_dots(&self.context);
        let nested = mutate(&mut value);
        if nested.is_bottom() {
            return Self::default();
        }
        let first = self.context.max(replica).saturating_add(1);
        let tag = Dot::new(replica, first.max(value.last_dot(replica)));
        let mut context = CausalContext::new();
        context.insert_range(replica, first..=tag.counter);
        let (nested, replaced, rest) = replace(nested, fragments);
        // A nested delta that only removes what it replaces (an OR-Set
        // removal: dots the map's context already holds) is not kept: the
        // map's context carries the removal.
        let mut rest = rest;
        rest.observe_dots(&self.context);
        let keep = !rest.includes(&nested);
        if !keep && replaced.is_empty() {
            return Self::default();
        }
        context.extend(replaced.iter().copied());
        self.context.join(&context);
        let mut delta = Self {
            entries: DotStore::default(),
            context,
            replacing: BTreeSet::new(),
        };
        for d in &replaced {
            self.replacing.remove(d);
        }
        let nested = keep.then(|| Arc::new(nested));
        self.entries.upsert(&key, |entry| {
            entry.retain(|(d, _)| !replaced.contains(d));
            if let Some(nested) = &nested {
                let at = entry.partition_point(|(d, _)| *d < tag);
                entry.insert(at, (tag, Arc::clone(nested)));
            }
        });
        if let Some(nested) = nested {
            if !replaced.is_empty() {
                self.replacing.insert(tag);
                delta.replacing.insert(tag);
            }
            delta.entries = DotStore::from_sorted(alloc::vec![(key, smallvec![(tag, nested)])]);
        }
        delta
    }

    /// Removes `key` and returns the delta: no entries, and a context of the
    /// tags of the fragments removed. Updates concurrent with the removal
    /// survive it; removing an absent key changes nothing.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, OrMap, OrSet, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut map: OrMap<u8, OrSet<u8>> = OrMap::new();
    /// let add = map.update(r, 1, |s| s.insert(r, 10));
    /// let mut peer = add.clone();
    /// let removal = map.remove(&1);
    /// peer.join(&removal);
    /// assert!(!peer.contains_key(&1) && removal.is_empty());
    /// assert!(map.remove(&1).is_bottom()); // already gone: nothing to send
    /// ```
    pub fn remove(&mut self, key: &K) -> Self {
        match self.entries.remove(key) {
            Some(fragments) => {
                for (d, _) in &fragments {
                    self.replacing.remove(d);
                }
                Self {
                    entries: DotStore::default(),
                    context: fragments.iter().map(|(d, _)| *d).collect(),
                    replacing: BTreeSet::new(),
                }
            }
            None => Self::default(),
        }
    }

    /// The value of `key`: the join of its fragments (`None` if absent).
    ///
    /// ```
    /// use rumor_crdt::{GCounter, OrMap, ReplicaId};
    ///
    /// let (r1, r2) = (ReplicaId::from_u128(1), ReplicaId::from_u128(2));
    /// let mut map: OrMap<&str, GCounter> = OrMap::new();
    /// map.update(r1, "k", |c| c.increment(r1, 2));
    /// map.update(r2, "k", |c| c.increment(r2, 3));
    /// assert_eq!(map.get(&"k").map(|c| c.value()), Some(5));
    /// assert_eq!(map.get(&"other"), None);
    /// ```
    #[must_use]
    pub fn get(&self, key: &K) -> Option<C> {
        self.entries
            .get(key)
            .map(|fragments| joined(fragments.iter().map(|(_, c)| &**c)))
    }

    /// Whether `key` is in the map.
    ///
    /// ```
    /// use rumor_crdt::{GCounter, OrMap, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut map: OrMap<u8, GCounter> = OrMap::new();
    /// map.update(r, 1, |c| c.increment(r, 1));
    /// assert!(map.contains_key(&1) && !map.contains_key(&2));
    /// ```
    #[must_use]
    pub fn contains_key(&self, key: &K) -> bool {
        self.entries.contains_key(key)
    }

    /// The tags of `key`'s fragments, ascending (none if absent).
    ///
    /// ```
    /// use rumor_crdt::{Dot, GCounter, OrMap, ReplicaId};
    ///
    /// let (r1, r2) = (ReplicaId::from_u128(1), ReplicaId::from_u128(2));
    /// let mut map: OrMap<u8, GCounter> = OrMap::new();
    /// map.update(r1, 1, |c| c.increment(r1, 1));
    /// map.update(r2, 1, |c| c.increment(r2, 1)); // another writer: another fragment
    /// assert_eq!(map.dots(&1).collect::<Vec<_>>(), [Dot::new(r1, 1), Dot::new(r2, 1)]);
    /// ```
    pub fn dots(&self, key: &K) -> impl Iterator<Item = Dot> + '_ {
        self.entries
            .get(key)
            .into_iter()
            .flat_map(|fragments| fragments.iter().map(|(d, _)| *d))
    }

    /// Whether the live tag `dot` names an update that replaced older
    /// fragments of its key (see [`Crdt::split`]).
    ///
    /// ```
    /// use rumor_crdt::{Dot, GCounter, OrMap, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut map: OrMap<u8, GCounter> = OrMap::new();
    /// map.update(r, 1, |c| c.increment(r, 1));
    /// assert!(!map.is_replacing(&Dot::new(r, 1)));
    /// map.update(r, 1, |c| c.increment(r, 1));
    /// assert!(map.is_replacing(&Dot::new(r, 2)));
    /// ```
    #[must_use]
    pub fn is_replacing(&self, dot: &Dot) -> bool {
        self.replacing.contains(dot)
    }

    /// The keys with their values, ascending by key.
    ///
    /// ```
    /// use rumor_crdt::{GCounter, OrMap, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut map: OrMap<u8, GCounter> = OrMap::new();
    /// map.update(r, 2, |c| c.increment(r, 20));
    /// map.update(r, 1, |c| c.increment(r, 10));
    /// let values: Vec<(u8, u64)> = map.iter().map(|(k, c)| (*k, c.value())).collect();
    /// assert_eq!(values, [(1, 10), (2, 20)]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&K, C)> + '_ {
        self.entries
            .iter()
            .map(|(k, fragments)| (k, joined(fragments.iter().map(|(_, c)| &**c))))
    }

    /// The keys, ascending.
    ///
    /// ```
    /// use rumor_crdt::{GCounter, OrMap, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut map: OrMap<u8, GCounter> = OrMap::new();
    /// map.update(r, 2, |c| c.increment(r, 1));
    /// map.update(r, 1, |c| c.increment(r, 1));
    /// assert_eq!(map.keys().collect::<Vec<_>>(), [&1, &2]);
    /// ```
    pub fn keys(&self) -> impl Iterator<Item = &K> + '_ {
        self.entries.keys()
    }

    /// The number of keys.
    ///
    /// ```
    /// use rumor_crdt::{GCounter, OrMap, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut map: OrMap<u8, GCounter> = OrMap::new();
    /// map.update(r, 1, |c| c.increment(r, 1));
    /// map.update(r, 1, |c| c.increment(r, 1));
    /// assert_eq!(map.len(), 1);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map has no key.
    ///
    /// ```
    /// use rumor_crdt::{GCounter, OrMap, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut map: OrMap<u8, GCounter> = OrMap::new();
    /// assert!(map.is_empty());
    /// map.update(r, 1, |c| c.increment(r, 1));
    /// map.remove(&1);
    /// assert!(map.is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Joins a large `other`: one ordered pass over both maps' keys merges
    /// the fragments of each key into one new, contiguous store (see
    /// [`DotStore`]).
    fn join_full(&mut self, other: &Self) {
        let mut seen_by_me = ContextProbe::new(&self.context);
        let mut seen_by_other = ContextProbe::new(&other.context);
        self.entries.merge_with(&other.entries, |f1, f2| match f2 {
            Some(f2) if f1.is_empty() => *f1 = unseen(f2, &mut seen_by_me),
            Some(f2) => merge_into(f1, &mut seen_by_me, f2, &mut seen_by_other),
            None => f1.retain(|(d, _)| !seen_by_other.contains(d)),
        });
    }

    /// Joins a small `other` (typically a delta) into a large `self` without
    /// touching every key, unless `other` removes tags I hold under keys it
    /// does not name (a removal delta), which needs one scan.
    fn join_small(&mut self, other: &Self) {
        let mut seen_by_me = ContextProbe::new(&self.context);
        let mut seen_by_other = ContextProbe::new(&other.context);
        for (key, f2) in other.entries.iter() {
            self.entries.upsert(key, |f1| {
                if f1.is_empty() {
                    *f1 = unseen(f2, &mut seen_by_me);
                } else {
                    merge_into(f1, &mut seen_by_me, f2, &mut seen_by_other);
                }
            });
        }
        let named = tags(other);
        let removed = other.context.difference(&named).intersection(&self.context);
        if !removed.is_empty() {
            self.entries.retain(|key, f1| {
                if !other.entries.contains_key(key) {
                    f1.retain(|(d, _)| !removed.contains(d));
                }
                !f1.is_empty()
            });
        }
    }

    /// The replacing tags after joining `other`, from the contexts before
    /// the join: mine stay unless `other` has seen them and does not hold
    /// them; `other`'s join mine unless I have seen them already.
    fn join_replacing(&mut self, other: &Self) {
        let held = tags(other);
        let gone = |d: &Dot| other.context.contains(d) && !held.contains(d);
        self.replacing.retain(|d| !gone(d));
        for d in &other.replacing {
            if !self.context.contains(d) {
                self.replacing.insert(*d);
            }
        }
    }
}

/// Which of a key's `fragments` the nested delta `nested` replaces: those
/// it leaves nothing of. A fragment's removals (its context beyond its own
/// entries, `f.delta_since(&f.context())`) go on in the new fragment, so
/// that dropping it never brings back what it removed: `f` is replaced when
/// `nested ⊔ (f's removals)` includes `f`. Returns the new fragment, the
/// tags replaced, and the join of the fragments kept.
fn replace<C: Crdt>(mut nested: C, fragments: &[(Dot, Arc<C>)]) -> (C, Vec<Dot>, C) {
    let mut replaced = Vec::new();
    let mut rest = C::default();
    for (tag, fragment) in fragments {
        let fragment: &C = fragment;
        let removals = fragment.delta_since(&fragment.context());
        if removals.is_bottom() {
            if nested.includes(fragment) {
                replaced.push(*tag);
                continue;
            }
        } else {
            let mut with = nested.clone();
            with.join(&removals);
            if with.includes(fragment) {
                replaced.push(*tag);
                nested = with;
                continue;
            }
        }
        rest.join(fragment);
    }
    (nested, replaced, rest)
}

/// The tags of every fragment of `map`.
fn tags<K, C>(map: &OrMap<K, C>) -> CausalContext {
    map.entries
        .values()
        .flat_map(|fragments| fragments.iter().map(|(d, _)| *d))
        .collect()
}

/// Appends `fragment` to the fragments of `key`, the last key of `out` or
/// a new one after it (keys come in ascending order).
fn push_fragment<K: Clone + PartialEq, C>(
    out: &mut Vec<(K, Fragments<C>)>,
    key: &K,
    fragment: &(Dot, Arc<C>),
) {
    match out.last_mut() {
        Some((last, fragments)) if last == key => fragments.push(fragment.clone()),
        _ => out.push((key.clone(), smallvec![fragment.clone()])),
    }
}

/// The fragments of `fragments` whose tags `seen` lacks.
fn unseen<C: Clone>(fragments: &Fragments<C>, seen: &mut ContextProbe<'_>) -> Fragments<C> {
    fragments
        .iter()
        .filter(|(d, _)| !seen.contains(d))
        .cloned()
        .collect()
}

/// `f1 ← (f1 ∩ f2) ∪ (f1 − c2) ∪ (f2 − c1)` by tag, ascending, where `c1`
/// and `c2` are the contexts of the sides; a tag both sides hold keeps the
/// join of both fragments (equal, between honest replicas).
fn merge_into<C: Crdt>(
    f1: &mut Fragments<C>,
    c1: &mut ContextProbe<'_>,
    f2: &Fragments<C>,
    c2: &mut ContextProbe<'_>,
) {
    let mine = mem::take(f1);
    let mut theirs = f2.iter().peekable();
    for (tag, mut fragment) in mine {
        while let Some((d2, c)) = theirs.next_if(|(d2, _)| *d2 < tag) {
            if !c1.contains(d2) {
                f1.push((*d2, c.clone()));
            }
        }
        match theirs.next_if(|(d2, _)| *d2 == tag) {
            Some((_, c)) => {
                if !Arc::ptr_eq(&fragment, c) && *fragment != **c {
                    Arc::make_mut(&mut fragment).join(c);
                }
                f1.push((tag, fragment));
            }
            None if !c2.contains(&tag) => f1.push((tag, fragment)),
            None => {}
        }
    }
    for (d2, c) in theirs {
        if !c1.contains(d2) {
            f1.push((*d2, c.clone()));
        }
    }
}

impl<K: Ord + Clone + Debug, C: Crdt> Crdt for OrMap<K, C> {
    type Context = CausalContext;

    fn join(&mut self, other: &Self) {
        if !self.replacing.is_empty() || !other.replacing.is_empty() {
            self.join_replacing(other);
        }
        if other.entries.len().saturating_mul(8) >= self.entries.len() {
            self.join_full(other);
        } else {
            self.join_small(other);
        }
        self.context.join(&other.context);
    }

    /// The map's context: every tag, and every dot a dot-based value
    /// inside took, is one of its dots. (A nested counter's or register's
    /// own summary is not bounded, as at top level.)
    fn advances_within(&self, known: &Self, bound: crate::Advance) -> bool {
        self.context.advances_within(&known.context, bound)
    }

    fn context(&self) -> CausalContext {
        self.context.clone()
    }

    /// The fragments whose tags `seen` lacks and, as context, `mine − (seen
    /// ∩ my live tags)`, as the OR-Set's: the removals of fragments the peer
    /// holds travel, the tags it holds and I hold too do not.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, GCounter, OrMap, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut me: OrMap<u8, GCounter> = OrMap::new();
    /// me.update(r, 1, |c| c.increment(r, 1));
    /// me.update(r, 2, |c| c.increment(r, 1));
    /// let mut peer = me.clone();
    /// me.remove(&1);
    /// peer.join(&me.delta_since(&peer.context()));
    /// assert_eq!(peer.keys().collect::<Vec<_>>(), [&2]);
    /// ```
    fn delta_since(&self, seen: &CausalContext) -> Self {
        let mut shared_live = Vec::new();
        let mut entries = Vec::new();
        for (key, fragments) in self.entries.iter() {
            let mut missing = Fragments::new();
            for (tag, c) in fragments {
                if seen.contains(tag) {
                    shared_live.push(*tag);
                } else {
                    missing.push((*tag, c.clone()));
                }
            }
            if !missing.is_empty() {
                entries.push((key.clone(), missing));
            }
        }
        let replacing = self
            .replacing
            .iter()
            .filter(|d| !seen.contains(d))
            .copied()
            .collect();
        Self {
            entries: DotStore::from_sorted(entries),
            context: self
                .context
                .difference(&CausalContext::from_dots(shared_live)),
            replacing,
        }
    }

    fn is_bottom(&self) -> bool {
        self.entries.is_empty() && self.context.is_empty()
    }

    /// `other ≤ self` iff `self` has seen everything `other` has, holds
    /// every fragment of `other` it has not dropped (with content at least
    /// as large), and holds no tag `other` has seen and dropped.
    fn includes(&self, other: &Self) -> bool {
        if !other.context.is_subset(&self.context) {
            return false;
        }
        for (key, f2) in other.entries.iter() {
            let f1 = self.entries.get(key).map_or(&[][..], |f| f.as_slice());
            for (tag, c2) in f2 {
                if let Ok(i) = f1.binary_search_by(|(d, _)| d.cmp(tag)) {
                    if !f1[i].1.includes(c2) {
                        return false;
                    }
                }
            }
        }
        let removed = other
            .context
            .difference(&tags(other))
            .intersection(&self.context);
        removed.is_empty()
            || !self
                .entries
                .values()
                .flatten()
                .any(|(d, _)| removed.contains(d))
    }

    fn missing_from(&self, other: &Self) -> Self {
        self.delta_since(&other.context)
    }

    fn latest_timestamp(&self) -> Option<crate::HlcTimestamp> {
        self.entries
            .values()
            .flatten()
            .filter_map(|(_, c)| c.latest_timestamp())
            .max()
    }

    fn observe_dots(&mut self, seen: &CausalContext) {
        self.context.join(seen);
    }

    fn last_dot(&self, replica: ReplicaId) -> u64 {
        self.context.max(replica)
    }

    /// Every fragment: its tag names `author`, and so does every write of
    /// the nested delta it holds. The context (removed and replaced tags)
    /// may name anyone.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, GCounter, OrMap, ReplicaId};
    ///
    /// let (me, you) = (ReplicaId::from_u128(1), ReplicaId::from_u128(2));
    /// let mut map: OrMap<&str, GCounter> = OrMap::new();
    /// let mine = map.update(me, "hits", |c| c.increment(me, 1));
    /// assert!(mine.authored_only_by(me) && !mine.authored_only_by(you));
    /// // My tag, your count inside it: not mine alone.
    /// let forged = map.update(me, "hits", |c| c.increment(you, 1));
    /// assert!(!forged.authored_only_by(me) && !forged.authored_only_by(you));
    /// ```
    fn authored_only_by(&self, author: ReplicaId) -> bool {
        self.entries
            .values()
            .flatten()
            .all(|(tag, c)| tag.replica == author && c.authored_only_by(author))
    }

    /// Chunks of the fragments, each with exactly its own tags as context,
    /// and one last piece with the rest of the context (removed and
    /// replaced tags) plus every fragment that replaced others: as the
    /// OR-Set's, each piece is a valid delta on its own, and no piece
    /// removes a fragment without what replaced it.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, GCounter, OrMap, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut map: OrMap<u8, GCounter> = OrMap::new();
    /// for k in 0..10 {
    ///     map.update(r, k, |c| c.increment(r, 1));
    /// }
    /// let pieces = map.split(3);
    /// assert_eq!(pieces.len(), 3);
    /// let mut joined = OrMap::new();
    /// for piece in pieces.iter().rev() {
    ///     joined.join(piece);
    /// }
    /// assert_eq!(joined, map);
    /// ```
    fn split(&self, parts: usize) -> Vec<Self> {
        if self.is_bottom() {
            return Vec::new();
        }
        if parts <= 1 {
            return alloc::vec![self.clone()];
        }
        let mut plain: Vec<(&K, &(Dot, Arc<C>))> = Vec::new();
        let mut replacing = Vec::new();
        for (key, fragments) in self.entries.iter() {
            for fragment in fragments {
                if self.replacing.contains(&fragment.0) {
                    push_fragment(&mut replacing, key, fragment);
                } else {
                    plain.push((key, fragment));
                }
            }
        }
        let mut last = Self {
            entries: DotStore::from_sorted(replacing),
            context: CausalContext::new(),
            replacing: self.replacing.clone(),
        };
        let named: CausalContext = plain.iter().map(|(_, (d, _))| *d).collect();
        last.context = self.context.difference(&named);
        let chunks = if last.is_bottom() { parts } else { parts - 1 };
        let mut out: Vec<Self> = plain
            .chunks(crate::crdt::chunk_len(plain.len(), chunks))
            .map(|chunk| {
                let mut entries = Vec::new();
                let mut piece = Self::default();
                for &(key, fragment) in chunk {
                    piece.context.insert(fragment.0);
                    push_fragment(&mut entries, key, fragment);
                }
                piece.entries = DotStore::from_sorted(entries);
                piece
            })
            .collect();
        if !last.is_bottom() {
            out.push(last);
        }
        out
    }
}

/// Wire form of the body: the context beyond the tags, each key with its
/// fragments as `(tag, nested value)` ascending by tag, then the replacing
/// tags, ascending. Keys are ascending too, so the form is canonical. A
/// nested value carries its own wire form (its own replica table).
///
/// Two things the rest implies are left out, so that one nested update's
/// delta costs no more than its key, its tag and its nested delta: the tags
/// themselves in the context (every tag is in it; the decoder adds them
/// back, and refuses a context that lists one), and a tag's counter when it
/// is the nested value's last dot of the tag's replica ([`Crdt::last_dot`],
/// as [`OrMap::update`] chooses it for a dot-based value), written as 0,
/// which is no counter.
type WireBody<K, C> = (WireContext, Vec<(K, Vec<(WireDot, C)>)>, Vec<WireDot>);

impl<K: Serialize, C: Crdt + Serialize> Serialize for OrMap<K, C> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut table = ReplicaTable::default();
        table.add_context(&self.context);
        table.finish();
        let table = &table;
        let beyond_tags = self.context.difference(&tags(self));
        let entries = SeqWith(|| {
            self.entries.iter().map(|(key, fragments)| {
                let fragments = SeqWith(|| {
                    fragments.iter().map(|(d, c)| {
                        let (index, counter) = table.dot(*d);
                        let implied = c.last_dot(d.replica) == counter;
                        ((index, if implied { 0 } else { counter }), &**c)
                    })
                });
                (key, fragments)
            })
        });
        let replacing = SeqWith(|| self.replacing.iter().map(|d| table.dot(*d)));
        let tabled = Tabled {
            replicas: table.ids(),
            body: (table.context(&beyond_tags), entries, replacing),
        };
        tabled.serialize(serializer)
    }
}

impl<'de, K, C> Deserialize<'de> for OrMap<K, C>
where
    K: Deserialize<'de> + Ord,
    C: Deserialize<'de> + Crdt,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let wire = Tabled::<WireBody<K, C>>::deserialize(deserializer)?;
        let lookup = ReplicaLookup::new::<D::Error>(wire.replicas)?;
        let (beyond_tags, wire_entries, wire_replacing) = wire.body;
        let mut context = lookup.context::<D::Error>(beyond_tags)?;
        wire::ascending::<K, D::Error>(wire_entries.iter().map(|(k, _)| k))?;
        let mut entries = Vec::with_capacity(wire_entries.len());
        let mut all_tags = Vec::new();
        for (key, wire_fragments) in wire_entries {
            if wire_fragments.is_empty() {
                return Err(D::Error::custom("or-map: a key with no fragment"));
            }
            let mut fragments: Fragments<C> = SmallVec::with_capacity(wire_fragments.len());
            for ((index, counter), c) in wire_fragments {
                let replica = lookup.replica::<D::Error>(index)?;
                let implied = c.last_dot(replica);
                let tag = match counter {
                    0 if implied > 0 => Dot::new(replica, implied),
                    0 => return Err(D::Error::custom("or-map: no tag counter to imply")),
                    _ if counter == implied => {
                        return Err(D::Error::custom("or-map: a tag counter not left implied"))
                    }
                    _ => Dot::new(replica, counter),
                };
                if fragments.last().is_some_and(|(last, _)| *last >= tag) {
                    return Err(D::Error::custom("or-map: tags of a key not ascending"));
                }
                if context.contains(&tag) {
                    return Err(D::Error::custom("or-map: a tag listed in the context"));
                }
                if c.is_bottom() {
                    return Err(D::Error::custom("or-map: a bottom fragment"));
                }
                all_tags.push(tag);
                fragments.push((tag, Arc::new(c)));
            }
            entries.push((key, fragments));
        }
        all_tags.sort_unstable();
        // One union of sorted runs: inserting the tags one by one between
        // many ranges of the context would be quadratic.
        context.join(&CausalContext::from_dots(all_tags.iter().copied()));
        let mut replacing = BTreeSet::new();
        for wire_tag in wire_replacing {
            let tag = lookup.dot::<D::Error>(wire_tag)?;
            if replacing.last().is_some_and(|last| *last >= tag) {
                return Err(D::Error::custom("or-map: replacing tags not ascending"));
            }
            if all_tags.binary_search(&tag).is_err() {
                return Err(D::Error::custom(
                    "or-map: a replacing tag that no fragment holds",
                ));
            }
            replacing.insert(tag);
        }
        wire::distinct_dots::<D::Error>(all_tags)?;
        Ok(Self {
            entries: DotStore::from_sorted(entries),
            context,
            replacing,
        })
    }
}
