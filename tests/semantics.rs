//! What replicas observe: add-wins sets, last-writer-wins registers and maps,
//! hybrid logical clocks, counters under a hostile network, causal contexts,
//! and the size of what goes on the wire.
//!
//! Merge tests go through [`every_order_agrees`] (every delivery order, each
//! delta twice) and network tests through [`Network`] (seeded loss, reordering
//! and duplication), so each law is checked at one boundary.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use rumor::crdt::{
    codec, CausalContext, ClockError, Crdt, Dot, GCounter, Hlc, HlcTimestamp, LwwMap, LwwRegister,
    OrSet, PnCounter, ReplicaId, Superseded, DEFAULT_MAX_DRIFT_MS,
};

fn replica(n: u128) -> ReplicaId {
    ReplicaId::from_u128(n)
}

fn at(wall_ms: u64, logical: u32, writer: u128) -> HlcTimestamp {
    HlcTimestamp::new(wall_ms, logical, replica(writer))
}

fn encoded_len<T: serde::Serialize>(value: &T) -> usize {
    codec::encode(value).unwrap().len()
}

/// Seeded xorshift64*: schedules that are random but replayable.
struct Dice(u64);

impl Dice {
    fn roll(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.roll() % u64::try_from(n).unwrap()).unwrap()
    }

    fn percent(&mut self, p: usize) -> bool {
        self.below(100) < p
    }
}

/// Joins `deltas` into a copy of `base` in `order` (indices may repeat).
fn converge<S: Crdt>(base: &S, deltas: &[S], order: &[usize]) -> S {
    let mut state = base.clone();
    for &i in order {
        state.join(&deltas[i]);
    }
    state
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for shorter in permutations(n - 1) {
        for slot in 0..=shorter.len() {
            let mut order = shorter.clone();
            order.insert(slot, n - 1);
            out.push(order);
        }
    }
    out
}

/// Delivers `deltas` onto `base` in every order, then again in reverse (so
/// every delta arrives twice), asserts that all deliveries agree, and returns
/// the common state.
fn every_order_agrees<S: Crdt>(base: &S, deltas: &[S]) -> S {
    let orders = permutations(deltas.len());
    let agreed = converge(base, deltas, &orders[0]);
    for order in &orders {
        let twice: Vec<usize> = order.iter().chain(order.iter().rev()).copied().collect();
        assert_eq!(
            converge(base, deltas, &twice),
            agreed,
            "delivery order {twice:?}"
        );
    }
    agreed
}

/// Replicas joined by a network that reorders, duplicates and (optionally)
/// loses deltas, driven by a seed.
struct Network<S> {
    replicas: Vec<S>,
    in_flight: Vec<(usize, S)>,
    dice: Dice,
    loss_percent: usize,
}

impl<S: Crdt> Network<S> {
    fn new(size: usize, seed: u64, loss_percent: usize) -> Self {
        Self {
            replicas: vec![S::default(); size],
            in_flight: Vec::new(),
            dice: Dice(seed | 1),
            loss_percent,
        }
    }

    /// `steps` random events: a mutation by `op(state, replica index, dice)`
    /// whose delta is sent to every other replica, or the delivery of one
    /// delta in flight (which, one time in five, stays in flight to arrive
    /// again).
    fn run(&mut self, steps: usize, mut op: impl FnMut(&mut S, usize, &mut Dice) -> S) {
        for _ in 0..steps {
            if self.in_flight.is_empty() || self.dice.percent(50) {
                let from = self.dice.below(self.replicas.len());
                let delta = op(&mut self.replicas[from], from, &mut self.dice);
                for to in (0..self.replicas.len()).filter(|&to| to != from) {
                    if !self.dice.percent(self.loss_percent) {
                        self.in_flight.push((to, delta.clone()));
                    }
                }
            } else {
                let i = self.dice.below(self.in_flight.len());
                let (to, delta) = if self.dice.percent(20) {
                    self.in_flight[i].clone()
                } else {
                    self.in_flight.swap_remove(i)
                };
                self.replicas[to].join(&delta);
            }
        }
    }

