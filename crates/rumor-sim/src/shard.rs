//! The shards: contiguous ranges of nodes, each with its own calendar,
//! handled in parallel within one virtual millisecond; and a node's slot.

use rumor_crdt::Crdt;
use rumor_gossip::{Event, Node, Output};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::calendar::Scheduled;
use crate::network::SimView;
use crate::stats::{Meter, RoundTrip};

/// Shards of the simulator's nodes (contiguous ranges of ids), each with its
/// own calendar. Within one virtual millisecond, nodes are independent: a
/// message sent now arrives later (latency of at least one millisecond), or,
/// with a zero latency, in a later pass over the same millisecond. So the
/// shards handle their events in parallel, each at its own nodes, and their
/// outputs go to the network one shard after another, in a fixed order: the
/// run is the same on any number of cores.
pub(crate) const SHARDS: usize = 4;

/// Chunks of events each shard handles before the sequential pass sends
/// their output: a slice of a millisecond. Bounds the outputs held at once
/// (a write flooding a cold tree puts a million messages in one
/// millisecond), and the sequential pass finds them still in the cache.
pub(crate) const SLICE: usize = 16;

/// Slices with fewer events than this run on the calling thread.
pub(crate) const PARALLEL_MIN_EVENTS: usize = 256;

/// What handling one event at its node leaves for the sequential pass:
/// everything that touches the network, the clock queue or the records.
pub(crate) struct Handled<S: Crdt> {
    pub(crate) node: u32,
    /// A delivery: whether the receiver was alive.
    pub(crate) delivered: Option<bool>,
    /// A tick: the incarnation whose next tick to schedule.
    pub(crate) tick: Option<u32>,
    /// Whether the node's state changed.
    pub(crate) changed: bool,
    /// A deadline to queue, with the node's incarnation.
    pub(crate) timeout: Option<(u64, u32)>,
    /// Encoded `(payload, control)` bytes of `out.messages`.
    pub(crate) bytes: (u64, u64),
    pub(crate) out: Output<S, u32>,
}

/// One shard's working storage.
pub(crate) struct Shard<S: Crdt> {
    pub(crate) meter: Meter<S>,
    /// The events of the current millisecond.
    pub(crate) bucket: Vec<Vec<Scheduled<S>>>,
    /// The first chunk of `bucket` not handled yet.
    pub(crate) cursor: usize,
    /// Their results, in order.
    pub(crate) steps: Vec<Handled<S>>,
    /// Emptied chunks, to give back to the calendar.
    pub(crate) spent: Vec<Vec<Scheduled<S>>>,
}

impl<S> Shard<S>
where
    S: Crdt + Serialize + DeserializeOwned + Send + Sync,
    S::Context: Serialize + Send,
{
    pub(crate) fn new(round_trip: Option<RoundTrip<S>>) -> Self {
        Self {
            meter: Meter::new(round_trip),
            bucket: Vec::new(),
            cursor: 0,
            steps: Vec::new(),
            spent: Vec::new(),
        }
    }

    /// Events of the current millisecond not handled yet.
    pub(crate) fn left(&self) -> usize {
        self.bucket[self.cursor..].iter().map(Vec::len).sum()
    }

    /// Handles the next `SLICE` chunks of this millisecond's events at their
    /// nodes, `slots` being the shard's nodes from `first` on.
    pub(crate) fn run(&mut self, slots: &mut [Slot<S>], first: u32, now: u64) {
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

pub(crate) struct Slot<S: Crdt> {
    pub(crate) node: Node<S, u32, SimView>,
    pub(crate) alive: bool,
    pub(crate) incarnation: u32,
    /// Updates this node does not have yet (indices into `updates`).
    pub(crate) pending: Vec<u32>,
    /// The earliest [`Scheduled::Timeout`] queued for this node, if any.
    pub(crate) timeout_at: Option<u64>,
}

impl<S> Slot<S>
where
    S: Crdt + Serialize + DeserializeOwned,
    S::Context: Serialize,
{
    /// The node's next deadline, `(at, incarnation)`, if it must be queued:
    /// it is earlier than the one queued already.
    pub(crate) fn arm_timeout(&mut self, now: u64) -> Option<(u64, u32)> {
        let at = self.node.poll_timeout()?.max(now);
        if self.timeout_at.is_some_and(|queued| queued <= at) {
            return None;
        }
        self.timeout_at = Some(at);
        Some((at, self.incarnation))
    }
}
