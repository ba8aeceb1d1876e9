//! Gossip measurements from the deterministic simulator, printed as markdown
//! tables (copied into docs/BENCHMARKS.md):
//! - rounds for one update to reach all N nodes (push-pull, fanout 1) against
//!   the Karp et al. bound log₃N + log₂ln N;
//! - payload and control bytes per update for each strategy, against the
//!   (N − 1) × one-delta lower bound;
//! - time until every live node marks a crashed node dead, and false
//!   "dead" verdicts about live nodes, at 0 % and 10 % loss;
//! - the same when 5, 10 or 20 % of the nodes crash at once (`mass-crash`);
//! - the eager path (Plumtree) against anti-entropy alone: time for an
//!   update to reach all nodes (p50 / p99 / max), payload and control bytes;
//! - simulator speed in node-rounds per second.
//!
//! `cargo bench --bench gossip` runs the full sizes; `cargo bench --bench
//! gossip -- --test` (what CI runs) runs small sizes only, as a smoke test.
#![allow(clippy::print_stdout, clippy::cast_precision_loss)]

use std::time::Instant;

// The simulator allocates and frees a small value per message (the queued
// message, the output vectors, a node's bookkeeping) by the million: with
// mimalloc, 100,000 nodes × 30 rounds ran in about 0.8× the time glibc's
// malloc took (same run, same events).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use rumor::crdt::{codec, GCounter, OrSet};
use rumor::gossip::{Config, Event, Strategy, ViewConfig};
use rumor::sim::{NetConfig, SimConfig, Simulator, Topology};

fn sim(nodes: u32, seed: u64, strategy: Strategy) -> Simulator<OrSet<u64>> {
    let config = SimConfig {
        nodes,
        seed,
        node: Config {
            strategy,
            fanout: 1,
            ..Config::default()
        },
        ..SimConfig::default()
    };
    Simulator::new(config, |_| OrSet::new())
}

/// Rounds (intervals) until one update reached every node; several updates
/// written from random nodes, one after the other.
fn rounds_to_all(nodes: u32, samples: u32) -> (f64, f64) {
    let mut sim = sim(nodes, 42, Strategy::DeltaOptimized);
    sim.run_for(1_000); // warm up: every node has ticked
    let interval = Config::default().interval_ms as f64;
    let mut all = Vec::new();
    for k in 0..samples {
        let origin = (k * 7919) % nodes;
        let Some(u) = sim.update(origin, |s, me| s.insert(me, u64::from(k))) else {
            continue;
        };
        sim.run_until_delivered(60_000);
        if let Some(ms) = sim.updates()[u].latest_reach_ms() {
            all.push(ms as f64 / interval);
        }
        sim.run_for(3_000); // let buffers drain before the next sample
    }
    let mean = all.iter().sum::<f64>() / all.len() as f64;
    let max = all.iter().copied().fold(0.0, f64::max);
    (mean, max)
}

/// Payload and control bytes to spread one small update, from the write
/// until buffers are quiet again.
fn bytes_per_update(nodes: u32, strategy: Strategy) -> (u64, u64, u64) {
    let mut sim = sim(nodes, 7, strategy);
    sim.run_for(1_000);
    // A realistic state: every node already holds one element per 10 nodes.
    for i in (0..nodes).step_by(10) {
        sim.update(i, |s, me| s.insert(me, u64::from(i) + 1_000_000));
    }
    sim.run_until_delivered(120_000);
    sim.run_for(5_000);
    let before = sim.stats();
    let u = sim.update(0, |s, me| s.insert(me, 1)).unwrap_or(0);
    sim.run_until_delivered(120_000);
    sim.run_for(Config::default().buffer_ttl_rounds * Config::default().interval_ms);
    let after = sim.stats();
    let delta_bytes = codec::encode(&sim.updates()[u].delta).map_or(0, |b| b.len() as u64);
    (
        after.payload_bytes - before.payload_bytes,
        after.control_bytes - before.control_bytes,
        delta_bytes,
    )
}

