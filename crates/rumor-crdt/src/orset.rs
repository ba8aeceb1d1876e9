//! Add-wins observed-remove set, dot-based and tombstone-free.

use alloc::collections::BTreeSet;
use alloc::vec::Vec;
use core::fmt::Debug;
use core::mem;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use smallvec::SmallVec;

use crate::context::ContextProbe;
use crate::dot_store::DotStore;
use crate::wire::{self, ReplicaLookup, ReplicaTable, SeqWith, Tabled, WireContext, WireDot};
use crate::{CausalContext, Crdt, Dot, ReplicaId};

/// The dots that keep one element alive, ascending. Almost always one; two
/// after concurrent adds of the element by two replicas. Both fit inline, so
/// joining two writers' sets allocates nothing per shared element (with one
/// inline, those allocations were about a quarter of such a join's time).
type Dots = SmallVec<[Dot; 2]>;

/// An add-wins observed-remove set.
///
/// Each element is kept alive by the [`Dot`]s of the adds that put it there.
/// A removal deletes the dots it has observed; it lives on only in the
/// [`CausalContext`] (which says "I saw these dots, and they are gone"), so
/// there are no tombstones. An add concurrent with a removal has a dot the
/// removal did not observe, so the element survives: add wins.
///
/// Adding an element that is already there (a *re-add*) gives it a new dot
/// that replaces its old ones, in one delta. The set remembers which live
/// dots are re-adds (one bit per live dot), so that [`Crdt::split`] never
/// separates a re-add from the dots it replaced: a piece that says an old
/// dot is gone always carries the element's new dot too.
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
    entries: DotStore<T, Dots>,
    context: CausalContext,
    /// The live dots that are re-adds (they replaced the element's older
    /// dots). Always a subset of the entries' dots; being a re-add is a
    /// property of the dot, the same at every replica that holds it.
    readds: BTreeSet<Dot>,
}

impl<T> Default for OrSet<T> {
    fn default() -> Self {
        Self {
            entries: DotStore::default(),
            context: CausalContext::new(),
            readds: BTreeSet::new(),
        }
    }
}

impl<T: Ord + Clone> OrSet<T> {
    /// An empty set.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, OrSet};
    ///
    /// let set: OrSet<u32> = OrSet::new();
    /// assert!(set.is_empty() && set.is_bottom());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `element` on behalf of `replica` and returns the delta: the new
    /// dot, with a context that also covers the element's older dots (which
    /// this add replaces).
    ///
    /// ```
    /// use rumor_crdt::{Crdt, OrSet, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut set = OrSet::new();
    /// let delta = set.insert(r, "x");
    /// assert!(set.contains(&"x") && delta.contains(&"x"));
    /// let again = set.insert(r, "x"); // a new dot replaces the old one
    /// assert_eq!(set.len(), 1);
    /// assert_eq!(again.context().dot_count(), 2);
    /// ```
    pub fn insert(&mut self, replica: ReplicaId, element: T) -> Self {
        let dot = self.context.next_dot(replica);
        self.context.insert(dot);
        let mut delta = Self::default();
        delta.context.insert(dot);
        let mut dots = Dots::new();
        dots.push(dot);
        if let Some(old) = self.entries.insert(element.clone(), dots.clone()) {
            for d in &old {
                self.readds.remove(d);
            }
            delta.context.extend(old);
            self.readds.insert(dot);
            delta.readds.insert(dot);
        }
        delta.entries = DotStore::from_sorted(alloc::vec![(element, dots)]);
        delta
    }

    /// Removes `element` and returns the delta: no entries, and a context of
    /// the dots removed. Removing an absent element changes nothing.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, OrSet, ReplicaId};
    ///
    /// let mut set = OrSet::new();
    /// let add = set.insert(ReplicaId::from_u128(1), "x");
    /// let mut peer = add.clone();
    /// let removal = set.remove(&"x");
    /// assert!(removal.is_empty()); // no entries: only the removed dots
    /// peer.join(&removal);
    /// assert!(!peer.contains(&"x"));
    /// assert!(set.remove(&"x").is_bottom()); // already gone: nothing to send
    /// ```
    pub fn remove(&mut self, element: &T) -> Self {
        match self.entries.remove(element) {
            Some(dots) => {
                for d in &dots {
                    self.readds.remove(d);
                }
                Self {
                    entries: DotStore::default(),
                    context: dots.into_iter().collect(),
                    readds: BTreeSet::new(),
                }
            }
            None => Self::default(),
        }
    }

