//! `Crdt::authored_only_by`: whether every write a value holds names one
//! replica. A delta from one replica's mutators is authored by it alone; a
//! state holding two writers' writes by neither; bottom by anyone; a removal
//! that writes nothing (an OR-Set's, an OR-Map's) by anyone, while an LWW
//! map's removal is a timestamped write and names its writer. For every type
//! of the crate and for `#[derive(Crdt)]` structs, then as proptest laws
//! over generated histories.

use std::collections::BTreeSet;

use proptest::prelude::*;
use rumor_crdt::{
    CausalContext, Crdt, Dot, GCounter, Hlc, HlcTimestamp, LwwMap, LwwRegister, MvRegister, OrMap,
    OrSet, PnCounter, ReplicaId,
};

fn me() -> ReplicaId {
    ReplicaId::from_u128(1)
}

fn you() -> ReplicaId {
    ReplicaId::from_u128(2)
}

/// `value` holds a write and every write names `me`.
#[track_caller]
fn only_mine<C: Crdt>(value: &C) {
    assert!(!value.is_bottom(), "a write, not bottom: {value:?}");
    assert!(value.authored_only_by(me()), "authored by me: {value:?}");
    assert!(!value.authored_only_by(you()), "not by you: {value:?}");
}

/// `value` holds writes of both `me` and `you`.
#[track_caller]
fn neither<C: Crdt>(value: &C) {
    assert!(!value.authored_only_by(me()), "not by me alone: {value:?}");
    assert!(
        !value.authored_only_by(you()),
        "not by you alone: {value:?}"
    );
}

/// `value` writes nothing: any replica is its author.
#[track_caller]
fn anyones<C: Crdt>(value: &C) {
    assert!(value.authored_only_by(me()), "by me: {value:?}");
    assert!(value.authored_only_by(you()), "by you: {value:?}");
    assert!(
        value.authored_only_by(ReplicaId::from_u128(99)),
        "by anyone: {value:?}"
    );
}

// ---------------------------------------------------------------- the types

#[test]
fn bottom_is_authored_by_anyone() {
    anyones(&GCounter::new());
    anyones(&PnCounter::new());
    anyones(&LwwRegister::<u8>::new());
    anyones(&LwwMap::<u8, u8>::new());
    anyones(&MvRegister::<u8>::new());
    anyones(&OrSet::<u8>::new());
    anyones(&OrMap::<u8, GCounter>::new());
    anyones(&OrMap::<u8, OrSet<u8>>::new());
    anyones(&Shared::default());
    anyones(&Pair::default());
}

#[test]
fn gcounter_an_increment_is_its_replicas_and_two_writers_are_neither() {
    let mut counter = GCounter::new();
    let delta = counter.increment(me(), 3);
    only_mine(&delta);
    only_mine(&counter);
    anyones(&counter.increment(me(), 0)); // a no-op: bottom
    counter.increment(you(), 1);
    neither(&counter);
    // What a peer that saw only my entry is missing is yours alone.
    let missing = counter.delta_since(&delta);
    assert!(missing.authored_only_by(you()) && !missing.authored_only_by(me()));
}

#[test]
fn pncounter_increments_and_decrements_are_both_writes() {
    let mut counter = PnCounter::new();
    only_mine(&counter.increment(me(), 2));
    only_mine(&counter.decrement(me(), 5));
    only_mine(&counter);
    let mut theirs = PnCounter::new();
    let down = theirs.decrement(you(), 1);
    assert!(down.authored_only_by(you()) && !down.authored_only_by(me()));
    // Your decrement alone beside my increments: the decrement half counts.
    counter.join(&down);
    neither(&counter);
}

#[test]
fn lww_register_the_write_held_names_its_writer() {
    let mut mine = Hlc::new(me());
    let mut yours = Hlc::new(you());
    let mut register = LwwRegister::new();
    let delta = register
        .set("on", mine.now(1_000))
        .expect("the newest write");
    only_mine(&delta);
    // A register holds one write: after yours wins, it is yours alone (a
    // register cannot hold two writers' writes at once).
    let later = LwwRegister::new()
        .set("off", yours.now(2_000))
        .expect("the newest write");
    register.join(&later);
    assert!(register.authored_only_by(you()) && !register.authored_only_by(me()));
}

