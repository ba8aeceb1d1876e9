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
//! encoded, decoded back under [`codec::DEFAULT_LIMIT`] and compared with
//! the original. A message that does not come back equal panics: the
//! simulator is a test harness, and a codec that refuses or alters honest
//! messages must fail the run that shows it.
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

use std::collections::VecDeque;
use std::sync::Arc;

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;
use rayon::prelude::*;
use rumor_crdt::{codec, Crdt, ReplicaId};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::membership::ViewMessages;
use crate::{
    Body, Config, DenseView, Event, FullView, HyParView, Membership, Message, Node, Output, Tree,
    View, ViewConfig, ViewEvent,
};

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

/// How the simulated nodes know each other.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Topology {
    /// Every node knows every other ([`DenseView`]); SWIM runs over the whole
    /// membership.
    #[default]
    Full,
    /// Full views ([`FullView`]) that start from `seeds`: node `i` knows
    /// the seeds (itself left out) and learns the other members as SWIM
    /// spreads their joins. A restarted node starts from the seeds again.
    Seeded {
        /// The members every node starts with.
        seeds: Vec<u32>,
    },
    /// HyParView partial views ([`HyParView`]): gossip, probes and the eager
    /// path use each node's few links.
    Partial {
        /// The views' sizes and timings.
        view: ViewConfig,
        /// Node `i > 0` joins at `i × join_window_ms / nodes`, through a
        /// random node below it: a cluster grown one node after another (a
        /// contact that is still joining itself would know too few nodes to
        /// pass the joiner on).
        join_window_ms: u64,
    },
}

impl Topology {
    /// Partial views with the default [`ViewConfig`], the nodes joining over
    /// the first second.
    #[must_use]
    pub fn partial() -> Self {
        Self::Partial {
            view: ViewConfig::default(),
            join_window_ms: 1_000,
        }
    }
}

/// The membership of a simulated node: the [`Topology`] it was built with.
// Every node of one simulation has the same variant, and boxing the partial
// view would add a pointer chase to each message a node handles.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum SimView {
    /// A full view.
    Full(DenseView),
    /// A full view grown from seeds.
    Seeded(FullView<u32>),
    /// A partial view.
    Partial(HyParView<u32>),
}

impl SimView {
    /// The partial view, if the topology is partial.
    #[must_use]
    pub fn partial(&self) -> Option<&HyParView<u32>> {
        match self {
            Self::Full(_) | Self::Seeded(_) => None,
            Self::Partial(view) => Some(view),
        }
    }
}

impl Membership<u32> for SimView {
    fn observe(&mut self, peer: u32) -> bool {
        match self {
            Self::Full(v) => v.observe(peer),
            Self::Seeded(v) => v.observe(peer),
            Self::Partial(v) => Membership::observe(v, peer),
        }
    }

    fn sample(&self, rng: &mut Pcg64Mcg, n: usize) -> Vec<u32> {
        match self {
            Self::Full(v) => v.sample(rng, n),
            Self::Seeded(v) => v.sample(rng, n),
            Self::Partial(v) => Membership::sample(v, rng, n),
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::Full(v) => v.len(),
            Self::Seeded(v) => v.len(),
            Self::Partial(v) => Membership::len(v),
        }
    }

    fn get(&self, index: usize) -> Option<u32> {
        match self {
            Self::Full(v) => v.get(index),
            Self::Seeded(v) => v.get(index),
            Self::Partial(v) => Membership::get(v, index),
        }
    }

    fn learns(&self) -> bool {
        matches!(self, Self::Seeded(_))
    }

    fn links(&self) -> Option<&[u32]> {
        match self {
            Self::Full(_) | Self::Seeded(_) => None,
            Self::Partial(v) => Some(v.active()),
        }
    }

    fn join(&mut self, contact: u32, now_ms: u64, rng: &mut Pcg64Mcg) -> ViewMessages<u32> {
        match self {
            Self::Full(v) => Membership::join(v, contact, now_ms, rng),
            Self::Seeded(v) => Membership::join(v, contact, now_ms, rng),
            Self::Partial(v) => Membership::join(v, contact, now_ms, rng),
        }
    }

    fn tick(&mut self, now_ms: u64, rng: &mut Pcg64Mcg) -> ViewMessages<u32> {
        match self {
            Self::Full(_) | Self::Seeded(_) => Vec::new(),
            Self::Partial(v) => Membership::tick(v, now_ms, rng),
        }
    }

