//! The delta buffer: deltas joined since the oldest one still worth pushing,
//! numbered by a local sequence, each tagged with where it came from.

use std::collections::VecDeque;

use rumor_crdt::Crdt;

use crate::Peer;

struct Entry<S, P> {
    seq: u64,
    /// The peer it was received from; `None` for local writes.
    origin: Option<P>,
    delta: S,
    born_round: u64,
    redundant_hits: u32,
}

/// Buffered deltas in sequence order.
pub(crate) struct DeltaBuffer<S, P> {
    entries: VecDeque<Entry<S, P>>,
    next_seq: u64,
    /// The join of every entry, built on demand and dropped on any change:
    /// most intervals in a large cluster go to peers with no ack yet.
    whole: Option<S>,
}

impl<S: Crdt, P: Peer> DeltaBuffer<S, P> {
    pub(crate) fn new() -> Self {
        Self {
            entries: VecDeque::new(),
            next_seq: 0,
            whole: None,
        }
    }

    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn push(&mut self, origin: Option<P>, delta: S, round: u64) {
        self.whole = None;
        self.entries.push_back(Entry {
            seq: self.next_seq,
            origin,
            delta,
            born_round: round,
            redundant_hits: 0,
        });
        self.next_seq += 1;
    }

    /// The join of the entries from `from_seq` on, skipping those that came
    /// from `peer` when `skip_peer_origin` (no back-propagation).
    pub(crate) fn interval(&mut self, peer: P, from_seq: u64, skip_peer_origin: bool) -> S {
        let start = self.entries.partition_point(|e| e.seq < from_seq);
        let skips = skip_peer_origin && self.entries.iter().any(|e| e.origin == Some(peer));
        if start == 0 && !skips {
            let entries = &self.entries;
            return self
                .whole
                .get_or_insert_with(|| {
                    let mut whole = S::default();
                    for entry in entries {
                        whole.join(&entry.delta);
                    }
                    whole
                })
                .clone();
        }
        let mut out = S::default();
        for entry in self.entries.range(start..) {
            if skip_peer_origin && entry.origin == Some(peer) {
                continue;
            }
            out.join(&entry.delta);
        }
        out
    }

    /// Counts a "brought nothing new" report against the entries that a
    /// message covering `[from_seq, to_seq)` carried.
    pub(crate) fn mark_redundant(&mut self, from_seq: u64, to_seq: u64) {
        let start = self.entries.partition_point(|e| e.seq < from_seq);
        for entry in self.entries.range_mut(start..) {
            if entry.seq >= to_seq {
                break;
            }
            entry.redundant_hits = entry.redundant_hits.saturating_add(1);
        }
    }

    /// Drops entries older than `ttl_rounds`, and (when `redundant_stop` is
    /// set) those enough peers reported redundant.
    pub(crate) fn expire(&mut self, round: u64, ttl_rounds: u64, redundant_stop: Option<u32>) {
        let before = self.entries.len();
        self.entries.retain(|e| {
            round.saturating_sub(e.born_round) < ttl_rounds
                && redundant_stop.is_none_or(|stop| e.redundant_hits < stop)
        });
        if self.entries.len() != before {
            self.whole = None;
        }
    }
}