#[test]
fn lww_map_values_and_removals_are_timestamped_writes_of_their_writer() {
    let mut mine = Hlc::new(me());
    let mut yours = Hlc::new(you());
    let mut map = LwwMap::new();
    only_mine(&map.insert("a", 1, mine.now(100)).expect("the newest write"));
    let theirs = map
        .insert("b", 2, yours.now(110))
        .expect("the newest write");
    assert!(theirs.authored_only_by(you()) && !theirs.authored_only_by(me()));
    neither(&map);
    // I remove your key: the tombstone is my write, authored by me alone.
    let removal = map.remove(&"b", mine.now(120)).expect("the newest write");
    only_mine(&removal);
    assert_eq!(removal.tombstones(), 1);
    only_mine(&map); // your write was overwritten by my tombstone
                     // A removal of a key never written is a write too.
    only_mine(
        &map.remove(&"never", mine.now(130))
            .expect("the newest write"),
    );
    // A tombstone of yours among my values: neither.
    map.remove(&"a", yours.now(140)).expect("the newest write");
    neither(&map);
}

#[test]
fn mv_register_the_live_values_name_their_writers_not_the_replaced_ones() {
    let mut register = MvRegister::new();
    register.set(you(), "theirs");
    let mut concurrent = MvRegister::new();
    let mine = concurrent.set(me(), "mine");
    only_mine(&mine);
    register.join(&mine);
    neither(&register); // two concurrent writes held
                        // My write that saw both replaces yours: its context names your dot.
    let resolved = register.set(me(), "resolved");
    assert!(resolved.context().contains(&Dot::new(you(), 1)));
    only_mine(&resolved);
    only_mine(&register);
    // A clear writes nothing.
    let mut other = MvRegister::new();
    other.set(you(), "x");
    let clear = other.clear();
    assert!(!clear.is_bottom());
    anyones(&clear);
}

#[test]
fn orset_adds_are_writes_removals_are_not() {
    let mut set = OrSet::new();
    let yours = set.insert(you(), "x");
    assert!(yours.authored_only_by(you()) && !yours.authored_only_by(me()));
    let mine = set.insert(me(), "y");
    only_mine(&mine);
    neither(&set);
    // Removing your element: the context names your dot, nothing is written.
    let removal = set.remove(&"x");
    assert!(removal.context().contains(&Dot::new(you(), 1)));
    assert!(!removal.is_bottom());
    anyones(&removal);
    only_mine(&set);
    // The same from a context read elsewhere.
    let mut seen = CausalContext::new();
    seen.insert_range(you(), 1..=40);
    anyones(&OrSet::<&str>::removal(seen));
    // My re-add of your element replaces your dot with mine.
    let mut shared = OrSet::new();
    shared.insert(you(), "z");
    let readd = shared.insert(me(), "z");
    assert!(readd.context().contains(&Dot::new(you(), 1)));
    only_mine(&readd);
    only_mine(&shared);
    // A clear of a set holding both writers' elements writes nothing.
    let mut both = OrSet::new();
    both.insert(me(), 1);
    both.insert(you(), 2);
    neither(&both);
    anyones(&both.clear());
}

