//! Operation histories on several replicas, the [`Model`] that says how to
//! play a type's operations, and [`run`], which plays a history and records
//! every state and delta the laws combine.

use core::fmt::Debug;

use rumor_crdt::{Crdt, Hlc, HlcTimestamp, ReplicaId};

/// The fewest replicas in a history.
pub const MIN_REPLICAS: usize = 2;
/// The most replicas in a history. Steps name replicas in
/// `0..MAX_REPLICAS`, taken modulo the history's own number.
pub const MAX_REPLICAS: usize = 6;
/// The longest history the generators of this crate make (proptest,
/// quickcheck, `arbitrary`); a longer one read from fuzzer bytes is cut.
pub const MAX_STEPS: usize = 40;

/// The id of replica number `index` in a history
/// (`ReplicaId::from_u128(index + 1)`).
///
/// ```
/// use rumor_crdt::ReplicaId;
/// assert_eq!(rumor_laws::replica_id(0), ReplicaId::from_u128(1));
/// ```
pub fn replica_id(index: usize) -> ReplicaId {
    ReplicaId::from_u128(index as u128 + 1)
}

/// The replica making a mutation: its id, for dots, and its hybrid logical
/// clock, for the timestamps of LWW writes.
///
/// ```
/// use rumor_crdt::{Crdt, GCounter};
/// use rumor_laws::Writer;
///
/// let mut writer = Writer::new(rumor_laws::replica_id(0));
/// let mut counter = GCounter::new();
/// let delta = counter.increment(writer.id, 2);
/// assert_eq!(delta.value(), 2);
/// let first = writer.now(1_000);
/// assert!(writer.now(999) > first); // the clock never goes back
/// ```
#[derive(Clone, Debug)]
pub struct Writer {
    /// Its id.
    pub id: ReplicaId,
    /// Its hybrid logical clock (the LWW types stamp writes with it).
    pub clock: Hlc,
}

impl Writer {
    /// A writer with a fresh clock.
    ///
    /// ```
    /// let writer = rumor_laws::Writer::new(rumor_laws::replica_id(3));
    /// assert_eq!(writer.id, rumor_laws::replica_id(3));
    /// ```
    pub fn new(id: ReplicaId) -> Self {
        Self {
            id,
            clock: Hlc::new(id),
        }
    }

    /// A fresh timestamp for a write at the writer's wall time `wall_ms`.
    ///
    /// ```
    /// let mut writer = rumor_laws::Writer::new(rumor_laws::replica_id(0));
    /// assert_eq!(writer.now(1_000).wall_ms, 1_000);
    /// ```
    pub fn now(&mut self, wall_ms: u64) -> HlcTimestamp {
        self.clock.now(wall_ms)
    }
}

/// How a type is exercised by histories: which operations it has and how
/// one is applied. Only [`Model::mutate`] is required; the other methods
/// let a type state more of what "a join loses nothing" means for it.
///
/// A model for a `#[derive(Crdt)]` struct, implemented on the struct itself:
///
/// ```
/// use rumor_crdt::{Crdt, GCounter, OrSet};
/// use rumor_laws::{Model, Writer};
///
/// #[derive(Crdt, Clone, Debug, Default, PartialEq)]
/// struct Inventory {
///     restocked: GCounter,
///     tags: OrSet<u8>,
/// }
///
/// #[derive(Clone, Debug)]
/// enum InventoryOp {
///     Restock(u64),
///     Tag(u8),
///     Untag(u8),
/// }
///
/// impl Model for Inventory {
///     type State = Self;
///     type Op = InventoryOp;
///     fn mutate(s: &mut Self, op: &InventoryOp, w: &mut Writer) -> Self {
///         match *op {
///             InventoryOp::Restock(n) => s.update_restocked(|c| c.increment(w.id, n)),
///             InventoryOp::Tag(t) => s.update_tags(|set| set.insert(w.id, t)),
///             InventoryOp::Untag(t) => s.update_tags(|set| set.remove(&t)),
///         }
///     }
/// }
/// # let history = rumor_laws::History { replicas: 2, steps: vec![], seed: 0 };
/// # rumor_laws::assert_laws::<Inventory>(&history);
/// ```
pub trait Model {
    /// The type under test.
    type State: Crdt;
    /// One mutation of it.
    type Op: Clone + Debug;

    /// Applies `op` on behalf of `writer` and returns the delta.
    fn mutate(state: &mut Self::State, op: &Self::Op, writer: &mut Writer) -> Self::State;

    /// Lets the receiver's clock see the timestamps of a state it received.
    /// The default observes [`Crdt::latest_timestamp`] at the clock's own
    /// latest wall time; a reading too far ahead is refused by the clock
    /// and changes nothing.
    fn observe(clock: &mut Hlc, received: &Self::State) {
        if let Some(remote) = received.latest_timestamp() {
            let wall_ms = clock.last().wall_ms;
            // Refused readings leave the clock as it was.
            let _ = clock.observe(remote, wall_ms);
        }
    }

