//! The merge laws, checked on an arbitrary history of mutations and syncs on
//! 2 to 6 replicas ([`MIN_REPLICAS`]`..=`[`MAX_REPLICAS`]).
//!
//! This is the fuzzing twin of the property tests' model (`tests/common`):
//! the same steps and the same laws, but the history and the states the laws
//! combine are read from the fuzzer's bytes, and a broken law panics with
//! the states that broke it.

use core::fmt::Debug;

use arbitrary::{Arbitrary, Unstructured};
use rumor_crdt::{Crdt, Hlc, HlcTimestamp, ReplicaId};

/// The fewest replicas in a history.
const MIN_REPLICAS: usize = 2;
/// The most replicas in a history.
const MAX_REPLICAS: usize = 6;
/// Steps played at most; the rest of a longer history is ignored.
const MAX_STEPS: usize = 64;
/// States the pair laws combine (every ordered pair of them). Few, because
/// every execution pays for them: the fuzzer's picks make up for the rest.
const PAIR_SAMPLE: usize = 6;
/// States the associativity law combines (every triple of them).
const TRIPLE_SAMPLE: usize = 4;
/// Wall times passed to the replicas' clocks are `WALL_BASE_MS` plus a
/// 16-bit offset: clocks jump forward and back, and overlap between replicas.
const WALL_BASE_MS: u64 = 1_700_000_000_000;

/// The replica making a mutation.
#[derive(Clone, Debug)]
pub(crate) struct Writer {
    /// Its id.
    pub(crate) id: ReplicaId,
    /// Its hybrid logical clock (used by the LWW types only).
    pub(crate) clock: Hlc,
}

impl Writer {
    /// A fresh timestamp for a write at wall time `WALL_BASE_MS + offset_ms`.
    pub(crate) fn now(&mut self, offset_ms: u16) -> HlcTimestamp {
        self.clock.now(WALL_BASE_MS + u64::from(offset_ms))
    }
}

/// How a type is exercised by histories.
pub(crate) trait Model {
    /// The type under test.
    type State: Crdt;
    /// One mutation of it, read from the fuzzer's bytes.
    type Op: for<'a> Arbitrary<'a> + Debug;
    /// Applies `op` on behalf of `writer` and returns the delta.
    fn mutate(state: &mut Self::State, op: &Self::Op, writer: &mut Writer) -> Self::State;
    /// The newest timestamp in a state (LWW types): a replica's clock may
    /// observe what it receives.
    fn newest(_received: &Self::State) -> Option<HlcTimestamp> {
        None
    }
    /// How many entries of a state [`Crdt::split`] can put into different
    /// pieces (a counter's replicas, a map's keys, a set's elements; a
    /// register's value is one).
    fn entries(state: &Self::State) -> usize;
    /// Whether `partial = r ⊔ (some pieces of s's split)` kept what it
    /// must of `r`, where `full = r ⊔ s`: `None` if so, else what it lost.
    fn lost(_r: &Self::State, _full: &Self::State, _partial: &Self::State) -> Option<String> {
        None
    }
}

/// One step of a history.
#[derive(Arbitrary, Debug)]
enum Step<O> {
    /// Replica `replica` (modulo the history's replicas) applies `op`.
    Mutate { replica: u8, op: O },
    /// Replica `to` receives replica `from`'s state, or only
    /// `from.delta_since(&to.context())`; its clock may observe the newest
    /// timestamp received.
    Sync {
        to: u8,
        from: u8,
        via_delta: bool,
        observe_clock: bool,
    },
}

/// A history, and the fuzzer's picks of what the laws combine afterwards.
#[derive(Arbitrary, Debug)]
struct History<O> {
    /// `MIN_REPLICAS + replicas % 5` replicas.
    replicas: u8,
    steps: Vec<Step<O>>,
    /// Indices (modulo the pool's size) of states the pair and triple laws
    /// combine, after the final states.
    picks: Vec<u8>,
    /// The order in which a fresh replica receives the mutations' deltas
    /// (indices modulo their number; every delta is delivered at the end).
    /// Also which deltas the replicas of the other delivery laws get, and
    /// in which order they exchange.
    deliveries: Vec<u8>,
}

