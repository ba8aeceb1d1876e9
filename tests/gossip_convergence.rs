//! Convergence of the gossip core under loss, partitions, crashes and long
//! absences, driven through the simulator's scenario helper. Every run is
//! seeded; a failing randomized run prints its seed.

#![allow(clippy::unwrap_used)]

use rumor::crdt::{codec, Crdt, GCounter, OrSet, ReplicaId};
use rumor::gossip::sim::{NetConfig, Outcome, ScenarioError, SimConfig, Simulator, Step};
use rumor::gossip::{Body, Config, MemberUpdate, Message, Status, Strategy};

/// Runs `steps` on a cluster of OR-Sets where the n-th write adds `n`.
fn check(
    nodes: u32,
    seed: u64,
    strategy: Strategy,
    loss: f64,
    steps: &[Step],
) -> Result<(Simulator<OrSet<u64>>, Outcome), ScenarioError> {
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
            duplicate: 0.02,
        },
        ..SimConfig::default()
    };
    let mut sim = Simulator::new(config, |_| OrSet::new());
    let outcome = sim.run_steps(steps, |set, me, n| set.insert(me, n))?;
    Ok((sim, outcome))
}

fn spread(within_ms: u64) -> Vec<Step> {
    vec![
        Step::Run(500),
        Step::WriteEverywhere,
        Step::AwaitDelivery { within_ms },
        Step::AssertConverged,
    ]
}

#[test]
fn converges_with_100_nodes_at_0_10_and_30_percent_loss() {
    for loss in [0.0, 0.1, 0.3] {
        let (sim, outcome) = check(100, 11, Strategy::DeltaOptimized, loss, &spread(20_000))
            .unwrap_or_else(|e| panic!("loss {loss}: {e}"));
        assert_eq!(sim.state(0).len(), 100, "loss {loss}");
        assert_eq!(outcome.updates, 100);
    }
}

#[test]
fn converges_with_1000_nodes_at_0_10_and_30_percent_loss() {
    for loss in [0.0, 0.1, 0.3] {
        let steps = [
            Step::Run(500),
            Step::Write((0..1_000).step_by(50).collect()),
            Step::AwaitDelivery { within_ms: 30_000 },
            Step::AssertConverged,
        ];
        let (sim, _) = check(1_000, 12, Strategy::DeltaOptimized, loss, &steps)
            .unwrap_or_else(|e| panic!("loss {loss}: {e}"));
        assert_eq!(sim.state(999).len(), 20, "loss {loss}");
    }
}