    fn handle(
        &mut self,
        from: u32,
        message: View<u32>,
        now_ms: u64,
        rng: &mut Pcg64Mcg,
    ) -> ViewMessages<u32> {
        match self {
            Self::Full(_) | Self::Seeded(_) => Vec::new(),
            Self::Partial(v) => Membership::handle(v, from, message, now_ms, rng),
        }
    }

    fn failed(&mut self, peer: u32, now_ms: u64, rng: &mut Pcg64Mcg) -> ViewMessages<u32> {
        match self {
            Self::Full(_) | Self::Seeded(_) => Vec::new(),
            Self::Partial(v) => Membership::failed(v, peer, now_ms, rng),
        }
    }

    fn take_events(&mut self) -> Vec<ViewEvent<u32>> {
        match self {
            Self::Full(_) => Vec::new(),
            Self::Seeded(v) => Membership::take_events(v),
            Self::Partial(v) => Membership::take_events(v),
        }
    }
}

/// A simulation's setup.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// Number of nodes.
    pub nodes: u32,
    /// How they know each other.
    pub topology: Topology,
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
            topology: Topology::Full,
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberEvent {
    /// When.
    pub at_ms: u64,
    /// The node that reported it.
    pub observer: u32,
    /// What it reported: a suspicion, a death, a leave or a return (no
    /// state change is recorded, hence the `()` state type).
    pub event: Event<(), u32>,
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
    Join {
        node: u32,
        incarnation: u32,
        contact: u32,
    },
    /// The node's [`Node::poll_timeout`] deadline.
    Timeout {
        node: u32,
        incarnation: u32,
    },
    Deliver {
        from: u32,
        to: u32,
        message: Message<S, u32>,
    },
}

impl<S: Crdt> Scheduled<S> {
    /// The node the event happens at.
    fn node(&self) -> u32 {
        match self {
            Self::Tick { node, .. } | Self::Join { node, .. } | Self::Timeout { node, .. } => *node,
            Self::Deliver { to, .. } => *to,
        }
    }
}

/// Pending events by virtual millisecond: a calendar queue. Every latency
/// and timer is a whole number of milliseconds a short way ahead, so one
/// bucket per millisecond, each in push order, replaces a binary heap (whose
/// sift-downs over hundreds of thousands of entries missed the cache on
/// every pop) and keeps its exact order: by time, then by push order.
struct Calendar<S: Crdt> {
    /// The time of `buckets[0]`.
    base: u64,
    /// Each bucket is a list of chunks of at most `CHUNK` events: a burst of
    /// millions of messages in one millisecond (a write flooding a cold
    /// tree) fills more chunks instead of regrowing, copying and faulting in
    /// one huge vector.
    buckets: VecDeque<Vec<Vec<Scheduled<S>>>>,
    /// Emptied bucket lists, kept for their capacity.
    spare: Vec<Vec<Vec<Scheduled<S>>>>,
    /// Emptied chunks (capacity `CHUNK`).
    chunks: Vec<Vec<Scheduled<S>>>,
}

/// Events per calendar chunk.
const CHUNK: usize = 512;

impl<S: Crdt> Calendar<S> {
    fn new() -> Self {
        Self {
            base: 0,
            buckets: VecDeque::new(),
            spare: Vec::new(),
            chunks: Vec::new(),
        }
    }

    /// Schedules `event` at `at` (an event in the past runs at once).
    fn push(&mut self, at: u64, event: Scheduled<S>) {
        let offset = usize::try_from(at.saturating_sub(self.base)).unwrap_or(usize::MAX);
        while self.buckets.len() <= offset {
            let bucket = self.spare.pop().unwrap_or_default();
            self.buckets.push_back(bucket);
        }
        let bucket = &mut self.buckets[offset];
        match bucket.last_mut() {
            Some(chunk) if chunk.len() < CHUNK => chunk.push(event),
            _ => {
                let mut chunk = self
                    .chunks
                    .pop()
                    .unwrap_or_else(|| Vec::with_capacity(CHUNK));
                chunk.push(event);
                bucket.push(chunk);
            }
        }
    }