    /// The type's own statement of "a join loses nothing": what of `a` must
    /// still be in `joined = a ⊔ b`, and that `joined` holds nothing neither
    /// side had. Checked by [`join_is_monotone`](crate::join_is_monotone)
    /// both ways, beside the lattice order. The default adds nothing.
    fn keeps(a: &Self::State, b: &Self::State, joined: &Self::State) -> Result<(), String> {
        let _ = (a, b, joined);
        Ok(())
    }

    /// What a replica `r` shows that survives in `full = r ⊔ s` also
    /// survives in `partial`, a join of `r` with only some of `s`'s
    /// [`Crdt::split`] pieces: a piece never removes what the whole keeps.
    /// The default adds nothing.
    fn survives(r: &Self::State, full: &Self::State, partial: &Self::State) -> Result<(), String> {
        let _ = (r, full, partial);
        Ok(())
    }

    /// How many entries a state has that [`Crdt::split`] can put into
    /// different pieces (a counter's replicas, a map's keys, a set's
    /// elements; a register's value is one): a split into two or more
    /// parts of a state with two entries or more must give two pieces or
    /// more. The default, 0, skips that check.
    fn entries(state: &Self::State) -> usize {
        let _ = state;
        0
    }
}

/// One step of a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step<O> {
    /// Replica `replica` applies `op`.
    Mutate {
        /// Index of the replica (modulo the history's replicas).
        replica: usize,
        /// The operation.
        op: O,
    },
    /// Replica `to` receives replica `from`'s state.
    Sync {
        /// Index of the receiving replica (modulo the history's replicas).
        to: usize,
        /// Index of the sending replica (modulo the history's replicas).
        from: usize,
        /// Ship only `from.delta_since(&to.context())` instead of the full state.
        via_delta: bool,
        /// The receiver's clock observes what it received ([`Model::observe`]).
        observe_clock: bool,
    },
}

/// A history of steps on `replicas` replicas, plus a seed for the choices
/// the laws make after the run (which states to combine, how the network
/// reorders and duplicates deltas).
///
/// ```
/// use rumor_laws::{History, Step};
///
/// // Replica 0 increments, replica 1 pulls the delta it lacks.
/// let history = History {
///     replicas: 2,
///     steps: vec![
///         Step::Mutate { replica: 0, op: 5u64 },
///         Step::Sync { to: 1, from: 0, via_delta: true, observe_clock: false },
///     ],
///     seed: 7,
/// };
/// assert_eq!(history.steps.len(), 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History<O> {
    /// How many replicas, clamped to [`MIN_REPLICAS`]`..=`[`MAX_REPLICAS`].
    pub replicas: usize,
    /// The steps, in order.
    pub steps: Vec<Step<O>>,
    /// Seed of the laws' own random choices.
    pub seed: u64,
}

/// One mutation of a run.
#[derive(Clone, Debug)]
pub struct Mutation<S> {
    /// The replica's state before the mutation.
    pub prior: S,
    /// The delta the mutator returned.
    pub delta: S,
    /// The replica's state after the mutation.
    pub after: S,
    /// Where `after` is in [`Run::timeline`].
    pub at: usize,
}

/// The outcome of playing a history ([`run`]).
#[derive(Clone, Debug)]
pub struct Run<S> {
    /// Every replica's state at the end.
    pub finals: Vec<S>,
    /// Every mutation, in order.
    pub mutations: Vec<Mutation<S>>,
    /// Every sync, in order, as (receiver before, receiver after).
    pub syncs: Vec<(S, S)>,
    /// Every distinct state any replica was in, bottom included, in the
    /// order they were first reached.
    pub reachable: Vec<S>,
    /// Bottom, then the state of the replica that moved after each step:
    /// index `t` is the history after `t` steps.
    pub timeline: Vec<S>,
    /// Each replica's states in order, from bottom, one per step it took.
    pub trajectories: Vec<Vec<S>>,
}

impl<S: Crdt> Run<S> {
    /// The reachable states and the deltas of mutations: the values the join
    /// laws combine (a delta is a state too, and is joined into replicas).
    ///
    /// ```
    /// use rumor_crdt::GCounter;
    /// use rumor_laws::{History, Model, Step, Writer};
    ///
    /// struct Counter;
    /// impl Model for Counter {
    ///     type State = GCounter;
    ///     type Op = u64;
    ///     fn mutate(c: &mut GCounter, n: &u64, w: &mut Writer) -> GCounter {
    ///         c.increment(w.id, *n)
    ///     }
    /// }
    /// let steps = vec![Step::Mutate { replica: 0, op: 2 }];
    /// let run = rumor_laws::run::<Counter>(&History { replicas: 2, steps, seed: 0 });
    /// assert_eq!(run.pool().len(), 2); // bottom, and the state after (its own delta)
    /// ```
    pub fn pool(&self) -> Vec<S> {
        let mut pool = self.reachable.clone();
        for m in &self.mutations {
            push_distinct(&mut pool, &m.delta);
        }
        pool
    }