#[test]
fn every_strategy_converges_to_the_same_set() {
    let mut results = Vec::new();
    for strategy in [
        Strategy::FullState,
        Strategy::Delta,
        Strategy::DeltaOptimized,
        Strategy::Eager,
    ] {
        let (sim, _) = check(60, 13, strategy, 0.1, &spread(20_000))
            .unwrap_or_else(|e| panic!("{strategy:?}: {e}"));
        results.push(sim.state(0).iter().copied().collect::<Vec<u64>>());
    }
    assert_eq!(results[0].len(), 60);
    assert!(results.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn partition_with_writes_on_both_sides_heals_without_losing_a_write() {
    let steps = [
        Step::Run(300),
        Step::Split { first: 100 },
        Step::WriteEverywhere,
        Step::Run(5_000),
        Step::Heal,
        Step::AwaitDelivery { within_ms: 30_000 },
        Step::AssertConverged,
    ];
    let (sim, _) = check(200, 14, Strategy::DeltaOptimized, 0.05, &steps).unwrap();
    assert_eq!(sim.state(0).len(), 200);
    assert_eq!(sim.state(199).len(), 200);
}

/// Found by the randomized schedules (seed 23): a partition longer than the
/// suspicion timeout makes each side declare the other dead, and nodes do
/// not gossip with the dead, so the halves never spoke again after the heal.
/// Reconnect pings to dead members (carrying the death, which the member
/// refutes) bring them back.
#[test]
fn a_partition_long_enough_to_declare_the_other_side_dead_still_heals() {
    let steps = [
        Step::Run(300),
        Step::Split { first: 30 },
        Step::Write(vec![0, 59]),
        Step::Run(15_000),
        Step::Heal,
        Step::AwaitDelivery { within_ms: 30_000 },
        Step::AssertConverged,
        Step::Run(10_000), // membership heals too, member by member
    ];
    let (sim, _) = check(60, 24, Strategy::DeltaOptimized, 0.1, &steps).unwrap();
    assert_eq!(sim.state(10).len(), 2);
    for i in 0..60 {
        assert_eq!(
            sim.node(i).not_alive().count(),
            0,
            "node {i} still holds someone dead"
        );
    }
}

#[test]
fn partition_keeps_each_side_apart_until_it_heals() {
    let steps = [
        Step::Run(300),
        Step::Split { first: 20 },
        Step::Write(vec![0, 39]),
        Step::Run(5_000),
    ];
    let (sim, _) = check(40, 15, Strategy::DeltaOptimized, 0.0, &steps).unwrap();
    assert!(sim.state(19).contains(&0) && !sim.state(19).contains(&1));
    assert!(sim.state(20).contains(&1) && !sim.state(20).contains(&0));
}

#[test]
fn crash_restart_of_20_percent_of_nodes_converges() {
    let crashed: Vec<u32> = (0..200).filter(|i| i % 5 == 0).collect();
    let (keep, lose): (Vec<u32>, Vec<u32>) = crashed.iter().partition(|i| *i % 10 == 0);
    let steps = [
        Step::Run(300),
        Step::WriteEverywhere,
        Step::Run(150),
        Step::Crash(crashed.clone()),
        Step::WriteEverywhere, // the crashed nodes' writes are refused
        Step::Run(3_000),
        Step::Restart {
            nodes: keep,
            keep_state: true,
        },
        Step::Restart {
            nodes: lose,
            keep_state: false,
        },
        Step::Write(crashed),
        Step::AwaitDelivery { within_ms: 30_000 },
        Step::AssertConverged,
    ];
    let (sim, outcome) = check(200, 16, Strategy::DeltaOptimized, 0.05, &steps).unwrap();
    // 200 + 160 + 40 writes; every write acknowledged by a surviving node is everywhere.
    assert_eq!(outcome.updates, 400);
    assert!(sim.missing_writes().is_empty());
}

#[test]
fn node_away_for_long_catches_up_through_delta_since_not_full_state() {
    let away = 7;
    let config = SimConfig {
        nodes: 50,
        seed: 17,
        ..SimConfig::default()
    };
    let mut sim = Simulator::new(config, |_| OrSet::new());
    // A large shared state that the absent node already has.
    for k in 0..2_000u64 {
        let node = u32::try_from(k % 50).unwrap_or(0);
        sim.update(node, |s, me| s.insert(me, k));
    }
    assert!(sim.run_until_delivered(60_000));
    sim.crash(away);
    for k in 0..20u64 {
        sim.update(0, |s, me| s.insert(me, 10_000 + k));
    }
    // Long enough for every buffered delta to expire.
    sim.run_for(10_000);
    assert!(sim.node(0).buffered() == 0);
    let before = sim.stats();
    sim.restart(away, true);
    assert!(sim.run_until_delivered(10_000), "the absent node caught up");
    assert!(sim.converged());
    let full_state = codec::encode(sim.state(0)).map_or(0, |b| b.len() as u64);
    let sent = sim.stats().payload_bytes - before.payload_bytes;
    assert!(
        sent < full_state / 4,
        "catch-up sent {sent} payload bytes; the full state is {full_state}"
    );
}

#[test]
fn same_seed_replays_the_same_run() {
    let steps = spread(20_000);
    let (a, oa) = check(80, 18, Strategy::DeltaOptimized, 0.2, &steps).unwrap();
    let (b, ob) = check(80, 18, Strategy::DeltaOptimized, 0.2, &steps).unwrap();
    assert_eq!(oa, ob);
    for i in 0..80 {
        assert_eq!(a.updates()[0].reached_ms[i], b.updates()[0].reached_ms[i]);
    }
    let (_, oc) = check(80, 19, Strategy::DeltaOptimized, 0.2, &steps).unwrap();
    assert_ne!(oa.stats, oc.stats, "another seed gives another run");
}

#[test]
fn counters_gossip_without_losing_an_increment() {
    let config = SimConfig {
        nodes: 100,
        seed: 20,
        net: NetConfig {
            latency_ms: (1, 20),
            loss: 0.2,
            duplicate: 0.1,
        },
        ..SimConfig::default()
    };
    let mut sim = Simulator::new(config, |_| GCounter::new());
    let steps = [
        Step::WriteEverywhere,
        Step::Run(250),
        Step::WriteEverywhere,
        Step::AwaitDelivery { within_ms: 30_000 },
        Step::AssertConverged,
    ];
    sim.run_steps(&steps, |c, me, n| c.increment(me, n + 1))
        .unwrap();
    let expected: u64 = (1..=200).sum();
    assert_eq!(sim.state(42).value(), expected);
}

/// Many seeded fault schedules: random partitions, crashes, loss and writes,
/// each run with anti-entropy alone and with the eager path. `GOSSIP_SEEDS`
/// sets how many (default 12); a failure names its seed.
#[test]
fn randomized_fault_schedules_converge() {
    let runs: u64 = std::env::var("GOSSIP_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    for seed in 0..runs {
        let steps = fault_schedule(seed, 60);
        for strategy in [Strategy::DeltaOptimized, Strategy::Eager] {
            if let Err(e) = check(60, seed, strategy, 0.1, &steps) {
                panic!(
                    "seed {seed} failed with {strategy:?} (replay with this seed): {e}\n\
                     steps: {steps:?}"
                );
            }
        }
    }
}

fn fault_schedule(seed: u64, nodes: u32) -> Vec<Step> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut steps = Vec::new();
    let mut down: Vec<u32> = Vec::new();
    for _ in 0..12 {
        let node = u32::try_from(next(u64::from(nodes))).unwrap_or(0);
        steps.push(match next(6) {
            0 => Step::Split {
                first: u32::try_from(next(u64::from(nodes))).unwrap_or(1),
            },
            1 => Step::Heal,
            2 if !down.contains(&node) => {
                down.push(node);
                Step::Crash(vec![node])
            }
            3 if !down.is_empty() => Step::Restart {
                nodes: vec![down.remove(0)],
                keep_state: next(2) == 0,
            },
            4 => Step::Loss(f64::from(u32::try_from(next(4)).unwrap_or(0)) * 0.1),
            _ => Step::Write(vec![node, (node + 1) % nodes]),
        });
        steps.push(Step::Run(next(2_000)));
    }
    steps.extend([
        Step::Heal,
        Step::Loss(0.1),
        Step::Restart {
            nodes: down,
            keep_state: true,
        },
        Step::AwaitDelivery { within_ms: 60_000 },
        Step::AssertConverged,
    ]);
    steps
}

#[test]
fn random_bytes_never_panic_the_message_decoder() {
    let mut x: u64 = 0x1234_5678;
    let mut valid = OrSet::new();
    valid.insert(ReplicaId::from_u128(1), 5u64);
    let mut message: Message<OrSet<u64>, u32> =
        Message::new(Body::Sync(Box::new(rumor::gossip::Sync {
            seq: 3,
            delta: valid.clone(),
            context: Some(valid.context()),
            digest: Some(77),
            hop: 0,
            ack: None,
            reply: true,
        })));
    message.members.push(MemberUpdate {
        peer: 9,
        incarnation: 2,
        status: Status::Suspect,
        by: 4,
    });
    let encoded = codec::encode(&message).unwrap_or_default();
    let back: Message<OrSet<u64>, u32> = codec::decode(&encoded, 1 << 16).unwrap();
    assert_eq!(back, message);
    for round in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut bytes = encoded.clone();
        if round % 2 == 0 {
            let at = (x as usize) % bytes.len();
            bytes[at] ^= 1 << (x % 8);
        } else {
            bytes.truncate((x as usize) % bytes.len());
        }
        let _ = codec::decode::<Message<OrSet<u64>, u32>>(&bytes, 1 << 16);
    }
}