/// One mutation of a run: the state before, the delta, the state after.
struct Mutation<S> {
    prior: S,
    delta: S,
    after: S,
}

/// What playing a history produced.
struct Run<S> {
    finals: Vec<S>,
    mutations: Vec<Mutation<S>>,
    /// Every step of a replica, mutation or sync, as (before, after).
    steps: Vec<(S, S)>,
    /// Every state a replica was in, bottom included (with repeats).
    reachable: Vec<S>,
    /// Each replica's states in order, from bottom.
    trajectories: Vec<Vec<S>>,
}

fn push_distinct<S: PartialEq + Clone>(states: &mut Vec<S>, state: &S) {
    if !states.contains(state) {
        states.push(state.clone());
    }
}

fn joined<S: Crdt>(a: &S, b: &S) -> S {
    let mut out = a.clone();
    out.join(b);
    out
}

/// `a ⊑ b` in the lattice order: `a ⊔ b == b`.
fn leq<S: Crdt>(a: &S, b: &S) -> bool {
    joined(a, b) == *b
}

fn replica_id(index: usize) -> ReplicaId {
    ReplicaId::from_u128(index as u128 + 1)
}

fn play<M: Model>(replicas: usize, steps: &[Step<M::Op>]) -> Run<M::State> {
    let mut states = vec![M::State::default(); replicas];
    let mut writers: Vec<Writer> = (0..replicas)
        .map(|i| Writer {
            id: replica_id(i),
            clock: Hlc::new(replica_id(i)),
        })
        .collect();
    let mut run = Run {
        finals: Vec::new(),
        mutations: Vec::new(),
        steps: Vec::new(),
        reachable: vec![M::State::default()],
        trajectories: vec![vec![M::State::default()]; replicas],
    };
    for step in steps.iter().take(MAX_STEPS) {
        let changed = match *step {
            Step::Mutate { replica, ref op } => {
                let i = usize::from(replica) % replicas;
                let prior = states[i].clone();
                let delta = M::mutate(&mut states[i], op, &mut writers[i]);
                let after = states[i].clone();
                run.steps.push((prior.clone(), after.clone()));
                run.mutations.push(Mutation {
                    prior,
                    delta,
                    after,
                });
                i
            }
            Step::Sync {
                to,
                from,
                via_delta,
                observe_clock,
            } => {
                let (to, from) = (usize::from(to) % replicas, usize::from(from) % replicas);
                let prior = states[to].clone();
                let received = if via_delta {
                    states[from].delta_since(&prior.context())
                } else {
                    states[from].clone()
                };
                if let (true, Some(remote)) = (observe_clock, M::newest(&received)) {
                    let clock = &mut writers[to].clock;
                    // Too far ahead is refused and leaves the clock as it was.
                    let _ = clock.observe(remote, clock.last().wall_ms);
                }
                states[to].join(&received);
                run.steps.push((prior, states[to].clone()));
                to
            }
        };
        run.reachable.push(states[changed].clone());
        run.trajectories[changed].push(states[changed].clone());
    }
    run.finals = states;
    run
}

/// The final states, then the picked members of `pool`, distinct, at most `n`.
fn sample<S: Crdt>(finals: &[S], pool: &[S], picks: &[u8], n: usize) -> Vec<S> {
    let mut out = Vec::new();
    for state in finals {
        push_distinct(&mut out, state);
    }
    for &pick in picks {
        if out.len() >= n {
            break;
        }
        push_distinct(&mut out, &pool[usize::from(pick) % pool.len()]);
    }
    out.truncate(n);
    out
}

