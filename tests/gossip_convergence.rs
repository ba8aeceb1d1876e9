//! Convergence of the gossip core under loss, partitions, crashes and long
//! absences, driven through the simulator's scenario helper. Every run is
//! seeded; a failing randomized run prints its seed.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use rumor::crdt::{codec, Crdt, GCounter, OrSet, ReplicaId};
use rumor::gossip::{
    Ack, Body, Config, DeltaId, FullView, IdRange, MemberUpdate, Message, Node, Priority, Probe,
    Status, Strategy, Tree, View,
};
use rumor::sim::{NetConfig, Outcome, ScenarioError, SimConfig, Simulator, Step};

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
    // Dead, not merely suspect: at 10 % loss a probe now and then fails
    // three ways and its target is suspected until it refutes.
    for i in 0..60 {
        let dead: Vec<u32> = sim
            .node(i)
            .not_alive()
            .filter(|&(_, status)| status == Status::Dead)
            .map(|(peer, _)| peer)
            .collect();
        assert!(dead.is_empty(), "node {i} still holds {dead:?} dead");
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
    // 200 + 160 + 40 writes. The 20 nodes that come back empty wrote 150 ms
    // before they crashed: a round at least, enough for their writes to
    // reach others. So no write is lost, and every one is everywhere.
    assert_eq!(outcome.updates, 400);
    assert!(sim.missing_writes().is_empty());
    assert_eq!(sim.lost_writes(), Vec::<usize>::new());
    assert_eq!(sim.state(1).len(), 400);
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

/// Many seeded fault schedules: random partitions, crashes, restarts with
/// and without state, loss and writes, each run with anti-entropy alone and
/// with the eager path, and each checked for its exact final count of
/// writes, none lost. Seeds `0..GOSSIP_SEEDS` (default 12) always run, and
/// one fresh seed per run beside them: `RUMOR_SEED` if set, else one from
/// the OS. A failure names its seed, which replays it.
#[test]
fn randomized_fault_schedules_converge() {
    let runs: u64 = std::env::var("GOSSIP_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let fresh = fresh_seed();
    eprintln!(
        "randomized_fault_schedules_converge: fresh seed {fresh} (replay: RUMOR_SEED={fresh})"
    );
    let mut writes = 0;
    for seed in (0..runs).chain([fresh]) {
        let schedule = fault_schedule(seed, 60);
        writes += schedule.writes;
        // The first fault is a partition with a write on each side.
        assert!(
            schedule.writes >= 2,
            "seed {seed}: {} writes",
            schedule.writes
        );
        for strategy in [Strategy::DeltaOptimized, Strategy::Eager] {
            let replay = |e: String| {
                panic!(
                    "seed {seed} failed with {strategy:?} (replay: RUMOR_SEED={seed}): {e}\n\
                     steps: {:?}",
                    schedule.steps
                )
            };
            let (sim, outcome) = check(60, seed, strategy, 0.1, &schedule.steps)
                .unwrap_or_else(|e| replay(e.to_string()));
            if outcome.updates != schedule.writes {
                replay(format!(
                    "{} writes made, {} expected",
                    outcome.updates, schedule.writes
                ));
            }
            let lost = sim.lost_writes();
            if !lost.is_empty() {
                replay(format!("writes that no live node holds: {lost:?}"));
            }
            if sim.state(0).len() != schedule.writes {
                replay(format!(
                    "{} elements, {} writes",
                    sim.state(0).len(),
                    schedule.writes
                ));
            }
        }
    }
    eprintln!("{writes} writes over {} schedules", runs + 1);
}

/// `RUMOR_SEED` if set, else a seed from the OS (through the standard
/// library's randomly keyed hasher).
fn fresh_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    match std::env::var("RUMOR_SEED") {
        Ok(seed) => seed
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("RUMOR_SEED={seed:?} is not a u64")),
        Err(_) => std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish(),
    }
}

