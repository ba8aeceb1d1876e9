//! A robot swarm's whole application state as one replicated value (seed
//! scenario §8), spread by gossip over the deterministic simulator.
//!
//! One `#[derive(Crdt)]` struct holds the robots' positions
//! ([`LwwMap`]), the obstacles they found ([`OrSet`] of grid cells), who
//! claims which task ([`OrMap`] of task → [`OrSet`] of robots) and how many
//! tasks are done ([`GCounter`]). Five robots run as gossip nodes on a lossy
//! simulated network; two of them claim the same task on both sides of a
//! partition. After the partition heals every robot sees both claims, and
//! every robot computes the same winner from the converged state: the lowest
//! robot id among the task's claimants. The loser withdraws.
//!
//! **What gossip alone cannot promise.** The winner is deterministic only
//! once both claims have reached a replica: until then each claimant sees
//! only its own claim and believes it holds the task. Two robots may both
//! *act* on a task before they see each other's claim (here, during the
//! partition). A CRDT makes concurrent claims visible and their resolution
//! identical everywhere; an *exclusive* claim — "no one else ever starts
//! this task" — needs consensus (a lock service, Raft, a leader), which
//! gossip does not provide.
//!
//! Run with `cargo run --release --example swarm_state` (well under a second).
#![allow(clippy::print_stdout)]

use rumor::crdt::{Crdt, GCounter, Hlc, LwwMap, OrMap, OrSet};
use rumor::sim::{NetConfig, SimConfig, Simulator};
use serde::{Deserialize, Serialize};

/// A robot: its index in the simulation.
type RobotId = u32;
/// A task's number.
type TaskId = u32;
/// A grid cell (x, y).
type Cell = (i32, i32);
/// Where a robot is, on the grid.
type Position = (i32, i32);

/// The swarm's whole state: each field a CRDT, the struct one too.
#[derive(Crdt, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct SwarmState {
    positions: LwwMap<RobotId, Position>,
    obstacles: OrSet<Cell>,
    claims: OrMap<TaskId, OrSet<RobotId>>,
    finished: GCounter,
}

const ROBOTS: u32 = 5;

/// Who holds `task`, as every replica computes it from its own state: the
/// lowest robot id among the claimants. Replicas holding the same claims
/// agree; a replica that has not yet seen a claim may disagree.
fn winner(state: &SwarmState, task: TaskId) -> Option<RobotId> {
    state.claims.get(&task)?.iter().min().copied()
}

/// The claimants of `task` at one replica, in order.
fn claimants(state: &SwarmState, task: TaskId) -> Vec<RobotId> {
    state
        .claims
        .get(&task)
        .map(|set| set.iter().copied().collect())
        .unwrap_or_default()
}

fn main() {
    let config = SimConfig {
        nodes: ROBOTS,
        seed: 8,
        net: NetConfig {
            latency_ms: (1, 10),
            loss: 0.05,
            duplicate: 0.01,
        },
        ..SimConfig::default()
    };
    let mut sim = Simulator::new(config, |_| SwarmState::default());
    let mut clocks: Vec<Hlc> = (0..ROBOTS).map(|i| Hlc::new(sim.replica_id(i))).collect();

    println!("{ROBOTS} robots gossip one SwarmState over a simulated network (5 % loss).");
    for robot in 0..ROBOTS {
        let at = clocks[robot as usize].now(sim.now());
        let x = i32::try_from(robot).unwrap_or_default() * 3;
        sim.update(robot, |s, _| {
            s.update_positions(|m| m.insert(robot, (x, 0), at).unwrap_or_default())
        });
    }
    sim.update(3, |s, me| {
        s.update_obstacles(|cells| cells.insert(me, (4, 2)))
    });
    let delivered = sim.run_until_delivered(10_000);
    println!(
        "t={:>5} ms  positions and an obstacle at (4, 2) reached everyone: {delivered}",
        sim.now()
    );

    // A partition: robots 0-2 on one side, 3-4 on the other.
    sim.partition(|i| u32::from(i >= 3));
    let task = 7;
    sim.update(4, |s, me| {
        s.update_claims(|c| c.update(me, task, |set| set.insert(me, 4)))
    });
    sim.update(1, |s, me| {
        s.update_claims(|c| c.update(me, task, |set| set.insert(me, 1)))
    });
    sim.update(2, |s, me| {
        s.update_claims(|c| c.update(me, 8, |set| set.insert(me, 2)))
    });
    sim.run_for(1_000);
    println!(
        "t={:>5} ms  partitioned: robot 1 sees claimants {:?} of task {task}, robot 4 sees {:?}",
        sim.now(),
        claimants(sim.state(1), task),
        claimants(sim.state(4), task),
    );
    println!(
        "            both believe they hold it and may start on it: gossip cannot prevent that."
    );

    sim.heal();
    let delivered = sim.run_until_delivered(30_000);
    let winners: Vec<Option<RobotId>> = (0..ROBOTS).map(|i| winner(sim.state(i), task)).collect();
    println!(
        "t={:>5} ms  healed (all delivered: {delivered}, converged: {}): every robot sees claimants {:?}",
        sim.now(),
        sim.converged(),
        claimants(sim.state(0), task),
    );
    println!("            winner of task {task} as computed by robots 0..{ROBOTS}: {winners:?}");
    assert!(
        winners.iter().all(|w| *w == Some(1)),
        "every replica picks the lowest id"
    );

    // The loser withdraws its claim; the winner finishes the task and clears it.
    sim.update(4, |s, me| {
        s.update_claims(|c| c.update(me, task, |set| set.remove(&4)))
    });
    sim.run_until_delivered(30_000);
    sim.update(1, |s, me| s.update_finished(|f| f.increment(me, 1)));
    sim.update(1, |s, _| s.update_claims(|c| c.remove(&task)));
    let delivered = sim.run_until_delivered(30_000);
    let state = sim.state(0);
    println!(
        "t={:>5} ms  robot 4 withdrew, robot 1 finished task {task} (delivered: {delivered}, converged: {})",
        sim.now(),
        sim.converged(),
    );
    println!(
        "            open claims {:?}, finished {}, obstacles {:?}, robots tracked {}",
        state
            .claims
            .iter()
            .map(|(t, set)| (*t, set.iter().copied().collect::<Vec<_>>()))
            .collect::<Vec<_>>(),
        state.finished.value(),
        state.obstacles.iter().collect::<Vec<_>>(),
        state.positions.len(),
    );
    let stats = sim.stats();
    println!(
        "            {} messages ({} dropped), {} payload bytes in all",
        stats.messages, stats.dropped, stats.payload_bytes
    );
}
