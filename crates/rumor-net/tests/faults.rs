//! Membership under faults on real sockets (loopback, OS-chosen ports,
//! sealed envelopes, the builder's default gossip settings:
//! `Config::default()` with `Strategy::Eager`): how fast a leave and a
//! crash are seen by every other member, and a partition made by dropping
//! every datagram between two nodes, which heals by itself once the
//! datagrams flow again.

mod relay;

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use relay::{start_bound, Relay};
use rumor_crdt::{OrSet, ReplicaId};
use rumor_net::{Gossip, GossipBuilder, GossipHandle, Key, Keyring};
use tokio::time::{timeout, Instant};

type Set = OrSet<u32>;

/// The longest any single wait in these tests may take.
const WAIT: Duration = Duration::from_secs(10);

/// Members in the timing tests.
const NODES: u128 = 5;

fn builder(id: u128) -> GossipBuilder<Set> {
    Gossip::builder(ReplicaId::from_u128(id), Set::new())
        .keyring(Keyring::new(Key::from_bytes([8; 32])))
        .cluster("fault-tests")
}

use support::eventually_async as eventually;

async fn members(node: &GossipHandle<Set>) -> Vec<SocketAddr> {
    node.members().await.expect("the node runs")
}

async fn len(node: &GossipHandle<Set>) -> usize {
    node.read(|s| s.len()).await.expect("the node runs")
}

async fn shutdown(nodes: &[GossipHandle<Set>]) {
    for node in nodes {
        timeout(WAIT, node.shutdown())
            .await
            .expect("shutdown returns");
    }
}

/// [`NODES`] nodes on `127.0.0.1`, all but the first joined through the
/// first, once every node holds every other alive.
async fn joined() -> Vec<GossipHandle<Set>> {
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let first = builder(1).bind(loopback).start().await.expect("starts");
    let seed = first.local_addr();
    let mut nodes = vec![first];
    for id in 2..=NODES {
        let node = builder(id).bind(loopback).seeds([seed]).start();
        nodes.push(node.await.expect("starts"));
    }
    for node in &nodes {
        eventually("every node to hold every other alive", WAIT, || async {
            members(node).await.len() == nodes.len() - 1
        })
        .await;
    }
    nodes
}

/// Waits until none of `nodes` holds `gone` alive; returns how long that
/// took.
async fn all_drop(nodes: &[GossipHandle<Set>], gone: SocketAddr, within: Duration) -> Duration {
    eventually("every other node to drop the member", within, || async {
        for node in nodes {
            if members(node).await.contains(&gone) {
                return false;
            }
        }
        true
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leave_is_seen_by_every_member_within_a_second() {
    let nodes = joined().await;
    let (others, leaver) = nodes.split_at(nodes.len() - 1);
    let gone = leaver[0].local_addr();
    let start = Instant::now();
    let dropped = async {
        // Measured from the call: `leave` returns once its announcement has
        // left the send queue.
        timeout(WAIT, leaver[0].leave())
            .await
            .expect("leave returns")
            .expect("the node runs");
        all_drop(others, gone, WAIT).await;
        start.elapsed()
    };
    let took = dropped.await;
    eprintln!(
        "a leave was seen by all {} others {took:?} after it was called",
        others.len()
    );
    assert!(took < Duration::from_secs(1), "{took:?}");
    shutdown(&nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_is_declared_dead_by_every_member_within_two_seconds() {
    let nodes = joined().await;
    let (others, killed) = nodes.split_at(nodes.len() - 1);
    let gone = killed[0].local_addr();
    let start = Instant::now();
    // No leave: the node stops answering, as after a crash.
    shutdown(killed).await;
    let took = all_drop(others, gone, WAIT).await;
    let took = took.max(start.elapsed());
    eprintln!(
        "a killed node was declared dead by all {} others in {took:?}",
        others.len()
    );
    assert!(took < Duration::from_secs(2), "{took:?}");
    shutdown(others).await;
}

/// A node advertising `advertise`, bound to a free port; and that port.
async fn behind_relay(
    id: u128,
    advertise: SocketAddr,
    seeds: &[SocketAddr],
) -> (GossipHandle<Set>, SocketAddr) {
    start_bound(|| {
        builder(id)
            .advertise(advertise)
            .seeds(seeds.iter().copied())
    })
    .await
}

async fn insert(node: &GossipHandle<Set>, element: u32) {
    let me = node.replica();
    node.update(move |s| s.insert(me, element))
        .await
        .expect("the update applies");
}

async fn elements(node: &GossipHandle<Set>) -> Vec<u32> {
    let mut all = node
        .read(|s| s.iter().copied().collect::<Vec<_>>())
        .await
        .expect("the node runs");
    all.sort_unstable();
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_made_by_dropping_datagrams_heals_by_itself() {
    let mut relay = Relay::bind().await;
    let (a, a_bound) = behind_relay(1, relay.to_a(), &[]).await;
    let (b, b_bound) = behind_relay(2, relay.to_b(), &[relay.to_a()]).await;
    relay.start(a_bound, b_bound);
    let both =
        || async { members(&a).await == [relay.to_b()] && members(&b).await == [relay.to_a()] };
    eventually("a and b to join through the relay", WAIT, both).await;
    insert(&a, 1).await;
    insert(&b, 2).await;
    eventually("a and b to converge", WAIT, || async {
        len(&a).await == 2 && len(&b).await == 2
    })
    .await;

    relay.cut();
    let cut = Instant::now();
    insert(&a, 10).await;
    insert(&b, 20).await;
    let dead = eventually("each side to declare the other dead", WAIT, || async {
        members(&a).await.is_empty() && members(&b).await.is_empty()
    })
    .await;
    assert_eq!(elements(&a).await, [1, 2, 10], "nothing crossed the cut");
    assert_eq!(elements(&b).await, [1, 2, 20], "nothing crossed the cut");
    assert!(relay.dropped() > 0);
    eprintln!("across the cut, each side declared the other dead in {dead:?}");

    relay.mend();
    let healed = eventually("the partition to heal by itself", WAIT, || async {
        both().await && elements(&a).await == [1, 2, 10, 20] && elements(&b).await == [1, 2, 10, 20]
    })
    .await;
    eprintln!(
        "the partition healed {healed:?} after the datagrams flowed again ({:?} after the cut)",
        cut.elapsed()
    );
    shutdown(&[a, b]).await;
}
