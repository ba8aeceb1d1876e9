//! Histories read from a fuzzer's bytes (feature `arbitrary`), and
//! [`fuzz`], the body of a cargo-fuzz target that checks every law.

use arbitrary::{Arbitrary, Result, Unstructured};

use crate::history::{History, Model, Step, MAX_REPLICAS, MAX_STEPS, MIN_REPLICAS};

impl<'a, O: Arbitrary<'a>> Arbitrary<'a> for Step<O> {
    /// A byte whose low bit says mutation or sync, then a replica byte and
    /// the op, or two replica bytes and two flags.
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(if bool::arbitrary(u)? {
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

/// A replica count (a byte: [`MIN_REPLICAS`] plus its value modulo the
/// range) and the seed.
fn header(u: &mut Unstructured<'_>) -> Result<(usize, u64)> {
    let replicas =
        MIN_REPLICAS + usize::from(u8::arbitrary(u)?) % (MAX_REPLICAS - MIN_REPLICAS + 1);
    Ok((replicas, u64::arbitrary(u)?))
}

/// The steps `steps` yields, up to [`MAX_STEPS`] of them and up to the first
/// that the bytes left cannot make.
fn collect<O>(steps: impl Iterator<Item = Result<Step<O>>>) -> Vec<Step<O>> {
    steps.take(MAX_STEPS).map_while(Result::ok).collect()
}

impl<'a, O: Arbitrary<'a>> Arbitrary<'a> for History<O> {
    /// The replica count and the seed, then steps while a byte says so (at
    /// most [`MAX_STEPS`]).
    ///
    /// ```
    /// use arbitrary::{Arbitrary, Unstructured};
    /// use rumor_laws::{History, Step};
    ///
    /// // 3 replicas, seed 0, then: more, mutate replica 1 with op 9; more, sync 0 into 1.
    /// let bytes = [1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 9, 1, 0, 1, 0, 1, 1];
    /// let history = History::<u8>::arbitrary(&mut Unstructured::new(&bytes)).unwrap();
    /// assert_eq!(history.replicas, 3);
    /// assert_eq!(history.steps[0], Step::Mutate { replica: 1, op: 9 });
    /// ```
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let (replicas, seed) = header(u)?;
        let steps = collect(u.arbitrary_iter()?);
        Ok(History {
            replicas,
            steps,
            seed,
        })
    }

    /// The replica count and the seed, then steps from every byte left (at
    /// most [`MAX_STEPS`]): a fuzzer's input has no byte that means nothing.
    fn arbitrary_take_rest(mut u: Unstructured<'a>) -> Result<Self> {
        let (replicas, seed) = header(&mut u)?;
        // Not `arbitrary_take_rest_iter`: it reads a "keep going" byte before
        // each step, so that random bytes would stop after one step or two.
        let steps = collect(core::iter::from_fn(|| {
            (!u.is_empty()).then(|| Step::arbitrary(&mut u))
        }));
        Ok(History {
            replicas,
            steps,
            seed,
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