/// Reads a history of `M`'s ops from `data`, plays it, and checks every law;
/// panics on the first broken one.
pub(crate) fn check<M: Model>(data: &[u8]) {
    let Ok(history) = History::<M::Op>::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let replicas = MIN_REPLICAS + usize::from(history.replicas) % (MAX_REPLICAS - MIN_REPLICAS + 1);
    let run = play::<M>(replicas, &history.steps);
    delta_mutator_equivalence(&run);
    let deltas = run.mutations.iter().map(|m| m.delta.clone());
    let pool: Vec<_> = run.reachable.iter().cloned().chain(deltas).collect();
    let states = sample(&run.finals, &pool, &history.picks, PAIR_SAMPLE);
    join_laws(&states);
    join_is_associative(&states[..states.len().min(TRIPLE_SAMPLE)]);
    let reached = sample(&run.finals, &run.reachable, &history.picks, PAIR_SAMPLE);
    exact_delta_extraction(&run, &reached);
    includes_and_missing_from_agree_with_join(&run, &reached);
    strong_eventual_consistency(&run, &history.deliveries);
    same_deltas_in_any_order_reach_the_same_state(&run, &history.deliveries);
    anti_entropy_by_delta_since_answers_converges(&run, &history.deliveries);
    split_pieces_join_back_to_the_whole::<M>(&states);
    any_subset_of_split_pieces_keeps_what_the_whole_keeps::<M>(&states, &reached);
}

/// For every mutation: `prior ⊔ delta == after`.
fn delta_mutator_equivalence<S: Crdt>(run: &Run<S>) {
    for (n, m) in run.mutations.iter().enumerate() {
        let via_delta = joined(&m.prior, &m.delta);
        assert!(
            via_delta == m.after,
            "delta-mutator equivalence: mutation #{n}: prior ⊔ delta != mutated state\n\
             prior = {:?}\ndelta = {:?}\nprior ⊔ delta = {via_delta:?}\nmutated = {:?}",
            m.prior,
            m.delta,
            m.after
        );
    }
}

/// Commutativity, idempotence and monotonicity, over every ordered pair.
fn join_laws<S: Crdt>(states: &[S]) {
    for a in states {
        let aa = joined(a, a);
        assert!(
            aa == *a,
            "idempotence: a ⊔ a != a\na = {a:?}\na ⊔ a = {aa:?}"
        );
        for b in states {
            let (ab, ba) = (joined(a, b), joined(b, a));
            assert!(
                ab == ba,
                "commutativity: a ⊔ b != b ⊔ a\na = {a:?}\nb = {b:?}\na ⊔ b = {ab:?}\nb ⊔ a = {ba:?}"
            );
            let abb = joined(&ab, b);
            assert!(
                abb == ab,
                "idempotence: (a ⊔ b) ⊔ b != a ⊔ b\na = {a:?}\nb = {b:?}\na ⊔ b = {ab:?}\n\
                 (a ⊔ b) ⊔ b = {abb:?}"
            );
            assert!(
                leq(a, &ab),
                "monotonicity: a is not below a ⊔ b\na = {a:?}\nb = {b:?}\na ⊔ b = {ab:?}"
            );
        }
    }
}

/// `(a ⊔ b) ⊔ c == a ⊔ (b ⊔ c)` over every triple.
fn join_is_associative<S: Crdt>(states: &[S]) {
    for a in states {
        for b in states {
            let ab = joined(a, b);
            for c in states {
                let (left, right) = (joined(&ab, c), joined(a, &joined(b, c)));
                assert!(
                    left == right,
                    "associativity: (a ⊔ b) ⊔ c != a ⊔ (b ⊔ c)\na = {a:?}\nb = {b:?}\nc = {c:?}\n\
                     (a ⊔ b) ⊔ c = {left:?}\na ⊔ (b ⊔ c) = {right:?}"
                );
            }
        }
    }
}

/// `a ⊔ b.delta_since(seen) == a ⊔ b`, where `seen` is a context `a` had.
fn extracts<S: Crdt>(a: &S, b: &S, seen: &S::Context, what: &str) {
    let delta = b.delta_since(seen);
    let (via_delta, full) = (joined(a, &delta), joined(a, b));
    assert!(
        via_delta == full,
        "exact extraction ({what}): a ⊔ b.delta_since(seen) != a ⊔ b\na = {a:?}\nb = {b:?}\n\
         seen = {seen:?}\ndelta = {delta:?}\na ⊔ delta = {via_delta:?}\na ⊔ b = {full:?}"
    );
}

