//! The laws' bodies: each takes the [`Run`] of a history (played once for
//! all of them) and the history's seed, and returns `Err(counterexample)`
//! on the first case it breaks, with the states that break it. `laws.rs`
//! names them ([`Law`](crate::Law)) and makes them public.

use rumor_crdt::Crdt;

use crate::history::{push_distinct, Model, Run};

/// Returns `Err(format!(...))` from the enclosing function unless `cond`.
macro_rules! ensure {
    ($cond:expr, $($message:tt)+) => {
        if !$cond {
            return Err(format!($($message)+));
        }
    };
}

/// The most copies of one delta the network of the delivery laws delivers.
const MAX_COPIES: u64 = 3;

/// A small deterministic generator (SplitMix64) for the laws' own choices.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Shuffles `items` (Fisher–Yates).
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }

    /// Up to `n` items of `items`, chosen at random, in random order.
    fn sample<T: Clone>(&mut self, items: &[T], n: usize) -> Vec<T> {
        let mut all = items.to_vec();
        self.shuffle(&mut all);
        all.truncate(n);
        all
    }
}

/// How many pool states the pair laws combine (all pairs of them).
const PAIR_SAMPLE: usize = 12;
/// How many pool states the associativity law combines (all triples).
const TRIPLE_SAMPLE: usize = 6;

fn joined<S: Crdt>(a: &S, b: &S) -> S {
    let mut out = a.clone();
    out.join(b);
    out
}

/// `a ⊑ b` in the lattice order: `a ⊔ b == b`.
fn leq<S: Crdt>(a: &S, b: &S) -> bool {
    joined(a, b) == *b
}

