//! The operation-history model shared by the merge-law tests
//! (`laws_proptest.rs` and `laws_quickcheck.rs`), and the laws themselves.
//!
//! A [`History`] is a list of [`Step`]s on 2 to 6 replicas
//! ([`MIN_REPLICAS`]..=[`MAX_REPLICAS`]): a mutation by one replica (an `Op`
//! of the type under test), or a sync from one replica into another
//! (joining its full state, or only `delta_since(&receiver.context())`), so
//! histories hold causal chains as well as concurrency. [`run`] plays a
//! history and records every state it reaches and every delta a mutation
//! returns.
//!
//! Each type gets a [`Model`] (how to play its ops, and what "nothing was
//! lost" means for it); each law is written once, generically over `Model`,
//! and the test files instantiate every law for every model through
//! [`for_each_law!`]. Each law returns `Err(explanation)` on a
//! counterexample, so that proptest and quickcheck can both report it.

use std::fmt::Debug;

use rumor::crdt::{
    Crdt, GCounter, Hlc, HlcTimestamp, LwwMap, LwwRegister, MvRegister, OrMap, OrSet, PnCounter,
    ReplicaId,
};

/// The fewest replicas in a history.
pub(crate) const MIN_REPLICAS: usize = 2;
/// The most replicas in a history. Steps name replicas in
/// `0..MAX_REPLICAS`, taken modulo the history's own number.
pub(crate) const MAX_REPLICAS: usize = 6;
/// The longest history generated.
pub(crate) const MAX_STEPS: usize = 40;
/// Register values and map values are drawn from `0..VALUES`.
pub(crate) const VALUES: u8 = 4;
/// Map keys are drawn from `0..KEYS`: few, so that writes collide.
pub(crate) const KEYS: u8 = 4;
/// Set elements are drawn from `0..HOT_ELEMENTS` a third of the time (so
/// that adds and removes of one element collide often) and from
/// `0..ELEMENTS` otherwise (so that sets grow past the size where
/// `OrSet::join` switches to its path for small deltas into large states).
pub(crate) const HOT_ELEMENTS: u8 = 4;
/// See [`HOT_ELEMENTS`].
pub(crate) const ELEMENTS: u8 = 32;
/// Wall times (ms) passed to the replicas' hybrid logical clocks are drawn
/// from this window, so a replica's wall clock jumps forward and back and
/// clocks of different replicas overlap.
pub(crate) const WALL_MS: std::ops::Range<u64> = 1_000..1_040;
/// The most copies of one delta the network of the convergence law delivers.
pub(crate) const MAX_COPIES: u64 = 3;

/// The id of replica number `index` (`ReplicaId::from_u128(index + 1)`).
pub(crate) fn replica_id(index: usize) -> ReplicaId {
    ReplicaId::from_u128(index as u128 + 1)
}

/// One step of a history.
#[derive(Clone, Debug)]
pub(crate) enum Step<O> {
    /// Replica `replica` applies `op`.
    Mutate {
        /// Index of the replica (modulo the history's replicas).
        replica: usize,
        /// The operation.
        op: O,
    },
    /// Replica `to` receives replica `from`'s state.
    Sync {
        /// Index of the receiving replica.
        to: usize,
        /// Index of the sending replica.
        from: usize,
        /// Ship only `from.delta_since(&to.context())` instead of the full state.
        via_delta: bool,
        /// The receiver's clock observes the timestamps received (LWW types).
        observe_clock: bool,
    },
}

/// A history of steps on `replicas` replicas, plus a seed for the choices
/// the laws make after the run (which states to combine, how the network
/// reorders and duplicates deltas).
#[derive(Clone, Debug)]
pub(crate) struct History<O> {
    /// How many replicas, [`MIN_REPLICAS`]`..=`[`MAX_REPLICAS`].
    pub(crate) replicas: usize,
    /// The steps, in order.
    pub(crate) steps: Vec<Step<O>>,
    /// Seed of [`Rng`] for the laws' own choices.
    pub(crate) seed: u64,
}

/// The replica making a mutation.
#[derive(Clone, Debug)]
pub(crate) struct Writer {
    /// Its id.
    pub(crate) id: ReplicaId,
    /// Its hybrid logical clock (used by the LWW types only).
    pub(crate) clock: Hlc,
}

impl Writer {
    /// A fresh timestamp for a write at wall time `wall_ms`.
    fn now(&mut self, wall_ms: u64) -> HlcTimestamp {
        self.clock.now(wall_ms)
    }
}

/// How a type is exercised by histories.
pub(crate) trait Model {
    /// The type under test.
    type State: Crdt;
    /// One mutation of it.
    type Op: Clone + Debug;
    /// Applies `op` on behalf of `writer` and returns the delta.
    fn mutate(state: &mut Self::State, op: &Self::Op, writer: &mut Writer) -> Self::State;

    /// Lets the receiver's clock see the timestamps of a state it received
    /// (LWW types).
    fn observe(_clock: &mut Hlc, _received: &Self::State) {}

    /// The type's own statement of "a join loses nothing": what of `a` must
    /// still be in `joined = a ⊔ b`, and that `joined` holds nothing neither
    /// side had.
    fn keeps(a: &Self::State, b: &Self::State, joined: &Self::State) -> Result<(), String>;

    /// What a replica `r` shows (an OR-Set's elements, an LWW map's values,
    /// a register's value, a counter's entries) that survives in
    /// `full = r ⊔ s` also survives in `partial`, a join of `r` with only
    /// some of `s`'s pieces: a piece never removes what the whole keeps.
    fn survives(r: &Self::State, full: &Self::State, partial: &Self::State) -> Result<(), String>;

    /// How many entries a state has that [`Crdt::split`] can put into
    /// different pieces (a counter's replicas, a map's keys, a set's
    /// elements; a register's value is one).
    fn entries(state: &Self::State) -> usize;
}

