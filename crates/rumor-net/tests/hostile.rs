//! What a hostile or confused network does to a live node (real sockets on
//! loopback, OS-chosen ports, sealed envelopes): 100,000 random, truncated
//! and bit-flipped datagrams and a crowd of garbage, oversized and
//! half-open TCP streams change nothing, crash nothing, are counted, and do
//! not stop the node from serving honest peers; a replayed datagram, an
//! envelope of another cluster and one of an unknown protocol version are
//! refused and counted by the runtime.

mod relay;

mod support;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use relay::{start_bound, Direction, Relay};
use rumor_crdt::{Crdt, OrSet, ReplicaId};
use rumor_gossip::{Body, Message, Tree};
use rumor_net::transport::frame::encode_preamble;
use rumor_net::transport::{CloseReason, DropReason};
use rumor_net::{
    Cluster, EnvelopeCodec, Gossip, GossipBuilder, GossipHandle, GossipStats, Key, Keyring,
    Security, TransportConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::task::JoinSet;
use tokio::time::{sleep, timeout, Instant};

type Set = OrSet<u32>;

/// The longest any single wait in these tests may take.
const WAIT: Duration = Duration::from_secs(10);

const LABEL: &str = "hostile-tests";
const KEY: [u8; 32] = [4; 32];

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn builder(id: u128) -> GossipBuilder<Set> {
    Gossip::builder(ReplicaId::from_u128(id), Set::new())
        .bind(loopback())
        .keyring(Keyring::new(Key::from_bytes(KEY)))
        .cluster(LABEL)
}

async fn start(builder: GossipBuilder<Set>) -> GossipHandle<Set> {
    builder.start().await.expect("the node starts")
}

/// [`support::eventually_async`] within [`WAIT`].
async fn eventually<F, Fut>(what: &str, condition: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    support::eventually_async(what, WAIT, condition).await
}

async fn stats(node: &GossipHandle<Set>) -> GossipStats {
    node.stats().await.expect("the node runs")
}

async fn members(node: &GossipHandle<Set>) -> Vec<SocketAddr> {
    node.members().await.expect("the node runs")
}

async fn elements(node: &GossipHandle<Set>) -> Vec<u32> {
    let mut all = node
        .read(|s| s.iter().copied().collect::<Vec<_>>())
        .await
        .expect("the node runs");
    all.sort_unstable();
    all
}

async fn insert(node: &GossipHandle<Set>, element: u32) {
    let me = node.replica();
    node.update(move |s| s.insert(me, element))
        .await
        .expect("the update applies");
}

async fn shutdown(nodes: &[GossipHandle<Set>]) {
    for node in nodes {
        timeout(WAIT, node.shutdown())
            .await
            .expect("shutdown returns");
    }
}

fn wall_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    u64::try_from(since.as_millis()).expect("fits")
}

/// Datagrams from outside the cluster that reached the node, as its
/// counters see them: envelopes refused for any reason but a replay (honest
/// traffic is refused only as a duplicate), and datagrams the transport
/// dropped before the envelope (too long, or no room in the inbox).
fn hostile_seen(stats: &GossipStats) -> u64 {
    stats.refused_total() - stats.envelope.replay
        + stats.transport.dropped(DropReason::Oversize)
        + stats.transport.dropped(DropReason::InboxFull)
}

/// Hostile datagrams thrown at the node.
const HOSTILE_DATAGRAMS: u64 = 100_000;
/// Datagrams sent before the sender looks at the node's counters.
const BATCH: u64 = 32;
/// Datagrams the sender lets the node be behind, at most, before it waits.
const IN_FLIGHT: u64 = 256;

