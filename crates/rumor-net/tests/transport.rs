//! The transport conformance suite: one set of behaviours, checked against
//! every transport (`NetTransport` on loopback, `MemoryTransport`). A
//! transport is plugged in through a [`Fixture`] that makes nodes from a
//! [`Setup`]; `conformance!` writes one test per behaviour per transport.
//!
//! Tests that need the sender's queue to back up run on the current-thread
//! runtime: there, `send` is called many times before any transport task
//! runs, so the queues fill deterministically.

mod support;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use rumor_net::transport::{Class, DropReason, Inbox, SendError, Transport, Via};
use rumor_net::{MemoryConfig, MemoryNetwork, MemoryTransport, NetTransport};
use support::{eventually, net, payload, recv, tag, WAIT};
use tokio::time::timeout;

/// What a test asks of its transports.
#[derive(Clone, Copy, Debug)]
struct Setup {
    /// Outgoing queue capacity per class (datagrams; the memory transport's
    /// one queue).
    queue: usize,
    /// Outgoing frames queued per destination per class.
    stream_queue: usize,
    inbox_capacity: usize,
    /// Bytes of stream frames the inbox holds.
    inbox_stream_bytes: usize,
    max_frame: usize,
    loss: f64,
    seed: u64,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            queue: 1_024,
            stream_queue: 64,
            inbox_capacity: 4_096,
            inbox_stream_bytes: 64 << 20,
            max_frame: 4 << 20,
            loss: 0.0,
            seed: 1,
        }
    }
}

/// Makes the nodes of one test.
trait Fixture {
    type T: Transport;
    fn node(&mut self, setup: Setup) -> impl Future<Output = (Self::T, Inbox)>;
}

/// `NetTransport` on 127.0.0.1, ports from the OS.
struct Net;

impl Fixture for Net {
    type T = NetTransport;
    async fn node(&mut self, setup: Setup) -> (NetTransport, Inbox) {
        net(|config| {
            config.datagram_queue = setup.queue;
            config.stream_queue = setup.stream_queue;
            config.inbox_capacity = setup.inbox_capacity;
            config.max_inbox_stream_bytes = setup.inbox_stream_bytes;
            config.max_frame = setup.max_frame;
            config.loss = setup.loss;
            config.loss_seed = setup.seed;
        })
        .await
    }
}

/// `MemoryTransport`s of one network, made with the first node's setup.
#[derive(Default)]
struct Memory(Option<MemoryNetwork>);

impl Fixture for Memory {
    type T = MemoryTransport;
    async fn node(&mut self, setup: Setup) -> (MemoryTransport, Inbox) {
        let network = self.0.get_or_insert_with(|| {
            MemoryNetwork::new(MemoryConfig {
                queue_capacity: setup.queue,
                inbox_capacity: setup.inbox_capacity,
                max_inbox_stream_bytes: setup.inbox_stream_bytes,
                max_frame: setup.max_frame,
                loss: setup.loss,
                seed: setup.seed,
                ..MemoryConfig::default()
            })
            .expect("a valid config")
        });
        network.transport().expect("a memory transport")
    }
}

async fn shutdown(transports: &[&dyn Transport]) {
    for t in transports {
        timeout(WAIT, t.shutdown())
            .await
            .expect("shutdown completes");
    }
}

async fn a_small_payload_arrives_as_one_datagram(mut f: impl Fixture) {
    let (a, _a_inbox) = f.node(Setup::default()).await;
    let (b, mut b_inbox) = f.node(Setup::default()).await;
    let sent = payload(7, 100);
    a.send(b.local_addr(), sent.clone().into(), Class::Membership)
        .expect("queued");
    let got = recv(&mut b_inbox, "the datagram").await;
    assert_eq!(
        (got.from, got.via, &got.payload[..]),
        (a.local_addr(), Via::Datagram, &sent[..])
    );
    eventually("the counters", || {
        a.stats().datagrams_out == 1 && b.stats().datagrams_in == 1
    })
    .await;
    assert_eq!(a.stats().datagram_bytes_out, 100);
    assert_eq!(b.stats().frames_in, 0);
    shutdown(&[&a, &b]).await;
}

