//! Add-wins observed-remove set, dot-based and tombstone-free.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt::Debug;
use core::mem;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use smallvec::SmallVec;

use crate::wire::{self, ReplicaLookup, ReplicaTable, Tabled, WireContext, WireDot};
use crate::{CausalContext, Crdt, Dot, ReplicaId};

/// The dots that keep one element alive, ascending. Almost always one.
type Dots = SmallVec<[Dot; 1]>;

/// An add-wins observed-remove set.
///
/// Each element is kept alive by the [`Dot`]s of the adds that put it there.
/// A removal deletes the dots it has observed; it lives on only in the
/// [`CausalContext`] (which says "I saw these dots, and they are gone"), so
/// there are no tombstones. An add concurrent with a removal has a dot the
/// removal did not observe, so the element survives: add wins.
///
/// ```
/// use rumor_crdt::{Crdt, OrSet, ReplicaId};
///
/// let (r1, r2) = (ReplicaId::from_u128(1), ReplicaId::from_u128(2));
/// let mut a = OrSet::new();
/// let add = a.insert(r1, "milk");
/// let mut b = a.clone();
///
/// let removal = b.remove(&"milk"); // b removes what it saw...
/// let re_add = a.insert(r1, "milk"); // ...while a adds again, concurrently
/// a.join(&removal);
/// b.join(&re_add);
/// assert!(a.contains(&"milk") && b.contains(&"milk")); // add wins
/// assert_eq!(a, b);
/// # let _ = add;
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct OrSet<T> {
    entries: BTreeMap<T, Dots>,
    context: CausalContext,
}

impl<T> Default for OrSet<T> {
    fn default() -> Self {
        Self {
            entries: BTreeMap::new(),
            context: CausalContext::new(),
        }
    }
}

impl<T: Ord + Clone> OrSet<T> {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `element` on behalf of `replica` and returns the delta: the new
    /// dot, with a context that also covers the element's older dots (which
    /// this add replaces).
    pub fn insert(&mut self, replica: ReplicaId, element: T) -> Self {
        let dot = self.context.next_dot(replica);
        self.context.insert(dot);
        let mut delta = Self::default();
        delta.context.insert(dot);
        let mut dots = Dots::new();
        dots.push(dot);
        if let Some(old) = self.entries.insert(element.clone(), dots.clone()) {
            delta.context.extend(old);
        }
        delta.entries.insert(element, dots);
        delta
    }

    /// Removes `element` and returns the delta: no entries, and a context of
    /// the dots removed. Removing an absent element changes nothing.
    pub fn remove(&mut self, element: &T) -> Self {
        match self.entries.remove(element) {
            Some(dots) => Self {
                entries: BTreeMap::new(),
                context: dots.into_iter().collect(),
            },
            None => Self::default(),
        }
    }

    /// Removes every element this replica has seen; returns the delta.
    pub fn clear(&mut self) -> Self {
        let entries = mem::take(&mut self.entries);
        Self {
            entries: BTreeMap::new(),
            context: entries.into_values().flatten().collect(),
        }
    }

    /// Whether `element` is in the set.
    #[must_use]
    pub fn contains(&self, element: &T) -> bool {
        self.entries.contains_key(element)
    }

    /// The elements, ascending.
    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.entries.keys()
    }

    /// The number of elements.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the set is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Joins when `other` is large: one ordered pass over both, rebuilding the
    /// map from sorted pairs in linear time.
    fn join_by_merge(&mut self, other: &Self) {
        let (c1, c2) = (&self.context, &other.context);
        let mine = mem::take(&mut self.entries);
        let mut out: Vec<(T, Dots)> = Vec::with_capacity(mine.len().max(other.entries.len()));
        let mut theirs = other.entries.iter().peekable();
        for (element, d1) in mine {
            while let Some((e2, d2)) = theirs.next_if(|(e2, _)| **e2 < element) {
                push_nonempty(&mut out, e2.clone(), unseen(d2, c1));
            }
            let merged = match theirs.next_if(|(e2, _)| **e2 == element) {
                Some((_, d2)) => merge_dots(&d1, c1, d2, c2),
                None => unseen(&d1, c2),
            };
            push_nonempty(&mut out, element, merged);
        }
        for (e2, d2) in theirs {
            push_nonempty(&mut out, e2.clone(), unseen(d2, c1));
        }
        self.entries = out.into_iter().collect();
    }

    /// Joins a small `other` (typically a delta) into a large `self` without
    /// touching every element, unless `other` removes dots whose elements it
    /// does not name (a removal delta), which needs one scan.
    fn join_small(&mut self, other: &Self) {
        let (c1, c2) = (&self.context, &other.context);
        for (element, d2) in &other.entries {
            match self.entries.get_mut(element) {
                Some(d1) => {
                    let merged = merge_dots(d1, c1, d2, c2);
                    if merged.is_empty() {
                        self.entries.remove(element);
                    } else {
                        *d1 = merged;
                    }
                }
                None => {
                    let kept = unseen(d2, c1);
                    if !kept.is_empty() {
                        self.entries.insert(element.clone(), kept);
                    }
                }
            }
        }
        let named: CausalContext = other.entries.values().flatten().copied().collect();
        let removed = c2.difference(&named).intersection(c1);
        if !removed.is_empty() {
            self.entries.retain(|element, d1| {
                if !other.entries.contains_key(element) {
                    d1.retain(|d| !removed.contains(d));
                }
                !d1.is_empty()
            });
        }
    }
}