struct Reach {
    p50: u64,
    p99: u64,
    max: u64,
    payload: u64,
    control: u64,
    bound: u64,
}

/// Writes `samples` updates one after the other (after the first writes
/// have shaped the eager tree) and measures, over every node, the time from
/// each write until the node had it, and the bytes sent meanwhile.
fn reach(nodes: u32, loss: f64, strategy: Strategy, samples: u32, topology: Topology) -> Reach {
    // Partial views join without loss, one node after another; the loss
    // starts once the overlay has formed.
    let joining = match &topology {
        Topology::Full | Topology::Seeded { .. } => 0,
        Topology::Partial { join_window_ms, .. } => join_window_ms + 1_000,
    };
    let config = SimConfig {
        nodes,
        topology,
        seed: 5,
        node: Config {
            strategy,
            ..Config::default()
        },
        net: NetConfig {
            latency_ms: (1, 1),
            loss: if joining > 0 { 0.0 } else { loss },
            duplicate: 0.0,
        },
        signed: false,
    };
    let mut sim = Simulator::new(config, |_| OrSet::<u64>::new());
    sim.run_for(joining);
    sim.set_loss(loss);
    sim.run_for(1_000);
    for k in 0..3 {
        sim.update(k * 13 % nodes, |s, me| {
            s.insert(me, u64::from(k) + 1_000_000)
        });
        sim.run_until_delivered(30_000);
    }
    sim.run_for(3_000);
    let before = sim.stats();
    let mut times = Vec::new();
    let mut bound = 0;
    for k in 0..samples {
        let origin = (k * 7_919) % nodes;
        let Some(u) = sim.update(origin, |s, me| s.insert(me, u64::from(k))) else {
            continue;
        };
        sim.run_until_delivered(30_000);
        let record = &sim.updates()[u];
        times.extend(record.reached_ms.iter().flatten().map(|t| t - record.at_ms));
        bound += u64::from(nodes - 1) * codec::encode(&record.delta).map_or(0, |b| b.len() as u64);
        sim.run_for(500);
    }
    sim.run_for(3_000);
    let after = sim.stats();
    times.sort_unstable();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    Reach {
        p50: at(0.5),
        p99: at(0.99),
        max: at(1.0),
        payload: after.payload_bytes - before.payload_bytes,
        control: after.control_bytes - before.control_bytes,
        bound,
    }
}

/// `(ms until every live node marked a crashed node dead, false "dead"
/// verdicts about live nodes during `quiet_ms` before the crash)`.
fn failure_detection(nodes: u32, loss: f64, quiet_ms: u64, seed: u64) -> (u64, usize) {
    let config = SimConfig {
        nodes,
        seed,
        net: NetConfig {
            latency_ms: (1, 5),
            loss,
            duplicate: 0.0,
        },
        ..SimConfig::default()
    };
    let mut sim = Simulator::new(config, |_| GCounter::new());
    sim.run_for(quiet_ms);
    let false_downs = sim
        .member_events()
        .iter()
        .filter(|e| matches!(e.event, Event::MemberDown(_)))
        .count();
    let victim = nodes / 2;
    let crashed_at = sim.now();
    sim.crash(victim);
    sim.run_for(10_000);
    let downs: Vec<u64> = sim
        .member_events()
        .iter()
        .filter(|e| e.event == Event::MemberDown(victim) && e.at_ms >= crashed_at)
        .map(|e| e.at_ms - crashed_at)
        .collect();
    let all = if downs.len() + 1 >= nodes as usize {
        downs.iter().copied().max().unwrap_or(u64::MAX)
    } else {
        u64::MAX
    };
    (all, false_downs)
}

/// What a mass crash did: for each crashed node, the time until every live
/// node had marked it dead (`None`: some never did within the run), and the
/// "dead" verdicts about live nodes after the crash.
struct MassCrash {
    detected_ms: Vec<Option<u64>>,
    false_deaths: usize,
}

