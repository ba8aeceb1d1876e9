//! The operation-history models of rumor's own types, shared by the
//! merge-law tests (`laws_proptest.rs` and `laws_quickcheck.rs`). The laws,
//! the histories and how they are played are the law kit's (`rumor::laws`,
//! the `rumor-laws` crate): the tests use exactly what users of the kit use.
//!
//! Each type gets a [`Model`] (how to play its ops, and what "nothing was
//! lost" means for it); the test files instantiate every law for every model
//! through [`for_each_law!`]. Each law here returns `Err(explanation)` on a
//! counterexample (the kit's `LawViolation`, as text), so that proptest and
//! quickcheck can both report it.

use std::fmt::Debug;

use rumor::crdt::{
    Crdt, GCounter, Hlc, HlcTimestamp, LwwMap, LwwRegister, MvRegister, OrMap, OrSet, PnCounter,
};
// The kit's names, under the names this module had before the kit: each test
// file uses its own subset.
#[allow(unused_imports)]
pub(crate) use rumor::laws::{
    replica_id, run, History, Model, Mutation, Run, Step, Writer, MAX_REPLICAS, MAX_STEPS,
    MIN_REPLICAS,
};

/// Register values and map values are drawn from `0..VALUES`.
pub(crate) const VALUES: u8 = 4;
/// Map keys are drawn from `0..KEYS`: few, so that writes collide.
pub(crate) const KEYS: u8 = 4;
/// Set elements are drawn from `0..HOT_ELEMENTS` a third of the time (so
/// that adds and removes of one element collide often) and from
/// `0..ELEMENTS` otherwise (so that sets grow past the size where
/// `OrSet::join` switches to its path for small deltas into large states).
pub(crate) const HOT_ELEMENTS: u8 = 4;
/// See [`HOT_ELEMENTS`].
pub(crate) const ELEMENTS: u8 = 32;
/// Wall times (ms) passed to the replicas' hybrid logical clocks are drawn
/// from this window, so a replica's wall clock jumps forward and back and
/// clocks of different replicas overlap.
pub(crate) const WALL_MS: std::ops::Range<u64> = 1_000..1_040;

/// Returns `Err(format!(...))` from the enclosing function unless `cond`.
macro_rules! ensure {
    ($cond:expr, $($message:tt)+) => {
        if !$cond {
            return Err(format!($($message)+));
        }
    };
}

/// Calls `$callback! { law, law, ... }` with the name of every law below, so
/// that each test file instantiates all of them with one macro.
macro_rules! for_each_law {
    ($callback:ident) => {
        $callback! {
            join_is_commutative,
            join_is_associative,
            join_is_idempotent,
            join_is_monotone,
            delta_mutator_equivalence,
            exact_delta_extraction,
            exact_delta_extraction_from_contexts_many_steps_stale,
            strong_eventual_consistency,
            same_deltas_in_any_order_reach_the_same_state,
            anti_entropy_by_delta_since_answers_converges,
            includes_and_missing_from_agree_with_join,
            split_pieces_join_back_to_the_whole,
            bottom_is_the_identity_of_join,
        }
    };
}

/// Each law of the kit under its own name, its counterexample as text.
macro_rules! laws_as_text {
    ($($law:ident),* $(,)?) => {
        $(
            #[doc = concat!("`rumor::laws::", stringify!($law), "`, its violation as text.")]
            #[allow(dead_code)] // each test file uses its own subset
            pub(crate) fn $law<M: Model>(history: &History<M::Op>) -> Result<(), String> {
                rumor::laws::$law::<M>(history).map_err(|broken| broken.to_string())
            }
        )*
    };
}

for_each_law!(laws_as_text);
laws_as_text!(any_subset_of_split_pieces_keeps_what_the_whole_keeps);

// ---------------------------------------------------------------------------
// The models

/// An operation on a [`GCounter`].
#[derive(Clone, Debug)]
pub(crate) enum GCounterOp {
    /// `increment(replica, amount)`.
    Increment(u64),
}

/// An operation on a [`PnCounter`].
#[derive(Clone, Debug)]
pub(crate) enum PnCounterOp {
    /// `increment(replica, amount)`.
    Increment(u64),
    /// `decrement(replica, amount)`.
    Decrement(u64),
}

/// An operation on an [`LwwRegister<u8>`], at a wall time of the writer.
#[derive(Clone, Debug)]
pub(crate) enum LwwRegisterOp {
    /// `set(value, clock.now(wall_ms))`.
    Set {
        /// The value written.
        value: u8,
        /// The writer's wall clock.
        wall_ms: u64,
    },
}

/// An operation on an [`LwwMap<u8, u8>`], at a wall time of the writer.
#[derive(Clone, Debug)]
pub(crate) enum LwwMapOp {
    /// `insert(key, value, clock.now(wall_ms))`.
    Insert {
        /// The key.
        key: u8,
        /// The value.
        value: u8,
        /// The writer's wall clock.
        wall_ms: u64,
    },
    /// `remove(&key, clock.now(wall_ms))`.
    Remove {
        /// The key.
        key: u8,
        /// The writer's wall clock.
        wall_ms: u64,
    },
}