/// One hostile datagram: random bytes, or a real envelope (`samples`)
/// truncated, bit-flipped, extended, or with a header field changed.
/// None is an envelope that opens: every change breaks the tag, or an
/// earlier check.
fn hostile(rng: &mut StdRng, samples: &[Vec<u8>]) -> Vec<u8> {
    let mut envelope = samples[rng.random_range(0..samples.len())].clone();
    match rng.random_range(0..9) {
        0 => {
            let mut junk = vec![0; rng.random_range(0..=1_300)];
            rng.fill(&mut junk[..]);
            junk
        }
        1 => {
            envelope.truncate(rng.random_range(0..envelope.len()));
            envelope
        }
        2 => {
            for _ in 0..rng.random_range(1..=4) {
                let bit = rng.random_range(0..envelope.len() * 8);
                envelope[bit / 8] ^= 1 << (bit % 8);
            }
            envelope
        }
        3 => {
            envelope[3] = rng.random_range(2..=u8::MAX);
            envelope
        }
        4 => {
            envelope[4] |= 1 << rng.random_range(1..8);
            envelope
        }
        5 => {
            envelope[9 + rng.random_range(0..4)] ^= rng.random_range(1..=u8::MAX);
            envelope
        }
        6 => {
            envelope[5 + rng.random_range(0..4)] ^= rng.random_range(1..=u8::MAX);
            envelope
        }
        7 => {
            // A valid header (magic, version, flags, key, cluster) on
            // random bytes.
            let mut forged = envelope[..13].to_vec();
            let mut rest = vec![0; rng.random_range(0..1_100)];
            rng.fill(&mut rest[..]);
            forged.extend(rest);
            forged
        }
        _ => {
            let mut tail = vec![0; rng.random_range(1..64)];
            rng.fill(&mut tail[..]);
            envelope.extend(tail);
            envelope
        }
    }
}

/// What a hostile TCP peer does after connecting.
#[derive(Clone, Copy, Debug)]
enum Stream {
    /// Sends nothing.
    HalfOpen,
    /// Sends random bytes.
    Garbage,
    /// A valid preamble, then a length prefix of 4 GiB.
    HugeLength,
    /// A valid preamble and a whole frame of random bytes.
    ForgedFrame,
    /// A valid preamble, a 100 kB length, 10 bytes of it, then nothing.
    Stalled,
}

/// Connects to `to`, behaves as `kind` says, then holds the connection
/// until the node closes it; returns whether it did within [`WAIT`].
async fn hostile_stream(to: SocketAddr, kind: Stream, seed: u64) -> bool {
    let mut rng = StdRng::seed_from_u64(seed);
    let Ok(Ok(mut stream)) = timeout(WAIT, TcpStream::connect(to)).await else {
        return false;
    };
    let preamble = encode_preamble(SocketAddr::from(([127, 0, 0, 1], 9)));
    let mut bytes = Vec::new();
    match kind {
        Stream::HalfOpen => {}
        Stream::Garbage => {
            bytes.resize(64, 0);
            rng.fill(&mut bytes[..]);
        }
        Stream::HugeLength => {
            bytes.extend(preamble);
            bytes.extend(u32::MAX.to_le_bytes());
        }
        Stream::ForgedFrame => {
            let mut frame = vec![0; 500];
            rng.fill(&mut frame[..]);
            bytes.extend(preamble);
            bytes.extend(500u32.to_le_bytes());
            bytes.extend(frame);
        }
        Stream::Stalled => {
            bytes.extend(preamble);
            bytes.extend(100_000u32.to_le_bytes());
            bytes.extend([7; 10]);
        }
    }
    // The node may close first, without reading: that is its answer too.
    let _ = stream.write_all(&bytes).await;
    let mut buffer = [0; 64];
    // Closed (end of stream, or reset): yes. The node never writes on an
    // inbound stream, so bytes read are a no.
    matches!(
        timeout(WAIT, stream.read(&mut buffer)).await,
        Ok(Ok(0) | Err(_))
    )
}

/// Datagrams an honest node sends to a member that never answers: real
/// envelopes of this cluster (joins, probes). At least 4, within [`WAIT`].
async fn capture(socket: &UdpSocket) -> Vec<Vec<u8>> {
    let mut samples = Vec::new();
    let mut buffer = vec![0; 65_536];
    let start = Instant::now();
    while samples.len() < 16 && start.elapsed() < Duration::from_secs(2) {
        if let Ok(Ok((len, _))) =
            timeout(Duration::from_millis(100), socket.recv_from(&mut buffer)).await
        {
            samples.push(buffer[..len].to_vec());
        }
    }
    assert!(samples.len() >= 4, "captured only {}", samples.len());
    samples
}