    /// Delivers everything still in flight, in random order.
    fn flush(&mut self) {
        while !self.in_flight.is_empty() {
            let i = self.dice.below(self.in_flight.len());
            let (to, delta) = self.in_flight.swap_remove(i);
            self.replicas[to].join(&delta);
        }
    }
}

// ---------------------------------------------------------------- OR-Set

#[test]
fn concurrent_add_and_remove_of_same_element_keeps_it() {
    let mut a = OrSet::new();
    a.insert(replica(1), "x");
    let (mut b, mut c) = (a.clone(), a.clone());
    let removal = b.remove(&"x");
    let concurrent_add = c.insert(replica(3), "x");

    assert!(!converge(&a, std::slice::from_ref(&removal), &[0]).contains(&"x"));
    let merged = every_order_agrees(&a, &[removal, concurrent_add]);
    assert_eq!(merged.iter().collect::<Vec<_>>(), [&"x"]);
}

#[test]
fn remove_after_seeing_the_add_removes_it() {
    let mut a = OrSet::new();
    let add = a.insert(replica(1), "x");
    let mut b = OrSet::new();
    b.join(&add);
    let removal = b.remove(&"x");

    let merged = every_order_agrees(&OrSet::new(), &[add, removal]);
    assert!(merged.is_empty());
}

#[test]
fn re_add_after_remove_is_present() {
    let mut a = OrSet::new();
    let first_add = a.insert(replica(1), "x");
    let removal = a.remove(&"x");
    let second_add = a.insert(replica(1), "x");
    assert!(a.contains(&"x"));

    let merged = every_order_agrees(&OrSet::new(), &[first_add, removal, second_add]);
    assert_eq!(merged, a);
}

#[test]
fn remove_of_unseen_add_does_not_remove_it() {
    let mut a = OrSet::new();
    let add_a = a.insert(replica(1), "x");
    assert!(OrSet::<&str>::new().remove(&"x").is_bottom());

    // `b` holds "x" from its own add, not from `a`'s: its removal spares `a`'s.
    let mut b = OrSet::new();
    let add_b = b.insert(replica(2), "x");
    let removal = b.remove(&"x");

    let merged = every_order_agrees(&OrSet::new(), &[add_a, add_b, removal]);
    assert_eq!(merged.iter().collect::<Vec<_>>(), [&"x"]);
}

#[test]
fn clear_removes_only_what_was_seen() {
    let mut a = OrSet::new();
    let mut b = OrSet::new();
    let seen = [a.insert(replica(1), "a"), a.insert(replica(1), "b")];
    for delta in &seen {
        b.join(delta);
    }
    let own = b.insert(replica(2), "d");
    let unseen = a.insert(replica(1), "c");
    let clear = b.clear();

    let [seen_a, seen_b] = seen;
    let merged = every_order_agrees(&OrSet::new(), &[seen_a, seen_b, own, unseen, clear]);
    assert_eq!(merged.iter().collect::<Vec<_>>(), [&"c"]);
}

#[test]
fn catch_up_through_delta_since_ships_only_missing_elements() {
    let (writer, absentee) = (replica(1), replica(2));
    let mut source = OrSet::new();
    for n in 0..10_000u64 {
        source.insert(writer, n);
    }
    let mut behind = source.clone();
    behind.insert(absentee, 1_000_000);
    for n in [10, 5_000, 9_999] {
        source.remove(&n);
    }
    for n in 20_000..20_005 {
        source.insert(writer, n);
    }

    let missing = source.delta_since(&behind.context());
    assert_eq!(missing.len(), 5);
    assert!(
        missing.context().range_count() <= 4,
        "{:?}",
        missing.context()
    );
    assert!(
        encoded_len(&missing) < 128,
        "{} bytes",
        encoded_len(&missing)
    );
    assert!(encoded_len(&source) > 100 * encoded_len(&missing));

    let mut full = behind.clone();
    full.join(&source);
    behind.join(&missing);
    assert_eq!(behind, full);
    assert!(behind.contains(&1_000_000) && !behind.contains(&5_000));
}

