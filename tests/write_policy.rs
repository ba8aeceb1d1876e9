//! Per-key write permissions (issue 18, part 4; seed §7: "limit which
//! agents may update which state"), in the simulator: every node takes a
//! received delta only if the application's policy allows its writes, on
//! the eager path (with the author proved by its seal) and through
//! anti-entropy alike. A member that writes what it does not own is refused
//! everywhere, counted, and reported.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use rumor::crdt::{OrSet, ReplicaId};
use rumor::gossip::{Body, Config, Message, Strategy, SyncBody, WritePolicy};
use rumor::sim::{NetConfig, SimConfig, Simulator};

const NODES: u32 = 30;
const LIAR: u32 = 3;
const VICTIM: u32 = 9;

/// Node `i` owns the elements `i * 1_000 .. (i + 1) * 1_000`.
fn owner(element: u64) -> u32 {
    u32::try_from(element / 1_000).unwrap_or(u32::MAX)
}

fn cluster(seed: u64, strategy: Strategy, policy: bool) -> Simulator<OrSet<u64>> {
    let config = SimConfig {
        nodes: NODES,
        seed,
        node: Config {
            strategy,
            ..Config::default()
        },
        net: NetConfig {
            latency_ms: (1, 5),
            loss: 0.0,
            duplicate: 0.0,
        },
        signed: true,
        ..SimConfig::default()
    };
    let mut sim = Simulator::new(config, |_| OrSet::new());
    if policy {
        // Each element may be written only under its owner's replica id, and
        // a signed delta only by that owner.
        let ids: BTreeMap<ReplicaId, u32> = (0..NODES).map(|i| (sim.replica_id(i), i)).collect();
        let policy: Arc<WritePolicy<OrSet<u64>>> = Arc::new(move |delta, author| {
            delta.iter().all(|x| {
                delta.dots(x).iter().all(|dot| {
                    ids.get(&dot.replica) == Some(&owner(*x))
                        && author.is_none_or(|a| a == dot.replica)
                })
            })
        });
        sim.set_write_policy(policy);
    }
    sim
}

fn holders(sim: &Simulator<OrSet<u64>>, element: u64) -> Vec<u32> {
    (0..sim.len())
        .filter(|&i| sim.state(i).contains(&element))
        .collect()
}

fn refused_writes(sim: &Simulator<OrSet<u64>>) -> u64 {
    (0..sim.len()).map(|i| sim.node(i).refused().writes).sum()
}

/// Every node writes one element of its own; then the liar writes one of
/// the victim's, under its own replica id (its seal is valid). Returns the
/// simulator 5 s later.
fn liar_writes_the_victims_element(strategy: Strategy, policy: bool) -> Simulator<OrSet<u64>> {
    let mut sim = cluster(31, strategy, policy);
    sim.run_for(2_000);
    for i in 0..NODES {
        sim.update(i, |s, me| s.insert(me, u64::from(i) * 1_000));
    }
    assert!(sim.run_until_delivered(10_000));
    assert_eq!(refused_writes(&sim), 0, "honest writes are all allowed");
    sim.update(LIAR, |s, me| s.insert(me, u64::from(VICTIM) * 1_000 + 1));
    sim.run_for(5_000);
    sim
}

#[test]
fn a_write_to_an_element_the_writer_does_not_own_is_refused_by_every_node() {
    for strategy in [Strategy::Eager, Strategy::DeltaOptimized] {
        let stolen = u64::from(VICTIM) * 1_000 + 1;
        let without = liar_writes_the_victims_element(strategy, false);
        assert_eq!(
            holders(&without, stolen).len(),
            NODES as usize,
            "{strategy:?}: without a policy the write spreads"
        );
        let with = liar_writes_the_victims_element(strategy, true);
        assert_eq!(
            holders(&with, stolen),
            [LIAR],
            "{strategy:?}: only the liar holds it"
        );
        assert!(
            refused_writes(&with) >= u64::from(NODES - 1) / 2,
            "{strategy:?}"
        );
        // The honest writes are everywhere all the same.
        for i in 0..NODES {
            assert_eq!(holders(&with, u64::from(i) * 1_000).len(), NODES as usize);
        }
    }
}

#[test]
fn an_anti_entropy_delta_naming_the_wrong_owner_is_refused_and_reported() {
    let mut sim = cluster(32, Strategy::Eager, true);
    sim.run_for(2_000);
    // Through anti-entropy (no seal), the liar sends an add of its own
    // element written under the victim's replica id: the content names the
    // wrong owner.
    let mut forged = OrSet::new();
    let delta = forged.insert(sim.replica_id(VICTIM), u64::from(LIAR) * 1_000 + 7);
    let sync = Message::new(Body::Sync(Box::new(SyncBody {
        seq: 0,
        delta,
        sealed: Vec::new(),
        context: None,
        digest: None,
        hop: 0,
        ack: None,
        reply: false,
    })));
    for to in [0, 10, 20] {
        sim.inject(sim.now(), LIAR, to, sync.clone());
    }
    sim.run_for(3_000);
    assert!(holders(&sim, u64::from(LIAR) * 1_000 + 7).is_empty());
    assert_eq!(refused_writes(&sim), 3);
}