#[test]
fn ormap_a_nested_update_is_its_writers_and_a_nested_foreign_write_is_not() {
    // Counters inside.
    let mut hits: OrMap<&str, GCounter> = OrMap::new();
    let mine = hits.update(me(), "k", |c| c.increment(me(), 2));
    only_mine(&mine);
    let yours = hits.update(you(), "k", |c| c.increment(you(), 1));
    assert!(yours.authored_only_by(you()) && !yours.authored_only_by(me()));
    neither(&hits); // your write nested inside a key I wrote too
                    // My tag around your count: the nested write is not mine.
    let mut forged: OrMap<&str, GCounter> = OrMap::new();
    let delta = forged.update(me(), "k", |c| c.increment(you(), 5));
    assert_eq!(delta.dots(&"k").next().map(|d| d.replica), Some(me()));
    neither(&delta);

    // Sets inside.
    let mut sets: OrMap<u8, OrSet<&str>> = OrMap::new();
    let add = sets.update(you(), 1, |s| s.insert(you(), "pear"));
    assert!(add.authored_only_by(you()) && !add.authored_only_by(me()));
    only_mine(&sets.update(me(), 2, |s| s.insert(me(), "apple")));
    neither(&sets);
    // Removing your key writes nothing.
    let removal = sets.remove(&1);
    assert!(!removal.is_bottom());
    anyones(&removal);
    only_mine(&sets);
    // A nested removal of your element: the map keeps no fragment for it
    // (its context carries the removal), so the delta writes nothing.
    let mut fruit: OrMap<u8, OrSet<&str>> = OrMap::new();
    fruit.update(you(), 1, |s| s.insert(you(), "pear"));
    fruit.update(you(), 1, |s| s.insert(you(), "fig"));
    let nested_removal = fruit.update(me(), 1, |s| s.remove(&"pear"));
    assert!(nested_removal.is_empty() && !nested_removal.is_bottom());
    anyones(&nested_removal);

    // Two levels deep: your element in a set in a map in a map.
    let mut deep: OrMap<u8, OrMap<u8, OrSet<u8>>> = OrMap::new();
    only_mine(&deep.update(me(), 1, |m| m.update(me(), 2, |s| s.insert(me(), 3))));
    only_mine(&deep);
    let inner_forged = OrMap::new().update(me(), 1, |m: &mut OrMap<u8, OrSet<u8>>| {
        m.update(me(), 2, |s| s.insert(you(), 3))
    });
    neither(&inner_forged);
    deep.join(
        &OrMap::new().update(you(), 1, |m: &mut OrMap<u8, OrSet<u8>>| {
            m.update(you(), 2, |s| s.insert(you(), 4))
        }),
    );
    neither(&deep);

    // Timestamped values inside: the timestamp names the writer too.
    let mut regs: OrMap<u8, LwwRegister<u8>> = OrMap::new();
    only_mine(&regs.update(me(), 1, |r| {
        r.set(7, HlcTimestamp::new(5, 0, me()))
            .expect("the newest write")
    }));
    let mut stamped: OrMap<u8, LwwRegister<u8>> = OrMap::new();
    neither(&stamped.update(me(), 1, |r| {
        r.set(7, HlcTimestamp::new(5, 0, you()))
            .expect("the newest write")
    }));
}

// ------------------------------------------------------------ the derive

#[derive(Crdt, Clone, Debug, Default, PartialEq)]
struct Shared {
    hits: GCounter,
    tags: OrSet<String>,
}

/// A generic struct and a tuple struct holding it.
#[derive(Crdt, Clone, Debug, Default, PartialEq)]
struct Tagged<T: Ord + Clone + std::fmt::Debug + Default> {
    tags: OrSet<T>,
    label: LwwRegister<T>,
}

#[derive(Crdt, Clone, Debug, Default, PartialEq)]
struct Pair(GCounter, Tagged<u8>);

#[test]
fn derive_a_field_update_is_its_writers_and_another_writer_in_either_field_is_not() {
    let mut state = Shared::default();
    only_mine(&state.update_hits(|c| c.increment(me(), 1)));
    only_mine(&state.update_tags(|s| s.insert(me(), "a".into())));
    only_mine(&state);

    // Your write in the first field, then in the second.
    let mut with_hits = state.clone();
    let yours = with_hits.update_hits(|c| c.increment(you(), 1));
    assert!(yours.authored_only_by(you()) && !yours.authored_only_by(me()));
    neither(&with_hits);
    let mut with_tags = state.clone();
    with_tags.update_tags(|s| s.insert(you(), "b".into()));
    neither(&with_tags);

    // A delta that writes in one field as me and in the other as you.
    let mut mixed = Shared::default();
    mixed.update_hits(|c| c.increment(me(), 1));
    mixed.update_tags(|s| s.insert(you(), "c".into()));
    neither(&mixed);

    // A removal of your tag writes nothing.
    let removal = with_tags.update_tags(|s| s.remove(&"b".to_string()));
    assert!(!removal.is_bottom());
    anyones(&removal);
}

