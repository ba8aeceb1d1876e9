//! Causal contexts: the set of [`Dot`]s a state has seen.
//!
//! Kept per replica as a sorted list of disjoint, non-adjacent inclusive
//! counter ranges. The first range, when it starts at 1, is the classic
//! version-vector entry; the later ranges are the "dot cloud" of events seen
//! out of order. Every insertion folds the cloud into the vector at once, so
//! the representation is always canonical: `==` is structural equality, and a
//! context after a partition (holes in the middle) costs one range per hole,
//! not one entry per missing dot.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;
use core::ops::RangeInclusive;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use smallvec::SmallVec;

use crate::{Advance, Dot, ReplicaId};

/// A set of counters as sorted, disjoint, non-adjacent inclusive ranges, all
/// starting at 1 or above.
#[derive(Clone, PartialEq, Eq, Hash, Default, Debug)]
pub(crate) struct Ranges(SmallVec<[(u64, u64); 1]>);

impl Ranges {
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.0.iter().copied()
    }

    fn max(&self) -> u64 {
        self.0.last().map_or(0, |&(_, end)| end)
    }

    fn contiguous(&self) -> u64 {
        match self.0.first() {
            Some(&(1, end)) => end,
            _ => 0,
        }
    }

    fn count(&self) -> u128 {
        self.0
            .iter()
            .map(|&(start, end)| u128::from(end - start) + 1)
            .sum()
    }

    pub(crate) fn contains(&self, counter: u64) -> bool {
        // Index of the first range whose end is >= counter.
        let i = self.0.partition_point(|&(_, end)| end < counter);
        self.0.get(i).is_some_and(|&(start, _)| start <= counter)
    }

    /// Adds `[start, end]`, merging with overlapping or adjacent ranges.
    pub(crate) fn insert(&mut self, start: u64, end: u64) {
        debug_assert!(1 <= start && start <= end);
        // Fast path: appending at the end (the common case for new writes).
        match self.0.last_mut() {
            None => {
                self.0.push((start, end));
                return;
            }
            Some(last) if start > last.1.saturating_add(1) => {
                self.0.push((start, end));
                return;
            }
            Some(last) if start >= last.0 => {
                last.1 = last.1.max(end);
                return;
            }
            Some(_) => {}
        }
        // First range that touches or follows [start, end].
        let lo = self
            .0
            .partition_point(|&(_, e)| e.saturating_add(1) < start);
        // One past the last range that touches [start, end].
        let hi = self.0.partition_point(|&(s, _)| s <= end.saturating_add(1));
        if lo == hi {
            self.0.insert(lo, (start, end));
        } else {
            let merged = (start.min(self.0[lo].0), end.max(self.0[hi - 1].1));
            self.0[lo] = merged;
            self.0.drain(lo + 1..hi);
        }
    }

    /// Every range of `self` lies inside one range of `other` (whose ranges
    /// are maximal, so no range can straddle two of them).
    fn is_subset(&self, other: &Self) -> bool {
        self.0.iter().all(|&(start, end)| {
            let j = other.0.partition_point(|&(_, e)| e < start);
            other.0.get(j).is_some_and(|&(s, e)| s <= start && end <= e)
        })
    }

    fn union(&self, other: &Self) -> Self {
        let mut out = Ranges(SmallVec::with_capacity(self.0.len() + other.0.len()));
        let (mut a, mut b) = (self.0.iter().peekable(), other.0.iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) => {
                    if x.0 <= y.0 {
                        a.next()
                    } else {
                        b.next()
                    }
                }
                (Some(_), None) => a.next(),
                (None, Some(_)) => b.next(),
                (None, None) => break,
            };
            let &(start, end) = next.expect("peeked");
            match out.0.last_mut() {
                Some(last) if start <= last.1.saturating_add(1) => last.1 = last.1.max(end),
                _ => out.0.push((start, end)),
            }
        }
        out
    }

    fn difference(&self, other: &Self) -> Self {
        let mut out = Ranges::default();
        let mut j = 0;
        for &(start, end) in &self.0 {
            let mut cur = start;
            while j < other.0.len() && other.0[j].1 < cur {
                j += 1;
            }
            let mut k = j;
            while cur <= end {
                match other.0.get(k) {
                    Some(&(os, oe)) if os <= end => {
                        if os > cur {
                            out.0.push((cur, os - 1));
                        }
                        if oe >= end {
                            // The rest is covered (and `oe + 1` may overflow).
                            break;
                        }
                        cur = oe + 1;
                        k += 1;
                    }
                    _ => {
                        out.0.push((cur, end));
                        break;
                    }
                }
            }
        }
        out
    }

    fn intersection(&self, other: &Self) -> Self {
        let mut out = Ranges::default();
        let (mut i, mut j) = (0, 0);
        while i < self.0.len() && j < other.0.len() {
            let (a0, a1) = self.0[i];
            let (b0, b1) = other.0[j];
            let (lo, hi) = (a0.max(b0), a1.min(b1));
            if lo <= hi {
                out.0.push((lo, hi));
            }
            if a1 < b1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        out
    }

    /// Builds ranges from counters given in ascending order (duplicates allowed).
    fn from_sorted(counters: impl IntoIterator<Item = u64>) -> Self {
        let mut out = Ranges::default();
        for c in counters {
            match out.0.last_mut() {
                Some(last) if c <= last.1.saturating_add(1) => last.1 = last.1.max(c),
                _ => out.0.push((c, c)),
            }
        }
        out
    }

    /// Checks the canonical-form invariant of ranges read from untrusted input.
    pub(crate) fn from_wire(pairs: &[(u64, u64)]) -> Result<Self, &'static str> {
        let mut out = Ranges(SmallVec::with_capacity(pairs.len()));
        let mut prev_end: Option<u64> = None;
        for &(start, extra) in pairs {
            if start == 0 {
                return Err("causal context: counters start at 1");
            }
            let end = start
                .checked_add(extra)
                .ok_or("causal context: range overflows u64")?;
            if let Some(prev) = prev_end {
                if start <= prev.saturating_add(1) {
                    return Err("causal context: ranges not sorted, disjoint and non-adjacent");
                }
            }
            out.0.push((start, end));
            prev_end = Some(end);
        }
        if out.is_empty() {
            return Err("causal context: empty range list for a replica");
        }
        Ok(out)
    }

    /// Wire form: `(start, end - start)` pairs, so that short ranges encode in
    /// one or two varint bytes.
    pub(crate) fn to_wire(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.0.iter().map(|&(s, e)| (s, e - s))
    }
}

