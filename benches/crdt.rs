//! rumor's CRDTs side by side with `crdts` 7.x, in one criterion run.
//!
//! `cargo bench --bench crdt` first prints a markdown table of encoded sizes
//! (bincode 2, standard configuration, for both crates), then times OR-Set
//! inserts, OR-Set joins, joins of maps of OR-Sets (`OrMap` beside `crdts::Map` of
//! `Orswot`s), G-Counter joins, and the encoding of whole states of 1,000
//! writers (and their fingerprint, the anti-entropy digest). `cargo bench --bench crdt --
//! --test` runs every bench once. `docs/BENCHMARKS.md` records the numbers
//! against the targets of DESIGN §5.
//!
//! Both crates store `u64` elements. rumor names replicas by 16-byte UUIDs
//! ([`ReplicaId`]); `crdts` is generic over its actor type and is timed with
//! `u64` actors (its cheapest choice), with `ReplicaId` actors beside it where
//! the id's size matters.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::fmt::Debug;
use std::hint::black_box;
use std::ops::Range;
use std::time::Duration;

use crdts::map::Map as CrdtsMap;
use crdts::{CmRDT, CvRDT, Orswot};
use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, Criterion, SamplingMode};
use rumor::crdt::{codec, Crdt, GCounter, HlcTimestamp, LwwMap, OrMap, OrSet, ReplicaId};
use serde::Serialize;

/// Elements in each large OR-Set.
const N: u64 = 100_000;
/// Elements in each key's OR-Set, in the maps of OR-Sets.
const PER_KEY: u64 = 2;
/// Replicas (entries) in each G-Counter.
const COUNTER_REPLICAS: u8 = 64;
/// Writers of the states encoded whole, one entry each: a swarm's shared
/// positions, as every agent holds them (`rumor swarm --agents 1000`).
const WRITERS: u32 = 1_000;

/// A `crdts` actor: `u64` or rumor's own [`ReplicaId`].
trait Actor: crdts::Actor + Debug + Serialize {}
impl<A: crdts::Actor + Debug + Serialize> Actor for A {}

/// rumor replica number `n`: a v4 UUID from fixed bytes, so runs repeat.
fn replica(n: u8) -> ReplicaId {
    ReplicaId::from_random_bytes([n; 16])
}

/// bincode 2, standard configuration: rumor's wire codec, used for both crates.
fn encoded_len<T: Serialize>(value: &T) -> usize {
    codec::encode(value).unwrap().len()
}

/// `crdts`' own spelling of the same encoding, checked against [`encoded_len`].
fn crdts_encoded_len<T: Serialize>(value: &T) -> usize {
    let len = bincode::serde::encode_to_vec(value, bincode::config::standard())
        .unwrap()
        .len();
    assert_eq!(len, encoded_len(value));
    len
}

fn rumor_set(replica: ReplicaId, elements: Range<u64>) -> OrSet<u64> {
    let mut set = OrSet::new();
    for x in elements {
        black_box(set.insert(replica, x));
    }
    set
}

fn crdts_set<A: Actor>(actor: &A, elements: Range<u64>) -> Orswot<u64, A> {
    let mut set = Orswot::new();
    for x in elements {
        set.apply(set.add(x, set.read_ctx().derive_add_ctx(actor.clone())));
    }
    set
}

/// 100k elements, the first half written by replica 1, the second by replica 2.
/// A map of `keys`, each holding an OR-Set of [`PER_KEY`] elements, all written by `replica`.
fn rumor_map(replica: ReplicaId, keys: Range<u64>) -> OrMap<u64, OrSet<u64>> {
    let mut map = OrMap::new();
    for k in keys {
        for x in 0..PER_KEY {
            black_box(map.update(replica, k, |set: &mut OrSet<u64>| {
                set.insert(replica, k * PER_KEY + x)
            }));
        }
    }
    map
}

/// The same map in `crdts`: a `Map` of `Orswot`s, built from its ops.
fn crdts_map<A: Actor>(actor: &A, keys: Range<u64>) -> CrdtsMap<u64, Orswot<u64, A>, A> {
    let mut map = CrdtsMap::new();
    for k in keys {
        for x in 0..PER_KEY {
            let ctx = map.read_ctx().derive_add_ctx(actor.clone());
            let op = map.update(k, ctx, |set: &Orswot<u64, A>, ctx| {
                set.add(k * PER_KEY + x, ctx)
            });
            map.apply(op);
        }
    }
    map
}

/// Encoded size of one nested add (into the last key's set) on a map of `N` keys, in
/// `crdts`: the map's `Op`.
fn crdts_nested_add_len<A: Actor>(actor: &A) -> usize {
    let map = crdts_map(actor, 0..N);
    let ctx = map.read_ctx().derive_add_ctx(actor.clone());
    let op = map.update(N - 1, ctx, |set, ctx| set.add(7, ctx));
    crdts_encoded_len(&op)
}