#[test]
fn derive_generic_and_tuple_structs_check_every_field_nested_too() {
    let mut pair = Pair::default();
    only_mine(&pair.update_0(|c| c.increment(me(), 1)));
    only_mine(&pair.update_1(|t| t.update_tags(|s| s.insert(me(), 3))));
    only_mine(&pair.update_1(|t| {
        t.update_label(|l| {
            l.set(9, HlcTimestamp::new(10, 0, me()))
                .expect("the newest write")
        })
    }));
    only_mine(&pair);
    let mut theirs = pair.clone();
    let label = theirs.update_1(|t| {
        t.update_label(|l| {
            l.set(8, HlcTimestamp::new(20, 0, you()))
                .expect("the newest write")
        })
    });
    assert!(label.authored_only_by(you()) && !label.authored_only_by(me()));
    neither(&theirs); // your label beside my counter and tags
}

// ------------------------------------------------------------ the laws

const REPLICAS: u128 = 3;

fn replica(i: u8) -> ReplicaId {
    ReplicaId::from_u128(1 + u128::from(i) % REPLICAS)
}

fn others(author: ReplicaId) -> impl Iterator<Item = ReplicaId> {
    (1..=REPLICAS)
        .map(ReplicaId::from_u128)
        .filter(move |r| *r != author)
}

#[derive(Clone, Copy, Debug)]
enum SetOp {
    Insert(u8, u8),
    Remove(u8),
    Clear,
}

fn set_op() -> impl Strategy<Value = SetOp> {
    prop_oneof![
        6 => (0..3u8, 0..6u8).prop_map(|(r, e)| SetOp::Insert(r, e)),
        3 => (0..6u8).prop_map(SetOp::Remove),
        1 => Just(SetOp::Clear),
    ]
}

/// Applies `op` to `set`, an insert on behalf of `writer` if given (else of
/// the op's own replica); returns the delta.
fn apply_set(set: &mut OrSet<u8>, op: SetOp, writer: Option<ReplicaId>) -> OrSet<u8> {
    match op {
        SetOp::Insert(r, e) => set.insert(writer.unwrap_or_else(|| replica(r)), e),
        SetOp::Remove(e) => set.remove(&e),
        SetOp::Clear => set.clear(),
    }
}

fn set_from(ops: &[SetOp]) -> OrSet<u8> {
    let mut set = OrSet::new();
    for op in ops {
        apply_set(&mut set, *op, None);
    }
    set
}

fn live_dots(set: &OrSet<u8>) -> BTreeSet<Dot> {
    set.iter()
        .flat_map(|e| set.dots(e).iter().copied())
        .collect()
}

#[derive(Clone, Copy, Debug)]
enum MapOp {
    Insert(u8, u8, u64),
    Remove(u8, u8, u64),
}

fn map_op() -> impl Strategy<Value = MapOp> {
    prop_oneof![
        3 => (0..3u8, 0..5u8, 0..40u64).prop_map(|(r, k, t)| MapOp::Insert(r, k, t)),
        1 => (0..3u8, 0..5u8, 0..40u64).prop_map(|(r, k, t)| MapOp::Remove(r, k, t)),
    ]
}

/// Applies `op` (its writer `writer` if given); `None` if it lost to a
/// newer write of its key.
fn apply_map(
    map: &mut LwwMap<u8, u64>,
    op: MapOp,
    writer: Option<ReplicaId>,
) -> Option<LwwMap<u8, u64>> {
    let (r, key, t, value) = match op {
        MapOp::Insert(r, k, t) => (r, k, t, Some(t)),
        MapOp::Remove(r, k, t) => (r, k, t, None),
    };
    let ts = HlcTimestamp::new(t, 0, writer.unwrap_or_else(|| replica(r)));
    match value {
        Some(v) => map.insert(key, v, ts).ok(),
        None => map.remove(&key, ts).ok(),
    }
}

fn map_from(ops: &[MapOp]) -> LwwMap<u8, u64> {
    let mut map = LwwMap::new();
    for op in ops {
        apply_map(&mut map, *op, None);
    }
    map
}

fn counter_from(ops: &[(u8, u64)]) -> GCounter {
    let mut counter = GCounter::new();
    for &(r, n) in ops {
        counter.increment(replica(r), n);
    }
    counter
}