/// The set of [`Dot`]s a state has seen.
///
/// ```
/// use rumor_crdt::{CausalContext, Dot, ReplicaId};
///
/// let r = ReplicaId::from_u128(1);
/// let mut ctx = CausalContext::new();
/// ctx.insert(Dot::new(r, 1));
/// ctx.insert(Dot::new(r, 3)); // out of order: kept as a separate range
/// assert_eq!(ctx.contiguous(r), 1);
/// ctx.insert(Dot::new(r, 2)); // fills the hole: folded into one range
/// assert_eq!(ctx.contiguous(r), 3);
/// assert_eq!(ctx.range_count(), 1);
/// assert_eq!(ctx.next_dot(r), Dot::new(r, 4));
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct CausalContext {
    replicas: BTreeMap<ReplicaId, Ranges>,
}

impl CausalContext {
    /// The empty context (has seen nothing).
    ///
    /// ```
    /// use rumor_crdt::CausalContext;
    ///
    /// let ctx = CausalContext::new();
    /// assert!(ctx.is_empty());
    /// assert_eq!((ctx.dot_count(), ctx.range_count()), (0, 0));
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether no dot has been seen.
    ///
    /// ```
    /// use rumor_crdt::{CausalContext, Dot, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut ctx = CausalContext::new();
    /// ctx.insert(Dot::new(r, 0)); // counter 0 is not a dot
    /// assert!(ctx.is_empty());
    /// ctx.insert(Dot::new(r, 1));
    /// assert!(!ctx.is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.replicas.is_empty()
    }

    /// Whether `dot` has been seen.
    ///
    /// ```
    /// use rumor_crdt::{CausalContext, Dot, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let ctx: CausalContext = [Dot::new(r, 1), Dot::new(r, 3)].into_iter().collect();
    /// assert!(ctx.contains(&Dot::new(r, 3)));
    /// assert!(!ctx.contains(&Dot::new(r, 2))); // a hole
    /// assert!(!ctx.contains(&Dot::new(ReplicaId::from_u128(2), 1)));
    /// ```
    #[must_use]
    pub fn contains(&self, dot: &Dot) -> bool {
        self.replicas
            .get(&dot.replica)
            .is_some_and(|r| r.contains(dot.counter))
    }

    /// Records `dot` as seen. Counter 0 is not a dot and is ignored.
    ///
    /// ```
    /// use rumor_crdt::{CausalContext, Dot, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut ctx = CausalContext::new();
    /// ctx.insert(Dot::new(r, 2));
    /// assert!(ctx.contains(&Dot::new(r, 2)));
    /// assert_eq!((ctx.contiguous(r), ctx.max(r)), (0, 2)); // 1 is still missing
    /// ctx.insert(Dot::new(r, 2)); // idempotent
    /// assert_eq!(ctx.dot_count(), 1);
    /// ```
    pub fn insert(&mut self, dot: Dot) {
        if dot.counter > 0 {
            self.insert_range(dot.replica, dot.counter..=dot.counter);
        }
    }

    /// Records every counter of `counters` at `replica` as seen. Ranges that
    /// are empty or start at 0 are clamped to start at 1.
    ///
    /// ```
    /// use rumor_crdt::{CausalContext, Dot, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut ctx = CausalContext::new();
    /// ctx.insert_range(r, 1..=1_000_000);
    /// assert!(ctx.contains(&Dot::new(r, 777)));
    /// assert_eq!(ctx.range_count(), 1);
    /// ```
    pub fn insert_range(&mut self, replica: ReplicaId, counters: RangeInclusive<u64>) {
        let (start, end) = ((*counters.start()).max(1), *counters.end());
        if start <= end {
            self.replicas.entry(replica).or_default().insert(start, end);
        }
    }

    /// The highest counter seen from `replica` (0 if none).
    ///
    /// ```
    /// use rumor_crdt::{CausalContext, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut ctx = CausalContext::new();
    /// assert_eq!(ctx.max(r), 0);
    /// ctx.insert_range(r, 5..=7);
    /// assert_eq!(ctx.max(r), 7);
    /// ```
    #[must_use]
    pub fn max(&self, replica: ReplicaId) -> u64 {
        self.replicas.get(&replica).map_or(0, Ranges::max)
    }

    /// The version-vector entry for `replica`: the largest `n` such that every
    /// counter `1..=n` has been seen (0 if none).
    ///
    /// ```
    /// use rumor_crdt::{CausalContext, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut ctx = CausalContext::new();
    /// ctx.insert_range(r, 1..=4);
    /// ctx.insert_range(r, 6..=9); // 5 is missing
    /// assert_eq!(ctx.contiguous(r), 4);
    /// assert_eq!(ctx.max(r), 9);
    /// ```
    #[must_use]
    pub fn contiguous(&self, replica: ReplicaId) -> u64 {
        self.replicas.get(&replica).map_or(0, Ranges::contiguous)
    }

    /// The dot for `replica`'s next write: one past the highest counter seen.
    ///
    /// A replica has always seen its own writes, so this never reuses a dot as
    /// long as `replica` writes only through states that carry its context.
    ///
    /// ```
    /// use rumor_crdt::{CausalContext, Dot, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut ctx = CausalContext::new();
    /// assert_eq!(ctx.next_dot(r), Dot::new(r, 1));
    /// ctx.insert_range(r, 1..=2);
    /// ctx.insert(Dot::new(r, 5));
    /// assert_eq!(ctx.next_dot(r), Dot::new(r, 6)); // past the highest, not into the hole
    /// ```
    #[must_use]
    pub fn next_dot(&self, replica: ReplicaId) -> Dot {
        Dot::new(replica, self.max(replica).saturating_add(1))
    }

    /// Whether every replica's highest counter here is admitted by `bound`
    /// against what `known` holds of the same replica: a context received
    /// from a peer that claims a counter far ahead of ours (or near the end
    /// of `u64`, where [`Self::next_dot`] would saturate) is refused.
    ///
    /// ```
    /// use rumor_crdt::{Advance, CausalContext, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let bound = Advance { step: 10, ceiling: 1 << 62 };
    /// let mut known = CausalContext::new();
    /// known.insert_range(r, 1..=5);
    /// let mut theirs = CausalContext::new();
    /// theirs.insert_range(r, 1..=15);
    /// assert!(theirs.advances_within(&known, bound));
    /// theirs.insert_range(r, u64::MAX..=u64::MAX);
    /// assert!(!theirs.advances_within(&known, bound));
    /// ```
    #[must_use]
    pub fn advances_within(&self, known: &Self, bound: Advance) -> bool {
        self.replicas
            .iter()
            .all(|(replica, ranges)| bound.admits(known.max(*replica), ranges.max()))
    }

    /// Adds every dot of `other`.
    ///
    /// ```
    /// use rumor_crdt::{CausalContext, Dot, ReplicaId};
    ///
    /// let (r1, r2) = (ReplicaId::from_u128(1), ReplicaId::from_u128(2));
    /// let mut a = CausalContext::new();
    /// a.insert_range(r1, 1..=3);
    /// let b = CausalContext::from_dots([Dot::new(r1, 4), Dot::new(r2, 1)]);
    /// a.join(&b);
    /// assert_eq!((a.contiguous(r1), a.contiguous(r2)), (4, 1));
    /// assert_eq!(a.range_count(), 2); // 1..=3 and 4 merged into one range
    /// ```
    pub fn join(&mut self, other: &Self) {
        for (replica, theirs) in &other.replicas {
            match self.replicas.get_mut(replica) {
                Some(mine) => *mine = mine.union(theirs),
                None => {
                    self.replicas.insert(*replica, theirs.clone());
                }
            }
        }
    }

    /// The dots in `self` that are not in `other`.
    ///
    /// ```
    /// use rumor_crdt::{CausalContext, Dot, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut mine = CausalContext::new();
    /// mine.insert_range(r, 1..=10);
    /// let mut theirs = CausalContext::new();
    /// theirs.insert_range(r, 3..=5);
    /// let missing = mine.difference(&theirs);
    /// assert!(missing.contains(&Dot::new(r, 2)) && !missing.contains(&Dot::new(r, 4)));
    /// assert_eq!(missing.range_count(), 2);
    /// ```
    #[must_use]
    pub fn difference(&self, other: &Self) -> Self {
        let mut replicas = BTreeMap::new();
        for (replica, mine) in &self.replicas {
            let rest = match other.replicas.get(replica) {
                Some(theirs) => mine.difference(theirs),
                None => mine.clone(),
            };
            if !rest.is_empty() {
                replicas.insert(*replica, rest);
            }
        }
        Self { replicas }
    }

    /// The dots in both `self` and `other`.
    ///
    /// ```
    /// use rumor_crdt::{CausalContext, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut a = CausalContext::new();
    /// a.insert_range(r, 1..=10);
    /// let mut b = CausalContext::new();
    /// b.insert_range(r, 8..=20);
    /// assert_eq!(a.intersection(&b).ranges(r).collect::<Vec<_>>(), [8..=10]);
    /// ```
    #[must_use]
    pub fn intersection(&self, other: &Self) -> Self {
        let mut replicas = BTreeMap::new();
        for (replica, mine) in &self.replicas {
            if let Some(theirs) = other.replicas.get(replica) {
                let both = mine.intersection(theirs);
                if !both.is_empty() {
                    replicas.insert(*replica, both);
                }
            }
        }
        Self { replicas }
    }

    /// Whether every dot of `self` is in `other`.
    ///
    /// ```
    /// use rumor_crdt::{CausalContext, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut small = CausalContext::new();
    /// small.insert_range(r, 2..=3);
    /// let mut big = CausalContext::new();
    /// big.insert_range(r, 1..=5);
    /// assert!(small.is_subset(&big) && !big.is_subset(&small));
    /// assert!(CausalContext::new().is_subset(&small));
    /// ```
    #[must_use]
    pub fn is_subset(&self, other: &Self) -> bool {
        self.replicas.iter().all(|(replica, mine)| {
            other
                .replicas
                .get(replica)
                .is_some_and(|theirs| mine.is_subset(theirs))
        })
    }

    /// A context holding exactly `dots`.
    ///
    /// ```
    /// use rumor_crdt::{CausalContext, Dot, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let ctx = CausalContext::from_dots([3, 1, 2, 2, 7].map(|n| Dot::new(r, n)));
    /// assert_eq!(ctx.ranges(r).collect::<Vec<_>>(), [1..=3, 7..=7]);
    /// assert_eq!(ctx.dot_count(), 4);
    /// ```
    pub fn from_dots(dots: impl IntoIterator<Item = Dot>) -> Self {
        let mut all: Vec<Dot> = dots.into_iter().filter(|d| d.counter > 0).collect();
        all.sort_unstable();
        let mut replicas = BTreeMap::new();
        for chunk in all.chunk_by(|a, b| a.replica == b.replica) {
            let ranges = Ranges::from_sorted(chunk.iter().map(|d| d.counter));
            replicas.insert(chunk[0].replica, ranges);
        }
        Self { replicas }
    }

    /// The replicas with at least one seen dot.
    ///
    /// ```
    /// use rumor_crdt::{CausalContext, Dot, ReplicaId};
    ///
    /// let (r1, r2) = (ReplicaId::from_u128(1), ReplicaId::from_u128(2));
    /// let ctx = CausalContext::from_dots([Dot::new(r2, 1), Dot::new(r1, 4)]);
    /// assert_eq!(ctx.replicas().collect::<Vec<_>>(), [r1, r2]);
    /// ```
    pub fn replicas(&self) -> impl Iterator<Item = ReplicaId> + '_ {
        self.replicas.keys().copied()
    }

    /// The seen counter ranges of `replica`, ascending.
    ///
    /// ```
    /// use rumor_crdt::{CausalContext, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut ctx = CausalContext::new();
    /// ctx.insert_range(r, 10..=12);
    /// ctx.insert_range(r, 1..=3);
    /// assert_eq!(ctx.ranges(r).collect::<Vec<_>>(), [1..=3, 10..=12]);
    /// assert_eq!(ctx.ranges(ReplicaId::from_u128(2)).count(), 0);
    /// ```
    pub fn ranges(&self, replica: ReplicaId) -> impl Iterator<Item = RangeInclusive<u64>> + '_ {
        self.replicas
            .get(&replica)
            .into_iter()
            .flat_map(|r| r.iter().map(|(s, e)| s..=e))
    }

    /// How many ranges the context holds over all replicas: its size on the
    /// wire is proportional to this, not to the number of dots.
    ///
    /// ```
    /// use rumor_crdt::{CausalContext, Dot, ReplicaId};
    ///
    /// let (r1, r2) = (ReplicaId::from_u128(1), ReplicaId::from_u128(2));
    /// let mut ctx = CausalContext::new();
    /// ctx.insert_range(r1, 1..=1_000);
    /// ctx.insert_range(r1, 2_000..=3_000);
    /// ctx.insert(Dot::new(r2, 1));
    /// assert_eq!(ctx.range_count(), 3);
    /// ```
    #[must_use]
    pub fn range_count(&self) -> usize {
        self.replicas.values().map(|r| r.0.len()).sum()
    }

    /// How many dots the context holds.
    ///
    /// ```
    /// use rumor_crdt::{CausalContext, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut ctx = CausalContext::new();
    /// ctx.insert_range(r, 1..=1_000);
    /// ctx.insert_range(r, 2_001..=3_000);
    /// assert_eq!(ctx.dot_count(), 2_000);
    /// ```
    #[must_use]
    pub fn dot_count(&self) -> u128 {
        self.replicas.values().map(Ranges::count).sum()
    }

    pub(crate) fn iter_replica_ranges(&self) -> impl Iterator<Item = (ReplicaId, &Ranges)> + '_ {
        self.replicas.iter().map(|(r, ranges)| (*r, ranges))
    }

    pub(crate) fn from_replica_ranges(replicas: BTreeMap<ReplicaId, Ranges>) -> Self {
        Self { replicas }
    }
}