    /// Every step of a replica, mutation or sync, as (before, after).
    ///
    /// ```
    /// use rumor_crdt::GCounter;
    /// let run = rumor_laws::Run::<GCounter> {
    ///     finals: vec![], mutations: vec![], syncs: vec![], reachable: vec![],
    ///     timeline: vec![], trajectories: vec![],
    /// };
    /// assert_eq!(run.steps().count(), 0);
    /// ```
    pub fn steps(&self) -> impl Iterator<Item = (&S, &S)> {
        let mutations = self.mutations.iter().map(|m| (&m.prior, &m.after));
        mutations.chain(self.syncs.iter().map(|(before, after)| (before, after)))
    }

    /// The join of the final states: where every replica converges.
    ///
    /// ```
    /// use rumor_crdt::{Crdt, GCounter};
    /// let run = rumor_laws::Run::<GCounter> {
    ///     finals: vec![], mutations: vec![], syncs: vec![], reachable: vec![],
    ///     timeline: vec![], trajectories: vec![],
    /// };
    /// assert!(run.converged().is_bottom());
    /// ```
    pub fn converged(&self) -> S {
        self.finals.iter().fold(S::default(), |mut acc, s| {
            acc.join(s);
            acc
        })
    }
}

pub(crate) fn push_distinct<S: PartialEq + Clone>(states: &mut Vec<S>, state: &S) {
    if !states.contains(state) {
        states.push(state.clone());
    }
}

/// Plays `history` on fresh replicas (`history.replicas`, clamped to
/// [`MIN_REPLICAS`]`..=`[`MAX_REPLICAS`]), replica `i` writing as
/// [`replica_id`]`(i)`, and records every state it reaches and every delta
/// a mutation returns.
///
/// ```
/// use rumor_crdt::GCounter;
/// use rumor_laws::{History, Model, Step, Writer};
///
/// struct Counter;
/// impl Model for Counter {
///     type State = GCounter;
///     type Op = u64;
///     fn mutate(c: &mut GCounter, n: &u64, w: &mut Writer) -> GCounter {
///         c.increment(w.id, *n)
///     }
/// }
/// let steps = vec![
///     Step::Mutate { replica: 0, op: 2 },
///     Step::Sync { to: 1, from: 0, via_delta: true, observe_clock: false },
/// ];
/// let run = rumor_laws::run::<Counter>(&History { replicas: 2, steps, seed: 0 });
/// assert_eq!(run.finals[0], run.finals[1]);
/// assert_eq!(run.mutations[0].delta.value(), 2);
/// ```
pub fn run<M: Model>(history: &History<M::Op>) -> Run<M::State> {
    let replicas = history.replicas.clamp(MIN_REPLICAS, MAX_REPLICAS);
    let mut states = vec![M::State::default(); replicas];
    let mut writers: Vec<Writer> = (0..replicas).map(|i| Writer::new(replica_id(i))).collect();
    let mut mutations = Vec::new();
    let mut syncs = Vec::new();
    let mut reachable = vec![M::State::default()];
    let mut timeline = vec![M::State::default()];
    let mut trajectories = vec![vec![M::State::default()]; replicas];
    for step in &history.steps {
        let changed = match *step {
            Step::Mutate { replica, ref op } => {
                let i = replica % replicas;
                let prior = states[i].clone();
                let delta = M::mutate(&mut states[i], op, &mut writers[i]);
                let after = states[i].clone();
                mutations.push(Mutation {
                    prior,
                    delta,
                    after,
                    at: timeline.len(),
                });
                i
            }
            Step::Sync {
                to,
                from,
                via_delta,
                observe_clock,
            } => {
                let (to, from) = (to % replicas, from % replicas);
                let prior = states[to].clone();
                let received = if via_delta {
                    states[from].delta_since(&prior.context())
                } else {
                    states[from].clone()
                };
                if observe_clock {
                    M::observe(&mut writers[to].clock, &received);
                }
                states[to].join(&received);
                syncs.push((prior, states[to].clone()));
                to
            }
        };
        push_distinct(&mut reachable, &states[changed]);
        timeline.push(states[changed].clone());
        trajectories[changed].push(states[changed].clone());
    }
    Run {
        finals: states,
        mutations,
        syncs,
        reachable,
        timeline,
        trajectories,
    }
}