/// Returns `Err(format!(...))` from the enclosing function unless `cond`.
macro_rules! ensure {
    ($cond:expr, $($message:tt)+) => {
        if !$cond {
            return Err(format!($($message)+));
        }
    };
}

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
        }
    };
}

// ---------------------------------------------------------------------------
// Playing histories

/// One mutation of a run.
#[derive(Clone, Debug)]
pub(crate) struct Mutation<S> {
    /// The replica's state before the mutation.
    pub(crate) prior: S,
    /// The delta the mutator returned.
    pub(crate) delta: S,
    /// The replica's state after the mutation.
    pub(crate) after: S,
    /// Where `after` is in [`Run::timeline`].
    pub(crate) at: usize,
}

/// The outcome of playing a history.
#[derive(Clone, Debug)]
pub(crate) struct Run<S> {
    /// Every replica's state at the end.
    pub(crate) finals: Vec<S>,
    /// Every mutation, in order.
    pub(crate) mutations: Vec<Mutation<S>>,
    /// Every sync, in order, as (receiver before, receiver after).
    pub(crate) syncs: Vec<(S, S)>,
    /// Every distinct state any replica was in, bottom included, in the
    /// order they were first reached.
    pub(crate) reachable: Vec<S>,
    /// Bottom, then the state of the replica that moved after each step:
    /// index `t` is the history after `t` steps.
    pub(crate) timeline: Vec<S>,
    /// Each replica's states in order, from bottom, one per step it took.
    pub(crate) trajectories: Vec<Vec<S>>,
}

impl<S: Crdt> Run<S> {
    /// The reachable states and the deltas of mutations: the values the join
    /// laws combine (a delta is a state too, and is joined into replicas).
    pub(crate) fn pool(&self) -> Vec<S> {
        let mut pool = self.reachable.clone();
        for m in &self.mutations {
            push_distinct(&mut pool, &m.delta);
        }
        pool
    }

    /// Every step of a replica, mutation or sync, as (before, after).
    pub(crate) fn steps(&self) -> impl Iterator<Item = (&S, &S)> {
        let mutations = self.mutations.iter().map(|m| (&m.prior, &m.after));
        mutations.chain(self.syncs.iter().map(|(before, after)| (before, after)))
    }
}

fn push_distinct<S: PartialEq + Clone>(states: &mut Vec<S>, state: &S) {
    if !states.contains(state) {
        states.push(state.clone());
    }
}

/// Plays `history` on `history.replicas` fresh replicas.
pub(crate) fn run<M: Model>(history: &History<M::Op>) -> Run<M::State> {
    let replicas = history.replicas.clamp(MIN_REPLICAS, MAX_REPLICAS);
    let mut states = vec![M::State::default(); replicas];
    let mut writers: Vec<Writer> = (0..replicas)
        .map(|i| Writer {
            id: replica_id(i),
            clock: Hlc::new(replica_id(i)),
        })
        .collect();
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

/// A small deterministic generator (SplitMix64) for the laws' own choices.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Shuffles `items` (Fisher–Yates).
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }

    /// Up to `n` items of `items`, chosen at random, in random order.
    pub(crate) fn sample<T: Clone>(&mut self, items: &[T], n: usize) -> Vec<T> {
        let mut all = items.to_vec();
        self.shuffle(&mut all);
        all.truncate(n);
        all
    }
}

// ---------------------------------------------------------------------------
// The laws

/// How many pool states the pair laws combine (all pairs of them).
pub(crate) const PAIR_SAMPLE: usize = 12;
/// How many pool states the associativity law combines (all triples).
pub(crate) const TRIPLE_SAMPLE: usize = 6;

fn joined<S: Crdt>(a: &S, b: &S) -> S {
    let mut out = a.clone();
    out.join(b);
    out
}

/// `a ⊑ b` in the lattice order: `a ⊔ b == b`.
fn leq<S: Crdt>(a: &S, b: &S) -> bool {
    joined(a, b) == *b
}

/// Plays `history`, then calls `check(a, b, &(a ⊔ b), &sample)` for every
/// ordered pair `(a, b)` (with repetition) of a sample of up to `n` states of
/// the run's pool: the final states first, then others picked with the
/// history's seed. A counterexample is reported with `a`, `b` and `a ⊔ b`.
fn check_pairs<M: Model>(
    history: &History<M::Op>,
    n: usize,
    check: impl Fn(&M::State, &M::State, &M::State, &[M::State]) -> Result<(), String>,
) -> Result<Run<M::State>, String> {
    let run = run::<M>(history);
    let mut sample = run.finals.clone();
    for state in Rng::new(history.seed).sample(&run.pool(), n) {
        if sample.len() >= n {
            break;
        }
        push_distinct(&mut sample, &state);
    }
    for a in &sample {
        for b in &sample {
            let ab = joined(a, b);
            check(a, b, &ab, &sample)
                .map_err(|e| format!("{e}\na = {a:?}\nb = {b:?}\na ⊔ b = {ab:?}"))?;
        }
    }
    Ok(run)
}

/// `a ⊔ b == b ⊔ a`.
pub(crate) fn join_is_commutative<M: Model>(history: &History<M::Op>) -> Result<(), String> {
    check_pairs::<M>(history, PAIR_SAMPLE, |a, b, ab, _| {
        let ba = joined(b, a);
        ensure!(*ab == ba, "a ⊔ b != b ⊔ a, where b ⊔ a = {ba:?}");
        Ok(())
    })
    .map(drop)
}

/// `(a ⊔ b) ⊔ c == a ⊔ (b ⊔ c)`.
pub(crate) fn join_is_associative<M: Model>(history: &History<M::Op>) -> Result<(), String> {
    check_pairs::<M>(history, TRIPLE_SAMPLE, |a, b, ab, sample| {
        for c in sample {
            let (left, right) = (joined(ab, c), joined(a, &joined(b, c)));
            ensure!(
                left == right,
                "(a ⊔ b) ⊔ c != a ⊔ (b ⊔ c)\nc = {c:?}\n(a ⊔ b) ⊔ c = {left:?}\na ⊔ (b ⊔ c) = {right:?}"
            );
        }
        Ok(())
    })
    .map(drop)
}