    /// The time of the earliest non-empty bucket at or before `end`.
    fn next_at(&self, end: u64) -> Option<u64> {
        let span = usize::try_from(end.saturating_sub(self.base)).unwrap_or(usize::MAX);
        self.buckets
            .iter()
            .take(span.saturating_add(1))
            .position(|bucket| !bucket.is_empty())
            .map(|i| self.base + i as u64)
    }

    /// Moves the calendar to `at`, dropping the (empty) buckets before it.
    fn advance_to(&mut self, at: u64) {
        while self.base < at {
            let Some(empty) = self.buckets.pop_front() else {
                self.base = at;
                return;
            };
            debug_assert!(empty.is_empty(), "a bucket skipped with events in it");
            self.spare.push(empty);
            self.base += 1;
        }
    }

    /// Swaps the bucket at `at` (every earlier one must be empty) with
    /// `into`, which must be empty: `into` gets the events in push order
    /// (chunk by chunk). The calendar stays at `at`, so events pushed at
    /// `at` while these run land in the emptied bucket and run next.
    fn take_at(&mut self, at: u64, into: &mut Vec<Vec<Scheduled<S>>>) {
        self.advance_to(at);
        if self.base == at {
            if let Some(front) = self.buckets.front_mut() {
                core::mem::swap(front, into);
            }
        }
    }

    /// Returns a processed chunk's storage.
    fn recycle_chunk(&mut self, mut chunk: Vec<Scheduled<S>>) {
        chunk.clear();
        self.chunks.push(chunk);
    }
}

/// Shards of the simulator's nodes (contiguous ranges of ids), each with its
/// own calendar. Within one virtual millisecond, nodes are independent: a
/// message sent now arrives later (latency of at least one millisecond), or,
/// with a zero latency, in a later pass over the same millisecond. So the
/// shards handle their events in parallel, each at its own nodes, and their
/// outputs go to the network one shard after another, in a fixed order: the
/// run is the same on any number of cores.
const SHARDS: usize = 4;

/// Chunks of events each shard handles before the sequential pass sends
/// their output: a slice of a millisecond. Bounds the outputs held at once
/// (a write flooding a cold tree puts a million messages in one
/// millisecond), and the sequential pass finds them still in the cache.
const SLICE: usize = 16;

/// Slices with fewer events than this run on the calling thread.
const PARALLEL_MIN_EVENTS: usize = 256;

/// What handling one event at its node leaves for the sequential pass:
/// everything that touches the network, the clock queue or the records.
struct Handled<S: Crdt> {
    node: u32,
    /// A delivery: whether the receiver was alive.
    delivered: Option<bool>,
    /// A tick: the incarnation whose next tick to schedule.
    tick: Option<u32>,
    /// Whether the node's state changed.
    changed: bool,
    /// A deadline to queue, with the node's incarnation.
    timeout: Option<(u64, u32)>,
    /// Encoded `(payload, control)` bytes of `out.messages`.
    bytes: (u64, u64),
    out: Output<S, u32>,
}

/// One shard's working storage.
struct Shard<S: Crdt> {
    meter: Meter<S>,
    /// The events of the current millisecond.
    bucket: Vec<Vec<Scheduled<S>>>,
    /// The first chunk of `bucket` not handled yet.
    cursor: usize,
    /// Their results, in order.
    steps: Vec<Handled<S>>,
    /// Emptied chunks, to give back to the calendar.
    spent: Vec<Vec<Scheduled<S>>>,
}

