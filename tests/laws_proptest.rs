//! The merge laws of DESIGN §2, as proptest properties over arbitrary
//! operation histories on 2 to 6 replicas, for every type: `GCounter`,
//! `PnCounter`, `LwwRegister`, `LwwMap`, `OrSet`, `MvRegister`, a derived
//! struct and `OrMap` (of that struct).
//!
//! Tests are named `<type>::<law>`, e.g. `orset::exact_delta_extraction`;
//! the laws, the history generator and the models of rumor's types are the
//! law kit's (`rumor::laws`, `rumor::laws::models`, the fuzz targets' too);
//! the derived struct's model is in `tests/common/mod.rs`.
//!
//! The tests use proptest's default configuration, which reads the
//! environment: `PROPTEST_CASES` sets the number of cases per test (default
//! 256), and every other `PROPTEST_*` variable works as usual.

#[macro_use]
mod common;

use common::{Step, ELEMENTS, HOT_ELEMENTS, KEYS, MAX_REPLICAS, MIN_REPLICAS, VALUES, WALLS};
use proptest::prelude::*;
/// Histories on 2 to 6 replicas of up to 40 steps, three mutations for
/// every sync: the law kit's generator.
use rumor::laws::history;

/// Counter amounts: small ones, zero (an empty delta), and huge ones (saturation).
fn amount() -> impl Strategy<Value = u64> {
    prop_oneof![8 => 0..5u64, 1 => Just(u64::MAX / 2), 1 => Just(u64::MAX)]
}

fn value() -> impl Strategy<Value = u8> {
    0..VALUES
}

fn key() -> impl Strategy<Value = u8> {
    0..KEYS
}

fn element() -> impl Strategy<Value = u8> {
    prop_oneof![1 => 0..HOT_ELEMENTS, 2 => 0..ELEMENTS]
}

/// Wall-clock offsets of a write (ms after `rumor::laws::models::WALL_BASE_MS`).
fn wall() -> impl Strategy<Value = u16> {
    0..WALLS
}

/// Instantiates every law (see `for_each_law!`) as a proptest over the
/// histories of `ops()`, for the model `M` of the enclosing module; with an
/// attribute first (`#[ignore = "..."]`), on each of the laws listed.
macro_rules! proptest_laws {
    (#[$attr:meta] $($law:ident),* $(,)?) => {
        proptest! {
            $(
                #[test]
                #[$attr]
                fn $law(history in super::history(ops())) {
                    common::$law::<M>(&history).map_err(TestCaseError::fail)?;
                }
            )*
        }
    };
    ($($law:ident),* $(,)?) => {
        proptest! {
            $(
                #[test]
                fn $law(history in super::history(ops())) {
                    common::$law::<M>(&history).map_err(TestCaseError::fail)?;
                }
            )*
        }
    };
}

mod gcounter {
    use super::*;
    use common::GCounterOp;
    type M = common::GCounterModel;

    fn ops() -> impl Strategy<Value = GCounterOp> {
        amount().prop_map(GCounterOp::Increment)
    }

    for_each_law!(proptest_laws);
    proptest_laws!(any_subset_of_split_pieces_keeps_what_the_whole_keeps);
}

mod pncounter {
    use super::*;
    use common::PnCounterOp;
    type M = common::PnCounterModel;

    fn ops() -> impl Strategy<Value = PnCounterOp> {
        prop_oneof![
            amount().prop_map(PnCounterOp::Increment),
            amount().prop_map(PnCounterOp::Decrement),
        ]
    }

    for_each_law!(proptest_laws);
    proptest_laws!(any_subset_of_split_pieces_keeps_what_the_whole_keeps);
}

mod lww_register {
    use super::*;
    use common::LwwRegisterOp;
    type M = common::LwwRegisterModel;

    fn ops() -> impl Strategy<Value = LwwRegisterOp> {
        (value(), wall()).prop_map(|(value, wall)| LwwRegisterOp::Set { value, wall })
    }

    for_each_law!(proptest_laws);
    proptest_laws!(any_subset_of_split_pieces_keeps_what_the_whole_keeps);
}

mod lww_map {
    use super::*;
    use common::LwwMapOp;
    type M = common::LwwMapModel;

    fn ops() -> impl Strategy<Value = LwwMapOp> {
        prop_oneof![
            2 => (key(), value(), wall())
                .prop_map(|(key, value, wall)| LwwMapOp::Insert { key, value, wall }),
            1 => (key(), wall()).prop_map(|(key, wall)| LwwMapOp::Remove { key, wall }),
        ]
    }

    for_each_law!(proptest_laws);
    proptest_laws!(any_subset_of_split_pieces_keeps_what_the_whole_keeps);
}

mod orset {
    use super::*;
    use common::OrSetOp;
    type M = common::OrSetModel;

    /// Mostly inserts (so sets grow), removals mostly of held elements, a
    /// rare clear.
    pub(super) fn ops() -> impl Strategy<Value = OrSetOp> {
        prop_oneof![
            16 => element().prop_map(OrSetOp::Insert),
            6 => any::<u8>().prop_map(OrSetOp::RemoveHeld),
            1 => element().prop_map(OrSetOp::Remove),
            1 => Just(OrSetOp::Clear),
        ]
    }

    for_each_law!(proptest_laws);
    proptest_laws!(any_subset_of_split_pieces_keeps_what_the_whole_keeps);
}

mod mv_register {
    use super::*;
    use common::MvRegisterOp;
    type M = common::MvRegisterModel;

