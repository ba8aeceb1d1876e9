//! The calendar queue of pending events, one bucket per virtual
//! millisecond.

use std::collections::VecDeque;

use rumor_crdt::Crdt;
use rumor_gossip::Message;

pub(crate) enum Scheduled<S: Crdt> {
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
    pub(crate) fn node(&self) -> u32 {
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
pub(crate) struct Calendar<S: Crdt> {
    /// The time of `buckets[0]`.
    pub(crate) base: u64,
    /// Each bucket is a list of chunks of at most `CHUNK` events: a burst of
    /// millions of messages in one millisecond (a write flooding a cold
    /// tree) fills more chunks instead of regrowing, copying and faulting in
    /// one huge vector.
    pub(crate) buckets: VecDeque<Vec<Vec<Scheduled<S>>>>,
    /// Emptied bucket lists, kept for their capacity.
    pub(crate) spare: Vec<Vec<Vec<Scheduled<S>>>>,
    /// Emptied chunks (capacity `CHUNK`).
    pub(crate) chunks: Vec<Vec<Scheduled<S>>>,
}

/// Events per calendar chunk.
pub(crate) const CHUNK: usize = 512;

impl<S: Crdt> Calendar<S> {
    pub(crate) fn new() -> Self {
        Self {
            base: 0,
            buckets: VecDeque::new(),
            spare: Vec::new(),
            chunks: Vec::new(),
        }
    }

    /// Schedules `event` at `at` (an event in the past runs at once).
    pub(crate) fn push(&mut self, at: u64, event: Scheduled<S>) {
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
    pub(crate) fn next_at(&self, end: u64) -> Option<u64> {
        let span = usize::try_from(end.saturating_sub(self.base)).unwrap_or(usize::MAX);
        self.buckets
            .iter()
            .take(span.saturating_add(1))
            .position(|bucket| !bucket.is_empty())
            .map(|i| self.base + i as u64)
    }

    /// Moves the calendar to `at`, dropping the (empty) buckets before it.
    pub(crate) fn advance_to(&mut self, at: u64) {
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
    pub(crate) fn take_at(&mut self, at: u64, into: &mut Vec<Vec<Scheduled<S>>>) {
        self.advance_to(at);
        if self.base == at {
            if let Some(front) = self.buckets.front_mut() {
                core::mem::swap(front, into);
            }
        }
    }

    /// Returns a processed chunk's storage.
    pub(crate) fn recycle_chunk(&mut self, mut chunk: Vec<Scheduled<S>>) {
        chunk.clear();
        self.chunks.push(chunk);
    }
}
