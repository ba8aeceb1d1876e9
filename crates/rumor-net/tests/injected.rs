//! Faults injected by the transport of a running node (loopback, OS-chosen
//! ports, sealed envelopes): latency on outgoing datagrams, set at start or
//! changed at runtime, held back in a bounded heap; loss changed at
//! runtime; and a partition made and healed through the handle.
//!
//! The timing assertions are lower bounds (a delayed write never arrives
//! sooner than the delay), or the fastest of several writes without delay,
//! so a loaded machine does not make them fail.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use rumor_crdt::{OrSet, ReplicaId};
use rumor_net::transport::{Class, DropReason, Transport};
use rumor_net::{
    ConfigError, Gossip, GossipBuilder, GossipError, GossipHandle, Key, Keyring, Latency,
    TransportConfig,
};
use support::{eventually, eventually_async, loopback, net, recv, WAIT};
use tokio::time::{sleep, Instant};

type Set = OrSet<u32>;

/// The latency injected: 50 ms.
const DELAY: Duration = Duration::from_millis(50);

/// Writes timed in each measurement.
const WRITES: u32 = 5;

fn builder(id: u128) -> GossipBuilder<Set> {
    Gossip::builder(ReplicaId::from_u128(id), Set::new())
        .keyring(Keyring::new(Key::from_bytes([9; 32])))
        .cluster("injected-tests")
        .bind(loopback())
}

fn with_latency(latency: Latency) -> TransportConfig {
    TransportConfig {
        latency,
        ..TransportConfig::new(loopback())
    }
}

async fn members(node: &GossipHandle<Set>) -> Vec<SocketAddr> {
    node.members().await.expect("the node runs")
}

async fn has(node: &GossipHandle<Set>, element: u32) -> bool {
    node.read(move |s| s.contains(&element))
        .await
        .expect("the node runs")
}

/// Two nodes, the second joined through the first, once each holds the
/// other alive.
async fn pair(a: GossipBuilder<Set>, b: GossipBuilder<Set>) -> [GossipHandle<Set>; 2] {
    let a = a.start().await.expect("starts");
    let b = b.seeds([a.local_addr()]).start().await.expect("starts");
    eventually_async("the two nodes to join", WAIT, || async {
        members(&a).await == [b.local_addr()] && members(&b).await == [a.local_addr()]
    })
    .await;
    [a, b]
}

/// The time each of [`WRITES`] writes of `from` took to reach `to`, the
/// elements starting at `first`.
async fn arrival_times(
    from: &GossipHandle<Set>,
    to: &GossipHandle<Set>,
    first: u32,
) -> Vec<Duration> {
    let mut times = Vec::new();
    for element in first..first + WRITES {
        let me = from.replica();
        let start = Instant::now();
        from.update(move |s| s.insert(me, element))
            .await
            .expect("the update applies");
        eventually_async("the write to arrive", WAIT, || has(to, element)).await;
        // From before the update: the delay may start before it returns.
        times.push(start.elapsed());
    }
    times
}

