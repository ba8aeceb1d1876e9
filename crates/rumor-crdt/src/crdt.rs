//! The [`Crdt`] trait: join, causal summary and exact delta extraction.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Debug;

/// A state-based, delta-enabled CRDT.
///
/// The states of a type form a join-semilattice: [`Crdt::join`] is the least
/// upper bound, so it is commutative, associative and idempotent, and
/// `Default::default()` is the bottom (the state that has seen nothing).
///
/// Every mutator of an implementing type applies its change to `self` **and
/// returns the delta**, itself a value of the type: joining that delta into
/// any replica that already had the prior state gives the same result as the
/// mutation (`s ⊔ m_δ(s) == m(s)`).
///
/// For anti-entropy, [`Crdt::context`] summarizes what a state has seen and
/// [`Crdt::delta_since`] returns what a peer with a given summary is missing.
/// For all reachable states `a` and `b`:
/// `a ⊔ b.delta_since(&a.context()) == a ⊔ b`.
///
/// ```
/// use rumor_crdt::{Crdt, GCounter, ReplicaId};
///
/// let (r1, r2) = (ReplicaId::from_u128(1), ReplicaId::from_u128(2));
/// let mut a = GCounter::new();
/// let mut b = GCounter::new();
/// a.increment(r1, 2);
/// let delta = b.increment(r2, 5);
///
/// // Ship only what `a` lacks, then join it.
/// let missing = b.delta_since(&a.context());
/// assert_eq!(missing, delta);
/// a.join(&missing);
/// assert_eq!(a.value(), 7);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a CRDT",
    label = "not a CRDT (each field of a `#[derive(Crdt)]` struct must be one)",
    note = "the CRDTs are GCounter, PnCounter, LwwRegister, MvRegister, LwwMap, OrSet, OrMap and the structs that derive `Crdt`"
)]
pub trait Crdt: Clone + PartialEq + Default + Debug {
    /// The summary of what a state has seen: the entries for counters, a
    /// [`CausalContext`](crate::CausalContext) for dot-based types.
    ///
    /// ```
    /// use rumor_crdt::{CausalContext, Crdt, Dot, OrSet, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut set = OrSet::new();
    /// set.insert(r, 'x');
    /// let seen: CausalContext = set.context();
    /// assert!(seen.contains(&Dot::new(r, 1)));
    /// ```
    type Context: Clone + PartialEq + Default + Debug;

    /// Joins `other` into `self` (least upper bound).
    ///
    /// ```
    /// use rumor_crdt::{Crdt, GCounter, ReplicaId};
    ///
    /// let (mut a, mut b) = (GCounter::new(), GCounter::new());
    /// let da = a.increment(ReplicaId::from_u128(1), 3);
    /// let db = b.increment(ReplicaId::from_u128(2), 4);
    /// a.join(&db);
    /// b.join(&da);
    /// b.join(&da); // again: idempotent
    /// assert_eq!(a, b); // commutative
    /// assert_eq!(a.value(), 7);
    /// ```
    fn join(&mut self, other: &Self);

    /// What this state has seen.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, GCounter, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut counter = GCounter::new();
    /// counter.increment(r, 3);
    /// let seen = counter.context(); // a counter is its own summary
    /// assert_eq!(seen.get(r), 3);
    /// assert!(counter.delta_since(&seen).is_bottom());
    /// ```
    fn context(&self) -> Self::Context;

    /// The smallest state that, joined into a replica whose summary is
    /// `seen`, brings it up to `self ⊔ that replica`.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, OrSet, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut peer = OrSet::new();
    /// peer.insert(r, 1);
    /// let mut me = peer.clone();
    /// let added = me.insert(r, 2);
    /// let delta = me.delta_since(&peer.context());
    /// assert_eq!(delta, added); // exactly the write the peer lacks
    /// ```
    fn delta_since(&self, seen: &Self::Context) -> Self;