/// For reachable `a` and `b`: `a ⊔ b.delta_since(&a.context()) == a ⊔ b`;
/// and with a stale context, as gossip sends it: for every step of a replica
/// from `before` to `a`, and a final `b` (each in turn),
/// `a ⊔ b.delta_since(&before.context()) == a ⊔ b`; and with contexts many
/// steps stale: for every state `a` of a replica, its states 2, 4, 8, ...
/// steps back, and a final `b` (each in turn).
fn exact_delta_extraction<S: Crdt>(run: &Run<S>, reached: &[S]) {
    for a in reached {
        for b in reached {
            extracts(a, b, &a.context(), "own context");
        }
    }
    for ((before, a), b) in run.steps.iter().zip(run.finals.iter().cycle()) {
        extracts(a, b, &before.context(), "stale context");
    }
    let mut finals = run.finals.iter().cycle();
    for trajectory in &run.trajectories {
        for (now, a) in trajectory.iter().enumerate() {
            let backs = core::iter::successors(Some(2usize), |k| k.checked_mul(2));
            for back in backs.take_while(|&k| k <= now) {
                let b = finals.next().unwrap_or(a);
                let stale = &trajectory[now - back];
                extracts(
                    a,
                    b,
                    &stale.context(),
                    &format!("context {back} steps stale"),
                );
            }
        }
    }
}

/// For reachable `a`, and `b` reachable or a mutation's delta:
/// `a.includes(b)` iff `a ⊔ b == a`, and
/// `b.missing_from(a) == b.delta_since(&a.context())`.
fn includes_and_missing_from_agree_with_join<S: Crdt>(run: &Run<S>, reached: &[S]) {
    let deltas = run.mutations.iter().map(|m| &m.delta);
    let others: Vec<&S> = reached.iter().chain(deltas).collect();
    for a in reached {
        for &b in &others {
            let absorbs = joined(a, b) == *a;
            assert!(
                a.includes(b) == absorbs,
                "includes: a.includes(b) = {} but (a ⊔ b == a) = {absorbs}\na = {a:?}\nb = {b:?}",
                a.includes(b)
            );
            let (missing, expected) = (b.missing_from(a), b.delta_since(&a.context()));
            assert!(
                missing == expected,
                "missing_from: b.missing_from(a) != b.delta_since(&a.context())\na = {a:?}\n\
                 b = {b:?}\nmissing_from = {missing:?}\ndelta_since = {expected:?}"
            );
        }
    }
}

/// `s.split(n)` for `n` from 1 to 4: at most `n` pieces, none bottom, each
/// `≤ s`, whose join (in either order) is `s`; and at least two pieces when
/// `n ≥ 2` and `s` has two entries or more.
fn split_pieces_join_back_to_the_whole<M: Model>(states: &[M::State]) {
    for s in states {
        for n in 1..=4 {
            let pieces = s.split(n);
            let entries = M::entries(s);
            assert!(
                pieces.len() <= n && (n < 2 || entries < 2 || pieces.len() >= 2),
                "split: {} pieces for n = {n}, and s has {entries} entries\ns = {s:?}",
                pieces.len()
            );
            let (mut forward, mut backward) = (M::State::default(), M::State::default());
            for (piece, back) in pieces.iter().zip(pieces.iter().rev()) {
                assert!(
                    !piece.is_bottom() && s.includes(piece),
                    "split: a piece bottom or not ≤ s\ns = {s:?}\npiece = {piece:?}"
                );
                forward.join(piece);
                backward.join(back);
            }
            assert!(
                forward == *s && backward == *s,
                "split: pieces do not join back to s (n = {n})\ns = {s:?}\npieces = {pieces:?}"
            );
        }
    }
}

/// For `s` among `states`, `r` among `receivers`, `n` from 2 to 4 and every
/// subset of `s.split(n)`: `r ⊔ subset` keeps what `r ⊔ s` keeps of `r`
/// ([`Model::lost`]), so a catch-up answer that arrives in part is safe.
fn any_subset_of_split_pieces_keeps_what_the_whole_keeps<M: Model>(
    states: &[M::State],
    receivers: &[M::State],
) {
    for s in states {
        for r in receivers {
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
                    if let Some(lost) = M::lost(r, &full, &partial) {
                        panic!(
                            "split: {lost} joining pieces {mask:#b} of s.split({n})\nr = {r:?}\n\
                             s = {s:?}\npieces = {pieces:?}"
                        );
                    }
                }
            }
        }
    }
}

