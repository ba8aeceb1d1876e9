//! Rejections are logged at a rate limit. In a test binary of its own: a
//! `tracing` subscriber set for one thread does not see callsites that
//! other tests' threads registered first without one.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::SeedableRng;
use rumor_crdt::ReplicaId;
use rumor_net::{Cluster, EnvelopeCodec, Key, Keyring, Security};

const NOW: u64 = 1_700_000_000_000;
const LIMIT: usize = 1_200;

fn node(id: u128) -> EnvelopeCodec {
    let security = Security::Keys(Keyring::new(Key::from_bytes([1; 32])));
    EnvelopeCodec::new(security, Cluster::new("test"), ReplicaId::from_u128(id))
}

fn rng() -> StdRng {
    static SEED: AtomicU64 = AtomicU64::new(0);
    StdRng::seed_from_u64(SEED.fetch_add(1, Ordering::Relaxed))
}

/// Counts the events logged, by level.
#[derive(Default)]
struct LogCounter {
    warnings: AtomicUsize,
    debug: AtomicUsize,
}

struct CountingSubscriber(Arc<LogCounter>);

impl tracing::Subscriber for CountingSubscriber {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let counter = match *event.metadata().level() {
            tracing::Level::WARN => &self.0.warnings,
            _ => &self.0.debug,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// A flood of one rejection writes one warning per interval, not one per
/// envelope; replays (duplicated datagrams are routine) are logged at debug.
#[test]
fn rejections_are_logged_at_most_once_per_reason_per_interval() {
    let counter = Arc::new(LogCounter::default());
    let subscriber = CountingSubscriber(counter.clone());
    tracing::subscriber::with_default(subscriber, || {
        let mut receiver = node(2).with_log_interval_ms(1_000);
        let good = node(1).seal(b"x", NOW, &mut rng()).expect("seal");
        assert!(receiver.open(&good, LIMIT, NOW).is_ok());
        for ms in 0..3_000 {
            let _ = receiver.open(b"junk", LIMIT, NOW + ms);
            let _ = receiver.open(&good, LIMIT, NOW + ms);
        }
        assert_eq!(receiver.stats().too_short, 3_000);
        assert_eq!(receiver.stats().replay, 3_000);
    });
    assert_eq!(
        counter.warnings.load(Ordering::Relaxed),
        3,
        "too_short at 0, 1 and 2 s"
    );
    assert_eq!(
        counter.debug.load(Ordering::Relaxed),
        3,
        "replay at 0, 1 and 2 s"
    );
}