async fn a_payload_of_one_mib_arrives_whole_over_a_stream(mut f: impl Fixture) {
    let (a, _a_inbox) = f.node(Setup::default()).await;
    let (b, mut b_inbox) = f.node(Setup::default()).await;
    let sent = payload(9, 1 << 20);
    a.send(b.local_addr(), sent.clone().into(), Class::Data)
        .expect("queued");
    let got = recv(&mut b_inbox, "the 1 MiB frame").await;
    assert_eq!((got.from, got.via), (a.local_addr(), Via::Stream));
    assert!(got.payload[..] == sent[..], "the payload arrived changed");
    eventually("the counters", || {
        a.stats().frames_out == 1 && b.stats().frame_bytes_in == 1 << 20
    })
    .await;
    shutdown(&[&a, &b]).await;
}

/// Two senders, 1,000 payloads of mixed sizes (one in ten over a stream),
/// sent in batches of 50 (a burst of datagrams larger than the socket's
/// receive buffer would be lost by the OS, which is not what this tests).
async fn a_thousand_mixed_payloads_arrive_exactly_once_from_their_sender(mut f: impl Fixture) {
    let (a, _a_inbox) = f.node(Setup::default()).await;
    let (c, _c_inbox) = f.node(Setup::default()).await;
    let (b, mut b_inbox) = f.node(Setup::default()).await;
    let mut seen: HashMap<u32, usize> = HashMap::new();
    let mut received = 0;
    for batch in 0..20u32 {
        for i in batch * 50..(batch + 1) * 50 {
            let len = if i.is_multiple_of(10) {
                1_201 + (i as usize * 37) % 20_000
            } else {
                4 + (i as usize * 13) % 1_197
            };
            let sender = if i.is_multiple_of(2) { &a } else { &c };
            sender
                .send(b.local_addr(), payload(i, len).into(), Class::Data)
                .expect("queued");
        }
        while received < (batch as usize + 1) * 50 {
            let got = recv(&mut b_inbox, "a payload of the batch").await;
            let i = tag(&got.payload);
            let expected_from = if i.is_multiple_of(2) { &a } else { &c };
            assert_eq!(got.from, expected_from.local_addr(), "payload {i}");
            let expected_via = if got.payload.len() > 1_200 {
                Via::Stream
            } else {
                Via::Datagram
            };
            assert_eq!(got.via, expected_via, "payload {i}");
            assert!(got.payload == payload(i, got.payload.len()), "payload {i}");
            *seen.entry(i).or_default() += 1;
            received += 1;
        }
    }
    assert_eq!(seen.len(), 1_000);
    assert!(seen.values().all(|&n| n == 1));
    assert!(b_inbox.is_empty(), "a duplicate arrived");
    shutdown(&[&a, &b, &c]).await;
}

/// Data queued first, membership after: membership goes first (datagrams
/// and stream frames each).
async fn membership_overtakes_queued_data(mut f: impl Fixture) {
    let (a, _a_inbox) = f.node(Setup::default()).await;
    let (b, mut b_inbox) = f.node(Setup::default()).await;
    let to = b.local_addr();
    for i in 0..20 {
        a.send(to, payload(i, 100).into(), Class::Data)
            .expect("queued");
    }
    for i in 100..105 {
        a.send(to, payload(i, 5_000).into(), Class::Data)
            .expect("queued");
    }
    a.send(to, payload(1_000, 100).into(), Class::Membership)
        .expect("queued");
    a.send(to, payload(2_000, 5_000).into(), Class::Membership)
        .expect("queued");
    let mut datagrams = Vec::new();
    let mut frames = Vec::new();
    for _ in 0..27 {
        let got = recv(&mut b_inbox, "the queued payloads").await;
        match got.via {
            Via::Datagram => datagrams.push(tag(&got.payload)),
            Via::Stream => frames.push(tag(&got.payload)),
        }
    }
    assert_eq!(datagrams[0], 1_000, "datagrams in order {datagrams:?}");
    assert_eq!(&datagrams[1..], (0..20).collect::<Vec<_>>());
    assert_eq!(frames, [2_000, 100, 101, 102, 103, 104]);
    shutdown(&[&a, &b]).await;
}

/// Sends `n` data payloads of `len` bytes to `to` at once: the first 8 (the
/// queue's capacity) are queued, the rest refused as a full `via` queue.
fn fill_data_queue(a: &impl Transport, to: SocketAddr, n: u32, len: usize, via: Via) {
    for i in 0..n {
        let result = a.send(to, payload(i, len).into(), Class::Data);
        if i < 8 {
            assert_eq!(result, Ok(()), "payload {i}");
        } else {
            let full = SendError::QueueFull {
                class: Class::Data,
                via,
            };
            assert_eq!(result, Err(full), "payload {i}");
        }
    }
}

