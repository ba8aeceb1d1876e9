//! The models of rumor's own types (feature `models`): each type's
//! operations and its [`Model`], written once here and used by every tool
//! that checks the laws on them: rumor's proptest and quickcheck law tests
//! (`tests/laws_*.rs`) and its `merge_laws_<type>` fuzz targets
//! (`rumor-fuzz`).
//!
//! Each operation type is `arbitrary::Arbitrary` (derived, feature
//! `arbitrary`: the fuzz corpus is read through that decoding, so its
//! variants, their order and their field types are fixed) and
//! `quickcheck::Arbitrary` (feature `quickcheck`, drawing from the small
//! ranges below so that writes collide); proptest strategies are the
//! tests' own, built from the same ranges.
//!
//! ```
//! use rumor_laws::models::{OrMapModel, OrSetModel, OrSetOp, OrMapOp};
//! use rumor_laws::{History, Step};
//!
//! let steps = vec![
//!     Step::Mutate { replica: 0, op: OrMapOp::Update(1, OrSetOp::Insert(7)) },
//!     Step::Sync { to: 1, from: 0, via_delta: true, observe_clock: true },
//!     Step::Mutate { replica: 1, op: OrMapOp::RemoveHeld(0) },
//! ];
//! let history = History { replicas: 2, steps, seed: 1 };
//! assert_eq!(rumor_laws::check_all::<OrMapModel<OrSetModel>>(&history), Ok(()));
//! ```

use core::fmt::{Debug, Display};
use core::marker::PhantomData;

use rumor_crdt::{
    Crdt, GCounter, HlcTimestamp, LwwMap, LwwRegister, MvRegister, OrMap, OrSet, PnCounter,
};

use crate::history::{Model, Writer};

/// Wall times passed to the writers' clocks are `WALL_BASE_MS` plus an
/// operation's 16-bit offset: clocks jump forward and back, and overlap
/// between replicas.
pub const WALL_BASE_MS: u64 = 1_700_000_000_000;
/// Map keys are taken modulo this (by [`LwwMapModel`] and [`OrMapModel`]),
/// and the models' checks look at every key below it.
pub const MAP_KEYS: u8 = 16;
/// Generated register and map values are drawn from `0..VALUES`.
pub const VALUES: u8 = 4;
/// Generated map keys are drawn from `0..KEYS`: few, so that writes collide.
pub const KEYS: u8 = 4;
/// Generated set elements are drawn from `0..HOT_ELEMENTS` a third of the
/// time (so that adds and removes of one element collide often) and from
/// `0..ELEMENTS` otherwise (so that sets grow past the size where
/// `OrSet::join` switches to its path for small deltas into large states).
pub const HOT_ELEMENTS: u8 = 4;
/// See [`HOT_ELEMENTS`].
pub const ELEMENTS: u8 = 32;
/// Generated wall-time offsets (ms after [`WALL_BASE_MS`]) are drawn from
/// `0..WALLS`, so a writer's wall clock jumps forward and back and clocks
/// of different replicas overlap.
pub const WALLS: u16 = 40;

/// A timestamp of `writer`'s for a write at wall time `WALL_BASE_MS + offset_ms`.
fn now(writer: &mut Writer, offset_ms: u16) -> HlcTimestamp {
    writer.now(WALL_BASE_MS + u64::from(offset_ms))
}

/// Returns `Err(format!(...))` from the enclosing function unless `cond`.
macro_rules! ensure {
    ($cond:expr, $($message:tt)+) => {
        if !$cond {
            return Err(format!($($message)+));
        }
    };
}

// ---------------------------------------------------------------------------
// The operations

/// An operation on a [`GCounter`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum GCounterOp {
    /// `increment(replica, amount)`.
    Increment(u64),
}

/// An operation on a [`PnCounter`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum PnCounterOp {
    /// `increment(replica, amount)`.
    Increment(u64),
    /// `decrement(replica, amount)`.
    Decrement(u64),
}

/// An operation on an [`LwwRegister<u8>`], at a wall-clock offset of the writer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum LwwRegisterOp {
    /// `set(value, clock.now(WALL_BASE_MS + wall))`.
    Set {
        /// The value written.
        value: u8,
        /// The writer's wall clock, ms after [`WALL_BASE_MS`].
        wall: u16,
    },
}