    /// Removes every element this replica has seen; returns the delta.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, OrSet, ReplicaId};
    ///
    /// let (r1, r2) = (ReplicaId::from_u128(1), ReplicaId::from_u128(2));
    /// let mut set = OrSet::new();
    /// set.insert(r1, 1);
    /// let mut peer = set.clone();
    /// peer.insert(r2, 2); // concurrent with the clear below
    /// peer.join(&set.clear());
    /// assert!(set.is_empty());
    /// assert_eq!(peer.iter().collect::<Vec<_>>(), [&2]); // add wins
    /// ```
    pub fn clear(&mut self) -> Self {
        let entries = mem::take(&mut self.entries);
        self.readds.clear();
        Self {
            entries: DotStore::default(),
            context: entries.into_values().flatten().collect(),
            readds: BTreeSet::new(),
        }
    }

    /// The removal delta of every write `seen` names: no elements, and
    /// `seen` as its context. Joined into a replica, it removes each element
    /// whose dots `seen` covers; an add concurrent with it survives. This is
    /// what a remove is made of, for a caller that already holds the dots
    /// (a context read from elsewhere).
    ///
    /// ```
    /// use rumor_crdt::{Crdt, OrSet, ReplicaId};
    ///
    /// let mut set = OrSet::new();
    /// let add = set.insert(ReplicaId::from_u128(1), "x");
    /// set.join(&OrSet::removal(add.context()));
    /// assert!(set.is_empty());
    /// ```
    #[must_use]
    pub fn removal(seen: CausalContext) -> Self {
        Self {
            entries: DotStore::default(),
            context: seen,
            readds: BTreeSet::new(),
        }
    }

    /// Whether `element` is in the set.
    ///
    /// ```
    /// use rumor_crdt::{OrSet, ReplicaId};
    ///
    /// let mut set = OrSet::new();
    /// set.insert(ReplicaId::from_u128(1), "x");
    /// assert!(set.contains(&"x") && !set.contains(&"y"));
    /// set.remove(&"x");
    /// assert!(!set.contains(&"x"));
    /// ```
    #[must_use]
    pub fn contains(&self, element: &T) -> bool {
        self.entries.contains_key(element)
    }

    /// The dots that keep `element` alive, ascending (empty if absent).
    ///
    /// ```
    /// use rumor_crdt::{Dot, OrSet, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut set = OrSet::new();
    /// set.insert(r, "x");
    /// set.insert(r, "x"); // a re-add: dot 2 replaces dot 1
    /// assert_eq!(set.dots(&"x"), [Dot::new(r, 2)]);
    /// assert!(set.dots(&"y").is_empty());
    /// ```
    #[must_use]
    pub fn dots(&self, element: &T) -> &[Dot] {
        self.entries
            .get(element)
            .map_or(&[], |dots| dots.as_slice())
    }

    /// Whether the live dot `dot` is a re-add: its add replaced older dots
    /// of its element (see [`Crdt::split`]).
    ///
    /// ```
    /// use rumor_crdt::{Dot, OrSet, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut set = OrSet::new();
    /// set.insert(r, "x");
    /// assert!(!set.is_readd(&Dot::new(r, 1)));
    /// set.insert(r, "x");
    /// assert!(set.is_readd(&Dot::new(r, 2)));
    /// ```
    #[must_use]
    pub fn is_readd(&self, dot: &Dot) -> bool {
        self.readds.contains(dot)
    }

