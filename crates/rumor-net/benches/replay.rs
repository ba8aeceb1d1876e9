//! The replay memory's `remember`, timed in its steady state: the B-tree
//! memory it was until the per-sender queues replaced it, and the
//! [`ReplayGuard`] of now, side by side over the same traffic in the same
//! run, at the default bounds.
//!
//! `cargo bench -p rumor-net --bench replay`; `-- --test` runs each briefly.
//!
//! Plain `std::time::Instant` timing, no criterion: rumor-net has no
//! criterion dependency (the criterion benches are the `rumor-benches`
//! package's, in `benches/`). Each sample times the same number of calls
//! of both, alternately; the report is the median and the fastest sample.
//!
//! The traffic: 1,000 senders, each with its own clock (up to 1 s off ours)
//! moving forward, so each sends in clock order; the sender of each call is
//! drawn at random. Three rates of arrival:
//! - 50 calls a millisecond: the total bound (16,384) holds the last
//!   third of a second, so the total bound forgets one nonce a call (and
//!   about 1 % of calls are refused, by both alike: the memory spans less
//!   than the senders' clocks differ);
//! - one call each 3.662 ms: the window (60 s) holds about 16,384 nonces,
//!   the total bound;
//! - one call each 20 ms (50 datagrams a second, what one agent of a
//!   1,000-agent swarm receives): the window holds 3,000, and forgets one
//!   nonce a call.
#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use rumor_crdt::ReplicaId;
use rumor_net::{Error, Nonce, ReplayConfig, ReplayGuard};

/// The memory as it was: copied from `src/replay.rs` before its rewrite
/// (`remember` and what it calls, verbatim but for visibility).
mod btree {
    use std::collections::{BTreeMap, BTreeSet};

    use rumor_crdt::ReplicaId;
    use rumor_net::{Error, Nonce, ReplayConfig};

    /// What the guard keeps about one sender.
    #[derive(Clone, Copy, Debug)]
    struct Sender {
        /// How many of its nonces are remembered (0: only its floor is).
        count: usize,
        /// The `sent_ms` of its oldest remembered nonce, if `count > 0` (its
        /// key in `ReplayGuard::oldest`).
        oldest_ms: u64,
        /// Its envelopes sent at or before this are refused.
        floor: Option<u64>,
    }

    /// The memory of accepted nonces, bounded (see the [module docs](self)).
    #[derive(Clone, Debug)]
    pub(super) struct ReplayGuard {
        config: ReplayConfig,
        /// Every remembered nonce, by sender, then time.
        seen: BTreeSet<(ReplicaId, u64, [u8; 16])>,
        /// Every remembered sender.
        senders: BTreeMap<ReplicaId, Sender>,
        /// The oldest nonce time of each sender with nonces remembered: where
        /// the oldest nonce of all is.
        oldest: BTreeSet<(u64, ReplicaId)>,
        /// The floor of each sender remembered with no nonce: which to forget
        /// first (the lowest floor).
        idle: BTreeSet<(u64, ReplicaId)>,
        /// The floor of every sender not remembered.
        floor: Option<u64>,
    }

    impl ReplayGuard {
        /// An empty memory. Bounds below 1 are raised to 1.
        #[must_use]
        pub(super) fn new(config: ReplayConfig) -> Self {
            let config = ReplayConfig {
                max_per_sender: config.max_per_sender.max(1),
                max_total: config.max_total.max(1),
                max_senders: config.max_senders.max(1),
                ..config
            };
            Self {
                config,
                seen: BTreeSet::new(),
                senders: BTreeMap::new(),
                oldest: BTreeSet::new(),
                idle: BTreeSet::new(),
                floor: None,
            }
        }

        /// How many nonces are remembered.
        #[must_use]
        pub(super) fn remembered(&self) -> usize {
            self.seen.len()
        }

        /// How many senders are remembered (with nonces, or with a floor only).
        #[must_use]
        pub(super) fn senders(&self) -> usize {
            self.senders.len()
        }