/// Calls `check(a, b, &(a ⊔ b), &sample)` for every ordered pair `(a, b)`
/// (with repetition) of a sample of up to `n` states of the run's pool: the
/// final states first, then others picked with `seed`. A counterexample is
/// reported with `a`, `b` and `a ⊔ b`.
fn check_pairs<S: Crdt>(
    run: &Run<S>,
    seed: u64,
    n: usize,
    check: impl Fn(&S, &S, &S, &[S]) -> Result<(), String>,
) -> Result<(), String> {
    let mut sample = run.finals.clone();
    for state in Rng::new(seed).sample(&run.pool(), n) {
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
    Ok(())
}

/// `a ⊔ b == b ⊔ a`.
pub(crate) fn join_is_commutative<M: Model>(run: &Run<M::State>, seed: u64) -> Result<(), String> {
    check_pairs(run, seed, PAIR_SAMPLE, |a, b, ab, _| {
        let ba = joined(b, a);
        ensure!(*ab == ba, "a ⊔ b != b ⊔ a, where b ⊔ a = {ba:?}");
        Ok(())
    })
}

/// `(a ⊔ b) ⊔ c == a ⊔ (b ⊔ c)`.
pub(crate) fn join_is_associative<M: Model>(run: &Run<M::State>, seed: u64) -> Result<(), String> {
    check_pairs(run, seed, TRIPLE_SAMPLE, |a, b, ab, sample| {
        for c in sample {
            let (left, right) = (joined(ab, c), joined(a, &joined(b, c)));
            ensure!(
                left == right,
                "(a ⊔ b) ⊔ c != a ⊔ (b ⊔ c)\nc = {c:?}\n(a ⊔ b) ⊔ c = {left:?}\na ⊔ (b ⊔ c) = {right:?}"
            );
        }
        Ok(())
    })
}

/// `a ⊔ a == a` for every state and delta of the run, and `(a ⊔ b) ⊔ b ==
/// a ⊔ b` (receiving the same state or delta twice changes nothing).
pub(crate) fn join_is_idempotent<M: Model>(run: &Run<M::State>, seed: u64) -> Result<(), String> {
    check_pairs(run, seed, PAIR_SAMPLE, |_, b, ab, _| {
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
pub(crate) fn join_is_monotone<M: Model>(run: &Run<M::State>, seed: u64) -> Result<(), String> {
    check_pairs(run, seed, PAIR_SAMPLE, |a, b, ab, _| {
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
pub(crate) fn delta_mutator_equivalence<M: Model>(
    run: &Run<M::State>,
    _seed: u64,
) -> Result<(), String> {
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
    extracts_into(a, b, &joined(a, b), seen)
}

/// Checks `a ⊔ b.delta_since(seen) == full`, where `full` is `a ⊔ b`.
fn extracts_into<S: Crdt>(a: &S, b: &S, full: &S, seen: &S::Context) -> Result<(), String> {
    let delta = b.delta_since(seen);
    let via_delta = joined(a, &delta);
    ensure!(
        via_delta == *full,
        "a ⊔ b.delta_since(seen) != a ⊔ b\na = {a:?}\nb = {b:?}\nseen = {seen:?}\n\
         delta = {delta:?}\na ⊔ delta = {via_delta:?}\na ⊔ b = {full:?}"
    );
    Ok(())
}

/// For every pair of reachable states: `a ⊔ b.delta_since(&a.context()) ==
/// a ⊔ b`. Also with a stale summary, as gossip sends: for every step of a
/// replica from `before` to `a`, and every final state `b`,
/// `a ⊔ b.delta_since(&before.context()) == a ⊔ b`.
pub(crate) fn exact_delta_extraction<M: Model>(
    run: &Run<M::State>,
    _seed: u64,
) -> Result<(), String> {
    for a in &run.reachable {
        let seen = a.context();
        for b in &run.reachable {
            extracts(a, b, &seen)?;
        }
    }
    for (before, a) in run.steps() {
        let seen = before.context();
        for b in &run.finals {
            extracts(a, b, &seen).map_err(|e| format!("(stale summary) {e}"))?;
        }
    }
    Ok(())
}

/// Gossip answers a context that may be many rounds old: for every replica,
/// every state `a` it reached, earlier states `old` of the same replica (1,
/// 2, 4, 8… of its steps back, and bottom), and every final state `b`:
/// `a ⊔ b.delta_since(&old.context()) == a ⊔ b`.
pub(crate) fn exact_delta_extraction_from_contexts_many_steps_stale<M: Model>(
    run: &Run<M::State>,
    _seed: u64,
) -> Result<(), String> {
    for trajectory in &run.trajectories {
        let contexts: Vec<_> = trajectory.iter().map(Crdt::context).collect();
        for (now, a) in trajectory.iter().enumerate() {
            for b in &run.finals {
                let full = joined(a, b);
                // Powers of two back (not every earlier state: the cost
                // would grow with the square of the trajectory), and bottom.
                let back = core::iter::successors(Some(1), |d: &usize| d.checked_mul(2));
                let stale = back
                    .take_while(|&d| d < now)
                    .chain((now > 0).then_some(now));
                for d in stale {
                    extracts_into(a, b, &full, &contexts[now - d])
                        .map_err(|e| format!("(context {d} steps stale) {e}"))?;
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
    run: &Run<M::State>,
    _seed: u64,
) -> Result<(), String> {
    let deltas = run.mutations.iter().map(|m| &m.delta);
    let others: Vec<&M::State> = run.reachable.iter().chain(deltas).collect();
    for a in &run.reachable {
        let seen = a.context();
        for b in &others {
            let absorbs = joined(a, b) == *a;
            ensure!(
                a.includes(b) == absorbs,
                "a.includes(b) = {} but (a ⊔ b == a) = {absorbs}\na = {a:?}\nb = {b:?}",
                a.includes(b)
            );
            let missing = b.missing_from(a);
            let expected = b.delta_since(&seen);
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
    run: &Run<M::State>,
    _seed: u64,
) -> Result<(), String> {
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
const SPLIT_SAMPLE: usize = 8;
/// Earlier states `r` each of them is joined into, in part.
const SPLIT_RECEIVERS: usize = 4;
/// Reachable states `q` that answer the partial receiver's context.
const SPLIT_PEERS: usize = 4;

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
    run: &Run<M::State>,
    seed: u64,
) -> Result<(), String> {
    let mut rng = Rng::new(seed);
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
        let splits: Vec<(usize, Vec<M::State>)> = (2..=4).map(|n| (n, s.split(n))).collect();
        let mut receivers = rng.sample(&run.timeline[..*t], SPLIT_RECEIVERS);
        receivers.push(run.timeline[*t - 1].clone());
        for r in &receivers {
            if r.includes(s) {
                // Every subset leaves `r` as it was: a reachable state, whose
                // extraction the other laws check.
                continue;
            }
            let full = joined(r, s);
            // Different subsets often reach the same state: each is checked once.
            let mut checked: Vec<M::State> = vec![r.clone()];
            for (n, pieces) in &splits {
                for mask in 1..(1u32 << pieces.len()) {
                    let mut partial = r.clone();
                    for (k, piece) in pieces.iter().enumerate() {
                        if mask & (1 << k) != 0 {
                            partial.join(piece);
                        }
                    }
                    if checked.contains(&partial) {
                        continue;
                    }
                    // Formatted only for a counterexample.
                    let context = || {
                        format!(
                            "joining pieces {mask:#b} of s.split({n}) into r\nr = {r:?}\ns = {s:?}\n\
                             pieces = {pieces:?}\nr ⊔ pieces = {partial:?}\nr ⊔ s = {full:?}"
                        )
                    };
                    M::survives(r, &full, &partial).map_err(|e| format!("{e}\n{}", context()))?;
                    let seen = partial.context();
                    for q in &peers {
                        extracts(&partial, q, &seen).map_err(|e| {
                            format!("from the partial receiver: {e}\n{}", context())
                        })?;
                    }
                    checked.push(partial);
                }
            }
        }
    }
    Ok(())
}

/// Fresh replicas the delivery laws deliver to.
const FRESH_REPLICAS: usize = 3;
/// Random subsets of the deltas delivered by
/// [`same_deltas_in_any_order_reach_the_same_state`].
const SUBSETS: usize = 4;

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
    run: &Run<M::State>,
    seed: u64,
) -> Result<(), String> {
    let expected = run.converged();
    let all: Vec<usize> = (0..run.mutations.len()).collect();
    for (replica, (fresh, order)) in deliver(run, &all, &mut Rng::new(seed))
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
    run: &Run<M::State>,
    seed: u64,
) -> Result<(), String> {
    let mut rng = Rng::new(seed ^ 0x5EED);
    for _ in 0..SUBSETS {
        let chosen: Vec<usize> = (0..run.mutations.len())
            .filter(|_| rng.below(2) == 0)
            .collect();
        let expected = chosen.iter().fold(M::State::default(), |acc, &n| {
            joined(&acc, &run.mutations[n].delta)
        });
        for (replica, (fresh, order)) in deliver(run, &chosen, &mut rng).into_iter().enumerate() {
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
    run: &Run<M::State>,
    seed: u64,
) -> Result<(), String> {
    let expected = run.converged();
    let mut rng = Rng::new(seed ^ 0xA11CE);
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

/// Bottom (`Default::default()`) is the identity of join, `is_bottom` says
/// exactly when a value is bottom, and so does it for every piece of a
/// split: for every state and delta `a` of the run, `a ⊔ ⊥ == a`,
/// `⊥ ⊔ a == a`, and `a.is_bottom() == (a == ⊥)`.
pub(crate) fn bottom_is_the_identity_of_join<M: Model>(
    run: &Run<M::State>,
    _seed: u64,
) -> Result<(), String> {
    let bottom = M::State::default();
    ensure!(
        bottom.is_bottom(),
        "⊥.is_bottom() is false
⊥ = {bottom:?}"
    );
    for a in &run.pool() {
        let (left, right) = (joined(a, &bottom), joined(&bottom, a));
        ensure!(
            left == *a && right == *a,
            "⊥ is not the identity of join\na = {a:?}\na ⊔ ⊥ = {left:?}\n⊥ ⊔ a = {right:?}"
        );
        for b in core::iter::once(a).chain(a.split(2).iter()) {
            ensure!(
                b.is_bottom() == (*b == bottom),
                "is_bottom() = {} for a value that is{} bottom\nvalue = {b:?}",
                b.is_bottom(),
                if *b == bottom { "" } else { " not" }
            );
        }
    }
    Ok(())
}
