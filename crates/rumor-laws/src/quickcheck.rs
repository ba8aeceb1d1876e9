//! Histories for quickcheck (feature `quickcheck`): `History<O>` is
//! `quickcheck::Arbitrary` when the operation `O` is, and shrinks by
//! dropping and shrinking steps.

use quickcheck::{Arbitrary, Gen};

use crate::history::{History, Step, MAX_REPLICAS, MAX_STEPS, MIN_REPLICAS};

impl<O: Arbitrary> Arbitrary for Step<O> {
    /// Three mutations for every sync between random replicas.
    fn arbitrary(g: &mut Gen) -> Self {
        let replica = |g: &mut Gen| usize::arbitrary(g) % MAX_REPLICAS;
        if u64::arbitrary(g) % 4 == 0 {
            Step::Sync {
                to: replica(g),
                from: replica(g),
                via_delta: bool::arbitrary(g),
                observe_clock: bool::arbitrary(g),
            }
        } else {
            Step::Mutate {
                replica: replica(g),
                op: O::arbitrary(g),
            }
        }
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Self>> {
        match self {
            Step::Mutate { replica, op } => {
                let replica = *replica;
                Box::new(op.shrink().map(move |op| Step::Mutate { replica, op }))
            }
            Step::Sync { .. } => quickcheck::empty_shrinker(),
        }
    }
}

impl<O: Arbitrary> Arbitrary for History<O> {
    /// 2 to 6 replicas, up to [`MAX_STEPS`] steps; shrinks by dropping and
    /// shrinking steps.
    ///
    /// ```
    /// use quickcheck::{Arbitrary, Gen};
    /// use rumor_laws::History;
    ///
    /// let history = History::<u8>::arbitrary(&mut Gen::new(10));
    /// assert!((2..=6).contains(&history.replicas) && history.steps.len() <= 40);
    /// ```
    fn arbitrary(g: &mut Gen) -> Self {
        let len = usize::arbitrary(g) % (MAX_STEPS + 1);
        History {
            replicas: MIN_REPLICAS + usize::arbitrary(g) % (MAX_REPLICAS - MIN_REPLICAS + 1),
            steps: (0..len).map(|_| Step::arbitrary(g)).collect(),
            seed: u64::arbitrary(g),
        }
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Self>> {
        let (replicas, seed) = (self.replicas, self.seed);
        Box::new(self.steps.shrink().map(move |steps| History {
            replicas,
            steps,
            seed,
        }))
    }
}