/// An operation on an [`LwwMap<u8, u8>`], at a wall-clock offset of the
/// writer; keys are taken modulo [`MAP_KEYS`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum LwwMapOp {
    /// `insert(key, value, clock.now(WALL_BASE_MS + wall))`.
    Insert {
        /// The key.
        key: u8,
        /// The value.
        value: u8,
        /// The writer's wall clock, ms after [`WALL_BASE_MS`].
        wall: u16,
    },
    /// `remove(&key, clock.now(WALL_BASE_MS + wall))`.
    Remove {
        /// The key.
        key: u8,
        /// The writer's wall clock, ms after [`WALL_BASE_MS`].
        wall: u16,
    },
}

/// An operation on an [`OrSet<u8>`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum OrSetOp {
    /// `insert(replica, element)`.
    Insert(u8),
    /// `remove(&element)`, whether the replica holds it or not.
    Remove(u8),
    /// `remove` of the `n`-th element (modulo their number) the replica
    /// holds, so that removals mostly remove something; element `n` when it
    /// holds none.
    RemoveHeld(u8),
    /// `clear()`.
    Clear,
}

/// An operation on an [`MvRegister<u8>`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum MvRegisterOp {
    /// `set(replica, value)`.
    Set(u8),
    /// `clear()`.
    Clear,
}

/// An operation on an [`OrMap<u8, V>`] whose values take the operations `O`
/// (see [`OrMapModel`]); keys are taken modulo [`MAP_KEYS`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum OrMapOp<O> {
    /// `update(replica, key, |value| op on the value)`.
    Update(u8, O),
    /// `remove(&key)`, whether the replica holds it or not.
    Remove(u8),
    /// `remove` of the `n`-th key (modulo their number) the replica holds,
    /// so that removals mostly remove something; key `n` when it holds none.
    RemoveHeld(u8),
}

// ---------------------------------------------------------------------------
// The models

/// [`GCounter`].
#[derive(Debug)]
pub struct GCounterModel;
/// [`PnCounter`].
#[derive(Debug)]
pub struct PnCounterModel;
/// [`LwwRegister<u8>`].
#[derive(Debug)]
pub struct LwwRegisterModel;
/// [`LwwMap<u8, u8>`].
#[derive(Debug)]
pub struct LwwMapModel;
/// [`OrSet<u8>`].
#[derive(Debug)]
pub struct OrSetModel;
/// [`MvRegister<u8>`].
#[derive(Debug)]
pub struct MvRegisterModel;
/// [`OrMap<u8, V::State>`](OrMap): its values are played by the model `V`
/// (an OR-Set, or a struct holding every kind of CRDT).
#[derive(Debug)]
pub struct OrMapModel<V>(PhantomData<V>);

/// Per-replica entries never shrink, so neither does the value.
fn counter_keeps(a: &GCounter, joined: &GCounter) -> Result<(), String> {
    for (replica, n) in a.entries() {
        ensure!(
            joined.get(replica) >= n,
            "the entry of {replica:?} went down"
        );
    }
    ensure!(joined.value() >= a.value(), "the value went down");
    Ok(())
}

impl Model for GCounterModel {
    type State = GCounter;
    type Op = GCounterOp;

    fn mutate(counter: &mut GCounter, op: &GCounterOp, writer: &mut Writer) -> GCounter {
        let GCounterOp::Increment(amount) = *op;
        counter.increment(writer.id, amount)
    }

    fn keeps(a: &GCounter, _: &GCounter, joined: &GCounter) -> Result<(), String> {
        counter_keeps(a, joined)
    }

    fn survives(r: &GCounter, _: &GCounter, partial: &GCounter) -> Result<(), String> {
        counter_keeps(r, partial)
    }

    fn entries(counter: &GCounter) -> usize {
        counter.entries().count()
    }
}

impl Model for PnCounterModel {
    type State = PnCounter;
    type Op = PnCounterOp;

    fn mutate(counter: &mut PnCounter, op: &PnCounterOp, writer: &mut Writer) -> PnCounter {
        match *op {
            PnCounterOp::Increment(amount) => counter.increment(writer.id, amount),
            PnCounterOp::Decrement(amount) => counter.decrement(writer.id, amount),
        }
    }