        /// The check after decryption: refuses a nonce `sender` already used
        /// (or one at or below its floor), and otherwise remembers it. First
        /// forgets what fell out of the window at `now_ms`.
        ///
        /// Call it only for an authenticated envelope that passed
        /// [`check_time`](Self::check_time) at the same `now_ms`.
        ///
        /// # Errors
        /// [`Error::Replay`].
        pub(super) fn remember(
            &mut self,
            sender: ReplicaId,
            nonce: &Nonce,
            now_ms: u64,
        ) -> Result<(), Error> {
            self.expire(now_ms);
            let sent_ms = nonce.sent_ms;
            let entry = (sender, sent_ms, nonce.random);
            let floor = self.senders.get(&sender).map_or(self.floor, |s| s.floor);
            if floor.is_some_and(|floor| sent_ms <= floor) || self.seen.contains(&entry) {
                return Err(Error::Replay);
            }
            self.seen.insert(entry);
            let shared_floor = self.floor;
            let memory = self.senders.entry(sender).or_insert(Sender {
                count: 0,
                oldest_ms: sent_ms,
                floor: shared_floor,
            });
            if memory.count == 0 {
                if let Some(floor) = memory.floor {
                    self.idle.remove(&(floor, sender));
                }
                memory.oldest_ms = sent_ms;
                self.oldest.insert((sent_ms, sender));
            } else if sent_ms < memory.oldest_ms {
                self.oldest.remove(&(memory.oldest_ms, sender));
                memory.oldest_ms = sent_ms;
                self.oldest.insert((sent_ms, sender));
            }
            memory.count += 1;
            if memory.count > self.config.max_per_sender {
                self.forget_oldest_of(sender);
            }
            while self.seen.len() > self.config.max_total {
                self.forget_oldest_nonce();
            }
            while self.senders.len() > self.config.max_senders {
                if !self.forget_idle_sender() {
                    self.forget_oldest_nonce();
                }
            }
            Ok(())
        }

        /// Forgets every nonce sent before `now_ms − window`, and every sender
        /// whose floor is before it: a replay of those is
        /// [`Stale`](Error::Stale) anyway (and refused by the floors if the
        /// clock steps back).
        fn expire(&mut self, now_ms: u64) {
            let horizon = now_ms.saturating_sub(self.config.window_ms);
            while let Some(&(sent_ms, sender)) = self.oldest.first() {
                if sent_ms >= horizon {
                    break;
                }
                self.forget_oldest_of(sender);
            }
            while self.idle.first().is_some_and(|&(floor, _)| floor < horizon) {
                self.forget_idle_sender();
            }
        }

        /// Forgets the oldest nonce of all.
        fn forget_oldest_nonce(&mut self) {
            if let Some(&(_, sender)) = self.oldest.first() {
                self.forget_oldest_of(sender);
            }
        }

        /// Forgets `sender`'s oldest nonce and raises its floor to it.
        fn forget_oldest_of(&mut self, sender: ReplicaId) {
            let range = (sender, 0, [0; 16])..=(sender, u64::MAX, [0xff; 16]);
            let Some(&oldest) = self.seen.range(range.clone()).next() else {
                return;
            };
            self.seen.remove(&oldest);
            let Some(memory) = self.senders.get_mut(&sender) else {
                return;
            };
            let sent_ms = oldest.1;
            memory.count -= 1;
            memory.floor = memory.floor.max(Some(sent_ms));
            self.oldest.remove(&(memory.oldest_ms, sender));
            match self.seen.range(range).next() {
                Some(&(_, next_ms, _)) => {
                    memory.oldest_ms = next_ms;
                    self.oldest.insert((next_ms, sender));
                }
                None => {
                    self.idle.insert((memory.floor.unwrap_or(sent_ms), sender));
                }
            }
        }

        /// Forgets the remembered sender with no nonce and the lowest floor,
        /// folding its floor into the shared one. Returns whether there was one.
        fn forget_idle_sender(&mut self) -> bool {
            let Some((floor, sender)) = self.idle.pop_first() else {
                return false;
            };
            self.senders.remove(&sender);
            self.floor = self.floor.max(Some(floor));
            true
        }
    }
}

/// Either memory.
trait Memory {
    fn new(config: ReplayConfig) -> Self;
    fn remember(&mut self, sender: ReplicaId, nonce: &Nonce, now_ms: u64) -> Result<(), Error>;
    fn held(&self) -> (usize, usize);
}

impl Memory for btree::ReplayGuard {
    fn new(config: ReplayConfig) -> Self {
        Self::new(config)
    }
    fn remember(&mut self, sender: ReplicaId, nonce: &Nonce, now_ms: u64) -> Result<(), Error> {
        self.remember(sender, nonce, now_ms)
    }
    fn held(&self) -> (usize, usize) {
        (self.remembered(), self.senders())
    }
}