#[test]
fn pushes_are_capped_at_max_delta_bytes_and_the_rest_follows_once_acked() {
    use rumor::gossip::{FullView, Node};
    // Only pushes are looked at here (catch-up answers have their own test):
    // keep the periodic digest out of the way, and let the two meet (round 1
    // carries a digest) before the writes.
    let config = Config {
        max_delta_bytes: 200,
        digest_every_rounds: u64::MAX,
        ..Config::default()
    };
    let mut a = Node::new(1u32, OrSet::new(), FullView::new(1, [2]), config.clone(), 1);
    let mut b = Node::new(2u32, OrSet::new(), FullView::new(2, [1]), config, 2);
    let me = ReplicaId::from_u128(1);
    let mut pushes = 0;
    for round in 1..=60u64 {
        if round == 3 {
            for k in 0..100u64 {
                // `Delta` buffers an update for the next rounds: no messages now.
                assert!(a.update(|s| s.insert(me, k)).messages.is_empty());
            }
        }
        let now = round * 100;
        let mut wire: Vec<(u32, u32, Message<OrSet<u64>, u32>)> = a
            .tick(now)
            .messages
            .into_iter()
            .map(|(to, m)| (1, to, m))
            .collect();
        while let Some((from, to, message)) = wire.pop() {
            if let Body::Sync(sync) = &message.body {
                if from == 1 && sync.hop == 0 && !sync.delta.is_bottom() {
                    pushes += 1;
                    let bytes = codec::encode(&sync.delta).map_or(0, |v| v.len());
                    // Joined deltas share one replica table, so the join is
                    // smaller than the sum of the sizes that were capped.
                    assert!(bytes <= 200, "push of {bytes} bytes");
                }
            }
            let node = if to == 1 { &mut a } else { &mut b };
            for (next, m) in node.handle(from, message, now).messages {
                wire.push((to, next, m));
            }
        }
        if round > 3 && b.state().len() == 100 {
            break;
        }
    }
    assert_eq!(b.state().len(), 100, "b got everything in capped pushes");
    assert!(
        pushes > 5,
        "100 adds cannot fit in a few 200-byte pushes: {pushes}"
    );
}