/// The dots of `dots` that `context` has not seen.
fn unseen(dots: &Dots, context: &CausalContext) -> Dots {
    dots.iter()
        .filter(|d| !context.contains(d))
        .copied()
        .collect()
}

/// `(d1 ∩ d2) ∪ (d1 − c2) ∪ (d2 − c1)`, ascending.
fn merge_dots(d1: &Dots, c1: &CausalContext, d2: &Dots, c2: &CausalContext) -> Dots {
    if d1 == d2 {
        return d1.clone();
    }
    let mut out: Dots = d1
        .iter()
        .filter(|d| d2.contains(d) || !c2.contains(d))
        .copied()
        .collect();
    out.extend(
        d2.iter()
            .filter(|d| !d1.contains(d) && !c1.contains(d))
            .copied(),
    );
    out.sort_unstable();
    out
}

fn push_nonempty<T>(out: &mut Vec<(T, Dots)>, element: T, dots: Dots) {
    if !dots.is_empty() {
        out.push((element, dots));
    }
}

impl<T: Ord + Clone + Debug> Crdt for OrSet<T> {
    type Context = CausalContext;

    fn join(&mut self, other: &Self) {
        if other.entries.len().saturating_mul(8) >= self.entries.len() {
            self.join_by_merge(other);
        } else {
            self.join_small(other);
        }
        self.context.join(&other.context);
    }

    fn context(&self) -> Self::Context {
        self.context.clone()
    }

    /// The entries with dots `seen` lacks and, as context, `mine − (seen ∩
    /// my live dots)`: every dot I have seen except those the peer has seen
    /// and I still hold. The excluded dots must not be sent, or the peer would
    /// take them as removed; the kept ones include removals of dots the peer
    /// has seen, which `mine − seen` alone would lose.
    fn delta_since(&self, seen: &Self::Context) -> Self {
        let mut entries = Vec::new();
        let mut shared_live = Vec::new();
        for (element, dots) in &self.entries {
            let mut missing = Dots::new();
            for dot in dots {
                if seen.contains(dot) {
                    shared_live.push(*dot);
                } else {
                    missing.push(*dot);
                }
            }
            push_nonempty(&mut entries, element.clone(), missing);
        }
        Self {
            entries: entries.into_iter().collect(),
            context: self
                .context
                .difference(&CausalContext::from_dots(shared_live)),
        }
    }

    fn is_bottom(&self) -> bool {
        self.entries.is_empty() && self.context.is_empty()
    }

    /// `other ≤ self` iff `self` has seen everything `other` has, and no dot
    /// alive here is one that `other` has seen but does not hold (which the
    /// join would remove). That second set is empty for an add's delta, so
    /// the usual check costs no scan of `self`.
    fn includes(&self, other: &Self) -> bool {
        if !other.context.is_subset(&self.context) {
            return false;
        }
        // Entries' dots are distinct and inside the context: if they are as
        // many as the context's dots, the delta removes nothing.
        let named_count: usize = other.entries.values().map(SmallVec::len).sum();
        if other.context.dot_count() == named_count as u128 {
            return true;
        }
        let named: CausalContext = other.entries.values().flatten().copied().collect();
        let removed = other.context.difference(&named);
        removed.is_empty() || !self.entries.values().flatten().any(|d| removed.contains(d))
    }

    fn missing_from(&self, other: &Self) -> Self {
        self.delta_since(&other.context)
    }
}

type WireBody<T> = (WireContext, Vec<(T, Vec<WireDot>)>);

impl<T: Serialize> Serialize for OrSet<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut table = ReplicaTable::default();
        table.add_context(&self.context);
        table.finish();
        let entries: Vec<(&T, Vec<WireDot>)> = self
            .entries
            .iter()
            .map(|(e, dots)| (e, dots.iter().map(|d| table.dot(*d)).collect()))
            .collect();
        Tabled {
            replicas: table.ids(),
            body: (table.context(&self.context), entries),
        }
        .serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de> + Ord> Deserialize<'de> for OrSet<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let wire = Tabled::<WireBody<T>>::deserialize(deserializer)?;
        let lookup = ReplicaLookup::new::<D::Error>(wire.replicas)?;
        let (context, entries) = wire.body;
        let context = lookup.context::<D::Error>(context)?;
        wire::ascending::<T, D::Error>(entries.iter().map(|(e, _)| e))?;
        let mut out = Vec::with_capacity(entries.len());
        for (element, wire_dots) in entries {
            let dots = wire_dots
                .into_iter()
                .map(|d| lookup.dot::<D::Error>(d))
                .collect::<Result<Dots, _>>()?;
            if dots.is_empty() {
                return Err(D::Error::custom("or-set: element without dots"));
            }
            wire::ascending::<Dot, D::Error>(dots.iter())?;
            if !dots.iter().all(|d| context.contains(d)) {
                return Err(D::Error::custom("or-set: dot outside the causal context"));
            }
            out.push((element, dots));
        }
        wire::distinct_dots::<D::Error>(
            out.iter()
                .flat_map(|(_, dots)| dots.iter().copied())
                .collect(),
        )?;
        Ok(Self {
            entries: out.into_iter().collect(),
            context,
        })
    }
}