    fn keeps(a: &PnCounter, _: &PnCounter, joined: &PnCounter) -> Result<(), String> {
        counter_keeps(a.increments(), joined.increments())
            .map_err(|e| format!("increments: {e}"))?;
        counter_keeps(a.decrements(), joined.decrements()).map_err(|e| format!("decrements: {e}"))
    }

    fn survives(r: &PnCounter, full: &PnCounter, partial: &PnCounter) -> Result<(), String> {
        Self::keeps(r, full, partial)
    }

    fn entries(counter: &PnCounter) -> usize {
        counter.increments().entries().count() + counter.decrements().entries().count()
    }
}

/// The newer write (by timestamp) is the one kept, with its value.
fn lww_keeps<V: PartialEq + Debug>(
    what: &dyn Display,
    a: (Option<HlcTimestamp>, Option<V>),
    b: (Option<HlcTimestamp>, Option<V>),
    joined: (Option<HlcTimestamp>, Option<V>),
) -> Result<(), String> {
    ensure!(
        joined.0 >= a.0,
        "{what}: an older write replaced a newer one"
    );
    ensure!(
        joined.0 == a.0.max(b.0),
        "{what}: the join kept a write neither side had"
    );
    if joined.0 == a.0 {
        ensure!(joined.1 == a.1, "{what}: same timestamp, different value");
    }
    Ok(())
}

/// A register or LWW map entry of `r` never goes back, and one that the
/// whole join kept (same timestamp) is kept by the partial join, with its
/// value.
fn lww_survives<V: PartialEq + Debug>(
    what: &dyn Display,
    r: (Option<HlcTimestamp>, Option<V>),
    full: (Option<HlcTimestamp>, Option<V>),
    partial: (Option<HlcTimestamp>, Option<V>),
) -> Result<(), String> {
    ensure!(partial.0 >= r.0, "{what}: r's write {r:?} went back");
    if r.0.is_some() && full.0 == r.0 {
        ensure!(
            partial == r,
            "{what}: r's write {r:?}, which r ⊔ s keeps, became {partial:?}"
        );
    }
    Ok(())
}

impl Model for LwwRegisterModel {
    type State = LwwRegister<u8>;
    type Op = LwwRegisterOp;

    fn mutate(register: &mut Self::State, op: &LwwRegisterOp, writer: &mut Writer) -> Self::State {
        let LwwRegisterOp::Set { value, wall } = *op;
        register.set(value, now(writer, wall)).unwrap_or_default()
    }

    fn keeps(a: &Self::State, b: &Self::State, joined: &Self::State) -> Result<(), String> {
        let write = |s: &Self::State| (s.timestamp(), s.get().copied());
        lww_keeps(&"register", write(a), write(b), write(joined))
    }

    fn survives(r: &Self::State, full: &Self::State, partial: &Self::State) -> Result<(), String> {
        let write = |s: &Self::State| (s.timestamp(), s.get().copied());
        lww_survives(&"register", write(r), write(full), write(partial))
    }

    fn entries(register: &Self::State) -> usize {
        usize::from(register.timestamp().is_some())
    }
}

impl Model for LwwMapModel {
    type State = LwwMap<u8, u8>;
    type Op = LwwMapOp;

    fn mutate(map: &mut Self::State, op: &LwwMapOp, writer: &mut Writer) -> Self::State {
        match *op {
            LwwMapOp::Insert { key, value, wall } => map
                .insert(key % MAP_KEYS, value, now(writer, wall))
                .unwrap_or_default(),
            LwwMapOp::Remove { key, wall } => map
                .remove(&(key % MAP_KEYS), now(writer, wall))
                .unwrap_or_default(),
        }
    }

    fn keeps(a: &Self::State, b: &Self::State, joined: &Self::State) -> Result<(), String> {
        for key in 0..MAP_KEYS {
            let write = |s: &Self::State| (s.timestamp(&key), s.get(&key).copied());
            lww_keeps(
                &format_args!("key {key}"),
                write(a),
                write(b),
                write(joined),
            )?;
        }
        // The context is the dots of the writes held, so an overwritten
        // write's dot leaves it: what must not shrink is each key's write,
        // checked above, and the dot counters a writer continues from.
        let (before, after) = (a.context(), joined.context());
        for replica in before.replicas() {
            ensure!(
                after.max(replica) >= before.max(replica)
                    || (0..MAP_KEYS).any(|k| joined.timestamp(&k) > a.timestamp(&k)),
                "the writes of {replica:?} went back"
            );
        }
        Ok(())
    }