fn pn_from(ops: &[(u8, u64, bool)]) -> PnCounter {
    let mut counter = PnCounter::new();
    for &(r, n, up) in ops {
        if up {
            counter.increment(replica(r), n);
        } else {
            counter.decrement(replica(r), n);
        }
    }
    counter
}

/// `delta`, made by `author`'s mutators, is authored by it; by another
/// replica too exactly when it writes nothing (`writes` says whether it does).
fn check_delta<C: Crdt>(delta: &C, author: ReplicaId, writes: bool) -> Result<(), TestCaseError> {
    prop_assert!(
        delta.authored_only_by(author),
        "{delta:?} not by {author:?}"
    );
    for other in others(author) {
        prop_assert_eq!(
            delta.authored_only_by(other),
            !writes,
            "{:?} by {:?}",
            delta,
            other
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// On any state (written by several replicas), every delta a replica's
    /// own mutators return is authored by it alone, or by anyone when it
    /// writes nothing (a removal).
    #[test]
    fn prop_a_delta_from_one_replicas_mutators_is_authored_only_by_it(
        base_set in prop::collection::vec(set_op(), 0..20),
        own_set in prop::collection::vec(set_op(), 1..10),
        base_map in prop::collection::vec(map_op(), 0..20),
        own_map in prop::collection::vec(map_op(), 1..10),
        base_counter in prop::collection::vec((0..3u8, 0..4u64, any::<bool>()), 0..10),
        own_counter in prop::collection::vec((0..4u64, any::<bool>()), 1..5),
        base_mv in prop::collection::vec((0..3u8, 0..4u8), 0..6),
        own_mv in prop::collection::vec(prop::option::of(0..4u8), 1..5),
        base_nested in prop::collection::vec((0..3u8, 0..3u8, set_op()), 0..12),
        own_nested in prop::collection::vec((prop::option::of(0..3u8), set_op()), 1..8),
        who in 0..3u8,
    ) {
        let author = replica(who);

        let mut set = set_from(&base_set);
        for op in own_set {
            let delta = apply_set(&mut set, op, Some(author));
            check_delta(&delta, author, !delta.is_empty())?;
        }

        // LWW writes (values and removals) all write: the author's are
        // stamped after everything in the base history, so none loses.
        let mut map = map_from(&base_map);
        for (i, op) in own_map.into_iter().enumerate() {
            let op = match op {
                MapOp::Insert(r, k, t) => MapOp::Insert(r, k, 100 + i as u64 + t),
                MapOp::Remove(r, k, t) => MapOp::Remove(r, k, 100 + i as u64 + t),
            };
            if let Some(delta) = apply_map(&mut map, op, Some(author)) {
                check_delta(&delta, author, true)?;
            }
        }

        let base_g: Vec<(u8, u64)> = base_counter.iter().map(|&(r, n, _)| (r, n)).collect();
        let mut counter = counter_from(&base_g);
        let mut pn = pn_from(&base_counter);
        for (n, up) in own_counter {
            let delta = counter.increment(author, n);
            check_delta(&delta, author, n > 0)?;
            let delta = if up { pn.increment(author, n) } else { pn.decrement(author, n) };
            check_delta(&delta, author, n > 0)?;
        }

        let mut mv = MvRegister::new();
        for (r, v) in base_mv {
            let mut other = MvRegister::new();
            mv.join(&other.set(replica(r), v));
        }
        for op in own_mv {
            let delta = match op {
                Some(v) => mv.set(author, v),
                None => mv.clear(),
            };
            check_delta(&delta, author, !delta.is_empty())?;
        }

        // A map of sets: a nested update is a tagged write (even a nested
        // removal, when the map keeps it); a key's removal writes nothing.
        let mut nested: OrMap<u8, OrSet<u8>> = OrMap::new();
        for (r, key, op) in base_nested {
            let r = replica(r);
            nested.update(r, key, |s| apply_set(s, op, Some(r)));
        }
        for (key, op) in own_nested {
            let delta = match key {
                Some(key) => nested.update(author, key, |s| apply_set(s, op, Some(author))),
                None => nested.remove(&0),
            };
            check_delta(&delta, author, !delta.is_empty())?;
        }
    }

    /// Counters: a join's entries are both sides' (each at its maximum), so
    /// it is authored by `r` iff both sides are.
    #[test]
    fn prop_a_join_is_authored_only_by_r_iff_both_sides_are(
        a in prop::collection::vec((0..3u8, 0..4u64), 0..6),
        b in prop::collection::vec((0..3u8, 0..4u64), 0..6),
        pa in prop::collection::vec((0..3u8, 0..4u64, any::<bool>()), 0..6),
        pb in prop::collection::vec((0..3u8, 0..4u64, any::<bool>()), 0..6),
    ) {
        let (a, b) = (counter_from(&a), counter_from(&b));
        let mut joined = a.clone();
        joined.join(&b);
        let (pa, pb) = (pn_from(&pa), pn_from(&pb));
        let mut pn_joined = pa.clone();
        pn_joined.join(&pb);
        for r in (1..=REPLICAS).map(ReplicaId::from_u128) {
            prop_assert_eq!(
                joined.authored_only_by(r),
                a.authored_only_by(r) && b.authored_only_by(r)
            );
            prop_assert_eq!(
                pn_joined.authored_only_by(r),
                pa.authored_only_by(r) && pb.authored_only_by(r)
            );
        }
    }

    /// OR-Set: a join keeps a subset of both sides' live dots, so if both
    /// are authored by `r` the join is. Not conversely: a removal on one
    /// side (a context naming the other side's live dot) drops that dot, and
    /// another replica's write can leave with it. When the join keeps every
    /// live dot of both sides, `iff` holds.
    #[test]
    fn prop_an_orset_join_is_authored_only_by_r_if_both_sides_are_and_iff_it_drops_no_dot(
        base in prop::collection::vec(set_op(), 0..12),
        ops_a in prop::collection::vec(set_op(), 0..12),
        ops_b in prop::collection::vec(set_op(), 0..12),
    ) {
        // Two replicas that share a history, then diverge.
        let mut a = set_from(&base);
        let mut b = a.clone();
        for op in ops_a {
            apply_set(&mut a, op, None);
        }
        for op in ops_b {
            apply_set(&mut b, op, None);
        }
        let mut joined = a.clone();
        joined.join(&b);
        let kept_all = live_dots(&joined) == &live_dots(&a) | &live_dots(&b);
        for r in (1..=REPLICAS).map(ReplicaId::from_u128) {
            let both = a.authored_only_by(r) && b.authored_only_by(r);
            if both {
                prop_assert!(joined.authored_only_by(r));
            }
            if kept_all {
                prop_assert_eq!(joined.authored_only_by(r), both);
            }
        }
    }

    /// LWW map: a join keeps, per key, the later of the two sides' writes,
    /// so if both are authored by `r` the join is. Not conversely: the join
    /// drops the overwritten write, and another replica's with it.
    #[test]
    fn prop_an_lww_map_join_is_authored_only_by_r_if_both_sides_are(
        a in prop::collection::vec(map_op(), 0..12),
        b in prop::collection::vec(map_op(), 0..12),
    ) {
        let (a, b) = (map_from(&a), map_from(&b));
        let mut joined = a.clone();
        joined.join(&b);
        for r in (1..=REPLICAS).map(ReplicaId::from_u128) {
            if a.authored_only_by(r) && b.authored_only_by(r) {
                prop_assert!(joined.authored_only_by(r));
            }
        }
    }
}

/// The converses that fail, as examples: a join authored by me alone of a
/// side that is not.
#[test]
fn a_join_can_drop_another_writers_write_orset_by_removal_lww_by_overwrite() {
    let mut set = OrSet::new();
    set.insert(you(), "x");
    let mut mine = set.clone();
    mine.remove(&"x");
    mine.insert(me(), "y");
    let mut joined = set.clone();
    joined.join(&mine);
    assert!(!set.authored_only_by(me()));
    only_mine(&joined);

    let mut map = LwwMap::new();
    map.insert("k", 1, HlcTimestamp::new(1, 0, you()))
        .expect("the newest write");
    let mut newer = LwwMap::new();
    newer
        .insert("k", 2, HlcTimestamp::new(2, 0, me()))
        .expect("the newest write");
    let mut joined = map.clone();
    joined.join(&newer);
    assert!(!map.authored_only_by(me()));
    only_mine(&joined);
}