fn rumor_two_writer_set() -> OrSet<u64> {
    let mut set = rumor_set(replica(1), 0..N / 2);
    set.join(&rumor_set(replica(2), N / 2..N));
    set
}

fn crdts_two_writer_set<A: Actor>(actors: &[A; 2]) -> Orswot<u64, A> {
    let mut set = crdts_set(&actors[0], 0..N / 2);
    set.merge(crdts_set(&actors[1], N / 2..N));
    set
}

/// Entry `i` of a 64-replica counter; `flip` makes the other side's entry
/// larger for half the replicas.
fn counter_value(i: u8, flip: bool) -> u64 {
    let i = u64::from(if flip { COUNTER_REPLICAS - 1 - i } else { i });
    1_000 + 7 * i
}

fn rumor_counter(flip: bool) -> GCounter {
    let mut counter = GCounter::new();
    for i in 0..COUNTER_REPLICAS {
        counter.increment(replica(i), counter_value(i, flip));
    }
    counter
}

fn crdts_counter(flip: bool) -> crdts::GCounter<u64> {
    let mut counter = crdts::GCounter::new();
    for i in 0..COUNTER_REPLICAS {
        counter.apply(counter.inc_many(u64::from(i), counter_value(i, flip)));
    }
    counter
}

/// One row of the size table.
struct SizeRow {
    what: &'static str,
    rumor: usize,
    crdts_u64: usize,
    crdts_uuid: usize,
    target: &'static str,
}

/// Encoded sizes for one actor type, in the order of [`rumor_sizes`].
fn crdts_sizes<A: Actor>(actors: &[A; 2]) -> [usize; 5] {
    let mut set = crdts_two_writer_set(actors);
    assert_eq!(set.read().val.len(), N as usize);
    let state = crdts_encoded_len(&set);

    let empty: Orswot<u64, A> = Orswot::new();
    let add_to_empty = empty.add(N, empty.read_ctx().derive_add_ctx(actors[0].clone()));
    let add_to_empty = crdts_encoded_len(&add_to_empty);

    let add = set.add(N, set.read_ctx().derive_add_ctx(actors[0].clone()));
    let add_to_large = crdts_encoded_len(&add);
    set.apply(add);

    let re_add = set.add(7, set.read_ctx().derive_add_ctx(actors[0].clone()));
    let re_add_len = crdts_encoded_len(&re_add);
    set.apply(re_add);

    let remove = set.rm(7, set.contains(&7).derive_rm_ctx());
    let remove_len = crdts_encoded_len(&remove);
    [state, add_to_empty, add_to_large, re_add_len, remove_len]
}

/// Encoded sizes of rumor states and deltas, in the order of [`crdts_sizes`].
fn rumor_sizes() -> [usize; 5] {
    let mut set = rumor_two_writer_set();
    assert_eq!(set.len(), N as usize);
    let state = encoded_len(&set);
    let add_to_empty = encoded_len(&OrSet::new().insert(replica(1), N));
    let add_to_large = encoded_len(&set.insert(replica(1), N));
    let re_add = encoded_len(&set.insert(replica(1), 7));
    let remove = encoded_len(&set.remove(&7));
    [state, add_to_empty, add_to_large, re_add, remove]
}