/// Honest writes, one every 20 ms, until `stop`; returns what was written.
async fn write_until(node: GossipHandle<Set>, first: u32, stop: Arc<AtomicBool>) -> Vec<u32> {
    let mut written = Vec::new();
    for element in first..first + 1_000 {
        if stop.load(Ordering::Acquire) {
            break;
        }
        insert(&node, element).await;
        written.push(element);
        sleep(Duration::from_millis(20)).await;
    }
    written
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_hostile_packets_and_streams_changes_nothing_and_honest_peers_converge() {
    // The victim closes a stream without its first frame after 500 ms (5 s
    // by default), so the half-open ones take their slots back in time.
    let transport = TransportConfig {
        first_frame_deadline: Duration::from_millis(500),
        ..TransportConfig::new(loopback())
    };
    let victim = start(builder(1).transport(transport)).await;
    let target = victim.local_addr();
    // A member that never answers, to capture real envelopes.
    let listener = UdpSocket::bind(loopback()).await.expect("a socket");
    let honest = [
        victim.clone(),
        start(builder(2).seeds([target, listener.local_addr().expect("bound")])).await,
        start(builder(3).seeds([target])).await,
    ];
    let samples = capture(&listener).await;
    for node in &honest {
        eventually("the honest nodes to know each other", || async {
            let members = members(node).await;
            honest
                .iter()
                .filter(|other| other.local_addr() != node.local_addr())
                .all(|other| members.contains(&other.local_addr()))
        })
        .await;
    }
    let before = stats(&victim).await;

    // Honest writes all along, on every node.
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = JoinSet::new();
    for (i, node) in honest.iter().enumerate() {
        let first = 10_000 * u32::try_from(i).expect("small");
        writers.spawn(write_until(node.clone(), first, stop.clone()));
    }
    // A crowd of hostile streams: more half-open ones than the victim has
    // connection slots (64).
    let mut streams = JoinSet::new();
    let crowd = [
        (Stream::HalfOpen, 100),
        (Stream::Garbage, 20),
        (Stream::HugeLength, 20),
        (Stream::ForgedFrame, 20),
        (Stream::Stalled, 10),
    ];
    let mut seed = 0;
    for (kind, count) in crowd {
        for _ in 0..count {
            seed += 1;
            streams.spawn(hostile_stream(target, kind, seed));
        }
    }
    // Meanwhile an honest delta larger than a datagram, over TCP, waits
    // behind them for a slot.
    let big = honest[1].clone();
    let me = big.replica();
    let big_delta = big
        .update(move |s| {
            let mut delta = Set::new();
            for e in 100_000..102_000 {
                delta.join(&s.insert(me, e));
            }
            delta
        })
        .await
        .expect("applies");
    assert_eq!(big_delta.len(), 2_000);

    // The datagrams, paced by what the victim has taken in.
    let start = Instant::now();
    let socket = UdpSocket::bind(loopback()).await.expect("a socket");
    let mut rng = StdRng::seed_from_u64(15);
    let (mut sent, mut written_off) = (0, 0);
    let seen = |stats: &GossipStats| hostile_seen(stats) - hostile_seen(&before);
    while sent < HOSTILE_DATAGRAMS {
        for _ in 0..BATCH.min(HOSTILE_DATAGRAMS - sent) {
            let datagram = hostile(&mut rng, &samples);
            socket.send_to(&datagram, target).await.expect("sent");
            sent += 1;
        }
        let paced = Instant::now();
        loop {
            let stats = stats(&victim).await;
            let behind = sent.saturating_sub(seen(&stats) + written_off);
            if behind <= IN_FLIGHT {
                break;
            }
            if paced.elapsed() > Duration::from_millis(100) {
                // Lost on the way (the socket's buffer overflowed): wait no
                // more for those.
                written_off += behind - IN_FLIGHT;
                break;
            }
            sleep(Duration::from_micros(200)).await;
        }
    }
    // Until every datagram is counted, or the count stops moving (a few
    // may be lost on loopback when the socket's buffer is full).
    let (mut counted, mut still) = (0, Instant::now());
    while seen(&stats(&victim).await) + written_off < sent
        && still.elapsed() < Duration::from_millis(300)
    {
        assert!(start.elapsed() < WAIT * 6, "the victim is still counting");
        let now = seen(&stats(&victim).await);
        if now > counted {
            (counted, still) = (now, Instant::now());
        }
        sleep(Duration::from_millis(5)).await;
    }
    let flood = start.elapsed();

    let mut closed = 0;
    while let Some(by_node) = streams.join_next().await {
        if by_node.expect("the stream task ran") {
            closed += 1;
        }
    }
    let streams_done = start.elapsed();
    stop.store(true, Ordering::Release);
    let mut written = Vec::new();
    while let Some(some) = writers.join_next().await {
        written.extend(some.expect("the writer ran"));
    }
    written.extend(100_000..102_000);
    written.sort_unstable();
    for node in &honest {
        eventually(
            "every honest write everywhere, and nothing else",
            || async { elements(node).await == written },
        )
        .await;
    }
    let converged = start.elapsed();
    // It still serves: a new write goes out and comes back.
    insert(&victim, 99_999).await;
    let me = honest[2].replica();
    honest[2]
        .update(move |s| s.insert(me, 99_998))
        .await
        .expect("applies");
    for node in &honest {
        eventually("the writes after the flood everywhere", || async {
            let all = elements(node).await;
            all.contains(&99_999) && all.contains(&99_998)
        })
        .await;
    }

    let after = stats(&victim).await;
    let (envelope, transport) = (after.envelope, after.transport);
    let hostile = seen(&after);
    eprintln!(
        "{sent} hostile datagrams sent and counted in {flood:?}, \
         {hostile} counted by the victim ({written_off} written off as lost); \
         {closed} of 170 hostile streams closed by the victim ({streams_done:?}); \
         {} honest writes converged {converged:?} after the flood began",
        written.len()
    );
    eprintln!("victim's counters: {after:#?}");
    assert!(
        hostile <= sent,
        "an honest packet was refused: {hostile} > {sent}"
    );
    assert!(
        hostile * 100 >= sent * 99,
        "fewer than 99% of the datagrams counted: {hostile} of {sent}"
    );
    for (reason, count) in [
        ("bad_magic", envelope.bad_magic),
        ("too_short", envelope.too_short),
        ("unsupported_version", envelope.unsupported_version),
        ("unknown_flags", envelope.unknown_flags),
        ("wrong_cluster", envelope.wrong_cluster),
        ("unknown_key", envelope.unknown_key),
        ("bad_tag", envelope.bad_tag),
        ("oversize", transport.dropped(DropReason::Oversize)),
    ] {
        assert!(count > 0, "no {reason} counted: {after:?}");
    }
    assert_eq!(
        envelope.accepted - before.envelope.accepted,
        after.messages_in - before.messages_in,
        "every envelope accepted was a message handled"
    );
    assert_eq!(closed, 170, "every hostile stream is closed by the victim");
    for (reason, at_least) in [
        (CloseReason::AuthTimeout, 110),
        (CloseReason::BadPreamble, 20),
        (CloseReason::FrameTooLarge, 20),
        (CloseReason::AuthFailed, 20),
    ] {
        assert!(
            transport.closed(reason) >= at_least,
            "{reason}: {} < {at_least}: {transport:?}",
            transport.closed(reason)
        );
    }
    assert!(transport.frames_in > 0, "the honest delta came over TCP");
    shutdown(&honest).await;
}

/// Two nodes joined through a relay (`a` advertises `to_a`, `b` advertises
/// `to_b`); returns them and `a`'s bound address.
async fn through_relay(relay: &mut Relay) -> (GossipHandle<Set>, GossipHandle<Set>, SocketAddr) {
    let to_a = relay.to_a();
    let (a, a_bound) = start_bound(|| builder(1).advertise(to_a)).await;
    let to_b = relay.to_b();
    let (b, b_bound) = start_bound(|| builder(2).advertise(to_b).seeds([to_a])).await;
    relay.start(a_bound, b_bound);
    eventually("a and b to join through the relay", || async {
        members(&a).await == [to_b] && members(&b).await == [to_a]
    })
    .await;
    (a, b, a_bound)
}

/// Whether `message` carries a delta holding `element`.
fn carries(message: &Message<Set, SocketAddr>, element: u32) -> bool {
    match &message.body {
        Body::Tree(Tree::Gossip { delta, .. }) => delta.contains(&element),
        Body::Sync(sync) => sync.delta.contains(&element),
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_datagram_is_refused_and_counted_whoever_sends_it() {
    let mut relay = Relay::bind().await;
    let (a, b, a_bound) = through_relay(&mut relay).await;
    insert(&b, 7).await;
    eventually("a to get b's write", || async { elements(&a).await == [7] }).await;
    // The datagram that carried the write, found by opening copies of what
    // crossed the relay (the test holds the cluster's key).
    let mut opener = EnvelopeCodec::new(
        Security::Keys(Keyring::new(Key::from_bytes(KEY))),
        Cluster::new(LABEL),
        ReplicaId::from_u128(99),
    );
    let carrier = relay
        .kept(Direction::ToA)
        .into_iter()
        .find(|datagram| {
            let opened =
                opener.open_message::<Message<Set, SocketAddr>>(datagram, 1_200, wall_ms());
            opened.is_ok_and(|(_, message)| carries(&message, 7))
        })
        .expect("a datagram carried the write");

    let before = stats(&a).await;
    // Five times from b's address (through the relay's socket), five times
    // from an address a has never seen.
    let stranger = UdpSocket::bind(loopback()).await.expect("a socket");
    for _ in 0..5 {
        relay.inject_to_a(&carrier, a_bound).await;
        stranger.send_to(&carrier, a_bound).await.expect("sent");
    }
    eventually("a to refuse the 10 replays", || async {
        stats(&a).await.envelope.replay >= before.envelope.replay + 10
    })
    .await;
    let after = stats(&a).await;
    eprintln!(
        "replays counted: {} before, {} after 10 replays",
        before.envelope.replay, after.envelope.replay
    );
    assert_eq!(
        after.refused_total() - after.envelope.replay,
        before.refused_total() - before.envelope.replay,
        "refused as replays, not for another reason"
    );
    assert_eq!(elements(&a).await, [7]);
    assert!(!members(&a)
        .await
        .contains(&stranger.local_addr().expect("bound")));
    shutdown(&[a, b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_envelope_of_an_unknown_protocol_version_is_refused_and_counted() {
    let mut relay = Relay::bind().await;
    let (a, b, a_bound) = through_relay(&mut relay).await;
    insert(&b, 1).await;
    eventually("a to get b's write", || async { elements(&a).await == [1] }).await;
    let before = stats(&a).await;
    let real = relay.kept(Direction::ToA);
    let mut sent = 0;
    // At most 20: a burst small enough for the socket's buffer, so the
    // count can be exact.
    for (datagram, version) in real
        .iter()
        .take(20)
        .zip([0, 2, 3, 0x80, u8::MAX].into_iter().cycle())
    {
        let mut other = datagram.clone();
        other[3] = version;
        relay.inject_to_a(&other, a_bound).await;
        sent += 1;
    }
    assert!(sent >= 5, "{sent} datagrams crossed the relay");
    eventually("a to count every one", || async {
        stats(&a).await.envelope.unsupported_version == before.envelope.unsupported_version + sent
    })
    .await;
    let after = stats(&a).await;
    assert_eq!(
        after.refused_total() - after.envelope.replay,
        before.refused_total() - before.envelope.replay + sent,
        "refused for their version only"
    );
    assert_eq!(elements(&a).await, [1]);
    shutdown(&[a, b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_of_another_cluster_with_the_same_key_is_refused_and_counted() {
    let a = start(builder(1)).await;
    let b = start(builder(2).seeds([a.local_addr()])).await;
    let stranger = Gossip::builder(ReplicaId::from_u128(9), Set::new())
        .bind(loopback())
        .seeds([a.local_addr()])
        .keyring(Keyring::new(Key::from_bytes(KEY)))
        .cluster("another-cluster")
        .start()
        .await
        .expect("the node starts");
    insert(&stranger, 666).await;
    insert(&b, 1).await;
    eventually("a to get b's write", || async { elements(&a).await == [1] }).await;
    eventually("a to count the stranger's envelopes", || async {
        stats(&a).await.envelope.wrong_cluster >= 3
    })
    .await;
    for node in [&a, &b] {
        assert_eq!(elements(node).await, [1]);
        assert!(!members(node).await.contains(&stranger.local_addr()));
        let stats = stats(node).await;
        assert_eq!(
            stats.refused_total() - stats.envelope.replay,
            stats.envelope.wrong_cluster,
            "refused for their cluster only: {stats:?}"
        );
    }
    assert_eq!(elements(&stranger).await, [666]);
    shutdown(&[a, b, stranger]).await;
}

/// Connects to `to` and sends `first` as the first frame of a stream, then
/// holds the connection open (returned).
async fn stream_with_first_frame(to: SocketAddr, first: &[u8]) -> TcpStream {
    let mut stream = timeout(WAIT, TcpStream::connect(to))
        .await
        .expect("connects in time")
        .expect("connects");
    let mut bytes = encode_preamble(SocketAddr::from(([127, 0, 0, 1], 9))).to_vec();
    bytes.extend(u32::try_from(first.len()).expect("small").to_le_bytes());
    bytes.extend(first);
    stream.write_all(&bytes).await.expect("written");
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_envelope_the_node_has_opened_is_refused_as_a_first_frame_and_its_stream_closed() {
    // Regression: the first-frame check skipped the nonce, so a recorded
    // envelope replayed as the first frame of a stream held a connection
    // slot (until idle, 60 s) although the node had opened it already.
    let victim = start(builder(1)).await;
    let target = victim.local_addr();
    let listener = UdpSocket::bind(loopback()).await.expect("a socket");
    let honest = start(builder(2).seeds([listener.local_addr().expect("bound")])).await;
    let recorded = capture(&listener).await;
    let before = stats(&victim).await;
    // The victim opens the recorded envelope once, as a datagram.
    let replayer = UdpSocket::bind(loopback()).await.expect("a socket");
    replayer.send_to(&recorded[0], target).await.expect("sent");
    eventually("the victim to open the recorded envelope", || async {
        stats(&victim).await.envelope.accepted > before.envelope.accepted
    })
    .await;
    let mut streams = Vec::new();
    for _ in 0..3 {
        streams.push(stream_with_first_frame(target, &recorded[0]).await);
    }
    eventually("the three replayed first frames to be refused", || async {
        let now = stats(&victim).await.transport;
        now.closed(CloseReason::AuthFailed) - before.transport.closed(CloseReason::AuthFailed) >= 3
    })
    .await;
    let after = stats(&victim).await;
    assert_eq!(after.transport.connections_in, 0, "a replay holds a slot");
    assert_eq!(
        after.envelope.replay, before.envelope.replay,
        "refused at the first-frame check, not opened"
    );
    victim.shutdown().await;
    honest.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_honest_large_delta_arrives_while_a_recorded_envelope_is_replayed_as_first_frames() {
    // A recorded envelope the victim has not opened yet (it was sent to
    // another member) passes the first-frame check: it is authentic and
    // new here. Replayed on several streams before the node opens the
    // first copy, each such stream holds an inbound slot until it idles
    // out (2 x idle_timeout, 60 s). The delta must still get through.
    // Four inbound slots (64 by default): the same holds for any number.
    let transport = TransportConfig {
        max_connections: 4,
        ..TransportConfig::new(loopback())
    };
    let victim = start(builder(1).transport(transport)).await;
    let target = victim.local_addr();
    let listener = UdpSocket::bind(loopback()).await.expect("a socket");
    let honest = start(builder(2).seeds([target, listener.local_addr().expect("bound")])).await;
    // Authentic envelopes, as anyone on the path records them.
    let recorded = capture(&listener).await;
    eventually(
        "the honest node and the victim to know each other",
        || async {
            members(&victim).await.contains(&honest.local_addr())
                && members(&honest).await.contains(&target)
        },
    )
    .await;
    let before = stats(&victim).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(stream_with_first_frame(target, &recorded[0]).await);
    }
    let refused_at_check = |now: &GossipStats| {
        now.transport.closed(CloseReason::AuthFailed)
            - before.transport.closed(CloseReason::AuthFailed)
    };
    // Copies checked after the node opened the first are closed at once.
    eventually("the victim to take or refuse the four streams", || async {
        let now = stats(&victim).await;
        now.transport.connections_in + refused_at_check(&now) >= 4
    })
    .await;
    let taken = stats(&victim).await;
    eprintln!(
        "replayed first frames: {} connections held, {} closed as auth_failed, {} replays counted",
        taken.transport.connections_in,
        taken.transport.closed(CloseReason::AuthFailed)
            - before.transport.closed(CloseReason::AuthFailed),
        taken.envelope.replay - before.envelope.replay
    );
    // An honest delta larger than a datagram needs a slot.
    let me = honest.replica();
    honest
        .update(move |s| {
            let mut delta = Set::new();
            for e in 0..2_000 {
                delta.join(&s.insert(me, e));
            }
            delta
        })
        .await
        .expect("applies");
    let waited = Instant::now();
    let arrived = timeout(Duration::from_secs(5), async {
        while victim.read(|s| s.len()).await.expect("runs") < 2_000 {
            sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let after = stats(&victim).await;
    eprintln!(
        "the honest delta arrived: {} (after {:?}), {} stream frames received meanwhile",
        arrived.is_ok(),
        waited.elapsed(),
        after.transport.frames_in - taken.transport.frames_in
    );
    assert!(
        after.envelope.replay - before.envelope.replay + refused_at_check(&after) >= 3,
        "the replayed copies are refused, when checked or when opened: {after:?}"
    );
    drop(held);
    shutdown(&[victim.clone(), honest]).await;
    assert!(
        arrived.is_ok(),
        "the honest delta waited more than 5 s behind 4 replayed first frames"
    );
}

/// A member that holds the cluster key and lies (issue 18): its ping
/// requests for made-up targets draw no ping, and the runtime's stats count
/// them by bound (`GossipStats::bounds`), as `rumor node`'s `stats` and the
/// `rumor_refused_by_bound_total` metric report them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_requests_for_strangers_from_a_key_holder_are_counted_by_bound() {
    use rumor_gossip::Probe;
    let a = start(builder(1)).await;
    let liar = UdpSocket::bind(loopback()).await.expect("binds");
    let mut sealer = EnvelopeCodec::new(
        Security::Keys(Keyring::new(Key::from_bytes(KEY))),
        Cluster::new(LABEL),
        ReplicaId::from_u128(66),
    );
    let mut rng = StdRng::seed_from_u64(18);
    let before = stats(&a).await;
    let forged = 10;
    for seq in 0..forged {
        let target = SocketAddr::from(([127, 0, 0, 1], 40_000 + u16::try_from(seq).unwrap_or(0)));
        let message: Message<Set, SocketAddr> =
            Message::new(Body::Probe(Probe::PingReq { seq, target }));
        let payload = rumor_crdt::codec::encode(&message).expect("encodes");
        let sealed = sealer.seal(&payload, wall_ms(), &mut rng).expect("seals");
        liar.send_to(&sealed, a.local_addr()).await.expect("sent");
    }
    eventually("a to count the ten ping requests", || async {
        stats(&a).await.bounds.ping_reqs == before.bounds.ping_reqs + forged
    })
    .await;
    let after = stats(&a).await;
    assert_eq!(after.bounds.total() - before.bounds.total(), forged);
    assert_eq!(after.envelope.accepted - before.envelope.accepted, forged);
    shutdown(&[a]).await;
}