    /// Whether this is the bottom state (an empty delta is not worth sending).
    ///
    /// ```
    /// use rumor_crdt::{Crdt, PnCounter, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut counter = PnCounter::new();
    /// assert!(counter.is_bottom());
    /// assert!(counter.increment(r, 0).is_bottom()); // a no-op's delta: nothing to send
    /// counter.increment(r, 1);
    /// counter.decrement(r, 1);
    /// assert!(counter.value() == 0 && !counter.is_bottom()); // zero, but not bottom
    /// ```
    fn is_bottom(&self) -> bool {
        *self == Self::default()
    }

    /// Whether `self` already reflects everything in `other`
    /// (`other ≤ self`, i.e. `self ⊔ other == self`).
    ///
    /// ```
    /// use rumor_crdt::{Crdt, GCounter, ReplicaId};
    ///
    /// let mut counter = GCounter::new();
    /// let delta = counter.increment(ReplicaId::from_u128(1), 2);
    /// assert!(counter.includes(&delta));
    /// assert!(!GCounter::new().includes(&delta));
    /// ```
    fn includes(&self, other: &Self) -> bool {
        let mut joined = self.clone();
        joined.join(other);
        joined == *self
    }

    /// The part of `self` that `other` is missing:
    /// `self.delta_since(&other.context())`, without copying the context.
    /// Gossip uses it to forward only what a received delta added.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, GCounter, ReplicaId};
    ///
    /// let (r1, r2) = (ReplicaId::from_u128(1), ReplicaId::from_u128(2));
    /// let mut mine = GCounter::new();
    /// mine.increment(r1, 1);
    /// mine.increment(r2, 2);
    /// let mut received = GCounter::new();
    /// received.increment(r1, 1);
    /// let news = mine.missing_from(&received);
    /// assert_eq!(news.entries().collect::<Vec<_>>(), [(r2, 2)]);
    /// ```
    fn missing_from(&self, other: &Self) -> Self {
        self.delta_since(&other.context())
    }

    /// The latest hybrid-logical-clock timestamp among the writes this value
    /// holds, for types ordered by time (the LWW types); `None` for the
    /// others. A replica feeds what it receives to its [`Hlc`](crate::Hlc)
    /// with [`Hlc::observe`](crate::Hlc::observe), so that its next write
    /// is stamped after everything it has seen.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, GCounter, Hlc, LwwMap, ReplicaId};
    ///
    /// let mut theirs = Hlc::new(ReplicaId::from_u128(2));
    /// let mut map = LwwMap::new();
    /// let delta = map.insert("k", 1, theirs.now(5_000)).unwrap();
    /// assert_eq!(delta.latest_timestamp(), Some(theirs.last()));
    /// assert_eq!(GCounter::new().latest_timestamp(), None);
    ///
    /// let mut mine = Hlc::new(ReplicaId::from_u128(1));
    /// mine.observe(delta.latest_timestamp().unwrap(), 1_000).unwrap();
    /// assert!(mine.now(1_000) > theirs.last()); // my clock lags, my write still wins
    /// ```
    fn latest_timestamp(&self) -> Option<crate::HlcTimestamp> {
        None
    }

    /// Whether every counter that names a write in `self` (a dot counter)
    /// is admitted by `bound` against what `known` has seen of the same
    /// replica. A receiver checks what a peer sends before joining it: one
    /// message must not carry a replica's counter far ahead of it, or to the
    /// end of `u64`, where the replica's next write would reuse a dot.
    /// Types without dots (the counters, the LWW register) admit everything.
    ///
    /// ```
    /// use rumor_crdt::{Advance, CausalContext, Crdt, OrSet, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let bound = Advance { step: 1_000, ceiling: 1 << 62 };
    /// let mut mine = OrSet::new();
    /// let add = mine.insert(r, "x");
    /// assert!(add.advances_within(&OrSet::new(), bound));
    /// let mut last = CausalContext::new();
    /// last.insert_range(r, u64::MAX..=u64::MAX);
    /// assert!(!OrSet::<&str>::removal(last).advances_within(&mine, bound));
    /// ```
    fn advances_within(&self, known: &Self, bound: crate::Advance) -> bool {
        let _ = (known, bound);
        true
    }

