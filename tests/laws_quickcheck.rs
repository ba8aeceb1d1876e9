//! The merge laws of DESIGN §2, as quickcheck properties over arbitrary
//! operation histories on 2 to 6 replicas, for every type: `GCounter`,
//! `PnCounter`, `LwwRegister`, `LwwMap`, `OrSet`, `MvRegister`, a derived
//! struct and `OrMap` (of that struct).
//!
//! Tests are named `qc_<type>::<law>`, e.g. `qc_orset::exact_delta_extraction`;
//! the laws and `History<O>: quickcheck::Arbitrary` are the law kit's
//! (`rumor::laws`), and so are the models of rumor's types and their
//! `quickcheck::Arbitrary` ops (`rumor::laws::models`); the derived struct's
//! model is in `tests/common/mod.rs`, shared with `laws_proptest.rs`.
//!
//! The tests run `QuickCheck::new()`, which reads the environment:
//! `QUICKCHECK_TESTS` sets the number of passing cases per test (default
//! 100), and quickcheck's other `QUICKCHECK_*` variables work as usual.

#[macro_use]
mod common;

use common::{History, LwwMapOp, Model, OrSetOp, PnCounterOp};
use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};

/// A number in `0..n`.
fn below(g: &mut Gen, n: u64) -> u64 {
    u64::arbitrary(g) % n
}

impl Arbitrary for common::SwarmOp {
    /// An operation on any of the four fields.
    fn arbitrary(g: &mut Gen) -> Self {
        match below(g, 4) {
            0 => Self::Positions(LwwMapOp::arbitrary(g)),
            1 => Self::Cells(OrSetOp::arbitrary(g)),
            2 => Self::Done(common::GCounterOp::arbitrary(g)),
            _ => Self::Balance(PnCounterOp::arbitrary(g)),
        }
    }
}

/// Instantiates every law (see `for_each_law!`) as a quickcheck property
/// over histories, for the model `M` of the enclosing module; with an
/// attribute first (`#[ignore = "..."]`), on each of the laws listed.
macro_rules! quickcheck_laws {
    (#[$attr:meta] $($law:ident),* $(,)?) => {
        $(
            #[test]
            #[$attr]
            fn $law() {
                fn property(history: History<<M as Model>::Op>) -> TestResult {
                    match common::$law::<M>(&history) {
                        Ok(()) => TestResult::passed(),
                        Err(counterexample) => TestResult::error(counterexample),
                    }
                }
                QuickCheck::new().quickcheck(property as fn(History<<M as Model>::Op>) -> TestResult);
            }
        )*
    };
    ($($law:ident),* $(,)?) => {
        $(
            #[test]
            fn $law() {
                fn property(history: History<<M as Model>::Op>) -> TestResult {
                    match common::$law::<M>(&history) {
                        Ok(()) => TestResult::passed(),
                        Err(counterexample) => TestResult::error(counterexample),
                    }
                }
                QuickCheck::new().quickcheck(property as fn(History<<M as Model>::Op>) -> TestResult);
            }
        )*
    };
}

/// One module of tests per model: `qc_<type>::<law>`. An attribute after a
/// model applies to its `any_subset_of_split_pieces_keeps_what_the_whole_keeps`.
macro_rules! quickcheck_models {
    ($($module:ident => $model:ident $(#[$attr:meta])?),* $(,)?) => {
        $(
            mod $module {
                use super::*;
                type M = common::$model;
                for_each_law!(quickcheck_laws);
                quickcheck_laws!($(#[$attr])? any_subset_of_split_pieces_keeps_what_the_whole_keeps);
            }
        )*
    };
}

quickcheck_models! {
    qc_gcounter => GCounterModel,
    qc_pncounter => PnCounterModel,
    qc_lww_register => LwwRegisterModel,
    qc_mv_register => MvRegisterModel,
    qc_derived => SwarmModel,
    qc_lww_map => LwwMapModel,
    qc_orset => OrSetModel,
    qc_or_map => OrMapModel,
}
