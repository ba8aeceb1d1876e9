//! The delta buffer: deltas joined since the oldest one still worth pushing,
//! numbered by a local sequence, each tagged with where it came from.

use std::collections::VecDeque;

use rumor_crdt::{codec, Crdt};
use serde::Serialize;

use crate::Peer;

struct Entry<S, P> {
    seq: u64,
    /// The peer it was received from; `None` for local writes.
    origin: Option<P>,
    delta: S,
    /// Encoded size of `delta`.
    bytes: usize,
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
    /// Sum of the entries' encoded sizes.
    bytes: usize,
}

impl<S: Crdt + Serialize, P: Peer> DeltaBuffer<S, P> {
    pub(crate) fn new() -> Self {
        Self {
            entries: VecDeque::new(),
            next_seq: 0,
            whole: None,
            bytes: 0,
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
        let bytes = codec::encoded_len(&delta).unwrap_or(usize::MAX);
        self.bytes = self.bytes.saturating_add(bytes);
        self.entries.push_back(Entry {
            seq: self.next_seq,
            origin,
            delta,
            bytes,
            born_round: round,
            redundant_hits: 0,
        });
        self.next_seq += 1;
    }

    /// The join of the entries from `from_seq` on, skipping those that came
    /// from `peer` when `skip_peer_origin` (no back-propagation), taking
    /// entries in order while their encoded sizes add up to at most
    /// `max_bytes` (always at least one). Returns the join and the sequence
    /// it covers up to: the `seq` the peer will acknowledge.
    pub(crate) fn interval(
        &mut self,
        peer: P,
        from_seq: u64,
        skip_peer_origin: bool,
        max_bytes: usize,
    ) -> (S, u64) {
        let start = self.entries.partition_point(|e| e.seq < from_seq);
        let skips = skip_peer_origin && self.entries.iter().any(|e| e.origin == Some(peer));
        if start == 0 && !skips && self.bytes <= max_bytes {
            let entries = &self.entries;
            let whole = self.whole.get_or_insert_with(|| {
                let mut whole = S::default();
                for entry in entries {
                    whole.join(&entry.delta);
                }
                whole
            });
            return (whole.clone(), self.next_seq);
        }
        let mut out = S::default();
        let mut taken = 0usize;
        for entry in self.entries.range(start..) {
            if skip_peer_origin && entry.origin == Some(peer) {
                continue;
            }
            if taken > 0 && taken.saturating_add(entry.bytes) > max_bytes {
                return (out, entry.seq);
            }
            taken = taken.saturating_add(entry.bytes);
            out.join(&entry.delta);
        }
        (out, self.next_seq)
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
            self.bytes = self.entries.iter().map(|e| e.bytes).sum();
        }
    }
}
