//! The tokio runtime end to end, on loopback with OS-chosen ports: nodes
//! started with `Gossip::builder` converge, publish their changes, refuse a
//! node with the wrong key, carry a delta larger than a datagram, and see a
//! member leave. Every wait is bounded; every node is shut down.

mod support;

use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_core::Stream;
use rumor_crdt::{Crdt, OrSet, ReplicaId};
use rumor_gossip::{TreePlace, ViewConfig};
use rumor_net::{
    Change, Gossip, GossipError, GossipHandle, Key, Keyring, MemoryConfig, MemoryNetwork,
    CHANGE_CAPACITY,
};
use tokio::time::{sleep, timeout, Instant};

type Set = OrSet<u32>;

/// The longest any single wait in these tests may take.
const WAIT: Duration = Duration::from_secs(10);

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn keyring(byte: u8) -> Keyring {
    Keyring::new(Key::from_bytes([byte; 32]))
}

/// A node on loopback, joining through `seeds`, sealing with `key`.
async fn node(id: u128, seeds: &[SocketAddr], key: u8) -> GossipHandle<Set> {
    Gossip::builder(ReplicaId::from_u128(id), Set::new())
        .bind(loopback())
        .seeds(seeds.iter().copied())
        .keyring(keyring(key))
        .cluster("runtime-tests")
        .start()
        .await
        .expect("the node starts")
}

/// `n` nodes with the same key; all but the first join through the first.
async fn cluster(n: u128) -> Vec<GossipHandle<Set>> {
    let first = node(1, &[], 1).await;
    let seed = first.local_addr();
    let mut nodes = vec![first];
    for id in 2..=n {
        nodes.push(node(id, &[seed], 1).await);
    }
    nodes
}

/// [`cluster`], once every node holds every other alive.
async fn joined(n: u128) -> Vec<GossipHandle<Set>> {
    let nodes = cluster(n).await;
    all_know_each_other(&nodes).await;
    nodes
}

/// Waits until every node holds every other alive.
async fn all_know_each_other(nodes: &[GossipHandle<Set>]) {
    for node in nodes {
        eventually("every node to know every other", WAIT, || async {
            members(node).await.len() == nodes.len() - 1
        })
        .await;
    }
}

/// Node `i` inserts `i`.
async fn each_writes_its_index(nodes: &[GossipHandle<Set>]) {
    for (i, node) in nodes.iter().enumerate() {
        let me = node.replica();
        let element = u32::try_from(i).expect("small");
        node.update(move |s| s.insert(me, element))
            .await
            .expect("the update applies");
    }
}

use support::eventually_async as eventually;

/// Inserts `0..n` in one update (one delta); returns it.
async fn insert_many(node: &GossipHandle<Set>, n: u32) -> Arc<Set> {
    let me = node.replica();
    node.update(move |s| {
        let mut delta = Set::new();
        for e in 0..n {
            delta.join(&s.insert(me, e));
        }
        delta
    })
    .await
    .expect("applies")
}

async fn len(node: &GossipHandle<Set>) -> usize {
    node.read(|s| s.len()).await.expect("the node runs")
}

async fn members(node: &GossipHandle<Set>) -> Vec<SocketAddr> {
    node.members().await.expect("the node runs")
}