/// `a ⊔ a == a` for every state and delta of the run, and `(a ⊔ b) ⊔ b ==
/// a ⊔ b` (receiving the same state or delta twice changes nothing).
pub(crate) fn join_is_idempotent<M: Model>(history: &History<M::Op>) -> Result<(), String> {
    let run = check_pairs::<M>(history, PAIR_SAMPLE, |_, b, ab, _| {
        let abb = joined(ab, b);
        ensure!(
            abb == *ab,
            "(a ⊔ b) ⊔ b != a ⊔ b, where (a ⊔ b) ⊔ b = {abb:?}"
        );
        Ok(())
    })?;
    for a in &run.pool() {
        let aa = joined(a, a);
        ensure!(aa == *a, "a ⊔ a != a\na = {a:?}\na ⊔ a = {aa:?}");
    }
    Ok(())
}

/// A join never loses anything: `a ⊑ a ⊔ b` and `b ⊑ a ⊔ b` (joining either
/// again changes nothing), the type's own [`Model::keeps`] holds both ways,
/// and every mutation and every sync of the run is an inflation
/// (`before ⊑ after`).
pub(crate) fn join_is_monotone<M: Model>(history: &History<M::Op>) -> Result<(), String> {
    let run = check_pairs::<M>(history, PAIR_SAMPLE, |a, b, ab, _| {
        ensure!(leq(a, ab), "a is not below a ⊔ b");
        ensure!(leq(b, ab), "b is not below a ⊔ b");
        M::keeps(a, b, ab)?;
        M::keeps(b, a, ab).map_err(|e| format!("{e} (from b's side)"))
    })?;
    for (before, after) in run.steps() {
        ensure!(
            leq(before, after),
            "a step is not an inflation\nbefore = {before:?}\nafter = {after:?}"
        );
    }
    Ok(())
}

/// For every mutation: `prior ⊔ delta == after`.
pub(crate) fn delta_mutator_equivalence<M: Model>(history: &History<M::Op>) -> Result<(), String> {
    let run = run::<M>(history);
    for (n, m) in run.mutations.iter().enumerate() {
        let via_delta = joined(&m.prior, &m.delta);
        ensure!(
            via_delta == m.after,
            "mutation #{n}: prior ⊔ delta != mutated state\nprior = {:?}\ndelta = {:?}\n\
             prior ⊔ delta = {via_delta:?}\nmutated = {:?}",
            m.prior,
            m.delta,
            m.after
        );
    }
    Ok(())
}

/// Checks `a ⊔ b.delta_since(seen) == a ⊔ b`.
fn extracts<S: Crdt>(a: &S, b: &S, seen: &S::Context) -> Result<(), String> {
    let delta = b.delta_since(seen);
    let (via_delta, full) = (joined(a, &delta), joined(a, b));
    ensure!(
        via_delta == full,
        "a ⊔ b.delta_since(seen) != a ⊔ b\na = {a:?}\nb = {b:?}\nseen = {seen:?}\n\
         delta = {delta:?}\na ⊔ delta = {via_delta:?}\na ⊔ b = {full:?}"
    );
    Ok(())
}

/// For every pair of reachable states: `a ⊔ b.delta_since(&a.context()) ==
/// a ⊔ b`. Also with a stale summary, as gossip sends: for every step of a
/// replica from `before` to `a`, and every final state `b`,
/// `a ⊔ b.delta_since(&before.context()) == a ⊔ b`.
pub(crate) fn exact_delta_extraction<M: Model>(history: &History<M::Op>) -> Result<(), String> {
    let run = run::<M>(history);
    for a in &run.reachable {
        for b in &run.reachable {
            extracts(a, b, &a.context())?;
        }
    }
    for (before, a) in run.steps() {
        for b in &run.finals {
            extracts(a, b, &before.context()).map_err(|e| format!("(stale summary) {e}"))?;
        }
    }
    Ok(())
}

/// Gossip answers a context that may be many rounds old: for every replica,
/// every state `a` it reached, every earlier state `old` of the same replica
/// (any number of its steps back, bottom included), and every final state
/// `b`: `a ⊔ b.delta_since(&old.context()) == a ⊔ b`.
pub(crate) fn exact_delta_extraction_from_contexts_many_steps_stale<M: Model>(
    history: &History<M::Op>,
) -> Result<(), String> {
    let run = run::<M>(history);
    for trajectory in &run.trajectories {
        for (now, a) in trajectory.iter().enumerate() {
            for (then, old) in trajectory[..now].iter().enumerate() {
                for b in &run.finals {
                    extracts(a, b, &old.context())
                        .map_err(|e| format!("(context {} steps stale) {e}", now - then))?;
                }
            }
        }
    }
    Ok(())
}

/// The shortcuts gossip takes agree with the definitions, for every pair of
/// reachable states and every mutation's delta: `a.includes(b)` iff
/// `a ⊔ b == a`, and `b.missing_from(a) == b.delta_since(&a.context())`.
pub(crate) fn includes_and_missing_from_agree_with_join<M: Model>(
    history: &History<M::Op>,
) -> Result<(), String> {
    let run = run::<M>(history);
    let deltas = run.mutations.iter().map(|m| &m.delta);
    let others: Vec<&M::State> = run.reachable.iter().chain(deltas).collect();
    for a in &run.reachable {
        for b in &others {
            let absorbs = joined(a, b) == *a;
            ensure!(
                a.includes(b) == absorbs,
                "a.includes(b) = {} but (a ⊔ b == a) = {absorbs}\na = {a:?}\nb = {b:?}",
                a.includes(b)
            );
            let missing = b.missing_from(a);
            let expected = b.delta_since(&a.context());
            ensure!(
                missing == expected,
                "b.missing_from(a) != b.delta_since(a.context())\na = {a:?}\nb = {b:?}\n\
                 missing_from = {missing:?}\ndelta_since = {expected:?}"
            );
        }
    }
    Ok(())
}