/// A full class refuses at once (no wait), counts, and holds no more than
/// its capacity; the other class still has room.
async fn a_full_outgoing_queue_refuses_and_counts(mut f: impl Fixture) {
    let setup = Setup {
        queue: 8,
        stream_queue: 8,
        ..Setup::default()
    };
    let (a, _a_inbox) = f.node(setup).await;
    let (b, mut b_inbox) = f.node(setup).await;
    let to = b.local_addr();
    fill_data_queue(&a, to, 20, 100, Via::Datagram);
    a.send(to, payload(99, 100).into(), Class::Membership)
        .expect("membership has its own room");
    let stats = a.stats();
    assert_eq!(stats.dropped(DropReason::QueueFull), 12);
    assert_eq!(stats.queued_datagrams, 9);
    for _ in 0..9 {
        recv(&mut b_inbox, "the queued datagrams").await;
    }
    eventually("the queue to drain", || a.stats().queued_datagrams == 0).await;

    fill_data_queue(&a, to, 12, 2_000, Via::Stream);
    assert_eq!(a.stats().queued_frames, 8);
    assert_eq!(a.stats().queued_frame_bytes, 16_000);
    assert_eq!(a.stats().dropped(DropReason::QueueFull), 16);
    for _ in 0..8 {
        assert_eq!(
            recv(&mut b_inbox, "the queued frames").await.via,
            Via::Stream
        );
    }
    eventually("the frames to leave", || a.stats().queued_frames == 0).await;
    assert_eq!(a.stats().queued_frame_bytes, 0);
    shutdown(&[&a, &b]).await;
}

/// A reader that does not read: the inbox keeps its capacity and counts
/// the rest; once read, it takes payloads again.
async fn a_full_inbox_drops_and_counts(mut f: impl Fixture) {
    let setup = Setup {
        inbox_capacity: 8,
        ..Setup::default()
    };
    let (a, _a_inbox) = f.node(setup).await;
    let (b, mut b_inbox) = f.node(setup).await;
    for i in 0..50 {
        a.send(b.local_addr(), payload(i, 100).into(), Class::Data)
            .expect("queued");
    }
    a.send(b.local_addr(), payload(50, 3_000).into(), Class::Data)
        .expect("queued");
    eventually("every payload received or dropped", || {
        let s = b.stats();
        s.datagrams_in + s.frames_in + s.dropped(DropReason::InboxFull) == 51
    })
    .await;
    let stats = b.stats();
    assert_eq!(stats.datagrams_in + stats.frames_in, 8);
    assert_eq!(stats.dropped(DropReason::InboxFull), 43);
    assert_eq!(b_inbox.len(), 8);
    while b_inbox.try_recv().is_ok() {}
    a.send(b.local_addr(), payload(60, 100).into(), Class::Data)
        .expect("queued");
    assert_eq!(
        tag(&recv(&mut b_inbox, "a payload after draining").await.payload),
        60
    );
    shutdown(&[&a, &b]).await;
}

/// Frames waiting in the inbox are bounded in bytes too: past the bound,
/// frames are dropped and counted; reading one makes room for the next.
async fn the_inbox_bounds_the_bytes_of_waiting_frames(mut f: impl Fixture) {
    let setup = Setup {
        inbox_stream_bytes: 10_000,
        ..Setup::default()
    };
    let (a, _a_inbox) = f.node(setup).await;
    let (b, mut b_inbox) = f.node(setup).await;
    for i in 0..5 {
        a.send(b.local_addr(), payload(i, 3_000).into(), Class::Data)
            .expect("queued");
    }
    eventually("every frame received or dropped", || {
        let s = b.stats();
        s.frames_in + s.dropped(DropReason::InboxFull) == 5
    })
    .await;
    assert_eq!(b.stats().frames_in, 3);
    assert_eq!(b.stats().dropped(DropReason::InboxFull), 2);
    assert_eq!(tag(&recv(&mut b_inbox, "the first frame").await.payload), 0);
    a.send(b.local_addr(), payload(9, 3_000).into(), Class::Data)
        .expect("queued");
    let tags: Vec<u32> = [
        recv(&mut b_inbox, "a frame").await,
        recv(&mut b_inbox, "a frame").await,
        recv(&mut b_inbox, "a frame after reading").await,
    ]
    .iter()
    .map(|got| tag(&got.payload))
    .collect();
    assert_eq!(tags, [1, 2, 9]);
    shutdown(&[&a, &b]).await;
}

