//! What only `MemoryTransport` does: the network's addresses, partitions
//! (both ways, one way, healed), unreachable destinations, and loss set on
//! the whole network. The behaviours every transport shares are in
//! `transport.rs`.

mod support;

use std::net::SocketAddr;

use rumor_net::transport::{Class, DropReason, Transport, Via};
use rumor_net::{ConfigError, MemoryConfig, MemoryError, MemoryNetwork, MemoryTransport};
use support::{eventually, payload, recv, tag, WAIT};
use tokio::time::timeout;

fn network() -> MemoryNetwork {
    MemoryNetwork::new(MemoryConfig::default()).expect("a valid config")
}

async fn shutdown(transports: &[&MemoryTransport]) {
    for t in transports {
        timeout(WAIT, t.shutdown())
            .await
            .expect("shutdown completes");
    }
}

#[tokio::test]
async fn addresses_are_given_in_order_taken_once_and_freed_by_shutdown() {
    let network = network();
    let (a, _a_inbox) = network.transport().expect("a transport");
    let (b, _b_inbox) = network.transport().expect("a transport");
    let first: SocketAddr = "127.0.0.1:1".parse().expect("an address");
    assert_eq!(a.local_addr(), first);
    assert_eq!(b.local_addr().port(), 2);
    assert_eq!(
        network.transport_at(first).err(),
        Some(MemoryError::AddrInUse(first))
    );
    // A mapped address is the IPv4 one.
    let mapped: SocketAddr = "[::ffff:127.0.0.1]:1".parse().expect("an address");
    assert_eq!(
        network.transport_at(mapped).err(),
        Some(MemoryError::AddrInUse(first))
    );
    shutdown(&[&a]).await;
    let (again, _again_inbox) = network.transport_at(first).expect("freed by shutdown");
    let v6: SocketAddr = "[2001:db8::1]:0".parse().expect("an address");
    let (c, _c_inbox) = network.transport_at(v6).expect("any IP");
    assert_eq!(
        c.local_addr(),
        "[2001:db8::1]:1".parse().expect("an address")
    );
    shutdown(&[&again, &b, &c]).await;
}

#[test]
fn a_memory_transport_needs_a_runtime_and_a_valid_config() {
    assert_eq!(network().transport().err(), Some(MemoryError::NoRuntime));
    let bad = |config: MemoryConfig| MemoryNetwork::new(config).err();
    let defaults = MemoryConfig::default();
    assert_eq!(
        bad(MemoryConfig {
            loss: 1.5,
            ..defaults
        }),
        Some(ConfigError::Loss(1.5))
    );
    assert_eq!(
        bad(MemoryConfig {
            max_datagram: 0,
            ..defaults
        }),
        Some(ConfigError::MaxDatagram(0))
    );
    assert_eq!(
        bad(MemoryConfig {
            inbox_capacity: 0,
            ..defaults
        }),
        Some(ConfigError::Zero("inbox_capacity"))
    );
}

/// A one-way partition drops one direction only; `heal` ends it. Both
/// datagrams and frames obey it.
#[tokio::test]
async fn a_one_way_partition_drops_one_direction_until_healed() {
    let network = network();
    let (a, mut a_inbox) = network.transport().expect("a transport");
    let (b, mut b_inbox) = network.transport().expect("a transport");
    network.partition_one_way(a.local_addr(), b.local_addr());
    for (i, len) in [(1, 10), (2, 5_000)] {
        a.send(b.local_addr(), payload(i, len).into(), Class::Data)
            .expect("a partition is not an error");
        b.send(a.local_addr(), payload(i + 10, len).into(), Class::Data)
            .expect("queued");
    }
    for expected in [(11, Via::Datagram), (12, Via::Stream)] {
        let got = recv(&mut a_inbox, "b's payloads").await;
        assert_eq!((tag(&got.payload), got.via), expected);
    }
    assert_eq!(a.stats().dropped(DropReason::Blocked), 2);
    assert!(b_inbox.is_empty());
    network.heal();
    a.send(b.local_addr(), payload(3, 10).into(), Class::Data)
        .expect("queued");
    assert_eq!(tag(&recv(&mut b_inbox, "after heal").await.payload), 3);
    shutdown(&[&a, &b]).await;
}

/// A partition made while payloads wait in the queue drops them too.
#[tokio::test(flavor = "current_thread")]
async fn a_partition_drops_what_was_already_queued() {
    let network = network();
    let (a, _a_inbox) = network.transport().expect("a transport");
    let (b, b_inbox) = network.transport().expect("a transport");
    // The current-thread runtime runs no pump before the next await.
    for i in 0..5 {
        a.send(b.local_addr(), payload(i, 10).into(), Class::Data)
            .expect("queued");
    }
    network.partition(a.local_addr(), b.local_addr());
    eventually("the queued payloads dropped", || {
        a.stats().dropped(DropReason::Blocked) == 5
    })
    .await;
    assert!(b_inbox.is_empty());
    shutdown(&[&a, &b]).await;
}

#[tokio::test]
async fn a_payload_to_an_address_with_no_transport_is_dropped_as_unreachable() {
    let network = network();
    let (a, _a_inbox) = network.transport().expect("a transport");
    let nowhere: SocketAddr = "127.0.0.1:999".parse().expect("an address");
    a.send(nowhere, payload(1, 10).into(), Class::Data)
        .expect("queued: the network does not say");
    a.send(nowhere, payload(2, 5_000).into(), Class::Data)
        .expect("queued: the network does not say");
    eventually("both counted unreachable", || {
        a.stats().dropped(DropReason::Unreachable) == 2
    })
    .await;
    assert_eq!((a.stats().datagrams_out, a.stats().frames_out), (0, 0));
    shutdown(&[&a]).await;
}

/// Loss set on the network applies to every transport, present and future;
/// frames are never lost.
#[tokio::test]
async fn loss_set_on_the_network_drops_every_datagram_at_one() {
    let network = network();
    let (a, _a_inbox) = network.transport().expect("a transport");
    network.set_loss(1.0).expect("a probability");
    let (b, mut b_inbox) = network.transport().expect("a transport");
    for t in [(&a, &b), (&b, &a)] {
        t.0.send(t.1.local_addr(), payload(1, 10).into(), Class::Data)
            .expect("queued");
    }
    assert_eq!(a.stats().dropped(DropReason::Loss), 1);
    assert_eq!(b.stats().dropped(DropReason::Loss), 1);
    a.send(b.local_addr(), payload(2, 5_000).into(), Class::Data)
        .expect("queued");
    assert_eq!(tag(&recv(&mut b_inbox, "a frame").await.payload), 2);
    assert_eq!(network.set_loss(-0.1), Err(ConfigError::Loss(-0.1)));
    network.set_loss(0.0).expect("a probability");
    a.send(b.local_addr(), payload(3, 10).into(), Class::Data)
        .expect("queued");
    assert_eq!(tag(&recv(&mut b_inbox, "a datagram").await.payload), 3);
    shutdown(&[&a, &b]).await;
}