    fn survives(r: &Self::State, full: &Self::State, partial: &Self::State) -> Result<(), String> {
        for key in 0..MAP_KEYS {
            let write = |s: &Self::State| (s.timestamp(&key), s.get(&key).copied());
            lww_survives(
                &format_args!("key {key}"),
                write(r),
                write(full),
                write(partial),
            )?;
        }
        Ok(())
    }

    fn entries(map: &Self::State) -> usize {
        (0..MAP_KEYS).filter(|k| map.timestamp(k).is_some()).count()
    }
}

impl Model for OrSetModel {
    type State = OrSet<u8>;
    type Op = OrSetOp;

    fn mutate(set: &mut Self::State, op: &OrSetOp, writer: &mut Writer) -> Self::State {
        match *op {
            OrSetOp::Insert(element) => set.insert(writer.id, element),
            OrSetOp::Remove(element) => set.remove(&element),
            OrSetOp::RemoveHeld(n) => {
                let held = set.len();
                let element = match held {
                    0 => n,
                    _ => set.iter().nth(usize::from(n) % held).copied().unwrap_or(n),
                };
                set.remove(&element)
            }
            OrSetOp::Clear => set.clear(),
        }
    }

    /// Every element of `a` with a dot `b` has not seen survives (`b` cannot
    /// have removed what it never saw); every element of the join is in `a`
    /// or `b`; the context only grows. The elements of `a` with dots unseen
    /// by `b` are the entries of `a.delta_since(&b.context())`, whose
    /// exactness `exact_delta_extraction` checks on its own.
    fn keeps(a: &Self::State, b: &Self::State, joined: &Self::State) -> Result<(), String> {
        let unseen_by_b = a.delta_since(&b.context());
        for element in unseen_by_b.iter() {
            ensure!(
                joined.contains(element),
                "element {element} has a dot the other side never saw, but was lost"
            );
        }
        for element in joined.iter() {
            ensure!(
                a.contains(element) || b.contains(element),
                "element {element} came from nowhere"
            );
        }
        ensure!(
            a.context().is_subset(&joined.context()),
            "the causal context shrank"
        );
        Ok(())
    }

    /// An element of `r` must stay if `r ⊔ s` keeps one of `r`'s dots of it,
    /// or holds it by a re-add that `r` lacks (a re-add replaced `r`'s dots
    /// in the same delta: no replica ever saw the element gone). It may go
    /// for a while when `s` removed `r`'s dots of it and holds it only by
    /// another add: a piece with the removal and not the add is then what a
    /// replica holds that got the removal's delta first.
    fn survives(r: &Self::State, full: &Self::State, partial: &Self::State) -> Result<(), String> {
        for element in r.iter() {
            let kept = full.dots(element);
            let mine = r.dots(element);
            let must_stay = mine.iter().any(|d| kept.contains(d))
                || kept.iter().any(|d| full.is_readd(d) && !mine.contains(d));
            ensure!(
                !must_stay || partial.contains(element),
                "element {element} of r, which r ⊔ s keeps, was removed"
            );
        }
        Ok(())
    }

    /// A split keeps every re-added element in one piece (with the dots the
    /// re-adds replaced): the other elements count one each.
    fn entries(set: &Self::State) -> usize {
        let readded = |e: &&u8| set.dots(e).iter().any(|d| set.is_readd(d));
        let plain = set.iter().filter(|e| !readded(e)).count();
        plain + usize::from(set.iter().any(|e| readded(&e)))
    }
}

impl Model for MvRegisterModel {
    type State = MvRegister<u8>;
    type Op = MvRegisterOp;

    fn mutate(register: &mut Self::State, op: &MvRegisterOp, writer: &mut Writer) -> Self::State {
        match *op {
            MvRegisterOp::Set(value) => register.set(writer.id, value),
            MvRegisterOp::Clear => register.clear(),
        }
    }