/// An operation on an [`OrSet<u8>`].
#[derive(Clone, Debug)]
pub(crate) enum OrSetOp {
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

/// [`GCounter`].
pub(crate) struct GCounterModel;
/// [`PnCounter`].
pub(crate) struct PnCounterModel;
/// [`LwwRegister<u8>`].
pub(crate) struct LwwRegisterModel;
/// [`LwwMap<u8, u8>`].
pub(crate) struct LwwMapModel;
/// [`OrSet<u8>`].
pub(crate) struct OrSetModel;

/// An operation on an [`MvRegister<u8>`].
#[derive(Clone, Debug)]
pub(crate) enum MvRegisterOp {
    /// `set(replica, value)`.
    Set(u8),
    /// `clear()`.
    Clear,
}

/// [`MvRegister<u8>`].
pub(crate) struct MvRegisterModel;

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

    /// A write of `r` that `r ⊔ s` keeps is kept by the partial join.
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

    fn entries(register: &Self::State) -> usize {
        register.len()
    }
}

/// A state of four fields, made one CRDT by `#[derive(Crdt)]`: the laws
/// must hold of the product as of each field. (Its own serde, for the
/// codec laws elsewhere.)
#[derive(
    rumor::crdt::Crdt, Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize,
)]
pub(crate) struct Swarm {
    pub(crate) positions: LwwMap<u8, u8>,
    pub(crate) cells: OrSet<u8>,
    pub(crate) done: GCounter,
    pub(crate) balance: PnCounter,
}

/// An operation on one field of a [`Swarm`], through its delta constructor.
#[derive(Clone, Debug)]
pub(crate) enum SwarmOp {
    /// On `positions`.
    Positions(LwwMapOp),
    /// On `cells`.
    Cells(OrSetOp),
    /// On `done`.
    Done(GCounterOp),
    /// On `balance`.
    Balance(PnCounterOp),
}

/// [`Swarm`], a derived struct.
pub(crate) struct SwarmModel;

impl Model for SwarmModel {
    type State = Swarm;
    type Op = SwarmOp;

    fn mutate(swarm: &mut Swarm, op: &SwarmOp, writer: &mut Writer) -> Swarm {
        match op {
            SwarmOp::Positions(op) => {
                swarm.update_positions(|m| LwwMapModel::mutate(m, op, writer))
            }
            SwarmOp::Cells(op) => swarm.update_cells(|s| OrSetModel::mutate(s, op, writer)),
            SwarmOp::Done(op) => swarm.update_done(|c| GCounterModel::mutate(c, op, writer)),
            SwarmOp::Balance(op) => swarm.update_balance(|c| PnCounterModel::mutate(c, op, writer)),
        }
    }

    fn observe(clock: &mut Hlc, received: &Swarm) {
        LwwMapModel::observe(clock, &received.positions);
    }

    fn keeps(a: &Swarm, b: &Swarm, joined: &Swarm) -> Result<(), String> {
        LwwMapModel::keeps(&a.positions, &b.positions, &joined.positions)
            .map_err(|e| format!("positions: {e}"))?;
        OrSetModel::keeps(&a.cells, &b.cells, &joined.cells).map_err(|e| format!("cells: {e}"))?;
        GCounterModel::keeps(&a.done, &b.done, &joined.done).map_err(|e| format!("done: {e}"))?;
        PnCounterModel::keeps(&a.balance, &b.balance, &joined.balance)
            .map_err(|e| format!("balance: {e}"))
    }

    fn survives(r: &Swarm, full: &Swarm, partial: &Swarm) -> Result<(), String> {
        LwwMapModel::survives(&r.positions, &full.positions, &partial.positions)
            .map_err(|e| format!("positions: {e}"))?;
        OrSetModel::survives(&r.cells, &full.cells, &partial.cells)
            .map_err(|e| format!("cells: {e}"))?;
        GCounterModel::survives(&r.done, &full.done, &partial.done)
            .map_err(|e| format!("done: {e}"))?;
        PnCounterModel::survives(&r.balance, &full.balance, &partial.balance)
            .map_err(|e| format!("balance: {e}"))
    }

    fn entries(swarm: &Swarm) -> usize {
        LwwMapModel::entries(&swarm.positions)
            + OrSetModel::entries(&swarm.cells)
            + GCounterModel::entries(&swarm.done)
            + PnCounterModel::entries(&swarm.balance)
    }
}

