//! The simulator passes every message through the wire codec (on by
//! default): honest clusters of every type and strategy run with it, and a
//! message that does not come back equal fails the run loudly.
#![allow(clippy::unwrap_used)]

use std::panic::{self, AssertUnwindSafe};

use rumor::crdt::{Crdt, GCounter, Hlc, LwwMap, LwwRegister, OrSet, PnCounter, ReplicaId};
use rumor::gossip::{Config, Strategy};
use rumor::sim::{NetConfig, SimConfig, Simulator, Topology};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

fn config(nodes: u32, strategy: Strategy, topology: Topology) -> SimConfig {
    SimConfig {
        nodes,
        topology,
        seed: 11,
        node: Config {
            strategy,
            ..Config::default()
        },
        net: NetConfig {
            latency_ms: (1, 5),
            loss: 0.05,
            duplicate: 0.05,
        },
        signed: false,
    }
}

/// Writes `writes` updates from spread-out nodes, runs 20 s and checks that
/// every node has them; every message went through the codec on the way.
fn converges<S>(
    strategy: Strategy,
    topology: Topology,
    writes: u32,
    write: impl Fn(&mut S, ReplicaId, u32) -> S,
) where
    S: Crdt + Serialize + DeserializeOwned + Send + Sync + 'static,
    S::Context: Serialize + DeserializeOwned + Send,
{
    let nodes = 40;
    let partial = matches!(topology, Topology::Partial { .. });
    let mut sim = Simulator::new(config(nodes, strategy, topology), |_| S::default());
    sim.run_for(if partial { 3_000 } else { 500 });
    for k in 0..writes {
        sim.update(k * 7 % nodes, |state, me| write(state, me, k));
        sim.run_for(20);
    }
    sim.run_for(20_000);
    let name = std::any::type_name::<S>();
    assert!(
        sim.missing_writes().is_empty(),
        "{strategy:?} {name}: writes missing"
    );
    assert!(sim.converged(), "{strategy:?} {name}: not converged");
    assert!(sim.stats().messages > 0);
}

#[test]
fn honest_clusters_of_every_type_and_strategy_run_with_every_message_through_the_codec() {
    let strategies = [
        Strategy::FullState,
        Strategy::Delta,
        Strategy::DeltaOptimized,
        Strategy::Eager,
    ];
    for strategy in strategies {
        converges::<OrSet<u64>>(strategy, Topology::Full, 30, |s, me, k| {
            s.insert(me, u64::from(k) * 1_000)
        });
    }
    converges::<OrSet<u64>>(Strategy::Eager, Topology::partial(), 30, |s, me, k| {
        s.insert(me, u64::from(k))
    });
    converges::<GCounter>(Strategy::DeltaOptimized, Topology::Full, 30, |s, me, k| {
        s.increment(me, u64::from(k) << 40)
    });
    converges::<PnCounter>(Strategy::Eager, Topology::Full, 30, |s, me, k| {
        s.decrement(me, u64::from(k) + 1)
    });
    converges::<LwwRegister<String>>(Strategy::DeltaOptimized, Topology::Full, 10, |s, me, k| {
        let mut clock = Hlc::new(me);
        s.set(
            "x".repeat(k as usize * 30),
            clock.now(1_700_000_000_000 + u64::from(k)),
        )
        .unwrap()
    });
    converges::<LwwMap<u32, String>>(Strategy::Eager, Topology::Full, 30, |s, me, k| {
        let mut clock = Hlc::new(me);
        s.insert(
            k % 7,
            format!("v{k}"),
            clock.now(1_700_000_000_000 + u64::from(k)),
        )
        .unwrap()
    });
}

/// A counter whose wire form is broken: it decodes as bottom whatever was
/// sent, as a codec that dropped a field would.
#[derive(Clone, PartialEq, Eq, Default, Debug)]
struct Forgetful(GCounter);

impl Serialize for Forgetful {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Forgetful {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        GCounter::deserialize(deserializer).map(|_| Self::default())
    }
}

impl Crdt for Forgetful {
    type Context = GCounter;

    fn join(&mut self, other: &Self) {
        self.0.join(&other.0);
    }

    fn context(&self) -> GCounter {
        self.0.context()
    }

    fn delta_since(&self, seen: &GCounter) -> Self {
        Self(self.0.delta_since(seen))
    }
}

fn forgetful_cluster() -> Simulator<Forgetful> {
    let mut sim = Simulator::new(
        SimConfig {
            nodes: 5,
            ..SimConfig::default()
        },
        |_| Forgetful::default(),
    );
    sim.update(0, |s, me| Forgetful(s.0.increment(me, 1)));
    sim
}

#[test]
fn a_message_that_does_not_decode_back_equal_panics_the_simulator() {
    let mut sim = forgetful_cluster();
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| sim.run_for(1_000)));
    let panic = outcome.expect_err("the simulator delivered a message its codec altered");
    let why = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .unwrap_or("(no message)");
    assert!(
        why.starts_with("simulator codec check: a ") && why.contains("decodes to another value"),
        "{why}"
    );

    // Off, the same cluster runs: the codec is the only thing that broke.
    let mut sim = forgetful_cluster();
    sim.set_codec(false);
    assert!(sim.run_until_delivered(5_000));
    assert!(sim.converged());
}
