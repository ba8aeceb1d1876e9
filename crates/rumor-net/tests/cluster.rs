//! Fifty real nodes on loopback (UDP and TCP, OS-chosen ports, sealed
//! envelopes) converge on concurrent writes, once per CRDT type: every node
//! ends with exactly the value the writes determine; and, with the default
//! gossip settings, how fast the 49 others see one of them leave, or
//! declare it dead after it was killed. The clusters run one after another
//! (a lock), so the machine never holds more than fifty.

mod support;

use std::fmt::Debug;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rumor_crdt::{Crdt, GCounter, HlcTimestamp, LwwMap, LwwRegister, OrSet, PnCounter, ReplicaId};
use rumor_net::{Gossip, GossipHandle, Key, Keyring, State};
use tokio::sync::Mutex;
use tokio::task::JoinSet;
use tokio::time::{sleep, timeout, Instant};

/// Nodes per cluster.
const NODES: usize = 50;

/// The longest a cluster may take to join, or to converge.
const WAIT: Duration = Duration::from_secs(30);

/// One cluster at a time: fifty nodes per test on a shared machine is
/// plenty.
static ONE_CLUSTER_AT_A_TIME: Mutex<()> = Mutex::const_new(());

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Node `index`'s replica id.
fn replica(index: usize) -> ReplicaId {
    ReplicaId::from_u128(index as u128 + 1)
}

async fn node<S: State>(index: usize, seeds: &[SocketAddr]) -> GossipHandle<S> {
    Gossip::builder(replica(index), S::default())
        .bind(loopback())
        .seeds(seeds.iter().copied())
        .keyring(Keyring::new(Key::from_bytes([5; 32])))
        .cluster("cluster-tests")
        .start()
        .await
        .expect("the node starts")
}

/// [`support::eventually_async`] within [`WAIT`].
async fn eventually<F, Fut>(what: &str, condition: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    support::eventually_async(what, WAIT, condition).await
}

/// [`NODES`] nodes (all but the first join through the first), once each
/// holds every other alive.
async fn joined<S: State>() -> Vec<GossipHandle<S>> {
    let first = node::<S>(0, &[]).await;
    let seed = first.local_addr();
    let mut nodes = vec![first];
    for i in 1..NODES {
        nodes.push(node(i, &[seed]).await);
    }
    for node in &nodes {
        eventually("every node to hold every other alive", || async {
            node.members().await.expect("runs").len() == NODES - 1
        })
        .await;
    }
    nodes
}

/// Starts [`NODES`] nodes (all but the first join through the first),
/// waits until each holds every other alive, has node `i` apply
/// `write(i)`, all at once, then waits until every node's `observe` is
/// `expected`, and checks that every node holds the same state. Shuts every
/// node down (dropping the handles stops them too, if an assertion fails
/// first).
async fn fifty_converge<S, W, F, T>(what: &str, write: W, observe: fn(&S) -> T, expected: T)
where
    S: State,
    W: Fn(usize, ReplicaId) -> F,
    F: FnOnce(&mut S) -> S + Send + 'static,
    T: PartialEq + Debug + Clone + Send + 'static,
{
    let _alone = ONE_CLUSTER_AT_A_TIME.lock().await;
    let start = Instant::now();
    let nodes = joined::<S>().await;
    let joined = start.elapsed();

    let start = Instant::now();
    let mut writes = JoinSet::new();
    for (i, node) in nodes.iter().enumerate() {
        let (node, mutate) = (node.clone(), write(i, node.replica()));
        writes.spawn(async move { node.update(mutate).await });
    }
    while let Some(written) = writes.join_next().await {
        written
            .expect("the writer ran")
            .expect("the update applies");
    }
    for node in &nodes {
        eventually(what, || async {
            node.read(observe).await.expect("runs") == expected
        })
        .await;
    }
    let converged = start.elapsed();
    eprintln!("{what}: {NODES} nodes joined in {joined:?}, converged in {converged:?}");

    let reference = nodes[0].read(S::clone).await.expect("runs");
    for node in &nodes {
        assert_eq!(node.read(observe).await.expect("runs"), expected);
        assert_eq!(node.read(S::clone).await.expect("runs"), reference);
        let stats = node.stats().await.expect("runs");
        // Honest traffic is refused only as a duplicate.
        assert_eq!(stats.refused_total(), stats.envelope.replay, "{stats:?}");
    }
    for node in &nodes {
        timeout(WAIT, node.shutdown())
            .await
            .expect("shutdown returns");
    }
}