use support::shutdown_all as shutdown;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_arrives_no_sooner_than_the_latency_injected_at_start() {
    let delayed = |id| builder(id).transport(with_latency(Latency::fixed(DELAY)));
    let [a, b] = pair(delayed(1), delayed(2)).await;
    let times = arrival_times(&a, &b, 0).await;
    eprintln!("with {DELAY:?} of injected latency: {times:?}");
    assert!(times.iter().all(|&t| t >= DELAY), "{times:?}");
    shutdown(&[a, b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_set_at_runtime_delays_writes_and_lifting_it_does_not() {
    let [a, b] = pair(builder(1), builder(2)).await;
    let before = arrival_times(&a, &b, 0).await;
    for node in [&a, &b] {
        node.set_latency(Latency::fixed(DELAY))
            .await
            .expect("a latency in range");
    }
    let delayed = arrival_times(&a, &b, 100).await;
    for node in [&a, &b] {
        node.set_latency(Latency::NONE).await.expect("no latency");
    }
    // Datagrams held back before the change still wait their delay.
    sleep(DELAY).await;
    let after = arrival_times(&a, &b, 200).await;
    eprintln!("no latency: {before:?}; {DELAY:?}: {delayed:?}; lifted: {after:?}");
    assert!(delayed.iter().all(|&t| t >= DELAY), "{delayed:?}");
    // The fastest of several: robust under load.
    assert!(before.iter().min() < Some(&DELAY), "{before:?}");
    assert!(after.iter().min() < Some(&DELAY), "{after:?}");
    shutdown(&[a, b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_out_of_range_are_refused_and_change_nothing() {
    let a = builder(1).start().await.expect("starts");
    let backwards = Latency::between(Duration::from_millis(9), Duration::from_millis(1));
    assert!(matches!(
        a.set_latency(backwards).await,
        Err(GossipError::Fault(ConfigError::Latency(l))) if l == backwards
    ));
    let too_long = Latency::fixed(Duration::from_secs(61));
    assert!(matches!(
        a.set_latency(too_long).await,
        Err(GossipError::Fault(ConfigError::Latency(_)))
    ));
    assert!(matches!(
        a.set_loss(1.5).await,
        Err(GossipError::Fault(ConfigError::Loss(_)))
    ));
    let bad = TransportConfig {
        latency: backwards,
        ..TransportConfig::new(loopback())
    };
    assert!(builder(2).transport(bad).start().await.is_err());
    shutdown(&[a]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_made_through_the_handles_holds_writes_back_until_healed() {
    let [a, b] = pair(builder(1), builder(2)).await;
    a.block(b.local_addr()).await.expect("the node runs");
    b.block(a.local_addr()).await.expect("the node runs");
    let me = a.replica();
    a.update(move |s| s.insert(me, 7))
        .await
        .expect("the update applies");
    sleep(Duration::from_secs(1)).await;
    assert!(!has(&b, 7).await, "the write crossed the partition");
    let blocked = a.stats().await.expect("the node runs").transport;
    assert!(blocked.dropped(DropReason::Blocked) > 0, "{blocked:?}");

    a.unblock(b.local_addr()).await.expect("the node runs");
    b.unblock(a.local_addr()).await.expect("the node runs");
    let healed = eventually_async("the write to arrive once healed", WAIT, || has(&b, 7)).await;
    eprintln!("the write arrived {healed:?} after the partition healed");
    shutdown(&[a, b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_set_at_runtime_drops_every_datagram_until_lifted() {
    let [a, b] = pair(builder(1), builder(2)).await;
    a.set_loss(1.0).await.expect("a probability");
    b.set_loss(1.0).await.expect("a probability");
    let me = a.replica();
    a.update(move |s| s.insert(me, 3))
        .await
        .expect("the update applies");
    sleep(Duration::from_millis(500)).await;
    assert!(!has(&b, 3).await, "a datagram got through total loss");
    let lost = a.stats().await.expect("the node runs").transport;
    assert!(lost.dropped(DropReason::Loss) > 0, "{lost:?}");
    a.set_loss(0.0).await.expect("a probability");
    b.set_loss(0.0).await.expect("a probability");
    eventually_async("the write to arrive once loss is lifted", WAIT, || {
        has(&b, 3)
    })
    .await;
    shutdown(&[a, b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_datagrams_wait_in_a_bounded_heap_and_the_excess_is_dropped() {
    const BOUND: usize = 4;
    let hold = Duration::from_millis(300);
    let (a, _) = net(|c| {
        c.latency = Latency::fixed(hold);
        c.max_delayed_datagrams = BOUND;
    })
    .await;
    let (b, mut inbox) = net(|_| {}).await;
    let start = Instant::now();
    for i in 0..10_u8 {
        a.send(b.local_addr(), Bytes::from(vec![i; 8]), Class::Data)
            .expect("queued");
    }
    eventually("the excess to be dropped", || {
        a.stats().dropped(DropReason::DelayFull) == 6
    })
    .await;
    let first = recv(&mut inbox, "the first delayed datagram").await;
    assert!(start.elapsed() >= hold, "{:?}", start.elapsed());
    let mut got = vec![first.payload[0]];
    for _ in 1..BOUND {
        got.push(recv(&mut inbox, "a delayed datagram").await.payload[0]);
    }
    // Held back in the order taken: the same delay keeps the order.
    assert_eq!(got, [0, 1, 2, 3]);
    eventually("nothing left held back", || a.stats().queued_datagrams == 0).await;
    assert_eq!(a.stats().datagrams_out, BOUND as u64);
    assert!(inbox.try_recv().is_err(), "more than the bound got through");
    a.shutdown().await;
    b.shutdown().await;
}

/// `net.core.rmem_max`, where Linux says.
fn rmem_max() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/net/core/rmem_max")
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[tokio::test]
async fn the_udp_buffers_asked_for_are_granted_up_to_the_kernel_cap() {
    let (kernel, _) = net(|c| c.udp_buffer_bytes = 0).await;
    let defaults = kernel.stats();
    assert!(defaults.udp_recv_buffer > 0 && defaults.udp_send_buffer > 0);
    let (big, _) = net(|_| {}).await;
    let granted = big.stats();
    eprintln!(
        "UDP buffers: kernel default {}/{} bytes, asked 4 MiB, granted {}/{} (rmem_max {:?})",
        defaults.udp_recv_buffer,
        defaults.udp_send_buffer,
        granted.udp_recv_buffer,
        granted.udp_send_buffer,
        rmem_max()
    );
    assert!(granted.udp_recv_buffer >= defaults.udp_recv_buffer);
    // The stats hold what socket2 read back from the socket: what the kernel granted.
    let asked = rmem_max().map_or(1 << 20, |max| max.min(1 << 20));
    let (sized, _) = net(|c| c.udp_buffer_bytes = asked).await;
    let got = sized.stats().udp_recv_buffer;
    assert!(got >= asked as u64, "asked {asked}, granted {got}");
    assert!(
        got > defaults.udp_recv_buffer,
        "the setting was not applied"
    );
    for t in [kernel, big, sized] {
        t.shutdown().await;
    }
}