/// Membership tests against one context that remember the last replica
/// looked up (found or not): a join asks about the same one or two replicas
/// over and over, and this saves a map search per dot.
pub(crate) struct ContextProbe<'a> {
    context: &'a CausalContext,
    last: Option<(ReplicaId, Option<&'a Ranges>)>,
}

impl<'a> ContextProbe<'a> {
    pub(crate) fn new(context: &'a CausalContext) -> Self {
        Self {
            context,
            last: None,
        }
    }

    /// Whether `dot` has been seen.
    pub(crate) fn contains(&mut self, dot: &Dot) -> bool {
        let ranges = match self.last {
            Some((replica, ranges)) if replica == dot.replica => ranges,
            _ => {
                let ranges = self.context.replicas.get(&dot.replica);
                self.last = Some((dot.replica, ranges));
                ranges
            }
        };
        ranges.is_some_and(|r| r.contains(dot.counter))
    }
}

impl fmt::Debug for CausalContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (replica, ranges) in &self.replicas {
            let list: Vec<RangeInclusive<u64>> = ranges.iter().map(|(s, e)| s..=e).collect();
            map.entry(replica, &list);
        }
        map.finish()
    }
}

impl Extend<Dot> for CausalContext {
    fn extend<I: IntoIterator<Item = Dot>>(&mut self, dots: I) {
        for dot in dots {
            self.insert(dot);
        }
    }
}