/// For every reachable state and every mutation's delta `s`, and `n` from 1
/// to 4: `s.split(n)` has at most `n` pieces, none bottom, each `≤ s`, whose
/// join (in any order) is `s`; and it really splits: at least two pieces
/// when `n ≥ 2` and `s` has two entries or more ([`Model::entries`]). What
/// a receiver of only some pieces keeps is
/// [`any_subset_of_split_pieces_keeps_what_the_whole_keeps`].
pub(crate) fn split_pieces_join_back_to_the_whole<M: Model>(
    history: &History<M::Op>,
) -> Result<(), String> {
    let run = run::<M>(history);
    let deltas = run.mutations.iter().map(|m| &m.delta);
    let all: Vec<&M::State> = run.reachable.iter().chain(deltas).collect();
    for s in &all {
        for n in 1..=4 {
            let pieces = s.split(n);
            ensure!(
                pieces.len() <= n,
                "{} pieces for n = {n}\ns = {s:?}",
                pieces.len()
            );
            let entries = M::entries(s);
            ensure!(
                n < 2 || entries < 2 || pieces.len() >= 2,
                "{} piece(s) for n = {n}, though s has {entries} entries\ns = {s:?}",
                pieces.len()
            );
            let mut forward = M::State::default();
            let mut backward = M::State::default();
            for (piece, back) in pieces.iter().zip(pieces.iter().rev()) {
                ensure!(!piece.is_bottom(), "a bottom piece\ns = {s:?}");
                ensure!(
                    s.includes(piece),
                    "piece not ≤ s\ns = {s:?}\npiece = {piece:?}"
                );
                forward.join(piece);
                backward.join(back);
            }
            ensure!(
                forward == **s && backward == **s,
                "pieces do not join back to s (n = {n})\ns = {s:?}\npieces = {pieces:?}"
            );
        }
    }
    Ok(())
}

/// States and deltas `s` the subset law cuts into pieces.
pub(crate) const SPLIT_SAMPLE: usize = 8;
/// Earlier states `r` each of them is joined into, in part.
pub(crate) const SPLIT_RECEIVERS: usize = 4;
/// Reachable states `q` that answer the partial receiver's context.
pub(crate) const SPLIT_PEERS: usize = 4;

