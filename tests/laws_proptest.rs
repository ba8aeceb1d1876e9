//! The merge laws of DESIGN §2, as proptest properties over arbitrary
//! operation histories on three replicas, for every type: `GCounter`,
//! `PnCounter`, `LwwRegister`, `LwwMap` and `OrSet`.
//!
//! Tests are named `<type>::<law>`, e.g. `orset::exact_delta_extraction`;
//! the laws themselves are in `tests/common/mod.rs`.
//!
//! The tests use proptest's default configuration, which reads the
//! environment: `PROPTEST_CASES` sets the number of cases per test (default
//! 256), and every other `PROPTEST_*` variable works as usual.

#[macro_use]
mod common;

use std::fmt::Debug;

use common::{History, Step, ELEMENTS, HOT_ELEMENTS, KEYS, MAX_STEPS, REPLICAS, VALUES, WALL_MS};
use proptest::collection::vec;
use proptest::prelude::*;

/// Histories of up to [`MAX_STEPS`] steps: mostly mutations drawn from
/// `ops`, and syncs between random replicas.
fn history<O: Clone + Debug + 'static>(
    ops: impl Strategy<Value = O> + 'static,
) -> impl Strategy<Value = History<O>> {
    let mutate = (0..REPLICAS, ops).prop_map(|(replica, op)| Step::Mutate { replica, op });
    let sync = (0..REPLICAS, 0..REPLICAS, any::<bool>(), any::<bool>()).prop_map(
        |(to, from, via_delta, observe_clock)| Step::Sync {
            to,
            from,
            via_delta,
            observe_clock,
        },
    );
    let step = prop_oneof![3 => mutate, 1 => sync];
    (vec(step, 0..=MAX_STEPS), any::<u64>()).prop_map(|(steps, seed)| History { steps, seed })
}

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

fn wall_ms() -> impl Strategy<Value = u64> {
    WALL_MS
}

/// Instantiates every law (see `for_each_law!`) as a proptest over the
/// histories of `ops()`, for the model `M` of the enclosing module.
macro_rules! proptest_laws {
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
}

mod lww_register {
    use super::*;
    use common::LwwRegisterOp;
    type M = common::LwwRegisterModel;

    fn ops() -> impl Strategy<Value = LwwRegisterOp> {
        (value(), wall_ms()).prop_map(|(value, wall_ms)| LwwRegisterOp::Set { value, wall_ms })
    }

    for_each_law!(proptest_laws);
}

mod lww_map {
    use super::*;
    use common::LwwMapOp;
    type M = common::LwwMapModel;

    fn ops() -> impl Strategy<Value = LwwMapOp> {
        prop_oneof![
            2 => (key(), value(), wall_ms())
                .prop_map(|(key, value, wall_ms)| LwwMapOp::Insert { key, value, wall_ms }),
            1 => (key(), wall_ms()).prop_map(|(key, wall_ms)| LwwMapOp::Remove { key, wall_ms }),
        ]
    }

    for_each_law!(proptest_laws);
}

mod orset {
    use super::*;
    use common::OrSetOp;
    type M = common::OrSetModel;

    fn ops() -> impl Strategy<Value = OrSetOp> {
        prop_oneof![
            16 => element().prop_map(OrSetOp::Insert),
            3 => element().prop_map(OrSetOp::Remove),
            1 => Just(OrSetOp::Clear),
        ]
    }

    for_each_law!(proptest_laws);
}