    /// Every write of `a` that `b` has not seen survives (`b` cannot have
    /// replaced what it never saw); every write of the join is in `a` or
    /// `b`; the context only grows.
    fn keeps(a: &Self::State, b: &Self::State, joined: &Self::State) -> Result<(), String> {
        let b_context = b.context();
        let held: Vec<_> = joined.entries().map(|(d, v)| (d, *v)).collect();
        for (dot, value) in a.entries() {
            if !b_context.contains(&dot) {
                ensure!(
                    held.contains(&(dot, *value)),
                    "write {dot:?} = {value}, unseen by the other side, was lost"
                );
            }
        }
        for (dot, value) in &held {
            let from_a = a.entries().any(|(d, v)| d == *dot && v == value);
            let from_b = b.entries().any(|(d, v)| d == *dot && v == value);
            ensure!(
                from_a || from_b,
                "write {dot:?} = {value} came from nowhere"
            );
        }
        ensure!(
            a.context().is_subset(&joined.context()),
            "the causal context shrank"
        );
        Ok(())
    }

    /// A write of `r` that `r ⊔ s` keeps is kept by the partial join, with
    /// its value.
    fn survives(r: &Self::State, full: &Self::State, partial: &Self::State) -> Result<(), String> {
        for (dot, value) in r.entries() {
            let kept = full.entries().any(|(d, _)| d == dot);
            let stays = partial.entries().any(|(d, v)| d == dot && v == value);
            ensure!(
                !kept || stays,
                "write {dot:?} = {value} of r, which r ⊔ s keeps, was dropped"
            );
        }
        Ok(())
    }

    /// Concurrent writes can go to different pieces.
    fn entries(register: &Self::State) -> usize {
        register.len()
    }
}

impl<V: Model> Model for OrMapModel<V> {
    type State = OrMap<u8, V::State>;
    type Op = OrMapOp<V::Op>;

    fn mutate(map: &mut Self::State, op: &Self::Op, writer: &mut Writer) -> Self::State {
        match op {
            OrMapOp::Update(key, op) => {
                let id = writer.id;
                map.update(id, key % MAP_KEYS, |value| V::mutate(value, op, writer))
            }
            OrMapOp::Remove(key) => map.remove(&(key % MAP_KEYS)),
            OrMapOp::RemoveHeld(n) => {
                let held = map.len();
                let key = match held {
                    0 => *n,
                    _ => map
                        .keys()
                        .nth(usize::from(*n) % held)
                        .copied()
                        .unwrap_or(*n),
                };
                map.remove(&key)
            }
        }
    }

    /// Every fragment of `a` whose tag `b` has not seen survives, with its
    /// content (`b` cannot have removed what it never saw); every key of the
    /// join is in `a` or `b`, every value of the join includes the values of
    /// both sides' fragments it keeps; the context only grows.
    fn keeps(a: &Self::State, b: &Self::State, joined: &Self::State) -> Result<(), String> {
        let unseen_by_b = a.delta_since(&b.context());
        for (key, fragments) in unseen_by_b.iter() {
            let tags: Vec<_> = unseen_by_b.dots(key).collect();
            let kept: Vec<_> = joined.dots(key).collect();
            ensure!(
                tags.iter().all(|t| kept.contains(t)),
                "key {key}: fragments {tags:?}, unseen by the other side, were lost"
            );
            let value = joined.get(key).unwrap_or_default();
            ensure!(
                value.includes(&fragments),
                "key {key}: the joined value lost content of fragments {tags:?}"
            );
        }
        for key in joined.keys() {
            ensure!(
                a.contains_key(key) || b.contains_key(key),
                "key {key} came from nowhere"
            );
        }
        ensure!(
            a.context().is_subset(&joined.context()),
            "the causal context shrank"
        );
        Ok(())
    }

    /// A key of `r` must stay, with each of its fragments `r ⊔ s` keeps, if
    /// `r ⊔ s` keeps one of `r`'s fragments of it or holds it by a replacing
    /// update that `r` lacks (which replaced `r`'s fragments in the same
    /// delta, so no replica saw the key without it).
    fn survives(r: &Self::State, full: &Self::State, partial: &Self::State) -> Result<(), String> {
        for key in r.keys() {
            let kept: Vec<_> = full.dots(key).collect();
            let mine: Vec<_> = r.dots(key).collect();
            let stays: Vec<_> = partial.dots(key).collect();
            for tag in mine.iter().filter(|t| kept.contains(t)) {
                ensure!(
                    stays.contains(tag),
                    "key {key}: fragment {tag:?} of r, which r ⊔ s keeps, was removed"
                );
            }
            let replaced = kept
                .iter()
                .any(|t| full.is_replacing(t) && !mine.contains(t));
            ensure!(
                !replaced || partial.contains_key(key),
                "key {key} of r, which r ⊔ s holds by a replacing update, was removed"
            );
        }
        Ok(())
    }

