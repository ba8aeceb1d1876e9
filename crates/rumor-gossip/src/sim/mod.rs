//! A deterministic discrete-event network simulator for [`Node`]s.
//!
//! Nodes are numbered `0..n` and use the implicit [`DenseView`]. The network
//! has a per-message latency drawn from a range (so messages reorder), loss,
//! duplication, partitions that split and heal, and crashes with restarts
//! that keep or lose local state. Everything random is drawn from one seeded
//! generator: the same seed replays the same run.
//!
//! The simulator records, for every update, when each live node first had it,
//! and counts messages, payload bytes (the encoded deltas) and control bytes
//! (everything else in a message).
//!
//! ```
//! use rumor_crdt::{GCounter, ReplicaId};
//! use rumor_gossip::sim::{SimConfig, Simulator};
//!
//! let mut sim = Simulator::new(SimConfig { nodes: 50, ..SimConfig::default() }, |_| GCounter::new());
//! sim.update(7, |state, me| state.increment(me, 1));
//! assert!(sim.run_until_delivered(5_000));
//! assert!(sim.converged());
//! assert_eq!(sim.state(0).value(), 1);
//! ```

mod scenario;

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;
use rumor_crdt::{codec, Crdt, ReplicaId};
use serde::Serialize;

use crate::{Body, Config, DenseView, Event, Message, Node, Output, Tree};

pub use scenario::{Outcome, ScenarioError, Step};

/// The network's behaviour.
#[derive(Clone, Debug, PartialEq)]
pub struct NetConfig {
    /// One-way latency range in milliseconds, inclusive; drawn uniformly per
    /// message, so messages on one link can overtake each other.
    pub latency_ms: (u64, u64),
    /// Probability that a message is lost.
    pub loss: f64,
    /// Probability that a delivered message is delivered twice.
    pub duplicate: f64,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            latency_ms: (1, 1),
            loss: 0.0,
            duplicate: 0.0,
        }
    }
}

/// A simulation's setup.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// Number of nodes.
    pub nodes: u32,
    /// Seed of the network and of every node.
    pub seed: u64,
    /// Every node's protocol configuration.
    pub node: Config,
    /// The network.
    pub net: NetConfig,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            nodes: 100,
            seed: 1,
            node: Config::default(),
            net: NetConfig::default(),
        }
    }
}

/// Traffic counters over the whole run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages handed to the network.
    pub messages: u64,
    /// Messages the network dropped (loss, partition, dead receiver).
    pub dropped: u64,
    /// Encoded bytes of the replicated payload (deltas or states).
    pub payload_bytes: u64,
    /// Encoded bytes of everything else (sequence numbers, acks, digests).
    pub control_bytes: u64,
    /// Messages delivered to a live node.
    pub delivered: u64,
}

/// A membership event one node reported (joins and state changes are not
/// recorded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberEvent {
    /// When.
    pub at_ms: u64,
    /// The node that reported it.
    pub observer: u32,
    /// What it reported.
    pub event: Event<u32>,
}

/// One recorded update and its spread.
#[derive(Clone, Debug)]
pub struct UpdateRecord<S> {
    /// The writing node.
    pub origin: u32,
    /// When it was written.
    pub at_ms: u64,
    /// The delta it produced.
    pub delta: S,
    /// For each node, when it first had the update.
    pub reached_ms: Vec<Option<u64>>,
}

impl<S> UpdateRecord<S> {
    /// Time from the write until the last currently-reached node had it.
    #[must_use]
    pub fn latest_reach_ms(&self) -> Option<u64> {
        self.reached_ms
            .iter()
            .flatten()
            .max()
            .map(|t| t - self.at_ms)
    }
}

enum Scheduled<S: Crdt> {
    Tick {
        node: u32,
        incarnation: u32,
    },
    Deliver {
        from: u32,
        to: u32,
        // Boxed: the heap moves its elements on every push and pop.
        message: Box<Message<S, u32>>,
    },
}

struct Queued<S: Crdt> {
    at: u64,
    seq: u64,
    event: Scheduled<S>,
}