#[test]
fn delta_since_carries_removals_of_elements_the_peer_saw() {
    let mut source = OrSet::new();
    source.insert(replica(1), "x");
    source.insert(replica(1), "y");
    let mut peer = source.clone();
    source.remove(&"x");

    let missing = source.delta_since(&peer.context());
    assert!(missing.is_empty() && !missing.is_bottom());
    peer.join(&missing);
    assert_eq!(peer, source);
    assert_eq!(peer.iter().collect::<Vec<_>>(), [&"y"]);
}

/// For every pair of replicas left apart by a lossy network:
/// `a ⊔ b.delta_since(a.context()) == a ⊔ b`.
fn check_delta_since_law<S: Crdt>(replicas: &[S]) {
    for a in replicas {
        for b in replicas {
            let mut full = a.clone();
            full.join(b);
            let mut caught_up = a.clone();
            caught_up.join(&b.delta_since(&a.context()));
            assert_eq!(caught_up, full);
        }
    }
}

#[test]
fn delta_since_brings_a_peer_to_the_full_join_after_any_history() {
    for seed in 1..=20 {
        let mut sets = Network::<OrSet<u8>>::new(3, seed, 30);
        sets.run(300, |set, at, dice| {
            let element = u8::try_from(dice.below(12)).unwrap();
            match dice.below(5) {
                0 => set.remove(&element),
                1 if dice.percent(20) => set.clear(),
                _ => set.insert(writer(at), element),
            }
        });
        check_delta_since_law(&sets.replicas);

        let mut clock = 0;
        let mut maps = Network::<LwwMap<u8, u8>>::new(3, seed, 30);
        maps.run(300, |map, at, dice| {
            clock += dice.below(3) as u64;
            let key = u8::try_from(dice.below(8)).unwrap();
            let ts = HlcTimestamp::new(clock, 0, writer(at));
            // Writes stamped from a shared counter, not a replica's clock:
            // one may lose to a write its replica already holds.
            if dice.percent(25) {
                map.remove(&key, ts).unwrap_or_default()
            } else {
                map.insert(key, 7, ts).unwrap_or_default()
            }
        });
        check_delta_since_law(&maps.replicas);

        let mut counters = Network::<PnCounter>::new(3, seed, 30);
        counters.run(300, |c, at, dice| match dice.below(2) {
            0 => c.increment(writer(at), 3),
            _ => c.decrement(writer(at), 2),
        });
        check_delta_since_law(&counters.replicas);

        let mut registers = Network::<LwwRegister<u64>>::new(3, seed, 30);
        registers.run(300, |r, at, dice| {
            // At the held wall time, a lower replica id loses: bottom delta.
            r.set(dice.roll(), after_held(r, at, dice))
                .unwrap_or_default()
        });
        check_delta_since_law(&registers.replicas);
    }
}

/// The id of the replica at `index` in a [`Network`].
fn writer(index: usize) -> ReplicaId {
    ReplicaId::from_u128(index as u128 + 1)
}

/// A timestamp for a new write by replica `at`, a little after what it holds.
fn after_held(register: &LwwRegister<u64>, at: usize, dice: &mut Dice) -> HlcTimestamp {
    let wall = register.timestamp().map_or(0, |ts| ts.wall_ms);
    HlcTimestamp::new(wall + dice.below(3) as u64, 0, writer(at))
}

// ------------------------------------------------------ LWW register / map