/// An IPv4-mapped IPv6 address is the IPv4 peer: sending to it reaches the
/// peer, and blocking it blocks the peer.
async fn a_mapped_address_is_the_ipv4_peer(mut f: impl Fixture) {
    let (a, _a_inbox) = f.node(Setup::default()).await;
    let (b, mut b_inbox) = f.node(Setup::default()).await;
    let mapped = |addr: SocketAddr| match addr {
        SocketAddr::V4(v4) => SocketAddr::new(v4.ip().to_ipv6_mapped().into(), v4.port()),
        SocketAddr::V6(_) => panic!("the suite runs on IPv4"),
    };
    for (i, len) in [(1, 10), (2, 5_000)] {
        a.send(mapped(b.local_addr()), payload(i, len).into(), Class::Data)
            .expect("queued");
        let got = recv(&mut b_inbox, "a payload sent to a mapped address").await;
        assert_eq!((tag(&got.payload), got.from), (i, a.local_addr()));
    }
    b.block(mapped(a.local_addr()));
    a.send(b.local_addr(), payload(3, 10).into(), Class::Data)
        .expect("queued");
    eventually("the payload blocked at b", || {
        b.stats().dropped(DropReason::Blocked) == 1
    })
    .await;
    b.unblock(a.local_addr());
    a.send(b.local_addr(), payload(4, 10).into(), Class::Data)
        .expect("queued");
    assert_eq!(tag(&recv(&mut b_inbox, "after unblock").await.payload), 4);
    shutdown(&[&a, &b]).await;
}

/// After shutdown: the future completed (every task ended), sends are
/// refused, no connection is counted open, and the inbox ends.
async fn shutdown_ends_everything(mut f: impl Fixture) {
    let (a, mut a_inbox) = f.node(Setup::default()).await;
    let (b, mut b_inbox) = f.node(Setup::default()).await;
    for (from, to, inbox) in [(&a, &b, &mut b_inbox), (&b, &a, &mut a_inbox)] {
        from.send(to.local_addr(), payload(1, 10).into(), Class::Data)
            .expect("queued");
        from.send(to.local_addr(), payload(2, 10_000).into(), Class::Data)
            .expect("queued");
        recv(inbox, "a datagram").await;
        recv(inbox, "a frame").await;
    }
    shutdown(&[&a, &b]).await;
    // Twice is harmless.
    shutdown(&[&a]).await;
    assert_eq!(
        a.send(b.local_addr(), Bytes::from_static(b"late"), Class::Data),
        Err(SendError::Closed)
    );
    assert_eq!(a.stats().dropped(DropReason::Closed), 1);
    for t in [&a, &b] {
        let stats = t.stats();
        assert_eq!((stats.connections_in, stats.connections_out), (0, 0));
        assert_eq!((stats.queued_datagrams, stats.queued_frames), (0, 0));
    }
    for inbox in [&mut a_inbox, &mut b_inbox] {
        let end = timeout(WAIT, inbox.recv()).await.expect("the inbox ends");
        assert_eq!(end, None);
    }
}

/// Loss 0.5 over 10,000 datagrams, seeded: about half arrive, and exactly
/// those the sender did not count as lost.
async fn injected_loss_drops_its_share(mut f: impl Fixture) {
    let setup = Setup {
        loss: 0.5,
        seed: 42,
        ..Setup::default()
    };
    let (a, _a_inbox) = f.node(setup).await;
    let (b, mut b_inbox) = f.node(setup).await;
    let mut received = 0u64;
    for batch in 0..40u32 {
        for i in batch * 250..(batch + 1) * 250 {
            a.send(b.local_addr(), payload(i, 16).into(), Class::Data)
                .expect("queued");
        }
        let sent = u64::from(batch + 1) * 250;
        let expected = sent - a.stats().dropped(DropReason::Loss);
        while received < expected {
            recv(&mut b_inbox, "the datagrams not lost").await;
            received += 1;
        }
    }
    let share = received as f64 / 10_000.0;
    assert!((0.47..=0.53).contains(&share), "delivered share {share}");
    assert_eq!(received + a.stats().dropped(DropReason::Loss), 10_000);
    // Stream frames are not subject to loss.
    for i in 0..20 {
        a.send(b.local_addr(), payload(i, 2_000).into(), Class::Data)
            .expect("queued");
    }
    for _ in 0..20 {
        assert_eq!(recv(&mut b_inbox, "every frame").await.via, Via::Stream);
    }
    shutdown(&[&a, &b]).await;
}