impl FromIterator<Dot> for CausalContext {
    fn from_iter<I: IntoIterator<Item = Dot>>(dots: I) -> Self {
        Self::from_dots(dots)
    }
}

/// Wire form: `[(replica, [(start, end - start)])]`, replicas ascending.
type WireContext = Vec<(ReplicaId, Vec<(u64, u64)>)>;

impl Serialize for CausalContext {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(
            self.replicas
                .iter()
                .map(|(replica, ranges)| (replica, WireRanges(ranges))),
        )
    }
}

struct WireRanges<'a>(&'a Ranges);

impl Serialize for WireRanges<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.to_wire())
    }
}

impl<'de> Deserialize<'de> for CausalContext {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = WireContext::deserialize(deserializer)?;
        let mut replicas = BTreeMap::new();
        let mut prev: Option<ReplicaId> = None;
        for (replica, pairs) in wire {
            if prev.is_some_and(|p| p >= replica) {
                return Err(serde::de::Error::custom(
                    "causal context: replicas not strictly ascending",
                ));
            }
            prev = Some(replica);
            let ranges = Ranges::from_wire(&pairs).map_err(serde::de::Error::custom)?;
            replicas.insert(replica, ranges);
        }
        Ok(Self { replicas })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(pairs: &[(u64, u64)]) -> Ranges {
        Ranges(pairs.iter().copied().collect())
    }

