//! A deterministic discrete-event network simulator for [`Node`]s.
//!
//! Nodes are numbered `0..n`. They know each other through the implicit
//! full [`DenseView`], through [`FullView`]s that start from a few seeds
//! ([`Topology::Seeded`]: the members learn each other by SWIM), or through
//! HyParView partial views ([`Topology::Partial`]): then node `i` joins
//! through a random node below it when the run starts, and a restarted node
//! joins again. The network
//! has a per-message latency drawn from a range (so messages reorder), loss,
//! duplication, partitions that split and heal, and crashes with restarts
//! that keep or lose local state. Everything random is drawn from one seeded
//! generator: the same seed replays the same run.
//!
//! The simulator records, for every update, when each live node first had it,
//! and counts messages, payload bytes (the encoded deltas) and control bytes
//! (everything else in a message).
//!
//! Every message a node sends goes through the wire codec before it enters
//! the network, unless [`Simulator::set_codec`] turns that off: it is
//! encoded, decoded back under [`rumor_crdt::codec::DEFAULT_LIMIT`] and compared with
//! the original. A message that does not come back equal panics: the
//! simulator is a test harness, and a codec that refuses or alters honest
//! messages must fail the run that shows it.
//!
//! ```
//! use rumor_crdt::{GCounter, ReplicaId};
//! use rumor_sim::{SimConfig, Simulator};
//!
//! let mut sim = Simulator::new(SimConfig { nodes: 50, ..SimConfig::default() }, |_| GCounter::new());
//! sim.update(7, |state, me| state.increment(me, 1));
//! assert!(sim.run_until_delivered(5_000));
//! assert!(sim.converged());
//! assert_eq!(sim.state(0).value(), 1);
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod calendar;
mod network;
mod scenario;
mod shard;
mod stats;

use std::sync::Arc;

use rand::{Rng, RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;
use rayon::prelude::*;
use rumor_crdt::{Crdt, ReplicaId};
use serde::de::DeserializeOwned;
use serde::Serialize;

use rumor_gossip::{
    Body, DenseView, Event, FullView, HyParView, Identity, Message, Node, Output, Tree, WritePolicy,
};

pub use network::{NetConfig, SimConfig, SimView, Topology};
pub use scenario::{Outcome, ScenarioError, Step};
pub use stats::{Kinds, MemberEvent, Stats, UpdateRecord};

use calendar::{Calendar, Scheduled};
use shard::{Handled, Shard, Slot, PARALLEL_MIN_EVENTS, SHARDS};
use stats::round_trip;

/// The simulator. See the [module docs](self).
pub struct Simulator<S: Crdt> {
    config: SimConfig,
    now: u64,
    rng: Pcg64Mcg,
    /// One calendar per shard of nodes.
    queues: Vec<Calendar<S>>,
    shards: Vec<Shard<S>>,
    /// Nodes per shard.
    shard_len: u32,
    slots: Vec<Slot<S>>,
    initial: Box<dyn Fn(u32) -> S>,
    groups: Option<Vec<u32>>,
    updates: Vec<UpdateRecord<S>>,
    member_events: Vec<MemberEvent>,
    stats: Stats,
    /// Every node's write policy, restarted ones' too.
    policy: Option<Arc<WritePolicy<S>>>,
    /// The host's CPU, when modelled ([`Self::set_cpu`]).
    cpu: Option<Cpu>,
    /// When the modelled CPU has done every message sent so far, in
    /// nanoseconds of virtual time.
    cpu_busy_ns: u64,
    /// The same for the eager-path pushes alone ([`Cpu::pushes_first`]).
    cpu_push_ns: u64,
}

/// One host's CPU, shared by every simulated node, as when many agents run
/// in one process (`rumor swarm`): each message sent costs
/// `us_per_message` microseconds of one of `cores` cores (its sending and
/// its handling at the receiver together), in the order the messages are
/// sent, and is delivered no earlier than the CPU has done it. Without it
/// the simulator's CPU is free and infinite: a wave of copies costs only
/// its links' latency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cpu {
    /// Cores that share the work.
    pub cores: u32,
    /// CPU time a message costs, sent and handled.
    pub us_per_message: u32,
    /// Eager-path pushes go before everything else: a push waits only for
    /// the pushes sent before it, the rest for everything (a push still
    /// takes its share of the CPU). Closer to the runtime, where a forward
    /// runs before the round timers queued meanwhile (tokio's LIFO slot);
    /// without it one FIFO queue, which overstates a wave's time.
    pub pushes_first: bool,
}