impl<S> Shard<S>
where
    S: Crdt + Serialize + DeserializeOwned + Send + Sync,
    S::Context: Serialize + Send,
{
    fn new(round_trip: Option<RoundTrip<S>>) -> Self {
        Self {
            meter: Meter::new(round_trip),
            bucket: Vec::new(),
            cursor: 0,
            steps: Vec::new(),
            spent: Vec::new(),
        }
    }

    /// Events of the current millisecond not handled yet.
    fn left(&self) -> usize {
        self.bucket[self.cursor..].iter().map(Vec::len).sum()
    }

    /// Handles the next `SLICE` chunks of this millisecond's events at their
    /// nodes, `slots` being the shard's nodes from `first` on.
    fn run(&mut self, slots: &mut [Slot<S>], first: u32, now: u64) {
        let end = (self.cursor + SLICE).min(self.bucket.len());
        let slice = self.cursor..end;
        self.cursor = end;
        for mut chunk in self.bucket[slice].iter_mut().map(core::mem::take) {
            for event in chunk.drain(..) {
                let node = event.node();
                let slot = &mut slots[(node - first) as usize];
                let mut step = Handled {
                    node,
                    delivered: None,
                    tick: None,
                    changed: false,
                    timeout: None,
                    bytes: (0, 0),
                    out: Output::default(),
                };
                let current =
                    |slot: &Slot<S>, incarnation| slot.alive && slot.incarnation == incarnation;
                match event {
                    Scheduled::Tick { incarnation, .. } => {
                        if !current(slot, incarnation) {
                            continue; // a stale timer of a crashed or restarted node
                        }
                        step.out = slot.node.tick(now);
                        step.tick = Some(incarnation);
                    }
                    Scheduled::Join {
                        incarnation,
                        contact,
                        ..
                    } => {
                        if !current(slot, incarnation) {
                            continue;
                        }
                        step.out = slot.node.join(contact, now);
                    }
                    Scheduled::Timeout { incarnation, .. } => {
                        if !current(slot, incarnation) || slot.timeout_at != Some(now) {
                            continue; // stale, or superseded by an earlier deadline
                        }
                        slot.timeout_at = None;
                        step.out = slot.node.handle_timeout(now);
                    }
                    Scheduled::Deliver { from, message, .. } => {
                        step.delivered = Some(slot.alive);
                        if !slot.alive {
                            self.steps.push(step);
                            continue;
                        }
                        step.out = slot.node.handle(from, message, now);
                        step.changed = step
                            .out
                            .events
                            .iter()
                            .any(|e| matches!(e, Event::StateChanged(_)));
                    }
                }
                step.timeout = slot.arm_timeout(now);
                step.bytes = self.meter.measure_all(&mut step.out);
                self.steps.push(step);
            }
            self.spent.push(chunk);
        }
    }
}

struct Slot<S: Crdt> {
    node: Node<S, u32, SimView>,
    alive: bool,
    incarnation: u32,
    /// Updates this node does not have yet (indices into `updates`).
    pending: Vec<u32>,
    /// The earliest [`Scheduled::Timeout`] queued for this node, if any.
    timeout_at: Option<u64>,
}

impl<S> Slot<S>
where
    S: Crdt + Serialize + DeserializeOwned,
    S::Context: Serialize,
{
    /// The node's next deadline, `(at, incarnation)`, if it must be queued:
    /// it is earlier than the one queued already.
    fn arm_timeout(&mut self, now: u64) -> Option<(u64, u32)> {
        let at = self.node.poll_timeout()?.max(now);
        if self.timeout_at.is_some_and(|queued| queued <= at) {
            return None;
        }
        self.timeout_at = Some(at);
        Some((at, self.incarnation))
    }
}

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
    /// codec (on by default): encoded with [`codec::encode`], decoded back
    /// under [`codec::DEFAULT_LIMIT`] and compared with the original before
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
    /// use rumor_gossip::sim::{SimConfig, Simulator};
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
        Node::new(i, state, view, self.config.node.clone(), seed)
            .with_incarnation(u64::from(incarnation))
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
    /// events in parallel (see [`SHARDS`]), then their outputs go to the
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
    /// use rumor_gossip::sim::{SimConfig, Simulator};
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
        self.groups
            .as_ref()
            .is_none_or(|g| g[from as usize] == g[to as usize])
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
                | Event::LinkDown(_) => continue,
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

/// Counts messages' encoded bytes: the payload (a delta or state) and the
/// rest. An eager-path delta is one `Arc` shared by every copy of it (in the
/// simulator, by every node that forwards it), so its size is encoded once,
/// not once per copy, and the rest is measured with an empty delta in its
/// place. With a [`RoundTrip`], every message is also passed through the
/// codec, and its whole length comes from that encoding.
struct Meter<S: Crdt> {
    bottom: Arc<S>,
    bottom_len: u64,
    /// The last eager-path delta measured, and its size.
    last: Option<(Arc<S>, u64)>,
    round_trip: Option<RoundTrip<S>>,
}

/// [`round_trip`] for one state type: a plain function, so that only
/// [`Simulator::new`] and [`Simulator::set_codec`] need the state's context
/// to decode.
type RoundTrip<S> = fn(&Message<S, u32>) -> u64;

fn encoded_len<T: Serialize + ?Sized>(value: &T) -> u64 {
    codec::encoded_len(value).map_or(0, |n| n as u64)
}