/// A live node of `from..to`, the first one from `from + pick % span` on;
/// if all of them are down, one is restarted (with its state) first.
fn live_in(from: u32, to: u32, pick: u32, steps: &mut Vec<Step>, down: &mut Vec<u32>) -> u32 {
    let span = to - from;
    let live = (0..span)
        .map(|k| from + (pick + k) % span)
        .find(|n| !down.contains(n));
    live.unwrap_or_else(|| {
        let n = from + pick % span;
        down.retain(|&d| d != n);
        steps.push(Step::Restart {
            nodes: vec![n],
            keep_state: true,
        });
        n
    })
}

/// A fault schedule, and how many writes it makes (every one of them on a
/// live node).
struct Schedule {
    steps: Vec<Step>,
    writes: usize,
}

/// Sixteen random faults, each followed by a random pause: partitions (the
/// first fault is one; each has a write on both sides at once), heals, crashes, restarts, loss
/// changes and writes; then a heal, every node back, and convergence. No
/// write can be lost everywhere: a node restarts without its state only if
/// it never wrote (its replica id is new, so its catch-up starts from
/// nothing), and every write is made by a live node, so it lives at least
/// in its writer.
fn fault_schedule(seed: u64, nodes: u32) -> Schedule {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut node_below = |n: u32| u32::try_from(next(u64::from(n))).unwrap_or(0);
    let mut steps = Vec::new();
    let mut down: Vec<u32> = Vec::new();
    let mut wrote = vec![false; nodes as usize];
    let mut writes = 0;
    for fault in 0..16 {
        let node = node_below(nodes);
        // The first fault is always a partition.
        let kind = if fault == 0 { 0 } else { node_below(7) };
        match kind {
            0 | 1 => {
                // Both sides hold at least one node, and both write.
                let first = 1 + node_below(nodes - 1);
                steps.push(Step::Split { first });
                let a = live_in(0, first, node_below(nodes), &mut steps, &mut down);
                let b = live_in(first, nodes, node_below(nodes), &mut steps, &mut down);
                steps.push(Step::Write(vec![a, b]));
                for n in [a, b] {
                    wrote[n as usize] = true;
                }
                writes += 2;
            }
            2 => steps.push(Step::Heal),
            3 if !down.contains(&node) => {
                down.push(node);
                steps.push(Step::Crash(vec![node]));
            }
            4 if !down.is_empty() => {
                let back = down.remove(0);
                let keep_state = wrote[back as usize] || node_below(2) == 0;
                steps.push(Step::Restart {
                    nodes: vec![back],
                    keep_state,
                });
            }
            5 => steps.push(Step::Loss(f64::from(node_below(4)) * 0.1)),
            _ => {
                // Two to four writers in a row, all live.
                let count = 2 + node_below(3);
                let writers: Vec<u32> = (0..count)
                    .map(|k| live_in(0, nodes, node + k * 7, &mut steps, &mut down))
                    .collect();
                for &n in &writers {
                    wrote[n as usize] = true;
                }
                writes += writers.len();
                steps.push(Step::Write(writers));
            }
        }
        steps.push(Step::Run(u64::from(node_below(2_000))));
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
    Schedule { steps, writes }
}

/// An OR-Set of `len` elements written by two replicas, with a few
/// removals (holes in its context).
fn orset_of(len: u64) -> OrSet<u64> {
    let mut set = OrSet::new();
    for k in 0..len {
        set.insert(ReplicaId::from_u128(1 + u128::from(k % 2)), k);
    }
    for k in (0..len).step_by(5) {
        set.remove(&k);
    }
    set
}

/// One message of every kind, with payloads from empty to a few hundred
/// elements, and piggybacked member updates on some.
fn messages_of_every_kind() -> Vec<Message<OrSet<u64>, u32>> {
    let sync = |len: u64, context: bool, ack: Option<Ack>| {
        let delta = orset_of(len);
        Body::Sync(Box::new(rumor::gossip::SyncBody {
            seq: len * 3,
            context: context.then(|| orset_of(len / 2).context()),
            digest: context.then_some(0xDEAD_BEEF),
            delta,
            sealed: Vec::new(),
            hop: u8::try_from(len % 4).unwrap_or(0),
            ack,
            reply: !context,
        }))
    };
    let range = |first: u64, last: u64| IdRange {
        origin: 3u32,
        epoch: 1,
        first,
        last,
        hop: 0,
    };
    let bodies = vec![
        sync(0, false, None),
        sync(
            1,
            true,
            Some(Ack {
                seq: 7,
                redundant: true,
            }),
        ),
        sync(
            8,
            false,
            Some(Ack {
                seq: 1 << 40,
                redundant: false,
            }),
        ),
        sync(300, true, None),
        sync(1_500, false, None),
        Body::Probe(Probe::Ping { seq: 1 }),
        Body::Probe(Probe::PingReq {
            seq: 1 << 33,
            target: 4,
        }),
        Body::Probe(Probe::Ack { seq: 9 }),
        Body::Tree(Tree::Gossip {
            id: DeltaId {
                origin: 2,
                epoch: 0,
                seq: 5,
            },
            delta: Arc::new(orset_of(1)),
            seal: None,
            hop: 0,
        }),
        Body::Tree(Tree::Gossip {
            id: DeltaId {
                origin: 4,
                epoch: 3,
                seq: 1 << 20,
            },
            delta: Arc::new(orset_of(60)),
            seal: None,
            hop: 0,
        }),
        Body::Tree(Tree::IHave {
            ids: vec![range(0, 0), range(5, 900)],
        }),
        Body::Tree(Tree::Graft {
            ids: vec![range(2, 3)],
        }),
        Body::Tree(Tree::Prune),
        Body::Tree(Tree::Connect),
        Body::View(View::Join),
        Body::View(View::ForwardJoin { joiner: 4, ttl: 6 }),
        Body::View(View::Neighbor {
            priority: Priority::High,
        }),
        Body::View(View::Neighbor {
            priority: Priority::Low,
        }),
        Body::View(View::NeighborReply { accepted: true }),
        Body::View(View::Disconnect),
        Body::View(View::Shuffle {
            origin: 3,
            ttl: 2,
            peers: (5..20).collect(),
        }),
        Body::View(View::ShuffleReply {
            peers: vec![2, 3, 4],
        }),
    ];
    bodies
        .into_iter()
        .enumerate()
        .map(|(k, body)| {
            let mut message = Message::new(body);
            message.incarnation = k as u64;
            for n in 0..k % 4 {
                message.members.push(MemberUpdate {
                    peer: 2 + n as u32,
                    incarnation: (k * n) as u64,
                    status: [Status::Alive, Status::Suspect, Status::Dead, Status::Left][n],
                    by: 4,
                    proof: None,
                });
            }
            message
        })
        .collect()
}

/// Bytes for the decoder, from `messages`' encodings: 1 to 8 flipped bits,
/// an overwritten byte, a cut, inserted bytes, a splice of two messages, or
/// (one time in six) bytes that are random throughout.
fn hostile_bytes(encoded: &[Vec<u8>], dice: &mut impl FnMut(u64) -> u64) -> Vec<u8> {
    let index = |dice: &mut dyn FnMut(u64) -> u64, n: usize| dice(n as u64) as usize;
    let original = &encoded[index(dice, encoded.len())];
    let mut bytes = original.clone();
    match dice(6) {
        0 => {
            for _ in 0..=dice(8) {
                let at = index(dice, bytes.len());
                bytes[at] ^= 1 << dice(8);
            }
        }
        1 => {
            let at = index(dice, bytes.len());
            bytes[at] = [0x00, 0xFF, 0xFB, 0xFC, 0xFD][index(dice, 5)];
        }
        2 => bytes.truncate(index(dice, bytes.len())),
        3 => {
            let at = index(dice, bytes.len() + 1);
            for _ in 0..=dice(3) {
                bytes.insert(at, dice(256) as u8);
            }
        }
        4 => {
            let other = &encoded[index(dice, encoded.len())];
            bytes.truncate(index(dice, bytes.len() + 1));
            bytes.extend_from_slice(&other[index(dice, other.len())..]);
        }
        _ => {
            let len = index(dice, 2 * original.len() + 2);
            bytes = (0..len).map(|_| dice(256) as u8).collect();
        }
    }
    bytes
}

/// Random bytes and bit-flipped, cut, spliced and padded encodings of every
/// kind of message, at sizes from a few bytes to kilobytes: the decoder
/// never panics; whatever it accepts is canonical (re-encodes to bytes that
/// decode to the same message) and carries a lawful delta (the checks of
/// the `decode_message` fuzz target); and a node of each strategy handles
/// every accepted message without panicking, its state only growing and
/// only by what the message carried. Both outcomes are common: most bytes
/// are rejected, hundreds are accepted and handled.
#[test]
fn random_and_bit_flipped_bytes_of_every_message_kind_are_rejected_or_handled_lawfully() {
    let messages = messages_of_every_kind();
    let encoded: Vec<Vec<u8>> = messages.iter().map(|m| codec::encode(m).unwrap()).collect();
    // Checked last, so that a failure here still lets the rest run first.
    let round_trip_failures: Vec<String> = messages
        .iter()
        .zip(&encoded)
        .filter_map(|(message, bytes)| {
            let back = codec::decode::<Message<OrSet<u64>, u32>>(bytes, 1 << 16);
            (back.as_ref() != Ok(message)).then(|| {
                let payload = message.payload().map_or(0, OrSet::len);
                format!(
                    "{} bytes ({payload} elements): {:?}",
                    bytes.len(),
                    back.err()
                )
            })
        })
        .collect();
    let sizes: Vec<usize> = encoded.iter().map(Vec::len).collect();
    assert!(
        sizes.iter().min() < Some(&8) && sizes.iter().max() > Some(&1_000),
        "{sizes:?}"
    );

    let seed = fresh_seed();
    eprintln!("message bytes: fresh seed {seed} (replay: RUMOR_SEED={seed})");
    for seed in [0x1234_5678, seed] {
        let mut x = seed | 1;
        let mut dice = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n.max(1)
        };
        let mut nodes: Vec<Node<OrSet<u64>, u32>> = [Strategy::DeltaOptimized, Strategy::Eager]
            .into_iter()
            .map(|strategy| {
                let config = Config {
                    strategy,
                    ..Config::default()
                };
                Node::new(
                    1u32,
                    orset_of(20),
                    FullView::new(1, [2, 3, 4]),
                    config,
                    seed,
                )
            })
            .collect();
        let (mut accepted, mut rejected) = (0, 0);
        for round in 0..20_000u64 {
            let bytes = hostile_bytes(&encoded, &mut dice);
            rumor_fuzz::decode_message(&bytes);
            let Ok(message) = codec::decode::<Message<OrSet<u64>, u32>>(&bytes, 1 << 16) else {
                rejected += 1;
                continue;
            };
            accepted += 1;
            let carried = message.payload().cloned().unwrap_or_default();
            for node in &mut nodes {
                let before = node.state().clone();
                let now = 1_000 + round;
                let _ = node.handle(
                    2 + u32::try_from(round % 3).unwrap_or(0),
                    message.clone(),
                    now,
                );
                if round % 50 == 0 {
                    let _ = node.tick(now);
                }
                let after = node.state();
                assert!(
                    after.includes(&before),
                    "seed {seed}: the state shrank\n{message:?}"
                );
                let mut bound = before.clone();
                bound.join(&carried);
                assert!(
                    bound.includes(after),
                    "seed {seed}: the state got what the message did not carry\n{message:?}"
                );
            }
        }
        eprintln!("seed {seed}: {accepted} accepted, {rejected} rejected");
        assert!(
            accepted >= 500 && rejected >= 10_000,
            "seed {seed}: {accepted} accepted, {rejected} rejected"
        );
    }
    assert!(
        round_trip_failures.is_empty(),
        "honest messages that do not decode to themselves: {round_trip_failures:#?}"
    );
}

#[test]
fn pushes_are_capped_at_max_delta_bytes_and_the_rest_follows_once_acked() {
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
    // Lost on purpose: node 3's write (update 0), and only it.
    assert_eq!(
        sim.lost_writes(),
        [0],
        "node 3's write is gone, node 4's is not"
    );
    assert_eq!(sim.state(0).value(), 7, "node 3's write is gone");
}