fn size_rows() -> Vec<SizeRow> {
    let rumor = rumor_sizes();
    let crdts_u64 = crdts_sizes(&[1u64, 2]);
    let crdts_uuid = crdts_sizes(&[replica(1), replica(2)]);
    let labels = [
        (
            "OR-Set state, 100k elements, 2 writers × 50 %",
            "≤ 0.35× Orswot",
        ),
        ("delta of one OR-Set add, empty set", "≤ 48 B"),
        ("delta of one OR-Set add, 100k set", "≤ 48 B"),
        ("delta of one re-add of a present element, 100k set", "—"),
        ("delta of one OR-Set remove, 100k set", "—"),
    ];
    let mut rows: Vec<SizeRow> = labels
        .iter()
        .enumerate()
        .map(|(i, &(what, target))| SizeRow {
            what,
            rumor: rumor[i],
            crdts_u64: crdts_u64[i],
            crdts_uuid: crdts_uuid[i],
            target,
        })
        .collect();

    // G-Counter: rumor's delta is the one entry; crdts' op is a dot.
    let mut counter = rumor_counter(false);
    let mut theirs = crdts_counter(false);
    let uuid_dot = crdts::Dot::new(replica(1), counter_value(1, false) + 1);
    rows.push(SizeRow {
        what: "delta of one G-Counter increment, 64 replicas",
        rumor: encoded_len(&counter.increment(replica(1), 1)),
        crdts_u64: crdts_encoded_len(&theirs.inc(1)),
        crdts_uuid: crdts_encoded_len(&uuid_dot),
        target: "≤ 48 B",
    });
    theirs.apply(theirs.inc(1));
    let mut uuid_counter = crdts::GCounter::new();
    for i in 0..COUNTER_REPLICAS {
        uuid_counter.apply(uuid_counter.inc_many(replica(i), counter_value(i, false)));
    }
    rows.push(SizeRow {
        what: "G-Counter state, 64 replicas",
        rumor: encoded_len(&counter),
        crdts_u64: crdts_encoded_len(&theirs),
        crdts_uuid: crdts_encoded_len(&uuid_counter),
        target: "—",
    });
    // A map of 100k keys, each an OR-Set: one nested add's delta.
    let mut map = rumor_map(replica(1), 0..N);
    let nested_add = map.update(replica(1), N - 1, |set| set.insert(replica(1), 7));
    rows.push(SizeRow {
        what: "delta of one nested OR-Set add, map of 100k keys × 2-element OR-Sets",
        rumor: encoded_len(&nested_add),
        crdts_u64: crdts_nested_add_len(&1u64),
        crdts_uuid: crdts_nested_add_len(&replica(1)),
        target: "≤ 64 B",
    });
    rows
}

/// Prints the size table (sizes are not timings, so criterion does not see them).
fn print_sizes() {
    println!("\nEncoded sizes, bytes (bincode 2, standard config; crdts deltas are its `Op`s)\n");
    println!("| what | rumor | crdts, u64 actor | rumor ÷ crdts | crdts, UUID actor | rumor ÷ crdts | target |");
    println!("|---|--:|--:|--:|--:|--:|---|");
    for row in size_rows() {
        let ratio = |theirs: usize| row.rumor as f64 / theirs as f64;
        println!(
            "| {} | {} | {} | {:.3} | {} | {:.3} | {} |",
            row.what,
            row.rumor,
            row.crdts_u64,
            ratio(row.crdts_u64),
            row.crdts_uuid,
            ratio(row.crdts_uuid),
            row.target,
        );
    }
    println!();
}

/// Replica `n` of many (more than [`replica`] names).
fn writer(n: u32) -> ReplicaId {
    ReplicaId::from_u128(0x5eed_0000_0000_0000_0000_0000_0000_0000 | u128::from(n))
}

/// An LWW map of [`WRITERS`] keys, each written once by its own replica.
/// The writers are not in the keys' order (key `n` is writer `7,919 n mod
/// WRITERS`, a permutation since 7,919 is prime): in a swarm, the agent that
/// owns a key is unrelated to the key, and the encoder's replica table sorts
/// them.
fn rumor_positions() -> LwwMap<u64, u64> {
    let mut map = LwwMap::new();
    for n in 0..WRITERS {
        let who = writer((n * 7_919) % WRITERS);
        let ts = HlcTimestamp::new(1_000_000 + u64::from(n), 0, who);
        map.insert(u64::from(n), u64::from(n) * 7, ts).unwrap();
    }
    map
}

/// An OR-Set of [`WRITERS`] elements, each added by its own replica.
fn rumor_claims() -> OrSet<u64> {
    let mut set = OrSet::new();
    for n in 0..WRITERS {
        set.insert(writer(n), u64::from(n));
    }
    set
}

/// The same OR-Set in `crdts` (`ReplicaId` actors).
fn crdts_claims() -> Orswot<u64, ReplicaId> {
    let mut set = Orswot::new();
    for n in 0..WRITERS {
        let add = set.add(u64::from(n), set.read_ctx().derive_add_ctx(writer(n)));
        set.apply(add);
    }
    set
}

/// Encoding a whole state of many writers (a digest, a full-state sync, a
/// snapshot): `rumor` beside `crdts` for the OR-Set, and the fingerprint
/// (the anti-entropy digest) beside the encoding.
fn bench_encode_many_writers(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode_1000_writers");
    let (positions, claims, orswot) = (rumor_positions(), rumor_claims(), crdts_claims());
    group.bench_function("lww_map/rumor encode", |b| {
        b.iter(|| codec::encode(black_box(&positions)).unwrap());
    });
    group.bench_function("lww_map/rumor fingerprint", |b| {
        b.iter(|| codec::fingerprint(black_box(&positions)).unwrap());
    });
    group.bench_function("orset/rumor encode", |b| {
        b.iter(|| codec::encode(black_box(&claims)).unwrap());
    });
    group.bench_function("orset/rumor fingerprint", |b| {
        b.iter(|| codec::fingerprint(black_box(&claims)).unwrap());
    });
    group.bench_function("orset/crdts encode", |b| {
        b.iter(|| {
            bincode::serde::encode_to_vec(black_box(&orswot), bincode::config::standard()).unwrap()
        });
    });
    group.finish();
}