impl Memory for ReplayGuard {
    fn new(config: ReplayConfig) -> Self {
        Self::new(config)
    }
    fn remember(&mut self, sender: ReplicaId, nonce: &Nonce, now_ms: u64) -> Result<(), Error> {
        self.remember(sender, nonce, now_ms)
    }
    fn held(&self) -> (usize, usize) {
        (self.remembered(), self.senders())
    }
}

const SENDERS: u64 = 1_000;

/// The arrivals: the same seed gives the same calls.
struct Traffic {
    state: u64,
    now_us: u64,
    step_us: u64,
}

impl Traffic {
    const fn new(step_us: u64) -> Self {
        Self {
            state: 0x9e37_79b9_7f4a_7c15,
            now_us: 1_700_000_000_000_000,
            step_us,
        }
    }

    /// xorshift64*.
    const fn next_u64(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// The next call: who, which nonce, and our clock in ms.
    fn next(&mut self) -> (ReplicaId, Nonce, u64) {
        self.now_us += self.step_us;
        let now_ms = self.now_us / 1_000;
        let sender = self.next_u64() % SENDERS;
        // Each sender's clock is a fixed offset from ours, in −1 s..=+1 s.
        let sent_ms = now_ms - 1_000 + (sender * 7_919) % 2_001;
        let mut random = [0; 16];
        random[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        random[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        (
            ReplicaId::from_u128(u128::from(sender) + 1),
            Nonce { sent_ms, random },
            now_ms,
        )
    }
}

/// A memory and its traffic; counts what it refused.
struct Run<M> {
    memory: M,
    traffic: Traffic,
    refused: u64,
}

impl<M: Memory> Run<M> {
    fn new(step_us: u64) -> Self {
        Self {
            memory: M::new(ReplayConfig::default()),
            traffic: Traffic::new(step_us),
            refused: 0,
        }
    }

    fn calls(&mut self, calls: u32) {
        for _ in 0..calls {
            let (sender, nonce, now_ms) = self.traffic.next();
            if black_box(&mut self.memory)
                .remember(sender, black_box(&nonce), now_ms)
                .is_err()
            {
                self.refused += 1;
            }
        }
    }

    /// The time of `calls` calls, per call.
    fn sample(&mut self, calls: u32) -> Duration {
        let start = Instant::now();
        self.calls(calls);
        start.elapsed() / calls
    }
}

fn median_and_min(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort_unstable();
    (samples[samples.len() / 2], samples[0])
}

fn main() {
    let test = std::env::args().any(|arg| arg == "--test");
    let (warm_up, samples, calls) = if test {
        (1_000, 1, 1_000)
    } else {
        (200_000, 9, 200_000)
    };
    let rates = [
        ("50 calls/ms (total bound)", 20),
        ("1 call/3.662 ms (window = total bound)", 3_662),
        ("1 call/20 ms (window, 3,000 held)", 20_000),
    ];
    println!("replay/remember, 1,000 senders in clock order, default bounds: ns per call, median (fastest) of {samples} samples of {calls} calls");
    for (rate, step_us) in rates {
        let mut btree = Run::<btree::ReplayGuard>::new(step_us);
        let mut queues = Run::<ReplayGuard>::new(step_us);
        btree.calls(warm_up);
        queues.calls(warm_up);
        let (mut btree_times, mut queue_times) = (Vec::new(), Vec::new());
        for _ in 0..samples {
            btree_times.push(btree.sample(calls));
            queue_times.push(queues.sample(calls));
        }
        // The same traffic, the same answers, the same memory.
        assert_eq!(btree.refused, queues.refused, "{rate}: refused");
        assert_eq!(btree.memory.held(), queues.memory.held(), "{rate}: held");
        let (nonces, senders) = queues.memory.held();
        if test {
            println!("{rate}: ok");
            continue;
        }
        let (btree_median, btree_min) = median_and_min(btree_times);
        let (queue_median, queue_min) = median_and_min(queue_times);
        println!(
            "{rate}: B-tree {} ({}), queues {} ({}), x{:.1}; {nonces} nonces of {senders} senders held, {} refused",
            btree_median.as_nanos(),
            btree_min.as_nanos(),
            queue_median.as_nanos(),
            queue_min.as_nanos(),
            btree_median.as_secs_f64() / queue_median.as_secs_f64(),
            queues.refused,
        );
    }
}