/// 1 + 2 + ... + n.
const fn triangle(n: u64) -> u64 {
    n * (n + 1) / 2
}

fn wall_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    u64::try_from(since.as_millis()).expect("fits")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_nodes_converge_on_concurrent_counter_increments() {
    fifty_converge(
        "every node to count every increment",
        |i, me| move |s: &mut GCounter| s.increment(me, i as u64 + 1),
        GCounter::value,
        triangle(NODES as u64),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_nodes_converge_on_concurrent_increments_and_decrements() {
    // Node i adds 3(i + 1) and takes i + 1 away, in one write.
    fifty_converge(
        "every node to count every increment and decrement",
        |i, me| {
            move |s: &mut PnCounter| {
                let n = i as u64 + 1;
                let mut delta = s.increment(me, 3 * n);
                delta.join(&s.decrement(me, n));
                delta
            }
        },
        PnCounter::value,
        2 * i128::from(triangle(NODES as u64)),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_nodes_converge_on_the_newest_of_concurrent_register_writes() {
    // Node i writes its index, stamped `base + (37 i mod 50)`: fifty
    // distinct times in an order unrelated to the replica ids.
    let base = wall_ms();
    let offset = |i: usize| (37 * i % NODES) as u64;
    let newest = (0..NODES).max_by_key(|&i| offset(i)).expect("nodes");
    fifty_converge(
        "every node to hold the newest write",
        |i, me| {
            let stamp = HlcTimestamp::new(base + offset(i), 0, me);
            // A write older than one already received loses at once: no
            // delta.
            move |s: &mut LwwRegister<u64>| s.set(i as u64, stamp).unwrap_or_default()
        },
        |s: &LwwRegister<u64>| s.get().copied(),
        Some(newest as u64),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_nodes_converge_on_concurrent_writes_to_their_own_map_keys() {
    let now = wall_ms();
    let value = |i: usize| i as u64 * 1_000 + 7;
    fifty_converge(
        "every node to hold every key",
        |i, me| {
            let stamp = HlcTimestamp::new(now, 0, me);
            move |s: &mut LwwMap<u32, u64>| {
                let key = u32::try_from(i).expect("small");
                s.insert(key, value(i), stamp).expect("a new key")
            }
        },
        |s: &LwwMap<u32, u64>| s.iter().map(|(&k, &v)| (k, v)).collect::<Vec<_>>(),
        (0..NODES)
            .map(|i| (u32::try_from(i).expect("small"), value(i)))
            .collect(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_nodes_converge_on_the_union_of_concurrent_set_inserts() {
    // Each node inserts its index, and every node inserts 7,777 too.
    const SHARED: u32 = 7_777;
    fifty_converge(
        "every node to hold the union",
        |i, me| {
            move |s: &mut OrSet<u32>| {
                let mut delta = s.insert(me, u32::try_from(i).expect("small"));
                delta.join(&s.insert(me, SHARED));
                delta
            }
        },
        |s: &OrSet<u32>| {
            let mut all: Vec<u32> = s.iter().copied().collect();
            all.sort_unstable();
            all
        },
        (0..u32::try_from(NODES).expect("small"))
            .chain([SHARED])
            .collect(),
    )
    .await;
}

/// Waits until none of `nodes` holds `gone` alive; returns when the first
/// and when the last dropped it, from `start`.
async fn all_drop(
    nodes: &[GossipHandle<OrSet<u32>>],
    gone: SocketAddr,
    start: Instant,
) -> (Duration, Duration) {
    let mut dropped: Vec<Option<Duration>> = vec![None; nodes.len()];
    while dropped.iter().any(Option::is_none) {
        for (node, when) in nodes.iter().zip(&mut dropped) {
            if when.is_none() && !node.members().await.expect("runs").contains(&gone) {
                *when = Some(start.elapsed());
            }
        }
        let left = dropped.iter().filter(|when| when.is_none()).count();
        assert!(
            start.elapsed() < WAIT,
            "{left} nodes still hold the member after {WAIT:?}"
        );
        sleep(Duration::from_millis(1)).await;
    }
    let times = dropped.into_iter().flatten();
    let (first, last) = times.fold((Duration::MAX, Duration::ZERO), |(lo, hi), t| {
        (lo.min(t), hi.max(t))
    });
    (first, last)
}

async fn shutdown(nodes: &[GossipHandle<OrSet<u32>>]) {
    for node in nodes {
        timeout(WAIT, node.shutdown())
            .await
            .expect("shutdown returns");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leave_is_seen_by_the_forty_nine_others_within_a_second() {
    let _alone = ONE_CLUSTER_AT_A_TIME.lock().await;
    let nodes = joined::<OrSet<u32>>().await;
    let (others, leaver) = nodes.split_at(NODES - 1);
    let gone = leaver[0].local_addr();
    let start = Instant::now();
    timeout(WAIT, leaver[0].leave())
        .await
        .expect("leave returns")
        .expect("the node runs");
    let (first, took) = all_drop(others, gone, start).await;
    eprintln!(
        "a leave was seen by all {} others {took:?} after it was called (by the first {first:?})",
        others.len()
    );
    assert!(took < Duration::from_secs(1), "{took:?}");
    shutdown(&nodes).await;
}

/// Kills (shuts down without a leave) one of [`NODES`] joined nodes;
/// returns how long until the last of the others declared it dead.
async fn kill_one_of_fifty() -> Duration {
    let _alone = ONE_CLUSTER_AT_A_TIME.lock().await;
    let nodes = joined::<OrSet<u32>>().await;
    let (others, killed) = nodes.split_at(NODES - 1);
    let gone = killed[0].local_addr();
    let start = Instant::now();
    // No leave: the node stops answering, as after a crash.
    shutdown(killed).await;
    let (first, took) = all_drop(others, gone, start).await;
    eprintln!(
        "a killed node was declared dead by all {} others in {took:?} (by the first in {first:?})",
        others.len()
    );
    shutdown(others).await;
    took
}

/// The issue asks for 2 s. With the default config, 50 nodes took 1.2 to
/// 5.1 s in 15 runs on a 2-core machine (median 1.4 s, 5 runs over 2 s)
/// when the killed node was the last to join: every other node's probe
/// cycle (49 probe periods, 10 s) had been drawn before it joined, and
/// joiners waited for the next cycle. Since cycles take joiners in at
/// random places (`tests/failure_detection.rs` has the simulator's
/// regression test), 15 runs took 1.19 to 1.99 s (median 1.39 s): the
/// first member declares it dead after about 1.0 s (a probe period to
/// notice, then `suspicion_mult × log₁₀51` = 1.7 probe periods, more with
/// few confirmations), and spreading the death to all takes another 0.2
/// to 0.5 s. The bound here leaves room for a loaded machine; the
/// measurement is the claim. (5 nodes: 0.7 to 1.0 s, `tests/faults.rs`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_is_declared_dead_by_the_forty_nine_others_within_about_two_seconds() {
    let took = kill_one_of_fifty().await;
    assert!(took < Duration::from_secs(3), "{took:?}");
}
