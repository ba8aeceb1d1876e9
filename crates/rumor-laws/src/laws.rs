//! The laws by name ([`Law`]), the error a broken one returns
//! ([`LawViolation`]), one public function per law, and the conveniences
//! that check them all.

use core::fmt;

use crate::checks;
use crate::history::{run, History, Model, Run};

/// Declares [`Law`], its names and dispatch, and one public function per
/// law that tags the body's counterexample with the law.
macro_rules! laws {
    ($( $(#[$doc:meta])* $name:ident => $variant:ident, )*) => {
        /// A merge law of DESIGN §2 (and of the [`Crdt`](rumor_crdt::Crdt)
        /// trait's documentation), checked on the states a history reaches.
        /// [`Law::name`] is also the name of the function that checks it.
        ///
        /// ```
        /// use rumor_laws::Law;
        ///
        /// assert_eq!(Law::JoinIsCommutative.name(), "join_is_commutative");
        /// assert!(Law::ALL.contains(&Law::ExactDeltaExtraction));
        /// ```
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Law {
            $( $(#[$doc])* $variant, )*
        }

        impl Law {
            /// Every law, in the order [`check_all`] checks them.
            pub const ALL: &'static [Law] = &[$(Law::$variant),*];

            /// The law's name in snake case: the name of its function, and
            /// of rumor's tests of it.
            ///
            /// ```
            /// assert_eq!(rumor_laws::Law::JoinIsMonotone.name(), "join_is_monotone");
            /// ```
            pub fn name(self) -> &'static str {
                match self {
                    $(Law::$variant => stringify!($name),)*
                }
            }

            /// Plays `history` and checks this law on what it reached.
            ///
            /// ```
            /// use rumor_crdt::GCounter;
            /// use rumor_laws::{History, Law, Model, Step, Writer};
            ///
            /// struct Counter;
            /// impl Model for Counter {
            ///     type State = GCounter;
            ///     type Op = u64;
            ///     fn mutate(c: &mut GCounter, n: &u64, w: &mut Writer) -> GCounter {
            ///         c.increment(w.id, *n)
            ///     }
            /// }
            /// let steps = vec![Step::Mutate { replica: 0, op: 3 }];
            /// let history = History { replicas: 2, steps, seed: 1 };
            /// for law in Law::ALL {
            ///     assert_eq!(law.check::<Counter>(&history), Ok(()));
            /// }
            /// ```
            pub fn check<M: Model>(self, history: &History<M::Op>) -> Result<(), LawViolation> {
                self.check_run::<M>(&run::<M>(history), history.seed)
            }

            /// Checks this law on a history's [`Run`], already played, with
            /// the history's seed for the law's own random choices.
            fn check_run<M: Model>(self, run: &Run<M::State>, seed: u64) -> Result<(), LawViolation> {
                let counterexample = match self {
                    $(Law::$variant => checks::$name::<M>(run, seed),)*
                };
                counterexample.map_err(|counterexample| LawViolation { law: self, counterexample })
            }
        }

        $(
            $(#[$doc])*
            ///
            /// Returns the first counterexample found in `history`'s run as a
            /// [`LawViolation`] naming this law; see [`Law::check`] for an
            /// example.
            pub fn $name<M: Model>(history: &History<M::Op>) -> Result<(), LawViolation> {
                Law::$variant.check::<M>(history)
            }
        )*
    };
}

laws! {
    /// `a ⊔ b == b ⊔ a`, over every pair of a sample of the run's states and
    /// deltas.
    join_is_commutative => JoinIsCommutative,
    /// `(a ⊔ b) ⊔ c == a ⊔ (b ⊔ c)`, over every triple of a sample.
    join_is_associative => JoinIsAssociative,
    /// `a ⊔ a == a` for every state and delta, and `(a ⊔ b) ⊔ b == a ⊔ b`:
    /// receiving the same state or delta twice changes nothing.
    join_is_idempotent => JoinIsIdempotent,
    /// A join never loses anything: `a ⊑ a ⊔ b` and `b ⊑ a ⊔ b`, the
    /// model's own [`Model::keeps`] both ways, and every mutation and sync of
    /// the run is an inflation.
    join_is_monotone => JoinIsMonotone,
    /// Delta-mutator equivalence: for every mutation, `prior ⊔ delta ==
    /// mutated`.
    delta_mutator_equivalence => DeltaMutatorEquivalence,
    /// Exact extraction: `a ⊔ b.delta_since(&a.context()) == a ⊔ b` for every
    /// pair of reachable states, and from a context one step stale.
    exact_delta_extraction => ExactDeltaExtraction,
    /// Exact extraction from a context many of a replica's steps old (1, 2,
    /// 4, 8… steps, and bottom), as gossip answers old digests.
    exact_delta_extraction_from_contexts_many_steps_stale => ExactDeltaExtractionFromContextsManyStepsStale,
    /// Strong eventual consistency: every mutation's delta, delivered to
    /// fresh replicas in random orders with duplicates, brings each to the
    /// join of the final states.
    strong_eventual_consistency => StrongEventualConsistency,
    /// Replicas that received the same deltas agree whatever the order and
    /// the duplicates: random subsets of the deltas, delivered in random
    /// orders, give the join of the subset.
    same_deltas_in_any_order_reach_the_same_state => SameDeltasInAnyOrderReachTheSameState,
    /// Replicas holding random parts of the deltas converge by anti-entropy
    /// alone: answers `delta_since(context)` to contexts that are stale by the
    /// time the answers arrive, some twice.
    anti_entropy_by_delta_since_answers_converges => AntiEntropyByDeltaSinceAnswersConverges,
    /// The shortcuts agree with the definitions: `a.includes(b)` iff
    /// `a ⊔ b == a`, and `b.missing_from(a) == b.delta_since(&a.context())`.
    includes_and_missing_from_agree_with_join => IncludesAndMissingFromAgreeWithJoin,
    /// `s.split(n)`: at most `n` pieces, none bottom, each `≤ s`, joining
    /// back to `s` in any order, and at least two when `s` has two
    /// [`Model::entries`] or more.
    split_pieces_join_back_to_the_whole => SplitPiecesJoinBackToTheWhole,
    /// Any subset of a split's pieces, joined into an earlier state `r`,
    /// keeps what `r ⊔ s` keeps of `r` ([`Model::survives`]) and leaves a
    /// context from which extraction stays exact.
    any_subset_of_split_pieces_keeps_what_the_whole_keeps => AnySubsetOfSplitPiecesKeepsWhatTheWholeKeeps,
    /// Bottom is the identity of join (`a ⊔ ⊥ == ⊥ ⊔ a == a`), and
    /// `is_bottom` is true exactly of bottom, for states, deltas and split
    /// pieces.
    bottom_is_the_identity_of_join => BottomIsTheIdentityOfJoin,
}

impl fmt::Display for Law {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A broken law: which one, and the counterexample (the states that break
/// it, in `Debug` form, with what each side of the law gave).
///
/// ```
/// use rumor_laws::{Law, LawViolation};
///
/// let broken = LawViolation {
///     law: Law::JoinIsCommutative,
///     counterexample: "a ⊔ b != b ⊔ a".into(),
/// };
/// assert_eq!(broken.to_string(), "law join_is_commutative broken: a ⊔ b != b ⊔ a");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LawViolation {
    /// The law broken.
    pub law: Law,
    /// The states that break it, and what the law's two sides gave.
    pub counterexample: String,
}

impl fmt::Display for LawViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "law {} broken: {}", self.law, self.counterexample)
    }
}

impl std::error::Error for LawViolation {}

/// Checks every law ([`Law::ALL`]) on `history`, played once for all of
/// them; the first broken one is the error.
///
/// ```
/// use rumor_crdt::{Crdt, OrSet};
/// use rumor_laws::{History, Model, Step, Writer};
///
/// struct Set;
/// impl Model for Set {
///     type State = OrSet<u8>;
///     type Op = (bool, u8);
///     fn mutate(s: &mut OrSet<u8>, &(add, x): &(bool, u8), w: &mut Writer) -> OrSet<u8> {
///         if add { s.insert(w.id, x) } else { s.remove(&x) }
///     }
/// }
/// let steps = vec![
///     Step::Mutate { replica: 0, op: (true, 1) },
///     Step::Sync { to: 1, from: 0, via_delta: true, observe_clock: false },
///     Step::Mutate { replica: 1, op: (false, 1) },
///     Step::Mutate { replica: 0, op: (true, 1) },
/// ];
/// assert_eq!(rumor_laws::check_all::<Set>(&History { replicas: 3, steps, seed: 9 }), Ok(()));
/// ```
pub fn check_all<M: Model>(history: &History<M::Op>) -> Result<(), LawViolation> {
    let run = run::<M>(history);
    Law::ALL
        .iter()
        .try_for_each(|law| law.check_run::<M>(&run, history.seed))
}

/// Checks every law on `history` and panics with the first
/// [`LawViolation`]: for a plain `#[test]` or a fuzz target.
///
/// ```
/// use rumor_crdt::PnCounter;
/// use rumor_laws::{History, Model, Step, Writer};
///
/// struct Counter;
/// impl Model for Counter {
///     type State = PnCounter;
///     type Op = i8;
///     fn mutate(c: &mut PnCounter, &n: &i8, w: &mut Writer) -> PnCounter {
///         if n >= 0 { c.increment(w.id, n as u64) } else { c.decrement(w.id, n.unsigned_abs().into()) }
///     }
/// }
/// let steps = (0..6).map(|i| Step::Mutate { replica: i, op: i as i8 - 3 }).collect();
/// rumor_laws::assert_laws::<Counter>(&History { replicas: 3, steps, seed: 1 });
/// ```
#[track_caller]
pub fn assert_laws<M: Model>(history: &History<M::Op>) {
    if let Err(broken) = check_all::<M>(history) {
        panic!("{broken}");
    }
}

/// Checks one law on `history` and panics with its [`LawViolation`].
///
/// ```
/// use rumor_crdt::GCounter;
/// use rumor_laws::{History, Law, Model, Step, Writer};
///
/// struct Counter;
/// impl Model for Counter {
///     type State = GCounter;
///     type Op = u64;
///     fn mutate(c: &mut GCounter, n: &u64, w: &mut Writer) -> GCounter {
///         c.increment(w.id, *n)
///     }
/// }
/// let steps = vec![Step::Mutate { replica: 1, op: u64::MAX }];
/// rumor_laws::assert_law::<Counter>(Law::DeltaMutatorEquivalence, &History { replicas: 2, steps, seed: 0 });
/// ```
#[track_caller]
pub fn assert_law<M: Model>(law: Law, history: &History<M::Op>) {
    if let Err(broken) = law.check::<M>(history) {
        panic!("{broken}");
    }
}
