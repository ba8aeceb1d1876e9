//! Histories for proptest (feature `proptest`).

use core::fmt::Debug;

use proptest::collection::vec;
use proptest::prelude::*;

use crate::history::{History, Step, MAX_REPLICAS, MAX_STEPS, MIN_REPLICAS};

/// Histories on [`MIN_REPLICAS`] to [`MAX_REPLICAS`] replicas of up to
/// [`MAX_STEPS`] steps: three mutations drawn from `ops` for every sync
/// between random replicas.
///
/// ```
/// use proptest::prelude::*;
/// use rumor_crdt::GCounter;
/// use rumor_laws::{Model, Writer};
///
/// struct Counter;
/// impl Model for Counter {
///     type State = GCounter;
///     type Op = u64;
///     fn mutate(c: &mut GCounter, n: &u64, w: &mut Writer) -> GCounter {
///         c.increment(w.id, *n)
///     }
/// }
///
/// // In a test file: `proptest! { #[test] fn laws(history in history(ops)) { .. } }`.
/// let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(8));
/// let laws = |history| {
///     rumor_laws::check_all::<Counter>(&history).map_err(|e| TestCaseError::fail(e.to_string()))
/// };
/// runner.run(&rumor_laws::history(0..10u64), laws).unwrap();
/// ```
pub fn history<O: Clone + Debug + 'static>(
    ops: impl Strategy<Value = O> + 'static,
) -> impl Strategy<Value = History<O>> {
    let mutate = (0..MAX_REPLICAS, ops).prop_map(|(replica, op)| Step::Mutate { replica, op });
    let sync = (
        0..MAX_REPLICAS,
        0..MAX_REPLICAS,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(to, from, via_delta, observe_clock)| Step::Sync {
            to,
            from,
            via_delta,
            observe_clock,
        });
    let step = prop_oneof![3 => mutate, 1 => sync];
    (
        MIN_REPLICAS..=MAX_REPLICAS,
        vec(step, 0..=MAX_STEPS),
        any::<u64>(),
    )
        .prop_map(|(replicas, steps, seed)| History {
            replicas,
            steps,
            seed,
        })
}