/// Crashes `crashed` of `nodes` nodes at once (every k-th, from a seeded
/// offset) after 10 s of quiet, then runs 20 s.
fn mass_crash(nodes: u32, crashed: u32, loss: f64, strategy: Strategy, seed: u64) -> MassCrash {
    let config = SimConfig {
        nodes,
        seed,
        node: Config {
            strategy,
            ..Config::default()
        },
        net: NetConfig {
            latency_ms: (1, 5),
            loss,
            duplicate: 0.0,
        },
        ..SimConfig::default()
    };
    let mut sim = Simulator::new(config, |_| GCounter::new());
    sim.run_for(10_000);
    let stride = nodes / crashed.max(1);
    let offset = (seed as u32).wrapping_mul(7_919) % stride.max(1);
    let victims: Vec<u32> = (0..crashed).map(|k| offset + k * stride).collect();
    let crashed_at = sim.now();
    for &v in &victims {
        sim.crash(v);
    }
    sim.run_for(20_000);
    let mut is_victim = vec![false; nodes as usize];
    for &v in &victims {
        is_victim[v as usize] = true;
    }
    // For each victim, the first "down" each observer reported.
    let mut first_down = vec![vec![None; nodes as usize]; nodes as usize];
    let mut false_deaths = 0;
    for e in sim.member_events().iter().filter(|e| e.at_ms >= crashed_at) {
        if let Event::MemberDown(subject) = e.event {
            if !is_victim[subject as usize] {
                false_deaths += 1;
            } else if first_down[subject as usize][e.observer as usize].is_none() {
                first_down[subject as usize][e.observer as usize] = Some(e.at_ms - crashed_at);
            }
        }
    }
    let detected_ms = victims
        .iter()
        .map(|&v| {
            (0..nodes)
                .filter(|&o| !is_victim[o as usize])
                .map(|o| first_down[v as usize][o as usize])
                .try_fold(0, |latest, t| t.map(|t| latest.max(t)))
        })
        .collect();
    MassCrash {
        detected_ms,
        false_deaths,
    }
}

/// Writes `writes` updates from spread-out nodes, then times 30 rounds of
/// the default interval (wall-clock seconds).
fn thirty_rounds(sim: &mut Simulator<OrSet<u64>>, writes: u32) -> f64 {
    // The simulator's check that every message survives the codec is for
    // tests; speed is measured without it, as before it existed.
    sim.set_codec(false);
    for k in 0..writes {
        sim.update((k * 97) % sim.len(), |s, me| s.insert(me, u64::from(k)));
    }
    let started = Instant::now();
    sim.run_for(30 * Config::default().interval_ms);
    started.elapsed().as_secs_f64()
}

/// Time from the heal until every write of a 90 s isolation of one node is
/// everywhere (five writes on each side, 15 s apart), over `seeds`: sorted.
fn catch_up_after_heal(nodes: u32, strategy: Strategy, partial: bool, seeds: u64) -> Vec<u64> {
    let mut times = Vec::new();
    for seed in 1..=seeds {
        let config = SimConfig {
            nodes,
            seed,
            topology: if partial {
                partial_topology(nodes)
            } else {
                Topology::Full
            },
            node: Config {
                strategy,
                ..Config::default()
            },
            net: NetConfig {
                latency_ms: (1, 3),
                loss: 0.0,
                duplicate: 0.0,
            },
            signed: false,
        };
        let mut sim = Simulator::new(config, |_| OrSet::<u64>::new());
        sim.set_codec(false);
        sim.run_for(5_000);
        let lonely = nodes / 3;
        sim.partition(|i| u32::from(i == lonely));
        for k in 0..5u32 {
            sim.run_for(15_000);
            sim.update(lonely, |s, me| s.insert(me, 1_000 + u64::from(k)));
            sim.update((3 + 11 * k) % nodes, |s, me| s.insert(me, u64::from(k)));
        }
        sim.run_for(15_000);
        sim.heal();
        let healed = sim.now();
        assert!(
            sim.run_until_delivered(120_000),
            "{strategy:?}: not delivered"
        );
        times.push(sim.now() - healed);
    }
    times.sort_unstable();
    times
}