/// The value every replica ends with when each write is made on its own
/// replica and the deltas are delivered in any order.
fn register_winner(writes: &[(&'static str, HlcTimestamp)]) -> &'static str {
    let deltas: Vec<LwwRegister<&str>> = writes
        .iter()
        .map(|&(value, ts)| LwwRegister::new().set(value, ts).unwrap())
        .collect();
    let merged = every_order_agrees(&LwwRegister::new(), &deltas);
    merged.get().copied().unwrap()
}

#[test]
fn higher_hlc_wins() {
    assert_eq!(
        register_winner(&[("old", at(100, 5, 9)), ("new", at(101, 0, 1))]),
        "new"
    );
    assert_eq!(
        register_winner(&[("a", at(7, 0, 1)), ("c", at(9, 0, 1)), ("b", at(8, 0, 2))]),
        "c"
    );
}

#[test]
fn equal_wall_time_breaks_tie_by_logical_then_replica_id() {
    let by_logical = [("logical 1", at(100, 1, 1)), ("logical 0", at(100, 0, 9))];
    assert_eq!(register_winner(&by_logical), "logical 1");
    let by_replica = [("replica 1", at(100, 0, 1)), ("replica 2", at(100, 0, 2))];
    assert_eq!(register_winner(&by_replica), "replica 2");
}

#[test]
fn older_write_loses_even_when_it_arrives_last() {
    let older = LwwRegister::new().set("older", at(100, 0, 2)).unwrap();
    let mut register = LwwRegister::new();
    register.set("newer", at(101, 0, 1)).unwrap();
    register.join(&older);
    assert_eq!(register.get(), Some(&"newer"));
    let late = register.set("late", at(100, 0, 2));
    assert_eq!(
        late,
        Err(Superseded {
            held: at(101, 0, 1),
            attempted: at(100, 0, 2)
        })
    );
    assert_eq!(register.get(), Some(&"newer"));

    let mut map = LwwMap::new();
    map.insert("k", "newer", at(101, 0, 1)).unwrap();
    let older = LwwMap::new().insert("k", "older", at(100, 0, 2)).unwrap();
    map.join(&older);
    assert_eq!(map.get(&"k"), Some(&"newer"));
    let late = map.insert("k", "late", at(100, 0, 2));
    assert_eq!(late.map(|d| d.is_bottom()).unwrap_err().held, at(101, 0, 1));
    assert_eq!(map.get(&"k"), Some(&"newer"));
}

#[test]
fn removal_beats_older_concurrent_insert() {
    let mut a = LwwMap::new();
    let first = a.insert("door", "closed", at(50, 0, 1)).unwrap();
    let mut b = a.clone();
    let insert = a.insert("door", "open", at(100, 0, 1)).unwrap();
    let removal = b.remove(&"door", at(105, 0, 2)).unwrap();

    let merged = every_order_agrees(&LwwMap::new(), &[first, insert, removal]);
    assert_eq!(merged.get(&"door"), None);
    assert_eq!((merged.len(), merged.tombstones()), (0, 1));
}

#[test]
fn newer_insert_beats_older_removal() {
    let mut a = LwwMap::new();
    let first = a.insert("door", "closed", at(50, 0, 1)).unwrap();
    let mut b = a.clone();
    let removal = a.remove(&"door", at(100, 0, 1)).unwrap();
    let insert = b.insert("door", "open", at(105, 0, 2)).unwrap();

    let merged = every_order_agrees(&LwwMap::new(), &[first, removal, insert]);
    assert_eq!(merged.get(&"door"), Some(&"open"));
    assert_eq!(merged.tombstones(), 0);
}

#[test]
fn remove_of_absent_key_still_beats_older_unseen_insert() {
    let insert = LwwMap::new().insert("door", "open", at(100, 0, 1)).unwrap();
    let removal = LwwMap::new().remove(&"door", at(200, 0, 2)).unwrap();
    assert!(!removal.is_bottom());

    let merged = every_order_agrees(&LwwMap::new(), &[insert, removal]);
    assert_eq!(merged.get(&"door"), None);
    assert_eq!(merged.timestamp(&"door"), Some(at(200, 0, 2)));
}

// ------------------------------------------------------------------- HLC

#[test]
fn clock_far_in_the_future_is_refused() {
    let mut clock = Hlc::with_max_drift(replica(1), 500);
    clock.now(1_000);
    let before = clock.clone();
    assert_eq!(
        clock.observe(at(1_501, 3, 2), 1_000),
        Err(ClockError::TooFarAhead {
            remote_ms: 1_501,
            local_ms: 1_000,
            ahead_ms: 501,
            max_drift_ms: 500,
        })
    );
    assert_eq!(clock, before);

    let mut clock = Hlc::new(replica(1));
    let refused = clock.observe(at(u64::MAX, u32::MAX, 2), 0);
    assert_eq!(
        refused,
        Err(ClockError::TooFarAhead {
            remote_ms: u64::MAX,
            local_ms: 0,
            ahead_ms: u64::MAX,
            max_drift_ms: DEFAULT_MAX_DRIFT_MS,
        })
    );
    assert_eq!(clock.last(), at(0, 0, 1));
}

#[test]
fn clock_within_drift_is_accepted_and_advances_local_clock() {
    let mut clock = Hlc::with_max_drift(replica(1), 500);
    clock.now(1_000);
    let remote = at(1_500, 7, 2);

    let received = clock.observe(remote, 1_000).unwrap();
    assert_eq!(received, at(1_500, 8, 1));
    assert_eq!(clock.last(), received);
    let next = clock.now(1_001);
    assert!(next > remote);
    assert_eq!(next, at(1_500, 9, 1));

    // An older remote reading still moves the logical part past our own.
    assert_eq!(clock.observe(at(900, 50, 3), 1_002), Ok(at(1_500, 10, 1)));
}

#[test]
fn now_is_strictly_monotonic_when_wall_clock_goes_backwards() {
    let mut clock = Hlc::new(replica(1));
    let mut previous = clock.last();
    for wall in [
        1_000, 1_000, 999, 500, 0, 1_001, 1_001, 2_000, 1_999, 1_999, 2_000,
    ] {
        let reading = clock.now(wall);
        assert!(
            reading > previous,
            "{reading:?} after {previous:?} at wall {wall}"
        );
        assert!(reading.wall_ms >= wall);
        assert_eq!(reading.replica, replica(1));
        previous = reading;
    }
    assert_eq!(previous, at(2_000, 3, 1));
}

#[test]
fn logical_counter_overflow_borrows_next_millisecond() {
    let mut clock = Hlc::new(replica(1));
    let remote = at(1_000, u32::MAX, 2);
    let received = clock.observe(remote, 1_000).unwrap();
    assert_eq!(received, at(1_001, 0, 1));
    assert!(received > remote);
    assert_eq!(clock.now(1_000), at(1_001, 1, 1));
}

// -------------------------------------------------------------- Counters

#[test]
fn counters_never_lose_an_increment_under_any_delivery_order() {
    for seed in 1..=10 {
        let mut sum = 0i128;
        let mut network = Network::<PnCounter>::new(4, seed, 0);
        network.run(2_000, |counter, at, dice| {
            let amount = 1 + dice.roll() % 10;
            if dice.percent(40) {
                sum -= i128::from(amount);
                counter.decrement(writer(at), amount)
            } else {
                sum += i128::from(amount);
                counter.increment(writer(at), amount)
            }
        });
        network.flush();
        for counter in &network.replicas {
            assert_eq!(counter.value(), sum, "seed {seed}");
            assert_eq!(counter, &network.replicas[0]);
        }

        let mut total = 0u64;
        let mut network = Network::<GCounter>::new(4, seed, 0);
        network.run(2_000, |counter, at, dice| {
            let amount = dice.roll() % 10;
            total += amount;
            counter.increment(writer(at), amount)
        });
        network.flush();
        assert!(network.replicas.iter().all(|c| c.value() == total));
    }
}

#[test]
fn gcounter_entry_saturates_instead_of_overflowing() {
    let (r1, r2) = (replica(1), replica(2));
    let mut counter = GCounter::new();
    counter.increment(r1, u64::MAX - 1);
    let delta = counter.increment(r1, 5);
    assert_eq!((counter.get(r1), delta.get(r1)), (u64::MAX, u64::MAX));
    counter.increment(r2, 10);
    assert_eq!(counter.value(), u64::MAX);

    let mut both_ways = PnCounter::new();
    both_ways.increment(r1, u64::MAX);
    both_ways.decrement(r2, u64::MAX);
    assert_eq!(both_ways.value(), 0);
}

// -------------------------------------------------------- CausalContext

#[test]
fn context_after_partition_stays_a_few_ranges() {
    let (a, b) = (replica(1), replica(2));
    let (mut writer_a, mut writer_b) = (OrSet::new(), OrSet::new());
    let mut observer = OrSet::new();
    let lost_a = 3_001..=4_000u64;
    let lost_b = [6_001..=6_500u64, 8_001..=8_100];
    let mut dice = Dice(7);
    let mut most_ranges = 0;
    for n in 1..=10_000u64 {
        let from_a = writer_a.insert(a, n);
        let from_b = writer_b.insert(b, n + 100_000);
        let mut arriving = Vec::new();
        if !lost_a.contains(&n) {
            arriving.push(from_a);
        }
        if !lost_b.iter().any(|lost| lost.contains(&n)) {
            arriving.push(from_b);
        }
        if dice.percent(50) {
            arriving.reverse();
        }
        for delta in arriving {
            observer.join(&delta);
        }
        most_ranges = most_ranges.max(observer.context().range_count());
    }
    let seen = observer.context();
    assert_eq!(seen.range_count(), 5, "{seen:?}");
    assert_eq!(most_ranges, 5);
    assert_eq!(seen.dot_count(), 20_000 - 1_000 - 600);

    observer.join(&writer_a.delta_since(&observer.context()));
    observer.join(&writer_b.delta_since(&observer.context()));
    assert_eq!(observer.context().range_count(), 2);
    writer_a.join(&writer_b);
    assert_eq!(observer, writer_a);
}

/// Checks difference, intersection, join and subset of every pair of
/// contexts over `counters` of one replica against the same operations on
/// sets of counters.
fn check_context_algebra(counters: &[u64]) {
    let r = replica(1);
    let subsets = 1usize << counters.len();
    let context_of = |mask: usize| -> CausalContext {
        let dots = counters
            .iter()
            .enumerate()
            .filter(|(i, _)| mask >> i & 1 == 1);
        dots.map(|(_, &c)| Dot::new(r, c)).collect()
    };
    let contexts: Vec<CausalContext> = (0..subsets).map(context_of).collect();
    for (m1, c1) in contexts.iter().enumerate() {
        let mut one_by_one = CausalContext::new();
        for (i, &c) in counters.iter().enumerate() {
            if m1 >> i & 1 == 1 {
                one_by_one.insert(Dot::new(r, c));
            }
        }
        assert_eq!(&one_by_one, c1, "canonical form of {m1:b}");
        for (m2, c2) in contexts.iter().enumerate() {
            assert_eq!(c1.difference(c2), contexts[m1 & !m2], "{c1:?} - {c2:?}");
            assert_eq!(c1.intersection(c2), contexts[m1 & m2], "{c1:?} & {c2:?}");
            let mut union = c1.clone();
            union.join(c2);
            assert_eq!(union, contexts[m1 | m2], "{c1:?} | {c2:?}");
            assert_eq!(c1.is_subset(c2), m1 & !m2 == 0);
        }
    }
}

#[test]
fn difference_is_set_difference() {
    check_context_algebra(&[1, 2, 3, 4, 5, 6, 7, 8]);
    check_context_algebra(&[1, 3, 4, 9, 10, 11, 40, 41]);
    check_context_algebra(&(u64::MAX - 7..=u64::MAX).collect::<Vec<_>>());

    // Several replicas, random sets, against a set of dots.
    let mut dice = Dice(99);
    let random_dots = |dice: &mut Dice| -> BTreeSet<Dot> {
        (0..dice.below(30))
            .map(|_| Dot::new(replica(1 + dice.below(3) as u128), 1 + dice.roll() % 20))
            .collect()
    };
    for _ in 0..2_000 {
        let (x, y) = (random_dots(&mut dice), random_dots(&mut dice));
        let (cx, cy) = (
            CausalContext::from_dots(x.clone()),
            CausalContext::from_dots(y.clone()),
        );
        let expected: CausalContext = x.difference(&y).copied().collect();
        let difference = cx.difference(&cy);
        assert_eq!(difference, expected);
        assert_eq!(difference.dot_count(), x.difference(&y).count() as u128);
        assert!(x.iter().all(|d| difference.contains(d) != y.contains(d)));
    }
}

// --------------------------------------------------------- Encoded sizes

/// The encoded size of each kind of one-operation delta, made on a state of
/// `size` elements (or replicas, for counters).
fn one_op_delta_sizes(size: u64) -> Vec<(&'static str, usize)> {
    let (writer, other) = (replica(1), ReplicaId::from_random_bytes([0xA5; 16]));
    let mut set = OrSet::new();
    let mut map = LwwMap::new();
    let mut clock = Hlc::new(writer);
    let epoch_ms = 1_700_000_000_000;
    let mut grow = GCounter::new();
    let mut counter = PnCounter::new();
    for n in 0..size {
        set.insert(writer, n);
        map.insert(format!("key{n}"), format!("v{n}"), clock.now(epoch_ms + n))
            .unwrap();
        let id = ReplicaId::from_u128(u128::from(n) << 64);
        grow.increment(id, n + 1);
        counter.increment(id, n + 1);
        counter.decrement(id, 1);
    }
    let later = epoch_ms + size + 1;
    vec![
        (
            "OrSet insert of a new element",
            encoded_len(&set.insert(writer, u64::MAX)),
        ),
        (
            "OrSet re-insert by the same writer",
            encoded_len(&set.insert(writer, size / 2)),
        ),
        (
            "OrSet insert by a new writer",
            encoded_len(&set.insert(other, size + 7)),
        ),
        ("GCounter increment", encoded_len(&grow.increment(other, 1))),
        (
            "GCounter increment of a big entry",
            encoded_len(&grow.increment(writer, u64::MAX / 2)),
        ),
        (
            "PnCounter increment",
            encoded_len(&counter.increment(other, 3)),
        ),
        (
            "PnCounter decrement",
            encoded_len(&counter.decrement(other, 3)),
        ),
        (
            "LwwMap insert",
            encoded_len(
                &map.insert("door".into(), "open".into(), clock.now(later))
                    .unwrap(),
            ),
        ),
        (
            "LwwMap overwrite",
            encoded_len(
                &map.insert("key1".into(), "v".into(), clock.now(later))
                    .unwrap(),
            ),
        ),
        (
            "LwwMap remove",
            encoded_len(&map.remove(&"key2".into(), clock.now(later)).unwrap()),
        ),
    ]
}

#[test]
fn one_op_deltas_encode_in_at_most_48_bytes_regardless_of_state_size() {
    let too_big: Vec<String> = [10, 100_000]
        .into_iter()
        .flat_map(|size| {
            let sizes = one_op_delta_sizes(size).into_iter();
            sizes.map(move |(kind, bytes)| (size, kind, bytes))
        })
        .filter(|&(_, _, bytes)| bytes > 48)
        .map(|(size, kind, bytes)| format!("{kind} on a state of {size}: {bytes} bytes"))
        .collect();
    assert!(too_big.is_empty(), "{too_big:#?}");
}