/// The mutations' deltas, delivered to a fresh replica in the order the
/// fuzzer picked (with duplicates), and then each once more, bring it to the
/// join of the final states.
fn strong_eventual_consistency<S: Crdt>(run: &Run<S>, deliveries: &[u8]) {
    let n = run.mutations.len();
    if n == 0 {
        return;
    }
    let order = deliveries.iter().map(|&i| usize::from(i) % n).chain(0..n);
    let mut fresh = S::default();
    for i in order {
        fresh.join(&run.mutations[i].delta);
    }
    let expected = run
        .finals
        .iter()
        .fold(S::default(), |acc, s| joined(&acc, s));
    assert!(
        fresh == expected,
        "convergence: the deltas delivered in order {deliveries:?} != join of the final states\n\
         fresh = {fresh:?}\nexpected = {expected:?}"
    );
}

/// The deltas the fuzzer picked (`deliveries`, modulo their number),
/// delivered to two fresh replicas, one in the picked order and one in the
/// reverse order with each delta twice, give one state: their join in
/// write order.
fn same_deltas_in_any_order_reach_the_same_state<S: Crdt>(run: &Run<S>, deliveries: &[u8]) {
    let n = run.mutations.len();
    if n == 0 {
        return;
    }
    let picked: Vec<usize> = deliveries.iter().map(|&i| usize::from(i) % n).collect();
    let mut in_order = S::default();
    for &i in &picked {
        in_order.join(&run.mutations[i].delta);
    }
    let mut reversed = S::default();
    for &i in picked.iter().rev() {
        reversed.join(&run.mutations[i].delta);
        reversed.join(&run.mutations[i].delta);
    }
    let mut expected = S::default();
    for (i, m) in run.mutations.iter().enumerate() {
        if picked.contains(&i) {
            expected.join(&m.delta);
        }
    }
    assert!(
        in_order == expected && reversed == expected,
        "convergence: the deltas {picked:?} in that order, reversed and in write order differ\n\
         in order = {in_order:?}\nreversed = {reversed:?}\nin write order = {expected:?}"
    );
}

/// Anti-entropy alone converges. As many fresh replicas as the history has
/// get the mutations' deltas, delta `i` going to replica `i` and to the one
/// the fuzzer picked (`deliveries[i]`). Then every ordered pair exchanges
/// once, in an order from the fuzzer's bytes: `from` answers `to`'s context
/// with `from.delta_since(&context)`, and the answer is delivered only after
/// the next exchange's answer was computed (its context stale by then).
/// Every replica ends as the join of the final states.
fn anti_entropy_by_delta_since_answers_converges<S: Crdt>(run: &Run<S>, deliveries: &[u8]) {
    let k = run.finals.len();
    let mut replicas = vec![S::default(); k];
    let mut picks = deliveries.iter().map(|&b| usize::from(b)).cycle();
    for (i, m) in run.mutations.iter().enumerate() {
        replicas[i % k].join(&m.delta);
        if let Some(other) = picks.next() {
            replicas[other % k].join(&m.delta);
        }
    }
    let mut pairs: Vec<(usize, usize)> = (0..k)
        .flat_map(|from| {
            (0..k)
                .filter(move |&to| to != from)
                .map(move |to| (from, to))
        })
        .collect();
    for i in (1..pairs.len()).rev() {
        let j = picks.next().unwrap_or(0) % (i + 1);
        pairs.swap(i, j);
    }
    let mut pending: Option<(usize, S)> = None;
    for &(from, to) in &pairs {
        let answer = replicas[from].delta_since(&replicas[to].context());
        if let Some((to, earlier)) = pending.replace((to, answer)) {
            replicas[to].join(&earlier);
        }
    }
    if let Some((to, last)) = pending {
        replicas[to].join(&last);
    }
    let expected = run
        .finals
        .iter()
        .fold(S::default(), |acc, s| joined(&acc, s));
    for (i, replica) in replicas.iter().enumerate() {
        assert!(
            *replica == expected,
            "anti-entropy: replica {i} of {k} after the exchanges {pairs:?} != join of the final \
             states\nreplica = {replica:?}\nexpected = {expected:?}"
        );
    }
}