use support::shutdown_all as shutdown;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_converge_on_concurrent_writes() {
    let nodes = cluster(5).await;
    let start = Instant::now();
    each_writes_its_index(&nodes).await;
    for node in &nodes {
        eventually("every node to hold all 5 elements", WAIT, || async {
            len(node).await == 5
        })
        .await;
    }
    let converged = start.elapsed();
    assert!(
        converged < Duration::from_secs(5),
        "converged in {converged:?}"
    );
    eprintln!("5 nodes converged in {converged:?}");
    for node in &nodes {
        let all: Vec<u32> = node
            .read(|s| {
                let mut v: Vec<u32> = s.iter().copied().collect();
                v.sort_unstable();
                v
            })
            .await
            .expect("the node runs");
        assert_eq!(all, vec![0, 1, 2, 3, 4]);
        let stats = node.stats().await.expect("the node runs");
        assert!(stats.messages_in > 0 && stats.messages_out > 0, "{stats:?}");
        assert_eq!(stats.refused_total(), stats.envelope.replay, "{stats:?}");
    }
    shutdown(&nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_sees_a_remote_write_as_its_delta() {
    let nodes = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let mut changes = b.subscribe();
    let me = a.replica();
    let written = a.update(move |s| s.insert(me, 42)).await.expect("applies");
    assert!(written.contains(&42), "update returns the delta");
    let seen = timeout(WAIT, async {
        loop {
            match changes.recv().await {
                Some(Change::Delta(delta)) if delta.contains(&42) => return delta,
                Some(_) => {}
                None => panic!("the subscription ended"),
            }
        }
    })
    .await
    .expect("the change arrives");
    assert_eq!(seen.len(), 1, "the delta carries what changed: {seen:?}");
    shutdown(&nodes).await;
    // Subscriptions end with the node.
    let ended = timeout(WAIT, async { while changes.recv().await.is_some() {} }).await;
    assert!(ended.is_ok(), "the subscription ends at shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_the_wrong_key_is_ignored_and_counted() {
    let nodes = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let stranger = node(99, &[a.local_addr()], 2).await;
    let me = stranger.replica();
    stranger
        .update(move |s| s.insert(me, 666))
        .await
        .expect("applies locally");
    let me = a.replica();
    a.update(move |s| s.insert(me, 1)).await.expect("applies");
    eventually("b to get a's write", WAIT, || async { len(b).await == 1 }).await;
    eventually("a to count the stranger's refusals", WAIT, || async {
        a.stats().await.expect("runs").envelope.unknown_key > 0
    })
    .await;
    // Give the stranger time to try a few rounds more.
    sleep(Duration::from_millis(500)).await;
    for node in [a, b] {
        assert!(!node.read(|s| s.contains(&666)).await.expect("runs"));
        assert!(!members(node).await.contains(&stranger.local_addr()));
    }
    assert!(!stranger.read(|s| s.contains(&1)).await.expect("runs"));
    let stats = a.stats().await.expect("runs");
    assert_eq!(stats.envelope.rejected_total(), stats.refused_total());
    assert!(stats.refused_total() >= stats.envelope.unknown_key);
    shutdown(&nodes).await;
    shutdown(&[stranger]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delta_larger_than_a_datagram_arrives_whole_over_tcp() {
    let nodes = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    // Both know each other first, so the eager push goes straight to b.
    eventually("a and b to know each other", WAIT, || async {
        members(a).await.contains(&b.local_addr()) && members(b).await.contains(&a.local_addr())
    })
    .await;
    let start = Instant::now();
    let delta = insert_many(a, 2_000).await;
    assert_eq!(delta.len(), 2_000);
    let took = eventually("b to hold all 2,000 elements", WAIT, || async {
        len(b).await == 2_000
    })
    .await;
    eprintln!(
        "2,000-element delta arrived in {:?} ({took:?} of polling)",
        start.elapsed()
    );
    let stats = b.stats().await.expect("runs");
    assert!(stats.transport.frames_in > 0, "it came over TCP: {stats:?}");
    // The sender counts a frame once its write returns, which may be after
    // the receiver has it.
    eventually("a to count the frame it sent", WAIT, || async {
        a.stats().await.expect("runs").transport.frames_out > 0
    })
    .await;
    shutdown(&nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_others_see_a_member_leave_and_shutdown_returns() {
    let nodes = joined(3).await;
    let leaver = &nodes[2];
    let gone = leaver.local_addr();
    let start = Instant::now();
    timeout(WAIT, leaver.leave())
        .await
        .expect("leave returns")
        .expect("the node runs");
    eventually(
        "the others to drop the member",
        Duration::from_secs(2),
        || async {
            !members(&nodes[0]).await.contains(&gone) && !members(&nodes[1]).await.contains(&gone)
        },
    )
    .await;
    eprintln!(
        "a leave was seen by both others {:?} after it was called",
        start.elapsed()
    );
    let me = leaver.replica();
    assert!(leaver.update(move |s| s.insert(me, 1)).await.is_err());
    shutdown(&nodes).await;
    assert!(nodes[0].members().await.is_err(), "the node has stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_is_marked_dead_by_the_others() {
    let nodes = joined(3).await;
    let killed = nodes[2].local_addr();
    timeout(WAIT, nodes[2].shutdown())
        .await
        .expect("shutdown returns");
    let took = eventually("the others to declare it dead", WAIT, || async {
        !members(&nodes[0]).await.contains(&killed) && !members(&nodes[1]).await.contains(&killed)
    })
    .await;
    eprintln!("a killed node was dropped by both others in {took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    shutdown(&nodes[..2]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_rotates_its_key_without_downtime() {
    let nodes = joined(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let old = Key::from_bytes([1; 32]).id();
    let new = Key::from_bytes([3; 32]);
    // Install everywhere, then use everywhere, then remove everywhere.
    for node in [a, b] {
        assert_eq!(
            node.install_key(new.clone()).await.expect("installs"),
            new.id()
        );
    }
    for node in [a, b] {
        node.use_key(new.id()).await.expect("uses");
    }
    let me = a.replica();
    a.update(move |s| s.insert(me, 1)).await.expect("applies");
    eventually("b to get a's write under the new key", WAIT, || async {
        len(b).await == 1
    })
    .await;
    for node in [a, b] {
        node.remove_key(old).await.expect("removes");
        let keys = node.keys().await.expect("keys");
        assert_eq!(keys.len(), 1);
        assert!(keys[0].primary && keys[0].id == new.id(), "{keys:?}");
    }
    let me = b.replica();
    b.update(move |s| s.insert(me, 2)).await.expect("applies");
    eventually(
        "a to get b's write after the old key is gone",
        WAIT,
        || async { len(a).await == 2 },
    )
    .await;
    assert!(members(a).await.contains(&b.local_addr()));
    // The key in use cannot be removed; a node with only the old key is
    // refused.
    assert!(a.remove_key(new.id()).await.is_err());
    let outdated = node(9, &[a.local_addr()], 1).await;
    eventually("a to refuse the outdated node", WAIT, || async {
        a.stats().await.expect("runs").envelope.unknown_key > 0
    })
    .await;
    shutdown(&nodes).await;
    shutdown(&[outdated]).await;
}

#[tokio::test]
async fn plaintext_is_only_chosen_by_name() {
    let unsecured = Gossip::builder(ReplicaId::from_u128(1), Set::new())
        .bind(loopback())
        .start()
        .await;
    assert!(matches!(unsecured, Err(GossipError::NoSecurity)));
    let plain = Gossip::builder(ReplicaId::from_u128(1), Set::new())
        .bind(loopback())
        .plaintext()
        .start()
        .await
        .expect("starts in plaintext when asked");
    assert!(matches!(plain.keys().await, Err(GossipError::Plaintext)));
    shutdown(&[plain]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_cluster_sends_only_its_rounds() {
    let nodes = joined(3).await;
    let before = nodes[0].stats().await.expect("runs").messages_out;
    sleep(Duration::from_secs(1)).await;
    let sent = nodes[0].stats().await.expect("runs").messages_out - before;
    // 10 rounds of 100 ms and 5 probes of 200 ms, with their answers: tens
    // of messages, not a spinning timer's thousands.
    eprintln!("an idle node sent {sent} messages in 1 s");
    assert!(sent < 200, "{sent} messages in 1 s");
    shutdown(&nodes).await;
}

/// A node on `addr` (a port known in advance).
async fn node_at(id: u128, addr: SocketAddr, seeds: &[SocketAddr]) -> GossipHandle<Set> {
    Gossip::builder(ReplicaId::from_u128(id), Set::new())
        .bind(addr)
        .seeds(seeds.iter().copied())
        .keyring(keyring(1))
        .cluster("runtime-tests")
        .start()
        .await
        .expect("the node starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_keeps_trying_a_seed_that_starts_later() {
    // A free port for the seed: bound once, then released.
    let probe = node(1, &[], 1).await;
    let seed = probe.local_addr();
    shutdown(&[probe]).await;
    let b = node(2, &[seed], 1).await;
    let me = b.replica();
    b.update(move |s| s.insert(me, 2)).await.expect("applies");
    eventually("b to give the seed up as dead", WAIT, || async {
        members(&b).await.is_empty()
    })
    .await;
    let a = node_at(1, seed, &[]).await;
    let start = Instant::now();
    eventually("a and b to find each other and converge", WAIT, || async {
        len(&a).await == 1 && members(&a).await.contains(&b.local_addr())
    })
    .await;
    eprintln!(
        "a seed that started late was joined in {:?}",
        start.elapsed()
    );
    shutdown(&[a, b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_is_taken_back() {
    let nodes = joined(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let addr = b.local_addr();
    shutdown(&nodes[1..]).await;
    eventually("a to drop b", WAIT, || async {
        !members(a).await.contains(&addr)
    })
    .await;
    // A new life without the old state: a new replica id, so its dots
    // cannot collide with the old life's.
    let b = node_at(3, addr, &[a.local_addr()]).await;
    let me = b.replica();
    b.update(move |s| s.insert(me, 7)).await.expect("applies");
    let start = Instant::now();
    eventually("a to take b back and get its write", WAIT, || async {
        members(a).await.contains(&addr) && len(a).await == 1
    })
    .await;
    eprintln!("a restarted node was taken back in {:?}", start.elapsed());
    shutdown(&[nodes[0].clone(), b]).await;
}

#[tokio::test]
async fn a_lagging_subscriber_learns_how_many_it_missed_and_resumes_from_its_copy() {
    let nodes = cluster(1).await;
    let a = &nodes[0];
    let mut changes = a.subscribe();
    let me = a.replica();
    // A subscriber that does not read never blocks an update.
    let write = |e: u32| async move {
        timeout(WAIT, a.update(move |s| s.insert(me, e)))
            .await
            .expect("the update returns")
    };
    write(0).await.expect("applies");
    // A copy kept by joining each delta, through the `Stream` interface.
    let mut copy = Set::new();
    let next = poll_fn(|cx| Pin::new(&mut changes).poll_next(cx));
    let Some(Change::Delta(delta)) = timeout(WAIT, next).await.expect("a change") else {
        panic!("the first write");
    };
    copy.join(&delta);
    let writes = u32::try_from(CHANGE_CAPACITY).expect("small") + 10;
    for e in 1..=writes {
        write(e).await.expect("applies");
    }
    let lagged = timeout(WAIT, changes.recv()).await.expect("a change");
    assert_eq!(lagged, Some(Change::Lagged(10)));
    let (missed, mut changes) = a
        .subscribe_since(copy.context())
        .await
        .expect("the node runs");
    copy.join(&missed);
    assert_eq!(
        copy.len(),
        1 + CHANGE_CAPACITY + 10,
        "one delta brings it all"
    );
    write(writes + 1).await.expect("applies");
    let next = timeout(WAIT, changes.recv()).await.expect("a change");
    let Some(Change::Delta(delta)) = next else {
        panic!("the write after the resume, got {next:?}");
    };
    copy.join(&delta);
    let state = a.read(Set::clone).await.expect("the node runs");
    assert_eq!(copy, state);
    shutdown(&nodes).await;
    let end = timeout(WAIT, changes.recv()).await.expect("ends");
    assert_eq!(end, None, "the stream ends at shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_given_by_name_is_resolved_and_joined() {
    let a = node(1, &[], 1).await;
    let b = Gossip::builder(ReplicaId::from_u128(2), Set::new())
        .bind(loopback())
        .seed_hosts([format!("localhost:{}", a.local_addr().port())])
        .keyring(keyring(1))
        .cluster("runtime-tests")
        .start()
        .await
        .expect("the node starts");
    let me = b.replica();
    b.update(move |s| s.insert(me, 5)).await.expect("applies");
    eventually("a and b to find each other and converge", WAIT, || async {
        members(&b).await.contains(&a.local_addr()) && len(&a).await == 1
    })
    .await;
    shutdown(&[a, b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_every_handle_stops_the_node_and_frees_its_port() {
    let a = node(1, &[], 1).await;
    let addr = a.local_addr();
    let copy = a.clone();
    drop(a);
    assert!(
        copy.members().await.is_ok(),
        "a handle left keeps it running"
    );
    drop(copy);
    let start = Instant::now();
    let again = loop {
        let started = Gossip::builder(ReplicaId::from_u128(2), Set::new())
            .bind(addr)
            .keyring(keyring(1))
            .start()
            .await;
        match started {
            Ok(node) => break node,
            Err(GossipError::Bind(_)) if start.elapsed() < WAIT => {
                sleep(Duration::from_millis(5)).await;
            }
            Err(error) => panic!("the port stays taken: {error}"),
        }
    };
    assert_eq!(again.local_addr(), addr);
    shutdown(&[again]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_datagrams_are_counted_and_the_node_goes_on() {
    let nodes = joined(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let socket = tokio::net::UdpSocket::bind(loopback())
        .await
        .expect("a socket");
    for junk in [&b"not a rumor envelope"[..], &[0; 3], &[0xff; 1_200]] {
        socket.send_to(junk, a.local_addr()).await.expect("sent");
    }
    eventually("a to count 3 refusals", WAIT, || async {
        let stats = a.stats().await.expect("runs");
        stats.envelope.bad_magic + stats.envelope.too_short >= 3
    })
    .await;
    let me = b.replica();
    b.update(move |s| s.insert(me, 1)).await.expect("applies");
    eventually("a to still take b's writes", WAIT, || async {
        len(a).await == 1
    })
    .await;
    shutdown(&nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_joins_late_catches_up_on_a_large_state() {
    let a = node(1, &[], 1).await;
    insert_many(&a, 2_000).await;
    let start = Instant::now();
    let b = node(2, &[a.local_addr()], 1).await;
    eventually("b to catch up on all 2,000 elements", WAIT, || async {
        len(&b).await == 2_000
    })
    .await;
    eprintln!(
        "a late joiner caught up on 2,000 elements in {:?}",
        start.elapsed()
    );
    assert_eq!(
        b.read(Set::clone).await.expect("runs"),
        a.read(Set::clone).await.expect("runs")
    );
    shutdown(&[a, b]).await;
}

/// Two nodes built by `builder` advertise an address on `ip`, and, the
/// second seeded with the first's advertised address, converge on a write
/// of each.
async fn pair_converges(
    ip: std::net::IpAddr,
    builder: impl Fn(u128) -> rumor_net::GossipBuilder<Set>,
) {
    let a = builder(1).start().await.expect("starts");
    assert_eq!(a.local_addr().ip(), ip);
    assert_ne!(a.local_addr().port(), 0);
    let b = builder(2)
        .seeds([a.local_addr()])
        .start()
        .await
        .expect("starts");
    for node in [&a, &b] {
        let me = node.replica();
        let element = u32::try_from(me.as_u128()).expect("small");
        node.update(move |s| s.insert(me, element))
            .await
            .expect("applies");
    }
    for node in [&a, &b] {
        eventually("both writes everywhere", WAIT, || async {
            len(node).await == 2
        })
        .await;
    }
    shutdown(&[a, b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_bound_to_every_interface_advertises_the_address_given() {
    pair_converges(loopback().ip(), |id| {
        Gossip::builder(ReplicaId::from_u128(id), Set::new())
            .bind(SocketAddr::from(([0, 0, 0, 0], 0)))
            .advertise(loopback())
            .keyring(keyring(1))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_converge_over_ipv6() {
    let v6 = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0));
    if std::net::UdpSocket::bind(v6).is_err() {
        eprintln!("no IPv6 loopback here: nothing to check");
        return;
    }
    pair_converges(v6.ip(), |id| {
        Gossip::builder(ReplicaId::from_u128(id), Set::new())
            .bind(v6)
            .keyring(keyring(1))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sides_of_a_healed_partition_converge_in_memory() {
    let network = MemoryNetwork::new(MemoryConfig::default()).expect("a network");
    let on_network = |id: u128, seeds: Vec<SocketAddr>| {
        Gossip::builder(ReplicaId::from_u128(id), Set::new())
            .memory(&network)
            .seeds(seeds)
            .keyring(keyring(1))
            .start()
    };
    let a = on_network(1, vec![]).await.expect("starts");
    let b = on_network(2, vec![a.local_addr()]).await.expect("starts");
    let c = on_network(3, vec![a.local_addr()]).await.expect("starts");
    let nodes = [a, b, c];
    all_know_each_other(&nodes).await;
    let lonely = nodes[2].local_addr();
    for other in [nodes[0].local_addr(), nodes[1].local_addr()] {
        network.partition(lonely, other);
    }
    each_writes_its_index(&nodes).await;
    eventually("a and b to share their writes", WAIT, || async {
        len(&nodes[0]).await == 2 && len(&nodes[1]).await == 2
    })
    .await;
    sleep(Duration::from_millis(300)).await;
    assert_eq!(len(&nodes[2]).await, 1, "c is cut off");
    network.heal();
    let start = Instant::now();
    for node in &nodes {
        eventually("every node to hold all 3 writes", WAIT, || async {
            len(node).await == 3
        })
        .await;
    }
    eprintln!("a healed partition converged in {:?}", start.elapsed());
    shutdown(&nodes).await;
}

/// A node that signs its writes ([`GossipBuilder::identity`]), on loopback.
async fn signed_node(secret: u8, seeds: &[SocketAddr]) -> GossipHandle<Set> {
    Gossip::builder(ReplicaId::from_u128(1), Set::new())
        .identity(rumor_gossip::Identity::from_secret([secret; 32]))
        .bind(loopback())
        .seeds(seeds.iter().copied())
        .keyring(keyring(1))
        .cluster("runtime-tests")
        .start()
        .await
        .expect("the node starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_nodes_converge_and_refuse_an_eager_write_in_another_replicas_name() {
    let first = signed_node(1, &[]).await;
    let seed = first.local_addr();
    let nodes = vec![
        first,
        signed_node(2, &[seed]).await,
        signed_node(3, &[seed]).await,
    ];
    // Each writes as the replica id of its key, not the one it was built with.
    let ids: Vec<ReplicaId> = nodes.iter().map(GossipHandle::replica).collect();
    assert!(!ids.contains(&ReplicaId::from_u128(1)));
    assert_eq!(
        ids[0],
        rumor_gossip::Identity::from_secret([1; 32]).replica_id()
    );
    all_know_each_other(&nodes).await;
    each_writes_its_index(&nodes).await;
    for node in &nodes {
        eventually("every node to hold all 3 elements", WAIT, || async {
            len(node).await == 3
        })
        .await;
        let stats = node.stats().await.expect("the node runs");
        assert_eq!(stats.bounds.seals, 0, "an honest cluster refuses nothing");
    }
    // Node 0 writes in another replica's name: its signed delta's writes do
    // not name its key's replica id, and the others refuse it on the eager path.
    nodes[0]
        .update(|s| s.insert(ReplicaId::from_u128(99), 99))
        .await
        .expect("applies locally");
    for node in &nodes[1..] {
        eventually("the forged write to be refused", WAIT, || async {
            node.stats().await.expect("the node runs").bounds.seals >= 1
        })
        .await;
    }
    shutdown(&nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_policy_refuses_an_element_its_writer_does_not_own() {
    // Element x may be added only by the node whose key is [x; 32].
    let owner = |x: u32| rumor_gossip::Identity::from_secret([x as u8; 32]).replica_id();
    let start = |secret: u8, seeds: Vec<SocketAddr>| async move {
        Gossip::builder(ReplicaId::from_u128(1), Set::new())
            .identity(rumor_gossip::Identity::from_secret([secret; 32]))
            .write_policy(move |delta: &Set, author| {
                delta.iter().all(|x| {
                    delta
                        .dots(x)
                        .iter()
                        .all(|d| d.replica == owner(*x) && author.is_none_or(|a| a == d.replica))
                })
            })
            .bind(loopback())
            .seeds(seeds)
            .keyring(keyring(1))
            .cluster("runtime-tests")
            .start()
            .await
            .expect("the node starts")
    };
    let first = start(1, Vec::new()).await;
    let seed = first.local_addr();
    let nodes = vec![first, start(2, vec![seed]).await];
    all_know_each_other(&nodes).await;
    let tree = nodes[0].tree().await.expect("the node runs");
    assert_eq!(tree, None, "no rooted tree over full views");
    let me = nodes[0].replica();
    nodes[0]
        .update(move |s| s.insert(me, 1))
        .await
        .expect("applies");
    eventually("node 2 to take node 1's own element", WAIT, || async {
        len(&nodes[1]).await == 1
    })
    .await;
    // Node 1 adds element 2, which only node 2 may add.
    nodes[0]
        .update(move |s| s.insert(me, 2))
        .await
        .expect("applies locally");
    eventually("node 2 to refuse it", WAIT, || async {
        nodes[1].stats().await.expect("runs").bounds.writes >= 1
    })
    .await;
    assert_eq!(len(&nodes[1]).await, 1);
    shutdown(&nodes).await;
}

/// With partial views, 30 nodes that each join through the one started
/// before them end with a few links each (never every member), and every
/// node's write reaches all 30 over those links.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_nodes_over_partial_views_keep_a_few_links_each_and_converge() {
    const N: usize = 30;
    let view = ViewConfig::default();
    let mut nodes: Vec<GossipHandle<Set>> = Vec::with_capacity(N);
    for id in 1..=N {
        let seeds: Vec<SocketAddr> = nodes
            .last()
            .map(GossipHandle::local_addr)
            .into_iter()
            .collect();
        let node = Gossip::builder(ReplicaId::from_u128(id as u128), Set::new())
            .bind(loopback())
            .seeds(seeds)
            .keyring(keyring(1))
            .cluster("runtime-tests")
            .partial_view(view.clone())
            .start()
            .await
            .expect("the node starts");
        nodes.push(node);
    }
    for node in &nodes {
        eventually("every node to have a link", WAIT, || async {
            !members(node).await.is_empty()
        })
        .await;
    }
    let start = Instant::now();
    each_writes_its_index(&nodes).await;
    for node in &nodes {
        eventually("every node to hold all 30 elements", WAIT, || async {
            len(node).await == N
        })
        .await;
    }
    eprintln!(
        "30 nodes over partial views converged in {:?}",
        start.elapsed()
    );
    // Their places in the rooted tree (on by default over partial views)
    // form one tree, rooted at the lowest id: the lowest port here.
    eventually("the 30 nodes' rooted tree to form", WAIT, || async {
        let mut places = Vec::with_capacity(N);
        for node in &nodes {
            let place = node.tree().await.expect("the node runs");
            places.push((node.local_addr(), place.expect("a rooted tree")));
        }
        TreePlace::formed(places.iter().map(|(id, place)| (*id, place)))
    })
    .await;
    let lowest = nodes.iter().map(GossipHandle::local_addr).min();
    // The ports are the OS's: any node may have the lowest, the root.
    let below = nodes
        .iter()
        .rev()
        .find(|n| Some(n.local_addr()) != lowest)
        .expect("29 nodes are not the lowest");
    let place = below.tree().await.expect("runs").expect("a tree");
    assert_eq!(Some(place.root), lowest);
    assert!(place.rank >= 1 && place.parent.is_some(), "{place:?}");
    for node in &nodes {
        let links = members(node).await.len();
        assert!(
            (1..=view.active).contains(&links),
            "{links} links, the active view holds {}",
            view.active
        );
        let stats = node.stats().await.expect("the node runs");
        assert!(
            stats.sent.view.messages > 0,
            "no view message sent: {stats:?}"
        );
        assert_eq!(stats.refused_total(), stats.envelope.replay, "{stats:?}");
    }
    shutdown(&nodes).await;
}