    #[test]
    fn insert_merges_neighbours_on_both_sides() {
        let mut r = ranges(&[(1, 2), (4, 4), (6, 9)]);
        r.insert(3, 5);
        assert_eq!(r, ranges(&[(1, 9)]));
    }

    #[test]
    fn insert_before_all_ranges_keeps_order() {
        let mut r = ranges(&[(5, 6), (9, 9)]);
        r.insert(1, 2);
        assert_eq!(r, ranges(&[(1, 2), (5, 6), (9, 9)]));
    }

    #[test]
    fn difference_cuts_holes_and_edges() {
        let a = ranges(&[(1, 10), (20, 30)]);
        let b = ranges(&[(3, 4), (8, 22), (30, 40)]);
        assert_eq!(a.difference(&b), ranges(&[(1, 2), (5, 7), (23, 29)]));
    }

    #[test]
    fn difference_at_u64_max_does_not_overflow() {
        let a = ranges(&[(u64::MAX - 3, u64::MAX)]);
        let b = ranges(&[(u64::MAX - 1, u64::MAX)]);
        assert_eq!(a.difference(&b), ranges(&[(u64::MAX - 3, u64::MAX - 2)]));
    }

    #[test]
    fn intersection_and_union_agree_with_counting() {
        let a = ranges(&[(1, 10), (20, 30)]);
        let b = ranges(&[(5, 25)]);
        let union = a.union(&b);
        let inter = a.intersection(&b);
        assert_eq!(union, ranges(&[(1, 30)]));
        assert_eq!(inter, ranges(&[(5, 10), (20, 25)]));
        assert_eq!(union.count() + inter.count(), a.count() + b.count());
    }

    #[test]
    fn wire_form_rejects_overlapping_or_zero_ranges() {
        assert!(Ranges::from_wire(&[(0, 1)]).is_err());
        assert!(Ranges::from_wire(&[(1, 3), (4, 0)]).is_err());
        assert!(Ranges::from_wire(&[(u64::MAX, 1)]).is_err());
        assert!(Ranges::from_wire(&[]).is_err());
        assert!(
            Ranges::from_wire(&[(1, 3), (5, 0)]).is_err(),
            "adjacent ranges are not canonical"
        );
        assert_eq!(
            Ranges::from_wire(&[(1, 3), (6, 0)]),
            Ok(ranges(&[(1, 4), (6, 6)]))
        );
    }
}