/// Building a simulator takes states whose contexts decode too: every
/// message passes through the codec by default.
impl<S> Simulator<S>
where
    S: Crdt + Serialize + DeserializeOwned + Send + Sync + 'static,
    S::Context: Serialize + DeserializeOwned + Send,
{
    /// A cluster of `config.nodes` nodes, node `i` starting from `initial(i)`.
    /// Each node's first round falls at a random point of the first interval.
    /// Every message passes through the codec (see [`Self::set_codec`]).
    pub fn new(config: SimConfig, initial: impl Fn(u32) -> S + 'static) -> Self {
        let rng = Pcg64Mcg::seed_from_u64(config.seed);
        let mut sim = Self {
            now: 0,
            rng,
            queues: (0..SHARDS).map(|_| Calendar::new()).collect(),
            shards: (0..SHARDS)
                .map(|_| Shard::new(Some(round_trip::<S>)))
                .collect(),
            shard_len: config.nodes.div_ceil(SHARDS as u32).max(1),
            slots: Vec::with_capacity(config.nodes as usize),
            initial: Box::new(initial),
            groups: None,
            updates: Vec::new(),
            member_events: Vec::new(),
            stats: Stats::default(),
            policy: None,
            cpu: None,
            cpu_busy_ns: 0,
            cpu_push_ns: 0,
            config,
        };
        for i in 0..sim.config.nodes {
            let node = sim.make_node(i, 0, (sim.initial)(i));
            sim.slots.push(Slot {
                node,
                alive: true,
                incarnation: 0,
                pending: Vec::new(),
                timeout_at: None,
            });
            sim.schedule_first_tick(i);
        }
        if let Topology::Partial { join_window_ms, .. } = sim.config.topology {
            let n = u64::from(sim.config.nodes.max(1));
            for i in 1..sim.config.nodes {
                let contact = sim.rng.random_range(0..i);
                let at = u64::from(i) * join_window_ms / n;
                let incarnation = 0;
                sim.push(
                    at,
                    Scheduled::Join {
                        node: i,
                        incarnation,
                        contact,
                    },
                );
            }
        }
        sim
    }

    /// Whether every message a node sends from now on goes through the wire
    /// codec (on by default): encoded with [`rumor_crdt::codec::encode`], decoded back
    /// under [`rumor_crdt::codec::DEFAULT_LIMIT`] and compared with the original before
    /// it enters the network. The original travels on: it is equal to the
    /// decoded copy, and keeps an eager delta's single copy shared.
    ///
    /// # Panics
    /// From then on, [`Self::run_for`] and every method that makes a node
    /// send panic on a message that cannot be encoded, is refused, or
    /// decodes to another value, naming its kind and the error. That is the
    /// point: the simulator is a test harness. Off, messages are only
    /// measured (their encoded length, for [`Stats`]).
    ///
    /// ```
    /// use rumor_crdt::OrSet;
    /// use rumor_sim::{SimConfig, Simulator};
    ///
    /// let mut sim = Simulator::new(SimConfig { nodes: 5, ..SimConfig::default() }, |_| OrSet::new());
    /// sim.set_codec(false); // faster; the runs are the same
    /// sim.update(0, |set, me| set.insert(me, 7u64));
    /// assert!(sim.run_until_delivered(5_000));
    /// ```
    pub fn set_codec(&mut self, on: bool) {
        for shard in &mut self.shards {
            shard.meter.round_trip = on.then_some(round_trip::<S>);
        }
    }
}