impl<S: Crdt> PartialEq for Queued<S> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<S: Crdt> Eq for Queued<S> {}
impl<S: Crdt> PartialOrd for Queued<S> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<S: Crdt> Ord for Queued<S> {
    // Reversed: BinaryHeap is a max-heap, the simulator wants the earliest.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

struct Slot<S: Crdt> {
    node: Node<S, u32, DenseView>,
    alive: bool,
    incarnation: u32,
    /// Updates this node does not have yet (indices into `updates`).
    pending: Vec<u32>,
}

/// The simulator. See the [module docs](self).
pub struct Simulator<S: Crdt> {
    config: SimConfig,
    now: u64,
    seq: u64,
    rng: Pcg64Mcg,
    queue: BinaryHeap<Queued<S>>,
    slots: Vec<Slot<S>>,
    initial: Box<dyn Fn(u32) -> S>,
    groups: Option<Vec<u32>>,
    updates: Vec<UpdateRecord<S>>,
    member_events: Vec<MemberEvent>,
    stats: Stats,
}

impl<S> Simulator<S>
where
    S: Crdt + Serialize + 'static,
    S::Context: Serialize,
{
    /// A cluster of `config.nodes` nodes, node `i` starting from `initial(i)`.
    /// Each node's first round falls at a random point of the first interval.
    pub fn new(config: SimConfig, initial: impl Fn(u32) -> S + 'static) -> Self {
        let rng = Pcg64Mcg::seed_from_u64(config.seed);
        let mut sim = Self {
            now: 0,
            seq: 0,
            rng,
            queue: BinaryHeap::new(),
            slots: Vec::with_capacity(config.nodes as usize),
            initial: Box::new(initial),
            groups: None,
            updates: Vec::new(),
            member_events: Vec::new(),
            stats: Stats::default(),
            config,
        };
        for i in 0..sim.config.nodes {
            let node = sim.make_node(i, 0, (sim.initial)(i));
            sim.slots.push(Slot {
                node,
                alive: true,
                incarnation: 0,
                pending: Vec::new(),
            });
            sim.schedule_first_tick(i);
        }
        sim
    }

    fn make_node(&self, i: u32, incarnation: u32, state: S) -> Node<S, u32, DenseView> {
        let seed = self.config.seed
            ^ u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ u64::from(incarnation).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        Node::new(
            i,
            state,
            DenseView::new(i, self.config.nodes),
            self.config.node.clone(),
            seed,
        )
        .with_incarnation(u64::from(incarnation))
    }

    fn schedule_first_tick(&mut self, node: u32) {
        let interval = self.config.node.interval_ms.max(1);
        let phase = self.rng.random_range(0..interval);
        let incarnation = self.slots[node as usize].incarnation;
        self.push(self.now + phase, Scheduled::Tick { node, incarnation });
    }

    fn push(&mut self, at: u64, event: Scheduled<S>) {
        self.seq += 1;
        self.queue.push(Queued {
            at,
            seq: self.seq,
            event,
        });
    }

    /// The current virtual time in milliseconds.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Number of nodes, live or not.
    pub fn len(&self) -> u32 {
        self.config.nodes
    }

    /// Whether the cluster has no nodes.
    pub fn is_empty(&self) -> bool {
        self.config.nodes == 0
    }

    /// The CRDT replica id node `i` writes with in its current incarnation. A
    /// node restarted without its state writes under a new id, so that it
    /// never reuses a dot.
    pub fn replica_id(&self, i: u32) -> ReplicaId {
        let incarnation = self.slots[i as usize].incarnation;
        ReplicaId::from_u128((u128::from(incarnation) << 32) | (u128::from(i) + 1))
    }

    /// Node `i`'s replicated state.
    pub fn state(&self, i: u32) -> &S {
        self.slots[i as usize].node.state()
    }

    /// Node `i`.
    pub fn node(&self, i: u32) -> &Node<S, u32, DenseView> {
        &self.slots[i as usize].node
    }

    /// Whether node `i` is up.
    pub fn is_alive(&self, i: u32) -> bool {
        self.slots[i as usize].alive
    }

    /// Traffic so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Every recorded update, in write order.
    pub fn updates(&self) -> &[UpdateRecord<S>] {
        &self.updates
    }

    /// Every suspicion, death, departure and refutation reported so far.
    pub fn member_events(&self) -> &[MemberEvent] {
        &self.member_events
    }

    /// Makes node `i` leave gracefully: it announces it, then stops.
    pub fn leave(&mut self, i: u32) {
        if !self.is_alive(i) {
            return;
        }
        let out = self.slots[i as usize].node.leave();
        self.dispatch(i, out);
        self.slots[i as usize].alive = false;
    }

    /// Changes message loss from now on.
    pub fn set_loss(&mut self, loss: f64) {
        self.config.net.loss = loss;
    }

    /// Changes the latency range from now on.
    pub fn set_latency(&mut self, latency_ms: (u64, u64)) {
        self.config.net.latency_ms = latency_ms;
    }

    /// Writes on node `i` through `mutate(state, replica_id)`, which returns
    /// the delta; records the update. Returns its index, or `None` if the
    /// node is down or the write changed nothing.
    pub fn update(&mut self, i: u32, mutate: impl FnOnce(&mut S, ReplicaId) -> S) -> Option<usize> {
        if !self.is_alive(i) {
            return None;
        }
        let replica = self.replica_id(i);
        let mut delta = None;
        let out = self.slots[i as usize].node.update(|state| {
            let d = mutate(state, replica);
            delta = Some(d.clone());
            d
        });
        let delta = delta.filter(|d| !d.is_bottom())?;
        let mut reached_ms = vec![None; self.config.nodes as usize];
        reached_ms[i as usize] = Some(self.now);
        let index = u32::try_from(self.updates.len()).unwrap_or(u32::MAX);
        for (n, slot) in self.slots.iter_mut().enumerate() {
            if n != i as usize {
                slot.pending.push(index);
            }
        }
        self.updates.push(UpdateRecord {
            origin: i,
            at_ms: self.now,
            delta,
            reached_ms,
        });
        self.dispatch(i, out);
        Some(self.updates.len() - 1)
    }

    /// Splits the network: node `i` can only reach nodes with the same
    /// `group(i)`.
    pub fn partition(&mut self, group: impl Fn(u32) -> u32) {
        self.groups = Some((0..self.config.nodes).map(group).collect());
    }

    /// Removes every partition.
    pub fn heal(&mut self) {
        self.groups = None;
    }

    /// Stops node `i`: it neither ticks nor receives until restarted.
    pub fn crash(&mut self, i: u32) {
        self.slots[i as usize].alive = false;
    }

    /// Restarts a crashed node, with its state (`keep_state`) or from its
    /// initial state under a new replica id. Gossip bookkeeping (buffer,
    /// acknowledgements) is always lost, as after a real process restart.
    pub fn restart(&mut self, i: u32, keep_state: bool) {
        let slot = &self.slots[i as usize];
        if slot.alive {
            return;
        }
        let incarnation = slot.incarnation + 1;
        let mut pending = slot.pending.clone();
        let state = if keep_state {
            slot.node.state().clone()
        } else {
            pending.clear();
            for (u, update) in self.updates.iter_mut().enumerate() {
                update.reached_ms[i as usize] = None;
                pending.push(u32::try_from(u).unwrap_or(u32::MAX));
            }
            (self.initial)(i)
        };
        let node = self.make_node(i, incarnation, state);
        self.slots[i as usize] = Slot {
            node,
            alive: true,
            incarnation,
            pending,
        };
        self.schedule_first_tick(i);
        self.record_reach(i);
    }

    /// Runs the network for `ms` milliseconds of virtual time.
    pub fn run_for(&mut self, ms: u64) {
        let end = self.now + ms;
        while self.queue.peek().is_some_and(|q| q.at <= end) {
            if let Some(queued) = self.queue.pop() {
                self.now = queued.at;
                self.process(queued.event);
            }
        }
        self.now = end;
    }

    /// Runs until every update written so far has reached every live node,
    /// for at most `max_ms`; returns whether it got there.
    pub fn run_until_delivered(&mut self, max_ms: u64) -> bool {
        let end = self.now + max_ms;
        let step = self.config.node.interval_ms.max(1);
        while !self.all_delivered() {
            if self.now >= end {
                return false;
            }
            self.run_for(step.min(end - self.now));
        }
        true
    }

    /// Whether every update has reached every live node (by the records).
    pub fn all_delivered(&self) -> bool {
        self.slots.iter().all(|s| !s.alive || s.pending.is_empty())
    }

    /// Whether every live node holds the same state.
    pub fn converged(&self) -> bool {
        let mut live = self
            .slots
            .iter()
            .filter(|s| s.alive)
            .map(|s| s.node.state());
        match live.next() {
            Some(first) => live.all(|s| s == first),
            None => true,
        }
    }

    /// `(update, node)` pairs where a live node's state lacks an update that
    /// some live node holds: writes that would be lost. Checked on the
    /// states themselves, not on the records.
    pub fn missing_writes(&self) -> Vec<(usize, u32)> {
        let mut missing = Vec::new();
        for (u, update) in self.updates.iter().enumerate() {
            let held = |s: &Slot<S>| s.node.state().includes(&update.delta);
            if !self.slots.iter().any(|s| s.alive && held(s)) {
                continue; // only ever held by nodes that lost their state
            }
            for (i, slot) in self.slots.iter().enumerate() {
                if slot.alive && !held(slot) {
                    missing.push((u, u32::try_from(i).unwrap_or(u32::MAX)));
                }
            }
        }
        missing
    }

    fn process(&mut self, event: Scheduled<S>) {
        match event {
            Scheduled::Tick { node, incarnation } => {
                let slot = &mut self.slots[node as usize];
                if !slot.alive || slot.incarnation != incarnation {
                    return; // a stale timer of a crashed or restarted node
                }
                let out = slot.node.tick(self.now);
                let next = self.now + self.config.node.interval_ms.max(1);
                self.push(next, Scheduled::Tick { node, incarnation });
                self.dispatch(node, out);
            }
            Scheduled::Deliver { from, to, message } => {
                let slot = &mut self.slots[to as usize];
                if !slot.alive {
                    self.stats.dropped += 1;
                    return;
                }
                self.stats.delivered += 1;
                let out = slot.node.handle(from, *message, self.now);
                if out.events.contains(&Event::StateChanged) {
                    self.record_reach(to);
                }
                self.dispatch(to, out);
            }
        }
    }

    fn record_reach(&mut self, i: u32) {
        let slot = &mut self.slots[i as usize];
        let state = slot.node.state();
        let (updates, now) = (&mut self.updates, self.now);
        slot.pending.retain(|&u| {
            let update = &mut updates[u as usize];
            if state.includes(&update.delta) {
                update.reached_ms[i as usize] = Some(now);
                false
            } else {
                true
            }
        });
    }

    fn reachable(&self, from: u32, to: u32) -> bool {
        self.groups
            .as_ref()
            .is_none_or(|g| g[from as usize] == g[to as usize])
    }

    fn dispatch(&mut self, from: u32, out: Output<S, u32>) {
        for event in out.events {
            if !matches!(event, Event::StateChanged | Event::MemberJoined(_)) {
                self.member_events.push(MemberEvent {
                    at_ms: self.now,
                    observer: from,
                    event,
                });
            }
        }
        for (to, message) in out.messages {
            let mut message = Box::new(message);
            let (payload, control) = measure(&mut message);
            self.stats.messages += 1;
            self.stats.payload_bytes += payload;
            self.stats.control_bytes += control;
            let net = &self.config.net;
            if !self.reachable(from, to) || self.rng.random_bool(net.loss.clamp(0.0, 1.0)) {
                self.stats.dropped += 1;
                continue;
            }
            let (lo, hi) = net.latency_ms;
            let duplicate = self.rng.random_bool(net.duplicate.clamp(0.0, 1.0));
            let at = self.now + self.rng.random_range(lo..=hi.max(lo));
            if duplicate {
                let again = self.now + self.rng.random_range(lo..=hi.max(lo));
                let copy = message.clone();
                self.push(
                    again,
                    Scheduled::Deliver {
                        from,
                        to,
                        message: copy,
                    },
                );
            }
            self.push(at, Scheduled::Deliver { from, to, message });
        }
    }
}

/// `(payload, control)` encoded bytes of `message`. The payload (a delta or
/// state) is encoded once: the control part is measured with the payload
/// swapped for an empty one, then the payload is put back.
fn measure<S>(message: &mut Message<S, u32>) -> (u64, u64)
where
    S: Crdt + Serialize,
    S::Context: Serialize,
{
    let len = |n: Result<usize, codec::EncodeError>| n.map_or(0, |n| n as u64);
    let slot = match &mut message.body {
        Body::Sync(sync) => &mut sync.delta,
        Body::Tree(Tree::Gossip { delta, .. }) => delta,
        Body::Probe(_) | Body::Tree(_) => return (0, len(codec::encoded_len(&*message))),
    };
    if slot.is_bottom() {
        return (0, len(codec::encoded_len(&*message)));
    }
    let payload = len(codec::encoded_len(&*slot));
    let delta = core::mem::take(slot);
    let bottom = len(codec::encoded_len(&S::default()));
    let control = len(codec::encoded_len(&*message)).saturating_sub(bottom);
    match &mut message.body {
        Body::Sync(sync) => sync.delta = delta,
        Body::Tree(Tree::Gossip { delta: slot, .. }) => *slot = delta,
        Body::Probe(_) | Body::Tree(_) => {}
    }
    (payload, control)
}