/// Partial views, the nodes joining over 1 s per 20,000 (fewer at once
/// leave no small groups cut off while the overlay forms).
fn partial_topology(nodes: u32) -> Topology {
    Topology::Partial {
        view: ViewConfig::default(),
        join_window_ms: (u64::from(nodes) / 20).max(1_000),
    }
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--test");
    // `cargo bench --bench gossip -- partial` runs the sections whose name
    // contains "partial": rounds, bytes, eager, detection, mass-crash,
    // partial, catchup, speed.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| name.contains(o.as_str()));
    let sizes: &[u32] = if smoke { &[100] } else { &[100, 1_000, 10_000] };

    if wanted("rounds") {
        println!("\n### Rounds for one update to reach all N nodes (DeltaOptimized, fanout 1, 1 ms latency)\n");
        println!("| N | mean rounds | max rounds | log₃N + log₂ln N | target (+1) |");
        println!("|---:|---:|---:|---:|---:|");
        for &n in sizes {
            let samples = if n >= 10_000 { 5 } else { 20 };
            let (mean, max) = rounds_to_all(n, samples);
            let nf = f64::from(n);
            let theory = nf.ln() / 3f64.ln() + nf.ln().log2();
            println!(
                "| {n} | {mean:.1} | {max:.1} | {theory:.1} | {:.1} |",
                theory + 1.0
            );
        }
    }
    if wanted("bytes") {
        println!("\n### Bytes to spread one OR-Set add, per strategy (fanout 1, no loss)\n");
        println!("| N | strategy | payload bytes | × lower bound | control bytes | lower bound (N−1)×delta |");
        println!("|---:|---|---:|---:|---:|---:|");
        let byte_sizes: &[u32] = if smoke { &[100] } else { &[100, 1_000] };
        for &n in byte_sizes {
            for strategy in [
                Strategy::FullState,
                Strategy::Delta,
                Strategy::DeltaOptimized,
            ] {
                let (payload, control, delta) = bytes_per_update(n, strategy);
                let bound = u64::from(n - 1) * delta;
                println!(
                    "| {n} | {strategy:?} | {payload} | {:.2} | {control} | {bound} |",
                    payload as f64 / bound as f64
                );
            }
        }
    }
    if wanted("eager") {
        println!("\n### Eager path vs anti-entropy: time for one update to reach all nodes (1 ms links, 100 ms interval)\n");
        println!("| N | loss | strategy | p50 | p99 | max | payload × lower bound | control bytes per update |");
        println!("|---:|---:|---|---:|---:|---:|---:|---:|");
        let eager_sizes: &[u32] = if smoke { &[200] } else { &[1_000, 10_000] };
        for &n in eager_sizes {
            for loss in [0.0, 0.1] {
                for strategy in [Strategy::DeltaOptimized, Strategy::Eager] {
                    let samples = if n >= 10_000 { 5 } else { 10 };
                    let r = reach(n, loss, strategy, samples, Topology::Full);
                    println!(
                        "| {n} | {:.0} % | {strategy:?} | {} ms | {} ms | {} ms | {:.2} | {} |",
                        loss * 100.0,
                        r.p50,
                        r.p99,
                        r.max,
                        r.payload as f64 / r.bound as f64,
                        r.control / u64::from(samples)
                    );
                }
            }
        }
    }
    if wanted("detection") {
        println!("\n### Failure detection (SWIM + Lifeguard suspicion, probe every 200 ms, 1–5 ms latency)\n");
        println!(
        "| N | loss | seeds | crash → marked dead by all: median | max | false \"dead\" verdicts |"
    );
        println!("|---:|---:|---:|---:|---:|---:|");
        let fd_sizes: &[u32] = if smoke { &[50] } else { &[100, 1_000] };
        let quiet_ms = if smoke { 5_000 } else { 60_000 };
        let seeds: u64 = if smoke { 1 } else { 8 };
        for &n in fd_sizes {
            for loss in [0.0, 0.1] {
                let mut times = Vec::new();
                let mut false_downs = 0;
                for seed in 1..=seeds {
                    let (ms, downs) = failure_detection(n, loss, quiet_ms, seed);
                    times.push(ms);
                    false_downs += downs;
                }
                times.sort_unstable();
                let show = |ms: u64| {
                    if ms == u64::MAX {
                        "not all".to_string()
                    } else {
                        format!("{ms} ms")
                    }
                };
                println!(
                    "| {n} | {:.0} % | {seeds} | {} | {} | {false_downs} in {} cluster-s |",
                    loss * 100.0,
                    show(times[times.len() / 2]),
                    show(times[times.len() - 1]),
                    seeds * quiet_ms / 1_000
                );
            }
        }
    }
    if wanted("mass-crash") {
        println!("\n### Mass crash: many nodes crash at once (N = {}, 10 % loss, 1–5 ms latency, probe every 200 ms)\n", if smoke { 200 } else { 1_000 });
        println!("| N | crashed at once | seeds | strategy | detected by all: p50 | p99 | max | not detected by all in 20 s | false \"dead\" events |");
        println!("|---:|---:|---:|---|---:|---:|---:|---:|---:|");
        let n: u32 = if smoke { 200 } else { 1_000 };
        let fractions: &[u32] = if smoke { &[10] } else { &[5, 10, 20] };
        let seeds: u64 = if smoke { 1 } else { 3 };
        for &percent in fractions {
            for strategy in [Strategy::DeltaOptimized, Strategy::Eager] {
                let crashed = n * percent / 100;
                let (mut detected, mut false_deaths) = (Vec::new(), 0);
                for seed in 1..=seeds {
                    let r = mass_crash(n, crashed, 0.1, strategy, seed);
                    detected.extend(r.detected_ms);
                    false_deaths += r.false_deaths;
                }
                let mut times: Vec<u64> = detected.iter().flatten().copied().collect();
                times.sort_unstable();
                let missed = detected.len() - times.len();
                let at = |q: f64| {
                    if times.is_empty() {
                        "-".to_string()
                    } else {
                        format!(
                            "{} ms",
                            times[((times.len() - 1) as f64 * q).round() as usize]
                        )
                    }
                };
                println!(
                    "| {n} | {crashed} ({percent} %) | {seeds} | {strategy:?} | {} | {} | {} | {missed} | {false_deaths} |",
                    at(0.5),
                    at(0.99),
                    at(1.0),
                );
            }
        }
    }
    if wanted("partial") {
        println!("\n### Eager path over HyParView partial views (5 links per node; loss starts after the joins)\n");
        println!(
            "| N | loss | strategy | p50 | p99 | max | payload × lower bound | control bytes per update |"
        );
        println!("|---:|---:|---|---:|---:|---:|---:|---:|");
        let partial_sizes: &[u32] = if smoke { &[1_000] } else { &[10_000, 100_000] };
        for &n in partial_sizes {
            let losses: &[f64] = if n >= 100_000 {
                &[0.0, 0.1]
            } else {
                &[0.0, 0.1, 0.3]
            };
            for &loss in losses {
                // Anti-entropy alone over the same links, side by side
                // (not at 30 % loss, where it takes minutes of rounds).
                let strategies: &[Strategy] = if loss > 0.2 {
                    &[Strategy::Eager]
                } else {
                    &[Strategy::DeltaOptimized, Strategy::Eager]
                };
                for &strategy in strategies {
                    let samples = 5;
                    let r = reach(n, loss, strategy, samples, partial_topology(n));
                    println!(
                        "| {n} | {:.0} % | {strategy:?} | {} ms | {} ms | {} ms | {:.2} | {} |",
                        loss * 100.0,
                        r.p50,
                        r.p99,
                        r.max,
                        r.payload as f64 / r.bound as f64,
                        r.control / u64::from(samples)
                    );
                }
            }
        }

        println!(
        "\n### Simulator speed, partial views (Eager, OR-Set): joins, then 30 rounds of 100 ms\n"
    );
        println!("| N | joins (virtual) | joins: wall time | updates spreading | tree | 30 rounds: wall time | node-rounds/s |");
        println!("|---:|---:|---:|---:|---|---:|---:|");
        for &n in partial_sizes {
            // Cold: the writes are the first since the joins, so every link
            // is still eager and each write floods the overlay once. Warm:
            // one write a second earlier has pruned the tree.
            for (writes, warm) in [(0, false), (10, false), (10, true)] {
                let topology = partial_topology(n);
                let Topology::Partial { join_window_ms, .. } = topology else {
                    unreachable!()
                };
                let config = SimConfig {
                    nodes: n,
                    topology,
                    seed: 3,
                    node: Config {
                        strategy: Strategy::Eager,
                        ..Config::default()
                    },
                    ..SimConfig::default()
                };
                let started = Instant::now();
                let mut sim = Simulator::new(config, |_| OrSet::<u64>::new());
                sim.run_for(join_window_ms + 1_000);
                let joins = started.elapsed().as_secs_f64();
                if warm {
                    sim.update(n / 2, |s, me| s.insert(me, u64::MAX));
                    sim.run_for(1_000);
                }
                let secs = thirty_rounds(&mut sim, writes);
                let tree = match (writes, warm) {
                    (0, _) => "",
                    (_, false) => "cold",
                    (_, true) => "warm",
                };
                println!(
                    "| {n} | {} s | {joins:.2} s | {writes} | {tree} | {secs:.2} s | {:.0} |",
                    (join_window_ms + 1_000) / 1_000,
                    f64::from(n) * 30.0 / secs
                );
            }
        }
    }
    if wanted("catchup") {
        println!("\n### Catch-up after a heal: one node isolated for 90 s, five writes on each side (1-3 ms links, 100 ms interval)\n");
        println!("| N | view | strategy | heal to everywhere: p50 | max | seeds |");
        println!("|---:|---|---|---:|---:|---:|");
        let catchup_sizes: &[u32] = if smoke { &[60] } else { &[100, 1_000] };
        let seeds = if smoke { 1 } else { 5 };
        for &n in catchup_sizes {
            for partial in [false, true] {
                for strategy in [Strategy::DeltaOptimized, Strategy::Eager] {
                    let times = catch_up_after_heal(n, strategy, partial, seeds);
                    let view = if partial { "partial" } else { "full" };
                    println!(
                        "| {n} | {view} | {strategy:?} | {} ms | {} ms | {seeds} |",
                        times[times.len() / 2],
                        times[times.len() - 1]
                    );
                }
            }
        }
    }
    if wanted("speed") {
        println!("\n### Simulator speed (30 rounds of 100 ms, DeltaOptimized, OR-Set)\n");
        println!("| N | updates spreading | wall time | node-rounds/s |");
        println!("|---:|---:|---:|---:|");
        let speed_sizes: &[u32] = if smoke { &[1_000] } else { &[1_000, 10_000] };
        for &n in speed_sizes {
            for writes in [0, 10, 100] {
                let mut sim = sim(n, 3, Strategy::DeltaOptimized);
                let secs = thirty_rounds(&mut sim, writes);
                println!(
                    "| {n} | {writes} | {secs:.2} s | {:.0} |",
                    f64::from(n) * 30.0 / secs
                );
                assert_eq!(sim.updates().len(), writes as usize);
            }
        }
    }
}