/// Per-replica entries never shrink, so neither does the value.
/// A register or LWW map entry of `r` that the whole join kept (same
/// timestamp) is kept by the partial join, with its value.
fn lww_survives<V: PartialEq + Debug>(
    what: &str,
    r: (Option<HlcTimestamp>, Option<V>),
    full: (Option<HlcTimestamp>, Option<V>),
    partial: (Option<HlcTimestamp>, Option<V>),
) -> Result<(), String> {
    if r.0.is_some() && full.0 == r.0 {
        ensure!(
            partial == r,
            "{what}: r's write {r:?}, which r ⊔ s keeps, became {partial:?}"
        );
    }
    Ok(())
}

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

/// Lets `clock` observe `remote` at the clock's own latest wall time.
fn observe_timestamp(clock: &mut Hlc, remote: Option<HlcTimestamp>) {
    if let Some(remote) = remote {
        let wall_ms = clock.last().wall_ms;
        clock
            .observe(remote, wall_ms)
            .expect("history wall times stay within the drift bound");
    }
}

/// The newer write (by timestamp) is the one kept, with its value.
fn lww_keeps<V: PartialEq + Debug>(
    what: &str,
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

impl Model for LwwRegisterModel {
    type State = LwwRegister<u8>;
    type Op = LwwRegisterOp;

    fn mutate(register: &mut Self::State, op: &LwwRegisterOp, writer: &mut Writer) -> Self::State {
        let LwwRegisterOp::Set { value, wall_ms } = *op;
        register.set(value, writer.now(wall_ms)).unwrap_or_default()
    }

    fn observe(clock: &mut Hlc, received: &Self::State) {
        observe_timestamp(clock, received.timestamp());
    }

    fn keeps(a: &Self::State, b: &Self::State, joined: &Self::State) -> Result<(), String> {
        let write = |s: &Self::State| (s.timestamp(), s.get().copied());
        lww_keeps("register", write(a), write(b), write(joined))
    }

    fn survives(r: &Self::State, full: &Self::State, partial: &Self::State) -> Result<(), String> {
        let write = |s: &Self::State| (s.timestamp(), s.get().copied());
        lww_survives("register", write(r), write(full), write(partial))
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
            LwwMapOp::Insert {
                key,
                value,
                wall_ms,
            } => map
                .insert(key, value, writer.now(wall_ms))
                .unwrap_or_default(),
            LwwMapOp::Remove { key, wall_ms } => {
                map.remove(&key, writer.now(wall_ms)).unwrap_or_default()
            }
        }
    }

    fn observe(clock: &mut Hlc, received: &Self::State) {
        observe_timestamp(
            clock,
            (0..KEYS).filter_map(|k| received.timestamp(&k)).max(),
        );
    }

    fn keeps(a: &Self::State, b: &Self::State, joined: &Self::State) -> Result<(), String> {
        for key in 0..KEYS {
            let write = |s: &Self::State| (s.timestamp(&key), s.get(&key).copied());
            lww_keeps(&format!("key {key}"), write(a), write(b), write(joined))?;
        }
        // The context is the dots of the writes held, so an overwritten
        // write's dot leaves it: what must not shrink is each key's write,
        // checked above, and the dot counters a writer continues from.
        for replica in a.context().replicas() {
            ensure!(
                joined.context().max(replica) >= a.context().max(replica)
                    || (0..KEYS).any(|k| joined.timestamp(&k) > a.timestamp(&k)),
                "the writes of {replica:?} went back"
            );
        }
        Ok(())
    }

    fn survives(r: &Self::State, full: &Self::State, partial: &Self::State) -> Result<(), String> {
        for key in 0..KEYS {
            let write = |s: &Self::State| (s.timestamp(&key), s.get(&key).copied());
            lww_survives(&format!("key {key}"), write(r), write(full), write(partial))?;
        }
        Ok(())
    }

    fn entries(map: &Self::State) -> usize {
        (0..KEYS).filter(|k| map.timestamp(k).is_some()).count()
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

/// An operation on an [`OrMap<u8, Swarm>`]: a map whose values hold every
/// kind of nested CRDT (an LWW map, an OR-Set, two counters).
#[derive(Clone, Debug)]
pub(crate) enum OrMapOp {
    /// `update(replica, key, |value| op on one field of the value)`.
    Update(u8, SwarmOp),
    /// `remove(&key)`, whether the replica holds it or not.
    Remove(u8),
    /// `remove` of the `n`-th key (modulo their number) the replica holds,
    /// so that removals mostly remove something; key `n` when it holds none.
    RemoveHeld(u8),
}

/// [`OrMap<u8, Swarm>`].
pub(crate) struct OrMapModel;

impl Model for OrMapModel {
    type State = OrMap<u8, Swarm>;
    type Op = OrMapOp;

    fn mutate(map: &mut Self::State, op: &OrMapOp, writer: &mut Writer) -> Self::State {
        match op {
            OrMapOp::Update(key, op) => {
                let id = writer.id;
                map.update(id, *key, |value| SwarmModel::mutate(value, op, writer))
            }
            OrMapOp::Remove(key) => map.remove(key),
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

    fn observe(clock: &mut Hlc, received: &Self::State) {
        observe_timestamp(clock, received.latest_timestamp());
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
