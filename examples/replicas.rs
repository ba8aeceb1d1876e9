//! Three replicas of an agent swarm's shared state converge over a lossy,
//! reordering, duplicating network simulated in memory.
//!
//! Each agent keeps an [`OrSet`] of the tasks it knows about, an [`LwwMap`]
//! of agent → position and a [`PnCounter`] of the battery budget. Every
//! mutation returns a delta; deltas are encoded, then delivered late, out of
//! order, twice, or not at all. A final anti-entropy round (`delta_since`)
//! repairs what the network lost, and the three replicas end equal.
//!
//! Run with `cargo run --release --example replicas`.
#![allow(clippy::print_stdout)]

use rumor::crdt::{codec, Crdt, Hlc, LwwMap, OrSet, PnCounter, ReplicaId};

/// One agent's replicated state.
#[derive(Clone, Debug, Default, PartialEq)]
struct Swarm {
    tasks: OrSet<String>,
    positions: LwwMap<String, (i32, i32)>,
    budget: PnCounter,
}

/// A delta of one field, as sent on the wire.
#[derive(Clone)]
enum Delta {
    Tasks(Vec<u8>),
    Positions(Vec<u8>),
    Budget(Vec<u8>),
}

/// A tiny deterministic RNG (xorshift), so the run is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const LIMIT: usize = 64 * 1024;

fn apply(state: &mut Swarm, delta: &Delta) -> Result<(), codec::DecodeError> {
    match delta {
        Delta::Tasks(b) => state.tasks.join(&codec::decode(b, LIMIT)?),
        Delta::Positions(b) => state.positions.join(&codec::decode(b, LIMIT)?),
        Delta::Budget(b) => state.budget.join(&codec::decode(b, LIMIT)?),
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ids: Vec<ReplicaId> = (1..=3).map(ReplicaId::from_u128).collect();
    let mut clocks: Vec<Hlc> = ids.iter().map(|&id| Hlc::new(id)).collect();
    let mut agents = vec![Swarm::default(); 3];
    let mut rng = Rng(0x5eed);
    let mut in_flight: Vec<(usize, Delta)> = Vec::new();
    let (mut sent, mut bytes) = (0usize, 0usize);

    for step in 0..300u64 {
        let a = usize::try_from(rng.below(3))?;
        let wall_ms = 1_000 + step * 10 + rng.below(25); // skewed, jittery clocks
        let delta = match rng.below(4) {
            0 => {
                let task = format!("task-{}", rng.below(20));
                Delta::Tasks(codec::encode(&agents[a].tasks.insert(ids[a], task))?)
            }
            1 => {
                let task = format!("task-{}", rng.below(20));
                Delta::Tasks(codec::encode(&agents[a].tasks.remove(&task))?)
            }
            2 => {
                let pos = (
                    i32::try_from(rng.below(100))?,
                    i32::try_from(rng.below(100))?,
                );
                let ts = clocks[a].now(wall_ms);
                let key = format!("agent-{a}");
                Delta::Positions(codec::encode(&agents[a].positions.insert(key, pos, ts)?)?)
            }
            _ => Delta::Budget(codec::encode(&agents[a].budget.decrement(ids[a], 1))?),
        };
        let len = match &delta {
            Delta::Tasks(b) | Delta::Positions(b) | Delta::Budget(b) => b.len(),
        };
        for to in (0..3).filter(|&to| to != a) {
            sent += 1;
            bytes += len;
            in_flight.push((to, delta.clone()));
        }
        // Deliver a random in-flight delta now and then: reordering, 20 % loss, 10 % duplicates.
        while !in_flight.is_empty() && rng.below(3) == 0 {
            let i = usize::try_from(rng.below(in_flight.len() as u64))?;
            let (to, delta) = in_flight.swap_remove(i);
            match rng.below(10) {
                0 | 1 => {}
                2 => {
                    apply(&mut agents[to], &delta)?;
                    apply(&mut agents[to], &delta)?;
                }
                _ => apply(&mut agents[to], &delta)?,
            }
        }
    }
    let diverged = agents.windows(2).any(|w| w[0] != w[1]);
    println!(
        "after 300 writes over a lossy network: replicas equal? {}",
        !diverged
    );

    // Anti-entropy: every pair exchanges only what the other lacks.
    let mut repair_bytes = 0usize;
    for from in 0..3 {
        for to in 0..3 {
            if from == to {
                continue;
            }
            let (src, dst) = (agents[from].clone(), &mut agents[to]);
            let tasks = src.tasks.delta_since(&dst.tasks.context());
            let positions = src.positions.delta_since(&dst.positions.context());
            let budget = src.budget.delta_since(&dst.budget.context());
            repair_bytes += codec::encode(&tasks)?.len()
                + codec::encode(&positions)?.len()
                + codec::encode(&budget)?.len();
            dst.tasks.join(&tasks);
            dst.positions.join(&positions);
            dst.budget.join(&budget);
        }
    }
    let converged = agents.windows(2).all(|w| w[0] == w[1]);
    println!(
        "deltas sent: {sent} ({bytes} bytes, {:.1} bytes each)",
        bytes as f64 / sent as f64
    );
    println!("anti-entropy repair: {repair_bytes} bytes");
    println!("after one anti-entropy round: replicas equal? {converged}");
    let tasks: Vec<&String> = agents[0].tasks.iter().collect();
    println!("tasks: {tasks:?}");
    println!(
        "positions: {:?}",
        agents[0].positions.iter().collect::<Vec<_>>()
    );
    println!("battery budget: {}", agents[0].budget.value());
    if !converged {
        return Err("replicas did not converge".into());
    }
    Ok(())
}
