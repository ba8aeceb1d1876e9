//! What a node publishes through the `metrics` facade: the counters of its
//! `stats()` by kind and reason, and gauges of its members and queues that
//! go back to zero when it stops. A test binary of its own: it installs
//! the process-wide recorder.

use std::collections::HashMap;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use rumor_crdt::{OrSet, ReplicaId};
use rumor_net::{Gossip, GossipHandle, GossipStats, Key, Keyring, MemoryConfig, MemoryNetwork};
use tokio::time::{sleep, Instant};

type Set = OrSet<u32>;

/// What the recorder has been given so far. Its snapshots drain counters
/// and gauges alike (each reading is what came since the last), and the node
/// moves its gauges by increments only, so the sums are the values.
struct Published {
    snapshotter: Snapshotter,
    sums: HashMap<(String, Vec<(String, String)>), f64>,
}

impl Published {
    /// The value of `name` with label `label = value`: a counter's count or
    /// a gauge's level; 0 when never published.
    fn read(&mut self, name: &str, label: (&str, &str)) -> f64 {
        for (key, _, _, value) in self.snapshotter.snapshot().into_vec() {
            let key = key.key();
            let labels = key
                .labels()
                .map(|l| (l.key().to_string(), l.value().to_string()))
                .collect();
            #[allow(clippy::cast_precision_loss)]
            let value = match value {
                DebugValue::Counter(n) => n as f64,
                DebugValue::Gauge(level) => level.into_inner(),
                DebugValue::Histogram(_) => 0.0,
            };
            *self
                .sums
                .entry((key.name().to_string(), labels))
                .or_default() += value;
        }
        let wanted = vec![(label.0.to_string(), label.1.to_string())];
        self.sums
            .get(&(name.to_string(), wanted))
            .copied()
            .unwrap_or_default()
    }
}

async fn node(
    network: &MemoryNetwork,
    id: u128,
    seeds: &[std::net::SocketAddr],
) -> GossipHandle<Set> {
    Gossip::builder(ReplicaId::from_u128(id), Set::new())
        .memory(network)
        .seeds(seeds.iter().copied())
        .keyring(Keyring::new(Key::from_bytes([3; 32])))
        .start()
        .await
        .expect("the node starts")
}

#[allow(clippy::cast_precision_loss)]
fn as_f64(n: u64) -> f64 {
    n as f64
}

#[tokio::test]
async fn a_node_publishes_its_counters_and_takes_its_gauges_back_when_it_stops() {
    let recorder = DebuggingRecorder::new();
    let mut published = Published {
        snapshotter: recorder.snapshotter(),
        sums: HashMap::new(),
    };
    recorder
        .install()
        .expect("the only recorder of this test binary");

    let network = MemoryNetwork::new(MemoryConfig::default()).expect("a network");
    let a = node(&network, 1, &[]).await;
    let b = node(&network, 2, &[a.local_addr()]).await;
    a.update(|s| s.insert(ReplicaId::from_u128(1), 7))
        .await
        .expect("a writes");

    // Both hold each other alive and b has the write, published at a round.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let alive = published.read("rumor_members", ("status", "alive"));
        let has = b.read(|s| s.contains(&7)).await.expect("b answers");
        if (alive - 2.0).abs() < f64::EPSILON && has {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "alive gauge {alive}, b has the write: {has}"
        );
        sleep(Duration::from_millis(20)).await;
    }

    let stats: Vec<GossipStats> = vec![
        a.stats().await.expect("a answers"),
        b.stats().await.expect("b answers"),
    ];
    assert_eq!(stats[0].members.alive, 1);
    assert_eq!(stats[1].members.alive, 1);
    for s in &stats {
        assert_eq!(s.sent.total().messages, s.messages_out);
        assert_eq!(s.received.total().bytes, s.bytes_in);
    }
    a.shutdown().await;
    b.shutdown().await;

    // Stopped nodes publish their last counters: at least what stats() said
    // before (a few more messages may have gone out in between), by kind.
    for (kind, sum) in [
        (
            "probe",
            stats[0].sent.probe.messages + stats[1].sent.probe.messages,
        ),
        (
            "tree",
            stats[0].sent.tree.messages + stats[1].sent.tree.messages,
        ),
    ] {
        assert!(sum > 0, "{kind} messages were sent");
        let sent = published.read("rumor_messages_sent_total", ("kind", kind));
        assert!(sent >= as_f64(sum), "{kind}: published {sent}, stats {sum}");
    }
    let received = stats[0].received.total().bytes + stats[1].received.total().bytes;
    let bytes: f64 = ["probe", "view", "sync", "tree"]
        .iter()
        .map(|&kind| published.read("rumor_bytes_received_total", ("kind", kind)))
        .sum();
    assert!(
        bytes >= as_f64(received),
        "published {bytes}, stats {received}"
    );
    // ... and take their gauges back out.
    for status in ["alive", "suspect", "dead", "left"] {
        let level = published.read("rumor_members", ("status", status));
        assert!(
            level.abs() < f64::EPSILON,
            "{status} members after stop: {level}"
        );
    }
}