    /// A split keeps every replacing fragment in one piece (with the tags
    /// they replaced): the other fragments count one each.
    fn entries(map: &Self::State) -> usize {
        let tags: Vec<_> = map.keys().flat_map(|k| map.dots(k)).collect();
        let plain = tags.iter().filter(|t| !map.is_replacing(t)).count();
        plain + usize::from(tags.iter().any(|t| map.is_replacing(t)))
    }
}

// ---------------------------------------------------------------------------
// quickcheck generators

#[cfg(feature = "quickcheck")]
mod generate {
    use quickcheck::{Arbitrary, Gen};

    use super::*;

    /// A number in `0..n`.
    fn below(g: &mut Gen, n: u64) -> u64 {
        u64::arbitrary(g) % n
    }

    /// A number in `0..n`.
    fn below_u8(g: &mut Gen, n: u8) -> u8 {
        u8::arbitrary(g) % n
    }

    /// Counter amounts: small ones, zero (an empty delta), and huge ones (saturation).
    fn amount(g: &mut Gen) -> u64 {
        match below(g, 10) {
            0..8 => below(g, 5),
            8 => u64::MAX / 2,
            _ => u64::MAX,
        }
    }

    fn wall(g: &mut Gen) -> u16 {
        u16::arbitrary(g) % WALLS
    }

    fn element(g: &mut Gen) -> u8 {
        if below(g, 3) == 0 {
            below_u8(g, HOT_ELEMENTS)
        } else {
            below_u8(g, ELEMENTS)
        }
    }

    impl Arbitrary for GCounterOp {
        fn arbitrary(g: &mut Gen) -> Self {
            Self::Increment(amount(g))
        }
    }

    impl Arbitrary for PnCounterOp {
        fn arbitrary(g: &mut Gen) -> Self {
            if bool::arbitrary(g) {
                Self::Increment(amount(g))
            } else {
                Self::Decrement(amount(g))
            }
        }
    }

    impl Arbitrary for LwwRegisterOp {
        fn arbitrary(g: &mut Gen) -> Self {
            Self::Set {
                value: below_u8(g, VALUES),
                wall: wall(g),
            }
        }
    }

    impl Arbitrary for LwwMapOp {
        /// Two inserts for every removal.
        fn arbitrary(g: &mut Gen) -> Self {
            let key = below_u8(g, KEYS);
            if below(g, 3) == 0 {
                Self::Remove { key, wall: wall(g) }
            } else {
                Self::Insert {
                    key,
                    value: below_u8(g, VALUES),
                    wall: wall(g),
                }
            }
        }
    }

    impl Arbitrary for OrSetOp {
        /// Mostly inserts (so sets grow), removals mostly of held elements, a
        /// rare clear.
        fn arbitrary(g: &mut Gen) -> Self {
            match below(g, 24) {
                0..16 => Self::Insert(element(g)),
                16..22 => Self::RemoveHeld(u8::arbitrary(g)),
                22 => Self::Remove(element(g)),
                _ => Self::Clear,
            }
        }
    }

    impl Arbitrary for MvRegisterOp {
        /// Mostly writes, a few clears.
        fn arbitrary(g: &mut Gen) -> Self {
            if below(g, 7) == 0 {
                Self::Clear
            } else {
                Self::Set(below_u8(g, VALUES))
            }
        }
    }

    impl<O: Arbitrary> Arbitrary for OrMapOp<O> {
        /// Nested operations on a few keys, removals of keys mostly held.
        fn arbitrary(g: &mut Gen) -> Self {
            match below(g, 12) {
                0..8 => Self::Update(below_u8(g, KEYS), O::arbitrary(g)),
                8..11 => Self::RemoveHeld(u8::arbitrary(g)),
                _ => Self::Remove(below_u8(g, KEYS)),
            }
        }
    }
}
