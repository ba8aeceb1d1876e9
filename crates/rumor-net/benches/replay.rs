//! The replay memory's `remember`, timed in its steady state at the default
//! bounds. Its B-tree predecessor (one set of every nonce) was timed side by
//! side with it over the same traffic, in the same run, at commit 578335f
//! (`git show 578335f:crates/rumor-net/benches/replay.rs`): 3.8–4.7× slower.
//!
//! `cargo bench -p rumor-net --bench replay`; `-- --test` runs each briefly.
//!
//! Plain `std::time::Instant` timing, no criterion: rumor-net has no
//! criterion dependency (the criterion benches are the `rumor-benches`
//! package's, in `benches/`). The report is the median and the fastest of
//! the samples.
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
use rumor_net::{Nonce, ReplayConfig, ReplayGuard};

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
struct Run {
    memory: ReplayGuard,
    traffic: Traffic,
    refused: u64,
}

impl Run {
    fn new(step_us: u64) -> Self {
        Self {
            memory: ReplayGuard::new(ReplayConfig::default()),
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
        let mut run = Run::new(step_us);
        run.calls(warm_up);
        let times: Vec<Duration> = (0..samples).map(|_| run.sample(calls)).collect();
        let (nonces, senders) = (run.memory.remembered(), run.memory.senders());
        // In its steady state the memory stays within the total bound.
        assert!(
            nonces <= ReplayConfig::default().max_total,
            "{rate}: {nonces} held"
        );
        if test {
            println!("{rate}: ok");
            continue;
        }
        let (median, min) = median_and_min(times);
        println!(
            "{rate}: {} ({}); {nonces} nonces of {senders} senders held, {} refused",
            median.as_nanos(),
            min.as_nanos(),
            run.refused,
        );
    }
}