    /// The elements, ascending.
    ///
    /// ```
    /// use rumor_crdt::{OrSet, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut set = OrSet::new();
    /// for n in [3, 1, 2] {
    ///     set.insert(r, n);
    /// }
    /// assert_eq!(set.iter().copied().collect::<Vec<_>>(), [1, 2, 3]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.entries.keys()
    }

    /// The number of elements.
    ///
    /// ```
    /// use rumor_crdt::{OrSet, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut set = OrSet::new();
    /// set.insert(r, "a");
    /// set.insert(r, "a"); // adding again does not grow the set
    /// set.insert(r, "b");
    /// assert_eq!(set.len(), 2);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the set is empty.
    ///
    /// ```
    /// use rumor_crdt::{OrSet, ReplicaId};
    ///
    /// let mut set = OrSet::new();
    /// assert!(set.is_empty());
    /// set.insert(ReplicaId::from_u128(1), 'x');
    /// assert!(!set.is_empty());
    /// set.remove(&'x');
    /// assert!(set.is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Joins a large `other`: one ordered pass over both merges the dots
    /// of each element into one new, contiguous store (see [`DotStore`]).
    fn join_in_place(&mut self, other: &Self) {
        let mut seen_by_me = ContextProbe::new(&self.context);
        let mut seen_by_other = ContextProbe::new(&other.context);
        self.entries.merge_with(&other.entries, |d1, d2| match d2 {
            Some(d2) if d1.is_empty() => *d1 = unseen(d2, &mut seen_by_me),
            Some(d2) => merge_into(d1, &mut seen_by_me, d2, &mut seen_by_other),
            None => retain_unseen(d1, &mut seen_by_other),
        });
    }

    /// The re-add dots after joining `other`, from the contexts before the
    /// join: a re-add dot of mine stays unless `other` has seen it and does
    /// not hold it (it was removed or replaced); one of `other`'s joins mine
    /// unless I have seen it already. (A dot held on both sides is a re-add
    /// on both: being a re-add is a property of the dot.)
    fn join_readds(&mut self, other: &Self) {
        let gone = |d: &Dot| other.context.contains(d) && !other.readds.contains(d);
        if other.context.dot_count() < self.readds.len() as u128 {
            // A small delta into many re-adds: look up its dots instead.
            for replica in other.context.replicas() {
                for range in other.context.ranges(replica) {
                    for counter in range {
                        let dot = Dot::new(replica, counter);
                        if gone(&dot) {
                            self.readds.remove(&dot);
                        }
                    }
                }
            }
        } else {
            self.readds.retain(|d| !gone(d));
        }
        for d in &other.readds {
            if !self.context.contains(d) {
                self.readds.insert(*d);
            }
        }
    }

    /// Joins a small `other` (typically a delta) into a large `self` without
    /// touching every element, unless `other` removes dots whose elements it
    /// does not name (a removal delta), which needs one scan.
    fn join_small(&mut self, other: &Self) {
        let mut seen_by_me = ContextProbe::new(&self.context);
        let mut seen_by_other = ContextProbe::new(&other.context);
        for (element, d2) in other.entries.iter() {
            self.entries.upsert(element, |d1| {
                if d1.is_empty() {
                    *d1 = unseen(d2, &mut seen_by_me);
                } else {
                    merge_into(d1, &mut seen_by_me, d2, &mut seen_by_other);
                }
            });
        }
        let named: CausalContext = other.entries.values().flatten().copied().collect();
        let removed = other.context.difference(&named).intersection(&self.context);
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

/// The dots of `dots` that `seen` lacks.
fn unseen(dots: &Dots, seen: &mut ContextProbe<'_>) -> Dots {
    match dots.as_slice() {
        [dot] if seen.contains(dot) => Dots::new(),
        [_] => dots.clone(),
        _ => dots.iter().filter(|d| !seen.contains(d)).copied().collect(),
    }
}

/// Drops the dots of `dots` that `seen` has seen.
fn retain_unseen(dots: &mut Dots, seen: &mut ContextProbe<'_>) {
    match dots.as_slice() {
        [dot] if seen.contains(dot) => dots.clear(),
        [_] => {}
        _ => dots.retain(|d| !seen.contains(d)),
    }
}

/// `d1 ← (d1 ∩ d2) ∪ (d1 − c2) ∪ (d2 − c1)`, ascending, where `c1` and `c2`
/// are the contexts `d1` and `d2` come with. One dot on each side, the usual
/// case, takes no sorting and no allocation.
fn merge_into(d1: &mut Dots, c1: &mut ContextProbe<'_>, d2: &Dots, c2: &mut ContextProbe<'_>) {
    match (d1.as_slice(), d2.as_slice()) {
        (&[x], &[y]) => {
            if x == y {
                return;
            }
            match (c2.contains(&x), c1.contains(&y)) {
                (false, false) if y < x => d1.insert(0, y),
                (false, false) => d1.push(y),
                (false, true) => {}
                (true, false) => d1[0] = y,
                (true, true) => d1.clear(),
            }
        }
        _ if d1 == d2 => {}
        _ => {
            d1.retain(|d| d2.contains(d) || !c2.contains(d));
            let kept = d1.len();
            for &d in d2 {
                if !d1[..kept].contains(&d) && !c1.contains(&d) {
                    d1.push(d);
                }
            }
            if d1.len() > kept {
                d1.sort_unstable();
            }
        }
    }
}

fn push_nonempty<T>(out: &mut Vec<(T, Dots)>, element: T, dots: Dots) {
    if !dots.is_empty() {
        out.push((element, dots));
    }
}

impl<T: Ord + Clone + Debug> Crdt for OrSet<T> {
    type Context = CausalContext;

    fn join(&mut self, other: &Self) {
        if !self.readds.is_empty() || !other.readds.is_empty() {
            self.join_readds(other);
        }
        if other.entries.len().saturating_mul(8) >= self.entries.len() {
            self.join_in_place(other);
        } else {
            self.join_small(other);
        }
        self.context.join(&other.context);
    }

    /// Its context holds every dot it holds (entries included).
    fn advances_within(&self, known: &Self, bound: crate::Advance) -> bool {
        self.context.advances_within(&known.context, bound)
    }

    fn context(&self) -> Self::Context {
        self.context.clone()
    }

    /// The entries with dots `seen` lacks and, as context, `mine − (seen ∩
    /// my live dots)`: every dot I have seen except those the peer has seen
    /// and I still hold. The excluded dots must not be sent, or the peer would
    /// take them as removed; the kept ones include removals of dots the peer
    /// has seen, which `mine − seen` alone would lose.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, OrSet, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut me = OrSet::new();
    /// me.insert(r, "a");
    /// me.insert(r, "b");
    /// let mut peer = me.clone();
    /// me.remove(&"a"); // removes a dot the peer has seen and holds
    /// peer.join(&me.delta_since(&peer.context()));
    /// assert_eq!(peer.iter().collect::<Vec<_>>(), [&"b"]);
    /// ```
    fn delta_since(&self, seen: &Self::Context) -> Self {
        let mut entries = Vec::new();
        let mut shared_live = Vec::new();
        for (element, dots) in self.entries.iter() {
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
        let live = shared_live.len() + entries.iter().map(|(_, d)| d.len()).sum::<usize>();
        let context = if self.context.dot_count() == live as u128 {
            // Nothing was removed here (every dot seen is live), so
            // `mine − (seen ∩ live)` is just the missing dots: the common
            // case of a received delta, built without a difference.
            entries
                .iter()
                .flat_map(|(_, d)| d.iter().copied())
                .collect()
        } else {
            self.context
                .difference(&CausalContext::from_dots(shared_live))
        };
        let readds = if self.readds.is_empty() {
            BTreeSet::new()
        } else {
            entries
                .iter()
                .flat_map(|(_, d)| d.iter())
                .filter(|d| self.readds.contains(d))
                .copied()
                .collect()
        };
        Self {
            entries: DotStore::from_sorted(entries),
            context,
            readds,
        }
    }

    fn is_bottom(&self) -> bool {
        self.entries.is_empty() && self.context.is_empty()
    }

    /// `other ≤ self` iff `self` has seen everything `other` has, and no dot
    /// alive here is one that `other` has seen but does not hold (which the
    /// join would remove). That second set is empty for an add's delta, so
    /// the usual check costs no scan of `self`.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, OrSet, ReplicaId};
    ///
    /// let mut set = OrSet::new();
    /// let add = set.insert(ReplicaId::from_u128(1), "x");
    /// let removal = set.remove(&"x");
    /// assert!(set.includes(&add)); // seen, then removed: joining it changes nothing
    /// assert!(set.includes(&removal));
    /// assert!(!add.includes(&removal)); // joining it would remove "x"
    /// ```
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

    fn observe_dots(&mut self, seen: &CausalContext) {
        self.context.join(seen);
    }

    fn last_dot(&self, replica: ReplicaId) -> u64 {
        self.context.max(replica)
    }

    /// The dots of the live elements; the context (what was removed or
    /// replaced) may name anyone.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, OrSet, ReplicaId};
    ///
    /// let (me, you) = (ReplicaId::from_u128(1), ReplicaId::from_u128(2));
    /// let mut set = OrSet::new();
    /// set.insert(you, "x");
    /// let removal = set.remove(&"x"); // names your dot, writes nothing
    /// assert!(removal.authored_only_by(me));
    /// let add = set.insert(me, "y");
    /// assert!(add.authored_only_by(me) && !add.authored_only_by(you));
    /// ```
    fn authored_only_by(&self, author: ReplicaId) -> bool {
        self.entries.values().flatten().all(|d| d.replica == author)
    }

    /// Chunks of the elements, each with exactly its own dots as context,
    /// and one last piece with the dots of removed and replaced adds plus
    /// every element that holds a re-add dot. Each piece is a valid delta on
    /// its own: joining any subset of the pieces anywhere never removes an
    /// element that the state holds, unless that replica's dots of it were
    /// removed (not replaced) by someone.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, OrSet, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let (mut a, mut b) = (OrSet::new(), OrSet::new());
    /// b.join(&a.insert(r, "x"));
    /// a.insert(r, "x"); // a re-add: a new dot replaces the old one
    /// a.insert(r, "y");
    /// for piece in a.split(2) {
    ///     let mut b = b.clone();
    ///     b.join(&piece); // any piece alone...
    ///     assert!(b.contains(&"x")); // ...keeps "x"
    /// }
    /// ```
    fn split(&self, parts: usize) -> Vec<Self> {
        if parts <= 1 || self.is_bottom() {
            return if self.is_bottom() {
                Vec::new()
            } else {
                alloc::vec![self.clone()]
            };
        }
        let mut plain: Vec<(&T, &Dots)> = Vec::new();
        let mut readded: Vec<(&T, &Dots)> = Vec::new();
        for entry in self.entries.iter() {
            if entry.1.iter().any(|d| self.readds.contains(d)) {
                readded.push(entry);
            } else {
                plain.push(entry);
            }
        }
        let named: CausalContext = plain.iter().flat_map(|(_, d)| d.iter().copied()).collect();
        let last = Self {
            entries: readded
                .iter()
                .map(|&(e, d)| (e.clone(), d.clone()))
                .collect(),
            context: self.context.difference(&named),
            readds: self.readds.clone(),
        };
        let chunks = if last.is_bottom() { parts } else { parts - 1 };
        let mut out: Vec<Self> = plain
            .chunks(crate::crdt::chunk_len(plain.len(), chunks))
            .map(|chunk| Self {
                entries: chunk.iter().map(|&(e, d)| (e.clone(), d.clone())).collect(),
                context: chunk.iter().flat_map(|(_, d)| d.iter().copied()).collect(),
                readds: BTreeSet::new(),
            })
            .collect();
        if !last.is_bottom() {
            out.push(last);
        }
        out
    }
}

/// Wire form of the body: the context, each element with its first (lowest)
/// dot, then the other dots of the rare elements that have more than one, as
/// `(index of the element in the entry list, dot)`, ascending, then the live
/// dots that are re-adds, ascending. Elements are ascending too, so the whole
/// form is canonical.
type WireBody<T> = (
    WireContext,
    Vec<(T, WireDot)>,
    Vec<(u64, WireDot)>,
    Vec<WireDot>,
);

impl<T: Serialize> Serialize for OrSet<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut table = ReplicaTable::default();
        table.add_context(&self.context);
        table.finish();
        let table = &table;
        // Entries always hold at least one dot, so `first` always exists.
        let entries = SeqWith(|| {
            self.entries
                .iter()
                .filter_map(|(element, dots)| Some((element, table.lazy_dot(*dots.first()?))))
        });
        let extra = SeqWith(|| {
            self.entries.values().enumerate().flat_map(|(index, dots)| {
                let index = u64::try_from(index).unwrap_or(u64::MAX);
                dots.iter()
                    .skip(1)
                    .map(move |d| (index, table.lazy_dot(*d)))
            })
        });
        let readds = SeqWith(|| self.readds.iter().map(|d| table.dot(*d)));
        let tabled = Tabled {
            replicas: table.ids(),
            body: (table.context(&self.context), entries, extra, readds),
        };
        tabled.serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de> + Ord> Deserialize<'de> for OrSet<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let wire = Tabled::<WireBody<T>>::deserialize(deserializer)?;
        let lookup = ReplicaLookup::new::<D::Error>(wire.replicas)?;
        let (context, entries, extra, wire_readds) = wire.body;
        let context = lookup.context::<D::Error>(context)?;
        wire::ascending::<T, D::Error>(entries.iter().map(|(e, _)| e))?;
        let mut out = Vec::with_capacity(entries.len());
        for (element, dot) in entries {
            let mut dots = Dots::new();
            dots.push(lookup.dot::<D::Error>(dot)?);
            out.push((element, dots));
        }
        let mut prev_index = 0;
        for (index, dot) in extra {
            if index < prev_index {
                return Err(D::Error::custom("or-set: extra dots not in element order"));
            }
            prev_index = index;
            let dots = usize::try_from(index)
                .ok()
                .and_then(|i| out.get_mut(i))
                .map(|(_, dots)| dots)
                .ok_or_else(|| D::Error::custom("or-set: extra dot of no element"))?;
            let dot = lookup.dot::<D::Error>(dot)?;
            if dots.last().is_some_and(|last| *last >= dot) {
                return Err(D::Error::custom("or-set: dots of an element not ascending"));
            }
            dots.push(dot);
        }
        let mut all_dots: Vec<Dot> = out
            .iter()
            .flat_map(|(_, dots)| dots.iter().copied())
            .collect();
        all_dots.sort_unstable();
        if !all_dots.iter().all(|d| context.contains(d)) {
            return Err(D::Error::custom("or-set: dot outside the causal context"));
        }
        let mut readds = BTreeSet::new();
        for wire_dot in wire_readds {
            let dot = lookup.dot::<D::Error>(wire_dot)?;
            if readds.last().is_some_and(|last| *last >= dot) {
                return Err(D::Error::custom("or-set: re-add dots not ascending"));
            }
            if all_dots.binary_search(&dot).is_err() {
                return Err(D::Error::custom(
                    "or-set: a re-add dot that no element holds",
                ));
            }
            readds.insert(dot);
        }
        wire::distinct_dots::<D::Error>(all_dots)?;
        Ok(Self {
            entries: DotStore::from_sorted(out),
            context,
            readds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;

    /// Seeded xorshift: the same histories on every run.
    struct Dice(u64);

    impl Dice {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    /// `(d1 ∩ d2) ∪ (d1 − c2) ∪ (d2 − c1)` for every element, spelled out.
    fn reference_join(a: &OrSet<u64>, b: &OrSet<u64>) -> OrSet<u64> {
        let mut entries: BTreeMap<u64, Dots> = BTreeMap::new();
        for element in a.entries.keys().chain(b.entries.keys()) {
            let none = Dots::new();
            let d1 = a.entries.get(element).unwrap_or(&none);
            let d2 = b.entries.get(element).unwrap_or(&none);
            let mut dots: Vec<Dot> = d1
                .iter()
                .filter(|d| d2.contains(d) || !b.context.contains(d))
                .chain(d2.iter().filter(|d| !a.context.contains(d)))
                .copied()
                .collect();
            dots.sort_unstable();
            dots.dedup();
            if !dots.is_empty() {
                entries.insert(*element, dots.into_iter().collect());
            }
        }
        let mut context = a.context.clone();
        context.join(&b.context);
        let live: BTreeSet<Dot> = entries.values().flatten().copied().collect();
        let readds = a.readds.union(&b.readds).filter(|d| live.contains(d));
        OrSet {
            readds: readds.copied().collect(),
            entries: entries.into_iter().collect(),
            context,
        }
    }

    /// Four replicas of very different sizes after random inserts, removals
    /// and syncs, so that both paths of `join` (one ordered pass, small)
    /// meet concurrent adds and removals.
    #[test]
    fn every_join_path_agrees_with_the_reference() {
        let mut dice = Dice(0x2545_F491_4F6C_DD1D);
        let ids = [1, 2, 3, 4].map(ReplicaId::from_u128);
        for round in 0..200 {
            let mut sets = [(); 4].map(|()| OrSet::<u64>::new());
            let range = [4, 40, 400][round % 3];
            for _ in 0..dice.below(600) {
                let i = usize::try_from(dice.below(4)).unwrap_or(0);
                match dice.below(10) {
                    0..=5 => {
                        let x = dice.below(range);
                        sets[i].insert(ids[i], x);
                    }
                    6 | 7 => {
                        let x = dice.below(range);
                        sets[i].remove(&x);
                    }
                    _ => {
                        let j = usize::try_from(dice.below(4)).unwrap_or(0);
                        let from = sets[j].clone();
                        sets[i].join(&from);
                    }
                }
            }
            for a in &sets {
                for b in &sets {
                    let expected = reference_join(a, b);
                    let mut in_place = a.clone();
                    in_place.join_readds(b);
                    in_place.join_in_place(b);
                    in_place.context.join(&b.context);
                    let mut small = a.clone();
                    small.join_readds(b);
                    small.join_small(b);
                    small.context.join(&b.context);
                    assert_eq!(in_place, expected, "in place, round {round}");
                    assert_eq!(small, expected, "small, round {round}");
                }
            }
        }
    }
}