#[test]
fn catch_up_answers_come_in_pieces_within_max_delta_bytes() {
    use rumor::gossip::{FullView, Node};
    let config = Config {
        max_delta_bytes: 512,
        max_catch_up_bytes: 4_096,
        ..Config::default()
    };
    // `a` starts with 5,000 elements and nothing buffered: `b` can only get
    // them by answers to its context, far more than one catch-up allows.
    let me = ReplicaId::from_u128(1);
    let mut full = OrSet::new();
    for k in 0..5_000u64 {
        full.insert(me, k);
    }
    let total = codec::encode(&full).map_or(0, |v| v.len());
    let mut a = Node::new(1u32, full, FullView::new(1, [2]), config.clone(), 1);
    let mut b = Node::new(2u32, OrSet::new(), FullView::new(2, [1]), config, 2);
    let (mut largest, mut pieces, mut rounds) = (0, 0, 0);
    for round in 1..=400u64 {
        rounds = round;
        let now = round * 100;
        let mut wire: Vec<(u32, u32, Message<OrSet<u64>, u32>)> = Vec::new();
        wire.extend(a.tick(now).messages.into_iter().map(|(to, m)| (1, to, m)));
        wire.extend(b.tick(now).messages.into_iter().map(|(to, m)| (2, to, m)));
        while let Some((from, to, message)) = wire.pop() {
            if let Body::Sync(sync) = &message.body {
                if !sync.delta.is_bottom() {
                    pieces += 1;
                    largest = largest.max(codec::encode(&sync.delta).map_or(0, |v| v.len()));
                }
            }
            let node = if to == 1 { &mut a } else { &mut b };
            for (next, m) in node.handle(from, message, now).messages {
                wire.push((to, next, m));
            }
        }
        if b.state() == a.state() {
            break;
        }
    }
    assert_eq!(b.state(), a.state(), "b caught up within {rounds} rounds");
    assert!(largest <= 512, "a piece of {largest} bytes");
    assert!(
        total > 4 * 4_096 && pieces >= total / 512,
        "{total} bytes cannot come in fewer than {} pieces: {pieces}",
        total / 512
    );
}

#[test]
fn a_tiny_push_cap_still_converges_under_loss() {
    let config = SimConfig {
        nodes: 60,
        seed: 41,
        node: Config {
            max_delta_bytes: 64,
            ..Config::default()
        },
        net: NetConfig {
            latency_ms: (1, 5),
            loss: 0.1,
            duplicate: 0.0,
        },
        ..SimConfig::default()
    };
    let mut sim = Simulator::new(config, |_| OrSet::new());
    let steps = [
        Step::Run(300),
        Step::WriteEverywhere,
        Step::WriteEverywhere,
        Step::AwaitDelivery { within_ms: 30_000 },
        Step::AssertConverged,
    ];
    sim.run_steps(&steps, |set, me, n| set.insert(me, n))
        .unwrap();
    assert_eq!(sim.state(0).len(), 120);
}

/// A write that only its writer held, lost with the writer's state, can
/// never be delivered: waiting for delivery must not wait for it, and must
/// still wait for a write that some node holds.
#[test]
fn delivery_leaves_out_a_write_lost_with_its_only_holder() {
    let config = SimConfig {
        nodes: 20,
        seed: 23,
        ..SimConfig::default()
    };
    let mut sim = Simulator::new(config, |_| GCounter::new());
    sim.partition(|i| u32::from(i == 3));
    sim.update(3, |c, me| c.increment(me, 5));
    sim.run_for(50);
    sim.crash(3);
    sim.heal();
    sim.update(4, |c, me| c.increment(me, 7));
    assert!(!sim.all_delivered(), "node 4's write has not spread yet");
    // Node 3 keeps its state while down: its write may still come back.
    assert!(
        !sim.run_until_delivered(2_000),
        "node 3's write waits for it"
    );
    sim.restart(3, false);
    assert!(sim.run_until_delivered(10_000));
    assert!(sim.converged());
    assert!(sim.missing_writes().is_empty());
    assert_eq!(sim.state(0).value(), 7, "node 3's write is gone");
}