fn bench_orset_insert(c: &mut Criterion) {
    let mut group = c.benchmark_group("orset_insert_100k_one_replica");
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function("rumor", |b| {
        b.iter_with_large_drop(|| rumor_set(replica(1), 0..N));
    });
    group.bench_function("crdts", |b| {
        b.iter_with_large_drop(|| crdts_set(&1u64, 0..N));
    });
    group.finish();
}

/// Times `join(a.clone(), b.clone())`; both clones are made outside the timing,
/// and the joined result is dropped outside it too.
fn bench_join<S: Clone, T: Clone>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: &str,
    (a, b): (&S, &T),
    size: BatchSize,
    join: impl Fn(&mut S, T),
) {
    group.bench_function(id, |bench| {
        bench.iter_batched(
            || (a.clone(), b.clone()),
            |(mut a, b)| {
                join(&mut a, b);
                a
            },
            size,
        );
    });
}

/// Times rumor's `join(&other)` both alone and followed by dropping `other`: the
/// `crdts` merges take `other` by value and free it, so the second is their like.
fn bench_rumor_joins<S: Crdt>(group: &mut BenchmarkGroup<'_, WallTime>, (a, b): (&S, &S)) {
    let large = BatchSize::LargeInput;
    bench_join(group, "rumor", (a, &b), large, |a, b| a.join(b));
    bench_join(group, "rumor_then_drop_other", (a, b), large, |a, b| {
        a.join(&b);
        drop(b);
    });
}

fn bench_orset_join(c: &mut Criterion) {
    let (lo, hi) = (0..N, N / 2..N + N / 2);
    let a = rumor_set(replica(1), lo.clone());
    let b = rumor_set(replica(2), hi.clone());
    let (ca, cb) = (crdts_set(&1u64, lo.clone()), crdts_set(&2u64, hi.clone()));
    let (ua, ub) = (crdts_set(&replica(1), lo), crdts_set(&replica(2), hi));

    let mut joined = a.clone();
    joined.join(&b);
    let mut merged = ca.clone();
    merged.merge(cb.clone());
    assert_eq!(joined.len(), merged.read().val.len());
    assert_eq!(joined.len(), (N + N / 2) as usize);

    let mut group = c.benchmark_group("orset_join_100k_50pct_overlap");
    group.sampling_mode(SamplingMode::Flat);
    let large = BatchSize::LargeInput;
    bench_rumor_joins(&mut group, (&a, &b));
    bench_join(&mut group, "crdts", (&ca, &cb), large, CvRDT::merge);
    bench_join(
        &mut group,
        "crdts_uuid_actor",
        (&ua, &ub),
        large,
        CvRDT::merge,
    );
    group.finish();
}

fn bench_or_map_join(c: &mut Criterion) {
    let (lo, hi) = (0..N, N / 2..N + N / 2);
    let a = rumor_map(replica(1), lo.clone());
    let b = rumor_map(replica(2), hi.clone());
    let (ca, cb) = (crdts_map(&1u64, lo), crdts_map(&2u64, hi));

    let mut joined = a.clone();
    joined.join(&b);
    let mut merged = ca.clone();
    merged.merge(cb.clone());
    assert_eq!(joined.len(), merged.len().val);
    assert_eq!(joined.len(), (N + N / 2) as usize);

    let mut group = c.benchmark_group("or_map_join_100k_keys_50pct_overlap");
    group.sampling_mode(SamplingMode::Flat);
    let large = BatchSize::LargeInput;
    bench_rumor_joins(&mut group, (&a, &b));
    bench_join(&mut group, "crdts", (&ca, &cb), large, CvRDT::merge);
    group.finish();
}

fn bench_gcounter_join(c: &mut Criterion) {
    let (a, b) = (rumor_counter(false), rumor_counter(true));
    let (ca, cb) = (crdts_counter(false), crdts_counter(true));
    let mut group = c.benchmark_group("gcounter_join_64_replicas");
    group.sample_size(50);
    let small = BatchSize::SmallInput;
    bench_join(&mut group, "rumor", (&a, &&b), small, |a, b| a.join(b));
    bench_join(&mut group, "crdts", (&ca, &cb), small, CvRDT::merge);
    group.finish();
}

fn main() {
    print_sizes();
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();
    bench_orset_insert(&mut c);
    bench_orset_join(&mut c);
    bench_or_map_join(&mut c);
    bench_gcounter_join(&mut c);
    bench_encode_many_writers(&mut c);
    c.final_summary();
}