    /// Mostly writes, a few clears.
    fn ops() -> impl Strategy<Value = MvRegisterOp> {
        prop_oneof![
            6 => value().prop_map(MvRegisterOp::Set),
            1 => Just(MvRegisterOp::Clear),
        ]
    }

    for_each_law!(proptest_laws);
    proptest_laws!(any_subset_of_split_pieces_keeps_what_the_whole_keeps);
}

mod derived {
    use super::*;
    use common::{GCounterOp, LwwMapOp, PnCounterOp, SwarmOp};
    type M = common::SwarmModel;

    /// An operation on any of the four fields.
    pub(super) fn ops() -> impl Strategy<Value = SwarmOp> {
        prop_oneof![
            1 => (key(), value(), wall()).prop_map(|(key, value, wall)| {
                SwarmOp::Positions(LwwMapOp::Insert { key, value, wall })
            }),
            1 => (key(), wall())
                .prop_map(|(key, wall)| SwarmOp::Positions(LwwMapOp::Remove { key, wall })),
            2 => super::orset::ops().prop_map(SwarmOp::Cells),
            1 => amount().prop_map(|n| SwarmOp::Done(GCounterOp::Increment(n))),
            1 => amount().prop_map(|n| SwarmOp::Balance(PnCounterOp::Decrement(n))),
        ]
    }

    for_each_law!(proptest_laws);
    proptest_laws!(any_subset_of_split_pieces_keeps_what_the_whole_keeps);
}

mod or_map {
    use super::*;
    use common::OrMapOp;
    type M = common::OrMapModel;

    /// Nested operations on a few keys (any field of the nested value),
    /// removals of keys mostly held.
    pub(super) fn ops() -> impl Strategy<Value = OrMapOp> {
        prop_oneof![
            8 => (key(), super::derived::ops()).prop_map(|(key, op)| OrMapOp::Update(key, op)),
            3 => any::<u8>().prop_map(OrMapOp::RemoveHeld),
            1 => key().prop_map(OrMapOp::Remove),
        ]
    }

    for_each_law!(proptest_laws);
    proptest_laws!(any_subset_of_split_pieces_keeps_what_the_whole_keeps);
}

/// The OR-Set histories exercise removal: measured over 2,000 histories
/// drawn with a fixed seed, most contain a `remove` that removes an element
/// its replica held (a quarter did when removals named random elements),
/// and every number of replicas from 2 to 6 occurs.
#[test]
fn orset_histories_mostly_remove_held_elements_on_2_to_6_replicas() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    use rumor::crdt::OrSet;

    const CASES: usize = 2_000;
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[14; 32]);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let strategy = history(orset::ops());
    let (mut hit_cases, mut removes, mut hits) = (0, 0, 0);
    let mut replicas = [0usize; MAX_REPLICAS + 1];
    for _ in 0..CASES {
        let history = strategy.new_tree(&mut runner).expect("a history").current();
        replicas[history.replicas] += 1;
        let run = common::run::<common::OrSetModel>(&history);
        let ops = history.steps.iter().filter_map(|step| match step {
            Step::Mutate { op, .. } => Some(op),
            Step::Sync { .. } => None,
        });
        let mut hit = false;
        for (op, m) in ops.zip(&run.mutations) {
            if let common::OrSetOp::Remove(_) | common::OrSetOp::RemoveHeld(_) = op {
                removes += 1;
                let (before, after): (&OrSet<u8>, &OrSet<u8>) = (&m.prior, &m.after);
                if after.len() < before.len() {
                    hits += 1;
                    hit = true;
                }
            }
        }
        hit_cases += usize::from(hit);
    }
    let share = hit_cases as f64 / CASES as f64;
    eprintln!(
        "{:.1} % of OR-Set cases remove a held element; {hits} of {removes} removals hit; \
         histories per replica count {:?}",
        100.0 * share,
        &replicas[MIN_REPLICAS..]
    );
    assert!(share >= 0.6, "{:.1} % of cases", 100.0 * share);
    assert!(replicas[MIN_REPLICAS..].iter().all(|&n| n >= CASES / 10));
}

/// The OR-Map histories exercise nested values and removals: measured over
/// 1,000 histories drawn with a fixed seed, most hold a nested OR-Set
/// element in some replica's final state, and most remove a key that held
/// one.
#[test]
fn or_map_histories_mostly_hold_nested_elements_and_remove_held_keys() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

    const CASES: usize = 1_000;
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[17; 32]);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let strategy = history(or_map::ops());
    let (mut holding, mut removing) = (0, 0);
    for _ in 0..CASES {
        let history = strategy.new_tree(&mut runner).expect("a history").current();
        let run = common::run::<common::OrMapModel>(&history);
        let has_cells = |m: &rumor::crdt::OrMap<u8, common::Swarm>| {
            m.iter().any(|(_, value)| !value.cells.is_empty())
        };
        holding += usize::from(run.finals.iter().any(has_cells));
        let ops = history.steps.iter().filter_map(|step| match step {
            Step::Mutate { op, .. } => Some(op),
            Step::Sync { .. } => None,
        });
        let removed_held = ops.zip(&run.mutations).any(|(op, m)| {
            matches!(
                op,
                common::OrMapOp::Remove(_) | common::OrMapOp::RemoveHeld(_)
            ) && m.after.len() < m.prior.len()
                && has_cells(&m.prior)
        });
        removing += usize::from(removed_held);
    }
    eprintln!("of {CASES} OR-Map cases, {holding} end holding a nested element, {removing} remove a held key");
    assert!(holding >= CASES * 6 / 10, "{holding} of {CASES}");
    assert!(removing >= CASES / 2, "{removing} of {CASES}");
}
