//! Histories read from a fuzzer's bytes (feature `arbitrary`), and
//! [`fuzz`], the body of a cargo-fuzz target that checks every law.

use arbitrary::{Arbitrary, Result, Unstructured};

use crate::history::{History, Model, Step, MAX_REPLICAS, MAX_STEPS, MIN_REPLICAS};

impl<'a, O: Arbitrary<'a>> Arbitrary<'a> for Step<O> {
    /// Laid out as `#[derive(Arbitrary)]` lays out an enum of two variants
    /// whose replica indices are `u8`s.
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let mutate = (u64::from(u32::arbitrary(u)?) * 2) >> 32 == 0;
        Ok(if mutate {
            Step::Mutate {
                replica: usize::from(u8::arbitrary(u)?),
                op: O::arbitrary(u)?,
            }
        } else {
            Step::Sync {
                to: usize::from(u8::arbitrary(u)?),
                from: usize::from(u8::arbitrary(u)?),
                via_delta: bool::arbitrary(u)?,
                observe_clock: bool::arbitrary(u)?,
            }
        })
    }
}

impl<'a, O: Arbitrary<'a>> Arbitrary<'a> for History<O> {
    /// A replica count (a byte, [`MIN_REPLICAS`] plus its value modulo the
    /// range), the steps (at most [`MAX_STEPS`] are kept), the seed.
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let replicas =
            MIN_REPLICAS + usize::from(u8::arbitrary(u)?) % (MAX_REPLICAS - MIN_REPLICAS + 1);
        let mut steps = Vec::<Step<O>>::arbitrary(u)?;
        steps.truncate(MAX_STEPS);
        Ok(History {
            replicas,
            steps,
            seed: u64::arbitrary(u)?,
        })
    }
}

/// The body of a cargo-fuzz target: reads a [`History`] of `M`'s operations
/// from `data` (ignoring bytes it cannot use) and checks every law on it,
/// panicking with the first [`LawViolation`](crate::LawViolation).
///
/// ```
/// use rumor_crdt::{Crdt, GCounter};
/// use rumor_laws::{Model, Writer};
///
/// struct Counter;
/// impl Model for Counter {
///     type State = GCounter;
///     type Op = u8;
///     fn mutate(c: &mut GCounter, n: &u8, w: &mut Writer) -> GCounter {
///         c.increment(w.id, u64::from(*n))
///     }
/// }
/// // Any bytes are a valid input.
/// rumor_laws::fuzz::<Counter>(&[]);
/// rumor_laws::fuzz::<Counter>(&[1, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff, 1, 0, 1, 1]);
/// ```
#[track_caller]
pub fn fuzz<M: Model>(data: &[u8])
where
    M::Op: for<'a> Arbitrary<'a>,
{
    if let Ok(history) = History::<M::Op>::arbitrary_take_rest(Unstructured::new(data)) {
        crate::assert_laws::<M>(&history);
    }
}