    /// Whether every write this value holds was made by `author`: every dot
    /// of its live elements or entries, every counter entry, every
    /// timestamp names `author`. Removals are not writes: the dots a
    /// removal's causal context names may be anyone's (a replica removes
    /// what it has seen). The bottom value is written by no one, so by
    /// every author.
    ///
    /// A receiver of a delta signed by its author checks it: the key that
    /// signed it must be the key of every replica its writes name, so that
    /// a member holding the cluster key still cannot write as another.
    /// The default says `false` unless the value is bottom: a type that does
    /// not say who wrote it has its signed deltas refused, never taken on
    /// trust. Every type of this crate and every `#[derive(Crdt)]` struct
    /// says.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, GCounter, ReplicaId};
    ///
    /// let (me, you) = (ReplicaId::from_u128(1), ReplicaId::from_u128(2));
    /// let mut counter = GCounter::new();
    /// let mine = counter.increment(me, 3);
    /// assert!(mine.authored_only_by(me));
    /// assert!(!mine.authored_only_by(you));
    /// counter.increment(you, 1);
    /// assert!(!counter.authored_only_by(me)); // two writers
    /// assert!(GCounter::new().authored_only_by(you));
    /// ```
    fn authored_only_by(&self, author: crate::ReplicaId) -> bool {
        let _ = author;
        self.is_bottom()
    }

    /// Makes this value's next writes take dots beyond every dot of
    /// `seen`, for a value nested in an [`OrMap`](crate::OrMap): the map
    /// calls it on a **temporary copy** of a key's value before a nested
    /// mutation, so that the map and every dot-based value inside it draw
    /// their dots from one causal context. Dot-based types join `seen` into
    /// their context (so the copy then claims to have seen those dots: never
    /// call it on a replica's state); the others ignore it (the default).
    ///
    /// ```
    /// use rumor_crdt::{CausalContext, Crdt, Dot, OrSet, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut copy: OrSet<&str> = OrSet::new();
    /// copy.observe_dots(&CausalContext::from_dots([Dot::new(r, 41)]));
    /// let delta = copy.insert(r, "x");
    /// assert_eq!(delta.dots(&"x"), [Dot::new(r, 42)]);
    /// ```
    fn observe_dots(&mut self, seen: &crate::CausalContext) {
        let _ = seen;
    }

    /// The highest counter of `replica` among the dots this value has seen,
    /// for dot-based types; 0 for the others (the default). An
    /// [`OrMap`](crate::OrMap) names a nested update by the last dot it took.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, GCounter, MvRegister, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut register = MvRegister::new();
    /// register.set(r, "a");
    /// register.set(r, "b");
    /// assert_eq!(register.last_dot(r), 2);
    /// assert_eq!(GCounter::new().last_dot(r), 0);
    /// ```
    fn last_dot(&self, replica: crate::ReplicaId) -> u64 {
        let _ = replica;
        0
    }

    /// Splits `self` into at most `parts` non-bottom pieces, each included in
    /// `self`, whose join is `self`: a large delta can then travel in several
    /// messages that arrive in any order. A lost piece only delays what it
    /// carries; joining the others is still safe (each piece is `≤ self`).
    /// The default keeps the state in one piece, for types that cannot be
    /// split (a register).
    ///
    /// ```
    /// use rumor_crdt::{Crdt, OrSet, ReplicaId};
    ///
    /// let r = ReplicaId::from_u128(1);
    /// let mut set = OrSet::new();
    /// for k in 0..10 {
    ///     set.insert(r, k);
    /// }
    /// let pieces = set.split(3);
    /// assert_eq!(pieces.len(), 3);
    /// let mut joined = OrSet::new();
    /// for piece in pieces.iter().rev() {
    ///     assert!(set.includes(piece));
    ///     joined.join(piece);
    /// }
    /// assert_eq!(joined, set);
    /// ```
    fn split(&self, parts: usize) -> Vec<Self> {
        let _ = parts;
        if self.is_bottom() {
            Vec::new()
        } else {
            vec![self.clone()]
        }
    }
}

/// The length of each of `parts` chunks covering `len` items (at least 1).
pub(crate) fn chunk_len(len: usize, parts: usize) -> usize {
    len.div_ceil(parts.max(1)).max(1)
}
