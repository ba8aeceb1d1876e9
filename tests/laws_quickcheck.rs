//! The merge laws of DESIGN §2, as quickcheck properties over arbitrary
//! operation histories on 2 to 6 replicas, for every type: `GCounter`,
//! `PnCounter`, `LwwRegister`, `LwwMap`, `OrSet`, `MvRegister`, a derived
//! struct and `OrMap` (of that struct).
//!
//! Tests are named `qc_<type>::<law>`, e.g. `qc_orset::exact_delta_extraction`;
//! the laws and `History<O>: quickcheck::Arbitrary` are the law kit's
//! (`rumor::laws`), the models of rumor's types are in `tests/common/mod.rs`,
//! shared with `laws_proptest.rs`.
//!
//! The tests run `QuickCheck::new()`, which reads the environment:
//! `QUICKCHECK_TESTS` sets the number of passing cases per test (default
//! 100), and quickcheck's other `QUICKCHECK_*` variables work as usual.

#[macro_use]
mod common;

use common::{
    History, LwwMapOp, LwwRegisterOp, Model, OrSetOp, PnCounterOp, ELEMENTS, HOT_ELEMENTS, KEYS,
    VALUES, WALL_MS,
};
use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};

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

fn wall_ms(g: &mut Gen) -> u64 {
    WALL_MS.start + below(g, WALL_MS.end - WALL_MS.start)
}

fn element(g: &mut Gen) -> u8 {
    if below(g, 3) == 0 {
        below_u8(g, HOT_ELEMENTS)
    } else {
        below_u8(g, ELEMENTS)
    }
}

impl Arbitrary for common::GCounterOp {
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
            wall_ms: wall_ms(g),
        }
    }
}

impl Arbitrary for LwwMapOp {
    /// Two inserts for every removal.
    fn arbitrary(g: &mut Gen) -> Self {
        let key = below_u8(g, KEYS);
        if below(g, 3) == 0 {
            Self::Remove {
                key,
                wall_ms: wall_ms(g),
            }
        } else {
            Self::Insert {
                key,
                value: below_u8(g, VALUES),
                wall_ms: wall_ms(g),
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

impl Arbitrary for common::MvRegisterOp {
    /// Mostly writes, a few clears.
    fn arbitrary(g: &mut Gen) -> Self {
        if below(g, 7) == 0 {
            Self::Clear
        } else {
            Self::Set(below_u8(g, VALUES))
        }
    }
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

impl Arbitrary for common::OrMapOp {
    /// Nested operations on a few keys (any field of the nested value),
    /// removals of keys mostly held.
    fn arbitrary(g: &mut Gen) -> Self {
        match below(g, 12) {
            0..8 => Self::Update(below_u8(g, KEYS), common::SwarmOp::arbitrary(g)),
            8..11 => Self::RemoveHeld(u8::arbitrary(g)),
            _ => Self::Remove(below_u8(g, KEYS)),
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