impl<S> Simulator<S>
where
    S: Crdt + Serialize + DeserializeOwned + Send + Sync + 'static,
    S::Context: Serialize + Send,
{
    fn partial(&self) -> bool {
        matches!(self.config.topology, Topology::Partial { .. })
    }

    /// Node `i` sends its join request to `contact`.
    fn join(&mut self, i: u32, contact: u32) {
        let out = self.slots[i as usize].node.join(contact, self.now);
        self.dispatch(i, out);
    }

    fn make_node(&self, i: u32, incarnation: u32, state: S) -> Node<S, u32, SimView> {
        let seed = self.config.seed
            ^ u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ u64::from(incarnation).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        let view = match &self.config.topology {
            Topology::Full => SimView::Full(DenseView::new(i, self.config.nodes)),
            Topology::Seeded { seeds } => SimView::Seeded(FullView::new(i, seeds.iter().copied())),
            Topology::Partial { view, .. } => SimView::Partial(HyParView::new(i, view.clone())),
        };
        let mut node = Node::new(i, state, view, self.config.node.clone(), seed)
            .with_incarnation(u64::from(incarnation));
        node.set_write_policy(self.policy.clone());
        if self.config.signed {
            let mut secret = [0; 32];
            Pcg64Mcg::seed_from_u64(seed ^ 0x5EA1_5EA1_5EA1_5EA1).fill_bytes(&mut secret);
            node.with_identity(Identity::from_secret(secret))
        } else {
            node
        }
    }

    fn schedule_first_tick(&mut self, node: u32) {
        let interval = self.config.node.interval_ms.max(1);
        let phase = self.rng.random_range(0..interval);
        let incarnation = self.slots[node as usize].incarnation;
        self.push(self.now + phase, Scheduled::Tick { node, incarnation });
    }

    fn push(&mut self, at: u64, event: Scheduled<S>) {
        let shard = (event.node() / self.shard_len) as usize;
        self.queues[shard].push(at, event);
    }

    /// Gives every node, and every node restarted later, the write policy
    /// `policy` ([`Node::with_write_policy`]).
    pub fn set_write_policy(&mut self, policy: Arc<WritePolicy<S>>) {
        for slot in &mut self.slots {
            slot.node.set_write_policy(Some(Arc::clone(&policy)));
        }
        self.policy = Some(policy);
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
        if let Some(id) = self.slots[i as usize].node.replica_id() {
            return id; // a signed simulation: the id of the node's key
        }
        let incarnation = self.slots[i as usize].incarnation;
        ReplicaId::from_u128((u128::from(incarnation) << 32) | (u128::from(i) + 1))
    }

    /// Node `i`'s replicated state.
    pub fn state(&self, i: u32) -> &S {
        self.slots[i as usize].node.state()
    }

    /// Node `i`.
    pub fn node(&self, i: u32) -> &Node<S, u32, SimView> {
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

    /// Models the host's CPU from now on ([`Cpu`]); `None` (the default)
    /// makes it free.
    ///
    /// ```
    /// use rumor_crdt::GCounter;
    /// use rumor_sim::{Cpu, SimConfig, Simulator};
    ///
    /// let mut sim = Simulator::new(SimConfig { nodes: 50, ..SimConfig::default() }, |_| GCounter::new());
    /// sim.set_cpu(Some(Cpu { cores: 2, us_per_message: 20, pushes_first: true }));
    /// sim.update(7, |state, me| state.increment(me, 1));
    /// assert!(sim.run_until_delivered(5_000));
    /// ```
    pub fn set_cpu(&mut self, cpu: Option<Cpu>) {
        self.cpu = cpu;
    }

    /// The earliest delivery of a message sent now whose link delivers it
    /// at `at`: once the modelled CPU has done it too.
    fn cpu_ready(&mut self, at: u64, push: bool) -> u64 {
        let Some(cpu) = self.cpu else {
            return at;
        };
        let per = u64::from(cpu.us_per_message) * 1_000 / u64::from(cpu.cores.max(1));
        let now_ns = self.now * 1_000_000;
        self.cpu_busy_ns = self.cpu_busy_ns.max(now_ns) + per;
        let done = if push && cpu.pushes_first {
            self.cpu_push_ns = self.cpu_push_ns.max(now_ns) + per;
            self.cpu_push_ns
        } else {
            self.cpu_busy_ns
        };
        at.max(done.div_ceil(1_000_000))
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
        // The write may include updates the writer was still waiting for
        // (an LWW write overwrites older writes of its key).
        self.record_reach(i);
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
            timeout_at: None,
        };
        self.schedule_first_tick(i);
        self.record_reach(i);
        if !self.partial() {
            return;
        }
        // Rejoin through a random live node (a few tries).
        let others = self.config.nodes.saturating_sub(1).max(1);
        for _ in 0..16 {
            let c = self.rng.random_range(0..others);
            let contact = if c >= i { c + 1 } else { c };
            if contact < self.config.nodes && self.is_alive(contact) {
                self.join(i, contact);
                break;
            }
        }
    }

    /// Runs the network for `ms` milliseconds of virtual time.
    ///
    /// Each millisecond runs in two passes: the shards of nodes handle their
    /// events in parallel (four shards), then their outputs go to the
    /// network in shard order, drawing loss and latency from the one seeded
    /// generator.
    pub fn run_for(&mut self, ms: u64) {
        let end = self.now + ms;
        while let Some(at) = self.queues.iter().filter_map(|q| q.next_at(end)).min() {
            self.now = at;
            for (queue, shard) in self.queues.iter_mut().zip(&mut self.shards) {
                shard.bucket.clear();
                shard.cursor = 0;
                queue.take_at(at, &mut shard.bucket);
            }
            while self.run_slice(at) {}
        }
        for queue in &mut self.queues {
            queue.advance_to(end);
        }
        self.now = end;
    }

    /// Handles the next slice of the events at `at` in every shard, then
    /// sends their output; returns whether there was any.
    fn run_slice(&mut self, at: u64) -> bool {
        let (events, slices) = self.shards.iter().fold((0, 0), |(e, c), s| {
            (e + s.left(), c + usize::from(s.cursor < s.bucket.len()))
        });
        if slices == 0 {
            return false;
        }
        let len = self.shard_len as usize;
        let first = |k: usize| u32::try_from(k * len).unwrap_or(u32::MAX);
        if events >= PARALLEL_MIN_EVENTS {
            self.slots
                .par_chunks_mut(len)
                .zip(self.shards.par_iter_mut())
                .enumerate()
                .for_each(|(k, (slots, shard))| shard.run(slots, first(k), at));
        } else {
            for (k, (slots, shard)) in self.slots.chunks_mut(len).zip(&mut self.shards).enumerate()
            {
                shard.run(slots, first(k), at);
            }
        }
        for k in 0..self.shards.len() {
            let mut steps = core::mem::take(&mut self.shards[k].steps);
            for step in steps.drain(..) {
                self.finish(step);
            }
            self.shards[k].steps = steps;
            let shard = &mut self.shards[k];
            for chunk in shard.spent.drain(..) {
                self.queues[k].recycle_chunk(chunk);
            }
        }
        true
    }

    /// Runs until every update written so far has reached every live node
    /// (lost ones aside, see [`Self::all_delivered`]), for at most `max_ms`;
    /// returns whether it got there.
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

    /// Whether every update has reached every live node (by the records),
    /// lost updates left out: those no node holds any more, because every
    /// node that had one crashed and restarted without its state. Nothing
    /// can deliver those; [`Self::missing_writes`] checks the rest on the
    /// states themselves.
    pub fn all_delivered(&self) -> bool {
        // Per update: 0 not checked, 1 held somewhere, 2 lost.
        let mut known = vec![0u8; self.updates.len()];
        for slot in self.slots.iter().filter(|s| s.alive) {
            for &u in &slot.pending {
                let seen = &mut known[u as usize];
                if *seen == 0 {
                    let delta = &self.updates[u as usize].delta;
                    let held = self.slots.iter().any(|s| s.node.state().includes(delta));
                    *seen = if held { 1 } else { 2 };
                }
                if *seen == 1 {
                    return false;
                }
            }
        }
        true
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
    /// states themselves, not on the records. A write that no live node
    /// holds is not listed here: see [`Self::lost_writes`].
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

    /// Updates (indices into [`Self::updates`]) that no live node holds:
    /// every node that had one is down, or came back without its state.
    /// [`Self::missing_writes`] and [`Self::all_delivered`] leave these out,
    /// so "nothing missing" and "no write lost" are two checks: a run that
    /// did not kill a write's only holders on purpose expects this empty.
    /// Checked on the states themselves.
    ///
    /// ```
    /// use rumor_crdt::GCounter;
    /// use rumor_sim::{SimConfig, Simulator};
    ///
    /// let mut sim = Simulator::new(SimConfig { nodes: 10, ..SimConfig::default() }, |_| GCounter::new());
    /// sim.update(3, |c, me| c.increment(me, 1));
    /// sim.crash(3); // before anyone heard of it
    /// sim.restart(3, false);
    /// assert!(sim.missing_writes().is_empty());
    /// assert_eq!(sim.lost_writes(), [0]);
    /// ```
    pub fn lost_writes(&self) -> Vec<usize> {
        (0..self.updates.len())
            .filter(|&u| {
                let delta = &self.updates[u].delta;
                !self
                    .slots
                    .iter()
                    .any(|s| s.alive && s.node.state().includes(delta))
            })
            .collect()
    }

    /// The sequential pass of one handled event.
    fn finish(&mut self, step: Handled<S>) {
        match step.delivered {
            Some(true) => self.stats.delivered += 1,
            Some(false) => {
                self.stats.dropped += 1;
                return;
            }
            None => {}
        }
        let node = step.node;
        if let Some(incarnation) = step.tick {
            let next = self.now + self.config.node.interval_ms.max(1);
            self.push(next, Scheduled::Tick { node, incarnation });
        }
        if step.changed {
            self.record_reach(node);
        }
        self.send(node, step.out, step.timeout, step.bytes);
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
        self.groups.as_ref().is_none_or(|g| {
            g.get(from as usize)
                .is_none_or(|group| Some(group) == g.get(to as usize))
        })
    }

    /// Delivers `message` to node `to` at virtual time `at_ms` (or now, if
    /// that has passed) as if `from` had sent it: the way a test plays a
    /// member that lies. `from` need not be a node of the simulation (a
    /// made-up sender); what a node sends to an id that is not one of its
    /// nodes is dropped and counted in [`Stats::dropped`]. The message skips
    /// the network (no loss, no partition) and the codec check, so it may be
    /// any value the type allows; a message to a node that is not there is
    /// ignored.
    ///
    /// ```
    /// use rumor_crdt::OrSet;
    /// use rumor_gossip::{Body, Message, Probe};
    /// use rumor_sim::{SimConfig, Simulator};
    ///
    /// let mut sim = Simulator::new(SimConfig { nodes: 3, ..SimConfig::default() }, |_| OrSet::<u64>::new());
    /// let ping = Message::new(Body::Probe(Probe::Ping { seq: 1 }));
    /// sim.inject(50, 1_000, 0, ping); // from a sender that does not exist
    /// sim.run_for(100);
    /// assert!(sim.stats().dropped >= 1); // node 0's answer had nowhere to go
    /// ```
    pub fn inject(&mut self, at_ms: u64, from: u32, to: u32, message: Message<S, u32>) {
        if to < self.config.nodes {
            self.push(
                at_ms.max(self.now),
                Scheduled::Deliver { from, to, message },
            );
        }
    }

    /// Sends what node `from` output outside [`Self::run_for`] (a write, a
    /// join, a departure).
    fn dispatch(&mut self, from: u32, mut out: Output<S, u32>) {
        let timeout = self.slots[from as usize].arm_timeout(self.now);
        let shard = (from / self.shard_len) as usize;
        let bytes = self.shards[shard].meter.measure_all(&mut out);
        self.send(from, out, timeout, bytes);
    }

    /// Queues a node's deadline and hands its messages to the network.
    fn send(
        &mut self,
        from: u32,
        out: Output<S, u32>,
        timeout: Option<(u64, u32)>,
        (payload, control): (u64, u64),
    ) {
        if let Some((at, incarnation)) = timeout {
            self.push(
                at,
                Scheduled::Timeout {
                    node: from,
                    incarnation,
                },
            );
        }
        for event in out.events {
            let event = match event {
                Event::MemberSuspected(p) => Event::MemberSuspected(p),
                Event::MemberDown(p) => Event::MemberDown(p),
                Event::MemberLeft(p) => Event::MemberLeft(p),
                Event::MemberAlive(p) => Event::MemberAlive(p),
                Event::StateChanged(_)
                | Event::MemberJoined(_)
                | Event::LinkUp(_)
                | Event::LinkDown(_)
                | Event::WriteRefused(_) => continue,
            };
            self.member_events.push(MemberEvent {
                at_ms: self.now,
                observer: from,
                event,
            });
        }
        self.stats.messages += out.messages.len() as u64;
        self.stats.payload_bytes += payload;
        self.stats.control_bytes += control;
        for (to, message) in out.messages {
            self.stats.kinds.count(&message);
            let net = &self.config.net;
            if to >= self.config.nodes
                || !self.reachable(from, to)
                || self.rng.random_bool(net.loss.clamp(0.0, 1.0))
            {
                self.stats.dropped += 1;
                continue;
            }
            let (lo, hi) = net.latency_ms;
            let duplicate = self.rng.random_bool(net.duplicate.clamp(0.0, 1.0));
            let at = self.now + self.rng.random_range(lo..=hi.max(lo));
            let push = matches!(message.body, Body::Tree(Tree::Gossip { .. }));
            let at = self.cpu_ready(at, push);
            if duplicate {
                let again = self.now + self.rng.random_range(lo..=hi.max(lo));
                let again = self.cpu_ready(again, push);
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