/// Encodes `message`, decodes it back under [`codec::DEFAULT_LIMIT`] and
/// checks that it is equal; returns its encoded length.
///
/// # Panics
/// If `message` cannot be encoded, is refused, or decodes to another value:
/// see [`Simulator::set_codec`].
fn round_trip<S>(message: &Message<S, u32>) -> u64
where
    S: Crdt + Serialize + DeserializeOwned,
    S::Context: Serialize + DeserializeOwned,
{
    let kind = match &message.body {
        Body::Sync(_) => "Sync",
        Body::Probe(_) => "Probe",
        Body::Tree(Tree::Gossip { .. }) => "Tree::Gossip",
        Body::Tree(_) => "Tree",
        Body::View(_) => "View",
    };
    let bytes = codec::encode(message)
        .unwrap_or_else(|e| panic!("simulator codec check: a {kind} message: {e}"));
    match codec::decode::<Message<S, u32>>(&bytes, codec::DEFAULT_LIMIT) {
        Ok(back) if back == *message => bytes.len() as u64,
        Ok(back) => panic!(
            "simulator codec check: a {kind} message of {} bytes decodes to another value\n\
             sent: {}\ngot: {}",
            bytes.len(),
            clipped(message),
            clipped(&back)
        ),
        Err(e) => panic!(
            "simulator codec check: a {kind} message of {} bytes is refused: {e}\nsent: {}",
            bytes.len(),
            clipped(message)
        ),
    }
}

/// `value`'s debug form, cut after 2,000 characters.
fn clipped(value: &impl core::fmt::Debug) -> String {
    let text = format!("{value:?}");
    match text.char_indices().nth(2_000) {
        Some((cut, _)) => format!("{}… ({} characters)", &text[..cut], text.len()),
        None => text,
    }
}

impl<S> Meter<S>
where
    S: Crdt + Serialize,
    S::Context: Serialize,
{
    fn new(round_trip: Option<RoundTrip<S>>) -> Self {
        let bottom = S::default();
        Self {
            bottom_len: encoded_len(&bottom),
            bottom: Arc::new(bottom),
            last: None,
            round_trip,
        }
    }

    /// `(payload, control)` encoded bytes of every message in `out`.
    fn measure_all(&mut self, out: &mut Output<S, u32>) -> (u64, u64) {
        out.messages
            .iter_mut()
            .fold((0, 0), |(payload, control), (_, message)| {
                let (p, c) = self.measure(message);
                (payload + p, control + c)
            })
    }

    /// `(payload, control)` encoded bytes of `message` (an empty payload
    /// counts as control), after its round trip through the codec if that
    /// is on.
    fn measure(&mut self, message: &mut Message<S, u32>) -> (u64, u64) {
        if let Some(round_trip) = self.round_trip {
            let whole = round_trip(message);
            let payload = match &message.body {
                Body::Tree(Tree::Gossip { delta, .. }) => self.gossip_payload(delta),
                _ => match message.payload() {
                    Some(delta) if !delta.is_bottom() => encoded_len(delta),
                    _ => 0,
                },
            };
            return (payload, whole.saturating_sub(payload));
        }
        let Body::Tree(Tree::Gossip { delta, .. }) = &mut message.body else {
            // bincode writes a message as its fields one after another.
            let whole = encoded_len(&*message);
            let payload = match message.payload() {
                Some(delta) if !delta.is_bottom() => encoded_len(delta),
                _ => 0,
            };
            return (payload, whole - payload.min(whole));
        };
        let payload = self.gossip_payload(delta);
        let real = core::mem::replace(delta, Arc::clone(&self.bottom));
        let whole = encoded_len(&*message);
        if let Body::Tree(Tree::Gossip { delta, .. }) = &mut message.body {
            *delta = real;
        }
        if payload == 0 {
            (0, whole)
        } else {
            (payload, whole.saturating_sub(self.bottom_len))
        }
    }

    /// The encoded size of an eager-path delta (0 for bottom), computed once
    /// per shared copy.
    fn gossip_payload(&mut self, delta: &Arc<S>) -> u64 {
        match &self.last {
            Some((last, n)) if Arc::ptr_eq(last, delta) => *n,
            _ => {
                let n = if delta.is_bottom() {
                    0
                } else {
                    encoded_len(&**delta)
                };
                self.last = Some((Arc::clone(delta), n));
                n
            }
        }
    }
}