/// `block` drops both ways until `unblock`.
async fn a_blocked_peer_is_cut_off_both_ways(mut f: impl Fixture) {
    let (a, mut a_inbox) = f.node(Setup::default()).await;
    let (b, mut b_inbox) = f.node(Setup::default()).await;
    a.block(b.local_addr());
    a.send(b.local_addr(), payload(1, 10).into(), Class::Data)
        .expect("a block is not an error");
    a.send(b.local_addr(), payload(2, 5_000).into(), Class::Data)
        .expect("a block is not an error");
    b.send(a.local_addr(), payload(3, 10).into(), Class::Data)
        .expect("queued");
    b.send(a.local_addr(), payload(4, 5_000).into(), Class::Data)
        .expect("queued");
    eventually("four payloads blocked at a", || {
        a.stats().dropped(DropReason::Blocked) == 4
    })
    .await;
    assert!(a_inbox.is_empty() && b_inbox.is_empty());
    a.unblock(b.local_addr());
    a.send(b.local_addr(), payload(5, 10).into(), Class::Data)
        .expect("queued");
    b.send(a.local_addr(), payload(6, 10).into(), Class::Data)
        .expect("queued");
    assert_eq!(tag(&recv(&mut b_inbox, "after unblock").await.payload), 5);
    assert_eq!(tag(&recv(&mut a_inbox, "after unblock").await.payload), 6);
    shutdown(&[&a, &b]).await;
}

/// `max_datagram` bytes go as a datagram, one more as a frame, and more than
/// `max_frame` not at all.
async fn the_size_rule_picks_datagram_stream_or_refusal(mut f: impl Fixture) {
    let (a, _a_inbox) = f.node(Setup::default()).await;
    let (b, mut b_inbox) = f.node(Setup::default()).await;
    let max = a.max_datagram();
    assert_eq!(max, 1_200);
    a.send(b.local_addr(), payload(1, max).into(), Class::Data)
        .expect("queued");
    let got = recv(&mut b_inbox, "max_datagram bytes").await;
    assert_eq!((got.via, got.payload.len()), (Via::Datagram, max));
    a.send(b.local_addr(), payload(2, max + 1).into(), Class::Data)
        .expect("queued");
    let got = recv(&mut b_inbox, "max_datagram + 1 bytes").await;
    assert_eq!((got.via, got.payload.len()), (Via::Stream, max + 1));
    let too_large = a.max_frame() + 1;
    assert_eq!(
        a.send(b.local_addr(), vec![0; too_large].into(), Class::Data),
        Err(SendError::TooLarge {
            len: too_large,
            max: a.max_frame()
        })
    );
    assert_eq!(a.stats().dropped(DropReason::TooLarge), 1);
    shutdown(&[&a, &b]).await;
}

/// One test of a behaviour on one transport: `multi` on the multi-threaded
/// runtime, `single` on the current-thread one.
macro_rules! behaviour {
    (multi $name:ident, $fixture:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            super::$name($fixture).await;
        }
    };
    (single $name:ident, $fixture:expr) => {
        #[tokio::test(flavor = "current_thread")]
        async fn $name() {
            super::$name($fixture).await;
        }
    };
}

/// Every behaviour listed once, instantiated for every transport.
macro_rules! conformance {
    ($($flavor:ident $name:ident,)*) => {
        mod net_transport {
            use super::*;
            $(behaviour!($flavor $name, Net);)*
        }

        mod memory_transport {
            use super::*;
            $(behaviour!($flavor $name, Memory::default());)*
        }
    };
}

conformance! {
    multi a_small_payload_arrives_as_one_datagram,
    multi a_payload_of_one_mib_arrives_whole_over_a_stream,
    multi a_thousand_mixed_payloads_arrive_exactly_once_from_their_sender,
    single membership_overtakes_queued_data,
    single a_full_outgoing_queue_refuses_and_counts,
    multi a_full_inbox_drops_and_counts,
    multi the_inbox_bounds_the_bytes_of_waiting_frames,
    multi a_mapped_address_is_the_ipv4_peer,
    multi shutdown_ends_everything,
    multi injected_loss_drops_its_share,
    multi a_blocked_peer_is_cut_off_both_ways,
    multi the_size_rule_picks_datagram_stream_or_refusal,
}