/// A catch-up answer cut into pieces may arrive in part, and the parts that
/// arrive must be safe to join. For a state or delta `s` of the run, a state
/// `r` that a replica had earlier in the history, `n` from 2 to 4, and every
/// non-empty subset of `s.split(n)`, the replica `partial = r ⊔ (the
/// subset)`:
/// - keeps everything of `r` that `full = r ⊔ s` keeps ([`Model::survives`]:
///   no OR-Set element the writer had not removed goes, no LWW map key's
///   value is lost);
/// - has a context that claims only what it holds, so that extraction from
///   it stays exact: `partial ⊔ q.delta_since(&partial.context()) ==
///   partial ⊔ q` for reachable states `q`.
pub(crate) fn any_subset_of_split_pieces_keeps_what_the_whole_keeps<M: Model>(
    history: &History<M::Op>,
) -> Result<(), String> {
    let run = run::<M>(history);
    let mut rng = Rng::new(history.seed);
    // (s, how many steps of the history had passed when it existed)
    let mut cut: Vec<(M::State, usize)> = Vec::new();
    for m in &run.mutations {
        cut.push((m.delta.clone(), m.at));
    }
    for (t, state) in run.timeline.iter().enumerate() {
        if !cut.iter().any(|(s, _)| s == state) {
            cut.push((state.clone(), t));
        }
    }
    let cut = rng.sample(&cut, SPLIT_SAMPLE);
    let peers = rng.sample(&run.reachable, SPLIT_PEERS);
    for (s, t) in &cut {
        if *t == 0 {
            continue;
        }
        let mut receivers = rng.sample(&run.timeline[..*t], SPLIT_RECEIVERS);
        receivers.push(run.timeline[*t - 1].clone());
        for r in &receivers {
            let full = joined(r, s);
            for n in 2..=4 {
                let pieces = s.split(n);
                for mask in 1..(1u32 << pieces.len()) {
                    let mut partial = r.clone();
                    for (k, piece) in pieces.iter().enumerate() {
                        if mask & (1 << k) != 0 {
                            partial.join(piece);
                        }
                    }
                    let context = format!(
                        "joining pieces {mask:#b} of s.split({n}) into r\nr = {r:?}\ns = {s:?}\n\
                         pieces = {pieces:?}\nr ⊔ pieces = {partial:?}\nr ⊔ s = {full:?}"
                    );
                    M::survives(r, &full, &partial).map_err(|e| format!("{e}\n{context}"))?;
                    for q in &peers {
                        extracts(&partial, q, &partial.context())
                            .map_err(|e| format!("from the partial receiver: {e}\n{context}"))?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Fresh replicas the delivery laws deliver to.
pub(crate) const FRESH_REPLICAS: usize = 3;
/// Random subsets of the deltas delivered by
/// [`same_deltas_in_any_order_reach_the_same_state`].
pub(crate) const SUBSETS: usize = 4;

/// `FRESH_REPLICAS` fresh replicas each receive the deltas of `chosen`
/// mutations in their own random order, with up to [`MAX_COPIES`] copies
/// of each; returns their states and delivery orders.
fn deliver<S: Crdt>(run: &Run<S>, chosen: &[usize], rng: &mut Rng) -> Vec<(S, Vec<usize>)> {
    (0..FRESH_REPLICAS)
        .map(|_| {
            let mut network: Vec<usize> = Vec::new();
            for &n in chosen {
                let copies = 1 + rng.next_u64() % MAX_COPIES;
                network.extend((0..copies).map(|_| n));
            }
            rng.shuffle(&mut network);
            let mut fresh = S::default();
            for &n in &network {
                fresh.join(&run.mutations[n].delta);
            }
            (fresh, network)
        })
        .collect()
}

/// Every delta of every mutation, delivered to fresh replicas each in its
/// own random order with random duplicates, brings them all to the same
/// state: the join of the run's final states.
pub(crate) fn strong_eventual_consistency<M: Model>(
    history: &History<M::Op>,
) -> Result<(), String> {
    let run = run::<M>(history);
    let expected = run
        .finals
        .iter()
        .fold(M::State::default(), |acc, s| joined(&acc, s));
    let all: Vec<usize> = (0..run.mutations.len()).collect();
    for (replica, (fresh, order)) in deliver(&run, &all, &mut Rng::new(history.seed))
        .into_iter()
        .enumerate()
    {
        ensure!(
            fresh == expected,
            "fresh replica {replica} after delivery order {order:?} != join of final states\n\
             fresh = {fresh:?}\nexpected = {expected:?}"
        );
    }
    Ok(())
}

/// Replicas that received the same deltas agree, whatever the order: for
/// [`SUBSETS`] random subsets of the mutations' deltas, fresh replicas that
/// each receive the subset in their own random order, with duplicates, all
/// hold the join of the subset taken in write order.
pub(crate) fn same_deltas_in_any_order_reach_the_same_state<M: Model>(
    history: &History<M::Op>,
) -> Result<(), String> {
    let run = run::<M>(history);
    let mut rng = Rng::new(history.seed ^ 0x5EED);
    for _ in 0..SUBSETS {
        let chosen: Vec<usize> = (0..run.mutations.len())
            .filter(|_| rng.below(2) == 0)
            .collect();
        let expected = chosen.iter().fold(M::State::default(), |acc, &n| {
            joined(&acc, &run.mutations[n].delta)
        });
        for (replica, (fresh, order)) in deliver(&run, &chosen, &mut rng).into_iter().enumerate() {
            ensure!(
                fresh == expected,
                "fresh replica {replica} got deltas {chosen:?} in order {order:?}, and differs \
                 from their join in write order\nfresh = {fresh:?}\nexpected = {expected:?}"
            );
        }
    }
    Ok(())
}

/// Replicas converge by anti-entropy alone, as gossip runs it. As many fresh
/// replicas as the history has each receive a random part of the mutations'
/// deltas (every delta reaches at least one). Then every ordered pair
/// `(from, to)` exchanges once, in random order: `from` answers `to`'s
/// context of that moment with `from.delta_since(&context)`, and the answer
/// arrives later, after other answers (its context stale by then), some
/// twice. Every replica ends as the join of the run's final states.
pub(crate) fn anti_entropy_by_delta_since_answers_converges<M: Model>(
    history: &History<M::Op>,
) -> Result<(), String> {
    let run = run::<M>(history);
    let expected = run
        .finals
        .iter()
        .fold(M::State::default(), |acc, s| joined(&acc, s));
    let mut rng = Rng::new(history.seed ^ 0xA11CE);
    let k = run.finals.len();
    let mut replicas = vec![M::State::default(); k];
    let mut order: Vec<usize> = (0..run.mutations.len()).collect();
    rng.shuffle(&mut order);
    for n in order {
        let first = rng.below(k);
        for (i, replica) in replicas.iter_mut().enumerate() {
            if i == first || rng.below(3) == 0 {
                replica.join(&run.mutations[n].delta);
            }
        }
    }
    let mut exchanges: Vec<(usize, usize)> = (0..k)
        .flat_map(|from| {
            (0..k)
                .filter(move |&to| to != from)
                .map(move |to| (from, to))
        })
        .collect();
    rng.shuffle(&mut exchanges);
    let mut asked = exchanges.into_iter();
    let mut in_flight: Vec<(usize, usize, M::State)> = Vec::new();
    let mut log = Vec::new();
    // Each turn sends one answer or delivers one: at most 2 × k² turns.
    loop {
        let deliver_now = !in_flight.is_empty() && rng.below(2) == 0;
        if !deliver_now {
            if let Some((from, to)) = asked.next() {
                let answer = replicas[from].delta_since(&replicas[to].context());
                in_flight.push((from, to, answer));
                continue;
            }
        }
        if in_flight.is_empty() {
            break;
        }
        let (from, to, answer) = in_flight.swap_remove(rng.below(in_flight.len()));
        replicas[to].join(&answer);
        if rng.below(4) == 0 {
            replicas[to].join(&answer);
        }
        log.push((from, to));
    }
    for (i, replica) in replicas.iter().enumerate() {
        ensure!(
            *replica == expected,
            "replica {i} of {k} after the exchanges {log:?} (from, to) != join of final states\n\
             replica = {replica:?}\nexpected = {expected:?}"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The models

/// An operation on a [`GCounter`].
#[derive(Clone, Debug)]
pub(crate) enum GCounterOp {
    /// `increment(replica, amount)`.
    Increment(u64),
}

/// An operation on a [`PnCounter`].
#[derive(Clone, Debug)]
pub(crate) enum PnCounterOp {
    /// `increment(replica, amount)`.
    Increment(u64),
    /// `decrement(replica, amount)`.
    Decrement(u64),
}

/// An operation on an [`LwwRegister<u8>`], at a wall time of the writer.
#[derive(Clone, Debug)]
pub(crate) enum LwwRegisterOp {
    /// `set(value, clock.now(wall_ms))`.
    Set {
        /// The value written.
        value: u8,
        /// The writer's wall clock.
        wall_ms: u64,
    },
}

/// An operation on an [`LwwMap<u8, u8>`], at a wall time of the writer.
#[derive(Clone, Debug)]
pub(crate) enum LwwMapOp {
    /// `insert(key, value, clock.now(wall_ms))`.
    Insert {
        /// The key.
        key: u8,
        /// The value.
        value: u8,
        /// The writer's wall clock.
        wall_ms: u64,
    },
    /// `remove(&key, clock.now(wall_ms))`.
    Remove {
        /// The key.
        key: u8,
        /// The writer's wall clock.
        wall_ms: u64,
    },
}

/// An operation on an [`OrSet<u8>`].
#[derive(Clone, Debug)]
pub(crate) enum OrSetOp {
    /// `insert(replica, element)`.
    Insert(u8),
    /// `remove(&element)`, whether the replica holds it or not.
    Remove(u8),
    /// `remove` of the `n`-th element (modulo their number) the replica
    /// holds, so that removals mostly remove something; element `n` when it
    /// holds none.
    RemoveHeld(u8),
    /// `clear()`.
    Clear,
}

/// [`GCounter`].
pub(crate) struct GCounterModel;
/// [`PnCounter`].
pub(crate) struct PnCounterModel;
/// [`LwwRegister<u8>`].
pub(crate) struct LwwRegisterModel;
/// [`LwwMap<u8, u8>`].
pub(crate) struct LwwMapModel;
/// [`OrSet<u8>`].
pub(crate) struct OrSetModel;

/// An operation on an [`MvRegister<u8>`].
#[derive(Clone, Debug)]
pub(crate) enum MvRegisterOp {
    /// `set(replica, value)`.
    Set(u8),
    /// `clear()`.
    Clear,
}

/// [`MvRegister<u8>`].
pub(crate) struct MvRegisterModel;

impl Model for MvRegisterModel {
    type State = MvRegister<u8>;
    type Op = MvRegisterOp;

    fn mutate(register: &mut Self::State, op: &MvRegisterOp, writer: &mut Writer) -> Self::State {
        match *op {
            MvRegisterOp::Set(value) => register.set(writer.id, value),
            MvRegisterOp::Clear => register.clear(),
        }
    }

    /// Every write of `a` that `b` has not seen survives (`b` cannot have
    /// replaced what it never saw); every write of the join is in `a` or
    /// `b`; the context only grows.
    fn keeps(a: &Self::State, b: &Self::State, joined: &Self::State) -> Result<(), String> {
        let b_context = b.context();
        let held: Vec<_> = joined.entries().map(|(d, v)| (d, *v)).collect();
        for (dot, value) in a.entries() {
            if !b_context.contains(&dot) {
                ensure!(
                    held.contains(&(dot, *value)),
                    "write {dot:?} = {value}, unseen by the other side, was lost"
                );
            }
        }
        for (dot, value) in &held {
            let from_a = a.entries().any(|(d, v)| d == *dot && v == value);
            let from_b = b.entries().any(|(d, v)| d == *dot && v == value);
            ensure!(
                from_a || from_b,
                "write {dot:?} = {value} came from nowhere"
            );
        }
        ensure!(
            a.context().is_subset(&joined.context()),
            "the causal context shrank"
        );
        Ok(())
    }

    /// A write of `r` that `r ⊔ s` keeps is kept by the partial join.
    fn survives(r: &Self::State, full: &Self::State, partial: &Self::State) -> Result<(), String> {
        for (dot, value) in r.entries() {
            let kept = full.entries().any(|(d, _)| d == dot);
            let stays = partial.entries().any(|(d, v)| d == dot && v == value);
            ensure!(
                !kept || stays,
                "write {dot:?} = {value} of r, which r ⊔ s keeps, was dropped"
            );
        }
        Ok(())
    }

    fn entries(register: &Self::State) -> usize {
        register.len()
    }
}

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

/// Per-replica entries never shrink, so neither does the value.
/// A register or LWW map entry of `r` that the whole join kept (same
/// timestamp) is kept by the partial join, with its value.
fn lww_survives<V: PartialEq + Debug>(
    what: &str,
    r: (Option<HlcTimestamp>, Option<V>),
    full: (Option<HlcTimestamp>, Option<V>),
    partial: (Option<HlcTimestamp>, Option<V>),
) -> Result<(), String> {
    if r.0.is_some() && full.0 == r.0 {
        ensure!(
            partial == r,
            "{what}: r's write {r:?}, which r ⊔ s keeps, became {partial:?}"
        );
    }
    Ok(())
}

fn counter_keeps(a: &GCounter, joined: &GCounter) -> Result<(), String> {
    for (replica, n) in a.entries() {
        ensure!(
            joined.get(replica) >= n,
            "the entry of {replica:?} went down"
        );
    }
    ensure!(joined.value() >= a.value(), "the value went down");
    Ok(())
}

impl Model for GCounterModel {
    type State = GCounter;
    type Op = GCounterOp;

    fn mutate(counter: &mut GCounter, op: &GCounterOp, writer: &mut Writer) -> GCounter {
        let GCounterOp::Increment(amount) = *op;
        counter.increment(writer.id, amount)
    }

    fn keeps(a: &GCounter, _: &GCounter, joined: &GCounter) -> Result<(), String> {
        counter_keeps(a, joined)
    }

    fn survives(r: &GCounter, _: &GCounter, partial: &GCounter) -> Result<(), String> {
        counter_keeps(r, partial)
    }

    fn entries(counter: &GCounter) -> usize {
        counter.entries().count()
    }
}

impl Model for PnCounterModel {
    type State = PnCounter;
    type Op = PnCounterOp;

    fn mutate(counter: &mut PnCounter, op: &PnCounterOp, writer: &mut Writer) -> PnCounter {
        match *op {
            PnCounterOp::Increment(amount) => counter.increment(writer.id, amount),
            PnCounterOp::Decrement(amount) => counter.decrement(writer.id, amount),
        }
    }

    fn keeps(a: &PnCounter, _: &PnCounter, joined: &PnCounter) -> Result<(), String> {
        counter_keeps(a.increments(), joined.increments())
            .map_err(|e| format!("increments: {e}"))?;
        counter_keeps(a.decrements(), joined.decrements()).map_err(|e| format!("decrements: {e}"))
    }

    fn survives(r: &PnCounter, full: &PnCounter, partial: &PnCounter) -> Result<(), String> {
        Self::keeps(r, full, partial)
    }

    fn entries(counter: &PnCounter) -> usize {
        counter.increments().entries().count() + counter.decrements().entries().count()
    }
}

/// Lets `clock` observe `remote` at the clock's own latest wall time.
fn observe_timestamp(clock: &mut Hlc, remote: Option<HlcTimestamp>) {
    if let Some(remote) = remote {
        let wall_ms = clock.last().wall_ms;
        clock
            .observe(remote, wall_ms)
            .expect("history wall times stay within the drift bound");
    }
}

/// The newer write (by timestamp) is the one kept, with its value.
fn lww_keeps<V: PartialEq + Debug>(
    what: &str,
    a: (Option<HlcTimestamp>, Option<V>),
    b: (Option<HlcTimestamp>, Option<V>),
    joined: (Option<HlcTimestamp>, Option<V>),
) -> Result<(), String> {
    ensure!(
        joined.0 >= a.0,
        "{what}: an older write replaced a newer one"
    );
    ensure!(
        joined.0 == a.0.max(b.0),
        "{what}: the join kept a write neither side had"
    );
    if joined.0 == a.0 {
        ensure!(joined.1 == a.1, "{what}: same timestamp, different value");
    }
    Ok(())
}

impl Model for LwwRegisterModel {
    type State = LwwRegister<u8>;
    type Op = LwwRegisterOp;

    fn mutate(register: &mut Self::State, op: &LwwRegisterOp, writer: &mut Writer) -> Self::State {
        let LwwRegisterOp::Set { value, wall_ms } = *op;
        register.set(value, writer.now(wall_ms)).unwrap_or_default()
    }

    fn observe(clock: &mut Hlc, received: &Self::State) {
        observe_timestamp(clock, received.timestamp());
    }

    fn keeps(a: &Self::State, b: &Self::State, joined: &Self::State) -> Result<(), String> {
        let write = |s: &Self::State| (s.timestamp(), s.get().copied());
        lww_keeps("register", write(a), write(b), write(joined))
    }

    fn survives(r: &Self::State, full: &Self::State, partial: &Self::State) -> Result<(), String> {
        let write = |s: &Self::State| (s.timestamp(), s.get().copied());
        lww_survives("register", write(r), write(full), write(partial))
    }

    fn entries(register: &Self::State) -> usize {
        usize::from(register.timestamp().is_some())
    }
}

impl Model for LwwMapModel {
    type State = LwwMap<u8, u8>;
    type Op = LwwMapOp;

    fn mutate(map: &mut Self::State, op: &LwwMapOp, writer: &mut Writer) -> Self::State {
        match *op {
            LwwMapOp::Insert {
                key,
                value,
                wall_ms,
            } => map
                .insert(key, value, writer.now(wall_ms))
                .unwrap_or_default(),
            LwwMapOp::Remove { key, wall_ms } => {
                map.remove(&key, writer.now(wall_ms)).unwrap_or_default()
            }
        }
    }

    fn observe(clock: &mut Hlc, received: &Self::State) {
        observe_timestamp(
            clock,
            (0..KEYS).filter_map(|k| received.timestamp(&k)).max(),
        );
    }

    fn keeps(a: &Self::State, b: &Self::State, joined: &Self::State) -> Result<(), String> {
        for key in 0..KEYS {
            let write = |s: &Self::State| (s.timestamp(&key), s.get(&key).copied());
            lww_keeps(&format!("key {key}"), write(a), write(b), write(joined))?;
        }
        // The context is the dots of the writes held, so an overwritten
        // write's dot leaves it: what must not shrink is each key's write,
        // checked above, and the dot counters a writer continues from.
        for replica in a.context().replicas() {
            ensure!(
                joined.context().max(replica) >= a.context().max(replica)
                    || (0..KEYS).any(|k| joined.timestamp(&k) > a.timestamp(&k)),
                "the writes of {replica:?} went back"
            );
        }
        Ok(())
    }

    fn survives(r: &Self::State, full: &Self::State, partial: &Self::State) -> Result<(), String> {
        for key in 0..KEYS {
            let write = |s: &Self::State| (s.timestamp(&key), s.get(&key).copied());
            lww_survives(&format!("key {key}"), write(r), write(full), write(partial))?;
        }
        Ok(())
    }

    fn entries(map: &Self::State) -> usize {
        (0..KEYS).filter(|k| map.timestamp(k).is_some()).count()
    }
}

impl Model for OrSetModel {
    type State = OrSet<u8>;
    type Op = OrSetOp;

    fn mutate(set: &mut Self::State, op: &OrSetOp, writer: &mut Writer) -> Self::State {
        match *op {
            OrSetOp::Insert(element) => set.insert(writer.id, element),
            OrSetOp::Remove(element) => set.remove(&element),
            OrSetOp::RemoveHeld(n) => {
                let held = set.len();
                let element = match held {
                    0 => n,
                    _ => set.iter().nth(usize::from(n) % held).copied().unwrap_or(n),
                };
                set.remove(&element)
            }
            OrSetOp::Clear => set.clear(),
        }
    }

    /// Every element of `a` with a dot `b` has not seen survives (`b` cannot
    /// have removed what it never saw); every element of the join is in `a`
    /// or `b`; the context only grows. The elements of `a` with dots unseen
    /// by `b` are the entries of `a.delta_since(&b.context())`, whose
    /// exactness `exact_delta_extraction` checks on its own.
    fn keeps(a: &Self::State, b: &Self::State, joined: &Self::State) -> Result<(), String> {
        let unseen_by_b = a.delta_since(&b.context());
        for element in unseen_by_b.iter() {
            ensure!(
                joined.contains(element),
                "element {element} has a dot the other side never saw, but was lost"
            );
        }
        for element in joined.iter() {
            ensure!(
                a.contains(element) || b.contains(element),
                "element {element} came from nowhere"
            );
        }
        ensure!(
            a.context().is_subset(&joined.context()),
            "the causal context shrank"
        );
        Ok(())
    }

    /// An element of `r` must stay if `r ⊔ s` keeps one of `r`'s dots of it,
    /// or holds it by a re-add that `r` lacks (a re-add replaced `r`'s dots
    /// in the same delta: no replica ever saw the element gone). It may go
    /// for a while when `s` removed `r`'s dots of it and holds it only by
    /// another add: a piece with the removal and not the add is then what a
    /// replica holds that got the removal's delta first.
    fn survives(r: &Self::State, full: &Self::State, partial: &Self::State) -> Result<(), String> {
        for element in r.iter() {
            let kept = full.dots(element);
            let mine = r.dots(element);
            let must_stay = mine.iter().any(|d| kept.contains(d))
                || kept.iter().any(|d| full.is_readd(d) && !mine.contains(d));
            ensure!(
                !must_stay || partial.contains(element),
                "element {element} of r, which r ⊔ s keeps, was removed"
            );
        }
        Ok(())
    }

    /// A split keeps every re-added element in one piece (with the dots the
    /// re-adds replaced): the other elements count one each.
    fn entries(set: &Self::State) -> usize {
        let readded = |e: &&u8| set.dots(e).iter().any(|d| set.is_readd(d));
        let plain = set.iter().filter(|e| !readded(e)).count();
        plain + usize::from(set.iter().any(|e| readded(&e)))
    }
}

/// An operation on an [`OrMap<u8, Swarm>`]: a map whose values hold every
/// kind of nested CRDT (an LWW map, an OR-Set, two counters).
#[derive(Clone, Debug)]
pub(crate) enum OrMapOp {
    /// `update(replica, key, |value| op on one field of the value)`.
    Update(u8, SwarmOp),
    /// `remove(&key)`, whether the replica holds it or not.
    Remove(u8),
    /// `remove` of the `n`-th key (modulo their number) the replica holds,
    /// so that removals mostly remove something; key `n` when it holds none.
    RemoveHeld(u8),
}

/// [`OrMap<u8, Swarm>`].
pub(crate) struct OrMapModel;

impl Model for OrMapModel {
    type State = OrMap<u8, Swarm>;
    type Op = OrMapOp;

    fn mutate(map: &mut Self::State, op: &OrMapOp, writer: &mut Writer) -> Self::State {
        match op {
            OrMapOp::Update(key, op) => {
                let id = writer.id;
                map.update(id, *key, |value| SwarmModel::mutate(value, op, writer))
            }
            OrMapOp::Remove(key) => map.remove(key),
            OrMapOp::RemoveHeld(n) => {
                let held = map.len();
                let key = match held {
                    0 => *n,
                    _ => map
                        .keys()
                        .nth(usize::from(*n) % held)
                        .copied()
                        .unwrap_or(*n),
                };
                map.remove(&key)
            }
        }
    }

    fn observe(clock: &mut Hlc, received: &Self::State) {
        observe_timestamp(clock, received.latest_timestamp());
    }

    /// Every fragment of `a` whose tag `b` has not seen survives, with its
    /// content (`b` cannot have removed what it never saw); every key of the
    /// join is in `a` or `b`, every value of the join includes the values of
    /// both sides' fragments it keeps; the context only grows.
    fn keeps(a: &Self::State, b: &Self::State, joined: &Self::State) -> Result<(), String> {
        let unseen_by_b = a.delta_since(&b.context());
        for (key, fragments) in unseen_by_b.iter() {
            let tags: Vec<_> = unseen_by_b.dots(key).collect();
            let kept: Vec<_> = joined.dots(key).collect();
            ensure!(
                tags.iter().all(|t| kept.contains(t)),
                "key {key}: fragments {tags:?}, unseen by the other side, were lost"
            );
            let value = joined.get(key).unwrap_or_default();
            ensure!(
                value.includes(&fragments),
                "key {key}: the joined value lost content of fragments {tags:?}"
            );
        }
        for key in joined.keys() {
            ensure!(
                a.contains_key(key) || b.contains_key(key),
                "key {key} came from nowhere"
            );
        }
        ensure!(
            a.context().is_subset(&joined.context()),
            "the causal context shrank"
        );
        Ok(())
    }

    /// A key of `r` must stay, with each of its fragments `r ⊔ s` keeps, if
    /// `r ⊔ s` keeps one of `r`'s fragments of it or holds it by a replacing
    /// update that `r` lacks (which replaced `r`'s fragments in the same
    /// delta, so no replica saw the key without it).
    fn survives(r: &Self::State, full: &Self::State, partial: &Self::State) -> Result<(), String> {
        for key in r.keys() {
            let kept: Vec<_> = full.dots(key).collect();
            let mine: Vec<_> = r.dots(key).collect();
            let stays: Vec<_> = partial.dots(key).collect();
            for tag in mine.iter().filter(|t| kept.contains(t)) {
                ensure!(
                    stays.contains(tag),
                    "key {key}: fragment {tag:?} of r, which r ⊔ s keeps, was removed"
                );
            }
            let replaced = kept
                .iter()
                .any(|t| full.is_replacing(t) && !mine.contains(t));
            ensure!(
                !replaced || partial.contains_key(key),
                "key {key} of r, which r ⊔ s holds by a replacing update, was removed"
            );
        }
        Ok(())
    }

    /// A split keeps every replacing fragment in one piece (with the tags
    /// they replaced): the other fragments count one each.
    fn entries(map: &Self::State) -> usize {
        let tags: Vec<_> = map.keys().flat_map(|k| map.dots(k)).collect();
        let plain = tags.iter().filter(|t| !map.is_replacing(t)).count();
        plain + usize::from(tags.iter().any(|t| map.is_replacing(t)))
    }
}
