//! What the merge-law tests (`laws_proptest.rs` and `laws_quickcheck.rs`)
//! share. The laws, the histories and how they are played are the law kit's
//! (`rumor::laws`, the `rumor-laws` crate), and so are the models of
//! rumor's own types (`rumor::laws::models`, which the `merge_laws_<type>`
//! fuzz targets use too): the tests use exactly what users of the kit use.
//! Here are only a derived struct's model ([`SwarmModel`]) and the OR-Map
//! of it, and the test files instantiate every law for every model through
//! [`for_each_law!`]. Each law here returns `Err(explanation)` on a
//! counterexample (the kit's `LawViolation`, as text), so that proptest and
//! quickcheck can both report it.

use rumor::crdt::{GCounter, Hlc, LwwMap, OrSet, PnCounter};
// The kit's names, under the names this module had before the kit: each test
// file uses its own subset.
#[allow(unused_imports)]
pub(crate) use rumor::laws::{
    replica_id, run, History, Model, Mutation, Run, Step, Writer, MAX_REPLICAS, MAX_STEPS,
    MIN_REPLICAS,
};

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
// The models: rumor's own types are the kit's (`rumor::laws::models`, shared
// with the fuzz targets); only the derived struct below is the tests' own.

#[allow(unused_imports)]
pub(crate) use rumor::laws::models::{
    GCounterModel, GCounterOp, LwwMapModel, LwwMapOp, LwwRegisterModel, LwwRegisterOp,
    MvRegisterModel, MvRegisterOp, OrSetModel, OrSetOp, PnCounterModel, PnCounterOp, ELEMENTS,
    HOT_ELEMENTS, KEYS, VALUES, WALLS,
};

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

/// An operation on an [`OrMap<u8, Swarm>`](rumor::crdt::OrMap): a map
/// whose values hold every kind of nested CRDT (an LWW map, an OR-Set, two
/// counters).
#[allow(dead_code)] // each test file uses its own subset
pub(crate) type OrMapOp = rumor::laws::models::OrMapOp<SwarmOp>;

/// [`OrMap<u8, Swarm>`](rumor::crdt::OrMap).
pub(crate) type OrMapModel = rumor::laws::models::OrMapModel<SwarmModel>;
