//! What the replay memory holds on the heap, measured with a counting
//! allocator: at its bounds, after a flood of distinct nonces from many
//! senders, and at its peak during the flood.
#![allow(clippy::print_stdout)]

use rumor_crdt::ReplicaId;
use rumor_net::{Nonce, ReplayConfig, ReplayGuard};

const NOW: u64 = 1_700_000_000_000;

fn nonce(sent_ms: u64, n: u64) -> Nonce {
    let mut random = [0xa5; 16];
    random[..8].copy_from_slice(&n.to_le_bytes());
    Nonce { sent_ms, random }
}

/// Feeds `senders × per_sender` distinct nonces (sender-major when
/// `by_sender`, else interleaved) at skewed clocks; returns (peak bytes,
/// bytes held at the end, nonces held, senders held).
fn flood(
    config: ReplayConfig,
    senders: u64,
    per_sender: u64,
    by_sender: bool,
) -> (u64, u64, usize, usize) {
    let mut held = (0, 0);
    let info = allocation_counter::measure(|| {
        let mut guard = ReplayGuard::new(config);
        let total = senders * per_sender;
        for i in 0..total {
            let (s, k) = if by_sender {
                (i / per_sender, i % per_sender)
            } else {
                (i % senders, i / senders)
            };
            let now = NOW + i / 1_000;
            let sent = now - (s % 50) * 100 + k % 7;
            let outcome = guard.remember(
                ReplicaId::from_u128(u128::from(s) + 1),
                &nonce(sent, i),
                now,
            );
            assert!(outcome.is_ok() || outcome == Err(rumor_net::Error::Replay));
        }
        held = (guard.remembered(), guard.senders());
        allocation_counter::opt_out(|| {
            assert!(held.0 <= config.max_total && held.1 <= config.max_senders)
        });
        // Measure what the full guard holds before it is dropped.
        std::mem::forget(guard);
    });
    (
        info.bytes_max,
        info.bytes_current.unsigned_abs(),
        held.0,
        held.1,
    )
}

#[test]
fn the_replay_memory_stays_under_100_bytes_per_nonce_and_200_per_sender() {
    let config = ReplayConfig::default();
    let cases = [
        (
            "4,096 senders x 4 nonces (both bounds exactly)",
            4_096,
            4,
            false,
        ),
        (
            "50,000 senders x 2, interleaved (flood of new senders)",
            50_000,
            2,
            false,
        ),
        ("2,000 senders x 50, one sender at a time", 2_000, 50, true),
        ("16 senders x 5,000 (per-sender bound)", 16, 5_000, false),
    ];
    for (name, senders, per_sender, by_sender) in cases {
        let (peak, held, nonces, senders_held) = flood(config, senders, per_sender, by_sender);
        // B-tree nodes may be half empty: the budget allows for it.
        let budget = (100 * config.max_total + 200 * config.max_senders) as u64;
        println!(
            "{name}: {nonces} nonces, {senders_held} senders held; {held} bytes held, {peak} at the peak \
             ({:.0} bytes per nonce + sender slot; budget {budget})",
            held as f64 / (nonces + senders_held) as f64
        );
        assert!(
            peak <= budget,
            "{name}: peak {peak} bytes over the documented {budget}"
        );
    }
}
